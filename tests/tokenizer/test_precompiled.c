/* test_precompiled.c — the Precompiled (SentencePiece charsmap) normalizer.
 *
 * Part 1 builds small charsmaps by hand (a minimal Darts-clone writer below) so that
 * every expected string and alignment follows from HF's rules on paper:
 * shortest-prefix lookup, grapheme-first then per-char, and the (char, change)
 * transformation alignments of NormalizedString::transform.
 * Part 2 loads t5-small's real nmt_nfkc charsmap from ../shared (skipped when absent)
 * and checks well-known NFKC mappings.
 */
#include "tokenizer/spm_impl.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);       \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

/* ---- a tiny Darts-clone writer (XOR double array, as darts.h lays it out) ---- */

#define MAXU 8192
struct dw {
    uint32_t units[MAXU];
    unsigned char used[MAXU];
    unsigned char base_used[MAXU]; /* bases must be unique, or labels alias across nodes */
    char pool[512];
    size_t pool_len;
};

struct rule {
    const char *from, *to;
};

/* Place the node at `pos` whose keys are rules[] entries with prefix (len depth). */
static void dw_place(struct dw *w, size_t pos, const struct rule *r, size_t n, const char *prefix,
                     size_t depth, uint32_t label)
{
    unsigned char labels[256];
    size_t n_labels = 0;
    int leaf = -1;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(r[i].from);
        if (l < depth || memcmp(r[i].from, prefix, depth) != 0)
            continue;
        if (l == depth) {
            leaf = (int)i;
            continue;
        }
        unsigned char c = (unsigned char)r[i].from[depth];
        bool seen = false;
        for (size_t k = 0; k < n_labels; k++)
            seen |= labels[k] == c;
        if (!seen)
            labels[n_labels++] = c;
    }
    /* find base: base itself free when a leaf value goes there, base ^ c free for all c */
    size_t base = 1;
    for (;; base++) {
        if (base == pos || w->base_used[base])
            continue;
        bool ok = !(leaf >= 0 && w->used[base]);
        for (size_t k = 0; ok && k < n_labels; k++)
            ok = (base ^ labels[k]) < MAXU && !w->used[base ^ labels[k]];
        if (ok)
            break;
    }
    w->base_used[base] = 1;
    uint32_t offset = (uint32_t)(pos ^ base);
    w->units[pos] = offset << 10 | (leaf >= 0 ? 1u << 8 : 0) | label;
    if (leaf >= 0) {
        w->used[base] = 1;
        w->units[base] = 1u << 31 | (uint32_t)w->pool_len;
        size_t l = strlen(r[leaf].to);
        memcpy(w->pool + w->pool_len, r[leaf].to, l + 1);
        w->pool_len += l + 1;
    }
    for (size_t k = 0; k < n_labels; k++)
        w->used[base ^ labels[k]] = 1;
    char next[64];
    memcpy(next, prefix, depth);
    for (size_t k = 0; k < n_labels; k++) {
        next[depth] = (char)labels[k];
        dw_place(w, base ^ labels[k], r, n, next, depth + 1, labels[k]);
    }
}

static char *b64_encode(const unsigned char *d, size_t n)
{
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *s = malloc(n / 3 * 4 + 5);
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) |
                     (i + 2 < n ? d[i + 2] : 0);
        s[o++] = al[v >> 18 & 63];
        s[o++] = al[v >> 12 & 63];
        s[o++] = i + 1 < n ? al[v >> 6 & 63] : '=';
        s[o++] = i + 2 < n ? al[v & 63] : '=';
    }
    s[o] = '\0';
    return s;
}

static struct tok_precompiled *build(const struct rule *r, size_t n)
{
    struct dw *w = calloc(1, sizeof *w);
    w->used[0] = 1;
    dw_place(w, 0, r, n, "", 0, 0);
    size_t n_units = 0;
    for (size_t i = 0; i < MAXU; i++)
        if (w->used[i])
            n_units = i + 1;
    size_t blob_len = 4 + 4 * n_units + w->pool_len;
    unsigned char *blob = malloc(blob_len);
    uint32_t ts = (uint32_t)(4 * n_units);
    for (int b = 0; b < 4; b++)
        blob[b] = (unsigned char)(ts >> (8 * b));
    for (size_t i = 0; i < n_units; i++)
        for (int b = 0; b < 4; b++)
            blob[4 + 4 * i + b] = (unsigned char)(w->units[i] >> (8 * b));
    memcpy(blob + 4 + 4 * n_units, w->pool, w->pool_len);
    char *s = b64_encode(blob, blob_len);
    struct tok_precompiled *p = NULL;
    int rc = tok_precompiled_new_base64(s, strlen(s), &p);
    CHECK(rc == TOK_OK);
    free(s);
    free(blob);
    free(w);
    return p;
}

