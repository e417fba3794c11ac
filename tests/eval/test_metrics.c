/* test_metrics.c — metrics checked against hand-computed cases.
 *
 * Every expected number below is worked out by hand from the definitions (the
 * arithmetic is in the comments); none was produced by running this code.
 */
#include "tools/eval/metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/check.h"
#define NEAR(a, b)                                                                                 \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (fabs(a_ - b_) > 1e-9) {                                                                \
            fprintf(stderr, "%s:%d: %s = %.12f, expected %.12f\n", __FILE__, __LINE__, #a, a_,     \
                    b_);                                                                           \
            g_fail++;                                                                              \
        }                                                                                          \
    } while (0)

static void test_classification(void) {
    /* gold 0 0 0 1 1 2, pred 0 0 1 1 2 2; label 3 never occurs.
     * class 0: true 3, pred 2, match 2 -> P 1, R 2/3, F1 2*(2/3)/(5/3) = 0.8
     * class 1: true 2, pred 2, match 1 -> P 1/2, R 1/2, F1 1/2
     * class 2: true 1, pred 2, match 1 -> P 1/2, R 1, F1 2*(1/2)/(3/2) = 2/3
     * accuracy 4/6; macro over the 3 present classes:
     * P (1 + 1/2 + 1/2)/3 = 2/3, R (2/3 + 1/2 + 1)/3 = 13/18, F1 (0.8 + 0.5 + 2/3)/3
     * weighted F1 (3*0.8 + 2*0.5 + 1*2/3)/6 */
    const int32_t gold[] = {0, 0, 0, 1, 1, 2}, pred[] = {0, 0, 1, 1, 2, 2};
    struct ev_cls_report r;
    CHECK(ev_cls_score(gold, pred, 6, 4, &r) == EV_OK);
    NEAR(r.accuracy, 4.0 / 6.0);
    CHECK(r.n_present == 3);
    NEAR(r.per_label[0].precision, 1.0);
    NEAR(r.per_label[0].recall, 2.0 / 3.0);
    NEAR(r.per_label[0].f1, 0.8);
    NEAR(r.per_label[1].f1, 0.5);
    NEAR(r.per_label[2].precision, 0.5);
    NEAR(r.per_label[2].recall, 1.0);
    NEAR(r.per_label[2].f1, 2.0 / 3.0);
    NEAR(r.per_label[3].f1, 0.0);
    NEAR(r.macro_precision, 2.0 / 3.0);
    NEAR(r.macro_recall, 13.0 / 18.0);
    NEAR(r.macro_f1, (0.8 + 0.5 + 2.0 / 3.0) / 3.0);
    NEAR(r.weighted_f1, (3 * 0.8 + 2 * 0.5 + 2.0 / 3.0) / 6.0);
    CHECK(r.confusion[0 * 4 + 1] == 1); /* one gold-0 predicted as 1 */
    CHECK(r.confusion[1 * 4 + 2] == 1);
    CHECK(r.confusion[2 * 4 + 2] == 1);
    ev_cls_report_clear(&r);

    const int32_t bad[] = {5};
    CHECK(ev_cls_score(bad, bad, 1, 4, &r) == EV_EINVAL);
}

static void score_tags(enum ev_ner_mode mode, const char *const *g, const char *const *p, size_t n,
                       struct ev_ner_report *rep) {
    struct ev_ner *s = NULL;
    CHECK(ev_ner_new(mode, &s) == EV_OK);
    CHECK(ev_ner_add_tags(s, g, p, n, NULL) == EV_OK);
    CHECK(ev_ner_report(s, rep) == EV_OK);
    /* names must outlive the scorer for the checks: compare them here */
    ev_ner_free(s);
}

static void test_ner_seqeval_readme(void) {
    /* seqeval README example:
     * true [O O O B-MISC I-MISC I-MISC O] [B-PER I-PER O]
     * pred [O O B-MISC I-MISC I-MISC I-MISC O] [B-PER I-PER O]
     * gold entities MISC[3,6) PER[0,2); pred MISC[2,6) PER[0,2): 1 match of 2 and 2.
     * micro P = R = F1 = 1/2; MISC 0, PER 1 -> macro F1 1/2.
     * token accuracy: 10 tokens, positions 2 and 3 of sentence 1 differ -> 8/10. */
    const char *g1[] = {"O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"};
    const char *p1[] = {"O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"};
    const char *g2[] = {"B-PER", "I-PER", "O"};
    const char *p2[] = {"B-PER", "I-PER", "O"};
    struct ev_ner *s = NULL;
    CHECK(ev_ner_new(EV_NER_STRICT, &s) == EV_OK);
    CHECK(ev_ner_add_tags(s, g1, p1, 7, NULL) == EV_OK);
    CHECK(ev_ner_add_tags(s, g2, p2, 3, NULL) == EV_OK);
    struct ev_ner_report r;
    CHECK(ev_ner_report(s, &r) == EV_OK);
    CHECK(r.n_types == 2);
    CHECK(strcmp(r.type_names[0], "MISC") == 0 && strcmp(r.type_names[1], "PER") == 0);
    NEAR(r.per_type[0].f1, 0.0);
    CHECK(r.per_type[0].n_true == 1 && r.per_type[0].n_pred == 1);
    NEAR(r.per_type[1].f1, 1.0);
    NEAR(r.micro.precision, 0.5);
    NEAR(r.micro.recall, 0.5);
    NEAR(r.micro.f1, 0.5);
    NEAR(r.macro_f1, 0.5);
    NEAR(r.token_accuracy, 0.8);
    CHECK(r.n_sentences == 2);
    ev_ner_report_clear(&r);
    ev_ner_free(s);
}

