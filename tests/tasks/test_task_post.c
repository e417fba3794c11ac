/* test_task_post.c — post-processing semantics from hand-computed cases:
 * softmax/sigmoid/top-k, windows, NER aggregation strategies (HF
 * TokenClassificationPipeline rules), overlapping-window merge, QA span selection
 * (HF QuestionAnsweringPipeline rules), impossible answers, and the white-space
 * trimming of entity and answer spans (trim.c). */
#include <math.h>
#include <stdlib.h>

#include "tasks/task_impl.h"
#include "tests/tasks/check.h"

static void test_math(void) {
    float x[2] = {0.0f, logf(3.0f)};
    task_softmax(x, 2);
    CHECK_NEAR(x[0], 0.25, 1e-6);
    CHECK_NEAR(x[1], 0.75, 1e-6);
    float y[3] = {0.0f, logf(3.0f), -1000.0f};
    task_sigmoid(y, 3);
    CHECK_NEAR(y[0], 0.5, 1e-7);
    CHECK_NEAR(y[1], 0.75, 1e-6);
    CHECK(y[2] >= 0.0f && y[2] < 1e-30f);
    float big[2] = {1000.0f, 1000.0f}; /* no overflow */
    task_softmax(big, 2);
    CHECK_NEAR(big[0], 0.5, 1e-7);

    const float s[4] = {0.1f, 0.5f, 0.3f, 0.5f};
    size_t idx[4];
    CHECK(task_top_k(s, 4, 3, idx) == 3);
    CHECK(idx[0] == 1 && idx[1] == 3 && idx[2] == 2); /* ties: lower index first */
    CHECK(task_top_k(s, 4, 1000000000, idx) == 4);
    CHECK(idx[0] == 1 && idx[1] == 3 && idx[2] == 2 && idx[3] == 0);
    CHECK(task_top_k(s, 4, 0, idx) == 0);

    float v[2] = {3.0f, 4.0f};
    task_l2_normalize(v, 2);
    CHECK_NEAR(v[0], 0.6, 1e-7);
    CHECK_NEAR(v[1], 0.8, 1e-7);
}

static void test_windows(void) {
    struct task_window w[8];
    CHECK(task_windows_plan(10, 4, 1, w) == 3);
    CHECK(w[0].start == 0 && w[0].end == 4 && w[1].start == 3 && w[1].end == 7 && w[2].start == 6 &&
          w[2].end == 10);
    CHECK(task_windows_plan(4, 4, 2, w) == 1 && w[0].start == 0 && w[0].end == 4);
    CHECK(task_windows_plan(0, 4, 2, w) == 1 && w[0].start == 0 && w[0].end == 0);
    CHECK(task_windows_plan(11, 4, 2, w) == 5);
    CHECK(w[4].start == 8 && w[4].end == 11);
    CHECK(task_windows_plan(5, 2, 5, w) == 4); /* stride clamped to width - 1 */
    CHECK(w[3].start == 3 && w[3].end == 5);
    CHECK(task_windows_plan(5, 0, 0, w) == 0);

    /* A 1 MB text is ~250k tokens: ceil((250000 - 510) / 382) + 1 = 655 windows. */
    size_t n = task_windows_plan(250000, 510, 128, NULL);
    CHECK(n == 655);
    struct task_window *ww = malloc(n * sizeof(*ww));
    task_windows_plan(250000, 510, 128, ww);
    CHECK(ww[0].start == 0 && ww[n - 1].end == 250000);
    for (size_t i = 1; i < n; i++) {
        CHECK(ww[i].start == ww[i - 1].end - 128); /* every token covered, overlap 128 */
        CHECK(ww[i].end - ww[i].start <= 510);
    }
    free(ww);
}

/* Labels and tokens for "jean dupont habite paris" (WordPiece: jean du ##pont habite paris). */
static const char *const k_labels[] = {"O", "B-PER", "I-PER", "B-LOC", "I-LOC"};
static const float k_scores[5][5] = {
    {0.10f, 0.70f, 0.10f, 0.05f, 0.05f},     /* jean   -> B-PER 0.7 */
    {0.10f, 0.20f, 0.60f, 0.05f, 0.05f},     /* du     -> I-PER 0.6 */
    {0.05f, 0.05f, 0.10f, 0.75f, 0.05f},     /* ##pont -> B-LOC 0.75 */
    {0.90f, 0.025f, 0.025f, 0.025f, 0.025f}, /* habite -> O */
    {0.10f, 0.05f, 0.05f, 0.50f, 0.30f},     /* paris  -> B-LOC 0.5 */
};

