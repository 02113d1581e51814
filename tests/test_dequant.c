/*
 * test_dequant.c - dequantization of the GGUF input types against llama.cpp, bit
 * for bit: every tensor of reference-outputs/dequant/dequant-input.gguf (two per
 * type, written by llama-quantize --pure) is dequantized with the type table's
 * to_float and the SHA-256 of its floats compared with dequant.sha256.txt (ggml's
 * to_float on the same file; see that folder's README).  Then the refusals of the
 * GGUF-input path: a type gguf-forge does not read (IQ2_XXS, an unknown id) and a
 * Q4_K row that is not whole 256-blocks are refused by the reader with the tensor
 * and the type named; a NaN or Inf fp16 scale by gf_dequantize_checked.
 */
#include "../formats/gguf.h"
#include "check.h"
#include "sha256.h"

#include <math.h>

#define DIR "reference-outputs/dequant/"
#define N_REF_TENSORS 28 /* 14 types x (attn_k, ffn_down) */

/* On a hash mismatch: the reference keeps the first 4 floats besides the hash, so
 * the first differing index can be named when it is among them. */
static void report_mismatch(const char *name, const float *y, int64_t n, const float ref4[4]) {
    for (int i = 0; i < 4 && i < n; i++) {
        uint32_t a, b;
        memcpy(&a, &y[i], 4);
        memcpy(&b, &ref4[i], 4);
        if (a != b) {
            fprintf(stderr, "  %s: first difference at element %d: gguf-forge %.9g (0x%08x), llama.cpp %.9g (0x%08x)\n",
                    name, i, y[i], a, ref4[i], b);
            return;
        }
    }
    fprintf(stderr, "  %s: elements 0..3 agree (%.9g %.9g %.9g %.9g); the reference keeps only a hash beyond them\n",
            name, y[0], y[1], y[2], y[3]);
}

/* One line "name type n sha256 f0 f1 f2 f3" of dequant.sha256.txt; 1 when bit-identical. */
static int check_line(const gf_gguf *g, const char *line) {
    char name[64], type[16], hex[65];
    long long n;
    double f[4];
    if (sscanf(line, "%63s %15s %lld %64s %lf %lf %lf %lf", name, type, &n, hex, &f[0], &f[1], &f[2], &f[3]) != 8) {
        CHECK(0, "bad reference line '%s'", line);
        return 0;
    }
    int64_t ti = gf_gguf_find_tensor(g, name);
    CHECK(ti >= 0, "%s: not in dequant-input.gguf", name);
    if (ti < 0) return 0;
    const gf_gguf_tensor *t = &g->tensors[ti];
    const gf_type_traits *tt = gf_type_info(t->type);
    CHECK(tt && strcmp(tt->name, type) == 0, "%s: type %s, reference says %s", name,
          gf_type_name(t->type), type);
    int64_t nel = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    CHECK(nel == n, "%s: %lld elements, reference says %lld", name, (long long)nel, n);
    if (!tt || !tt->to_float || nel != n) return 0;
    float *y = malloc((size_t)nel * sizeof *y);
    if (!y) { CHECK(0, "out of memory"); return 0; }
    const size_t rs = gf_row_size(t->type, t->ne[0]);
    for (int64_t r = 0; r < nel / t->ne[0]; r++) tt->to_float((const char *)t->data + r * rs, y + r * t->ne[0], t->ne[0]);
    uint8_t d[32];
    char got[65];
    sha256(y, (size_t)nel * sizeof *y, d); /* little-endian floats: x86-64 and aarch64 */
    sha256_hex(d, got);
    const int same = strcmp(got, hex) == 0;
    CHECK(same, "%s (%s): SHA-256 of the floats %s, llama.cpp's %s", name, type, got, hex);
    if (!same) {
        const float ref4[4] = {(float)f[0], (float)f[1], (float)f[2], (float)f[3]};
        report_mismatch(name, y, nel, ref4);
    }
    free(y);
    return same;
}

