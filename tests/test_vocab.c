/*
 * test_vocab.c - the vocabulary: qwen2-tiny's tokenizer.* keys equal llama.cpp's
 * (oracle/qwen2-tiny-f32.f32.gguf-kv.json), GGUF round trips keep every field,
 * padding to the embedding's rows, and malformed tokenizer.json / config inputs
 * rejected with a message naming the file and key.
 */
#include "../formats/gguf.h"
#include "../formats/vocab.h"
#include "check.h"
#include "membuf.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------- helpers */


/* v -> GGUF bytes in m -> parsed g (caller frees m.p and g). */
static gf_gguf *to_gguf(const gf_vocab *v, membuf *m) {
    gf_err err = {0};
    gf_gguf *g = NULL;
    gf_gguf_writer *w = gf_gguf_writer_new();
    gf_sink sink = {mem_write, m};
    CHECK(gf_vocab_to_gguf(v, w, &err) == GF_OK, "%s", err.msg);
    CHECK(gf_gguf_write_header(w, &sink, &err) == GF_OK, "%s", err.msg);
    gf_gguf_writer_free(w);
    CHECK(gf_gguf_parse(m->p, m->n, "memory", &g, &err) == GF_OK, "%s", err.msg);
    return g;
}

static int same_str(const gf_str *a, const gf_str *b) {
    return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
}

static void check_same_vocab(const gf_vocab *a, const gf_vocab *b, const char *label) {
    CHECK(a->kind == b->kind && strcmp(a->pre, b->pre) == 0, "%s: kind/pre", label);
    CHECK(a->n_tokens == b->n_tokens, "%s: %d vs %d tokens", label, a->n_tokens, b->n_tokens);
    if (a->n_tokens != b->n_tokens) return;
    int bad_tok = -1, bad_type = -1, bad_score = -1, bad_merge = -1;
    for (int32_t i = 0; i < a->n_tokens; i++) {
        if (!same_str(&a->tokens[i], &b->tokens[i]) && bad_tok < 0) bad_tok = i;
        if (a->types[i] != b->types[i] && bad_type < 0) bad_type = i;
        if ((!a->scores) != (!b->scores) || (a->scores && a->scores[i] != b->scores[i])) bad_score = i;
    }
    CHECK(bad_tok < 0 && bad_type < 0 && bad_score < 0, "%s: token %d / type %d / score %d differ", label, bad_tok,
          bad_type, bad_score);
    CHECK(a->n_merges == b->n_merges, "%s: %d vs %d merges", label, a->n_merges, b->n_merges);
    for (int32_t i = 0; i < a->n_merges && i < b->n_merges; i++)
        if (!same_str(&a->merges[i], &b->merges[i]) && bad_merge < 0) bad_merge = i;
    CHECK(bad_merge < 0, "%s: merge %d differs", label, bad_merge);
    CHECK(a->bos_id == b->bos_id && a->eos_id == b->eos_id && a->unk_id == b->unk_id && a->pad_id == b->pad_id,
          "%s: special ids", label);
    CHECK(a->add_bos == b->add_bos && a->add_eos == b->add_eos, "%s: add_bos/add_eos", label);
    CHECK((!a->chat_template && !b->chat_template) ||
              (a->chat_template && b->chat_template && strcmp(a->chat_template, b->chat_template) == 0),
          "%s: chat_template", label);
}

