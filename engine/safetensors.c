/* safetensors.c — mmap a .safetensors file and validate its header completely.
 *
 * DESIGN: the file is untrusted input. The 8-byte little-endian header length
 * must leave room for the header inside the file and stay under the format's
 * 100 MB limit; the header must be a JSON object; every tensor must have a known
 * dtype, a shape of non-negative dimensions whose byte size (checked for
 * overflow) equals data_offsets[1] - data_offsets[0], offsets inside the data
 * area, and no two tensors may overlap. Only after all of that does anyone get
 * a pointer into the mapping, so later code never reads outside it.
 */
#include "engine/eng_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_MAX_HEADER (100u * 1024u * 1024u) /* the format's own limit */

static const struct {
    const char *name;
    size_t size;
} st_dtypes[ST_N_DTYPES] = {
    [ST_F32] = {"F32", 4},   [ST_F16] = {"F16", 2},         [ST_BF16] = {"BF16", 2},
    [ST_F64] = {"F64", 8},   [ST_I64] = {"I64", 8},         [ST_I32] = {"I32", 4},
    [ST_I16] = {"I16", 2},   [ST_I8] = {"I8", 1},           [ST_U8] = {"U8", 1},
    [ST_BOOL] = {"BOOL", 1}, [ST_U16] = {"U16", 2},         [ST_U32] = {"U32", 4},
    [ST_U64] = {"U64", 8},   [ST_F8_E4M3] = {"F8_E4M3", 1}, [ST_F8_E5M2] = {"F8_E5M2", 1},
};

size_t st_dtype_size(enum st_dtype dt) { return st_dtypes[dt].size; }
const char *st_dtype_name(enum st_dtype dt) { return st_dtypes[dt].name; }

