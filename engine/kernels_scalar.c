/*
 * kernels_scalar.c - the scalar reference kernels: activation conversion and row
 * dot products for F32, F16, Q8_0 and Q4_0 weights, plus the interleaved Q4_0
 * and Q8_0 packings with a scalar kernel for each.
 *
 * The quantized dots follow GGML's generic vec_dot_q4_0_q8_0 / vec_dot_q8_0_q8_0:
 * an exact integer sum per block, then sumf += isum * d_w * d_x in float.  The
 * float dots accumulate in double like GGML's scalar ggml_vec_dot_f32/_f16.
 * Every SIMD set is tested against these; they are the fallback on any CPU.
 */
#include "kernels_internal.h"

#include <math.h>

/* ---------------------------------------------------------------- activations */

void gf_quantize_q8_0_scalar(const float *x, void *vy, int64_t n) {
    /* The file-format reference: the SIMD quantizers are tested to match it bit
     * for bit, so every kernel set sees the same integer activations. */
    gf_quantize_row_q8_0_ref(x, vy, n);
}

void gf_to_f16_scalar(const float *x, void *vy, int64_t n) {
    uint16_t *y = vy;
    for (int64_t i = 0; i < n; i++) y[i] = gf_fp32_to_fp16(x[i]);
}

/* ---------------------------------------------------------------- row dots */

float gf_dot_f32_scalar(const void *vw, const void *vx, int64_t n) {
    const float *w = vw, *x = vx;
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)w[i] * (double)x[i];
    return (float)s;
}

float gf_dot_f16_scalar(const void *vw, const void *vx, int64_t n) {
    const uint16_t *w = vw, *x = vx;
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += (double)gf_fp16_to_fp32(w[i]) * (double)gf_fp16_to_fp32(x[i]);
    return (float)s;
}

float gf_dot_q8_0_scalar(const void *vw, const void *vx, int64_t n) {
    const gf_block_q8_0 *w = vw, *x = vx;
    const int64_t nb = n / GF_QK;
    float sumf = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int32_t isum = 0;
        for (int j = 0; j < GF_QK; j++) isum += (int32_t)w[b].qs[j] * (int32_t)x[b].qs[j];
        sumf += (float)isum * gf_fp16_to_fp32(w[b].d) * gf_fp16_to_fp32(x[b].d);
    }
    return sumf;
}

float gf_dot_q4_0_scalar(const void *vw, const void *vx, int64_t n) {
    const gf_block_q4_0 *w = vw;
    const gf_block_q8_0 *x = vx;
    const int64_t nb = n / GF_QK;
    float sumf = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int32_t isum = 0;
        for (int j = 0; j < GF_QK / 2; j++) {
            const int lo = (w[b].qs[j] & 0x0f) - 8, hi = (w[b].qs[j] >> 4) - 8;
            isum += lo * x[b].qs[j] + hi * x[b].qs[j + GF_QK / 2];
        }
        sumf += (float)isum * gf_fp16_to_fp32(w[b].d) * gf_fp16_to_fp32(x[b].d);
    }
    return sumf;
}

/* ---------------------------------------------------------------- packed Q4_0 */

void gf_pack_q4_0x8(const gf_block_q4_0 *src, int64_t nb, int64_t n_out, gf_block_q4_0x8 *dst) {
    const int64_t n_grp = (n_out + GF_Q4X8_ROWS - 1) / GF_Q4X8_ROWS;
    for (int64_t g = 0; g < n_grp; g++) {
        for (int64_t b = 0; b < nb; b++) {
            gf_block_q4_0x8 *o = &dst[g * nb + b];
            memset(o, 0, sizeof *o);
            for (int r = 0; r < GF_Q4X8_ROWS; r++) {
                const int64_t row = g * GF_Q4X8_ROWS + r;
                if (row >= n_out) continue; /* padding row: d = 0 contributes 0 */
                const gf_block_q4_0 *s = &src[row * nb + b];
                o->d[r] = s->d;
                for (int k = 0; k < 4; k++) memcpy(o->qs[k][r], &s->qs[4 * k], 4);
            }
        }
    }
}

