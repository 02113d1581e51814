/*
 * types.h - the tensor element types: GGML's type ids, the block structs
 * (bit-compatible with GGML's, the bytes of a GGUF file) and ONE traits table
 * that carries the whole type, as ggml's type_traits do: name, block size, bytes
 * per block, dequantizer, reference quantizer, whether the engine multiplies it
 * and with which activation type, and the GGUF file_type it stands for.
 *
 * Below both engine/ and quantizers/, as ggml keeps its blocks in ggml-common.h.
 * Only the from_float_ref functions write file blocks; SIMD code may quantize
 * activations but never weights that go to disk.
 *
 * A new block type: its id in gf_type, its block struct here, its table entry
 * (with to_float / from_float_ref) in types.c, and its scalar dot in
 * engine/kernels_scalar.c.
 */
#ifndef GF_TYPES_H
#define GF_TYPES_H

#include "gf.h"

/* ---------------------------------------------------------------- ids */

/* Tensor element types; values are GGML's type ids, as written into GGUF. */
typedef enum {
    GF_TYPE_F32  = 0,
    GF_TYPE_F16  = 1,
    GF_TYPE_Q4_0 = 2,
    GF_TYPE_Q8_0 = 8,
    GF_TYPE_BF16 = 30,
    GF_TYPE_COUNT_ /* one past the largest id: the size of per-type arrays */
} gf_type;

#define GF_QK 32 /* elements per Q4_0 / Q8_0 block */

/* ---------------------------------------------------------------- blocks */

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

/* ---------------------------------------------------------------- traits */

/* k elements (a multiple of the block size) of one row. */
typedef void (*gf_to_float_fn)(const void *src, float *dst, int64_t k);
typedef void (*gf_from_float_fn)(const float *src, void *dst, int64_t k);

typedef struct {
    const char *name;              /* "q4_0"                                          */
    int64_t block_size;            /* elements per block (1 for float types)          */
    size_t type_size;              /* bytes per block                                 */
    int is_quantized;              /* a block format with scales (not a float type)   */
    gf_to_float_fn to_float;       /* dequantize a row                                */
    gf_from_float_fn from_float_ref; /* the reference quantizer that writes files; NULL:
                                      * this version cannot write the type            */
    int can_matmul;                /* a weight matrix of this type may be multiplied:
                                    * the scalar kernel set has its dot               */
    gf_type vec_dot_type;          /* the activation type its dot pairs with          */
    uint32_t file_type;            /* GGUF general.file_type of a model "mostly" this */
} gf_type_traits;

/* NULL for a type id this version does not know. */
const gf_type_traits *gf_type_info(uint32_t type);
/* The type's name, or "unknown". */
const char *gf_type_name(uint32_t type);
/* Parses a type name ("f32", "q8_0", ...; case-insensitive); -1 if unknown. */
int gf_type_from_name(const char *name);
/* Bytes of a row of ne0 elements, 0 if ne0 is not a multiple of the block size. */
size_t gf_row_size(gf_type t, int64_t ne0);

/* Queries; all 0 for an unknown id. */
int gf_type_is_quantized(gf_type t);
int gf_type_can_write(gf_type t);  /* has a reference quantizer */
int gf_type_can_matmul(gf_type t); /* a weight matrix of this type can be multiplied */
/* The names of the types a query holds for, "f32, f16, ...", into buf (for messages). */
const char *gf_type_list(int (*pred)(gf_type), char *buf, size_t size);

/* ---------------------------------------------------------------- rows */

/* Round-to-nearest quantization of k floats (k a multiple of 32), as GGML's
 * quantize_row_q{4,8}_0_ref: multiplies by 1/d computed in float. */
void gf_quantize_row_q4_0_ref(const float *x, gf_block_q4_0 *y, int64_t k);
void gf_quantize_row_q8_0_ref(const float *x, gf_block_q8_0 *y, int64_t k);
void gf_dequantize_row_q4_0(const gf_block_q4_0 *x, float *y, int64_t k);
void gf_dequantize_row_q8_0(const gf_block_q8_0 *x, float *y, int64_t k);

/* Float rows to/from any type the table can convert (from_float_ref / to_float).
 * dst must hold gf_row_size(type, k) bytes. Returns 0, or -1 for a type without
 * that function or a k that is not a multiple of the type's block size. */
int gf_quantize_row(gf_type type, const float *x, void *dst, int64_t k);
int gf_dequantize_row(gf_type type, const void *src, float *y, int64_t k);

#endif /* GF_TYPES_H */
