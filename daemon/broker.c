/* broker.c — the ROUTER broker: the only thread that talks to clients.
 *
 * DESIGN (zguide "load-balancing broker", mdbroker.c): one ROUTER socket bound to every
 * configured endpoint (tcp:// and ipc:// alike) faces the clients; an inproc ROUTER faces the
 * worker threads, which announce themselves ready with an empty message and then receive one
 * job at a time. The broker never computes a task: it checks the envelope and the size,
 * decodes the Request, refuses duplicates, answers info/stats inline (cheap, and they must
 * stay answerable when every worker is busy), queues the rest by priority and hands each job
 * to an idle worker. Every accepted request is in the in-flight table until its one answer
 * is sent, which is what makes "exactly once" checkable and lets SIGTERM drain: after it,
 * new requests are answered UNAVAILABLE while the table empties.
 *
 * Oversized frames: libzmq has already received the frame when we see it, in one buffer;
 * we look at zmq_msg_size() and answer RESOURCE_EXHAUSTED without decoding or copying it.
 * ZMQ_MAXMSGSIZE is set to the larger hard-frame-bytes (default 256 MiB) only as a guard
 * against absurd frames: libzmq drops such a peer's connection, so it gets no answer.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "daemon/ipc.h"
#include "daemon/pipeline.h"
#include "daemon/daemon.h"
#include "daemon/log.h"
#include "daemon/metrics.h"

#define SOCLED_FRONT_MONITOR "inproc://socled-front-monitor"

enum { N_TASK_SLOTS = 20, N_CODES = 9, N_HIST = 18, FRONT_BATCH = 256 };

static const double hist_bounds[N_HIST - 1] = {50,     100,   250,   500,   1000,   2500,
                                               5000,   10000, 25000, 50000, 100000, 250000,
                                               500000, 1e6,   2.5e6, 5e6,   1e7};
/* sizes (requests, sequences, tokens per batch) */
static const double size_bounds[N_HIST - 1] = {1,   2,    4,    8,    16,   32,    64,    128,  256,
                                               512, 1024, 2048, 4096, 8192, 16384, 32768, 65536};

struct hist {
    uint64_t counts[N_HIST]; /* non-cumulative here; cumulated when reported */
    double sum;
    uint64_t count;
    const double *bounds; /* NULL = hist_bounds (µs) */
};

/* A client connection's descriptor as the front socket's monitor reports it. */
struct conn_fd {
    uint32_t gen; /* connections accepted on this descriptor so far: the current one's number */
    bool gone;    /* the current one closed, no newer one accepted yet */
};

struct broker {
    struct daemon *d;
    void *front, *back;
    struct pipeline *pipe; /* queue endpoint bridge (daemon/pipeline.c), NULL = off */
    int sigfd;
    /* workers */
    char (*idle)[24]; /* routing ids of idle workers */
    size_t n_idle;
    bool *ready_seen;
    size_t n_ready_seen;
    /* queue: two lanes, admission in tokens, batching rule (scheduler.c) */
    struct sched_queue q;
    struct job **batch; /* (max-batch-requests) scratch for dispatch */
    void *metrics;      /* ZMQ_STREAM socket for GET /metrics, or NULL */
    void *mon;          /* PAIR receiving the front socket's connect/disconnect events, or NULL */
    struct conn_fd *fds; /* (n_fds) by descriptor: which connection, and whether it closed */
    size_t n_fds;
    /* in-flight table: (routing id, request id) → job */
    struct job **buckets;
    size_t n_buckets, n_inflight;
    /* shutdown */
    bool draining;
    uint64_t drain_deadline_us;
    /* stats */
    uint64_t requests_total, responses_total, dropped_replies;
    uint64_t counts[N_TASK_SLOTS][N_CODES];
    struct hist h_queue, h_total;
    uint64_t batches_total, forwards_total, computed_total, expired_total, cancelled_total;
    struct hist h_batch_requests, h_batch_seqs, h_batch_tokens, h_tokenize, h_forward, h_post;
};

/* ------------------------------------------------------------------------------------------ */
/* in-flight table */

static size_t job_hash(const unsigned char *ident, size_t len, uint64_t id) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ ident[i]) * 1099511628211ull;
    h ^= id;
    h *= 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 17);
}

static struct job **inflight_slot(struct broker *b, const unsigned char *ident, size_t len,
                                  uint64_t id) {
    struct job **p = &b->buckets[job_hash(ident, len, id) & (b->n_buckets - 1)];
    while (*p && !((*p)->id == id && (*p)->ident_len == len && !memcmp((*p)->ident, ident, len)))
        p = &(*p)->hnext;
    return p;
}

