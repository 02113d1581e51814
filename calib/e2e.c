/*
 * e2e.c - end-to-end tuning of the block scales of a quantized model (e2e.h).
 *
 * One evaluation runs every sample on its own through the quantized model in
 * float: embedding rows, the blocks (gf_block_forward_train, one tape per
 * layer), the final norm and the output head; the loss is the mean over all
 * positions of KL(base || quantized), and its gradient goes back through the
 * head, the final norm and the blocks (gf_block_backward).  A block matrix's
 * dL/dW is folded into its scales right after that layer's backward
 * (dL/dd_b = Σ_j q_j dL/dW_j over block b), so one layer's weight gradients are
 * held at a time.  With opts.head the head's dL/dW is folded into its scales
 * too, after the lookup's gradient is added to the rows of a tied embedding.
 * Every sum has a fixed order: per token, per block, samples in order.  The
 * scales used are the fp16 values the file will hold; Adam keeps log d in double.
 */
#include "e2e.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/backward.h"
#include "../engine/tokenizer.h"

#define PAR_MIN 65536
#define ADAM_B1 0.9
#define ADAM_B2 0.999

typedef struct {
    int layer;               /* -1: the output head (with a tied embedding, the embedding too) */
    gf_linear lin;
    gf_type type;
    int64_t n_out, n_in, nb; /* nb blocks of GF_QK                        */
    int8_t *q;               /* (n_out * n_in) codes                       */
    uint16_t *h;             /* (nb) the scales in use, fp16               */
    uint16_t *best;          /* (nb) the best evaluation's                 */
    float *d0;               /* (nb) the file's scales                     */
    double *u, *m, *v;       /* (nb) log(d / d0) and Adam's moments, one per
                                block (per_row: the first n_out, one per row) */
    double *g;               /* (nb) dL/dd of the last gradient            */
} e2e_mat;

struct gf_e2e {
    const gf_model *q;
    gf_hparams hp;
    int64_t S, NV, T, D, V, L; /* training and validation samples, tokens each */
    int32_t *tokens;         /* (S + NV, T): training samples, then validation */
    float *teacher;          /* (S + NV, T, V) the base model's log-probabilities */
    float **w;               /* (L * GF_LIN_COUNT) float weights            */
    e2e_mat *mats;
    int64_t n_mats, n_fixed;
    e2e_mat **of;            /* (L * GF_LIN_COUNT) the tuned matrix, or NULL */
    float *head;             /* (V, D)                                      */
    e2e_mat *hm;             /* the head's scales when tuned, or NULL        */
    float *G_head;           /* (V, D) its dL/dW                            */
    gf_block_tape *tapes;    /* (L)                                         */
    float *xa, *xb, *xn, *dxa, *dxb, *dxn; /* (T, D)                        */
    float *logits;           /* (T, V), then dL/dlogits                     */
    double *tok_kl;          /* (T)                                         */
    float *G[GF_LIN_COUNT];  /* one layer's dL/dW of the tuned matrices      */
    gf_e2e_opts o;
    gf_e2e_result r;
};

/* ---------------------------------------------------------------- set-up */

