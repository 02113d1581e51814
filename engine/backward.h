/*
 * backward.h - the float forward and backward pass of one decoder block, for
 * AutoRound: forward with caller-supplied float weights (fake-quantized
 * matrices), keeping on a tape what the backward needs; the MSE loss; and the
 * backward to dL/dW of the seven matrices and dL/dx of the block input.
 *
 * Shape legend (all buffers row-major, one row per token):
 *   B   samples, each an independent sequence at positions 0 .. T-1
 *   T   tokens per sample       D   dim         F   n_ff
 *   H   query heads     Hk  key/value heads     Dh  head_dim
 *   Dq = H*Dh           Dkv = Hk*Dh             R = n_rot/2
 * The forward of each layer is the engine's (forward.h), except attention,
 * which here also keeps its softmax probabilities; the block forward computes
 * what gf_block_forward computes with an F32 KV cache and F32 weights, bit for
 * bit (matrix products by gf_gemm_nt, which gf_matmul also uses for F32).
 * Every function here is OpenMP-parallel inside: call it from one thread.
 * Results never depend on the thread count.
 */
#ifndef GF_BACKWARD_H
#define GF_BACKWARD_H

#include "forward.h"

/* ---------------------------------------------------------------- layers */

/* In place: dx (T, n_heads*Dh) holding dL/d(rope(x)) becomes dL/dx, the inverse
 * rotation of gf_rope_forward with the same arguments. */
void gf_rope_backward(float *dx, int64_t n_tok, int64_t pos0, int64_t n_heads, int64_t head_dim, int64_t n_rot,
                      gf_rope_kind kind, const float *cos_tab, const float *sin_tab);

/* Number of floats of probs for one head of a T-token sequence: the causal
 * lower triangle, row t (t+1 weights) at offset t*(t+1)/2. */
static inline int64_t gf_attn_probs_len(int64_t n_tok) { return n_tok * (n_tok + 1) / 2; }

/* Causal grouped-query attention of B independent sequences at positions
 * 0 .. T-1, computed exactly as gf_attention_forward (F32) computes it:
 * q (B*T, Dq), k, v (B*T, Dkv), out (B*T, Dq), probs (B, H, gf_attn_probs_len(T))
 * the softmax weights kept for the backward.  OpenMP over samples × heads. */
void gf_attention_forward_train(float *out, float *probs, const float *q, const float *k, const float *v,
                                int64_t n_seq, int64_t n_tok, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim);

/* Backward of gf_attention_forward_train: given dout (B*T, Dq), writes dq
 * (B*T, Dq), dk, dv (B*T, Dkv) (overwritten).  work: as many floats as probs.
 * OpenMP over samples × heads, then over samples × key/value heads × blocks of
 * keys; a key's gradient is summed over the query heads of its group in head
 * order, then over tokens in order, so the thread count never matters. */
void gf_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                           const float *v, const float *probs, int64_t n_seq, int64_t n_tok, int64_t n_heads,
                           int64_t n_kv_heads, int64_t head_dim, float *work);

/* Backward of gf_swiglu_forward (out = silu(gate) * up): dgate, dup (n),
 * overwritten; dgate may equal dout (in place), dup may not alias the others. */
void gf_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, int64_t n);

/* Forward y (T, n_out) = x (T, n_in) · Wᵀ + bias (bias may be NULL), W (n_out, n_in) floats.
 * These and the block functions below return GF_E_NOMEM when a GEMM's scratch
 * cannot be allocated (the caller names the failure), else GF_OK. */
gf_status gf_linear_forward_f32(float *y, const float *W, const float *bias, const float *x, int64_t n_tok,
                                int64_t n_in, int64_t n_out);
/* Backward: dx (T, n_in) = dy · W, overwritten, or added when acc_dx (dx may be
 * NULL); dW (n_out, n_in) += dyᵀ · x (dW may be NULL).  No bias gradient. */
gf_status gf_linear_backward(float *dx, float *dW, const float *dy, const float *x, const float *W, int64_t n_tok,
                             int64_t n_in, int64_t n_out, int acc_dx);

/* ---------------------------------------------------------------- loss */

/* Mean squared error over n values, summed in double in index order; dy (n)
 * = dL/dy = 2 (y - target) / n, or skipped when dy is NULL. */
double gf_mse_loss(const float *y, const float *target, float *dy, int64_t n);

/* ---------------------------------------------------------------- block */

/* The weights of one decoder block as floats: the matrices are the caller's
 * (for AutoRound, the fake-quantized W̃), norms and biases usually the model's. */
typedef struct {
    const float *w[GF_LIN_COUNT];    /* (n_out, n_in) row-major, shapes as gf_block_linear_shape  */
    const float *bias[GF_LIN_COUNT]; /* (n_out) or NULL (qwen2: q, k, v)                         */
    const float *norm[GF_NORM_COUNT]; /* ATTN, FFN (D); Q, K (Dh) or NULL, as gf_layer's        */
} gf_block_weights;

/* n_out, n_in of matrix l: Q (Dq, D), K and V (Dkv, D), O (D, Dq), GATE and UP
 * (F, D), DOWN (D, F). */
