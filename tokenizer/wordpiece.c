/* wordpiece.c — WordPiece model (HF models::wordpiece): greedy longest match first, a word
 * with an unmatchable rest (or longer than max_input_chars_per_word chars) is one [UNK]. */
#include <string.h>

#include "tokenizer/tok_impl.h"

int tok_wordpiece_encode(const struct tok_model *m, const char *const *id_to_tok, const char *w,
                         size_t len, struct tok_pieces *out, struct tok_arena *a) {
    size_t nchars = 0;
    for (size_t i = 0; i < len; i++) nchars += ((unsigned char)w[i] & 0xC0) != 0x80;
    size_t mark = out->n;
    if (nchars <= m->max_chars) {
        char buf[512];
        size_t start = 0;
        while (start < len) {
            size_t end = len;
            /* no vocab entry is longer than 500 bytes after the prefix (checked at load) */
            size_t lim = sizeof buf - m->prefix_len;
            if (end - start > lim) {
                end = start + lim;
                while (end > start && ((unsigned char)w[end] & 0xC0) == 0x80) end--;
            }
            int32_t id = -1;
            while (start < end) {
                if (start > 0) {
                    memcpy(buf, m->prefix, m->prefix_len);
                    memcpy(buf + m->prefix_len, w + start, end - start);
                    id = tok_hash_get(&m->vocab, buf, m->prefix_len + end - start);
                } else {
                    id = tok_hash_get(&m->vocab, w + start, end - start);
                }
                if (id >= 0) break;
                end--;
                while (end > start && ((unsigned char)w[end] & 0xC0) == 0x80) end--;
            }
            if (id < 0) break;
            if (tok_pieces_push(out, a, id, (uint32_t)start, (uint32_t)end, id_to_tok[id]))
                return TOK_ENOMEM;
            start = end;
        }
        if (start >= len) return TOK_OK;
        out->n = mark; /* a bad word is one [UNK] */
    }
    if (m->unk_id < 0) return TOK_EINVAL;
    return tok_pieces_push(out, a, m->unk_id, 0, (uint32_t)len, id_to_tok[m->unk_id]);
}
