/* wire.c — protobuf ↔ tasks/ structs. Everything here is translation: validation of the
 * texts (limits, UTF-8) happens first so that every task reports bad input the same way, then
 * task_run does the work, then its results are copied into the arena-built Response (the
 * task_response is freed before the Response is packed, so nothing may point into it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/wire.h"

int wire_code(int st) {
    switch (st) {
    case TASK_OK:
        return SOCLE__V1__CODE__OK;
    case TASK_EINVAL:
        return SOCLE__V1__CODE__INVALID_ARGUMENT;
    case TASK_ELIMIT:
        return SOCLE__V1__CODE__INVALID_ARGUMENT;
    case TASK_ENOTFOUND:
        return SOCLE__V1__CODE__NOT_FOUND;
    case TASK_EUNIMPL:
        return SOCLE__V1__CODE__UNIMPLEMENTED;
    case TASK_ENOMEM:
        return SOCLE__V1__CODE__RESOURCE_EXHAUSTED;
    default:
        return SOCLE__V1__CODE__INTERNAL;
    }
}

static Socle__V1__Span *span_pb(struct arena *a, const struct task_span *s) {
    Socle__V1__Span *m = arena_alloc(a, sizeof *m);
    if (m) {
        socle__v1__span__init(m);
        m->start = (uint32_t)s->start;
        m->end = (uint32_t)s->end;
        m->cp_start = (uint32_t)s->cp_start;
        m->cp_end = (uint32_t)s->cp_end;
    }
    return m;
}

static Socle__V1__Status *status_pb(struct arena *a, const struct task_result *res) {
    Socle__V1__Status *m = arena_alloc(a, sizeof *m);
    if (m) {
        socle__v1__status__init(m);
        m->code = (Socle__V1__Code)wire_code(res->status);
        m->message = arena_strdup(a, res->message ? res->message : "");
        if (!m->message)
            return NULL;
    }
    return m;
}

/* Arena copies of texts as (pointer, length) arrays, after the common checks. */
static int texts_in(const struct daemon *d, struct arena *a, const ProtobufCBinaryData *t, size_t n,
                    const char *what, const char ***ptrs, size_t **lens, char *msg, size_t msglen) {
    if (service_check_texts(d, t, n, what, msg, msglen) != 0)
        return SOCLE__V1__CODE__INVALID_ARGUMENT;
    *ptrs = arena_alloc(a, n * sizeof **ptrs);
    *lens = arena_alloc(a, n * sizeof **lens);
    if (!*ptrs || !*lens)
        return SOCLE__V1__CODE__RESOURCE_EXHAUSTED;
    for (size_t i = 0; i < n; i++) {
        (*ptrs)[i] = t[i].data ? (const char *)t[i].data : "";
        (*lens)[i] = t[i].len;
    }
    return SOCLE__V1__CODE__OK;
}

