/*
 * test_llama3.c - Llama 3.x RoPE scaling and Mistral, from config.json to the engine.
 *
 * A random-weight model with Llama-3.2-1B's config.json shrunk (head size 64 kept,
 * so rope_freqs has the real model's 32 values) is converted: rope_freqs.weight
 * must be F32 with the factors of llama.cpp's converter formula, evaluated here in
 * double; no rope scaling key is written.  The engine must read the tensor
 * (all-ones factors give the logits of a file without it, the real ones others)
 * and agree with llama-perplexity on the same files (reference-outputs/llama3),
 * a GGUF input must carry it through, and the
 * configurations this version refuses (other RoPE scaling types, an active
 * Mistral sliding window) must name their key.
 * `test_llama3 --write DIR` writes the two models (DIR/llama3, DIR/llama3-plain)
 * for reference-outputs/llama3/make.sh.
 */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "../convert/convert.h"
#include "../engine/cpu.h"
#include "../engine/forward.h"
#include "../engine/ppl.h"
#include "../engine/tokenizer.h"
#include "../formats/vocab.h"
#include "../formats/gguf.h"
#include "../formats/hfconfig.h"
#include "check.h"
#include "mem_ppl.h"
#include "membuf.h"
#include "random_model.h"

/* Llama-3.2-1B's config.json with hidden_size 2048 -> 256, heads 32/8 -> 4/1,
 * intermediate_size 8192 -> 512, 16 -> 2 layers, the small tokenizer's vocabulary
 * and its token ids; everything else as published. */
#define LLAMA32_1B(rope_scaling)                                                                                   \
    "{\"architectures\":[\"LlamaForCausalLM\"],\"attention_bias\":false,\"attention_dropout\":0.0,"              \
    "\"head_dim\":64,\"hidden_act\":\"silu\",\"hidden_size\":256,\"initializer_range\":0.02,"                      \
    "\"intermediate_size\":512,\"max_position_embeddings\":131072,\"mlp_bias\":false,\"model_type\":\"llama\","    \
    "\"num_attention_heads\":4,\"num_hidden_layers\":2,\"num_key_value_heads\":1,\"pretraining_tp\":1,"            \
    "\"rms_norm_eps\":1e-05,\"rope_scaling\":" rope_scaling ",\"rope_theta\":500000.0,"                             \
    "\"tie_word_embeddings\":true,\"torch_dtype\":\"bfloat16\",\"use_cache\":true,\"vocab_size\":2051}"
#define LLAMA3_SCALING                                                                                             \
    "{\"factor\":32.0,\"high_freq_factor\":4.0,\"low_freq_factor\":1.0,"                                            \
    "\"original_max_position_embeddings\":8192,\"rope_type\":\"llama3\"}"

/* linear scaling on the same Llama config (as Llama-2 long-context fine-tunes have it) */
#define LINEAR_SCALING "{\"factor\":4.0,\"type\":\"linear\"}"

/* Qwen2.5-0.5B-Instruct's config.json (../shared/tokenizers/qwen2.5) with hidden_size
 * 896 -> 256, heads 14/2 -> 4/2 (head size 64 kept), intermediate_size 4864 -> 512,
 * 24 -> 2 layers and the small vocabulary; rope_scaling as the Qwen2.5 documentation
 * tells long-context users to set it (type yarn, factor 4, original 32768). */
#define QWEN25_05B(rope_scaling)                                                                                   \
    "{\"architectures\":[\"Qwen2ForCausalLM\"],\"attention_dropout\":0.0,\"bos_token_id\":151643,"               \
    "\"eos_token_id\":151645,\"hidden_act\":\"silu\",\"hidden_size\":256,\"initializer_range\":0.02,"               \
    "\"intermediate_size\":512,\"max_position_embeddings\":32768,\"max_window_layers\":21,\"model_type\":\"qwen2\"," \
    "\"num_attention_heads\":4,\"num_hidden_layers\":2,\"num_key_value_heads\":2,\"rms_norm_eps\":1e-06,"           \
    "\"rope_scaling\":" rope_scaling ",\"rope_theta\":1000000.0,\"sliding_window\":32768,"                          \
    "\"tie_word_embeddings\":true,\"torch_dtype\":\"float32\",\"use_cache\":true,\"use_sliding_window\":false,"    \
    "\"vocab_size\":2051}"
#define YARN_SCALING "{\"factor\":4.0,\"original_max_position_embeddings\":32768,\"type\":\"yarn\"}"

/* SmolLM2-135M-Instruct's config.json (HuggingFaceTB/SmolLM2-135M-Instruct) with 30 -> 2 layers,
 * intermediate_size 1536 -> 256 and the small vocabulary; its 576-wide embedding and
 * 9 heads / 3 KV heads of 64 kept (the odd head count of the real model). */
