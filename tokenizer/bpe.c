/* bpe.c — BPE model (HF models::bpe): chars (or byte-fallback <0xXX>, or fused [UNK]) as
 * initial symbols, then repeatedly merge the adjacent pair of lowest rank, leftmost first.
 * A binary heap over a linked list of symbols keeps a 100,000-char word O(n log n). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_impl.h"

struct sym {
    int32_t id;
    uint32_t start, end;
    int32_t prev, next;
};
struct hent {
    int32_t rank, pos, newid, lid, rid; /* lid/rid: the pair when pushed */
};

static bool h_less(const struct hent *x, const struct hent *y) {
    return x->rank < y->rank || (x->rank == y->rank && x->pos < y->pos);
}
static void h_push(struct hent *h, size_t *n, struct hent e) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!h_less(&e, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}
static struct hent h_pop(struct hent *h, size_t *n) {
    struct hent top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, s = i;
        const struct hent *best = &last;
        if (l < *n && h_less(&h[l], best)) s = l, best = &h[l];
        if (r < *n && h_less(&h[r], best)) s = r;
        if (s == i) break;
        h[i] = h[s];
        i = s;
    }
    if (*n) h[i] = last;
    return top;
}

static int bpe_word(const struct tok_model *m, const char *const *id_to_tok, const char *w,
                    size_t len, struct tok_pieces *out, struct tok_arena *a) {
    if (!len) return TOK_OK;
    if (m->ignore_merges) {
        int32_t id = tok_hash_get(&m->vocab, w, len);
        if (id >= 0) return tok_pieces_push(out, a, id, 0, (uint32_t)len, id_to_tok[id]);
    }
    struct sym *sy = tok_arena_alloc(a, (len * (4 + m->prefix_len) + m->suffix_len + 1) * sizeof *sy);
    if (!sy) return TOK_ENOMEM;
    size_t ns = 0;
    uint32_t off = 0; /* HF: symbol offsets accumulate the lengths of symbols added */
    int32_t unk_pending = -1;
    uint32_t unk_len = 0;
    char buf[256];
#define ADD(ID, L)                                                                                 \
    do {                                                                                           \
        sy[ns] = (struct sym){(ID), off, off + (L), (int32_t)ns - 1, (int32_t)ns + 1};             \
        off += (L);                                                                                \
        ns++;                                                                                      \
    } while (0)
    for (size_t i = 0; i < len;) {
        uint32_t cl = (uint32_t)tok_utf8_len((unsigned char)w[i]);
        bool first = i == 0, last = i + cl >= len;
        const char *key = w + i;
        size_t klen = cl;
        if ((!first && m->prefix_len) || (last && m->suffix_len)) {
            klen = 0;
            if (!first && m->prefix_len) memcpy(buf, m->prefix, m->prefix_len), klen = m->prefix_len;
            memcpy(buf + klen, w + i, cl);
            klen += cl;
            if (last && m->suffix_len) memcpy(buf + klen, m->suffix, m->suffix_len), klen += m->suffix_len;
            key = buf;
        }
        int32_t id = tok_hash_get(&m->vocab, key, klen);
        if (id >= 0) {
            if (unk_pending >= 0) {
                ADD(unk_pending, unk_len);
                unk_pending = -1;
            }
            ADD(id, cl);
        } else {
            bool done = false;
            if (m->byte_fallback) {
                bool all = true;
                for (size_t k = 0; k < klen; k++)
                    if (m->byte_ids[(unsigned char)key[k]] < 0) all = false;
                if (all) {
                    for (size_t k = 0; k < klen; k++) ADD(m->byte_ids[(unsigned char)key[k]], 1);
                    done = true;
                }
            }
            if (!done && m->unk_id >= 0) {
                if (unk_pending >= 0 && m->fuse_unk) {
                    unk_len += cl;
                } else {
                    if (unk_pending >= 0) ADD(unk_pending, unk_len);
                    unk_pending = m->unk_id;
                    unk_len = cl;
                }
            }
        }
        i += cl;
    }
    if (unk_pending >= 0) ADD(unk_pending, unk_len);
#undef ADD
    if (!ns) return TOK_OK;
    sy[ns - 1].next = -1;
    struct hent *h = tok_arena_alloc(a, (3 * ns + 1) * sizeof *h);
    if (!h) return TOK_ENOMEM;
    size_t nh = 0;
    for (size_t i = 0; i + 1 < ns; i++) {
        int32_t r, nid;
        if (tok_pairmap_get(&m->merges, sy[i].id, sy[i + 1].id, &r, &nid))
            h_push(h, &nh, (struct hent){r, (int32_t)i, nid, sy[i].id, sy[i + 1].id});
    }
    while (nh) {
        struct hent t = h_pop(h, &nh);
        struct sym *l = &sy[t.pos];
        if (l->id < 0) continue; /* merged away */
        if (l->next < 0) continue;
        struct sym *r = &sy[l->next];
        int32_t rk, nid;
        /* HF re-looks the pair up and merges when the new id still matches; an unchanged
         * pair trivially does, so only changed pairs need the lookup. */
        if ((l->id != t.lid || r->id != t.rid) &&
            (!tok_pairmap_get(&m->merges, l->id, r->id, &rk, &nid) || nid != t.newid))
            continue;
        l->id = t.newid;
        l->end = r->end;
        int32_t rn = r->next;
        r->id = -1;
        r->start = r->end = 0;
        l->next = rn;
        if (rn >= 0) sy[rn].prev = t.pos;
        if (l->prev >= 0) {
            struct sym *p = &sy[l->prev];
            if (tok_pairmap_get(&m->merges, p->id, l->id, &rk, &nid))
                h_push(h, &nh, (struct hent){rk, l->prev, nid, p->id, l->id});
        }
        if (rn >= 0 && tok_pairmap_get(&m->merges, l->id, sy[rn].id, &rk, &nid))
            h_push(h, &nh, (struct hent){rk, t.pos, nid, l->id, sy[rn].id});
    }
    for (int32_t i = 0; i >= 0; i = sy[i].next) {
        if (tok_pieces_push(out, a, sy[i].id, sy[i].start, sy[i].end, id_to_tok[sy[i].id]))
            return TOK_ENOMEM;
    }
    return TOK_OK;
}

