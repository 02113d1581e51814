/*
 * norm.h - the norm kinds of the architectures, one table entry per kind:
 * its forward (the engine, calibration) and its backward (AutoRound's block
 * tuning).  An architecture names its kind in formats/arch.c (gf_arch_info.norm);
 * a new kind is an enum line in arch.h and an entry in norm.c.
 */
#ifndef GF_NORM_H
#define GF_NORM_H

#include "../formats/arch.h"

#include <stdint.h>

/* out (T, D) = norm(in) * w token by token; out may equal in. */
void gf_norm_forward(gf_norm_kind kind, float *out, const float *in, const float *w, int64_t n_tok, int64_t dim,
                     float eps);
/* Accumulates dx (T, D) += dL/dx of out = gf_norm_forward(kind, x, w), given
 * dout (T, D) = dL/dout; w is fixed.  Accumulating because every norm of a block
 * sits on the residual stream, whose gradient is already in dx. */
void gf_norm_backward(gf_norm_kind kind, float *dx, const float *dout, const float *x, const float *w, int64_t n_tok,
                      int64_t dim, float eps);

/* RMSNorm: out = in / sqrt(mean(in²) + eps) * w, the sum of squares in double
 * like GGML. */
void gf_rmsnorm_forward(float *out, const float *in, const float *w, int64_t n_tok, int64_t dim, float eps);
void gf_rmsnorm_backward(float *dx, const float *dout, const float *x, const float *w, int64_t n_tok, int64_t dim,
                         float eps);

#endif /* GF_NORM_H */
