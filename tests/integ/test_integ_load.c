/* test_integ_load.c — 1,000 pipelined requests from 4 concurrent clients (2 over ipc, 2 over
 * tcp), all sent before any answer is read; every one answered exactly once with its own id
 * and its own result (label integ). argv: socled socle */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integ/harness.h"

enum { N_CLIENTS = 4, PER_CLIENT = 250 };

struct worker {
    const char *endpoint;
    int index;
    int errors;
};

/* Request k of a client: tokenize "a a … a" (1 + k % 17 words → that + 2 tokens), or every
 * fifth one info. The answer must match the request it claims to answer. */
static void *client_main(void *arg) {
    struct worker *w = arg;
    struct socle_client *c = hx_client(w->endpoint, 10000, 0);
    if (!c) {
        w->errors++;
        return NULL;
    }
    static const char words[] = "a a a a a a a a a a a a a a a a a a";
    unsigned char seen[PER_CLIENT + 1] = {0};
    for (int k = 1; k <= PER_CLIENT; k++) {
        Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
        Socle__V1__TokenizeRequest t = SOCLE__V1__TOKENIZE_REQUEST__INIT;
        Socle__V1__InfoRequest info = SOCLE__V1__INFO_REQUEST__INIT;
        ProtobufCBinaryData b = {(size_t)(2 * (1 + k % 17) - 1), (uint8_t *)(uintptr_t)words};
        req.id = (uint64_t)k;
        if (k % 5 == 0) {
            req.task_case = SOCLE__V1__REQUEST__TASK_INFO;
            req.info = &info;
        } else {
            t.n_texts = 1;
            t.texts = &b;
            req.task_case = SOCLE__V1__REQUEST__TASK_TOKENIZE;
            req.tokenize = &t;
        }
        if (socle_client_send(c, &req, NULL) != SOCLE_OK)
            w->errors++;
    }
    for (int k = 1; k <= PER_CLIENT; k++) {
        Socle__V1__Response *r = NULL;
        int rc = socle_client_recv(c, &r);
        if (rc != SOCLE_OK) {
            fprintf(stderr, "client %d: recv: %s after %d answers\n", w->index, socle_strerror(rc),
                    k - 1);
            w->errors++;
            break;
        }
        uint64_t id = r->id;
        bool ok = id >= 1 && id <= PER_CLIENT && !seen[id] && r->status &&
                  r->status->code == SOCLE__V1__CODE__OK;
        if (ok && id % 5 == 0)
            ok = r->result_case == SOCLE__V1__RESPONSE__RESULT_INFO;
        else if (ok)
            ok = r->result_case == SOCLE__V1__RESPONSE__RESULT_TOKENIZE &&
                 r->tokenize->n_encodings == 1 &&
                 r->tokenize->encodings[0]->length == (uint32_t)(1 + id % 17 + 2);
        if (!ok) {
            fprintf(stderr, "client %d: bad answer id %llu\n", w->index, (unsigned long long)id);
            w->errors++;
        }
        if (id >= 1 && id <= PER_CLIENT)
            seen[id] = 1;
        socle_response_free(r);
    }
    for (int k = 1; k <= PER_CLIENT; k++)
        if (!seen[k])
            w->errors++;
    socle_client_free(c);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3)
        return 2;
    struct hx_daemon d;
    if (hx_start(&d, argv[1], NULL) != 0) {
        int st;
        hx_stop(&d, 5000, &st);
        return 1;
    }
    /* answers dropped before the load (start-up probes that gave up) are not the load's */
    struct socle_client *c = hx_client(d.ipc, 5000, 1);
    Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
    Socle__V1__StatsRequest sr = SOCLE__V1__STATS_REQUEST__INIT;
    req.task_case = SOCLE__V1__REQUEST__TASK_STATS;
    req.stats = &sr;
    Socle__V1__Response *r = NULL;
    CHECK(socle_client_call(c, &req, &r) == SOCLE_OK);
    uint64_t dropped0 = r && r->stats ? r->stats->dropped_replies : 0;
    socle_response_free(r);
    pthread_t th[N_CLIENTS];
    struct worker w[N_CLIENTS];
    long t0 = hx_now_ms();
    for (int i = 0; i < N_CLIENTS; i++) {
        w[i] = (struct worker){i % 2 ? d.tcp : d.ipc, i, 0};
        pthread_create(&th[i], NULL, client_main, &w[i]);
    }
    for (int i = 0; i < N_CLIENTS; i++) {
        pthread_join(th[i], NULL);
        CHECK(w[i].errors == 0);
    }
    fprintf(stderr, "%d requests from %d clients answered in %ld ms\n", N_CLIENTS * PER_CLIENT,
            N_CLIENTS, hx_now_ms() - t0);

    /* the daemon's own accounting agrees: nothing in flight, nothing dropped */
    req.id = 0;
    r = NULL;
    CHECK(socle_client_call(c, &req, &r) == SOCLE_OK);
    CHECK(r && r->stats && r->stats->in_flight == 1 /* this stats request */ &&
          r->stats->dropped_replies == dropped0 && r->stats->queue_depth == 0);
    CHECK(r && r->stats && r->stats->requests_total >= N_CLIENTS * PER_CLIENT + 1);
    socle_response_free(r);
    socle_client_free(c);

    int st = -1;
    CHECK(hx_stop(&d, 10000, &st) == 0 && st == 0);
    if (hx_failures)
        fprintf(stderr, "%d check(s) failed\n", hx_failures);
    else
        printf("test_integ_load: all checks passed\n");
    return hx_failures ? 1 : 0;
}
