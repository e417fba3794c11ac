/* test_shard.c — a sharded checkpoint (model.safetensors.index.json + two shards,
 * built here by splitting bert-tokcls's tensors) gives bit-identical outputs to
 * the single file; broken indexes are refused with a message. */
#include "tests/engine/eng_testutil.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures;

static int first_half(const char *name, void *arg) {
    (void)arg;
    return strncmp(name, "bert.encoder.layer.1", 20) != 0 && strncmp(name, "classifier", 10) != 0;
}
static int second_half(const char *name, void *arg) { return !first_half(name, arg); }
static int second_half_plus_one(const char *name, void *arg) {
    return !first_half(name, arg) || strcmp(name, "bert.embeddings.LayerNorm.bias") == 0;
}

/* Writes config, two shards, and an index mapping each tensor to `shard_of`. */
static void write_sharded(const char *dir, const char *cfg_path, const struct etu_st *a,
                          const struct etu_st *b, const char *name_a, const char *name_b,
                          const char *extra_entry) {
    char p[4300];
    mkdir(dir, 0700);
    snprintf(p, sizeof p, "%s/config.json", dir);
    etu_copy_file(cfg_path, p);
    snprintf(p, sizeof p, "%s/model-00001-of-00002.safetensors", dir);
    etu_st_write(p, a, 0);
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", dir);
    etu_st_write(p, b, 0);
    struct json_object *idx = json_object_new_object(), *wm = json_object_new_object();
    struct json_object *meta = json_object_new_object();
    json_object_object_add(meta, "total_size",
                           json_object_new_int64((int64_t)(a->data_size + b->data_size)));
    json_object_object_add(idx, "metadata", meta);
    const struct etu_st *sts[2] = {a, b};
    const char *names[2] = {name_a, name_b};
    for (int s = 0; s < 2; s++) {
        json_object_object_foreach(sts[s]->header, k, v) {
            (void)v;
            if (strcmp(k, "__metadata__") != 0)
                json_object_object_add(wm, k, json_object_new_string(names[s]));
        }
    }
    if (extra_entry)
        json_object_object_add(wm, "bert.extra.weight", json_object_new_string(extra_entry));
    json_object_object_add(idx, "weight_map", wm);
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    json_object_to_file_ext(p, idx, JSON_C_TO_STRING_PRETTY);
    json_object_put(idx);
}

static void expect_fail(const char *what, const char *dir, int want, const char *substr) {
    struct eng_model *m = NULL;
    char err[512] = "";
    int rc = eng_model_load(dir, NULL, &m, err, sizeof err);
    if (rc != want || !strstr(err, substr)) {
        fprintf(stderr, "FAIL %s: %d \"%s\"\n", what, rc, err);
        failures++;
    } else {
        printf("ok   %-34s -> %s\n", what, err);
    }
    eng_model_free(m);
}

int main(void) {
    char fx[4096], p[4300], dir[4200], err[512];
    if (!etu_fixture_dir("bert-tokcls", fx, sizeof fx))
        return ETU_SKIP;
    struct etu_st whole, a, b;
    snprintf(p, sizeof p, "%s/model.safetensors", fx);
    if (etu_st_read(p, &whole) != 0)
        return 1;
    etu_st_subset(&whole, first_half, NULL, &a);
    etu_st_subset(&whole, second_half, NULL, &b);
    char *tmp = etu_tmpdir();
    char cfg[4300];
    snprintf(cfg, sizeof cfg, "%s/config.json", fx);
    const char *n1 = "model-00001-of-00002.safetensors", *n2 = "model-00002-of-00002.safetensors";

    snprintf(dir, sizeof dir, "%s/good", tmp);
    write_sharded(dir, cfg, &a, &b, n1, n2, NULL);
    struct eng_model *m1, *m2;
    if (eng_model_load(fx, NULL, &m1, err, sizeof err) != ENG_OK ||
        eng_model_load(dir, NULL, &m2, err, sizeof err) != ENG_OK) {
        fprintf(stderr, "FAIL load: %s\n", err);
        return 1;
    }
    struct etu_seqs ids;
    snprintf(p, sizeof p, "%s/ids.txt", fx);
    etu_read_seqs(p, &ids);
    struct eng_ctx *c1, *c2;
    eng_ctx_new(m1, ids.n_tokens, &c1);
    eng_ctx_new(m2, ids.n_tokens, &c2);
    struct eng_batch bt = {.n_seqs = ids.n_seqs, .seq_len = ids.len, .ids = ids.ids};
    struct eng_output o1, o2;
    size_t d = (size_t)eng_model_get_info(m1)->d_model,
           nl = (size_t)eng_model_get_info(m1)->n_labels;
    if (eng_ctx_forward(c1, &bt, ENG_WANT_HEAD, &o1) ||
        eng_ctx_forward(c2, &bt, ENG_WANT_HEAD, &o2) || !o2.logits ||
        memcmp(o1.logits, o2.logits, ids.n_tokens * nl * sizeof(float)) != 0 ||
        memcmp(o1.last_hidden, o2.last_hidden, ids.n_tokens * d * sizeof(float)) != 0) {
        fprintf(stderr, "FAIL sharded outputs differ\n");
        failures++;
    } else {
        printf("ok   %-34s -> %zu tokens, bit-identical to the single file (%zu + %zu tensors)\n",
               "two shards", ids.n_tokens, (size_t)json_object_object_length(a.header) - 1,
               (size_t)json_object_object_length(b.header) - 1);
    }
    eng_ctx_free(c1);
    eng_ctx_free(c2);
    eng_model_free(m1);
    eng_model_free(m2);

    snprintf(dir, sizeof dir, "%s/escape", tmp);
    write_sharded(dir, cfg, &a, &b, n1, "../model-00002-of-00002.safetensors", NULL);
    expect_fail("shard path leaving the directory", dir, ENG_EFORMAT, "file name");
    snprintf(dir, sizeof dir, "%s/missing", tmp);
    write_sharded(dir, cfg, &a, &b, n1, n2, "model-00003-of-00002.safetensors");
    expect_fail("index names a missing shard", dir, ENG_EIO, "model-00003-of-00002");
    snprintf(dir, sizeof dir, "%s/wrong", tmp);
    write_sharded(dir, cfg, &a, &b, n1, n2, n1);
    expect_fail("index names a tensor not in it", dir, ENG_EFORMAT, "bert.extra.weight");
    snprintf(dir, sizeof dir, "%s/dup", tmp);
    struct etu_st b_dup;
    etu_st_subset(&whole, second_half_plus_one, NULL, &b_dup);
    write_sharded(dir, cfg, &a, &b_dup, n1, n2, NULL);
    expect_fail("tensor in two shards", dir, ENG_EFORMAT, "two shards");
    etu_st_free(&b_dup);
    snprintf(dir, sizeof dir, "%s/nomap", tmp);
    mkdir(dir, 0700);
    snprintf(p, sizeof p, "%s/config.json", dir);
    etu_copy_file(cfg, p);
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    etu_write_text(p, "{\"metadata\": {}}");
    expect_fail("index without weight_map", dir, ENG_EFORMAT, "weight_map");

    etu_rmdir(tmp);
    free(tmp);
    etu_seqs_free(&ids);
    etu_st_free(&whole);
    etu_st_free(&a);
    etu_st_free(&b);
    printf("%d failures\n", failures);
    return failures ? 1 : 0;
}
