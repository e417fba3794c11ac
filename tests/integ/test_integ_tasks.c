/* test_integ_tasks.c — model tasks end to end through socled when the tasks module is built:
 * socled --model <tiny BERT classifier fixture>, classify over the wire (daemon/wire.c), the
 * scores against softmax of HuggingFace transformers' logits for the same texts
 * (shared/fixtures/models/bert-seqcls/reference.json), an adapter that is not loaded, invalid
 * UTF-8, embed, model info (label integ). Skips (77) without ../shared or without tasks.
 * argv: socled socle */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/integ/harness.h"

static Socle__V1__Response *call(const char *ep, Socle__V1__Request *req) {
    struct socle_client *c = hx_client(ep, 20000, 0);
    Socle__V1__Response *r = NULL;
    if (!c || socle_client_call(c, req, &r) != SOCLE_OK)
        r = NULL;
    socle_client_free(c);
    return r;
}

int main(int argc, char **argv) {
    if (argc < 3)
        return 2;
    const char *shared = getenv("SOCLE_SHARED_DIR");
    char model[512];
    snprintf(model, sizeof model, "%s/fixtures/models/bert-seqcls", shared ? shared : "../shared");
    char cfg[600];
    snprintf(cfg, sizeof cfg, "%s/config.json", model);
    if (access(cfg, R_OK) != 0) {
        fprintf(stderr, "skip: %s not found\n", cfg);
        return 77;
    }
    struct hx_daemon d;
    const char *extra[] = {"--model", model, NULL};
    if (hx_start(&d, argv[1], extra) != 0) {
        int st;
        hx_stop(&d, 5000, &st);
        return 1;
    }
    Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
    Socle__V1__InfoRequest ir = SOCLE__V1__INFO_REQUEST__INIT;
    req.task_case = SOCLE__V1__REQUEST__TASK_INFO;
    req.info = &ir;
    Socle__V1__Response *r = call(d.ipc, &req);
    bool has_classify = false;
    for (size_t i = 0; r && r->info && i < r->info->n_tasks; i++)
        has_classify |= strcmp(r->info->tasks[i], "classify") == 0;
    if (!has_classify) {
        fprintf(stderr, "skip: this socled does not serve classify (tasks module not built)\n");
        socle_response_free(r);
        int st;
        hx_stop(&d, 10000, &st);
        return 77;
    }
    /* model facts from the fixture's config.json */
    CHECK(r->info->model && r->info->model->d_model == 32 && r->info->model->n_layers == 2 &&
          strcmp(r->info->model->model_type, "bert") == 0);
    socle_response_free(r);

    /* classify: the first three texts of the fixture, one request */
    static const char *const texts[3] = {"Sport", "super serie !", "a sometimes tedious film ."};
    static const double logits[3][3] = {
        {-0.17457185685634613, 0.42937949299812317, 1.0903193950653076},
        {0.03693903982639313, 0.533334493637085, 1.2476305961608887},
        {-0.04413418471813202, 0.7889168858528137, 1.1018208265304565}};
    static const char *const labels[3] = {"negative", "neutral", "positive"};
    ProtobufCBinaryData b[3];
    for (int i = 0; i < 3; i++)
        b[i] = (ProtobufCBinaryData){strlen(texts[i]), (uint8_t *)(uintptr_t)texts[i]};
    Socle__V1__ClassifyRequest cr = SOCLE__V1__CLASSIFY_REQUEST__INIT;
    cr.n_texts = 3;
    cr.texts = b;
    req = (Socle__V1__Request)SOCLE__V1__REQUEST__INIT;
    req.task_case = SOCLE__V1__REQUEST__TASK_CLASSIFY;
    req.classify = &cr;
    r = call(d.tcp, &req);
    CHECK(r && r->status->code == SOCLE__V1__CODE__OK && r->classify &&
          r->classify->n_outputs == 3);
    for (size_t i = 0; r && r->classify && i < r->classify->n_outputs && i < 3; i++) {
        const Socle__V1__ClassifyOutput *o = r->classify->outputs[i];
        double z = 0;
        for (int k = 0; k < 3; k++)
            z += exp(logits[i][k]);
        CHECK(o->status->code == SOCLE__V1__CODE__OK && o->n_labels == 3 && o->n_tokens >= 3);
        for (size_t k = 0; k < o->n_labels; k++) {
            int li = -1;
            for (int m = 0; m < 3; m++)
                if (strcmp(o->labels[k]->label, labels[m]) == 0)
                    li = m;
            CHECK(li >= 0);
            if (li >= 0)
                CHECK(fabs(o->labels[k]->score - exp(logits[i][li]) / z) < 1e-4);
            if (k)
                CHECK(o->labels[k]->score <= o->labels[k - 1]->score); /* best first */
        }
    }
    CHECK(r && r->timing && r->timing->forward_us > 0 && r->n_tokens > 0);
    socle_response_free(r);

    /* top_k through the wire */
    cr.n_texts = 1;
    cr.top_k = 1;
    r = call(d.ipc, &req);
    CHECK(r && r->classify && r->classify->outputs[0]->n_labels == 1 &&
          strcmp(r->classify->outputs[0]->labels[0]->label, "positive") == 0);
    socle_response_free(r);

    /* invalid UTF-8 in the second text: request refused, naming text and byte */
    b[1] = (ProtobufCBinaryData){4, (uint8_t *)(uintptr_t) "ab\xC0z"};
    cr.n_texts = 2;
    r = call(d.ipc, &req);
    CHECK(r && r->status->code == SOCLE__V1__CODE__INVALID_ARGUMENT &&
          strstr(r->status->message, "text 1") && strstr(r->status->message, "byte 2"));
    socle_response_free(r);

    /* an adapter that is not loaded, and a task this model has no adapter for */
    cr.n_texts = 1;
    req.adapter = "no-such-adapter";
    r = call(d.ipc, &req);
    CHECK(r && r->status->code == SOCLE__V1__CODE__NOT_FOUND);
    socle_response_free(r);
    req.adapter = "";
    Socle__V1__NerRequest nr = SOCLE__V1__NER_REQUEST__INIT;
    nr.n_texts = 1;
    nr.texts = b;
    req.task_case = SOCLE__V1__REQUEST__TASK_NER;
    req.ner = &nr;
    r = call(d.ipc, &req);
    CHECK(r && (r->status->code == SOCLE__V1__CODE__NOT_FOUND ||
                r->status->code == SOCLE__V1__CODE__UNIMPLEMENTED));
    socle_response_free(r);

    /* embed: one vector of d_model floats */
    Socle__V1__EmbedRequest er = SOCLE__V1__EMBED_REQUEST__INIT;
    er.n_texts = 1;
    er.texts = b;
    er.normalize = true;
    req.task_case = SOCLE__V1__REQUEST__TASK_EMBED;
    req.embed = &er;
    r = call(d.ipc, &req);
    if (r && r->status->code == SOCLE__V1__CODE__OK) {
        CHECK(r->embed && r->embed->dim == 32 && r->embed->outputs[0]->n_vector == 32);
        double n2 = 0;
        for (size_t k = 0; r->embed && k < r->embed->outputs[0]->n_vector; k++)
            n2 += (double)r->embed->outputs[0]->vector[k] * r->embed->outputs[0]->vector[k];
        CHECK(fabs(n2 - 1.0) < 1e-4);
    } else {
        CHECK(r && (r->status->code == SOCLE__V1__CODE__NOT_FOUND ||
                    r->status->code == SOCLE__V1__CODE__UNIMPLEMENTED));
    }
    socle_response_free(r);

    /* the CLI prints the same classification */
    char *out = NULL;
    char *a[] = {argv[2], "--endpoint", d.ipc, "classify", "--top-k", "1", "Sport", NULL};
    CHECK(hx_run(a, NULL, &out) == 0);
    CHECK(out && strstr(out, "\"label\":\"positive\"") && strstr(out, "\"score\":0.5559"));
    free(out);

    int st = -1;
    CHECK(hx_stop(&d, 15000, &st) == 0 && st == 0);
    if (hx_failures)
        fprintf(stderr, "%d check(s) failed\n", hx_failures);
    else
        printf("test_integ_tasks: all checks passed\n");
    return hx_failures ? 1 : 0;
}
