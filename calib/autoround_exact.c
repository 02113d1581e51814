/*
 * autoround_exact.c - AutoRound's exact minibatch gradient, the path of the MPI
 * build (make MPI=1) for any number of ranks, 1 included; autoround.c chooses
 * it (ar_grad_paths) and does everything else.
 *
 * A minibatch's gradient is the sum of its samples' gradients.  Each sample's
 * dL/dWq (its own dyᵀ·x, from one batched forward and backward of the rank's
 * samples: the same bits as a pass of that sample alone) is put on a
 * fixed-point grid every rank knows (units of 2^(gexp - 62 + lgB) per matrix),
 * and is added into int64: that sum is exact, so it does not depend on which
 * rank computed which sample nor on the order MPI adds the ranks in, and R
 * ranks write the bytes of one process.  The grid's bound 2^gexp is
 * AR_HEADROOM doublings above the previous step's largest |g| (the maximum over
 * ranks, itself exact); a step whose gradient reaches the bound (the first one
 * of a block always) is recomputed on a grid fitted to it.  Its resolution,
 * 2^(lgB - 53) of the largest |g|, is finer than float's for every element above
 * 2^-26 of the largest, and SignSGD uses only the signs.  It costs more than the
 * float path (per-sample dL/dWq products and a pass over 8 bytes a weight), so
 * the plain build does not use it.  Not here: the minibatch draw, the SignSGD
 * step, the kept iterate (autoround.c); the MPI calls (dist.c).
 */
#include "autoround_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "gridsum.h"

#define AR_HEADROOM 8

/* Up to this many samples' dL/dWq are gridded in one pass over acc (memory:
 * AR_GROUP - 1 of the largest matrix in floats; the pass is memory-bound). */
#define AR_GROUP 4

/* This rank's share of the minibatch, its inputs and dL/dy, the int64 sums. */
gf_status gf_ar_exact_init(ar_state *s, gf_err *err) {
    ar_exact *e = &s->ex;
    const int64_t T = s->b->seqlen, D = s->b->hp->dim;
    gf_dist_split(s->B, gf_dist_rank(), gf_dist_size(), &e->lo, &e->hi);
    const int64_t n_loc = e->hi - e->lo;
    if (n_loc > 0 && n_loc < s->B) GF_TRY(gf_block_tape_init(&e->tape1, s->b->hp, n_loc, T, err));
    while (((int64_t)1 << e->lgB) < s->B) e->lgB++;
    s->xb = malloc((size_t)((n_loc > 0 ? n_loc : 1) * T * D) * sizeof *s->xb);
    s->dy = malloc((size_t)((n_loc > 0 ? n_loc : 1) * T * D) * sizeof *s->dy);
    e->ssq = malloc((size_t)s->B * sizeof *e->ssq);
    e->group = n_loc < AR_GROUP ? (n_loc > 0 ? (int)n_loc : 1) : AR_GROUP;
    int64_t n_max = 0;
    for (int l = 0; l < GF_LIN_COUNT; l++)
        if (s->n_out[l] * s->n_in[l] > n_max) n_max = s->n_out[l] * s->n_in[l];
    if (e->group > 1) e->gscratch = malloc((size_t)(e->group - 1) * (size_t)n_max * sizeof(float));
    int oom = (e->group > 1 && !e->gscratch) || !s->xb || !s->dy || !e->ssq;
    for (int l = 0; l < GF_LIN_COUNT && !oom; l++)
        if (s->tuned[l]) oom |= !(e->acc[l] = malloc((size_t)(s->n_out[l] * s->n_in[l]) * sizeof(int64_t)));
    GF_FAIL_IF(oom, err, GF_E_NOMEM, "autoround: out of memory for block %d's exact gradient sums (batch %lld)",
               s->b->layer, (long long)s->B);
    return GF_OK;
}

/* What the backward's per-sample sink needs: whether to grid (else only the
 * largest |g| is wanted: no grid known yet), the bound of a grid term, and the
 * largest |g| seen per matrix. */
typedef struct {
    ar_state *s;
    double *gmax, lim;
    int grid;
} ar_sink_ctx;

static gf_status ar_sink(void *ctx, gf_linear l, int64_t s0, int m, const float *const *g) {
    ar_sink_ctx *c = ctx;
    ar_state *s = c->s;
    if (!s->tuned[l]) return GF_OK;
    const int64_t n = s->n_out[l] * s->n_in[l];
    if (c->grid) { /* the first group sets acc */
        const double mx = gf_grid_add(s->ex.acc[l], g, m, n, ldexp(1.0, 62 - s->ex.lgB - s->ex.gexp[l]), c->lim, s0 == 0);
        if (!(mx <= c->gmax[l])) c->gmax[l] = mx;
    }
    for (int j = 0; !c->grid && j < m; j++) {
        const double mx = gf_grid_max(g[j], n);
        if (!(mx <= c->gmax[l])) c->gmax[l] = mx;
    }
    return GF_OK;
}

/* The forward of this rank's samples of the minibatch (positions lo .. hi-1),
 * all at once (rows do not depend on each other): dL/dy into dy, each sample's
 * squared error into ssq[k]; *tp the tape used. */
