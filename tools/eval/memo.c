/* memo.c — the memorisation NER baseline (tools/socle_mini/baselines.py's ner_memo).
 *
 * DESIGN. Training counts (word, tag) pairs; a word's prediction is its most
 * frequent training tag, ties going to the tag seen first with that word (Python's
 * Counter.most_common(1) returns the first maximum in insertion order); an unseen
 * word is O. An I-X that does not continue an X entity (first word, or after O or
 * another type) becomes B-X, so every entity the baseline predicts is well formed.
 * Words are compared exactly (case-sensitive), as the Python does.
 * A hash table with open addressing (linear probing) keyed by the word; each word
 * keeps its (tag, count) pairs in first-seen order (a handful at most).
 */
#include "tools/eval/metrics.h"

#include <stdlib.h>
#include <string.h>

struct memo_tag {
    uint32_t tag, count;
};

struct memo_word {
    char *word; /* NULL = empty slot */
    struct memo_tag *tags;
    uint32_t n_tags;
};

struct ev_ner_memo {
    struct memo_word *slots;
    size_t cap, n; /* cap is a power of two */
    char **tag_names;
    size_t n_tag_names;
};

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

int ev_ner_memo_new(struct ev_ner_memo **out) {
    if (!out)
        return EV_EINVAL;
    struct ev_ner_memo *m = calloc(1, sizeof(*m));
    if (!m || !(m->slots = calloc(1024, sizeof(*m->slots)))) {
        free(m);
        return EV_ENOMEM;
    }
    m->cap = 1024;
    *out = m;
    return EV_OK;
}

void ev_ner_memo_free(struct ev_ner_memo *m) {
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++) {
        free(m->slots[i].word);
        free(m->slots[i].tags);
    }
    for (size_t i = 0; i < m->n_tag_names; i++)
        free(m->tag_names[i]);
    free(m->tag_names);
    free(m->slots);
    free(m);
}

static struct memo_word *find_slot(struct memo_word *slots, size_t cap, const char *w) {
    size_t i = (size_t)hash_str(w) & (cap - 1);
    while (slots[i].word && strcmp(slots[i].word, w) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static int grow(struct ev_ner_memo *m) {
    size_t nc = 2 * m->cap;
    struct memo_word *ns = calloc(nc, sizeof(*ns));
    if (!ns)
        return EV_ENOMEM;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].word)
            *find_slot(ns, nc, m->slots[i].word) = m->slots[i];
    free(m->slots);
    m->slots = ns;
    m->cap = nc;
    return EV_OK;
}

static int tag_id(struct ev_ner_memo *m, const char *tag, uint32_t *id) {
    for (size_t i = 0; i < m->n_tag_names; i++)
        if (strcmp(m->tag_names[i], tag) == 0) {
            *id = (uint32_t)i;
            return EV_OK;
        }
    char **nt = realloc(m->tag_names, (m->n_tag_names + 1) * sizeof(*nt));
    if (!nt)
        return EV_ENOMEM;
    m->tag_names = nt;
    if (!(nt[m->n_tag_names] = strdup(tag)))
        return EV_ENOMEM;
    *id = (uint32_t)m->n_tag_names++;
    return EV_OK;
}

int ev_ner_memo_add(struct ev_ner_memo *m, const char *word, const char *tag) {
    if (!m || !word || !tag)
        return EV_EINVAL;
    uint32_t t;
    int st = tag_id(m, tag, &t);
    if (st != EV_OK)
        return st;
    if (2 * (m->n + 1) > m->cap && (st = grow(m)) != EV_OK)
        return st;
    struct memo_word *w = find_slot(m->slots, m->cap, word);
    if (!w->word) {
        if (!(w->word = strdup(word)))
            return EV_ENOMEM;
        m->n++;
    }
    for (uint32_t i = 0; i < w->n_tags; i++)
        if (w->tags[i].tag == t) {
            w->tags[i].count++;
            return EV_OK;
        }
    struct memo_tag *nt = realloc(w->tags, (w->n_tags + 1) * sizeof(*nt));
    if (!nt)
        return EV_ENOMEM;
    w->tags = nt;
    w->tags[w->n_tags++] = (struct memo_tag){t, 1};
    return EV_OK;
}

/* The type of a B-X / I-X tag ("" for O and bare B/I). */
static const char *tag_type(const char *t) { return (t[0] && t[1] == '-') ? t + 2 : ""; }

int ev_ner_memo_predict(const struct ev_ner_memo *m, const char *const *words, size_t n,
                        char **tags) {
    if (!m || (n && (!words || !tags)))
        return EV_EINVAL;
    memset(tags, 0, n * sizeof(*tags));
    for (size_t i = 0; i < n; i++) {
        const char *t = "O";
        struct memo_word *w = find_slot(m->slots, m->cap, words[i]);
        if (w->word) {
            uint32_t best = 0;
            for (uint32_t k = 1; k < w->n_tags; k++)
                if (w->tags[k].count > w->tags[best].count)
                    best = k;
            t = m->tag_names[w->tags[best].tag];
        }
        /* An I-X that continues nothing starts the entity (compared with the already
         * corrected previous tag, as the Python loop does). */
        bool start =
            t[0] == 'I' && t[1] == '-' &&
            (i == 0 || strcmp(tags[i - 1], "O") == 0 || strcmp(tag_type(tags[i - 1]), t + 2) != 0);
        size_t l = strlen(t);
        if (!(tags[i] = malloc(l + 1))) {
            for (size_t k = 0; k < i; k++)
                free(tags[k]);
            memset(tags, 0, n * sizeof(*tags));
            return EV_ENOMEM;
        }
        memcpy(tags[i], t, l + 1);
        if (start)
            tags[i][0] = 'B';
    }
    return EV_OK;
}
