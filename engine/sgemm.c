/* sgemm.c — the engine's own sgemm for the linear layers, on weights packed once at load.
 *
 * DESIGN: every linear layer is y (m, n) = x (m, k) · Wᵀ + b with W (n, k) as HF stores
 * nn.Linear. OpenBLAS has no pre-packed-weights API, so it re-packs W into its panel layout on
 * every call: at batch 1 (m = 128 rows) that was a quarter of the forward's cycles
 * (docs/benchmarks.md). Here W is packed once, at model load, into panels of ENG_PW_NR = 32
 * output columns: panel p holds W[32p .. 32p + 32)[0 .. k) as k rows of 32 floats (column
 * j of the output = W row j), contiguous and 64-byte aligned, zero-padded past n. Per call
 * only x is packed, a block of up to 1 MiB (all of k up to KB_MAX = 1024 columns, and as
 * many rows as fit, balanced), into micro-panels of MR = 12 rows interleaved (12 floats per
 * k), which also avoids the cache-set conflicts of reading 12 rows k·4 bytes apart (k = 3072:
 * 12 KiB, every row in the same L1 set).
 * Loop nest (per thread, over its share of the panels):
 *   for each block of x: pack it once (L2);
 *     for each group of NB = 4 panels (y's rows × 128 columns stay in L2),
 *       for each KC = 256-deep slice, for each 12-row micro-panel of x (12 KiB, L1),
 *         for each panel of the group (its slice streams from L2, prefetched 2 KiB ahead):
 *           micro-kernel 12 × 32 over the slice, accumulating into y (the first slice
 *           stores, later ones add);
 *       after the last slice, the epilogue (bias, or bias + activation) on the group's
 *       block of y while it is in cache: the separate pass over the (m, n) output is gone.
 * Tuned on the 2-core Sapphire Rapids VM (48 KiB L1, 2 MiB L2) against OpenBLAS 0.3.21 on the
 * BERT-base shapes (docs/benchmarks.md).
 * Summation order of an output element: the KC slices in order, each an FMA chain over its k
 * in order, added to the running value in y. It depends on neither m, the row block, the
 * thread count nor the instruction set (AVX-512, AVX2 and the portable path all use FMA in the
 * same order), so results are bit-identical whatever runs them.
 * Threads: the panels are split into one contiguous share per thread of the context's pool
 * (eng_pool_run: a helper that wakes late leaves its share to the caller); each share packs x
 * itself (one copy per thread, m·k floats against m·k·(n / threads)·2 FLOP).
 */
#include "engine/eng_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define ENG_X86 1
#endif

#define MR 12           /* rows of a micro-tile (broadcast side) */
#define NR ENG_PW_NR    /* columns of a micro-tile = one panel (two zmm) */
#define KC 256 /* depth of a slice: a panel's slice is 32 KiB, an x micro-panel 12 KiB */
#define XP_FLOATS (256 * 1024) /* packed x block: 1 MiB, half of the L2 */
#define KB_MAX 1024             /* deepest block of x packed at once */
#define NB 4 /* panels per column block: their slices (128 KiB) stay in L2 */

static int isa_forced = -1;

/* ---- packing the weights (at load) ---------------------------------------- */

size_t eng_pw_floats(size_t n, size_t k) {
    size_t panels = (n + NR - 1) / NR;
    if (k && panels > SIZE_MAX / NR / k)
        return 0;
    return panels * NR * k;
}

int eng_pw_alloc(struct eng_pw *pw, size_t n, size_t k) {
    size_t nf = eng_pw_floats(n, k);
    if (nf == 0 || nf > SIZE_MAX / sizeof(float) - 64)
        return ENG_ELIMIT;
    size_t bytes = (nf * sizeof(float) + 63) / 64 * 64;
    float *p = aligned_alloc(64, bytes);
    if (!p)
        return ENG_ENOMEM;
    memset(p, 0, bytes);
    pw->data = p;
    pw->n = n;
    pw->k = k;
    return ENG_OK;
}

