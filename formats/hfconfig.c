/*
 * hfconfig.c - config.json -> gf_hfcfg -> GGUF keys, and HF -> GGUF tensor names.
 *
 * Key names and defaults follow transformers' LlamaConfig, Qwen2Config and Qwen3Config; which
 * GGUF keys and tensors an architecture has comes from its entry in arch.h.
 * Refuses, with the key named, every feature whose conversion is not implemented.
 */
#include "hfconfig.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

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

/* head_dim: hidden_size / num_attention_heads, or config.json's head_dim (the
 * arch's default when absent or null) for an architecture whose heads may be wider
 * or narrower than that; then the key lengths are written, as llama.cpp writes them
 * whenever config.json has head_dim. */
static gf_status head_size(const cJSON *c, const char *name, const gf_arch_info *a, gf_hfcfg *hp, gf_err *err) {
    gf_status rc;
    const cJSON *hd_key = cJSON_GetObjectItemCaseSensitive(c, "head_dim");
    const int given = hd_key && !cJSON_IsNull(hd_key);
    if (a->explicit_head_dim && given) {
        if ((rc = gf_json_get_int(c, "head_dim", 1, MAX_DIM, name, &hp->head_dim, err))) return rc;
        hp->has_head_dim = 1;
    } else if (a->explicit_head_dim && a->head_dim_default) {
        hp->head_dim = a->head_dim_default;
        hp->has_head_dim = 1;
    } else {
        if (hp->n_embd % hp->n_head)
            return gf_errf(err, GF_E_FORMAT, "%s: hidden_size %lld is not a multiple of num_attention_heads %lld", name,
                           (long long)hp->n_embd, (long long)hp->n_head);
        hp->head_dim = hp->n_embd / hp->n_head;
    }
    if (hp->head_dim % 2) return gf_errf(err, GF_E_FORMAT, "%s: head size %lld is odd; RoPE needs pairs", name, (long long)hp->head_dim);
    if (hp->n_head % hp->n_head_kv)
        return gf_errf(err, GF_E_FORMAT, "%s: num_attention_heads %lld is not a multiple of num_key_value_heads %lld",
                       name, (long long)hp->n_head, (long long)hp->n_head_kv);
    if (a->explicit_head_dim || !given) return GF_OK;
    int64_t hd;
    if ((rc = gf_json_get_int(c, "head_dim", 0, MAX_DIM, name, &hd, err))) return rc;
    if (hd != hp->head_dim)
        return gf_errf(err, GF_E_UNSUPPORTED, "%s: key 'head_dim' is %lld but hidden_size/num_attention_heads is %lld; "
                       "a separate head size is not supported for %s", name, (long long)hd, (long long)hp->head_dim,
                       a->gguf_name);
    return GF_OK;
}

/* llama3 {factor, low_freq_factor, high_freq_factor, original_max_position_embeddings}:
 * the divisor of each pair's angle, rope_freqs, computed as llama.cpp's converter
 * (LlamaModel.generate_extra_tensors) does with torch: the frequencies and the smooth
 * blend in float32, the defaults 8, 1, 4, 8192. */