void gf_pack_q8_0x8(const gf_block_q8_0 *src, int64_t nb, int64_t n_out, gf_block_q8_0x8 *dst) {
    const int64_t n_grp = (n_out + GF_Q4X8_ROWS - 1) / GF_Q4X8_ROWS;
    for (int64_t g = 0; g < n_grp; g++) {
        for (int64_t b = 0; b < nb; b++) {
            gf_block_q8_0x8 *o = &dst[g * nb + b];
            memset(o, 0, sizeof *o);
            for (int r = 0; r < GF_Q4X8_ROWS; r++) {
                const int64_t row = g * GF_Q4X8_ROWS + r;
                if (row >= n_out) continue;
                const gf_block_q8_0 *s = &src[row * nb + b];
                o->d[r] = s->d;
                for (int k = 0; k < 8; k++) memcpy(o->qs[k][r], &s->qs[4 * k], 4);
            }
        }
    }
}

/* The float steps are the ones every SIMD packed kernel does per lane (scale =
 * d_w * d_x, then one fused multiply-add per block), so that kernel and this one
 * agree bit for bit and the packed kernels are tested exactly. */
void gf_gemm_q4x8_scalar(const gf_block_q4_0x8 *w, int64_t nb, const gf_block_q8_0 *x,
                         const int32_t *xsum, int64_t ldx, int n_tok, float *y, int64_t ldy) {
    for (int t = 0; t < n_tok; t++) {
        const gf_block_q8_0 *xt = x + t * ldx;
        const int32_t *st = xsum + t * ldx;
        for (int r = 0; r < GF_Q4X8_ROWS; r++) {
            float acc = 0.0f;
            for (int64_t b = 0; b < nb; b++) {
                int32_t isum = 0;
                for (int k = 0; k < 4; k++)
                    for (int i = 0; i < 4; i++) {
                        const uint8_t q = w[b].qs[k][r][i];
                        isum += (q & 0x0f) * xt[b].qs[4 * k + i] + (q >> 4) * xt[b].qs[16 + 4 * k + i];
                    }
                isum -= 8 * st[b]; /* the -8 offset of every nibble, applied once */
                const float scale = gf_fp16_to_fp32(w[b].d[r]) * gf_fp16_to_fp32(xt[b].d);
                acc = fmaf((float)isum, scale, acc);
            }
            y[t * ldy + r] = acc;
        }
    }
}

void gf_gemm_q8x8_scalar(const gf_block_q8_0x8 *w, int64_t nb, const gf_block_q8_0 *x, int64_t ldx,
                         int n_tok, float *y, int64_t ldy) {
    for (int t = 0; t < n_tok; t++) {
        const gf_block_q8_0 *xt = x + t * ldx;
        for (int r = 0; r < GF_Q4X8_ROWS; r++) {
            float acc = 0.0f;
            for (int64_t b = 0; b < nb; b++) {
                int32_t isum = 0;
                for (int k = 0; k < 8; k++)
                    for (int i = 0; i < 4; i++) isum += w[b].qs[k][r][i] * xt[b].qs[4 * k + i];
                const float scale = gf_fp16_to_fp32(w[b].d[r]) * gf_fp16_to_fp32(xt[b].d);
                acc = fmaf((float)isum, scale, acc);
            }
            y[t * ldy + r] = acc;
        }
    }
}

const gf_kernel_ops gf_kernel_ops_scalar = {
    .ks = GF_KERNELS_SCALAR,
    .vec_dot = {
        [GF_TYPE_F32] = gf_dot_f32_scalar,
        [GF_TYPE_F16] = gf_dot_f16_scalar,
        [GF_TYPE_Q4_0] = gf_dot_q4_0_scalar,
        [GF_TYPE_Q8_0] = gf_dot_q8_0_scalar,
    },
    .from_float = {
        [GF_TYPE_F16] = gf_to_f16_scalar,
        [GF_TYPE_Q8_0] = gf_quantize_q8_0_scalar,
    },
    .gemm_q4x8 = NULL, /* the reference dots rows in file order, like GGML's */
    .gemm_q8x8 = NULL,
};
