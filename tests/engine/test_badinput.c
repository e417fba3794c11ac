/* test_badinput.c — corrupt checkpoints and bad batches get a clear error naming
 * the problem: never a crash, never a read outside the mapping (run under ASan).
 * Every corrupt file is generated here, in a temp dir, from the good bert-seqcls
 * fixture. */
#include "tests/engine/eng_testutil.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures;
static char *tmp;
static char fx[4096];
static struct etu_st good;
static struct json_object *good_cfg;
static int case_no;

static struct json_object *copy_json(struct json_object *o) {
    struct json_object *c = NULL;
    if (json_object_deep_copy(o, &c, NULL) != 0)
        abort();
    return c;
}

/* A model dir with config `cfg` (NULL: the good one) and safetensors `st`
 * (NULL: the good one) written with header length override `hlen`. */
static const char *make_case(struct json_object *cfg, const struct etu_st *st,
                             unsigned long long hlen) {
    static char dir[4200];
    char p[4300];
    snprintf(dir, sizeof dir, "%s/case%d", tmp, ++case_no);
    if (mkdir(dir, 0700) != 0)
        abort();
    snprintf(p, sizeof p, "%s/config.json", dir);
    json_object_to_file_ext(p, cfg ? cfg : good_cfg, JSON_C_TO_STRING_PLAIN);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    if (etu_st_write(p, st ? st : &good, hlen) != 0)
        abort();
    return dir;
}

static void expect_load(const char *what, const char *dir, int want, const char *substr) {
    struct eng_model *m = NULL;
    char err[512] = "";
    int rc = eng_model_load(dir, NULL, &m, err, sizeof err);
    if (rc != want || (substr && !strstr(err, substr)) || (rc != ENG_OK && m)) {
        fprintf(stderr, "FAIL %s: got %d (%s) \"%s\", want %d with \"%s\"\n", what, rc,
                eng_strerror(rc), err, want, substr ? substr : "");
        failures++;
    } else {
        printf("ok   %-38s -> %s: %s\n", what, eng_strerror(rc), err);
    }
    eng_model_free(m);
}

static struct json_object *tensor(struct json_object *hdr, const char *name) {
    struct json_object *t = json_object_object_get(hdr, name);
    if (!t)
        abort();
    return t;
}

static void set_offsets(struct json_object *t, int64_t b, int64_t e) {
    struct json_object *a = json_object_new_array();
    json_object_array_add(a, json_object_new_int64(b));
    json_object_array_add(a, json_object_new_int64(e));
    json_object_object_add(t, "data_offsets", a);
}

static int64_t offset(struct json_object *t, int i) {
    return json_object_get_int64(
        json_object_array_get_idx(json_object_object_get(t, "data_offsets"), (size_t)i));
}

