/* test_tok_fuzz.c — random text through the real vocabularies (from ../shared): every call
 * must succeed, never crash (ASan/UBSan), and give offsets inside the text with
 * start <= end, code-point offsets consistent with the byte offsets, and a decode that
 * succeeds. Deterministic (fixed seed). Exit 77 when ../shared is absent. */
#include "tests/tokenizer/tok_test.h"
#include "tokenizer/tok.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static int enc_utf8(uint32_t c, char *o) {
    if (c < 0x80) return o[0] = (char)c, 1;
    if (c < 0x800) return o[0] = (char)(0xC0 | (c >> 6)), o[1] = (char)(0x80 | (c & 0x3F)), 2;
    if (c < 0x10000)
        return o[0] = (char)(0xE0 | (c >> 12)), o[1] = (char)(0x80 | ((c >> 6) & 0x3F)),
               o[2] = (char)(0x80 | (c & 0x3F)), 3;
    return o[0] = (char)(0xF0 | (c >> 18)), o[1] = (char)(0x80 | ((c >> 12) & 0x3F)),
           o[2] = (char)(0x80 | ((c >> 6) & 0x3F)), o[3] = (char)(0x80 | (c & 0x3F)), 4;
}

/* code points that stress normalizers and pre-tokenizers */
static const uint32_t palette[] = {
    'a', 'Z', ' ', ' ', '\t', '\n', '\r', 0, 0x0B, '\'', '-', '.', '<', '>', '/', 's', '0', '9',
    0xA0, 0x85, 0x2028, 0x202F, 0x3000, 0x200B, 0x200D, 0xFE0F, 0x20E3, 0x301, 0x308, 0x327,
    0xE9, 0x130, 0xDF, 0xFB01, 0x2581, 0x120, 0x4F60, 0xAC00, 0x1100, 0x1161, 0x0E01, 0x0915,
    0x94D, 0x93F, 0x627, 0x5D0, 0x1F600, 0x1F468, 0x1F3FD, 0x1F1EB, 0xE0067, 0xFFFD, 0x10FFFF,
    0xFF21, 0x2460, 0x3A3, 0x2126, 0x1E9E,
};
static const char *specials[] = {"[MASK]", "<s>", "</s>", "<unk>", "<|endoftext|>", "<mask>",
                                 "<pad>", "[CLS]", "▁<s>"};

static size_t gen(char *buf, size_t cap) {
    size_t n = rnd() % 120, w = 0;
    for (size_t i = 0; i < n && w + 16 < cap; i++) {
        uint32_t r = rnd() % 100;
        if (r < 4) {
            const char *s = specials[rnd() % (sizeof specials / sizeof *specials)];
            size_t l = strlen(s);
            memcpy(buf + w, s, l);
            w += l;
        } else if (r < 60) {
            w += (size_t)enc_utf8(palette[rnd() % (sizeof palette / sizeof *palette)], buf + w);
        } else {
            uint32_t c = 0x20 + rnd() % 0x2FFE0;
            if (c >= 0xD800 && c <= 0xDFFF) c = 'x';
            w += (size_t)enc_utf8(c, buf + w);
        }
    }
    return w;
}

static size_t n_checked;
static void check_enc(const struct tok_encoding *e, const char *t, size_t tl, const char *p,
                      size_t pl) {
    for (size_t i = 0; i < e->n_tokens; i++) {
        size_t lim = e->sequence_ids[i] == 1 ? pl : tl;
        const char *txt = e->sequence_ids[i] == 1 ? p : t;
        CHECK(e->offsets[i].start <= e->offsets[i].end);
        CHECK(e->offsets[i].end <= lim);
        CHECK(e->cp_offsets[i].start <= e->cp_offsets[i].end);
        if (e->sequence_ids[i] >= 0 && e->offsets[i].end <= lim) {
            size_t cps = 0;
            for (size_t k = 0; k < e->offsets[i].start; k++)
                cps += ((unsigned char)txt[k] & 0xC0) != 0x80;
            CHECK_EQ_INT(e->cp_offsets[i].start, cps);
        }
        CHECK(e->tokens[i] != NULL);
        n_checked++;
    }
}

int main(void) {
    const char *shared = getenv("SOCLE_SHARED_DIR");
    if (!shared) shared = "../shared";
    static const char *models[] = {"bert-base-uncased", "roberta-base", "llama2", "phi-3-mini",
                                   "t5-small", "camembert-base", "barthez-base", "mistral-7b-v0.1"};
    int loaded = 0;
    char *a = malloc(4096), *b = malloc(4096);
    for (size_t m = 0; m < sizeof models / sizeof *models; m++) {
        char path[1024], err[256];
        snprintf(path, sizeof path, "%s/data/tokenizers/%s/tokenizer.json", shared, models[m]);
        struct tok_tokenizer *t = NULL;
        if (tok_tokenizer_load(path, &t, err, sizeof err) != TOK_OK) continue;
        loaded++;
        for (int it = 0; it < 300; it++) {
            size_t al = gen(a, 4096), bl = gen(b, 4096);
            struct tok_encode_params p = tok_encode_params_default();
            p.add_special_tokens = it & 1;
            if (it % 7 == 0) {
                p.use_file_truncation = false;
                p.max_length = 8 + rnd() % 24;
                p.stride = rnd() % 4;
                p.return_overflowing = true;
                p.padding = TOK_PAD_TO_MAX_LENGTH;
                p.strategy = (enum tok_truncation_strategy)(rnd() % 3);
            }
            struct tok_encoding *e = NULL;
            bool pair = it % 3 == 0;
            int rc = tok_encode(t, a, al, pair ? b : NULL, pair ? bl : 0, &p, &e, NULL);
            /* OnlyFirst/OnlySecond on a text too short to cut, or no second text: EINVAL */
            if (rc == TOK_EINVAL && p.max_length) continue;
            CHECK_EQ_INT(rc, TOK_OK);
            if (rc) {
                fprintf(stderr, "  %s: %s\n", models[m], tok_strerror(rc));
                continue;
            }
            check_enc(e, a, al, b, bl);
            for (size_t o = 0; o < e->n_overflowing; o++) check_enc(e->overflowing[o], a, al, b, bl);
            char *d = NULL;
            size_t dl;
            CHECK_EQ_INT(tok_decode(t, e->ids, e->n_tokens, it & 2, &d, &dl), TOK_OK);
            free(d);
            size_t cnt;
            CHECK_EQ_INT(tok_count(t, a, al, true, &cnt, NULL), TOK_OK);
            tok_encoding_free(e);
        }
        tok_tokenizer_free(t);
    }
    free(a);
    free(b);
    if (!loaded) {
        fprintf(stderr, "skip: no tokenizer under %s\n", shared);
        return 77;
    }
    if (tt_failures) fprintf(stderr, "%d failures\n", tt_failures);
    else printf("ok (%d vocabularies, %zu tokens checked)\n", loaded, n_checked);
    return tt_failures ? 1 : 0;
}
