/*
 * test_backward.c - the training forward and backward of a decoder block
 * (engine/backward.h): the forward against the engine's gf_block_forward with an
 * F32 cache (qwen2 and llama shapes); every layer's backward and the whole
 * block's against central differences of a naive double-precision reference
 * written below (independent of the float code: its own RMSNorm, RoPE angles in
 * double, softmax, SwiGLU); same bits with 1 and 2 threads.
 *
 *   test_backward            the tests (a few seconds)
 *   test_backward --bench    forward+backward timings of a Qwen2.5-0.5B-shaped block
 */
#include "../engine/backward.h"
#include "check.h"

#include <math.h>
#include <omp.h>
#include <time.h>

/* Block forward against the engine: max |ours - engine| / max |engine|.  Zero:
 * gf_matmul sends F32 weights through gf_gemm NT, and every other layer is the
 * engine's own code (attention: the same loops), so the bits must agree.  If
 * gf_matmul ever takes another path for F32, 2e-6 is what summation order costs. */
#define TOL_VS_ENGINE 0.0
/* The float forward against the double reference, relative to max |ref|. */
#define TOL_VS_REF 2e-6
/* Gradients: max |analytic - numerical| over the entries checked, relative to
 * the largest |numerical| among them.  The numerical gradient is a central
 * difference of the double reference (error ~1e-10), so what is left is float
 * rounding in the analytic gradient (measured: up to ~2e-7 per layer, ~5e-7
 * for the block, so a wrong term, which gives O(1), cannot hide). */
#define TOL_GRAD_LAYER 2e-6
#define TOL_GRAD_BLOCK 1e-5
/* Relative step of the central differences (in double). */
#define FD_STEP 1e-5
/* Entries of each block weight (and of dL/dx) checked by finite differences. */
#define FD_SAMPLES 24

/* ---------------------------------------------------------------- helpers */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double frand(void) { /* uniform in [-1, 1) */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / (double)(1ull << 52) - 1.0;
}
static int64_t irand(int64_t n) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (int64_t)(rng_state % (uint64_t)n);
}

static float *rand_f(int64_t n, double scale, double offset) {
    float *p = malloc((size_t)(n ? n : 1) * sizeof *p);
    for (int64_t i = 0; i < n; i++) p[i] = (float)(offset + scale * frand());
    return p;
}
static double *to_d(const float *f, int64_t n) {
    double *d = malloc((size_t)(n ? n : 1) * sizeof *d);
    for (int64_t i = 0; i < n; i++) d[i] = f[i];
    return d;
}
static double *dalloc(int64_t n) { return calloc((size_t)(n ? n : 1), sizeof(double)); }
static float *falloc(int64_t n) { return calloc((size_t)(n ? n : 1), sizeof(float)); }

static double max_abs_diff(const float *a, const float *b, int64_t n, double *max_b) {
    double m = 0, mb = 0;
    for (int64_t i = 0; i < n; i++) {
        const double d = fabs((double)a[i] - (double)b[i]);
        if (d > m || d != d) m = d;
        if (fabs(b[i]) > mb) mb = fabs(b[i]);
    }
    if (max_b) *max_b = mb;
    return m;
}

/* max |a - n| / max |n| over count entries */
static double grad_err(const double *a, const double *n, int64_t count) {
    double m = 0, mn = 0;
    for (int64_t i = 0; i < count; i++) {
        const double d = fabs(a[i] - n[i]);
        if (d > m || d != d) m = d;
        if (fabs(n[i]) > mn) mn = fabs(n[i]);
    }
    return mn > 0 ? m / mn : m;
}

static double dot_d(const double *a, const double *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Central difference of loss() with respect to p[i]; p is restored. */
#define CENTRAL_DIFF(p, i, expr, out) do { \
    const double p0_ = (p)[i], h_ = FD_STEP * (fabs(p0_) > 1.0 ? fabs(p0_) : 1.0); \
    (p)[i] = p0_ + h_; const double lp_ = (expr); \
    (p)[i] = p0_ - h_; const double lm_ = (expr); \
    (p)[i] = p0_; (out) = (lp_ - lm_) / (2.0 * h_); \
} while (0)

/* ---------------------------------------------------------------- double reference */

static void ref_rmsnorm(double *o, const double *x, const double *w, int64_t T, int64_t D, double eps) {
    for (int64_t t = 0; t < T; t++) {
        double ss = 0;
        for (int64_t i = 0; i < D; i++) ss += x[t * D + i] * x[t * D + i];
        const double s = 1.0 / sqrt(ss / (double)D + eps);
        for (int64_t i = 0; i < D; i++) o[t * D + i] = x[t * D + i] * s * w[i];
    }
}

/* In place, token t at position pos0 + t; angles in double, pair i's divided by
 * ff[i] when given (rope_freqs). */
static void ref_rope(double *x, int64_t T, int64_t pos0, int64_t H, int64_t hd, int64_t n_rot, double base,
                     int neox, const float *ff) {
    for (int64_t t = 0; t < T; t++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < n_rot / 2; i++) {
                const double th = (double)(pos0 + t) * pow(base, -2.0 * (double)i / (double)n_rot) /
                                  (ff ? (double)ff[i] : 1.0);
                double *v = x + (t * H + h) * hd;
                double *a = &v[neox ? i : 2 * i], *b = &v[neox ? i + n_rot / 2 : 2 * i + 1];
                const double x0 = *a, x1 = *b;
                *a = x0 * cos(th) - x1 * sin(th);
                *b = x0 * sin(th) + x1 * cos(th);
            }
}

/* Causal GQA attention of B sequences of T tokens. */
static void ref_attention(double *o, const double *q, const double *k, const double *v, int64_t B, int64_t T,
                          int64_t H, int64_t Hk, int64_t hd) {
    const int64_t Dq = H * hd, Dkv = Hk * hd;
    double *s = dalloc(T);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++) {
            const int64_t kh = h / (H / Hk);
            for (int64_t t = 0; t < T; t++) {
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j <= t; j++) {
                    s[j] = dot_d(q + (b * T + t) * Dq + h * hd, k + (b * T + j) * Dkv + kh * hd, hd) / sqrt((double)hd);
                    if (s[j] > mx) mx = s[j];
                }
                for (int64_t j = 0; j <= t; j++) sum += (s[j] = exp(s[j] - mx));
                double *ot = o + (b * T + t) * Dq + h * hd;
                for (int64_t i = 0; i < hd; i++) ot[i] = 0;
                for (int64_t j = 0; j <= t; j++)
                    for (int64_t i = 0; i < hd; i++) ot[i] += s[j] / sum * v[(b * T + j) * Dkv + kh * hd + i];
            }
        }
    free(s);
}