static size_t make_tokens(struct task_ner_token *t) {
    static const char *words[5] = {"jean", "du", "##pont", "habite", "paris"};
    static const size_t se[5][2] = {{0, 4}, {5, 7}, {7, 11}, {12, 18}, {19, 24}};
    for (int i = 0; i < 5; i++) {
        t[i] = (struct task_ner_token){.id = 100 + i,
                                       .word = words[i],
                                       .span = {se[i][0], se[i][1], se[i][0], se[i][1]},
                                       .is_subword = i == 2,
                                       .scores = k_scores[i],
                                       .index = i + 1};
    }
    return 5;
}

struct want {
    const char *type, *word;
    size_t start, end;
    double score;
};

static void check_ents(enum task_aggregation agg, const struct want *w, size_t n_want, int line) {
    struct task_ner_token t[5];
    size_t nt = make_tokens(t);
    struct task_ner_cfg cfg = {.labels = k_labels, .n_labels = 5, .aggregation = agg};
    struct task_entity *e = NULL;
    size_t n = 0, cap = 0;
    CHECK(task_ner_decode(t, nt, &cfg, &e, &n, &cap) == TASK_OK);
    if (n != n_want) {
        fprintf(stderr, "line %d: %zu entities, want %zu\n", line, n, n_want);
        g_fail++;
    } else {
        for (size_t i = 0; i < n; i++) {
            CHECK_STR(e[i].type, w[i].type);
            CHECK_STR(e[i].word, w[i].word);
            CHECK(e[i].span.start == w[i].start && e[i].span.end == w[i].end);
            CHECK_NEAR(e[i].score, w[i].score, 1e-6);
        }
    }
    task_entities_free(e, n);
}

static void test_ner_strategies(void) {
    /* none: every token but O, full label, token string as word, HF "index". */
    const struct want none[] = {{"B-PER", "jean", 0, 4, 0.7},
                                {"I-PER", "du", 5, 7, 0.6},
                                {"B-LOC", "##pont", 7, 11, 0.75},
                                {"B-LOC", "paris", 19, 24, 0.5}};
    check_ents(TASK_AGG_NONE, none, 4, __LINE__);
    /* simple: jean(B-PER)+du(I-PER) grouped, mean (0.7+0.6)/2; ##pont starts a LOC (B-). */
    const struct want simple[] = {{"PER", "jean du", 0, 7, 0.65},
                                  {"LOC", "##pont", 7, 11, 0.75},
                                  {"LOC", "paris", 19, 24, 0.5}};
    check_ents(TASK_AGG_SIMPLE, simple, 3, __LINE__);
    /* first: word "dupont" takes du's label I-PER 0.6 and joins jean. */
    const struct want first[] = {{"PER", "jean dupont", 0, 11, 0.65},
                                 {"LOC", "paris", 19, 24, 0.5}};
    check_ents(TASK_AGG_FIRST, first, 2, __LINE__);
    /* average: mean(du, ##pont) = (.075,.125,.35,.4,.05) -> B-LOC 0.4. */
    const struct want avg[] = {
        {"PER", "jean", 0, 4, 0.7}, {"LOC", "dupont", 5, 11, 0.4}, {"LOC", "paris", 19, 24, 0.5}};
    check_ents(TASK_AGG_AVERAGE, avg, 3, __LINE__);
    /* max: ##pont's max 0.75 beats du's 0.6 -> B-LOC 0.75. */
    const struct want mx[] = {
        {"PER", "jean", 0, 4, 0.7}, {"LOC", "dupont", 5, 11, 0.75}, {"LOC", "paris", 19, 24, 0.5}};
    check_ents(TASK_AGG_MAX, mx, 3, __LINE__);

    /* none keeps the window index; grouped entities have none (-1). */
    struct task_ner_token t[5];
    make_tokens(t);
    struct task_ner_cfg cfg = {.labels = k_labels, .n_labels = 5, .aggregation = TASK_AGG_NONE};
    struct task_entity *e = NULL;
    size_t n = 0, cap = 0;
    task_ner_decode(t, 5, &cfg, &e, &n, &cap);
    CHECK(n == 4 && e[0].index == 1 && e[3].index == 5);
    task_entities_free(e, n);

    /* ignore_labels: {"PER"} drops PER but now keeps the O group ("habite"). */
    const char *ign[] = {"PER"};
    cfg = (struct task_ner_cfg){.labels = k_labels,
                                .n_labels = 5,
                                .aggregation = TASK_AGG_FIRST,
                                .ignore = ign,
                                .n_ignore = 1};
    e = NULL, n = 0, cap = 0;
    task_ner_decode(t, 5, &cfg, &e, &n, &cap);
    CHECK(n == 2);
    if (n == 2) {
        CHECK_STR(e[0].type, "O");
        CHECK_STR(e[0].word, "habite");
        CHECK_STR(e[1].type, "LOC");
    }
    task_entities_free(e, n);
}

