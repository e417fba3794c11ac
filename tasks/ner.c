/* ner.c — token labels to entities, following transformers' TokenClassificationPipeline.
 *
 * DESIGN. A window's non-special tokens arrive with their softmaxed scores and HF's
 * is_subword flag. Strategy none/simple labels each token by its argmax; first/average/
 * max first fuse the tokens of one word (a token that is not a subword starts a new
 * word) into one word entity. simple/first/average/max then group adjacent entities
 * with the same tag unless the next one is a B- (HF group_entities), score = mean of
 * the members' scores, type = label without its B-/I- prefix. Entities whose label
 * (none) or group (others) is in ignore_labels are dropped at the end, as HF does.
 * BIOES adds: S- opens and closes an entity, E- closes it.
 */
#include <stdlib.h>
#include <string.h>

#include "tasks/task_impl.h"

struct went { /* one token or word entity before grouping */
    size_t label;
    float score;
    char *word;
    struct task_span span;
    int32_t index;
};

bool task_ner_is_subword(const char *text, size_t text_len, const char *token, size_t tok_start,
                         size_t tok_end, bool word_aware) {
    if (word_aware)
        return task_utf8_count(token, strlen(token)) !=
               task_utf8_count(text + tok_start, tok_end - tok_start);
    /* HF fallback heuristic: " " not in sentence[start-1:start+1] (ASCII space only). */
    if (tok_start == 0)
        return false;
    if (text[tok_start - 1] == ' ')
        return false;
    if (tok_start < text_len && text[tok_start] == ' ')
        return false;
    return true;
}

static int join_wordpiece(const char *const *words, size_t n, char **out) {
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += strlen(words[i]) + 1;
    char *s = malloc(len + 1), *p = s;
    if (!s)
        return TASK_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *w = words[i];
        if (i > 0) {
            if (strncmp(w, "##", 2) == 0)
                w += 2; /* " ##" disappears */
            else
                *p++ = ' ';
        }
        size_t l = strlen(w);
        memcpy(p, w, l);
        p += l;
    }
    *p = '\0';
    /* strip(): only the first word can bring leading/trailing blanks here. */
    char *b = s;
    while (*b == ' ')
        b++;
    size_t l = strlen(b);
    while (l > 0 && b[l - 1] == ' ')
        l--;
    memmove(s, b, l);
    s[l] = '\0';
    *out = s;
    return TASK_OK;
}

static int join(const struct task_ner_cfg *cfg, const char *const *words, size_t n,
                struct task_span span, char **out) {
    if (cfg->join)
        return cfg->join(cfg->join_ud, words, n, span, out);
    return join_wordpiece(words, n, out);
}

/* HF get_tag, plus BIOES's S-/E-. */
static char get_tag(const char *label, enum task_scheme scheme, const char **tag) {
    if (label[0] && label[1] == '-') {
        char c = label[0];
        if (c == 'B' || c == 'I' || (scheme == TASK_SCHEME_BIOES && (c == 'S' || c == 'E'))) {
            *tag = label + 2;
            return c;
        }
    }
    *tag = label;
    return 'I';
}

static bool ignored(const struct task_ner_cfg *cfg, const char *name) {
    if (cfg->n_ignore == 0 || !cfg->ignore)
        return strcmp(name, "O") == 0;
    for (size_t i = 0; i < cfg->n_ignore; i++)
        if (cfg->ignore[i] && strcmp(cfg->ignore[i], name) == 0)
            return true;
    return false;
}

static int push(struct task_entity **ents, size_t *n, size_t *cap, struct task_entity e) {
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        struct task_entity *p = realloc(*ents, nc * sizeof(*p));
        if (!p)
            return TASK_ENOMEM;
        *ents = p;
        *cap = nc;
    }
    (*ents)[(*n)++] = e;
    return TASK_OK;
}

/* HF aggregate_word over toks[0..n). */
static int aggregate_word(const struct task_ner_token *toks, size_t n,
                          const struct task_ner_cfg *cfg, struct went *w) {
    size_t nl = cfg->n_labels;
    if (cfg->aggregation == TASK_AGG_FIRST) {
        w->label = task_argmax(toks[0].scores, nl);
        w->score = toks[0].scores[w->label];
    } else if (cfg->aggregation == TASK_AGG_MAX) {
        size_t best = 0;
        float best_max = toks[0].scores[task_argmax(toks[0].scores, nl)];
        for (size_t i = 1; i < n; i++) {
            float m = toks[i].scores[task_argmax(toks[i].scores, nl)];
            if (m > best_max) { /* Python max(): first maximum wins */
                best_max = m;
                best = i;
            }
        }
        w->label = task_argmax(toks[best].scores, nl);
        w->score = toks[best].scores[w->label];
    } else { /* AVERAGE */
        float *avg = calloc(nl, sizeof(float));
        if (!avg)
            return TASK_ENOMEM;
        for (size_t l = 0; l < nl; l++) {
            double s = 0.0;
            for (size_t i = 0; i < n; i++)
                s += toks[i].scores[l];
            avg[l] = (float)(s / (double)n);
        }
        w->label = task_argmax(avg, nl);
        w->score = avg[w->label];
        free(avg);
    }
    w->span = (struct task_span){toks[0].span.start, toks[n - 1].span.end, toks[0].span.cp_start,
                                 toks[n - 1].span.cp_end};
    w->index = toks[0].index;
    const char **words = malloc(n * sizeof(*words));
    if (!words)
        return TASK_ENOMEM;
    for (size_t i = 0; i < n; i++)
        words[i] = toks[i].word;
    int rc = join(cfg, words, n, w->span, &w->word);
    free(words);
    return rc;
}

