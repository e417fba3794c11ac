/* added.c — added/special tokens (HF AddedVocabulary): found before the model runs,
 * leftmost-longest like HF's Aho-Corasick, with single_word / lstrip / rstrip applied to
 * each match. Tokens with normalized:false are matched on the raw text, the others on the
 * normalized text (see encode.c). */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_impl.h"

int tok_trie_add(struct tok_trie *t, const char *s, size_t len, int32_t idx) {
    int rc;
    if (!t->cap) {
        if ((rc = tok_pairmap_init(&t->edges, 64))) return rc;
        t->cap = 64;
        t->term = malloc(t->cap * sizeof *t->term);
        if (!t->term) return TOK_ENOMEM;
        t->term[0] = -1;
        t->n_nodes = 1;
    }
    if (!len) return TOK_OK;
    t->first_byte[(unsigned char)s[0]] = true;
    int32_t node = 0;
    for (size_t i = 0; i < len; i++) {
        int32_t r, child;
        if (!tok_pairmap_get(&t->edges, node, (unsigned char)s[i], &r, &child)) {
            if (t->n_nodes == t->cap) {
                int32_t *nt = realloc(t->term, t->cap * 2 * sizeof *nt);
                if (!nt) return TOK_ENOMEM;
                t->term = nt;
                t->cap *= 2;
            }
            child = (int32_t)t->n_nodes++;
            t->term[child] = -1;
            if ((rc = tok_pairmap_put(&t->edges, node, (unsigned char)s[i], 0, child))) return rc;
        }
        node = child;
    }
    t->term[node] = idx;
    return TOK_OK;
}

void tok_trie_free(struct tok_trie *t) {
    tok_pairmap_free(&t->edges);
    free(t->term);
    memset(t, 0, sizeof *t);
}

static int32_t last_cp(const char *s, size_t end, size_t *at) {
    size_t p = end - 1;
    while (p > 0 && ((unsigned char)s[p] & 0xC0) == 0x80) p--;
    int32_t c;
    tok_utf8_dec((const unsigned char *)s + p, &c);
    if (at) *at = p;
    return c;
}

static bool is_word_char(int32_t c) {
    return c == '_' || tok_is_alnum(c);
}

int tok_added_split(const struct tok_tokenizer *tok, const struct tok_trie *t,
                    const struct tok_split *in, struct tok_splits *out, struct tok_arena *a) {
    const char *s = in->s;
    size_t n = in->len, start_offset = 0, i = 0;
    struct tok_split piece;
    int rc;
    while (i < n) {
        if (!t->first_byte[(unsigned char)s[i]]) {
            i++;
            continue;
        }
        /* longest match starting at i */
        int32_t node = 0, best = -1;
        size_t best_end = 0;
        for (size_t j = i; j < n; j++) {
            int32_t r, child;
            if (!tok_pairmap_get(&t->edges, node, (unsigned char)s[j], &r, &child)) break;
            node = child;
            if (t->term[node] >= 0) {
                best = t->term[node];
                best_end = j + 1;
            }
        }
        if (best < 0) {
            i++;
            continue;
        }
        /* matches never start inside a UTF-8 char: tokens are valid UTF-8 */
        const struct tok_added *ad = &tok->added[best];
        size_t mstart = i, mstop = best_end;
        i = best_end;
        if (ad->single_word) {
            bool start_space = mstart == 0 || !is_word_char(last_cp(s, mstart, NULL));
            int32_t nc = 0;
            if (mstop < n) tok_utf8_dec((const unsigned char *)s + mstop, &nc);
            bool stop_space = mstop == n || !is_word_char(nc);
            if (!start_space || !stop_space) continue;
        }
        if (ad->lstrip) {
            size_t ns = mstart;
            while (ns > 0) {
                size_t at;
                int32_t c = last_cp(s, ns, &at);
                if (!tok_is_whitespace(c)) break;
                ns = at;
            }
            mstart = ns > start_offset ? ns : start_offset;
        }
        if (ad->rstrip) {
            while (mstop < n) {
                int32_t c;
                int l = tok_utf8_dec((const unsigned char *)s + mstop, &c);
                if (!tok_is_whitespace(c)) break;
                mstop += (size_t)l;
            }
        }
        if (mstart > start_offset) {
            tok_split_slice(in, (uint32_t)start_offset, (uint32_t)mstart, a, &piece);
            if ((rc = tok_splits_push(out, a, &piece))) return rc;
        }
        tok_split_slice(in, (uint32_t)mstart, (uint32_t)mstop, a, &piece);
        piece.added_id = best;
        if ((rc = tok_splits_push(out, a, &piece))) return rc;
        start_offset = mstop;
        if (i < mstop) i = mstop;
    }
    if (start_offset < n) {
        tok_split_slice(in, (uint32_t)start_offset, (uint32_t)n, a, &piece);
        if ((rc = tok_splits_push(out, a, &piece))) return rc;
    }
    return TOK_OK;
}