static void ref_swiglu(double *o, const double *g, const double *u, int64_t n) {
    for (int64_t i = 0; i < n; i++) o[i] = g[i] / (1.0 + exp(-g[i])) * u[i];
}

static void ref_linear(double *y, const double *W, const double *bias, const double *x, int64_t T, int64_t n_in,
                       int64_t n_out) {
    for (int64_t t = 0; t < T; t++)
        for (int64_t o = 0; o < n_out; o++)
            y[t * n_out + o] = (bias ? bias[o] : 0.0) + dot_d(W + o * n_in, x + t * n_in, n_in);
}

/* A block in double: the weights as doubles (perturbed by the finite differences). */
typedef struct {
    gf_hparams hp;
    int64_t B, T;
    double *w[GF_LIN_COUNT], *bias[GF_LIN_COUNT], *attn_norm, *ffn_norm;
    double *q_norm, *k_norm; /* (Dh) per-head q/k norms (qwen3) or NULL */
} ref_block;

static void ref_block_forward(const ref_block *rb, const double *x, double *y) {
    const gf_hparams *hp = &rb->hp;
    const int64_t BT = rb->B * rb->T, D = hp->dim, F = hp->n_ff, hd = hp->head_dim;
    const int64_t Dq = hp->n_heads * hd, Dkv = hp->n_kv_heads * hd;
    double *xn = dalloc(BT * D), *q = dalloc(BT * Dq), *k = dalloc(BT * Dkv), *v = dalloc(BT * Dkv);
    double *att = dalloc(BT * Dq), *x1 = dalloc(BT * D), *g = dalloc(BT * F), *u = dalloc(BT * F);
    ref_rmsnorm(xn, x, rb->attn_norm, BT, D, hp->rms_eps);
    ref_linear(q, rb->w[GF_LIN_Q], rb->bias[GF_LIN_Q], xn, BT, D, Dq);
    ref_linear(k, rb->w[GF_LIN_K], rb->bias[GF_LIN_K], xn, BT, D, Dkv);
    ref_linear(v, rb->w[GF_LIN_V], rb->bias[GF_LIN_V], xn, BT, D, Dkv);
    if (rb->q_norm) ref_rmsnorm(q, q, rb->q_norm, BT * hp->n_heads, hd, hp->rms_eps);
    if (rb->k_norm) ref_rmsnorm(k, k, rb->k_norm, BT * hp->n_kv_heads, hd, hp->rms_eps);
    for (int64_t b = 0; b < rb->B; b++) {
        ref_rope(q + b * rb->T * Dq, rb->T, 0, hp->n_heads, hd, hp->n_rot, hp->rope_base, hp->rope == GF_ROPE_NEOX,
                 hp->rope_freqs);
        ref_rope(k + b * rb->T * Dkv, rb->T, 0, hp->n_kv_heads, hd, hp->n_rot, hp->rope_base,
                 hp->rope == GF_ROPE_NEOX, hp->rope_freqs);
    }
    ref_attention(att, q, k, v, rb->B, rb->T, hp->n_heads, hp->n_kv_heads, hd);
    ref_linear(x1, rb->w[GF_LIN_O], rb->bias[GF_LIN_O], att, BT, Dq, D);
    for (int64_t i = 0; i < BT * D; i++) x1[i] += x[i];
    ref_rmsnorm(xn, x1, rb->ffn_norm, BT, D, hp->rms_eps);
    ref_linear(g, rb->w[GF_LIN_GATE], rb->bias[GF_LIN_GATE], xn, BT, D, F);
    ref_linear(u, rb->w[GF_LIN_UP], rb->bias[GF_LIN_UP], xn, BT, D, F);
    ref_swiglu(g, g, u, BT * F);
    ref_linear(y, rb->w[GF_LIN_DOWN], rb->bias[GF_LIN_DOWN], g, BT, F, D);
    for (int64_t i = 0; i < BT * D; i++) y[i] += x1[i];
    free(xn), free(q), free(k), free(v), free(att), free(x1), free(g), free(u);
}

/* ---------------------------------------------------------------- random block */

typedef struct {
    gf_hparams hp;
    int64_t B, T;
    float *w[GF_LIN_COUNT], *bias[GF_LIN_COUNT], *attn_norm, *ffn_norm;
    float *q_norm, *k_norm; /* (Dh), when the arch has per-head q/k norms */
    gf_block_weights bw;
} fblock;

/* hd: the head size, 0 for D/H */
static gf_hparams make_hp_hd(gf_arch arch, int64_t D, int64_t H, int64_t Hk, int64_t F, int64_t hd) {
    gf_hparams hp = {0};
    hp.arch = arch;
    hp.dim = D;
    hp.n_layers = 1;
    hp.n_ff = F;
    hp.n_heads = H;
    hp.n_kv_heads = Hk;
    hp.head_dim = hd ? hd : D / H;
    hp.n_rot = hp.head_dim;
    hp.n_vocab = 16;
    hp.n_ctx_train = 4096;
    hp.rope_base = arch == GF_ARCH_LLAMA ? 10000.0f : 1000000.0f;
    hp.rms_eps = 1e-6f;
    hp.rope = gf_arch_get(arch)->rope;
    return hp;
}
static gf_hparams make_hp(gf_arch arch, int64_t D, int64_t H, int64_t Hk, int64_t F) {
    return make_hp_hd(arch, D, H, Hk, F, 0);
}

/* biases: q/k/v like qwen2 (1), all seven (2), none (0) */
static void fblock_init(fblock *fb, const gf_hparams *hp, int biases) {
    memset(fb, 0, sizeof *fb);
    fb->hp = *hp;
    for (int l = 0; l < GF_LIN_COUNT; l++) {
        int64_t n_out, n_in;
        gf_block_linear_shape(hp, l, &n_out, &n_in);
        fb->w[l] = rand_f(n_out * n_in, 1.0 / sqrt((double)n_in), 0.0);
        if (biases == 2 || (biases == 1 && l <= GF_LIN_V)) fb->bias[l] = rand_f(n_out, 0.5, 0.0);
        fb->bw.w[l] = fb->w[l];
        fb->bw.bias[l] = fb->bias[l];
    }
    fb->attn_norm = rand_f(hp->dim, 0.2, 1.0);
    fb->ffn_norm = rand_f(hp->dim, 0.2, 1.0);
    fb->bw.norm[GF_NORM_ATTN] = fb->attn_norm;
    fb->bw.norm[GF_NORM_FFN] = fb->ffn_norm;
    if (gf_arch_get(hp->arch)->qk_norm) {
        fb->bw.norm[GF_NORM_Q] = fb->q_norm = rand_f(hp->head_dim, 0.4, 1.0);
        fb->bw.norm[GF_NORM_K] = fb->k_norm = rand_f(hp->head_dim, 0.4, 1.0);
    }
}

