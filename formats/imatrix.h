/*
 * imatrix.h - importance matrices: per tensor, the mean x^2 of each input channel
 * of a linear layer.  Read from llama-imatrix's binary .dat files (so users reuse
 * theirs) or filled by calibration; looked up by GGUF tensor name.
 */
#ifndef GF_IMATRIX_H
#define GF_IMATRIX_H

#include "../common/gf.h"

typedef struct {
    char *name;     /* GGUF tensor name, e.g. "blk.0.ffn_down.weight" */
    int64_t n;      /* input channels                                  */
    float *values;  /* (n) mean x^2 per input channel                  */
    int32_t ncall;  /* chunks that contributed (llama-imatrix)         */
} gf_imatrix_entry;

typedef struct gf_imatrix {
    gf_imatrix_entry *e;
    int64_t n;
    int32_t chunks;  /* llama-imatrix's last chunk count, 0 if absent  */
    char *dataset;   /* text file it was computed on, or NULL          */
} gf_imatrix;

/* llama-imatrix's format: i32 count, then per entry i32 name length, name, i32 ncall,
 * i32 nval, f32 values (sum x^2 / count x ncall); optionally i32 chunks, i32 length,
 * dataset name.  Values are divided by ncall, as llama-quantize does. */
gf_status gf_imatrix_parse(const void *buf, size_t len, const char *name, gf_imatrix **out, gf_err *err);
gf_status gf_imatrix_load(const char *path, gf_imatrix **out, gf_err *err);
void gf_imatrix_free(gf_imatrix *im);
/* The entry for a tensor, or NULL. */
const gf_imatrix_entry *gf_imatrix_find(const gf_imatrix *im, const char *tensor);

#endif /* GF_IMATRIX_H */
