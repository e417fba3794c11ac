/* job.c — one or several requests as a job: prepare, forward, consume, finish.
 *
 * DESIGN. prepare tokenizes every text once (no truncation) and cuts it into model
 * sequences ("units"): classify takes the first window (flagged truncated when the
 * text is longer), ner and embed every window (ner windows overlap by `stride`
 * tokens), qa one sequence per context window (question kept whole up to
 * max_question_len, context windows overlapping by doc_stride), summarize one per
 * sentence. Identical sequences — the same text asked by a classify and a ner
 * request — are stored once (hash of ids + type ids), so the backbone runs once
 * and each head reads the same hidden states: "several tasks, one pass".
 * consume applies the heads to a sequence as soon as its hidden states exist and
 * keeps only head outputs (labels per token, two logits per token, one vector per
 * sentence), so memory stays linear in the text with a small constant even for a
 * 1 MB text, whatever the batching. finish decodes per task (ner.c, qa.c,
 * summarize.c) and maps tokens back to byte and code-point offsets of the input.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tasks/task_impl.h"

#define NONE ((size_t)-1)

struct seq {
    size_t off, len; /* into job->ids / job->types */
    uint64_t hash;
    size_t first_unit, last_unit;
    bool consumed;
};

struct unit {
    size_t req, text, win;
    size_t seq, next;
    float *out;    /* head output, set by consume */
    size_t n_rows; /* tokens of the sequence (token heads) or 1 */
};

struct text_st {
    int status;
    char *message;
    const char *text; /* ner/classify/embed/summarize: the text; qa: the context */
    size_t len;
    struct tok_encoding *enc;
    bool enc_shared; /* enc belongs to the same text of an earlier request of the job */
    size_t *content; /* enc index of each content (or context) token */
    size_t n_content;
    int32_t *pre, *pre_t, *suf, *suf_t; /* special/question tokens around each window */
    size_t n_pre, n_suf;
    struct task_window *wins;
    size_t n_wins;
    size_t first_unit, n_units;
    struct task_span *sents;
    size_t n_sents;
    size_t n_tokens;
    bool truncated;
};

struct req_st {
    struct task_request req;
    const struct task_head *head;
    struct text_st *texts;
};

struct task_job {
    const struct task_runtime *rt;
    const struct eng_model_info *info;
    struct task_adapter_set *set;
    size_t n_reqs;
    struct req_st *reqs;
    int32_t *ids, *types;
    size_t n_ids, cap_ids;
    struct seq *seqs;
    size_t n_seqs, cap_seqs;
    size_t *htab; /* open addressing: seq index + 1, 0 = empty */
    size_t hcap;
    struct unit *units;
    size_t n_units, cap_units;
    unsigned want;
    uint64_t tokenize_us, forward_us, post_us;
    float *scratch;
    size_t scratch_len;
};

/* A response with the adapter set its label strings point into. */
struct resp_impl {
    struct task_response pub;
    const struct task_runtime *rt;
    struct task_adapter_set *set;
};

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int errf(char *err, size_t errlen, int rc, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static void text_fail(struct text_st *t, int status, const char *fmt, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    t->status = status;
    free(t->message);
    t->message = task_strdup(buf);
}

static uint64_t hash_seq(const int32_t *ids, const int32_t *types, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a over the 32-bit values */
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (uint32_t)ids[i]) * 1099511628211ull;
        h = (h ^ (uint32_t)types[i]) * 1099511628211ull;
    }
    return h ^ n;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap)
        return TASK_OK;
    size_t nc = *cap ? *cap : 64;
    while (nc < need)
        nc *= 2;
    void *q = realloc(*p, nc * elem);
    if (!q)
        return TASK_ENOMEM;
    *p = q;
    *cap = nc;
    return TASK_OK;
}

static int rehash(struct task_job *j, size_t cap) {
    size_t *t = calloc(cap, sizeof(size_t));
    if (!t)
        return TASK_ENOMEM;
    for (size_t i = 0; i < j->n_seqs; i++) {
        size_t k = j->seqs[i].hash & (cap - 1);
        while (t[k])
            k = (k + 1) & (cap - 1);
        t[k] = i + 1;
    }
    free(j->htab);
    j->htab = t;
    j->hcap = cap;
    return TASK_OK;
}

/* Register a unit needing the sequence pre + content + suf (built into tmp). */
static int add_unit(struct task_job *j, size_t req, size_t text, size_t win, const int32_t *ids,
                    const int32_t *types, size_t n) {
    int rc;
    if ((j->n_seqs + 1) * 2 > j->hcap && (rc = rehash(j, j->hcap ? j->hcap * 2 : 256)) != TASK_OK)
        return rc;
    uint64_t h = hash_seq(ids, types, n);
    size_t k = h & (j->hcap - 1), s = NONE;
    while (j->htab[k]) {
        struct seq *q = &j->seqs[j->htab[k] - 1];
        if (q->hash == h && q->len == n && memcmp(j->ids + q->off, ids, n * 4) == 0 &&
            memcmp(j->types + q->off, types, n * 4) == 0) {
            s = j->htab[k] - 1;
            break;
        }
        k = (k + 1) & (j->hcap - 1);
    }
    if (s == NONE) {
        if ((rc = grow((void **)&j->ids, &j->cap_ids, j->n_ids + n, 4)) != TASK_OK)
            return rc;
        size_t cap_t = j->cap_ids;
        int32_t *nt = realloc(j->types, cap_t * 4);
        if (!nt)
            return TASK_ENOMEM;
        j->types = nt;
        if ((rc = grow((void **)&j->seqs, &j->cap_seqs, j->n_seqs + 1, sizeof(struct seq))))
            return rc;
        memcpy(j->ids + j->n_ids, ids, n * 4);
        memcpy(j->types + j->n_ids, types, n * 4);
        s = j->n_seqs++;
        j->seqs[s] = (struct seq){j->n_ids, n, h, NONE, NONE, false};
        j->n_ids += n;
        j->htab[k] = s + 1;
    }
    if ((rc = grow((void **)&j->units, &j->cap_units, j->n_units + 1, sizeof(struct unit))))
        return rc;
    size_t u = j->n_units++;
    j->units[u] = (struct unit){req, text, win, s, NONE, NULL, 0};
    if (j->seqs[s].last_unit == NONE)
        j->seqs[s].first_unit = u;
    else
        j->units[j->seqs[s].last_unit].next = u;
    j->seqs[s].last_unit = u;
    return TASK_OK;
}

