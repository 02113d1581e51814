/*
 * hfconfig.c - config.json -> gf_hfcfg -> GGUF keys, and HF -> GGUF tensor names.
 *
 * Key names and defaults follow transformers' LlamaConfig and Qwen2Config; the
 * GGUF keys are the ones llama.cpp's converter writes for these architectures.
 * Refuses, with the key named, every feature whose conversion is not implemented.
 */
#include "hfconfig.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "json.h"

#define MAX_DIM ((int64_t)1 << 24)
#define GF_MAX_VOCAB ((int64_t)1 << 22) /* as formats/vocab.h GF_VOCAB_MAX_TOKENS */

static const char *str_or_null(const cJSON *obj, const char *key) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

static int is_set(const cJSON *obj, const char *key) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it || cJSON_IsNull(it) || cJSON_IsFalse(it)) return 0;
    if (cJSON_IsNumber(it)) return it->valuedouble != 0;
    return 1;
}

static gf_status parse_config(const cJSON *c, const char *name, gf_hfcfg *hp, gf_err *err) {
    memset(hp, 0, sizeof *hp);
    gf_status rc;
    if (!cJSON_IsObject(c)) return gf_errf(err, GF_E_FORMAT, "%s: not a JSON object", name);
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(c, "architectures");
    const cJSON *a0 = cJSON_IsArray(archs) ? cJSON_GetArrayItem(archs, 0) : NULL;
    if (!cJSON_IsString(a0))
        return gf_errf(err, GF_E_FORMAT, "%s: key 'architectures' is missing or not a list of strings", name);
    snprintf(hp->hf_arch, sizeof hp->hf_arch, "%s", a0->valuestring);
    if (strcmp(a0->valuestring, "LlamaForCausalLM") == 0) {
        hp->arch = GF_HF_LLAMA;
        hp->arch_name = "llama";
    } else if (strcmp(a0->valuestring, "Qwen2ForCausalLM") == 0) {
        hp->arch = GF_HF_QWEN2;
        hp->arch_name = "qwen2";
    } else {
        return gf_errf(err, GF_E_UNSUPPORTED, "%s: architecture '%.60s' is not supported (LlamaForCausalLM, Qwen2ForCausalLM)",
                       name, a0->valuestring);
    }

    /* features this version would convert wrongly */
    if (is_set(c, "rope_scaling"))
        return gf_errf(err, GF_E_UNSUPPORTED, "%s: key 'rope_scaling' is set; RoPE scaling is not supported yet", name);
    if (hp->arch == GF_HF_QWEN2 ? is_set(c, "use_sliding_window") : is_set(c, "sliding_window"))
        return gf_errf(err, GF_E_UNSUPPORTED, "%s: key '%s' enables sliding-window attention, which is not supported",
                       name, hp->arch == GF_HF_QWEN2 ? "use_sliding_window" : "sliding_window");
    static const char *moe_keys[] = {"num_experts", "num_local_experts", "n_routed_experts", "num_experts_per_tok"};
    for (size_t i = 0; i < sizeof moe_keys / sizeof moe_keys[0]; i++)
        if (is_set(c, moe_keys[i]))
            return gf_errf(err, GF_E_UNSUPPORTED, "%s: key '%s': mixture-of-experts models are not supported", name, moe_keys[i]);
    const char *act = str_or_null(c, "hidden_act");
    if (act && strcmp(act, "silu") != 0)
        return gf_errf(err, GF_E_UNSUPPORTED, "%s: key 'hidden_act' is '%.40s'; only silu is supported", name, act);
    if (is_set(c, "mlp_bias"))
        return gf_errf(err, GF_E_UNSUPPORTED, "%s: key 'mlp_bias' is true; MLP biases are not supported", name);

    if ((rc = gf_json_get_int(c, "vocab_size", 1, GF_MAX_VOCAB, name, &hp->n_vocab, err)) ||
        (rc = gf_json_get_int(c, "hidden_size", 1, MAX_DIM, name, &hp->n_embd, err)) ||
        (rc = gf_json_get_int(c, "num_hidden_layers", 1, 4096, name, &hp->n_layer, err)) ||
        (rc = gf_json_get_int(c, "intermediate_size", 1, MAX_DIM, name, &hp->n_ff, err)) ||
        (rc = gf_json_get_int(c, "num_attention_heads", 1, 65536, name, &hp->n_head, err)) ||
        (rc = gf_json_get_int_or(c, "num_key_value_heads", 1, 65536, hp->n_head, name, &hp->n_head_kv, err)) ||
        (rc = gf_json_get_int(c, "max_position_embeddings", 1, INT32_MAX, name, &hp->n_ctx_train, err)) ||
        (rc = gf_json_get_num_or(c, "rope_theta", 1, 10000.0, name, &hp->rope_theta, err)) ||
        (rc = gf_json_get_num_or(c, "rms_norm_eps", 1, 1e-6, name, &hp->rms_eps, err)) ||
        (rc = gf_json_get_bool_or(c, "tie_word_embeddings", 0, name, &hp->tie_word_embeddings, err)))
        return rc;
    if (hp->n_embd % hp->n_head)
        return gf_errf(err, GF_E_FORMAT, "%s: hidden_size %lld is not a multiple of num_attention_heads %lld", name,
                       (long long)hp->n_embd, (long long)hp->n_head);
    hp->head_dim = hp->n_embd / hp->n_head;
    if (hp->head_dim % 2) return gf_errf(err, GF_E_FORMAT, "%s: head size %lld is odd; RoPE needs pairs", name, (long long)hp->head_dim);
    if (hp->n_head % hp->n_head_kv)
        return gf_errf(err, GF_E_FORMAT, "%s: num_attention_heads %lld is not a multiple of num_key_value_heads %lld",
                       name, (long long)hp->n_head, (long long)hp->n_head_kv);
    int64_t hd;
    if ((rc = gf_json_get_int_or(c, "head_dim", 0, MAX_DIM, hp->head_dim, name, &hd, err))) return rc;
    if (hd != hp->head_dim)
        return gf_errf(err, GF_E_UNSUPPORTED, "%s: key 'head_dim' is %lld but hidden_size/num_attention_heads is %lld; "
                       "a separate head size is not supported", name, (long long)hd, (long long)hp->head_dim);
    if (!(hp->rope_theta > 0) || !(hp->rms_eps > 0))
        return gf_errf(err, GF_E_FORMAT, "%s: rope_theta and rms_norm_eps must be positive", name);
    if (hp->arch == GF_HF_QWEN2) hp->attn_bias = 1;
    else if ((rc = gf_json_get_bool_or(c, "attention_bias", 0, name, &hp->attn_bias, err))) return rc;
    return GF_OK;
}

