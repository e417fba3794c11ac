/* trainer.h — adapter heads trained on frozen features (library socle_train_core).
 *
 * Everything here works on feature vectors already computed by the frozen model,
 * so it needs neither the engine nor the tokenizer and is tested on its own:
 * head forward/backward (linear or one-hidden-layer MLP, optional scalar mix of
 * several layers), softmax cross-entropy, AdamW with linear warm-up and decay,
 * the epoch loop with early stopping, and the adapter writer (docs/adapters.md).
 *
 * Reproducibility: one explicit 64-bit seed drives initialisation and shuffling
 * (splitmix64, no global state); every sum runs in a fixed order on one thread,
 * so equal inputs and seed give bit-identical heads. Nothing here prints; the
 * caller gets progress through a callback.
 */
#ifndef SOCLE_TRAIN_TRAINER_H
#define SOCLE_TRAIN_TRAINER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum tr_status {
    TR_OK = 0,
    TR_ENOMEM = -1,
    TR_EINVAL = -2,
    TR_EIO = -3,
    TR_ELIMIT = -4,
};
const char *tr_strerror(int status);

enum tr_act { TR_ACT_TANH, TR_ACT_GELU, TR_ACT_RELU };

struct tr_head_cfg {
    size_t d_model;  /* feature width of one layer */
    size_t n_mix;    /* layers per example; > 1 = learned scalar mix (softmax weights, gamma) */
    bool mlp;        /* dense + activation before the output layer */
    size_t d_hidden; /* mlp width */
    enum tr_act act;
    size_t n_out; /* classes */
};

/* Parameters live in one flat array so the optimizer is one loop:
 *   [mix_w (n_mix), gamma (1)]       when n_mix > 1
 *   [w1 (d_hidden, d_model), b1]     when mlp
 *   [w2 (n_out, d_in), b2 (n_out)]   d_in = mlp ? d_hidden : d_model
 * Matrices are row-major (out, in) as HF nn.Linear stores them. */
struct tr_head {
    struct tr_head_cfg cfg;
    size_t n_params;
    float *params;
    uint8_t *decay; /* (n_params) 1 = AdamW weight decay applies (matrices only) */
    float *mix_w, *gamma, *w1, *b1, *w2, *b2; /* views into params (NULL when absent) */
};

/* Initialise: matrices N(0, 0.02) (HF initializer_range), biases and mix
 * weights 0, gamma 1. Caller owns *out (tr_head_free). */
int tr_head_new(const struct tr_head_cfg *cfg, uint64_t seed, struct tr_head **out);
void tr_head_free(struct tr_head *h);

/* Scratch for one example (tr_scratch_new sizes it from the config). */
struct tr_scratch;
int tr_scratch_new(const struct tr_head_cfg *cfg, struct tr_scratch **out);
void tr_scratch_free(struct tr_scratch *s);

/* logits (n_out) of one example whose features are feats (n_mix, d_model). */
void tr_head_forward(const struct tr_head *h, const float *feats, float *logits,
                     struct tr_scratch *s);
/* Cross-entropy loss of one example with gold class y; adds scale * dloss/dparams
 * to grad (n_params). Returns the loss (natural log). */
double tr_head_backward(const struct tr_head *h, const float *feats, int32_t y, double scale,
                        double *grad, struct tr_scratch *s);

/* Linear warm-up over warmup steps then linear decay to 0 at total
 * (HF get_linear_schedule_with_warmup). step counts from 0. */
double tr_lr_at(size_t step, size_t total, size_t warmup, double base);

struct tr_adamw {
    double beta1, beta2, eps, weight_decay;
    uint64_t t;
    double *m, *v; /* (n_params) */
};
int tr_adamw_init(struct tr_adamw *o, size_t n_params, double weight_decay);
void tr_adamw_clear(struct tr_adamw *o);
/* One decoupled-weight-decay Adam step (torch.optim.AdamW semantics). */
void tr_adamw_step(struct tr_adamw *o, struct tr_head *h, const double *grad, double lr);

/* Multi-label: independent sigmoids, binary cross-entropy summed over the
 * n_out labels (torch BCEWithLogitsLoss(reduction="sum") per example, so a batch
 * mean is the mean over examples). targets (n_out) are 0/1. Returns the loss. */
double tr_head_backward_multi(const struct tr_head *h, const float *feats, const uint8_t *targets,
                              double scale, double *grad, struct tr_scratch *s);

/* QA span head (n_out == 2: row 0 start, row 1 end) over the n_tok token rows of
 * one window, feats (n_tok, n_mix, d_model): start and end logits are softmaxed
 * over the window's tokens, loss = (CE(start) + CE(end)) / 2, as HF
 * *ForQuestionAnswering (a window without the answer targets token 0, [CLS]).
 * work holds 2 * n_tok doubles. Adds scale * dloss/dparams to grad. */
