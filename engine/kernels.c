/* kernels.c — the element-wise parts of an encoder layer.
 *
 * DESIGN: each kernel makes one pass over rows of the packed activation matrix,
 * written as plain loops over contiguous floats so the compiler vectorizes them
 * (-O3). Bias, residual and LayerNorm are fused so the (n_tokens, d_model)
 * matrix is read and written once after each sgemm. LayerNorm computes mean and
 * variance in two passes (as PyTorch does) in float: one pass with E[x^2]-E[x]^2
 * loses digits when the mean is large.
 */
#include "engine/eng_impl.h"

#include <math.h>
#include <string.h>

/* Hot loops get AVX-512 / AVX2 clones chosen at load time by the CPU (the
 * binary itself stays baseline x86-64: no -march=native). Without FMA
 * contraction (-std=c11 sets -ffp-contract=off) every clone computes the same
 * IEEE operations in the same order, so results are bit-identical across
 * machines. Fused multiply-adds are written out as fmaf where they pay (the
 * erf and exp polynomials, attention): one rounding on every machine, a vector
 * FMA in the AVX2 / AVX-512 clones, libm's exact fmaf in the baseline one. */
/* Not under ThreadSanitizer: the clones are chosen by ifunc resolvers that the
 * dynamic loader runs before the TSan runtime is initialized, and the
 * instrumented resolver crashes every binary linking the engine at start. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ENG_NO_CLONES 1
#endif
#endif
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_ADDRESS__) &&                  \
    !defined(__SANITIZE_THREAD__) && !defined(ENG_NO_CLONES)
#define ENG_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ENG_HOT
#endif

/* Sums of n floats in 8 interleaved partial sums: the compiler vectorizes this
 * without -ffast-math (a single running sum is a serial chain of adds), and
 * the order is fixed, so results do not depend on the machine or threads. */
static inline float sum8(const float *x, size_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (size_t k = 0; k < 8; k++)
            acc[k] += x[j + k];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; j < n; j++)
        s += x[j];
    return s;
}

static inline float sqdev8(const float *x, size_t n, float mean) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (size_t k = 0; k < 8; k++) {
            float d = x[j + k] - mean;
            acc[k] += d * d;
        }
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; j < n; j++)
        s += (x[j] - mean) * (x[j] - mean);
    return s;
}

ENG_HOT void eng_k_bias_res_ln(float *y, const float *bias, const float *res, const float *g,
                               const float *b, size_t rows, size_t n, float eps) {
    for (size_t r = 0; r < rows; r++) {
        float *restrict row = y + r * n;
        if (res && bias) {
            const float *restrict rr = res + r * n;
            for (size_t j = 0; j < n; j++)
                row[j] = row[j] + bias[j] + rr[j];
        } else if (bias) {
            for (size_t j = 0; j < n; j++)
                row[j] = row[j] + bias[j];
        }
        float mean = sum8(row, n) / (float)n;
        float var = sqdev8(row, n, mean) / (float)n;
        float inv = 1.0f / sqrtf(var + eps);
        for (size_t j = 0; j < n; j++)
            row[j] = (row[j] - mean) * inv * g[j] + b[j];
    }
}

/* erf(z) for float, branch-free so the GELU loop vectorizes (glibc's erff is a
 * scalar call, measured at ~15 ns: a third of a BERT-base forward at batch 1).
 * |z| < 1: z P(z^2); 1 <= |z| < 4: polynomial in (|z| - 2.5) / 1.5; beyond, +-1
 * (erf(4) rounds to 1 in float). Coefficients: least-squares fits on Chebyshev
 * nodes in double (tools-free, documented in docs/engine.md). Max abs error vs
 * erf in double: 1.7e-7 (test_kernels checks it against erff). */
