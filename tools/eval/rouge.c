/* rouge.c — ROUGE-1/2/L/Lsum as Google's rouge_score computes them.
 *
 * DESIGN: rouge_score (the package HF `evaluate` wraps) tokenizes with
 * text.lower(); re.sub(r"[^a-z0-9]+", " ", text); split() — so every non-ASCII
 * letter is a separator; we do the same by default, and offer a Unicode
 * tokenizer (letters, marks and digits of any script, lowercased) for French.
 * Stemming is optional (rouge_score's use_stemmer, default off): the Porter
 * stemmer of porter.c on tokens longer than 3 characters, as rouge_score does.
 * ROUGE-N: clipped n-gram overlap; P = overlap / candidate n-grams, R = overlap /
 * reference n-grams (max(count, 1) denominators as rouge_score).
 * ROUGE-L: LCS over the whole token sequences.
 * ROUGE-Lsum: summary-level LCS (Lin 2004 §3.2; rouge_score _summary_level_lcs):
 * texts split into sentences on '\n'; for each reference sentence the union of
 * its LCS positions with every candidate sentence; each hit consumes one count
 * of that token on both sides.
 * Tokens are interned to integer ids once so the inner loops compare ints.
 */
#include "tools/eval/metrics.h"

#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#define LCS_MAX_CELLS (64u * 1024u * 1024u)

struct toks {
    char *buf;      /* NUL-separated token text */
    size_t n;       /* tokens */
    size_t *off;    /* (n) offset of each token in buf */
    uint32_t *line; /* (n) sentence (line) index */
    int32_t *id;    /* (n) interned id */
};

static void toks_clear(struct toks *t) {
    free(t->buf);
    free(t->off);
    free(t->line);
    free(t->id);
    memset(t, 0, sizeof(*t));
}

static bool is_tok_char_unicode(int32_t c) {
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return true;
    default:
        return false;
    }
}

/* Close the token that starts at t->off[t->n - 1] and ends at *o: stem it
 * (rouge_score stems only tokens longer than 3 characters; a token with bytes
 * outside ASCII is not English and is kept) and NUL-terminate it. */
static void end_token(struct toks *t, size_t *o, enum ev_stemmer stem) {
    size_t start = t->off[t->n - 1], len = *o - start;
    bool ascii = true;
    for (size_t i = start; ascii && i < *o; i++)
        ascii = (unsigned char)t->buf[i] < 0x80;
    if (stem != EV_STEM_NONE && ascii && len > 3)
        *o = start + ev_porter_stem(t->buf + start, len, stem);
    t->buf[(*o)++] = '\0';
}

static int tokenize(const char *text, size_t len, const struct ev_rouge_opts *opts,
                    struct toks *t) {
    bool unicode = opts && opts->unicode;
    enum ev_stemmer stem = opts ? opts->stem : EV_STEM_NONE;
    memset(t, 0, sizeof(*t));
    /* Output never exceeds 4 bytes per input byte (lowercasing may change the
     * encoded length; bound generously) plus one NUL per token. */
    size_t cap = 2 * len + 8;
    t->buf = malloc(cap);
    t->off = malloc((len / 2 + 2) * sizeof(*t->off));
    t->line = malloc((len / 2 + 2) * sizeof(*t->line));
    if (!t->buf || !t->off || !t->line) {
        toks_clear(t);
        return EV_ENOMEM;
    }
    size_t o = 0;
    bool in_tok = false;
    uint32_t line = 0;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k =
            utf8proc_iterate((const utf8proc_uint8_t *)text + i, (utf8proc_ssize_t)(len - i), &c);
        if (k <= 0) {
            toks_clear(t);
            return EV_EUTF8;
        }
        i += (size_t)k;
        if (c == '\n')
            line++;
        int32_t lc = utf8proc_tolower(c);
        bool keep = unicode ? is_tok_char_unicode(c)
                            : ((lc >= 'a' && lc <= 'z') || (lc >= '0' && lc <= '9'));
        if (!keep) {
            if (in_tok)
                end_token(t, &o, stem);
            in_tok = false;
            continue;
        }
        if (!in_tok) {
            t->off[t->n] = o;
            t->line[t->n] = line;
            t->n++;
            in_tok = true;
        }
        if (o + 5 > cap) {
            cap *= 2;
            char *nb = realloc(t->buf, cap);
            if (!nb) {
                toks_clear(t);
                return EV_ENOMEM;
            }
            t->buf = nb;
        }
        o += (size_t)utf8proc_encode_char(lc, (utf8proc_uint8_t *)t->buf + o);
    }
    if (in_tok)
        end_token(t, &o, stem);
    return EV_OK;
}

int ev_rouge_tokenize(const char *text, size_t len, const struct ev_rouge_opts *opts, char **buf,
                      size_t *n_tokens) {
    if (!buf || !n_tokens || (len && !text))
        return EV_EINVAL;
    struct toks t;
    int st = tokenize(text, len, opts, &t);
    if (st != EV_OK)
        return st;
    *buf = t.buf;
    *n_tokens = t.n;
    t.buf = NULL;
    toks_clear(&t);
    return EV_OK;
}

