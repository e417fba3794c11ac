/* decode.c — ids → text through the decoder chain (HF decoders::*). Each decoder maps a
 * list of token strings to a list of strings, as HF's decode_chain; the result is joined. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_impl.h"

struct sv {
    char **v;
    size_t *l;
    size_t n;
};

static char *mk(struct tok_arena *a, const char *s, size_t n) {
    char *c = tok_arena_alloc(a, n + 1);
    if (!c) return NULL;
    memcpy(c, s, n);
    c[n] = 0;
    return c;
}

/* Replace all occurrences of pat by rep in s. */
static char *replace_all(struct tok_arena *a, const char *s, size_t n, const char *pat, size_t pl,
                         const char *rep, size_t rl, size_t *outl) {
    size_t cnt = 0;
    if (pl)
        for (const char *p = s; (p = memmem(p, n - (size_t)(p - s), pat, pl)); p += pl) cnt++;
    size_t ol = n + cnt * rl - cnt * pl;
    char *o = tok_arena_alloc(a, ol + 1);
    if (!o) return NULL;
    size_t w = 0, i = 0;
    while (i < n) {
        if (pl && i + pl <= n && !memcmp(s + i, pat, pl)) {
            memcpy(o + w, rep, rl);
            w += rl;
            i += pl;
        } else {
            o[w++] = s[i++];
        }
    }
    o[w] = 0;
    *outl = w;
    return o;
}

static int cp_of_byte(int32_t c) {
    for (int b = 0; b < 256; b++)
        if (tok_byte_to_cp[b] == c) return b;
    return -1;
}

/* String::from_utf8_lossy: each maximal invalid subsequence becomes U+FFFD. */
static char *lossy(struct tok_arena *a, const unsigned char *s, size_t n, size_t *outl) {
    char *o = tok_arena_alloc(a, n * 3 + 1);
    if (!o) return NULL;
    size_t w = 0, i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t need = 0;
        unsigned lo = 0x80, hi = 0xBF;
        if (c < 0x80) {
            o[w++] = (char)c;
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) need = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        }
        size_t k = 1;
        if (need) {
            for (; k <= need; k++) {
                if (i + k >= n) break;
                unsigned d = s[i + k];
                unsigned l2 = k == 1 ? lo : 0x80, h2 = k == 1 ? hi : 0xBF;
                if (d < l2 || d > h2) break;
            }
        }
        if (need && k == need + 1) {
            memcpy(o + w, s + i, need + 1);
            w += need + 1;
            i += need + 1;
        } else {
            memcpy(o + w, "\xEF\xBF\xBD", 3);
            w += 3;
            i += need ? k : 1;
            if (need && k == 1) { /* lead byte alone */ }
        }
    }
    o[w] = 0;
    *outl = w;
    return o;
}