static void test_ner_bi_rules(void) {
    /* Two B-PER in a row are two entities; I-PER I-PER (no B) is one; a label
     * without prefix ("MISC") counts as I- of tag MISC. */
    static const char *const labels[] = {"O", "B-PER", "I-PER", "MISC"};
    static const float sc[6][4] = {{0, 1, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0},
                                   {0, 0, 1, 0}, {0, 0, 0, 1}, {0, 0, 0, 1}};
    struct task_ner_token t[6];
    static const char *w[6] = {"a", "b", "c", "d", "e", "f"};
    for (int i = 0; i < 6; i++)
        t[i] = (struct task_ner_token){
            .word = w[i],
            .span = {(size_t)2 * i, (size_t)2 * i + 1, (size_t)2 * i, (size_t)2 * i + 1},
            .scores = sc[i],
            .index = i};
    struct task_ner_cfg cfg = {.labels = labels, .n_labels = 4, .aggregation = TASK_AGG_SIMPLE};
    struct task_entity *e = NULL;
    size_t n = 0, cap = 0;
    CHECK(task_ner_decode(t, 6, &cfg, &e, &n, &cap) == TASK_OK);
    /* a | b c d (B then I I) | e f */
    CHECK(n == 3);
    if (n == 3) {
        CHECK_STR(e[0].word, "a");
        CHECK_STR(e[1].word, "b c d");
        CHECK(e[1].span.start == 2 && e[1].span.end == 7);
        CHECK_STR(e[2].type, "MISC");
        CHECK_STR(e[2].word, "e f");
    }
    task_entities_free(e, n);

    /* BIOES: S- is a whole entity, E- closes one. */
    static const char *const bl[] = {"O", "B-PER", "I-PER", "E-PER", "S-PER"};
    static const float bs[5][5] = {
        {0, 0, 0, 0, 1}, {0, 0, 0, 0, 1}, {0, 1, 0, 0, 0}, {0, 0, 0, 1, 0}, {0, 0, 1, 0, 0}};
    for (int i = 0; i < 5; i++)
        t[i].scores = bs[i];
    cfg = (struct task_ner_cfg){
        .labels = bl, .n_labels = 5, .aggregation = TASK_AGG_SIMPLE, .scheme = TASK_SCHEME_BIOES};
    e = NULL, n = 0, cap = 0;
    task_ner_decode(t, 5, &cfg, &e, &n, &cap);
    /* a (S) | b (S) | c d (B E) | e (I after E: new) */
    CHECK(n == 4);
    if (n == 4) {
        CHECK_STR(e[0].word, "a");
        CHECK_STR(e[1].word, "b");
        CHECK_STR(e[2].word, "c d");
        CHECK_STR(e[3].word, "e");
        CHECK_STR(e[3].type, "PER");
    }
    task_entities_free(e, n);
}

