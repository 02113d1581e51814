/*
 * safetensors.h - Hugging Face safetensors reader: one file or a sharded folder
 * (model.safetensors.index.json), F32/BF16/F16 tensors streamed row by row into
 * float buffers with pread, so memory use stays at a few rows whatever the model.
 */
#ifndef GF_SAFETENSORS_H
#define GF_SAFETENSORS_H

#include "../common/types.h"

#define GF_ST_MAX_DIMS 4

typedef struct {
    char *name;                /* the Hugging Face name                             */
    char *gguf_name;           /* a GGUF input's own name for it, or NULL            */
    gf_type dtype;             /* GF_TYPE_F32, GF_TYPE_F16 or GF_TYPE_BF16; from a
                                  GGUF, any type gf_type_can_read                    */
    uint32_t n_dims;           /* 0 (scalar) to 4                                   */
    int64_t shape[GF_ST_MAX_DIMS]; /* as in the file: shape[0] outermost          */
    int64_t row_len;           /* innermost dimension (1 for scalars)               */
    int64_t n_rows;            /* product of the other dimensions                   */
    int file;                  /* index into gf_safetensors.files                   */
    uint64_t offset;           /* absolute offset of the data in that file          */
    uint64_t nbytes;
} gf_st_tensor;

typedef struct {
    char *path;                /* for messages                                      */
    int fd;
    uint64_t size;
} gf_st_file;

typedef struct {
    gf_st_file *files;
    int n_files;
    gf_st_tensor *tensors;     /* sorted by name                                    */
    int64_t n_tensors;
    int gguf_layout;           /* the tensors come from a GGUF (gguf_source.h): rows are
                                  already in GGUF order (llama q/k permuted), and dtype
                                  may be any type with a dequantizer                   */
    const struct gf_lora *lora; /* adapters gf_hf_read_rows merges into the rows (lora.h),
                                  or NULL; owned by whoever set it                     */
} gf_safetensors;

/* path: a .safetensors file, or a folder with model.safetensors or
 * model.safetensors.index.json. Validates every header before returning. */
gf_status gf_st_open(const char *path, gf_safetensors **out, gf_err *err);
void gf_st_close(gf_safetensors *st);

/* Validates one file's header (the JSON after the 8-byte length) for a file of
 * file_size bytes, appending its tensors to st with file index `file`. Exposed
 * for the fuzz target; gf_st_open calls it. */
gf_status gf_st_parse_header(gf_safetensors *st, const char *json, size_t json_len, uint64_t file_size,
                             int file, const char *name, gf_err *err);

/* Sorts st's tensors by name and refuses a name given twice (gf_st_open does this;
 * other builders of a gf_safetensors call it after adding their tensors). */
gf_status gf_st_index(gf_safetensors *st, gf_err *err);

/* The name messages give: the one in the file (a GGUF input's GGUF name). */
static inline const char *gf_st_label(const gf_st_tensor *t) { return t->gguf_name ? t->gguf_name : t->name; }

const gf_st_tensor *gf_st_find(const gf_safetensors *st, const char *name); /* NULL if absent */

/* Reads rows [row0, row0+n) of t as floats into out (n * row_len floats).
 * Rejects NaN and Inf with the tensor's name and position (for a block type: a
 * NaN or Inf scale, with the row and block). */
gf_status gf_st_read_rows(const gf_safetensors *st, const gf_st_tensor *t, int64_t row0, int64_t n,
                          float *out, gf_err *err);

#endif /* GF_SAFETENSORS_H */
