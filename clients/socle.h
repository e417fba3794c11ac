/* socle.h — C client library for socled (protocol socle/1, docs/protocol.md).
 *
 * One struct socle_client is one DEALER connection to one endpoint. It may have many
 * requests in flight; answers come back in any order and are matched by id. Reliability is
 * the ZeroMQ guide's Lazy Pirate generalized to a window: the client keeps the encoded bytes
 * of every unanswered request; when no answer arrives for timeout_ms it waits (exponential
 * backoff) and resends every unanswered request on the same DEALER (libzmq reconnects it to a
 * restarted daemon by itself), up to `retries` times in a row without any sign of life, then
 * gives up with SOCLE_ETIMEDOUT. A daemon still working on a request answers the resent copy
 * ALREADY_EXISTS, which the client takes as a sign of life and swallows; answers to an id
 * already answered are dropped, so the caller sees each id exactly once (or gets a timeout).
 *
 * Messages are the protobuf-c types generated from proto/socle.proto. A client is not
 * thread-safe: use one per thread (they are cheap). Nothing here prints.
 */
#ifndef SOCLE_CLIENT_H
#define SOCLE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "proto/socle.pb-c.h"
#include "proto/socle_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

enum socle_status {
    SOCLE_OK = 0,
    SOCLE_ENOMEM = -1,
    SOCLE_EINVAL = -2,    /* bad argument: NULL request, id already in flight, nothing in flight */
    SOCLE_ETIMEDOUT = -3, /* no answer after every retry; the unanswered requests are dropped */
    SOCLE_EZMQ = -4,      /* socket error (bad endpoint syntax…); errno is zmq's */
    SOCLE_EPROTO = -5,    /* the peer sent something that is not a socle/1 Response */
};

/* Static string for a status; never NULL. */
const char *socle_strerror(int status);
/* Name of a socle.v1.Code ("OK", "INVALID_ARGUMENT", …); "UNKNOWN" for others. */
const char *socle_code_name(int code);

struct socle_client_opts {
    int timeout_ms;     /* wait for an answer per attempt (default 5000; < 0 = forever) */
    int retries;        /* resend attempts after a timeout, in a row (default 3) */
    int backoff_ms;     /* wait before the first retry, doubled each time (default 100) */
    int backoff_max_ms; /* cap of the wait (default 2000) */
};
struct socle_client_opts socle_client_opts_default(void);

struct socle_client;

/* Connect to endpoint (tcp://…, ipc://…; NULL = the default local endpoint, see
 * socle_default_endpoint). Connecting is asynchronous in ZeroMQ: a daemon that is not up yet
 * is not an error here. opts NULL = defaults. The caller owns *out (socle_client_free). */
int socle_client_new(const char *endpoint, const struct socle_client_opts *opts,
                     struct socle_client **out);
void socle_client_free(struct socle_client *c);

/* Send a request without waiting. When req->id is 0 the client assigns the next free id
 * (req->id is set). *id_out (may be NULL) receives the id. SOCLE_EINVAL if that id is
 * already in flight on this client. The request is encoded; the caller keeps ownership. */
int socle_client_send(struct socle_client *c, Socle__V1__Request *req, uint64_t *id_out);

/* Wait for the next answer to any request in flight, with the retry policy above.
 * The caller owns *out (socle_response_free). SOCLE_EINVAL when nothing is in flight. */
int socle_client_recv(struct socle_client *c, Socle__V1__Response **out);

/* send + recv of that request's answer. Answers to other requests that arrive meanwhile are
 * kept and returned by later socle_client_recv calls. */
int socle_client_call(struct socle_client *c, Socle__V1__Request *req, Socle__V1__Response **out);

/* Requests sent and not yet answered. */
size_t socle_client_in_flight(const struct socle_client *c);

void socle_response_free(Socle__V1__Response *r);

#ifdef __cplusplus
}
#endif
#endif
