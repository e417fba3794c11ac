/* engine_bench.c — throughput, exactness and memory of the engine on a BERT-base checkpoint.
 *
 *   engine_bench forward --model DIR [--threads 1,2] [--batch 1,8,32] [--seq 128]
 *                        [--repeat 5] [--warmup 1] [--floor-repeat 3] [--no-floor] [--ops]
 *                        [--no-pack]
 *   engine_bench check   --model DIR --ids IDS.txt --ref REF.f32 [--tol 1e-3] [--threads 1]
 *   engine_bench rss     --model DIR [--batch 1] [--seq 128] [--threads 1]
 *   engine_bench workers --model DIR [--workers 2] [--batch 1,8] [--seq 128] [--repeat 5]
 *
 * DESIGN: bench/run_engine_bench.sh runs these next to the PyTorch and ONNX Runtime peers.
 * - forward: per thread count, per batch: the sgemm floor of that exact forward is measured
 *   first in this process with the same OpenBLAS threads (bench/sgemm_shapes.c), then the
 *   forward is warmed up and timed `repeat` times. One JSON line per (threads, batch) with
 *   median / min / max ms, sequences/s, GFLOP/s (the peers' FLOP count), the fraction of
 *   OpenBLAS's FFN-up speed at the largest batch ("peak") and of the per-shape floor.
 * - check: runs the sequences of IDS.txt (one per line, whitespace-separated ids) alone and
 *   packed into one batch, compares last_hidden_state with REF.f32 (the reference's hidden
 *   states of the same sequences, concatenated, little-endian float32) and fails beyond tol.
 * - rss: a fresh process loads the model, runs one forward and reports getrusage's
 *   ru_maxrss against the weights' size, so nothing else in the process inflates it.
 * - forward --ops: one more JSON line per (threads, batch) splitting the forward's time by
 *   operation. This program defines cblas_sgemm itself: the executable's definition wins
 *   over libopenblas's for the engine's calls (engine/blas.c), and forwards to the real
 *   one (dlsym RTLD_NEXT) while timing each call and classifying it by shape (QKV, attention
 *   output, FFN up / down, scores, context, pooler). What is not inside sgemm is the
 *   element-wise work (softmax, GELU, LayerNorm, biases, embeddings): perf splits that.
 * - forward --no-pack: the model loaded with pack_weights = false (float32 weights in place,
 *   every product through OpenBLAS, the engine before its own sgemm): rows "socle_unpacked",
 *   for the A/B in the same run.
 * - workers: the daemon's way to use the cores: N threads, each with its own context on the
 *   one shared model, each running `repeat` forwards of the batch with 1 OpenBLAS thread;
 *   throughput = all sequences / wall time (compare with `forward --threads N`).
 * Inputs of the timed runs are deterministic random ids in [1000, vocab) with [CLS] = 101
 * first and [SEP] = 102 last, token types 0, as the peers use.
 */
#include "bench/sgemm_shapes.h"
#include "engine/eng.h"

#include <cblas.h>
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
#include <sys/resource.h>

#define MAX_LIST 8

/* ---- sgemm accounting (see DESIGN) ---- */
enum op { OP_QKV, OP_ATTN_OUT, OP_FFN_UP, OP_FFN_DOWN, OP_SCORES, OP_CONTEXT, OP_POOLER,
          OP_OTHER, OP_COUNT };
static const char *const op_names[OP_COUNT] = {"qkv", "attn_out", "ffn_up", "ffn_down",
                                               "scores", "context", "pooler", "other_sgemm"};
static struct {
    bool on;
    int d_model, d_ff, n_heads, n_tokens, n_seqs;
    double s[OP_COUNT], gflop[OP_COUNT];
    long calls[OP_COUNT];
} acct;

typedef void (*sgemm_fn)(const enum CBLAS_ORDER, const enum CBLAS_TRANSPOSE,
                         const enum CBLAS_TRANSPOSE, const blasint, const blasint, const blasint,
                         const float, const float *, const blasint, const float *, const blasint,
                         const float, float *, const blasint);

static enum op classify(enum CBLAS_TRANSPOSE tb, blasint m, blasint n, blasint k, blasint ldc) {
    const blasint d = acct.d_model, f = acct.d_ff;
    if (tb == CblasNoTrans)
        return OP_CONTEXT; /* P (L, L) · V_h: the only product with B not transposed */
    if (k == d / acct.n_heads)
        return OP_SCORES;
    if (n == f && k == d)
        return OP_FFN_UP;
    if (n == d && k == f)
        return OP_FFN_DOWN;
    if ((n == d && k == d && ldc == 3 * d) || (n == 3 * d && k == d))
        return OP_QKV; /* three products into one (n, 3d) buffer, or one fused product */
    /* The pooler reads one row per sequence; the attention output projection every token
     * (of the batch, or of a chunk of it when the engine splits a large batch). */
    if (n == d && k == d && m == acct.n_seqs)
        return OP_POOLER;
    if (n == d && k == d && m <= acct.n_tokens)
        return OP_ATTN_OUT;
    return OP_OTHER;
}