gf_status gf_hfcfg_from_json(const char *text, size_t len, const char *name, gf_hfcfg *hp, gf_err *err) {
    cJSON *c = NULL;
    gf_status rc = gf_json_parse(text, len, name, &c, err);
    if (!rc) rc = parse_config(c, name, hp, err);
    cJSON_Delete(c);
    return rc;
}

gf_status gf_hfcfg_load(const char *model_dir, gf_hfcfg *hp, gf_err *err) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/config.json", model_dir);
    char *text = NULL;
    size_t len = 0;
    gf_status rc = gf_read_file(path, 16u << 20, &text, &len, err);
    if (!rc) rc = gf_hfcfg_from_json(text, len, path, hp, err);
    free(text);
    return rc;
}

gf_status gf_hfcfg_to_gguf(const gf_hfcfg *hp, gf_gguf_writer *w, gf_err *err) {
    char k[128];
    const char *a = hp->arch_name;
    gf_status rc = gf_gguf_set_str(w, "general.architecture", a);
#define SETU(key, v) if (!rc) { snprintf(k, sizeof k, "%s." key, a); rc = gf_gguf_set_u32(w, k, (uint32_t)(v)); }
#define SETF(key, v) if (!rc) { snprintf(k, sizeof k, "%s." key, a); rc = gf_gguf_set_f32(w, k, (float)(v)); }
    if (hp->arch == GF_HF_LLAMA) SETU("vocab_size", hp->n_vocab);
    SETU("context_length", hp->n_ctx_train);
    SETU("embedding_length", hp->n_embd);
    SETU("block_count", hp->n_layer);
    SETU("feed_forward_length", hp->n_ff);
    if (hp->arch == GF_HF_LLAMA) SETU("rope.dimension_count", hp->head_dim);
    SETU("attention.head_count", hp->n_head);
    SETU("attention.head_count_kv", hp->n_head_kv);
    SETF("rope.freq_base", hp->rope_theta);
    SETF("attention.layer_norm_rms_epsilon", hp->rms_eps);
#undef SETU
#undef SETF
    return rc ? gf_errf(err, rc, "out of memory writing architecture keys") : GF_OK;
}

/* ---------------------------------------------------------------- tensor names */

typedef struct {
    const char *hf;          /* suffix after "model.layers.N." */
    const char *gguf;        /* suffix after "blk.N."          */
    gf_tensor_kind kind;
    char rows, cols;         /* 'e' n_embd, 'q' n_head*hd, 'k' n_head_kv*hd, 'f' n_ff, 0 none */
    char permute;            /* 'q' or 'k' for llama's rotate-half reordering */
} layer_entry;

