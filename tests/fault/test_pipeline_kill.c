/* test_pipeline_kill.c — what the queue endpoint promises when socled dies (labels fault;integ;
 * docs/protocol.md, "Pipeline mode": delivery guarantees).
 *
 * PUSH/PULL has no acknowledgement, so the pipeline is at most once: a producer's document is
 * answered at the sink once or, if socled dies while it is queued or in flight, never. This
 * test holds the daemon to both halves and shows the documented recovery:
 *  1. one producer process PUSHes N_DOCS ner requests (ids 0..N-1); once the sink has
 *     ≥ KILL_AT answers socled is killed with SIGKILL and restarted on the same endpoints
 *     (stale ipc sockets cleaned up, the producer's and the sink's sockets reconnect by
 *     themselves); the sink reads until the producer is done and nothing came for QUIET_MS.
 *     Checked: no id answered twice (at most once); every answer a good ner result; the
 *     number lost is printed (it is whatever was queued or in flight at the kill);
 *  2. the job re-pushes exactly the ids the sink has not seen (ids-based resume, what
 *     clients/examples/pipeline_producer.py `produce --done` does): afterwards every id is at
 *     the sink, deduplicated by id. A late answer from phase 1 would show as a duplicate and
 *     is counted, not written twice (the sink keeps one per id).
 * argv: socled socle. Needs ../shared/fixtures/models/bert-tokcls (exit 77 without). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zmq.h>

#include "tests/integ/harness.h"

enum { N_DOCS = 2000, KILL_AT = 300, QUIET_MS = 3000 };

/* Long enough (~80 tokens) that the daemon is still busy when the sink reaches KILL_AT. */
static size_t text_of(unsigned i, char *buf, size_t cap) {
    size_t n = 0;
    for (int r = 0; r < 4 && n + 200 < cap; r++)
        n += (size_t)snprintf(buf + n, cap - n,
                              "%sAda Lovelace met Charles Babbage in London, document %u, and they "
                              "wrote about the Analytical Engine.",
                              r ? " " : "", i);
    return n;
}

static int push_one(void *s, uint64_t id) {
    char text[1024];
    ProtobufCBinaryData b = {text_of((unsigned)id, text, sizeof text), (uint8_t *)text};
    Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
    Socle__V1__NerRequest ner = SOCLE__V1__NER_REQUEST__INIT;
    ner.n_texts = 1;
    ner.texts = &b;
    req.task_case = SOCLE__V1__REQUEST__TASK_NER;
    req.ner = &ner;
    req.id = id;
    req.priority = -1;
    uint8_t buf[2048];
    size_t len = socle__v1__request__pack(&req, buf);
    if (zmq_send(s, SOCLE_PROTOCOL_TAG, SOCLE_PROTOCOL_TAG_LEN, ZMQ_SNDMORE) < 0 ||
        zmq_send(s, buf, len, 0) < 0)
        return -1;
    return 0;
}

static int producer(const char *ep) {
    void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_PUSH);
    int linger = 30000; /* what is queued while the daemon is down goes out when it is back */
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(s, ep) != 0)
        return 1;
    for (unsigned i = 0; i < N_DOCS; i++)
        if (push_one(s, i) != 0)
            return 1;
    zmq_close(s);
    zmq_ctx_term(ctx);
    return 0;
}

struct sink {
    void *s;
    unsigned char seen[N_DOCS];
    size_t got, dup, bad;
};

