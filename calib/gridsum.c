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

/* round(x) to nearest, ties to even, as nearbyint in the default mode: below
 * 2^51 in magnitude by adding 1.5 * 2^52 (the sum's ulp is 1, so the addition
 * itself rounds, and its low mantissa bits are the integer), which needs no
 * libm call (nearbyint is one on plain x86-64); larger x by nearbyint. */
static inline int64_t round_i64(double x, double lim) {
    if (x > -0x1p51 && x < 0x1p51) {
        const double r = x + 0x1.8p52;
        int64_t bits;
        memcpy(&bits, &r, sizeof bits);
        const int64_t q = bits - 0x4338000000000000ll;
        return q > lim ? (int64_t)lim : q < -lim ? -(int64_t)lim : q;
    }
    const double q = nearbyint(x);
    return (int64_t)(q > lim ? lim : q < -lim ? -lim : q);
}

double gf_grid_add(int64_t *acc, const float *const *g, int m, int64_t n, double scale, double lim, int set) {
    double mx = 0.0;
    #pragma omp parallel for schedule(static) reduction(max : mx) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        int64_t sum = set ? 0 : acc[i];
        for (int j = 0; j < m; j++) {
            const double v = (double)g[j][i];
            if (!isfinite(v)) {
                mx = INFINITY;
                continue;
            }
            const double a = fabs(v);
            if (a > mx) mx = a;
            sum += round_i64(v * scale, lim);
        }
        acc[i] = sum;
    }
    return mx;
}

double gf_grid_max(const float *g, int64_t n) {
    double m = 0.0;
    #pragma omp parallel for schedule(static) reduction(max : m) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        const double v = (double)g[i];
        const double a = isfinite(v) ? fabs(v) : INFINITY;
        if (a > m) m = a;
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
