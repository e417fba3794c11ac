/* test_load_serving.c — socled under load (issue 6, docs/serving.md), label integ.
 * argv: socled. One daemon on models/socle-mini (sentiment, topic, ner, qa adapters) with one
 * worker, a batching delay and a small queue, then:
 *   1. references: each request alone (one in flight), results kept;
 *   2. load: 8 concurrent clients pipeline mixed classify/ner/qa/tokenize requests (some in the
 *      batch lane); every request gets exactly one answer, with its id, OK, and the same
 *      result as alone (scores within 1e-4: a packed batch changes sgemm blocking, not math);
 *   3. batching packed: stats batch_requests and batch_seqs means > 1;
 *   4. queue full: a burst above max-queue gets RESOURCE_EXHAUSTED naming the queue depth,
 *      the rest OK; exactly one answer each;
 *   5. deadlines: requests with deadline_ms 1 behind a burst are answered DEADLINE_EXCEEDED,
 *      and the stats show they never reached the model (computed_total = model answers OK);
 *   6. GET /metrics on --metrics: HTTP 200 and Prometheus text whose every sample line parses,
 *      agreeing with the stats.
 * Exits 77 when models/socle-mini is absent. */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/integ/harness.h"

enum { N_CLIENTS = 8, PER_CLIENT = 24, N_KINDS = 6 };

static const char *const texts[] = {
    "The film was a delight from start to finish.",
    "Terrible service, I will never come back to this place again.",
    "Marie Curie worked in Paris with Pierre Curie at the Sorbonne.",
    "Le match de football entre Lyon et Marseille a eu lieu samedi soir au stade.",
    "Stocks fell sharply on Monday as investors worried about rising interest rates and "
    "the outlook for technology companies in the coming quarter.",
};
enum { N_TEXTS = sizeof texts / sizeof texts[0] };

/* Request kind k over text t: 0 classify/sentiment, 1 classify/topic, 2 ner, 3 qa,
 * 4 tokenize, 5 classify/sentiment in the batch lane (priority -1). */
struct reqbuf {
    Socle__V1__Request req;
    Socle__V1__ClassifyRequest cl;
    Socle__V1__NerRequest ner;
    Socle__V1__QaRequest qa;
    Socle__V1__QaPair pair, *pairs[1];
    Socle__V1__TokenizeRequest tok;
    ProtobufCBinaryData text;
};

static void make_req(struct reqbuf *b, int kind, int t, uint64_t id) {
    socle__v1__request__init(&b->req);
    b->req.id = id;
    b->text.data = (uint8_t *)(uintptr_t)texts[t];
    b->text.len = strlen(texts[t]);
    switch (kind) {
    case 0:
    case 1:
    case 5:
        socle__v1__classify_request__init(&b->cl);
        b->cl.n_texts = 1;
        b->cl.texts = &b->text;
        b->req.adapter = (char *)(uintptr_t)(kind == 1 ? "topic" : "sentiment");
        b->req.priority = kind == 5 ? -1 : 0;
        b->req.task_case = SOCLE__V1__REQUEST__TASK_CLASSIFY;
        b->req.classify = &b->cl;
        break;
    case 2:
        socle__v1__ner_request__init(&b->ner);
        b->ner.n_texts = 1;
        b->ner.texts = &b->text;
        b->req.task_case = SOCLE__V1__REQUEST__TASK_NER;
        b->req.ner = &b->ner;
        break;
    case 3:
        socle__v1__qa_request__init(&b->qa);
        socle__v1__qa_pair__init(&b->pair);
        b->pair.question.data = (uint8_t *)(uintptr_t) "Where did she work?";
        b->pair.question.len = strlen("Where did she work?");
        b->pair.context = b->text;
        b->pairs[0] = &b->pair;
        b->qa.n_pairs = 1;
        b->qa.pairs = b->pairs;
        b->req.task_case = SOCLE__V1__REQUEST__TASK_QA;
        b->req.qa = &b->qa;
        break;
    default:
        socle__v1__tokenize_request__init(&b->tok);
        b->tok.n_texts = 1;
        b->tok.texts = &b->text;
        b->req.task_case = SOCLE__V1__REQUEST__TASK_TOKENIZE;
        b->req.tokenize = &b->tok;
        break;
    }
}

