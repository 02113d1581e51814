/*
 * test_qwen3.c - Qwen3 (dense) from config.json to the engine, against transformers.
 *
 * A random-weight model with Qwen3-0.6B's config.json shrunk (hidden 1024 -> 64,
 * 3072 -> 192, 28 -> 2 layers, the small tokenizer's vocabulary and ids; 16/8 heads
 * of head_dim 128 kept, so q is 2048 wide on a 64-wide stream) is converted: the
 * keys must be llama.cpp's qwen3 keys (key/value_length 128), attn_q_norm and
 * attn_k_norm F32 [128], no biases.  The engine's logits on fixed tokens must equal
 * those transformers computed from the same safetensors (reference-outputs/qwen3,
 * made by its make.sh, float32 and float64 runs) within TOL_VS_HF, tied and untied;
 * a GGUF input carries the key lengths; Q8_0 / Q4_0 with min-max, imatrix, AWQ and
 * AutoRound run on it (their KLD printed, a bound checked); and what this version
 * refuses (attention biases, Qwen3MoeForCausalLM) names its key.
 * The explicit head_dim of the llama architecture is checked the same way, against
 * transformers' MistralForCausalLM, on Mistral-Nemo-Base-2407's config.json shrunk
 * (32/8 heads of 128 on a 64-wide stream; q/k rows permuted for llama's RoPE).
 * Our F32, Q8_0 and Q4_0 files of a fourth model with small weights (qwen3-q) are
 * scored against a llama.cpp newer than c392e50, which knows qwen3.
 * `test_qwen3 --write DIR` writes the four models (DIR/qwen3, DIR/qwen3-untied,
 * DIR/nemo, DIR/qwen3-q) for reference-outputs/qwen3/make.sh and make-newer.sh.
 */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "../convert/convert.h"
#include "../engine/cpu.h"
#include "../engine/forward.h"
#include "../formats/gguf.h"
#include "../formats/hfconfig.h"
#include "check.h"
#include "kld.h"
#include "mem_ppl.h"
#include "membuf.h"
#include "random_model.h"
#include "sha256.h"

/* Max |ours - transformers| / max |transformers| over all logits: the bound. */
#define TOL_VS_HF 1e-4
/* KLD from the F32 file on 4 x 256 tokens of nlp-valid.txt.  Min-max below these
 * (measured 0.0055 at Q8_0, 0.48 at Q4_0: the weights are uniform in [-1, 1], no
 * trained model's), and each calibrated method below min-max's of the same type, as
 * the issue asks (measured with the AVX2 kernels: Q8_0 awq 0.96x; Q4_0 imatrix
 * 0.94x, awq 0.96x, autoround 0.85x; GF_KERNELS=scalar: 0.98x, 0.95x, 0.96x, 0.85x). */
#define MAX_KLD_Q8 0.01
#define MAX_KLD_Q4 0.7

/* Qwen3-0.6B's config.json, shrunk as above (bos/eos: the small tokenizer's
 * <|endoftext|>); everything else as published. */
#define QWEN3_06B(attention_bias, tie)                                                                             \
    "{\"architectures\":[\"Qwen3ForCausalLM\"],\"attention_bias\":" attention_bias ",\"attention_dropout\":0.0,"  \
    "\"bos_token_id\":2048,\"eos_token_id\":2048,\"head_dim\":128,\"hidden_act\":\"silu\",\"hidden_size\":64,"    \
    "\"initializer_range\":0.02,\"intermediate_size\":192,\"max_position_embeddings\":40960,"                      \
    "\"max_window_layers\":28,\"model_type\":\"qwen3\",\"num_attention_heads\":16,\"num_hidden_layers\":2,"       \
    "\"num_key_value_heads\":8,\"rms_norm_eps\":1e-06,\"rope_scaling\":null,\"rope_theta\":1000000,"              \
    "\"sliding_window\":null,\"tie_word_embeddings\":" tie ",\"torch_dtype\":\"bfloat16\","                       \
    "\"transformers_version\":\"4.51.0\",\"use_cache\":true,\"use_sliding_window\":false,\"vocab_size\":2051}"

