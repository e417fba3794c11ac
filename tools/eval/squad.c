/* squad.c — SQuAD exact match / F1 with the official answer normalization.
 *
 * DESIGN: the official v1.1 script (evaluate-v1.1.py, normalize_answer) does, in
 * this order: str.lower(); delete every character of Python's
 * string.punctuation (ASCII only); re.sub(r'\b(a|an|the)\b', ' ', ...);
 * ' '.join(text.split()). We run the same steps on code points: Python's \w is
 * "letter (L*), number (N*) or underscore", str.split() splits on category Zs and
 * bidi classes B/S/WS — both taken from utf8proc so non-ASCII text splits the way
 * Python splits it. Lowercasing uses utf8proc's simple case mapping (Python uses
 * the full mapping; they differ only for a few characters such as U+0130).
 *
 * French (EV_LANG_FR, our own documented variant, see docs/evaluation.md):
 * lowercase; drop the elided articles l' and d' (a word "l"/"d" directly
 * followed by ' U+2019 or U+02BC); delete ASCII punctuation and every Unicode
 * punctuation character (categories Pc Pd Ps Pe Pi Pf Po: « » ’ “ ” – — …);
 * replace the words le la les un une des du de by a space; collapse whitespace.
 */
#include "tools/eval/metrics.h"

#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

static bool is_word(int32_t c) {
    if (c == '_')
        return true;
    utf8proc_category_t cat = utf8proc_category(c);
    switch (cat) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return true;
    default:
        return false;
    }
}

static bool is_space(int32_t c) {
    if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f))
        return true;
    if (utf8proc_category(c) == UTF8PROC_CATEGORY_ZS)
        return true;
    int bidi = utf8proc_get_property(c)->bidi_class;
    return bidi == UTF8PROC_BIDI_CLASS_B || bidi == UTF8PROC_BIDI_CLASS_S ||
           bidi == UTF8PROC_BIDI_CLASS_WS;
}

static bool is_ascii_punct(int32_t c) {
    return c < 128 && c > 32 && c != 127 && !(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') &&
           !(c >= 'A' && c <= 'Z');
}

static bool is_unicode_punct(int32_t c) {
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
        return true;
    default:
        return false;
    }
}

static bool is_apostrophe(int32_t c) { return c == '\'' || c == 0x2019 || c == 0x02BC; }

/* Word run [i, j) of cps equal to the ASCII word w? */
static bool run_is(const int32_t *cps, size_t i, size_t j, const char *w) {
    size_t n = strlen(w);
    if (j - i != n)
        return false;
    for (size_t k = 0; k < n; k++)
        if (cps[i + k] != (unsigned char)w[k])
            return false;
    return true;
}

static bool is_article(const int32_t *cps, size_t i, size_t j, enum ev_lang lang) {
    static const char *const en[] = {"a", "an", "the"};
    static const char *const fr[] = {"le", "la", "les", "un", "une", "des", "du", "de"};
    const char *const *list = lang == EV_LANG_FR ? fr : en;
    size_t n = lang == EV_LANG_FR ? sizeof(fr) / sizeof(fr[0]) : sizeof(en) / sizeof(en[0]);
    for (size_t k = 0; k < n; k++)
        if (run_is(cps, i, j, list[k]))
            return true;
    return false;
}

