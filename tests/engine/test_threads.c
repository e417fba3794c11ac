/* test_threads.c — one immutable model, two threads each with its own context
 * running forwards at the same time: every output bit-identical to the same
 * batch run alone on the main thread first. With a second argument, each context also
 * has that many threads of its own (helper pool) on every loop, however small: under
 * ThreadSanitizer this checks the forward's hand-offs to the helpers. */
#include "engine/eng_impl.h"
#include "tests/engine/eng_testutil.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define N_THREADS 2
#define N_ROUNDS 6

struct job {
    const struct eng_model *m;
    const struct etu_seqs *ids;
    size_t first, count; /* sequences [first, first + count) */
    float *expect;       /* (n_tokens of the slice, n_labels) logits */
    size_t n_tok, tok0;
    int mismatches, errors;
    int ctx_threads; /* 0: the default */
};

static void *worker(void *arg) {
    struct job *j = arg;
    struct eng_ctx *c;
    if (eng_ctx_new(j->m, j->n_tok, &c) != ENG_OK) {
        j->errors++;
        return NULL;
    }
    if (j->ctx_threads > 0) {
        j->errors += eng_ctx_set_threads(c, j->ctx_threads) != ENG_OK;
        eng_ctx_set_par_min(c, 1);
    }
    size_t nl = (size_t)eng_model_get_info(j->m)->n_labels;
    struct eng_batch b = {
        .n_seqs = j->count, .seq_len = j->ids->len + j->first, .ids = j->ids->ids + j->tok0};
    for (int r = 0; r < N_ROUNDS; r++) {
        struct eng_output o;
        if (eng_ctx_forward(c, &b, ENG_WANT_HEAD, &o) != ENG_OK) {
            j->errors++;
            break;
        }
        if (memcmp(o.logits, j->expect, j->n_tok * nl * sizeof(float)) != 0)
            j->mismatches++;
    }
    eng_ctx_free(c);
    return NULL;
}

int main(int argc, char **argv) {
    char fx[4096], p[4300], err[512];
    if (!etu_fixture_dir("roberta-tokcls", fx, sizeof fx))
        return ETU_SKIP;
    struct eng_model *m;
    if (eng_model_load(fx, NULL, &m, err, sizeof err) != ENG_OK) {
        fprintf(stderr, "load: %s\n", err);
        return 1;
    }
    /* argv[1]: BLAS threads per sgemm (1 = the recommended workers x 1; 2 checks
     * that concurrent callers of a threaded OpenBLAS still get exact results). */
    eng_set_blas_threads(argc > 1 ? atoi(argv[1]) : 1);
    int ctx_threads = argc > 2 ? atoi(argv[2]) : 0; /* after the expected outputs: 1 thread */
    struct etu_seqs ids;
    snprintf(p, sizeof p, "%s/ids.txt", fx);
    etu_read_seqs(p, &ids);
    size_t nl = (size_t)eng_model_get_info(m)->n_labels;
    struct job jobs[N_THREADS];
    size_t per = ids.n_seqs / N_THREADS, tok = 0;
    for (int t = 0; t < N_THREADS; t++) {
        struct job *j = &jobs[t];
        memset(j, 0, sizeof *j);
        j->m = m;
        j->ids = &ids;
        j->first = (size_t)t * per;
        j->count = t == N_THREADS - 1 ? ids.n_seqs - j->first : per;
        j->ctx_threads = ctx_threads;
        j->tok0 = tok;
        for (size_t s = 0; s < j->count; s++)
            j->n_tok += ids.len[j->first + s];
        tok += j->n_tok;
        /* Expected: the same batch on this thread, before any concurrency. */
        struct eng_ctx *c;
        eng_ctx_new(m, j->n_tok, &c);
        struct eng_batch b = {
            .n_seqs = j->count, .seq_len = ids.len + j->first, .ids = ids.ids + j->tok0};
        struct eng_output o;
        if (eng_ctx_forward(c, &b, ENG_WANT_HEAD, &o) != ENG_OK)
            return 1;
        j->expect = malloc(j->n_tok * nl * sizeof(float));
        memcpy(j->expect, o.logits, j->n_tok * nl * sizeof(float));
        eng_ctx_free(c);
    }
    pthread_t th[N_THREADS];
    for (int t = 0; t < N_THREADS; t++)
        pthread_create(&th[t], NULL, worker, &jobs[t]);
    int bad = 0;
    for (int t = 0; t < N_THREADS; t++) {
        pthread_join(th[t], NULL);
        printf("thread %d: %zu sequences, %zu tokens, %d rounds: %d mismatches, %d errors\n", t,
               jobs[t].count, jobs[t].n_tok, N_ROUNDS, jobs[t].mismatches, jobs[t].errors);
        bad += jobs[t].mismatches + jobs[t].errors;
        free(jobs[t].expect);
    }
    etu_seqs_free(&ids);
    eng_model_free(m);
    return bad ? 1 : 0;
}
