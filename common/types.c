/*
 * types.c - the type traits table and the scalar reference quantizers for the
 * Q4_0 and Q8_0 block formats (the dequantizers of the read-only types are in
 * dequant.c).
 *
 * The quantizers decide the bytes written to disk and must match GGML's reference
 * rounding bit for bit (tested against llama-quantize output in tests/test_convert.c).
 * This file is compiled with -ffp-contract=off: an FMA in `x*id + 8.5f` changes the
 * result; rounding to nearest is done without libm (round_away) so the loop stays
 * inline.  Per-tensor search methods (OMSE, AWQ, AutoRound) live elsewhere and call
 * these.
 */
#include "types.h"

#include <math.h>
#include <stdio.h>
#include <strings.h>

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

/* ---------------------------------------------------------------- weights already on the grid */

/* A candidate scale d (a float that must be an fp16 value) and a block's 32 floats:
 * 1 and q[] when every x = (float)q * d exactly with q in [lo, hi]. */
static int block_on_scale(const float *x, float d, int lo, int hi, int *q) {
    if (!(d != 0.0f) || !isfinite(d) || gf_fp16_to_fp32(gf_fp32_to_fp16(d)) != d) return 0;
    for (int j = 0; j < GF_QK; j++) {
        float r = x[j] / d;
        if (!(r >= (float)lo && r <= (float)hi)) return 0;
        int qi = round_away(r);
        if ((float)qi * d != x[j]) return 0;
        q[j] = qi;
    }
    return 1;
}

/* Blocks of x that are exactly d*(q-8) (Q4_0) or d*q (Q8_0) for an fp16 d, written
 * with that d and those q and no second rounding.  The block's largest magnitude m
 * fixes d = m/k for a level k; the levels are tried from the one the reference
 * quantizer gives it (-8 for Q4_0, 127 for Q8_0) outwards, so a block written by
 * GGML's rounding comes back to its own bytes.  Returns 1 when every block was
 * exact (dst then holds them all), 0 at the first block that is not. */
static int grid_blocks(const float *x, uint8_t *dst, int64_t k, int q8) {
    int q[GF_QK];
    for (int64_t b = 0; b < k / GF_QK; b++, x += GF_QK) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < GF_QK; j++)
            if (amax < fabsf(x[j])) amax = fabsf(x[j]), max = x[j];
        float d = 0.0f;
        int ok = amax == 0.0f;
        if (ok) for (int j = 0; j < GF_QK; j++) q[j] = 0, ok &= x[j] == 0.0f;
        for (int i = 0; !ok && i < (q8 ? 127 : 15); i++) {
            int lev = q8 ? 127 - i : (i % 2 ? 7 - i / 2 : -8 + i / 2); /* Q4_0: -8, 7, -7, 6, ..., -1 */
            d = (q8 ? amax : max) / (float)lev;
            ok = block_on_scale(x, d, q8 ? -127 : -8, q8 ? 127 : 7, q);
        }
        if (!ok) return 0;
        if (q8) {
            gf_block_q8_0 *y = (gf_block_q8_0 *)dst + b;
            y->d = gf_fp32_to_fp16(d);
            for (int j = 0; j < GF_QK; j++) y->qs[j] = (int8_t)q[j];
        } else {
            gf_block_q4_0 *y = (gf_block_q4_0 *)dst + b;
            y->d = gf_fp32_to_fp16(d);
            for (int j = 0; j < GF_QK / 2; j++) y->qs[j] = (uint8_t)((q[j] + 8) | (q[j + GF_QK / 2] + 8) << 4);
        }
    }
    return 1;
}

static int q4_0_from_grid(const float *x, void *dst, int64_t k) { return grid_blocks(x, dst, k, 0); }
static int q8_0_from_grid(const float *x, void *dst, int64_t k) { return grid_blocks(x, dst, k, 1); }

int gf_quantize_row_exact(gf_type type, const float *x, void *dst, int64_t k) {
    const gf_type_traits *tt = gf_type_info(type);
    if (!tt || !tt->from_grid || k % tt->block_size) return 0;
    return tt->from_grid(x, dst, k);
}