static void test_ner_strict_vs_conll(void) {
    /* seqeval docs: true [B-X I-X O], pred [I-X I-X O].
     * strict: an I-X without B-X starts nothing -> no predicted entity: P = R = F1 = 0.
     * conll: I-X after O starts X[0,2) -> equals gold -> F1 = 1. */
    const char *g[] = {"B-X", "I-X", "O"};
    const char *p[] = {"I-X", "I-X", "O"};
    struct ev_ner_report r;
    score_tags(EV_NER_STRICT, g, p, 3, &r);
    CHECK(r.micro.n_pred == 0 && r.micro.n_true == 1);
    NEAR(r.micro.f1, 0.0);
    ev_ner_report_clear(&r);
    score_tags(EV_NER_CONLL, g, p, 3, &r);
    NEAR(r.micro.f1, 1.0);
    ev_ner_report_clear(&r);
}

static void test_ner_decode(void) {
    struct ev_ner *s = NULL;
    CHECK(ev_ner_new(EV_NER_STRICT, &s) == EV_OK);
    struct ev_entity *e = NULL;
    size_t n = 0, bad = 99;
    int32_t per, loc, und;
    CHECK(ev_ner_type(s, "PER", 3, &per) == EV_OK);
    CHECK(ev_ner_type(s, "LOC", 3, &loc) == EV_OK);
    CHECK(ev_ner_type(s, "_", 1, &und) == EV_OK);

    /* B-PER I-LOC: strict -> PER[0,1) only (I-LOC has no B-LOC before it). */
    const char *t1[] = {"B-PER", "I-LOC"};
    CHECK(ev_ner_decode(s, t1, 2, &e, &n, NULL) == EV_OK);
    CHECK(n == 1 && e[0].start == 0 && e[0].end == 1 && e[0].type == per);
    free(e);

    /* B-PER B-PER I-PER O B-LOC: PER[0,1) PER[1,3) LOC[4,5). */
    const char *t2[] = {"B-PER", "B-PER", "I-PER", "O", "B-LOC"};
    CHECK(ev_ner_decode(s, t2, 5, &e, &n, NULL) == EV_OK);
    CHECK(n == 3);
    CHECK(e[0].start == 0 && e[0].end == 1 && e[0].type == per);
    CHECK(e[1].start == 1 && e[1].end == 3 && e[1].type == per);
    CHECK(e[2].start == 4 && e[2].end == 5 && e[2].type == loc);
    free(e);

    /* O I-PER I-PER B-LOC I-PER: strict -> only LOC[3,4). */
    const char *t3[] = {"O", "I-PER", "I-PER", "B-LOC", "I-PER"};
    CHECK(ev_ner_decode(s, t3, 5, &e, &n, NULL) == EV_OK);
    CHECK(n == 1 && e[0].start == 3 && e[0].end == 4 && e[0].type == loc);
    free(e);

    /* Bare "B" "I": type "_" (seqeval: tag.strip('-') or '_'): one entity [0,2). */
    const char *t4[] = {"B", "I", "O"};
    CHECK(ev_ner_decode(s, t4, 3, &e, &n, NULL) == EV_OK);
    CHECK(n == 1 && e[0].start == 0 && e[0].end == 2 && e[0].type == und);
    free(e);

    /* E- is not an IOB2 prefix: rejected, position reported. */
    const char *t5[] = {"O", "B-PER", "E-PER"};
    CHECK(ev_ner_decode(s, t5, 3, &e, &n, &bad) == EV_EINVAL);
    CHECK(bad == 2);
    const char *t6[] = {""};
    CHECK(ev_ner_decode(s, t6, 1, &e, &n, &bad) == EV_EINVAL);
    ev_ner_free(s);

    /* conll mode, O I-PER I-PER B-LOC I-PER: PER[1,3) LOC[3,4) PER[4,5)
     * (the type change LOC -> PER ends LOC and starts PER). */
    CHECK(ev_ner_new(EV_NER_CONLL, &s) == EV_OK);
    CHECK(ev_ner_decode(s, t3, 5, &e, &n, NULL) == EV_OK);
    CHECK(n == 3);
    if (n == 3) {
        CHECK(e[0].start == 1 && e[0].end == 3);
        CHECK(e[1].start == 3 && e[1].end == 4);
        CHECK(e[2].start == 4 && e[2].end == 5);
        CHECK(e[0].type == e[2].type && e[0].type != e[1].type);
    }
    free(e);
    ev_ner_free(s);
}

