/* sgemm_shapes.c — the sgemms of a BERT forward and their timing through OpenBLAS.
 *
 * DESIGN: the engine spends nearly all of its time in cblas_sgemm, so the honest yardstick
 * for a forward is not the CPU's theoretical FLOP rate but what OpenBLAS itself reaches on
 * the very shapes the forward issues (small M at batch 1, the 64-wide attention products).
 * Each shape is timed in isolation, with hot caches: the sum over a forward of
 * flops(shape) / speed(shape) is therefore a floor no real forward reaches, and the gap to
 * it is the time spent outside sgemm or lost between calls.
 */
#include "bench/sgemm_shapes.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void bench_stats_of(double *xs, int n, struct bench_stats *out) {
    memset(out, 0, sizeof *out);
    if (n <= 0)
        return;
    qsort(xs, (size_t)n, sizeof *xs, cmp_double);
    out->n = n;
    out->min = xs[0];
    out->max = xs[n - 1];
    out->median = n % 2 ? xs[n / 2] : 0.5 * (xs[n / 2 - 1] + xs[n / 2]);
}

static size_t push(struct bench_gemm *out, size_t cap, size_t i, struct bench_gemm g) {
    if (i < cap)
        out[i] = g;
    return i + 1;
}

size_t bench_bert_gemms(int n_layers, int d_model, int n_heads, int d_ff, int batch, int seq,
                        struct bench_gemm *out, size_t cap) {
    const int m = batch * seq, d = d_model, dh = d_model / n_heads;
    const double nl = n_layers, heads_total = (double)n_layers * batch * n_heads;
    size_t i = 0;
    i = push(out, cap, i, (struct bench_gemm){"qkv", m, d, d, true, d, d, 3 * nl, false});
    i = push(out, cap, i, (struct bench_gemm){"qkv_fused", m, 3 * d, d, true, d, d, nl, true});
    i = push(out, cap, i, (struct bench_gemm){"attn_out", m, d, d, true, d, d, nl, false});
    i = push(out, cap, i, (struct bench_gemm){"ffn_up", m, d_ff, d, true, d, d, nl, false});
    i = push(out, cap, i, (struct bench_gemm){"ffn_down", m, d, d_ff, true, d_ff, d_ff, nl, false});
    /* scores (seq, seq) = Q_h (seq, dh) · K_h^T, both read in place from the (n_tokens, 3 d)
     * projection buffer (engine/forward.c layout) */
    i = push(out, cap, i, (struct bench_gemm){"scores", seq, seq, dh, true, 3 * d, 3 * d, heads_total, false});
    /* context_h (seq, dh) = P (seq, seq) · V_h (seq, dh), V_h read with stride 3 d */
    i = push(out, cap, i, (struct bench_gemm){"context", seq, dh, seq, false, seq, 3 * d, heads_total, false});
    i = push(out, cap, i, (struct bench_gemm){"pooler", batch, d, d, true, d, d, 1, false});
    return i;
}

double bench_bert_gflop(int n_layers, int d_model, int d_ff, int batch, int seq) {
    const double m = (double)batch * seq, h = d_model, f = d_ff;
    const double per_layer = 4 * 2 * m * h * h + 2 * 2 * m * h * f + 2 * (2.0 * batch * seq * seq * h);
    return (n_layers * per_layer + 2.0 * batch * h * h) / 1e9;
}

double bench_gemm_gflop(const struct bench_gemm *g) {
    return 2.0 * g->m * g->n * g->k / 1e9;
}

static float *alloc_filled(size_t n, unsigned seed) {
    /* 64-byte aligned like the engine's scratch; aligned_alloc wants a multiple of the alignment */
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    float *p = aligned_alloc(64, bytes ? bytes : 64);
    if (!p)
        return NULL;
    unsigned x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (float)(x % 2001) * 1e-3f - 1.0f;
    }
    return p;
}

static void run_gemm(const struct bench_gemm *g, const float *a, const float *b, float *c) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, g->trans_b ? CblasTrans : CblasNoTrans, g->m, g->n,
                g->k, 1.0f, a, g->lda, b, g->ldb, 0.0f, c, g->n);
}

int bench_gemm_time(const struct bench_gemm *g, int b_copies, int repeats, double min_rep_s,
                    struct bench_stats *gflops) {
    size_t a_n = (size_t)g->m * (size_t)g->lda;
    size_t b_n = g->trans_b ? (size_t)g->n * (size_t)g->ldb : (size_t)g->k * (size_t)g->ldb;
    size_t c_n = (size_t)g->m * (size_t)g->n;
    size_t copies = b_copies > 1 ? (size_t)b_copies : 1;
    /* each copy starts on a 64-byte boundary, like separate tensors in a mapping */
    size_t b_stride = (b_n + 15) / 16 * 16;
    float *a = alloc_filled(a_n, 1), *b = alloc_filled(b_stride * copies, 2);
    float *c = alloc_filled(c_n, 3);
    double *xs = calloc(repeats > 0 ? (size_t)repeats : 1, sizeof *xs);
    int rc = -1;
    if (!a || !b || !c || !xs || repeats <= 0)
        goto done;
    run_gemm(g, a, b, c);
    const double gf = bench_gemm_gflop(g);
    size_t next = 0;
    for (int r = 0; r < repeats; r++) {
        long calls = 0;
        double t0 = bench_now(), el;
        do {
            run_gemm(g, a, b + next * b_stride, c);
            next = (next + 1) % copies;
            calls++;
            el = bench_now() - t0;
        } while (el < min_rep_s || (copies > 1 && calls < (long)copies));
        xs[r] = gf * (double)calls / el;
    }
    bench_stats_of(xs, repeats, gflops);
    rc = 0;
done:
    free(a);
    free(b);
    free(c);
    free(xs);
    return rc;
}