/* Normalize `in` and compare with `want` and the alignment list (start,end per output
 * byte, given per output char: one pair per char, repeated over its bytes). */
static void expect(const struct tok_precompiled *p, const char *in, const char *want,
                   const uint32_t (*al)[2], size_t n_al_chars)
{
    char *out = NULL;
    size_t out_len = 0;
    struct tok_span *a = NULL;
    int rc = tok_precompiled_normalize(p, in, strlen(in), &out, &out_len, &a);
    CHECK(rc == TOK_OK);
    if (rc != TOK_OK)
        return;
    if (out_len != strlen(want) || memcmp(out, want, out_len) != 0) {
        fprintf(stderr, "normalize(\"%s\") = \"%.*s\", want \"%s\"\n", in, (int)out_len, out,
                want);
        failures++;
    } else if (al) {
        size_t byte = 0;
        for (size_t c = 0; c < n_al_chars && byte < out_len; c++) {
            size_t k = 1;
            unsigned char lead = (unsigned char)out[byte];
            k = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
            for (size_t b = byte; b < byte + k; b++) {
                if (a[b].start != al[c][0] || a[b].end != al[c][1]) {
                    fprintf(stderr, "normalize(\"%s\"): byte %zu aligned [%u,%u), want [%u,%u)\n",
                            in, b, a[b].start, a[b].end, al[c][0], al[c][1]);
                    failures++;
                }
            }
            byte += k;
        }
        CHECK(byte == out_len);
    }
    free(out);
    free(a);
}

static void test_handmade(void)
{
    /* "a"→"xyz" grows, "b"→"" deletes, "cd"→"C" (2 chars to 1), "c"→"K" is a prefix of
     * "cd" so lookups of "cd…" return "K" (shortest prefix wins), "e\u0301"→"é" only as a
     * whole grapheme, "\u00e9"→"E" per char. */
    static const struct rule rules[] = {
        {"a", "xyz"}, {"b", ""}, {"c", "K"}, {"cd", "C"}, {"e\xcc\x81", "\xc3\xa9"},
        {"\xc3\xa9", "E"}, {"f", "F"}, {"gh", "G"},
    };
    struct tok_precompiled *p = build(rules, sizeof rules / sizeof *rules);
    CHECK(p != NULL);
    if (!p)
        return;
    /* untouched text: identity alignment */
    expect(p, "xq", "xq", (const uint32_t[][2]){{0, 1}, {1, 2}}, 2);
    /* growth: x replaces a (change 0), y z inserted (change 1) → previous char's range */
    expect(p, "qa", "qxyz", (const uint32_t[][2]){{0, 1}, {1, 2}, {1, 2}, {1, 2}}, 4);
    /* deletion in the middle: the last recorded char (q) swallows b: q aligns to its own
     * char, and the following r starts after b */
    expect(p, "qbr", "qr", (const uint32_t[][2]){{0, 1}, {2, 3}}, 2);
    /* deletion at the very start: nobody to charge, so (HF quirk) the removal is lost and
     * r takes b's position: r aligns to [0,1) */
    expect(p, "br", "r", (const uint32_t[][2]){{0, 1}}, 1);
    /* pass-through runs: a removal charged to the last char of a run ("xy" then b) and
     * a run that lags behind the input after a removal lost at the start */
    expect(p, "xybz", "xyz", (const uint32_t[][2]){{0, 1}, {1, 2}, {3, 4}}, 3);
    expect(p, "bxy", "xy", (const uint32_t[][2]){{0, 1}, {1, 2}}, 2);
    expect(p, "bbxyz", "xyz", (const uint32_t[][2]){{0, 1}, {1, 2}, {2, 3}}, 3);
    /* "cd" is two graphemes: "c"→K, then "d" kept */
    expect(p, "cd", "Kd", (const uint32_t[][2]){{0, 1}, {1, 2}}, 2);
    /* "gh" is two graphemes and neither "g" nor "h" is a key: the 2-char key never fires */
    expect(p, "gh", "gh", NULL, 0);
    /* e + combining acute is ONE grapheme (3 bytes < 6) found whole → é (2 chars to 1):
     * é replaces e and removes the accent: aligned to e's range only */
    expect(p, "e\xcc\x81x", "\xc3\xa9x", (const uint32_t[][2]){{0, 1}, {3, 4}}, 2);
    /* precomposed é goes char by char → E */
    expect(p, "\xc3\xa9", "E", (const uint32_t[][2]){{0, 2}}, 1);
    /* f + combining acute: grapheme lookup gets "f"'s rule (shortest prefix) and the whole
     * 3-byte grapheme becomes "F" — the accent vanishes (HF quirk) */
    expect(p, "f\xcc\x81", "F", (const uint32_t[][2]){{0, 1}}, 1);
    /* a grapheme of >= 6 bytes goes char by char: f + 3 accents = 7 bytes → F + accents */
    expect(p, "f\xcc\x81\xcc\x81\xcc\x81", "F\xcc\x81\xcc\x81\xcc\x81",
           (const uint32_t[][2]){{0, 1}, {1, 3}, {3, 5}, {5, 7}}, 4);
    /* NUL is an ordinary char the trie never matches */
    {
        char *out;
        size_t n;
        struct tok_span *a;
        CHECK(tok_precompiled_normalize(p, "a\0a", 3, &out, &n, &a) == TOK_OK);
        CHECK(n == 7 && memcmp(out, "xyz\0xyz", 7) == 0);
        CHECK(a[3].start == 1 && a[3].end == 2);
        free(out);
        free(a);
    }
    /* empty input */
    expect(p, "", "", NULL, 0);
    tok_precompiled_free(p);
}

