/* readers.h — labelled data sets in the formats users already have.
 *
 * Classification: JSONL ({"text":…, "label":…}, field names configurable) and
 * CSV (RFC 4180 quoting) / TSV (no quoting), with a header or by column index.
 * NER: CoNLL columns (IOB2; WikiANN "en:"/"fr:" token prefixes; WNUT-17 lines
 * holding only whitespace as sentence breaks) and JSONL with character spans.
 * QA: SQuAD JSON v1.1 / v2.0, and the official predictions file {id: answer}.
 *
 * Every reader streams the file, refuses one larger than limits.max_bytes and a
 * line longer than limits.max_line (EV_ELIMIT), so memory stays bounded by the
 * limits, and reports malformed input as EV_EFORMAT with "path:line: what" in
 * err. Nothing prints. Strings in the results are malloc'd and owned by the
 * data set (…_clear frees everything).
 */
#ifndef SOCLE_EVAL_READERS_H
#define SOCLE_EVAL_READERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tools/eval/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ev_limits {
    size_t max_bytes;    /* whole file; 0 = default 512 MiB */
    size_t max_line;     /* one line / record; 0 = default 16 MiB */
    size_t max_examples; /* 0 = no limit */
};

/* ---- label tables ---- */

struct ev_labels {
    size_t n, cap;
    char **names; /* (n) in insertion order */
};
/* Index of name, adding it when absent and add is true; -1 when absent. */
int32_t ev_labels_find(struct ev_labels *l, const char *name, bool add);
/* Sort names (byte order) — gives a label order independent of data order. */
void ev_labels_sort(struct ev_labels *l);
void ev_labels_clear(struct ev_labels *l);

/* ---- classification ---- */

enum ev_cls_format { EV_CLS_AUTO, EV_CLS_JSONL, EV_CLS_CSV, EV_CLS_TSV };

struct ev_cls_read_opts {
    enum ev_cls_format format; /* AUTO: by extension (.jsonl/.json, .csv, else TSV) */
    /* JSONL: keys (default "text", "label"). CSV/TSV: column names, or 0-based
     * indices when no_header; text_field may list several columns separated by
     * ',' whose values are joined with a space (AG News "title,description").
     * Defaults for CSV/TSV without a header: label column 0, text column 1. */
    const char *text_field;
    const char *label_field;
    bool no_header;
    bool label_optional; /* accept examples without a label (label = NULL) */
    struct ev_limits limits;
};

struct ev_cls_example {
    char *text;
    char *label; /* NULL when absent and label_optional */
    size_t line; /* 1-based line of the record, for messages */
};
struct ev_cls_data {
    size_t n, cap;
    struct ev_cls_example *ex;
};

int ev_cls_read(const char *path, const struct ev_cls_read_opts *opts, struct ev_cls_data *out,
                char *err, size_t errlen);
void ev_cls_data_clear(struct ev_cls_data *d);
/* Append one example, taking ownership of text and label (EV_ENOMEM: nothing taken). */
int ev_cls_push(struct ev_cls_data *d, char *text, char *label, size_t line);
/* s ends with suf (file extensions). */
bool ev_ends_with(const char *s, const char *suf);

/* ---- NER: CoNLL ---- */

struct ev_conll_opts {
    int token_col; /* 0-based column of the token (default 0) */
    int tag_col;   /* 0-based column of the tag; -1 = last column (default) */
    /* Token prefix to strip ("fr:"); NULL = auto: if the first token of the file
     * matches [a-z][a-z]:., that prefix is stripped from every token having it. */
    const char *strip_prefix;
    bool no_strip;   /* never strip */
    bool check_iob2; /* reject tags that are not O / B-X / I-X (default on via _default) */
    struct ev_limits limits;
};
struct ev_conll_opts ev_conll_opts_default(void);

struct ev_ner_sentence {
    size_t n;
    char **tokens; /* (n) */
    char **tags;   /* (n) */
    size_t line;   /* 1-based line of the first token */
};
struct ev_ner_data {
    size_t n, cap;
    struct ev_ner_sentence *s;
};

/* Sentences are separated by lines that are empty or hold only whitespace
 * (WNUT-17's single TAB); "-DOCSTART-" lines are skipped. A line with fewer
 * columns than needed is EV_EFORMAT (path:line). */
int ev_conll_read(const char *path, const struct ev_conll_opts *opts, struct ev_ner_data *out,
                  char *err, size_t errlen);
void ev_ner_data_clear(struct ev_ner_data *d);

/* ---- NER: JSONL with character spans ---- */

struct ev_span {
    size_t start, end; /* [start, end) in Unicode code points of text */
    char *label;
};
struct ev_span_doc {
    char *text;
    size_t n_cp; /* code points in text */
    size_t n;
    struct ev_span *spans;
    size_t line;
};
struct ev_span_data {
    size_t n, cap;
    struct ev_span_doc *d;
};
/* One object per line: {"text": "...", "entities": [{"start": s, "end": e,
 * "label": "PER"}, ...]} ("spans" and "type" accepted as synonyms). Spans outside
 * the text or with start >= end: EV_EFORMAT. */
int ev_spans_read(const char *path, const struct ev_limits *limits, struct ev_span_data *out,
                  char *err, size_t errlen);
void ev_span_data_clear(struct ev_span_data *d);

/* Span documents as word-level IOB2 sentences (for training on span data):
 * words are the runs of non-whitespace of the text (Unicode White_Space); a
 * word overlapping an entity gets B-X when it is the first word of that
 * entity, I-X after; a word overlapping none gets O (the first entity wins on
 * overlap). An entity boundary inside a word widens it to the whole word. */
int ev_spans_to_words(const struct ev_span_data *in, struct ev_ner_data *out);

/* ---- QA: SQuAD ---- */

struct ev_qa_item {
    char *id;
    char *question;
    size_t context; /* index into ev_qa_data.contexts */
    size_t n_answers;
    char **answers;        /* (n_answers) texts */
    size_t *answer_starts; /* (n_answers) code point offsets as given */
    bool *offset_ok;       /* (n_answers) context[start:start+len] == text */
    bool impossible;       /* v2.0 is_impossible (then n_answers == 0 normally) */
};
struct ev_qa_data {
    size_t n, cap;
    struct ev_qa_item *q;
    size_t n_contexts, cap_contexts;
    char **contexts;
    size_t n_bad_offsets; /* answers whose answer_start does not point at the text */
    char version[16];
};
/* Parse a SQuAD file (json-c). Answers whose offsets do not match the context
 * are kept (metrics use the texts only) and counted in n_bad_offsets. */
int ev_squad_read(const char *path, const struct ev_limits *limits, struct ev_qa_data *out,
                  char *err, size_t errlen);
void ev_qa_data_clear(struct ev_qa_data *d);

/* The official predictions file: one JSON object {"id": "answer", ...}. */
struct ev_kv {
    char *key, *value;
};
struct ev_kv_map {
    size_t n;
    struct ev_kv *kv; /* sorted by key */
};
int ev_predictions_read(const char *path, const struct ev_limits *limits, struct ev_kv_map *out,
                        char *err, size_t errlen);
const char *ev_kv_get(const struct ev_kv_map *m, const char *key);
void ev_kv_map_clear(struct ev_kv_map *m);

/* Number of code points of valid UTF-8 s (len bytes), or (size_t)-1 if invalid. */
size_t ev_utf8_count(const char *s, size_t len);

#ifdef __cplusplus
}
#endif
#endif
