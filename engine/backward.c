/*
 * backward.c - forward and backward of one decoder block in float, for
 * AutoRound's per-block tuning: the forward keeps its activations on a tape,
 * the backward turns dL/dy into dL/dW for the seven matrices and dL/dx.
 *
 * The forward reuses the engine's layers (forward.h) where nothing extra must
 * be kept, so it computes what gf_block_forward computes with an F32 cache;
 * matrix products go through gemm.h.  Every reduction has a fixed order
 * (per-token work, per-head work summed over a group in head order, GEMMs that
 * are deterministic by contract), so no result depends on the thread count.
 * Not here: quantization, the rounding parameters, the optimizer (calib/).
 */
#include "vecops.h"
#include "backward.h"

#include "gemm.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>

/* Below this many multiply-adds a loop is not worth waking the other threads. */
#define PAR_MIN_WORK 32768
/* Key columns per task of the attention backward's second pass. */
#define ATTN_COLS 16

/* ---------------------------------------------------------------- helpers */


/* gf_norm_forward token by token over the threads (each token on its own,
 * so the result is the engine's bit for bit). */
static void norm_par(gf_norm_kind kind, float *out, const float *in, const float *w, int64_t n_tok, int64_t dim,
                     float eps) {
    #pragma omp parallel for schedule(static) if (n_tok * dim >= PAR_MIN_WORK)
    for (int64_t t = 0; t < n_tok; t++) gf_norm_forward(kind, out + t * dim, in + t * dim, w, 1, dim, eps);
}

/* The per-head q/k norms of the tape's q (BT, Dq) and k (BT, Dkv), in place,
 * head by head as gf_qk_norm_forward (so bit for bit the engine's). */
static void qk_norm_par(const gf_hparams *hp, const gf_block_weights *bw, float *q, float *k, int64_t BT) {
    const gf_norm_kind kind = gf_arch_get(hp->arch)->norm;
    if (bw->norm[GF_NORM_Q]) norm_par(kind, q, q, bw->norm[GF_NORM_Q], BT * hp->n_heads, hp->head_dim, hp->rms_eps);
    if (bw->norm[GF_NORM_K]) norm_par(kind, k, k, bw->norm[GF_NORM_K], BT * hp->n_kv_heads, hp->head_dim, hp->rms_eps);
}

/* dx (BT, n_heads*Dh) = dL/dx of the per-head norm with weights w of x (the tape's
 * q or k before it) given dout = dL/d(norm(x)); dx is overwritten, a copy of dout
 * when w is NULL.  The norm weights stay fixed (AutoRound tunes the matrices). */
static void qk_norm_backward(const gf_hparams *hp, const float *w, float *dx, const float *dout, const float *x,
                             int64_t n_heads, int64_t BT) {
    const size_t n = (size_t)(BT * n_heads * hp->head_dim);
    if (!w) {
        memcpy(dx, dout, n * sizeof(float));
        return;
    }
    memset(dx, 0, n * sizeof(float)); /* gf_norm_backward accumulates */
    gf_norm_backward(gf_arch_get(hp->arch)->norm, dx, dout, x, w, BT * n_heads, hp->head_dim, hp->rms_eps);
}

static void swiglu_par(float *out, const float *gate, const float *up, int64_t n_tok, int64_t n_ff) {
    #pragma omp parallel for schedule(static) if (n_tok * n_ff >= PAR_MIN_WORK)
    for (int64_t t = 0; t < n_tok; t++) gf_swiglu_forward(out + t * n_ff, gate + t * n_ff, up + t * n_ff, n_ff);
}

/* ---------------------------------------------------------------- RoPE */

