/* tok_bench.c — single-thread throughput of socle_tokenizer (tok_encode, line by line).
 *
 * DESIGN. Reads a text file (one input per line, empty lines skipped: the same rule as
 * tok_bench_hf.js so both sides see identical inputs), loads one tokenizer.json, then:
 *   1. validates: the token count of every line (with special tokens, the file's
 *      truncation) against counts from HF (--expect FILE, one count per line, written by
 *      tok_bench_hf.js) and prints the number of mismatching lines; --counts FILE writes ours;
 *   2. times --warmup passes (discarded) then --repeats passes over all lines with
 *      tok_encode (and, with --count-too, tok_count), reporting median, min and max wall
 *      time, MB/s and tokens/s at the median, and the median process CPU time.
 * Each result is one "RESULT key=value ..." line for run_tok_bench.sh, after a stamp
 * (commit, compiler, flags, CPU). The process is single-threaded. Exit code 77 (skipped)
 * when the tokenizer file is not there, for the bench-smoke ctest.
 */
#include "tokenizer/tok.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef TOK_BENCH_FLAGS
#define TOK_BENCH_FLAGS "unknown"
#endif

struct text {
    char *buf;
    size_t len;
    const char **line; /* (n_lines) */
    size_t *line_len;  /* (n_lines) */
    size_t n_lines;
    size_t bytes; /* sum of line_len */
};

static int text_load(const char *path, struct text *t)
{
    memset(t, 0, sizeof *t);
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t cap = 1 << 20;
    t->buf = malloc(cap);
    for (;;) {
        if (t->len == cap) {
            cap *= 2;
            t->buf = realloc(t->buf, cap);
        }
        size_t r = fread(t->buf + t->len, 1, cap - t->len, f);
        if (r == 0)
            break;
        t->len += r;
    }
    fclose(f);
    size_t lcap = 1024;
    t->line = malloc(lcap * sizeof *t->line);
    t->line_len = malloc(lcap * sizeof *t->line_len);
    for (size_t i = 0; i < t->len;) {
        char *nl = memchr(t->buf + i, '\n', t->len - i);
        size_t e = nl ? (size_t)(nl - t->buf) : t->len;
        size_t l = e - i;
        if (l > 0 && t->buf[e - 1] == '\r')
            l--; /* same as JS split(/\r?\n/) */
        if (l > 0) {
            if (t->n_lines == lcap) {
                lcap *= 2;
                t->line = realloc(t->line, lcap * sizeof *t->line);
                t->line_len = realloc(t->line_len, lcap * sizeof *t->line_len);
            }
            t->line[t->n_lines] = t->buf + i;
            t->line_len[t->n_lines++] = l;
            t->bytes += l;
        }
        i = e + 1;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b);

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of the process: on a loaded shared machine it moves much less than wall time
 * (preemption does not count), so it is reported next to it. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void stamp(void)
{
    char commit[64] = "unknown";
    FILE *p = popen("git rev-parse --short HEAD 2>/dev/null && git status --porcelain "
                    "--untracked-files=no 2>/dev/null | head -c1",
                    "r");
    if (p) {
        if (fgets(commit, sizeof commit, p))
            commit[strcspn(commit, "\n")] = '\0';
        int c = fgetc(p);
        if (c != EOF && strlen(commit) + 7 < sizeof commit)
            strcat(commit, "-dirty");
        pclose(p);
    }
    char cpu[256] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "model name", 10) == 0) {
                char *c = strchr(line, ':');
                if (c) {
                    snprintf(cpu, sizeof cpu, "%s", c + 2);
                    cpu[strcspn(cpu, "\n")] = '\0';
                }
                break;
            }
        }
        fclose(f);
    }
#ifdef __VERSION__
    const char *cc = __VERSION__;
#else
    const char *cc = "unknown";
#endif
    printf("# socle tok_bench: commit %s, compiler %s, flags %s, cpu %s, threads 1\n", commit, cc,
           TOK_BENCH_FLAGS, cpu);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: tok_bench --tokenizer PATH --text FILE [--name NAME] [--repeats 5]\n"
            "                 [--warmup 1] [--expect COUNTS] [--counts OUT] [--count-too]\n"
            "                 [--no-special]\n");
}

