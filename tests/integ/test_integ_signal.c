/* test_integ_signal.c — signals (label integ): SIGHUP is logged and serving goes on; SIGTERM
 * lets every accepted request finish (drain), answers requests arriving meanwhile with
 * UNAVAILABLE, and the daemon exits 0. argv: socled socle */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integ/harness.h"

enum { N_SLOW = 4 };

static Socle__V1__Response *stats(const char *ep) {
    struct socle_client *c = hx_client(ep, 5000, 1);
    Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
    Socle__V1__StatsRequest sr = SOCLE__V1__STATS_REQUEST__INIT;
    req.task_case = SOCLE__V1__REQUEST__TASK_STATS;
    req.stats = &sr;
    Socle__V1__Response *r = NULL;
    if (socle_client_call(c, &req, &r) != SOCLE_OK)
        r = NULL;
    socle_client_free(c);
    return r;
}

int main(int argc, char **argv) {
    if (argc < 3)
        return 2;
    struct hx_daemon d;
    const char *extra[] = {"--workers", "1", NULL};
    if (hx_start(&d, argv[1], extra) != 0) {
        int st;
        hx_stop(&d, 5000, &st);
        return 1;
    }

    /* SIGHUP: reserved for adapter reload; logged, and the daemon keeps serving */
    kill(d.pid, SIGHUP);
    long t0 = hx_now_ms();
    while (!hx_log_has(&d, "event=sighup") && !hx_log_has(&d, "event=adapters_") &&
           hx_now_ms() - t0 < 5000)
        usleep(20000);
    CHECK(hx_log_has(&d, "event=sighup") || hx_log_has(&d, "event=adapters_"));
    Socle__V1__Response *s = stats(d.ipc);
    CHECK(s && s->status->code == SOCLE__V1__CODE__OK);
    socle_response_free(s);

    /* N_SLOW long texts keep the one worker busy; wait until the broker holds them all */
    /* 200 kB each: small enough for the daemon's queue admission (max-queue-tokens), slow
     * enough (a full encoding, not a count) to still be in flight at the signal */
    size_t len = 200 * 1024;
    char *text = malloc(len);
    for (size_t i = 0; i < len; i++)
        text[i] = "the quick brown fox jumps over a lazy dog "[i % 42];
    struct socle_client *c = hx_client(d.tcp, 30000, 0);
    for (int k = 0; k < N_SLOW; k++) {
        Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
        Socle__V1__TokenizeRequest t = SOCLE__V1__TOKENIZE_REQUEST__INIT;
        ProtobufCBinaryData b = {len, (uint8_t *)text};
        t.n_texts = 1;
        t.texts = &b;
        req.task_case = SOCLE__V1__REQUEST__TASK_TOKENIZE;
        req.tokenize = &t;
        CHECK(socle_client_send(c, &req, NULL) == SOCLE_OK);
    }
    t0 = hx_now_ms();
    for (;;) {
        s = stats(d.ipc);
        bool all_in = s && s->stats && s->stats->in_flight >= N_SLOW + 1;
        socle_response_free(s);
        if (all_in || hx_now_ms() - t0 > 10000)
            break;
        usleep(5000);
    }

    /* SIGTERM: drain */
    kill(d.pid, SIGTERM);
    /* once the broker has seen the signal (it logs it; delivery to the handler is
     * asynchronous), a new request is refused, not queued */
    t0 = hx_now_ms();
    while (!hx_log_has(&d, "event=draining") && hx_now_ms() - t0 < 10000)
        usleep(2000);
    CHECK(hx_log_has(&d, "event=draining"));
    struct socle_client *late = hx_client(d.ipc, 5000, 0);
    Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
    Socle__V1__InfoRequest info = SOCLE__V1__INFO_REQUEST__INIT;
    req.task_case = SOCLE__V1__REQUEST__TASK_INFO;
    req.info = &info;
    Socle__V1__Response *r = NULL;
    CHECK(socle_client_call(late, &req, &r) == SOCLE_OK);
    CHECK(r && r->status->code == SOCLE__V1__CODE__UNAVAILABLE);
    socle_response_free(r);
    socle_client_free(late);
    /* every request accepted before the signal completes, with its real result */
    int ok = 0;
    for (int k = 0; k < N_SLOW; k++) {
        r = NULL;
        if (socle_client_recv(c, &r) != SOCLE_OK)
            break;
        if (r->status->code == SOCLE__V1__CODE__OK && r->tokenize &&
            r->tokenize->encodings[0]->length > 20000)
            ok++;
        socle_response_free(r);
    }
    CHECK(ok == N_SLOW);
    socle_client_free(c);
    free(text);
    /* and the daemon exits 0 by itself */
    int st = -1;
    t0 = hx_now_ms();
    pid_t p = 0;
    while ((p = waitpid(d.pid, &st, WNOHANG)) == 0 && hx_now_ms() - t0 < 10000)
        usleep(10000);
    CHECK(p == d.pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (p == d.pid)
        d.pid = 0;
    CHECK(hx_log_has(&d, "event=draining"));
    CHECK(hx_log_has(&d, "event=exit code=0"));
    /* the drain had work to do: requests were in flight when the signal was handled */
    CHECK(!hx_log_has(&d, "event=draining signal=SIGTERM in_flight=0 "));
    int st2 = 0;
    hx_stop(&d, 10000, &st2);
    if (hx_failures)
        fprintf(stderr, "%d check(s) failed\n", hx_failures);
    else
        printf("test_integ_signal: all checks passed\n");
    return hx_failures ? 1 : 0;
}