void gf_rope_backward(float *dx, int64_t n_tok, int64_t pos0, int64_t n_heads, int64_t head_dim, int64_t n_rot,
                      gf_rope_kind kind, const float *cos_tab, const float *sin_tab) {
    const int64_t half = n_rot / 2;
    /* the forward is a rotation by +θ of each pair; its transpose rotates by -θ.
     * Dims past n_rot pass through, as in the forward. */
    for (int64_t t = 0; t < n_tok; t++) {
        const float *c = cos_tab + (pos0 + t) * half, *s = sin_tab + (pos0 + t) * half;
        for (int64_t h = 0; h < n_heads; h++) {
            float *g = dx + (t * n_heads + h) * head_dim;
            for (int64_t i = 0; i < half; i++) {
                const int64_t a = kind == GF_ROPE_NEOX ? i : 2 * i, b = kind == GF_ROPE_NEOX ? i + half : 2 * i + 1;
                const float g0 = g[a], g1 = g[b];
                g[a] = g0 * c[i] + g1 * s[i];
                g[b] = g1 * c[i] - g0 * s[i];
            }
        }
    }
}

/* ---------------------------------------------------------------- attention */

void gf_attention_forward_train(float *out, float *probs, const float *q, const float *k, const float *v,
                                int64_t n_seq, int64_t n_tok, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim) {
    const int64_t T = n_tok, Dq = n_heads * head_dim, Dkv = n_kv_heads * head_dim, group = n_heads / n_kv_heads;
    const int64_t L = gf_attn_probs_len(T), n_task = n_seq * n_heads;
    const float scale = 1.0f / sqrtf((float)head_dim);
    /* one (sample, head) start to finish per task, in the order of gf_attention_forward */
    #pragma omp parallel for schedule(static) if (n_task > 1 && n_seq * T * T * Dq >= PAR_MIN_WORK)
    for (int64_t task = 0; task < n_task; task++) {
        const int64_t b = task / n_heads, h = task % n_heads, kh = h / group;
        const float *kb = k + b * T * Dkv + kh * head_dim, *vb = v + b * T * Dkv + kh * head_dim;
        float *pr = probs + task * L;
        for (int64_t t = 0; t < T; t++) {
            const float *qt = q + (b * T + t) * Dq + h * head_dim;
            float *sc = pr + t * (t + 1) / 2;
            const int64_t n_kv = t + 1;
            float mx = -INFINITY;
            for (int64_t j = 0; j < n_kv; j++) {
                sc[j] = dot8(qt, kb + j * Dkv, head_dim) * scale;
                if (sc[j] > mx) mx = sc[j];
            }
            double sum = 0.0;
            for (int64_t j = 0; j < n_kv; j++) {
                sc[j] = expf(sc[j] - mx);
                sum += sc[j];
            }
            const float inv = (float)(1.0 / sum);
            float acc[GF_MAX_HEAD_DIM];
            for (int64_t i = 0; i < head_dim; i++) acc[i] = 0.0f;
            for (int64_t j = 0; j < n_kv; j++) {
                sc[j] *= inv;
                axpy8(acc, sc[j], vb + j * Dkv, head_dim);
            }
            memcpy(out + (b * T + t) * Dq + h * head_dim, acc, (size_t)head_dim * sizeof(float));
        }
    }
}

