/* readers.c — data set readers (see readers.h for the formats).
 *
 * DESIGN: files are read as a byte stream with an explicit per-record cap, never
 * with getline (which would happily allocate a 2 GB "line"), after an fstat size
 * check; JSON documents (SQuAD, predictions) are parsed whole by json-c under the
 * same size cap. Errors name the file and line.
 */
#include "tools/eval/readers.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>
#include <utf8proc.h>

#define DEFAULT_MAX_BYTES ((size_t)512 * 1024 * 1024)
#define DEFAULT_MAX_LINE ((size_t)16 * 1024 * 1024)

__attribute__((format(printf, 4, 5))) static int fail(char *err, size_t errlen, int st,
                                                      const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return st;
}

static char *xstrndup(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

size_t ev_utf8_count(const char *s, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k =
            utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
        if (k <= 0)
            return (size_t)-1;
        i += (size_t)k;
        n++;
    }
    return n;
}

/* Byte offset of code point index cp in s (len bytes, valid UTF-8), or len. */
static size_t cp_to_byte(const char *s, size_t len, size_t cp) {
    size_t i = 0;
    while (i < len && cp > 0) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k =
            utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
        if (k <= 0)
            return len;
        i += (size_t)k;
        cp--;
    }
    return i;
}

static struct ev_limits limits_or_default(const struct ev_limits *l) {
    struct ev_limits r = l ? *l : (struct ev_limits){0, 0, 0};
    if (!r.max_bytes)
        r.max_bytes = DEFAULT_MAX_BYTES;
    if (!r.max_line)
        r.max_line = DEFAULT_MAX_LINE;
    return r;
}

static int open_checked(const char *path, const struct ev_limits *lim, FILE **out, size_t *size,
                        char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, errlen, EV_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return fail(err, errlen, EV_EIO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > (uint64_t)lim->max_bytes) {
        fclose(f);
        return fail(err, errlen, EV_ELIMIT,
                    "%s: %lld bytes exceeds the limit of %zu bytes (raise --max-bytes or split "
                    "the file)",
                    path, (long long)st.st_size, lim->max_bytes);
    }
    *out = f;
    if (size)
        *size = (size_t)st.st_size;
    return EV_OK;
}

/* ---- line reader ---- */

struct line_reader {
    FILE *f;
    char *buf;
    size_t len, cap, max;
    size_t lineno;
};

/* 1 = a line in buf (without "\n" / "\r\n"), 0 = EOF, <0 = error. */
static int lr_next(struct line_reader *r) {
    r->len = 0;
    int c;
    bool any = false;
    while ((c = getc(r->f)) != EOF) {
        any = true;
        if (c == '\n')
            break;
        if (r->len + 2 > r->cap) {
            if (r->len + 2 > r->max)
                return EV_ELIMIT;
            size_t cap = r->cap ? 2 * r->cap : 4096;
            if (cap > r->max + 2)
                cap = r->max + 2;
            char *nb = realloc(r->buf, cap);
            if (!nb)
                return EV_ENOMEM;
            r->buf = nb;
            r->cap = cap;
        }
        r->buf[r->len++] = (char)c;
    }
    if (ferror(r->f))
        return EV_EIO;
    if (!any)
        return 0;
    r->lineno++;
    if (r->len > 0 && r->buf[r->len - 1] == '\r')
        r->len--;
    if (!r->buf) {
        r->buf = malloc(1);
        if (!r->buf)
            return EV_ENOMEM;
        r->cap = 1;
    }
    r->buf[r->len] = '\0';
    return 1;
}

static bool blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\f' && s[i] != '\v')
            return false;
    return true;
}

static int lr_error(const struct line_reader *r, int st, const char *path, char *err,
                    size_t errlen) {
    if (st == EV_ELIMIT)
        return fail(err, errlen, st, "%s:%zu: line longer than %zu bytes", path, r->lineno + 1,
                    r->max);
    if (st == EV_EIO)
        return fail(err, errlen, st, "%s: read error", path);
    return fail(err, errlen, st, "%s: %s", path, ev_strerror(st));
}

/* ---- labels ---- */

int32_t ev_labels_find(struct ev_labels *l, const char *name, bool add) {
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->names[i], name) == 0)
            return (int32_t)i;
    if (!add || l->n >= INT32_MAX)
        return -1;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        char **nn = realloc(l->names, cap * sizeof(*nn));
        if (!nn)
            return -1;
        l->names = nn;
        l->cap = cap;
    }
    char *c = xstrndup(name, strlen(name));
    if (!c)
        return -1;
    l->names[l->n] = c;
    return (int32_t)l->n++;
}

static int str_ptr_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void ev_labels_sort(struct ev_labels *l) {
    if (l->n > 1)
        qsort(l->names, l->n, sizeof(*l->names), str_ptr_cmp);
}

void ev_labels_clear(struct ev_labels *l) {
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->names[i]);
    free(l->names);
    memset(l, 0, sizeof(*l));
}

/* ---- classification ---- */

void ev_cls_data_clear(struct ev_cls_data *d) {
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++) {
        free(d->ex[i].text);
        free(d->ex[i].label);
    }
    free(d->ex);
    memset(d, 0, sizeof(*d));
}

