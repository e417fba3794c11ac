/* client.c — the socle client: a DEALER, a table of unanswered requests, Lazy Pirate retries.
 *
 * DESIGN: the table keeps each in-flight request's encoded bytes, so a timeout can resend
 * them all; an answer removes its entry, which is also how duplicates (the daemon answering
 * both the original and a resent copy) are recognized and dropped. A resent copy that reaches
 * a daemon still working on the original is answered ALREADY_EXISTS: for a request still in
 * the table that means "alive, in progress", so it is swallowed and counts as liveness. Answers
 * with id 0 are the daemon's replies to frames it could not decode; they are delivered as they are
 * (they can only follow a request of ours). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "clients/socle.h"

struct pending {
    uint64_t id;
    uint8_t *buf;
    size_t len;
};

struct stashed {
    struct stashed *next;
    Socle__V1__Response *r;
};

struct socle_client {
    void *ctx, *sock;
    char *endpoint;
    struct socle_client_opts opts;
    uint64_t next_id;
    struct pending *pend; /* unordered; small windows make a linear scan the cheapest table */
    size_t n_pend, cap_pend;
    struct stashed *stash, *stash_tail;
};

const char *socle_strerror(int status) {
    switch (status) {
    case SOCLE_OK:
        return "ok";
    case SOCLE_ENOMEM:
        return "out of memory";
    case SOCLE_EINVAL:
        return "invalid argument";
    case SOCLE_ETIMEDOUT:
        return "no answer from the daemon (timed out after retries)";
    case SOCLE_EZMQ:
        return "ZeroMQ socket error";
    case SOCLE_EPROTO:
        return "malformed answer (not a socle/1 Response)";
    default:
        return "unknown status";
    }
}

const char *socle_code_name(int code) {
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&socle__v1__code__descriptor, code);
    return v ? v->name : "UNKNOWN";
}

struct socle_client_opts socle_client_opts_default(void) {
    struct socle_client_opts o = {
        .timeout_ms = 5000, .retries = 3, .backoff_ms = 100, .backoff_max_ms = 2000};
    return o;
}