void gf_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                           const float *v, const float *probs, int64_t n_seq, int64_t n_tok, int64_t n_heads,
                           int64_t n_kv_heads, int64_t head_dim, float *work) {
    const int64_t T = n_tok, Dq = n_heads * head_dim, Dkv = n_kv_heads * head_dim, group = n_heads / n_kv_heads;
    const int64_t L = gf_attn_probs_len(T), n_task = n_seq * n_heads;
    const float scale = 1.0f / sqrtf((float)head_dim);
    const int par = n_seq * T * T * Dq >= PAR_MIN_WORK;

    /* With p = probs, s = scale q·k and o = Σ p v, for row t of a head:
     *   dp_j = dout_t · v_j,   ds_j = p_j (dp_j - Σ_i p_i dp_i),   dq_t = scale Σ_j ds_j k_j.
     * Pass 1 goes row by row (one sample and head per task) and keeps
     * g = scale ds in work, laid out like probs. */
    float *gw = work;
    #pragma omp parallel for schedule(static) if (par && n_task > 1)
    for (int64_t task = 0; task < n_task; task++) {
        const int64_t b = task / n_heads, h = task % n_heads, kh = h / group;
        const float *kb = k + b * T * Dkv + kh * head_dim, *vb = v + b * T * Dkv + kh * head_dim;
        for (int64_t t = 0; t < T; t++) {
            const float *p = probs + task * L + t * (t + 1) / 2;
            float *g = gw + task * L + t * (t + 1) / 2;
            const float *go = dout + (b * T + t) * Dq + h * head_dim;
            const int64_t n_kv = t + 1;
            double rs = 0.0;
            for (int64_t j = 0; j < n_kv; j++) {
                g[j] = dot8(go, vb + j * Dkv, head_dim);
                rs += (double)p[j] * (double)g[j];
            }
            const float rsf = (float)rs;
            float acc[GF_MAX_HEAD_DIM];
            for (int64_t i = 0; i < head_dim; i++) acc[i] = 0.0f;
            for (int64_t j = 0; j < n_kv; j++) {
                g[j] = p[j] * (g[j] - rsf) * scale;
                axpy8(acc, g[j], kb + j * Dkv, head_dim);
            }
            memcpy(dq + (b * T + t) * Dq + h * head_dim, acc, (size_t)head_dim * sizeof(float));
        }
    }

    /* Pass 2, column by column: dk_j = Σ_h Σ_{t≥j} g_tj q_t and dv_j = Σ_h Σ_{t≥j} p_tj dout_t,
     * h over the query heads sharing the key/value head, in head order.  A
     * task is a block of columns; each column is summed by one thread in a
     * fixed order, so the thread count never matters. */
    const int64_t n_jb = (T + ATTN_COLS - 1) / ATTN_COLS, n_col_task = n_seq * n_kv_heads * n_jb;
    #pragma omp parallel for schedule(static, 1) if (par && n_col_task > 1)
    for (int64_t task = 0; task < n_col_task; task++) {
        const int64_t b = task / (n_kv_heads * n_jb), kh = task / n_jb % n_kv_heads, jb = task % n_jb;
        const int64_t j1 = (jb + 1) * ATTN_COLS < T ? (jb + 1) * ATTN_COLS : T;
        for (int64_t j = jb * ATTN_COLS; j < j1; j++) {
            float ak[GF_MAX_HEAD_DIM], av[GF_MAX_HEAD_DIM];
            for (int64_t i = 0; i < head_dim; i++) ak[i] = av[i] = 0.0f;
            for (int64_t h = kh * group; h < (kh + 1) * group; h++) {
                const float *p = probs + (b * n_heads + h) * L, *g = gw + (b * n_heads + h) * L;
                for (int64_t t = j; t < T; t++) {
                    const int64_t off = t * (t + 1) / 2 + j, row = (b * T + t) * Dq + h * head_dim;
                    axpy8(ak, g[off], q + row, head_dim);
                    axpy8(av, p[off], dout + row, head_dim);
                }
            }
            memcpy(dk + (b * T + j) * Dkv + kh * head_dim, ak, (size_t)head_dim * sizeof(float));
            memcpy(dv + (b * T + j) * Dkv + kh * head_dim, av, (size_t)head_dim * sizeof(float));
        }
    }
}

/* ---------------------------------------------------------------- SwiGLU */

void gf_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, int64_t n) {
    /* silu(g) = g σ(g), silu'(g) = σ(g) (1 + g (1 - σ(g))) */
    #pragma omp parallel for schedule(static) if (n >= PAR_MIN_WORK)
    for (int64_t i = 0; i < n; i++) {
        const float g = gate[i], u = up[i], d = dout[i];
        const float s = 1.0f / (1.0f + expf(-g));
        dup[i] = d * (g * s);
        dgate[i] = d * u * (s * (1.0f + g * (1.0f - s)));
    }
}

/* ---------------------------------------------------------------- linear */

