/* model.c — load a HuggingFace encoder checkpoint directory.
 *
 * DESIGN: config.json is read with HF's defaults for the fields save_pretrained
 * leaves out (it writes only fields that differ from the class defaults), sizes
 * are bounded before anything is allocated, then every tensor the architecture
 * needs is looked up (with and without the `bert.` / `roberta.` / `distilbert.`
 * prefix) in the validated safetensors shards and its shape checked against the
 * config. float32 tensors are used in place from the mapping; float16/bfloat16
 * ones (and any float32 tensor whose offset is not 4-byte aligned, which the
 * format does not guarantee) are converted once into model-owned memory.
 */
#include "engine/eng_impl.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Bounds on config sizes: far above any real encoder, far below what would
 * overflow size arithmetic or ask malloc for terabytes. */
#define LIM_D_MODEL 65536
#define LIM_LAYERS 1024
#define LIM_D_FF (1 << 20)
#define LIM_VOCAB (1 << 24)
#define LIM_POSITIONS (1 << 20)
#define LIM_TYPES (1 << 16)
#define LIM_LABELS (1 << 16)

int eng_errf(char *err, size_t errlen, int status, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return status;
}

const char *eng_strerror(int status) {
    switch (status) {
    case ENG_OK:
        return "ok";
    case ENG_ENOMEM:
        return "out of memory";
    case ENG_EIO:
        return "file missing or unreadable";
    case ENG_EFORMAT:
        return "corrupt safetensors or config.json";
    case ENG_EUNSUPPORTED:
        return "unsupported architecture or dtype";
    case ENG_EINVAL:
        return "invalid argument";
    case ENG_ESHAPE:
        return "tensor missing or of the wrong shape";
    case ENG_ELIMIT:
        return "size over a limit";
    default:
        return "unknown status";
    }
}

struct eng_model_params eng_model_params_default(void) {
    return (struct eng_model_params){.load_head = true, .pack_weights = true};
}

const struct eng_model_info *eng_model_get_info(const struct eng_model *model) {
    return &model->info;
}