static gf_status same_shape(const gf_model *q, const gf_model *b, gf_err *err) {
    const gf_hparams *x = &q->hp, *y = &b->hp;
    const struct { const char *what; int64_t a, b; } c[] = {
        {"architecture", x->arch, y->arch},   {"embedding length", x->dim, y->dim},
        {"block count", x->n_layers, y->n_layers}, {"feed-forward length", x->n_ff, y->n_ff},
        {"head count", x->n_heads, y->n_heads}, {"key/value head count", x->n_kv_heads, y->n_kv_heads},
        {"head size", x->head_dim, y->head_dim}, {"vocabulary", x->n_vocab, y->n_vocab},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        GF_FAIL_IF(c[i].a != c[i].b, err, GF_E_VALUE, "%s and its base %s differ in %s: %lld against %lld", q->path,
                   b->path, c[i].what, (long long)c[i].a, (long long)c[i].b);
    return GF_OK;
}

/* W (n_out, n_in) as floats: the file's type dequantized (an F32 copy the loader made is read as it is) */
static gf_status mat_floats(const gf_wmat *W, const char *name, float *out, gf_err *err) {
    return gf_dequantize_checked(W->type, W->data, out, W->n_out * W->n_in, name, err);
}

/* codes q = x / d of every block of W (one-scale type), the scales as the file has them */
static gf_status mat_split(e2e_mat *mt, const gf_wmat *W, const float *x, const char *name, gf_err *err) {
    const size_t bs = gf_type_info(W->type)->type_size;
    mt->nb = W->n_out * W->n_in / GF_QK;
    mt->q = malloc((size_t)(W->n_out * W->n_in));
    mt->h = malloc((size_t)mt->nb * sizeof *mt->h);
    mt->best = malloc((size_t)mt->nb * sizeof *mt->best);
    mt->d0 = malloc((size_t)mt->nb * sizeof *mt->d0);
    mt->u = calloc((size_t)mt->nb, 4 * sizeof(double));
    GF_FAIL_IF(!mt->q || !mt->h || !mt->best || !mt->d0 || !mt->u, err, GF_E_NOMEM, "tune: out of memory for %s",
               name);
    mt->m = mt->u + mt->nb, mt->v = mt->m + mt->nb, mt->g = mt->v + mt->nb;
    const uint8_t *blk = W->data;
    for (int64_t b = 0; b < mt->nb; b++) {
        memcpy(&mt->h[b], blk + (size_t)b * bs, 2);
        const float d = gf_fp16_to_fp32(mt->h[b]);
        mt->d0[b] = d;
        for (int j = 0; j < GF_QK; j++) {
            const float v = x[b * GF_QK + j];
            const float r = d != 0.0f ? rintf(v / d) : 0.0f;
            GF_FAIL_IF(fabsf(r) > 127.0f || r * d != v, err, GF_E_FORMAT,
                       "%s: block %lld element %d is not an integer times its scale", name, (long long)b, j);
            mt->q[b * GF_QK + j] = (int8_t)r;
        }
    }
    memcpy(mt->best, mt->h, (size_t)mt->nb * sizeof *mt->h);
    return GF_OK;
}

/* w = q * d for the scales in use */
static void mat_rebuild(const e2e_mat *mt, float *w) {
    #pragma omp parallel for schedule(static) if (mt->nb * GF_QK >= PAR_MIN)
    for (int64_t b = 0; b < mt->nb; b++) {
        const float d = gf_fp16_to_fp32(mt->h[b]);
        for (int j = 0; j < GF_QK; j++) w[b * GF_QK + j] = (float)mt->q[b * GF_QK + j] * d;
    }
}

static const char *mat_name(const gf_e2e *t, const e2e_mat *mt) {
    return mt->layer < 0 ? t->q->output_name : t->q->layers[mt->layer].name[mt->lin];
}

static float *mat_weights(const gf_e2e *t, const e2e_mat *mt) {
    return mt->layer < 0 ? t->head : t->w[mt->layer * GF_LIN_COUNT + mt->lin];
}

/* the matrix's codes and scales, and what it adds to the counts */
static gf_status mat_add(gf_e2e *t, e2e_mat *mt, const gf_wmat *W, const float *w, const char *name, gf_err *err) {
    GF_TRY(mat_split(mt, W, w, name, err));
    t->r.bytes += (size_t)(W->n_out * W->n_in) + (size_t)mt->nb * (3 * 2 + 4 + 4 * 8);
    const int64_t per = t->o.per_row ? W->n_in / GF_QK : 1;
    for (int64_t j = 0; j < mt->nb / per; j++) {
        int64_t live = 0;
        for (int64_t b = j * per; b < (j + 1) * per; b++) live += mt->d0[b] != 0.0f;
        t->r.n_scales += live, t->r.n_params += live > 0;
    }
    return GF_OK;
}

static gf_status load_weights(gf_e2e *t, gf_err *err) {
    const gf_model *q = t->q;
    int64_t n_tuned = 0;
    for (int64_t l = 0; l < t->L; l++)
        for (int i = 0; i < GF_LIN_COUNT; i++) n_tuned += gf_type_info(q->layers[l].lin[i].type)->one_scale;
    GF_FAIL_IF(!n_tuned, err, GF_E_VALUE, "tune: %s has no block matrix of a type with one scale per block (q4_0, q8_0)",
               q->path);
    const int head = t->o.head && gf_type_info(q->output.type)->one_scale;
    t->mats = calloc((size_t)(n_tuned + head), sizeof *t->mats);
    t->w = calloc((size_t)(t->L * GF_LIN_COUNT), sizeof *t->w);
    t->of = calloc((size_t)(t->L * GF_LIN_COUNT), sizeof *t->of);
    GF_FAIL_IF(!t->mats || !t->w || !t->of, err, GF_E_NOMEM, "tune: out of memory");
    for (int64_t l = 0; l < t->L; l++)
        for (int i = 0; i < GF_LIN_COUNT; i++) {
            const gf_wmat *W = &q->layers[l].lin[i];
            const char *name = q->layers[l].name[i];
            float *w = t->w[l * GF_LIN_COUNT + i] = malloc((size_t)(W->n_out * W->n_in) * sizeof(float));
            GF_FAIL_IF(!w, err, GF_E_NOMEM, "tune: out of memory for %s", name);
            GF_TRY(mat_floats(W, name, w, err));
            t->r.bytes += (size_t)(W->n_out * W->n_in) * sizeof(float);
            if (!gf_type_info(W->type)->one_scale) {
                t->n_fixed++;
                continue;
            }
            e2e_mat *mt = &t->mats[t->n_mats++];
            *mt = (e2e_mat){.layer = (int)l, .lin = (gf_linear)i, .type = W->type, .n_out = W->n_out, .n_in = W->n_in};
            t->of[l * GF_LIN_COUNT + i] = mt;
            GF_TRY(mat_add(t, mt, W, w, name, err));
        }
    t->head = malloc((size_t)(t->V * t->D) * sizeof *t->head);
    GF_FAIL_IF(!t->head, err, GF_E_NOMEM, "tune: out of memory for the output head");
    t->r.bytes += (size_t)(t->V * t->D) * sizeof *t->head;
    GF_TRY(mat_floats(&q->output, q->output_name, t->head, err));
    if (!head) return GF_OK;
    t->hm = &t->mats[t->n_mats++];
    *t->hm = (e2e_mat){.layer = -1, .type = q->output.type, .n_out = q->output.n_out, .n_in = q->output.n_in};
    t->G_head = malloc((size_t)(t->V * t->D) * sizeof *t->G_head);
    GF_FAIL_IF(!t->G_head, err, GF_E_NOMEM, "tune: out of memory for the output head's gradient");
    t->r.bytes += (size_t)(t->V * t->D) * sizeof *t->G_head;
    return mat_add(t, t->hm, &q->output, t->head, q->output_name, err);
}

/* log Σ exp z over V logits, in double around their maximum */
static double log_sum_exp(const float *z, int64_t V) {
    float mx = z[0];
    for (int64_t v = 1; v < V; v++) mx = z[v] > mx ? z[v] : mx;
    double sum = 0;
    for (int64_t v = 0; v < V; v++) sum += exp((double)(z[v] - mx));
    return (double)mx + log(sum);
}

/* the base model's log-probabilities at every position of every sample */
static gf_status teacher(gf_e2e *t, const gf_model *base, gf_err *err) {
    gf_state s;
    GF_TRY(gf_state_init(&s, base, t->T, t->T, GF_TYPE_F32, err));
    gf_status rc = GF_OK;
    const int64_t T = t->T, V = t->V;
    for (int64_t i = 0; i < t->S + t->NV && !rc; i++) {
        float *lp = t->teacher + i * T * V;
        if ((rc = gf_forward(base, &s, t->tokens + i * T, T, 0, 0, lp, NULL, err))) break;
        #pragma omp parallel for schedule(static)
        for (int64_t p = 0; p < T; p++) {
            float *z = lp + p * V;
            const double lse = log_sum_exp(z, V);
            for (int64_t v = 0; v < V; v++) z[v] = (float)((double)z[v] - lse);
        }
    }
    gf_state_free(&s);
    return rc;
}

static gf_status alloc_work(gf_e2e *t, gf_err *err) {
    const int64_t T = t->T, D = t->D;
    t->tapes = calloc((size_t)t->L, sizeof *t->tapes);
    GF_FAIL_IF(!t->tapes, err, GF_E_NOMEM, "tune: out of memory");
    for (int64_t l = 0; l < t->L; l++) {
        GF_TRY(gf_block_tape_init(&t->tapes[l], &t->hp, 1, T, err));
        t->r.bytes += gf_block_tape_bytes(&t->hp, 1, T);
    }
    float **bufs[] = {&t->xa, &t->xb, &t->xn, &t->dxa, &t->dxb, &t->dxn};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        *bufs[i] = malloc((size_t)(T * D) * sizeof(float));
        GF_FAIL_IF(!*bufs[i], err, GF_E_NOMEM, "tune: out of memory");
    }
    t->logits = malloc((size_t)(T * t->V) * sizeof *t->logits);
    t->tok_kl = malloc((size_t)T * sizeof *t->tok_kl);
    GF_FAIL_IF(!t->logits || !t->tok_kl, err, GF_E_NOMEM, "tune: out of memory for the logits");
    for (int i = 0; i < GF_LIN_COUNT; i++) {
        int64_t n_out, n_in;
        gf_block_linear_shape(&t->hp, (gf_linear)i, &n_out, &n_in);
        t->G[i] = malloc((size_t)(n_out * n_in) * sizeof(float));
        GF_FAIL_IF(!t->G[i], err, GF_E_NOMEM, "tune: out of memory for the weight gradients");
    }
    return GF_OK;
}