static void test_ner_spans(void) {
    /* Character spans: gold PER[0,5) LOC[10,16); pred PER[0,5) LOC[10,15) and a
     * duplicate PER[0,5) (sets: counted once). 1 match; 2 gold; 2 distinct pred.
     * P = R = F1 = 1/2. */
    struct ev_ner *s = NULL;
    CHECK(ev_ner_new(EV_NER_STRICT, &s) == EV_OK);
    int32_t per, loc;
    CHECK(ev_ner_type(s, "PER", 3, &per) == EV_OK);
    CHECK(ev_ner_type(s, "LOC", 3, &loc) == EV_OK);
    struct ev_entity g[] = {{0, 5, per}, {10, 16, loc}};
    struct ev_entity p[] = {{10, 15, loc}, {0, 5, per}, {0, 5, per}};
    CHECK(ev_ner_add_entities(s, g, 2, p, 3) == EV_OK);
    struct ev_ner_report r;
    CHECK(ev_ner_report(s, &r) == EV_OK);
    CHECK(r.micro.n_pred == 2 && r.micro.n_true == 2 && r.micro.n_match == 1);
    NEAR(r.micro.f1, 0.5);
    /* types sorted by name: LOC then PER */
    CHECK(strcmp(r.type_names[0], "LOC") == 0);
    NEAR(r.per_type[0].f1, 0.0);
    NEAR(r.per_type[1].f1, 1.0);
    ev_ner_report_clear(&r);
    ev_ner_free(s);
}

static void check_norm(const char *in, enum ev_lang lang, const char *want) {
    char *out = NULL;
    size_t n = 0;
    CHECK(ev_squad_normalize(in, strlen(in), lang, &out, &n) == EV_OK);
    if (out && strcmp(out, want) != 0) {
        fprintf(stderr, "normalize(\"%s\") = \"%s\", expected \"%s\"\n", in, out, want);
        g_fail++;
    }
    CHECK(out && n == strlen(out));
    free(out);
}

/* aggregation none: each word takes its first sub-token's tag (HF word_ids). */
static void test_ner_word_tags(void) {
    /* "Le Paris brûle", CoNLL words joined by single spaces: "Le" [0,2)
     * "Paris" [3,8) "brûle" [9,14) (code points). */
    const size_t ws[] = {0, 3, 9}, we[] = {2, 8, 14};
    const char *wt[3];
    /* issue 8: Metaspace splits "Paris" as "▁" + "Paris"; socled trims the lone
     * "▁" to the empty span [3,3). It is word 1's first sub-token (HF word_ids),
     * so word 1 takes B-LOC, not the I-LOC of the piece after it. */
    const size_t t1[] = {0, 3, 3};
    const char *g1[] = {"B-PER", "B-LOC", "I-LOC"};
    ev_ner_word_tags(ws, we, 3, t1, g1, 3, wt);
    CHECK(wt[0] && strcmp(wt[0], "B-PER") == 0);
    CHECK(wt[1] && strcmp(wt[1], "B-LOC") == 0);
    CHECK(wt[2] == NULL);
    /* untrimmed offsets: the lone "▁" covers the space [2,3) -> still word 1 */
    const size_t t2[] = {2, 3};
    const char *g2[] = {"B-LOC", "I-LOC"};
    ev_ner_word_tags(ws, we, 3, t2, g2, 2, wt);
    CHECK(wt[0] == NULL);
    CHECK(wt[1] && strcmp(wt[1], "B-LOC") == 0);
    /* "▁Pa" [2,5) then "ris" [5,8): the first piece counts; a labelled piece
     * starting inside a word whose first piece was O (dropped) counts for nothing */
    const size_t t3[] = {2, 5, 11};
    const char *g3[] = {"B-LOC", "I-PER", "B-MISC"};
    ev_ner_word_tags(ws, we, 3, t3, g3, 3, wt);
    CHECK(wt[0] == NULL);
    CHECK(wt[1] && strcmp(wt[1], "B-LOC") == 0);
    CHECK(wt[2] == NULL);
    /* a token past the last word belongs to no word */
    const size_t t4[] = {14};
    const char *g4[] = {"B-PER"};
    ev_ner_word_tags(ws, we, 3, t4, g4, 1, wt);
    CHECK(!wt[0] && !wt[1] && !wt[2]);
}

