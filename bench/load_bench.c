/* load_bench.c — socled under load (issue 6; bench/run_load_bench.sh drives it).
 *
 * N concurrent closed-loop clients (one classify request of one text of 20–120 tokens in
 * flight each) against two socled this program starts on the same model: dynamic batching
 * on (socled's defaults) and off (--max-batch-requests 1: one request per forward). Per cell:
 * sequences/s, p50/p99 latency, requests per batch (socled's stats) and socled's CPU time
 * per request.
 *
 * Baselines, measured in this process in the same run, before any socled starts:
 *   - the engine's best batched throughput: task_run on requests of B texts, for every split
 *     of the cores into W threads × T BLAS threads, best over B and the split;
 *   - a direct engine call: one text per task_run on one thread with every core as BLAS
 *     threads, over the same texts the 1-client cell sends; plus the transport round trip
 *     (an `info` request, answered by the broker thread without a worker).
 *
 * Throughput of closed-loop clients is measured per client as (completions − 1) / (time
 * between its first and last completion in the window), summed over the clients. Counting
 * completions in a fixed window instead is off by up to one whole batch when batches are
 * large (64 answers arrive within a millisecond, every few seconds).
 *
 * usage: load_bench SOCLED [--model DIR] [--adapter NAME] [--clients 1,4,16,64]
 *                   [--seconds S]        minimum measuring window per cell (default 5)
 *                   [--max-seconds S]    cap of a cell's warm-up and of its window (60)
 *                   [--engine-batches 1,8,32]  texts per call for the engine baseline
 *                   [--engine-configs 2x1,1x2]  threads x BLAS threads for it (default:
 *                                        every split of the cores)
 *                   [--workers W] [--blas-threads T] [--delay-us D]  passed to both socled
 *                                        (absent: socled's defaults)
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clients/socle.h"
#include "tasks/task.h"

extern char **environ;

enum { MAX_CLIENTS = 256, N_TEXTS = 64, MAX_LEVELS = 16, MAX_ENG_THREADS = 64, LAT_ROUNDS = 2 };

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double quantile(double *v, size_t n, double q) {
    if (!n)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    return v[(size_t)((double)(n - 1) * q + 0.5)];
}

static double cpu_seconds(pid_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double loadavg(void) {
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

/* ------------------------------------------------------------------------------------------ */
/* texts: N_TEXTS texts of 18..118 common English words, each one WordPiece token in
 * bert-base-uncased, so 20..120 tokens with [CLS]/[SEP] (the counts are measured and printed). */

static char *g_texts[N_TEXTS];
static size_t g_lens[N_TEXTS], g_tokens[N_TEXTS];
static const char *g_adapter = "sentiment";

static void make_texts(void) {
    static const char *const words[] = {
        "the",     "market",  "rose",     "sharply", "after",   "news",   "of",       "a",
        "merger",  "between", "two",      "large",   "banks",   "while",  "football", "fans",
        "cheered", "their",   "team",     "in",      "paris",   "and",    "london",   "scientists",
        "found",   "new",     "evidence", "that",    "climate", "change", "affects",  "people"};
    unsigned s = 12345;
    for (int i = 0; i < N_TEXTS; i++) {
        int nw = 18 + i * 100 / (N_TEXTS - 1);
        char *t = malloc(2048);
        size_t len = 0;
        for (int w = 0; w < nw; w++) {
            s = s * 1103515245u + 12345u;
            const char *word = words[(s >> 16) % (sizeof words / sizeof words[0])];
            len += (size_t)snprintf(t + len, 2048 - len, "%s%s", w ? " " : "", word);
        }
        g_texts[i] = t;
        g_lens[i] = len;
    }
}

/* The text a client sends on its k-th call: every client cycles over all texts. */
static int text_of(int client, size_t k) { return (int)((k * 7 + (size_t)client * 13) % N_TEXTS); }

/* ------------------------------------------------------------------------------------------ */
/* engine baselines (in process) */

