/*
 * gguf_source.h - a GGUF file as the converter's input (llama-quantize's input):
 * its general.architecture and <arch>.* keys as a gf_hfcfg, its tensors as a
 * gf_safetensors whose names are the Hugging Face ones of the architecture table,
 * whose rows are in GGUF layout already (gguf_layout: no q/k permutation) and whose
 * types are any the type table can dequantize.  The file stays open, so that its
 * metadata can be copied through and its vocabulary read.
 */
#ifndef GF_GGUF_SOURCE_H
#define GF_GGUF_SOURCE_H

#include "gguf.h"
#include "hfconfig.h"
#include "safetensors.h"

/* 1 when path is a regular file that starts with the GGUF magic. */
int gf_is_gguf_file(const char *path);

/* Opens path, checks every tensor against the architecture table (name, type,
 * dimensions) and fills hp (n_vocab from token_embd, tied when there is no
 * output.weight, biases from the tensors) and *st.  *g is the open file. */
gf_status gf_gguf_source_open(const char *path, gf_gguf **g, gf_hfcfg *hp, gf_safetensors **st, gf_err *err);

#endif /* GF_GGUF_SOURCE_H */