gf_status gf_linear_forward_f32(float *y, const float *W, const float *bias, const float *x, int64_t n_tok,
                                int64_t n_in, int64_t n_out) {
    GF_TRY(gf_gemm_nt(n_tok, n_out, n_in, x, W, y, 0));
    if (bias)
        for (int64_t t = 0; t < n_tok; t++)
            for (int64_t o = 0; o < n_out; o++) y[t * n_out + o] += bias[o];
    return GF_OK;
}

gf_status gf_linear_backward(float *dx, float *dW, const float *dy, const float *x, const float *W, int64_t n_tok,
                             int64_t n_in, int64_t n_out, int acc_dx) {
    if (dx) GF_TRY(gf_gemm_nn(n_tok, n_in, n_out, dy, W, dx, acc_dx));
    if (dW) GF_TRY(gf_gemm_tn(n_out, n_in, n_tok, dy, x, dW, 1));
    return GF_OK;
}

/* ---------------------------------------------------------------- loss */

double gf_mse_loss(const float *y, const float *target, float *dy, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double d = (double)y[i] - (double)target[i];
        s += d * d;
    }
    if (dy) {
        const float c = (float)(2.0 / (double)n);
        for (int64_t i = 0; i < n; i++) dy[i] = c * (y[i] - target[i]);
    }
    return n ? s / (double)n : 0.0;
}

/* ---------------------------------------------------------------- tape */

void gf_block_linear_shape(const gf_hparams *hp, gf_linear l, int64_t *n_out, int64_t *n_in) {
    const gf_arch_dims d = {hp->n_vocab, hp->dim, hp->n_heads, hp->n_kv_heads, hp->head_dim, hp->n_ff};
    gf_arch_linear_shape(&d, l, n_out, n_in);
}

/* Floats in each buffer of the tape, in the order gf_block_tape_init carves them. */
enum { TB_COS, TB_SIN, TB_X, TB_X1, TB_XN, TB_Q, TB_K, TB_V, TB_PROBS, TB_ATT, TB_GATE, TB_UP, TB_DX1, TB_DXN,
       TB_QRAW, TB_KRAW, TB_WORK, TB_COUNT };

/* The architecture has per-head q/k norms: the tape keeps q and k before them. */
static int has_qk_norm(const gf_hparams *hp) {
    const gf_arch_info *a = gf_arch_get(hp->arch);
    return a && a->qk_norm;
}

/* 0 on overflow or bad shapes, else the total floats (each buffer rounded up to 16). */
static uint64_t tape_layout(const gf_hparams *hp, int64_t n_seq, int64_t n_tok, uint64_t len[TB_COUNT]) {
    if (n_seq < 1 || n_tok < 1 || n_seq > ((int64_t)1 << 30) || n_tok > ((int64_t)1 << 30)) return 0;
    const uint64_t B = (uint64_t)n_seq, T = (uint64_t)n_tok, D = (uint64_t)hp->dim, F = (uint64_t)hp->n_ff;
    const uint64_t H = (uint64_t)hp->n_heads, Dq = H * (uint64_t)hp->head_dim;
    const uint64_t Dkv = (uint64_t)hp->n_kv_heads * (uint64_t)hp->head_dim, R = (uint64_t)hp->n_rot / 2;
    const int qkn = has_qk_norm(hp); /* q, k before their norms, and their gradients */
    const uint64_t per_tok[TB_COUNT] = {[TB_X] = D, [TB_X1] = D, [TB_XN] = D, [TB_Q] = Dq, [TB_K] = Dkv,
                                        [TB_V] = Dkv, [TB_ATT] = Dq, [TB_GATE] = F, [TB_UP] = F, [TB_DX1] = D,
                                        [TB_DXN] = D, [TB_QRAW] = qkn ? Dq : 0, [TB_KRAW] = qkn ? Dkv : 0};
    uint64_t BT, probs, total = 0;
    if (gf_mul_overflow(B, T, &BT) || gf_mul_overflow(B * H, T * (T + 1) / 2, &probs)) return 0;
    for (int i = 0; i < TB_COUNT; i++) {
        uint64_t n;
        if (i == TB_COS || i == TB_SIN) n = T * R;
        else if (i == TB_PROBS) n = probs;
        else if (i == TB_WORK) {
            /* MLP: silu(gate)*up and d(gate) (2F a token); attention: dL/d(att, q, k, v) and
             * the softmax gradients laid out like probs */
            uint64_t mlp, att;
            if (gf_mul_overflow(BT, 2 * F, &mlp) || gf_mul_overflow(BT, (2 + qkn) * (Dq + Dkv), &att) ||
                gf_add_overflow(att, probs, &att))
                return 0;
            n = mlp > att ? mlp : att;
        } else if (gf_mul_overflow(BT, per_tok[i], &n)) return 0;
        n = (n + 15) & ~(uint64_t)15;
        len[i] = n;
        if (gf_add_overflow(total, n, &total)) return 0;
    }
    return total;
}

