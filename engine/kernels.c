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

void eng_k_bias_res_ln(float *y, const float *bias, const float *res, const float *g,
                       const float *b, size_t rows, size_t n, float eps) {
    for (size_t r = 0; r < rows; r++) {
        float *row = y + r * n;
        const float *rr = res ? res + r * n : NULL;
        float sum = 0.0f;
        if (rr && bias) {
            for (size_t j = 0; j < n; j++) {
                row[j] = row[j] + bias[j] + rr[j];
                sum += row[j];
            }
        } else if (!bias) {
            for (size_t j = 0; j < n; j++)
                sum += row[j];
        } else {
            for (size_t j = 0; j < n; j++) {
                row[j] = row[j] + bias[j];
                sum += row[j];
            }
        }
        float mean = sum / (float)n, var = 0.0f;
        for (size_t j = 0; j < n; j++) {
            float d = row[j] - mean;
            var += d * d;
        }
        float inv = 1.0f / sqrtf(var / (float)n + eps);
        for (size_t j = 0; j < n; j++)
            row[j] = (row[j] - mean) * inv * g[j] + b[j];
    }
}

void eng_k_bias_act(float *y, const float *bias, size_t rows, size_t n, enum eng_act act) {
    for (size_t r = 0; r < rows; r++) {
        float *row = y + r * n;
        switch (act) {
        case ENG_ACT_GELU:
            for (size_t j = 0; j < n; j++) {
                float x = row[j] + bias[j];
                row[j] = 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
            }
            break;
        case ENG_ACT_GELU_TANH:
            for (size_t j = 0; j < n; j++) {
                float x = row[j] + bias[j];
                row[j] = 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
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

void eng_k_softmax_rows(float *x, size_t rows, size_t n, size_t ld) {
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * ld;
        float mx = row[0];
        for (size_t j = 1; j < n; j++)
            mx = row[j] > mx ? row[j] : mx;
        float sum = 0.0f;
        for (size_t j = 0; j < n; j++) {
            row[j] = expf(row[j] - mx);
            sum += row[j];
        }
        float inv = 1.0f / sum;
        for (size_t j = 0; j < n; j++)
            row[j] *= inv;
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
