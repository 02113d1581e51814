/*
 * kernels_neon.c - the two aarch64 kernel sets: plain NEON (any ARMv8-A) and
 * NEON with the ARMv8.2 dot-product extension (SDOT), picked at run time from
 * getauxval(AT_HWCAP) & HWCAP_ASIMDDP in kernels.c.
 *
 * The file is compiled for baseline ARMv8-A and only the dot-product functions
 * carry target("arch=armv8.2-a+dotprod"): with the flag on the whole file the compiler could
 * put SDOT into the plain kernels too, which then fault on a Cortex-A53.
 * Contracts as in kernels_scalar.c; vcvtaq rounds half away from zero, which is
 * exactly roundf, so the activation quantizer matches the reference bit for bit.
 */
#include "kernels_internal.h"

#include <arm_neon.h>

#define DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))

static inline float h2f(uint16_t h) {
    __fp16 f;
    memcpy(&f, &h, 2);
    return (float)f;
}

/* ---------------------------------------------------------------- activations */

void gf_quantize_q8_0_neon(const float *x, void *vy, int64_t n) {
    gf_block_q8_0 *y = vy;
    const int64_t nb = n / GF_QK;
    for (int64_t b = 0; b < nb; b++, x += GF_QK) {
        float32x4_t v[8];
        float32x4_t amax = vdupq_n_f32(0.0f);
        for (int i = 0; i < 8; i++) {
            v[i] = vld1q_f32(x + 4 * i);
            amax = vmaxq_f32(amax, vabsq_f32(v[i]));
        }
        const float d = vmaxvq_f32(amax) / 127; /* d and 1/d as the reference computes them */
        const float id = d ? 1.0f / d : 0.0f;
        y[b].d = gf_fp32_to_fp16(d);
        for (int i = 0; i < 8; i += 2) {
            const int32x4_t a = vcvtaq_s32_f32(vmulq_n_f32(v[i], id));
            const int32x4_t c = vcvtaq_s32_f32(vmulq_n_f32(v[i + 1], id));
            const int16x8_t h = vcombine_s16(vqmovn_s32(a), vqmovn_s32(c));
            vst1_s8(y[b].qs + 4 * i, vqmovn_s16(h));
        }
    }
}

void gf_to_f16_neon(const float *x, void *vy, int64_t n) {
    uint16_t *y = vy;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1_u16(y + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
    for (; i < n; i++) y[i] = gf_fp32_to_fp16(x[i]);
}

/* ---------------------------------------------------------------- float dots */

float gf_dot_f32_neon(const void *vw, const void *vx, int64_t n) {
    const float *w = vw, *x = vx;
    float32x4_t acc[4] = {vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0)};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 4; k++) acc[k] = vfmaq_f32(acc[k], vld1q_f32(w + i + 4 * k), vld1q_f32(x + i + 4 * k));
    for (; i + 4 <= n; i += 4) acc[0] = vfmaq_f32(acc[0], vld1q_f32(w + i), vld1q_f32(x + i));
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));
    for (; i < n; i++) s += w[i] * x[i];
    return s;
}

static inline float32x4_t loadh(const uint16_t *p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }

float gf_dot_f16_neon(const void *vw, const void *vx, int64_t n) {
    const uint16_t *w = vw, *x = vx;
    float32x4_t acc[4] = {vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0)};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 4; k++) acc[k] = vfmaq_f32(acc[k], loadh(w + i + 4 * k), loadh(x + i + 4 * k));
    for (; i + 4 <= n; i += 4) acc[0] = vfmaq_f32(acc[0], loadh(w + i), loadh(x + i));
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));
    for (; i < n; i++) s += h2f(w[i]) * h2f(x[i]);
    return s;
}

/* ---------------------------------------------------------------- quantized row dots */

/* Plain NEON: widening multiplies.  Two int8 products reach 2·127·127 = 32258,
 * which still fits the int16 lane before the pairwise add into int32. */
