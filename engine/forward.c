/*
 * forward.c - the float forward pass of a llama/qwen2/qwen3 decoder: RMSNorm, the
 * per-head q/k RMSNorm (qwen3), RoPE,
 * causal grouped-query attention over a float KV cache, SwiGLU MLP, output head.
 * Matrix products go through gf_matmul (kernels.h); everything else is plain C
 * here, with reductions in a fixed order so results never depend on threads.
 *
 * The element-wise steps follow GGML's CPU ops where the order of float
 * operations is observable (double sums in RMSNorm and softmax, RoPE angles by
 * repeated multiplication) so that perplexities agree closely with llama.cpp.
 * Not here: sampling and perplexity (ppl.c), loading (model.c).
 */
#include "vecops.h"
#include "forward.h"

#include <math.h>
#include <stdlib.h>

/* ---------------------------------------------------------------- state */

static float *alloc_f(size_t n) { return malloc((n ? n : 1) * sizeof(float)); }

gf_status gf_state_init(gf_state *s, const gf_model *m, int64_t n_ctx, int64_t n_batch, gf_type kv_type,
                        gf_err *err) {
    memset(s, 0, sizeof *s);
    const gf_hparams *hp = &m->hp;
    if (n_ctx < 1 || n_ctx > INT32_MAX || n_batch < 1)
        return gf_errf(err, GF_E_USAGE, "context of %lld and batch of %lld tokens are not valid",
                       (long long)n_ctx, (long long)n_batch);
    if (kv_type != GF_TYPE_F16 && kv_type != GF_TYPE_F32)
        return gf_errf(err, GF_E_USAGE, "KV cache type %d is not supported (f16, f32)", (int)kv_type);
    s->kv_type = kv_type;
    if (n_batch > n_ctx) n_batch = n_ctx;
    s->n_ctx = n_ctx;
    s->n_batch = n_batch;
    const size_t P = (size_t)n_ctx, B = (size_t)n_batch, D = (size_t)hp->dim;
    const size_t Dq = (size_t)(hp->n_heads * hp->head_dim), Dkv = (size_t)(hp->n_kv_heads * hp->head_dim);
    const size_t half = (size_t)hp->n_rot / 2;
    uint64_t kv;
    if (gf_mul_overflow((uint64_t)hp->n_layers * P, Dkv, &kv) || kv > ((uint64_t)1 << 40))
        return gf_errf(err, GF_E_NOMEM, "%s: KV cache for %lld positions is too large", m->path, (long long)n_ctx);

    size_t work = 0;
    for (int64_t il = 0; il < hp->n_layers; il++)
        for (int l = 0; l < GF_LIN_COUNT; l++) {
            size_t w = gf_matmul_work_size(&m->layers[il].lin[l], n_batch);
            if (w > work) work = w;
        }
    size_t w = gf_matmul_work_size(&m->output, n_batch);
    if (w > work) work = w;

    s->k_cache = alloc_f(kv);
    s->v_cache = alloc_f(kv);
    s->rope_cos = alloc_f(P * half);
    s->rope_sin = alloc_f(P * half);
    s->x = alloc_f(B * D);
    s->xn = alloc_f(B * D);
    s->q = alloc_f(B * Dq);
    s->k = alloc_f(B * Dkv);
    s->v = alloc_f(B * Dkv);
    s->att = alloc_f(B * Dq);
    s->gate = alloc_f(B * (size_t)hp->n_ff);
    s->up = alloc_f(B * (size_t)hp->n_ff);
    s->y = alloc_f(B * D);
    s->scores = alloc_f((size_t)hp->n_heads * P);
    s->mm_work = aligned_alloc(64, (work + 64) & ~(size_t)63);
    if (!s->k_cache || !s->v_cache || !s->rope_cos || !s->rope_sin || !s->x || !s->xn || !s->q || !s->k || !s->v || !s->att ||
        !s->gate || !s->up || !s->y || !s->scores || !s->mm_work) {
        gf_state_free(s);
        return gf_errf(err, GF_E_NOMEM, "%s: out of memory for a context of %lld tokens", m->path,
                       (long long)n_ctx);
    }

    gf_rope_tables(s->rope_cos, s->rope_sin, (int64_t)P, hp);
    return GF_OK;
}