gf_status gf_e2e_open(gf_e2e **out, const gf_model *q, const gf_model *base, const struct gf_tokenizer *tok,
                      const gf_e2e_opts *o, gf_err *err) {
    *out = NULL;
    GF_TRY(same_shape(q, base, err));
    GF_FAIL_IF(o->seqlen < 2 || o->seqlen > (1 << 16) || o->nsamples < 1 || o->nsamples > (1 << 16) || o->nval < 0 ||
                   o->nval > (1 << 16) || o->steps < 0,
               err, GF_E_USAGE, "tune: seqlen %lld, nsamples %lld, nval %lld or steps %d out of range",
               (long long)o->seqlen, (long long)o->nsamples, (long long)o->nval, o->steps);
    gf_e2e *t = calloc(1, sizeof *t);
    GF_FAIL_IF(!t, err, GF_E_NOMEM, "out of memory");
    gf_status rc = GF_OK;
    t->q = q, t->hp = q->hp, t->o = *o;
    t->D = q->hp.dim, t->V = q->hp.n_vocab, t->L = q->hp.n_layers, t->T = o->seqlen;
    size_t len = o->text_len;
    const char *text = o->text ? o->text : gf_calib_default_text(&len);
    const gf_calib_opts co = {.nsamples = o->nsamples + o->nval, .seqlen = o->seqlen, .seed = o->seed};
    const char *name = o->name ? o->name : "calibration text";
    int64_t n_text = 0, n = 0;
    GF_TRY_GOTO(gf_calib_draw(tok, name, text, len, &co, &t->tokens, &n, &n_text, err));
    GF_FAIL_GOTO_IF(o->nval && n < o->nsamples + 1, err, GF_E_VALUE,
                    "tune: %s has %lld windows of %lld tokens: none left for validation after %lld samples", name,
                    (long long)n, (long long)o->seqlen, (long long)o->nsamples);
    t->S = n < o->nsamples ? n : o->nsamples, t->NV = n - t->S;
    for (int64_t i = 0; i < n * t->T; i++)
        GF_FAIL_GOTO_IF(t->tokens[i] < 0 || t->tokens[i] >= t->V, err, GF_E_VALUE,
                        "tune: token id %d is outside %s's vocabulary of %lld", t->tokens[i], q->path, (long long)t->V);
    GF_TRY_GOTO(load_weights(t, err));
    t->teacher = malloc((size_t)(n * t->T * t->V) * sizeof *t->teacher);
    GF_FAIL_GOTO_IF(!t->teacher, err, GF_E_NOMEM, "tune: out of memory for the base model's %lld x %lld x %lld "
                    "log-probabilities", (long long)n, (long long)t->T, (long long)t->V);
    t->r.bytes += (size_t)(n * t->T * t->V) * sizeof *t->teacher;
    GF_TRY_GOTO(alloc_work(t, err));
    const double t0 = gf_time_now();
    GF_TRY_GOTO(teacher(t, base, err));
    t->r.seconds_teacher = gf_time_now() - t0;
    t->r.n_matrices = t->n_mats, t->r.n_fixed = t->n_fixed, t->r.n_samples = t->S, t->r.n_val = t->NV;
    t->r.seqlen = t->T;
    *out = t;
    return GF_OK;
done:
    gf_e2e_free(t);
    return rc;
}