static inline int32x4_t dot_i8x32(int8x16_t a0, int8x16_t a1, int8x16_t b0, int8x16_t b1) {
    const int16x8_t p0 = vmlal_high_s8(vmull_s8(vget_low_s8(a0), vget_low_s8(b0)), a0, b0);
    const int16x8_t p1 = vmlal_high_s8(vmull_s8(vget_low_s8(a1), vget_low_s8(b1)), a1, b1);
    return vpadalq_s16(vpaddlq_s16(p0), p1);
}

static DOTPROD inline int32x4_t dot_i8x32_dp(int8x16_t a0, int8x16_t a1, int8x16_t b0, int8x16_t b1) {
    return vdotq_s32(vdotq_s32(vdupq_n_s32(0), a0, b0), a1, b1);
}

static inline void unpack_q4(const gf_block_q4_0 *w, int8x16_t *lo, int8x16_t *hi) {
    const uint8x16_t v = vld1q_u8(w->qs);
    const int8x16_t eight = vdupq_n_s8(8);
    *lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0f))), eight);
    *hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), eight);
}

float gf_dot_q8_0_neon(const void *vw, const void *vx, int64_t n) {
    const gf_block_q8_0 *w = vw, *x = vx;
    const int64_t nb = n / GF_QK;
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < nb; b++) {
        const int32x4_t s = dot_i8x32(vld1q_s8(w[b].qs), vld1q_s8(w[b].qs + 16), vld1q_s8(x[b].qs),
                                      vld1q_s8(x[b].qs + 16));
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(s), h2f(w[b].d) * h2f(x[b].d));
    }
    return vaddvq_f32(acc);
}

float gf_dot_q4_0_neon(const void *vw, const void *vx, int64_t n) {
    const gf_block_q4_0 *w = vw;
    const gf_block_q8_0 *x = vx;
    const int64_t nb = n / GF_QK;
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < nb; b++) {
        int8x16_t lo, hi;
        unpack_q4(&w[b], &lo, &hi);
        const int32x4_t s = dot_i8x32(lo, hi, vld1q_s8(x[b].qs), vld1q_s8(x[b].qs + 16));
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(s), h2f(w[b].d) * h2f(x[b].d));
    }
    return vaddvq_f32(acc);
}

DOTPROD float gf_dot_q8_0_neondot(const void *vw, const void *vx, int64_t n) {
    const gf_block_q8_0 *w = vw, *x = vx;
    const int64_t nb = n / GF_QK;
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < nb; b++) {
        const int32x4_t s = dot_i8x32_dp(vld1q_s8(w[b].qs), vld1q_s8(w[b].qs + 16), vld1q_s8(x[b].qs),
                                         vld1q_s8(x[b].qs + 16));
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(s), h2f(w[b].d) * h2f(x[b].d));
    }
    return vaddvq_f32(acc);
}

DOTPROD float gf_dot_q4_0_neondot(const void *vw, const void *vx, int64_t n) {
    const gf_block_q4_0 *w = vw;
    const gf_block_q8_0 *x = vx;
    const int64_t nb = n / GF_QK;
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < nb; b++) {
        int8x16_t lo, hi;
        unpack_q4(&w[b], &lo, &hi);
        const int32x4_t s = dot_i8x32_dp(lo, hi, vld1q_s8(x[b].qs), vld1q_s8(x[b].qs + 16));
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(s), h2f(w[b].d) * h2f(x[b].d));
    }
    return vaddvq_f32(acc);
}

/* ---------------------------------------------------------------- packed Q4_0 */

/* NT tokens × 8 rows, rows 0-3 in one int32x4 and rows 4-7 in another.  SDOT's
 * lane form multiplies the 4 bytes of every row lane by 4-byte chunk k of the
 * activation register, which is exactly the packed layout.  Nibbles stay
 * unsigned (0..15, positive as int8); the -8 offset is removed afterwards with
 * the block's activation sum, as in the scalar packed kernel. */
