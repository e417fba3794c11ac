/* test_golden.c <fixture> — our outputs against HuggingFace transformers 4.37.2's
 * (reference.json.gz), every value of every sequence within
 * |ours - ref| <= 1e-4 + 1e-4 |ref|: each sequence run alone, all packed in one
 * batch, and shuffled into random-sized sub-batches. */
#include "tests/engine/eng_testutil.h"

#include "engine/eng_impl.h" /* eng_ctx_shrink_chunk */

#include <stdlib.h>
#include <string.h>

static size_t n_checked, n_bad;
static double worst;

static void check_vals(const char *what, size_t seq, const float *ours, struct json_object *ref,
                       size_t n) {
    if (!json_object_is_type(ref, json_type_array) || json_object_array_length(ref) != n) {
        fprintf(stderr, "seq %zu %s: reference has %zu values, we have %zu\n", seq, what,
                json_object_is_type(ref, json_type_array) ? json_object_array_length(ref) : 0, n);
        n_bad++;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        double r = json_object_get_double(json_object_array_get_idx(ref, i));
        double e = (double)ours[i] - r;
        e = e < 0 ? -e : e;
        if (e / (1e-4 + 1e-4 * (r < 0 ? -r : r)) > worst)
            worst = e / (1e-4 + 1e-4 * (r < 0 ? -r : r));
        n_checked++;
        if (!etu_close(ours[i], r)) {
            if (n_bad < 10)
                fprintf(stderr, "seq %zu %s[%zu]: ours %.9g ref %.9g\n", seq, what, i,
                        (double)ours[i], r);
            n_bad++;
        }
    }
}

static void check_mat(const char *what, size_t seq, const float *ours, struct json_object *ref,
                      size_t rows, size_t cols) {
    if (!json_object_is_type(ref, json_type_array) || json_object_array_length(ref) != rows) {
        fprintf(stderr, "seq %zu %s: reference rows differ\n", seq, what);
        n_bad++;
        return;
    }
    char w[64];
    for (size_t r = 0; r < rows; r++) {
        snprintf(w, sizeof w, "%s[%zu]", what, r);
        check_vals(w, seq, ours + r * cols, json_object_array_get_idx(ref, r), cols);
    }
}

/* Compare sequence `seq` (slot s of the batch, tokens from tok) with its reference. */
static void check_seq(const struct eng_model_info *in, struct json_object *ref, size_t seq,
                      const struct eng_output *o, size_t s, size_t tok, size_t L) {
    size_t d = (size_t)in->d_model, nl = (size_t)in->n_labels;
    int fields = 0;
    json_object_object_foreach(ref, key, val) {
        if (strcmp(key, "length") == 0) {
            if ((size_t)json_object_get_int64(val) != L) {
                fprintf(stderr, "seq %zu: length differs\n", seq);
                n_bad++;
            }
        } else if (strcmp(key, "last_hidden_state") == 0) {
            check_mat(key, seq, o->last_hidden + tok * d, val, L, d);
            fields++;
        } else if (strcmp(key, "pooler_output") == 0 && o->pooler) {
            check_vals(key, seq, o->pooler + s * d, val, d);
            fields++;
        } else if (strcmp(key, "logits") == 0 && o->logits && in->head == ENG_HEAD_SEQCLS) {
            check_vals(key, seq, o->logits + s * nl, val, nl);
            fields++;
        } else if (strcmp(key, "logits") == 0 && o->logits && in->head == ENG_HEAD_TOKCLS) {
            check_mat(key, seq, o->logits + tok * nl, val, L, nl);
            fields++;
        } else if (strcmp(key, "start_logits") == 0 && o->start_logits) {
            check_vals(key, seq, o->start_logits + tok, val, L);
            fields++;
        } else if (strcmp(key, "end_logits") == 0 && o->end_logits) {
            check_vals(key, seq, o->end_logits + tok, val, L);
            fields++;
        } else if (strcmp(key, "hidden_states") == 0 && o->all_layers) {
            size_t nh = (size_t)in->n_layers + 1;
            if (json_object_array_length(val) != nh) {
                fprintf(stderr, "seq %zu: %zu hidden states in the reference, we have %zu\n", seq,
                        json_object_array_length(val), nh);
                n_bad++;
                continue;
            }
            for (size_t l = 0; l < nh; l++) {
                char w[64];
                snprintf(w, sizeof w, "hidden_states[%zu]", l);
                check_mat(w, seq, o->all_layers + (l * o->n_tokens + tok) * d,
                          json_object_array_get_idx(val, l), L, d);
            }
            fields++;
        } else {
            fprintf(stderr, "seq %zu: reference field '%s' has no counterpart in our output\n", seq,
                    key);
            n_bad++;
        }
    }
    if (fields == 0) {
        fprintf(stderr, "seq %zu: nothing compared\n", seq);
        n_bad++;
    }
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static size_t rnd(size_t n) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (size_t)(rng % n);
}

