/* test_eval_endpoint.c — socle-eval against a running socled equals socle-eval
 * through the tasks library, on the bert-tokcls fixture's own NER head and the
 * bert-seqcls fixture's classification head (argv: socled, socle-eval).
 * Skipped (77) without ../shared.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/check.h"

static char *run(const char *cmd, int *rc) {
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (buf)
        n = fread(buf, 1, cap - 1, p);
    int st = pclose(p);
    *rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (buf)
        buf[n] = '\0';
    return buf;
}

static pid_t start_daemon(const char *socled, const char *model, const char *ep) {
    pid_t pid = fork();
    if (pid == 0) {
        execl(socled, socled, "--model", model, "--endpoint", ep, "--workers", "1", "--log-level",
              "error", (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void stop_daemon(pid_t pid) {
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
}

static void compare(const char *socled, const char *eval, const char *model, const char *task,
                    const char *data, const char *tmp) {
    char ep[600], cmd[4096], sock[512];
    snprintf(sock, sizeof(sock), "%s/s.sock", tmp);
    snprintf(ep, sizeof(ep), "ipc://%s", sock);
    pid_t pid = start_daemon(socled, model, ep);
    CHECK(pid > 0);
    struct stat st;
    bool up = false, died = false;
    for (int i = 0; i < 300 && !up && !died; i++) { /* up to 30 s to load and bind */
        int ws;
        died = waitpid(pid, &ws, WNOHANG) == pid;
        up = stat(sock, &st) == 0;
        struct timespec ts = {0, 100 * 1000 * 1000};
        if (!up && !died)
            nanosleep(&ts, NULL);
    }
    if (!up) {
        fprintf(stderr, "socled %s (%s)\n", died ? "exited early" : "did not bind in 30 s", model);
        g_fail++;
        if (!died)
            stop_daemon(pid);
        return;
    }
    int rc1 = -1, rc2 = -1;
    snprintf(cmd, sizeof(cmd), "%s --task %s --endpoint %s --data %s --json", eval, task, ep, data);
    char *a = run(cmd, &rc1);
    snprintf(cmd, sizeof(cmd), "%s --task %s --model %s --data %s --json", eval, task, model, data);
    char *b = run(cmd, &rc2);
    stop_daemon(pid);
    CHECK(rc1 == 0 && rc2 == 0);
    CHECK(a && b && strcmp(a, b) == 0);
    if (a && b && strcmp(a, b) != 0)
        fprintf(stderr, "endpoint:\n%s\nlibrary:\n%s\n", a, b);
    else if (a)
        printf("%s %s: endpoint and library agree\n%.300s\n", task, model, a);
    free(a);
    free(b);
}

int main(int argc, char **argv) {
    const char *shared = getenv("SOCLE_SHARED_DIR");
    if (argc < 3 || !shared)
        return 77;
    char model[1024], tmp[] = "/tmp/socle_eval_ep_XXXXXX";
    snprintf(model, sizeof(model), "%s/fixtures/models/bert-tokcls", shared);
    struct stat st;
    if (stat(model, &st) != 0)
        return 77;
    if (!mkdtemp(tmp))
        return 1;
    compare(argv[1], argv[2], model, "ner", "tests/data/eval/ner_tiny_dev.conll", tmp);
    snprintf(model, sizeof(model), "%s/fixtures/models/bert-seqcls", shared);
    compare(argv[1], argv[2], model, "classify", "tests/data/eval/cls_tiny.jsonl", tmp);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp);
    if (g_fail) {
        fprintf(stderr, "%d check(s) failed\n", g_fail);
        return 1;
    }
    return 0;
}
