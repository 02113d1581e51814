/*
 * arch.h - the architecture table: everything that differs between the
 * decoder-only models gguf-forge reads, in one entry per architecture.
 *
 * An entry names the Hugging Face classes and the GGUF arch, lists every tensor
 * of a block and outside the blocks (HF name, GGUF name, shape in config
 * dimensions, whether required), the features the forward pass switches on
 * (RoPE style, q/k row permutation, biases, explicit head size, tied output
 * default, the config key of sliding-window attention), the GGUF keys written,
 * and where each block matrix's input comes from (the fold targets of AWQ).
 * The converter, the engine's loader, calibration, AWQ and AutoRound read a
 * block's tensors from here; nothing else spells a tensor name.
 */
#ifndef GF_ARCH_H
#define GF_ARCH_H

#include <stddef.h>
#include <stdint.h>

typedef enum { GF_ARCH_LLAMA = 0, GF_ARCH_QWEN2 = 1, GF_ARCH_QWEN3 = 2, GF_ARCH_COUNT } gf_arch;

/* How RoPE pairs the dimensions of a head.  NORM rotates (2i, 2i+1): GGUF llama
 * q/k rows were permuted by the converter so that this works.  NEOX rotates
 * (i, i + n_rot/2), the Hugging Face layout, used as-is for qwen2. */
typedef enum { GF_ROPE_NORM = 0, GF_ROPE_NEOX = 2 } gf_rope_kind;

/* The kind of every norm of an architecture (the two of a block, the final
 * one, and q/k norms where there are).  Each kind's forward and backward live
 * in engine/norm.c. */
typedef enum { GF_NORMK_RMS = 0, GF_NORMK_COUNT } gf_norm_kind;

/* The seven matrices of a decoder block, in the order the forward pass uses them. */
typedef enum {
    GF_LIN_Q = 0, GF_LIN_K, GF_LIN_V, GF_LIN_O, GF_LIN_GATE, GF_LIN_UP, GF_LIN_DOWN, GF_LIN_COUNT
} gf_linear;

/* The norm weights of a block: before attention, before the MLP, and the per-head
 * RMSNorm of queries and keys after their projection (an architecture that has
 * them lists attn_q_norm/attn_k_norm tensors of shape [head_dim]). */
typedef enum { GF_NORM_ATTN = 0, GF_NORM_FFN, GF_NORM_Q, GF_NORM_K, GF_NORM_COUNT } gf_norm;

/* What a tensor is, and so what it becomes in GGUF. */
typedef enum {
    GF_TK_SKIP,        /* not converted (rotary inv_freq buffers)            */
    GF_TK_EMBED,       /* token_embd                                         */
    GF_TK_OUTPUT,      /* output (lm_head)                                   */
    GF_TK_NORM,        /* 1-D norm weights                                   */
    GF_TK_BIAS,        /* 1-D biases of a block matrix                       */
    GF_TK_LINEAR,      /* 2-D weights of the decoder blocks                  */
    GF_TK_ROPE_FREQS,  /* rope_freqs: no HF tensor, made from config.json's
                          rope_scaling (F32, n_rot/2 divisors of the angles) */
} gf_tensor_kind;

/* A dimension in config terms. */
typedef enum {
    GF_DIM_NONE = 0,
    GF_DIM_VOCAB,      /* vocab_size                                         */
    GF_DIM_EMBD,       /* hidden_size                                        */
    GF_DIM_Q,          /* num_attention_heads * head_dim                     */
    GF_DIM_KV,         /* num_key_value_heads * head_dim                     */
    GF_DIM_FF,         /* intermediate_size                                  */
    GF_DIM_HEAD,       /* head_dim                                           */
    GF_DIM_HEADS,      /* num_attention_heads                                */
    GF_DIM_HEADS_KV,   /* num_key_value_heads                                */
} gf_dim;

/* The dimensions a gf_dim is evaluated against (from config.json or GGUF keys). */
typedef struct {
    int64_t n_vocab, n_embd, n_head, n_head_kv, head_dim, n_ff;
} gf_arch_dims;

/* A feature that must be on for a tensor to exist. */
typedef enum { GF_WHEN_ALWAYS = 0, GF_WHEN_ATTN_BIAS, GF_WHEN_MLP_BIAS } gf_when;