/* One oracle value against our key. */
static int kv_equals_json(const gf_kv *kv, const cJSON *j) {
    if (cJSON_IsString(j)) return kv->type == GF_GGUF_STRING && strcmp(kv->str.s, j->valuestring) == 0;
    if (cJSON_IsBool(j)) return kv->type == GF_GGUF_BOOL && (kv->v.b != 0) == cJSON_IsTrue(j);
    if (cJSON_IsNumber(j)) return kv->type == GF_GGUF_U32 && (double)kv->v.u32 == j->valuedouble;
    if (!cJSON_IsArray(j) || kv->type != GF_GGUF_ARRAY || kv->n != (uint64_t)cJSON_GetArraySize(j)) return 0;
    uint64_t i = 0;
    for (const cJSON *e = j->child; e; e = e->next, i++) {
        if (kv->arr_type == GF_GGUF_STRING) {
            const gf_str *s = &((const gf_str *)kv->arr)[i];
            if (!cJSON_IsString(e) || strlen(e->valuestring) != s->len || memcmp(s->s, e->valuestring, s->len)) return 0;
        } else if (kv->arr_type == GF_GGUF_I32) {
            if (!cJSON_IsNumber(e) || ((const int32_t *)kv->arr)[i] != e->valuedouble) return 0;
        } else {
            return 0;
        }
    }
    return 1;
}

/* ---------------------------------------------------------------- tests */

static void test_qwen2_tiny_oracle(void) {
    char dir[512], kvp[512];
    if (!check_shared_path(dir, sizeof dir, "models/qwen2-tiny/f32") ||
        !check_shared_path(kvp, sizeof kvp, "oracle/qwen2-tiny-f32.f32.gguf-kv.json"))
        return;
    gf_err err = {0};
    gf_vocab *v = NULL, *back = NULL;
    CHECK(gf_vocab_from_hf(dir, 2051, &v, &err) == GF_OK, "%s", err.msg);
    if (!v) return;
    char *text = NULL;
    size_t len = 0;
    CHECK(gf_read_file(kvp, (size_t)16 << 20, &text, &len, &err) == GF_OK, "%s", err.msg);
    cJSON *oracle = text ? cJSON_ParseWithLength(text, len) : NULL;
    free(text);
    membuf m = {0};
    gf_gguf *g = to_gguf(v, &m);
    int n_keys = 0;
    for (const cJSON *e = oracle ? oracle->child : NULL; e && g; e = e->next) {
        if (strncmp(e->string, "tokenizer.", 10) != 0) continue;
        const gf_kv *kv = gf_gguf_find(g, e->string);
        CHECK(kv != NULL, "key %s missing", e->string);
        CHECK(kv && kv_equals_json(kv, e), "key %s differs from llama.cpp's", e->string);
        n_keys++;
    }
    CHECK(n_keys == 10, "oracle has %d tokenizer keys", n_keys);
    for (uint64_t i = 0; g && i < g->n_kv; i++) /* and no tokenizer key llama.cpp did not write */
        CHECK(cJSON_GetObjectItemCaseSensitive(oracle, g->kv[i].key.s) != NULL, "extra key %s", g->kv[i].key.s);
    if (g) {
        CHECK(gf_vocab_from_gguf(g, &back, &err) == GF_OK, "%s", err.msg);
        if (back) check_same_vocab(v, back, "qwen2-tiny round trip");
    }
    /* and llama.cpp's own file reads back to the same vocabulary */
    char op[512];
    gf_gguf *og = NULL;
    gf_vocab *ov = NULL;
    if (check_shared_path(op, sizeof op, "oracle/qwen2-tiny-f32.f32.gguf")) {
        CHECK(gf_gguf_open(op, &og, &err) == GF_OK, "%s", err.msg);
        if (og) CHECK(gf_vocab_from_gguf(og, &ov, &err) == GF_OK, "%s", err.msg);
        if (ov) check_same_vocab(v, ov, "qwen2-tiny vs llama.cpp's GGUF");
    }
    gf_vocab_free(ov);
    gf_gguf_close(og);
    gf_vocab_free(back);
    gf_gguf_close(g);
    free(m.p);
    cJSON_Delete(oracle);
    gf_vocab_free(v);
}