static void checkpoint_cases(void) {
    struct etu_st st;
    const char *qb = "bert.encoder.layer.0.attention.self.query.bias";
    const char *kb = "bert.encoder.layer.0.attention.self.key.bias";
    const char *w1 = "bert.encoder.layer.1.intermediate.dense.weight";
    const char *w2 = "bert.encoder.layer.1.output.dense.weight";
    char p[4400];

    expect_load("directory missing", "/nonexistent/socle-model", ENG_EIO, "config.json");

    /* Truncated files: inside the data, inside the header, inside the length. */
    const char *d = make_case(NULL, NULL, 0);
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    if (truncate(p, (off_t)(good.data_size / 2)) != 0)
        abort();
    expect_load("truncated in the tensor data", d, ENG_EFORMAT, "outside the file");
    d = make_case(NULL, NULL, 0);
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    if (truncate(p, 200) != 0)
        abort();
    expect_load("truncated in the header", d, ENG_EFORMAT, "truncated");
    d = make_case(NULL, NULL, 0);
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    if (truncate(p, 5) != 0)
        abort();
    expect_load("truncated in the header length", d, ENG_EFORMAT, "truncated");

    expect_load("header length absurd (2^62)", make_case(NULL, NULL, 1ull << 62), ENG_EFORMAT,
                "absurd");
    expect_load("header length past the end", make_case(NULL, NULL, 1ull << 26), ENG_EFORMAT,
                "truncated");
    expect_load("header length too short", make_case(NULL, NULL, 100), ENG_EFORMAT, "JSON");

    /* Offsets outside the file: moved past the end of the data area. */
    st = good;
    st.header = copy_json(good.header);
    struct json_object *t = tensor(st.header, w1);
    int64_t n = offset(t, 1) - offset(t, 0);
    set_offsets(t, (int64_t)good.data_size - n / 2, (int64_t)good.data_size - n / 2 + n);
    expect_load("offsets outside the file", make_case(NULL, &st, 0), ENG_EFORMAT, w1);
    set_offsets(t, INT64_MAX - 8, INT64_MAX);
    expect_load("offsets near INT64_MAX", make_case(NULL, &st, 0), ENG_EFORMAT, w1);
    set_offsets(t, -64, n - 64);
    expect_load("negative offset", make_case(NULL, &st, 0), ENG_EFORMAT, w1);
    json_object_put(st.header);

    /* Overlap: the key bias placed over the query bias (same size). */
    st.header = copy_json(good.header);
    set_offsets(tensor(st.header, kb), offset(tensor(st.header, qb), 0),
                offset(tensor(st.header, qb), 1));
    expect_load("overlapping tensors", make_case(NULL, &st, 0), ENG_EFORMAT, "overlap");
    json_object_put(st.header);
    /* Partial overlap by 4 bytes. */
    st.header = copy_json(good.header);
    set_offsets(tensor(st.header, kb), offset(tensor(st.header, qb), 1) - 4,
                offset(tensor(st.header, qb), 1) - 4 + 128);
    expect_load("overlapping by 4 bytes", make_case(NULL, &st, 0), ENG_EFORMAT, "overlap");
    json_object_put(st.header);

    /* Byte size disagreeing with dtype x shape. */
    st.header = copy_json(good.header);
    json_object_object_add(tensor(st.header, qb), "dtype", json_object_new_string("F16"));
    expect_load("size disagrees with dtype", make_case(NULL, &st, 0), ENG_EFORMAT, qb);
    json_object_put(st.header);
    st.header = copy_json(good.header);
    json_object_object_add(tensor(st.header, qb), "dtype", json_object_new_string("Q4_K"));
    expect_load("unknown dtype", make_case(NULL, &st, 0), ENG_EFORMAT, "Q4_K");
    json_object_put(st.header);
    st.header = copy_json(good.header);
    json_object_object_add(tensor(st.header, qb), "dtype", json_object_new_string("I32"));
    expect_load("integer weights", make_case(NULL, &st, 0), ENG_EUNSUPPORTED, qb);
    json_object_put(st.header);
    st.header = copy_json(good.header);
    json_object_object_add(tensor(st.header, qb), "shape", json_object_new_string("32"));
    expect_load("shape not an array", make_case(NULL, &st, 0), ENG_EFORMAT, qb);
    json_object_put(st.header);
    st.header = copy_json(good.header);
    {
        struct json_object *sh = json_object_new_array();
        json_object_array_add(sh, json_object_new_int64(1ll << 40));
        json_object_array_add(sh, json_object_new_int64(1ll << 40));
        json_object_array_add(sh, json_object_new_int64(1ll << 40));
        json_object_object_add(tensor(st.header, qb), "shape", sh);
    }
    expect_load("shape overflowing", make_case(NULL, &st, 0), ENG_EFORMAT, "overflow");
    json_object_put(st.header);
    st.header = copy_json(good.header);
    json_object_object_add(st.header, "bogus", json_object_new_int(3));
    expect_load("header entry not an object", make_case(NULL, &st, 0), ENG_EFORMAT, "bogus");
    json_object_put(st.header);

    /* A tensor missing / of the wrong shape (bytes unchanged: [64,32] -> [32,64]). */
    st.header = copy_json(good.header);
    json_object_object_del(st.header, w2);
    expect_load("tensor missing", make_case(NULL, &st, 0), ENG_ESHAPE, w2);
    json_object_put(st.header);
    st.header = copy_json(good.header);
    {
        struct json_object *sh = json_object_new_array();
        json_object_array_add(sh, json_object_new_int(32));
        json_object_array_add(sh, json_object_new_int(64));
        json_object_object_add(tensor(st.header, w1), "shape", sh);
    }
    expect_load("tensor of the wrong shape", make_case(NULL, &st, 0), ENG_ESHAPE, w1);
    json_object_put(st.header);
    st.header = copy_json(good.header);
    json_object_object_del(st.header, "classifier.weight");
    expect_load("head tensor missing", make_case(NULL, &st, 0), ENG_ESHAPE, "classifier.weight");
    json_object_put(st.header);

    /* Header bytes that are not JSON, and trailing bytes that are not padding. */
    {
        d = make_case(NULL, NULL, 0);
        snprintf(p, sizeof p, "%s/model.safetensors", d);
        FILE *fp = fopen(p, "r+b");
        fseek(fp, 20, SEEK_SET);
        fputs("\x01\x02garbage", fp);
        fclose(fp);
        expect_load("header not JSON", d, ENG_EFORMAT, "JSON");
    }

    /* No safetensors at all. */
    d = make_case(NULL, NULL, 0);
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    unlink(p);
    expect_load("no weights file", d, ENG_EIO, "model.safetensors");
}