struct intern_item {
    const char *s;
    int32_t *slot;
};

static int intern_cmp(const void *a, const void *b) {
    return strcmp(((const struct intern_item *)a)->s, ((const struct intern_item *)b)->s);
}

/* Give equal token strings of both texts the same id; returns the id count. */
static int intern(struct toks *a, struct toks *b, size_t *n_ids) {
    size_t n = a->n + b->n;
    a->id = malloc((a->n ? a->n : 1) * sizeof(*a->id));
    b->id = malloc((b->n ? b->n : 1) * sizeof(*b->id));
    struct intern_item *it = malloc((n ? n : 1) * sizeof(*it));
    if (!a->id || !b->id || !it) {
        free(it);
        return EV_ENOMEM;
    }
    for (size_t i = 0; i < a->n; i++)
        it[i] = (struct intern_item){a->buf + a->off[i], &a->id[i]};
    for (size_t i = 0; i < b->n; i++)
        it[a->n + i] = (struct intern_item){b->buf + b->off[i], &b->id[i]};
    qsort(it, n, sizeof(*it), intern_cmp);
    int32_t id = -1;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || strcmp(it[i].s, it[i - 1].s) != 0)
            id++;
        *it[i].slot = id;
    }
    *n_ids = (size_t)(id + 1);
    free(it);
    return EV_OK;
}

static double fmeasure(double p, double r) { return p + r > 0 ? 2.0 * p * r / (p + r) : 0.0; }

static int u64_cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int rouge_n(const struct toks *c, const struct toks *r, size_t n,
                   struct ev_rouge_score *out) {
    size_t nc = c->n >= n ? c->n - n + 1 : 0, nr = r->n >= n ? r->n - n + 1 : 0;
    uint64_t *gc = malloc((nc ? nc : 1) * sizeof(*gc));
    uint64_t *gr = malloc((nr ? nr : 1) * sizeof(*gr));
    if (!gc || !gr) {
        free(gc);
        free(gr);
        return EV_ENOMEM;
    }
    /* n <= 2 and ids < 2^31: one 64-bit key per n-gram. */
    for (size_t i = 0; i < nc; i++)
        gc[i] = n == 1 ? (uint64_t)c->id[i] : ((uint64_t)c->id[i] << 32) | (uint32_t)c->id[i + 1];
    for (size_t i = 0; i < nr; i++)
        gr[i] = n == 1 ? (uint64_t)r->id[i] : ((uint64_t)r->id[i] << 32) | (uint32_t)r->id[i + 1];
    qsort(gc, nc, sizeof(*gc), u64_cmp);
    qsort(gr, nr, sizeof(*gr), u64_cmp);
    size_t i = 0, j = 0, hit = 0;
    while (i < nc && j < nr) {
        if (gc[i] == gr[j]) {
            hit++;
            i++;
            j++;
        } else if (gc[i] < gr[j]) {
            i++;
        } else {
            j++;
        }
    }
    free(gc);
    free(gr);
    out->precision = (double)hit / (double)(nc ? nc : 1);
    out->recall = (double)hit / (double)(nr ? nr : 1);
    out->fmeasure = fmeasure(out->precision, out->recall);
    return EV_OK;
}

/* LCS length of a (na) and b (nb) with two rows. */
static int lcs_len(const int32_t *a, size_t na, const int32_t *b, size_t nb, size_t *len) {
    uint32_t *prev = calloc(nb + 1, sizeof(*prev)), *cur = calloc(nb + 1, sizeof(*cur));
    if (!prev || !cur) {
        free(prev);
        free(cur);
        return EV_ENOMEM;
    }
    for (size_t i = 1; i <= na; i++) {
        cur[0] = 0;
        for (size_t j = 1; j <= nb; j++)
            cur[j] = a[i - 1] == b[j - 1] ? prev[j - 1] + 1
                                          : (prev[j] > cur[j - 1] ? prev[j] : cur[j - 1]);
        uint32_t *t = prev;
        prev = cur;
        cur = t;
    }
    *len = prev[nb];
    free(prev);
    free(cur);
    return EV_OK;
}

/* Mark in used[0..na) the positions of a that rouge_score's backtrack picks for
 * the LCS of a and b (full table; sentences are short). */
static int lcs_mark(const int32_t *a, size_t na, const int32_t *b, size_t nb, bool *used) {
    size_t w = nb + 1;
    uint32_t *t = calloc((na + 1) * w, sizeof(*t));
    if (!t)
        return EV_ENOMEM;
    for (size_t i = 1; i <= na; i++)
        for (size_t j = 1; j <= nb; j++) {
            uint32_t up = t[(i - 1) * w + j], left = t[i * w + j - 1];
            t[i * w + j] =
                a[i - 1] == b[j - 1] ? t[(i - 1) * w + j - 1] + 1 : (up > left ? up : left);
        }
    size_t i = na, j = nb;
    while (i > 0 && j > 0) {
        if (a[i - 1] == b[j - 1]) {
            used[i - 1] = true;
            i--;
            j--;
        } else if (t[i * w + j - 1] > t[(i - 1) * w + j]) {
            j--;
        } else {
            i--;
        }
    }
    free(t);
    return EV_OK;
}

