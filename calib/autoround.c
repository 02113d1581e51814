/*
 * autoround.c - AutoRound on one decoder block: SignSGD on per-weight rounding
 * offsets V and per-block range factors a, through the float forward/backward of
 * the block (engine/backward.h), as intel/auto-round does it (issue 5 is the spec).
 *
 * Per step: fake-quantize the seven matrices, run a minibatch of quantized-path
 * inputs (with fp_inputs the float path's, as auto-round's --disable_quanted_input:
 * then no block depends on another's rounding) through the block, take the MSE
 * against the float block's outputs on the float path, backpropagate to dL/dW~,
 * chain to V and a with the straight-through estimator, and move each parameter
 * by lr against the sign of its gradient.  Two departures from auto-round, both measured in
 * tests/test_autoround.c: the kept iterate is the one with the lowest minibatch
 * loss *relative to min-max's loss on the same samples* (auto-round compares raw
 * minibatch losses, which with small batches picks the easiest minibatch: on
 * qwen2-tiny Q8_0 it kept iteration 0), and for Q8_0 the range factor's rate is
 * lr * 8/127 (a step of a moves the largest weight lr * qmax levels).  The kept
 * iterate is then checked against llama.cpp's min-max blocks on all samples:
 * the better of the two is stored, so the calibration loss never gets worse.
 * Deterministic: elementwise work is per block of 32, every sum in a fixed order,
 * and the passes are backward.h's (thread-count independent).  The minibatch's
 * gradient is taken one of two ways (ar_grad_paths, chosen at build time): the
 * plain build's batched float backward, or the MPI build's exact fixed-point sum
 * of the samples' own weight gradients (calib/dist.h, gridsum.h), so that ranks
 * can share the samples and still write one process's bytes.  Not here: the
 * choice of samples (calib.c) and writing the GGUF (convert/).
 */
#include "autoround.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/rand.h"
#include "../engine/gemm.h"
#include "../formats/gguf.h"
#include "../common/types.h"
#include "../quantizers/method.h"
#include "../search/scale.h"
#include "autoround_internal.h"
#include "awq.h"
#include "dist.h"

/* Elementwise loops go parallel from this many weights (a parallel region costs
 * microseconds, and much more on a loaded machine). */
#define PAR_MIN_WEIGHTS 65536

/* ---------------------------------------------------------------- recipes */

/* Sized on the 2-core machine for a Qwen2.5-0.5B-shaped model (24 blocks); see
 * bench/bench_autoround.c. auto-round's own recipe is 128 x 2048, batch 8. */
const gf_ar_recipe gf_ar_recipes[] = {
    {.name = "light", .iters = 50, .nsamples = 32, .seqlen = 128, .batch = 4},
    {.name = "default", .iters = 200, .nsamples = 64, .seqlen = 128, .batch = 4},
    {.name = "best", .iters = 1000, .nsamples = 128, .seqlen = 256, .batch = 4},
    {.name = NULL},
};

const char *const gf_ar_starts[GF_AR_START_COUNT_] = {[GF_AR_START_MINMAX] = "minmax", [GF_AR_START_IMATRIX] = "imatrix"};

const gf_ar_recipe *gf_ar_recipe_find(const char *name) {
    for (const gf_ar_recipe *r = gf_ar_recipes; name && r->name; r++)
        if (!strcmp(r->name, name)) return r;
    return NULL;
}

void gf_ar_opts_from_recipe(gf_ar_opts *o, const gf_ar_recipe *r) {
    memset(o, 0, sizeof *o);
    o->iters = r->iters;
    o->batch = r->batch;
    o->tune_range = 1;
    o->start = GF_AR_START_IMATRIX;
}

/* ---------------------------------------------------------------- the quantizer */

/* dd/da of one block: the unrounded d at a = 1, which is exactly
 * quantize_row_q{4,8}_0_ref's d (ext: the element of largest magnitude, the
 * first of equals, with its sign).  Depends on the weights only. */
static inline float block_dda(gf_type type, const float *w) {
    float amax = 0.0f, ext = 0.0f;
    for (int j = 0; j < GF_QK; j++) {
        if (amax < fabsf(w[j])) {
            amax = fabsf(w[j]);
            ext = w[j];
        }
    }
    return type == GF_TYPE_Q4_0 ? ext / -8 : amax / 127;
}

/* d as stored for range factor a (fp16, widened); its half bits in *d16. */
static inline float block_d(float a, float dda, uint16_t *d16) {
    *d16 = gf_fp32_to_fp16(a * dda);
    return gf_fp16_to_fp32(*d16);
}

static const float zero_v[GF_QK]; /* V when the caller passes none */

/* q (GF_QK) = clamp(round(w/d + v), lo, hi), as floats (exact small integers);
 * r = w/d (for the gradient); cl[j] = 1 where the clamp bit, else 0.  round is
 * half away from zero, as roundf, computed from v - trunc(v) (exact in float)
 * so that the loop vectorizes.  d == 0: q = 0, all clamped (no gradient). */
static inline void block_quant(gf_type type, const float *restrict w, const float *restrict v, float d,
                               float *restrict q, float *restrict cl, float *restrict r) {
    const float lo = type == GF_TYPE_Q4_0 ? -8.0f : -127.0f, hi = type == GF_TYPE_Q4_0 ? 7.0f : 127.0f;
    if (d == 0.0f) {
        for (int j = 0; j < GF_QK; j++) q[j] = 0.0f, cl[j] = 1.0f, r[j] = 0.0f;
        return;
    }
    const float flo = lo - 1.0f, fhi = hi + 1.0f;
    for (int j = 0; j < GF_QK; j++) {
        float t = w[j] / d;
        r[j] = t;
        t += v[j];
        /* selects and 0/1 integers, no control flow: the loop vectorizes */
        t = t < flo ? flo : t; /* keeps (int) in range; the clamp below decides */
        t = t > fhi ? fhi : t;
        const float i = (float)(int)t, frac = t - i;
        const float k = i + (float)((frac >= 0.5f) - (frac <= -0.5f));
        cl[j] = (float)((k < lo) | (k > hi));
        const float kl = k < lo ? lo : k;
        q[j] = kl > hi ? hi : kl;
    }
}

