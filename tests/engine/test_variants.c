/* test_variants.c — checkpoint variants the fixtures do not cover directly, each
 * derived here from a fixture and compared bit-for-bit with it: backbone tensor
 * names without the `bert.` prefix, config.json with every field equal to HF's
 * default removed, model_type xlm-roberta for a RoBERTa checkpoint, load_head =
 * false; plus the model info and eng_model_tensor_f32. */
#include "tests/engine/eng_testutil.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

__extension__ typedef _Float16 half_t;

static int failures;
static char *tmp;

static void check(int ok, const char *what) {
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    failures += !ok;
}

/* Logits (or last hidden state if no head) of the fixture's sequences. */
static float *run(const char *dir, const struct etu_seqs *ids, size_t *n_out) {
    struct eng_model *m;
    char err[512];
    if (eng_model_load(dir, NULL, &m, err, sizeof err) != ENG_OK) {
        fprintf(stderr, "load %s: %s\n", dir, err);
        return NULL;
    }
    const struct eng_model_info *in = eng_model_get_info(m);
    struct eng_ctx *c;
    eng_ctx_new(m, ids->n_tokens, &c);
    struct eng_batch b = {.n_seqs = ids->n_seqs, .seq_len = ids->len, .ids = ids->ids};
    struct eng_output o;
    float *r = NULL;
    if (eng_ctx_forward(c, &b, ENG_WANT_HEAD, &o) == ENG_OK) {
        size_t n = o.logits ? (in->head == ENG_HEAD_SEQCLS ? ids->n_seqs : ids->n_tokens) *
                                  (size_t)in->n_labels
                            : ids->n_tokens * (size_t)in->d_model;
        r = malloc(n * sizeof *r);
        memcpy(r, o.logits ? o.logits : o.last_hidden, n * sizeof *r);
        *n_out = n;
    }
    eng_ctx_free(c);
    eng_model_free(m);
    return r;
}

static void same(const char *what, const char *dir_a, const char *dir_b,
                 const struct etu_seqs *ids) {
    size_t na = 0, nb = 0;
    float *a = run(dir_a, ids, &na), *b = run(dir_b, ids, &nb);
    check(a && b && na == nb && memcmp(a, b, na * sizeof *a) == 0, what);
    free(a);
    free(b);
}

