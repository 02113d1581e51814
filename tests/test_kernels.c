/*
 * test_kernels.c - the matmul kernels: every SIMD kernel against the scalar one
 * at awkward lengths, the scalar Q8_0/Q4_0/F16/F32 paths against a plain double
 * reference with a derived error bound, the float dots and to_f16 at every
 * length 1..70, thread-count and token-count
 * independence of gf_matmul on every set, and rejection of unsupported types.
 *
 * Runs every kernel set this CPU (or qemu) supports and says which it skipped.
 */
#include "../engine/kernels_internal.h"
#include "check.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>

/* SIMD float dots vs the scalar double-accumulated ones, relative to Σ|w·x|:
 * n ≤ 4128 terms summed in float in a different order. */
#define TOL_DOT_FLOAT 2e-6
/* Quantized dots: the integer block sums are exact, only the float sum over
 * blocks (≤ 129 terms, combined in another order) may differ. */
#define TOL_DOT_QUANT 2e-6
/* Float steps in the scalar reference vs a double reference, relative to Σ|w·x|
 * (the part of the bound that is not activation rounding). */
#define TOL_FLOAT_ACCUM 1e-5
/* Q8_0 activation error per element, in units of the block's d: half a step
 * plus the step error from storing d as a half (127 steps · 2^-11). */
#define ACT_Q8_ERR (0.5 + 127.0 / 2048.0)
/* F16 activation: relative rounding error 2^-11. */
#define ACT_F16_ERR (1.0 / 2048.0)

static const int64_t blocks_awkward[] = {1, 3, 31, 33, 127, 129};
#define N_AWK ((int)(sizeof blocks_awkward / sizeof blocks_awkward[0]))

/* ---------------------------------------------------------------- data */

typedef struct { uint64_t s; } rng_t;
static uint32_t rnd_u32(rng_t *r) {
    r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(r->s >> 33);
}
static float rnd_f(rng_t *r) { return (float)rnd_u32(r) / 2147483648.0f - 1.0f; } /* [-1,1) */

/* Activation-like values: mostly small, a few outliers, some exact zeros and
 * whole zero blocks (d = 0), so rounding and the d = 0 path get exercised. */
static void fill_act(rng_t *r, float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        uint32_t u = rnd_u32(r) % 64;
        x[i] = u == 0 ? 0.0f : u == 1 ? 20.0f * rnd_f(r) : rnd_f(r);
    }
    if (n >= 64) memset(x + 32, 0, 32 * sizeof(float));
}

static void *make_weights(rng_t *r, gf_type type, int64_t n_in, int64_t n_out) {
    float *row = malloc((size_t)n_in * sizeof(float));
    const size_t rb = gf_row_size(type, n_in);
    char *w = malloc(rb * (size_t)n_out);
    for (int64_t o = 0; o < n_out; o++) {
        for (int64_t i = 0; i < n_in; i++) row[i] = 0.05f * rnd_f(r);
        gf_quantize_row(type, row, w + (size_t)o * rb, n_in);
    }
    free(row);
    return w;
}

static double max_abs_diff(const float *a, const float *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) m = d; /* NaN wins */
    }
    return m;
}

/* ---------------------------------------------------------------- kernels vs scalar */

/* Every length 1..FLOAT_LEN_MAX, from an aligned and a misaligned start: the
 * vector bodies, every tail length and the lengths shorter than one vector.
 * to_f16 must be bit-identical (inputs include half-precision ties, subnormals,
 * values past the half range and signed zeros); the float dots are bounded by
 * the textbook float-summation error (len + 2) * 2^-24 of Σ|w·x| against the
 * scalar double sum, which a dropped or doubled element exceeds by far. */