int wire_build_request(const struct daemon *d, struct arena *a, const PbRequest *req,
                       struct task_request *tr, char *msg, size_t msglen) {
    const char **ptrs = NULL;
    size_t *lens = NULL;
    int code = SOCLE__V1__CODE__OK;
    memset(tr, 0, sizeof *tr);
    tr->adapter = req->adapter;
    switch (req->task_case) {
    case SOCLE__V1__REQUEST__TASK_CLASSIFY:
        tr->kind = TASK_CLASSIFY;
        code = texts_in(d, a, req->classify->texts, req->classify->n_texts, "text", &ptrs, &lens,
                        msg, msglen);
        tr->opts.classify.top_k = req->classify->top_k;
        tr->opts.classify.multi_label = req->classify->multi_label;
        break;
    case SOCLE__V1__REQUEST__TASK_NER: {
        const Socle__V1__NerRequest *n = req->ner;
        tr->kind = TASK_NER;
        code = texts_in(d, a, n->texts, n->n_texts, "text", &ptrs, &lens, msg, msglen);
        switch (n->aggregation) {
        case SOCLE__V1__AGGREGATION__AGGREGATION_NONE:
            tr->opts.ner.aggregation = TASK_AGG_NONE;
            break;
        case SOCLE__V1__AGGREGATION__AGGREGATION_SIMPLE:
            tr->opts.ner.aggregation = TASK_AGG_SIMPLE;
            break;
        case SOCLE__V1__AGGREGATION__AGGREGATION_FIRST:
            tr->opts.ner.aggregation = TASK_AGG_FIRST;
            break;
        case SOCLE__V1__AGGREGATION__AGGREGATION_AVERAGE:
            tr->opts.ner.aggregation = TASK_AGG_AVERAGE;
            break;
        case SOCLE__V1__AGGREGATION__AGGREGATION_MAX:
            tr->opts.ner.aggregation = TASK_AGG_MAX;
            break;
        default:
            snprintf(msg, msglen, "unknown aggregation %d", (int)n->aggregation);
            return SOCLE__V1__CODE__INVALID_ARGUMENT;
        }
        tr->opts.ner.ignore_labels = (const char *const *)n->ignore_labels;
        tr->opts.ner.n_ignore = n->n_ignore_labels;
        tr->opts.ner.stride = n->stride;
        break;
    }
    case SOCLE__V1__REQUEST__TASK_QA: {
        const Socle__V1__QaRequest *q = req->qa;
        tr->kind = TASK_QA;
        size_t n = q->n_pairs;
        ProtobufCBinaryData *qs = arena_alloc(a, (n ? n : 1) * sizeof *qs);
        ProtobufCBinaryData *cs = arena_alloc(a, (n ? n : 1) * sizeof *cs);
        if (!qs || !cs)
            return SOCLE__V1__CODE__RESOURCE_EXHAUSTED;
        for (size_t i = 0; i < n; i++) {
            qs[i] = q->pairs[i]->question;
            cs[i] = q->pairs[i]->context;
        }
        const char **cptrs = NULL;
        size_t *clens = NULL;
        code = texts_in(d, a, qs, n, "question", &ptrs, &lens, msg, msglen);
        if (code == SOCLE__V1__CODE__OK)
            code = texts_in(d, a, cs, n, "context", &cptrs, &clens, msg, msglen);
        tr->contexts = cptrs;
        tr->context_lens = clens;
        tr->opts.qa.top_k = q->top_k;
        tr->opts.qa.max_seq_len = q->max_seq_len;
        tr->opts.qa.doc_stride = q->doc_stride;
        tr->opts.qa.max_question_len = q->max_question_len;
        tr->opts.qa.max_answer_len = q->max_answer_len;
        tr->opts.qa.handle_impossible_answer = q->handle_impossible_answer;
        break;
    }
    case SOCLE__V1__REQUEST__TASK_SUMMARIZE:
        tr->kind = TASK_SUMMARIZE;
        code = texts_in(d, a, req->summarize->texts, req->summarize->n_texts, "text", &ptrs, &lens,
                        msg, msglen);
        tr->opts.summarize.max_sentences = req->summarize->max_sentences;
        tr->opts.summarize.ratio = req->summarize->ratio;
        tr->opts.summarize.mmr_lambda = req->summarize->mmr_lambda;
        if (req->summarize->ratio < 0 || req->summarize->ratio > 1) {
            snprintf(msg, msglen, "ratio %g outside [0, 1]", (double)req->summarize->ratio);
            return SOCLE__V1__CODE__INVALID_ARGUMENT;
        }
        break;
    case SOCLE__V1__REQUEST__TASK_EMBED:
        tr->kind = TASK_EMBED;
        code = texts_in(d, a, req->embed->texts, req->embed->n_texts, "text", &ptrs, &lens, msg,
                        msglen);
        tr->opts.embed.pooling =
            req->embed->pooling == SOCLE__V1__POOLING__POOLING_CLS    ? TASK_POOL_CLS
            : req->embed->pooling == SOCLE__V1__POOLING__POOLING_MEAN ? TASK_POOL_MEAN
                                                                      : TASK_POOL_DEFAULT;
        tr->opts.embed.normalize = req->embed->normalize;
        break;
    default:
        snprintf(msg, msglen, "not a model task");
        return SOCLE__V1__CODE__INTERNAL;
    }
    if (code != SOCLE__V1__CODE__OK) {
        if (code == SOCLE__V1__CODE__RESOURCE_EXHAUSTED)
            snprintf(msg, msglen, "out of memory");
        return code;
    }
    tr->texts = ptrs;
    tr->text_lens = lens;
    tr->n_texts = req->task_case == SOCLE__V1__REQUEST__TASK_QA          ? req->qa->n_pairs
                  : req->task_case == SOCLE__V1__REQUEST__TASK_CLASSIFY  ? req->classify->n_texts
                  : req->task_case == SOCLE__V1__REQUEST__TASK_NER       ? req->ner->n_texts
                  : req->task_case == SOCLE__V1__REQUEST__TASK_SUMMARIZE ? req->summarize->n_texts
                                                                         : req->embed->n_texts;
    return SOCLE__V1__CODE__OK;
}

