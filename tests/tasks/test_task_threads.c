/* test_task_threads.c — one shared runtime, two worker threads running requests
 * while the main thread reloads the adapters directory (SIGHUP path) and changes
 * it. Requests in flight keep the adapter set they started with: their responses'
 * label strings stay valid after any number of reloads (ASan would catch a
 * use-after-free), and every request gets a full answer. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tasks/task_impl.h"
#include "tests/tasks/check.h"
#include "tests/tasks/fixture.h"

enum { N_ROUNDS = 12 };

struct arg {
    struct task_runtime *rt;
    const char *const *texts;
    const size_t *lens;
    size_t n;
    int failures, labels_seen;
};

static void *worker(void *p) {
    struct arg *a = p;
    struct task_worker *w = NULL;
    if (task_worker_new(a->rt, 0, &w) != TASK_OK) {
        a->failures++;
        return NULL;
    }
    struct task_response *keep[N_ROUNDS] = {0};
    for (int r = 0; r < N_ROUNDS; r++) {
        struct task_request rq[2] = {
            {.kind = TASK_CLASSIFY,
             .adapter = "topic",
             .n_texts = a->n,
             .texts = a->texts,
             .text_lens = a->lens},
            {.kind = TASK_NER, .n_texts = a->n, .texts = a->texts, .text_lens = a->lens}};
        struct task_response *out[2] = {0};
        char err[256];
        if (task_run_multi(a->rt, w, rq, 2, out, err, sizeof(err)) != TASK_OK) {
            a->failures++;
            continue;
        }
        if (out[0]->n_results != a->n || out[1]->n_results != a->n)
            a->failures++;
        keep[r] = out[0];
        task_response_free(out[1]);
    }
    /* Read every kept response after the reloads happened. */
    for (int r = 0; r < N_ROUNDS; r++) {
        if (!keep[r])
            continue;
        for (size_t i = 0; i < keep[r]->n_results; i++) {
            const char *l = keep[r]->results[i].u.labels[0].label;
            if (strcmp(l, "sport") == 0 || strcmp(l, "politics") == 0)
                a->labels_seen++;
            else
                a->failures++;
        }
        task_response_free(keep[r]);
    }
    task_worker_free(w);
    return NULL;
}

int main(void) {
    char d[1024];
    const char *dir = fx_dir("bert-tokcls", d, sizeof(d));
    if (!dir) {
        fprintf(stderr, "fixture absent: skipped\n");
        return 77;
    }
    char root[] = "/tmp/socle-task-threads-XXXXXX";
    if (!mkdtemp(root))
        return 1;
    static float w[2 * 32], b[2];
    for (int i = 0; i < 64; i++)
        w[i] = (float)(i % 5) * 0.1f - 0.2f;
    struct fx_tensor lin[2] = {{"out.weight", 2, {2, 32}, w}, {"out.bias", 1, {2, 0}, b}};
    const char *json = "{\"format\":\"socle-adapter/1\",\"name\":\"topic\",\"task\":\"classify\","
                       "\"labels\":[\"sport\",\"politics\"]}";
    fx_write_adapter(root, "topic", json, lin, 2, 0);
    char err[512];
    struct task_runtime *rt = NULL;
    struct task_runtime_params p = {dir, root};
    CHECK(task_runtime_open(&p, &rt, err, sizeof(err)) == TASK_OK);
    if (!rt)
        return 1;
    char *buf = NULL, **texts = NULL;
    size_t *lens = NULL;
    size_t n = fx_read_lines(dir, "texts.txt", &buf, &texts, &lens);
    struct arg a[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        a[i] = (struct arg){rt, (const char *const *)texts, lens, n, 0, 0};
        pthread_create(&th[i], NULL, worker, &a[i]);
    }
    /* Reload repeatedly, also with a second adapter appearing and disappearing. */
    int reloads = 0;
    for (int k = 0; k < 30; k++) {
        if (k % 2)
            fx_write_adapter(root, "z-extra",
                             "{\"format\":\"socle-adapter/1\",\"name\":\"extra\","
                             "\"task\":\"classify\",\"labels\":[\"x\",\"y\"]}",
                             lin, 2, 0);
        else {
            const char *nm[] = {"z-extra"};
            char sub[600];
            snprintf(sub, sizeof(sub), "%s/z-extra/adapter.json", root);
            unlink(sub);
            (void)nm;
        }
        reloads += task_runtime_reload_adapters(rt, err, sizeof(err)) == TASK_OK;
        const struct task_adapter_info *ai;
        size_t na = task_runtime_adapters(rt, &ai);
        CHECK(na == 4 || na == 5);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        CHECK(a[i].failures == 0);
        CHECK(a[i].labels_seen == (int)(N_ROUNDS * n));
    }
    CHECK(reloads == 30);
    task_runtime_free(rt);
    const char *all[] = {"topic", "z-extra"};
    fx_rm_adapters(root, all, 2);
    free(buf);
    free(texts);
    free(lens);
    fprintf(stderr, "%d checks, %d failed\n", g_checks, g_fail);
    return g_fail ? 1 : 0;
}
