/*
 * gguf.h - GGUF v3 reader and streaming writer.
 *
 * The reader parses untrusted files through one bounded cursor: every length and
 * count is checked against the bytes left, tensor data must lie inside the file,
 * aligned and contiguous.  The writer builds metadata in memory, then streams the
 * header and each tensor's data, in order, to a caller-supplied sink.
 * Spec: ggml/docs/gguf.md (version 3, little-endian).
 */
#ifndef GF_GGUF_H
#define GF_GGUF_H

#include "../common/types.h"

typedef enum {
    GF_GGUF_U8 = 0, GF_GGUF_I8 = 1, GF_GGUF_U16 = 2, GF_GGUF_I16 = 3,
    GF_GGUF_U32 = 4, GF_GGUF_I32 = 5, GF_GGUF_F32 = 6, GF_GGUF_BOOL = 7,
    GF_GGUF_STRING = 8, GF_GGUF_ARRAY = 9, GF_GGUF_U64 = 10, GF_GGUF_I64 = 11,
    GF_GGUF_F64 = 12, GF_GGUF_NTYPES_
} gf_gguf_vtype;

#define GF_GGUF_DEFAULT_ALIGNMENT 32
#define GF_GGUF_MAX_DIMS 4

typedef struct {
    uint64_t len;   /* bytes, not counting the terminating NUL */
    char *s;        /* NUL-terminated copy (may contain NULs inside; use len) */
} gf_str;

typedef struct {
    gf_str key;
    uint32_t type;      /* gf_gguf_vtype */
    uint32_t arr_type;  /* element type when type == GF_GGUF_ARRAY */
    uint64_t n;         /* element count for arrays, 1 for scalars */
    union {
        uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
        float f32; uint8_t b; uint64_t u64; int64_t i64; double f64;
    } v;                /* scalar value */
    gf_str str;         /* STRING value */
    void *arr;          /* ARRAY: n packed numbers, or n gf_str for strings */
} gf_kv;

/* Size in bytes of one scalar of a numeric/bool type; 0 for STRING, ARRAY, unknown. */
size_t gf_gguf_vtype_size(uint32_t t);
const char *gf_gguf_vtype_name(uint32_t t);

/* ---------------------------------------------------------------- reader */

typedef struct {
    gf_str name;
    uint32_t n_dims;
    int64_t ne[GF_GGUF_MAX_DIMS]; /* ne[0] is the row length; unused dims are 1 */
    gf_type type;
    uint64_t offset;    /* from the start of the data section */
    uint64_t nbytes;
    const void *data;   /* into the file mapping; NULL when parsed without data */
} gf_gguf_tensor;

typedef struct {
    char *path;
    uint32_t version;
    gf_kv *kv;
    uint64_t n_kv;
    gf_gguf_tensor *tensors;
    uint64_t n_tensors;
    uint64_t alignment;
    uint64_t data_offset; /* file offset of the data section */
    uint64_t data_size;   /* bytes of tensor data (end of the last tensor) */
    void *map;            /* whole-file mapping when opened from a path */
    size_t map_size;
} gf_gguf;

/* Opens and validates a GGUF file (memory-mapped, read-only). */
gf_status gf_gguf_open(const char *path, gf_gguf **out, gf_err *err);
/* Parses a GGUF image in memory (not copied: buf must outlive the result).
 * name is used in messages. Tensor data must lie within len bytes. */
gf_status gf_gguf_parse(const void *buf, size_t len, const char *name, gf_gguf **out, gf_err *err);
void gf_gguf_close(gf_gguf *g);
/* Tensor t's bytes will not be read again (the engine keeps a dequantized copy): its
 * whole pages of the file mapping leave the resident set (a later read maps them from
 * the file again).  Nothing for a GGUF parsed from memory. */
void gf_gguf_release(const gf_gguf *g, const gf_gguf_tensor *t);

const gf_kv *gf_gguf_find(const gf_gguf *g, const char *key);       /* NULL if absent */
int64_t gf_gguf_find_tensor(const gf_gguf *g, const char *name);    /* -1 if absent */

