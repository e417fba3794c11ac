/* adapter.c — adapter files (adapter.json + head.safetensors) and checkpoint heads.
 *
 * DESIGN. Every head ends up as the same struct task_head with float32 weights we
 * own: an adapter directory's head.safetensors (float32/float16/bfloat16, read whole:
 * heads are small) or the tensors of the checkpoint's own head (copied out of the
 * engine with eng_model_tensor_f32). A BERT sequence-classification head is "pooler
 * (tanh dense on [CLS]) + linear"; RoBERTa/CamemBERT's is "mlp(tanh) on <s>";
 * DistilBERT's is "mlp(relu) on [CLS]" — so one forward (head.c) serves them all.
 * Everything read from a file is validated here, with a message naming the field,
 * so that a bad adapter fails at load time and never at request time.
 */
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tasks/task_impl.h"

#define MAX_HEAD_FILE ((size_t)512 << 20)
#define MAX_LABELS 100000

static int errf(char *err, size_t errlen, int rc, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

void task_head_free(struct task_head *h) {
    if (!h)
        return;
    free(h->name);
    free(h->source);
    for (size_t i = 0; i < h->n_labels; i++)
        free(h->labels[i]);
    free(h->labels);
    free(h->layers);
    free(h->mix);
    free(h->pool_w);
    free(h->pool_b);
    free(h->dense_w);
    free(h->dense_b);
    free(h->out_w);
    free(h->out_b);
    free(h);
}

/* ---- minimal safetensors reader (whole file in memory) ---- */

struct st_file {
    const uint8_t *data; /* tensor data section */
    size_t data_len;
    json_object *hdr;
};

static float half_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, man = h & 0x3FF;
    float f;
    if (exp == 0) {
        f = ldexpf((float)man, -24); /* subnormal (or zero) */
    } else if (exp == 31) {
        f = man ? NAN : INFINITY;
    } else {
        uint32_t bits = ((exp + 112) << 23) | (man << 13);
        memcpy(&f, &bits, 4);
    }
    uint32_t b;
    memcpy(&b, &f, 4);
    b |= sign;
    memcpy(&f, &b, 4);
    return f;
}

static int st_open(const uint8_t *buf, size_t len, struct st_file *st, char *err, size_t errlen) {
    if (len < 8)
        return errf(err, errlen, TASK_EFORMAT, "head.safetensors: file too short");
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | buf[i];
    if (n > len - 8 || n > (64u << 20))
        return errf(err, errlen, TASK_EFORMAT, "head.safetensors: bad header length");
    json_tokener *tk = json_tokener_new();
    if (!tk)
        return TASK_ENOMEM;
    st->hdr = json_tokener_parse_ex(tk, (const char *)buf + 8, (int)n);
    json_tokener_free(tk);
    if (!st->hdr || !json_object_is_type(st->hdr, json_type_object)) {
        json_object_put(st->hdr);
        st->hdr = NULL;
        return errf(err, errlen, TASK_EFORMAT, "head.safetensors: header is not a JSON object");
    }
    st->data = buf + 8 + n;
    st->data_len = len - 8 - n;
    return TASK_OK;
}