#define SMOLLM2_135M                                                                                               \
    "{\"architectures\":[\"LlamaForCausalLM\"],\"attention_bias\":false,\"attention_dropout\":0.0,"              \
    "\"bos_token_id\":1,\"eos_token_id\":2,\"head_dim\":64,\"hidden_act\":\"silu\",\"hidden_size\":576,"          \
    "\"initializer_range\":0.041666666666666664,\"intermediate_size\":256,\"is_llama_config\":true,"            \
    "\"max_position_embeddings\":8192,\"mlp_bias\":false,\"model_type\":\"llama\",\"num_attention_heads\":9,"     \
    "\"num_hidden_layers\":2,\"num_key_value_heads\":3,\"pad_token_id\":2,\"pretraining_tp\":1,"                 \
    "\"rms_norm_eps\":1e-05,\"rope_interleaved\":false,\"rope_scaling\":null,\"rope_theta\":100000,"              \
    "\"tie_word_embeddings\":true,\"torch_dtype\":\"bfloat16\",\"transformers.js_config\":{\"kv_cache_dtype\":"   \
    "{\"fp16\":\"float16\",\"q4f16\":\"float16\"}},\"use_cache\":true,\"vocab_size\":2051}"

/* Mistral-7B-v0.3's config.json shrunk the same way (4096 -> 256, heads 32/8 -> 8/2,
 * 14336 -> 896, 32 -> 2 layers). */
#define MISTRAL_7B(sliding_window)                                                                                 \
    "{\"architectures\":[\"MistralForCausalLM\"],\"attention_dropout\":0.0,\"hidden_act\":\"silu\","              \
    "\"hidden_size\":256,\"initializer_range\":0.02,\"intermediate_size\":896,\"max_position_embeddings\":32768," \
    "\"model_type\":\"mistral\",\"num_attention_heads\":8,\"num_hidden_layers\":2,\"num_key_value_heads\":2,"     \
    "\"rms_norm_eps\":1e-05,\"rope_theta\":1000000.0,\"sliding_window\":" sliding_window ","                      \
    "\"tie_word_embeddings\":false,\"torch_dtype\":\"bfloat16\",\"use_cache\":true,\"vocab_size\":2051}"

/* dir converted to type (the default layout of `quantize --type`) into m, and parsed. */
static gf_gguf *convert_as(const char *dir, gf_type type, membuf *m, gf_err *err) {
    gf_convert_opts o = {.type = type, .embed_type = -1, .output_type = -1};
    gf_sink sink = {mem_write, m};
    gf_convert_summary sum;
    m->n = 0;
    if (gf_convert(dir, &sink, &o, &sum, err)) return NULL;
    gf_gguf *g = NULL;
    return gf_gguf_parse(m->p, m->n, dir, &g, err) ? NULL : g;
}

static gf_gguf *convert(const char *dir, membuf *m, gf_err *err) { return convert_as(dir, GF_TYPE_F32, m, err); }

/* llama.cpp's formula (convert_hf_to_gguf.py, LlamaModel.generate_extra_tensors)
 * in double: the divisor of pair i's angle. */
static double ref_factor(int i, int dim, double base, double factor, double low, double high, double old) {
    const double freq = 1.0 / pow(base, (double)(2 * i) / (double)dim), wavelen = 2.0 * M_PI / freq;
    if (wavelen < old / high) return 1.0;
    if (wavelen > old / low) return factor;
    const double smooth = (old / wavelen - low) / (high - low);
    return 1.0 / ((1.0 - smooth) / factor + smooth);
}

static int write_model(const char *dir, const char *config, const rm_spec *shape) {
    rm_spec sp = *shape;
    sp.config = config;
    rt ts[64];
    int n = 0, rc = rm_write(dir, &sp, ts, &n, 0);
    rm_free(ts, n);
    return rc;
}

static const rm_spec LLAMA_SHAPE = {.embd = 256, .heads = 4, .kv_heads = 1, .ff = 512, .layers = 2, .tied = 1, .seed = 7};
static const rm_spec QWEN_SHAPE = {.qwen2 = 1, .embd = 256, .heads = 4, .kv_heads = 2, .ff = 512, .layers = 2,
                                   .tied = 1, .seed = 11};
static const rm_spec SMOL_SHAPE = {.embd = 576, .heads = 9, .kv_heads = 3, .ff = 256, .layers = 2, .tied = 1, .seed = 13};
/* The same with weights in [-0.1, 0.1]: logits of a sane size (PPL near the vocabulary's), so
 * that Q8_0 and Q4_0 rounding moves the PPL by little and two engines can be compared at 0.5 %.
 * Weights in [-1, 1] give PPLs of 1e14, where a rounding step moves the PPL by 10 %. */
