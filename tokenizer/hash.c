/* hash.c — open-addressing hash tables for vocabularies and BPE merges.
 * Built once at load time, then only read (thread-safe lookups, no locks). Linear probing
 * with the full 64-bit hash stored next to each slot, so a probe rarely touches key bytes. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_impl.h"

uint64_t tok_hash_bytes(const void *p, size_t n) {
    /* FNV-1a over 8-byte words then a final mix: fast on short tokens, good enough spread. */
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ull ^ (n * 0x9E3779B97F4A7C15ull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    while (n--) h = (h ^ *s++) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

int tok_hash_init(struct tok_hash *h, size_t expect) {
    memset(h, 0, sizeof *h);
    size_t cap = 16;
    while (cap < expect * 2) cap <<= 1;
    h->slots = calloc(cap, sizeof *h->slots);
    h->hashes = calloc(cap, sizeof *h->hashes);
    h->kcap = expect ? expect : 8;
    h->keys = malloc(h->kcap * sizeof *h->keys);
    h->klens = malloc(h->kcap * sizeof *h->klens);
    h->vals = malloc(h->kcap * sizeof *h->vals);
    if (!h->slots || !h->hashes || !h->keys || !h->klens || !h->vals) {
        tok_hash_free(h);
        return TOK_ENOMEM;
    }
    h->cap = cap;
    return TOK_OK;
}

void tok_hash_free(struct tok_hash *h) {
    free(h->slots);
    free(h->hashes);
    free(h->keys);
    free(h->klens);
    free(h->vals);
    memset(h, 0, sizeof *h);
}

static int hash_grow(struct tok_hash *h) {
    size_t cap = h->cap * 2;
    uint32_t *slots = calloc(cap, sizeof *slots);
    uint64_t *hashes = calloc(cap, sizeof *hashes);
    if (!slots || !hashes) {
        free(slots);
        free(hashes);
        return TOK_ENOMEM;
    }
    for (size_t i = 0; i < h->cap; i++) {
        if (!h->slots[i]) continue;
        size_t j = h->hashes[i] & (cap - 1);
        while (slots[j]) j = (j + 1) & (cap - 1);
        slots[j] = h->slots[i];
        hashes[j] = h->hashes[i];
    }
    free(h->slots);
    free(h->hashes);
    h->slots = slots;
    h->hashes = hashes;
    h->cap = cap;
    return TOK_OK;
}

int tok_hash_put(struct tok_hash *h, const char *key, size_t len, int32_t val) {
    if (len > UINT32_MAX) return TOK_ELIMIT;
    uint64_t hv = tok_hash_bytes(key, len);
    size_t j = hv & (h->cap - 1);
    while (h->slots[j]) {
        uint32_t k = h->slots[j] - 1;
        if (h->hashes[j] == hv && h->klens[k] == len && memcmp(h->keys[k], key, len) == 0) {
            h->vals[k] = val;
            return TOK_OK;
        }
        j = (j + 1) & (h->cap - 1);
    }
    if (h->n + 1 >= UINT32_MAX) return TOK_ELIMIT;
    if (h->n == h->kcap) {
        size_t nc = h->kcap * 2;
        const char **k = realloc(h->keys, nc * sizeof *k);
        if (!k) return TOK_ENOMEM;
        h->keys = k;
        uint32_t *l = realloc(h->klens, nc * sizeof *l);
        if (!l) return TOK_ENOMEM;
        h->klens = l;
        int32_t *v = realloc(h->vals, nc * sizeof *v);
        if (!v) return TOK_ENOMEM;
        h->vals = v;
        h->kcap = nc;
    }
    h->keys[h->n] = key;
    h->klens[h->n] = (uint32_t)len;
    h->vals[h->n] = val;
    h->n++;
    h->slots[j] = (uint32_t)h->n;
    h->hashes[j] = hv;
    if (h->n * 2 > h->cap) return hash_grow(h);
    return TOK_OK;
}

int32_t tok_hash_get(const struct tok_hash *h, const char *key, size_t len) {
    if (!h->cap) return -1;
    uint64_t hv = tok_hash_bytes(key, len);
    size_t j = hv & (h->cap - 1);
    while (h->slots[j]) {
        uint32_t k = h->slots[j] - 1;
        if (h->hashes[j] == hv && h->klens[k] == len && memcmp(h->keys[k], key, len) == 0)
            return h->vals[k];
        j = (j + 1) & (h->cap - 1);
    }
    return -1;
}

int tok_pairmap_init(struct tok_pairmap *m, size_t expect) {
    memset(m, 0, sizeof *m);
    size_t cap = 16;
    while (cap < expect + expect / 3) cap <<= 1; /* load ≤ 3/4: fewer cache misses */
    m->e = calloc(cap, sizeof *m->e);
    if (!m->e) return TOK_ENOMEM;
    m->cap = cap;
    return TOK_OK;
}

void tok_pairmap_free(struct tok_pairmap *m) {
    free(m->e);
    memset(m, 0, sizeof *m);
}

/* key is already +1 */
static void pairmap_insert(struct tok_pairmap *m, uint64_t key, int32_t rank, int32_t newid) {
    size_t j = tok_mix64(key) & (m->cap - 1);
    while (m->e[j].key) {
        if (m->e[j].key == key) {
            m->e[j].rank = rank;
            m->e[j].newid = newid;
            return;
        }
        j = (j + 1) & (m->cap - 1);
    }
    m->e[j] = (struct tok_pairent){key, rank, newid};
    m->n++;
}

int tok_pairmap_put(struct tok_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t newid) {
    if ((m->n + 1) * 4 > m->cap * 3) {
        struct tok_pairmap g;
        int rc = tok_pairmap_init(&g, m->cap);
        if (rc) return rc;
        for (size_t i = 0; i < m->cap; i++)
            if (m->e[i].key) pairmap_insert(&g, m->e[i].key, m->e[i].rank, m->e[i].newid);
        tok_pairmap_free(m);
        *m = g;
    }
    /* HF collects merges into a HashMap: a pair listed twice keeps its last rank. */
    pairmap_insert(m, (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1, rank, newid);
    return TOK_OK;
}