/* ---------------------------------------------------------------- float rows */

static void f32_to_float(const void *src, float *y, int64_t k) { memcpy(y, src, (size_t)k * sizeof(float)); }
static void f32_from_float(const float *x, void *dst, int64_t k) { memcpy(dst, x, (size_t)k * sizeof(float)); }

static void f16_to_float(const void *src, float *y, int64_t k) {
    const uint16_t *h = src;
    for (int64_t i = 0; i < k; i++) y[i] = gf_fp16_to_fp32(h[i]);
}

static void f16_from_float(const float *x, void *dst, int64_t k) {
    uint16_t *h = dst;
    for (int64_t i = 0; i < k; i++) h[i] = gf_fp32_to_fp16(x[i]);
}

static void bf16_to_float(const void *src, float *y, int64_t k) {
    const uint16_t *h = src;
    for (int64_t i = 0; i < k; i++) y[i] = gf_bf16_to_fp32(h[i]);
}

static void q4_0_to_float(const void *src, float *y, int64_t k) { gf_dequantize_row_q4_0(src, y, k); }
static void q4_0_from_float(const float *x, void *dst, int64_t k) { gf_quantize_row_q4_0_ref(x, dst, k); }
static void q8_0_to_float(const void *src, float *y, int64_t k) { gf_dequantize_row_q8_0(src, y, k); }
static void q8_0_from_float(const float *x, void *dst, int64_t k) { gf_quantize_row_q8_0_ref(x, dst, k); }

/* ---------------------------------------------------------------- activation rounding */

/* What llama.cpp's CPU dots do to the activations of the types the engine widens (see
 * act_round in types.h).  Decoding the rounded activations and summing their products with
 * the dequantized weights in float is, in exact arithmetic, llama.cpp's integer dot times
 * its scales (the K-quants' mins enter through Q8_K's block sums, which are exact); what
 * is left is the order of float operations.  Not emulated: Q8_1's fp16 sum term s, which
 * Q4_1 and Q5_1 dots use for their minimum (these get Q8_0's rounding, whose quants and
 * scale are Q8_1's). */

/* Q8_K (ggml's quantize_row_q8_K_ref): per 256, q = nearest-even(x * -127/max) capped at
 * 127, max the element of largest magnitude (first of equals), d = 1/iscale a float. */
static void act_round_q8_k(float *x, int64_t k) {
    for (int64_t b = 0; b < k / GF_QK_K; b++, x += GF_QK_K) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < GF_QK_K; j++)
            if (fabsf(x[j]) > amax) amax = fabsf(x[j]), max = x[j];
        if (amax == 0.0f) {
            for (int j = 0; j < GF_QK_K; j++) x[j] = 0.0f;
            continue;
        }
        const float iscale = -127.0f / max, d = 1.0f / iscale;
        for (int j = 0; j < GF_QK_K; j++) {
            int q = (int)rintf(iscale * x[j]); /* ties to even, as ggml's nearest_int */
            x[j] = d * (float)(q < 127 ? q : 127);
        }
    }
}

/* Q8_0 blocks, as the engine's own Q4_0/Q8_0 activations (bit-identical to llama.cpp's). */
static void act_round_q8_0(float *x, int64_t k) {
    gf_block_q8_0 blk;
    for (int64_t b = 0; b < k / GF_QK; b++, x += GF_QK) {
        gf_quantize_row_q8_0_ref(x, &blk, GF_QK);
        gf_dequantize_row_q8_0(&blk, x, GF_QK);
    }
}

/* BF16, rounded to nearest even (ggml's fp32 -> bf16; activations are finite). */
static void act_round_bf16(float *x, int64_t k) {
    for (int64_t i = 0; i < k; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        u = (u + 0x7fff + ((u >> 16) & 1)) & 0xffff0000u;
        memcpy(&x[i], &u, 4);
    }
}

/* ---------------------------------------------------------------- the table */