void eng_model_free(struct eng_model *m) {
    if (!m)
        return;
    for (size_t i = 0; i < m->n_files; i++)
        st_file_free(m->files[i]);
    free(m->files);
    for (size_t i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
    free(m->owned);
    if (m->labels)
        for (int i = 0; i < m->n_label_names; i++)
            free(m->labels[i]);
    free(m->labels);
    for (int l = 0; m->layers && l < m->info.n_layers; l++) {
        struct eng_layer *L = &m->layers[l];
        free(L->pqkv.data);
        free(L->po.data);
        free(L->p1.data);
        free(L->p2.data);
        free(L->bqkv);
    }
    free(m->layers);
    free(m->model_type);
    free(m->architecture);
    free(m->weights_dtype);
    free(m);
}

/* ---- files ------------------------------------------------------------- */

static char *path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int read_json(const char *path, struct json_object **out, char *err, size_t errlen) {
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return eng_errf(err, errlen, ENG_EIO, "%s: %s", path, strerror(errno));
    int rc = ENG_OK;
    char *buf = NULL;
    if (fseek(fp, 0, SEEK_END) != 0) {
        rc = eng_errf(err, errlen, ENG_EIO, "%s: cannot seek", path);
        goto done;
    }
    long sz = ftell(fp);
    if (sz < 0 || sz > (64L << 20)) {
        rc = eng_errf(err, errlen, ENG_EFORMAT, "%s: size %ld is not that of a JSON config", path,
                      sz);
        goto done;
    }
    rewind(fp);
    buf = malloc((size_t)sz + 1);
    if (!buf) {
        rc = eng_errf(err, errlen, ENG_ENOMEM, "out of memory");
        goto done;
    }
    if (fread(buf, 1, (size_t)sz, fp) != (size_t)sz) {
        rc = eng_errf(err, errlen, ENG_EIO, "%s: short read", path);
        goto done;
    }
    buf[sz] = '\0';
    struct json_tokener *tok = json_tokener_new();
    if (!tok) {
        rc = eng_errf(err, errlen, ENG_ENOMEM, "out of memory");
        goto done;
    }
    struct json_object *o = json_tokener_parse_ex(tok, buf, (int)sz);
    enum json_tokener_error je = json_tokener_get_error(tok);
    json_tokener_free(tok);
    if (!o || je != json_tokener_success || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        rc = eng_errf(err, errlen, ENG_EFORMAT, "%s: not a JSON object (%s)", path,
                      json_tokener_error_desc(je));
        goto done;
    }
    *out = o;
done:
    free(buf);
    fclose(fp);
    return rc;
}

static int add_file(struct eng_model *m, const char *path, char *err, size_t errlen) {
    struct st_file **nf = realloc(m->files, (m->n_files + 1) * sizeof *nf);
    if (!nf)
        return eng_errf(err, errlen, ENG_ENOMEM, "out of memory");
    m->files = nf;
    struct st_file *f;
    int rc = st_file_open(path, &f, err, errlen);
    if (rc != ENG_OK)
        return rc;
    m->files[m->n_files++] = f;
    return ENG_OK;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sharded checkpoint: model.safetensors.index.json {"weight_map": {tensor: file}}.
 * Shard names must be plain file names in the same directory. Each listed
 * tensor must be in the shard the index names; no tensor may be in two shards. */
static int open_sharded(struct eng_model *m, const char *dir, const char *index_path, char *err,
                        size_t errlen) {
    struct json_object *idx = NULL, *wm;
    const char **names = NULL;
    char *p = NULL;
    int rc = read_json(index_path, &idx, err, errlen);
    if (rc != ENG_OK)
        return rc;
    if (!json_object_object_get_ex(idx, "weight_map", &wm) ||
        !json_object_is_type(wm, json_type_object)) {
        rc = eng_errf(err, errlen, ENG_EFORMAT, "%s: no weight_map object", index_path);
        goto done;
    }
    size_t n = (size_t)json_object_object_length(wm), n_names = 0;
    names = calloc(n ? n : 1, sizeof *names);
    if (!names) {
        rc = eng_errf(err, errlen, ENG_ENOMEM, "out of memory");
        goto done;
    }
    json_object_object_foreach(wm, tname, fval) {
        const char *fn =
            json_object_is_type(fval, json_type_string) ? json_object_get_string(fval) : NULL;
        if (!fn || !*fn || strchr(fn, '/') || strcmp(fn, ".") == 0 || strcmp(fn, "..") == 0) {
            rc = eng_errf(err, errlen, ENG_EFORMAT,
                          "%s: tensor '%s': shard must be a file name in the model directory",
                          index_path, tname);
            goto done;
        }
        names[n_names++] = fn;
    }
    qsort(names, n_names, sizeof *names, cmp_str);
    for (size_t i = 0; i < n_names; i++) {
        if (i > 0 && strcmp(names[i], names[i - 1]) == 0)
            continue;
        free(p);
        if (!(p = path_join(dir, names[i]))) {
            rc = eng_errf(err, errlen, ENG_ENOMEM, "out of memory");
            goto done;
        }
        if ((rc = add_file(m, p, err, errlen)) != ENG_OK)
            goto done;
    }
    /* Consistency between the index and the shards. */
    json_object_object_foreach(wm, tn, fv) {
        const char *fn = json_object_get_string(fv);
        bool found = false;
        for (size_t i = 0; i < m->n_files; i++) {
            const char *base = strrchr(m->files[i]->path, '/');
            base = base ? base + 1 : m->files[i]->path;
            if (strcmp(base, fn) == 0 && st_file_find(m->files[i], tn))
                found = true;
        }
        if (!found) {
            rc = eng_errf(err, errlen, ENG_EFORMAT, "%s: tensor '%s' is not in shard '%s'",
                          index_path, tn, fn);
            goto done;
        }
    }
    for (size_t i = 0; i < m->n_files; i++)
        for (size_t j = 0; j < m->files[i]->n_tensors; j++)
            for (size_t k = i + 1; k < m->n_files; k++)
                if (st_file_find(m->files[k], m->files[i]->tensors[j].name)) {
                    rc = eng_errf(err, errlen, ENG_EFORMAT, "tensor '%s' is in two shards (%s, %s)",
                                  m->files[i]->tensors[j].name, m->files[i]->path,
                                  m->files[k]->path);
                    goto done;
                }
done:
    free(p);
    free(names);
    json_object_put(idx);
    return rc;
}

static const struct st_tensor *find_tensor(const struct eng_model *m, const char *name) {
    for (size_t i = 0; i < m->n_files; i++) {
        const struct st_tensor *t = st_file_find(m->files[i], name);
        if (t)
            return t;
    }
    return NULL;
}

/* ---- config ------------------------------------------------------------ */

/* An integer config field, or `def` when absent (HF default). */
static int cfg_int(struct json_object *cfg, const char *key, int64_t def, int64_t lo, int64_t hi,
                   int *out, char *err, size_t errlen) {
    struct json_object *v;
    int64_t x = def;
    if (json_object_object_get_ex(cfg, key, &v) && !json_object_is_type(v, json_type_null)) {
        if (!json_object_is_type(v, json_type_int))
            return eng_errf(err, errlen, ENG_EFORMAT, "config.json: %s is not an integer", key);
        x = json_object_get_int64(v);
    }
    if (x < lo || x > hi)
        return eng_errf(err, errlen, ENG_ELIMIT,
                        "config.json: %s = %lld is outside the supported range [%lld, %lld]", key,
                        (long long)x, (long long)lo, (long long)hi);
    *out = (int)x;
    return ENG_OK;
}

static const char *cfg_str(struct json_object *cfg, const char *key, const char *def) {
    struct json_object *v;
    if (json_object_object_get_ex(cfg, key, &v) && json_object_is_type(v, json_type_string))
        return json_object_get_string(v);
    return def;
}

static const char *ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0 ? s + n - k : NULL;
}

static int parse_config(struct eng_model *m, struct json_object *cfg, char *err, size_t errlen) {
    struct eng_model_info *in = &m->info;
    const char *mt = cfg_str(cfg, "model_type", NULL);
    if (!mt)
        return eng_errf(err, errlen, ENG_EUNSUPPORTED, "config.json: no model_type");
    bool distil = false;
    if (strcmp(mt, "bert") == 0) {
        in->arch = ENG_ARCH_BERT;
    } else if (strcmp(mt, "roberta") == 0 || strcmp(mt, "camembert") == 0 ||
               strcmp(mt, "xlm-roberta") == 0) {
        in->arch = ENG_ARCH_ROBERTA;
    } else if (strcmp(mt, "distilbert") == 0) {
        in->arch = ENG_ARCH_DISTILBERT;
        distil = true;
    } else {
        return eng_errf(err, errlen, ENG_EUNSUPPORTED,
                        "config.json: unknown architecture model_type '%.64s' (supported: bert, "
                        "roberta, camembert, xlm-roberta, distilbert)",
                        mt);
    }
    if (!(m->model_type = strdup(mt)))
        return eng_errf(err, errlen, ENG_ENOMEM, "out of memory");

    struct json_object *archs, *a0;
    const char *arch = "";
    if (json_object_object_get_ex(cfg, "architectures", &archs) &&
        json_object_is_type(archs, json_type_array) && json_object_array_length(archs) > 0 &&
        (a0 = json_object_array_get_idx(archs, 0)) && json_object_is_type(a0, json_type_string))
        arch = json_object_get_string(a0);
    if (!(m->architecture = strdup(arch)))
        return eng_errf(err, errlen, ENG_ENOMEM, "out of memory");

    int rc;
    const char *act;
    if (distil) {
        /* DistilBertConfig defaults; its LayerNorms use eps 1e-12, fixed in code. */
        if ((rc = cfg_int(cfg, "dim", 768, 1, LIM_D_MODEL, &in->d_model, err, errlen)) ||
            (rc = cfg_int(cfg, "n_layers", 6, 1, LIM_LAYERS, &in->n_layers, err, errlen)) ||
            (rc = cfg_int(cfg, "n_heads", 12, 1, LIM_D_MODEL, &in->n_heads, err, errlen)) ||
            (rc = cfg_int(cfg, "hidden_dim", 3072, 1, LIM_D_FF, &in->d_ff, err, errlen)) ||
            (rc = cfg_int(cfg, "vocab_size", 30522, 1, LIM_VOCAB, &in->vocab_size, err, errlen)) ||
            (rc = cfg_int(cfg, "max_position_embeddings", 512, 1, LIM_POSITIONS, &in->max_positions,
                          err, errlen)) ||
            (rc = cfg_int(cfg, "pad_token_id", 0, -1, LIM_VOCAB, &in->pad_token_id, err, errlen)))
            return rc;
        in->type_vocab_size = 0;
        m->ln_eps = 1e-12f;
        act = cfg_str(cfg, "activation", "gelu");
        in->position_offset = 0;
    } else {
        bool roberta = in->arch == ENG_ARCH_ROBERTA;
        /* BertConfig / RobertaConfig defaults (RoBERTa: pad 1, otherwise equal). */
        if ((rc = cfg_int(cfg, "hidden_size", 768, 1, LIM_D_MODEL, &in->d_model, err, errlen)) ||
            (rc = cfg_int(cfg, "num_hidden_layers", 12, 1, LIM_LAYERS, &in->n_layers, err,
                          errlen)) ||
            (rc = cfg_int(cfg, "num_attention_heads", 12, 1, LIM_D_MODEL, &in->n_heads, err,
                          errlen)) ||
            (rc = cfg_int(cfg, "intermediate_size", 3072, 1, LIM_D_FF, &in->d_ff, err, errlen)) ||
            (rc = cfg_int(cfg, "vocab_size", 30522, 1, LIM_VOCAB, &in->vocab_size, err, errlen)) ||
            (rc = cfg_int(cfg, "max_position_embeddings", 512, 1, LIM_POSITIONS, &in->max_positions,
                          err, errlen)) ||
            (rc = cfg_int(cfg, "type_vocab_size", 2, 0, LIM_TYPES, &in->type_vocab_size, err,
                          errlen)) ||
            (rc = cfg_int(cfg, "pad_token_id", roberta ? 1 : 0, roberta ? 0 : -1, LIM_VOCAB,
                          &in->pad_token_id, err, errlen)))
            return rc;
        struct json_object *v;
        double eps = 1e-12;
        if (json_object_object_get_ex(cfg, "layer_norm_eps", &v) &&
            !json_object_is_type(v, json_type_null)) {
            if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
                return eng_errf(err, errlen, ENG_EFORMAT,
                                "config.json: layer_norm_eps is not a number");
            eps = json_object_get_double(v);
        }
        if (!(eps >= 0.0 && eps < 1.0))
            return eng_errf(err, errlen, ENG_EFORMAT, "config.json: layer_norm_eps %g out of range",
                            eps);
        m->ln_eps = (float)eps;
        act = cfg_str(cfg, "hidden_act", "gelu");
        const char *pet = cfg_str(cfg, "position_embedding_type", "absolute");
        if (strcmp(pet, "absolute") != 0)
            return eng_errf(err, errlen, ENG_EUNSUPPORTED,
                            "config.json: position_embedding_type '%.64s' (only 'absolute')", pet);
        /* RoBERTa: positions count from padding_idx + 1 (HF create_position_ids_from_input_ids). */
        in->position_offset = roberta ? in->pad_token_id + 1 : 0;
    }
    if (strcmp(act, "gelu") == 0)
        m->act = ENG_ACT_GELU;
    else if (strcmp(act, "gelu_new") == 0 || strcmp(act, "gelu_pytorch_tanh") == 0)
        m->act = ENG_ACT_GELU_TANH;
    else if (strcmp(act, "relu") == 0)
        m->act = ENG_ACT_RELU;
    else
        return eng_errf(err, errlen, ENG_EUNSUPPORTED, "config.json: activation '%.64s'", act);
    if (in->d_model % in->n_heads != 0)
        return eng_errf(err, errlen, ENG_EFORMAT,
                        "config.json: hidden size %d is not a multiple of the %d heads",
                        in->d_model, in->n_heads);
    if (in->position_offset >= in->max_positions)
        return eng_errf(err, errlen, ENG_EFORMAT,
                        "config.json: pad_token_id %d leaves no positions out of %d",
                        in->pad_token_id, in->max_positions);
    in->max_seq_len = in->max_positions - in->position_offset;

    /* Head from the class name. */
    if (ends_with(arch, "ForSequenceClassification"))
        in->head = ENG_HEAD_SEQCLS;
    else if (ends_with(arch, "ForTokenClassification"))
        in->head = ENG_HEAD_TOKCLS;
    else if (ends_with(arch, "ForQuestionAnswering"))
        in->head = ENG_HEAD_QA;
    else
        in->head = ENG_HEAD_NONE;

    /* Labels: id2label {"0": "neg", ...}, else num_labels, else HF's default 2. */
    struct json_object *jl;
    int n_labels = 2;
    if (json_object_object_get_ex(cfg, "id2label", &jl) &&
        json_object_is_type(jl, json_type_object)) {
        n_labels = json_object_object_length(jl);
        if (n_labels < 1 || n_labels > LIM_LABELS)
            return eng_errf(err, errlen, ENG_ELIMIT, "config.json: %d labels", n_labels);
        if (!(m->labels = calloc((size_t)n_labels, sizeof *m->labels)))
            return eng_errf(err, errlen, ENG_ENOMEM, "out of memory");
        m->n_label_names = n_labels;
        json_object_object_foreach(jl, k, v) {
            char *end;
            errno = 0;
            long id = strtol(k, &end, 10);
            if (errno || *end || end == k || id < 0 || id >= n_labels || m->labels[id] ||
                !json_object_is_type(v, json_type_string))
                return eng_errf(err, errlen, ENG_EFORMAT, "config.json: id2label key '%.32s'", k);
            if (!(m->labels[id] = strdup(json_object_get_string(v))))
                return eng_errf(err, errlen, ENG_ENOMEM, "out of memory");
        }
    } else if ((rc = cfg_int(cfg, "num_labels", 2, 1, LIM_LABELS, &n_labels, err, errlen))) {
        return rc;
    }
    in->n_labels = n_labels;
    return ENG_OK;
}

/* ---- tensors ----------------------------------------------------------- */

static int own(struct eng_model *m, float *p) {
    if (m->n_owned == m->cap_owned) {
        size_t cap = m->cap_owned ? 2 * m->cap_owned : 64;
        float **n = realloc(m->owned, cap * sizeof *n);
        if (!n)
            return ENG_ENOMEM;
        m->owned = n;
        m->cap_owned = cap;
    }
    m->owned[m->n_owned++] = p;
    return ENG_OK;
}

/* Convert any float tensor to a fresh float32 array. */
static float *to_f32(const struct st_tensor *t) {
    float *p = malloc(t->n_elems ? t->n_elems * sizeof *p : 1);
    if (!p)
        return NULL;
    const unsigned char *d = t->data;
    for (size_t i = 0; i < t->n_elems; i++) {
        switch (t->dtype) {
        case ST_F32:
            memcpy(&p[i], d + 4 * i, 4);
            break;
        case ST_F16:
            p[i] = eng_f16_to_f32((uint16_t)(d[2 * i] | d[2 * i + 1] << 8));
            break;
        case ST_BF16:
            p[i] = eng_bf16_to_f32((uint16_t)(d[2 * i] | d[2 * i + 1] << 8));
            break;
        default:
            break;
        }
    }
    return p;
}

static const char *arch_prefix(const struct eng_model *m) {
    switch (m->info.arch) {
    case ENG_ARCH_BERT:
        return "bert.";
    case ENG_ARCH_ROBERTA:
        return "roberta.";
    case ENG_ARCH_DISTILBERT:
        return "distilbert.";
    }
    return "";
}

/* Look up `name` (backbone names are tried with the architecture prefix, then
 * bare), check its shape is (d0) or (d0, d1), and give a float32 view.
 * optional: absence is not an error (w->data stays NULL). */
static int get_w(struct eng_model *m, struct eng_weight *w, bool backbone, bool optional,
                 int64_t d0, int64_t d1, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 9, 10)));