int main(int argc, char **argv) {
    /* "unpacked": the weights used in place, every product through OpenBLAS
     * (eng_model_params.pack_weights = false); by default they are packed. */
    if (argc != 2 && !(argc == 3 && strcmp(argv[2], "unpacked") == 0)) {
        fprintf(stderr, "usage: %s FIXTURE [unpacked]\n", argv[0]);
        return 2;
    }
    char dir[4096], p[4200], err[512];
    if (!etu_fixture_dir(argv[1], dir, sizeof dir)) {
        fprintf(stderr, "fixture %s not found (tests/data/models or ../shared): skipped\n",
                argv[1]);
        return ETU_SKIP;
    }
    struct eng_model *m;
    struct eng_model_params mp = eng_model_params_default();
    mp.pack_weights = argc != 3;
    int rc = eng_model_load(dir, &mp, &m, err, sizeof err);
    if (rc != ENG_OK) {
        fprintf(stderr, "load %s: %s\n", dir, err);
        return 1;
    }
    const struct eng_model_info *in = eng_model_get_info(m);
    snprintf(p, sizeof p, "%s/reference.json.gz", dir);
    struct json_object *ref = etu_read_json_gz(p), *outs, *jin, *jtt;
    if (!ref || !json_object_object_get_ex(ref, "outputs", &outs) ||
        !json_object_object_get_ex(ref, "inputs", &jin)) {
        fprintf(stderr, "cannot read %s\n", p);
        return 1;
    }
    /* "token_type_ids": "from --type-ids" when type_ids.txt was passed, else
     * "model default (not passed)" (or a boolean). */
    bool use_types = false;
    if (json_object_object_get_ex(ref, "token_type_ids", &jtt))
        use_types = json_object_is_type(jtt, json_type_string)
                        ? strncmp(json_object_get_string(jtt), "from", 4) == 0
                        : json_object_get_boolean(jtt);
    struct etu_seqs ids, types = {0};
    snprintf(p, sizeof p, "%s/ids.txt", dir);
    if (etu_read_seqs(p, &ids) != 0 || ids.n_seqs != json_object_array_length(outs)) {
        fprintf(stderr, "ids.txt disagrees with the reference\n");
        return 1;
    }
    if (use_types) {
        snprintf(p, sizeof p, "%s/type_ids.txt", dir);
        if (etu_read_seqs(p, &types) != 0 || types.n_tokens != ids.n_tokens) {
            fprintf(stderr, "type_ids.txt unreadable\n");
            return 1;
        }
    }
    /* The ids are the reference's inputs. */
    for (size_t s = 0, t = 0; s < ids.n_seqs; t += ids.len[s], s++) {
        struct json_object *row = json_object_array_get_idx(jin, s);
        if (json_object_array_length(row) != ids.len[s]) {
            fprintf(stderr, "ids.txt line %zu differs from reference inputs\n", s + 1);
            return 1;
        }
        for (size_t i = 0; i < ids.len[s]; i++)
            if (json_object_get_int(json_object_array_get_idx(row, i)) != ids.ids[t + i]) {
                fprintf(stderr, "ids.txt line %zu differs from reference inputs\n", s + 1);
                return 1;
            }
    }
    struct json_object *o0 = json_object_array_get_idx(outs, 0), *tmp;
    unsigned want = ENG_WANT_HIDDEN | ENG_WANT_POOLER | ENG_WANT_HEAD;
    if (json_object_object_get_ex(o0, "hidden_states", &tmp))
        want |= ENG_WANT_ALL_LAYERS;

    struct eng_ctx *ctx;
    if (eng_ctx_new(m, ids.n_tokens, &ctx) != ENG_OK) {
        fprintf(stderr, "ctx\n");
        return 1;
    }
    size_t *start = malloc(ids.n_seqs * sizeof *start);
    size_t *order = malloc(ids.n_seqs * sizeof *order);
    size_t *blen = malloc(ids.n_seqs * sizeof *blen);
    int32_t *bids = malloc(ids.n_tokens * sizeof *bids);
    int32_t *btypes = malloc(ids.n_tokens * sizeof *btypes);
    for (size_t s = 0, t = 0; s < ids.n_seqs; t += ids.len[s], s++)
        start[s] = t;

    /* mode 0: each sequence alone; 1: all packed in order (0-1: one thread);
     * 2-4: shuffled, random-sized sub-batches; 5: all packed, the layers run in
     * chunks of whole sequences of at most max_seq_len tokens (the fixtures are
     * smaller than the default chunk) (2-5: two threads), bit-identical to mode
     * 1's (one thread, one chunk); 6: mode 5 again with 3 threads on every
     * element-wise loop, bit-identical to mode 5's; 7: the 3-thread context with
     * only 1 thread active (eng_ctx_set_active_threads, what socled does under
     * load): bit-identical too. */
    float *hidden5 = NULL, *hidden1 = NULL;
    size_t d = (size_t)in->d_model;
    for (int mode = 0; mode < 8; mode++) {
        eng_ctx_set_threads(ctx, mode < 2 ? 1 : 2);
        if (mode == 5)
            eng_ctx_shrink_chunk(ctx, 0);
        if (mode == 6) {
            eng_ctx_set_threads(ctx, 3);
            eng_ctx_set_par_min(ctx, 0);
        }
        if (mode == 7) {
            eng_ctx_set_threads(ctx, 3);
            eng_ctx_set_active_threads(ctx, 1);
        }
        size_t before = n_bad;
        for (size_t s = 0; s < ids.n_seqs; s++)
            order[s] = s;
        if (mode >= 2 && mode <= 4)
            for (size_t s = ids.n_seqs - 1; s > 0; s--) {
                size_t j = rnd(s + 1), x = order[s];
                order[s] = order[j];
                order[j] = x;
            }
        size_t next = 0;
        while (next < ids.n_seqs) {
            size_t k = mode == 0                             ? 1
                       : mode == 1 || mode >= 5 ? ids.n_seqs
                                                : 1 + rnd(ids.n_seqs - next);
            if (k > ids.n_seqs - next)
                k = ids.n_seqs - next;
            size_t nt = 0;
            for (size_t i = 0; i < k; i++) {
                size_t s = order[next + i];
                blen[i] = ids.len[s];
                memcpy(bids + nt, ids.ids + start[s], ids.len[s] * sizeof *bids);
                if (use_types)
                    memcpy(btypes + nt, types.ids + start[s], ids.len[s] * sizeof *btypes);
                nt += ids.len[s];
            }
            struct eng_batch b = {
                .n_seqs = k, .seq_len = blen, .ids = bids, .type_ids = use_types ? btypes : NULL};
            struct eng_output o;
            if ((rc = eng_ctx_forward(ctx, &b, want, &o)) != ENG_OK) {
                fprintf(stderr, "forward: %s\n", eng_ctx_last_error(ctx));
                return 1;
            }
            if (o.n_tokens != nt || o.n_seqs != k) {
                fprintf(stderr, "output sizes wrong\n");
                return 1;
            }
            if (mode == 1) {
                hidden1 = malloc(nt * d * sizeof *hidden1);
                memcpy(hidden1, o.last_hidden, nt * d * sizeof *hidden1);
            }
            if (mode == 5) {
                hidden5 = malloc(nt * d * sizeof *hidden5);
                memcpy(hidden5, o.last_hidden, nt * d * sizeof *hidden5);
                if (memcmp(hidden1, o.last_hidden, nt * d * sizeof *hidden1) != 0) {
                    fprintf(stderr, "2 threads and chunked layers changed the results\n");
                    n_bad++;
                }
            }
            if (mode >= 6 && memcmp(hidden5, o.last_hidden, nt * d * sizeof *hidden5) != 0) {
                fprintf(stderr, "%s changed the results\n",
                        mode == 6 ? "3 helper threads" : "1 active thread of 3");
                n_bad++;
            }
            for (size_t i = 0, tok = 0; i < k; tok += blen[i], i++) {
                size_t s = order[next + i];
                check_seq(in, json_object_array_get_idx(outs, s), s, &o, i, tok, blen[i]);
            }
            next += k;
        }
        printf("%s mode %d (%s): %zu mismatches\n", argv[1], mode,
               mode == 0   ? "alone"
               : mode == 1 ? "one packed batch"
               : mode == 5 ? "one batch, 2 threads, layers in chunks, bit-identical to 1"
               : mode == 6 ? "same with 3 threads, bit-identical"
               : mode == 7 ? "same with 1 of 3 threads active, bit-identical"
                           : "random sub-batches",
               n_bad - before);
    }
    printf("%s: %zu values checked, %zu outside tolerance, worst error = %.3f x tolerance\n",
           argv[1], n_checked, n_bad, worst);
    free(hidden5);
    free(hidden1);
    free(start);
    free(order);
    free(blen);
    free(bids);
    free(btypes);
    eng_ctx_free(ctx);
    eng_model_free(m);
    etu_seqs_free(&ids);
    etu_seqs_free(&types);
    json_object_put(ref);
    return n_bad == 0 && n_checked > 0 ? 0 : 1;
}
