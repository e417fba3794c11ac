/* precompiled.c — SentencePiece "precompiled_charsmap" normalizer, as HF tokenizers runs it.
 *
 * DESIGN. The charsmap is SentencePiece's compiled normalization rule set (nmt_nfkc and
 * friends): a Darts-clone double-array trie whose keys are UTF-8 sequences and whose values
 * are offsets into a pool of NUL-terminated replacement strings. We keep the decoded blob
 * as is and walk the double array in place (no rebuilding), bounds-checking every unit
 * because the blob comes from a file.
 *
 * HF's algorithm (tokenizers/src/normalizers/precompiled.rs + the spm_precompiled crate) is
 * not SentencePiece's longest-match normalizer, and we copy HF's exactly because golden
 * outputs come from HF:
 *   - text is cut into extended grapheme clusters; a cluster shorter than 6 bytes is looked
 *     up whole first; on a miss, each of its chars is looked up on its own;
 *   - a lookup returns the replacement of the FIRST (shortest) key that is a prefix of the
 *     chunk, even if it does not cover the whole chunk, and stops at a NUL byte;
 *   - replacements are recorded as HF (char, change) transformations, where a shrinking
 *     replacement charges the removed chars to the last recorded char — possibly one of an
 *     earlier cluster, or nobody at the very start — and the transformations are then applied
 *     with NormalizedString::transform's alignment rules.
 * Grapheme clusters come from utf8proc_grapheme_break_stateful (HF uses the
 * unicode-segmentation crate; both implement UAX #29 extended clusters, possibly at
 * different Unicode versions).
 */
#include "tokenizer/spm_impl.h"

#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

struct tok_precompiled {
    uint32_t *units;  /* (n_units) Darts-clone double array, host byte order */
    size_t n_units;
    char *pool;       /* (pool_len) NUL-terminated replacement strings */
    size_t pool_len;
    /* ascii_free[c]: c (< 0x80, not CR) is not a key by itself, so c passes through
     * whenever it is a grapheme on its own, i.e. followed by ASCII or the end — the fast
     * path that lets plain ASCII text skip grapheme segmentation and lookups. (Keys may
     * still start with c: "e" + U+0301 → "é"; those need a non-ASCII next char.) */
    bool ascii_free[128];
};

/* ---- base64 (RFC 4648 standard alphabet, padding optional) ---- */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decode into a malloc'd buffer. TOK_EINVAL on a character outside the alphabet, on
 * data after padding, or on a dangling 6-bit group. */
static int b64_decode(const char *s, size_t len, unsigned char **out, size_t *out_len)
{
    while (len > 0 && s[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return TOK_EINVAL;
    unsigned char *buf = malloc(len / 4 * 3 + 3);
    if (!buf)
        return TOK_ENOMEM;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0) {
            free(buf);
            return TOK_EINVAL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (unsigned char)(acc >> bits);
        }
    }
    *out = buf;
    *out_len = o;
    return TOK_OK;
}

/* ---- Darts-clone unit accessors (darts.h DoubleArrayUnit) ---- */

static inline uint32_t unit_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }
static inline uint32_t unit_label(uint32_t u) { return u & ((1u << 31) | 0xffu); }
static inline bool unit_has_leaf(uint32_t u) { return (u >> 8) & 1u; }
static inline uint32_t unit_value(uint32_t u) { return u & ((1u << 31) - 1); }

/* Replacement for the shortest key that prefixes key[0, len), or NULL. A value that
 * points outside the pool or into the middle of a UTF-8 sequence counts as no match (HF
 * would panic on such a file; we refuse to read out of bounds instead). */
