/*
 * e2e.h - end-to-end tuning of a quantized model's block scales (EfficientQAT's
 * E2E-QP stage): the rounding of every Q4_0/Q8_0 block matrix stays as the file
 * has it, and only the fp16 scale d of each block moves (with opts.head the output
 * head's too, a tied embedding's with it), to lower the mean KL
 * divergence between a float base model's next-token distributions and the
 * quantized model's on calibration samples.  The loss is computed through the
 * whole model in float (the block forward and backward of backward.h, the final
 * norm, the output head), its gradient reaches every scale (dL/dd = Σ q·dL/dW
 * over the block), and Adam moves log d.  The written file is the input file
 * with the best iterate's scales in place: same header, tensors and codes.
 * Deterministic: every sum in a fixed order, the same bytes for any thread count.
 */
#ifndef GF_E2E_H
#define GF_E2E_H

#include "calib.h"

typedef struct {
    const char *text;   /* calibration text; NULL: the text built into the program */
    size_t text_len;
    const char *name;   /* for messages                                            */
    int64_t nsamples, seqlen;
    int64_t nval;       /* validation samples, the draw's next windows after the
                           training ones: they pick the best step (0: the training
                           loss picks it)                                          */
    uint64_t seed;
    int steps;          /* Adam steps; 0 measures the loss at the file's scales    */
    double lr;          /* Adam's step on log d                                    */
    int head;           /* the output head's scales too (when its type has one
                           scale per block); a tied embedding's lookup moves with them */
    int per_row;        /* one factor per matrix row on the file's scales, not one
                           per block: n_in/32 times fewer parameters              */
    /* after each evaluation k = 0 .. steps (k updates done): the training loss,
     * the validation loss (NAN without nval), and whether it is the best so far;
     * may be NULL */
    void (*progress)(void *ctx, int k, int steps, double loss, double val, int best);
    void *ctx;
} gf_e2e_opts;

typedef struct {
    int64_t n_matrices, n_fixed; /* block matrices tuned; block matrices of other types */
    int64_t n_scales;            /* scales tuned (blocks with d = 0 stay)               */
    int64_t n_params;            /* factors tuned: n_scales, or with per_row the rows    */
    int64_t n_samples, n_val, seqlen;
    double loss_start, loss_best; /* mean KL per token, nats: training samples         */
    double val_start, val_best;  /* the same on the validation samples (NAN without)    */
    int best_step;
    double seconds_teacher;      /* the base model's pass over the samples              */
    size_t bytes;                /* memory held by the tuner                            */
} gf_e2e_result;

typedef struct gf_e2e gf_e2e;

/* Prepares the tuning of q against base (same architecture and shapes, else
 * GF_E_VALUE naming the first difference): samples drawn from the text with
 * tok (calib.h's draw), the base model's log-probabilities of every sample
 * position, q's weights as floats, every block matrix of a one-scale type
 * (types.h) split into its codes and scales.  GF_E_VALUE when q has no such
 * matrix. */
gf_status gf_e2e_open(gf_e2e **out, const gf_model *q, const gf_model *base, const struct gf_tokenizer *tok,
                      const gf_e2e_opts *o, gf_err *err);
void gf_e2e_free(gf_e2e *t);

/* Runs o->steps Adam steps from the file's scales, evaluating the loss before
 * the first and after each one, and keeps the best evaluation's scales. */
gf_status gf_e2e_run(gf_e2e *t, gf_e2e_result *r, gf_err *err);

/* The file q was read from (file, n bytes; g its parse) copied to sink with
 * every tuned block's scale replaced by the best iterate's. */
gf_status gf_e2e_write(const gf_e2e *t, const gf_gguf *g, const void *file, size_t n, const gf_sink *sink,
                       gf_err *err);

/* For tests.  The scales now used (fp16 bits) of tuned matrix i, its blocks'
 * count, and the gradient dL/dd of the last gf_e2e_loss with grad set. */
int64_t gf_e2e_n_matrices(const gf_e2e *t);
uint16_t *gf_e2e_scales(gf_e2e *t, int64_t i, int64_t *n_blocks);
const double *gf_e2e_grad(const gf_e2e *t, int64_t i);
/* The mean KL over the training samples at the scales gf_e2e_scales holds (after
 * changing them, call gf_e2e_sync first); with grad, the gradient too.  val:
 * over the validation samples instead (no gradient; NAN without them). */
void gf_e2e_sync(gf_e2e *t, int64_t i);
gf_status gf_e2e_loss(gf_e2e *t, int grad, double *loss, gf_err *err);
gf_status gf_e2e_val_loss(gf_e2e *t, double *loss, gf_err *err);

#endif /* GF_E2E_H */
