/* pretok.c — pre-tokenizers (HF `pre_tokenizers::*`): cut splits into words, in place.
 *
 * HF semantics kept: char-class patterns yield one match per char, regexes their matches;
 * the behaviour (Removed, Isolated, Merged*, Contiguous) then groups the pieces; empty
 * pieces are dropped. Slices share the parent's bytes; only ByteLevel/Metaspace rewrite. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_impl.h"

/* GPT-2 byte → printable code point table. */
const int32_t tok_byte_to_cp[256] = {
#define R(x) x
    256, 257, 258, 259, 260, 261, 262, 263, 264, 265, 266, 267, 268, 269, 270, 271,
    272, 273, 274, 275, 276, 277, 278, 279, 280, 281, 282, 283, 284, 285, 286, 287,
    288, 33,  34,  35,  36,  37,  38,  39,  40,  41,  42,  43,  44,  45,  46,  47,
    48,  49,  50,  51,  52,  53,  54,  55,  56,  57,  58,  59,  60,  61,  62,  63,
    64,  65,  66,  67,  68,  69,  70,  71,  72,  73,  74,  75,  76,  77,  78,  79,
    80,  81,  82,  83,  84,  85,  86,  87,  88,  89,  90,  91,  92,  93,  94,  95,
    96,  97,  98,  99,  100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111,
    112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 289,
    290, 291, 292, 293, 294, 295, 296, 297, 298, 299, 300, 301, 302, 303, 304, 305,
    306, 307, 308, 309, 310, 311, 312, 313, 314, 315, 316, 317, 318, 319, 320, 321,
    322, 161, 162, 163, 164, 165, 166, 167, 168, 169, 170, 171, 172, 323, 174, 175,
    176, 177, 178, 179, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 190, 191,
    192, 193, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 204, 205, 206, 207,
    208, 209, 210, 211, 212, 213, 214, 215, 216, 217, 218, 219, 220, 221, 222, 223,
    224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234, 235, 236, 237, 238, 239,
    240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250, 251, 252, 253, 254, 255,
#undef R
};

/* A match list covering the split: (start, end, is_match). */
struct mlist {
    uint32_t *st, *en;
    uint8_t *is;
    size_t n, cap;
};
static int ml_push(struct mlist *m, struct tok_arena *a, uint32_t s, uint32_t e, bool is) {
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 32;
        uint32_t *st = tok_arena_alloc(a, nc * 4), *en = tok_arena_alloc(a, nc * 4);
        uint8_t *i = tok_arena_alloc(a, nc);
        if (!st || !en || !i) return TOK_ENOMEM;
        if (m->n) {
            memcpy(st, m->st, m->n * 4);
            memcpy(en, m->en, m->n * 4);
            memcpy(i, m->is, m->n);
        }
        m->st = st;
        m->en = en;
        m->is = i;
        m->cap = nc;
    }
    m->st[m->n] = s;
    m->en[m->n] = e;
    m->is[m->n] = is;
    m->n++;
    return TOK_OK;
}

