/* test_task_mini.c — the default model (models/socle-mini, trained by tools/socle_mini)
 * with its adapter directory: every adapter's outputs through task_job_* must equal
 * models/socle-mini/reference.json (PyTorch float32 on the same float16 weights, written
 * by tools/socle_mini/finalize.py) within its stated tolerance 1e-4 (+ 1e-4 |ref|),
 * after checking that our tokenizer gives the reference ids and type ids.
 * All adapters run in one job: the backbone runs once per text for the 4 of them.
 * Exit 77 when the model is absent. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <utf8proc.h>

#include "tasks/task_impl.h"
#include "tests/tasks/check.h"

static size_t n_bad, n_cmp;

static void cmp(float ours, double ref, const char *what, size_t i, size_t t) {
    n_cmp++;
    if (!(fabs((double)ours - ref) <= 1e-4 + 1e-4 * fabs(ref))) {
        if (n_bad < 10)
            fprintf(stderr, "%s text %zu row %zu: ours %.7g ref %.7g\n", what, i, t, ours, ref);
        n_bad++;
    }
}

static bool same_ids(const struct task_seq *sq, json_object *ids, json_object *types) {
    if (json_object_array_length(ids) != sq->n_tokens)
        return false;
    for (size_t k = 0; k < sq->n_tokens; k++) {
        if (sq->ids[k] != json_object_get_int(json_object_array_get_idx(ids, k)))
            return false;
        if (types && sq->type_ids[k] != json_object_get_int(json_object_array_get_idx(types, k)))
            return false;
    }
    return true;
}

/* A span trimmed of white space (docs/tasks.md): slices text exactly to `word`, its
 * code-point offsets count the same characters, no white space at either end. */
static bool clean_span(const char *text, struct task_span sp, const char *word) {
    size_t wl = strlen(word);
    if (sp.end - sp.start != wl || memcmp(text + sp.start, word, wl) != 0)
        return false;
    if (sp.cp_start != task_utf8_count(text, sp.start) ||
        sp.cp_end - sp.cp_start != task_utf8_count(word, wl))
        return false;
    if (wl == 0)
        return true;
    size_t last = wl - 1;
    while (last > 0 && ((unsigned char)word[last] & 0xC0) == 0x80)
        last--;
    int32_t c0, c1;
    utf8proc_iterate((const utf8proc_uint8_t *)word, (utf8proc_ssize_t)wl, &c0);
    utf8proc_iterate((const utf8proc_uint8_t *)word + last, (utf8proc_ssize_t)(wl - last), &c1);
    return !task_is_space(c0) && !task_is_space(c1);
}

