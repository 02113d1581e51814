/*
 * scale.c - grid search of a block's scale (OMSE, after the grid search of the
 * embedding scale in ../shared/papers/000, and its importance-weighted variant).
 *
 * For a fixed scale d, rounding each weight to its nearest level is the optimal
 * assignment under any positive per-element weighting (the error is a sum of
 * independent terms), so the search is over d only.  Errors are measured with the
 * scale as it will be stored (fp16), which is what a runtime multiplies by.
 * Compiled with -ffp-contract=off so every architecture produces the same bytes.
 */
#include "scale.h"

#include <math.h>

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* nearest level of x for scale 1/id (round half away from zero, as the reference) */
static inline int level(float x, float id, int nmin, int nmax) {
    float v = x * id;
    int i = (int)v;
    float frac = v - (float)i;
    i += (frac >= 0.5f) - (frac <= -0.5f);
    return clampi(i, nmin, nmax);
}

float gf_block_error(const float *x, const float *w, const int8_t *q, float d) {
    float e = 0.0f;
    for (int j = 0; j < GF_QK; j++) {
        float r = x[j] - d * (float)q[j];
        e += (w ? w[j] : 1.0f) * r * r;
    }
    return e;
}

/* levels for stored scale d16; returns the error */
static float assign(const float *x, const float *w, int nmin, int nmax, uint16_t d16, int8_t *q) {
    float d = gf_fp16_to_fp32(d16);
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < GF_QK; j++) q[j] = (int8_t)(id != 0.0f ? level(x[j], id, nmin, nmax) : 0);
    return gf_block_error(x, w, q, d);
}

float gf_search_block(const float *x, const float *w, int nmin, int nmax, int8_t q[GF_QK], uint16_t *d16) {
    float ext = 0.0f, amax = 0.0f;
    for (int j = 0; j < GF_QK; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            ext = x[j];
        }
    }
    int8_t cand[GF_QK];
    float best = INFINITY;
    *d16 = 0;
    for (int j = 0; j < GF_QK; j++) q[j] = 0;
    if (amax == 0.0f) return 0.0f;
    for (int g = 0; g < GF_SEARCH_GRID; g++) {
        float f = 1.0f - 0.01f * (float)g;
        uint16_t h = gf_fp32_to_fp16(f * ext / (float)nmin);
        float e = assign(x, w, nmin, nmax, h, cand);
        if (e < best) {
            best = e;
            *d16 = h;
            memcpy(q, cand, GF_QK);
        }
        /* least squares: for these levels the error is a parabola in d */
        float num = 0.0f, den = 0.0f;
        for (int j = 0; j < GF_QK; j++) {
            float wj = w ? w[j] : 1.0f;
            num += wj * x[j] * (float)cand[j];
            den += wj * (float)cand[j] * (float)cand[j];
        }
        if (den > 0.0f) {
            uint16_t h2 = gf_fp32_to_fp16(num / den);
            if (h2 != h) {
                e = assign(x, w, nmin, nmax, h2, cand);
                if (e < best) {
                    best = e;
                    *d16 = h2;
                    memcpy(q, cand, GF_QK);
                }
            }
        }
    }
    return best;
}