void cblas_sgemm(OPENBLAS_CONST enum CBLAS_ORDER order, OPENBLAS_CONST enum CBLAS_TRANSPOSE ta,
                 OPENBLAS_CONST enum CBLAS_TRANSPOSE tb, OPENBLAS_CONST blasint m,
                 OPENBLAS_CONST blasint n, OPENBLAS_CONST blasint k, OPENBLAS_CONST float alpha,
                 OPENBLAS_CONST float *a, OPENBLAS_CONST blasint lda, OPENBLAS_CONST float *b,
                 OPENBLAS_CONST blasint ldb, OPENBLAS_CONST float beta, float *c,
                 OPENBLAS_CONST blasint ldc) {
    static sgemm_fn real;
    if (!real) {
        /* POSIX guarantees a function pointer round-trips through dlsym's void * */
        void *p = dlsym(RTLD_NEXT, "cblas_sgemm");
        if (!p)
            abort();
        memcpy(&real, &p, sizeof real);
    }
    if (!acct.on) {
        real(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    double t0 = bench_now();
    real(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    enum op o = classify(tb, m, n, k, ldc);
    acct.s[o] += bench_now() - t0;
    acct.gflop[o] += 2.0 * m * n * k / 1e9;
    acct.calls[o]++;
}

/* The engine's own sgemm on packed weights (engine/sgemm.c) runs the linear layers unless
 * the model is loaded with pack_weights = false. The link wraps it (-Wl,--wrap, see
 * bench/CMakeLists.txt): the engine's calls come here, are timed and classified like the
 * cblas_sgemm calls above, and go on to the real one. Prototype as in engine/eng_impl.h,
 * with the engine's private types left opaque (the enum passes as int). n = ldy and k = ldx
 * in every call of the forward. */
struct eng_pool;
struct eng_pw;
void __real_eng_sgemm_packed(struct eng_pool *pool, const struct eng_pw *w, const float *x,
                             size_t ldx, size_t m, float *y, size_t ldy, const float *bias,
                             int epi, float *scratch);
void __wrap_eng_sgemm_packed(struct eng_pool *pool, const struct eng_pw *w, const float *x,
                             size_t ldx, size_t m, float *y, size_t ldy, const float *bias,
                             int epi, float *scratch);
void __wrap_eng_sgemm_packed(struct eng_pool *pool, const struct eng_pw *w, const float *x,
                             size_t ldx, size_t m, float *y, size_t ldy, const float *bias,
                             int epi, float *scratch) {
    if (!acct.on) {
        __real_eng_sgemm_packed(pool, w, x, ldx, m, y, ldy, bias, epi, scratch);
        return;
    }
    double t0 = bench_now();
    __real_eng_sgemm_packed(pool, w, x, ldx, m, y, ldy, bias, epi, scratch);
    enum op o = classify(CblasTrans, (blasint)m, (blasint)ldy, (blasint)ldx, (blasint)ldy);
    acct.s[o] += bench_now() - t0;
    acct.gflop[o] += 2.0 * (double)m * (double)ldy * (double)ldx / 1e9;
    acct.calls[o]++;
}

struct opts {
    const char *cmd, *model, *ids, *ref;
    int threads[MAX_LIST], n_threads;
    int batch[MAX_LIST], n_batch;
    int seq, repeat, warmup, floor_repeat, workers;
    bool floor, ops, no_pack, peak_each;
    double tol;
};

static int parse_list(const char *s, int *out, int cap) {
    int n = 0;
    while (*s && n < cap) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v <= 0 || v > 1 << 20 || (*end && *end != ','))
            return -1;
        out[n++] = (int)v;
        s = *end == ',' ? end + 1 : end;
    }
    return *s ? -1 : n;
}

static void usage(void) {
    fprintf(stderr,
            "usage: engine_bench forward --model DIR [--threads 1,2] [--batch 1,8,32] [--seq 128]\n"
            "                            [--repeat 5] [--warmup 1] [--floor-repeat 3] [--no-floor] [--ops]\n"
            "                            [--no-pack] [--peak-each]\n"
            "       engine_bench check --model DIR --ids IDS.txt --ref REF.f32 [--tol 1e-3]\n"
            "                          [--threads 1]\n"
            "       engine_bench rss --model DIR [--batch 1] [--seq 128] [--threads 1]\n"
            "       engine_bench workers --model DIR [--workers 2] [--batch 1,8] [--seq 128]\n"
            "                            [--repeat 5]\n");
}

static int parse_opts(int argc, char **argv, struct opts *o) {
    memset(o, 0, sizeof *o);
    o->threads[0] = 1, o->threads[1] = 2, o->n_threads = 2;
    o->batch[0] = 1, o->batch[1] = 8, o->batch[2] = 32, o->n_batch = 3;
    o->seq = 128, o->repeat = 5, o->warmup = 1, o->floor_repeat = 3, o->floor = true;
    o->tol = 1e-3;
    if (argc < 2)
        return -1;
    o->cmd = argv[1];
    o->workers = 2;
    if (strcmp(o->cmd, "forward") != 0 && strcmp(o->cmd, "check") != 0 &&
        strcmp(o->cmd, "rss") != 0 && strcmp(o->cmd, "workers") != 0)
        return -1;
    if (strcmp(o->cmd, "workers") == 0) {
        o->n_batch = 2; /* 1, 8 */
    } else if (strcmp(o->cmd, "forward") != 0) {
        o->n_threads = 1; /* check and rss: one thread count, one batch */
        o->n_batch = 1;
    }
    for (int i = 2; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(k, "--no-floor") == 0) {
            o->floor = false;
            continue;
        }
        if (strcmp(k, "--ops") == 0) {
            o->ops = true;
            continue;
        }
        if (strcmp(k, "--no-pack") == 0) {
            o->no_pack = true;
            continue;
        }
        if (strcmp(k, "--peak-each") == 0) {
            o->peak_each = true;
            continue;
        }
        if (!v)
            return -1;
        int ok = 1;
        if (strcmp(k, "--model") == 0)
            o->model = v;
        else if (strcmp(k, "--ids") == 0)
            o->ids = v;
        else if (strcmp(k, "--ref") == 0)
            o->ref = v;
        else if (strcmp(k, "--threads") == 0)
            ok = (o->n_threads = parse_list(v, o->threads, MAX_LIST)) > 0;
        else if (strcmp(k, "--batch") == 0)
            ok = (o->n_batch = parse_list(v, o->batch, MAX_LIST)) > 0;
        else if (strcmp(k, "--seq") == 0)
            ok = (o->seq = atoi(v)) > 0;
        else if (strcmp(k, "--repeat") == 0)
            ok = (o->repeat = atoi(v)) > 0;
        else if (strcmp(k, "--warmup") == 0)
            ok = (o->warmup = atoi(v)) >= 0;
        else if (strcmp(k, "--floor-repeat") == 0)
            ok = (o->floor_repeat = atoi(v)) > 0;
        else if (strcmp(k, "--workers") == 0)
            ok = (o->workers = atoi(v)) > 0 && o->workers <= 64;
        else if (strcmp(k, "--tol") == 0)
            ok = (o->tol = atof(v)) > 0;
        else
            ok = 0;
        if (!ok)
            return -1;
        i++;
    }
    if (!o->model || (strcmp(o->cmd, "check") == 0 && (!o->ids || !o->ref)))
        return -1;
    return 0;
}