/* Tensor `name` as float32 (malloc'd) with its shape; TASK_ENOTFOUND when absent. */
static int st_get(const struct st_file *st, const char *name, float **out, int64_t shape[2],
                  int *n_dims, char *err, size_t errlen) {
    json_object *t, *jd, *js, *jo;
    if (!json_object_object_get_ex(st->hdr, name, &t))
        return TASK_ENOTFOUND;
    if (!json_object_object_get_ex(t, "dtype", &jd) ||
        !json_object_object_get_ex(t, "shape", &js) ||
        !json_object_object_get_ex(t, "data_offsets", &jo) ||
        !json_object_is_type(js, json_type_array) || !json_object_is_type(jo, json_type_array) ||
        json_object_array_length(jo) != 2)
        return errf(err, errlen, TASK_EFORMAT, "head.safetensors: tensor %s: bad entry", name);
    const char *dt = json_object_get_string(jd);
    size_t esz = strcmp(dt, "F32") == 0                                ? 4
                 : (strcmp(dt, "F16") == 0 || strcmp(dt, "BF16") == 0) ? 2
                                                                       : 0;
    if (!esz)
        return errf(err, errlen, TASK_EFORMAT, "head.safetensors: tensor %s: dtype %s unsupported",
                    name, dt);
    size_t nd = json_object_array_length(js);
    if (nd < 1 || nd > 2)
        return errf(err, errlen, TASK_EFORMAT, "head.safetensors: tensor %s: %zu dims", name, nd);
    size_t count = 1;
    for (size_t i = 0; i < nd; i++) {
        int64_t d = json_object_get_int64(json_object_array_get_idx(js, i));
        if (d <= 0 || d > (1 << 24))
            return errf(err, errlen, TASK_EFORMAT, "head.safetensors: tensor %s: bad shape", name);
        shape[i] = d;
        count *= (size_t)d;
    }
    int64_t a = json_object_get_int64(json_object_array_get_idx(jo, 0));
    int64_t b = json_object_get_int64(json_object_array_get_idx(jo, 1));
    if (a < 0 || b < a || (size_t)b > st->data_len || (size_t)(b - a) != count * esz)
        return errf(err, errlen, TASK_EFORMAT, "head.safetensors: tensor %s: bad data offsets",
                    name);
    float *f = malloc(count * sizeof(float));
    if (!f)
        return TASK_ENOMEM;
    const uint8_t *p = st->data + a;
    for (size_t i = 0; i < count; i++) {
        if (esz == 4) {
            uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
                         (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
            memcpy(&f[i], &u, 4);
        } else {
            uint16_t u = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
            if (dt[0] == 'B') {
                uint32_t w = (uint32_t)u << 16;
                memcpy(&f[i], &w, 4);
            } else {
                f[i] = half_to_f32(u);
            }
        }
    }
    *out = f;
    *n_dims = (int)nd;
    return TASK_OK;
}

/* Fetch a 2-D (rows, cols) or 1-D (rows) tensor with an exact expected shape
 * (0 = take what is there). */
static int st_need(const struct st_file *st, const char *name, int want_dims, size_t *rows,
                   size_t *cols, float **out, char *err, size_t errlen) {
    int64_t shape[2] = {0, 0};
    int nd = 0;
    int rc = st_get(st, name, out, shape, &nd, err, errlen);
    if (rc == TASK_ENOTFOUND)
        return errf(err, errlen, TASK_EFORMAT, "head.safetensors: tensor %s missing", name);
    if (rc != TASK_OK)
        return rc;
    if (nd != want_dims || (*rows && (size_t)shape[0] != *rows) ||
        (want_dims == 2 && *cols && (size_t)shape[1] != *cols)) {
        free(*out);
        *out = NULL;
        return errf(err, errlen, TASK_EFORMAT,
                    "head.safetensors: tensor %s has shape (%lld%s%lld), expected (%zu%s%zu)", name,
                    (long long)shape[0], nd == 2 ? ", " : "", nd == 2 ? (long long)shape[1] : 0LL,
                    *rows, want_dims == 2 ? ", " : "", want_dims == 2 ? *cols : (size_t)0);
    }
    *rows = (size_t)shape[0];
    if (want_dims == 2)
        *cols = (size_t)shape[1];
    return TASK_OK;
}

static int read_file(const char *path, uint8_t **buf, size_t *len, size_t max, char *err,
                     size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return errf(err, errlen, TASK_EIO, "%s: %s", path, strerror(errno));
    int rc = TASK_OK;
    long sz = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        sz = ftell(f);
    if (sz < 0 || fseek(f, 0, SEEK_SET) != 0) {
        rc = errf(err, errlen, TASK_EIO, "%s: cannot size file", path);
        goto done;
    }
    if ((size_t)sz > max) {
        rc = errf(err, errlen, TASK_EFORMAT, "%s: file too large (%ld bytes)", path, sz);
        goto done;
    }
    *buf = malloc((size_t)sz + 1);
    if (!*buf) {
        rc = TASK_ENOMEM;
        goto done;
    }
    if (fread(*buf, 1, (size_t)sz, f) != (size_t)sz) {
        free(*buf);
        *buf = NULL;
        rc = errf(err, errlen, TASK_EIO, "%s: short read", path);
        goto done;
    }
    (*buf)[sz] = 0;
    *len = (size_t)sz;
done:
    fclose(f);
    return rc;
}

/* The model's pooler (BERT-style tanh dense), under whichever prefix it was saved. */
static int load_pooler(const struct eng_model *model, struct task_head *h, char *err,
                       size_t errlen) {
    static const char *const prefixes[] = {"bert.",        "roberta.", "camembert.",
                                           "xlm-roberta.", "",         NULL};
    char name[128];
    if (!model)
        return errf(err, errlen, TASK_EFORMAT, "pooling \"pooler\" needs the model's pooler");
    for (const char *const *p = prefixes; *p; p++) {
        int64_t shape[4];
        int nd;
        snprintf(name, sizeof(name), "%spooler.dense.weight", *p);
        if (eng_model_tensor_f32(model, name, &h->pool_w, shape, &nd) != ENG_OK)
            continue;
        if (nd != 2 || (size_t)shape[0] != h->d_model || (size_t)shape[1] != h->d_model)
            return errf(err, errlen, TASK_EFORMAT, "%s: unexpected shape", name);
        snprintf(name, sizeof(name), "%spooler.dense.bias", *p);
        if (eng_model_tensor_f32(model, name, &h->pool_b, shape, &nd) != ENG_OK || nd != 1 ||
            (size_t)shape[0] != h->d_model)
            return errf(err, errlen, TASK_EFORMAT, "%s: missing or bad shape", name);
        return TASK_OK;
    }
    return errf(err, errlen, TASK_EFORMAT, "pooling \"pooler\" but the model has no pooler");
}

static const char *jstr(json_object *o, const char *key) {
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static bool jhas(json_object *o, const char *key) {
    json_object *v;
    return json_object_object_get_ex(o, key, &v) && v != NULL;
}

static int check_backbone(json_object *bb, const struct eng_model_info *info, char *err,
                          size_t errlen) {
    if (!bb)
        return TASK_OK;
    if (!json_object_is_type(bb, json_type_object))
        return errf(err, errlen, TASK_EFORMAT, "backbone must be an object");
    const char *mt = jstr(bb, "model_type");
    if (mt && info->model_type && strcmp(mt, info->model_type) != 0)
        return errf(err, errlen, TASK_EFORMAT, "backbone model_type %s, loaded model is %s", mt,
                    info->model_type);
    static const char *const keys[] = {"d_model", "n_layers", "vocab_size"};
    const int have[] = {info->d_model, info->n_layers, info->vocab_size};
    for (int i = 0; i < 3; i++) {
        json_object *v;
        if (!json_object_object_get_ex(bb, keys[i], &v) || !v)
            continue;
        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) != have[i])
            return errf(err, errlen, TASK_EFORMAT, "backbone %s %s, loaded model has %d", keys[i],
                        json_object_get_string(v), have[i]);
    }
    return TASK_OK;
}

