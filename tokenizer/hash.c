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

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

int tok_pairmap_init(struct tok_pairmap *m, size_t expect) {
    memset(m, 0, sizeof *m);
    size_t cap = 16;
    while (cap < expect * 2) cap <<= 1;
    m->keys = calloc(cap, sizeof *m->keys);
    m->rank = malloc(cap * sizeof *m->rank);
    m->newid = malloc(cap * sizeof *m->newid);
    if (!m->keys || !m->rank || !m->newid) {
        tok_pairmap_free(m);
        return TOK_ENOMEM;
    }
    m->cap = cap;
    return TOK_OK;
}

void tok_pairmap_free(struct tok_pairmap *m) {
    free(m->keys);
    free(m->rank);
    free(m->newid);
    memset(m, 0, sizeof *m);
}

static int pairmap_insert(struct tok_pairmap *m, uint64_t key, int32_t rank, int32_t newid,
                          bool keep_first) {
    size_t j = mix64(key) & (m->cap - 1);
    while (m->keys[j]) {
        if (m->keys[j] == key + 1) {
            if (!keep_first) {
                m->rank[j] = rank;
                m->newid[j] = newid;
            }
            return TOK_OK;
        }
        j = (j + 1) & (m->cap - 1);
    }
    m->keys[j] = key + 1;
    m->rank[j] = rank;
    m->newid[j] = newid;
    m->n++;
    return TOK_OK;
}

int tok_pairmap_put(struct tok_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t newid) {
    if ((m->n + 1) * 2 > m->cap) {
        struct tok_pairmap g;
        int rc = tok_pairmap_init(&g, m->cap);
        if (rc) return rc;
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i]) pairmap_insert(&g, m->keys[i] - 1, m->rank[i], m->newid[i], false);
        tok_pairmap_free(m);
        *m = g;
    }
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    /* HF collects merges into a HashMap: a pair listed twice keeps its last rank. */
    return pairmap_insert(m, key, rank, newid, false);
}

bool tok_pairmap_get(const struct tok_pairmap *m, int32_t a, int32_t b, int32_t *rank,
                     int32_t *newid) {
    if (!m->cap) return false;
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t j = mix64(key) & (m->cap - 1);
    while (m->keys[j]) {
        if (m->keys[j] == key + 1) {
            *rank = m->rank[j];
            *newid = m->newid[j];
            return true;
        }
        j = (j + 1) & (m->cap - 1);
    }
    return false;
}
