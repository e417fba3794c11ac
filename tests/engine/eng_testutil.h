/* eng_testutil.h — helpers shared by the engine tests: fixtures, ids files,
 * gzipped JSON references, the tolerance, and a small safetensors writer for
 * building corrupt and sharded checkpoints. */
#ifndef SOCLE_ENG_TESTUTIL_H
#define SOCLE_ENG_TESTUTIL_H

#include "engine/eng.h"

#include <json-c/json.h>
#include <stdio.h>

#define ETU_SKIP 77

/* Directory of fixture `name`: tests/data/models/<name> when copied there, else
 * $SOCLE_SHARED_DIR/fixtures/models/<name>; NULL when neither exists. */
const char *etu_fixture_dir(const char *name, char *buf, size_t n);

struct etu_seqs {
    int32_t *ids;
    size_t *len;
    size_t n_seqs, n_tokens;
};
int etu_read_seqs(const char *path, struct etu_seqs *s);
void etu_seqs_free(struct etu_seqs *s);

/* Whole gzipped JSON file, parsed (NULL on failure). */
struct json_object *etu_read_json_gz(const char *path);

/* The reference's tolerance, never loosened: |ours - ref| <= 1e-4 + 1e-4 |ref|. */
static inline int etu_close(float ours, double ref) {
    double diff = (double)ours - ref;
    if (diff < 0)
        diff = -diff;
    return diff <= 1e-4 + 1e-4 * (ref < 0 ? -ref : ref);
}

/* Raw safetensors: header object + data blob, as in the file. */
struct etu_st {
    struct json_object *header; /* owned */
    unsigned char *data;        /* owned */
    size_t data_size;
};
int etu_st_read(const char *path, struct etu_st *st);
/* Writes 8-byte length + header JSON + data. hlen_override != 0 writes that
 * header length instead of the true one. */
int etu_st_write(const char *path, const struct etu_st *st, unsigned long long hlen_override);
/* Same, with `pad` spaces after the header JSON (the format allows them): data
 * then starts at 8 + header + pad, which can misalign float32 tensors. */
int etu_st_write_padded(const char *path, const struct etu_st *st, size_t pad);
/* A new file holding only the tensors of `src` whose name passes keep(). */
int etu_st_subset(const struct etu_st *src, int (*keep)(const char *name, void *arg), void *arg,
                  struct etu_st *out);
void etu_st_free(struct etu_st *st);

int etu_copy_file(const char *src, const char *dst);
int etu_write_text(const char *path, const char *text);
/* mkdtemp under $TMPDIR or /tmp; rm -r of it */
char *etu_tmpdir(void);
void etu_rmdir(const char *dir);

#endif
