/* test_sched_queue.c — the scheduler's queue alone (daemon/scheduler.c, label unit): lanes and
 * priorities, the batch-lane turn (no starvation), the token budget of a batch, the fair share
 * between workers, deadline expiry, the batching-delay rule, the regroup rule and the elastic
 * threads' share. The worker half
 * of scheduler.c is not exercised here (test_load_serving does, through socled); its few outside
 * symbols are stubbed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"

static int failures;
#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c);                  \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* stubs for the worker half */
uint64_t now_us(void) { return 0; }
int reply_encode(const PbResponse *r, uint8_t **buf, size_t *len) {
    (void)r, (void)buf, (void)len;
    return -1;
}
void reply_error(uint64_t id, int code, const char *message, uint64_t total_us, uint8_t **buf,
                 size_t *len) {
    (void)id, (void)code, (void)message, (void)total_us;
    *buf = NULL;
    *len = 0;
}
void service_run(const struct daemon *d, struct worker_state *ws, struct job *job) {
    (void)d, (void)ws, (void)job;
}

static struct job jobs[64];

static struct job *mk(int i, int priority, size_t tokens, uint64_t t_recv, uint64_t deadline) {
    struct job *j = &jobs[i];
    memset(j, 0, sizeof *j);
    j->id = (uint64_t)i;
    j->priority = priority;
    j->t_recv_us = t_recv;
    j->deadline_us = deadline;
    j->bytes = 10;
    j->sched.est_tokens = tokens;
    j->sched.lane = sched_lane(priority);
    return j;
}

static int ids(struct job **b, size_t n, char *out) {
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        sprintf(out + strlen(out), "%s%llu", i ? "," : "", (unsigned long long)b[i]->id);
    return (int)n;
}

