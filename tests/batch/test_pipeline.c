/* test_pipeline.c — socled's queue endpoint (label integ; daemon/pipeline.c): socled with
 * --pipeline-in / --pipeline-out; 3 producer processes PUSH 1,000 tokenize requests each, with
 * ids that overlap between producers on purpose in their low bits (the bridge must not mix
 * them up); the sink PULLs 3,000 answers: each id exactly once, each with the token count of
 * its own text. Then a malformed message gets an INVALID_ARGUMENT answer at the sink.
 * argv: socled socle */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zmq.h>

#include "tests/integ/harness.h"

enum { N_PROD = 3, N_PER = 1000 };

/* Text of request i: (i % 7 + 1) words, so the count with [CLS] [SEP] is i % 7 + 3. */
static size_t text_of(unsigned i, char *buf) {
    size_t n = 0;
    for (unsigned w = 0; w < i % 7 + 1; w++)
        n += (size_t)sprintf(buf + n, "%sword", w ? " " : "");
    return n;
}

static int producer(const char *ep, unsigned k) {
    void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_PUSH);
    int linger = 10000;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(s, ep) != 0)
        return 1;
    for (unsigned i = 0; i < N_PER; i++) {
        char text[64];
        ProtobufCBinaryData b = {text_of(i, text), (uint8_t *)text};
        Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
        Socle__V1__TokenizeRequest t = SOCLE__V1__TOKENIZE_REQUEST__INIT;
        t.n_texts = 1;
        t.texts = &b;
        t.count_only = true;
        req.task_case = SOCLE__V1__REQUEST__TASK_TOKENIZE;
        req.tokenize = &t;
        req.id = ((uint64_t)k << 32) | i;
        uint8_t buf[256];
        size_t len = socle__v1__request__pack(&req, buf);
        zmq_send(s, SOCLE_PROTOCOL_TAG, SOCLE_PROTOCOL_TAG_LEN, ZMQ_SNDMORE);
        if (zmq_send(s, buf, len, 0) < 0)
            return 1;
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3)
        return 2;
    char dir[64] = "/tmp/socle-pipe-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char in[128], out[128];
    snprintf(in, sizeof in, "ipc://%s/in.sock", dir);
    snprintf(out, sizeof out, "ipc://%s/out.sock", dir);
    struct hx_daemon d;
    const char *extra[] = {"--pipeline-in", in, "--pipeline-out", out, NULL};
    if (hx_start(&d, argv[1], extra) != 0) {
        int st;
        hx_stop(&d, 5000, &st);
        return 1;
    }
    /* Fork before this process has threads (a zmq context starts two): a child of a
     * multi-threaded process may only call async-signal-safe functions, and ThreadSanitizer
     * refuses it outright. */
    pid_t kids[N_PROD];
    for (unsigned k = 0; k < N_PROD; k++) {
        kids[k] = fork();
        if (kids[k] == 0)
            _exit(producer(in, k + 1));
    }
    void *ctx = zmq_ctx_new(), *sink = zmq_socket(ctx, ZMQ_PULL);
    int tmo = 20000;
    zmq_setsockopt(sink, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    CHECK(zmq_connect(sink, out) == 0);
    static unsigned char seen[N_PROD][N_PER];
    size_t got = 0, dup = 0, bad = 0;
    while (got < N_PROD * N_PER) {
        zmq_msg_t tag, body;
        zmq_msg_init(&tag);
        zmq_msg_init(&body);
        if (zmq_msg_recv(&tag, sink, 0) < 0) {
            fprintf(stderr, "sink: no answer within 20 s after %zu\n", got);
            zmq_msg_close(&tag);
            zmq_msg_close(&body);
            break;
        }
        CHECK(zmq_msg_more(&tag) && zmq_msg_recv(&body, sink, 0) >= 0);
        CHECK(zmq_msg_size(&tag) == SOCLE_PROTOCOL_TAG_LEN);
        Socle__V1__Response *r =
            socle__v1__response__unpack(NULL, zmq_msg_size(&body), zmq_msg_data(&body));
        got++;
        uint64_t k = r ? r->id >> 32 : 0, i = r ? r->id & 0xFFFFFFFFu : 0;
        if (!r || k < 1 || k > N_PROD || i >= N_PER || !r->status ||
            r->status->code != SOCLE__V1__CODE__OK || !r->tokenize ||
            r->tokenize->n_encodings != 1 || r->tokenize->encodings[0]->length != i % 7 + 3) {
            bad++;
        } else {
            dup += seen[k - 1][i]++ > 0;
        }
        if (r)
            socle__v1__response__free_unpacked(r, NULL);
        zmq_msg_close(&tag);
        zmq_msg_close(&body);
    }
    for (unsigned k = 0; k < N_PROD; k++) {
        int st;
        waitpid(kids[k], &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    size_t missing = 0;
    for (unsigned k = 0; k < N_PROD; k++)
        for (unsigned i = 0; i < N_PER; i++)
            missing += !seen[k][i];
    fprintf(stderr, "sink: %zu answers, duplicates %zu, missing %zu, bad %zu\n", got, dup, missing,
            bad);
    CHECK(got == N_PROD * N_PER && dup == 0 && missing == 0 && bad == 0);

    /* a message without the tag frame: answered at the sink, INVALID_ARGUMENT */
    void *p = zmq_socket(ctx, ZMQ_PUSH);
    CHECK(zmq_connect(p, in) == 0);
    zmq_send(p, "junk", 4, 0);
    zmq_msg_t tag, body;
    zmq_msg_init(&tag);
    zmq_msg_init(&body);
    CHECK(zmq_msg_recv(&tag, sink, 0) >= 0 && zmq_msg_recv(&body, sink, 0) >= 0);
    Socle__V1__Response *r =
        socle__v1__response__unpack(NULL, zmq_msg_size(&body), zmq_msg_data(&body));
    CHECK(r && r->status && r->status->code == SOCLE__V1__CODE__INVALID_ARGUMENT);
    if (r)
        socle__v1__response__free_unpacked(r, NULL);
    zmq_msg_close(&tag);
    zmq_msg_close(&body);
    int zero = 0;
    zmq_setsockopt(p, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(sink, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(p);
    zmq_close(sink);
    zmq_ctx_term(ctx);

    int st;
    CHECK(hx_stop(&d, 10000, &st) == 0 && st == 0);
    char path[160];
    snprintf(path, sizeof path, "%s/in.sock", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/out.sock", dir);
    unlink(path);
    rmdir(dir);
    if (hx_failures)
        fprintf(stderr, "%d check(s) failed\n", hx_failures);
    return hx_failures ? 1 : 0;
}
