/* test_task_adapter.c — adapter directories: loading, validation, reload, and
 * "several tasks, one pass".
 *
 * On the bert-seqcls fixture, adapters are written whose head.safetensors holds the
 * checkpoint's own classifier (pooling "pooler"), as float32, and through a scalar
 * mix of layers [2, -1] (both the last layer of this 2-layer model, so any mix
 * weights give back the last hidden state): their logits must equal the checkpoint
 * head's, which test_task_golden checks against HuggingFace. Bad adapters (labels
 * vs head rows, backbone, layers, format) must be refused with a clear message.
 * On bert-tokcls, a classify adapter + the checkpoint's ner head in one job must
 * run each text through the backbone once and give the same results as two runs.
 */
#include <stdlib.h>
#include <string.h>

#include "tasks/task_impl.h"
#include "tests/tasks/check.h"
#include "tests/tasks/fixture.h"

static char g_root[256];

static bool close_to(float a, float ref) { return fabsf(a - ref) <= 1e-4f + 1e-4f * fabsf(ref); }

static void test_seqcls_adapters(const char *dir) {
    char err[512] = "";
    struct task_runtime *rt0 = NULL;
    struct task_runtime_params p0 = {dir, NULL};
    CHECK(task_runtime_open(&p0, &rt0, err, sizeof(err)) == TASK_OK);
    if (!rt0)
        return;
    const struct eng_model *m = task_runtime_model(rt0);
    float *w = NULL, *b = NULL;
    int64_t shape[4];
    int nd;
    CHECK(eng_model_tensor_f32(m, "classifier.weight", &w, shape, &nd) == ENG_OK);
    CHECK(eng_model_tensor_f32(m, "classifier.bias", &b, shape, &nd) == ENG_OK);
    const float mixw[2] = {0.3f, -1.2f}, gamma[1] = {1.0f};
    struct fx_tensor lin[2] = {{"out.weight", 2, {3, 32}, w}, {"out.bias", 1, {3, 0}, b}};
    struct fx_tensor mix[4] = {
        lin[0], lin[1], {"mix.weight", 1, {2, 0}, mixw}, {"mix.gamma", 1, {1, 0}, gamma}};
    const char *bb = "\"backbone\": {\"model_type\": \"bert\", \"d_model\": 32, \"n_layers\": 2, "
                     "\"vocab_size\": 30522}";
    char json[1024];
    snprintf(
        json, sizeof(json),
        "{\"format\": \"socle-adapter/1\", \"name\": \"sent-lin\", \"task\": \"classify\", %s, "
        "\"labels\": [\"neg\", \"neu\", \"pos\"], \"multi_label\": false, "
        "\"pooling\": \"pooler\", \"layers\": [-1], \"head\": \"linear\"}",
        bb);
    CHECK(fx_write_adapter(g_root, "a-lin", json, lin, 2, 0) == 0);
    snprintf(
        json, sizeof(json),
        "{\"format\": \"socle-adapter/1\", \"name\": \"sent-mix\", \"task\": \"classify\", %s, "
        "\"labels\": [\"neg\", \"neu\", \"pos\"], \"pooling\": \"pooler\", "
        "\"layers\": [2, -1], \"head\": \"linear\"}",
        bb);
    CHECK(fx_write_adapter(g_root, "b-mix", json, mix, 4, 0) == 0);

    struct task_runtime *rt = NULL;
    struct task_runtime_params p = {dir, g_root};
    int rc = task_runtime_open(&p, &rt, err, sizeof(err));
    CHECK(rc == TASK_OK);
    if (rc != TASK_OK) {
        fprintf(stderr, "open: %s\n", err);
        goto out;
    }
    /* Listing order: checkpoint head, adapter dirs by name, builtins. */
    const struct task_adapter_info *ai;
    size_t na = task_runtime_adapters(rt, &ai);
    CHECK(na == 5);
    if (na == 5) {
        CHECK_STR(ai[0].name, "default-classify");
        CHECK_STR(ai[0].source, "checkpoint");
        CHECK_STR(ai[1].name, "sent-lin");
        CHECK_STR(ai[2].name, "sent-mix");
        CHECK_STR(ai[3].name, "default-embed");
        CHECK_STR(ai[4].name, "default-summarize");
        CHECK(ai[1].n_labels == 3 && strcmp(ai[1].labels[2], "pos") == 0);
    }

    char *buf;
    char **texts;
    size_t *lens;
    size_t n = fx_read_lines(dir, "texts.txt", &buf, &texts, &lens);
    CHECK(n == 16);
    struct task_request rq[3];
    const char *names[3] = {NULL, "sent-lin", "sent-mix"};
    for (int i = 0; i < 3; i++)
        rq[i] = (struct task_request){.kind = TASK_CLASSIFY,
                                      .adapter = names[i],
                                      .n_texts = n,
                                      .texts = (const char *const *)texts,
                                      .text_lens = lens};
    struct task_job *job = NULL;
    CHECK(task_job_prepare(rt, rq, 3, &job, err, sizeof(err)) == TASK_OK);
    if (!job)
        goto texts_out;
    /* Three requests, one backbone pass per text. */
    CHECK(task_job_n_seqs(job) == n);
    CHECK(task_job_want(job) & ENG_WANT_ALL_LAYERS);
    struct task_worker *wk = NULL;
    CHECK(task_worker_new(rt, 0, &wk) == TASK_OK);
    CHECK(task_job_run(job, wk, err, sizeof(err)) == TASK_OK);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        const float *o0, *o1, *o2;
        size_t r, c;
        CHECK(task_job_unit_output(job, 0, i, 0, &o0, &r, &c) == TASK_OK && c == 3);
        CHECK(task_job_unit_output(job, 1, i, 0, &o1, &r, &c) == TASK_OK && c == 3);
        CHECK(task_job_unit_output(job, 2, i, 0, &o2, &r, &c) == TASK_OK && c == 3);
        for (int k = 0; k < 3; k++)
            bad += !close_to(o1[k], o0[k]) + !close_to(o2[k], o0[k]);
    }
    CHECK(bad == 0);
    struct task_response *resp[3] = {0};
    CHECK(task_job_finish(job, resp, err, sizeof(err)) == TASK_OK);
    task_job_free(job);
    if (resp[1]) {
        CHECK(resp[1]->n_results == n);
        CHECK(resp[1]->results[0].n_items == 3);
        const char *l = resp[1]->results[0].u.labels[0].label;
        CHECK(strcmp(l, "neg") == 0 || strcmp(l, "neu") == 0 || strcmp(l, "pos") == 0);
    }

    /* Reload with one adapter removed: the old responses' label strings stay valid. */
    const char *rm[] = {"b-mix"};
    char path[600];
    snprintf(path, sizeof(path), "%s/b-mix/adapter.json", g_root);
    unlink(path);
    CHECK(task_runtime_reload_adapters(rt, err, sizeof(err)) == TASK_OK);
    na = task_runtime_adapters(rt, &ai);
    CHECK(na == 4);
    if (resp[2])
        CHECK(resp[2]->results[0].u.labels[0].label[0] == 'n' ||
              resp[2]->results[0].u.labels[0].label[0] == 'p');
    struct task_response *r1 = NULL;
    rq[0].adapter = "sent-mix";
    CHECK(task_run(rt, wk, &rq[0], &r1, err, sizeof(err)) == TASK_ENOTFOUND);
    CHECK(strstr(err, "sent-mix") != NULL);
    rq[0].adapter = "default-embed";
    CHECK(task_run(rt, wk, &rq[0], &r1, err, sizeof(err)) == TASK_EINVAL);
    (void)rm;

    /* A bad adapter in the directory: reload fails, the old set stays. */
    struct fx_tensor bad_lin[2] = {lin[0], lin[1]};
    snprintf(json, sizeof(json),
             "{\"format\": \"socle-adapter/1\", \"name\": \"two\", \"task\": \"classify\", "
             "\"labels\": [\"a\", \"b\"], \"head\": \"linear\"}");
    CHECK(fx_write_adapter(g_root, "c-bad", json, bad_lin, 2, 0) == 0);
    err[0] = 0;
    CHECK(task_runtime_reload_adapters(rt, err, sizeof(err)) == TASK_EFORMAT);
    CHECK(strstr(err, "2 labels but the head has 3 outputs") != NULL);
    CHECK(task_runtime_adapters(rt, &ai) == 4);

    for (int i = 0; i < 3; i++)
        task_response_free(resp[i]);
    task_worker_free(wk);
