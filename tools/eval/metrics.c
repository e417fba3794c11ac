/* metrics.c — classification and NER metrics.
 *
 * DESIGN: NER entities are extracted exactly as seqeval does it, so that the
 * numbers users compare with (HF Trainer reports use seqeval) agree:
 *   strict IOB2 (seqeval scheme.py, Tokens.entities with IOB2): an entity starts
 *   only at B-X, extends over the following I-X of the same type, and stops at
 *   anything else; an I-X that does not follow B-X/I-X of type X starts nothing.
 *   conll (seqeval sequence_labeling.get_entities, the conlleval port): an I-X
 *   after O or after another type also starts an entity.
 * Entities of the two sides are compared as sets of (type, start, end) per
 * sentence; counts are kept per type and reduced in ev_ner_report.
 */
#include "tools/eval/metrics.h"

#include <stdlib.h>
#include <string.h>

const char *ev_strerror(int status) {
    switch (status) {
    case EV_OK:
        return "ok";
    case EV_ENOMEM:
        return "out of memory";
    case EV_EINVAL:
        return "invalid argument";
    case EV_EIO:
        return "cannot read file";
    case EV_EFORMAT:
        return "malformed input";
    case EV_ELIMIT:
        return "size limit exceeded";
    case EV_EUTF8:
        return "invalid UTF-8";
    default:
        return "unknown status";
    }
}

void ev_prf_compute(struct ev_prf *m) {
    m->precision = m->n_pred ? (double)m->n_match / (double)m->n_pred : 0.0;
    m->recall = m->n_true ? (double)m->n_match / (double)m->n_true : 0.0;
    double s = m->precision + m->recall;
    m->f1 = s > 0.0 ? 2.0 * m->precision * m->recall / s : 0.0;
}

/* ---- classification ---- */

void ev_cls_report_clear(struct ev_cls_report *r) {
    if (!r)
        return;
    free(r->per_label);
    free(r->confusion);
    memset(r, 0, sizeof(*r));
}

int ev_cls_score(const int32_t *gold, const int32_t *pred, size_t n, size_t n_labels,
                 struct ev_cls_report *out) {
    if (!out || (n > 0 && (!gold || !pred)) || n_labels == 0 || n_labels > 1u << 20)
        return EV_EINVAL;
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < n; i++)
        if (gold[i] < 0 || (size_t)gold[i] >= n_labels || pred[i] < 0 ||
            (size_t)pred[i] >= n_labels)
            return EV_EINVAL;
    struct ev_prf *pl = calloc(n_labels, sizeof(*pl));
    size_t *conf = calloc(n_labels * n_labels, sizeof(*conf));
    if (!pl || !conf) {
        free(pl);
        free(conf);
        return EV_ENOMEM;
    }
    size_t correct = 0;
    for (size_t i = 0; i < n; i++) {
        size_t g = (size_t)gold[i], p = (size_t)pred[i];
        conf[g * n_labels + p]++;
        pl[g].n_true++;
        pl[p].n_pred++;
        if (g == p) {
            pl[g].n_match++;
            correct++;
        }
    }
    double sp = 0, sr = 0, sf = 0, wf = 0;
    size_t present = 0;
    for (size_t c = 0; c < n_labels; c++) {
        ev_prf_compute(&pl[c]);
        if (pl[c].n_true + pl[c].n_pred == 0)
            continue; /* absent from both sides: not averaged (scikit-learn labels=None) */
        present++;
        sp += pl[c].precision;
        sr += pl[c].recall;
        sf += pl[c].f1;
        wf += pl[c].f1 * (double)pl[c].n_true;
    }
    out->n_labels = n_labels;
    out->n_examples = n;
    out->n_correct = correct;
    out->accuracy = n ? (double)correct / (double)n : 0.0;
    out->n_present = present;
    out->macro_precision = present ? sp / (double)present : 0.0;
    out->macro_recall = present ? sr / (double)present : 0.0;
    out->macro_f1 = present ? sf / (double)present : 0.0;
    out->weighted_f1 = n ? wf / (double)n : 0.0;
    out->per_label = pl;
    out->confusion = conf;
    return EV_OK;
}

/* ---- NER ---- */

struct ev_ner {
    enum ev_ner_mode mode;
    size_t n_types, cap_types;
    char **names;         /* (n_types) */
    struct ev_prf *count; /* (n_types) counts only */
    size_t n_tokens, n_tokens_correct, n_sentences;
};