void gf_block_linear_shape(const gf_hparams *hp, gf_linear l, int64_t *n_out, int64_t *n_in);

/* Activations one forward keeps for the backward, plus the backward's scratch,
 * for up to B samples of T tokens (both fixed at init).  Bytes per token: see
 * gf_block_tape_bytes. */
typedef struct {
    int64_t n_seq, n_tok;  /* B, T                                                        */
    float *rope_cos;       /* (T, R)                                                      */
    float *rope_sin;       /* (T, R)                                                      */
    float *x;              /* (B*T, D) block input                                        */
    float *x1;             /* (B*T, D) residual stream after attention                    */
    float *xn;             /* (B*T, D) normalized input of q/k/v or gate/up (scratch)     */
    float *q;              /* (B*T, Dq) queries after RoPE                                */
    float *k;              /* (B*T, Dkv) keys after RoPE                                  */
    float *v;              /* (B*T, Dkv)                                                  */
    float *probs;          /* (B, H, T(T+1)/2) softmax weights, causal triangle           */
    float *att;            /* (B*T, Dq) attention output, input of attn_output            */
    float *gate;           /* (B*T, F) gate projection                                    */
    float *up;             /* (B*T, F) up projection                                      */
    /* backward scratch (the forward uses work_f for silu(gate)*up) */
    float *dx1;            /* (B*T, D) dL/dx1                                             */
    float *dxn;            /* (B*T, D) dL/d(normalized input)                             */
    float *q_raw;          /* (B*T, Dq) queries before the per-head norm (qwen3), else none */
    float *k_raw;          /* (B*T, Dkv) keys before the per-head norm (qwen3), else none   */
    float *work_f;         /* max(B*T*2F, B*T*(2Dq + 2Dkv) + len(probs) [+ B*T*(Dq + Dkv)
                              with q/k norms]): MLP, then attention                     */
    int forward_done;      /* set by gf_block_forward_train                               */
    gf_hparams hp;         /* the shapes the tape was made for                            */
    float *arena;          /* owns every buffer above                                     */
} gf_block_tape;

/* Bytes gf_block_tape_init allocates for B samples of T tokens (0 on overflow):
 * per token 4 * (5D + 2Dq + 2Dkv + 2F + H(T+1)/2 + max(2F, 2Dq + 2Dkv + H(T+1)/2))
 * bytes, plus the RoPE tables; with per-head q/k norms 4 * 2(Dq + Dkv) more (q, k
 * before them, and their gradients).  Qwen2.5-0.5B at T = 256: about 111 KB a token. */
size_t gf_block_tape_bytes(const gf_hparams *hp, int64_t n_seq, int64_t n_tok);
gf_status gf_block_tape_init(gf_block_tape *tp, const gf_hparams *hp, int64_t n_seq, int64_t n_tok, gf_err *err);
void gf_block_tape_free(gf_block_tape *tp);

/* y (B*T, D) = block(x (B*T, D)) with weights bw, each sample on its own at
 * positions 0 .. T-1; fills the tape.  y must not alias x. */
gf_status gf_block_forward_train(const gf_hparams *hp, const gf_block_weights *bw, const float *x, float *y,
                                 gf_block_tape *tp);

/* Given dy (B*T, D) = dL/dy of the last gf_block_forward_train on tp, adds
 * dL/dW[l] into dW[l] (each like bw->w[l]; dW or any dW[l] may be NULL) and
 * writes dL/dx (B*T, D) into dx (may be NULL: cheaper).  What the forward kept
 * is left unchanged, so the backward may run again with another dy. */
gf_status gf_block_backward(const gf_hparams *hp, const gf_block_weights *bw, const float *dy,
                            float *const dW[GF_LIN_COUNT], float *dx, gf_block_tape *tp);

#define GF_BWD_GROUP_MAX 16 /* gf_block_backward_per_sample's largest group */

/* Receives the dL/dW[l] of samples s0 .. s0+m-1 (g[j] for sample s0+j, each
 * like bw->w[l]; valid until the call returns); a non-GF_OK status ends the
 * backward with it. */
typedef gf_status (*gf_block_dw_sink)(void *ctx, gf_linear l, int64_t s0, int m, const float *const *g);

/* gf_block_backward, with the weight gradients one sample at a time: the
 * backward-data products still run over all B*T rows (row results do not depend
 * on how many rows a product has, gemm.h), but each sample's dL/dW[l] (for the
 * non-NULL dW[l]) is its own dyᵀ·x, bit for bit what a backward of that sample
 * alone gives, handed to sink in groups of up to `group` samples, in sample
 * order.  The group's first gradient goes into dW[l] (overwritten), the others
 * into scratch: (group - 1) times the largest wanted matrix in floats.
 * sink NULL: exactly gf_block_backward. */
gf_status gf_block_backward_per_sample(const gf_hparams *hp, const gf_block_weights *bw, const float *dy,
                                       float *const dW[GF_LIN_COUNT], gf_block_dw_sink sink, void *ctx, int group,
                                       float *scratch, float *dx, gf_block_tape *tp);

#endif /* GF_BACKWARD_H */