static const char *cleanup_pats[][2] = {
    {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
    {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
};

static int run(const struct tok_decoder *d, struct sv *t, struct tok_arena *a) {
    int rc;
    switch (d->type) {
    case TOK_DEC_SEQUENCE:
        for (size_t i = 0; i < d->n_subs; i++)
            if ((rc = run(&d->subs[i], t, a))) return rc;
        return TOK_OK;
    case TOK_DEC_WORDPIECE:
        for (size_t i = 0; i < t->n; i++) {
            char *s = t->v[i];
            size_t l = t->l[i];
            if (i) {
                if (l >= d->prefix_len && !memcmp(s, d->prefix, d->prefix_len)) {
                    s += d->prefix_len;
                    l -= d->prefix_len;
                } else {
                    char *n2 = tok_arena_alloc(a, l + 2);
                    if (!n2) return TOK_ENOMEM;
                    n2[0] = ' ';
                    memcpy(n2 + 1, s, l + 1);
                    s = n2;
                    l++;
                }
            }
            if (d->cleanup)
                for (size_t k = 0; k < sizeof cleanup_pats / sizeof *cleanup_pats; k++) {
                    s = replace_all(a, s, l, cleanup_pats[k][0], strlen(cleanup_pats[k][0]),
                                    cleanup_pats[k][1], strlen(cleanup_pats[k][1]), &l);
                    if (!s) return TOK_ENOMEM;
                }
            t->v[i] = s;
            t->l[i] = l;
        }
        return TOK_OK;
    case TOK_DEC_BPE:
        for (size_t i = 0; i < t->n; i++) {
            size_t l;
            char *s = replace_all(a, t->v[i], t->l[i], d->prefix, d->prefix_len,
                                  i + 1 == t->n ? "" : " ", i + 1 == t->n ? 0 : 1, &l);
            if (!s) return TOK_ENOMEM;
            t->v[i] = s;
            t->l[i] = l;
        }
        return TOK_OK;
    case TOK_DEC_BYTELEVEL: {
        size_t tot = 0;
        for (size_t i = 0; i < t->n; i++) tot += t->l[i];
        unsigned char *b = tok_arena_alloc(a, tot + 1);
        if (!b) return TOK_ENOMEM;
        size_t w = 0;
        for (size_t i = 0; i < t->n; i++) {
            const unsigned char *s = (const unsigned char *)t->v[i];
            size_t start = w;
            bool ok = true;
            for (size_t p = 0; p < t->l[i];) {
                int32_t c;
                p += (size_t)tok_utf8_dec(s + p, &c);
                int by = c < 0x100 && c >= 0x21 && tok_byte_to_cp[c] == c ? c : cp_of_byte(c);
                if (by < 0) {
                    ok = false;
                    break;
                }
                b[w++] = (unsigned char)by;
            }
            if (!ok) { /* not byte-level text (an added token): its raw bytes */
                w = start;
                memcpy(b + w, s, t->l[i]);
                w += t->l[i];
            }
        }
        size_t l;
        char *o = lossy(a, b, w, &l);
        if (!o) return TOK_ENOMEM;
        t->v[0] = o;
        t->l[0] = l;
        t->n = 1;
        return TOK_OK;
    }
    case TOK_DEC_METASPACE: {
        char enc[4];
        size_t el = (size_t)tok_utf8_enc(d->replacement, enc);
        for (size_t i = 0; i < t->n; i++) {
            size_t l;
            bool drop = i == 0 && d->prepend_scheme != TOK_PREPEND_NEVER;
            char *s = replace_all(a, t->v[i], t->l[i], enc, el, drop ? "" : " ", drop ? 0 : 1, &l);
            if (!s) return TOK_ENOMEM;
            t->v[i] = s;
            t->l[i] = l;
        }
        return TOK_OK;
    }
    case TOK_DEC_REPLACE:
        for (size_t i = 0; i < t->n; i++) {
            size_t l;
            char *s = replace_all(a, t->v[i], t->l[i], d->pat, d->pat_len, d->content,
                                  d->content_len, &l);
            if (!s) return TOK_ENOMEM;
            t->v[i] = s;
            t->l[i] = l;
        }
        return TOK_OK;
    case TOK_DEC_FUSE: {
        size_t tot = 0;
        for (size_t i = 0; i < t->n; i++) tot += t->l[i];
        char *o = tok_arena_alloc(a, tot + 1);
        if (!o) return TOK_ENOMEM;
        size_t w = 0;
        for (size_t i = 0; i < t->n; i++) memcpy(o + w, t->v[i], t->l[i]), w += t->l[i];
        o[w] = 0;
        if (t->n == 0) {
            t->n = 1;
        }
        t->v[0] = o;
        t->l[0] = w;
        t->n = 1;
        return TOK_OK;
    }
    case TOK_DEC_STRIP:
        for (size_t i = 0; i < t->n; i++) {
            const unsigned char *s = (const unsigned char *)t->v[i];
            size_t l = t->l[i], st = 0, en = l;
            for (size_t k = 0; k < d->strip_start && st < l; k++) {
                int32_t c;
                int cl = tok_utf8_dec(s + st, &c);
                if (c != d->strip_cp) break;
                st += (size_t)cl;
            }
            for (size_t k = 0; k < d->strip_stop && en > st; k++) {
                size_t q = en - 1;
                while (q > st && (s[q] & 0xC0) == 0x80) q--;
                int32_t c;
                tok_utf8_dec(s + q, &c);
                if (c != d->strip_cp) break;
                en = q;
            }
            char *o = mk(a, t->v[i] + st, en - st);
            if (!o) return TOK_ENOMEM;
            t->v[i] = o;
            t->l[i] = en - st;
        }
        return TOK_OK;
    case TOK_DEC_BYTEFALLBACK: {
        struct sv o = {tok_arena_alloc(a, (t->n + 1) * sizeof(char *)),
                       tok_arena_alloc(a, (t->n + 1) * sizeof(size_t)), 0};
        unsigned char *bytes = tok_arena_alloc(a, t->n + 1);
        if (!o.v || !o.l || !bytes) return TOK_ENOMEM;
        size_t nb = 0;
        for (size_t i = 0; i <= t->n; i++) {
            int byte = -1;
            if (i < t->n && t->l[i] == 6 && !memcmp(t->v[i], "<0x", 3) && t->v[i][5] == '>') {
                char h[3] = {t->v[i][3], t->v[i][4], 0};
                char *end;
                long v = strtol(h, &end, 16);
                if (end == h + 2 && h[0] != '-' && h[0] != '+' && h[0] != ' ') byte = (int)v;
            }
            if (byte >= 0) {
                bytes[nb++] = (unsigned char)byte;
                continue;
            }
            if (nb) {
                size_t bad;
                if (tok_utf8_valid((const char *)bytes, nb, &bad)) {
                    if (!(o.v[o.n] = mk(a, (const char *)bytes, nb))) return TOK_ENOMEM;
                    o.l[o.n++] = nb;
                } else {
                    /* one U+FFFD per byte, as HF */
                    struct sv g = o;
                    size_t need = o.n + nb;
                    if (need > t->n + 1) {
                        g.v = tok_arena_alloc(a, (need + t->n + 1) * sizeof(char *));
                        g.l = tok_arena_alloc(a, (need + t->n + 1) * sizeof(size_t));
                        if (!g.v || !g.l) return TOK_ENOMEM;
                        memcpy(g.v, o.v, o.n * sizeof(char *));
                        memcpy(g.l, o.l, o.n * sizeof(size_t));
                    }
                    for (size_t k = 0; k < nb; k++) {
                        g.v[g.n] = (char *)"\xEF\xBF\xBD";
                        g.l[g.n++] = 3;
                    }
                    o = g;
                }
                nb = 0;
            }
            if (i < t->n) {
                o.v[o.n] = t->v[i];
                o.l[o.n++] = t->l[i];
            }
        }
        *t = o;
        return TOK_OK;
    }
    }
    return TOK_EINVAL;
}

int tok_decode(const struct tok_tokenizer *tok, const int32_t *ids, size_t n_ids,
               bool skip_special_tokens, char **out, size_t *out_len) {
    if (!tok || !out || (!ids && n_ids)) return TOK_EINVAL;
    struct tok_arena a = {0};
    int rc = TOK_OK;
    struct sv t = {tok_arena_alloc(&a, (n_ids + 1) * sizeof(char *)),
                   tok_arena_alloc(&a, (n_ids + 1) * sizeof(size_t)), 0};
    if (!t.v || !t.l) {
        rc = TOK_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < n_ids; i++) {
        int32_t id = ids[i];
        if (id < 0 || (size_t)id >= tok->n_ids || !tok->id_to_tok[id]) {
            rc = TOK_EINVAL;
            goto done;
        }
        if (skip_special_tokens && tok->id_special[id]) continue;
        t.v[t.n] = tok->id_to_tok[id];
        t.l[t.n++] = strlen(tok->id_to_tok[id]);
    }
    size_t tot = 0;
    if (tok->has_decoder) {
        if ((rc = run(&tok->dec, &t, &a))) goto done;
        for (size_t i = 0; i < t.n; i++) tot += t.l[i];
    } else {
        for (size_t i = 0; i < t.n; i++) tot += t.l[i] + 1; /* joined with spaces */
    }
    char *o = malloc(tot + 1);
    if (!o) {
        rc = TOK_ENOMEM;
        goto done;
    }
    size_t w = 0;
    for (size_t i = 0; i < t.n; i++) {
        if (!tok->has_decoder && i) o[w++] = ' ';
        memcpy(o + w, t.v[i], t.l[i]);
        w += t.l[i];
    }
    o[w] = 0;
    *out = o;
    if (out_len) *out_len = w;
done:
    tok_arena_free(&a);
    return rc;
}
