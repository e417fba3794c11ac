/* test_task_bad.c — bad and extreme input through task_run on the fixture models:
 * empty / blank / invalid UTF-8 texts, a 1 MB text (windows, bounded memory, valid
 * offsets), questions without context, top_k of 0 and 10^9, bad options, long
 * questions and sentences (truncation is flagged, never silent), and offsets that
 * slice the original text exactly for every task. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "tasks/task_impl.h"
#include "tests/tasks/check.h"
#include "tests/tasks/fixture.h"

static void check_span(const char *text, size_t len, struct task_span sp) {
    CHECK(sp.start <= sp.end && sp.end <= len);
    if (sp.end > len)
        return;
    CHECK(sp.start == len || ((unsigned char)text[sp.start] & 0xC0) != 0x80);
    CHECK(sp.end == len || ((unsigned char)text[sp.end] & 0xC0) != 0x80);
    CHECK(task_utf8_count(text, sp.start) == sp.cp_start);
    CHECK(task_utf8_count(text + sp.start, sp.end - sp.start) == sp.cp_end - sp.cp_start);
}

static struct task_runtime *open_rt(const char *name, struct task_worker **w) {
    char d[1024], err[512];
    const char *dir = fx_dir(name, d, sizeof(d));
    struct task_runtime *rt = NULL;
    struct task_runtime_params p = {dir, NULL};
    if (!dir || task_runtime_open(&p, &rt, err, sizeof(err)) != TASK_OK)
        return NULL;
    if (task_worker_new(rt, 4096, w) != TASK_OK) {
        task_runtime_free(rt);
        return NULL;
    }
    return rt;
}

static struct task_response *run1(struct task_runtime *rt, struct task_worker *w,
                                  struct task_request *rq, int want_rc) {
    struct task_response *r = NULL;
    char err[512] = "";
    int rc = task_run(rt, w, rq, &r, err, sizeof(err));
    if (rc != want_rc) {
        fprintf(stderr, "task_run: rc %d (%s), want %d\n", rc, err, want_rc);
        g_fail++;
    }
    g_checks++;
    return r;
}

static char *repeat(const char *unit, size_t total, size_t *len) {
    size_t ul = strlen(unit);
    char *s = malloc(total + 1);
    size_t n = 0;
    while (n + ul <= total) {
        memcpy(s + n, unit, ul);
        n += ul;
    }
    s[n] = 0;
    *len = n;
    return s;
}

static const char *k_para =
    "Le 14 juillet, M. Jean Dupont a rencontr\xc3\xa9 Marie Curie \xc3\xa0 Paris. "
    "Apple Inc. opened a new office in New York, said Dr. Smith. "
    "\xc2\xab C'est formidable ! \xc2\xbb dit-elle. The price was 3.5 million dollars. ";

static void test_classify(void) {
    struct task_worker *w = NULL;
    struct task_runtime *rt = open_rt("bert-seqcls", &w);
    if (!rt)
        return;
    const char *texts[] = {"", "caf\xc3\xa9 \xff\xfe broken", "A fine day.", "   \t "};
    size_t lens[] = {0, 16, 11, 5};
    struct task_request rq = {
        .kind = TASK_CLASSIFY, .n_texts = 4, .texts = texts, .text_lens = lens};
    struct task_response *r = run1(rt, w, &rq, TASK_OK);
    if (r) {
        CHECK(r->n_results == 4);
        CHECK(r->results[0].status == TASK_EINVAL && strstr(r->results[0].message, "empty"));
        CHECK(r->results[1].status == TASK_EINVAL && strstr(r->results[1].message, "byte 6"));
        CHECK(r->results[2].status == TASK_OK && r->results[2].n_items == 3); /* top_k 0 = all */
        CHECK(r->results[3].status == TASK_EINVAL && strstr(r->results[3].message, "no tokens"));
        double sum = 0;
        for (size_t k = 0; k < r->results[2].n_items; k++)
            sum += r->results[2].u.labels[k].score;
        CHECK_NEAR(sum, 1.0, 1e-5);
    }
    task_response_free(r);

    rq.n_texts = 1;
    rq.texts = &texts[2];
    rq.text_lens = &lens[2];
    rq.opts.classify.top_k = 1000000000;
    r = run1(rt, w, &rq, TASK_OK);
    if (r)
        CHECK(r->results[0].n_items == 3);
    task_response_free(r);
    rq.opts.classify.top_k = 1;
    r = run1(rt, w, &rq, TASK_OK);
    struct task_response *all = NULL;
    rq.opts.classify.top_k = 0;
    all = run1(rt, w, &rq, TASK_OK);
    if (r && all) {
        CHECK(r->results[0].n_items == 1);
        CHECK(strcmp(r->results[0].u.labels[0].label, all->results[0].u.labels[0].label) == 0);
        CHECK(r->results[0].u.labels[0].score >= all->results[0].u.labels[2].score);
    }
    task_response_free(r);
    task_response_free(all);
    /* multi-label: independent sigmoids, not a distribution. */
    rq.opts.classify.multi_label = true;
    r = run1(rt, w, &rq, TASK_OK);
    if (r) {
        double sum = 0;
        for (size_t k = 0; k < r->results[0].n_items; k++) {
            float s = r->results[0].u.labels[k].score;
            CHECK(s > 0.0f && s < 1.0f);
            sum += s;
        }
        CHECK(fabs(sum - 1.0) > 1e-3);
    }
    task_response_free(r);
    rq.opts.classify.multi_label = false;

    /* A text longer than the model: first 512 tokens, flagged. */
    size_t ll;
    char *longt = repeat(k_para, 20000, &ll);
    const char *lt[] = {longt};
    rq.texts = lt;
    rq.text_lens = &ll;
    r = run1(rt, w, &rq, TASK_OK);
    if (r)
        CHECK(r->results[0].truncated && r->results[0].n_tokens == 512);
    task_response_free(r);

    /* Request-level errors. */
    rq.n_texts = 0;
    r = run1(rt, w, &rq, TASK_OK);
    if (r)
        CHECK(r->n_results == 0);
    task_response_free(r);
    rq.n_texts = 1;
    rq.kind = (enum task_kind)99;
    run1(rt, w, &rq, TASK_EINVAL);
    rq.kind = TASK_NER; /* no ner adapter on a seqcls checkpoint */
    run1(rt, w, &rq, TASK_ENOTFOUND);
    rq.kind = TASK_CLASSIFY;
    rq.adapter = "nope";
    run1(rt, w, &rq, TASK_ENOTFOUND);
    rq.adapter = NULL;

    /* embed: normalized mean of all windows, or CLS of the first (flagged). */
    rq.kind = TASK_EMBED;
    rq.opts.embed = (struct task_embed_opts){TASK_POOL_MEAN, true};
    r = run1(rt, w, &rq, TASK_OK);
    if (r) {
        struct task_result *x = &r->results[0];
        CHECK(x->n_items == 32 && !x->truncated && x->n_tokens > 1000);
        CHECK_NEAR(sqrt(task_dot(x->u.embedding, x->u.embedding, 32)), 1.0, 1e-5);
    }
    task_response_free(r);
    rq.opts.embed = (struct task_embed_opts){TASK_POOL_CLS, false};
    r = run1(rt, w, &rq, TASK_OK);
    if (r)
        CHECK(r->results[0].truncated && r->results[0].n_tokens == 512);
    task_response_free(r);

    /* summarize: chosen sentences in text order, spans on sentence boundaries. */
    rq.kind = TASK_SUMMARIZE;
    size_t sl;
    char *doc = repeat(k_para, strlen(k_para) * 2, &sl);
    const char *st[] = {doc};
    rq.texts = st;
    rq.text_lens = &sl;
    rq.opts.summarize = (struct task_summarize_opts){3, 0.0f, 0.0f};
    r = run1(rt, w, &rq, TASK_OK);
    if (r) {
        struct task_result *x = &r->results[0];
        CHECK(x->status == TASK_OK && x->n_items == 3);
        for (size_t k = 0; k < x->n_items; k++) {
            struct task_span sp = x->u.sentences[k].span;
            check_span(doc, sl, sp);
            CHECK(!isspace((unsigned char)doc[sp.start]) &&
                  !isspace((unsigned char)doc[sp.end - 1]));
            CHECK(sp.end == sl || isspace((unsigned char)doc[sp.end]));
            if (k > 0)
                CHECK(sp.start >= x->u.sentences[k - 1].span.end);
        }
    }
    task_response_free(r);
    rq.opts.summarize = (struct task_summarize_opts){0, 0.5f, 0.3f};
    r = run1(rt, w, &rq, TASK_OK);
    if (r)
        CHECK(r->results[0].n_items == 4); /* 8 sentences * 0.5 */
    task_response_free(r);
    rq.opts.summarize = (struct task_summarize_opts){0, 2.0f, 0.0f};
    run1(rt, w, &rq, TASK_EINVAL);
    rq.opts.summarize = (struct task_summarize_opts){0, 0.0f, 1.5f};
    run1(rt, w, &rq, TASK_EINVAL);
    /* One sentence longer than the model: embedded from its head, flagged. */
    rq.opts.summarize = (struct task_summarize_opts){0};
    const char *ls[] = {longt};
    size_t lsl = 3000;
    for (size_t i = 0; i < lsl; i++)
        if (longt[i] == '.' || longt[i] == '!')
            longt[i] = ',';
    rq.texts = ls;
    rq.text_lens = &lsl;
    r = run1(rt, w, &rq, TASK_OK);
    if (r)
        CHECK(r->results[0].status == TASK_OK && r->results[0].truncated &&
              r->results[0].n_items == 1);
    task_response_free(r);
    free(doc);
    free(longt);
    task_worker_free(w);
    task_runtime_free(rt);
}

