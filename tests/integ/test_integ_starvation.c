/* test_integ_starvation.c — interactive traffic goes ahead of a batch-lane flood, and the batch
 * lane still progresses under an interactive flood (issue 6), label integ, ~10 s.
 * argv: socled. One worker, at most 4 requests per batch, models/socle-mini.
 *
 * Phase 1 (RUN_MS): two batch-lane clients (priority -1) keep WINDOW classify requests each
 * in flight; an interactive probe (priority 0) sends one request at a time. The probe's median
 * latency must stay below a quarter of the batch lane's median latency (FIFO service would
 * make them equal: the probe would wait behind the whole backlog). Medians: a loaded machine
 * gives single probes outliers.
 * Phase 2 (RUN_MS, longer until 3 × GROUP answers on a loaded machine, at most 12 s): the
 * batch flood goes on and two interactive clients flood too (WINDOW each in flight, more
 * than the worker can serve). Progress per second is printed, and each second that held at
 * least GROUP answers must hold answers of both lanes; every GROUP answers in a row (8
 * batches) must too (the batch-lane turn, --batch-turn 4, gives it every 4th batch).
 * Every request gets exactly one answer, OK. Exits 77 when models/socle-mini is absent. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/integ/harness.h"

enum {
    WINDOW = 32,
    RUN_MS = 4000,
    MAX_RUN2_MS = 12000,
    GROUP = 32,
    N_FLOOD = 2,
    MAX_LAT = 1 << 17
};

static struct hx_daemon D;
static volatile int g_phase; /* 1, 2; 3 = stop */
static long g_t_phase2;      /* ms (hx_now_ms) when phase 2 began */
static long g_answers2;      /* answers in phase 2, all clients (atomic) */

static const char text[] = "The market rose sharply after news of a merger between two banks, "
                           "while football fans cheered their team in Paris and London.";

struct flood {
    int priority, index, errors;
    long sent, answered;
    long *t2; /* ms since phase 2 began, per phase-2 answer */
    size_t n2;
    long *lat; /* ms, phase 1 answers */
    size_t n_lat;
};

static void make_req(Socle__V1__Request *req, Socle__V1__ClassifyRequest *cl,
                     ProtobufCBinaryData *b, int priority) {
    *b = (ProtobufCBinaryData){sizeof text - 1, (uint8_t *)(uintptr_t)text};
    cl->n_texts = 1;
    cl->texts = b;
    req->adapter = (char *)(uintptr_t) "sentiment";
    req->priority = priority;
    req->task_case = SOCLE__V1__REQUEST__TASK_CLASSIFY;
    req->classify = cl;
}

/* Keeps WINDOW requests in flight while its phase lasts (batch lane: phases 1 and 2; an
 * interactive flood: phase 2 only). Latency per request from its send time. */
