/* test_tok_golden.c — conformance against HuggingFace tokenizers 0.22.2 outputs.
 *
 * Usage: test_tok_golden <model>. Reads ../shared/fixtures/tokenizer/{corpus,pairs}.txt and
 * expected/<model>[.nospecial|.pairs].jsonl.gz, encodes every line and compares ids, tokens,
 * byte offsets, type ids, special mask, word ids and (for <model>.jsonl) the decoded text.
 * Exit 0 only when 100% of lines match; prints the first mismatches with a diff.
 * Exit 77 when ../shared is absent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <zlib.h>

#include "tokenizer/tok.h"

static char *read_gz(const char *path, size_t *len) {
    gzFile f = gzopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 20, n = 0;
    char *b = malloc(cap + 1);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            b = realloc(b, cap + 1);
            if (!b) abort();
        }
        int r = gzread(f, b + n, (unsigned)(cap - n));
        if (r <= 0) break;
        n += (size_t)r;
    }
    gzclose(f);
    b[n] = 0;
    *len = n;
    return b;
}

/* Split a buffer on '\n' only (the corpus keeps \r, U+2028… inside lines). */
static size_t split_lines(char *b, size_t n, char ***lines, size_t **lens) {
    size_t cnt = 0, cap = 4096;
    *lines = malloc(cap * sizeof **lines);
    *lens = malloc(cap * sizeof **lens);
    size_t st = 0;
    for (size_t i = 0; i < n; i++) {
        if (b[i] != '\n') continue;
        if (cnt == cap) {
            cap *= 2;
            *lines = realloc(*lines, cap * sizeof **lines);
            *lens = realloc(*lens, cap * sizeof **lens);
        }
        (*lines)[cnt] = b + st;
        (*lens)[cnt] = i - st;
        cnt++;
        st = i + 1;
    }
    return cnt;
}

static int n_printed;

static void show_tokens(const char *tag, json_object *toks, json_object *ids, json_object *offs) {
    size_t n = json_object_array_length(ids);
    fprintf(stderr, "    %s (%zu):", tag, n);
    for (size_t i = 0; i < n && i < 80; i++) {
        json_object *o = json_object_array_get_idx(offs, i);
        fprintf(stderr, " %d:%s[%d,%d]", json_object_get_int(json_object_array_get_idx(ids, i)),
                toks ? json_object_get_string(json_object_array_get_idx(toks, i)) : "?",
                json_object_get_int(json_object_array_get_idx(o, 0)),
                json_object_get_int(json_object_array_get_idx(o, 1)));
    }
    fprintf(stderr, "\n");
}

static void show_ours(const struct tok_encoding *e) {
    fprintf(stderr, "    ours     (%zu):", e->n_tokens);
    for (size_t i = 0; i < e->n_tokens && i < 80; i++)
        fprintf(stderr, " %d:%s[%u,%u]", e->ids[i], e->tokens[i], e->offsets[i].start,
                e->offsets[i].end);
    fprintf(stderr, "\n");
}

