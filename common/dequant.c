/*
 * dequant.c - dequantizers of the block types gguf-forge only reads (from a GGUF
 * input): Q4_1, Q5_0, Q5_1, the K-quants Q2_K..Q6_K, IQ4_NL and IQ4_XS.
 *
 * Each must give the floats of GGML's dequantize_row_* (ggml-quants.c, llama.cpp
 * c392e50) bit for bit; tests/test_dequant.c checks them against llama.cpp's own
 * output in reference-outputs/dequant.  Bit-exact means the same float operations
 * in the same order: every scale is first made a float (d * sc), then multiplied
 * by the quant and the minimum subtracted (or added), each rounded on its own.
 * The file is compiled with -ffp-contract=off so none of this becomes an FMA
 * (ggml-base has no FMA in these functions either).
 *
 * The block layouts are in types.h; the table entries that point here in types.c.
 */
#include "types.h"

#include <math.h>
#include <string.h>

/* IQ4_NL / IQ4_XS: the 16 non-linear levels a 4-bit index stands for (GGML's kvalues_iq4nl). */
static const int8_t iq4_levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/* ---------------------------------------------------------------- blocks of 32 */

void gf_dequantize_row_q4_1(const void *src, float *y, int64_t k) {
    const gf_block_q4_1 *x = src;
    for (int64_t b = 0; b < k / GF_QK; b++, y += GF_QK) {
        const float d = gf_fp16_to_fp32(x[b].d), m = gf_fp16_to_fp32(x[b].m);
        for (int j = 0; j < GF_QK / 2; j++) {
            y[j] = (float)(x[b].qs[j] & 0x0f) * d + m;
            y[j + GF_QK / 2] = (float)(x[b].qs[j] >> 4) * d + m;
        }
    }
}

/* The 5-bit quant j (0..31) of a Q5 block: nibble of byte j%16 and bit j of qh. */
static inline int q5_quant(const uint8_t *qs, uint32_t qh, int j) {
    const int lo = j < GF_QK / 2 ? qs[j] & 0x0f : qs[j - GF_QK / 2] >> 4;
    return lo | (int)((qh >> j) & 1) << 4;
}

void gf_dequantize_row_q5_0(const void *src, float *y, int64_t k) {
    const gf_block_q5_0 *x = src;
    for (int64_t b = 0; b < k / GF_QK; b++, y += GF_QK) {
        const float d = gf_fp16_to_fp32(x[b].d);
        uint32_t qh;
        memcpy(&qh, x[b].qh, sizeof qh); /* little-endian, as GGML's memcpy on x86/arm */
        for (int j = 0; j < GF_QK; j++) y[j] = (float)(q5_quant(x[b].qs, qh, j) - 16) * d;
    }
}

void gf_dequantize_row_q5_1(const void *src, float *y, int64_t k) {
    const gf_block_q5_1 *x = src;
    for (int64_t b = 0; b < k / GF_QK; b++, y += GF_QK) {
        const float d = gf_fp16_to_fp32(x[b].d), m = gf_fp16_to_fp32(x[b].m);
        uint32_t qh;
        memcpy(&qh, x[b].qh, sizeof qh);
        for (int j = 0; j < GF_QK; j++) y[j] = (float)q5_quant(x[b].qs, qh, j) * d + m;
    }
}

void gf_dequantize_row_iq4_nl(const void *src, float *y, int64_t k) {
    const gf_block_iq4_nl *x = src;
    for (int64_t b = 0; b < k / GF_QK; b++, y += GF_QK) {
        const float d = gf_fp16_to_fp32(x[b].d);
        for (int j = 0; j < GF_QK / 2; j++) {
            y[j] = d * (float)iq4_levels[x[b].qs[j] & 0x0f];
            y[j + GF_QK / 2] = d * (float)iq4_levels[x[b].qs[j] >> 4];
        }
    }
}

/* ---------------------------------------------------------------- K-quants */

/* Q2_K and Q3_K order a super-block as two halves of 128; half h, group g (0..3)
 * and element l (0..31) read the 2 bits at shift 2g of qs[32h + l] and use the
 * 16-element scale 8h + 2g + l/16. */

