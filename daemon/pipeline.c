/* pipeline.c — the queue endpoint bridge (pipeline.h).
 *
 * DESIGN. One thread owns three sockets: PULL (producers), PUSH (sink) and a DEALER connected
 * to the broker's front ROUTER over inproc. Requests from every producer share that one DEALER
 * identity, and the broker keys requests in flight by (identity, id); two producers using the
 * same id would collide (ALREADY_EXISTS). So the bridge gives each request a fresh id of its
 * own on the way in and puts the producer's id back on the way out: the sink sees exactly the
 * ids the producers sent (producers must make them unique across the job for the sink to tell
 * results apart, e.g. producer number in the high bits).
 *
 * Flow control: at most max_in_flight requests are in the broker; beyond, the PULL socket is
 * not read, so producers block on their PUSH high-water mark instead of the daemon queueing
 * unboundedly. A PUSH to a sink that is not connected blocks the bridge the same way.
 */
#include "daemon/pipeline.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "daemon/ipc.h"
#include "proto/socle_proto.h"

struct pipeline {
    void *pull, *push, *dealer;
    pthread_t th;
    bool started;
    size_t max_in_flight, in_flight;
    uint64_t next_id;
    /* bridge id → producer id, open addressing keyed by bridge id (never 0) */
    uint64_t *keys, *vals;
    size_t cap, n;
};

static int map_put(struct pipeline *p, uint64_t k, uint64_t v) {
    if ((p->n + 1) * 2 > p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 1024;
        uint64_t *nk = calloc(cap, sizeof *nk), *nv = calloc(cap, sizeof *nv);
        if (!nk || !nv) {
            free(nk);
            free(nv);
            return -1;
        }
        for (size_t i = 0; i < p->cap; i++) {
            if (!p->keys[i] || p->keys[i] == UINT64_MAX)
                continue;
            size_t j = (size_t)(p->keys[i] * 0x9E3779B97F4A7C15ull) & (cap - 1);
            while (nk[j])
                j = (j + 1) & (cap - 1);
            nk[j] = p->keys[i];
            nv[j] = p->vals[i];
        }
        free(p->keys);
        free(p->vals);
        p->keys = nk;
        p->vals = nv;
        p->cap = cap;
        p->n = 0;
        for (size_t i = 0; i < cap; i++)
            p->n += nk[i] != 0; /* tombstones dropped by the rehash */
    }
    size_t j = (size_t)(k * 0x9E3779B97F4A7C15ull) & (p->cap - 1);
    while (p->keys[j] && p->keys[j] != UINT64_MAX)
        j = (j + 1) & (p->cap - 1);
    p->keys[j] = k;
    p->vals[j] = v;
    p->n++;
    return 0;
}

/* Take the producer id of bridge id k out of the map; false if unknown. */
static bool map_take(struct pipeline *p, uint64_t k, uint64_t *v) {
    if (!p->cap)
        return false;
    size_t j = (size_t)(k * 0x9E3779B97F4A7C15ull) & (p->cap - 1);
    while (p->keys[j]) {
        if (p->keys[j] == k) {
            *v = p->vals[j];
            p->keys[j] = UINT64_MAX; /* tombstone: counted in n until the next rehash */
            return true;
        }
        j = (j + 1) & (p->cap - 1);
    }
    return false;
}

/* Read one whole message; returns the number of frames kept (at most 3), -1 on ETERM/error. */
static int recv_frames(void *s, zmq_msg_t *f, int max) {
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t extra, *m = n < max ? &f[n] : &extra;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, s, 0) < 0) {
            zmq_msg_close(m);
            for (int i = 0; i < n; i++)
                zmq_msg_close(&f[i]);
            return -1;
        }
        more = zmq_msg_more(m);
        if (m == &extra)
            zmq_msg_close(m);
        else
            n++;
    }
    return n;
}

/* A Response frame for request id with an error status (the producer's malformed message). */
static void push_error(struct pipeline *p, uint64_t id, int code, const char *msg) {
    Socle__V1__Response r = SOCLE__V1__RESPONSE__INIT;
    Socle__V1__Status st = SOCLE__V1__STATUS__INIT;
    st.code = (Socle__V1__Code)code;
    st.message = (char *)(uintptr_t)msg;
    r.id = id;
    r.status = &st;
    size_t len = socle__v1__response__get_packed_size(&r);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return;
    socle__v1__response__pack(&r, buf);
    zmq_send(p->push, SOCLE_PROTOCOL_TAG, SOCLE_PROTOCOL_TAG_LEN, ZMQ_SNDMORE);
    zmq_send(p->push, buf, len, 0);
    free(buf);
}

