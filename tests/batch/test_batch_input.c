/* test_batch_input.c — `socle batch` reads its input and writes its results like the rest of
 * the CLI (label integ; clients/batch.c, docs/batch.md). Against a socled on the tiny
 * bert-tokcls fixture:
 *  - input lines of every shape: plain ones (read without json-c) and ones with escapes,
 *    extra nested values, a repeated key, spaces, UTF-8 ids (read by json-c); a repeated id is
 *    done once; unreadable lines are reported and the exit status is 1;
 *  - each result line is {"id":ID, …} followed by exactly what `socle ner` prints for the same
 *    text (window 1 on both sides, so the daemon computes each text alone and the same way);
 *  - a task option with a value after `batch` (--aggregation simple) is the task's option
 *    (regression: it was refused as an unexpected argument), a stray TEXT is a usage error.
 * argv: socled socle. Needs ../shared/fixtures/models/bert-tokcls (exit 77 without). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/integ/harness.h"

/* The input: line, then the id's JSON text and the text the daemon must get (NULL id: the
 * line is unreadable or a repeat and gives no result line). */
static const struct {
    const char *line, *id, *text;
} docs[] = {
    {"{\"id\":0,\"text\":\"Ada Lovelace met Charles Babbage in London.\"}", "0",
     "Ada Lovelace met Charles Babbage in London."},
    {"{\"id\":\"b/1\",\"text\":\"caf\\u00e9 in Paris, \\\"quoted\\\"\\ttab\"}", "\"b/1\"",
     "caf\xc3\xa9 in Paris, \"quoted\"\ttab"},
    {" { \"text\" : \"Marie Curie worked in Paris.\" ,\t\"id\" : 2 } ", "2",
     "Marie Curie worked in Paris."},
    {"{\"id\":3,\"text\":\"Siemens is in Munich.\",\"meta\":{\"x\":[1,2.5,null]}}", "3",
     "Siemens is in Munich."},
    {"{\"id\":0,\"text\":\"the same id again\"}", NULL, NULL},
    {"not json", NULL, NULL},
    {"{\"id\":4.5,\"text\":\"a float id\"}", NULL, NULL},
    {"{\"id\":\"\xc3\xa9t\xc3\xa9\",\"text\":\"Berlin is in Germany.\"}", "\"\xc3\xa9t\xc3\xa9\"",
     "Berlin is in Germany."},
    {"{\"id\":5,\"text\":\"first\",\"text\":\"Lyon is a city.\"}", "5", "Lyon is a city."},
    {"{\"id\":-7,\"text\":\"Obama visited Rome.\"}", "-7", "Obama visited Rome."},
};
enum { N_LINES = sizeof docs / sizeof *docs };

int main(int argc, char **argv) {
    if (argc < 3)
        return 2;
    const char *socled = argv[1], *socle = argv[2];
    const char *shared = getenv("SOCLE_SHARED_DIR");
    char model[512], tok[600];
    snprintf(model, sizeof model, "%s/fixtures/models/bert-tokcls", shared ? shared : "../shared");
    snprintf(tok, sizeof tok, "%s/tokenizer.json", model);
    if (access(tok, R_OK) != 0) {
        fprintf(stderr, "skip: %s not found\n", tok);
        return 77;
    }
    struct hx_daemon d;
    const char *extra[] = {"--model", model, NULL};
    if (hx_start(&d, socled, extra) != 0) {
        int st;
        hx_stop(&d, 5000, &st);
        return 1;
    }
    char in[400], out[400];
    snprintf(in, sizeof in, "%s/docs.jsonl", d.dir);
    snprintf(out, sizeof out, "%s/out.jsonl", d.dir);
    FILE *f = fopen(in, "w");
    CHECK(f != NULL);
    for (size_t i = 0; f && i < N_LINES; i++)
        fprintf(f, "%s\n", docs[i].line);
    if (f)
        fclose(f);

    char *bat[] = {(char *)(uintptr_t)socle,
                   "--endpoint",
                   d.ipc,
                   "--window",
                   "1",
                   "batch",
                   "--task",
                   "ner",
                   "--aggregation",
                   "simple",
                   "--in",
                   in,
                   "--out",
                   out,
                   "--no-progress",
                   NULL};
    char *so = NULL;
    int rc = hx_run(bat, NULL, &so);
    free(so);
    CHECK(rc == 1); /* two unreadable lines */
    char *text = hx_read_file(out);
    CHECK(text != NULL);
    char *lines[32];
    size_t n = text ? hx_split_lines(text, lines, 32) : 0;
    size_t want = 0;
    for (size_t i = 0; i < N_LINES; i++)
        want += docs[i].id != NULL;
    CHECK(n == want);
    for (size_t i = 0; i < N_LINES; i++) {
        if (!docs[i].id)
            continue;
        /* the line of this id */
        char head[64];
        snprintf(head, sizeof head, "{\"id\":%s,", docs[i].id);
        const char *got = NULL;
        for (size_t k = 0; k < n; k++)
            if (strncmp(lines[k], head, strlen(head)) == 0)
                got = lines[k];
        CHECK(got != NULL);
        char *one[] = {(char *)(uintptr_t)socle,
                       "--endpoint",
                       d.ipc,
                       "--window",
                       "1",
                       "ner",
                       "--aggregation",
                       "simple",
                       "--",
                       (char *)(uintptr_t)docs[i].text,
                       NULL};
        char *cli = NULL;
        CHECK(hx_run(one, NULL, &cli) == 0);
        if (got && cli) {
            cli[strcspn(cli, "\n")] = '\0';
            /* batch line = {"id":ID, + the CLI's line without its '{' */
            bool same = cli[0] == '{' && strcmp(got + strlen(head), cli + 1) == 0;
            if (!same)
                fprintf(stderr, "id %s:\n  batch %s\n  cli   %s\n", docs[i].id, got, cli);
            CHECK(same);
        }
        free(cli);
    }
    free(text);

    /* a stray TEXT after batch: usage error, nothing written */
    char out2[420];
    snprintf(out2, sizeof out2, "%s/out2.jsonl", d.dir);
    char *stray[] = {(char *)(uintptr_t)socle,
                     "--endpoint",
                     d.ipc,
                     "batch",
                     "--task",
                     "ner",
                     "--in",
                     in,
                     "--out",
                     out2,
                     "some text",
                     NULL};
    so = NULL;
    CHECK(hx_run(stray, NULL, &so) == 2);
    free(so);

    int st;
    CHECK(hx_stop(&d, 10000, &st) == 0);
    if (hx_failures)
        fprintf(stderr, "%d check(s) failed\n", hx_failures);
    return hx_failures ? 1 : 0;
}