static const rm_spec LLAMA_QUIET = {.embd = 256, .heads = 4, .kv_heads = 1, .ff = 512, .layers = 2, .tied = 1, .seed = 7,
                                    .wscale = 0.1f};
static const rm_spec QWEN_QUIET = {.qwen2 = 1, .embd = 256, .heads = 4, .kv_heads = 2, .ff = 512, .layers = 2,
                                   .tied = 1, .seed = 11, .wscale = 0.1f};
static const rm_spec SMOL_QUIET = {.embd = 576, .heads = 9, .kv_heads = 3, .ff = 256, .layers = 2, .tied = 1, .seed = 13,
                                   .wscale = 0.1f};
static const rm_spec MISTRAL_SHAPE = {.embd = 256, .heads = 8, .kv_heads = 2, .ff = 896, .layers = 2, .seed = 9};

/* The models of the test and of reference-outputs/llama3/make.sh, in DIR/<name>. */
static const struct {
    const char *name, *config;
    const rm_spec *shape;
} models[] = {
    {"llama3", LLAMA32_1B(LLAMA3_SCALING), &LLAMA_SHAPE},
    {"llama3-plain", LLAMA32_1B("null"), &LLAMA_SHAPE},
    {"llama-linear", LLAMA32_1B(LINEAR_SCALING), &LLAMA_SHAPE},
    {"qwen2-yarn", QWEN25_05B(YARN_SCALING), &QWEN_SHAPE},
    {"qwen2-plain", QWEN25_05B("null"), &QWEN_SHAPE},
    {"smollm2", SMOLLM2_135M, &SMOL_SHAPE},
    {"llama3-q", LLAMA32_1B(LLAMA3_SCALING), &LLAMA_QUIET},
    {"qwen2-yarn-q", QWEN25_05B(YARN_SCALING), &QWEN_QUIET},
    {"smollm2-q", SMOLLM2_135M, &SMOL_QUIET},
};
#define N_QUIET 3 /* the last three: reference-outputs/llama3/ppl-quant.txt's models */
#define N_MODELS ((int)(sizeof models / sizeof models[0]))

static void model_dir(char *out, size_t n, const char *root, const char *name) { snprintf(out, n, "%s/%s", root, name); }

static int write_models(const char *root) {
    char d[1024];
    mkdir(root, 0755);
    for (int i = 0; i < N_MODELS; i++) {
        model_dir(d, sizeof d, root, models[i].name);
        if (write_model(d, models[i].config, models[i].shape)) return -1;
    }
    return 0;
}

/* llama.cpp's converter wrote these factors for the same folder (reference-outputs/llama3/
 * rope-freqs.txt, "%.9g", which a float survives exactly): ours must be the same floats. */
static void check_converter_freqs(const float *ours, int n) {
    FILE *f = fopen("reference-outputs/llama3/rope-freqs.txt", "r");
    CHECK(f != NULL, "reference-outputs/llama3/rope-freqs.txt");
    if (!f) return;
    char line[256];
    int n_read = 0, n_same = 0;
    while (fgets(line, sizeof line, f)) {
        int i;
        float v;
        if (line[0] == '#' || sscanf(line, "%d %f", &i, &v) != 2) continue;
        CHECK(i == n_read && i < n, "rope-freqs.txt: pair %d out of order or past %d", i, n);
        if (i != n_read || i >= n) break;
        n_same += memcmp(&ours[i], &v, sizeof v) == 0;
        CHECK(memcmp(&ours[i], &v, sizeof v) == 0, "rope_freqs[%d]: ours %.9g, llama.cpp's converter %.9g", i,
              ours[i], v);
        n_read++;
    }
    fclose(f);
    printf("  rope_freqs.weight vs llama.cpp's converter: %d of %d values bit-identical\n", n_same, n_read);
    CHECK(n_read == n, "rope-freqs.txt has %d values, not %d", n_read, n);
}