static int engine_call(const struct task_runtime *rt, struct task_worker *w, const int *idx, int n,
                       size_t *tokens) {
    const char *ptrs[N_TEXTS];
    size_t lens[N_TEXTS];
    for (int i = 0; i < n; i++) {
        ptrs[i] = g_texts[idx[i]];
        lens[i] = g_lens[idx[i]];
    }
    struct task_request req;
    memset(&req, 0, sizeof req);
    req.kind = TASK_CLASSIFY;
    req.adapter = g_adapter;
    req.texts = ptrs;
    req.text_lens = lens;
    req.n_texts = (size_t)n;
    struct task_response *out = NULL;
    char err[256];
    int rc = task_run(rt, w, &req, &out, err, sizeof err);
    if (rc != TASK_OK)
        fprintf(stderr, "engine: %s\n", err);
    else if (tokens)
        for (int i = 0; i < n; i++)
            tokens[i] = out->results[i].n_tokens;
    task_response_free(out);
    return rc;
}

struct eng_thread {
    const struct task_runtime *rt;
    int n_texts, index;
    volatile int *stop;
    double *t_done; /* completion times */
    size_t n_done, cap;
    int failed;
};

static void *engine_main(void *arg) {
    struct eng_thread *e = arg;
    struct task_worker *w = NULL;
    if (task_worker_new(e->rt, 8192, &w) != TASK_OK) {
        e->failed = 1;
        return NULL;
    }
    int idx[N_TEXTS];
    for (size_t k = 0; !*e->stop; k++) {
        for (int i = 0; i < e->n_texts; i++)
            idx[i] = text_of(e->index, k * (size_t)e->n_texts + (size_t)i);
        if (engine_call(e->rt, w, idx, e->n_texts, NULL) != TASK_OK) {
            e->failed = 1;
            break;
        }
        if (e->n_done == e->cap) {
            e->cap = e->cap ? 2 * e->cap : 256;
            e->t_done = realloc(e->t_done, e->cap * sizeof *e->t_done);
        }
        e->t_done[e->n_done] = now_s();
        __atomic_store_n(&e->n_done, e->n_done + 1, __ATOMIC_RELEASE);
    }
    task_worker_free(w);
    return NULL;
}

/* Sum over closed loops of (completions − 1) / (last − first) within [w0, w1], × per_call. */
static double loop_rate(const double *t, size_t n, double w0, double w1, size_t *count) {
    size_t k = 0;
    double first = 0, last = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i] < w0 || t[i] > w1)
            continue;
        if (!k)
            first = t[i];
        last = t[i];
        k++;
    }
    *count = k;
    if (k >= 2 && last > first)
        return (double)(k - 1) / (last - first);
    return (double)k / (w1 - w0);
}

static size_t min_done(struct eng_thread *e, int n) {
    size_t m = SIZE_MAX;
    for (int i = 0; i < n; i++) {
        size_t d = __atomic_load_n(&e[i].n_done, __ATOMIC_ACQUIRE);
        if (d < m)
            m = d;
    }
    return m;
}

/* Sequences/s of `threads` threads running task_run on n_texts texts each, with the given
 * BLAS threads; measured over at least min_s and at least 3 calls per thread after one. */
static double process_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double engine_rate(const struct task_runtime *rt, int threads, int blas, int n_texts,
                          double min_s, double max_s, double *cpu_ms) {
    eng_set_blas_threads(blas);
    volatile int stop = 0;
    struct eng_thread e[MAX_ENG_THREADS];
    pthread_t th[MAX_ENG_THREADS];
    memset(e, 0, sizeof e);
    for (int i = 0; i < threads; i++) {
        e[i] = (struct eng_thread){.rt = rt, .n_texts = n_texts, .index = i, .stop = &stop};
        pthread_create(&th[i], NULL, engine_main, &e[i]);
    }
    double t_start = now_s();
    while (min_done(e, threads) < 1 && now_s() - t_start < max_s)
        usleep(2000);
    double w0 = now_s(), c0 = process_cpu_s();
    size_t d0 = 0, d1 = 0;
    for (int i = 0; i < threads; i++)
        d0 += __atomic_load_n(&e[i].n_done, __ATOMIC_ACQUIRE);
    while ((now_s() - w0 < min_s || min_done(e, threads) < 4) && now_s() - w0 < max_s)
        usleep(2000);
    double w1 = now_s(), c1 = process_cpu_s();
    for (int i = 0; i < threads; i++)
        d1 += __atomic_load_n(&e[i].n_done, __ATOMIC_ACQUIRE);
    *cpu_ms = d1 > d0 ? (c1 - c0) * 1e3 / (double)((d1 - d0) * (size_t)n_texts) : 0;
    stop = 1;
    double rate = 0;
    int failed = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        size_t k;
        rate += loop_rate(e[i].t_done, e[i].n_done, w0, w1, &k) * n_texts;
        failed |= e[i].failed;
        free(e[i].t_done);
    }
    return failed ? 0 : rate;
}