texts_out:
    free(buf);
    free(texts);
    free(lens);
out:
    task_runtime_free(rt);
    {
        const char *all[] = {"a-lin", "b-mix", "c-bad"};
        fx_rm_adapters(g_root, all, 3);
        mkdir(g_root, 0755);
    }
    free(w);
    free(b);
    task_runtime_free(rt0);
}

/* Each malformed adapter.json / head is refused with a message naming the problem. */
static void test_validation(const char *dir) {
    char err[512];
    struct task_runtime *rt = NULL;
    struct task_runtime_params p = {dir, NULL};
    if (task_runtime_open(&p, &rt, err, sizeof(err)) != TASK_OK)
        return;
    const struct eng_model *m = task_runtime_model(rt);
    const struct eng_model_info *info = eng_model_get_info(m);
    static float w[3 * 32], b[3], dw[16 * 32], db[16], w16[3 * 16];
    for (int i = 0; i < 3 * 32; i++)
        w[i] = (float)(i % 7) * 0.125f - 0.375f;
    struct fx_tensor lin[2] = {{"out.weight", 2, {3, 32}, w}, {"out.bias", 1, {3, 0}, b}};
    struct fx_tensor mlp[4] = {{"dense.weight", 2, {16, 32}, dw},
                               {"dense.bias", 1, {16, 0}, db},
                               {"out.weight", 2, {3, 16}, w16},
                               {"out.bias", 1, {3, 0}, b}};
    struct fx_tensor qa_bad[2] = {lin[0], lin[1]}; /* 3 rows, qa needs 2 */
    struct {
        const char *json;
        const struct fx_tensor *t;
        size_t n;
        int f16;
        int rc;
        const char *msg;
    } cases[] = {
        {"{\"format\":\"socle-adapter/"
         "1\",\"name\":\"x\",\"task\":\"classify\",\"labels\":[\"a\",\"b\",\"c\"]}",
         lin, 2, 0, TASK_OK, NULL},
        {"{\"format\":\"socle-adapter/"
         "1\",\"name\":\"x\",\"task\":\"classify\",\"labels\":[\"a\",\"b\",\"c\"]}",
         lin, 2, 1, TASK_OK, NULL}, /* float16 head */
        {"{\"format\":\"socle-adapter/"
         "1\",\"name\":\"x\",\"task\":\"classify\",\"labels\":[\"a\",\"b\",\"c\"],"
         "\"head\":\"mlp\",\"activation\":\"gelu\",\"pooling\":\"mean\"}",
         mlp, 4, 0, TASK_OK, NULL},
        {"{\"format\":\"socle-adapter/"
         "1\",\"name\":\"x\",\"task\":\"ner\",\"labels\":[\"O\",\"B-X\",\"I-X\"],"
         "\"scheme\":\"BIOES\"}",
         lin, 2, 0, TASK_OK, NULL},
        {"{\"format\":\"socle-adapter/"
         "1\",\"name\":\"x\",\"task\":\"classify\",\"labels\":[\"a\",\"b\"]}",
         lin, 2, 0, TASK_EFORMAT, "2 labels but the head has 3 outputs"},
        {"{\"format\":\"socle-adapter/1\",\"name\":\"x\",\"task\":\"qa\"}", qa_bad, 2, 0,
         TASK_EFORMAT, "out.weight has shape (3, 32), expected (2, 32)"},
        {"{\"format\":\"socle-adapter/"
         "1\",\"name\":\"x\",\"task\":\"classify\",\"labels\":[\"a\",\"b\",\"c\"],"
         "\"backbone\":{\"model_type\":\"bert\",\"d_model\":256}}",
         lin, 2, 0, TASK_EFORMAT, "backbone d_model 256, loaded model has 32"},
        {"{\"format\":\"socle-adapter/"
         "1\",\"name\":\"x\",\"task\":\"classify\",\"labels\":[\"a\",\"b\",\"c\"],"
         "\"backbone\":{\"model_type\":\"roberta\"}}",
         lin, 2, 0, TASK_EFORMAT, "backbone model_type roberta"},
        {"{\"format\":\"socle-adapter/"
         "1\",\"name\":\"x\",\"task\":\"classify\",\"labels\":[\"a\",\"b\",\"c\"],"
         "\"layers\":[5]}",
         lin, 2, 0, TASK_EFORMAT, "layers[0] out of range"},
        {"{\"format\":\"socle-adapter/"
         "1\",\"name\":\"x\",\"task\":\"classify\",\"labels\":[\"a\",\"b\",\"c\"],"
         "\"layers\":[1,2]}",
         lin, 2, 0, TASK_EFORMAT, "mix.weight missing"},
        {"{\"format\":\"socle-adapter/2\",\"name\":\"x\",\"task\":\"classify\"}", lin, 2, 0,
         TASK_EFORMAT, "format must be"},
        {"{\"format\":\"socle-adapter/1\",\"name\":\"x\",\"task\":\"translate\"}", lin, 2, 0,
         TASK_EFORMAT, "task must be"},
        {"{\"format\":\"socle-adapter/"
         "1\",\"name\":\"x\",\"task\":\"classify\",\"labels\":[\"a\",\"b\",\"c\"],"
         "\"head\":\"mlp\"}",
         lin, 2, 0, TASK_EFORMAT, "dense.weight missing"},
        {"not json", lin, 2, 0, TASK_EFORMAT, "not a JSON object"},
        /* qa adapters may record their training windows (socled's defaults for them) */
        {"{\"format\":\"socle-adapter/1\",\"name\":\"x\",\"task\":\"qa\","
         "\"qa\":{\"max_seq_len\":0}}",
         qa_bad, 2, 0, TASK_EFORMAT, "qa.max_seq_len must be a positive integer"},
        {"{\"format\":\"socle-adapter/1\",\"name\":\"x\",\"task\":\"qa\","
         "\"qa\":{\"doc_stride\":\"16\"}}",
         qa_bad, 2, 0, TASK_EFORMAT, "qa.doc_stride must be a positive integer"},
        /* summarize adapters: a sentence scorer, salience = P("summary") */
        {"{\"format\":\"socle-adapter/"
         "1\",\"name\":\"x\",\"task\":\"summarize\",\"labels\":[\"a\",\"summary\",\"c\"],"
         "\"pooling\":\"mean\"}",
         lin, 2, 0, TASK_OK, NULL},
        {"{\"format\":\"socle-adapter/"
         "1\",\"name\":\"x\",\"task\":\"summarize\",\"labels\":[\"a\",\"b\",\"c\"]}",
         lin, 2, 0, TASK_EFORMAT, "one of them \"summary\""},
        {"{\"format\":\"socle-adapter/"
         "1\",\"name\":\"x\",\"task\":\"summarize\",\"labels\":[\"a\",\"summary\",\"c\"],"
         "\"pooling\":\"cls\"}",
         lin, 2, 0, TASK_EFORMAT, "pooling must be mean"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK(fx_write_adapter(g_root, "v", cases[i].json, cases[i].t, cases[i].n, cases[i].f16) ==
              0);
        char sub[600];
        snprintf(sub, sizeof(sub), "%s/v", g_root);
        struct task_head *h = NULL;
        err[0] = 0;
        int rc = task_head_load_dir(sub, m, &h, err, sizeof(err));
        if (rc != cases[i].rc || (cases[i].msg && !strstr(err, cases[i].msg))) {
            fprintf(stderr, "case %zu: rc %d (%s), want %d \"%s\"\n", i, rc, err, cases[i].rc,
                    cases[i].msg ? cases[i].msg : "");
            g_fail++;
        }
        if (i == 1 && h) /* float16 storage: 0.125 multiples are exact in half precision */
            CHECK(h->out_w[5] == w[5] && h->out_w[95] == w[95]);
        if (i == 2 && h)
            CHECK(h->mlp && h->d_hidden == 16 && h->act == TASK_ACT_GELU &&
                  h->pool == TASK_HPOOL_MEAN);
        if (i == 3 && h)
            CHECK(h->kind == TASK_NER && h->scheme == TASK_SCHEME_BIOES);
        if (cases[i].rc == TASK_OK && h && h->kind == TASK_SUMMARIZE) {
            float v[32], scratch[256];
            for (int k = 0; k < 32; k++)
                v[k] = (float)k / 32.0f;
            float logits[3] = {b[0], b[1], b[2]};
            for (int r = 0; r < 3; r++)
                for (int k = 0; k < 32; k++)
                    logits[r] += w[r * 32 + k] * v[k];
            double z = exp(logits[0]) + exp(logits[1]) + exp(logits[2]);
            CHECK(h->score_label == 1 && h->pool == TASK_HPOOL_MEAN);
            CHECK(task_head_scratch(h, 1) <= 256);
            CHECK(close_to(task_head_salience(h, v, scratch), (float)(exp(logits[1]) / z)));
        }
        task_head_free(h);
    }
    (void)info;
    const char *all[] = {"v"};
    fx_rm_adapters(g_root, all, 1);
    mkdir(g_root, 0755);
    task_runtime_free(rt);
}

static void test_one_pass(const char *dir) {
    char err[512] = "";
    static float w[2 * 32], b[2] = {0.1f, -0.1f};
    for (int i = 0; i < 64; i++)
        w[i] = (float)((i * 37) % 11) * 0.05f - 0.25f;
    struct fx_tensor lin[2] = {{"out.weight", 2, {2, 32}, w}, {"out.bias", 1, {2, 0}, b}};
    CHECK(fx_write_adapter(
              g_root, "topic",
              "{\"format\":\"socle-adapter/1\",\"name\":\"topic\","
              "\"task\":\"classify\",\"labels\":[\"sport\",\"politics\"],\"pooling\":\"mean\"}",
              lin, 2, 0) == 0);
    struct fx_tensor one[2] = {{"out.weight", 2, {1, 32}, w}, {"out.bias", 1, {1, 0}, b}};
    CHECK(fx_write_adapter(g_root, "single",
                           "{\"format\":\"socle-adapter/1\",\"name\":\"single\","
                           "\"task\":\"classify\",\"labels\":[\"toxic\"]}",
                           one, 2, 0) == 0);
    struct task_runtime *rt = NULL;
    struct task_runtime_params p = {dir, g_root};
    CHECK(task_runtime_open(&p, &rt, err, sizeof(err)) == TASK_OK);
    if (!rt) {
        fprintf(stderr, "open: %s\n", err);
        return;
    }
    char *buf;
    char **texts;
    size_t *lens;
    size_t n = fx_read_lines(dir, "texts.txt", &buf, &texts, &lens);
    struct task_request rq[2] = {{.kind = TASK_CLASSIFY,
                                  .adapter = "topic",
                                  .n_texts = n,
                                  .texts = (const char *const *)texts,
                                  .text_lens = lens},
                                 {.kind = TASK_NER,
                                  .n_texts = n,
                                  .texts = (const char *const *)texts,
                                  .text_lens = lens,
                                  .opts.ner = {.aggregation = TASK_AGG_SIMPLE}}};
    struct task_job *job = NULL;
    CHECK(task_job_prepare(rt, rq, 2, &job, err, sizeof(err)) == TASK_OK);
    if (job)
        CHECK(task_job_n_seqs(job) == n); /* classify + ner share every sequence */
    task_job_free(job);

    /* A single-output head gets a sigmoid, as HF's pipeline does (not a softmax = 1). */
    struct task_request one_rq = {.kind = TASK_CLASSIFY,
                                  .adapter = "single",
                                  .n_texts = 1,
                                  .texts = (const char *const *)texts,
                                  .text_lens = lens};
    job = NULL;
    CHECK(task_job_prepare(rt, &one_rq, 1, &job, err, sizeof(err)) == TASK_OK);
    struct task_worker *w1 = NULL;
    CHECK(task_worker_new(rt, 0, &w1) == TASK_OK);
    if (job && w1 && task_job_run(job, w1, err, sizeof(err)) == TASK_OK) {
        const float *o;
        size_t r_, c_;
        CHECK(task_job_unit_output(job, 0, 0, 0, &o, &r_, &c_) == TASK_OK && c_ == 1);
        float logit = o[0];
        struct task_response *r1 = NULL;
        CHECK(task_job_finish(job, &r1, err, sizeof(err)) == TASK_OK);
        if (r1) {
            CHECK(r1->results[0].n_items == 1);
            CHECK_NEAR(r1->results[0].u.labels[0].score, 1.0 / (1.0 + exp(-(double)logit)), 1e-6);
        }
        task_response_free(r1);
    }
    task_job_free(job);
    task_worker_free(w1);
    struct task_worker *wk = NULL;
    CHECK(task_worker_new(rt, 0, &wk) == TASK_OK);
    struct task_response *both[2] = {0}, *c1 = NULL, *n1 = NULL;
    CHECK(task_run_multi(rt, wk, rq, 2, both, err, sizeof(err)) == TASK_OK);
    CHECK(task_run(rt, wk, &rq[0], &c1, err, sizeof(err)) == TASK_OK);
    CHECK(task_run(rt, wk, &rq[1], &n1, err, sizeof(err)) == TASK_OK);
    if (both[0] && both[1] && c1 && n1) {
        for (size_t i = 0; i < n; i++) {
            struct task_result *a = &both[0]->results[i], *b1 = &c1->results[i];
            CHECK(a->n_items == 2 && b1->n_items == 2);
            CHECK(strcmp(a->u.labels[0].label, b1->u.labels[0].label) == 0);
            CHECK(a->u.labels[0].score == b1->u.labels[0].score);
            struct task_result *x = &both[1]->results[i], *y = &n1->results[i];
            CHECK(x->n_items == y->n_items);
            for (size_t k = 0; k < x->n_items && k < y->n_items; k++) {
                CHECK(strcmp(x->u.entities[k].type, y->u.entities[k].type) == 0);
                CHECK(x->u.entities[k].span.start == y->u.entities[k].span.start);
                CHECK(x->u.entities[k].span.end == y->u.entities[k].span.end);
                CHECK(x->u.entities[k].score == y->u.entities[k].score);
            }
        }
    }
    task_response_free(both[0]);
    task_response_free(both[1]);
    task_response_free(c1);
    task_response_free(n1);
    task_worker_free(wk);
    task_runtime_free(rt);
    free(buf);
    free(texts);
    free(lens);
    const char *all[] = {"topic", "single"};
    fx_rm_adapters(g_root, all, 2);
}

int main(void) {
    char d1[1024], d2[1024];
    const char *seqcls = fx_dir("bert-seqcls", d1, sizeof(d1));
    const char *tokcls = fx_dir("bert-tokcls", d2, sizeof(d2));
    if (!seqcls || !tokcls) {
        fprintf(stderr, "fixtures absent: skipped\n");
        return 77;
    }
    snprintf(g_root, sizeof(g_root), "/tmp/socle-task-adapters-XXXXXX");
    if (!mkdtemp(g_root))
        return 1;
    test_seqcls_adapters(seqcls);
    test_validation(seqcls);
    test_one_pass(tokcls);
    rmdir(g_root);
    fprintf(stderr, "%d checks, %d failed\n", g_checks, g_fail);
    return g_fail ? 1 : 0;
}
