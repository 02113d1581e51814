/*
 * test_tokenizer.c - the tokenizer against llama.cpp's ids (oracle/tokens-*.json,
 * made with llama-tokenize c392e50): every test string with and without special-token
 * parsing, and whole files (count, SHA-256 of the ids joined by spaces, first/last 64),
 * for vocabularies built from the HF folders and read back from llama.cpp's GGUFs.
 * Also: detokenization round trips, invalid UTF-8, speed on wiki.test.raw.
 */
#include "../engine/tokenizer.h"
#include "../formats/gguf.h"
#include "../formats/vocab.h"
#include "check.h"
#include "sha256.h"

#include <cjson/cJSON.h>

/* The time to tokenize each file is printed, never checked: speed belongs to make bench,
 * and a timed test fails on a busy machine. */

static cJSON *load_json(const char *path) {
    char *text = NULL;
    size_t len = 0;
    gf_err err = {0};
    if (gf_read_file(path, (size_t)64 << 20, &text, &len, &err) != GF_OK) {
        CHECK(0, "%s", err.msg);
        return NULL;
    }
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    CHECK(j != NULL, "%s: bad JSON", path);
    return j;
}

static int ids_equal(const int32_t *ids, size_t n, const cJSON *want) {
    if (!cJSON_IsArray(want) || (size_t)cJSON_GetArraySize(want) != n) return 0;
    size_t i = 0;
    for (const cJSON *e = want->child; e; e = e->next, i++)
        if (!cJSON_IsNumber(e) || e->valueint != ids[i]) return 0;
    return 1;
}

static void print_ids(const char *what, const int32_t *ids, size_t n) {
    fprintf(stderr, "  %s (%zu):", what, n);
    for (size_t i = 0; i < n && i < 40; i++) fprintf(stderr, " %d", (int)ids[i]);
    fprintf(stderr, "\n");
}

static void check_case(const gf_tokenizer *t, const char *label, const cJSON *c) {
    const cJSON *text = cJSON_GetObjectItem(c, "text");
    const char *key[2] = {"ids", "ids_parse_special"};
    for (int ps = 0; ps < 2; ps++) {
        int32_t *ids = NULL;
        size_t n = 0;
        gf_err err = {0};
        gf_status st = gf_tokenize(t, text->valuestring, strlen(text->valuestring), 1, ps, &ids, &n, &err);
        CHECK(st == GF_OK, "%s: %s", label, err.msg);
        int ok = st == GF_OK && ids_equal(ids, n, cJSON_GetObjectItem(c, key[ps]));
        CHECK(ok, "%s: '%.40s' %s differs", label, text->valuestring, key[ps]);
        if (!ok && st == GF_OK) {
            print_ids("got", ids, n);
            char *w = cJSON_PrintUnformatted(cJSON_GetObjectItem(c, key[ps]));
            fprintf(stderr, "  want: %.300s\n", w);
            free(w);
        }
        free(ids);
    }
}

static void join_hash(const int32_t *ids, size_t n, char hex[65]) {
    sha256_ctx c;
    sha256_init(&c);
    char tmp[16];
    for (size_t i = 0; i < n; i++) {
        int k = snprintf(tmp, sizeof tmp, i ? " %d" : "%d", (int)ids[i]);
        sha256_update(&c, tmp, (size_t)k);
    }
    uint8_t d[32];
    sha256_final(&c, d);
    sha256_hex(d, hex);
}