static void test_squad_normalize(void) {
    /* lower -> drop ASCII punctuation -> articles -> whitespace */
    check_norm("The  Cat's hat!", EV_LANG_EN, "cats hat");
    check_norm("An apple a day", EV_LANG_EN, "apple day");
    check_norm("theater anthem", EV_LANG_EN, "theater anthem"); /* whole words only */
    check_norm("  (the)  ", EV_LANG_EN, "");
    check_norm("the\xc2\xa0"
               "end",
               EV_LANG_EN, "end");       /* NBSP splits like str.split() */
    check_norm("a-b", EV_LANG_EN, "ab"); /* '-' deleted, not spaced */
    check_norm("\xc3\x89t\xc3\xa9 1999", EV_LANG_EN, "\xc3\xa9t\xc3\xa9 1999"); /* Été -> été */
    check_norm("L'homme", EV_LANG_EN, "lhomme"); /* English rules: no elision */
    /* French: elision, Unicode punctuation, French articles */
    check_norm("L'homme de la rue", EV_LANG_FR, "homme rue");
    check_norm("\xc2\xab Le Petit Prince \xc2\xbb", EV_LANG_FR, "petit prince"); /* « » */
    check_norm("d\xe2\x80\x99"
               "Artagnan",
               EV_LANG_FR, "artagnan"); /* d’ */
    check_norm("aujourd\xe2\x80\x99hui", EV_LANG_FR, "aujourdhui");
    check_norm("Les enfants des voisins du village", EV_LANG_FR, "enfants voisins village");
    check_norm("une the", EV_LANG_FR, "the"); /* English articles stay in French mode */
    char *out = NULL;
    CHECK(ev_squad_normalize("\xff", 1, EV_LANG_EN, &out, NULL) == EV_EUTF8);
}

static void test_squad_score(void) {
    double em = -1, f1 = -1;
    /* pred "the cat sat" -> [cat sat]; gold "a cat sat on the mat" -> [cat sat on mat]
     * common 2: P = 2/2, R = 2/4, F1 = 2*1*0.5/1.5 = 2/3; EM 0. */
    const char *g1[] = {"a cat sat on the mat"};
    size_t l1[] = {strlen(g1[0])};
    CHECK(ev_squad_score("the cat sat", 11, g1, l1, 1, EV_LANG_EN, false, &em, &f1) == EV_OK);
    NEAR(em, 0.0);
    NEAR(f1, 2.0 / 3.0);
    /* max over gold answers: a second gold "Cat sat." normalizes equal -> EM 1, F1 1 */
    const char *g2[] = {"a cat sat on the mat", "Cat sat."};
    size_t l2[] = {strlen(g2[0]), strlen(g2[1])};
    CHECK(ev_squad_score("the cat sat", 11, g2, l2, 2, EV_LANG_EN, false, &em, &f1) == EV_OK);
    NEAR(em, 1.0);
    NEAR(f1, 1.0);
    /* multiset overlap: pred [cat cat cat], gold [cat dog]: common min(3,1) = 1,
     * P 1/3, R 1/2, F1 = 2*(1/6)/(5/6) = 0.4 */
    const char *g3[] = {"cat dog"};
    size_t l3[] = {7};
    CHECK(ev_squad_score("cat cat cat", 11, g3, l3, 1, EV_LANG_EN, false, &em, &f1) == EV_OK);
    NEAR(f1, 0.4);
    /* impossible question (no gold): empty prediction. v2: EM 1, F1 1.
     * v1.1 rules: EM 1 ("" == ""), F1 0 (no common token). */
    CHECK(ev_squad_score("", 0, NULL, NULL, 0, EV_LANG_EN, true, &em, &f1) == EV_OK);
    NEAR(em, 1.0);
    NEAR(f1, 1.0);
    CHECK(ev_squad_score("", 0, NULL, NULL, 0, EV_LANG_EN, false, &em, &f1) == EV_OK);
    NEAR(em, 1.0);
    NEAR(f1, 0.0);
    /* v2, non-empty prediction for an impossible question: 0 / 0 */
    CHECK(ev_squad_score("Paris", 5, NULL, NULL, 0, EV_LANG_EN, true, &em, &f1) == EV_OK);
    NEAR(em, 0.0);
    NEAR(f1, 0.0);
    /* French: "à l'Élysée" vs gold "l’Élysée": [à élysée] vs [élysée]:
     * P 1/2, R 1, F1 = 2/3 */
    const char *g4[] = {"l\xe2\x80\x99\xc3\x89lys\xc3\xa9"
                        "e"};
    size_t l4[] = {strlen(g4[0])};
    const char *p4 = "\xc3\xa0 l'\xc3\x89lys\xc3\xa9"
                     "e";
    CHECK(ev_squad_score(p4, strlen(p4), g4, l4, 1, EV_LANG_FR, false, &em, &f1) == EV_OK);
    NEAR(em, 0.0);
    NEAR(f1, 2.0 / 3.0);
}

