/*
 * test_gguf_input.c - quantizing from a GGUF (issue 11): the GGUF and the HF
 * folder of the same model give the same tensor bytes (and llama-quantize's,
 * ../shared/oracle) for every method; the source's keys are copied through; a
 * quantized source is announced and recorded; weights already on the Q4_0/Q8_0
 * grid come back exactly (the block encoder on its own, a Q4_0 file requantized,
 * and a synthetic QAT checkpoint: a Q4_0 file dequantized to F32 safetensors).
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../convert/convert.h"
#include "../formats/arch.h"
#include "../formats/gguf.h"
#include "../formats/hfconfig.h"
#include "check.h"
#include "membuf.h"
#include "sha256.h"
#include "st_write.h"

/* ---------------------------------------------------------------- helpers */

typedef struct {
    int n_events, n_exact, n_notice, n_heads; /* n_heads: notices of the heads' default methods */
    char notice[600];
} seen;

static void on_event(void *ctx, const gf_convert_event *ev) {
    seen *s = ctx;
    if (!ev->done) return;
    s->n_events += ev->n_dims == 2;
    s->n_exact += ev->n_dims == 2 && ev->note && !strcmp(ev->note, "on grid, exact") && !strcmp(ev->method, "exact");
}

static void on_notice(void *ctx, const char *text) {
    seen *s = ctx;
    s->n_notice++;
    s->n_heads += !strncmp(text, "heads:", 6);
    snprintf(s->notice, sizeof s->notice, "%s", text);
}

/* Converts src (folder or GGUF file) into m and parses it; NULL (err set) on failure. */
static gf_gguf *convert(const char *src, gf_convert_opts o, membuf *m, seen *s, gf_err *err) {
    gf_sink sink = {mem_write, m};
    gf_convert_summary sum;
    m->n = 0;
    if (s) memset(s, 0, sizeof *s), o.progress = on_event, o.notice = on_notice, o.progress_ctx = s;
    if (gf_convert(src, &sink, &o, &sum, err)) return NULL;
    gf_gguf *g = NULL;
    return gf_gguf_parse(m->p, m->n, src, &g, err) ? NULL : g;
}

static int write_mem(const char *path, const membuf *m) {
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(m->p, 1, m->n, f) == m->n;
    return (f && fclose(f) == 0 && ok) ? 0 : -1;
}

/* Tensors of a and b with the same names, types, shapes and bytes: the count that agree,
 * or -1 when the sets of names differ. */
static int same_tensors(const gf_gguf *a, const gf_gguf *b, const char *what) {
    if (a->n_tensors != b->n_tensors) return -1;
    int same = 0;
    for (uint64_t i = 0; i < a->n_tensors; i++) {
        int64_t j = gf_gguf_find_tensor(b, a->tensors[i].name.s);
        if (j < 0) return -1;
        const gf_gguf_tensor *x = &a->tensors[i], *y = &b->tensors[j];
        int ok = x->type == y->type && x->nbytes == y->nbytes && x->ne[0] == y->ne[0] && x->ne[1] == y->ne[1] &&
                 memcmp(x->data, y->data, x->nbytes) == 0;
        if (!ok) fprintf(stderr, "  %s: %s differs\n", what, x->name.s);
        same += ok;
    }
    return same;
}

/* ---------------------------------------------------------------- the block encoder */

/* The same values (a zero's sign aside: 0*d is -0 for a negative scale). */
static int same_values(const float *x, const float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (x[i] != y[i]) return 0;
    return 1;
}