/* A comparable summary of a result: labels/entities/answers with their scores. */
struct sig {
    int n;
    char what[8][64];
    float score[8];
};

static int signature(const Socle__V1__Response *r, struct sig *s) {
    memset(s, 0, sizeof *s);
    if (!r->status || r->status->code != SOCLE__V1__CODE__OK)
        return -1;
    switch (r->result_case) {
    case SOCLE__V1__RESPONSE__RESULT_CLASSIFY: {
        const Socle__V1__ClassifyOutput *o = r->classify->outputs[0];
        for (size_t i = 0; i < o->n_labels && s->n < 8; i++, s->n++) {
            snprintf(s->what[s->n], 64, "%s", o->labels[i]->label);
            s->score[s->n] = o->labels[i]->score;
        }
        return 0;
    }
    case SOCLE__V1__RESPONSE__RESULT_NER: {
        const Socle__V1__NerOutput *o = r->ner->outputs[0];
        for (size_t i = 0; i < o->n_entities && s->n < 8; i++, s->n++) {
            const Socle__V1__Entity *e = o->entities[i];
            snprintf(s->what[s->n], 64, "%s@%u-%u", e->type, e->span ? e->span->start : 0,
                     e->span ? e->span->end : 0);
            s->score[s->n] = e->score;
        }
        return 0;
    }
    case SOCLE__V1__RESPONSE__RESULT_QA: {
        const Socle__V1__QaOutput *o = r->qa->outputs[0];
        for (size_t i = 0; i < o->n_answers && s->n < 8; i++, s->n++) {
            const Socle__V1__Answer *a = o->answers[i];
            snprintf(s->what[s->n], 64, "%u-%u", a->span ? a->span->start : 0,
                     a->span ? a->span->end : 0);
            s->score[s->n] = a->score;
        }
        return 0;
    }
    case SOCLE__V1__RESPONSE__RESULT_TOKENIZE: {
        const Socle__V1__Encoding *e = r->tokenize->encodings[0];
        s->n = 1;
        snprintf(s->what[0], 64, "%zu:%d:%d", e->n_ids, e->n_ids ? e->ids[0] : -1,
                 e->n_ids ? e->ids[e->n_ids - 1] : -1);
        return 0;
    }
    default:
        return -1;
    }
}

static bool sig_equal(const struct sig *a, const struct sig *b) {
    if (a->n != b->n)
        return false;
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->what[i], b->what[i]) != 0 || fabsf(a->score[i] - b->score[i]) > 1e-4f)
            return false;
    return true;
}

static struct sig ref[N_KINDS][N_TEXTS];
static struct hx_daemon D;

struct client {
    int index, errors, answered;
};

static void *client_main(void *arg) {
    struct client *w = arg;
    struct socle_client *c = hx_client(w->index % 2 ? D.tcp : D.ipc, 30000, 0);
    if (!c) {
        w->errors++;
        return NULL;
    }
    unsigned char seen[PER_CLIENT] = {0};
    for (int k = 0; k < PER_CLIENT; k++) {
        struct reqbuf b;
        make_req(&b, (k + w->index) % N_KINDS, (k * 3 + w->index) % N_TEXTS, (uint64_t)k + 1);
        if (socle_client_send(c, &b.req, NULL) != SOCLE_OK)
            w->errors++;
    }
    for (int k = 0; k < PER_CLIENT; k++) {
        Socle__V1__Response *r = NULL;
        if (socle_client_recv(c, &r) != SOCLE_OK) {
            fprintf(stderr, "client %d: no answer after %d\n", w->index, k);
            w->errors++;
            break;
        }
        int i = (int)r->id - 1;
        struct sig s;
        if (i < 0 || i >= PER_CLIENT || seen[i]) {
            fprintf(stderr, "client %d: id %llu unexpected or twice\n", w->index,
                    (unsigned long long)r->id);
            w->errors++;
        } else if (signature(r, &s) != 0) {
            fprintf(stderr, "client %d: id %d: %s %s\n", w->index, i + 1,
                    r->status ? socle_code_name(r->status->code) : "?",
                    r->status ? r->status->message : "");
            w->errors++;
            seen[i] = 1;
        } else {
            seen[i] = 1;
            w->answered++;
            int kind = (i + w->index) % N_KINDS, t = (i * 3 + w->index) % N_TEXTS;
            if (!sig_equal(&s, &ref[kind][t])) {
                fprintf(stderr, "client %d: id %d (kind %d text %d) differs from alone\n", w->index,
                        i + 1, kind, t);
                w->errors++;
            }
        }
        socle_response_free(r);
    }
    socle_client_free(c);
    return NULL;
}

