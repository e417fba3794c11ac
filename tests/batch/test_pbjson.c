/* test_pbjson.c — pbjson_text writes the bytes json-c prints for pbjson_message's object
 * (label unit; clients/pbjson.c). `socle batch` writes its result lines with pbjson_text and the
 * other commands print pbjson_message through json-c: the two must never differ. The oracle is
 * json-c itself (json_object_to_json_string_ext, PLAIN | NOSLASHESCAPE) on the same message, so
 * no expected text is written here. Messages cover every field kind the results use: strings
 * with every byte 1..255 and embedded NULs (bytes), floats at the edges (0, -0, subnormal,
 * huge, NaN, inf), int32/uint32/int64/uint64 extremes, bools, known and unknown enum values,
 * repeated scalars and messages (empty too), unset and set sub-messages, oneofs, doubles,
 * and the `skip` of one top-level field (the CLI drops an OK "status"). Floats alone: the fast
 * %.7g against printf on millions of values. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/pbjson.h"
#include "proto/socle.pb-c.h"
#include "tests/check.h"

/* Compare pbjson_text(m, skip) with json-c's text of pbjson_message(m) minus skip. */
static void same(const ProtobufCMessage *m, const char *skip, const char *what) {
    struct json_object *o = pbjson_message(m);
    CHECK(o != NULL);
    if (!o)
        return;
    if (skip)
        json_object_object_del(o, skip);
    const char *want =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    struct pbjson_buf b = {0};
    CHECK(pbjson_buf_put(&b, "x", 1) == 0); /* appends: what was there stays */
    int rc = pbjson_text(m, skip, &b);
    CHECK(rc == 0);
    bool eq = rc == 0 && b.len == strlen(want) + 1 && b.p[0] == 'x' && strcmp(b.p + 1, want) == 0;
    if (!eq) {
        fprintf(stderr, "%s:\n  json-c: %s\n  text:   %s\n", what, want, b.p ? b.p + 1 : "(null)");
        g_fail++;
    }
    pbjson_buf_free(&b);
    json_object_put(o);
}

static void test_strings(void) {
    /* every byte value, '/' and '"' and '\\' included, in words of an entity */
    char all[256];
    for (int i = 1; i < 256; i++)
        all[i - 1] = (char)i;
    all[255] = '\0';
    Socle__V1__Span sp = SOCLE__V1__SPAN__INIT;
    sp.start = UINT32_MAX;
    sp.cp_end = 7;
    Socle__V1__Entity e[3] = {SOCLE__V1__ENTITY__INIT, SOCLE__V1__ENTITY__INIT,
                              SOCLE__V1__ENTITY__INIT};
    e[0].type = all;
    e[0].word = "caf\xc3\xa9 / \"quoted\" \\ back";
    e[0].span = &sp;
    e[0].index = INT32_MIN;
    e[0].score = 0.3045363f;
    e[1].type = "";
    e[1].word = NULL; /* an unset string prints as "" in both */
    e[1].index = -1;
    e[1].score = -0.0f;
    e[2].type = "B-PER";
    e[2].word = "x";
    e[2].index = INT32_MAX;
    e[2].score = 1.0f;
    Socle__V1__Entity *ep[3] = {&e[0], &e[1], &e[2]};
    Socle__V1__Status st = SOCLE__V1__STATUS__INIT;
    st.code = SOCLE__V1__CODE__OK;
    st.message = "fine";
    Socle__V1__NerOutput n = SOCLE__V1__NER_OUTPUT__INIT;
    n.status = &st;
    n.n_tokens = 15;
    n.truncated = 1;
    n.n_entities = 3;
    n.entities = ep;
    same(&n.base, NULL, "ner output");
    same(&n.base, "status", "ner output without status");
    same(&n.base, "entities", "ner output without entities");
    n.n_entities = 0;
    same(&n.base, "status", "ner output, no entities");
    n.status = NULL; /* unset sub-message: no key at all */
    same(&n.base, NULL, "ner output, unset status");
    same(&n.base, "status", "ner output, unset status skipped");
}

static void test_numbers(void) {
    static const float fl[] = {0.0f,     -0.0f,        1.0f,    0.1f,   1e-10f,      1.4e-45f,
                               3.4e38f,  -123456.789f, 1e7f,    1e-5f,  0.5f,        NAN,
                               INFINITY, -INFINITY,    2.5e-3f, 123.0f, -1.0f / 3.0f};
    float v[sizeof fl / sizeof *fl];
    memcpy(v, fl, sizeof fl);
    Socle__V1__EmbedOutput em = SOCLE__V1__EMBED_OUTPUT__INIT;
    em.n_tokens = UINT32_MAX;
    em.n_vector = sizeof v / sizeof *v;
    em.vector = v;
    same(&em.base, NULL, "embed output");
    em.n_vector = 0;
    same(&em.base, NULL, "embed output, empty vector");

    int32_t ids[] = {0, -1, INT32_MAX, INT32_MIN, 101};
    uint32_t offs[] = {0, 5, UINT32_MAX, 1};
    char *toks[] = {"[CLS]", "he\tllo", "\xe2\x96\x81word"};
    Socle__V1__Encoding enc = SOCLE__V1__ENCODING__INIT;
    enc.length = 5;
    enc.n_ids = 5;
    enc.ids = ids;
    enc.n_tokens = 3;
    enc.tokens = toks;
    enc.n_offsets = 4;
    enc.offsets = offs;
    same(&enc.base, NULL, "encoding");

    double bounds[] = {0.001, 0.5, 1e300, 1.0, 0.1 + 0.2};
    uint64_t counts[] = {0, 1, UINT64_MAX, 7, 9, 12};
    Socle__V1__Histogram h = SOCLE__V1__HISTOGRAM__INIT;
    h.n_bounds = 5;
    h.bounds = bounds;
    h.n_counts = 6;
    h.counts = counts;
    h.sum = 12.25;
    h.count = UINT64_MAX;
    same(&h.base, NULL, "histogram (doubles, uint64)");
}

