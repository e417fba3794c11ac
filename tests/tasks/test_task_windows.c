/* test_task_windows.c — long-text NER windows merged with no duplicate and no cut
 * entity, through the real tokenizer and windowing (task_job_prepare) and the split
 * API: hidden states are synthetic so that the labels are known in advance.
 *
 * Model: bert-tokcls (d_model 32) with an adapter "span" whose head reads hidden
 * dimensions 0, 1, 2 as the logits of O, B-X, I-X (identity rows). The text is
 * single-token words, ~3000 tokens, cut by the default windows (510 content tokens,
 * overlap 128: window w covers content tokens [382 w, 382 w + 510)). Entities are
 * placed across window edges: cut at the end of one window, or starting before
 * another; each must come out exactly once, whole, with its exact offsets. */
#include <stdlib.h>
#include <string.h>

#include "tasks/task_impl.h"
#include "tests/tasks/check.h"
#include "tests/tasks/fixture.h"

static const char *const k_words[] = {"the", "cat", "sat", "on", "the", "mat", "and"};
enum { N_WORDS = 3000, D = 32 };

struct ent {
    size_t start, len;
};
static const struct ent k_ents[] = {
    {100, 2},  /* inside window 0 */
    {379, 6},  /* starts before window 1 begins (382) */
    {505, 6},  /* cut by the end of window 0 (510) */
    {760, 3},  /* starts before window 2 (764) */
    {888, 8},  /* cut by the end of window 1 (892) */
    {1146, 1}, /* first token of window 3 */
    {1655, 5}, /* cut by the end of window 3 (1656) */
    {2999, 1}, /* last token of the text */
};
enum { N_ENTS = sizeof(k_ents) / sizeof(k_ents[0]) };

static int label_of(size_t c) {
    for (size_t k = 0; k < N_ENTS; k++) {
        if (c == k_ents[k].start)
            return 1;
        if (c > k_ents[k].start && c < k_ents[k].start + k_ents[k].len)
            return 2;
    }
    return 0;
}

int main(void) {
    char d[1024];
    const char *dir = fx_dir("bert-tokcls", d, sizeof(d));
    if (!dir) {
        fprintf(stderr, "fixture absent: skipped\n");
        return 77;
    }
    /* The text and each word's byte offset. */
    static size_t wstart[N_WORDS], wend[N_WORDS];
    char *text = malloc(N_WORDS * 5 + 1);
    size_t len = 0;
    for (size_t i = 0; i < N_WORDS; i++) {
        const char *w = k_words[i % 7];
        if (i)
            text[len++] = ' ';
        wstart[i] = len;
        memcpy(text + len, w, strlen(w));
        len += strlen(w);
        wend[i] = len;
    }
    text[len] = 0;

    char root[] = "/tmp/socle-task-windows-XXXXXX";
    if (!mkdtemp(root))
        return 1;
    static float w[3 * D], b[3];
    for (int l = 0; l < 3; l++)
        w[l * D + l] = 1.0f;
    struct fx_tensor lin[2] = {{"out.weight", 2, {3, D}, w}, {"out.bias", 1, {3, 0}, b}};
    fx_write_adapter(root, "span",
                     "{\"format\":\"socle-adapter/1\",\"name\":\"span\",\"task\":\"ner\","
                     "\"labels\":[\"O\",\"B-X\",\"I-X\"]}",
                     lin, 2, 0);
    char err[512] = "";
    struct task_runtime *rt = NULL;
    struct task_runtime_params p = {dir, root};
    int rc = task_runtime_open(&p, &rt, err, sizeof(err));
    const char *names[] = {"span"};
    fx_rm_adapters(root, names, 1);
    CHECK(rc == TASK_OK);
    if (rc != TASK_OK) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }

    const char *texts[] = {text};
    struct task_request rq = {.kind = TASK_NER,
                              .adapter = "span",
                              .n_texts = 1,
                              .texts = texts,
                              .text_lens = &len,
                              .opts.ner = {.aggregation = TASK_AGG_SIMPLE}};
    for (int pass = 0; pass < 2; pass++) {
        /* pass 1: strategy first (one token per word here, same entities). */
        rq.opts.ner.aggregation = pass ? TASK_AGG_FIRST : TASK_AGG_SIMPLE;
        struct task_job *job = NULL;
        CHECK(task_job_prepare(rt, &rq, 1, &job, err, sizeof(err)) == TASK_OK);
        if (!job)
            break;
        CHECK(task_job_n_seqs(job) == 8);
        float *h = calloc(512 * D, sizeof(float));
        for (size_t win = 0; win < 8; win++) {
            size_t s;
            struct task_seq sq;
            CHECK(task_job_unit_seq(job, 0, 0, win, &s) == TASK_OK);
            task_job_get_seq(job, s, &sq);
            size_t a = win * 382;
            CHECK(sq.n_tokens == 2 + (a + 510 < N_WORDS ? 510 : N_WORDS - a));
            memset(h, 0, 512 * D * sizeof(float));
            for (size_t r = 0; r < sq.n_tokens; r++) {
                int l = (r == 0 || r + 1 == sq.n_tokens) ? 0 : label_of(a + r - 1);
                h[r * D + (size_t)l] = 10.0f;
            }
            CHECK(task_job_consume(job, s, h, NULL, 0) == TASK_OK);
        }
        free(h);
        struct task_response *resp = NULL;
        CHECK(task_job_finish(job, &resp, err, sizeof(err)) == TASK_OK);
        task_job_free(job);
        if (!resp)
            break;
        struct task_result *x = &resp->results[0];
        CHECK(x->status == TASK_OK && x->n_items == N_ENTS);
        double pe = exp(10.0) / (exp(10.0) + 2.0);
        for (size_t k = 0; k < x->n_items && k < N_ENTS; k++) {
            const struct task_entity *e = &x->u.entities[k];
            size_t s0 = k_ents[k].start, s1 = s0 + k_ents[k].len - 1;
            CHECK_STR(e->type, "X");
            CHECK(e->span.start == wstart[s0] && e->span.end == wend[s1]);
            CHECK(e->span.cp_start == wstart[s0] && e->span.cp_end == wend[s1]); /* ASCII */
            CHECK(strlen(e->word) == wend[s1] - wstart[s0] &&
                  memcmp(e->word, text + wstart[s0], strlen(e->word)) == 0);
            CHECK_NEAR(e->score, pe, 1e-6);
        }
        task_response_free(resp);
    }
    task_runtime_free(rt);
    free(text);
    fprintf(stderr, "%d checks, %d failed\n", g_checks, g_fail);
    return g_fail ? 1 : 0;
}