int wire_convert(struct arena *a, const struct task_request *tr, const struct task_response *tp,
                 PbResponse *r) {
    size_t n = tp->n_results;
    for (size_t i = 0; i < n; i++) {
        r->n_tokens += tp->results[i].n_tokens;
        r->truncated |= tp->results[i].truncated;
    }
    switch (tp->kind) {
    case TASK_CLASSIFY: {
        Socle__V1__ClassifyResult *res = arena_alloc(a, sizeof *res);
        if (!res)
            return -1;
        socle__v1__classify_result__init(res);
        if (!(res->outputs = arena_alloc(a, n * sizeof *res->outputs)))
            return -1;
        for (size_t i = 0; i < n; i++) {
            const struct task_result *x = &tp->results[i];
            Socle__V1__ClassifyOutput *o = arena_alloc(a, sizeof *o);
            if (!o)
                return -1;
            socle__v1__classify_output__init(o);
            if (!(o->status = status_pb(a, x)))
                return -1;
            o->n_tokens = (uint32_t)x->n_tokens;
            o->truncated = x->truncated;
            if (x->status == TASK_OK && x->n_items) {
                if (!(o->labels = arena_alloc(a, x->n_items * sizeof *o->labels)))
                    return -1;
                for (size_t k = 0; k < x->n_items; k++) {
                    Socle__V1__LabelScore *l = arena_alloc(a, sizeof *l);
                    if (!l)
                        return -1;
                    socle__v1__label_score__init(l);
                    l->label = arena_strdup(a, x->u.labels[k].label ? x->u.labels[k].label : "");
                    l->score = x->u.labels[k].score;
                    if (!l->label)
                        return -1;
                    o->labels[k] = l;
                }
                o->n_labels = x->n_items;
            }
            res->outputs[i] = o;
        }
        res->n_outputs = n;
        r->result_case = SOCLE__V1__RESPONSE__RESULT_CLASSIFY;
        r->classify = res;
        return 0;
    }
    case TASK_NER: {
        Socle__V1__NerResult *res = arena_alloc(a, sizeof *res);
        if (!res)
            return -1;
        socle__v1__ner_result__init(res);
        if (!(res->outputs = arena_alloc(a, n * sizeof *res->outputs)))
            return -1;
        for (size_t i = 0; i < n; i++) {
            const struct task_result *x = &tp->results[i];
            Socle__V1__NerOutput *o = arena_alloc(a, sizeof *o);
            if (!o)
                return -1;
            socle__v1__ner_output__init(o);
            if (!(o->status = status_pb(a, x)))
                return -1;
            o->n_tokens = (uint32_t)x->n_tokens;
            o->truncated = x->truncated;
            if (x->status == TASK_OK && x->n_items) {
                if (!(o->entities = arena_alloc(a, x->n_items * sizeof *o->entities)))
                    return -1;
                for (size_t k = 0; k < x->n_items; k++) {
                    const struct task_entity *e = &x->u.entities[k];
                    Socle__V1__Entity *m = arena_alloc(a, sizeof *m);
                    if (!m)
                        return -1;
                    socle__v1__entity__init(m);
                    m->type = arena_strdup(a, e->type ? e->type : "");
                    m->word = arena_strdup(a, e->word ? e->word : "");
                    m->score = e->score;
                    m->index = e->index;
                    m->span = span_pb(a, &e->span);
                    if (!m->type || !m->word || !m->span)
                        return -1;
                    o->entities[k] = m;
                }
                o->n_entities = x->n_items;
            }
            res->outputs[i] = o;
        }
        res->n_outputs = n;
        r->result_case = SOCLE__V1__RESPONSE__RESULT_NER;
        r->ner = res;
        return 0;
    }
    case TASK_QA: {
        Socle__V1__QaResult *res = arena_alloc(a, sizeof *res);
        if (!res)
            return -1;
        socle__v1__qa_result__init(res);
        if (!(res->outputs = arena_alloc(a, n * sizeof *res->outputs)))
            return -1;
        for (size_t i = 0; i < n; i++) {
            const struct task_result *x = &tp->results[i];
            Socle__V1__QaOutput *o = arena_alloc(a, sizeof *o);
            if (!o)
                return -1;
            socle__v1__qa_output__init(o);
            if (!(o->status = status_pb(a, x)))
                return -1;
            o->n_tokens = (uint32_t)x->n_tokens;
            o->truncated = x->truncated;
            if (x->status == TASK_OK && x->n_items) {
                if (!(o->answers = arena_alloc(a, x->n_items * sizeof *o->answers)))
                    return -1;
                for (size_t k = 0; k < x->n_items; k++) {
                    const struct task_answer *e = &x->u.answers[k];
                    Socle__V1__Answer *m = arena_alloc(a, sizeof *m);
                    if (!m)
                        return -1;
                    socle__v1__answer__init(m);
                    m->text = arena_strdup(a, e->text ? e->text : "");
                    m->score = e->score;
                    m->span = span_pb(a, &e->span);
                    if (!m->text || !m->span)
                        return -1;
                    o->answers[k] = m;
                }
                o->n_answers = x->n_items;
            }
            res->outputs[i] = o;
        }
        res->n_outputs = n;
        r->result_case = SOCLE__V1__RESPONSE__RESULT_QA;
        r->qa = res;
        return 0;
    }
    case TASK_SUMMARIZE: {
        Socle__V1__SummarizeResult *res = arena_alloc(a, sizeof *res);
        if (!res)
            return -1;
        socle__v1__summarize_result__init(res);
        if (!(res->outputs = arena_alloc(a, n * sizeof *res->outputs)))
            return -1;
        for (size_t i = 0; i < n; i++) {
            const struct task_result *x = &tp->results[i];
            Socle__V1__SummarizeOutput *o = arena_alloc(a, sizeof *o);
            if (!o)
                return -1;
            socle__v1__summarize_output__init(o);
            if (!(o->status = status_pb(a, x)))
                return -1;
            o->n_tokens = (uint32_t)x->n_tokens;
            o->truncated = x->truncated;
            size_t total = 0;
            if (x->status == TASK_OK && x->n_items) {
                if (!(o->sentences = arena_alloc(a, x->n_items * sizeof *o->sentences)))
                    return -1;
                for (size_t k = 0; k < x->n_items; k++) {
                    const struct task_sentence *e = &x->u.sentences[k];
                    Socle__V1__Sentence *m = arena_alloc(a, sizeof *m);
                    if (!m)
                        return -1;
                    socle__v1__sentence__init(m);
                    m->score = e->score;
                    if (!(m->span = span_pb(a, &e->span)))
                        return -1;
                    o->sentences[k] = m;
                    if (e->span.end <= tr->text_lens[i] && e->span.start <= e->span.end)
                        total += e->span.end - e->span.start + 1;
                }
                o->n_sentences = x->n_items;
            }
            /* the summary text: selected sentences, in order, joined by one space */
            char *sum = arena_alloc(a, total + 1);
            if (!sum)
                return -1;
            size_t used = 0;
            for (size_t k = 0; k < o->n_sentences; k++) {
                const struct task_span *sp = &x->u.sentences[k].span;
                if (sp->end > tr->text_lens[i] || sp->start > sp->end)
                    continue;
                if (used)
                    sum[used++] = ' ';
                memcpy(sum + used, tr->texts[i] + sp->start, sp->end - sp->start);
                used += sp->end - sp->start;
            }
            sum[used] = '\0';
            o->summary = sum;
            res->outputs[i] = o;
        }
        res->n_outputs = n;
        r->result_case = SOCLE__V1__RESPONSE__RESULT_SUMMARIZE;
        r->summarize = res;
        return 0;
    }
    case TASK_EMBED: {
        Socle__V1__EmbedResult *res = arena_alloc(a, sizeof *res);
        if (!res)
            return -1;
        socle__v1__embed_result__init(res);
        if (!(res->outputs = arena_alloc(a, n * sizeof *res->outputs)))
            return -1;
        for (size_t i = 0; i < n; i++) {
            const struct task_result *x = &tp->results[i];
            Socle__V1__EmbedOutput *o = arena_alloc(a, sizeof *o);
            if (!o)
                return -1;
            socle__v1__embed_output__init(o);
            if (!(o->status = status_pb(a, x)))
                return -1;
            o->n_tokens = (uint32_t)x->n_tokens;
            o->truncated = x->truncated;
            if (x->status == TASK_OK && x->n_items) {
                if (!(o->vector = arena_alloc(a, x->n_items * sizeof *o->vector)))
                    return -1;
                memcpy(o->vector, x->u.embedding, x->n_items * sizeof *o->vector);
                o->n_vector = x->n_items;
                res->dim = (uint32_t)x->n_items;
            }
            res->outputs[i] = o;
        }
        res->n_outputs = n;
        r->result_case = SOCLE__V1__RESPONSE__RESULT_EMBED;
        r->embed = res;
        return 0;
    }
    }
    return -1;
}