static void test_enums_oneofs(void) {
    Socle__V1__Status st = SOCLE__V1__STATUS__INIT;
    st.code = SOCLE__V1__CODE__RESOURCE_EXHAUSTED;
    st.message = "queue full\n";
    same(&st.base, NULL, "status, known code");
    st.code = (Socle__V1__Code)999; /* not in the enum: printed as a number */
    same(&st.base, NULL, "status, unknown code");

    Socle__V1__LabelScore ls[2] = {SOCLE__V1__LABEL_SCORE__INIT, SOCLE__V1__LABEL_SCORE__INIT};
    ls[0].label = "positive";
    ls[0].score = 0.99f;
    ls[1].label = "negative";
    ls[1].score = 0.01f;
    Socle__V1__LabelScore *lp[2] = {&ls[0], &ls[1]};
    Socle__V1__ClassifyOutput co = SOCLE__V1__CLASSIFY_OUTPUT__INIT;
    co.n_labels = 2;
    co.labels = lp;
    Socle__V1__ClassifyOutput *cop = &co;
    Socle__V1__ClassifyResult cr = SOCLE__V1__CLASSIFY_RESULT__INIT;
    cr.n_outputs = 1;
    cr.outputs = &cop;
    Socle__V1__Response r = SOCLE__V1__RESPONSE__INIT;
    r.id = UINT64_MAX;
    r.result_case = SOCLE__V1__RESPONSE__RESULT_CLASSIFY;
    r.classify = &cr;
    same(&r.base, NULL, "response, classify oneof");
    same(&r.base, "id", "response without id");

    uint8_t raw[] = {'a', 0, 'b', '"', 0x7f, 0x80, '\n'};
    ProtobufCBinaryData bin = {sizeof raw, raw};
    Socle__V1__TokenizeRequest tr = SOCLE__V1__TOKENIZE_REQUEST__INIT;
    tr.n_texts = 1;
    tr.texts = &bin;
    tr.truncation = SOCLE__V1__TRUNCATION__TRUNCATION_ONLY_SECOND;
    same(&tr.base, NULL, "bytes with NUL, enum");
}

/* pbjson_float_text == printf("%.7g") on: every 8191st bit pattern (all exponents, NaNs and
 * infinities), 1M pseudo-random floats in [0, 1) (scores), the neighbours of every power of
 * ten and of the 7-digit rounding ties around them. */
static void test_floats(void) {
    size_t bad = 0, n = 0;
    char want[64], got[32];
    uint32_t seed = 12345;
#define FLOAT_CHECK(fv)                                                                            \
    do {                                                                                           \
        float f_ = (fv);                                                                           \
        snprintf(want, sizeof want, "%.7g", (double)f_);                                           \
        size_t l_ = pbjson_float_text(f_, got);                                                    \
        n++;                                                                                       \
        if (l_ != strlen(want) || strcmp(got, want) != 0) {                                        \
            if (bad++ < 10)                                                                        \
                fprintf(stderr, "float %a: printf %s, pbjson %s\n", (double)f_, want, got);        \
        }                                                                                          \
    } while (0)
    for (uint64_t u = 0; u <= UINT32_MAX; u += 8191) {
        uint32_t w = (uint32_t)u;
        float f;
        memcpy(&f, &w, sizeof f);
        FLOAT_CHECK(f);
    }
    for (int i = 0; i < 1000000; i++) {
        seed = seed * 1664525u + 1013904223u;
        FLOAT_CHECK((float)(seed >> 8) / 16777216.0f);
    }
    for (int e = -45; e <= 38; e++) {
        float p = (float)pow(10.0, e);
        for (int k = -3; k <= 3; k++) {
            float f = p;
            for (int j = 0; j < (k < 0 ? -k : k); j++)
                f = nextafterf(f, k < 0 ? 0.0f : INFINITY);
            FLOAT_CHECK(f);
            FLOAT_CHECK(-f);
            FLOAT_CHECK((float)(p * 1.0000005)); /* a 7-digit tie, or its nearest float */
            FLOAT_CHECK((float)(p * 9.9999995));
        }
    }
#undef FLOAT_CHECK
    fprintf(stderr, "floats: %zu checked, %zu differ from printf\n", n, bad);
    CHECK(bad == 0);
}

int main(void) {
    test_floats();
    test_strings();
    test_numbers();
    test_enums_oneofs();
    if (g_fail)
        fprintf(stderr, "%d failures\n", g_fail);
    return g_fail ? 1 : 0;
}
