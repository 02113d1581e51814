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
 * engine/kernels_scalar.c.  A read-only type (one gguf-forge reads from a GGUF
 * but neither writes nor multiplies) is its id, its struct, its dequantizer in
 * dequant.c and its table entry: types.h, dequant.c, types.c.
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
    GF_TYPE_Q4_1 = 3,
    GF_TYPE_Q5_0 = 6,
    GF_TYPE_Q5_1 = 7,
    GF_TYPE_Q8_0 = 8,
    GF_TYPE_Q2_K = 10,
    GF_TYPE_Q3_K = 11,
    GF_TYPE_Q4_K = 12,
    GF_TYPE_Q5_K = 13,
    GF_TYPE_Q6_K = 14,
    GF_TYPE_IQ4_NL = 20,
    GF_TYPE_IQ4_XS = 23,
    GF_TYPE_BF16 = 30,
    GF_TYPE_COUNT_ /* one past the largest id: the size of per-type arrays */
} gf_type;

#define GF_QK 32        /* elements per Q4_0 / Q4_1 / Q5_0 / Q5_1 / Q8_0 / IQ4_NL block */
#define GF_QK_K 256     /* elements per K-quant (and IQ4_XS) super-block          */
#define GF_K_SCALES 12  /* bytes of the packed 6-bit scales of Q3_K / Q4_K / Q5_K */

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

/* The read-only blocks below (GGML's ggml-common.h layouts): dequantized by
 * dequant.c, never written or multiplied.  "half" is an IEEE fp16. */

typedef struct {
    uint16_t d, m;           /* scale and minimum, half: x = q*d + m            */
    uint8_t qs[GF_QK / 2];   /* as Q4_0                                         */
} gf_block_q4_1;
_Static_assert(sizeof(gf_block_q4_1) == 20, "Q4_1 block must be 20 bytes");

typedef struct {
    uint16_t d;              /* scale, half: x = (q - 16)*d                     */
    uint8_t qh[4];           /* bit j of the little-endian u32: 5th bit of q[j] */
    uint8_t qs[GF_QK / 2];   /* low 4 bits, as Q4_0                             */
} gf_block_q5_0;
_Static_assert(sizeof(gf_block_q5_0) == 22, "Q5_0 block must be 22 bytes");

typedef struct {
    uint16_t d, m;           /* x = q*d + m                                     */
    uint8_t qh[4];
    uint8_t qs[GF_QK / 2];
} gf_block_q5_1;
_Static_assert(sizeof(gf_block_q5_1) == 24, "Q5_1 block must be 24 bytes");

typedef struct {
    uint8_t scales[GF_QK_K / 16]; /* per 16: low nibble scale, high nibble min  */
    uint8_t qs[GF_QK_K / 4];      /* 2-bit quants                               */
    uint16_t d, dmin;             /* half super-scales of the scales and mins   */
} gf_block_q2_k;
_Static_assert(sizeof(gf_block_q2_k) == 84, "Q2_K block must be 84 bytes");

typedef struct {
    uint8_t hmask[GF_QK_K / 8];   /* high bit (set: no -4)                      */
    uint8_t qs[GF_QK_K / 4];      /* low 2 bits                                 */
    uint8_t scales[GF_K_SCALES];  /* 16 6-bit scales, packed                    */
    uint16_t d;                   /* half super-scale                           */
} gf_block_q3_k;
_Static_assert(sizeof(gf_block_q3_k) == 110, "Q3_K block must be 110 bytes");

typedef struct {
    uint16_t d, dmin;             /* half super-scales                          */
    uint8_t scales[GF_K_SCALES];  /* 8 6-bit scales and 8 6-bit mins, packed    */
    uint8_t qs[GF_QK_K / 2];      /* 4-bit quants                               */
} gf_block_q4_k;
_Static_assert(sizeof(gf_block_q4_k) == 144, "Q4_K block must be 144 bytes");

typedef struct {
    uint16_t d, dmin;
    uint8_t scales[GF_K_SCALES];
    uint8_t qh[GF_QK_K / 8];      /* 5th bits                                   */
    uint8_t qs[GF_QK_K / 2];      /* low 4 bits                                 */
} gf_block_q5_k;
_Static_assert(sizeof(gf_block_q5_k) == 176, "Q5_K block must be 176 bytes");

typedef struct {
    uint8_t ql[GF_QK_K / 2];      /* low 4 bits                                 */
    uint8_t qh[GF_QK_K / 4];      /* high 2 bits                                */
    int8_t scales[GF_QK_K / 16];  /* 8-bit scales, one per 16                   */
    uint16_t d;                   /* half super-scale                           */
} gf_block_q6_k;
_Static_assert(sizeof(gf_block_q6_k) == 210, "Q6_K block must be 210 bytes");

typedef struct {
    uint16_t d;                   /* half scale: x = d*kvalues[q]               */
    uint8_t qs[GF_QK / 2];        /* 4-bit indices, as Q4_0                     */
} gf_block_iq4_nl;
_Static_assert(sizeof(gf_block_iq4_nl) == 18, "IQ4_NL block must be 18 bytes");

typedef struct {
    uint16_t d;                   /* half super-scale                           */
    uint16_t scales_h;            /* high 2 bits of the 8 6-bit scales          */
    uint8_t scales_l[GF_QK_K / 64]; /* low 4 bits of the scales                 */
    uint8_t qs[GF_QK_K / 2];      /* 4-bit indices                              */
} gf_block_iq4_xs;
_Static_assert(sizeof(gf_block_iq4_xs) == 136, "IQ4_XS block must be 136 bytes");