#define FLOAT_LEN_MAX 70
static void test_float_lengths(const gf_kernel_ops *ops, const char *name) {
    rng_t r = {99};
    enum { CAP = FLOAT_LEN_MAX + 8 };
    float x[CAP], w[CAP];
    static const float special[] = {1.0f + 1.0f / 2048.0f, 1.0f + 3.0f / 2048.0f, -2.0f - 1.0f / 1024.0f,
                                    65504.0f, 65520.0f, -70000.0f, 6.0e-8f, 2.9e-8f, 3.0e-5f, -0.0f,
                                    0.0f, 5.96046448e-8f, 1.0e-10f, -65519.99f};
    const int n_special = (int)(sizeof special / sizeof special[0]);
    int bad_h = 0, bad_f32 = 0, bad_f16 = 0;
    double worst_f32 = 0, worst_f16 = 0;
    for (int off = 0; off < 2; off++)
        for (int64_t len = 1; len <= FLOAT_LEN_MAX; len++) {
            for (int i = 0; i < CAP; i++) {
                x[i] = rnd_f(&r);
                w[i] = 0.05f * rnd_f(&r);
                if (rnd_u32(&r) % 4 == 0) x[i] = special[rnd_u32(&r) % n_special];
            }
            const float *xs = x + off, *ws = w + off;
            uint16_t h_ref[CAP], h[CAP + 1];
            h[len] = 0x7e7e; /* a guard: nothing past len is written */
            gf_to_f16_scalar(xs, h_ref, len);
            ops->from_float[GF_TYPE_F16](xs, h, len);
            bad_h += memcmp(h, h_ref, (size_t)len * 2) != 0 || h[len] != 0x7e7e;
            /* dots on the finite, half-representable values (no overflow to inf) */
            float xf[CAP];
            for (int64_t i = 0; i < len; i++) xf[i] = fabsf(xs[i]) > 60000.0f ? 0.5f : xs[i];
            double mag = 0;
            for (int64_t i = 0; i < len; i++) mag += fabs((double)ws[i] * xf[i]);
            const double tol = (double)(len + 2) / 16777216.0 * mag + 1e-30;
            double e = fabs((double)ops->vec_dot[GF_TYPE_F32](ws, xf, len) - gf_dot_f32_scalar(ws, xf, len));
            worst_f32 = fmax(worst_f32, e / (mag + 1e-30));
            bad_f32 += !(e <= tol);
            uint16_t wh[CAP], xh[CAP];
            gf_to_f16_scalar(ws, wh, len);
            gf_to_f16_scalar(xf, xh, len);
            double mag16 = 0;
            for (int64_t i = 0; i < len; i++) mag16 += fabs((double)gf_fp16_to_fp32(wh[i]) * gf_fp16_to_fp32(xh[i]));
            e = fabs((double)ops->vec_dot[GF_TYPE_F16](wh, xh, len) - gf_dot_f16_scalar(wh, xh, len));
            worst_f16 = fmax(worst_f16, e / (mag16 + 1e-30));
            bad_f16 += !(e <= (double)(len + 2) / 16777216.0 * mag16 + 1e-30);
        }
    CHECK(bad_h == 0, "%s: to_f16 differs from scalar at %d of %d (length, offset) cases", name, bad_h,
          2 * FLOAT_LEN_MAX);
    CHECK(bad_f32 == 0, "%s: dot_f32 outside (len+2)u at %d of %d lengths", name, bad_f32, 2 * FLOAT_LEN_MAX);
    CHECK(bad_f16 == 0, "%s: dot_f16 outside (len+2)u at %d of %d lengths", name, bad_f16, 2 * FLOAT_LEN_MAX);
    printf("  %-8s lengths 1..%d: to_f16 identical, worst dot error / sum|w*x|: f32 %.2e  f16 %.2e\n", name,
           FLOAT_LEN_MAX, worst_f32, worst_f16);
}

