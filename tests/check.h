/* check.h — the CHECK macro shared by the C test programs: a failed check prints
 * file:line and the expression, counts into g_fail, and the test goes on (so one run
 * reports every failure); main() returns g_fail != 0. */
#ifndef SOCLE_TESTS_CHECK_H
#define SOCLE_TESTS_CHECK_H

#include <stdio.h>

static int g_fail;

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c);                  \
            g_fail++;                                                                              \
        }                                                                                          \
    } while (0)

#endif