void gf_ar_fake_quant(gf_type type, const float *W, const float *V, const float *a, int64_t n_out, int64_t n_in,
                      float *Wq) {
    const int64_t nb = n_in / GF_QK;
    #pragma omp parallel for schedule(static) if (n_out * n_in >= PAR_MIN_WEIGHTS)
    for (int64_t row = 0; row < n_out; row++) {
        float q[GF_QK], cl[GF_QK];
        float r[GF_QK];
        uint16_t d16;
        for (int64_t b = 0; b < nb; b++) {
            const int64_t o = row * n_in + b * GF_QK;
            float d = block_d(a ? a[row * nb + b] : 1.0f, block_dda(type, W + o), &d16);
            block_quant(type, W + o, V ? V + o : zero_v, d, q, cl, r);
            for (int j = 0; j < GF_QK; j++) Wq[o + j] = q[j] * d;
        }
    }
}

void gf_ar_pack(gf_type type, const float *W, const float *V, const float *a, int64_t n_out, int64_t n_in,
                void *blocks) {
    const int64_t nb = n_in / GF_QK;
    #pragma omp parallel for schedule(static) if (n_out * n_in >= PAR_MIN_WEIGHTS)
    for (int64_t row = 0; row < n_out; row++) {
        float q[GF_QK], cl[GF_QK];
        float r[GF_QK];
        uint16_t d16;
        for (int64_t b = 0; b < nb; b++) {
            const int64_t o = row * n_in + b * GF_QK;
            float d = block_d(a ? a[row * nb + b] : 1.0f, block_dda(type, W + o), &d16);
            block_quant(type, W + o, V ? V + o : zero_v, d, q, cl, r);
            if (type == GF_TYPE_Q4_0) {
                gf_block_q4_0 *y = (gf_block_q4_0 *)blocks + row * nb + b;
                y->d = d16;
                for (int j = 0; j < GF_QK / 2; j++)
                    y->qs[j] = (uint8_t)(((int)q[j] + 8) | (((int)q[j + GF_QK / 2] + 8) << 4));
            } else {
                gf_block_q8_0 *y = (gf_block_q8_0 *)blocks + row * nb + b;
                y->d = d16;
                for (int j = 0; j < GF_QK; j++) y->qs[j] = (int8_t)(int)q[j];
            }
        }
    }
}

/* Straight-through gradients of one block with scale d (dd/da = dda): gv
 * (GF_QK) and the return value dL/da. */
static inline float block_grad(gf_type type, const float *w, const float *v, float d, float dda, const float *g,
                               float *restrict gv) {
    float q[GF_QK], cl[GF_QK], r[GF_QK], part[8] = {0};
    block_quant(type, w, v, d, q, cl, r);
    float t[GF_QK];
    for (int j = 0; j < GF_QK; j++) {
        const float free_ = 1.0f - cl[j]; /* 1 where not clamped */
        gv[j] = free_ * g[j] * d;
        t[j] = g[j] * (q[j] - free_ * r[j]); /* dL/dd per element: q - w/d, or q where clamped */
    }
    for (int j = 0; j < GF_QK; j++) part[j & 7] += t[j]; /* 8 lanes, then the lanes in order */
    double gd = 0.0;
    for (int j = 0; j < 8; j++) gd += (double)part[j];
    return (float)(gd * (double)dda);
}

void gf_ar_grad(gf_type type, const float *W, const float *V, const float *a, const float *G, int64_t n_out,
                int64_t n_in, float *gV, float *ga) {
    const int64_t nb = n_in / GF_QK;
    #pragma omp parallel for schedule(static) if (n_out * n_in >= PAR_MIN_WEIGHTS)
    for (int64_t row = 0; row < n_out; row++) {
        uint16_t d16;
        for (int64_t b = 0; b < nb; b++) {
            const int64_t o = row * n_in + b * GF_QK;
            const float dda = block_dda(type, W + o), d = block_d(a ? a[row * nb + b] : 1.0f, dda, &d16);
            float g = block_grad(type, W + o, V ? V + o : zero_v, d, dda, G + o, gV + o);
            if (ga) ga[row * nb + b] = g;
        }
    }
}

static inline float signf(float x) { return (float)((x > 0.0f) - (x < 0.0f)); }

/* a range factor clamped to its reach [GF_AR_MIN_RANGE, 1] (NaN to the lower end) */
static inline float range_clamp(float a) { return !(a >= GF_AR_MIN_RANGE) ? GF_AR_MIN_RANGE : a > 1.0f ? 1.0f : a; }

/* x86-64: step_row below also gets an AVX2 copy, picked when the program
 * loads (ifunc).  Both copies do the same IEEE operations in the same order (no
 * FMA: neither -std=c11 under gcc nor "avx2" alone lets the compiler fuse), so
 * the bytes do not depend on which one runs; AVX2 halves the cost of the
 * divisions and selects. */
#if defined(__x86_64__)
#define GF_AVX2_CLONE __attribute__((target_clones("avx2", "default")))
#else
#define GF_AVX2_CLONE
#endif

/* One row's nb blocks (every pointer at the row's start): the SignSGD step from
 * G (skipped when G is NULL), then Wq for the new parameters. */
static GF_AVX2_CLONE void step_row(gf_type type, const float *W, const float *dda, float *V, float *a, const float *G,
                                   int64_t nb, float lr, float lr_a, int tune_range, float *Wq) {
    float gv[GF_QK], r[GF_QK];
    float q[GF_QK], cl[GF_QK];
    uint16_t d16;
    for (int64_t b = 0; b < nb; b++) {
        const int64_t o = b * GF_QK;
        float *ab = a + b;
        const float db = dda[b];
        if (G) {
            float ga = block_grad(type, W + o, V + o, block_d(*ab, db, &d16), db, G + o, gv);
            for (int j = 0; j < GF_QK; j++) {
                float nv = V[o + j] - lr * signf(gv[j]);
                nv = nv < -GF_AR_MAX_V ? -GF_AR_MAX_V : nv;
                V[o + j] = nv > GF_AR_MAX_V ? GF_AR_MAX_V : nv;
            }
            if (tune_range) *ab = range_clamp(*ab - lr_a * signf(ga));
        }
        const float d = block_d(*ab, db, &d16);
        block_quant(type, W + o, V + o, d, q, cl, r);
        for (int j = 0; j < GF_QK; j++) Wq[o + j] = q[j] * d;
    }
}

/* One SignSGD step from G = dL/dWq (skipped when G is NULL), then Wq for the
 * new parameters: fused so that each block is read once.  dda (n_out, n_in/32):
 * block_dda of every block, computed once. */