/* Compare one encoding to one expected object; returns NULL when equal, else the field. */
static const char *compare(const struct tok_tokenizer *tok, json_object *exp,
                           const struct tok_encoding *e, bool check_decoded, char *why,
                           size_t wl) {
    json_object *ids, *toks, *offs, *types, *special, *words, *dec;
    json_object_object_get_ex(exp, "ids", &ids);
    json_object_object_get_ex(exp, "tokens", &toks);
    json_object_object_get_ex(exp, "offsets", &offs);
    json_object_object_get_ex(exp, "type_ids", &types);
    json_object_object_get_ex(exp, "special", &special);
    json_object_object_get_ex(exp, "words", &words);
    size_t n = json_object_array_length(ids);
    if (n != e->n_tokens) {
        snprintf(why, wl, "length %zu vs expected %zu", e->n_tokens, n);
        return "ids";
    }
    for (size_t i = 0; i < n; i++) {
        if (json_object_get_int(json_object_array_get_idx(ids, i)) != e->ids[i]) {
            snprintf(why, wl, "token %zu", i);
            return "ids";
        }
        if (toks && strcmp(json_object_get_string(json_object_array_get_idx(toks, i)),
                           e->tokens[i]) != 0) {
            snprintf(why, wl, "token %zu: \"%s\" vs expected \"%s\"", i, e->tokens[i],
                     json_object_get_string(json_object_array_get_idx(toks, i)));
            return "tokens";
        }
        json_object *o = json_object_array_get_idx(offs, i);
        if ((uint32_t)json_object_get_int(json_object_array_get_idx(o, 0)) != e->offsets[i].start ||
            (uint32_t)json_object_get_int(json_object_array_get_idx(o, 1)) != e->offsets[i].end) {
            snprintf(why, wl, "token %zu: [%u,%u] vs expected [%d,%d]", i, e->offsets[i].start,
                     e->offsets[i].end, json_object_get_int(json_object_array_get_idx(o, 0)),
                     json_object_get_int(json_object_array_get_idx(o, 1)));
            return "offsets";
        }
        if (types && json_object_get_int(json_object_array_get_idx(types, i)) != e->type_ids[i]) {
            snprintf(why, wl, "token %zu: %d", i, e->type_ids[i]);
            return "type_ids";
        }
        if (special &&
            json_object_get_int(json_object_array_get_idx(special, i)) != e->special_mask[i]) {
            snprintf(why, wl, "token %zu: %d", i, e->special_mask[i]);
            return "special";
        }
        if (words) {
            json_object *w = json_object_array_get_idx(words, i);
            int ew = w ? json_object_get_int(w) : -1;
            if (ew != e->word_ids[i]) {
                snprintf(why, wl, "token %zu: %d vs expected %d", i, e->word_ids[i], ew);
                return "words";
            }
        }
    }
    if (check_decoded && json_object_object_get_ex(exp, "decoded", &dec)) {
        char *out = NULL;
        size_t ol = 0;
        int rc = tok_decode(tok, e->ids, e->n_tokens, false, &out, &ol);
        const char *want = json_object_get_string(dec);
        size_t wlen = (size_t)json_object_get_string_len(dec);
        bool ok = rc == 0 && ol == wlen && memcmp(out, want, ol) == 0;
        if (!ok) snprintf(why, wl, "\"%.200s\" vs expected \"%.200s\"", out ? out : "(error)", want);
        free(out);
        if (!ok) return "decoded";
    }
    return NULL;
}