void gf_e2e_free(gf_e2e *t) {
    if (!t) return;
    for (int64_t i = 0; i < t->n_mats; i++) {
        e2e_mat *mt = &t->mats[i];
        free(mt->q), free(mt->h), free(mt->best), free(mt->d0), free(mt->u);
    }
    free(t->mats);
    if (t->w)
        for (int64_t i = 0; i < t->L * GF_LIN_COUNT; i++) free(t->w[i]);
    free(t->w), free(t->of), free(t->head), free(t->G_head);
    if (t->tapes)
        for (int64_t l = 0; l < t->L; l++) gf_block_tape_free(&t->tapes[l]);
    free(t->tapes);
    free(t->xa), free(t->xb), free(t->xn), free(t->dxa), free(t->dxb), free(t->dxn);
    free(t->logits), free(t->tok_kl), free(t->tokens), free(t->teacher);
    for (int i = 0; i < GF_LIN_COUNT; i++) free(t->G[i]);
    free(t);
}

/* ---------------------------------------------------------------- loss */

static gf_block_weights layer_weights(const gf_e2e *t, int64_t l) {
    gf_block_weights bw;
    const gf_layer *ly = &t->q->layers[l];
    for (int i = 0; i < GF_LIN_COUNT; i++) bw.w[i] = t->w[l * GF_LIN_COUNT + i], bw.bias[i] = ly->bias[i];
    for (int i = 0; i < GF_NORM_COUNT; i++) bw.norm[i] = ly->norm[i];
    return bw;
}