static bool no_pack; /* --no-pack: weights in place, every product through OpenBLAS */

static int load(const char *dir, struct eng_model **m) {
    char err[512] = "";
    struct eng_model_params p = eng_model_params_default();
    p.pack_weights = !no_pack;
    int rc = eng_model_load(dir, &p, m, err, sizeof err);
    if (rc != ENG_OK)
        fprintf(stderr, "engine_bench: %s: %s (%s)\n", dir, eng_strerror(rc), err);
    return rc;
}

/* Deterministic inputs (xorshift32), [CLS] ... [SEP] per sequence. */
static void make_ids(int32_t *ids, int batch, int seq, int vocab) {
    uint32_t x = 1;
    for (int b = 0; b < batch; b++) {
        for (int s = 0; s < seq; s++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            ids[(size_t)b * seq + s] = 1000 + (int32_t)(x % (uint32_t)(vocab - 1000));
        }
        ids[(size_t)b * seq] = 101;
        ids[(size_t)b * seq + seq - 1] = 102;
    }
}

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

/* `repeat` more forwards with every sgemm timed and classified; one JSON line of means per
 * forward, next to the per-shape floor of the same op when measured. */
static int print_ops(struct eng_ctx *ctx, const struct eng_batch *batch, unsigned want,
                     const struct opts *o, int threads, const struct bench_floor *fl) {
    struct eng_output out;
    memset(acct.s, 0, sizeof acct.s);
    memset(acct.gflop, 0, sizeof acct.gflop);
    memset(acct.calls, 0, sizeof acct.calls);
    acct.n_seqs = (int)batch->n_seqs;
    acct.n_tokens = 0;
    for (size_t i = 0; i < batch->n_seqs; i++)
        acct.n_tokens += (int)batch->seq_len[i];
    acct.on = true;
    double t0 = bench_now();
    for (int r = 0; r < o->repeat; r++) {
        int st = eng_ctx_forward(ctx, batch, want, &out);
        if (st != ENG_OK) {
            acct.on = false;
            fprintf(stderr, "engine_bench: forward: %s\n", eng_strerror(st));
            return -1;
        }
    }
    double total = (bench_now() - t0) / o->repeat, in_sgemm = 0;
    acct.on = false;
    printf("{\"impl\": \"socle_ops\", \"threads\": %d, \"batch\": %zu, \"seq\": %d, \"runs\": %d, "
           "\"forward_ms\": %.3f, \"ops\": {",
           threads, batch->n_seqs, o->seq, o->repeat, 1e3 * total);
    for (int i = 0; i < OP_COUNT; i++) {
        double s = acct.s[i] / o->repeat;
        in_sgemm += s;
        double floor_ms = -1, cold_ms = -1;
        for (int j = 0; fl && j < fl->n_ops; j++) {
            if (strcmp(fl->ops[j].name, op_names[i]) == 0) {
                floor_ms = 1e3 * fl->ops[j].s;
                cold_ms = 1e3 * fl->ops[j].cold_s;
            }
        }
        printf("%s\"%s\": {\"ms\": %.3f, \"calls\": %ld, \"gflops\": %.2f, \"floor_ms\": %.3f, "
               "\"floor_cold_ms\": %.3f}",
               i ? ", " : "", op_names[i], 1e3 * s, acct.calls[i] / o->repeat,
               s > 0 ? acct.gflop[i] / o->repeat / s : 0.0, floor_ms, cold_ms);
    }
    double fused = -1;
    for (int j = 0; fl && j < fl->n_ops; j++)
        if (strcmp(fl->ops[j].name, "qkv_fused") == 0)
            fused = 1e3 * fl->ops[j].s;
    printf("}, \"sgemm_ms\": %.3f, \"non_sgemm_ms\": %.3f, \"qkv_fused_floor_ms\": %.3f, "
           "\"floor_ms\": %.3f, \"floor_cold_ms\": %.3f}\n",
           1e3 * in_sgemm, 1e3 * (total - in_sgemm), fused, fl ? 1e3 * fl->floor_s : -1.0,
           fl ? 1e3 * fl->floor_cold_s : -1.0);
    fflush(stdout);
    return 0;
}