static void test_grid_blocks(void) {
    uint64_t s = 7;
    enum { K = 32 * 64 };
    float x[K], y[K], z[K];
    gf_block_q4_0 a[K / 32], b[K / 32];
    gf_block_q8_0 c[K / 32], d[K / 32];
    for (int i = 0; i < K; i++) x[i] = stw_rand(&s) * (1.0f + (float)(i / 32));
    CHECK(!gf_quantize_row_exact(GF_TYPE_Q4_0, x, b, K), "q4_0: trained-like floats are not on the grid");
    CHECK(!gf_quantize_row_exact(GF_TYPE_Q8_0, x, d, K), "q8_0: trained-like floats are not on the grid");
    /* the reference quantizer's blocks come back to their own bytes */
    gf_quantize_row_q4_0_ref(x, a, K);
    gf_dequantize_row_q4_0(a, y, K);
    CHECK(gf_quantize_row_exact(GF_TYPE_Q4_0, y, b, K) && !memcmp(a, b, sizeof a), "q4_0 reference blocks round trip");
    gf_quantize_row_q8_0_ref(x, c, K);
    gf_dequantize_row_q8_0(c, z, K);
    CHECK(gf_quantize_row_exact(GF_TYPE_Q8_0, z, d, K) && !memcmp(c, d, sizeof c), "q8_0 reference blocks round trip");
    /* Q4_0 weights are on the Q8_0 grid too, with the same values */
    CHECK(gf_quantize_row_exact(GF_TYPE_Q8_0, y, d, K), "q4_0 values are on the q8_0 grid");
    gf_dequantize_row_q8_0(d, z, K);
    CHECK(same_values(y, z, K), "q4_0 values written as q8_0 keep their values");
    /* blocks of any scale and levels (not the reference's: max level 7, negative d) keep their values */
    int bad = 0;
    for (int blk = 0; blk < K / 32; blk++) {
        a[blk].d = gf_fp32_to_fp16((stw_rand(&s) + 1.5f) * 1e-3f * (blk % 2 ? -1 : 1));
        for (int j = 0; j < 16; j++) a[blk].qs[j] = (uint8_t)((int)((stw_rand(&s) + 1) * 7.9f) | (int)((stw_rand(&s) + 1) * 7.9f) << 4);
    }
    gf_dequantize_row_q4_0(a, y, K);
    bad = !gf_quantize_row_exact(GF_TYPE_Q4_0, y, b, K);
    gf_dequantize_row_q4_0(b, z, K);
    CHECK(!bad && same_values(y, z, K), "q4_0 blocks of any fp16 scale and levels keep their values");
    /* one element one ulp off the grid: not exact */
    y[5 * 32 + 3] = nextafterf(y[5 * 32 + 3], 1.0f);
    CHECK(!gf_quantize_row_exact(GF_TYPE_Q4_0, y, b, K), "one ulp off the q4_0 grid is not on it");
    memset(y, 0, sizeof y);
    CHECK(gf_quantize_row_exact(GF_TYPE_Q4_0, y, b, 32) && b[0].d == 0 && b[0].qs[0] == 0x88, "a zero block: d 0, q 8");
    CHECK(!gf_quantize_row_exact(GF_TYPE_Q4_1, y, b, 32), "a type without a grid encoder says no");
}

/* ---------------------------------------------------------------- GGUF and folder agree */

/* llama-quantize --pure's tensor hashes of qwen2-tiny (../shared/oracle) against g. */
static void check_oracle(const gf_gguf *g, const char *ref, const char *what) {
    FILE *f = fopen(ref, "r");
    char name[128], type[16], hash[80];
    int lines = 0, same = 0;
    while (f && fscanf(f, "%127s %15s %79s", name, type, hash) == 3) {
        lines++;
        int64_t i = gf_gguf_find_tensor(g, name);
        if (i < 0) continue;
        uint8_t d[32];
        char hex[65];
        sha256(g->tensors[i].data, g->tensors[i].nbytes, d);
        sha256_hex(d, hex);
        same += !strcmp(hex, hash);
    }
    if (f) fclose(f);
    CHECK(lines == 50 && same == lines, "%s: %d of %d tensors as llama-quantize --pure writes them", what, same, lines);
}