static int get_w(struct eng_model *m, struct eng_weight *w, bool backbone, bool optional,
                 int64_t d0, int64_t d1, char *err, size_t errlen, const char *fmt, ...) {
    char name[256], full[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    const struct st_tensor *t = NULL;
    if (backbone) {
        snprintf(full, sizeof full, "%s%s", arch_prefix(m), name);
        t = find_tensor(m, full);
    }
    if (!t) {
        snprintf(full, sizeof full, "%s", name);
        t = find_tensor(m, name);
    }
    w->data = NULL;
    if (!t) {
        if (optional)
            return ENG_OK;
        return eng_errf(err, errlen, ENG_ESHAPE, "tensor '%s%s' is missing from the checkpoint",
                        backbone ? arch_prefix(m) : "", name);
    }
    int want_dims = d1 < 0 ? 1 : 2;
    if (t->n_dims != want_dims || t->shape[0] != d0 || (want_dims == 2 && t->shape[1] != d1)) {
        char got[128] = "", *g = got;
        for (int i = 0; i < t->n_dims && g < got + sizeof got - 24; i++)
            g += snprintf(g, 24, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        if (want_dims == 1)
            return eng_errf(err, errlen, ENG_ESHAPE,
                            "tensor '%s' has shape [%s], config says [%lld]", full, got,
                            (long long)d0);
        return eng_errf(err, errlen, ENG_ESHAPE,
                        "tensor '%s' has shape [%s], config says [%lld, %lld]", full, got,
                        (long long)d0, (long long)d1);
    }
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16)
        return eng_errf(err, errlen, ENG_EUNSUPPORTED, "tensor '%s' has dtype %s", full,
                        st_dtype_name(t->dtype));
    w->n_dims = want_dims;
    w->shape[0] = d0;
    w->shape[1] = d1 < 0 ? 1 : d1;
    if (t->dtype == ST_F32 && ((uintptr_t)t->data % sizeof(float)) == 0) {
        w->data = (const float *)(const void *)t->data; /* in place: no copy */
        return ENG_OK;
    }
    float *p = to_f32(t);
    if (!p || own(m, p) != ENG_OK) {
        free(p);
        return eng_errf(err, errlen, ENG_ENOMEM, "out of memory");
    }
    w->data = p;
    /* The converted copy is what runs: give back the mapped pages lying wholly
     * inside this tensor (tensors never overlap, so no other tensor uses them).
     * The mapping is private and unmodified, so a later read (e.g.
     * eng_model_tensor_f32) simply faults them in again from the file. */
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)t->data + pg - 1) / pg * pg;
    uintptr_t hi = ((uintptr_t)t->data + t->n_bytes) / pg * pg;
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
    return ENG_OK;
}