void eng_pw_put(struct eng_pw *pw, size_t col0, const float *w, size_t rows) {
    const size_t k = pw->k;
    for (size_t r = 0; r < rows; r++) {
        size_t col = col0 + r;
        float *dst = pw->data + col / NR * NR * k + col % NR;
        const float *src = w + r * k;
        for (size_t i = 0; i < k; i++)
            dst[i * NR] = src[i];
    }
}

/* ---- packing x (per call) ------------------------------------------------- */

/* x rows [0, mc) × columns [0, kc) (leading dimension ldx) into micro-panels of MR rows:
 * xp[g][i][r] = x[g·MR + r][i]; rows past mc are zero (the kernel computes all MR rows).
 * Full micro-panels go 4 columns at a time through three 4 × 4 transposes in SSE registers
 * (x86-64's baseline): the element-by-element copy cost ~1.3 cycles a float, 5 % of a
 * 2-thread forward at 128 rows, where each thread packs all of x for a quarter of the
 * output columns of the attention-output and FFN-down products. With AVX-512, 16 columns at
 * a time in zmm registers (pack_x_group_avx512): the attention-output and FFN-down products
 * +2-2.7 % at 128 rows on 2 threads, all four +0.8-0.9 % (run_sgemm_ab, two runs); the forward
 * moved within its noise. Same values either way. */
static void pack_x_scalar(float *restrict dst, const float *x, size_t ldx, size_t rows,
                          size_t i0, size_t kc) {
    for (size_t r = 0; r < MR; r++)
        for (size_t i = i0; i < kc; i++)
            dst[i * MR + r] = r < rows ? x[r * ldx + i] : 0.0f;
}

/* A full micro-panel (MR rows) of kc columns; picked once per product (pick_kernels). */
typedef void (*pack_fn)(float *restrict dst, const float *x, size_t ldx, size_t kc);

static void pack_group_scalar(float *restrict dst, const float *x, size_t ldx, size_t kc) {
    pack_x_scalar(dst, x, ldx, MR, 0, kc);
}

#ifdef ENG_X86
/* Columns [i, kc) of a full micro-panel, 4 at a time, then one by one. */
static void pack_x_group_sse(float *restrict dst, const float *x, size_t ldx, size_t i,
                             size_t kc) {
    for (; i + 4 <= kc; i += 4) {
        float *d = dst + i * MR;
        for (size_t r = 0; r < MR; r += 4) {
            __m128 a = _mm_loadu_ps(x + r * ldx + i), b = _mm_loadu_ps(x + (r + 1) * ldx + i);
            __m128 c = _mm_loadu_ps(x + (r + 2) * ldx + i), e = _mm_loadu_ps(x + (r + 3) * ldx + i);
            _MM_TRANSPOSE4_PS(a, b, c, e); /* a = column i of rows r..r+3, b = column i+1, ... */
            _mm_storeu_ps(d + r, a);
            _mm_storeu_ps(d + MR + r, b);
            _mm_storeu_ps(d + 2 * MR + r, c);
            _mm_storeu_ps(d + 3 * MR + r, e);
        }
    }
    if (i < kc)
        pack_x_scalar(dst, x, ldx, MR, i, kc);
}

/* 16 columns at a time in zmm registers: the three 4-row groups transposed within each
 * 128-bit lane (lane L of t[g][c] = column 4L + c of rows 4g .. 4g + 3), then the 16 × 12
 * output floats (12 zmm) gathered lane by lane: output vector 3L + j holds lane L of four of
 * the t[g][c], taken in the order of the packed layout (column, then row group) by three
 * 4 × 4 transposes of 128-bit lanes. 48 shuffles and 12 full stores per 192 floats, against
 * 96 shuffles and 48 16-byte stores through SSE. Same values. */