static void test_kernels_vs_scalar(const gf_kernel_ops *ops, const char *name) {
    rng_t r = {42};
    double worst_f32 = 0, worst_f16 = 0, worst_q8 = 0, worst_q4 = 0;
    for (int a = 0; a < N_AWK; a++) {
        const int64_t nb = blocks_awkward[a], n = nb * GF_QK;
        float *x = malloc((size_t)n * sizeof(float)), *wf = malloc((size_t)n * sizeof(float));
        fill_act(&r, x, n);
        for (int64_t i = 0; i < n; i++) wf[i] = 0.05f * rnd_f(&r);
        /* a rounding tie and the tie's neighbours in the first block */
        x[0] = 127.0f; x[1] = 0.5f; x[2] = -0.5f; x[3] = 1.5f; x[4] = nextafterf(0.5f, 0.0f);

        /* activation conversions must be bit-identical */
        gf_block_q8_0 *q_ref = malloc((size_t)nb * sizeof *q_ref), *q = malloc((size_t)nb * sizeof *q);
        gf_quantize_q8_0_scalar(x, q_ref, n);
        ops->from_float[GF_TYPE_Q8_0](x, q, n);
        CHECK(memcmp(q, q_ref, (size_t)nb * sizeof *q) == 0, "%s: quantize_q8_0 differs, %lld blocks",
              name, (long long)nb);
        for (int64_t odd = n - 1; odd <= n; odd++) { /* also an odd length: the scalar tail */
            uint16_t *h_ref = malloc((size_t)n * 2), *h = malloc((size_t)n * 2);
            gf_to_f16_scalar(x, h_ref, odd);
            ops->from_float[GF_TYPE_F16](x, h, odd);
            CHECK(memcmp(h, h_ref, (size_t)odd * 2) == 0, "%s: to_f16 differs, n=%lld", name, (long long)odd);
            free(h_ref); free(h);
        }

        /* float dots, at n and at odd lengths (scalar tails) */
        for (int64_t len = n - 3; len <= n; len += 3) {
            if (len <= 0) continue;
            double mag = 0;
            for (int64_t i = 0; i < len; i++) mag += fabs((double)wf[i] * x[i]);
            double e = fabs((double)ops->vec_dot[GF_TYPE_F32](wf, x, len) - gf_dot_f32_scalar(wf, x, len));
            if (e / (mag + 1e-30) > worst_f32) worst_f32 = e / (mag + 1e-30);
            CHECK(e <= TOL_DOT_FLOAT * mag, "%s: dot_f32 n=%lld err %g > %g", name, (long long)len, e,
                  TOL_DOT_FLOAT * mag);
            uint16_t *wh = malloc((size_t)len * 2), *xh = malloc((size_t)len * 2);
            gf_to_f16_scalar(wf, wh, len);
            gf_to_f16_scalar(x, xh, len);
            e = fabs((double)ops->vec_dot[GF_TYPE_F16](wh, xh, len) - gf_dot_f16_scalar(wh, xh, len));
            if (e / (mag + 1e-30) > worst_f16) worst_f16 = e / (mag + 1e-30);
            CHECK(e <= TOL_DOT_FLOAT * mag * 1.01, "%s: dot_f16 n=%lld err %g", name, (long long)len, e);
            free(wh); free(xh);
        }

        /* quantized dots */
        gf_block_q8_0 *w8 = make_weights(&r, GF_TYPE_Q8_0, n, 1);
        gf_block_q4_0 *w4 = make_weights(&r, GF_TYPE_Q4_0, n, 1);
        double mag8 = 0, mag4 = 0;
        for (int64_t b = 0; b < nb; b++) {
            double s8 = 0, s4 = 0;
            for (int j = 0; j < GF_QK; j++) {
                s8 += abs(w8[b].qs[j] * q_ref[b].qs[j]);
                int nib = j < 16 ? (w4[b].qs[j] & 15) : (w4[b].qs[j - 16] >> 4);
                s4 += abs((nib - 8) * q_ref[b].qs[j]);
            }
            mag8 += s8 * gf_fp16_to_fp32(w8[b].d) * gf_fp16_to_fp32(q_ref[b].d);
            mag4 += s4 * gf_fp16_to_fp32(w4[b].d) * gf_fp16_to_fp32(q_ref[b].d);
        }
        double e8 = fabs((double)ops->vec_dot[GF_TYPE_Q8_0](w8, q_ref, n) - gf_dot_q8_0_scalar(w8, q_ref, n));
        double e4 = fabs((double)ops->vec_dot[GF_TYPE_Q4_0](w4, q_ref, n) - gf_dot_q4_0_scalar(w4, q_ref, n));
        if (e8 / (mag8 + 1e-30) > worst_q8) worst_q8 = e8 / (mag8 + 1e-30);
        if (e4 / (mag4 + 1e-30) > worst_q4) worst_q4 = e4 / (mag4 + 1e-30);
        CHECK(e8 <= TOL_DOT_QUANT * mag8, "%s: dot_q8_0 nb=%lld err %g > %g", name, (long long)nb, e8,
              TOL_DOT_QUANT * mag8);
        CHECK(e4 <= TOL_DOT_QUANT * mag4, "%s: dot_q4_0 nb=%lld err %g > %g", name, (long long)nb, e4,
              TOL_DOT_QUANT * mag4);
        free(w8); free(w4); free(q_ref); free(q); free(x); free(wf);
    }
    printf("  %-8s worst relative error vs scalar: f32 %.2e  f16 %.2e  q8_0 %.2e  q4_0 %.2e\n", name,
           worst_f32, worst_f16, worst_q8, worst_q4);
}