int task_head_load_mem(const char *json, size_t json_len, const uint8_t *stb, size_t st_len,
                       const char *source, const struct eng_model_info *info,
                       const struct eng_model *model, struct task_head **out, char *err,
                       size_t errlen) {
    struct st_file st = {0};
    struct task_head *h = calloc(1, sizeof(*h));
    json_object *root = NULL;
    int rc = TASK_ENOMEM;
    if (!h)
        return rc;
    h->gamma = 1.0f;
    h->d_model = (size_t)info->d_model;
    h->source = task_strdup(source ? source : "");
    if (!h->source)
        goto fail;

    json_tokener *tk = json_tokener_new();
    if (!tk)
        goto fail;
    root = json_tokener_parse_ex(tk, json, (int)json_len);
    json_tokener_free(tk);
    if (!root || !json_object_is_type(root, json_type_object)) {
        rc = errf(err, errlen, TASK_EFORMAT, "adapter.json is not a JSON object");
        goto fail;
    }
    const char *fmt = jstr(root, "format");
    if (!fmt || strcmp(fmt, "socle-adapter/1") != 0) {
        rc = errf(err, errlen, TASK_EFORMAT, "adapter.json: format must be \"socle-adapter/1\"");
        goto fail;
    }
    const char *name = jstr(root, "name");
    if (!name || !*name || strlen(name) > 128) {
        rc = errf(err, errlen, TASK_EFORMAT, "adapter.json: name missing or too long");
        goto fail;
    }
    if (!(h->name = task_strdup(name)))
        goto fail;
    const char *task = jstr(root, "task");
    if (task && strcmp(task, "classify") == 0) {
        h->kind = TASK_CLASSIFY;
    } else if (task && strcmp(task, "ner") == 0) {
        h->kind = TASK_NER;
    } else if (task && strcmp(task, "qa") == 0) {
        h->kind = TASK_QA;
    } else if (task && strcmp(task, "summarize") == 0) {
        h->kind = TASK_SUMMARIZE; /* a sentence scorer on mean-pooled sentence states */
    } else {
        rc = errf(err, errlen, TASK_EFORMAT,
                  "adapter.json: task must be classify, ner, qa or summarize");
        goto fail;
    }
    json_object *v;
    if ((rc = check_backbone(json_object_object_get_ex(root, "backbone", &v) ? v : NULL, info, err,
                             errlen)) != TASK_OK)
        goto fail;

    /* labels */
    if (h->kind != TASK_QA) {
        if (!json_object_object_get_ex(root, "labels", &v) ||
            !json_object_is_type(v, json_type_array) || json_object_array_length(v) == 0 ||
            json_object_array_length(v) > MAX_LABELS) {
            rc = errf(err, errlen, TASK_EFORMAT, "adapter.json: labels must be a non-empty array");
            goto fail;
        }
        h->n_labels = json_object_array_length(v);
        if (!(h->labels = calloc(h->n_labels, sizeof(char *))))
            goto fail;
        for (size_t i = 0; i < h->n_labels; i++) {
            json_object *l = json_object_array_get_idx(v, i);
            if (!json_object_is_type(l, json_type_string)) {
                rc =
                    errf(err, errlen, TASK_EFORMAT, "adapter.json: labels[%zu] is not a string", i);
                goto fail;
            }
            if (!(h->labels[i] = task_strdup(json_object_get_string(l)))) {
                rc = TASK_ENOMEM;
                goto fail;
            }
        }
    }
    if (json_object_object_get_ex(root, "multi_label", &v) && v) {
        if (!json_object_is_type(v, json_type_boolean)) {
            rc = errf(err, errlen, TASK_EFORMAT, "adapter.json: multi_label must be a boolean");
            goto fail;
        }
        h->multi_label = json_object_get_boolean(v);
    }
    if (h->kind == TASK_SUMMARIZE) {
        /* P(label "summary") is a sentence's salience; the summarizer pools each sentence by
         * the mean of its rows (tasks/job.c), so the head must have been trained on that */
        const char *pl = jstr(root, "pooling");
        size_t k = 0;
        while (k < h->n_labels && strcmp(h->labels[k], "summary") != 0)
            k++;
        if (h->n_labels < 2 || k == h->n_labels || h->multi_label) {
            rc = errf(err, errlen, TASK_EFORMAT,
                      "adapter.json: a summarize adapter needs 2+ labels, one of them \"summary\"");
            goto fail;
        }
        if (pl && strcmp(pl, "mean") != 0) {
            rc = errf(err, errlen, TASK_EFORMAT,
                      "adapter.json: a summarize adapter's pooling must be mean");
            goto fail;
        }
        h->score_label = k;
    }
    if (h->kind == TASK_QA && json_object_object_get_ex(root, "qa", &v) && v) {
        /* {"max_seq_len": 384, "doc_stride": 128, "max_question_len": 64}, each optional */
        static const char *const keys[] = {"max_seq_len", "doc_stride", "max_question_len"};
        size_t *dst[] = {&h->qa_max_seq_len, &h->qa_doc_stride, &h->qa_max_question_len};
        bool obj = json_object_is_type(v, json_type_object);
        for (int k = 0; k < 3; k++) {
            json_object *x = NULL;
            if (obj && !json_object_object_get_ex(v, keys[k], &x))
                continue;
            int64_t n = x && json_object_is_type(x, json_type_int) ? json_object_get_int64(x) : 0;
            if (n < 1 || n > 1000000) {
                rc = errf(err, errlen, TASK_EFORMAT,
                          "adapter.json: qa.%s must be a positive integer", keys[k]);
                goto fail;
            }
            *dst[k] = (size_t)n;
        }
    }
    /* pooling */
    h->pool = h->kind == TASK_CLASSIFY    ? TASK_HPOOL_CLS
              : h->kind == TASK_SUMMARIZE ? TASK_HPOOL_MEAN
                                          : TASK_HPOOL_TOKEN;
    const char *pool = jstr(root, "pooling");
    if (h->kind == TASK_CLASSIFY && pool) {
        if (strcmp(pool, "cls") == 0)
            h->pool = TASK_HPOOL_CLS;
        else if (strcmp(pool, "mean") == 0)
            h->pool = TASK_HPOOL_MEAN;
        else if (strcmp(pool, "pooler") == 0)
            h->pool = TASK_HPOOL_POOLER;
        else {
            rc = errf(err, errlen, TASK_EFORMAT,
                      "adapter.json: pooling must be cls, mean or pooler");
            goto fail;
        }
    }
    /* scheme */
    const char *scheme = jstr(root, "scheme");
    if (scheme) {
        if (strcmp(scheme, "IOB2") == 0 || strcmp(scheme, "BIO") == 0 || strcmp(scheme, "IOB") == 0)
            h->scheme = TASK_SCHEME_IOB2;
        else if (strcmp(scheme, "BIOES") == 0)
            h->scheme = TASK_SCHEME_BIOES;
        else {
            rc = errf(err, errlen, TASK_EFORMAT, "adapter.json: scheme must be IOB2, BIO or BIOES");
            goto fail;
        }
    }
    /* layers */
    if (json_object_object_get_ex(root, "layers", &v) && v) {
        size_t k = json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 0;
        if (k == 0 || k > 256) {
            rc = errf(err, errlen, TASK_EFORMAT, "adapter.json: layers must be a non-empty array");
            goto fail;
        }
        if (!(h->layers = calloc(k, sizeof(int))))
            goto fail;
        h->n_layers = k;
        for (size_t i = 0; i < k; i++) {
            json_object *l = json_object_array_get_idx(v, i);
            int64_t li = json_object_is_type(l, json_type_int) ? json_object_get_int64(l) : 1000000;
            if (li < -(int64_t)(info->n_layers + 1) || li > info->n_layers) {
                rc = errf(err, errlen, TASK_EFORMAT,
                          "adapter.json: layers[%zu] out of range for a %d-layer model", i,
                          info->n_layers);
                goto fail;
            }
            h->layers[i] = (int)(li < 0 ? li + info->n_layers + 1 : li);
        }
        if (k == 1 && h->layers[0] == info->n_layers) { /* just the last layer */
            free(h->layers);
            h->layers = NULL;
            h->n_layers = 0;
        }
    }
    /* head */
    const char *head = jstr(root, "head");
    if (!head || strcmp(head, "linear") == 0) {
        h->mlp = false;
    } else if (strcmp(head, "mlp") == 0) {
        h->mlp = true;
    } else {
        rc = errf(err, errlen, TASK_EFORMAT, "adapter.json: head must be linear or mlp");
        goto fail;
    }
    const char *act = jstr(root, "activation");
    h->act = TASK_ACT_TANH;
    if (act) {
        if (strcmp(act, "tanh") == 0)
            h->act = TASK_ACT_TANH;
        else if (strcmp(act, "gelu") == 0)
            h->act = TASK_ACT_GELU;
        else if (strcmp(act, "relu") == 0)
            h->act = TASK_ACT_RELU;
        else {
            rc = errf(err, errlen, TASK_EFORMAT,
                      "adapter.json: activation must be tanh, gelu or relu");
            goto fail;
        }
    }
    if (jhas(root, "pooling") && h->kind != TASK_CLASSIFY) {
        /* Accepted but meaningless for token heads: say nothing, use tokens. */
    }

    /* weights */
    if ((rc = st_open(stb, st_len, &st, err, errlen)) != TASK_OK)
        goto fail;
    h->d_in = h->d_model;
    if (h->mlp) {
        size_t cols = h->d_model;
        h->d_hidden = 0;
        if ((rc = st_need(&st, "dense.weight", 2, &h->d_hidden, &cols, &h->dense_w, err, errlen)))
            goto fail;
        if ((rc = st_need(&st, "dense.bias", 1, &h->d_hidden, &cols, &h->dense_b, err, errlen)))
            goto fail;
        h->d_in = h->d_hidden;
    }
    size_t n_out = h->kind == TASK_QA ? 2 : 0, cols = h->d_in;
    if ((rc = st_need(&st, "out.weight", 2, &n_out, &cols, &h->out_w, err, errlen)))
        goto fail;
    if ((rc = st_need(&st, "out.bias", 1, &n_out, &cols, &h->out_b, err, errlen)))
        goto fail;
    h->n_out = n_out;
    if (h->kind != TASK_QA && h->n_labels != h->n_out) {
        rc = errf(err, errlen, TASK_EFORMAT, "adapter %s: %zu labels but the head has %zu outputs",
                  h->name, h->n_labels, h->n_out);
        goto fail;
    }
    if (h->n_layers > 1) {
        size_t k = h->n_layers, one = 1, z = 0;
        float *g = NULL;
        if ((rc = st_need(&st, "mix.weight", 1, &k, &z, &h->mix, err, errlen)))
            goto fail;
        if ((rc = st_need(&st, "mix.gamma", 1, &one, &z, &g, err, errlen)))
            goto fail;
        h->gamma = g[0];
        free(g);
        task_softmax(h->mix, k);
    }
    if (h->pool == TASK_HPOOL_POOLER && (rc = load_pooler(model, h, err, errlen)) != TASK_OK)
        goto fail;
    json_object_put(st.hdr);
    json_object_put(root);
    *out = h;
    return TASK_OK;
fail:
    json_object_put(st.hdr);
    json_object_put(root);
    task_head_free(h);
    return rc;
}