static void step_and_quant(gf_type type, const float *W, const float *dda, float *V, float *a, const float *G,
                           int64_t n_out, int64_t n_in, float lr, int tune_range, float *Wq) {
    const int64_t nb = n_in / GF_QK;
    /* A step of a moves the block's largest weight by lr * qmax levels (V's step:
     * lr levels).  auto-round's equal rates suit 4 bits (8 levels); at Q8_0's 127
     * they make a swing the loss up 20x (qwen2-tiny block 0), so a's rate is
     * scaled to move that weight as far as it does for Q4_0. */
    const float lr_a = type == GF_TYPE_Q8_0 ? lr * (8.0f / 127.0f) : lr;
    #pragma omp parallel for schedule(static) if (n_out * n_in >= PAR_MIN_WEIGHTS)
    for (int64_t row = 0; row < n_out; row++) {
        const int64_t o = row * n_in;
        step_row(type, W + o, dda + row * nb, V + o, a + row * nb, G ? G + o : NULL, nb, lr, lr_a, tune_range, Wq + o);
    }
}

/* The imatrix start (gf_ar_starts): for each block whose importance-weighted
 * search (search/scale.h, as the imatrix method) beats min-max under the same
 * weights, a = its d over min-max's (clamped to a's range); V stays 0,
 * so the levels are rounded to nearest at that d.  (Setting V to the search's
 * levels minus w/d instead reproduces them exactly, but puts every weight half a
 * level from a rounding boundary, where SignSGD's steps, 1/2 in all, barely
 * reach: on qwen2-tiny, light, KLD 0.0078 against 0.0067 from V = 0.) */
static void start_from_search(gf_type type, const float *W, const float *imp, const float *dda, int64_t n_out,
                              int64_t n_in, float *a) {
    const int64_t nb = n_in / GF_QK;
    const int q4 = type == GF_TYPE_Q4_0;
    #pragma omp parallel for schedule(static) if (n_out * n_in >= PAR_MIN_WEIGHTS)
    for (int64_t row = 0; row < n_out; row++) {
        for (int64_t b = 0; b < nb; b++) {
            const int64_t o = row * n_in + b * GF_QK;
            const float *w = W + o, *im = imp + b * GF_QK, db = dda[row * nb + b];
            int8_t q[GF_QK], qm[GF_QK];
            float fq[GF_QK], cl[GF_QK], r[GF_QK];
            uint16_t d16, h;
            if (db == 0.0f) continue;
            const float e = gf_search_block(w, im, q4 ? GF_Q4_MIN : GF_Q8_MIN, q4 ? GF_Q4_MAX : GF_Q8_MAX, q, &d16);
            const float dm = block_d(1.0f, db, &h);
            block_quant(type, w, zero_v, dm, fq, cl, r);
            for (int j = 0; j < GF_QK; j++) qm[j] = (int8_t)fq[j];
            if (!(e < gf_block_error(w, im, qm, dm))) continue;
            /* Q8_0's levels are symmetric, so the sign of its d is free (dda is amax/127) */
            const float ds = q4 ? gf_fp16_to_fp32(d16) : fabsf(gf_fp16_to_fp32(d16));
            /* a scale beyond a's reach (below, or for Q4_0 of the other sign) starts at the
             * nearest end; SmolLM2-135M light: KLD 0.1400 against 0.1455 when such blocks
             * keep min-max's start */
            a[row * nb + b] = range_clamp(ds / db);
        }
    }
}

/* Wq = dequant(quantize_row_*_ref(W)): llama.cpp's min-max rounding; blocks may be NULL. */
static void minmax_quant(gf_type type, const float *W, int64_t n_out, int64_t n_in, float *Wq, uint8_t *blocks) {
    const size_t rs = gf_row_size(type, n_in);
    #pragma omp parallel for schedule(static) if (n_out * n_in >= PAR_MIN_WEIGHTS)
    for (int64_t row = 0; row < n_out; row++) {
        uint8_t buf[34 * 64];
        for (int64_t b0 = 0; b0 < n_in; b0 += 64 * GF_QK) {
            int64_t k = n_in - b0 < 64 * GF_QK ? n_in - b0 : 64 * GF_QK;
            gf_quantize_row(type, W + row * n_in + b0, buf, k);
            gf_dequantize_row(type, buf, Wq + row * n_in + b0, k);
            if (blocks) memcpy(blocks + (size_t)row * rs + gf_row_size(type, b0), buf, gf_row_size(type, k));
        }
    }
}

/* dst = src (or 0 when src is NULL) over n floats, in parallel: on the
 * iteration's path, 60 MB a matrix set for Qwen2.5-0.5B */
static void par_copy(float *dst, const float *src, int64_t n) {
    const int64_t chunk = 1 << 16, n_chunks = (n + chunk - 1) / chunk;
    #pragma omp parallel for schedule(static) if (n >= 4 * PAR_MIN_WEIGHTS)
    for (int64_t c = 0; c < n_chunks; c++) {
        int64_t i0 = c * chunk, len = n - i0 < chunk ? n - i0 : chunk;
        if (src) memcpy(dst + i0, src + i0, (size_t)len * sizeof(float));
        else memset(dst + i0, 0, (size_t)len * sizeof(float));
    }
}

/* ---------------------------------------------------------------- passes */

/* The block over every sample of in (n_samples, T, D), in chunks of B samples:
 * out (may equal in, or be NULL) receives the outputs; if target is given,
 * per_sample (n_samples, may be NULL) the MSE of each sample and *loss the MSE
 * over all samples, summed in sample order. */
static gf_status pass_all(pass_ctx *p, const gf_block_weights *bw, const float *in, float *out, const float *target,
                          double *per_sample, double *loss, gf_err *err) {
    const int64_t stride = p->T * p->D;
    double sum = 0.0;
    for (int64_t s0 = 0; s0 < p->n_samples; s0 += p->B) {
        int64_t n = p->n_samples - s0 < p->B ? p->n_samples - s0 : p->B;
        gf_block_tape *tp = &p->tape;
        if (n < p->B) {
            if (!p->tape_rem.arena) GF_TRY(gf_block_tape_init(&p->tape_rem, p->hp, n, p->T, err));
            tp = &p->tape_rem;
        }
        GF_FAIL_IF(gf_block_forward_train(p->hp, bw, in + s0 * stride, p->y, tp), err, GF_E_NOMEM,
                   "autoround: out of memory in the block's matrix products");
        p->flop += fwd_flop(p, n);
        for (int64_t k = 0; target && k < n; k++) {
            double m = gf_mse_loss(p->y + k * stride, target + (s0 + k) * stride, NULL, stride);
            if (per_sample) per_sample[s0 + k] = m;
            sum += m;
        }
        if (out) memcpy(out + s0 * stride, p->y, (size_t)(n * stride) * sizeof(float));
    }
    if (loss) *loss = sum / (double)p->n_samples;
    return GF_OK;
}