static void test_against_llama(void) {
    gf_err err = {0};
    gf_gguf *g = NULL;
    gf_status st = gf_gguf_open(DIR "dequant-input.gguf", &g, &err);
    CHECK(st == GF_OK, "dequant-input.gguf: %s", err.msg);
    FILE *f = fopen(DIR "dequant.sha256.txt", "r");
    CHECK(f != NULL, DIR "dequant.sha256.txt cannot be opened");
    if (st != GF_OK || !f) { if (f) fclose(f); gf_gguf_close(g); return; }
    CHECK(g->n_tensors == N_REF_TENSORS, "dequant-input.gguf has %llu tensors, want %d",
          (unsigned long long)g->n_tensors, N_REF_TENSORS);
    char line[512];
    int lines = 0, same = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (!*line) continue;
        lines++;
        same += check_line(g, line);
    }
    fclose(f);
    CHECK(lines == N_REF_TENSORS, "dequant.sha256.txt has %d lines, want %d", lines, N_REF_TENSORS);
    printf("dequant: %d of %d tensors bit-identical to llama.cpp\n", same, lines);
    gf_gguf_close(g);
}

/* ---------------------------------------------------------------- refusals */

typedef struct {
    uint8_t *p;
    size_t n;
} bytes;

static bytes read_all(const char *path) {
    bytes b = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return b;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b.p = malloc((size_t)n);
    if (b.p && fread(b.p, 1, (size_t)n, f) == (size_t)n) b.n = (size_t)n;
    fclose(f);
    return b;
}

/* The tensor-info record of `name`: the byte after its name string (n_dims, ne[], type, offset). */
static uint8_t *tensor_info(bytes b, const char *name) {
    const size_t len = strlen(name);
    for (size_t i = 8; i + len + 4 <= b.n; i++) {
        uint64_t l;
        memcpy(&l, b.p + i - 8, 8);
        if (l == len && memcmp(b.p + i, name, len) == 0) return b.p + i + len;
    }
    return NULL;
}

/* Patches the copy: ne0 (when > 0) and the type (when >= 0) of `name`; expects the
 * parse to fail with `want` and a message holding the tensor and each needle. */
static void expect_refused(bytes orig, const char *name, int64_t ne0, int64_t type, gf_status want, const char *n1,
                           const char *n2, const char *what) {
    bytes b = {malloc(orig.n), orig.n};
    if (!b.p) { CHECK(0, "out of memory"); return; }
    memcpy(b.p, orig.p, orig.n);
    uint8_t *ti = tensor_info(b, name);
    CHECK(ti != NULL, "%s: tensor info of %s not found", what, name);
    if (ti) {
        uint32_t nd;
        memcpy(&nd, ti, 4);
        if (ne0 > 0) memcpy(ti + 4, &ne0, 8);
        if (type >= 0) { uint32_t t32 = (uint32_t)type; memcpy(ti + 4 + 8 * nd, &t32, 4); }
        gf_err err = {0};
        gf_gguf *g = NULL;
        gf_status st = gf_gguf_parse(b.p, b.n, "patched.gguf", &g, &err);
        CHECK(st == want, "%s: status %s, want %s (%s)", what, gf_status_name(st), gf_status_name(want), err.msg);
        CHECK(strstr(err.msg, name) && strstr(err.msg, n1) && strstr(err.msg, n2), "%s: message '%s' lacks '%s', '%s' or '%s'",
              what, err.msg, name, n1, n2);
        printf("refused (%s): %s\n", what, err.msg);
        gf_gguf_close(g);
    }
    free(b.p);
}

