/* service.c — what a worker does with one job: tokenize and detokenize through the tokenizer,
 * the model tasks through tasks/ (via wire.c), everything else UNIMPLEMENTED. A response is
 * built in an arena and packed once; every failure becomes an error answer through
 * reply_error(), so a job always leaves with exactly one encoded Response. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"
#include "daemon/wire.h"

struct worker_state {
#ifdef SOCLE_HAVE_TASKS
    struct task_worker *tw;
#endif
    int unused;
};

int worker_state_new(const struct daemon *d, struct worker_state **out, char *err, size_t errlen) {
    struct worker_state *ws = calloc(1, sizeof *ws);
    if (!ws) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
#ifdef SOCLE_HAVE_TASKS
    if (d->rt) {
        int rc = task_worker_new(d->rt, (size_t)d->cfg.max_batch_tokens, &ws->tw);
        if (rc != TASK_OK) {
            snprintf(err, errlen, "task_worker_new: %s", task_strerror(rc));
            free(ws);
            return -1;
        }
        if (d->elastic) /* its own threads; each forward then uses its share (scheduler.c) */
            eng_ctx_set_threads(task_worker_ctx(ws->tw), (int)d->cfg.blas_threads);
    }
#else
    (void)d;
#endif
    *out = ws;
    return 0;
}

void worker_state_free(struct worker_state *ws) {
    if (!ws)
        return;
#ifdef SOCLE_HAVE_TASKS
    task_worker_free(ws->tw);
#endif
    free(ws);
}

#ifdef SOCLE_HAVE_TASKS
struct task_worker *worker_state_task_worker(struct worker_state *ws) { return ws->tw; }
#endif

size_t service_tasks(const struct daemon *d, const char **names, size_t max) {
    size_t n = 0;
#define ADD(s)                                                                                     \
    do {                                                                                           \
        if (n < max)                                                                               \
            names[n++] = (s);                                                                      \
    } while (0)
    ADD("info");
    ADD("stats");
#ifdef SOCLE_HAVE_TOKENIZER
    if (d->tok) {
        ADD("tokenize");
        ADD("detokenize");
    }
#endif
#ifdef SOCLE_HAVE_TASKS
    if (d->rt) {
        /* a model task is served when some adapter does it (in the broker thread: the
         * snapshot is stable, reloads happen there too) */
        const struct task_adapter_info *ai = NULL;
        size_t na = task_runtime_adapters(d->rt, &ai);
        for (size_t i = 0; i < na; i++) {
            const char *k = task_kind_name(ai[i].kind);
            bool dup = false;
            for (size_t j = 0; j < n; j++)
                dup |= strcmp(names[j], k) == 0;
            if (!dup)
                ADD(k);
        }
        ADD("multi"); /* several of the above over the same texts, one model pass */
    }
#endif
#undef ADD
    (void)d;
    return n;
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF — the
 * same rule as the tokenizer's TOK_EUTF8, so an offset reported here or there agrees. */
size_t utf8_check(const uint8_t *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else {
            return i;
        }
        if (i + n >= len) /* sequence cut by the end of the text */
            return i;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k <= n; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF)
                return i;
        i += n + 1;
    }
    return len;
}

int service_check_texts(const struct daemon *d, const ProtobufCBinaryData *texts, size_t n,
                        const char *what, char *msg, size_t msglen) {
    if (n == 0) {
        snprintf(msg, msglen, "no %s given", what);
        return -1;
    }
    if (n > (size_t)d->cfg.max_texts) {
        snprintf(msg, msglen, "%zu %s exceed max-texts (%ld)", n, what, d->cfg.max_texts);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (texts[i].len > d->cfg.max_text_bytes) {
            snprintf(msg, msglen, "%s %zu: %zu bytes exceed max-text-bytes (%zu)", what, i,
                     texts[i].len, d->cfg.max_text_bytes);
            return -1;
        }
        size_t bad = utf8_check(texts[i].data, texts[i].len);
        if (bad != texts[i].len) {
            snprintf(msg, msglen, "%s %zu: invalid UTF-8 at byte %zu", what, i, bad);
            return -1;
        }
    }
    return 0;
}

