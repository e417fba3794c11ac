/* test_batch_kill.c — `socle batch` loses nothing and duplicates nothing across crashes
 * (labels fault;integ). 2,000 documents through ner on the tiny bert-tokcls fixture:
 *  1. the daemon is killed with SIGKILL midway and restarted on the same endpoint: the running
 *     batch (or, if it gave up, its rerun) finishes;
 *  2. the batch client itself is killed with SIGKILL midway and a torn half line is appended to
 *     its output (what a crash inside a write leaves): the rerun finishes;
 *  3. a rerun of a finished batch sends nothing and leaves the file as it is.
 * Each time every id 0..1999 must appear exactly once in the results, with entities.
 * argv: socled socle. Needs ../shared/fixtures/models/bert-tokcls (exit 77 without). */
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "tests/integ/harness.h"

extern char **environ;

enum { N_DOCS = 2000 };

static size_t count_lines(const char *path) {
    char *t = hx_read_file(path);
    size_t n = 0;
    for (char *p = t; p && *p; p++)
        n += *p == '\n';
    free(t);
    return n;
}

static pid_t spawn_batch(const char *socle, const struct hx_daemon *d, const char *in,
                         const char *out) {
    char *argv[] = {(char *)(uintptr_t)socle,
                    "--endpoint",
                    (char *)(uintptr_t)d->ipc,
                    "--timeout",
                    "500",
                    "--retries",
                    "4",
                    "--window",
                    "8",
                    "batch",
                    "--task",
                    "ner",
                    "--in",
                    (char *)(uintptr_t)in,
                    "--out",
                    (char *)(uintptr_t)out,
                    "--sync-every",
                    "16",
                    "--daemon-waits",
                    "10",
                    "--no-progress",
                    NULL};
    pid_t pid = 0;
    if (posix_spawn(&pid, socle, NULL, NULL, argv, environ) != 0)
        return -1;
    return pid;
}

static int wait_exit(pid_t pid) {
    int st = 0;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Wait until out has at least n lines (or the process exits / 20 s pass). Returns the count. */
static size_t wait_lines(const char *out, size_t n, pid_t pid) {
    long t0 = hx_now_ms();
    size_t k = 0;
    while ((k = count_lines(out)) < n && hx_now_ms() - t0 < 20000) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return (size_t)-1; /* finished before the fault: the test would prove nothing */
        usleep(2000);
    }
    return k;
}

/* Every id once, every line a ner result. Prints and counts what is wrong. */
static void check_results(const char *out, const char *what) {
    char *t = hx_read_file(out);
    CHECK(t != NULL);
    if (!t)
        return;
    static unsigned char seen[N_DOCS];
    memset(seen, 0, sizeof seen);
    size_t dup = 0, bad = 0, lines = 0;
    char *save = NULL;
    for (char *l = strtok_r(t, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        lines++;
        struct json_object *o = json_tokener_parse(l), *id = NULL, *ents = NULL;
        if (!o || !json_object_object_get_ex(o, "id", &id) ||
            !json_object_is_type(id, json_type_int) ||
            !json_object_object_get_ex(o, "entities", &ents)) {
            bad++;
        } else {
            int64_t k = json_object_get_int64(id);
            if (k < 0 || k >= N_DOCS)
                bad++;
            else
                dup += seen[k]++ > 0;
        }
        if (o)
            json_object_put(o);
    }
    size_t missing = 0;
    for (size_t k = 0; k < N_DOCS; k++)
        missing += !seen[k];
    fprintf(stderr, "%s: %zu lines, duplicates %zu, missing %zu, bad %zu\n", what, lines, dup,
            missing, bad);
    CHECK(dup == 0);
    CHECK(missing == 0);
    CHECK(bad == 0);
    CHECK(lines == N_DOCS);
    free(t);
}

int main(int argc, char **argv) {
    if (argc < 3)
        return 2;
    const char *socled = argv[1], *socle = argv[2];
    const char *shared = getenv("SOCLE_SHARED_DIR");
    char model[512], cfg[600];
    snprintf(model, sizeof model, "%s/fixtures/models/bert-tokcls", shared ? shared : "../shared");
    snprintf(cfg, sizeof cfg, "%s/tokenizer.json", model);
    if (access(cfg, R_OK) != 0) {
        fprintf(stderr, "skip: %s not found\n", cfg);
        return 77;
    }
    struct hx_daemon d;
    const char *extra[] = {"--model", model, NULL};
    if (hx_start(&d, socled, extra) != 0) {
        int st;
        hx_stop(&d, 5000, &st);
        return 1;
    }
    char in[400], out1[400], out2[400];
    snprintf(in, sizeof in, "%s/docs.jsonl", d.dir);
    snprintf(out1, sizeof out1, "%s/r1.jsonl", d.dir);
    snprintf(out2, sizeof out2, "%s/r2.jsonl", d.dir);
    FILE *f = fopen(in, "w");
    CHECK(f != NULL);
    if (!f)
        return 1;
    for (int k = 0; k < N_DOCS; k++)
        fprintf(f,
                "{\"id\":%d,\"text\":\"Ada Lovelace met Charles Babbage in London, document %d, "
                "and they wrote about the Analytical Engine in 1843.\"}\n",
                k, k);
    fclose(f);

    /* 1. kill -9 the daemon midway, restart it on the same endpoints */
    pid_t b = spawn_batch(socle, &d, in, out1);
    CHECK(b > 0);
    size_t at = wait_lines(out1, 400, b);
    CHECK(at != (size_t)-1 && at >= 400 && at < N_DOCS);
    kill(d.pid, SIGKILL);
    int st;
    waitpid(d.pid, &st, 0);
    CHECK(WIFSIGNALED(st));
    d.pid = 0;
    usleep(200000);
    CHECK(hx_restart(&d, socled, extra, true) == 0);
    int rc = wait_exit(b);
    fprintf(stderr, "daemon killed at %zu results; batch exit %d\n", at, rc);
    if (rc == 3) /* gave up while the daemon was away: the rerun finishes the job */
        rc = wait_exit(spawn_batch(socle, &d, in, out1));
    CHECK(rc == 0);
    check_results(out1, "daemon killed");

    /* 2. kill -9 the batch client midway; a crash inside a write leaves a torn line */
    b = spawn_batch(socle, &d, in, out2);
    at = wait_lines(out2, 600, b);
    CHECK(at != (size_t)-1 && at >= 600 && at < N_DOCS);
    kill(b, SIGKILL);
    CHECK(wait_exit(b) == 128 + SIGKILL);
    f = fopen(out2, "a");
    if (f) {
        fputs("{\"id\":7,\"n_tokens\":23,\"entit", f);
        fclose(f);
    }
    rc = wait_exit(spawn_batch(socle, &d, in, out2));
    fprintf(stderr, "client killed at %zu results; rerun exit %d\n", at, rc);
    CHECK(rc == 0);
    check_results(out2, "client killed");

    /* 3. rerun of a finished job: nothing to do, file unchanged */
    char *before = hx_read_file(out2);
    rc = wait_exit(spawn_batch(socle, &d, in, out2));
    CHECK(rc == 0);
    char *after = hx_read_file(out2);
    CHECK(before && after && strcmp(before, after) == 0);
    free(before);
    free(after);

    CHECK(hx_stop(&d, 10000, &st) == 0);
    if (hx_failures)
        fprintf(stderr, "%d check(s) failed\n", hx_failures);
    return hx_failures ? 1 : 0;
}