/* file_type: llama.cpp's LLAMA_FTYPE_ALL_F32 = 0, MOSTLY_F16 = 1, MOSTLY_Q4_0 = 2,
 * MOSTLY_Q8_0 = 7, MOSTLY_BF16 = 32; for the read-only types MOSTLY_Q4_1 = 3, Q5_0 = 8,
 * Q5_1 = 9, Q2_K = 10, Q3_K_M = 12, Q4_K_M = 15, Q5_K_M = 17, Q6_K = 18, IQ4_NL = 25,
 * IQ4_XS = 30 (a K type's _S/_M/_L mixes all share its block; _M is named).
 * Read-only entries (dequant.c): a GGUF input may hold them; no from_float_ref, no dot. */
#define READ_ONLY(nm, bs, st, fn, ft, ar) \
    { .name = nm, .block_size = bs, .type_size = sizeof(st), .is_quantized = 1, .to_float = fn, .file_type = ft, \
      .act_round = ar }
static const gf_type_traits type_traits[GF_TYPE_COUNT_] = {
    [GF_TYPE_F32]  = { .name = "f32", .block_size = 1, .type_size = 4,
                       .to_float = f32_to_float, .from_float_ref = f32_from_float,
                       .can_matmul = 1, .vec_dot_type = GF_TYPE_F32, .file_type = 0 },
    [GF_TYPE_F16]  = { .name = "f16", .block_size = 1, .type_size = 2,
                       .to_float = f16_to_float, .from_float_ref = f16_from_float,
                       .can_matmul = 1, .vec_dot_type = GF_TYPE_F16, .file_type = 1 },
    [GF_TYPE_Q4_0] = { .name = "q4_0", .block_size = GF_QK, .type_size = sizeof(gf_block_q4_0), .is_quantized = 1,
                       .to_float = q4_0_to_float, .from_float_ref = q4_0_from_float, .from_grid = q4_0_from_grid,
                       .can_matmul = 1, .vec_dot_type = GF_TYPE_Q8_0, .file_type = 2, .one_scale = 1 },
    [GF_TYPE_Q8_0] = { .name = "q8_0", .block_size = GF_QK, .type_size = sizeof(gf_block_q8_0), .is_quantized = 1,
                       .to_float = q8_0_to_float, .from_float_ref = q8_0_from_float, .from_grid = q8_0_from_grid,
                       .can_matmul = 1, .vec_dot_type = GF_TYPE_Q8_0, .file_type = 7, .one_scale = 1 },
    [GF_TYPE_Q4_1]   = READ_ONLY("q4_1", GF_QK, gf_block_q4_1, gf_dequantize_row_q4_1, 3, act_round_q8_0),
    [GF_TYPE_Q5_0]   = READ_ONLY("q5_0", GF_QK, gf_block_q5_0, gf_dequantize_row_q5_0, 8, act_round_q8_0),
    [GF_TYPE_Q5_1]   = READ_ONLY("q5_1", GF_QK, gf_block_q5_1, gf_dequantize_row_q5_1, 9, act_round_q8_0),
    [GF_TYPE_Q2_K]   = READ_ONLY("q2_K", GF_QK_K, gf_block_q2_k, gf_dequantize_row_q2_k, 10, act_round_q8_k),
    [GF_TYPE_Q3_K]   = READ_ONLY("q3_K", GF_QK_K, gf_block_q3_k, gf_dequantize_row_q3_k, 12, act_round_q8_k),
    [GF_TYPE_Q4_K]   = READ_ONLY("q4_K", GF_QK_K, gf_block_q4_k, gf_dequantize_row_q4_k, 15, act_round_q8_k),
    [GF_TYPE_Q5_K]   = READ_ONLY("q5_K", GF_QK_K, gf_block_q5_k, gf_dequantize_row_q5_k, 17, act_round_q8_k),
    [GF_TYPE_Q6_K]   = READ_ONLY("q6_K", GF_QK_K, gf_block_q6_k, gf_dequantize_row_q6_k, 18, act_round_q8_k),
    [GF_TYPE_IQ4_NL] = READ_ONLY("iq4_nl", GF_QK, gf_block_iq4_nl, gf_dequantize_row_iq4_nl, 25, act_round_q8_0),
    [GF_TYPE_IQ4_XS] = READ_ONLY("iq4_xs", GF_QK_K, gf_block_iq4_xs, gf_dequantize_row_iq4_xs, 30, act_round_q8_k),
    [GF_TYPE_BF16] = { .name = "bf16", .block_size = 1, .type_size = 2,
                       .to_float = bf16_to_float, /* read from safetensors and GGUF, never written */
                       .vec_dot_type = GF_TYPE_BF16, .file_type = 32, .act_round = act_round_bf16 },
};