int main(void) {
    char fx[4096], rfx[4096], p[4300], q[4300], dir[4200];
    if (!etu_fixture_dir("bert-seqcls", fx, sizeof fx) ||
        !etu_fixture_dir("roberta-tokcls", rfx, sizeof rfx))
        return ETU_SKIP;
    tmp = etu_tmpdir();
    struct etu_seqs ids, rids;
    snprintf(p, sizeof p, "%s/ids.txt", fx);
    etu_read_seqs(p, &ids);
    snprintf(p, sizeof p, "%s/ids.txt", rfx);
    etu_read_seqs(p, &rids);

    /* 1. Backbone names without "bert." (as BertModel.save_pretrained writes). */
    struct etu_st st, bare;
    snprintf(p, sizeof p, "%s/model.safetensors", fx);
    etu_st_read(p, &st);
    /* Same data bytes, header keys renamed (offsets unchanged). */
    bare.data = malloc(st.data_size);
    memcpy(bare.data, st.data, st.data_size);
    bare.data_size = st.data_size;
    bare.header = json_object_new_object();
    json_object_object_foreach(st.header, k, v) {
        const char *nk = strncmp(k, "bert.", 5) == 0 ? k + 5 : k;
        json_object_object_add(bare.header, nk, json_object_get(v));
    }
    snprintf(dir, sizeof dir, "%s/bare", tmp);
    mkdir(dir, 0700);
    snprintf(q, sizeof q, "%s/model.safetensors", dir);
    etu_st_write(q, &bare, 0);
    snprintf(p, sizeof p, "%s/config.json", fx);
    snprintf(q, sizeof q, "%s/config.json", dir);
    etu_copy_file(p, q);
    same("backbone tensors without the bert. prefix: same logits", fx, dir, &ids);

    /* 2. config.json reduced to what differs from BertConfig's defaults. */
    struct json_object *cfg = json_object_from_file(p);
    const char *defaults[] = {"hidden_act",      "layer_norm_eps",     "max_position_embeddings",
                              "type_vocab_size", "pad_token_id",       "position_embedding_type",
                              "vocab_size",      "classifier_dropout", "initializer_range"};
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        json_object_object_del(cfg, defaults[i]);
    snprintf(dir, sizeof dir, "%s/mincfg", tmp);
    mkdir(dir, 0700);
    snprintf(q, sizeof q, "%s/config.json", dir);
    json_object_to_file(q, cfg);
    json_object_put(cfg);
    snprintf(p, sizeof p, "%s/model.safetensors", fx);
    snprintf(q, sizeof q, "%s/model.safetensors", dir);
    etu_copy_file(p, q);
    same("config with HF-default fields omitted: same logits", fx, dir, &ids);

    /* 3. The same RoBERTa checkpoint declared as XLM-RoBERTa. */
    snprintf(p, sizeof p, "%s/config.json", rfx);
    cfg = json_object_from_file(p);
    json_object_object_add(cfg, "model_type", json_object_new_string("xlm-roberta"));
    struct json_object *arch = json_object_new_array();
    json_object_array_add(arch, json_object_new_string("XLMRobertaForTokenClassification"));
    json_object_object_add(cfg, "architectures", arch);
    snprintf(dir, sizeof dir, "%s/xlmr", tmp);
    mkdir(dir, 0700);
    snprintf(q, sizeof q, "%s/config.json", dir);
    json_object_to_file(q, cfg);
    json_object_put(cfg);
    snprintf(p, sizeof p, "%s/model.safetensors", rfx);
    snprintf(q, sizeof q, "%s/model.safetensors", dir);
    etu_copy_file(p, q);
    same("model_type xlm-roberta: same logits as roberta", rfx, dir, &rids);

    /* 4. Info, load_head = false, tensor access. */
    struct eng_model *m;
    char err[512];
    struct eng_model_params mp = eng_model_params_default();
    if (eng_model_load(rfx, &mp, &m, err, sizeof err) == ENG_OK) {
        const struct eng_model_info *in = eng_model_get_info(m);
        check(in->arch == ENG_ARCH_ROBERTA && in->head == ENG_HEAD_TOKCLS && in->n_labels == 9 &&
                  in->position_offset == 2 && in->max_seq_len == 512 && !in->has_pooler &&
                  in->id2label && strcmp(in->id2label[3], "B-ORG") == 0 &&
                  strcmp(in->weights_dtype, "float32") == 0,
              "roberta-tokcls info: head, 9 labels, positions from 2, 512 tokens, labels");
        eng_model_free(m);
    }
    mp.load_head = false;
    if (eng_model_load(fx, &mp, &m, err, sizeof err) == ENG_OK) {
        const struct eng_model_info *in = eng_model_get_info(m);
        check(in->head == ENG_HEAD_NONE && in->has_pooler && in->n_labels == 0,
              "load_head = false: no head, pooler kept");
        struct eng_ctx *c;
        eng_ctx_new(m, 16, &c);
        int32_t t[3] = {101, 2000, 102};
        size_t len = 3;
        struct eng_batch b = {.n_seqs = 1, .seq_len = &len, .ids = t};
        struct eng_output o;
        check(eng_ctx_forward(c, &b, ENG_WANT_HEAD | ENG_WANT_POOLER, &o) == ENG_OK && !o.logits &&
                  o.pooler,
              "load_head = false: forward gives pooler, no logits");
        eng_ctx_free(c);
        float *w = NULL;
        int64_t shape[4];
        int nd = 0;
        check(eng_model_tensor_f32(m, "classifier.weight", &w, shape, &nd) == ENG_OK && nd == 2 &&
                  shape[0] == 3 && shape[1] == 32 && w,
              "eng_model_tensor_f32 classifier.weight (3, 32)");
        free(w);
        check(eng_model_tensor_f32(m, "no.such.tensor", &w, shape, &nd) == ENG_ESHAPE,
              "eng_model_tensor_f32 of a missing tensor: ENG_ESHAPE");
        eng_model_free(m);
    }
    /* f16: tensor_f32 converts, and equals what the model computes with. */
    char f16[4096];
    if (etu_fixture_dir("bert-seqcls-f16", f16, sizeof f16) &&
        eng_model_load(f16, NULL, &m, err, sizeof err) == ENG_OK) {
        float *w = NULL;
        int64_t shape[4];
        int nd = 0;
        int rc = eng_model_tensor_f32(m, "bert.pooler.dense.bias", &w, shape, &nd);
        check(rc == ENG_OK && nd == 1 && shape[0] == 32 &&
                  strcmp(eng_model_get_info(m)->weights_dtype, "float16") == 0,
              "float16 checkpoint: info and converted tensor");
        free(w);
        /* The word embeddings' mapped pages were given back after conversion:
         * reading the tensor again must still give the file's values. */
        const char *we = "bert.embeddings.word_embeddings.weight";
        struct etu_st hs;
        snprintf(p, sizeof p, "%s/model.safetensors", f16);
        rc = eng_model_tensor_f32(m, we, &w, shape, &nd);
        if (rc == ENG_OK && etu_st_read(p, &hs) == 0) {
            struct json_object *offs =
                json_object_object_get(json_object_object_get(hs.header, we), "data_offsets");
            size_t off = (size_t)json_object_get_int64(json_object_array_get_idx(offs, 0));
            size_t n = (size_t)(shape[0] * shape[1]), bad = 0;
            for (size_t i = 0; i < n; i++) {
                half_t h;
                memcpy(&h, hs.data + off + 2 * i, 2);
                bad += (float)h != w[i];
            }
            check(bad == 0, "float16 word embeddings re-read after their pages were released");
            etu_st_free(&hs);
        } else {
            check(0, "float16 word embeddings re-read");
        }
        free(w);
        eng_model_free(m);
    }

    etu_rmdir(tmp);
    free(tmp);
    etu_st_free(&st);
    etu_st_free(&bare);
    etu_seqs_free(&ids);
    etu_seqs_free(&rids);
    printf("%d failures\n", failures);
    return failures ? 1 : 0;
}