static int open_socket(struct socle_client *c) {
    c->sock = zmq_socket(c->ctx, ZMQ_DEALER);
    if (!c->sock)
        return SOCLE_EZMQ;
    int zero = 0, hwm = 100000;
    zmq_setsockopt(c->sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(c->sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(c->sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (zmq_connect(c->sock, c->endpoint) != 0) {
        zmq_close(c->sock);
        c->sock = NULL;
        return SOCLE_EZMQ;
    }
    return SOCLE_OK;
}

int socle_client_new(const char *endpoint, const struct socle_client_opts *opts,
                     struct socle_client **out) {
    char def[512];
    if (!out)
        return SOCLE_EINVAL;
    if (!endpoint)
        endpoint = socle_default_endpoint(def, sizeof def);
    struct socle_client *c = calloc(1, sizeof *c);
    if (!c)
        return SOCLE_ENOMEM;
    c->opts = opts ? *opts : socle_client_opts_default();
    c->next_id = 1;
    c->endpoint = strdup(endpoint);
    c->ctx = zmq_ctx_new();
    if (!c->endpoint || !c->ctx) {
        socle_client_free(c);
        return c->endpoint ? SOCLE_EZMQ : SOCLE_ENOMEM;
    }
    int rc = open_socket(c);
    if (rc != SOCLE_OK) {
        socle_client_free(c);
        return rc;
    }
    *out = c;
    return SOCLE_OK;
}

void socle_client_free(struct socle_client *c) {
    if (!c)
        return;
    for (size_t i = 0; i < c->n_pend; i++)
        free(c->pend[i].buf);
    free(c->pend);
    for (struct stashed *s = c->stash, *n; s; s = n) {
        n = s->next;
        socle_response_free(s->r);
        free(s);
    }
    if (c->sock)
        zmq_close(c->sock);
    if (c->ctx)
        zmq_ctx_term(c->ctx);
    free(c->endpoint);
    free(c);
}

size_t socle_client_in_flight(const struct socle_client *c) { return c ? c->n_pend : 0; }

void socle_response_free(Socle__V1__Response *r) {
    if (r)
        protobuf_c_message_free_unpacked(&r->base, NULL);
}

static struct pending *find_pending(struct socle_client *c, uint64_t id) {
    for (size_t i = c->n_pend; i-- > 0;)
        if (c->pend[i].id == id)
            return &c->pend[i];
    return NULL;
}

static int send_frames(void *sock, const uint8_t *buf, size_t len) {
    if (zmq_send(sock, "", 0, ZMQ_SNDMORE) < 0 ||
        zmq_send(sock, SOCLE_PROTOCOL_TAG, SOCLE_PROTOCOL_TAG_LEN, ZMQ_SNDMORE) < 0 ||
        zmq_send(sock, buf, len, 0) < 0)
        return SOCLE_EZMQ;
    return SOCLE_OK;
}

int socle_client_send(struct socle_client *c, Socle__V1__Request *req, uint64_t *id_out) {
    if (!c || !req)
        return SOCLE_EINVAL;
    if (req->id == 0) {
        while (find_pending(c, c->next_id) || c->next_id == 0)
            c->next_id++;
        req->id = c->next_id++;
    } else if (find_pending(c, req->id)) {
        return SOCLE_EINVAL;
    }
    if (c->n_pend == c->cap_pend) {
        size_t cap = c->cap_pend ? 2 * c->cap_pend : 16;
        struct pending *p = realloc(c->pend, cap * sizeof *p);
        if (!p)
            return SOCLE_ENOMEM;
        c->pend = p;
        c->cap_pend = cap;
    }
    size_t len = protobuf_c_message_get_packed_size(&req->base);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return SOCLE_ENOMEM;
    protobuf_c_message_pack(&req->base, buf);
    int rc = send_frames(c->sock, buf, len);
    if (rc != SOCLE_OK) {
        free(buf);
        return rc;
    }
    c->pend[c->n_pend++] = (struct pending){req->id, buf, len};
    if (id_out)
        *id_out = req->id;
    return SOCLE_OK;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Retry step: resend everything unanswered on the same DEALER. Unlike a REQ socket (whose
 * state machine the guide's Lazy Pirate must reset by reopening it), a DEALER needs no new
 * socket: libzmq reconnects it by itself when a restarted daemon comes back, and keeping the
 * connection keeps the answers to requests the daemon is still working on deliverable. */
static int resend_pending(struct socle_client *c) {
    for (size_t i = 0; i < c->n_pend; i++) {
        int rc = send_frames(c->sock, c->pend[i].buf, c->pend[i].len);
        if (rc != SOCLE_OK)
            return rc;
    }
    return SOCLE_OK;
}

/* One message from the socket, decoded; SOCLE_EPROTO for a bad envelope or payload. */
static int read_response(struct socle_client *c, Socle__V1__Response **out) {
    zmq_msg_t f[3];
    size_t nf = 0;
    int more = 1, rc = SOCLE_OK;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, c->sock, 0) < 0) {
            zmq_msg_close(&m);
            rc = SOCLE_EZMQ;
            break;
        }
        more = zmq_msg_more(&m);
        if (nf < 3)
            f[nf++] = m;
        else {
            zmq_msg_close(&m);
            rc = SOCLE_EPROTO;
        }
    }
    if (rc == SOCLE_OK &&
        (nf != 3 || zmq_msg_size(&f[0]) != 0 || zmq_msg_size(&f[1]) != SOCLE_PROTOCOL_TAG_LEN ||
         memcmp(zmq_msg_data(&f[1]), SOCLE_PROTOCOL_TAG, SOCLE_PROTOCOL_TAG_LEN) != 0))
        rc = SOCLE_EPROTO;
    if (rc == SOCLE_OK) {
        *out = (Socle__V1__Response *)protobuf_c_message_unpack(
            &socle__v1__response__descriptor, NULL, zmq_msg_size(&f[2]), zmq_msg_data(&f[2]));
        if (!*out)
            rc = SOCLE_EPROTO;
    }
    for (size_t i = 0; i < nf; i++)
        zmq_msg_close(&f[i]);
    return rc;
}

/* Next answer for a request in flight (want_id 0 = any), with retries. */
static int recv_any(struct socle_client *c, uint64_t want_id, Socle__V1__Response **out) {
    int attempt = 0, backoff = c->opts.backoff_ms;
    for (;;) {
        zmq_pollitem_t it = {c->sock, 0, ZMQ_POLLIN, 0};
        int n = zmq_poll(&it, 1, c->opts.timeout_ms);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return SOCLE_EZMQ;
        }
        if (n == 0) {
            if (attempt >= c->opts.retries) {
                /* give up on everything in flight: they will never be delivered */
                for (size_t i = 0; i < c->n_pend; i++)
                    free(c->pend[i].buf);
                c->n_pend = 0;
                return SOCLE_ETIMEDOUT;
            }
            attempt++;
            sleep_ms(backoff);
            backoff = backoff * 2 > c->opts.backoff_max_ms ? c->opts.backoff_max_ms : backoff * 2;
            int rc = resend_pending(c);
            if (rc != SOCLE_OK)
                return rc;
            continue;
        }
        Socle__V1__Response *r = NULL;
        int rc = read_response(c, &r);
        if (rc == SOCLE_EZMQ)
            return rc;
        if (rc == SOCLE_EPROTO)
            return rc;
        attempt = 0; /* the daemon is alive */
        backoff = c->opts.backoff_ms;
        struct pending *p = r->id ? find_pending(c, r->id) : NULL;
        if (p && r->status && r->status->code == SOCLE__V1__CODE__ALREADY_EXISTS) {
            /* the answer to a resent copy: the daemon is still working on the original */
            socle_response_free(r);
            continue;
        }
        if (r->id && !p) {
            socle_response_free(r); /* duplicate after a resend, or not ours */
            continue;
        }
        if (p) {
            free(p->buf);
            *p = c->pend[--c->n_pend];
        }
        if (want_id && r->id != want_id && r->id != 0) {
            struct stashed *s = malloc(sizeof *s);
            if (!s) {
                socle_response_free(r);
                return SOCLE_ENOMEM;
            }
            s->r = r;
            s->next = NULL;
            if (c->stash_tail)
                c->stash_tail->next = s;
            else
                c->stash = s;
            c->stash_tail = s;
            continue;
        }
        *out = r;
        return SOCLE_OK;
    }
}

int socle_client_recv(struct socle_client *c, Socle__V1__Response **out) {
    if (!c || !out)
        return SOCLE_EINVAL;
    if (c->stash) {
        struct stashed *s = c->stash;
        c->stash = s->next;
        if (!c->stash)
            c->stash_tail = NULL;
        *out = s->r;
        free(s);
        return SOCLE_OK;
    }
    if (c->n_pend == 0)
        return SOCLE_EINVAL;
    return recv_any(c, 0, out);
}

int socle_client_call(struct socle_client *c, Socle__V1__Request *req, Socle__V1__Response **out) {
    uint64_t id;
    if (!out)
        return SOCLE_EINVAL;
    int rc = socle_client_send(c, req, &id);
    if (rc != SOCLE_OK)
        return rc;
    return recv_any(c, id, out);
}