static gf_status llama3_freqs(const cJSON *rs, const char *name, const char *sub, gf_hfcfg *hp, gf_err *err) {
    double factor, low, high, old;
    gf_status rc;
    if ((rc = gf_json_get_num_or(rs, "factor", 1, 8.0, sub, &factor, err)) ||
        (rc = gf_json_get_num_or(rs, "low_freq_factor", 1, 1.0, sub, &low, err)) ||
        (rc = gf_json_get_num_or(rs, "high_freq_factor", 1, 4.0, sub, &high, err)) ||
        (rc = gf_json_get_num_or(rs, "original_max_position_embeddings", 1, 8192.0, sub, &old, err)))
        return rc;
    if (!(factor > 0) || !(low > 0) || !(high > low) || !(old >= 1))
        return gf_errf(err, GF_E_FORMAT, "%s: key 'rope_scaling' needs factor > 0, 0 < low_freq_factor < "
                       "high_freq_factor and original_max_position_embeddings >= 1", name);
    if (hp->head_dim / 2 > GF_ROPE_FREQS_MAX)
        return gf_errf(err, GF_E_UNSUPPORTED, "%s: key 'rope_scaling' with head size %lld: at most %d is supported",
                       name, (long long)hp->head_dim, 2 * GF_ROPE_FREQS_MAX);
    const float low_wl = (float)(old / low), high_wl = (float)(old / high);
    hp->n_rope_freqs = (int)(hp->head_dim / 2);
    for (int i = 0; i < hp->n_rope_freqs; i++) {
        float freq = 1.0f / powf((float)hp->rope_theta, (float)(2 * i) / (float)hp->head_dim);
        float wavelen = (float)(2.0 * M_PI) / freq, ff;
        if (wavelen < high_wl) ff = 1.0f;
        else if (wavelen > low_wl) ff = (float)factor;
        else {
            float smooth = ((float)old / wavelen - (float)low) / (float)(high - low);
            ff = 1.0f / ((1.0f - smooth) / (float)factor + smooth);
        }
        hp->rope_freqs[i] = ff;
    }
    return GF_OK;
}

/* linear {factor} and yarn {factor, original_max_position_embeddings} become the
 * rope.scaling.* keys llama.cpp reads (its converter writes linear only for llama and
 * yarn only for qwen2; here either, for every architecture).  llama.cpp applies yarn
 * with GGML's beta_fast 32, beta_slow 1 and magnitude 1 + 0.1 ln(factor), which are
 * transformers' defaults: another value of those settings would give other angles,
 * so it is refused by name. */
static gf_status scaling_keys(const cJSON *rs, gf_rope_scaling_kind kind, const char *name, const char *sub,
                              gf_hfcfg *hp, gf_err *err) {
    double factor, orig = 0, v;
    gf_status rc;
    if ((rc = gf_json_get_num_or(rs, "factor", 0, 0, sub, &factor, err))) return rc;
    if (!(factor > 0) || !(factor < 1e6))
        return gf_errf(err, GF_E_FORMAT, "%s: key 'rope_scaling.factor' = %g must be positive", name, factor);
    if (kind == GF_ROPE_SCALING_YARN) {
        static const struct { const char *key; double want; } fixed[] = {{"beta_fast", 32}, {"beta_slow", 1}};
        for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
            if ((rc = gf_json_get_num_or(rs, fixed[i].key, 1, fixed[i].want, sub, &v, err))) return rc;
            if (v != fixed[i].want)
                return gf_errf(err, GF_E_UNSUPPORTED, "%s: key 'rope_scaling.%s' = %g is not supported (llama.cpp "
                               "uses %g)", name, fixed[i].key, v, fixed[i].want);
        }
        const double mag = 1.0 + 0.1 * log(factor);
        if ((rc = gf_json_get_num_or(rs, "attention_factor", 1, mag, sub, &v, err))) return rc;
        if (fabs(v - mag) > 1e-6 * mag || is_set(rs, "mscale") || is_set(rs, "mscale_all_dim"))
            return gf_errf(err, GF_E_UNSUPPORTED, "%s: key 'rope_scaling.%s' is not supported (llama.cpp scales "
                           "yarn by 1 + 0.1 ln(factor))", name, fabs(v - mag) > 1e-6 * mag ? "attention_factor" :
                           is_set(rs, "mscale") ? "mscale" : "mscale_all_dim");
        const cJSON *tr = cJSON_GetObjectItemCaseSensitive(rs, "truncate");
        if (cJSON_IsFalse(tr))
            return gf_errf(err, GF_E_UNSUPPORTED, "%s: key 'rope_scaling.truncate' = false is not supported", name);
        if ((rc = gf_json_get_num_or(rs, "original_max_position_embeddings", 1, 0, sub, &orig, err))) return rc;
        if (!(orig >= 0) || orig > INT32_MAX || orig != floor(orig))
            return gf_errf(err, GF_E_FORMAT, "%s: key 'rope_scaling.original_max_position_embeddings' = %g is out "
                           "of range", name, orig);
    }
    hp->rope_scaling = (gf_rope_scaling){.kind = kind, .factor = (float)factor, .n_ctx_orig = (int64_t)orig,
                                         .attn_factor = 1.0f};
    return GF_OK;
}