#ifdef SOCLE_HAVE_TOKENIZER
/* Copy one tok_encoding into an arena-built Encoding message (overflow windows included when
 * keep_overflow). */
static Socle__V1__Encoding *encoding_to_pb(struct arena *a, const struct tok_encoding *e,
                                           bool keep_overflow) {
    Socle__V1__Encoding *m = arena_alloc(a, sizeof *m);
    if (!m)
        return NULL;
    socle__v1__encoding__init(m);
    size_t n = e->n_tokens;
    m->length = (uint32_t)n;
    m->truncated = e->n_overflowing > 0;
    m->ids = arena_alloc(a, n * sizeof *m->ids);
    m->tokens = arena_alloc(a, n * sizeof *m->tokens);
    m->offsets = arena_alloc(a, 2 * n * sizeof *m->offsets);
    m->cp_offsets = arena_alloc(a, 2 * n * sizeof *m->cp_offsets);
    m->type_ids = arena_alloc(a, n * sizeof *m->type_ids);
    m->special_mask = arena_alloc(a, n * sizeof *m->special_mask);
    m->sequence_ids = arena_alloc(a, n * sizeof *m->sequence_ids);
    m->word_ids = arena_alloc(a, n * sizeof *m->word_ids);
    if (!m->ids || !m->tokens || !m->offsets || !m->cp_offsets || !m->type_ids ||
        !m->special_mask || !m->sequence_ids || !m->word_ids)
        return NULL;
    m->n_ids = m->n_tokens = m->n_type_ids = m->n_special_mask = m->n_sequence_ids = m->n_word_ids =
        n;
    m->n_offsets = m->n_cp_offsets = 2 * n;
    for (size_t i = 0; i < n; i++) {
        m->ids[i] = e->ids[i];
        if (!(m->tokens[i] = arena_strdup(a, e->tokens[i] ? e->tokens[i] : "")))
            return NULL;
        m->offsets[2 * i] = e->offsets[i].start;
        m->offsets[2 * i + 1] = e->offsets[i].end;
        m->cp_offsets[2 * i] = e->cp_offsets ? e->cp_offsets[i].start : 0;
        m->cp_offsets[2 * i + 1] = e->cp_offsets ? e->cp_offsets[i].end : 0;
        m->type_ids[i] = e->type_ids ? e->type_ids[i] : 0;
        m->special_mask[i] = e->special_mask ? e->special_mask[i] : 0;
        m->sequence_ids[i] = e->sequence_ids ? e->sequence_ids[i] : 0;
        m->word_ids[i] = e->word_ids ? e->word_ids[i] : -1;
    }
    if (keep_overflow && e->n_overflowing) {
        m->overflowing = arena_alloc(a, e->n_overflowing * sizeof *m->overflowing);
        if (!m->overflowing)
            return NULL;
        for (size_t k = 0; k < e->n_overflowing; k++)
            if (!(m->overflowing[k] = encoding_to_pb(a, e->overflowing[k], false)))
                return NULL;
        m->n_overflowing = e->n_overflowing;
    }
    return m;
}
#endif

#ifdef SOCLE_HAVE_TOKENIZER
/* What tokenize and detokenize refuse alike: no tokenizer loaded, or an adapter named
 * (they always use the model's own tokenizer). */
static int tokenizer_guard(const struct daemon *d, const PbRequest *req, const char *task,
                           char *msg, size_t msglen) {
    if (!d->tok) {
        snprintf(msg, msglen,
                 "%s: no tokenizer loaded (start socled with --model DIR or --tokenizer PATH)",
                 task);
        return SOCLE__V1__CODE__UNIMPLEMENTED;
    }
    if (req->adapter && req->adapter[0]) {
        snprintf(msg, msglen, "unknown adapter '%.100s': %s uses the model's tokenizer",
                 req->adapter, task);
        return SOCLE__V1__CODE__NOT_FOUND;
    }
    return SOCLE__V1__CODE__OK;
}
#endif