static void test_rouge_tokenize(void) {
    /* rouge_score: lower, [^a-z0-9]+ -> space: "ça" loses "ç" -> "a". */
    const char *t = "Hello, World! \xc3\x87"
                    "a va? x2";
    char *buf = NULL;
    size_t n = 0;
    struct ev_rouge_opts o = {false};
    CHECK(ev_rouge_tokenize(t, strlen(t), &o, &buf, &n) == EV_OK);
    CHECK(n == 5);
    const char *want[] = {"hello", "world", "a", "va", "x2"};
    const char *p = buf;
    for (size_t i = 0; i < n && i < 5; i++) {
        CHECK(strcmp(p, want[i]) == 0);
        p += strlen(p) + 1;
    }
    free(buf);
    o.unicode = true;
    CHECK(ev_rouge_tokenize(t, strlen(t), &o, &buf, &n) == EV_OK);
    CHECK(n == 5);
    p = buf;
    for (size_t i = 0; i < 2; i++)
        p += strlen(p) + 1;
    CHECK(strcmp(p, "\xc3\xa7"
                    "a") == 0); /* ça */
    free(buf);
}

static void test_rouge(void) {
    struct ev_rouge_score s[EV_ROUGE_COUNT];
    /* cand: the cat was found under the bed (7 tokens)
     * ref : the cat was under the bed (6 tokens)
     * R1: overlap the:min(2,2) + cat + was + under + bed = 6: P 6/7, R 1, F 12/13
     * R2: cand bigrams the-cat cat-was was-found found-under under-the the-bed (6)
     *     ref  bigrams the-cat cat-was was-under under-the the-bed (5); overlap 4
     *     P 4/6, R 4/5, F = 2*(2/3)(4/5)/(2/3+4/5) = 16/22
     * RL: LCS "the cat was under the bed" = 6: P 6/7, R 1, F 12/13 */
    const char *c = "The cat was found under the bed.";
    const char *r = "the cat was under the bed";
    CHECK(ev_rouge(c, strlen(c), r, strlen(r), NULL, s) == EV_OK);
    NEAR(s[EV_ROUGE_1].precision, 6.0 / 7.0);
    NEAR(s[EV_ROUGE_1].recall, 1.0);
    NEAR(s[EV_ROUGE_1].fmeasure, 12.0 / 13.0);
    NEAR(s[EV_ROUGE_2].precision, 4.0 / 6.0);
    NEAR(s[EV_ROUGE_2].recall, 4.0 / 5.0);
    NEAR(s[EV_ROUGE_2].fmeasure, 16.0 / 22.0);
    NEAR(s[EV_ROUGE_L].fmeasure, 12.0 / 13.0);

    /* Lin (2004) §3.2 summary-level LCS example: ref r = w1 w2 w3 w4 w5,
     * candidate sentences c1 = w1 w2 w6 w7 w8, c2 = w1 w3 w8 w9 w5.
     * LCS(r,c1) = w1 w2, LCS(r,c2) = w1 w3 w5, union = w1 w2 w3 w5 -> 4 hits.
     * Lsum: R = 4/5, P = 4/10, F = 2*0.8*0.4/1.2 = 8/15.
     * R1 on whole texts: w1 min(2,1) + w2 + w3 + w5 = 4: P 4/10, R 4/5.
     * RL on whole texts: LCS w1 w2 w3 w5 = 4 -> same P/R. */
    const char *c2 = "w1 w2 w6 w7 w8\nw1 w3 w8 w9 w5";
    const char *r2 = "w1 w2 w3 w4 w5";
    CHECK(ev_rouge(c2, strlen(c2), r2, strlen(r2), NULL, s) == EV_OK);
    NEAR(s[EV_ROUGE_LSUM].recall, 0.8);
    NEAR(s[EV_ROUGE_LSUM].precision, 0.4);
    NEAR(s[EV_ROUGE_LSUM].fmeasure, 8.0 / 15.0);
    NEAR(s[EV_ROUGE_1].precision, 0.4);
    NEAR(s[EV_ROUGE_1].recall, 0.8);
    NEAR(s[EV_ROUGE_L].recall, 0.8);

    /* Lsum is a union of positions, not a sum: ref "a a" (one sentence), cand
     * "a\na\na" (3 one-word sentences). Each LCS(ref, "a") has length 1 and the
     * backtrack (from the end) picks ref position 1 every time: union {1} -> 1 hit.
     * R = 1/2, P = 1/3, F = 2*(1/6)/(5/6) = 0.4 */
    CHECK(ev_rouge("a\na\na", 5, "a a", 3, NULL, s) == EV_OK);
    NEAR(s[EV_ROUGE_LSUM].recall, 0.5);
    NEAR(s[EV_ROUGE_LSUM].precision, 1.0 / 3.0);
    NEAR(s[EV_ROUGE_LSUM].fmeasure, 0.4);

    /* empty candidate: everything 0 */
    CHECK(ev_rouge("", 0, r, strlen(r), NULL, s) == EV_OK);
    for (int k = 0; k < EV_ROUGE_COUNT; k++)
        NEAR(s[k].fmeasure, 0.0);
    /* identical texts: 1 everywhere */
    CHECK(ev_rouge(r, strlen(r), r, strlen(r), NULL, s) == EV_OK);
    for (int k = 0; k < EV_ROUGE_COUNT; k++)
        NEAR(s[k].fmeasure, 1.0);
}

