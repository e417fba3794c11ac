/* eng_impl.h — private types shared by the engine's files. Not for other modules. */
#ifndef SOCLE_ENG_IMPL_H
#define SOCLE_ENG_IMPL_H

#include "engine/eng.h"

#include <stdarg.h>

/* ---- safetensors (engine/safetensors.c) ---------------------------------- */

enum st_dtype {
    ST_F32,
    ST_F16,
    ST_BF16,
    ST_F64,
    ST_I64,
    ST_I32,
    ST_I16,
    ST_I8,
    ST_U8,
    ST_BOOL,
    ST_U16,
    ST_U32,
    ST_U64,
    ST_F8_E4M3,
    ST_F8_E5M2,
    ST_N_DTYPES
};

struct st_tensor {
    char *name;
    enum st_dtype dtype;
    int n_dims;
    int64_t shape[8];
    const unsigned char *data; /* inside the mapping, data_end - data_begin bytes */
    size_t n_bytes;
    size_t n_elems;
};

/* One mmap'd safetensors file whose header has been fully validated: every
 * tensor lies inside the file, sizes agree with dtype x shape, none overlap. */
struct st_file {
    char *path;
    int fd; /* kept open for pread (eng_model.word_fd) */
    void *map;
    size_t map_size;
    struct st_tensor *tensors; /* (n_tensors) sorted by name */
    size_t n_tensors;
};

size_t st_dtype_size(enum st_dtype dt);
const char *st_dtype_name(enum st_dtype dt);
int st_file_open(const char *path, struct st_file **out, char *err, size_t errlen);
void st_file_free(struct st_file *f);
const struct st_tensor *st_file_find(const struct st_file *f, const char *name);

/* ---- weights and model (engine/model.c) ---------------------------------- */

/* A float32 view of one tensor: into the mapping when stored f32 and aligned,
 * else a converted copy owned by the model (`owned`). */
struct eng_weight {
    const float *data;
    int64_t shape[2];
    int n_dims;
};

/* A weight W (n, k) packed for eng_sgemm_packed: ceil(n / ENG_PW_NR) panels, panel p =
 * W rows [p NR, p NR + NR) as k rows of NR floats (W transposed), zero-padded past n;
 * 64-byte aligned, owned by whoever allocated it (free()). */
#define ENG_PW_NR 32
struct eng_pw {
    float *data;
    size_t n, k;
};

/* Weights of one encoder layer. With packing (the default, eng_model_params.pack_weights)
 * the four products run on pqkv ((3 d_model, d_model): per head h, its Q, K and V rows side
 * by side, [Q_0 K_0 V_0 Q_1 K_1 V_1 ...], so a thread that computes a range of the product's
 * columns computes whole heads), po, p1, p2 and bqkv (the biases in the same order); wq, wk,
 * wv, wo, w1, w2 then have data NULL (their mapped pages or converted copies were given back
 * after packing). Without, pqkv.data etc. are NULL (Q | K | V side by side). */
struct eng_layer {
    struct eng_pw pqkv, po, p1, p2;
    float *bqkv; /* (3 d_model), head by head as pqkv */
    struct eng_weight wq, bq, wk, bk, wv, bv; /* (d_model, d_model), (d_model) */
    struct eng_weight wo, bo;                 /* attention output projection */
    struct eng_weight ln1_g, ln1_b;           /* LayerNorm after attention */
    struct eng_weight w1, b1;                 /* (d_ff, d_model), (d_ff) */
    struct eng_weight w2, b2;                 /* (d_model, d_ff), (d_model) */
    struct eng_weight ln2_g, ln2_b;           /* LayerNorm after the FFN */
};

enum eng_act { ENG_ACT_GELU, ENG_ACT_GELU_TANH, ENG_ACT_RELU };

struct eng_model {
    struct eng_model_info info;
    char *model_type, *architecture, *weights_dtype;
    char **labels; /* (n_label_names) from id2label */
    int n_label_names;
    float ln_eps;
    enum eng_act act;

    struct st_file **files; /* (n_files) shards */
    size_t n_files;
    float **owned; /* (n_owned) converted / realigned copies */
    size_t n_owned, cap_owned;

    struct eng_weight word_emb, pos_emb, type_emb; /* type_emb.data NULL for DistilBERT */
    /* When word_emb.data is the mapping (float32 as stored): its shard's descriptor and file
     * offset, and the forward preads each token's row instead of touching the mapping (the
     * kernel maps 16 cached pages around every fault: a batch of 4096 random ids made the
     * whole 94 MB table of BERT-base resident). Else -1. */
    int word_fd;
    long long word_off;
    struct eng_weight emb_ln_g, emb_ln_b;
    struct eng_layer *layers;         /* (n_layers) */
    struct eng_weight pool_w, pool_b; /* BERT pooler, or NULL data */
    /* Heads. SEQCLS: BERT classifier on the pooler; RoBERTa dense+tanh then
     * out_proj on <s>; DistilBERT pre_classifier+ReLU then classifier on [CLS].
     * TOKCLS / QA: cls_w on every token. */
    struct eng_weight pre_w, pre_b; /* RoBERTa classifier.dense / DistilBERT pre_classifier */
    struct eng_weight cls_w, cls_b; /* (n_labels, d_model) */
};

/* Tests only: make a context process its batches in chunks of at most `tokens`
 * tokens (never below its longest sequence, never above what it allocated). */
void eng_ctx_shrink_chunk(struct eng_ctx *c, size_t tokens);
/* Tests only: hand every element-wise loop of at least `floats` floats to the
 * helper threads (default 65536). */