/* ---------------------------------------------------------------- a block */

/* ar_state (autoround_internal.h): every buffer of both gradient paths; free(NULL) does nothing. */
static void ar_state_free(ar_state *s) {
    for (int l = 0; l < GF_LIN_COUNT; l++)
        free(s->V[l]), free(s->bestV[l]), free(s->A[l]), free(s->bestA[l]), free(s->Wq[l]), free(s->dW[l]), free(s->dda[l]),
            free(s->ex.acc[l]);
    gf_block_tape_free(&s->p.tape);
    gf_block_tape_free(&s->p.tape_rem);
    gf_block_tape_free(&s->ex.tape1);
    free(s->targets), free(s->ymm), free(s->p.y), free(s->xb), free(s->tb), free(s->dy), free(s->order), free(s->mm_loss),
        free(s->pick), free(s->ex.ssq), free(s->ex.gscratch);
}

/* Bytes of matrix l's stored blocks at type, 0 when it is not tuned (its rows are not
 * a multiple of 32: the pipeline writes it as f16). */
static size_t ar_blocks_bytes(const gf_hparams *hp, gf_type type, int l) {
    int64_t n_out, n_in;
    gf_block_linear_shape(hp, (gf_linear)l, &n_out, &n_in);
    return n_in % GF_QK ? 0 : gf_row_size(type, n_in) * (size_t)n_out;
}

/* Shapes, the analytic work per token, and every buffer (blocks[l] too) but the
 * gradient path's (its init). */
static gf_status ar_state_init(ar_state *s, void *blocks[GF_LIN_COUNT], gf_err *err) {
    const gf_ar_block *b = s->b;
    const gf_hparams *hp = b->hp;
    const int64_t T = b->seqlen, D = hp->dim, nbt = s->B * T * D;
    double params = 0, qkv_in = 0;
    for (int l = 0; l < GF_LIN_COUNT; l++) {
        gf_block_linear_shape(hp, l, &s->n_out[l], &s->n_in[l]);
        s->tuned[l] = ar_blocks_bytes(hp, s->type, l) > 0;
        params += (double)s->n_out[l] * (double)s->n_in[l];
        if (l <= GF_LIN_V) qkv_in += (double)s->n_out[l] * (double)s->n_in[l];
    }
    const double Dq = (double)(hp->n_heads * hp->head_dim);
    s->p = (pass_ctx){.hp = hp, .n_samples = b->n_samples, .T = T, .D = D, .B = s->B};
    s->p.flop_fwd_tok = 2 * params;
    s->p.flop_bwd_tok = 2 * params + 2 * (params - qkv_in); /* dW for all seven, dX for all but q/k/v */
    s->p.flop_fwd_pair = 4 * Dq;
    s->p.flop_bwd_pair = 8 * Dq;

    GF_TRY(gf_block_tape_init(&s->p.tape, hp, s->B, T, err));
    s->targets = malloc((size_t)s->N * sizeof *s->targets);
    s->ymm = malloc((size_t)s->N * sizeof *s->ymm);
    s->p.y = malloc((size_t)nbt * sizeof *s->p.y);
    s->order = malloc((size_t)b->n_samples * sizeof *s->order);
    s->mm_loss = malloc((size_t)b->n_samples * sizeof *s->mm_loss);
    s->pick = malloc((size_t)s->B * sizeof *s->pick);
    int oom = !s->targets || !s->ymm || !s->p.y || !s->order || !s->mm_loss || !s->pick;
    for (int l = 0; l < GF_LIN_COUNT && !oom; l++) {
        const size_t n = (size_t)(s->n_out[l] * s->n_in[l]), nb = n / GF_QK;
        s->Wq[l] = malloc(n * sizeof(float));
        if (!s->tuned[l]) { oom |= !s->Wq[l]; continue; }
        s->V[l] = calloc(n, sizeof(float));
        s->bestV[l] = calloc(n, sizeof(float));
        s->A[l] = malloc(nb * sizeof(float));
        s->bestA[l] = malloc(nb * sizeof(float));
        s->dda[l] = malloc(nb * sizeof(float));
        s->dW[l] = malloc(n * sizeof(float));
        blocks[l] = malloc(ar_blocks_bytes(hp, s->type, l));
        oom |= !s->Wq[l] || !s->V[l] || !s->bestV[l] || !s->A[l] || !s->bestA[l] || !s->dda[l] || !s->dW[l] || !blocks[l];
        for (size_t i = 0; !oom && i < nb; i++) {
            s->A[l][i] = s->bestA[l][i] = 1.0f;
            s->dda[l][i] = block_dda(s->type, b->bw->w[l] + i * GF_QK);
        }
    }
    GF_FAIL_IF(oom, err, GF_E_NOMEM, "autoround: out of memory for block %d (%lld samples of %lld tokens, batch %lld)",
               b->layer, (long long)b->n_samples, (long long)T, (long long)s->B);
    return GF_OK;
}

/* The targets (the float block on the float path), then min-max rounding on the
 * tuning's inputs (s->qin): its loss per sample and over all (rep->loss_minmax). */
static gf_status ar_baseline(ar_state *s, gf_ar_report *rep, gf_err *err) {
    const gf_block_weights *bw = s->b->bw;
    GF_TRY(pass_all(&s->p, bw, s->b->x, s->targets, NULL, NULL, NULL, err));
    s->qw = *bw;
    for (int l = 0; l < GF_LIN_COUNT; l++) {
        if (s->tuned[l]) minmax_quant(s->type, bw->w[l], s->n_out[l], s->n_in[l], s->Wq[l], NULL);
        else /* such matrices are written as f16 by the pipeline */
            for (int64_t i = 0; i < s->n_out[l] * s->n_in[l]; i++)
                s->Wq[l][i] = gf_fp16_to_fp32(gf_fp32_to_fp16(bw->w[l][i]));
        s->qw.w[l] = s->Wq[l];
    }
    return pass_all(&s->p, &s->qw, s->qin, s->ymm, s->targets, s->mm_loss, &rep->loss_minmax, err);
}

/* ---------------------------------------------------------------- the minibatch's gradient */

/* The positions pick[0 .. B) of the next minibatch in the seeded shuffle (every
 * rank draws the same); returns min-max's loss on them, summed in position order. */
