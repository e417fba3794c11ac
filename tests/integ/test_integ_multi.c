/* test_integ_multi.c — "several tasks, one pass" over the wire (issue 5), label integ.
 * argv: socled socle. One worker on models/socle-mini with its adapters directory.
 * Checks: a MultiRequest classify(sentiment) + ner(ner, simple) over 5 texts answers exactly
 * what the two requests answer alone (labels, scores, entities, spans compared bit for bit);
 * the model ran once per text: the multi request costs one engine forward where the two
 * requests cost two (stats forwards_total), and its n_tokens is the classify request's alone;
 * errors: no tasks → INVALID_ARGUMENT, a sub-task carrying its own texts → INVALID_ARGUMENT, an
 * unknown adapter in one sub-task → the whole request NOT_FOUND naming the adapter; the CLI
 * `socle multi --task classify:sentiment --task ner:ner` prints one object keyed by task.
 * Exits 77 when models/socle-mini is absent. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/integ/harness.h"

enum { N = 5 };
static const char *texts[N] = {
    "I loved this film, the actors were wonderful.",
    "Marie Curie worked in Paris with Pierre Curie.",
    "The service at the restaurant in London was terrible and slow.",
    "Barack Obama visited Berlin and met Angela Merkel.",
    "Nothing special, an ordinary day at Google in California.",
};

static ProtobufCBinaryData bins[N];
static uint64_t next_id = 1;

static Socle__V1__Response *call(struct socle_client *c, Socle__V1__Request *req) {
    Socle__V1__Response *r = NULL;
    req->id = next_id++;
    if (socle_client_call(c, req, &r) != SOCLE_OK)
        return NULL;
    return r;
}

static uint64_t forwards(struct socle_client *c) {
    Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
    Socle__V1__StatsRequest st = SOCLE__V1__STATS_REQUEST__INIT;
    req.task_case = SOCLE__V1__REQUEST__TASK_STATS;
    req.stats = &st;
    Socle__V1__Response *r = call(c, &req);
    uint64_t f = r && r->stats ? r->stats->forwards_total : UINT64_MAX;
    socle_response_free(r);
    return f;
}

static bool same_classify(const Socle__V1__ClassifyResult *a, const Socle__V1__ClassifyResult *b) {
    if (!a || !b || a->n_outputs != b->n_outputs)
        return false;
    for (size_t i = 0; i < a->n_outputs; i++) {
        const Socle__V1__ClassifyOutput *x = a->outputs[i], *y = b->outputs[i];
        if (x->status->code != y->status->code || x->n_tokens != y->n_tokens ||
            x->n_labels != y->n_labels)
            return false;
        for (size_t k = 0; k < x->n_labels; k++)
            if (strcmp(x->labels[k]->label, y->labels[k]->label) != 0 ||
                x->labels[k]->score != y->labels[k]->score)
                return false;
    }
    return true;
}

static bool same_ner(const Socle__V1__NerResult *a, const Socle__V1__NerResult *b) {
    if (!a || !b || a->n_outputs != b->n_outputs)
        return false;
    for (size_t i = 0; i < a->n_outputs; i++) {
        const Socle__V1__NerOutput *x = a->outputs[i], *y = b->outputs[i];
        if (x->status->code != y->status->code || x->n_tokens != y->n_tokens ||
            x->n_entities != y->n_entities)
            return false;
        for (size_t k = 0; k < x->n_entities; k++) {
            const Socle__V1__Entity *e = x->entities[k], *f = y->entities[k];
            if (strcmp(e->type, f->type) != 0 || strcmp(e->word, f->word) != 0 ||
                e->score != f->score || e->index != f->index || e->span->start != f->span->start ||
                e->span->end != f->span->end || e->span->cp_start != f->span->cp_start ||
                e->span->cp_end != f->span->cp_end)
                return false;
        }
    }
    return true;
}

/* A multi request classify(cl_adapter) + ner("ner", simple) over texts[0..n). */
static Socle__V1__Response *multi(struct socle_client *c, const char *cl_adapter, size_t n_tasks,
                                  bool own_texts) {
    Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
    Socle__V1__MultiRequest m = SOCLE__V1__MULTI_REQUEST__INIT;
    Socle__V1__SubTask t0 = SOCLE__V1__SUB_TASK__INIT, t1 = SOCLE__V1__SUB_TASK__INIT;
    Socle__V1__ClassifyRequest cl = SOCLE__V1__CLASSIFY_REQUEST__INIT;
    Socle__V1__NerRequest ner = SOCLE__V1__NER_REQUEST__INIT;
    Socle__V1__SubTask *ts[2] = {&t0, &t1};
    t0.adapter = (char *)(uintptr_t)cl_adapter;
    t0.task_case = SOCLE__V1__SUB_TASK__TASK_CLASSIFY;
    t0.classify = &cl;
    t1.adapter = (char *)(uintptr_t) "ner";
    t1.task_case = SOCLE__V1__SUB_TASK__TASK_NER;
    t1.ner = &ner;
    ner.aggregation = SOCLE__V1__AGGREGATION__AGGREGATION_SIMPLE;
    if (own_texts) {
        ner.n_texts = 1;
        ner.texts = bins;
    }
    m.n_texts = N;
    m.texts = bins;
    m.n_tasks = n_tasks;
    m.tasks = ts;
    req.task_case = SOCLE__V1__REQUEST__TASK_MULTI;
    req.multi = &m;
    return call(c, &req);
}