static long max_rss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void check_entities(const char *text, size_t len, const struct task_result *x,
                           enum task_aggregation agg) {
    /* Code points counted incrementally: entities come sorted by start. */
    size_t pos = 0, cp = 0;
    for (size_t k = 0; k < x->n_items; k++) {
        const struct task_entity *e = &x->u.entities[k];
        CHECK(e->span.start <= e->span.end && e->span.end <= len);
        if (e->span.end > len || e->span.start < pos)
            break;
        CHECK(((unsigned char)text[e->span.start] & 0xC0) != 0x80);
        CHECK(e->span.end == len || ((unsigned char)text[e->span.end] & 0xC0) != 0x80);
        cp += task_utf8_count(text + pos, e->span.start - pos);
        CHECK(cp == e->span.cp_start);
        CHECK(cp + task_utf8_count(text + e->span.start, e->span.end - e->span.start) ==
              e->span.cp_end);
        pos = e->span.start;
        CHECK(e->span.end > e->span.start && e->score > 0.0f && e->score <= 1.0f);
        if (k > 0) /* sorted, no duplicate, no overlap */
            CHECK(e->span.start >= x->u.entities[k - 1].span.end);
        if (agg >= TASK_AGG_FIRST) { /* word strategies never start inside a word */
            CHECK(strncmp(e->word, "##", 2) != 0);
            /* ...i.e. never between two letters/digits of one ASCII word. */
            CHECK(e->span.start == 0 || !isalnum((unsigned char)text[e->span.start - 1]) ||
                  !isalnum((unsigned char)text[e->span.start]));
        }
    }
}

