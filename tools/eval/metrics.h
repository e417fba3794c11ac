/* metrics.h — evaluation metrics for socle adapters (library target socle_metrics).
 *
 * Pure functions over plain C data: no model, no files, no printing. Each metric
 * follows a published reference so that numbers compare with what users get from
 * the Python tools (docs/evaluation.md states every rule and every deviation):
 *   - classification: accuracy, per-class P/R/F1, macro and weighted averages
 *     (scikit-learn's definitions, zero division -> 0);
 *   - NER: entity-level P/R/F1 per type and micro/macro averages, entities taken
 *     with seqeval's strict IOB2 rules (mode="strict", scheme=IOB2) or, as an
 *     option, seqeval's default conlleval-style rules;
 *   - extractive QA: SQuAD v1.1 exact match and token F1 with the official
 *     answer normalization, plus a documented French variant;
 *   - summaries: ROUGE-1/2/L (and Lsum) F-measure with Google rouge_score's
 *     tokenization, optionally with the Porter stemmer (porter.c).
 * All functions return enum ev_status (0 = OK) and are thread-safe (no globals).
 */
#ifndef SOCLE_EVAL_METRICS_H
#define SOCLE_EVAL_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum ev_status {
    EV_OK = 0,
    EV_ENOMEM = -1,
    EV_EINVAL = -2,  /* bad argument, or a tag that the scheme does not allow */
    EV_EIO = -3,     /* file missing or unreadable */
    EV_EFORMAT = -4, /* malformed input file (message says where) */
    EV_ELIMIT = -5,  /* a size limit was exceeded (line, file, sequence length) */
    EV_EUTF8 = -6,   /* text is not valid UTF-8 */
};
const char *ev_strerror(int status);

/* Precision, recall and F1 of one class or entity type. Zero denominators give 0
 * (scikit-learn / seqeval zero_division default). */
struct ev_prf {
    double precision, recall, f1;
    size_t n_true;  /* gold items of this class (support) */
    size_t n_pred;  /* predicted items of this class */
    size_t n_match; /* true positives */
};
/* Fill p/r/f1 from the three counts. */
void ev_prf_compute(struct ev_prf *m);

/* ---- classification ---- */

struct ev_cls_report {
    size_t n_labels, n_examples, n_correct;
    double accuracy;
    /* Averages over the labels that occur in gold or predictions (scikit-learn's
     * default `labels=None`): macro = unweighted mean, weighted = by support. */
    size_t n_present;
    double macro_precision, macro_recall, macro_f1;
    double weighted_f1;
    struct ev_prf *per_label; /* (n_labels) */
    size_t *confusion;        /* (n_labels, n_labels) row = gold, column = predicted */
};

/* Score n examples: gold[i], pred[i] in [0, n_labels). The report's arrays are
 * malloc'd; release with ev_cls_report_clear. EV_EINVAL on an id out of range. */
int ev_cls_score(const int32_t *gold, const int32_t *pred, size_t n, size_t n_labels,
                 struct ev_cls_report *out);
void ev_cls_report_clear(struct ev_cls_report *r);

/* ---- NER (sequence labelling) ---- */

enum ev_ner_mode {
    EV_NER_STRICT, /* seqeval mode="strict", scheme=IOB2: only B-X (I-X)* is an entity */
    EV_NER_CONLL,  /* seqeval default (conlleval): a stray I-X also starts an entity */
};

/* One entity [start, end) in token (or character) units within one sentence. */
struct ev_entity {
    size_t start, end;
    int32_t type; /* index in the scorer's type table */
};

struct ev_ner;

/* A scorer accumulating entity counts over many sentences. Caller owns *out. */
int ev_ner_new(enum ev_ner_mode mode, struct ev_ner **out);
void ev_ner_free(struct ev_ner *s);

/* Intern an entity type name; *type receives its index. */
int ev_ner_type(struct ev_ner *s, const char *name, size_t len, int32_t *type);

/* Decode one tag sequence into entities (types interned in s). Tags are "O",
 * "B-TYPE" or "I-TYPE" ("B"/"I" alone get type "_" as in seqeval). Any other
 * prefix: EV_EINVAL with the bad position in *bad_index (if not NULL).
 * *ents is malloc'd (may be NULL when *n_ents == 0); the caller frees it. */
int ev_ner_decode(struct ev_ner *s, const char *const *tags, size_t n_tags, struct ev_entity **ents,
                  size_t *n_ents, size_t *bad_index);

/* Add one sentence given as gold and predicted tag sequences of equal length.
 * Also counts token accuracy (seqeval accuracy_score). */
int ev_ner_add_tags(struct ev_ner *s, const char *const *gold, const char *const *pred,
                    size_t n_tokens, size_t *bad_index);

/* Word tags from token tags, as HF run_ner labels words (each word takes its
 * first sub-token's tag, by word_ids). Words have ascending code point spans
 * [ws[w], we[w]); tokens, in text order, spans [ts[t], te[t]) and tags. A token
 * belongs to the first word that ends after the token starts: it overlaps that
 * word or lies in the white space before it (a lone SentencePiece "▁" piece,
 * whose span is the space, or empty at the word's start once trimmed; HF gives
 * it the next word's id). word_tags[w] = the tag of word w's first token when that
 * token starts at or before the word (a token starting inside a word is not its
 * first sub-token), else NULL. Pointers alias tags. Tokens with no word are
 * ignored. The same rule as socle-train's tr_word_first_tokens. */
void ev_ner_word_tags(const size_t *ws, const size_t *we, size_t n_words, const size_t *ts,
                      const char *const *tags, size_t n_tok, const char **word_tags);