static double ar_draw(ar_state *s, uint64_t *rs, int64_t *pos) {
    const gf_ar_block *b = s->b;
    double mm = 0.0;
    for (int64_t k = 0; k < s->B; k++) { /* epochs of a seeded shuffle */
        if (*pos == b->n_samples) {
            gf_shuffle_i64(s->order, b->n_samples, rs);
            *pos = 0;
        }
        s->pick[k] = s->order[(*pos)++];
        mm += s->mm_loss[s->pick[k]];
    }
    return mm;
}

/* The float path (the plain build's): the minibatch's B samples through one
 * batched forward and backward, dL/dWq summed by the backward's float products. */
static gf_status float_init(ar_state *s, gf_err *err) {
    const size_t nbt = (size_t)(s->B * s->b->seqlen * s->b->hp->dim);
    s->xb = malloc(nbt * sizeof *s->xb);
    s->tb = malloc(nbt * sizeof *s->tb);
    s->dy = malloc(nbt * sizeof *s->dy);
    GF_FAIL_IF(!s->xb || !s->tb || !s->dy, err, GF_E_NOMEM, "autoround: out of memory for block %d's minibatch (batch %lld)",
               s->b->layer, (long long)s->B);
    return GF_OK;
}

static gf_status float_grad(ar_state *s, int it, double *loss, gf_err *err) {
    const gf_ar_block *b = s->b;
    const int64_t B = s->B, T = b->seqlen, stride = T * b->hp->dim, nbt = B * stride;
    (void)it;
    for (int64_t k = 0; k < B; k++) {
        memcpy(s->xb + k * stride, s->qin + s->pick[k] * stride, (size_t)stride * sizeof(float));
        memcpy(s->tb + k * stride, s->targets + s->pick[k] * stride, (size_t)stride * sizeof(float));
    }
    GF_FAIL_IF(gf_block_forward_train(b->hp, &s->qw, s->xb, s->p.y, &s->p.tape), err, GF_E_NOMEM,
               "autoround: block %d: out of memory in the forward's matrix products", b->layer);
    *loss = gf_mse_loss(s->p.y, s->tb, s->dy, nbt);
    for (int l = 0; l < GF_LIN_COUNT; l++)
        if (s->dW[l]) par_copy(s->dW[l], NULL, s->n_out[l] * s->n_in[l]);
    GF_FAIL_IF(gf_block_backward(b->hp, &s->qw, s->dy, s->dW, NULL, &s->p.tape), err, GF_E_NOMEM,
               "autoround: block %d: out of memory in the backward's matrix products", b->layer);
    s->p.flop += fwd_flop(&s->p, B) + (double)B * (double)T * s->p.flop_bwd_tok +
                 (double)B * (double)T * (double)(T + 1) / 2 * s->p.flop_bwd_pair;
    return GF_OK;
}

/* The two ways to the minibatch's loss and dL/dWq (into s->dW, from s->pick). */
typedef struct {
    const char *sum;  /* gf_ar_gradient_sum's name of it; NULL for the float path */
    gf_status (*init)(ar_state *s, gf_err *err);           /* its buffers (freed by ar_state_free) */
    gf_status (*grad)(ar_state *s, int it, double *loss, gf_err *err);
} ar_grad_path;

static const ar_grad_path ar_grad_paths[2] = {
    {.sum = NULL, .init = float_init, .grad = float_grad},
    {.sum = "per-sample, fixed point", .init = gf_ar_exact_init, .grad = gf_ar_exact_grad},
};

/* The one switch between them, fixed when the program is built (dist.h): the
 * MPI build sums exactly whatever the ranks; the plain build keeps the faster
 * float path and the bytes it always wrote. */
static const ar_grad_path *const ar_grad_path_used = &ar_grad_paths[GF_DIST_EXACT];

const char *gf_ar_gradient_sum(void) { return ar_grad_path_used->sum; }

/* SignSGD over minibatches of a seeded shuffle; bestV/bestA keep the iterate with
 * the lowest minibatch loss relative to min-max's on the same samples. */
static gf_status ar_tune(ar_state *s, gf_ar_report *rep, double t_start, gf_err *err) {
    const gf_ar_block *b = s->b;
    const gf_block_weights *bw = b->bw;
    const int iters = s->o->iters;
    const double lr0 = s->o->lr > 0 ? s->o->lr : iters > 0 ? 1.0 / iters : 0.0;
    double best = INFINITY, best_raw = INFINITY;
    int best_iter = 0;
    uint64_t rs = (s->o->seed + 1) * 0x9e3779b97f4a7c15ull ^ ((uint64_t)(b->layer + 1) * 0xbf58476d1ce4e5b9ull);
    if (!rs) rs = 1;
    for (int64_t i = 0; i < b->n_samples; i++) s->order[i] = i;
    int64_t pos = b->n_samples;
    for (int l = 0; l < GF_LIN_COUNT; l++) /* Wq for V = 0, a = 1 */
        if (s->tuned[l])
            step_and_quant(s->type, bw->w[l], s->dda[l], s->V[l], s->A[l], NULL, s->n_out[l], s->n_in[l], 0, 0, s->Wq[l]);
    for (int it = 0; it < iters; it++) {
        const double mm_batch = ar_draw(s, &rs, &pos); /* min-max's loss on this minibatch (times B) */
        double loss = 0.0;
        GF_TRY(ar_grad_path_used->grad(s, it, &loss, err));
        GF_FAIL_IF(!isfinite(loss), err, GF_E_VALUE, "autoround: block %d: loss %g at iteration %d", b->layer, loss, it);
        /* The kept iterate: auto-round takes the lowest minibatch loss; we divide it by
         * min-max's loss on the same samples, so that an easy minibatch cannot win. */
        const double crit = mm_batch > 0 ? loss / (mm_batch / (double)s->B) : loss;
        if (crit < best) {
            best = crit;
            best_raw = loss;
            best_iter = it;
            for (int l = 0; l < GF_LIN_COUNT; l++) {
                if (!s->tuned[l]) continue;
                par_copy(s->bestV[l], s->V[l], s->n_out[l] * s->n_in[l]);
                memcpy(s->bestA[l], s->A[l], (size_t)(s->n_out[l] * s->n_in[l] / GF_QK) * sizeof(float));
            }
        }
        const float lr = (float)(lr0 * (1.0 - (double)it / iters)); /* linear decay to 0 */
        for (int l = 0; l < GF_LIN_COUNT; l++)
            if (s->tuned[l])
                step_and_quant(s->type, bw->w[l], s->dda[l], s->V[l], s->A[l], s->dW[l], s->n_out[l], s->n_in[l], lr,
                               s->o->tune_range, s->Wq[l]);
        if (b->progress && ((it + 1) % 10 == 0 || it + 1 == iters))
            b->progress(b->ctx, b->layer, it + 1, iters, loss, best_raw, gf_time_now() - t_start);
    }
    rep->best_iter = best_iter;
    rep->loss_best_batch = best_raw;
    rep->grad_check = s->ex.grad_check;
    return GF_OK;
}