void eng_ctx_set_par_min(struct eng_ctx *c, size_t floats);

/* ---- helper threads (engine/pool.c) -------------------------------------- */

/* tid: 0 for the caller, 1 .. n_threads - 1 for the helpers */
typedef void (*eng_pool_fn)(void *arg, size_t begin, size_t end, int tid);
struct eng_pool;
/* n_threads counts the caller; fewer helpers may start if threads are refused. */
int eng_pool_new(int n_threads, struct eng_pool **out);
void eng_pool_free(struct eng_pool *p);
int eng_pool_threads(const struct eng_pool *p);
/* Threads that join the next runs: min(n, eng_pool_threads); n <= 0 = all. Caller's thread
 * only, between runs. Helpers past the limit stay asleep. */
void eng_pool_set_active(struct eng_pool *p, int n);
/* Threads that join a run now (1 for a NULL pool): what work splits should count on. */
int eng_pool_active(const struct eng_pool *p);
/* fn over [0, n) in chunks of `chunk` (the last one shorter) claimed by the
 * caller and whichever helpers wake in time; returns when every chunk is done.
 * p may be NULL (runs inline, one call). */
void eng_pool_run(struct eng_pool *p, size_t n, size_t chunk, eng_pool_fn fn, void *arg);

/* ---- packed-weight sgemm (engine/sgemm.c) --------------------------------- */

/* struct eng_pw (a packed weight) is defined with the layers above. */
/* Floats of the packed form of an (n, k) weight (0 on overflow). */
size_t eng_pw_floats(size_t n, size_t k);
/* Zeroed packed storage for (n, k): ENG_ENOMEM / ENG_ELIMIT. */
int eng_pw_alloc(struct eng_pw *pw, size_t n, size_t k);
/* Copy `rows` rows of W (rows, k) row-major into output columns [col0, col0 + rows). Several
 * calls fill one packed weight from separate tensors (Q | K | V). */
void eng_pw_put(struct eng_pw *pw, size_t col0, const float *w, size_t rows);

enum eng_epilogue { ENG_EPI_NONE, ENG_EPI_BIAS, ENG_EPI_BIAS_GELU, ENG_EPI_BIAS_GELU_TANH,
                    ENG_EPI_BIAS_RELU };
/* y (m, n) (ldy) = epi(x (m, k) (ldx) · Wᵀ [+ bias (n)]) with W packed (w->n, w->k). The
 * panels are shared out over pool's threads (NULL: the caller alone). scratch: at least
 * eng_pool_threads(pool) * eng_sgemm_scratch_floats() floats, 64-byte aligned. bias NULL =
 * no epilogue. Results do not depend on m, the threads or the instruction set. */
void eng_sgemm_packed(struct eng_pool *pool, const struct eng_pw *w, const float *x, size_t ldx,
                      size_t m, float *y, size_t ldy, const float *bias, enum eng_epilogue epi,
                      float *scratch);
size_t eng_sgemm_scratch_floats(void);
/* Instruction set the kernel runs: picked from the CPU; tests may force a lower one
 * (ENG_EUNSUPPORTED above what the CPU has; negative = back to automatic). Not thread-safe. */
enum eng_isa { ENG_ISA_SCALAR, ENG_ISA_AVX2, ENG_ISA_AVX512 };
int eng_sgemm_isa(void);
int eng_sgemm_force_isa(int isa);

/* ---- BLAS and kernels (engine/blas.c, engine/kernels.c) ------------------- */

/* C (m, n) (ldc) = alpha * A (m, k) (lda) . B^T where B is (n, k) (ldb) + beta * C. */
void eng_gemm_nt(size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                 const float *b, size_t ldb, float beta, float *c, size_t ldc);

/* y (rows, n) = LayerNorm(y + bias + res) with gain g, shift b. res may be NULL;
 * bias may be NULL only when res is. */
void eng_k_bias_res_ln(float *y, const float *bias, const float *res, const float *g,
                       const float *b, size_t rows, size_t n, float eps);
/* qkv (rows, 3d) += [bq | bk | bv] */
void eng_k_qkv_bias(float *qkv, const float *bq, const float *bk, const float *bv, size_t rows,
                    size_t d);
/* y (rows, n) = act(y + bias) */
void eng_k_bias_act(float *y, const float *bias, size_t rows, size_t n, enum eng_act act);
/* y (rows, n) += bias; then tanh when tanh_too (pooler / RoBERTa head) */
void eng_k_bias_tanh(float *y, const float *bias, size_t rows, size_t n, bool tanh_too);
/* out (L, dh) (ldo) = softmax(scale q k^T) v for one head of one sequence, with
 * q, k, v (L, dh) read with leading dimension ld. scratch: at least
 * eng_k_attention_scratch(L, dh) floats. No BLAS: safe on any thread. */
void eng_k_attention(const float *q, const float *k, const float *v, size_t ld, size_t L, size_t dh,
                     float scale, float *out, size_t ldo, float *scratch);
size_t eng_k_attention_scratch(size_t L, size_t dh);
/* In-place softmax of each row of x (rows, n) with leading dimension ld. */
void eng_k_softmax_rows(float *x, size_t rows, size_t n, size_t ld);

/* The vectorizable erf and exp the kernels use (exported for test_kernels). */
float eng_erf(float z);
float eng_exp(float x);

float eng_f16_to_f32(uint16_t h);
float eng_bf16_to_f32(uint16_t h);

/* snprintf into err (when non-NULL), returns status for `return eng_errf(...)` */
int eng_errf(char *err, size_t errlen, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
