/* adapter_write.c — write a trained head as a socle adapter directory.
 *
 * DESIGN: the format is docs/adapters.md's (what tasks/adapter.c loads):
 * adapter.json (metadata) + head.safetensors (float32 tensors "out.weight",
 * "out.bias", and "dense.*" for an MLP, "mix.weight"/"mix.gamma" for a layer
 * mix — mix weights raw, the loader applies the softmax). Each file is written
 * to a temporary name and renamed, so a daemon reloading adapters never sees a
 * half-written head.
 */
#include "tools/train/trainer.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

__attribute__((format(printf, 4, 5))) static int fail(char *err, size_t errlen, int st,
                                                      const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return st;
}

struct tensor_ref {
    const char *name;
    const float *data;
    size_t rows, cols; /* cols == 0: 1-D */
};

static size_t tensor_refs(const struct tr_head *h, struct tensor_ref *t) {
    const struct tr_head_cfg *c = &h->cfg;
    size_t n = 0, din = c->mlp ? c->d_hidden : c->d_model;
    if (c->mlp) {
        t[n++] = (struct tensor_ref){"dense.weight", h->w1, c->d_hidden, c->d_model};
        t[n++] = (struct tensor_ref){"dense.bias", h->b1, c->d_hidden, 0};
    }
    if (c->n_mix > 1) {
        t[n++] = (struct tensor_ref){"mix.gamma", h->gamma, 1, 0};
        t[n++] = (struct tensor_ref){"mix.weight", h->mix_w, c->n_mix, 0};
    }
    t[n++] = (struct tensor_ref){"out.bias", h->b2, c->n_out, 0};
    t[n++] = (struct tensor_ref){"out.weight", h->w2, c->n_out, din};
    return n;
}

int tr_head_safetensors(const struct tr_head *h, uint8_t **out, size_t *len) {
    if (!h || !out || !len)
        return TR_EINVAL;
    struct tensor_ref t[6];
    size_t nt = tensor_refs(h, t);
    struct json_object *hdr = json_object_new_object(), *meta = json_object_new_object();
    if (!hdr || !meta) {
        json_object_put(hdr);
        json_object_put(meta);
        return TR_ENOMEM;
    }
    json_object_object_add(meta, "format", json_object_new_string("pt"));
    json_object_object_add(meta, "producer", json_object_new_string("socle-train"));
    json_object_object_add(hdr, "__metadata__", meta);
    size_t off = 0;
    for (size_t i = 0; i < nt; i++) {
        size_t count = t[i].rows * (t[i].cols ? t[i].cols : 1);
        struct json_object *e = json_object_new_object(), *shape = json_object_new_array(),
                           *offs = json_object_new_array();
        json_object_object_add(e, "dtype", json_object_new_string("F32"));
        json_object_array_add(shape, json_object_new_int64((int64_t)t[i].rows));
        if (t[i].cols)
            json_object_array_add(shape, json_object_new_int64((int64_t)t[i].cols));
        json_object_object_add(e, "shape", shape);
        json_object_array_add(offs, json_object_new_int64((int64_t)off));
        json_object_array_add(offs, json_object_new_int64((int64_t)(off + 4 * count)));
        json_object_object_add(e, "data_offsets", offs);
        json_object_object_add(hdr, t[i].name, e);
        off += 4 * count;
    }
    const char *js = json_object_to_json_string_ext(hdr, JSON_C_TO_STRING_PLAIN);
    size_t jl = strlen(js), padded = (jl + 7) / 8 * 8; /* data 8-byte aligned, for mmap */
    size_t total = 8 + padded + off;
    uint8_t *buf = malloc(total);
    if (!buf) {
        json_object_put(hdr);
        return TR_ENOMEM;
    }
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    memcpy(buf + 8, js, jl);
    memset(buf + 8 + jl, ' ', padded - jl);
    json_object_put(hdr);
    uint8_t *p = buf + 8 + padded;
    for (size_t i = 0; i < nt; i++) {
        size_t count = t[i].rows * (t[i].cols ? t[i].cols : 1);
        for (size_t k = 0; k < count; k++) { /* little-endian float32 */
            uint32_t u;
            memcpy(&u, &t[i].data[k], 4);
            p[0] = (uint8_t)u;
            p[1] = (uint8_t)(u >> 8);
            p[2] = (uint8_t)(u >> 16);
            p[3] = (uint8_t)(u >> 24);
            p += 4;
        }
    }
    *out = buf;
    *len = total;
    return TR_OK;
}

