/* test_sgemm.c — the packed-weight sgemm (engine/sgemm.c) against a naive double-precision
 * product on odd shapes: m = 1, 3, 17, 129, 400 (one row block and more), n not a multiple
 * of the 32-column panel, k odd and over two slices, k over two blocks of x (1100); last
 * micro-panels of 8 and 4 rows (m = 20, 28, 400: the narrow kernels) and of other counts;
 * m = 800 on 3 threads: the rows split between threads instead of the columns; padded leading dimensions whose padding
 * must stay untouched; every epilogue; 1 and 3 threads; every instruction set the CPU has.
 * Also: the results are bit-identical across thread counts and instruction sets (the
 * engine's golden tests rely on it). */
#include "engine/eng_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static double act_ref(double v, enum eng_epilogue e) {
    switch (e) {
    case ENG_EPI_BIAS_GELU:
        return 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
    case ENG_EPI_BIAS_GELU_TANH:
        return 0.5 * v * (1.0 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
    case ENG_EPI_BIAS_RELU:
        return v > 0 ? v : 0;
    default:
        return v;
    }
}

struct shape {
    size_t m, n, k;
};

/* Runs one product and checks it; returns a malloc'd copy of y for the bitwise checks. */
static float *run_one(struct eng_pool *pool, struct shape s, enum eng_epilogue epi, bool bias,
                      unsigned seed, const char *isa) {
    const size_t ldx = s.k + 3, ldy = s.n + 5;
    float *w = malloc(s.n * s.k * sizeof *w), *x = malloc(s.m * ldx * sizeof *x);
    float *b = malloc(s.n * sizeof *b), *y = malloc(s.m * ldy * sizeof *y);
    size_t per = eng_sgemm_scratch_floats();
    float *scratch = aligned_alloc(64, (3 * per * sizeof(float) + 63) / 64 * 64);
    struct eng_pw pw = {0};
    if (!w || !x || !b || !y || !scratch || eng_pw_alloc(&pw, s.n, s.k) != ENG_OK) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < s.n * s.k; i++)
        w[i] = frand(&seed);
    for (size_t i = 0; i < s.m * ldx; i++)
        x[i] = frand(&seed);
    for (size_t i = 0; i < s.n; i++)
        b[i] = frand(&seed);
    for (size_t i = 0; i < s.m * ldy; i++)
        y[i] = 1234.5f; /* sentinel: the padding columns must keep it */
    /* Packed from two pieces, as Q | K | V are. */
    size_t half = s.n / 2;
    eng_pw_put(&pw, 0, w, half);
    eng_pw_put(&pw, half, w + half * s.k, s.n - half);
    eng_sgemm_packed(pool, &pw, x, ldx, s.m, y, ldy, bias ? b : NULL, epi, scratch);

    double worst = 0;
    int bad_pad = 0;
    for (size_t i = 0; i < s.m; i++) {
        for (size_t j = 0; j < s.n; j++) {
            double acc = 0, mag = 0;
            for (size_t p = 0; p < s.k; p++) {
                acc += (double)x[i * ldx + p] * (double)w[j * s.k + p];
                mag += fabs((double)x[i * ldx + p] * (double)w[j * s.k + p]);
            }
            double ref = acc;
            if (bias) {
                ref = act_ref(acc + b[j], epi);
                mag += fabs((double)b[j]);
            }
            /* float accumulation of k products: |err| <= (k + 2) u sum|x w| (u = 2^-24);
             * the activations add their own few ulps (erf polynomial: 2.5e-7 absolute). */
            double bound = (double)(s.k + 2) * 0x1p-24 * mag + 4e-7 * (1.0 + fabs(ref));
            double e = fabs((double)y[i * ldy + j] - ref) / bound;
            if (!(e <= worst)) /* NaN counts as worst */
                worst = isnan(e) ? INFINITY : e;
        }
        for (size_t j = s.n; j < ldy; j++)
            bad_pad += y[i * ldy + j] != 1234.5f;
    }
    bool ok = worst <= 1.0 && bad_pad == 0;
    if (!ok || s.m == 129)
        printf("%s %-7s m %3zu n %3zu k %3zu epi %d threads %d: error %.3g of the bound, %d "
               "padding values touched\n",
               ok ? "ok  " : "FAIL", isa, s.m, s.n, s.k, bias ? (int)epi : -1,
               eng_pool_threads(pool), worst, bad_pad);
    failures += !ok;
    free(w);
    free(x);
    free(b);
    free(scratch);
    free(pw.data);
    return y;
}

int main(void) {
    static const char *const isa_name[] = {"scalar", "avx2", "avx512"};
    const struct shape shapes[] = {{1, 77, 301}, {3, 45, 7},    {17, 100, 513}, {129, 77, 301},
                                   {129, 33, 1}, {400, 65, 257}, {12, 32, 256}, {5, 1, 9},
                                   {20, 64, 1100}, {28, 40, 300}, {800, 40, 300}};
    const size_t n_shapes = sizeof shapes / sizeof shapes[0];
    const enum eng_epilogue epis[] = {ENG_EPI_NONE, ENG_EPI_BIAS, ENG_EPI_BIAS_GELU,
                                      ENG_EPI_BIAS_GELU_TANH, ENG_EPI_BIAS_RELU};
    struct eng_pool *pool3 = NULL;
    if (eng_pool_new(3, &pool3) != ENG_OK) {
        fprintf(stderr, "no threads\n");
        return 1;
    }
    int best = eng_sgemm_isa();
    printf("CPU instruction set for the kernel: %s\n", isa_name[best]);
    float *first[sizeof shapes / sizeof shapes[0]][5] = {{NULL}};
    int not_same = 0;
    for (int isa = best; isa >= ENG_ISA_SCALAR; isa--) {
        if (eng_sgemm_force_isa(isa) != ENG_OK) {
            printf("FAIL forcing %s\n", isa_name[isa]);
            failures++;
            continue;
        }
        for (size_t si = 0; si < n_shapes; si++) {
            for (int e = 0; e < 5; e++) {
                bool bias = epis[e] != ENG_EPI_NONE;
                unsigned seed = (unsigned)(17 * si + 3 * (size_t)e + 1);
                float *y1 = run_one(NULL, shapes[si], epis[e], bias, seed, isa_name[isa]);
                float *y3 = run_one(pool3, shapes[si], epis[e], bias, seed, isa_name[isa]);
                size_t bytes = shapes[si].m * (shapes[si].n + 5) * sizeof(float);
                not_same += memcmp(y1, y3, bytes) != 0;
                if (!first[si][e])
                    first[si][e] = y1;
                else {
                    not_same += memcmp(first[si][e], y1, bytes) != 0;
                    free(y1);
                }
                free(y3);
            }
        }
    }
    eng_sgemm_force_isa(-1);
    printf("%s results bit-identical across 1 / 3 threads and instruction sets (%d differ)\n",
           not_same ? "FAIL" : "ok  ", not_same);
    failures += not_same != 0;
    /* A forced instruction set above the CPU's is refused. */
    if (best < ENG_ISA_AVX512 && eng_sgemm_force_isa(ENG_ISA_AVX512) != ENG_EUNSUPPORTED) {
        printf("FAIL forcing an instruction set the CPU lacks was accepted\n");
        failures++;
    }
    eng_sgemm_force_isa(-1);
    for (size_t si = 0; si < n_shapes; si++)
        for (int e = 0; e < 5; e++)
            free(first[si][e]);
    eng_pool_free(pool3);
    printf("%s\n", failures ? "FAILED" : "all passed");
    return failures ? 1 : 0;
}
