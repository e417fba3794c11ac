/* tok_test.h — tiny check macros shared by the tokenizer unit tests. */
#ifndef SOCLE_TOK_TEST_H
#define SOCLE_TOK_TEST_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tt_failures;
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
            tt_failures++;                                                                         \
        }                                                                                          \
    } while (0)
#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long _a = (long long)(a), _b = (long long)(b);                                        \
        if (_a != _b) {                                                                            \
            fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, #a, _a, _b); \
            tt_failures++;                                                                         \
        }                                                                                          \
    } while (0)
#define CHECK_EQ_STR(a, b)                                                                         \
    do {                                                                                           \
        const char *_a = (a), *_b = (b);                                                           \
        if (!_a || strcmp(_a, _b) != 0) {                                                          \
            fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a,      \
                    _a ? _a : "(null)", _b);                                                       \
            tt_failures++;                                                                         \
        }                                                                                          \
    } while (0)
#endif
