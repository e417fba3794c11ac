/* test_train_core.c — socle-train's head math, optimizer, loop and writer.
 *
 * Gradient checks: for every head type (linear, MLP with tanh/gelu/relu, each
 * with and without a scalar layer mix) every parameter's analytic gradient is
 * compared with a central finite difference of the double-precision loss.
 * Hand-computed cases (arithmetic in comments) pin the forward, the loss, the
 * learning-rate schedule and one AdamW step.
 */
#include "tools/train/trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/check.h"
#define NEAR(a, b, tol)                                                                            \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (fabs(a_ - b_) > (tol)) {                                                               \
            fprintf(stderr, "%s:%d: %s = %.10g, expected %.10g\n", __FILE__, __LINE__, #a, a_,     \
                    b_);                                                                           \
            g_fail++;                                                                              \
        }                                                                                          \
    } while (0)

static uint64_t g_rs = 12345;
static double urand(void) { /* [-1, 1) */
    g_rs = g_rs * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(g_rs >> 11) / 4503599627370496.0 - 1.0;
}

static double loss_of(struct tr_head *h, const float *f, int32_t y, struct tr_scratch *s,
                      double *dummy) {
    return tr_head_backward(h, f, y, 0.0, dummy, s);
}

static void gradcheck(bool mlp, enum tr_act act, size_t n_mix, const char *what) {
    struct tr_head_cfg cfg = {5, n_mix, mlp, 4, act, 3};
    struct tr_head *h = NULL;
    CHECK(tr_head_new(&cfg, 7, &h) == TR_OK);
    if (!h)
        return;
    /* Larger random weights than the 0.02 init so every path carries signal. */
    for (size_t i = 0; i < h->n_params; i++)
        h->params[i] = (float)(0.7 * urand());
    if (h->gamma)
        *h->gamma = 1.3f;
    float feats[5 * 4];
    for (size_t i = 0; i < 5 * n_mix; i++)
        feats[i] = (float)urand();
    struct tr_scratch *s = NULL;
    CHECK(tr_scratch_new(&cfg, &s) == TR_OK);
    double *g = calloc(h->n_params, sizeof(double)), *dummy = calloc(h->n_params, sizeof(double));
    /* scale 0.5 checks that the scale multiplies every gradient */
    tr_head_backward(h, feats, 2, 0.5, g, s);
    double worst = 0;
    for (size_t i = 0; i < h->n_params; i++) {
        float p0 = h->params[i];
        const double eps = 1e-3;
        float pp = (float)(p0 + eps), pm = (float)(p0 - eps);
        h->params[i] = pp;
        double lp = loss_of(h, feats, 2, s, dummy);
        h->params[i] = pm;
        double lm = loss_of(h, feats, 2, s, dummy);
        h->params[i] = p0;
        /* the analytic gradient was taken with scale 0.5 */
        double fd = 0.5 * (lp - lm) / ((double)pp - (double)pm);
        /* Central differences: truncation error O(eps^2 * L''') ~ 1e-6 here. */
        double err = fabs(fd - g[i]) / (1e-4 + fabs(g[i]));
        if (err > worst)
            worst = err;
        if (fabs(fd - g[i]) > 1e-5 + 1e-3 * fabs(g[i])) {
            fprintf(stderr, "gradcheck %s: param %zu analytic %.9g fd %.9g\n", what, i, g[i], fd);
            g_fail++;
        }
    }
    printf("gradcheck %-22s %3zu params, worst relative error %.2e\n", what, h->n_params, worst);
    free(g);
    free(dummy);
    tr_scratch_free(s);
    tr_head_free(h);
}

