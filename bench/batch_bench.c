/* batch_bench.c — the daemon's best throughput for `socle batch`'s comparison (issue 7): the
 * same documents, the same task and priority, sent through the C client library with a window
 * of requests in flight, and nothing else — no JSON in or out, no output file, no resume
 * bookkeeping. The documents are read into memory before the clock starts.
 *
 * Before timing, every answer is checked: status OK and exactly one output of the task's kind
 * (a run with errors is not a throughput). Prints one line:
 *   batch_bench task=ner window=256 docs=10000 wall_s=… docs_per_s=… client_cpu_s=…
 *
 * usage: batch_bench ENDPOINT --task classify|ner --in DOCS.txt [--adapter A] [--window W]
 *                    [--priority P]
 * DOCS.txt: one document per line (bench/run_batch_bench.sh writes it next to the .jsonl that
 * `socle batch` reads, from the same texts).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "clients/socle.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

struct docs {
    char *buf; /* the whole file; lines cut in place */
    ProtobufCBinaryData *text;
    size_t n;
};

static int docs_load(const char *path, struct docs *d) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t cap = 1 << 20, len = 0, r;
    d->buf = malloc(cap + 1);
    while (d->buf && (r = fread(d->buf + len, 1, cap - len, f)) > 0) {
        len += r;
        if (len == cap) {
            char *nb = realloc(d->buf, 2 * cap + 1);
            if (!nb) {
                free(d->buf);
                d->buf = NULL;
            }
            d->buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!d->buf)
        return -1;
    d->buf[len] = '\0';
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += d->buf[i] == '\n';
    d->text = calloc(lines + 1, sizeof *d->text);
    if (!d->text)
        return -1;
    for (char *p = d->buf; *p;) {
        char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        if (l)
            d->text[d->n++] = (ProtobufCBinaryData){l, (uint8_t *)p};
        p += l + (nl != NULL);
    }
    return 0;
}

/* Is r a good answer to a `task` request? */
static int answer_ok(const Socle__V1__Response *r, bool ner) {
    if (r->status && r->status->code != SOCLE__V1__CODE__OK) {
        fprintf(stderr, "batch_bench: id %llu: %s: %s\n", (unsigned long long)r->id,
                socle_code_name((int)r->status->code),
                r->status->message ? r->status->message : "");
        return 0;
    }
    if (ner)
        return r->result_case == SOCLE__V1__RESPONSE__RESULT_NER && r->ner->n_outputs == 1;
    return r->result_case == SOCLE__V1__RESPONSE__RESULT_CLASSIFY && r->classify->n_outputs == 1 &&
           r->classify->outputs[0]->n_labels > 0;
}

int main(int argc, char **argv) {
    const char *task = NULL, *in = NULL, *adapter = "";
    size_t window = 256;
    int priority = -1; /* the lane `socle batch` uses by default */
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--task") == 0)
            task = argv[i + 1];
        else if (strcmp(argv[i], "--in") == 0)
            in = argv[i + 1];
        else if (strcmp(argv[i], "--adapter") == 0)
            adapter = argv[i + 1];
        else if (strcmp(argv[i], "--window") == 0)
            window = (size_t)strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--priority") == 0)
            priority = atoi(argv[i + 1]);
    }
    if (argc < 2 || !task || !in || !window ||
        (strcmp(task, "ner") != 0 && strcmp(task, "classify") != 0)) {
        fprintf(stderr, "usage: batch_bench ENDPOINT --task classify|ner --in DOCS.txt "
                        "[--adapter A] [--window W] [--priority P]\n");
        return 2;
    }
    bool ner = strcmp(task, "ner") == 0;
    struct docs d = {0};
    if (docs_load(in, &d) != 0 || !d.n) {
        fprintf(stderr, "batch_bench: %s: cannot read documents\n", in);
        return 2;
    }
    struct socle_client_opts o = socle_client_opts_default();
    o.timeout_ms = 60000;
    o.retries = 0;
    struct socle_client *c = NULL;
    if (socle_client_new(argv[1], &o, &c) != SOCLE_OK) {
        fprintf(stderr, "batch_bench: cannot connect to %s\n", argv[1]);
        return 1;
    }
    /* The same request shape as the CLI's: one text, the CLI's default options. */
    Socle__V1__ClassifyRequest cr = SOCLE__V1__CLASSIFY_REQUEST__INIT;
    Socle__V1__NerRequest nr = SOCLE__V1__NER_REQUEST__INIT;
    Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
    req.adapter = (char *)(uintptr_t)adapter;
    req.priority = priority;
    if (ner) {
        nr.n_texts = 1;
        req.task_case = SOCLE__V1__REQUEST__TASK_NER;
        req.ner = &nr;
    } else {
        cr.n_texts = 1;
        req.task_case = SOCLE__V1__REQUEST__TASK_CLASSIFY;
        req.classify = &cr;
    }
    double t0 = now_s(), c0 = cpu_s();
    size_t sent = 0, got = 0, bad = 0;
    while (got < d.n) {
        while (sent < d.n && sent - got < window) {
            nr.texts = cr.texts = &d.text[sent];
            req.id = sent + 1;
            if (socle_client_send(c, &req, NULL) != SOCLE_OK) {
                fprintf(stderr, "batch_bench: send failed\n");
                return 1;
            }
            sent++;
        }
        Socle__V1__Response *r = NULL;
        if (socle_client_recv(c, &r) != SOCLE_OK) {
            fprintf(stderr, "batch_bench: no answer (%zu of %zu)\n", got, d.n);
            return 1;
        }
        bad += !answer_ok(r, ner);
        socle_response_free(r);
        got++;
    }
    double wall = now_s() - t0, cpu = cpu_s() - c0;
    socle_client_free(c);
    if (bad) {
        fprintf(stderr, "batch_bench: %zu answers were not good results\n", bad);
        return 1;
    }
    printf("batch_bench task=%s window=%zu docs=%zu wall_s=%.3f docs_per_s=%.1f "
           "client_cpu_s=%.3f\n",
           task, window, d.n, wall, (double)d.n / wall, cpu);
    free(d.text);
    free(d.buf);
    return 0;
}