/* Several tasks, one pass: each sub-task becomes the task_request its own Request would have
 * given (same validation, same messages) over the multi request's texts, so task_job_prepare
 * sees the same texts in every request and stores each model sequence once. */
int wire_build_multi(const struct daemon *d, struct arena *a, const PbRequest *req,
                     struct task_request **trs, size_t *n_trs, char *msg, size_t msglen) {
    const Socle__V1__MultiRequest *m = req->multi;
    *trs = NULL;
    *n_trs = 0;
    if (!m->n_tasks) {
        snprintf(msg, msglen,
                 "multi: no tasks (give at least one of classify, ner, summarize, "
                 "embed)");
        return SOCLE__V1__CODE__INVALID_ARGUMENT;
    }
    struct task_request *out = arena_alloc(a, m->n_tasks * sizeof *out);
    if (!out) {
        snprintf(msg, msglen, "out of memory");
        return SOCLE__V1__CODE__RESOURCE_EXHAUSTED;
    }
    for (size_t i = 0; i < m->n_tasks; i++) {
        const Socle__V1__SubTask *t = m->tasks[i];
        /* a Request of the sub-task's own kind, its options copied, the texts the multi's */
        PbRequest sub = SOCLE__V1__REQUEST__INIT;
        Socle__V1__ClassifyRequest cl;
        Socle__V1__NerRequest ner;
        Socle__V1__SummarizeRequest su;
        Socle__V1__EmbedRequest em;
        size_t n_own = 0;
        sub.adapter = t->adapter;
        switch (t->task_case) {
        case SOCLE__V1__SUB_TASK__TASK_CLASSIFY:
            cl = *t->classify;
            n_own = cl.n_texts;
            cl.n_texts = m->n_texts;
            cl.texts = m->texts;
            sub.task_case = SOCLE__V1__REQUEST__TASK_CLASSIFY;
            sub.classify = &cl;
            break;
        case SOCLE__V1__SUB_TASK__TASK_NER:
            ner = *t->ner;
            n_own = ner.n_texts;
            ner.n_texts = m->n_texts;
            ner.texts = m->texts;
            sub.task_case = SOCLE__V1__REQUEST__TASK_NER;
            sub.ner = &ner;
            break;
        case SOCLE__V1__SUB_TASK__TASK_SUMMARIZE:
            su = *t->summarize;
            n_own = su.n_texts;
            su.n_texts = m->n_texts;
            su.texts = m->texts;
            sub.task_case = SOCLE__V1__REQUEST__TASK_SUMMARIZE;
            sub.summarize = &su;
            break;
        case SOCLE__V1__SUB_TASK__TASK_EMBED:
            em = *t->embed;
            n_own = em.n_texts;
            em.n_texts = m->n_texts;
            em.texts = m->texts;
            sub.task_case = SOCLE__V1__REQUEST__TASK_EMBED;
            sub.embed = &em;
            break;
        default:
            snprintf(msg, msglen,
                     "multi: task %zu names no task (set one of classify, ner, "
                     "summarize, embed)",
                     i);
            return SOCLE__V1__CODE__INVALID_ARGUMENT;
        }
        if (n_own) {
            snprintf(msg, msglen,
                     "multi: task %zu (%s) carries %zu texts of its own; put the "
                     "texts in MultiRequest.texts",
                     i, reply_task_name((int)sub.task_case), n_own);
            return SOCLE__V1__CODE__INVALID_ARGUMENT;
        }
        char sub_msg[400] = "";
        int code = wire_build_request(d, a, &sub, &out[i], sub_msg, sizeof sub_msg);
        if (code != SOCLE__V1__CODE__OK) {
            snprintf(msg, msglen, "multi: task %zu (%s): %s", i,
                     reply_task_name((int)sub.task_case), sub_msg);
            return code;
        }
    }
    *trs = out;
    *n_trs = m->n_tasks;
    return SOCLE__V1__CODE__OK;
}