static void test_reader_refusals(void) {
    bytes b = read_all(DIR "dequant-input.gguf");
    CHECK(b.n > 0, DIR "dequant-input.gguf cannot be read");
    if (!b.n) { free(b.p); return; }
    expect_refused(b, "Q4_K.attn_k", 0, 16, GF_E_UNSUPPORTED, "type id 16", "iq2_xxs", "IQ2_XXS tensor");
    expect_refused(b, "Q4_K.attn_k", 0, 99, GF_E_UNSUPPORTED, "type id 99", "unknown", "unknown type id");
    expect_refused(b, "Q4_K.attn_k", 0, 15, GF_E_UNSUPPORTED, "type id 15", "q8_K", "Q8_K (ggml-internal) tensor");
    /* 128 rows of 255 or of 384: neither is whole 256-blocks */
    expect_refused(b, "Q4_K.attn_k", 255, -1, GF_E_FORMAT, "row of 255", "q4_K block size 256", "Q4_K row of 255");
    expect_refused(b, "Q4_K.attn_k", 384, -1, GF_E_FORMAT, "row of 384", "q4_K block size 256", "Q4_K row of 384");
    expect_refused(b, "IQ4_XS.ffn_down", 32, -1, GF_E_FORMAT, "row of 32", "iq4_xs block size 256", "IQ4_XS row of 32");
    free(b.p);
}

/* A NaN or Inf half in a scale position: llama.cpp dequantizes it to NaN/Inf; we refuse. */
static void test_bad_scales(void) {
    gf_err err = {0};
    gf_gguf *g = NULL;
    if (gf_gguf_open(DIR "dequant-input.gguf", &g, &err) != GF_OK) { CHECK(0, "%s", err.msg); return; }
    static const struct { const char *tensor; size_t at; uint16_t half; const char *what; } cases[] = {
        {"Q4_K.attn_k", 144 + 0, 0x7e00, "Q4_K block 1 d = NaN"},
        {"Q4_K.attn_k", 144 + 2, 0x7c00, "Q4_K block 1 dmin = +Inf"},
        {"Q8_0.ffn_down", 34 * 5, 0xfc00, "Q8_0 block 5 d = -Inf"},
        {"Q6_K.attn_k", 208, 0x7e00, "Q6_K block 0 d = NaN"},
        {"Q4_1.attn_k", 20 * 3 + 2, 0x7c00, "Q4_1 block 3 m = +Inf"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const gf_gguf_tensor *t = &g->tensors[gf_gguf_find_tensor(g, cases[c].tensor)];
        const int64_t k = t->ne[0] * t->ne[1];
        uint8_t *copy = malloc(t->nbytes);
        float *y = malloc((size_t)k * sizeof *y);
        if (!copy || !y) { CHECK(0, "out of memory"); free(copy); free(y); break; }
        memcpy(copy, t->data, t->nbytes);
        CHECK(gf_dequantize_checked(t->type, copy, y, k, cases[c].tensor, &err) == GF_OK, "%s unpatched: %s",
              cases[c].tensor, err.msg);
        memcpy(copy + cases[c].at, &cases[c].half, 2);
        gf_status st = gf_dequantize_checked(t->type, copy, y, k, cases[c].tensor, &err);
        const gf_type_traits *tt = gf_type_info(t->type);
        int64_t block = (int64_t)(cases[c].at / tt->type_size);
        char want[64];
        snprintf(want, sizeof want, "block %lld has a NaN or Inf fp16 scale", (long long)block);
        CHECK(st == GF_E_FORMAT && strstr(err.msg, cases[c].tensor) && strstr(err.msg, want),
              "%s: status %s, message '%s' (want the tensor and '%s')", cases[c].what, gf_status_name(st), err.msg, want);
        printf("refused (%s): %s\n", cases[c].what, err.msg);
        free(copy);
        free(y);
    }
    /* a float type: the NaN is the value */
    const uint16_t h[4] = {0x3c00, 0x7e00, 0, 0};
    float y[4];
    CHECK(gf_dequantize_checked(GF_TYPE_F16, h, y, 4, "f16.t", &err) == GF_E_FORMAT && strstr(err.msg, "element 1 is NaN"),
          "f16 NaN: %s", err.msg);
    gf_gguf_close(g);
}

int main(void) {
    test_against_llama();
    test_reader_refusals();
    test_bad_scales();
    return check_done("test_dequant");
}
