/* test_overload.c — socled far above capacity for several seconds (issue 6), label integ.
 * argv: socled. One worker on models/socle-mini; 16 clients keep 32 classify
 * requests each in flight (deadline 300 ms) for 4 s while a probe asks `info` every 20 ms; the
 * queue is bounded by --max-queue-tokens 1000 (about 27 of these requests).
 * Checks: every request gets exactly one answer, OK, RESOURCE_EXHAUSTED or DEADLINE_EXCEEDED,
 * with its own id; all three happen; `info` keeps answering within 100 ms (the broker answers
 * it inline, never behind the queue); RSS does not grow through the run (the queue bounds the
 * memory). Exits 77 when models/socle-mini is absent. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/integ/harness.h"

enum { N_CLIENTS = 16, WINDOW = 32, RUN_MS = 4000 };

static struct hx_daemon D;
static volatile int g_stop;

struct client {
    int index, errors;
    long sent, answered, codes[16];
    char full_msg[256];
};

static const char text[] = "The market rose sharply after news of a merger between two banks, "
                           "while football fans cheered their team in Paris and London.";

static void *client_main(void *arg) {
    struct client *w = arg;
    struct socle_client *c = hx_client(w->index % 2 ? D.tcp : D.ipc, 20000, 0);
    if (!c) {
        w->errors++;
        return NULL;
    }
    unsigned char *seen = calloc(1 << 20, 1);
    uint64_t next = 1;
    for (;;) {
        bool sending = !__atomic_load_n(&g_stop, __ATOMIC_ACQUIRE);
        if (sending && socle_client_in_flight(c) < WINDOW && next < (1 << 20)) {
            Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
            Socle__V1__ClassifyRequest cl = SOCLE__V1__CLASSIFY_REQUEST__INIT;
            ProtobufCBinaryData b = {sizeof text - 1, (uint8_t *)(uintptr_t)text};
            cl.n_texts = 1;
            cl.texts = &b;
            req.id = next++;
            req.adapter = (char *)(uintptr_t) "sentiment";
            req.deadline_ms = 300;
            req.task_case = SOCLE__V1__REQUEST__TASK_CLASSIFY;
            req.classify = &cl;
            if (socle_client_send(c, &req, NULL) != SOCLE_OK)
                w->errors++;
            w->sent++;
            continue;
        }
        if (!socle_client_in_flight(c))
            break;
        Socle__V1__Response *r = NULL;
        if (socle_client_recv(c, &r) != SOCLE_OK) {
            fprintf(stderr, "client %d: no answer (%ld in flight)\n", w->index,
                    (long)socle_client_in_flight(c));
            w->errors++;
            break;
        }
        if (r->id == 0 || r->id >= next || seen[r->id]) {
            fprintf(stderr, "client %d: id %llu unexpected or twice\n", w->index,
                    (unsigned long long)r->id);
            w->errors++;
        } else {
            seen[r->id] = 1;
            w->answered++;
            int code = r->status ? (int)r->status->code : 15;
            w->codes[code < 16 ? code : 15]++;
            if (code == SOCLE__V1__CODE__RESOURCE_EXHAUSTED && !w->full_msg[0])
                snprintf(w->full_msg, sizeof w->full_msg, "%s", r->status->message);
        }
        socle_response_free(r);
    }
    free(seen);
    socle_client_free(c);
    return NULL;
}

static long rss_kb(pid_t pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
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
    const char *extra[] = {
        "--model", model,         "--adapters", adapters, "--workers", "1", "--max-queue-tokens",
        "1000",    "--log-level", "warn",       NULL};
    /* Under AddressSanitizer freed memory sits in a quarantine (256 MB by default) and shows
     * in RSS as growth; a small one lets RSS say what the daemon really holds. */
    const char *asan = getenv("ASAN_OPTIONS");
    char asan_opts[1024];
    snprintf(asan_opts, sizeof asan_opts,
             "%s%squarantine_size_mb=4:thread_local_quarantine_size_kb=64", asan ? asan : "",
             asan && asan[0] ? ":" : "");
    setenv("ASAN_OPTIONS", asan_opts, 1);
    if (hx_start(&D, argv[1], extra) != 0)
        return 1;
    pthread_t th[N_CLIENTS];
    struct client cl[N_CLIENTS];
    for (int i = 0; i < N_CLIENTS; i++) {
        memset(&cl[i], 0, sizeof cl[i]);
        cl[i].index = i;
        pthread_create(&th[i], NULL, client_main, &cl[i]);
    }
    /* the probe: info every 20 ms; RSS after the first second and at the end */
    struct socle_client *pc = hx_client(D.ipc, 5000, 0);
    long t0 = hx_now_ms(), worst_ms = 0, probes = 0, rss_1s = -1, rss_max = 0;
    while (hx_now_ms() - t0 < RUN_MS) {
        Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
        Socle__V1__InfoRequest info = SOCLE__V1__INFO_REQUEST__INIT;
        req.task_case = SOCLE__V1__REQUEST__TASK_INFO;
        req.info = &info;
        Socle__V1__Response *r = NULL;
        long a = hx_now_ms();
        int rc = socle_client_call(pc, &req, &r);
        long dt = hx_now_ms() - a;
        CHECK(rc == SOCLE_OK && r && r->result_case == SOCLE__V1__RESPONSE__RESULT_INFO);
        socle_response_free(r);
        if (dt > worst_ms)
            worst_ms = dt;
        probes++;
        long rss = rss_kb(D.pid);
        if (rss_1s < 0 && hx_now_ms() - t0 >= 1000)
            rss_1s = rss;
        if (rss > rss_max)
            rss_max = rss;
        usleep(20000);
    }
    __atomic_store_n(&g_stop, 1, __ATOMIC_RELEASE);
    socle_client_free(pc);
    long sent = 0, answered = 0, codes[16] = {0};
    for (int i = 0; i < N_CLIENTS; i++) {
        pthread_join(th[i], NULL);
        hx_failures += cl[i].errors;
        sent += cl[i].sent;
        answered += cl[i].answered;
        for (int k = 0; k < 16; k++)
            codes[k] += cl[i].codes[k];
    }
    fprintf(stderr,
            "overload: %ld sent, %ld answered: OK %ld, RESOURCE_EXHAUSTED %ld, "
            "DEADLINE_EXCEEDED %ld, other %ld; info worst %ld ms over %ld probes; RSS after 1 s "
            "%ld kB, max %ld kB\n",
            sent, answered, codes[0], codes[SOCLE__V1__CODE__RESOURCE_EXHAUSTED],
            codes[SOCLE__V1__CODE__DEADLINE_EXCEEDED],
            answered - codes[0] - codes[SOCLE__V1__CODE__RESOURCE_EXHAUSTED] -
                codes[SOCLE__V1__CODE__DEADLINE_EXCEEDED],
            worst_ms, probes, rss_1s, rss_max);
    CHECK(answered == sent);
    CHECK(codes[0] > 0 && codes[SOCLE__V1__CODE__RESOURCE_EXHAUSTED] > 0 &&
          codes[SOCLE__V1__CODE__DEADLINE_EXCEEDED] > 0);
    CHECK(codes[0] + codes[SOCLE__V1__CODE__RESOURCE_EXHAUSTED] +
              codes[SOCLE__V1__CODE__DEADLINE_EXCEEDED] ==
          answered);
#if defined(__SANITIZE_THREAD__)
    /* ThreadSanitizer slows every thread 5-15x: the 100 ms bound is a property of the real
     * build (checked by the ASan/UBSan suite); here only the answers and the memory bound count. */
    fprintf(stderr, "TSan build: info latency bound not checked (worst %ld ms)\n", worst_ms);
#else
    CHECK(worst_ms < 100);
#endif
    /* the queue is bounded in (estimated) model tokens: ~37 per request here, 1000 in all */
    fprintf(stderr, "refusal: %s\n", cl[0].full_msg);
    CHECK(strstr(cl[0].full_msg, "tokens waiting (max-queue-tokens 1000)") != NULL);
    /* bounded: no growth beyond allocator noise once the queue is full (64 small requests) */
    CHECK(rss_1s > 0 && rss_max - rss_1s < 32 * 1024);
    int status = -1;
    CHECK(hx_stop(&D, 20000, &status) == 0 && status == 0);
    return hx_failures ? 1 : 0;
}