/* Apply the behaviour to a match list and push the resulting non-empty slices. */
static int split_by(const struct tok_split *sp, struct mlist *m, enum tok_split_behavior b,
                    bool invert, struct tok_splits *out, struct tok_arena *a) {
    if (invert)
        for (size_t i = 0; i < m->n; i++) m->is[i] = !m->is[i];
    struct tok_split piece;
    size_t n = m->n;
    /* result ranges, built in place (at most n) */
    uint32_t *rs = tok_arena_alloc(a, (n + 1) * 4), *re = tok_arena_alloc(a, (n + 1) * 4);
    if (!rs || !re) return TOK_ENOMEM;
    size_t k = 0;
    bool prev = false;
    switch (b) {
    case TOK_SPLIT_ISOLATED:
        for (size_t i = 0; i < n; i++) rs[k] = m->st[i], re[k++] = m->en[i];
        break;
    case TOK_SPLIT_REMOVED:
        for (size_t i = 0; i < n; i++)
            if (!m->is[i]) rs[k] = m->st[i], re[k++] = m->en[i];
        break;
    case TOK_SPLIT_MERGED_PREV:
        for (size_t i = 0; i < n; i++) {
            if (m->is[i] && !prev && k) re[k - 1] = m->en[i];
            else rs[k] = m->st[i], re[k++] = m->en[i];
            prev = m->is[i];
        }
        break;
    case TOK_SPLIT_MERGED_NEXT:
        for (size_t ii = n; ii-- > 0;) {
            if (m->is[ii] && !prev && k) rs[k - 1] = m->st[ii];
            else rs[k] = m->st[ii], re[k++] = m->en[ii];
            prev = m->is[ii];
        }
        for (size_t i = 0; i < k / 2; i++) {
            uint32_t t = rs[i];
            rs[i] = rs[k - 1 - i];
            rs[k - 1 - i] = t;
            t = re[i];
            re[i] = re[k - 1 - i];
            re[k - 1 - i] = t;
        }
        break;
    case TOK_SPLIT_CONTIGUOUS:
        for (size_t i = 0; i < n; i++) {
            if ((bool)m->is[i] == prev && k) re[k - 1] = m->en[i];
            else rs[k] = m->st[i], re[k++] = m->en[i];
            prev = m->is[i];
        }
        break;
    }
    for (size_t i = 0; i < k; i++) {
        if (re[i] <= rs[i]) continue;
        tok_split_slice(sp, rs[i], re[i], a, &piece);
        if (tok_splits_push(out, a, &piece)) return TOK_ENOMEM;
    }
    return TOK_OK;
}

/* Char-predicate pattern: every matching char is its own match. */
static int match_chars(const struct tok_split *sp, bool (*pred)(int32_t, const void *),
                       const void *ctx, struct mlist *m, struct tok_arena *a) {
    const unsigned char *s = (const unsigned char *)sp->s;
    uint32_t last = 0;
    for (uint32_t i = 0; i < sp->len;) {
        int32_t c;
        uint32_t l = (uint32_t)tok_utf8_dec(s + i, &c);
        if (pred(c, ctx)) {
            if (last < i && ml_push(m, a, last, i, false)) return TOK_ENOMEM;
            if (ml_push(m, a, i, i + l, true)) return TOK_ENOMEM;
            last = i + l;
        }
        i += l;
    }
    if (last < sp->len && ml_push(m, a, last, sp->len, false)) return TOK_ENOMEM;
    return TOK_OK;
}

static int match_pattern(const struct tok_split *sp, const struct tok_pattern *p, struct mlist *m,
                         struct tok_arena *a) {
    struct tok_span *v;
    size_t nv;
    int rc = tok_pattern_find(p, sp->s, sp->len, a, &v, &nv);
    if (rc) return rc;
    uint32_t prev = 0;
    for (size_t i = 0; i < nv; i++) {
        if (prev != v[i].start && ml_push(m, a, prev, v[i].start, false)) return TOK_ENOMEM;
        if (ml_push(m, a, v[i].start, v[i].end, true)) return TOK_ENOMEM;
        prev = v[i].end;
    }
    if (prev != sp->len && ml_push(m, a, prev, sp->len, false)) return TOK_ENOMEM;
    return TOK_OK;
}

static bool pred_ws(int32_t c, const void *ctx) {
    (void)ctx;
    return tok_is_whitespace(c);
}
static bool pred_punct(int32_t c, const void *ctx) {
    (void)ctx;
    if (c < 0x80)
        return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
               (c >= 123 && c <= 126);
    return tok_is_punct(c);
}
static bool pred_digit(int32_t c, const void *ctx) {
    (void)ctx;
    return c >= '0' && c <= '9';
}
static bool pred_cp(int32_t c, const void *ctx) {
    return c == *(const int32_t *)ctx;
}