static void test_rope_freqs(const char *dir, membuf *m) {
    gf_err err = {0};
    gf_hfcfg hp;
    CHECK(gf_hfcfg_load(dir, &hp, &err) == GF_OK, "%s", err.msg);
    CHECK(hp.n_rope_freqs == 32, "rope_freqs: %d values, head_dim/2 = 32", hp.n_rope_freqs);
    double max_rel = 0;
    int n_one = 0, n_full = 0, n_blend = 0;
    for (int i = 0; i < hp.n_rope_freqs; i++) {
        const double r = ref_factor(i, 64, 500000.0, 32.0, 1.0, 4.0, 8192.0);
        max_rel = fmax(max_rel, fabs(hp.rope_freqs[i] - r) / r);
        if (r == 1.0) {
            n_one++;
            CHECK(hp.rope_freqs[i] == 1.0f, "factor %d: %g, not 1", i, hp.rope_freqs[i]);
        } else if (r == 32.0) {
            n_full++;
            CHECK(hp.rope_freqs[i] == 32.0f, "factor %d: %g, not 32", i, hp.rope_freqs[i]);
        } else {
            n_blend++;
        }
    }
    printf("  rope_freqs: %d x 1, %d blended, %d x 32; max relative difference from the double formula %.3g\n",
           n_one, n_blend, n_full, max_rel);
    CHECK(n_one > 0 && n_blend > 0 && n_full > 0, "the config exercises every branch");
    CHECK(max_rel < 1e-5, "rope_freqs vs the double formula: %g", max_rel);

    gf_gguf *g = convert(dir, m, &err);
    CHECK(g != NULL, "%s", err.msg);
    if (!g) return;
    int64_t i = gf_gguf_find_tensor(g, "rope_freqs.weight");
    CHECK(i >= 0, "rope_freqs.weight is written");
    if (i >= 0) {
        const gf_gguf_tensor *t = &g->tensors[i];
        CHECK(t->type == GF_TYPE_F32 && t->n_dims == 1 && t->ne[0] == 32, "rope_freqs.weight: F32 [32]");
        CHECK(memcmp(t->data, hp.rope_freqs, 32 * sizeof(float)) == 0, "rope_freqs.weight holds the factors");
        check_converter_freqs((const float *)t->data, 32);
    }
    for (uint64_t k = 0; k < g->n_kv; k++)
        CHECK(!strstr(g->kv[k].key.s, "rope.scaling"), "no scaling key, as llama.cpp: '%s'", g->kv[k].key.s);
    uint32_t kl = 0, vl = 0; /* config.json has head_dim 64: llama.cpp's converter writes the key lengths */
    CHECK(gf_gguf_get_u32(g, "llama.attention.key_length", &kl, &err) == GF_OK &&
              gf_gguf_get_u32(g, "llama.attention.value_length", &vl, &err) == GF_OK && kl == 64 && vl == 64,
          "key/value_length 64: %u %u", kl, vl);
    gf_gguf_close(g);
}

/* Logits of the last token of a fixed sequence, from the GGUF in m. */
static int logits_of(const membuf *m, float *out, gf_err *err) {
    gf_gguf *g = NULL;
    gf_model *model = NULL;
    gf_state s = {0};
    static const int32_t toks[] = {5, 99, 1200, 7, 300, 42, 2000, 11, 640, 3, 17, 1024, 88, 9, 512, 77};
    const int64_t T = (int64_t)(sizeof toks / sizeof toks[0]);
    int rc = gf_gguf_parse(m->p, m->n, "mem", &g, err) || gf_model_from_gguf(g, gf_kernels_detect(), &model, err) ||
             gf_state_init(&s, model, T, T, GF_TYPE_F32, err) ||
             gf_forward(model, &s, toks, T, 0, T - 1, out, NULL, err);
    gf_state_free(&s);
    gf_model_free(model);
    gf_gguf_close(g);
    return rc;
}

/* The engine reads rope_freqs: factors of 1 change nothing, llama3's change the logits. */
static void test_engine(const char *dir, const char *dir_plain, membuf *m) {
    gf_err err = {0};
    membuf plain = {0};
    static float a[R_VOCAB], b[R_VOCAB], c[R_VOCAB];
    gf_gguf *g = convert(dir, m, &err), *gp = convert(dir_plain, &plain, &err);
    CHECK(g && gp, "%s", err.msg);
    if (!g || !gp) goto done;
    CHECK(logits_of(m, a, &err) == 0, "%s", err.msg);
    CHECK(logits_of(&plain, b, &err) == 0, "%s", err.msg);
    int64_t i = gf_gguf_find_tensor(g, "rope_freqs.weight");
    float *ff = (float *)(uintptr_t)g->tensors[i].data; /* into m: set to ones */
    for (int k = 0; k < 32; k++) ff[k] = 1.0f;
    CHECK(logits_of(m, c, &err) == 0, "%s", err.msg);
    double d_scaled = 0, d_ones = 0;
    for (int k = 0; k < R_VOCAB; k++) d_scaled = fmax(d_scaled, fabs(a[k] - b[k])), d_ones = fmax(d_ones, fabs(c[k] - b[k]));
    printf("  engine: max |logit| difference from the unscaled file: llama3 factors %.3g, factors of 1 %.3g\n",
           d_scaled, d_ones);
    CHECK(d_ones == 0, "factors of 1 must give the unscaled logits: %g", d_ones);
    CHECK(d_scaled > 1e-4, "llama3 factors must change the logits: %g", d_scaled);
done:
    gf_gguf_close(g);
    gf_gguf_close(gp);
    free(plain.p);
}