/* rope_scaling {rope_type (or type): llama3 | linear | yarn, ...}; transformers 5
 * writes the same object as rope_parameters, with rope_theta inside and rope_type
 * "default" for none.  Every other type is refused, naming the key. */
static gf_status rope_scaling(const cJSON *c, const char *name, const gf_arch_info *a, gf_hfcfg *hp, gf_err *err) {
    const char *key = "rope_parameters";
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(c, key);
    if (!rs || cJSON_IsNull(rs)) rs = cJSON_GetObjectItemCaseSensitive(c, key = "rope_scaling");
    hp->rope_scaling = (gf_rope_scaling){.kind = GF_ROPE_SCALING_NONE, .factor = 1.0f, .attn_factor = 1.0f};
    if (!rs || cJSON_IsNull(rs)) return GF_OK;
    char sub[320];
    snprintf(sub, sizeof sub, "%s: %s", name, key);
    gf_status rc;
    if (cJSON_IsObject(rs) && cJSON_GetObjectItemCaseSensitive(rs, "rope_theta")) {
        if ((rc = gf_json_get_num_or(rs, "rope_theta", 0, 0, sub, &hp->rope_theta, err))) return rc;
        if (!(hp->rope_theta > 0))
            return gf_errf(err, GF_E_FORMAT, "%s: key '%s.rope_theta' must be positive", name, key);
    }
    const char *type = cJSON_IsObject(rs) ? str_or_null(rs, "rope_type") : NULL;
    if (cJSON_IsObject(rs) && !type) type = str_or_null(rs, "type");
    if (type && !strcasecmp(type, "default")) return GF_OK;
    if (type && !strcasecmp(type, "llama3") && a->rope_freqs) return llama3_freqs(rs, name, sub, hp, err);
    gf_rope_scaling_kind k = type ? gf_rope_scaling_by_name(type) : GF_ROPE_SCALING_COUNT;
    if (k == GF_ROPE_SCALING_LINEAR || k == GF_ROPE_SCALING_YARN) return scaling_keys(rs, k, name, sub, hp, err);
    return gf_errf(err, GF_E_UNSUPPORTED, "%s: key '%s' (type '%.40s') is not supported for %s; linear, yarn%s "
                   "are", name, key, type ? type : "?", a->gguf_name, a->rope_freqs ? " and llama3" : "");
}

/* A sliding window at least as long as the context is no window (Mistral-7B-v0.3
 * writes null; llama.cpp's converter ignores the key for a llama model). */
