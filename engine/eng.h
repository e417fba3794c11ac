/* eng.h — transformer encoders from HuggingFace checkpoints, run on the CPU.
 *
 * A model (weights mmap'd from model.safetensors, config.json parsed) is immutable
 * after eng_model_load: share one `const struct eng_model *` between threads. Each
 * worker thread owns an eng_ctx (scratch memory allocated once, reused by every
 * forward). Forwards take a packed batch of variable-length sequences: no padding
 * is ever computed. Nothing here prints; errors come back as enum eng_status plus a
 * message in the caller's err buffer.
 */
#ifndef SOCLE_ENG_H
#define SOCLE_ENG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum eng_status {
    ENG_OK = 0,
    ENG_ENOMEM = -1,
    ENG_EIO = -2,          /* file missing or unreadable */
    ENG_EFORMAT = -3,      /* corrupt safetensors / config.json */
    ENG_EUNSUPPORTED = -4, /* unknown architecture, dtype */
    ENG_EINVAL = -5,       /* bad argument: id out of range, sequence too long… */
    ENG_ESHAPE = -6,       /* tensor missing or shape disagrees with config */
    ENG_ELIMIT = -7,       /* absurd sizes in config, batch over ctx capacity */
};

const char *eng_strerror(int status);

enum eng_arch { ENG_ARCH_BERT, ENG_ARCH_ROBERTA, ENG_ARCH_DISTILBERT };

/* Head a checkpoint carries (from config.architectures[0] and its tensors). */
enum eng_head { ENG_HEAD_NONE, ENG_HEAD_SEQCLS, ENG_HEAD_TOKCLS, ENG_HEAD_QA };

struct eng_model_info {
    enum eng_arch arch;
    const char *model_type;   /* config.model_type: "bert", "roberta", "camembert"… */
    const char *architecture; /* config.architectures[0], or "" */
    int d_model, n_layers, n_heads, d_ff;
    int vocab_size, max_positions, type_vocab_size;
    int pad_token_id;
    int position_offset; /* first position id: 0 (BERT), pad_token_id + 1 (RoBERTa) */
    int max_seq_len;     /* longest sequence accepted = max_positions - position_offset */
    bool has_pooler;
    enum eng_head head;
    int n_labels;                /* seqcls / tokcls; 2 for QA */
    const char *const *id2label; /* (n_labels) or NULL */
    const char *weights_dtype;   /* "float32", "float16", "bfloat16" */
    size_t weights_bytes;        /* bytes of tensor data mapped */
};

struct eng_model_params {
    bool load_head; /* load the checkpoint's task head if present (default true) */
    /* Copy each layer's linear weights at load into the panel layout of the engine's own
     * sgemm (default true: faster, docs/engine.md) and give back the mapped pages (float32)
     * or converted copies (float16/bfloat16) they came from, so the weights are held once.
     * false: float32 weights used in place from the mapping, every product through
     * OpenBLAS. Outputs agree to float rounding either way. */
    bool pack_weights;
};
struct eng_model_params eng_model_params_default(void);

struct eng_model;

/* Load a model directory (config.json + model.safetensors, or a sharded
 * model.safetensors.index.json). The caller owns *out (eng_model_free). */
int eng_model_load(const char *dir, const struct eng_model_params *params, struct eng_model **out,
                   char *err, size_t errlen);
void eng_model_free(struct eng_model *model);
const struct eng_model_info *eng_model_get_info(const struct eng_model *model);

/* Threads OpenBLAS may use inside one sgemm call (process-wide). Choose
 * n_workers * n_blas_threads <= cores. */
void eng_set_blas_threads(int n);
int eng_get_blas_threads(void);

struct eng_ctx;

/* A worker context able to run batches of up to max_tokens tokens in total and
 * sequences of up to max_seq_len tokens. Caller owns *out (eng_ctx_free). */
int eng_ctx_new(const struct eng_model *model, size_t max_tokens, struct eng_ctx **out);
void eng_ctx_free(struct eng_ctx *ctx);

/* A packed batch: sequence s occupies ids[start_s .. start_s + seq_len[s]). */
struct eng_batch {
    size_t n_seqs;
    const size_t *seq_len;   /* (n_seqs) */
    const int32_t *ids;      /* (n_tokens) n_tokens = sum(seq_len) */
    const int32_t *type_ids; /* (n_tokens) or NULL = all 0 */
};

enum eng_want {
    ENG_WANT_HIDDEN = 1 << 0,     /* last_hidden_state (always computed) */
    ENG_WANT_POOLER = 1 << 1,     /* pooler output, when the model has one */
    ENG_WANT_HEAD = 1 << 2,       /* the checkpoint head's logits */
    ENG_WANT_ALL_LAYERS = 1 << 3, /* hidden states of every layer (n_layers + 1) */
};

/* Outputs point into ctx memory, valid until the next forward on ctx. */
struct eng_output {
    size_t n_seqs, n_tokens;
    const float *last_hidden; /* (n_tokens, d_model) */
    const float *pooler;      /* (n_seqs, d_model) or NULL */
    const float *logits; /* SEQCLS (n_seqs, n_labels); TOKCLS (n_tokens, n_labels); else NULL */
    const float *start_logits; /* QA (n_tokens) or NULL */
    const float *end_logits;   /* QA (n_tokens) or NULL */
    const float *all_layers;   /* (n_layers + 1, n_tokens, d_model) or NULL; [0] = embeddings */
};

/* Run the model on a batch. Ids out of vocabulary, type ids out of range, a
 * sequence longer than max_seq_len or a batch larger than the ctx: ENG_EINVAL /
 * ENG_ELIMIT with nothing computed. Many ctxs may run on one model at once. */
int eng_ctx_forward(struct eng_ctx *ctx, const struct eng_batch *batch, unsigned want,
                    struct eng_output *out);

/* Threads this context uses for the element-wise loops between sgemms (bias +
 * LayerNorm, bias + GELU): 0 (default) = as many as eng_get_blas_threads() at
 * each forward, 1 = the calling thread only, n = n - 1 helper threads owned by
 * the context. Results are bit-identical whatever the count. Not thread-safe
 * against a forward running on the same ctx. ENG_EINVAL if n < 0. */
int eng_ctx_set_threads(struct eng_ctx *ctx, int n);

/* How many of those threads the next forwards use (0 = all, default): a server that runs
 * several contexts on a few cores lowers it while the other contexts are busy and raises
 * it when they are idle, without starting or stopping threads (eng_ctx_set_threads would
 * restart them). A context with helper threads keeps its multi-thread code path at any
 * active count, so outputs are bit-identical whatever n. ENG_EINVAL if n < 0. */
int eng_ctx_set_active_threads(struct eng_ctx *ctx, int n);

/* Message naming the problem of the last failed eng_ctx_forward on ctx ("" after
 * success). Owned by ctx, valid until its next forward. */
const char *eng_ctx_last_error(const struct eng_ctx *ctx);

/* Raw access to a named tensor as float32 (converted if stored f16/bf16),
 * for adapters built from checkpoint heads. *out is malloc'd; shape copied to
 * shape[0..*n_dims). ENG_ESHAPE if absent. */
int eng_model_tensor_f32(const struct eng_model *model, const char *name, float **out,
                         int64_t shape[4], int *n_dims);

/* y (m, n) = x (m, k) · W^T (W is (n, k), row-major as HF stores nn.Linear) + b (n) or NULL.
 * The one entry point to BLAS for modules above the engine (task heads). */
void eng_linear(const float *x, const float *w, const float *b, float *y, size_t m, size_t n,
                size_t k);

#ifdef __cplusplus
}
#endif
#endif