int main(int argc, char **argv)
{
    const char *tok_path = NULL, *text_path = NULL, *name = NULL, *expect = NULL, *counts = NULL;
    int repeats = 5, warmup = 1;
    bool count_too = false, special = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--tokenizer") && v)
            tok_path = argv[++i];
        else if (!strcmp(a, "--text") && v)
            text_path = argv[++i];
        else if (!strcmp(a, "--name") && v)
            name = argv[++i];
        else if (!strcmp(a, "--repeats") && v)
            repeats = atoi(argv[++i]);
        else if (!strcmp(a, "--warmup") && v)
            warmup = atoi(argv[++i]);
        else if (!strcmp(a, "--expect") && v)
            expect = argv[++i];
        else if (!strcmp(a, "--counts") && v)
            counts = argv[++i];
        else if (!strcmp(a, "--count-too"))
            count_too = true;
        else if (!strcmp(a, "--no-special"))
            special = false;
        else {
            usage();
            return 2;
        }
    }
    if (!tok_path || !text_path || repeats < 1 || warmup < 0) {
        usage();
        return 2;
    }
    if (!name)
        name = tok_path;

    if (access(tok_path, R_OK) != 0) {
        fprintf(stderr, "tok_bench: %s not readable: skipped\n", tok_path);
        return 77; /* ctest's "skipped" for the bench-smoke test without ../shared */
    }
    struct text t;
    if (text_load(text_path, &t) != 0) {
        fprintf(stderr, "tok_bench: cannot read %s\n", text_path);
        return 1;
    }
    char err[512] = "";
    struct tok_tokenizer *tok = NULL;
    double t0 = now_s();
    int rc = tok_tokenizer_load(tok_path, &tok, err, sizeof err);
    double load_s = now_s() - t0;
    if (rc != TOK_OK) {
        fprintf(stderr, "tok_bench: %s: %s (%s)\n", tok_path, tok_strerror(rc), err);
        return 1;
    }
    stamp();
    printf("# %s: %zu lines, %zu bytes, loaded in %.1f ms, model %s\n", name, t.n_lines, t.bytes,
           load_s * 1e3, tok_model_name(tok));

    struct tok_encode_params params = tok_encode_params_default();
    params.add_special_tokens = special;

    /* 1. validation: per-line counts, ours vs HF's */
    size_t *ours = malloc(t.n_lines * sizeof *ours);
    size_t total_tokens = 0, errors = 0;
    for (size_t i = 0; i < t.n_lines; i++) {
        struct tok_encoding *enc = NULL;
        size_t off = 0;
        rc = tok_encode(tok, t.line[i], t.line_len[i], NULL, 0, &params, &enc, &off);
        if (rc != TOK_OK) {
            if (errors++ < 3)
                fprintf(stderr, "tok_bench: line %zu: %s\n", i + 1, tok_strerror(rc));
            ours[i] = 0;
            continue;
        }
        ours[i] = enc->n_tokens;
        total_tokens += enc->n_tokens;
        tok_encoding_free(enc);
    }
    if (counts) {
        FILE *f = fopen(counts, "w");
        for (size_t i = 0; f && i < t.n_lines; i++)
            fprintf(f, "%zu\n", ours[i]);
        if (f)
            fclose(f);
    }
    long mismatches = -1;
    if (expect) {
        FILE *f = fopen(expect, "r");
        if (!f) {
            fprintf(stderr, "tok_bench: cannot read %s\n", expect);
            return 1;
        }
        mismatches = 0;
        size_t i = 0, want;
        size_t hf_tokens = 0;
        while (fscanf(f, "%zu", &want) == 1) {
            if (i < t.n_lines && ours[i] != want) {
                if (mismatches < 5)
                    fprintf(stderr, "# %s: line %zu: %zu tokens, HF %zu\n", name, i + 1, ours[i],
                            want);
                mismatches++;
            }
            hf_tokens += want;
            i++;
        }
        fclose(f);
        if (i != t.n_lines) {
            fprintf(stderr, "tok_bench: %s has %zu counts for %zu lines\n", expect, i, t.n_lines);
            mismatches += (long)(i > t.n_lines ? i - t.n_lines : t.n_lines - i);
        }
        printf("# %s: validation: %ld of %zu lines differ in token count from HF (%zu tokens "
               "ours, %zu HF), %zu encode errors\n",
               name, mismatches, t.n_lines, total_tokens, hf_tokens, errors);
    }

    /* 2. timing */
    double *wall = malloc((size_t)repeats * sizeof *wall);
    double *cpu = malloc((size_t)repeats * sizeof *cpu);
    for (int mode = 0; mode < (count_too ? 2 : 1); mode++) {
        size_t tokens = 0;
        for (int r = -warmup; r < repeats; r++) {
            size_t n_tok = 0;
            double c0 = cpu_s();
            double s = now_s();
            for (size_t i = 0; i < t.n_lines; i++) {
                if (mode == 0) {
                    struct tok_encoding *enc = NULL;
                    if (tok_encode(tok, t.line[i], t.line_len[i], NULL, 0, &params, &enc, NULL) ==
                        TOK_OK) {
                        n_tok += enc->n_tokens;
                        tok_encoding_free(enc);
                    }
                } else {
                    size_t n = 0;
                    if (tok_count(tok, t.line[i], t.line_len[i], special, &n, NULL) == TOK_OK)
                        n_tok += n;
                }
            }
            double e = now_s() - s;
            double ce = cpu_s() - c0;
            if (r >= 0) {
                wall[r] = e;
                cpu[r] = ce;
            }
            tokens = n_tok;
        }
        double med = median(wall, repeats);
        double cmed = median(cpu, repeats);
        printf("RESULT impl=socle tok=%s mode=%s lines=%zu bytes=%zu tokens=%zu repeats=%d "
               "median_s=%.6f min_s=%.6f max_s=%.6f spread_pct=%.1f mbps=%.3f ktokps=%.1f "
               "cpu_median_s=%.6f cpu_mbps=%.3f mismatches=%ld\n",
               name, mode == 0 ? "encode" : "count", t.n_lines, t.bytes, tokens, repeats, med,
               wall[0], wall[repeats - 1], 100.0 * (wall[repeats - 1] - wall[0]) / med,
               (double)t.bytes / med / 1e6, (double)tokens / med / 1e3, cmed,
               (double)t.bytes / cmed / 1e6, mismatches);
        fflush(stdout);
    }
    free(wall);
    free(cpu);
    free(ours);
    tok_tokenizer_free(tok);
    free(t.buf);
    free(t.line);
    free(t.line_len);
    return 0;
}