/* Against llama-perplexity on the same files, 3 x 512 tokens of nlp-valid.txt:
 * reference-outputs/llama3/ppl.txt (F32, lines "model chunks PPL +/-") and ppl-quant.txt
 * (Q8_0 and Q4_0 in the default layout, lines "model type chunks PPL +/-"). llama.cpp
 * applies rope_freqs.weight as GGML's freq_factors and the linear and yarn keys as GGML's
 * rope freq_scale, ext_factor and attn_factor. */
static int convert_named(const char *name, gf_type type, membuf *m, const void *root, gf_err *err) {
    char d[1024];
    model_dir(d, sizeof d, root, name);
    gf_gguf *g = convert_as(d, type, m, err);
    gf_gguf_close(g);
    return g ? 0 : -1;
}

static void test_vs_llamacpp(const char *root) {
    size_t len = 0;
    char *text = mem_ppl_text("data/nlp-valid.txt", &len);
    if (!text) return;
    int n = mem_ppl_check_file("reference-outputs/llama3/ppl.txt", 0, convert_named, root, "llama-perplexity", text,
                               len);
    CHECK(n == N_MODELS, "ppl.txt has the %d models: %d", N_MODELS, n);
    n = mem_ppl_check_file("reference-outputs/llama3/ppl-quant.txt", 1, convert_named, root, "llama-perplexity", text,
                           len);
    CHECK(n == 2 * N_QUIET, "ppl-quant.txt has the %d models at Q8_0 and Q4_0: %d", N_QUIET, n);
    free(text);
}

/* A GGUF input with rope_freqs.weight is converted again with the same factors. */
/* A GGUF input with rope_freqs.weight is converted again with the same factors, and
 * one with yarn keys keeps them: the engine reads the same scaling from both files. */
static void test_gguf_input(const char *root, membuf *m) {
    static const char *names[] = {"llama3", "qwen2-yarn"};
    for (int n = 0; n < 2; n++) {
        gf_err err = {0};
        char d[1024];
        model_dir(d, sizeof d, root, names[n]);
        gf_gguf *g = convert(d, m, &err);
        CHECK(g != NULL, "%s", err.msg);
        if (!g) return;
        char path[] = "/tmp/gf-llama3-XXXXXX";
        int fd = mkstemp(path);
        CHECK(fd >= 0 && write(fd, m->p, m->n) == (ssize_t)m->n, "write %s", path);
        close(fd);
        int64_t ti = gf_gguf_find_tensor(g, "rope_freqs.weight");
        float want[32] = {0};
        if (ti >= 0) memcpy(want, g->tensors[ti].data, sizeof want);
        gf_model *m1 = NULL, *m2 = NULL;
        CHECK(gf_model_from_gguf(g, gf_kernels_detect(), &m1, &err) == GF_OK, "%s", err.msg);
        membuf mb = {0};
        gf_gguf *g2 = convert(path, &mb, &err);
        CHECK(g2 != NULL, "GGUF input: %s", err.msg);
        if (g2 && ti >= 0) {
            int64_t i = gf_gguf_find_tensor(g2, "rope_freqs.weight");
            CHECK(i >= 0 && memcmp(g2->tensors[i].data, want, sizeof want) == 0, "GGUF input: rope_freqs carried");
        }
        if (g2) CHECK(gf_model_from_gguf(g2, gf_kernels_detect(), &m2, &err) == GF_OK, "%s", err.msg);
        if (m1 && m2) {
            const gf_rope_scaling *a = &m1->hp.rope_scaling, *b = &m2->hp.rope_scaling;
            printf("  %s: GGUF input keeps RoPE scaling %s (factor %g, original context %lld)%s\n", names[n],
                   gf_rope_scaling_name(b->kind), (double)b->factor, (long long)b->n_ctx_orig,
                   ti >= 0 ? " and rope_freqs.weight" : "");
            CHECK(a->kind == b->kind && a->factor == b->factor && a->n_ctx_orig == b->n_ctx_orig &&
                  a->attn_factor == b->attn_factor, "%s: the scaling read from both files differs", names[n]);
            CHECK(n == 0 ? a->kind == GF_ROPE_SCALING_NONE : (a->kind == GF_ROPE_SCALING_YARN && a->factor == 4.0f &&
                  a->n_ctx_orig == 32768), "%s: scaling %s", names[n], gf_rope_scaling_name(a->kind));
        }
        gf_model_free(m1), gf_model_free(m2);
        gf_gguf_close(g), gf_gguf_close(g2);
        free(mb.p);
        unlink(path);
    }
}