static void test_forward_hand(void) {
    /* linear, d 2, 2 classes: W = [[1,2],[3,4]], b = [0.5,-0.5], x = [1,1]
     * logits = [1+2+0.5, 3+4-0.5] = [3.5, 6.5]
     * loss(y=0) = log(e^3.5 + e^6.5) - 3.5 = 6.5 + log(1 + e^-3) - 3.5 = 3 + 0.0485873516 */
    struct tr_head_cfg cfg = {2, 1, false, 0, TR_ACT_TANH, 2};
    struct tr_head *h = NULL;
    CHECK(tr_head_new(&cfg, 1, &h) == TR_OK);
    const float w[4] = {1, 2, 3, 4}, b[2] = {0.5f, -0.5f}, x[2] = {1, 1};
    memcpy(h->w2, w, sizeof(w));
    memcpy(h->b2, b, sizeof(b));
    struct tr_scratch *s = NULL;
    CHECK(tr_scratch_new(&cfg, &s) == TR_OK);
    float lg[2];
    tr_head_forward(h, x, lg, s);
    NEAR(lg[0], 3.5, 1e-6);
    NEAR(lg[1], 6.5, 1e-6);
    double g[6] = {0};
    NEAR(tr_head_backward(h, x, 0, 1.0, g, s), 3.0485873516, 1e-9);
    /* dL/db = softmax - onehot = [p0 - 1, p1], p0 = 1/(1+e^3) = 0.0474258732 */
    NEAR(g[4], 0.0474258732 - 1.0, 1e-9);
    NEAR(g[5], 1.0 - 0.0474258732, 1e-9);
    tr_scratch_free(s);
    tr_head_free(h);

    /* mix of 2 layers, weights 0 -> softmax [1/2, 1/2], gamma 1:
     * x = (f0 + f1)/2 = ([2,0] + [0,4])/2 = [1,2]; W = I, b = 0 -> logits [1, 2] */
    struct tr_head_cfg c2 = {2, 2, false, 0, TR_ACT_TANH, 2};
    CHECK(tr_head_new(&c2, 1, &h) == TR_OK);
    const float eye[4] = {1, 0, 0, 1}, f2[4] = {2, 0, 0, 4};
    memcpy(h->w2, eye, sizeof(eye));
    CHECK(h->mix_w[0] == 0.0f && h->mix_w[1] == 0.0f && *h->gamma == 1.0f);
    CHECK(tr_scratch_new(&c2, &s) == TR_OK);
    tr_head_forward(h, f2, lg, s);
    NEAR(lg[0], 1.0, 1e-6);
    NEAR(lg[1], 2.0, 1e-6);
    tr_scratch_free(s);
    tr_head_free(h);
}

static void test_schedule_adamw(void) {
    /* total 10, warm-up 2, base 1: 0, 1/2, then (10 - s)/8 */
    NEAR(tr_lr_at(0, 10, 2, 1.0), 0.0, 0);
    NEAR(tr_lr_at(1, 10, 2, 1.0), 0.5, 1e-12);
    NEAR(tr_lr_at(2, 10, 2, 1.0), 1.0, 1e-12);
    NEAR(tr_lr_at(6, 10, 2, 1.0), 0.5, 1e-12);
    NEAR(tr_lr_at(10, 10, 2, 1.0), 0.0, 0);

    /* One AdamW step, p = 1, g = 0.5, lr 0.1, wd 0.01 (decayed parameter):
     * p <- 1 - 0.1*0.01*1 = 0.999; m = 0.1*0.5 = 0.05, v = 0.001*0.25 = 0.00025;
     * m^ = 0.05/0.1 = 0.5, v^ = 0.00025/0.001 = 0.25; p <- 0.999 - 0.1*0.5/(0.5 + 1e-8)
     * = 0.999 - 0.09999999800 = 0.89900000200. The bias (no decay), p = 1:
     * 1 - 0.0999999980 = 0.900000002. */
    struct tr_head_cfg cfg = {1, 1, false, 0, TR_ACT_TANH, 1};
    struct tr_head *h = NULL;
    CHECK(tr_head_new(&cfg, 1, &h) == TR_OK);
    h->w2[0] = 1.0f;
    h->b2[0] = 1.0f;
    struct tr_adamw o;
    CHECK(tr_adamw_init(&o, h->n_params, 0.01) == TR_OK);
    double g[2] = {0.5, 0.5};
    tr_adamw_step(&o, h, g, 0.1);
    NEAR(h->w2[0], 0.899000002, 1e-7);
    NEAR(h->b2[0], 0.900000002, 1e-7);
    tr_adamw_clear(&o);
    tr_head_free(h);
}

static void make_blobs(float *f, int32_t *y, size_t n, size_t d) {
    uint64_t save = g_rs;
    g_rs = 99;
    for (size_t i = 0; i < n; i++) {
        y[i] = (int32_t)(i % 3);
        for (size_t j = 0; j < d; j++)
            f[i * d + j] = (float)(0.6 * urand() + (j == (size_t)y[i] ? 1.0 : 0.0));
    }
    g_rs = save;
}