double tr_span_backward(const struct tr_head *h, const float *feats, size_t n_tok, int32_t start,
                        int32_t end, double scale, double *grad, struct tr_scratch *s,
                        double *work);

/* ---- the epoch loop ---- */

enum tr_loss {
    TR_LOSS_SOFTMAX = 0, /* one class per row: label */
    TR_LOSS_SIGMOID,     /* multi-label: targets (n, n_out); label < 0 still skips a row */
    TR_LOSS_SPAN,        /* QA: example i = rows [row_off[i], row_off[i+1]), label = start,
                            label_end = end (token indices inside the example) */
};

struct tr_data {
    size_t n;             /* examples */
    const float *feats;   /* (rows, n_mix, d_model); rows = n unless TR_LOSS_SPAN */
    const int32_t *label; /* (n); < 0 = ignored */
    enum tr_loss loss;
    const uint8_t *targets;   /* sigmoid: (n, n_out) 0/1 */
    const int32_t *label_end; /* span: (n) */
    const size_t *row_off;    /* span: (n + 1) */
};

struct tr_epoch_info {
    size_t epoch, n_epochs;
    size_t step, total_steps;
    double loss;       /* mean training loss of the epoch (or running, mid-epoch) */
    double dev_metric; /* from the callback; -1 when none */
    bool improved;
    double seconds; /* epoch wall time */
    double examples_per_s;
    bool end_of_epoch; /* false: a mid-epoch progress tick */
};

struct tr_fit_opts {
    size_t epochs; /* maximum */
    size_t batch_size;
    double lr, weight_decay, warmup_ratio;
    size_t patience; /* epochs without dev improvement before stopping; 0 = never */
    uint64_t seed;
    /* Dev metric of the current head (higher is better, e.g. minus a loss); NULL =
     * no early stopping. */
    double (*dev_metric)(const struct tr_head *h, void *ud);
    void *dev_ud;
    void (*progress)(const struct tr_epoch_info *e, void *ud);
    void *progress_ud;
};

struct tr_fit_result {
    size_t epochs_run, best_epoch;
    double best_dev, final_loss, first_loss;
};

/* Train h in place on data; on return h holds the parameters of the best dev
 * epoch (the last epoch when there is no dev callback). */
int tr_fit(struct tr_head *h, const struct tr_data *data, const struct tr_fit_opts *o,
           struct tr_fit_result *res);

/* Index of the largest logit (first on ties). */
size_t tr_argmax(const float *x, size_t n);

/* NER labels go on each word's first token, as HF run_ner's word_ids give it:
 * word_tok[w] = the first non-special token whose byte start tok_start lies at or
 * after the end of word w-1 and before word_end[w], i.e. one that overlaps word w
 * or lies in the white space before it; -1 when the word was truncated away.
 * Only starts matter (words are joined by single spaces, so a token never spans
 * two words); socle-eval's ev_ner_word_tags applies the same rule. Spans ascend.
 * Metaspace and byte-level tokens may carry the preceding space ("▁Paris" starts
 * on the space), and a lone "▁" piece covers only the space yet belongs to the
 * word after it (same word id in HF). */
void tr_word_first_tokens(const uint32_t *tok_start, const uint8_t *special, size_t n_tokens,
                          const size_t *word_end, size_t n_words, int32_t *word_tok);

/* ---- adapter files (docs/adapters.md) ---- */

struct tr_adapter_meta {
    const char *name, *task; /* task: "classify" | "ner" | "qa" */
    const char *model_type;
    int d_model, n_layers, vocab_size;
    size_t n_labels;
    const char *const *labels;
    const char *pooling; /* classify: "cls" | "mean" | "pooler"; NULL otherwise */
    const int *layers;   /* (n_layer_idx) hidden-state indices (-1 = last) */
    size_t n_layer_idx;
    const char *scheme;     /* ner: "IOB2" */
    const char *extra_json; /* optional: a JSON object merged in as "training" */
    bool multi_label;       /* classify: independent sigmoids ("multi_label": true) */
    /* qa: the windows trained on, written as "qa": {...} when qa_max_seq_len > 0 */
    size_t qa_max_seq_len, qa_doc_stride, qa_max_question_len;
};

/* Write <dir>/adapter.json and <dir>/head.safetensors (the directory is created
 * when missing). err gets a message on failure. */
int tr_adapter_write(const char *dir, const struct tr_adapter_meta *meta, const struct tr_head *h,
                     char *err, size_t errlen);

/* Serialize the head tensors as safetensors bytes (malloc'd *out, *len): the
 * writer's core, exposed for tests. */
int tr_head_safetensors(const struct tr_head *h, uint8_t **out, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
