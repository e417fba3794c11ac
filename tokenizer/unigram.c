/* unigram.c — SentencePiece Unigram model, segmenting exactly as HF tokenizers does.
 *
 * DESIGN. Pieces live in a double-array trie (base/check, one cache-friendly 12-byte cell
 * per node) built once in tok_unigram_new; Viterbi then walks it byte by byte from every
 * char boundary of the word, which gives all vocabulary pieces starting there in
 * increasing length — the order HF's trie yields them, which matters for score ties.
 *
 * Semantics follow tokenizers/src/models/unigram/model.rs (encode_optimized + tokenize):
 *   - a node keeps the first candidate unless a later one scores strictly higher;
 *   - where no single-char piece starts at a position, an unk edge of one char scores
 *     min_score - 10 (kUnkPenalty; min over the whole vocabulary) — an error without unk;
 *   - on the best path, consecutive unk edges fuse into one piece (HF's fuse_unk is always
 *     on for Unigram); a fused piece's text is then looked up in the vocabulary again
 *     (HF maps every piece string back to an id), and if absent becomes, with
 *     byte_fallback, one <0xXX> piece per byte (all spanning the whole unknown text, as HF)
 *     when all those byte pieces exist, or else unk_id.
 * Duplicate piece strings resolve to the highest id (HF's token_to_ids keeps the last).
 */
#include "tokenizer/spm_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNK_PENALTY 10.0 /* SentencePiece unigram_model.cc kUnkPenalty */

/* Build-time cell. */
struct da_cell {
    int32_t base;  /* children of this node are at base + byte */
    int32_t check; /* parent node index; -1 = free */
    int32_t id;    /* piece id ending here, -1 = none */
};

/* Run-time cell: 16 bytes, so the Viterbi inner loop touches one cache line per byte and
 * finds the score next to the transition (no dependent load into a score table). */
#define UG_PIECE 0x80000000u
struct ug_cell {
    uint32_t base; /* children at (base & ~UG_PIECE) + byte; UG_PIECE: a piece ends here */
    int32_t check; /* parent cell; -1 free, -2 root */
    double score;  /* score of that piece */
};

struct tok_unigram {
    struct ug_cell *cells; /* (n_cells) every base + 255 is < n_cells */
    int32_t *cell_id;      /* (n_cells) piece id ending at the cell, -1 = none */
    size_t n_cells;
    size_t n_pieces;
    double unk_score;
    int32_t unk_id;
    bool byte_fallback;
    int32_t byte_ids[256]; /* id of "<0xXX>", -1 when absent */
};

/* ---- double-array construction ---- */

struct key {
    const unsigned char *s;
    size_t len;
    int32_t id;
};

static int key_cmp(const void *a, const void *b)
{
    const struct key *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    if (c)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

struct builder {
    struct da_cell *da;
    int32_t *next_free; /* (cap + 1) union-find: next_free[i] leads to the first free cell >= i */
    size_t cap;
    size_t max_used;
};

static int b_grow(struct builder *b, size_t need)
{
    if (need <= b->cap)
        return TOK_OK;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < need)
        cap *= 2;
    if (cap >= (size_t)INT32_MAX)
        return TOK_ELIMIT;
    struct da_cell *da = realloc(b->da, cap * sizeof *da);
    if (!da)
        return TOK_ENOMEM;
    b->da = da;
    int32_t *nf = realloc(b->next_free, (cap + 1) * sizeof *nf);
    if (!nf)
        return TOK_ENOMEM;
    b->next_free = nf;
    for (size_t i = b->cap; i < cap; i++) {
        da[i] = (struct da_cell){0, -1, -1};
        nf[i] = (int32_t)i;
    }
    nf[cap] = (int32_t)cap; /* sentinel: "free" past the end, grown on demand */
    b->cap = cap;
    return TOK_OK;
}

/* First free cell >= i (i <= cap), with path halving. */
static size_t b_free_from(struct builder *b, size_t i)
{
    int32_t *nf = b->next_free;
    while ((size_t)nf[i] != i) {
        nf[i] = nf[nf[i]];
        i = (size_t)nf[i];
    }
    return i;
}

