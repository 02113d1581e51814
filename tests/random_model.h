/*
 * random_model.h - writes a small random-weight Hugging Face model folder for
 * tests: config.json for a llama, qwen2 or qwen3 shape (heads of hidden/heads or of
 * an explicit head_dim; qwen3's q/k norms), the tokenizer shipped with the
 * demo model (models/qwen2-tiny, so the folder needs nothing outside the repo;
 * or a config.json given whole, which must agree with the shape),
 * and F32 safetensors, single or as two shards with an index.  Test code only.
 */
#ifndef GF_RANDOM_MODEL_H
#define GF_RANDOM_MODEL_H

#include <sys/stat.h>

#include "../common/gf.h"
#include "st_write.h"

#define R_VOCAB 2051 /* the bundled qwen2-tiny tokenizer's size */

typedef struct {
    int qwen2;        /* Qwen2ForCausalLM (q/k/v biases) instead of LlamaForCausalLM */
    int qwen3;        /* Qwen3ForCausalLM (q/k norms, no biases) instead               */
    int embd, heads, kv_heads, ff, layers;
    int head_dim;     /* written as config.json's head_dim; 0: embd/heads, no key       */
    int tied;         /* no lm_head.weight */
    uint64_t seed;
    float wscale;     /* weights (not norms) uniform in [-wscale, wscale]; 0: 1 */
    const char *config; /* config.json written as given (a real model's, shrunk), or NULL */
} rm_spec;

typedef struct {
    char name[96];
    int64_t rows, cols; /* cols 0: 1-D */
    float *w;
} rt;

static inline int rm_write(const char *dir, const rm_spec *sp, rt *ts, int *n_ts, int sharded) {
    char path[1024], cfg[2048], hd_key[32] = "";
    mkdir(dir, 0755);
    if (sp->head_dim) snprintf(hd_key, sizeof hd_key, "\"head_dim\":%d,", sp->head_dim);
    snprintf(cfg, sizeof cfg,
             "{\"architectures\":[\"%s\"],%s\"hidden_size\":%d,\"intermediate_size\":%d,"
             "\"num_hidden_layers\":%d,\"num_attention_heads\":%d,\"num_key_value_heads\":%d,\"vocab_size\":%d,"
             "\"max_position_embeddings\":256,\"rms_norm_eps\":1e-5,\"rope_theta\":10000.0,\"tie_word_embeddings\":%s,"
             "\"hidden_act\":\"silu\",\"rope_scaling\":null}",
             sp->qwen3 ? "Qwen3ForCausalLM" : sp->qwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM", hd_key, sp->embd,
             sp->ff, sp->layers, sp->heads, sp->kv_heads,
             R_VOCAB, sp->tied ? "true" : "false");
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (stw_write_text(path, sp->config ? sp->config : cfg)) return -1;
    static const char *tok_files[] = {"tokenizer.json", "tokenizer_config.json"};
    for (int i = 0; i < 2; i++) {
        char src[256], *text = NULL;
        gf_err err;
        snprintf(src, sizeof src, "models/qwen2-tiny/%s", tok_files[i]);
        if (gf_read_file(src, 1 << 24, &text, NULL, &err)) return -1;
        snprintf(path, sizeof path, "%s/%s", dir, tok_files[i]);
        int rc = stw_write_text(path, text);
        free(text);
        if (rc) return -1;
    }
    uint64_t seed = sp->seed ? sp->seed : 42;
    int n = 0, hd = sp->head_dim ? sp->head_dim : sp->embd / sp->heads;
#define ADD(nm, r, c) do { snprintf(ts[n].name, sizeof ts[n].name, "%s", nm); ts[n].rows = r; ts[n].cols = c; n++; } while (0)
    ADD("model.embed_tokens.weight", R_VOCAB, sp->embd);
    if (!sp->tied) ADD("lm_head.weight", R_VOCAB, sp->embd);
    ADD("model.norm.weight", sp->embd, 0);
    for (int l = 0; l < sp->layers; l++) {
        char nm[96];
#define ADDL(suffix, r, c) do { snprintf(nm, sizeof nm, "model.layers.%d.%s", l, suffix); ADD(nm, r, c); } while (0)
        ADDL("input_layernorm.weight", sp->embd, 0);
        ADDL("self_attn.q_proj.weight", sp->heads * hd, sp->embd);
        ADDL("self_attn.k_proj.weight", sp->kv_heads * hd, sp->embd);
        ADDL("self_attn.v_proj.weight", sp->kv_heads * hd, sp->embd);
        if (sp->qwen2) {
            ADDL("self_attn.q_proj.bias", sp->heads * hd, 0);
            ADDL("self_attn.k_proj.bias", sp->kv_heads * hd, 0);
            ADDL("self_attn.v_proj.bias", sp->kv_heads * hd, 0);
        }
        if (sp->qwen3) {
            ADDL("self_attn.q_norm.weight", hd, 0);
            ADDL("self_attn.k_norm.weight", hd, 0);
        }
        ADDL("self_attn.o_proj.weight", sp->embd, sp->heads * hd);
        ADDL("post_attention_layernorm.weight", sp->embd, 0);
        ADDL("mlp.gate_proj.weight", sp->ff, sp->embd);
        ADDL("mlp.up_proj.weight", sp->ff, sp->embd);
        ADDL("mlp.down_proj.weight", sp->embd, sp->ff);
#undef ADDL
    }
#undef ADD
    stw_tensor st[64];
    for (int i = 0; i < n; i++) {
        int64_t cnt = ts[i].rows * (ts[i].cols ? ts[i].cols : 1);
        ts[i].w = malloc((size_t)cnt * sizeof(float));
        int norm = strstr(ts[i].name, "norm") != NULL;
        const float ws = sp->wscale > 0 ? sp->wscale : 1.0f;
        for (int64_t k = 0; k < cnt; k++) ts[i].w[k] = norm ? 1.0f + 0.2f * stw_rand(&seed) : ws * stw_rand(&seed);
        st[i] = (stw_tensor){ts[i].name, "F32", ts[i].cols ? 2 : 1, {ts[i].rows, ts[i].cols}, ts[i].w, (size_t)cnt * 4};
    }
    *n_ts = n;
    if (!sharded) {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        return stw_write(path, st, n);
    }
    int half = n / 2;
    snprintf(path, sizeof path, "%s/model-00001-of-00002.safetensors", dir);
    if (stw_write(path, st, half)) return -1;
    snprintf(path, sizeof path, "%s/model-00002-of-00002.safetensors", dir);
    if (stw_write(path, st + half, n - half)) return -1;
    char *idx = malloc(1 << 16);
    size_t len = (size_t)snprintf(idx, 1 << 16, "{\"metadata\":{\"total_size\":0},\"weight_map\":{");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(idx + len, (1 << 16) - len, "%s\"%s\":\"model-0000%d-of-00002.safetensors\"", i ? "," : "",
                                ts[i].name, i < half ? 1 : 2);
    snprintf(idx + len, (1 << 16) - len, "}}");
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    int rc = stw_write_text(path, idx);
    free(idx);
    return rc;
}

static inline void rm_free(rt *ts, int n) {
    for (int i = 0; i < n; i++) free(ts[i].w);
}

#endif /* GF_RANDOM_MODEL_H */
