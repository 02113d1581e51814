/*
 * test_arch.c - the architecture table against names spelled independently here
 * (transformers' checkpoint names, llama.cpp's GGUF tensor and key names), through
 * the converter's mapping (gf_map_tensor), and its own consistency: every
 * architecture has the seven matrices and two norms, lookups round-trip, layer
 * numbers are parsed strictly.
 */
#include "../formats/arch.h"
#include "../formats/hfconfig.h"
#include "check.h"

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* a small config: hidden 64, 4 heads of 16, 2 KV heads, FF 96, 2 layers, vocab 100 */
static int config(const char *cls, int attn_bias, gf_hfcfg *hp) {
    char json[512];
    snprintf(json, sizeof json,
             "{\"architectures\": [\"%s\"], \"vocab_size\": 100, \"hidden_size\": 64, \"num_hidden_layers\": 2, "
             "\"intermediate_size\": 96, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
             "\"max_position_embeddings\": 128, \"attention_bias\": %s}", cls, attn_bias ? "true" : "false");
    gf_err e;
    return gf_hfcfg_from_json(json, strlen(json), "config.json", hp, &e) == GF_OK;
}

typedef struct {
    const char *hf, *gguf;
    gf_tensor_kind kind;
    int64_t rows, cols, permute_llama; /* permute heads when the arch is llama */
} expect;

static const expect block1[] = {
    {"model.layers.1.input_layernorm.weight", "blk.1.attn_norm.weight", GF_TK_NORM, 64, 0, 0},
    {"model.layers.1.self_attn.q_proj.weight", "blk.1.attn_q.weight", GF_TK_LINEAR, 64, 64, 4},
    {"model.layers.1.self_attn.k_proj.weight", "blk.1.attn_k.weight", GF_TK_LINEAR, 32, 64, 2},
    {"model.layers.1.self_attn.v_proj.weight", "blk.1.attn_v.weight", GF_TK_LINEAR, 32, 64, 0},
    {"model.layers.1.self_attn.o_proj.weight", "blk.1.attn_output.weight", GF_TK_LINEAR, 64, 64, 0},
    {"model.layers.1.self_attn.q_proj.bias", "blk.1.attn_q.bias", GF_TK_BIAS, 64, 0, 4},
    {"model.layers.1.self_attn.k_proj.bias", "blk.1.attn_k.bias", GF_TK_BIAS, 32, 0, 2},
    {"model.layers.1.self_attn.v_proj.bias", "blk.1.attn_v.bias", GF_TK_BIAS, 32, 0, 0},
    {"model.layers.1.post_attention_layernorm.weight", "blk.1.ffn_norm.weight", GF_TK_NORM, 64, 0, 0},
    {"model.layers.1.mlp.gate_proj.weight", "blk.1.ffn_gate.weight", GF_TK_LINEAR, 96, 64, 0},
    {"model.layers.1.mlp.up_proj.weight", "blk.1.ffn_up.weight", GF_TK_LINEAR, 96, 64, 0},
    {"model.layers.1.mlp.down_proj.weight", "blk.1.ffn_down.weight", GF_TK_LINEAR, 64, 96, 0},
    {"model.embed_tokens.weight", "token_embd.weight", GF_TK_EMBED, 100, 64, 0},
    {"model.norm.weight", "output_norm.weight", GF_TK_NORM, 64, 0, 0},
    {"lm_head.weight", "output.weight", GF_TK_OUTPUT, 100, 64, 0},
};