int wire_convert_multi(struct arena *a, const PbRequest *req, const struct task_request *trs,
                       struct task_response *const *tps, size_t n, PbResponse *r) {
    Socle__V1__MultiResult *res = arena_alloc(a, sizeof *res);
    if (!res)
        return -1;
    socle__v1__multi_result__init(res);
    res->results = arena_alloc(a, n * sizeof *res->results);
    if (!res->results)
        return -1;
    for (size_t i = 0; i < n; i++) {
        /* convert as a single request would, then move its result into the SubResult */
        PbResponse one = SOCLE__V1__RESPONSE__INIT;
        if (wire_convert(a, &trs[i], tps[i], &one) != 0)
            return -1;
        Socle__V1__SubResult *sr = arena_alloc(a, sizeof *sr);
        if (!sr)
            return -1;
        socle__v1__sub_result__init(sr);
        sr->task = (char *)(uintptr_t)task_kind_name(trs[i].kind);
        sr->adapter = req->multi->tasks[i]->adapter;
        switch (one.result_case) {
        case SOCLE__V1__RESPONSE__RESULT_CLASSIFY:
            sr->result_case = SOCLE__V1__SUB_RESULT__RESULT_CLASSIFY;
            sr->classify = one.classify;
            break;
        case SOCLE__V1__RESPONSE__RESULT_NER:
            sr->result_case = SOCLE__V1__SUB_RESULT__RESULT_NER;
            sr->ner = one.ner;
            break;
        case SOCLE__V1__RESPONSE__RESULT_SUMMARIZE:
            sr->result_case = SOCLE__V1__SUB_RESULT__RESULT_SUMMARIZE;
            sr->summarize = one.summarize;
            break;
        case SOCLE__V1__RESPONSE__RESULT_EMBED:
            sr->result_case = SOCLE__V1__SUB_RESULT__RESULT_EMBED;
            sr->embed = one.embed;
            break;
        default:
            return -1;
        }
        r->truncated |= one.truncated;
        res->results[i] = sr;
    }
    res->n_results = n;
    r->result_case = SOCLE__V1__RESPONSE__RESULT_MULTI;
    r->multi = res;
    return 0;
}