static void test_ner(bool big_only) {
    struct task_worker *w = NULL;
    struct task_runtime *rt = open_rt("bert-tokcls", &w);
    if (!rt)
        return;
    char d[1024];
    char *buf = NULL, **texts = NULL;
    size_t *lens = NULL;
    size_t n = fx_read_lines(fx_dir("bert-tokcls", d, sizeof(d)), "texts.txt", &buf, &texts, &lens);
    struct task_request rq = {
        .kind = TASK_NER, .n_texts = n, .texts = (const char *const *)texts, .text_lens = lens};
    for (int agg = TASK_AGG_NONE; agg <= TASK_AGG_MAX && !big_only; agg++) {
        rq.opts.ner.aggregation = (enum task_aggregation)agg;
        struct task_response *r = run1(rt, w, &rq, TASK_OK);
        for (size_t i = 0; r && i < n; i++)
            check_entities(texts[i], lens[i], &r->results[i], rq.opts.ner.aggregation);
        task_response_free(r);
    }
    rq.opts.ner.aggregation = (enum task_aggregation)7;
    run1(rt, w, &rq, TASK_EINVAL);
    if (!big_only)
        goto out;

    /* 1 MB: ~650 overlapping windows, merged; memory stays bounded. */
    size_t bl;
    char *big = repeat(k_para, (size_t)1 << 20, &bl);
    const char *bt[] = {big};
    rq.n_texts = 1;
    rq.texts = bt;
    rq.text_lens = &bl;
    rq.opts.ner = (struct task_ner_opts){.aggregation = TASK_AGG_SIMPLE};
    long before = max_rss_kb();
    struct task_response *r = run1(rt, w, &rq, TASK_OK);
    long after = max_rss_kb();
    if (r) {
        struct task_result *x = &r->results[0];
        CHECK(x->status == TASK_OK && !x->truncated);
        CHECK(x->n_tokens > 250000);
        check_entities(big, bl, x, TASK_AGG_SIMPLE);
        fprintf(stderr,
                "1 MB text: %zu tokens fed, %zu entities, max RSS +%ld MB, tokenize %.2f s, "
                "forward %.2f s, post %.2f s\n",
                x->n_tokens, x->n_items, (after - before) / 1024, (double)r->tokenize_us / 1e6,
                (double)r->forward_us / 1e6, (double)r->post_us / 1e6);
    }
    /* Linear in the text with a small constant (ASan's shadow memory included). */
    CHECK(after - before < 1024 * 1024);
    task_response_free(r);
    free(big);
out:
    free(buf);
    free(texts);
    free(lens);
    task_worker_free(w);
    task_runtime_free(rt);
}

