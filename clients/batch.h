/* batch.h — `socle batch`: push a document collection through one task, resumably
 * (docs/batch.md).
 *
 *   socle batch --task TASK --out RESULTS.jsonl [--in DOCS.jsonl|DIR|-] [task options]
 *
 * Part of the `socle` executable, not of the client library: it prints progress and errors on
 * stderr. The request building and the JSON of an answer stay in cli.c (one place for every
 * command); cli.c hands them in as the two callbacks below.
 */
#ifndef SOCLE_BATCH_H
#define SOCLE_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clients/pbjson.h"
#include "clients/socle.h"

struct batch_opts {
    const char *task;      /* the CLI command the documents go through ("ner", "qa", …) */
    const char *in;        /* DOCS.jsonl, a directory of *.txt, or NULL / "-" = stdin (jsonl) */
    const char *out;       /* results, appended; the ids already there are skipped (resume) */
    int progress;          /* -1 auto (a bar when stderr is a TTY), 0 none, 1 plain lines */
    unsigned sync_every;   /* fsync --out after this many results (and at least every second) */
    unsigned daemon_waits; /* rounds of "daemon away" backoff before giving up (exit 3) */
    bool priority_given;   /* --priority on the command line; else batch traffic goes at -1 */
    bool window_given;     /* --window on the command line; else 64 (small documents need it) */
    /* filled by cli.c from the common options */
    const char *endpoint;
    struct socle_client_opts copts;
    size_t window;
};

/* If argv is a `batch` command line, take the batch options out of it: *opts is filled and
 * argv_out (argc entries, caller-allocated) receives the remaining command line with `batch`
 * replaced by the task, for the CLI's own parser. Returns 0 (not batch), 1 (batch), or 2
 * (usage error, printed). */
int batch_args(int argc, char **argv, struct batch_opts *opts, int *argc_out, char **argv_out);

/* Send one document's request (s, len is the input as the CLI reads one line: for qa
 * "QUESTION\tCONTEXT") with request id `id`. Returns a socle_status, or 1 for an input the
 * task cannot take (*why set). */
typedef int (*batch_send_fn)(void *ud, struct socle_client *cl, uint64_t id, const char *s,
                             size_t len, const char **why);
/* Append the JSON object text of one answer ("{…}", the command's own output for it) to b;
 * *failed when it is an error object. 0, or -1 out of memory. */
typedef int (*batch_result_fn)(void *ud, const Socle__V1__Response *r, struct pbjson_buf *b,
                               bool *failed);

/* Run the batch. Returns the exit status: 0 every document has an OK result in --out; 1 some
 * document got an error object or an input line was unreadable; 2 usage / file errors; 3 the
 * daemon stayed away (rerun the same command to resume); 130 interrupted (resumable too). */
int batch_run(const struct batch_opts *opts, batch_send_fn send, batch_result_fn result, void *ud);

#endif
