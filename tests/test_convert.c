/*
 * test_convert.c - the spine end to end: HF folder -> GGUF, checked against
 * llama.cpp's own output (../shared/oracle: tensor SHA-256s of llama-quantize
 * --pure, the F32 reference files' metadata and tensors) and against models
 * the test builds itself (untied, sharded, broken).
 */
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../convert/convert.h"
#include "../formats/gguf.h"
#include "../formats/hfconfig.h"
#include "../formats/safetensors.h"
#include "check.h"
#include "membuf.h"
#include "sha256.h"
#include "st_write.h"
#include "random_model.h"

#include <cjson/cJSON.h>

/* ---------------------------------------------------------------- helpers */


/* Converts dir into memory and parses the result; NULL (err set) on failure. */
static gf_gguf *convert(const char *dir, const gf_convert_opts *o, membuf *m, gf_err *err) {
    gf_sink sink = {mem_write, m};
    gf_convert_summary sum;
    m->n = 0;
    if (gf_convert(dir, &sink, o, &sum, err)) return NULL;
    gf_gguf *g = NULL;
    if (gf_gguf_parse(m->p, m->n, dir, &g, err)) return NULL;
    if (sum.out_bytes != m->n) gf_errf(err, GF_E_USAGE, "summary says %llu bytes, wrote %zu", (unsigned long long)sum.out_bytes, m->n);
    return g;
}

static const gf_gguf_tensor *tensor(const gf_gguf *g, const char *name) {
    int64_t i = gf_gguf_find_tensor(g, name);
    return i < 0 ? NULL : &g->tensors[i];
}

/* ---------------------------------------------------------------- oracle: tensor bytes */

static void test_oracle_hashes(void) {
    static const char *srcs[] = {"f32", "bf16"};
    static const gf_type types[] = {GF_TYPE_Q8_0, GF_TYPE_Q4_0};
    membuf m = {0};
    for (int s = 0; s < 2; s++) {
        for (int t = 0; t < 2; t++) {
            char dir[1024], ref[1024], rel[256];
            snprintf(rel, sizeof rel, "models/qwen2-tiny/%s", srcs[s]);
            if (!check_shared_path(dir, sizeof dir, rel)) return;
            snprintf(rel, sizeof rel, "oracle/qwen2-tiny-%s.%s.tensor-sha256.txt", srcs[s], gf_type_info(types[t])->name);
            if (!check_shared_path(ref, sizeof ref, rel)) return;
            gf_convert_opts o = {.type = types[t], .embed_type = -1, .output_type = -1, .pure = 1};
            gf_err err = {0};
            gf_gguf *g = convert(dir, &o, &m, &err);
            CHECK(g != NULL, "%s", err.msg);
            if (!g) continue;
            FILE *f = fopen(ref, "r");
            char name[128], type[16], hash[80];
            int lines = 0, same = 0;
            while (f && fscanf(f, "%127s %15s %79s", name, type, hash) == 3) {
                lines++;
                const gf_gguf_tensor *tt = tensor(g, name);
                if (!tt) { CHECK(0, "%s/%s: tensor %s missing", srcs[s], rel, name); continue; }
                uint8_t d[32];
                char hex[65];
                sha256(tt->data, tt->nbytes, d);
                sha256_hex(d, hex);
                int ok = strcmp(hex, hash) == 0 && strcasecmp(type, gf_type_info(tt->type)->name) == 0;
                if (!ok) fprintf(stderr, "  %s %s: %s %s, llama.cpp %s %s\n", rel, name, gf_type_info(tt->type)->name, hex, type, hash);
                same += ok;
            }
            if (f) fclose(f);
            CHECK(lines == 50 && same == lines, "%s: %d of %d tensors byte-identical to llama-quantize --pure", rel, same, lines);
            CHECK(g->n_tensors == 50, "%s: %llu tensors", rel, (unsigned long long)g->n_tensors);
            gf_gguf_close(g);
        }
    }
    free(m.p);
}

/* ---------------------------------------------------------------- oracle: metadata */