/* Sequence of window w of text t: pre + content[a, b) + suf, into tmp buffers. */
static int add_window(struct task_job *j, size_t r, size_t ti, size_t w, int32_t *tmp,
                      int32_t *tmp_t) {
    struct text_st *t = &j->reqs[r].texts[ti];
    struct task_window win = t->wins[w];
    size_t n = 0;
    memcpy(tmp, t->pre, t->n_pre * 4);
    memcpy(tmp_t, t->pre_t, t->n_pre * 4);
    n = t->n_pre;
    for (size_t c = win.start; c < win.end; c++, n++) {
        tmp[n] = t->enc->ids[t->content[c]];
        tmp_t[n] = t->enc->type_ids[t->content[c]];
    }
    memcpy(tmp + n, t->suf, t->n_suf * 4);
    memcpy(tmp_t + n, t->suf_t, t->n_suf * 4);
    n += t->n_suf;
    t->n_tokens += n;
    return add_unit(j, r, ti, w, tmp, tmp_t, n);
}

static struct tok_encode_params enc_params(void) {
    struct tok_encode_params p = tok_encode_params_default();
    p.add_special_tokens = true;
    p.use_file_truncation = false;
    p.max_length = 0;
    return p;
}

static int tok_to_task(int trc) {
    if (trc == TOK_ENOMEM)
        return TASK_ENOMEM;
    if (trc == TOK_EUTF8 || trc == TOK_EINVAL)
        return TASK_EINVAL;
    if (trc == TOK_ELIMIT)
        return TASK_ELIMIT;
    return TASK_EINTERNAL;
}

/* Copy the enc tokens [a, b) (ids, type ids) into a malloc'd pair of arrays. */
static int copy_ids(const struct tok_encoding *e, const size_t *idx, size_t n, int32_t **ids,
                    int32_t **types) {
    *ids = malloc((n ? n : 1) * 4);
    *types = malloc((n ? n : 1) * 4);
    if (!*ids || !*types)
        return TASK_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        (*ids)[i] = e->ids[idx[i]];
        (*types)[i] = e->type_ids[idx[i]];
    }
    return TASK_OK;
}

/* Single-text split: leading and trailing post-processor tokens around the content. */
static int split_single(struct text_st *t) {
    const struct tok_encoding *e = t->enc;
    size_t a = 0, b = e->n_tokens;
    while (a < b && e->special_mask[a])
        a++;
    while (b > a && e->special_mask[b - 1])
        b--;
    size_t *pre = malloc((a + 1) * sizeof(size_t)),
           *suf = malloc((e->n_tokens - b + 1) * sizeof(size_t));
    t->content = malloc(((b - a) + 1) * sizeof(size_t));
    int rc = TASK_ENOMEM;
    if (!pre || !suf || !t->content)
        goto done;
    for (size_t i = 0; i < a; i++)
        pre[i] = i;
    for (size_t i = b; i < e->n_tokens; i++)
        suf[i - b] = i;
    for (size_t i = a; i < b; i++)
        t->content[i - a] = i;
    t->n_content = b - a;
    t->n_pre = a;
    t->n_suf = e->n_tokens - b;
    if ((rc = copy_ids(e, pre, t->n_pre, &t->pre, &t->pre_t)) != TASK_OK)
        goto done;
    rc = copy_ids(e, suf, t->n_suf, &t->suf, &t->suf_t);
done:
    free(pre);
    free(suf);
    return rc;
}

static int prep_windows(struct task_job *j, size_t r, size_t ti, size_t width, size_t stride,
                        size_t max_windows) {
    struct text_st *t = &j->reqs[r].texts[ti];
    size_t n = task_windows_plan(t->n_content, width, stride, NULL);
    if (max_windows && n > max_windows) {
        n = max_windows;
        t->truncated = true;
    }
    t->wins = malloc(n * sizeof(*t->wins));
    struct task_window *all =
        malloc(task_windows_plan(t->n_content, width, stride, NULL) * sizeof(*all));
    int32_t *tmp = malloc((width + t->n_pre + t->n_suf) * 4 * 2);
    int rc = TASK_ENOMEM;
    if (!t->wins || !all || !tmp)
        goto done;
    task_windows_plan(t->n_content, width, stride, all);
    memcpy(t->wins, all, n * sizeof(*all));
    t->n_wins = n;
    t->first_unit = j->n_units;
    for (size_t w = 0; w < n; w++)
        if ((rc = add_window(j, r, ti, w, tmp, tmp + width + t->n_pre + t->n_suf)) != TASK_OK)
            goto done;
    t->n_units = n;
    rc = TASK_OK;
done:
    free(all);
    free(tmp);
    return rc;
}