static inline float erf_poly(float z) {
    float a = fabsf(z);
    a = a < 4.0f ? a : 4.0f;
    float u = a * a;
    float p = 7.958780497e-05f;
    p = fmaf(p, u, -8.041438518e-04f);
    p = fmaf(p, u, 5.191826903e-03f);
    p = fmaf(p, u, -2.685562939e-02f);
    p = fmaf(p, u, 1.128362844e-01f);
    p = fmaf(p, u, -3.761262975e-01f);
    p = fmaf(p, u, 1.128379166e+00f);
    p = p * a;
    float t = (a - 2.5f) * (1.0f / 1.5f);
    float q = -1.141808743e-03f;
    q = fmaf(q, t, 1.847527793e-03f);
    q = fmaf(q, t, 3.460297836e-03f);
    q = fmaf(q, t, -1.078693317e-02f);
    q = fmaf(q, t, 7.446610257e-03f);
    q = fmaf(q, t, 9.800491756e-03f);
    q = fmaf(q, t, -3.214597135e-02f);
    q = fmaf(q, t, 4.632636295e-02f);
    q = fmaf(q, t, -4.360627809e-02f);
    q = fmaf(q, t, 2.819512164e-02f);
    q = fmaf(q, t, -1.225557945e-02f);
    q = fmaf(q, t, 3.267002675e-03f);
    q = fmaf(q, t, 9.995930751e-01f);
    float r = a < 1.0f ? p : q;
    r = a < 3.9f ? r : 1.0f; /* erff(3.9) already rounds to 1 */
    r = r < 1.0f ? r : 1.0f;
    return z < 0.0f ? -r : r;
}

float eng_erf(float z) { return erf_poly(z); }

/* exp(x) for the softmax (x <= 0 after subtracting the row max), branch-free:
 * x = n ln2 + r, |r| <= ln2/2, exp(r) by its degree-7 Taylor polynomial
 * (relative error < 1e-8 before rounding), 2^n built in the exponent bits. */
static inline float exp_poly(float x) {
    x = x > -87.0f ? x : -87.0f; /* 2^n stays a normal float */
    x = x < 88.0f ? x : 88.0f;
    const float shifter = 12582912.0f; /* 1.5 * 2^23: adding it rounds to integer */
    float t = x * 1.44269504089f + shifter;
    float n = t - shifter;
    float r = fmaf(n, -0.693145751953125f, x); /* ln2 split: hi exact in float ... */
    r = fmaf(n, -1.42860682e-06f, r);          /* ... lo */
    float p = 1.0f / 5040.0f;
    p = fmaf(p, r, 1.0f / 720.0f);
    p = fmaf(p, r, 1.0f / 120.0f);
    p = fmaf(p, r, 1.0f / 24.0f);
    p = fmaf(p, r, 1.0f / 6.0f);
    p = fmaf(p, r, 0.5f);
    p = fmaf(p, r, 1.0f);
    p = fmaf(p, r, 1.0f);
    union {
        float f;
        int32_t i;
    } tb = {.f = t}, sc;
    sc.i = (tb.i - 0x4B400000 + 127) << 23;
    return p * sc.f;
}

float eng_exp(float x) { return exp_poly(x); }

ENG_HOT void eng_k_qkv_bias(float *qkv, const float *bq, const float *bk, const float *bv,
                            size_t rows, size_t d) {
    for (size_t r = 0; r < rows; r++) {
        float *restrict q = qkv + r * 3 * d;
        for (size_t j = 0; j < d; j++)
            q[j] += bq[j];
        for (size_t j = 0; j < d; j++)
            q[d + j] += bk[j];
        for (size_t j = 0; j < d; j++)
            q[2 * d + j] += bv[j];
    }
}

