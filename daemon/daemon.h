/* daemon.h — socled internals shared by its files (not a public API).
 *
 * Threads: the broker thread (main) owns every ZeroMQ socket facing clients plus the inproc
 * ROUTER towards the workers; each worker thread owns one inproc DEALER. A request becomes a
 * `struct job` in the broker; the broker hands the worker a pointer to it (8 bytes over
 * inproc), the worker fills job->resp and hands the same pointer back. So a job is touched by
 * one thread at a time, and only the broker ever touches the in-flight table and the stats.
 */
#ifndef SOCLED_DAEMON_H
#define SOCLED_DAEMON_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/config.h"
#include "daemon/scheduler.h"
#include "proto/socle.pb-c.h"
#include "proto/socle_proto.h"

#ifdef SOCLE_HAVE_TOKENIZER
#include "tokenizer/tok.h"
#endif
#ifdef SOCLE_HAVE_TASKS
#include "tasks/task.h"
#endif

#define SOCLED_VERSION "0.1.0"
#define SOCLED_WORKERS_ENDPOINT "inproc://socled-workers"

typedef Socle__V1__Request PbRequest;
typedef Socle__V1__Response PbResponse;
typedef Socle__V1__Status PbStatus;
typedef Socle__V1__Timing PbTiming;

/* Shared, read-only after startup (except what the broker alone changes on SIGHUP). */
struct daemon {
    struct socled_config cfg;
    void *zctx;
    char **endpoints; /* as bound (tcp port "*" resolved) */
    size_t n_endpoints;
    size_t n_workers;
    /* Elastic threads (docs/serving.md): each worker's engine context owns blas_threads
     * threads; a forward uses clamp(cores / busy workers, 1, blas_threads) of them, so a lone
     * request gets every core and concurrent batches split the cores instead of
     * oversubscribing them. NULL when off (one worker, or one thread per worker). */
    struct elastic_threads *elastic;
    uint64_t t_start_us;
#ifdef SOCLE_HAVE_TOKENIZER
    struct tok_tokenizer *tok_owned; /* loaded by us from --tokenizer */
    const struct tok_tokenizer *tok; /* tok_owned or the task runtime's */
#endif
    const char *tok_path;
#ifdef SOCLE_HAVE_TASKS
    struct task_runtime *rt;
#endif
};

struct job {
    struct job *next;  /* queue link */
    struct job *hnext; /* in-flight table chain */
    uint64_t id;
    int task; /* Socle__V1__Request__TaskCase */
    int priority;
    uint64_t t_recv_us, deadline_us; /* monotonic; deadline 0 = none */
    size_t bytes;                    /* size of the Request frame (queue accounting) */
    struct sched_jobinfo sched;      /* scheduler.c: admission estimate, batch timings */
    PbRequest *req;                  /* owned: protobuf_c_message_free_unpacked */
    uint8_t ident_len;
    unsigned char ident[255]; /* ROUTER routing id of the client */
    /* Ownership handoff broker → worker → broker. The pointer travels through an inproc
     * socket, which orders memory inside libzmq; this release/acquire pair states the same
     * order in C11 terms, so a ThreadSanitizer build (libzmq is not instrumented) sees it too.
     * JOB_AT_WORKER: set by the broker before sending; JOB_DONE: set by the worker after it. */
    _Atomic int stage;
    /* filled by the worker */
    uint8_t *resp; /* encoded Response, malloc'd */
    size_t resp_len;
    int code;
    uint64_t t_done_us;
};

enum { JOB_AT_BROKER = 0, JOB_AT_WORKER = 1, JOB_DONE = 2 };

/* Monotonic clock in microseconds. */
uint64_t now_us(void);

/* ---- reply.c: encoding responses ---- */

/* Encode r into a malloc'd buffer. 0 on success, -1 on allocation failure. */
int reply_encode(const PbResponse *r, uint8_t **buf, size_t *len);
/* The one place an error answer is formed: Response{id, status{code, message}, timing}.
 * Never fails (falls back to a static INTERNAL encoding when memory is short: *buf NULL then
 * means "send the bytes in reply_oom_bytes"). */
void reply_error(uint64_t id, int code, const char *message, uint64_t total_us, uint8_t **buf,
                 size_t *len);
/* Name of a status code, "OK", "INVALID_ARGUMENT", … */
const char *reply_code_name(int code);
/* Name of a task case, "classify", … ("none" for unset). */
const char *reply_task_name(int task_case);

/* ---- arena.c: one allocation region per response ---- */
struct arena;
struct arena *arena_new(void);
void arena_free(struct arena *a);
void *arena_alloc(struct arena *a, size_t n); /* zeroed; NULL on OOM */
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);

/* ---- service.c: the work a worker does for one job ---- */
struct worker_state;
int worker_state_new(const struct daemon *d, struct worker_state **out, char *err, size_t errlen);
void worker_state_free(struct worker_state *ws);
#ifdef SOCLE_HAVE_TASKS
/* The worker's task_worker (NULL without a model), for the batcher. */
struct task_worker *worker_state_task_worker(struct worker_state *ws);
#endif
/* Fill job->resp/resp_len/code for job->req. Never fails (errors become error answers). */
void service_run(const struct daemon *d, struct worker_state *ws, struct job *job);
/* Tasks this daemon answers, for info (model tasks: those some adapter does). Broker thread. */
size_t service_tasks(const struct daemon *d, const char **names, size_t max);
/* Validate texts: count and size limits and UTF-8. Returns 0, or fills msg (INVALID_ARGUMENT). */
int service_check_texts(const struct daemon *d, const ProtobufCBinaryData *texts, size_t n,
                        const char *what, char *msg, size_t msglen);
/* Offset of the first byte that is not well-formed UTF-8, or len when all is valid. */
size_t utf8_check(const uint8_t *s, size_t len);

/* ---- broker.c ---- */
/* Create and bind the client ROUTER (every endpoint) and the workers' inproc ROUTER; fills
 * d->endpoints. Call before starting workers. Returns 0, or -1 (logged). */
int broker_bind(struct daemon *d);
/* Run the broker until drained after SIGTERM/SIGINT. sigfd: the read end of the signal
 * self-pipe (one byte per SIGTERM/SIGINT/SIGHUP received).
 * Returns 0 on a clean drain. */
int broker_run(struct daemon *d, int sigfd);
/* Join the pipeline bridge thread (--pipeline-in/out) and free it. Call after zmq_ctx_term:
 * the bridge leaves its poll loop on ETERM. */
void broker_release(void);

#endif
