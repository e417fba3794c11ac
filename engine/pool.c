/* pool.c — a context's helper threads for the element-wise loops.
 *
 * DESIGN: when OpenBLAS runs each sgemm on T threads, the loops between the
 * sgemms (bias + LayerNorm, bias + GELU, the Q|K|V bias) would otherwise run on
 * one core while T - 1 sit idle: measured at ~8 % of a single-thread BERT-base
 * forward, i.e. ~15 % of the wall time at 2 threads. The pool splits such a
 * loop into T contiguous row ranges, one per thread (the caller takes the first).
 * Each row is computed by exactly the same code whichever thread runs it, so
 * results do not depend on the thread count. Helpers sleep on a condition
 * variable between jobs (no spinning that would steal cycles from OpenBLAS).
 */
#include "engine/eng_impl.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

struct eng_pool {
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    pthread_t *th; /* (n_helpers) */
    int n_helpers; /* started; the caller is thread 0 */
    unsigned long gen;
    int pending;
    bool quit;
    eng_pool_fn fn;
    void *arg;
    size_t n;
};

struct helper {
    struct eng_pool *p;
    int idx; /* 1 .. n_helpers */
};

static void part(size_t n, int idx, int n_threads, size_t *b, size_t *e) {
    *b = n * (size_t)idx / (size_t)n_threads;
    *e = n * (size_t)(idx + 1) / (size_t)n_threads;
}

static void *helper_main(void *arg) {
    struct helper h = *(struct helper *)arg;
    free(arg);

    struct eng_pool *p = h.p;
    unsigned long seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->gen == seen && !p->quit)
            pthread_cond_wait(&p->go, &p->mu);
        if (p->quit)
            break;
        seen = p->gen;
        eng_pool_fn fn = p->fn;
        void *fa = p->arg;
        size_t b, e;
        part(p->n, h.idx, p->n_helpers + 1, &b, &e);
        pthread_mutex_unlock(&p->mu);
        if (b < e)
            fn(fa, b, e, h.idx);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
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
    *out = p;
    return ENG_OK;
}

int eng_pool_threads(const struct eng_pool *p) { return p ? p->n_helpers + 1 : 1; }

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

void eng_pool_run(struct eng_pool *p, size_t n, eng_pool_fn fn, void *arg) {
    if (!p || p->n_helpers == 0 || n < 2) {
        fn(arg, 0, n, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    p->pending = p->n_helpers;
    p->gen++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    size_t b, e;
    part(n, 0, p->n_helpers + 1, &b, &e);
    if (b < e)
        fn(arg, b, e, 0);
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