static void b_use(struct builder *b, size_t i, int32_t parent)
{
    b->da[i].check = parent;
    b->next_free[i] = (int32_t)(i + 1);
    if (i > b->max_used)
        b->max_used = i;
}

/* Place the children of `node` (keys[lo, hi) share its `depth`-byte prefix) and recurse.
 * First fit over free cells only: the union-find skips the dense front of the array,
 * which is where a naive scan spends its time on 30k+ piece vocabularies. */
static int b_insert(struct builder *b, int32_t node, const struct key *keys, size_t lo, size_t hi,
                    size_t depth)
{
    /* Sorted order puts the key that ends here first; duplicates were removed. */
    if (lo < hi && keys[lo].len == depth) {
        b->da[node].id = keys[lo].id;
        lo++;
    }
    if (lo == hi)
        return TOK_OK;
    unsigned char labels[256];
    size_t n_labels = 0;
    for (size_t i = lo; i < hi; i++) {
        unsigned char c = keys[i].s[depth];
        if (n_labels == 0 || labels[n_labels - 1] != c)
            labels[n_labels++] = c;
    }
    size_t pos = b_free_from(b, (size_t)labels[0] + 1);
    size_t base;
    for (;;) {
        if (pos + 256 >= b->cap) {
            int rc = b_grow(b, pos + 256 + 1);
            if (rc != TOK_OK)
                return rc;
        }
        base = pos - labels[0];
        size_t k = 1;
        while (k < n_labels && b->da[base + labels[k]].check == -1)
            k++;
        if (k == n_labels)
            break;
        pos = b_free_from(b, pos + 1);
    }
    b->da[node].base = (int32_t)base;
    for (size_t k = 0; k < n_labels; k++)
        b_use(b, base + labels[k], node);
    if (base + 255 > b->max_used)
        b->max_used = base + 255; /* lookups may probe any byte */
    size_t i = lo;
    for (size_t k = 0; k < n_labels; k++) {
        size_t j = i;
        while (j < hi && keys[j].s[depth] == labels[k])
            j++;
        int rc = b_insert(b, (int32_t)(base + labels[k]), keys, i, j, depth + 1);
        if (rc != TOK_OK)
            return rc;
        i = j;
    }
    return TOK_OK;
}

/* Id of the piece spelled exactly s[0, len), or -1. */
static int32_t da_find(const struct tok_unigram *u, const unsigned char *s, size_t len)
{
    int32_t node = 0;
    for (size_t i = 0; i < len; i++) {
        int32_t t = (int32_t)(u->cells[node].base & ~UG_PIECE) + s[i];
        if (u->cells[t].check != node)
            return -1;
        node = t;
    }
    return len ? u->cell_id[node] : -1;
}

