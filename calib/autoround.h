/*
 * autoround.h - AutoRound (Cheng et al. 2023, "Optimize weight rounding via
 * signed gradient descent", as intel/auto-round implements it; issue 5): per
 * decoder block, a rounding offset V per weight and a range factor a per block
 * of 32, tuned by SignSGD so that the block with fake-quantized matrices, fed
 * the quantized path's activations, reproduces the float block's output on the
 * float path.  Q4_0 and Q8_0.  The final blocks are chosen here; the quantize
 * pipeline writes them as they are.
 */
#ifndef GF_AUTOROUND_H
#define GF_AUTOROUND_H

#include "../engine/backward.h"
#include "calib.h"

/* Lower bound of the range factor a (auto-round keeps it in [0, 1]; at 0 the
 * scale collapses).  With the default lr = 1/iters and linear decay a parameter
 * moves at most 1/2 in total (a for Q8_0: 8/127 of that), so a stays >= 0.5
 * unless lr is raised. */
#define GF_AR_MIN_RANGE 0.3f
#define GF_AR_MAX_V 0.5f /* |V| bound, auto-round's */

typedef struct gf_ar_opts {
    int iters;        /* steps of SignSGD: light 50, default 200, best 1000; 0: no tuning (V = 0, a = 1) */
    double lr;        /* <= 0: 1/iters (auto-round's default), linear decay to 0; Q8_0's a: lr*8/127 */
    int64_t batch;    /* samples per step (minibatch of the calibration samples); <= 0: min(8, samples) */
    uint64_t seed;    /* minibatch order */
    int tune_range;   /* also tune the per-block range factor (default 1) */
    int start;        /* where V and a start: GF_AR_START_MINMAX or _IMATRIX (gf_ar_starts) */
    int fp_inputs;    /* 1: every block is tuned on the float model's inputs (auto-round's
                         --disable_quanted_input): no quantized path, blocks independent */
} gf_ar_opts;

/* The starting rounding: min-max (V = 0, a = 1), or the imatrix method's scales
 * (search/scale.h's importance-weighted scale search, where it beats min-max):
 * a = its scale over min-max's (at most 1), V = 0 (levels rounded to nearest at
 * that scale).  Needs the importance of every matrix's input
 * (gf_ar_block.importance); a matrix without starts from min-max.  The recipes'
 * start is imatrix (SmolLM2-135M, light: KLD 0.140 against 0.153 from min-max). */
enum { GF_AR_START_MINMAX, GF_AR_START_IMATRIX, GF_AR_START_COUNT_ };
extern const char *const gf_ar_starts[GF_AR_START_COUNT_]; /* "minmax", "imatrix": the CLI's --init */

/* Losses are block-output mean squared errors over *all* calibration samples
 * (quantized-path inputs, or float ones with fp_inputs, against the float block's
 * outputs on float inputs). */
typedef struct gf_ar_report {
    double loss_minmax;     /* with llama.cpp's min-max blocks (gf_quantize_row_*_ref)                 */
    double loss_best;       /* with the blocks stored (the tuned ones, or min-max if those were better) */
    double loss_best_batch; /* minibatch loss of the kept iterate (chosen as the lowest ratio of the
                               minibatch loss to min-max's loss on the same samples)                   */
    int best_iter;          /* iteration whose parameters were kept; -1: min-max blocks kept because
                               the tuned ones did worse on all samples                                  */
    double seconds;         /* wall time of the call                                                   */
    double gflop;           /* floating-point work of the forward/backward passes (analytic count)     */
    uint64_t grad_check;    /* every step's summed gradient, bit for bit, folded into one number
                               (an order-free sum): equal runs took the same path, whatever the ranks;
                               kept by the exact path only (gf_ar_gradient_sum non-NULL), else 0 */
} gf_ar_report;

/* A named recipe: iteration count and the calibration shape it was sized for
 * (see bench/bench_autoround.c and BENCHMARKS.md for the timing behind it). */
typedef struct {
    const char *name;  /* "light", "default", "best": the CLI's --recipe spelling */
    int iters;
    int64_t nsamples, seqlen, batch;
} gf_ar_recipe;

/* NULL when no recipe has that name. */
const gf_ar_recipe *gf_ar_recipe_find(const char *name);
/* The recipes, terminated by an entry with name NULL. */
extern const gf_ar_recipe gf_ar_recipes[];
/* o from a recipe (lr auto, seed 0, tune_range 1, start imatrix). */
void gf_ar_opts_from_recipe(gf_ar_opts *o, const gf_ar_recipe *r);

typedef void (*gf_ar_progress)(void *ctx, int layer, int iter, int iters, double loss, double best, double elapsed);