static int svc_tokenize(const struct daemon *d, const PbRequest *req, struct arena *a,
                        PbResponse *r, PbTiming *tm, char *msg, size_t msglen) {
#ifndef SOCLE_HAVE_TOKENIZER
    (void)d, (void)req, (void)a, (void)r, (void)tm;
    snprintf(msg, msglen, "tokenize: this socled was built without the tokenizer module");
    return SOCLE__V1__CODE__UNIMPLEMENTED;
#else
    const Socle__V1__TokenizeRequest *t = req->tokenize;
    int guard = tokenizer_guard(d, req, "tokenize", msg, msglen);
    if (guard != SOCLE__V1__CODE__OK)
        return guard;
    if (service_check_texts(d, t->texts, t->n_texts, "text", msg, msglen) != 0)
        return SOCLE__V1__CODE__INVALID_ARGUMENT;
    if (t->n_pairs && t->n_pairs != t->n_texts) {
        snprintf(msg, msglen, "%zu pairs for %zu texts: give one pair per text or none", t->n_pairs,
                 t->n_texts);
        return SOCLE__V1__CODE__INVALID_ARGUMENT;
    }
    if (t->n_pairs && service_check_texts(d, t->pairs, t->n_pairs, "pair", msg, msglen) != 0)
        return SOCLE__V1__CODE__INVALID_ARGUMENT;
    struct tok_encode_params p = tok_encode_params_default();
    p.add_special_tokens = !t->no_special_tokens;
    switch (t->truncation) {
    case SOCLE__V1__TRUNCATION__TRUNCATION_DEFAULT:
        p.use_file_truncation = true;
        break;
    case SOCLE__V1__TRUNCATION__TRUNCATION_NONE:
        p.use_file_truncation = false;
        p.max_length = 0;
        break;
    case SOCLE__V1__TRUNCATION__TRUNCATION_LONGEST_FIRST:
    case SOCLE__V1__TRUNCATION__TRUNCATION_ONLY_FIRST:
    case SOCLE__V1__TRUNCATION__TRUNCATION_ONLY_SECOND:
        if (t->max_length == 0) {
            snprintf(msg, msglen, "truncation needs max_length > 0");
            return SOCLE__V1__CODE__INVALID_ARGUMENT;
        }
        p.use_file_truncation = false;
        p.max_length = t->max_length;
        p.strategy = t->truncation == SOCLE__V1__TRUNCATION__TRUNCATION_ONLY_FIRST
                         ? TOK_TRUNC_ONLY_FIRST
                     : t->truncation == SOCLE__V1__TRUNCATION__TRUNCATION_ONLY_SECOND
                         ? TOK_TRUNC_ONLY_SECOND
                         : TOK_TRUNC_LONGEST_FIRST;
        break;
    default:
        snprintf(msg, msglen, "unknown truncation %d", (int)t->truncation);
        return SOCLE__V1__CODE__INVALID_ARGUMENT;
    }
    p.stride = t->stride;
    /* Always ask for the overflow: it is how we learn that a text was truncated, which the
     * response must say (never silently). It is returned only on request. */
    p.return_overflowing = true;
    uint64_t t0 = now_us();
    Socle__V1__TokenizeResult *res = arena_alloc(a, sizeof *res);
    if (!res)
        goto oom;
    socle__v1__tokenize_result__init(res);
    res->encodings = arena_alloc(a, t->n_texts * sizeof *res->encodings);
    if (!res->encodings)
        goto oom;
    for (size_t i = 0; i < t->n_texts; i++) {
        const char *text = (const char *)t->texts[i].data;
        size_t len = t->texts[i].len;
        size_t bad = 0;
        int rc;
        if (t->count_only && !t->n_pairs) {
            size_t count = 0;
            rc = tok_count(d->tok, text ? text : "", len, p.add_special_tokens, &count, &bad);
            if (rc == TOK_OK) {
                Socle__V1__Encoding *m = arena_alloc(a, sizeof *m);
                if (!m)
                    goto oom;
                socle__v1__encoding__init(m);
                m->length = (uint32_t)count;
                res->encodings[i] = m;
                r->n_tokens += count;
                continue;
            }
        } else {
            struct tok_encoding *e = NULL;
            const char *pair = t->n_pairs ? (const char *)t->pairs[i].data : NULL;
            size_t pair_len = t->n_pairs ? t->pairs[i].len : 0;
            if (t->n_pairs && !pair)
                pair = "";
            rc = tok_encode(d->tok, text ? text : "", len, pair, pair_len, &p, &e, &bad);
            if (rc == TOK_OK) {
                Socle__V1__Encoding *m = t->count_only
                                             ? arena_alloc(a, sizeof *m)
                                             : encoding_to_pb(a, e, t->return_overflowing);
                if (!m) {
                    tok_encoding_free(e);
                    goto oom;
                }
                if (t->count_only) {
                    socle__v1__encoding__init(m);
                    m->length = (uint32_t)e->n_tokens;
                    m->truncated = e->n_overflowing > 0;
                }
                r->n_tokens += e->n_tokens;
                r->truncated |= m->truncated;
                res->encodings[i] = m;
                tok_encoding_free(e);
                continue;
            }
        }
        if (rc == TOK_EUTF8) {
            snprintf(msg, msglen, "text %zu: invalid UTF-8 at byte %zu", i, bad);
            return SOCLE__V1__CODE__INVALID_ARGUMENT;
        }
        if (rc == TOK_ENOMEM)
            goto oom;
        snprintf(msg, msglen, "text %zu: %s", i, tok_strerror(rc));
        return rc == TOK_ELIMIT || rc == TOK_EINVAL ? SOCLE__V1__CODE__INVALID_ARGUMENT
                                                    : SOCLE__V1__CODE__INTERNAL;
    }
    res->n_encodings = t->n_texts;
    r->result_case = SOCLE__V1__RESPONSE__RESULT_TOKENIZE;
    r->tokenize = res;
    tm->tokenize_us = now_us() - t0;
    return SOCLE__V1__CODE__OK;
oom:
    snprintf(msg, msglen, "out of memory");
    return SOCLE__V1__CODE__RESOURCE_EXHAUSTED;
#endif
}

