/* encode.c — the encode pipeline (HF TokenizerImpl::encode_single_sequence + post_process):
 * added tokens on raw text → normalizer → added tokens on normalized text → pre-tokenizer
 * → model per word → truncation → post-processor (offset trimming, special tokens) →
 * padding. All intermediate memory lives in one per-call arena; the result is one malloc. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_impl.h"

struct row {
    int32_t id;
    uint32_t s, e;
    const char *str;
    int32_t word;
    int32_t type_id;
    int8_t seq;     /* 0, 1, -1 special */
    uint8_t special;
};
struct rows {
    struct row *v;
    size_t n;
};

static int rows_push(struct rows *r, size_t *cap, struct tok_arena *a, struct row x) {
    if (r->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        struct row *v = tok_arena_alloc(a, nc * sizeof *v);
        if (!v) return TOK_ENOMEM;
        if (r->n) memcpy(v, r->v, r->n * sizeof *v);
        r->v = v;
        *cap = nc;
    }
    r->v[r->n++] = x;
    return TOK_OK;
}

int tok_model_encode(const struct tok_model *m, const char *const *id_to_tok,
                     const struct tok_split *sp, struct tok_pieces *out, struct tok_arena *a) {
    switch (m->type) {
    case TOK_MODEL_WORDPIECE: return tok_wordpiece_encode(m, id_to_tok, sp->s, sp->len, out, a);
    case TOK_MODEL_BPE: return tok_bpe_encode(m, id_to_tok, sp->s, sp->len, out, a);
    case TOK_MODEL_WORDLEVEL: {
        int32_t id = tok_hash_get(&m->vocab, sp->s, sp->len);
        if (id < 0) id = m->unk_id;
        if (id < 0) return TOK_EINVAL;
        return tok_pieces_push(out, a, id, 0, sp->len, id_to_tok[id]);
    }
    case TOK_MODEL_UNIGRAM: {
#ifdef TOK_HAVE_UNIGRAM
        int32_t *ids = NULL;
        struct tok_span *spans = NULL;
        size_t n = 0;
        int rc = tok_unigram_encode(m->unigram, sp->s, sp->len, &ids, &spans, &n);
        if (rc) return rc;
        for (size_t i = 0; i < n && !rc; i++) {
            const char *str = id_to_tok[ids[i]];
            if (ids[i] == m->unk_id) { /* a fused unknown piece shows the text it covers */
                size_t l = spans[i].end - spans[i].start;
                char *c = tok_arena_alloc(a, l + 1);
                if (!c) {
                    rc = TOK_ENOMEM;
                    break;
                }
                memcpy(c, sp->s + spans[i].start, l);
                c[l] = 0;
                str = c;
            }
            rc = tok_pieces_push(out, a, ids[i], spans[i].start, spans[i].end, str);
        }
        free(ids);
        free(spans);
        return rc;
#else
        return TOK_EUNSUPPORTED;
#endif
    }
    }
    return TOK_EINVAL;
}

static char *arena_strndup(struct tok_arena *a, const char *s, size_t n) {
    char *c = tok_arena_alloc(a, n + 1);
    if (!c) return NULL;
    memcpy(c, s, n);
    c[n] = 0;
    return c;
}