int task_head_load_dir(const char *dir, const struct eng_model *model, struct task_head **out,
                       char *err, size_t errlen) {
    char path[4096];
    uint8_t *js = NULL, *st = NULL;
    size_t js_len = 0, st_len = 0;
    char sub[512] = "";
    int rc;
    snprintf(path, sizeof(path), "%s/adapter.json", dir);
    if ((rc = read_file(path, &js, &js_len, (size_t)1 << 20, err, errlen)) != TASK_OK)
        return rc;
    snprintf(path, sizeof(path), "%s/head.safetensors", dir);
    if ((rc = read_file(path, &st, &st_len, MAX_HEAD_FILE, err, errlen)) != TASK_OK)
        goto done;
    rc = task_head_load_mem((const char *)js, js_len, st, st_len, dir, eng_model_get_info(model),
                            model, out, sub, sizeof(sub));
    if (rc != TASK_OK)
        errf(err, errlen, rc, "%s: %s", dir, sub);
done:
    free(js);
    free(st);
    return rc;
}

static int ckpt_tensor(const struct eng_model *model, const char *name, size_t rows, size_t cols,
                       float **out, char *err, size_t errlen) {
    int64_t shape[4];
    int nd;
    if (eng_model_tensor_f32(model, name, out, shape, &nd) != ENG_OK)
        return errf(err, errlen, TASK_EFORMAT, "checkpoint head: tensor %s missing", name);
    if ((cols == 0 && (nd != 1 || (size_t)shape[0] != rows)) ||
        (cols != 0 && (nd != 2 || (size_t)shape[0] != rows || (size_t)shape[1] != cols))) {
        free(*out);
        *out = NULL;
        return errf(err, errlen, TASK_EFORMAT, "checkpoint head: tensor %s has the wrong shape",
                    name);
    }
    return TASK_OK;
}

