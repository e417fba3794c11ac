/* test_task_golden.c — heads exact against HuggingFace, through task_run's path.
 *
 * For one fixture (argv[1]): open the runtime on the fixture directory (the
 * checkpoint head becomes the "default-<task>" adapter), prepare a request with
 * every text of texts.txt, check the token ids of each sequence equal ids.txt
 * (and type_ids.txt for pairs), run the job on a worker, then compare the head
 * outputs with reference.json (|ours - ref| <= 1e-4 + 1e-4 |ref|, the fixtures'
 * stated tolerance) and check the decoded results against the same references:
 * softmax of the reference logits (classify), the argmax label of each token
 * (ner, strategy none), and offsets that slice the original text exactly.
 * Exit 77 when the fixture is absent.
 */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "tasks/task_impl.h"
#include "tests/tasks/check.h"

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    size_t r;
    while ((r = fread(b + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n < 2)
            b = realloc(b, cap *= 2);
    }
    fclose(f);
    b[n] = 0;
    *len = n;
    return b;
}

static json_object *read_json_gz(const char *path) {
    gzFile g = gzopen(path, "rb");
    if (!g)
        return NULL;
    size_t cap = 1 << 20, n = 0;
    char *b = malloc(cap);
    int r;
    while ((r = gzread(g, b + n, (unsigned)(cap - n))) > 0) {
        n += (size_t)r;
        if (n == cap)
            b = realloc(b, cap *= 2);
    }
    gzclose(g);
    json_tokener *tk = json_tokener_new_ex(64);
    json_object *o = json_tokener_parse_ex(tk, b, (int)n);
    json_tokener_free(tk);
    free(b);
    return o;
}

/* Split buf on '\n' (in place); returns line count (a trailing empty line dropped). */
static size_t split_lines(char *buf, size_t len, char ***lines, size_t **lens) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += buf[i] == '\n';
    if (len && buf[len - 1] != '\n')
        n++;
    *lines = calloc(n + 1, sizeof(char *));
    *lens = calloc(n + 1, sizeof(size_t));
    size_t k = 0, s = 0;
    for (size_t i = 0; i <= len && k < n; i++) {
        if (i == len || buf[i] == '\n') {
            (*lines)[k] = buf + s;
            (*lens)[k] = i - s;
            if (i < len)
                buf[i] = 0;
            k++;
            s = i + 1;
        }
    }
    return n;
}

static bool close_to(float ours, double ref) {
    double d = fabs((double)ours - ref);
    return d <= 1e-4 + 1e-4 * fabs(ref);
}

static size_t count_mismatch, count_values;
static double worst;

static void cmp(float ours, double ref, const char *what, size_t i, size_t t) {
    count_values++;
    double d = fabs((double)ours - ref);
    if (d > worst)
        worst = d;
    if (!close_to(ours, ref)) {
        if (count_mismatch < 10)
            fprintf(stderr, "text %zu row %zu %s: ours %.7g ref %.7g\n", i, t, what, ours, ref);
        count_mismatch++;
    }
}

/* Offsets are consistent: bytes within the text, on UTF-8 boundaries, and the code
 * point offsets count the same characters. */
