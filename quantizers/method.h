/*
 * method.h - quantization methods: how a tensor's blocks are chosen, as opposed
 * to its type (which block format).  A registry of table entries looked up by the
 * name the CLI uses (--blocks, --embed, --output); adding a method is one file and
 * one line in method.c.
 */
#ifndef GF_METHOD_H
#define GF_METHOD_H

#include "../common/gf.h"

/* Quantizes one row of k floats (k a multiple of the type's block size) into dst.
 * importance: (k) per-input-channel weights of the error (mean x^2 of the
 * activations feeding that column), or NULL. Pure function of its inputs. */
typedef void (*gf_row_quantizer)(gf_type type, const float *x, void *dst, int64_t k, const float *importance);

typedef struct {
    const char *name;           /* CLI spelling                                          */
    const char *help;           /* one line for --list                                   */
    int uses_importance;        /* reads per-channel activation statistics               */
    int block_transform;        /* rewrites a decoder block's weights from calibration
                                   activations before its rows are quantized (awq, ...) */
    gf_row_quantizer quantize_row;
} gf_qmethod;

const gf_qmethod *gf_qmethod_find(const char *name); /* NULL if unknown */
const gf_qmethod *gf_qmethod_at(int i);              /* i-th entry, NULL past the end */

/* The row quantizers, callable directly (tests compare them). */
void gf_quantize_row_minmax(gf_type type, const float *x, void *dst, int64_t k, const float *importance);
void gf_quantize_row_omse(gf_type type, const float *x, void *dst, int64_t k, const float *importance);
void gf_quantize_row_importance(gf_type type, const float *x, void *dst, int64_t k, const float *importance);

#endif /* GF_METHOD_H */
