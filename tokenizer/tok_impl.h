/* tok_impl.h — private structures of the tokenizer module.
 *
 * DESIGN. A loaded tokenizer is a tree of plain structs built once by load.c and never
 * written again, so encode threads share it without locks. Each tok_encode call owns a
 * scratch arena (struct tok_arena) for every intermediate string; the only mallocs of
 * the hot path are the arena's blocks and the final encoding.
 *
 * Text moves through the pipeline as "splits": a normalized string plus, for every byte
 * of it, the [start, end) byte range of the original text it comes from (HF's
 * NormalizedString alignments, kept in absolute original coordinates here). */
#ifndef SOCLE_TOK_IMPL_H
#define SOCLE_TOK_IMPL_H

#include "tokenizer/tok.h"

#if defined(__has_include)
#if __has_include("tokenizer/spm_impl.h")
#include "tokenizer/spm_impl.h"
#define TOK_HAVE_SPM_H 1
#endif
#endif
#ifndef TOK_HAVE_SPM_H
struct tok_span {
    uint32_t start, end;
};
#endif

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* ---- arena (per call scratch) ---- */
struct tok_arena_blk;
struct tok_arena {
    struct tok_arena_blk *head;
    bool failed;
};
void *tok_arena_alloc(struct tok_arena *a, size_t n);
void tok_arena_free(struct tok_arena *a);

/* ---- string → int32 hash (open addressing, immutable after build) ---- */
struct tok_hash {
    uint32_t *slots;   /* (cap) index+1 into keys, 0 = empty */
    uint64_t *hashes;  /* (cap) */
    size_t cap, n;
    const char **keys; /* (n) borrowed or owned by the caller */
    uint32_t *klens;   /* (n) */
    int32_t *vals;     /* (n) */
    size_t kcap;
};
uint64_t tok_hash_bytes(const void *p, size_t n);
int tok_hash_init(struct tok_hash *h, size_t expect);
void tok_hash_free(struct tok_hash *h);
/* Insert; if the key is present, its value is replaced. key memory must outlive h. */
int tok_hash_put(struct tok_hash *h, const char *key, size_t len, int32_t val);
int32_t tok_hash_get(const struct tok_hash *h, const char *key, size_t len); /* -1 absent */

/* uint64 → (int32,int32) map for BPE merges */
struct tok_pairent {
    uint64_t key; /* key+1, 0 = empty */
    int32_t rank, newid;
};
struct tok_pairmap {
    struct tok_pairent *e; /* (cap) one cache line holds the key and the value */
    size_t cap, n;
};
int tok_pairmap_init(struct tok_pairmap *m, size_t expect);
void tok_pairmap_free(struct tok_pairmap *m);
int tok_pairmap_put(struct tok_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t newid);
static inline uint64_t tok_mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}
static inline bool tok_pairmap_get(const struct tok_pairmap *m, int32_t a, int32_t b,
                                   int32_t *rank, int32_t *newid) {
    if (!m->cap) return false;
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    size_t j = tok_mix64(key) & (m->cap - 1);
    for (;;) {
        const struct tok_pairent *e = &m->e[j];
        if (e->key == key) {
            *rank = e->rank;
            *newid = e->newid;
            return true;
        }
        if (!e->key) return false;
        j = (j + 1) & (m->cap - 1);
    }
}

/* ---- UTF-8 helpers ---- */
/* Decode one code point at s[0..n); returns its length (1..4). Input is already valid. */
static inline int tok_utf8_dec(const unsigned char *s, int32_t *cp) {
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = (int32_t)c;
        return 1;
    }
    if (c < 0xE0) {
        *cp = (int32_t)(((c & 0x1F) << 6) | (s[1] & 0x3F));
        return 2;
    }
    if (c < 0xF0) {
        *cp = (int32_t)(((c & 0x0F) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3F));
        return 3;
    }
    *cp = (int32_t)(((c & 0x07) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) |
                    (s[3] & 0x3F));
    return 4;
}
static inline int tok_utf8_len(unsigned char c) {
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}
int tok_utf8_enc(int32_t cp, char *out); /* returns 1..4 */
/* Validate; returns true when valid, else *bad = offset of the first bad byte. */
bool tok_utf8_valid(const char *s, size_t n, size_t *bad);
bool tok_is_whitespace(int32_t cp); /* Rust char::is_whitespace (White_Space) */
bool tok_is_punct(int32_t cp);      /* Unicode P* */
bool tok_is_alnum(int32_t cp);      /* Rust char::is_alphanumeric (approx. L* N*) */

/* ---- regex / literal pattern ---- */
struct tok_pattern {
    char *literal; /* non-NULL: literal string */
    size_t lit_len;
    pcre2_code *re; /* else: compiled regex */
};
int tok_pattern_compile(struct tok_pattern *p, const char *s, size_t len, bool regex, char *err,
                        size_t errlen);
void tok_pattern_free(struct tok_pattern *p);
/* Find non-overlapping matches in s[0..n): returns number of matches written as
 * (start,end) pairs into *out (arena memory). */
