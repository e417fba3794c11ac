/* task_impl.h — private pieces of socle_tasks, exposed to tests/tasks/ only.
 *
 * Everything here is pure post-processing (no model, no tokenizer) so it can be
 * unit-tested from hand-computed cases: softmax/top-k, NER decoding and HF's
 * aggregation strategies, window planning and merging, QA span selection,
 * sentence segmentation and MMR sentence selection.
 */
#ifndef SOCLE_TASK_IMPL_H
#define SOCLE_TASK_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tasks/task.h"

/* Limits (documented in docs/tasks.md). */
#define TASK_MAX_TEXT_BYTES ((size_t)16 << 20) /* per input text */
#define TASK_MAX_TOP_K 1000                    /* qa: larger top_k values are clamped */

/* ---- numerics (mathx.c) ---- */

/* In place, numerically stable (max subtracted). n == 0 is a no-op. */
void task_softmax(float *x, size_t n);
void task_sigmoid(float *x, size_t n);
/* Indices of the k largest scores, best first; ties keep the lower index first.
 * k is clamped to n; returns the number written to idx (k entries). */
size_t task_top_k(const float *scores, size_t n, size_t k, size_t *idx);
/* Index of the largest value (first one on ties); n must be > 0. */
size_t task_argmax(const float *x, size_t n);
/* L2-normalize in place (a zero vector stays zero). */
void task_l2_normalize(float *x, size_t n);
float task_dot(const float *a, const float *b, size_t n);
char *task_strndup(const char *s, size_t n);
char *task_strdup(const char *s);
/* Number of code points in s[0..n) (s is valid UTF-8). */
size_t task_utf8_count(const char *s, size_t n);

/* ---- windows (window.c) ---- */

struct task_window {
    size_t start, end;
}; /* [start, end) of the content tokens */

/* Split n content tokens into windows of at most `width` tokens, consecutive
 * windows overlapping by `stride` tokens (HF tokenizers' overflow semantics:
 * window i starts at i * (width - stride)). stride is clamped to width - 1.
 * Returns the number of windows; writes them to out when out != NULL.
 * n == 0 gives one empty window; width == 0 gives 0. */
size_t task_windows_plan(size_t n, size_t width, size_t stride, struct task_window *out);

/* ---- NER (ner.c) ---- */

enum task_scheme { TASK_SCHEME_IOB2, TASK_SCHEME_BIOES };

/* One non-special token of one window, as HF's gather_pre_entities sees it. */
struct task_ner_token {
    int32_t id;
    const char *word;      /* token string, or the original slice for [UNK] */
    struct task_span span; /* into the original text */
    bool is_subword;       /* continues the previous word (HF rules, see ner.c) */
    const float *scores;   /* (n_labels) probabilities after softmax */
    int32_t index;         /* position in its window sequence (HF "index") */
};

/* Join n words (token strings, or already joined words) covering `span` into one
 * string, HF convert_tokens_to_string. *out is malloc'd. NULL join = the WordPiece
 * rule (" ".join(words) with " ##" removed, stripped). */
typedef int (*task_join_fn)(void *ud, const char *const *words, size_t n, struct task_span span,
                            char **out);

struct task_ner_cfg {
    const char *const *labels; /* (n_labels) id2label */
    size_t n_labels;
    enum task_aggregation aggregation;
    enum task_scheme scheme;
    const char *const *ignore; /* labels/groups dropped; NULL/0 = {"O"} */
    size_t n_ignore;
    task_join_fn join;
    void *join_ud;
};

/* HF's is_subword rule. word_aware: the tokenizer model has a continuing-subword
 * prefix (WordPiece): subword iff len(token) != len(slice) in code points.
 * Otherwise: start > 0 and neither text[start-1] nor text[start] is a space. */
bool task_ner_is_subword(const char *text, size_t text_len, const char *token, size_t tok_start,
                         size_t tok_end, bool word_aware);

/* Decode one window's tokens into entities appended to *ents (capacity grows).
 * Entities own their type and word strings (task_entities_free). */
int task_ner_decode(const struct task_ner_token *toks, size_t n_toks,
                    const struct task_ner_cfg *cfg, struct task_entity **ents, size_t *n_ents,
                    size_t *cap);

/* HF aggregate_overlapping_entities: sort by start; among entities whose start falls
 * inside the previous kept one, keep the longer (then the higher score). Dropped
 * entities are freed; *n is updated. */
