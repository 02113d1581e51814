/*
 * awq.h - activation-aware weight quantization (AWQ, Lin et al. 2023, as
 * AutoAWQ implements it and ../shared/papers/002 applies it before Q4_0):
 * per decoder block, per-input-channel scales searched on calibration inputs and
 * folded into the operation before each linear group, then a clipping search.
 * Works on the float block loaded in a gf_calib, in place; the float model's
 * outputs are unchanged by the folding (only the clipping changes weights).
 */
#ifndef GF_AWQ_H
#define GF_AWQ_H

#include "calib.h"

#define GF_AWQ_GRID 20        /* alpha = 0, 0.05, ..., 0.95 */
#define GF_AWQ_CLIP_GRID 20   /* clip = 1, 0.975, ..., 0.525 of the block's absmax */

typedef struct {
    int64_t max_tokens;  /* calibration tokens the searches use (a strided subsample) */
    int clip;            /* run the clipping search */
} gf_awq_opts;

typedef struct gf_awq_report {
    float alpha[4];      /* chosen alpha per group (q/k/v, o, gate/up, down); -1: identity kept, -2: not applicable */
    double err_before[4], err_after[4]; /* group output squared error, min-max quantized, before/after scaling */
} gf_awq_report;

/* The scales s (n) of a group, folded: columns of each W (n_out_i, n) multiplied
 * by s, and prev (the norm weight, or rows of the previous linear with its bias)
 * divided by s.  Exposed for the folding-invariance test. */
void gf_awq_fold(float *const *W, const int64_t *n_out, int n_w, int64_t n, const float *s, float *prev_vec,
                 float *prev_rows, int64_t prev_row_len, float *prev_bias);

/* Runs block `layer` (loaded with gf_calib_load_layer) over every sample to
 * capture its linear inputs, advances c->x past the block (float), then searches
 * and folds the scales and clips the weights for quantization to `type`. */
gf_status gf_awq_layer(gf_calib *c, int layer, gf_type type, const gf_awq_opts *o, gf_awq_report *rep, gf_err *err);

#endif /* GF_AWQ_H */
