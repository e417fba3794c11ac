/* spm_impl.h — private interface of the SentencePiece-derived parts of the tokenizer:
 * the Precompiled normalizer (a SentencePiece "precompiled_charsmap") and the Unigram
 * model. Used by the tokenizer.json loader/encoder only; not part of tok.h.
 *
 * Both objects are immutable after _new: any number of threads may use one at once.
 * Every function returns an enum tok_status (tokenizer/tok.h); out-parameters are set
 * only on success. Nothing here prints.
 */
#ifndef SOCLE_TOK_SPM_IMPL_H
#define SOCLE_TOK_SPM_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/tok.h"

struct tok_span {
    uint32_t start, end; /* [start, end) byte range */
};

struct tok_precompiled;

/* Build a Precompiled normalizer from the base64 "precompiled_charsmap" string of
 * tokenizer.json (len bytes, need not be NUL-terminated). The blob is a u32 LE trie size,
 * the Darts-clone double array (that many bytes), then the pool of NUL-terminated
 * replacement strings. TOK_EINVAL on bad base64 or an inconsistent blob, TOK_ENOMEM.
 * The caller owns *out (tok_precompiled_free). */
int tok_precompiled_new_base64(const char *b64, size_t len, struct tok_precompiled **out);
void tok_precompiled_free(struct tok_precompiled *p);

/* Normalize the valid UTF-8 text in[0, len) as HF tokenizers' Precompiled normalizer
 * does (whole grapheme clusters under 6 bytes first, then char by char). *out receives
 * the malloc'd result (*out_len bytes, NUL-terminated for convenience) and *align one
 * span per output byte: the byte range of `in` that byte comes from (HF NormalizedString
 * alignment semantics, as if `in` were an unmodified NormalizedString). The caller frees
 * both. TOK_ENOMEM, TOK_ELIMIT (len >= 2^32), TOK_EINVAL (NULL arguments). */
int tok_precompiled_normalize(const struct tok_precompiled *p, const char *in, size_t len,
                              char **out, size_t *out_len, struct tok_span **align);

struct tok_unigram;

/* Build a Unigram model from n pieces (piece i: pieces[i], piece_lens[i] bytes, score
 * scores[i]; id = i). Duplicate pieces resolve to the highest id, as HF's token_to_ids
 * map does. unk_id: -1 for none; byte_fallback: use <0xXX> pieces for unknown text.
 * The arrays are copied. TOK_EINVAL (unk_id out of range, n too large), TOK_ENOMEM.
 * The caller owns *out (tok_unigram_free). */
int tok_unigram_new(const char *const *pieces, const size_t *piece_lens, const double *scores,
                    size_t n, int32_t unk_id, bool byte_fallback, struct tok_unigram **out);
void tok_unigram_free(struct tok_unigram *u);

/* Segment one pre-tokenized, normalized word (valid UTF-8, len bytes) as HF's Unigram
 * does: Viterbi over the vocabulary with unknown characters scored min_score - 10, runs of
 * unknown characters fused into one unk piece, and with byte_fallback an unknown piece
 * spelled as <0xXX> byte pieces (each spanning the whole unknown piece, like HF).
 * Outputs *n pieces: (*ids)[i] and (*spans)[i] = byte range inside word. A fused unk
 * piece has id unk_id and its token string is the covered text. The caller frees *ids and
 * *spans (both NULL when *n == 0). TOK_EINVAL when a character is not covered by the
 * vocabulary and there is no unk_id (HF: MissingUnkId), TOK_ENOMEM, TOK_ELIMIT
 * (len >= 2^31). */
int tok_unigram_encode(const struct tok_unigram *u, const char *word, size_t len, int32_t **ids,
                       struct tok_span **spans, size_t *n);

/* The same into caller arrays of at least len entries each (a word of len bytes never yields
 * more than len pieces: pieces are disjoint and byte-fallback pieces are one per byte).
 * No allocation unless the word is longer than ~145 bytes (Viterbi scratch): the call to
 * use per word in a hot loop. Same return codes; ids/spans may be NULL when len == 0. */
int tok_unigram_encode_into(const struct tok_unigram *u, const char *word, size_t len,
                            int32_t *ids, struct tok_span *spans, size_t *n);

#endif