/* A key of g as "str VALUE", "u32 VALUE" or "f32 VALUE" (%.9g), as make.sh writes them. */
static void kv_text(const gf_kv *kv, char *out, size_t n) {
    if (kv->type == GF_GGUF_STRING) snprintf(out, n, "str %.*s", (int)kv->str.len, kv->str.s);
    else if (kv->type == GF_GGUF_U32) snprintf(out, n, "u32 %u", kv->v.u32);
    else if (kv->type == GF_GGUF_F32) snprintf(out, n, "f32 %.9g", (double)kv->v.f32);
    else snprintf(out, n, "type %u", kv->type);
}

/* The <arch>.rope.* keys of our conversion equal those llama.cpp's converter writes
 * for the same folder (reference-outputs/llama3/keys.txt: name, type, value). */
static void test_scaling_keys(const char *root) {
    FILE *f = fopen("reference-outputs/llama3/keys.txt", "r");
    CHECK(f != NULL, "reference-outputs/llama3/keys.txt");
    if (!f) return;
    static const char *names[] = {"llama-linear", "qwen2-yarn", "qwen2-plain", "llama3", "smollm2"};
    for (int i = 0; i < 5; i++) {
        char d[1024], line[512], want[16][400], got[400];
        int n_want = 0, n_got = 0;
        rewind(f);
        while (fgets(line, sizeof line, f) && n_want < 16) {
            char model[64], rest[400];
            if (line[0] == '#' || sscanf(line, "%63s %399[^\n]", model, rest) != 2 || strcmp(model, names[i])) continue;
            snprintf(want[n_want++], sizeof want[0], "%s", rest);
        }
        membuf m = {0};
        gf_err err = {0};
        model_dir(d, sizeof d, root, names[i]);
        gf_gguf *g = convert(d, &m, &err);
        CHECK(g != NULL, "%s: %s", names[i], err.msg);
        for (uint64_t k = 0; g && k < g->n_kv; k++) {
            if (!strstr(g->kv[k].key.s, ".rope.")) continue;
            int len = snprintf(got, sizeof got, "%.*s ", (int)g->kv[k].key.len, g->kv[k].key.s);
            kv_text(&g->kv[k], got + len, sizeof got - (size_t)len);
            int found = 0;
            for (int j = 0; j < n_want; j++) found |= !strcmp(want[j], got);
            CHECK(found, "%s: our key '%s' is not llama.cpp's", names[i], got);
            n_got++;
        }
        printf("  %s: %d rope keys, llama.cpp's converter %d%s\n", names[i], n_got, n_want,
               n_got == n_want ? ", the same" : "");
        CHECK(n_want > 0 && n_got == n_want, "%s: %d rope keys vs llama.cpp's %d", names[i], n_got, n_want);
        gf_gguf_close(g);
        free(m.p);
    }
    fclose(f);
}

/* The engine's RoPE tables of the yarn and linear files against transformers'
 * inverse frequencies and attention factor (reference-outputs/llama3/inv-freq.txt):
 * position 1's angle of pair i is inv_freq[i], and |(cos, sin)| the factor. */
static void test_rope_tables(const char *root) {
    FILE *f = fopen("reference-outputs/llama3/inv-freq.txt", "r");
    CHECK(f != NULL, "reference-outputs/llama3/inv-freq.txt");
    if (!f) return;
    char line[256], name[64] = "", d[1024];
    double inv[64], attn = 0;
    int n = 0;
    for (;;) {
        int end = !fgets(line, sizeof line, f);
        char nm[64];
        double a, v;
        int i;
        if (!end && (line[0] == '#' || sscanf(line, "%63s %d %lf %lf", nm, &i, &v, &a) != 4)) continue;
        if (n && (end || strcmp(nm, name))) { /* one model's values are complete */
            membuf m = {0};
            gf_err err = {0};
            gf_model *model = NULL;
            model_dir(d, sizeof d, root, name);
            gf_gguf *g = convert(d, &m, &err);
            CHECK(g && !gf_model_from_gguf(g, gf_kernels_detect(), &model, &err), "%s: %s", name, err.msg);
            if (model) {
                const int64_t half = model->hp.n_rot / 2;
                float c[2 * 64], sn[2 * 64];
                gf_rope_tables(c, sn, 2, &model->hp);
                double e_ang = 0, e_mag = 0;
                for (int k = 0; k < n && k < half; k++) {
                    e_ang = fmax(e_ang, fabs(atan2(sn[half + k], c[half + k]) - inv[k]) / inv[k]);
                    e_mag = fmax(e_mag, fabs(hypot(sn[half + k], c[half + k]) - attn));
                }
                printf("  %s: %d pairs; angle vs transformers' inv_freq: max relative difference %.2g; "
                       "magnitude %.6f vs %.6f\n", name, n, e_ang, hypot(sn[half], c[half]), attn);
                CHECK(n == half, "%s: %d reference values for %lld pairs", name, n, (long long)half);
                CHECK(e_ang < 1e-5 && e_mag < 1e-6, "%s: angles %g, magnitude %g", name, e_ang, e_mag);
            }
            gf_model_free(model);
            gf_gguf_close(g);
            free(m.p);
            n = 0;
        }
        if (end) break;
        if (n < 64) snprintf(name, sizeof name, "%s", nm), inv[n++] = v, attn = a;
    }
    fclose(f);
}