size_t gf_block_tape_bytes(const gf_hparams *hp, int64_t n_seq, int64_t n_tok) {
    uint64_t len[TB_COUNT], n = tape_layout(hp, n_seq, n_tok, len);
    if (!n || n > (uint64_t)SIZE_MAX / sizeof(float)) return 0;
    return (size_t)n * sizeof(float);
}

gf_status gf_block_tape_init(gf_block_tape *tp, const gf_hparams *hp, int64_t n_seq, int64_t n_tok, gf_err *err) {
    memset(tp, 0, sizeof *tp);
    if (hp->dim < 1 || hp->n_ff < 1 || hp->n_heads < 1 || hp->n_kv_heads < 1 || hp->n_heads % hp->n_kv_heads ||
        hp->head_dim < 1 || hp->head_dim > GF_MAX_HEAD_DIM || hp->n_rot < 0 || hp->n_rot > hp->head_dim ||
        hp->n_rot % 2)
        return gf_errf(err, GF_E_USAGE, "block tape: unsupported shape (dim %lld, n_ff %lld, %lld heads, %lld kv "
                       "heads, head_dim %lld, n_rot %lld)", (long long)hp->dim, (long long)hp->n_ff,
                       (long long)hp->n_heads, (long long)hp->n_kv_heads, (long long)hp->head_dim,
                       (long long)hp->n_rot);
    uint64_t len[TB_COUNT];
    const uint64_t total = tape_layout(hp, n_seq, n_tok, len);
    if (!total || total > ((uint64_t)1 << 40))
        return gf_errf(err, GF_E_NOMEM, "block tape: %lld samples of %lld tokens are too many", (long long)n_seq,
                       (long long)n_tok);
    tp->arena = aligned_alloc(64, (size_t)total * sizeof(float));
    if (!tp->arena)
        return gf_errf(err, GF_E_NOMEM, "block tape: out of memory for %lld samples of %lld tokens (%llu bytes)",
                       (long long)n_seq, (long long)n_tok, (unsigned long long)(total * sizeof(float)));
    float **slot[TB_COUNT] = {&tp->rope_cos, &tp->rope_sin, &tp->x, &tp->x1, &tp->xn, &tp->q, &tp->k, &tp->v,
                              &tp->probs, &tp->att, &tp->gate, &tp->up, &tp->dx1, &tp->dxn, &tp->q_raw,
                              &tp->k_raw, &tp->work_f};
    float *p = tp->arena;
    for (int i = 0; i < TB_COUNT; i++) {
        *slot[i] = p;
        p += len[i];
    }
    tp->n_seq = n_seq;
    tp->n_tok = n_tok;
    tp->hp = *hp;
    gf_rope_tables(tp->rope_cos, tp->rope_sin, n_tok, hp);
    return GF_OK;
}

void gf_block_tape_free(gf_block_tape *tp) {
    if (!tp) return;
    free(tp->arena);
    memset(tp, 0, sizeof *tp);
}

/* ---------------------------------------------------------------- block */

