/* perf_forward MODEL_DIR [seq_len] [batch] [threads] [reps] — engine timing
 * for the perf pass (not a ctest test; bench/ owns the real benchmark). Prints
 * ms per batch, GFLOP/s of the forward, and, measured in the same run, what
 * OpenBLAS sgemm alone achieves on the forward's own linear-layer shapes and on
 * a large square product (its peak). */
#include "engine/eng.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ENG_PERF_CPU_TIME=1 (single-thread runs only): time by the process's CPU
 * clock, which on a loaded shared machine excludes the time spent descheduled. */
static clockid_t clk = CLOCK_MONOTONIC;

static double now(void) {
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Peak resident set (VmHWM) in MB. */
static double peak_rss_mb(void) {
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    double kb = -1;
    while (fp && fgets(line, sizeof line, fp))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = atof(line + 6);
    if (fp)
        fclose(fp);
    return kb / 1024.0;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static float *rnd_buf(size_t n) {
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return p;
}

/* median seconds of one C(m,n) = A(m,k) B(n,k)^T */
static double time_gemm(int m, int n, int k, int reps) {
    float *a = rnd_buf((size_t)m * k), *b = rnd_buf((size_t)n * k), *c = rnd_buf((size_t)m * n);
    double t[64];
    for (int r = 0; r < reps + 1; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
        t[r] = now() - t0;
    }
    qsort(t + 1, (size_t)reps, sizeof(double), cmp_d);
    free(a);
    free(b);
    free(c);
    return t[1 + reps / 2];
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL_DIR [seq_len 128] [batch 8] [threads 1] [reps 5]\n",
                argv[0]);
        return 2;
    }
    size_t L = argc > 2 ? (size_t)atoi(argv[2]) : 128, B = argc > 3 ? (size_t)atoi(argv[3]) : 8;
    int th = argc > 4 ? atoi(argv[4]) : 1, reps = argc > 5 ? atoi(argv[5]) : 5;
    if (reps > 60)
        reps = 60;
    eng_set_blas_threads(th);
    if (getenv("ENG_PERF_CPU_TIME"))
        clk = CLOCK_PROCESS_CPUTIME_ID;
    char err[512];
    struct eng_model *m;
    struct eng_model_params mp = eng_model_params_default();
    mp.pack_weights = !getenv("ENG_PERF_NO_PACK"); /* A/B: OpenBLAS on the mapped weights */
    if (eng_model_load(argv[1], &mp, &m, err, sizeof err) != ENG_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const struct eng_model_info *in = eng_model_get_info(m);
    size_t n = L * B, d = (size_t)in->d_model, ff = (size_t)in->d_ff;
    struct eng_ctx *c;
    if (eng_ctx_new(m, n, &c) != ENG_OK)
        return 1;
    if (getenv("ENG_PERF_CTX_THREADS")) /* A/B of the element-wise helper threads */
        eng_ctx_set_threads(c, atoi(getenv("ENG_PERF_CTX_THREADS")));
    int32_t *ids = malloc(n * sizeof *ids);
    size_t *len = malloc(B * sizeof *len);
    for (size_t i = 0; i < n; i++)
        ids[i] = (int32_t)(1000 + (i * 7919) % 20000);
    for (size_t s = 0; s < B; s++) {
        len[s] = L;
        ids[s * L] = 101;
    }
    struct eng_batch b = {.n_seqs = B, .seq_len = len, .ids = ids};
    struct eng_output o;
    double t[64];
    for (int r = 0; r < reps + 1; r++) {
        double t0 = now();
        if (eng_ctx_forward(c, &b, ENG_WANT_HIDDEN, &o) != ENG_OK) {
            fprintf(stderr, "%s\n", eng_ctx_last_error(c));
            return 1;
        }
        t[r] = now() - t0;
    }
    qsort(t + 1, (size_t)reps, sizeof(double), cmp_d);
    double med = t[1 + reps / 2], lo = t[1], hi = t[reps];
    double lin = 2.0 * (double)n * (4.0 * (double)(d * d) + 2.0 * (double)(d * ff));
    double att = 4.0 * (double)B * (double)(L * L) * (double)d;
    double flops = (double)in->n_layers * (lin + att);
    printf("peak RSS after the forwards: %.1f MB (weights %.1f MB, ratio %.3f)\n", peak_rss_mb(),
           (double)in->weights_bytes / 1e6 * (1e6 / 1048576.0),
           peak_rss_mb() / ((double)in->weights_bytes / 1048576.0));
    if (getenv("ENG_PERF_FORWARD_ONLY")) {
        printf("L=%zu B=%zu threads=%d: forward %.2f ms (min %.2f max %.2f)\n", L, B, th, med * 1e3,
               lo * 1e3, hi * 1e3);
        return 0;
    }
    /* sgemm alone on the layer's shapes: 4 x (n,d,d), (n,ff,d), (n,d,ff) */
    double g_dd = time_gemm((int)n, (int)d, (int)d, reps);
    double g_up = time_gemm((int)n, (int)ff, (int)d, reps);
    double g_dn = time_gemm((int)n, (int)d, (int)ff, reps);
    double gemm_layer = 4 * g_dd + g_up + g_dn;
    double peak_t = time_gemm(2048, 2048, 2048, 3);
    double peak = 2.0 * 2048 * 2048 * 2048 / peak_t / 1e9;
    printf(
        "L=%zu B=%zu threads=%d: forward %.2f ms (min %.2f max %.2f), %.1f seq/s, %.1f GFLOP/s\n",
        L, B, th, med * 1e3, lo * 1e3, hi * 1e3, (double)B / med, flops / med / 1e9);
    printf("  sgemm on the linear shapes alone: %.2f ms per forward (%.1f GFLOP/s); "
           "sgemm peak (2048^3): %.1f GFLOP/s\n",
           gemm_layer * in->n_layers * 1e3,
           (double)in->n_layers * lin / (gemm_layer * in->n_layers) / 1e9, peak);
    printf("  forward = %.1f%% of sgemm peak; non-linear-gemm time %.2f ms (%.1f%%)\n",
           100.0 * flops / med / 1e9 / peak, (med - gemm_layer * in->n_layers) * 1e3,
           100.0 * (med - gemm_layer * in->n_layers) / med);
    free(ids);
    free(len);
    eng_ctx_free(c);
    eng_model_free(m);
    return 0;
}