int tok_pattern_find(const struct tok_pattern *p, const char *s, size_t n, struct tok_arena *a,
                     struct tok_span **out, size_t *n_out);

/* ---- a split: normalized text with alignments ---- */
struct tok_split {
    char *s;              /* (len) normalized bytes, not NUL-terminated */
    struct tok_span *al;  /* (len) original range for each byte */
    uint32_t len;
    uint32_t base;        /* original offset used for text inserted before everything */
    int32_t added_id;     /* >= 0: an added token, already tokenized */
};

/* Transform: rebuild `sp` from (code point, change) pairs as HF's transform_range does over
 * the whole string. changes: 0 replace, +1 insert, -N replace and remove N next chars. */
struct tok_xform {
    int32_t *cps;
    int32_t *chg;
    size_t n, cap;
};
int tok_xform_push(struct tok_xform *x, struct tok_arena *a, int32_t cp, int32_t chg);
int tok_xform_apply(struct tok_split *sp, const struct tok_xform *x, size_t initial_offset,
                    struct tok_arena *a);

/* ---- normalizers ---- */
enum tok_norm_type {
    TOK_NORM_BERT,
    TOK_NORM_NFC,
    TOK_NORM_NFD,
    TOK_NORM_NFKC,
    TOK_NORM_NFKD,
    TOK_NORM_LOWERCASE,
    TOK_NORM_STRIP_ACCENTS,
    TOK_NORM_STRIP,
    TOK_NORM_REPLACE,
    TOK_NORM_PREPEND,
    TOK_NORM_PRECOMPILED,
    TOK_NORM_SEQUENCE,
};
struct tok_normalizer {
    enum tok_norm_type type;
    bool clean_text, handle_chinese, strip_accents, lowercase; /* Bert */
    bool strip_left, strip_right;                               /* Strip */
    struct tok_pattern pattern;                                 /* Replace */
    char *content;                                              /* Replace content / Prepend */
    size_t content_len;
    struct tok_precompiled *precompiled;
    struct tok_normalizer *subs; /* Sequence */
    size_t n_subs;
};
int tok_normalize(const struct tok_normalizer *n, struct tok_split *sp, struct tok_arena *a);
void tok_normalizer_clear(struct tok_normalizer *n);

/* ---- pre-tokenizers ---- */
enum tok_pretok_type {
    TOK_PRE_BERT,
    TOK_PRE_WHITESPACE,
    TOK_PRE_WHITESPACE_SPLIT,
    TOK_PRE_PUNCTUATION,
    TOK_PRE_DIGITS,
    TOK_PRE_METASPACE,
    TOK_PRE_BYTELEVEL,
    TOK_PRE_SPLIT,
    TOK_PRE_SEQUENCE,
};
enum tok_split_behavior {
    TOK_SPLIT_REMOVED,
    TOK_SPLIT_ISOLATED,
    TOK_SPLIT_MERGED_PREV,
    TOK_SPLIT_MERGED_NEXT,
    TOK_SPLIT_CONTIGUOUS,
};
enum tok_prepend_scheme { TOK_PREPEND_ALWAYS, TOK_PREPEND_FIRST, TOK_PREPEND_NEVER };
struct tok_pretok {
    enum tok_pretok_type type;
    enum tok_split_behavior behavior;
    bool invert;
    bool individual_digits;
    bool add_prefix_space, use_regex, trim_offsets; /* ByteLevel */
    int32_t replacement;                            /* Metaspace code point */
    enum tok_prepend_scheme prepend_scheme;
    bool split;
    struct tok_pattern pattern;
    struct tok_pretok *subs;
    size_t n_subs;
};
/* A growable list of splits (arena memory). */
struct tok_splits {
    struct tok_split *v;
    size_t n, cap;
};
int tok_splits_push(struct tok_splits *l, struct tok_arena *a, const struct tok_split *s);
int tok_pretokenize(const struct tok_pretok *p, const struct tok_pattern *bytelevel_re,
                    struct tok_splits *io, struct tok_arena *a);
void tok_pretok_clear(struct tok_pretok *p);
/* Slice [s,e) of a split (copies into arena). */
int tok_split_slice(const struct tok_split *in, uint32_t s, uint32_t e, struct tok_arena *a,
                    struct tok_split *out);
extern const int32_t tok_byte_to_cp[256];

/* ---- models ---- */
enum tok_model_type { TOK_MODEL_WORDPIECE, TOK_MODEL_BPE, TOK_MODEL_UNIGRAM, TOK_MODEL_WORDLEVEL };

/* One model output piece: id, byte range inside the split, token string. */
struct tok_piece {
    int32_t id;
    uint32_t start, end;
    const char *str; /* NUL-terminated: vocab string or arena copy */
};
struct tok_pieces {
    struct tok_piece *v;
    size_t n, cap;
};
int tok_pieces_push(struct tok_pieces *l, struct tok_arena *a, int32_t id, uint32_t s, uint32_t e,
                    const char *str);