/* Qwen3-30B-A3B's mixture-of-experts keys on the same shape. */
#define QWEN3_MOE                                                                                                  \
    "{\"architectures\":[\"Qwen3MoeForCausalLM\"],\"head_dim\":128,\"hidden_act\":\"silu\",\"hidden_size\":64,"   \
    "\"intermediate_size\":192,\"max_position_embeddings\":40960,\"moe_intermediate_size\":96,"                   \
    "\"num_attention_heads\":16,\"num_experts\":128,\"num_experts_per_tok\":8,\"num_hidden_layers\":2,"          \
    "\"num_key_value_heads\":8,\"rms_norm_eps\":1e-06,\"rope_theta\":1000000,\"vocab_size\":2051}"

/* Mistral-Nemo-Base-2407's config.json, hidden 5120 -> 64, 14336 -> 224, 40 -> 2 layers, the
 * small tokenizer's vocabulary and ids; 32/8 heads of head_dim 128 kept. */
#define NEMO                                                                                                       \
    "{\"architectures\":[\"MistralForCausalLM\"],\"attention_dropout\":0.0,\"bos_token_id\":2048,"                \
    "\"eos_token_id\":2048,\"head_dim\":128,\"hidden_act\":\"silu\",\"hidden_size\":64,"                         \
    "\"initializer_range\":0.02,\"intermediate_size\":224,\"max_position_embeddings\":1024000,"                   \
    "\"model_type\":\"mistral\",\"num_attention_heads\":32,\"num_hidden_layers\":2,\"num_key_value_heads\":8,"    \
    "\"rms_norm_eps\":1e-05,\"rope_theta\":1000000.0,\"sliding_window\":null,\"tie_word_embeddings\":false,"      \
    "\"torch_dtype\":\"bfloat16\",\"transformers_version\":\"4.43.0.dev0\",\"use_cache\":true,\"vocab_size\":2051}"
static const rm_spec NEMO_SHAPE = {.embd = 64, .heads = 32, .kv_heads = 8, .head_dim = 128, .ff = 224, .layers = 2,
                                   .seed = 13};

static const rm_spec QWEN3_SHAPE = {.qwen3 = 1, .embd = 64, .heads = 16, .kv_heads = 8, .head_dim = 128, .ff = 192,
                                    .layers = 2, .tied = 1, .seed = 12};

/* The tokens of the reference logits (make.py has the same list and writes it into each file). */
static const int32_t TOKENS[] = {5, 99, 1200, 7, 300, 42, 2000, 11, 640, 3, 2048, 17};
#define N_TOKENS ((int)(sizeof TOKENS / sizeof TOKENS[0]))

static int write_shape(const char *dir, const char *config, const rm_spec *shape) {
    rm_spec sp = *shape;
    sp.config = config;
    rt ts[64];
    int n = 0, rc = rm_write(dir, &sp, ts, &n, 0);
    rm_free(ts, n);
    return rc;
}

static int write_model_scaled(const char *dir, const char *config, int tied, float wscale) {
    rm_spec sp = QWEN3_SHAPE;
    sp.config = config;
    sp.tied = tied;
    sp.wscale = wscale;
    rt ts[64];
    int n = 0, rc = rm_write(dir, &sp, ts, &n, 0);
    rm_free(ts, n);
    return rc;
}

static int write_model(const char *dir, const char *config, int tied) { return write_model_scaled(dir, config, tied, 0); }

/* "qwen3-q": the tied model with weights in [-0.1, 0.1], whose perplexity (near the
 * vocabulary's size) Q8_0 and Q4_0 rounding moves by little, so that two engines' scores
 * of the same quantized file can be compared at 0.5 % (weights in [-1, 1] give 1e7). */
#define QUIET_WSCALE 0.1f

static gf_gguf *convert(const char *dir, const gf_convert_opts *o, membuf *m, gf_err *err) {
    gf_sink sink = {mem_write, m};
    gf_convert_summary sum;
    m->n = 0;
    if (gf_convert(dir, &sink, o, &sum, err)) return NULL;
    gf_gguf *g = NULL;
    return gf_gguf_parse(m->p, m->n, dir, &g, err) ? NULL : g;
}

static const gf_convert_opts F32_OPTS = {.type = GF_TYPE_F32, .embed_type = -1, .output_type = -1};

static uint32_t u32_key(const gf_gguf *g, const char *k) {
    gf_err err = {0};
    uint32_t v = 0;
    return gf_gguf_get_u32(g, k, &v, &err) == GF_OK ? v : 0;
}

/* ---------------------------------------------------------------- 1. the file */

