/* main.c — socled: configuration, model/tokenizer loading, worker threads, signals, broker.
 *
 * Signals: a handler writes the signal number into a self-pipe whose read end is in the
 * broker's poll set, so a signal is a plain event of the broker loop. (Not a signalfd with
 * the signals blocked: libraries such as OpenBLAS start threads from constructors before
 * main, where we cannot block anything, and a process-directed SIGTERM delivered to one of
 * them would kill the process.) exit() appears only here. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <zmq.h>

#include "daemon/daemon.h"
#include "daemon/log.h"

extern char **environ;

struct worker_thread {
    pthread_t th;
    size_t index;
    struct daemon *d;
    struct worker_state *ws;
};

/* Worker loop: announce ready, then run each job the broker hands over and hand it back.
 * An empty message from the broker means "exit". */
static void *worker_main(void *arg) {
    struct worker_thread *w = arg;
    void *s = zmq_socket(w->d->zctx, ZMQ_DEALER);
    char wid[24];
    snprintf(wid, sizeof wid, "w%zu", w->index);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_ROUTING_ID, wid, strlen(wid));
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_connect(s, SOCLED_WORKERS_ENDPOINT) != 0) {
        slog(CFG_LOG_ERROR, "worker_failed", "worker=%zu error=\"%s\"", w->index,
             zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    zmq_send(s, "", 0, 0);
    /* A message carries the pointers of one batch (scheduler.c packs them into shared
     * forwards); the same pointers go back when every job of it has its answer. */
    enum { MAX_BATCH = 1024 };
    struct job **jobs = malloc(MAX_BATCH * sizeof *jobs);
    for (; jobs;) {
        int n = zmq_recv(s, jobs, MAX_BATCH * sizeof *jobs, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        size_t nj = (size_t)n / sizeof *jobs;
        if (n == 0 || (size_t)n % sizeof *jobs || nj > MAX_BATCH)
            break;
        for (size_t i = 0; i < nj; i++)
            (void)atomic_load_explicit(&jobs[i]->stage, memory_order_acquire); /* see struct job */
        sched_run(w->d, w->ws, jobs, nj);
        for (size_t i = 0; i < nj; i++)
            atomic_store_explicit(&jobs[i]->stage, JOB_DONE, memory_order_release);
        zmq_send(s, jobs, nj * sizeof *jobs, 0);
    }
    free(jobs);
    zmq_close(s);
    return NULL;
}

static int load_models(struct daemon *d) {
    char err[1024], q[1100], qe[2100]; /* qe: err quoted (slog_q must not quote in place) */
    const struct socled_config *c = &d->cfg;
    (void)err, (void)qe;
#ifdef SOCLE_HAVE_TASKS
    if (c->model_dir) {
        struct task_runtime_params p = {.model_dir = c->model_dir, .adapters_dir = c->adapters_dir};
        uint64_t t0 = now_us();
        int rc = task_runtime_open(&p, &d->rt, err, sizeof err);
        if (rc != TASK_OK) {
            slog(CFG_LOG_ERROR, "model_load_failed", "model=%s error=%s",
                 slog_q(q, sizeof q, c->model_dir), slog_q(qe, sizeof qe, err));
            return -1;
        }
        slog(CFG_LOG_INFO, "model_loaded", "model=%s duration_ms=%llu",
             slog_q(q, sizeof q, c->model_dir), (unsigned long long)((now_us() - t0) / 1000));
    }
#else
    if (c->model_dir)
        slog(CFG_LOG_WARN, "model_ignored",
             "model=%s reason=\"tasks module not built; only its tokenizer is loaded\"",
             slog_q(q, sizeof q, c->model_dir));
    if (c->adapters_dir)
        slog(CFG_LOG_WARN, "adapters_ignored", "reason=\"tasks module not built\"");
#endif
#ifdef SOCLE_HAVE_TOKENIZER
    static char path[4096];
    if (c->tokenizer_path) {
        snprintf(path, sizeof path, "%s", c->tokenizer_path);
#ifdef SOCLE_HAVE_TASKS
    } else if (d->rt) {
        d->tok = task_runtime_tokenizer(d->rt);
        snprintf(path, sizeof path, "%s/tokenizer.json", c->model_dir);
        d->tok_path = path;
        return 0;
#endif
    } else if (c->model_dir) {
        snprintf(path, sizeof path, "%s/tokenizer.json", c->model_dir);
    } else {
        slog(CFG_LOG_WARN, "no_tokenizer",
             "reason=\"no --model or --tokenizer: tokenize answers "
             "UNIMPLEMENTED\"");
        return 0;
    }
    uint64_t t0 = now_us();
    int rc = tok_tokenizer_load(path, &d->tok_owned, err, sizeof err);
    if (rc != TOK_OK) {
        slog(CFG_LOG_ERROR, "tokenizer_load_failed", "path=%s status=%s error=%s",
             slog_q(q, sizeof q, path), tok_strerror(rc), slog_q(qe, sizeof qe, err));
        return -1;
    }
    d->tok = d->tok_owned;
    d->tok_path = path;
    slog(CFG_LOG_INFO, "tokenizer_loaded", "path=%s name=%s vocab=%zu duration_ms=%llu",
         slog_q(q, sizeof q, path), slog_q(err, sizeof err, tok_model_name(d->tok)),
         tok_vocab_size(d->tok), (unsigned long long)((now_us() - t0) / 1000));
#else
    if (c->tokenizer_path)
        slog(CFG_LOG_WARN, "tokenizer_ignored", "reason=\"tokenizer module not built\"");
#endif
    return 0;
}

static int sig_pipe[2] = {-1, -1};

static void on_signal(int signo) {
    int saved = errno;
    unsigned char b = (unsigned char)signo;
    if (write(sig_pipe[1], &b, 1) < 0) {
        /* pipe full: enough signals are already pending for the broker */
    }
    errno = saved;
}

int main(int argc, char **argv) {
    static struct daemon d;
    char err[1024];
    int rc = cfg_load(&d.cfg, argc, argv, environ, err, sizeof err);
    if (rc != CFG_OK) {
        fprintf(stderr, "socled: %s\n", err);
        cfg_free(&d.cfg);
        return 2;
    }
    if (d.cfg.help) {
        cfg_print_help(stdout, "socled");
        cfg_free(&d.cfg);
        return 0;
    }
    if (d.cfg.version) {
        printf("socled %s (protocol %s)\n", SOCLED_VERSION, SOCLE_PROTOCOL_TAG);
        cfg_free(&d.cfg);
        return 0;
    }
    slog_set_level(d.cfg.log_level);
    d.t_start_us = now_us();
    signal(SIGPIPE, SIG_IGN);
    if (pipe2(sig_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
        fprintf(stderr, "socled: pipe: %s\n", strerror(errno));
        return 1;
    }
    int sigfd = sig_pipe[0];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 1)
        cores = 1;
    /* default: every core on one batch (a lone request gets the whole machine; under load
     * batches are large enough for the threads to scale); more workers only past 4 cores */
    if (d.cfg.blas_threads <= 0) {
        const char *env = getenv("OPENBLAS_NUM_THREADS"); /* an explicit wish is kept */
        long e = env ? atol(env) : 0;
        d.cfg.blas_threads = e > 0 ? e : cores < 4 ? cores : 4;
    }
    /* elastic: twice the workers that fit at full width (at most one per core), so a batch
     * starts while another runs; the cores are divided among the running forwards */
    long fit = cores / d.cfg.blas_threads > 0 ? cores / d.cfg.blas_threads : 1;
    long auto_workers = d.cfg.elastic_threads ? (2 * fit < cores ? 2 * fit : cores) : fit;
    d.n_workers = (size_t)(d.cfg.workers > 0 ? d.cfg.workers : auto_workers);
    struct elastic_threads elastic = {.cores = (int)cores, .max_threads = (int)d.cfg.blas_threads};
    atomic_init(&elastic.running, 0);
    if (d.cfg.elastic_threads && d.n_workers > 1 && d.cfg.blas_threads > 1)
        d.elastic = &elastic;
#ifdef SOCLE_HAVE_TASKS
    /* elastic: the contexts own their threads; OpenBLAS (small products only) runs on one */
    eng_set_blas_threads(d.elastic ? 1 : (int)d.cfg.blas_threads);
#endif
    slog(CFG_LOG_INFO, "start", "version=%s pid=%ld workers=%zu blas_threads=%ld elastic=%s",
         SOCLED_VERSION, (long)getpid(), d.n_workers, d.cfg.blas_threads,
         d.elastic ? "on" : "off");
    int exit_code = 1;
    struct worker_thread *ws = calloc(d.n_workers, sizeof *ws);
    size_t started = 0;
    if (!ws || load_models(&d) != 0)
        goto out;
    d.zctx = zmq_ctx_new();
    if (!d.zctx || broker_bind(&d) != 0)
        goto out;
    for (; started < d.n_workers; started++) {
        ws[started].index = started;
        ws[started].d = &d;
        if (worker_state_new(&d, &ws[started].ws, err, sizeof err) != 0) {
            slog(CFG_LOG_ERROR, "worker_init_failed", "error=\"%s\"", err);
            goto out;
        }
        if (pthread_create(&ws[started].th, NULL, worker_main, &ws[started]) != 0) {
            worker_state_free(ws[started].ws);
            slog(CFG_LOG_ERROR, "thread_failed", "worker=%zu", started);
            goto out;
        }
    }
    exit_code = broker_run(&d, sigfd) == 0 ? 0 : 1;
out:
    if (started < d.n_workers && d.zctx) {
        /* startup failed after some workers started: shut the context so they return */
        zmq_ctx_shutdown(d.zctx);
    }
    for (size_t i = 0; i < started; i++) {
        pthread_join(ws[i].th, NULL);
        worker_state_free(ws[i].ws);
    }
    free(ws);
    if (d.zctx)
        zmq_ctx_term(d.zctx);
    broker_release(); /* after the term: the pipeline thread returns on ETERM */
    for (size_t i = 0; i < d.n_endpoints; i++)
        free(d.endpoints[i]);
    free(d.endpoints);
#ifdef SOCLE_HAVE_TOKENIZER
    tok_tokenizer_free(d.tok_owned);
#endif
#ifdef SOCLE_HAVE_TASKS
    task_runtime_free(d.rt);
#endif
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    close(sig_pipe[0]);
    close(sig_pipe[1]);
    slog(CFG_LOG_INFO, "exit", "code=%d", exit_code);
    cfg_free(&d.cfg);
    return exit_code;
}