static void test_gguf_vs_folder(void) {
    char gguf[1024], dir[1024], calib[1024];
    if (!check_shared_path(gguf, sizeof gguf, "oracle/qwen2-tiny-f32.f32.gguf") ||
        !check_shared_path(dir, sizeof dir, "models/qwen2-tiny/f32") ||
        !check_shared_path(calib, sizeof calib, "data/calibration.txt"))
        return;
    char *text = NULL;
    size_t len = 0;
    gf_err err = {0};
    CHECK(gf_read_file(calib, 1 << 24, &text, &len, &err) == GF_OK, "%s", err.msg);
    gf_calib_opts co = {.text = text, .text_len = len, .name = "calibration.txt", .nsamples = 4, .seqlen = 64};
    gf_ar_opts ar;
    gf_ar_opts_from_recipe(&ar, gf_ar_recipe_find("light"));
    ar.iters = 4;
    /* the paths a method can take: rows alone, importance statistics from calibration,
     * a block transform with the quantized path (AWQ takes the same two as AutoRound,
     * at a minute of CPU here, so it is left to the CLI check in TESTING.md) */
    struct { const char *what, *method, *oracle; gf_type type; int pure; } runs[] = {
        {"q8_0 --pure", NULL, "oracle/qwen2-tiny-f32.q8_0.tensor-sha256.txt", GF_TYPE_Q8_0, 1},
        {"q4_0 --pure", NULL, "oracle/qwen2-tiny-f32.q4_0.tensor-sha256.txt", GF_TYPE_Q4_0, 1},
        {"q4_0", NULL, NULL, GF_TYPE_Q4_0, 0},
        {"q4_0 imatrix", "imatrix", NULL, GF_TYPE_Q4_0, 0},
        {"q4_0 autoround (4 iterations)", "autoround", NULL, GF_TYPE_Q4_0, 0},
    };
    membuf ma = {0}, mb = {0};
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        gf_convert_opts o = {.type = runs[r].type, .embed_type = -1, .output_type = -1, .pure = runs[r].pure,
                             .calib = &co, .autoround = &ar, .ar_recipe = "test"};
        if (runs[r].method) o.blocks = gf_qmethod_find(runs[r].method);
        seen s;
        gf_gguf *a = convert(gguf, o, &ma, &s, &err);
        CHECK(a != NULL, "%s from the GGUF: %s", runs[r].what, err.msg);
        /* a calibrating block method announces its heads' defaults; nothing else is said of an F32 source */
        CHECK(s.n_notice == s.n_heads && s.n_heads == (runs[r].method != NULL),
              "%s: an F32 source is not announced as requantized (%d notices, %d of the heads: %s)", runs[r].what,
              s.n_notice, s.n_heads, s.notice);
        gf_gguf *b = convert(dir, o, &mb, NULL, &err);
        CHECK(b != NULL, "%s from the folder: %s", runs[r].what, err.msg);
        if (a && b) {
            int same = same_tensors(a, b, runs[r].what);
            CHECK(same == 50, "%s: %d of 50 tensors byte-identical from the GGUF and from the folder", runs[r].what, same);
        }
        char ref[1024];
        if (a && runs[r].oracle && check_shared_path(ref, sizeof ref, runs[r].oracle)) check_oracle(a, ref, runs[r].what);
        gf_gguf_close(a);
        gf_gguf_close(b);
    }
    free(ma.p), free(mb.p), free(text);
}

/* llama (q/k rows permuted by the converter): the folder, and the F32 GGUF written
 * from it, quantize to the same bytes (a GGUF's rows are not permuted twice). */
