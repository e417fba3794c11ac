/* test_pool.c — the helper pool (engine/pool.c) on its own: every element of a run done
 * exactly once, and everything a run wrote visible when it returns (the next run reads
 * elements the last one wrote in other threads' chunks). Helpers are slowed at random so
 * that they join late, or finish their chunks long after the caller (past its spinning wait).
 * Run under ThreadSanitizer in CI, which checks the ordering, not just the values. */
#include "engine/eng_impl.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N 1000
#define ROUNDS 300

struct job {
    int a[N], b[N];
    _Atomic int times[N]; /* per element: how many times the first run ran it */
    unsigned round;
};

static void nap(const struct job *j, size_t b, int tid) {
    /* Some chunks of helpers: 50 µs (inside the caller's spin) or 300 µs (past it). */
    if (tid != 0 && (j->round + b) % 7 == 0)
        nanosleep(&(struct timespec){0, (j->round + b) % 3 ? 50000 : 300000}, NULL);
}

static void fill(void *arg, size_t b, size_t e, int tid) {
    struct job *j = arg;
    nap(j, b, tid);
    for (size_t i = b; i < e; i++) {
        j->a[i] = (int)(i * 3 + j->round);
        atomic_fetch_add(&j->times[i], 1);
    }
}

static void mix(void *arg, size_t b, size_t e, int tid) {
    struct job *j = arg;
    nap(j, b + 1, tid);
    for (size_t i = b; i < e; i++)
        j->b[i] = j->a[N - 1 - i] + j->a[(i + N / 2) % N];
}

static int rounds(struct eng_pool *p, struct job *j, const char *what, size_t chunk) {
    int bad = 0;
    for (unsigned r = 0; r < ROUNDS && !bad; r++) {
        memset(j->b, 0, sizeof j->b);
        for (size_t i = 0; i < N; i++)
            atomic_store(&j->times[i], 0);
        j->round = r;
        eng_pool_run(p, N, chunk, fill, j);
        eng_pool_run(p, N, chunk + 3, mix, j);
        for (size_t i = 0; i < N; i++) {
            int a1 = (int)((N - 1 - i) * 3 + r), a2 = (int)((i + N / 2) % N * 3 + r);
            bad += atomic_load(&j->times[i]) != 1 || j->b[i] != a1 + a2;
        }
        if (bad)
            printf("FAIL %s round %u: %d elements wrong\n", what, r, bad);
    }
    printf("%s %s: %d rounds, chunk %zu\n", bad ? "FAIL" : "ok  ", what, ROUNDS, chunk);
    return bad != 0;
}

int main(void) {
    struct job *j = calloc(1, sizeof *j);
    struct eng_pool *p3 = NULL;
    if (!j || eng_pool_new(3, &p3) != ENG_OK) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    int failures = 0;
    failures += rounds(NULL, j, "no pool", 100);
    failures += rounds(p3, j, "3 threads", 100);
    failures += rounds(p3, j, "3 threads", 7);
    eng_pool_set_active(p3, 2);
    failures += rounds(p3, j, "2 of 3 threads", 333);
    eng_pool_set_active(p3, 1);
    failures += rounds(p3, j, "1 of 3 threads", 50);
    eng_pool_free(p3);
    free(j);
    return failures ? 1 : 0;
}