/* KL(teacher || softmax(z)) of each position into tok_kl; z becomes dL/dz with
 * L the mean over positions and samples (scale = 1 / (S T)) */
static void kl_grad(const float *lp, float *z, double *tok_kl, int64_t T, int64_t V, double scale) {
    #pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < T; p++) {
        float *zp = z + p * V;
        const float *lt = lp + p * V;
        const double lse = log_sum_exp(zp, V);
        double kl = 0;
        for (int64_t v = 0; v < V; v++) {
            const double lq = (double)zp[v] - lse, pt = exp((double)lt[v]);
            kl += pt * ((double)lt[v] - lq);
            zp[v] = (float)((exp(lq) - pt) * scale);
        }
        tok_kl[p] = kl;
    }
}

/* dL/dd of matrix mt += Σ q dL/dW over each block */
static void fold_grad(e2e_mat *mt, const float *G) {
    #pragma omp parallel for schedule(static) if (mt->nb * GF_QK >= PAR_MIN)
    for (int64_t b = 0; b < mt->nb; b++) {
        double s = 0;
        for (int j = 0; j < GF_QK; j++) s += (double)mt->q[b * GF_QK + j] * (double)G[b * GF_QK + j];
        mt->g[b] += s;
    }
}

/* sample i forward; with grad, its backward folded into the scales' gradients */
static gf_status sample_pass(gf_e2e *t, int64_t i, int grad, double *kl, gf_err *err) {
    const int64_t T = t->T, D = t->D, V = t->V;
    const int32_t *tok = t->tokens + i * T;
    const size_t row = t->q->embd_row_bytes;
    const int tied_tuned = t->hm && t->q->tied_output; /* the lookup reads the head's rows as tuned */
    for (int64_t p = 0; p < T; p++)
        if (tied_tuned) memcpy(t->xa + p * D, t->head + (size_t)tok[p] * (size_t)D, (size_t)D * sizeof(float));
        else GF_TRY(gf_dequantize_checked(t->q->embd_type, (const uint8_t *)t->q->embd + (size_t)tok[p] * row,
                                          t->xa + p * D, D, t->q->top_name[GF_TOP_EMBD], err));
    float *x = t->xa, *y = t->xb;
    for (int64_t l = 0; l < t->L; l++) {
        const gf_block_weights bw = layer_weights(t, l);
        if (gf_block_forward_train(&t->hp, &bw, x, y, &t->tapes[l])) goto nomem;
        float *s = x; x = y, y = s;
    }
    const gf_norm_kind nk = gf_arch_get(t->hp.arch)->norm;
    gf_norm_forward(nk, t->xn, x, t->q->output_norm, T, D, t->hp.rms_eps);
    if (gf_linear_forward_f32(t->logits, t->head, NULL, t->xn, T, D, V)) goto nomem;
    kl_grad(t->teacher + i * T * V, t->logits, t->tok_kl, T, V, 1.0 / (double)(t->S * T));
    for (int64_t p = 0; p < T; p++) *kl += t->tok_kl[p];
    if (!grad) return GF_OK;
    if (t->hm) memset(t->G_head, 0, (size_t)(V * D) * sizeof(float));
    if (gf_linear_backward(t->dxn, t->hm ? t->G_head : NULL, t->logits, t->xn, t->head, T, D, V, 0)) goto nomem;
    memset(t->dxa, 0, (size_t)(T * D) * sizeof(float));
    gf_norm_backward(nk, t->dxa, t->dxn, x, t->q->output_norm, T, D, t->hp.rms_eps);
    float *dy = t->dxa, *dx = t->dxb;
    for (int64_t l = t->L - 1; l >= 0; l--) {
        const gf_block_weights bw = layer_weights(t, l);
        float *dW[GF_LIN_COUNT];
        for (int j = 0; j < GF_LIN_COUNT; j++) {
            const e2e_mat *mt = t->of[l * GF_LIN_COUNT + j];
            dW[j] = mt ? t->G[j] : NULL;
            if (mt) memset(t->G[j], 0, (size_t)(mt->n_out * mt->n_in) * sizeof(float));
        }
        if (gf_block_backward(&t->hp, &bw, dy, dW, l > 0 || tied_tuned ? dx : NULL, &t->tapes[l])) goto nomem;
        for (int j = 0; j < GF_LIN_COUNT; j++)
            if (t->of[l * GF_LIN_COUNT + j]) fold_grad(t->of[l * GF_LIN_COUNT + j], t->G[j]);
        float *s = dy; dy = dx, dx = s;
    }
    if (tied_tuned) /* dL/dx of the first block's input, onto the embedding rows looked up, in token order */
        for (int64_t p = 0; p < T; p++) {
            float *g = t->G_head + (size_t)tok[p] * (size_t)D;
            for (int64_t c = 0; c < D; c++) g[c] += dy[p * D + c];
        }
    if (t->hm) fold_grad(t->hm, t->G_head);
    return GF_OK;
nomem:
    return gf_errf(err, GF_E_NOMEM, "tune: out of memory for a product's scratch");
}

