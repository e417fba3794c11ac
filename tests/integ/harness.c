/* harness.c — see harness.h. */
#include "tests/integ/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include <json-c/json.h>

extern char **environ;
int hx_failures;

long hx_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

const char *hx_source_dir(void) {
    const char *s = getenv("SOCLE_SOURCE_DIR");
    return s ? s : ".";
}

const char *hx_data(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/tests/data/integ/%s", hx_source_dir(), name);
    return buf;
}

/* A port the kernel says is free now (bind to :0, read it, close). A race with another
 * process is possible but harmless here: the daemon would fail to bind and the test says so. */
static int free_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) != 0) {
        if (s >= 0)
            close(s);
        return -1;
    }
    close(s);
    return ntohs(a.sin_port);
}

struct socle_client *hx_client(const char *endpoint, int timeout_ms, int retries) {
    struct socle_client_opts o = socle_client_opts_default();
    o.timeout_ms = timeout_ms;
    o.retries = retries;
    o.backoff_ms = 20;
    o.backoff_max_ms = 200;
    struct socle_client *c = NULL;
    if (socle_client_new(endpoint, &o, &c) != SOCLE_OK)
        return NULL;
    return c;
}

int hx_start(struct hx_daemon *d, const char *socled, const char *const *extra) {
    memset(d, 0, sizeof *d);
    snprintf(d->dir, sizeof d->dir, "/tmp/socle-integ-XXXXXX");
    if (!mkdtemp(d->dir)) {
        perror("mkdtemp");
        return -1;
    }
    snprintf(d->ipc, sizeof d->ipc, "ipc://%s/socle.sock", d->dir);
    snprintf(d->log, sizeof d->log, "%s/socled.log", d->dir);
    int port = free_port();
    if (port < 0) {
        perror("free_port");
        return -1;
    }
    snprintf(d->tcp, sizeof d->tcp, "tcp://127.0.0.1:%d", port);
    return hx_restart(d, socled, extra, true);
}

int hx_restart(struct hx_daemon *d, const char *socled, const char *const *extra, bool wait) {
    char tok[512];
    hx_data(tok, sizeof tok, "bert-base-uncased.tokenizer.json");
    const char *argv[64] = {socled, "--endpoint", d->ipc, "--endpoint",  d->tcp, "--tokenizer",
                            tok,    "--workers",  "2",    "--log-level", "debug"};
    size_t n = 11;
    for (size_t i = 0; extra && extra[i] && n < 63; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, d->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawn(&d->pid, socled, &fa, NULL, (char *const *)(uintptr_t)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        fprintf(stderr, "spawn %s: %s\n", socled, strerror(rc));
        return -1;
    }
    if (!wait)
        return 0;
    /* Ready when it answers info; a daemon that died at start fails the test at once. */
    Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
    Socle__V1__InfoRequest info = SOCLE__V1__INFO_REQUEST__INIT;
    req.task_case = SOCLE__V1__REQUEST__TASK_INFO;
    req.info = &info;
    long t0 = hx_now_ms();
    for (;;) {
        int st;
        if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
            fprintf(stderr, "socled exited at start (status %d); log %s\n",
                    WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), d->log);
            d->pid = 0;
            return -1;
        }
        struct socle_client *c = hx_client(d->ipc, 300, 0);
        Socle__V1__Response *r = NULL;
        req.id = 0;
        rc = c ? socle_client_call(c, &req, &r) : SOCLE_ENOMEM;
        socle_client_free(c);
        bool up = rc == SOCLE_OK && r && r->result_case == SOCLE__V1__RESPONSE__RESULT_INFO;
        socle_response_free(r);
        if (up)
            return 0;
        if (hx_now_ms() - t0 > 20000) {
            fprintf(stderr, "socled did not answer info within 20 s; log %s\n", d->log);
            return -1;
        }
    }
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