static void check_shapes(const gf_hparams *hp, const gf_block_tape *tp) {
    (void)hp;
    (void)tp;
    assert(tp->arena && hp->dim == tp->hp.dim && hp->n_ff == tp->hp.n_ff && hp->n_heads == tp->hp.n_heads &&
           hp->n_kv_heads == tp->hp.n_kv_heads && hp->head_dim == tp->hp.head_dim && hp->n_rot == tp->hp.n_rot &&
           hp->rope == tp->hp.rope && hp->rope_base == tp->hp.rope_base && hp->rope_freqs == tp->hp.rope_freqs &&
           hp->rope_scaling.kind == tp->hp.rope_scaling.kind &&
           hp->rope_scaling.factor == tp->hp.rope_scaling.factor && hp->n_ctx_train == tp->hp.n_ctx_train);
}

static void rope_seqs(float *x, const gf_hparams *hp, int64_t n_heads, const gf_block_tape *tp, int backward) {
    const int64_t T = tp->n_tok, width = n_heads * hp->head_dim;
    #pragma omp parallel for schedule(static) if (tp->n_seq > 1 && T * width >= PAR_MIN_WORK)
    for (int64_t b = 0; b < tp->n_seq; b++) {
        float *xb = x + b * T * width;
        if (backward)
            gf_rope_backward(xb, T, 0, n_heads, hp->head_dim, hp->n_rot, hp->rope, tp->rope_cos, tp->rope_sin);
        else
            gf_rope_forward(xb, T, 0, n_heads, hp->head_dim, hp->n_rot, hp->rope, tp->rope_cos, tp->rope_sin);
    }
}

static void add_into(float *y, const float *a, int64_t n) {
    #pragma omp parallel for schedule(static) if (n >= PAR_MIN_WORK)
    for (int64_t i = 0; i < n; i++) y[i] += a[i];
}

gf_status gf_block_forward_train(const gf_hparams *hp, const gf_block_weights *bw, const float *x, float *y,
                                 gf_block_tape *tp) {
    check_shapes(hp, tp);
    const int64_t BT = tp->n_seq * tp->n_tok, D = hp->dim, F = hp->n_ff;
    const int64_t Dq = hp->n_heads * hp->head_dim, Dkv = hp->n_kv_heads * hp->head_dim;
    const float *const *W = bw->w, *const *bias = bw->bias;
    memcpy(tp->x, x, (size_t)(BT * D) * sizeof(float));

    /* attention: x1 = x + o(attention(rope(qn(q(n))), rope(kn(k(n))), v(n))), n = norm(x), qn and kn the
     * per-head norms where the arch has them (the tape keeps q and k before them) */
    norm_par(gf_arch_get(hp->arch)->norm, tp->xn, x, bw->norm[GF_NORM_ATTN], BT, D, hp->rms_eps);
    GF_TRY(gf_linear_forward_f32(tp->q, W[GF_LIN_Q], bias[GF_LIN_Q], tp->xn, BT, D, Dq));
    GF_TRY(gf_linear_forward_f32(tp->k, W[GF_LIN_K], bias[GF_LIN_K], tp->xn, BT, D, Dkv));
    GF_TRY(gf_linear_forward_f32(tp->v, W[GF_LIN_V], bias[GF_LIN_V], tp->xn, BT, D, Dkv));
    if (has_qk_norm(hp)) {
        memcpy(tp->q_raw, tp->q, (size_t)(BT * Dq) * sizeof(float));
        memcpy(tp->k_raw, tp->k, (size_t)(BT * Dkv) * sizeof(float));
        qk_norm_par(hp, bw, tp->q, tp->k, BT);
    }
    rope_seqs(tp->q, hp, hp->n_heads, tp, 0);
    rope_seqs(tp->k, hp, hp->n_kv_heads, tp, 0);
    gf_attention_forward_train(tp->att, tp->probs, tp->q, tp->k, tp->v, tp->n_seq, tp->n_tok, hp->n_heads,
                               hp->n_kv_heads, hp->head_dim);
    GF_TRY(gf_linear_forward_f32(y, W[GF_LIN_O], bias[GF_LIN_O], tp->att, BT, Dq, D));
    memcpy(tp->x1, x, (size_t)(BT * D) * sizeof(float));
    add_into(tp->x1, y, BT * D);

    /* feed-forward: y = x1 + down(silu(gate(n)) * up(n)), n = norm(x1) */
    float *hid = tp->work_f;
    norm_par(gf_arch_get(hp->arch)->norm, tp->xn, tp->x1, bw->norm[GF_NORM_FFN], BT, D, hp->rms_eps);
    GF_TRY(gf_linear_forward_f32(tp->gate, W[GF_LIN_GATE], bias[GF_LIN_GATE], tp->xn, BT, D, F));
    GF_TRY(gf_linear_forward_f32(tp->up, W[GF_LIN_UP], bias[GF_LIN_UP], tp->xn, BT, D, F));
    swiglu_par(hid, tp->gate, tp->up, BT, F);
    GF_TRY(gf_linear_forward_f32(y, W[GF_LIN_DOWN], bias[GF_LIN_DOWN], hid, BT, F, D));
    add_into(y, tp->x1, BT * D);
    tp->forward_done = 1;
    return GF_OK;
}

