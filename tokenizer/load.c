/* load.c — tokenizer.json → struct tok_tokenizer.
 *
 * DESIGN. json-c parses the whole document in one pass (json_tokener on the file buffer:
 * Gemma 3's 33 MB file in a fraction of a second); we then copy every vocabulary string
 * into one pool and build hash tables, and free the JSON tree. Every field read checks its
 * JSON type: a hostile file gets TOK_EPARSE / TOK_EINVAL / TOK_ELIMIT with a message
 * naming the field, never a crash. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>
#include <stdatomic.h>

#include "tokenizer/tok_fastjson.h"
#include "tokenizer/tok_impl.h"

#define TOK_MAX_VOCAB (1u << 22)     /* 4M ids: 16× the largest vocabulary in use */
#define TOK_MAX_FILE ((size_t)1 << 30) /* 1 GiB */

struct ld {
    char *err;
    size_t errlen;
};

static int fail(struct ld *L, int rc, const char *fmt, ...) {
    if (L->err && L->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(L->err, L->errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static json_object *get(json_object *o, const char *k) {
    json_object *v = NULL;
    if (!o || !json_object_is_type(o, json_type_object)) return NULL;
    if (!json_object_object_get_ex(o, k, &v)) return NULL;
    return v; /* NULL for JSON null too */
}

static bool is_str(json_object *o) {
    return o && json_object_is_type(o, json_type_string);
}

static bool get_bool(json_object *o, const char *k, bool def) {
    json_object *v = get(o, k);
    if (!v || !json_object_is_type(v, json_type_boolean)) return def;
    return json_object_get_boolean(v);
}

static int get_str(struct ld *L, json_object *o, const char *k, const char **s, size_t *len,
                   bool required) {
    json_object *v = get(o, k);
    if (!v) {
        if (required) return fail(L, TOK_EPARSE, "missing string field \"%s\"", k);
        *s = NULL;
        *len = 0;
        return TOK_OK;
    }
    if (!is_str(v)) return fail(L, TOK_EPARSE, "field \"%s\" must be a string", k);
    *s = json_object_get_string(v);
    *len = (size_t)json_object_get_string_len(v);
    return TOK_OK;
}

static char *dupn(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

static int32_t first_cp(const char *s, size_t n) {
    if (!n) return -1;
    int32_t c;
    size_t bad;
    if (!tok_utf8_valid(s, n, &bad)) return -1;
    tok_utf8_dec((const unsigned char *)s, &c);
    return c;
}

static const char *type_of(json_object *o) {
    json_object *t = get(o, "type");
    return is_str(t) ? json_object_get_string(t) : NULL;
}

/* ---- pattern {"String": s} | {"Regex": r} ---- */
static int load_pattern(struct ld *L, json_object *o, struct tok_pattern *p) {
    const char *s;
    size_t n;
    json_object *v;
    if ((v = get(o, "String")) && is_str(v)) {
        s = json_object_get_string(v);
        n = (size_t)json_object_get_string_len(v);
        return tok_pattern_compile(p, s, n, false, NULL, 0);
    }
    if ((v = get(o, "Regex")) && is_str(v)) {
        s = json_object_get_string(v);
        n = (size_t)json_object_get_string_len(v);
        char msg[200];
        int rc = tok_pattern_compile(p, s, n, true, msg, sizeof msg);
        if (rc) return fail(L, rc, "pattern: %s", msg);
        return TOK_OK;
    }
    return fail(L, TOK_EPARSE, "pattern must be {\"String\": …} or {\"Regex\": …}");
}

/* ---- normalizers ---- */
static int load_norm(struct ld *L, json_object *o, struct tok_normalizer *n, int depth) {
    const char *t = type_of(o);
    memset(n, 0, sizeof *n);
    if (!t) return fail(L, TOK_EPARSE, "normalizer without a \"type\"");
    if (depth > 8) return fail(L, TOK_EPARSE, "normalizers nested too deep");
    int rc;
    if (!strcmp(t, "BertNormalizer")) {
        n->type = TOK_NORM_BERT;
        n->clean_text = get_bool(o, "clean_text", true);
        n->handle_chinese = get_bool(o, "handle_chinese_chars", true);
        n->lowercase = get_bool(o, "lowercase", true);
        json_object *sa = get(o, "strip_accents");
        n->strip_accents = sa && json_object_is_type(sa, json_type_boolean)
                               ? json_object_get_boolean(sa)
                               : n->lowercase;
    } else if (!strcmp(t, "NFC")) {
        n->type = TOK_NORM_NFC;
    } else if (!strcmp(t, "NFD")) {
        n->type = TOK_NORM_NFD;
    } else if (!strcmp(t, "NFKC")) {
        n->type = TOK_NORM_NFKC;
    } else if (!strcmp(t, "NFKD")) {
        n->type = TOK_NORM_NFKD;
    } else if (!strcmp(t, "Lowercase")) {
        n->type = TOK_NORM_LOWERCASE;
    } else if (!strcmp(t, "StripAccents")) {
        n->type = TOK_NORM_STRIP_ACCENTS;
    } else if (!strcmp(t, "Strip")) {
        n->type = TOK_NORM_STRIP;
        n->strip_left = get_bool(o, "strip_left", true);
        n->strip_right = get_bool(o, "strip_right", true);
    } else if (!strcmp(t, "Replace") || !strcmp(t, "Prepend")) {
        const char *s;
        size_t len;
        bool rep = t[0] == 'R';
        n->type = rep ? TOK_NORM_REPLACE : TOK_NORM_PREPEND;
        if ((rc = get_str(L, o, rep ? "content" : "prepend", &s, &len, true))) return rc;
        if (!(n->content = dupn(s, len))) return TOK_ENOMEM;
        n->content_len = len;
        if (rep) {
            json_object *p = get(o, "pattern");
            if ((rc = load_pattern(L, p, &n->pattern))) return rc;
        }
    } else if (!strcmp(t, "Precompiled")) {
        n->type = TOK_NORM_PRECOMPILED;
        const char *s;
        size_t len;
        if ((rc = get_str(L, o, "precompiled_charsmap", &s, &len, false))) return rc;
#ifdef TOK_HAVE_PRECOMPILED
        if (s && len) {
            rc = tok_precompiled_new_base64(s, len, &n->precompiled);
            if (rc) return fail(L, rc, "precompiled_charsmap: %s", tok_strerror(rc));
        } else {
            n->type = TOK_NORM_SEQUENCE; /* an empty charsmap does nothing */
        }
#else
        if (s && len) return fail(L, TOK_EUNSUPPORTED, "Precompiled normalizer not built in");
        n->type = TOK_NORM_SEQUENCE;
#endif
    } else if (!strcmp(t, "Sequence")) {
        n->type = TOK_NORM_SEQUENCE;
        json_object *a = get(o, "normalizers");
        if (!a || !json_object_is_type(a, json_type_array))
            return fail(L, TOK_EPARSE, "Sequence normalizer needs a \"normalizers\" array");
        size_t k = json_object_array_length(a);
        if (k > 64) return fail(L, TOK_ELIMIT, "too many normalizers");
        n->subs = calloc(k ? k : 1, sizeof *n->subs);
        if (!n->subs) return TOK_ENOMEM;
        n->n_subs = k;
        for (size_t i = 0; i < k; i++)
            if ((rc = load_norm(L, json_object_array_get_idx(a, i), &n->subs[i], depth + 1)))
                return rc;
    } else {
        return fail(L, TOK_EUNSUPPORTED, "normalizer type \"%s\" is not supported", t);
    }
    return TOK_OK;
}

static int parse_behavior(struct ld *L, json_object *o, enum tok_split_behavior *b,
                          enum tok_split_behavior def) {
    json_object *v = get(o, "behavior");
    *b = def;
    if (!v) return TOK_OK;
    if (!is_str(v)) return fail(L, TOK_EPARSE, "\"behavior\" must be a string");
    const char *s = json_object_get_string(v);
    if (!strcmp(s, "Removed")) *b = TOK_SPLIT_REMOVED;
    else if (!strcmp(s, "Isolated")) *b = TOK_SPLIT_ISOLATED;
    else if (!strcmp(s, "MergedWithPrevious")) *b = TOK_SPLIT_MERGED_PREV;
    else if (!strcmp(s, "MergedWithNext")) *b = TOK_SPLIT_MERGED_NEXT;
    else if (!strcmp(s, "Contiguous")) *b = TOK_SPLIT_CONTIGUOUS;
    else return fail(L, TOK_EPARSE, "unknown split behavior \"%s\"", s);
    return TOK_OK;
}

static int parse_metaspace(struct ld *L, json_object *o, int32_t *rep,
                           enum tok_prepend_scheme *ps, bool *split) {
    const char *s;
    size_t n;
    int rc;
    if ((rc = get_str(L, o, "replacement", &s, &n, false))) return rc;
    *rep = s ? first_cp(s, n) : 0x2581;
    if (*rep < 0) return fail(L, TOK_EPARSE, "Metaspace replacement must be one char");
    *ps = TOK_PREPEND_ALWAYS;
    json_object *v = get(o, "prepend_scheme");
    if (is_str(v)) {
        const char *p = json_object_get_string(v);
        if (!strcmp(p, "always")) *ps = TOK_PREPEND_ALWAYS;
        else if (!strcmp(p, "first")) *ps = TOK_PREPEND_FIRST;
        else if (!strcmp(p, "never")) *ps = TOK_PREPEND_NEVER;
        else return fail(L, TOK_EPARSE, "unknown prepend_scheme \"%s\"", p);
    } else if (get(o, "add_prefix_space")) {
        *ps = get_bool(o, "add_prefix_space", true) ? TOK_PREPEND_ALWAYS : TOK_PREPEND_NEVER;
    }
    if (split) *split = get_bool(o, "split", true);
    return TOK_OK;
}

static int need_bytelevel_re(struct tok_tokenizer *tok, struct ld *L) {
    if (tok->has_bytelevel_re) return TOK_OK;
    static const char re[] =
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
    char msg[200];
    int rc = tok_pattern_compile(&tok->bytelevel_re, re, sizeof re - 1, true, msg, sizeof msg);
    if (rc) return fail(L, rc, "%s", msg);
    tok->has_bytelevel_re = true;
    return TOK_OK;
}

static int load_pretok(struct ld *L, struct tok_tokenizer *tok, json_object *o,
                       struct tok_pretok *p, int depth) {
    const char *t = type_of(o);
    memset(p, 0, sizeof *p);
    if (!t) return fail(L, TOK_EPARSE, "pre_tokenizer without a \"type\"");
    if (depth > 8) return fail(L, TOK_EPARSE, "pre_tokenizers nested too deep");
    int rc;
    if (!strcmp(t, "BertPreTokenizer")) {
        p->type = TOK_PRE_BERT;
    } else if (!strcmp(t, "Whitespace")) {
        p->type = TOK_PRE_WHITESPACE;
        static const char re[] = "\\w+|[^\\w\\s]+";
        if ((rc = tok_pattern_compile(&p->pattern, re, sizeof re - 1, true, NULL, 0))) return rc;
    } else if (!strcmp(t, "WhitespaceSplit")) {
        p->type = TOK_PRE_WHITESPACE_SPLIT;
    } else if (!strcmp(t, "Punctuation")) {
        p->type = TOK_PRE_PUNCTUATION;
        if ((rc = parse_behavior(L, o, &p->behavior, TOK_SPLIT_ISOLATED))) return rc;
    } else if (!strcmp(t, "Digits")) {
        p->type = TOK_PRE_DIGITS;
        p->individual_digits = get_bool(o, "individual_digits", false);
    } else if (!strcmp(t, "Metaspace")) {
        p->type = TOK_PRE_METASPACE;
        if ((rc = parse_metaspace(L, o, &p->replacement, &p->prepend_scheme, &p->split)))
            return rc;
    } else if (!strcmp(t, "ByteLevel")) {
        p->type = TOK_PRE_BYTELEVEL;
        p->add_prefix_space = get_bool(o, "add_prefix_space", true);
        p->use_regex = get_bool(o, "use_regex", true);
        p->trim_offsets = get_bool(o, "trim_offsets", true);
        if (p->use_regex && (rc = need_bytelevel_re(tok, L))) return rc;
    } else if (!strcmp(t, "Split")) {
        p->type = TOK_PRE_SPLIT;
        if ((rc = load_pattern(L, get(o, "pattern"), &p->pattern))) return rc;
        if ((rc = parse_behavior(L, o, &p->behavior, TOK_SPLIT_ISOLATED))) return rc;
        p->invert = get_bool(o, "invert", false);
    } else if (!strcmp(t, "Sequence")) {
        p->type = TOK_PRE_SEQUENCE;
        json_object *a = get(o, "pretokenizers");
        if (!a || !json_object_is_type(a, json_type_array))
            return fail(L, TOK_EPARSE, "Sequence pre_tokenizer needs a \"pretokenizers\" array");
        size_t k = json_object_array_length(a);
        if (k > 64) return fail(L, TOK_ELIMIT, "too many pre_tokenizers");
        p->subs = calloc(k ? k : 1, sizeof *p->subs);
        if (!p->subs) return TOK_ENOMEM;
        p->n_subs = k;
        for (size_t i = 0; i < k; i++)
            if ((rc = load_pretok(L, tok, json_object_array_get_idx(a, i), &p->subs[i],
                                  depth + 1)))
                return rc;
    } else {
        return fail(L, TOK_EUNSUPPORTED, "pre_tokenizer type \"%s\" is not supported", t);
    }
    return TOK_OK;
}

/* ---- decoders ---- */
static int load_dec(struct ld *L, json_object *o, struct tok_decoder *d, int depth) {
    const char *t = type_of(o);
    memset(d, 0, sizeof *d);
    if (!t) return fail(L, TOK_EPARSE, "decoder without a \"type\"");
    if (depth > 8) return fail(L, TOK_EPARSE, "decoders nested too deep");
    int rc;
    const char *s;
    size_t n;
    if (!strcmp(t, "WordPiece")) {
        d->type = TOK_DEC_WORDPIECE;
        if ((rc = get_str(L, o, "prefix", &s, &n, false))) return rc;
        if (!s) s = "##", n = 2;
        if (!(d->prefix = dupn(s, n))) return TOK_ENOMEM;
        d->prefix_len = n;
        d->cleanup = get_bool(o, "cleanup", true);
    } else if (!strcmp(t, "BPEDecoder")) {
        d->type = TOK_DEC_BPE;
        if ((rc = get_str(L, o, "suffix", &s, &n, false))) return rc;
        if (!s) s = "</w>", n = 4;
        if (!(d->prefix = dupn(s, n))) return TOK_ENOMEM;
        d->prefix_len = n;
    } else if (!strcmp(t, "ByteLevel")) {
        d->type = TOK_DEC_BYTELEVEL;
    } else if (!strcmp(t, "Metaspace")) {
        d->type = TOK_DEC_METASPACE;
        if ((rc = parse_metaspace(L, o, &d->replacement, &d->prepend_scheme, NULL))) return rc;
    } else if (!strcmp(t, "ByteFallback")) {
        d->type = TOK_DEC_BYTEFALLBACK;
    } else if (!strcmp(t, "Fuse")) {
        d->type = TOK_DEC_FUSE;
    } else if (!strcmp(t, "Strip")) {
        d->type = TOK_DEC_STRIP;
        if ((rc = get_str(L, o, "content", &s, &n, true))) return rc;
        d->strip_cp = first_cp(s, n);
        json_object *a = get(o, "start"), *b = get(o, "stop");
        if ((a && !json_object_is_type(a, json_type_int)) ||
            (b && !json_object_is_type(b, json_type_int)))
            return fail(L, TOK_EPARSE, "Strip decoder start/stop must be integers");
        int64_t x = a ? json_object_get_int64(a) : 0, y = b ? json_object_get_int64(b) : 0;
        if (x < 0 || y < 0 || x > 1000000 || y > 1000000)
            return fail(L, TOK_EPARSE, "Strip decoder start/stop out of range");
        d->strip_start = (size_t)x;
        d->strip_stop = (size_t)y;
    } else if (!strcmp(t, "Replace")) {
        d->type = TOK_DEC_REPLACE;
        json_object *p = get(o, "pattern"), *v;
        if (!(v = get(p, "String")) || !is_str(v))
            return fail(L, TOK_EUNSUPPORTED, "Replace decoder supports String patterns only");
        if (!(d->pat = dupn(json_object_get_string(v), (size_t)json_object_get_string_len(v))))
            return TOK_ENOMEM;
        d->pat_len = (size_t)json_object_get_string_len(v);
        if ((rc = get_str(L, o, "content", &s, &n, true))) return rc;
        if (!(d->content = dupn(s, n))) return TOK_ENOMEM;
        d->content_len = n;
    } else if (!strcmp(t, "Sequence")) {
        d->type = TOK_DEC_SEQUENCE;
        json_object *a = get(o, "decoders");
        if (!a || !json_object_is_type(a, json_type_array))
            return fail(L, TOK_EPARSE, "Sequence decoder needs a \"decoders\" array");
        size_t k = json_object_array_length(a);
        if (k > 64) return fail(L, TOK_ELIMIT, "too many decoders");
        d->subs = calloc(k ? k : 1, sizeof *d->subs);
        if (!d->subs) return TOK_ENOMEM;
        d->n_subs = k;
        for (size_t i = 0; i < k; i++)
            if ((rc = load_dec(L, json_object_array_get_idx(a, i), &d->subs[i], depth + 1)))
                return rc;
    } else {
        return fail(L, TOK_EUNSUPPORTED, "decoder type \"%s\" is not supported", t);
    }
    return TOK_OK;
}

/* ---- post-processors ---- */
static int special_pair(struct ld *L, struct tok_tokenizer *tok, json_object *o, const char *k,
                        struct tok_tpl_item *it) {
    json_object *v = get(o, k);
    if (!v || !json_object_is_type(v, json_type_array) || json_object_array_length(v) != 2)
        return fail(L, TOK_EPARSE, "post_processor \"%s\" must be [token, id]", k);
    json_object *s = json_object_array_get_idx(v, 0), *i = json_object_array_get_idx(v, 1);
    if (!is_str(s) || !json_object_is_type(i, json_type_int))
        return fail(L, TOK_EPARSE, "post_processor \"%s\" must be [token, id]", k);
    int64_t id = json_object_get_int64(i);
    if (id < 0 || id >= (int64_t)tok->n_ids)
        return fail(L, TOK_EINVAL, "post_processor \"%s\" id %lld out of range", k, (long long)id);
    it->is_special = true;
    it->n_ids = 1;
    it->ids = malloc(sizeof *it->ids);
    it->toks = malloc(sizeof *it->toks);
    if (!it->ids || !it->toks) return TOK_ENOMEM;
    it->ids[0] = (int32_t)id;
    it->toks[0] = dupn(json_object_get_string(s), (size_t)json_object_get_string_len(s));
    if (!it->toks[0]) return TOK_ENOMEM;
    return TOK_OK;
}

static int load_template(struct ld *L, struct tok_tokenizer *tok, json_object *o, const char *k,
                         struct tok_tpl_item **out, size_t *n_out) {
    json_object *a = get(o, k), *sp = get(o, "special_tokens");
    if (!a || !json_object_is_type(a, json_type_array))
        return fail(L, TOK_EPARSE, "TemplateProcessing \"%s\" must be an array", k);
    size_t n = json_object_array_length(a);
    if (n > 1024) return fail(L, TOK_ELIMIT, "template too long");
    struct tok_tpl_item *v = calloc(n ? n : 1, sizeof *v);
    if (!v) return TOK_ENOMEM;
    *out = v;
    *n_out = n;
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(a, i), *x;
        if ((x = get(e, "Sequence"))) {
            json_object *id = get(x, "id"), *ty = get(x, "type_id");
            if (!is_str(id)) return fail(L, TOK_EPARSE, "template Sequence needs an id");
            v[i].seq = !strcmp(json_object_get_string(id), "B") ? 1 : 0;
            v[i].type_id = ty ? (int32_t)json_object_get_int(ty) : 0;
        } else if ((x = get(e, "SpecialToken"))) {
            json_object *id = get(x, "id"), *ty = get(x, "type_id");
            if (!is_str(id)) return fail(L, TOK_EPARSE, "template SpecialToken needs an id");
            v[i].is_special = true;
            v[i].type_id = ty ? (int32_t)json_object_get_int(ty) : 0;
            json_object *st = get(sp, json_object_get_string(id));
            json_object *ids = get(st, "ids"), *toks = get(st, "tokens");
            if (!ids || !toks || !json_object_is_type(ids, json_type_array) ||
                !json_object_is_type(toks, json_type_array) ||
                json_object_array_length(ids) != json_object_array_length(toks))
                return fail(L, TOK_EPARSE, "template special token \"%s\" is not defined",
                            json_object_get_string(id));
            size_t m = json_object_array_length(ids);
            if (m > 1024) return fail(L, TOK_ELIMIT, "special token too long");
            v[i].n_ids = m;
            v[i].ids = calloc(m ? m : 1, sizeof *v[i].ids);
            v[i].toks = calloc(m ? m : 1, sizeof *v[i].toks);
            if (!v[i].ids || !v[i].toks) return TOK_ENOMEM;
            for (size_t j = 0; j < m; j++) {
                json_object *ij = json_object_array_get_idx(ids, j);
                json_object *tj = json_object_array_get_idx(toks, j);
                if (!json_object_is_type(ij, json_type_int) || !is_str(tj))
                    return fail(L, TOK_EPARSE, "special token ids/tokens have wrong types");
                int64_t idv = json_object_get_int64(ij);
                if (idv < 0 || idv >= (int64_t)tok->n_ids)
                    return fail(L, TOK_EINVAL, "special token id %lld out of range",
                                (long long)idv);
                v[i].ids[j] = (int32_t)idv;
                v[i].toks[j] = dupn(json_object_get_string(tj),
                                    (size_t)json_object_get_string_len(tj));
                if (!v[i].toks[j]) return TOK_ENOMEM;
            }
        } else {
            return fail(L, TOK_EPARSE, "template item must be Sequence or SpecialToken");
        }
    }
    return TOK_OK;
}

static int load_post(struct ld *L, struct tok_tokenizer *tok, json_object *o, struct tok_post *p,
                     int depth) {
    const char *t = type_of(o);
    memset(p, 0, sizeof *p);
    if (!t) return fail(L, TOK_EPARSE, "post_processor without a \"type\"");
    if (depth > 8) return fail(L, TOK_EPARSE, "post_processors nested too deep");
    int rc;
    if (!strcmp(t, "BertProcessing") || !strcmp(t, "RobertaProcessing")) {
        bool rob = t[0] == 'R';
        p->type = rob ? TOK_POST_ROBERTA : TOK_POST_BERT;
        p->trim_offsets = rob && get_bool(o, "trim_offsets", true);
        p->add_prefix_space = rob && get_bool(o, "add_prefix_space", true);
        struct tok_tpl_item cls = {0}, sep = {0};
        if ((rc = special_pair(L, tok, o, "cls", &cls)) ||
            (rc = special_pair(L, tok, o, "sep", &sep))) {
            free(cls.ids), free(cls.toks ? cls.toks[0] : NULL), free(cls.toks);
            free(sep.ids), free(sep.toks ? sep.toks[0] : NULL), free(sep.toks);
            return rc;
        }
        /* expressed as templates: [CLS] A [SEP] / [CLS] A [SEP] ([SEP]) B [SEP] */
        size_t ns = 3, np = rob ? 6 : 5;
        p->single = calloc(ns, sizeof *p->single);
        p->pair = calloc(np, sizeof *p->pair);
        if (!p->single || !p->pair) return TOK_ENOMEM;
        p->n_single = ns;
        p->n_pair = np;
        struct tok_tpl_item *all[2] = {p->single, p->pair};
        for (int w = 0; w < 2; w++) {
            struct tok_tpl_item *v = all[w];
            size_t n = w ? np : ns, k = 0;
            for (size_t i = 0; i < n; i++) {
                const struct tok_tpl_item *src = NULL;
                int seq = -1;
                int32_t ty = 0;
                if (!w) {
                    src = i == 0 ? &cls : i == 2 ? &sep : NULL;
                    seq = i == 1 ? 0 : -1;
                } else if (!rob) {
                    static const int lay[5] = {0, 'A', 1, 'B', 1};
                    src = lay[i] == 0 ? &cls : lay[i] == 1 ? &sep : NULL;
                    seq = lay[i] == 'A' ? 0 : lay[i] == 'B' ? 1 : -1;
                    ty = i >= 3 ? 1 : 0;
                } else {
                    static const int lay[6] = {0, 'A', 1, 1, 'B', 1};
                    src = lay[i] == 0 ? &cls : lay[i] == 1 ? &sep : NULL;
                    seq = lay[i] == 'A' ? 0 : lay[i] == 'B' ? 1 : -1;
                }
                if (src) {
                    v[k].is_special = true;
                    v[k].n_ids = 1;
                    v[k].ids = malloc(sizeof(int32_t));
                    v[k].toks = malloc(sizeof(char *));
                    if (!v[k].ids || !v[k].toks) return TOK_ENOMEM;
                    v[k].ids[0] = src->ids[0];
                    v[k].toks[0] = dupn(src->toks[0], strlen(src->toks[0]));
                    if (!v[k].toks[0]) return TOK_ENOMEM;
                } else {
                    v[k].seq = seq;
                }
                v[k].type_id = ty;
                k++;
            }
        }
        free(cls.ids), free(cls.toks[0]), free(cls.toks);
        free(sep.ids), free(sep.toks[0]), free(sep.toks);
    } else if (!strcmp(t, "TemplateProcessing")) {
        p->type = TOK_POST_TEMPLATE;
        if ((rc = load_template(L, tok, o, "single", &p->single, &p->n_single))) return rc;
        if ((rc = load_template(L, tok, o, "pair", &p->pair, &p->n_pair))) return rc;
    } else if (!strcmp(t, "ByteLevel")) {
        p->type = TOK_POST_BYTELEVEL;
        p->trim_offsets = get_bool(o, "trim_offsets", true);
        p->add_prefix_space = get_bool(o, "add_prefix_space", true);
    } else if (!strcmp(t, "Sequence")) {
        p->type = TOK_POST_SEQUENCE;
        json_object *a = get(o, "processors");
        if (!a || !json_object_is_type(a, json_type_array))
            return fail(L, TOK_EPARSE, "Sequence post_processor needs a \"processors\" array");
        size_t k = json_object_array_length(a);
        if (k > 16) return fail(L, TOK_ELIMIT, "too many post_processors");
        p->subs = calloc(k ? k : 1, sizeof *p->subs);
        if (!p->subs) return TOK_ENOMEM;
        p->n_subs = k;
        for (size_t i = 0; i < k; i++)
            if ((rc = load_post(L, tok, json_object_array_get_idx(a, i), &p->subs[i], depth + 1)))
                return rc;
    } else {
        return fail(L, TOK_EUNSUPPORTED, "post_processor type \"%s\" is not supported", t);
    }
    return TOK_OK;
}

/* ---- vocabulary ---- */
static int set_id(struct ld *L, struct tok_tokenizer *tok, int64_t id, const char *s, size_t n,
                  char **pool_pos) {
    if (id < 0 || id >= (int64_t)TOK_MAX_VOCAB)
        return fail(L, TOK_ELIMIT, "token id %lld out of range (max %u)", (long long)id,
                    TOK_MAX_VOCAB);
    if ((size_t)id >= tok->n_ids) {
        size_t nn = tok->n_ids ? tok->n_ids : 1024;
        while (nn <= (size_t)id) nn *= 2;
        char **v = realloc(tok->id_to_tok, nn * sizeof *v);
        if (!v) return TOK_ENOMEM;
        memset(v + tok->n_ids, 0, (nn - tok->n_ids) * sizeof *v);
        tok->id_to_tok = v;
        tok->n_ids = nn;
    }
    if (pool_pos) {
        memcpy(*pool_pos, s, n);
        (*pool_pos)[n] = 0;
        tok->id_to_tok[id] = *pool_pos;
        *pool_pos += n + 1;
    }
    return TOK_OK;
}

/* Record each char X that a merge result holds right before a "▁" (U+2581): BPE may not cut
 * a word between X and ▁ (see bpe.c). Too many such chars: no cutting at all. */
static void note_cuts(struct tok_model *md, const char *s, size_t n) {
    if (!md->chunk_meta) return;
    for (size_t i = 1; i + 3 <= n; i++) {
        if ((unsigned char)s[i] != 0xE2 || (unsigned char)s[i + 1] != 0x96 ||
            (unsigned char)s[i + 2] != 0x81)
            continue;
        size_t p = i - 1;
        while (p > 0 && ((unsigned char)s[p] & 0xC0) == 0x80) p--;
        int32_t c;
        tok_utf8_dec((const unsigned char *)s + p, &c);
        if (c == 0x2581) continue;
        bool have = false;
        for (size_t k = 0; k < md->n_nocut; k++) have |= md->nocut[k] == c;
        if (have) continue;
        if (md->n_nocut == sizeof md->nocut / sizeof *md->nocut) {
            md->chunk_meta = false;
            return;
        }
        md->nocut[md->n_nocut++] = c;
    }
}

/* json-c fallback: the same flat arrays from json-c objects (strings borrowed from the tree). */
static int vocab_from_json(struct ld *L, json_object *vocab, struct tok_arena *a,
                           struct tok_vocab_in *v) {
    memset(v, 0, sizeof *v);
    size_t n;
    v->is_array = json_object_is_type(vocab, json_type_array);
    if (v->is_array) n = json_object_array_length(vocab);
    else if (json_object_is_type(vocab, json_type_object))
        n = (size_t)lh_table_length(json_object_get_object(vocab));
    else return fail(L, TOK_EPARSE, "model vocab must be an object {token: id} or a list");
    if (n > TOK_MAX_VOCAB)
        return fail(L, TOK_ELIMIT, "vocab of %zu entries exceeds the limit of %u", n,
                    TOK_MAX_VOCAB);
    v->s = tok_arena_alloc(a, (n + 1) * sizeof *v->s);
    v->l = tok_arena_alloc(a, (n + 1) * sizeof *v->l);
    v->id = tok_arena_alloc(a, (n + 1) * sizeof *v->id);
    v->score = tok_arena_alloc(a, (n + 1) * sizeof *v->score);
    if (!v->s || !v->l || !v->id || !v->score) return TOK_ENOMEM;
    if (v->is_array) {
        for (size_t i = 0; i < n; i++) {
            json_object *e = json_object_array_get_idx(vocab, i);
            if (!e || !json_object_is_type(e, json_type_array) ||
                json_object_array_length(e) != 2 || !is_str(json_object_array_get_idx(e, 0)))
                return fail(L, TOK_EPARSE, "Unigram vocab entry %zu must be [piece, score]", i);
            json_object *sc = json_object_array_get_idx(e, 1), *st = json_object_array_get_idx(e, 0);
            if (!json_object_is_type(sc, json_type_double) && !json_object_is_type(sc, json_type_int))
                return fail(L, TOK_EPARSE, "Unigram vocab entry %zu: score must be a number", i);
            v->s[i] = json_object_get_string(st);
            v->l[i] = (size_t)json_object_get_string_len(st);
            v->id[i] = (int64_t)i;
            v->score[i] = json_object_get_double(sc);
        }
    } else {
        size_t i = 0;
        for (struct lh_entry *e = json_object_get_object(vocab)->head; e; e = e->next, i++) {
            json_object *val = (json_object *)lh_entry_v(e);
            if (!val || !json_object_is_type(val, json_type_int))
                return fail(L, TOK_EPARSE, "vocab entry \"%.40s\" must map to an integer id",
                            (const char *)lh_entry_k(e));
            v->s[i] = (const char *)lh_entry_k(e);
            v->l[i] = strlen(v->s[i]);
            v->id[i] = json_object_get_int64(val);
            v->score[i] = 0;
        }
    }
    v->n = n;
    return TOK_OK;
}

static int merges_from_json(struct ld *L, json_object *merges, struct tok_arena *a,
                            struct tok_merges_in *m) {
    memset(m, 0, sizeof *m);
    if (!merges) return TOK_OK;
    if (!json_object_is_type(merges, json_type_array))
        return fail(L, TOK_EPARSE, "BPE merges must be an array");
    size_t n = json_object_array_length(merges);
    if (n > TOK_MAX_VOCAB * 2) return fail(L, TOK_ELIMIT, "%zu merges exceed the limit", n);
    m->a = tok_arena_alloc(a, (n + 1) * sizeof *m->a);
    m->b = tok_arena_alloc(a, (n + 1) * sizeof *m->b);
    m->al = tok_arena_alloc(a, (n + 1) * sizeof *m->al);
    m->bl = tok_arena_alloc(a, (n + 1) * sizeof *m->bl);
    if (!m->a || !m->b || !m->al || !m->bl) return TOK_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(merges, i);
        if (is_str(e)) {
            const char *str = json_object_get_string(e);
            size_t len = (size_t)json_object_get_string_len(e);
            const char *sp = memchr(str, ' ', len);
            if (!sp) return fail(L, TOK_EPARSE, "merge %zu \"%.40s\" is not \"a b\"", i, str);
            m->a[i] = str;
            m->al[i] = (size_t)(sp - str);
            m->b[i] = sp + 1;
            m->bl[i] = len - m->al[i] - 1;
        } else if (e && json_object_is_type(e, json_type_array) &&
                   json_object_array_length(e) == 2 && is_str(json_object_array_get_idx(e, 0)) &&
                   is_str(json_object_array_get_idx(e, 1))) {
            json_object *x = json_object_array_get_idx(e, 0), *y = json_object_array_get_idx(e, 1);
            m->a[i] = json_object_get_string(x);
            m->al[i] = (size_t)json_object_get_string_len(x);
            m->b[i] = json_object_get_string(y);
            m->bl[i] = (size_t)json_object_get_string_len(y);
        } else {
            return fail(L, TOK_EPARSE, "merge %zu must be \"a b\" or [a, b]", i);
        }
    }
    m->n = n;
    return TOK_OK;
}

static int load_model(struct ld *L, struct tok_tokenizer *tok, json_object *m,
                      const struct tok_vocab_in *fast_v, const struct tok_merges_in *fast_m) {
    static atomic_uint_fast64_t gen_counter;
    struct tok_model *md = &tok->model;
    int rc;
    md->gen = (uint64_t)atomic_fetch_add(&gen_counter, 1) + 1; /* never 0: 0 = empty cache */
    md->unk_id = -1;
    for (int i = 0; i < 256; i++) md->byte_ids[i] = -1;
    if (!m || !json_object_is_type(m, json_type_object))
        return fail(L, TOK_EPARSE, "\"model\" must be an object");
    json_object *vocab = get(m, "vocab"), *merges = get(m, "merges");
    if (!vocab) return fail(L, TOK_EPARSE, "model has no \"vocab\"");
    const char *t = type_of(m);
    if (!t) { /* infer as HF's untagged deserializer does */
        if (merges) t = "BPE";
        else if (json_object_is_type(vocab, json_type_array)) t = "Unigram";
        else if (get(m, "continuing_subword_prefix") || get(m, "max_input_chars_per_word"))
            t = "WordPiece";
        else t = "WordLevel";
    }
    if (!strcmp(t, "Unigram")) md->type = TOK_MODEL_UNIGRAM;
    else if (!strcmp(t, "BPE")) md->type = TOK_MODEL_BPE;
    else if (!strcmp(t, "WordPiece")) md->type = TOK_MODEL_WORDPIECE;
    else if (!strcmp(t, "WordLevel")) md->type = TOK_MODEL_WORDLEVEL;
    else return fail(L, TOK_EUNSUPPORTED, "model type \"%s\" is not supported", t);

    struct tok_arena ar = {0};
    struct tok_vocab_in vj;
    const struct tok_vocab_in *v = fast_v;
    if (!v) {
        if ((rc = vocab_from_json(L, vocab, &ar, &vj))) goto out;
        v = &vj;
    }
    bool want_array = md->type == TOK_MODEL_UNIGRAM;
    if (v->is_array != want_array) {
        rc = fail(L, TOK_EPARSE, want_array ? "Unigram vocab must be an array of [piece, score]"
                                            : "model vocab must be an object {token: id}");
        goto out;
    }
    size_t n = v->n, total = 0, maxlen = 0;
    for (size_t i = 0; i < n; i++) total += v->l[i] + 1;
    tok->pool = malloc(total + 1);
    if (!tok->pool || (rc = tok_hash_init(&md->vocab, n))) {
        rc = TOK_ENOMEM;
        goto out;
    }
    char *pp = tok->pool;
    const char **pieces = NULL;
    if (want_array && !(pieces = tok_arena_alloc(&ar, (n + 1) * sizeof *pieces))) {
        rc = TOK_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char *dst = pp;
        size_t l = v->l[i];
        if ((rc = set_id(L, tok, v->id[i], v->s[i], l, &pp))) goto out;
        if ((rc = tok_hash_put(&md->vocab, dst, l, (int32_t)v->id[i]))) goto out;
        if (pieces) pieces[i] = dst;
        if (l > maxlen) maxlen = l;
        if (l == 6 && dst[0] == '<' && dst[1] == '0' && dst[2] == 'x' && dst[5] == '>') {
            int h1 = dst[3], h2 = dst[4];
            int a1 = h1 >= '0' && h1 <= '9' ? h1 - '0' : h1 >= 'A' && h1 <= 'F' ? h1 - 'A' + 10 : -1;
            int a2 = h2 >= '0' && h2 <= '9' ? h2 - '0' : h2 >= 'A' && h2 <= 'F' ? h2 - 'A' + 10 : -1;
            if (a1 >= 0 && a2 >= 0) md->byte_ids[a1 * 16 + a2] = (int32_t)v->id[i];
        }
    }
    if (want_array) {
        json_object *u = get(m, "unk_id");
        if (u) {
            if (!json_object_is_type(u, json_type_int) || json_object_get_int64(u) < 0 ||
                json_object_get_int64(u) >= (int64_t)n) {
                rc = fail(L, TOK_EINVAL, "Unigram unk_id out of range");
                goto out;
            }
            md->unk_id = (int32_t)json_object_get_int64(u);
        }
        md->byte_fallback = get_bool(m, "byte_fallback", false);
#ifdef TOK_HAVE_UNIGRAM
        rc = tok_unigram_new(pieces, v->l, v->score, n, md->unk_id, md->byte_fallback,
                             &md->unigram);
        if (rc) fail(L, rc, "Unigram model: %s", tok_strerror(rc));
#else
        rc = fail(L, TOK_EUNSUPPORTED, "Unigram model not built in");
#endif
        goto out;
    }
    const char *s;
    size_t sl;
    if ((rc = get_str(L, m, "unk_token", &s, &sl, false))) goto out;
    if (s) md->unk_id = tok_hash_get(&md->vocab, s, sl); /* HF: missing unk errors when needed */
    if ((rc = get_str(L, m, "continuing_subword_prefix", &s, &sl, false))) goto out;
    if (md->type == TOK_MODEL_WORDPIECE && !s) s = "##", sl = 2;
    if (s && sl) {
        if (sl > 64) {
            rc = fail(L, TOK_ELIMIT, "continuing_subword_prefix too long");
            goto out;
        }
        if (!(md->prefix = dupn(s, sl))) {
            rc = TOK_ENOMEM;
            goto out;
        }
        md->prefix_len = sl;
    }
    if (md->type == TOK_MODEL_WORDPIECE) {
        json_object *mx = get(m, "max_input_chars_per_word");
        md->max_chars = 100;
        if (mx && json_object_is_type(mx, json_type_int) && json_object_get_int64(mx) >= 0)
            md->max_chars = (size_t)json_object_get_int64(mx);
        if (maxlen > 500) rc = fail(L, TOK_ELIMIT, "WordPiece token longer than 500 bytes");
        goto out;
    }
    if (md->type == TOK_MODEL_WORDLEVEL) goto out;
    if ((rc = get_str(L, m, "end_of_word_suffix", &s, &sl, false))) goto out;
    if (s && sl) {
        if (sl > 64) {
            rc = fail(L, TOK_ELIMIT, "end_of_word_suffix too long");
            goto out;
        }
        if (!(md->suffix = dupn(s, sl))) {
            rc = TOK_ENOMEM;
            goto out;
        }
        md->suffix_len = sl;
    }
    md->byte_fallback = get_bool(m, "byte_fallback", false);
    md->fuse_unk = get_bool(m, "fuse_unk", false);
    md->ignore_merges = get_bool(m, "ignore_merges", false);
    struct tok_merges_in mj;
    const struct tok_merges_in *mg = fast_m;
    if (!mg) {
        if ((rc = merges_from_json(L, merges, &ar, &mj))) goto out;
        mg = &mj;
    }
    size_t nm = mg->n;
    md->chunk_meta = !md->prefix_len && !md->suffix_len && !md->ignore_merges;
    if ((rc = tok_pairmap_init(&md->merges, nm))) goto out;
    char *buf = tok_arena_alloc(&ar, 2 * maxlen + 2);
    if (!buf) {
        rc = TOK_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < nm && !rc; i++) {
        const char *a = mg->a[i], *b = mg->b[i];
        size_t al = mg->al[i], bl = mg->bl[i];
        int32_t ia = tok_hash_get(&md->vocab, a, al), ib = tok_hash_get(&md->vocab, b, bl);
        if (ia < 0 || ib < 0) {
            rc = fail(L, TOK_EINVAL, "merge %zu names a token not in the vocab: \"%.*s\"", i,
                      (int)(ia < 0 ? (al > 40 ? 40 : al) : (bl > 40 ? 40 : bl)), ia < 0 ? a : b);
            break;
        }
        size_t skip = (md->prefix_len && bl >= md->prefix_len &&
                       !memcmp(b, md->prefix, md->prefix_len))
                          ? md->prefix_len
                          : 0;
        memcpy(buf, a, al);
        memcpy(buf + al, b + skip, bl - skip);
        int32_t nid = tok_hash_get(&md->vocab, buf, al + bl - skip);
        if (nid < 0) {
            rc = fail(L, TOK_EINVAL, "merge %zu: the merged token \"%.*s\" is not in the vocab", i,
                      (int)((al + bl - skip) > 40 ? 40 : (al + bl - skip)), buf);
            break;
        }
        rc = tok_pairmap_put(&md->merges, ia, ib, (int32_t)i, nid);
        note_cuts(md, buf, al + bl - skip);
    }
    if (md->chunk_meta) {
        /* Cutting words is exact only if "▁" is a symbol of its own (an unknown ▁ would fuse
         * with unknown neighbours) and no char is ever dropped (a dropped char shifts the
         * offsets of the rest of the word in HF's Word::add). */
        bool all_bytes = md->byte_fallback;
        for (int k = 0; k < 256 && all_bytes; k++) all_bytes = md->byte_ids[k] >= 0;
        if (tok_hash_get(&md->vocab, "\xe2\x96\x81", 3) < 0 || (md->unk_id < 0 && !all_bytes))
            md->chunk_meta = false;
    }
out:
    tok_arena_free(&ar);
    return rc;
}

static int load_added(struct ld *L, struct tok_tokenizer *tok, json_object *arr) {
    if (!arr) return TOK_OK;
    if (!json_object_is_type(arr, json_type_array))
        return fail(L, TOK_EPARSE, "\"added_tokens\" must be an array");
    size_t n = json_object_array_length(arr);
    if (n > TOK_MAX_VOCAB) return fail(L, TOK_ELIMIT, "too many added tokens");
    tok->added = calloc(n ? n : 1, sizeof *tok->added);
    if (!tok->added) return TOK_ENOMEM;
    int rc;
    if ((rc = tok_hash_init(&tok->added_by_content, n))) return rc;
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(arr, i);
        json_object *id = get(e, "id");
        const char *s;
        size_t len;
        if ((rc = get_str(L, e, "content", &s, &len, true))) return rc;
        if (!id || !json_object_is_type(id, json_type_int))
            return fail(L, TOK_EPARSE, "added token %zu needs an integer id", i);
        size_t bad;
        if (!tok_utf8_valid(s, len, &bad))
            return fail(L, TOK_EPARSE, "added token %zu is not valid UTF-8", i);
        struct tok_added *ad = &tok->added[tok->n_added++];
        if (!(ad->content = dupn(s, len))) return TOK_ENOMEM;
        ad->len = len;
        int64_t idv = json_object_get_int64(id);
        if ((rc = set_id(L, tok, idv, NULL, 0, NULL))) return rc;
        ad->id = (int32_t)idv;
        ad->special = get_bool(e, "special", false);
        ad->lstrip = get_bool(e, "lstrip", false);
        ad->rstrip = get_bool(e, "rstrip", false);
        ad->single_word = get_bool(e, "single_word", false);
        ad->normalized = get_bool(e, "normalized", !ad->special);
        if ((rc = tok_hash_put(&tok->added_by_content, ad->content, len, ad->id))) return rc;
    }
    return TOK_OK;
}

/* Added tokens: register strings for ids; build the two tries (the normalized one holds
 * each token's normalized content, as HF's refresh_added_tokens does). */
static int finish_added(struct ld *L, struct tok_tokenizer *tok) {
    int rc;
    for (size_t i = 0; i < tok->n_added; i++) {
        struct tok_added *ad = &tok->added[i];
        tok->id_to_tok[ad->id] = ad->content;
        if (ad->special) tok->id_special[ad->id] = 1;
        if (!ad->len) continue;
        if (!ad->normalized || !tok->has_normalizer) {
            if ((rc = tok_trie_add(&tok->trie_raw, ad->content, ad->len, (int32_t)i))) return rc;
            tok->has_trie_raw = true;
        } else {
            struct tok_arena a = {0};
            struct tok_span *al = tok_arena_alloc(&a, (ad->len + 1) * sizeof *al);
            if (!al) return TOK_ENOMEM;
            for (size_t b = 0; b < ad->len; b++) al[b] = (struct tok_span){0, (uint32_t)ad->len};
            struct tok_split sp = {ad->content, al, (uint32_t)ad->len, 0, -1};
            rc = tok_normalize(&tok->norm, &sp, &a);
            if (!rc && sp.len) rc = tok_trie_add(&tok->trie_norm, sp.s, sp.len, (int32_t)i);
            tok_arena_free(&a);
            if (rc) return fail(L, rc, "added token \"%s\": %s", ad->content, tok_strerror(rc));
            tok->has_trie_norm = true;
        }
    }
    return TOK_OK;
}

static int load_trunc_pad(struct ld *L, struct tok_tokenizer *tok, json_object *root) {
    json_object *t = get(root, "truncation");
    if (t) {
        if (!json_object_is_type(t, json_type_object))
            return fail(L, TOK_EPARSE, "\"truncation\" must be an object or null");
        json_object *ml = get(t, "max_length"), *st = get(t, "stride");
        if (!ml || !json_object_is_type(ml, json_type_int) || json_object_get_int64(ml) < 0)
            return fail(L, TOK_EPARSE, "truncation.max_length must be a non-negative integer");
        tok->trunc.enabled = true;
        tok->trunc.max_length = (size_t)json_object_get_int64(ml);
        if (st && json_object_is_type(st, json_type_int) && json_object_get_int64(st) >= 0)
            tok->trunc.stride = (size_t)json_object_get_int64(st);
        json_object *s = get(t, "strategy"), *d = get(t, "direction");
        if (is_str(s)) {
            const char *v = json_object_get_string(s);
            if (!strcmp(v, "OnlyFirst")) tok->trunc.strategy = TOK_TRUNC_ONLY_FIRST;
            else if (!strcmp(v, "OnlySecond")) tok->trunc.strategy = TOK_TRUNC_ONLY_SECOND;
            else tok->trunc.strategy = TOK_TRUNC_LONGEST_FIRST;
        }
        tok->trunc.left = is_str(d) && !strcmp(json_object_get_string(d), "Left");
    }
    json_object *p = get(root, "padding");
    if (p && json_object_is_type(p, json_type_object)) {
        json_object *pid = get(p, "pad_id"), *pt = get(p, "pad_type_id");
        tok->pad_enabled = true;
        if (pid && json_object_is_type(pid, json_type_int)) tok->pad_id = json_object_get_int(pid);
        if (pt && json_object_is_type(pt, json_type_int)) tok->pad_type_id = json_object_get_int(pt);
    }
    return TOK_OK;
}

static void find_specials(struct tok_tokenizer *tok) {
    static const char *names[][6] = {
        [TOK_SPECIAL_CLS] = {"[CLS]", "<s>", "<cls>", "<|begin_of_text|>", NULL},
        [TOK_SPECIAL_SEP] = {"[SEP]", "</s>", "<sep>", NULL},
        [TOK_SPECIAL_PAD] = {"[PAD]", "<pad>", "<|pad|>", "<|endoftext|>", NULL},
        [TOK_SPECIAL_UNK] = {"[UNK]", "<unk>", NULL},
        [TOK_SPECIAL_MASK] = {"[MASK]", "<mask>", NULL},
        [TOK_SPECIAL_BOS] = {"<s>", "<bos>", "<|begin_of_text|>", "<|endoftext|>", NULL},
        [TOK_SPECIAL_EOS] = {"</s>", "<eos>", "<|end_of_text|>", "<|endoftext|>", "[SEP]", NULL},
    };
    for (int k = 0; k <= TOK_SPECIAL_EOS; k++) {
        tok->specials[k] = -1;
        for (int j = 0; j < 6 && names[k][j]; j++) {
            int32_t id = tok_token_to_id(tok, names[k][j]);
            if (id >= 0) {
                tok->specials[k] = id;
                break;
            }
        }
    }
    if (tok->model.unk_id >= 0) tok->specials[TOK_SPECIAL_UNK] = tok->model.unk_id;
    if (tok->pad_enabled) tok->specials[TOK_SPECIAL_PAD] = tok->pad_id;
    /* The post-processor's first/last special tokens are the CLS/SEP the model was trained with. */
    if (tok->post.n_single) {
        const struct tok_tpl_item *f = &tok->post.single[0],
                                  *l = &tok->post.single[tok->post.n_single - 1];
        if (f->is_special && f->n_ids) tok->specials[TOK_SPECIAL_CLS] = f->ids[0];
        if (l->is_special && l->n_ids) tok->specials[TOK_SPECIAL_SEP] = l->ids[l->n_ids - 1];
    }
}

int tok_tokenizer_load_json(const char *json, size_t len, struct tok_tokenizer **out, char *err,
                            size_t errlen) {
    struct ld L = {err, errlen};
    if (err && errlen) err[0] = 0;
    if (!json || !out) return fail(&L, TOK_EINVAL, "NULL argument");
    if (len > TOK_MAX_FILE) return fail(&L, TOK_ELIMIT, "tokenizer.json larger than 1 GiB");
    if (len > INT32_MAX) return fail(&L, TOK_ELIMIT, "tokenizer.json too large");
    /* Fast path for the two big arrays; json-c parses the rest with them blanked out. */
    struct tok_arena fa = {0};
    struct tok_vocab_in fv;
    struct tok_merges_in fm;
    bool have_v = false, have_m = false;
    char *copy = NULL;
    struct tok_span vr, mr;
    if (tok_fj_find_model(json, len, &vr, &mr)) {
        int frc = TOK_OK;
        if (vr.end > vr.start) {
            frc = tok_fj_vocab(json, vr, &fa, &fv, TOK_MAX_VOCAB, err, errlen);
            have_v = !frc;
        }
        if (!frc && mr.end > mr.start) {
            frc = tok_fj_merges(json, mr, &fa, &fm, (size_t)TOK_MAX_VOCAB * 2, err, errlen);
            have_m = !frc;
        }
        if (!frc) copy = malloc(len + 1);
        if (frc || !copy) {
            tok_arena_free(&fa);
            return frc ? frc : TOK_ENOMEM;
        }
        memcpy(copy, json, len);
        struct tok_span *rs[2] = {have_v ? &vr : NULL, have_m ? &mr : NULL};
        for (int k = 0; k < 2; k++) {
            if (!rs[k]) continue;
            char open = json[rs[k]->start];
            memset(copy + rs[k]->start, ' ', rs[k]->end - rs[k]->start);
            copy[rs[k]->start] = open;
            copy[rs[k]->start + 1] = open == '{' ? '}' : ']';
        }
        json = copy;
    }
    struct json_tokener *jt = json_tokener_new_ex(64);
    if (!jt) {
        free(copy);
        tok_arena_free(&fa);
        return TOK_ENOMEM;
    }
    json_object *root = json_tokener_parse_ex(jt, json, (int)len);
    enum json_tokener_error je = json_tokener_get_error(jt);
    if (!root || je != json_tokener_success) {
        size_t off = json_tokener_get_parse_end(jt);
        int rc = fail(&L, TOK_EPARSE, "tokenizer.json: %s at byte %zu",
                      je == json_tokener_continue ? "unexpected end of file"
                                                  : json_tokener_error_desc(je),
                      off);
        json_object_put(root);
        json_tokener_free(jt);
        free(copy);
        tok_arena_free(&fa);
        return rc;
    }
    json_tokener_free(jt);
    free(copy);
    int rc = TOK_OK;
    struct tok_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) {
        json_object_put(root);
        tok_arena_free(&fa);
        return TOK_ENOMEM;
    }
    if (!json_object_is_type(root, json_type_object)) {
        rc = fail(&L, TOK_EPARSE, "tokenizer.json must hold a JSON object");
        tok_arena_free(&fa);
        goto done;
    }
    rc = load_model(&L, tok, get(root, "model"), have_v ? &fv : NULL, have_m ? &fm : NULL);
    tok_arena_free(&fa);
    if (rc) goto done;
    if ((rc = load_added(&L, tok, get(root, "added_tokens")))) goto done;
    if (!tok->n_ids) {
        rc = fail(&L, TOK_EINVAL, "empty vocabulary");
        goto done;
    }
    tok->id_special = calloc(tok->n_ids, 1);
    if (!tok->id_special) {
        rc = TOK_ENOMEM;
        goto done;
    }
    json_object *o;
    if ((o = get(root, "normalizer"))) {
        if ((rc = load_norm(&L, o, &tok->norm, 0))) goto done;
        tok->has_normalizer = true;
    }
    if ((o = get(root, "pre_tokenizer"))) {
        if ((rc = load_pretok(&L, tok, o, &tok->pretok, 0))) goto done;
        tok->has_pretok = true;
    }
    if ((o = get(root, "post_processor"))) {
        if ((rc = load_post(&L, tok, o, &tok->post, 0))) goto done;
    }
    if ((o = get(root, "decoder"))) {
        if ((rc = load_dec(&L, o, &tok->dec, 0))) goto done;
        tok->has_decoder = true;
    }
    if ((rc = load_trunc_pad(&L, tok, root))) goto done;
    if ((rc = finish_added(&L, tok))) goto done;
    /* trim n_ids to the highest id in use */
    while (tok->n_ids && !tok->id_to_tok[tok->n_ids - 1]) tok->n_ids--;
    find_specials(tok);
    {
        static const char *mn[] = {"WordPiece", "BPE", "Unigram", "WordLevel"};
        snprintf(tok->name, sizeof tok->name, "%s(%zu)", mn[tok->model.type], tok->n_ids);
    }
done:
    json_object_put(root);
    if (rc) {
        if (err && errlen && !err[0]) snprintf(err, errlen, "%s", tok_strerror(rc));
        tok_tokenizer_free(tok);
        return rc;
    }
    *out = tok;
    return TOK_OK;
}

