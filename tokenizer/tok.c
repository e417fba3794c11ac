/* tok.c — shared helpers: status strings, scratch arena, UTF-8, Unicode classes, patterns,
 * and the HF-compatible "transform" that rebuilds a split and its alignments. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "tokenizer/tok_impl.h"

const char *tok_strerror(int status) {
    switch (status) {
    case TOK_OK: return "ok";
    case TOK_ENOMEM: return "out of memory";
    case TOK_EIO: return "tokenizer file could not be read";
    case TOK_EPARSE: return "tokenizer.json is not valid JSON or has wrong types";
    case TOK_EUNSUPPORTED: return "unsupported tokenizer component";
    case TOK_EINVAL: return "invalid argument or inconsistent tokenizer file";
    case TOK_EUTF8: return "input text is not valid UTF-8";
    case TOK_ETOOSMALL: return "buffer too small";
    case TOK_ELIMIT: return "size limit exceeded";
    default: return "unknown tokenizer status";
    }
}

/* ---- arena ---- */
struct tok_arena_blk {
    struct tok_arena_blk *next;
    size_t used, cap;
    max_align_t data[];
};

void *tok_arena_alloc(struct tok_arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    struct tok_arena_blk *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = 64 * 1024;
        if (b && b->cap < (1u << 24)) cap = b->cap * 2;
        if (cap < n) cap = n;
        b = malloc(sizeof *b + cap);
        if (!b) {
            a->failed = true;
            return NULL;
        }
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    return p;
}

void tok_arena_free(struct tok_arena *a) {
    struct tok_arena_blk *b = a->head;
    while (b) {
        struct tok_arena_blk *n = b->next;
        free(b);
        b = n;
    }
    a->head = NULL;
}