#define SDOT4(acc, w4, xv)                     \
    do {                                       \
        acc = vdotq_laneq_s32(acc, w4[0], xv, 0); \
        acc = vdotq_laneq_s32(acc, w4[1], xv, 1); \
        acc = vdotq_laneq_s32(acc, w4[2], xv, 2); \
        acc = vdotq_laneq_s32(acc, w4[3], xv, 3); \
    } while (0)

static DOTPROD inline __attribute__((always_inline)) void
gemm_q4x8_nt(const gf_block_q4_0x8 *w, int64_t nb, const gf_block_q8_0 *x, const int32_t *xsum, int64_t ldx,
             const int NT, float *y, int64_t ldy) {
    const uint8x16_t low4 = vdupq_n_u8(0x0f);
    float32x4_t acc_a[GF_TOK_TILE], acc_b[GF_TOK_TILE];
    for (int t = 0; t < NT; t++) acc_a[t] = acc_b[t] = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < nb; b++) {
        int8x16_t lo_a[4], hi_a[4], lo_b[4], hi_b[4]; /* _a: rows 0-3, _b: rows 4-7 */
        for (int k = 0; k < 4; k++) {
            const uint8x16_t pa = vld1q_u8(w[b].qs[k][0]), pb = vld1q_u8(w[b].qs[k][4]);
            lo_a[k] = vreinterpretq_s8_u8(vandq_u8(pa, low4));
            hi_a[k] = vreinterpretq_s8_u8(vshrq_n_u8(pa, 4));
            lo_b[k] = vreinterpretq_s8_u8(vandq_u8(pb, low4));
            hi_b[k] = vreinterpretq_s8_u8(vshrq_n_u8(pb, 4));
        }
        const float32x4_t dw_a = loadh(w[b].d), dw_b = loadh(w[b].d + 4);
        for (int t = 0; t < NT; t++) {
            const gf_block_q8_0 *xb = &x[t * ldx + b];
            const int8x16_t x0 = vld1q_s8(xb->qs), x1 = vld1q_s8(xb->qs + 16);
            const int32x4_t off = vdupq_n_s32(-8 * xsum[t * ldx + b]);
            int32x4_t sa = off, sb = off;
            SDOT4(sa, lo_a, x0);
            SDOT4(sa, hi_a, x1);
            SDOT4(sb, lo_b, x0);
            SDOT4(sb, hi_b, x1);
            const float dx = h2f(xb->d);
            acc_a[t] = vfmaq_f32(acc_a[t], vcvtq_f32_s32(sa), vmulq_n_f32(dw_a, dx));
            acc_b[t] = vfmaq_f32(acc_b[t], vcvtq_f32_s32(sb), vmulq_n_f32(dw_b, dx));
        }
    }
    for (int t = 0; t < NT; t++) {
        vst1q_f32(y + t * ldy, acc_a[t]);
        vst1q_f32(y + t * ldy + 4, acc_b[t]);
    }
}

DOTPROD void gf_gemm_q4x8_neondot(const gf_block_q4_0x8 *w, int64_t nb, const gf_block_q8_0 *x,
                                  const int32_t *xsum, int64_t ldx, int n_tok, float *y, int64_t ldy) {
    switch (n_tok) { /* constant NT keeps every accumulator in a register */
    case 1: gemm_q4x8_nt(w, nb, x, xsum, ldx, 1, y, ldy); break;
    case 2: gemm_q4x8_nt(w, nb, x, xsum, ldx, 2, y, ldy); break;
    case 3: gemm_q4x8_nt(w, nb, x, xsum, ldx, 3, y, ldy); break;
    default: gemm_q4x8_nt(w, nb, x, xsum, ldx, 4, y, ldy); break;
    }
}

