/* scheduler.c — admission queue (broker thread) and cross-request batch execution (worker
 * thread). See scheduler.h and docs/serving.md for the design. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"
#include "daemon/scheduler.h"
#ifdef SOCLE_HAVE_TASKS
#include "daemon/wire.h"
#endif

/* ------------------------------------------------------------------------------------------ */
/* elastic threads (worker threads) */

int elastic_enter(struct elastic_threads *e) {
    int running = atomic_fetch_add_explicit(&e->running, 1, memory_order_relaxed) + 1;
    int n = e->cores / running;
    return n < 1 ? 1 : n > e->max_threads ? e->max_threads : n;
}

void elastic_leave(struct elastic_threads *e) {
    atomic_fetch_sub_explicit(&e->running, 1, memory_order_relaxed);
}

/* ------------------------------------------------------------------------------------------ */
/* queue (broker thread) */

static size_t est_texts(const ProtobufCBinaryData *t, size_t n) {
    size_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += t[i].len / 4 + 2;
    return s;
}

size_t sched_estimate_tokens(const Socle__V1__Request *req) {
    size_t s = 0;
    switch (req->task_case) {
    case SOCLE__V1__REQUEST__TASK_CLASSIFY:
        s = est_texts(req->classify->texts, req->classify->n_texts);
        break;
    case SOCLE__V1__REQUEST__TASK_NER:
        s = est_texts(req->ner->texts, req->ner->n_texts);
        break;
    case SOCLE__V1__REQUEST__TASK_SUMMARIZE:
        s = est_texts(req->summarize->texts, req->summarize->n_texts);
        break;
    case SOCLE__V1__REQUEST__TASK_EMBED:
        s = est_texts(req->embed->texts, req->embed->n_texts);
        break;
    case SOCLE__V1__REQUEST__TASK_MULTI:
        /* shared sequences run once: the texts' cost, not per task */
        s = est_texts(req->multi->texts, req->multi->n_texts);
        break;
    case SOCLE__V1__REQUEST__TASK_QA:
        for (size_t i = 0; i < req->qa->n_pairs; i++)
            s += (req->qa->pairs[i]->question.len + req->qa->pairs[i]->context.len) / 4 + 3;
        break;
    default:
        break;
    }
    return s ? s : 1;
}

int sched_lane(int priority) { return priority < 0 ? SCHED_LANE_BATCH : SCHED_LANE_INTERACTIVE; }

void sched_push(struct sched_queue *q, struct job *j) {
    int l = j->sched.lane;
    j->next = NULL;
    if (!q->head[l]) {
        q->head[l] = q->tail[l] = j;
    } else if (q->tail[l]->priority >= j->priority) {
        q->tail[l]->next = j;
        q->tail[l] = j;
    } else {
        struct job **p = &q->head[l];
        while (*p && (*p)->priority >= j->priority)
            p = &(*p)->next;
        j->next = *p;
        *p = j;
        if (!j->next)
            q->tail[l] = j;
    }
    q->n[l]++;
    q->n_jobs++;
    q->tokens += j->sched.est_tokens;
    q->bytes += j->bytes;
}

static void unlink_job(struct sched_queue *q, int l, struct job **p, struct job *prev) {
    struct job *j = *p;
    *p = j->next;
    if (q->tail[l] == j)
        q->tail[l] = prev;
    j->next = NULL;
    q->n[l]--;
    q->n_jobs--;
    q->tokens -= j->sched.est_tokens;
    q->bytes -= j->bytes;
}

struct job *sched_pop_expired(struct sched_queue *q, uint64_t now) {
    for (int l = 0; l < SCHED_N_LANES; l++) {
        struct job *prev = NULL;
        for (struct job **p = &q->head[l]; *p; prev = *p, p = &(*p)->next) {
            struct job *j = *p;
            if (j->deadline_us && now >= j->deadline_us) {
                unlink_job(q, l, p, prev);
                return j;
            }
        }
    }
    return NULL;
}

struct job *sched_pop_fd(struct sched_queue *q, int fd, uint32_t gen) {
    for (int l = 0; fd >= 0 && l < SCHED_N_LANES; l++) {
        struct job *prev = NULL;
        for (struct job **p = &q->head[l]; *p; prev = *p, p = &(*p)->next) {
            struct job *j = *p;
            if (j->sched.src_fd == fd && j->sched.src_gen == gen) {
                unlink_job(q, l, p, prev);
                return j;
            }
        }
    }
    return NULL;
}