static const char *pc_lookup(const struct tok_precompiled *p, const unsigned char *key,
                             size_t len, size_t *rep_len)
{
    if (p->n_units == 0)
        return NULL;
    size_t pos = unit_offset(p->units[0]);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = key[i];
        if (c == 0)
            return NULL; /* spm_precompiled stops at NUL */
        pos ^= c;
        if (pos >= p->n_units)
            return NULL;
        uint32_t u = p->units[pos];
        if (unit_label(u) != c)
            return NULL;
        pos ^= unit_offset(u);
        if (pos >= p->n_units)
            return NULL;
        if (unit_has_leaf(u)) {
            size_t v = unit_value(p->units[pos]);
            if (v >= p->pool_len || ((unsigned char)p->pool[v] & 0xC0) == 0x80)
                return NULL;
            *rep_len = strlen(p->pool + v); /* pool ends with a NUL we add on load */
            return p->pool + v;
        }
    }
    return NULL;
}

static bool utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &cp);
        if (k <= 0)
            return false;
        i += (size_t)k;
    }
    return true;
}

int tok_precompiled_new_base64(const char *b64, size_t len, struct tok_precompiled **out)
{
    if (!b64 || !out)
        return TOK_EINVAL;
    unsigned char *blob = NULL;
    size_t blob_len = 0;
    struct tok_precompiled *p = NULL;
    int rc = b64_decode(b64, len, &blob, &blob_len);
    if (rc != TOK_OK)
        return rc;
    rc = TOK_EINVAL;
    if (blob_len < 4)
        goto fail;
    uint32_t trie_size = (uint32_t)blob[0] | (uint32_t)blob[1] << 8 | (uint32_t)blob[2] << 16 |
                         (uint32_t)blob[3] << 24;
    if (trie_size % 4 != 0 || trie_size > blob_len - 4)
        goto fail;
    size_t pool_len = blob_len - 4 - trie_size;
    if (!utf8_valid(blob + 4 + trie_size, pool_len))
        goto fail; /* HF: String::from_utf8 on the pool */
    rc = TOK_ENOMEM;
    p = calloc(1, sizeof *p);
    if (!p)
        goto fail;
    p->n_units = trie_size / 4;
    p->units = malloc(p->n_units ? p->n_units * sizeof *p->units : 1);
    p->pool = malloc(pool_len + 1);
    if (!p->units || !p->pool)
        goto fail;
    for (size_t i = 0; i < p->n_units; i++) {
        const unsigned char *b = blob + 4 + 4 * i;
        p->units[i] = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                      (uint32_t)b[3] << 24;
    }
    memcpy(p->pool, blob + 4 + trie_size, pool_len);
    p->pool[pool_len] = '\0'; /* so a last string without its NUL still ends */
    p->pool_len = pool_len;
    for (int c = 0; c < 128; c++) {
        unsigned char ch = (unsigned char)c;
        size_t rl;
        p->ascii_free[c] = c != '\r' && pc_lookup(p, &ch, 1, &rl) == NULL;
    }
    free(blob);
    *out = p;
    return TOK_OK;
fail:
    free(blob);
    tok_precompiled_free(p);
    return rc;
}

void tok_precompiled_free(struct tok_precompiled *p)
{
    if (!p)
        return;
    free(p->units);
    free(p->pool);
    free(p);
}

/* ---- normalization ---- */

/* One HF transformation: a char of the output (bytes at src, n bytes) and its change:
 * > 0 inserted, 0 replaces one input char, < 0 replaces one and removes -change more.
 * run = true: src[0, n) are n one-byte chars, each with change 0 (pass-through ASCII,
 * kept as one entry so plain text costs a memcpy, not a loop of entries). */
struct pc_change {
    const char *src;
    uint32_t n;
    int32_t change;
    bool run;
};

struct pc_vec {
    struct pc_change *v;
    size_t n, cap;
};

static int pc_push(struct pc_vec *t, const char *src, uint32_t n, int32_t change, bool run)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        struct pc_change *v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return TOK_ENOMEM;
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n++] = (struct pc_change){src, n, change, run};
    return TOK_OK;
}

/* Byte length of the UTF-8 sequence starting with lead byte c (1 for a stray byte, so we
 * always make progress; input is validated by the caller anyway). */