/* Direct-call latency of one text on one thread with every core as BLAS threads, over every
 * text once (after warm-up), summed into sum[i] per text. Also fills g_tokens. */
static void engine_latency(const struct task_runtime *rt, int cores, double *sum) {
    eng_set_blas_threads(cores);
    struct task_worker *w = NULL;
    if (task_worker_new(rt, 8192, &w) != TASK_OK)
        return;
    for (int i = 0; i < 4; i++)
        engine_call(rt, w, &i, 1, NULL);
    for (int i = 0; i < N_TEXTS; i++) {
        double t0 = now_s();
        engine_call(rt, w, &i, 1, &g_tokens[i]);
        sum[i] += now_s() - t0;
    }
    task_worker_free(w);
}

static void mean_p50(const double *sum, int rounds, double *mean, double *p50) {
    double v[N_TEXTS], m = 0;
    for (int i = 0; i < N_TEXTS; i++) {
        v[i] = sum[i] / rounds;
        m += v[i];
    }
    *mean = m / N_TEXTS;
    *p50 = quantile(v, N_TEXTS, 0.5);
}

/* ------------------------------------------------------------------------------------------ */
/* socled and its clients */

struct client {
    const char *endpoint;
    int index;
    volatile int *stop;
    double *t_done, *lat; /* per completed call: completion time, latency (s) */
    size_t n, cap;
    int errors;
};

static void *client_main(void *arg) {
    struct client *c = arg;
    struct socle_client_opts o = socle_client_opts_default();
    o.timeout_ms = 300000;
    o.retries = 0;
    struct socle_client *sc = NULL;
    if (socle_client_new(c->endpoint, &o, &sc) != SOCLE_OK) {
        c->errors++;
        return NULL;
    }
    for (size_t k = 0; !*c->stop; k++) {
        int t = text_of(c->index, k);
        Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
        Socle__V1__ClassifyRequest cl = SOCLE__V1__CLASSIFY_REQUEST__INIT;
        ProtobufCBinaryData b = {g_lens[t], (uint8_t *)g_texts[t]};
        cl.n_texts = 1;
        cl.texts = &b;
        req.adapter = (char *)(uintptr_t)g_adapter;
        req.task_case = SOCLE__V1__REQUEST__TASK_CLASSIFY;
        req.classify = &cl;
        Socle__V1__Response *r = NULL;
        double t0 = now_s();
        int rc = socle_client_call(sc, &req, &r);
        double t1 = now_s();
        if (rc != SOCLE_OK || !r || !r->status || r->status->code != SOCLE__V1__CODE__OK) {
            c->errors++;
        } else {
            if (c->n == c->cap) {
                c->cap = c->cap ? 2 * c->cap : 1024;
                c->t_done = realloc(c->t_done, c->cap * sizeof *c->t_done);
                c->lat = realloc(c->lat, c->cap * sizeof *c->lat);
            }
            c->t_done[c->n] = t1;
            c->lat[c->n] = t1 - t0;
            __atomic_store_n(&c->n, c->n + 1, __ATOMIC_RELEASE);
        }
        socle_response_free(r);
    }
    socle_client_free(sc);
    return NULL;
}

static int call_simple(const char *endpoint, int task_case, Socle__V1__Response **out) {
    struct socle_client_opts o = socle_client_opts_default();
    o.timeout_ms = 2000;
    o.retries = 0;
    struct socle_client *c = NULL;
    Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
    Socle__V1__InfoRequest info = SOCLE__V1__INFO_REQUEST__INIT;
    Socle__V1__StatsRequest stats = SOCLE__V1__STATS_REQUEST__INIT;
    req.task_case = task_case;
    if (task_case == SOCLE__V1__REQUEST__TASK_INFO)
        req.info = &info;
    else
        req.stats = &stats;
    int rc = socle_client_new(endpoint, &o, &c) == SOCLE_OK ? socle_client_call(c, &req, out) : -1;
    socle_client_free(c);
    return rc;
}

/* (batches, computed) from socled's stats, 0s when unavailable */
static void stats_batches(const char *endpoint, double *batches, double *computed) {
    Socle__V1__Response *r = NULL;
    *batches = *computed = 0;
    if (call_simple(endpoint, SOCLE__V1__REQUEST__TASK_STATS, &r) == SOCLE_OK && r && r->stats) {
        *batches = (double)r->stats->batches_total;
        *computed = (double)r->stats->computed_total;
    }
    socle_response_free(r);
}

