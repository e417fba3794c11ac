/* pool.c — a context's helper threads for the work between the sgemms.
 *
 * DESIGN: when OpenBLAS runs each sgemm on T threads, the loops between the
 * sgemms (bias + LayerNorm, bias + GELU, the Q|K|V bias, attention) would
 * otherwise run on one core while T - 1 sit idle: the element-wise loops alone
 * are ~8 % of a single-thread BERT-base forward, ~15 % of the wall time at 2
 * threads. A job is [0, n) cut into chunks that the caller and the helpers claim
 * through an atomic counter, so a helper that the scheduler has not run yet
 * (a loaded machine) never holds the caller up: a helper only joins a job that
 * is still open, and the caller, once every chunk is claimed, closes the job and
 * waits only for helpers that joined it (spinning first, wait_helpers). Each element
 * is computed by the same code whichever thread claims it, so results do not depend
 * on the thread count. Between jobs a helper that just worked watches for the next
 * one for up to 100 µs (pause loop), then sleeps on a condition variable: a forward
 * hands out ~100 jobs, and a wake-up per job cost ~4 % of a BERT-base forward at
 * batch 1 on 2 threads (eng_perf_forward A/B, 2026-11-27: 87.1 vs 91.2 ms, mean of 4
 * interleaved runs; batch 8 and 1 thread unchanged). OpenBLAS runs single-threaded beside these pools.
 */
#include "engine/eng_impl.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

struct eng_pool {
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    pthread_t *th; /* (n_helpers) */
    int n_helpers; /* started; the caller is thread 0 */
    int active;    /* threads that join a run (caller included), 1 .. n_helpers + 1 */
    _Atomic unsigned long gen; /* written under mu; read without it while spinning */
    bool open;          /* the current job still accepts helpers */
    _Atomic int joined; /* helpers working on the current job (changed under mu) */
    bool quit;
    eng_pool_fn fn;
    void *arg;
    size_t n, chunk;
    _Atomic size_t next;
};

struct helper {
    struct eng_pool *p;
    int idx; /* 1 .. n_helpers */
};

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Claim and run chunks until none is left. */
static void work(struct eng_pool *p, eng_pool_fn fn, void *arg, size_t n, size_t chunk, int tid) {
    for (;;) {
        size_t b = atomic_fetch_add(&p->next, chunk);
        if (b >= n)
            return;
        fn(arg, b, b + chunk < n ? b + chunk : n, tid);
    }
}

/* After a job a helper watches for the next one for up to SPIN_NS before it sleeps: inside a
 * forward the next job (the next product, LayerNorm rows, attention) comes within
 * microseconds, and a condition-variable wake-up costs tens of them, ~100 times a forward.
 * Only a helper that just worked spins; one left out (eng_pool_set_active) sleeps at once,
 * so a context limited to one thread leaves the other cores to other workers. */
#define SPIN_NS 100000L

/* One turn of a spin that started at t0 (iteration i, from 1): a pause, and every 64 turns
 * a look at the clock. True once SPIN_NS have passed. */
static bool spin_turn(const struct timespec *t0, unsigned i) {
    cpu_relax();
    if (i % 64 != 0)
        return false;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000000000L + (t.tv_nsec - t0->tv_nsec) > SPIN_NS;
}

static void spin_for_job(struct eng_pool *p, unsigned long seen) {
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned i = 1; atomic_load_explicit(&p->gen, memory_order_relaxed) == seen; i++)
        if (spin_turn(&t0, i))
            return;
}

static void *helper_main(void *arg) {
    struct helper h = *(struct helper *)arg;
    free(arg);
    struct eng_pool *p = h.p;
    unsigned long seen = 0;
    bool worked = false;
    for (;;) {
        if (worked)
            spin_for_job(p, seen);
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->gen) == seen && !p->quit)
            pthread_cond_wait(&p->go, &p->mu);
        if (p->quit) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        seen = atomic_load(&p->gen);
        worked = p->open && h.idx < p->active; /* else: woke too late, or not asked */
        if (!worked) {
            pthread_mutex_unlock(&p->mu);
            continue;
        }
        p->joined++;
        eng_pool_fn fn = p->fn;
        void *fa = p->arg;
        size_t n = p->n, chunk = p->chunk;
        pthread_mutex_unlock(&p->mu);
        work(p, fn, fa, n, chunk, h.idx);
        pthread_mutex_lock(&p->mu);
        if (--p->joined == 0 && !p->open)
            pthread_cond_signal(&p->done);
        pthread_mutex_unlock(&p->mu);
    }
    return NULL;
}

int eng_pool_new(int n_threads, struct eng_pool **out) {
    struct eng_pool *p = calloc(1, sizeof *p);
    if (!p)
        return ENG_ENOMEM;
    if (n_threads < 1)
        n_threads = 1;
    p->th = calloc((size_t)n_threads, sizeof *p->th);
    if (!p->th || pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p->th);
        free(p);
        return ENG_ENOMEM;
    }
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->next, 0);
    atomic_init(&p->gen, 0);
    atomic_init(&p->joined, 0);
    /* Signals are the application's business: helpers start with all of them
     * blocked (the mask is inherited at creation, so there is no window). Fewer
     * helpers than asked if the system refuses threads: still correct. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (int i = 1; i < n_threads; i++) {
        struct helper *h = malloc(sizeof *h);
        if (!h)
            break;
        *h = (struct helper){p, i};
        if (pthread_create(&p->th[p->n_helpers], NULL, helper_main, h) != 0) {
            free(h);
            break;
        }
        p->n_helpers++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    p->active = p->n_helpers + 1;
    *out = p;
    return ENG_OK;
}

int eng_pool_threads(const struct eng_pool *p) { return p ? p->n_helpers + 1 : 1; }

void eng_pool_set_active(struct eng_pool *p, int n) {
    if (!p)
        return;
    int all = p->n_helpers + 1;
    pthread_mutex_lock(&p->mu); /* helpers read it under the mutex when a run starts */
    p->active = n <= 0 || n > all ? all : n;
    pthread_mutex_unlock(&p->mu);
}

int eng_pool_active(const struct eng_pool *p) { return p ? p->active : 1; }

void eng_pool_free(struct eng_pool *p) {
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->quit = true;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_helpers; i++)
        pthread_join(p->th[i], NULL);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p->th);
    free(p);
}

/* The caller's wait for the helpers still on their last chunk: they finish within
 * microseconds of it as a rule, and sleeping on the condition variable cost a wake-up of tens
 * of them each time (~85 runs a forward): spin first, as the helpers do between jobs
 * (run_forward_ab, 2 threads: batch 1 +2.9 %, batch 8 +0.6 %, medians of 8 and 6 rounds). */
static void wait_helpers(struct eng_pool *p) {
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned i = 1; atomic_load(&p->joined) > 0; i++)
        if (spin_turn(&t0, i))
            break;
    pthread_mutex_lock(&p->mu);
    while (p->joined > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void eng_pool_run(struct eng_pool *p, size_t n, size_t chunk, eng_pool_fn fn, void *arg) {
    if (chunk == 0)
        chunk = 1;
    if (!p || p->active <= 1 || n <= chunk) {
        if (n > 0)
            fn(arg, 0, n, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    p->chunk = chunk;
    atomic_store(&p->next, 0);
    p->open = true;
    p->joined = 0;
    atomic_fetch_add(&p->gen, 1);
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    work(p, fn, arg, n, chunk, 0);
    pthread_mutex_lock(&p->mu);
    p->open = false;
    pthread_mutex_unlock(&p->mu);
    wait_helpers(p);
}
