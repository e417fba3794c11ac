/* fastjson.c — a fast path for the two big arrays of tokenizer.json (model.vocab and
 * model.merges: 262k + 514k entries for Gemma 3).
 *
 * DESIGN. Building json-c objects for a million small strings, then freeing them, costs
 * about a second on a 33 MB file. We locate the two values with a string-aware skipper,
 * decode them straight into an arena, and give json-c the rest of the document with those
 * values blanked out (same length, so its error offsets stay right). Anything unusual
 * (value not found, unbalanced) falls back to json-c for the whole file. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_fastjson.h"

static const char *ws(const char *p, const char *e) {
    while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    return p;
}

/* p at '"': returns the char after the closing quote, or NULL */
static const char *skip_str(const char *p, const char *e) {
    p++;
    while (p < e) {
        const char *q = memchr(p, '"', (size_t)(e - p));
        if (!q) return NULL;
        /* escaped quote: an odd number of backslashes before it */
        size_t bs = 0;
        while (q - bs > p && q[-1 - (ptrdiff_t)bs] == '\\') bs++;
        if (!(bs & 1)) return q + 1;
        p = q + 1;
    }
    return NULL;
}

static const char *skip_value(const char *p, const char *e) {
    p = ws(p, e);
    if (p >= e) return NULL;
    if (*p == '"') return skip_str(p, e);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        for (; p < e; p++) {
            char ch = *p;
            if (ch != '"' && ch != '{' && ch != '[' && ch != '}' && ch != ']') continue;
            if (ch == '"') {
                p = skip_str(p, e);
                if (!p) return NULL;
                p--;
                continue;
            }
            if (ch == '{' || ch == '[') depth++;
            else if (*p == '}' || *p == ']') {
                if (--depth == 0) return p + 1;
                if (depth > 1000000) return NULL;
            }
        }
        return NULL;
    }
    while (p < e && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' &&
           *p != '\r' && *p != '\t')
        p++;
    return p;
}

/* Iterate an object's keys: calls f(key, klen, value_start, value_end, ctx). */
static bool each_key(const char *p, const char *e,
                     void (*f)(const char *, size_t, const char *, const char *, void *),
                     void *ctx) {
    p = ws(p, e);
    if (p >= e || *p != '{') return false;
    p = ws(p + 1, e);
    if (p < e && *p == '}') return true;
    for (;;) {
        if (p >= e || *p != '"') return false;
        const char *k = p + 1, *ke = skip_str(p, e);
        if (!ke) return false;
        p = ws(ke, e);
        if (p >= e || *p != ':') return false;
        const char *vs = ws(p + 1, e), *ve = skip_value(vs, e);
        if (!ve) return false;
        f(k, (size_t)(ke - 1 - k), vs, ve, ctx);
        p = ws(ve, e);
        if (p < e && *p == ',') {
            p = ws(p + 1, e);
            continue;
        }
        return p < e && *p == '}';
    }
}

struct find_ctx {
    struct tok_span *vocab, *merges;
    const char *base;
    bool found_model;
};
static void model_key(const char *k, size_t kl, const char *vs, const char *ve, void *c) {
    struct find_ctx *x = c;
    struct tok_span sp = {(uint32_t)(vs - x->base), (uint32_t)(ve - x->base)};
    if (kl == 5 && !memcmp(k, "vocab", 5) && (*vs == '{' || *vs == '[')) *x->vocab = sp;
    if (kl == 6 && !memcmp(k, "merges", 6) && *vs == '[') *x->merges = sp;
}
static void top_key(const char *k, size_t kl, const char *vs, const char *ve, void *c) {
    struct find_ctx *x = c;
    if (kl == 5 && !memcmp(k, "model", 5) && *vs == '{' && !x->found_model) {
        x->found_model = true;
        struct tok_span v0 = *x->vocab, m0 = *x->merges;
        if (!each_key(vs, ve, model_key, x)) *x->vocab = v0, *x->merges = m0;
    }
}

bool tok_fj_find_model(const char *buf, size_t len, struct tok_span *vocab,
                       struct tok_span *merges) {
    *vocab = *merges = (struct tok_span){0, 0};
    if (len >= UINT32_MAX) return false;
    struct find_ctx x = {vocab, merges, buf, false};
    if (!each_key(buf, buf + len, top_key, &x)) {
        *vocab = *merges = (struct tok_span){0, 0};
        return false;
    }
    return vocab->end > vocab->start || merges->end > merges->start;
}