static int prep_text(struct task_job *j, size_t r, size_t ti) {
    struct req_st *rs = &j->reqs[r];
    const struct task_request *q = &rs->req;
    struct text_st *t = &rs->texts[ti];
    const struct tok_tokenizer *tok = task_runtime_tokenizer(j->rt);
    size_t max_seq = (size_t)j->info->max_seq_len;
    struct tok_encode_params p = enc_params();
    size_t bad = 0;
    int trc, rc;

    if (q->kind == TASK_QA) {
        const char *question = q->texts[ti];
        size_t qlen = q->text_lens ? q->text_lens[ti] : (question ? strlen(question) : 0);
        t->text = q->contexts[ti];
        t->len = q->context_lens ? q->context_lens[ti] : (t->text ? strlen(t->text) : 0);
        if (!question || qlen == 0) {
            text_fail(t, TASK_EINVAL, "empty question");
            return TASK_OK;
        }
        if (!t->text || t->len == 0) {
            text_fail(t, TASK_EINVAL, "question has no context");
            return TASK_OK;
        }
        if (qlen > TASK_MAX_TEXT_BYTES || t->len > TASK_MAX_TEXT_BYTES) {
            text_fail(t, TASK_ELIMIT, "text longer than %zu bytes", TASK_MAX_TEXT_BYTES);
            return TASK_OK;
        }
        trc = tok_encode(tok, question, qlen, t->text, t->len, &p, &t->enc, &bad);
        if (trc != TOK_OK) {
            text_fail(t, tok_to_task(trc), "cannot tokenize: %s (byte %zu)", tok_strerror(trc),
                      bad);
            return trc == TOK_ENOMEM ? TASK_ENOMEM : TASK_OK;
        }
        const struct tok_encoding *e = t->enc;
        const struct task_qa_opts *o = &q->opts.qa;
        const struct task_head *h = rs->head; /* its training windows, else HF's defaults */
        size_t seq_len = o->max_seq_len      ? o->max_seq_len
                         : h->qa_max_seq_len ? h->qa_max_seq_len
                                             : 384;
        if (seq_len > max_seq)
            seq_len = max_seq;
        size_t max_q = o->max_question_len      ? o->max_question_len
                       : h->qa_max_question_len ? h->qa_max_question_len
                                                : 64;
        size_t first = NONE, last = 0, n_q = 0;
        for (size_t i = 0; i < e->n_tokens; i++) {
            if (e->sequence_ids[i] == 1) {
                if (first == NONE)
                    first = i;
                last = i;
            }
        }
        if (first == NONE) {
            text_fail(t, TASK_EINVAL, "context has no tokens");
            return TASK_OK;
        }
        size_t *pre = malloc((first + 1) * sizeof(size_t));
        size_t *suf = malloc((e->n_tokens - last) * sizeof(size_t));
        t->content = malloc((last - first + 1) * sizeof(size_t));
        if (!pre || !suf || !t->content) {
            free(pre);
            free(suf);
            return TASK_ENOMEM;
        }
        for (size_t i = 0; i < first; i++) {
            if (e->sequence_ids[i] == 0 && ++n_q > max_q) {
                t->truncated = true; /* question cut to max_question_len tokens */
                continue;
            }
            pre[t->n_pre++] = i;
        }
        for (size_t i = first; i <= last; i++)
            if (e->sequence_ids[i] == 1)
                t->content[t->n_content++] = i;
        for (size_t i = last + 1; i < e->n_tokens; i++)
            suf[t->n_suf++] = i;
        rc = copy_ids(e, pre, t->n_pre, &t->pre, &t->pre_t);
        if (rc == TASK_OK)
            rc = copy_ids(e, suf, t->n_suf, &t->suf, &t->suf_t);
        free(pre);
        free(suf);
        if (rc != TASK_OK)
            return rc;
        if (t->n_pre + t->n_suf + 1 > seq_len) {
            text_fail(t, TASK_EINVAL, "question too long for max_seq_len %zu", seq_len);
            return TASK_OK;
        }
        size_t width = seq_len - t->n_pre - t->n_suf;
        size_t stride = o->doc_stride ? o->doc_stride : h->qa_doc_stride ? h->qa_doc_stride : 128;
        if (stride >= width)
            stride = width / 2; /* HF would refuse; we keep windows moving forward */
        return prep_windows(j, r, ti, width, stride, 0);
    }

    t->text = q->texts[ti];
    t->len = q->text_lens ? q->text_lens[ti] : (t->text ? strlen(t->text) : 0);
    if (!t->text || t->len == 0) {
        text_fail(t, TASK_EINVAL, "empty text");
        return TASK_OK;
    }
    if (t->len > TASK_MAX_TEXT_BYTES) {
        text_fail(t, TASK_ELIMIT, "text longer than %zu bytes", TASK_MAX_TEXT_BYTES);
        return TASK_OK;
    }

    if (q->kind == TASK_SUMMARIZE) {
        if ((rc = task_sentences_split(t->text, t->len, &t->sents, &t->n_sents)) != TASK_OK)
            return rc;
        if (t->n_sents == 0) {
            text_fail(t, TASK_EINVAL, "text has no sentences");
            return TASK_OK;
        }
        t->first_unit = j->n_units;
        for (size_t s = 0; s < t->n_sents; s++) {
            struct tok_encoding *e = NULL;
            const struct task_span *sp = &t->sents[s];
            trc = tok_encode(tok, t->text + sp->start, sp->end - sp->start, NULL, 0, &p, &e, &bad);
            if (trc != TOK_OK) {
                text_fail(t, tok_to_task(trc), "cannot tokenize: %s (byte %zu)", tok_strerror(trc),
                          sp->start + bad);
                return trc == TOK_ENOMEM ? TASK_ENOMEM : TASK_OK;
            }
            size_t n = e->n_tokens;
            int32_t *ids = e->ids, *types = e->type_ids;
            if (n > max_seq) {
                /* Keep the head of an overlong sentence and its closing special token. */
                t->truncated = true;
                ids[max_seq - 1] = ids[n - 1];
                types[max_seq - 1] = types[n - 1];
                n = max_seq;
            }
            t->n_tokens += n;
            rc = add_unit(j, r, ti, s, ids, types, n);
            tok_encoding_free(e);
            if (rc != TASK_OK)
                return rc;
        }
        t->n_units = t->n_sents;
        return TASK_OK;
    }

    /* Several requests over the same texts (classify + ner...): tokenize once. */
    for (size_t r0 = 0; r0 < r; r0++) {
        const struct req_st *o = &j->reqs[r0];
        if (o->req.kind == TASK_QA || o->req.kind == TASK_SUMMARIZE || ti >= o->req.n_texts)
            continue;
        const struct text_st *u = &o->texts[ti];
        if (u->enc && !u->enc_shared && u->len == t->len &&
            (u->text == t->text || memcmp(u->text, t->text, t->len) == 0)) {
            t->enc = u->enc;
            t->enc_shared = true;
            break;
        }
    }
    trc = t->enc ? TOK_OK : tok_encode(tok, t->text, t->len, NULL, 0, &p, &t->enc, &bad);
    if (trc != TOK_OK) {
        text_fail(t, tok_to_task(trc), "cannot tokenize: %s (byte %zu)", tok_strerror(trc), bad);
        return trc == TOK_ENOMEM ? TASK_ENOMEM : TASK_OK;
    }
    if ((rc = split_single(t)) != TASK_OK)
        return rc;
    if (t->n_content == 0) {
        text_fail(t, TASK_EINVAL, "text has no tokens");
        return TASK_OK;
    }
    if (t->n_pre + t->n_suf >= max_seq)
        return TASK_EINTERNAL;
    size_t width = max_seq - t->n_pre - t->n_suf;
    switch (q->kind) {
    case TASK_CLASSIFY:
        if (t->n_content > width)
            t->truncated = true; /* one window: the head of the text */
        return prep_windows(j, r, ti, width, 0, 1);
    case TASK_NER: {
        size_t stride = q->opts.ner.stride ? q->opts.ner.stride : 128;
        if (stride > width / 2)
            stride = width / 2;
        return prep_windows(j, r, ti, width, stride, 0);
    }
    case TASK_EMBED:
        if (q->opts.embed.pooling == TASK_POOL_CLS) {
            if (t->n_content > width)
                t->truncated = true;
            return prep_windows(j, r, ti, width, 0, 1);
        }
        return prep_windows(j, r, ti, width, 0, 0);
    default:
        return TASK_EINTERNAL;
    }
}