__attribute__((target("avx512f"))) static void pack_x_group_avx512(float *restrict dst,
                                                                   const float *x, size_t ldx,
                                                                   size_t kc) {
    size_t i = 0;
    for (; i + 16 <= kc; i += 16) {
        __m512 t[3][4];
        for (int g = 0; g < 3; g++) {
            const float *r = x + (size_t)(4 * g) * ldx + i;
            __m512 a = _mm512_loadu_ps(r), b = _mm512_loadu_ps(r + ldx);
            __m512 c = _mm512_loadu_ps(r + 2 * ldx), d = _mm512_loadu_ps(r + 3 * ldx);
            __m512 u0 = _mm512_unpacklo_ps(a, b), u1 = _mm512_unpackhi_ps(a, b);
            __m512 u2 = _mm512_unpacklo_ps(c, d), u3 = _mm512_unpackhi_ps(c, d);
            t[g][0] = _mm512_shuffle_ps(u0, u2, 0x44);
            t[g][1] = _mm512_shuffle_ps(u0, u2, 0xEE);
            t[g][2] = _mm512_shuffle_ps(u1, u3, 0x44);
            t[g][3] = _mm512_shuffle_ps(u1, u3, 0xEE);
        }
        /* Packed order of the 4-float pieces in lane L: (column c, group g) at 3c + g. */
        const __m512 src[3][4] = {{t[0][0], t[1][0], t[2][0], t[0][1]},
                                  {t[1][1], t[2][1], t[0][2], t[1][2]},
                                  {t[2][2], t[0][3], t[1][3], t[2][3]}};
        float *d = dst + i * MR;
        for (int j = 0; j < 3; j++) {
            __m512 x0 = _mm512_shuffle_f32x4(src[j][0], src[j][1], 0x44);
            __m512 x1 = _mm512_shuffle_f32x4(src[j][0], src[j][1], 0xEE);
            __m512 x2 = _mm512_shuffle_f32x4(src[j][2], src[j][3], 0x44);
            __m512 x3 = _mm512_shuffle_f32x4(src[j][2], src[j][3], 0xEE);
            _mm512_storeu_ps(d + 16 * j, _mm512_shuffle_f32x4(x0, x2, 0x88));      /* L 0 */
            _mm512_storeu_ps(d + 16 * (3 + j), _mm512_shuffle_f32x4(x0, x2, 0xDD)); /* L 1 */
            _mm512_storeu_ps(d + 16 * (6 + j), _mm512_shuffle_f32x4(x1, x3, 0x88)); /* L 2 */
            _mm512_storeu_ps(d + 16 * (9 + j), _mm512_shuffle_f32x4(x1, x3, 0xDD)); /* L 3 */
        }
    }
    pack_x_group_sse(dst, x, ldx, i, kc);
}

static void pack_group_sse(float *restrict dst, const float *x, size_t ldx, size_t kc) {
    pack_x_group_sse(dst, x, ldx, 0, kc);
}
#endif

static void pack_x(pack_fn pack_group, float *restrict xp, const float *x, size_t ldx, size_t mc,
                   size_t kc) {
    for (size_t g = 0; g < mc; g += MR) {
        if (mc - g >= MR)
            pack_group(xp + g * kc, x + g * ldx, ldx, kc);
        else
            pack_x_scalar(xp + g * kc, x + g * ldx, ldx, mc - g, 0, kc);
    }
}

/* ---- micro-kernels: c (MR, NR) (ldc) = [c +] xp (kc, MR)ᵀ · wp (kc, NR) ------------ */

/* A range of a later step's weights that a micro-kernel call brings into L2 as it goes: one
 * 64-byte line every (mask + 1) iterations while p < end (see gemm_share). */
struct pf_range {
    const char *p, *end;
    size_t mask;
};

typedef void (*kern_fn)(size_t kc, const float *xp, const float *wp, float *c, size_t ldc,
                        bool add, struct pf_range *pf);

/* Portable: same FMA chain per element as the vector kernels (fmaf), so same bits. */
static void kern_scalar(size_t kc, const float *xp, const float *wp, float *c, size_t ldc,
                        bool add, struct pf_range *pf) {
    (void)pf;
    float acc[MR][NR];
    memset(acc, 0, sizeof acc);
    for (size_t i = 0; i < kc; i++)
        for (size_t r = 0; r < MR; r++)
            for (size_t j = 0; j < NR; j++)
                acc[r][j] = fmaf(xp[i * MR + r], wp[i * NR + j], acc[r][j]);
    for (size_t r = 0; r < MR; r++)
        for (size_t j = 0; j < NR; j++)
            c[r * ldc + j] = add ? c[r * ldc + j] + acc[r][j] : acc[r][j];
}