/* Typed getters. A missing key gives GF_E_FORMAT "key 'k' is missing"; a wrong
 * type or out-of-range value names the key too. Integer getters accept any
 * integer type whose value fits. */
gf_status gf_gguf_get_u32(const gf_gguf *g, const char *key, uint32_t *out, gf_err *err);
gf_status gf_gguf_get_f32(const gf_gguf *g, const char *key, float *out, gf_err *err);
gf_status gf_gguf_get_bool(const gf_gguf *g, const char *key, int *out, gf_err *err);
gf_status gf_gguf_get_str(const gf_gguf *g, const char *key, const gf_str **out, gf_err *err);
/* An array whose elements have type elem_type. */
gf_status gf_gguf_get_arr(const gf_gguf *g, const char *key, uint32_t elem_type,
                          const gf_kv **out, gf_err *err);

/* ---------------------------------------------------------------- writer */

/* Where bytes go: a file (see formats/outfile.h) or a memory buffer in tests. */
typedef struct {
    gf_status (*write)(void *ctx, const void *buf, size_t n, gf_err *err);
    void *ctx;
} gf_sink;

typedef struct gf_gguf_writer gf_gguf_writer;

gf_gguf_writer *gf_gguf_writer_new(void); /* NULL when out of memory */
void gf_gguf_writer_free(gf_gguf_writer *w);

/* Setting a key that exists replaces its value and keeps its position.
 * These return GF_OK or GF_E_NOMEM. */
gf_status gf_gguf_set_u32(gf_gguf_writer *w, const char *key, uint32_t v);
gf_status gf_gguf_set_i32(gf_gguf_writer *w, const char *key, int32_t v);
gf_status gf_gguf_set_u64(gf_gguf_writer *w, const char *key, uint64_t v);
gf_status gf_gguf_set_f32(gf_gguf_writer *w, const char *key, float v);
gf_status gf_gguf_set_bool(gf_gguf_writer *w, const char *key, int v);
gf_status gf_gguf_set_str(gf_gguf_writer *w, const char *key, const char *v);
gf_status gf_gguf_set_arr_str(gf_gguf_writer *w, const char *key, const char *const *v, uint64_t n);
/* Numeric array of elem_type (I32, F32, U32, ...): n elements copied from data. */
gf_status gf_gguf_set_arr(gf_gguf_writer *w, const char *key, uint32_t elem_type,
                          const void *data, uint64_t n);
/* Copies a key/value read from another file (for tools that rewrite GGUFs). */
gf_status gf_gguf_set_kv(gf_gguf_writer *w, const gf_kv *kv);
const gf_kv *gf_gguf_writer_find(const gf_gguf_writer *w, const char *key);

/* Declares the next tensor; data offsets are assigned in declaration order.
 * Fails (GF_E_USAGE) on a duplicate name, >4 dims, or a row not a multiple of
 * the type's block size. */
gf_status gf_gguf_add_tensor(gf_gguf_writer *w, const char *name, gf_type type,
                             uint32_t n_dims, const int64_t *ne, gf_err *err);
uint64_t gf_gguf_writer_n_tensors(const gf_gguf_writer *w);
uint64_t gf_gguf_tensor_nbytes_at(const gf_gguf_writer *w, uint64_t idx);
/* Total bytes the file will have. */
uint64_t gf_gguf_writer_total_size(const gf_gguf_writer *w);

/* Writes magic, counts, key/values, tensor infos and padding. Call once, after
 * every key and tensor is declared. */
gf_status gf_gguf_write_header(gf_gguf_writer *w, gf_sink *sink, gf_err *err);
/* Writes the data of tensor idx (must be called for 0, 1, 2, ... in order);
 * nbytes must equal the declared size; alignment padding follows. */
gf_status gf_gguf_write_tensor_data(gf_gguf_writer *w, gf_sink *sink, uint64_t idx,
                                    const void *data, uint64_t nbytes, gf_err *err);
/* The same in parts: the parts of tensor idx, in order, must add up to its size;
 * the padding is written after the last part. */
gf_status gf_gguf_write_tensor_part(gf_gguf_writer *w, gf_sink *sink, uint64_t idx,
                                    const void *data, uint64_t nbytes, gf_err *err);

#endif /* GF_GGUF_H */
