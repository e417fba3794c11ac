/* test_kernels.c — the engine's own erf/exp against libm over dense grids, the
 * half-precision conversions against the compiler's _Float16 for all 65536
 * bit patterns, and LayerNorm / softmax against double-precision references. */
#include "engine/eng_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* GCC's _Float16 (x86 SSE2) is the reference conversion. */
__extension__ typedef _Float16 half_t;

static int failures;

static void expect(int ok, const char *what, double got, double bound) {
    printf("%s %-44s %.3g (bound %.3g)\n", ok ? "ok  " : "FAIL", what, got, bound);
    failures += !ok;
}

int main(void) {
    /* erf: absolute error against double erf, and against glibc erff. */
    double worst = 0, worst_f = 0;
    for (int i = -200000; i <= 200000; i++) {
        float z = (float)i * 5e-5f;
        double e = fabs((double)eng_erf(z) - erf((double)z));
        double ef = fabs((double)eng_erf(z) - (double)erff(z));
        worst = e > worst ? e : worst;
        worst_f = ef > worst_f ? ef : worst_f;
    }
    expect(worst <= 2.5e-7, "erf abs error vs double erf on [-10, 10]", worst, 2.5e-7);
    expect(worst_f <= 2.5e-7, "erf abs error vs erff on [-10, 10]", worst_f, 2.5e-7);
    expect(eng_erf(0.0f) == 0.0f && eng_erf(-30.0f) == -1.0f && eng_erf(30.0f) == 1.0f,
           "erf(0), erf(+-30)", 0, 0);

    /* exp: relative error on the softmax's range and a bit above. */
    worst = 0;
    for (int i = 0; i <= 400000; i++) {
        float x = -87.0f + (float)i * (97.0f / 400000.0f);
        double ref = exp((double)x);
        double e = fabs((double)eng_exp(x) - ref) / ref;
        worst = e > worst ? e : worst;
    }
    expect(worst <= 3e-7, "exp relative error on [-87, 10]", worst, 3e-7);
    expect(eng_exp(0.0f) == 1.0f, "exp(0) == 1", 0, 0);
    expect(eng_exp(-1000.0f) >= 0.0f && eng_exp(-1000.0f) < 1e-37f, "exp(-1000) ~ 0",
           (double)eng_exp(-1000.0f), 1e-37);

    /* float16 / bfloat16: every bit pattern. */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        half_t hf;
        uint16_t hb = (uint16_t)h;
        memcpy(&hf, &hb, 2);
        float ref = (float)hf, got = eng_f16_to_f32(hb);
        if (isnan(ref) ? !isnan(got) : memcmp(&ref, &got, 4) != 0)
            bad++;
        uint32_t bits = h << 16;
        float bref;
        memcpy(&bref, &bits, 4);
        got = eng_bf16_to_f32(hb);
        if (isnan(bref) ? !isnan(got) : memcmp(&bref, &got, 4) != 0)
            bad++;
    }
    expect(bad == 0, "f16 and bf16 conversions, all 65536 patterns", bad, 0);

    /* LayerNorm(y + bias + res) and softmax against double. */
    enum { R = 3, N = 77 };
    float y[R * N], bias[N], res[R * N], g[N], b[N];
    double ref[R * N];
    for (int j = 0; j < N; j++) {
        bias[j] = 0.01f * (float)(j % 7);
        g[j] = 1.0f + 0.02f * (float)(j % 5);
        b[j] = -0.03f * (float)(j % 3);
    }
    for (int i = 0; i < R * N; i++) {
        y[i] = 100.0f + sinf((float)i);
        res[i] = cosf((float)i * 0.3f);
    }
    for (int r = 0; r < R; r++) {
        double m = 0, v = 0, t[N];
        for (int j = 0; j < N; j++)
            m += t[j] = (double)y[r * N + j] + bias[j] + res[r * N + j];
        m /= N;
        for (int j = 0; j < N; j++)
            v += (t[j] - m) * (t[j] - m);
        v /= N;
        for (int j = 0; j < N; j++)
            ref[r * N + j] = (t[j] - m) / sqrt(v + 1e-12) * g[j] + b[j];
    }
    eng_k_bias_res_ln(y, bias, res, g, b, R, N, 1e-12f);
    worst = 0;
    for (int i = 0; i < R * N; i++)
        worst = fmax(worst, fabs((double)y[i] - ref[i]));
    expect(worst <= 2e-5, "LayerNorm (mean 100) abs error", worst, 2e-5);

    float sm[2 * 40];
    double sref[2 * 40];
    for (int r = 0; r < 2; r++) {
        double mx = -1e30, s = 0;
        for (int j = 0; j < 37; j++) {
            sm[r * 40 + j] = (float)((j * 37 + r * 11) % 23) * 0.7f - 5.0f;
            mx = fmax(mx, sm[r * 40 + j]);
        }
        for (int j = 0; j < 37; j++)
            s += sref[r * 40 + j] = exp((double)sm[r * 40 + j] - mx);
        for (int j = 0; j < 37; j++)
            sref[r * 40 + j] /= s;
    }
    eng_k_softmax_rows(sm, 2, 37, 40);
    worst = 0;
    for (int r = 0; r < 2; r++)
        for (int j = 0; j < 37; j++)
            worst = fmax(worst, fabs((double)sm[r * 40 + j] - sref[r * 40 + j]) / sref[r * 40 + j]);
    expect(worst <= 1e-6, "softmax relative error", worst, 1e-6);
    /* One attention head against double precision, d_head a multiple of 16
     * (BERT-base's 64) and not (the fixtures' 8 and 12), L around the blocks. */
    static const size_t shapes[][2] = {{1, 64}, {37, 12}, {128, 64}, {130, 64}, {5, 16}, {19, 8}, {40, 80}, {9, 40}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        size_t L = shapes[si][0], dh = shapes[si][1], ld = 3 * dh + 5, ldo = dh + 3;
        /* Q|K|V end right at an inaccessible page: a vector load or gather past the last
         * row faults (ASan does not check gathers). */
        size_t pg = (size_t)sysconf(_SC_PAGESIZE), bytes = L * ld * sizeof(float);
        size_t span = (bytes + pg - 1) / pg * pg + pg;
        char *area = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (area == MAP_FAILED || mprotect(area + span - pg, pg, PROT_NONE) != 0)
            abort();
        float *qkv = (float *)(void *)(area + span - pg - bytes);
        float *o = malloc(L * ldo * sizeof(float));
        float *scr = malloc(eng_k_attention_scratch(L, dh) * sizeof(float));
        double *sc = malloc(L * sizeof(double));
        for (size_t i = 0; i < L * ld; i++)
            qkv[i] = sinf((float)i * 0.731f) * 1.5f;
        for (size_t i = 0; i < L * ldo; i++)
            o[i] = -7.0f; /* columns past d_head must stay untouched */
        float scale = 1.0f / sqrtf((float)dh);
        eng_k_attention(qkv, qkv + dh, qkv + 2 * dh, ld, L, dh, scale, o, ldo, scr);
        double err = 0;
        int untouched = 1;
        for (size_t i = 0; i < L; i++) {
            double mx = -1e300, sum = 0;
            for (size_t j = 0; j < L; j++) {
                double dot = 0;
                for (size_t k = 0; k < dh; k++)
                    dot += (double)qkv[i * ld + k] * qkv[j * ld + dh + k];
                sc[j] = dot * scale;
                mx = fmax(mx, sc[j]);
            }
            for (size_t j = 0; j < L; j++)
                sum += sc[j] = exp(sc[j] - mx);
            for (size_t k = 0; k < dh; k++) {
                double acc = 0;
                for (size_t j = 0; j < L; j++)
                    acc += sc[j] / sum * qkv[j * ld + 2 * dh + k];
                err = fmax(err, fabs(acc - (double)o[i * ldo + k]));
            }
            for (size_t k = dh; k < ldo; k++)
                untouched &= o[i * ldo + k] == -7.0f;
        }
        char what[64];
        snprintf(what, sizeof what, "attention L=%zu d_head=%zu abs error", L, dh);
        expect(err <= 2e-6 && untouched, what, err, 2e-6);
        /* The portable path (any machine) gives the same bits as the vector one. */
        float *o2 = malloc(L * ldo * sizeof(float));
        for (size_t i = 0; i < L * ldo; i++)
            o2[i] = -7.0f;
        eng_sgemm_force_isa(ENG_ISA_SCALAR);
        eng_k_attention(qkv, qkv + dh, qkv + 2 * dh, ld, L, dh, scale, o2, ldo, scr);
        eng_sgemm_force_isa(-1);
        snprintf(what, sizeof what, "attention L=%zu d_head=%zu portable differs", L, dh);
        size_t differ = 0;
        for (size_t i = 0; i < L * ldo; i++)
            differ += memcmp(&o[i], &o2[i], sizeof(float)) != 0;
        expect(differ == 0, what, (double)differ, 0);
        free(o2);
        munmap(area, span);
        free(o);
        free(scr);
        free(sc);
    }
    printf("%d failures\n", failures);
    return failures ? 1 : 0;
}