/* One producer message [tag][Request] → the broker as [empty][tag][Request with bridge id]. */
static int on_in(struct pipeline *p) {
    zmq_msg_t f[3];
    int n = recv_frames(p->pull, f, 3);
    if (n < 0)
        return -1;
    if (n != 2 || zmq_msg_size(&f[0]) != SOCLE_PROTOCOL_TAG_LEN ||
        memcmp(zmq_msg_data(&f[0]), SOCLE_PROTOCOL_TAG, SOCLE_PROTOCOL_TAG_LEN) != 0) {
        push_error(p, 0, SOCLE__V1__CODE__INVALID_ARGUMENT,
                   "pipeline: expected [\"" SOCLE_PROTOCOL_TAG "\"][Request] (docs/protocol.md)");
        goto done;
    }
    Socle__V1__Request *req =
        socle__v1__request__unpack(NULL, zmq_msg_size(&f[1]), zmq_msg_data(&f[1]));
    if (!req) {
        push_error(p, 0, SOCLE__V1__CODE__INVALID_ARGUMENT, "pipeline: Request does not decode");
        goto done;
    }
    uint64_t bid = ++p->next_id;
    if (map_put(p, bid, req->id) != 0) {
        push_error(p, req->id, SOCLE__V1__CODE__RESOURCE_EXHAUSTED, "pipeline: out of memory");
        socle__v1__request__free_unpacked(req, NULL);
        goto done;
    }
    req->id = bid;
    size_t len = socle__v1__request__get_packed_size(req);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf) {
        socle__v1__request__pack(req, buf);
        zmq_send(p->dealer, "", 0, ZMQ_SNDMORE);
        zmq_send(p->dealer, SOCLE_PROTOCOL_TAG, SOCLE_PROTOCOL_TAG_LEN, ZMQ_SNDMORE);
        if (zmq_send(p->dealer, buf, len, 0) >= 0)
            p->in_flight++;
        free(buf);
    }
    socle__v1__request__free_unpacked(req, NULL);
done:
    for (int i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
    return 0;
}

/* One broker answer [empty][tag][Response] → the sink as [tag][Response with producer id]. */
static int on_answer(struct pipeline *p) {
    zmq_msg_t f[3];
    int n = recv_frames(p->dealer, f, 3);
    if (n < 0)
        return -1;
    if (n == 3) {
        Socle__V1__Response *r =
            socle__v1__response__unpack(NULL, zmq_msg_size(&f[2]), zmq_msg_data(&f[2]));
        uint64_t pid = 0;
        if (r && map_take(p, r->id, &pid)) {
            p->in_flight--;
            r->id = pid;
            size_t len = socle__v1__response__get_packed_size(r);
            uint8_t *buf = malloc(len ? len : 1);
            if (buf) {
                socle__v1__response__pack(r, buf);
                if (zmq_send(p->push, SOCLE_PROTOCOL_TAG, SOCLE_PROTOCOL_TAG_LEN, ZMQ_SNDMORE) >= 0)
                    zmq_send(p->push, buf, len, 0);
                free(buf);
            }
        }
        if (r)
            socle__v1__response__free_unpacked(r, NULL);
    }
    for (int i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
    return 0;
}

static void *bridge_main(void *arg) {
    struct pipeline *p = arg;
    for (;;) {
        zmq_pollitem_t items[2] = {{p->dealer, 0, ZMQ_POLLIN, 0}, {p->pull, 0, ZMQ_POLLIN, 0}};
        int ni = p->in_flight < p->max_in_flight ? 2 : 1; /* no credit: leave PULL unread */
        if (zmq_poll(items, ni, -1) < 0) {
            if (errno == EINTR)
                continue;
            break; /* ETERM: the daemon is stopping */
        }
        if ((items[0].revents & ZMQ_POLLIN) && on_answer(p) < 0)
            break;
        if (ni == 2 && (items[1].revents & ZMQ_POLLIN) && on_in(p) < 0)
            break;
    }
    int zero = 0;
    void *socks[3] = {p->pull, p->push, p->dealer};
    for (int i = 0; i < 3; i++) {
        zmq_setsockopt(socks[i], ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(socks[i]);
    }
    p->pull = p->push = p->dealer = NULL;
    return NULL;
}

int pipeline_start(void *zctx, const char *in_ep, const char *out_ep, size_t max_in_flight,
                   unsigned ipc_mode, const char *ipc_group, struct pipeline **out, char *err,
                   size_t errlen) {
    struct pipeline *p = calloc(1, sizeof *p);
    if (!p)
        return PIPE_ENOMEM;
    p->max_in_flight = max_in_flight ? max_in_flight : 1024;
    p->pull = zmq_socket(zctx, ZMQ_PULL);
    p->push = zmq_socket(zctx, ZMQ_PUSH);
    p->dealer = zmq_socket(zctx, ZMQ_DEALER);
    int rc = PIPE_EZMQ;
    if (!p->pull || !p->push || !p->dealer) {
        snprintf(err, errlen, "pipeline sockets: %s", zmq_strerror(errno));
        goto fail;
    }
    if (ipc_bind(p->pull, in_ep, ipc_mode, ipc_group, NULL, err, errlen) != IPC_OK ||
        ipc_bind(p->push, out_ep, ipc_mode, ipc_group, NULL, err, errlen) != IPC_OK)
        goto fail;
    if (zmq_connect(p->dealer, SOCLED_PIPELINE_FRONT) != 0) {
        snprintf(err, errlen, "pipeline: connect %s: %s", SOCLED_PIPELINE_FRONT,
                 zmq_strerror(errno));
        goto fail;
    }
    if (pthread_create(&p->th, NULL, bridge_main, p) != 0) {
        rc = PIPE_ETHREAD;
        snprintf(err, errlen, "pipeline: cannot start its thread");
        goto fail;
    }
    p->started = true;
    *out = p;
    return PIPE_OK;
fail:;
    int zero = 0;
    void *socks[3] = {p->pull, p->push, p->dealer};
    for (int i = 0; i < 3; i++) {
        if (socks[i]) {
            zmq_setsockopt(socks[i], ZMQ_LINGER, &zero, sizeof zero);
            zmq_close(socks[i]);
        }
    }
    free(p);
    return rc;
}

void pipeline_free(struct pipeline *p) {
    if (!p)
        return;
    if (p->started)
        pthread_join(p->th, NULL);
    free(p->keys);
    free(p->vals);
    free(p);
}