static void test_subword(void) {
    /* WordPiece (word aware): "##pont" (6 chars) vs slice "pont" (4). */
    const char *text = "jean dupont";
    CHECK(!task_ner_is_subword(text, 11, "du", 5, 7, true));
    CHECK(task_ner_is_subword(text, 11, "##pont", 7, 11, true));
    /* Accent stripped by the tokenizer: same length, not a subword. */
    CHECK(!task_ner_is_subword("caf\xc3\xa9", 5, "cafe", 0, 5, true));
    /* Fallback heuristic: a space before or at start means a new word. */
    const char *t2 = "New York-based";
    CHECK(!task_ner_is_subword(t2, 14, "New", 0, 3, false));
    CHECK(!task_ner_is_subword(t2, 14, "York", 4, 8, false));
    CHECK(task_ner_is_subword(t2, 14, "-", 8, 9, false));
    CHECK(task_ner_is_subword(t2, 14, "based", 9, 14, false));
}

static struct task_entity ent(const char *type, size_t s, size_t e, float score) {
    return (struct task_entity){task_strdup(type), score, task_strdup(type), {s, e, s, e}, -1};
}

static void test_merge(void) {
    /* Window 1: A, B, F (F cut at the window edge); window 2: D (same span as B,
     * better score), C (inside D, shorter), F' (the whole entity), E. */
    struct task_entity v[7] = {ent("A", 0, 4, 0.9f),    ent("B", 10, 20, 0.5f),
                               ent("F", 30, 35, 0.99f), ent("D", 10, 20, 0.6f),
                               ent("C", 12, 16, 0.99f), ent("G", 30, 40, 0.4f),
                               ent("E", 45, 50, 0.7f)};
    size_t n = 7;
    task_ner_merge_overlapping(v, &n);
    CHECK(n == 4);
    if (n == 4) {
        CHECK_STR(v[0].type, "A");
        CHECK_STR(v[1].type, "D");
        CHECK_STR(v[2].type, "G"); /* the longer one: no cut entity */
        CHECK_STR(v[3].type, "E");
    }
    for (size_t i = 0; i < n; i++) {
        free(v[i].type);
        free(v[i].word);
    }
}