int ev_ner_new(enum ev_ner_mode mode, struct ev_ner **out) {
    if (!out || (mode != EV_NER_STRICT && mode != EV_NER_CONLL))
        return EV_EINVAL;
    struct ev_ner *s = calloc(1, sizeof(*s));
    if (!s)
        return EV_ENOMEM;
    s->mode = mode;
    *out = s;
    return EV_OK;
}

void ev_ner_free(struct ev_ner *s) {
    if (!s)
        return;
    for (size_t i = 0; i < s->n_types; i++)
        free(s->names[i]);
    free(s->names);
    free(s->count);
    free(s);
}

int ev_ner_type(struct ev_ner *s, const char *name, size_t len, int32_t *type) {
    if (!s || !name || !type)
        return EV_EINVAL;
    /* A handful of types in practice: a linear scan beats a hash here. */
    for (size_t i = 0; i < s->n_types; i++)
        if (strlen(s->names[i]) == len && memcmp(s->names[i], name, len) == 0) {
            *type = (int32_t)i;
            return EV_OK;
        }
    if (s->n_types >= 1u << 16)
        return EV_ELIMIT;
    if (s->n_types == s->cap_types) {
        size_t cap = s->cap_types ? 2 * s->cap_types : 8;
        char **nn = realloc(s->names, cap * sizeof(*nn));
        if (!nn)
            return EV_ENOMEM;
        s->names = nn;
        struct ev_prf *nc = realloc(s->count, cap * sizeof(*nc));
        if (!nc)
            return EV_ENOMEM;
        s->count = nc;
        s->cap_types = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return EV_ENOMEM;
    memcpy(copy, name, len);
    copy[len] = '\0';
    s->names[s->n_types] = copy;
    memset(&s->count[s->n_types], 0, sizeof(s->count[0]));
    *type = (int32_t)s->n_types++;
    return EV_OK;
}

/* A tag split as seqeval does: prefix letter and type name. */
struct tag_view {
    char prefix;
    const char *type;
    size_t type_len;
};

/* seqeval strict (Token.tag): tag[1:].strip('-') or '_'.
 * seqeval default (get_entities): tag[1:].split('-', 1)[-1] or '_'. */
static struct tag_view tag_split(const char *tag, enum ev_ner_mode mode) {
    struct tag_view v = {tag[0], "_", 1};
    const char *t = tag + 1;
    size_t n = strlen(t);
    if (mode == EV_NER_STRICT) {
        while (n > 0 && t[0] == '-') {
            t++;
            n--;
        }
        while (n > 0 && t[n - 1] == '-')
            n--;
    } else {
        const char *dash = memchr(t, '-', n);
        if (dash) {
            n -= (size_t)(dash + 1 - t);
            t = dash + 1;
        }
    }
    if (n > 0) {
        v.type = t;
        v.type_len = n;
    }
    return v;
}

static bool same_type(struct tag_view a, struct tag_view b) {
    return a.type_len == b.type_len && memcmp(a.type, b.type, a.type_len) == 0;
}

static int push_entity(struct ev_ner *s, struct ev_entity **ents, size_t *n, size_t *cap,
                       size_t start, size_t end, struct tag_view v) {
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 8;
        struct ev_entity *e = realloc(*ents, c * sizeof(*e));
        if (!e)
            return EV_ENOMEM;
        *ents = e;
        *cap = c;
    }
    int32_t type;
    int st = ev_ner_type(s, v.type, v.type_len, &type);
    if (st != EV_OK)
        return st;
    (*ents)[*n].start = start;
    (*ents)[*n].end = end;
    (*ents)[*n].type = type;
    (*n)++;
    return EV_OK;
}

/* conlleval rules as in seqeval's end_of_chunk / start_of_chunk. */
static bool chunk_end(char pt, char t, struct tag_view pv, struct tag_view v) {
    if (pt == 'E' || pt == 'S')
        return true;
    if ((pt == 'B' || pt == 'I') && (t == 'B' || t == 'S' || t == 'O'))
        return true;
    return pt != 'O' && pt != '.' && !same_type(pv, v);
}

static bool chunk_start(char pt, char t, struct tag_view pv, struct tag_view v) {
    if (t == 'B' || t == 'S')
        return true;
    if ((pt == 'E' || pt == 'S' || pt == 'O') && (t == 'E' || t == 'I'))
        return true;
    return t != 'O' && t != '.' && !same_type(pv, v);
}