/* The packed Q4_0 kernels do the scalar packed kernel's float steps per lane:
 * they must agree bit for bit, for every token count of a tile.  Called with the
 * scalar kernel itself, only the second half runs: the packed scalar kernel
 * against the row-order dot (an independent loop over the file layout). */
static void test_gemm_q4x8(gf_gemm_q4x8_fn gemm, const char *name) {
    rng_t r = {7};
    for (int a = 0; a < N_AWK; a++) {
        const int64_t nb = blocks_awkward[a], n = nb * GF_QK, n_out = 11; /* 2 groups, padded */
        gf_block_q4_0 *w = make_weights(&r, GF_TYPE_Q4_0, n, n_out);
        gf_block_q4_0x8 *p = malloc(2 * (size_t)nb * sizeof *p);
        gf_pack_q4_0x8(w, nb, n_out, p);
        float *x = malloc((size_t)(GF_TOK_TILE * n) * sizeof(float));
        gf_block_q8_0 *xq = malloc((size_t)(GF_TOK_TILE * nb) * sizeof *xq);
        int32_t *xs = malloc((size_t)(GF_TOK_TILE * nb) * sizeof *xs);
        fill_act(&r, x, GF_TOK_TILE * n);
        for (int t = 0; t < GF_TOK_TILE; t++) gf_quantize_q8_0_scalar(x + t * n, xq + t * nb, n);
        for (int64_t b = 0; b < GF_TOK_TILE * nb; b++) {
            xs[b] = 0;
            for (int j = 0; j < GF_QK; j++) xs[b] += xq[b].qs[j];
        }
        for (int nt = 1; nt <= GF_TOK_TILE && gemm != gf_gemm_q4x8_scalar; nt++) /* not scalar vs itself */
            for (int g = 0; g < 2; g++) {
                float y_ref[GF_TOK_TILE * 8], y[GF_TOK_TILE * 8];
                gf_gemm_q4x8_scalar(p + g * nb, nb, xq, xs, nb, nt, y_ref, 8);
                gemm(p + g * nb, nb, xq, xs, nb, nt, y, 8);
                CHECK(memcmp(y, y_ref, (size_t)nt * 8 * sizeof(float)) == 0,
                      "%s: gemm_q4x8 differs from scalar: nb=%lld tokens=%d group=%d max diff %g", name,
                      (long long)nb, nt, g, max_abs_diff(y, y_ref, nt * 8));
            }
        /* and the packed scalar kernel agrees with the row-order dot */
        float y1[8];
        gf_gemm_q4x8_scalar(p + nb, nb, xq, xs, nb, 1, y1, 8);
        for (int rr = 0; rr < 3; rr++) {
            float d = gf_dot_q4_0_scalar(w + (8 + rr) * nb, xq, n);
            CHECK(fabsf(d - y1[rr]) <= 1e-4f * (fabsf(d) + 1e-3f), "packed row %d: %g vs %g", 8 + rr,
                  y1[rr], d);
        }
        CHECK(y1[3] == 0.0f && y1[7] == 0.0f, "padding rows give %g %g", y1[3], y1[7]);
        free(w); free(p); free(x); free(xq); free(xs);
    }
}