int task_head_from_checkpoint(const struct eng_model *model, struct task_head **out, char *err,
                              size_t errlen) {
    const struct eng_model_info *info = eng_model_get_info(model);
    struct task_head *h = calloc(1, sizeof(*h));
    int rc = TASK_ENOMEM;
    if (!h)
        return rc;
    size_t d = (size_t)info->d_model;
    h->d_model = h->d_in = d;
    h->gamma = 1.0f;
    h->act = TASK_ACT_TANH;
    const char *dense = NULL, *outp = "classifier";
    switch (info->head) {
    case ENG_HEAD_SEQCLS:
        h->kind = TASK_CLASSIFY;
        h->pool = TASK_HPOOL_CLS;
        if (info->arch == ENG_ARCH_BERT) {
            h->pool = TASK_HPOOL_POOLER;
        } else if (info->arch == ENG_ARCH_ROBERTA) {
            dense = "classifier.dense";
            outp = "classifier.out_proj";
        } else {
            dense = "pre_classifier";
            h->act = TASK_ACT_RELU;
        }
        break;
    case ENG_HEAD_TOKCLS:
        h->kind = TASK_NER;
        h->pool = TASK_HPOOL_TOKEN;
        break;
    case ENG_HEAD_QA:
        h->kind = TASK_QA;
        h->pool = TASK_HPOOL_TOKEN;
        outp = "qa_outputs";
        break;
    default:
        free(h);
        return errf(err, errlen, TASK_EUNIMPL, "the checkpoint has no task head");
    }
    char name[128];
    snprintf(name, sizeof(name), "default-%s", task_kind_name(h->kind));
    h->name = task_strdup(name);
    h->source = task_strdup("checkpoint");
    if (!h->name || !h->source)
        goto fail;
    h->n_out = h->kind == TASK_QA ? 2 : (size_t)info->n_labels;
    if (h->n_out == 0) {
        rc = errf(err, errlen, TASK_EFORMAT, "checkpoint head has no labels");
        goto fail;
    }
    if (h->kind != TASK_QA) {
        h->n_labels = h->n_out;
        if (!(h->labels = calloc(h->n_labels, sizeof(char *))))
            goto fail;
        for (size_t i = 0; i < h->n_labels; i++) {
            if (info->id2label && info->id2label[i]) {
                h->labels[i] = task_strdup(info->id2label[i]);
            } else {
                snprintf(name, sizeof(name), "LABEL_%zu", i);
                h->labels[i] = task_strdup(name);
            }
            if (!h->labels[i])
                goto fail;
        }
    }
    if (h->pool == TASK_HPOOL_POOLER && (rc = load_pooler(model, h, err, errlen)) != TASK_OK)
        goto fail;
    if (dense) {
        h->mlp = true;
        h->d_hidden = h->d_in = d;
        snprintf(name, sizeof(name), "%s.weight", dense);
        if ((rc = ckpt_tensor(model, name, d, d, &h->dense_w, err, errlen)) != TASK_OK)
            goto fail;
        snprintf(name, sizeof(name), "%s.bias", dense);
        if ((rc = ckpt_tensor(model, name, d, 0, &h->dense_b, err, errlen)) != TASK_OK)
            goto fail;
    }
    snprintf(name, sizeof(name), "%s.weight", outp);
    if ((rc = ckpt_tensor(model, name, h->n_out, h->d_in, &h->out_w, err, errlen)) != TASK_OK)
        goto fail;
    snprintf(name, sizeof(name), "%s.bias", outp);
    if ((rc = ckpt_tensor(model, name, h->n_out, 0, &h->out_b, err, errlen)) != TASK_OK)
        goto fail;
    *out = h;
    return TASK_OK;
fail:
    task_head_free(h);
    return rc;
}

int task_head_builtin(enum task_kind kind, struct task_head **out) {
    struct task_head *h = calloc(1, sizeof(*h));
    if (!h)
        return TASK_ENOMEM;
    char name[64];
    snprintf(name, sizeof(name), "default-%s", task_kind_name(kind));
    h->name = task_strdup(name);
    h->source = task_strdup("builtin");
    h->kind = kind;
    h->pool = TASK_HPOOL_MEAN;
    h->gamma = 1.0f;
    if (!h->name || !h->source) {
        task_head_free(h);
        return TASK_ENOMEM;
    }
    *out = h;
    return TASK_OK;
}
