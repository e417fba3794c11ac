/* sentences.c — sentence segmentation for French and English prose.
 *
 * DESIGN. A rule-based splitter, enough for extractive summarization:
 * - a sentence ends after a run of terminators (. ! ? …) plus any closing marks
 *   (" ' ” ’ ) ] and », which French writes after a space or NBSP), when white
 *   space follows and the next word does not start with a lowercase letter;
 * - a single "." does not end a sentence after a title or a number-introducing
 *   abbreviation (M., Mme, Dr., Mr., p., No., …) nor after a one-letter
 *   capital (initials: "J. K. Rowling"); "etc." ends one only if a capital follows;
 * - digits around a "." (3.14) never split since no space follows the dot;
 * - a blank line always ends a sentence (titles, list items without a period).
 * Spans are trimmed of white space and given in bytes and code points.
 */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tasks/task_impl.h"

/* Abbreviations after which a single "." never ends a sentence (case-sensitive). */
static const char *const k_no_break[] = {
    /* English titles and number abbreviations */
    "Mr", "Mrs", "Ms", "Mx", "Dr", "Prof", "Sr", "Jr", "St", "Mt", "Gen", "Gov", "Sen", "Rep",
    "Col", "Capt", "Lt", "Sgt", "Rev", "Hon", "Messrs", "No", "no", "Nos", "Fig", "fig", "vol",
    "Vol", "pp", "p", "Art", "art", "ch", "chap", "approx", "vs", "cf", "Cf", "Inc", "Ltd", "Co",
    /* French */
    "M", "MM", "Mme", "Mmes", "Mlle", "Mlles", "Me", "Mgr", "Pr", "Ste", "Sté", "av", "apr", "n",
    "env", "éd", "t", "Cie", "boul", "bd", "av", NULL};

static int32_t cp_at(const char *s, size_t len, size_t i, size_t *n) {
    int32_t c;
    utf8proc_ssize_t r =
        utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
    if (r <= 0) {
        *n = 1;
        return -1;
    }
    *n = (size_t)r;
    return c;
}

static bool is_space(int32_t c) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == 0x85)
        return true;
    if (c < 0x80)
        return false;
    utf8proc_category_t cat = utf8proc_category(c);
    return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL ||
           cat == UTF8PROC_CATEGORY_ZP;
}

static bool is_terminator(int32_t c) {
    return c == '.' || c == '!' || c == '?' || c == 0x2026 /* … */ || c == 0x203C || c == 0x2047 ||
           c == 0x2048 || c == 0x2049;
}

static bool is_closing(int32_t c) {
    return c == '"' || c == '\'' || c == 0x201D || c == 0x2019 || c == ')' || c == ']' ||
           c == 0xBB /* » */ || c == 0x203A /* › */;
}

static bool is_lower(int32_t c) { return c >= 0 && utf8proc_category(c) == UTF8PROC_CATEGORY_LL; }

static bool is_upper(int32_t c) {
    if (c < 0)
        return false;
    utf8proc_category_t cat = utf8proc_category(c);
    return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LT;
}

/* The word just before byte i (the "." position): letters only, back to a
 * non-letter. Returns its start. */
static size_t word_before(const char *s, size_t i) {
    size_t b = i;
    while (b > 0) {
        size_t p = b - 1;
        while (p > 0 && ((unsigned char)s[p] & 0xC0) == 0x80)
            p--;
        size_t n;
        int32_t c = cp_at(s, i, p, &n);
        if (c < 0)
            break;
        utf8proc_category_t cat = utf8proc_category(c);
        if (cat != UTF8PROC_CATEGORY_LU && cat != UTF8PROC_CATEGORY_LL &&
            cat != UTF8PROC_CATEGORY_LT && cat != UTF8PROC_CATEGORY_LO)
            break;
        b = p;
    }
    return b;
}

static bool no_break_abbrev(const char *s, size_t dot) {
    size_t b = word_before(s, dot);
    size_t wl = dot - b;
    if (wl == 0)
        return false;
    /* A word glued to a preceding "." or "-" is part of a dotted abbreviation
     * (e.g., J.-C., U.S.): treat it like an ordinary word. */
    if (b > 0 && (s[b - 1] == '.' || s[b - 1] == '-'))
        return false;
    size_t n;
    int32_t c0 = cp_at(s, dot, b, &n);
    if (n == wl && is_upper(c0)) /* initial */
        return true;
    for (const char *const *a = k_no_break; *a; a++)
        if (strlen(*a) == wl && memcmp(*a, s + b, wl) == 0)
            return true;
    return false;
}