static void test_llama_gguf(const char *tmp) {
    char dir[1024], f32[1200];
    if (!check_shared_path(dir, sizeof dir, "models/stories260K/f32")) return;
    gf_err err = {0};
    membuf m0 = {0}, ma = {0}, mb = {0};
    gf_convert_opts o = {.type = GF_TYPE_F32, .embed_type = -1, .output_type = -1};
    gf_gguf *g0 = convert(dir, o, &m0, NULL, &err);
    snprintf(f32, sizeof f32, "%s/stories260K-f32.gguf", tmp);
    CHECK(g0 && write_mem(f32, &m0) == 0, "stories260K f32: %s", err.msg);
    o.type = GF_TYPE_Q8_0;
    gf_gguf *a = g0 ? convert(f32, o, &ma, NULL, &err) : NULL, *b = convert(dir, o, &mb, NULL, &err);
    CHECK(a && b && same_tensors(a, b, "stories260K") == (int)b->n_tensors, "stories260K q8_0: the same bytes from "
          "its F32 GGUF and its folder (%s)", err.msg);
    gf_gguf_close(g0), gf_gguf_close(a), gf_gguf_close(b);
    free(m0.p), free(ma.p), free(mb.p);
}

/* ---------------------------------------------------------------- keys copied through */

static int kv_same(const gf_kv *a, const gf_kv *b) {
    if (a->type != b->type || a->n != b->n) return 0;
    if (a->type == GF_GGUF_STRING) return a->str.len == b->str.len && !memcmp(a->str.s, b->str.s, a->str.len);
    if (a->type != GF_GGUF_ARRAY) return !memcmp(&a->v, &b->v, gf_gguf_vtype_size(a->type));
    if (a->arr_type != b->arr_type) return 0;
    if (a->arr_type != GF_GGUF_STRING) return !memcmp(a->arr, b->arr, a->n * gf_gguf_vtype_size(a->arr_type));
    const gf_str *x = a->arr, *y = b->arr;
    for (uint64_t i = 0; i < a->n; i++)
        if (x[i].len != y[i].len || memcmp(x[i].s, y[i].s, x[i].len)) return 0;
    return 1;
}

static void test_metadata(void) {
    char gguf[1024];
    if (!check_shared_path(gguf, sizeof gguf, "oracle/qwen2-tiny-f32.f32.gguf")) return;
    gf_gguf *src = NULL;
    gf_err err = {0};
    CHECK(gf_gguf_open(gguf, &src, &err) == GF_OK, "%s", err.msg);
    membuf m = {0};
    gf_gguf *g = src ? convert(gguf, (gf_convert_opts){.type = GF_TYPE_Q8_0, .embed_type = -1, .output_type = -1},
                               &m, NULL, &err) : NULL;
    CHECK(g != NULL, "%s", err.msg);
    int copied = 0, differ = 0;
    for (uint64_t i = 0; g && i < src->n_kv; i++) {
        const char *k = src->kv[i].key.s;
        if (!strcmp(k, "general.file_type")) continue;
        const gf_kv *o = gf_gguf_find(g, k);
        if (o && kv_same(o, &src->kv[i])) copied++;
        else differ++, fprintf(stderr, "  key %s not copied unchanged\n", k);
    }
    CHECK(g && differ == 0 && copied == (int)src->n_kv - 1, "every key but general.file_type copied unchanged: %d "
          "copied, %d not", copied, differ);
    const gf_str *v;
    CHECK(g && !gf_gguf_get_str(g, "gguf-forge.source.file", &v, &err) && !strcmp(v->s, "qwen2-tiny-f32.f32.gguf"),
          "gguf-forge.source.file names the source");
    CHECK(g && !gf_gguf_get_str(g, "gguf-forge.source.types", &v, &err) && !strcmp(v->s, "f32 50"),
          "gguf-forge.source.types: '%s'", g && v ? v->s : "");
    gf_gguf_close(g);
    gf_gguf_close(src);
    free(m.p);
}

/* ---------------------------------------------------------------- on the grid */

/* A Q4_0 file of qwen2-tiny (gguf-forge's min-max, llama.cpp's bytes) requantized to
 * Q4_0 is the same file's tensors; to Q8_0 every matrix is exact. */
