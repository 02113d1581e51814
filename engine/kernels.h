/*
 * kernels.h - matrix multiplication for the inference engine: one scalar
 * reference and SIMD variants (AVX2 on x86-64, NEON on aarch64), picked at run
 * time (cpu.h).
 *
 * Quantized weights work as GGML's do: each activation row is converted to the
 * weight type's vec_dot_type (types.h; Q8_0 blocks for Q4_0/Q8_0 weights) and
 * dotted with integer arithmetic against the weight blocks.  Work is split over
 * output rows, so results never depend on the thread count.
 */
#ifndef GF_KERNELS_H
#define GF_KERNELS_H

#include "../common/types.h"
#include "cpu.h"

struct gf_kernel_ops; /* kernels_internal.h */

/* A weight matrix ready for the engine: n_out rows of n_in elements in file order
 * (row o produces output o). Q4_0/Q8_0 may be repacked at init into an interleaved
 * layout for the SIMD kernels. */
typedef struct {
    gf_type type;        /* a type with gf_type_can_matmul (types.h) */
    int64_t n_in, n_out;
    const void *data;    /* (n_out, row bytes) as in the file; not owned */
    void *packed;        /* kernel-specific layout, owned; NULL when unused */
    gf_kernel_set ks;    /* the kernel set this matrix was prepared for */
    const struct gf_kernel_ops *ops; /* ks's kernels, with the scalar set's where ks has none */
    /* F32 only, NULL after init: an F32 copy of a type no kernel multiplies (engine/model.c)
     * sets its type's act_round (types.h), and the activations are rounded through it
     * first, so the product is the one llama.cpp's dot of the original type computes. */
    gf_act_round_fn act_round;
} gf_wmat;

/* Fails with GF_E_UNSUPPORTED naming the type if no kernel can multiply it (the
 * type table says it cannot, or no kernel set has its dot or the conversion of
 * its activations), or if ks is not supported here; GF_E_FORMAT if rows are not
 * whole blocks; GF_E_NOMEM if the packed copy cannot be allocated.  m is zeroed
 * first, so gf_wmat_free(m) is safe after a failure. */
gf_status gf_wmat_init(gf_wmat *m, gf_type type, int64_t n_in, int64_t n_out,
                       const void *data, gf_kernel_set ks, gf_err *err);
void gf_wmat_free(gf_wmat *m);

/* Y (n_tok, n_out) = X (n_tok, n_in) · Wᵀ, row-major, using W's kernel set.
 * OpenMP-parallel over output rows inside; call it from one thread.  F32
 * weights go through gf_gemm's NT product (gemm.h), which needs no scratch.
 * Activations are converted first as GGML does: to Q8_0 blocks (bit-identical
 * to gf_quantize_row_q8_0_ref on every set) for Q4_0/Q8_0 weights, to IEEE half
 * for F16 weights.  Y is bit-identical for any thread count, and row t of Y does
 * not depend on n_tok.  Allocates scratch: GF_E_NOMEM if that fails (Y is then
 * not written), else GF_OK. */
gf_status gf_matmul(const gf_wmat *W, const float *X, float *Y, int64_t n_tok);

/* The same with caller-owned scratch of gf_matmul_work_size(W, n_tok) bytes
 * (64-byte aligned is best), for callers that keep one buffer per model.  F32
 * weights still go through gf_gemm, whose scratch may fail: GF_E_NOMEM (with
 * act_round, the rounded activations are in the caller's scratch). */
size_t gf_matmul_work_size(const gf_wmat *W, int64_t n_tok);
gf_status gf_matmul_work(const gf_wmat *W, const float *X, float *Y, int64_t n_tok, void *work);

#endif /* GF_KERNELS_H */