static void fblock_free(fblock *fb) {
    for (int l = 0; l < GF_LIN_COUNT; l++) free(fb->w[l]), free(fb->bias[l]);
    free(fb->attn_norm), free(fb->ffn_norm), free(fb->q_norm), free(fb->k_norm);
}

static void ref_block_init(ref_block *rb, const fblock *fb, int64_t B, int64_t T) {
    memset(rb, 0, sizeof *rb);
    rb->hp = fb->hp;
    rb->B = B;
    rb->T = T;
    for (int l = 0; l < GF_LIN_COUNT; l++) {
        int64_t n_out, n_in;
        gf_block_linear_shape(&fb->hp, l, &n_out, &n_in);
        rb->w[l] = to_d(fb->w[l], n_out * n_in);
        rb->bias[l] = fb->bias[l] ? to_d(fb->bias[l], n_out) : NULL;
    }
    rb->attn_norm = to_d(fb->attn_norm, fb->hp.dim);
    rb->ffn_norm = to_d(fb->ffn_norm, fb->hp.dim);
    rb->q_norm = fb->q_norm ? to_d(fb->q_norm, fb->hp.head_dim) : NULL;
    rb->k_norm = fb->k_norm ? to_d(fb->k_norm, fb->hp.head_dim) : NULL;
}

static void ref_block_free(ref_block *rb) {
    for (int l = 0; l < GF_LIN_COUNT; l++) free(rb->w[l]), free(rb->bias[l]);
    free(rb->attn_norm), free(rb->ffn_norm), free(rb->q_norm), free(rb->k_norm);
}

/* ---------------------------------------------------------------- 1. forward vs engine */

/* A gf_model of one layer over fb's float weights, for gf_block_forward. */
static void engine_forward(const fblock *fb, const float *x, float *y, int64_t B, int64_t T) {
    gf_err err = {0};
    gf_model m;
    memset(&m, 0, sizeof m);
    gf_layer ly;
    memset(&ly, 0, sizeof ly);
    m.hp = fb->hp;
    m.path = "test-block";
    m.layers = &ly;
    m.ks = gf_kernels_detect();
    ly.norm[GF_NORM_ATTN] = fb->attn_norm;
    ly.norm[GF_NORM_FFN] = fb->ffn_norm;
    ly.norm[GF_NORM_Q] = fb->q_norm;
    ly.norm[GF_NORM_K] = fb->k_norm;
    for (int l = 0; l < GF_LIN_COUNT; l++) {
        int64_t n_out, n_in;
        gf_block_linear_shape(&fb->hp, l, &n_out, &n_in);
        CHECK(gf_wmat_init(&ly.lin[l], GF_TYPE_F32, n_in, n_out, fb->w[l], m.ks, &err) == GF_OK, "%s", err.msg);
        ly.bias[l] = fb->bias[l];
        snprintf(ly.name[l], sizeof ly.name[l], "blk.0.%s.weight", gf_linear_stem(l));
    }
    gf_state s;
    CHECK(gf_state_init(&s, &m, T, T, GF_TYPE_F32, &err) == GF_OK, "%s", err.msg);
    const int64_t D = fb->hp.dim;
    for (int64_t b = 0; b < B; b++) {
        memcpy(y + b * T * D, x + b * T * D, (size_t)(T * D) * sizeof(float));
        CHECK(gf_block_forward(&m, 0, y + b * T * D, T, 0, &s, NULL, &err) == GF_OK, "%s", err.msg);
    }
    /* the RoPE tables must be the engine's, bit for bit */
    const int64_t half = fb->hp.n_rot / 2;
    float *c = falloc(T * half), *sn = falloc(T * half);
    gf_rope_tables(c, sn, T, &fb->hp);
    CHECK(memcmp(c, s.rope_cos, (size_t)(T * half) * sizeof(float)) == 0 &&
          memcmp(sn, s.rope_sin, (size_t)(T * half) * sizeof(float)) == 0, "RoPE tables differ from the engine's");
    free(c), free(sn);
    gf_state_free(&s);
    for (int l = 0; l < GF_LIN_COUNT; l++) gf_wmat_free(&ly.lin[l]);
}

/* hd: head size, 0 for D/H */
static void test_vs_engine(const char *name, gf_arch arch, int64_t D, int64_t H, int64_t Hk, int64_t hd, int64_t F,
                           int biases, int64_t B, int64_t T) {
    gf_err err = {0};
    gf_hparams hp = make_hp_hd(arch, D, H, Hk, F, hd);
    fblock fb;
    fblock_init(&fb, &hp, biases);
    const int64_t n = B * T * D;
    float *x = rand_f(n, 1.0, 0.0), *y = falloc(n), *ye = falloc(n);
    gf_block_tape tp;
    CHECK(gf_block_tape_init(&tp, &hp, B, T, &err) == GF_OK, "%s", err.msg);
    gf_block_forward_train(&hp, &fb.bw, x, y, &tp);
    engine_forward(&fb, x, ye, B, T);
    double mb, d = max_abs_diff(y, ye, n, &mb);
    printf("  forward vs engine (%s, B=%lld T=%lld): max |diff| %.3g, relative %.3g\n", name, (long long)B,
           (long long)T, d, d / mb);
    CHECK(d / mb <= TOL_VS_ENGINE, "%s: forward differs from gf_block_forward by %g (relative)", name, d / mb);

    /* attention alone is the engine's to the bit (same loops, same order) */
    const int64_t Dq = H * hp.head_dim, Dkv = Hk * hp.head_dim;
    float *att = falloc(T * Dq), *sc = falloc(H * T);
    gf_attention_forward(att, tp.q, tp.k, tp.v, sc, T, 0, H, Hk, hp.head_dim, 0);
    CHECK(memcmp(att, tp.att, (size_t)(T * Dq) * sizeof(float)) == 0,
          "%s: attention of sample 0 differs from gf_attention_forward (max %g)", name,
          max_abs_diff(att, tp.att, T * Dq, NULL));
    (void)Dkv;
    free(att), free(sc);

    /* and the double reference agrees with both */
    ref_block rb;
    ref_block_init(&rb, &fb, B, T);
    double *xd = to_d(x, n), *yd = dalloc(n);
    ref_block_forward(&rb, xd, yd);
    double m = 0, my = 0;
    for (int64_t i = 0; i < n; i++) {
        if (fabs(y[i] - yd[i]) > m) m = fabs(y[i] - yd[i]);
        if (fabs(yd[i]) > my) my = fabs(yd[i]);
    }
    printf("  forward vs double reference (%s): relative %.3g\n", name, m / my);
    CHECK(m / my <= TOL_VS_REF, "%s: forward differs from the double reference by %g", name, m / my);
    free(xd), free(yd);
    ref_block_free(&rb);
    gf_block_tape_free(&tp);
    free(x), free(y), free(ye);
    fblock_free(&fb);
}