static int kv_equals_json(const gf_kv *kv, const cJSON *j) {
    switch (kv->type) {
    case GF_GGUF_U32: return cJSON_IsNumber(j) && j->valuedouble == kv->v.u32;
    case GF_GGUF_I32: return cJSON_IsNumber(j) && j->valuedouble == kv->v.i32;
    case GF_GGUF_F32: return cJSON_IsNumber(j) && (float)j->valuedouble == kv->v.f32;
    case GF_GGUF_BOOL: return cJSON_IsBool(j) && cJSON_IsTrue(j) == (kv->v.b != 0);
    case GF_GGUF_STRING: return cJSON_IsString(j) && strcmp(j->valuestring, kv->str.s) == 0;
    case GF_GGUF_ARRAY:
        if (!cJSON_IsArray(j) || (uint64_t)cJSON_GetArraySize(j) != kv->n) return 0;
        uint64_t i = 0;
        for (const cJSON *e = j->child; e; e = e->next, i++) {
            gf_kv one = {.type = kv->arr_type};
            if (kv->arr_type == GF_GGUF_STRING) one.str = ((gf_str *)kv->arr)[i];
            else memcpy(&one.v, (uint8_t *)kv->arr + i * gf_gguf_vtype_size(kv->arr_type), gf_gguf_vtype_size(kv->arr_type));
            if (!kv_equals_json(&one, e)) return 0;
        }
        return 1;
    default: return 0;
    }
}

static void test_oracle_metadata(void) {
    char dir[1024], ref[1024], okv[1024];
    if (!check_shared_path(dir, sizeof dir, "models/qwen2-tiny/f32") ||
        !check_shared_path(ref, sizeof ref, "oracle/qwen2-tiny-f32.f32.gguf-kv.json") ||
        !check_shared_path(okv, sizeof okv, "oracle/qwen2-tiny-f32.f32.gguf"))
        return;
    membuf m = {0};
    gf_err err = {0};
    gf_convert_opts o = {.type = GF_TYPE_F32, .embed_type = -1, .output_type = -1};
    gf_gguf *g = convert(dir, &o, &m, &err), *oracle = NULL;
    CHECK(g != NULL, "%s", err.msg);
    char *text = NULL;
    cJSON *j = NULL;
    if (g && gf_read_file(ref, 1 << 24, &text, NULL, &err) == GF_OK) j = cJSON_Parse(text);
    CHECK(j != NULL, "cannot read %s", ref);
    int n_keys = 0, n_same = 0;
    for (const cJSON *e = j ? j->child : NULL; e; e = e->next) {
        if (strncmp(e->string, "qwen2.", 6) && strncmp(e->string, "tokenizer.", 10) && strcmp(e->string, "general.architecture"))
            continue;
        n_keys++;
        const gf_kv *kv = gf_gguf_find(g, e->string);
        int ok = kv && kv_equals_json(kv, e);
        if (!ok) fprintf(stderr, "  key %s differs from llama.cpp's\n", e->string);
        n_same += ok;
    }
    CHECK(n_keys == 19 && n_same == n_keys, "%d of %d architecture/tokenizer keys equal llama.cpp's", n_same, n_keys);
    CHECK(g && gf_gguf_find(g, "general.quantized_by") && gf_gguf_find(g, "gguf-forge.type"), "provenance keys");

    /* F32 tensors: same names, shapes and bytes as llama.cpp's converter wrote */
    CHECK(gf_gguf_open(okv, &oracle, &err) == GF_OK, "%s", err.msg);
    int same = 0;
    for (uint64_t i = 0; g && oracle && i < oracle->n_tensors; i++) {
        const gf_gguf_tensor *a = &oracle->tensors[i], *b = tensor(g, a->name.s);
        same += b && b->type == a->type && b->n_dims == a->n_dims && !memcmp(a->ne, b->ne, sizeof a->ne) &&
                b->nbytes == a->nbytes && !memcmp(a->data, b->data, a->nbytes);
    }
    CHECK(oracle && g && same == (int)oracle->n_tensors && g->n_tensors == oracle->n_tensors,
          "%d F32 tensors identical to llama.cpp's", same);
    gf_gguf_close(oracle);
    cJSON_Delete(j);
    free(text);
    gf_gguf_close(g);
    free(m.p);
}

/* ---------------------------------------------------------------- stories260K: llama layout, fallback */