static const layer_entry layer_map[] = {
    {"input_layernorm.weight", "attn_norm.weight", GF_TK_NORM, 'e', 0, 0},
    {"self_attn.q_proj.weight", "attn_q.weight", GF_TK_LINEAR, 'q', 'e', 'q'},
    {"self_attn.k_proj.weight", "attn_k.weight", GF_TK_LINEAR, 'k', 'e', 'k'},
    {"self_attn.v_proj.weight", "attn_v.weight", GF_TK_LINEAR, 'k', 'e', 0},
    {"self_attn.o_proj.weight", "attn_output.weight", GF_TK_LINEAR, 'e', 'q', 0},
    {"self_attn.q_proj.bias", "attn_q.bias", GF_TK_BIAS, 'q', 0, 'q'},
    {"self_attn.k_proj.bias", "attn_k.bias", GF_TK_BIAS, 'k', 0, 'k'},
    {"self_attn.v_proj.bias", "attn_v.bias", GF_TK_BIAS, 'k', 0, 0},
    {"self_attn.o_proj.bias", "attn_output.bias", GF_TK_BIAS, 'e', 0, 0},
    {"post_attention_layernorm.weight", "ffn_norm.weight", GF_TK_NORM, 'e', 0, 0},
    {"mlp.gate_proj.weight", "ffn_gate.weight", GF_TK_LINEAR, 'f', 'e', 0},
    {"mlp.up_proj.weight", "ffn_up.weight", GF_TK_LINEAR, 'f', 'e', 0},
    {"mlp.down_proj.weight", "ffn_down.weight", GF_TK_LINEAR, 'e', 'f', 0},
    {"self_attn.rotary_emb.inv_freq", "", GF_TK_SKIP, 0, 0, 0},
};

static int64_t dim_of(const gf_hfcfg *hp, char c) {
    switch (c) {
    case 'e': return hp->n_embd;
    case 'q': return hp->n_head * hp->head_dim;
    case 'k': return hp->n_head_kv * hp->head_dim;
    case 'f': return hp->n_ff;
    default: return 0;
    }
}

gf_status gf_map_tensor(const gf_hfcfg *hp, const char *hf, gf_tensor_map *m, gf_err *err) {
    memset(m, 0, sizeof *m);
    m->layer = -1;
    if (strcmp(hf, "model.embed_tokens.weight") == 0) {
        snprintf(m->name, sizeof m->name, "token_embd.weight");
        m->kind = GF_TK_EMBED;
        m->rows = hp->n_vocab;
        m->cols = hp->n_embd;
        return GF_OK;
    }
    if (strcmp(hf, "lm_head.weight") == 0) {
        snprintf(m->name, sizeof m->name, "output.weight");
        m->kind = GF_TK_OUTPUT;
        m->rows = hp->n_vocab;
        m->cols = hp->n_embd;
        return GF_OK;
    }
    if (strcmp(hf, "model.norm.weight") == 0) {
        snprintf(m->name, sizeof m->name, "output_norm.weight");
        m->kind = GF_TK_NORM;
        m->rows = hp->n_embd;
        return GF_OK;
    }
    const char *prefix = "model.layers.";
    if (strncmp(hf, prefix, strlen(prefix)) == 0) {
        const char *p = hf + strlen(prefix);
        char *end;
        long layer = strtol(p, &end, 10);
        if (end != p && *end == '.' && p[0] != '-' && p[0] != '+' && !(p[0] == '0' && end - p > 1) &&
            layer < hp->n_layer) {
            for (size_t i = 0; i < sizeof layer_map / sizeof layer_map[0]; i++) {
                const layer_entry *e = &layer_map[i];
                if (strcmp(end + 1, e->hf) != 0) continue;
                if (e->kind == GF_TK_BIAS && !hp->attn_bias) break; /* unexpected bias: refuse below */
                m->kind = e->kind;
                m->layer = (int)layer;
                if (e->kind == GF_TK_SKIP) return GF_OK;
                snprintf(m->name, sizeof m->name, "blk.%ld.%s", layer, e->gguf);
                m->rows = dim_of(hp, e->rows);
                m->cols = dim_of(hp, e->cols);
                if (hp->arch == GF_HF_LLAMA && e->permute)
                    m->permute_heads = e->permute == 'q' ? hp->n_head : hp->n_head_kv;
                return GF_OK;
            }
        }
    }
    return gf_errf(err, GF_E_UNSUPPORTED, "tensor '%s' is not part of a %s model this version converts", hf, hp->hf_arch);
}

int64_t gf_permute_row(int64_t r, int64_t rows, int64_t n_heads) {
    int64_t hd = rows / n_heads, half = hd / 2;
    int64_t h = r / hd, i = r % hd; /* GGUF row i of head h is pair (i/2, i%2) */
    return h * hd + (i % 2) * half + i / 2;
}