#ifdef ENG_X86
/* R × 32 (R = 12, 8 or 4 rows): 2R zmm accumulators, 2 for the panel row, the x values
 * broadcast from memory. R is a constant in each instance below (the unused accumulators
 * vanish); R < 12 serves the last micro-panel of x (128 rows = 10 × 12 + 8: the 12-row kernel
 * spent 3 % of the products on 4 zero rows). Each row is the same FMA chain whatever R. */
__attribute__((target("avx512f,fma"), always_inline)) static inline void
kern_avx512_rows(const int R, size_t kc, const float *xp, const float *wp, float *c, size_t ldc,
                 bool add, struct pf_range *pfr) {
    struct pf_range pf = *pfr;
#define Z(r) __m512 a##r##0 = _mm512_setzero_ps(), a##r##1 = _mm512_setzero_ps()
    Z(0);
    Z(1);
    Z(2);
    Z(3);
    Z(4);
    Z(5);
    Z(6);
    Z(7);
    Z(8);
    Z(9);
    Z(10);
    Z(11);
#undef Z
    /* y's tile is read (add) or written after the loop: start its lines on their way. */
    for (int r = 0; r < R; r++) {
        _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + r * ldc + 16), _MM_HINT_T0);
    }
    for (size_t i = 0; i < kc; i++) {
        /* The panel streams from L2 (or memory, on its first use): 16 rows (2 KiB) ahead.
         * Measured +5-15 % at 128 and 1024 rows; past the slice's end it only touches the
         * next slice of the same panel (or at most 2 KiB past the packed weight: a
         * prefetch never faults). */
        _mm_prefetch((const char *)(wp + (i + 16) * NR), _MM_HINT_T0);
        _mm_prefetch((const char *)(wp + (i + 16) * NR + 16), _MM_HINT_T0);
        if ((i & pf.mask) == 0 && pf.p < pf.end) {
            _mm_prefetch(pf.p, _MM_HINT_T1);
            pf.p += 64;
        }
        const __m512 b0 = _mm512_load_ps(wp + i * NR), b1 = _mm512_load_ps(wp + i * NR + 16);
        const float *x = xp + i * MR;
#define F(r)                                                                                       \
    do {                                                                                           \
        if ((r) < R) {                                                                             \
            const __m512 xr = _mm512_set1_ps(x[r]);                                                \
            a##r##0 = _mm512_fmadd_ps(xr, b0, a##r##0);                                            \
            a##r##1 = _mm512_fmadd_ps(xr, b1, a##r##1);                                            \
        }                                                                                          \
    } while (0)
        F(0);
        F(1);
        F(2);
        F(3);
        F(4);
        F(5);
        F(6);
        F(7);
        F(8);
        F(9);
        F(10);
        F(11);
#undef F
    }