/* ---------------------------------------------------------------- 2. layers by finite differences */

static void test_rmsnorm_grad(void) {
    const int64_t T = 3, D = 37;
    const float eps = 1e-6f;
    float *x = rand_f(T * D, 1.0, 0.0), *w = rand_f(D, 0.3, 1.0), *r = rand_f(T * D, 1.0, 0.0);
    float *dx = falloc(T * D);
    for (int64_t i = 0; i < T * D; i++) dx[i] = 0.5f; /* accumulates */
    gf_rmsnorm_backward(dx, r, x, w, T, D, eps);
    double *xd = to_d(x, T * D), *wd = to_d(w, D), *rd = to_d(r, T * D), *o = dalloc(T * D);
    double *a = dalloc(T * D), *nm = dalloc(T * D);
    for (int64_t i = 0; i < T * D; i++) {
        a[i] = dx[i] - 0.5;
        CENTRAL_DIFF(xd, i, (ref_rmsnorm(o, xd, wd, T, D, eps), dot_d(o, rd, T * D)), nm[i]);
    }
    const double e = grad_err(a, nm, T * D);
    printf("  rmsnorm backward: max relative error %.3g\n", e);
    CHECK(e <= TOL_GRAD_LAYER, "rmsnorm: %g", e);
    free(x), free(w), free(r), free(dx), free(xd), free(wd), free(rd), free(o), free(a), free(nm);
}

/* ff: RoPE frequency factors (n_rot/2 divisors of the angles, rope_freqs) or NULL */
static void test_rope_grad(gf_rope_kind kind, int64_t n_rot, const float *ff) {
    const int64_t T = 5, pos0 = 3, H = 3, hd = 12, n = T * H * hd;
    const float base = 10000.0f;
    float *c = falloc((pos0 + T) * hd / 2), *s = falloc((pos0 + T) * hd / 2);
    const gf_hparams hp = {.n_rot = n_rot, .rope_base = base, .rope_freqs = ff};
    gf_rope_tables(c, s, pos0 + T, &hp);
    float *x = rand_f(n, 1.0, 0.0), *r = rand_f(n, 1.0, 0.0), *g = malloc((size_t)n * sizeof *g);
    memcpy(g, r, (size_t)n * sizeof *g);
    gf_rope_backward(g, T, pos0, H, hd, n_rot, kind, c, s);
    /* the forward too, against the double rotation */
    float *y = malloc((size_t)n * sizeof *y);
    memcpy(y, x, (size_t)n * sizeof *y);
    gf_rope_forward(y, T, pos0, H, hd, n_rot, kind, c, s);
    double *xd = to_d(x, n), *rd = to_d(r, n), *o = dalloc(n), *a = dalloc(n), *nm = dalloc(n);
    memcpy(o, xd, (size_t)n * sizeof *o);
    ref_rope(o, T, pos0, H, hd, n_rot, base, kind == GF_ROPE_NEOX, ff);
    double fe = 0;
    for (int64_t i = 0; i < n; i++) fe = fmax(fe, fabs(y[i] - o[i]));
    for (int64_t i = 0; i < n; i++) {
        a[i] = g[i];
        CENTRAL_DIFF(xd, i, (memcpy(o, xd, (size_t)n * sizeof *o),
                             ref_rope(o, T, pos0, H, hd, n_rot, base, kind == GF_ROPE_NEOX, ff), dot_d(o, rd, n)), nm[i]);
    }
    const double e = grad_err(a, nm, n);
    printf("  rope backward (%s, n_rot %lld of %lld%s): max relative error %.3g (forward %.3g)\n",
           kind == GF_ROPE_NEOX ? "neox" : "norm", (long long)n_rot, (long long)hd, ff ? ", rope_freqs" : "", e, fe);
    CHECK(e <= TOL_GRAD_LAYER, "rope: %g", e);
    CHECK(fe <= TOL_VS_REF, "rope forward: %g", fe);
    free(c), free(s), free(x), free(r), free(g), free(y), free(xd), free(rd), free(o), free(a), free(nm);
}

static void test_attention_grad(int64_t H, int64_t Hk) {
    const int64_t B = 2, T = 7, hd = 12, Dq = H * hd, Dkv = Hk * hd, BT = B * T;
    float *q = rand_f(BT * Dq, 1.0, 0.0), *k = rand_f(BT * Dkv, 1.0, 0.0), *v = rand_f(BT * Dkv, 1.0, 0.0);
    float *r = rand_f(BT * Dq, 1.0, 0.0), *out = falloc(BT * Dq), *probs = falloc(B * H * gf_attn_probs_len(T));
    float *dq = falloc(BT * Dq), *dk = falloc(BT * Dkv), *dv = falloc(BT * Dkv), *work = falloc(B * H * gf_attn_probs_len(T));
    gf_attention_forward_train(out, probs, q, k, v, B, T, H, Hk, hd);
    gf_attention_backward(dq, dk, dv, r, q, k, v, probs, B, T, H, Hk, hd, work);
    double *qd = to_d(q, BT * Dq), *kd = to_d(k, BT * Dkv), *vd = to_d(v, BT * Dkv), *rd = to_d(r, BT * Dq);
    double *o = dalloc(BT * Dq);
    ref_attention(o, qd, kd, vd, B, T, H, Hk, hd);
    double fe = 0, fm = 0;
    for (int64_t i = 0; i < BT * Dq; i++) fe = fmax(fe, fabs(out[i] - o[i])), fm = fmax(fm, fabs(o[i]));
#define LOSS (ref_attention(o, qd, kd, vd, B, T, H, Hk, hd), dot_d(o, rd, BT * Dq))
    const struct { const char *name; double *p; const float *g; int64_t n; } ts[3] = {
        {"dq", qd, dq, BT * Dq}, {"dk", kd, dk, BT * Dkv}, {"dv", vd, dv, BT * Dkv}};
    for (int i = 0; i < 3; i++) {
        double *a = dalloc(ts[i].n), *nm = dalloc(ts[i].n);
        for (int64_t j = 0; j < ts[i].n; j++) {
            a[j] = ts[i].g[j];
            CENTRAL_DIFF(ts[i].p, j, LOSS, nm[j]);
        }
        const double e = grad_err(a, nm, ts[i].n);
        printf("  attention backward (H=%lld Hk=%lld) %s: max relative error %.3g\n", (long long)H, (long long)Hk,
               ts[i].name, e);
        CHECK(e <= TOL_GRAD_LAYER, "attention %s: %g", ts[i].name, e);
        free(a), free(nm);
    }
#undef LOSS
    CHECK(fe / fm <= TOL_VS_REF, "attention forward: %g", fe / fm);
    free(q), free(k), free(v), free(r), free(out), free(probs), free(dq), free(dk), free(dv), free(work);
    free(qd), free(kd), free(vd), free(rd), free(o);
}