/* ---- per-thread word cache ----
 * Words repeat (Zipf): HF keeps a word → tokens cache too. Ours is per thread (no locks),
 * direct-mapped, keyed by the tokenizer's generation and the word bytes; a hit replays
 * the (id, byte length) list, from which offsets follow exactly as Word::add builds them. */
#define WC_BITS 13
#define WC_MAXW 48
#define WC_MAXT 12
struct wc_ent {
    uint64_t gen, h;
    uint16_t wlen, ntok;
    char w[WC_MAXW];
    int32_t id[WC_MAXT];
    uint16_t len[WC_MAXT];
};
static pthread_key_t wc_key;
static pthread_once_t wc_once = PTHREAD_ONCE_INIT;
static bool wc_ok;
static void wc_init(void) {
    wc_ok = pthread_key_create(&wc_key, free) == 0;
}

static int bpe_cached(const struct tok_model *m, const char *const *id_to_tok, const char *w,
                      size_t len, uint32_t shift, struct tok_pieces *out, struct tok_arena *a) {
    struct wc_ent *tab = NULL, *e = NULL;
    uint64_t h = 0;
    if (len <= WC_MAXW) {
        pthread_once(&wc_once, wc_init);
        if (wc_ok) {
            tab = pthread_getspecific(wc_key);
            if (!tab) {
                tab = calloc((size_t)1 << WC_BITS, sizeof *tab);
                if (tab && pthread_setspecific(wc_key, tab) != 0) {
                    free(tab);
                    tab = NULL;
                }
            }
        }
    }
    if (tab) {
        h = tok_hash_bytes(w, len);
        e = &tab[h & ((1u << WC_BITS) - 1)];
        if (e->gen == m->gen && e->h == h && e->wlen == len && !memcmp(e->w, w, len)) {
            uint32_t off = shift;
            for (uint16_t i = 0; i < e->ntok; i++) {
                if (tok_pieces_push(out, a, e->id[i], off, off + e->len[i], id_to_tok[e->id[i]]))
                    return TOK_ENOMEM;
                off += e->len[i];
            }
            return TOK_OK;
        }
    }
    size_t first = out->n;
    int rc = bpe_word(m, id_to_tok, w, len, out, a);
    if (rc) return rc;
    size_t nt = out->n - first;
    bool contiguous = true;
    for (size_t i = first; i < out->n; i++) {
        if (i > first && out->v[i].start != out->v[i - 1].end) contiguous = false;
        out->v[i].start += shift;
        out->v[i].end += shift;
    }
    if (e && nt <= WC_MAXT && contiguous && (nt == 0 || out->v[first].start == shift)) {
        e->gen = m->gen;
        e->h = h;
        e->wlen = (uint16_t)len;
        e->ntok = (uint16_t)nt;
        memcpy(e->w, w, len);
        for (size_t i = 0; i < nt; i++) {
            e->id[i] = out->v[first + i].id;
            e->len[i] = (uint16_t)(out->v[first + i].end - out->v[first + i].start);
        }
    }
    return TOK_OK;
}

/* SentencePiece-style vocabularies (one "word" per line, ▁ for spaces): no merge crosses a
 * "X▁" boundary unless X is in m->nocut (checked at load), so such a word is the
 * concatenation of its ▁-led chunks, each BPE'd (and cached) on its own: same result. */
int tok_bpe_encode(const struct tok_model *m, const char *const *id_to_tok, const char *w,
                   size_t len, struct tok_pieces *out, struct tok_arena *a) {
    if (!m->chunk_meta || len <= WC_MAXW) return bpe_cached(m, id_to_tok, w, len, 0, out, a);
    const unsigned char *s = (const unsigned char *)w;
    size_t st = 0;
    int32_t prev = -1;
    for (size_t i = 0; i < len;) {
        int32_t c;
        int l = tok_utf8_dec(s + i, &c);
        if (c == 0x2581 && i > 0 && prev != 0x2581) {
            bool cut = true;
            for (size_t k = 0; k < m->n_nocut; k++)
                if (m->nocut[k] == prev) cut = false;
            if (cut) {
                int rc = bpe_cached(m, id_to_tok, w + st, i - st, (uint32_t)st, out, a);
                if (rc) return rc;
                st = i;
            }
        }
        prev = c;
        i += (size_t)l;
    }
    return bpe_cached(m, id_to_tok, w + st, len - st, (uint32_t)st, out, a);
}