/* One text → rows (ids, original byte offsets, token strings, word ids). */
static int encode_seq(const struct tok_tokenizer *tok, const char *text, size_t len, int8_t seq,
                      struct tok_arena *a, struct rows *out) {
    size_t rcap = 0;
    struct tok_span *al = tok_arena_alloc(a, (len + 1) * sizeof *al);
    if (!al) return TOK_ENOMEM;
    for (size_t i = 0; i < len;) {
        uint32_t l = (uint32_t)tok_utf8_len((unsigned char)text[i]);
        for (uint32_t k = 0; k < l; k++) al[i + k] = (struct tok_span){(uint32_t)i, (uint32_t)i + l};
        i += l;
    }
    struct tok_split whole = {(char *)(uintptr_t)text, al, (uint32_t)len, 0, -1};
    struct tok_splits l1 = {0}, l2 = {0};
    int rc;
    if (tok->has_trie_raw && len) {
        if ((rc = tok_added_split(tok, &tok->trie_raw, &whole, &l1, a))) return rc;
    } else if (len) {
        if ((rc = tok_splits_push(&l1, a, &whole))) return rc;
    }
    for (size_t i = 0; i < l1.n; i++) {
        struct tok_split sp = l1.v[i];
        if (sp.added_id >= 0) {
            if ((rc = tok_splits_push(&l2, a, &sp))) return rc;
            continue;
        }
        if (tok->has_normalizer && (rc = tok_normalize(&tok->norm, &sp, a))) return rc;
        if (!sp.len) continue;
        if (tok->has_trie_norm) {
            if ((rc = tok_added_split(tok, &tok->trie_norm, &sp, &l2, a))) return rc;
        } else if ((rc = tok_splits_push(&l2, a, &sp))) {
            return rc;
        }
    }
    if (tok->has_pretok && (rc = tok_pretokenize(&tok->pretok, &tok->bytelevel_re, &l2, a)))
        return rc;
    struct tok_pieces pcs = {0};
    int32_t word = 0;
    for (size_t i = 0; i < l2.n; i++) {
        const struct tok_split *sp = &l2.v[i];
        if (!sp->len) continue;
        if (sp->added_id >= 0) {
            const struct tok_added *ad = &tok->added[sp->added_id];
            char *str = arena_strndup(a, sp->s, sp->len);
            if (!str) return TOK_ENOMEM;
            struct row r = {ad->id, sp->al[0].start, sp->al[sp->len - 1].end, str, word, 0, seq, 0};
            if ((rc = rows_push(out, &rcap, a, r))) return rc;
            word++;
            continue;
        }
        pcs.n = 0;
        if ((rc = tok_model_encode(&tok->model, (const char *const *)tok->id_to_tok, sp, &pcs, a)))
            return rc;
        for (size_t k = 0; k < pcs.n; k++) {
            const struct tok_piece *p = &pcs.v[k];
            uint32_t s = p->start < sp->len ? sp->al[p->start].start : sp->al[sp->len - 1].end;
            uint32_t e = p->end > 0 && p->end <= sp->len ? sp->al[p->end - 1].end : s;
            if (p->end <= p->start) e = s;
            struct row r = {p->id, s, e, p->str ? p->str : "", word, 0, seq, 0};
            if ((rc = rows_push(out, &rcap, a, r))) return rc;
        }
        word++;
    }
    return TOK_OK;
}

/* HF processors::byte_level::process_offsets */
static void trim_offsets(struct row *v, size_t n, bool add_prefix_space) {
    for (size_t i = 0; i < n; i++) {
        const unsigned char *t = (const unsigned char *)v[i].str;
        size_t tl = strlen(v[i].str), lead = 0, trail = 0;
        for (size_t p = 0; p < tl;) {
            int32_t c;
            int l = tok_utf8_dec(t + p, &c);
            if (c != 0x120 && !tok_is_whitespace(c)) break;
            lead++;
            p += (size_t)l;
        }
        for (size_t p = tl; p > 0;) {
            size_t q = p - 1;
            while (q > 0 && (t[q] & 0xC0) == 0x80) q--;
            int32_t c;
            tok_utf8_dec(t + q, &c);
            if (c != 0x120 && !tok_is_whitespace(c)) break;
            trail++;
            p = q;
        }
        if (!lead && !trail) continue;
        if (lead) {
            bool is_first = i == 0 || v[i].s == 0;
            if (is_first && add_prefix_space && lead == 1) lead = 0;
            uint32_t ns = v[i].s + (uint32_t)lead;
            v[i].s = ns < v[i].e ? ns : v[i].e;
        }
        if (trail && v[i].e >= trail) {
            uint32_t ne = v[i].e - (uint32_t)trail;
            v[i].e = ne > v[i].s ? ne : v[i].s;
        }
    }
}