/* Sentence k of t: [start[k], start[k+1]) in token indices. */
static int sentence_starts(const struct toks *t, size_t **starts, size_t *n_sent) {
    size_t n_lines = t->n ? (size_t)t->line[t->n - 1] + 1 : 0;
    size_t *s = malloc((n_lines + 1) * sizeof(*s));
    if (!s)
        return EV_ENOMEM;
    size_t k = 0;
    for (size_t l = 0; l <= n_lines; l++) {
        while (k < t->n && t->line[k] < l)
            k++;
        s[l] = k;
    }
    *starts = s;
    *n_sent = n_lines;
    return EV_OK;
}

static int rouge_lsum(const struct toks *c, const struct toks *r, size_t n_ids,
                      struct ev_rouge_score *out) {
    memset(out, 0, sizeof(*out));
    if (c->n == 0 || r->n == 0)
        return EV_OK;
    size_t *cs = NULL, *rs = NULL, ncs = 0, nrs = 0;
    uint32_t *cnt_c = calloc(n_ids, sizeof(*cnt_c)), *cnt_r = calloc(n_ids, sizeof(*cnt_r));
    bool *used = NULL;
    int st = EV_ENOMEM;
    if (!cnt_c || !cnt_r)
        goto done;
    if ((st = sentence_starts(c, &cs, &ncs)) != EV_OK ||
        (st = sentence_starts(r, &rs, &nrs)) != EV_OK)
        goto done;
    st = EV_ENOMEM;
    used = malloc(r->n * sizeof(*used));
    if (!used)
        goto done;
    for (size_t i = 0; i < c->n; i++)
        cnt_c[c->id[i]]++;
    for (size_t i = 0; i < r->n; i++)
        cnt_r[r->id[i]]++;
    size_t hits = 0;
    for (size_t a = 0; a < nrs; a++) {
        const int32_t *ra = r->id + rs[a];
        size_t la = rs[a + 1] - rs[a];
        if (la == 0)
            continue;
        memset(used, 0, la * sizeof(*used));
        for (size_t b = 0; b < ncs; b++) {
            size_t lb = cs[b + 1] - cs[b];
            if (lb == 0)
                continue;
            if ((st = lcs_mark(ra, la, c->id + cs[b], lb, used)) != EV_OK)
                goto done;
        }
        for (size_t i = 0; i < la; i++) {
            int32_t tkn = ra[i];
            if (used[i] && cnt_c[tkn] > 0 && cnt_r[tkn] > 0) {
                hits++;
                cnt_c[tkn]--;
                cnt_r[tkn]--;
            }
        }
    }
    out->recall = (double)hits / (double)r->n;
    out->precision = (double)hits / (double)c->n;
    out->fmeasure = fmeasure(out->precision, out->recall);
    st = EV_OK;
done:
    free(cs);
    free(rs);
    free(cnt_c);
    free(cnt_r);
    free(used);
    return st;
}

int ev_rouge(const char *cand, size_t cand_len, const char *ref, size_t ref_len,
             const struct ev_rouge_opts *opts, struct ev_rouge_score out[EV_ROUGE_COUNT]) {
    if (!out || (cand_len && !cand) || (ref_len && !ref))
        return EV_EINVAL;
    memset(out, 0, EV_ROUGE_COUNT * sizeof(*out));
    struct toks c, r;
    int st = tokenize(cand, cand_len, opts, &c);
    if (st != EV_OK)
        return st;
    st = tokenize(ref, ref_len, opts, &r);
    if (st != EV_OK) {
        toks_clear(&c);
        return st;
    }
    size_t n_ids = 0;
    if ((double)c.n * (double)r.n > (double)LCS_MAX_CELLS) {
        st = EV_ELIMIT;
        goto done;
    }
    if ((st = intern(&c, &r, &n_ids)) != EV_OK)
        goto done;
    if ((st = rouge_n(&c, &r, 1, &out[EV_ROUGE_1])) != EV_OK ||
        (st = rouge_n(&c, &r, 2, &out[EV_ROUGE_2])) != EV_OK)
        goto done;
    if (c.n > 0 && r.n > 0) {
        size_t l = 0;
        if ((st = lcs_len(c.id, c.n, r.id, r.n, &l)) != EV_OK)
            goto done;
        out[EV_ROUGE_L].precision = (double)l / (double)c.n;
        out[EV_ROUGE_L].recall = (double)l / (double)r.n;
        out[EV_ROUGE_L].fmeasure = fmeasure(out[EV_ROUGE_L].precision, out[EV_ROUGE_L].recall);
    }
    st = rouge_lsum(&c, &r, n_ids, &out[EV_ROUGE_LSUM]);
done:
    toks_clear(&c);
    toks_clear(&r);
    return st;
}
