/*
 * model.h - a decoder-only transformer (an architecture of formats/arch.h) loaded
 * for the inference engine: hyperparameters from the <arch>.* keys, every weight
 * matrix as a gf_wmat over the file mapping, small vectors (norms, biases)
 * widened to float.  A matrix of a type the kernels cannot multiply (any other
 * type the GGUF reader can dequantize: BF16, Q4_1 ... IQ4_XS) is dequantized at
 * load into an owned F32 copy.  The forward pass lives in forward.h.
 */
#ifndef GF_MODEL_H
#define GF_MODEL_H

#include "../common/types.h"
#include "../formats/arch.h"
#include "../formats/gguf.h"
#include "kernels.h"

/* Largest head the engine accepts (real models use 64..256). */
#define GF_MAX_HEAD_DIM 1024

typedef struct {
    gf_arch arch;
    int64_t n_vocab;      /* rows of token_embd                                  */
    int64_t dim;          /* embedding_length                                    */
    int64_t n_layers;     /* block_count                                         */
    int64_t n_ff;         /* feed_forward_length                                 */
    int64_t n_heads;      /* attention.head_count                                */
    int64_t n_kv_heads;   /* attention.head_count_kv (= n_heads when absent)     */
    int64_t head_dim;     /* dim / n_heads, or attention.key_length (arch table)  */
    int64_t n_rot;        /* rope.dimension_count (= head_dim when absent)       */
    int64_t n_ctx_train;  /* context_length: informative, never enforced         */
    float rope_base;      /* rope.freq_base, 10000 when absent                   */
    float rms_eps;        /* attention.layer_norm_rms_epsilon                    */
    gf_rope_kind rope;    /* the arch table's: NEOX for qwen2, NORM for llama    */
    const float *rope_freqs; /* (n_rot/2) rope_freqs.weight: pair i's angle is divided
                                by it (llama3 scaling), or NULL                   */
    gf_rope_scaling rope_scaling; /* rope.scaling.*: linear or yarn, or kind NONE     */
} gf_hparams;

/* A decoder block; which of its tensors exist is the architecture table's (arch.h). */
typedef struct {
    const float *norm[GF_NORM_COUNT]; /* ATTN, FFN (dim); Q, K (head_dim) or NULL          */
    const float *bias[GF_LIN_COUNT]; /* (n_out) of each matrix, or NULL (qwen2: q, k, v)  */
    /* lin[GF_LIN_Q]: (n_heads*head_dim, dim)     lin[GF_LIN_K], [V]: (n_kv_heads*head_dim, dim)
     * lin[GF_LIN_O]: (dim, n_heads*head_dim)     lin[GF_LIN_GATE], [UP]: (n_ff, dim)
     * lin[GF_LIN_DOWN]: (dim, n_ff)              shapes as (n_out, n_in)                */
    gf_wmat lin[GF_LIN_COUNT];
    char name[GF_LIN_COUNT][48]; /* GGUF tensor names, "blk.3.attn_q.weight"              */
} gf_layer;

typedef struct gf_model {
    gf_hparams hp;
    const char *path;            /* for messages; points into gguf                        */
    gf_type embd_type;           /* type of token_embd rows                               */
    const void *embd;            /* (n_vocab, row bytes) token_embd data in the file      */
    size_t embd_row_bytes;
    const float *output_norm;    /* (dim)                                                 */
    gf_wmat output;              /* (n_vocab, dim); token_embd's data when tied           */
    int tied_output;             /* 1 when the file has no output.weight                  */
    const char *output_name;     /* "output.weight", or "token_embd.weight" when tied     */
    char top_name[GF_TOP_COUNT][32]; /* GGUF names of token_embd, output_norm, output     */
    gf_layer *layers;            /* (n_layers)                                            */
    gf_kernel_set ks;
    int64_t n_widened;           /* matrices dequantized to F32 at load (wide[0..n))      */
    int64_t n_widened_by_type[GF_TYPE_COUNT_]; /* of them, by the type in the file      */
    size_t widened_bytes;        /* their F32 bytes, and the file bytes they came from    */
    size_t widened_src_bytes;
    /* owned */
    gf_gguf *gguf;               /* the open file (NULL if borrowed)                      */
    float *vec_arena;            /* norms and biases widened to float                     */
    float **wide;                /* (n_layers * GF_LIN_COUNT + 1) F32 copies, NULL-padded */
} gf_model;

/* Loads path (memory-mapped; the model keeps the file open).  ks is the kernel
 * set the matrices are prepared for (gf_kernels_detect() normally). */
gf_status gf_model_open(const char *path, gf_kernel_set ks, gf_model **out, gf_err *err);
/* The same over an already open GGUF, which must outlive the model (tests build
 * files in memory and parse them with gf_gguf_parse). */
gf_status gf_model_from_gguf(const gf_gguf *g, gf_kernel_set ks, gf_model **out, gf_err *err);
void gf_model_free(gf_model *m);

/* Dequantizes rows of token_embd (any readable type, through its to_float): x
 * (n_tok, dim). GF_E_VALUE names a token id outside [0, n_vocab); GF_E_FORMAT a row
 * with a NaN or Inf (gf_dequantize_checked: a bad fp16 scale), naming the tensor. */
gf_status gf_model_embed(const gf_model *m, const int32_t *tokens, int64_t n_tok, float *x, gf_err *err);

#endif /* GF_MODEL_H */
