/* harness.h — helpers for the integration tests: start a real socled on a temporary ipc://
 * endpoint and a loopback tcp:// port, run the real `socle` CLI, stop the daemon with SIGTERM
 * and collect its exit status. */
#ifndef SOCLE_TEST_HARNESS_H
#define SOCLE_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "clients/socle.h"

extern int hx_failures;
#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c);                  \
            hx_failures++;                                                                         \
        }                                                                                          \
    } while (0)

struct hx_daemon {
    pid_t pid;
    char dir[256]; /* temporary directory: socket, log, config */
    char ipc[320]; /* ipc://DIR/socle.sock */
    char tcp[320]; /* tcp://127.0.0.1:PORT, the port picked free by the kernel */
    char log[320]; /* DIR/socled.log: the daemon's stderr */
};

/* Paths from argv / the environment set by socle_add_test. */
const char *hx_source_dir(void);
/* SOCLE_SOURCE_DIR/tests/data/integ/<name> into buf. */
const char *hx_data(char *buf, size_t n, const char *name);

/* Start `socled` with --endpoint ipc + --endpoint tcp://127.0.0.1:<free port>, the test
 * tokenizer, and extra args (NULL-terminated, may be NULL). Waits until it answers info.
 * Returns 0 or -1 (printed). */
int hx_start(struct hx_daemon *d, const char *socled, const char *const *extra);
/* Start socled again on the same endpoints and log (after a crash or a stop); wait: until it
 * answers info. */
int hx_restart(struct hx_daemon *d, const char *socled, const char *const *extra, bool wait);
/* SIGTERM, wait up to timeout_ms for the exit; *status = exit code (or 128+signal); kills
 * with SIGKILL and returns -1 on timeout. Removes the temporary directory. */
int hx_stop(struct hx_daemon *d, int timeout_ms, int *status);
/* Does the daemon's log contain `needle`? */
bool hx_log_has(const struct hx_daemon *d, const char *needle);

/* Run argv (argv[0] = path) with stdin_data on stdin; *out receives stdout (malloc'd,
 * NUL-terminated). Returns the exit status (128+signal when killed), -1 on spawn failure. */
int hx_run(char *const argv[], const char *stdin_data, char **out);

/* A client with short timeouts for tests. */
struct socle_client *hx_client(const char *endpoint, int timeout_ms, int retries);

/* Send raw frames on a fresh DEALER and wait up to timeout_ms for the reply. Returns the
 * decoded Response (NULL if none within the timeout or not decodable). */
Socle__V1__Response *hx_raw(const char *endpoint, const void *const *frames, const size_t *lens,
                            size_t n_frames, int timeout_ms);

long hx_now_ms(void);

/* Whole file, NUL-terminated (malloc'd), or NULL. */
char *hx_read_file(const char *path);
/* Split on '\n' only, in place; returns the number of lines (at most max). */
size_t hx_split_lines(char *text, char **lines, size_t max);
/* Compare JSON lines `got` with the file expected_path on "ids", "tokens" and "offsets";
 * both must have want_lines lines. 0 when equal, -1 (differences printed) otherwise. */
int hx_compare_jsonl(const char *got, const char *expected_path, size_t want_lines);

#endif
