/* scheduler.h — socled's admission queue and dynamic batcher (issue 6; docs/serving.md).
 *
 * Two halves, two threads:
 *   - the queue (sched_push / sched_take / sched_expire …) lives in the broker thread, which
 *     alone owns it: admission in estimated tokens, two priority lanes, deadline expiry, and
 *     the "is a batch worth sending yet" rule (token budget or max_batch_delay_us);
 *   - sched_run runs in a worker thread on the jobs of one batch: it prepares every model
 *     job (tokenize + window), packs the sequences of all of them — any task, any adapter —
 *     into engine forwards of at most max_batch_tokens, hands each job its slice of hidden
 *     states, then finishes and encodes each job's one answer.
 */
#ifndef SOCLED_SCHEDULER_H
#define SOCLED_SCHEDULER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/socle.pb-c.h"

struct job;
struct daemon;
struct worker_state;

enum { SCHED_LANE_INTERACTIVE = 0, SCHED_LANE_BATCH = 1, SCHED_N_LANES = 2 };

/* Per-job scheduling data, embedded in struct job. The worker fills the second group. */
struct sched_jobinfo {
    size_t est_tokens; /* admission estimate (sched_estimate_tokens) */
    int lane;
    int src_fd; /* descriptor of the client connection it came on (ZMQ_SRCFD), -1 unknown */
    uint32_t src_gen; /* which connection on src_fd: the broker counts accepts per descriptor */
    /* filled by the worker */
    bool computed;   /* reached the model (false: refused before, e.g. deadline) */
    bool batch_head; /* first job of its batch: carries the batch's sizes for the stats */
    uint32_t batch_jobs, batch_seqs, batch_tokens, n_forwards;
    size_t n_tokens; /* exact tokens fed to the model for this job */
    uint64_t t_start_us, tokenize_us, forward_us, post_us;
};

struct sched_queue {
    struct job *head[SCHED_N_LANES], *tail[SCHED_N_LANES];
    size_t n[SCHED_N_LANES];
    size_t n_jobs, tokens, bytes;
    uint64_t batches; /* batches in a row that left batch-lane work waiting (the turn) */
    /* Workers sharing the queue (set by the broker; 0 or 1 = no split): a batch takes at most
     * its fair share of the queued requests, so that one worker does not take everything
     * into one long batch while the next frees up and serves a few clients alone (bimodal
     * latency under load). */
    size_t share_workers;
    /* Regrouping (sched_batch_done / sched_regroup_wait): requests queued at the end of the
     * first batch since the last one left plus those answered since, and until when an idle
     * worker waits for them. */
    size_t expect;
    uint64_t regroup_until_us;
};

/* Longest regroup wait (µs), and its share of the run time of the batch that just ended. */
enum { SCHED_REGROUP_MAX_US = 20000, SCHED_REGROUP_DIV = 8 };

/* Tokens a request will feed the model, estimated from its bytes before tokenizing (the broker
 * must stay cheap): per text, bytes / 4 + 2 specials — about what WordPiece/BPE give for
 * English. tokenize/detokenize never reach the model: 1 (their memory is bounded by
 * max-queue-bytes, and they run one by one beside the packed forwards). Never 0. */
size_t sched_estimate_tokens(const Socle__V1__Request *req);

/* Lane of a request priority: < 0 is batch traffic, the rest interactive. */
int sched_lane(int priority);

/* Append j (j->sched.est_tokens, j->bytes, j->priority set); higher priority first within a
 * lane, FIFO among equals. */
void sched_push(struct sched_queue *q, struct job *j);

/* Remove and return one queued job whose deadline is at or before now, NULL when none. */
struct job *sched_pop_expired(struct sched_queue *q, uint64_t now);

/* Remove and return one queued job that came on connection fd (>= 0), NULL when none. */
struct job *sched_pop_fd(struct sched_queue *q, int fd, uint32_t gen);

/* Remove and return any queued job (draining), NULL when empty. */
struct job *sched_pop_any(struct sched_queue *q);

/* Whether a batch should leave now: enough tokens queued to fill max_tokens, or the oldest
 * job waited max_delay_us. When not, *wake_us is when it will be (monotonic µs). */
bool sched_ready(const struct sched_queue *q, uint64_t now, size_t max_tokens,
                 uint64_t max_delay_us, uint64_t *wake_us);

/* A batch of n_jobs requests ended at now after running run_us: their clients may send their
 * next requests at once (closed-loop callers), so sched_regroup_wait holds a partial batch
 * for them a short while. */
void sched_batch_done(struct sched_queue *q, uint64_t now, size_t n_jobs, uint64_t run_us);

/* Whether an idle worker should wait before taking a batch because fewer requests are queued
 * than were queued when the first of the batches answered since the last one left ended, plus
 * the requests those batches answered (min max_jobs), and the regroup window —
 * min(run time of the last batch / SCHED_REGROUP_DIV, SCHED_REGROUP_MAX_US) after its end —
 * is still open; *wake_us is then when it closes. A lone client never waits (1 answered, 1
 * queued); a full token budget never waits. */
bool sched_regroup_wait(const struct sched_queue *q, uint64_t now, size_t max_tokens,
                        size_t max_jobs, uint64_t *wake_us);

/* Take the next batch: jobs up to max_tokens estimated tokens (at least one job) and max_jobs
 * jobs, interactive lane first, topped up from the batch lane; after batch_turn - 1 batches in
 * a row that left batch-lane work waiting (and whenever the interactive lane is empty) a batch
 * starts from the batch lane, so batch work always progresses (0 = strict priority). Returns
 * the count. */
size_t sched_take(struct sched_queue *q, size_t max_tokens, size_t max_jobs, unsigned batch_turn,
                  struct job **out, size_t cap);

/* Elastic threads: the workers' forwards share `cores`. A forward asks for its share when it
 * starts (clamp(cores / forwards running, 1, max_threads)) and keeps it to its end: under
 * load every worker runs one thread (independent batches scale better than threads inside
 * one batch: 1.10-1.14x on 2 cores, docs/serving.md); a lone request gets up to max_threads.
 * The share never changes results (eng_ctx_set_active_threads). */
struct elastic_threads {
    _Atomic int running;
    int cores, max_threads;
};
/* Threads for a forward that starts now (at least 1); pair with elastic_leave. */
int elastic_enter(struct elastic_threads *e);
void elastic_leave(struct elastic_threads *e);

/* Worker side: answer every job of a batch (job->resp/resp_len/code set for each, exactly
 * once), model jobs packed together into shared forwards. */
void sched_run(const struct daemon *d, struct worker_state *ws, struct job **jobs, size_t n);

#endif
