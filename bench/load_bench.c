/* load_bench.c — socled under load (issue 6): N concurrent clients, each doing synchronous
 * classify calls (one request in flight, one text of 20–120 tokens), against two socled this
 * program starts on the same model: dynamic batching on (the defaults) and off
 * (--max-batch-requests 1 --max-batch-delay-us 0: one request per forward). Per cell:
 * sequences/s, p50/p99 latency, and socled's CPU time per request (from /proc; the steadiest
 * number on a shared machine).
 *
 * Baseline in the same run: the engine's own batched throughput, in this process through
 * tasks/ (task_run on requests of 16 texts, and of 1, as many threads as socled has workers).
 *
 * usage: load_bench SOCLED [--model DIR] [--clients 1,4,16,64] [--seconds S] [--workers W]
 *                   [--delay-us D]   (the batching daemon's --max-batch-delay-us; default: its
 *                                     default)
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

enum { MAX_CLIENTS = 256, N_SAMPLE_TEXTS = 64 };

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
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

/* Texts of 15..90 words (about 20–120 tokens with socle-mini's WordPiece), deterministic. */
static char *g_texts[N_SAMPLE_TEXTS];
static size_t g_lens[N_SAMPLE_TEXTS];

static void make_texts(void) {
    static const char *const words[] = {
        "the",     "market",  "rose",     "sharply", "after",   "news",   "of",       "a",
        "merger",  "between", "two",      "large",   "banks",   "while",  "football", "fans",
        "cheered", "their",   "team",     "in",      "Paris",   "and",    "London",   "scientists",
        "found",   "new",     "evidence", "that",    "climate", "change", "affects",  "crops"};
    unsigned s = 12345;
    for (int i = 0; i < N_SAMPLE_TEXTS; i++) {
        int nw = 15 + (int)(i * 75 / (N_SAMPLE_TEXTS - 1));
        char *t = malloc(1024);
        size_t len = 0;
        for (int w = 0; w < nw; w++) {
            s = s * 1103515245u + 12345u;
            const char *word = words[(s >> 16) % (sizeof words / sizeof words[0])];
            len += (size_t)snprintf(t + len, 1024 - len, "%s%s", w ? " " : "", word);
        }
        g_texts[i] = t;
        g_lens[i] = len;
    }
}

struct client {
    const char *endpoint;
    int index;
    volatile int *stop;
    double *lat; /* seconds */
    size_t n_lat, cap_lat;
    int errors;
};

static void *client_main(void *arg) {
    struct client *c = arg;
    struct socle_client_opts o = socle_client_opts_default();
    o.timeout_ms = 60000;
    o.retries = 0;
    struct socle_client *sc = NULL;
    if (socle_client_new(c->endpoint, &o, &sc) != SOCLE_OK) {
        c->errors++;
        return NULL;
    }
    for (size_t k = 0; !*c->stop; k++) {
        int t = (int)((k * 7 + (size_t)c->index * 13) % N_SAMPLE_TEXTS);
        Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
        Socle__V1__ClassifyRequest cl = SOCLE__V1__CLASSIFY_REQUEST__INIT;
        ProtobufCBinaryData b = {g_lens[t], (uint8_t *)g_texts[t]};
        cl.n_texts = 1;
        cl.texts = &b;
        req.adapter = (char *)(uintptr_t) "sentiment";
        req.task_case = SOCLE__V1__REQUEST__TASK_CLASSIFY;
        req.classify = &cl;
        Socle__V1__Response *r = NULL;
        double t0 = now_s();
        int rc = socle_client_call(sc, &req, &r);
        double dt = now_s() - t0;
        if (rc != SOCLE_OK || !r || !r->status || r->status->code != SOCLE__V1__CODE__OK) {
            c->errors++;
        } else if (!*c->stop) {
            if (c->n_lat == c->cap_lat) {
                c->cap_lat = c->cap_lat ? 2 * c->cap_lat : 1024;
                c->lat = realloc(c->lat, c->cap_lat * sizeof *c->lat);
            }
            c->lat[c->n_lat++] = dt;
        }
        socle_response_free(r);
    }
    socle_client_free(sc);
    return NULL;
}