static void test_swiglu_grad(void) {
    const int64_t n = 64;
    float *g = rand_f(n, 6.0, 0.0), *u = rand_f(n, 2.0, 0.0), *r = rand_f(n, 1.0, 0.0);
    float *dg = malloc((size_t)n * sizeof *dg), *du = falloc(n);
    memcpy(dg, r, (size_t)n * sizeof *dg);
    gf_swiglu_backward(dg, du, dg, g, u, n); /* in place over dout */
    double *gd = to_d(g, n), *ud = to_d(u, n), *rd = to_d(r, n), *o = dalloc(n), *a = dalloc(n), *nm = dalloc(n);
    double e[2];
    for (int which = 0; which < 2; which++) {
        double *p = which ? ud : gd;
        for (int64_t i = 0; i < n; i++) {
            a[i] = which ? du[i] : dg[i];
            CENTRAL_DIFF(p, i, (ref_swiglu(o, gd, ud, n), dot_d(o, rd, n)), nm[i]);
        }
        e[which] = grad_err(a, nm, n);
    }
    printf("  swiglu backward: max relative error dgate %.3g, dup %.3g\n", e[0], e[1]);
    CHECK(e[0] <= TOL_GRAD_LAYER && e[1] <= TOL_GRAD_LAYER, "swiglu: %g %g", e[0], e[1]);
    free(g), free(u), free(r), free(dg), free(du), free(gd), free(ud), free(rd), free(o), free(a), free(nm);
}

static void test_linear_grad(void) {
    const int64_t T = 5, n_in = 19, n_out = 11;
    float *x = rand_f(T * n_in, 1.0, 0.0), *W = rand_f(n_out * n_in, 0.3, 0.0), *b = rand_f(n_out, 0.5, 0.0);
    float *r = rand_f(T * n_out, 1.0, 0.0), *y = falloc(T * n_out), *dx = falloc(T * n_in);
    float *dW = falloc(n_out * n_in);
    for (int64_t i = 0; i < n_out * n_in; i++) dW[i] = 0.25f; /* dW accumulates */
    gf_linear_forward_f32(y, W, b, x, T, n_in, n_out);
    gf_linear_backward(dx, dW, r, x, W, T, n_in, n_out, 0);
    double *xd = to_d(x, T * n_in), *Wd = to_d(W, n_out * n_in), *bd = to_d(b, n_out), *rd = to_d(r, T * n_out);
    double *o = dalloc(T * n_out);
    ref_linear(o, Wd, bd, xd, T, n_in, n_out);
    double fe = 0;
    for (int64_t i = 0; i < T * n_out; i++) fe = fmax(fe, fabs(y[i] - o[i]));
    double e[2];
    for (int which = 0; which < 2; which++) {
        const int64_t n = which ? n_out * n_in : T * n_in;
        double *p = which ? Wd : xd, *a = dalloc(n), *nm = dalloc(n);
        for (int64_t i = 0; i < n; i++) {
            a[i] = which ? dW[i] - 0.25 : dx[i];
            CENTRAL_DIFF(p, i, (ref_linear(o, Wd, bd, xd, T, n_in, n_out), dot_d(o, rd, T * n_out)), nm[i]);
        }
        e[which] = grad_err(a, nm, n);
        free(a), free(nm);
    }
    /* acc_dx adds */
    float *dx2 = falloc(T * n_in);
    for (int64_t i = 0; i < T * n_in; i++) dx2[i] = 1.0f;
    gf_linear_backward(dx2, NULL, r, x, W, T, n_in, n_out, 1);
    double ae = 0;
    for (int64_t i = 0; i < T * n_in; i++) ae = fmax(ae, fabs(dx2[i] - 1.0 - dx[i]));
    printf("  linear backward: max relative error dx %.3g, dW %.3g (forward %.3g)\n", e[0], e[1], fe);
    CHECK(e[0] <= TOL_GRAD_LAYER && e[1] <= TOL_GRAD_LAYER, "linear: %g %g", e[0], e[1]);
    CHECK(fe <= TOL_VS_REF, "linear forward: %g", fe);
    CHECK(ae <= 1e-6, "linear: acc_dx does not add (%g)", ae);
    free(x), free(W), free(b), free(r), free(y), free(dx), free(dW), free(dx2), free(xd), free(Wd), free(bd);
    free(rd), free(o);
}

static double mse_d(const double *y, const double *t, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (y[i] - t[i]) * (y[i] - t[i]);
    return s / (double)n;
}

static void test_mse(void) {
    const int64_t n = 101;
    float *y = rand_f(n, 1.0, 0.0), *t = rand_f(n, 1.0, 0.0), *dy = falloc(n);
    const double l = gf_mse_loss(y, t, dy, n);
    double *yd = to_d(y, n), *td = to_d(t, n), ref = 0, e = 0, mx = 0;
    for (int64_t i = 0; i < n; i++) ref += (yd[i] - td[i]) * (yd[i] - td[i]) / (double)n;
    for (int64_t i = 0; i < n; i++) {
        double nm;
        CENTRAL_DIFF(yd, i, mse_d(yd, td, n), nm);
        e = fmax(e, fabs(dy[i] - nm));
        mx = fmax(mx, fabs(nm));
    }
    printf("  mse loss: value error %.3g, gradient max relative error %.3g\n", fabs(l - ref) / ref, e / mx);
    CHECK(fabs(l - ref) <= 1e-12 * ref && e / mx <= TOL_GRAD_LAYER, "mse: %g %g", fabs(l - ref), e / mx);
    free(y), free(t), free(dy), free(yd), free(td);
}