static int load_weights(struct eng_model *m, const struct eng_model_params *params, char *err,
                        size_t errlen) {
    struct eng_model_info *in = &m->info;
    int64_t d = in->d_model, ff = in->d_ff;
    int rc;
    bool distil = in->arch == ENG_ARCH_DISTILBERT;
#define W(w, bb, opt, a, b, ...)                                                                   \
    do {                                                                                           \
        if ((rc = get_w(m, (w), (bb), (opt), (a), (b), err, errlen, __VA_ARGS__)) != ENG_OK)       \
            return rc;                                                                             \
    } while (0)
    W(&m->word_emb, true, false, in->vocab_size, d, "embeddings.word_embeddings.weight");
    W(&m->pos_emb, true, false, in->max_positions, d, "embeddings.position_embeddings.weight");
    if (!distil && in->type_vocab_size > 0)
        W(&m->type_emb, true, false, in->type_vocab_size, d,
          "embeddings.token_type_embeddings.weight");
    W(&m->emb_ln_g, true, false, d, -1, "embeddings.LayerNorm.weight");
    W(&m->emb_ln_b, true, false, d, -1, "embeddings.LayerNorm.bias");
    if (!(m->layers = calloc((size_t)in->n_layers, sizeof *m->layers)))
        return eng_errf(err, errlen, ENG_ENOMEM, "out of memory");
    for (int l = 0; l < in->n_layers; l++) {
        struct eng_layer *L = &m->layers[l];
        if (distil) {
            const char *p = "transformer.layer";
            W(&L->wq, true, false, d, d, "%s.%d.attention.q_lin.weight", p, l);
            W(&L->bq, true, false, d, -1, "%s.%d.attention.q_lin.bias", p, l);
            W(&L->wk, true, false, d, d, "%s.%d.attention.k_lin.weight", p, l);
            W(&L->bk, true, false, d, -1, "%s.%d.attention.k_lin.bias", p, l);
            W(&L->wv, true, false, d, d, "%s.%d.attention.v_lin.weight", p, l);
            W(&L->bv, true, false, d, -1, "%s.%d.attention.v_lin.bias", p, l);
            W(&L->wo, true, false, d, d, "%s.%d.attention.out_lin.weight", p, l);
            W(&L->bo, true, false, d, -1, "%s.%d.attention.out_lin.bias", p, l);
            W(&L->ln1_g, true, false, d, -1, "%s.%d.sa_layer_norm.weight", p, l);
            W(&L->ln1_b, true, false, d, -1, "%s.%d.sa_layer_norm.bias", p, l);
            W(&L->w1, true, false, ff, d, "%s.%d.ffn.lin1.weight", p, l);
            W(&L->b1, true, false, ff, -1, "%s.%d.ffn.lin1.bias", p, l);
            W(&L->w2, true, false, d, ff, "%s.%d.ffn.lin2.weight", p, l);
            W(&L->b2, true, false, d, -1, "%s.%d.ffn.lin2.bias", p, l);
            W(&L->ln2_g, true, false, d, -1, "%s.%d.output_layer_norm.weight", p, l);
            W(&L->ln2_b, true, false, d, -1, "%s.%d.output_layer_norm.bias", p, l);
        } else {
            const char *p = "encoder.layer";
            W(&L->wq, true, false, d, d, "%s.%d.attention.self.query.weight", p, l);
            W(&L->bq, true, false, d, -1, "%s.%d.attention.self.query.bias", p, l);
            W(&L->wk, true, false, d, d, "%s.%d.attention.self.key.weight", p, l);
            W(&L->bk, true, false, d, -1, "%s.%d.attention.self.key.bias", p, l);
            W(&L->wv, true, false, d, d, "%s.%d.attention.self.value.weight", p, l);
            W(&L->bv, true, false, d, -1, "%s.%d.attention.self.value.bias", p, l);
            W(&L->wo, true, false, d, d, "%s.%d.attention.output.dense.weight", p, l);
            W(&L->bo, true, false, d, -1, "%s.%d.attention.output.dense.bias", p, l);
            W(&L->ln1_g, true, false, d, -1, "%s.%d.attention.output.LayerNorm.weight", p, l);
            W(&L->ln1_b, true, false, d, -1, "%s.%d.attention.output.LayerNorm.bias", p, l);
            W(&L->w1, true, false, ff, d, "%s.%d.intermediate.dense.weight", p, l);
            W(&L->b1, true, false, ff, -1, "%s.%d.intermediate.dense.bias", p, l);
            W(&L->w2, true, false, d, ff, "%s.%d.output.dense.weight", p, l);
            W(&L->b2, true, false, d, -1, "%s.%d.output.dense.bias", p, l);
            W(&L->ln2_g, true, false, d, -1, "%s.%d.output.LayerNorm.weight", p, l);
            W(&L->ln2_b, true, false, d, -1, "%s.%d.output.LayerNorm.bias", p, l);
        }
    }
    /* Pooler: present in BertModel / RobertaModel checkpoints and BERT's
     * sequence classifier; the token-level heads are saved without it. */
    if (!distil) {
        W(&m->pool_w, true, true, d, d, "pooler.dense.weight");
        if (m->pool_w.data)
            W(&m->pool_b, true, false, d, -1, "pooler.dense.bias");
    }
    in->has_pooler = m->pool_w.data != NULL;

    if (!params->load_head)
        in->head = ENG_HEAD_NONE;
    int nl = in->n_labels;
    switch (in->head) {
    case ENG_HEAD_NONE:
        break;
    case ENG_HEAD_SEQCLS:
        if (in->arch == ENG_ARCH_BERT) {
            if (!in->has_pooler)
                return eng_errf(err, errlen, ENG_ESHAPE,
                                "tensor 'bert.pooler.dense.weight' is missing (BERT sequence "
                                "classification runs on the pooler)");
            W(&m->cls_w, false, false, nl, d, "classifier.weight");
            W(&m->cls_b, false, false, nl, -1, "classifier.bias");
        } else if (in->arch == ENG_ARCH_ROBERTA) {
            W(&m->pre_w, false, false, d, d, "classifier.dense.weight");
            W(&m->pre_b, false, false, d, -1, "classifier.dense.bias");
            W(&m->cls_w, false, false, nl, d, "classifier.out_proj.weight");
            W(&m->cls_b, false, false, nl, -1, "classifier.out_proj.bias");
        } else {
            W(&m->pre_w, false, false, d, d, "pre_classifier.weight");
            W(&m->pre_b, false, false, d, -1, "pre_classifier.bias");
            W(&m->cls_w, false, false, nl, d, "classifier.weight");
            W(&m->cls_b, false, false, nl, -1, "classifier.bias");
        }
        break;
    case ENG_HEAD_TOKCLS:
        W(&m->cls_w, false, false, nl, d, "classifier.weight");
        W(&m->cls_b, false, false, nl, -1, "classifier.bias");
        break;
    case ENG_HEAD_QA:
        in->n_labels = 2;
        W(&m->cls_w, false, false, 2, d, "qa_outputs.weight");
        W(&m->cls_b, false, false, 2, -1, "qa_outputs.bias");
        break;
    }
#undef W
    if (in->head == ENG_HEAD_NONE)
        in->n_labels = 0;
    return ENG_OK;
}