int ev_cls_push(struct ev_cls_data *d, char *text, char *label, size_t line) {
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 256;
        struct ev_cls_example *ne = realloc(d->ex, cap * sizeof(*ne));
        if (!ne)
            return EV_ENOMEM;
        d->ex = ne;
        d->cap = cap;
    }
    d->ex[d->n++] = (struct ev_cls_example){text, label, line};
    return EV_OK;
}

/* JSON scalar as a label string: strings as is, numbers/bools in JSON form. */
static char *json_label(struct json_object *v) {
    if (!v || json_object_is_type(v, json_type_null))
        return NULL;
    if (json_object_is_type(v, json_type_string))
        return xstrndup(json_object_get_string(v), (size_t)json_object_get_string_len(v));
    if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_boolean) ||
        json_object_is_type(v, json_type_double)) {
        const char *s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
        return xstrndup(s, strlen(s));
    }
    return NULL;
}

static int cls_read_jsonl(const char *path, FILE *f, const struct ev_cls_read_opts *o,
                          const struct ev_limits *lim, struct ev_cls_data *out, char *err,
                          size_t errlen) {
    const char *tf = o->text_field ? o->text_field : "text";
    const char *lf = o->label_field ? o->label_field : "label";
    struct line_reader r = {f, NULL, 0, 0, lim->max_line, 0};
    int st, got;
    while ((got = lr_next(&r)) == 1) {
        if (blank(r.buf, r.len))
            continue; /* empty lines are allowed anywhere */
        enum json_tokener_error je;
        struct json_object *obj = json_tokener_parse_verbose(r.buf, &je);
        if (!obj || !json_object_is_type(obj, json_type_object)) {
            json_object_put(obj);
            st = fail(err, errlen, EV_EFORMAT, "%s:%zu: not a JSON object (%s)", path, r.lineno,
                      obj ? "wrong type" : json_tokener_error_desc(je));
            goto done;
        }
        struct json_object *jt = NULL, *jl = NULL;
        json_object_object_get_ex(obj, tf, &jt);
        json_object_object_get_ex(obj, lf, &jl);
        if (!jt || !json_object_is_type(jt, json_type_string)) {
            json_object_put(obj);
            st =
                fail(err, errlen, EV_EFORMAT, "%s:%zu: no string field \"%s\"", path, r.lineno, tf);
            goto done;
        }
        char *label = json_label(jl);
        if (!label && !o->label_optional) {
            json_object_put(obj);
            st = fail(err, errlen, EV_EFORMAT, "%s:%zu: no label field \"%s\"", path, r.lineno, lf);
            goto done;
        }
        char *text = xstrndup(json_object_get_string(jt), (size_t)json_object_get_string_len(jt));
        json_object_put(obj);
        if (!text || ev_cls_push(out, text, label, r.lineno) != EV_OK) {
            free(text);
            free(label);
            st = EV_ENOMEM;
            goto done;
        }
        if (lim->max_examples && out->n >= lim->max_examples)
            break;
    }
    st = got < 0 ? lr_error(&r, got, path, err, errlen) : EV_OK;
done:
    free(r.buf);
    return st;
}

/* One CSV/TSV record: fields stored NUL-separated in buf, starts in off. */
struct record {
    char *buf;
    size_t len, cap;
    size_t *off;
    size_t n, cap_off;
};

static int rec_putc(struct record *rc, char c, size_t max) {
    if (rc->len + 1 >= rc->cap) {
        if (rc->len + 1 >= max)
            return EV_ELIMIT;
        size_t cap = rc->cap ? 2 * rc->cap : 1024;
        char *nb = realloc(rc->buf, cap);
        if (!nb)
            return EV_ENOMEM;
        rc->buf = nb;
        rc->cap = cap;
    }
    rc->buf[rc->len++] = c;
    return EV_OK;
}

static int rec_field(struct record *rc) {
    if (rc->n == rc->cap_off) {
        size_t cap = rc->cap_off ? 2 * rc->cap_off : 16;
        size_t *no = realloc(rc->off, cap * sizeof(*no));
        if (!no)
            return EV_ENOMEM;
        rc->off = no;
        rc->cap_off = cap;
    }
    rc->off[rc->n++] = rc->len;
    return EV_OK;
}

/* Read one record. CSV: RFC 4180 quotes ("" inside quotes = one "), a quoted
 * field may hold newlines. TSV: no quoting. Returns 1 / 0 at EOF / <0.
 * *lines counts newlines consumed. */
static int read_record(FILE *f, bool csv, size_t max, struct record *rc, size_t *lines) {
    rc->len = 0;
    rc->n = 0;
    char sep = csv ? ',' : '\t';
    int c = getc(f);
    if (c == EOF)
        return ferror(f) ? EV_EIO : 0;
    int st = rec_field(rc);
    bool quoted = false, at_start = true;
    for (;; c = getc(f)) {
        if (st != EV_OK)
            return st;
        if (c == EOF) {
            if (quoted)
                return EV_EFORMAT; /* unterminated quote */
            break;
        }
        if (quoted) {
            if (c == '"') {
                int d = getc(f);
                if (d == '"') {
                    st = rec_putc(rc, '"', max);
                    continue;
                }
                quoted = false;
                if (d == EOF)
                    break;
                c = d; /* fall through with the char after the closing quote */
            } else {
                if (c == '\n')
                    (*lines)++;
                st = rec_putc(rc, (char)c, max);
                continue;
            }
        }
        if (csv && c == '"' && at_start) {
            quoted = true;
            at_start = false;
            continue;
        }
        if (c == '\n') {
            (*lines)++;
            break;
        }
        if (c == sep) {
            st = rec_putc(rc, '\0', max);
            if (st == EV_OK)
                st = rec_field(rc);
            at_start = true;
            continue;
        }
        at_start = false;
        st = rec_putc(rc, (char)c, max);
    }
    if (st == EV_OK)
        st = rec_putc(rc, '\0', max);
    if (st != EV_OK)
        return st;
    /* strip a trailing \r of the last field (CRLF files) */
    char *last = rc->buf + rc->off[rc->n - 1];
    size_t ll = strlen(last);
    if (ll && last[ll - 1] == '\r')
        last[ll - 1] = '\0';
    return 1;
}