static Socle__V1__Response *get_stats(void) {
    struct socle_client *c = hx_client(D.ipc, 5000, 0);
    Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
    Socle__V1__StatsRequest st = SOCLE__V1__STATS_REQUEST__INIT;
    req.task_case = SOCLE__V1__REQUEST__TASK_STATS;
    req.stats = &st;
    Socle__V1__Response *r = NULL;
    if (!c || socle_client_call(c, &req, &r) != SOCLE_OK || !r || !r->stats) {
        socle_response_free(r);
        r = NULL;
    }
    socle_client_free(c);
    return r;
}

/* n requests from one client, all sent before reading: counts of each answer code. */
static void burst(int n, int kind, uint32_t deadline_ms, uint64_t id0, int counts[16],
                  char *msg_full, size_t msg_len) {
    struct socle_client *c = hx_client(D.ipc, 30000, 0);
    if (!c) {
        CHECK(!"client");
        return;
    }
    unsigned char *seen = calloc((size_t)n, 1);
    for (int k = 0; k < n; k++) {
        struct reqbuf b;
        make_req(&b, kind, k % N_TEXTS, id0 + (uint64_t)k);
        b.req.deadline_ms = deadline_ms;
        CHECK(socle_client_send(c, &b.req, NULL) == SOCLE_OK);
    }
    for (int k = 0; k < n; k++) {
        Socle__V1__Response *r = NULL;
        if (socle_client_recv(c, &r) != SOCLE_OK) {
            CHECK(!"every request of the burst answered");
            break;
        }
        int64_t i = (int64_t)(r->id - id0);
        CHECK(i >= 0 && i < n && !seen[i]);
        if (i >= 0 && i < n)
            seen[i] = 1;
        int code = r->status ? (int)r->status->code : 15;
        counts[code < 16 ? code : 15]++;
        if (code == SOCLE__V1__CODE__RESOURCE_EXHAUSTED && msg_full && !msg_full[0])
            snprintf(msg_full, msg_len, "%s", r->status->message);
        socle_response_free(r);
    }
    free(seen);
    socle_client_free(c);
}

static double hist_mean(const Socle__V1__Histogram *h) {
    return h && h->count ? h->sum / (double)h->count : 0;
}

static int free_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &l) != 0) {
        if (s >= 0)
            close(s);
        return -1;
    }
    close(s);
    return ntohs(a.sin_port);
}

/* GET path on 127.0.0.1:port; the whole answer (malloc'd) or NULL. */
static char *http_get(int port, const char *path) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {5, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
        close(s);
        return NULL;
    }
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", path);
    if (write(s, req, (size_t)n) != n) {
        close(s);
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 1 >= cap)
            buf = realloc(buf, cap *= 2);
        ssize_t m = read(s, buf + len, cap - len - 1);
        if (m <= 0)
            break;
        len += (size_t)m;
    }
    buf[len] = '\0';
    close(s);
    return buf;
}