static double dev_acc(const struct tr_head *h, void *ud) {
    const struct tr_data *d = ud;
    struct tr_scratch *s = NULL;
    if (tr_scratch_new(&h->cfg, &s) != TR_OK)
        return 0;
    size_t ok = 0;
    float lg[3];
    for (size_t i = 0; i < d->n; i++) {
        tr_head_forward(h, d->feats + i * h->cfg.d_model, lg, s);
        ok += (int32_t)tr_argmax(lg, 3) == d->label[i];
    }
    tr_scratch_free(s);
    return (double)ok / (double)d->n;
}

static void test_fit(bool mlp) {
    enum { N = 300, D = 6 };
    static float f[N * D];
    static int32_t y[N];
    make_blobs(f, y, N, D);
    struct tr_data tr = {.n = 240, .feats = f, .label = y},
                   dev = {.n = 60, .feats = f + 240 * D, .label = y + 240};
    struct tr_head_cfg cfg = {D, 1, mlp, 8, TR_ACT_GELU, 3};
    struct tr_fit_opts o = {0};
    o.epochs = 8;
    o.batch_size = 16;
    o.lr = 0.05;
    o.weight_decay = 0.01;
    o.warmup_ratio = 0.1;
    o.patience = 3;
    o.seed = 42;
    o.dev_metric = dev_acc;
    o.dev_ud = &dev;
    struct tr_head *h1 = NULL, *h2 = NULL, *h3 = NULL;
    struct tr_fit_result r1, r2, r3;
    CHECK(tr_head_new(&cfg, o.seed, &h1) == TR_OK && tr_fit(h1, &tr, &o, &r1) == TR_OK);
    CHECK(tr_head_new(&cfg, o.seed, &h2) == TR_OK && tr_fit(h2, &tr, &o, &r2) == TR_OK);
    /* loss decreases, the blobs are learnt, and the run is bit-reproducible */
    CHECK(r1.final_loss < r1.first_loss);
    CHECK(r1.best_dev > 0.9);
    CHECK(memcmp(h1->params, h2->params, h1->n_params * sizeof(float)) == 0);
    CHECK(r1.final_loss == r2.final_loss);
    /* another seed: another (initialisation and order) run */
    o.seed = 43;
    CHECK(tr_head_new(&cfg, o.seed, &h3) == TR_OK && tr_fit(h3, &tr, &o, &r3) == TR_OK);
    CHECK(memcmp(h1->params, h3->params, h1->n_params * sizeof(float)) != 0);
    printf("fit %s: loss %.4f -> %.4f, dev acc %.3f (epoch %zu of %zu)\n", mlp ? "mlp" : "linear",
           r1.first_loss, r1.final_loss, r1.best_dev, r1.best_epoch, r1.epochs_run);
    tr_head_free(h1);
    tr_head_free(h2);
    tr_head_free(h3);
}

/* Loss of a span (QA) or multi-label example: the backward functions with a
 * zero scale add nothing to grad. */
enum kind { K_SPAN, K_MULTI };
static double loss_k(enum kind k, struct tr_head *h, const float *f, size_t n_tok,
                     struct tr_scratch *s, double *dummy, double *work) {
    static const uint8_t tg[3] = {1, 0, 1};
    if (k == K_SPAN)
        return tr_span_backward(h, f, n_tok, 2, 3, 0.0, dummy, s, work);
    return tr_head_backward_multi(h, f, tg, 0.0, dummy, s);
}

/* Finite differences for the QA span head (start/end softmax over the 5 tokens of
 * a window, answer tokens 2..3) and the multi-label head (3 sigmoids, targets
 * 1,0,1), each head type. */
