/* tok.h — HuggingFace tokenizer.json, reimplemented in C.
 *
 * A loaded tokenizer is immutable: any number of threads may call tok_encode /
 * tok_decode on the same `const struct tok_tokenizer *` at once, without locks.
 * Every function returns an enum tok_status (0 = OK, negative = error); objects
 * come back through out-parameters, set only on success. Nothing here prints.
 *
 * Offsets are [start, end) into the caller's original text, in UTF-8 bytes and in
 * Unicode code points (what Python/HF report). For a pair, tokens of the second
 * text index into the second text (as HF does); sequence_ids say which text.
 *
 * Invalid UTF-8 input is rejected with TOK_EUTF8 and the byte offset of the first
 * bad byte in err_offset (never replaced silently). Embedded NUL bytes are ordinary
 * characters (the length is explicit).
 */
#ifndef SOCLE_TOK_H
#define SOCLE_TOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum tok_status {
    TOK_OK = 0,
    TOK_ENOMEM = -1,       /* allocation failed */
    TOK_EIO = -2,          /* file could not be read */
    TOK_EPARSE = -3,       /* tokenizer.json is not valid JSON or has wrong types */
    TOK_EUNSUPPORTED = -4, /* a component type we do not implement */
    TOK_EINVAL = -5,       /* bad argument or inconsistent file (unknown token in merges…) */
    TOK_EUTF8 = -6,        /* input text is not valid UTF-8 */
    TOK_ETOOSMALL = -7,    /* caller buffer too small; needed size returned */
    TOK_ELIMIT = -8,       /* a size limit was exceeded (vocab size, text length) */
};

/* Static string for a status code; never NULL. */
const char *tok_strerror(int status);

struct tok_tokenizer;

/* Load a tokenizer from `path`: a tokenizer.json file, or a directory holding
 * tokenizer.json (and optionally tokenizer_config.json). On failure, a message
 * naming the problem is written to err (if err != NULL, errlen > 0).
 * The caller owns *out and frees it with tok_tokenizer_free. */
int tok_tokenizer_load(const char *path, struct tok_tokenizer **out, char *err, size_t errlen);

/* Same, from an in-memory JSON document (len bytes, need not be NUL-terminated). */
int tok_tokenizer_load_json(const char *json, size_t len, struct tok_tokenizer **out, char *err,
                            size_t errlen);

void tok_tokenizer_free(struct tok_tokenizer *tok);

enum tok_truncation_strategy {
    TOK_TRUNC_LONGEST_FIRST = 0,
    TOK_TRUNC_ONLY_FIRST = 1,
    TOK_TRUNC_ONLY_SECOND = 2,
};

enum tok_padding {
    TOK_PAD_NONE = 0,
    TOK_PAD_TO_MAX_LENGTH = 1, /* pad to max_length */
};

struct tok_encode_params {
    bool add_special_tokens;  /* apply the post-processor (CLS/SEP, BOS…) */
    /* Truncation. use_file_truncation: apply the "truncation" block of tokenizer.json
     * (HF tokenizers' behaviour); otherwise max_length (0 = no truncation) applies. */
    bool use_file_truncation;
    size_t max_length;        /* total length including special tokens */
    size_t stride;            /* overlap between overflow windows, in tokens */
    enum tok_truncation_strategy strategy;
    bool return_overflowing;  /* keep the cut-off tokens as overflow windows */
    enum tok_padding padding;
};

/* Sensible defaults: add_special_tokens = true, use_file_truncation = true, rest 0. */
struct tok_encode_params tok_encode_params_default(void);

struct tok_offset {
    uint32_t start, end; /* [start, end) */
};

struct tok_encoding {
    size_t n_tokens;
    int32_t *ids;               /* (n_tokens) */
    int32_t *type_ids;          /* (n_tokens) */
    uint8_t *special_mask;      /* (n_tokens) 1 = added by the post-processor */
    uint8_t *attention_mask;    /* (n_tokens) 0 = padding */
    int32_t *word_ids;          /* (n_tokens) -1 = none */
    int8_t *sequence_ids;       /* (n_tokens) 0 first text, 1 second, -1 special/pad */
    struct tok_offset *offsets; /* (n_tokens) UTF-8 bytes */
    struct tok_offset *cp_offsets; /* (n_tokens) Unicode code points */
    char **tokens;              /* (n_tokens) NUL-terminated token strings */
    size_t n_overflowing;
    struct tok_encoding **overflowing; /* (n_overflowing) windows after the first */
};

/* Encode `text` (len bytes), or the pair (text, pair) when pair != NULL.
 * On TOK_EUTF8, *err_offset (if not NULL) receives the byte offset of the first bad
 * byte in the text that holds it (text, or pair when text is valid).
 * The caller owns *out (tok_encoding_free). Thread-safe on a shared tokenizer. */
int tok_encode(const struct tok_tokenizer *tok, const char *text, size_t len, const char *pair,
               size_t pair_len, const struct tok_encode_params *params, struct tok_encoding **out,
               size_t *err_offset);

void tok_encoding_free(struct tok_encoding *enc);

/* Number of tokens `text` encodes to (with specials if add_special_tokens),
 * without truncation; cheaper than a full encoding. */
int tok_count(const struct tok_tokenizer *tok, const char *text, size_t len,
              bool add_special_tokens, size_t *n_tokens, size_t *err_offset);

/* Decode ids back to text through the tokenizer's decoder. *out is malloc'd,
 * NUL-terminated, length in *out_len; the caller frees it. Unknown ids: TOK_EINVAL. */
int tok_decode(const struct tok_tokenizer *tok, const int32_t *ids, size_t n_ids,
               bool skip_special_tokens, char **out, size_t *out_len);

/* Vocabulary including added tokens. */
size_t tok_vocab_size(const struct tok_tokenizer *tok);
/* Token string for an id, or NULL. Pointer valid while tok lives. */
const char *tok_id_to_token(const struct tok_tokenizer *tok, int32_t id);
/* Id for an exact token string, or -1. */
int32_t tok_token_to_id(const struct tok_tokenizer *tok, const char *token);

/* Well-known special tokens as configured (post-processor, padding, tokenizer_config),
 * -1 when the tokenizer has none. */
enum tok_special { TOK_SPECIAL_CLS, TOK_SPECIAL_SEP, TOK_SPECIAL_PAD, TOK_SPECIAL_UNK,
                   TOK_SPECIAL_MASK, TOK_SPECIAL_BOS, TOK_SPECIAL_EOS };
int32_t tok_special_id(const struct tok_tokenizer *tok, enum tok_special which);

/* model_max_length from tokenizer_config.json (loaded next to tokenizer.json by
 * tok_tokenizer_load, which also takes the special token names from it), 0 if unknown. */
size_t tok_model_max_length(const struct tok_tokenizer *tok);

/* Short description of the pipeline, e.g. "WordPiece(30522)" — for `info`. */
const char *tok_model_name(const struct tok_tokenizer *tok);

#ifdef __cplusplus
}
#endif
#endif