/* ---- packing ------------------------------------------------------------ */

/* The float32 rows a packed weight was made from are not used any more: a converted copy is
 * freed; for a view into the mapping, the pages lying wholly inside the tensor are given back
 * (tensors never overlap, so no other tensor uses them; the mapping is private and clean, so
 * a later read, e.g. eng_model_tensor_f32, faults them in again from the file). */
static void release_src(struct eng_model *m, struct eng_weight *w) {
    const float *p = w->data;
    w->data = NULL;
    for (size_t i = 0; i < m->n_owned; i++) {
        if (m->owned[i] == p) {
            free(m->owned[i]);
            m->owned[i] = m->owned[--m->n_owned];
            return;
        }
    }
    size_t bytes = (size_t)w->shape[0] * (size_t)w->shape[1] * sizeof(float);
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)p + pg - 1) / pg * pg, hi = ((uintptr_t)p + bytes) / pg * pg;
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* The word embeddings are read by pread when they are the mapping itself (see eng_model). */
static void locate_word_rows(struct eng_model *m) {
    const char *p = (const char *)m->word_emb.data;
    for (size_t i = 0; i < m->n_files; i++) {
        const char *lo = m->files[i]->map;
        if (m->files[i]->fd >= 0 && p >= lo && p < lo + m->files[i]->map_size) {
            m->word_fd = m->files[i]->fd;
            m->word_off = (long long)(p - lo);
            return;
        }
    }
}

