/* test_integ_bad.c — bad input against a real socled (label integ): a frame that is not a
 * protobuf, an empty frame, a 100 MB frame, unknown task and adapter, a reused request id, a
 * client gone before its answer, invalid UTF-8, limits, a frame over the hard cap; after each
 * the daemon still serves, and SIGTERM still exits 0. argv: socled socle */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "tests/integ/harness.h"

static int code_of(const Socle__V1__Response *r) {
    return r && r->status ? (int)r->status->code : -1;
}

static const char *msg_of(const Socle__V1__Response *r) {
    return r && r->status && r->status->message ? r->status->message : "";
}

/* [empty][socle/1][payload] on a fresh DEALER; the decoded answer or NULL. */
static Socle__V1__Response *send3(const char *ep, const void *payload, size_t len) {
    const void *f[3] = {"", "socle/1", payload};
    size_t l[3] = {0, 7, len};
    return hx_raw(ep, f, l, 3, 10000);
}

static size_t pack(const Socle__V1__Request *req, uint8_t **buf) {
    size_t n = protobuf_c_message_get_packed_size(&req->base);
    *buf = malloc(n ? n : 1);
    protobuf_c_message_pack(&req->base, *buf);
    return n;
}

static void check_alive(const struct hx_daemon *d) {
    const uint8_t info[] = {0x08, 0x63, 0x8a, 0x01, 0x00}; /* Request{id 99, info{}} */
    Socle__V1__Response *r = send3(d->ipc, info, sizeof info);
    CHECK(r && r->id == 99 && code_of(r) == SOCLE__V1__CODE__OK);
    socle_response_free(r);
}

/* A tokenize request whose one text is `text` (len bytes). */
static Socle__V1__Response *tokenize_raw(const char *ep, uint64_t id, const char *adapter,
                                         const char *text, size_t len) {
    Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
    Socle__V1__TokenizeRequest t = SOCLE__V1__TOKENIZE_REQUEST__INIT;
    ProtobufCBinaryData b = {len, (uint8_t *)(uintptr_t)text};
    t.n_texts = 1;
    t.texts = &b;
    req.id = id;
    req.adapter = (char *)(uintptr_t)(adapter ? adapter : "");
    req.task_case = SOCLE__V1__REQUEST__TASK_TOKENIZE;
    req.tokenize = &t;
    uint8_t *buf;
    size_t n = pack(&req, &buf);
    Socle__V1__Response *r = send3(ep, buf, n);
    free(buf);
    return r;
}

/* A long text: tokenizing it keeps the one worker busy for a while. */
static char *slow_text(size_t *len) {
    *len = 900 * 1024;
    char *s = malloc(*len);
    for (size_t i = 0; i < *len; i++)
        s[i] = "lorem ipsum dolor sit amet, consectetur "[i % 40];
    return s;
}

static void send_tokenize_ex(void *sock, uint64_t id, const char *text, size_t len,
                             uint32_t deadline_ms, int priority) {
    Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
    Socle__V1__TokenizeRequest t = SOCLE__V1__TOKENIZE_REQUEST__INIT;
    ProtobufCBinaryData b = {len, (uint8_t *)(uintptr_t)text};
    t.n_texts = 1;
    t.texts = &b;
    t.count_only = true;
    req.id = id;
    req.deadline_ms = deadline_ms;
    req.priority = priority;
    req.task_case = SOCLE__V1__REQUEST__TASK_TOKENIZE;
    req.tokenize = &t;
    uint8_t *buf;
    size_t n = pack(&req, &buf);
    zmq_send(sock, "", 0, ZMQ_SNDMORE);
    zmq_send(sock, "socle/1", 7, ZMQ_SNDMORE);
    zmq_send(sock, buf, n, 0);
    free(buf);
}

static void send_tokenize(void *sock, uint64_t id, const char *text, size_t len) {
    send_tokenize_ex(sock, id, text, len, 0, 0);
}