static int inflight_grow(struct broker *b) {
    size_t n = b->n_buckets * 2;
    struct job **nb = calloc(n, sizeof *nb);
    if (!nb)
        return -1;
    for (size_t i = 0; i < b->n_buckets; i++) {
        for (struct job *j = b->buckets[i], *next; j; j = next) {
            next = j->hnext;
            size_t k = job_hash(j->ident, j->ident_len, j->id) & (n - 1);
            j->hnext = nb[k];
            nb[k] = j;
        }
    }
    free(b->buckets);
    b->buckets = nb;
    b->n_buckets = n;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* stats */

static void hist_add(struct hist *h, double v) {
    const double *bounds = h->bounds ? h->bounds : hist_bounds;
    size_t i = 0;
    while (i < N_HIST - 1 && v > bounds[i])
        i++;
    h->counts[i]++;
    h->sum += v;
    h->count++;
}

static void count_response(struct broker *b, int task, int code) {
    if (task < 0 || task >= N_TASK_SLOTS)
        task = 0;
    if (code < 0 || code >= N_CODES)
        code = SOCLE__V1__CODE__INTERNAL;
    b->counts[task][code]++;
    b->responses_total++;
}

/* ------------------------------------------------------------------------------------------ */
/* sending */

static void free_buf(void *data, void *hint) {
    (void)hint;
    free(data);
}

/* Send [ident][empty][tag][buf] to a client; takes ownership of buf (may be NULL: OOM). */
static void send_to_client(struct broker *b, const unsigned char *ident, size_t ident_len,
                           uint8_t *buf, size_t len) {
    static const uint8_t oom[] = {0x12, 0x02, 0x08, 0x06}; /* Response{status{code INTERNAL}} */
    if (!buf) {
        slog(CFG_LOG_ERROR, "oom", "what=reply");
    }
    if (zmq_send(b->front, ident, ident_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        /* EHOSTUNREACH: the client went away before its answer (ROUTER_MANDATORY tells us);
         * EAGAIN: it stopped reading and its queue is full. Either way the answer is dropped,
         * and counted, never retried. */
        b->dropped_replies++;
        slog(CFG_LOG_DEBUG, "reply_dropped", "reason=%s", zmq_strerror(errno));
        free(buf);
        return;
    }
    zmq_send(b->front, "", 0, ZMQ_SNDMORE);
    zmq_send(b->front, SOCLE_PROTOCOL_TAG, SOCLE_PROTOCOL_TAG_LEN, ZMQ_SNDMORE);
    zmq_msg_t m;
    if (buf && zmq_msg_init_data(&m, buf, len, free_buf, NULL) == 0) {
        if (zmq_msg_send(&m, b->front, 0) < 0)
            zmq_msg_close(&m);
    } else {
        free(buf);
        zmq_send(b->front, oom, sizeof oom, 0);
    }
}

/* Error answer for a request that never became a job. */
static void answer_error(struct broker *b, const unsigned char *ident, size_t ident_len,
                         uint64_t id, int task, int code, const char *msg, uint64_t t_recv) {
    uint8_t *buf;
    size_t len;
    reply_error(id, code, msg, now_us() - t_recv, &buf, &len);
    char q[512];
    slog(CFG_LOG_INFO, "request_refused", "id=%llu task=%s code=%s msg=%s", (unsigned long long)id,
         reply_task_name(task), reply_code_name(code), slog_q(q, sizeof q, msg));
    count_response(b, task, code);
    send_to_client(b, ident, ident_len, buf, len);
}

static void job_free(struct job *j) {
    if (!j)
        return;
    if (j->req)
        protobuf_c_message_free_unpacked(&j->req->base, NULL);
    free(j->resp);
    free(j);
}

/* The job's one answer: send it, leave the in-flight table, count it. */
static void job_complete(struct broker *b, struct job *j) {
    struct job **slot = inflight_slot(b, j->ident, j->ident_len, j->id);
    if (*slot == j) {
        *slot = j->hnext;
        b->n_inflight--;
    }
    uint64_t t = now_us();
    if (!j->resp) {
        /* a job answered by the broker itself (deadline passed while queued, drain) */
        if (!j->code)
            j->code = SOCLE__V1__CODE__INTERNAL;
    }
    hist_add(&b->h_total, (double)(t - j->t_recv_us));
    if (j->sched.batch_head && j->sched.batch_jobs) {
        b->batches_total++;
        hist_add(&b->h_batch_requests, j->sched.batch_jobs);
        if (j->sched.n_forwards) {
            b->forwards_total += j->sched.n_forwards;
            hist_add(&b->h_batch_seqs, (double)j->sched.batch_seqs / j->sched.n_forwards);
            hist_add(&b->h_batch_tokens, (double)j->sched.batch_tokens / j->sched.n_forwards);
        }
    }
    if (j->sched.computed) {
        b->computed_total++;
        hist_add(&b->h_tokenize, (double)j->sched.tokenize_us);
        hist_add(&b->h_forward, (double)j->sched.forward_us);
        hist_add(&b->h_post, (double)j->sched.post_us);
    }
    if (j->code == SOCLE__V1__CODE__DEADLINE_EXCEEDED && !j->sched.computed)
        b->expired_total++;
    count_response(b, j->task, j->code);
    slog(CFG_LOG_DEBUG, "response", "id=%llu task=%s code=%s total_us=%llu",
         (unsigned long long)j->id, reply_task_name(j->task), reply_code_name(j->code),
         (unsigned long long)(t - j->t_recv_us));
    uint8_t *buf = j->resp;
    j->resp = NULL;
    send_to_client(b, j->ident, j->ident_len, buf, j->resp_len);
    job_free(j);
}

static void job_fail(struct broker *b, struct job *j, int code, const char *msg) {
    free(j->resp);
    reply_error(j->id, code, msg, now_us() - j->t_recv_us, &j->resp, &j->resp_len);
    j->code = code;
    job_complete(b, j);
}

/* ------------------------------------------------------------------------------------------ */
/* queue and dispatch */

/* Work whose deadline passed is answered before it reaches a worker. */
static void expire_queued(struct broker *b, uint64_t t) {
    struct job *j;
    while ((j = sched_pop_expired(&b->q, t)))
        job_fail(b, j, SOCLE__V1__CODE__DEADLINE_EXCEEDED,
                 "deadline passed while waiting for a worker");
}

/* Hand batches to idle workers while the batching rule says one is due. Returns the poll
 * timeout (ms) until the next batch is due, -1 when nothing waits. */
static long dispatch(struct broker *b) {
    const struct socled_config *c = &b->d->cfg;
    while (b->n_idle && b->q.n_jobs) {
        uint64_t t = now_us(), wake = 0;
        /* every worker idle and a partial batch: wait up to max-batch-delay-us for more. With
         * a worker busy, an idle one takes what is there (its answers free more soon). */
        if (!b->draining && b->n_idle == b->d->n_workers &&
            !sched_ready(&b->q, t, (size_t)c->max_batch_tokens, (uint64_t)c->max_batch_delay_us,
                         &wake))
            return (long)((wake - t + 999) / 1000);
        /* the clients of the batch that just ended are sending their next requests: let them
         * regroup into one batch instead of running the first arrival alone */
        if (!b->draining && sched_regroup_wait(&b->q, t, (size_t)c->max_batch_tokens,
                                               (size_t)c->max_batch_requests, &wake))
            return (long)((wake - t + 999) / 1000);
        size_t n = sched_take(&b->q, (size_t)c->max_batch_tokens, (size_t)c->max_batch_requests,
                              (unsigned)c->batch_turn, b->batch, (size_t)c->max_batch_requests);
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            struct job *j = b->batch[i];
            if (j->deadline_us && t >= j->deadline_us) {
                job_fail(b, j, SOCLE__V1__CODE__DEADLINE_EXCEEDED,
                         "deadline passed while waiting for a worker");
                continue;
            }
            hist_add(&b->h_queue, (double)(t - j->t_recv_us));
            atomic_store_explicit(&j->stage, JOB_AT_WORKER, memory_order_release);
            b->batch[k++] = j;
        }
        if (!k)
            continue;
        const char *wid = b->idle[--b->n_idle];
        zmq_send(b->back, wid, strlen(wid), ZMQ_SNDMORE);
        zmq_send(b->back, b->batch, k * sizeof *b->batch, 0);
    }
    return b->q.n_jobs ? 50 : -1;
}

/* ------------------------------------------------------------------------------------------ */
/* info and stats, answered by the broker itself */

static void answer_info(struct broker *b, struct job *j) {
    struct daemon *d = b->d;
    Socle__V1__InfoResult info = SOCLE__V1__INFO_RESULT__INIT;
    Socle__V1__Limits limits = SOCLE__V1__LIMITS__INIT;
    Socle__V1__TokenizerInfo ti = SOCLE__V1__TOKENIZER_INFO__INIT;
    info.version = (char *)(uintptr_t)SOCLED_VERSION;
    info.protocol = (char *)(uintptr_t)SOCLE_PROTOCOL_TAG;
    info.n_endpoints = d->n_endpoints;
    info.endpoints = d->endpoints;
    const char *tasks[16];
    info.n_tasks = service_tasks(d, tasks, 16);
    info.tasks = (char **)(uintptr_t)tasks;
    info.workers = (uint32_t)d->n_workers;
    limits.max_frame_bytes = d->cfg.max_frame_bytes;
    limits.max_texts = (uint32_t)d->cfg.max_texts;
    limits.max_text_bytes = d->cfg.max_text_bytes;
    limits.max_queue = (uint32_t)d->cfg.max_queue;
    limits.max_queue_bytes = d->cfg.max_queue_bytes;
    info.limits = &limits;
#ifdef SOCLE_HAVE_TOKENIZER
    if (d->tok) {
        ti.path = (char *)(uintptr_t)(d->tok_path ? d->tok_path : "");
        ti.name = (char *)(uintptr_t)tok_model_name(d->tok);
        ti.vocab_size = (uint32_t)tok_vocab_size(d->tok);
        info.tokenizer = &ti;
    }
#else
    (void)ti;
#endif
#ifdef SOCLE_HAVE_TASKS
    Socle__V1__ModelInfo mi = SOCLE__V1__MODEL_INFO__INIT;
    Socle__V1__AdapterInfo *ads = NULL, **adp = NULL;
    if (d->rt) {
        const struct eng_model_info *e = eng_model_get_info(task_runtime_model(d->rt));
        mi.dir = d->cfg.model_dir;
        mi.model_type = (char *)(uintptr_t)(e->model_type ? e->model_type : "");
        mi.architecture = (char *)(uintptr_t)(e->architecture ? e->architecture : "");
        mi.d_model = (uint32_t)e->d_model;
        mi.n_layers = (uint32_t)e->n_layers;
        mi.n_heads = (uint32_t)e->n_heads;
        mi.vocab_size = (uint32_t)e->vocab_size;
        mi.max_seq_len = (uint32_t)e->max_seq_len;
        mi.weights_dtype = (char *)(uintptr_t)(e->weights_dtype ? e->weights_dtype : "");
        mi.weights_bytes = e->weights_bytes;
        info.model = &mi;
        const struct task_adapter_info *ai = NULL;
        size_t n = task_runtime_adapters(d->rt, &ai);
        ads = calloc(n ? n : 1, sizeof *ads);
        adp = calloc(n ? n : 1, sizeof *adp);
        if (ads && adp) {
            for (size_t i = 0; i < n; i++) {
                socle__v1__adapter_info__init(&ads[i]);
                ads[i].name = (char *)(uintptr_t)ai[i].name;
                ads[i].task = (char *)(uintptr_t)task_kind_name(ai[i].kind);
                ads[i].n_labels = ai[i].labels ? ai[i].n_labels : 0;
                ads[i].labels = (char **)(uintptr_t)ai[i].labels;
                ads[i].source = (char *)(uintptr_t)(ai[i].source ? ai[i].source : "");
                adp[i] = &ads[i];
            }
            info.n_adapters = n;
            info.adapters = adp;
        }
    }
#endif
    PbResponse r = SOCLE__V1__RESPONSE__INIT;
    PbStatus st = SOCLE__V1__STATUS__INIT;
    PbTiming tm = SOCLE__V1__TIMING__INIT;
    r.id = j->id;
    r.status = &st;
    r.result_case = SOCLE__V1__RESPONSE__RESULT_INFO;
    r.info = &info;
    tm.total_us = now_us() - j->t_recv_us;
    r.timing = &tm;
    if (reply_encode(&r, &j->resp, &j->resp_len) == 0)
        j->code = SOCLE__V1__CODE__OK;
#ifdef SOCLE_HAVE_TASKS
    free(ads);
    free(adp);
#endif
}

static void fill_hist(Socle__V1__Histogram *h, const struct hist *src, double *bounds,
                      uint64_t *counts) {
    uint64_t cum = 0;
    for (size_t i = 0; i < N_HIST; i++) {
        cum += src->counts[i];
        counts[i] = cum;
        if (i < N_HIST - 1)
            bounds[i] = (src->bounds ? src->bounds : hist_bounds)[i];
    }
    h->n_bounds = N_HIST - 1;
    h->bounds = bounds;
    h->n_counts = N_HIST;
    h->counts = counts;
    h->sum = src->sum;
    h->count = src->count;
}

/* One snapshot of the stats, read by the stats answer and by /metrics. */
enum { N_SNAP_HIST = 8 };
struct stats_snap {
    Socle__V1__StatsResult s;
    Socle__V1__TaskStats ts[N_TASK_SLOTS], *tsp[N_TASK_SLOTS];
    Socle__V1__CodeCount cc[N_TASK_SLOTS][N_CODES], *ccp[N_TASK_SLOTS][N_CODES];
    Socle__V1__Histogram h[N_SNAP_HIST];
    double bounds[N_SNAP_HIST][N_HIST];
    uint64_t counts[N_SNAP_HIST][N_HIST];
};

static void stats_fill(struct broker *b, struct stats_snap *x) {
    Socle__V1__StatsResult *s = &x->s;
    socle__v1__stats_result__init(s);
    s->uptime_ms = (now_us() - b->d->t_start_us) / 1000u;
    s->requests_total = b->requests_total;
    s->responses_total = b->responses_total;
    s->in_flight = (uint32_t)b->n_inflight;
    s->queue_depth = (uint32_t)b->q.n_jobs;
    s->queue_tokens = b->q.tokens;
    s->queue_interactive = (uint32_t)b->q.n[SCHED_LANE_INTERACTIVE];
    s->queue_batch = (uint32_t)b->q.n[SCHED_LANE_BATCH];
    s->workers_busy = (uint32_t)(b->d->n_workers - b->n_idle);
    s->dropped_replies = b->dropped_replies;
    s->batches_total = b->batches_total;
    s->forwards_total = b->forwards_total;
    s->computed_total = b->computed_total;
    s->expired_total = b->expired_total;
    s->cancelled_total = b->cancelled_total;
    size_t nt = 0;
    for (int t = 0; t < N_TASK_SLOTS; t++) {
        size_t nc = 0;
        for (int c = 0; c < N_CODES; c++) {
            if (!b->counts[t][c])
                continue;
            socle__v1__code_count__init(&x->cc[nt][nc]);
            x->cc[nt][nc].code = (Socle__V1__Code)c;
            x->cc[nt][nc].count = b->counts[t][c];
            x->ccp[nt][nc] = &x->cc[nt][nc];
            nc++;
        }
        if (!nc)
            continue;
        socle__v1__task_stats__init(&x->ts[nt]);
        x->ts[nt].task = (char *)(uintptr_t)reply_task_name(t);
        x->ts[nt].n_codes = nc;
        x->ts[nt].codes = x->ccp[nt];
        x->tsp[nt] = &x->ts[nt];
        nt++;
    }
    s->n_tasks = nt;
    s->tasks = x->tsp;
    const struct hist *src[N_SNAP_HIST] = {
        &b->h_queue, &b->h_total,          &b->h_tokenize,   &b->h_forward,
        &b->h_post,  &b->h_batch_requests, &b->h_batch_seqs, &b->h_batch_tokens};
    Socle__V1__Histogram **dst[N_SNAP_HIST] = {&s->queue_us,   &s->total_us,    &s->tokenize_us,
                                               &s->forward_us, &s->post_us,     &s->batch_requests,
                                               &s->batch_seqs, &s->batch_tokens};
    for (size_t i = 0; i < N_SNAP_HIST; i++) {
        socle__v1__histogram__init(&x->h[i]);
        fill_hist(&x->h[i], src[i], x->bounds[i], x->counts[i]);
        *dst[i] = &x->h[i];
    }
}

static void answer_stats(struct broker *b, struct job *j) {
    struct stats_snap *x = malloc(sizeof *x);
    if (!x)
        return; /* the caller answers INTERNAL "out of memory" */
    stats_fill(b, x);
    PbResponse r = SOCLE__V1__RESPONSE__INIT;
    PbStatus st = SOCLE__V1__STATUS__INIT;
    PbTiming tm = SOCLE__V1__TIMING__INIT;
    r.id = j->id;
    r.status = &st;
    r.result_case = SOCLE__V1__RESPONSE__RESULT_STATS;
    r.stats = &x->s;
    tm.total_us = now_us() - j->t_recv_us;
    r.timing = &tm;
    if (reply_encode(&r, &j->resp, &j->resp_len) == 0)
        j->code = SOCLE__V1__CODE__OK;
    free(x);
}

/* GET /metrics on the --metrics socket: the same snapshot as `stats`, as Prometheus text. */
static void on_metrics(struct broker *b) {
    for (int k = 0; k < 64; k++) {
        uint8_t id[256];
        size_t id_len = 0;
        int ev = 0;
        size_t evl = sizeof ev;
        if (zmq_getsockopt(b->metrics, ZMQ_EVENTS, &ev, &evl) != 0 || !(ev & ZMQ_POLLIN))
            return;
        if (metrics_recv(b->metrics, id, &id_len) != 1)
            continue;
        struct stats_snap *x = malloc(sizeof *x);
        char *text = NULL;
        size_t len = 0;
        if (x) {
            stats_fill(b, x);
            if (metrics_render(&x->s, &text, &len) != 0)
                text = NULL;
        }
        if (text)
            metrics_reply(b->metrics, id, id_len, text, len);
        else
            metrics_reply(b->metrics, id, id_len, "# out of memory\n", 16);
        free(text);
        free(x);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* receiving */

/* Best-effort id of a frame we will not decode: conforming encoders write fields in number
 * order, so a Request starts with field 1 (tag byte 0x08) and its varint when id != 0. */
static uint64_t peek_id(const uint8_t *p, size_t n) {
    if (n < 2 || p[0] != 0x08)
        return 0;
    uint64_t v = 0;
    for (size_t i = 1; i < n && i < 11; i++) {
        v |= (uint64_t)(p[i] & 0x7f) << (7 * (i - 1));
        if (!(p[i] & 0x80))
            return v;
    }
    return 0;
}

static const struct conn_fd *conn_of(struct broker *b, int fd);

/* One client message, frames f[0..nf) (f[0] = routing id), nf_total frames received. */
static void on_request(struct broker *b, zmq_msg_t *f, size_t nf, size_t nf_total) {
    uint64_t t_recv = now_us();
    b->requests_total++;
    const unsigned char *ident = zmq_msg_data(&f[0]);
    size_t ident_len = zmq_msg_size(&f[0]);
    char msg[512];
    if (ident_len == 0 || ident_len > 255) {
        return; /* cannot be routed back (libzmq never gives such ids) */
    }
    int src_fd = zmq_msg_get(&f[0], ZMQ_SRCFD); /* -1 for inproc (pipeline bridge) */
    const struct conn_fd *conn = b->mon ? conn_of(b, src_fd) : NULL;
    if (conn && conn->gone) {
        b->cancelled_total++; /* its one outcome: nobody is there to answer */
        return;
    }
    if (nf_total != 4 || zmq_msg_size(&f[1]) != 0) {
        snprintf(msg, sizeof msg,
                 "malformed envelope: %zu frame(s)%s; expected [empty][\"" SOCLE_PROTOCOL_TAG
                 "\"][Request] (docs/protocol.md)",
                 nf_total - 1, nf >= 2 && zmq_msg_size(&f[1]) != 0 ? ", first not empty" : "");
        uint64_t id = nf_total == 4 ? peek_id(zmq_msg_data(&f[3]), zmq_msg_size(&f[3])) : 0;
        answer_error(b, ident, ident_len, id, 0, SOCLE__V1__CODE__INVALID_ARGUMENT, msg, t_recv);
        return;
    }
    const uint8_t *payload = zmq_msg_data(&f[3]);
    size_t size = zmq_msg_size(&f[3]);
    uint64_t id = peek_id(payload, size);
    if (zmq_msg_size(&f[2]) != SOCLE_PROTOCOL_TAG_LEN ||
        memcmp(zmq_msg_data(&f[2]), SOCLE_PROTOCOL_TAG, SOCLE_PROTOCOL_TAG_LEN) != 0) {
        int tl = (int)(zmq_msg_size(&f[2]) > 32 ? 32 : zmq_msg_size(&f[2]));
        char tag[33];
        for (int i = 0; i < tl; i++) {
            char c = ((const char *)zmq_msg_data(&f[2]))[i];
            tag[i] = c >= 0x20 && c < 0x7f ? c : '?';
        }
        tag[tl] = '\0';
        snprintf(msg, sizeof msg,
                 "unsupported protocol tag \"%s\"; this daemon speaks \"" SOCLE_PROTOCOL_TAG "\"",
                 tag);
        answer_error(b, ident, ident_len, id, 0, SOCLE__V1__CODE__UNIMPLEMENTED, msg, t_recv);
        return;
    }
    if (size > b->d->cfg.max_frame_bytes) {
        snprintf(msg, sizeof msg, "request of %zu bytes exceeds max-frame-bytes (%zu)", size,
                 b->d->cfg.max_frame_bytes);
        answer_error(b, ident, ident_len, id, 0, SOCLE__V1__CODE__RESOURCE_EXHAUSTED, msg, t_recv);
        return;
    }
    if (b->draining) {
        answer_error(b, ident, ident_len, id, 0, SOCLE__V1__CODE__UNAVAILABLE,
                     "daemon is shutting down; retry on another instance", t_recv);
        return;
    }
    PbRequest *req = (PbRequest *)protobuf_c_message_unpack(&socle__v1__request__descriptor, NULL,
                                                            size, payload);
    if (!req) {
        snprintf(msg, sizeof msg, "request is not a valid socle.v1.Request (%zu bytes)", size);
        answer_error(b, ident, ident_len, id, 0, SOCLE__V1__CODE__INVALID_ARGUMENT, msg, t_recv);
        return;
    }
    id = req->id;
    int task = (int)req->task_case;
    if (task == SOCLE__V1__REQUEST__TASK__NOT_SET) {
        int code = SOCLE__V1__CODE__INVALID_ARGUMENT;
        if (req->base.n_unknown_fields) {
            /* a newer client asking for a task this daemon predates */
            snprintf(msg, sizeof msg, "unknown task (field %u): not served by socled %s",
                     (unsigned)req->base.unknown_fields[0].tag, SOCLED_VERSION);
            code = SOCLE__V1__CODE__UNIMPLEMENTED;
        } else {
            snprintf(msg, sizeof msg,
                     "request names no task (set one of classify, ner, qa, summarize, tokenize, "
                     "detokenize, embed, info, stats, multi)");
        }
        protobuf_c_message_free_unpacked(&req->base, NULL);
        answer_error(b, ident, ident_len, id, 0, code, msg, t_recv);
        return;
    }
    struct job **slot = inflight_slot(b, ident, ident_len, id);
    if (*slot) {
        snprintf(msg, sizeof msg, "request id %llu is already in flight on this connection",
                 (unsigned long long)id);
        protobuf_c_message_free_unpacked(&req->base, NULL);
        answer_error(b, ident, ident_len, id, task, SOCLE__V1__CODE__ALREADY_EXISTS, msg, t_recv);
        return;
    }
    bool inline_task =
        task == SOCLE__V1__REQUEST__TASK_INFO || task == SOCLE__V1__REQUEST__TASK_STATS;
    size_t est = inline_task ? 0 : sched_estimate_tokens(req);
    if (!inline_task && b->q.n_jobs >= (size_t)b->d->cfg.max_queue) {
        snprintf(msg, sizeof msg, "queue full: %zu requests waiting (max-queue %ld)", b->q.n_jobs,
                 b->d->cfg.max_queue);
        protobuf_c_message_free_unpacked(&req->base, NULL);
        answer_error(b, ident, ident_len, id, task, SOCLE__V1__CODE__RESOURCE_EXHAUSTED, msg,
                     t_recv);
        return;
    }
    if (!inline_task && b->q.bytes + size > b->d->cfg.max_queue_bytes) {
        snprintf(msg, sizeof msg,
                 "queue full: %zu requests, %zu bytes waiting (max-queue-bytes %zu)", b->q.n_jobs,
                 b->q.bytes, b->d->cfg.max_queue_bytes);
        protobuf_c_message_free_unpacked(&req->base, NULL);
        answer_error(b, ident, ident_len, id, task, SOCLE__V1__CODE__RESOURCE_EXHAUSTED, msg,
                     t_recv);
        return;
    }
    /* into an empty queue any request is admitted, so that one larger than the whole budget is
     * refused by max-request-tokens with its exact count rather than "queue full" forever */
    if (!inline_task && b->q.n_jobs && b->q.tokens + est > (size_t)b->d->cfg.max_queue_tokens) {
        snprintf(msg, sizeof msg,
                 "queue full: %zu requests, ~%zu tokens waiting (max-queue-tokens %ld)",
                 b->q.n_jobs, b->q.tokens, b->d->cfg.max_queue_tokens);
        protobuf_c_message_free_unpacked(&req->base, NULL);
        answer_error(b, ident, ident_len, id, task, SOCLE__V1__CODE__RESOURCE_EXHAUSTED, msg,
                     t_recv);
        return;
    }
    struct job *j = calloc(1, sizeof *j);
    if (!j) {
        protobuf_c_message_free_unpacked(&req->base, NULL);
        answer_error(b, ident, ident_len, id, task, SOCLE__V1__CODE__RESOURCE_EXHAUSTED,
                     "out of memory", t_recv);
        return;
    }
    j->id = id;
    j->task = task;
    j->priority = req->priority;
    j->t_recv_us = t_recv;
    j->bytes = size;
    j->sched.est_tokens = est;
    j->sched.lane = sched_lane(req->priority);
    j->deadline_us = req->deadline_ms ? t_recv + (uint64_t)req->deadline_ms * 1000u : 0;
    j->req = req;
    j->ident_len = (uint8_t)ident_len;
    memcpy(j->ident, ident, ident_len);
    j->sched.src_fd = src_fd;
    j->sched.src_gen = conn ? conn->gen : 0;
    j->hnext = NULL;
    *slot = j;
    b->n_inflight++;
    if (b->n_inflight > b->n_buckets && inflight_grow(b) != 0)
        slog(CFG_LOG_WARN, "oom", "what=inflight_table");
    slog(CFG_LOG_DEBUG, "request", "id=%llu task=%s bytes=%zu", (unsigned long long)id,
         reply_task_name(task), size);
    if (inline_task) {
        if (task == SOCLE__V1__REQUEST__TASK_INFO)
            answer_info(b, j);
        else
            answer_stats(b, j);
        if (!j->resp)
            reply_error(id, SOCLE__V1__CODE__INTERNAL, "out of memory", 0, &j->resp, &j->resp_len);
        job_complete(b, j);
        return;
    }
    sched_push(&b->q, j);
    /* hand it to an idle worker now, so that the queue (and its limits) only ever holds work
     * that really waits, even within a batch of messages read in one wakeup */
    dispatch(b);
}

static void on_front(struct broker *b) {
    /* A bounded batch per wakeup keeps the workers' answers flowing under a flood. */
    for (int k = 0; k < FRONT_BATCH; k++) {
        zmq_msg_t f[4];
        size_t nf = 0, nf_total = 0;
        zmq_msg_init(&f[0]);
        if (zmq_msg_recv(&f[0], b->front, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&f[0]);
            return;
        }
        nf = nf_total = 1;
        int more = zmq_msg_more(&f[0]);
        while (more) {
            /* frames beyond the 4 of a valid message are read and dropped, only counted */
            zmq_msg_t extra;
            zmq_msg_t *m = nf < 4 ? &f[nf] : &extra;
            zmq_msg_init(m);
            if (zmq_msg_recv(m, b->front, 0) < 0) {
                zmq_msg_close(m);
                break;
            }
            nf_total++;
            more = zmq_msg_more(m);
            if (m == &extra)
                zmq_msg_close(&extra);
            else
                nf++;
        }
        on_request(b, f, nf, nf_total);
        for (size_t i = 0; i < nf; i++)
            zmq_msg_close(&f[i]);
    }
}

static void on_back(struct broker *b) {
    for (;;) {
        char wid[24];
        int n = zmq_recv(b->back, wid, sizeof wid - 1, ZMQ_DONTWAIT);
        if (n < 0)
            return;
        wid[n < (int)sizeof wid - 1 ? n : (int)sizeof wid - 1] = '\0';
        /* the pointers of the batch this worker finished (none: its "ready") */
        int m =
            zmq_recv(b->back, b->batch, (size_t)b->d->cfg.max_batch_requests * sizeof *b->batch, 0);
        unsigned idx = (unsigned)strtoul(wid + 1, NULL, 10);
        if (idx < b->d->n_workers && !b->ready_seen[idx]) {
            b->ready_seen[idx] = true;
            b->n_ready_seen++;
        }
        if (b->n_idle < b->d->n_workers)
            memcpy(b->idle[b->n_idle++], wid, sizeof wid);
        size_t nb = m > 0 ? (size_t)m / sizeof *b->batch : 0;
        uint64_t t_start = 0;
        for (size_t i = 0; i < nb; i++) {
            struct job *j = b->batch[i];
            int stage = atomic_load_explicit(&j->stage, memory_order_acquire);
            if (stage != JOB_DONE) /* our invariant, not wire input */
                slog(CFG_LOG_ERROR, "bug", "what=job_not_done stage=%d", stage);
            if (i == 0)
                t_start = j->sched.t_start_us;
            job_complete(b, j);
        }
        if (nb) {
            uint64_t t = now_us();
            sched_batch_done(&b->q, t, nb, t > t_start ? t - t_start : 0);
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* clients that went away */

/* Queued work of the connection on fd whose client disconnected: removed unanswered (nobody
 * can receive the answer) and counted; work already at a worker finishes and its answer is
 * dropped (dropped_replies). Jobs carry the connection's number on fd (gen), so a newer
 * connection that reuses the descriptor keeps its work. */
static void cancel_fd(struct broker *b, int fd, uint32_t gen) {
    size_t n = 0;
    struct job *j;
    while ((j = sched_pop_fd(&b->q, fd, gen))) {
        struct job **slot = inflight_slot(b, j->ident, j->ident_len, j->id);
        if (*slot == j) {
            *slot = j->hnext;
            b->n_inflight--;
        }
        b->cancelled_total++;
        n++;
        job_free(j);
    }
    if (n)
        slog(CFG_LOG_INFO, "cancelled", "reason=client_gone fd=%d requests=%zu", fd, n);
}

/* The state of descriptor fd, grown on demand; NULL for -1 or out of memory. */
static struct conn_fd *conn_at(struct broker *b, int fd) {
    if (fd < 0)
        return NULL;
    if ((size_t)fd >= b->n_fds) {
        size_t nn = (size_t)fd * 2 + 64;
        struct conn_fd *nf = realloc(b->fds, nn * sizeof *nf);
        if (!nf)
            return NULL;
        memset(nf + b->n_fds, 0, (nn - b->n_fds) * sizeof *nf);
        b->fds = nf;
        b->n_fds = nn;
    }
    return &b->fds[fd];
}

/* Connection events of the front socket, all that are pending, in order. libzmq queues a
 * connection's ACCEPTED before any of its messages reaches the ROUTER, and its DISCONNECTED
 * before it closes the descriptor (so before the number can be reused): taken in order, the
 * events say which connection holds each descriptor, whatever the delay of this drain. */
static void on_monitor(struct broker *b) {
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, b->mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        uint16_t event = 0;
        int fd = -1;
        if (zmq_msg_size(&m) >= 6) {
            uint32_t v;
            memcpy(&event, zmq_msg_data(&m), 2);
            memcpy(&v, (const uint8_t *)zmq_msg_data(&m) + 2, 4);
            fd = (int)v;
        }
        bool more = zmq_msg_more(&m);
        zmq_msg_close(&m);
        while (more) { /* the endpoint frame */
            zmq_msg_init(&m);
            more = zmq_msg_recv(&m, b->mon, 0) >= 0 && zmq_msg_more(&m);
            zmq_msg_close(&m);
        }
        struct conn_fd *c = conn_at(b, fd);
        if (!c)
            continue;
        if (event == ZMQ_EVENT_ACCEPTED) {
            c->gen++;
            c->gone = false;
        } else if (event == ZMQ_EVENT_DISCONNECTED && !c->gone) {
            cancel_fd(b, fd, c->gen);
            c->gone = true; /* its requests not read yet are cancelled as they are read */
        }
    }
}

/* The connection a request came on, after the pending connection events (its ACCEPTED is
 * among them if it is new); NULL when unknown (inproc, or no memory). */
static const struct conn_fd *conn_of(struct broker *b, int fd) {
    if (fd < 0)
        return NULL;
    on_monitor(b);
    return conn_at(b, fd);
}

static void close_monitor(struct broker *b) {
    int zero = 0;
    if (b->front)
        zmq_socket_monitor(b->front, NULL, 0);
    if (b->mon) {
        zmq_setsockopt(b->mon, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(b->mon);
    }
    b->mon = NULL;
}

static void on_signal(struct broker *b) {
    unsigned char signo;
    while (read(b->sigfd, &signo, 1) == 1) {
        if (signo == SIGHUP) {
#ifdef SOCLE_HAVE_TASKS
            if (b->d->rt) {
                char err[512], q[600];
                uint64_t t0 = now_us();
                int rc = task_runtime_reload_adapters(b->d->rt, err, sizeof err);
                if (rc == TASK_OK)
                    slog(CFG_LOG_INFO, "adapters_reloaded", "duration_us=%llu",
                         (unsigned long long)(now_us() - t0));
                else
                    slog(CFG_LOG_ERROR, "adapters_reload_failed", "error=%s",
                         slog_q(q, sizeof q, err));
                continue;
            }
#endif
            slog(CFG_LOG_INFO, "sighup", "action=none reason=\"no task runtime loaded\"");
        } else if (!b->draining) {
            b->draining = true;
            b->drain_deadline_us = now_us() + (uint64_t)b->d->cfg.drain_timeout_ms * 1000u;
            slog(CFG_LOG_INFO, "draining", "signal=%s in_flight=%zu queued=%zu",
                 signo == SIGTERM ? "SIGTERM" : "SIGINT", b->n_inflight, b->q.n_jobs);
        } else {
            slog(CFG_LOG_WARN, "drain_abort", "signal=%s in_flight=%zu",
                 signo == SIGTERM ? "SIGTERM" : "SIGINT", b->n_inflight);
            b->drain_deadline_us = now_us();
        }
    }
}

static int setup_front(struct broker *b) {
    struct daemon *d = b->d;
    int one = 1, hwm = 100000, linger = 2000;
    int64_t maxmsg = d->cfg.hard_frame_bytes ? (int64_t)d->cfg.hard_frame_bytes : -1;
    b->front = zmq_socket(d->zctx, ZMQ_ROUTER);
    if (!b->front)
        return -1;
    zmq_setsockopt(b->front, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(b->front, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(b->front, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(b->front, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(b->front, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    char def[512];
    const char *def_ep[1] = {socle_default_endpoint(def, sizeof def)};
    const char *const *eps = d->cfg.n_endpoints ? (const char *const *)d->cfg.endpoints : def_ep;
    size_t n = d->cfg.n_endpoints ? d->cfg.n_endpoints : 1;
    d->endpoints = calloc(n, sizeof *d->endpoints);
    if (!d->endpoints)
        return -1;
    unsigned mode = 0600;
    if (d->cfg.ipc_mode && ipc_parse_mode(d->cfg.ipc_mode, &mode) != IPC_OK) {
        char q[600];
        slog(CFG_LOG_ERROR, "bad_ipc_mode", "value=%s", slog_q(q, sizeof q, d->cfg.ipc_mode));
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char q[600], err[768];
        bool stale = false;
        if (ipc_bind(b->front, eps[i], mode, d->cfg.ipc_group, &stale, err, sizeof err) != IPC_OK) {
            slog(CFG_LOG_ERROR, "bind_failed", "endpoint=%s error=%s", slog_q(q, sizeof q, eps[i]),
                 slog_q(def, sizeof def, err));
            return -1;
        }
        if (stale)
            slog(CFG_LOG_WARN, "stale_socket_removed", "endpoint=%s", slog_q(q, sizeof q, eps[i]));
        char last[512];
        size_t ll = sizeof last;
        if (zmq_getsockopt(b->front, ZMQ_LAST_ENDPOINT, last, &ll) != 0)
            snprintf(last, sizeof last, "%s", eps[i]);
        if (!(d->endpoints[i] = strdup(last)))
            return -1;
        d->n_endpoints++;
        slog(CFG_LOG_INFO, "listen", "endpoint=%s", slog_q(q, sizeof q, last));
    }
    return 0;
}

/* Connection events of the front socket (libzmq's socket monitor; ZMQ_ROUTER_NOTIFY is a
 * draft API absent from Debian's libzmq). Without it socled still works: the work of a
 * client that went away is then computed and its answer dropped. */
static void setup_monitor(struct broker *b) {
    int unlimited = 0; /* an event dropped at a full pipe would be a missed cancellation */
    if (zmq_socket_monitor(b->front, SOCLED_FRONT_MONITOR,
                           ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) != 0 ||
        !(b->mon = zmq_socket(b->d->zctx, ZMQ_PAIR)) ||
        zmq_setsockopt(b->mon, ZMQ_RCVHWM, &unlimited, sizeof unlimited) != 0 ||
        zmq_connect(b->mon, SOCLED_FRONT_MONITOR) != 0) {
        slog(CFG_LOG_WARN, "monitor_failed",
             "error=%s effect=\"work of clients that went away "
             "is computed\"",
             zmq_strerror(errno));
        close_monitor(b);
    }
}

static struct broker g_broker; /* one per process: signals and sockets are process-wide */

int broker_bind(struct daemon *d) {
    struct broker *b = &g_broker;
    memset(b, 0, sizeof *b);
    b->d = d;
    if (setup_front(b) != 0)
        goto fail;
    setup_monitor(b);
    b->back = zmq_socket(d->zctx, ZMQ_ROUTER);
    if (!b->back || zmq_bind(b->back, SOCLED_WORKERS_ENDPOINT) != 0)
        goto fail;
    if (d->cfg.pipeline_in || d->cfg.pipeline_out) {
        char err[768], q[800];
        unsigned mode = 0600;
        if (d->cfg.ipc_mode)
            ipc_parse_mode(d->cfg.ipc_mode, &mode); /* validated by setup_front */
        if (!d->cfg.pipeline_in || !d->cfg.pipeline_out) {
            slog(CFG_LOG_ERROR, "pipeline_failed", "error=%s",
                 slog_q(q, sizeof q, "pipeline-in and pipeline-out go together"));
            goto fail;
        }
        /* the bridge is one more client of the front ROUTER, over inproc */
        if (zmq_bind(b->front, SOCLED_PIPELINE_FRONT) != 0 ||
            pipeline_start(d->zctx, d->cfg.pipeline_in, d->cfg.pipeline_out, 1024, mode,
                           d->cfg.ipc_group, &b->pipe, err, sizeof err) != PIPE_OK) {
            slog(CFG_LOG_ERROR, "pipeline_failed", "error=%s", slog_q(q, sizeof q, err));
            goto fail;
        }
        slog(CFG_LOG_INFO, "pipeline", "in=%s out=%s", slog_q(err, 384, d->cfg.pipeline_in),
             slog_q(q, sizeof q, d->cfg.pipeline_out));
    }
    if (d->cfg.metrics && d->cfg.metrics[0]) {
        char err[512], q[600];
        if (!(b->metrics = metrics_open(d->zctx, d->cfg.metrics, err, sizeof err))) {
            slog(CFG_LOG_ERROR, "metrics_bind_failed", "error=%s", slog_q(q, sizeof q, err));
            goto fail;
        }
        char last[512];
        size_t ll = sizeof last;
        if (zmq_getsockopt(b->metrics, ZMQ_LAST_ENDPOINT, last, &ll) != 0)
            snprintf(last, sizeof last, "%s", d->cfg.metrics);
        slog(CFG_LOG_INFO, "metrics", "endpoint=%s", slog_q(q, sizeof q, last));
    }
    return 0;
fail:;
    /* zmq_ctx_term in main waits for every socket: close ours, or a failed start hangs */
    close_monitor(b);
    int zero = 0;
    if (b->front) {
        zmq_setsockopt(b->front, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(b->front);
    }
    if (b->back) {
        zmq_setsockopt(b->back, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(b->back);
    }
    b->front = b->back = NULL;
    return -1;
}

void broker_release(void) {
    pipeline_free(g_broker.pipe);
    g_broker.pipe = NULL;
}

int broker_run(struct daemon *d, int sigfd) {
    struct broker *b = &g_broker;
    b->sigfd = sigfd;
    b->n_buckets = 1024;
    b->buckets = calloc(b->n_buckets, sizeof *b->buckets);
    b->idle = calloc(d->n_workers, sizeof *b->idle);
    b->ready_seen = calloc(d->n_workers, sizeof *b->ready_seen);
    b->batch = calloc((size_t)d->cfg.max_batch_requests, sizeof *b->batch);
    if (!b->buckets || !b->idle || !b->ready_seen || !b->batch)
        return -1;
    b->h_batch_requests.bounds = b->h_batch_seqs.bounds = b->h_batch_tokens.bounds = size_bounds;
    b->q.share_workers = d->n_workers;
    slog(CFG_LOG_INFO, "ready", "workers=%zu endpoints=%zu", d->n_workers, d->n_endpoints);
    int rc = 0;
    long next_timeout = -1;
    for (;;) {
        if (b->draining && b->n_inflight == 0 && b->n_ready_seen == d->n_workers)
            break;
        if (b->draining && now_us() >= b->drain_deadline_us) {
            size_t lost = b->n_inflight;
            struct job *j;
            while ((j = sched_pop_any(&b->q)))
                job_fail(b, j, SOCLE__V1__CODE__UNAVAILABLE,
                         "daemon shut down before this request ran");
            slog(CFG_LOG_WARN, "drain_timeout", "in_flight=%zu running=%zu", lost, b->n_inflight);
            rc = b->n_inflight ? 1 : 0;
            break;
        }
        /* the monitor before the front: a disconnect is acted on before requests that came
         * after it are read */
        zmq_pollitem_t items[5] = {
            {b->back, 0, ZMQ_POLLIN, 0},    {NULL, sigfd, ZMQ_POLLIN, 0},
            {b->mon, 0, ZMQ_POLLIN, 0},     {b->front, 0, ZMQ_POLLIN, 0},
            {b->metrics, 0, ZMQ_POLLIN, 0},
        };
        if (!b->mon) /* keep the indices: an idle pollitem on the signal pipe in its place */
            items[2] = (zmq_pollitem_t){NULL, sigfd, 0, 0};
        long timeout = b->draining ? 50 : next_timeout;
        if (zmq_poll(items, b->metrics ? 5 : 4, timeout) < 0) {
            if (errno == EINTR)
                continue;
            if (errno == ETERM)
                break;
            slog(CFG_LOG_ERROR, "poll_failed", "error=%s", zmq_strerror(errno));
            rc = -1;
            break;
        }
        if (items[0].revents & ZMQ_POLLIN)
            on_back(b);
        if (items[1].revents & ZMQ_POLLIN)
            on_signal(b);
        if (b->mon && (items[2].revents & ZMQ_POLLIN))
            on_monitor(b);
        if (items[3].revents & ZMQ_POLLIN)
            on_front(b);
        if (b->metrics && (items[4].revents & ZMQ_POLLIN))
            on_metrics(b);
        if (b->q.n_jobs)
            expire_queued(b, now_us());
        next_timeout = dispatch(b);
    }
    /* stop the workers: an empty job message means "exit" */
    for (size_t i = 0; i < d->n_workers; i++) {
        if (!b->ready_seen[i])
            continue;
        char wid[24];
        snprintf(wid, sizeof wid, "w%zu", i);
        zmq_send(b->back, wid, strlen(wid), ZMQ_SNDMORE);
        zmq_send(b->back, "", 0, 0);
    }
    slog(CFG_LOG_INFO, "stopped", "requests=%llu responses=%llu dropped_replies=%llu",
         (unsigned long long)b->requests_total, (unsigned long long)b->responses_total,
         (unsigned long long)b->dropped_replies);
    free(b->buckets);
    free(b->fds);
    free(b->idle);
    free(b->ready_seen);
    free(b->batch);
    int zero = 0;
    if (b->metrics) {
        zmq_setsockopt(b->metrics, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(b->metrics);
    }
    close_monitor(b);
    zmq_setsockopt(b->back, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(b->back);
    zmq_close(b->front); /* lingers up to 2 s to flush the last answers */
    return rc;
}