/* --peak-each: OpenBLAS's peak timed next to every timed forward, so that the fraction of
 * peak compares two measurements a second apart rather than minutes apart (this VM's speed
 * drifts 10-20 % over tens of minutes). The peak is as sgemm_peak defines it: the best FFN-up
 * sgemm over the invocation's batch sizes, each timed for at least 30 ms after a warm-up
 * call. OpenBLAS's idle threads then spin for up to ~0.1 s (THREAD_TIMEOUT, 2^28 cycles)
 * and would take cores from the forward: the caller sleeps 0.3 s before timing it. Returns
 * GFLOP/s, or -1. */
static double peak_now(const struct eng_model_info *mi, const struct opts *o) {
    double best = 0;
    for (int b = 0; b < o->n_batch; b++) {
        struct bench_gemm g = {"ffn_up", o->batch[b] * o->seq, mi->d_ff, mi->d_model, true,
                               mi->d_model, mi->d_model, 1, false};
        struct bench_stats st;
        if (bench_gemm_time(&g, 1, 1, 0.03, &st) != 0)
            return -1;
        best = st.median > best ? st.median : best;
    }
    nanosleep(&(struct timespec){0, 300000000L}, NULL);
    return best;
}

static int cmd_forward(const struct opts *o) {
    struct eng_model *model = NULL;
    struct eng_ctx *ctx = NULL;
    int32_t *ids = NULL;
    size_t *lens = NULL;
    double *ms = NULL, *sorted = NULL, *cpu = NULL, *peak_r = NULL, *frac_r = NULL;
    int rc = 1, max_batch = 0;
    if (load(o->model, &model) != ENG_OK)
        goto done;
    const struct eng_model_info *mi = eng_model_get_info(model);
    acct.d_model = mi->d_model, acct.d_ff = mi->d_ff, acct.n_heads = mi->n_heads;
    if (mi->vocab_size <= 1000 || o->seq > mi->max_seq_len) {
        fprintf(stderr, "engine_bench: model too small for the inputs (vocab %d, max_seq_len %d)\n",
                mi->vocab_size, mi->max_seq_len);
        goto done;
    }
    for (int b = 0; b < o->n_batch; b++)
        max_batch = o->batch[b] > max_batch ? o->batch[b] : max_batch;
    /* One context sized for the largest batch, as a daemon worker holds one for its limit. */
    int st = eng_ctx_new(model, (size_t)max_batch * (size_t)o->seq, &ctx);
    ids = malloc(sizeof *ids * (size_t)max_batch * (size_t)o->seq);
    lens = malloc(sizeof *lens * (size_t)max_batch);
    ms = malloc(sizeof *ms * (size_t)o->repeat);
    sorted = malloc(sizeof *sorted * (size_t)o->repeat);
    cpu = malloc(sizeof *cpu * (size_t)o->repeat);
    peak_r = malloc(sizeof *peak_r * (size_t)o->repeat);
    frac_r = malloc(sizeof *frac_r * (size_t)o->repeat);
    if (st != ENG_OK || !ids || !lens || !ms || !sorted || !cpu || !peak_r || !frac_r) {
        fprintf(stderr, "engine_bench: context for %d tokens: %s\n", max_batch * o->seq,
                st != ENG_OK ? eng_strerror(st) : "out of memory");
        goto done;
    }
    make_ids(ids, max_batch, o->seq, mi->vocab_size);
    for (int b = 0; b < max_batch; b++)
        lens[b] = (size_t)o->seq;

    unsigned want = ENG_WANT_HIDDEN | (mi->has_pooler ? ENG_WANT_POOLER : 0);
    bench_print_stamp(stdout, "engine_bench");
    for (int t = 0; t < o->n_threads; t++) {
        const int th = o->threads[t];
        eng_set_blas_threads(th);
        bench_blas_threads(th);
        /* The peak of this thread count: FFN-up at the largest batch (the best-fed shape). */
        struct bench_floor floors[MAX_LIST], big;
        double peak = 0;
        if (o->floor) {
            if (bench_sgemm_floor(mi->n_layers, mi->d_model, mi->n_heads, mi->d_ff, max_batch,
                                  o->seq, o->floor_repeat, 0.05, false, NULL, NULL, &big) != 0)
                goto done;
            peak = big.ffn_up_gflops;
        }
        for (int bi = 0; bi < o->n_batch; bi++) {
            const int bsz = o->batch[bi];
            struct eng_batch batch = {.n_seqs = (size_t)bsz, .seq_len = lens, .ids = ids,
                                      .type_ids = NULL};
            struct eng_output out;
            if (o->floor && bench_sgemm_floor(mi->n_layers, mi->d_model, mi->n_heads, mi->d_ff,
                                              bsz, o->seq, o->floor_repeat, 0.05, o->ops, NULL,
                                              NULL, &floors[bi]) != 0)
                goto done;
            for (int w = 0; w < o->warmup; w++) {
                if ((st = eng_ctx_forward(ctx, &batch, want, &out)) != ENG_OK) {
                    fprintf(stderr, "engine_bench: forward: %s\n", eng_strerror(st));
                    goto done;
                }
            }
            for (int r = 0; r < o->repeat; r++) {
                if (o->peak_each && (peak_r[r] = peak_now(mi, o)) < 0) {
                    fprintf(stderr, "engine_bench: out of memory\n");
                    goto done;
                }
                double c0 = cpu_s(), t0 = bench_now();
                st = eng_ctx_forward(ctx, &batch, want, &out);
                ms[r] = 1e3 * (bench_now() - t0);
                cpu[r] = 1e3 * (cpu_s() - c0);
                if (st != ENG_OK) {
                    fprintf(stderr, "engine_bench: forward: %s\n", eng_strerror(st));
                    goto done;
                }
            }
            /* A timing of a forward that produced garbage is worthless: every output finite. */
            for (size_t i = 0; i < out.n_tokens * (size_t)mi->d_model; i++) {
                if (!isfinite(out.last_hidden[i])) {
                    fprintf(stderr, "engine_bench: non-finite last_hidden_state[%zu]\n", i);
                    goto done;
                }
            }
            if (out.n_tokens != (size_t)bsz * (size_t)o->seq) {
                fprintf(stderr, "engine_bench: forward returned %zu tokens, expected %d\n",
                        out.n_tokens, bsz * o->seq);
                goto done;
            }
            const int n = o->repeat;
            memcpy(sorted, ms, sizeof *ms * (size_t)n);
            struct bench_stats s;
            bench_stats_of(sorted, n, &s);
            struct bench_stats cs;
            memcpy(sorted, cpu, sizeof *cpu * (size_t)n);
            bench_stats_of(sorted, n, &cs);
            double gf = bench_bert_gflop(mi->n_layers, mi->d_model, mi->d_ff, bsz, o->seq);
            double gflops = gf / (s.median / 1e3);
            printf("{\"impl\": \"%s\", \"threads\": %d, \"batch\": %d, \"seq\": %d, "
                   "\"runs\": %d, \"ms_median\": %.3f, \"ms_min\": %.3f, \"ms_max\": %.3f, "
                   "\"spread_pct\": %.1f, \"seq_per_s\": %.3f, \"gflop\": %.3f, \"gflops\": %.2f",
                   o->no_pack ? "socle_unpacked" : "socle", th, bsz, o->seq, n, s.median, s.min,
                   s.max,
                   100.0 * (s.max - s.min) / s.median, bsz / (s.median / 1e3), gf, gflops);
            if (o->floor)
                printf(", \"sgemm_peak_gflops\": %.2f, \"frac_of_peak\": %.3f, "
                       "\"sgemm_floor_ms\": %.3f, \"frac_of_floor\": %.3f, "
                       "\"ffn_up_gflops_this_batch\": %.2f",
                       peak, gflops / peak, 1e3 * floors[bi].floor_s,
                       1e3 * floors[bi].floor_s / s.median, floors[bi].ffn_up_gflops);
            if (o->floor && o->ops)
                printf(", \"sgemm_floor_cold_ms\": %.3f", 1e3 * floors[bi].floor_cold_s);
            if (o->peak_each) {
                /* Each forward against the peak timed just before it; medians of both. */
                for (int r = 0; r < n; r++)
                    frac_r[r] = gf / (ms[r] / 1e3) / peak_r[r];
                struct bench_stats ps, fs;
                memcpy(sorted, peak_r, sizeof *peak_r * (size_t)n);
                bench_stats_of(sorted, n, &ps);
                memcpy(sorted, frac_r, sizeof *frac_r * (size_t)n);
                bench_stats_of(sorted, n, &fs);
                printf(", \"peak_each_gflops_median\": %.2f, \"peak_each_gflops_min\": %.2f, "
                       "\"peak_each_gflops_max\": %.2f, \"frac_of_peak_each_median\": %.3f, "
                       "\"frac_of_peak_each_min\": %.3f, \"frac_of_peak_each_max\": %.3f",
                       ps.median, ps.min, ps.max, fs.median, fs.min, fs.max);
            }
            /* CPU time of the process per forward: with 1 thread, cpu / wall well below 1
             * means the machine was busy and the forward waited for a core. */
            printf(", \"cpu_ms_median\": %.3f, \"cpu_over_wall\": %.3f, \"times_ms\": [",
                   cs.median, cs.median / s.median);
            for (int r = 0; r < o->repeat; r++)
                printf("%s%.3f", r ? ", " : "", ms[r]);
            printf("]}\n");
            fflush(stdout);
            if (o->ops && print_ops(ctx, &batch, want, o, th, o->floor ? &floors[bi] : NULL) != 0)
                goto done;
        }
    }
    rc = 0;
done:
    free(ids);
    free(lens);
    free(ms);
    free(sorted);
    free(cpu);
    free(peak_r);
    free(frac_r);
    eng_ctx_free(ctx);
    eng_model_free(model);
    return rc;
}