/* stem(word) under mode, compared with want. */
static void stem_is(const char *word, enum ev_stemmer mode, const char *want) {
    char b[64];
    snprintf(b, sizeof(b), "%s", word);
    size_t n = ev_porter_stem(b, strlen(b), mode);
    if (n != strlen(want) || strcmp(b, want) != 0) {
        fprintf(stderr, "stem(%s, mode %d) = '%s', expected '%s'\n", word, (int)mode, b, want);
        g_fail++;
    }
}

static void test_porter_by_hand(void) {
    const enum ev_stemmer P = EV_STEM_PORTER, N = EV_STEM_PORTER_NLTK;
    /* caresses: 1a sses -> ss; no later suffix matches. */
    stem_is("caresses", P, "caress");
    /* ponies: 1a ies -> i ("poni"); nothing else applies. */
    stem_is("ponies", P, "poni");
    /* feed: 1b eed with stem "f", m = 0: unchanged (and "ed" is not tried). */
    stem_is("feed", P, "feed");
    /* agreed: 1b eed, stem "agr" = VC, m = 1 -> "agree"; 5a: stem "agre" m = 1 and
     * not *o (ends in a vowel) -> "agre". */
    stem_is("agreed", P, "agre");
    /* hopping: 1b ing, "hopp" has a vowel; *d (pp, not l/s/z) -> "hop". */
    stem_is("hopping", P, "hop");
    /* falling: 1b -> "fall", double l is kept in 1b; 5b needs m > 1 (m = 1). */
    stem_is("falling", P, "fall");
    /* filing: 1b -> "fil", m = 1 and *o (f-i-l) -> "file"; 5a keeps the e (*o). */
    stem_is("filing", P, "file");
    /* conflated: 1b ed -> "conflat", at -> ate: "conflate"; 4 ate with stem
     * "confl" (m = 1) fails; 5a: m("conflat") = 2 > 1 -> "conflat". */
    stem_is("conflated", P, "conflat");
    /* generalizations: 1a -> "generalization"; 2 ization -> ize (m("general") = 3);
     * 3 alize -> al (m("gener") = 2); 4 al (m = 2 > 1) -> "gener". */
    stem_is("generalizations", P, "gener");
    /* happy: 1c y -> i ("happ" has a vowel). sky: "sk" has none. */
    stem_is("happy", P, "happi");
    stem_is("sky", P, "sky");
    /* adoption: 4 ion with stem "adopt" (m = 2, ends in t) -> "adopt";
     * "onion"-like stems not ending in s/t keep ion: "opinion" -> stem "opin" ends n. */
    stem_is("adoption", P, "adopt");
    stem_is("opinion", P, "opinion");
    /* replacement: 4 ement, stem "replac" m = 2 -> "replac"; longest match only:
     * "cement" -> ement with stem "c" (m = 0) fails, and ment/ent are not tried. */
    stem_is("replacement", P, "replac");
    stem_is("cement", P, "cement");
    /* controll: 5b ll with m("control") = 2 -> "control"; roll: m = 1, kept. */
    stem_is("controll", P, "control");
    stem_is("roll", P, "roll");
    /* y after y: in "sayyy" y(2) follows the vowel a -> consonant, y(3) a vowel,
     * y(4) a consonant; 1c: stem "sayy" has vowels -> "sayyi". */
    stem_is("sayyy", P, "sayyi");

    /* Where NLTK's default mode departs (rouge_score use_stemmer=True). */
    /* dying: 1b ing -> "dy" (y after d is a vowel); 1c: "d" has no vowel: "dy".
     * NLTK: irregular form -> "die". */
    stem_is("dying", P, "dy");
    stem_is("dying", N, "die");
    /* enjoy: 1c original: "enjo" has a vowel -> "enjoi"; NLTK: y after the vowel o stays. */
    stem_is("enjoy", P, "enjoi");
    stem_is("enjoy", N, "enjoy");
    /* ties: original 1a ies -> i: "ti"; NLTK: a 4-letter word keeps "ie": "tie". */
    stem_is("ties", P, "ti");
    stem_is("ties", N, "tie");
    /* anthropology: 1c -> "anthropologi"; original has no logi rule; NLTK's
     * logi -> log (m("anthropol") > 0) -> "anthropolog". */
    stem_is("anthropology", P, "anthropologi");
    stem_is("anthropology", N, "anthropolog");
    /* NLTK keeps words of <= 2 letters; the paper stems them: "is" -> 1a s -> "i". */
    stem_is("is", P, "i");
    stem_is("is", N, "is");
    /* EV_STEM_NONE: unchanged. */
    stem_is("running", EV_STEM_NONE, "running");
}