static int check_opts(const struct task_request *q, char *err, size_t errlen) {
    if (q->n_texts > 0 && !q->texts)
        return errf(err, errlen, TASK_EINVAL, "texts is NULL");
    switch (q->kind) {
    case TASK_CLASSIFY:
    case TASK_EMBED:
        if (q->kind == TASK_EMBED && (unsigned)q->opts.embed.pooling > TASK_POOL_MEAN)
            return errf(err, errlen, TASK_EINVAL, "unknown pooling");
        return TASK_OK;
    case TASK_NER:
        if ((unsigned)q->opts.ner.aggregation > TASK_AGG_MAX)
            return errf(err, errlen, TASK_EINVAL, "unknown aggregation strategy");
        return TASK_OK;
    case TASK_QA:
        if (q->n_texts > 0 && !q->contexts)
            return errf(err, errlen, TASK_EINVAL, "qa needs a context for each question");
        if (q->opts.qa.max_seq_len && q->opts.qa.max_seq_len < 8)
            return errf(err, errlen, TASK_EINVAL, "max_seq_len too small");
        return TASK_OK;
    case TASK_SUMMARIZE: {
        const struct task_summarize_opts *o = &q->opts.summarize;
        if (!(o->ratio >= 0.0f && o->ratio <= 1.0f))
            return errf(err, errlen, TASK_EINVAL, "ratio must be in [0, 1]");
        if (!(o->mmr_lambda >= 0.0f && o->mmr_lambda <= 1.0f))
            return errf(err, errlen, TASK_EINVAL, "mmr_lambda must be in [0, 1]");
        return TASK_OK;
    }
    }
    return errf(err, errlen, TASK_EINVAL, "unknown task kind");
}

void task_job_free(struct task_job *j) {
    if (!j)
        return;
    for (size_t r = 0; r < j->n_reqs; r++) {
        struct req_st *rs = &j->reqs[r];
        if (!rs->texts)
            continue;
        for (size_t i = 0; i < rs->req.n_texts; i++) {
            struct text_st *t = &rs->texts[i];
            free(t->message);
            if (!t->enc_shared)
                tok_encoding_free(t->enc);
            free(t->content);
            free(t->pre);
            free(t->pre_t);
            free(t->suf);
            free(t->suf_t);
            free(t->wins);
            free(t->sents);
        }
        free(rs->texts);
    }
    free(j->reqs);
    for (size_t u = 0; u < j->n_units; u++)
        free(j->units[u].out);
    free(j->units);
    free(j->seqs);
    free(j->ids);
    free(j->types);
    free(j->htab);
    free(j->scratch);
    task_runtime_release(j->rt, j->set);
    free(j);
}

int task_job_prepare(const struct task_runtime *rt, const struct task_request *reqs, size_t n_reqs,
                     struct task_job **out, char *err, size_t errlen) {
    uint64_t t0 = now_us();
    struct task_job *j = calloc(1, sizeof(*j));
    if (!j)
        return TASK_ENOMEM;
    j->rt = rt;
    j->info = eng_model_get_info(task_runtime_model(rt));
    j->set = task_runtime_acquire(rt);
    j->want = ENG_WANT_HIDDEN;
    int rc = TASK_ENOMEM;
    if (n_reqs == 0 || !reqs) {
        rc = errf(err, errlen, TASK_EINVAL, "no request");
        goto fail;
    }
    if (!(j->reqs = calloc(n_reqs, sizeof(*j->reqs))))
        goto fail;
    j->n_reqs = n_reqs;
    for (size_t r = 0; r < n_reqs; r++) {
        struct req_st *rs = &j->reqs[r];
        rs->req = reqs[r];
        if ((rc = check_opts(&rs->req, err, errlen)) != TASK_OK)
            goto fail;
        if ((rc = task_set_find(j->set, rs->req.kind, rs->req.adapter, &rs->head, err, errlen)))
            goto fail;
        if (rs->head->n_layers > 0)
            j->want |= ENG_WANT_ALL_LAYERS;
        if (rs->req.n_texts && !(rs->texts = calloc(rs->req.n_texts, sizeof(*rs->texts)))) {
            rc = TASK_ENOMEM;
            goto fail;
        }
    }
    for (size_t r = 0; r < n_reqs; r++) {
        for (size_t i = 0; i < j->reqs[r].req.n_texts; i++) {
            if ((rc = prep_text(j, r, i)) != TASK_OK) {
                errf(err, errlen, rc, "preparing text %zu: %s", i, task_strerror(rc));
                goto fail;
            }
        }
    }
    j->tokenize_us = now_us() - t0;
    *out = j;
    return TASK_OK;
fail:
    task_job_free(j);
    return rc;
}

