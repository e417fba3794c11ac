/* forward.c — worker contexts and the encoder forward over a packed batch.
 *
 * DESIGN: all sequences of a batch are concatenated into one (n_tokens, d_model)
 * matrix, so every linear layer is a single sgemm with M = n_tokens and no
 * padding is ever computed. Only attention looks at sequence boundaries: each
 * (sequence, head) pair is one call of eng_k_attention (kernels.c: Q K^T,
 * softmax, P V, reading Q, K and V in place from the fused (n_tokens, 3 d_model)
 * projection buffer and writing straight into its columns of the attention
 * output), the pairs shared out over the context's threads. Bias, residual and LayerNorm are fused into one pass
 * after each sgemm (kernels.c). All scratch memory is allocated by eng_ctx_new
 * for max_tokens and reused; the model is only read, so any number of contexts
 * may run on one model at once.
 */
#include "engine/eng_impl.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Scratch. A layer runs over the batch in chunks of whole sequences of at most
 * `chunk` tokens (ENG_CHUNK_TOKENS, or the longest sequence if that is more):
 * sgemms with M = 2048 rows are as efficient as with more (OpenBLAS packs the
 * weights per block of that order anyway: measured 7.6 % vs 9.2 % of cycles in
 * packing at 4096 vs 1024 rows) while the wide buffers stay chunk-sized, which
 * keeps the peak RSS of a BERT-base worker near 1.05 x its weights at batch 32.
 *   x  (max_tokens, d)   layer state in and out; last_hidden
 *   a  (chunk, wide)     Q|K|V (m, 3d) during attention, then the FFN's (m, d_ff)
 *   t  (chunk, d)        state after the attention block
 *   u  (chunk, d)        attention output before its projection
 *   cls, pool, hid (max_tokens, d): per-sequence rows for the pooler and heads
 *                        (only n_seqs rows are ever touched)
 */
#define ENG_CHUNK_TOKENS 2048
/* With packed weights (eng_sgemm_packed) the row count of a product does not matter to its
 * speed (x is packed in blocks of at most 336 rows for d_model 768 anyway), so the chunk is
 * as small as the longest sequence allows: 512 rows cut the wide buffers of a 4096-token
 * context by 28 MB (peak RSS of BERT-base at batch 32: 1.15x -> 1.08x the weights). */
#define ENG_CHUNK_TOKENS_PACKED 512

struct eng_ctx {
    const struct eng_model *m;
    size_t max_tokens, max_seq, chunk;
    float *x, *a, *t, *u;
    float *cls, *pool, *hid;
    float *logits;            /* (max_tokens, max(n_labels, 2)) */
    float *start, *end;       /* (max_tokens) QA */
    float *all;               /* (n_layers + 1, max_tokens, d_model), allocated on first use */
    int32_t *pos;             /* (max_tokens) position id of each token */
    int threads_req;          /* eng_ctx_set_threads: 0 = follow eng_get_blas_threads() */
    int active_req;           /* eng_ctx_set_active_threads: 0 = every thread */
    struct eng_pool *helpers; /* threads for the element-wise loops, or NULL */
    size_t par_min;           /* smallest loop (floats) handed to the helpers */
    float *attn_scratch;      /* (threads, eng_k_attention_scratch(max_seq, d_head)) */
    size_t *seq_off;          /* (max_tokens + 1) first row of each sequence of a chunk */
    float *gemm_scratch;      /* (gemm_threads, eng_sgemm_scratch_floats()) 64-byte aligned */
    int gemm_threads;
    char err[256];
};

void eng_ctx_free(struct eng_ctx *c) {
    if (!c)
        return;
    free(c->x);
    free(c->a);
    free(c->t);
    free(c->u);
    free(c->cls);
    free(c->pool);
    free(c->hid);
    free(c->logits);
    free(c->start);
    free(c->end);
    free(c->all);
    free(c->pos);
    eng_pool_free(c->helpers);
    free(c->attn_scratch);
    free(c->seq_off);
    free(c->gemm_scratch);
    free(c);
}

