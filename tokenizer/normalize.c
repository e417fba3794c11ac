/* normalize.c — normalizers (HF tokenizers `normalizers::*`) over a split with alignments.
 *
 * Each normalizer describes its output as (code point, change) pairs and lets
 * tok_xform_apply rebuild the alignments exactly as HF's NormalizedString::transform does,
 * so offsets into the original text match HF even when characters are added or removed. */
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "tokenizer/tok_impl.h"

static bool is_chinese(int32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static bool is_other(int32_t c) {
    if (c < 0x80) return c < 0x20 || c == 0x7F;
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_CN || k >= UTF8PROC_CATEGORY_CC;
}

/* HF's StripAccents drops nonspacing marks (Mn) only: spacing marks (Devanagari vowel
 * signs, Mc) and enclosing marks (keycap U+20E3, Me) stay. */
static bool is_mark(int32_t c) {
    return c >= 0x300 && utf8proc_category(c) == UTF8PROC_CATEGORY_MN;
}

/* HF NormalizedString::filter: a kept char absorbs the removed chars that follow it. */
static int do_filter_map(struct tok_split *sp, struct tok_arena *a, bool (*keep)(int32_t),
                         int32_t (*map)(int32_t)) {
    struct tok_xform x = {0};
    const unsigned char *s = (const unsigned char *)sp->s;
    int32_t removed = 0, last = -1;
    size_t removed_start = 0;
    bool changed = false;
    for (size_t i = 0; i < sp->len;) {
        int32_t c;
        i += (size_t)tok_utf8_dec(s + i, &c);
        if (keep(c)) {
            if (last >= 0) {
                if (tok_xform_push(&x, a, map ? map(last) : last, -removed)) return TOK_ENOMEM;
            } else {
                removed_start = (size_t)removed;
            }
            if (map && map(c) != c) changed = true;
            last = c;
            removed = 0;
        } else {
            removed++;
            changed = true;
        }
    }
    if (!changed) return TOK_OK;
    if (last >= 0 && tok_xform_push(&x, a, map ? map(last) : last, -removed)) return TOK_ENOMEM;
    if (last < 0) removed_start = 0;
    return tok_xform_apply(sp, &x, removed_start, a);
}

static bool keep_clean(int32_t c) {
    if (c == 0 || c == 0xFFFD) return false;
    if (c == '\t' || c == '\n' || c == '\r') return true;
    return !is_other(c);
}
static int32_t map_ws(int32_t c) {
    if (c > ' ' && c < 0x80) return c;
    if (c == '\t' || c == '\n' || c == '\r') return ' ';
    return tok_is_whitespace(c) ? ' ' : c;
}
static bool keep_nonmark(int32_t c) {
    return !is_mark(c);
}

static int do_chinese(struct tok_split *sp, struct tok_arena *a) {
    const unsigned char *s = (const unsigned char *)sp->s;
    bool any = false;
    for (size_t i = 0; i < sp->len;) {
        int32_t c;
        i += (size_t)tok_utf8_dec(s + i, &c);
        if (c >= 0x3400 && is_chinese(c)) {
            any = true;
            break;
        }
    }
    if (!any) return TOK_OK;
    struct tok_xform x = {0};
    for (size_t i = 0; i < sp->len;) {
        int32_t c;
        i += (size_t)tok_utf8_dec(s + i, &c);
        if (is_chinese(c)) {
            if (tok_xform_push(&x, a, ' ', 0) || tok_xform_push(&x, a, c, 1) ||
                tok_xform_push(&x, a, ' ', 1))
                return TOK_ENOMEM;
        } else if (tok_xform_push(&x, a, c, 0)) {
            return TOK_ENOMEM;
        }
    }
    return tok_xform_apply(sp, &x, 0, a);
}

static inline int32_t lower1(int32_t c) {
    if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    return utf8proc_tolower(c);
}

static int do_lowercase(struct tok_split *sp, struct tok_arena *a) {
    const unsigned char *s = (const unsigned char *)sp->s;
    bool any = false, same_len = true;
    char tmp[4];
    for (size_t i = 0; i < sp->len;) {
        int32_t c;
        int l = tok_utf8_dec(s + i, &c);
        i += (size_t)l;
        int32_t lc = lower1(c);
        if (c == 0x130 || lc != c) {
            any = true;
            if (c == 0x130 || tok_utf8_enc(lc, tmp) != l) same_len = false;
        }
    }
    if (!any) return TOK_OK;
    if (same_len) {
        /* one char for one char of the same size: the alignments do not move */
        char *ns = tok_arena_alloc(a, sp->len + 1);
        if (!ns) return TOK_ENOMEM;
        for (size_t i = 0; i < sp->len;) {
            int32_t c;
            int l = tok_utf8_dec(s + i, &c);
            if (l == 1) ns[i] = (char)lower1(c);
            else tok_utf8_enc(lower1(c), ns + i);
            i += (size_t)l;
        }
        sp->s = ns;
        return TOK_OK;
    }
    struct tok_xform x = {0};
    for (size_t i = 0; i < sp->len;) {
        int32_t c;
        i += (size_t)tok_utf8_dec(s + i, &c);
        if (c == 0x130) { /* Rust's to_lowercase: İ → i + U+0307 */
            if (tok_xform_push(&x, a, 'i', 0) || tok_xform_push(&x, a, 0x307, 1)) return TOK_ENOMEM;
        } else if (tok_xform_push(&x, a, lower1(c), 0)) {
            return TOK_ENOMEM;
        }
    }
    return tok_xform_apply(sp, &x, 0, a);
}

static int ccc(int32_t c) {
    if (c < 0x300) return 0;
    return utf8proc_get_property(c)->combining_class;
}

/* Decomposition with changes: first char of a decomposition replaces, the rest are inserted;
 * then canonical ordering moves (char, change) pairs together. */
static int decompose(const struct tok_split *sp, bool compat, struct tok_xform *x,
                     struct tok_arena *a) {
    const unsigned char *s = (const unsigned char *)sp->s;
    utf8proc_option_t opt = UTF8PROC_DECOMPOSE | (compat ? UTF8PROC_COMPAT : 0);
    for (size_t i = 0; i < sp->len;) {
        int32_t c;
        i += (size_t)tok_utf8_dec(s + i, &c);
        if (c < 0xC0) { /* nothing below U+00C0 decomposes canonically (compat: U+00A0…) */
            if (!compat || c < 0xA0) {
                if (tok_xform_push(x, a, c, 0)) return TOK_ENOMEM;
                continue;
            }
        }
        utf8proc_int32_t buf[32];
        int last_bc = 0;
        utf8proc_ssize_t n = utf8proc_decompose_char(c, buf, 32, opt, &last_bc);
        if (n <= 0 || n > 32) {
            buf[0] = c;
            n = 1;
        }
        for (utf8proc_ssize_t k = 0; k < n; k++) {
            if (tok_xform_push(x, a, buf[k], k ? 1 : 0)) return TOK_ENOMEM;
        }
    }
    /* canonical ordering: stable insertion sort inside each run of non-starters */
    for (size_t i = 1; i < x->n; i++) {
        int ci = ccc(x->cps[i]);
        if (!ci) continue;
        size_t j = i;
        while (j > 0) {
            int cj = ccc(x->cps[j - 1]);
            if (cj <= ci || cj == 0) break;
            int32_t t = x->cps[j - 1], g = x->chg[j - 1];
            x->cps[j - 1] = x->cps[j];
            x->chg[j - 1] = x->chg[j];
            x->cps[j] = t;
            x->chg[j] = g;
            j--;
        }
    }
    return TOK_OK;
}

static bool is_jamo_vt(int32_t c) {
    return (c >= 0x1161 && c <= 0x11C2);
}

static int do_unicode(struct tok_split *sp, bool compat, bool compose, struct tok_arena *a) {
    /* Fast path: ASCII never changes. */
    size_t i;
    for (i = 0; i < sp->len; i++)
        if ((unsigned char)sp->s[i] >= 0x80) break;
    if (i == sp->len) return TOK_OK;
    struct tok_xform d = {0};
    if (decompose(sp, compat, &d, a)) return TOK_ENOMEM;
    if (!compose) return tok_xform_apply(sp, &d, 0, a);
    /* Compose segment by segment (a starter and what follows it); a segment whose
     * composition is shorter puts the net removal on its first char. */
    struct tok_xform x = {0};
    size_t k = 0;
    while (k < d.n) {
        size_t e = k + 1;
        while (e < d.n && (ccc(d.cps[e]) != 0 || is_jamo_vt(d.cps[e]))) e++;
        size_t m = e - k;
        utf8proc_int32_t stackbuf[64];
        utf8proc_int32_t *buf = m <= 64 ? stackbuf : tok_arena_alloc(a, m * sizeof *buf);
        if (!buf) return TOK_ENOMEM;
        memcpy(buf, d.cps + k, m * sizeof *buf);
        utf8proc_ssize_t r = utf8proc_normalize_utf32(buf, (utf8proc_ssize_t)m, UTF8PROC_COMPOSE);
        if (r < 0) r = (utf8proc_ssize_t)m, memcpy(buf, d.cps + k, m * sizeof *buf);
        size_t kout = (size_t)r;
        if (kout == m) {
            for (size_t t = 0; t < m; t++)
                if (tok_xform_push(&x, a, buf[t], d.chg[k + t])) return TOK_ENOMEM;
        } else {
            int32_t sum = 0;
            for (size_t t = 0; t < m; t++) sum += d.chg[k + t];
            /* total change of the segment = sum + (kout - m) */
            int32_t first = sum - (int32_t)(m - kout);
            for (size_t t = 0; t < kout; t++)
                if (tok_xform_push(&x, a, buf[t], t == 0 ? first : 0)) return TOK_ENOMEM;
        }
        k = e;
    }
    return tok_xform_apply(sp, &x, 0, a);
}

static int do_replace(const struct tok_normalizer *n, struct tok_split *sp, struct tok_arena *a) {
    struct tok_span *m;
    size_t nm;
    int rc = tok_pattern_find(&n->pattern, sp->s, sp->len, a, &m, &nm);
    if (rc) return rc;
    if (!nm) return TOK_OK;
    size_t out_len = sp->len + nm * n->content_len;
    char *ns = tok_arena_alloc(a, out_len + 1);
    struct tok_span *nal = tok_arena_alloc(a, (out_len + 1) * sizeof *nal);
    if (!ns || !nal) return TOK_ENOMEM;
    size_t w = 0, last = 0;
    for (size_t k = 0; k < nm; k++) {
        size_t st = m[k].start, en = m[k].end;
        memcpy(ns + w, sp->s + last, st - last);
        memcpy(nal + w, sp->al + last, (st - last) * sizeof *nal);
        w += st - last;
        /* every content char is "inserted" after the removed match: alignment of the
         * match's last byte */
        struct tok_span al = sp->al[en - 1];
        memcpy(ns + w, n->content, n->content_len);
        for (size_t b = 0; b < n->content_len; b++) nal[w + b] = al;
        w += n->content_len;
        last = en;
    }
    memcpy(ns + w, sp->s + last, sp->len - last);
    memcpy(nal + w, sp->al + last, (sp->len - last) * sizeof *nal);
    w += sp->len - last;
    sp->s = ns;
    sp->al = nal;
    sp->len = (uint32_t)w;
    return TOK_OK;
}

static int do_strip(struct tok_split *sp, bool left, bool right) {
    const unsigned char *s = (const unsigned char *)sp->s;
    size_t st = 0, en = sp->len;
    if (left) {
        while (st < en) {
            int32_t c;
            int l = tok_utf8_dec(s + st, &c);
            if (!tok_is_whitespace(c)) break;
            st += (size_t)l;
        }
    }
    if (right) {
        while (en > st) {
            size_t p = en - 1;
            while (p > st && (s[p] & 0xC0) == 0x80) p--;
            int32_t c;
            tok_utf8_dec(s + p, &c);
            if (!tok_is_whitespace(c)) break;
            en = p;
        }
    }
    if (st == en && sp->len) sp->base = sp->al[0].start;
    sp->s += st;
    sp->al += st;
    sp->len = (uint32_t)(en - st);
    return TOK_OK;
}

static int do_prepend(const struct tok_normalizer *n, struct tok_split *sp, struct tok_arena *a) {
    if (!sp->len || !n->content_len) return TOK_OK;
    size_t out_len = sp->len + n->content_len;
    char *ns = tok_arena_alloc(a, out_len + 1);
    struct tok_span *nal = tok_arena_alloc(a, (out_len + 1) * sizeof *nal);
    if (!ns || !nal) return TOK_ENOMEM;
    memcpy(ns, n->content, n->content_len);
    for (size_t b = 0; b < n->content_len; b++) nal[b] = sp->al[0];
    memcpy(ns + n->content_len, sp->s, sp->len);
    memcpy(nal + n->content_len, sp->al, sp->len * sizeof *nal);
    sp->s = ns;
    sp->al = nal;
    sp->len = (uint32_t)out_len;
    return TOK_OK;
}

#ifdef TOK_HAVE_PRECOMPILED
static int do_precompiled(const struct tok_normalizer *n, struct tok_split *sp,
                          struct tok_arena *a) {
    if (!sp->len) return TOK_OK;
    char *out = NULL;
    size_t out_len = 0;
    struct tok_span *align = NULL;
    int rc = tok_precompiled_normalize(n->precompiled, sp->s, sp->len, &out, &out_len, &align);
    if (rc) return rc;
    char *ns = tok_arena_alloc(a, out_len + 1);
    struct tok_span *nal = tok_arena_alloc(a, (out_len + 1) * sizeof *nal);
    if (!ns || !nal) {
        free(out);
        free(align);
        return TOK_ENOMEM;
    }
    memcpy(ns, out, out_len);
    for (size_t i = 0; i < out_len; i++) {
        uint32_t s0 = align[i].start, e0 = align[i].end;
        if (s0 >= sp->len) s0 = sp->len - 1;
        if (e0 > sp->len) e0 = sp->len;
        if (e0 <= s0) {
            nal[i] = (struct tok_span){sp->al[s0].start, sp->al[s0].start};
        } else {
            nal[i] = (struct tok_span){sp->al[s0].start, sp->al[e0 - 1].end};
        }
    }
    free(out);
    free(align);
    sp->s = ns;
    sp->al = nal;
    sp->len = (uint32_t)out_len;
    return TOK_OK;
}
#endif

int tok_normalize(const struct tok_normalizer *n, struct tok_split *sp, struct tok_arena *a) {
    int rc = TOK_OK;
    switch (n->type) {
    case TOK_NORM_BERT:
        if (n->clean_text && (rc = do_filter_map(sp, a, keep_clean, map_ws))) return rc;
        if (n->handle_chinese && (rc = do_chinese(sp, a))) return rc;
        if (n->strip_accents) {
            if ((rc = do_unicode(sp, false, false, a))) return rc;
            if ((rc = do_filter_map(sp, a, keep_nonmark, NULL))) return rc;
        }
        if (n->lowercase) rc = do_lowercase(sp, a);
        return rc;
    case TOK_NORM_NFC: return do_unicode(sp, false, true, a);
    case TOK_NORM_NFD: return do_unicode(sp, false, false, a);
    case TOK_NORM_NFKC: return do_unicode(sp, true, true, a);
    case TOK_NORM_NFKD: return do_unicode(sp, true, false, a);
    case TOK_NORM_LOWERCASE: return do_lowercase(sp, a);
    case TOK_NORM_STRIP_ACCENTS: return do_filter_map(sp, a, keep_nonmark, NULL);
    case TOK_NORM_STRIP: return do_strip(sp, n->strip_left, n->strip_right);
    case TOK_NORM_REPLACE: return do_replace(n, sp, a);
    case TOK_NORM_PREPEND: return do_prepend(n, sp, a);
    case TOK_NORM_PRECOMPILED:
#ifdef TOK_HAVE_PRECOMPILED
        return do_precompiled(n, sp, a);
#else
        return TOK_EUNSUPPORTED;
#endif
    case TOK_NORM_SEQUENCE:
        for (size_t i = 0; i < n->n_subs; i++)
            if ((rc = tok_normalize(&n->subs[i], sp, a))) return rc;
        return TOK_OK;
    }
    return TOK_EINVAL;
}

void tok_normalizer_clear(struct tok_normalizer *n) {
    tok_pattern_free(&n->pattern);
    free(n->content);
#ifdef TOK_HAVE_PRECOMPILED
    tok_precompiled_free(n->precompiled);
#endif
    for (size_t i = 0; i < n->n_subs; i++) tok_normalizer_clear(&n->subs[i]);
    free(n->subs);
    memset(n, 0, sizeof *n);
}
