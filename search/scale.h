/*
 * scale.h - the per-block scale search that OMSE and the importance-weighted
 * method share: for one block of 32 weights, find the stored (fp16) scale and
 * integer levels that minimize the (optionally weighted) squared error.
 */
#ifndef GF_SCALE_H
#define GF_SCALE_H

#include "../common/types.h"

#define GF_SEARCH_GRID 51 /* scales f * minmax-scale, f = 1.00, 0.99, ..., 0.50 */

/* Levels of the symmetric formats: Q4_0 stores q+8 in a nibble, Q8_0 an int8. */
enum { GF_Q4_MIN = -8, GF_Q4_MAX = 7, GF_Q8_MIN = -127, GF_Q8_MAX = 127 };

/* Weighted squared error sum_j w_j (x_j - d q_j)^2 of a block (w NULL: all 1). */
float gf_block_error(const float *x, const float *w, const int8_t *q, float d);

/* Searches one block: candidate scales d = f * x_ext / nmin (x_ext the element of
 * largest magnitude, with its sign, mapped to the wider end of the range) for f on
 * the grid, each rounded to fp16, levels by rounding to nearest, then one
 * least-squares refinement of d for those levels.  Writes the best levels and the
 * fp16 scale; returns its error.  Deterministic: plain C, no threads inside. */
float gf_search_block(const float *x, const float *w, int nmin, int nmax, int8_t q[GF_QK], uint16_t *d16);

#endif /* GF_SCALE_H */