int ev_squad_normalize(const char *s, size_t len, enum ev_lang lang, char **out, size_t *out_len) {
    if (!out || (len && !s))
        return EV_EINVAL;
    /* Every stage only shrinks or keeps the length (article -> one space), so
     * two code point buffers of len + 1 suffice. */
    int32_t *a = malloc((len + 1) * sizeof(*a));
    int32_t *b = malloc((len + 1) * sizeof(*b));
    char *res = NULL;
    int st = EV_OK;
    if (!a || !b) {
        st = EV_ENOMEM;
        goto done;
    }
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k =
            utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
        if (k <= 0) {
            st = EV_EUTF8;
            goto done;
        }
        a[n++] = utf8proc_tolower(c);
        i += (size_t)k;
    }
    size_t m = 0;
    if (lang == EV_LANG_FR) {
        /* Elision first: once apostrophes are gone "l'homme" is one word. */
        for (size_t i = 0; i < n;) {
            if (is_word(a[i])) {
                size_t j = i;
                while (j < n && is_word(a[j]))
                    j++;
                if (j < n && is_apostrophe(a[j]) &&
                    (run_is(a, i, j, "l") || run_is(a, i, j, "d"))) {
                    b[m++] = ' ';
                    i = j + 1;
                    continue;
                }
                while (i < j)
                    b[m++] = a[i++];
            } else {
                b[m++] = a[i++];
            }
        }
        memcpy(a, b, m * sizeof(*a));
        n = m;
    }
    m = 0;
    for (size_t i = 0; i < n; i++)
        if (!is_ascii_punct(a[i]) && !(lang == EV_LANG_FR && is_unicode_punct(a[i])))
            b[m++] = a[i];
    n = 0;
    for (size_t i = 0; i < m;) {
        if (!is_word(b[i])) {
            a[n++] = b[i++];
            continue;
        }
        size_t j = i;
        while (j < m && is_word(b[j]))
            j++;
        if (is_article(b, i, j, lang)) {
            a[n++] = ' ';
        } else {
            while (i < j)
                a[n++] = b[i++];
        }
        i = j;
    }
    /* Whitespace fix and UTF-8 encoding in one pass (at most 4 bytes per cp). */
    res = malloc(4 * n + 1);
    if (!res) {
        st = EV_ENOMEM;
        goto done;
    }
    size_t o = 0;
    bool pending = false;
    for (size_t i = 0; i < n; i++) {
        if (is_space(a[i])) {
            pending = o > 0;
            continue;
        }
        if (pending) {
            res[o++] = ' ';
            pending = false;
        }
        o += (size_t)utf8proc_encode_char(a[i], (utf8proc_uint8_t *)res + o);
    }
    res[o] = '\0';
    *out = res;
    if (out_len)
        *out_len = o;
    res = NULL;
done:
    free(a);
    free(b);
    free(res);
    return st;
}

struct tok_ref {
    const char *p;
    size_t n;
};

static int tok_cmp(const void *x, const void *y) {
    const struct tok_ref *a = x, *b = y;
    size_t n = a->n < b->n ? a->n : b->n;
    int c = memcmp(a->p, b->p, n);
    if (c)
        return c;
    return (a->n > b->n) - (a->n < b->n);
}

/* Split a normalized string (single spaces) into tokens. */
static int split_tokens(const char *s, struct tok_ref **out, size_t *n_out) {
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ' ';
    struct tok_ref *t = malloc(cap * sizeof(*t));
    if (!t)
        return EV_ENOMEM;
    size_t n = 0;
    const char *p = s;
    while (*p) {
        const char *q = strchr(p, ' ');
        size_t k = q ? (size_t)(q - p) : strlen(p);
        if (k)
            t[n++] = (struct tok_ref){p, k};
        p += k;
        if (*p == ' ')
            p++;
    }
    qsort(t, n, sizeof(*t), tok_cmp);
    *out = t;
    *n_out = n;
    return EV_OK;
}

/* Counter(pred) & Counter(gold) summed: merge of two sorted token lists. */
static size_t common_count(const struct tok_ref *a, size_t na, const struct tok_ref *b, size_t nb) {
    size_t i = 0, j = 0, c = 0;
    while (i < na && j < nb) {
        int r = tok_cmp(&a[i], &b[j]);
        if (r == 0) {
            c++;
            i++;
            j++;
        } else if (r < 0) {
            i++;
        } else {
            j++;
        }
    }
    return c;
}