/* samples per step: the option, at most all of them; by default min(8, samples) */
static int64_t ar_batch(const gf_ar_opts *o, int64_t S) { return o->batch <= 0 ? (S < 8 ? S : 8) : o->batch < S ? o->batch : S; }

/* The kept iterate on every sample, or the min-max blocks if they do better: the
 * stored blocks, and x, xq advanced past the block (x only with fp_inputs: x is
 * the input here and is overwritten last, by the targets). */
static gf_status ar_keep(ar_state *s, void *blocks[GF_LIN_COUNT], gf_ar_report *rep, gf_err *err) {
    const gf_ar_block *b = s->b;
    const gf_block_weights *bw = b->bw;
    float *qout = s->o->fp_inputs ? NULL : b->xq; /* no quantized path to advance */
    for (int l = 0; l < GF_LIN_COUNT; l++)
        if (s->tuned[l]) gf_ar_fake_quant(s->type, bw->w[l], s->bestV[l], s->bestA[l], s->n_out[l], s->n_in[l], s->Wq[l]);
    double loss_tuned; /* written over xq in place: the min-max outputs are kept in ymm */
    GF_TRY(pass_all(&s->p, &s->qw, s->qin, qout, s->targets, NULL, &loss_tuned, err));
    if (s->o->iters == 0) rep->best_iter = 0, rep->loss_best_batch = loss_tuned;
    if (loss_tuned <= rep->loss_minmax) {
        rep->loss_best = loss_tuned;
        for (int l = 0; l < GF_LIN_COUNT; l++)
            if (s->tuned[l]) gf_ar_pack(s->type, bw->w[l], s->bestV[l], s->bestA[l], s->n_out[l], s->n_in[l], blocks[l]);
    } else {
        rep->loss_best = rep->loss_minmax;
        rep->best_iter = -1;
        for (int l = 0; l < GF_LIN_COUNT; l++)
            if (s->tuned[l]) minmax_quant(s->type, bw->w[l], s->n_out[l], s->n_in[l], s->Wq[l], blocks[l]);
        if (qout) memcpy(qout, s->ymm, (size_t)s->N * sizeof(float));
    }
    memcpy(b->x, s->targets, (size_t)s->N * sizeof(float));
    return GF_OK;
}

gf_status gf_autoround_block(const gf_ar_block *b, gf_type type, const gf_ar_opts *o, void *blocks[GF_LIN_COUNT],
                             gf_ar_report *rep, gf_err *err) {
    const double t_start = gf_time_now();
    memset(rep, 0, sizeof *rep);
    for (int l = 0; l < GF_LIN_COUNT; l++) blocks[l] = NULL;
    GF_FAIL_IF(type != GF_TYPE_Q4_0 && type != GF_TYPE_Q8_0, err, GF_E_USAGE, "autoround: type %s is not q4_0 or q8_0",
               gf_type_info(type) ? gf_type_info(type)->name : "?");
    GF_FAIL_IF(!b->x || (!b->xq && !o->fp_inputs) || b->n_samples < 1 || b->seqlen < 1 || o->iters < 0, err,
               GF_E_USAGE, "autoround: needs float and quantized-path inputs (%lld samples of %lld tokens, %d iterations)",
               (long long)b->n_samples, (long long)b->seqlen, o->iters);
    const int64_t S = b->n_samples;
    ar_state s = {.b = b, .type = type, .o = o, .N = S * b->seqlen * b->hp->dim, .qin = o->fp_inputs ? b->x : b->xq,
                  .B = ar_batch(o, S)};
    gf_status rc = ar_state_init(&s, blocks, err);
    for (int l = 0; !rc && o->start == GF_AR_START_IMATRIX && l < GF_LIN_COUNT; l++) {
        if (!s.tuned[l] || !b->importance[l]) continue;
        start_from_search(type, b->bw->w[l], b->importance[l], s.dda[l], s.n_out[l], s.n_in[l], s.A[l]);
        memcpy(s.bestA[l], s.A[l], (size_t)(s.n_out[l] * s.n_in[l] / GF_QK) * sizeof(float));
    }
    if (!rc) rc = ar_grad_path_used->init(&s, err);
    if (!rc) rc = ar_baseline(&s, rep, err);
    if (!rc) rc = ar_tune(&s, rep, t_start, err);
    if (!rc) rc = ar_keep(&s, blocks, rep, err);
    if (rc)
        for (int l = 0; l < GF_LIN_COUNT; l++) {
            free(blocks[l]);
            blocks[l] = NULL;
        }
    ar_state_free(&s);
    rep->seconds = gf_time_now() - t_start;
    rep->gflop = s.p.flop / 1e9;
    return rc;
}

/* ---------------------------------------------------------------- whole blocks per rank */

/* The float block over every sample, b->x advanced in place: what gf_autoround_block leaves
 * in b->x under fp_inputs (its targets, in the same chunks of B samples), without tuning. */
static gf_status ar_float_only(const gf_ar_block *b, const gf_ar_opts *o, gf_err *err) {
    const int64_t S = b->n_samples, T = b->seqlen, D = b->hp->dim;
    pass_ctx p = {.hp = b->hp, .n_samples = S, .T = T, .D = D, .B = ar_batch(o, S)};
    gf_status rc = gf_block_tape_init(&p.tape, b->hp, p.B, T, err);
    p.y = rc ? NULL : malloc((size_t)(p.B * T * D) * sizeof *p.y);
    if (!rc && !p.y) rc = gf_errf(err, GF_E_NOMEM, "autoround: out of memory for block %d's float pass", b->layer);
    if (!rc) rc = pass_all(&p, b->bw, b->x, b->x, NULL, NULL, NULL, err);
    gf_block_tape_free(&p.tape);
    gf_block_tape_free(&p.tape_rem);
    free(p.y);
    return rc;
}

/* The tuner's report and blocks, from rank `owner` to rank 0 (blocks[l] allocated on rank 0
 * for every tuned matrix, freed again on failure). */