static void config_cases(void) {
    struct json_object *c = copy_json(good_cfg);
    json_object_object_add(c, "model_type", json_object_new_string("gpt_neox"));
    expect_load("unknown architecture", make_case(c, NULL, 0), ENG_EUNSUPPORTED, "gpt_neox");
    json_object_object_del(c, "model_type");
    expect_load("no model_type", make_case(c, NULL, 0), ENG_EUNSUPPORTED, "model_type");
    json_object_put(c);

    c = copy_json(good_cfg);
    json_object_object_add(c, "hidden_size", json_object_new_int64(1ll << 40));
    expect_load("hidden size 2^40", make_case(c, NULL, 0), ENG_ELIMIT, "hidden_size");
    json_object_object_add(c, "hidden_size", json_object_new_int64(-32));
    expect_load("negative hidden size", make_case(c, NULL, 0), ENG_ELIMIT, "hidden_size");
    json_object_object_add(c, "hidden_size", json_object_new_string("32"));
    expect_load("hidden size a string", make_case(c, NULL, 0), ENG_EFORMAT, "hidden_size");
    json_object_put(c);
    c = copy_json(good_cfg);
    json_object_object_add(c, "vocab_size", json_object_new_int64(1ll << 40));
    expect_load("vocab 2^40", make_case(c, NULL, 0), ENG_ELIMIT, "vocab_size");
    json_object_put(c);
    c = copy_json(good_cfg);
    json_object_object_add(c, "num_hidden_layers", json_object_new_int64(1ll << 31));
    expect_load("layers 2^31", make_case(c, NULL, 0), ENG_ELIMIT, "num_hidden_layers");
    json_object_put(c);
    c = copy_json(good_cfg);
    json_object_object_add(c, "num_attention_heads", json_object_new_int(5));
    expect_load("heads not dividing hidden", make_case(c, NULL, 0), ENG_EFORMAT, "heads");
    json_object_put(c);
    c = copy_json(good_cfg);
    json_object_object_add(c, "hidden_size", json_object_new_int(64));
    expect_load("config disagrees with tensors", make_case(c, NULL, 0), ENG_ESHAPE,
                "word_embeddings");
    json_object_put(c);
    c = copy_json(good_cfg);
    json_object_object_add(c, "hidden_act", json_object_new_string("swish_of_doom"));
    expect_load("unknown activation", make_case(c, NULL, 0), ENG_EUNSUPPORTED, "swish_of_doom");
    json_object_put(c);

    char p[4300];
    const char *d = make_case(NULL, NULL, 0);
    snprintf(p, sizeof p, "%s/config.json", d);
    etu_write_text(p, "{\"model_type\": \"bert\", ");
    expect_load("config.json not JSON", d, ENG_EFORMAT, "config.json");
}

