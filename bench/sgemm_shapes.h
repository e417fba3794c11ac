/* sgemm_shapes.h — the matrix products of a BERT forward, and OpenBLAS's speed on each.
 *
 * Shared by bench/sgemm_peak.c (the per-shape table) and bench/engine_bench.c (the
 * "sgemm floor" a forward is compared with, measured in the same process just before
 * the forward is timed). Benchmark code only: it prints nothing itself.
 */
#ifndef SOCLE_BENCH_SGEMM_SHAPES_H
#define SOCLE_BENCH_SGEMM_SHAPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* One sgemm as the forward issues it: C (m, n) = A (m, k) · B, B stored (n, k) row-major
 * (an nn.Linear weight, used transposed) when trans_b, else (k, n). lda / ldb are the
 * leading dimensions the forward uses: attention reads one head's 64 columns out of the
 * (n_tokens, 3 d_model) Q | K | V matrix, so its lda / ldb are 3 d_model, not 64. */
struct bench_gemm {
    const char *name; /* "qkv", "qkv_fused", "attn_out", "ffn_up", "ffn_down", "scores", "context", "pooler" */
    int m, n, k;
    bool trans_b;
    int lda, ldb;
    double count;     /* calls per forward */
    bool alternative; /* another way to do the same work (fused QKV): not added to the floor */
};

/* Wall clock in seconds (CLOCK_MONOTONIC). */
double bench_now(void);

struct bench_stats {
    double median, min, max;
    int n;
};
/* Median / min / max of xs[0..n) (xs is sorted in place). */
void bench_stats_of(double *xs, int n, struct bench_stats *out);

/* The sgemms of one forward of a BERT encoder (post-LN, separate Q/K/V weights, pooler) on
 * `batch` sequences of `seq` tokens, with attention done per sequence and per head. Writes at
 * most cap entries, returns how many there are. */
size_t bench_bert_gemms(int n_layers, int d_model, int n_heads, int d_ff, int batch, int seq,
                        struct bench_gemm *out, size_t cap);

/* FLOPs of the forward as the peers count them (bench-peers bert_gflop): every linear layer,
 * Q·K^T and P·V, the pooler; softmax / LayerNorm / GELU / embeddings not counted. In GFLOP. */
double bench_bert_gflop(int n_layers, int d_model, int d_ff, int batch, int seq);

/* GFLOP of one call of g (2·m·n·k). */
double bench_gemm_gflop(const struct bench_gemm *g);

/* Time cblas_sgemm on g's shape with the current OpenBLAS thread count: one untimed
 * warm-up, then `repeats` measurements, each running calls for at least min_rep_s seconds.
 * b_copies > 1 rotates B over that many distinct matrices, call after call, as a forward
 * walks through its layers' weights: B then comes from memory instead of cache ("cold").
 * Fills GFLOP/s statistics. Returns 0, or -1 when the buffers cannot be allocated. */
int bench_gemm_time(const struct bench_gemm *g, int b_copies, int repeats, double min_rep_s,
                    struct bench_stats *gflops);

/* The sgemm floor of one forward: every sgemm of bench_bert_gemms timed alone
 * (bench_gemm_time), Q/K/V counted as whichever of three products or one fused product is
 * faster. With cold, the products with weights are timed a second time with B rotating over
 * n_layers copies (floor_cold_s). When json is not NULL, each shape's figures go there as one
 * JSON line, with `tag` (e.g. "\"threads\": 2") spliced into the object. */
struct bench_floor {
    double floor_s;       /* sum over the forward of count * gflop / median GFLOP/s */
    double floor_cold_s;  /* the same with cold weights, when asked; else 0 */
    double gflop;         /* FLOPs of those sgemms, GFLOP (equals bench_bert_gflop) */
    double ffn_up_gflops; /* median GFLOP/s of the FFN-up shape (n_tokens x d_model) x (d_model x d_ff) */
    struct {
        const char *name; /* as struct bench_gemm */
        double s;         /* count * gflop / median GFLOP/s of this shape (both QKV variants) */
        double cold_s;    /* the same with cold weights (= s for attention products) */
    } ops[16];
    int n_ops;
};
int bench_sgemm_floor(int n_layers, int d_model, int n_heads, int d_ff, int batch, int seq,
                      int repeats, double min_rep_s, bool cold, FILE *json, const char *tag,
                      struct bench_floor *out);

/* OpenBLAS threads for every following sgemm (process-wide). */
void bench_blas_threads(int n);

/* OpenBLAS build description (openblas_get_config + core name), static storage. */
const char *bench_blas_config(void);

/* One JSON line {"stamp": {...}} on f: tool, commit ($SOCLE_BENCH_COMMIT, set by
 * bench/run_engine_bench.sh), compiler, build flags, BLAS, CPU model and count, UTC time. */
void bench_print_stamp(FILE *f, const char *tool);

/* s as a JSON string literal (quotes included) on f. */
void bench_print_json_string(FILE *f, const char *s);

#endif
