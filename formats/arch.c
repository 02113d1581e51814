/*
 * arch.c - the architecture table (see arch.h) and its lookups.
 *
 * Tensor names follow transformers' checkpoints on the Hugging Face side and
 * llama.cpp's LLM_TENSOR_NAMES on the GGUF side ("blk.N.<stem>.weight|bias");
 * the keys are the ones llama.cpp's converter writes for each architecture.
 * Adding an architecture: its tensors that are new to the table go into
 * `names`, then one entry in `archs`.
 */
#include "arch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---------------------------------------------------------------- tensors */

enum {
    T_EMBD, T_OUTPUT_NORM, T_OUTPUT,
    T_ATTN_NORM, T_Q, T_K, T_V, T_O, T_FFN_NORM, T_GATE, T_UP, T_DOWN,
    T_Q_BIAS, T_K_BIAS, T_V_BIAS, T_O_BIAS, T_GATE_BIAS, T_UP_BIAS, T_DOWN_BIAS,
    T_Q_NORM, T_K_NORM, T_ROPE_INV_FREQ, T_ROPE_FREQS, T_COUNT
};

/* Every tensor some architecture has.  Shapes are HF (rows, cols): a matrix is
 * (n_out, n_in); GGUF stores the same data with ne = {cols, rows}. */
static const gf_tensor_name names[T_COUNT] = {
    /* HF name                                   GGUF stem      kind          slot */
    [T_EMBD] = {"model.embed_tokens.weight", "token_embd", GF_TK_EMBED, -1, GF_DIM_VOCAB, GF_DIM_EMBD},
    [T_OUTPUT_NORM] = {"model.norm.weight", "output_norm", GF_TK_NORM, -1, GF_DIM_EMBD},
    [T_OUTPUT] = {"lm_head.weight", "output", GF_TK_OUTPUT, -1, GF_DIM_VOCAB, GF_DIM_EMBD},

    [T_ATTN_NORM] = {"model.layers.%d.input_layernorm.weight", "attn_norm", GF_TK_NORM, GF_NORM_ATTN, GF_DIM_EMBD},
    [T_Q] = {"model.layers.%d.self_attn.q_proj.weight", "attn_q", GF_TK_LINEAR, GF_LIN_Q, GF_DIM_Q, GF_DIM_EMBD,
             GF_DIM_HEADS},
    [T_K] = {"model.layers.%d.self_attn.k_proj.weight", "attn_k", GF_TK_LINEAR, GF_LIN_K, GF_DIM_KV, GF_DIM_EMBD,
             GF_DIM_HEADS_KV},
    [T_V] = {"model.layers.%d.self_attn.v_proj.weight", "attn_v", GF_TK_LINEAR, GF_LIN_V, GF_DIM_KV, GF_DIM_EMBD},
    [T_O] = {"model.layers.%d.self_attn.o_proj.weight", "attn_output", GF_TK_LINEAR, GF_LIN_O, GF_DIM_EMBD, GF_DIM_Q},
    [T_FFN_NORM] = {"model.layers.%d.post_attention_layernorm.weight", "ffn_norm", GF_TK_NORM, GF_NORM_FFN,
                    GF_DIM_EMBD},
    [T_GATE] = {"model.layers.%d.mlp.gate_proj.weight", "ffn_gate", GF_TK_LINEAR, GF_LIN_GATE, GF_DIM_FF, GF_DIM_EMBD},
    [T_UP] = {"model.layers.%d.mlp.up_proj.weight", "ffn_up", GF_TK_LINEAR, GF_LIN_UP, GF_DIM_FF, GF_DIM_EMBD},
    [T_DOWN] = {"model.layers.%d.mlp.down_proj.weight", "ffn_down", GF_TK_LINEAR, GF_LIN_DOWN, GF_DIM_EMBD, GF_DIM_FF},

    [T_Q_BIAS] = {"model.layers.%d.self_attn.q_proj.bias", "attn_q", GF_TK_BIAS, GF_LIN_Q, GF_DIM_Q, GF_DIM_NONE,
                  GF_DIM_HEADS, GF_WHEN_ATTN_BIAS},
    [T_K_BIAS] = {"model.layers.%d.self_attn.k_proj.bias", "attn_k", GF_TK_BIAS, GF_LIN_K, GF_DIM_KV, GF_DIM_NONE,
                  GF_DIM_HEADS_KV, GF_WHEN_ATTN_BIAS},
    [T_V_BIAS] = {"model.layers.%d.self_attn.v_proj.bias", "attn_v", GF_TK_BIAS, GF_LIN_V, GF_DIM_KV, GF_DIM_NONE,
                  GF_DIM_NONE, GF_WHEN_ATTN_BIAS},
    [T_O_BIAS] = {"model.layers.%d.self_attn.o_proj.bias", "attn_output", GF_TK_BIAS, GF_LIN_O, GF_DIM_EMBD,
                  GF_DIM_NONE, GF_DIM_NONE, GF_WHEN_ATTN_BIAS},
    [T_GATE_BIAS] = {"model.layers.%d.mlp.gate_proj.bias", "ffn_gate", GF_TK_BIAS, GF_LIN_GATE, GF_DIM_FF, GF_DIM_NONE,
                     GF_DIM_NONE, GF_WHEN_MLP_BIAS},
    [T_UP_BIAS] = {"model.layers.%d.mlp.up_proj.bias", "ffn_up", GF_TK_BIAS, GF_LIN_UP, GF_DIM_FF, GF_DIM_NONE,
                   GF_DIM_NONE, GF_WHEN_MLP_BIAS},
    [T_DOWN_BIAS] = {"model.layers.%d.mlp.down_proj.bias", "ffn_down", GF_TK_BIAS, GF_LIN_DOWN, GF_DIM_EMBD,
                     GF_DIM_NONE, GF_DIM_NONE, GF_WHEN_MLP_BIAS},

    /* qwen3: an RMSNorm of each head of q and k, before RoPE */
    [T_Q_NORM] = {"model.layers.%d.self_attn.q_norm.weight", "attn_q_norm", GF_TK_NORM, GF_NORM_Q, GF_DIM_HEAD},
    [T_K_NORM] = {"model.layers.%d.self_attn.k_norm.weight", "attn_k_norm", GF_TK_NORM, GF_NORM_K, GF_DIM_HEAD},

    [T_ROPE_INV_FREQ] = {"model.layers.%d.self_attn.rotary_emb.inv_freq", NULL, GF_TK_SKIP, -1},
    /* no HF tensor: the converter computes it from rope_scaling (hfconfig.c) */
    [T_ROPE_FREQS] = {"", "rope_freqs", GF_TK_ROPE_FREQS, -1, GF_DIM_NONE},
};

