/* pipeline.h — socled's queue endpoint (docs/protocol.md, "Pipeline mode"; docs/batch.md).
 *
 * Producers that are not RPC clients PUSH [tag][Request] messages to a PULL socket bound on
 * --pipeline-in; each answer goes out as [tag][Response] on a PUSH socket bound on
 * --pipeline-out, where a sink PULLs them (the zguide "parallel pipeline", ventilator → sink).
 * A bridge thread turns the pipeline into ordinary requests on the broker's front ROUTER (over
 * an inproc DEALER), so the pipeline shares the queue, limits, priorities and workers of every
 * other client and the broker needs no second code path.
 */
#ifndef SOCLED_PIPELINE_H
#define SOCLED_PIPELINE_H

#include <stddef.h>

/* inproc endpoint the broker's front also binds when a pipeline is configured */
#define SOCLED_PIPELINE_FRONT "inproc://socled-pipeline-front"

enum pipeline_status {
    PIPE_OK = 0,
    PIPE_EZMQ = -1, /* socket or bind error (message in err) */
    PIPE_ENOMEM = -2,
    PIPE_ETHREAD = -3,
};

struct pipeline;

/* Bind in_ep (PULL) and out_ep (PUSH), connect to SOCLED_PIPELINE_FRONT (which the broker
 * must have bound already) and start the bridge thread, keeping at most max_in_flight
 * requests in the broker at a time (credit-based: PULL is not read while they are out).
 * The thread exits when zmq_ctx_shutdown/term is called on zctx; pipeline_free joins it.
 * ipc:// endpoints get the daemon's ipc rules (daemon/ipc.h): mode, group, stale sockets. */
int pipeline_start(void *zctx, const char *in_ep, const char *out_ep, size_t max_in_flight,
                   unsigned ipc_mode, const char *ipc_group, struct pipeline **out, char *err,
                   size_t errlen);
/* Join the thread (after the context was shut down) and free. NULL is fine. */
void pipeline_free(struct pipeline *p);

#endif