int ev_squad_score(const char *pred, size_t pred_len, const char *const *golds,
                   const size_t *gold_lens, size_t n_gold, enum ev_lang lang, bool v2, double *em,
                   double *f1) {
    if (!em || !f1 || (pred_len && !pred) || (n_gold && (!golds || !gold_lens)))
        return EV_EINVAL;
    static const char *const empty_gold[] = {""};
    static const size_t empty_len[] = {0};
    if (n_gold == 0) {
        golds = empty_gold;
        gold_lens = empty_len;
        n_gold = 1;
    }
    char *np = NULL, *ng = NULL;
    struct tok_ref *pt = NULL, *gt = NULL;
    size_t npt = 0, ngt = 0;
    double best_em = 0, best_f1 = 0;
    int st = ev_squad_normalize(pred, pred_len, lang, &np, NULL);
    if (st != EV_OK)
        goto done;
    st = split_tokens(np, &pt, &npt);
    if (st != EV_OK)
        goto done;
    for (size_t g = 0; g < n_gold; g++) {
        st = ev_squad_normalize(golds[g], gold_lens[g], lang, &ng, NULL);
        if (st != EV_OK)
            goto done;
        if (strcmp(np, ng) == 0)
            best_em = 1.0;
        st = split_tokens(ng, &gt, &ngt);
        if (st != EV_OK)
            goto done;
        double f = 0.0;
        if (v2 && (npt == 0 || ngt == 0)) {
            f = npt == ngt ? 1.0 : 0.0;
        } else {
            size_t same = common_count(pt, npt, gt, ngt);
            if (same > 0) {
                double p = (double)same / (double)npt, r = (double)same / (double)ngt;
                f = 2.0 * p * r / (p + r);
            }
        }
        if (f > best_f1)
            best_f1 = f;
        free(ng);
        ng = NULL;
        free(gt);
        gt = NULL;
    }
    *em = best_em;
    *f1 = best_f1;
done:
    free(np);
    free(ng);
    free(pt);
    free(gt);
    return st;
}

/* ---- the sentence-overlap QA baseline ---- */

/* A small set of lowercased words (linear search: a question has ~10 words, a
 * sentence ~30). */
struct wset {
    char **w;
    size_t n, cap;
};

static void wset_clear(struct wset *s) {
    for (size_t i = 0; i < s->n; i++)
        free(s->w[i]);
    free(s->w);
    memset(s, 0, sizeof(*s));
}

static bool wset_has(const struct wset *s, const char *w) {
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->w[i], w) == 0)
            return true;
    return false;
}

