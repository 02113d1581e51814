/*
 * gridsum.c - exact fixed-point sums of float arrays (gridsum.h).  Rounding is
 * nearbyint's (to nearest, ties to even, the default mode), on a product that
 * is exact in double (a float times a power of two), so every process that
 * adds the same float gets the same integer.  Not here: choosing the grid
 * (the caller knows the bound) or communicating the sums (calib/dist.c).
 */
#include "gridsum.h"

#include <math.h>
#include <string.h>

/* parallel from this many elements (a parallel region costs microseconds) */
#define PAR_MIN 65536

double gf_grid_add(int64_t *acc, const float *g, int64_t n, double scale, double lim) {
    double m = 0.0;
    #pragma omp parallel for schedule(static) reduction(max : m) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        const double v = (double)g[i];
        if (!isfinite(v)) {
            m = INFINITY;
            continue;
        }
        const double a = fabs(v);
        if (a > m) m = a;
        const double q = nearbyint(v * scale);
        acc[i] += (int64_t)(q > lim ? lim : q < -lim ? -lim : q);
    }
    return m;
}

uint64_t gf_grid_get(float *g, const int64_t *acc, int64_t n, double scale) {
    const double inv = 1.0 / scale; /* a power of two: exact */
    uint64_t h = 0;
    #pragma omp parallel for schedule(static) reduction(+ : h) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        g[i] = (float)((double)acc[i] * inv);
        uint32_t bits;
        memcpy(&bits, &g[i], sizeof bits);
        h += (uint64_t)bits * (2 * (uint64_t)i + 0x9e3779b97f4a7c15ull);
    }
    return h;
}
