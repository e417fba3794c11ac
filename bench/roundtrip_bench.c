/* roundtrip_bench.c — socled round trip: requests/s and p50/p99 latency of `info` over ipc://
 * and tcp://, with 1 and 8 concurrent clients, each client doing synchronous calls (one request
 * in flight) through the C client library, against a socled this program starts.
 *
 * The last column is socled's own CPU time (user + system, all its threads) per request over the
 * timed runs, read from /proc: on a shared, loaded machine it is the steadiest number here.
 *
 * Baseline in the same run: a bare ZeroMQ ROUTER echo (in this process, same transport, same
 * client library framing) — the transport's floor. The ratio socled/echo is what the broker
 * costs. Each cell: warm-up, then --repeat runs (default 5); median, and min–max of req/s.
 *
 * usage: roundtrip_bench SOCLED [--n REQUESTS_PER_CLIENT] [--repeat R] [--workers W]
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "clients/socle.h"

#ifndef SOCLE_BENCH_FLAGS
#define SOCLE_BENCH_FLAGS "?"
#endif
#ifndef SOCLE_GIT_COMMIT
#define SOCLE_GIT_COMMIT "?"
#endif

extern char **environ;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* CPU seconds (user + system) used so far by process pid, from /proc/pid/stat. Unlike wall
 * time this barely depends on what else the (shared, noisy) machine is running. */
static double cpu_seconds(pid_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int free_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) != 0)
        return -1;
    close(s);
    return ntohs(a.sin_port);
}

/* ---- the echo baseline: a ROUTER that sends back a fixed, valid info-sized Response ---- */

struct echo {
    void *ctx;
    char endpoint[300];
    volatile int stop;
    pthread_t th;
    int ready;
};

static void *echo_main(void *arg) {
    struct echo *e = arg;
    void *s = zmq_socket(e->ctx, ZMQ_ROUTER);
    int zero = 0, tmo = 100;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    zmq_bind(s, e->endpoint);
    __atomic_store_n(&e->ready, 1, __ATOMIC_RELEASE);
    while (!e->stop) {
        zmq_msg_t f[4];
        int nf = 0, more = 1;
        while (more && nf < 4) {
            zmq_msg_init(&f[nf]);
            if (zmq_msg_recv(&f[nf], s, 0) < 0) {
                zmq_msg_close(&f[nf]);
                break;
            }
            more = zmq_msg_more(&f[nf]);
            nf++;
        }
        if (nf != 4) {
            for (int i = 0; i < nf; i++)
                zmq_msg_close(&f[i]);
            continue;
        }
        /* Response{id = request's id, status{}}: decode nothing, echo the id bytes */
        Socle__V1__Request *req = (Socle__V1__Request *)protobuf_c_message_unpack(
            &socle__v1__request__descriptor, NULL, zmq_msg_size(&f[3]), zmq_msg_data(&f[3]));
        Socle__V1__Response r = SOCLE__V1__RESPONSE__INIT;
        Socle__V1__Status st = SOCLE__V1__STATUS__INIT;
        r.id = req ? req->id : 0;
        r.status = &st;
        uint8_t buf[64];
        size_t n = protobuf_c_message_pack(&r.base, buf);
        if (req)
            protobuf_c_message_free_unpacked(&req->base, NULL);
        zmq_msg_send(&f[0], s, ZMQ_SNDMORE);
        zmq_msg_send(&f[1], s, ZMQ_SNDMORE);
        zmq_msg_send(&f[2], s, ZMQ_SNDMORE);
        zmq_send(s, buf, n, 0);
        zmq_msg_close(&f[3]);
    }
    zmq_close(s);
    return NULL;
}

/* ---- clients ---- */

struct client_run {
    const char *endpoint;
    int n;
    double *lat; /* (n) seconds */
    int errors;
    pthread_barrier_t *start;
};

