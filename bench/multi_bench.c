/* multi_bench.c — "several tasks, one pass" (issue 5) measured against a running socled:
 * classify (adapter --classify, default sentiment) + ner (adapter --ner, default ner, aggregation
 * simple) on the same N texts (default 100), as
 *   two      a ClassifyRequest, then a NerRequest (each waited for: what a client does today);
 *   two-pip  both sent, then both awaited (pipelined: the scheduler may put both in the same
 *            forwards, but every text is still computed twice);
 *   multi    one MultiRequest with both sub-tasks (every text computed once).
 * Each: one warm-up, then --repeat runs (default 5); median and min of wall time per variant, and
 * the ratio two/multi. The texts are N different news-like sentences built from fixed parts
 * (deterministic, varied lengths). The results of multi are checked equal to the two requests'
 * (labels and entity counts), so the bench measures the same work.
 *
 * usage: multi_bench ENDPOINT [--n N] [--repeat R] [--classify ADAPTER] [--ner ADAPTER]
 * (bench/run_multi_bench.sh starts a Release socled on models/socle-mini and runs this.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clients/socle.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static const char *who[] = {"Marie Curie",          "Barack Obama",           "the mayor of Lyon",
                            "Angela Merkel",        "a spokesman for Google", "Lionel Messi",
                            "the French government"};
static const char *verb[] = {"praised", "criticised", "announced",
                             "visited", "welcomed",   "rejected"};
static const char *what[] = {"the new stadium in Paris",
                             "the merger of two banks in London",
                             "a plan for schools in Berlin",
                             "the film festival in Cannes",
                             "the research centre at Oxford University",
                             "a disappointing deal with Microsoft"};
static const char *tail[] = {".", " on Monday, to the surprise of many observers.",
                             " after a long and difficult week of negotiations in Brussels.",
                             ", saying it was a wonderful day for everyone involved."};

static Socle__V1__Response *call(struct socle_client *c, Socle__V1__Request *req) {
    Socle__V1__Response *r = NULL;
    if (socle_client_call(c, req, &r) != SOCLE_OK || !r || !r->status ||
        r->status->code != SOCLE__V1__CODE__OK) {
        fprintf(stderr, "multi_bench: request failed: %s\n",
                r && r->status && r->status->message ? r->status->message : "no answer");
        exit(1);
    }
    return r;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: multi_bench ENDPOINT [--n N] [--repeat R] [--classify A] "
                        "[--ner A]\n");
        return 2;
    }
    size_t n = 100;
    int repeat = 5;
    const char *cl_ad = "sentiment", *ner_ad = "ner";
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--n") == 0)
            n = (size_t)strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--repeat") == 0)
            repeat = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--classify") == 0)
            cl_ad = argv[i + 1];
        else if (strcmp(argv[i], "--ner") == 0)
            ner_ad = argv[i + 1];
    }
    if (!n || repeat < 1 || repeat > 100)
        return 2;
    char **texts = calloc(n, sizeof *texts);
    ProtobufCBinaryData *bins = calloc(n, sizeof *bins);
    if (!texts || !bins)
        return 1;
    for (size_t i = 0; i < n; i++) {
        char buf[512];
        snprintf(buf, sizeof buf, "%s %s %s%s", who[i % 7], verb[(i / 7) % 6], what[(i / 3) % 6],
                 tail[(i / 2) % 4]);
        texts[i] = strdup(buf);
        bins[i] = (ProtobufCBinaryData){strlen(buf), (uint8_t *)texts[i]};
    }
    struct socle_client_opts o = socle_client_opts_default();
    o.timeout_ms = 120000;
    o.retries = 0;
    struct socle_client *c = NULL;
    if (socle_client_new(argv[1], &o, &c) != SOCLE_OK) {
        fprintf(stderr, "multi_bench: cannot connect to %s\n", argv[1]);
        return 1;
    }
    Socle__V1__ClassifyRequest cl = SOCLE__V1__CLASSIFY_REQUEST__INIT;
    cl.n_texts = n;
    cl.texts = bins;
    Socle__V1__Request rc = SOCLE__V1__REQUEST__INIT;
    rc.adapter = (char *)(uintptr_t)cl_ad;
    rc.task_case = SOCLE__V1__REQUEST__TASK_CLASSIFY;
    rc.classify = &cl;
    Socle__V1__NerRequest ner = SOCLE__V1__NER_REQUEST__INIT;
    ner.n_texts = n;
    ner.texts = bins;
    ner.aggregation = SOCLE__V1__AGGREGATION__AGGREGATION_SIMPLE;
    Socle__V1__Request rn = SOCLE__V1__REQUEST__INIT;
    rn.adapter = (char *)(uintptr_t)ner_ad;
    rn.task_case = SOCLE__V1__REQUEST__TASK_NER;
    rn.ner = &ner;
    Socle__V1__ClassifyRequest mcl = SOCLE__V1__CLASSIFY_REQUEST__INIT;
    Socle__V1__NerRequest mner = SOCLE__V1__NER_REQUEST__INIT;
    mner.aggregation = SOCLE__V1__AGGREGATION__AGGREGATION_SIMPLE;
    Socle__V1__SubTask t0 = SOCLE__V1__SUB_TASK__INIT, t1 = SOCLE__V1__SUB_TASK__INIT;
    t0.adapter = (char *)(uintptr_t)cl_ad;
    t0.task_case = SOCLE__V1__SUB_TASK__TASK_CLASSIFY;
    t0.classify = &mcl;
    t1.adapter = (char *)(uintptr_t)ner_ad;
    t1.task_case = SOCLE__V1__SUB_TASK__TASK_NER;
    t1.ner = &mner;
    Socle__V1__SubTask *ts[2] = {&t0, &t1};
    Socle__V1__MultiRequest m = SOCLE__V1__MULTI_REQUEST__INIT;
    m.n_texts = n;
    m.texts = bins;
    m.n_tasks = 2;
    m.tasks = ts;
    Socle__V1__Request rm = SOCLE__V1__REQUEST__INIT;
    rm.task_case = SOCLE__V1__REQUEST__TASK_MULTI;
    rm.multi = &m;

    double t_two[100], t_pip[100], t_multi[100];
    uint64_t tok_two = 0, tok_multi = 0;
    for (int rep = -1; rep < repeat; rep++) { /* rep -1: warm-up */
        double t = now_s();
        Socle__V1__Response *a = call(c, &rc), *b = call(c, &rn);
        double d_two = now_s() - t;
        t = now_s();
        Socle__V1__Response *p = NULL, *q = NULL;
        uint64_t id1 = 0, id2 = 0;
        if (socle_client_send(c, &rc, &id1) != SOCLE_OK ||
            socle_client_send(c, &rn, &id2) != SOCLE_OK || socle_client_recv(c, &p) != SOCLE_OK ||
            socle_client_recv(c, &q) != SOCLE_OK || !p || !q || p->status->code ||
            q->status->code) {
            fprintf(stderr, "multi_bench: pipelined requests failed\n");
            return 1;
        }
        double d_pip = now_s() - t;
        t = now_s();
        Socle__V1__Response *mr = call(c, &rm);
        double d_multi = now_s() - t;
        /* same work: the multi answer holds what the two requests answered */
        if (!mr->multi || mr->multi->n_results != 2 || !mr->multi->results[0]->classify ||
            !mr->multi->results[1]->ner || mr->multi->results[0]->classify->n_outputs != n ||
            mr->multi->results[1]->ner->n_outputs != n) {
            fprintf(stderr, "multi_bench: malformed multi answer\n");
            return 1;
        }
        for (size_t i = 0; i < n; i++) {
            const Socle__V1__ClassifyOutput *u = a->classify->outputs[i],
                                            *v = mr->multi->results[0]->classify->outputs[i];
            if (u->n_labels != v->n_labels || !u->n_labels ||
                strcmp(u->labels[0]->label, v->labels[0]->label) != 0 ||
                b->ner->outputs[i]->n_entities !=
                    mr->multi->results[1]->ner->outputs[i]->n_entities) {
                fprintf(stderr, "multi_bench: text %zu: multi differs from the two requests\n", i);
                return 1;
            }
        }
        tok_two = a->n_tokens + b->n_tokens;
        tok_multi = mr->n_tokens;
        socle_response_free(a);
        socle_response_free(b);
        socle_response_free(p);
        socle_response_free(q);
        socle_response_free(mr);
        if (rep >= 0) {
            t_two[rep] = d_two;
            t_pip[rep] = d_pip;
            t_multi[rep] = d_multi;
        }
    }
    qsort(t_two, (size_t)repeat, sizeof *t_two, cmp_d);
    qsort(t_pip, (size_t)repeat, sizeof *t_pip, cmp_d);
    qsort(t_multi, (size_t)repeat, sizeof *t_multi, cmp_d);
    double m2 = t_two[repeat / 2], mp = t_pip[repeat / 2], mm = t_multi[repeat / 2];
    printf("classify(%s) + ner(%s), %zu texts, median of %d (min in brackets)\n", cl_ad, ner_ad, n,
           repeat);
    printf("  two requests, sequential  %8.1f ms  [%8.1f]  model tokens %llu\n", m2 * 1e3,
           t_two[0] * 1e3, (unsigned long long)tok_two);
    printf("  two requests, pipelined   %8.1f ms  [%8.1f]\n", mp * 1e3, t_pip[0] * 1e3);
    printf("  one multi request         %8.1f ms  [%8.1f]  model tokens %llu\n", mm * 1e3,
           t_multi[0] * 1e3, (unsigned long long)tok_multi);
    printf("  ratio two/multi: sequential %.2fx, pipelined %.2fx\n", m2 / mm, mp / mm);
    socle_client_free(c);
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    free(bins);
    return 0;
}