/* Median round trip of `info` (answered by the broker thread) on one connection. */
static double info_rtt(const char *endpoint) {
    struct socle_client_opts o = socle_client_opts_default();
    o.timeout_ms = 2000;
    o.retries = 0;
    struct socle_client *c = NULL;
    if (socle_client_new(endpoint, &o, &c) != SOCLE_OK)
        return 0;
    double v[200];
    int n = 0;
    for (int i = 0; i < 220; i++) {
        Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
        Socle__V1__InfoRequest info = SOCLE__V1__INFO_REQUEST__INIT;
        req.task_case = SOCLE__V1__REQUEST__TASK_INFO;
        req.info = &info;
        Socle__V1__Response *r = NULL;
        double t0 = now_s();
        int rc = socle_client_call(c, &req, &r);
        double dt = now_s() - t0;
        socle_response_free(r);
        if (rc == SOCLE_OK && i >= 20)
            v[n++] = dt;
    }
    socle_client_free(c);
    return quantile(v, (size_t)n, 0.5);
}

/* One client sends every text once, in order (after 4 warm-up calls): the same texts as
 * engine_latency; latencies summed into sum[i] per text. */
static void latency_pass(const char *endpoint, double *sum) {
    struct socle_client_opts o = socle_client_opts_default();
    o.timeout_ms = 60000;
    o.retries = 0;
    struct socle_client *c = NULL;
    if (socle_client_new(endpoint, &o, &c) != SOCLE_OK)
        return;
    for (int i = -4; i < N_TEXTS; i++) {
        int t = i < 0 ? -i : i;
        Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
        Socle__V1__ClassifyRequest cl = SOCLE__V1__CLASSIFY_REQUEST__INIT;
        ProtobufCBinaryData b = {g_lens[t], (uint8_t *)g_texts[t]};
        cl.n_texts = 1;
        cl.texts = &b;
        req.adapter = (char *)(uintptr_t)g_adapter;
        req.task_case = SOCLE__V1__REQUEST__TASK_CLASSIFY;
        req.classify = &cl;
        Socle__V1__Response *r = NULL;
        double t0 = now_s();
        int rc = socle_client_call(c, &req, &r);
        double dt = now_s() - t0;
        if (rc == SOCLE_OK && r && r->status && r->status->code == SOCLE__V1__CODE__OK && i >= 0)
            sum[i] += dt;
        socle_response_free(r);
    }
    socle_client_free(c);
}

struct cell {
    double seq_s, p50_ms, p99_ms, mean_ms, cpu_ms, req_per_batch, window_s;
    int errors;
};

static size_t clients_min_done(struct client *cl, int n) {
    size_t m = SIZE_MAX;
    for (int i = 0; i < n; i++) {
        size_t d = __atomic_load_n(&cl[i].n, __ATOMIC_ACQUIRE);
        if (d < m)
            m = d;
    }
    return m;
}

static struct cell run_level(const char *endpoint, pid_t pid, int n_clients, double min_s,
                             double max_s) {
    static struct client cl[MAX_CLIENTS];
    pthread_t th[MAX_CLIENTS];
    volatile int stop = 0;
    memset(cl, 0, sizeof cl);
    double t_start = now_s();
    for (int i = 0; i < n_clients; i++) {
        cl[i] = (struct client){.endpoint = endpoint, .index = i, .stop = &stop};
        pthread_create(&th[i], NULL, client_main, &cl[i]);
    }
    /* warm-up: every client completed 2 calls (its connect and one full cycle under load) */
    while (clients_min_done(cl, n_clients) < 2 && now_s() - t_start < max_s)
        usleep(5000);
    double cycle = (now_s() - t_start) / 2;
    double window = 4 * cycle > min_s ? 4 * cycle : min_s;
    if (window > max_s)
        window = max_s;
    double b0, c0, b1, c1;
    stats_batches(endpoint, &b0, &c0);
    double w0 = now_s(), cpu0 = cpu_seconds(pid);
    usleep((useconds_t)(window * 1e6));
    double w1 = now_s(), cpu1 = cpu_seconds(pid);
    stats_batches(endpoint, &b1, &c1);
    stop = 1;
    struct cell c = {0};
    size_t total = 0, cap = 0;
    double *lat = NULL;
    for (int i = 0; i < n_clients; i++) {
        pthread_join(th[i], NULL);
        size_t k;
        c.seq_s += loop_rate(cl[i].t_done, cl[i].n, w0, w1, &k);
        if (total + k > cap) {
            cap = 2 * (total + k);
            lat = realloc(lat, cap * sizeof *lat);
        }
        for (size_t j = 0; j < cl[i].n; j++)
            if (cl[i].t_done[j] >= w0 && cl[i].t_done[j] <= w1)
                lat[total++] = cl[i].lat[j];
        c.errors += cl[i].errors;
        free(cl[i].t_done);
        free(cl[i].lat);
    }
    double sum = 0;
    for (size_t i = 0; i < total; i++)
        sum += lat[i];
    c.mean_ms = total ? sum / (double)total * 1e3 : 0;
    c.p50_ms = quantile(lat, total, 0.5) * 1e3;
    c.p99_ms = quantile(lat, total, 0.99) * 1e3;
    c.cpu_ms = total ? (cpu1 - cpu0) * 1e3 / (double)total : 0;
    c.req_per_batch = b1 > b0 ? (c1 - c0) / (b1 - b0) : 0;
    c.window_s = w1 - w0;
    free(lat);
    return c;
}

