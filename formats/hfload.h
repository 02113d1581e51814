/*
 * hfload.h - reads a Hugging Face tensor's rows as GGUF lays them out: the
 * llama q/k rotate-half -> interleaved permutation applied, as floats.  The one
 * place where conversion and calibration read weights, so they agree.
 */
#ifndef GF_HFLOAD_H
#define GF_HFLOAD_H

#include "hfconfig.h"
#include "safetensors.h"

/* GGUF rows [row0, row0+n) of t into out (n * row_len floats). A permuted 1-D
 * tensor (a q/k bias) is read whole: row0 must be 0 and n 1, and out needs
 * 2 * row_len floats of room. */
gf_status gf_hf_read_rows(const gf_safetensors *st, const gf_st_tensor *t, const gf_tensor_map *m, int64_t row0,
                          int64_t n, float *out, gf_err *err);

#endif /* GF_HFLOAD_H */