/* Value of the sample line starting with `name ` (no labels), or -1. */
static double prom_value(const char *text, const char *name) {
    size_t nl = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (!strncmp(p, name, nl) && p[nl] == ' ')
            return strtod(p + nl + 1, NULL);
    return -1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s SOCLED\n", argv[0]);
        return 2;
    }
    char model[1024];
    snprintf(model, sizeof model, "%s/models/socle-mini", hx_source_dir());
    char adapters[1100], probe[1100];
    snprintf(adapters, sizeof adapters, "%s/adapters", model);
    snprintf(probe, sizeof probe, "%s/model.safetensors", model);
    if (access(probe, R_OK) != 0) {
        fprintf(stderr, "skip: %s absent\n", probe);
        return 77;
    }
    int mport = free_port();
    char metrics[64];
    snprintf(metrics, sizeof metrics, "tcp://127.0.0.1:%d", mport);
    /* one worker: batches only form when requests queue, which the bursts below make sure of;
     * 20 ms of batching delay so that even the first requests pack */
    const char *extra[] = {
        "--model",     model,  "--adapters",           adapters, "--workers", "1",
        "--max-queue", "200",  "--max-batch-delay-us", "20000",  "--metrics", metrics,
        "--log-level", "info", "--max-request-tokens", "300",    NULL};
    if (hx_start(&D, argv[1], extra) != 0)
        return 1;

    /* 1. references, one request at a time */
    {
        struct socle_client *c = hx_client(D.ipc, 30000, 0);
        CHECK(c != NULL);
        for (int k = 0; c && k < N_KINDS; k++) {
            for (int t = 0; t < N_TEXTS; t++) {
                struct reqbuf b;
                make_req(&b, k, t, 1);
                Socle__V1__Response *r = NULL;
                CHECK(socle_client_call(c, &b.req, &r) == SOCLE_OK);
                if (!r || signature(r, &ref[k][t]) != 0) {
                    fprintf(stderr, "reference kind %d text %d: %s\n", k, t,
                            r && r->status ? r->status->message : "no answer");
                    hx_failures++;
                }
                socle_response_free(r);
            }
        }
        socle_client_free(c);
    }
    /* qa and ner must give something to compare, else the test proves little */
    CHECK(ref[3][2].n > 0);
    CHECK(ref[0][0].n == 2);

    /* 2. load: concurrent mixed clients */
    pthread_t th[N_CLIENTS];
    struct client cl[N_CLIENTS];
    long t0 = hx_now_ms();
    for (int i = 0; i < N_CLIENTS; i++) {
        cl[i] = (struct client){.index = i};
        pthread_create(&th[i], NULL, client_main, &cl[i]);
    }
    int answered = 0;
    for (int i = 0; i < N_CLIENTS; i++) {
        pthread_join(th[i], NULL);
        hx_failures += cl[i].errors;
        answered += cl[i].answered;
    }
    fprintf(stderr, "load: %d answers in %ld ms\n", answered, hx_now_ms() - t0);
    CHECK(answered == N_CLIENTS * PER_CLIENT);

    /* 3. batching packed several requests and sequences per forward */
    Socle__V1__Response *s1 = get_stats();
    CHECK(s1 != NULL);
    if (s1) {
        double br = hist_mean(s1->stats->batch_requests), bs = hist_mean(s1->stats->batch_seqs);
        fprintf(stderr,
                "stats: batches %llu forwards %llu mean requests/batch %.2f seqs/forward "
                "%.2f tokens/forward %.1f\n",
                (unsigned long long)s1->stats->batches_total,
                (unsigned long long)s1->stats->forwards_total, br, bs,
                hist_mean(s1->stats->batch_tokens));
        CHECK(br > 1.0);
        CHECK(bs > 1.0);
        CHECK(s1->stats->queue_depth == 0);
    }

    /* 4. queue full: 400 at once into a queue of 200 */
    int counts[16] = {0};
    char full_msg[512] = "";
    burst(400, 0, 0, 1000, counts, full_msg, sizeof full_msg);
    fprintf(stderr, "burst: OK %d RESOURCE_EXHAUSTED %d (%s)\n", counts[0],
            counts[SOCLE__V1__CODE__RESOURCE_EXHAUSTED], full_msg);
    CHECK(counts[SOCLE__V1__CODE__RESOURCE_EXHAUSTED] > 0);
    CHECK(counts[0] >= 200);
    CHECK(counts[0] + counts[SOCLE__V1__CODE__RESOURCE_EXHAUSTED] == 400);
    CHECK(strstr(full_msg, "queue full") && strstr(full_msg, "requests waiting"));

    /* 5. deadlines: 150 requests of 1 ms behind nothing else than themselves; the worker
     * cannot run them all within 1 ms, so most expire in the queue */
    memset(counts, 0, sizeof counts);
    burst(150, 1, 1, 5000, counts, NULL, 0);
    int n_deadline = counts[SOCLE__V1__CODE__DEADLINE_EXCEEDED];
    fprintf(stderr, "deadline burst: OK %d DEADLINE_EXCEEDED %d\n", counts[0], n_deadline);
    CHECK(n_deadline > 0);
    CHECK(counts[0] + n_deadline == 150);
    Socle__V1__Response *s2 = get_stats();
    CHECK(s2 != NULL);
    if (s1 && s2) {
        /* every model request answered OK was computed; none of the expired ones was (the
         * previous bursts had no deadline) */
        uint64_t ok_model = 0;
        for (size_t t = 0; t < s2->stats->n_tasks; t++) {
            const char *name = s2->stats->tasks[t]->task;
            if (!strcmp(name, "classify") || !strcmp(name, "ner") || !strcmp(name, "qa"))
                for (size_t c = 0; c < s2->stats->tasks[t]->n_codes; c++)
                    if (s2->stats->tasks[t]->codes[c]->code == SOCLE__V1__CODE__OK)
                        ok_model += s2->stats->tasks[t]->codes[c]->count;
        }
        fprintf(stderr, "computed %llu, model OK %llu, expired %llu\n",
                (unsigned long long)s2->stats->computed_total, (unsigned long long)ok_model,
                (unsigned long long)s2->stats->expired_total);
        CHECK(s2->stats->computed_total == ok_model);
        CHECK(s2->stats->expired_total == (uint64_t)n_deadline);
    }

    /* 5b. per-request token limit, counted exactly after tokenizing (every window of a long
     * ner text): refused before the model, the others of its batch unaffected */
    {
        size_t big_len = 4000;
        char *big = malloc(big_len + 1);
        for (size_t i = 0; i < big_len; i++)
            big[i] = "Marie Curie worked in Paris. "[i % 29];
        big[big_len] = '\0';
        struct socle_client *c = hx_client(D.ipc, 30000, 0);
        struct reqbuf b;
        make_req(&b, 2, 0, 9001);
        b.text.data = (uint8_t *)big;
        b.text.len = big_len;
        Socle__V1__Response *r = NULL;
        CHECK(c && socle_client_call(c, &b.req, &r) == SOCLE_OK);
        CHECK(r && r->status && r->status->code == SOCLE__V1__CODE__INVALID_ARGUMENT &&
              strstr(r->status->message, "max-request-tokens (300)"));
        if (r && r->status)
            fprintf(stderr, "token limit: %s\n", r->status->message);
        socle_response_free(r);
        socle_client_free(c);
        free(big);
    }

    /* 6. Prometheus text */
    char *text = http_get(mport, "/metrics");
    CHECK(text != NULL);
    if (text) {
        CHECK(!strncmp(text, "HTTP/1.0 200", 12));
        char *body = strstr(text, "\r\n\r\n");
        CHECK(body != NULL);
        int samples = 0, bad = 0;
        for (char *line = body ? body + 4 : NULL; line && *line;) {
            char *nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            if (line[0] && line[0] != '#') {
                /* name{labels} value: a metric name, optional labels, a number */
                size_t nlen = strspn(line, "abcdefghijklmnopqrstuvwxyz_:0123456789");
                char *v = line + nlen;
                if (*v == '{')
                    v = strchr(v, '}') ? strchr(v, '}') + 1 : v;
                char *end = NULL;
                if (nlen == 0 || *v != ' ' || (strtod(v + 1, &end), end == v + 1 || *end)) {
                    fprintf(stderr, "bad sample line: %s\n", line);
                    bad++;
                }
                samples++;
            }
            if (nl)
                *nl = '\n';
            line = nl ? nl + 1 : NULL;
        }
        CHECK(bad == 0 && samples > 50);
        if (s2)
            CHECK(prom_value(body ? body : text, "socled_computed_total") >=
                  (double)s2->stats->computed_total);
        CHECK(strstr(text, "socled_batch_sequences_bucket{le=\"+Inf\"}") != NULL);
        CHECK(strstr(text, "socled_responses_total{task=\"classify\",code=\"OK\"}") != NULL);
        free(text);
    }
    text = http_get(mport, "/nope");
    CHECK(text && !strncmp(text, "HTTP/1.0 404", 12));
    free(text);
    socle_response_free(s1);
    socle_response_free(s2);

    int status = -1;
    CHECK(hx_stop(&D, 20000, &status) == 0 && status == 0);
    if (hx_failures)
        fprintf(stderr, "%d check(s) failed; log %s\n", hx_failures, D.log);
    return hx_failures ? 1 : 0;
}