static gf_status sliding_window(const cJSON *c, const char *name, const gf_arch_info *a, const gf_hfcfg *hp,
                                gf_err *err) {
    const cJSON *sw = cJSON_GetObjectItemCaseSensitive(c, a->sliding_window_key);
    if (!is_set(c, a->sliding_window_key) || (cJSON_IsNumber(sw) && sw->valuedouble >= (double)hp->n_ctx_train))
        return GF_OK;
    return gf_errf(err, GF_E_UNSUPPORTED, "%s: key '%s' enables sliding-window attention (shorter than "
                   "max_position_embeddings %lld), which is not supported", name, a->sliding_window_key,
                   (long long)hp->n_ctx_train);
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
    /* experts first, so that Qwen3MoeForCausalLM and the like are told why */
    static const char *moe_keys[] = {"num_experts", "num_local_experts", "n_routed_experts", "num_experts_per_tok"};
    for (size_t i = 0; i < sizeof moe_keys / sizeof moe_keys[0]; i++)
        if (is_set(c, moe_keys[i]))
            return gf_errf(err, GF_E_UNSUPPORTED, "%s: key '%s' (%.60s): mixture-of-experts models are not supported",
                           name, moe_keys[i], a0->valuestring);
    const gf_arch_info *a = gf_arch_by_hf_class(a0->valuestring);
    if (!a) {
        char known[256];
        gf_arch_list(0, known, sizeof known);
        return gf_errf(err, GF_E_UNSUPPORTED, "%s: architecture '%.60s' is not supported (%s)", name, a0->valuestring,
                       known);
    }
    hp->info = a;
    hp->arch = a->id;
    hp->arch_name = a->gguf_name;

    /* features this version would convert wrongly (rope_scaling and sliding windows below) */
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
        (rc = gf_json_get_bool_or(c, "tie_word_embeddings", a->tied_default, name, &hp->tie_word_embeddings, err)))
        return rc;
    if ((rc = head_size(c, name, a, hp, err))) return rc;
    if (!(hp->rope_theta > 0) || !(hp->rms_eps > 0))
        return gf_errf(err, GF_E_FORMAT, "%s: rope_theta and rms_norm_eps must be positive", name);
    if ((rc = sliding_window(c, name, a, hp, err)) || (rc = rope_scaling(c, name, a, hp, err))) return rc;
    if (a->attn_bias == GF_BIAS_ALWAYS) hp->attn_bias = 1;
    else if ((rc = gf_json_get_bool_or(c, "attention_bias", 0, name, &hp->attn_bias, err))) return rc;
    if (a->attn_bias == GF_BIAS_NEVER && hp->attn_bias)
        return gf_errf(err, GF_E_UNSUPPORTED, "%s: key 'attention_bias' is true; %s has no attention biases here",
                       name, a->gguf_name);
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

/* The value of architecture key k for this config. */
static double key_value(const gf_hfcfg *hp, gf_hkey k) {
    switch (k) {
    case GF_HK_VOCAB_SIZE: return (double)hp->n_vocab;
    case GF_HK_CONTEXT_LENGTH: return (double)hp->n_ctx_train;
    case GF_HK_EMBEDDING_LENGTH: return (double)hp->n_embd;
    case GF_HK_BLOCK_COUNT: return (double)hp->n_layer;
    case GF_HK_FEED_FORWARD_LENGTH: return (double)hp->n_ff;
    case GF_HK_ROPE_DIMENSION_COUNT:
    case GF_HK_KEY_LENGTH:
    case GF_HK_VALUE_LENGTH: return (double)hp->head_dim;
    case GF_HK_HEAD_COUNT: return (double)hp->n_head;
    case GF_HK_HEAD_COUNT_KV: return (double)hp->n_head_kv;
    case GF_HK_ROPE_FREQ_BASE: return hp->rope_theta;
    case GF_HK_RMS_EPS: return hp->rms_eps;
    default: return 0;
    }
}

gf_status gf_hfcfg_to_gguf(const gf_hfcfg *hp, gf_gguf_writer *w, gf_err *err) {
    char k[128];
    const gf_arch_info *a = hp->info;
    gf_status rc = gf_gguf_set_str(w, "general.architecture", a->gguf_name);
    for (int i = 0; i < a->n_keys && !rc; i++) {
        if ((a->keys[i] == GF_HK_KEY_LENGTH || a->keys[i] == GF_HK_VALUE_LENGTH) && !hp->has_head_dim) continue;
        snprintf(k, sizeof k, "%s.%s", a->gguf_name, gf_hkey_name(a->keys[i]));
        double v = key_value(hp, a->keys[i]);
        rc = gf_hkey_is_float(a->keys[i]) ? gf_gguf_set_f32(w, k, (float)v) : gf_gguf_set_u32(w, k, (uint32_t)v);
    }
    const gf_rope_scaling *rs = &hp->rope_scaling; /* in llama.cpp's converter's order */
    if (!rc && rs->kind != GF_ROPE_SCALING_NONE) {
        snprintf(k, sizeof k, "%s.%s", a->gguf_name, GF_ROPE_SCALING_TYPE_KEY);
        rc = gf_gguf_set_str(w, k, gf_rope_scaling_name(rs->kind));
        snprintf(k, sizeof k, "%s.%s", a->gguf_name, gf_hkey_name(GF_HK_ROPE_SCALING_FACTOR));
        if (!rc) rc = gf_gguf_set_f32(w, k, rs->factor);
        snprintf(k, sizeof k, "%s.%s", a->gguf_name, gf_hkey_name(GF_HK_ROPE_SCALING_ORIG_CTX));
        if (!rc && rs->n_ctx_orig) rc = gf_gguf_set_u32(w, k, (uint32_t)rs->n_ctx_orig);
        snprintf(k, sizeof k, "%s.%s", a->gguf_name, gf_hkey_name(GF_HK_ROPE_SCALING_ATTN_FACTOR));
        if (!rc && rs->attn_factor != 1.0f) rc = gf_gguf_set_f32(w, k, rs->attn_factor);
    }
    return rc ? gf_errf(err, rc, "out of memory writing architecture keys") : GF_OK;
}