/* wire_run for a multi request, outside the batcher: task_run_multi on this worker. */
static int run_multi(const struct daemon *d, struct task_worker *tw, const PbRequest *req,
                     struct arena *a, PbResponse *r, PbTiming *tm, char *msg, size_t msglen) {
    struct task_request *trs = NULL;
    size_t n = 0;
    int code = wire_build_multi(d, a, req, &trs, &n, msg, msglen);
    if (code != SOCLE__V1__CODE__OK)
        return code;
    struct task_response **tps = calloc(n, sizeof *tps);
    char err[400] = "";
    int rc = tps ? task_run_multi(d->rt, tw, trs, n, tps, err, sizeof err) : TASK_ENOMEM;
    if (rc != TASK_OK) {
        snprintf(msg, msglen, "multi: %s", err[0] ? err : task_strerror(rc));
        code = wire_code(rc);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (!tps[i] || tps[i]->n_results != trs[i].n_texts) {
            snprintf(msg, msglen, "multi: task %zu returned %zu results for %zu texts", i,
                     tps[i] ? tps[i]->n_results : 0, trs[i].n_texts);
            code = SOCLE__V1__CODE__INTERNAL;
            goto done;
        }
        tm->tokenize_us += tps[i]->tokenize_us;
        tm->forward_us += tps[i]->forward_us;
        tm->post_us += tps[i]->post_us;
        /* per-task token counts repeat the shared sequences; the largest is the model's */
        for (size_t k = 0, s = 0; k <= tps[i]->n_results; k++) {
            if (k == tps[i]->n_results) {
                if (s > r->n_tokens)
                    r->n_tokens = s;
                break;
            }
            s += tps[i]->results[k].n_tokens;
        }
    }
    if (wire_convert_multi(a, req, trs, tps, n, r) != 0) {
        snprintf(msg, msglen, "out of memory");
        code = SOCLE__V1__CODE__RESOURCE_EXHAUSTED;
    }
done:
    for (size_t i = 0; tps && i < n; i++)
        task_response_free(tps[i]);
    free(tps);
    return code;
}