ENG_HOT void eng_k_bias_act(float *y, const float *bias, size_t rows, size_t n, enum eng_act act) {
    for (size_t r = 0; r < rows; r++) {
        float *restrict row = y + r * n;
        switch (act) {
        case ENG_ACT_GELU:
            for (size_t j = 0; j < n; j++) {
                float x = row[j] + bias[j];
                row[j] = 0.5f * x * (1.0f + erf_poly(x * 0.70710678118654752f));
            }
            break;
        case ENG_ACT_GELU_TANH:
            for (size_t j = 0; j < n; j++) {
                float x = row[j] + bias[j];
                row[j] =
                    0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
            }
            break;
        case ENG_ACT_RELU:
            for (size_t j = 0; j < n; j++) {
                float x = row[j] + bias[j];
                row[j] = x > 0.0f ? x : 0.0f;
            }
            break;
        }
    }
}

void eng_k_bias_tanh(float *y, const float *bias, size_t rows, size_t n, bool tanh_too) {
    for (size_t r = 0; r < rows; r++) {
        float *row = y + r * n;
        for (size_t j = 0; j < n; j++)
            row[j] = tanh_too ? tanhf(row[j] + bias[j]) : row[j] + bias[j];
    }
}

/* Softmax of each row in 16 lanes (max, exp + sum, scale), written so the clones vectorize
 * every pass (the 8-lane form left the max scalar: a third of the attention's time). Lane k
 * sums the elements j = k (mod 16) in order; the lanes combine as a fixed tree. */
ENG_HOT void eng_k_softmax_rows(float *x, size_t rows, size_t n, size_t ld) {
    for (size_t r = 0; r < rows && n; r++) {
        float *restrict row = x + r * ld;
        float mx[16], s[16];
        for (size_t k = 0; k < 16; k++)
            mx[k] = row[0], s[k] = 0.0f;
        size_t j = 0;
        for (; j + 16 <= n; j += 16)
            for (size_t k = 0; k < 16; k++)
                mx[k] = row[j + k] > mx[k] ? row[j + k] : mx[k];
        for (size_t k = 0; j + k < n; k++)
            mx[k] = row[j + k] > mx[k] ? row[j + k] : mx[k];
        float m = mx[0];
        for (size_t k = 1; k < 16; k++)
            m = mx[k] > m ? mx[k] : m;
        for (j = 0; j + 16 <= n; j += 16)
            for (size_t k = 0; k < 16; k++) {
                float e = exp_poly(row[j + k] - m);
                row[j + k] = e;
                s[k] += e;
            }
        for (size_t k = 0; j + k < n; k++) {
            float e = exp_poly(row[j + k] - m);
            row[j + k] = e;
            s[k] += e;
        }
        for (size_t w = 8; w >= 1; w /= 2)
            for (size_t k = 0; k < w; k++)
                s[k] += s[k + w];
        float inv = 1.0f / s[0];
        for (j = 0; j < n; j++)
            row[j] *= inv;
    }
}

/* ---- attention of one head --------------------------------------------------------------
 * Both paths compute every element with the same IEEE operations in the same order, so the
 * result does not depend on the machine: score[i][j] = (FMA chain over d = 0 .. dh-1 of
 * q[i][d]·k[j][d], from 0) × scale; softmax (eng_k_softmax_rows); out[i][c] = FMA chain over
 * j = 0 .. L-1 of p[i][j]·v[j][c], from 0. K is transposed into scratch (dh, lp) so that keys
 * are the vector dimension. */

/* Key columns rounded up to the AVX-512 kernel's block of 32. */
static size_t attn_lp(size_t L) { return (L + 31) / 32 * 32; }

size_t eng_k_attention_scratch(size_t L, size_t dh) {
    size_t lp = attn_lp(L);
    return dh * lp + 8 * lp + 16;
}

/* kt (dh, lp) = kᵀ, zero in columns [L, lp). */
static void attn_k_transpose(const float *k, size_t ld, size_t L, size_t dh, size_t lp,
                             float *restrict kt) {
    for (size_t j = 0; j < L; j++) {
        const float *kr = k + j * ld;
        for (size_t d = 0; d < dh; d++)
            kt[d * lp + j] = kr[d];
    }
    for (size_t d = 0; d < dh; d++)
        for (size_t j = L; j < lp; j++)
            kt[d * lp + j] = 0.0f;
}