/* ---------------------------------------------------------------- 2b. the block by finite differences */

static void test_block_grad(const char *name, gf_arch arch, int64_t D, int64_t H, int64_t Hk, int64_t hd, int64_t F,
                            int biases, int64_t B, int64_t T, const float *ff) {
    gf_err err = {0};
    gf_hparams hp = make_hp_hd(arch, D, H, Hk, F, hd);
    hp.rope_freqs = ff;
    fblock fb;
    fblock_init(&fb, &hp, biases);
    const int64_t n = B * T * D;
    float *x = rand_f(n, 1.0, 0.0), *y = falloc(n), *r = rand_f(n, 1.0, 0.0), *dx = falloc(n);
    float *dW[GF_LIN_COUNT];
    for (int l = 0; l < GF_LIN_COUNT; l++) {
        int64_t n_out, n_in;
        gf_block_linear_shape(&hp, l, &n_out, &n_in);
        dW[l] = falloc(n_out * n_in);
    }
    gf_block_tape tp;
    CHECK(gf_block_tape_init(&tp, &hp, B, T, &err) == GF_OK, "%s", err.msg);
    gf_block_forward_train(&hp, &fb.bw, x, y, &tp);
    gf_block_backward(&hp, &fb.bw, r, dW, dx, &tp); /* L = sum(y ⊙ r): dL/dy = r */

    ref_block rb;
    ref_block_init(&rb, &fb, B, T);
    double *xd = to_d(x, n), *rd = to_d(r, n), *yd = dalloc(n);
#define LOSS (ref_block_forward(&rb, xd, yd), dot_d(yd, rd, n))
    double a[FD_SAMPLES], nm[FD_SAMPLES];
    printf("  block backward (%s, B=%lld T=%lld), max relative error over %d entries:", name, (long long)B,
           (long long)T, FD_SAMPLES);
    for (int l = 0; l <= GF_LIN_COUNT; l++) { /* the seven weights, then x */
        int64_t n_out = 1, n_in = n;
        if (l < GF_LIN_COUNT) gf_block_linear_shape(&hp, l, &n_out, &n_in);
        double *p = l < GF_LIN_COUNT ? rb.w[l] : xd;
        const float *g = l < GF_LIN_COUNT ? dW[l] : dx;
        for (int s = 0; s < FD_SAMPLES; s++) {
            const int64_t i = irand(n_out * n_in);
            a[s] = g[i];
            CENTRAL_DIFF(p, i, LOSS, nm[s]);
        }
        const double e = grad_err(a, nm, FD_SAMPLES);
        const char *what = l < GF_LIN_COUNT ? gf_linear_stem(l) : "x";
        printf(" %s %.2g", what, e);
        CHECK(e <= TOL_GRAD_BLOCK, "%s: dL/d%s: %g", name, what, e);
    }
    printf("\n");
#undef LOSS

    /* the tape survives a backward: a second one gives the same bits */
    float *dW2 = falloc(hp.n_ff * D), *dx2 = falloc(n);
    float *only_down[GF_LIN_COUNT] = {[GF_LIN_DOWN] = dW2};
    gf_block_backward(&hp, &fb.bw, r, only_down, dx2, &tp);
    CHECK(memcmp(dx, dx2, (size_t)n * sizeof(float)) == 0, "%s: second backward differs", name);
    CHECK(memcmp(dW[GF_LIN_DOWN], dW2, (size_t)(hp.n_ff * D) * sizeof(float)) == 0,
          "%s: second backward differs (dW down)", name);
    free(dW2), free(dx2);

    ref_block_free(&rb);
    free(xd), free(rd), free(yd);
    gf_block_tape_free(&tp);
    for (int l = 0; l < GF_LIN_COUNT; l++) free(dW[l]);
    free(x), free(y), free(r), free(dx);
    fblock_free(&fb);
}

/* ---------------------------------------------------------------- per-sample weight gradients */

/* gf_block_backward_per_sample: every sample's dL/dW handed to the sink is bit for bit
 * the dL/dW of a forward and backward of that sample alone (a 1-sample tape), the
 * samples come in order in groups of the given size, and dL/dx is the batched one. */
typedef struct {
    const gf_hparams *hp;
    float *ref[8][GF_LIN_COUNT]; /* per sample, its own backward's dW */
    int64_t next[GF_LIN_COUNT];  /* the next sample expected per matrix */
    int group, bad_order, bad_bits, calls;
} ps_ctx;

static gf_status ps_sink(void *ctx, gf_linear l, int64_t s0, int m, const float *const *g) {
    ps_ctx *c = ctx;
    int64_t n_out, n_in;
    gf_block_linear_shape(c->hp, l, &n_out, &n_in);
    c->calls++;
    if (s0 != c->next[l] || m < 1 || m > c->group) c->bad_order++;
    for (int j = 0; j < m && s0 + j < 8; j++)
        c->bad_bits += memcmp(g[j], c->ref[s0 + j][l], (size_t)(n_out * n_in) * sizeof(float)) != 0;
    c->next[l] = s0 + m;
    return GF_OK;
}

