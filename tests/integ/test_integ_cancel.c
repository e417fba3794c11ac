/* test_integ_cancel.c — the queued work of a client that went away is not computed (issue 6),
 * label integ. argv: socled. One worker, one request per batch, on models/socle-mini.
 *
 * Two clients (one over ipc, one over tcp) each send N_SLOW slow classify requests (several
 * long texts each) and disconnect as soon as the daemon has started computing; a third client
 * keeps sending small requests meanwhile and must get every answer. Checks, from `stats` once
 * the daemon is idle again:
 *   - cancelled_total > 0 and computed_total < the requests sent: most of the gone clients'
 *     work never reached the model;
 *   - every accepted request has exactly one outcome: requests_total = responses_total +
 *     cancelled_total + in_flight (the stats request itself);
 *   - the live client got all its answers, OK, each once;
 *   - GET /metrics shows socled_cancelled_total{reason="client_gone"} with the same count.
 * Exits 77 when models/socle-mini is absent. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "tests/integ/harness.h"

enum { N_SLOW = 60, N_TEXTS = 2, N_LIVE = 40 };

static struct hx_daemon D;
static char g_long[4096];

static Socle__V1__Response *stats(void) {
    struct socle_client *c = hx_client(D.ipc, 5000, 0);
    Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
    Socle__V1__StatsRequest st = SOCLE__V1__STATS_REQUEST__INIT;
    req.task_case = SOCLE__V1__REQUEST__TASK_STATS;
    req.stats = &st;
    Socle__V1__Response *r = NULL;
    if (!c || socle_client_call(c, &req, &r) != SOCLE_OK || !r || !r->stats) {
        socle_response_free(r);
        r = NULL;
    }
    socle_client_free(c);
    return r;
}

static uint64_t computed_now(void) {
    Socle__V1__Response *r = stats();
    uint64_t v = r ? r->stats->computed_total : 0;
    socle_response_free(r);
    return v;
}

static uint32_t in_flight_now(void) {
    Socle__V1__Response *r = stats();
    uint32_t v = r ? r->stats->in_flight : 0;
    socle_response_free(r);
    return v;
}

/* Send N_SLOW slow requests, wait until the daemon has them all (the client closes its socket
 * without lingering: unsent requests would be dropped), go away without reading. */
static int send_and_leave(const char *endpoint) {
    struct socle_client *c = hx_client(endpoint, 60000, 0);
    if (!c)
        return -1;
    ProtobufCBinaryData t[N_TEXTS];
    for (int i = 0; i < N_TEXTS; i++)
        t[i] = (ProtobufCBinaryData){strlen(g_long), (uint8_t *)g_long};
    for (int i = 0; i < N_SLOW; i++) {
        Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
        Socle__V1__ClassifyRequest cl = SOCLE__V1__CLASSIFY_REQUEST__INIT;
        cl.n_texts = N_TEXTS;
        cl.texts = t;
        req.adapter = (char *)(uintptr_t) "sentiment";
        req.task_case = SOCLE__V1__REQUEST__TASK_CLASSIFY;
        req.classify = &cl;
        if (socle_client_send(c, &req, NULL) != SOCLE_OK) {
            socle_client_free(c);
            return -1;
        }
    }
    /* received: computing them one by one takes seconds, so nearly all are still in flight */
    for (long t0 = hx_now_ms(); in_flight_now() < N_SLOW && hx_now_ms() - t0 < 10000;)
        usleep(2000);
    socle_client_free(c); /* closes the connection; its answers can go nowhere */
    return 0;
}

struct live {
    int ok, errors;
};

static void *live_main(void *arg) {
    struct live *l = arg;
    struct socle_client *c = hx_client(D.tcp, 60000, 0);
    if (!c) {
        l->errors++;
        return NULL;
    }
    for (int i = 0; i < N_LIVE; i++) {
        Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
        Socle__V1__ClassifyRequest cl = SOCLE__V1__CLASSIFY_REQUEST__INIT;
        ProtobufCBinaryData b = {11, (uint8_t *)(uintptr_t) "a good day."};
        cl.n_texts = 1;
        cl.texts = &b;
        req.adapter = (char *)(uintptr_t) "sentiment";
        req.task_case = SOCLE__V1__REQUEST__TASK_CLASSIFY;
        req.classify = &cl;
        Socle__V1__Response *r = NULL;
        if (socle_client_call(c, &req, &r) == SOCLE_OK && r && r->status &&
            r->status->code == SOCLE__V1__CODE__OK && r->id == req.id)
            l->ok++;
        else
            l->errors++;
        socle_response_free(r);
        usleep(20000);
    }
    socle_client_free(c);
    return NULL;
}