/* tests/data/eval/porter_vocab.tsv: word, Porter 1980 stem, NLTK-mode stem, from NLTK
 * 3.8's PorterStemmer (tools/eval/gen_porter_fixture.py), 10,541 words. */
static void test_porter_vocab(void) {
    FILE *f = fopen("tests/data/eval/porter_vocab.tsv", "r");
    CHECK(f != NULL);
    if (!f)
        return;
    char line[512], b[512];
    size_t n = 0, bad = 0;
    while (fgets(line, sizeof(line), f)) {
        if (line[0] == '#')
            continue;
        line[strcspn(line, "\r\n")] = '\0';
        char *w = line, *orig = strchr(w, '\t'), *nltk = orig ? strchr(orig + 1, '\t') : NULL;
        CHECK(orig && nltk);
        if (!orig || !nltk)
            break;
        *orig++ = '\0';
        *nltk++ = '\0';
        const enum ev_stemmer modes[2] = {EV_STEM_PORTER, EV_STEM_PORTER_NLTK};
        const char *want[2] = {orig, nltk};
        for (int m = 0; m < 2; m++) {
            snprintf(b, sizeof(b), "%s", w);
            ev_porter_stem(b, strlen(b), modes[m]);
            if (strcmp(b, want[m]) != 0 && bad++ < 10)
                fprintf(stderr, "porter_vocab: %s mode %d: '%s', expected '%s'\n", w, m, b,
                        want[m]);
        }
        n++;
    }
    fclose(f);
    CHECK(n > 10000);
    CHECK(bad == 0);
}

static void test_rouge_stem(void) {
    struct ev_rouge_score s[EV_ROUGE_COUNT];
    /* cand "the cats are running" ref "a cat runs".
     * No stemming: no common token -> R1 0.
     * Stemming (tokens longer than 3 only): cats -> cat, running -> run, runs -> run;
     * "are" and "cat" (3 letters) untouched. cand {the cat are run}, ref {a cat run}:
     * R1 overlap 2: P 2/4, R 2/3, F 2*(1/2)(2/3)/(7/6) = 4/7.
     * R2: cand the-cat cat-are are-run, ref a-cat cat-run: 0. */
    const char *c = "The cats are running.", *r = "A cat runs";
    struct ev_rouge_opts o = {false, EV_STEM_NONE};
    CHECK(ev_rouge(c, strlen(c), r, strlen(r), &o, s) == EV_OK);
    NEAR(s[EV_ROUGE_1].fmeasure, 0.0);
    o.stem = EV_STEM_PORTER;
    CHECK(ev_rouge(c, strlen(c), r, strlen(r), &o, s) == EV_OK);
    NEAR(s[EV_ROUGE_1].precision, 0.5);
    NEAR(s[EV_ROUGE_1].recall, 2.0 / 3.0);
    NEAR(s[EV_ROUGE_1].fmeasure, 4.0 / 7.0);
    NEAR(s[EV_ROUGE_2].fmeasure, 0.0);
    /* RL: LCS "cat run" = 2 of 4 and of 3 tokens, as R1. */
    NEAR(s[EV_ROUGE_L].fmeasure, 4.0 / 7.0);
    /* The 3-character rule: "was" would stem to "wa" (1a s) but is kept, so it does
     * not meet ref "wa": cand {it was} ref {it wa} -> overlap 1, F1 1/2. */
    CHECK(ev_rouge("it was", 6, "it wa", 5, &o, s) == EV_OK);
    NEAR(s[EV_ROUGE_1].fmeasure, 0.5);

    /* Tokens as the stemmed tokenizer writes them; non-ASCII tokens are kept. */
    const char *t = "Generalizations, dying skies; \xc3\xa9lections running";
    const char *want_p[] = {"gener", "dy", "ski", "\xc3\xa9lections", "run"};
    const char *want_n[] = {"gener", "die", "sky", "\xc3\xa9lections", "run"};
    o.unicode = true;
    for (int m = 0; m < 2; m++) {
        char *buf = NULL;
        size_t n = 0;
        o.stem = m ? EV_STEM_PORTER_NLTK : EV_STEM_PORTER;
        CHECK(ev_rouge_tokenize(t, strlen(t), &o, &buf, &n) == EV_OK);
        CHECK(n == 5);
        const char *p = buf;
        for (size_t i = 0; buf && i < n && i < 5; i++) {
            CHECK(strcmp(p, m ? want_n[i] : want_p[i]) == 0);
            p += strlen(p) + 1;
        }
        free(buf);
    }
}