static Socle__V1__Response *recv_resp(void *sock, int timeout_ms) {
    zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, timeout_ms) != 1)
        return NULL;
    zmq_msg_t m[3];
    int nf = 0, more = 1;
    while (more) {
        zmq_msg_t x;
        zmq_msg_init(&x);
        if (zmq_msg_recv(&x, sock, 0) < 0)
            break;
        more = zmq_msg_more(&x);
        if (nf < 3)
            m[nf++] = x;
        else
            zmq_msg_close(&x);
    }
    Socle__V1__Response *r = NULL;
    if (nf == 3)
        r = (Socle__V1__Response *)protobuf_c_message_unpack(
            &socle__v1__response__descriptor, NULL, zmq_msg_size(&m[2]), zmq_msg_data(&m[2]));
    for (int i = 0; i < nf; i++)
        zmq_msg_close(&m[i]);
    return r;
}

/* Answers dropped because their client had gone, plus queued requests cancelled for the
 * same reason: a client that leaves is counted by exactly one of the two, depending on
 * whether the daemon noticed before or after computing its request. */
static uint64_t stats_client_gone(const struct hx_daemon *d) {
    const uint8_t stats[] = {0x08, 0x01, 0x92, 0x01, 0x00}; /* Request{id 1, stats{}} */
    Socle__V1__Response *r = send3(d->ipc, stats, sizeof stats);
    uint64_t v = r && r->stats ? r->stats->dropped_replies + r->stats->cancelled_total : 0;
    socle_response_free(r);
    return v;
}

