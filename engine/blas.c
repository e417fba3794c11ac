/* blas.c — the only file that talks to OpenBLAS.
 *
 * Every matrix product of the engine goes through here so the BLAS dependency
 * (and its thread control) stays in one place. Weights are stored as HF's
 * nn.Linear keeps them, (out, in) row-major, hence the transposed B.
 */
#include "engine/eng_impl.h"

#include <cblas.h>

void eng_gemm_nt(size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                 const float *b, size_t ldb, float beta, float *c, size_t ldc) {
    if (m == 0 || n == 0)
        return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)m, (blasint)n, (blasint)k, alpha,
                a, (blasint)lda, b, (blasint)ldb, beta, c, (blasint)ldc);
}

void eng_linear(const float *x, const float *w, const float *b, float *y, size_t m, size_t n,
                size_t k) {
    if (m == 0 || n == 0)
        return;
    if (b) {
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++)
                y[i * n + j] = b[j];
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)m, (blasint)n, (blasint)k, 1.0f,
                x, (blasint)k, w, (blasint)k, b ? 1.0f : 0.0f, y, (blasint)n);
}

void eng_set_blas_threads(int n) { openblas_set_num_threads(n < 1 ? 1 : n); }
int eng_get_blas_threads(void) { return openblas_get_num_threads(); }