/* transformers 5 writes rope_scaling as rope_parameters, rope_theta inside: the same file. */
static void test_rope_parameters(const char *root) {
    static const struct { const char *from, *like; } cases[] = {
        {"\"rope_parameters\":{\"factor\":4.0,\"original_max_position_embeddings\":32768,\"rope_theta\":1000000.0,"
         "\"rope_type\":\"yarn\",\"type\":\"yarn\"}", "qwen2-yarn"},
        {"\"rope_parameters\":{\"rope_theta\":1000000.0,\"rope_type\":\"default\"}", "qwen2-plain"},
    };
    for (int i = 0; i < 2; i++) {
        char config[4096], d[1024], dir[] = "/tmp/gf-ropep-XXXXXX";
        /* Qwen2.5's shrunk config with rope_scaling and rope_theta replaced */
        snprintf(config, sizeof config, "%s", QWEN25_05B("null"));
        char *a = strstr(config, "\"rope_scaling\":null,\"rope_theta\":1000000.0");
        CHECK(a != NULL, "config template");
        if (!a) return;
        const char *tail = a + strlen("\"rope_scaling\":null,\"rope_theta\":1000000.0");
        char rest[2048];
        snprintf(rest, sizeof rest, "%s", tail);
        snprintf(a, sizeof config - (size_t)(a - config), "%s%s", cases[i].from, rest);
        CHECK(mkdtemp(dir) != NULL && write_model(dir, config, &QWEN_SHAPE) == 0, "writing %s", dir);
        membuf m1 = {0}, m2 = {0};
        gf_err err = {0};
        model_dir(d, sizeof d, root, cases[i].like);
        gf_gguf *g1 = convert(dir, &m1, &err), *g2 = g1 ? convert(d, &m2, &err) : NULL;
        CHECK(g1 && g2, "%s", err.msg);
        /* general.name differs (the folder's); compare everything after the header's names */
        int same = g1 && g2 && g1->n_kv == g2->n_kv && g1->n_tensors == g2->n_tensors;
        for (uint64_t k = 0; same && k < g1->n_kv; k++) {
            char t1[200], t2[200];
            if (strstr(g1->kv[k].key.s, "general.")) continue;
            kv_text(&g1->kv[k], t1, sizeof t1), kv_text(&g2->kv[k], t2, sizeof t2);
            same = !strcmp(g1->kv[k].key.s, g2->kv[k].key.s) && !strcmp(t1, t2);
        }
        printf("  rope_parameters (%s): %s\n", cases[i].like, same ? "the same keys as rope_scaling" : "differs");
        CHECK(same, "rope_parameters must give %s's keys", cases[i].like);
        gf_gguf_close(g1), gf_gguf_close(g2);
        free(m1.p), free(m2.p);
        char cmd[1100];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        CHECK(system(cmd) == 0, "%s", cmd);
    }
}

static void expect_refused(const char *what, const char *config, const rm_spec *shape, const char *key,
                           const char *word) {
    char dir[] = "/tmp/gf-llama3-bad-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    CHECK(write_model(dir, config, shape) == 0, "writing %s", dir);
    gf_hfcfg hp;
    gf_err err = {0};
    gf_status rc = gf_hfcfg_load(dir, &hp, &err);
    printf("  %s: %s\n", what, rc ? err.msg : "accepted");
    CHECK(rc == GF_E_UNSUPPORTED, "%s must be refused as unsupported", what);
    CHECK(strstr(err.msg, key) && (!word || strstr(err.msg, word)), "%s: the message names '%s': %s", what, key,
          err.msg);
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "%s", cmd);
}