static void test_stories_round_trip(void) {
    char dir[512], op[512];
    if (!check_shared_path(dir, sizeof dir, "models/stories260K/f32")) return;
    gf_err err = {0};
    gf_vocab *v = NULL, *back = NULL;
    CHECK(gf_vocab_from_hf(dir, 512, &v, &err) == GF_OK, "%s", err.msg);
    if (!v) return;
    CHECK(v->kind == GF_VOCAB_SPM && v->scores && v->n_merges == 0, "stories260K: SPM with scores, no merges");
    CHECK(v->types[0] == GF_TOKEN_UNKNOWN && v->types[1] == GF_TOKEN_CONTROL && v->types[3] == GF_TOKEN_BYTE &&
              v->types[258] == GF_TOKEN_BYTE && v->types[259] == GF_TOKEN_NORMAL,
          "stories260K token types");
    CHECK(v->bos_id == 1 && v->eos_id == 2 && v->unk_id == 0 && v->add_bos == 1 && v->add_eos == 0,
          "stories260K special ids/flags: %d %d %d %d %d", v->bos_id, v->eos_id, v->unk_id, v->add_bos, v->add_eos);
    /* scores: byte/special 0, the first merge product highest */
    CHECK(v->scores[0] == 0 && v->scores[3] == 0 && v->scores[259] == 0 && v->scores[260] < 0,
          "stories260K scores %g %g %g", v->scores[0], v->scores[259], v->scores[260]);
    membuf m = {0};
    gf_gguf *g = to_gguf(v, &m);
    if (g) CHECK(gf_vocab_from_gguf(g, &back, &err) == GF_OK, "%s", err.msg);
    if (back) check_same_vocab(v, back, "stories260K round trip");
    /* llama.cpp's file: same texts and types as ours (its scores are llama2.c's) */
    gf_gguf *og = NULL;
    gf_vocab *ov = NULL;
    if (check_shared_path(op, sizeof op, "oracle/stories260K.f32.gguf")) {
        CHECK(gf_gguf_open(op, &og, &err) == GF_OK, "%s", err.msg);
        if (og) CHECK(gf_vocab_from_gguf(og, &ov, &err) == GF_OK, "%s", err.msg);
        int same = ov && ov->n_tokens == v->n_tokens && ov->kind == GF_VOCAB_SPM;
        for (int32_t i = 0; same && i < v->n_tokens; i++)
            same = same_str(&ov->tokens[i], &v->tokens[i]) && ov->types[i] == v->types[i];
        CHECK(same, "stories260K: tokens/types differ from llama.cpp's file");
    }
    gf_vocab_free(ov);
    gf_gguf_close(og);
    gf_vocab_free(back);
    gf_gguf_close(g);
    free(m.p);
    gf_vocab_free(v);
}

static void test_padding(void) {
    char dir[512];
    if (!check_shared_path(dir, sizeof dir, "models/qwen2-tiny/f32")) return;
    gf_err err = {0};
    gf_vocab *v = NULL;
    CHECK(gf_vocab_from_hf(dir, 2060, &v, &err) == GF_OK, "%s", err.msg);
    CHECK(v && v->n_tokens == 2060 && strcmp(v->tokens[2059].s, "[PAD2059]") == 0 &&
              v->types[2059] == GF_TOKEN_UNUSED && v->types[2050] == GF_TOKEN_CONTROL,
          "padding to 2060 rows");
    gf_vocab_free(v);
    v = NULL;
    CHECK(gf_vocab_from_hf(dir, 2000, &v, &err) == GF_E_FORMAT && !v, "2051 tokens in 2000 rows accepted");
    CHECK(strstr(err.msg, "tokenizer.json") && strstr(err.msg, "2000"), "message: %s", err.msg);
    char big[512];
    if (check_shared_path(big, sizeof big, "tokenizers/qwen2.5")) {
        CHECK(gf_vocab_from_hf(big, 151936, &v, &err) == GF_OK, "%s", err.msg);
        CHECK(v && v->n_tokens == 151936 && strcmp(v->tokens[151665].s, "[PAD151665]") == 0 &&
                  v->types[151665] == GF_TOKEN_UNUSED && v->types[151657] == GF_TOKEN_USER_DEFINED &&
                  v->eos_id == 151645 && v->pad_id == 151643 && v->bos_id == 151643 && v->add_bos == 0 &&
                  strcmp(v->pre, "qwen2") == 0,
              "qwen2.5 vocabulary");
        gf_vocab_free(v);
    }
}