void gf_e2e_sync(gf_e2e *t, int64_t i) {
    const e2e_mat *mt = &t->mats[i];
    mat_rebuild(mt, mat_weights(t, mt));
}

gf_status gf_e2e_val_loss(gf_e2e *t, double *loss, gf_err *err) {
    double kl = 0;
    for (int64_t i = t->S; i < t->S + t->NV; i++) GF_TRY(sample_pass(t, i, 0, &kl, err));
    *loss = t->NV ? kl / (double)(t->NV * t->T) : NAN;
    return GF_OK;
}

gf_status gf_e2e_loss(gf_e2e *t, int grad, double *loss, gf_err *err) {
    if (grad)
        for (int64_t i = 0; i < t->n_mats; i++) memset(t->mats[i].g, 0, (size_t)t->mats[i].nb * sizeof(double));
    double kl = 0;
    for (int64_t i = 0; i < t->S; i++) GF_TRY(sample_pass(t, i, grad, &kl, err));
    *loss = kl / (double)(t->S * t->T);
    return GF_OK;
}

/* ---------------------------------------------------------------- steps */

/* one Adam step on log d of every scale (k: the step's number from 1); with
 * per_row every block of a row shares one factor e^u on its file scale */
static void adam_step(gf_e2e *t, int k) {
    const double c1 = 1.0 - pow(ADAM_B1, k), c2 = 1.0 - pow(ADAM_B2, k), lr = t->o.lr;
    for (int64_t i = 0; i < t->n_mats; i++) {
        e2e_mat *mt = &t->mats[i];
        const int64_t per = t->o.per_row ? mt->n_in / GF_QK : 1, ng = mt->nb / per;
        #pragma omp parallel for schedule(static) if (mt->nb >= PAR_MIN / GF_QK)
        for (int64_t j = 0; j < ng; j++) {
            double gu = 0; /* dL/du, d = d0 e^u */
            for (int64_t b = j * per; b < (j + 1) * per; b++) gu += mt->g[b] * (double)gf_fp16_to_fp32(mt->h[b]);
            mt->m[j] = ADAM_B1 * mt->m[j] + (1 - ADAM_B1) * gu;
            mt->v[j] = ADAM_B2 * mt->v[j] + (1 - ADAM_B2) * gu * gu;
            const double vh = mt->v[j] / c2;
            if (vh > 0) mt->u[j] -= lr * (mt->m[j] / c1) / sqrt(vh);
            for (int64_t b = j * per; b < (j + 1) * per; b++) {
                if (mt->d0[b] == 0.0f) continue;
                const uint16_t h = gf_fp32_to_fp16((float)((double)mt->d0[b] * exp(mt->u[j])));
                if (isfinite(gf_fp16_to_fp32(h))) mt->h[b] = h;
            }
        }
        gf_e2e_sync(t, i);
    }
}