/* Add the words (runs of Python \w, lowercased) of cps[a..b) to s, each once. */
static int wset_add_words(struct wset *s, const int32_t *cps, size_t a, size_t b) {
    for (size_t i = a; i < b;) {
        if (!is_word(cps[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < b && is_word(cps[j]))
            j++;
        char *w = malloc(4 * (j - i) + 1), *p = w;
        if (!w)
            return EV_ENOMEM;
        for (size_t k = i; k < j; k++)
            p += utf8proc_encode_char(utf8proc_tolower(cps[k]), (utf8proc_uint8_t *)p);
        *p = '\0';
        if (wset_has(s, w)) {
            free(w);
        } else {
            if (s->n == s->cap) {
                size_t nc = s->cap ? 2 * s->cap : 16;
                char **nw = realloc(s->w, nc * sizeof(*nw));
                if (!nw) {
                    free(w);
                    return EV_ENOMEM;
                }
                s->w = nw;
                s->cap = nc;
            }
            s->w[s->n++] = w;
        }
        i = j;
    }
    return EV_OK;
}

/* Code points of s[0..len) and the byte offset of each (off has n + 1 entries). */
static int decode(const char *s, size_t len, int32_t **cps, size_t **off, size_t *n) {
    *cps = malloc((len + 1) * sizeof(**cps));
    *off = malloc((len + 1) * sizeof(**off));
    if (!*cps || !*off)
        return EV_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t r =
            utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
        if (r <= 0)
            return EV_EUTF8;
        (*off)[k] = i;
        (*cps)[k++] = c;
        i += (size_t)r;
    }
    (*off)[k] = len;
    *n = k;
    return EV_OK;
}

/* How many words of the question the sentence cps[a..b) shares. */
static int overlap_count(const struct wset *q, const int32_t *cps, size_t a, size_t b,
                         size_t *count) {
    struct wset sw = {0};
    int st = wset_add_words(&sw, cps, a, b);
    *count = 0;
    for (size_t i = 0; st == EV_OK && i < sw.n; i++)
        *count += wset_has(q, sw.w[i]);
    wset_clear(&sw);
    return st;
}

/* The best sentence [*sa, *sb) of the context: pieces split at white space that
 * follows . ! or ? (Python re.split(r"(?<=[.!?])\s+")); the first with the most
 * question words wins. */
static int best_sentence(const struct wset *q, const int32_t *cps, size_t n, size_t *sa,
                         size_t *sb) {
    long best = -1;
    *sa = *sb = 0;
    size_t ps = 0;
    for (size_t i = 0; i <= n; i++) {
        bool cut = i == n || (i > 0 && is_space(cps[i]) &&
                              (cps[i - 1] == '.' || cps[i - 1] == '!' || cps[i - 1] == '?'));
        if (!cut)
            continue;
        size_t c;
        int st = overlap_count(q, cps, ps, i, &c);
        if (st != EV_OK)
            return st;
        if ((long)c > best) {
            best = (long)c;
            *sa = ps;
            *sb = i;
        }
        while (i < n && is_space(cps[i]))
            i++;
        ps = i;
    }
    return EV_OK;
}

int ev_qa_overlap_answer(const char *question, size_t qlen, const char *context, size_t clen,
                         char **answer) {
    if (!answer || (qlen && !question) || (clen && !context))
        return EV_EINVAL;
    *answer = NULL;
    int32_t *qc = NULL, *cc = NULL;
    size_t *qo = NULL, *co = NULL, nq = 0, nc = 0, sa = 0, sb = 0;
    struct wset q = {0};
    int st = decode(question, qlen, &qc, &qo, &nq);
    if (st == EV_OK)
        st = decode(context, clen, &cc, &co, &nc);
    if (st == EV_OK)
        st = wset_add_words(&q, qc, 0, nq);
    if (st == EV_OK)
        st = best_sentence(&q, cc, nc, &sa, &sb);
    /* The longest run of white-space separated tokens of that sentence that hold a
     * word but none of the question's (the first longest). */
    size_t run_a = 0, run_n = 0, cur_a = 0, cur_n = 0;
    for (size_t i = sa; st == EV_OK && i <= sb; i++) {
        if (i < sb && !is_space(cc[i]))
            continue;
        size_t ta = i;
        while (ta > sa && !is_space(cc[ta - 1]))
            ta--;
        if (ta == i)
            continue; /* no token ends here */
        struct wset tw = {0};
        st = wset_add_words(&tw, cc, ta, i);
        bool keep = st == EV_OK && tw.n > 0;
        for (size_t k = 0; keep && k < tw.n; k++)
            keep = !wset_has(&q, tw.w[k]);
        wset_clear(&tw);
        if (keep) {
            if (cur_n++ == 0)
                cur_a = ta;
        } else {
            if (cur_n > run_n) {
                run_a = cur_a;
                run_n = cur_n;
            }
            cur_n = 0;
        }
    }
    if (cur_n > run_n) {
        run_a = cur_a;
        run_n = cur_n;
    }
    /* Join the run's tokens with one space (Python " ".join(w for w in s.split())). */
    if (st == EV_OK && !(*answer = malloc(clen + 1)))
        st = EV_ENOMEM;
    size_t o = 0;
    for (size_t i = run_a, k = 0; st == EV_OK && k < run_n; k++) {
        while (is_space(cc[i]))
            i++;
        size_t j = i;
        while (j < sb && !is_space(cc[j]))
            j++;
        if (k)
            (*answer)[o++] = ' ';
        memcpy(*answer + o, context + co[i], co[j] - co[i]);
        o += co[j] - co[i];
        i = j;
    }
    if (st == EV_OK)
        (*answer)[o] = '\0';
    else {
        free(*answer);
        *answer = NULL;
    }
    wset_clear(&q);
    free(qc);
    free(qo);
    free(cc);
    free(co);
    return st;
}
