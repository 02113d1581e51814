/*
 * kernels.h - matrix multiplication for the inference engine: one scalar
 * reference and SIMD variants (AVX2/AVX-512 on x86-64, NEON on aarch64), picked
 * at run time.
 *
 * Quantized weights work as GGML's do: each activation row is quantized to Q8_0
 * blocks and dotted with integer arithmetic against the Q4_0/Q8_0 weight blocks.
 * Work is split over output rows, so results never depend on the thread count.
 * GF_KERNELS_AVX512 is reserved: no AVX-512 kernels are built yet (the machine
 * they were written on has none to measure them), so it is never supported.
 */
#ifndef GF_KERNELS_H
#define GF_KERNELS_H

#include "../common/types.h"

typedef enum {
    GF_KERNELS_SCALAR = 0,
    GF_KERNELS_AVX2,
    GF_KERNELS_AVX512,
    GF_KERNELS_NEON,
    GF_KERNELS_NEON_DOT,
    GF_KERNELS_COUNT_
} gf_kernel_set;

/* The best set this CPU supports, unless GF_KERNELS (scalar, avx2, avx512, neon,
 * neon-dot) names another that it supports. */
gf_kernel_set gf_kernels_detect(void);
const char *gf_kernels_name(gf_kernel_set ks);
/* The set a name (as gf_kernels_name spells it) stands for, or -1. */
int gf_kernels_from_name(const char *name);
/* 1 if the set is built into this binary and this CPU can run it. */
int gf_kernels_supported(gf_kernel_set ks);

/* A weight matrix ready for the engine: n_out rows of n_in elements in file order
 * (row o produces output o). Q4_0/Q8_0 may be repacked at init into an interleaved
 * layout for the SIMD kernels. */
typedef struct {
    gf_type type;        /* F32, F16, Q8_0, Q4_0 */
    int64_t n_in, n_out;
    const void *data;    /* (n_out, row bytes) as in the file; not owned */
    void *packed;        /* kernel-specific layout, owned; NULL when unused */
    gf_kernel_set ks;    /* the kernel set this matrix was prepared for */
} gf_wmat;

/* Fails with GF_E_UNSUPPORTED naming the type if it is not F32/F16/Q8_0/Q4_0, or
 * if ks is not supported here; GF_E_FORMAT if quantized rows are not whole
 * blocks; GF_E_NOMEM if the packed copy cannot be allocated.  m is zeroed first,
 * so gf_wmat_free(m) is safe after a failure. */
gf_status gf_wmat_init(gf_wmat *m, gf_type type, int64_t n_in, int64_t n_out,
                       const void *data, gf_kernel_set ks, gf_err *err);
void gf_wmat_free(gf_wmat *m);

/* Y (n_tok, n_out) = X (n_tok, n_in) · Wᵀ, row-major, using W's kernel set.
 * OpenMP-parallel over output rows inside; call it from one thread.  F32
 * weights go through gf_gemm's NT product (gemm.h), which needs no scratch.
 * Activations are converted first as GGML does: to Q8_0 blocks (bit-identical
 * to gf_quantize_row_q8_0_ref on every set) for Q4_0/Q8_0 weights, to IEEE half
 * for F16 weights.  Y is bit-identical for any thread count, and row t of Y does
 * not depend on n_tok.  Allocates scratch; if that fails Y is filled with NaN. */
void gf_matmul(const gf_wmat *W, const float *X, float *Y, int64_t n_tok);

/* The same with caller-owned scratch of gf_matmul_work_size(W, n_tok) bytes
 * (64-byte aligned is best), for callers that keep one buffer per model. */
size_t gf_matmul_work_size(const gf_wmat *W, int64_t n_tok);
void gf_matmul_work(const gf_wmat *W, const float *X, float *Y, int64_t n_tok, void *work);

#endif /* GF_KERNELS_H */