/* Add one document given as entity lists (e.g. character spans). Entities match
 * when start, end and type are all equal; duplicates in a list count once. */
int ev_ner_add_entities(struct ev_ner *s, const struct ev_entity *gold, size_t n_gold,
                        const struct ev_entity *pred, size_t n_pred);

struct ev_ner_report {
    size_t n_types;
    const char **type_names; /* (n_types) sorted by name; strings owned by the scorer */
    struct ev_prf *per_type; /* (n_types) in the same order */
    struct ev_prf micro;     /* over all entities */
    double macro_precision, macro_recall, macro_f1; /* mean over types */
    size_t n_tokens, n_tokens_correct;              /* token accuracy (tag input only) */
    double token_accuracy;
    size_t n_sentences;
};
/* Compute the report. per_type is malloc'd: release with ev_ner_report_clear;
 * type_names stays valid while the scorer lives. */
int ev_ner_report(const struct ev_ner *s, struct ev_ner_report *out);
void ev_ner_report_clear(struct ev_ner_report *r);

/* The memorisation baseline (tools/socle_mini/baselines.py's ner_memo): each word
 * gets the tag it had most often in training (ties: the tag seen first with it),
 * an unseen word O; an I-X that continues no X entity becomes B-X. */
struct ev_ner_memo;
int ev_ner_memo_new(struct ev_ner_memo **out);
void ev_ner_memo_free(struct ev_ner_memo *m);
/* Count one training (word, tag) pair. */
int ev_ner_memo_add(struct ev_ner_memo *m, const char *word, const char *tag);
/* Predict tags[0..n) (each malloc'd; the caller frees them) for words[0..n). */
int ev_ner_memo_predict(const struct ev_ner_memo *m, const char *const *words, size_t n,
                        char **tags);

/* ---- extractive QA (SQuAD) ---- */

enum ev_lang { EV_LANG_EN, EV_LANG_FR };

/* SQuAD answer normalization. EV_LANG_EN is the official v1.1 script exactly:
 * lowercase, delete ASCII punctuation, replace the words a/an/the by a space,
 * collapse whitespace. EV_LANG_FR: see docs/evaluation.md. *out is malloc'd and
 * NUL-terminated. EV_EUTF8 on invalid UTF-8. */
int ev_squad_normalize(const char *s, size_t len, enum ev_lang lang, char **out, size_t *out_len);

/* Exact match and token F1 (both in [0, 1]) of a prediction against the best of
 * n_gold gold answers. v2: SQuAD 2.0 rule for empty answers (both empty = 1);
 * otherwise v1.1's (an empty side scores F1 0). n_gold == 0 counts as one
 * empty gold answer (a SQuAD 2.0 impossible question). */
int ev_squad_score(const char *pred, size_t pred_len, const char *const *golds,
                   const size_t *gold_lens, size_t n_gold, enum ev_lang lang, bool v2, double *em,
                   double *f1);

/* The "sentence overlap" QA baseline (tools/socle_mini/baselines.py's qa_overlap):
 * the context sentence (split at white space after . ! ?) sharing most lowercased
 * words (Python \w runs) with the question, the first on ties; the answer is its
 * longest run of white-space separated tokens that hold a word and no question
 * word, tokens joined by one space ("" when none). *answer is malloc'd. */
int ev_qa_overlap_answer(const char *question, size_t qlen, const char *context, size_t clen,
                         char **answer);

/* ---- summaries (ROUGE) ---- */

enum ev_stemmer {
    EV_STEM_NONE,        /* rouge_score's default (use_stemmer=False) */
    EV_STEM_PORTER,      /* Porter (1980) as published: ROUGE-1.5.5's -m */
    EV_STEM_PORTER_NLTK, /* NLTK's default Porter mode: rouge_score use_stemmer=True */
};

/* Stem one lowercase ASCII word word[0..len) in place (word must hold len + 1
 * bytes: the stem is NUL-terminated). Returns the stem's length (<= len). Other
 * bytes (digits) count as consonants, as in the reference implementations. */
size_t ev_porter_stem(char *word, size_t len, enum ev_stemmer mode);

struct ev_rouge_opts {
    bool unicode;         /* false: rouge_score's tokenizer (ASCII a-z0-9 only);
                             true: Unicode letters and digits, lowercased (for French) */
    enum ev_stemmer stem; /* applied, as rouge_score does, to tokens longer than 3
                             characters; tokens with non-ASCII letters are kept as is */
};
enum ev_rouge_kind { EV_ROUGE_1, EV_ROUGE_2, EV_ROUGE_L, EV_ROUGE_LSUM, EV_ROUGE_COUNT };
struct ev_rouge_score {
    double precision, recall, fmeasure;
};

/* ROUGE-1, ROUGE-2, ROUGE-L and ROUGE-Lsum of a candidate against one reference.
 * Lsum splits both texts into sentences on newlines (rouge_score's rule).
 * EV_ELIMIT when len(candidate) * len(reference) tokens exceeds 64 M. */
int ev_rouge(const char *cand, size_t cand_len, const char *ref, size_t ref_len,
             const struct ev_rouge_opts *opts, struct ev_rouge_score out[EV_ROUGE_COUNT]);

/* Tokenize as ev_rouge does (exposed for tests): tokens are written as one
 * NUL-separated, malloc'd buffer *buf holding *n_tokens tokens. */
int ev_rouge_tokenize(const char *text, size_t len, const struct ev_rouge_opts *opts, char **buf,
                      size_t *n_tokens);

#ifdef __cplusplus
}
#endif
#endif