void task_ner_merge_overlapping(struct task_entity *ents, size_t *n);
void task_entities_free(struct task_entity *ents, size_t n);

/* ---- QA (qa.c) ---- */

struct task_qa_window {
    size_t n;                  /* tokens in the window sequence */
    const float *start_logits; /* (n) */
    const float *end_logits;   /* (n) */
    const uint8_t *is_context; /* (n) 1 = a context token (may be the answer) */
    const uint8_t *is_cls;     /* (n) 1 = CLS token (kept in the softmax, HF p_mask) or NULL */
    size_t ctx_first;          /* absolute index (in the whole context token list) of the
                                  first context token of this window */
};

struct task_qa_cand {
    size_t s, e; /* absolute context-token indices, inclusive */
    float score; /* start_p * end_p */
};

/* HF select_starts_ends + decode_spans over several windows: per window, softmax of
 * start/end logits over context + CLS tokens (others masked with -10000); the null
 * score start_p[0] * end_p[0] is min'ed into *min_null; spans s <= e <= s + max_len - 1
 * inside the context. Keeps the best top_k spans over all windows (one entry per
 * distinct (s, e), its best score), best first. cands has room for top_k entries. */
int task_qa_select(const struct task_qa_window *wins, size_t n_wins, size_t top_k,
                   size_t max_answer_len, float *min_null, struct task_qa_cand *cands,
                   size_t *n_cands);

/* ---- white-space trimming of results (trim.c) ---- */

/* Python str.isspace(): ASCII blanks, U+001C..U+001F, U+0085, categories Zs/Zl/Zp. */
bool task_is_space(int32_t c);
/* Move sp's ends (bytes and code points together) inward past white space of
 * text; an all-white span becomes the empty span at its end. */
void task_span_trim(const char *text, size_t text_len, struct task_span *sp);
/* Strip leading/trailing white space of a NUL-terminated string in place. */
void task_str_trim(char *s);
/* ner: every entity's span and word; qa: every answer's span and text; other
 * kinds untouched. text is the text (ner) or the context (qa) the spans index. */
void task_result_trim(enum task_kind kind, const char *text, size_t text_len,
                      struct task_result *res);

/* ---- sentences (sentences.c) ---- */

/* French/English sentence segmentation. Spans are trimmed of surrounding white
 * space, in bytes and code points. *out is malloc'd (NULL when *n == 0). */
int task_sentences_split(const char *text, size_t len, struct task_span **out, size_t *n);

/* ---- summarization (summarize.c) ---- */

/* MMR over n sentence embeddings (n, d) (normalized here, in place):
 * salience c_i = the given salience[i] (a trained summarize adapter's P(summary)), or when
 * salience is NULL cos(e_i, centroid of the normalized embeddings); greedily pick
 * argmax lambda * c_i - (1 - lambda) * max_{j chosen} cos(e_i, e_j) (ties: lower index).
 * Writes k chosen indices in original (ascending) order and their saliences. */
int task_mmr_select(float *emb, size_t n, size_t d, size_t k, float lambda,
                    const float *salience, size_t *chosen, float *centrality);
/* Number of sentences to keep out of n for the options (0 = defaults). */
size_t task_summary_count(size_t n, size_t max_sentences, float ratio);

/* ---- pooling (summarize.c) ---- */

/* out (d) = mean of rows of h (n, d), or row 0 for CLS. */
void task_pool(const float *h, size_t n, size_t d, enum task_pooling pooling, float *out);

/* ---- adapters and heads (adapter.c, head.c) ---- */

enum task_head_pool { TASK_HPOOL_CLS, TASK_HPOOL_MEAN, TASK_HPOOL_POOLER, TASK_HPOOL_TOKEN };
enum task_head_act { TASK_ACT_TANH, TASK_ACT_GELU, TASK_ACT_RELU };

/* A loaded adapter: metadata + head weights (float32, owned). Immutable once
 * loaded; shared by every worker through the adapter set. */