/* ---------------------------------------------------------------- tensor names */

static int feature_on(const gf_hfcfg *hp, gf_when when) {
    switch (when) {
    case GF_WHEN_ALWAYS: return 1;
    case GF_WHEN_ATTN_BIAS: return hp->attn_bias;
    default: return 0; /* MLP biases: refused in config.json */
    }
}

gf_status gf_map_tensor(const gf_hfcfg *hp, const char *hf, gf_tensor_map *m, gf_err *err) {
    const gf_arch_info *a = hp->info;
    const gf_arch_dims d = {hp->n_vocab, hp->n_embd, hp->n_head, hp->n_head_kv, hp->head_dim, hp->n_ff};
    memset(m, 0, sizeof *m);
    m->layer = -1;
    const gf_tensor_name *t = NULL;
    for (int i = 0; i < GF_TOP_COUNT && !t; i++)
        if (!strcmp(hf, a->top[i].t->hf)) t = a->top[i].t;
    for (int i = 0; i < a->n_block && !t; i++) {
        long layer = gf_tensor_match_hf(a->block[i].t, hf);
        if (layer < 0 || layer >= hp->n_layer) continue;
        if (!feature_on(hp, a->block[i].t->when)) break; /* e.g. an unexpected bias: refuse below */
        t = a->block[i].t;
        m->layer = (int)layer;
    }
    if (!t) return gf_errf(err, GF_E_UNSUPPORTED, "tensor '%s' is not part of a %s model this version converts", hf, hp->hf_arch);
    m->kind = t->kind;
    m->slot = t->slot;
    if (t->kind == GF_TK_SKIP) return GF_OK;
    gf_tensor_gguf_name(t, m->layer, m->name, sizeof m->name);
    m->rows = gf_arch_dim(&d, t->rows);
    m->cols = gf_arch_dim(&d, t->cols);
    if (a->permute_qk && t->permute) m->permute_heads = gf_arch_dim(&d, t->permute);
    return GF_OK;
}

int64_t gf_permute_row(int64_t r, int64_t rows, int64_t n_heads) {
    int64_t hd = rows / n_heads, half = hd / 2;
    int64_t h = r / hd, i = r % hd; /* GGUF row i of head h is pair (i/2, i%2) */
    return h * hd + (i % 2) * half + i / 2;
}

/* ---------------------------------------------------------------- from a GGUF */

/* The architecture key named `name` ("attention.head_count"), or GF_HK_COUNT. */
static gf_hkey hkey_by_name(const char *name) {
    for (int k = 0; k < GF_HK_COUNT; k++)
        if (!strcmp(gf_hkey_name((gf_hkey)k), name)) return (gf_hkey)k;
    return GF_HK_COUNT;
}

/* <arch>.<key> as an integer in [1, cap] into *out; absent: *out unchanged, or an
 * error when `required`. */