static void test_file(const char *dir, membuf *m) {
    gf_err err = {0};
    gf_gguf *g = convert(dir, &F32_OPTS, m, &err);
    CHECK(g != NULL, "%s", err.msg);
    if (!g) return;
    const gf_str *a = NULL;
    CHECK(gf_gguf_get_str(g, "general.architecture", &a, &err) == GF_OK && !strcmp(a->s, "qwen3"), "arch qwen3");
    CHECK(u32_key(g, "qwen3.attention.key_length") == 128 && u32_key(g, "qwen3.attention.value_length") == 128,
          "key/value_length 128");
    CHECK(u32_key(g, "qwen3.embedding_length") == 64 && u32_key(g, "qwen3.attention.head_count") == 16 &&
          u32_key(g, "qwen3.attention.head_count_kv") == 8 && u32_key(g, "qwen3.context_length") == 40960,
          "the shape keys");
    CHECK(!gf_gguf_find(g, "qwen3.rope.dimension_count"), "no rope.dimension_count (llama.cpp's qwen3 has none)");
    int n_norm = 0, n_bias = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const gf_gguf_tensor *t = &g->tensors[i];
        if (strstr(t->name.s, ".bias")) n_bias++;
        if (strstr(t->name.s, "attn_q_norm") || strstr(t->name.s, "attn_k_norm")) {
            n_norm++;
            CHECK(t->type == GF_TYPE_F32 && t->n_dims == 1 && t->ne[0] == 128, "%s: F32 [128]", t->name.s);
        }
        if (strstr(t->name.s, "blk.0.attn_q.weight"))
            CHECK(t->ne[0] == 64 && t->ne[1] == 2048, "attn_q [64, 2048]: [%lld, %lld]", (long long)t->ne[0],
                  (long long)t->ne[1]);
        if (strstr(t->name.s, "blk.0.attn_output.weight"))
            CHECK(t->ne[0] == 2048 && t->ne[1] == 64, "attn_output [2048, 64]");
    }
    CHECK(n_norm == 4 && n_bias == 0, "4 q/k norms (%d), no biases (%d)", n_norm, n_bias);
    CHECK(gf_gguf_find_tensor(g, "output.weight") < 0, "tied: no output.weight");
    printf("  F32 file: qwen3, key/value_length 128, %d q/k norms F32 [128], no biases, tied output\n", n_norm);
    gf_gguf_close(g);
}

/* ---------------------------------------------------------------- 2. against transformers */

/* Logits (N_TOKENS, V) of the GGUF in m, from position 0, F32 cache; NULL on failure. */
static float *logits_of(const membuf *m, gf_err *err) {
    gf_gguf *g = NULL;
    gf_model *model = NULL;
    gf_state s = {0};
    float *out = malloc(sizeof(float) * N_TOKENS * R_VOCAB);
    int rc = !out || gf_gguf_parse(m->p, m->n, "mem", &g, err) ||
             gf_model_from_gguf(g, gf_kernels_detect(), &model, err) ||
             gf_state_init(&s, model, N_TOKENS, N_TOKENS, GF_TYPE_F32, err) ||
             gf_forward(model, &s, TOKENS, N_TOKENS, 0, 0, out, NULL, err);
    gf_state_free(&s);
    gf_model_free(model);
    gf_gguf_close(g);
    if (rc) free(out);
    return rc ? NULL : out;
}

/* A reference file of make.py: '#' comments, "tokens N t0 t1 ...", "logits N V", then N*V
 * numbers.  The logits in a new array, NULL (checked) if the file is not that. */
static double *read_ref(const char *path) {
    char *text = NULL;
    size_t len = 0;
    gf_err err = {0};
    CHECK(gf_read_file(path, (size_t)1 << 26, &text, &len, &err) == GF_OK, "%s", err.msg);
    if (!text) return NULL;
    double *ref = NULL;
    char *p = text;
    while (*p == '#') p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p);
    int n = 0, ok = sscanf(p, "tokens %d", &n) == 1 && n == N_TOKENS;
    p = strchr(p, ' ') ? strchr(p, ' ') + 1 : p;
    strtol(p, &p, 10);
    for (int i = 0; ok && i < N_TOKENS; i++) ok = strtol(p, &p, 10) == TOKENS[i];
    int rows = 0, cols = 0;
    p = ok ? strstr(p, "logits") : NULL;
    ok = p && sscanf(p, "logits %d %d", &rows, &cols) == 2 && rows == N_TOKENS && cols == R_VOCAB;
    if (ok) {
        p = strchr(p, '\n');
        ref = malloc(sizeof(double) * N_TOKENS * R_VOCAB);
        for (int i = 0; ok && i < N_TOKENS * R_VOCAB; i++) {
            char *end;
            ref[i] = strtod(p, &end);
            ok = end != p;
            p = end;
        }
    }
    CHECK(ok, "%s: not the tokens and %d x %d logits test_qwen3 expects", path, N_TOKENS, R_VOCAB);
    if (!ok) free(ref), ref = NULL;
    free(text);
    return ref;
}

