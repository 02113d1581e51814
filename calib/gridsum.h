/*
 * gridsum.h - exact sums of float arrays: each term is put on a fixed-point grid
 * (a power of two per array, chosen by the caller) and added as int64, so the
 * sum does not depend on the order of the terms nor on how they are split
 * between threads or MPI ranks (calib/dist.h sums the int64 arrays).
 * calib/autoround.c sums its per-sample gradients this way.
 */
#ifndef GF_GRIDSUM_H
#define GF_GRIDSUM_H

#include <stdint.h>

/* acc[i] (0 first when set) += round(g[j][i] * scale) for j < m (scale: grid
 * units per 1.0, a power of two), each term clamped to +-lim so that a known
 * number of them cannot overflow; returns max |g[j][i]| (INFINITY if an
 * element is not finite: its term is 0).  m arrays in one pass: acc is read
 * and written once for all of them. */
double gf_grid_add(int64_t *acc, const float *const *g, int m, int64_t n, double scale, double lim, int set);
/* max |g[i]| (INFINITY if an element is not finite), what gf_grid_add returns. */
double gf_grid_max(const float *g, int64_t n);
/* g[i] = acc[i] / scale; returns the sum over i of g[i]'s bits times an odd
 * number per index (mod 2^64, the same for any thread count): a checksum. */
uint64_t gf_grid_get(float *g, const int64_t *acc, int64_t n, double scale);

#endif /* GF_GRIDSUM_H */