/* Pack w (n, k) into a packed weight, then release it. */
static int pack(struct eng_model *m, struct eng_pw *pw, struct eng_weight *w) {
    int rc = eng_pw_alloc(pw, (size_t)w->shape[0], (size_t)w->shape[1]);
    if (rc != ENG_OK)
        return rc;
    eng_pw_put(pw, 0, w->data, (size_t)w->shape[0]);
    release_src(m, w);
    return ENG_OK;
}

/* Q, K, V of one layer into one packed weight, head by head ([Q_h K_h V_h] for each head h,
 * see struct eng_layer), with their biases in the same order; the sources released. */
static int pack_qkv(struct eng_model *m, struct eng_layer *L) {
    size_t d = (size_t)m->info.d_model, H = (size_t)m->info.n_heads, dh = d / H;
    struct eng_weight qkv[3] = {L->wq, L->wk, L->wv};
    const float *bias[3] = {L->bq.data, L->bk.data, L->bv.data};
    if (!(L->bqkv = malloc(3 * d * sizeof(float))))
        return ENG_ENOMEM;
    int rc = eng_pw_alloc(&L->pqkv, 3 * d, d);
    if (rc != ENG_OK)
        return rc;
    for (size_t h = 0; h < H; h++)
        for (size_t t = 0; t < 3; t++) {
            size_t col = (3 * h + t) * dh;
            eng_pw_put(&L->pqkv, col, qkv[t].data + h * dh * d, dh);
            memcpy(L->bqkv + col, bias[t] + h * dh, dh * sizeof(float));
        }
    for (int t = 0; t < 3; t++)
        release_src(m, &qkv[t]);
    L->wq.data = L->wk.data = L->wv.data = NULL; /* released through the copies */
    return ENG_OK;
}

