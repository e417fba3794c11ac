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
 * machines. */
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
    p = p * u - 8.041438518e-04f;
    p = p * u + 5.191826903e-03f;
    p = p * u - 2.685562939e-02f;
    p = p * u + 1.128362844e-01f;
    p = p * u - 3.761262975e-01f;
    p = p * u + 1.128379166e+00f;
    p = p * a;
    float t = (a - 2.5f) * (1.0f / 1.5f);
    float q = -1.141808743e-03f;
    q = q * t + 1.847527793e-03f;
    q = q * t + 3.460297836e-03f;
    q = q * t - 1.078693317e-02f;
    q = q * t + 7.446610257e-03f;
    q = q * t + 9.800491756e-03f;
    q = q * t - 3.214597135e-02f;
    q = q * t + 4.632636295e-02f;
    q = q * t - 4.360627809e-02f;
    q = q * t + 2.819512164e-02f;
    q = q * t - 1.225557945e-02f;
    q = q * t + 3.267002675e-03f;
    q = q * t + 9.995930751e-01f;
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
    float r = x - n * 0.693145751953125f; /* ln2 split: hi exact in float ... */
    r = r - n * 1.42860682e-06f;          /* ... lo */
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
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

ENG_HOT void eng_k_softmax_rows(float *x, size_t rows, size_t n, size_t ld) {
    for (size_t r = 0; r < rows; r++) {
        float *restrict row = x + r * ld;
        float mx[8];
        for (size_t k = 0; k < 8; k++)
            mx[k] = row[0];
        size_t j = 0;
        for (; j + 8 <= n; j += 8)
            for (size_t k = 0; k < 8; k++)
                mx[k] = row[j + k] > mx[k] ? row[j + k] : mx[k];
        float m = mx[0];
        for (size_t k = 1; k < 8; k++)
            m = mx[k] > m ? mx[k] : m;
        for (; j < n; j++)
            m = row[j] > m ? row[j] : m;
        for (j = 0; j < n; j++)
            row[j] = exp_poly(row[j] - m);
        float inv = 1.0f / sum8(row, n);
        for (j = 0; j < n; j++)
            row[j] *= inv;
    }
}

size_t eng_k_attention_scratch(size_t L, size_t dh) {
    size_t lp = (L + 15) / 16 * 16, dp = (dh + 15) / 16 * 16;
    return dh * lp + L * dp + 4 * lp + 4 * dh;
}

/* 16 floats: one AVX-512 register (two AVX2, four SSE ones in the other
 * clones). GCC vector extension: plain C loops over acc[4][16] were not
 * vectorized (measured 6.6 GFLOP/s). */
__extension__ typedef float v16 __attribute__((vector_size(64)));

/* unaligned load of 16 floats (a macro: a function returning v16 would have
 * a different ABI in each clone) */
#define LD16(dst, p) memcpy(&(dst), (p), sizeof(dst))

/* One head of one sequence without BLAS: blocks of 4 query rows x 16 columns
 * are accumulated in registers, K is transposed and V copied into zero-padded
 * scratch so every inner step has a fixed width of 16 and never reads outside
 * its buffers. The softmax works on 4 rows of scores kept in L1. Any thread can
 * run it: a context's helpers process (sequence, head) pairs in parallel, which
 * OpenBLAS's own threading of these small products (2 MFLOP each) does badly. */
ENG_HOT void eng_k_attention(const float *q, const float *k, const float *v, size_t ld, size_t L,
                             size_t dh, float scale, float *out, size_t ldo, float *scratch) {
    size_t lp = (L + 15) / 16 * 16, dp = (dh + 15) / 16 * 16;
    float *restrict kt = scratch;      /* (dh, lp) K transposed, zero columns >= L */
    float *restrict vp = kt + dh * lp; /* (L, dp) V, zero columns >= dh */
    float *restrict sc = vp + L * dp;  /* (4, lp) scores of 4 query rows */
    float *restrict qb = sc + 4 * lp;  /* (4, dh) those 4 query rows */
    for (size_t d = 0; d < dh; d++) {
        for (size_t j = 0; j < L; j++)
            kt[d * lp + j] = k[j * ld + d];
        for (size_t j = L; j < lp; j++)
            kt[d * lp + j] = 0.0f;
    }
    for (size_t j = 0; j < L; j++) {
        for (size_t d = 0; d < dh; d++)
            vp[j * dp + d] = v[j * ld + d];
        for (size_t d = dh; d < dp; d++)
            vp[j * dp + d] = 0.0f;
    }
    v16 vscale = {0};
    vscale += scale;
    for (size_t i0 = 0; i0 < L; i0 += 4) {
        size_t rows = L - i0 < 4 ? L - i0 : 4;
        for (size_t r = 0; r < 4; r++) /* rows past the end repeat the last one */
            memcpy(qb + r * dh, q + (i0 + (r < rows ? r : rows - 1)) * ld, dh * sizeof(float));
        for (size_t jb = 0; jb < lp; jb += 16) {
            v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
            for (size_t d = 0; d < dh; d++) {
                v16 kr;
                LD16(kr, kt + d * lp + jb);
                a0 += qb[d] * kr;
                a1 += qb[dh + d] * kr;
                a2 += qb[2 * dh + d] * kr;
                a3 += qb[3 * dh + d] * kr;
            }
            a0 *= vscale;
            a1 *= vscale;
            a2 *= vscale;
            a3 *= vscale;
            memcpy(sc + jb, &a0, sizeof a0);
            memcpy(sc + lp + jb, &a1, sizeof a1);
            memcpy(sc + 2 * lp + jb, &a2, sizeof a2);
            memcpy(sc + 3 * lp + jb, &a3, sizeof a3);
        }
        eng_k_softmax_rows(sc, rows, L, lp);
        for (size_t db = 0; db < dp; db += 16) {
            v16 a[4] = {{0}, {0}, {0}, {0}};
            for (size_t j = 0; j < L; j++) {
                v16 vr;
                LD16(vr, vp + j * dp + db);
                a[0] += sc[j] * vr;
                a[1] += sc[lp + j] * vr;
                a[2] += sc[2 * lp + j] * vr;
                a[3] += sc[3 * lp + j] * vr;
            }
            size_t w = dh - db < 16 ? dh - db : 16;
            for (size_t r = 0; r < rows; r++)
                memcpy(out + (i0 + r) * ldo + db, &a[r], w * sizeof(float));
        }
    }
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