static void test_per_sample(const char *name, gf_arch arch, int64_t hd, int biases, int64_t B, int group) {
    gf_err err = {0};
    gf_hparams hp = make_hp_hd(arch, 48, 4, 2, 80, hd);
    fblock fb;
    fblock_init(&fb, &hp, biases);
    const int64_t T = 6, st = T * hp.dim, n = B * st;
    float *x = rand_f(n, 1.0, 0.0), *r = rand_f(n, 1.0, 0.0), *y = falloc(n), *dx = falloc(n), *dx2 = falloc(n);
    ps_ctx c = {.hp = &hp, .group = group};
    float *dW[GF_LIN_COUNT], *dWb[GF_LIN_COUNT];
    int64_t nmax = 0;
    for (int l = 0; l < GF_LIN_COUNT; l++) {
        int64_t n_out, n_in;
        gf_block_linear_shape(&hp, l, &n_out, &n_in);
        dW[l] = falloc(n_out * n_in), dWb[l] = falloc(n_out * n_in);
        if (n_out * n_in > nmax) nmax = n_out * n_in;
        for (int64_t k = 0; k < B; k++) c.ref[k][l] = falloc(n_out * n_in);
    }
    gf_block_tape t1, tp;
    CHECK(gf_block_tape_init(&t1, &hp, 1, T, &err) == GF_OK, "%s", err.msg);
    CHECK(gf_block_tape_init(&tp, &hp, B, T, &err) == GF_OK, "%s", err.msg);
    for (int64_t k = 0; k < B; k++) {
        gf_block_forward_train(&hp, &fb.bw, x + k * st, y, &t1);
        gf_block_backward(&hp, &fb.bw, r + k * st, c.ref[k], NULL, &t1);
    }
    gf_block_forward_train(&hp, &fb.bw, x, y, &tp);
    gf_block_backward(&hp, &fb.bw, r, dWb, dx, &tp);
    float *scratch = falloc((group - 1) * nmax);
    CHECK(gf_block_backward_per_sample(&hp, &fb.bw, r, dW, ps_sink, &c, group, scratch, dx2, &tp) == GF_OK, "%s", name);
    int64_t groups = (B + group - 1) / group;
    int done = 1;
    for (int l = 0; l < GF_LIN_COUNT; l++) done &= c.next[l] == B;
    printf("  per-sample dW (%s, B=%lld, groups of %d): %d sink calls, %d not bit-identical to a lone sample's\n", name,
           (long long)B, group, c.calls, c.bad_bits);
    CHECK(c.calls == GF_LIN_COUNT * groups && !c.bad_order && done, "%s: sink calls %d, out of order %d", name, c.calls,
          c.bad_order);
    CHECK(c.bad_bits == 0, "%s: %d per-sample dW differ from a lone sample's backward", name, c.bad_bits);
    CHECK(memcmp(dx, dx2, (size_t)n * sizeof(float)) == 0, "%s: dL/dx differs from gf_block_backward's", name);
    gf_block_tape_free(&t1), gf_block_tape_free(&tp);
    for (int l = 0; l < GF_LIN_COUNT; l++) {
        free(dW[l]), free(dWb[l]);
        for (int64_t k = 0; k < B; k++) free(c.ref[k][l]);
    }
    free(scratch), free(x), free(r), free(y), free(dx), free(dx2);
    fblock_free(&fb);
}

/* ---------------------------------------------------------------- 3. threads */

typedef struct {
    float *y, *dx, *dW[GF_LIN_COUNT];
} run_out;

static void run_block(const fblock *fb, const float *x, const float *target, int64_t B, int64_t T, run_out *o,
                      double *loss) {
    gf_err err = {0};
    const gf_hparams *hp = &fb->hp;
    const int64_t n = B * T * hp->dim;
    o->y = falloc(n);
    o->dx = falloc(n);
    for (int l = 0; l < GF_LIN_COUNT; l++) {
        int64_t n_out, n_in;
        gf_block_linear_shape(hp, l, &n_out, &n_in);
        o->dW[l] = falloc(n_out * n_in);
    }
    float *dy = falloc(n);
    gf_block_tape tp;
    CHECK(gf_block_tape_init(&tp, hp, B, T, &err) == GF_OK, "%s", err.msg);
    gf_block_forward_train(hp, &fb->bw, x, o->y, &tp);
    *loss = gf_mse_loss(o->y, target, dy, n);
    gf_block_backward(hp, &fb->bw, dy, o->dW, o->dx, &tp);
    gf_block_tape_free(&tp);
    free(dy);
}

static void run_out_free(run_out *o) {
    free(o->y), free(o->dx);
    for (int l = 0; l < GF_LIN_COUNT; l++) free(o->dW[l]);
}

static void test_threads(void) {
    gf_hparams hp = make_hp(GF_ARCH_QWEN2, 128, 8, 2, 320);
    fblock fb;
    fblock_init(&fb, &hp, 1);
    const int64_t B = 3, T = 48, n = B * T * hp.dim;
    float *x = rand_f(n, 1.0, 0.0), *target = rand_f(n, 1.0, 0.0);
    run_out o1, o2;
    double l1, l2;
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    run_block(&fb, x, target, B, T, &o1, &l1);
    omp_set_num_threads(2);
    run_block(&fb, x, target, B, T, &o2, &l2);
    omp_set_num_threads(saved);
    int same = l1 == l2 && memcmp(o1.y, o2.y, (size_t)n * sizeof(float)) == 0 &&
               memcmp(o1.dx, o2.dx, (size_t)n * sizeof(float)) == 0;
    for (int l = 0; l < GF_LIN_COUNT; l++) {
        int64_t n_out, n_in;
        gf_block_linear_shape(&hp, l, &n_out, &n_in);
        same &= memcmp(o1.dW[l], o2.dW[l], (size_t)(n_out * n_in) * sizeof(float)) == 0;
    }
    printf("  1 and 2 threads: %s (loss %.9g)\n", same ? "identical" : "DIFFERENT", l1);
    CHECK(same, "forward/backward differ between 1 and 2 threads");
    run_out_free(&o1), run_out_free(&o2);
    free(x), free(target);
    fblock_free(&fb);
}

static void test_tape_errors(void) {
    gf_err err = {0};
    gf_block_tape tp;
    gf_hparams hp = make_hp(GF_ARCH_QWEN2, 64, 4, 3, 96); /* 4 heads do not share 3 kv heads */
    CHECK(gf_block_tape_init(&tp, &hp, 1, 8, &err) == GF_E_USAGE && strstr(err.msg, "kv heads"), "%s", err.msg);
    hp = make_hp(GF_ARCH_QWEN2, 64, 4, 2, 96);
    CHECK(gf_block_tape_init(&tp, &hp, 0, 8, &err) != GF_OK, "0 samples accepted");
    CHECK(gf_block_tape_init(&tp, &hp, (int64_t)1 << 29, (int64_t)1 << 29, &err) == GF_E_NOMEM, "%s", err.msg);
    gf_block_tape_free(NULL);
}

/* ---------------------------------------------------------------- bench */