struct task_head {
    char *name;
    char *source; /* "checkpoint", "builtin" or the adapter directory */
    enum task_kind kind;
    size_t n_labels;
    char **labels; /* (n_labels) */
    bool multi_label;
    enum task_head_pool pool;
    enum task_scheme scheme;
    size_t n_layers; /* entries of layers[]; 0 = last hidden state */
    int *layers;     /* hidden-state indices, 0 = embeddings, -1 = last */
    float *mix;      /* (n_layers) softmaxed scalar-mix weights, or NULL */
    float gamma;
    size_t d_model;
    float *pool_w, *pool_b; /* pooler dense (d_model, d_model), (d_model), pool == POOLER */
    bool mlp;
    enum task_head_act act;
    size_t d_hidden;
    float *dense_w, *dense_b; /* (d_hidden, d_model), (d_hidden) when mlp */
    size_t n_out, d_in;
    float *out_w, *out_b; /* (n_out, d_in), (n_out); NULL for builtin heads */
    size_t score_label;   /* summarize adapters: the label whose probability is the salience */
    /* qa adapters: the windows it was trained on (adapter.json "qa"; 0 = not recorded): the
     * defaults of requests that do not set them */
    size_t qa_max_seq_len, qa_doc_stride, qa_max_question_len;
};

void task_head_free(struct task_head *h);

/* Load <dir>/adapter.json + <dir>/head.safetensors and check them against the
 * model (backbone, shapes, labels). Errors: TASK_EIO, TASK_EFORMAT with a message. */
int task_head_load_dir(const char *dir, const struct eng_model *model, struct task_head **out,
                       char *err, size_t errlen);
/* Same from in-memory parts (json text, safetensors bytes): used by tests. */
int task_head_load_mem(const char *json, size_t json_len, const uint8_t *st, size_t st_len,
                       const char *source, const struct eng_model_info *info,
                       const struct eng_model *model, struct task_head **out, char *err,
                       size_t errlen);
/* The checkpoint's own head (info->head != NONE) as an adapter named "default-<task>". */
int task_head_from_checkpoint(const struct eng_model *model, struct task_head **out, char *err,
                              size_t errlen);
/* A weightless head (embed, summarize). */
int task_head_builtin(enum task_kind kind, struct task_head **out);

/* Hidden states of one sequence as the engine returns them. */
struct task_hidden {
    const float *last;   /* (n_tokens, d_model) */
    const float *layers; /* hidden state l, token t at layers[l * layer_stride + t * d_model],
                            l in 0..n_layers; NULL when not requested */
    size_t layer_stride;
};

/* Apply a head to one sequence of n tokens. classify: out (n_out); ner/qa: out
 * (n, n_out); embed/summarize: out (d_model), pooled with `pooling`. scratch must
 * hold task_head_scratch(h, n) floats. */
size_t task_head_scratch(const struct task_head *h, size_t n);
/* A summarize adapter's salience of a sentence from its pooled vector v (d_model):
 * softmax of the head's outputs, at h->score_label. scratch: task_head_scratch(h, 1). */
float task_head_salience(const struct task_head *h, const float *v, float *scratch);
int task_head_apply(const struct task_head *h, const struct task_hidden *hid, size_t n,
                    int n_model_layers, enum task_pooling pooling, float *scratch, float *out);

/* ---- runtime internals (runtime.c, job.c) ---- */

/* A reference-counted snapshot of the loaded adapters. */
struct task_adapter_set {
    int refs; /* guarded by the runtime's mutex */
    size_t n;
    struct task_head **heads;        /* (n) */
    struct task_adapter_info *infos; /* (n) */
};

struct task_adapter_set *task_runtime_acquire(const struct task_runtime *rt);
void task_runtime_retain(const struct task_runtime *rt, struct task_adapter_set *set);
void task_runtime_release(const struct task_runtime *rt, struct task_adapter_set *set);
/* Default (name NULL/"") or named head for a kind. TASK_ENOTFOUND / TASK_EINVAL
 * (kind mismatch) with a message. */
int task_set_find(const struct task_adapter_set *set, enum task_kind kind, const char *name,
                  const struct task_head **out, char *err, size_t errlen);
bool task_runtime_wordpiece(const struct task_runtime *rt);
size_t task_worker_max_tokens(const struct task_worker *w);
struct eng_ctx *task_worker_ctx(struct task_worker *w);

/* Raw head output of one window of one text (golden tests): classify (1, n_labels);
 * ner (n_tokens, n_labels); qa (n_tokens, 2) start/end interleaved. */
/* Sequence index (task_job_get_seq) of one window of one text. */
int task_job_unit_seq(const struct task_job *job, size_t req, size_t text, size_t win, size_t *seq);
int task_job_unit_output(const struct task_job *job, size_t req, size_t text, size_t win,
                         const float **out, size_t *n_rows, size_t *n_cols);

#endif