/* ---- UTF-8 ---- */
int tok_utf8_enc(int32_t cp, char *o) {
    uint32_t c = (uint32_t)cp;
    if (c < 0x80) {
        o[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (char)(0xC0 | (c >> 6));
        o[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (char)(0xE0 | (c >> 12));
        o[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (c >> 18));
    o[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    o[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

bool tok_utf8_valid(const char *str, size_t n, size_t *bad) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint32_t cp, min;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            cp = c & 0x1F;
            min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            cp = c & 0x0F;
            min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            *bad = i;
            return false;
        }
        for (size_t k = 1; k <= need; k++) {
            if (i + k >= n || (s[i + k] & 0xC0) != 0x80) {
                *bad = i;
                return false;
            }
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            *bad = i;
            return false;
        }
        i += need + 1;
    }
    return true;
}

bool tok_is_whitespace(int32_t c) {
    if (c < 0x80) return c == ' ' || (c >= 9 && c <= 13);
    switch (c) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F:
    case 0x3000: return true;
    default: return c >= 0x2000 && c <= 0x200A;
    }
}

bool tok_is_punct(int32_t c) {
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

bool tok_is_alnum(int32_t c) {
    if (c < 0x80)
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    utf8proc_category_t k = utf8proc_category(c);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) ||
           (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO);
}

/* ---- patterns ---- */
int tok_pattern_compile(struct tok_pattern *p, const char *s, size_t len, bool regex, char *err,
                        size_t errlen) {
    memset(p, 0, sizeof *p);
    if (!regex) {
        p->literal = malloc(len + 1);
        if (!p->literal) return TOK_ENOMEM;
        memcpy(p->literal, s, len);
        p->literal[len] = 0;
        p->lit_len = len;
        return TOK_OK;
    }
    int ec;
    PCRE2_SIZE eo;
    p->re = pcre2_compile((PCRE2_SPTR)s, len, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
    if (!p->re) {
        if (err && errlen) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(ec, msg, sizeof msg);
            snprintf(err, errlen, "regex does not compile at offset %zu: %s", (size_t)eo,
                     (const char *)msg);
        }
        return TOK_EINVAL;
    }
    pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if no JIT */
    return TOK_OK;
}

void tok_pattern_free(struct tok_pattern *p) {
    free(p->literal);
    if (p->re) pcre2_code_free(p->re);
    memset(p, 0, sizeof *p);
}

int tok_pattern_find(const struct tok_pattern *p, const char *s, size_t n, struct tok_arena *a,
                     struct tok_span **out, size_t *n_out) {
    size_t cap = 16, cnt = 0;
    struct tok_span *v = tok_arena_alloc(a, cap * sizeof *v);
    if (!v) return TOK_ENOMEM;
    if (p->literal) {
        size_t i = 0;
        if (p->lit_len == 0) {
            *out = v;
            *n_out = 0;
            return TOK_OK;
        }
        while (i + p->lit_len <= n) {
            const char *f = memmem(s + i, n - i, p->literal, p->lit_len);
            if (!f) break;
            size_t st = (size_t)(f - s);
            if (cnt == cap) {
                struct tok_span *nv = tok_arena_alloc(a, cap * 2 * sizeof *nv);
                if (!nv) return TOK_ENOMEM;
                memcpy(nv, v, cnt * sizeof *v);
                v = nv;
                cap *= 2;
            }
            v[cnt].start = (uint32_t)st;
            v[cnt].end = (uint32_t)(st + p->lit_len);
            cnt++;
            i = st + p->lit_len;
        }
        *out = v;
        *n_out = cnt;
        return TOK_OK;
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(p->re, NULL);
    if (!md) return TOK_ENOMEM;
    size_t pos = 0;
    int rc = TOK_OK;
    while (pos <= n) {
        int r = pcre2_match(p->re, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (r == PCRE2_ERROR_NOMATCH) break;
        if (r < 0) {
            rc = TOK_ELIMIT; /* match limit / JIT stack: refuse rather than mis-split */
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (me == ms) {
            /* Empty match: HF (onig find_iter) records it and moves one char on. */
            if (ms >= n) break;
            pos = ms + (size_t)tok_utf8_len((unsigned char)s[ms]);
            continue;
        }
        if (cnt == cap) {
            struct tok_span *nv = tok_arena_alloc(a, cap * 2 * sizeof *nv);
            if (!nv) {
                rc = TOK_ENOMEM;
                break;
            }
            memcpy(nv, v, cnt * sizeof *v);
            v = nv;
            cap *= 2;
        }
        v[cnt].start = (uint32_t)ms;
        v[cnt].end = (uint32_t)me;
        cnt++;
        pos = me;
    }
    pcre2_match_data_free(md);
    *out = v;
    *n_out = cnt;
    return rc;
}

/* ---- transform ---- */
int tok_xform_push(struct tok_xform *x, struct tok_arena *a, int32_t cp, int32_t chg) {
    if (x->n == x->cap) {
        size_t nc = x->cap ? x->cap * 2 : 64;
        int32_t *c = tok_arena_alloc(a, nc * sizeof *c);
        int32_t *g = tok_arena_alloc(a, nc * sizeof *g);
        if (!c || !g) return TOK_ENOMEM;
        if (x->n) {
            memcpy(c, x->cps, x->n * sizeof *c);
            memcpy(g, x->chg, x->n * sizeof *g);
        }
        x->cps = c;
        x->chg = g;
        x->cap = nc;
    }
    x->cps[x->n] = cp;
    x->chg[x->n] = chg;
    x->n++;
    return TOK_OK;
}

int tok_xform_apply(struct tok_split *sp, const struct tok_xform *x, size_t initial_offset,
                    struct tok_arena *a) {
    size_t out_len = 0;
    char tmp[4];
    for (size_t i = 0; i < x->n; i++) out_len += (size_t)tok_utf8_enc(x->cps[i], tmp);
    char *ns = tok_arena_alloc(a, out_len + 1);
    struct tok_span *nal = tok_arena_alloc(a, (out_len + 1) * sizeof *nal);
    if (!ns || !nal) return TOK_ENOMEM;
    const unsigned char *old = (const unsigned char *)sp->s;
    size_t rd = 0; /* read position (bytes) in the old string */
    for (size_t k = 0; k < initial_offset && rd < sp->len; k++) rd += (size_t)tok_utf8_len(old[rd]);
    size_t w = 0;
    for (size_t i = 0; i < x->n; i++) {
        int32_t chg = x->chg[i];
        struct tok_span al;
        if (chg > 0) {
            if (rd < 1) al = (struct tok_span){sp->base, sp->base};
            else al = sp->al[rd - 1];
        } else {
            al = rd < sp->len ? sp->al[rd] : (sp->len ? sp->al[sp->len - 1] : (struct tok_span){sp->base, sp->base});
            if (rd < sp->len) rd += (size_t)tok_utf8_len(old[rd]);
            for (int32_t r = 0; r < -chg && rd < sp->len; r++) rd += (size_t)tok_utf8_len(old[rd]);
        }
        int l = tok_utf8_enc(x->cps[i], ns + w);
        for (int b = 0; b < l; b++) nal[w + (size_t)b] = al;
        w += (size_t)l;
    }
    sp->s = ns;
    sp->al = nal;
    sp->len = (uint32_t)w;
    return TOK_OK;
}

int tok_split_slice(const struct tok_split *in, uint32_t s, uint32_t e, struct tok_arena *a,
                    struct tok_split *out) {
    /* Slices share the parent's bytes: transforms always write fresh arena memory. */
    out->s = in->s + s;
    out->al = in->al + s;
    out->len = e - s;
    out->base = (e > s) ? in->al[s].start : in->base;
    out->added_id = -1;
    (void)a;
    return TOK_OK;
}

int tok_splits_push(struct tok_splits *l, struct tok_arena *a, const struct tok_split *s) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        struct tok_split *v = tok_arena_alloc(a, nc * sizeof *v);
        if (!v) return TOK_ENOMEM;
        if (l->n) memcpy(v, l->v, l->n * sizeof *v);
        l->v = v;
        l->cap = nc;
    }
    l->v[l->n++] = *s;
    return TOK_OK;
}

int tok_pieces_push(struct tok_pieces *l, struct tok_arena *a, int32_t id, uint32_t s, uint32_t e,
                    const char *str) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        struct tok_piece *v = tok_arena_alloc(a, nc * sizeof *v);
        if (!v) return TOK_ENOMEM;
        if (l->n) memcpy(v, l->v, l->n * sizeof *v);
        l->v = v;
        l->cap = nc;
    }
    l->v[l->n++] = (struct tok_piece){id, s, e, str};
    return TOK_OK;
}