static inline uint32_t u8len(unsigned char c)
{
    if (c < 0x80)
        return 1;
    if (c >= 0xF0)
        return 4;
    if (c >= 0xE0)
        return 3;
    if (c >= 0xC0)
        return 2;
    return 1;
}

static size_t u8count(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* HF precompiled.rs `replace`: old (n_old chars) becomes rep (rep_len bytes). */
static int pc_replace(struct pc_vec *t, size_t n_old, const char *rep, size_t rep_len)
{
    size_t first = t->n;
    for (size_t i = 0; i < rep_len;) {
        uint32_t k = u8len((unsigned char)rep[i]);
        if (k > rep_len - i)
            k = (uint32_t)(rep_len - i);
        int rc = pc_push(t, rep + i, k, 0, false);
        if (rc != TOK_OK)
            return rc;
        i += k;
    }
    long diff = (long)(t->n - first) - (long)n_old;
    if (diff > 0) {
        for (size_t i = t->n - (size_t)diff; i < t->n; i++)
            t->v[i].change = 1;
    } else if (diff < 0 && t->n > 0) {
        struct pc_change *last = &t->v[t->n - 1];
        if (last->run) {
            /* only the run's last char is charged: split it off */
            const char *c = last->src + last->n - 1;
            if (--last->n == 0)
                t->n--;
            int rc = pc_push(t, c, 1, 0, false);
            if (rc != TOK_OK)
                return rc;
            last = &t->v[t->n - 1];
        }
        last->change += (int32_t)diff;
    }
    return TOK_OK;
}

/* End of the extended grapheme cluster that starts at s[i]. */
static size_t grapheme_end(const unsigned char *s, size_t len, size_t i)
{
    utf8proc_int32_t state = 0;
    utf8proc_int32_t c1;
    utf8proc_ssize_t k = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &c1);
    if (k <= 0)
        return i + 1;
    i += (size_t)k;
    while (i < len) {
        /* Fast path: between two ASCII chars the only non-break is CR LF. */
        if (c1 < 0x80 && s[i] < 0x80)
            return (c1 == '\r' && s[i] == '\n') ? i + 1 : i;
        utf8proc_int32_t c2;
        k = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &c2);
        if (k <= 0)
            return i;
        if (utf8proc_grapheme_break_stateful(c1, c2, &state))
            return i;
        i += (size_t)k;
        c1 = c2;
    }
    return i;
}

/* Pass 1: HF's transformation list for in[0, len). */
static int pc_transformations(const struct tok_precompiled *p, const char *in, size_t len,
                              struct pc_vec *t)
{
    const unsigned char *s = (const unsigned char *)in;
    int rc;
    for (size_t g = 0; g < len;) {
        /* An ASCII char other than CR followed by ASCII (or the end) is a grapheme of its
         * own, so its lookup is that of the 1-byte key: when there is none, copy the whole
         * run of such chars. A char followed by non-ASCII may carry combining marks, so it
         * takes the general path to keep grapheme context. */
        size_t r = g;
        while (r < len && s[r] < 0x80 && p->ascii_free[s[r]] && (r + 1 == len || s[r + 1] < 0x80))
            r++;
        if (r > g) {
            if (t->n > 0 && t->v[t->n - 1].run && t->v[t->n - 1].src + t->v[t->n - 1].n == in + g)
                t->v[t->n - 1].n += (uint32_t)(r - g);
            else if ((rc = pc_push(t, in + g, (uint32_t)(r - g), 0, true)) != TOK_OK)
                return rc;
            g = r;
            continue;
        }
        size_t ge = grapheme_end(s, len, g);
        size_t rep_len;
        const char *rep;
        if (ge - g < 6 && (rep = pc_lookup(p, s + g, ge - g, &rep_len)) != NULL) {
            rc = pc_replace(t, u8count(in + g, ge - g), rep, rep_len);
            if (rc != TOK_OK)
                return rc;
        } else {
            for (size_t i = g; i < ge;) {
                uint32_t k = u8len(s[i]);
                if (k > ge - i)
                    k = (uint32_t)(ge - i);
                rep = pc_lookup(p, s + i, k, &rep_len);
                rc = rep ? pc_replace(t, 1, rep, rep_len) : pc_push(t, in + i, k, 0, false);
                if (rc != TOK_OK)
                    return rc;
                i += k;
            }
        }
        g = ge;
    }
    return TOK_OK;
}