/* Any machine: one query row at a time, loops over contiguous floats with fmaf (vectorized in
 * the AVX2 / AVX-512 clones, libm's exact fmaf in the baseline one). */
ENG_HOT static void attn_portable(const float *q, const float *k, const float *v, size_t ld,
                                  size_t L, size_t dh, float scale, float *out, size_t ldo,
                                  float *scratch) {
    size_t lp = attn_lp(L);
    float *restrict kt = scratch, *restrict s = scratch + dh * lp;
    attn_k_transpose(k, ld, L, dh, lp, kt);
    for (size_t i = 0; i < L; i++) {
        const float *qi = q + i * ld;
        for (size_t j = 0; j < L; j++)
            s[j] = 0.0f;
        for (size_t d = 0; d < dh; d++) {
            const float qd = qi[d], *restrict kr = kt + d * lp;
            for (size_t j = 0; j < L; j++)
                s[j] = fmaf(qd, kr[j], s[j]);
        }
        for (size_t j = 0; j < L; j++)
            s[j] *= scale;
        eng_k_softmax_rows(s, 1, L, lp);
        float *restrict o = out + i * ldo;
        for (size_t c = 0; c < dh; c++)
            o[c] = 0.0f;
        for (size_t j = 0; j < L; j++) {
            const float pj = s[j], *restrict vr = v + j * ld;
            for (size_t c = 0; c < dh; c++)
                o[c] = fmaf(pj, vr[c], o[c]);
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* AVX-512: blocks of 8 query rows × 32 columns in 16 zmm accumulators, for the scores (32
 * keys) and for the output (32 of d_head, masked at its end). The old 4 × 16 blocking without
 * FMA (-ffp-contract=off) ran at ~50 GFLOP/s, a third of the machine; the softmax of the 8
 * rows of scores runs while they sit in L1. Rows past L repeat the last one (computed, not
 * stored). */
#define ATT_ACC(r) __m512 a##r##0 = _mm512_setzero_ps(), a##r##1 = _mm512_setzero_ps()
#define ATT_ZERO_ALL                                                                               \
    ATT_ACC(0);                                                                                    \
    ATT_ACC(1);                                                                                    \
    ATT_ACC(2);                                                                                    \
    ATT_ACC(3);                                                                                    \
    ATT_ACC(4);                                                                                    \
    ATT_ACC(5);                                                                                    \
    ATT_ACC(6);                                                                                    \
    ATT_ACC(7)
#define ATT_FMA(r, x)                                                                              \
    do {                                                                                           \
        const __m512 xr = _mm512_set1_ps(x);                                                       \
        a##r##0 = _mm512_fmadd_ps(xr, b0, a##r##0);                                                \
        a##r##1 = _mm512_fmadd_ps(xr, b1, a##r##1);                                                \
    } while (0)
/* Rows 0..7 of the tile: row r's broadcast factor is rows[r][i]. */
#define ATT_FMA_ROWS(rows, i)                                                                      \
    do {                                                                                           \
        ATT_FMA(0, rows[0][i]);                                                                    \
        ATT_FMA(1, rows[1][i]);                                                                    \
        ATT_FMA(2, rows[2][i]);                                                                    \
        ATT_FMA(3, rows[3][i]);                                                                    \
        ATT_FMA(4, rows[4][i]);                                                                    \
        ATT_FMA(5, rows[5][i]);                                                                    \
        ATT_FMA(6, rows[6][i]);                                                                    \
        ATT_FMA(7, rows[7][i]);                                                                    \
    } while (0)

/* kt (dh, lp) = kᵀ (zero past L) with gathers: 16 keys of one dimension per instruction. */
__attribute__((target("avx512f"))) static void attn_k_transpose_avx512(const float *k, size_t ld,
                                                                       size_t L, size_t dh,
                                                                       size_t lp, float *kt) {
    const __m512i step = _mm512_mullo_epi32(_mm512_set1_epi32((int)ld),
                                            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                                              11, 12, 13, 14, 15));
    for (size_t j = 0; j < lp; j += 16) {
        __mmask16 m = j + 16 <= L ? 0xffff : j < L ? (__mmask16)((1u << (L - j)) - 1) : 0;
        for (size_t d = 0; d < dh; d++) {
            __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, step,
                                                k + (j < L ? j : 0) * ld + d, 4);
            _mm512_storeu_ps(kt + d * lp + j, v);
        }
    }
}

/* exp_poly on 16 lanes: the same IEEE operations in the same order (max / min keep the
 * scalar ternaries' result for NaN too), so the same bits. */
__attribute__((target("avx512f"))) static inline __m512 exp_poly16(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
    x = _mm512_min_ps(x, _mm512_set1_ps(88.0f));
    const __m512 shifter = _mm512_set1_ps(12582912.0f);
    __m512 t = _mm512_add_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504089f)), shifter);
    __m512 n = _mm512_sub_ps(t, shifter);
    __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-0.693145751953125f), x);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(-1.42860682e-06f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    __m512i e = _mm512_sub_epi32(_mm512_castps_si512(t), _mm512_set1_epi32(0x4B400000 - 127));
    return _mm512_mul_ps(p, _mm512_castsi512_ps(_mm512_slli_epi32(e, 23)));
}