int main(int argc, char **argv) {
    if (argc < 3)
        return 2;
    struct hx_daemon d;
    /* one worker, so that a slow request deterministically keeps the next ones queued */
    const char *extra[] = {"--workers",
                           "1",
                           "--max-texts",
                           "8",
                           "--max-text-bytes",
                           "1M",
                           "--max-frame-bytes",
                           "1500k",
                           "--max-queue-bytes",
                           "1500k",
                           NULL};
    if (hx_start(&d, argv[1], extra) != 0) {
        int st;
        hx_stop(&d, 5000, &st);
        return 1;
    }
    Socle__V1__Response *r;

    /* 1. not a protobuf (wire type 7 does not exist) */
    const char junk[] = "\x0fhello, I am not a protobuf";
    r = send3(d.ipc, junk, sizeof junk - 1);
    CHECK(code_of(r) == SOCLE__V1__CODE__INVALID_ARGUMENT && strstr(msg_of(r), "not a valid"));
    socle_response_free(r);
    check_alive(&d);

    /* 2. an empty frame alone, and an empty Request */
    {
        const void *f[1] = {""};
        size_t l[1] = {0};
        r = hx_raw(d.tcp, f, l, 1, 10000);
        CHECK(code_of(r) == SOCLE__V1__CODE__INVALID_ARGUMENT &&
              strstr(msg_of(r), "malformed envelope"));
        socle_response_free(r);
    }
    r = send3(d.ipc, "", 0);
    CHECK(code_of(r) == SOCLE__V1__CODE__INVALID_ARGUMENT && strstr(msg_of(r), "no task"));
    socle_response_free(r);
    /* too many frames, and an unknown protocol tag */
    {
        const void *f[5] = {"", "socle/1", "", "x", "y"};
        size_t l[5] = {0, 7, 0, 1, 1};
        r = hx_raw(d.ipc, f, l, 5, 10000);
        CHECK(code_of(r) == SOCLE__V1__CODE__INVALID_ARGUMENT);
        socle_response_free(r);
        const void *g[3] = {"", "socle/9", ""};
        size_t m[3] = {0, 7, 0};
        r = hx_raw(d.ipc, g, m, 3, 10000);
        CHECK(code_of(r) == SOCLE__V1__CODE__UNIMPLEMENTED && strstr(msg_of(r), "socle/9"));
        socle_response_free(r);
    }
    check_alive(&d);

    /* 3. a 100 MB frame: answered RESOURCE_EXHAUSTED with its id (never decoded) */
    {
        size_t big = 100u << 20;
        uint8_t *p = calloc(1, big);
        p[0] = 0x08; /* id 42 first, as every encoder writes it */
        p[1] = 42;
        long t0 = hx_now_ms();
        r = send3(d.tcp, p, big);
        CHECK(code_of(r) == SOCLE__V1__CODE__RESOURCE_EXHAUSTED && r->id == 42 &&
              strstr(msg_of(r), "max-frame-bytes"));
        fprintf(stderr, "100 MB frame answered in %ld ms\n", hx_now_ms() - t0);
        socle_response_free(r);
        free(p);
    }
    check_alive(&d);

    /* 4. unknown task (a field number this daemon does not know) and unknown adapter */
    const uint8_t unknown_task[] = {0x08, 0x07, 0xfa, 0x01, 0x00}; /* id 7, field 31 */
    r = send3(d.ipc, unknown_task, sizeof unknown_task);
    CHECK(r && r->id == 7 && code_of(r) == SOCLE__V1__CODE__UNIMPLEMENTED &&
          strstr(msg_of(r), "unknown task"));
    socle_response_free(r);
    r = tokenize_raw(d.ipc, 8, "no-such-adapter", "hello", 5);
    CHECK(r && r->id == 8 && code_of(r) == SOCLE__V1__CODE__NOT_FOUND &&
          strstr(msg_of(r), "no-such-adapter"));
    socle_response_free(r);
    {
        const uint8_t classify[] = {
            0x08, 0x09, 0x12, 0x04, 'n',  'o', 'p',
            'e',  0x52, 0x04, 0x0a, 0x02, 'h', 'i'}; /* id 9, adapter "nope", classify */
        r = send3(d.ipc, classify, sizeof classify);
        /* without a model (and in this build maybe without tasks) it is not served */
        CHECK(r && r->id == 9 &&
              (code_of(r) == SOCLE__V1__CODE__UNIMPLEMENTED ||
               code_of(r) == SOCLE__V1__CODE__NOT_FOUND));
        socle_response_free(r);
    }

    /* 5. invalid UTF-8: rejected with the text index and the byte offset */
    r = tokenize_raw(d.ipc, 10, NULL, "abc\xC3(xyz", 8);
    CHECK(code_of(r) == SOCLE__V1__CODE__INVALID_ARGUMENT && strstr(msg_of(r), "byte 3"));
    socle_response_free(r);
    r = tokenize_raw(d.ipc, 11, NULL, "caf\xC3\xA9 \xE2\x82", 8); /* cut at the end */
    CHECK(code_of(r) == SOCLE__V1__CODE__INVALID_ARGUMENT && strstr(msg_of(r), "byte 6"));
    socle_response_free(r);
    r = tokenize_raw(d.ipc, 12, NULL, "\xED\xA0\x80", 3); /* a UTF-16 surrogate */
    CHECK(code_of(r) == SOCLE__V1__CODE__INVALID_ARGUMENT && strstr(msg_of(r), "byte 0"));
    socle_response_free(r);
    /* an embedded NUL is an ordinary character, not the end of the text */
    r = tokenize_raw(d.ipc, 13, NULL, "hello\0world", 11);
    CHECK(code_of(r) == SOCLE__V1__CODE__OK && r->tokenize && r->tokenize->n_encodings == 1 &&
          r->tokenize->encodings[0]->n_offsets >= 2 &&
          r->tokenize->encodings[0]->offsets[r->tokenize->encodings[0]->n_offsets - 3] == 11);
    socle_response_free(r);

    /* 6. limits: too many texts, too long a text */
    {
        Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
        Socle__V1__TokenizeRequest t = SOCLE__V1__TOKENIZE_REQUEST__INIT;
        ProtobufCBinaryData b[9];
        for (int i = 0; i < 9; i++)
            b[i] = (ProtobufCBinaryData){2, (uint8_t *)(uintptr_t) "hi"};
        t.n_texts = 9;
        t.texts = b;
        req.id = 14;
        req.task_case = SOCLE__V1__REQUEST__TASK_TOKENIZE;
        req.tokenize = &t;
        uint8_t *buf;
        size_t n = pack(&req, &buf);
        r = send3(d.ipc, buf, n);
        free(buf);
        CHECK(code_of(r) == SOCLE__V1__CODE__INVALID_ARGUMENT && strstr(msg_of(r), "max-texts"));
        socle_response_free(r);
        size_t len = (1u << 20) + 1;
        char *s = malloc(len);
        memset(s, 'a', len);
        r = tokenize_raw(d.ipc, 15, NULL, s, len);
        CHECK(code_of(r) == SOCLE__V1__CODE__INVALID_ARGUMENT &&
              strstr(msg_of(r), "max-text-bytes"));
        socle_response_free(r);
        free(s);
    }

    /* 7. a request id reused while the first is in flight: ALREADY_EXISTS; the original is
     * still answered, exactly once; the same id on another connection is no duplicate. */
    {
        size_t slen;
        char *slow = slow_text(&slen);
        void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_DEALER),
             *s2 = zmq_socket(ctx, ZMQ_DEALER);
        int zero = 0;
        zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt(s2, ZMQ_LINGER, &zero, sizeof zero);
        zmq_connect(s, d.ipc);
        zmq_connect(s2, d.ipc);
        send_tokenize(s, 1, slow, slen);  /* occupies the only worker */
        send_tokenize(s, 2, "short", 5);  /* queued behind it */
        send_tokenize(s, 2, "again", 5);  /* duplicate of a request in flight */
        send_tokenize(s2, 2, "other", 5); /* same id, other connection: fine */
        int seen1 = 0, seen2_ok = 0, seen2_dup = 0;
        for (int k = 0; k < 3; k++) {
            r = recv_resp(s, 20000);
            CHECK(r != NULL);
            if (!r)
                break;
            if (r->id == 1 && code_of(r) == SOCLE__V1__CODE__OK)
                seen1++;
            else if (r->id == 2 && code_of(r) == SOCLE__V1__CODE__OK)
                seen2_ok++;
            else if (r->id == 2 && code_of(r) == SOCLE__V1__CODE__ALREADY_EXISTS)
                seen2_dup++;
            socle_response_free(r);
        }
        CHECK(seen1 == 1 && seen2_ok == 1 && seen2_dup == 1);
        r = recv_resp(s, 300);
        CHECK(r == NULL); /* nothing more: exactly once */
        socle_response_free(r);
        r = recv_resp(s2, 20000);
        CHECK(r && r->id == 2 && code_of(r) == SOCLE__V1__CODE__OK);
        socle_response_free(r);

        /* 7b. behind a busy worker: a request whose deadline passes in the queue is answered
         * DEADLINE_EXCEEDED without running; a higher priority overtakes a lower one */
        send_tokenize(s, 20, slow, slen);
        send_tokenize_ex(s, 21, "late", 4, 1, 0);   /* 1 ms deadline */
        send_tokenize_ex(s, 22, "batch", 5, 0, -1); /* batch traffic */
        send_tokenize_ex(s, 23, "urgent", 6, 0, 5); /* interactive, high */
        uint64_t order[4];
        int codes[4];
        for (int k = 0; k < 4; k++) {
            r = recv_resp(s, 20000);
            CHECK(r != NULL);
            order[k] = r ? r->id : 0;
            codes[k] = code_of(r);
            socle_response_free(r);
        }
        /* 21 expires while 20 runs (answered first or right after it); then 23 before 22 */
        int pos[24] = {0};
        for (int k = 0; k < 4; k++)
            if (order[k] >= 20 && order[k] <= 23)
                pos[order[k]] = k + 1;
        CHECK(pos[20] && pos[21] && pos[22] && pos[23]);
        CHECK(pos[23] < pos[22]);
        for (int k = 0; k < 4; k++)
            CHECK(order[k] == 21 ? codes[k] == SOCLE__V1__CODE__DEADLINE_EXCEEDED
                                 : codes[k] == SOCLE__V1__CODE__OK);

        /* 7c. the queue is bounded (in bytes, and in estimated tokens): behind a running 900 kB
         * request, a second one waits and a third (1.8 MB queued in all) is refused. If the first
         * one finished before the third arrived (a loaded machine), nothing was to be refused:
         * retry. */
        int refused = 0;
        for (int attempt = 0; attempt < 5 && !refused; attempt++) {
            uint64_t base = 100 + 10 * (uint64_t)attempt;
            send_tokenize(s, base, slow, slen);     /* runs */
            send_tokenize(s, base + 1, slow, slen); /* waits */
            send_tokenize(s, base + 2, slow, slen); /* over max-queue-bytes, unless alone */
            int ok = 0, full = 0;
            for (int k = 0; k < 3; k++) {
                r = recv_resp(s, 20000);
                CHECK(r != NULL);
                if (!r)
                    break;
                if (code_of(r) == SOCLE__V1__CODE__OK)
                    ok++;
                else if (r->id != base && code_of(r) == SOCLE__V1__CODE__RESOURCE_EXHAUSTED &&
                         strstr(msg_of(r), "queue full"))
                    full++;
                else
                    fprintf(stderr, "7c: id %llu code %d: %s\n", (unsigned long long)r->id,
                            code_of(r), msg_of(r));
                socle_response_free(r);
            }
            CHECK(ok + full == 3);
            refused = full > 0;
        }
        CHECK(refused == 1);

        /* 8. a client that disconnects before its answer: the answer is dropped (or, if the
         * daemon notices first, the queued request cancelled), counted once, and the daemon
         * keeps serving the others */
        uint64_t gone0 = stats_client_gone(&d);
        void *s3 = zmq_socket(ctx, ZMQ_DEALER);
        int linger = 5000;
        zmq_setsockopt(s3, ZMQ_LINGER, &linger, sizeof linger); /* deliver, then go */
        zmq_connect(s3, d.ipc);
        send_tokenize(s3, 1, slow, slen);
        zmq_close(s3);
        send_tokenize(s, 3, "still here", 10);
        r = recv_resp(s, 20000);
        CHECK(r && r->id == 3 && code_of(r) == SOCLE__V1__CODE__OK);
        socle_response_free(r);
        long t0 = hx_now_ms();
        while (stats_client_gone(&d) == gone0 && hx_now_ms() - t0 < 10000)
            usleep(20000);
        CHECK(stats_client_gone(&d) == gone0 + 1);
        zmq_close(s);
        zmq_close(s2);
        zmq_ctx_term(ctx);
        free(slow);
    }

    /* the daemon is still healthy and drains cleanly */
    check_alive(&d);
    int st = -1;
    CHECK(hx_stop(&d, 15000, &st) == 0 && st == 0);

    /* 9. above hard-frame-bytes libzmq drops the connection while the frame arrives (no
     * answer, documented); the daemon itself is unaffected and serves the next client */
    struct hx_daemon d2;
    const char *extra2[] = {"--max-frame-bytes", "1M", "--hard-frame-bytes", "2M", NULL};
    if (hx_start(&d2, argv[1], extra2) == 0) {
        size_t mid = 3u << 19; /* 1.5 MB: over max-frame-bytes, under the hard cap */
        uint8_t *p = calloc(1, 3u << 20);
        r = send3(d2.ipc, p, mid);
        CHECK(code_of(r) == SOCLE__V1__CODE__RESOURCE_EXHAUSTED);
        socle_response_free(r);
        const void *f[3] = {"", "socle/1", p};
        size_t l[3] = {0, 7, 3u << 20}; /* 3 MB: over the hard cap */
        r = hx_raw(d2.ipc, f, l, 3, 1500);
        CHECK(r == NULL);
        socle_response_free(r);
        free(p);
        check_alive(&d2);
        st = -1;
        CHECK(hx_stop(&d2, 15000, &st) == 0 && st == 0);
    } else {
        CHECK(!"second daemon did not start");
        hx_stop(&d2, 5000, &st);
    }
    if (hx_failures)
        fprintf(stderr, "%d check(s) failed\n", hx_failures);
    else
        printf("test_integ_bad: all checks passed\n");
    return hx_failures ? 1 : 0;
}