static void test_stories(void) {
    char dir[1024], okv[1024];
    if (!check_shared_path(dir, sizeof dir, "models/stories260K/f32") ||
        !check_shared_path(okv, sizeof okv, "oracle/stories260K.f32.gguf"))
        return;
    membuf m = {0};
    gf_err err = {0};
    gf_gguf *oracle = NULL, *g;
    CHECK(gf_gguf_open(okv, &oracle, &err) == GF_OK, "%s", err.msg);
    /* F32: q/k must be in GGUF's (llama2.c's) layout, like every other tensor */
    gf_convert_opts o = {.type = GF_TYPE_F32, .embed_type = -1, .output_type = -1};
    g = convert(dir, &o, &m, &err);
    CHECK(g != NULL, "%s", err.msg);
    int same = 0, n = 0;
    for (uint64_t i = 0; g && oracle && i < g->n_tensors; i++) {
        const gf_gguf_tensor *b = &g->tensors[i], *a = tensor(oracle, b->name.s);
        n++;
        same += a && a->nbytes == b->nbytes && !memcmp(a->ne, b->ne, sizeof a->ne) && !memcmp(a->data, b->data, a->nbytes);
    }
    CHECK(n == 47 && same == n, "stories260K: %d of %d F32 tensors identical to llama.cpp's llama2c conversion", same, n);
    CHECK(g && !tensor(g, "output.weight"), "tied model wrote output.weight");
    gf_gguf_close(g);

    /* Q4_0: the 172-wide ffn_down falls back to F16, everything else quantizes */
    o.type = GF_TYPE_Q4_0;
    o.pure = 1;
    g = convert(dir, &o, &m, &err);
    CHECK(g != NULL, "%s", err.msg);
    int f16 = 0, q4 = 0;
    for (uint64_t i = 0; g && i < g->n_tensors; i++) {
        f16 += g->tensors[i].type == GF_TYPE_F16 && strstr(g->tensors[i].name.s, "ffn_down");
        q4 += g->tensors[i].type == GF_TYPE_Q4_0;
    }
    CHECK(f16 == 5 && q4 == 1 + 5 * 6, "stories260K q4_0: %d f16 ffn_down, %d q4_0", f16, q4);
    gf_gguf_close(g);
    gf_gguf_close(oracle);
    free(m.p);
}

/* ---------------------------------------------------------------- random untied model */

#define R_EMBD 64
#define R_HEAD 4
#define R_KV 2
#define R_HD (R_EMBD / R_HEAD)
#define R_FF 96
#define R_LAYERS 2

static int make_random_model(const char *dir, rt *ts, int *n_ts, int sharded) {
    rm_spec sp = {.embd = R_EMBD, .heads = R_HEAD, .kv_heads = R_KV, .ff = R_FF, .layers = R_LAYERS, .seed = 42};
    return rm_write(dir, &sp, ts, n_ts, sharded);
}

static const rt *find_rt(const rt *ts, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(ts[i].name, name)) return &ts[i];
    return NULL;
}

