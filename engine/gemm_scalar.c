/*
 * gemm_scalar.c - the reference GEMM: plain C, cache-blocked, every element
 * summed in double in the order k = 0, 1, ..., K-1 and rounded to float once
 * (as gf_dot_f32_scalar does, so the scalar gf_matmul keeps its bits).
 *
 * When accumulating, the sum starts from the old C in double.  This is the
 * fallback on any CPU and what the SIMD sets are tested against; it is not
 * meant to be fast.
 */
#include "gemm_internal.h"

#define TILE_M 64
#define TILE_N 256
#define KC 256      /* k rows of B (x TILE_N) per block: 256 KB, stays in L2 */
#define NT_JB 16    /* B rows dotted against each A row while they sit in cache */

static void tile_nt(const gf_gemm_args *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1, void *work) {
    (void)work;
    for (int64_t jb = j0; jb < j1; jb += NT_JB) {
        const int64_t je = jb + NT_JB < j1 ? jb + NT_JB : j1;
        for (int64_t i = i0; i < i1; i++) {
            const float *a = g->A + i * g->lda;
            for (int64_t j = jb; j < je; j++) {
                const float *b = g->B + j * g->ldb;
                double s = g->accumulate ? (double)g->C[i * g->ldc + j] : 0.0;
                for (int64_t k = 0; k < g->K; k++) s += (double)a[k] * (double)b[k];
                g->C[i * g->ldc + j] = (float)s;
            }
        }
    }
}

/* NN and TN: double accumulators for the whole tile in work, k blocked so a
 * KC x tile block of B is reused by every row of the tile. */
static void tile_xn(const gf_gemm_args *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1, void *work) {
    double *acc = work; /* (i1-i0, TILE_N) */
    const int64_t nj = j1 - j0;
    for (int64_t i = i0; i < i1; i++)
        for (int64_t j = 0; j < nj; j++)
            acc[(i - i0) * TILE_N + j] = g->accumulate ? (double)g->C[i * g->ldc + j0 + j] : 0.0;
    for (int64_t k0 = 0; k0 < g->K; k0 += KC) {
        const int64_t k1 = k0 + KC < g->K ? k0 + KC : g->K;
        for (int64_t i = i0; i < i1; i++) {
            double *ar = acc + (i - i0) * TILE_N;
            for (int64_t k = k0; k < k1; k++) {
                const double a = g->op == GF_GEMM_TN ? g->A[k * g->lda + i] : g->A[i * g->lda + k];
                const float *b = g->B + k * g->ldb + j0;
                for (int64_t j = 0; j < nj; j++) ar[j] += a * (double)b[j];
            }
        }
    }
    for (int64_t i = i0; i < i1; i++)
        for (int64_t j = 0; j < nj; j++) g->C[i * g->ldc + j0 + j] = (float)acc[(i - i0) * TILE_N + j];
}

const gf_gemm_ops gf_gemm_ops_scalar = {
    .ks = GF_KERNELS_SCALAR,
    .tile_m = {[GF_GEMM_NT] = TILE_M, [GF_GEMM_NN] = TILE_M, [GF_GEMM_TN] = TILE_M},
    .tile_n = TILE_N,
    .work_bytes = {[GF_GEMM_NN] = sizeof(double) * TILE_M * TILE_N, [GF_GEMM_TN] = sizeof(double) * TILE_M * TILE_N},
    .tile = {[GF_GEMM_NT] = tile_nt, [GF_GEMM_NN] = tile_xn, [GF_GEMM_TN] = tile_xn},
};