static void gradcheck_k(enum kind k, bool mlp, enum tr_act act, size_t n_mix, const char *what) {
    enum { D = 4, T = 5 };
    struct tr_head_cfg cfg = {D, n_mix, mlp, 3, act, k == K_SPAN ? 2 : 3};
    struct tr_head *h = NULL;
    CHECK(tr_head_new(&cfg, 7, &h) == TR_OK);
    if (!h)
        return;
    for (size_t i = 0; i < h->n_params; i++)
        h->params[i] = (float)(0.7 * urand());
    if (h->gamma)
        *h->gamma = 1.3f;
    size_t n_tok = k == K_SPAN ? T : 1;
    float feats[T * 4 * D];
    for (size_t i = 0; i < n_tok * n_mix * D; i++)
        feats[i] = (float)urand();
    struct tr_scratch *s = NULL;
    CHECK(tr_scratch_new(&cfg, &s) == TR_OK);
    double *g = calloc(h->n_params, sizeof(double)), *dummy = calloc(h->n_params, sizeof(double));
    double work[2 * T];
    if (k == K_SPAN)
        tr_span_backward(h, feats, n_tok, 2, 3, 0.5, g, s, work);
    else
        tr_head_backward_multi(h, feats, (const uint8_t[]){1, 0, 1}, 0.5, g, s);
    double worst = 0;
    for (size_t i = 0; i < h->n_params; i++) {
        float p0 = h->params[i];
        const double eps = 1e-3;
        float pp = (float)(p0 + eps), pm = (float)(p0 - eps);
        h->params[i] = pp;
        double lp = loss_k(k, h, feats, n_tok, s, dummy, work);
        h->params[i] = pm;
        double lm = loss_k(k, h, feats, n_tok, s, dummy, work);
        h->params[i] = p0;
        double fd = 0.5 * (lp - lm) / ((double)pp - (double)pm);
        double err = fabs(fd - g[i]) / (1e-4 + fabs(g[i]));
        if (err > worst)
            worst = err;
        if (fabs(fd - g[i]) > 1e-5 + 1e-3 * fabs(g[i])) {
            fprintf(stderr, "gradcheck %s: param %zu analytic %.9g fd %.9g\n", what, i, g[i], fd);
            g_fail++;
        }
    }
    for (size_t i = 0; i < h->n_params; i++)
        CHECK(dummy[i] == 0.0); /* scale 0 added nothing */
    printf("gradcheck %-22s %3zu params, worst relative error %.2e\n", what, h->n_params, worst);
    free(g);
    free(dummy);
    tr_scratch_free(s);
    tr_head_free(h);
}

static void test_span_multi_hand(void) {
    /* QA, d 1, linear: start row w = 1, b = 0; end row w = -1, b = 0. Window of 3
     * tokens with features [0, 1, 2]: start logits [0,1,2], end logits [0,-1,-2].
     * start 2, end 0: CE(start) = log(1+e+e^2) - 2 = 0.4076059644,
     * CE(end) = log(1+e^-1+e^-2) - 0 = 0.4076059644 (same sums, shifted);
     * loss = (0.4076059644 + 0.4076059644) / 2. */
    struct tr_head_cfg cfg = {1, 1, false, 0, TR_ACT_TANH, 2};
    struct tr_head *h = NULL;
    CHECK(tr_head_new(&cfg, 1, &h) == TR_OK);
    h->w2[0] = 1.0f;
    h->w2[1] = -1.0f;
    struct tr_scratch *s = NULL;
    CHECK(tr_scratch_new(&cfg, &s) == TR_OK);
    const float f[3] = {0, 1, 2};
    double work[6], g[4] = {0};
    NEAR(tr_span_backward(h, f, 3, 2, 0, 1.0, g, s, work), 0.4076059644, 1e-9);
    /* d/db_start = (sum_t p_t - 1) / 2 = 0; d/dw_start = (E_p[x] - x_start) / 2
     * with p = softmax([0,1,2]) = [0.0900305732, 0.2447284711, 0.6652409558]:
     * E[x] = 0.2447284711 + 2 * 0.6652409558 = 1.5752103826 -> (1.5752103826 - 2)/2 */
    NEAR(g[0], (1.5752103826 - 2.0) / 2, 1e-9);
    NEAR(g[2], 0.0, 1e-12);
    tr_scratch_free(s);
    tr_head_free(h);

    /* multi-label, d 1: W = [1, -2], b = 0, x = 1 -> logits [1, -2], targets [1, 1]:
     * loss = log(1+e^-1) + log(1+e^2) = 0.3132616875 + 2.1269280110 */
    struct tr_head_cfg c2 = {1, 1, false, 0, TR_ACT_TANH, 2};
    CHECK(tr_head_new(&c2, 1, &h) == TR_OK);
    h->w2[0] = 1.0f;
    h->w2[1] = -2.0f;
    CHECK(tr_scratch_new(&c2, &s) == TR_OK);
    const float x[1] = {1};
    double g2[4] = {0};
    NEAR(tr_head_backward_multi(h, x, (const uint8_t[]){1, 1}, 1.0, g2, s),
         0.3132616875 + 2.1269280110, 1e-9);
    /* d/db = sigmoid(z) - t: sigmoid(1) - 1 = -0.2689414214, sigmoid(-2) - 1 = -0.8807970780 */
    NEAR(g2[2], -0.2689414214, 1e-9);
    NEAR(g2[3], -0.8807970780, 1e-9);
    tr_scratch_free(s);
    tr_head_free(h);
}

