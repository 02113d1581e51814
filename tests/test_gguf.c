/*
 * test_gguf.c - GGUF reader/writer: llama.cpp's files parse, our writer's output
 * parses back to the same keys and tensors, and damaged files are rejected with
 * a message (every truncation, bad magic/version/alignment/type, duplicates,
 * offsets that are not contiguous, counts too large for the file).
 */
#include "../formats/gguf.h"
#include "check.h"
#include "membuf.h"

#include <math.h>

/* ---------------------------------------------------------------- memory sink */


/* A small file: a few keys of every kind and two tensors. */
static void build_sample(membuf *m) {
    gf_err err = {0};
    gf_gguf_writer *w = gf_gguf_writer_new();
    gf_gguf_set_str(w, "general.architecture", "qwen2");
    gf_gguf_set_u32(w, "qwen2.block_count", 4);
    gf_gguf_set_f32(w, "qwen2.rope.freq_base", 1e6f);
    gf_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", 0);
    const char *toks[] = {"a", "bc", "<|x|>"};
    gf_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, 3);
    int32_t types[] = {1, 1, 3};
    gf_gguf_set_arr(w, "tokenizer.ggml.token_type", GF_GGUF_I32, types, 3);
    gf_gguf_set_u32(w, "qwen2.block_count", 5); /* replaces in place */
    int64_t ne0[] = {64, 3}, ne1[] = {5};
    CHECK(gf_gguf_add_tensor(w, "w", GF_TYPE_Q8_0, 2, ne0, &err) == GF_OK, "%s", err.msg);
    CHECK(gf_gguf_add_tensor(w, "b", GF_TYPE_F32, 1, ne1, &err) == GF_OK, "%s", err.msg);
    CHECK(gf_gguf_add_tensor(w, "w", GF_TYPE_F32, 1, ne1, &err) == GF_E_USAGE, "duplicate tensor accepted");
    CHECK(gf_gguf_add_tensor(w, "odd", GF_TYPE_Q4_0, 1, ne1, &err) == GF_E_USAGE, "row of 5 accepted for q4_0");
    gf_sink sink = {mem_write, m};
    CHECK(gf_gguf_write_header(w, &sink, &err) == GF_OK, "%s", err.msg);
    uint8_t q[2 * 34 * 3];
    for (size_t i = 0; i < sizeof q; i++) q[i] = (uint8_t)(i * 7);
    float b[5] = {1, 2, 3, 4, 5};
    CHECK(gf_gguf_write_tensor_data(w, &sink, 1, b, sizeof b, &err) == GF_E_USAGE, "out-of-order data accepted");
    CHECK(gf_gguf_write_tensor_data(w, &sink, 0, q, sizeof q, &err) == GF_OK, "%s", err.msg);
    CHECK(gf_gguf_write_tensor_data(w, &sink, 1, b, sizeof b, &err) == GF_OK, "%s", err.msg);
    CHECK(m->n == gf_gguf_writer_total_size(w), "size %zu vs predicted %llu", m->n,
          (unsigned long long)gf_gguf_writer_total_size(w));
    gf_gguf_writer_free(w);
}

