/* qa.c — answer span selection, following transformers' QuestionAnsweringPipeline.
 *
 * DESIGN. Per window (HF select_starts_ends): tokens that are neither context nor CLS
 * get logit -10000 (their probability underflows to exactly 0), start and end logits
 * are softmaxed over the window, the null score start_p[0] * end_p[0] is min'ed over
 * windows (handle_impossible_answer), then CLS is zeroed. A span (s, e) scores
 * start_p[s] * end_p[e] with s <= e <= s + max_answer_len - 1 and both ends in the
 * context (HF decode_spans: triu/tril of the outer product, undesired tokens dropped).
 * We keep the top_k over all windows; a span seen in two overlapping windows keeps
 * its best score once (HF would list it twice).
 */
#include <stdlib.h>
#include <string.h>

#include "tasks/task_impl.h"

/* Insert c into the sorted (best first) list of at most k entries, one per (s, e). */
static void insert(struct task_qa_cand *list, size_t *n, size_t k, struct task_qa_cand c) {
    /* Full list and not better than the worst: cannot enter, and any stored copy of
     * the same span already scores at least as much. */
    if (*n == k && c.score <= list[k - 1].score)
        return;
    for (size_t i = 0; i < *n; i++) {
        if (list[i].s == c.s && list[i].e == c.e) {
            if (c.score <= list[i].score)
                return;
            /* Remove the old entry, then insert as new. */
            memmove(list + i, list + i + 1, (*n - i - 1) * sizeof(*list));
            (*n)--;
            break;
        }
    }
    size_t pos = *n;
    while (pos > 0 && list[pos - 1].score < c.score)
        pos--;
    if (pos >= k)
        return;
    size_t last = *n < k ? *n : k - 1;
    memmove(list + pos + 1, list + pos, (last - pos) * sizeof(*list));
    list[pos] = c;
    if (*n < k)
        (*n)++;
}

int task_qa_select(const struct task_qa_window *wins, size_t n_wins, size_t top_k,
                   size_t max_answer_len, float *min_null, struct task_qa_cand *cands,
                   size_t *n_cands) {
    *n_cands = 0;
    if (top_k == 0 || max_answer_len == 0)
        return TASK_EINVAL;
    for (size_t w = 0; w < n_wins; w++) {
        const struct task_qa_window *win = &wins[w];
        size_t n = win->n;
        if (n == 0)
            continue;
        float *sp = malloc(2 * n * sizeof(float));
        if (!sp)
            return TASK_ENOMEM;
        float *ep = sp + n;
        for (size_t t = 0; t < n; t++) {
            bool keep = win->is_context[t] || (win->is_cls && win->is_cls[t]);
            sp[t] = keep ? win->start_logits[t] : -10000.0f;
            ep[t] = keep ? win->end_logits[t] : -10000.0f;
        }
        task_softmax(sp, n);
        task_softmax(ep, n);
        float null = sp[0] * ep[0];
        if (null < *min_null)
            *min_null = null;
        sp[0] = ep[0] = 0.0f;
        /* Context-relative index of token t: count of context tokens before it. */
        size_t ctx_i = 0;
        for (size_t s = 0; s < n; s++) {
            if (!win->is_context[s])
                continue;
            size_t ctx_j = ctx_i;
            for (size_t e = s; e < n && e < s + max_answer_len; e++) {
                if (win->is_context[e]) {
                    struct task_qa_cand c = {win->ctx_first + ctx_i, win->ctx_first + ctx_j,
                                             sp[s] * ep[e]};
                    insert(cands, n_cands, top_k, c);
                    ctx_j++;
                }
            }
            ctx_i++;
        }
        free(sp);
    }
    return TASK_OK;
}