struct job *sched_pop_any(struct sched_queue *q) {
    for (int l = 0; l < SCHED_N_LANES; l++) {
        if (q->head[l]) {
            struct job *j = q->head[l];
            unlink_job(q, l, &q->head[l], NULL);
            return j;
        }
    }
    return NULL;
}

bool sched_ready(const struct sched_queue *q, uint64_t now, size_t max_tokens,
                 uint64_t max_delay_us, uint64_t *wake_us) {
    if (!q->n_jobs)
        return false;
    if (q->tokens >= max_tokens || max_delay_us == 0)
        return true;
    uint64_t oldest = UINT64_MAX;
    for (int l = 0; l < SCHED_N_LANES; l++)
        for (struct job *j = q->head[l]; j; j = j->next)
            if (j->t_recv_us < oldest)
                oldest = j->t_recv_us;
    if (now >= oldest + max_delay_us)
        return true;
    *wake_us = oldest + max_delay_us;
    return false;
}

void sched_batch_done(struct sched_queue *q, uint64_t now, size_t n_jobs, uint64_t run_us) {
    uint64_t w = run_us / SCHED_REGROUP_DIV;
    /* what waits now (requests that came while the batch ran and missed it) plus what will
     * come back: counting only the latter left one straggler behind every batch for good */
    q->expect = (q->expect ? q->expect : q->n_jobs) + n_jobs;
    q->regroup_until_us = now + (w < SCHED_REGROUP_MAX_US ? w : SCHED_REGROUP_MAX_US);
}

bool sched_regroup_wait(const struct sched_queue *q, uint64_t now, size_t max_tokens,
                        size_t max_jobs, uint64_t *wake_us) {
    size_t want = max_jobs && q->expect > max_jobs ? max_jobs : q->expect;
    if (!q->n_jobs || q->n_jobs >= want || q->tokens >= max_tokens || now >= q->regroup_until_us)
        return false;
    *wake_us = q->regroup_until_us;
    return true;
}

size_t sched_take(struct sched_queue *q, size_t max_tokens, size_t max_jobs, unsigned batch_turn,
                  struct job **out, size_t cap) {
    if (!q->n_jobs || !cap)
        return 0;
    if (max_jobs == 0 || max_jobs > cap)
        max_jobs = cap;
    if (q->share_workers > 1) {
        size_t share = (q->n_jobs + q->share_workers - 1) / q->share_workers;
        if (share < max_jobs)
            max_jobs = share;
    }
    int first = SCHED_LANE_INTERACTIVE;
    if (!q->n[SCHED_LANE_INTERACTIVE] ||
        (batch_turn && q->n[SCHED_LANE_BATCH] && q->batches + 1 >= batch_turn))
        first = SCHED_LANE_BATCH;
    size_t n = 0, tokens = 0;
    bool batch_served = false;
    for (int k = 0; k < SCHED_N_LANES && n < max_jobs; k++) {
        int l = k == 0 ? first : 1 - first;
        while (q->head[l] && n < max_jobs) {
            struct job *j = q->head[l];
            if (n > 0 && tokens + j->sched.est_tokens > max_tokens)
                goto done;
            unlink_job(q, l, &q->head[l], NULL);
            tokens += j->sched.est_tokens;
            out[n++] = j;
            batch_served |= l == SCHED_LANE_BATCH;
        }
    }
done:
    q->expect = 0; /* the regroup is over: this batch took what came back */
    /* count the batches that left batch work waiting; the turn comes after batch_turn - 1 */
    if (batch_served)
        q->batches = 0;
    else if (q->n[SCHED_LANE_BATCH])
        q->batches++;
    return n;
}

/* ------------------------------------------------------------------------------------------ */
/* batch execution (worker thread) */

#ifdef SOCLE_HAVE_TASKS
/* The job's one answer, as service_run forms it: r/tm on OK, an error answer otherwise. */
static void answer(struct job *job, int code, PbResponse *r, PbTiming *tm, const char *msg,
                   uint64_t t_start) {
    PbStatus st = SOCLE__V1__STATUS__INIT;
    uint64_t t_done = now_us();
    job->code = code;
    if (code == SOCLE__V1__CODE__OK) {
        r->status = &st;
        tm->queue_us = t_start - job->t_recv_us;
        tm->total_us = t_done - job->t_recv_us;
        r->timing = tm;
        if (reply_encode(r, &job->resp, &job->resp_len) != 0) {
            code = job->code = SOCLE__V1__CODE__RESOURCE_EXHAUSTED;
            msg = "out of memory encoding the response";
        }
    }
    if (code != SOCLE__V1__CODE__OK)
        reply_error(job->id, code, msg, t_done - job->t_recv_us, &job->resp, &job->resp_len);
}