/* BertPreTokenizer in one pass: whitespace removed, punctuation isolated. */
static int bert_split(const struct tok_split *sp, struct tok_splits *out, struct tok_arena *a) {
    const unsigned char *s = (const unsigned char *)sp->s;
    uint32_t ws = 0;
    struct tok_split piece;
    for (uint32_t i = 0; i < sp->len;) {
        int32_t c;
        uint32_t l;
        if (s[i] < 0x80) c = s[i], l = 1;
        else l = (uint32_t)tok_utf8_dec(s + i, &c);
        bool w = tok_is_whitespace(c), p = !w && pred_punct(c, NULL);
        if (w || p) {
            if (i > ws) {
                tok_split_slice(sp, ws, i, a, &piece);
                if (tok_splits_push(out, a, &piece)) return TOK_ENOMEM;
            }
            if (p) {
                tok_split_slice(sp, i, i + l, a, &piece);
                if (tok_splits_push(out, a, &piece)) return TOK_ENOMEM;
            }
            ws = i + l;
        }
        i += l;
    }
    if (sp->len > ws) {
        tok_split_slice(sp, ws, sp->len, a, &piece);
        if (tok_splits_push(out, a, &piece)) return TOK_ENOMEM;
    }
    return TOK_OK;
}

/* HF NormalizedString::prepend: the new chars take the first char's alignment. */
static int prepend_cp(struct tok_split *sp, int32_t cp, struct tok_arena *a) {
    if (!sp->len) return TOK_OK;
    char enc[4];
    int l = tok_utf8_enc(cp, enc);
    char *ns = tok_arena_alloc(a, sp->len + (size_t)l);
    struct tok_span *nal = tok_arena_alloc(a, (sp->len + (size_t)l) * sizeof *nal);
    if (!ns || !nal) return TOK_ENOMEM;
    memcpy(ns, enc, (size_t)l);
    for (int i = 0; i < l; i++) nal[i] = sp->al[0];
    memcpy(ns + l, sp->s, sp->len);
    memcpy(nal + l, sp->al, sp->len * sizeof *nal);
    sp->s = ns;
    sp->al = nal;
    sp->len += (uint32_t)l;
    return TOK_OK;
}

/* Replace every ' ' by the replacement char (one char for one: alignment kept). */
static int replace_space(struct tok_split *sp, int32_t rep, struct tok_arena *a) {
    size_t cnt = 0;
    for (uint32_t i = 0; i < sp->len; i++) cnt += sp->s[i] == ' ';
    if (!cnt) return TOK_OK;
    char enc[4];
    size_t l = (size_t)tok_utf8_enc(rep, enc);
    size_t nl = sp->len + cnt * (l - 1);
    char *ns = tok_arena_alloc(a, nl);
    struct tok_span *nal = tok_arena_alloc(a, nl * sizeof *nal);
    if (!ns || !nal) return TOK_ENOMEM;
    size_t w = 0;
    for (uint32_t i = 0; i < sp->len; i++) {
        if (sp->s[i] == ' ') {
            memcpy(ns + w, enc, l);
            for (size_t k = 0; k < l; k++) nal[w + k] = sp->al[i];
            w += l;
        } else {
            ns[w] = sp->s[i];
            nal[w++] = sp->al[i];
        }
    }
    sp->s = ns;
    sp->al = nal;
    sp->len = (uint32_t)nl;
    return TOK_OK;
}

static int bytelevel_map(struct tok_split *sp, struct tok_arena *a) {
    size_t nl = 0;
    for (uint32_t i = 0; i < sp->len; i++) nl += tok_byte_to_cp[(unsigned char)sp->s[i]] < 0x80 ? 1 : 2;
    char *ns = tok_arena_alloc(a, nl);
    struct tok_span *nal = tok_arena_alloc(a, nl * sizeof *nal);
    if (!ns || !nal) return TOK_ENOMEM;
    size_t w = 0;
    for (uint32_t i = 0; i < sp->len;) {
        uint32_t cl = (uint32_t)tok_utf8_len((unsigned char)sp->s[i]);
        for (uint32_t k = 0; k < cl; k++) {
            int32_t cp = tok_byte_to_cp[(unsigned char)sp->s[i + k]];
            int l = tok_utf8_enc(cp, ns + w);
            /* first byte replaces the char (its alignment), the others are inserted after it */
            struct tok_span al = k == 0 ? sp->al[i] : sp->al[i + cl - 1];
            for (int b = 0; b < l; b++) nal[w + (size_t)b] = al;
            w += (size_t)l;
        }
        i += cl;
    }
    sp->s = ns;
    sp->al = nal;
    sp->len = (uint32_t)nl;
    return TOK_OK;
}

