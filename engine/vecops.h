/*
 * vecops.h - the small vector loops attention is built from, shared by the
 * forward pass and its backward so both round exactly alike: a dot product with
 * eight running sums and a fixed reduction tree, and y += a*x, both written in
 * blocks of eight that the compiler vectorizes at -O2.
 */
#ifndef GF_VECOPS_H
#define GF_VECOPS_H

#include <stdint.h>

static inline float dot8(const float *a, const float *b, int64_t n) {
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += a[i + k] * b[i + k];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

static inline void axpy8(float *y, float a, const float *x, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) y[i + k] += a * x[i + k];
    for (; i < n; i++) y[i] += a * x[i];
}

#endif /* GF_VECOPS_H */