int main(void) {
    const char *src = getenv("SOCLE_SOURCE_DIR");
    char dir[1024], adir[1100], path[1200];
    snprintf(dir, sizeof(dir), "%s/models/socle-mini", src ? src : ".");
    snprintf(adir, sizeof(adir), "%s/adapters", dir);
    snprintf(path, sizeof(path), "%s/reference.json", dir);
    if (access(path, R_OK) != 0 || access(adir, R_OK) != 0) {
        fprintf(stderr, "models/socle-mini absent: skipped\n");
        return 77;
    }
    json_object *ref = json_object_from_file(path), *sents, *qas;
    CHECK(ref && json_object_object_get_ex(ref, "sentences", &sents) &&
          json_object_object_get_ex(ref, "qa", &qas));
    if (g_fail)
        return 1;
    char err[512] = "";
    struct task_runtime *rt = NULL;
    struct task_runtime_params p = {dir, adir};
    int rc = task_runtime_open(&p, &rt, err, sizeof(err));
    CHECK(rc == TASK_OK);
    if (rc != TASK_OK) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    struct task_worker *w = NULL;
    CHECK(task_worker_new(rt, 0, &w) == TASK_OK);

    /* Sentences: ner + the three classifiers in one job. */
    size_t n = json_object_array_length(sents);
    const char **texts = calloc(n, sizeof(char *));
    size_t *lens = calloc(n, sizeof(size_t));
    for (size_t i = 0; i < n; i++) {
        json_object *t;
        json_object_object_get_ex(json_object_array_get_idx(sents, i), "text", &t);
        texts[i] = json_object_get_string(t);
        lens[i] = strlen(texts[i]);
    }
    static const char *const names[] = {"ner", "sentiment", "topic", "topic-bbc"};
    struct task_request rq[4];
    for (int k = 0; k < 4; k++)
        rq[k] = (struct task_request){.kind = k == 0 ? TASK_NER : TASK_CLASSIFY,
                                      .adapter = names[k],
                                      .n_texts = n,
                                      .texts = texts,
                                      .text_lens = lens};
    struct task_job *job = NULL;
    CHECK(task_job_prepare(rt, rq, 4, &job, err, sizeof(err)) == TASK_OK);
    if (!job) {
        fprintf(stderr, "prepare: %s\n", err);
        return 1;
    }
    CHECK(task_job_n_seqs(job) == n); /* four adapters, one backbone pass per text */
    bool ids_ok = true;
    for (size_t i = 0; i < n; i++) {
        size_t s;
        struct task_seq sq;
        json_object *e = json_object_array_get_idx(sents, i), *ids, *ty;
        json_object_object_get_ex(e, "ids", &ids);
        json_object_object_get_ex(e, "type_ids", &ty);
        CHECK(task_job_unit_seq(job, 0, i, 0, &s) == TASK_OK);
        task_job_get_seq(job, s, &sq);
        if (!same_ids(&sq, ids, ty)) {
            fprintf(stderr, "text %zu: token ids differ from the reference\n", i);
            ids_ok = false;
        }
    }
    CHECK(ids_ok);
    CHECK(task_job_run(job, w, err, sizeof(err)) == TASK_OK);
    for (size_t i = 0; ids_ok && i < n; i++) {
        json_object *e = json_object_array_get_idx(sents, i), *ad, *v;
        json_object_object_get_ex(e, "adapters", &ad);
        for (int k = 0; k < 4; k++) {
            const float *out;
            size_t rows, cols;
            CHECK(json_object_object_get_ex(ad, names[k], &v));
            CHECK(task_job_unit_output(job, (size_t)k, i, 0, &out, &rows, &cols) == TASK_OK);
            if (k == 0) {
                CHECK(rows == json_object_array_length(v));
                for (size_t t = 0; t < rows && t < json_object_array_length(v); t++) {
                    json_object *row = json_object_array_get_idx(v, t);
                    for (size_t c = 0; c < cols; c++)
                        cmp(out[t * cols + c],
                            json_object_get_double(json_object_array_get_idx(row, c)), names[k], i,
                            t);
                }
            } else {
                CHECK(cols == json_object_array_length(v));
                for (size_t c = 0; c < cols; c++)
                    cmp(out[c], json_object_get_double(json_object_array_get_idx(v, c)), names[k],
                        i, 0);
            }
        }
    }
    task_job_free(job);

    /* SentencePiece "▁word" tokens cover the space before the word; entities come out
     * trimmed: span = exact slice of the word, no leading space (docs/tasks.md). */
    struct task_request nr = {.kind = TASK_NER, .adapter = "ner", .n_texts = n, .texts = texts,
                              .text_lens = lens};
    nr.opts.ner.aggregation = TASK_AGG_SIMPLE;
    struct task_response *nresp = NULL;
    CHECK(task_run(rt, w, &nr, &nresp, err, sizeof(err)) == TASK_OK);
    size_t n_ents = 0;
    for (size_t i = 0; nresp && i < n; i++) {
        const struct task_result *r = &nresp->results[i];
        for (size_t k = 0; r->status == TASK_OK && k < r->n_items; k++, n_ents++) {
            const struct task_entity *en = &r->u.entities[k];
            bool ok = clean_span(texts[i], en->span, en->word);
            if (!ok)
                fprintf(stderr, "ner text %zu: entity \"%s\" [%zu,%zu) not a clean span\n", i,
                        en->word, en->span.start, en->span.end);
            CHECK(ok);
        }
    }
    CHECK(n_ents > 0);
    task_response_free(nresp);

    /* The summarize adapter: each reference sentence is a one-sentence text, so the
     * summarizer encodes exactly the reference ids and its score is the adapter's
     * salience, softmax(logits)["summary"] of the mean-pooled states (finalize.py). */
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(sents, i), *ad, *v;
        json_object_object_get_ex(e, "adapters", &ad);
        CHECK(json_object_object_get_ex(ad, "summarize-bbc", &v) &&
              json_object_array_length(v) == 2);
        double l0 = json_object_get_double(json_object_array_get_idx(v, 0)),
               l1 = json_object_get_double(json_object_array_get_idx(v, 1));
        double want = 1.0 / (1.0 + exp(l0 - l1)); /* labels: other, summary */
        struct task_request sr = {.kind = TASK_SUMMARIZE, .adapter = "summarize-bbc",
                                  .n_texts = 1, .texts = &texts[i], .text_lens = &lens[i]};
        struct task_response *sresp = NULL;
        CHECK(task_run(rt, w, &sr, &sresp, err, sizeof(err)) == TASK_OK);
        const struct task_result *r = sresp ? &sresp->results[0] : NULL;
        CHECK(r && r->status == TASK_OK && r->n_items == 1);
        if (r && r->status == TASK_OK && r->n_items == 1)
            cmp(r->u.sentences[0].score, want, "summarize-bbc", i, 0);
        task_response_free(sresp);
    }

    /* QA pairs. */
    size_t nq = json_object_array_length(qas);
    for (size_t i = 0; i < nq; i++) {
        json_object *e = json_object_array_get_idx(qas, i), *q, *c, *ids, *ty, *sl, *el;
        json_object_object_get_ex(e, "question", &q);
        json_object_object_get_ex(e, "context", &c);
        json_object_object_get_ex(e, "ids", &ids);
        json_object_object_get_ex(e, "type_ids", &ty);
        json_object_object_get_ex(e, "start_logits", &sl);
        json_object_object_get_ex(e, "end_logits", &el);
        const char *qt[1] = {json_object_get_string(q)}, *ct[1] = {json_object_get_string(c)};
        size_t ql = strlen(qt[0]), cl = strlen(ct[0]);
        struct task_request r = {.kind = TASK_QA,
                                 .adapter = "qa",
                                 .n_texts = 1,
                                 .texts = qt,
                                 .text_lens = &ql,
                                 .contexts = ct,
                                 .context_lens = &cl};
        CHECK(task_job_prepare(rt, &r, 1, &job, err, sizeof(err)) == TASK_OK);
        if (!job)
            continue;
        size_t s;
        struct task_seq sq;
        task_job_unit_seq(job, 0, 0, 0, &s);
        task_job_get_seq(job, s, &sq);
        bool ok = same_ids(&sq, ids, ty);
        if (!ok)
            fprintf(stderr, "qa %zu: token ids / type ids differ from the reference\n", i);
        CHECK(ok);
        CHECK(task_job_run(job, w, err, sizeof(err)) == TASK_OK);
        const float *out;
        size_t rows, cols;
        if (ok && task_job_unit_output(job, 0, 0, 0, &out, &rows, &cols) == TASK_OK) {
            for (size_t t = 0; t < rows; t++) {
                cmp(out[2 * t], json_object_get_double(json_object_array_get_idx(sl, t)),
                    "qa start", i, t);
                cmp(out[2 * t + 1], json_object_get_double(json_object_array_get_idx(el, t)),
                    "qa end", i, t);
            }
        }
        struct task_response *resp = NULL;
        CHECK(task_job_finish(job, &resp, err, sizeof(err)) == TASK_OK);
        if (resp) {
            struct task_answer *a = &resp->results[0].u.answers[0];
            CHECK(resp->results[0].n_items == 1 && a->span.end <= cl);
            CHECK(clean_span(ct[0], a->span, a->text));
            fprintf(stderr, "qa %zu: \"%s\" -> \"%s\" (%.3f)\n", i, qt[0], a->text, a->score);
        }
        task_response_free(resp);
        task_job_free(job);
    }
    CHECK(n_bad == 0);
    fprintf(stderr, "socle-mini: %zu values compared, %zu outside tolerance\n", n_cmp, n_bad);
    task_worker_free(w);
    task_runtime_free(rt);
    json_object_put(ref);
    free(texts);
    free(lens);
    fprintf(stderr, "%d checks, %d failed\n", g_checks, g_fail);
    return g_fail ? 1 : 0;
}