/* The same for the packed Q8_0 kernels. */
static void test_gemm_q8x8(gf_gemm_q8x8_fn gemm, const char *name) {
    rng_t r = {8};
    for (int a = 0; a < N_AWK; a++) {
        const int64_t nb = blocks_awkward[a], n = nb * GF_QK, n_out = 13; /* 2 groups, padded */
        gf_block_q8_0 *w = make_weights(&r, GF_TYPE_Q8_0, n, n_out);
        w[0].qs[0] = -128; /* not written by the reference quantizer, but legal in a file */
        gf_block_q8_0x8 *p = malloc(2 * (size_t)nb * sizeof *p);
        gf_pack_q8_0x8(w, nb, n_out, p);
        float *x = malloc((size_t)(GF_TOK_TILE * n) * sizeof(float));
        gf_block_q8_0 *xq = malloc((size_t)(GF_TOK_TILE * nb) * sizeof *xq);
        fill_act(&r, x, GF_TOK_TILE * n);
        for (int t = 0; t < GF_TOK_TILE; t++) gf_quantize_q8_0_scalar(x + t * n, xq + t * nb, n);
        for (int nt = 1; nt <= GF_TOK_TILE && gemm != gf_gemm_q8x8_scalar; nt++) /* not scalar vs itself */
            for (int g = 0; g < 2; g++) {
                float y_ref[GF_TOK_TILE * 8], y[GF_TOK_TILE * 8];
                gf_gemm_q8x8_scalar(p + g * nb, nb, xq, nb, nt, y_ref, 8);
                gemm(p + g * nb, nb, xq, nb, nt, y, 8);
                CHECK(memcmp(y, y_ref, (size_t)nt * 8 * sizeof(float)) == 0,
                      "%s: gemm_q8x8 differs from scalar: nb=%lld tokens=%d group=%d max diff %g", name,
                      (long long)nb, nt, g, max_abs_diff(y, y_ref, nt * 8));
            }
        float y0[8], y1[8];
        gf_gemm_q8x8_scalar(p, nb, xq, nb, 1, y0, 8);
        gf_gemm_q8x8_scalar(p + nb, nb, xq, nb, 1, y1, 8);
        for (int rr = 0; rr < 5; rr++) {
            const int row = rr == 0 ? 0 : 7 + rr;
            const float got = rr == 0 ? y0[0] : y1[row - 8];
            float d = gf_dot_q8_0_scalar(w + row * nb, xq, n);
            CHECK(fabsf(d - got) <= 1e-4f * (fabsf(d) + 1e-3f), "packed q8 row %d: %g vs %g", row, got, d);
        }
        CHECK(y1[5] == 0.0f && y1[7] == 0.0f, "padding rows give %g %g", y1[5], y1[7]);
        free(w); free(p); free(x); free(xq);
    }
}

/* ---------------------------------------------------------------- gf_matmul */

/* Bound on |scalar gf_matmul - exact| from activation rounding (derived in the
 * constants above) plus float accumulation. */
static double ref_bound(gf_type type, const float *wrow, const float *x, int64_t n) {
    double mag = 0, act = 0;
    for (int64_t i = 0; i < n; i++) mag += fabs((double)wrow[i] * x[i]);
    if (type == GF_TYPE_F16) act = ACT_F16_ERR * mag;
    if (type == GF_TYPE_Q8_0 || type == GF_TYPE_Q4_0)
        for (int64_t b = 0; b < n / GF_QK; b++) {
            double amax = 0, sw = 0;
            for (int j = 0; j < GF_QK; j++) {
                amax = fmax(amax, fabs(x[b * GF_QK + j]));
                sw += fabs(wrow[b * GF_QK + j]);
            }
            act += ACT_Q8_ERR * (amax / 127.0) * sw;
        }
    return act + TOL_FLOAT_ACCUM * mag + 1e-12;
}

static const gf_type mm_types[] = {GF_TYPE_F32, GF_TYPE_F16, GF_TYPE_Q8_0, GF_TYPE_Q4_0};

