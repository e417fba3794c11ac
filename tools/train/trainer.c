/* trainer.c — head forward/backward, AdamW, the epoch loop.
 *
 * DESIGN: heads are tiny next to the frozen model (d_model x n_out, or
 * d_model x d_hidden), so training is plain single-threaded loops over one
 * example at a time with double accumulators: deterministic (bit-reproducible
 * with a seed, whatever BLAS or thread count the machine has) and precise enough
 * for a finite-difference gradient check. The forward matches tasks/head.c (the
 * code socled runs): mix = gamma * sum_k softmax(w)_k h_k, then
 * [dense + activation], then out.
 */
#include "tools/train/trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *tr_strerror(int status) {
    switch (status) {
    case TR_OK:
        return "ok";
    case TR_ENOMEM:
        return "out of memory";
    case TR_EINVAL:
        return "invalid argument";
    case TR_EIO:
        return "I/O error";
    case TR_ELIMIT:
        return "size limit exceeded";
    default:
        return "unknown status";
    }
}

/* splitmix64: tiny, fast, and the same sequence everywhere. */
static uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_uniform(uint64_t *s) { /* (0, 1) */
    return ((double)(rng_next(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double rng_normal(uint64_t *s) { /* Box-Muller, one value per call */
    double u = rng_uniform(s), v = rng_uniform(s);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

int tr_head_new(const struct tr_head_cfg *cfg, uint64_t seed, struct tr_head **out) {
    if (!cfg || !out || cfg->d_model == 0 || cfg->n_out == 0 || cfg->n_mix == 0 ||
        (cfg->mlp && cfg->d_hidden == 0) || cfg->d_model > (1u << 16) || cfg->n_out > (1u << 20) ||
        cfg->d_hidden > (1u << 16) || cfg->n_mix > 256)
        return TR_EINVAL;
    struct tr_head *h = calloc(1, sizeof(*h));
    if (!h)
        return TR_ENOMEM;
    h->cfg = *cfg;
    size_t d = cfg->d_model, dh = cfg->mlp ? cfg->d_hidden : 0, din = cfg->mlp ? dh : d;
    size_t n_mix = cfg->n_mix > 1 ? cfg->n_mix + 1 : 0;
    size_t n = n_mix + (cfg->mlp ? dh * d + dh : 0) + cfg->n_out * din + cfg->n_out;
    h->n_params = n;
    h->params = calloc(n, sizeof(*h->params));
    h->decay = calloc(n, 1);
    if (!h->params || !h->decay) {
        tr_head_free(h);
        return TR_ENOMEM;
    }
    float *p = h->params;
    uint8_t *dec = h->decay;
    uint64_t rs = seed;
    if (n_mix) {
        h->mix_w = p;
        h->gamma = p + cfg->n_mix;
        *h->gamma = 1.0f;
        p += n_mix;
        dec += n_mix;
    }
    if (cfg->mlp) {
        h->w1 = p;
        for (size_t i = 0; i < dh * d; i++) {
            p[i] = (float)(0.02 * rng_normal(&rs));
            dec[i] = 1;
        }
        p += dh * d;
        dec += dh * d;
        h->b1 = p;
        p += dh;
        dec += dh;
    }
    h->w2 = p;
    for (size_t i = 0; i < cfg->n_out * din; i++) {
        p[i] = (float)(0.02 * rng_normal(&rs));
        dec[i] = 1;
    }
    p += cfg->n_out * din;
    h->b2 = p;
    *out = h;
    return TR_OK;
}

void tr_head_free(struct tr_head *h) {
    if (!h)
        return;
    free(h->params);
    free(h->decay);
    free(h);
}

struct tr_scratch {
    double *x;   /* (d) mixed input */
    double *mix; /* (n_mix) softmaxed weights */
    double *z1;  /* (dh) pre-activation */
    double *a;   /* (dh) activation */
    double *lg;  /* (n_out) logits */
    double *dl;  /* (n_out) dloss/dlogits */
    double *da;  /* (dh) */
    double *dx;  /* (d) */
};

int tr_scratch_new(const struct tr_head_cfg *cfg, struct tr_scratch **out) {
    struct tr_scratch *s = calloc(1, sizeof(*s));
    if (!s)
        return TR_ENOMEM;
    size_t d = cfg->d_model, dh = cfg->mlp ? cfg->d_hidden : 1;
    s->x = malloc(d * sizeof(double));
    s->mix = malloc(cfg->n_mix * sizeof(double));
    s->z1 = malloc(dh * sizeof(double));
    s->a = malloc(dh * sizeof(double));
    s->lg = malloc(cfg->n_out * sizeof(double));
    s->dl = malloc(cfg->n_out * sizeof(double));
    s->da = malloc(dh * sizeof(double));
    s->dx = malloc(d * sizeof(double));
    if (!s->x || !s->mix || !s->z1 || !s->a || !s->lg || !s->dl || !s->da || !s->dx) {
        tr_scratch_free(s);
        return TR_ENOMEM;
    }
    *out = s;
    return TR_OK;
}

void tr_scratch_free(struct tr_scratch *s) {
    if (!s)
        return;
    free(s->x);
    free(s->mix);
    free(s->z1);
    free(s->a);
    free(s->lg);
    free(s->dl);
    free(s->da);
    free(s->dx);
    free(s);
}

static double act_f(double v, enum tr_act a) {
    switch (a) {
    case TR_ACT_TANH:
        return tanh(v);
    case TR_ACT_GELU:
        return 0.5 * v * (1.0 + erf(v * 0.7071067811865476));
    case TR_ACT_RELU:
        return v > 0 ? v : 0;
    }
    return v;
}

static double act_df(double v, enum tr_act a) {
    switch (a) {
    case TR_ACT_TANH: {
        double t = tanh(v);
        return 1.0 - t * t;
    }
    case TR_ACT_GELU:
        return 0.5 * (1.0 + erf(v * 0.7071067811865476)) +
               v * exp(-0.5 * v * v) * 0.3989422804014327;
    case TR_ACT_RELU:
        return v > 0 ? 1.0 : 0.0;
    }
    return 1.0;
}

/* Forward in double; leaves x, mix, z1, a, lg in s. */
static void forward_d(const struct tr_head *h, const float *feats, struct tr_scratch *s) {
    const struct tr_head_cfg *c = &h->cfg;
    size_t d = c->d_model;
    if (c->n_mix > 1) {
        double mx = h->mix_w[0], sum = 0;
        for (size_t k = 1; k < c->n_mix; k++)
            mx = h->mix_w[k] > mx ? h->mix_w[k] : mx;
        for (size_t k = 0; k < c->n_mix; k++)
            sum += (s->mix[k] = exp(h->mix_w[k] - mx));
        for (size_t k = 0; k < c->n_mix; k++)
            s->mix[k] /= sum;
        for (size_t j = 0; j < d; j++)
            s->x[j] = 0;
        for (size_t k = 0; k < c->n_mix; k++) {
            double wk = (double)*h->gamma * s->mix[k];
            const float *f = feats + k * d;
            for (size_t j = 0; j < d; j++)
                s->x[j] += wk * f[j];
        }
    } else {
        for (size_t j = 0; j < d; j++)
            s->x[j] = feats[j];
    }
    const double *in = s->x;
    size_t din = d;
    if (c->mlp) {
        for (size_t i = 0; i < c->d_hidden; i++) {
            const float *w = h->w1 + i * d;
            double z = h->b1[i];
            for (size_t j = 0; j < d; j++)
                z += (double)w[j] * s->x[j];
            s->z1[i] = z;
            s->a[i] = act_f(z, c->act);
        }
        in = s->a;
        din = c->d_hidden;
    }
    for (size_t o = 0; o < c->n_out; o++) {
        const float *w = h->w2 + o * din;
        double z = h->b2[o];
        for (size_t j = 0; j < din; j++)
            z += (double)w[j] * in[j];
        s->lg[o] = z;
    }
}

void tr_head_forward(const struct tr_head *h, const float *feats, float *logits,
                     struct tr_scratch *s) {
    forward_d(h, feats, s);
    for (size_t o = 0; o < h->cfg.n_out; o++)
        logits[o] = (float)s->lg[o];
}

/* Back-propagate s->dl (dloss/dlogits, already scaled) into grad; forward_d
 * must have run on the same feats. */
static void backprop(const struct tr_head *h, const float *feats, double *grad,
                     struct tr_scratch *s) {
    const struct tr_head_cfg *c = &h->cfg;
    size_t d = c->d_model, n_out = c->n_out;
    /* gradient offsets in the flat parameter array */
    size_t off = c->n_mix > 1 ? c->n_mix + 1 : 0;
    double *g_mix = grad, *g_w1 = NULL, *g_b1 = NULL;
    if (c->mlp) {
        g_w1 = grad + off;
        g_b1 = g_w1 + c->d_hidden * d;
        off += c->d_hidden * d + c->d_hidden;
    }
    size_t din = c->mlp ? c->d_hidden : d;
    double *g_w2 = grad + off, *g_b2 = g_w2 + n_out * din;
    const double *in = c->mlp ? s->a : s->x;
    bool need_dx = c->n_mix > 1;

    for (size_t o = 0; o < n_out; o++) {
        double g = s->dl[o];
        double *gw = g_w2 + o * din;
        for (size_t j = 0; j < din; j++)
            gw[j] += g * in[j];
        g_b2[o] += g;
    }
    if (c->mlp) {
        for (size_t j = 0; j < din; j++)
            s->da[j] = 0;
        for (size_t o = 0; o < n_out; o++) {
            const float *w = h->w2 + o * din;
            for (size_t j = 0; j < din; j++)
                s->da[j] += s->dl[o] * w[j];
        }
        for (size_t i = 0; i < c->d_hidden; i++)
            s->da[i] *= act_df(s->z1[i], c->act); /* now dloss/dz1 */
        for (size_t i = 0; i < c->d_hidden; i++) {
            double g = s->da[i];
            double *gw = g_w1 + i * d;
            for (size_t j = 0; j < d; j++)
                gw[j] += g * s->x[j];
            g_b1[i] += g;
        }
        if (need_dx) {
            for (size_t j = 0; j < d; j++)
                s->dx[j] = 0;
            for (size_t i = 0; i < c->d_hidden; i++) {
                const float *w = h->w1 + i * d;
                for (size_t j = 0; j < d; j++)
                    s->dx[j] += s->da[i] * w[j];
            }
        }
    } else if (need_dx) {
        for (size_t j = 0; j < d; j++)
            s->dx[j] = 0;
        for (size_t o = 0; o < n_out; o++) {
            const float *w = h->w2 + o * d;
            for (size_t j = 0; j < d; j++)
                s->dx[j] += s->dl[o] * w[j];
        }
    }
    if (need_dx) {
        /* x = gamma * sum_k s_k f_k: dL/dgamma = sum_k s_k r_k, dL/ds_k = gamma r_k
         * with r_k = dx . f_k; through the softmax dL/dw_j = s_j (ds_j - sum_k s_k ds_k). */
        double dg = 0, sds = 0, gam = *h->gamma;
        double ds[256]; /* n_mix <= 256 (tr_head_new) */
        for (size_t k = 0; k < c->n_mix; k++) {
            const float *f = feats + k * d;
            double r = 0;
            for (size_t j = 0; j < d; j++)
                r += s->dx[j] * f[j];
            dg += s->mix[k] * r;
            ds[k] = gam * r;
            sds += s->mix[k] * ds[k];
        }
        for (size_t k = 0; k < c->n_mix; k++)
            g_mix[k] += s->mix[k] * (ds[k] - sds);
        g_mix[c->n_mix] += dg;
    }
}

double tr_head_backward(const struct tr_head *h, const float *feats, int32_t y, double scale,
                        double *grad, struct tr_scratch *s) {
    size_t n_out = h->cfg.n_out;
    forward_d(h, feats, s);
    double mx = s->lg[0], sum = 0;
    for (size_t o = 1; o < n_out; o++)
        mx = s->lg[o] > mx ? s->lg[o] : mx;
    for (size_t o = 0; o < n_out; o++)
        sum += exp(s->lg[o] - mx);
    double lse = mx + log(sum);
    double loss = lse - s->lg[y];
    for (size_t o = 0; o < n_out; o++)
        s->dl[o] = scale * (exp(s->lg[o] - lse) - (o == (size_t)y ? 1.0 : 0.0));
    backprop(h, feats, grad, s);
    return loss;
}

double tr_head_backward_multi(const struct tr_head *h, const float *feats, const uint8_t *targets,
                              double scale, double *grad, struct tr_scratch *s) {
    forward_d(h, feats, s);
    double loss = 0;
    for (size_t o = 0; o < h->cfg.n_out; o++) {
        double z = s->lg[o], t = targets[o] ? 1.0 : 0.0;
        /* log(1 + e^z) - t z, written so that neither exp overflows */
        loss += (z > 0 ? z : 0) - z * t + log1p(exp(-fabs(z)));
        double p = z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
        s->dl[o] = scale * (p - t);
    }
    backprop(h, feats, grad, s);
    return loss;
}

/* log(sum_t exp(x[t])) */
static double log_sum_exp(const double *x, size_t n) {
    double mx = x[0], sum = 0;
    for (size_t t = 1; t < n; t++)
        mx = x[t] > mx ? x[t] : mx;
    for (size_t t = 0; t < n; t++)
        sum += exp(x[t] - mx);
    return mx + log(sum);
}

double tr_span_backward(const struct tr_head *h, const float *feats, size_t n_tok, int32_t start,
                        int32_t end, double scale, double *grad, struct tr_scratch *s,
                        double *work) {
    size_t row = h->cfg.n_mix * h->cfg.d_model;
    double *ls = work, *le = work + n_tok; /* start / end logits over the window */
    for (size_t t = 0; t < n_tok; t++) {
        forward_d(h, feats + t * row, s);
        ls[t] = s->lg[0];
        le[t] = s->lg[1];
    }
    double lse_s = log_sum_exp(ls, n_tok), lse_e = log_sum_exp(le, n_tok);
    double loss = 0.5 * ((lse_s - ls[start]) + (lse_e - le[end]));
    if (!grad)
        return loss;
    /* The head is per token, so each token's logits back-propagate on their own;
     * forward_d runs again to restore the token's activations in s. */
    for (size_t t = 0; t < n_tok; t++) {
        forward_d(h, feats + t * row, s);
        s->dl[0] = 0.5 * scale * (exp(ls[t] - lse_s) - (t == (size_t)start ? 1.0 : 0.0));
        s->dl[1] = 0.5 * scale * (exp(le[t] - lse_e) - (t == (size_t)end ? 1.0 : 0.0));
        backprop(h, feats + t * row, grad, s);
    }
    return loss;
}

double tr_lr_at(size_t step, size_t total, size_t warmup, double base) {
    if (step < warmup)
        return base * (double)step / (double)(warmup ? warmup : 1);
    if (total <= warmup || step >= total)
        return step >= total ? 0.0 : base;
    return base * (double)(total - step) / (double)(total - warmup);
}

int tr_adamw_init(struct tr_adamw *o, size_t n_params, double weight_decay) {
    memset(o, 0, sizeof(*o));
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->eps = 1e-8;
    o->weight_decay = weight_decay;
    o->m = calloc(n_params ? n_params : 1, sizeof(*o->m));
    o->v = calloc(n_params ? n_params : 1, sizeof(*o->v));
    if (!o->m || !o->v) {
        tr_adamw_clear(o);
        return TR_ENOMEM;
    }
    return TR_OK;
}

void tr_adamw_clear(struct tr_adamw *o) {
    free(o->m);
    free(o->v);
    memset(o, 0, sizeof(*o));
}

void tr_adamw_step(struct tr_adamw *o, struct tr_head *h, const double *grad, double lr) {
    o->t++;
    double bc1 = 1.0 - pow(o->beta1, (double)o->t), bc2 = 1.0 - pow(o->beta2, (double)o->t);
    for (size_t i = 0; i < h->n_params; i++) {
        double p = h->params[i], g = grad[i];
        if (h->decay[i])
            p -= lr * o->weight_decay * p;
        o->m[i] = o->beta1 * o->m[i] + (1.0 - o->beta1) * g;
        o->v[i] = o->beta2 * o->v[i] + (1.0 - o->beta2) * g * g;
        double mh = o->m[i] / bc1, vh = o->v[i] / bc2;
        p -= lr * mh / (sqrt(vh) + o->eps);
        h->params[i] = (float)p;
    }
}

void tr_word_first_tokens(const uint32_t *tok_start, const uint8_t *special, size_t n_tokens,
                          const size_t *word_end, size_t n_words, int32_t *word_tok) {
    for (size_t w = 0; w < n_words; w++)
        word_tok[w] = -1;
    size_t w = 0;
    for (size_t t = 0; t < n_tokens; t++) {
        if (special && special[t])
            continue;
        size_t s = tok_start[t];
        while (w < n_words && s >= word_end[w])
            w++;
        if (w == n_words)
            break;
        /* A token that starts past word w-1 either overlaps word w or lies in the
         * gap before it: a lone Metaspace "▁" whose offsets cover only the space.
         * HF word_ids give that piece the following word's id, so it is the
         * word's first token (run_ner labels it, not the piece after). */
        if (word_tok[w] < 0)
            word_tok[w] = (int32_t)t;
    }
}

size_t tr_argmax(const float *x, size_t n) {
    size_t b = 0;
    for (size_t i = 1; i < n; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Count the examples that train (label >= 0) and check their labels against
 * the head; max_len = longest span example (rows). */
static int check_data(const struct tr_head *h, const struct tr_data *data, size_t *n,
                      size_t *max_len) {
    *n = *max_len = 0;
    if ((data->loss == TR_LOSS_SPAN && (!data->row_off || !data->label_end || h->cfg.n_out != 2)) ||
        (data->loss == TR_LOSS_SIGMOID && !data->targets))
        return TR_EINVAL;
    for (size_t i = 0; i < data->n; i++) {
        if (data->label[i] < 0)
            continue;
        if (data->loss == TR_LOSS_SPAN) {
            size_t len = data->row_off[i + 1] - data->row_off[i];
            if (data->row_off[i + 1] < data->row_off[i] || (size_t)data->label[i] >= len ||
                data->label_end[i] < 0 || (size_t)data->label_end[i] >= len)
                return TR_EINVAL;
            *max_len = len > *max_len ? len : *max_len;
        } else if (data->loss == TR_LOSS_SOFTMAX && (size_t)data->label[i] >= h->cfg.n_out) {
            return TR_EINVAL;
        }
        (*n)++;
    }
    return *n ? TR_OK : TR_EINVAL;
}

static double example_backward(const struct tr_head *h, const struct tr_data *data, size_t e,
                               double scale, double *grad, struct tr_scratch *s, double *work) {
    size_t stride = h->cfg.n_mix * h->cfg.d_model;
    switch (data->loss) {
    case TR_LOSS_SPAN:
        return tr_span_backward(h, data->feats + data->row_off[e] * stride,
                                data->row_off[e + 1] - data->row_off[e], data->label[e],
                                data->label_end[e], scale, grad, s, work);
    case TR_LOSS_SIGMOID:
        return tr_head_backward_multi(h, data->feats + e * stride, data->targets + e * h->cfg.n_out,
                                      scale, grad, s);
    case TR_LOSS_SOFTMAX:
        break;
    }
    return tr_head_backward(h, data->feats + e * stride, data->label[e], scale, grad, s);
}

int tr_fit(struct tr_head *h, const struct tr_data *data, const struct tr_fit_opts *o,
           struct tr_fit_result *res) {
    if (!h || !data || !o || !res || o->epochs == 0 || o->batch_size == 0 || o->lr <= 0)
        return TR_EINVAL;
    memset(res, 0, sizeof(*res));
    size_t n = 0, max_len = 0;
    if (check_data(h, data, &n, &max_len) != TR_OK)
        return TR_EINVAL;
    size_t *idx = malloc(n * sizeof(*idx));
    double *grad = malloc(h->n_params * sizeof(*grad));
    float *best = malloc(h->n_params * sizeof(*best));
    double *work = malloc((2 * max_len + 1) * sizeof(*work));
    struct tr_scratch *s = NULL;
    struct tr_adamw opt;
    memset(&opt, 0, sizeof(opt));
    int st = TR_ENOMEM;
    if (!idx || !grad || !best || !work || tr_scratch_new(&h->cfg, &s) != TR_OK ||
        tr_adamw_init(&opt, h->n_params, o->weight_decay) != TR_OK)
        goto done;
    n = 0;
    for (size_t i = 0; i < data->n; i++)
        if (data->label[i] >= 0)
            idx[n++] = i;
    size_t per_epoch = (n + o->batch_size - 1) / o->batch_size;
    size_t total = per_epoch * o->epochs;
    size_t warmup = (size_t)(o->warmup_ratio * (double)total + 0.5);
    uint64_t rs = o->seed ^ 0x5DEECE66Dull;
    double best_dev = -HUGE_VAL; /* any metric, a negated loss too, improves on it */
    size_t since_best = 0, step = 0;
    size_t tick = per_epoch / 20 ? per_epoch / 20 : 1;
    memcpy(best, h->params, h->n_params * sizeof(*best));
    for (size_t ep = 0; ep < o->epochs; ep++) {
        double t0 = now_s(), loss_sum = 0;
        for (size_t i = n; i > 1; i--) { /* Fisher-Yates with our RNG */
            size_t j = (size_t)(rng_next(&rs) % i);
            size_t t = idx[i - 1];
            idx[i - 1] = idx[j];
            idx[j] = t;
        }
        for (size_t b = 0; b < per_epoch; b++) {
            size_t lo = b * o->batch_size, hi = lo + o->batch_size < n ? lo + o->batch_size : n;
            memset(grad, 0, h->n_params * sizeof(*grad));
            double scale = 1.0 / (double)(hi - lo);
            for (size_t k = lo; k < hi; k++)
                loss_sum += example_backward(h, data, idx[k], scale, grad, s, work);
            tr_adamw_step(&opt, h, grad, tr_lr_at(step, total, warmup, o->lr));
            step++;
            if (o->progress && (b + 1) % tick == 0 && b + 1 < per_epoch) {
                double el = now_s() - t0;
                struct tr_epoch_info info = {ep + 1,
                                             o->epochs,
                                             step,
                                             total,
                                             loss_sum / (double)hi,
                                             -1,
                                             false,
                                             el,
                                             el > 0 ? (double)hi / el : 0,
                                             false};
                o->progress(&info, o->progress_ud);
            }
        }
        double el = now_s() - t0;
        double loss = loss_sum / (double)n;
        if (ep == 0)
            res->first_loss = loss;
        res->final_loss = loss;
        res->epochs_run = ep + 1;
        double dev = o->dev_metric ? o->dev_metric(h, o->dev_ud) : -1.0;
        bool improved = !o->dev_metric || dev > best_dev;
        if (improved) {
            best_dev = dev;
            res->best_epoch = ep + 1;
            memcpy(best, h->params, h->n_params * sizeof(*best));
            since_best = 0;
        } else {
            since_best++;
        }
        if (o->progress) {
            struct tr_epoch_info info = {ep + 1,   o->epochs, step,
                                         total,    loss,      dev,
                                         improved, el,        el > 0 ? (double)n / el : 0,
                                         true};
            o->progress(&info, o->progress_ud);
        }
        if (o->dev_metric && o->patience && since_best >= o->patience)
            break;
    }
    memcpy(h->params, best, h->n_params * sizeof(*best));
    res->best_dev = best_dev;
    st = TR_OK;
done:
    free(idx);
    free(grad);
    free(best);
    free(work);
    tr_scratch_free(s);
    tr_adamw_clear(&opt);
    return st;
}
