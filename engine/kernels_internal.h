/*
 * kernels_internal.h - what kernels.c and the tests see of each kernel set:
 * one table per set with per-type arrays of function pointers, and the
 * interleaved Q4_0 / Q8_0 layouts.
 *
 * Every variant has its own name (_scalar, _avx2, _neon, _neondot) so that one
 * test binary can call them all and compare them with the scalar reference.
 * Not part of the engine's API: the forward pass only uses kernels.h.
 */
#ifndef GF_KERNELS_INTERNAL_H
#define GF_KERNELS_INTERNAL_H

#include "kernels.h"

/* ---------------------------------------------------------------- packed Q4_0 */

/* Rows interleaved per group in the packed Q4_0 layout. */
#define GF_Q4X8_ROWS 8

/* Block b of 8 consecutive output rows.  qs holds the 4-byte chunk k (k = 0..3)
 * of row r at qs[k][r]: one 32-byte load then carries bytes 4k..4k+3 of all 8
 * rows, so each 32-bit lane of a SIMD register belongs to one row and the
 * per-row integer sums come out in lanes, with no horizontal reduction (the idea
 * of llama.cpp's Q4_0_8x8 repacking).  Low nibbles are elements 4k..4k+3, high
 * nibbles elements 16+4k..16+4k+3, as in gf_block_q4_0.  Rows past n_out are
 * padding with d = 0. */
typedef struct {
    uint16_t d[GF_Q4X8_ROWS];             /* IEEE half scale of each row */
    uint8_t qs[4][GF_Q4X8_ROWS][4];       /* [chunk][row][byte]          */
} gf_block_q4_0x8;
_Static_assert(sizeof(gf_block_q4_0x8) == 16 + 128, "Q4_0x8 block must be 144 bytes");

/* The same interleave for Q8_0: chunk k (k = 0..7) of row r is elements
 * 4k..4k+3 of that row.  Rows past n_out are padding with d = 0. */
typedef struct {
    uint16_t d[GF_Q4X8_ROWS];             /* IEEE half scale of each row */
    int8_t qs[8][GF_Q4X8_ROWS][4];        /* [chunk][row][byte]          */
} gf_block_q8_0x8;
_Static_assert(sizeof(gf_block_q8_0x8) == 16 + 256, "Q8_0x8 block must be 272 bytes");

/* Token rows handed to one call of a packed kernel.  The kernel for n tokens
 * does, per token, exactly the float operations of the 1-token kernel, so a row
 * of Y does not depend on how many tokens were in the call. */
#define GF_TOK_TILE 4

/* Repacks n_out rows of nb Q4_0 blocks (file order) into ceil(n_out/8) groups of
 * nb gf_block_q4_0x8 (group-major).  Portable: the same bytes on every CPU. */
void gf_pack_q4_0x8(const gf_block_q4_0 *src, int64_t nb, int64_t n_out, gf_block_q4_0x8 *dst);

void gf_pack_q8_0x8(const gf_block_q8_0 *src, int64_t nb, int64_t n_out, gf_block_q8_0x8 *dst);

/* Y[t*ldy + r] = row r of group w (r < 8) · activation row t, for t < n_tok
 * (1..GF_TOK_TILE).  x holds n_tok rows of nb Q8_0 blocks, ldx blocks apart;
 * xsum[t*ldx + b] is the sum of the 32 int8 of x's block b in row t. */
typedef void (*gf_gemm_q4x8_fn)(const gf_block_q4_0x8 *w, int64_t nb,
                                const gf_block_q8_0 *x, const int32_t *xsum, int64_t ldx,
                                int n_tok, float *y, int64_t ldy);
/* The same for Q8_0 groups (no block sums needed). */
typedef void (*gf_gemm_q8x8_fn)(const gf_block_q8_0x8 *w, int64_t nb, const gf_block_q8_0 *x, int64_t ldx,
                                int n_tok, float *y, int64_t ldy);

/* ---------------------------------------------------------------- kernel table */

/* One weight row · one activation row of n elements; x is in the weight type's
 * vec_dot_type (types.h), e.g. Q8_0 blocks for a Q4_0 row. */
typedef float (*gf_vec_dot_fn)(const void *w, const void *x, int64_t n);

/* A kernel set: per-type arrays indexed by gf_type, as ggml's type traits.
 * An entry a SIMD set lacks (NULL) is the scalar set's: gf_kernels_ops fills
 * it in, so a set without a new type still multiplies it. */