/* Reads IDS.txt: one sequence per line. Returns the number of sequences or -1. */
static int read_ids(const char *path, int32_t **ids_out, size_t **lens_out, size_t *n_tokens) {
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t cap_ids = 1024, cap_lens = 16, n_ids = 0, n_seqs = 0;
    int32_t *ids = malloc(cap_ids * sizeof *ids);
    size_t *lens = malloc(cap_lens * sizeof *lens);
    char line[1 << 16];
    int rc = -1;
    if (!ids || !lens)
        goto done;
    while (fgets(line, sizeof line, f)) {
        size_t len = 0;
        char *p = line, *end;
        for (long v = strtol(p, &end, 10); end != p; v = strtol(p, &end, 10)) {
            if (n_ids == cap_ids) {
                int32_t *g = realloc(ids, 2 * cap_ids * sizeof *ids);
                if (!g)
                    goto done;
                ids = g, cap_ids *= 2;
            }
            ids[n_ids++] = (int32_t)v;
            len++;
            p = end;
        }
        if (!len)
            continue;
        if (n_seqs == cap_lens) {
            size_t *g = realloc(lens, 2 * cap_lens * sizeof *lens);
            if (!g)
                goto done;
            lens = g, cap_lens *= 2;
        }
        lens[n_seqs++] = len;
    }
    rc = (int)n_seqs;
    *ids_out = ids, *lens_out = lens, *n_tokens = n_ids;
    ids = NULL, lens = NULL;
done:
    fclose(f);
    free(ids);
    free(lens);
    return rc;
}

