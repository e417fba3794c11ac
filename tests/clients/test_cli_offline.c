/* test_cli_offline.c — `socle tokenize --tokenizer PATH` with no daemon: the output lines
 * equal HuggingFace tokenizers' ids/tokens/offsets for the same inputs (single texts, without
 * special tokens, question<TAB>context pairs); bad lines get an error object and exit 1
 * (labels integ;golden). argv: socle */
#include <stdlib.h>
#include <string.h>

#include "tests/integ/harness.h"

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    char *socle = argv[1];
    char tok[512], corpus[512], pairs[512], exp[512];
    hx_data(tok, sizeof tok, "bert-base-uncased.tokenizer.json");
    hx_data(corpus, sizeof corpus, "corpus40.txt");
    hx_data(pairs, sizeof pairs, "pairs10.txt");
    char *out = NULL;

    char *a1[] = {socle, "tokenize", "--tokenizer", tok, "--file", corpus, NULL};
    CHECK(hx_run(a1, NULL, &out) == 0);
    CHECK(out && hx_compare_jsonl(out, hx_data(exp, sizeof exp, "corpus40.bert-base-uncased.jsonl"),
                                  40) == 0);
    /* exactly the three keys, in this order, as the brief of issue 3 asks */
    CHECK(out && strncmp(out, "{\"ids\":[", 8) == 0 && strstr(out, "],\"tokens\":[") &&
          strstr(out, "],\"offsets\":[["));
    free(out);

    char *a2[] = {socle, "tokenize", "--tokenizer", tok, "--file", corpus, "--no-special", NULL};
    CHECK(hx_run(a2, NULL, &out) == 0);
    CHECK(out && hx_compare_jsonl(
                     out, hx_data(exp, sizeof exp, "corpus40.bert-base-uncased.nospecial.jsonl"),
                     40) == 0);
    free(out);

    char *a3[] = {socle, "tokenize", "--tokenizer", tok, "--file", pairs, "--pair", NULL};
    CHECK(hx_run(a3, NULL, &out) == 0);
    CHECK(out && hx_compare_jsonl(out, hx_data(exp, sizeof exp, "pairs10.bert-base-uncased.jsonl"),
                                  10) == 0);
    free(out);

    /* stdin, a bad line in the middle: error object for it, the others still printed */
    char *a4[] = {socle, "tokenize", "--tokenizer", tok, "--count", NULL};
    CHECK(hx_run(a4, "hello world\nbad \xff byte\na b c d\n", &out) == 1);
    CHECK(out && strcmp(out, "{\"n_tokens\":4}\n"
                             "{\"error\":{\"code\":\"INVALID_ARGUMENT\",\"message\":\"invalid "
                             "UTF-8 at byte 4\"}}\n"
                             "{\"n_tokens\":6}\n") == 0);
    free(out);

    /* a missing tokenizer is a usage error, not a crash */
    char *a5[] = {socle, "tokenize", "--tokenizer", "/nonexistent/tokenizer.json", "x", NULL};
    CHECK(hx_run(a5, NULL, &out) == 2);
    free(out);

    if (hx_failures)
        fprintf(stderr, "%d check(s) failed\n", hx_failures);
    else
        printf("test_cli_offline: all checks passed\n");
    return hx_failures ? 1 : 0;
}