static bool is_model_task(int t) {
    return t == SOCLE__V1__REQUEST__TASK_CLASSIFY || t == SOCLE__V1__REQUEST__TASK_NER ||
           t == SOCLE__V1__REQUEST__TASK_QA || t == SOCLE__V1__REQUEST__TASK_SUMMARIZE ||
           t == SOCLE__V1__REQUEST__TASK_EMBED || t == SOCLE__V1__REQUEST__TASK_MULTI;
}

struct mjob {
    struct job *j;
    struct arena *a;
    struct task_request tr;
    struct task_request *trs; /* (n_trs): &tr, or a multi request's sub-tasks */
    size_t n_trs;
    struct task_job *tj;
    int code;
    char msg[512];
    PbResponse r;
    PbTiming tm;
};

struct seqref {
    size_t m, s, len;
};

/* Pack every sequence of the still-OK jobs into forwards of at most cap tokens, in job order
 * (so one job's windows stay together and a job finishes as early as it can). */
static void run_forwards(const struct daemon *d, struct task_worker *tw, struct mjob *m, size_t nm,
                         struct job *head) {
    size_t cap = task_worker_max_tokens(tw);
    size_t dm = (size_t)eng_model_get_info(task_runtime_model(d->rt))->d_model;
    struct eng_ctx *ctx = task_worker_ctx(tw);
    size_t nref = 0;
    for (size_t i = 0; i < nm; i++)
        if (m[i].code == SOCLE__V1__CODE__OK)
            nref += task_job_n_seqs(m[i].tj);
    struct seqref *refs = malloc((nref ? nref : 1) * sizeof *refs);
    size_t *lens = malloc((nref ? nref : 1) * sizeof *lens);
    bool *inc = calloc(nref ? nref : 1, sizeof *inc);
    int32_t *ids = malloc(cap * sizeof *ids), *types = malloc(cap * sizeof *types);
    if (!refs || !lens || !inc || !ids || !types) {
        for (size_t i = 0; i < nm; i++) {
            if (m[i].code == SOCLE__V1__CODE__OK) {
                m[i].code = SOCLE__V1__CODE__RESOURCE_EXHAUSTED;
                snprintf(m[i].msg, sizeof m[i].msg, "out of memory");
            }
        }
        goto out;
    }
    nref = 0;
    for (size_t i = 0; i < nm; i++) {
        if (m[i].code != SOCLE__V1__CODE__OK)
            continue;
        size_t ns = task_job_n_seqs(m[i].tj);
        for (size_t s = 0; s < ns; s++) {
            struct task_seq sq;
            task_job_get_seq(m[i].tj, s, &sq);
            refs[nref++] = (struct seqref){i, s, sq.n_tokens};
        }
    }
    for (size_t r0 = 0; r0 < nref;) {
        if (m[refs[r0].m].code != SOCLE__V1__CODE__OK) {
            r0++;
            continue;
        }
        if (refs[r0].len > cap) {
            struct mjob *x = &m[refs[r0].m];
            x->code = SOCLE__V1__CODE__INVALID_ARGUMENT;
            snprintf(x->msg, sizeof x->msg,
                     "a model sequence of %zu tokens exceeds max-batch-tokens (%zu)", refs[r0].len,
                     cap);
            r0++;
            continue;
        }
        size_t r1 = r0, tokens = 0, nb = 0;
        unsigned want = ENG_WANT_HIDDEN;
        while (r1 < nref &&
               (m[refs[r1].m].code != SOCLE__V1__CODE__OK || tokens + refs[r1].len <= cap)) {
            inc[r1] = m[refs[r1].m].code == SOCLE__V1__CODE__OK;
            if (inc[r1]) {
                struct task_seq sq;
                task_job_get_seq(m[refs[r1].m].tj, refs[r1].s, &sq);
                memcpy(ids + tokens, sq.ids, sq.n_tokens * sizeof *ids);
                if (sq.type_ids)
                    memcpy(types + tokens, sq.type_ids, sq.n_tokens * sizeof *types);
                else
                    memset(types + tokens, 0, sq.n_tokens * sizeof *types);
                lens[nb++] = sq.n_tokens;
                tokens += sq.n_tokens;
                want |= task_job_want(m[refs[r1].m].tj);
            }
            r1++;
        }
        if (!nb) {
            r0 = r1;
            continue;
        }
        struct eng_batch b = {nb, lens, ids, types};
        struct eng_output o;
        uint64_t t0 = now_us();
        if (d->elastic)
            eng_ctx_set_active_threads(ctx, elastic_enter(d->elastic));
        int erc = eng_ctx_forward(ctx, &b, want, &o);
        if (d->elastic)
            elastic_leave(d->elastic);
        uint64_t dt = now_us() - t0;
        head->sched.n_forwards++;
        head->sched.batch_seqs += (uint32_t)nb;
        head->sched.batch_tokens += (uint32_t)tokens;
        size_t off = 0, last_m = SIZE_MAX;
        for (size_t r = r0; r < r1; r++) {
            if (!inc[r])
                continue;
            struct mjob *x = &m[refs[r].m];
            if (refs[r].m != last_m) {
                x->j->sched.forward_us += dt; /* wall time of every forward it shared */
                last_m = refs[r].m;
            }
            if (x->code != SOCLE__V1__CODE__OK) {
                /* an earlier window of this job failed in its head: skip, keep offsets */
            } else if (erc != ENG_OK) {
                x->code = SOCLE__V1__CODE__INTERNAL;
                snprintf(x->msg, sizeof x->msg, "model forward failed: %s", eng_strerror(erc));
            } else {
                const float *layers = o.all_layers ? o.all_layers + off * dm : NULL;
                int rc = task_job_consume(x->tj, refs[r].s, o.last_hidden + off * dm, layers,
                                          tokens * dm);
                if (rc != TASK_OK) {
                    x->code = wire_code(rc);
                    snprintf(x->msg, sizeof x->msg, "applying heads: %s", task_strerror(rc));
                }
            }
            off += refs[r].len;
        }
        r0 = r1;
    }
out:
    free(refs);
    free(lens);
    free(inc);
    free(ids);
    free(types);
}