static int pretok_one(const struct tok_pretok *p, const struct tok_pattern *blre,
                      struct tok_split *sp, bool first, struct tok_splits *out,
                      struct tok_arena *a) {
    struct mlist m = {0};
    int rc;
    switch (p->type) {
    case TOK_PRE_BERT: return bert_split(sp, out, a);
    case TOK_PRE_WHITESPACE_SPLIT:
        if ((rc = match_chars(sp, pred_ws, NULL, &m, a))) return rc;
        return split_by(sp, &m, TOK_SPLIT_REMOVED, false, out, a);
    case TOK_PRE_WHITESPACE:
        if ((rc = match_pattern(sp, &p->pattern, &m, a))) return rc;
        return split_by(sp, &m, TOK_SPLIT_REMOVED, true, out, a);
    case TOK_PRE_PUNCTUATION:
        if ((rc = match_chars(sp, pred_punct, NULL, &m, a))) return rc;
        return split_by(sp, &m, p->behavior, false, out, a);
    case TOK_PRE_DIGITS:
        if ((rc = match_chars(sp, pred_digit, NULL, &m, a))) return rc;
        return split_by(sp, &m, p->individual_digits ? TOK_SPLIT_ISOLATED : TOK_SPLIT_CONTIGUOUS,
                        false, out, a);
    case TOK_PRE_SPLIT:
        if ((rc = match_pattern(sp, &p->pattern, &m, a))) return rc;
        return split_by(sp, &m, p->behavior, p->invert, out, a);
    case TOK_PRE_METASPACE: {
        if ((rc = replace_space(sp, p->replacement, a))) return rc;
        char enc[4];
        int l = tok_utf8_enc(p->replacement, enc);
        bool starts = sp->len >= (uint32_t)l && memcmp(sp->s, enc, (size_t)l) == 0;
        if (!starts && (p->prepend_scheme == TOK_PREPEND_ALWAYS ||
                        (p->prepend_scheme == TOK_PREPEND_FIRST && first)))
            if ((rc = prepend_cp(sp, p->replacement, a))) return rc;
        if (!p->split) return tok_splits_push(out, a, sp);
        if ((rc = match_chars(sp, pred_cp, &p->replacement, &m, a))) return rc;
        return split_by(sp, &m, TOK_SPLIT_MERGED_NEXT, false, out, a);
    }
    case TOK_PRE_BYTELEVEL: {
        if (p->add_prefix_space && !(sp->len && sp->s[0] == ' '))
            if ((rc = prepend_cp(sp, ' ', a))) return rc;
        size_t before = out->n;
        if (p->use_regex) {
            if ((rc = match_pattern(sp, blre, &m, a))) return rc;
            if ((rc = split_by(sp, &m, TOK_SPLIT_ISOLATED, false, out, a))) return rc;
        } else if (sp->len) {
            if ((rc = tok_splits_push(out, a, sp))) return rc;
        }
        for (size_t i = before; i < out->n; i++)
            if ((rc = bytelevel_map(&out->v[i], a))) return rc;
        return TOK_OK;
    }
    case TOK_PRE_SEQUENCE: break;
    }
    return TOK_EINVAL;
}

int tok_pretokenize(const struct tok_pretok *p, const struct tok_pattern *blre,
                    struct tok_splits *io, struct tok_arena *a) {
    int rc;
    if (p->type == TOK_PRE_SEQUENCE) {
        for (size_t i = 0; i < p->n_subs; i++)
            if ((rc = tok_pretokenize(&p->subs[i], blre, io, a))) return rc;
        return TOK_OK;
    }
    struct tok_splits out = {0};
    for (size_t i = 0; i < io->n; i++) {
        struct tok_split sp = io->v[i];
        if (sp.added_id >= 0) {
            if ((rc = tok_splits_push(&out, a, &sp))) return rc;
            continue;
        }
        /* Metaspace "first": only the split that starts the original text */
        bool first = sp.len ? sp.al[0].start == 0 : false;
        if ((rc = pretok_one(p, blre, &sp, first, &out, a))) return rc;
    }
    *io = out;
    return TOK_OK;
}

void tok_pretok_clear(struct tok_pretok *p) {
    tok_pattern_free(&p->pattern);
    for (size_t i = 0; i < p->n_subs; i++) tok_pretok_clear(&p->subs[i]);
    free(p->subs);
    memset(p, 0, sizeof *p);
}