static int svc_detokenize(const struct daemon *d, const PbRequest *req, struct arena *a,
                          PbResponse *r, PbTiming *tm, char *msg, size_t msglen) {
#ifndef SOCLE_HAVE_TOKENIZER
    (void)d, (void)req, (void)a, (void)r, (void)tm;
    snprintf(msg, msglen, "detokenize: this socled was built without the tokenizer module");
    return SOCLE__V1__CODE__UNIMPLEMENTED;
#else
    const Socle__V1__DetokenizeRequest *t = req->detokenize;
    int guard = tokenizer_guard(d, req, "detokenize", msg, msglen);
    if (guard != SOCLE__V1__CODE__OK)
        return guard;
    if (t->n_sequences == 0 || t->n_sequences > (size_t)d->cfg.max_texts) {
        snprintf(msg, msglen, "%zu sequences: give 1 to max-texts (%ld)", t->n_sequences,
                 d->cfg.max_texts);
        return SOCLE__V1__CODE__INVALID_ARGUMENT;
    }
    uint64_t t0 = now_us();
    Socle__V1__DetokenizeResult *res = arena_alloc(a, sizeof *res);
    if (!res)
        goto oom;
    socle__v1__detokenize_result__init(res);
    res->texts = arena_alloc(a, t->n_sequences * sizeof *res->texts);
    if (!res->texts)
        goto oom;
    for (size_t i = 0; i < t->n_sequences; i++) {
        const Socle__V1__IdSequence *s = t->sequences[i];
        char *out = NULL;
        size_t out_len = 0;
        int rc = tok_decode(d->tok, s->ids, s->n_ids, t->skip_special_tokens, &out, &out_len);
        if (rc == TOK_EINVAL) {
            snprintf(msg, msglen, "sequence %zu: id out of vocabulary (size %zu)", i,
                     tok_vocab_size(d->tok));
            return SOCLE__V1__CODE__INVALID_ARGUMENT;
        }
        if (rc != TOK_OK) {
            snprintf(msg, msglen, "sequence %zu: %s", i, tok_strerror(rc));
            return rc == TOK_ENOMEM ? SOCLE__V1__CODE__RESOURCE_EXHAUSTED
                                    : SOCLE__V1__CODE__INTERNAL;
        }
        res->texts[i] = arena_strndup(a, out, out_len);
        free(out);
        if (!res->texts[i])
            goto oom;
        r->n_tokens += s->n_ids;
    }
    res->n_texts = t->n_sequences;
    r->result_case = SOCLE__V1__RESPONSE__RESULT_DETOKENIZE;
    r->detokenize = res;
    tm->tokenize_us = now_us() - t0;
    return SOCLE__V1__CODE__OK;
oom:
    snprintf(msg, msglen, "out of memory");
    return SOCLE__V1__CODE__RESOURCE_EXHAUSTED;
#endif
}