int main(int argc, char **argv) {
    if (argc < 3)
        return 2;
    char model[1024], adapters[1100], probe[1100];
    snprintf(model, sizeof model, "%s/models/socle-mini", hx_source_dir());
    snprintf(adapters, sizeof adapters, "%s/adapters", model);
    snprintf(probe, sizeof probe, "%s/model.safetensors", model);
    if (access(probe, R_OK) != 0) {
        fprintf(stderr, "skip: %s absent\n", probe);
        return 77;
    }
    for (size_t i = 0; i < N; i++)
        bins[i] = (ProtobufCBinaryData){strlen(texts[i]), (uint8_t *)(uintptr_t)texts[i]};
    const char *extra[] = {"--model", model,         "--adapters", adapters, "--workers",
                           "1",       "--log-level", "warn",       NULL};
    struct hx_daemon D;
    if (hx_start(&D, argv[1], extra) != 0)
        return 1;
    struct socle_client *c = hx_client(D.ipc, 30000, 0);
    CHECK(c);
    if (!c)
        goto out;

    /* the two requests alone, and what they cost in engine forwards */
    uint64_t f0 = forwards(c);
    Socle__V1__Request rq = SOCLE__V1__REQUEST__INIT;
    Socle__V1__ClassifyRequest cl = SOCLE__V1__CLASSIFY_REQUEST__INIT;
    cl.n_texts = N;
    cl.texts = bins;
    rq.adapter = (char *)(uintptr_t) "sentiment";
    rq.task_case = SOCLE__V1__REQUEST__TASK_CLASSIFY;
    rq.classify = &cl;
    Socle__V1__Response *rc = call(c, &rq);
    Socle__V1__Request rq2 = SOCLE__V1__REQUEST__INIT;
    Socle__V1__NerRequest ner = SOCLE__V1__NER_REQUEST__INIT;
    ner.n_texts = N;
    ner.texts = bins;
    ner.aggregation = SOCLE__V1__AGGREGATION__AGGREGATION_SIMPLE;
    rq2.adapter = (char *)(uintptr_t) "ner";
    rq2.task_case = SOCLE__V1__REQUEST__TASK_NER;
    rq2.ner = &ner;
    Socle__V1__Response *rn = call(c, &rq2);
    uint64_t f1 = forwards(c);
    CHECK(rc && rc->status && rc->status->code == SOCLE__V1__CODE__OK && rc->classify);
    CHECK(rn && rn->status && rn->status->code == SOCLE__V1__CODE__OK && rn->ner);

    /* the same in one pass */
    Socle__V1__Response *rm = multi(c, "sentiment", 2, false);
    uint64_t f2 = forwards(c);
    CHECK(rm && rm->status && rm->status->code == SOCLE__V1__CODE__OK && rm->multi);
    CHECK(f1 - f0 == 2); /* 5 short texts fit one forward: one per request */
    CHECK(f2 - f1 == 1); /* classify + ner: the backbone ran once for both */
    if (rc && rn && rm && rm->multi && rm->multi->n_results == 2) {
        const Socle__V1__SubResult *s0 = rm->multi->results[0], *s1 = rm->multi->results[1];
        CHECK(strcmp(s0->task, "classify") == 0 && strcmp(s0->adapter, "sentiment") == 0);
        CHECK(strcmp(s1->task, "ner") == 0 && strcmp(s1->adapter, "ner") == 0);
        CHECK(s0->result_case == SOCLE__V1__SUB_RESULT__RESULT_CLASSIFY);
        CHECK(s1->result_case == SOCLE__V1__SUB_RESULT__RESULT_NER);
        CHECK(same_classify(s0->classify, rc->classify));
        CHECK(same_ner(s1->ner, rn->ner));
        /* short texts: one sequence per text for both tasks, so the same tokens; the multi
         * request fed them to the model once */
        CHECK(rc->n_tokens > 0 && rc->n_tokens == rn->n_tokens);
        CHECK(rm->n_tokens == rc->n_tokens);
        size_t n_ent = 0;
        for (size_t i = 0; rn->ner && i < rn->ner->n_outputs; i++)
            n_ent += rn->ner->outputs[i]->n_entities;
        CHECK(n_ent > 0); /* the comparison compared something */
    } else {
        CHECK(!"multi result with 2 sub-results");
    }
    socle_response_free(rc);
    socle_response_free(rn);
    socle_response_free(rm);

    /* errors */
    Socle__V1__Response *e = multi(c, "sentiment", 0, false);
    CHECK(e && e->status && e->status->code == SOCLE__V1__CODE__INVALID_ARGUMENT &&
          strstr(e->status->message, "no tasks"));
    socle_response_free(e);
    e = multi(c, "sentiment", 2, true);
    CHECK(e && e->status && e->status->code == SOCLE__V1__CODE__INVALID_ARGUMENT &&
          strstr(e->status->message, "task 1 (ner)"));
    socle_response_free(e);
    e = multi(c, "no-such-adapter", 2, false);
    CHECK(e && e->status && e->status->code == SOCLE__V1__CODE__NOT_FOUND &&
          strstr(e->status->message, "no-such-adapter"));
    if (e && e->status)
        fprintf(stderr, "unknown adapter: %s\n", e->status->message);
    socle_response_free(e);
    socle_client_free(c);

    /* the CLI: one object per input, one key per --task, the same classify labels */
    char *outp = NULL;
    char *cli[] = {argv[2],
                   "--endpoint",
                   D.ipc,
                   "multi",
                   "--task",
                   "classify:sentiment",
                   "--task",
                   "ner:ner",
                   "--aggregation",
                   "simple",
                   (char *)(uintptr_t)texts[1],
                   NULL};
    CHECK(hx_run(cli, NULL, &outp) == 0);
    CHECK(outp && strstr(outp, "{\"classify:sentiment\":{") == outp);
    CHECK(outp && strstr(outp, "\"ner:ner\":{") && strstr(outp, "\"word\":\"Paris\""));
    free(outp);
    outp = NULL;
    char *cli_bad[] = {argv[2], "--endpoint", D.ipc, "multi", "Paris", NULL};
    CHECK(hx_run(cli_bad, NULL, &outp) == 2); /* no --task: usage error */
    free(outp);

    /* the Python client, when its generated module was built: multi == classify + ner */
    const char *bin = getenv("SOCLE_BINARY_DIR");
    char gen[1100], pypath[2300], pysrc[1100], probe_py[1200];
    snprintf(gen, sizeof gen, "%s/clients/python/gen", bin ? bin : ".");
    snprintf(probe_py, sizeof probe_py, "%s/socle_pb2.py", gen);
    snprintf(pysrc, sizeof pysrc, "%s/clients/python", hx_source_dir());
    if (bin && access(probe_py, R_OK) == 0 && access("/usr/bin/python3", X_OK) == 0) {
        snprintf(pypath, sizeof pypath, "%s:%s", pysrc, gen);
        setenv("PYTHONPATH", pypath, 1);
        static const char py[] =
            "import sys, socle\n"
            "c = socle.Client(sys.argv[1], timeout=30, retries=0)\n"
            "t = sys.argv[2:]\n"
            "m = c.multi(t, ['classify:sentiment', ('ner:ner', {'aggregation': 'simple'})])\n"
            "a = c.classify(t, adapter='sentiment')\n"
            "b = c.ner(t, adapter='ner', aggregation='simple')\n"
            "assert [x['classify:sentiment'] for x in m] == a, 'classify differs'\n"
            "assert [x['ner:ner'] for x in m] == b, 'ner differs'\n"
            "assert sum(len(x['entities']) for x in b) > 0\n"
            "try:\n"
            "    c.multi(t, [])\n"
            "    sys.exit('empty task list accepted')\n"
            "except socle.SocleError as e:\n"
            "    assert e.code == socle.Code.INVALID_ARGUMENT\n"
            "print('ok')\n";
        char *pyargv[] = {"/usr/bin/python3",
                          "-c",
                          (char *)(uintptr_t)py,
                          D.ipc,
                          (char *)(uintptr_t)texts[1],
                          (char *)(uintptr_t)texts[3],
                          NULL};
        outp = NULL;
        CHECK(hx_run(pyargv, NULL, &outp) == 0);
        CHECK(outp && strcmp(outp, "ok\n") == 0);
        free(outp);
    } else {
        fprintf(stderr, "note: Python client part skipped (%s absent)\n", probe_py);
    }
out:;
    int st = 0;
    CHECK(hx_stop(&D, 10000, &st) == 0 && st == 0);
    if (hx_failures)
        fprintf(stderr, "%d failures\n", hx_failures);
    return hx_failures ? 1 : 0;
}
