/*
 * blocks.h - the Q4_0 and Q8_0 block formats and their scalar reference
 * quantizers, bit-compatible with GGML's (the bytes of a GGUF file).
 *
 * Only these _ref functions write file blocks; SIMD code may quantize
 * activations but never weights that go to disk.
 */
#ifndef GF_BLOCKS_H
#define GF_BLOCKS_H

#include "../common/gf.h"

typedef struct {
    uint16_t d;              /* scale, IEEE half                                */
    uint8_t qs[GF_QK / 2];   /* byte j: element j (low nibble), j+16 (high)     */
} gf_block_q4_0;
_Static_assert(sizeof(gf_block_q4_0) == 18, "Q4_0 block must be 18 bytes");

typedef struct {
    uint16_t d;              /* scale, IEEE half */
    int8_t qs[GF_QK];
} gf_block_q8_0;
_Static_assert(sizeof(gf_block_q8_0) == 34, "Q8_0 block must be 34 bytes");

/* Round-to-nearest quantization of k floats (k a multiple of 32), as GGML's
 * quantize_row_q{4,8}_0_ref: multiplies by 1/d computed in float. */
void gf_quantize_row_q4_0_ref(const float *x, gf_block_q4_0 *y, int64_t k);
void gf_quantize_row_q8_0_ref(const float *x, gf_block_q8_0 *y, int64_t k);
void gf_dequantize_row_q4_0(const gf_block_q4_0 *x, float *y, int64_t k);
void gf_dequantize_row_q8_0(const gf_block_q8_0 *x, float *y, int64_t k);

/* Float rows to/from any supported type (F32, F16, Q8_0, Q4_0; BF16 to float only).
 * dst must hold gf_row_size(type, k) bytes. Returns 0, or -1 for an unsupported type
 * or a k that is not a multiple of the type's block size. */
int gf_quantize_row(gf_type type, const float *x, void *dst, int64_t k);
int gf_dequantize_row(gf_type type, const void *src, float *y, int64_t k);

#endif /* GF_BLOCKS_H */
