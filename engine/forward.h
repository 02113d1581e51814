/*
 * forward.h - the forward pass of a gf_model, as one function per layer over
 * explicit buffers, so that calibration can run it block by block and look at
 * the input of every linear layer, and a backward pass can be added beside it.
 *
 * Shape legend (all buffers row-major, one row per token):
 *   T   tokens in the call                 D   dim (embedding_length)
 *   H   query heads     Hk  key/value heads     Dh  head_dim
 *   F   n_ff            V   n_vocab             P   positions the KV cache holds
 * A token at index t of a call sits at position pos0 + t and attends to
 * positions 0 .. pos0 + t of the cache (causal).
 */
#ifndef GF_FORWARD_H
#define GF_FORWARD_H

#include "norm.h"
#include "model.h"

/* Callbacks into the forward pass; any may be NULL.  They run on the calling
 * thread, between parallel regions, and must not keep the pointers. */
typedef struct {
    /* x (n_tok, n_in) is the input of matrix tensor_name ("blk.3.attn_q.weight";
     * with layer -1 the output head: "output.weight", or "token_embd.weight" when
     * the model ties it to the embedding), just before the product.  q, k and v share
     * one input and are reported once each, as llama.cpp's imatrix sees them. */
    void (*on_linear_input)(void *ctx, int layer, const char *tensor_name, const float *x, int64_t n_tok,
                            int64_t n_in);
    void *ctx;
} gf_hooks;

/* KV cache and scratch for one sequence: every buffer the pass needs, allocated
 * once so that decoding a token allocates nothing.
 *
 * kv_type F16 computes attention as llama.cpp's default F16 cache does: keys,
 * values, queries and the attention weights rounded to half precision where GGML
 * rounds them (this is what makes perplexities agree to 4-5 digits).  The cache
 * still stores those values as floats: no conversion in the inner loops, at
 * twice the memory of a real F16 cache.  kv_type F32 is exact float attention,
 * for calibration and gradients. */
typedef struct {
    int64_t n_ctx;       /* P                                                        */
    int64_t n_batch;     /* largest T one gf_block_forward call may take             */
    gf_type kv_type;     /* GF_TYPE_F16 or GF_TYPE_F32                               */
    float *k_cache;      /* (n_layers, P, Hk*Dh) keys after RoPE                     */
    float *v_cache;      /* (n_layers, P, Hk*Dh)                                     */
    float *rope_cos;     /* (P, n_rot/2) cos(pos * theta_i)                          */
    float *rope_sin;     /* (P, n_rot/2)                                             */
    float *x;            /* (n_batch, D) residual stream inside gf_forward          */
    float *xn;           /* (n_batch, D) normalized input of the current sub-layer   */
    float *q;            /* (n_batch, H*Dh)                                          */
    float *k;            /* (n_batch, Hk*Dh) new keys before they enter the cache    */
    float *v;            /* (n_batch, Hk*Dh)                                         */
    float *att;          /* (n_batch, H*Dh) attention output, input of attn_output   */
    float *gate;         /* (n_batch, F) gate projection, then silu(gate) * up       */
    float *up;           /* (n_batch, F)                                             */
    float *y;            /* (n_batch, D) sub-layer output before the residual add    */
    float *scores;       /* (H, P) attention weights, one row per head               */
    void *mm_work;       /* gf_matmul_work scratch for n_batch tokens                */
} gf_state;

/* n_ctx: positions the cache holds (any length: like llama.cpp, exceeding the
 * training context is allowed).  n_batch: tokens per block call (≤ n_ctx).
 * kv_type: GF_TYPE_F16 (llama.cpp's numbers) or GF_TYPE_F32. */
gf_status gf_state_init(gf_state *s, const gf_model *m, int64_t n_ctx, int64_t n_batch, gf_type kv_type,
                        gf_err *err);
void gf_state_free(gf_state *s);

/* ---------------------------------------------------------------- layers */

/* cos/sin (n_pos, n_rot/2) of hp's RoPE angles, the tables of gf_state_init and of
 * the backward pass, as GGML's rope cache makes them: angle p * base^(-2i/n_rot) by
 * repeated float multiplication, divided by rope_freqs[i] when given (llama3), then
 * hp->rope_scaling's: linear divides by factor; yarn blends the divided and the
 * original angle by GGML's ramp and multiplies cos and sin by
 * attn_factor * (1 + 0.1 ln factor).  Reads n_rot, rope_base, rope_freqs,
 * rope_scaling and n_ctx_train (yarn without original_context_length). */