static void test_matmul(gf_kernel_set ks) {
    const char *name = gf_kernels_name(ks);
    rng_t r = {1234};
    static const int64_t toks[] = {1, 2, 7, 64};
    static const int64_t outs[] = {1, 13, 70};
    for (int ti = 0; ti < 4; ti++) {
        const gf_type type = mm_types[ti];
        for (int a = 0; a < N_AWK; a += (ti < 2 ? 1 : 1)) {
            const int64_t n_in = blocks_awkward[a] * GF_QK;
            for (int oi = 0; oi < 3; oi++) {
                const int64_t n_out = outs[oi];
                const int64_t n_tok = toks[(a + oi) % 4]; /* every token count over the sweep */
                void *wdata = make_weights(&r, type, n_in, n_out);
                float *X = malloc((size_t)(n_tok * n_in) * sizeof(float));
                fill_act(&r, X, n_tok * n_in);
                float *Y1 = malloc((size_t)(n_tok * n_out) * sizeof(float));
                float *Y2 = malloc((size_t)(n_tok * n_out) * sizeof(float));
                float *Ys = malloc((size_t)(n_tok * n_out) * sizeof(float));
                gf_wmat W, S;
                gf_err err = {0};
                CHECK(gf_wmat_init(&W, type, n_in, n_out, wdata, ks, &err) == GF_OK, "%s", err.msg);
                CHECK(gf_wmat_init(&S, type, n_in, n_out, wdata, GF_KERNELS_SCALAR, &err) == GF_OK, "%s",
                      err.msg);
                omp_set_num_threads(1);
                gf_matmul(&W, X, Y1, n_tok);
                omp_set_num_threads(2);
                gf_matmul(&W, X, Y2, n_tok);
                gf_matmul(&S, X, Ys, n_tok);
                CHECK(memcmp(Y1, Y2, (size_t)(n_tok * n_out) * sizeof(float)) == 0,
                      "%s %s %lldx%lld tok=%lld: 1 vs 2 threads differ by %g", name,
                      gf_type_info(type)->name, (long long)n_out, (long long)n_in, (long long)n_tok,
                      max_abs_diff(Y1, Y2, n_tok * n_out));
                /* a token's output does not depend on the other tokens in the call */
                const int64_t t_last = n_tok - 1;
                float *y1 = malloc((size_t)n_out * sizeof(float));
                gf_matmul(&W, X + t_last * n_in, y1, 1);
                CHECK(memcmp(y1, Y2 + t_last * n_out, (size_t)n_out * sizeof(float)) == 0,
                      "%s %s: token %lld alone differs from inside a batch of %lld", name,
                      gf_type_info(type)->name, (long long)t_last, (long long)n_tok);
                /* against the exact product of the dequantized weights */
                float *wrow = malloc((size_t)n_in * sizeof(float));
                const size_t rb = gf_row_size(type, n_in);
                int bad_ref = 0, bad_set = 0;
                double worst = 0;
                for (int64_t o = 0; o < n_out; o++) {
                    gf_dequantize_row(type, (const char *)wdata + (size_t)o * rb, wrow, n_in);
                    for (int64_t t = 0; t < n_tok; t++) {
                        const float *x = X + t * n_in;
                        double exact = 0, mag = 0;
                        for (int64_t i = 0; i < n_in; i++) {
                            exact += (double)wrow[i] * x[i];
                            mag += fabs((double)wrow[i] * x[i]);
                        }
                        const double bound = ref_bound(type, wrow, x, n_in);
                        const double e = fabs(Ys[t * n_out + o] - exact);
                        if (e / bound > worst) worst = e / bound;
                        bad_ref += !(e <= bound);
                        const double es = fabs((double)Y2[t * n_out + o] - Ys[t * n_out + o]);
                        bad_set += !(es <= TOL_DOT_QUANT * 4 * mag + 1e-12);
                    }
                }
                CHECK(bad_ref == 0, "scalar %s %lldx%lld: %d outputs outside the bound (worst %.2f x bound)",
                      gf_type_info(type)->name, (long long)n_out, (long long)n_in, bad_ref, worst);
                CHECK(bad_set == 0, "%s %s %lldx%lld: %d outputs too far from scalar", name,
                      gf_type_info(type)->name, (long long)n_out, (long long)n_in, bad_set);
                gf_wmat_free(&W);
                gf_wmat_free(&S);
                free(wrow); free(y1); free(wdata); free(X); free(Y1); free(Y2); free(Ys);
            }
        }
    }
}

/* ---------------------------------------------------------------- API */