static void apply_trims(const struct tok_post *p, struct rows *r) {
    if (p->type == TOK_POST_SEQUENCE) {
        for (size_t i = 0; i < p->n_subs; i++) apply_trims(&p->subs[i], r);
        return;
    }
    if ((p->type == TOK_POST_BYTELEVEL || p->type == TOK_POST_ROBERTA) && p->trim_offsets)
        trim_offsets(r->v, r->n, p->add_prefix_space);
}

static const struct tok_post *find_template(const struct tok_post *p) {
    if (p->type == TOK_POST_BERT || p->type == TOK_POST_ROBERTA || p->type == TOK_POST_TEMPLATE)
        return p;
    if (p->type == TOK_POST_SEQUENCE)
        for (size_t i = 0; i < p->n_subs; i++) {
            const struct tok_post *t = find_template(&p->subs[i]);
            if (t) return t;
        }
    return NULL;
}

static size_t added_count(const struct tok_tokenizer *tok, bool pair) {
    const struct tok_post *t = find_template(&tok->post);
    if (!t) return 0;
    size_t n = 0;
    const struct tok_tpl_item *v = pair ? t->pair : t->single;
    size_t k = pair ? t->n_pair : t->n_single;
    for (size_t i = 0; i < k; i++)
        if (v[i].is_special) n += v[i].n_ids;
    return n;
}

/* Build the final rows of one window: template over (a, b). */
static int assemble(const struct tok_tokenizer *tok, const struct rows *ra, const struct rows *rb,
                    bool add_special, struct tok_arena *a, struct rows *out) {
    size_t cap = 0;
    int rc;
    out->n = 0;
    out->v = NULL;
    const struct tok_post *t = add_special ? find_template(&tok->post) : NULL;
    if (!t) {
        for (size_t i = 0; i < ra->n; i++) {
            struct row r = ra->v[i];
            r.type_id = 0;
            if ((rc = rows_push(out, &cap, a, r))) return rc;
        }
        for (size_t i = 0; rb && i < rb->n; i++) {
            struct row r = rb->v[i];
            r.type_id = 1;
            if ((rc = rows_push(out, &cap, a, r))) return rc;
        }
        return TOK_OK;
    }
    const struct tok_tpl_item *v = rb ? t->pair : t->single;
    size_t k = rb ? t->n_pair : t->n_single;
    for (size_t i = 0; i < k; i++) {
        if (v[i].is_special) {
            for (size_t j = 0; j < v[i].n_ids; j++) {
                struct row r = {v[i].ids[j], 0, 0, v[i].toks[j], -1, v[i].type_id, -1, 1};
                if ((rc = rows_push(out, &cap, a, r))) return rc;
            }
        } else {
            const struct rows *src = v[i].seq ? rb : ra;
            if (!src) continue;
            for (size_t j = 0; j < src->n; j++) {
                struct row r = src->v[j];
                r.type_id = v[i].type_id;
                if ((rc = rows_push(out, &cap, a, r))) return rc;
            }
        }
    }
    return TOK_OK;
}

/* Byte offset → code point index, for the cp_offsets output. */
static uint32_t *cp_index(const char *text, size_t len, struct tok_arena *a) {
    uint32_t *m = tok_arena_alloc(a, (len + 1) * sizeof *m);
    if (!m) return NULL;
    uint32_t c = 0;
    for (size_t i = 0; i < len; i++) {
        if (((unsigned char)text[i] & 0xC0) != 0x80) m[i] = c++;
        else m[i] = c;
    }
    m[len] = c;
    return m;
}

struct ctx {
    const struct tok_tokenizer *tok;
    const struct tok_encode_params *p;
    uint32_t *cpa, *cpb;
    int32_t pad_id;
    const char *pad_tok;
};

