/*
 * gemm_internal.h - what gemm.c and the tests see of each GEMM kernel set: a
 * table with one tile function per product and the scratch it needs.
 *
 * A tile function computes C[i0:i1, j0:j1] on the calling thread.  Every
 * variant has its own name (_scalar, _avx2, _neon) so one test binary can run
 * them all.  Not part of the engine's API: callers use gemm.h.
 */
#ifndef GF_GEMM_INTERNAL_H
#define GF_GEMM_INTERNAL_H

#include "gemm.h"

/* One product as gf_gemm was given it (leading dimensions in elements). */
typedef struct {
    gf_gemm_op op;
    int64_t M, N, K;
    const float *A; int64_t lda; /* (M, K) for NT/NN, (K, M) for TN */
    const float *B; int64_t ldb; /* (N, K) for NT, (K, N) for NN/TN */
    float *C; int64_t ldc;       /* (M, N) */
    int accumulate;              /* 0: C = product; else C += product */
} gf_gemm_args;

typedef void (*gf_gemm_tile_fn)(const gf_gemm_args *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1,
                                void *work);

typedef struct {
    gf_kernel_set ks;
    int64_t tile_m[GF_GEMM_OP_COUNT_], tile_n; /* largest tile one call may be given, per product */
    size_t work_bytes[GF_GEMM_OP_COUNT_]; /* scratch per thread and product (0: none) */
    gf_gemm_tile_fn tile[GF_GEMM_OP_COUNT_];
} gf_gemm_ops;

/* The table of a set, or NULL if it is not compiled into this binary (sets that
 * share one GEMM, like neon and neon-dot, share one table). */
const gf_gemm_ops *gf_gemm_ops_for(gf_kernel_set ks);

/* Tiles the driver hands out never depend on the thread count; since no
 * element depends on the tiling either, any tiling gives the same bits. */

extern const gf_gemm_ops gf_gemm_ops_scalar;
#if defined(__x86_64__)
extern const gf_gemm_ops gf_gemm_ops_avx2;
#endif
#if defined(__aarch64__)
extern const gf_gemm_ops gf_gemm_ops_neon;
#endif

#endif /* GF_GEMM_INTERNAL_H */