#define REQ(t) {&names[t], 1}
#define OPT(t) {&names[t], 0}

/* llama: biases only with attention_bias, and then optional. */
static const gf_arch_tensor llama_block[] = {
    REQ(T_ATTN_NORM), REQ(T_Q), REQ(T_K), REQ(T_V), REQ(T_O), REQ(T_FFN_NORM), REQ(T_GATE), REQ(T_UP), REQ(T_DOWN),
    OPT(T_Q_BIAS), OPT(T_K_BIAS), OPT(T_V_BIAS), OPT(T_O_BIAS), OPT(T_GATE_BIAS), OPT(T_UP_BIAS), OPT(T_DOWN_BIAS),
    OPT(T_ROPE_INV_FREQ),
};

/* qwen2: q/k/v always carry biases. */
static const gf_arch_tensor qwen2_block[] = {
    REQ(T_ATTN_NORM), REQ(T_Q), REQ(T_K), REQ(T_V), REQ(T_O), REQ(T_FFN_NORM), REQ(T_GATE), REQ(T_UP), REQ(T_DOWN),
    REQ(T_Q_BIAS), REQ(T_K_BIAS), REQ(T_V_BIAS), OPT(T_O_BIAS), OPT(T_GATE_BIAS), OPT(T_UP_BIAS), OPT(T_DOWN_BIAS),
    OPT(T_ROPE_INV_FREQ),
};

/* qwen3: no biases (attention_bias true is refused), per-head q/k norms. */
static const gf_arch_tensor qwen3_block[] = {
    REQ(T_ATTN_NORM), REQ(T_Q), REQ(T_K), REQ(T_V), REQ(T_O), REQ(T_FFN_NORM), REQ(T_GATE), REQ(T_UP), REQ(T_DOWN),
    REQ(T_Q_NORM), REQ(T_K_NORM), OPT(T_ROPE_INV_FREQ),
};