static void forward_cases(void) {
    struct eng_model *m;
    char err[512];
    if (eng_model_load(fx, NULL, &m, err, sizeof err) != ENG_OK) {
        fprintf(stderr, "FAIL load %s: %s\n", fx, err);
        failures++;
        return;
    }
    const struct eng_model_info *in = eng_model_get_info(m);
    struct eng_ctx *ctx;
    size_t cap = 600;
    if (eng_ctx_new(m, cap, &ctx) != ENG_OK)
        abort();
    int32_t ids[600], types[600];
    for (size_t i = 0; i < cap; i++) {
        ids[i] = (int32_t)(1000 + i);
        types[i] = 0;
    }
    struct {
        const char *what;
        size_t len[2];
        size_t n_seqs;
        int32_t bad_id, bad_type;
        size_t bad_at;
        int want;
        const char *substr;
    } cases[] = {
        {"sequence longer than positions", {513, 0}, 1, 0, 0, 0, ENG_EINVAL, "longer"},
        {"id = vocab_size", {10, 5}, 2, 30522, 0, 12, ENG_EINVAL, "30522"},
        {"id negative", {10, 5}, 2, -1, 0, 3, ENG_EINVAL, "vocabulary"},
        {"type id out of range", {10, 5}, 2, 0, 2, 4, ENG_EINVAL, "type id"},
        {"empty sequence", {10, 0}, 2, 0, 0, 0, ENG_EINVAL, "empty"},
        {"batch over ctx capacity", {400, 300}, 2, 0, 0, 0, ENG_ELIMIT, "600"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int32_t saved_id = ids[cases[k].bad_at], saved_ty = types[cases[k].bad_at];
        if (cases[k].bad_id)
            ids[cases[k].bad_at] = cases[k].bad_id;
        if (cases[k].bad_type)
            types[cases[k].bad_at] = cases[k].bad_type;
        struct eng_batch b = {
            .n_seqs = cases[k].n_seqs, .seq_len = cases[k].len, .ids = ids, .type_ids = types};
        struct eng_output o;
        int rc = eng_ctx_forward(ctx, &b, ENG_WANT_HEAD, &o);
        const char *e = eng_ctx_last_error(ctx);
        if (rc != cases[k].want || !strstr(e, cases[k].substr)) {
            fprintf(stderr, "FAIL %s: got %d \"%s\"\n", cases[k].what, rc, e);
            failures++;
        } else {
            printf("ok   %-38s -> %s: %s\n", cases[k].what, eng_strerror(rc), e);
        }
        ids[cases[k].bad_at] = saved_id;
        types[cases[k].bad_at] = saved_ty;
    }
    /* The longest sequence the positions allow still runs. */
    size_t L = (size_t)in->max_seq_len;
    struct eng_batch b = {.n_seqs = 1, .seq_len = &L, .ids = ids};
    struct eng_output o;
    if (eng_ctx_forward(ctx, &b, ENG_WANT_HEAD, &o) != ENG_OK || !o.logits) {
        fprintf(stderr, "FAIL forward of %zu tokens: %s\n", L, eng_ctx_last_error(ctx));
        failures++;
    }
    eng_ctx_free(ctx);
    eng_model_free(m);
}

/* The checkpoint truncated after loading (replaced in place by a broken copy): the word
 * embeddings are read from the file at each forward, which must fail with an error, not
 * a SIGBUS on the mapping. */
static int copy_file(const char *from, const char *to) {
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    char buf[65536];
    size_t n;
    int rc = in && out ? 0 : -1;
    while (rc == 0 && (n = fread(buf, 1, sizeof buf, in)) > 0)
        rc = fwrite(buf, 1, n, out) == n ? 0 : -1;
    if (in)
        fclose(in);
    if (out && fclose(out) != 0)
        rc = -1;
    return rc;
}

static void truncated_after_load_case(void) {
    /* The fixture's own file (HF's layout keeps float32 tensors aligned, so the word
     * embeddings are read from the file, not from a copy). */
    char dir[4200], p[4300], q[4300], err[512];
    snprintf(dir, sizeof dir, "%s/truncated-later", tmp);
    mkdir(dir, 0700);
    const char *names[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s", fx, names[i]);
        snprintf(q, sizeof q, "%s/%s", dir, names[i]);
        if (copy_file(p, q) != 0)
            abort();
    }
    struct eng_model *m;
    struct eng_ctx *ctx;
    if (eng_model_load(dir, NULL, &m, err, sizeof err) != ENG_OK ||
        eng_ctx_new(m, 16, &ctx) != ENG_OK) {
        fprintf(stderr, "FAIL load %s: %s\n", dir, err);
        failures++;
        return;
    }
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    if (truncate(p, 64) != 0)
        abort();
    int32_t ids[4] = {101, 2000, 3000, 102};
    size_t len = 4;
    struct eng_batch b = {.n_seqs = 1, .seq_len = &len, .ids = ids};
    struct eng_output o;
    int rc = eng_ctx_forward(ctx, &b, ENG_WANT_HEAD, &o);
    const char *e = eng_ctx_last_error(ctx);
    if (rc != ENG_EIO || !strstr(e, "word embedding")) {
        fprintf(stderr, "FAIL checkpoint truncated after load: got %d \"%s\"\n", rc, e);
        failures++;
    } else {
        printf("ok   %-38s -> %s: %s\n", "checkpoint truncated after load", eng_strerror(rc), e);
    }
    eng_ctx_free(ctx);
    eng_model_free(m);
}

/* Misaligned data area (header padded by 2 spaces): float32 tensors no longer
 * sit on 4-byte boundaries; the loader copies them and results are unchanged. */
static void misaligned_case(void) {
    char p[4300], dir[4200], err[512];
    snprintf(dir, sizeof dir, "%s/misaligned", tmp);
    mkdir(dir, 0700);
    snprintf(p, sizeof p, "%s/config.json", dir);
    json_object_to_file_ext(p, good_cfg, JSON_C_TO_STRING_PLAIN);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    const char *h = json_object_to_json_string_ext(good.header, JSON_C_TO_STRING_PLAIN);
    size_t pad = (4 - (8 + strlen(h)) % 4) % 4 + 2; /* data at 2 mod 4 */
    etu_st_write_padded(p, &good, pad);
    struct eng_model *m1, *m2;
    if (eng_model_load(fx, NULL, &m1, err, sizeof err) ||
        eng_model_load(dir, NULL, &m2, err, sizeof err)) {
        fprintf(stderr, "FAIL misaligned load: %s\n", err);
        failures++;
        return;
    }
    struct eng_ctx *c1, *c2;
    eng_ctx_new(m1, 64, &c1);
    eng_ctx_new(m2, 64, &c2);
    int32_t ids[20] = {101, 7592, 2088, 2003, 1037, 3231, 102};
    size_t len = 7;
    struct eng_batch b = {.n_seqs = 1, .seq_len = &len, .ids = ids};
    struct eng_output o1, o2;
    if (eng_ctx_forward(c1, &b, ENG_WANT_HEAD, &o1) ||
        eng_ctx_forward(c2, &b, ENG_WANT_HEAD, &o2) ||
        memcmp(o1.logits, o2.logits, 3 * sizeof(float)) != 0 ||
        memcmp(o1.last_hidden, o2.last_hidden, 7 * 32 * sizeof(float)) != 0) {
        fprintf(stderr, "FAIL misaligned checkpoint gives different outputs\n");
        failures++;
    } else {
        printf("ok   %-38s -> same outputs\n", "misaligned float32 data");
    }
    eng_ctx_free(c1);
    eng_ctx_free(c2);
    eng_model_free(m1);
    eng_model_free(m2);
}

/* Random byte flips in the header and first bytes: any status, no crash. */
static void fuzz_cases(void) {
    char p[4300], dir[4200], err[512];
    snprintf(dir, sizeof dir, "%s/fuzz", tmp);
    mkdir(dir, 0700);
    snprintf(p, sizeof p, "%s/config.json", dir);
    json_object_to_file_ext(p, good_cfg, JSON_C_TO_STRING_PLAIN);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    const char *h = json_object_to_json_string_ext(good.header, JSON_C_TO_STRING_PLAIN);
    size_t hlen = strlen(h);
    uint64_t r = 12345;
    int loaded = 0, refused = 0;
    for (int it = 0; it < 300; it++) {
        etu_st_write(p, &good, 0);
        FILE *fp = fopen(p, "r+b");
        int flips = 1 + it % 4;
        for (int k = 0; k < flips; k++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = (size_t)(r >> 33) % (8 + hlen);
            fseek(fp, (long)at, SEEK_SET);
            fputc((int)((r >> 20) & 0xff), fp);
        }
        fclose(fp);
        struct eng_model *m = NULL;
        int rc = eng_model_load(dir, NULL, &m, err, sizeof err);
        if (rc == ENG_OK) {
            loaded++;
            struct eng_ctx *c;
            int32_t ids[3] = {101, 2000, 102};
            size_t len = 3;
            struct eng_batch b = {.n_seqs = 1, .seq_len = &len, .ids = ids};
            struct eng_output o;
            if (eng_ctx_new(m, 8, &c) == ENG_OK) {
                eng_ctx_forward(c, &b, ENG_WANT_HEAD | ENG_WANT_POOLER, &o);
                eng_ctx_free(c);
            }
            eng_model_free(m);
        } else {
            refused++;
            if (!err[0]) {
                fprintf(stderr, "FAIL fuzz %d: status %d without a message\n", it, rc);
                failures++;
            }
        }
    }
    printf("ok   %-38s -> %d refused with a message, %d still valid\n", "300 corrupted headers",
           refused, loaded);

    /* The same for config.json: byte flips and truncations. */
    etu_st_write(p, &good, 0);
    snprintf(p, sizeof p, "%s/config.json", dir);
    const char *cfg = json_object_to_json_string_ext(good_cfg, JSON_C_TO_STRING_PRETTY);
    size_t clen = strlen(cfg);
    loaded = refused = 0;
    for (int it = 0; it < 200; it++) {
        FILE *fp = fopen(p, "wb");
        size_t keep = it % 10 == 9 ? (size_t)(r >> 40) % clen : clen;
        fwrite(cfg, 1, keep, fp);
        fclose(fp);
        fp = fopen(p, "r+b");
        for (int k = 0; k < 1 + it % 3 && keep > 0; k++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            fseek(fp, (long)((r >> 33) % keep), SEEK_SET);
            fputc("0123456789-{}[]\",:.e\" x"[(r >> 20) % 22], fp);
        }
        fclose(fp);
        struct eng_model *m = NULL;
        int rc = eng_model_load(dir, NULL, &m, err, sizeof err);
        if (rc == ENG_OK) {
            loaded++;
            struct eng_ctx *c;
            int32_t ids[3] = {101, 2000, 102};
            size_t len = 3;
            struct eng_batch b = {.n_seqs = 1, .seq_len = &len, .ids = ids};
            struct eng_output o;
            if (eng_ctx_new(m, 8, &c) == ENG_OK) {
                eng_ctx_forward(c, &b, ENG_WANT_HEAD | ENG_WANT_POOLER, &o);
                eng_ctx_free(c);
            }
            eng_model_free(m);
        } else {
            refused++;
            if (!err[0]) {
                fprintf(stderr, "FAIL config fuzz %d: status %d without a message\n", it, rc);
                failures++;
            }
        }
    }
    printf("ok   %-38s -> %d refused with a message, %d still valid\n", "200 corrupted configs",
           refused, loaded);
}

int main(void) {
    if (!etu_fixture_dir("bert-seqcls", fx, sizeof fx)) {
        fprintf(stderr, "bert-seqcls fixture not found: skipped\n");
        return ETU_SKIP;
    }
    char p[4200];
    snprintf(p, sizeof p, "%s/model.safetensors", fx);
    if (etu_st_read(p, &good) != 0)
        return 1;
    snprintf(p, sizeof p, "%s/config.json", fx);
    good_cfg = json_object_from_file(p);
    if (!good_cfg || !(tmp = etu_tmpdir()))
        return 1;
    checkpoint_cases();
    config_cases();
    forward_cases();
    misaligned_case();
    truncated_after_load_case();
    fuzz_cases();
    etu_rmdir(tmp);
    free(tmp);
    etu_st_free(&good);
    json_object_put(good_cfg);
    printf("%d failures\n", failures);
    return failures ? 1 : 0;
}
