/* sgemm_peak.c — OpenBLAS sgemm speed on every shape of a BERT-base forward.
 *
 *   sgemm_peak [--threads 1,2] [--batch 1,8,32] [--seq 128] [--repeat 5] [--min-time 0.05]
 *              [--layers 12 --d-model 768 --heads 12 --d-ff 3072]
 *
 * Prints JSON lines: a stamp, one line per (threads, batch, shape) with GFLOP/s median / min /
 * max over the repeats, then one summary per (threads, batch): the sgemm floor of the whole
 * forward (weights hot in cache, and cold: rotating over one copy per layer) and the FFN-up
 * GFLOP/s. The "peak" of a thread count is the best median over every
 * shape and batch measured, normally FFN-up at the largest batch; each shape's fraction of it
 * shows where OpenBLAS is weak (small M at batch 1, the 64-wide attention products).
 * Needs no model and no engine.
 */
#include "bench/sgemm_shapes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LIST 8

static int parse_list(const char *s, int *out, int cap) {
    int n = 0;
    while (*s && n < cap) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v <= 0 || v > 1 << 20)
            return -1;
        out[n++] = (int)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return *s ? -1 : n;
}

static void usage(void) {
    fprintf(stderr, "usage: sgemm_peak [--threads 1,2] [--batch 1,8,32] [--seq 128] [--repeat 5]\n"
                    "                  [--min-time 0.05] [--layers 12] [--d-model 768] [--heads 12]\n"
                    "                  [--d-ff 3072]\n");
}

int main(int argc, char **argv) {
    int threads[MAX_LIST] = {1, 2}, n_threads = 2;
    int batch[MAX_LIST] = {1, 8, 32}, n_batch = 3;
    int seq = 128, repeat = 5, layers = 12, d_model = 768, heads = 12, d_ff = 3072;
    double min_time = 0.05;
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = v != NULL;
        if (ok && strcmp(k, "--threads") == 0)
            ok = (n_threads = parse_list(v, threads, MAX_LIST)) > 0;
        else if (ok && strcmp(k, "--batch") == 0)
            ok = (n_batch = parse_list(v, batch, MAX_LIST)) > 0;
        else if (ok && strcmp(k, "--seq") == 0)
            ok = (seq = atoi(v)) > 0;
        else if (ok && strcmp(k, "--repeat") == 0)
            ok = (repeat = atoi(v)) > 0;
        else if (ok && strcmp(k, "--min-time") == 0)
            ok = (min_time = atof(v)) >= 0;
        else if (ok && strcmp(k, "--layers") == 0)
            ok = (layers = atoi(v)) > 0;
        else if (ok && strcmp(k, "--d-model") == 0)
            ok = (d_model = atoi(v)) > 0;
        else if (ok && strcmp(k, "--heads") == 0)
            ok = (heads = atoi(v)) > 0 && d_model % heads == 0;
        else if (ok && strcmp(k, "--d-ff") == 0)
            ok = (d_ff = atoi(v)) > 0;
        else
            ok = 0;
        if (!ok) {
            usage();
            return 2;
        }
        i++;
    }

    bench_print_stamp(stdout, "sgemm_peak");
    for (int t = 0; t < n_threads; t++) {
        bench_blas_threads(threads[t]);
        char tag[64];
        snprintf(tag, sizeof tag, "\"threads\": %d", threads[t]);
        struct bench_floor fl[MAX_LIST];
        double peak = 0;
        for (int b = 0; b < n_batch; b++) {
            if (bench_sgemm_floor(layers, d_model, heads, d_ff, batch[b], seq, repeat, min_time,
                                  true, stdout, tag, &fl[b]) != 0) {
                fprintf(stderr, "sgemm_peak: out of memory\n");
                return 1;
            }
            if (fl[b].ffn_up_gflops > peak)
                peak = fl[b].ffn_up_gflops;
            fflush(stdout);
        }
        for (int b = 0; b < n_batch; b++) {
            double gf = bench_bert_gflop(layers, d_model, d_ff, batch[b], seq);
            printf("{\"impl\": \"openblas_sgemm_floor\", %s, \"batch\": %d, \"seq\": %d, "
                   "\"forward_gflop\": %.3f, \"floor_ms\": %.2f, \"floor_cold_ms\": %.2f, "
                   "\"floor_gflops\": %.2f, "
                   "\"ffn_up_gflops\": %.2f, \"peak_gflops\": %.2f, \"floor_frac_of_peak\": %.3f}\n",
                   tag, batch[b], seq, gf, 1e3 * fl[b].floor_s, 1e3 * fl[b].floor_cold_s,
                   gf / fl[b].floor_s,
                   fl[b].ffn_up_gflops, peak, gf / fl[b].floor_s / peak);
        }
        fflush(stdout);
    }
    return 0;
}