/* Resolve a column spec (name with a header, index without). */
static int col_index(const char *spec, size_t spec_len, const struct record *hdr, bool no_header,
                     long *out) {
    if (no_header) {
        char tmp[32];
        if (spec_len == 0 || spec_len >= sizeof(tmp))
            return EV_EINVAL;
        memcpy(tmp, spec, spec_len);
        tmp[spec_len] = '\0';
        char *end;
        long v = strtol(tmp, &end, 10);
        if (*end || v < 0)
            return EV_EINVAL;
        *out = v;
        return EV_OK;
    }
    for (size_t i = 0; i < hdr->n; i++) {
        const char *h = hdr->buf + hdr->off[i];
        if (strlen(h) == spec_len && memcmp(h, spec, spec_len) == 0) {
            *out = (long)i;
            return EV_OK;
        }
    }
    return EV_EINVAL;
}

static int cls_read_table(const char *path, FILE *f, bool csv, const struct ev_cls_read_opts *o,
                          const struct ev_limits *lim, struct ev_cls_data *out, char *err,
                          size_t errlen) {
    struct record rc = {0}, hdr = {0};
    size_t line = 1, lines = 0;
    long text_cols[16];
    size_t n_text = 0;
    long label_col = -1;
    int st = EV_OK, got;
    const char *tspec = o->text_field ? o->text_field : (o->no_header ? "1" : "text");
    const char *lspec = o->label_field ? o->label_field : (o->no_header ? "0" : "label");
    if (!o->no_header) {
        got = read_record(f, csv, lim->max_line, &hdr, &lines);
        if (got <= 0) {
            st = fail(err, errlen, got == 0 ? EV_EFORMAT : got, "%s: %s", path,
                      got == 0 ? "empty file (no header)" : "cannot read the header");
            goto done;
        }
        line += lines;
    }
    for (const char *p = tspec; *p;) {
        const char *q = strchr(p, ',');
        size_t k = q ? (size_t)(q - p) : strlen(p);
        if (n_text == 16 || col_index(p, k, &hdr, o->no_header, &text_cols[n_text]) != EV_OK) {
            st = fail(err, errlen, EV_EINVAL, "%s: no text column \"%.*s\"", path, (int)k, p);
            goto done;
        }
        n_text++;
        p += k + (q != NULL);
    }
    if (col_index(lspec, strlen(lspec), &hdr, o->no_header, &label_col) != EV_OK) {
        if (!o->label_optional) {
            st = fail(err, errlen, EV_EINVAL, "%s: no label column \"%s\"", path, lspec);
            goto done;
        }
        label_col = -1;
    }
    for (;;) {
        size_t first = line;
        lines = 0;
        got = read_record(f, csv, lim->max_line, &rc, &lines);
        line += lines;
        if (got == 0)
            break;
        if (got < 0) {
            st = fail(err, errlen, got, "%s:%zu: %s", path, first,
                      got == EV_EFORMAT  ? "unterminated quoted field"
                      : got == EV_ELIMIT ? "record longer than the line limit"
                                         : ev_strerror(got));
            goto done;
        }
        if (rc.n == 1 && blank(rc.buf, strlen(rc.buf)))
            continue; /* empty line */
        size_t total = 0;
        for (size_t k = 0; k < n_text; k++) {
            if ((size_t)text_cols[k] >= rc.n) {
                st = fail(err, errlen, EV_EFORMAT, "%s:%zu: %zu fields, text column %ld missing",
                          path, first, rc.n, text_cols[k]);
                goto done;
            }
            total += strlen(rc.buf + rc.off[text_cols[k]]) + 1;
        }
        if (label_col >= 0 && (size_t)label_col >= rc.n) {
            st = fail(err, errlen, EV_EFORMAT, "%s:%zu: %zu fields, label column %ld missing", path,
                      first, rc.n, label_col);
            goto done;
        }
        char *text = malloc(total + 1), *label = NULL;
        if (!text) {
            st = EV_ENOMEM;
            goto done;
        }
        size_t o2 = 0;
        for (size_t k = 0; k < n_text; k++) {
            const char *v = rc.buf + rc.off[text_cols[k]];
            size_t vl = strlen(v);
            if (k && o2)
                text[o2++] = ' ';
            memcpy(text + o2, v, vl);
            o2 += vl;
        }
        text[o2] = '\0';
        if (label_col >= 0) {
            const char *lv = rc.buf + rc.off[label_col];
            if (*lv)
                label = xstrndup(lv, strlen(lv));
        }
        if (!label && !o->label_optional) {
            free(text);
            st = fail(err, errlen, EV_EFORMAT, "%s:%zu: empty label", path, first);
            goto done;
        }
        if (ev_cls_push(out, text, label, first) != EV_OK) {
            free(text);
            free(label);
            st = EV_ENOMEM;
            goto done;
        }
        if (lim->max_examples && out->n >= lim->max_examples)
            break;
    }
done:
    free(rc.buf);
    free(rc.off);
    free(hdr.buf);
    free(hdr.off);
    return st;
}