static void test_mapping(const char *cls, int is_llama) {
    gf_hfcfg hp;
    CHECK(config(cls, 1, &hp), "%s config", cls);
    gf_err e;
    for (int i = 0; i < N_OF(block1); i++) {
        const expect *x = &block1[i];
        gf_tensor_map m;
        int ok = gf_map_tensor(&hp, x->hf, &m, &e) == GF_OK;
        CHECK(ok && !strcmp(m.name, x->gguf) && m.kind == x->kind && m.rows == x->rows && m.cols == x->cols &&
              m.permute_heads == (is_llama ? x->permute_llama : 0) && m.layer == (strstr(x->hf, "layers") ? 1 : -1),
              "%s: %s -> %s (got %s, %lld x %lld, permute %lld)", cls, x->hf, x->gguf, ok ? m.name : "error",
              (long long)m.rows, (long long)m.cols, (long long)m.permute_heads);
        if (ok && m.kind == GF_TK_LINEAR) {
            int64_t n_out, n_in;
            const gf_arch_dims d = {hp.n_vocab, hp.n_embd, hp.n_head, hp.n_head_kv, hp.head_dim, hp.n_ff};
            gf_arch_linear_shape(&d, m.slot, &n_out, &n_in);
            CHECK(n_out == m.rows && n_in == m.cols, "%s: shape of matrix %d", x->gguf, m.slot);
            char stem[64];
            snprintf(stem, sizeof stem, "blk.1.%s.weight", gf_linear_stem(m.slot));
            CHECK(!strcmp(stem, x->gguf), "stem of %s: %s", x->gguf, gf_linear_stem(m.slot));
        }
    }
    gf_tensor_map m;
    CHECK(gf_map_tensor(&hp, "model.layers.0.self_attn.rotary_emb.inv_freq", &m, &e) == GF_OK && m.kind == GF_TK_SKIP,
          "%s: inv_freq is skipped", cls);
    static const char *refused[] = {
        "model.layers.2.self_attn.q_proj.weight",  /* past num_hidden_layers */
        "model.layers.01.self_attn.q_proj.weight", /* leading zero */
        "model.layers.-1.self_attn.q_proj.weight", "model.layers.+1.self_attn.q_proj.weight",
        "model.layers. 1.self_attn.q_proj.weight", "model.layers.1.self_attn.q_proj.weight.x",
        "model.layers.1.mlp.gate_proj.bias",       /* MLP biases are refused */
        "model.layers.1.self_attn.q_norm.weight",  /* neither arch has q/k norms */
        "model.layers.1.self_attn.q_proj.weight", /* with the next config: fine, this one is a control */
    };
    for (int i = 0; i < N_OF(refused) - 1; i++)
        CHECK(gf_map_tensor(&hp, refused[i], &m, &e) == GF_E_UNSUPPORTED, "%s: %s refused", cls, refused[i]);
    if (is_llama) { /* without attention_bias, llama's biases are unexpected */
        CHECK(config(cls, 0, &hp), "%s config without biases", cls);
        CHECK(gf_map_tensor(&hp, "model.layers.1.self_attn.q_proj.bias", &m, &e) == GF_E_UNSUPPORTED, "llama bias refused");
        CHECK(gf_map_tensor(&hp, refused[N_OF(refused) - 1], &m, &e) == GF_OK, "llama q_proj still maps");
    }
}

/* qwen3: heads of head_dim (128 when config.json has none, as Qwen3Config), the q/k
 * norms of llama.cpp's names, no biases. */
static void test_mapping_qwen3(void) {
    static const char *base = "{\"architectures\": [\"Qwen3ForCausalLM\"], \"vocab_size\": 100, \"hidden_size\": 64, "
                              "\"num_hidden_layers\": 2, \"intermediate_size\": 96, \"num_attention_heads\": 4, "
                              "\"num_key_value_heads\": 2, \"max_position_embeddings\": 128%s}";
    static const struct {
        const char *extra;
        int64_t hd;
    } cases[] = {{"", 128}, {", \"head_dim\": 24", 24}, {", \"head_dim\": null", 128}};
    for (int c = 0; c < N_OF(cases); c++) {
        char json[512];
        snprintf(json, sizeof json, base, cases[c].extra);
        gf_hfcfg hp;
        gf_err e = {0};
        CHECK(gf_hfcfg_from_json(json, strlen(json), "config.json", &hp, &e) == GF_OK, "qwen3: %s", e.msg);
        CHECK(hp.head_dim == cases[c].hd && hp.has_head_dim, "qwen3 head_dim %lld, want %lld", (long long)hp.head_dim,
              (long long)cases[c].hd);
        const int64_t hd = cases[c].hd;
        const expect x[] = {
            {"model.layers.1.self_attn.q_norm.weight", "blk.1.attn_q_norm.weight", GF_TK_NORM, hd, 0, 0},
            {"model.layers.1.self_attn.k_norm.weight", "blk.1.attn_k_norm.weight", GF_TK_NORM, hd, 0, 0},
            {"model.layers.1.self_attn.q_proj.weight", "blk.1.attn_q.weight", GF_TK_LINEAR, 4 * hd, 64, 0},
            {"model.layers.1.self_attn.k_proj.weight", "blk.1.attn_k.weight", GF_TK_LINEAR, 2 * hd, 64, 0},
            {"model.layers.1.self_attn.o_proj.weight", "blk.1.attn_output.weight", GF_TK_LINEAR, 64, 4 * hd, 0},
        };
        for (int i = 0; i < N_OF(x); i++) {
            gf_tensor_map m;
            int ok = gf_map_tensor(&hp, x[i].hf, &m, &e) == GF_OK;
            CHECK(ok && !strcmp(m.name, x[i].gguf) && m.kind == x[i].kind && m.rows == x[i].rows &&
                  m.cols == x[i].cols && !m.permute_heads, "qwen3: %s -> %s (got %s, %lld x %lld)", x[i].hf,
                  x[i].gguf, ok ? m.name : e.msg, (long long)m.rows, (long long)m.cols);
        }
        gf_tensor_map m;
        CHECK(gf_map_tensor(&hp, "model.layers.1.self_attn.q_proj.bias", &m, &e) == GF_E_UNSUPPORTED,
              "qwen3: a q bias is refused");
    }
}