static float *read_f32(const char *path, size_t n) {
    FILE *f = fopen(path, "rb");
    float *x = malloc(n * sizeof *x + 1);
    if (!f || !x || fread(x, sizeof *x, n, f) != n || fgetc(f) != EOF) {
        fprintf(stderr, "engine_bench: %s: expected exactly %zu float32 values\n", path, n);
        free(x);
        x = NULL;
    }
    if (f)
        fclose(f);
    return x;
}

static double max_abs_diff(const float *a, const float *b, size_t n, double *max_ref) {
    double d = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (e > d || isnan(e))
            d = isnan(e) ? INFINITY : e;
        if (max_ref && fabs((double)b[i]) > *max_ref)
            *max_ref = fabs((double)b[i]);
    }
    return d;
}

static int cmd_check(const struct opts *o) {
    struct eng_model *model = NULL;
    struct eng_ctx *ctx = NULL;
    int32_t *ids = NULL;
    size_t *lens = NULL, n_tokens = 0;
    float *ref = NULL;
    int rc = 1, st;
    int n_seqs = read_ids(o->ids, &ids, &lens, &n_tokens);
    if (n_seqs <= 0) {
        fprintf(stderr, "engine_bench: %s: no sequences\n", o->ids);
        goto done;
    }
    if (load(o->model, &model) != ENG_OK)
        goto done;
    const struct eng_model_info *mi = eng_model_get_info(model);
    const size_t d = (size_t)mi->d_model;
    if (!(ref = read_f32(o->ref, n_tokens * d)))
        goto done;
    eng_set_blas_threads(o->threads[0]);
    if ((st = eng_ctx_new(model, n_tokens, &ctx)) != ENG_OK) {
        fprintf(stderr, "engine_bench: context: %s\n", eng_strerror(st));
        goto done;
    }
    struct eng_output out;
    /* packed: every sequence in one batch */
    struct eng_batch all = {.n_seqs = (size_t)n_seqs, .seq_len = lens, .ids = ids};
    if ((st = eng_ctx_forward(ctx, &all, ENG_WANT_HIDDEN, &out)) != ENG_OK) {
        fprintf(stderr, "engine_bench: forward: %s\n", eng_strerror(st));
        goto done;
    }
    double max_ref = 0;
    double packed = max_abs_diff(out.last_hidden, ref, n_tokens * d, &max_ref);
    /* alone: one sequence per forward */
    double alone = 0;
    size_t start = 0;
    for (int s = 0; s < n_seqs; s++) {
        struct eng_batch one = {.n_seqs = 1, .seq_len = &lens[s], .ids = ids + start};
        if ((st = eng_ctx_forward(ctx, &one, ENG_WANT_HIDDEN, &out)) != ENG_OK) {
            fprintf(stderr, "engine_bench: forward: %s\n", eng_strerror(st));
            goto done;
        }
        double e = max_abs_diff(out.last_hidden, ref + start * d, lens[s] * d, NULL);
        alone = e > alone ? e : alone;
        start += lens[s];
    }
    bool pass = packed <= o->tol && alone <= o->tol;
    printf("{\"impl\": \"socle\", \"check\": \"last_hidden_state\", \"sequences\": %d, "
           "\"tokens\": %zu, \"max_abs_diff_packed\": %.3g, \"max_abs_diff_alone\": %.3g, "
           "\"max_abs_ref\": %.3g, \"tol\": %.3g, \"pass\": %s}\n",
           n_seqs, n_tokens, packed, alone, max_ref, o->tol, pass ? "true" : "false");
    rc = pass ? 0 : 1;
done:
    free(ids);
    free(lens);
    free(ref);
    eng_ctx_free(ctx);
    eng_model_free(model);
    return rc;
}

