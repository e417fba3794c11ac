/* test_integ_retry.c — the client library's Lazy Pirate (label integ): a call made before the
 * daemon exists succeeds once it starts; requests in flight when the daemon is killed with
 * SIGKILL are resent to its restarted instance and each answered exactly once; with no daemon
 * at all the client gives up with SOCLE_ETIMEDOUT after its retries. argv: socled socle */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integ/harness.h"

enum { N = 40 };

static void tokenize_req(Socle__V1__Request *req, Socle__V1__TokenizeRequest *t,
                         ProtobufCBinaryData *b, const char *text, size_t len) {
    *req = (Socle__V1__Request)SOCLE__V1__REQUEST__INIT;
    *t = (Socle__V1__TokenizeRequest)SOCLE__V1__TOKENIZE_REQUEST__INIT;
    *b = (ProtobufCBinaryData){len, (uint8_t *)(uintptr_t)text};
    t->n_texts = 1;
    t->texts = b;
    t->count_only = true;
    req->task_case = SOCLE__V1__REQUEST__TASK_TOKENIZE;
    req->tokenize = t;
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
    /* 1. kill -9 with requests in flight (the slow one keeps a worker busy), restart */
    size_t slen = 200 * 1024;
    char *slow = malloc(slen);
    for (size_t i = 0; i < slen; i++)
        slow[i] = "pack my box with five dozen liquor jugs "[i % 40];
    struct socle_client *c = hx_client(d.tcp, 1000, 30);
    Socle__V1__Request req;
    Socle__V1__TokenizeRequest t;
    ProtobufCBinaryData b;
    for (int k = 0; k < N; k++) {
        if (k < 4)
            tokenize_req(&req, &t, &b, slow, slen);
        else
            tokenize_req(&req, &t, &b, "a b c", 5);
        CHECK(socle_client_send(c, &req, NULL) == SOCLE_OK);
    }
    usleep(50000);
    kill(d.pid, SIGKILL);
    int st;
    waitpid(d.pid, &st, 0);
    CHECK(WIFSIGNALED(st));
    d.pid = 0;
    usleep(300000);
    CHECK(hx_restart(&d, argv[1], NULL, false) == 0);
    unsigned char seen[N + 1] = {0};
    int answered = 0, dup = 0;
    for (int k = 0; k < N; k++) {
        Socle__V1__Response *r = NULL;
        int rc = socle_client_recv(c, &r);
        CHECK(rc == SOCLE_OK);
        if (rc != SOCLE_OK) {
            fprintf(stderr, "recv: %s after %d answers\n", socle_strerror(rc), answered);
            break;
        }
        CHECK(r->status->code == SOCLE__V1__CODE__OK);
        if (r->id >= 1 && r->id <= N) {
            dup += seen[r->id];
            seen[r->id] = 1;
            answered++;
            uint32_t len = r->tokenize ? r->tokenize->encodings[0]->length : 0;
            CHECK(r->id <= 4 ? len > 20000 : len == 5); /* [CLS] a b c [SEP] */
        }
        socle_response_free(r);
    }
    CHECK(answered == N && dup == 0);
    CHECK(socle_client_in_flight(c) == 0);
    socle_client_free(c);
    free(slow);

    /* 2. a call issued while no daemon runs succeeds when one starts */
    int stc = -1;
    CHECK(hx_stop(&d, 10000, &stc) == 0 && stc == 0);
    /* hx_stop removed the directory: recreate the socket's directory for the restart */
    CHECK(mkdir(d.dir, 0700) == 0);
    pid_t child = fork();
    if (child == 0) {
        usleep(700000);
        execl(argv[1], argv[1], "--endpoint", d.ipc, "--workers", "1", "--log-level", "warn",
              (char *)NULL);
        _exit(127);
    }
    c = hx_client(d.ipc, 300, 20);
    Socle__V1__Request ireq = SOCLE__V1__REQUEST__INIT;
    Socle__V1__InfoRequest info = SOCLE__V1__INFO_REQUEST__INIT;
    ireq.task_case = SOCLE__V1__REQUEST__TASK_INFO;
    ireq.info = &info;
    Socle__V1__Response *r = NULL;
    long t0 = hx_now_ms();
    CHECK(socle_client_call(c, &ireq, &r) == SOCLE_OK);
    CHECK(r && r->result_case == SOCLE__V1__RESPONSE__RESULT_INFO);
    CHECK(hx_now_ms() - t0 >= 600); /* it really waited for the daemon */
    socle_response_free(r);
    socle_client_free(c);
    kill(child, SIGTERM);
    waitpid(child, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    /* 3. nobody there: SOCLE_ETIMEDOUT after the retries, in bounded time */
    c = hx_client(d.ipc, 100, 2);
    t0 = hx_now_ms();
    r = NULL;
    ireq.id = 0;
    CHECK(socle_client_call(c, &ireq, &r) == SOCLE_ETIMEDOUT);
    CHECK(hx_now_ms() - t0 < 3000);
    CHECK(socle_client_in_flight(c) == 0);
    socle_client_free(c);
    rmdir(d.dir);

    if (hx_failures)
        fprintf(stderr, "%d check(s) failed\n", hx_failures);
    else
        printf("test_integ_retry: all checks passed\n");
    return hx_failures ? 1 : 0;
}