static double rel_err(const float *a, const double *ref, size_t n) {
    double mx = 0, md = 0;
    for (size_t i = 0; i < n; i++) {
        mx = fmax(mx, fabs(ref[i]));
        const double d = fabs((double)a[i] - ref[i]);
        if (!(d <= md)) md = d; /* NaN sticks */
    }
    return md / mx;
}

/* The safetensors written here must be the bytes transformers read (weights.sha256),
 * else the logits compared below are another model's: say so. */
static void check_weights(const char *dir, const char *name) {
    char path[1024], line[256], *data = NULL;
    size_t len = 0;
    gf_err err = {0};
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK(gf_read_file(path, (size_t)1 << 26, &data, &len, &err) == GF_OK, "%s", err.msg);
    uint8_t d[32];
    char hex[65], want[80] = "";
    sha256(data, len, d);
    sha256_hex(d, hex);
    free(data);
    FILE *f = fopen("reference-outputs/qwen3/weights.sha256", "r");
    CHECK(f != NULL, "reference-outputs/qwen3/weights.sha256");
    while (f && fgets(line, sizeof line, f)) {
        char h[80], file[128];
        if (sscanf(line, "%79s %127s", h, file) == 2 && !strncmp(file, name, strlen(name)) && file[strlen(name)] == '/')
            snprintf(want, sizeof want, "%s", h);
    }
    if (f) fclose(f);
    CHECK(!strcmp(hex, want), "%s: the test's weights (sha256 %s) are not the ones of reference-outputs/qwen3 (%s): "
          "tests/random_model.h changed? run reference-outputs/qwen3/make.sh", name, hex, want);
}

static void test_vs_transformers(const char *dir, const char *ref_name, const char *what) {
    gf_err err = {0};
    membuf m = {0};
    gf_gguf *g = convert(dir, &F32_OPTS, &m, &err);
    CHECK(g != NULL, "%s: %s", what, err.msg);
    gf_gguf_close(g);
    float *lg = g ? logits_of(&m, &err) : NULL;
    CHECK(lg != NULL, "%s: %s", what, err.msg);
    for (int prec = 32; lg && prec <= 64; prec += 32) {
        char path[256];
        snprintf(path, sizeof path, "reference-outputs/qwen3/%s.f%d.txt", ref_name, prec);
        if (access(path, R_OK) != 0 && prec == 64) continue; /* the float64 run is stored for the tied model only */
        double *ref = read_ref(path);
        if (!ref) continue;
        const double e = rel_err(lg, ref, (size_t)N_TOKENS * R_VOCAB);
        printf("  %s: engine (F32 file, F32 cache) vs transformers float%d, %d tokens x %d logits: max relative "
               "error %.2e (limit %.0e)\n", what, prec, N_TOKENS, R_VOCAB, e, TOL_VS_HF);
        CHECK(e < TOL_VS_HF, "%s vs %s: %.3e", what, path, e);
        free(ref);
    }
    free(lg);
    free(m.p);
}

/* ---------------------------------------------------------------- 3. GGUF input */

