/* head.c — apply an adapter head to one sequence's hidden states.
 *
 * DESIGN. Input = the last hidden state, one chosen layer, or a scalar mix
 * gamma * sum_k softmax(w)_k * h_{layer_k} (ELMo/AllenNLP ScalarMix) when the adapter
 * reads several layers. Then: classify pools one vector (CLS row, mean, or the
 * model's pooler tanh(W h_cls + b)) and runs [dense + activation] + out; token heads
 * (ner, qa) run the same layers on every row. Every matrix product goes through
 * eng_linear, the engine's one entry point to BLAS.
 */
#include <math.h>
#include <string.h>

#include "tasks/task_impl.h"

size_t task_head_scratch(const struct task_head *h, size_t n) {
    size_t d = h->d_model;
    return n * d + n * (h->d_hidden ? h->d_hidden : 1) + 3 * d + 16;
}

static void activate(float *x, size_t n, enum task_head_act act) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        switch (act) {
        case TASK_ACT_TANH:
            x[i] = tanhf(v);
            break;
        case TASK_ACT_GELU: /* exact (erf) GELU, as BERT-family models use */
            x[i] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
            break;
        case TASK_ACT_RELU:
            x[i] = v > 0.0f ? v : 0.0f;
            break;
        }
    }
}

/* [pooler dense + tanh] [dense + activation] out, on one pooled vector v (d_model);
 * mid holds d_hidden floats, p d_model. */
static void vector_head(const struct task_head *h, const float *v, float *mid, float *p,
                        float *out) {
    size_t d = h->d_model;
    if (h->pool == TASK_HPOOL_POOLER) {
        eng_linear(v, h->pool_w, h->pool_b, p, 1, d, d);
        activate(p, d, TASK_ACT_TANH);
        v = p;
    }
    if (h->mlp) {
        eng_linear(v, h->dense_w, h->dense_b, mid, 1, h->d_hidden, d);
        activate(mid, h->d_hidden, h->act);
        v = mid;
    }
    eng_linear(v, h->out_w, h->out_b, out, 1, h->n_out, h->d_in);
}

float task_head_salience(const struct task_head *h, const float *v, float *scratch) {
    float *mid = scratch, *p = mid + (h->d_hidden ? h->d_hidden : 1), *out = p + h->d_model;
    vector_head(h, v, mid, p, out);
    task_softmax(out, h->n_out);
    return out[h->score_label];
}

int task_head_apply(const struct task_head *h, const struct task_hidden *hid, size_t n,
                    int n_model_layers, enum task_pooling pooling, float *scratch, float *out) {
    size_t d = h->d_model;
    const float *x = hid->last;                             /* (n, d) */
    float *buf = scratch;                                   /* (n, d) */
    float *mid = buf + n * d;                               /* (n, d_hidden) */
    float *vec = mid + n * (h->d_hidden ? h->d_hidden : 1); /* (3 d) */
    if (n == 0)
        return TASK_EINVAL;
    if (h->n_layers > 0) {
        if (!hid->layers)
            return TASK_EINTERNAL;
        for (size_t k = 0; k < h->n_layers; k++)
            if (h->layers[k] < 0 || h->layers[k] > n_model_layers)
                return TASK_EINTERNAL;
        if (h->n_layers == 1 && !h->mix) {
            x = hid->layers + (size_t)h->layers[0] * hid->layer_stride;
        } else {
            memset(buf, 0, n * d * sizeof(float));
            for (size_t k = 0; k < h->n_layers; k++) {
                const float *l = hid->layers + (size_t)h->layers[k] * hid->layer_stride;
                float wk = h->gamma * (h->mix ? h->mix[k] : 1.0f / (float)h->n_layers);
                for (size_t i = 0; i < n * d; i++)
                    buf[i] += wk * l[i];
            }
            x = buf;
        }
    }

    if (h->kind == TASK_EMBED || h->kind == TASK_SUMMARIZE) {
        task_pool(x, n, d, pooling == TASK_POOL_CLS ? TASK_POOL_CLS : TASK_POOL_MEAN, out);
        return TASK_OK;
    }

    if (h->kind == TASK_CLASSIFY) {
        task_pool(x, n, d, h->pool == TASK_HPOOL_MEAN ? TASK_POOL_MEAN : TASK_POOL_CLS, vec);
        vector_head(h, vec, mid, vec + d, out);
        return TASK_OK;
    }

    /* Token heads: every row. */
    const float *in = x;
    if (h->mlp) {
        eng_linear(x, h->dense_w, h->dense_b, mid, n, h->d_hidden, d);
        activate(mid, n * h->d_hidden, h->act);
        in = mid;
    }
    eng_linear(in, h->out_w, h->out_b, out, n, h->n_out, h->d_in);
    return TASK_OK;
}