static void test_requantize(const char *tmp) {
    char dir[1024], q4[1200];
    if (!check_shared_path(dir, sizeof dir, "models/qwen2-tiny/f32")) return;
    gf_err err = {0};
    membuf m0 = {0}, m = {0};
    const gf_convert_opts pure4 = {.type = GF_TYPE_Q4_0, .embed_type = -1, .output_type = -1, .pure = 1};
    gf_gguf *base = convert(dir, pure4, &m0, NULL, &err);
    snprintf(q4, sizeof q4, "%s/qwen2-tiny-q4_0.gguf", tmp);
    CHECK(base && write_mem(q4, &m0) == 0, "a q4_0 file: %s", err.msg);
    if (!base) return;
    seen s;
    gf_gguf *g = convert(q4, pure4, &m, &s, &err);
    CHECK(g && same_tensors(g, base, "q4_0 -> q4_0") == 50, "q4_0 requantized to q4_0: the same bytes (%s)", err.msg);
    CHECK(s.n_exact == 29 && s.n_events == 29, "q4_0 -> q4_0: %d of %d matrices 'on grid, exact'", s.n_exact, s.n_events);
    CHECK(s.n_notice == 1 && strstr(s.notice, "requantizing") && strstr(s.notice, "q4_0 29"),
          "requantizing is announced with the source's types: '%s'", s.notice);
    const gf_str *v;
    CHECK(g && !gf_gguf_get_str(g, "gguf-forge.source.types", &v, &err) && !strcmp(v->s, "f32 21, q4_0 29"),
          "gguf-forge.source.types records the q4_0 source");
    gf_gguf_close(g);
    /* with AutoRound asked for: nothing to tune, every block on the grid */
    gf_ar_opts ar;
    gf_ar_opts_from_recipe(&ar, gf_ar_recipe_find("light"));
    ar.iters = 5;
    gf_calib_opts co = {.nsamples = 4, .seqlen = 64};
    gf_convert_opts o = pure4;
    o.blocks = gf_qmethod_find("autoround"), o.autoround = &ar, o.calib = &co;
    g = convert(q4, o, &m, &s, &err);
    CHECK(g && same_tensors(g, base, "q4_0 -> q4_0 autoround") == 50, "q4_0 -> q4_0 --blocks autoround: the same "
          "bytes, no second rounding (%s)", err.msg);
    gf_gguf_close(g);
    o = pure4;
    o.type = GF_TYPE_Q8_0;
    g = convert(q4, o, &m, &s, &err);
    CHECK(g && s.n_exact == 29, "q4_0 -> q8_0: %d of 29 matrices exact (%s)", s.n_exact, err.msg);
    for (uint64_t i = 0; g && i < g->n_tensors; i++) { /* the values are the source's */
        const gf_gguf_tensor *t = &g->tensors[i], *u = &base->tensors[gf_gguf_find_tensor(base, t->name.s)];
        int64_t n = t->ne[0] * (t->n_dims == 2 ? t->ne[1] : 1);
        float *x = malloc((size_t)n * 4), *y = malloc((size_t)n * 4);
        int ok = x && y && !gf_dequantize_row(t->type, t->data, x, n) && !gf_dequantize_row(u->type, u->data, y, n) &&
                 same_values(x, y, n);
        if (!ok) CHECK(0, "q4_0 -> q8_0: %s changed its values", t->name.s);
        free(x), free(y);
    }
    gf_gguf_close(g);
    gf_gguf_close(base);
    free(m0.p), free(m.p);
}

/* A synthetic QAT checkpoint: a Q4_0 file of `model` dequantized to F32 safetensors
 * under the HF names (llama q/k rows put back in HF order), beside the model's
 * config and tokenizer; quantized to Q4_0 it must give the file's bytes. */
