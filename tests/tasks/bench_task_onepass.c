/* bench_task_onepass.c — "several tasks, one pass": classify + ner on the same 100
 * texts as one job (task_run_multi) versus two requests (two task_run calls).
 *
 * Model: the bert-tokcls fixture (its ner head) plus a classify adapter written to a
 * temporary directory; texts: the first 100 distinct lines of the tokenizer corpus.
 * Validates first (both ways give identical results), then times `reps` runs of each
 * after a warm-up and prints the medians and the ratio. Exit 77 without fixtures.
 * Usage: bench_task_onepass [reps [model_dir]]   (ctest label bench-smoke runs reps = 3).
 * With model_dir (e.g. models/socle-mini): its adapters/ directory, adapters
 * "sentiment" (classify) and "ner". */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tasks/task_impl.h"
#include "tests/tasks/check.h"
#include "tests/tasks/fixture.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    if (reps < 1 || reps > 100)
        reps = 5;
    char d[1024], cdir[1200], adir[1200];
    const char *dir = argc > 2 ? argv[2] : fx_dir("bert-tokcls", d, sizeof(d));
    const char *shared = getenv("SOCLE_SHARED_DIR");
    snprintf(cdir, sizeof(cdir), "%s/fixtures/tokenizer", shared ? shared : "../shared");
    char *cbuf;
    char **lines;
    size_t *lens;
    size_t nl = dir ? fx_read_lines(cdir, "corpus.txt", &cbuf, &lines, &lens) : 0;
    if (!dir || nl < 100) {
        fprintf(stderr, "fixtures absent: skipped\n");
        return 77;
    }
    enum { N = 100 };
    const char *texts[N];
    size_t tl[N], n = 0;
    for (size_t i = 0; i < nl && n < N; i++) {
        bool dup = lens[i] == 0;
        for (size_t k = 0; k < n && !dup; k++)
            dup = tl[k] == lens[i] && memcmp(texts[k], lines[i], lens[i]) == 0;
        if (!dup) {
            texts[n] = lines[i];
            tl[n++] = lens[i];
        }
    }

    char root[] = "/tmp/socle-bench-onepass-XXXXXX";
    const char *cls_name = "topic", *ner_name = NULL, *adapters = root;
    if (argc > 2) {
        snprintf(adir, sizeof(adir), "%s/adapters", argv[2]);
        adapters = adir;
        cls_name = "sentiment";
        ner_name = "ner";
    } else {
        if (!mkdtemp(root))
            return 1;
        static float w[2 * 32], b[2] = {0.05f, -0.05f};
        for (int i = 0; i < 64; i++)
            w[i] = (float)((i * 29) % 13) * 0.04f - 0.24f;
        struct fx_tensor lin[2] = {{"out.weight", 2, {2, 32}, w}, {"out.bias", 1, {2, 0}, b}};
        fx_write_adapter(root, "topic",
                         "{\"format\":\"socle-adapter/1\",\"name\":\"topic\","
                         "\"task\":\"classify\",\"labels\":[\"a\",\"b\"],\"pooling\":\"cls\"}",
                         lin, 2, 0);
    }
    char err[512] = "";
    struct task_runtime *rt = NULL;
    struct task_runtime_params p = {dir, adapters};
    int rc = task_runtime_open(&p, &rt, err, sizeof(err));
    if (argc <= 2) {
        const char *names[] = {"topic"};
        fx_rm_adapters(root, names, 1);
    }
    if (rc != TASK_OK) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    struct task_worker *wk = NULL;
    CHECK(task_worker_new(rt, 0, &wk) == TASK_OK);
    struct task_request rq[2] = {
        {.kind = TASK_CLASSIFY, .adapter = cls_name, .n_texts = n, .texts = texts, .text_lens = tl},
        {.kind = TASK_NER,
         .adapter = ner_name,
         .n_texts = n,
         .texts = texts,
         .text_lens = tl,
         .opts.ner = {.aggregation = TASK_AGG_SIMPLE}}};

    /* Validate: one job == two requests. */
    struct task_response *both[2] = {0}, *c = NULL, *e = NULL;
    CHECK(task_run_multi(rt, wk, rq, 2, both, err, sizeof(err)) == TASK_OK);
    CHECK(task_run(rt, wk, &rq[0], &c, err, sizeof(err)) == TASK_OK);
    CHECK(task_run(rt, wk, &rq[1], &e, err, sizeof(err)) == TASK_OK);
    size_t tokens = 0;
    for (size_t i = 0; g_fail == 0 && i < n; i++) {
        CHECK(both[0]->results[i].u.labels[0].score == c->results[i].u.labels[0].score);
        CHECK(both[1]->results[i].n_items == e->results[i].n_items);
        tokens += e->results[i].n_tokens;
    }
    task_response_free(both[0]);
    task_response_free(both[1]);
    task_response_free(c);
    task_response_free(e);

    double t1[100], t2[100];
    for (int r = -1; r < reps; r++) { /* r = -1: warm-up */
        double a = now_s();
        task_run_multi(rt, wk, rq, 2, both, err, sizeof(err));
        double m = now_s();
        task_run(rt, wk, &rq[0], &c, err, sizeof(err));
        task_run(rt, wk, &rq[1], &e, err, sizeof(err));
        double z = now_s();
        task_response_free(both[0]);
        task_response_free(both[1]);
        task_response_free(c);
        task_response_free(e);
        if (r >= 0) {
            t1[r] = m - a;
            t2[r] = z - m;
        }
    }
    qsort(t1, (size_t)reps, sizeof(double), cmp_d);
    qsort(t2, (size_t)reps, sizeof(double), cmp_d);
    double m1 = t1[reps / 2], m2 = t2[reps / 2];
    const struct eng_model_info *mi = eng_model_get_info(task_runtime_model(rt));
    printf("classify+ner, %zu texts, %zu tokens, %d reps (%s, d_model %d, %d layers)\n", n, tokens,
           reps, dir, mi->d_model, mi->n_layers);
    printf("  one job (task_run_multi): median %.2f ms  [min %.2f, max %.2f]\n", m1 * 1e3,
           t1[0] * 1e3, t1[reps - 1] * 1e3);
    printf("  two requests (task_run x2): median %.2f ms  [min %.2f, max %.2f]\n", m2 * 1e3,
           t2[0] * 1e3, t2[reps - 1] * 1e3);
    printf("  ratio two/one = %.2f\n", m2 / m1);
    task_worker_free(wk);
    task_runtime_free(rt);
    free(cbuf);
    free(lines);
    free(lens);
    return g_fail ? 1 : 0;
}