/* a * b * c floats, or NULL on overflow / failure. */
static float *alloc_f(size_t a, size_t b, size_t c) {
    if (b && a > SIZE_MAX / b)
        return NULL;
    size_t n = a * b;
    if (c && n > SIZE_MAX / c)
        return NULL;
    n *= c;
    if (n > SIZE_MAX / sizeof(float))
        return NULL;
    return malloc(n ? n * sizeof(float) : sizeof(float));
}

/* Packing space of the packed sgemm for `threads` threads (ENG_ENOMEM). */
static int ctx_gemm_scratch(struct eng_ctx *c, int threads) {
    if (c->gemm_scratch && c->gemm_threads >= threads)
        return ENG_OK;
    free(c->gemm_scratch);
    size_t bytes = (size_t)threads * eng_sgemm_scratch_floats() * sizeof(float);
    c->gemm_scratch = aligned_alloc(64, (bytes + 63) / 64 * 64);
    c->gemm_threads = c->gemm_scratch ? threads : 0;
    return c->gemm_scratch ? ENG_OK : ENG_ENOMEM;
}

int eng_ctx_new(const struct eng_model *m, size_t max_tokens, struct eng_ctx **out) {
    if (!m || !out || max_tokens == 0)
        return ENG_EINVAL;
    if (max_tokens > ((size_t)1 << 24))
        return ENG_ELIMIT;
    const struct eng_model_info *in = &m->info;
    size_t d = (size_t)in->d_model, nl = in->n_labels > 2 ? (size_t)in->n_labels : 2;
    struct eng_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return ENG_ENOMEM;
    c->m = m;
    c->max_tokens = max_tokens;
    c->max_seq = max_tokens < (size_t)in->max_seq_len ? max_tokens : (size_t)in->max_seq_len;
    size_t wide = (size_t)in->d_ff > 3 * d ? (size_t)in->d_ff : 3 * d;
    c->par_min = 65536;
    bool packed = in->n_layers > 0 && m->layers[0].pqkv.data;
    size_t chunk = packed ? ENG_CHUNK_TOKENS_PACKED : ENG_CHUNK_TOKENS;
    c->chunk = c->max_seq > chunk ? c->max_seq : chunk;
    if (c->chunk > max_tokens)
        c->chunk = max_tokens;
    c->x = alloc_f(max_tokens, d, 1);
    c->a = alloc_f(c->chunk, wide, 1);
    c->t = alloc_f(c->chunk, d, 1);
    c->u = alloc_f(c->chunk, d, 1);
    c->cls = alloc_f(max_tokens, d, 1);
    c->pool = alloc_f(max_tokens, d, 1);
    c->hid = alloc_f(max_tokens, d, 1);
    c->attn_scratch = alloc_f(1, eng_k_attention_scratch(c->max_seq, d / (size_t)in->n_heads), 1);
    c->logits = alloc_f(max_tokens, nl, 1);
    c->start = alloc_f(max_tokens, 1, 1);
    c->end = alloc_f(max_tokens, 1, 1);
    c->pos = malloc(max_tokens * sizeof *c->pos);
    c->seq_off = malloc((max_tokens + 1) * sizeof *c->seq_off);
    if (!c->x || !c->a || !c->t || !c->u || !c->cls || !c->pool || !c->hid || !c->attn_scratch ||
        !c->logits || !c->start || !c->end || !c->pos || !c->seq_off ||
        ctx_gemm_scratch(c, 1) != ENG_OK) {
        eng_ctx_free(c);
        return ENG_ENOMEM;
    }
    *out = c;
    return ENG_OK;
}

void eng_ctx_set_par_min(struct eng_ctx *c, size_t floats) { c->par_min = floats; }

void eng_ctx_shrink_chunk(struct eng_ctx *c, size_t tokens) {
    if (tokens < c->max_seq)
        tokens = c->max_seq;
    if (tokens < c->chunk)
        c->chunk = tokens;
}

int eng_ctx_set_threads(struct eng_ctx *c, int n) {
    if (!c || n < 0)
        return ENG_EINVAL;
    c->threads_req = n > 256 ? 256 : n;
    return ENG_OK;
}

int eng_ctx_set_active_threads(struct eng_ctx *c, int n) {
    if (!c || n < 0)
        return ENG_EINVAL;
    c->active_req = n;
    return ENG_OK;
}

/* Bring the helper pool to the wanted size (before a forward). A pool that
 * cannot be made leaves the loops on the calling thread: slower, not wrong. */