static void *flood_main(void *arg) {
    struct flood *f = arg;
    struct socle_client *c = hx_client(f->index % 2 ? D.tcp : D.ipc, 30000, 0);
    long *sent_at = calloc(MAX_LAT + 1, sizeof *sent_at);
    f->lat = calloc(MAX_LAT, sizeof *f->lat);
    f->t2 = calloc(MAX_LAT, sizeof *f->t2);
    if (!c || !sent_at || !f->lat || !f->t2) {
        f->errors++;
        socle_client_free(c);
        free(sent_at);
        return NULL;
    }
    while (f->priority >= 0 && __atomic_load_n(&g_phase, __ATOMIC_ACQUIRE) < 2)
        usleep(1000);
    for (;;) {
        int phase = __atomic_load_n(&g_phase, __ATOMIC_ACQUIRE);
        if (phase < 3 && socle_client_in_flight(c) < WINDOW && f->sent < MAX_LAT) {
            Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
            Socle__V1__ClassifyRequest cl = SOCLE__V1__CLASSIFY_REQUEST__INIT;
            ProtobufCBinaryData b;
            make_req(&req, &cl, &b, f->priority);
            req.id = (uint64_t)f->sent + 1;
            if (socle_client_send(c, &req, NULL) != SOCLE_OK)
                f->errors++;
            sent_at[f->sent + 1] = hx_now_ms();
            f->sent++;
            continue;
        }
        if (!socle_client_in_flight(c))
            break;
        Socle__V1__Response *r = NULL;
        if (socle_client_recv(c, &r) != SOCLE_OK) {
            f->errors++;
            break;
        }
        long now = hx_now_ms();
        if (!r->status || r->status->code != SOCLE__V1__CODE__OK || r->id == 0 ||
            r->id > (uint64_t)f->sent) {
            f->errors++;
        } else {
            __atomic_add_fetch(&f->answered, 1, __ATOMIC_RELEASE);
            phase = __atomic_load_n(&g_phase, __ATOMIC_ACQUIRE);
            if (phase == 1 && f->n_lat < MAX_LAT)
                f->lat[f->n_lat++] = now - sent_at[r->id];
            if (phase == 2 && f->n2 < MAX_LAT) {
                f->t2[f->n2++] = now - g_t_phase2;
                __atomic_add_fetch(&g_answers2, 1, __ATOMIC_RELAXED);
            }
        }
        socle_response_free(r);
    }
    socle_client_free(c);
    free(sent_at);
    return NULL;
}

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    char model[1024], adapters[1100], probe[1100];
    snprintf(model, sizeof model, "%s/models/socle-mini", hx_source_dir());
    snprintf(adapters, sizeof adapters, "%s/adapters", model);
    snprintf(probe, sizeof probe, "%s/model.safetensors", model);
    if (access(probe, R_OK) != 0) {
        fprintf(stderr, "skip: %s absent\n", probe);
        return 77;
    }
    const char *extra[] = {"--model",
                           model,
                           "--adapters",
                           adapters,
                           "--workers",
                           "1",
                           "--max-batch-requests",
                           "4",
                           "--batch-turn",
                           "4",
                           "--log-level",
                           "warn",
                           NULL};
    if (hx_start(&D, argv[1], extra) != 0)
        return 1;
    struct flood batch[2], inter[N_FLOOD];
    pthread_t tb[2], ti[N_FLOOD];
    memset(batch, 0, sizeof batch);
    memset(inter, 0, sizeof inter);
    __atomic_store_n(&g_phase, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++) {
        batch[i] = (struct flood){.priority = -1, .index = i};
        pthread_create(&tb[i], NULL, flood_main, &batch[i]);
    }
    for (int i = 0; i < N_FLOOD; i++) {
        inter[i] = (struct flood){.priority = 0, .index = i};
        pthread_create(&ti[i], NULL, flood_main, &inter[i]);
    }
    /* phase 1: the probe, after the batch backlog has built up */
    usleep(500000);
    struct socle_client *pc = hx_client(D.ipc, 30000, 0);
    long plat[4096];
    size_t np = 0;
    for (long t0 = hx_now_ms(); hx_now_ms() - t0 < RUN_MS && np < 4096;) {
        Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
        Socle__V1__ClassifyRequest cl = SOCLE__V1__CLASSIFY_REQUEST__INIT;
        ProtobufCBinaryData b;
        make_req(&req, &cl, &b, 0);
        Socle__V1__Response *r = NULL;
        long a = hx_now_ms();
        int rc = socle_client_call(pc, &req, &r);
        CHECK(rc == SOCLE_OK && r && r->status && r->status->code == SOCLE__V1__CODE__OK);
        plat[np++] = hx_now_ms() - a;
        socle_response_free(r);
        usleep(20000);
    }
    socle_client_free(pc);
    /* phase 2: interactive flood on top of the batch flood, RUN_MS and at least 3 groups of
     * GROUP answers (a machine loaded by other work may run few batches a second) */
    g_t_phase2 = hx_now_ms();
    __atomic_store_n(&g_phase, 2, __ATOMIC_RELEASE);
    while (hx_now_ms() - g_t_phase2 < MAX_RUN2_MS &&
           (hx_now_ms() - g_t_phase2 < RUN_MS ||
            __atomic_load_n(&g_answers2, __ATOMIC_RELAXED) < 3 * GROUP))
        usleep(10000);
    long run2 = hx_now_ms() - g_t_phase2;
    __atomic_store_n(&g_phase, 3, __ATOMIC_RELEASE);
    /* phase-2 answers of both lanes in time order: (ms << 1) | is_batch_lane */
    long *ev = calloc(MAX_LAT * (2 + N_FLOOD), sizeof *ev);
    size_t ne = 0, nb = 0;
    long *blat = calloc(2 * MAX_LAT, sizeof *blat);
    struct flood *all[2 + N_FLOOD];
    pthread_t *ths[2 + N_FLOOD];
    for (int i = 0; i < 2; i++)
        all[i] = &batch[i], ths[i] = &tb[i];
    for (int i = 0; i < N_FLOOD; i++)
        all[2 + i] = &inter[i], ths[2 + i] = &ti[i];
    for (int i = 0; i < 2 + N_FLOOD; i++) {
        struct flood *f = all[i];
        pthread_join(*ths[i], NULL);
        CHECK(f->errors == 0 && f->answered == f->sent);
        for (size_t k = 0; k < f->n2; k++)
            ev[ne++] = f->t2[k] * 2 + (f->priority < 0);
        if (f->priority < 0) {
            memcpy(blat + nb, f->lat, f->n_lat * sizeof *blat);
            nb += f->n_lat;
        }
        free(f->lat);
        free(f->t2);
    }
    qsort(ev, ne, sizeof *ev, cmp_long);
    qsort(plat, np, sizeof *plat, cmp_long);
    qsort(blat, nb, sizeof *blat, cmp_long);
    long p50 = np ? plat[np / 2] : -1, bmed = nb ? blat[nb / 2] : -1;
    fprintf(stderr,
            "phase 1: interactive probe p50 %ld ms p90 %ld ms (%zu requests); batch lane p50 "
            "%ld ms (%zu answers)\nphase 2 (%ld ms, %zu answers), per second: batch lane / "
            "interactive:",
            p50, np ? plat[np * 9 / 10] : -1, np, bmed, nb, run2, ne);
    /* per second: printed; each second that held at least GROUP answers must hold both */
    for (long sec = 0; sec * 1000 < run2; sec++) {
        long b = 0, in = 0;
        for (size_t k = 0; k < ne; k++)
            if (ev[k] / 2 / 1000 == sec)
                (ev[k] & 1) ? b++ : in++;
        fprintf(stderr, " %ld/%ld", b, in);
        if (b + in >= GROUP)
            CHECK(b > 0 && in > 0);
    }
    fprintf(stderr, "\n");
    /* every GROUP answers in a row (8 batches of 4: two batch-lane turns) hold both lanes */
    size_t groups = 0;
    for (size_t g = 0; g + GROUP <= ne; g += GROUP, groups++) {
        long b = 0;
        for (size_t k = g; k < g + GROUP; k++)
            b += ev[k] & 1;
        if (b == 0 || b == GROUP)
            fprintf(stderr, "answers %zu..%zu: %ld of the batch lane\n", g, g + GROUP - 1, b);
        CHECK(b > 0 && b < GROUP);
    }
    CHECK(np >= 10 && nb >= 10 && groups >= 3);
    CHECK(p50 * 4 < bmed); /* the probe does not wait behind the batch backlog */
    free(ev);
    free(blat);
    int status = -1;
    CHECK(hx_stop(&D, 20000, &status) == 0 && status == 0);
    return hx_failures ? 1 : 0;
}