static void test_roundtrip(void) {
    membuf m = {0};
    build_sample(&m);
    gf_err err = {0};
    gf_gguf *g = NULL;
    CHECK(gf_gguf_parse(m.p, m.n, "sample", &g, &err) == GF_OK, "%s", err.msg);
    if (!g) return;
    CHECK(g->n_kv == 6 && g->n_tensors == 2, "kv %llu tensors %llu", (unsigned long long)g->n_kv,
          (unsigned long long)g->n_tensors);
    uint32_t u;
    float f;
    int bo;
    const gf_str *s;
    const gf_kv *arr;
    CHECK(gf_gguf_get_u32(g, "qwen2.block_count", &u, &err) == GF_OK && u == 5, "block_count");
    CHECK(strcmp(g->kv[1].key.s, "qwen2.block_count") == 0, "replaced key moved");
    CHECK(gf_gguf_get_f32(g, "qwen2.rope.freq_base", &f, &err) == GF_OK && f == 1e6f, "freq_base");
    CHECK(gf_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &bo, &err) == GF_OK && bo == 0, "add_bos");
    CHECK(gf_gguf_get_str(g, "general.architecture", &s, &err) == GF_OK && strcmp(s->s, "qwen2") == 0, "arch");
    CHECK(gf_gguf_get_arr(g, "tokenizer.ggml.tokens", GF_GGUF_STRING, &arr, &err) == GF_OK && arr->n == 3 &&
              strcmp(((gf_str *)arr->arr)[2].s, "<|x|>") == 0, "tokens");
    CHECK(gf_gguf_get_arr(g, "tokenizer.ggml.token_type", GF_GGUF_I32, &arr, &err) == GF_OK &&
              ((int32_t *)arr->arr)[2] == 3, "token types");
    CHECK(gf_gguf_get_u32(g, "missing.key", &u, &err) == GF_E_FORMAT && strstr(err.msg, "missing.key"),
          "missing key message: %s", err.msg);
    CHECK(gf_gguf_get_u32(g, "general.architecture", &u, &err) == GF_E_FORMAT, "string read as u32");
    int64_t ti = gf_gguf_find_tensor(g, "b");
    CHECK(ti == 1 && g->tensors[1].nbytes == 20 && ((const float *)g->tensors[1].data)[4] == 5.0f, "tensor b");
    CHECK(g->tensors[0].ne[0] == 64 && g->tensors[0].ne[1] == 3 && g->tensors[0].type == GF_TYPE_Q8_0 &&
              g->tensors[0].nbytes == 2 * 34 * 3 && ((const uint8_t *)g->tensors[0].data)[5] == 35,
          "tensor w");
    CHECK((g->data_offset % 32) == 0 && g->tensors[1].offset % 32 == 0, "alignment");
    /* the padding after the last tensor's data is optional */
    size_t data_end = (size_t)(g->data_offset + g->data_size);
    gf_gguf_close(g);

    /* every truncation must be rejected cleanly (ASan run catches overreads) */
    int bad = 0;
    for (size_t len = 0; len < data_end; len++) {
        gf_gguf *t = NULL;
        uint8_t *copy = malloc(len ? len : 1); /* exact size so overreads are caught */
        memcpy(copy, m.p, len);
        if (gf_gguf_parse(copy, len, "trunc", &t, &err) == GF_OK) bad++;
        else if (!strstr(err.msg, "trunc")) bad++;
        gf_gguf_close(t);
        free(copy);
    }
    CHECK(bad == 0, "%d truncations accepted or unnamed", bad);
    free(m.p);
}

/* ---------------------------------------------------------------- hand-made bad files */

typedef struct {
    uint8_t b[512];
    size_t n;
} raw;
static void r_bytes(raw *r, const void *p, size_t n) { memcpy(r->b + r->n, p, n); r->n += n; }
static void r_u32(raw *r, uint32_t v) { r_bytes(r, &v, 4); }
static void r_u64(raw *r, uint64_t v) { r_bytes(r, &v, 8); }
static void r_str(raw *r, const char *s) { r_u64(r, strlen(s)); r_bytes(r, s, strlen(s)); }
static void r_head(raw *r, uint32_t version, uint64_t nt, uint64_t nkv) {
    r->n = 0;
    r_bytes(r, "GGUF", 4);
    r_u32(r, version);
    r_u64(r, nt);
    r_u64(r, nkv);
}
static void r_pad(raw *r) { while (r->n % 32) r->b[r->n++] = 0; }