/* HF group_sub_entities over wents[0..n). */
static int group(const struct went *we, size_t n, const struct task_ner_cfg *cfg,
                 struct task_entity *out) {
    const char *label = cfg->labels[we[0].label];
    const char *dash = strchr(label, '-');
    const char *type = dash ? dash + 1 : label; /* split("-", 1)[-1] */
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += we[i].score;
    out->score = (float)(s / (double)n);
    out->span = (struct task_span){we[0].span.start, we[n - 1].span.end, we[0].span.cp_start,
                                   we[n - 1].span.cp_end};
    out->index = -1;
    out->type = task_strdup(type);
    const char **words = malloc(n * sizeof(*words));
    if (!out->type || !words) {
        free(words);
        free(out->type);
        return TASK_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        words[i] = we[i].word;
    int rc = join(cfg, words, n, out->span, &out->word);
    free(words);
    if (rc != TASK_OK)
        free(out->type);
    return rc;
}

int task_ner_decode(const struct task_ner_token *toks, size_t n_toks,
                    const struct task_ner_cfg *cfg, struct task_entity **ents, size_t *n_ents,
                    size_t *cap) {
    if (n_toks == 0)
        return TASK_OK;
    if (cfg->n_labels == 0 || !cfg->labels)
        return TASK_EINVAL;
    int rc = TASK_OK;
    size_t nw = 0;
    struct went *we = calloc(n_toks, sizeof(*we));
    if (!we)
        return TASK_ENOMEM;

    if (cfg->aggregation == TASK_AGG_NONE || cfg->aggregation == TASK_AGG_SIMPLE) {
        for (size_t i = 0; i < n_toks; i++) {
            struct went *w = &we[nw++];
            w->label = task_argmax(toks[i].scores, cfg->n_labels);
            w->score = toks[i].scores[w->label];
            w->span = toks[i].span;
            w->index = toks[i].index;
            w->word = task_strdup(toks[i].word);
            if (!w->word) {
                rc = TASK_ENOMEM;
                goto done;
            }
        }
    } else {
        size_t g0 = 0;
        for (size_t i = 1; i <= n_toks; i++) {
            if (i < n_toks && toks[i].is_subword)
                continue;
            rc = aggregate_word(toks + g0, i - g0, cfg, &we[nw]);
            if (rc != TASK_OK)
                goto done;
            nw++;
            g0 = i;
        }
    }

    if (cfg->aggregation == TASK_AGG_NONE) {
        for (size_t i = 0; i < nw; i++) {
            const char *label = cfg->labels[we[i].label];
            if (ignored(cfg, label))
                continue;
            struct task_entity e = {task_strdup(label), we[i].score, we[i].word, we[i].span,
                                    we[i].index};
            if (!e.type) {
                rc = TASK_ENOMEM;
                goto done;
            }
            we[i].word = NULL; /* moved */
            rc = push(ents, n_ents, cap, e);
            if (rc != TASK_OK) {
                free(e.type);
                free(e.word);
                goto done;
            }
        }
        goto done;
    }

    /* HF group_entities. */
    size_t g0 = 0;
    for (size_t i = 1; i <= nw; i++) {
        if (i < nw) {
            const char *tag, *last_tag;
            char bi = get_tag(cfg->labels[we[i].label], cfg->scheme, &tag);
            char last_bi = get_tag(cfg->labels[we[i - 1].label], cfg->scheme, &last_tag);
            if (strcmp(tag, last_tag) == 0 && bi != 'B' && bi != 'S' && last_bi != 'E' &&
                last_bi != 'S')
                continue;
        }
        struct task_entity e;
        rc = group(we + g0, i - g0, cfg, &e);
        if (rc != TASK_OK)
            goto done;
        g0 = i;
        if (ignored(cfg, e.type)) {
            free(e.type);
            free(e.word);
            continue;
        }
        rc = push(ents, n_ents, cap, e);
        if (rc != TASK_OK) {
            free(e.type);
            free(e.word);
            goto done;
        }
    }
done:
    for (size_t i = 0; i < nw; i++)
        free(we[i].word);
    free(we);
    return rc;
}

static int cmp_start(const void *a, const void *b) {
    const struct task_entity *x = a, *y = b;
    if (x->span.start != y->span.start)
        return x->span.start < y->span.start ? -1 : 1;
    return 0;
}

void task_ner_merge_overlapping(struct task_entity *ents, size_t *n) {
    if (*n == 0)
        return;
    /* Python's sort is stable; qsort is not, so break ties by original position:
     * a merge sort would do, but entities come per window in start order already,
     * so an insertion sort is stable and near-linear here. */
    for (size_t i = 1; i < *n; i++) {
        struct task_entity e = ents[i];
        size_t j = i;
        while (j > 0 && cmp_start(&ents[j - 1], &e) > 0) {
            ents[j] = ents[j - 1];
            j--;
        }
        ents[j] = e;
    }
    size_t out = 0;
    struct task_entity prev = ents[0];
    for (size_t i = 1; i < *n; i++) {
        struct task_entity e = ents[i];
        if (prev.span.start <= e.span.start && e.span.start < prev.span.end) {
            size_t cur_len = e.span.end - e.span.start, prev_len = prev.span.end - prev.span.start;
            if (cur_len > prev_len || (cur_len == prev_len && e.score > prev.score)) {
                free(prev.type);
                free(prev.word);
                prev = e;
            } else {
                free(e.type);
                free(e.word);
            }
        } else {
            ents[out++] = prev;
            prev = e;
        }
    }
    ents[out++] = prev;
    *n = out;
}

void task_entities_free(struct task_entity *ents, size_t n) {
    if (!ents)
        return;
    for (size_t i = 0; i < n; i++) {
        free(ents[i].type);
        free(ents[i].word);
    }
    free(ents);
}