int main(void) {
    struct sched_queue q;
    struct job *b[16];
    char s[256];

    /* elastic threads: alone a forward gets blas-threads (capped by the cores), then the cores
     * are divided among the running forwards, never below one thread each */
    struct elastic_threads el = {.cores = 2, .max_threads = 2};
    atomic_init(&el.running, 0);
    CHECK(elastic_enter(&el) == 2); /* alone: both cores */
    CHECK(elastic_enter(&el) == 1); /* a second forward: one core */
    CHECK(elastic_enter(&el) == 1); /* a third (more workers than cores): still one */
    elastic_leave(&el);
    elastic_leave(&el);
    CHECK(elastic_enter(&el) == 1); /* the first still runs */
    elastic_leave(&el);
    elastic_leave(&el);
    CHECK(atomic_load(&el.running) == 0 && elastic_enter(&el) == 2);
    elastic_leave(&el);
    struct elastic_threads e16 = {.cores = 16, .max_threads = 4};
    atomic_init(&e16.running, 0);
    int got[8];
    for (int i = 0; i < 8; i++)
        got[i] = elastic_enter(&e16);
    CHECK(got[0] == 4 && got[3] == 4 && got[4] == 3 && got[5] == 2 && got[7] == 2);

    /* priorities: interactive lane first, higher priority first, FIFO among equals */
    memset(&q, 0, sizeof q);
    sched_push(&q, mk(1, 0, 10, 1, 0));
    sched_push(&q, mk(2, -1, 10, 2, 0));
    sched_push(&q, mk(3, 5, 10, 3, 0));
    sched_push(&q, mk(4, 0, 10, 4, 0));
    sched_push(&q, mk(5, -3, 10, 5, 0));
    CHECK(q.n_jobs == 5 && q.tokens == 50 && q.bytes == 50);
    CHECK(q.n[SCHED_LANE_INTERACTIVE] == 3 && q.n[SCHED_LANE_BATCH] == 2);
    ids(b, sched_take(&q, 1000, 16, 0, b, 16), s);
    CHECK(!strcmp(s, "3,1,4,2,5")); /* interactive by priority, then batch lane by priority */
    CHECK(q.n_jobs == 0 && q.tokens == 0 && q.bytes == 0);

    /* token budget: at least one job, then only what fits */
    memset(&q, 0, sizeof q);
    sched_push(&q, mk(1, 0, 300, 1, 0));
    sched_push(&q, mk(2, 0, 300, 2, 0));
    sched_push(&q, mk(3, 0, 300, 3, 0));
    CHECK(sched_take(&q, 650, 16, 0, b, 16) == 2);
    CHECK(sched_take(&q, 100, 16, 0, b, 16) == 1 && b[0]->id == 3); /* alone above budget */

    /* no starvation: with batch_turn 4, every 4th batch starts from the batch lane even
     * while interactive work waits */
    memset(&q, 0, sizeof q);
    for (int i = 0; i < 8; i++)
        sched_push(&q, mk(i, 0, 10, (uint64_t)i, 0));
    for (int i = 8; i < 10; i++)
        sched_push(&q, mk(i, -1, 10, (uint64_t)i, 0));
    int batch_first_at = -1;
    for (int k = 0; k < 4; k++) {
        CHECK(sched_take(&q, 1000, 1, 4, b, 16) == 1);
        if (b[0]->sched.lane == SCHED_LANE_BATCH && batch_first_at < 0)
            batch_first_at = k;
    }
    CHECK(batch_first_at == 3);
    /* strict priority (turn 0): the batch lane waits for the interactive lane to empty */
    memset(&q, 0, sizeof q);
    sched_push(&q, mk(1, -1, 10, 1, 0));
    sched_push(&q, mk(2, 0, 10, 2, 0));
    sched_push(&q, mk(3, 0, 10, 3, 0));
    for (int k = 0; k < 3; k++)
        sched_take(&q, 1000, 1, 0, b, 16), s[k] = (char)('0' + b[0]->id);
    s[3] = '\0';
    CHECK(!strcmp(s, "231"));

    /* fair share: 2 workers, 10 queued → a batch takes 5 */
    memset(&q, 0, sizeof q);
    q.share_workers = 2;
    for (int i = 0; i < 10; i++)
        sched_push(&q, mk(i, 0, 10, (uint64_t)i, 0));
    CHECK(sched_take(&q, 100000, 256, 0, b, 16) == 5);
    CHECK(sched_take(&q, 100000, 256, 0, b, 16) == 3); /* ceil(5 / 2) */

    /* deadlines: only expired jobs come out, from either lane, accounting kept */
    memset(&q, 0, sizeof q);
    sched_push(&q, mk(1, 0, 10, 1, 100));
    sched_push(&q, mk(2, -1, 10, 2, 50));
    sched_push(&q, mk(3, 0, 10, 3, 0));
    CHECK(sched_pop_expired(&q, 40) == NULL);
    struct job *e = sched_pop_expired(&q, 60);
    CHECK(e && e->id == 2 && q.n_jobs == 2 && q.tokens == 20);
    e = sched_pop_expired(&q, 100);
    CHECK(e && e->id == 1 && sched_pop_expired(&q, 1000) == NULL);
    CHECK(sched_pop_any(&q) == &jobs[3] && sched_pop_any(&q) == NULL && q.n_jobs == 0);

    /* batching delay: a partial batch waits until the oldest waited the delay; a full one
     * (tokens >= budget) or delay 0 goes at once */
    memset(&q, 0, sizeof q);
    uint64_t wake = 0;
    CHECK(!sched_ready(&q, 0, 100, 1000, &wake));
    sched_push(&q, mk(1, 0, 40, 5000, 0));
    CHECK(!sched_ready(&q, 5100, 100, 1000, &wake) && wake == 6000);
    CHECK(sched_ready(&q, 6000, 100, 1000, &wake));
    CHECK(sched_ready(&q, 5100, 100, 0, &wake));
    sched_push(&q, mk(2, 0, 60, 5050, 0));
    CHECK(sched_ready(&q, 5100, 100, 1000, &wake));

    /* regroup: a batch of 4 ended at 10000 after running 80000 µs → until 20000 (run / 8,
     * capped at SCHED_REGROUP_MAX_US) an idle worker waits while fewer than 4 are queued */
    memset(&q, 0, sizeof q);
    sched_batch_done(&q, 10000, 4, 80000);
    sched_push(&q, mk(1, 0, 10, 10100, 0));
    CHECK(sched_regroup_wait(&q, 10100, 1000, 256, &wake) && wake == 20000);
    CHECK(!sched_regroup_wait(&q, 20000, 1000, 256, &wake)); /* window closed */
    CHECK(!sched_regroup_wait(&q, 10100, 1000, 1, &wake));   /* max 1 request per batch */
    CHECK(!sched_regroup_wait(&q, 10100, 10, 256, &wake));   /* token budget already full */
    for (int i = 2; i <= 4; i++)
        sched_push(&q, mk(i, 0, 10, 10200, 0));
    CHECK(!sched_regroup_wait(&q, 10200, 1000, 256, &wake)); /* all 4 back */
    CHECK(sched_take(&q, 1000, 256, 0, b, 16) == 4 && q.expect == 0);
    /* after that batch, one new arrival goes at once (nothing expected) */
    sched_push(&q, mk(5, 0, 10, 10300, 0));
    CHECK(!sched_regroup_wait(&q, 10300, 1000, 256, &wake));
    sched_take(&q, 1000, 256, 0, b, 16);
    /* a straggler: 1 request queued while a batch of 3 ran → wait for 1 + 3, not 3 */
    sched_push(&q, mk(7, 0, 10, 30000, 0));
    sched_batch_done(&q, 30100, 3, 80000);
    for (int i = 8; i <= 9; i++)
        sched_push(&q, mk(i, 0, 10, 30200, 0));
    CHECK(sched_regroup_wait(&q, 30200, 1000, 256, &wake)); /* 3 queued of 4 */
    sched_push(&q, mk(10, 0, 10, 30300, 0));
    CHECK(!sched_regroup_wait(&q, 30300, 1000, 256, &wake));
    CHECK(sched_take(&q, 1000, 256, 0, b, 16) == 4);
    /* a lone client: 1 answered, 1 queued → no wait; the window is capped */
    sched_batch_done(&q, 50000, 1, 10000000);
    CHECK(q.regroup_until_us == 50000 + SCHED_REGROUP_MAX_US);
    sched_push(&q, mk(6, 0, 10, 50010, 0));
    CHECK(!sched_regroup_wait(&q, 50010, 1000, 256, &wake));

    /* the admission estimate: bytes / 4 + 2 per text, never 0 */
    Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
    Socle__V1__ClassifyRequest cl = SOCLE__V1__CLASSIFY_REQUEST__INIT;
    ProtobufCBinaryData t[2] = {{400, (uint8_t *)(uintptr_t) ""}, {0, NULL}};
    cl.n_texts = 2;
    cl.texts = t;
    req.task_case = SOCLE__V1__REQUEST__TASK_CLASSIFY;
    req.classify = &cl;
    CHECK(sched_estimate_tokens(&req) == 104);
    req.task_case = SOCLE__V1__REQUEST__TASK_INFO;
    CHECK(sched_estimate_tokens(&req) == 1);

    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