static void *client_main(void *arg) {
    struct client_run *cr = arg;
    struct socle_client_opts o = socle_client_opts_default();
    o.timeout_ms = 10000;
    o.retries = 0;
    struct socle_client *c = NULL;
    if (socle_client_new(cr->endpoint, &o, &c) != SOCLE_OK) {
        cr->errors = cr->n;
        pthread_barrier_wait(cr->start);
        return NULL;
    }
    Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
    Socle__V1__InfoRequest info = SOCLE__V1__INFO_REQUEST__INIT;
    req.task_case = SOCLE__V1__REQUEST__TASK_INFO;
    req.info = &info;
    /* connect before the clock starts */
    Socle__V1__Response *r = NULL;
    if (socle_client_call(c, &req, &r) != SOCLE_OK)
        cr->errors++;
    socle_response_free(r);
    pthread_barrier_wait(cr->start);
    for (int i = 0; i < cr->n; i++) {
        req.id = 0;
        double t0 = now_s();
        r = NULL;
        int rc = socle_client_call(c, &req, &r);
        cr->lat[i] = now_s() - t0;
        if (rc != SOCLE_OK || !r->status || r->status->code != SOCLE__V1__CODE__OK)
            cr->errors++;
        socle_response_free(r);
    }
    socle_client_free(c);
    return NULL;
}

struct cell {
    double rps, p50_us, p99_us;
    int errors;
};

static struct cell run_cell(const char *endpoint, int n_clients, int n) {
    pthread_t th[64];
    struct client_run cr[64];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)n_clients + 1);
    double *lat = malloc(sizeof(double) * (size_t)n * (size_t)n_clients);
    for (int i = 0; i < n_clients; i++) {
        cr[i] = (struct client_run){endpoint, n, lat + (size_t)i * (size_t)n, 0, &start};
        pthread_create(&th[i], NULL, client_main, &cr[i]);
    }
    pthread_barrier_wait(&start);
    double t0 = now_s();
    struct cell c = {0};
    for (int i = 0; i < n_clients; i++) {
        pthread_join(th[i], NULL);
        c.errors += cr[i].errors;
    }
    double wall = now_s() - t0;
    size_t total = (size_t)n * (size_t)n_clients;
    qsort(lat, total, sizeof *lat, cmp_double);
    c.rps = (double)total / wall;
    c.p50_us = lat[total / 2] * 1e6;
    c.p99_us = lat[(size_t)((double)total * 0.99)] * 1e6;
    free(lat);
    pthread_barrier_destroy(&start);
    return c;
}

static int cmp_cell_rps(const void *a, const void *b) {
    double x = ((const struct cell *)a)->rps, y = ((const struct cell *)b)->rps;
    return x < y ? -1 : x > y;
}

