/*
 * norm.c - forward and backward of each norm kind, and the table that picks
 * them by gf_norm_kind.  Each token is normalized on its own, so the result
 * does not depend on how tokens are split over threads.
 */
#include "norm.h"

#include <math.h>

/* Below this many elements a loop is not worth waking the other threads. */
#define PAR_MIN_WORK 32768

void gf_rmsnorm_forward(float *out, const float *in, const float *w, int64_t n_tok, int64_t dim, float eps) {
    for (int64_t t = 0; t < n_tok; t++) {
        const float *x = in + t * dim;
        float *o = out + t * dim;
        double ss = 0.0;
        for (int64_t i = 0; i < dim; i++) ss += (double)(x[i] * x[i]);
        const float mean = (float)(ss / (double)dim);
        const float scale = 1.0f / sqrtf(mean + eps);
        for (int64_t i = 0; i < dim; i++) o[i] = (x[i] * scale) * w[i];
    }
}

void gf_rmsnorm_backward(float *dx, const float *dout, const float *x, const float *w, int64_t n_tok, int64_t dim,
                         float eps) {
    /* out_i = x_i r w_i with r = (mean(x²) + eps)^(-1/2), so
     * dx_i = r w_i dout_i - x_i r³/D Σ_j dout_j w_j x_j.
     * r is recomputed exactly as the forward computes it. */
    #pragma omp parallel for schedule(static) if (n_tok * dim >= PAR_MIN_WORK)
    for (int64_t t = 0; t < n_tok; t++) {
        const float *xt = x + t * dim, *gt = dout + t * dim;
        float *dt = dx + t * dim;
        double ss = 0.0, dot = 0.0;
        for (int64_t i = 0; i < dim; i++) {
            ss += (double)(xt[i] * xt[i]);
            dot += (double)gt[i] * (double)w[i] * (double)xt[i];
        }
        const float mean = (float)(ss / (double)dim);
        const float r = 1.0f / sqrtf(mean + eps);
        const float k = (float)((double)r * (double)r * (double)r * dot / (double)dim);
        for (int64_t i = 0; i < dim; i++) dt[i] += r * w[i] * gt[i] - xt[i] * k;
    }
}

static const struct {
    void (*forward)(float *out, const float *in, const float *w, int64_t n_tok, int64_t dim, float eps);
    void (*backward)(float *dx, const float *dout, const float *x, const float *w, int64_t n_tok, int64_t dim,
                     float eps);
} norms[GF_NORMK_COUNT] = {
    [GF_NORMK_RMS] = {gf_rmsnorm_forward, gf_rmsnorm_backward},
};

void gf_norm_forward(gf_norm_kind kind, float *out, const float *in, const float *w, int64_t n_tok, int64_t dim,
                     float eps) {
    norms[kind].forward(out, in, w, n_tok, dim, eps);
}

void gf_norm_backward(gf_norm_kind kind, float *dx, const float *dout, const float *x, const float *w, int64_t n_tok,
                      int64_t dim, float eps) {
    norms[kind].backward(dx, dout, x, w, n_tok, dim, eps);
}