static int make_encoding(const struct ctx *c, const struct rows *r, struct tok_encoding **out) {
    size_t n = r->n;
    size_t total = c->p->padding == TOK_PAD_TO_MAX_LENGTH && c->p->max_length > n
                       ? c->p->max_length
                       : n;
    size_t strbytes = 0;
    for (size_t i = 0; i < n; i++) strbytes += strlen(r->v[i].str) + 1;
    strbytes += (total - n) * (strlen(c->pad_tok) + 1);
    size_t sz = sizeof(struct tok_encoding) + total * (4 + 4 + 1 + 1 + 4 + 1 + 8 + 8 + sizeof(char *)) +
                strbytes + 64;
    struct tok_encoding *e = calloc(1, sz);
    if (!e) return TOK_ENOMEM;
    char *p = (char *)(e + 1);
#define TAKE(field, T)                                                                             \
    do {                                                                                           \
        p = (char *)(((uintptr_t)p + 7) & ~(uintptr_t)7);                                          \
        e->field = (T *)(void *)p;                                                                 \
        p += total * sizeof(T);                                                                    \
    } while (0)
    TAKE(tokens, char *);
    TAKE(offsets, struct tok_offset);
    TAKE(cp_offsets, struct tok_offset);
    TAKE(ids, int32_t);
    TAKE(type_ids, int32_t);
    TAKE(word_ids, int32_t);
    TAKE(special_mask, uint8_t);
    TAKE(attention_mask, uint8_t);
    TAKE(sequence_ids, int8_t);
#undef TAKE
    e->n_tokens = total;
    for (size_t i = 0; i < total; i++) {
        const char *s;
        if (i < n) {
            const struct row *x = &r->v[i];
            e->ids[i] = x->id;
            e->type_ids[i] = x->type_id;
            e->word_ids[i] = x->word;
            e->special_mask[i] = x->special;
            e->attention_mask[i] = 1;
            e->sequence_ids[i] = x->seq;
            e->offsets[i] = (struct tok_offset){x->s, x->e};
            const uint32_t *m = x->seq == 1 ? c->cpb : x->seq == 0 ? c->cpa : NULL;
            e->cp_offsets[i] = m ? (struct tok_offset){m[x->s], m[x->e]} : (struct tok_offset){0, 0};
            s = x->str;
        } else {
            e->ids[i] = c->pad_id;
            e->type_ids[i] = c->tok->pad_type_id;
            e->word_ids[i] = -1;
            e->special_mask[i] = 1;
            e->attention_mask[i] = 0;
            e->sequence_ids[i] = -1;
            s = c->pad_tok;
        }
        size_t l = strlen(s);
        memcpy(p, s, l + 1);
        e->tokens[i] = p;
        p += l + 1;
    }
    *out = e;
    return TOK_OK;
}

struct tok_encode_params tok_encode_params_default(void) {
    struct tok_encode_params p;
    memset(&p, 0, sizeof p);
    p.add_special_tokens = true;
    p.use_file_truncation = true;
    return p;
}

void tok_encoding_free(struct tok_encoding *enc) {
    if (!enc) return;
    for (size_t i = 0; i < enc->n_overflowing; i++) tok_encoding_free(enc->overflowing[i]);
    free(enc->overflowing);
    free(enc);
}