static void check_span(const char *text, size_t len, struct task_span sp) {
    CHECK(sp.start <= sp.end && sp.end <= len);
    if (sp.end > len)
        return;
    CHECK(sp.start == len || ((unsigned char)text[sp.start] & 0xC0) != 0x80);
    CHECK(sp.end == len || ((unsigned char)text[sp.end] & 0xC0) != 0x80);
    CHECK(task_utf8_count(text, sp.start) == sp.cp_start);
    CHECK(task_utf8_count(text, sp.end) == sp.cp_end);
}

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    const char *fx = argv[1];
    char dir[1024], path[1200];
    const char *src = getenv("SOCLE_SOURCE_DIR"), *shared = getenv("SOCLE_SHARED_DIR");
    snprintf(dir, sizeof(dir), "%s/tests/data/models/%s", src ? src : ".", fx);
    /* The engine's copy may lack the tokenizer and texts: use it only when complete. */
    snprintf(path, sizeof(path), "%s/tokenizer.json", dir);
    FILE *probe = fopen(path, "rb");
    if (probe) {
        fclose(probe);
        snprintf(path, sizeof(path), "%s/texts.txt", dir);
        probe = fopen(path, "rb");
    }
    if (probe) {
        fclose(probe);
        snprintf(path, sizeof(path), "%s/reference.json.gz", dir);
        probe = fopen(path, "rb");
    }
    if (!probe) {
        snprintf(dir, sizeof(dir), "%s/fixtures/models/%s", shared ? shared : "../shared", fx);
        snprintf(path, sizeof(path), "%s/reference.json.gz", dir);
        probe = fopen(path, "rb");
    }
    if (!probe) {
        fprintf(stderr, "fixture %s absent: skipped\n", fx);
        return 77;
    }
    fclose(probe);

    char err[512] = "";
    struct task_runtime *rt = NULL;
    struct task_runtime_params rp = {dir, NULL};
    int rc = task_runtime_open(&rp, &rt, err, sizeof(err));
    if (rc != TASK_OK) {
        fprintf(stderr, "task_runtime_open(%s): %s (%s)\n", dir, err, task_strerror(rc));
        /* A tokenizer component not implemented yet is a skip, anything else a failure. */
        return strstr(err, "tokenizer") && strstr(err, "unsupported") ? 77 : 1;
    }
    json_object *ref = read_json_gz(path);
    CHECK(ref != NULL);
    json_object *outputs = NULL;
    CHECK(json_object_object_get_ex(ref, "outputs", &outputs));

    size_t tlen, ilen, tylen = 0;
    snprintf(path, sizeof(path), "%s/texts.txt", dir);
    char *tbuf = read_all(path, &tlen);
    snprintf(path, sizeof(path), "%s/ids.txt", dir);
    char *ibuf = read_all(path, &ilen);
    snprintf(path, sizeof(path), "%s/type_ids.txt", dir);
    char *tybuf = read_all(path, &tylen);
    char **texts, **idl, **tyl = NULL;
    size_t *text_lens, *idlens, *tylens = NULL;
    size_t n = split_lines(tbuf, tlen, &texts, &text_lens);
    size_t n_ids = split_lines(ibuf, ilen, &idl, &idlens);
    if (tybuf)
        split_lines(tybuf, tylen, &tyl, &tylens);
    CHECK(n == n_ids && n == json_object_array_length(outputs));

    const struct eng_model_info *info = eng_model_get_info(task_runtime_model(rt));
    struct task_request req = {0};
    const char **ctx = NULL;
    size_t *ctx_lens = NULL;
    if (info->head == ENG_HEAD_SEQCLS) {
        req.kind = TASK_CLASSIFY;
    } else if (info->head == ENG_HEAD_TOKCLS) {
        req.kind = TASK_NER;
        req.opts.ner.aggregation = TASK_AGG_NONE;
    } else {
        req.kind = TASK_QA;
        ctx = calloc(n, sizeof(char *));
        ctx_lens = calloc(n, sizeof(size_t));
        for (size_t i = 0; i < n; i++) {
            char *tab = memchr(texts[i], '\t', text_lens[i]);
            CHECK(tab != NULL);
            ctx[i] = tab + 1;
            ctx_lens[i] = text_lens[i] - (size_t)(tab + 1 - texts[i]);
            text_lens[i] = (size_t)(tab - texts[i]);
        }
        req.contexts = ctx;
        req.context_lens = ctx_lens;
        req.opts.qa.top_k = 3;
    }
    req.n_texts = n;
    req.texts = (const char *const *)texts;
    req.text_lens = text_lens;

    struct task_job *job = NULL;
    rc = task_job_prepare(rt, &req, 1, &job, err, sizeof(err));
    CHECK(rc == TASK_OK);
    if (rc != TASK_OK) {
        fprintf(stderr, "prepare: %s\n", err);
        return 1;
    }
    /* 1. Token ids equal the fixture's ids.txt (HF tokenizers). */
    size_t id_mismatch = 0;
    for (size_t i = 0; i < n; i++) {
        size_t s;
        struct task_seq sq;
        CHECK(task_job_unit_seq(job, 0, i, 0, &s) == TASK_OK);
        task_job_get_seq(job, s, &sq);
        char *p = idl[i], *q = tyl ? tyl[i] : NULL;
        size_t k = 0;
        bool ok = true;
        while (*p) {
            long v = strtol(p, &p, 10);
            if (k >= sq.n_tokens || sq.ids[k] != v)
                ok = false;
            if (q) {
                long tv = strtol(q, &q, 10);
                if (k < sq.n_tokens && sq.type_ids[k] != tv)
                    ok = false;
            }
            k++;
            while (*p == ' ')
                p++;
        }
        if (!ok || k != sq.n_tokens) {
            if (id_mismatch < 3)
                fprintf(stderr, "text %zu: ids differ from ids.txt (%zu vs %zu tokens)\n", i,
                        sq.n_tokens, k);
            id_mismatch++;
        }
    }
    CHECK(id_mismatch == 0);

    /* 2. Run the backbone + heads as task_run does. */
    struct task_worker *w = NULL;
    CHECK(task_worker_new(rt, 0, &w) == TASK_OK);
    rc = task_job_run(job, w, err, sizeof(err));
    CHECK(rc == TASK_OK);
    if (rc != TASK_OK) {
        fprintf(stderr, "run: %s\n", err);
        return 1;
    }

    /* 3. Head outputs against the reference. */
    for (size_t i = 0; i < n && id_mismatch == 0; i++) {
        json_object *o = json_object_array_get_idx(outputs, i), *v;
        const float *out;
        size_t rows, cols;
        CHECK(task_job_unit_output(job, 0, i, 0, &out, &rows, &cols) == TASK_OK);
        if (req.kind == TASK_CLASSIFY) {
            CHECK(json_object_object_get_ex(o, "logits", &v));
            CHECK(rows == 1 && cols == json_object_array_length(v));
            for (size_t c = 0; c < cols; c++)
                cmp(out[c], json_object_get_double(json_object_array_get_idx(v, c)), "logit", i, 0);
        } else if (req.kind == TASK_NER) {
            CHECK(json_object_object_get_ex(o, "logits", &v));
            CHECK(rows == json_object_array_length(v));
            for (size_t t = 0; t < rows && t < json_object_array_length(v); t++) {
                json_object *row = json_object_array_get_idx(v, t);
                CHECK(json_object_array_length(row) == cols);
                for (size_t c = 0; c < cols; c++)
                    cmp(out[t * cols + c],
                        json_object_get_double(json_object_array_get_idx(row, c)), "logit", i, t);
            }
        } else {
            json_object *sl, *el;
            CHECK(json_object_object_get_ex(o, "start_logits", &sl));
            CHECK(json_object_object_get_ex(o, "end_logits", &el));
            CHECK(cols == 2 && rows == json_object_array_length(sl));
            for (size_t t = 0; t < rows && t < json_object_array_length(sl); t++) {
                cmp(out[2 * t], json_object_get_double(json_object_array_get_idx(sl, t)), "start",
                    i, t);
                cmp(out[2 * t + 1], json_object_get_double(json_object_array_get_idx(el, t)), "end",
                    i, t);
            }
        }
    }
    CHECK(count_mismatch == 0);
    fprintf(stderr, "%s: %zu values compared, %zu outside tolerance, max |diff| %.3g\n", fx,
            count_values, count_mismatch, worst);

    /* 4. Decoded results. */
    struct task_response *resp = NULL;
    rc = task_job_finish(job, &resp, err, sizeof(err));
    CHECK(rc == TASK_OK);
    for (size_t i = 0; rc == TASK_OK && i < n; i++) {
        struct task_result *r = &resp->results[i];
        json_object *o = json_object_array_get_idx(outputs, i), *v;
        CHECK(r->status == TASK_OK);
        CHECK(!r->truncated);
        if (req.kind == TASK_CLASSIFY) {
            /* Expected: softmax of the reference logits, best first. */
            json_object_object_get_ex(o, "logits", &v);
            size_t nl = json_object_array_length(v);
            double p[16], mx = -1e30, sum = 0;
            for (size_t c = 0; c < nl; c++) {
                p[c] = json_object_get_double(json_object_array_get_idx(v, c));
                mx = p[c] > mx ? p[c] : mx;
            }
            for (size_t c = 0; c < nl; c++)
                sum += (p[c] = exp(p[c] - mx));
            CHECK(r->n_items == nl);
            for (size_t k = 0; k < r->n_items; k++) {
                size_t c = 0;
                while (c < nl && strcmp(info->id2label[c], r->u.labels[k].label) != 0)
                    c++;
                CHECK(c < nl);
                if (c < nl)
                    CHECK_NEAR(r->u.labels[k].score, p[c] / sum, 1e-4);
                if (k > 0)
                    CHECK(r->u.labels[k].score <= r->u.labels[k - 1].score);
            }
        } else if (req.kind == TASK_NER) {
            /* Strategy none: each entity is a token whose reference argmax is its label. */
            json_object_object_get_ex(o, "logits", &v);
            for (size_t k = 0; k < r->n_items; k++) {
                struct task_entity *e = &r->u.entities[k];
                check_span(texts[i], text_lens[i], e->span);
                CHECK(e->span.end > e->span.start);
                json_object *row = json_object_array_get_idx(v, (size_t)e->index);
                size_t nl = json_object_array_length(row), best = 0, second = 1;
                for (size_t c = 1; c < nl; c++) {
                    double x = json_object_get_double(json_object_array_get_idx(row, c));
                    if (x > json_object_get_double(json_object_array_get_idx(row, best))) {
                        second = best;
                        best = c;
                    } else if (second == best ||
                               x > json_object_get_double(json_object_array_get_idx(row, second))) {
                        second = c;
                    }
                }
                double margin = json_object_get_double(json_object_array_get_idx(row, best)) -
                                json_object_get_double(json_object_array_get_idx(row, second));
                if (margin > 1e-3)
                    CHECK_STR(e->type, info->id2label[best]);
            }
        } else {
            CHECK(r->n_items >= 1 && r->n_items <= 3);
            for (size_t k = 0; k < r->n_items; k++) {
                struct task_answer *a = &r->u.answers[k];
                check_span(ctx[i], ctx_lens[i], a->span);
                CHECK(strlen(a->text) == a->span.end - a->span.start &&
                      memcmp(a->text, ctx[i] + a->span.start, strlen(a->text)) == 0);
                CHECK(a->score > 0.0f && a->score <= 1.0f);
                if (k > 0)
                    CHECK(a->score <= r->u.answers[k - 1].score);
            }
        }
    }
    task_response_free(resp);
    task_job_free(job);
    task_worker_free(w);
    task_runtime_free(rt);
    json_object_put(ref);
    free(texts);
    free(text_lens);
    free(idl);
    free(idlens);
    free(tyl);
    free(tylens);
    free(tbuf);
    free(ibuf);
    free(tybuf);
    free(ctx);
    free(ctx_lens);
    fprintf(stderr, "%d checks, %d failed\n", g_checks, g_fail);
    return g_fail ? 1 : 0;
}