size_t task_job_n_seqs(const struct task_job *j) { return j->n_seqs; }

void task_job_get_seq(const struct task_job *j, size_t i, struct task_seq *out) {
    const struct seq *s = &j->seqs[i];
    *out = (struct task_seq){s->len, j->ids + s->off, j->types + s->off};
}

unsigned task_job_want(const struct task_job *j) { return j->want; }

int task_job_consume(struct task_job *j, size_t i, const float *last, const float *all_layers,
                     size_t layer_stride) {
    if (i >= j->n_seqs || !last)
        return TASK_EINVAL;
    uint64_t t0 = now_us();
    struct seq *s = &j->seqs[i];
    struct task_hidden hid = {last, all_layers, layer_stride};
    size_t d = (size_t)j->info->d_model;
    for (size_t u = s->first_unit; u != NONE; u = j->units[u].next) {
        struct unit *un = &j->units[u];
        const struct req_st *rs = &j->reqs[un->req];
        const struct task_head *h = rs->head;
        size_t need = task_head_scratch(h, s->len);
        if (need > j->scratch_len) {
            free(j->scratch);
            if (!(j->scratch = malloc(need * sizeof(float)))) {
                j->scratch_len = 0;
                return TASK_ENOMEM;
            }
            j->scratch_len = need;
        }
        size_t rows = 1, cols;
        if (h->kind == TASK_EMBED || h->kind == TASK_SUMMARIZE)
            cols = d;
        else if (h->kind == TASK_CLASSIFY)
            cols = h->n_out;
        else
            rows = s->len, cols = h->n_out;
        free(un->out);
        if (!(un->out = malloc(rows * cols * sizeof(float))))
            return TASK_ENOMEM;
        un->n_rows = rows;
        enum task_pooling pool =
            rs->req.kind == TASK_EMBED ? rs->req.opts.embed.pooling : TASK_POOL_MEAN;
        int rc = task_head_apply(h, &hid, s->len, j->info->n_layers, pool, j->scratch, un->out);
        if (rc != TASK_OK)
            return rc;
    }
    s->consumed = true;
    j->post_us += now_us() - t0;
    return TASK_OK;
}

int task_job_unit_seq(const struct task_job *j, size_t req, size_t text, size_t win, size_t *seq) {
    if (req >= j->n_reqs || text >= j->reqs[req].req.n_texts)
        return TASK_EINVAL;
    const struct text_st *t = &j->reqs[req].texts[text];
    if (win >= t->n_units)
        return TASK_EINVAL;
    *seq = j->units[t->first_unit + win].seq;
    return TASK_OK;
}

int task_job_unit_output(const struct task_job *j, size_t req, size_t text, size_t win,
                         const float **out, size_t *n_rows, size_t *n_cols) {
    if (req >= j->n_reqs || text >= j->reqs[req].req.n_texts)
        return TASK_EINVAL;
    const struct text_st *t = &j->reqs[req].texts[text];
    if (win >= t->n_units || !j->units[t->first_unit + win].out)
        return TASK_EINVAL;
    const struct unit *u = &j->units[t->first_unit + win];
    const struct task_head *h = j->reqs[req].head;
    *out = u->out;
    *n_rows = u->n_rows;
    *n_cols =
        (h->kind == TASK_EMBED || h->kind == TASK_SUMMARIZE) ? (size_t)j->info->d_model : h->n_out;
    return TASK_OK;
}

/* ---- finish ---- */

static int finish_classify(struct task_job *j, struct req_st *rs, struct text_st *t,
                           struct task_result *res) {
    const struct task_head *h = rs->head;
    const struct unit *u = &j->units[t->first_unit];
    size_t n = h->n_out;
    float *p = malloc(n * sizeof(float));
    size_t *idx = malloc(n * sizeof(size_t));
    int rc = TASK_ENOMEM;
    if (!p || !idx)
        goto done;
    memcpy(p, u->out, n * sizeof(float));
    /* HF text-classification: sigmoid for multi-label heads and single-output heads. */
    if (h->multi_label || rs->req.opts.classify.multi_label || n == 1)
        task_sigmoid(p, n);
    else
        task_softmax(p, n);
    size_t k = rs->req.opts.classify.top_k == 0 ? n : rs->req.opts.classify.top_k;
    k = task_top_k(p, n, k, idx);
    if (!(res->u.labels = calloc(k, sizeof(*res->u.labels))))
        goto done;
    for (size_t i = 0; i < k; i++)
        res->u.labels[i] = (struct task_label_score){h->labels[idx[i]], p[idx[i]]};
    res->n_items = k;
    rc = TASK_OK;
done:
    free(p);
    free(idx);
    return rc;
}

static int join_slice(void *ud, const char *const *words, size_t n, struct task_span span,
                      char **out) {
    (void)words;
    (void)n;
    const char *text = ud;
    *out = task_strndup(text + span.start, span.end - span.start);
    return *out ? TASK_OK : TASK_ENOMEM;
}