struct cell {
    double seq_s, p50_ms, p99_ms, cpu_ms;
    int errors;
};

static struct cell run_level(const char *endpoint, pid_t pid, int n_clients, double seconds) {
    struct client cl[MAX_CLIENTS];
    pthread_t th[MAX_CLIENTS];
    volatile int stop = 0;
    memset(cl, 0, sizeof cl);
    double warm = seconds / 4 > 0.5 ? 0.5 : seconds / 4;
    for (int i = 0; i < n_clients; i++) {
        cl[i].endpoint = endpoint;
        cl[i].index = i;
        cl[i].stop = &stop;
        pthread_create(&th[i], NULL, client_main, &cl[i]);
    }
    /* warm-up: the latencies of the first calls (connects) are dropped */
    usleep((useconds_t)(warm * 1e6));
    for (int i = 0; i < n_clients; i++)
        __atomic_store_n(&cl[i].n_lat, 0, __ATOMIC_SEQ_CST);
    double c0 = cpu_seconds(pid), t0 = now_s();
    usleep((useconds_t)(seconds * 1e6));
    double c1 = cpu_seconds(pid), t1 = now_s();
    stop = 1;
    size_t total = 0;
    int errors = 0;
    for (int i = 0; i < n_clients; i++) {
        pthread_join(th[i], NULL);
        total += cl[i].n_lat;
        errors += cl[i].errors;
    }
    double *all = malloc((total ? total : 1) * sizeof *all);
    size_t k = 0;
    for (int i = 0; i < n_clients; i++) {
        memcpy(all + k, cl[i].lat, cl[i].n_lat * sizeof *all);
        k += cl[i].n_lat;
        free(cl[i].lat);
    }
    qsort(all, total, sizeof *all, cmp_double);
    struct cell c = {0};
    /* the answers counted are those completed in the window (a few in flight at its end are
     * not: they end after it, within one latency) */
    c.seq_s = (double)total / (t1 - t0);
    c.p50_ms = total ? all[total / 2] * 1e3 : 0;
    c.p99_ms = total ? all[(size_t)((double)(total - 1) * 0.99)] * 1e3 : 0;
    c.cpu_ms = total ? (c1 - c0) * 1e3 / (double)total : 0;
    c.errors = errors;
    free(all);
    return c;
}