/* GGML's yarn correction dims: the pairs below dims[0] keep their angles, those past
 * dims[1] are interpolated, with a linear ramp between (ggml_rope_yarn_corr_dims, in
 * float as there, beta_fast 32 and beta_slow 1 as llama.cpp's defaults). */
static void yarn_corr_dims(int64_t n_rot, int64_t n_ctx_orig, float base, float dims[2]) {
    const float beta[2] = {32.0f, 1.0f};
    for (int j = 0; j < 2; j++) {
        float d = (float)n_rot * logf((float)n_ctx_orig / (beta[j] * 2 * (float)M_PI)) / (2 * logf(base));
        dims[j] = j == 0 ? floorf(d) : ceilf(d);
    }
    dims[0] = fmaxf(0.0f, dims[0]);
    dims[1] = fminf((float)(n_rot - 1), dims[1]);
}

void gf_rope_tables(float *cos_tab, float *sin_tab, int64_t n_pos, const gf_hparams *hp) {
    const int64_t n_rot = hp->n_rot, half = n_rot / 2;
    const float theta_scale = powf(hp->rope_base, -2.0f / (float)n_rot);
    const float *ff = hp->rope_freqs;
    const gf_rope_scaling *rs = &hp->rope_scaling;
    float freq_scale = 1.0f, mscale = 1.0f, dims[2] = {0, 0};
    int yarn = rs->kind == GF_ROPE_SCALING_YARN;
    if (rs->kind != GF_ROPE_SCALING_NONE) freq_scale = 1.0f / rs->factor, mscale = rs->attn_factor;
    if (yarn) {
        yarn_corr_dims(n_rot, rs->n_ctx_orig ? rs->n_ctx_orig : hp->n_ctx_train, hp->rope_base, dims);
        mscale *= 1.0f + 0.1f * logf(1.0f / freq_scale);
    }
    for (int64_t p = 0; p < n_pos; p++) {
        float theta = (float)p;
        for (int64_t i = 0; i < half; i++) {
            const float extrap = ff ? theta / ff[i] : theta;
            float t = freq_scale * extrap;
            if (yarn) { /* GGML's ramp: 1 for the fast pairs (original angle), 0 for the slow */
                const float y = ((float)i - dims[0]) / fmaxf(0.001f, dims[1] - dims[0]);
                const float mix = 1.0f - fminf(1.0f, fmaxf(0.0f, y));
                t = t * (1.0f - mix) + extrap * mix;
            }
            cos_tab[p * half + i] = cosf(t) * mscale;
            sin_tab[p * half + i] = sinf(t) * mscale;
            theta *= theta_scale;
        }
    }
}

void gf_state_free(gf_state *s) {
    if (!s) return;
    free(s->k_cache);
    free(s->v_cache);
    free(s->rope_cos);
    free(s->rope_sin);
    free(s->x);
    free(s->xn);
    free(s->q);
    free(s->k);
    free(s->v);
    free(s->att);
    free(s->gate);
    free(s->up);
    free(s->y);
    free(s->scores);
    free(s->mm_work);
    memset(s, 0, sizeof *s);
}

/* ---------------------------------------------------------------- layers */

void gf_rope_forward(float *x, int64_t n_tok, int64_t pos0, int64_t n_heads, int64_t head_dim, int64_t n_rot,
                     gf_rope_kind kind, const float *cos_tab, const float *sin_tab) {
    const int64_t half = n_rot / 2;
    for (int64_t t = 0; t < n_tok; t++) {
        const float *c = cos_tab + (pos0 + t) * half, *s = sin_tab + (pos0 + t) * half;
        for (int64_t h = 0; h < n_heads; h++) {
            float *v = x + (t * n_heads + h) * head_dim;
            for (int64_t i = 0; i < half; i++) {
                /* NORM pairs neighbours (2i, 2i+1); NEOX pairs halves (i, i+half) */
                const int64_t a = kind == GF_ROPE_NEOX ? i : 2 * i, b = kind == GF_ROPE_NEOX ? i + half : 2 * i + 1;
                const float x0 = v[a], x1 = v[b];
                v[a] = x0 * c[i] - x1 * s[i];
                v[b] = x0 * s[i] + x1 * c[i];
            }
        }
    }
}