static void ctx_threads(struct eng_ctx *c) {
    int want = c->threads_req ? c->threads_req : eng_get_blas_threads();
    if (want > 256)
        want = 256;
    if (want <= 1) {
        eng_pool_free(c->helpers);
        c->helpers = NULL;
        return;
    }
    if (c->helpers && eng_pool_threads(c->helpers) == want) {
        eng_pool_set_active(c->helpers, c->active_req);
        return;
    }
    eng_pool_free(c->helpers);
    c->helpers = NULL;
    const struct eng_model_info *in = &c->m->info;
    size_t per = eng_k_attention_scratch(c->max_seq, (size_t)(in->d_model / in->n_heads));
    float *scratch = alloc_f((size_t)want, per, 1); /* the old one (>= 1 thread's) kept on failure */
    if (!scratch)
        return;
    free(c->attn_scratch);
    c->attn_scratch = scratch;
    if (ctx_gemm_scratch(c, want) != ENG_OK || eng_pool_new(want, &c->helpers) != ENG_OK)
        c->helpers = NULL;
    eng_pool_set_active(c->helpers, c->active_req);
}

/* Row-parallel element-wise loops. Under par_min (64k) floats the hand-off to
 * the helpers costs more than it saves. */
enum rows_kind { ROWS_LN, ROWS_ACT, ROWS_QKV };
struct rows_job {
    enum rows_kind kind;
    float *y;
    const float *bias, *res, *g, *b, *bk, *bv;
    size_t n;
    float eps;
    enum eng_act act;
};

static void rows_fn(void *arg, size_t r0, size_t r1, int tid) {
    const struct rows_job *j = arg;
    (void)tid;
    switch (j->kind) {
    case ROWS_LN:
        eng_k_bias_res_ln(j->y + r0 * j->n, j->bias, j->res ? j->res + r0 * j->n : NULL, j->g, j->b,
                          r1 - r0, j->n, j->eps);
        break;
    case ROWS_ACT:
        eng_k_bias_act(j->y + r0 * j->n, j->bias, r1 - r0, j->n, j->act);
        break;
    case ROWS_QKV:
        eng_k_qkv_bias(j->y + r0 * 3 * j->n, j->bias, j->bk, j->bv, r1 - r0, j->n);
        break;
    }
}

static void run_rows(struct eng_ctx *c, const struct rows_job *j, size_t rows) {
    size_t width = j->kind == ROWS_QKV ? 3 * j->n : j->n;
    if (!c->helpers || rows * width < c->par_min)
        rows_fn((void *)(uintptr_t)j, 0, rows, 0);
    else
        eng_pool_run(c->helpers, rows,
                     (rows + 4 * (size_t)eng_pool_active(c->helpers) - 1) /
                         (4 * (size_t)eng_pool_active(c->helpers)),
                     rows_fn, (void *)(uintptr_t)j);
}

static void par_ln(struct eng_ctx *c, float *y, const float *bias, const float *res, const float *g,
                   const float *b, size_t rows, size_t n, float eps) {
    struct rows_job j = {
        .kind = ROWS_LN, .y = y, .bias = bias, .res = res, .g = g, .b = b, .n = n, .eps = eps};
    run_rows(c, &j, rows);
}

static void par_act(struct eng_ctx *c, float *y, const float *bias, size_t rows, size_t n,
                    enum eng_act act) {
    struct rows_job j = {.kind = ROWS_ACT, .y = y, .bias = bias, .n = n, .act = act};
    run_rows(c, &j, rows);
}

static void par_qkv(struct eng_ctx *c, float *qkv, const float *bq, const float *bk,
                    const float *bv, size_t rows, size_t d) {
    struct rows_job j = {.kind = ROWS_QKV, .y = qkv, .bias = bq, .bk = bk, .bv = bv, .n = d};
    run_rows(c, &j, rows);
}

const char *eng_ctx_last_error(const struct eng_ctx *ctx) { return ctx ? ctx->err : ""; }

