/* sgemm_ab M THREADS [ROUNDS] — two versions of engine/sgemm.c (a_*, b_*: see
 * bench/run_sgemm_ab.sh) timed interleaved in one process on the BERT-base layer products
 * (Q|K|V with its bias, attention output, FFN up with bias + GELU, FFN down) at M rows, with
 * 12 copies of each weight rotated as a forward walks its layers (so weights come from beyond
 * L2, as in a forward). Rounds alternate A-B and B-A; the medians and B/A (time ratio: > 1
 * means B faster) are printed per product and for all four, with the largest difference
 * between the two outputs (0 when B keeps A's bits). A/B in the same process and the same
 * minutes is the only comparison the shared development VM allows: its speed drifts by 10-15 %
 * over tens of minutes. Not a ctest test. */
#include "bench/sgemm_shapes.h"
#include "engine/eng_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DECL(P)                                                                                    \
    int P##_pw_alloc(struct eng_pw *, size_t, size_t);                                             \
    void P##_pw_put(struct eng_pw *, size_t, const float *, size_t);                               \
    size_t P##_scratch_floats(void);                                                               \
    void P##_packed(struct eng_pool *, const struct eng_pw *, const float *, size_t, size_t,       \
                    float *, size_t, const float *, enum eng_epilogue, float *);
DECL(a)
DECL(b)
#undef DECL

typedef int (*alloc_fn)(struct eng_pw *, size_t, size_t);
typedef void (*put_fn)(struct eng_pw *, size_t, const float *, size_t);
typedef void (*gemm_fn)(struct eng_pool *, const struct eng_pw *, const float *, size_t, size_t,
                        float *, size_t, const float *, enum eng_epilogue, float *);

enum { LAYERS = 12, MAX_ROUNDS = 64 };

static float *falloc(size_t n) {
    float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "sgemm_ab: out of memory\n");
        exit(1);
    }
    return p;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: sgemm_ab M THREADS [ROUNDS]\n");
        return 2;
    }
    size_t M = (size_t)atol(argv[1]);
    int threads = atoi(argv[2]), rounds = argc > 3 ? atoi(argv[3]) : 9;
    if (M == 0 || threads < 1 || rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "sgemm_ab: bad arguments\n");
        return 2;
    }
    const struct {
        const char *name;
        size_t n, k;
        enum eng_epilogue epi;
    } sh[4] = {{"qkv", 2304, 768, ENG_EPI_BIAS},
               {"attn_out", 768, 768, ENG_EPI_NONE},
               {"ffn_up", 3072, 768, ENG_EPI_BIAS_GELU},
               {"ffn_down", 768, 3072, ENG_EPI_NONE}};
    struct eng_pool *pool = NULL;
    if (threads > 1 && eng_pool_new(threads, &pool) != ENG_OK)
        return 1;
    size_t sf = a_scratch_floats() > b_scratch_floats() ? a_scratch_floats() : b_scratch_floats();
    float *scratch = falloc((size_t)threads * sf);
    float *x = falloc(M * 3072), *y[2] = {falloc(M * 3072), falloc(M * 3072)}, *bias = falloc(3072);
    for (size_t i = 0; i < M * 3072; i++)
        x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    for (size_t i = 0; i < 3072; i++)
        bias[i] = 0.01f * (float)(i % 50);
    alloc_fn al[2] = {a_pw_alloc, b_pw_alloc};
    put_fn put[2] = {a_pw_put, b_pw_put};
    gemm_fn gemm[2] = {a_packed, b_packed};
    printf("M = %zu rows, %d thread(s), %d rounds, %d weight copies per product\n", M, threads,
           rounds, LAYERS);
    double flops_all = 0, t_all[2] = {0, 0};
    for (int s = 0; s < 4; s++) {
        size_t n = sh[s].n, k = sh[s].k;
        struct eng_pw pw[2][LAYERS];
        float *w = falloc(n * k);
        for (size_t i = 0; i < n * k; i++)
            w[i] = (float)((i * 40503u) % 997) / 997.0f - 0.5f;
        for (int v = 0; v < 2; v++)
            for (int l = 0; l < LAYERS; l++) {
                if (al[v](&pw[v][l], n, k) != ENG_OK)
                    return 1;
                put[v](&pw[v][l], 0, w, n);
            }
        double t[2][MAX_ROUNDS];
        for (int r = 0; r < rounds; r++)
            for (int i = 0; i < 2; i++) {
                int v = r % 2 ? 1 - i : i;
                double t0 = bench_now();
                for (int l = 0; l < LAYERS; l++)
                    gemm[v](pool, &pw[v][l], x, k, M, y[v], n, bias, sh[s].epi, scratch);
                t[v][r] = (bench_now() - t0) / LAYERS;
            }
        double diff = 0;
        for (size_t i = 0; i < M * n; i++)
            diff = fmax(diff, fabs((double)y[0][i] - (double)y[1][i]));
        struct bench_stats sa, sb;
        bench_stats_of(t[0], rounds, &sa);
        bench_stats_of(t[1], rounds, &sb);
        double ta = sa.median, tb = sb.median, fl = 2.0 * (double)(M * n * k);
        printf("%-9s A %6.1f  B %6.1f GFLOP/s  B/A %.3f  max |A - B| %.3g\n", sh[s].name,
               fl / ta * 1e-9, fl / tb * 1e-9, ta / tb, diff);
        flops_all += fl;
        t_all[0] += ta;
        t_all[1] += tb;
        for (int v = 0; v < 2; v++)
            for (int l = 0; l < LAYERS; l++)
                free(pw[v][l].data);
        free(w);
    }
    printf("all       A %6.1f  B %6.1f GFLOP/s  B/A %.3f\n", flops_all / t_all[0] * 1e-9,
           flops_all / t_all[1] * 1e-9, t_all[0] / t_all[1]);
    eng_pool_free(pool);
    free(scratch);
    free(x);
    free(y[0]);
    free(y[1]);
    free(bias);
    return 0;
}