int ev_ner_decode(struct ev_ner *s, const char *const *tags, size_t n_tags, struct ev_entity **ents,
                  size_t *n_ents, size_t *bad_index) {
    if (!s || !ents || !n_ents || (n_tags > 0 && !tags))
        return EV_EINVAL;
    *ents = NULL;
    *n_ents = 0;
    /* Validate first: seqeval raises on a prefix the scheme does not allow. */
    for (size_t i = 0; i < n_tags; i++) {
        const char *t = tags[i];
        bool ok = t && t[0] &&
                  (t[0] == 'B' || t[0] == 'I' || t[0] == 'O' ||
                   (s->mode == EV_NER_CONLL && (t[0] == 'E' || t[0] == 'S')));
        if (!ok) {
            if (bad_index)
                *bad_index = i;
            return EV_EINVAL;
        }
    }
    struct ev_entity *out = NULL;
    size_t n = 0, cap = 0;
    int st = EV_OK;
    if (s->mode == EV_NER_STRICT) {
        size_t i = 0;
        while (i < n_tags) {
            struct tag_view v = tag_split(tags[i], s->mode);
            if (v.prefix != 'B') {
                i++;
                continue;
            }
            size_t j = i + 1;
            while (j < n_tags) {
                struct tag_view w = tag_split(tags[j], s->mode);
                if (w.prefix != 'I' || !same_type(v, w))
                    break;
                j++;
            }
            st = push_entity(s, &out, &n, &cap, i, j, v);
            if (st != EV_OK)
                goto fail;
            i = j;
        }
    } else {
        struct tag_view pv = {'O', "_", 1};
        size_t begin = 0;
        for (size_t i = 0; i <= n_tags; i++) {
            /* A trailing "O" closes the last chunk, as seqeval appends one. */
            struct tag_view v =
                i < n_tags ? tag_split(tags[i], s->mode) : (struct tag_view){'O', "_", 1};
            if (chunk_end(pv.prefix, v.prefix, pv, v)) {
                st = push_entity(s, &out, &n, &cap, begin, i, pv);
                if (st != EV_OK)
                    goto fail;
            }
            if (chunk_start(pv.prefix, v.prefix, pv, v))
                begin = i;
            pv = v;
        }
    }
    *ents = out;
    *n_ents = n;
    return EV_OK;
fail:
    free(out);
    return st;
}

static int ent_cmp(const void *a, const void *b) {
    const struct ev_entity *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return (x->type > y->type) - (x->type < y->type);
}

/* Sort and drop duplicates: seqeval compares sets. Returns the new count. */
static size_t ent_unique(struct ev_entity *e, size_t n) {
    if (n < 2)
        return n;
    qsort(e, n, sizeof(*e), ent_cmp);
    size_t k = 1;
    for (size_t i = 1; i < n; i++)
        if (ent_cmp(&e[i], &e[k - 1]) != 0)
            e[k++] = e[i];
    return k;
}

int ev_ner_add_entities(struct ev_ner *s, const struct ev_entity *gold, size_t n_gold,
                        const struct ev_entity *pred, size_t n_pred) {
    if (!s || (n_gold && !gold) || (n_pred && !pred))
        return EV_EINVAL;
    for (size_t i = 0; i < n_gold; i++)
        if (gold[i].type < 0 || (size_t)gold[i].type >= s->n_types)
            return EV_EINVAL;
    for (size_t i = 0; i < n_pred; i++)
        if (pred[i].type < 0 || (size_t)pred[i].type >= s->n_types)
            return EV_EINVAL;
    size_t tot = n_gold + n_pred;
    struct ev_entity *buf = malloc((tot ? tot : 1) * sizeof(*buf));
    if (!buf)
        return EV_ENOMEM;
    if (n_gold)
        memcpy(buf, gold, n_gold * sizeof(*buf));
    if (n_pred)
        memcpy(buf + n_gold, pred, n_pred * sizeof(*buf));
    struct ev_entity *g = buf, *p = buf + n_gold;
    size_t ng = ent_unique(g, n_gold), np = ent_unique(p, n_pred);
    for (size_t i = 0; i < ng; i++)
        s->count[g[i].type].n_true++;
    for (size_t i = 0; i < np; i++)
        s->count[p[i].type].n_pred++;
    size_t i = 0, j = 0;
    while (i < ng && j < np) {
        int c = ent_cmp(&g[i], &p[j]);
        if (c == 0) {
            s->count[g[i].type].n_match++;
            i++;
            j++;
        } else if (c < 0) {
            i++;
        } else {
            j++;
        }
    }
    s->n_sentences++;
    free(buf);
    return EV_OK;
}