int tok_unigram_new(const char *const *pieces, const size_t *piece_lens, const double *scores,
                    size_t n, int32_t unk_id, bool byte_fallback, struct tok_unigram **out)
{
    if ((!pieces || !piece_lens || !scores) && n)
        return TOK_EINVAL;
    if (!out || n > (size_t)INT32_MAX || unk_id < -1 || (unk_id >= 0 && (size_t)unk_id >= n))
        return TOK_EINVAL;
    struct tok_unigram *u = calloc(1, sizeof *u);
    struct key *keys = malloc((n ? n : 1) * sizeof *keys);
    struct builder b = {0};
    int rc = TOK_ENOMEM;
    if (!u || !keys)
        goto fail;
    u->n_pieces = n;
    u->unk_id = unk_id;
    u->byte_fallback = byte_fallback;

    double min_score = HUGE_VAL; /* HF: f64::INFINITY, so NaN scores never become the min */
    size_t n_keys = 0;
    for (size_t i = 0; i < n; i++) {
        if (scores[i] < min_score)
            min_score = scores[i];
        if (piece_lens[i] == 0)
            continue; /* HF's trie never yields the empty piece */
        if (!pieces[i]) {
            rc = TOK_EINVAL;
            goto fail;
        }
        keys[n_keys++] = (struct key){(const unsigned char *)pieces[i], piece_lens[i], (int32_t)i};
    }
    u->unk_score = min_score - UNK_PENALTY;
    qsort(keys, n_keys, sizeof *keys, key_cmp);
    /* Duplicates: keep the last (highest id) of each run of equal strings. */
    size_t m = 0;
    for (size_t i = 0; i < n_keys; i++) {
        if (i + 1 < n_keys && keys[i].len == keys[i + 1].len &&
            memcmp(keys[i].s, keys[i + 1].s, keys[i].len) == 0)
            continue;
        keys[m++] = keys[i];
    }
    rc = b_grow(&b, 256 + 1);
    if (rc != TOK_OK)
        goto fail;
    b_use(&b, 0, -2); /* the root is used and nobody's child */
    b.max_used = 0;
    rc = b_insert(&b, 0, keys, 0, m, 0);
    if (rc != TOK_OK)
        goto fail;
    if (b.max_used < 256)
        b.max_used = 256; /* even an empty root is probed at base 0 + byte */
    u->n_cells = b.max_used + 1;
    rc = TOK_ENOMEM;
    u->cells = malloc(u->n_cells * sizeof *u->cells);
    u->cell_id = malloc(u->n_cells * sizeof *u->cell_id);
    if (!u->cells || !u->cell_id)
        goto fail;
    for (size_t i = 0; i < u->n_cells; i++) {
        const struct da_cell *c = &b.da[i];
        u->cells[i] = (struct ug_cell){(uint32_t)c->base | (c->id >= 0 ? UG_PIECE : 0), c->check,
                                       c->id >= 0 ? scores[c->id] : 0.0};
        u->cell_id[i] = c->id;
    }
    free(b.da);
    b.da = NULL;
    free(b.next_free);
    b.next_free = NULL;

    for (int c = 0; c < 256; c++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", c);
        u->byte_ids[c] = da_find(u, (const unsigned char *)name, 6);
    }
    free(keys);
    *out = u;
    return TOK_OK;
fail:
    free(b.da);
    free(b.next_free);
    free(keys);
    tok_unigram_free(u);
    return rc;
}

void tok_unigram_free(struct tok_unigram *u)
{
    if (!u)
        return;
    free(u->cells);
    free(u->cell_id);
    free(u);
}

/* ---- encoding ---- */

struct vnode {
    double score;   /* best path score ending here */
    int32_t start;  /* start of the last piece on that path, -1 = unreached */
    int32_t id;     /* that piece's id (unk_id for an unk edge) */
};

struct piece {
    uint32_t start, end;
    int32_t id;
};

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

enum { STACK_BYTES = 4096 };