static int ctx_err(struct eng_ctx *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int ctx_err(struct eng_ctx *c, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return status;
}

/* Everything about the batch is checked before anything is computed. */
static int check_batch(struct eng_ctx *c, const struct eng_batch *b, size_t *n_tokens) {
    const struct eng_model_info *in = &c->m->info;
    size_t n = 0;
    if (b->n_seqs > 0 && (!b->seq_len || !b->ids))
        return ctx_err(c, ENG_EINVAL, "batch: NULL seq_len or ids");
    for (size_t s = 0; s < b->n_seqs; s++) {
        size_t L = b->seq_len[s];
        if (L == 0)
            return ctx_err(c, ENG_EINVAL, "sequence %zu is empty", s);
        if (L > (size_t)in->max_seq_len)
            return ctx_err(c, ENG_EINVAL,
                           "sequence %zu has %zu tokens, longer than the model's %d positions", s,
                           L, in->max_seq_len);
        if (L > c->max_tokens - n)
            return ctx_err(c, ENG_ELIMIT, "batch has more than the context's %zu tokens",
                           c->max_tokens);
        n += L;
    }
    for (size_t i = 0; i < n; i++)
        if (b->ids[i] < 0 || b->ids[i] >= in->vocab_size)
            return ctx_err(c, ENG_EINVAL, "token %zu: id %d out of the vocabulary [0, %d)", i,
                           (int)b->ids[i], in->vocab_size);
    /* DistilBERT has no segment embeddings: type ids are ignored, as HF's
     * DistilBERT takes none. */
    if (b->type_ids && in->arch != ENG_ARCH_DISTILBERT)
        for (size_t i = 0; i < n; i++)
            if (b->type_ids[i] < 0 ||
                b->type_ids[i] >= (in->type_vocab_size ? in->type_vocab_size : 1))
                return ctx_err(c, ENG_EINVAL, "token %zu: type id %d out of range [0, %d)", i,
                               (int)b->type_ids[i], in->type_vocab_size);
    *n_tokens = n;
    return ENG_OK;
}

/* Token i's word-embedding row into row (d floats): pread from the checkpoint when the
 * model reads them that way (eng_model.word_fd), else from memory. */
static int word_row(const struct eng_model *m, int32_t id, size_t d, float *row) {
    if (m->word_fd < 0) {
        memcpy(row, m->word_emb.data + (size_t)id * d, d * sizeof(float));
        return ENG_OK;
    }
    size_t bytes = d * sizeof(float), got = 0;
    off_t off = (off_t)m->word_off + (off_t)id * (off_t)bytes;
    while (got < bytes) {
        ssize_t r = pread(m->word_fd, (char *)row + got, bytes - got, off + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0) /* the file shrank under the model */
                errno = EIO;
            return ENG_EIO;
        }
        got += (size_t)r;
    }
    return ENG_OK;
}

static int embed(struct eng_ctx *c, const struct eng_batch *b, size_t n_tokens) {
    const struct eng_model *m = c->m;
    const struct eng_model_info *in = &m->info;
    size_t d = (size_t)in->d_model;
    /* Positions: BERT/DistilBERT 0, 1, 2...; RoBERTa as HF's
     * create_position_ids_from_input_ids: pad + cumsum(id != pad), and pad for
     * a pad id itself. */
    size_t t = 0;
    for (size_t s = 0; s < b->n_seqs; s++) {
        int32_t k = 0;
        for (size_t i = 0; i < b->seq_len[s]; i++, t++) {
            if (in->arch == ENG_ARCH_ROBERTA) {
                bool pad = b->ids[t] == in->pad_token_id;
                k += !pad;
                c->pos[t] = pad ? in->pad_token_id : in->pad_token_id + k;
            } else {
                c->pos[t] = (int32_t)i;
            }
        }
    }
    const float *type = m->type_emb.data;
    for (size_t i = 0; i < n_tokens; i++) {
        float *row = c->x + i * d;
        if (word_row(m, b->ids[i], d, row) != ENG_OK)
            return ctx_err(c, ENG_EIO, "reading the word embedding of token %zu (id %d): %s", i,
                           (int)b->ids[i], strerror(errno));
        const float *p = m->pos_emb.data + (size_t)c->pos[i] * d;
        if (type) {
            const float *ty = type + (size_t)(b->type_ids ? b->type_ids[i] : 0) * d;
            for (size_t j = 0; j < d; j++)
                row[j] = (row[j] + ty[j]) + p[j];
        } else {
            for (size_t j = 0; j < d; j++)
                row[j] = row[j] + p[j];
        }
    }
    par_ln(c, c->x, NULL, NULL, m->emb_ln_g.data, m->emb_ln_b.data, n_tokens, d, m->ln_eps);
    return ENG_OK;
}