static char *read_file(struct ld *L, const char *path, size_t *len, int *rc) {
    FILE *f = fopen(path, "rb");
    struct stat st;
    *rc = TOK_OK;
    if (!f) {
        *rc = fail(L, TOK_EIO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &st) != 0 || st.st_size < 0 || S_ISDIR(st.st_mode)) {
        fclose(f);
        *rc = fail(L, TOK_EIO, "%s: not a readable file", path);
        return NULL;
    }
    if ((uint64_t)st.st_size > TOK_MAX_FILE) {
        fclose(f);
        *rc = fail(L, TOK_ELIMIT, "%s: larger than 1 GiB", path);
        return NULL;
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        *rc = TOK_ENOMEM;
        return NULL;
    }
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    if (got != n) {
        free(buf);
        *rc = fail(L, TOK_EIO, "%s: short read", path);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

/* tokenizer_config.json (transformers): names of the special tokens, model_max_length. */
static int apply_config(struct ld *L, struct tok_tokenizer *tok, const char *path) {
    size_t n;
    int rc;
    char *buf = read_file(L, path, &n, &rc);
    if (!buf) return rc;
    struct json_tokener *jt = json_tokener_new_ex(64);
    if (!jt) {
        free(buf);
        return TOK_ENOMEM;
    }
    json_object *root = n <= INT32_MAX ? json_tokener_parse_ex(jt, buf, (int)n) : NULL;
    bool ok = root && json_tokener_get_error(jt) == json_tokener_success &&
              json_object_is_type(root, json_type_object);
    json_tokener_free(jt);
    free(buf);
    if (!ok) {
        json_object_put(root);
        return fail(L, TOK_EPARSE, "%s: not a JSON object", path);
    }
    static const struct {
        const char *key;
        enum tok_special which;
    } keys[] = {{"cls_token", TOK_SPECIAL_CLS}, {"sep_token", TOK_SPECIAL_SEP},
                {"pad_token", TOK_SPECIAL_PAD}, {"unk_token", TOK_SPECIAL_UNK},
                {"mask_token", TOK_SPECIAL_MASK}, {"bos_token", TOK_SPECIAL_BOS},
                {"eos_token", TOK_SPECIAL_EOS}};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        json_object *v = get(root, keys[i].key);
        if (v && json_object_is_type(v, json_type_object)) v = get(v, "content");
        if (!is_str(v)) continue;
        int32_t id = tok_token_to_id(tok, json_object_get_string(v));
        if (id >= 0) tok->specials[keys[i].which] = id;
    }
    json_object *ml = get(root, "model_max_length");
    if (ml && json_object_is_type(ml, json_type_int) && json_object_get_int64(ml) > 0 &&
        json_object_get_int64(ml) < ((int64_t)1 << 40))
        tok->model_max_length = (size_t)json_object_get_int64(ml);
    json_object_put(root);
    return TOK_OK;
}

int tok_tokenizer_load(const char *path, struct tok_tokenizer **out, char *err, size_t errlen) {
    struct ld L = {err, errlen};
    if (err && errlen) err[0] = 0;
    if (!path || !out) return fail(&L, TOK_EINVAL, "NULL argument");
    struct stat st;
    char full[4096], cfg[4096];
    if (stat(path, &st) != 0) return fail(&L, TOK_EIO, "%s: %s", path, strerror(errno));
    size_t pl = strlen(path);
    if (pl > sizeof full - 32) return fail(&L, TOK_EINVAL, "path too long");
    if (S_ISDIR(st.st_mode)) {
        snprintf(full, sizeof full, "%s/tokenizer.json", path);
        snprintf(cfg, sizeof cfg, "%s/tokenizer_config.json", path);
    } else {
        snprintf(full, sizeof full, "%s", path);
        const char *slash = strrchr(path, '/');
        int dl = slash ? (int)(slash - path) : 1;
        snprintf(cfg, sizeof cfg, "%.*s/tokenizer_config.json", dl, slash ? path : ".");
    }
    size_t n;
    int rc;
    char *buf = read_file(&L, full, &n, &rc);
    if (!buf) return rc;
    rc = tok_tokenizer_load_json(buf, n, out, err, errlen);
    free(buf);
    if (rc) return rc;
    if (stat(cfg, &st) == 0 && S_ISREG(st.st_mode) && (rc = apply_config(&L, *out, cfg))) {
        tok_tokenizer_free(*out);
        *out = NULL;
        return rc;
    }
    return TOK_OK;
}

size_t tok_model_max_length(const struct tok_tokenizer *tok) {
    return tok ? tok->model_max_length : 0;
}

static void post_free(struct tok_post *p) {
    struct tok_tpl_item *lists[2] = {p->single, p->pair};
    size_t ns[2] = {p->n_single, p->n_pair};
    for (int w = 0; w < 2; w++) {
        for (size_t i = 0; lists[w] && i < ns[w]; i++) {
            for (size_t j = 0; j < lists[w][i].n_ids && lists[w][i].toks; j++)
                free(lists[w][i].toks[j]);
            free(lists[w][i].ids);
            free(lists[w][i].toks);
        }
        free(lists[w]);
    }
    for (size_t i = 0; i < p->n_subs; i++) post_free(&p->subs[i]);
    free(p->subs);
    memset(p, 0, sizeof *p);
}

void tok_post_clear(struct tok_post *p) {
    post_free(p);
}

void tok_decoder_clear(struct tok_decoder *d) {
    free(d->prefix);
    free(d->pat);
    free(d->content);
    for (size_t i = 0; i < d->n_subs; i++) tok_decoder_clear(&d->subs[i]);
    free(d->subs);
    memset(d, 0, sizeof *d);
}

void tok_tokenizer_free(struct tok_tokenizer *tok) {
    if (!tok) return;
    tok_normalizer_clear(&tok->norm);
    tok_pretok_clear(&tok->pretok);
    tok_post_clear(&tok->post);
    tok_decoder_clear(&tok->dec);
    tok_hash_free(&tok->model.vocab);
    tok_pairmap_free(&tok->model.merges);
    free(tok->model.prefix);
    free(tok->model.suffix);
#ifdef TOK_HAVE_UNIGRAM
    tok_unigram_free(tok->model.unigram);
#endif
    for (size_t i = 0; i < tok->n_added; i++) free(tok->added[i].content);
    free(tok->added);
    tok_trie_free(&tok->trie_raw);
    tok_trie_free(&tok->trie_norm);
    tok_hash_free(&tok->added_by_content);
    free(tok->id_to_tok);
    free(tok->id_special);
    free(tok->pool);
    free(tok->pad_token);
    tok_pattern_free(&tok->bytelevel_re);
    free(tok);
}

size_t tok_vocab_size(const struct tok_tokenizer *tok) {
    return tok ? tok->n_ids : 0;
}

const char *tok_id_to_token(const struct tok_tokenizer *tok, int32_t id) {
    if (!tok || id < 0 || (size_t)id >= tok->n_ids) return NULL;
    return tok->id_to_tok[id];
}

int32_t tok_token_to_id(const struct tok_tokenizer *tok, const char *token) {
    if (!tok || !token) return -1;
    size_t n = strlen(token);
    int32_t id = tok_hash_get(&tok->added_by_content, token, n);
    if (id >= 0) return id;
    return tok_hash_get(&tok->model.vocab, token, n);
}

int32_t tok_special_id(const struct tok_tokenizer *tok, enum tok_special which) {
    if (!tok || (int)which < 0 || which > TOK_SPECIAL_EOS) return -1;
    return tok->specials[which];
}

const char *tok_model_name(const struct tok_tokenizer *tok) {
    return tok ? tok->name : "";
}
