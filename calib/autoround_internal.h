/*
 * autoround_internal.h - what autoround.c and autoround_exact.c share and nothing
 * else sees: one block's tuning state and its passes' work counts, and the two
 * functions of the exact gradient path (the MPI build's; autoround.c chooses it).
 */
#ifndef GF_AUTOROUND_INTERNAL_H
#define GF_AUTOROUND_INTERNAL_H

#include "autoround.h"

typedef struct {
    const gf_hparams *hp;
    int64_t n_samples, T, D, B;  /* samples, tokens each, dim, minibatch      */
    gf_block_tape tape, tape_rem; /* B samples; n_samples % B (lazily)         */
    float *y;                      /* (B*T, D) block output scratch             */
    double flop;                   /* work done so far                          */
    double flop_fwd_tok, flop_bwd_tok; /* per token, matrix products            */
    double flop_fwd_pair, flop_bwd_pair; /* per (sample, query, key) pair        */
} pass_ctx;

static inline double fwd_flop(const pass_ctx *p, int64_t n_seq) {
    double pairs = (double)n_seq * (double)p->T * (double)(p->T + 1) / 2;
    return (double)n_seq * (double)p->T * p->flop_fwd_tok + pairs * p->flop_fwd_pair;
}

/* The exact gradient's state (the MPI build's path, autoround_exact.c): this rank's share
 * of every minibatch and the fixed-point sums of the samples' dL/dWq. */
typedef struct {
    gf_block_tape tape1;           /* hi-lo samples when fewer than B (else p.tape is used) */
    double *ssq;                   /* (B) squared error of each position's sample       */
    int64_t lo, hi;                /* this rank's positions of every minibatch          */
    int64_t *acc[GF_LIN_COUNT];    /* (n_out, n_in) the minibatch's dL/dWq in fixed point */
    int gexp[GF_LIN_COUNT];        /* the grid's bound: |dL/dWq| < 2^gexp               */
    int have_grid, lgB;            /* gexp set; ceil(log2(B))                           */
    uint64_t grad_check;           /* gf_ar_report's                                     */
    int group;                     /* samples whose dL/dWq are gridded in one pass      */
    float *gscratch;               /* (group-1, largest n_out*n_in) their dL/dWq          */
} ar_exact;

/* One gf_autoround_block's buffers (l: the seven matrices; tuned[l]: its rows are
 * whole blocks of 32, else it is left to the pipeline as f16). */
typedef struct {
    const gf_ar_block *b;
    gf_type type;
    const gf_ar_opts *o;
    int64_t N, B;                  /* floats of all samples' activations; minibatch     */
    const float *qin;              /* (N) the tuning's inputs: b->xq, or b->x (fp_inputs) */
    pass_ctx p;
    int64_t n_out[GF_LIN_COUNT], n_in[GF_LIN_COUNT];
    int tuned[GF_LIN_COUNT];
    float *V[GF_LIN_COUNT], *bestV[GF_LIN_COUNT];   /* (n_out, n_in) rounding offsets     */
    float *A[GF_LIN_COUNT], *bestA[GF_LIN_COUNT];   /* (n_out, n_in/32) range factors     */
    float *dda[GF_LIN_COUNT];                        /* (n_out, n_in/32) block_dda         */
    float *Wq[GF_LIN_COUNT], *dW[GF_LIN_COUNT];     /* (n_out, n_in) fake-quantized W, dL/dWq */
    gf_block_weights qw;           /* the block with Wq                                 */
    float *targets, *ymm;          /* (N) float block's outputs; min-max block's outputs */
    float *xb, *tb, *dy;           /* (n, T, D) the samples passed here: inputs, targets (float path), dL/dy */
    int64_t *order;                /* (n_samples) the minibatch shuffle                 */
    double *mm_loss;               /* (n_samples) min-max MSE of each sample            */
    int64_t *pick;                 /* (B) the minibatch's samples, by position          */
    ar_exact ex;                   /* the exact path's (untouched by the float path)    */
} ar_state;

/* The exact path (autoround_exact.c): this rank's buffers (freed with the
 * state's), and the minibatch's loss and dL/dWq (s->dW, from s->pick), the
 * same bits whatever the number of ranks. */
gf_status gf_ar_exact_init(ar_state *s, gf_err *err);
gf_status gf_ar_exact_grad(ar_state *s, int it, double *loss, gf_err *err);

#endif /* GF_AUTOROUND_INTERNAL_H */