/* HF Encoding::truncate: windows of max_len tokens, each starting max_len - stride later. */
static int windows(const struct rows *r, size_t max_len, size_t stride, bool left,
                   struct tok_arena *a, struct rows **w, size_t *nw) {
    size_t n = r->n;
    if (max_len >= n) {
        *w = tok_arena_alloc(a, sizeof **w);
        if (!*w) return TOK_ENOMEM;
        (*w)[0] = *r;
        *nw = 1;
        return TOK_OK;
    }
    if (max_len == 0) {
        *w = tok_arena_alloc(a, 2 * sizeof **w);
        if (!*w) return TOK_ENOMEM;
        (*w)[0] = (struct rows){r->v, 0};
        (*w)[1] = *r;
        *nw = 2;
        return TOK_OK;
    }
    if (stride >= max_len) return TOK_EINVAL;
    size_t off = max_len - stride, cnt = 0;
    struct rows *v = tok_arena_alloc(a, (n / off + 2) * sizeof *v);
    if (!v) return TOK_ENOMEM;
    if (!left) {
        for (size_t st = 0; st < n; st += off) {
            size_t en = st + max_len < n ? st + max_len : n;
            v[cnt++] = (struct rows){r->v + st, en - st};
            if (en == n) break;
        }
    } else {
        for (size_t k = 0; k < n; k += off) {
            size_t stop = n - k, start = stop < max_len ? 0 : stop - max_len;
            v[cnt++] = (struct rows){r->v + start, stop - start};
            if (start == 0) break;
        }
    }
    *w = v;
    *nw = cnt;
    return TOK_OK;
}