const gf_type_traits *gf_type_info(uint32_t type) {
    if (type >= GF_TYPE_COUNT_) return NULL;
    return type_traits[type].name ? &type_traits[type] : NULL;
}

const char *gf_type_name(uint32_t type) {
    const gf_type_traits *tt = gf_type_info(type);
    return tt ? tt->name : "unknown";
}

const char *gf_ggml_type_name(uint32_t type) {
    static const char *const ggml_names[] = {
        [0] = "f32", [1] = "f16", [2] = "q4_0", [3] = "q4_1", [6] = "q5_0", [7] = "q5_1", [8] = "q8_0", [9] = "q8_1",
        [10] = "q2_K", [11] = "q3_K", [12] = "q4_K", [13] = "q5_K", [14] = "q6_K", [15] = "q8_K", [16] = "iq2_xxs",
        [17] = "iq2_xs", [18] = "iq3_xxs", [19] = "iq1_s", [20] = "iq4_nl", [21] = "iq3_s", [22] = "iq2_s",
        [23] = "iq4_xs", [24] = "i8", [25] = "i16", [26] = "i32", [27] = "i64", [28] = "f64", [29] = "iq1_m",
        [30] = "bf16", [34] = "tq1_0", [35] = "tq2_0",
    };
    return type < sizeof ggml_names / sizeof *ggml_names && ggml_names[type] ? ggml_names[type] : "unknown";
}

int gf_type_from_name(const char *name) {
    for (int i = 0; i < GF_TYPE_COUNT_; i++)
        if (type_traits[i].name && name && strcasecmp(type_traits[i].name, name) == 0) return i;
    return -1;
}

size_t gf_row_size(gf_type t, int64_t ne0) {
    const gf_type_traits *tt = gf_type_info(t);
    if (!tt || ne0 < 0 || ne0 % tt->block_size) return 0;
    return (size_t)(ne0 / tt->block_size) * tt->type_size;
}

int gf_type_is_quantized(gf_type t) {
    const gf_type_traits *tt = gf_type_info(t);
    return tt && tt->is_quantized;
}

int gf_type_can_read(gf_type t) {
    const gf_type_traits *tt = gf_type_info(t);
    return tt && tt->to_float;
}

int gf_type_can_write(gf_type t) {
    const gf_type_traits *tt = gf_type_info(t);
    return tt && tt->from_float_ref;
}

int gf_type_can_matmul(gf_type t) {
    const gf_type_traits *tt = gf_type_info(t);
    return tt && tt->can_matmul;
}

const char *gf_type_list(int (*pred)(gf_type), char *buf, size_t size) {
    size_t at = 0;
    if (size) buf[0] = '\0';
    for (int i = 0; i < GF_TYPE_COUNT_ && size; i++) {
        if (!type_traits[i].name || !pred((gf_type)i)) continue;
        int n = snprintf(buf + at, size - at, "%s%s", at ? ", " : "", type_traits[i].name);
        if (n < 0 || (size_t)n >= size - at) break; /* truncated: what fits stays */
        at += (size_t)n;
    }
    return buf;
}

/* ---------------------------------------------------------------- any type */

int gf_quantize_row(gf_type type, const float *x, void *dst, int64_t k) {
    const gf_type_traits *tt = gf_type_info(type);
    if (!tt || !tt->from_float_ref || k < 0 || k % tt->block_size) return -1;
    tt->from_float_ref(x, dst, k);
    return 0;
}

int gf_dequantize_row(gf_type type, const void *src, float *y, int64_t k) {
    const gf_type_traits *tt = gf_type_info(type);
    if (!tt || !tt->to_float || k < 0 || k % tt->block_size) return -1;
    tt->to_float(src, y, k);
    return 0;
}