typedef struct gf_kernel_ops {
    gf_kernel_set ks;
    /* weight type -> dot with a row of its vec_dot_type */
    gf_vec_dot_fn vec_dot[GF_TYPE_COUNT_];
    /* activation type -> conversion of n floats (Q8_0: bit-identical to
     * gf_quantize_row_q8_0_ref on every set; F16: IEEE half, RNE).  F32 needs none. */
    gf_from_float_fn from_float[GF_TYPE_COUNT_];
    /* interleaved Q4_0 / Q8_0 (NULL: this set dots such rows in file order) */
    gf_gemm_q4x8_fn gemm_q4x8;
    gf_gemm_q8x8_fn gemm_q8x8;
} gf_kernel_ops;

/* The table of a set with the scalar set's entries where it has none, or NULL
 * if the set is not compiled into this binary. */
const gf_kernel_ops *gf_kernels_ops(gf_kernel_set ks);

/* The kernels below take n elements (a multiple of 32 for the block types) and
 * untyped rows, so that they fit the per-type arrays; the comments name the
 * row types. */
#define GF_DOT(name) float name(const void *w, const void *x, int64_t n)
#define GF_CVT(name) void name(const float *x, void *y, int64_t n)

/* ---- scalar reference (kernels_scalar.c) */
GF_CVT(gf_quantize_q8_0_scalar); /* -> gf_block_q8_0 */
GF_CVT(gf_to_f16_scalar);        /* -> uint16_t      */
GF_DOT(gf_dot_f32_scalar);       /* float · float    */
GF_DOT(gf_dot_f16_scalar);       /* half · half      */
GF_DOT(gf_dot_q8_0_scalar);      /* Q8_0 · Q8_0      */
GF_DOT(gf_dot_q4_0_scalar);      /* Q4_0 · Q8_0      */
void gf_gemm_q4x8_scalar(const gf_block_q4_0x8 *w, int64_t nb, const gf_block_q8_0 *x,
                         const int32_t *xsum, int64_t ldx, int n_tok, float *y, int64_t ldy);
void gf_gemm_q8x8_scalar(const gf_block_q8_0x8 *w, int64_t nb, const gf_block_q8_0 *x, int64_t ldx,
                         int n_tok, float *y, int64_t ldy);
extern const gf_kernel_ops gf_kernel_ops_scalar;

#if defined(__x86_64__)
/* ---- AVX2 + FMA + F16C (kernels_avx2.c) */
GF_CVT(gf_quantize_q8_0_avx2);
GF_CVT(gf_to_f16_avx2);
GF_DOT(gf_dot_f32_avx2);
GF_DOT(gf_dot_f16_avx2);
GF_DOT(gf_dot_q8_0_avx2);
GF_DOT(gf_dot_q4_0_avx2);
void gf_gemm_q4x8_avx2(const gf_block_q4_0x8 *w, int64_t nb, const gf_block_q8_0 *x,
                       const int32_t *xsum, int64_t ldx, int n_tok, float *y, int64_t ldy);
void gf_gemm_q8x8_avx2(const gf_block_q8_0x8 *w, int64_t nb, const gf_block_q8_0 *x, int64_t ldx,
                       int n_tok, float *y, int64_t ldy);
extern const gf_kernel_ops gf_kernel_ops_avx2;
#endif

#if defined(__aarch64__)
/* ---- NEON, and NEON with the dot-product extension (kernels_neon.c) */
GF_CVT(gf_quantize_q8_0_neon);
GF_CVT(gf_to_f16_neon);
GF_DOT(gf_dot_f32_neon);
GF_DOT(gf_dot_f16_neon);
GF_DOT(gf_dot_q8_0_neon);
GF_DOT(gf_dot_q4_0_neon);
GF_DOT(gf_dot_q8_0_neondot);
GF_DOT(gf_dot_q4_0_neondot);
void gf_gemm_q4x8_neondot(const gf_block_q4_0x8 *w, int64_t nb, const gf_block_q8_0 *x,
                          const int32_t *xsum, int64_t ldx, int n_tok, float *y, int64_t ldy);
void gf_gemm_q8x8_neondot(const gf_block_q8_0x8 *w, int64_t nb, const gf_block_q8_0 *x, int64_t ldx,
                          int n_tok, float *y, int64_t ldy);
extern const gf_kernel_ops gf_kernel_ops_neon;
extern const gf_kernel_ops gf_kernel_ops_neon_dot;
#endif

#endif /* GF_KERNELS_INTERNAL_H */