static void expect_reject(const raw *r, gf_status want, const char *needle, const char *what) {
    gf_err err = {0};
    gf_gguf *g = NULL;
    gf_status st = gf_gguf_parse(r->b, r->n, "bad.gguf", &g, &err);
    CHECK(st == want, "%s: status %s, want %s (%s)", what, gf_status_name(st), gf_status_name(want), err.msg);
    CHECK(st == GF_OK || (strstr(err.msg, "bad.gguf") && strstr(err.msg, needle)), "%s: message '%s' lacks '%s'",
          what, err.msg, needle);
    gf_gguf_close(g);
}

static void test_bad(void) {
    raw r;
    r_head(&r, 3, 0, 0);
    memcpy(r.b, "GGUG", 4);
    expect_reject(&r, GF_E_FORMAT, "magic", "bad magic");
    r_head(&r, 1, 0, 0);
    expect_reject(&r, GF_E_UNSUPPORTED, "version", "version 1");
    r_head(&r, 3, 0, 1000000);
    expect_reject(&r, GF_E_FORMAT, "cannot fit", "huge kv count");
    r_head(&r, 3, (uint64_t)1 << 60, 0);
    expect_reject(&r, GF_E_FORMAT, "cannot fit", "huge tensor count");
    r_head(&r, 3, 0, 2);
    r_str(&r, "a"); r_u32(&r, GF_GGUF_U32); r_u32(&r, 1);
    r_str(&r, "a"); r_u32(&r, GF_GGUF_U32); r_u32(&r, 2);
    expect_reject(&r, GF_E_FORMAT, "duplicate key 'a'", "duplicate key");
    r_head(&r, 3, 0, 1);
    r_str(&r, "a"); r_u32(&r, 13); r_u32(&r, 1);
    expect_reject(&r, GF_E_FORMAT, "value type 13", "bad value type");
    r_head(&r, 3, 0, 1);
    r_str(&r, "a"); r_u32(&r, GF_GGUF_STRING); r_u64(&r, 1000); r_bytes(&r, "xyz", 3);
    expect_reject(&r, GF_E_FORMAT, "truncated", "string past end");
    r_head(&r, 3, 0, 1);
    r_str(&r, "arr"); r_u32(&r, GF_GGUF_ARRAY); r_u32(&r, GF_GGUF_U64); r_u64(&r, (uint64_t)1 << 61);
    expect_reject(&r, GF_E_FORMAT, "cannot fit", "array count past end");
    r_head(&r, 3, 0, 1);
    r_str(&r, "arr"); r_u32(&r, GF_GGUF_ARRAY); r_u32(&r, GF_GGUF_ARRAY); r_u64(&r, 0);
    expect_reject(&r, GF_E_FORMAT, "element type", "nested array");
    r_head(&r, 3, 0, 1);
    r_str(&r, "general.alignment"); r_u32(&r, GF_GGUF_U32); r_u32(&r, 24);
    expect_reject(&r, GF_E_FORMAT, "power of two", "alignment 24");

    /* tensors: one f32 [8] tensor, data after padding */
    r_head(&r, 3, 1, 0);
    r_str(&r, "t"); r_u32(&r, 5); for (int i = 0; i < 5; i++) r_u64(&r, 2); r_u32(&r, 0); r_u64(&r, 0);
    expect_reject(&r, GF_E_FORMAT, "5 dimensions", "5-D tensor");
    r_head(&r, 3, 1, 0);
    r_str(&r, "t"); r_u32(&r, 2); r_u64(&r, 8); r_u64(&r, 0); r_u32(&r, 0); r_u64(&r, 0);
    expect_reject(&r, GF_E_FORMAT, "zero or overflowing", "zero dim");
    r_head(&r, 3, 1, 0);
    r_str(&r, "t"); r_u32(&r, 2); r_u64(&r, (uint64_t)1 << 40); r_u64(&r, (uint64_t)1 << 40); r_u32(&r, 0); r_u64(&r, 0);
    expect_reject(&r, GF_E_FORMAT, "overflow", "overflowing shape");
    r_head(&r, 3, 1, 0);
    r_str(&r, "t"); r_u32(&r, 1); r_u64(&r, 8); r_u32(&r, 16); r_u64(&r, 0); /* iq2_xxs */
    expect_reject(&r, GF_E_UNSUPPORTED, "type id 16 (iq2_xxs)", "unsupported type");
    r_head(&r, 3, 1, 0);
    r_str(&r, "t"); r_u32(&r, 1); r_u64(&r, 33); r_u32(&r, GF_TYPE_Q8_0); r_u64(&r, 0);
    expect_reject(&r, GF_E_FORMAT, "block size", "q8_0 row of 33");
    r_head(&r, 3, 1, 0);
    r_str(&r, "t"); r_u32(&r, 1); r_u64(&r, 8); r_u32(&r, 0); r_u64(&r, 32);
    r_pad(&r); for (int i = 0; i < 64; i++) r.b[r.n++] = 0;
    expect_reject(&r, GF_E_FORMAT, "expected 0", "offset not contiguous");
    r_head(&r, 3, 2, 0);
    r_str(&r, "t"); r_u32(&r, 1); r_u64(&r, 8); r_u32(&r, 0); r_u64(&r, 0);
    r_str(&r, "t"); r_u32(&r, 1); r_u64(&r, 8); r_u32(&r, 0); r_u64(&r, 32);
    expect_reject(&r, GF_E_FORMAT, "duplicate tensor 't'", "duplicate tensor");
    r_head(&r, 3, 1, 0);
    r_str(&r, "t"); r_u32(&r, 1); r_u64(&r, 8); r_u32(&r, 0); r_u64(&r, 0);
    r_pad(&r); for (int i = 0; i < 31; i++) r.b[r.n++] = 0; /* one byte short */
    expect_reject(&r, GF_E_FORMAT, "past the end", "data past end");
    r.b[r.n++] = 0;
    expect_reject(&r, GF_OK, "", "exact fit");
}