static int emit(const char *s, size_t a, size_t b, struct task_span **out, size_t *n, size_t *cap) {
    /* Trim white space on both sides. */
    size_t l;
    while (a < b) {
        int32_t c = cp_at(s, b, a, &l);
        if (!is_space(c))
            break;
        a += l;
    }
    while (b > a) {
        size_t p = b - 1;
        while (p > a && ((unsigned char)s[p] & 0xC0) == 0x80)
            p--;
        int32_t c = cp_at(s, b, p, &l);
        if (!is_space(c))
            break;
        b = p;
    }
    if (a >= b)
        return TASK_OK;
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        struct task_span *p = realloc(*out, nc * sizeof(*p));
        if (!p)
            return TASK_ENOMEM;
        *out = p;
        *cap = nc;
    }
    (*out)[(*n)++] = (struct task_span){a, b, 0, 0};
    return TASK_OK;
}

int task_sentences_split(const char *text, size_t len, struct task_span **out, size_t *n_out) {
    struct task_span *sp = NULL;
    size_t n = 0, cap = 0, start = 0, i = 0, l;
    int rc = TASK_OK;
    while (i < len) {
        int32_t c = cp_at(text, len, i, &l);
        if (c == '\n') {
            /* Blank line: a hard break. */
            size_t j = i + l, m;
            while (j < len) {
                int32_t d = cp_at(text, len, j, &m);
                if (d == '\n')
                    break;
                if (!is_space(d))
                    break;
                j += m;
            }
            if (j < len && text[j] == '\n') {
                if ((rc = emit(text, start, i, &sp, &n, &cap)) != TASK_OK)
                    goto fail;
                start = j;
            }
            i += l;
            continue;
        }
        if (!is_terminator(c)) {
            i += l;
            continue;
        }
        /* Terminator run. */
        size_t j = i, run = 0;
        bool single_dot = true;
        while (j < len) {
            int32_t d = cp_at(text, len, j, &l);
            if (!is_terminator(d))
                break;
            if (d != '.' || run > 0)
                single_dot = false;
            run++;
            j += l;
        }
        if (run > 1)
            single_dot = false;
        /* Closing marks; » may follow a (no-break) space. */
        size_t k = j;
        while (k < len) {
            int32_t d = cp_at(text, len, k, &l);
            if (is_closing(d)) {
                k += l;
                continue;
            }
            if (d == ' ' || d == 0xA0 || d == 0x202F || d == 0x2009) {
                size_t m;
                int32_t e = cp_at(text, len, k + l, &m);
                if (k + l < len && (e == 0xBB || e == 0x203A)) {
                    k += l + m;
                    continue;
                }
            }
            break;
        }
        if (k >= len)
            break; /* the last sentence ends at the end of the text */
        int32_t after = cp_at(text, len, k, &l);
        if (!is_space(after)) {
            i = j;
            continue;
        }
        size_t m = k, ml = 0;
        int32_t next = -1;
        while (m < len) {
            next = cp_at(text, len, m, &ml);
            if (!is_space(next))
                break;
            m += ml;
        }
        if (m >= len)
            break;
        bool brk = !is_lower(next);
        if (brk && single_dot && no_break_abbrev(text, i))
            brk = false;
        if (brk) {
            if ((rc = emit(text, start, k, &sp, &n, &cap)) != TASK_OK)
                goto fail;
            start = m;
            i = m;
        } else {
            i = k;
        }
    }
    if ((rc = emit(text, start, len, &sp, &n, &cap)) != TASK_OK)
        goto fail;
    /* Code points: one running count over the text. */
    size_t cp = 0, pos = 0;
    for (size_t s = 0; s < n; s++) {
        cp += task_utf8_count(text + pos, sp[s].start - pos);
        sp[s].cp_start = cp;
        cp += task_utf8_count(text + sp[s].start, sp[s].end - sp[s].start);
        sp[s].cp_end = cp;
        pos = sp[s].end;
    }
    *out = sp;
    *n_out = n;
    return TASK_OK;
fail:
    free(sp);
    return rc;
}
