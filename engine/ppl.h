/*
 * ppl.h - perplexity of a model on a token sequence, and optionally the KL
 * divergence of its next-token distributions from a base model's, computed the
 * way llama-perplexity (and its --kl-divergence mode) computes them so that the
 * numbers are comparable with llama.cpp's.
 *
 * The text is cut into windows of n_ctx tokens; in each window the first token
 * is replaced by BOS when the vocabulary adds one, and only the second half is
 * scored (logits at positions n_ctx/2 .. n_ctx-2 predicting the next token).
 * Evaluation is chunk by chunk so the caller can print running values.
 */
#ifndef GF_PPL_H
#define GF_PPL_H

#include "forward.h"

typedef struct {
    int64_t n_ctx;     /* window length in tokens (llama.cpp's -c; default 512)          */
    int64_t n_batch;   /* tokens per forward call (≤ n_ctx)                              */
    int64_t n_chunks;  /* windows to evaluate, -1 for all that fit                      */
    int add_bos;       /* replace each window's first token by bos_id                   */
    int32_t bos_id;
    gf_type kv_type;   /* KV cache: GF_TYPE_F16 gives llama.cpp's numbers; F32 exact attention */
} gf_ppl_params;

/* Everything llama-perplexity prints.  The kld_/base/dp_/same_top fields are
 * only meaningful when a base model was given. */
typedef struct {
    int64_t chunks_done, n_chunks;
    int64_t count;                      /* scored tokens so far                            */
    double ppl, ppl_err;                /* exp(mean NLL) and its ± (standard error)        */
    /* --kl-divergence statistics, llama.cpp's formulas */
    double ppl_q, ppl_q_err;            /* Mean PPL(Q), from the same sums as the KLD      */
    double ppl_base, ppl_base_err;      /* Mean PPL(base)                                  */
    double cor;                         /* Cor(ln PPL(Q), ln PPL(base)), 0..1              */
    double ln_ratio, ln_ratio_err;      /* Mean ln(PPL(Q)/PPL(base))                       */
    double ratio, ratio_err;            /* Mean PPL(Q)/PPL(base)                           */
    double diff, diff_err;              /* Mean PPL(Q)-PPL(base)  (ΔPPL)                   */
    double kld, kld_err;                /* Mean KLD                                        */
    double dp_rms, dp_rms_err;          /* RMS Δp (fraction, not %)                        */
    double dp_mean, dp_mean_err;        /* Mean Δp                                         */
    double same_top, same_top_err;      /* share of positions whose top-1 tokens agree     */
    /* filled by gf_ppl_summary with percentiles = 1 */
    double kld_max, kld_p999, kld_p99, kld_median, kld_p10, kld_p05, kld_p01, kld_min;
    double dp_max, dp_p999, dp_p99, dp_p95, dp_p90, dp_p75, dp_median, dp_p25, dp_p10, dp_p05, dp_p01,
        dp_p001, dp_min;
} gf_ppl_report;

typedef struct gf_ppl gf_ppl;

/* Prepares a run over tokens (copied).  base may be NULL; when given it must have
 * the same vocabulary size, and each window runs through both models.
 * GF_E_VALUE when there are fewer than 2*n_ctx tokens (as llama-perplexity). */
gf_status gf_ppl_init(gf_ppl **out, const gf_model *m, const gf_model *base, const int32_t *tokens,
                      int64_t n_tokens, const gf_ppl_params *p, gf_err *err);
void gf_ppl_free(gf_ppl *r);

int64_t gf_ppl_n_chunks(const gf_ppl *r);
/* Evaluates the next window; GF_E_USAGE once all are done. */
gf_status gf_ppl_step(gf_ppl *r, gf_err *err);
/* The statistics over the windows evaluated so far; percentiles sorts every
 * stored value (costly: ask at the end). */
void gf_ppl_summary(const gf_ppl *r, gf_ppl_report *rep, int percentiles);

#endif /* GF_PPL_H */
