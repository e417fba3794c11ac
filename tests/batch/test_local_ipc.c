/* test_local_ipc.c — ipc:// endpoints of socled (label integ; daemon/ipc.c):
 *  1. the socket file is created owner-only (0600) by default, and another uid cannot
 *     connect to it (checked when the test runs as root: a child drops to nobody);
 *  2. after a SIGKILL the stale socket file is removed at the next start (log
 *     stale_socket_removed) and the new daemon serves; --ipc-mode 0666 widens the file and the
 *     other uid then can connect (so check 1 is not vacuous);
 *  3. a second socled on the endpoint of a live one refuses to start ("endpoint in use by a
 *     live daemon"), and the live one keeps its socket and its clients;
 *  4. a path that is not a socket is never removed.
 * argv: socled socle */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integ/harness.h"

extern char **environ;

/* Can uid 65534 connect to the Unix socket at path? 1 yes, 0 no (EACCES), -1 other error. */
static int other_uid_connects(const char *path) {
    pid_t p = fork();
    if (p == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(3);
        struct sockaddr_un sa;
        memset(&sa, 0, sizeof sa);
        sa.sun_family = AF_UNIX;
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0)
            _exit(3);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
            _exit(1);
        _exit(errno == EACCES ? 0 : 2);
    }
    int st = 0;
    waitpid(p, &st, 0);
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 9;
    return code == 1 ? 1 : code == 0 ? 0 : -1;
}

static bool answers_info(const char *ep) {
    struct socle_client *c = hx_client(ep, 1000, 1);
    Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
    Socle__V1__InfoRequest ir = SOCLE__V1__INFO_REQUEST__INIT;
    req.task_case = SOCLE__V1__REQUEST__TASK_INFO;
    req.info = &ir;
    Socle__V1__Response *r = NULL;
    bool ok = c && socle_client_call(c, &req, &r) == SOCLE_OK && r &&
              r->result_case == SOCLE__V1__RESPONSE__RESULT_INFO;
    socle_response_free(r);
    socle_client_free(c);
    return ok;
}

/* Run socled with args, stderr to errpath; exit status (128+sig), -1 if it runs > 10 s. */
static int run_socled(const char *socled, const char *const *args, const char *errpath) {
    const char *argv[16] = {socled};
    size_t n = 1;
    for (; args[n - 1] && n < 15; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    int rc = posix_spawn(&pid, socled, &fa, NULL, (char *const *)(uintptr_t)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return -1;
    long t0 = hx_now_ms();
    int st;
    while (waitpid(pid, &st, WNOHANG) != pid) {
        if (hx_now_ms() - t0 > 10000) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        usleep(10000);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(int argc, char **argv) {
    if (argc < 3)
        return 2;
    const char *socled = argv[1];
    struct hx_daemon d;
    if (hx_start(&d, socled, NULL) != 0) {
        int st;
        hx_stop(&d, 5000, &st);
        return 1;
    }
    const char *path = d.ipc + strlen("ipc://");
    /* the temporary directory is 0700: open it so only the socket's own bits decide */
    chmod(d.dir, 0755);
    bool root = geteuid() == 0;
    if (!root)
        fprintf(stderr, "note: not root, the other-uid checks are skipped\n");

    /* 1. owner-only by default */
    struct stat st;
    CHECK(lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0600);
    if (root)
        CHECK(other_uid_connects(path) == 0);

    /* 2. SIGKILL leaves the file; the next start removes it and serves, here with 0666 */
    kill(d.pid, SIGKILL);
    int ws;
    waitpid(d.pid, &ws, 0);
    d.pid = 0;
    CHECK(lstat(path, &st) == 0 && S_ISSOCK(st.st_mode));
    const char *wide[] = {"--ipc-mode", "0666", NULL};
    CHECK(hx_restart(&d, socled, wide, true) == 0);
    CHECK(hx_log_has(&d, "stale_socket_removed"));
    CHECK(lstat(path, &st) == 0 && (st.st_mode & 0777) == 0666);
    if (root)
        CHECK(other_uid_connects(path) == 1);

    /* 3. a second daemon on a live endpoint refuses; the live one keeps serving */
    char errpath[400];
    snprintf(errpath, sizeof errpath, "%s/second.err", d.dir);
    char tok[512];
    hx_data(tok, sizeof tok, "bert-base-uncased.tokenizer.json");
    const char *second[] = {"--endpoint", d.ipc, "--tokenizer", tok, "--workers", "1", NULL};
    CHECK(run_socled(socled, second, errpath) == 1);
    char *err = hx_read_file(errpath);
    CHECK(err && strstr(err, "endpoint in use by a live daemon"));
    free(err);
    CHECK(answers_info(d.ipc));

    /* 4. not a socket: left alone, start refused */
    char notsock[400], ep[420];
    snprintf(notsock, sizeof notsock, "%s/notsock", d.dir);
    snprintf(ep, sizeof ep, "ipc://%s", notsock);
    FILE *f = fopen(notsock, "w");
    if (f) {
        fputs("precious\n", f);
        fclose(f);
    }
    const char *third[] = {"--endpoint", ep, "--tokenizer", tok, "--workers", "1", NULL};
    CHECK(run_socled(socled, third, errpath) == 1);
    char *kept = hx_read_file(notsock);
    CHECK(kept && strcmp(kept, "precious\n") == 0);
    free(kept);

    int code;
    CHECK(hx_stop(&d, 10000, &code) == 0 && code == 0);
    if (hx_failures)
        fprintf(stderr, "%d check(s) failed\n", hx_failures);
    return hx_failures ? 1 : 0;
}
