/* task.h — task adapters over one shared model: classify, ner, qa, summarize, embed.
 *
 * Plain C structs in and out: no sockets, no protobuf (daemon/wire.c converts).
 * A task_runtime holds the one loaded model, its tokenizer and the adapter
 * registry; it is shared read-only by every worker. Each worker thread owns a
 * task_worker (engine context + scratch). All functions return enum task_status
 * (0 = OK) and never print.
 */
#ifndef SOCLE_TASK_H
#define SOCLE_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/eng.h"
#include "tokenizer/tok.h"

#ifdef __cplusplus
extern "C" {
#endif

enum task_status {
    TASK_OK = 0,
    TASK_ENOMEM = -1,
    TASK_EINVAL = -2,     /* bad request: empty text, invalid UTF-8, bad option */
    TASK_ENOTFOUND = -3,  /* unknown adapter */
    TASK_EUNIMPL = -4,    /* task not available for this model/adapter */
    TASK_ELIMIT = -5,     /* a configured limit was exceeded */
    TASK_EIO = -6,        /* adapter/model file unreadable */
    TASK_EFORMAT = -7,    /* adapter/model file malformed or inconsistent */
    TASK_EINTERNAL = -8,  /* engine or tokenizer failure that is our bug */
};
const char *task_strerror(int status);

enum task_kind { TASK_CLASSIFY, TASK_NER, TASK_QA, TASK_SUMMARIZE, TASK_EMBED };
const char *task_kind_name(enum task_kind kind);

struct task_runtime;
struct task_worker;

struct task_runtime_params {
    const char *model_dir;    /* HF layout: config.json, model.safetensors, tokenizer.json */
    const char *adapters_dir; /* may be NULL: only the checkpoint's own head, if any */
};

/* Load model, tokenizer and adapters. Caller owns *out (task_runtime_free). */
int task_runtime_open(const struct task_runtime_params *params, struct task_runtime **out,
                      char *err, size_t errlen);
void task_runtime_free(struct task_runtime *rt);
/* Re-read adapters_dir; requests in flight keep the adapter set they started
 * with (reference-counted snapshot). Safe to call from another thread. */
int task_runtime_reload_adapters(struct task_runtime *rt, char *err, size_t errlen);

const struct tok_tokenizer *task_runtime_tokenizer(const struct task_runtime *rt);
const struct eng_model *task_runtime_model(const struct task_runtime *rt);

struct task_adapter_info {
    const char *name;
    enum task_kind kind;
    size_t n_labels;
    const char *const *labels; /* (n_labels) or NULL */
    const char *source;        /* "checkpoint" or the adapter directory */
};
/* Snapshot of the adapter list; *out valid until the next reload (copy what you keep). */
size_t task_runtime_adapters(const struct task_runtime *rt, const struct task_adapter_info **out);

int task_worker_new(const struct task_runtime *rt, size_t max_batch_tokens,
                    struct task_worker **out);
void task_worker_free(struct task_worker *w);

/* ---- requests ---- */

enum task_aggregation { TASK_AGG_NONE, TASK_AGG_SIMPLE, TASK_AGG_FIRST, TASK_AGG_AVERAGE,
                        TASK_AGG_MAX };
enum task_pooling { TASK_POOL_DEFAULT, TASK_POOL_CLS, TASK_POOL_MEAN };

struct task_classify_opts { size_t top_k; /* 0 = all labels */ bool multi_label; };
struct task_ner_opts {
    enum task_aggregation aggregation;
    const char *const *ignore_labels; size_t n_ignore; /* default {"O"} when n_ignore == 0 */
    size_t stride;                                     /* window overlap in tokens, 0 = default */
};
struct task_qa_opts {
    size_t max_seq_len, doc_stride, max_question_len, max_answer_len, top_k; /* 0 = HF default */
    bool handle_impossible_answer;
};
struct task_summarize_opts { size_t max_sentences; float ratio; float mmr_lambda; /* 0 = defaults */ };
struct task_embed_opts { enum task_pooling pooling; bool normalize; };

struct task_request {
    enum task_kind kind;
    const char *adapter;      /* NULL or "" = the default adapter for the task */
    size_t n_texts;
    const char *const *texts; /* (n_texts) UTF-8, lengths below */
    const size_t *text_lens;  /* (n_texts) */
    const char *const *contexts; /* qa only: (n_texts) contexts; texts are the questions */
    const size_t *context_lens;
    union {
        struct task_classify_opts classify;
        struct task_ner_opts ner;
        struct task_qa_opts qa;
        struct task_summarize_opts summarize;
        struct task_embed_opts embed;
    } opts;
};

/* ---- results (one per input text) ---- */

struct task_span { size_t start, end, cp_start, cp_end; }; /* [start,end) bytes and code points */
struct task_label_score { const char *label; float score; };
struct task_entity { char *type; float score; char *word; struct task_span span; int32_t index; };
struct task_answer { char *text; float score; struct task_span span; };
struct task_sentence { struct task_span span; float score; };

struct task_result {
    int status;          /* per-text status; message below when != 0 */
    char *message;
    size_t n_tokens;     /* tokens fed to the model for this text (all windows) */
    bool truncated;      /* some input was cut (never silently) */
    size_t n_items;
    union {
        struct task_label_score *labels; /* classify */
        struct task_entity *entities;    /* ner */
        struct task_answer *answers;     /* qa */
        struct task_sentence *sentences; /* summarize */
        float *embedding;                /* embed: n_items = dim */
    } u;
};

struct task_response {
    enum task_kind kind;
    size_t n_results;
    struct task_result *results; /* (n_results) = n_texts */
    uint64_t tokenize_us, forward_us, post_us;
};

/* Run one request to completion on the caller's worker. A request-level error
 * (unknown adapter, bad options) is returned with a message in err; per-text
 * problems go into results[i].status. Caller owns *out (task_response_free). */
int task_run(const struct task_runtime *rt, struct task_worker *w, const struct task_request *req,
             struct task_response **out, char *err, size_t errlen);
void task_response_free(struct task_response *resp);

/* ---- several tasks, one pass; split execution for a batcher ----
 *
 * task_run_multi runs several requests (e.g. classify + ner on the same texts)
 * as one job: every model input (a window of a text, a sentence, a question/
 * context window) is computed once even when several requests need it; each
 * adapter's head then reads the same hidden states. outs[i] answers reqs[i].
 *
 * The same job can be driven by hand (issue 6's dynamic batcher):
 *   task_job_prepare  tokenize and window every text into model sequences;
 *   task_job_seq      read sequence i (ids, type ids) to put in a batch;
 *   task_job_consume  give sequence i's hidden states (any order, any batching);
 *                     the heads run here, nothing of the hidden states is kept;
 *   task_job_finish   decode everything into responses.
 * A job belongs to one thread at a time; it holds a reference to the adapter set
 * it started with (reloads do not affect it). */
int task_run_multi(const struct task_runtime *rt, struct task_worker *w,
                   const struct task_request *reqs, size_t n_reqs, struct task_response **outs,
                   char *err, size_t errlen);

struct task_job;
struct task_seq {
    size_t n_tokens;
    const int32_t *ids;      /* (n_tokens) valid while the job lives */
    const int32_t *type_ids; /* (n_tokens) */
};

/* Request-level errors (unknown adapter, bad options) fail here with err set;
 * per-text problems are recorded and reported by finish. Caller owns *out. */
int task_job_prepare(const struct task_runtime *rt, const struct task_request *reqs, size_t n_reqs,
                     struct task_job **out, char *err, size_t errlen);
size_t task_job_n_seqs(const struct task_job *job);
void task_job_get_seq(const struct task_job *job, size_t i, struct task_seq *out);
/* enum eng_want flags the job's heads need (ENG_WANT_ALL_LAYERS for layer mixes). */
unsigned task_job_want(const struct task_job *job);
/* Hidden states of sequence i: last (n_tokens, d_model); all_layers, when wanted,
 * holds layer l (0 = embeddings) of token t at all_layers[l * layer_stride + t * d_model]. */
int task_job_consume(struct task_job *job, size_t i, const float *last, const float *all_layers,
                     size_t layer_stride);
/* Run every sequence not yet consumed through the worker's model context, in
 * packed batches of at most the worker's max_batch_tokens (what task_run does). */
int task_job_run(struct task_job *job, struct task_worker *w, char *err, size_t errlen);
/* outs: n_reqs responses (caller frees each with task_response_free). */
int task_job_finish(struct task_job *job, struct task_response **outs, char *err, size_t errlen);
void task_job_free(struct task_job *job);

/* For a batcher that packs sequences of several jobs into one forward (socled's
 * scheduler, issue 6): the worker's batch capacity in tokens and its model
 * context, to call eng_ctx_forward and hand each job its slice via
 * task_job_consume. The context belongs to the worker's thread. */
size_t task_worker_max_tokens(const struct task_worker *w);
struct eng_ctx *task_worker_ctx(struct task_worker *w);

#ifdef __cplusplus
}
#endif
#endif