bool ev_ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && strcmp(s + n - k, suf) == 0;
}

int ev_cls_read(const char *path, const struct ev_cls_read_opts *opts, struct ev_cls_data *out,
                char *err, size_t errlen) {
    if (!path || !opts || !out)
        return EV_EINVAL;
    memset(out, 0, sizeof(*out));
    struct ev_limits lim = limits_or_default(&opts->limits);
    FILE *f = NULL;
    int st = open_checked(path, &lim, &f, NULL, err, errlen);
    if (st != EV_OK)
        return st;
    enum ev_cls_format fmt = opts->format;
    if (fmt == EV_CLS_AUTO)
        fmt = ev_ends_with(path, ".jsonl") || ev_ends_with(path, ".json") ? EV_CLS_JSONL
              : ev_ends_with(path, ".csv")                          ? EV_CLS_CSV
                                                                    : EV_CLS_TSV;
    if (fmt == EV_CLS_JSONL)
        st = cls_read_jsonl(path, f, opts, &lim, out, err, errlen);
    else
        st = cls_read_table(path, f, fmt == EV_CLS_CSV, opts, &lim, out, err, errlen);
    fclose(f);
    for (size_t i = 0; st == EV_OK && i < out->n; i++)
        if (ev_utf8_count(out->ex[i].text, strlen(out->ex[i].text)) == (size_t)-1)
            st = fail(err, errlen, EV_EFORMAT, "%s:%zu: text is not valid UTF-8", path,
                      out->ex[i].line);
    if (st == EV_OK && out->n == 0)
        st = fail(err, errlen, EV_EFORMAT, "%s: no examples", path);
    if (st != EV_OK)
        ev_cls_data_clear(out);
    return st;
}

/* ---- CoNLL ---- */

struct ev_conll_opts ev_conll_opts_default(void) {
    struct ev_conll_opts o;
    memset(&o, 0, sizeof(o));
    o.token_col = 0;
    o.tag_col = -1;
    o.check_iob2 = true;
    return o;
}

void ev_ner_data_clear(struct ev_ner_data *d) {
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++) {
        for (size_t k = 0; k < d->s[i].n; k++) {
            free(d->s[i].tokens[k]);
            free(d->s[i].tags[k]);
        }
        free(d->s[i].tokens);
        free(d->s[i].tags);
    }
    free(d->s);
    memset(d, 0, sizeof(*d));
}

struct sent_builder {
    size_t n, cap;
    char **tokens, **tags;
    size_t line;
};

static int sb_push(struct sent_builder *b, char *tok, char *tag) {
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 32;
        char **nt = realloc(b->tokens, cap * sizeof(*nt));
        if (!nt)
            return EV_ENOMEM;
        b->tokens = nt;
        char **ng = realloc(b->tags, cap * sizeof(*ng));
        if (!ng)
            return EV_ENOMEM;
        b->tags = ng;
        b->cap = cap;
    }
    b->tokens[b->n] = tok;
    b->tags[b->n] = tag;
    b->n++;
    return EV_OK;
}

static int sb_flush(struct sent_builder *b, struct ev_ner_data *d) {
    if (b->n == 0)
        return EV_OK;
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 256;
        struct ev_ner_sentence *ns = realloc(d->s, cap * sizeof(*ns));
        if (!ns)
            return EV_ENOMEM;
        d->s = ns;
        d->cap = cap;
    }
    d->s[d->n++] = (struct ev_ner_sentence){b->n, b->tokens, b->tags, b->line};
    memset(b, 0, sizeof(*b));
    return EV_OK;
}

static void sb_clear(struct sent_builder *b) {
    for (size_t i = 0; i < b->n; i++) {
        free(b->tokens[i]);
        free(b->tags[i]);
    }
    free(b->tokens);
    free(b->tags);
    memset(b, 0, sizeof(*b));
}

static bool iob2_ok(const char *t) {
    if (strcmp(t, "O") == 0)
        return true;
    return (t[0] == 'B' || t[0] == 'I') && t[1] == '-' && t[2] != '\0';
}