gf_status gf_e2e_run(gf_e2e *t, gf_e2e_result *r, gf_err *err) {
    const int steps = t->o.steps;
    for (int k = 0; k <= steps; k++) {
        double loss, val;
        GF_TRY(gf_e2e_loss(t, k < steps, &loss, err));
        GF_TRY(gf_e2e_val_loss(t, &val, err));
        const int best = k == 0 || (t->NV ? val < t->r.val_best : loss < t->r.loss_best);
        if (k == 0) t->r.loss_start = loss, t->r.val_start = val;
        if (best) {
            t->r.loss_best = loss, t->r.val_best = val, t->r.best_step = k;
            for (int64_t i = 0; i < t->n_mats; i++)
                memcpy(t->mats[i].best, t->mats[i].h, (size_t)t->mats[i].nb * sizeof(uint16_t));
        }
        if (t->o.progress) t->o.progress(t->o.ctx, k, steps, loss, val, best);
        if (k < steps) adam_step(t, k + 1);
    }
    *r = t->r;
    return GF_OK;
}

/* ---------------------------------------------------------------- write */

static int by_offset(const void *a, const void *b) {
    const uint64_t x = (*(const gf_gguf_tensor *const *)a)->offset, y = (*(const gf_gguf_tensor *const *)b)->offset;
    return x < y ? -1 : x > y;
}

