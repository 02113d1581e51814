/*
 * hfconfig.h - a Hugging Face model's config.json as GGUF architecture metadata,
 * and the mapping of its tensor names and shapes to GGUF's.
 *
 * Supports the architectures of formats/arch.h (LlamaForCausalLM, MistralForCausalLM,
 * Qwen2ForCausalLM, Qwen3ForCausalLM).  rope_scaling of type llama3 becomes rope_freqs
 * (as llama.cpp's converter computes it), linear and yarn the rope.scaling.* keys
 * (rope_parameters, transformers 5's spelling, likewise); an explicit head_dim (llama,
 * qwen3) becomes the key lengths.  Anything this version would convert wrongly (another
 * RoPE scaling, an active sliding window, a qwen2 head_dim other than hidden/heads, qwen3
 * attention biases, mixture of experts, another activation) is refused with the key
 * named, never written silently wrong.
 */
#ifndef GF_HFCONFIG_H
#define GF_HFCONFIG_H

#include "../common/gf.h"
#include "arch.h"
#include "gguf.h"

#define GF_ROPE_FREQS_MAX 512 /* head_dim up to 1024 with rope_freqs */

typedef struct {
    gf_arch arch;
    const gf_arch_info *info; /* the architecture's table entry               */
    const char *arch_name;   /* GGUF general.architecture: "llama", "qwen2"   */
    char hf_arch[64];        /* config.json architectures[0]                  */
    int64_t n_vocab;         /* vocab_size: rows of the embedding             */
    int64_t n_embd;          /* hidden_size                                   */
    int64_t n_layer;         /* num_hidden_layers                             */
    int64_t n_ff;            /* intermediate_size                             */
    int64_t n_head;          /* num_attention_heads                           */
    int64_t n_head_kv;       /* num_key_value_heads                           */
    int64_t head_dim;        /* n_embd / n_head (head_dim when the arch has it) */
    int has_head_dim;        /* config.json had head_dim (or the arch defaults it), GGUF
                                key_length: <arch>.attention.key/value_length written */
    int64_t n_ctx_train;     /* max_position_embeddings                       */
    double rope_theta;
    double rms_eps;
    int tie_word_embeddings; /* 1 or 0 (the model class's default when absent) */
    int attn_bias;           /* q/k/v (and o for llama) carry biases           */
    int n_rope_freqs;        /* head_dim/2 with llama3 RoPE scaling, else 0    */
    float rope_freqs[GF_ROPE_FREQS_MAX]; /* rope_freqs.weight: pair i's angle is divided by it */
    gf_rope_scaling rope_scaling; /* linear or yarn rope_scaling: rope.scaling.* keys */
} gf_hfcfg;

gf_status gf_hfcfg_from_json(const char *text, size_t len, const char *name, gf_hfcfg *hp, gf_err *err);
gf_status gf_hfcfg_load(const char *model_dir, gf_hfcfg *hp, gf_err *err);
/* The same from a GGUF's general.architecture and <arch>.* keys (a GGUF input).
 * An <arch>.* key this version does not read is refused by name.  n_vocab,
 * tie_word_embeddings and (for an arch whose biases are optional) attn_bias are
 * left to the caller, who sees the tensors. */
gf_status gf_hfcfg_from_gguf(const gf_gguf *g, gf_hfcfg *hp, gf_err *err);
/* <arch>.rope.scaling.{type,factor,original_context_length,attn_factor} as llama.cpp
 * reads them: a factor without a type is linear, no factor (or 0) or type "none" is
 * no scaling; another type is refused by name. */
gf_status gf_rope_scaling_read(const gf_gguf *g, const char *arch, gf_rope_scaling *rs, gf_err *err);
/* general.architecture, the <arch>.* keys the table lists and the RoPE scaling keys. */
gf_status gf_hfcfg_to_gguf(const gf_hfcfg *hp, gf_gguf_writer *w, gf_err *err);

/* What a Hugging Face tensor becomes in GGUF (from the architecture table). */
typedef struct {
    char name[64];         /* GGUF name, e.g. "blk.3.attn_q.weight"          */
    gf_tensor_kind kind;
    int slot;              /* gf_linear or gf_norm in the block (arch.h)     */
    int layer;             /* -1 outside the blocks                          */
    int64_t rows, cols;    /* expected HF shape (cols 0 for 1-D)             */
    int64_t permute_heads; /* llama q/k: rotate-half -> interleaved, per head; 0 = none */
} gf_tensor_map;

/* Maps a tensor name through the architecture table; unknown names are
 * GF_E_UNSUPPORTED naming the tensor. */
gf_status gf_map_tensor(const gf_hfcfg *hp, const char *hf_name, gf_tensor_map *m, gf_err *err);

/* Source row for GGUF row r of a q/k tensor permuted with n_heads heads of rows/n_heads rows:
 * llama.cpp's converter reorders each head's rows from (2, hd/2) to (hd/2, 2). */
int64_t gf_permute_row(int64_t r, int64_t rows, int64_t n_heads);

#endif /* GF_HFCONFIG_H */