int ev_conll_read(const char *path, const struct ev_conll_opts *opts, struct ev_ner_data *out,
                  char *err, size_t errlen) {
    if (!path || !opts || !out)
        return EV_EINVAL;
    memset(out, 0, sizeof(*out));
    struct ev_limits lim = limits_or_default(&opts->limits);
    FILE *f = NULL;
    int st = open_checked(path, &lim, &f, NULL, err, errlen);
    if (st != EV_OK)
        return st;
    struct line_reader r = {f, NULL, 0, 0, lim.max_line, 0};
    struct sent_builder b = {0};
    char prefix[16] = "";
    bool prefix_known = opts->no_strip;
    if (opts->strip_prefix && !opts->no_strip) {
        snprintf(prefix, sizeof(prefix), "%s", opts->strip_prefix);
        prefix_known = true;
    }
    int got;
    enum { MAXCOL = 64 };
    while ((got = lr_next(&r)) == 1) {
        if (blank(r.buf, r.len)) {
            if ((st = sb_flush(&b, out)) != EV_OK)
                goto done;
            if (lim.max_examples && out->n >= lim.max_examples)
                break;
            continue;
        }
        /* Split on tabs when the line has one (tokens may then hold spaces),
         * else on runs of spaces. */
        char *cols[MAXCOL];
        size_t nc = 0;
        bool tabs = memchr(r.buf, '\t', r.len) != NULL;
        char *p = r.buf;
        while (*p && nc < MAXCOL) {
            if (!tabs)
                while (*p == ' ')
                    p++;
            if (!*p)
                break;
            cols[nc++] = p;
            char *e = p;
            while (*e && *e != (tabs ? '\t' : ' '))
                e++;
            if (*e) {
                *e = '\0';
                p = e + 1;
            } else {
                p = e;
            }
        }
        if (nc > 0 && strncmp(cols[0], "-DOCSTART-", 10) == 0)
            continue;
        int tc = opts->tag_col < 0 ? (int)nc - 1 : opts->tag_col;
        if (nc < 2 || opts->token_col >= (int)nc || tc >= (int)nc || tc < 0 ||
            tc == opts->token_col) {
            st = fail(err, errlen, EV_EFORMAT,
                      "%s:%zu: expected a token and a tag column, got %zu column(s)", path,
                      r.lineno, nc);
            goto done;
        }
        const char *tok = cols[opts->token_col], *tag = cols[tc];
        if (opts->check_iob2 && !iob2_ok(tag)) {
            st = fail(err, errlen, EV_EFORMAT, "%s:%zu: tag \"%s\" is not IOB2 (O, B-X, I-X)", path,
                      r.lineno, tag);
            goto done;
        }
        if (!prefix_known) {
            /* WikiANN: "fr:Saxifrage". Decided once, on the first token. */
            if (strlen(tok) > 3 && tok[0] >= 'a' && tok[0] <= 'z' && tok[1] >= 'a' &&
                tok[1] <= 'z' && tok[2] == ':')
                memcpy(prefix, tok, 3), prefix[3] = '\0';
            prefix_known = true;
        }
        size_t pl = strlen(prefix);
        if (pl && strncmp(tok, prefix, pl) == 0 && tok[pl] != '\0')
            tok += pl;
        if (ev_utf8_count(tok, strlen(tok)) == (size_t)-1) {
            st = fail(err, errlen, EV_EFORMAT, "%s:%zu: token is not valid UTF-8", path, r.lineno);
            goto done;
        }
        char *t1 = xstrndup(tok, strlen(tok)), *t2 = xstrndup(tag, strlen(tag));
        if (b.n == 0)
            b.line = r.lineno;
        if (!t1 || !t2 || sb_push(&b, t1, t2) != EV_OK) {
            free(t1);
            free(t2);
            st = EV_ENOMEM;
            goto done;
        }
    }
    if (got < 0) {
        st = lr_error(&r, got, path, err, errlen);
        goto done;
    }
    if ((st = sb_flush(&b, out)) != EV_OK)
        goto done;
    if (out->n == 0)
        st = fail(err, errlen, EV_EFORMAT, "%s: no sentences", path);
done:
    sb_clear(&b);
    free(r.buf);
    fclose(f);
    if (st != EV_OK)
        ev_ner_data_clear(out);
    return st;
}

/* ---- NER JSONL spans ---- */

void ev_span_data_clear(struct ev_span_data *d) {
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++) {
        for (size_t k = 0; k < d->d[i].n; k++)
            free(d->d[i].spans[k].label);
        free(d->d[i].spans);
        free(d->d[i].text);
    }
    free(d->d);
    memset(d, 0, sizeof(*d));
}

static bool json_size(struct json_object *o, const char *key, size_t *out) {
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
        return false;
    int64_t x = json_object_get_int64(v);
    if (x < 0)
        return false;
    *out = (size_t)x;
    return true;
}