/* One matrix of the backward: dx (BT, n_in) = dy · W (added when acc_dx, skipped
 * when dx is NULL), then dW: += dyᵀ · x over all BT rows, or with a sink one
 * sample at a time (dW = that sample's dyᵀ · x, handed to the sink). */
typedef struct {
    float *const *dW;
    gf_block_dw_sink sink;
    void *ctx;
    int group;
    float *scratch;
    int64_t n_seq, n_tok;
} bwd_ctx;

static gf_status lin_bwd(const bwd_ctx *c, gf_linear l, float *dx, const float *dy, const float *x, const float *W,
                         int64_t n_in, int64_t n_out, int acc_dx) {
    const int64_t BT = c->n_seq * c->n_tok;
    float *dW = c->dW ? c->dW[l] : NULL;
    if (dx) GF_TRY(gf_gemm_nn(BT, n_in, n_out, dy, W, dx, acc_dx));
    if (!dW) return GF_OK;
    if (!c->sink) return gf_gemm_tn(n_out, n_in, BT, dy, x, dW, 1);
    for (int64_t s0 = 0; s0 < c->n_seq; s0 += c->group) {
        const int m = c->n_seq - s0 < c->group ? (int)(c->n_seq - s0) : c->group;
        const float *g[GF_BWD_GROUP_MAX];
        for (int j = 0; j < m; j++) {
            float *dst = j == 0 ? dW : c->scratch + (size_t)(j - 1) * (size_t)(n_out * n_in);
            const int64_t s = s0 + j;
            GF_TRY(gf_gemm_tn(n_out, n_in, c->n_tok, dy + s * c->n_tok * n_out, x + s * c->n_tok * n_in, dst, 0));
            g[j] = dst;
        }
        GF_TRY(c->sink(c->ctx, l, s0, m, g));
    }
    return GF_OK;
}

gf_status gf_block_backward(const gf_hparams *hp, const gf_block_weights *bw, const float *dy,
                            float *const dW[GF_LIN_COUNT], float *dx, gf_block_tape *tp) {
    return gf_block_backward_per_sample(hp, bw, dy, dW, NULL, NULL, 1, NULL, dx, tp);
}

