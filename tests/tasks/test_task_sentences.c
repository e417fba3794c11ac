/* test_task_sentences.c — French/English sentence segmentation and the MMR
 * summary selection, from hand-written cases. */
#include <stdlib.h>

#include "tasks/task_impl.h"
#include "tests/tasks/check.h"

static void expect(const char *text, const char *const *want, size_t n_want, int line) {
    struct task_span *sp = NULL;
    size_t n = 0, len = strlen(text);
    CHECK(task_sentences_split(text, len, &sp, &n) == TASK_OK);
    if (n != n_want) {
        fprintf(stderr, "line %d: %zu sentences, want %zu:\n", line, n, n_want);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "  [%.*s]\n", (int)(sp[i].end - sp[i].start), text + sp[i].start);
        g_fail++;
    } else {
        for (size_t i = 0; i < n; i++) {
            size_t l = sp[i].end - sp[i].start;
            if (l != strlen(want[i]) || memcmp(text + sp[i].start, want[i], l) != 0) {
                fprintf(stderr, "line %d: sentence %zu = [%.*s], want [%s]\n", line, i, (int)l,
                        text + sp[i].start, want[i]);
                g_fail++;
            }
        }
    }
    free(sp);
}
#define EXPECT(text, ...)                                                                          \
    do {                                                                                           \
        const char *const w_[] = {__VA_ARGS__};                                                    \
        expect(text, w_, sizeof(w_) / sizeof(w_[0]), __LINE__);                                    \
    } while (0)

static void test_english(void) {
    EXPECT("Dr. Smith arrived at 3.30 p.m. yesterday. He paid $4.50 for coffee! "
           "Did J. K. Rowling write it? Yes.",
           "Dr. Smith arrived at 3.30 p.m. yesterday.", "He paid $4.50 for coffee!",
           "Did J. K. Rowling write it?", "Yes.");
    EXPECT("Mr. and Mrs. Brown live on Oak St. in Boston. They own a dog, a cat, etc. "
           "The dog is old.",
           "Mr. and Mrs. Brown live on Oak St. in Boston.", "They own a dog, a cat, etc.",
           "The dog is old.");
    EXPECT("He said \"Stop.\" Then he left... Nobody followed (not even Ann.) The end",
           "He said \"Stop.\"", "Then he left...", "Nobody followed (not even Ann.)", "The end");
    EXPECT("See Fig. 3 and p. 12 for details. Results vary.", "See Fig. 3 and p. 12 for details.",
           "Results vary.");
    /* A blank line ends "Title"; a single newline is just white space. */
    EXPECT("Title\n\nFirst paragraph. Second one.\nThird one\nstill third", "Title",
           "First paragraph.", "Second one.", "Third one\nstill third");
    struct task_span *sp = NULL;
    size_t n = 7;
    CHECK(task_sentences_split("  \n ", 4, &sp, &n) == TASK_OK && n == 0 && sp == NULL);
}

static void test_french(void) {
    EXPECT(
        "M. Dupont est arriv\xc3\xa9 \xc3\xa0 14 h. Il a dit : \xc2\xab Je reviens. \xc2\xbb "
        "Puis il est parti, etc. Mme Durand, elle, est rest\xc3\xa9"
        "e\xe2\x80\xa6 "
        "Le prix \xc3\xa9tait de 3,5 millions. \xc2\xab\xc2\xa0Vraiment\xc2\xa0?\xc2\xa0\xc2\xbb "
        "demanda-t-elle.",
        "M. Dupont est arriv\xc3\xa9 \xc3\xa0 14 h.", "Il a dit : \xc2\xab Je reviens. \xc2\xbb",
        "Puis il est parti, etc.",
        "Mme Durand, elle, est rest\xc3\xa9"
        "e\xe2\x80\xa6",
        "Le prix \xc3\xa9tait de 3,5 millions.",
        "\xc2\xab\xc2\xa0Vraiment\xc2\xa0?\xc2\xa0\xc2\xbb demanda-t-elle.");
    EXPECT("Le Dr. Martin et MM. Durand sont l\xc3\xa0. Mlle Roux aussi ! Et Me Bernard ?",
           "Le Dr. Martin et MM. Durand sont l\xc3\xa0.", "Mlle Roux aussi !", "Et Me Bernard ?");
    EXPECT("La valeur est 3.14 exactement. \xe2\x80\x94 Oui, dit-il. Attendez... Non!",
           "La valeur est 3.14 exactement.", "\xe2\x80\x94 Oui, dit-il.", "Attendez...", "Non!");
}

