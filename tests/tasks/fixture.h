/* fixture.h — helpers for task tests on the model fixtures: locate a fixture,
 * write adapter directories (adapter.json + a float32/float16 safetensors head). */
#ifndef SOCLE_TESTS_TASKS_FIXTURE_H
#define SOCLE_TESTS_TASKS_FIXTURE_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Fixture directory with tokenizer.json + texts.txt, or NULL (the test then exits 77). */
static inline const char *fx_dir(const char *name, char *buf, size_t n) {
    const char *src = getenv("SOCLE_SOURCE_DIR"), *shared = getenv("SOCLE_SHARED_DIR");
    char probe[1200];
    for (int k = 0; k < 2; k++) {
        if (k == 0)
            snprintf(buf, n, "%s/tests/data/models/%s", src ? src : ".", name);
        else
            snprintf(buf, n, "%s/fixtures/models/%s", shared ? shared : "../shared", name);
        snprintf(probe, sizeof(probe), "%s/tokenizer.json", buf);
        if (access(probe, R_OK) != 0)
            continue;
        snprintf(probe, sizeof(probe), "%s/texts.txt", buf);
        if (access(probe, R_OK) == 0)
            return buf;
    }
    return NULL;
}

struct fx_tensor {
    const char *name;
    int n_dims;
    long long shape[2];
    const float *data;
};

/* Write a safetensors file with the tensors stored as F32 (f16 = 0) or F16. */
static inline int fx_write_st(const char *path, const struct fx_tensor *t, size_t n, int f16) {
    char hdr[8192];
    size_t off = 0, hl = 0;
    hl += (size_t)snprintf(hdr + hl, sizeof(hdr) - hl, "{");
    for (size_t i = 0; i < n; i++) {
        size_t count = (size_t)t[i].shape[0] * (t[i].n_dims == 2 ? (size_t)t[i].shape[1] : 1);
        size_t bytes = count * (f16 ? 2 : 4);
        if (t[i].n_dims == 2)
            hl += (size_t)snprintf(hdr + hl, sizeof(hdr) - hl,
                                   "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld,%lld],"
                                   "\"data_offsets\":[%zu,%zu]}",
                                   i ? "," : "", t[i].name, f16 ? "F16" : "F32", t[i].shape[0],
                                   t[i].shape[1], off, off + bytes);
        else
            hl += (size_t)snprintf(hdr + hl, sizeof(hdr) - hl,
                                   "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld],"
                                   "\"data_offsets\":[%zu,%zu]}",
                                   i ? "," : "", t[i].name, f16 ? "F16" : "F32", t[i].shape[0], off,
                                   off + bytes);
        off += bytes;
    }
    hl += (size_t)snprintf(hdr + hl, sizeof(hdr) - hl, "}");
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((unsigned long long)hl >> (8 * i));
    fwrite(len8, 1, 8, f);
    fwrite(hdr, 1, hl, f);
    for (size_t i = 0; i < n; i++) {
        size_t count = (size_t)t[i].shape[0] * (t[i].n_dims == 2 ? (size_t)t[i].shape[1] : 1);
        for (size_t k = 0; k < count; k++) {
            float v = t[i].data[k];
            if (!f16) {
                unsigned char b[4];
                unsigned int u;
                memcpy(&u, &v, 4);
                for (int j = 0; j < 4; j++)
                    b[j] = (unsigned char)(u >> (8 * j));
                fwrite(b, 1, 4, f);
            } else {
                /* float32 -> float16, round to nearest even; test values are normal. */
                unsigned int u;
                memcpy(&u, &v, 4);
                unsigned int sign = (u >> 16) & 0x8000, exp = (u >> 23) & 0xFF, man = u & 0x7FFFFF;
                unsigned short h;
                if (exp == 0 && man == 0) {
                    h = (unsigned short)sign;
                } else {
                    int e = (int)exp - 127 + 15;
                    unsigned int m = man >> 13, rest = man & 0x1FFF;
                    if (rest > 0x1000 || (rest == 0x1000 && (m & 1)))
                        m++;
                    if (m == 0x400) {
                        m = 0;
                        e++;
                    }
                    h = (unsigned short)(sign | ((unsigned int)e << 10) | m);
                }
                unsigned char b[2] = {(unsigned char)(h & 0xFF), (unsigned char)(h >> 8)};
                fwrite(b, 1, 2, f);
            }
        }
    }
    return fclose(f);
}

/* <root>/<name>/adapter.json (json text) + head.safetensors. */
static inline int fx_write_adapter(const char *root, const char *name, const char *json,
                                   const struct fx_tensor *t, size_t n, int f16) {
    char path[1200];
    snprintf(path, sizeof(path), "%s/%s", root, name);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/%s/adapter.json", root, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(json, f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/%s/head.safetensors", root, name);
    return fx_write_st(path, t, n, f16);
}

static inline void fx_rm_adapters(const char *root, const char *const *names, size_t n) {
    char path[1200];
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s/adapter.json", root, names[i]);
        unlink(path);
        snprintf(path, sizeof(path), "%s/%s/head.safetensors", root, names[i]);
        unlink(path);
        snprintf(path, sizeof(path), "%s/%s", root, names[i]);
        rmdir(path);
    }
    rmdir(root);
}

/* texts.txt lines (malloc'd buffer split in place). */
static inline size_t fx_read_lines(const char *dir, const char *file, char **buf, char ***lines,
                                   size_t **lens) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    *buf = malloc((size_t)sz + 1);
    size_t len = fread(*buf, 1, (size_t)sz, f);
    fclose(f);
    (*buf)[len] = 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += (*buf)[i] == '\n';
    if (len && (*buf)[len - 1] != '\n')
        n++;
    *lines = calloc(n + 1, sizeof(char *));
    *lens = calloc(n + 1, sizeof(size_t));
    size_t k = 0, s = 0;
    for (size_t i = 0; i <= len && k < n; i++) {
        if (i == len || (*buf)[i] == '\n') {
            (*lines)[k] = *buf + s;
            (*lens)[k] = i - s;
            if (i < len)
                (*buf)[i] = 0;
            k++;
            s = i + 1;
        }
    }
    return n;
}
#endif