static int finish_ner(struct task_job *j, struct req_st *rs, struct text_st *t,
                      struct task_result *res) {
    const struct task_head *h = rs->head;
    const struct task_ner_opts *o = &rs->req.opts.ner;
    const struct tok_encoding *e = t->enc;
    const struct tok_tokenizer *tok = task_runtime_tokenizer(j->rt);
    int32_t unk = tok_special_id(tok, TOK_SPECIAL_UNK);
    bool wp = task_runtime_wordpiece(j->rt);
    struct task_ner_cfg cfg = {.labels = (const char *const *)h->labels,
                               .n_labels = h->n_labels,
                               .aggregation = o->aggregation,
                               .scheme = h->scheme,
                               .ignore = o->ignore_labels,
                               .n_ignore = o->n_ignore,
                               .join = wp ? NULL : join_slice,
                               .join_ud = (void *)(uintptr_t)t->text};
    struct task_entity *ents = NULL;
    size_t n_ents = 0, cap = 0;
    size_t width = t->wins[0].end - t->wins[0].start;
    struct task_ner_token *toks = malloc((width + 1) * sizeof(*toks));
    float *sc = malloc((width + 1) * h->n_labels * sizeof(float));
    char **slices = calloc(width + 1, sizeof(char *));
    int rc = TASK_ENOMEM;
    if (!toks || !sc || !slices)
        goto done;
    for (size_t w = 0; w < t->n_wins; w++) {
        const struct unit *u = &j->units[t->first_unit + w];
        struct task_window win = t->wins[w];
        size_t n = 0;
        for (size_t c = win.start; c < win.end; c++, n++) {
            size_t ei = t->content[c], row = t->n_pre + (c - win.start);
            float *s = sc + n * h->n_labels;
            memcpy(s, u->out + row * h->n_labels, h->n_labels * sizeof(float));
            task_softmax(s, h->n_labels);
            size_t bs = e->offsets[ei].start, be = e->offsets[ei].end;
            struct task_ner_token *tk = &toks[n];
            tk->id = e->ids[ei];
            tk->span = (struct task_span){bs, be, e->cp_offsets[ei].start, e->cp_offsets[ei].end};
            tk->scores = s;
            tk->index = (int32_t)row;
            if (unk >= 0 && tk->id == unk) {
                /* HF: an [UNK] shows the original text and starts a word. */
                free(slices[n]);
                if (!(slices[n] = task_strndup(t->text + bs, be - bs)))
                    goto done;
                tk->word = slices[n];
                tk->is_subword = false;
            } else {
                tk->word = e->tokens[ei];
                tk->is_subword = task_ner_is_subword(t->text, t->len, e->tokens[ei], bs, be, wp);
            }
        }
        if ((rc = task_ner_decode(toks, n, &cfg, &ents, &n_ents, &cap)) != TASK_OK)
            goto done;
        rc = TASK_ENOMEM;
    }
    if (t->n_wins > 1)
        task_ner_merge_overlapping(ents, &n_ents);
    res->u.entities = ents;
    res->n_items = n_ents;
    ents = NULL;
    rc = TASK_OK;
done:
    task_entities_free(ents, n_ents);
    if (slices)
        for (size_t i = 0; i <= width; i++)
            free(slices[i]);
    free(slices);
    free(toks);
    free(sc);
    return rc;
}

static int cmp_answer(const void *a, const void *b) {
    const struct task_answer *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    /* Keep the null answer (empty span) after real answers of equal score. */
    return (x->span.end == 0) - (y->span.end == 0);
}

static int finish_qa(struct task_job *j, struct req_st *rs, struct text_st *t,
                     struct task_result *res) {
    const struct task_qa_opts *o = &rs->req.opts.qa;
    const struct tok_encoding *e = t->enc;
    int32_t cls = tok_special_id(task_runtime_tokenizer(j->rt), TOK_SPECIAL_CLS);
    size_t top_k = o->top_k ? o->top_k : 1;
    if (top_k > TASK_MAX_TOP_K)
        top_k = TASK_MAX_TOP_K;
    size_t max_len = o->max_answer_len ? o->max_answer_len : 15;
    struct task_qa_window *wins = calloc(t->n_wins, sizeof(*wins));
    struct task_qa_cand *cands = malloc(top_k * sizeof(*cands));
    size_t seq_max = 0;
    for (size_t w = 0; w < t->n_wins; w++) {
        size_t n = t->n_pre + (t->wins[w].end - t->wins[w].start) + t->n_suf;
        if (n > seq_max)
            seq_max = n;
    }
    float *buf = malloc(t->n_wins * seq_max * 2 * sizeof(float) + 1);
    uint8_t *flags = malloc(t->n_wins * seq_max * 2 + 1);
    int rc = TASK_ENOMEM;
    if (!wins || !cands || !buf || !flags)
        goto done;
    for (size_t w = 0; w < t->n_wins; w++) {
        const struct unit *u = &j->units[t->first_unit + w];
        size_t n = u->n_rows, nc = t->wins[w].end - t->wins[w].start;
        float *st = buf + w * seq_max * 2, *en = st + seq_max;
        uint8_t *ctx = flags + w * seq_max * 2, *isc = ctx + seq_max;
        const int32_t *ids = j->ids + j->seqs[u->seq].off;
        for (size_t i = 0; i < n; i++) {
            st[i] = u->out[2 * i];
            en[i] = u->out[2 * i + 1];
            ctx[i] = i >= t->n_pre && i < t->n_pre + nc;
            isc[i] = cls >= 0 && ids[i] == cls;
        }
        wins[w] = (struct task_qa_window){n, st, en, ctx, isc, t->wins[w].start};
    }
    float min_null = 1000000.0f;
    size_t n_c = 0;
    if ((rc = task_qa_select(wins, t->n_wins, top_k, max_len, &min_null, cands, &n_c)))
        goto done;
    rc = TASK_ENOMEM;
    bool impossible = o->handle_impossible_answer;
    struct task_answer *ans = calloc(n_c + 1, sizeof(*ans));
    if (!ans)
        goto done;
    size_t na = 0;
    for (size_t i = 0; i < n_c; i++) {
        /* HF align_to_words: widen to the words holding the first and last token. */
        size_t a = cands[i].s, b = cands[i].e;
        int32_t wa = e->word_ids[t->content[a]], wb = e->word_ids[t->content[b]];
        while (wa >= 0 && a > 0 && e->word_ids[t->content[a - 1]] == wa)
            a--;
        while (wb >= 0 && b + 1 < t->n_content && e->word_ids[t->content[b + 1]] == wb)
            b++;
        size_t ea = t->content[a], eb = t->content[b];
        struct task_span sp = {e->offsets[ea].start, e->offsets[eb].end, e->cp_offsets[ea].start,
                               e->cp_offsets[eb].end};
        ans[na].span = sp;
        ans[na].score = cands[i].score;
        if (!(ans[na].text = task_strndup(t->text + sp.start, sp.end - sp.start)))
            goto fail_ans;
        na++;
    }
    if (impossible) {
        ans[na].span = (struct task_span){0, 0, 0, 0};
        ans[na].score = min_null;
        if (!(ans[na].text = task_strdup("")))
            goto fail_ans;
        na++;
    }
    qsort(ans, na, sizeof(*ans), cmp_answer);
    size_t keep = na < top_k ? na : top_k;
    for (size_t i = keep; i < na; i++)
        free(ans[i].text);
    res->u.answers = ans;
    res->n_items = keep;
    rc = TASK_OK;
    goto done;
fail_ans:
    for (size_t i = 0; i < na; i++)
        free(ans[i].text);
    free(ans);
done:
    free(wins);
    free(cands);
    free(buf);
    free(flags);
    return rc;
}