static inline float round_half(float x) {
    const float a = fabsf(x);
    float r;
    if (a < 6.103515625e-05f) {
        /* half subnormals are multiples of 2^-24, the ulp of floats in [0.5, 1):
         * the float add rounds to nearest even, the subtraction is exact */
        r = (a + 0.5f) - 0.5f;
    } else if (a < 65504.0f) {
        /* keep 10 mantissa bits, ties to even; a carry into the exponent is right */
        uint32_t u;
        memcpy(&u, &a, 4);
        u += 0xfffu + ((u >> 13) & 1u);
        u &= ~0x1fffu;
        memcpy(&r, &u, 4);
    } else {
        return gf_fp16_to_fp32(gf_fp32_to_fp16(x)); /* overflow to inf, NaN */
    }
    return copysignf(r, x);
}

float gf_round_half(float x) { return round_half(x); }


void gf_attention_forward(float *out, const float *q, const float *k, const float *v, float *scores, int64_t n_tok,
                          int64_t pos0, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, int round_f16) {
    const int64_t Dq = n_heads * head_dim, Dkv = n_kv_heads * head_dim, group = n_heads / n_kv_heads;
    const int64_t P = pos0 + n_tok;
    const float scale = 1.0f / sqrtf((float)head_dim);
    /* Each head is computed start to finish by one thread in a fixed order. */
    #pragma omp parallel for schedule(static) if (n_heads > 1 && n_tok * P * head_dim >= 32768)
    for (int64_t h = 0; h < n_heads; h++) {
        const int64_t kh = h / group;
        float *sc = scores + h * P;
        float qh[GF_MAX_HEAD_DIM]; /* the loader caps head_dim */
        for (int64_t t = 0; t < n_tok; t++) {
            const float *qt = q + t * Dq + h * head_dim;
            for (int64_t i = 0; i < head_dim; i++) qh[i] = round_f16 ? round_half(qt[i]) : qt[i];
            const int64_t n_kv = pos0 + t + 1; /* causal: positions 0 .. pos0+t */
            float mx = -INFINITY;
            for (int64_t j = 0; j < n_kv; j++) {
                sc[j] = dot8(qh, k + j * Dkv + kh * head_dim, head_dim) * scale;
                if (sc[j] > mx) mx = sc[j];
            }
            double sum = 0.0;
            for (int64_t j = 0; j < n_kv; j++) {
                sc[j] = expf(sc[j] - mx);
                sum += sc[j];
            }
            const float inv = (float)(1.0 / sum);
            /* a local accumulator: nothing can alias it, so the loop vectorizes */
            float acc[GF_MAX_HEAD_DIM];
            for (int64_t i = 0; i < head_dim; i++) acc[i] = 0.0f;
            for (int64_t j = 0; j < n_kv; j++) {
                const float p = round_f16 ? round_half(sc[j] * inv) : sc[j] * inv;
                const float *vj = v + j * Dkv + kh * head_dim;
                axpy8(acc, p, vj, head_dim);
            }
            memcpy(out + t * Dq + h * head_dim, acc, (size_t)head_dim * sizeof(float));
        }
    }
}