#define TOP {REQ(T_EMBD), REQ(T_OUTPUT_NORM), OPT(T_OUTPUT)}

/* The pre-norm decoder block: q/k/v read attn_norm's output, o reads attention
 * (a mix of v's rows), gate/up read ffn_norm's output, down reads silu(gate) * up. */
static const gf_lin_source prenorm_inputs[GF_LIN_COUNT] = {
    [GF_LIN_Q] = {GF_TK_NORM, GF_NORM_ATTN}, [GF_LIN_K] = {GF_TK_NORM, GF_NORM_ATTN},
    [GF_LIN_V] = {GF_TK_NORM, GF_NORM_ATTN}, [GF_LIN_O] = {GF_TK_LINEAR, GF_LIN_V},
    [GF_LIN_GATE] = {GF_TK_NORM, GF_NORM_FFN}, [GF_LIN_UP] = {GF_TK_NORM, GF_NORM_FFN},
    [GF_LIN_DOWN] = {GF_TK_LINEAR, GF_LIN_UP},
};

/* ---------------------------------------------------------------- architectures */

#define KEYS(...) .keys = {__VA_ARGS__}, .n_keys = N_OF(((const gf_hkey[]){__VA_ARGS__}))

static const gf_arch_info archs[GF_ARCH_COUNT] = {
    [GF_ARCH_LLAMA] = {
        .id = GF_ARCH_LLAMA, .gguf_name = "llama", .hf_classes = {"LlamaForCausalLM", "MistralForCausalLM"},
        .top = TOP, .block = llama_block, .n_block = N_OF(llama_block), .input = prenorm_inputs,
        .norm = GF_NORMK_RMS, .rope = GF_ROPE_NORM, .permute_qk = 1, .partial_rope = 1, .rope_freqs = 1,
        .attn_bias = GF_BIAS_BY_CONFIG, .explicit_head_dim = 1, /* Mistral Nemo: 5120 / 32 heads of 128 */
        .sliding_window_key = "sliding_window",
        KEYS(GF_HK_VOCAB_SIZE, GF_HK_CONTEXT_LENGTH, GF_HK_EMBEDDING_LENGTH, GF_HK_BLOCK_COUNT,
             GF_HK_FEED_FORWARD_LENGTH, GF_HK_ROPE_DIMENSION_COUNT, GF_HK_HEAD_COUNT, GF_HK_HEAD_COUNT_KV,
             GF_HK_ROPE_FREQ_BASE, GF_HK_RMS_EPS, GF_HK_KEY_LENGTH, GF_HK_VALUE_LENGTH),
    },
    [GF_ARCH_QWEN2] = {
        .id = GF_ARCH_QWEN2, .gguf_name = "qwen2", .hf_classes = {"Qwen2ForCausalLM"},
        .top = TOP, .block = qwen2_block, .n_block = N_OF(qwen2_block), .input = prenorm_inputs,
        .norm = GF_NORMK_RMS, .rope = GF_ROPE_NEOX, .attn_bias = GF_BIAS_ALWAYS,
        .sliding_window_key = "use_sliding_window",
        KEYS(GF_HK_CONTEXT_LENGTH, GF_HK_EMBEDDING_LENGTH, GF_HK_BLOCK_COUNT, GF_HK_FEED_FORWARD_LENGTH,
             GF_HK_HEAD_COUNT, GF_HK_HEAD_COUNT_KV, GF_HK_ROPE_FREQ_BASE, GF_HK_RMS_EPS),
    },
    /* qwen2's keys plus the key lengths, which llama.cpp's converter base class writes
     * whenever config.json has head_dim (c392e50 has no qwen3 to compare with). */
    [GF_ARCH_QWEN3] = {
        .id = GF_ARCH_QWEN3, .gguf_name = "qwen3", .hf_classes = {"Qwen3ForCausalLM"},
        .top = TOP, .block = qwen3_block, .n_block = N_OF(qwen3_block), .input = prenorm_inputs,
        .norm = GF_NORMK_RMS, .rope = GF_ROPE_NEOX, .qk_norm = 1, .attn_bias = GF_BIAS_NEVER,
        .explicit_head_dim = 1, .head_dim_default = 128,
        .sliding_window_key = "use_sliding_window",
        KEYS(GF_HK_CONTEXT_LENGTH, GF_HK_EMBEDDING_LENGTH, GF_HK_BLOCK_COUNT, GF_HK_FEED_FORWARD_LENGTH,
             GF_HK_HEAD_COUNT, GF_HK_HEAD_COUNT_KV, GF_HK_ROPE_FREQ_BASE, GF_HK_RMS_EPS, GF_HK_KEY_LENGTH,
             GF_HK_VALUE_LENGTH),
    },
};