static pid_t start_socled(const char *socled, const char *endpoint, const char *model,
                          const char *adapters, const char *workers, bool batching,
                          const char *delay_us) {
    const char *argv[32] = {socled,   "--endpoint", endpoint, "--model",     model, "--adapters",
                            adapters, "--workers",  workers,  "--log-level", "warn"};
    size_t n = 11;
    if (!batching) {
        argv[n++] = "--max-batch-requests";
        argv[n++] = "1";
        argv[n++] = "--max-batch-delay-us";
        argv[n++] = "0";
    } else if (delay_us) {
        argv[n++] = "--max-batch-delay-us";
        argv[n++] = delay_us;
    }
    argv[n] = NULL;
    pid_t pid;
    if (posix_spawn(&pid, socled, NULL, NULL, (char *const *)(uintptr_t)argv, environ) != 0)
        return -1;
    /* ready when info answers */
    struct socle_client_opts o = socle_client_opts_default();
    o.timeout_ms = 300;
    o.retries = 0;
    for (int tries = 0; tries < 200; tries++) {
        struct socle_client *c = NULL;
        Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
        Socle__V1__InfoRequest info = SOCLE__V1__INFO_REQUEST__INIT;
        req.task_case = SOCLE__V1__REQUEST__TASK_INFO;
        req.info = &info;
        Socle__V1__Response *r = NULL;
        int rc =
            socle_client_new(endpoint, &o, &c) == SOCLE_OK ? socle_client_call(c, &req, &r) : -1;
        socle_response_free(r);
        socle_client_free(c);
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

struct eng_arg {
    const struct task_runtime *rt;
    int n_texts; /* per request */
    volatile int *stop;
    size_t seqs;
    int index;
};

/* The engine's own batched throughput: requests of 64 texts straight through tasks/. */
static void *engine_main(void *arg) {
    struct eng_arg *e = arg;
    struct task_worker *w = NULL;
    int wrc = task_worker_new(e->rt, 8192, &w);
    if (wrc != TASK_OK) {
        fprintf(stderr, "engine: task_worker_new: %s\n", task_strerror(wrc));
        return NULL;
    }
    const char *ptrs[N_SAMPLE_TEXTS];
    size_t lens[N_SAMPLE_TEXTS];
    for (size_t k = 0; !*e->stop; k++) {
        /* ENGINE_TEXTS texts per request, cycling over all the sample texts */
        for (int i = 0; i < e->n_texts; i++) {
            int t =
                (int)((k * (size_t)e->n_texts + (size_t)i + (size_t)e->index * 7) % N_SAMPLE_TEXTS);
            ptrs[i] = g_texts[t];
            lens[i] = g_lens[t];
        }
        struct task_request req;
        memset(&req, 0, sizeof req);
        req.kind = TASK_CLASSIFY;
        req.adapter = "sentiment";
        req.texts = ptrs;
        req.text_lens = lens;
        req.n_texts = (size_t)e->n_texts;
        struct task_response *out = NULL;
        char err[256];
        int rc = task_run(e->rt, w, &req, &out, err, sizeof err);
        if (rc != TASK_OK) {
            fprintf(stderr, "engine: %s\n", err);
            task_response_free(out);
            break;
        }
        if (!*e->stop)
            __atomic_add_fetch(&e->seqs, (size_t)e->n_texts, __ATOMIC_SEQ_CST);
        task_response_free(out);
    }
    task_worker_free(w);
    return NULL;
}

static double process_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* seq/s; *cpu_ms: this process's CPU time per sequence over the window (only the engine
 * threads run then) */
static double engine_best(const char *model, const char *adapters, int threads, int n_texts,
                          double seconds, double *cpu_ms) {
    /* as socled (--blas-threads 1): one BLAS thread per worker thread, no oversubscription */
    eng_set_blas_threads(1);
    struct task_runtime_params p = {.model_dir = model, .adapters_dir = adapters};
    struct task_runtime *rt = NULL;
    char err[512];
    if (task_runtime_open(&p, &rt, err, sizeof err) != TASK_OK) {
        fprintf(stderr, "engine: %s\n", err);
        return 0;
    }
    volatile int stop = 0;
    struct eng_arg a[16];
    pthread_t th[16];
    if (threads > 16)
        threads = 16;
    for (int i = 0; i < threads; i++) {
        a[i] = (struct eng_arg){rt, n_texts, &stop, 0, i};
        pthread_create(&th[i], NULL, engine_main, &a[i]);
    }
    for (int i = 0; i < threads; i++)
        while (!__atomic_load_n(&a[i].seqs, __ATOMIC_SEQ_CST))
            usleep(10000);
    size_t s0 = 0;
    for (int i = 0; i < threads; i++)
        s0 += __atomic_load_n(&a[i].seqs, __ATOMIC_SEQ_CST);
    double t0 = now_s(), c0 = process_cpu_s();
    usleep((useconds_t)(seconds * 1e6));
    double c1 = process_cpu_s();
    size_t s1 = 0;
    for (int i = 0; i < threads; i++)
        s1 += __atomic_load_n(&a[i].seqs, __ATOMIC_SEQ_CST);
    double t1 = now_s();
    stop = 1;
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    task_runtime_free(rt);
    *cpu_ms = s1 > s0 ? (c1 - c0) * 1e3 / (double)(s1 - s0) : 0;
    return (double)(s1 - s0) / (t1 - t0);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr,
                "usage: %s SOCLED [--model DIR] [--clients 1,4,16,64] [--seconds S] "
                "[--workers W]\n",
                argv[0]);
        return 2;
    }
    const char *socled = argv[1], *model = "models/socle-mini", *clients = "1,4,16,64",
               *workers = "2", *delay_us = NULL;
    double seconds = 3;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--model"))
            model = argv[i + 1];
        else if (!strcmp(argv[i], "--clients"))
            clients = argv[i + 1];
        else if (!strcmp(argv[i], "--seconds"))
            seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--workers"))
            workers = argv[i + 1];
        else if (!strcmp(argv[i], "--delay-us"))
            delay_us = argv[i + 1];
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    char adapters[1024];
    snprintf(adapters, sizeof adapters, "%s/adapters", model);
    if (access(adapters, R_OK) != 0) {
        fprintf(stderr, "skip: %s absent\n", adapters);
        return 77;
    }
    make_texts();
    int levels[16], n_levels = 0;
    for (const char *p = clients; *p && n_levels < 16;) {
        int v = atoi(p);
        if (v > 0 && v <= MAX_CLIENTS)
            levels[n_levels++] = v;
        p = strchr(p, ',');
        if (!p)
            break;
        p++;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    printf("# load_bench: model %s, workers %s, %ld cores, %.1f s per cell, classify of one "
           "text (15-90 words), synchronous clients, batching delay %s us\n",
           model, workers, cores, seconds, delay_us ? delay_us : "default");
    /* the engine alone, batched (16 texts per request) and not (1), same threads */
    double cpu16 = 0, cpu1 = 0;
    double eng = engine_best(model, adapters, atoi(workers), 16, seconds, &cpu16);
    double eng1 = engine_best(model, adapters, atoi(workers), 1, seconds, &cpu1);
    printf("engine direct (tasks/, %s threads): %.1f seq/s (%.2f CPU ms/seq) with 16 texts per "
           "call, %.1f seq/s (%.2f CPU ms/seq) with 1\n",
           workers, eng, cpu16, eng1, cpu1);
    if (eng1 > eng)
        eng = eng1; /* "the engine's best" */
    char ep[128];
    snprintf(ep, sizeof ep, "ipc:///tmp/socle-load-bench-%d.sock", (int)getpid());
    struct cell res[2][16];
    for (int mode = 0; mode < 2; mode++) {
        pid_t pid = start_socled(socled, ep, model, adapters, workers, mode == 0, delay_us);
        if (pid < 0) {
            fprintf(stderr, "socled did not start\n");
            return 1;
        }
        for (int l = 0; l < n_levels; l++)
            res[mode][l] = run_level(ep, pid, levels[l], seconds);
        stop_socled(pid);
    }
    printf("\n| clients | batching seq/s | p50 ms | p99 ms | CPU ms/req | no batching seq/s "
           "| p50 "
           "ms | p99 ms | CPU ms/req | ratio | vs engine |\n");
    printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    int errors = 0;
    for (int l = 0; l < n_levels; l++) {
        struct cell *a = &res[0][l], *b = &res[1][l];
        printf("| %d | %.1f | %.1f | %.1f | %.2f | %.1f | %.1f | %.1f | %.2f | %.2f | "
               "%.0f%% |\n",
               levels[l], a->seq_s, a->p50_ms, a->p99_ms, a->cpu_ms, b->seq_s, b->p50_ms, b->p99_ms,
               b->cpu_ms, b->seq_s > 0 ? a->seq_s / b->seq_s : 0,
               eng > 0 ? 100 * a->seq_s / eng : 0);
        errors += a->errors + b->errors;
    }
    if (errors)
        printf("# %d request(s) failed\n", errors);
    return errors ? 1 : 0;
}