void gf_dequantize_row_q2_k(const void *src, float *y, int64_t k) {
    const gf_block_q2_k *x = src;
    for (int64_t b = 0; b < k / GF_QK_K; b++) {
        const float d = gf_fp16_to_fp32(x[b].d), dmin = gf_fp16_to_fp32(x[b].dmin);
        for (int h = 0; h < 2; h++)
            for (int g = 0; g < 4; g++)
                for (int l = 0; l < 32; l++) {
                    const uint8_t sc = x[b].scales[8 * h + 2 * g + l / 16];
                    const float dl = d * (float)(sc & 0x0f), ml = dmin * (float)(sc >> 4);
                    const int q = (x[b].qs[32 * h + l] >> (2 * g)) & 3;
                    *y++ = dl * (float)q - ml;
                }
    }
}

/* Q3_K's 16 6-bit scales, unpacked from 12 bytes: the low 4 bits are the nibbles of
 * bytes 0..7 (scales 0..7 low nibbles, 8..15 high nibbles), the high 2 bits of
 * scale i are bits 2*(i/4) of byte 8 + i%4. Returned minus 32. */
static void q3_k_scales(const uint8_t *p, int sc[16]) {
    for (int i = 0; i < 16; i++) {
        const int lo = i < 8 ? p[i] & 0x0f : p[i - 8] >> 4;
        const int hi = (p[8 + i % 4] >> (2 * (i / 4))) & 3;
        sc[i] = (lo | hi << 4) - 32;
    }
}

void gf_dequantize_row_q3_k(const void *src, float *y, int64_t k) {
    const gf_block_q3_k *x = src;
    for (int64_t b = 0; b < k / GF_QK_K; b++) {
        const float d = gf_fp16_to_fp32(x[b].d);
        int sc[16];
        q3_k_scales(x[b].scales, sc);
        for (int h = 0; h < 2; h++)
            for (int g = 0; g < 4; g++)
                for (int l = 0; l < 32; l++) {
                    const float dl = d * (float)sc[8 * h + 2 * g + l / 16];
                    const int lo = (x[b].qs[32 * h + l] >> (2 * g)) & 3;
                    const int high_set = x[b].hmask[l] & (1 << (4 * h + g));
                    *y++ = dl * (float)(lo - (high_set ? 0 : 4));
                }
    }
}

/* Q4_K / Q5_K: scale and min j (0..7) of the 6-bit pairs packed in 12 bytes
 * (GGML's get_scale_min_k4). */
static inline void k4_scale_min(const uint8_t *p, int j, int *sc, int *mn) {
    if (j < 4) {
        *sc = p[j] & 63;
        *mn = p[j + 4] & 63;
    } else {
        *sc = (p[j + 4] & 0x0f) | (p[j - 4] >> 6) << 4;
        *mn = (p[j + 4] >> 4) | (p[j] >> 6) << 4;
    }
}

/* Q4_K and Q5_K order a super-block as 4 chunks of 64: chunk c's first 32 are the
 * low nibbles of qs[32c..32c+31] with scale 2c, the next 32 the high nibbles with
 * scale 2c+1. Q5_K's 5th bit of element l of sub-block s is bit s of qh[l]. */
static void k_sub_block(float *y, const uint8_t *qs, const uint8_t *qh, const uint8_t *scales, int s, float d,
                        float dmin) {
    int sc, mn;
    k4_scale_min(scales, s, &sc, &mn);
    const float ds = d * (float)sc, ms = dmin * (float)mn;
    const int shift = 4 * (s & 1);
    for (int l = 0; l < 32; l++) {
        int q = (qs[l] >> shift) & 0x0f;
        if (qh && (qh[l] >> s) & 1) q += 16;
        y[l] = ds * (float)q - ms;
    }
}

void gf_dequantize_row_q4_k(const void *src, float *y, int64_t k) {
    const gf_block_q4_k *x = src;
    for (int64_t b = 0; b < k / GF_QK_K; b++, y += GF_QK_K) {
        const float d = gf_fp16_to_fp32(x[b].d), dmin = gf_fp16_to_fp32(x[b].dmin);
        for (int s = 0; s < 8; s++) k_sub_block(y + 32 * s, x[b].qs + 32 * (s / 2), NULL, x[b].scales, s, d, dmin);
    }
}

