/* summarize.c — extractive summarization by centrality + MMR, and pooling.
 *
 * DESIGN (docs/tasks.md has the user-facing version). Each sentence is encoded on
 * its own by the shared model; its embedding is the mean of its token states,
 * L2-normalized. The document centroid is the mean of those unit vectors; a
 * sentence's salience is its cosine to the centroid (how representative it is).
 * Maximal Marginal Relevance (Carbonell & Goldstein 1998) then picks sentences one
 * by one: lambda * salience - (1 - lambda) * (max cosine to an already chosen
 * sentence), so near-duplicates of a chosen sentence are pushed down. The chosen
 * sentences are returned in document order.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tasks/task_impl.h"

void task_pool(const float *h, size_t n, size_t d, enum task_pooling pooling, float *out) {
    if (n == 0) {
        memset(out, 0, d * sizeof(float));
        return;
    }
    if (pooling == TASK_POOL_CLS) {
        memcpy(out, h, d * sizeof(float));
        return;
    }
    for (size_t j = 0; j < d; j++) {
        double s = 0.0;
        for (size_t t = 0; t < n; t++)
            s += h[t * d + j];
        out[j] = (float)(s / (double)n);
    }
}

size_t task_summary_count(size_t n, size_t max_sentences, float ratio) {
    if (n == 0)
        return 0;
    size_t k = 0;
    if (ratio > 0.0f && ratio <= 1.0f)
        k = (size_t)ceil((double)ratio * (double)n);
    else if (ratio > 1.0f)
        k = n;
    if (max_sentences > 0 && (k == 0 || max_sentences < k))
        k = max_sentences;
    if (k == 0)
        k = 3; /* default when neither option is given */
    if (k > n)
        k = n;
    return k;
}

int task_mmr_select(float *emb, size_t n, size_t d, size_t k, float lambda,
                    const float *salience, size_t *chosen, float *centrality) {
    if (k > n)
        k = n;
    if (k == 0)
        return TASK_OK;
    float *centroid = calloc(d, sizeof(float));
    float *c = malloc(n * sizeof(float));
    float *maxsim = malloc(n * sizeof(float));
    bool *taken = calloc(n, sizeof(bool));
    int rc = TASK_ENOMEM;
    if (!centroid || !c || !maxsim || !taken)
        goto done;
    for (size_t i = 0; i < n; i++) {
        task_l2_normalize(emb + i * d, d);
        for (size_t j = 0; !salience && j < d; j++) /* the centroid only serves centrality */
            centroid[j] += emb[i * d + j];
    }
    task_l2_normalize(centroid, d);
    for (size_t i = 0; i < n; i++) {
        c[i] = salience ? salience[i] : task_dot(emb + i * d, centroid, d);
        maxsim[i] = 0.0f;
    }
    for (size_t r = 0; r < k; r++) {
        size_t best = n;
        float best_v = 0.0f;
        for (size_t i = 0; i < n; i++) {
            if (taken[i])
                continue;
            /* No redundancy term before the first pick. */
            float v = r == 0 ? c[i] : lambda * c[i] - (1.0f - lambda) * maxsim[i];
            if (best == n || v > best_v) {
                best = i;
                best_v = v;
            }
        }
        taken[best] = true;
        for (size_t i = 0; i < n; i++) {
            if (taken[i])
                continue;
            float s = task_dot(emb + i * d, emb + best * d, d);
            if (r == 0 || s > maxsim[i])
                maxsim[i] = s;
        }
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (taken[i]) {
            chosen[m] = i;
            if (centrality)
                centrality[m] = c[i];
            m++;
        }
    }
    rc = TASK_OK;
done:
    free(centroid);
    free(c);
    free(maxsim);
    free(taken);
    return rc;
}