static int run_file(const struct tok_tokenizer *tok, const char *shared, const char *model,
                    const char *suffix, bool special, bool pairs, char **lines, size_t *lens,
                    size_t n_lines, int *failed_total) {
    char path[1024];
    snprintf(path, sizeof path, "%s/fixtures/tokenizer/expected/%s%s.jsonl.gz", shared, model,
             suffix);
    size_t n;
    char *buf = read_gz(path, &n);
    if (!buf) return 77;
    char **el;
    size_t *ell;
    size_t ne = split_lines(buf, n, &el, &ell);
    size_t ok = 0, bad = 0;
    struct tok_encode_params p = tok_encode_params_default();
    p.add_special_tokens = special;
    for (size_t i = 0; i < ne; i++) {
        json_object *exp = json_tokener_parse(el[i]);
        if (!exp) {
            fprintf(stderr, "%s: bad JSON at line %zu\n", path, i + 1);
            return 1;
        }
        json_object *ln;
        json_object_object_get_ex(exp, "line", &ln);
        size_t li = (size_t)json_object_get_int(ln) - 1;
        if (li >= n_lines) {
            fprintf(stderr, "%s: line %zu out of range\n", path, li + 1);
            return 1;
        }
        const char *text = lines[li], *pair = NULL;
        size_t tl = lens[li], pl = 0;
        if (pairs) {
            const char *tab = memchr(text, '\t', tl);
            if (tab) {
                pair = tab + 1;
                pl = tl - (size_t)(tab + 1 - text);
                tl = (size_t)(tab - text);
            }
        }
        struct tok_encoding *e = NULL;
        size_t eo = 0;
        int rc = tok_encode(tok, text, tl, pair, pl, &p, &e, &eo);
        char why[600] = "";
        const char *field = rc ? "encode error" : compare(tok, exp, e, special && !pairs, why, sizeof why);
        if (!field) {
            ok++;
        } else {
            bad++;
            if (n_printed < 8) {
                n_printed++;
                fprintf(stderr, "MISMATCH %s%s line %zu: %s %s\n    text: \"%.*s\"%s%.*s\n", model,
                        suffix, li + 1, field, rc ? tok_strerror(rc) : why, (int)(tl > 300 ? 300 : tl),
                        text, pair ? " || " : "", (int)(pl > 200 ? 200 : pl), pair ? pair : "");
                json_object *ids, *toks, *offs;
                json_object_object_get_ex(exp, "ids", &ids);
                json_object_object_get_ex(exp, "tokens", &toks);
                json_object_object_get_ex(exp, "offsets", &offs);
                show_tokens("expected", toks, ids, offs);
                if (e) show_ours(e);
            }
        }
        tok_encoding_free(e);
        json_object_put(exp);
    }
    printf("%s%s: %zu/%zu lines match (%.2f%%)\n", model, suffix, ok, ok + bad,
           ok + bad ? 100.0 * (double)ok / (double)(ok + bad) : 0.0);
    *failed_total += (int)bad;
    free(el);
    free(ell);
    free(buf);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s <model>\n", argv[0]);
        return 2;
    }
    const char *model = argv[1];
    const char *shared = getenv("SOCLE_SHARED_DIR");
    if (!shared) shared = "../shared";
    char path[1024];
    snprintf(path, sizeof path, "%s/fixtures/tokenizer/corpus.txt", shared);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "skip: %s absent\n", path);
        return 77;
    }
    fclose(f);
    size_t cn, pn;
    char *corpus = read_gz(path, &cn); /* gzread reads plain files too */
    snprintf(path, sizeof path, "%s/fixtures/tokenizer/pairs.txt", shared);
    char *pairs = read_gz(path, &pn);
    char **cl, **pl;
    size_t *cll, *pll;
    size_t ncl = split_lines(corpus, cn, &cl, &cll);
    size_t npl = pairs ? split_lines(pairs, pn, &pl, &pll) : 0;

    /* tokenizer.json: plain, or .gz (gunzipped in memory) */
    const char *dir_model = !strcmp(model, "gpt2-notrunc") ? NULL : model;
    if (dir_model)
        snprintf(path, sizeof path, "%s/data/tokenizers/%s/tokenizer.json", shared, dir_model);
    else
        snprintf(path, sizeof path, "%s/fixtures/tokenizer/gpt2-notrunc/tokenizer.json", shared);
    f = fopen(path, "rb");
    if (f) fclose(f);
    else strcat(path, ".gz");
    size_t jl;
    char *json = read_gz(path, &jl);
    if (!json) {
        fprintf(stderr, "skip: %s absent\n", path);
        return 77;
    }
    struct tok_tokenizer *tok = NULL;
    char err[256];
    int rc = tok_tokenizer_load_json(json, jl, &tok, err, sizeof err);
    free(json);
    if (rc) {
        fprintf(stderr, "load %s: %s (%s)\n", path, tok_strerror(rc), err);
        return 1;
    }
    int failed = 0;
    rc = run_file(tok, shared, model, "", true, false, cl, cll, ncl, &failed);
    if (rc == 77) {
        fprintf(stderr, "skip: expected file for %s absent\n", model);
        tok_tokenizer_free(tok);
        return 77;
    }
    run_file(tok, shared, model, ".nospecial", false, false, cl, cll, ncl, &failed);
    if (npl) run_file(tok, shared, model, ".pairs", true, true, pl, pll, npl, &failed);
    tok_tokenizer_free(tok);
    free(cl);
    free(cll);
    free(corpus);
    if (pairs) {
        free(pl);
        free(pll);
        free(pairs);
    }
    return failed ? 1 : 0;
}