static void check_file(const gf_tokenizer *t, const char *label, const cJSON *f) {
    char path[512], rel[256];
    const char *name = cJSON_GetObjectItem(f, "file")->valuestring;
    snprintf(rel, sizeof rel, "data/%s", name);
    if (!check_shared_path(path, sizeof path, rel)) return;
    char *text = NULL;
    size_t len = 0;
    gf_err err = {0};
    if (gf_read_file(path, (size_t)64 << 20, &text, &len, &err) != GF_OK) {
        CHECK(0, "%s", err.msg);
        return;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    double t0 = gf_time_now();
    gf_status st = gf_tokenize(t, text, len, 1, 0, &ids, &n, &err);
    double dt = gf_time_now() - t0;
    CHECK(st == GF_OK, "%s: %s", label, err.msg);
    printf("%s: %s: %zu bytes -> %zu tokens in %.3f s\n", label, name, len, n, dt);
    const cJSON *want_n = cJSON_GetObjectItem(f, "n_tokens");
    CHECK((double)n == want_n->valuedouble, "%s: %s: %zu tokens, want %.0f", label, name, n, want_n->valuedouble);
    char hex[65];
    join_hash(ids, n, hex);
    CHECK(strcmp(hex, cJSON_GetObjectItem(f, "sha256_of_ids_joined_by_space")->valuestring) == 0,
          "%s: %s: ids hash %s differs", label, name, hex);
    CHECK(n >= 64 && ids_equal(ids, 64, cJSON_GetObjectItem(f, "first_64")), "%s: %s: first 64 differ", label, name);
    CHECK(n >= 64 && ids_equal(ids + n - 64, 64, cJSON_GetObjectItem(f, "last_64")), "%s: %s: last 64 differ",
          label, name);
    free(ids);
    free(text);
}

/* detokenize(tokenize(s)) == s, for text without special-token look-alikes */
static void check_round_trip(const gf_tokenizer *t, const char *label, const char *s) {
    int32_t *ids = NULL;
    size_t n = 0, len = 0;
    char *back = NULL;
    gf_err err = {0};
    CHECK(gf_tokenize(t, s, strlen(s), 0, 0, &ids, &n, &err) == GF_OK, "%s", err.msg);
    CHECK(gf_detokenize(t, ids, n, 0, 1, &back, &len, &err) == GF_OK, "%s", err.msg);
    CHECK(back && len == strlen(s) && memcmp(back, s, len) == 0, "%s: round trip of '%.40s' gave '%.40s'", label, s,
          back ? back : "(null)");
    free(ids);
    free(back);
}

static void run_suite(gf_vocab *v, const char *label, const cJSON *oracle, int files) {
    gf_tokenizer *t = NULL;
    gf_err err = {0};
    gf_status st = gf_tokenizer_init(v, &t, &err);
    CHECK(st == GF_OK, "%s: %s", label, err.msg);
    if (st != GF_OK) return;
    int before = check_failed;
    for (const cJSON *c = cJSON_GetObjectItem(oracle, "cases")->child; c; c = c->next) check_case(t, label, c);
    printf("%s: %d cases, %s\n", label, cJSON_GetArraySize(cJSON_GetObjectItem(oracle, "cases")),
           check_failed == before ? "all match llama.cpp" : "MISMATCHES");
    for (const cJSON *f = cJSON_GetObjectItem(oracle, "files")->child; f && files; f = f->next) check_file(t, label, f);
    for (const cJSON *c = cJSON_GetObjectItem(oracle, "cases")->child; c; c = c->next) {
        const char *s = cJSON_GetObjectItem(c, "text")->valuestring;
        if (!strchr(s, '<')) check_round_trip(t, label, s);
    }
    /* invalid UTF-8 and NULs must not crash; BPE maps bad bytes to U+FFFD as llama.cpp */
    static const char bad[] = "ok \xff\xfe \xc3 \xe2\x82 \xed\xa0\x80 \xf4\x90\x80\x80 \xc0\x80 \x80x\0y";
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(gf_tokenize(t, bad, sizeof bad - 1, 1, 1, &ids, &n, &err) == GF_OK && n > 0, "%s: bad UTF-8: %s", label,
          err.msg);
    free(ids);
    size_t plen = 0;
    CHECK(gf_token_to_piece(t, -1, 1, &plen) == NULL, "piece of id -1");
    int32_t bogus = gf_tokenizer_n_tokens(t);
    char *out = NULL;
    CHECK(gf_detokenize(t, &bogus, 1, 0, 0, &out, &plen, &err) == GF_E_VALUE, "detokenize of a bad id accepted");
    gf_tokenizer_free(t);
}

static void with_hf(const char *rel, int64_t rows, const char *oracle_rel, int files) {
    char dir[512], opath[512];
    if (!check_shared_path(dir, sizeof dir, rel) || !check_shared_path(opath, sizeof opath, oracle_rel)) return;
    cJSON *oracle = load_json(opath);
    gf_vocab *v = NULL;
    gf_err err = {0};
    gf_status st = gf_vocab_from_hf(dir, rows, &v, &err);
    CHECK(st == GF_OK, "%s: %s", rel, err.msg);
    if (st == GF_OK && oracle) run_suite(v, rel, oracle, files);
    gf_vocab_free(v);
    cJSON_Delete(oracle);
}

static void with_gguf(const char *rel, const char *oracle_rel, int files) {
    char path[512], opath[512];
    if (!check_shared_path(path, sizeof path, rel) || !check_shared_path(opath, sizeof opath, oracle_rel)) return;
    cJSON *oracle = load_json(opath);
    gf_gguf *g = NULL;
    gf_vocab *v = NULL;
    gf_err err = {0};
    gf_status st = gf_gguf_open(path, &g, &err);
    CHECK(st == GF_OK, "%s", err.msg);
    if (st == GF_OK) st = gf_vocab_from_gguf(g, &v, &err);
    CHECK(st == GF_OK, "%s: %s", rel, err.msg);
    if (st == GF_OK && oracle) run_suite(v, rel, oracle, files);
    gf_vocab_free(v);
    gf_gguf_close(g);
    cJSON_Delete(oracle);
}

int main(void) {
    with_hf("models/qwen2-tiny/f32", 2051, "oracle/tokens-qwen2-tiny.json", 1);
    with_gguf("oracle/qwen2-tiny-f32.f32.gguf", "oracle/tokens-qwen2-tiny.json", 0);
    with_hf("models/stories260K/f32", 512, "oracle/tokens-stories260K.json", 1);
    with_gguf("oracle/stories260K.f32.gguf", "oracle/tokens-stories260K.json", 1);
    with_hf("tokenizers/qwen2.5", 151936, "oracle/tokens-qwen2.5.json", 1);
    return check_done("test_tokenizer");
}
