/* socle-forward — run a checkpoint on token ids and print its outputs as JSON in
 * the shape of the fixtures' reference.json, so any model can be compared with
 * HuggingFace transformers by a short script. See docs/engine.md.
 */
#include "engine/eng.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: socle-forward --model DIR --ids IDS.txt [--type-ids T.txt] "
            "[--hidden-states] [--threads N]\n"
            "  IDS.txt: one sequence per line, token ids separated by spaces.\n"
            "  Prints {\"model_dir\", \"class\", \"model_type\", \"inputs\", \"outputs\": [...]}\n"
            "  with last_hidden_state, pooler_output, logits, start_logits, end_logits\n"
            "  and (--hidden-states) hidden_states per sequence.\n");
}

struct seqs {
    int32_t *ids;
    size_t *len;
    size_t n_seqs, n_tokens;
};

/* One sequence per non-empty line of integers. */
static int read_seqs(const char *path, struct seqs *s) {
    FILE *fp = fopen(path, "r");
    if (!fp) {
        fprintf(stderr, "socle-forward: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap_t = 0, cap_s = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t got;
    int rc = 0;
    memset(s, 0, sizeof *s);
    while ((got = getline(&line, &lcap, fp)) >= 0) {
        char *p = line, *end;
        size_t len = 0;
        for (;;) {
            while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
                p++;
            if (!*p)
                break;
            errno = 0;
            long v = strtol(p, &end, 10);
            if (end == p || errno || v < INT32_MIN || v > INT32_MAX) {
                fprintf(stderr, "socle-forward: %s: line %zu: not a token id: '%.20s'\n", path,
                        s->n_seqs + 1, p);
                rc = -1;
                goto done;
            }
            p = end;
            if (s->n_tokens == cap_t) {
                cap_t = cap_t ? 2 * cap_t : 1024;
                int32_t *n = realloc(s->ids, cap_t * sizeof *n);
                if (!n) {
                    rc = -1;
                    goto done;
                }
                s->ids = n;
            }
            s->ids[s->n_tokens++] = (int32_t)v;
            len++;
        }
        if (len == 0)
            continue;
        if (s->n_seqs == cap_s) {
            cap_s = cap_s ? 2 * cap_s : 64;
            size_t *n = realloc(s->len, cap_s * sizeof *n);
            if (!n) {
                rc = -1;
                goto done;
            }
            s->len = n;
        }
        s->len[s->n_seqs++] = len;
    }
done:
    free(line);
    fclose(fp);
    return rc;
}

static void print_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

/* %.9g round-trips a float exactly. */
static void print_vec(const float *v, size_t n) {
    putchar('[');
    for (size_t i = 0; i < n; i++)
        printf(i ? ",%.9g" : "%.9g", (double)v[i]);
    putchar(']');
}

static void print_mat(const float *v, size_t rows, size_t cols) {
    putchar('[');
    for (size_t r = 0; r < rows; r++) {
        if (r)
            putchar(',');
        print_vec(v + r * cols, cols);
    }
    putchar(']');
}

int main(int argc, char **argv) {
    const char *model_dir = NULL, *ids_path = NULL, *types_path = NULL;
    bool hidden_states = false;
    int threads = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--model") == 0 && i + 1 < argc)
            model_dir = argv[++i];
        else if (strcmp(argv[i], "--ids") == 0 && i + 1 < argc)
            ids_path = argv[++i];
        else if (strcmp(argv[i], "--type-ids") == 0 && i + 1 < argc)
            types_path = argv[++i];
        else if (strcmp(argv[i], "--hidden-states") == 0)
            hidden_states = true;
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!model_dir || !ids_path) {
        usage(stderr);
        return 2;
    }
    if (threads > 0)
        eng_set_blas_threads(threads);
    struct seqs s = {0}, t = {0};
    struct eng_model *m = NULL;
    struct eng_ctx *ctx = NULL;
    int status = 1;
    char err[512];
    if (read_seqs(ids_path, &s) != 0)
        goto done;
    if (types_path) {
        if (read_seqs(types_path, &t) != 0)
            goto done;
        bool same = t.n_seqs == s.n_seqs;
        for (size_t i = 0; same && i < s.n_seqs; i++)
            same = t.len[i] == s.len[i];
        if (!same) {
            fprintf(stderr, "socle-forward: %s and %s disagree on sequence lengths\n", ids_path,
                    types_path);
            goto done;
        }
    }
    int rc = eng_model_load(model_dir, NULL, &m, err, sizeof err);
    if (rc != ENG_OK) {
        fprintf(stderr, "socle-forward: %s (%s)\n", err, eng_strerror(rc));
        goto done;
    }
    const struct eng_model_info *in = eng_model_get_info(m);
    if ((rc = eng_ctx_new(m, s.n_tokens ? s.n_tokens : 1, &ctx)) != ENG_OK) {
        fprintf(stderr, "socle-forward: context: %s\n", eng_strerror(rc));
        goto done;
    }
    struct eng_batch b = {
        .n_seqs = s.n_seqs, .seq_len = s.len, .ids = s.ids, .type_ids = types_path ? t.ids : NULL};
    struct eng_output o;
    unsigned want = ENG_WANT_HIDDEN | ENG_WANT_POOLER | ENG_WANT_HEAD |
                    (hidden_states ? ENG_WANT_ALL_LAYERS : 0u);
    if ((rc = eng_ctx_forward(ctx, &b, want, &o)) != ENG_OK) {
        fprintf(stderr, "socle-forward: %s (%s)\n", eng_ctx_last_error(ctx), eng_strerror(rc));
        goto done;
    }
    size_t d = (size_t)in->d_model, nl = (size_t)in->n_labels;
    printf("{\"model_dir\":");
    print_str(model_dir);
    printf(",\"class\":");
    print_str(in->architecture);
    printf(",\"model_type\":");
    print_str(in->model_type);
    printf(",\"weights_dtype\":");
    print_str(in->weights_dtype);
    printf(",\"compute_dtype\":\"float32\",\"token_type_ids\":%s", types_path ? "true" : "false");
    printf(",\"inputs\":[");
    for (size_t i = 0, tok = 0; i < s.n_seqs; tok += s.len[i], i++) {
        printf(i ? ",[" : "[");
        for (size_t j = 0; j < s.len[i]; j++)
            printf(j ? ",%d" : "%d", (int)s.ids[tok + j]);
        putchar(']');
    }
    printf("],\"outputs\":[");
    for (size_t i = 0, tok = 0; i < s.n_seqs; tok += s.len[i], i++) {
        size_t L = s.len[i];
        printf(i ? ",{" : "{");
        printf("\"length\":%zu,\"last_hidden_state\":", L);
        print_mat(o.last_hidden + tok * d, L, d);
        if (o.pooler) {
            printf(",\"pooler_output\":");
            print_vec(o.pooler + i * d, d);
        }
        if (o.logits && in->head == ENG_HEAD_SEQCLS) {
            printf(",\"logits\":");
            print_vec(o.logits + i * nl, nl);
        } else if (o.logits) {
            printf(",\"logits\":");
            print_mat(o.logits + tok * nl, L, nl);
        }
        if (o.start_logits) {
            printf(",\"start_logits\":");
            print_vec(o.start_logits + tok, L);
            printf(",\"end_logits\":");
            print_vec(o.end_logits + tok, L);
        }
        if (o.all_layers) {
            printf(",\"hidden_states\":[");
            for (int l = 0; l <= in->n_layers; l++) {
                if (l)
                    putchar(',');
                print_mat(o.all_layers + ((size_t)l * o.n_tokens + tok) * d, L, d);
            }
            putchar(']');
        }
        putchar('}');
    }
    printf("]}\n");
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "socle-forward: write error\n");
        goto done;
    }
    status = 0;
done:
    eng_ctx_free(ctx);
    eng_model_free(m);
    free(s.ids);
    free(s.len);
    free(t.ids);
    free(t.len);
    return status;
}