/* GET /metrics from tcp://127.0.0.1:PORT; the value of the sample `name` (a full series name
 * with labels, then a space), -1 when absent. */
static long long metric(const char *endpoint, const char *name) {
    const char *colon = strrchr(endpoint, ':');
    int port = colon ? atoi(colon + 1) : 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {5, 0};
    static char text[1 << 17];
    size_t len = 0;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    static const char get[] = "GET /metrics HTTP/1.0\r\n\r\n";
    if (port > 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        write(fd, get, sizeof get - 1) == (ssize_t)(sizeof get - 1)) {
        ssize_t n;
        while (len + 1 < sizeof text && (n = read(fd, text + len, sizeof text - 1 - len)) > 0)
            len += (size_t)n;
    }
    close(fd);
    text[len] = '\0';
    const char *p = strstr(text, name);
    return p ? atoll(p + strlen(name)) : -1;
}

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    char model[1024], adapters[1100], probe[1100];
    snprintf(model, sizeof model, "%s/models/socle-mini", hx_source_dir());
    snprintf(adapters, sizeof adapters, "%s/adapters", model);
    snprintf(probe, sizeof probe, "%s/model.safetensors", model);
    if (access(probe, R_OK) != 0) {
        fprintf(stderr, "skip: %s absent\n", probe);
        return 77;
    }
    /* one worker, one request per forward: the queue stays long while the clients leave */
    const char *extra[] = {"--model",
                           model,
                           "--adapters",
                           adapters,
                           "--workers",
                           "1",
                           "--max-batch-requests",
                           "1",
                           "--metrics",
                           "tcp://127.0.0.1:0",
                           "--log-level",
                           "info",
                           NULL};
    if (hx_start(&D, argv[1], extra) != 0)
        return 1;
    size_t len = 0;
    while (len + 16 < 1800)
        len += (size_t)snprintf(g_long + len, sizeof g_long - len, "%s",
                                "the market rose sharply after news of a merger. ");
    struct live live = {0};
    pthread_t th;
    pthread_create(&th, NULL, live_main, &live);
    uint64_t c0 = computed_now();
    CHECK(send_and_leave(D.ipc) == 0);
    CHECK(send_and_leave(D.tcp) == 0);
    long t0 = hx_now_ms();
    while (computed_now() == c0 && hx_now_ms() - t0 < 10000)
        usleep(1000);
    pthread_join(th, NULL);
    /* idle again: nothing queued, only our stats request in flight */
    Socle__V1__Response *r = NULL;
    for (t0 = hx_now_ms(); hx_now_ms() - t0 < 15000; usleep(20000)) {
        socle_response_free(r);
        r = stats();
        if (r && r->stats->queue_depth == 0 && r->stats->in_flight == 1 &&
            r->stats->workers_busy == 0)
            break;
    }
    CHECK(r != NULL);
    if (!r)
        return 1;
    const Socle__V1__StatsResult *s = r->stats;
    uint64_t sent = 2 * N_SLOW;
    fprintf(stderr,
            "cancel: %llu slow requests sent by 2 clients that left; computed %llu (incl. %d "
            "live), cancelled %llu, dropped replies %llu; requests %llu, responses %llu, in "
            "flight %u; live client %d OK, %d errors\n",
            (unsigned long long)sent, (unsigned long long)s->computed_total, live.ok,
            (unsigned long long)s->cancelled_total, (unsigned long long)s->dropped_replies,
            (unsigned long long)s->requests_total, (unsigned long long)s->responses_total,
            s->in_flight, live.ok, live.errors);
    CHECK(s->cancelled_total > 0);
    CHECK(s->computed_total - (uint64_t)live.ok < sent);
    CHECK(s->requests_total == s->responses_total + s->cancelled_total + s->in_flight);
    CHECK(live.ok == N_LIVE && live.errors == 0);
    CHECK(hx_log_has(&D, "event=cancelled reason=client_gone"));
    /* the metrics endpoint: the daemon logs the port it bound */
    char *log = hx_read_file(D.log), ep[128] = "";
    const char *m = log ? strstr(log, "event=metrics endpoint=\"") : NULL;
    if (m)
        sscanf(m + strlen("event=metrics endpoint=\""), "%127[^\"]", ep);
    free(log);
    long long mv = ep[0] ? metric(ep, "socled_cancelled_total{reason=\"client_gone\"} ") : -1;
    fprintf(stderr, "metrics %s: socled_cancelled_total{reason=\"client_gone\"} %lld\n", ep, mv);
    CHECK(mv == (long long)s->cancelled_total);
    socle_response_free(r);
    int status = -1;
    CHECK(hx_stop(&D, 20000, &status) == 0 && status == 0);
    return hx_failures ? 1 : 0;
}