static int finish_summarize(struct task_job *j, struct req_st *rs, struct text_st *t,
                            struct task_result *res) {
    const struct task_summarize_opts *o = &rs->req.opts.summarize;
    size_t d = (size_t)j->info->d_model, n = t->n_sents;
    size_t k = task_summary_count(n, o->max_sentences, o->ratio);
    float lambda = o->mmr_lambda > 0.0f ? o->mmr_lambda : 0.7f;
    const struct task_head *h = rs->head;
    bool scored = h->out_w != NULL; /* a trained adapter: salience = its P(summary) */
    float *emb = malloc(n * d * sizeof(float));
    size_t *chosen = malloc(k * sizeof(size_t));
    float *cent = malloc(k * sizeof(float));
    float *sal = scored ? malloc(n * sizeof(float)) : NULL;
    float *scratch = scored ? malloc(task_head_scratch(h, 1) * sizeof(float)) : NULL;
    int rc = TASK_ENOMEM;
    if (!emb || !chosen || !cent || (scored && (!sal || !scratch)))
        goto done;
    for (size_t s = 0; s < n; s++) {
        const float *v = j->units[t->first_unit + s].out;
        memcpy(emb + s * d, v, d * sizeof(float));
        if (scored)
            sal[s] = task_head_salience(h, v, scratch);
    }
    if ((rc = task_mmr_select(emb, n, d, k, lambda, sal, chosen, cent)) != TASK_OK)
        goto done;
    rc = TASK_ENOMEM;
    if (!(res->u.sentences = calloc(k, sizeof(*res->u.sentences))))
        goto done;
    for (size_t i = 0; i < k; i++)
        res->u.sentences[i] = (struct task_sentence){t->sents[chosen[i]], cent[i]};
    res->n_items = k;
    rc = TASK_OK;
done:
    free(emb);
    free(chosen);
    free(cent);
    free(sal);
    free(scratch);
    return rc;
}

static int finish_embed(struct task_job *j, struct req_st *rs, struct text_st *t,
                        struct task_result *res) {
    size_t d = (size_t)j->info->d_model;
    float *v = calloc(d, sizeof(float));
    if (!v)
        return TASK_ENOMEM;
    if (rs->req.opts.embed.pooling == TASK_POOL_CLS || t->n_units == 1) {
        memcpy(v, j->units[t->first_unit].out, d * sizeof(float));
    } else {
        /* Mean over all windows' tokens: each window mean weighted by its length. */
        double *acc = calloc(d, sizeof(double));
        size_t total = 0;
        if (!acc) {
            free(v);
            return TASK_ENOMEM;
        }
        for (size_t w = 0; w < t->n_units; w++) {
            const struct unit *u = &j->units[t->first_unit + w];
            size_t len = j->seqs[u->seq].len;
            for (size_t i = 0; i < d; i++)
                acc[i] += (double)u->out[i] * (double)len;
            total += len;
        }
        for (size_t i = 0; i < d; i++)
            v[i] = (float)(acc[i] / (double)total);
        free(acc);
    }
    if (rs->req.opts.embed.normalize)
        task_l2_normalize(v, d);
    res->u.embedding = v;
    res->n_items = d;
    return TASK_OK;
}

static void result_free(enum task_kind kind, struct task_result *r) {
    free(r->message);
    switch (kind) {
    case TASK_CLASSIFY:
        free(r->u.labels);
        break;
    case TASK_NER:
        task_entities_free(r->u.entities, r->n_items);
        break;
    case TASK_QA:
        if (r->u.answers)
            for (size_t i = 0; i < r->n_items; i++)
                free(r->u.answers[i].text);
        free(r->u.answers);
        break;
    case TASK_SUMMARIZE:
        free(r->u.sentences);
        break;
    case TASK_EMBED:
        free(r->u.embedding);
        break;
    }
}

void task_response_free(struct task_response *resp) {
    if (!resp)
        return;
    struct resp_impl *ri = (struct resp_impl *)resp;
    for (size_t i = 0; i < resp->n_results; i++)
        result_free(resp->kind, &resp->results[i]);
    free(resp->results);
    task_runtime_release(ri->rt, ri->set);
    free(ri);
}