static void test_qa(void) {
    struct task_worker *w = NULL;
    struct task_runtime *rt = open_rt("bert-qa", &w);
    if (!rt)
        return;
    size_t cl;
    char *ctx = repeat(k_para, 30000, &cl); /* ~7000 tokens: many windows */
    const char *qs[] = {"Who met Marie Curie?", "Where?", ""};
    size_t ql[] = {20, 6, 0};
    const char *cs[] = {ctx, "", ctx};
    size_t csl[] = {cl, 0, cl};
    struct task_request rq = {.kind = TASK_QA, .n_texts = 3, .texts = qs, .text_lens = ql};
    run1(rt, w, &rq, TASK_EINVAL); /* no contexts at all */
    rq.contexts = cs;
    rq.context_lens = csl;
    rq.opts.qa = (struct task_qa_opts){.top_k = 1000000000, .handle_impossible_answer = true};
    struct task_response *r = run1(rt, w, &rq, TASK_OK);
    if (r) {
        struct task_result *x = &r->results[0];
        CHECK(x->status == TASK_OK && x->n_tokens > 7000);
        CHECK(x->n_items > 100 && x->n_items <= TASK_MAX_TOP_K);
        size_t nulls = 0;
        for (size_t k = 0; k < x->n_items; k++) {
            struct task_answer *a = &x->u.answers[k];
            check_span(ctx, cl, a->span);
            CHECK(strlen(a->text) == a->span.end - a->span.start);
            CHECK(memcmp(a->text, ctx + a->span.start, strlen(a->text)) == 0);
            if (a->span.end == 0)
                nulls++;
            if (k > 0)
                CHECK(a->score <= x->u.answers[k - 1].score);
            /* 15 tokens at most, widened to whole words: a few dozen bytes. */
            CHECK(a->span.end - a->span.start < 200);
        }
        CHECK(nulls <= 1); /* the null answer competes for the top_k like any span */
        CHECK(r->results[1].status == TASK_EINVAL && strstr(r->results[1].message, "no context"));
        CHECK(r->results[2].status == TASK_EINVAL && strstr(r->results[2].message, "question"));
    }
    task_response_free(r);

    /* A question longer than max_question_len: cut to 64 tokens, flagged. */
    size_t lq;
    char *longq = repeat("why is that so ", 2000, &lq);
    const char *q2[] = {longq};
    rq.n_texts = 1;
    rq.texts = q2;
    rq.text_lens = &lq;
    rq.opts.qa = (struct task_qa_opts){0};
    r = run1(rt, w, &rq, TASK_OK);
    if (r)
        CHECK(r->results[0].status == TASK_OK && r->results[0].truncated &&
              r->results[0].n_items == 1);
    task_response_free(r);
    rq.opts.qa.max_seq_len = 32; /* 64 question tokens cannot fit */
    r = run1(rt, w, &rq, TASK_OK);
    if (r)
        CHECK(r->results[0].status == TASK_EINVAL && strstr(r->results[0].message, "too long"));
    task_response_free(r);
    free(longq);
    free(ctx);
    task_worker_free(w);
    task_runtime_free(rt);
}

int main(int argc, char **argv) {
    /* "big": only the 1 MB text (its own ctest: it dominates the run time). */
    bool big = argc > 1 && strcmp(argv[1], "big") == 0;
    char d[1024];
    if (!fx_dir("bert-seqcls", d, sizeof(d)) || !fx_dir("bert-tokcls", d, sizeof(d)) ||
        !fx_dir("bert-qa", d, sizeof(d))) {
        fprintf(stderr, "fixtures absent: skipped\n");
        return 77;
    }
    if (!big) {
        test_classify();
        test_qa();
    }
    test_ner(big);
    fprintf(stderr, "%d checks, %d failed\n", g_checks, g_fail);
    return g_fail ? 1 : 0;
}