static void test_api(void) {
    gf_wmat W;
    gf_err err = {0};
    static const float dummy[64];
    CHECK(gf_wmat_init(&W, GF_TYPE_BF16, 32, 2, dummy, GF_KERNELS_SCALAR, &err) == GF_E_UNSUPPORTED,
          "bf16 accepted");
    CHECK(strstr(err.msg, "bf16") != NULL, "message does not name the type: %s", err.msg);
    gf_wmat_free(&W);
    CHECK(gf_wmat_init(&W, (gf_type)77, 32, 2, dummy, GF_KERNELS_SCALAR, &err) == GF_E_UNSUPPORTED,
          "type 77 accepted");
    CHECK(strstr(err.msg, "77") != NULL, "message does not name the type: %s", err.msg);
    CHECK(gf_wmat_init(&W, GF_TYPE_Q4_0, 33, 2, dummy, GF_KERNELS_SCALAR, &err) == GF_E_FORMAT,
          "q4_0 with 33 columns accepted");
    gf_wmat_free(NULL);

    for (int ks = 0; ks < GF_KERNELS_COUNT_; ks++) {
        if (gf_kernels_supported((gf_kernel_set)ks)) continue;
        CHECK(gf_wmat_init(&W, GF_TYPE_F32, 32, 2, dummy, (gf_kernel_set)ks, &err) == GF_E_UNSUPPORTED,
              "unsupported set %s accepted", gf_kernels_name((gf_kernel_set)ks));
        CHECK(strstr(err.msg, gf_kernels_name((gf_kernel_set)ks)) != NULL, "%s", err.msg);
    }
    for (int ks = 0; ks < GF_KERNELS_COUNT_; ks++)
        CHECK(gf_kernels_from_name(gf_kernels_name((gf_kernel_set)ks)) == ks, "name round trip %d", ks);

    /* the type table and the kernels agree: every type it says can be multiplied
     * has a dot and an activation conversion in every built set (the scalar set's
     * where a SIMD set has none), and a weight of each is accepted */
    for (int ks = 0; ks < GF_KERNELS_COUNT_; ks++) {
        const gf_kernel_ops *ops = gf_kernels_ops((gf_kernel_set)ks);
        if (!ops || !gf_kernels_supported((gf_kernel_set)ks)) continue;
        for (int t = 0; t < GF_TYPE_COUNT_; t++) {
            if (!gf_type_can_matmul((gf_type)t)) continue;
            const gf_type vt = gf_type_info((uint32_t)t)->vec_dot_type;
            CHECK(ops->vec_dot[t] && (vt == GF_TYPE_F32 || ops->from_float[vt]), "set %s lacks a kernel for %s",
                  gf_kernels_name((gf_kernel_set)ks), gf_type_name((uint32_t)t));
            const int64_t n_in = gf_type_info((uint32_t)t)->block_size * gf_type_info(vt)->block_size;
            void *w = calloc(2, gf_row_size((gf_type)t, n_in));
            CHECK(gf_wmat_init(&W, (gf_type)t, n_in, 2, w, (gf_kernel_set)ks, &err) == GF_OK, "%s", err.msg);
            gf_wmat_free(&W);
            free(w);
        }
    }

    /* GF_KERNELS picks a supported set, and is ignored when it names another */
    const char *old = getenv("GF_KERNELS");
    char *saved = old ? strdup(old) : NULL;
    setenv("GF_KERNELS", "scalar", 1);
    CHECK(gf_kernels_detect() == GF_KERNELS_SCALAR, "GF_KERNELS=scalar ignored");
    setenv("GF_KERNELS", "no-such-set", 1);
    const gf_kernel_set best = gf_kernels_detect();
    CHECK(gf_kernels_supported(best), "detect picked unsupported %s", gf_kernels_name(best));
    unsetenv("GF_KERNELS");
    CHECK(gf_kernels_detect() == best, "default differs from fallback");
    for (int ks = 0; ks < GF_KERNELS_COUNT_; ks++) {
        if (!gf_kernels_supported((gf_kernel_set)ks)) continue;
        setenv("GF_KERNELS", gf_kernels_name((gf_kernel_set)ks), 1);
        CHECK((int)gf_kernels_detect() == ks, "GF_KERNELS=%s ignored", gf_kernels_name((gf_kernel_set)ks));
    }
    if (saved) setenv("GF_KERNELS", saved, 1);
    else unsetenv("GF_KERNELS");
    free(saved);
    printf("  detected: %s\n", gf_kernels_name(gf_kernels_detect()));
}

int main(void) {
    test_api();
    test_gemm_q4x8(gf_gemm_q4x8_scalar, "scalar");
    test_gemm_q8x8(gf_gemm_q8x8_scalar, "scalar");
    for (int ks = 0; ks < GF_KERNELS_COUNT_; ks++) {
        const gf_kernel_set s = (gf_kernel_set)ks;
        if (!gf_kernels_supported(s)) {
            SKIP_CPU("kernel set %s: %s", gf_kernels_name(s),
                 gf_kernels_ops(s) ? "not supported by this CPU" : "not built into this binary");
            continue;
        }
        printf("kernel set %s\n", gf_kernels_name(s));
        const gf_kernel_ops *ops = gf_kernels_ops(s);
        if (s != GF_KERNELS_SCALAR) {
            test_float_lengths(ops, gf_kernels_name(s));
            test_kernels_vs_scalar(ops, gf_kernels_name(s));
        }
        if (ops->gemm_q4x8) test_gemm_q4x8(ops->gemm_q4x8, gf_kernels_name(s));
        if (ops->gemm_q8x8) test_gemm_q8x8(ops->gemm_q8x8, gf_kernels_name(s));
        test_matmul(s);
    }
    return check_done("test_kernels");
}