#define S(r)                                                                                       \
    do {                                                                                           \
        if ((r) < R) {                                                                             \
            float *cr = c + (r) * ldc;                                                             \
            if (add) {                                                                             \
                a##r##0 = _mm512_add_ps(_mm512_loadu_ps(cr), a##r##0);                            \
                a##r##1 = _mm512_add_ps(_mm512_loadu_ps(cr + 16), a##r##1);                       \
            }                                                                                      \
            _mm512_storeu_ps(cr, a##r##0);                                                         \
            _mm512_storeu_ps(cr + 16, a##r##1);                                                    \
        }                                                                                          \
    } while (0)
    S(0);
    S(1);
    S(2);
    S(3);
    S(4);
    S(5);
    S(6);
    S(7);
    S(8);
    S(9);
    S(10);
    S(11);
#undef S
}

#define KERN_AVX512(name, R)                                                                       \
    __attribute__((target("avx512f,fma"))) static void name(size_t kc, const float *xp,           \
                                                             const float *wp, float *c,           \
                                                             size_t ldc, bool add,                \
                                                             struct pf_range *pf) {               \
        kern_avx512_rows(R, kc, xp, wp, c, ldc, add, pf);                                         \
    }
KERN_AVX512(kern_avx512, 12)
KERN_AVX512(kern_avx512_8, 8)
KERN_AVX512(kern_avx512_4, 4)
#undef KERN_AVX512

/* 6 rows × 16 columns (12 ymm accumulators of 16): four calls cover a 12 × 32 tile. */
__attribute__((target("avx2,fma"))) static void kern_avx2_6x16(size_t kc, const float *xp,
                                                               const float *wp, float *c,
                                                               size_t ldc, bool add,
                                                               struct pf_range *pf) {
    __m256 a[6][2];
    for (int r = 0; r < 6; r++)
        a[r][0] = a[r][1] = _mm256_setzero_ps();
    for (size_t i = 0; i < kc; i++) {
        if ((i & pf->mask) == 0 && pf->p < pf->end) {
            _mm_prefetch(pf->p, _MM_HINT_T1);
            pf->p += 64;
        }
        const __m256 b0 = _mm256_load_ps(wp + i * NR), b1 = _mm256_load_ps(wp + i * NR + 8);
        const float *x = xp + i * MR;
        for (int r = 0; r < 6; r++) {
            const __m256 xr = _mm256_broadcast_ss(x + r);
            a[r][0] = _mm256_fmadd_ps(xr, b0, a[r][0]);
            a[r][1] = _mm256_fmadd_ps(xr, b1, a[r][1]);
        }
    }
    for (int r = 0; r < 6; r++) {
        float *cr = c + (size_t)r * ldc;
        if (add) {
            a[r][0] = _mm256_add_ps(_mm256_loadu_ps(cr), a[r][0]);
            a[r][1] = _mm256_add_ps(_mm256_loadu_ps(cr + 8), a[r][1]);
        }
        _mm256_storeu_ps(cr, a[r][0]);
        _mm256_storeu_ps(cr + 8, a[r][1]);
    }
}

__attribute__((target("avx2,fma"))) static void kern_avx2(size_t kc, const float *xp,
                                                          const float *wp, float *c, size_t ldc,
                                                          bool add, struct pf_range *pf) {
    kern_avx2_6x16(kc, xp, wp, c, ldc, add, pf);
    kern_avx2_6x16(kc, xp, wp + 16, c + 16, ldc, add, pf);
    kern_avx2_6x16(kc, xp + 6, wp, c + 6 * ldc, ldc, add, pf);
    kern_avx2_6x16(kc, xp + 6, wp + 16, c + 6 * ldc + 16, ldc, add, pf);
}
#endif

int eng_sgemm_isa(void) {
    if (isa_forced >= 0)
        return isa_forced;
#ifdef ENG_X86
    /* No __builtin_cpu_init(): libgcc's constructor has run by the time any code calls this
     * (it is needed only in ifunc resolvers), and calling it from every thread would write
     * the CPU model concurrently. */
    if (__builtin_cpu_supports("avx512f"))
        return ENG_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return ENG_ISA_AVX2;
#endif
    return ENG_ISA_SCALAR;
}

int eng_sgemm_force_isa(int isa) {
    if (isa < 0) {
        isa_forced = -1;
        return ENG_OK;
    }
    int best = (isa_forced = -1, eng_sgemm_isa());
    if (isa > best)
        return ENG_EUNSUPPORTED;
    isa_forced = isa;
    return ENG_OK;
}

/* kern[0]: the MR-row kernel; kern[1], kern[2]: 8 and 4 rows, or NULL (then the MR-row one,
 * through the bounded copy); *pack: the packing of a full micro-panel of x. */
static void pick_kernels(kern_fn kern[3], pack_fn *pack) {
    kern[0] = kern_scalar, kern[1] = kern[2] = NULL;
    *pack = pack_group_scalar;
#ifdef ENG_X86
    *pack = pack_group_sse; /* SSE is x86-64's baseline */
    switch (eng_sgemm_isa()) {
    case ENG_ISA_AVX512:
        kern[0] = kern_avx512, kern[1] = kern_avx512_8, kern[2] = kern_avx512_4;
        *pack = pack_x_group_avx512;
        break;
    case ENG_ISA_AVX2:
        kern[0] = kern_avx2;
        break;
    default:
        break;
    }
#endif
}

/* ---- the blocked product -------------------------------------------------- */

struct gemm_job {
    const struct eng_pw *w;
    const float *x;
    size_t ldx, m;
    float *y;
    size_t ldy;
    const float *bias;
    enum eng_epilogue epi;
    float *scratch;
    kern_fn kern[3]; /* pick_kernels */
    pack_fn pack;    /* pick_kernels */
};

size_t eng_sgemm_scratch_floats(void) { return (size_t)XP_FLOATS + (size_t)MR * NR; }

/* One micro-tile on the narrowest kernel that covers its rows, through a bounded copy when it
 * sticks out of y (last rows / columns). */
static void tile(const struct gemm_job *j, size_t kc, const float *xp, const float *wp, float *c,
                 size_t rows, size_t cols, bool add, float *tmp, struct pf_range *pf) {
    kern_fn kern = j->kern[0];
    size_t kr = MR;
    if (rows <= 4 && j->kern[2])
        kern = j->kern[2], kr = 4;
    else if (rows <= 8 && j->kern[1])
        kern = j->kern[1], kr = 8;
    if (rows == kr && cols == NR) {
        kern(kc, xp, wp, c, j->ldy, add, pf);
        return;
    }
    for (size_t r = 0; r < rows && add; r++)
        memcpy(tmp + r * NR, c + r * j->ldy, cols * sizeof(float));
    kern(kc, xp, wp, tmp, NR, add, pf);
    for (size_t r = 0; r < rows; r++)
        memcpy(c + r * j->ldy, tmp + r * NR, cols * sizeof(float));
}

/* Bias (and activation) on rows [i0, i0 + rows) × columns [c0, c1) of y, right after their
 * last slice, while they are still in cache. */
static void epilogue(const struct gemm_job *j, size_t i0, size_t rows, size_t c0, size_t c1) {
    for (size_t r = 0; r < rows; r++) {
        float *restrict y = j->y + (i0 + r) * j->ldy + c0;
        const float *restrict b = j->bias + c0;
        if (j->epi == ENG_EPI_BIAS) {
            for (size_t c = 0; c < c1 - c0; c++)
                y[c] += b[c];
        } else {
            enum eng_act act = j->epi == ENG_EPI_BIAS_GELU        ? ENG_ACT_GELU
                               : j->epi == ENG_EPI_BIAS_GELU_TANH ? ENG_ACT_GELU_TANH
                                                                  : ENG_ACT_RELU;
            eng_k_bias_act(y, b, 1, c1 - c0, act);
        }
    }
}

/* Blocking of a product of depth k over m rows: x is packed in blocks of mc rows × kb
 * columns (kb = k unless 12 rows of k do not fit the block), mc balanced over the blocks. */
static void blocking(size_t m, size_t k, size_t *mc, size_t *kb) {
    *kb = k <= KB_MAX ? k : (k + ((k + KB_MAX - 1) / KB_MAX) - 1) / ((k + KB_MAX - 1) / KB_MAX);
    *kb = *kb <= KC ? *kb : (*kb + KC - 1) / KC * KC;
    size_t mc_max = XP_FLOATS / *kb / MR * MR;
    size_t blocks = (m + mc_max - 1) / mc_max;
    size_t rows = (m + blocks - 1) / blocks;
    *mc = (rows + MR - 1) / MR * MR;
}

/* Where a share is in its loop nest: k-block at b0 (kbe deep), row block at i0, column group
 * of panels [q0, q1), slice at k0 within the k-block. */
struct step {
    size_t b0, kbe, i0, q0, k0;
};

/* The step the share takes after s — the same panels' next slice, else the next group's first
 * slice, else (next row block or k-block) the share's first group again — into *next. False
 * at the end of the share. Mirrors gemm_share's loop order. */
static bool next_step(const struct gemm_job *j, size_t p0, size_t p1, size_t mcb, size_t kb,
                      struct step s, struct step *next) {
    *next = s;
    if (s.k0 + KC < s.kbe) {
        next->k0 = s.k0 + KC;
        return true;
    }
    next->k0 = 0;
    if (s.q0 + NB < p1) {
        next->q0 = s.q0 + NB;
        return true;
    }
    next->q0 = p0;
    if (s.i0 + mcb < j->m) {
        next->i0 = s.i0 + mcb;
        return true;
    }
    const size_t k = j->w->k;
    if (s.b0 + s.kbe < k) {
        next->b0 = s.b0 + s.kbe;
        next->kbe = k - next->b0 < kb ? k - next->b0 : kb;
        next->i0 = 0;
        return true;
    }
    return false;
}

/* How the micro-tiles of a step share out the prefetch of the next step's slices: each of
 * the n_tiles micro-tiles of a panel takes `chunk` bytes of the slice (len bytes, at float
 * offset koff in every panel of the next group [q0, q1)), one line every (mask + 1)
 * iterations. Worked out once per step. */
struct pf_plan {
    size_t q0, q1, koff, len, chunk, mask;
};

static struct pf_plan pf_plan(const struct step *next, bool has_next, size_t p1, size_t n_tiles,
                              size_t kc) {
    struct pf_plan pl = {0};
    if (!has_next)
        return pl; /* q0 == q1: nothing to fetch */
    size_t nkc = next->kbe - next->k0 < KC ? next->kbe - next->k0 : KC;
    pl.q0 = next->q0;
    pl.q1 = next->q0 + NB < p1 ? next->q0 + NB : p1;
    pl.koff = (next->b0 + next->k0) * NR;
    pl.len = nkc * NR * sizeof(float);
    pl.chunk = (pl.len / n_tiles + 63) / 64 * 64;
    /* One line every 4 iterations, denser when a chunk needs it (few row tiles); at most one
     * per iteration. */
    pl.mask = 3;
    while (pl.mask && pl.chunk / 64 * (pl.mask + 1) > kc)
        pl.mask >>= 1;
    return pl;
}

/* Micro-tile gi's part of the next step's slice of panel q0 + t (t: the panel's place in
 * its group). */
static struct pf_range pf_tile(const struct gemm_job *j, const struct pf_plan *pl, size_t t,
                               size_t gi) {
    struct pf_range r = {NULL, NULL, 0};
    size_t q = pl->q0 + t;
    if (q >= pl->q1)
        return r;
    size_t o0 = gi * pl->chunk < pl->len ? gi * pl->chunk : pl->len;
    size_t o1 = o0 + pl->chunk < pl->len ? o0 + pl->chunk : pl->len;
    const char *base = (const char *)(j->w->data + q * NR * j->w->k + pl->koff);
    r.p = base + o0, r.end = base + o1, r.mask = pl->mask;
    return r;
}

/* Panels [p0, p1) of the output: columns [p0·NR, min(p1·NR, n)). Loop nest (see DESIGN):
 * k in blocks of kb (normally one), rows in blocks of mc: x's block packed once (slice by
 * slice, L2); then per column block of NB panels (its rows of y stay in L2), per KC slice, per
 * panel (its slice in L1), per 12-row micro-panel of x: the micro-kernel. While a step runs,
 * its micro-kernels bring the next step's weight slices into L2 (next_step, pf_plan): the
 * hardware prefetchers stop at every 4 KiB page, and at 128 rows a slice that came straight
 * from memory cost its first micro-tile about as much as the ten others (measured +15 % for
 * the BERT-base layer products at 128 rows, +5 % at 1024). */
static void gemm_share(void *arg, size_t p0, size_t p1, int tid) {
    const struct gemm_job *j = arg;
    const size_t n = j->w->n, k = j->w->k;
    float *xp = j->scratch + (size_t)tid * eng_sgemm_scratch_floats();
    float *tmp = xp + (size_t)XP_FLOATS;
    size_t mcb, kb;
    blocking(j->m, k, &mcb, &kb);
    struct step s = {0};
    for (s.b0 = 0; s.b0 < k; s.b0 += kb) {
        s.kbe = k - s.b0 < kb ? k - s.b0 : kb;
        bool last = s.b0 + s.kbe == k;
        for (s.i0 = 0; s.i0 < j->m; s.i0 += mcb) {
            size_t mc = j->m - s.i0 < mcb ? j->m - s.i0 : mcb;
            size_t mc_pad = (mc + MR - 1) / MR * MR, n_tiles = mc_pad / MR;
            for (size_t k0 = 0; k0 < s.kbe; k0 += KC) /* slice k0: at xp + k0 · mc_pad */
                pack_x(j->pack, xp + k0 * mc_pad, j->x + s.i0 * j->ldx + s.b0 + k0, j->ldx, mc,
                       s.kbe - k0 < KC ? s.kbe - k0 : KC);
            for (s.q0 = p0; s.q0 < p1; s.q0 += NB) {
                size_t q1 = s.q0 + NB < p1 ? s.q0 + NB : p1;
                for (s.k0 = 0; s.k0 < s.kbe; s.k0 += KC) {
                    size_t kc = s.kbe - s.k0 < KC ? s.kbe - s.k0 : KC;
                    const float *xs = xp + s.k0 * mc_pad;
                    struct step nx;
                    bool has_next = next_step(j, p0, p1, mcb, kb, s, &nx);
                    struct pf_plan plan = pf_plan(&nx, has_next, p1, n_tiles, kc);
                    for (size_t gi = 0; gi < n_tiles; gi++) {
                        size_t g = gi * MR, rows = mc - g < MR ? mc - g : MR;
                        for (size_t p = s.q0; p < q1; p++) {
                            const float *wp = j->w->data + p * NR * k + (s.b0 + s.k0) * NR;
                            size_t cols = n - p * NR < NR ? n - p * NR : NR;
                            struct pf_range pf = pf_tile(j, &plan, p - s.q0, gi);
                            tile(j, kc, xs + g * kc, wp, j->y + (s.i0 + g) * j->ldy + p * NR,
                                 rows, cols, s.b0 + s.k0 > 0, tmp, &pf);
                        }
                    }
                }
                if (last && j->epi != ENG_EPI_NONE)
                    epilogue(j, s.i0, mc, s.q0 * NR, q1 * NR < n ? q1 * NR : n);
            }
        }
    }
}

/* Rows per thread from which the threads split the rows of a product rather than its
 * columns: each then packs only its own rows of x (split by columns, every thread packs all
 * of x), while the weights are streamed as often either way once the rows span several
 * blocks of x. */
#define ROWS_SPLIT_MIN 256

/* Row tiles [b, e) (MR rows each) of the product, all its columns. */
static void gemm_rows(void *arg, size_t b, size_t e, int tid) {
    struct gemm_job j = *(const struct gemm_job *)arg;
    size_t r0 = b * MR, r1 = e * MR < j.m ? e * MR : j.m;
    j.x += r0 * j.ldx;
    j.y += r0 * j.ldy;
    j.m = r1 - r0;
    gemm_share(&j, 0, (j.w->n + NR - 1) / NR, tid);
}

void eng_sgemm_packed(struct eng_pool *pool, const struct eng_pw *w, const float *x, size_t ldx,
                      size_t m, float *y, size_t ldy, const float *bias, enum eng_epilogue epi,
                      float *scratch) {
    if (m == 0 || w->n == 0)
        return;
    if (w->k == 0) { /* empty sum: y = epilogue(0) */
        for (size_t i = 0; i < m; i++)
            memset(y + i * ldy, 0, w->n * sizeof(float));
    }
    struct gemm_job j = {.w = w, .x = x, .ldx = ldx, .m = m, .y = y, .ldy = ldy, .bias = bias,
                         .epi = bias ? epi : ENG_EPI_NONE, .scratch = scratch};
    pick_kernels(j.kern, &j.pack);
    size_t panels = (w->n + NR - 1) / NR;
    size_t t = (size_t)eng_pool_active(pool);
    size_t tiles = (m + MR - 1) / MR;
    if (t > 1 && m >= t * ROWS_SPLIT_MIN) {
        eng_pool_run(pool, tiles, (tiles + t - 1) / t, gemm_rows, &j);
        return;
    }
    eng_pool_run(pool, panels, (panels + t - 1) / t, gemm_share, &j);
}