/* ---------------------------------------------------------------- traits */

/* k elements (a multiple of the block size) of one row. */
typedef void (*gf_to_float_fn)(const void *src, float *dst, int64_t k);
typedef void (*gf_from_float_fn)(const float *src, void *dst, int64_t k);
/* 1 and the blocks when every block of the k floats is exactly on the type's grid, else 0. */
typedef int (*gf_from_grid_fn)(const float *src, void *dst, int64_t k);
/* k activations (a multiple of the weight type's block) replaced in place by what
 * llama.cpp's CPU dot of that type sees of them: rounded to its vec_dot_type and
 * decoded again. */
typedef void (*gf_act_round_fn)(float *x, int64_t k);

typedef struct {
    const char *name;              /* "q4_0"                                          */
    int64_t block_size;            /* elements per block (1 for float types)          */
    size_t type_size;              /* bytes per block                                 */
    int is_quantized;              /* a block format with scales (not a float type)   */
    gf_to_float_fn to_float;       /* dequantize a row                                */
    gf_from_float_fn from_float_ref; /* the reference quantizer that writes files; NULL:
                                      * this version cannot write the type            */
    gf_from_grid_fn from_grid;     /* weights already on the grid written exactly (a
                                    * QAT checkpoint, a dequantized file); or NULL    */
    int can_matmul;                /* a weight matrix of this type may be multiplied:
                                    * the scalar kernel set has its dot               */
    gf_type vec_dot_type;          /* the activation type its dot pairs with          */
    uint32_t file_type;            /* GGUF general.file_type of a model "mostly" this */
    /* Types without a dot (the engine widens them to F32 at load): llama.cpp's activation
     * rounding for them (Q8_K for the K-quants and IQ4_XS, Q8_0 blocks for the 32-blocks,
     * BF16), applied before the F32 product so that it sums what llama.cpp's integer dot
     * sums.  NULL: the activations are used as they are. */
    gf_act_round_fn act_round;
    int one_scale;                 /* a block is its fp16 scale d (bytes 0-1), then codes
                                    * whose values are integers q with x = q*d exactly
                                    * (Q4_0, Q8_0): what `tune` adjusts                 */
} gf_type_traits;

/* NULL for a type id this version does not know. */
const gf_type_traits *gf_type_info(uint32_t type);
/* The type's name, or "unknown". */
const char *gf_type_name(uint32_t type);
/* GGML's name for any type id GGML defines ("iq2_xxs"), read or not; "unknown" else
 * (for messages that refuse a type). */
const char *gf_ggml_type_name(uint32_t type);
/* Parses a type name ("f32", "q8_0", ...; case-insensitive); -1 if unknown. */
int gf_type_from_name(const char *name);
/* Bytes of a row of ne0 elements, 0 if ne0 is not a multiple of the block size. */
size_t gf_row_size(gf_type t, int64_t ne0);

/* Queries; all 0 for an unknown id. */
int gf_type_is_quantized(gf_type t);
int gf_type_can_read(gf_type t);   /* has a dequantizer: a GGUF input may hold it */
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

/* The read-only types' dequantizers (dequant.c), each as GGML's dequantize_row_*,
 * bit for bit; src is an array of that type's blocks, k a multiple of its block. */
void gf_dequantize_row_q4_1(const void *src, float *y, int64_t k);
void gf_dequantize_row_q5_0(const void *src, float *y, int64_t k);
void gf_dequantize_row_q5_1(const void *src, float *y, int64_t k);
void gf_dequantize_row_q2_k(const void *src, float *y, int64_t k);
void gf_dequantize_row_q3_k(const void *src, float *y, int64_t k);
void gf_dequantize_row_q4_k(const void *src, float *y, int64_t k);
void gf_dequantize_row_q5_k(const void *src, float *y, int64_t k);
void gf_dequantize_row_q6_k(const void *src, float *y, int64_t k);
void gf_dequantize_row_iq4_nl(const void *src, float *y, int64_t k);
void gf_dequantize_row_iq4_xs(const void *src, float *y, int64_t k);

/* Float rows to/from any type the table can convert (from_float_ref / to_float).
 * dst must hold gf_row_size(type, k) bytes. Returns 0, or -1 for a type without
 * that function or a k that is not a multiple of the type's block size. */
int gf_quantize_row(gf_type type, const float *x, void *dst, int64_t k);
int gf_dequantize_row(gf_type type, const void *src, float *y, int64_t k);
/* 1 when every block of the k floats is exactly representable in `type` (Q4_0:
 * d*(q-8), Q8_0: d*q, d an fp16 value), with the blocks written to dst and no
 * second rounding; 0 otherwise (dst then undefined), and for a type without a grid. */
int gf_quantize_row_exact(gf_type type, const float *x, void *dst, int64_t k);

/* Dequantizes k elements of tensor `name` (dequant.c) and refuses the result if an
 * element is NaN or Inf: for a block type that is a NaN or Inf fp16 scale (llama.cpp
 * dequantizes it to NaN/Inf without a word; finite halves times the small quants
 * cannot overflow), for a float type the value itself.  GF_E_FORMAT names the tensor,
 * the type, the element and the block; GF_E_UNSUPPORTED a type without to_float. */
gf_status gf_dequantize_checked(gf_type type, const void *src, float *y, int64_t k, const char *name, gf_err *err);

#endif /* GF_TYPES_H */