int bench_sgemm_floor(int n_layers, int d_model, int n_heads, int d_ff, int batch, int seq,
                      int repeats, double min_rep_s, bool cold, FILE *json, const char *tag,
                      struct bench_floor *out) {
    struct bench_gemm gs[16];
    size_t n = bench_bert_gemms(n_layers, d_model, n_heads, d_ff, batch, seq, gs, 16);
    double t_qkv[2] = {0, 0}, t_fused[2] = {0, 0}, t_rest[2] = {0, 0}, gflop = 0;
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        struct bench_stats st, sc;
        if (bench_gemm_time(&gs[i], 1, repeats, min_rep_s, &st) != 0)
            return -1;
        /* attention products have no weights: their operands are the activations, hot */
        bool has_weights = strcmp(gs[i].name, "scores") != 0 && strcmp(gs[i].name, "context") != 0;
        sc = st;
        if (cold && has_weights && bench_gemm_time(&gs[i], n_layers, repeats, min_rep_s, &sc) != 0)
            return -1;
        double gf = bench_gemm_gflop(&gs[i]);
        double t[2] = {gs[i].count * gf / st.median, gs[i].count * gf / sc.median};
        for (int v = 0; v < 2; v++) {
            if (strcmp(gs[i].name, "qkv") == 0)
                t_qkv[v] = t[v];
            else if (strcmp(gs[i].name, "qkv_fused") == 0)
                t_fused[v] = t[v];
            else
                t_rest[v] += t[v];
        }
        if (!gs[i].alternative)
            gflop += gs[i].count * gf;
        if (strcmp(gs[i].name, "ffn_up") == 0)
            out->ffn_up_gflops = st.median;
        if (out->n_ops < (int)(sizeof out->ops / sizeof *out->ops)) {
            out->ops[out->n_ops].name = gs[i].name;
            out->ops[out->n_ops].s = t[0];
            out->ops[out->n_ops].cold_s = t[1];
            out->n_ops++;
        }
        if (json) {
            fprintf(json,
                    "{\"impl\": \"openblas_sgemm\", %s%s\"batch\": %d, \"seq\": %d, \"shape\": \"%s\", "
                    "\"m\": %d, \"n\": %d, \"k\": %d, \"trans_b\": %s, \"calls_per_forward\": %.0f, "
                    "\"gflops_median\": %.2f, \"gflops_min\": %.2f, \"gflops_max\": %.2f, "
                    "\"repeats\": %d, \"forward_ms_at_this_speed\": %.3f",
                    tag ? tag : "", tag ? ", " : "", batch, seq, gs[i].name, gs[i].m, gs[i].n,
                    gs[i].k, gs[i].trans_b ? "true" : "false", gs[i].count, st.median, st.min,
                    st.max, st.n, 1e3 * t[0]);
            if (cold && has_weights)
                fprintf(json, ", \"gflops_cold_median\": %.2f, \"forward_ms_cold\": %.3f",
                        sc.median, 1e3 * t[1]);
            fprintf(json, "}\n");
        }
    }
    for (int v = 0; v < 2; v++) {
        double f = t_rest[v] + (t_fused[v] > 0 && t_fused[v] < t_qkv[v] ? t_fused[v] : t_qkv[v]);
        if (v == 0)
            out->floor_s = f;
        else if (cold)
            out->floor_cold_s = f;
    }
    out->gflop = gflop;
    return 0;
}

void bench_blas_threads(int n) {
    openblas_set_num_threads(n);
}

const char *bench_blas_config(void) {
    static char buf[256];
    snprintf(buf, sizeof buf, "OpenBLAS %s (core %s)", openblas_get_config(),
             openblas_get_corename());
    return buf;
}

void bench_print_json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void cpu_model(char *buf, size_t n) {
    snprintf(buf, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *v = strchr(line, ':');
            if (v) {
                v += 1 + (v[1] == ' ');
                v[strcspn(v, "\n")] = '\0';
                snprintf(buf, n, "%s", v);
            }
            break;
        }
    }
    fclose(f);
}

#ifdef __clang__
#define BENCH_COMPILER "clang " __clang_version__
#else
#define BENCH_COMPILER "gcc " __VERSION__
#endif
#ifndef SOCLE_BENCH_FLAGS
#define SOCLE_BENCH_FLAGS "unknown"
#endif

void bench_print_stamp(FILE *f, const char *tool) {
    char cpu[256], when[64];
    cpu_model(cpu, sizeof cpu);
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    const char *commit = getenv("SOCLE_BENCH_COMMIT");
    fprintf(f, "{\"stamp\": {\"tool\": ");
    bench_print_json_string(f, tool);
    fprintf(f, ", \"commit\": ");
    bench_print_json_string(f, commit ? commit : "unknown");
    fprintf(f, ", \"compiler\": ");
    bench_print_json_string(f, BENCH_COMPILER);
    fprintf(f, ", \"flags\": ");
    bench_print_json_string(f, SOCLE_BENCH_FLAGS);
    fprintf(f, ", \"blas\": ");
    bench_print_json_string(f, bench_blas_config());
    fprintf(f, ", \"cpu\": ");
    bench_print_json_string(f, cpu);
    fprintf(f, ", \"n_cpus\": %ld, \"utc\": \"%s\"}}\n", sysconf(_SC_NPROCESSORS_ONLN), when);
}