static int encode_impl(const struct tok_tokenizer *tok, const char *text, size_t len,
                       const char *pair, size_t pair_len, const struct tok_encode_params *params,
                       struct tok_encoding **out, size_t *n_count, size_t *err_offset) {
    if (!tok || (!text && len) || (!out && !n_count)) return TOK_EINVAL;
    if (len >= UINT32_MAX / 8 || pair_len >= UINT32_MAX / 8) return TOK_ELIMIT;
    size_t bad;
    if (!tok_utf8_valid(text ? text : "", len, &bad)) {
        if (err_offset) *err_offset = bad;
        return TOK_EUTF8;
    }
    if (pair && !tok_utf8_valid(pair, pair_len, &bad)) {
        if (err_offset) *err_offset = bad;
        return TOK_EUTF8;
    }
    struct tok_encode_params dp = tok_encode_params_default();
    if (!params) params = &dp;
    struct tok_arena a = {0};
    struct rows ra = {0}, rb = {0};
    int rc = encode_seq(tok, text ? text : "", len, 0, &a, &ra);
    if (!rc && pair) rc = encode_seq(tok, pair, pair_len, 1, &a, &rb);
    if (rc) goto done;
    if (n_count) { /* no truncation, no padding */
        *n_count = ra.n + rb.n + (params->add_special_tokens ? added_count(tok, pair != NULL) : 0);
        goto done;
    }
    /* offsets trimming happens on each sequence before specials are added (HF order) */
    apply_trims(&tok->post, &ra);
    if (pair) apply_trims(&tok->post, &rb);

    size_t max_len = 0, stride = params->stride;
    enum tok_truncation_strategy strat = params->strategy;
    bool trunc = false, left = false;
    if (params->use_file_truncation && tok->trunc.enabled) {
        trunc = true;
        max_len = tok->trunc.max_length;
        stride = tok->trunc.stride;
        strat = tok->trunc.strategy;
        left = tok->trunc.left;
    } else if (!params->use_file_truncation && params->max_length) {
        trunc = true;
        max_len = params->max_length;
    }
    struct rows *wa = &ra, *wb = pair ? &rb : NULL;
    size_t nwa = 1, nwb = pair ? 1 : 0;
    if (trunc) {
        size_t added = params->add_special_tokens ? added_count(tok, pair != NULL) : 0;
        size_t ml = max_len > added ? max_len - added : 0;
        size_t total = ra.n + rb.n;
        if (total > ml) {
            size_t to_remove = total - ml, na = ra.n, nb = rb.n;
            if (!pair) {
                na = total - to_remove;
            } else if (strat == TOK_TRUNC_LONGEST_FIRST) {
                size_t n1 = ra.n, n2 = rb.n;
                bool swap = n1 > n2;
                if (swap) n1 = rb.n, n2 = ra.n;
                if (n1 > ml) n2 = n1;
                else n2 = n1 > ml - n1 ? n1 : ml - n1;
                if (n1 + n2 > ml) {
                    n1 = ml / 2;
                    n2 = n1 + ml % 2;
                }
                if (swap) {
                    size_t t = n1;
                    n1 = n2;
                    n2 = t;
                }
                na = n1;
                nb = n2;
            } else if (strat == TOK_TRUNC_ONLY_FIRST) {
                if (ra.n <= to_remove) {
                    rc = TOK_EINVAL;
                    goto done;
                }
                na = ra.n - to_remove;
            } else {
                if (rb.n <= to_remove) {
                    rc = TOK_EINVAL;
                    goto done;
                }
                nb = rb.n - to_remove;
            }
            if ((rc = windows(&ra, na, stride, left, &a, &wa, &nwa))) goto done;
            if (pair && (rc = windows(&rb, nb, stride, left, &a, &wb, &nwb))) goto done;
        }
    }
    struct ctx c = {tok, params, cp_index(text ? text : "", len, &a),
                    pair ? cp_index(pair, pair_len, &a) : NULL, 0, ""};
    if ((pair && !c.cpb) || !c.cpa) {
        rc = TOK_ENOMEM;
        goto done;
    }
    c.pad_id = tok->pad_enabled ? tok->pad_id : tok->specials[TOK_SPECIAL_PAD];
    if (c.pad_id < 0) c.pad_id = 0;
    c.pad_tok = tok_id_to_token(tok, c.pad_id);
    if (!c.pad_tok) c.pad_tok = "";
    /* windows: (A0,B0) first, then HF's merge order for the overflowing ones */
    size_t nwin = pair ? nwa * nwb : nwa;
    struct tok_encoding *main = NULL;
    struct rows fr;
    if ((rc = assemble(tok, &wa[0], pair ? &wb[0] : NULL, params->add_special_tokens, &a, &fr)) ||
        (rc = make_encoding(&c, &fr, &main)))
        goto done;
    if (nwin > 1 && params->return_overflowing) {
        main->overflowing = calloc(nwin - 1, sizeof *main->overflowing);
        if (!main->overflowing) {
            rc = TOK_ENOMEM;
            tok_encoding_free(main);
            goto done;
        }
        size_t k = 0;
        for (size_t i = 1; i < nwa; i++) {
            for (size_t j = 0; j < (pair ? nwb : 1); j++) {
                if ((rc = assemble(tok, &wa[i], pair ? &wb[j] : NULL, params->add_special_tokens,
                                   &a, &fr)) ||
                    (rc = make_encoding(&c, &fr, &main->overflowing[k])))
                    break;
                main->n_overflowing = ++k;
            }
            if (rc) break;
        }
        for (size_t j = 1; !rc && pair && j < nwb; j++) {
            if ((rc = assemble(tok, &wa[0], &wb[j], params->add_special_tokens, &a, &fr)) ||
                (rc = make_encoding(&c, &fr, &main->overflowing[k])))
                break;
            main->n_overflowing = ++k;
        }
        if (rc) {
            tok_encoding_free(main);
            goto done;
        }
    }
    *out = main;
done:
    tok_arena_free(&a);
    return rc;
}

int tok_encode(const struct tok_tokenizer *tok, const char *text, size_t len, const char *pair,
               size_t pair_len, const struct tok_encode_params *params, struct tok_encoding **out,
               size_t *err_offset) {
    if (!out) return TOK_EINVAL;
    return encode_impl(tok, text, len, pair, pair_len, params, out, NULL, err_offset);
}

int tok_count(const struct tok_tokenizer *tok, const char *text, size_t len,
              bool add_special_tokens, size_t *n_tokens, size_t *err_offset) {
    if (!n_tokens) return TOK_EINVAL;
    struct tok_encode_params p = tok_encode_params_default();
    p.add_special_tokens = add_special_tokens;
    p.use_file_truncation = false;
    return encode_impl(tok, text, len, NULL, 0, &p, NULL, n_tokens, err_offset);
}