static const struct {
    const char *name;
    int is_float;
} hkeys[GF_HK_COUNT] = {
    [GF_HK_VOCAB_SIZE] = {"vocab_size"},
    [GF_HK_CONTEXT_LENGTH] = {"context_length"},
    [GF_HK_EMBEDDING_LENGTH] = {"embedding_length"},
    [GF_HK_BLOCK_COUNT] = {"block_count"},
    [GF_HK_FEED_FORWARD_LENGTH] = {"feed_forward_length"},
    [GF_HK_ROPE_DIMENSION_COUNT] = {"rope.dimension_count"},
    [GF_HK_HEAD_COUNT] = {"attention.head_count"},
    [GF_HK_HEAD_COUNT_KV] = {"attention.head_count_kv"},
    [GF_HK_ROPE_FREQ_BASE] = {"rope.freq_base", 1},
    [GF_HK_RMS_EPS] = {"attention.layer_norm_rms_epsilon", 1},
    [GF_HK_KEY_LENGTH] = {"attention.key_length"},
    [GF_HK_VALUE_LENGTH] = {"attention.value_length"},
    [GF_HK_ROPE_SCALING_FACTOR] = {"rope.scaling.factor", 1},
    [GF_HK_ROPE_SCALING_ORIG_CTX] = {"rope.scaling.original_context_length"},
    [GF_HK_ROPE_SCALING_ATTN_FACTOR] = {"rope.scaling.attn_factor", 1},
};

static const char *const rope_scaling_names[GF_ROPE_SCALING_COUNT] = {
    [GF_ROPE_SCALING_NONE] = "none", [GF_ROPE_SCALING_LINEAR] = "linear", [GF_ROPE_SCALING_YARN] = "yarn"};

const char *gf_rope_scaling_name(gf_rope_scaling_kind k) {
    return (unsigned)k < GF_ROPE_SCALING_COUNT ? rope_scaling_names[k] : "?";
}

gf_rope_scaling_kind gf_rope_scaling_by_name(const char *name) {
    int k = 0;
    while (k < GF_ROPE_SCALING_COUNT && strcmp(rope_scaling_names[k], name)) k++;
    return (gf_rope_scaling_kind)k;
}

/* ---------------------------------------------------------------- lookups */

const gf_arch_info *gf_arch_get(gf_arch id) { return (unsigned)id < GF_ARCH_COUNT ? &archs[id] : NULL; }

const gf_arch_info *gf_arch_by_hf_class(const char *hf_class) {
    for (int a = 0; a < GF_ARCH_COUNT; a++)
        for (int i = 0; i < N_OF(archs[a].hf_classes) && archs[a].hf_classes[i]; i++)
            if (!strcmp(archs[a].hf_classes[i], hf_class)) return &archs[a];
    return NULL;
}

const gf_arch_info *gf_arch_by_gguf_name(const char *gguf_name) {
    for (int a = 0; a < GF_ARCH_COUNT; a++)
        if (!strcmp(archs[a].gguf_name, gguf_name)) return &archs[a];
    return NULL;
}

void gf_arch_list(int gguf_names, char *buf, size_t n) {
    size_t used = 0;
    buf[0] = 0;
    for (int a = 0; a < GF_ARCH_COUNT; a++)
        for (int i = 0; i < (gguf_names ? 1 : N_OF(archs[a].hf_classes)); i++) {
            const char *s = gguf_names ? archs[a].gguf_name : archs[a].hf_classes[i];
            if (!s || used >= n) continue;
            used += (size_t)snprintf(buf + used, n - used, "%s%s", used ? ", " : "", s);
        }
}

const char *gf_hkey_name(gf_hkey k) { return (unsigned)k < GF_HK_COUNT ? hkeys[k].name : "?"; }
int gf_hkey_is_float(gf_hkey k) { return (unsigned)k < GF_HK_COUNT && hkeys[k].is_float; }

