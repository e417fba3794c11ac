/* trim.c — the one place where entity and answer spans lose surrounding white space.
 *
 * DESIGN. With SentencePiece/Metaspace (and some BPE) tokenizers the offsets of a
 * "▁word" token start at the space before the word, so HF pipelines report
 * " Lyon" / " Angela Merkel". socle trims leading and trailing Unicode white space
 * (the code points Python's str.isspace() accepts: ASCII blanks, U+001C..U+001F,
 * U+0085 and categories Zs/Zl/Zp, so NBSP U+00A0 and U+202F too) from every entity
 * span and word and every answer span and text, after all decoding (window merge,
 * answer ranking) is done, so nothing downstream sees the untrimmed span. Spans move
 * in bytes and code points together; punctuation is never touched. A span that is
 * all white space collapses to the empty span at its end.
 */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tasks/task_impl.h"

bool task_is_space(int32_t c) {
    if (c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F) || c == 0x85)
        return true;
    if (c < 0x80)
        return false;
    utf8proc_category_t cat = utf8proc_category(c);
    return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL ||
           cat == UTF8PROC_CATEGORY_ZP;
}

/* Code point starting at s[i] (i < end), its length in *n; -1 for a bad byte. */
static int32_t cp_at(const char *s, size_t end, size_t i, size_t *n) {
    int32_t c;
    utf8proc_ssize_t r =
        utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(end - i), &c);
    if (r <= 0) {
        *n = 1;
        return -1;
    }
    *n = (size_t)r;
    return c;
}

/* Bytes of leading / trailing white space in s[a..b); *cps gets their code points. */
static size_t lead_ws(const char *s, size_t a, size_t b, size_t *cps) {
    size_t p = a, l;
    *cps = 0;
    while (p < b && task_is_space(cp_at(s, b, p, &l))) {
        p += l;
        (*cps)++;
    }
    return p - a;
}

static size_t trail_ws(const char *s, size_t a, size_t b, size_t *cps) {
    size_t p = b, l;
    *cps = 0;
    while (p > a) {
        size_t q = p - 1;
        while (q > a && ((unsigned char)s[q] & 0xC0) == 0x80)
            q--;
        if (!task_is_space(cp_at(s, p, q, &l)) || q + l != p)
            break;
        p = q;
        (*cps)++;
    }
    return b - p;
}

void task_span_trim(const char *text, size_t text_len, struct task_span *sp) {
    if (sp->start >= sp->end || sp->end > text_len)
        return;
    size_t cps, n = lead_ws(text, sp->start, sp->end, &cps);
    if (n == sp->end - sp->start) { /* all white space */
        sp->start = sp->end;
        sp->cp_start = sp->cp_end;
        return;
    }
    sp->start += n;
    sp->cp_start += cps;
    n = trail_ws(text, sp->start, sp->end, &cps);
    sp->end -= n;
    sp->cp_end -= cps;
}

void task_str_trim(char *s) {
    if (!s)
        return;
    size_t len = strlen(s), cps;
    size_t b = trail_ws(s, 0, len, &cps);
    len -= b;
    size_t a = lead_ws(s, 0, len, &cps);
    memmove(s, s + a, len - a);
    s[len - a] = '\0';
}

void task_result_trim(enum task_kind kind, const char *text, size_t text_len,
                      struct task_result *res) {
    if (res->status != TASK_OK)
        return;
    if (kind == TASK_NER) {
        for (size_t i = 0; i < res->n_items; i++) {
            task_span_trim(text, text_len, &res->u.entities[i].span);
            task_str_trim(res->u.entities[i].word);
        }
    } else if (kind == TASK_QA) {
        /* An answer's text is its span's slice, so trimming it alone stays consistent. */
        for (size_t i = 0; i < res->n_items; i++) {
            task_span_trim(text, text_len, &res->u.answers[i].span);
            task_str_trim(res->u.answers[i].text);
        }
    }
}