/* eng_k_softmax_rows of one row of n scores whose maximum is mx (bit for bit: the 16 lanes
 * are its 16 partial sums, the tail masked in with zeros, the same tree). */
__attribute__((target("avx512f"))) static void softmax_row_avx512(float *row, size_t n,
                                                                  float mx) {
    const __m512 vm = _mm512_set1_ps(mx);
    __m512 acc = _mm512_setzero_ps();
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 m = n - j >= 16 ? 0xffff : (__mmask16)((1u << (n - j)) - 1);
        __m512 e = exp_poly16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + j), vm));
        _mm512_mask_storeu_ps(row + j, m, e);
        acc = _mm512_add_ps(acc, _mm512_maskz_mov_ps(m, e));
    }
    float s[16];
    _mm512_storeu_ps(s, acc);
    for (size_t w = 8; w >= 1; w /= 2)
        for (size_t k = 0; k < w; k++)
            s[k] += s[k + w];
    const __m512 inv = _mm512_set1_ps(1.0f / s[0]);
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 m = n - j >= 16 ? 0xffff : (__mmask16)((1u << (n - j)) - 1);
        _mm512_mask_storeu_ps(row + j, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, row + j), inv));
    }
}

__attribute__((target("avx512f"))) static void attn_avx512(const float *q, const float *k,
                                                           const float *v, size_t ld, size_t L,
                                                           size_t dh, float scale, float *out,
                                                           size_t ldo, float *scratch) {
    const size_t lp = attn_lp(L);
    float *kt = scratch, *sc = scratch + dh * lp;
    attn_k_transpose_avx512(k, ld, L, dh, lp, kt);
    const __m512 vscale = _mm512_set1_ps(scale);
    for (size_t i0 = 0; i0 < L; i0 += 8) {
        const size_t rows = L - i0 < 8 ? L - i0 : 8;
        const float *qr[8];
        for (size_t r = 0; r < 8; r++)
            qr[r] = q + (i0 + (r < rows ? r : rows - 1)) * ld;
        /* Each row's running maximum over its scores (columns < L only). */
        __m512 mx[8];
        for (int r = 0; r < 8; r++)
            mx[r] = _mm512_set1_ps(-INFINITY);
        for (size_t jb = 0; jb < lp; jb += 32) {
            ATT_ZERO_ALL;
            for (size_t d = 0; d < dh; d++) {
                const __m512 b0 = _mm512_loadu_ps(kt + d * lp + jb);
                const __m512 b1 = _mm512_loadu_ps(kt + d * lp + jb + 16);
                ATT_FMA_ROWS(qr, d);
            }
            const __mmask16 v0 = L - jb >= 16 ? 0xffff : (__mmask16)((1u << (L - jb)) - 1);
            const __mmask16 v1 = L - jb >= 32   ? 0xffff
                                 : L - jb > 16 ? (__mmask16)((1u << (L - jb - 16)) - 1)
                                               : 0;
#define ATT_SC(r)                                                                                  \
    do {                                                                                           \
        const __m512 s0 = _mm512_mul_ps(a##r##0, vscale), s1 = _mm512_mul_ps(a##r##1, vscale);    \
        _mm512_storeu_ps(sc + (r) * lp + jb, s0);                                                  \
        _mm512_storeu_ps(sc + (r) * lp + jb + 16, s1);                                             \
        mx[r] = _mm512_mask_max_ps(mx[r], v0, s0, mx[r]);                                          \
        mx[r] = _mm512_mask_max_ps(mx[r], v1, s1, mx[r]);                                          \
    } while (0)
            ATT_SC(0);
            ATT_SC(1);
            ATT_SC(2);
            ATT_SC(3);
            ATT_SC(4);
            ATT_SC(5);
            ATT_SC(6);
            ATT_SC(7);
#undef ATT_SC
        }
        for (size_t r = 0; r < rows; r++)
            softmax_row_avx512(sc + r * lp, L, _mm512_reduce_max_ps(mx[r]));
        const float *pr[8];
        for (size_t r = 0; r < 8; r++)
            pr[r] = sc + (r < rows ? r : rows - 1) * lp;
        for (size_t db = 0; db < dh; db += 32) {
            size_t w = dh - db;
            __mmask16 m0 = w >= 16 ? 0xffff : (__mmask16)((1u << w) - 1);
            __mmask16 m1 = w >= 32 ? 0xffff : w > 16 ? (__mmask16)((1u << (w - 16)) - 1) : 0;
            ATT_ZERO_ALL;
            for (size_t j = 0; j < L; j++) {
                const float *vr = v + j * ld + db;
                const __m512 b0 = _mm512_maskz_loadu_ps(m0, vr);
                const __m512 b1 = _mm512_maskz_loadu_ps(m1, vr + 16);
                ATT_FMA_ROWS(pr, j);
            }
#define ATT_OUT(r)                                                                                 \
    do {                                                                                           \
        if ((r) < rows) {                                                                          \
            float *o = out + (i0 + (r)) * ldo + db;                                                \
            _mm512_mask_storeu_ps(o, m0, a##r##0);                                                 \
            _mm512_mask_storeu_ps(o + 16, m1, a##r##1);                                            \
        }                                                                                          \
    } while (0)
            ATT_OUT(0);
            ATT_OUT(1);
            ATT_OUT(2);
            ATT_OUT(3);
            ATT_OUT(4);
            ATT_OUT(5);
            ATT_OUT(6);
            ATT_OUT(7);
#undef ATT_OUT
        }
    }
}
#undef ATT_ACC
#undef ATT_ZERO_ALL
#undef ATT_FMA
#undef ATT_FMA_ROWS
#endif

void eng_k_attention(const float *q, const float *k, const float *v, size_t ld, size_t L, size_t dh,
                     float scale, float *out, size_t ldo, float *scratch) {
    if (L == 0)
        return;
#if defined(__x86_64__) && defined(__GNUC__)
    if (eng_sgemm_isa() == ENG_ISA_AVX512) {
        attn_avx512(q, k, v, ld, L, dh, scale, out, ldo, scratch);
        return;
    }
#endif
    attn_portable(q, k, v, ld, L, dh, scale, out, ldo, scratch);
}

float eng_bf16_to_f32(uint16_t h) {
    union {
        uint32_t u;
        float f;
    } v = {.u = (uint32_t)h << 16};
    return v.f;
}

/* Exact IEEE half -> single, subnormals, infinities and NaN included. */
float eng_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalize */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400u));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    union {
        uint32_t u;
        float f;
    } v = {.u = bits};
    return v.f;
}