/* Attention with helper threads: (sequence, head) pairs claimed one at a time
 * (sequences differ in length), each computed by eng_k_attention on the
 * claiming thread's own scratch. */
struct attn_job {
    struct eng_ctx *c;
    const size_t *seq_len;
    size_t n_heads, d_head;
    float scale;
    bool by_head; /* Q|K|V columns head by head (packed weights), else Q | K | V */
};

static void attn_fn(void *arg, size_t b, size_t e, int tid) {
    const struct attn_job *j = arg;
    struct eng_ctx *c = j->c;
    size_t d = j->n_heads * j->d_head;
    size_t per = eng_k_attention_scratch(c->max_seq, j->d_head);
    float *scratch = c->attn_scratch + (size_t)tid * per;
    for (size_t i = b; i < e; i++) {
        size_t s = i / j->n_heads, h = i % j->n_heads, t0 = c->seq_off[s], L = j->seq_len[s];
        /* Q, K, V of head h: (L, d_head) each in the (L, 3d) rows */
        const float *q = c->a + t0 * 3 * d + h * (j->by_head ? 3 * j->d_head : j->d_head);
        size_t kv = j->by_head ? j->d_head : d;
        eng_k_attention(q, q + kv, q + 2 * kv, 3 * d, L, j->d_head, j->scale,
                        c->u + t0 * d + h * j->d_head, d, scratch);
    }
}

/* Attention of sequences seq_len[0 .. n_seqs): Q|K|V rows in c->a (head by head
 * when by_head), output rows in c->u, every (sequence, head) pair by
 * eng_k_attention, on the context's threads when it has helpers. No BLAS: the
 * result is the same whatever the thread count (the OpenBLAS path used with one
 * thread until 2026-11-27 was slower than the kernel and gave other bits).
 * Sequences of one length: the pairs go in one contiguous share per thread, in
 * order, as the Q|K|V product split its columns (whole heads, by_head) or rows
 * (whole sequences) — so a thread mostly reads what it wrote itself, not what
 * sits in another core's cache; lengths that differ: one pair at a time. */
static void attention(struct eng_ctx *c, const size_t *seq_len, size_t n_seqs, bool by_head) {
    const struct eng_model_info *in = &c->m->info;
    size_t d = (size_t)in->d_model, H = (size_t)in->n_heads, dh = d / H;
    size_t t = 0;
    for (size_t s = 0; s < n_seqs; s++) {
        c->seq_off[s] = t;
        t += seq_len[s];
    }
    struct attn_job j = {.c = c,
                         .seq_len = seq_len,
                         .n_heads = H,
                         .d_head = dh,
                         .scale = 1.0f / sqrtf((float)dh),
                         .by_head = by_head};
    size_t pairs = n_seqs * H, chunk = 1, n_threads = (size_t)eng_pool_active(c->helpers);
    bool same = true;
    for (size_t s = 1; s < n_seqs && same; s++)
        same = seq_len[s] == seq_len[0];
    if (same)
        chunk = (pairs + n_threads - 1) / n_threads;
    if (c->helpers)
        eng_pool_run(c->helpers, pairs, chunk, attn_fn, &j);
    else
        attn_fn(&j, 0, pairs, 0);
}

static enum eng_epilogue act_epilogue(enum eng_act act) {
    switch (act) {
    case ENG_ACT_GELU:
        return ENG_EPI_BIAS_GELU;
    case ENG_ACT_GELU_TANH:
        return ENG_EPI_BIAS_GELU_TANH;
    case ENG_ACT_RELU:
        break;
    }
    return ENG_EPI_BIAS_RELU;
}

/* One encoder layer on rows x (m, d) holding sequences seq_len[0 .. n_seqs), weights packed
 * (eng_sgemm_packed on the context's threads): Q|K|V in one product with its bias in the
 * epilogue, the FFN's bias + activation likewise. */