int task_job_finish(struct task_job *j, struct task_response **outs, char *err, size_t errlen) {
    uint64_t t0 = now_us();
    for (size_t s = 0; s < j->n_seqs; s++)
        if (!j->seqs[s].consumed)
            return errf(err, errlen, TASK_EINVAL, "sequence %zu was never consumed", s);
    for (size_t r = 0; r < j->n_reqs; r++)
        outs[r] = NULL;
    int rc = TASK_OK;
    for (size_t r = 0; r < j->n_reqs; r++) {
        struct req_st *rs = &j->reqs[r];
        struct resp_impl *ri = calloc(1, sizeof(*ri));
        if (!ri) {
            rc = TASK_ENOMEM;
            goto fail;
        }
        ri->rt = j->rt;
        /* Label strings point into the job's adapter set: the response holds it too. */
        task_runtime_retain(j->rt, j->set);
        ri->set = j->set;
        outs[r] = &ri->pub;
        ri->pub.kind = rs->req.kind;
        ri->pub.n_results = rs->req.n_texts;
        if (rs->req.n_texts &&
            !(ri->pub.results = calloc(rs->req.n_texts, sizeof(*ri->pub.results)))) {
            rc = TASK_ENOMEM;
            goto fail;
        }
        for (size_t i = 0; i < rs->req.n_texts; i++) {
            struct text_st *t = &rs->texts[i];
            struct task_result *res = &ri->pub.results[i];
            res->n_tokens = t->n_tokens;
            res->truncated = t->truncated;
            if (t->status != TASK_OK) {
                res->status = t->status;
                res->message = t->message;
                t->message = NULL;
                continue;
            }
            switch (rs->req.kind) {
            case TASK_CLASSIFY:
                rc = finish_classify(j, rs, t, res);
                break;
            case TASK_NER:
                rc = finish_ner(j, rs, t, res);
                break;
            case TASK_QA:
                rc = finish_qa(j, rs, t, res);
                break;
            case TASK_SUMMARIZE:
                rc = finish_summarize(j, rs, t, res);
                break;
            case TASK_EMBED:
                rc = finish_embed(j, rs, t, res);
                break;
            }
            if (rc != TASK_OK) {
                errf(err, errlen, rc, "decoding text %zu: %s", i, task_strerror(rc));
                goto fail;
            }
            /* The one place spans and words lose surrounding white space (trim.c). */
            task_result_trim(rs->req.kind, t->text, t->len, res);
        }
        ri->pub.tokenize_us = j->tokenize_us;
        ri->pub.forward_us = j->forward_us;
    }
    uint64_t post = j->post_us + (now_us() - t0);
    for (size_t r = 0; r < j->n_reqs; r++)
        outs[r]->post_us = post;
    return TASK_OK;
fail:
    for (size_t r = 0; r < j->n_reqs; r++) {
        task_response_free(outs[r]);
        outs[r] = NULL;
    }
    return rc;
}

int task_job_run(struct task_job *j, struct task_worker *w, char *err, size_t errlen) {
    size_t cap = task_worker_max_tokens(w), d = (size_t)j->info->d_model;
    struct eng_ctx *ctx = task_worker_ctx(w);
    int rc = TASK_OK;
    size_t *lens = malloc((j->n_seqs + 1) * sizeof(size_t));
    if (!lens)
        return TASK_ENOMEM;
    /* Pack consecutive sequences into batches of at most cap tokens. Sequences are
     * stored in creation order, so s0..s1 are contiguous in j->ids. */
    for (size_t s0 = 0; s0 < j->n_seqs;) {
        if (j->seqs[s0].consumed) {
            s0++;
            continue;
        }
        size_t s1 = s0, tokens = 0;
        while (s1 < j->n_seqs && !j->seqs[s1].consumed && tokens + j->seqs[s1].len <= cap) {
            lens[s1 - s0] = j->seqs[s1].len;
            tokens += j->seqs[s1].len;
            s1++;
        }
        if (s1 == s0) {
            rc = errf(err, errlen, TASK_EINTERNAL, "sequence of %zu tokens exceeds the batch",
                      j->seqs[s0].len);
            break;
        }
        struct eng_batch b = {s1 - s0, lens, j->ids + j->seqs[s0].off, j->types + j->seqs[s0].off};
        struct eng_output o;
        uint64_t t0 = now_us();
        int erc = eng_ctx_forward(ctx, &b, j->want, &o);
        j->forward_us += now_us() - t0;
        if (erc != ENG_OK) {
            rc = errf(err, errlen, TASK_EINTERNAL, "model forward failed: %s", eng_strerror(erc));
            break;
        }
        size_t off = 0;
        for (size_t s = s0; s < s1; s++) {
            const float *layers = o.all_layers ? o.all_layers + off * d : NULL;
            if ((rc = task_job_consume(j, s, o.last_hidden + off * d, layers, tokens * d))) {
                errf(err, errlen, rc, "applying heads: %s", task_strerror(rc));
                break;
            }
            off += j->seqs[s].len;
        }
        if (rc != TASK_OK)
            break;
        s0 = s1;
    }
    free(lens);
    return rc;
}

int task_run_multi(const struct task_runtime *rt, struct task_worker *w,
                   const struct task_request *reqs, size_t n_reqs, struct task_response **outs,
                   char *err, size_t errlen) {
    struct task_job *j = NULL;
    int rc = task_job_prepare(rt, reqs, n_reqs, &j, err, errlen);
    if (rc != TASK_OK)
        return rc;
    rc = task_job_run(j, w, err, errlen);
    if (rc == TASK_OK)
        rc = task_job_finish(j, outs, err, errlen);
    task_job_free(j);
    return rc;
}

int task_run(const struct task_runtime *rt, struct task_worker *w, const struct task_request *req,
             struct task_response **out, char *err, size_t errlen) {
    return task_run_multi(rt, w, req, 1, out, err, errlen);
}