void st_file_free(struct st_file *f) {
    if (!f)
        return;
    for (size_t i = 0; i < f->n_tensors; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    if (f->map && f->map != MAP_FAILED)
        munmap(f->map, f->map_size);
    if (f->fd >= 0)
        close(f->fd);
    free(f->path);
    free(f);
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp(((const struct st_tensor *)a)->name, ((const struct st_tensor *)b)->name);
}

struct span {
    uint64_t begin, end;
    size_t idx;
};
static int cmp_span(const void *a, const void *b) {
    const struct span *x = a, *y = b;
    return x->begin < y->begin   ? -1
           : x->begin > y->begin ? 1
                                 : (x->end > y->end) - (x->end < y->end);
}

/* A non-negative JSON integer, or -1. json-c clamps huge values to INT64_MAX,
 * which then fails the range checks. */
static int64_t json_nonneg(struct json_object *v) {
    if (!v || !json_object_is_type(v, json_type_int))
        return -1;
    int64_t x = json_object_get_int64(v);
    return x < 0 ? -1 : x;
}

static int parse_tensor(struct st_file *f, const char *name, struct json_object *o,
                        uint64_t data_size, struct st_tensor *t, char *err, size_t errlen) {
    const char *p = f->path;
    struct json_object *jd, *js, *jo;
    if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "dtype", &jd) ||
        !json_object_object_get_ex(o, "shape", &js) ||
        !json_object_object_get_ex(o, "data_offsets", &jo))
        return eng_errf(err, errlen, ENG_EFORMAT,
                        "%s: tensor '%s' needs dtype, shape and data_offsets", p, name);
    if (!json_object_is_type(jd, json_type_string))
        return eng_errf(err, errlen, ENG_EFORMAT, "%s: tensor '%s': dtype is not a string", p,
                        name);
    const char *ds = json_object_get_string(jd);
    int dt = -1;
    for (int i = 0; i < ST_N_DTYPES; i++)
        if (strcmp(ds, st_dtypes[i].name) == 0)
            dt = i;
    if (dt < 0)
        return eng_errf(err, errlen, ENG_EFORMAT, "%s: tensor '%s': unknown dtype '%.32s'", p, name,
                        ds);
    t->dtype = (enum st_dtype)dt;
    if (!json_object_is_type(js, json_type_array) || json_object_array_length(js) > 8)
        return eng_errf(err, errlen, ENG_EFORMAT,
                        "%s: tensor '%s': shape must be an array of at most 8 dimensions", p, name);
    t->n_dims = (int)json_object_array_length(js);
    uint64_t n = 1;
    bool overflow = false;
    for (int i = 0; i < t->n_dims; i++) {
        int64_t d = json_nonneg(json_object_array_get_idx(js, (size_t)i));
        if (d < 0)
            return eng_errf(err, errlen, ENG_EFORMAT,
                            "%s: tensor '%s': shape[%d] is not a non-negative integer", p, name, i);
        t->shape[i] = d;
        if (d != 0 && n > UINT64_MAX / (uint64_t)d)
            overflow = true;
        else
            n *= (uint64_t)d;
    }
    uint64_t esz = st_dtypes[dt].size;
    if (overflow || n > UINT64_MAX / esz)
        return eng_errf(err, errlen, ENG_EFORMAT, "%s: tensor '%s': shape overflows", p, name);
    if (!json_object_is_type(jo, json_type_array) || json_object_array_length(jo) != 2)
        return eng_errf(err, errlen, ENG_EFORMAT,
                        "%s: tensor '%s': data_offsets must be [begin, end]", p, name);
    int64_t b = json_nonneg(json_object_array_get_idx(jo, 0));
    int64_t e = json_nonneg(json_object_array_get_idx(jo, 1));
    if (b < 0 || e < 0 || b > e)
        return eng_errf(err, errlen, ENG_EFORMAT, "%s: tensor '%s': bad data_offsets", p, name);
    if ((uint64_t)e > data_size)
        return eng_errf(err, errlen, ENG_EFORMAT,
                        "%s: tensor '%s': data_offsets [%lld, %lld] point outside the file "
                        "(data area is %llu bytes)",
                        p, name, (long long)b, (long long)e, (unsigned long long)data_size);
    if ((uint64_t)(e - b) != n * esz)
        return eng_errf(err, errlen, ENG_EFORMAT,
                        "%s: tensor '%s': %lld bytes at data_offsets but dtype %s x shape needs "
                        "%llu",
                        p, name, (long long)(e - b), ds, (unsigned long long)(n * esz));
    t->n_elems = (size_t)n;
    t->n_bytes = (size_t)(e - b);
    /* data filled in by the caller once the base is known */
    t->data = (const unsigned char *)(uintptr_t)b;
    return ENG_OK;
}