static int hexv(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* p at '"'; decodes into the arena (NUL-terminated). Returns the end pointer or NULL. */
static const char *get_str(const char *p, const char *e, struct tok_arena *a, const char **out,
                           size_t *olen) {
    const char *q = skip_str(p, e);
    if (!q) return NULL;
    const char *s = p + 1, *se = q - 1;
    if (!memchr(s, '\\', (size_t)(se - s))) {
        char *d = tok_arena_alloc(a, (size_t)(se - s) + 1);
        if (!d) return NULL;
        memcpy(d, s, (size_t)(se - s));
        d[se - s] = 0;
        *out = d;
        *olen = (size_t)(se - s);
        return q;
    }
    char *d = tok_arena_alloc(a, (size_t)(se - s) * 2 + 4);
    if (!d) return NULL;
    size_t w = 0;
    for (const char *r = s; r < se; r++) {
        if (*r != '\\') {
            d[w++] = *r;
            continue;
        }
        if (++r >= se) return NULL;
        switch (*r) {
        case '"': d[w++] = '"'; break;
        case '\\': d[w++] = '\\'; break;
        case '/': d[w++] = '/'; break;
        case 'b': d[w++] = '\b'; break;
        case 'f': d[w++] = '\f'; break;
        case 'n': d[w++] = '\n'; break;
        case 'r': d[w++] = '\r'; break;
        case 't': d[w++] = '\t'; break;
        case 'u': {
            if (se - r < 5) return NULL;
            int32_t c = 0;
            for (int k = 1; k <= 4; k++) {
                int h = hexv(r[k]);
                if (h < 0) return NULL;
                c = c * 16 + h;
            }
            r += 4;
            if (c >= 0xD800 && c <= 0xDBFF && se - r >= 7 && r[1] == '\\' && r[2] == 'u') {
                int32_t lo = 0;
                bool ok = true;
                for (int k = 3; k <= 6; k++) {
                    int h = hexv(r[k]);
                    if (h < 0) ok = false;
                    lo = lo * 16 + (h < 0 ? 0 : h);
                }
                if (ok && lo >= 0xDC00 && lo <= 0xDFFF) {
                    c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
                    r += 6;
                }
            }
            if (c >= 0xD800 && c <= 0xDFFF) c = 0xFFFD; /* lone surrogate */
            w += (size_t)tok_utf8_enc(c, d + w);
            break;
        }
        default: return NULL;
        }
    }
    d[w] = 0;
    *out = d;
    *olen = w;
    return q;
}

static int grow(void **v, size_t *cap, size_t n, size_t el, struct tok_arena *a) {
    if (n < *cap) return TOK_OK;
    size_t nc = *cap ? *cap * 2 : 1024;
    void *nv = tok_arena_alloc(a, nc * el);
    if (!nv) return TOK_ENOMEM;
    if (n) memcpy(nv, *v, n * el);
    *v = nv;
    *cap = nc;
    return TOK_OK;
}

#define FAIL(msg)                                                                                  \
    do {                                                                                           \
        if (err && errlen) snprintf(err, errlen, "%s (byte %zu)", msg, (size_t)(p - buf));         \
        return TOK_EPARSE;                                                                         \
    } while (0)

int tok_fj_vocab(const char *buf, struct tok_span r, struct tok_arena *a, struct tok_vocab_in *v,
                 size_t max_n, char *err, size_t errlen) {
    const char *p = buf + r.start, *e = buf + r.end;
    memset(v, 0, sizeof *v);
    size_t cap = 0;
    v->is_array = *p == '[';
    char close = v->is_array ? ']' : '}';
    p = ws(p + 1, e);
    if (p < e && *p == close) return TOK_OK;
    for (;;) {
        if (v->n >= max_n) {
            if (err && errlen) snprintf(err, errlen, "vocab exceeds the limit of %zu entries", max_n);
            return TOK_ELIMIT;
        }
        size_t c0 = cap;
        if (grow((void **)&v->s, &c0, v->n, sizeof *v->s, a) ||
            grow((void **)&v->l, &(size_t){cap}, v->n, sizeof *v->l, a) ||
            grow((void **)&v->id, &(size_t){cap}, v->n, sizeof *v->id, a) ||
            grow((void **)&v->score, &(size_t){cap}, v->n, sizeof *v->score, a))
            return TOK_ENOMEM;
        cap = c0;
        if (v->is_array) {
            if (p >= e || *p != '[') FAIL("Unigram vocab entry must be [piece, score]");
            p = ws(p + 1, e);
        }
        if (p >= e || *p != '"') FAIL(v->is_array ? "Unigram vocab entry must be [piece, score]"
                                                  : "vocab key must be a string");
        p = get_str(p, e, a, &v->s[v->n], &v->l[v->n]);
        if (!p) {
            p = buf + r.start;
            FAIL("bad string in vocab");
        }
        p = ws(p, e);
        if (p >= e || *p != (v->is_array ? ',' : ':')) FAIL("malformed vocab entry");
        p = ws(p + 1, e);
        char num[64];
        size_t k = 0;
        while (p < e && k < sizeof num - 1 &&
               ((*p >= '0' && *p <= '9') || *p == '-' || *p == '+' || *p == '.' || *p == 'e' ||
                *p == 'E'))
            num[k++] = *p++;
        num[k] = 0;
        char *end;
        if (v->is_array) {
            double d = strtod(num, &end);
            if (!k || *end) FAIL("Unigram vocab entry: score must be a number");
            v->score[v->n] = d;
            v->id[v->n] = (int64_t)v->n;
            p = ws(p, e);
            if (p >= e || *p != ']') FAIL("Unigram vocab entry must be [piece, score]");
            p++;
        } else {
            long long id = strtoll(num, &end, 10);
            if (!k || *end) FAIL("vocab entry must map to an integer id");
            v->id[v->n] = id;
            v->score[v->n] = 0;
        }
        v->n++;
        p = ws(p, e);
        if (p < e && *p == ',') {
            p = ws(p + 1, e);
            continue;
        }
        if (p < e && *p == close) return TOK_OK;
        FAIL("malformed vocab");
    }
}

int tok_fj_merges(const char *buf, struct tok_span r, struct tok_arena *a,
                  struct tok_merges_in *m, size_t max_n, char *err, size_t errlen) {
    const char *p = buf + r.start, *e = buf + r.end;
    memset(m, 0, sizeof *m);
    size_t cap = 0;
    p = ws(p + 1, e);
    if (p < e && *p == ']') return TOK_OK;
    for (;;) {
        if (m->n >= max_n) {
            if (err && errlen) snprintf(err, errlen, "more than %zu merges", max_n);
            return TOK_ELIMIT;
        }
        size_t c0 = cap;
        if (grow((void **)&m->a, &c0, m->n, sizeof *m->a, a) ||
            grow((void **)&m->b, &(size_t){cap}, m->n, sizeof *m->b, a) ||
            grow((void **)&m->al, &(size_t){cap}, m->n, sizeof *m->al, a) ||
            grow((void **)&m->bl, &(size_t){cap}, m->n, sizeof *m->bl, a))
            return TOK_ENOMEM;
        cap = c0;
        size_t i = m->n;
        if (p < e && *p == '"') {
            const char *s;
            size_t l;
            p = get_str(p, e, a, &s, &l);
            if (!p) {
                p = buf + r.start;
                FAIL("bad string in merges");
            }
            const char *sp = memchr(s, ' ', l);
            if (!sp) {
                if (err && errlen)
                    snprintf(err, errlen, "merge %zu \"%.40s\" is not \"a b\"", i, s);
                return TOK_EPARSE;
            }
            m->a[i] = s;
            m->al[i] = (size_t)(sp - s);
            m->b[i] = sp + 1;
            m->bl[i] = l - m->al[i] - 1;
        } else if (p < e && *p == '[') {
            p = ws(p + 1, e);
            if (p >= e || *p != '"') FAIL("merge must be \"a b\" or [a, b]");
            p = get_str(p, e, a, &m->a[i], &m->al[i]);
            if (!p) {
                p = buf + r.start;
                FAIL("bad string in merges");
            }
            p = ws(p, e);
            if (p >= e || *p != ',') FAIL("merge must be \"a b\" or [a, b]");
            p = ws(p + 1, e);
            if (p >= e || *p != '"') FAIL("merge must be \"a b\" or [a, b]");
            p = get_str(p, e, a, &m->b[i], &m->bl[i]);
            if (!p) {
                p = buf + r.start;
                FAIL("bad string in merges");
            }
            p = ws(p, e);
            if (p >= e || *p != ']') FAIL("merge must be \"a b\" or [a, b]");
            p++;
        } else {
            if (err && errlen) snprintf(err, errlen, "merge %zu must be \"a b\" or [a, b]", i);
            return TOK_EPARSE;
        }
        m->n++;
        p = ws(p, e);
        if (p < e && *p == ',') {
            p = ws(p + 1, e);
            continue;
        }
        if (p < e && *p == ']') return TOK_OK;
        FAIL("malformed merges");
    }
}