int ev_spans_read(const char *path, const struct ev_limits *limits, struct ev_span_data *out,
                  char *err, size_t errlen) {
    if (!path || !out)
        return EV_EINVAL;
    memset(out, 0, sizeof(*out));
    struct ev_limits lim = limits_or_default(limits);
    FILE *f = NULL;
    int st = open_checked(path, &lim, &f, NULL, err, errlen);
    if (st != EV_OK)
        return st;
    struct line_reader r = {f, NULL, 0, 0, lim.max_line, 0};
    struct json_object *obj = NULL;
    int got;
    while ((got = lr_next(&r)) == 1) {
        if (blank(r.buf, r.len))
            continue;
        json_object_put(obj);
        enum json_tokener_error je;
        obj = json_tokener_parse_verbose(r.buf, &je);
        struct json_object *jt = NULL, *je_arr = NULL;
        if (!obj || !json_object_is_type(obj, json_type_object) ||
            !json_object_object_get_ex(obj, "text", &jt) ||
            !json_object_is_type(jt, json_type_string)) {
            st = fail(err, errlen, EV_EFORMAT, "%s:%zu: expected {\"text\": string, ...}", path,
                      r.lineno);
            goto done;
        }
        if (!json_object_object_get_ex(obj, "entities", &je_arr))
            json_object_object_get_ex(obj, "spans", &je_arr);
        if (je_arr && !json_object_is_type(je_arr, json_type_array)) {
            st = fail(err, errlen, EV_EFORMAT, "%s:%zu: \"entities\" is not an array", path,
                      r.lineno);
            goto done;
        }
        if (out->n == out->cap) {
            size_t cap = out->cap ? 2 * out->cap : 64;
            struct ev_span_doc *nd = realloc(out->d, cap * sizeof(*nd));
            if (!nd) {
                st = EV_ENOMEM;
                goto done;
            }
            out->d = nd;
            out->cap = cap;
        }
        struct ev_span_doc *doc = &out->d[out->n++];
        memset(doc, 0, sizeof(*doc));
        doc->line = r.lineno;
        size_t tl = (size_t)json_object_get_string_len(jt);
        doc->text = xstrndup(json_object_get_string(jt), tl);
        if (!doc->text) {
            st = EV_ENOMEM;
            goto done;
        }
        doc->n_cp = ev_utf8_count(doc->text, tl);
        size_t ne = je_arr ? json_object_array_length(je_arr) : 0;
        doc->spans = calloc(ne ? ne : 1, sizeof(*doc->spans));
        if (!doc->spans) {
            st = EV_ENOMEM;
            goto done;
        }
        for (size_t k = 0; k < ne; k++) {
            struct json_object *e = json_object_array_get_idx(je_arr, k), *jl = NULL;
            size_t s0, s1;
            if (!e || !json_object_is_type(e, json_type_object) || !json_size(e, "start", &s0) ||
                !json_size(e, "end", &s1) ||
                (!json_object_object_get_ex(e, "label", &jl) &&
                 !json_object_object_get_ex(e, "type", &jl)) ||
                !json_object_is_type(jl, json_type_string)) {
                st = fail(err, errlen, EV_EFORMAT,
                          "%s:%zu: entity %zu needs integer start/end and a string label", path,
                          r.lineno, k);
                goto done;
            }
            if (s0 >= s1 || s1 > doc->n_cp) {
                st = fail(err, errlen, EV_EFORMAT,
                          "%s:%zu: entity %zu span [%zu, %zu) outside the text (%zu code points)",
                          path, r.lineno, k, s0, s1, doc->n_cp);
                goto done;
            }
            doc->spans[k].start = s0;
            doc->spans[k].end = s1;
            doc->spans[k].label =
                xstrndup(json_object_get_string(jl), (size_t)json_object_get_string_len(jl));
            doc->n = k + 1;
            if (!doc->spans[k].label) {
                st = EV_ENOMEM;
                goto done;
            }
        }
        if (lim.max_examples && out->n >= lim.max_examples)
            break;
    }
    if (got < 0)
        st = lr_error(&r, got, path, err, errlen);
    else if (out->n == 0)
        st = fail(err, errlen, EV_EFORMAT, "%s: no documents", path);
done:
    json_object_put(obj);
    free(r.buf);
    fclose(f);
    if (st != EV_OK)
        ev_span_data_clear(out);
    return st;
}

static bool cp_is_space(int32_t c) {
    if (c == ' ' || (c >= 0x09 && c <= 0x0d) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
        (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f ||
        c == 0x3000)
        return true;
    return false;
}

int ev_spans_to_words(const struct ev_span_data *in, struct ev_ner_data *out) {
    if (!in || !out)
        return EV_EINVAL;
    memset(out, 0, sizeof(*out));
    struct sent_builder b = {0};
    int st = EV_OK;
    for (size_t di = 0; di < in->n; di++) {
        const struct ev_span_doc *doc = &in->d[di];
        const char *t = doc->text;
        size_t len = strlen(t), i = 0, cp = 0;
        b.line = doc->line;
        while (i < len) {
            utf8proc_int32_t c;
            utf8proc_ssize_t k =
                utf8proc_iterate((const utf8proc_uint8_t *)t + i, (utf8proc_ssize_t)(len - i), &c);
            if (k <= 0) {
                st = EV_EUTF8;
                goto fail;
            }
            if (cp_is_space(c)) {
                i += (size_t)k;
                cp++;
                continue;
            }
            size_t wb = i, wcp = cp; /* a word: bytes [wb, i), code points [wcp, cp) */
            while (i < len) {
                k = utf8proc_iterate((const utf8proc_uint8_t *)t + i, (utf8proc_ssize_t)(len - i),
                                     &c);
                if (k <= 0 || cp_is_space(c))
                    break;
                i += (size_t)k;
                cp++;
            }
            const char *tag = "O";
            char buf[600];
            for (size_t e = 0; e < doc->n; e++) {
                const struct ev_span *sp = &doc->spans[e];
                if (sp->end <= wcp || sp->start >= cp)
                    continue;
                /* first word of the entity: the entity starts at or after this word */
                snprintf(buf, sizeof(buf), "%s-%s", sp->start >= wcp ? "B" : "I", sp->label);
                tag = buf;
                break;
            }
            char *w = xstrndup(t + wb, i - wb), *g = xstrndup(tag, strlen(tag));
            if (!w || !g || sb_push(&b, w, g) != EV_OK) {
                free(w);
                free(g);
                st = EV_ENOMEM;
                goto fail;
            }
        }
        if (b.n == 0)
            continue; /* a document of white space only: nothing to learn from */
        if ((st = sb_flush(&b, out)) != EV_OK)
            goto fail;
    }
    return EV_OK;
fail:
    sb_clear(&b);
    ev_ner_data_clear(out);
    return st;
}

/* ---- SQuAD ---- */

void ev_qa_data_clear(struct ev_qa_data *d) {
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++) {
        struct ev_qa_item *q = &d->q[i];
        free(q->id);
        free(q->question);
        for (size_t k = 0; k < q->n_answers; k++)
            free(q->answers[k]);
        free(q->answers);
        free(q->answer_starts);
        free(q->offset_ok);
    }
    free(d->q);
    for (size_t i = 0; i < d->n_contexts; i++)
        free(d->contexts[i]);
    free(d->contexts);
    memset(d, 0, sizeof(*d));
}