int64_t gf_arch_dim(const gf_arch_dims *d, gf_dim dim) {
    switch (dim) {
    case GF_DIM_VOCAB: return d->n_vocab;
    case GF_DIM_EMBD: return d->n_embd;
    case GF_DIM_Q: return d->n_head * d->head_dim;
    case GF_DIM_KV: return d->n_head_kv * d->head_dim;
    case GF_DIM_FF: return d->n_ff;
    case GF_DIM_HEAD: return d->head_dim;
    case GF_DIM_HEADS: return d->n_head;
    case GF_DIM_HEADS_KV: return d->n_head_kv;
    default: return 0;
    }
}

static const gf_tensor_name *linear_row(gf_linear l) {
    for (int i = 0; i < T_COUNT; i++)
        if (names[i].kind == GF_TK_LINEAR && names[i].slot == (int)l) return &names[i];
    return NULL;
}

void gf_arch_linear_shape(const gf_arch_dims *d, gf_linear l, int64_t *n_out, int64_t *n_in) {
    const gf_tensor_name *t = linear_row(l);
    *n_out = t ? gf_arch_dim(d, t->rows) : 0;
    *n_in = t ? gf_arch_dim(d, t->cols) : 0;
}

const char *gf_linear_stem(gf_linear l) {
    const gf_tensor_name *t = linear_row(l);
    return t ? t->stem : "?";
}

int gf_tensor_gguf_name(const gf_tensor_name *t, int64_t layer, char *buf, size_t n) {
    if (!t->stem) return 0;
    const char *suffix = t->kind == GF_TK_BIAS ? "bias" : "weight";
    if (layer < 0) snprintf(buf, n, "%s.%s", t->stem, suffix);
    else snprintf(buf, n, "blk.%lld.%s.%s", (long long)layer, t->stem, suffix);
    return 1;
}

int gf_tensor_hf_name(const gf_tensor_name *t, int64_t layer, char *buf, size_t n) {
    const char *d = strstr(t->hf, "%d");
    if (!d) snprintf(buf, n, "%s", t->hf);
    else snprintf(buf, n, "%.*s%lld%s", (int)(d - t->hf), t->hf, (long long)layer, d + 2);
    return 1;
}

long gf_tensor_match_hf(const gf_tensor_name *t, const char *name) {
    const char *d = strstr(t->hf, "%d");
    if (!d) return -1;
    size_t pre = (size_t)(d - t->hf);
    if (strncmp(name, t->hf, pre) != 0) return -1;
    const char *p = name + pre;
    char *end;
    if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9')) return -1;
    long layer = strtol(p, &end, 10);
    return strcmp(end, d + 2) == 0 ? layer : -1;
}

static int in_block(const gf_tensor_name *t) { return strstr(t->hf, "%d") != NULL; }

const gf_tensor_name *gf_tensor_by_gguf_name(const char *name, int *layer) {
    char buf[96];
    int l = -1;
    *layer = -1;
    if (sscanf(name, "blk.%d.", &l) != 1 || l < 0) l = -1;
    for (int i = 0; i < T_COUNT; i++) {
        if (in_block(&names[i]) != (l >= 0) || !gf_tensor_gguf_name(&names[i], l, buf, sizeof buf)) continue;
        if (!strcmp(buf, name)) {
            *layer = l;
            return &names[i];
        }
    }
    return NULL;
}

const gf_tensor_name *gf_top_tensor(gf_top which) {
    static const int row[GF_TOP_COUNT] = {[GF_TOP_EMBD] = T_EMBD, [GF_TOP_OUTPUT_NORM] = T_OUTPUT_NORM,
                                          [GF_TOP_OUTPUT] = T_OUTPUT};
    return (unsigned)which < GF_TOP_COUNT ? &names[row[which]] : NULL;
}

const gf_tensor_name *gf_rope_freqs_tensor(void) { return &names[T_ROPE_FREQS]; }

const gf_arch_tensor *gf_arch_block_tensor(const gf_arch_info *a, gf_tensor_kind kind, int slot) {
    for (int i = 0; i < a->n_block; i++)
        if (a->block[i].t->kind == kind && a->block[i].t->slot == slot) return &a->block[i];
    return NULL;
}