/* Median of `repeat` runs (by req/s; p50/p99 medians taken separately), min/max req/s. */
static struct cell measure(const char *endpoint, int n_clients, int n, int repeat, double *lo,
                           double *hi, int *errors, pid_t pid, double *cpu_us) {
    struct cell runs[32];
    double p50[32], p99[32];
    run_cell(endpoint, n_clients, n / 4 + 1); /* warm-up */
    *errors = 0;
    double cpu0 = pid > 0 ? cpu_seconds(pid) : 0;
    for (int k = 0; k < repeat; k++) {
        runs[k] = run_cell(endpoint, n_clients, n);
        p50[k] = runs[k].p50_us;
        p99[k] = runs[k].p99_us;
        *errors += runs[k].errors;
    }
    if (cpu_us)
        *cpu_us = (cpu_seconds(pid) - cpu0) * 1e6 / ((double)n * n_clients * repeat);
    qsort(runs, (size_t)repeat, sizeof *runs, cmp_cell_rps);
    qsort(p50, (size_t)repeat, sizeof *p50, cmp_double);
    qsort(p99, (size_t)repeat, sizeof *p99, cmp_double);
    *lo = runs[0].rps;
    *hi = runs[repeat - 1].rps;
    struct cell m = runs[repeat / 2];
    m.p50_us = p50[repeat / 2];
    m.p99_us = p99[repeat / 2];
    return m;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s SOCLED [--n N] [--repeat R] [--workers W]\n", argv[0]);
        return 2;
    }
    const char *socled = argv[1];
    int n = 2000, repeat = 5;
    const char *workers = "2";
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--n") == 0)
            n = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--repeat") == 0)
            repeat = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--workers") == 0)
            workers = argv[i + 1];
    }
    if (n < 10)
        n = 10;
    if (repeat < 1 || repeat > 31)
        repeat = 5;

    char dir[] = "/tmp/socle-bench-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char ipc[300], tcp[300], eipc[300], etcp[300], logp[300];
    snprintf(ipc, sizeof ipc, "ipc://%s/socled.sock", dir);
    snprintf(eipc, sizeof eipc, "ipc://%s/echo.sock", dir);
    snprintf(tcp, sizeof tcp, "tcp://127.0.0.1:%d", free_port());
    snprintf(etcp, sizeof etcp, "tcp://127.0.0.1:%d", free_port());
    snprintf(logp, sizeof logp, "%s/socled.log", dir);

    const char *args[] = {socled,      "--endpoint", ipc,           "--endpoint", tcp,
                          "--workers", workers,      "--log-level", "warn",       NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    if (posix_spawn(&pid, socled, &fa, NULL, (char *const *)(uintptr_t)args, environ) != 0) {
        perror("spawn socled");
        return 1;
    }
    posix_spawn_file_actions_destroy(&fa);

    /* validate before timing: socled answers info with the protocol tag */
    struct socle_client_opts o = socle_client_opts_default();
    o.timeout_ms = 300;
    o.retries = 30;
    struct socle_client *c = NULL;
    socle_client_new(ipc, &o, &c);
    Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
    Socle__V1__InfoRequest info = SOCLE__V1__INFO_REQUEST__INIT;
    req.task_case = SOCLE__V1__REQUEST__TASK_INFO;
    req.info = &info;
    Socle__V1__Response *r = NULL;
    int rc = socle_client_call(c, &req, &r);
    int valid = rc == SOCLE_OK && r && r->info && strcmp(r->info->protocol, "socle/1") == 0;
    socle_response_free(r);
    socle_client_free(c);
    if (!valid) {
        fprintf(stderr, "socled did not answer a valid info (log %s)\n", logp);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return 1;
    }

    struct echo e_ipc = {.ctx = zmq_ctx_new()}, e_tcp = {.ctx = e_ipc.ctx};
    snprintf(e_ipc.endpoint, sizeof e_ipc.endpoint, "%s", eipc);
    snprintf(e_tcp.endpoint, sizeof e_tcp.endpoint, "%s", etcp);
    pthread_create(&e_ipc.th, NULL, echo_main, &e_ipc);
    pthread_create(&e_tcp.th, NULL, echo_main, &e_tcp);
    while (!__atomic_load_n(&e_ipc.ready, __ATOMIC_ACQUIRE) ||
           !__atomic_load_n(&e_tcp.ready, __ATOMIC_ACQUIRE))
        usleep(1000);

    printf("# roundtrip_bench: info round trips, synchronous clients (1 request in flight each)\n");
    printf("# commit %s; compiler %s; flags: %s; socled workers %s; %d requests/client/run, "
           "%d runs (median; req/s min-max)\n",
           SOCLE_GIT_COMMIT, __VERSION__, SOCLE_BENCH_FLAGS, workers, n, repeat);
    printf("%-9s %-7s %12s %21s %10s %10s %14s %9s %14s\n", "transport", "clients", "req/s",
           "req/s min-max", "p50 us", "p99 us", "echo req/s", "vs echo", "socled cpu/req");
    int total_errors = 0;
    const char *names[2] = {"ipc", "tcp"};
    const char *eps[2] = {ipc, tcp}, *echo_eps[2] = {eipc, etcp};
    const int clients[2] = {1, 8};
    for (int t = 0; t < 2; t++) {
        for (int k = 0; k < 2; k++) {
            double lo, hi, elo, ehi;
            int errs, eerrs;
            double cpu_us = 0;
            struct cell m = measure(eps[t], clients[k], n, repeat, &lo, &hi, &errs, pid, &cpu_us);
            struct cell b =
                measure(echo_eps[t], clients[k], n, repeat, &elo, &ehi, &eerrs, 0, NULL);
            total_errors += errs + eerrs;
            char range[32];
            snprintf(range, sizeof range, "%.0f-%.0f", lo, hi);
            printf("%-9s %-7d %12.0f %21s %10.1f %10.1f %14.0f %8.2fx %11.1f us\n", names[t],
                   clients[k], m.rps, range, m.p50_us, m.p99_us, b.rps, m.rps / b.rps, cpu_us);
            fflush(stdout);
        }
    }
    e_ipc.stop = e_tcp.stop = 1;
    pthread_join(e_ipc.th, NULL);
    pthread_join(e_tcp.th, NULL);
    zmq_ctx_term(e_ipc.ctx);
    kill(pid, SIGTERM);
    int st = 0;
    waitpid(pid, &st, 0);
    unlink(logp);
    rmdir(dir);
    if (total_errors)
        fprintf(stderr, "%d failed requests\n", total_errors);
    return total_errors || !WIFEXITED(st) || WEXITSTATUS(st) != 0 ? 1 : 0;
}
