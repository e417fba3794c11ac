#include "tests/engine/eng_testutil.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static int exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

const char *etu_fixture_dir(const char *name, char *buf, size_t n) {
    const char *src = getenv("SOCLE_SOURCE_DIR");
    char probe[4096];
    snprintf(buf, n, "%s/tests/data/models/%s", src ? src : ".", name);
    snprintf(probe, sizeof probe, "%s/config.json", buf);
    if (exists(probe))
        return buf;
    const char *sh = getenv("SOCLE_SHARED_DIR");
    snprintf(buf, n, "%s/fixtures/models/%s", sh ? sh : "../shared", name);
    snprintf(probe, sizeof probe, "%s/config.json", buf);
    if (exists(probe))
        return buf;
    return NULL;
}

void etu_seqs_free(struct etu_seqs *s) {
    free(s->ids);
    free(s->len);
    memset(s, 0, sizeof *s);
}

int etu_read_seqs(const char *path, struct etu_seqs *s) {
    FILE *fp = fopen(path, "r");
    memset(s, 0, sizeof *s);
    if (!fp)
        return -1;
    char *line = NULL;
    size_t lcap = 0, cap_t = 0, cap_s = 0;
    while (getline(&line, &lcap, fp) >= 0) {
        char *p = line, *end;
        size_t len = 0;
        for (;;) {
            long v = strtol(p, &end, 10);
            if (end == p)
                break;
            p = end;
            if (s->n_tokens == cap_t) {
                cap_t = cap_t ? 2 * cap_t : 1024;
                s->ids = realloc(s->ids, cap_t * sizeof *s->ids);
                if (!s->ids)
                    abort();
            }
            s->ids[s->n_tokens++] = (int32_t)v;
            len++;
        }
        if (!len)
            continue;
        if (s->n_seqs == cap_s) {
            cap_s = cap_s ? 2 * cap_s : 64;
            s->len = realloc(s->len, cap_s * sizeof *s->len);
            if (!s->len)
                abort();
        }
        s->len[s->n_seqs++] = len;
    }
    free(line);
    fclose(fp);
    return 0;
}

struct json_object *etu_read_json_gz(const char *path) {
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return NULL;
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n + 65536 > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        if (!buf)
            abort();
        int got = gzread(gz, buf + n, 65536);
        if (got < 0) {
            free(buf);
            gzclose(gz);
            return NULL;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    gzclose(gz);
    struct json_tokener *tok = json_tokener_new();
    struct json_object *o = json_tokener_parse_ex(tok, buf, (int)n);
    json_tokener_free(tok);
    free(buf);
    return o;
}

int etu_st_read(const char *path, struct etu_st *st) {
    memset(st, 0, sizeof *st);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return -1;
    unsigned char l8[8];
    if (fread(l8, 1, 8, fp) != 8) {
        fclose(fp);
        return -1;
    }
    unsigned long long hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | l8[i];
    char *h = malloc(hlen + 1);
    if (!h || fread(h, 1, hlen, fp) != hlen) {
        free(h);
        fclose(fp);
        return -1;
    }
    h[hlen] = 0;
    st->header = json_tokener_parse(h);
    free(h);
    long start = ftell(fp);
    fseek(fp, 0, SEEK_END);
    long end = ftell(fp);
    fseek(fp, start, SEEK_SET);
    st->data_size = (size_t)(end - start);
    st->data = malloc(st->data_size ? st->data_size : 1);
    if (!st->header || !st->data || fread(st->data, 1, st->data_size, fp) != st->data_size) {
        fclose(fp);
        etu_st_free(st);
        return -1;
    }
    fclose(fp);
    return 0;
}

static int st_write(const char *path, const struct etu_st *st, unsigned long long hlen_override,
                    size_t pad) {
    const char *h = json_object_to_json_string_ext(st->header, JSON_C_TO_STRING_PLAIN);
    unsigned long long hlen = strlen(h);
    unsigned long long wl = hlen_override ? hlen_override : hlen + pad;
    unsigned char l8[8];
    for (int i = 0; i < 8; i++)
        l8[i] = (unsigned char)(wl >> (8 * i));
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    int ok = fwrite(l8, 1, 8, fp) == 8 && fwrite(h, 1, hlen, fp) == hlen;
    for (size_t i = 0; i < pad; i++)
        ok &= fputc(' ', fp) == ' ';
    ok &= fwrite(st->data, 1, st->data_size, fp) == st->data_size;
    return fclose(fp) == 0 && ok ? 0 : -1;
}

int etu_st_write(const char *path, const struct etu_st *st, unsigned long long hlen_override) {
    return st_write(path, st, hlen_override, 0);
}

int etu_st_write_padded(const char *path, const struct etu_st *st, size_t pad) {
    return st_write(path, st, 0, pad);
}

int etu_st_subset(const struct etu_st *src, int (*keep)(const char *name, void *arg), void *arg,
                  struct etu_st *out) {
    memset(out, 0, sizeof *out);
    out->header = json_object_new_object();
    out->data = malloc(src->data_size ? src->data_size : 1);
    if (!out->header || !out->data)
        abort();
    json_object_object_foreach(src->header, name, t) {
        if (strcmp(name, "__metadata__") == 0) {
            json_object_object_add(out->header, name, json_object_get(t));
            continue;
        }
        if (!keep(name, arg))
            continue;
        struct json_object *offs = json_object_object_get(t, "data_offsets");
        size_t b = (size_t)json_object_get_int64(json_object_array_get_idx(offs, 0));
        size_t e = (size_t)json_object_get_int64(json_object_array_get_idx(offs, 1));
        memcpy(out->data + out->data_size, src->data + b, e - b);
        struct json_object *nt = json_object_new_object(), *no = json_object_new_array();
        json_object_object_add(nt, "dtype", json_object_get(json_object_object_get(t, "dtype")));
        json_object_object_add(nt, "shape", json_object_get(json_object_object_get(t, "shape")));
        json_object_array_add(no, json_object_new_int64((int64_t)out->data_size));
        json_object_array_add(no, json_object_new_int64((int64_t)(out->data_size + e - b)));
        json_object_object_add(nt, "data_offsets", no);
        json_object_object_add(out->header, name, nt);
        out->data_size += e - b;
    }
    return 0;
}

void etu_st_free(struct etu_st *st) {
    json_object_put(st->header);
    free(st->data);
    memset(st, 0, sizeof *st);
}

int etu_copy_file(const char *src, const char *dst) {
    FILE *in = fopen(src, "rb");
    if (!in)
        return -1;
    FILE *out = fopen(dst, "wb");
    if (!out) {
        fclose(in);
        return -1;
    }
    char buf[65536];
    size_t n;
    int ok = 1;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        ok &= fwrite(buf, 1, n, out) == n;
    fclose(in);
    return fclose(out) == 0 && ok ? 0 : -1;
}

int etu_write_text(const char *path, const char *text) {
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    int ok = fputs(text, fp) >= 0;
    return fclose(fp) == 0 && ok ? 0 : -1;
}

char *etu_tmpdir(void) {
    const char *t = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/socle-eng-XXXXXX", t && *t ? t : "/tmp");
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

void etu_rmdir(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[4096];
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            struct stat sb;
            if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
                etu_rmdir(p);
            else
                unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}