static pid_t start_socled(const char *socled, const char *endpoint, const char *model,
                          const char *adapters, bool batching, const char *const *extra) {
    const char *argv[40] = {socled,       "--endpoint", endpoint,      "--model", model,
                            "--adapters", adapters,     "--log-level", "warn"};
    size_t n = 9;
    for (size_t i = 0; extra[i] && n < 30; i++)
        argv[n++] = extra[i];
    if (!batching) {
        argv[n++] = "--max-batch-requests";
        argv[n++] = "1";
    }
    argv[n] = NULL;
    pid_t pid;
    if (posix_spawn(&pid, socled, NULL, NULL, (char *const *)(uintptr_t)argv, environ) != 0)
        return -1;
    for (int tries = 0; tries < 300; tries++) { /* ready when info answers */
        Socle__V1__Response *r = NULL;
        int rc = call_simple(endpoint, SOCLE__V1__REQUEST__TASK_INFO, &r);
        socle_response_free(r);
        if (rc == SOCLE_OK)
            return pid;
        usleep(100000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static void stop_socled(pid_t pid) {
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* ------------------------------------------------------------------------------------------ */

static int parse_list(const char *s, int *out, int max) {
    int n = 0;
    for (const char *p = s; p && *p && n < max; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
        int v = atoi(p);
        if (v > 0)
            out[n++] = v;
    }
    return n;
}

struct engine_best {
    double seq_s, cpu_ms;
    int threads, blas, n_texts;
};

/* configs: "WxT,…" (threads x BLAS threads), NULL = every split of the cores */
static struct engine_best measure_engine(const struct task_runtime *rt, int cores,
                                         const char *configs, const int *batches, int n_batches,
                                         double min_s, double max_s) {
    struct engine_best best = {0};
    printf("\nengine direct (tasks/ in process): seq/s by threads x BLAS threads and texts per "
           "call\n");
    const char *cp = configs;
    for (int blas = 1; configs ? cp && *cp : blas <= cores; blas++) {
        int threads = 0;
        if (configs) {
            if (sscanf(cp, "%dx%d", &threads, &blas) != 2)
                break;
            cp = strchr(cp, ',') ? strchr(cp, ',') + 1 : NULL;
        } else if (cores % blas) {
            continue;
        } else {
            threads = cores / blas;
        }
        if (threads < 1 || blas < 1 || threads > MAX_ENG_THREADS)
            continue;
        printf("  %d x %d:", threads, blas);
        for (int b = 0; b < n_batches; b++) {
            double cpu = 0, r = engine_rate(rt, threads, blas, batches[b], min_s, max_s, &cpu);
            printf("  B=%d %.2f (%.0f CPU ms/seq)", batches[b], r, cpu);
            fflush(stdout);
            if (batches[b] > 1 && r > best.seq_s)
                best = (struct engine_best){r, cpu, threads, blas, batches[b]};
        }
        printf("\n");
    }
    return best;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr,
                "usage: %s SOCLED [--model DIR] [--adapter NAME] [--clients 1,4,16,64] "
                "[--seconds S] [--max-seconds S] [--engine-batches 1,8,32] [--workers W] "
                "[--blas-threads T] [--delay-us D]\n",
                argv[0]);
        return 2;
    }
    const char *socled = argv[1], *model = "models/socle-mini", *clients = "1,4,16,64",
               *eng_batches = "1,8,32", *eng_configs = NULL;
    const char *extra[16] = {0};
    size_t n_extra = 0;
    double seconds = 5, max_seconds = 60;
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--model"))
            model = v;
        else if (!strcmp(k, "--adapter"))
            g_adapter = v;
        else if (!strcmp(k, "--clients"))
            clients = v;
        else if (!strcmp(k, "--seconds"))
            seconds = atof(v);
        else if (!strcmp(k, "--max-seconds"))
            max_seconds = atof(v);
        else if (!strcmp(k, "--engine-batches"))
            eng_batches = v;
        else if (!strcmp(k, "--engine-configs"))
            eng_configs = v;
        else if (!strcmp(k, "--workers") && n_extra < 14) {
            extra[n_extra++] = "--workers";
            extra[n_extra++] = v;
        } else if (!strcmp(k, "--blas-threads") && n_extra < 14) {
            extra[n_extra++] = "--blas-threads";
            extra[n_extra++] = v;
        } else if (!strcmp(k, "--delay-us") && n_extra < 14) {
            extra[n_extra++] = "--max-batch-delay-us";
            extra[n_extra++] = v;
        } else {
            fprintf(stderr, "unknown option %s\n", k);
            return 2;
        }
    }
    char adapters[1024];
    snprintf(adapters, sizeof adapters, "%s/adapters", model);
    if (access(adapters, R_OK) != 0) {
        fprintf(stderr, "skip: %s absent\n", adapters);
        return 77;
    }
    int levels[MAX_LEVELS], batches[8];
    int n_levels = parse_list(clients, levels, MAX_LEVELS);
    int n_batches = parse_list(eng_batches, batches, 8);
    for (int l = 0; l < n_levels; l++)
        if (levels[l] > MAX_CLIENTS)
            levels[l] = MAX_CLIENTS;
    for (int b = 0; b < n_batches; b++)
        if (batches[b] > N_TEXTS)
            batches[b] = N_TEXTS;
    int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    make_texts();
    printf("# load_bench: model %s, adapter %s, %d cores, load average %.2f at start\n", model,
           g_adapter, cores, loadavg());
    printf("# socled options:");
    for (size_t i = 0; i < n_extra; i++)
        printf(" %s", extra[i]);
    printf("%s (batching off adds --max-batch-requests 1)\n", n_extra ? "" : " (defaults)");

    /* ---- baselines in this process ---- */
    struct task_runtime_params p = {.model_dir = model, .adapters_dir = adapters};
    struct task_runtime *rt = NULL;
    char err[512];
    if (task_runtime_open(&p, &rt, err, sizeof err) != TASK_OK) {
        fprintf(stderr, "engine: %s\n", err);
        return 1;
    }
    double direct_sum[N_TEXTS] = {0}, socled_sum[N_TEXTS] = {0};
    engine_latency(rt, cores, direct_sum); /* warms the page cache too; fills g_tokens */
    memset(direct_sum, 0, sizeof direct_sum);
    size_t tmin = SIZE_MAX, tmax = 0, tsum = 0;
    for (int i = 0; i < N_TEXTS; i++) {
        tmin = g_tokens[i] < tmin ? g_tokens[i] : tmin;
        tmax = g_tokens[i] > tmax ? g_tokens[i] : tmax;
        tsum += g_tokens[i];
    }
    printf("# %d texts of %zu-%zu tokens (mean %.1f), one per request\n", N_TEXTS, tmin, tmax,
           (double)tsum / N_TEXTS);
    struct engine_best best =
        measure_engine(rt, cores, eng_configs, batches, n_batches, seconds, max_seconds);
    printf("engine best batched: %.2f seq/s, %.0f CPU ms/seq (%d threads x %d BLAS threads, %d "
           "texts per call)\n",
           best.seq_s, best.cpu_ms, best.threads, best.blas, best.n_texts);

    /* ---- socled, batching on then off ---- */
    char ep[128];
    snprintf(ep, sizeof ep, "ipc:///tmp/socle-load-bench-%d.sock", (int)getpid());
    struct cell res[2][MAX_LEVELS];
    double rtt = 0, one_mean[2] = {0}, one_p50[2] = {0}, lat_mean = 0, lat_p50 = 0;
    for (int mode = 0; mode < 2; mode++) {
        pid_t pid = start_socled(socled, ep, model, adapters, mode == 0, extra);
        if (pid < 0) {
            fprintf(stderr, "socled did not start\n");
            return 1;
        }
        if (mode == 0) {
            /* 1-client latency against its baseline, interleaved (direct, socled, direct,
             * socled) so that both see the same machine; pauses let the other side's BLAS
             * threads stop spinning */
            rtt = info_rtt(ep);
            for (int r = 0; r < LAT_ROUNDS; r++) {
                engine_latency(rt, cores, direct_sum);
                usleep(300000);
                latency_pass(ep, socled_sum);
                usleep(300000);
            }
            task_runtime_free(rt);
            rt = NULL;
            mean_p50(direct_sum, LAT_ROUNDS, &lat_mean, &lat_p50);
            mean_p50(socled_sum, LAT_ROUNDS, &one_mean[0], &one_p50[0]);
        } else {
            memset(socled_sum, 0, sizeof socled_sum);
            latency_pass(ep, socled_sum);
            mean_p50(socled_sum, 1, &one_mean[1], &one_p50[1]);
        }
        for (int l = 0; l < n_levels; l++) {
            res[mode][l] = run_level(ep, pid, levels[l], seconds, max_seconds);
            fprintf(stderr, "  %s %d clients: %.2f seq/s over %.1f s\n", mode ? "off" : "on",
                    levels[l], res[mode][l].seq_s, res[mode][l].window_s);
        }
        stop_socled(pid);
    }

    /* the baseline again, after the daemons: the machine is shared, and a drift between the
     * start and the end of the run shows here; the ratios use the mean of the two */
    double best_end = 0, cpu_end = 0;
    if (task_runtime_open(&p, &rt, err, sizeof err) == TASK_OK) {
        best_end =
            engine_rate(rt, best.threads, best.blas, best.n_texts, seconds, max_seconds, &cpu_end);
        task_runtime_free(rt);
    }
    printf("engine best config again at the end: %.2f seq/s (%.0f CPU ms/seq); baseline for the "
           "ratios = mean %.2f seq/s\n",
           best_end, cpu_end, best_end > 0 ? (best.seq_s + best_end) / 2 : best.seq_s);
    if (best_end > 0)
        best.seq_s = (best.seq_s + best_end) / 2;

    printf("\n| clients | batching seq/s | p50 ms | p99 ms | req/batch | CPU ms/req | vs engine "
           "best | batch 1 seq/s | p50 ms | p99 ms | vs engine best | batching / batch 1 |\n");
    printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    int errors = 0;
    for (int l = 0; l < n_levels; l++) {
        struct cell *a = &res[0][l], *b = &res[1][l];
        printf("| %d | %.2f | %.0f | %.0f | %.1f | %.1f | %.0f%% | %.2f | %.0f | %.0f | %.0f%% | "
               "%.2f |\n",
               levels[l], a->seq_s, a->p50_ms, a->p99_ms, a->req_per_batch, a->cpu_ms,
               best.seq_s > 0 ? 100 * a->seq_s / best.seq_s : 0, b->seq_s, b->p50_ms, b->p99_ms,
               best.seq_s > 0 ? 100 * b->seq_s / best.seq_s : 0,
               b->seq_s > 0 ? a->seq_s / b->seq_s : 0);
        errors += a->errors + b->errors;
    }
    double base = (lat_mean + rtt) * 1e3, base50 = (lat_p50 + rtt) * 1e3;
    printf("\n1-client latency, the %d texts once each (batching on: mean of %d interleaved "
           "rounds): direct engine call mean %.2f ms (p50 "
           "%.2f) + info round trip %.3f ms = baseline %.2f ms (p50 %.2f)\n",
           N_TEXTS, LAT_ROUNDS, lat_mean * 1e3, lat_p50 * 1e3, rtt * 1e3, base, base50);
    for (int mode = 0; mode < 2; mode++)
        printf("  socled batching %s: mean %.2f ms (%.3f x baseline), p50 %.2f ms (%.3f x)\n",
               mode ? "off" : "on ", one_mean[mode] * 1e3, one_mean[mode] * 1e3 / base,
               one_p50[mode] * 1e3, one_p50[mode] * 1e3 / base50);
    printf("# load average %.2f at end\n", loadavg());
    if (errors)
        printf("# %d request(s) failed\n", errors);
    return errors ? 1 : 0;
}