static void qat_round_trip(const char *tmp, const char *model) {
    char dir[PATH_MAX], qat[1200], p[PATH_MAX + 64], q[PATH_MAX + 64];
    snprintf(p, sizeof p, "models/%s/f32", model);
    if (!check_shared_path(q, sizeof q, p) || !realpath(q, dir)) return; /* absolute: the links below point here */
    gf_err err = {0};
    membuf m0 = {0}, m = {0};
    const gf_convert_opts pure4 = {.type = GF_TYPE_Q4_0, .embed_type = -1, .output_type = -1, .pure = 1};
    gf_gguf *base = convert(dir, pure4, &m0, NULL, &err);
    CHECK(base != NULL, "%s: %s", model, err.msg);
    gf_hfcfg hp;
    if (!base || gf_hfcfg_load(dir, &hp, &err)) return;
    snprintf(qat, sizeof qat, "%s/qat-%s", tmp, model);
    mkdir(qat, 0755);
    static const char *files[] = {"config.json", "tokenizer.json", "tokenizer_config.json"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        snprintf(q, sizeof q, "%s/%s", qat, files[i]);
        if (access(p, F_OK) == 0 && symlink(p, q) != 0) CHECK(0, "symlink %s", q);
    }
    stw_tensor *ts = calloc(base->n_tensors, sizeof *ts);
    char (*names)[128] = calloc(base->n_tensors, sizeof *names);
    int n = 0;
    for (uint64_t i = 0; ts && names && i < base->n_tensors; i++) {
        const gf_gguf_tensor *t = &base->tensors[i];
        int layer;
        const gf_tensor_name *tn = gf_tensor_by_gguf_name(t->name.s, &layer);
        gf_tensor_map map;
        if (!tn || !gf_tensor_hf_name(tn, layer, names[n], sizeof names[n]) ||
            gf_map_tensor(&hp, names[n], &map, &err)) { CHECK(0, "%s: no HF name", t->name.s); continue; }
        int64_t rows = t->n_dims == 2 ? t->ne[1] : 1, len = t->ne[0];
        float *x = malloc((size_t)(rows * len) * 4), *hf = malloc((size_t)(rows * len) * 4);
        if (!x || !hf || gf_dequantize_row(t->type, t->data, x, rows * len)) { CHECK(0, "dequantize"); continue; }
        for (int64_t r = 0; r < rows; r++) /* GGUF row r is HF row permute(r) */
            memcpy(hf + (map.permute_heads && rows > 1 ? gf_permute_row(r, rows, map.permute_heads) : r) * len,
                   x + r * len, (size_t)len * 4);
        free(x);
        ts[n] = (stw_tensor){.name = names[n], .dtype = "F32", .n_dims = (int)t->n_dims, .data = hf,
                             .nbytes = (size_t)(rows * len) * 4};
        if (t->n_dims == 2) ts[n].shape[0] = rows, ts[n].shape[1] = len;
        else ts[n].shape[0] = len;
        n++;
    }
    snprintf(p, sizeof p, "%s/model.safetensors", qat);
    CHECK(n == (int)base->n_tensors && stw_write(p, ts, n) == 0, "%s: the QAT checkpoint is written", model);
    int n_want = 0; /* every Q4_0 matrix (those of rows not whole blocks are f16) */
    for (uint64_t i = 0; i < base->n_tensors; i++) n_want += base->tensors[i].type == GF_TYPE_Q4_0;
    seen s;
    gf_gguf *g = convert(qat, pure4, &m, &s, &err);
    CHECK(g && same_tensors(g, base, model) == (int)base->n_tensors, "%s: the QAT checkpoint quantizes to the Q4_0 "
          "file's bytes (%s)", model, err.msg);
    CHECK(s.n_exact == n_want, "%s: %d matrices 'on grid, exact', want %d", model, s.n_exact, n_want);
    for (int i = 0; i < n; i++) free((void *)ts[i].data);
    free(ts), free(names);
    gf_gguf_close(g);
    gf_gguf_close(base);
    free(m0.p), free(m.p);
}

int main(void) {
    char tmp[] = "/tmp/gf-test-gguf-input-XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    test_grid_blocks();
    test_gguf_vs_folder();
    test_llama_gguf(tmp);
    test_metadata();
    test_requantize(tmp);
    qat_round_trip(tmp, "qwen2-tiny");
    qat_round_trip(tmp, "stories260K"); /* llama: q/k rows permuted */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return check_done("test_gguf_input");
}