/* the table's own consistency, for every architecture */
static void test_entries(void) {
    for (int id = 0; id < GF_ARCH_COUNT; id++) {
        const gf_arch_info *a = gf_arch_get(id);
        CHECK(a && a->id == (gf_arch)id, "entry %d", id);
        if (!a) continue;
        CHECK(gf_arch_by_gguf_name(a->gguf_name) == a, "%s by GGUF name", a->gguf_name);
        for (int i = 0; i < N_OF(a->hf_classes) && a->hf_classes[i]; i++)
            CHECK(gf_arch_by_hf_class(a->hf_classes[i]) == a, "%s by class", a->hf_classes[i]);
        for (int l = 0; l < GF_LIN_COUNT; l++) {
            const gf_arch_tensor *t = gf_arch_block_tensor(a, GF_TK_LINEAR, l);
            CHECK(t && t->required, "%s: matrix %d is required", a->gguf_name, l);
            const gf_lin_source *s = &a->input[l];
            CHECK((s->kind == GF_TK_NORM && s->slot >= 0 && s->slot < GF_NORM_COUNT) ||
                  (s->kind == GF_TK_LINEAR && s->slot >= 0 && s->slot < l), "%s: input of matrix %d", a->gguf_name, l);
        }
        for (int n = GF_NORM_ATTN; n <= GF_NORM_FFN; n++) {
            const gf_arch_tensor *t = gf_arch_block_tensor(a, GF_TK_NORM, n);
            CHECK(t && t->required, "%s: norm %d is required", a->gguf_name, n);
        }
        CHECK(!!gf_arch_block_tensor(a, GF_TK_NORM, GF_NORM_Q) == !!a->qk_norm &&
              !!gf_arch_block_tensor(a, GF_TK_NORM, GF_NORM_K) == !!a->qk_norm, "%s: q/k norms as qk_norm says",
              a->gguf_name);
        for (int i = 0; i < a->n_block; i++) { /* no two tensors share a slot or a name */
            char ni[96], nj[96], hi[96], hj[96];
            for (int j = i + 1; j < a->n_block; j++) {
                const gf_tensor_name *x = a->block[i].t, *y = a->block[j].t;
                int gi = gf_tensor_gguf_name(x, 3, ni, sizeof ni), gj = gf_tensor_gguf_name(y, 3, nj, sizeof nj);
                gf_tensor_hf_name(x, 3, hi, sizeof hi);
                gf_tensor_hf_name(y, 3, hj, sizeof hj);
                CHECK(strcmp(hi, hj) && (!gi || !gj || strcmp(ni, nj)) && !(x->kind == y->kind && x->slot == y->slot),
                      "%s: tensors %d and %d collide", a->gguf_name, i, j);
            }
            CHECK(gf_tensor_match_hf(a->block[i].t, (gf_tensor_hf_name(a->block[i].t, 17, hi, sizeof hi), hi)) == 17,
                  "%s: %s matches its own pattern", a->gguf_name, hi);
        }
    }
    char list[256];
    gf_arch_list(0, list, sizeof list);
    CHECK(!strcmp(list, "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM"), "class list: %s",
          list);
    CHECK(gf_arch_by_hf_class("MistralForCausalLM") == gf_arch_get(GF_ARCH_LLAMA), "Mistral is llama");
    int layer = 0;
    CHECK(gf_tensor_by_gguf_name("rope_freqs.weight", &layer) == gf_rope_freqs_tensor() && layer == -1 &&
              gf_rope_freqs_tensor()->kind == GF_TK_ROPE_FREQS,
          "rope_freqs.weight: the generated tensor outside the blocks");
    CHECK(gf_arch_get(GF_ARCH_LLAMA)->rope_freqs && !gf_arch_get(GF_ARCH_QWEN2)->rope_freqs,
          "rope_freqs: a llama feature");
    gf_arch_list(1, list, sizeof list);
    CHECK(!strcmp(list, "llama, qwen2, qwen3"), "GGUF list: %s", list);
    CHECK(gf_arch_by_hf_class("Qwen3ForCausalLM") == gf_arch_get(GF_ARCH_QWEN3) &&
              gf_arch_by_gguf_name("qwen3") == gf_arch_get(GF_ARCH_QWEN3) && !gf_arch_by_hf_class("Qwen3MoeForCausalLM"),
          "qwen3 known, its MoE not");
}

