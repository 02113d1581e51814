/*
 * gemm.h - dense float matrix products for the float model (calibration, AWQ,
 * AutoRound forward and backward): C = A·Bᵀ, A·B and Aᵀ·B, row-major float,
 * one scalar reference and SIMD variants picked like the matmul kernels
 * (cpu.h: gf_kernels_default, GF_KERNELS=scalar forces the reference).
 *
 * Determinism: every element of C is a function of its row of op(A), its column
 * of op(B), K, its old value (when accumulating) and the kernel set only -- not
 * of M, N, the tiling or the thread count.  So results are bit-identical for any
 * number of threads, and row i of C is the same whether A has 1 row or 2048.
 * Kernel sets differ from each other in float summation order only.
 */
#ifndef GF_GEMM_H
#define GF_GEMM_H

#include "../common/gf.h"
#include "cpu.h"

typedef enum {
    GF_GEMM_NT = 0, /* C (M, N) = A (M, K) · Bᵀ, B is (N, K)   forward:  Y  = X·Wᵀ  */
    GF_GEMM_NN,     /* C (M, N) = A (M, K) · B,  B is (K, N)   backward: dX = dY·W  */
    GF_GEMM_TN,     /* C (M, N) = Aᵀ · B, A is (K, M), B (K, N) backward: dW = dYᵀ·X */
    GF_GEMM_OP_COUNT_
} gf_gemm_op;

/* C = product (accumulate == 0) or C += product (accumulate != 0), with the
 * kernel set gf_kernels_default() (cpu.h).  Row-major, densely packed (leading
 * dimension = number of columns).  OpenMP-parallel inside over tiles of C; call
 * from one thread.  K == 0 gives C = 0 (or leaves C alone when accumulating).
 * C must not overlap A or B.  GF_E_NOMEM if scratch cannot be allocated (C is
 * then not written; the caller names the failure), else GF_OK. */
gf_status gf_gemm_nt(int64_t M, int64_t N, int64_t K, const float *A, const float *B, float *C, int accumulate);
gf_status gf_gemm_nn(int64_t M, int64_t N, int64_t K, const float *A, const float *B, float *C, int accumulate);
gf_status gf_gemm_tn(int64_t M, int64_t N, int64_t K, const float *A, const float *B, float *C, int accumulate);

/* The general form: an explicit kernel set (an unsupported one falls back to
 * the scalar reference) and leading dimensions in elements (the distance
 * between consecutive rows of A, B, C as they are stored; ≥ their row length),
 * e.g. for one head's columns of a wider activation. */
gf_status gf_gemm(gf_kernel_set ks, gf_gemm_op op, int64_t M, int64_t N, int64_t K,
             const float *A, int64_t lda, const float *B, int64_t ldb,
             float *C, int64_t ldc, int accumulate);

#endif /* GF_GEMM_H */