static void test_qa(void) {
    /* [CLS] q [SEP] c0 c1 c2 [SEP]; probabilities over {CLS, c0, c1, c2}:
     * start 1/8 2/8 4/8 1/8, end 2/8 1/8 1/8 4/8 (question/SEP logits are huge but masked). */
    const float L2 = logf(2.0f), L4 = logf(4.0f);
    const float st[7] = {0.0f, 100.0f, 100.0f, L2, L4, 0.0f, 100.0f};
    const float en[7] = {L2, 100.0f, 100.0f, 0.0f, 0.0f, L4, 100.0f};
    const uint8_t ctx[7] = {0, 0, 0, 1, 1, 1, 0}, cls[7] = {1, 0, 0, 0, 0, 0, 0};
    struct task_qa_window w = {7, st, en, ctx, cls, 0};
    struct task_qa_cand c[8];
    size_t n;
    float null = 1e6f;
    /* max_answer_len 2: best (c1, c2) = 4/8 * 4/8 = 0.25; (c0, c2) = 0.125 is too long. */
    CHECK(task_qa_select(&w, 1, 1, 2, &null, c, &n) == TASK_OK);
    CHECK(n == 1 && c[0].s == 1 && c[0].e == 2);
    CHECK_NEAR(c[0].score, 0.25, 1e-6);
    CHECK_NEAR(null, 1.0 / 8 * 2.0 / 8, 1e-7); /* CLS start * CLS end */
    /* top 3: (1,2) .25, then (1,1) 4/64 and (2,2) 4/64 (tie: lower start first). */
    null = 1e6f;
    task_qa_select(&w, 1, 3, 2, &null, c, &n);
    CHECK(n == 3 && c[1].s == 1 && c[1].e == 1 && c[2].s == 2 && c[2].e == 2);
    CHECK_NEAR(c[1].score, 4.0 / 64, 1e-7);
    /* max_answer_len 3: (0, 2) = 2/8 * 4/8 = 0.125 becomes second. */
    task_qa_select(&w, 1, 2, 3, &null, c, &n);
    CHECK(n == 2 && c[1].s == 0 && c[1].e == 2);
    CHECK_NEAR(c[1].score, 0.125, 1e-7);
    /* top_k 10^9-like: every valid span once (3 + 2 with max len 2). */
    struct task_qa_cand many[TASK_MAX_TOP_K];
    task_qa_select(&w, 1, TASK_MAX_TOP_K, 2, &null, many, &n);
    CHECK(n == 5);

    /* Second window over context tokens 1..3 that likes (1, 2) more:
     * start 1/9 6/9 1/9 1/9, end 1/9 1/9 6/9 1/9 -> 36/81; null 1/81. */
    const float L6 = logf(6.0f);
    const float st2[7] = {0.0f, 9.0f, 9.0f, L6, 0.0f, 0.0f, 9.0f};
    const float en2[7] = {0.0f, 9.0f, 9.0f, 0.0f, L6, 0.0f, 9.0f};
    struct task_qa_window ws[2] = {w, {7, st2, en2, ctx, cls, 1}};
    null = 1e6f;
    task_qa_select(ws, 2, 10, 2, &null, many, &n);
    CHECK_NEAR(null, 1.0 / 81, 1e-7); /* min over windows */
    CHECK(n >= 1 && many[0].s == 1 && many[0].e == 2);
    CHECK_NEAR(many[0].score, 36.0 / 81, 1e-6);
    size_t dup = 0;
    for (size_t i = 0; i < n; i++)
        dup += many[i].s == 1 && many[i].e == 2;
    CHECK(dup == 1); /* the span both windows see is listed once */

    /* Impossible answer: CLS dominates -> null 36/81 beats every span (1/81). */
    const float st3[7] = {L6, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    struct task_qa_window w3 = {7, st3, st3, ctx, cls, 0};
    null = 1e6f;
    task_qa_select(&w3, 1, 1, 15, &null, c, &n);
    CHECK_NEAR(null, 36.0 / 81, 1e-6);
    CHECK(n == 1 && c[0].score < null);
    CHECK_NEAR(c[0].score, 1.0 / 81, 1e-7);

    CHECK(task_qa_select(&w, 1, 0, 15, &null, c, &n) == TASK_EINVAL);
}

/* White-space trimming of result spans (trim.c), offsets computed by hand. */
static void slice_is(const char *text, struct task_span sp, const char *want) {
    CHECK(sp.end - sp.start == strlen(want) && memcmp(text + sp.start, want, strlen(want)) == 0);
}

static void test_trim(void) {
    CHECK(task_is_space(' ') && task_is_space('\n') && task_is_space(0x1F) && task_is_space(0x85));
    CHECK(task_is_space(0xA0) && task_is_space(0x202F) && task_is_space(0x3000) &&
          task_is_space(0x2028));
    CHECK(!task_is_space(0x2581) && !task_is_space('.') && !task_is_space(0x200B) &&
          !task_is_space(-1) && !task_is_space('A'));

    /* "Je vis à Lyon.": à is 2 bytes, so " Lyon" (a "▁Lyon" token) is bytes [9,14),
     * code points [8,13); trimmed: bytes [10,14), code points [9,13). */
    const char *t1 = "Je vis \xC3\xA0 Lyon.";
    struct task_span sp = {9, 14, 8, 13};
    task_span_trim(t1, strlen(t1), &sp);
    CHECK(sp.start == 10 && sp.end == 14 && sp.cp_start == 9 && sp.cp_end == 13);
    slice_is(t1, sp, "Lyon");

    /* NBSP before the word: "Prix\u00A0Lyon", span [4,10) / [4,9) -> [6,10) / [5,9). */
    const char *t2 = "Prix\xC2\xA0Lyon";
    sp = (struct task_span){4, 10, 4, 9};
    task_span_trim(t2, strlen(t2), &sp);
    CHECK(sp.start == 6 && sp.end == 10 && sp.cp_start == 5 && sp.cp_end == 9);

    /* Both sides, U+202F (3 bytes) inside French guillemets: "«\u202FBonjour\u202F»":
     * « 0-1, U+202F 2-4, Bonjour 5-11, U+202F 12-14, » 15-16; code points 0, 1, 2-8, 9, 10.
     * Span [2,15) / [1,10) -> [5,12) / [2,9); the guillemets were never in it. */
    const char *t3 = "\xC2\xAB\xE2\x80\xAF"
                     "Bonjour\xE2\x80\xAF\xC2\xBB";
    sp = (struct task_span){2, 15, 1, 10};
    task_span_trim(t3, strlen(t3), &sp);
    CHECK(sp.start == 5 && sp.end == 12 && sp.cp_start == 2 && sp.cp_end == 9);
    slice_is(t3, sp, "Bonjour");

    /* Punctuation stays: " (Lyon). " [0,9) -> "(Lyon)." [1,8). */
    const char *t4 = " (Lyon). ";
    sp = (struct task_span){0, 9, 0, 9};
    task_span_trim(t4, strlen(t4), &sp);
    CHECK(sp.start == 1 && sp.end == 8 && sp.cp_start == 1 && sp.cp_end == 8);

    /* All white space collapses to the empty span at its end; empty spans stay. */
    const char *t5 = "a \t\xC2\xA0"
                     "b";
    sp = (struct task_span){1, 5, 1, 4};
    task_span_trim(t5, strlen(t5), &sp);
    CHECK(sp.start == 5 && sp.end == 5 && sp.cp_start == 4 && sp.cp_end == 4);
    sp = (struct task_span){0, 0, 0, 0};
    task_span_trim(t5, strlen(t5), &sp);
    CHECK(sp.start == 0 && sp.end == 0 && sp.cp_start == 0 && sp.cp_end == 0);

    char w1[] = "\xC2\xA0 Angela Merkel\t\n", w2[] = "\xE2\x96\x81Lyon", w3[] = " \xE2\x80\xAF ",
         w4[] = "Lyon";
    task_str_trim(w1);
    task_str_trim(w2);
    task_str_trim(w3);
    task_str_trim(w4);
    CHECK_STR(w1, "Angela Merkel");
    CHECK_STR(w2, "\xE2\x96\x81Lyon"); /* U+2581 is not white space */
    CHECK_STR(w3, "");
    CHECK_STR(w4, "Lyon");

    /* Whole results: a SentencePiece entity " Lyon" and a QA answer " Angela Merkel"
     * come out trimmed, span and string alike; the null answer stays (0,0,""). */
    const char *t6 = "Je vis \xC3\xA0 Lyon.";
    struct task_entity *ents = calloc(1, sizeof(*ents));
    ents[0] = (struct task_entity){task_strdup("LOC"), 0.9f, task_strdup(" Lyon"),
                                   {9, 14, 8, 13}, -1};
    struct task_result r = {.n_items = 1, .u.entities = ents};
    task_result_trim(TASK_NER, t6, strlen(t6), &r);
    CHECK(ents[0].span.start == 10 && ents[0].span.cp_start == 9 && ents[0].span.end == 14);
    CHECK_STR(ents[0].word, "Lyon");
    slice_is(t6, ents[0].span, ents[0].word);
    task_entities_free(ents, 1);

    const char *ctx = "C'est Angela Merkel.";
    struct task_answer ans[2] = {{task_strdup(" Angela Merkel"), 0.8f, {5, 19, 5, 19}},
                                 {task_strdup(""), 0.1f, {0, 0, 0, 0}}};
    r = (struct task_result){.n_items = 2, .u.answers = ans};
    task_result_trim(TASK_QA, ctx, strlen(ctx), &r);
    CHECK(ans[0].span.start == 6 && ans[0].span.end == 19 && ans[0].span.cp_start == 6 &&
          ans[0].span.cp_end == 19);
    CHECK_STR(ans[0].text, "Angela Merkel");
    slice_is(ctx, ans[0].span, ans[0].text);
    CHECK(ans[1].span.start == 0 && ans[1].span.end == 0);
    CHECK_STR(ans[1].text, "");
    free(ans[0].text);
    free(ans[1].text);
}

int main(void) {
    test_math();
    test_windows();
    test_ner_strategies();
    test_ner_bi_rules();
    test_subword();
    test_merge();
    test_qa();
    test_trim();
    fprintf(stderr, "%d checks, %d failed\n", g_checks, g_fail);
    return g_fail ? 1 : 0;
}