static gf_status gguf_dim(const gf_gguf *g, const char *arch, gf_hkey key, int required, int64_t cap, int64_t *out,
                          gf_err *err) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, gf_hkey_name(key));
    if (!required && !gf_gguf_find(g, k)) return GF_OK;
    uint32_t v;
    GF_TRY(gf_gguf_get_u32(g, k, &v, err)); /* the getters' messages name the file */
    GF_FAIL_IF(v == 0 || (int64_t)v > cap, err, GF_E_FORMAT, "%s: key '%s' = %u is out of range (1..%lld)", g->path, k,
               v, (long long)cap);
    *out = v;
    return GF_OK;
}

static gf_status gguf_float(const gf_gguf *g, const char *arch, gf_hkey key, double *out, gf_err *err) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, gf_hkey_name(key));
    if (!gf_gguf_find(g, k)) return GF_OK;
    float v;
    GF_TRY(gf_gguf_get_f32(g, k, &v, err));
    GF_FAIL_IF(!(v > 0) || !(v < 1e12f), err, GF_E_FORMAT, "%s: key '%s' = %g is out of range", g->path, k, (double)v);
    *out = v;
    return GF_OK;
}

/* Every <arch>.* key must be one this version reads: another one (RoPE scaling, a
 * sliding window, experts) would change the model, so it is refused by name. */
static gf_status known_keys(const gf_gguf *g, const char *arch, gf_err *err) {
    size_t n = strlen(arch);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const gf_kv *kv = &g->kv[i];
        if (strncmp(kv->key.s, arch, n) != 0 || kv->key.s[n] != '.') continue;
        const char *k = kv->key.s + n + 1;
        if (hkey_by_name(k) < GF_HK_COUNT) continue;
        if (!strcmp(k, GF_ROPE_SCALING_TYPE_KEY)) continue; /* checked by gf_rope_scaling_read */
        return gf_errf(err, GF_E_UNSUPPORTED, "%s: key '%.100s' is not supported by this version (it would change "
                       "the model)", g->path, kv->key.s);
    }
    return GF_OK;
}

gf_status gf_rope_scaling_read(const gf_gguf *g, const char *arch, gf_rope_scaling *rs, gf_err *err) {
    char k[128];
    *rs = (gf_rope_scaling){.kind = GF_ROPE_SCALING_LINEAR, .factor = 0, .attn_factor = 1.0f};
    snprintf(k, sizeof k, "%s.%s", arch, GF_ROPE_SCALING_TYPE_KEY);
    if (gf_gguf_find(g, k)) {
        const gf_str *t;
        GF_TRY(gf_gguf_get_str(g, k, &t, err));
        rs->kind = gf_rope_scaling_by_name(t->s);
        GF_FAIL_IF(rs->kind == GF_ROPE_SCALING_COUNT, err, GF_E_UNSUPPORTED, "%s: key '%s' = '%.40s' is not "
                   "supported (none, linear and yarn are)", g->path, k, t->s);
    }
    double v = 0;
    GF_TRY(gguf_float(g, arch, GF_HK_ROPE_SCALING_FACTOR, &v, err));
    rs->factor = (float)v;
    v = 1;
    GF_TRY(gguf_float(g, arch, GF_HK_ROPE_SCALING_ATTN_FACTOR, &v, err));
    rs->attn_factor = (float)v;
    GF_TRY(gguf_dim(g, arch, GF_HK_ROPE_SCALING_ORIG_CTX, 0, INT32_MAX, &rs->n_ctx_orig, err));
    /* llama.cpp: no factor (or 0) scales nothing, whatever the type says */
    if (rs->factor == 0 || rs->kind == GF_ROPE_SCALING_NONE) rs->kind = GF_ROPE_SCALING_NONE, rs->factor = 1.0f;
    return GF_OK;
}