static void test_offsets(void) {
    /* "Été chaud. Oui." : É and é are 2 bytes each. */
    const char *t = "\xc3\x89t\xc3\xa9 chaud. Oui.";
    struct task_span *sp = NULL;
    size_t n = 0;
    CHECK(task_sentences_split(t, strlen(t), &sp, &n) == TASK_OK);
    CHECK(n == 2);
    if (n == 2) {
        CHECK(sp[0].start == 0 && sp[0].end == 12 && sp[0].cp_start == 0 && sp[0].cp_end == 10);
        CHECK(sp[1].start == 13 && sp[1].end == 17 && sp[1].cp_start == 11 && sp[1].cp_end == 15);
    }
    free(sp);
}

static void test_mmr(void) {
    /* s0 = s1 = (1,0), s2 = (.8,.6), s3 = (0,1). centroid ∝ (2.8, 1.6):
     * c0 = c1 = 2.8/sqrt(10.4) = .868243, c2 = 3.2/sqrt(10.4) = .992278, c3 = .496139. */
    float e[8];
    size_t ch[4];
    float c[4];
#define RESET() (e[0] = 1, e[1] = 0, e[2] = 1, e[3] = 0, e[4] = .8f, e[5] = .6f, e[6] = 0, e[7] = 1)
    RESET();
    CHECK(task_mmr_select(e, 4, 2, 3, 1.0f, NULL, ch, c) == TASK_OK);
    /* lambda 1 = pure centrality: s2, then s0 (tie with s1, lower index), then s1. */
    CHECK(ch[0] == 0 && ch[1] == 1 && ch[2] == 2);
    CHECK_NEAR(c[0], 0.868243, 1e-5);
    CHECK_NEAR(c[2], 0.992278, 1e-5);
    RESET();
    /* lambda .5: s2; then s0 (.434-.4 = .034); then s3 (.248-.3 = -.052) beats the
     * duplicate s1 (.434-.5 = -.066): redundancy control. Output in text order. */
    task_mmr_select(e, 4, 2, 3, 0.5f, NULL, ch, c);
    CHECK(ch[0] == 0 && ch[1] == 2 && ch[2] == 3);
    CHECK_NEAR(c[2], 0.496139, 1e-5);
    RESET();
    task_mmr_select(e, 4, 2, 10, 0.5f, NULL, ch, c); /* k > n: all, in order */
    CHECK(ch[0] == 0 && ch[1] == 1 && ch[2] == 2 && ch[3] == 3);
    /* a trained adapter's salience replaces centrality: lambda 1 takes the 2 most salient
     * (s3 .9, s1 .6) whatever the centroid says. lambda .5, 3 picks: s3; then s1 (.3 - 0)
     * over s0 (.25 - 0) and s2 (.05 - .5 * .6); then s0 (.25 - .5 * 1 = -.25) over s2
     * (.05 - .5 * .8 = -.35): redundancy is still measured on the embeddings. */
    float sal[4] = {0.5f, 0.6f, 0.1f, 0.9f};
    RESET();
    task_mmr_select(e, 4, 2, 2, 1.0f, sal, ch, c);
    CHECK(ch[0] == 1 && ch[1] == 3);
    CHECK_NEAR(c[0], 0.6, 1e-6);
    CHECK_NEAR(c[1], 0.9, 1e-6);
    RESET();
    task_mmr_select(e, 4, 2, 3, 0.5f, sal, ch, c);
    CHECK(ch[0] == 0 && ch[1] == 1 && ch[2] == 3);

    CHECK(task_summary_count(10, 0, 0.0f) == 3);
    CHECK(task_summary_count(10, 0, 0.25f) == 3);
    CHECK(task_summary_count(10, 2, 0.5f) == 2);
    CHECK(task_summary_count(10, 20, 0.0f) == 10);
    CHECK(task_summary_count(10, 0, 0.01f) == 1);
    CHECK(task_summary_count(2, 0, 0.0f) == 2);
    CHECK(task_summary_count(0, 5, 0.0f) == 0);
}

static void test_pool(void) {
    const float h[6] = {1, 2, 3, 4, 5, 6}; /* (3, 2) */
    float o[2];
    task_pool(h, 3, 2, TASK_POOL_MEAN, o);
    CHECK_NEAR(o[0], 3, 1e-6);
    CHECK_NEAR(o[1], 4, 1e-6);
    task_pool(h, 3, 2, TASK_POOL_CLS, o);
    CHECK(o[0] == 1 && o[1] == 2);
}

int main(void) {
    test_english();
    test_french();
    test_offsets();
    test_mmr();
    test_pool();
    fprintf(stderr, "%d checks, %d failed\n", g_checks, g_fail);
    return g_fail ? 1 : 0;
}