int st_file_open(const char *path, struct st_file **out, char *err, size_t errlen) {
    int rc = ENG_OK, fd = -1;
    struct json_object *root = NULL;
    struct span *spans = NULL;
    struct st_file *f = calloc(1, sizeof *f);
    if (f)
        f->fd = -1;
    if (!f || !(f->path = strdup(path))) {
        rc = eng_errf(err, errlen, ENG_ENOMEM, "out of memory");
        goto fail;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = eng_errf(err, errlen, ENG_EIO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        rc = eng_errf(err, errlen, ENG_EIO, "%s: not a regular file", path);
        goto fail;
    }
    uint64_t fsize = (uint64_t)sb.st_size;
    if (fsize < 8) {
        rc = eng_errf(err, errlen, ENG_EFORMAT,
                      "%s: truncated: %llu bytes, shorter than the 8-byte header length", path,
                      (unsigned long long)fsize);
        goto fail;
    }
    f->map_size = (size_t)fsize;
    f->map = mmap(NULL, f->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        rc = eng_errf(err, errlen, ENG_EIO, "%s: mmap: %s", path, strerror(errno));
        goto fail;
    }
    const unsigned char *base = f->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | base[i];
    if (hlen > ST_MAX_HEADER) {
        rc = eng_errf(err, errlen, ENG_EFORMAT,
                      "%s: header length %llu is absurd (format limit is 100 MB)", path,
                      (unsigned long long)hlen);
        goto fail;
    }
    if (hlen < 2 || hlen > fsize - 8) {
        rc = eng_errf(err, errlen, ENG_EFORMAT,
                      "%s: truncated: header length %llu but the file has %llu bytes", path,
                      (unsigned long long)hlen, (unsigned long long)fsize);
        goto fail;
    }
    if (base[8] != '{') {
        rc = eng_errf(err, errlen, ENG_EFORMAT, "%s: header is not a JSON object", path);
        goto fail;
    }
    struct json_tokener *tok = json_tokener_new_ex(64);
    if (!tok) {
        rc = eng_errf(err, errlen, ENG_ENOMEM, "out of memory");
        goto fail;
    }
    root = json_tokener_parse_ex(tok, (const char *)base + 8, (int)hlen);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t used = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!root || jerr != json_tokener_success || !json_object_is_type(root, json_type_object)) {
        rc = eng_errf(err, errlen, ENG_EFORMAT, "%s: header is not valid JSON (%s)", path,
                      json_tokener_error_desc(jerr));
        goto fail;
    }
    /* The format pads the header with spaces (to align the data); anything
     * else after the object means a wrong header length or a corrupt file. */
    for (size_t i = used; i < hlen; i++)
        if (base[8 + i] != ' ') {
            rc = eng_errf(err, errlen, ENG_EFORMAT,
                          "%s: header has %llu bytes after its JSON object that are not padding",
                          path, (unsigned long long)(hlen - i));
            goto fail;
        }
    uint64_t data_off = 8 + hlen, data_size = fsize - data_off;
    size_t n = (size_t)json_object_object_length(root);
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    spans = calloc(n ? n : 1, sizeof *spans);
    if (!f->tensors || !spans) {
        rc = eng_errf(err, errlen, ENG_ENOMEM, "out of memory");
        goto fail;
    }
    json_object_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0)
            continue;
        struct st_tensor *t = &f->tensors[f->n_tensors];
        if ((rc = parse_tensor(f, key, val, data_size, t, err, errlen)) != ENG_OK)
            goto fail;
        if (!(t->name = strdup(key))) {
            rc = eng_errf(err, errlen, ENG_ENOMEM, "out of memory");
            goto fail;
        }
        uint64_t b = (uint64_t)(uintptr_t)t->data;
        spans[f->n_tensors] = (struct span){b, b + t->n_bytes, f->n_tensors};
        t->data = base + data_off + b;
        f->n_tensors++;
    }
    /* Overlap: sorted by begin, each (non-empty) tensor must start at or after
     * the end of the previous one. */
    qsort(spans, f->n_tensors, sizeof *spans, cmp_span);
    uint64_t prev_end = 0;
    size_t prev = SIZE_MAX;
    for (size_t i = 0; i < f->n_tensors; i++) {
        if (spans[i].begin == spans[i].end)
            continue;
        if (prev != SIZE_MAX && spans[i].begin < prev_end) {
            rc = eng_errf(err, errlen, ENG_EFORMAT, "%s: tensors '%s' and '%s' overlap", path,
                          f->tensors[spans[prev].idx].name, f->tensors[spans[i].idx].name);
            goto fail;
        }
        prev_end = spans[i].end;
        prev = i;
    }
    qsort(f->tensors, f->n_tensors, sizeof *f->tensors, cmp_tensor_name);
    json_object_put(root);
    free(spans);
    f->fd = fd;
    *out = f;
    return ENG_OK;
fail:
    json_object_put(root);
    free(spans);
    if (fd >= 0)
        close(fd);
    st_file_free(f);
    return rc;
}

const struct st_tensor *st_file_find(const struct st_file *f, const char *name) {
    size_t lo = 0, hi = f->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, f->tensors[mid].name);
        if (c == 0)
            return &f->tensors[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}