static void test_random_untied(const char *tmp) {
    rt ts[64], ts2[64];
    int n = 0, n2 = 0;
    char d1[512], d2[512];
    snprintf(d1, sizeof d1, "%s/untied", tmp);
    snprintf(d2, sizeof d2, "%s/sharded", tmp);
    CHECK(make_random_model(d1, ts, &n, 0) == 0, "cannot write %s", d1);
    CHECK(make_random_model(d2, ts2, &n2, 1) == 0, "cannot write %s", d2);
    membuf m1 = {0}, m2 = {0};
    gf_err err = {0};
    gf_convert_opts o = {.type = GF_TYPE_F32, .embed_type = -1, .output_type = -1, .name = "random"};
    gf_gguf *g = convert(d1, &o, &m1, &err);
    CHECK(g != NULL, "untied: %s", err.msg);
    gf_gguf *g2 = convert(d2, &o, &m2, &err);
    CHECK(g2 != NULL, "sharded: %s", err.msg);
    if (!g || !g2) return;
    CHECK(m1.n == m2.n && !memcmp(m1.p, m2.p, m1.n), "sharded folder gives other bytes than the single file");
    CHECK(g->n_tensors == (uint64_t)n, "%llu tensors, %d in the model", (unsigned long long)g->n_tensors, n);
    const gf_gguf_tensor *out = tensor(g, "output.weight"), *emb = tensor(g, "token_embd.weight");
    const rt *lm = find_rt(ts, n, "lm_head.weight"), *et = find_rt(ts, n, "model.embed_tokens.weight");
    CHECK(out && out->ne[0] == R_EMBD && out->ne[1] == R_VOCAB && !memcmp(out->data, lm->w, out->nbytes), "output.weight = lm_head");
    CHECK(emb && !memcmp(emb->data, et->w, emb->nbytes), "token_embd = embed_tokens");
    /* llama q/k: head h's GGUF rows 2i and 2i+1 are HF rows i and i+hd/2 (rotate-half -> interleaved) */
    int bad = 0;
    for (int l = 0; l < R_LAYERS; l++) {
        for (int qk = 0; qk < 2; qk++) {
            char hn[96], gn[64];
            snprintf(hn, sizeof hn, "model.layers.%d.self_attn.%s_proj.weight", l, qk ? "k" : "q");
            snprintf(gn, sizeof gn, "blk.%d.attn_%s.weight", l, qk ? "k" : "q");
            const rt *src = find_rt(ts, n, hn);
            const gf_gguf_tensor *t = tensor(g, gn);
            if (!t) { bad++; continue; }
            const float *dst = t->data;
            for (int64_t h = 0; h < src->rows / R_HD; h++)
                for (int i = 0; i < R_HD / 2; i++)
                    for (int j = 0; j < 2; j++)
                        bad += memcmp(dst + (h * R_HD + 2 * i + j) * R_EMBD, src->w + (h * R_HD + i + j * R_HD / 2) * R_EMBD,
                                      R_EMBD * sizeof(float)) != 0;
        }
    }
    CHECK(bad == 0, "%d q/k rows not in llama.cpp's order", bad);
    const gf_gguf_tensor *v = tensor(g, "blk.1.attn_v.weight");
    CHECK(v && !memcmp(v->data, find_rt(ts, n, "model.layers.1.self_attn.v_proj.weight")->w, v->nbytes), "v unchanged");
    const gf_kv *ot = gf_gguf_find(g, "gguf-forge.output_type");
    CHECK(ot && !strcmp(ot->str.s, "f32"), "output type recorded");
    gf_gguf_close(g);
    gf_gguf_close(g2);

    /* default types: q4_0 blocks, q8_0 embedding and output */
    o.type = GF_TYPE_Q4_0;
    g = convert(d1, &o, &m1, &err);
    CHECK(g && tensor(g, "token_embd.weight")->type == GF_TYPE_Q8_0 && tensor(g, "output.weight")->type == GF_TYPE_Q8_0 &&
              tensor(g, "blk.0.ffn_up.weight")->type == GF_TYPE_Q4_0 && tensor(g, "blk.0.attn_norm.weight")->type == GF_TYPE_F32,
          "default q4_0 type plan");
    gf_gguf_close(g);
    /* --embed-type, --output-type and a --tensor-type rule */
    gf_type_rule rule = {"ffn_down", GF_TYPE_Q8_0};
    o.embed_type = GF_TYPE_F16;
    o.output_type = GF_TYPE_Q4_0;
    o.rules = &rule;
    o.n_rules = 1;
    g = convert(d1, &o, &m1, &err);
    CHECK(g && tensor(g, "token_embd.weight")->type == GF_TYPE_F16 && tensor(g, "output.weight")->type == GF_TYPE_Q4_0 &&
              tensor(g, "blk.1.ffn_down.weight")->type == GF_TYPE_Q8_0 && tensor(g, "blk.1.ffn_up.weight")->type == GF_TYPE_Q4_0,
          "type options");
    gf_gguf_close(g);
    for (int i = 0; i < n; i++) free(ts[i].w);
    for (int i = 0; i < n2; i++) free(ts2[i].w);
    free(m1.p);
    free(m2.p);
}

/* ---------------------------------------------------------------- refusals */