static void test_gguf_input(const char *dir) {
    gf_err err = {0};
    membuf m = {0}, m2 = {0};
    gf_gguf *g = convert(dir, &F32_OPTS, &m, &err);
    CHECK(g != NULL, "%s", err.msg);
    gf_gguf_close(g);
    if (!g) return;
    char path[] = "/tmp/gf-qwen3-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, m.p, m.n) == (ssize_t)m.n, "write %s", path);
    close(fd);
    gf_gguf *g2 = convert(path, &F32_OPTS, &m2, &err);
    CHECK(g2 != NULL, "GGUF input: %s", err.msg);
    if (g2) {
        CHECK(u32_key(g2, "qwen3.attention.key_length") == 128 && u32_key(g2, "qwen3.attention.value_length") == 128,
              "GGUF input: key lengths carried through");
        gf_gguf_close(g2);
        float *a = logits_of(&m, &err), *b = logits_of(&m2, &err);
        CHECK(a && b && !memcmp(a, b, sizeof(float) * N_TOKENS * R_VOCAB), "GGUF input: the same logits");
        printf("  GGUF input -> F32 again: key lengths kept, logits identical\n");
        free(a), free(b);
    }
    free(m.p), free(m2.p);
    unlink(path);
}

/* ---------------------------------------------------------------- 4. methods */

static void test_methods(const char *dir) {
    char text[512];
    if (!check_shared_path(text, sizeof text, "data/nlp-valid.txt")) return;
    kld_ref r;
    if (!kld_ref_open(&r, dir, text, 64 << 10, 4)) return;
    static const gf_calib_opts calib = {.nsamples = 8, .seqlen = 128, .seed = 1};
    static const gf_ar_opts ar = {.iters = 50, .batch = 2, .seed = 3, .tune_range = 1}; /* a light recipe */
    static const struct {
        gf_type type;
        const char *method;
        double max_kld;
    } runs[] = { /* min-max first for each type */
        {GF_TYPE_Q8_0, "minmax", MAX_KLD_Q8}, {GF_TYPE_Q8_0, "awq", MAX_KLD_Q8},
        {GF_TYPE_Q4_0, "minmax", MAX_KLD_Q4}, {GF_TYPE_Q4_0, "imatrix", MAX_KLD_Q4},
        {GF_TYPE_Q4_0, "awq", MAX_KLD_Q4},    {GF_TYPE_Q4_0, "autoround", MAX_KLD_Q4},
    };
    double minmax = NAN;
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        gf_err err = {0};
        gf_convert_opts o = {.type = runs[i].type, .embed_type = -1, .output_type = -1, .calib = &calib,
                             .autoround = &ar, .blocks = gf_qmethod_find(runs[i].method)};
        CHECK(o.blocks != NULL, "method %s", runs[i].method);
        kld_file k;
        gf_status rc = o.blocks ? kld_convert(dir, &o, &k, &err) : GF_E_USAGE;
        CHECK(rc == GF_OK, "%s %s: %s", gf_type_name(runs[i].type), runs[i].method, err.msg);
        const double kld = rc ? NAN : kld_of(&r, k.m);
        const int is_minmax = !strcmp(runs[i].method, "minmax");
        if (is_minmax) minmax = kld;
        printf("  %s --blocks %-9s KLD from F32 %.5f (%.3fx min-max's)\n", gf_type_name(runs[i].type),
               runs[i].method, kld, kld / minmax);
        CHECK(is_minmax ? kld < runs[i].max_kld : kld < minmax, "%s %s: KLD %g (min-max %g, limit %g)",
              gf_type_name(runs[i].type), runs[i].method, kld, minmax, runs[i].max_kld);
        if (!rc) kld_file_free(&k);
    }
    kld_ref_free(&r);
}

/* ---------------------------------------------------------------- 5. refusals */