/* Every layer's Q|K|V, output, FFN up and down into the sgemm's panels (eng_sgemm_packed):
 * OpenBLAS re-packs a weight on every call, a quarter of the cycles at 128 rows. */
static int pack_layers(struct eng_model *m, char *err, size_t errlen) {
    for (int l = 0; l < m->info.n_layers; l++) {
        struct eng_layer *L = &m->layers[l];
        int rc = pack_qkv(m, L);
        if (rc == ENG_OK)
            rc = pack(m, &L->po, &L->wo);
        if (rc == ENG_OK)
            rc = pack(m, &L->p1, &L->w1);
        if (rc == ENG_OK)
            rc = pack(m, &L->p2, &L->w2);
        if (rc != ENG_OK)
            return eng_errf(err, errlen, rc, "layer %d: no memory to pack the weights", l);
    }
    return ENG_OK;
}

int eng_model_load(const char *dir, const struct eng_model_params *params, struct eng_model **out,
                   char *err, size_t errlen) {
    struct eng_model_params def = eng_model_params_default();
    if (!params)
        params = &def;
    if (!dir || !out)
        return eng_errf(err, errlen, ENG_EINVAL, "eng_model_load: NULL argument");
    struct json_object *cfg = NULL;
    char *p = NULL;
    int rc;
    struct eng_model *m = calloc(1, sizeof *m);
    if (!m)
        return eng_errf(err, errlen, ENG_ENOMEM, "out of memory");
    m->word_fd = -1;
    if (!(p = path_join(dir, "config.json"))) {
        rc = eng_errf(err, errlen, ENG_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = read_json(p, &cfg, err, errlen)) != ENG_OK)
        goto fail;
    if ((rc = parse_config(m, cfg, err, errlen)) != ENG_OK)
        goto fail;

    free(p);
    if (!(p = path_join(dir, "model.safetensors"))) {
        rc = eng_errf(err, errlen, ENG_ENOMEM, "out of memory");
        goto fail;
    }
    FILE *probe = fopen(p, "rb");
    if (probe) {
        fclose(probe);
        rc = add_file(m, p, err, errlen);
    } else {
        free(p);
        if (!(p = path_join(dir, "model.safetensors.index.json"))) {
            rc = eng_errf(err, errlen, ENG_ENOMEM, "out of memory");
            goto fail;
        }
        probe = fopen(p, "rb");
        if (!probe) {
            rc = eng_errf(err, errlen, ENG_EIO,
                          "%s: neither model.safetensors nor model.safetensors.index.json", dir);
            goto fail;
        }
        fclose(probe);
        rc = open_sharded(m, dir, p, err, errlen);
    }
    if (rc != ENG_OK)
        goto fail;
    if ((rc = load_weights(m, params, err, errlen)) != ENG_OK)
        goto fail;
    if (params->pack_weights && (rc = pack_layers(m, err, errlen)) != ENG_OK)
        goto fail;
    locate_word_rows(m);

    /* Summary: dtype of the word embeddings stands for the checkpoint's, and
     * the bytes of every tensor mapped. */
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%sembeddings.word_embeddings.weight", arch_prefix(m));
    const struct st_tensor *we = find_tensor(m, tmp);
    if (!we)
        we = find_tensor(m, "embeddings.word_embeddings.weight");
    const char *dn = !we                    ? "float32"
                     : we->dtype == ST_F16  ? "float16"
                     : we->dtype == ST_BF16 ? "bfloat16"
                                            : "float32";
    if (!(m->weights_dtype = strdup(dn))) {
        rc = eng_errf(err, errlen, ENG_ENOMEM, "out of memory");
        goto fail;
    }
    struct eng_model_info *in = &m->info;
    for (size_t i = 0; i < m->n_files; i++)
        for (size_t j = 0; j < m->files[i]->n_tensors; j++)
            in->weights_bytes += m->files[i]->tensors[j].n_bytes;
    in->model_type = m->model_type;
    in->architecture = m->architecture;
    in->weights_dtype = m->weights_dtype;
    in->id2label = in->head != ENG_HEAD_NONE && in->head != ENG_HEAD_QA
                       ? (const char *const *)m->labels
                       : NULL;
    if (in->id2label && m->n_label_names != in->n_labels) {
        rc = eng_errf(err, errlen, ENG_ESHAPE, "config.json: %d labels in id2label, head has %d",
                      m->n_label_names, in->n_labels);
        goto fail;
    }
    if (in->id2label)
        for (int i = 0; i < in->n_labels; i++)
            if (!m->labels[i]) {
                rc = eng_errf(err, errlen, ENG_EFORMAT, "config.json: id2label lacks id %d", i);
                goto fail;
            }
    json_object_put(cfg);
    free(p);
    *out = m;
    return ENG_OK;
fail:
    json_object_put(cfg);
    free(p);
    eng_model_free(m);
    return rc;
}

int eng_model_tensor_f32(const struct eng_model *model, const char *name, float **out,
                         int64_t shape[4], int *n_dims) {
    if (!model || !name || !out)
        return ENG_EINVAL;
    const struct st_tensor *t = find_tensor(model, name);
    if (!t || t->n_dims > 4)
        return ENG_ESHAPE;
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16)
        return ENG_EUNSUPPORTED;
    float *p = to_f32(t);
    if (!p)
        return ENG_ENOMEM;
    for (int i = 0; i < t->n_dims; i++)
        if (shape)
            shape[i] = t->shape[i];
    if (n_dims)
        *n_dims = t->n_dims;
    *out = p;
    return ENG_OK;
}