static int read_json_file(const char *path, const struct ev_limits *limits,
                          struct json_object **out, char *err, size_t errlen) {
    struct ev_limits lim = limits_or_default(limits);
    FILE *f = NULL;
    size_t size = 0;
    int st = open_checked(path, &lim, &f, &size, err, errlen);
    if (st != EV_OK)
        return st;
    char *buf = malloc(size + 1);
    if (!buf) {
        fclose(f);
        return EV_ENOMEM;
    }
    size_t got = fread(buf, 1, size, f);
    fclose(f);
    if (got != size) {
        free(buf);
        return fail(err, errlen, EV_EIO, "%s: short read", path);
    }
    buf[size] = '\0';
    struct json_tokener *tk = json_tokener_new_ex(JSON_TOKENER_DEFAULT_DEPTH);
    if (!tk) {
        free(buf);
        return EV_ENOMEM;
    }
    struct json_object *obj = json_tokener_parse_ex(tk, buf, (int)size);
    enum json_tokener_error je = json_tokener_get_error(tk);
    size_t at = json_tokener_get_parse_end(tk);
    json_tokener_free(tk);
    free(buf);
    if (!obj || je != json_tokener_success) {
        json_object_put(obj);
        return fail(err, errlen, EV_EFORMAT, "%s: invalid JSON near byte %zu (%s)", path, at,
                    json_tokener_error_desc(je));
    }
    *out = obj;
    return EV_OK;
}

static const char *jstr(struct json_object *o, const char *key, size_t *len) {
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    if (len)
        *len = (size_t)json_object_get_string_len(v);
    return json_object_get_string(v);
}

static int squad_question(struct ev_qa_data *d, struct json_object *qa, const char *ctx,
                          size_t ctx_len, size_t ctx_idx, const char *path, char *err,
                          size_t errlen) {
    size_t ql = 0, il = 0;
    const char *qs = jstr(qa, "question", &ql), *id = jstr(qa, "id", &il);
    if (!qs || !id)
        return fail(err, errlen, EV_EFORMAT, "%s: question %zu has no string id/question", path,
                    d->n);
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 256;
        struct ev_qa_item *nq = realloc(d->q, cap * sizeof(*nq));
        if (!nq)
            return EV_ENOMEM;
        d->q = nq;
        d->cap = cap;
    }
    struct ev_qa_item *q = &d->q[d->n++];
    memset(q, 0, sizeof(*q));
    q->context = ctx_idx;
    q->id = xstrndup(id, il);
    q->question = xstrndup(qs, ql);
    if (!q->id || !q->question)
        return EV_ENOMEM;
    struct json_object *imp, *ans;
    if (json_object_object_get_ex(qa, "is_impossible", &imp))
        q->impossible = json_object_get_boolean(imp);
    if (!json_object_object_get_ex(qa, "answers", &ans) ||
        !json_object_is_type(ans, json_type_array)) {
        if (q->impossible)
            return EV_OK;
        return fail(err, errlen, EV_EFORMAT, "%s: question \"%s\" has no answers array", path,
                    q->id);
    }
    size_t na = json_object_array_length(ans);
    q->answers = calloc(na ? na : 1, sizeof(*q->answers));
    q->answer_starts = calloc(na ? na : 1, sizeof(*q->answer_starts));
    q->offset_ok = calloc(na ? na : 1, sizeof(*q->offset_ok));
    if (!q->answers || !q->answer_starts || !q->offset_ok)
        return EV_ENOMEM;
    for (size_t k = 0; k < na; k++) {
        struct json_object *a = json_object_array_get_idx(ans, k), *js;
        size_t tl = 0;
        const char *t = a ? jstr(a, "text", &tl) : NULL;
        if (!t)
            return fail(err, errlen, EV_EFORMAT, "%s: question \"%s\" answer %zu has no text", path,
                        q->id, k);
        q->answers[k] = xstrndup(t, tl);
        if (!q->answers[k])
            return EV_ENOMEM;
        q->n_answers = k + 1;
        bool ok = false;
        if (json_object_object_get_ex(a, "answer_start", &js) &&
            json_object_is_type(js, json_type_int) && json_object_get_int64(js) >= 0) {
            size_t s = (size_t)json_object_get_int64(js);
            q->answer_starts[k] = s;
            size_t b0 = cp_to_byte(ctx, ctx_len, s);
            ok = b0 + tl <= ctx_len && memcmp(ctx + b0, t, tl) == 0;
        }
        q->offset_ok[k] = ok;
        if (!ok)
            d->n_bad_offsets++;
    }
    return EV_OK;
}