/* A toy QA set: windows of 6 tokens (d 4); the answer starts at the token whose
 * feature 0 is high and ends where feature 1 is high; some windows hold no answer
 * and target token 0. Training lowers the loss and is bit-reproducible. */
static void test_fit_span(void) {
    enum { W = 60, T = 6, D = 4 };
    static float f[W * T * D];
    static int32_t st[W], en[W];
    static size_t off[W + 1];
    uint64_t save = g_rs;
    g_rs = 5;
    for (size_t w = 0; w < W; w++) {
        off[w] = w * T;
        st[w] = w % 5 == 0 ? 0 : (int32_t)(1 + w % 3);
        en[w] = w % 5 == 0 ? 0 : st[w] + (int32_t)(w % 2);
        for (size_t t = 0; t < T; t++)
            for (size_t j = 0; j < D; j++) {
                double v = 0.3 * urand();
                if (j == 0 && (int32_t)t == st[w])
                    v += 1.5;
                if (j == 1 && (int32_t)t == en[w])
                    v += 1.5;
                f[(w * T + t) * D + j] = (float)v;
            }
    }
    off[W] = W * T;
    g_rs = save;
    struct tr_data tr = {
        .n = W, .feats = f, .label = st, .loss = TR_LOSS_SPAN, .label_end = en, .row_off = off};
    struct tr_head_cfg cfg = {D, 1, false, 0, TR_ACT_TANH, 2};
    struct tr_fit_opts o = {0};
    o.epochs = 10;
    o.batch_size = 8;
    o.lr = 0.05;
    o.weight_decay = 0.01;
    o.warmup_ratio = 0.1;
    o.seed = 42;
    struct tr_head *h1 = NULL, *h2 = NULL;
    struct tr_fit_result r1, r2;
    CHECK(tr_head_new(&cfg, o.seed, &h1) == TR_OK && tr_fit(h1, &tr, &o, &r1) == TR_OK);
    CHECK(tr_head_new(&cfg, o.seed, &h2) == TR_OK && tr_fit(h2, &tr, &o, &r2) == TR_OK);
    CHECK(r1.final_loss < 0.5 * r1.first_loss);
    CHECK(memcmp(h1->params, h2->params, h1->n_params * sizeof(float)) == 0);
    printf("fit span: loss %.4f -> %.4f\n", r1.first_loss, r1.final_loss);
    /* a start outside its window is refused */
    st[3] = T;
    struct tr_fit_result r3;
    CHECK(tr_fit(h2, &tr, &o, &r3) == TR_EINVAL);
    tr_head_free(h1);
    tr_head_free(h2);
}