void gf_swiglu_forward(float *out, const float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

gf_status gf_linear_forward(float *y, const gf_wmat *W, const float *bias, const float *x, int64_t n_tok, void *work,
                            gf_err *err) {
    gf_status rc = gf_matmul_work(W, x, y, n_tok, work);
    GF_FAIL_IF(rc, err, rc, "matmul of a %lld x %lld %s matrix: out of memory for its scratch", (long long)W->n_out,
               (long long)W->n_in, gf_type_name(W->type));
    if (bias)
        for (int64_t t = 0; t < n_tok; t++)
            for (int64_t o = 0; o < W->n_out; o++) y[t * W->n_out + o] += bias[o];
    return GF_OK;
}

/* ---------------------------------------------------------------- block */

void gf_qk_norm_forward(const gf_hparams *hp, const float *const norm[GF_NORM_COUNT], float *q, float *k,
                        int64_t n_tok) {
    const gf_norm_kind kind = gf_arch_get(hp->arch)->norm;
    if (norm[GF_NORM_Q]) gf_norm_forward(kind, q, q, norm[GF_NORM_Q], n_tok * hp->n_heads, hp->head_dim, hp->rms_eps);
    if (norm[GF_NORM_K])
        gf_norm_forward(kind, k, k, norm[GF_NORM_K], n_tok * hp->n_kv_heads, hp->head_dim, hp->rms_eps);
}

static void hook(const gf_hooks *hk, int layer, const char *name, const float *x, int64_t n_tok, int64_t n_in) {
    if (hk && hk->on_linear_input) hk->on_linear_input(hk->ctx, layer, name, x, n_tok, n_in);
}

gf_status gf_block_forward(const gf_model *m, int layer, float *x, int64_t n_tok, int64_t pos0, gf_state *s,
                           const gf_hooks *hooks, gf_err *err) {
    const gf_hparams *hp = &m->hp;
    if (layer < 0 || layer >= hp->n_layers)
        return gf_errf(err, GF_E_USAGE, "%s: layer %d does not exist (%lld layers)", m->path, layer,
                       (long long)hp->n_layers);
    if (n_tok < 1 || n_tok > s->n_batch || pos0 < 0 || pos0 + n_tok > s->n_ctx)
        return gf_errf(err, GF_E_USAGE, "%s: %lld tokens at position %lld do not fit a batch of %lld and a "
                       "context of %lld", m->path, (long long)n_tok, (long long)pos0, (long long)s->n_batch,
                       (long long)s->n_ctx);
    const gf_layer *ly = &m->layers[layer];
    const int64_t D = hp->dim, Dq = hp->n_heads * hp->head_dim, Dkv = hp->n_kv_heads * hp->head_dim;
    const size_t cache_off = (size_t)layer * (size_t)s->n_ctx * (size_t)Dkv + (size_t)pos0 * (size_t)Dkv;

    /* attention */
    gf_norm_forward(gf_arch_get(hp->arch)->norm, s->xn, x, ly->norm[GF_NORM_ATTN], n_tok, D, hp->rms_eps);
    for (int l = GF_LIN_Q; l <= GF_LIN_V; l++) hook(hooks, layer, ly->name[l], s->xn, n_tok, D);
    GF_TRY(gf_linear_forward(s->q, &ly->lin[GF_LIN_Q], ly->bias[GF_LIN_Q], s->xn, n_tok, s->mm_work, err));
    GF_TRY(gf_linear_forward(s->k, &ly->lin[GF_LIN_K], ly->bias[GF_LIN_K], s->xn, n_tok, s->mm_work, err));
    GF_TRY(gf_linear_forward(s->v, &ly->lin[GF_LIN_V], ly->bias[GF_LIN_V], s->xn, n_tok, s->mm_work, err));
    gf_qk_norm_forward(hp, ly->norm, s->q, s->k, n_tok);
    gf_rope_forward(s->q, n_tok, pos0, hp->n_heads, hp->head_dim, hp->n_rot, hp->rope, s->rope_cos, s->rope_sin);
    gf_rope_forward(s->k, n_tok, pos0, hp->n_kv_heads, hp->head_dim, hp->n_rot, hp->rope, s->rope_cos, s->rope_sin);
    const int64_t n_new = n_tok * Dkv;
    float *kc = s->k_cache + cache_off, *vc = s->v_cache + cache_off;
    const int f16 = s->kv_type == GF_TYPE_F16;
    for (int64_t i = 0; i < n_new; i++) {
        kc[i] = f16 ? round_half(s->k[i]) : s->k[i];
        vc[i] = f16 ? round_half(s->v[i]) : s->v[i];
    }
    const size_t layer_off = cache_off - (size_t)pos0 * (size_t)Dkv;
    gf_attention_forward(s->att, s->q, s->k_cache + layer_off, s->v_cache + layer_off, s->scores, n_tok, pos0,
                         hp->n_heads, hp->n_kv_heads, hp->head_dim, f16);
    hook(hooks, layer, ly->name[GF_LIN_O], s->att, n_tok, Dq);
    GF_TRY(gf_linear_forward(s->y, &ly->lin[GF_LIN_O], ly->bias[GF_LIN_O], s->att, n_tok, s->mm_work, err));
    for (int64_t i = 0; i < n_tok * D; i++) x[i] += s->y[i];

    /* feed-forward */
    gf_norm_forward(gf_arch_get(hp->arch)->norm, s->xn, x, ly->norm[GF_NORM_FFN], n_tok, D, hp->rms_eps);
    hook(hooks, layer, ly->name[GF_LIN_GATE], s->xn, n_tok, D);
    hook(hooks, layer, ly->name[GF_LIN_UP], s->xn, n_tok, D);
    GF_TRY(gf_linear_forward(s->gate, &ly->lin[GF_LIN_GATE], ly->bias[GF_LIN_GATE], s->xn, n_tok, s->mm_work, err));
    GF_TRY(gf_linear_forward(s->up, &ly->lin[GF_LIN_UP], ly->bias[GF_LIN_UP], s->xn, n_tok, s->mm_work, err));
    gf_swiglu_forward(s->gate, s->gate, s->up, n_tok * hp->n_ff);
    hook(hooks, layer, ly->name[GF_LIN_DOWN], s->gate, n_tok, hp->n_ff);
    GF_TRY(gf_linear_forward(s->y, &ly->lin[GF_LIN_DOWN], ly->bias[GF_LIN_DOWN], s->gate, n_tok, s->mm_work, err));
    for (int64_t i = 0; i < n_tok * D; i++) x[i] += s->y[i];
    return GF_OK;
}

/* ---------------------------------------------------------------- model */

gf_status gf_output_forward(const gf_model *m, const float *x, int64_t n_tok, float *logits, gf_state *s,
                            const gf_hooks *hooks, gf_err *err) {
    const int64_t D = m->hp.dim;
    for (int64_t t0 = 0; t0 < n_tok; t0 += s->n_batch) {
        const int64_t nt = n_tok - t0 < s->n_batch ? n_tok - t0 : s->n_batch;
        gf_norm_forward(gf_arch_get(m->hp.arch)->norm, s->xn, x + t0 * D, m->output_norm, nt, D, m->hp.rms_eps);
        hook(hooks, -1, m->output_name, s->xn, nt, D);
        GF_TRY(gf_linear_forward(logits + t0 * m->hp.n_vocab, &m->output, NULL, s->xn, nt, s->mm_work, err));
    }
    return GF_OK;
}

gf_status gf_forward(const gf_model *m, gf_state *s, const int32_t *tokens, int64_t n_tok, int64_t pos0,
                     int64_t out_from, float *logits, const gf_hooks *hooks, gf_err *err) {
    const int64_t D = m->hp.dim;
    if (n_tok < 0 || out_from < 0 || out_from > n_tok || pos0 < 0 || pos0 + n_tok > s->n_ctx)
        return gf_errf(err, GF_E_USAGE, "%s: %lld tokens at position %lld do not fit a context of %lld",
                       m->path, (long long)n_tok, (long long)pos0, (long long)s->n_ctx);
    gf_status st;
    for (int64_t b0 = 0; b0 < n_tok; b0 += s->n_batch) {
        const int64_t nt = n_tok - b0 < s->n_batch ? n_tok - b0 : s->n_batch;
        if ((st = gf_model_embed(m, tokens + b0, nt, s->x, err))) return st;
        for (int il = 0; il < m->hp.n_layers; il++)
            if ((st = gf_block_forward(m, il, s->x, nt, pos0 + b0, s, hooks, err))) return st;
        /* logits only for the rows asked for */
        const int64_t first = out_from > b0 ? out_from - b0 : 0;
        if (first < nt)
            GF_TRY(gf_output_forward(m, s->x + first * D, nt - first, logits + (b0 + first - out_from) * m->hp.n_vocab,
                                     s, hooks, err));
    }
    return GF_OK;
}
