/* test_tok_bad.c — hostile or broken tokenizer.json files and inputs: each must give a
 * clear status and message, never a crash (run under ASan/UBSan in CI). */
#include "tests/tokenizer/tok_test.h"
#include "tokenizer/tok.h"

static int load_rc(const char *json, size_t len, char *err, size_t errlen) {
    struct tok_tokenizer *t = NULL;
    int rc = tok_tokenizer_load_json(json, len, &t, err, errlen);
    if (rc == 0) tok_tokenizer_free(t);
    else CHECK(t == NULL);
    return rc;
}

#define EXPECT_LOAD(json, status, needle)                                                          \
    do {                                                                                           \
        char err[256] = "";                                                                        \
        int rc_ = load_rc(json, strlen(json), err, sizeof err);                                    \
        CHECK_EQ_INT(rc_, status);                                                                 \
        if (needle && !strstr(err, needle ? needle : "")) {                                        \
            fprintf(stderr, "%s:%d: message \"%s\" lacks \"%s\"\n", __FILE__, __LINE__, err,       \
                    needle ? needle : "");                                                         \
            tt_failures++;                                                                         \
        }                                                                                          \
    } while (0)

static const char *GOOD =
    "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\"]}}";

int main(void) {
    /* the good base loads */
    EXPECT_LOAD(GOOD, TOK_OK, NULL);
    /* truncated at every byte: never a crash, always an error */
    size_t n = strlen(GOOD);
    for (size_t k = 0; k < n; k++) {
        char err[256];
        int rc = load_rc(GOOD, k, err, sizeof err);
        CHECK(rc != TOK_OK);
    }
    EXPECT_LOAD("", TOK_EPARSE, "tokenizer.json");
    EXPECT_LOAD("[1,2,3]", TOK_EPARSE, "JSON object");
    EXPECT_LOAD("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,", TOK_EPARSE, "end of file");
    /* wrong types */
    EXPECT_LOAD("{\"model\":7}", TOK_EPARSE, "model");
    EXPECT_LOAD("{\"model\":{\"type\":\"BPE\",\"vocab\":[1,2]}}", TOK_EPARSE, "vocab");
    EXPECT_LOAD("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":\"zero\"}}}", TOK_EPARSE, "integer");
    EXPECT_LOAD("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":{}}}", TOK_EPARSE,
                "merges");
    EXPECT_LOAD("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[7]}}", TOK_EPARSE,
                "merge 0");
    EXPECT_LOAD("{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",\"x\"]]}}", TOK_EPARSE, "score");
    EXPECT_LOAD("{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",-1.0]],\"unk_id\":5}}",
                TOK_EINVAL, "unk_id");
    EXPECT_LOAD("{\"normalizer\":{\"type\":\"Lowercase\"},\"pre_tokenizer\":{\"type\":"
                "\"Sequence\",\"pretokenizers\":5},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},"
                "\"merges\":[]}}",
                TOK_EPARSE, "pretokenizers");
    EXPECT_LOAD("{\"added_tokens\":[{\"content\":5,\"id\":1}],\"model\":{\"type\":\"BPE\",\"vocab\":"
                "{\"a\":0},\"merges\":[]}}",
                TOK_EPARSE, "content");
    /* huge ids / vocab claims: refused, not allocated */
    EXPECT_LOAD("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":10000000},\"merges\":[]}}",
                TOK_ELIMIT, "out of range");
    EXPECT_LOAD("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-1},\"merges\":[]}}", TOK_ELIMIT,
                "out of range");
    EXPECT_LOAD("{\"added_tokens\":[{\"content\":\"x\",\"id\":2147483647}],\"model\":{\"type\":"
                "\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}",
                TOK_ELIMIT, "out of range");
    /* merges naming unknown tokens, or whose result is not in the vocab */
    EXPECT_LOAD("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a c\"]}}",
                TOK_EINVAL, "not in the vocab");
    EXPECT_LOAD("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a b\"]}}",
                TOK_EINVAL, "merged token");
    EXPECT_LOAD("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"ab\"]}}", TOK_EPARSE,
                "\"a b\"");
    /* a regex that does not compile */
    EXPECT_LOAD("{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(a|\"},"
                "\"behavior\":\"Isolated\"},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},"
                "\"merges\":[]}}",
                TOK_EINVAL, "regex");
    /* unknown components */
    EXPECT_LOAD("{\"normalizer\":{\"type\":\"Klingon\"},\"model\":{\"type\":\"BPE\",\"vocab\":"
                "{\"a\":0},\"merges\":[]}}",
                TOK_EUNSUPPORTED, "Klingon");
    EXPECT_LOAD("{\"model\":{\"type\":\"Magic\",\"vocab\":{\"a\":0}}}", TOK_EUNSUPPORTED, "Magic");
    /* template naming a special token that is not defined */
    EXPECT_LOAD("{\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":"
                "{\"id\":\"<x>\",\"type_id\":0}}],\"pair\":[],\"special_tokens\":{}},\"model\":{"
                "\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}",
                TOK_EPARSE, "<x>");
    /* deep nesting is refused by the parser, not by the stack */
    {
        size_t depth = 100000;
        char *deep = malloc(depth * 2 + 1);
        for (size_t i = 0; i < depth; i++) deep[i] = '[';
        for (size_t i = 0; i < depth; i++) deep[depth + i] = ']';
        deep[2 * depth] = 0;
        char err[256];
        CHECK(load_rc(deep, 2 * depth, err, sizeof err) == TOK_EPARSE);
        free(deep);
    }
    /* missing file */
    {
        struct tok_tokenizer *t = NULL;
        char err[256];
        CHECK_EQ_INT(tok_tokenizer_load("/nonexistent/tokenizer.json", &t, err, sizeof err), TOK_EIO);
        CHECK(strstr(err, "/nonexistent") != NULL);
        CHECK_EQ_INT(tok_tokenizer_load(NULL, &t, NULL, 0), TOK_EINVAL);
    }
    /* bad inputs to a good tokenizer */
    {
        struct tok_tokenizer *t = NULL;
        CHECK_EQ_INT(tok_tokenizer_load_json(GOOD, strlen(GOOD), &t, NULL, 0), TOK_OK);
        struct tok_encoding *e = NULL;
        size_t off = 0;
        static const struct {
            const char *s;
            size_t len, off;
        } bad[] = {
            {"\x80", 1, 0},             /* stray continuation byte */
            {"ab\xc3", 3, 2},           /* truncated sequence */
            {"a\xc0\xaf", 3, 1},        /* overlong '/' */
            {"aa\xed\xa0\x80", 5, 2},   /* surrogate */
            {"\xf4\x90\x80\x80", 4, 0}, /* > U+10FFFF */
            {"abc\xff", 4, 3},
        };
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
            off = 999;
            CHECK_EQ_INT(tok_encode(t, bad[i].s, bad[i].len, NULL, 0, NULL, &e, &off), TOK_EUTF8);
            CHECK_EQ_INT(off, bad[i].off);
            size_t cnt;
            CHECK_EQ_INT(tok_count(t, bad[i].s, bad[i].len, true, &cnt, &off), TOK_EUTF8);
        }
        /* embedded NUL: an ordinary (unknown, dropped: no unk token) char */
        CHECK_EQ_INT(tok_encode(t, "ab\0ab", 5, NULL, 0, NULL, &e, NULL), TOK_OK);
        CHECK_EQ_INT(e->n_tokens, 2);
        tok_encoding_free(e);
        /* empty text */
        CHECK_EQ_INT(tok_encode(t, "", 0, NULL, 0, NULL, &e, NULL), TOK_OK);
        CHECK_EQ_INT(e->n_tokens, 0);
        tok_encoding_free(e);
        CHECK_EQ_INT(tok_encode(t, NULL, 0, NULL, 0, NULL, &e, NULL), TOK_OK);
        tok_encoding_free(e);
        CHECK_EQ_INT(tok_encode(NULL, "a", 1, NULL, 0, NULL, &e, NULL), TOK_EINVAL);
        char *d = NULL;
        size_t dl;
        int32_t neg = -3;
        CHECK_EQ_INT(tok_decode(t, &neg, 1, false, &d, &dl), TOK_EINVAL);
        CHECK_EQ_INT(tok_decode(t, NULL, 0, false, &d, &dl), TOK_OK);
        CHECK_EQ_STR(d, "");
        free(d);
        CHECK(tok_id_to_token(t, 77) == NULL);
        CHECK(tok_id_to_token(t, -1) == NULL);
        CHECK_EQ_INT(tok_token_to_id(t, "zz"), -1);
        CHECK(strcmp(tok_strerror(TOK_EUTF8), tok_strerror(TOK_OK)) != 0);
        CHECK(tok_strerror(12345) != NULL);
        tok_tokenizer_free(t);
        tok_tokenizer_free(NULL);
        tok_encoding_free(NULL);
    }
    if (tt_failures) fprintf(stderr, "%d failures\n", tt_failures);
    else printf("ok\n");
    return tt_failures ? 1 : 0;
}