/* Rewrites dir/config.json with `from` replaced by `to` in the untied model's config. */
static void expect_config_refusal(const char *dir, const char *from, const char *to, gf_status want, const char *needle) {
    char path[600], *text = NULL;
    gf_err err = {0};
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (gf_read_file(path, 1 << 20, &text, NULL, &err)) { CHECK(0, "%s", err.msg); return; }
    char *at = strstr(text, from), buf[4096];
    CHECK(at != NULL, "'%s' not in config", from);
    if (!at) { free(text); return; }
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    stw_write_text(path, buf);
    membuf m = {0};
    gf_convert_opts o = {.type = GF_TYPE_Q8_0, .embed_type = -1, .output_type = -1};
    gf_gguf *g = convert(dir, &o, &m, &err);
    CHECK(!g && err.code == want && strstr(err.msg, needle), "%s -> %s: want %s with '%s', got %s: %s", from, to,
          gf_status_name(want), needle, gf_status_name(err.code), err.msg);
    gf_gguf_close(g);
    stw_write_text(path, text); /* restore */
    free(text);
    free(m.p);
}

static void test_refusals(const char *tmp) {
    char d[512];
    snprintf(d, sizeof d, "%s/untied", tmp);
    expect_config_refusal(d, "LlamaForCausalLM", "GemmaForCausalLM", GF_E_UNSUPPORTED, "GemmaForCausalLM");
    expect_config_refusal(d, "\"rope_scaling\":null", "\"rope_scaling\":{\"type\":\"dynamic\",\"factor\":2}", GF_E_UNSUPPORTED, "rope_scaling");
    /* llama takes an explicit head_dim (Mistral Nemo); one the tensors do not have is their shape's fault */
    expect_config_refusal(d, "\"hidden_act\":\"silu\"", "\"hidden_act\":\"silu\",\"head_dim\":32", GF_E_FORMAT,
                          "k_proj.weight' has shape [32, 64], config.json implies [64, 64]");
    expect_config_refusal(d, "\"hidden_act\":\"silu\"", "\"hidden_act\":\"silu\",\"num_local_experts\":8", GF_E_UNSUPPORTED, "num_local_experts");
    expect_config_refusal(d, "\"hidden_act\":\"silu\"", "\"hidden_act\":\"silu\",\"sliding_window\":128", GF_E_UNSUPPORTED, "sliding_window"); /* < context 256 */
    expect_config_refusal(d, "\"hidden_act\":\"silu\"", "\"hidden_act\":\"gelu\"", GF_E_UNSUPPORTED, "hidden_act");
    expect_config_refusal(d, "\"num_hidden_layers\":2", "\"num_hidden_layers\":3", GF_E_FORMAT, "blk.2.");
    expect_config_refusal(d, "\"intermediate_size\":96", "\"intermediate_size\":64", GF_E_FORMAT, "mlp.down_proj.weight");
    expect_config_refusal(d, "\"vocab_size\":2051", "\"vocab_size\":2000", GF_E_FORMAT, "2000");
    expect_config_refusal(d, "\"num_key_value_heads\":2", "\"num_key_value_heads\":3", GF_E_FORMAT, "num_key_value_heads");
    expect_config_refusal(d, "\"hidden_size\":64", "\"hidden_size\":64.5", GF_E_FORMAT, "hidden_size");
    expect_config_refusal(d, "\"tie_word_embeddings\":false", "\"tie_word_embeddings\":\"no\"", GF_E_FORMAT, "tie_word_embeddings");

    /* a NaN weight is refused with the tensor named */
    char path[600];
    float w[64 * 4];
    for (int i = 0; i < 64 * 4; i++) w[i] = (float)i;
    w[130] = NAN;
    snprintf(d, sizeof d, "%s/nan", tmp);
    mkdir(d, 0755);
    snprintf(path, sizeof path, "%s/model.safetensors", d);
    stw_tensor t = {"x", "F32", 2, {4, 64}, w, sizeof w};
    stw_write(path, &t, 1);
    gf_safetensors *st = NULL;
    gf_err err = {0};
    CHECK(gf_st_open(d, &st, &err) == GF_OK, "%s", err.msg);
    float out[64 * 4];
    CHECK(st && gf_st_read_rows(st, &st->tensors[0], 0, 4, out, &err) == GF_E_VALUE && strstr(err.msg, "'x'") &&
              strstr(err.msg, "NaN at row 2, column 2"),
          "NaN message: %s", err.msg);
    gf_st_close(st);
}

int main(void) {
    char tmp[] = "/tmp/gf-test-convert-XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    test_oracle_hashes();
    test_oracle_metadata();
    test_stories();
    test_random_untied(tmp);
    test_refusals(tmp);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return check_done("test_convert");
}