void gf_rope_tables(float *cos_tab, float *sin_tab, int64_t n_pos, const gf_hparams *hp);

/* Rotates the first n_rot dims of every head of x (T, n_heads*Dh) in place,
 * token t by the angles of position pos0 + t from the tables cos/sin (P, n_rot/2). */
void gf_rope_forward(float *x, int64_t n_tok, int64_t pos0, int64_t n_heads, int64_t head_dim, int64_t n_rot,
                     gf_rope_kind kind, const float *cos_tab, const float *sin_tab);

/* Causal grouped-query attention.  q (T, H*Dh) at positions pos0..; k, v (P, Hk*Dh)
 * hold positions 0 .. pos0+T-1; out (T, H*Dh); scores (H, P) scratch.  Query head
 * h reads key/value head h / (H/Hk).  OpenMP over heads; thread count does not
 * change the result.  round_f16: round q and the softmax weights to half
 * precision, as GGML does with an F16 cache (k and v must then hold values
 * already rounded to half). */
void gf_attention_forward(float *out, const float *q, const float *k, const float *v, float *scores, int64_t n_tok,
                          int64_t pos0, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, int round_f16);

/* x rounded to the nearest IEEE half (ties to even) and widened back. */
float gf_round_half(float x);

/* out (n) = silu(gate) * up; out may equal gate. */
void gf_swiglu_forward(float *out, const float *gate, const float *up, int64_t n);

/* y (T, n_out) = x (T, n_in) · Wᵀ + bias (bias may be NULL); work as gf_matmul_work's.
 * GF_E_NOMEM if the matmul's scratch (the F32 GEMM's) cannot be allocated. */
gf_status gf_linear_forward(float *y, const gf_wmat *W, const float *bias, const float *x, int64_t n_tok, void *work,
                            gf_err *err);

/* The per-head q/k norms (qwen3), in place, when the layer has them (norm[GF_NORM_Q],
 * norm[GF_NORM_K] of Dh values, NULL otherwise): each head of q (T, H*Dh) and of
 * k (T, Hk*Dh) normalized with the arch's norm kind and rms_eps, before RoPE. */
void gf_qk_norm_forward(const gf_hparams *hp, const float *const norm[GF_NORM_COUNT], float *q, float *k,
                        int64_t n_tok);

/* One decoder block on the residual stream x (T, D), in place:
 *   x += attn_output(attention(rope(qn(q(norm(x)))), rope(kn(k(norm(x)))), v(norm(x))))
 *   (qn, kn: the per-head q/k norms of qwen3, the identity otherwise)
 *   x += ffn_down(silu(ffn_gate(norm(x))) * ffn_up(norm(x)))
 * Writes this layer's keys/values for positions pos0 .. pos0+T-1 into s's cache.
 * T ≤ s->n_batch and pos0 + T ≤ s->n_ctx, or GF_E_USAGE. */
gf_status gf_block_forward(const gf_model *m, int layer, float *x, int64_t n_tok, int64_t pos0, gf_state *s,
                           const gf_hooks *hooks, gf_err *err);

/* logits (T, V) = output(norm(x)) for x (T, D) (x is left unchanged); GF_E_NOMEM
 * as gf_linear_forward's. */
gf_status gf_output_forward(const gf_model *m, const float *x, int64_t n_tok, float *logits, gf_state *s,
                            const gf_hooks *hooks, gf_err *err);

/* The whole model over tokens (T) at positions pos0 .. pos0+T-1 of the cache,
 * in batches of s->n_batch.  Logits are computed only for tokens out_from .. T-1
 * of this call and written to logits (T - out_from, V); out_from = T gives none.
 * GF_E_VALUE for a token id outside the vocabulary, GF_E_USAGE when the cache
 * is too short. */
gf_status gf_forward(const gf_model *m, gf_state *s, const int32_t *tokens, int64_t n_tok, int64_t pos0,
                     int64_t out_from, float *logits, const gf_hooks *hooks, gf_err *err);

#endif /* GF_FORWARD_H */