void gf_dequantize_row_q5_k(const void *src, float *y, int64_t k) {
    const gf_block_q5_k *x = src;
    for (int64_t b = 0; b < k / GF_QK_K; b++, y += GF_QK_K) {
        const float d = gf_fp16_to_fp32(x[b].d), dmin = gf_fp16_to_fp32(x[b].dmin);
        for (int s = 0; s < 8; s++) k_sub_block(y + 32 * s, x[b].qs + 32 * (s / 2), x[b].qh, x[b].scales, s, d, dmin);
    }
}

/* Q6_K: two halves of 128; in half h, element 32*g + l (g 0..3, l 0..31) takes
 * the nibble g/2 of ql[64h + 32*(g%2) + l], the 2 bits at shift 2g of qh[32h + l],
 * and scale 8h + 2g + l/16; x = (d*scale)*(q - 32). */
void gf_dequantize_row_q6_k(const void *src, float *y, int64_t k) {
    const gf_block_q6_k *x = src;
    for (int64_t b = 0; b < k / GF_QK_K; b++) {
        const float d = gf_fp16_to_fp32(x[b].d);
        for (int h = 0; h < 2; h++)
            for (int g = 0; g < 4; g++)
                for (int l = 0; l < 32; l++) {
                    const int lo = (x[b].ql[64 * h + 32 * (g % 2) + l] >> (4 * (g / 2))) & 0x0f;
                    const int hi = (x[b].qh[32 * h + l] >> (2 * g)) & 3;
                    const int q = (lo | hi << 4) - 32;
                    *y++ = d * (float)x[b].scales[8 * h + 2 * g + l / 16] * (float)q;
                }
    }
}

/* IQ4_XS: 8 sub-blocks of 32, each with a 6-bit scale (low 4 bits in scales_l,
 * high 2 in scales_h) minus 32, and IQ4_NL's levels laid out as in IQ4_NL. */
void gf_dequantize_row_iq4_xs(const void *src, float *y, int64_t k) {
    const gf_block_iq4_xs *x = src;
    for (int64_t b = 0; b < k / GF_QK_K; b++) {
        const float d = gf_fp16_to_fp32(x[b].d);
        for (int s = 0; s < 8; s++, y += 32) {
            const int ls = ((x[b].scales_l[s / 2] >> (4 * (s % 2))) & 0x0f) | ((x[b].scales_h >> (2 * s)) & 3) << 4;
            const float dl = d * (float)(ls - 32);
            const uint8_t *qs = x[b].qs + 16 * s;
            for (int j = 0; j < 16; j++) {
                y[j] = dl * (float)iq4_levels[qs[j] & 0x0f];
                y[j + 16] = dl * (float)iq4_levels[qs[j] >> 4];
            }
        }
    }
}

/* ---------------------------------------------------------------- checked */

gf_status gf_dequantize_checked(gf_type type, const void *src, float *y, int64_t k, const char *name, gf_err *err) {
    const gf_type_traits *tt = gf_type_info(type);
    GF_FAIL_IF(!tt || !tt->to_float, err, GF_E_UNSUPPORTED, "tensor '%s': type %s (id %u) cannot be dequantized", name,
               gf_ggml_type_name(type), (unsigned)type);
    GF_FAIL_IF(k < 0 || k % tt->block_size, err, GF_E_FORMAT,
               "tensor '%s': %lld elements are not a whole number of %s blocks of %lld", name, (long long)k, tt->name,
               (long long)tt->block_size);
    tt->to_float(src, y, k);
    for (int64_t i = 0; i < k; i++) {
        if (isfinite(y[i])) continue;
        if (tt->is_quantized)
            return gf_errf(err, GF_E_FORMAT, "tensor '%s' (%s): element %lld is %s: block %lld has a NaN or Inf fp16 "
                           "scale", name, tt->name, (long long)i, isnan(y[i]) ? "NaN" : "Inf",
                           (long long)(i / tt->block_size));
        return gf_errf(err, GF_E_FORMAT, "tensor '%s' (%s): element %lld is %s", name, tt->name, (long long)i,
                       isnan(y[i]) ? "NaN" : "Inf");
    }
    return GF_OK;
}