/* Q8_0: signed × signed is what SDOT does, so no offset is needed. */
static DOTPROD inline __attribute__((always_inline)) void
gemm_q8x8_nt(const gf_block_q8_0x8 *w, int64_t nb, const gf_block_q8_0 *x, int64_t ldx, const int NT, float *y,
             int64_t ldy) {
    float32x4_t acc_a[GF_TOK_TILE], acc_b[GF_TOK_TILE];
    for (int t = 0; t < NT; t++) acc_a[t] = acc_b[t] = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < nb; b++) {
        int8x16_t wa[8], wb[8]; /* chunk k of rows 0-3 and of rows 4-7 */
        for (int k = 0; k < 8; k++) {
            wa[k] = vld1q_s8(w[b].qs[k][0]);
            wb[k] = vld1q_s8(w[b].qs[k][4]);
        }
        const float32x4_t dw_a = loadh(w[b].d), dw_b = loadh(w[b].d + 4);
        for (int t = 0; t < NT; t++) {
            const gf_block_q8_0 *xb = &x[t * ldx + b];
            const int8x16_t x0 = vld1q_s8(xb->qs), x1 = vld1q_s8(xb->qs + 16);
            int32x4_t sa = vdupq_n_s32(0), sb = vdupq_n_s32(0);
            SDOT4(sa, wa, x0);
            SDOT4(sa, (wa + 4), x1);
            SDOT4(sb, wb, x0);
            SDOT4(sb, (wb + 4), x1);
            const float dx = h2f(xb->d);
            acc_a[t] = vfmaq_f32(acc_a[t], vcvtq_f32_s32(sa), vmulq_n_f32(dw_a, dx));
            acc_b[t] = vfmaq_f32(acc_b[t], vcvtq_f32_s32(sb), vmulq_n_f32(dw_b, dx));
        }
    }
    for (int t = 0; t < NT; t++) {
        vst1q_f32(y + t * ldy, acc_a[t]);
        vst1q_f32(y + t * ldy + 4, acc_b[t]);
    }
}

DOTPROD void gf_gemm_q8x8_neondot(const gf_block_q8_0x8 *w, int64_t nb, const gf_block_q8_0 *x, int64_t ldx,
                                  int n_tok, float *y, int64_t ldy) {
    switch (n_tok) {
    case 1: gemm_q8x8_nt(w, nb, x, ldx, 1, y, ldy); break;
    case 2: gemm_q8x8_nt(w, nb, x, ldx, 2, y, ldy); break;
    case 3: gemm_q8x8_nt(w, nb, x, ldx, 3, y, ldy); break;
    default: gemm_q8x8_nt(w, nb, x, ldx, 4, y, ldy); break;
    }
}

const gf_kernel_ops gf_kernel_ops_neon = {
    .ks = GF_KERNELS_NEON,
    .vec_dot = {
        [GF_TYPE_F32] = gf_dot_f32_neon,
        [GF_TYPE_F16] = gf_dot_f16_neon,
        [GF_TYPE_Q4_0] = gf_dot_q4_0_neon,
        [GF_TYPE_Q8_0] = gf_dot_q8_0_neon,
    },
    .from_float = {
        [GF_TYPE_F16] = gf_to_f16_neon,
        [GF_TYPE_Q8_0] = gf_quantize_q8_0_neon,
    },
    .gemm_q4x8 = NULL, /* no packed kernels without SDOT yet: rows in file order */
    .gemm_q8x8 = NULL,
};

const gf_kernel_ops gf_kernel_ops_neon_dot = {
    .ks = GF_KERNELS_NEON_DOT,
    .vec_dot = {
        [GF_TYPE_F32] = gf_dot_f32_neon,
        [GF_TYPE_F16] = gf_dot_f16_neon,
        [GF_TYPE_Q4_0] = gf_dot_q4_0_neondot,
        [GF_TYPE_Q8_0] = gf_dot_q8_0_neondot,
    },
    .from_float = {
        [GF_TYPE_F16] = gf_to_f16_neon,
        [GF_TYPE_Q8_0] = gf_quantize_q8_0_neon,
    },
    .gemm_q4x8 = gf_gemm_q4x8_neondot,
    .gemm_q8x8 = gf_gemm_q8x8_neondot,
};