static int cmd_rss(const struct opts *o) {
    struct eng_model *model = NULL;
    struct eng_ctx *ctx = NULL;
    int32_t *ids = NULL;
    size_t *lens = NULL;
    int rc = 1, st;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    long before_kb = ru.ru_maxrss;
    if (load(o->model, &model) != ENG_OK)
        goto done;
    getrusage(RUSAGE_SELF, &ru);
    long loaded_kb = ru.ru_maxrss;
    const struct eng_model_info *mi = eng_model_get_info(model);
    const int bsz = o->batch[0];
    eng_set_blas_threads(o->threads[0]);
    ids = malloc(sizeof *ids * (size_t)bsz * (size_t)o->seq);
    lens = malloc(sizeof *lens * (size_t)bsz);
    if (!ids || !lens || (st = eng_ctx_new(model, (size_t)bsz * (size_t)o->seq, &ctx)) != ENG_OK) {
        fprintf(stderr, "engine_bench: context failed\n");
        goto done;
    }
    make_ids(ids, bsz, o->seq, mi->vocab_size);
    for (int b = 0; b < bsz; b++)
        lens[b] = (size_t)o->seq;
    struct eng_batch batch = {.n_seqs = (size_t)bsz, .seq_len = lens, .ids = ids};
    struct eng_output out;
    unsigned want = ENG_WANT_HIDDEN | (mi->has_pooler ? ENG_WANT_POOLER : 0);
    if ((st = eng_ctx_forward(ctx, &batch, want, &out)) != ENG_OK) {
        fprintf(stderr, "engine_bench: forward: %s\n", eng_strerror(st));
        goto done;
    }
    getrusage(RUSAGE_SELF, &ru);
    double w = (double)mi->weights_bytes;
    printf("{\"impl\": \"socle\", \"rss\": true, \"batch\": %d, \"seq\": %d, \"threads\": %d, "
           "\"weights_bytes\": %zu, \"weights_dtype\": \"%s\", \"maxrss_start_kb\": %ld, "
           "\"maxrss_after_load_kb\": %ld, \"maxrss_after_forward_kb\": %ld, "
           "\"rss_over_weights\": %.4f}\n",
           bsz, o->seq, o->threads[0], mi->weights_bytes, mi->weights_dtype, before_kb, loaded_kb,
           ru.ru_maxrss, (double)ru.ru_maxrss * 1024.0 / w);
    rc = 0;
done:
    free(ids);
    free(lens);
    eng_ctx_free(ctx);
    eng_model_free(model);
    return rc;
}

struct worker {
    const struct eng_model *model;
    const struct eng_batch *batch;
    unsigned want;
    int repeat, status;
    pthread_barrier_t *start;
    double end; /* bench_now() when its last forward returned */
};

