/* test_train_wordids.c — socle-train's word -> first sub-token rule against the
 * tokenizer's own word_ids (what HF run_ner labels), on models/socle-mini's
 * SentencePiece/Metaspace tokenizer.
 *
 * Issue 8: "Zqwx" after a space tokenizes as a lone "▁" [space] + "Z" "q" "w" "x";
 * word_ids give the "▁" piece the word's id, so it is the word's first sub-token.
 * tr_word_first_tokens (and socle-eval's ev_ner_word_tags, same rule) used to
 * skip it because its offsets cover only the space. Skipped (77) without the model.
 */
#include "tokenizer/tok.h"
#include "tools/train/trainer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/check.h"

/* Words joined by single spaces as socle-train joins CoNLL words; returns the
 * number of words whose first token is a lone "▁" piece. */
static int check_sentence(const struct tok_tokenizer *tok, const char *const *words, size_t n) {
    char text[512];
    size_t we[16], off = 0;
    int32_t wt[16];
    for (size_t w = 0; w < n; w++) {
        size_t l = strlen(words[w]);
        if (w)
            text[off++] = ' ';
        memcpy(text + off, words[w], l);
        off += l;
        we[w] = off;
    }
    text[off] = '\0';
    struct tok_encode_params p = tok_encode_params_default();
    p.add_special_tokens = true;
    struct tok_encoding *e = NULL;
    size_t bad = 0;
    if (tok_encode(tok, text, off, NULL, 0, &p, &e, &bad) != TOK_OK) {
        CHECK(!"tok_encode");
        return 0;
    }
    uint32_t ts[128];
    CHECK(e->n_tokens <= 128);
    for (size_t t = 0; t < e->n_tokens && t < 128; t++)
        ts[t] = e->offsets[t].start;
    tr_word_first_tokens(ts, e->special_mask, e->n_tokens, we, n, wt);
    int lone = 0;
    for (size_t w = 0; w < n; w++) {
        int32_t want = -1;
        for (size_t t = 0; t < e->n_tokens && want < 0; t++)
            if (!e->special_mask[t] && e->word_ids[t] == (int32_t)w)
                want = (int32_t)t;
        if (wt[w] != want)
            fprintf(stderr, "\"%s\" word %zu \"%s\": first token %d, word_ids say %d\n", text, w,
                    words[w], wt[w], want);
        CHECK(wt[w] == want);
        if (want >= 0 && strcmp(e->tokens[want], "\xe2\x96\x81") == 0)
            lone++;
    }
    tok_encoding_free(e);
    return lone;
}

int main(void) {
    const char *path = "models/socle-mini/tokenizer.json";
    struct stat st;
    if (stat(path, &st) != 0) {
        printf("skip: %s not found\n", path);
        return 77;
    }
    struct tok_tokenizer *tok = NULL;
    char err[256];
    if (tok_tokenizer_load(path, &tok, err, sizeof(err)) != TOK_OK) {
        fprintf(stderr, "%s: %s\n", path, err);
        return 1;
    }
    const char *s1[] = {"Le", "Zqwx", "a", "vu", "Paris", "."};
    const char *s2[] = {"Zqwx", "et", "Xylophone", "Zqwx"};
    int lone = check_sentence(tok, s1, 6) + check_sentence(tok, s2, 4);
    /* the case of issue 8 must be exercised: "Zqwx" mid-sentence is "▁" + pieces */
    CHECK(lone >= 2);
    tok_tokenizer_free(tok);
    if (g_fail) {
        fprintf(stderr, "%d check(s) failed\n", g_fail);
        return 1;
    }
    printf("test_train_wordids: all checks passed (%d words start with a lone \"\xe2\x96\x81\")\n",
           lone);
    return 0;
}