static void layer_chunk_packed(struct eng_ctx *c, const struct eng_layer *W, float *x,
                               const size_t *seq_len, size_t n_seqs, size_t m) {
    const struct eng_model *mo = c->m;
    size_t d = (size_t)mo->info.d_model, ff = (size_t)mo->info.d_ff;
    struct eng_pool *p = c->helpers;
    eng_sgemm_packed(p, &W->pqkv, x, d, m, c->a, 3 * d, W->bqkv, ENG_EPI_BIAS, c->gemm_scratch);
    attention(c, seq_len, n_seqs, true); /* qkv -> u */
    eng_sgemm_packed(p, &W->po, c->u, d, m, c->t, d, NULL, ENG_EPI_NONE, c->gemm_scratch);
    par_ln(c, c->t, W->bo.data, x, W->ln1_g.data, W->ln1_b.data, m, d, mo->ln_eps);
    eng_sgemm_packed(p, &W->p1, c->t, d, m, c->a, ff, W->b1.data, act_epilogue(mo->act),
                     c->gemm_scratch);
    eng_sgemm_packed(p, &W->p2, c->a, ff, m, x, d, NULL, ENG_EPI_NONE, c->gemm_scratch);
    par_ln(c, x, W->b2.data, c->t, W->ln2_g.data, W->ln2_b.data, m, d, mo->ln_eps);
}

/* The same with the weights in place (eng_model_params.pack_weights false): OpenBLAS. */
static void layer_chunk(struct eng_ctx *c, const struct eng_layer *W, float *x,
                        const size_t *seq_len, size_t n_seqs, size_t m) {
    if (W->pqkv.data) {
        layer_chunk_packed(c, W, x, seq_len, n_seqs, m);
        return;
    }
    const struct eng_model *mo = c->m;
    size_t d = (size_t)mo->info.d_model, ff = (size_t)mo->info.d_ff;
    float *qkv = c->a; /* (m, 3d) */
    /* Q, K, V side by side in one (m, 3d) buffer: three sgemms (the weights
     * are separate tensors in the mapping and are not copied to fuse them). */
    eng_gemm_nt(m, d, d, 1.0f, x, d, W->wq.data, d, 0.0f, qkv, 3 * d);
    eng_gemm_nt(m, d, d, 1.0f, x, d, W->wk.data, d, 0.0f, qkv + d, 3 * d);
    eng_gemm_nt(m, d, d, 1.0f, x, d, W->wv.data, d, 0.0f, qkv + 2 * d, 3 * d);
    par_qkv(c, qkv, W->bq.data, W->bk.data, W->bv.data, m, d);
    attention(c, seq_len, n_seqs, false); /* qkv -> u */
    eng_gemm_nt(m, d, d, 1.0f, c->u, d, W->wo.data, d, 0.0f, c->t, d);
    par_ln(c, c->t, W->bo.data, x, W->ln1_g.data, W->ln1_b.data, m, d, mo->ln_eps);
    eng_gemm_nt(m, ff, d, 1.0f, c->t, d, W->w1.data, d, 0.0f, c->a, ff);
    par_act(c, c->a, W->b1.data, m, ff, mo->act);
    eng_gemm_nt(m, d, ff, 1.0f, c->a, ff, W->w2.data, ff, 0.0f, x, d);
    par_ln(c, x, W->b2.data, c->t, W->ln2_g.data, W->ln2_b.data, m, d, mo->ln_eps);
}

static void layer(struct eng_ctx *c, const struct eng_layer *W, const struct eng_batch *b) {
    size_t d = (size_t)c->m->info.d_model, s = 0, row = 0;
    while (s < b->n_seqs) {
        size_t k = 0, m = 0; /* whole sequences while they fit in a chunk */
        while (s + k < b->n_seqs && m + b->seq_len[s + k] <= c->chunk)
            m += b->seq_len[s + k++];
        /* chunk >= max_seq >= every length (check_batch), so k >= 1 */
        if (k == 0)
            abort();
        layer_chunk(c, W, c->x + row * d, b->seq_len + s, k, m);
        s += k;
        row += m;
    }
}