void ev_ner_word_tags(const size_t *ws, const size_t *we, size_t n_words, const size_t *ts,
                      const char *const *tags, size_t n_tok, const char **word_tags) {
    for (size_t w = 0; w < n_words; w++)
        word_tags[w] = NULL;
    size_t w = 0;
    bool seen = false; /* word w already had its first token */
    for (size_t t = 0; t < n_tok; t++) {
        /* the token's end does not matter: one ending before word w starts is
         * white space between words, which HF word_ids give to word w */
        while (w < n_words && ts[t] >= we[w]) {
            w++;
            seen = false;
        }
        if (w == n_words)
            break;
        if (!seen && ts[t] <= ws[w])
            word_tags[w] = tags[t];
        seen = true;
    }
}

int ev_ner_add_tags(struct ev_ner *s, const char *const *gold, const char *const *pred,
                    size_t n_tokens, size_t *bad_index) {
    if (!s || (n_tokens && (!gold || !pred)))
        return EV_EINVAL;
    struct ev_entity *ge = NULL, *pe = NULL;
    size_t ng = 0, np = 0;
    int st = ev_ner_decode(s, gold, n_tokens, &ge, &ng, bad_index);
    if (st != EV_OK)
        return st;
    st = ev_ner_decode(s, pred, n_tokens, &pe, &np, bad_index);
    if (st == EV_OK)
        st = ev_ner_add_entities(s, ge, ng, pe, np);
    if (st == EV_OK) {
        s->n_tokens += n_tokens;
        for (size_t i = 0; i < n_tokens; i++)
            s->n_tokens_correct += strcmp(gold[i], pred[i]) == 0;
    }
    free(ge);
    free(pe);
    return st;
}

void ev_ner_report_clear(struct ev_ner_report *r) {
    if (!r)
        return;
    free(r->per_type);
    free(r->type_names);
    memset(r, 0, sizeof(*r));
}

int ev_ner_report(const struct ev_ner *s, struct ev_ner_report *out) {
    if (!s || !out)
        return EV_EINVAL;
    memset(out, 0, sizeof(*out));
    size_t n = 0;
    size_t *idx = malloc((s->n_types ? s->n_types : 1) * sizeof(*idx));
    if (!idx)
        return EV_ENOMEM;
    /* Report only types that occur as an entity on either side (seqeval). */
    for (size_t i = 0; i < s->n_types; i++)
        if (s->count[i].n_true + s->count[i].n_pred > 0)
            idx[n++] = i;
    /* Sorting by name needs the scorer in the comparator; qsort has no context
     * argument in C11, so insertion sort instead (a handful of types). */
    for (size_t i = 1; i < n; i++) {
        size_t v = idx[i], j = i;
        while (j > 0 && strcmp(s->names[idx[j - 1]], s->names[v]) > 0) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = v;
    }
    struct ev_prf *pt = calloc(n ? n : 1, sizeof(*pt));
    const char **names = calloc(n ? n : 1, sizeof(*names));
    if (!pt || !names) {
        free(pt);
        free(names);
        free(idx);
        return EV_ENOMEM;
    }
    struct ev_prf micro = {0};
    double sp = 0, sr = 0, sf = 0;
    for (size_t k = 0; k < n; k++) {
        pt[k] = s->count[idx[k]];
        ev_prf_compute(&pt[k]);
        names[k] = s->names[idx[k]];
        micro.n_true += pt[k].n_true;
        micro.n_pred += pt[k].n_pred;
        micro.n_match += pt[k].n_match;
        sp += pt[k].precision;
        sr += pt[k].recall;
        sf += pt[k].f1;
    }
    ev_prf_compute(&micro);
    free(idx);
    out->n_types = n;
    out->type_names = names;
    out->per_type = pt;
    out->micro = micro;
    out->macro_precision = n ? sp / (double)n : 0.0;
    out->macro_recall = n ? sr / (double)n : 0.0;
    out->macro_f1 = n ? sf / (double)n : 0.0;
    out->n_tokens = s->n_tokens;
    out->n_tokens_correct = s->n_tokens_correct;
    out->token_accuracy = s->n_tokens ? (double)s->n_tokens_correct / (double)s->n_tokens : 0.0;
    out->n_sentences = s->n_sentences;
    return EV_OK;
}