/* One tensor: its spelling on both sides and its shape. */
typedef struct {
    const char *hf;      /* "model.layers.%d.self_attn.q_proj.weight" (%d: the layer, blocks only) */
    const char *stem;    /* "attn_q": GGUF "blk.N.attn_q.weight" (".bias" for a bias, no "blk.N."
                            outside the blocks); NULL when not converted                        */
    gf_tensor_kind kind;
    int slot;            /* gf_linear (LINEAR, BIAS) or gf_norm (NORM in a block)                 */
    gf_dim rows, cols;   /* HF shape (rows, cols); cols GF_DIM_NONE for vectors                   */
    gf_dim permute;      /* heads of llama's rotate-half -> interleaved reordering (q, k)         */
    gf_when when;        /* biases exist only with the feature                                   */
} gf_tensor_name;

typedef struct {
    const gf_tensor_name *t;
    int required;        /* a file without it is refused (otherwise it is optional) */
} gf_arch_tensor;

/* Where the input of a block matrix comes from: the norm vector before it
 * (kind GF_TK_NORM, slot a gf_norm) or the rows of the matrix whose output it
 * reads (GF_TK_LINEAR, slot a gf_linear). Scales folded into the input go there. */
typedef struct {
    gf_tensor_kind kind;
    int slot;
} gf_lin_source;

/* The architecture keys of GGUF, written <arch>.<name>. */
typedef enum {
    GF_HK_VOCAB_SIZE, GF_HK_CONTEXT_LENGTH, GF_HK_EMBEDDING_LENGTH, GF_HK_BLOCK_COUNT, GF_HK_FEED_FORWARD_LENGTH,
    GF_HK_ROPE_DIMENSION_COUNT, GF_HK_HEAD_COUNT, GF_HK_HEAD_COUNT_KV, GF_HK_ROPE_FREQ_BASE, GF_HK_RMS_EPS,
    GF_HK_KEY_LENGTH, GF_HK_VALUE_LENGTH,
    /* written only with RoPE scaling (gf_rope_scaling below) */
    GF_HK_ROPE_SCALING_FACTOR, GF_HK_ROPE_SCALING_ORIG_CTX, GF_HK_ROPE_SCALING_ATTN_FACTOR, GF_HK_COUNT
} gf_hkey;

/* RoPE scaling written as keys, as llama.cpp applies it (linear: every angle divided
 * by factor; yarn: angles blended between interpolated and original by GGML's ramp
 * over the correction dims of original_context_length, cos and sin times
 * attn_factor * (1 + 0.1 ln factor)).  llama3 scaling is not here: it is the
 * rope_freqs tensor.  The type key is a string, <arch>.rope.scaling.type. */
typedef enum { GF_ROPE_SCALING_NONE, GF_ROPE_SCALING_LINEAR, GF_ROPE_SCALING_YARN, GF_ROPE_SCALING_COUNT } gf_rope_scaling_kind;
#define GF_ROPE_SCALING_TYPE_KEY "rope.scaling.type"

typedef struct {
    gf_rope_scaling_kind kind;
    float factor;       /* rope.scaling.factor (> 0); 1 with no scaling                 */
    int64_t n_ctx_orig; /* rope.scaling.original_context_length (yarn); 0: context_length */
    float attn_factor;  /* rope.scaling.attn_factor, 1 when absent                      */
} gf_rope_scaling;

/* "none", "linear", "yarn"; gf_rope_scaling_by_name gives GF_ROPE_SCALING_COUNT for
 * another name. */
const char *gf_rope_scaling_name(gf_rope_scaling_kind k);
gf_rope_scaling_kind gf_rope_scaling_by_name(const char *name);

/* Biases of q/k/v/o: always there, as config.json's attention_bias says, or never
 * (an attention_bias of true is then refused, naming the key). */
typedef enum { GF_BIAS_ALWAYS, GF_BIAS_BY_CONFIG, GF_BIAS_NEVER } gf_bias_rule;

/* Outside the blocks. */
typedef enum { GF_TOP_EMBD = 0, GF_TOP_OUTPUT_NORM, GF_TOP_OUTPUT, GF_TOP_COUNT } gf_top;

