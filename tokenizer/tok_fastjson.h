/* tok_fastjson.h — fast decoding of model.vocab / model.merges (see fastjson.c). */
#ifndef SOCLE_TOK_FASTJSON_H
#define SOCLE_TOK_FASTJSON_H
#include "tokenizer/tok_impl.h"

/* vocab as parsed: object {s: id} (is_array false) or Unigram [[s, score], …] (id = index) */
struct tok_vocab_in {
    size_t n;
    const char **s;
    size_t *l;
    int64_t *id;
    double *score;
    bool is_array;
};
struct tok_merges_in {
    size_t n;
    const char **a, **b;
    size_t *al, *bl;
};

/* Find the byte ranges of the values of model.vocab and model.merges ({0,0} when absent). */
bool tok_fj_find_model(const char *buf, size_t len, struct tok_span *vocab,
                       struct tok_span *merges);
int tok_fj_vocab(const char *buf, struct tok_span r, struct tok_arena *a, struct tok_vocab_in *v,
                 size_t max_n, char *err, size_t errlen);
int tok_fj_merges(const char *buf, struct tok_span r, struct tok_arena *a,
                  struct tok_merges_in *m, size_t max_n, char *err, size_t errlen);
#endif