static void test_bad_blobs(void)
{
    struct tok_precompiled *p = NULL;
    CHECK(tok_precompiled_new_base64("!!!!", 4, &p) == TOK_EINVAL); /* bad alphabet */
    CHECK(tok_precompiled_new_base64("AA==", 4, &p) == TOK_EINVAL); /* < 4 bytes */
    CHECK(tok_precompiled_new_base64("/////w==", 8, &p) == TOK_EINVAL); /* trie > blob */
    CHECK(tok_precompiled_new_base64("AgAAAA==", 8, &p) == TOK_EINVAL); /* size % 4 */
    CHECK(p == NULL);
    /* an empty trie (size 0) and an empty pool is valid and changes nothing */
    CHECK(tok_precompiled_new_base64("AAAAAA==", 8, &p) == TOK_OK);
    if (p)
        expect(p, "abc", "abc", NULL, 0);
    tok_precompiled_free(p);
    /* a trie whose root offset points outside the array must not be read out of bounds */
    p = NULL;
    CHECK(tok_precompiled_new_base64("BAAAAP///38=", 12, &p) == TOK_OK);
    if (p)
        expect(p, "abc", "abc", NULL, 0);
    tok_precompiled_free(p);
    tok_precompiled_free(NULL);
}

static void test_t5(void)
{
    const char *shared = getenv("SOCLE_SHARED_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/data/tokenizers/t5-small/tokenizer.json",
             shared ? shared : "../shared");
    json_object *root = json_object_from_file(path);
    if (!root) {
        fprintf(stderr, "skip t5 part: %s not readable\n", path);
        return;
    }
    json_object *norm, *cm;
    CHECK(json_object_object_get_ex(root, "normalizer", &norm));
    CHECK(json_object_object_get_ex(norm, "precompiled_charsmap", &cm));
    struct tok_precompiled *p = NULL;
    CHECK(tok_precompiled_new_base64(json_object_get_string(cm),
                                     (size_t)json_object_get_string_len(cm), &p) == TOK_OK);
    if (p) {
        /* NFKC: ligature, fullwidth, superscript, ellipsis; untouched ASCII */
        expect(p, "\xef\xac\x81x", "fix", (const uint32_t[][2]){{0, 3}, {0, 3}, {3, 4}}, 3);
        expect(p, "\xef\xbc\xa1\xef\xbd\x82", "Ab", (const uint32_t[][2]){{0, 3}, {3, 6}}, 2);
        expect(p, "x\xc2\xb2", "x2", NULL, 0);
        expect(p, "a\xe2\x80\xa6", "a...", (const uint32_t[][2]){{0, 1}, {1, 4}, {1, 4}, {1, 4}},
               4);
        expect(p, "Hello, world!", "Hello, world!", NULL, 0);
        /* NFD e + U+0301 composes to é as one grapheme; precomposed é stays */
        expect(p, "cafe\xcc\x81", "caf\xc3\xa9", NULL, 0);
        expect(p, "caf\xc3\xa9", "caf\xc3\xa9", NULL, 0);
        /* no-break space becomes a plain space (nmt_nfkc) */
        expect(p, "a\xc2\xa0" "b", "a b", NULL, 0);
    }
    tok_precompiled_free(p);
    json_object_put(root);
}

int main(void)
{
    test_handmade();
    test_bad_blobs();
    test_t5();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("test_precompiled: ok\n");
    return 0;
}