static void *worker_run(void *arg) {
    struct worker *w = arg;
    struct eng_ctx *ctx = NULL;
    struct eng_output out;
    size_t n = 0;
    for (size_t s = 0; s < w->batch->n_seqs; s++)
        n += w->batch->seq_len[s];
    w->status = eng_ctx_new(w->model, n, &ctx);
    if (w->status == ENG_OK) /* warm-up, outside the timed region */
        w->status = eng_ctx_forward(ctx, w->batch, w->want, &out);
    pthread_barrier_wait(w->start);
    for (int r = 0; r < w->repeat && w->status == ENG_OK; r++)
        w->status = eng_ctx_forward(ctx, w->batch, w->want, &out);
    w->end = bench_now();
    eng_ctx_free(ctx);
    return NULL;
}

static int cmd_workers(const struct opts *o) {
    struct eng_model *model = NULL;
    int32_t *ids = NULL;
    size_t *lens = NULL;
    struct worker *ws = calloc((size_t)o->workers, sizeof *ws);
    pthread_t *tids = calloc((size_t)o->workers, sizeof *tids);
    int rc = 1, max_batch = 0;
    if (!ws || !tids || load(o->model, &model) != ENG_OK)
        goto done;
    const struct eng_model_info *mi = eng_model_get_info(model);
    for (int b = 0; b < o->n_batch; b++)
        max_batch = o->batch[b] > max_batch ? o->batch[b] : max_batch;
    ids = malloc(sizeof *ids * (size_t)max_batch * (size_t)o->seq);
    lens = malloc(sizeof *lens * (size_t)max_batch);
    if (!ids || !lens || mi->vocab_size <= 1000 || o->seq > mi->max_seq_len)
        goto done;
    make_ids(ids, max_batch, o->seq, mi->vocab_size);
    for (int b = 0; b < max_batch; b++)
        lens[b] = (size_t)o->seq;
    eng_set_blas_threads(1);
    unsigned want = ENG_WANT_HIDDEN | (mi->has_pooler ? ENG_WANT_POOLER : 0);
    bench_print_stamp(stdout, "engine_bench");
    for (int bi = 0; bi < o->n_batch; bi++) {
        struct eng_batch batch = {.n_seqs = (size_t)o->batch[bi], .seq_len = lens, .ids = ids};
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, (unsigned)o->workers + 1);
        int started = 0;
        for (int i = 0; i < o->workers; i++) {
            ws[i] = (struct worker){.model = model, .batch = &batch, .want = want,
                                    .repeat = o->repeat, .start = &start};
            if (pthread_create(&tids[i], NULL, worker_run, &ws[i]) != 0)
                break;
            started++;
        }
        if (started < o->workers) {
            /* cannot start them all: the barrier would never open; give up on this run */
            fprintf(stderr, "engine_bench: could not start %d threads\n", o->workers);
            abort();
        }
        pthread_barrier_wait(&start);
        double t0 = bench_now(), c0 = cpu_s(), t1 = t0;
        for (int i = 0; i < o->workers; i++) {
            pthread_join(tids[i], NULL);
            t1 = ws[i].end > t1 ? ws[i].end : t1;
        }
        double cpu = cpu_s() - c0;
        pthread_barrier_destroy(&start);
        for (int i = 0; i < o->workers; i++) {
            if (ws[i].status != ENG_OK) {
                fprintf(stderr, "engine_bench: worker %d: %s\n", i, eng_strerror(ws[i].status));
                goto done;
            }
        }
        double seqs = (double)o->workers * o->repeat * o->batch[bi], wall = t1 - t0;
        double gf = seqs / o->batch[bi] * bench_bert_gflop(mi->n_layers, mi->d_model, mi->d_ff,
                                                            o->batch[bi], o->seq);
        printf("{\"impl\": \"socle_workers\", \"workers\": %d, \"blas_threads\": 1, "
               "\"batch\": %d, \"seq\": %d, \"runs_per_worker\": %d, \"wall_s\": %.3f, "
               "\"seq_per_s\": %.3f, \"gflops\": %.2f, \"cpu_over_wall\": %.3f}\n",
               o->workers, o->batch[bi], o->seq, o->repeat, wall, seqs / wall, gf / wall,
               cpu / wall);
        fflush(stdout);
    }
    rc = 0;
done:
    free(ids);
    free(lens);
    free(ws);
    free(tids);
    eng_model_free(model);
    return rc;
}

int main(int argc, char **argv) {
    struct opts o;
    if (parse_opts(argc, argv, &o) != 0) {
        usage();
        return 2;
    }
    no_pack = o.no_pack;
    if (strcmp(o.cmd, "forward") == 0)
        return cmd_forward(&o);
    if (strcmp(o.cmd, "check") == 0)
        return cmd_check(&o);
    if (strcmp(o.cmd, "workers") == 0)
        return cmd_workers(&o);
    return cmd_rss(&o);
}