static gf_status ar_local_fwd(ar_state *s, gf_block_tape **tp, gf_err *err) {
    const gf_ar_block *b = s->b;
    ar_exact *e = &s->ex;
    const int64_t T = b->seqlen, stride = T * b->hp->dim, n_loc = e->hi - e->lo;
    const float c = (float)(2.0 / (double)(s->B * stride)); /* dL/dy of the minibatch's MSE */
    *tp = n_loc < s->B ? &e->tape1 : &s->p.tape;
    for (int64_t k = 0; k < n_loc; k++)
        memcpy(s->xb + k * stride, s->qin + s->pick[e->lo + k] * stride, (size_t)stride * sizeof(float));
    GF_FAIL_IF(gf_block_forward_train(b->hp, &s->qw, s->xb, s->p.y, *tp), err, GF_E_NOMEM,
               "autoround: block %d: out of memory in the forward's matrix products", b->layer);
    for (int64_t k = 0; k < n_loc; k++) {
        const float *y = s->p.y + k * stride, *t = s->targets + s->pick[e->lo + k] * stride;
        float *dy = s->dy + k * stride;
        double ssq = 0.0;
        for (int64_t i = 0; i < stride; i++) {
            const double d = (double)y[i] - (double)t[i];
            ssq += d * d;
            dy[i] = c * (y[i] - t[i]);
        }
        e->ssq[e->lo + k] = ssq;
    }
    s->p.flop += fwd_flop(&s->p, n_loc);
    return GF_OK;
}

/* The backward of the last ar_local_fwd: each sample's dL/dWq on its own
 * (gf_block_backward_per_sample), onto the grid in acc when grid, else only
 * measured; *gmax (GF_LIN_COUNT) the largest |g| per matrix on this rank. */
static gf_status ar_local_bwd(ar_state *s, gf_block_tape *tp, int grid, double *gmax, gf_err *err) {
    const gf_ar_block *b = s->b;
    ar_exact *e = &s->ex;
    const int64_t T = b->seqlen, n_loc = e->hi - e->lo;
    for (int l = 0; l < GF_LIN_COUNT; l++) {
        gmax[l] = 0.0;
        if (grid && n_loc <= 0 && e->acc[l]) memset(e->acc[l], 0, (size_t)(s->n_out[l] * s->n_in[l]) * sizeof(int64_t));
    }
    if (n_loc <= 0) return GF_OK;
    ar_sink_ctx sc = {.s = s, .gmax = gmax, .lim = ldexp(1.0, 62 - e->lgB), .grid = grid};
    GF_FAIL_IF(gf_block_backward_per_sample(b->hp, &s->qw, s->dy, s->dW, ar_sink, &sc, e->group, e->gscratch, NULL, tp),
               err, GF_E_NOMEM, "autoround: block %d: out of memory in the backward's matrix products", b->layer);
    s->p.flop += (double)n_loc * (double)T * s->p.flop_bwd_tok +
                 (double)n_loc * (double)T * (double)(T + 1) / 2 * s->p.flop_bwd_pair;
    return GF_OK;
}

/* The minibatch's loss (*loss) and gradient (s->dW, every rank the same), exact
 * whatever the number of ranks.  One forward; the backward again (measuring
 * only, the first step of a block, or on a grid fitted to it) while the
 * gradient reaches the grid's bound. */
gf_status gf_ar_exact_grad(ar_state *s, int it, double *loss, gf_err *err) {
    const gf_ar_block *b = s->b;
    ar_exact *e = &s->ex;
    double gmax[GF_LIN_COUNT];
    gf_block_tape *tp = NULL;
    memset(e->ssq, 0, (size_t)s->B * sizeof *e->ssq);
    if (e->hi > e->lo) GF_TRY(ar_local_fwd(s, &tp, err));
    for (;;) {
        GF_TRY(ar_local_bwd(s, tp, e->have_grid, gmax, err));
        GF_TRY(gf_dist_max_f64(gmax, GF_LIN_COUNT, err));
        int refit = !e->have_grid;
        for (int l = 0; l < GF_LIN_COUNT; l++) {
            if (!s->tuned[l]) continue;
            GF_FAIL_IF(!isfinite(gmax[l]), err, GF_E_VALUE, "autoround: block %d: gradient not finite at iteration %d",
                       b->layer, it);
            int ex = 0;
            if (gmax[l] > 0) frexp(gmax[l], &ex); /* gmax < 2^ex */
            if (!e->have_grid || gmax[l] >= ldexp(1.0, e->gexp[l])) refit = 1, e->gexp[l] = ex + AR_HEADROOM;
        }
        e->have_grid = 1;
        if (!refit) break;
    }
    GF_TRY(gf_dist_gather_f64(e->ssq, s->B, err));
    double sum = 0.0;
    for (int64_t k = 0; k < s->B; k++) sum += e->ssq[k];
    *loss = sum / (double)(s->B * b->seqlen * b->hp->dim);
    for (int l = 0; l < GF_LIN_COUNT; l++) {
        if (!s->tuned[l]) continue;
        const int64_t n = s->n_out[l] * s->n_in[l];
        GF_TRY(gf_dist_sum_i64(e->acc[l], n, err));
        const uint64_t h = gf_grid_get(s->dW[l], e->acc[l], n, ldexp(1.0, 62 - e->lgB - e->gexp[l]));
        e->grad_check = e->grad_check * 0x100000001b3ull + h; /* FNV's prime: the matrices in order */
        /* the next step's grid: AR_HEADROOM doublings above this step's largest |g| */
        int ex = 0;
        if (gmax[l] > 0) frexp(gmax[l], &ex), e->gexp[l] = ex + AR_HEADROOM;
    }
    return GF_OK;
}