static void test_safetensors(void) {
    struct tr_head_cfg cfg = {3, 2, true, 2, TR_ACT_RELU, 2};
    struct tr_head *h = NULL;
    CHECK(tr_head_new(&cfg, 5, &h) == TR_OK);
    h->b2[0] = 1.5f;
    h->b2[1] = -2.0f;
    uint8_t *buf = NULL;
    size_t len = 0;
    CHECK(tr_head_safetensors(h, &buf, &len) == TR_OK);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = (hl << 8) | buf[i];
    /* parameters: mix 2 + gamma 1 + dense 2x3 + 2 + out 2x2 + 2 = 17 floats = 68 bytes */
    CHECK(h->n_params == 17);
    CHECK(hl % 8 == 0 && len == 8 + hl + 68);
    char *hdr = malloc(hl + 1);
    memcpy(hdr, buf + 8, hl);
    hdr[hl] = '\0';
    CHECK(hdr[0] == '{');
    CHECK(strstr(hdr, "\"out.weight\":{\"dtype\":\"F32\",\"shape\":[2,2]") != NULL);
    CHECK(strstr(hdr, "\"dense.weight\":{\"dtype\":\"F32\",\"shape\":[2,3]") != NULL);
    CHECK(strstr(hdr, "\"mix.weight\"") && strstr(hdr, "\"mix.gamma\""));
    /* tensors are laid out in header order: dense.weight (24 B), dense.bias (8),
     * mix.gamma (4), mix.weight (8), out.bias (8) -> out.bias at data offset 44 */
    CHECK(strstr(hdr, "\"out.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[44,52]"));
    float b[2];
    memcpy(b, buf + 8 + hl + 44, 8);
    CHECK(b[0] == 1.5f && b[1] == -2.0f);
    free(hdr);
    free(buf);
    tr_head_free(h);
}

static void test_word_first_tokens(void) {
    /* text "Le Paris" : words [0,2) [3,8).
     * Metaspace tokens (regression: the first real run dropped most words):
     *   <s> (special) | "▁Le" [0,2) | "▁Pa" [2,5) (starts on the space) | "ris" [5,8) | </s>
     * -> word 0 at token 1, word 1 at token 2. */
    const uint32_t s1[] = {0, 0, 2, 5, 8};
    const uint8_t sp1[] = {1, 0, 0, 0, 1};
    const size_t we[] = {2, 8};
    int32_t wt[2];
    tr_word_first_tokens(s1, sp1, 5, we, 2, wt);
    CHECK(wt[0] == 1 && wt[1] == 2);
    /* issue 8: a lone "▁" token [2,3) (only the space) before "Paris" [3,8) has
     * word id 1 in HF word_ids, so run_ner labels word 1 on it:
     * tokens "▁Le" [0,2) "▁" [2,3) "Paris" [3,8) -> word 1 at token 1, not 2 */
    const uint32_t s2[] = {0, 2, 3};
    tr_word_first_tokens(s2, NULL, 3, we, 2, wt);
    CHECK(wt[0] == 0 && wt[1] == 1);
    /* the same with the lone "▁" offset as an empty span at the word's start */
    const uint32_t s3[] = {0, 3, 3};
    tr_word_first_tokens(s3, NULL, 3, we, 2, wt);
    CHECK(wt[0] == 0 && wt[1] == 1);
    /* truncated: only the first word's token is there -> word 1 = -1 */
    tr_word_first_tokens(s2, NULL, 1, we, 2, wt);
    CHECK(wt[0] == 0 && wt[1] == -1);
}

int main(void) {
    test_word_first_tokens();
    test_forward_hand();
    test_schedule_adamw();
    gradcheck(false, TR_ACT_TANH, 1, "linear");
    gradcheck(true, TR_ACT_TANH, 1, "mlp-tanh");
    gradcheck(true, TR_ACT_GELU, 1, "mlp-gelu");
    gradcheck(true, TR_ACT_RELU, 1, "mlp-relu");
    gradcheck(false, TR_ACT_TANH, 3, "linear+mix3");
    gradcheck(true, TR_ACT_GELU, 4, "mlp-gelu+mix4");
    gradcheck_k(K_SPAN, false, TR_ACT_TANH, 1, "qa-linear");
    gradcheck_k(K_SPAN, true, TR_ACT_GELU, 1, "qa-mlp-gelu");
    gradcheck_k(K_SPAN, false, TR_ACT_TANH, 3, "qa-linear+mix3");
    gradcheck_k(K_SPAN, true, TR_ACT_TANH, 2, "qa-mlp-tanh+mix2");
    gradcheck_k(K_MULTI, false, TR_ACT_TANH, 1, "multi-linear");
    gradcheck_k(K_MULTI, true, TR_ACT_RELU, 2, "multi-mlp-relu+mix2");
    test_span_multi_hand();
    test_fit(false);
    test_fit(true);
    test_fit_span();
    test_safetensors();
    if (g_fail) {
        fprintf(stderr, "%d check(s) failed\n", g_fail);
        return 1;
    }
    printf("test_train_core: all checks passed\n");
    return 0;
}