static gf_status ar_hand_over(const gf_ar_block *b, gf_type type, int me, int owner, void *blocks[GF_LIN_COUNT],
                              gf_ar_report *rep, gf_err *err) {
    gf_status rc = me ? gf_dist_send(rep, sizeof *rep, 0, err) : gf_dist_recv(rep, sizeof *rep, owner, err);
    for (int l = 0; !rc && l < GF_LIN_COUNT; l++) {
        const size_t n = ar_blocks_bytes(b->hp, type, l);
        if (!n) continue; /* not tuned */
        if (!me && !(blocks[l] = malloc(n))) rc = gf_errf(err, GF_E_NOMEM, "autoround: out of memory");
        if (!rc) rc = me ? gf_dist_send(blocks[l], (int64_t)n, 0, err) : gf_dist_recv(blocks[l], (int64_t)n, owner, err);
    }
    for (int l = 0; rc && !me && l < GF_LIN_COUNT; l++) {
        free(blocks[l]);
        blocks[l] = NULL;
    }
    return rc;
}

/* --fp-inputs under R > 1 ranks: the blocks are independent, so rank layer % R tunes this
 * one alone (gf_dist_solo: as one process would, so the bytes are one process's) while the
 * others only carry x through the float block.  The tuner hands its report and blocks to
 * rank 0, the writer, which receives them when it reaches the block: with R ranks, R blocks
 * are tuned at once.  The other ranks keep no blocks (they write nothing). */
static gf_status ar_whole_block(const gf_ar_block *b, gf_type type, const gf_ar_opts *o, void *blocks[GF_LIN_COUNT],
                                gf_ar_report *rep, gf_err *err) {
    const int me = gf_dist_rank(), owner = b->layer % gf_dist_size();
    memset(rep, 0, sizeof *rep);
    for (int l = 0; l < GF_LIN_COUNT; l++) blocks[l] = NULL;
    gf_status rc;
    if (me == owner) {
        gf_dist_solo(1);
        rc = gf_autoround_block(b, type, o, blocks, rep, err);
        gf_dist_solo(0);
    } else {
        rc = ar_float_only(b, o, err);
    }
    if (rc || owner == 0 || (me && me != owner)) return rc;
    rc = ar_hand_over(b, type, me, owner, blocks, rep, err);
    for (int l = 0; me && l < GF_LIN_COUNT; l++) { /* the tuner's copy went to rank 0 */
        free(blocks[l]);
        blocks[l] = NULL;
    }
    return rc;
}

/* ---------------------------------------------------------------- on a gf_calib */

gf_status gf_autoround_layer(gf_calib *c, int layer, gf_type type, const gf_ar_opts *o, const gf_imatrix *imx,
                             gf_ar_report *rep, gf_ar_progress progress, void *ctx, gf_err *err) {
    GF_FAIL_IF(c->loaded != layer || (!c->xq && !o->fp_inputs), err, GF_E_USAGE,
               "autoround: block %d is not loaded or the quantized path is not enabled", layer);
    const gf_layer *ly = &c->m.layers[layer];
    gf_block_weights bw = {0};
    memcpy(bw.norm, ly->norm, sizeof bw.norm);
    for (int l = 0; l < GF_LIN_COUNT; l++) {
        GF_FAIL_IF(ly->lin[l].type != GF_TYPE_F32, err, GF_E_USAGE, "autoround: %s is not held as f32", ly->name[l]);
        bw.w[l] = ly->lin[l].data;
        bw.bias[l] = ly->bias[l];
    }
    void *blocks[GF_LIN_COUNT];
    gf_ar_block b = {.hp = &c->m.hp, .bw = &bw, .x = c->x, .xq = c->xq, .n_samples = c->n_samples,
                     .seqlen = c->seqlen, .layer = layer, .progress = progress, .ctx = ctx};
    for (int l = 0; l < GF_LIN_COUNT && o->start == GF_AR_START_IMATRIX && imx; l++) {
        const gf_imatrix_entry *ie = gf_imatrix_find(imx, ly->name[l]);
        int64_t n_out, n_in;
        gf_block_linear_shape(&c->m.hp, (gf_linear)l, &n_out, &n_in);
        b.importance[l] = ie && ie->n == n_in ? ie->values : NULL;
    }
    gf_status rc = o->fp_inputs && gf_dist_size() > 1 ? ar_whole_block(&b, type, o, blocks, rep, err)
                                                      : gf_autoround_block(&b, type, o, blocks, rep, err);
    if (rc) {
        gf_err_prefix(err, "%s", c->name);
        return rc;
    }
    for (int l = 0; l < GF_LIN_COUNT; l++) {
        free(c->qblocks[l]);
        c->qblocks[l] = blocks[l];
        c->qtype[l] = type;
    }
    return GF_OK;
}

/* ---------------------------------------------------------------- independent rows (the output head) */

gf_status gf_autoround_rows(gf_type type, const float *W, int64_t n_rows, int64_t n_in, const float *H, int iters,
                            double lr, void *blocks, double *loss0, double *loss1, gf_err *err) {
    const int64_t nb = n_in / GF_QK, n = n_rows * n_in;
    *loss0 = *loss1 = 0;
    GF_FAIL_IF(type != GF_TYPE_Q4_0 && type != GF_TYPE_Q8_0, err, GF_E_USAGE, "autoround: q4_0 or q8_0 only");
    float *V = calloc((size_t)n, sizeof *V), *bestV = calloc((size_t)n, sizeof *bestV);
    float *a = malloc((size_t)(n_rows * nb) * sizeof *a), *besta = malloc((size_t)(n_rows * nb) * sizeof *besta);
    float *dda = malloc((size_t)(n_rows * nb) * sizeof *dda);
    float *Wq = malloc((size_t)n * sizeof *Wq), *E = malloc((size_t)n * sizeof *E), *G = malloc((size_t)n * sizeof *G);
    double *best = malloc((size_t)n_rows * sizeof *best);
    gf_status rc = GF_OK;
    GF_FAIL_GOTO_IF(!V || !bestV || !a || !besta || !dda || !Wq || !E || !G || !best, err, GF_E_NOMEM,
                    "autoround: out of memory for %lld rows", (long long)n_rows);
    for (int64_t i = 0; i < n_rows * nb; i++) a[i] = besta[i] = 1.0f, dda[i] = block_dda(type, W + i * GF_QK);
    if (lr <= 0) lr = iters > 0 ? 1.0 / iters : 0;
    step_and_quant(type, W, dda, V, a, NULL, n_rows, n_in, 0, 1, Wq);
    for (int it = 0;; it++) {
        /* E = W - Wq, G = E·H, row losses e·(He) */
        #pragma omp parallel for schedule(static) if (n >= PAR_MIN_WEIGHTS)
        for (int64_t i = 0; i < n; i++) E[i] = W[i] - Wq[i];
        GF_FAIL_GOTO_IF(gf_gemm_nn(n_rows, n_in, n_in, E, H, G, 0), err, GF_E_NOMEM,
                        "autoround: out of memory for the GEMM of %lld rows", (long long)n_rows);
        #pragma omp parallel for schedule(static) if (n >= PAR_MIN_WEIGHTS)
        for (int64_t r = 0; r < n_rows; r++) {
            double l = 0;
            for (int64_t j = 0; j < n_in; j++) l += (double)E[r * n_in + j] * G[r * n_in + j];
            if (it == 0 || l < best[r]) {
                best[r] = l;
                if (it > 0) {
                    memcpy(bestV + r * n_in, V + r * n_in, (size_t)n_in * sizeof *V);
                    memcpy(besta + r * nb, a + r * nb, (size_t)nb * sizeof *a);
                }
            }
        }
        if (it == 0)
            for (int64_t r = 0; r < n_rows; r++) *loss0 += best[r];
        if (it == iters) break;
        /* dL/dWq = -2·E·H: its sign is that of -G */
        #pragma omp parallel for schedule(static) if (n >= PAR_MIN_WEIGHTS)
        for (int64_t i = 0; i < n; i++) G[i] = -G[i];
        step_and_quant(type, W, dda, V, a, G, n_rows, n_in, (float)(lr * (1.0 - (double)it / iters)), 1, Wq);
    }
    for (int64_t r = 0; r < n_rows; r++) *loss1 += best[r];
    gf_ar_pack(type, W, bestV, besta, n_rows, n_in, blocks);
done:
    free(V), free(bestV), free(a), free(besta), free(dda), free(Wq), free(E), free(G), free(best);
    return rc;
}