bool hx_log_has(const struct hx_daemon *d, const char *needle) {
    FILE *f = fopen(d->log, "r");
    if (!f)
        return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

int hx_stop(struct hx_daemon *d, int timeout_ms, int *status) {
    int rc = d->pid > 0 ? -1 : 0, st = 0;
    if (d->pid > 0) {
        kill(d->pid, SIGTERM);
        long t0 = hx_now_ms();
        for (;;) {
            pid_t p = waitpid(d->pid, &st, WNOHANG);
            if (p == d->pid) {
                *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                rc = 0;
                break;
            }
            if (hx_now_ms() - t0 > timeout_ms) {
                fprintf(stderr, "socled did not exit within %d ms after SIGTERM\n", timeout_ms);
                kill(d->pid, SIGKILL);
                waitpid(d->pid, &st, 0);
                *status = -1;
                break;
            }
            usleep(10000);
        }
        d->pid = 0;
    }
    if (getenv("SOCLE_KEEP_LOGS") || rc != 0 || *status != 0) {
        fprintf(stderr, "--- socled log (%s) ---\n", d->log);
        FILE *f = fopen(d->log, "r");
        char line[4096];
        int k = 0;
        while (f && fgets(line, sizeof line, f) && k++ < 200)
            fputs(line, stderr);
        if (f)
            fclose(f);
    }
    if (d->dir[0])
        nftw(d->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    return rc;
}

int hx_run(char *const argv[], const char *stdin_data, char **out) {
    int in[2], outp[2];
    if (pipe(in) != 0 || pipe(outp) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
    posix_spawn_file_actions_addclose(&fa, in[1]);
    posix_spawn_file_actions_addclose(&fa, outp[0]);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(outp[1]);
    if (rc != 0) {
        close(in[1]);
        close(outp[0]);
        return -1;
    }
    /* feed stdin and drain stdout together so neither pipe can fill up and block */
    size_t in_len = stdin_data ? strlen(stdin_data) : 0, in_off = 0;
    if (!in_len) {
        close(in[1]);
        in[1] = -1;
    }
    fcntl(outp[0], F_SETFL, O_NONBLOCK);
    if (in[1] >= 0)
        fcntl(in[1], F_SETFL, O_NONBLOCK);
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        struct pollfd p[2] = {{outp[0], POLLIN, 0}, {in[1], POLLOUT, 0}};
        poll(p, in[1] >= 0 ? 2 : 1, 1000);
        if (in[1] >= 0 && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w = write(in[1], stdin_data + in_off, in_len - in_off);
            if (w > 0)
                in_off += (size_t)w;
            if (w < 0 && errno != EAGAIN)
                in_off = in_len;
            if (in_off >= in_len) {
                close(in[1]);
                in[1] = -1;
            }
        }
        if (p[0].revents & (POLLIN | POLLHUP)) {
            if (len + 4096 > cap)
                buf = realloc(buf, cap *= 2);
            ssize_t r = read(outp[0], buf + len, cap - len - 1);
            if (r == 0)
                break;
            if (r > 0)
                len += (size_t)r;
        }
    }
    buf[len] = '\0';
    close(outp[0]);
    if (in[1] >= 0)
        close(in[1]);
    int st;
    waitpid(pid, &st, 0);
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

Socle__V1__Response *hx_raw(const char *endpoint, const void *const *frames, const size_t *lens,
                            size_t n_frames, int timeout_ms) {
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_connect(s, endpoint);
    for (size_t i = 0; i < n_frames; i++)
        zmq_send(s, frames[i], lens[i], i + 1 < n_frames ? ZMQ_SNDMORE : 0);
    Socle__V1__Response *r = NULL;
    zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, timeout_ms) == 1) {
        zmq_msg_t m[3];
        size_t nf = 0;
        int more = 1;
        while (more) {
            zmq_msg_t x;
            zmq_msg_init(&x);
            if (zmq_msg_recv(&x, s, 0) < 0)
                break;
            more = zmq_msg_more(&x);
            if (nf < 3)
                m[nf++] = x;
            else
                zmq_msg_close(&x);
        }
        if (nf == 3 && zmq_msg_size(&m[0]) == 0 && zmq_msg_size(&m[1]) == 7 &&
            memcmp(zmq_msg_data(&m[1]), "socle/1", 7) == 0)
            r = (Socle__V1__Response *)protobuf_c_message_unpack(
                &socle__v1__response__descriptor, NULL, zmq_msg_size(&m[2]), zmq_msg_data(&m[2]));
        for (size_t i = 0; i < nf; i++)
            zmq_msg_close(&m[i]);
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    return r;
}

char *hx_read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Split text into lines on '\n' only (in place); returns the count. */
size_t hx_split_lines(char *text, char **lines, size_t max) {
    size_t n = 0;
    char *p = text;
    while (*p && n < max) {
        char *nl = strchr(p, '\n');
        lines[n++] = p;
        if (!nl)
            break;
        *nl = '\0';
        p = nl + 1;
    }
    return n;
}

/* Compare JSON lines `got` with the expected file on ids, tokens and offsets. */
int hx_compare_jsonl(const char *got, const char *expected_path, size_t want_lines) {
    char *exp = hx_read_file(expected_path);
    char *g = strdup(got);
    char *el[256], *gl[256];
    if (!exp || !g) {
        fprintf(stderr, "cannot read %s\n", expected_path);
        free(exp);
        free(g);
        return -1;
    }
    size_t ne = hx_split_lines(exp, el, 256), ng = hx_split_lines(g, gl, 256);
    int bad = 0;
    if (ne != want_lines || ng != want_lines) {
        fprintf(stderr, "line counts: expected file %zu, got %zu, want %zu\n", ne, ng, want_lines);
        bad++;
    }
    for (size_t i = 0; i < ne && i < ng; i++) {
        struct json_object *a = json_tokener_parse(el[i]), *b = json_tokener_parse(gl[i]);
        static const char *const keys[] = {"ids", "tokens", "offsets"};
        for (int k = 0; k < 3; k++) {
            struct json_object *x = NULL, *y = NULL;
            if (!a || !b || !json_object_object_get_ex(a, keys[k], &x) ||
                !json_object_object_get_ex(b, keys[k], &y) || !json_object_equal(x, y)) {
                if (bad < 3)
                    fprintf(stderr, "line %zu differs on %s:\n  want %s\n  got  %s\n", i + 1,
                            keys[k], el[i], gl[i]);
                bad++;
                break;
            }
        }
        json_object_put(a);
        json_object_put(b);
    }
    free(exp);
    free(g);
    return bad ? -1 : 0;
}