/* ---------------------------------------------------------------- bad inputs */

#define BASE_PRE "\"pre_tokenizer\":{\"type\":\"ByteLevel\"}"
#define OKJSON "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\"]}," BASE_PRE "}"

typedef struct {
    const char *tokenizer_json, *tokenizer_config, *config;
    const char *expect; /* substring of the message */
} bad_case;

static const bad_case bad_cases[] = {
    {"not json", NULL, NULL, "tokenizer.json: invalid JSON near byte"},
    {"[1,2]", NULL, NULL, "top level"},
    {"{}", NULL, NULL, "'model'"},
    {"{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}", NULL, NULL, "Unigram"},
    {"{\"model\":{\"vocab\":{}}}", NULL, NULL, "model.type"},
    {"{\"model\":{\"type\":\"BPE\",\"vocab\":[]}," BASE_PRE "}", NULL, NULL, "model.vocab"},
    {"{\"model\":{\"type\":\"BPE\",\"vocab\":{}, \"merges\":[\"a b\"]}," BASE_PRE "}", NULL, NULL, "empty"},
    {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-1},\"merges\":[\"a b\"]}," BASE_PRE "}", NULL, NULL, "model.vocab"},
    {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":1.5},\"merges\":[\"a b\"]}," BASE_PRE "}", NULL, NULL, "model.vocab"},
    {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":\"0\"},\"merges\":[\"a b\"]}," BASE_PRE "}", NULL, NULL, "model.vocab"},
    {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":1e12},\"merges\":[\"a b\"]}," BASE_PRE "}", NULL, NULL, "model.vocab"},
    {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":0},\"merges\":[\"a b\"]}," BASE_PRE "}", NULL, NULL,
     "given to both"},
    {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"\":0},\"merges\":[\"a b\"]}," BASE_PRE "}", NULL, NULL, "0 bytes"},
    {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}}," BASE_PRE "}", NULL, NULL, "model.merges"},
    {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":{}}," BASE_PRE "}", NULL, NULL, "model.merges"},
    {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"ab\"]}," BASE_PRE "}", NULL, NULL, "model.merges[0]"},
    {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a b\",7]}," BASE_PRE "}", NULL, NULL,
     "model.merges[1]"},
    {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[[\"a\"]]}," BASE_PRE "}", NULL, NULL, "model.merges[0]"},
    {"{\"model\":{\"type\":\"BPE\",\"byte_fallback\":\"yes\",\"vocab\":{\"a\":0}}}", NULL, NULL, "byte_fallback"},
    {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a b\"]},\"added_tokens\":{}," BASE_PRE "}", NULL,
     NULL, "added_tokens"},
    {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a b\"]},\"added_tokens\":[{\"id\":\"1\","
     "\"content\":\"x\"}]," BASE_PRE "}", NULL, NULL, "added_tokens[0].id"},
    {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a b\"]},\"added_tokens\":[{\"id\":1}]," BASE_PRE
     "}", NULL, NULL, "added_tokens[0].content"},
    {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a b\"]},\"added_tokens\":[{\"id\":1,"
     "\"content\":\"x\"},{\"id\":1,\"content\":\"y\"}]," BASE_PRE "}", NULL, NULL, "added twice"},
    {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a b\"]},\"added_tokens\":[{\"id\":1,"
     "\"content\":\"a\"}]," BASE_PRE "}", NULL, NULL, "used by both"},
    {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a b\"]},\"pre_tokenizer\":{\"type\":\"Split\","
     "\"pattern\":{\"Regex\":\"\\\\w+\"}},\"decoder\":{\"type\":\"ByteLevel\"}}", NULL, NULL, "pre_tokenizer"},
    {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a b\"]}}", NULL, NULL, "byte-level"},
    {OKJSON, "[1]", NULL, "tokenizer_config.json"},
    {OKJSON, "{\"chat_template\":", NULL, "tokenizer_config.json"},
    {OKJSON, NULL, "{\"bos_token_id\": -5}", "bos_token_id"},
};

static void test_bad_inputs(void) {
    for (size_t i = 0; i < sizeof bad_cases / sizeof *bad_cases; i++) {
        const bad_case *c = &bad_cases[i];
        gf_vocab_hf_text in = {
            .tokenizer_json = c->tokenizer_json, .tokenizer_json_len = strlen(c->tokenizer_json),
            .tokenizer_config = c->tokenizer_config, .tokenizer_config_len = c->tokenizer_config ? strlen(c->tokenizer_config) : 0,
            .config = c->config, .config_len = c->config ? strlen(c->config) : 0,
        };
        gf_vocab *v = NULL;
        gf_err err = {0};
        gf_status st = gf_vocab_from_hf_text(&in, 0, &v, &err);
        CHECK(st != GF_OK && !v, "bad case %zu accepted: %s", i, c->tokenizer_json);
        CHECK(st == GF_OK || strstr(err.msg, c->expect), "bad case %zu: message '%s' lacks '%s'", i, err.msg, c->expect);
        gf_vocab_free(v);
    }
}

/* The same through files, with pair-form merges and a space inside a part. */
static void test_files(void) {
    char dir[] = "/tmp/gf_test_vocab_XXXXXX", path[256];
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp failed");
        return;
    }
    const char *tj = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b c\":1,\"ab c\":2,\"<|x|>\":3},"
                     "\"merges\":[[\"a\",\"b c\"]]},\"added_tokens\":[{\"id\":3,\"content\":\"<|x|>\",\"special\":true},"
                     "{\"id\":4,\"content\":\"<u>\",\"special\":false}]," BASE_PRE "}";
    const char *tc = "{\"eos_token\":{\"content\":\"<|x|>\"},\"add_eos_token\":true,\"chat_template\":\"T\"}";
    const char *files[2][2] = {{"tokenizer.json", tj}, {"tokenizer_config.json", tc}};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i][0]);
        FILE *f = fopen(path, "wb");
        if (f) fputs(files[i][1], f), fclose(f);
    }
    gf_vocab *v = NULL;
    gf_err err = {0};
    CHECK(gf_vocab_from_hf(dir, 8, &v, &err) == GF_OK, "%s", err.msg);
    if (v) {
        CHECK(v->n_tokens == 8 && strcmp(v->pre, "gpt-2") == 0 && v->n_merges == 1 &&
                  strcmp(v->merges[0].s, "a b\xc4\xa0" "c") == 0,
              "pair merge: '%s'", v->n_merges ? v->merges[0].s : "");
        CHECK(v->types[3] == GF_TOKEN_CONTROL && v->types[4] == GF_TOKEN_USER_DEFINED && v->types[5] == GF_TOKEN_UNUSED,
              "types %d %d %d", v->types[3], v->types[4], v->types[5]);
        CHECK(v->eos_id == 3 && v->add_eos == 1 && v->add_bos == 0 && v->chat_template &&
                  strcmp(v->chat_template, "T") == 0, "config values");
    }
    gf_vocab_free(v);
    v = NULL;
    /* a broken tokenizer.json names its path */
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    FILE *f = fopen(path, "wb");
    if (f) fputs("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":true}}}", f), fclose(f);
    CHECK(gf_vocab_from_hf(dir, 0, &v, &err) == GF_E_FORMAT && strstr(err.msg, path) &&
              strstr(err.msg, "model.vocab"), "message: %s", err.msg);
    gf_vocab_free(v);
    v = NULL;
    remove(path);
    CHECK(gf_vocab_from_hf(dir, 0, &v, &err) == GF_E_IO && strstr(err.msg, "tokenizer.json"), "missing file: %s",
          err.msg);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    remove(path);
    rmdir(dir);
}

int main(void) {
    test_qwen2_tiny_oracle();
    test_stories_round_trip();
    test_padding();
    test_bad_inputs();
    test_files();
    return check_done("test_vocab");
}