int ev_squad_read(const char *path, const struct ev_limits *limits, struct ev_qa_data *out,
                  char *err, size_t errlen) {
    if (!path || !out)
        return EV_EINVAL;
    memset(out, 0, sizeof(*out));
    struct json_object *root = NULL;
    int st = read_json_file(path, limits, &root, err, errlen);
    if (st != EV_OK)
        return st;
    struct json_object *data, *ver;
    if (!json_object_is_type(root, json_type_object) ||
        !json_object_object_get_ex(root, "data", &data) ||
        !json_object_is_type(data, json_type_array)) {
        st = fail(err, errlen, EV_EFORMAT, "%s: not a SQuAD file (no \"data\" array)", path);
        goto done;
    }
    if (json_object_object_get_ex(root, "version", &ver))
        snprintf(out->version, sizeof(out->version), "%s", json_object_get_string(ver));
    for (size_t a = 0; a < json_object_array_length(data); a++) {
        struct json_object *art = json_object_array_get_idx(data, a), *pars;
        if (!art || !json_object_object_get_ex(art, "paragraphs", &pars) ||
            !json_object_is_type(pars, json_type_array)) {
            st = fail(err, errlen, EV_EFORMAT, "%s: article %zu has no paragraphs array", path, a);
            goto done;
        }
        for (size_t p = 0; p < json_object_array_length(pars); p++) {
            struct json_object *par = json_object_array_get_idx(pars, p), *qas;
            size_t cl = 0;
            const char *ctx = par ? jstr(par, "context", &cl) : NULL;
            if (!ctx || !json_object_object_get_ex(par, "qas", &qas) ||
                !json_object_is_type(qas, json_type_array)) {
                st =
                    fail(err, errlen, EV_EFORMAT,
                         "%s: article %zu paragraph %zu needs \"context\" and \"qas\"", path, a, p);
                goto done;
            }
            if (ev_utf8_count(ctx, cl) == (size_t)-1) {
                st = fail(err, errlen, EV_EFORMAT, "%s: article %zu paragraph %zu: bad UTF-8", path,
                          a, p);
                goto done;
            }
            if (out->n_contexts == out->cap_contexts) {
                size_t cap = out->cap_contexts ? 2 * out->cap_contexts : 64;
                char **nc = realloc(out->contexts, cap * sizeof(*nc));
                if (!nc) {
                    st = EV_ENOMEM;
                    goto done;
                }
                out->contexts = nc;
                out->cap_contexts = cap;
            }
            out->contexts[out->n_contexts] = xstrndup(ctx, cl);
            if (!out->contexts[out->n_contexts]) {
                st = EV_ENOMEM;
                goto done;
            }
            size_t ci = out->n_contexts++;
            for (size_t k = 0; k < json_object_array_length(qas); k++) {
                st = squad_question(out, json_object_array_get_idx(qas, k), ctx, cl, ci, path, err,
                                    errlen);
                if (st != EV_OK)
                    goto done;
            }
        }
    }
    if (out->n == 0)
        st = fail(err, errlen, EV_EFORMAT, "%s: no questions", path);
done:
    json_object_put(root);
    if (st != EV_OK)
        ev_qa_data_clear(out);
    return st;
}

static int kv_cmp(const void *a, const void *b) {
    return strcmp(((const struct ev_kv *)a)->key, ((const struct ev_kv *)b)->key);
}

int ev_predictions_read(const char *path, const struct ev_limits *limits, struct ev_kv_map *out,
                        char *err, size_t errlen) {
    if (!path || !out)
        return EV_EINVAL;
    memset(out, 0, sizeof(*out));
    struct json_object *root = NULL;
    int st = read_json_file(path, limits, &root, err, errlen);
    if (st != EV_OK)
        return st;
    if (!json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return fail(err, errlen, EV_EFORMAT, "%s: expected a JSON object {id: answer}", path);
    }
    size_t n = (size_t)json_object_object_length(root);
    out->kv = calloc(n ? n : 1, sizeof(*out->kv));
    if (!out->kv) {
        json_object_put(root);
        return EV_ENOMEM;
    }
    json_object_object_foreach(root, key, val) {
        if (!json_object_is_type(val, json_type_string)) {
            st = fail(err, errlen, EV_EFORMAT, "%s: prediction for \"%s\" is not a string", path,
                      key);
            break;
        }
        struct ev_kv *kv = &out->kv[out->n++];
        kv->key = xstrndup(key, strlen(key));
        kv->value = xstrndup(json_object_get_string(val), (size_t)json_object_get_string_len(val));
        if (!kv->key || !kv->value) {
            st = EV_ENOMEM;
            break;
        }
    }
    json_object_put(root);
    if (st != EV_OK) {
        ev_kv_map_clear(out);
        return st;
    }
    qsort(out->kv, out->n, sizeof(*out->kv), kv_cmp);
    return EV_OK;
}

const char *ev_kv_get(const struct ev_kv_map *m, const char *key) {
    struct ev_kv k = {(char *)(uintptr_t)key, NULL};
    const struct ev_kv *f = bsearch(&k, m->kv, m->n, sizeof(*m->kv), kv_cmp);
    return f ? f->value : NULL;
}

void ev_kv_map_clear(struct ev_kv_map *m) {
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        free(m->kv[i].key);
        free(m->kv[i].value);
    }
    free(m->kv);
    memset(m, 0, sizeof(*m));
}