/* ---------------------------------------------------------------- the methods */

static gf_status ar_block(gf_calib *c, int layer, gf_type type, const gf_method_env *env, gf_block_report *rep,
                          gf_err *err) {
    rep->awq = NULL;
    return gf_autoround_layer(c, layer, type, env->tuning, env->imatrix, rep->ar, env->tune_progress, env->ctx, err);
}

/* AWQ's scales first, folded without clipping (clipping would change the float
 * targets), then AutoRound on the rescaled block from the same block input. */
static gf_status awq_ar_block(gf_calib *c, int layer, gf_type type, const gf_method_env *env, gf_block_report *rep,
                              gf_err *err) {
    size_t bytes = (size_t)(c->n_samples * c->seqlen * c->cfg->n_embd) * sizeof(float);
    float *x0 = malloc(bytes);
    GF_FAIL_IF(!x0, err, GF_E_NOMEM, "out of memory");
    memcpy(x0, c->x, bytes);
    gf_awq_opts ao = {.max_tokens = 512, .clip = 0};
    gf_status rc = gf_awq_layer(c, layer, type, &ao, rep->awq, err);
    memcpy(c->x, x0, bytes); /* gf_awq_layer advanced it: AutoRound's targets start from the block's input */
    free(x0);
    GF_TRY(rc);
    /* min-max start: the run's statistics are of the block before AWQ rescaled its inputs, and
     * the rescaled block's own (one more float pass) did worse on SmolLM2-135M, light: KLD
     * 0.1268 against 0.1229 (BENCHMARKS.md, issue 14) */
    return gf_autoround_layer(c, layer, type, env->tuning, NULL, rep->ar, env->tune_progress, env->ctx, err);
}

static gf_status ar_head(gf_type type, const float *W, int64_t n_rows, int64_t n_in, const float *H,
                         const gf_method_env *env, void *blocks, gf_err *err) {
    double loss0, loss1;
    return gf_autoround_rows(type, W, n_rows, n_in, H, env->tuning->iters, env->tuning->lr, blocks, &loss0, &loss1,
                             err);
}

static gf_status ar_meta(gf_gguf_writer *w, const gf_method_env *env) {
    const gf_ar_opts *ro = env->tuning;
    gf_status rc = gf_gguf_set_str(w, "gguf-forge.autoround.recipe", env->recipe ? env->recipe : "default");
    if (!rc) rc = gf_gguf_set_u32(w, "gguf-forge.autoround.iters", (uint32_t)ro->iters);
    if (!rc) rc = gf_gguf_set_f32(w, "gguf-forge.autoround.lr", (float)(ro->lr > 0 ? ro->lr : ro->iters ? 1.0 / ro->iters : 0));
    if (!rc) rc = gf_gguf_set_u32(w, "gguf-forge.autoround.batch", (uint32_t)ro->batch);
    if (!rc) rc = gf_gguf_set_u64(w, "gguf-forge.autoround.seed", ro->seed);
    if (!rc) rc = gf_gguf_set_str(w, "gguf-forge.autoround.init", gf_ar_starts[ro->start]);
    /* only when set, so that a default run's file keeps its bytes */
    if (!rc && ro->fp_inputs) rc = gf_gguf_set_bool(w, "gguf-forge.autoround.fp_inputs", 1);
    return rc;
}

/* why the heads get imatrix by default (BENCHMARKS.md, "Head methods") */
#define AR_HEADS_WHY "on SmolLM2-135M, Q4_0 --pure, recipe light: KLD 0.219 with an imatrix head, 0.223 autoround, " \
                     "0.259 minmax, 0.264 omse"

const gf_qmethod gf_method_autoround = {
    .name = "autoround",
    .help = "per block, signed-gradient tuning of every weight's rounding and each block's range so the block's "
            "output matches the float model (--recipe); for --embed/--output the same tuning of the head's rows "
            "against its output on calibration tokens",
    .needs_qpath = 1, .tunes = 1,
    .quantize_row = gf_quantize_row_minmax,
    .transform_block = ar_block, .tune_head = ar_head, .write_meta = ar_meta,
    .embed_default = "imatrix", .output_default = "imatrix", .heads_why = AR_HEADS_WHY,
};

const gf_qmethod gf_method_awq_autoround = {
    .name = "awq+autoround",
    .help = "AWQ scales folded first (no clipping), then AutoRound",
    .needs_qpath = 1, .tunes = 1,
    .blocks_only = "AWQ rescales decoder blocks only",
    .quantize_row = gf_quantize_row_minmax,
    .transform_block = awq_ar_block, .write_meta = ar_meta,
    .embed_default = "imatrix", .output_default = "imatrix", .heads_why = AR_HEADS_WHY,
};