static void run_model_jobs(const struct daemon *d, struct task_worker *tw, struct job **jobs,
                           size_t n, uint64_t t_start) {
    struct mjob *m = calloc(n, sizeof *m);
    if (!m) {
        for (size_t i = 0; i < n; i++)
            answer(jobs[i], SOCLE__V1__CODE__RESOURCE_EXHAUSTED, NULL, NULL, "out of memory",
                   t_start);
        return;
    }
    size_t max_req_tokens = d->cfg.max_request_tokens ? (size_t)d->cfg.max_request_tokens : 0;
    for (size_t i = 0; i < n; i++) {
        struct mjob *x = &m[i];
        x->j = jobs[i];
        x->code = SOCLE__V1__CODE__OK;
        socle__v1__response__init(&x->r);
        socle__v1__timing__init(&x->tm);
        x->r.id = x->j->id;
        uint64_t t0 = now_us();
        if (x->j->deadline_us && t0 >= x->j->deadline_us) {
            x->code = SOCLE__V1__CODE__DEADLINE_EXCEEDED;
            snprintf(x->msg, sizeof x->msg, "deadline passed before a worker could start");
            continue;
        }
        if (!(x->a = arena_new())) {
            x->code = SOCLE__V1__CODE__RESOURCE_EXHAUSTED;
            snprintf(x->msg, sizeof x->msg, "out of memory");
            continue;
        }
        if (x->j->task == SOCLE__V1__REQUEST__TASK_MULTI) {
            /* several tasks, one pass: one job whose sequences the sub-tasks share */
            x->code =
                wire_build_multi(d, x->a, x->j->req, &x->trs, &x->n_trs, x->msg, sizeof x->msg);
        } else {
            x->code = wire_build_request(d, x->a, x->j->req, &x->tr, x->msg, sizeof x->msg);
            x->trs = &x->tr;
            x->n_trs = 1;
        }
        if (x->code != SOCLE__V1__CODE__OK)
            continue;
        char err[400] = "";
        int rc = task_job_prepare(d->rt, x->trs, x->n_trs, &x->tj, err, sizeof err);
        if (rc != TASK_OK) {
            x->code = wire_code(rc);
            snprintf(x->msg, sizeof x->msg, "%s: %s", reply_task_name(x->j->task),
                     err[0] ? err : task_strerror(rc));
            continue;
        }
        size_t ns = task_job_n_seqs(x->tj), tokens = 0;
        for (size_t s = 0; s < ns; s++) {
            struct task_seq sq;
            task_job_get_seq(x->tj, s, &sq);
            tokens += sq.n_tokens;
        }
        x->j->sched.n_tokens = tokens;
        x->j->sched.tokenize_us = now_us() - t0;
        if (max_req_tokens && tokens > max_req_tokens) {
            x->code = SOCLE__V1__CODE__INVALID_ARGUMENT;
            snprintf(x->msg, sizeof x->msg,
                     "request of %zu model tokens exceeds max-request-tokens (%zu)", tokens,
                     max_req_tokens);
            continue;
        }
        x->j->sched.computed = true;
    }
    run_forwards(d, tw, m, n, jobs[0]);
    for (size_t i = 0; i < n; i++) {
        struct mjob *x = &m[i];
        if (x->code == SOCLE__V1__CODE__OK) {
            uint64_t t0 = now_us();
            struct task_response *tp1 = NULL,
                                 **tps = x->n_trs > 1 ? calloc(x->n_trs, sizeof *tps) : &tp1;
            char err[400] = "";
            int rc = tps ? task_job_finish(x->tj, tps, err, sizeof err) : TASK_ENOMEM;
            size_t bad = SIZE_MAX;
            for (size_t k = 0; rc == TASK_OK && k < x->n_trs && bad == SIZE_MAX; k++)
                if (!tps[k] || tps[k]->n_results != x->trs[k].n_texts)
                    bad = k;
            if (rc != TASK_OK) {
                x->code = wire_code(rc);
                snprintf(x->msg, sizeof x->msg, "%s: %s", reply_task_name(x->j->task),
                         err[0] ? err : task_strerror(rc));
            } else if (bad != SIZE_MAX) {
                x->code = SOCLE__V1__CODE__INTERNAL;
                snprintf(x->msg, sizeof x->msg, "%s: task returned %zu results for %zu texts",
                         reply_task_name(x->j->task), tps[bad] ? tps[bad]->n_results : 0,
                         x->trs[bad].n_texts);
            } else if (x->j->task == SOCLE__V1__REQUEST__TASK_MULTI) {
                if (wire_convert_multi(x->a, x->j->req, x->trs, tps, x->n_trs, &x->r) != 0) {
                    x->code = SOCLE__V1__CODE__RESOURCE_EXHAUSTED;
                    snprintf(x->msg, sizeof x->msg, "out of memory");
                }
                /* the model saw each shared sequence once: count those tokens, not per task */
                x->r.n_tokens = x->j->sched.n_tokens;
            } else if (wire_convert(x->a, &x->tr, tp1, &x->r) != 0) {
                x->code = SOCLE__V1__CODE__RESOURCE_EXHAUSTED;
                snprintf(x->msg, sizeof x->msg, "out of memory");
            }
            if (tps) {
                for (size_t k = 0; k < x->n_trs; k++)
                    task_response_free(tps[k]);
                if (tps != &tp1)
                    free(tps);
            } else {
                x->code = SOCLE__V1__CODE__RESOURCE_EXHAUSTED;
                snprintf(x->msg, sizeof x->msg, "out of memory");
            }
            x->j->sched.post_us = now_us() - t0;
            x->tm.tokenize_us = x->j->sched.tokenize_us;
            x->tm.forward_us = x->j->sched.forward_us;
            x->tm.post_us = x->j->sched.post_us;
        }
        answer(x->j, x->code, &x->r, &x->tm, x->msg, t_start);
        task_job_free(x->tj);
        arena_free(x->a);
    }
    free(m);
}
#endif