#define GF_ARCH_MAX_KEYS 16

typedef struct {
    gf_arch id;
    const char *gguf_name;          /* general.architecture                                */
    const char *hf_classes[4];      /* config.json architectures[0] values, NULL-ended     */
    gf_arch_tensor top[GF_TOP_COUNT];
    const gf_arch_tensor *block;    /* (n_block) every tensor a block may have             */
    int n_block;
    const gf_lin_source *input;     /* (GF_LIN_COUNT) where each block matrix's input is from */
    /* features */
    gf_norm_kind norm;
    gf_rope_kind rope;
    int permute_qk;                 /* q/k rows reordered for GF_ROPE_NORM (llama)          */
    int partial_rope;               /* rope.dimension_count may be below head_dim           */
    int rope_freqs;                 /* may have rope_freqs.weight (gf_rope_freqs_tensor): pair
                                       i's angle is divided by its value i (llama3 scaling) */
    int qk_norm;                    /* per-head RMSNorm of q and k before RoPE, weights in
                                       GF_NORM_Q/GF_NORM_K of shape [head_dim] (qwen3); no
                                       per-channel scale can be folded through q or k then */
    gf_bias_rule attn_bias;
    int explicit_head_dim;          /* head_dim from config.json / attention.key_length,
                                       else hidden_size / num_attention_heads               */
    int head_dim_default;           /* config.json without head_dim: this (qwen3: 128, as
                                       transformers' Qwen3Config), 0 = hidden/heads          */
    int tied_default;               /* tie_word_embeddings when config.json lacks it        */
    const char *sliding_window_key; /* the config key that turns sliding windows on         */
    gf_hkey keys[GF_ARCH_MAX_KEYS]; /* written in this order after general.architecture     */
    int n_keys;
} gf_arch_info;

/* The entry of an architecture; NULL for an id outside the table. */
const gf_arch_info *gf_arch_get(gf_arch id);
/* Lookups by config.json class ("LlamaForCausalLM") and GGUF name ("llama"); NULL if unknown. */
const gf_arch_info *gf_arch_by_hf_class(const char *hf_class);
const gf_arch_info *gf_arch_by_gguf_name(const char *gguf_name);
/* "LlamaForCausalLM, Qwen2ForCausalLM" / "llama, qwen2", for messages. */
void gf_arch_list(int gguf_names, char *buf, size_t n);

/* <name> of a GGUF key ("attention.head_count"), and whether it is a float. */
const char *gf_hkey_name(gf_hkey k);
int gf_hkey_is_float(gf_hkey k);

int64_t gf_arch_dim(const gf_arch_dims *d, gf_dim dim);
/* n_out, n_in of block matrix l (the HF shape of its weight). */
void gf_arch_linear_shape(const gf_arch_dims *d, gf_linear l, int64_t *n_out, int64_t *n_in);
/* GGUF stem of block matrix l: "attn_q", ..., "ffn_down". */
const char *gf_linear_stem(gf_linear l);

/* Writes the GGUF (or HF) name of t in block `layer` (-1 outside the blocks) into
 * buf; 0 when t has none. */
int gf_tensor_gguf_name(const gf_tensor_name *t, int64_t layer, char *buf, size_t n);
int gf_tensor_hf_name(const gf_tensor_name *t, int64_t layer, char *buf, size_t n);
/* The layer of HF name `name` if it is t's pattern in some block (strict decimal,
 * no sign or leading zero), else -1. */
long gf_tensor_match_hf(const gf_tensor_name *t, const char *name);

/* The tensor (of any architecture) whose GGUF name is `name`, and its layer (-1
 * outside the blocks); NULL for a name the table does not have. */
const gf_tensor_name *gf_tensor_by_gguf_name(const char *name, int *layer);
/* The tensors outside the blocks (the same for every architecture). */
const gf_tensor_name *gf_top_tensor(gf_top which);

/* rope_freqs.weight, the optional tensor of an arch with the rope_freqs feature. */
const gf_tensor_name *gf_rope_freqs_tensor(void);
/* The block tensor of arch a with this kind and slot, or NULL. */
const gf_arch_tensor *gf_arch_block_tensor(const gf_arch_info *a, gf_tensor_kind kind, int slot);

#endif /* GF_ARCH_H */