struct tok_model {
    enum tok_model_type type;
    struct tok_hash vocab;
    int32_t unk_id;
    /* WordPiece */
    char *prefix; /* continuing_subword_prefix (WordPiece and BPE), may be NULL */
    size_t prefix_len;
    size_t max_chars;
    /* BPE */
    char *suffix;
    size_t suffix_len;
    bool byte_fallback, fuse_unk, ignore_merges;
    struct tok_pairmap merges;
    int32_t byte_ids[256]; /* <0xXX> ids, -1 if absent */
    uint64_t gen;          /* unique per loaded tokenizer: keys per-thread caches */
    bool chunk_meta;       /* BPE words may be cut before "▁" (see bpe.c) */
    int32_t nocut[16];     /* ...except after these chars */
    size_t n_nocut;
    /* Unigram */
    struct tok_unigram *unigram;
};
int tok_model_encode(const struct tok_model *m, const char *const *id_to_tok,
                     const struct tok_split *sp, struct tok_pieces *out, struct tok_arena *a);
int tok_wordpiece_encode(const struct tok_model *m, const char *const *id_to_tok, const char *w,
                         size_t len, struct tok_pieces *out, struct tok_arena *a);
int tok_bpe_encode(const struct tok_model *m, const char *const *id_to_tok, const char *w,
                   size_t len, struct tok_pieces *out, struct tok_arena *a);

/* ---- added tokens ---- */
struct tok_added {
    char *content;
    size_t len;
    int32_t id;
    bool special, lstrip, rstrip, single_word, normalized;
};
/* Byte trie over added token contents (one per normalized flag). */
struct tok_trie {
    struct tok_pairmap edges; /* (node, byte) → child in newid; rank unused */
    int32_t *term;            /* (n_nodes) index into added tokens or -1 */
    size_t n_nodes, cap;
    bool first_byte[256];
};
int tok_trie_add(struct tok_trie *t, const char *s, size_t len, int32_t idx);
void tok_trie_free(struct tok_trie *t);
/* Split `in` on added tokens of trie t (HF AddedVocabulary::find_matches). */
int tok_added_split(const struct tok_tokenizer *tok, const struct tok_trie *t,
                    const struct tok_split *in, struct tok_splits *out, struct tok_arena *a);

/* ---- post-processor ---- */
enum tok_post_type { TOK_POST_NONE, TOK_POST_BERT, TOK_POST_ROBERTA, TOK_POST_TEMPLATE,
                     TOK_POST_BYTELEVEL, TOK_POST_SEQUENCE };
struct tok_tpl_item {
    bool is_special;
    int seq;     /* 0 = A, 1 = B */
    int32_t *ids; /* special: ids */
    char **toks;
    size_t n_ids;
    int32_t type_id;
};
struct tok_post {
    enum tok_post_type type;
    bool trim_offsets, add_prefix_space;
    struct tok_tpl_item *single, *pair;
    size_t n_single, n_pair;
    struct tok_post *subs;
    size_t n_subs;
};
void tok_post_clear(struct tok_post *p);

/* ---- decoders ---- */
enum tok_dec_type { TOK_DEC_WORDPIECE, TOK_DEC_BYTELEVEL, TOK_DEC_METASPACE, TOK_DEC_BYTEFALLBACK,
                    TOK_DEC_FUSE, TOK_DEC_STRIP, TOK_DEC_REPLACE, TOK_DEC_SEQUENCE,
                    TOK_DEC_BPE };
struct tok_decoder {
    enum tok_dec_type type;
    char *prefix; /* WordPiece prefix, BPE suffix */
    size_t prefix_len;
    bool cleanup;
    int32_t replacement;
    enum tok_prepend_scheme prepend_scheme;
    char *pat, *content; /* Replace (literal pattern) */
    size_t pat_len, content_len;
    int32_t strip_cp;
    size_t strip_start, strip_stop;
    struct tok_decoder *subs;
    size_t n_subs;
};
void tok_decoder_clear(struct tok_decoder *d);

/* ---- the tokenizer ---- */
struct tok_truncation {
    bool enabled;
    size_t max_length, stride;
    enum tok_truncation_strategy strategy;
    bool left; /* direction Left */
};
struct tok_tokenizer {
    bool has_normalizer, has_pretok, has_decoder;
    struct tok_normalizer norm;
    struct tok_pretok pretok;
    struct tok_model model;
    struct tok_post post;
    struct tok_decoder dec;
    struct tok_truncation trunc;
    bool pad_enabled;
    int32_t pad_id, pad_type_id;
    char *pad_token;

    struct tok_added *added;
    size_t n_added;
    struct tok_trie trie_raw, trie_norm;
    bool has_trie_raw, has_trie_norm;
    struct tok_hash added_by_content;

    char **id_to_tok; /* (n_ids) NUL-terminated, NULL for holes */
    uint8_t *id_special; /* (n_ids) 1 = special added token (skipped by decode) */
    size_t n_ids;
    char *pool; /* owns vocab strings */

    struct tok_pattern bytelevel_re; /* GPT-2 regex, compiled once when a ByteLevel uses it */
    bool has_bytelevel_re;
    int32_t specials[TOK_SPECIAL_EOS + 1];
    size_t model_max_length; /* tokenizer_config.json, 0 = unknown */
    char name[96];
};

#endif