/* ---------------------------------------------------------------- llama.cpp's files */

static void test_oracle(void) {
    char path[1024];
    if (!check_shared_path(path, sizeof path, "oracle/qwen2-tiny-f32.q4_0.gguf")) return;
    gf_err err = {0};
    gf_gguf *g = NULL;
    CHECK(gf_gguf_open(path, &g, &err) == GF_OK, "%s", err.msg);
    if (!g) return;
    CHECK(g->n_tensors == 50, "n_tensors %llu", (unsigned long long)g->n_tensors);
    int64_t i = gf_gguf_find_tensor(g, "blk.0.attn_q.weight");
    CHECK(i >= 0 && g->tensors[i].type == GF_TYPE_Q4_0 && g->tensors[i].ne[0] == 256 && g->tensors[i].ne[1] == 256,
          "blk.0.attn_q.weight");
    const gf_str *s;
    CHECK(gf_gguf_get_str(g, "tokenizer.ggml.pre", &s, &err) == GF_OK && strcmp(s->s, "qwen2") == 0, "pre");
    CHECK(g->data_offset + g->data_size <= g->map_size, "data inside file");
    gf_gguf_close(g);

    if (!check_shared_path(path, sizeof path, "oracle/stories260K.f32.gguf")) return;
    CHECK(gf_gguf_open(path, &g, &err) == GF_OK, "%s", err.msg);
    if (g) {
        const gf_kv *sc;
        CHECK(gf_gguf_get_arr(g, "tokenizer.ggml.scores", GF_GGUF_F32, &sc, &err) == GF_OK && sc->n == 512 &&
                  ((float *)sc->arr)[260] == -1.0f, "scores");
        gf_gguf_close(g);
    }
    CHECK(gf_gguf_open("/nonexistent/x.gguf", &g, &err) == GF_E_IO && strstr(err.msg, "/nonexistent/x.gguf"),
          "missing file: %s", err.msg);
}

int main(void) {
    test_roundtrip();
    test_bad();
    test_oracle();
    return check_done("test_gguf");
}