gf_status gf_block_backward_per_sample(const gf_hparams *hp, const gf_block_weights *bw, const float *dy,
                                       float *const dW[GF_LIN_COUNT], gf_block_dw_sink sink, void *ctx, int group,
                                       float *scratch, float *dx, gf_block_tape *tp) {
    check_shapes(hp, tp);
    assert(tp->forward_done);
    const int64_t BT = tp->n_seq * tp->n_tok, D = hp->dim, F = hp->n_ff;
    const int64_t Dq = hp->n_heads * hp->head_dim, Dkv = hp->n_kv_heads * hp->head_dim;
    const float *const *W = bw->w;
    assert(!sink || (group >= 1 && group <= GF_BWD_GROUP_MAX && (group == 1 || scratch)));
    const bwd_ctx c = {
        .dW = dW, .sink = sink, .ctx = ctx, .group = group, .scratch = scratch, .n_seq = tp->n_seq, .n_tok = tp->n_tok};

    /* feed-forward; silu(gate)*up is recomputed rather than kept (F floats a token) */
    float *hid = tp->work_f, *dh = tp->work_f + BT * F;
    swiglu_par(hid, tp->gate, tp->up, BT, F);
    GF_TRY(lin_bwd(&c, GF_LIN_DOWN, dh, dy, hid, W[GF_LIN_DOWN], F, D, 0));
    float *dgate = dh, *dup = hid; /* hid is dead once dW_down is done */
    gf_swiglu_backward(dgate, dup, dh, tp->gate, tp->up, BT * F);
    norm_par(gf_arch_get(hp->arch)->norm, tp->xn, tp->x1, bw->norm[GF_NORM_FFN], BT, D, hp->rms_eps);
    GF_TRY(lin_bwd(&c, GF_LIN_GATE, tp->dxn, dgate, tp->xn, W[GF_LIN_GATE], D, F, 0));
    GF_TRY(lin_bwd(&c, GF_LIN_UP, tp->dxn, dup, tp->xn, W[GF_LIN_UP], D, F, 1));
    memcpy(tp->dx1, dy, (size_t)(BT * D) * sizeof(float)); /* the residual path */
    gf_norm_backward(gf_arch_get(hp->arch)->norm, tp->dx1, tp->dxn, tp->x1, bw->norm[GF_NORM_FFN], BT, D, hp->rms_eps);

    /* attention */
    float *datt = tp->work_f, *dq = datt + BT * Dq, *dk = dq + BT * Dq, *dv = dk + BT * Dkv, *aw = dv + BT * Dkv;
    GF_TRY(lin_bwd(&c, GF_LIN_O, datt, tp->dx1, tp->att, W[GF_LIN_O], Dq, D, 0));
    gf_attention_backward(dq, dk, dv, datt, tp->q, tp->k, tp->v, tp->probs, tp->n_seq, tp->n_tok, hp->n_heads,
                          hp->n_kv_heads, hp->head_dim, aw);
    rope_seqs(dq, hp, hp->n_heads, tp, 1);
    rope_seqs(dk, hp, hp->n_kv_heads, tp, 1);
    if (has_qk_norm(hp)) { /* through the per-head norms: into fresh buffers past the attention scratch */
        float *dqr = aw + gf_attn_probs_len(tp->n_tok) * tp->n_seq * hp->n_heads, *dkr = dqr + BT * Dq;
        qk_norm_backward(hp, bw->norm[GF_NORM_Q], dqr, dq, tp->q_raw, hp->n_heads, BT);
        qk_norm_backward(hp, bw->norm[GF_NORM_K], dkr, dk, tp->k_raw, hp->n_kv_heads, BT);
        dq = dqr, dk = dkr;
    }
    norm_par(gf_arch_get(hp->arch)->norm, tp->xn, tp->x, bw->norm[GF_NORM_ATTN], BT, D, hp->rms_eps);
    float *dxn = dx ? tp->dxn : NULL; /* AutoRound needs no dL/dx: three products fewer */
    GF_TRY(lin_bwd(&c, GF_LIN_Q, dxn, dq, tp->xn, W[GF_LIN_Q], D, Dq, 0));
    GF_TRY(lin_bwd(&c, GF_LIN_K, dxn, dk, tp->xn, W[GF_LIN_K], D, Dkv, 1));
    GF_TRY(lin_bwd(&c, GF_LIN_V, dxn, dv, tp->xn, W[GF_LIN_V], D, Dkv, 1));
    if (dx) {
        memcpy(dx, tp->dx1, (size_t)(BT * D) * sizeof(float));
        gf_norm_backward(gf_arch_get(hp->arch)->norm, dx, tp->dxn, tp->x, bw->norm[GF_NORM_ATTN], BT, D, hp->rms_eps);
    }
    return GF_OK;
}
