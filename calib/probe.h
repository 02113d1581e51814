/*
 * probe.h - the inputs a report measures output-activation error with: a few
 * calibration samples run through the float model block by block, alongside
 * the conversion, keeping each matrix's input at a spread of token positions
 * for the current block only.  The error of a written matrix W with quantized
 * version Q is then ||X·(W-Q)ᵀ|| / ||X·Wᵀ|| over those inputs X.
 *
 * Where a block method (awq, autoround) rewrote a block, the probe runs the
 * rewritten float block (its scaled weights and norms), so X is the input the
 * written matrix will really see.
 */
#ifndef GF_PROBE_H
#define GF_PROBE_H

#include "calib.h"

typedef struct gf_probe gf_probe;

/* Opens a probe on the first min(4, o->nsamples) samples calibration would
 * take with o (same text, seqlen and seed), keeping up to max_tokens positions
 * per matrix (max_tokens >= 4). */
gf_status gf_probe_open(const gf_hfcfg *cfg, const gf_safetensors *st, const gf_vocab *vocab, const gf_calib_opts *o,
                        int64_t max_tokens, gf_probe **out, gf_err *err);
void gf_probe_free(gf_probe *p);

/* Runs the probe's samples through decoder blocks up to and including `layer`:
 * the blocks before it from the safetensors, block `layer` itself from `src` when
 * src is non-NULL and has it loaded (rewritten by a block method), else from the
 * safetensors too.  Afterwards gf_probe_input() serves block `layer`'s matrices. */
gf_status gf_probe_layer(gf_probe *p, int layer, const gf_calib *src, gf_err *err);
/* After every block: the final norm, giving the output matrix's input. */
gf_status gf_probe_final(gf_probe *p, gf_err *err);

/* The kept inputs X (n_tok, n_in) of matrix `name` ("blk.3.attn_q.weight",
 * "output.weight"), or NULL when the probe has not got them. */
const float *gf_probe_input(const gf_probe *p, const char *name, int64_t *n_tok, int64_t *n_in);
/* How often each token id (< n) occurs in the probe's samples, for the
 * embedding's error: counts (n), or NULL. */
const int32_t *gf_probe_token_counts(const gf_probe *p, int64_t *n);

/* The samples' residual stream (count floats), at the input of block *next: what a
 * checkpoint keeps.  gf_probe_set_depth says the caller has put block `next`'s input
 * there (a resumed run), so gf_probe_layer goes on from it. */
float *gf_probe_stream(gf_probe *p, int *next, uint64_t *count);
void gf_probe_set_depth(gf_probe *p, int next);

#endif /* GF_PROBE_H */