gf_status gf_e2e_write(const gf_e2e *t, const gf_gguf *g, const void *file, size_t n, const gf_sink *sink,
                       gf_err *err) {
    gf_status rc = GF_OK;
    const gf_gguf_tensor **ts = calloc((size_t)t->n_mats, sizeof *ts);
    const e2e_mat **ms = calloc((size_t)t->n_mats, sizeof *ms);
    uint8_t *buf = NULL;
    GF_FAIL_GOTO_IF(!ts || !ms, err, GF_E_NOMEM, "out of memory");
    for (int64_t i = 0; i < t->n_mats; i++) {
        const e2e_mat *mt = &t->mats[i];
        const char *name = mat_name(t, mt);
        const int64_t k = gf_gguf_find_tensor(g, name);
        GF_FAIL_GOTO_IF(k < 0 || g->tensors[k].type != mt->type ||
                            g->tensors[k].nbytes != (uint64_t)mt->nb * gf_type_info(mt->type)->type_size,
                        err, GF_E_VALUE, "tune: %s is not the tensor %s was loaded with", name, g->path);
        ts[i] = &g->tensors[k];
    }
    qsort(ts, (size_t)t->n_mats, sizeof *ts, by_offset);
    for (int64_t i = 0; i < t->n_mats; i++) /* the matrix of each tensor, in file order */
        for (int64_t j = 0; j < t->n_mats; j++)
            if (!strcmp(mat_name(t, &t->mats[j]), ts[i]->name.s)) ms[i] = &t->mats[j];
    uint64_t pos = 0;
    for (int64_t i = 0; i < t->n_mats; i++) {
        const uint64_t at = g->data_offset + ts[i]->offset, nb = ts[i]->nbytes;
        GF_FAIL_GOTO_IF(at + nb > n || at < pos, err, GF_E_VALUE, "tune: %s lies outside the file", ts[i]->name.s);
        GF_TRY_GOTO(sink->write(sink->ctx, (const uint8_t *)file + pos, (size_t)(at - pos), err));
        free(buf);
        buf = malloc((size_t)nb);
        GF_FAIL_GOTO_IF(!buf, err, GF_E_NOMEM, "out of memory for %s", ts[i]->name.s);
        memcpy(buf, (const uint8_t *)file + at, (size_t)nb);
        const size_t bs = gf_type_info(ms[i]->type)->type_size;
        for (int64_t b = 0; b < ms[i]->nb; b++) memcpy(buf + (size_t)b * bs, &ms[i]->best[b], 2);
        GF_TRY_GOTO(sink->write(sink->ctx, buf, (size_t)nb, err));
        pos = at + nb;
    }
    GF_TRY_GOTO(sink->write(sink->ctx, (const uint8_t *)file + pos, n - (size_t)pos, err));
done:
    free(buf);
    free(ts);
    free(ms);
    return rc;
}

/* ---------------------------------------------------------------- tests */

int64_t gf_e2e_n_matrices(const gf_e2e *t) { return t->n_mats; }

uint16_t *gf_e2e_scales(gf_e2e *t, int64_t i, int64_t *n_blocks) {
    *n_blocks = t->mats[i].nb;
    return t->mats[i].h;
}

const double *gf_e2e_grad(const gf_e2e *t, int64_t i) { return t->mats[i].g; }