/* the features and the GGUF keys llama.cpp's converter writes for each */
static void test_features(void) {
    const gf_arch_info *l = gf_arch_get(GF_ARCH_LLAMA), *q = gf_arch_get(GF_ARCH_QWEN2);
    CHECK(l->rope == GF_ROPE_NORM && l->permute_qk && l->attn_bias == GF_BIAS_BY_CONFIG, "llama features");
    CHECK(q->rope == GF_ROPE_NEOX && !q->permute_qk && q->attn_bias == GF_BIAS_ALWAYS, "qwen2 features");
    CHECK(!gf_arch_block_tensor(l, GF_TK_BIAS, GF_LIN_Q)->required, "llama q bias optional");
    for (int b = GF_LIN_Q; b <= GF_LIN_O; b++)
        CHECK(gf_arch_block_tensor(q, GF_TK_BIAS, b)->required == (b != GF_LIN_O), "qwen2 bias %d required", b);
    static const char *llama_keys[] = {"vocab_size", "context_length", "embedding_length", "block_count",
                                       "feed_forward_length", "rope.dimension_count", "attention.head_count",
                                       "attention.head_count_kv", "rope.freq_base", "attention.layer_norm_rms_epsilon",
                                       "attention.key_length", "attention.value_length"};
    CHECK(l->n_keys == N_OF(llama_keys), "llama: %d keys", l->n_keys);
    for (int i = 0; i < l->n_keys && i < N_OF(llama_keys); i++)
        CHECK(!strcmp(gf_hkey_name(l->keys[i]), llama_keys[i]), "llama key %d: %s", i, gf_hkey_name(l->keys[i]));
    CHECK(q->n_keys == N_OF(llama_keys) - 4, "qwen2: %d keys", q->n_keys);
    for (int i = 0; i < q->n_keys; i++)
        CHECK(q->keys[i] != GF_HK_VOCAB_SIZE && q->keys[i] != GF_HK_ROPE_DIMENSION_COUNT &&
                  q->keys[i] != GF_HK_KEY_LENGTH && q->keys[i] != GF_HK_VALUE_LENGTH, "qwen2 key %d", i);
    /* qwen3: qwen2's keys and the key lengths; q/k norms of head_dim, no biases, heads of 128 by default */
    const gf_arch_info *q3 = gf_arch_get(GF_ARCH_QWEN3);
    CHECK(q3->rope == GF_ROPE_NEOX && !q3->permute_qk && q3->qk_norm && q3->explicit_head_dim &&
              q3->head_dim_default == 128 && q3->attn_bias == GF_BIAS_NEVER, "qwen3 features");
    CHECK(q3->n_keys == q->n_keys + 2, "qwen3: %d keys", q3->n_keys);
    for (int i = 0; i < q->n_keys; i++) CHECK(q3->keys[i] == q->keys[i], "qwen3 key %d is qwen2's", i);
    CHECK(!gf_arch_block_tensor(q3, GF_TK_BIAS, GF_LIN_Q), "qwen3: no q bias");
    for (int k = GF_NORM_Q; k <= GF_NORM_K; k++) {
        const gf_arch_tensor *t = gf_arch_block_tensor(q3, GF_TK_NORM, k);
        CHECK(t && t->required && t->t->rows == GF_DIM_HEAD, "qwen3: q/k norm %d required, [head_dim]", k);
    }
    CHECK(l->explicit_head_dim && !q->explicit_head_dim, "llama heads may be explicit (Mistral Nemo), qwen2's not");
    CHECK(gf_hkey_is_float(GF_HK_RMS_EPS) && gf_hkey_is_float(GF_HK_ROPE_FREQ_BASE) && !gf_hkey_is_float(GF_HK_BLOCK_COUNT),
          "key types");
}

int main(void) {
    test_mapping("LlamaForCausalLM", 1);
    test_mapping("Qwen2ForCausalLM", 0);
    test_mapping_qwen3();
    test_entries();
    test_features();
    return check_done("test_arch");
}
