/*
 * blocks.c - scalar reference quantizers for the Q4_0 and Q8_0 block formats.
 *
 * These decide the bytes written to disk and must match GGML's reference rounding
 * bit for bit (tested against llama-quantize output in tests/test_blocks.c).  They
 * are compiled with -ffp-contract=off: an FMA in `x*id + 8.5f` changes the result;
 * rounding to nearest is done without libm (round_away) so the loop stays inline.
 * Per-tensor search methods (OMSE, AWQ, AutoRound) live elsewhere and call these.
 */
#include "blocks.h"

#include <math.h>

/* roundf() for |v| < 2^31 without a libm call: v - trunc(v) is exact in float,
 * so comparing it with 1/2 rounds halves away from zero exactly as roundf does. */
static inline int round_away(float v) {
    int i = (int)v;
    float frac = v - (float)i;
    return i + (frac >= 0.5f) - (frac <= -0.5f);
}

void gf_quantize_row_q4_0_ref(const float *x, gf_block_q4_0 *y, int64_t k) {
    for (int64_t b = 0; b < k / GF_QK; b++, x += GF_QK) {
        float amax = 0.0f, max = 0.0f; /* max keeps the sign of the largest magnitude */
        for (int j = 0; j < GF_QK; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        const float d = max / -8;
        const float id = d ? 1.0f / d : 0.0f;
        y[b].d = gf_fp32_to_fp16(d);
        for (int j = 0; j < GF_QK / 2; j++) {
            const float x0 = x[j] * id, x1 = x[j + GF_QK / 2] * id;
            int q0 = (int8_t)(x0 + 8.5f), q1 = (int8_t)(x1 + 8.5f);
            q0 = q0 < 15 ? q0 : 15;
            q1 = q1 < 15 ? q1 : 15;
            y[b].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void gf_quantize_row_q8_0_ref(const float *x, gf_block_q8_0 *y, int64_t k) {
    for (int64_t b = 0; b < k / GF_QK; b++, x += GF_QK) {
        float amax = 0.0f;
        for (int j = 0; j < GF_QK; j++) amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax; /* inputs are finite */
        const float d = amax / 127;
        const float id = d ? 1.0f / d : 0.0f;
        y[b].d = gf_fp32_to_fp16(d);
        for (int j = 0; j < GF_QK; j++) y[b].qs[j] = (int8_t)round_away(x[j] * id);
    }
}

void gf_dequantize_row_q4_0(const gf_block_q4_0 *x, float *y, int64_t k) {
    for (int64_t b = 0; b < k / GF_QK; b++, y += GF_QK) {
        const float d = gf_fp16_to_fp32(x[b].d);
        for (int j = 0; j < GF_QK / 2; j++) {
            y[j] = (float)((x[b].qs[j] & 0x0f) - 8) * d;
            y[j + GF_QK / 2] = (float)((x[b].qs[j] >> 4) - 8) * d;
        }
    }
}

void gf_dequantize_row_q8_0(const gf_block_q8_0 *x, float *y, int64_t k) {
    for (int64_t b = 0; b < k / GF_QK; b++, y += GF_QK) {
        const float d = gf_fp16_to_fp32(x[b].d);
        for (int j = 0; j < GF_QK; j++) y[j] = (float)x[b].qs[j] * d;
    }
}

int gf_quantize_row(gf_type type, const float *x, void *dst, int64_t k) {
    switch (type) {
    case GF_TYPE_F32: memcpy(dst, x, (size_t)k * sizeof(float)); return 0;
    case GF_TYPE_F16: {
        uint16_t *h = dst;
        for (int64_t i = 0; i < k; i++) h[i] = gf_fp32_to_fp16(x[i]);
        return 0;
    }
    case GF_TYPE_Q8_0:
        if (k % GF_QK) return -1;
        gf_quantize_row_q8_0_ref(x, dst, k);
        return 0;
    case GF_TYPE_Q4_0:
        if (k % GF_QK) return -1;
        gf_quantize_row_q4_0_ref(x, dst, k);
        return 0;
    default: return -1;
    }
}

int gf_dequantize_row(gf_type type, const void *src, float *y, int64_t k) {
    switch (type) {
    case GF_TYPE_F32: memcpy(y, src, (size_t)k * sizeof(float)); return 0;
    case GF_TYPE_F16: {
        const uint16_t *h = src;
        for (int64_t i = 0; i < k; i++) y[i] = gf_fp16_to_fp32(h[i]);
        return 0;
    }
    case GF_TYPE_BF16: {
        const uint16_t *h = src;
        for (int64_t i = 0; i < k; i++) y[i] = gf_bf16_to_fp32(h[i]);
        return 0;
    }
    case GF_TYPE_Q8_0:
        if (k % GF_QK) return -1;
        gf_dequantize_row_q8_0(src, y, k);
        return 0;
    case GF_TYPE_Q4_0:
        if (k % GF_QK) return -1;
        gf_dequantize_row_q4_0(src, y, k);
        return 0;
    default: return -1;
    }
}