void sched_run(const struct daemon *d, struct worker_state *ws, struct job **jobs, size_t n) {
    uint64_t t_start = now_us();
    if (!n)
        return;
    jobs[0]->sched.batch_head = true;
    jobs[0]->sched.batch_jobs = (uint32_t)n;
    for (size_t i = 0; i < n; i++)
        jobs[i]->sched.t_start_us = t_start;
#ifdef SOCLE_HAVE_TASKS
    struct task_worker *tw = worker_state_task_worker(ws);
    if (d->rt && tw) {
        /* model jobs first, packed together; the rest (tokenize, …) one by one */
        struct job **mj = malloc(n * sizeof *mj);
        size_t nm = 0;
        if (mj) {
            for (size_t i = 0; i < n; i++)
                if (is_model_task(jobs[i]->task))
                    mj[nm++] = jobs[i];
            if (nm && mj[0] != jobs[0]) {
                /* the stats read the batch's sizes from its head */
                jobs[0]->sched.batch_head = false;
                mj[0]->sched.batch_head = true;
                mj[0]->sched.batch_jobs = (uint32_t)n;
            }
            if (nm)
                run_model_jobs(d, tw, mj, nm, t_start);
            free(mj);
        }
        for (size_t i = 0; i < n; i++)
            if (!mj || !is_model_task(jobs[i]->task))
                service_run(d, ws, jobs[i]);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++)
        service_run(d, ws, jobs[i]);
}