/* Block `layer` is loaded in c (gf_calib_load_layer; possibly already AWQ-transformed in place).
 * c->x holds the float model's inputs to this block, c->xq the inputs produced by the already
 * quantized previous blocks (the caller called gf_calib_enable_qpath before block 0; with
 * o->fp_inputs c->xq is not read and may be NULL: the block is tuned on c->x).
 * Tunes every matrix of the block for `type` (Q4_0 or Q8_0), stores the final blocks in
 * c->qblocks[l] (malloc'd, gf_row_size(type, n_in) * n_out bytes; type in c->qtype[l]),
 * and advances c->x (float block) and c->xq (quantized block: the dequantized final blocks;
 * not with fp_inputs).
 * imx (may be NULL): the importance of each matrix's input, looked up by tensor name,
 * for o->start imatrix.  progress (may be NULL) is called every few iterations. */
gf_status gf_autoround_layer(gf_calib *c, int layer, gf_type type, const gf_ar_opts *o, const gf_imatrix *imx,
                             gf_ar_report *rep, gf_ar_progress progress, void *ctx, gf_err *err);

/* One block's AutoRound problem on explicit buffers (what gf_autoround_layer
 * builds; tests and the bench build it on random blocks). */
typedef struct {
    const gf_hparams *hp;
    const gf_block_weights *bw; /* the float block                                       */
    float *x, *xq;              /* (n_samples, seqlen, D) float-path and quantized-path
                                   inputs, advanced past the block in place; with
                                   o->fp_inputs xq is neither read nor written (may be
                                   NULL) and x is the tuning's input too                 */
    int64_t n_samples, seqlen;
    int layer;                  /* for messages, progress and the minibatch seed         */
    const float *importance[GF_LIN_COUNT]; /* (n_in) mean x^2 of each matrix's input, for
                                   o->start imatrix; NULL: that matrix starts from min-max */
    gf_ar_progress progress;    /* every few iterations, or NULL                         */
    void *ctx;                  /* progress's                                            */
} gf_ar_block;

/* How this build sums a minibatch's gradient: NULL in the plain build (the
 * batched float backward), "per-sample, fixed point" in the MPI build (exact,
 * the same bits for any number of ranks; grad_check is kept). */
const char *gf_ar_gradient_sum(void);

/* The same as gf_autoround_layer on b: blocks[l] receives malloc'd final blocks
 * (NULL for a matrix whose rows are not whole blocks of 32: left to the pipeline). */
gf_status gf_autoround_block(const gf_ar_block *b, gf_type type, const gf_ar_opts *o, void *blocks[GF_LIN_COUNT],
                             gf_ar_report *rep, gf_err *err);

/* ---------------------------------------------------------------- the quantizer, exposed for tests */

/* Wq (n_out, n_in) = the fake-quantized W for offsets V (n_out, n_in) and range
 * factors a (n_out, n_in/32); V or a NULL: 0 and 1.  n_in % 32 == 0.
 * Q4_0: d = fp16(a*ext/-8) (ext: the block's element of largest magnitude, with its
 * sign), q = clamp(round(w/d + V), -8, 7); Q8_0: d = fp16(a*amax/127), q in [-127, 127];
 * round = half away from zero; Wq = q*d. */
void gf_ar_fake_quant(gf_type type, const float *W, const float *V, const float *a, int64_t n_out, int64_t n_in,
                      float *Wq);
/* The same parameters as file blocks (gf_row_size(type, n_in) * n_out bytes):
 * they decode (gf_dequantize_row) to exactly gf_ar_fake_quant's Wq. */
void gf_ar_pack(gf_type type, const float *W, const float *V, const float *a, int64_t n_out, int64_t n_in,
                void *blocks);
/* Straight-through gradients from G = dL/dWq (n_out, n_in): gV (n_out, n_in) and
 * ga (n_out, n_in/32).  round() has derivative 1, dWq/dV = d (0 where clamped),
 * dWq/dd = q - w/d (q where clamped), dd/da = ext/-8 or amax/127, fp16 rounding of
 * d taken as the identity. */
void gf_ar_grad(gf_type type, const float *W, const float *V, const float *a, const float *G, int64_t n_out,
                int64_t n_in, float *gV, float *ga);

/* AutoRound for a matrix whose rows are independent: row r's loss is the quadratic
 * form (w_r - q_r)ᵀ H (w_r - q_r), H (n_in, n_in) symmetric -- for the output head
 * H = XᵀX/n of its calibration inputs, so the loss is the output error over all
 * calibration tokens at once.  The same parameters, fake quantizer and SignSGD as
 * the blocks (iters steps, lr <= 0: 1/iters, linear decay); each row keeps its own
 * best iterate, which is exact because the loss is a sum over rows.  Writes the
 * blocks (gf_row_size(type, n_in) * n_rows bytes); *loss0 and *loss1 get the summed
 * loss before (V = 0, a = 1) and after.  Deterministic for any thread count. */
gf_status gf_autoround_rows(gf_type type, const float *W, int64_t n_rows, int64_t n_in, const float *H, int iters,
                            double lr, void *blocks, double *loss0, double *loss1, gf_err *err);

#endif /* GF_AUTOROUND_H */