/* CPU seconds of the whole process: on a shared machine, wall time says little */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int bench(void) {
    /* Qwen2.5-0.5B: dim 896, 14 heads, 2 kv heads, head_dim 64, n_ff 4864 */
    gf_err err = {0};
    gf_hparams hp = make_hp(GF_ARCH_QWEN2, 896, 14, 2, 4864);
    fblock fb;
    fblock_init(&fb, &hp, 1);
    const int64_t B = 4, T = 256, BT = B * T, n = BT * hp.dim;
    float *x = rand_f(n, 1.0, 0.0), *target = rand_f(n, 1.0, 0.0), *y = falloc(n), *dy = falloc(n);
    float *dW[GF_LIN_COUNT];
    double params = 0;
    for (int l = 0; l < GF_LIN_COUNT; l++) {
        int64_t n_out, n_in;
        gf_block_linear_shape(&hp, l, &n_out, &n_in);
        dW[l] = falloc(n_out * n_in);
        params += (double)n_out * (double)n_in;
    }
    const double Dq = (double)(hp.n_heads * hp.head_dim), pairs = (double)B * (double)T * (double)(T + 1) / 2;
    const double qkv_in = (double)hp.dim * (double)(hp.n_heads + 2 * hp.n_kv_heads) * (double)hp.head_dim;
    const double fl_fwd = 2 * (double)BT * params + 4 * pairs * Dq;
    /* dW for all seven, dX for all but q/k/v (AutoRound asks no dL/dx) */
    const double fl_bwd = 2 * (double)BT * params + 2 * (double)BT * (params - qkv_in) + 8 * pairs * Dq;
    gf_block_tape tp;
    if (gf_block_tape_init(&tp, &hp, B, T, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("Qwen2.5-0.5B-shaped block, B=%lld T=%lld: tape %.1f MB (%.1f KB a token); %.1f GFLOP forward, "
           "%.1f backward (no dL/dx)\n", (long long)B, (long long)T, gf_block_tape_bytes(&hp, B, T) / 1e6,
           gf_block_tape_bytes(&hp, B, T) / 1e3 / (double)BT, fl_fwd / 1e9, fl_bwd / 1e9);
    for (int thr = 1; thr <= 2; thr++) {
        omp_set_num_threads(thr);
        double best_f = 1e30, best_b = 1e30, cpu_f = 0, cpu_b = 0;
        for (int rep = 0; rep < 2; rep++) {
            double c0 = cpu_now(), t0 = gf_time_now();
            gf_block_forward_train(&hp, &fb.bw, x, y, &tp);
            double t1 = gf_time_now(), c1 = cpu_now();
            gf_mse_loss(y, target, dy, n);
            double c2 = cpu_now(), t2 = gf_time_now();
            gf_block_backward(&hp, &fb.bw, dy, dW, NULL, &tp);
            double t3 = gf_time_now(), c3 = cpu_now();
            if (t1 - t0 < best_f) best_f = t1 - t0, cpu_f = c1 - c0;
            if (t3 - t2 < best_b) best_b = t3 - t2, cpu_b = c3 - c2;
        }
        printf("  %d thread%s: forward %.2f s (%.1f GFLOP/s), backward %.2f s (%.1f GFLOP/s), total %.2f s "
               "(%.1f GFLOP/s); CPU %.2f s\n", thr, thr > 1 ? "s" : " ", best_f, fl_fwd / best_f / 1e9, best_b,
               fl_bwd / best_b / 1e9, best_f + best_b, (fl_fwd + fl_bwd) / (best_f + best_b) / 1e9, cpu_f + cpu_b);
    }
    gf_block_tape_free(&tp);
    for (int l = 0; l < GF_LIN_COUNT; l++) free(dW[l]);
    free(x), free(target), free(y), free(dy);
    fblock_free(&fb);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--bench") == 0) return bench();

    printf("1. forward against the engine (F32 cache)\n");
    test_vs_engine("qwen2", GF_ARCH_QWEN2, 64, 4, 2, 0, 96, 1, 3, 17);
    test_vs_engine("llama", GF_ARCH_LLAMA, 64, 4, 4, 0, 96, 0, 2, 20);
    test_vs_engine("qwen2 all biases, MQA", GF_ARCH_QWEN2, 48, 4, 1, 0, 80, 2, 2, 9);
    test_vs_engine("llama, head_dim 24 != 48/4", GF_ARCH_LLAMA, 48, 4, 2, 24, 80, 0, 2, 9);
    test_vs_engine("qwen3, head_dim 32 != 48/4, q/k norms", GF_ARCH_QWEN3, 48, 4, 2, 32, 80, 0, 2, 9);

    printf("2. gradients against central differences of a double reference\n");
    test_rmsnorm_grad();
    /* divisors of the angles as llama3 scaling makes them: 1, blends, the factor */
    static const float ff6[6] = {1.0f, 1.0f, 1.7f, 5.3f, 32.0f, 32.0f};
    test_rope_grad(GF_ROPE_NEOX, 12, NULL);
    test_rope_grad(GF_ROPE_NORM, 12, NULL);
    test_rope_grad(GF_ROPE_NEOX, 8, NULL);
    test_rope_grad(GF_ROPE_NORM, 8, NULL);
    test_rope_grad(GF_ROPE_NORM, 12, ff6);
    test_rope_grad(GF_ROPE_NEOX, 8, ff6);
    test_attention_grad(4, 2);
    test_attention_grad(3, 3);
    test_attention_grad(4, 1);
    test_swiglu_grad();
    test_linear_grad();
    test_mse();
    test_block_grad("qwen2", GF_ARCH_QWEN2, 48, 4, 2, 0, 80, 1, 2, 6, NULL);
    test_block_grad("llama", GF_ARCH_LLAMA, 48, 4, 4, 0, 80, 0, 2, 6, NULL);
    test_block_grad("qwen2 all biases, MQA", GF_ARCH_QWEN2, 32, 4, 1, 0, 40, 2, 2, 5, NULL);
    test_block_grad("llama, head_dim 20 != 48/4", GF_ARCH_LLAMA, 48, 4, 2, 20, 80, 0, 2, 6, NULL);
    test_block_grad("qwen3, head_dim 16 != 48/4, q/k norms", GF_ARCH_QWEN3, 48, 4, 2, 16, 80, 0, 2, 6, NULL);
    test_block_grad("qwen3, head_dim 8 < 32/2, MQA", GF_ARCH_QWEN3, 32, 2, 1, 8, 40, 0, 2, 5, NULL);
    static const float ff6b[6] = {1.0f, 1.3f, 2.9f, 8.0f, 31.0f, 32.0f}; /* head 12: 6 pairs */
    test_block_grad("llama, rope_freqs", GF_ARCH_LLAMA, 48, 4, 2, 0, 80, 0, 2, 6, ff6b);
    test_per_sample("qwen2 biases", GF_ARCH_QWEN2, 0, 1, 5, 2);
    test_per_sample("qwen3 q/k norms", GF_ARCH_QWEN3, 16, 0, 3, 4);
    test_per_sample("llama", GF_ARCH_LLAMA, 0, 0, 4, 1);

    printf("3. threads and bad shapes\n");
    test_threads();
    test_tape_errors();
    return check_done("test_backward");
}