static void test_mistral(membuf *m) {
    static const char *ok[] = {MISTRAL_7B("null"), MISTRAL_7B("32768"), MISTRAL_7B("131072")};
    for (int k = 0; k < 3; k++) {
        char dir[] = "/tmp/gf-mistral-XXXXXX";
        CHECK(mkdtemp(dir) != NULL, "mkdtemp");
        CHECK(write_model(dir, ok[k], &MISTRAL_SHAPE) == 0, "writing %s", dir);
        gf_err err = {0};
        gf_gguf *g = convert(dir, m, &err);
        CHECK(g != NULL, "Mistral (sliding_window %s): %s", k == 0 ? "null" : k == 1 ? "32768" : "131072", err.msg);
        if (g) {
            const gf_str *a = NULL;
            CHECK(gf_gguf_get_str(g, "general.architecture", &a, &err) == GF_OK && !strcmp(a->s, "llama"),
                  "Mistral is written as llama");
            CHECK(gf_gguf_find_tensor(g, "rope_freqs.weight") < 0, "no rope_freqs without rope_scaling");
            CHECK(!gf_gguf_find(g, "llama.attention.key_length"), "no head_dim in config.json: no key_length");
            uint32_t ctx = 0;
            CHECK(gf_gguf_get_u32(g, "llama.context_length", &ctx, &err) == GF_OK && ctx == 32768, "context %u", ctx);
            gf_gguf_close(g);
        }
        char cmd[1100];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        CHECK(system(cmd) == 0, "%s", cmd);
    }
    printf("  Mistral-7B-v0.3 shrunk: sliding_window null, 32768, 131072 written as llama\n");
    expect_refused("Mistral, sliding_window 4096", MISTRAL_7B("4096"), &MISTRAL_SHAPE, "sliding_window", NULL);
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--write")) return write_models(argv[2]) ? 1 : 0; /* for make.sh */
    char root[] = "/tmp/gf-llama3-XXXXXX", dir[1024], plain[1024];
    CHECK(mkdtemp(root) != NULL, "mkdtemp");
    CHECK(write_models(root) == 0, "writing the models in %s", root);
    model_dir(dir, sizeof dir, root, "llama3");
    model_dir(plain, sizeof plain, root, "llama3-plain");
    membuf m = {0};
    printf("1. rope_freqs of Llama-3.2-1B's rope_scaling; linear and yarn keys\n");
    test_rope_freqs(dir, &m);
    test_scaling_keys(root);
    test_rope_parameters(root);
    printf("2. the engine\n");
    test_engine(dir, plain, &m);
    test_rope_tables(root);
    printf("   against llama.cpp\n");
    test_vs_llamacpp(root);
    printf("3. GGUF input\n");
    test_gguf_input(root, &m);
    printf("4. refused configurations\n");
    expect_refused("rope_scaling dynamic", LLAMA32_1B("{\"type\":\"dynamic\",\"factor\":2.0}"), &LLAMA_SHAPE,
                   "rope_scaling", "dynamic");
    expect_refused("rope_scaling longrope", QWEN25_05B("{\"rope_type\":\"longrope\",\"factor\":2.0}"), &QWEN_SHAPE,
                   "rope_scaling", "longrope");
    expect_refused("rope_scaling without a type", LLAMA32_1B("{\"factor\":2.0}"), &LLAMA_SHAPE, "rope_scaling", NULL);
    expect_refused("llama3 scaling of a qwen2 model", QWEN25_05B(LLAMA3_SCALING), &QWEN_SHAPE, "rope_scaling",
                   "llama3");
    expect_refused("yarn, beta_fast 16", QWEN25_05B("{\"type\":\"yarn\",\"factor\":4.0,\"beta_fast\":16}"),
                   &QWEN_SHAPE, "rope_scaling.beta_fast", NULL);
    expect_refused("yarn, attention_factor 2", QWEN25_05B("{\"type\":\"yarn\",\"factor\":4.0,\"attention_factor\":2}"),
                   &QWEN_SHAPE, "rope_scaling.attention_factor", NULL);
    expect_refused("yarn, mscale", QWEN25_05B("{\"type\":\"yarn\",\"factor\":4.0,\"mscale\":0.7}"), &QWEN_SHAPE,
                   "rope_scaling.mscale", NULL);
    expect_refused("yarn, truncate false", QWEN25_05B("{\"type\":\"yarn\",\"factor\":4.0,\"truncate\":false}"),
                   &QWEN_SHAPE, "rope_scaling.truncate", NULL);
    printf("5. Mistral\n");
    test_mistral(&m);
    free(m.p);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    CHECK(system(cmd) == 0, "%s", cmd);
    return check_done("test_llama3");
}