static void overlap_is(const char *q, const char *ctx, const char *want) {
    char *a = NULL;
    CHECK(ev_qa_overlap_answer(q, strlen(q), ctx, strlen(ctx), &a) == EV_OK);
    if (a && strcmp(a, want) != 0) {
        fprintf(stderr, "overlap(%s) = '%s', expected '%s'\n", q, a, want);
        g_fail++;
    }
    free(a);
}

static void test_qa_overlap(void) {
    /* Question words {where, did, the, cat, sleep}. Sentences: "The dog ran." shares
     * 1 (the), "The cat slept on the warm mat in Paris." 2 (the, cat), "It was
     * late." 0 -> the second. Its tokens The | cat | slept on | the | warm mat in
     * Paris. -> runs "slept on" (2) and "warm mat in Paris." (4): the longer. */
    overlap_is("Where did the cat sleep?",
               "The dog ran. The cat slept on the warm mat in Paris.  It was late.",
               "warm mat in Paris.");
    /* A token without any word ("-") ends a run; on equal lengths the first run
     * stays: "Alpha beta" (2) vs "gamma." (1). */
    overlap_is("delta?", "Alpha beta - gamma.", "Alpha beta");
    /* Ties between sentences: the first; a cut needs white space after . ! ?
     * ("3.5" does not split). Both share "rate": "The rate is 3.5 now." first;
     * its runs "The" (1) and "is 3.5 now." (3, digits are words). */
    overlap_is("rate?", "The rate is 3.5 now. The rate fell.", "is 3.5 now.");
    /* Lowercased on both sides; no context -> "". */
    overlap_is("WHO won?", "who won the cup", "the cup");
    overlap_is("x", "", "");
}

static void test_ner_memo(void) {
    struct ev_ner_memo *m = NULL;
    CHECK(ev_ner_memo_new(&m) == EV_OK);
    if (!m)
        return;
    /* Paris: B-LOC twice, B-PER once -> B-LOC. Jordan: B-PER then B-LOC, a tie ->
     * the first seen, B-PER. York: I-LOC. Smith: I-PER. the: O. */
    const char *train[][2] = {{"Paris", "B-LOC"}, {"Paris", "B-PER"},  {"Paris", "B-LOC"},
                              {"York", "I-LOC"},  {"Jordan", "B-PER"}, {"Jordan", "B-LOC"},
                              {"Smith", "I-PER"}, {"the", "O"}};
    for (size_t i = 0; i < sizeof(train) / sizeof(train[0]); i++)
        CHECK(ev_ner_memo_add(m, train[i][0], train[i][1]) == EV_OK);
    /* the O; York I-LOC after O -> B-LOC; Paris B-LOC; York I-LOC continues LOC;
     * Jordan B-PER; Smith I-PER after a PER entity stays I-PER; paris (case differs)
     * unseen -> O; Smith I-PER after O -> B-PER; Paris B-LOC; Smith I-PER after a
     * LOC -> B-PER. */
    const char *w[] = {"the",   "York",  "Paris", "York",  "Jordan",
                       "Smith", "paris", "Smith", "Paris", "Smith"};
    const char *want[] = {"O",     "B-LOC", "B-LOC", "I-LOC", "B-PER",
                          "I-PER", "O",     "B-PER", "B-LOC", "B-PER"};
    char *tags[10];
    CHECK(ev_ner_memo_predict(m, w, 10, tags) == EV_OK);
    for (size_t i = 0; i < 10; i++) {
        CHECK(strcmp(tags[i], want[i]) == 0);
        free(tags[i]);
    }
    /* Many words: the table grows and keeps every count. */
    char word[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(word, sizeof(word), "w%d", i);
        CHECK(ev_ner_memo_add(m, word, i % 2 ? "B-ORG" : "O") == EV_OK);
    }
    const char *probe[] = {"w4999", "w1234", "Paris"};
    CHECK(ev_ner_memo_predict(m, probe, 3, tags) == EV_OK);
    CHECK(strcmp(tags[0], "B-ORG") == 0 && strcmp(tags[1], "O") == 0 &&
          strcmp(tags[2], "B-LOC") == 0);
    for (size_t i = 0; i < 3; i++)
        free(tags[i]);
    ev_ner_memo_free(m);
}

int main(void) {
    test_classification();
    test_ner_seqeval_readme();
    test_ner_strict_vs_conll();
    test_ner_decode();
    test_ner_spans();
    test_ner_word_tags();
    test_squad_normalize();
    test_squad_score();
    test_rouge_tokenize();
    test_rouge();
    test_porter_by_hand();
    test_porter_vocab();
    test_rouge_stem();
    test_qa_overlap();
    test_ner_memo();
    if (g_fail) {
        fprintf(stderr, "%d check(s) failed\n", g_fail);
        return 1;
    }
    printf("test_metrics: all checks passed\n");
    return 0;
}