gf_status gf_hfcfg_from_gguf(const gf_gguf *g, gf_hfcfg *hp, gf_err *err) {
    memset(hp, 0, sizeof *hp);
    const gf_str *as;
    GF_TRY(gf_gguf_get_str(g, "general.architecture", &as, err));
    const gf_arch_info *a = gf_arch_by_gguf_name(as->s);
    if (!a) {
        char known[128];
        gf_arch_list(1, known, sizeof known);
        return gf_errf(err, GF_E_UNSUPPORTED, "%s: architecture '%.64s' is not supported (%s are)", g->path, as->s,
                       known);
    }
    const char *arch = a->gguf_name;
    hp->info = a, hp->arch = a->id, hp->arch_name = arch;
    snprintf(hp->hf_arch, sizeof hp->hf_arch, "%s", a->hf_classes[0]);
    GF_TRY(known_keys(g, arch, err));
    hp->rope_theta = 10000.0;
    GF_TRY(gguf_dim(g, arch, GF_HK_EMBEDDING_LENGTH, 1, MAX_DIM, &hp->n_embd, err));
    GF_TRY(gguf_dim(g, arch, GF_HK_BLOCK_COUNT, 1, 4096, &hp->n_layer, err));
    GF_TRY(gguf_dim(g, arch, GF_HK_FEED_FORWARD_LENGTH, 1, MAX_DIM, &hp->n_ff, err));
    GF_TRY(gguf_dim(g, arch, GF_HK_HEAD_COUNT, 1, 65536, &hp->n_head, err));
    hp->n_head_kv = hp->n_head;
    GF_TRY(gguf_dim(g, arch, GF_HK_HEAD_COUNT_KV, 0, 65536, &hp->n_head_kv, err));
    GF_TRY(gguf_dim(g, arch, GF_HK_CONTEXT_LENGTH, 0, INT32_MAX, &hp->n_ctx_train, err));
    GF_TRY(gguf_float(g, arch, GF_HK_ROPE_FREQ_BASE, &hp->rope_theta, err));
    GF_TRY(gf_rope_scaling_read(g, arch, &hp->rope_scaling, err));
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, gf_hkey_name(GF_HK_RMS_EPS));
    GF_FAIL_IF(!gf_gguf_find(g, k), err, GF_E_FORMAT, "%s: key '%s' is missing", g->path, k);
    GF_TRY(gguf_float(g, arch, GF_HK_RMS_EPS, &hp->rms_eps, err));
    GF_FAIL_IF(hp->rms_eps >= 1, err, GF_E_FORMAT, "%s: key '%s' = %g is out of range (0, 1)", g->path, k, hp->rms_eps);
    GF_FAIL_IF(hp->n_head % hp->n_head_kv, err, GF_E_FORMAT, "%s: head_count %lld is not a multiple of head_count_kv "
               "%lld", g->path, (long long)hp->n_head, (long long)hp->n_head_kv);
    int64_t hd = 0, v_len, rot;
    GF_TRY(gguf_dim(g, arch, GF_HK_KEY_LENGTH, 0, MAX_DIM, &hd, err));
    hp->has_head_dim = hd > 0;
    GF_FAIL_IF(!hd && hp->n_embd % hp->n_head, err, GF_E_FORMAT, "%s: embedding_length %lld is not a multiple of "
               "head_count %lld", g->path, (long long)hp->n_embd, (long long)hp->n_head);
    if (!hd) hd = hp->n_embd / hp->n_head;
    v_len = rot = hd;
    GF_TRY(gguf_dim(g, arch, GF_HK_VALUE_LENGTH, 0, MAX_DIM, &v_len, err));
    GF_TRY(gguf_dim(g, arch, GF_HK_ROPE_DIMENSION_COUNT, 0, MAX_DIM, &rot, err));
    GF_FAIL_IF(!a->explicit_head_dim && hd != hp->n_embd / hp->n_head, err, GF_E_UNSUPPORTED, "%s: key_length %lld is "
               "not embedding_length/head_count; a separate head size is not supported for %s", g->path,
               (long long)hd, arch);
    GF_FAIL_IF(v_len != hd || rot != hd || hd % 2, err, GF_E_UNSUPPORTED, "%s: key_length %lld, value_length %lld "
               "and rope.dimension_count %lld must be one even head size", g->path, (long long)hd, (long long)v_len,
               (long long)rot);
    hp->head_dim = hd;
    hp->attn_bias = a->attn_bias == GF_BIAS_ALWAYS;
    hp->tie_word_embeddings = a->tied_default;
    return GF_OK;
}