int tok_precompiled_normalize(const struct tok_precompiled *p, const char *in, size_t len,
                              char **out, size_t *out_len, struct tok_span **align)
{
    if (!p || (!in && len) || !out || !out_len || !align)
        return TOK_EINVAL;
    if (len >= UINT32_MAX)
        return TOK_ELIMIT;
    const unsigned char *s = (const unsigned char *)in;
    struct pc_vec t = {0};
    char *o_s = NULL;
    struct tok_span *o_a = NULL;
    int rc = pc_transformations(p, in, len, &t);
    if (rc != TOK_OK)
        goto fail;

    /* Pass 2: NormalizedString::transform(t, 0) over an unmodified string, whose byte j
     * aligns to the input char containing j. `off` walks the consumed input chars. */
    size_t n_out = 0;
    for (size_t i = 0; i < t.n; i++)
        n_out += t.v[i].n;
    rc = TOK_ENOMEM;
    o_s = malloc(n_out + 1);
    o_a = malloc((n_out ? n_out : 1) * sizeof *o_a);
    if (!o_s || !o_a)
        goto fail;
    size_t off = 0, o = 0;
    struct tok_span prev = {0, 0}; /* input char ending at off (alignment of byte off-1) */
    for (size_t i = 0; i < t.n; i++) {
        const struct pc_change *c = &t.v[i];
        if (c->run && c->src == in + off) {
            /* pass-through chars consuming themselves: identity alignment */
            memcpy(o_s + o, c->src, c->n);
            for (uint32_t b = 0; b < c->n; b++)
                o_a[o + b] = (struct tok_span){(uint32_t)(off + b), (uint32_t)(off + b + 1)};
            o += c->n;
            off += c->n;
            prev = o_a[o - 1];
            continue;
        }
        /* A run that lags behind (after a removal lost at the very start) goes char by char. */
        uint32_t n_chars = c->run ? c->n : 1;
        for (uint32_t ch = 0; ch < n_chars; ch++) {
            const char *src = c->run ? c->src + ch : c->src;
            uint32_t n = c->run ? 1 : c->n;
            int32_t change = c->run ? 0 : c->change;
            struct tok_span al;
            if (change > 0) {
                al = prev; /* (0,0) when off == 0, as HF */
            } else {
                /* Consume the replaced char, then -change removed ones. Consumption never
                 * passes the end (each entry accounts for the chars it consumes). */
                if (off < len) {
                    uint32_t k = u8len(s[off]);
                    if (k > len - off)
                        k = (uint32_t)(len - off);
                    al = (struct tok_span){(uint32_t)off, (uint32_t)(off + k)};
                    off += k;
                    prev = al;
                } else {
                    al = (struct tok_span){(uint32_t)len, (uint32_t)len};
                }
                for (int32_t r = change; r < 0 && off < len; r++) {
                    uint32_t k = u8len(s[off]);
                    if (k > len - off)
                        k = (uint32_t)(len - off);
                    prev = (struct tok_span){(uint32_t)off, (uint32_t)(off + k)};
                    off += k;
                }
            }
            memcpy(o_s + o, src, n);
            for (uint32_t b = 0; b < n; b++)
                o_a[o + b] = al;
            o += n;
        }
    }
    o_s[o] = '\0';
    free(t.v);
    *out = o_s;
    *out_len = o;
    *align = o_a;
    return TOK_OK;
fail:
    free(t.v);
    free(o_s);
    free(o_a);
    return rc;
}