static int write_atomic(const char *dir, const char *name, const void *data, size_t len, char *err,
                        size_t errlen) {
    char path[4096], tmp[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return fail(err, errlen, TR_EIO, "%s: %s", tmp, strerror(errno));
    bool ok = fwrite(data, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return fail(err, errlen, TR_EIO, "%s: write failed", path);
    }
    return TR_OK;
}

/* mkdir -p: create dir and its missing parents. */
static int mkdir_p(const char *dir) {
    char tmp[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof(tmp))
        return -1;
    memcpy(tmp, dir, n + 1);
    for (size_t i = 1; i < n; i++)
        if (tmp[i] == '/') {
            tmp[i] = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return -1;
            tmp[i] = '/';
        }
    return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

int tr_adapter_write(const char *dir, const struct tr_adapter_meta *m, const struct tr_head *h,
                     char *err, size_t errlen) {
    if (!dir || !m || !h || !m->name || !m->task || (m->n_labels && !m->labels))
        return TR_EINVAL;
    if (mkdir_p(dir) != 0)
        return fail(err, errlen, TR_EIO, "%s: %s", dir, strerror(errno));
    struct json_object *j = json_object_new_object(), *bb = json_object_new_object(),
                       *labels = json_object_new_array();
    json_object_object_add(j, "format", json_object_new_string("socle-adapter/1"));
    json_object_object_add(j, "name", json_object_new_string(m->name));
    json_object_object_add(j, "task", json_object_new_string(m->task));
    json_object_object_add(bb, "model_type",
                           json_object_new_string(m->model_type ? m->model_type : ""));
    json_object_object_add(bb, "d_model", json_object_new_int(m->d_model));
    json_object_object_add(bb, "n_layers", json_object_new_int(m->n_layers));
    json_object_object_add(bb, "vocab_size", json_object_new_int(m->vocab_size));
    json_object_object_add(j, "backbone", bb);
    for (size_t i = 0; i < m->n_labels; i++)
        json_object_array_add(labels, json_object_new_string(m->labels[i]));
    if (strcmp(m->task, "qa") != 0) { /* a qa head has start/end rows, no labels */
        json_object_object_add(j, "labels", labels);
        json_object_object_add(j, "multi_label", json_object_new_boolean(m->multi_label));
    } else {
        json_object_put(labels);
    }
    if (m->pooling)
        json_object_object_add(j, "pooling", json_object_new_string(m->pooling));
    if (m->n_layer_idx) {
        struct json_object *ly = json_object_new_array();
        for (size_t i = 0; i < m->n_layer_idx; i++)
            json_object_array_add(ly, json_object_new_int(m->layers[i]));
        json_object_object_add(j, "layers", ly);
    }
    json_object_object_add(j, "head", json_object_new_string(h->cfg.mlp ? "mlp" : "linear"));
    if (h->cfg.mlp) {
        static const char *const acts[] = {"tanh", "gelu", "relu"};
        json_object_object_add(j, "activation", json_object_new_string(acts[h->cfg.act]));
    }
    if (m->scheme)
        json_object_object_add(j, "scheme", json_object_new_string(m->scheme));
    if (m->qa_max_seq_len) { /* socled's defaults for requests to this adapter */
        struct json_object *q = json_object_new_object();
        json_object_object_add(q, "max_seq_len", json_object_new_int64((int64_t)m->qa_max_seq_len));
        json_object_object_add(q, "doc_stride", json_object_new_int64((int64_t)m->qa_doc_stride));
        json_object_object_add(q, "max_question_len",
                               json_object_new_int64((int64_t)m->qa_max_question_len));
        json_object_object_add(j, "qa", q);
    }
    if (m->extra_json) {
        struct json_object *x = json_tokener_parse(m->extra_json);
        if (x)
            json_object_object_add(j, "training", x);
    }
    const char *js = json_object_to_json_string_ext(
        j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
    uint8_t *st = NULL;
    size_t st_len = 0;
    int rc = tr_head_safetensors(h, &st, &st_len);
    if (rc == TR_OK)
        rc = write_atomic(dir, "head.safetensors", st, st_len, err, errlen);
    if (rc == TR_OK) {
        char *jsn = NULL;
        size_t jl = strlen(js);
        jsn = malloc(jl + 2);
        if (!jsn) {
            rc = TR_ENOMEM;
        } else {
            memcpy(jsn, js, jl);
            jsn[jl] = '\n';
            rc = write_atomic(dir, "adapter.json", jsn, jl + 1, err, errlen);
            free(jsn);
        }
    }
    free(st);
    json_object_put(j);
    return rc;
}