/* One answer within timeout_ms: 1, or 0 when none came. */
static int sink_one(struct sink *k, int timeout_ms) {
    zmq_setsockopt(k->s, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    zmq_msg_t tag, body;
    zmq_msg_init(&tag);
    zmq_msg_init(&body);
    int rc = 0;
    if (zmq_msg_recv(&tag, k->s, 0) >= 0) {
        rc = 1;
        CHECK(zmq_msg_more(&tag) && zmq_msg_recv(&body, k->s, 0) >= 0);
        Socle__V1__Response *r =
            socle__v1__response__unpack(NULL, zmq_msg_size(&body), zmq_msg_data(&body));
        k->got++;
        if (!r || r->id >= N_DOCS || (r->status && r->status->code != SOCLE__V1__CODE__OK) ||
            r->result_case != SOCLE__V1__RESPONSE__RESULT_NER || r->ner->n_outputs != 1) {
            if (k->bad++ < 5)
                fprintf(stderr, "bad answer: id %llu %s\n", r ? (unsigned long long)r->id : 0ull,
                        r && r->status && r->status->message ? r->status->message : "");
        } else {
            k->dup += k->seen[r->id]++ > 0;
        }
        if (r)
            socle__v1__response__free_unpacked(r, NULL);
    }
    zmq_msg_close(&tag);
    zmq_msg_close(&body);
    return rc;
}

static size_t missing(const struct sink *k) {
    size_t m = 0;
    for (size_t i = 0; i < N_DOCS; i++)
        m += !k->seen[i];
    return m;
}

int main(int argc, char **argv) {
    if (argc < 3)
        return 2;
    const char *socled = argv[1];
    const char *shared = getenv("SOCLE_SHARED_DIR");
    char model[512], tok[600];
    snprintf(model, sizeof model, "%s/fixtures/models/bert-tokcls", shared ? shared : "../shared");
    snprintf(tok, sizeof tok, "%s/tokenizer.json", model);
    if (access(tok, R_OK) != 0) {
        fprintf(stderr, "skip: %s not found\n", tok);
        return 77;
    }
    char dir[64] = "/tmp/socle-pipek-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char in[128], out[128];
    snprintf(in, sizeof in, "ipc://%s/in.sock", dir);
    snprintf(out, sizeof out, "ipc://%s/out.sock", dir);
    const char *extra[] = {"--model", model, "--pipeline-in", in, "--pipeline-out", out, NULL};
    struct hx_daemon d;
    if (hx_start(&d, socled, extra) != 0) {
        int st;
        hx_stop(&d, 5000, &st);
        return 1;
    }
    /* fork before this process has threads (see test_pipeline.c) */
    pid_t kid = fork();
    if (kid == 0)
        _exit(producer(in));
    void *ctx = zmq_ctx_new();
    static struct sink k;
    k.s = zmq_socket(ctx, ZMQ_PULL);
    CHECK(zmq_connect(k.s, out) == 0);

    /* 1. kill -9 the daemon midway */
    long t0 = hx_now_ms();
    while (k.got < KILL_AT && hx_now_ms() - t0 < 60000)
        sink_one(&k, 1000);
    size_t at = k.got;
    CHECK(at >= KILL_AT && at < N_DOCS);
    kill(d.pid, SIGKILL);
    int st;
    waitpid(d.pid, &st, 0);
    CHECK(WIFSIGNALED(st));
    d.pid = 0;
    CHECK(hx_restart(&d, socled, extra, true) == 0);
    bool producer_done = false;
    long last = hx_now_ms();
    while (!producer_done || hx_now_ms() - last < QUIET_MS) {
        if (sink_one(&k, 200))
            last = hx_now_ms();
        if (!producer_done && waitpid(kid, &st, WNOHANG) == kid) {
            producer_done = true;
            CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
            last = hx_now_ms();
        }
        if (hx_now_ms() - t0 > 120000)
            break;
    }
    CHECK(producer_done);
    size_t lost = missing(&k);
    fprintf(stderr,
            "phase 1: killed at %zu answers; %zu answers, duplicates %zu, bad %zu, lost %zu "
            "(at most once)\n",
            at, k.got, k.dup, k.bad, lost);
    CHECK(k.dup == 0);
    CHECK(k.bad == 0);
    CHECK(k.got + lost == N_DOCS);

    /* 2. resume by ids: re-push what the sink has not seen */
    void *p = zmq_socket(ctx, ZMQ_PUSH);
    int linger = 10000;
    zmq_setsockopt(p, ZMQ_LINGER, &linger, sizeof linger);
    CHECK(zmq_connect(p, in) == 0);
    for (uint64_t i = 0; i < N_DOCS; i++)
        if (!k.seen[i])
            CHECK(push_one(p, i) == 0);
    size_t dup1 = k.dup;
    long t1 = hx_now_ms();
    while (missing(&k) && hx_now_ms() - t1 < 60000)
        sink_one(&k, 1000);
    fprintf(stderr, "phase 2: re-pushed %zu; missing now %zu, late duplicates %zu (deduplicated)\n",
            lost, missing(&k), k.dup - dup1);
    CHECK(missing(&k) == 0);
    CHECK(k.bad == 0);

    int zero = 0;
    zmq_setsockopt(p, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(k.s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(p);
    zmq_close(k.s);
    zmq_ctx_term(ctx);
    CHECK(hx_stop(&d, 10000, &st) == 0);
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