void service_run(const struct daemon *d, struct worker_state *ws, struct job *job) {
    uint64_t t_start = now_us();
    PbResponse r = SOCLE__V1__RESPONSE__INIT;
    PbStatus st = SOCLE__V1__STATUS__INIT;
    PbTiming tm = SOCLE__V1__TIMING__INIT;
    char msg[512] = "";
    int code;
    struct arena *a = arena_new();
    r.id = job->id;
    if (!a) {
        code = SOCLE__V1__CODE__RESOURCE_EXHAUSTED;
        snprintf(msg, sizeof msg, "out of memory");
    } else if (job->deadline_us && t_start >= job->deadline_us) {
        code = SOCLE__V1__CODE__DEADLINE_EXCEEDED;
        snprintf(msg, sizeof msg, "deadline passed before a worker could start");
    } else {
        switch (job->req->task_case) {
        case SOCLE__V1__REQUEST__TASK_TOKENIZE:
            code = svc_tokenize(d, job->req, a, &r, &tm, msg, sizeof msg);
            break;
        case SOCLE__V1__REQUEST__TASK_DETOKENIZE:
            code = svc_detokenize(d, job->req, a, &r, &tm, msg, sizeof msg);
            break;
        case SOCLE__V1__REQUEST__TASK_CLASSIFY:
        case SOCLE__V1__REQUEST__TASK_NER:
        case SOCLE__V1__REQUEST__TASK_QA:
        case SOCLE__V1__REQUEST__TASK_SUMMARIZE:
        case SOCLE__V1__REQUEST__TASK_EMBED:
        case SOCLE__V1__REQUEST__TASK_MULTI:
#ifdef SOCLE_HAVE_TASKS
            if (d->rt) {
                code = wire_run(d, ws->tw, job->req, a, &r, &tm, msg, sizeof msg);
                break;
            }
            snprintf(msg, sizeof msg, "%s: no model loaded (start socled with --model DIR)",
                     reply_task_name((int)job->req->task_case));
#else
            (void)ws;
            snprintf(msg, sizeof msg,
                     "%s: not implemented yet in this socled build (the tasks module is not "
                     "built); only info, stats, tokenize and detokenize are served",
                     reply_task_name((int)job->req->task_case));
#endif
            code = SOCLE__V1__CODE__UNIMPLEMENTED;
            break;
        default:
            /* info and stats never reach a worker */
            code = SOCLE__V1__CODE__INTERNAL;
            snprintf(msg, sizeof msg, "task %s reached a worker",
                     reply_task_name((int)job->req->task_case));
            break;
        }
    }
    job->code = code;
    uint64_t t_done = now_us();
    if (code == SOCLE__V1__CODE__OK) {
        r.status = &st;
        tm.queue_us = t_start - job->t_recv_us;
        tm.total_us = t_done - job->t_recv_us;
        r.timing = &tm;
        if (reply_encode(&r, &job->resp, &job->resp_len) != 0) {
            code = job->code = SOCLE__V1__CODE__RESOURCE_EXHAUSTED;
            snprintf(msg, sizeof msg, "out of memory encoding the response");
        }
    }
    if (code != SOCLE__V1__CODE__OK)
        reply_error(job->id, code, msg, t_done - job->t_recv_us, &job->resp, &job->resp_len);
    arena_free(a);
}