int eng_ctx_forward(struct eng_ctx *c, const struct eng_batch *b, unsigned want,
                    struct eng_output *out) {
    if (!c || !b || !out)
        return ENG_EINVAL;
    c->err[0] = '\0';
    const struct eng_model *m = c->m;
    const struct eng_model_info *in = &m->info;
    size_t n = 0, d = (size_t)in->d_model, S = b->n_seqs;
    int rc = check_batch(c, b, &n);
    if (rc != ENG_OK)
        return rc;
    size_t n_all = (size_t)in->n_layers + 1;
    if ((want & ENG_WANT_ALL_LAYERS) && !c->all) {
        if (!(c->all = alloc_f(n_all, c->max_tokens, d)))
            return ctx_err(c, ENG_ENOMEM, "no memory for the hidden states of every layer");
    }
    memset(out, 0, sizeof *out);
    out->n_seqs = S;
    out->n_tokens = n;
    out->last_hidden = c->x;
    if (n == 0)
        return ENG_OK;
    bool all = want & ENG_WANT_ALL_LAYERS;

    ctx_threads(c);
    if ((rc = embed(c, b, n)) != ENG_OK)
        return rc;
    if (all)
        memcpy(c->all, c->x, n * d * sizeof(float));
    for (int l = 0; l < in->n_layers; l++) {
        layer(c, &m->layers[l], b);
        if (all)
            memcpy(c->all + (size_t)(l + 1) * n * d, c->x, n * d * sizeof(float));
    }
    if (all)
        out->all_layers = c->all;

    bool head = (want & ENG_WANT_HEAD) && in->head != ENG_HEAD_NONE;
    bool seqcls = head && in->head == ENG_HEAD_SEQCLS;
    if (((want & ENG_WANT_POOLER) && in->has_pooler) || seqcls) {
        size_t t = 0;
        for (size_t s = 0; s < S; s++) { /* first token: [CLS] / <s> */
            memcpy(c->cls + s * d, c->x + t * d, d * sizeof(float));
            t += b->seq_len[s];
        }
    }
    if (((want & ENG_WANT_POOLER) || (seqcls && in->arch == ENG_ARCH_BERT)) && in->has_pooler) {
        eng_gemm_nt(S, d, d, 1.0f, c->cls, d, m->pool_w.data, d, 0.0f, c->pool, d);
        eng_k_bias_tanh(c->pool, m->pool_b.data, S, d, true);
        if (want & ENG_WANT_POOLER)
            out->pooler = c->pool;
    }
    if (!head)
        return ENG_OK;
    size_t nl = (size_t)in->n_labels;
    switch (in->head) {
    case ENG_HEAD_SEQCLS: {
        const float *h = c->pool; /* BERT: the pooler */
        if (in->arch != ENG_ARCH_BERT) {
            eng_gemm_nt(S, d, d, 1.0f, c->cls, d, m->pre_w.data, d, 0.0f, c->hid, d);
            if (in->arch == ENG_ARCH_ROBERTA)
                eng_k_bias_tanh(c->hid, m->pre_b.data, S, d, true);
            else
                eng_k_bias_act(c->hid, m->pre_b.data, S, d, ENG_ACT_RELU);
            h = c->hid;
        }
        eng_gemm_nt(S, nl, d, 1.0f, h, d, m->cls_w.data, d, 0.0f, c->logits, nl);
        eng_k_bias_tanh(c->logits, m->cls_b.data, S, nl, false);
        out->logits = c->logits;
        break;
    }
    case ENG_HEAD_TOKCLS:
        eng_gemm_nt(n, nl, d, 1.0f, c->x, d, m->cls_w.data, d, 0.0f, c->logits, nl);
        eng_k_bias_tanh(c->logits, m->cls_b.data, n, nl, false);
        out->logits = c->logits;
        break;
    case ENG_HEAD_QA:
        eng_gemm_nt(n, 2, d, 1.0f, c->x, d, m->cls_w.data, d, 0.0f, c->logits, 2);
        for (size_t i = 0; i < n; i++) {
            c->start[i] = c->logits[2 * i] + m->cls_b.data[0];
            c->end[i] = c->logits[2 * i + 1] + m->cls_b.data[1];
        }
        out->start_logits = c->start;
        out->end_logits = c->end;
        break;
    case ENG_HEAD_NONE:
        break;
    }
    return ENG_OK;
}