int tok_unigram_encode_into(const struct tok_unigram *u, const char *word, size_t len,
                            int32_t *out_ids, struct tok_span *out_spans, size_t *n)
{
    if (!u || (!word && len) || (len && (!out_ids || !out_spans)) || !n)
        return TOK_EINVAL;
    if (len >= (size_t)INT32_MAX)
        return TOK_ELIMIT;
    if (len == 0) {
        *n = 0;
        return TOK_OK;
    }
    const unsigned char *s = (const unsigned char *)word;
    /* One scratch: Viterbi nodes (len + 1), then the best path's pieces (at most len). */
    size_t need = (len + 1) * sizeof(struct vnode) + len * sizeof(struct piece);
    _Alignas(double) unsigned char stack[STACK_BYTES];
    void *scratch = need <= sizeof stack ? (void *)stack : malloc(need);
    if (!scratch)
        return TOK_ENOMEM;
    struct vnode *best = scratch;
    struct piece *path = (struct piece *)(best + len + 1);
    int rc = TOK_OK;

    best[0] = (struct vnode){0.0, 0, -1};
    for (size_t i = 1; i <= len; i++)
        best[i] = (struct vnode){0.0, -1, -1};

    const struct ug_cell *cells = u->cells;
    for (size_t i = 0; i < len;) {
        uint32_t mblen = u8len(s[i]);
        if (mblen > len - i)
            mblen = (uint32_t)(len - i);
        double here = best[i].score;
        bool has_single = false;
        int32_t node = 0;
        for (size_t j = i; j < len; j++) {
            int32_t t = (int32_t)(cells[node].base & ~UG_PIECE) + s[j];
            if (cells[t].check != node)
                break;
            node = t;
            if (!(cells[node].base & UG_PIECE))
                continue;
            struct vnode *tn = &best[j + 1];
            double cand = cells[node].score + here;
            if (tn->start < 0 || cand > tn->score)
                *tn = (struct vnode){cand, (int32_t)i, u->cell_id[node]};
            if (j + 1 - i == mblen)
                has_single = true;
        }
        if (!has_single) {
            if (u->unk_id < 0) {
                rc = TOK_EINVAL; /* HF: MissingUnkId */
                goto done;
            }
            struct vnode *tn = &best[i + mblen];
            double cand = u->unk_score + here;
            if (tn->start < 0 || cand > tn->score)
                *tn = (struct vnode){cand, (int32_t)i, u->unk_id};
        }
        i += mblen;
    }

    /* Backtrack, fusing runs of unk edges; pieces come out last to first. */
    size_t n_path = 0;
    for (size_t end = len; end > 0;) {
        const struct vnode *v = &best[end];
        uint32_t start = (uint32_t)v->start;
        if (n_path > 0 && v->id == u->unk_id && path[n_path - 1].id == u->unk_id &&
            path[n_path - 1].start == end && u->unk_id >= 0) {
            path[n_path - 1].start = start; /* extend the fused unk leftwards */
        } else {
            path[n_path++] = (struct piece){start, (uint32_t)end, v->id};
        }
        end = start;
    }

    /* Resolve unk pieces (vocabulary lookup, byte fallback) and count output tokens. */
    size_t n_out = 0;
    for (size_t k = 0; k < n_path; k++) {
        struct piece *pc = &path[k];
        if (pc->id != u->unk_id) {
            n_out++;
            continue;
        }
        int32_t id = da_find(u, s + pc->start, pc->end - pc->start);
        if (id >= 0) {
            pc->id = id;
            n_out++;
            continue;
        }
        bool bytes_ok = u->byte_fallback;
        for (uint32_t b = pc->start; bytes_ok && b < pc->end; b++)
            bytes_ok = u->byte_ids[s[b]] >= 0;
        if (bytes_ok) {
            pc->id = -2; /* marker: spell as bytes */
            n_out += pc->end - pc->start;
        } else {
            n_out++; /* stays unk_id */
        }
    }

    size_t o = 0; /* n_out <= len: pieces are disjoint, byte pieces one per byte */
    for (size_t k = n_path; k-- > 0;) {
        const struct piece *pc = &path[k];
        struct tok_span sp = {pc->start, pc->end};
        if (pc->id == -2) {
            for (uint32_t b = pc->start; b < pc->end; b++) {
                out_ids[o] = u->byte_ids[s[b]];
                out_spans[o++] = sp;
            }
        } else {
            out_ids[o] = pc->id;
            out_spans[o++] = sp;
        }
    }
    *n = n_out;
done:
    if (scratch != (void *)stack)
        free(scratch);
    return rc;
}

int tok_unigram_encode(const struct tok_unigram *u, const char *word, size_t len, int32_t **ids,
                       struct tok_span **spans, size_t *n)
{
    if (!u || (!word && len) || !ids || !spans || !n)
        return TOK_EINVAL;
    if (len == 0) {
        *ids = NULL;
        *spans = NULL;
        *n = 0;
        return TOK_OK;
    }
    int32_t *i_buf = malloc(len * sizeof *i_buf);
    struct tok_span *s_buf = malloc(len * sizeof *s_buf);
    size_t k = 0;
    int rc = i_buf && s_buf ? tok_unigram_encode_into(u, word, len, i_buf, s_buf, &k) : TOK_ENOMEM;
    if (rc != TOK_OK) {
        free(i_buf);
        free(s_buf);
        return rc;
    }
    *ids = i_buf;
    *spans = s_buf;
    *n = k;
    return TOK_OK;
}