static void expect_refused(const char *what, const char *config, const char *key, const char *word) {
    char dir[] = "/tmp/gf-qwen3-bad-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    CHECK(write_model(dir, config, 1) == 0, "writing %s", dir);
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

/* llama-perplexity of a llama.cpp newer than c392e50 (it knows qwen3: the tree vendored in
 * llama-cpp-python 0.3.36, reference-outputs/qwen3/make-newer.sh) on our files of qwen3-q,
 * lines "model type chunks PPL +/-": ours within 0.1 % (F32) and 0.5 % (Q8_0, Q4_0). */
static int convert_quiet(const char *name, gf_type type, membuf *m, const void *dir, gf_err *err) {
    if (strcmp(name, "qwen3-q")) return gf_errf(err, GF_E_USAGE, "model '%s' is not qwen3-q", name), -1;
    const gf_convert_opts o = {.type = type, .embed_type = -1, .output_type = -1};
    gf_gguf *g = convert(dir, &o, m, err);
    gf_gguf_close(g);
    return g ? 0 : -1;
}

static void test_vs_newer_llamacpp(const char *dir) {
    size_t len = 0;
    char *text = mem_ppl_text("data/nlp-valid.txt", &len);
    if (!text) return;
    const int n = mem_ppl_check_file("reference-outputs/qwen3/ppl-newer.txt", 1, convert_quiet, dir,
                                     "newer llama-perplexity", text, len);
    CHECK(n == 3, "ppl-newer.txt has qwen3-q at f32, q8_0 and q4_0: %d lines", n);
    free(text);
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--write")) { /* the models of reference-outputs/qwen3/make.sh */
        char a[1024], b[1024];
        snprintf(a, sizeof a, "%s/qwen3", argv[2]);
        snprintf(b, sizeof b, "%s/qwen3-untied", argv[2]);
        char c[1024];
        snprintf(c, sizeof c, "%s/nemo", argv[2]);
        char q[1024];
        snprintf(q, sizeof q, "%s/qwen3-q", argv[2]);
        return write_model(a, QWEN3_06B("false", "true"), 1) || write_model(b, QWEN3_06B("false", "false"), 0) ||
               write_shape(c, NEMO, &NEMO_SHAPE) || write_model_scaled(q, QWEN3_06B("false", "true"), 1, QUIET_WSCALE);
    }
    char dir[] = "/tmp/gf-qwen3-XXXXXX", untied[] = "/tmp/gf-qwen3u-XXXXXX";
    CHECK(mkdtemp(dir) && mkdtemp(untied), "mkdtemp");
    CHECK(write_model(dir, QWEN3_06B("false", "true"), 1) == 0, "writing %s", dir);
    CHECK(write_model(untied, QWEN3_06B("false", "false"), 0) == 0, "writing %s", untied);
    membuf m = {0};
    printf("1. the F32 file of Qwen3-0.6B's config.json shrunk\n");
    test_file(dir, &m);
    printf("2. the engine against transformers (reference-outputs/qwen3)\n");
    check_weights(dir, "qwen3");
    check_weights(untied, "qwen3-untied");
    test_vs_transformers(dir, "logits-tied", "tied");
    test_vs_transformers(untied, "logits-untied", "untied");
    printf("3. GGUF input\n");
    test_gguf_input(dir);
    printf("4. quantization methods\n");
    test_methods(dir);
    printf("5. llama with an explicit head_dim: Mistral-Nemo-Base-2407's config.json shrunk\n");
    char nemo[] = "/tmp/gf-nemo-XXXXXX";
    CHECK(mkdtemp(nemo) != NULL, "mkdtemp");
    CHECK(write_shape(nemo, NEMO, &NEMO_SHAPE) == 0, "writing %s", nemo);
    {
        gf_err err = {0};
        gf_gguf *g = convert(nemo, &F32_OPTS, &m, &err);
        CHECK(g != NULL, "nemo: %s", err.msg);
        if (g) {
            CHECK(u32_key(g, "llama.attention.key_length") == 128 && u32_key(g, "llama.attention.value_length") == 128 &&
                      u32_key(g, "llama.rope.dimension_count") == 128 && u32_key(g, "llama.embedding_length") == 64,
                  "nemo: key/value_length and rope.dimension_count 128 on embedding_length 64");
            printf("  llama file: key_length, value_length, rope.dimension_count 128 on embedding_length 64\n");
        }
        gf_gguf_close(g);
    }
    check_weights(nemo, "nemo");
    test_vs_transformers(nemo, "logits-nemo", "Mistral Nemo shape");
    printf("6. refused configurations\n");
    expect_refused("attention_bias true", QWEN3_06B("true", "true"), "attention_bias", NULL);
    expect_refused("Qwen3MoeForCausalLM", QWEN3_MOE, "num_experts", "mixture-of-experts");
    printf("7. a newer llama.cpp on our F32, Q8_0 and Q4_0 files (reference-outputs/qwen3/ppl-newer.txt)\n");
    char quiet[] = "/tmp/gf-qwen3q-XXXXXX";
    CHECK(mkdtemp(quiet) != NULL, "mkdtemp");
    CHECK(write_model_scaled(quiet, QWEN3_06B("false", "true"), 1, QUIET_WSCALE) == 0, "writing %s", quiet);
    test_vs_newer_llamacpp(quiet);
    free(m.p);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s %s %s", dir, untied, nemo, quiet);
    CHECK(system(cmd) == 0, "%s", cmd);
    return check_done("test_qwen3");
}