int wire_run(const struct daemon *d, struct task_worker *tw, const PbRequest *req, struct arena *a,
             PbResponse *r, PbTiming *tm, char *msg, size_t msglen) {
    if (req->task_case == SOCLE__V1__REQUEST__TASK_MULTI)
        return run_multi(d, tw, req, a, r, tm, msg, msglen);
    struct task_request tr;
    int code = wire_build_request(d, a, req, &tr, msg, msglen);
    if (code != SOCLE__V1__CODE__OK)
        return code;
    struct task_response *tp = NULL;
    char err[400] = "";
    int rc = task_run(d->rt, tw, &tr, &tp, err, sizeof err);
    if (rc != TASK_OK) {
        snprintf(msg, msglen, "%s: %s", reply_task_name((int)req->task_case),
                 err[0] ? err : task_strerror(rc));
        task_response_free(tp);
        return wire_code(rc);
    }
    if (!tp || tp->n_results != tr.n_texts) {
        snprintf(msg, msglen, "%s: task returned %zu results for %zu texts",
                 reply_task_name((int)req->task_case), tp ? tp->n_results : 0, tr.n_texts);
        task_response_free(tp);
        return SOCLE__V1__CODE__INTERNAL;
    }
    tm->tokenize_us = tp->tokenize_us;
    tm->forward_us = tp->forward_us;
    tm->post_us = tp->post_us;
    int crc = wire_convert(a, &tr, tp, r);
    task_response_free(tp);
    if (crc != 0) {
        snprintf(msg, msglen, "out of memory");
        return SOCLE__V1__CODE__RESOURCE_EXHAUSTED;
    }
    return SOCLE__V1__CODE__OK;
}
