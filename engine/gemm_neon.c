/*
 * gemm_neon.c - the NEON GEMM (aarch64, baseline ARMv8-A): straightforward
 * vfmaq_f32 loops reading the operands in place, no packing or K blocking.
 *
 * NN and TN: each element of C is one fused multiply-add chain over k = 0..K-1
 * started from 0 or the old C; 4 x 8 register tiles, and columns past the last
 * full vector use fmaf, which rounds exactly as a vfmaq lane does, so an
 * element's bits do not depend on where it sits.  NT: 4-lane dot products (lane
 * l takes k ≡ l mod 4), a fixed pairwise tree, then the K % 4 tail with fmaf.
 */
#include "gemm_internal.h"

#include <arm_neon.h>
#include <math.h>

#define TILE_M 64
#define TILE_N 256
#define MR 4
#define NRV 2 /* float32x4 vectors per row of a register tile: 8 columns */

/* ---------------------------------------------------------------- NN / TN */

static inline float a_at(const gf_gemm_args *g, int64_t i, int64_t k) {
    return g->op == GF_GEMM_TN ? g->A[k * g->lda + i] : g->A[i * g->lda + k];
}

static void tile_xn(const gf_gemm_args *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1, void *work) {
    (void)work;
    const int acc = g->accumulate;
    const int64_t jv = j0 + (j1 - j0) / (4 * NRV) * (4 * NRV); /* end of full 8-column blocks */
    for (int64_t i = i0; i < i1; i += MR) {
        const int64_t mr = i1 - i < MR ? i1 - i : MR;
        for (int64_t j = j0; j < jv; j += 4 * NRV) {
            float32x4_t c[MR][NRV];
            for (int64_t r = 0; r < MR; r++)
                for (int v = 0; v < NRV; v++)
                    c[r][v] = acc && r < mr ? vld1q_f32(g->C + (i + r) * g->ldc + j + 4 * v) : vdupq_n_f32(0);
            for (int64_t k = 0; k < g->K; k++) {
                const float *b = g->B + k * g->ldb + j;
                const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4);
                for (int64_t r = 0; r < MR; r++) {
                    const float a = r < mr ? a_at(g, i + r, k) : 0.0f;
                    c[r][0] = vfmaq_n_f32(c[r][0], b0, a);
                    c[r][1] = vfmaq_n_f32(c[r][1], b1, a);
                }
            }
            for (int64_t r = 0; r < mr; r++)
                for (int v = 0; v < NRV; v++) vst1q_f32(g->C + (i + r) * g->ldc + j + 4 * v, c[r][v]);
        }
        for (int64_t r = 0; r < mr; r++) /* leftover columns */
            for (int64_t j = jv; j < j1; j++) {
                float s = acc ? g->C[(i + r) * g->ldc + j] : 0.0f;
                for (int64_t k = 0; k < g->K; k++) s = fmaf(a_at(g, i + r, k), g->B[k * g->ldb + j], s);
                g->C[(i + r) * g->ldc + j] = s;
            }
    }
}

/* ---------------------------------------------------------------- NT */

/* a (n) · b (n): 4 lanes, ((l0+l1)+(l2+l3)), then the tail with fmaf */
static inline float lane_sum(float32x4_t v) {
    const float32x4_t p = vpaddq_f32(v, v);
    return vgetq_lane_f32(p, 0) + vgetq_lane_f32(p, 1);
}

/* 2 rows of A x 4 rows of B, 8 chains of 4 lanes */
static void dot_2x4(const float *const *a, const float *const *b, int64_t K, float out[2][4]) {
    float32x4_t acc[2][4];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = vdupq_n_f32(0);
    int64_t k = 0;
    for (; k + 4 <= K; k += 4) {
        const float32x4_t a0 = vld1q_f32(a[0] + k), a1 = vld1q_f32(a[1] + k);
        for (int j = 0; j < 4; j++) {
            const float32x4_t bv = vld1q_f32(b[j] + k);
            acc[0][j] = vfmaq_f32(acc[0][j], a0, bv);
            acc[1][j] = vfmaq_f32(acc[1][j], a1, bv);
        }
    }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++) {
            float s = lane_sum(acc[i][j]);
            for (int64_t t = k; t < K; t++) s = fmaf(a[i][t], b[j][t], s);
            out[i][j] = s;
        }
}

static void tile_nt(const gf_gemm_args *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1, void *work) {
    (void)work;
    for (int64_t i = i0; i < i1; i += 2) {
        const int64_t mi = i1 - i < 2 ? i1 - i : 2;
        const float *a[2] = {g->A + i * g->lda, g->A + (i + mi - 1) * g->lda};
        for (int64_t j = j0; j < j1; j += 4) {
            const int64_t nj = j1 - j < 4 ? j1 - j : 4;
            const float *b[4];
            for (int q = 0; q < 4; q++) b[q] = g->B + (j + (q < nj ? q : nj - 1)) * g->ldb;
            float s[2][4];
            dot_2x4(a, b, g->K, s);
            for (int64_t r = 0; r < mi; r++)
                for (int64_t q = 0; q < nj; q++) {
                    float *c = g->C + (i + r) * g->ldc + j + q;
                    *c = g->accumulate ? *c + s[r][q] : s[r][q];
                }
        }
    }
}

const gf_gemm_ops gf_gemm_ops_neon = {
    .ks = GF_KERNELS_NEON,
    .tile_m = {[GF_GEMM_NT] = TILE_M, [GF_GEMM_NN] = TILE_M, [GF_GEMM_TN] = TILE_M},
    .tile_n = TILE_N,
    .work_bytes = {0},
    .tile = {[GF_GEMM_NT] = tile_nt, [GF_GEMM_NN] = tile_xn, [GF_GEMM_TN] = tile_xn},
};
