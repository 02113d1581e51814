/*
 * gen_bad.c - writes the bad-input suite of issue 6 (reference-outputs/bad/): inputs that
 * gguf-forge must reject with a clear message, a clean exit code and no output left behind.
 *
 *   gen_bad OUT_DIR                        write the suite (same bytes on every run: fixed seeds)
 *   gen_bad --classify quantize|lora|checkpoint|inspect|ppl|eval P  print "<gf_status_name>\t<message>" for one case
 *
 * The suite: base/ and base-sharded/, a good tiny Qwen2 model folder (hidden 32, 2 layers, 4 heads /
 * 2 KV heads, FFN 64, a 299-token byte-level BPE tokenizer, BF16 weights), which must quantize; one
 * folder per quantize case holding the defective file, the other files being symlinks to base/; a
 * good GGUF (gguf-good.gguf) and one GGUF per inspect case; MANIFEST.tsv with, per case, the command,
 * exit code, error class (gf_status_name) and a substring of the message naming the file and the
 * tensor or key; ppl-good.gguf, a tiny llama model the engine loads, and one GGUF per ppl case (a K-quant
 * matrix with a NaN or Inf fp16 scale, which the engine refuses at load); gguf-in-good.gguf, base/ as a mixed-type
 * GGUF (Q4_0, Q8_0, F16, F32) that must quantize, and one GGUF per GGUF-input case (quantize); lora-good/, a PEFT
 * LoRA adapter folder for base/ that must merge, and one adapter folder per LoRA case (quantize base --lora CASE,
 * issue 16); eval-hs-good.txt.gz, two HellaSwag tasks gzipped, and one task file per eval case (truncated
 * task, gold index out of range, not text, bad gzip; issue 13), eval-mc-good.bin and the multiple-choice
 * cases (a task offset past the end, a record cut short, 101 answers, a text file), a Winogrande case; checkpoint
 * folders for `quantize base --blocks autoround --checkpoint CASE` (calib/checkpoint.c's state file cut short
 * with its checksum made to match, shorter than any checkpoint file, another file's magic).  It checks nothing
 * itself: tests/test_bad_inputs.sh runs the cases.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/gf.h"
#include "../common/hash.h"
#include "../convert/convert.h"
#include "../engine/model.h"
#include "../common/textfile.h"
#include "../formats/evalfile.h"
#include "../formats/gguf.h"
#include <zlib.h>

/* ---------------------------------------------------------------- byte buffer */

typedef struct {
    uint8_t *p;
    size_t len, cap;
} buf;

static void die(const char *what) {
    fprintf(stderr, "gen_bad: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void put(buf *b, const void *d, size_t n) {
    if (b->len + n + 1 > b->cap) {
        while (b->len + n + 1 > b->cap) b->cap = b->cap ? 2 * b->cap : 4096;
        if (!(b->p = realloc(b->p, b->cap))) die("out of memory");
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
    b->p[b->len] = 0; /* text buffers stay NUL-terminated */
}

static void putf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(buf *b, const char *fmt, ...) {
    char tmp[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        errno = EOVERFLOW;
        die("putf");
    }
    put(b, tmp, (size_t)n);
}

static void put_u32(buf *b, uint32_t v) { put(b, &v, 4); } /* little-endian hosts only, as gguf-forge */
static void put_u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void buf_free(buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---------------------------------------------------------------- output folder */

typedef struct {
    const char *out; /* the suite's folder */
    buf manifest;
    int n_cases;
} gen;

static void path_of(char *p, size_t n, const gen *g, const char *a, const char *b) {
    if (snprintf(p, n, "%s/%s%s%s", g->out, a, b ? "/" : "", b ? b : "") >= (int)n) {
        errno = ENAMETOOLONG;
        die(a);
    }
}

static void make_dir(const gen *g, const char *name) {
    char p[4096];
    path_of(p, sizeof p, g, name, NULL);
    if (mkdir(p, 0755) != 0 && errno != EEXIST) die(p);
}

/* file `name` in folder `dir` of the suite (dir NULL: the suite's top level) */
static void write_file(const gen *g, const char *dir, const char *name, const void *d, size_t n) {
    char p[4096];
    if (dir) {
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/%s", dir, name);
        path_of(p, sizeof p, g, sub, NULL);
    } else {
        path_of(p, sizeof p, g, name, NULL);
    }
    FILE *f = fopen(p, "wb");
    if (!f || (n && fwrite(d, 1, n, f) != n) || fclose(f) != 0) die(p);
}

static void write_buf(const gen *g, const char *dir, const char *name, const buf *b) {
    write_file(g, dir, name, b->p, b->len);
}

/* Every file of a model folder not written by the case becomes a symlink to base/ (or
 * base-sharded/), so a case folder shows its one defective file at a glance. */
static const char *const model_files[] = {"config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"};
static const char *const shard_files[] = {"config.json", "tokenizer.json", "tokenizer_config.json",
                                          "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                                          "model.safetensors.index.json"};

static void link_rest(const gen *g, const char *dir, const char *base, const char *const *files, int n_files,
                      const char *omit) {
    char p[4096], sub[1024], target[256];
    struct stat sb;
    for (int i = 0; i < n_files; i++) {
        if (omit && strcmp(files[i], omit) == 0) continue;
        snprintf(sub, sizeof sub, "%s/%s", dir, files[i]);
        path_of(p, sizeof p, g, sub, NULL);
        if (lstat(p, &sb) == 0) continue;
        snprintf(target, sizeof target, "../%s/%s", base, files[i]);
        if (symlink(target, p) != 0) die(p);
    }
}

/* One manifest line: case, command, exit code, error class, message substring, note. */
static void manifest(gen *g, const char *name, const char *kind, gf_status st, const char *needle, const char *note) {
    int code = st == GF_E_IO ? 2 : st == GF_E_NOMEM ? 5 : 3; /* cli/main.c gf_exit_code */
    putf(&g->manifest, "%s\t%s\t%d\t%s\t%s\t%s\n", name, kind, code, gf_status_name(st), needle, note ? note : "-");
    g->n_cases++;
}

/* ---------------------------------------------------------------- the tiny model */

#define N_EMBD 32
#define N_HEAD 4
#define N_HEAD_KV 2
#define HEAD_DIM (N_EMBD / N_HEAD)
#define N_FF 64
#define N_LAYER 2
#define SEED 0x9e3779b97f4a7c15ull

typedef struct {
    char name[96];
    char dtype[16];        /* as written in the header                                  */
    int n_dims;
    int64_t shape[6];
    const char *shape_text; /* written instead of shape when set (bad shapes)            */
    int off_set;            /* write off[] instead of the tensor's real data_offsets     */
    int64_t off[2];
    uint8_t *data;          /* (nbytes) the bytes stored in the data buffer, in order    */
    size_t nbytes;
} st_entry;

typedef struct {
    st_entry t[64];
    int n;
    const char *extra;     /* raw JSON members appended to the header                   */
    const char *metadata;  /* value of __metadata__                                     */
    size_t trailing;       /* zero bytes appended after the data                        */
} st_model;

static float rnd(uint64_t *s) { /* xorshift64: [-1, 1) */
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (float)((double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static uint16_t to_bf16(float f) { /* round to nearest even; f is finite */
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static st_entry *add_tensor(st_model *m, const char *name, int64_t rows, int64_t cols, float center, float scale,
                            uint64_t *seed) {
    st_entry *t = &m->t[m->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    snprintf(t->dtype, sizeof t->dtype, "BF16");
    t->n_dims = cols ? 2 : 1;
    t->shape[0] = rows;
    t->shape[1] = cols;
    int64_t nel = rows * (cols ? cols : 1);
    t->nbytes = (size_t)nel * 2;
    uint16_t *d = malloc(t->nbytes);
    if (!d) die("out of memory");
    for (int64_t i = 0; i < nel; i++) d[i] = to_bf16(center + scale * rnd(seed));
    t->data = (uint8_t *)d;
    return t;
}

/* The base model: Qwen2 layout, tied embeddings, n_vocab embedding rows. */
static void model_base(st_model *m, int64_t n_vocab) {
    uint64_t seed = SEED;
    char nm[96];
    memset(m, 0, sizeof *m);
    add_tensor(m, "model.embed_tokens.weight", n_vocab, N_EMBD, 0, 0.05f, &seed);
    for (int l = 0; l < N_LAYER; l++) {
        static const struct { const char *name; int rows, cols; } layer[] = {
            {"input_layernorm.weight", N_EMBD, 0},
            {"self_attn.q_proj.weight", N_HEAD * HEAD_DIM, N_EMBD},
            {"self_attn.q_proj.bias", N_HEAD * HEAD_DIM, 0},
            {"self_attn.k_proj.weight", N_HEAD_KV * HEAD_DIM, N_EMBD},
            {"self_attn.k_proj.bias", N_HEAD_KV * HEAD_DIM, 0},
            {"self_attn.v_proj.weight", N_HEAD_KV * HEAD_DIM, N_EMBD},
            {"self_attn.v_proj.bias", N_HEAD_KV * HEAD_DIM, 0},
            {"self_attn.o_proj.weight", N_EMBD, N_HEAD * HEAD_DIM},
            {"post_attention_layernorm.weight", N_EMBD, 0},
            {"mlp.gate_proj.weight", N_FF, N_EMBD},
            {"mlp.up_proj.weight", N_FF, N_EMBD},
            {"mlp.down_proj.weight", N_EMBD, N_FF},
        };
        for (size_t i = 0; i < sizeof layer / sizeof layer[0]; i++) {
            snprintf(nm, sizeof nm, "model.layers.%d.%s", l, layer[i].name);
            int norm = strstr(layer[i].name, "norm") != NULL;
            add_tensor(m, nm, layer[i].rows, layer[i].cols, norm ? 1.0f : 0, 0.1f, &seed);
        }
    }
    add_tensor(m, "model.norm.weight", N_EMBD, 0, 1.0f, 0.1f, &seed);
}

static void model_free(st_model *m) {
    for (int i = 0; i < m->n; i++) free(m->t[i].data);
    m->n = 0;
}

static st_entry *find(st_model *m, const char *name) {
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->t[i].name, name) == 0) return &m->t[i];
    fprintf(stderr, "gen_bad: no tensor %s\n", name);
    exit(1);
}

static void drop(st_model *m, const char *name) {
    st_entry *t = find(m, name);
    free(t->data);
    memmove(t, t + 1, (size_t)(m->t + m->n - (t + 1)) * sizeof *t);
    m->n--;
}

/* Rewrites a tensor's data as F32 (its values unchanged). */
static void to_f32(st_entry *t) {
    size_t nel = t->nbytes / 2;
    float *f = malloc(nel * 4);
    if (!f) die("out of memory");
    for (size_t i = 0; i < nel; i++) f[i] = gf_bf16_to_fp32(((const uint16_t *)t->data)[i]);
    free(t->data);
    t->data = (uint8_t *)f;
    t->nbytes = nel * 4;
    snprintf(t->dtype, sizeof t->dtype, "F32");
}

/* Offset of tensor i's data in the data buffer (data is laid out in entry order). */
static uint64_t data_pos(const st_model *m, int i) {
    uint64_t pos = 0;
    for (int j = 0; j < i; j++) pos += m->t[j].nbytes;
    return pos;
}

/* Serializes m as a safetensors file: 8-byte header length, JSON padded with spaces to 8 bytes, data. */
static void st_serialize(const st_model *m, buf *out) {
    buf h = {0};
    putf(&h, "{\"__metadata__\":%s", m->metadata ? m->metadata : "{\"format\":\"pt\"}");
    uint64_t pos = 0;
    for (int i = 0; i < m->n; i++) {
        const st_entry *t = &m->t[i];
        putf(&h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":", t->name, t->dtype);
        if (t->shape_text) {
            putf(&h, "%s", t->shape_text);
        } else {
            putf(&h, "[");
            for (int d = 0; d < t->n_dims; d++) putf(&h, "%s%lld", d ? "," : "", (long long)t->shape[d]);
            putf(&h, "]");
        }
        if (t->off_set) putf(&h, ",\"data_offsets\":[%lld,%lld]}", (long long)t->off[0], (long long)t->off[1]);
        else putf(&h, ",\"data_offsets\":[%llu,%llu]}", (unsigned long long)pos, (unsigned long long)(pos + t->nbytes));
        pos += t->nbytes;
    }
    if (m->extra) putf(&h, ",%s", m->extra);
    putf(&h, "}");
    while (h.len % 8) put(&h, " ", 1);
    put_u64(out, h.len);
    put(out, h.p, h.len);
    for (int i = 0; i < m->n; i++) put(out, m->t[i].data, m->t[i].nbytes);
    for (size_t i = 0; i < m->trailing; i++) put(out, "", 1);
    buf_free(&h);
}

/* ---------------------------------------------------------------- config.json */

typedef struct {
    const char *key[40];
    char val[40][128]; /* JSON text */
    int n;
} config;

static void cfg_set(config *c, const char *key, const char *val) {
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->key[i], key) == 0) {
            snprintf(c->val[i], sizeof c->val[i], "%s", val);
            return;
        }
    c->key[c->n] = key;
    snprintf(c->val[c->n++], sizeof c->val[0], "%s", val);
}

static void cfg_del(config *c, const char *key) {
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->key[i], key) == 0) {
            memmove(&c->key[i], &c->key[i + 1], (size_t)(c->n - i - 1) * sizeof c->key[0]);
            memmove(&c->val[i], &c->val[i + 1], (size_t)(c->n - i - 1) * sizeof c->val[0]);
            c->n--;
            return;
        }
}

static void cfg_base(config *c, int64_t n_vocab) {
    char v[32];
    memset(c, 0, sizeof *c);
    cfg_set(c, "architectures", "[\"Qwen2ForCausalLM\"]");
    cfg_set(c, "model_type", "\"qwen2\"");
    cfg_set(c, "hidden_act", "\"silu\"");
    snprintf(v, sizeof v, "%d", N_EMBD), cfg_set(c, "hidden_size", v);
    snprintf(v, sizeof v, "%d", N_FF), cfg_set(c, "intermediate_size", v);
    snprintf(v, sizeof v, "%d", N_LAYER), cfg_set(c, "num_hidden_layers", v);
    snprintf(v, sizeof v, "%d", N_HEAD), cfg_set(c, "num_attention_heads", v);
    snprintf(v, sizeof v, "%d", N_HEAD_KV), cfg_set(c, "num_key_value_heads", v);
    cfg_set(c, "max_position_embeddings", "512");
    cfg_set(c, "rms_norm_eps", "1e-06");
    cfg_set(c, "rope_theta", "1000000.0");
    cfg_set(c, "tie_word_embeddings", "true");
    snprintf(v, sizeof v, "%lld", (long long)n_vocab), cfg_set(c, "vocab_size", v);
    cfg_set(c, "bos_token_id", "296");
    cfg_set(c, "eos_token_id", "296");
    cfg_set(c, "use_sliding_window", "false");
    cfg_set(c, "torch_dtype", "\"bfloat16\"");
}

static void cfg_text(const config *c, buf *out) {
    putf(out, "{\n");
    for (int i = 0; i < c->n; i++) putf(out, "  \"%s\": %s%s\n", c->key[i], c->val[i], i + 1 < c->n ? "," : "");
    putf(out, "}\n");
}

/* ---------------------------------------------------------------- tokenizer */

/* Merges of the tiny byte-level BPE ("\xc4\xa0" is U+0120, GPT-2's space). Each result is a new token. */
static const char *const merges[][2] = {
    {"\xc4\xa0", "t"}, {"h", "e"}, {"\xc4\xa0", "a"}, {"i", "n"}, {"\xc4\xa0t", "he"}, {"e", "r"},
    {"o", "n"}, {"r", "e"}, {"a", "n"}, {"e", "n"}, {"a", "t"}, {"o", "r"}, {"\xc4\xa0", "s"},
    {"e", "s"}, {"i", "s"}, {"i", "t"}, {"a", "r"}, {"a", "l"}, {"\xc4\xa0", "w"}, {"\xc4\xa0", "o"},
    {"o", "u"}, {"\xc4\xa0", "c"}, {"\xc4\xa0", "b"}, {"\xc4\xa0", "f"}, {"\xc4\xa0", "m"}, {"e", "d"},
    {"\xc4\xa0", "p"}, {"l", "e"}, {"in", "g"}, {"\xc4\xa0" "a", "n"}, {"\xc4\xa0" "an", "d"}, {"\xc4\xa0", "d"},
    {"\xc4\xa0o", "f"}, {"\xc4\xa0t", "o"}, {"\xc4\xa0", "in"}, {"\xc4\xa0", "h"}, {"s", "t"}, {"l", "l"},
    {"o", "m"}, {"\xc4\xa0", "l"},
};
#define N_MERGES ((int)(sizeof merges / sizeof merges[0]))
#define N_TOKENS (256 + N_MERGES + 3) /* bytes, merges, three added special tokens */

static const char *const specials[3] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};

/* Qwen2's Split regex as tokenizer.json spells it (JSON-escaped). */
static const char QWEN2_REGEX_JSON[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*"
    "|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+";

/* GPT-2's bytes_to_unicode: byte b's token text, UTF-8, JSON-escaped. */
static void byte_token(int b, char *out) {
    int cp = b, n = 0;
    if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))) {
        for (int x = 0; x < b; x++)
            if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) n++;
        cp = 256 + n;
    }
    if (cp == '"' || cp == '\\') sprintf(out, "\\%c", cp);
    else if (cp < 0x80) sprintf(out, "%c", cp);
    else sprintf(out, "%c%c", 0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
}

typedef enum {
    TOK_OK,
    TOK_NOT_JSON,      /* cut in the middle                                  */
    TOK_VOCAB_ARRAY,   /* model.vocab is an array                            */
    TOK_ID_STRING,     /* a vocab id is a string                             */
    TOK_MERGE_NUMBER,  /* a merge is a number                                */
    TOK_ADDED_CONTENT, /* added_tokens[1].content is a number                */
    TOK_UNIGRAM,       /* model.type Unigram                                 */
    TOK_DUP_ID,        /* two vocab entries share an id                      */
    TOK_REGEX,         /* a Split regex gguf-forge does not know             */
    TOK_NO_MERGES,     /* model.merges missing                               */
} tok_defect;

static void tokenizer_text(tok_defect d, buf *out) {
    putf(out, "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [\n");
    for (int i = 0; i < 3; i++) {
        if (d == TOK_ADDED_CONTENT && i == 1) putf(out, "    {\"id\": %d, \"content\": 7", 256 + N_MERGES + i);
        else putf(out, "    {\"id\": %d, \"content\": \"%s\"", 256 + N_MERGES + i, specials[i]);
        putf(out, ", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, "
                  "\"special\": true}%s\n", i < 2 ? "," : "");
    }
    putf(out, "  ],\n  \"normalizer\": {\"type\": \"NFC\"},\n");
    putf(out, "  \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [\n"
              "    {\"type\": \"Split\", \"pattern\": {\"Regex\": \"%s\"}, \"behavior\": \"Isolated\", \"invert\": false},\n"
              "    {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": false, \"use_regex\": false}]},\n",
         d == TOK_REGEX ? "\\\\s+|\\\\w+|." : QWEN2_REGEX_JSON);
    putf(out, "  \"post_processor\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": false, "
              "\"use_regex\": false},\n");
    putf(out, "  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": false, "
              "\"use_regex\": false},\n");
    putf(out, "  \"model\": {\n    \"type\": \"%s\",\n    \"dropout\": null,\n    \"unk_token\": null,\n"
              "    \"continuing_subword_prefix\": \"\",\n    \"end_of_word_suffix\": \"\",\n    \"fuse_unk\": false,\n"
              "    \"byte_fallback\": false,\n    \"ignore_merges\": false,\n",
         d == TOK_UNIGRAM ? "Unigram" : "BPE");
    putf(out, "    \"vocab\": %s\n", d == TOK_VOCAB_ARRAY ? "[" : "{");
    char tk[8];
    for (int b = 0; b < 256; b++) {
        byte_token(b, tk);
        int id = d == TOK_DUP_ID && b == 'z' ? 'y' : b;
        if (d == TOK_VOCAB_ARRAY) putf(out, "      [\"%s\", %d],\n", tk, id);
        else if (d == TOK_ID_STRING && b == 'q') putf(out, "      \"%s\": \"%d\",\n", tk, id);
        else putf(out, "      \"%s\": %d,\n", tk, id);
    }
    for (int i = 0; i < N_MERGES; i++) {
        if (d == TOK_VOCAB_ARRAY) putf(out, "      [\"%s%s\", %d]", merges[i][0], merges[i][1], 256 + i);
        else putf(out, "      \"%s%s\": %d", merges[i][0], merges[i][1], 256 + i);
        putf(out, "%s\n", i + 1 < N_MERGES ? "," : "");
    }
    putf(out, "    %s", d == TOK_VOCAB_ARRAY ? "]" : "}");
    if (d != TOK_NO_MERGES) {
        putf(out, ",\n    \"merges\": [\n");
        for (int i = 0; i < N_MERGES; i++) {
            if (d == TOK_MERGE_NUMBER && i == 3) putf(out, "      %d", 3);
            else putf(out, "      \"%s %s\"", merges[i][0], merges[i][1]);
            putf(out, "%s\n", i + 1 < N_MERGES ? "," : "");
        }
        putf(out, "    ]");
    }
    putf(out, "\n  }\n}\n");
    if (d == TOK_NOT_JSON) out->len = out->len / 2; /* cut mid-vocab */
}

static void tokenizer_config_text(buf *out) {
    putf(out, "{\n  \"add_prefix_space\": false,\n  \"bos_token\": null,\n  \"eos_token\": \"<|endoftext|>\",\n"
              "  \"pad_token\": \"<|endoftext|>\",\n  \"unk_token\": null,\n  \"model_max_length\": 512,\n"
              "  \"tokenizer_class\": \"Qwen2Tokenizer\",\n  \"errors\": \"replace\",\n"
              "  \"chat_template\": \"{%% for message in messages %%}{{'<|im_start|>' + message['role'] + '\\n' + "
              "message['content'] + '<|im_end|>' + '\\n'}}{%% endfor %%}\"\n}\n");
}

/* ---------------------------------------------------------------- quantize cases */

/* A case folder with a bad model.safetensors; the other files link to base/. */
static void st_case(gen *g, const char *name, st_model *m, gf_status st, const char *needle, const char *note) {
    buf b = {0};
    make_dir(g, name);
    st_serialize(m, &b);
    write_buf(g, name, "model.safetensors", &b);
    link_rest(g, name, "base", model_files, 4, NULL);
    manifest(g, name, "quantize", st, needle, note);
    buf_free(&b);
    model_free(m);
}

/* The same with the file's raw bytes given (truncations, bad header lengths). */
static void raw_case(gen *g, const char *name, const buf *b, gf_status st, const char *needle, const char *note) {
    make_dir(g, name);
    write_buf(g, name, "model.safetensors", b);
    link_rest(g, name, "base", model_files, 4, NULL);
    manifest(g, name, "quantize", st, needle, note);
}

static void cfg_case(gen *g, const char *name, const config *c, gf_status st, const char *needle, const char *note) {
    buf b = {0};
    make_dir(g, name);
    cfg_text(c, &b);
    write_buf(g, name, "config.json", &b);
    link_rest(g, name, "base", model_files, 4, NULL);
    manifest(g, name, "quantize", st, needle, note);
    buf_free(&b);
}

static void tok_case(gen *g, const char *name, tok_defect d, gf_status st, const char *needle, const char *note) {
    buf b = {0};
    make_dir(g, name);
    tokenizer_text(d, &b);
    write_buf(g, name, "tokenizer.json", &b);
    link_rest(g, name, "base", model_files, 4, NULL);
    manifest(g, name, "quantize", st, needle, note);
    buf_free(&b);
}

static void write_bases(gen *g) {
    st_model m;
    config c;
    buf b = {0};
    make_dir(g, "base");
    model_base(&m, N_TOKENS);
    st_serialize(&m, &b);
    write_buf(g, "base", "model.safetensors", &b);
    buf_free(&b);
    cfg_base(&c, N_TOKENS);
    cfg_text(&c, &b);
    write_buf(g, "base", "config.json", &b);
    buf_free(&b);
    tokenizer_text(TOK_OK, &b);
    write_buf(g, "base", "tokenizer.json", &b);
    buf_free(&b);
    tokenizer_config_text(&b);
    write_buf(g, "base", "tokenizer_config.json", &b);
    buf_free(&b);

    /* base-sharded: the same tensors in two shards (the first 13 and the rest) with an index */
    make_dir(g, "base-sharded");
    st_model s2 = {0};
    int split = 13;
    for (int i = split; i < m.n; i++) s2.t[s2.n++] = m.t[i];
    int n_all = m.n;
    m.n = split;
    st_serialize(&m, &b);
    write_buf(g, "base-sharded", "model-00001-of-00002.safetensors", &b);
    buf_free(&b);
    st_serialize(&s2, &b);
    write_buf(g, "base-sharded", "model-00002-of-00002.safetensors", &b);
    buf_free(&b);
    putf(&b, "{\n  \"metadata\": {\"total_size\": %llu},\n  \"weight_map\": {\n",
         (unsigned long long)data_pos(&m, split) + (unsigned long long)data_pos(&s2, s2.n));
    m.n = n_all;
    for (int i = 0; i < m.n; i++)
        putf(&b, "    \"%s\": \"model-0000%d-of-00002.safetensors\"%s\n", m.t[i].name, i < split ? 1 : 2,
             i + 1 < m.n ? "," : "");
    putf(&b, "  }\n}\n");
    write_buf(g, "base-sharded", "model.safetensors.index.json", &b);
    buf_free(&b);
    link_rest(g, "base-sharded", "base", model_files, 3, NULL);
    model_free(&m);
}

/* An index.json for base-sharded's shards with one entry changed (value NULL: left out). */
static void shard_case(gen *g, const char *name, const char *tensor, const char *shard, const char *omit_file,
                       gf_status st, const char *needle, const char *note) {
    st_model m;
    buf b = {0};
    model_base(&m, N_TOKENS);
    make_dir(g, name);
    putf(&b, "{\n  \"metadata\": {},\n  \"weight_map\": {\n");
    int first = 1;
    for (int i = 0; i < m.n; i++) {
        char file[128];
        snprintf(file, sizeof file, "model-0000%d-of-00002.safetensors", i < 13 ? 1 : 2);
        const char *v = file;
        if (tensor && strcmp(m.t[i].name, tensor) == 0) {
            if (!shard) continue;
            v = shard;
        }
        putf(&b, "%s    \"%s\": \"%s\"", first ? "" : ",\n", m.t[i].name, v);
        first = 0;
    }
    putf(&b, "\n  }\n}\n");
    write_buf(g, name, "model.safetensors.index.json", &b);
    link_rest(g, name, "base-sharded", shard_files, 6, omit_file);
    manifest(g, name, "quantize", st, needle, note);
    buf_free(&b);
    model_free(&m);
}

static void quantize_cases(gen *g) {
    st_model m;
    buf b = {0};
    char needle[256], dup[256];

    /* -- file-level damage */
    model_base(&m, N_TOKENS);
    st_serialize(&m, &b);
    int mid = 20; /* cut halfway through model.layers.1.self_attn.q_proj.weight */
    uint64_t hlen;
    memcpy(&hlen, b.p, 8);
    size_t full = b.len;
    b.len = 8 + hlen + data_pos(&m, mid) + m.t[mid].nbytes / 2;
    snprintf(needle, sizeof needle, "model.safetensors: tensor '%.96s': data_offsets", m.t[mid].name);
    raw_case(g, "st-truncated-data", &b, GF_E_FORMAT, needle, NULL);
    b.len = 5;
    raw_case(g, "st-truncated-5-bytes", &b, GF_E_FORMAT, "model.safetensors: truncated: 5 bytes", NULL);
    b.len = full;
    uint64_t past = full - 8 + 1; /* one byte more than the file holds */
    memcpy(b.p, &past, 8);
    raw_case(g, "st-header-length-past-end", &b, GF_E_FORMAT, "model.safetensors: header length", NULL);
    memcpy(b.p, &hlen, 8);
    b.p[8] = '['; /* the header's opening brace */
    raw_case(g, "st-header-not-json", &b, GF_E_FORMAT, "model.safetensors: invalid JSON", NULL);
    buf_free(&b);
    model_free(&m);

    /* -- data_offsets */
    model_base(&m, N_TOKENS);
    st_entry *t = find(&m, "model.layers.0.mlp.up_proj.weight");
    int i = (int)(t - m.t);
    t->off_set = 1, t->off[0] = (int64_t)data_pos(&m, i) - 64, t->off[1] = t->off[0] + (int64_t)t->nbytes;
    st_case(g, "st-offsets-overlap", &m, GF_E_FORMAT,
            "model.safetensors: tensor 'model.layers.0.mlp.up_proj.weight': data_offsets", NULL);

    model_base(&m, N_TOKENS);
    t = find(&m, "model.layers.1.self_attn.o_proj.weight");
    i = (int)(t - m.t);
    t->off_set = 1, t->off[0] = (int64_t)(data_pos(&m, i) + t->nbytes), t->off[1] = (int64_t)data_pos(&m, i);
    st_case(g, "st-offsets-reversed", &m, GF_E_FORMAT,
            "model.safetensors: tensor 'model.layers.1.self_attn.o_proj.weight': data_offsets", NULL);

    model_base(&m, N_TOKENS);
    t = find(&m, "model.layers.0.self_attn.v_proj.weight");
    t->off_set = 1, t->off[0] = (int64_t)data_pos(&m, m.n), t->off[1] = t->off[0] + (int64_t)t->nbytes;
    st_case(g, "st-offsets-past-end", &m, GF_E_FORMAT,
            "model.safetensors: tensor 'model.layers.0.self_attn.v_proj.weight': data_offsets", NULL);

    model_base(&m, N_TOKENS);
    t = &m.t[m.n - 1]; /* model.norm.weight, the last one: moved 16 bytes on, 16 bytes appended */
    t->off_set = 1, t->off[0] = (int64_t)data_pos(&m, m.n - 1) + 16, t->off[1] = t->off[0] + (int64_t)t->nbytes;
    m.trailing = 16;
    st_case(g, "st-offsets-gap", &m, GF_E_FORMAT, "model.safetensors: tensor 'model.norm.weight': data_offsets", NULL);

    model_base(&m, N_TOKENS);
    m.trailing = 64;
    st_case(g, "st-trailing-bytes", &m, GF_E_FORMAT, "model.safetensors: tensors cover", NULL);

    /* -- byte counts, dtypes and shapes */
    model_base(&m, N_TOKENS);
    find(&m, "model.layers.1.mlp.gate_proj.weight")->shape[0] = N_FF - 1;
    st_case(g, "st-bytes-disagree-with-shape", &m, GF_E_FORMAT,
            "model.safetensors: tensor 'model.layers.1.mlp.gate_proj.weight': data_offsets", NULL);

    model_base(&m, N_TOKENS);
    snprintf(find(&m, "model.layers.0.self_attn.k_proj.weight")->dtype, 16, "Q4");
    st_case(g, "st-dtype-unknown", &m, GF_E_FORMAT,
            "model.safetensors: tensor 'model.layers.0.self_attn.k_proj.weight': unknown dtype", NULL);

    model_base(&m, N_TOKENS);
    t = find(&m, "model.layers.1.mlp.down_proj.weight");
    snprintf(t->dtype, 16, "I8");
    t->shape[1] *= 2; /* the same bytes as I8 */
    st_case(g, "st-dtype-i8", &m, GF_E_UNSUPPORTED,
            "model.safetensors: tensor 'model.layers.1.mlp.down_proj.weight': dtype I8", NULL);

    model_base(&m, N_TOKENS);
    t = find(&m, "model.layers.0.input_layernorm.weight");
    snprintf(t->dtype, 16, "F64");
    t->shape[0] /= 4; /* the same bytes as F64 */
    st_case(g, "st-dtype-f64", &m, GF_E_UNSUPPORTED,
            "model.safetensors: tensor 'model.layers.0.input_layernorm.weight': dtype F64", NULL);

    model_base(&m, N_TOKENS);
    find(&m, "model.layers.0.mlp.gate_proj.weight")->shape_text = "[1,1,1,64,32]";
    st_case(g, "st-shape-5d", &m, GF_E_UNSUPPORTED, "model.safetensors: tensor 'model.layers.0.mlp.gate_proj.weight' has 5 dimensions",
            NULL);

    model_base(&m, N_TOKENS);
    find(&m, "model.layers.1.self_attn.v_proj.bias")->shape_text = "[0]";
    st_case(g, "st-shape-zero", &m, GF_E_FORMAT, "model.safetensors: tensor 'model.layers.1.self_attn.v_proj.bias': shape[0] is 0",
            NULL);

    model_base(&m, N_TOKENS);
    find(&m, "model.layers.0.mlp.up_proj.weight")->shape_text = "[4294967296,4294967296,64]";
    st_case(g, "st-shape-overflow", &m, GF_E_FORMAT, "model.safetensors: tensor 'model.layers.0.mlp.up_proj.weight': shape overflows",
            NULL);

    model_base(&m, N_TOKENS);
    find(&m, "model.layers.1.post_attention_layernorm.weight")->shape_text = "[-32]";
    st_case(g, "st-shape-negative", &m, GF_E_FORMAT,
            "model.safetensors: tensor 'model.layers.1.post_attention_layernorm.weight': shape[0]", NULL);

    model_base(&m, N_TOKENS);
    { /* a second entry of the same name, with its own 2048 bytes after the others */
        uint64_t end = data_pos(&m, m.n);
        snprintf(dup, sizeof dup, "\"model.layers.0.self_attn.q_proj.weight\":{\"dtype\":\"BF16\",\"shape\":[32,32],"
                 "\"data_offsets\":[%llu,%llu]}", (unsigned long long)end, (unsigned long long)end + 2048);
        m.extra = dup;
        m.trailing = 2048;
    }
    st_case(g, "st-duplicate-tensor", &m, GF_E_FORMAT, "tensor 'model.layers.0.self_attn.q_proj.weight'", NULL);

    model_base(&m, N_TOKENS);
    m.metadata = "[\"pt\"]";
    st_case(g, "st-metadata-not-object", &m, GF_E_FORMAT, "model.safetensors: '__metadata__' is not an object", NULL);

    /* -- weights */
    model_base(&m, N_TOKENS);
    t = find(&m, "model.layers.1.mlp.up_proj.weight");
    ((uint16_t *)t->data)[5 * N_EMBD + 7] = 0x7fc1; /* NaN at row 5, column 7 */
    st_case(g, "st-nan-bf16", &m, GF_E_VALUE, "model.safetensors: tensor 'model.layers.1.mlp.up_proj.weight': NaN at row 5, column 7",
            NULL);

    model_base(&m, N_TOKENS);
    t = find(&m, "model.embed_tokens.weight");
    ((uint16_t *)t->data)[(N_TOKENS - 1) * N_EMBD + 31] = 0xff80; /* -Inf in the last element */
    snprintf(needle, sizeof needle, "model.safetensors: tensor 'model.embed_tokens.weight': Inf at row %d, column 31",
             N_TOKENS - 1);
    st_case(g, "st-inf-bf16", &m, GF_E_VALUE, needle, NULL);

    model_base(&m, N_TOKENS);
    t = find(&m, "model.layers.0.self_attn.o_proj.weight");
    to_f32(t);
    ((float *)t->data)[0] = NAN; /* the first element */
    st_case(g, "st-nan-f32", &m, GF_E_VALUE, "model.safetensors: tensor 'model.layers.0.self_attn.o_proj.weight': NaN at row 0, column 0",
            NULL);

    model_base(&m, N_TOKENS);
    t = find(&m, "model.layers.1.self_attn.k_proj.bias");
    to_f32(t);
    ((float *)t->data)[9] = INFINITY;
    st_case(g, "st-inf-f32-bias", &m, GF_E_VALUE, "model.safetensors: tensor 'model.layers.1.self_attn.k_proj.bias': Inf at row 0, column 9",
            NULL);

    /* -- tensors against config.json */
    model_base(&m, N_TOKENS);
    t = find(&m, "model.layers.1.self_attn.k_proj.weight");
    t->shape[0] = N_EMBD, t->shape[1] = N_HEAD_KV * HEAD_DIM; /* transposed */
    st_case(g, "shape-vs-config", &m, GF_E_FORMAT,
            "model.safetensors: tensor 'model.layers.1.self_attn.k_proj.weight' has shape [32, 16], config.json implies [16, 32]",
            NULL);

    model_base(&m, N_TOKENS);
    drop(&m, "model.layers.1.mlp.up_proj.weight");
    st_case(g, "missing-tensor", &m, GF_E_FORMAT, "no tensor for GGUF 'blk.1.ffn_up.weight'", NULL);

    model_base(&m, N_TOKENS);
    {
        uint64_t seed = 7;
        add_tensor(&m, "model.layers.2.mlp.up_proj.weight", N_FF, N_EMBD, 0, 0.1f, &seed);
    }
    st_case(g, "unexpected-tensor", &m, GF_E_UNSUPPORTED, "tensor 'model.layers.2.mlp.up_proj.weight' is not part of", NULL);

    { /* config.json says untied, but there is no lm_head.weight */
        config c;
        cfg_base(&c, N_TOKENS);
        cfg_set(&c, "tie_word_embeddings", "false");
        cfg_case(g, "untied-without-lm-head", &c, GF_E_FORMAT, "no 'lm_head.weight'", NULL);
    }

    /* more tokens (299) than embedding rows (290, and vocab_size 290 to match) */
    {
        config c;
        make_dir(g, "tokens-exceed-embedding");
        model_base(&m, 290);
        st_serialize(&m, &b);
        write_buf(g, "tokens-exceed-embedding", "model.safetensors", &b);
        buf_free(&b);
        model_free(&m);
        cfg_base(&c, 290);
        cfg_text(&c, &b);
        write_buf(g, "tokens-exceed-embedding", "config.json", &b);
        buf_free(&b);
        link_rest(g, "tokens-exceed-embedding", "base", model_files, 4, NULL);
        snprintf(needle, sizeof needle, "tokenizer.json: token id %d does not fit the embedding's 290 rows", N_TOKENS - 1);
        manifest(g, "tokens-exceed-embedding", "quantize", GF_E_FORMAT, needle, NULL);
    }

    /* -- config.json */
    config c;
    cfg_base(&c, N_TOKENS);
    cfg_set(&c, "num_key_value_heads", "3");
    cfg_case(g, "cfg-kv-heads-not-dividing", &c, GF_E_FORMAT,
             "config.json: num_attention_heads 4 is not a multiple of num_key_value_heads 3", NULL);
    cfg_base(&c, N_TOKENS);
    cfg_set(&c, "num_attention_heads", "3");
    cfg_set(&c, "num_key_value_heads", "3");
    cfg_case(g, "cfg-hidden-not-divisible", &c, GF_E_FORMAT,
             "config.json: hidden_size 32 is not a multiple of num_attention_heads 3", NULL);
    cfg_base(&c, N_TOKENS);
    cfg_del(&c, "vocab_size");
    cfg_case(g, "cfg-missing-vocab-size", &c, GF_E_FORMAT, "config.json: key 'vocab_size' is missing", NULL);
    cfg_base(&c, N_TOKENS);
    cfg_set(&c, "vocab_size", "\"299\"");
    cfg_case(g, "cfg-vocab-size-string", &c, GF_E_FORMAT, "config.json: key 'vocab_size' must be an integer", NULL);
    cfg_base(&c, N_TOKENS);
    cfg_set(&c, "vocab_size", "5000000");
    cfg_case(g, "cfg-vocab-size-huge", &c, GF_E_FORMAT, "config.json: key 'vocab_size'", NULL);
    cfg_base(&c, N_TOKENS);
    cfg_set(&c, "rope_scaling", "{\"type\": \"dynamic\", \"factor\": 4.0}");
    cfg_case(g, "cfg-rope-scaling", &c, GF_E_UNSUPPORTED, "config.json: key 'rope_scaling' (type 'dynamic')", NULL);
    cfg_base(&c, N_TOKENS);
    cfg_set(&c, "rope_scaling", "{\"rope_type\": \"yarn\", \"factor\": 4.0, \"beta_fast\": 16}");
    cfg_case(g, "cfg-rope-scaling-yarn-beta", &c, GF_E_UNSUPPORTED, "config.json: key 'rope_scaling.beta_fast' = 16",
             NULL);
    cfg_base(&c, N_TOKENS);
    cfg_set(&c, "rope_scaling", "{\"rope_type\": \"linear\", \"factor\": -2.0}");
    cfg_case(g, "cfg-rope-scaling-linear-negative", &c, GF_E_FORMAT, "config.json: key 'rope_scaling.factor' = -2",
             NULL);
    cfg_base(&c, N_TOKENS);
    cfg_set(&c, "rope_scaling", "{\"rope_type\": \"llama3\", \"factor\": 32.0}"); /* llama3 is llama's */
    cfg_case(g, "cfg-rope-scaling-llama3-qwen2", &c, GF_E_UNSUPPORTED,
             "config.json: key 'rope_scaling' (type 'llama3') is not supported for qwen2", NULL);
    cfg_base(&c, N_TOKENS);
    cfg_set(&c, "architectures", "[\"MistralForCausalLM\"]");
    cfg_set(&c, "sliding_window", "256");
    cfg_case(g, "cfg-mistral-sliding-window", &c, GF_E_UNSUPPORTED, "config.json: key 'sliding_window' enables", NULL);
    cfg_base(&c, N_TOKENS);
    cfg_set(&c, "architectures", "[\"Gemma2ForCausalLM\"]");
    cfg_case(g, "cfg-unknown-architecture", &c, GF_E_UNSUPPORTED, "config.json: architecture 'Gemma2ForCausalLM'", NULL);
    cfg_base(&c, N_TOKENS);
    cfg_set(&c, "architectures", "[\"Qwen3ForCausalLM\"]");
    cfg_set(&c, "head_dim", "32");
    cfg_set(&c, "attention_bias", "true");
    cfg_case(g, "cfg-qwen3-attention-bias", &c, GF_E_UNSUPPORTED, "config.json: key 'attention_bias' is true", NULL);
    cfg_base(&c, N_TOKENS);
    cfg_set(&c, "architectures", "[\"Qwen3MoeForCausalLM\"]");
    cfg_set(&c, "head_dim", "32");
    cfg_set(&c, "num_experts", "128");
    cfg_set(&c, "num_experts_per_tok", "8");
    cfg_case(g, "cfg-qwen3-moe", &c, GF_E_UNSUPPORTED,
             "config.json: key 'num_experts' (Qwen3MoeForCausalLM): mixture-of-experts", NULL);
    cfg_base(&c, N_TOKENS);
    cfg_set(&c, "architectures", "\"Qwen2ForCausalLM\"");
    cfg_case(g, "cfg-architectures-not-list", &c, GF_E_FORMAT, "config.json: key 'architectures'", NULL);
    cfg_base(&c, N_TOKENS);
    cfg_set(&c, "head_dim", "16");
    cfg_case(g, "cfg-head-dim-mismatch", &c, GF_E_UNSUPPORTED, "config.json: key 'head_dim' is 16", NULL);
    cfg_base(&c, N_TOKENS);
    cfg_set(&c, "num_experts", "8");
    cfg_set(&c, "num_experts_per_tok", "2");
    cfg_case(g, "cfg-moe", &c, GF_E_UNSUPPORTED, "config.json: key 'num_experts'", NULL);
    cfg_base(&c, N_TOKENS);
    cfg_set(&c, "use_sliding_window", "true");
    cfg_set(&c, "sliding_window", "256");
    cfg_case(g, "cfg-sliding-window", &c, GF_E_UNSUPPORTED, "config.json: key 'use_sliding_window'", NULL);
    cfg_base(&c, N_TOKENS);
    cfg_set(&c, "hidden_act", "\"gelu\"");
    cfg_case(g, "cfg-hidden-act-gelu", &c, GF_E_UNSUPPORTED, "config.json: key 'hidden_act'", NULL);
    cfg_base(&c, N_TOKENS);
    cfg_set(&c, "num_hidden_layers", "0");
    cfg_case(g, "cfg-zero-layers", &c, GF_E_FORMAT, "config.json: key 'num_hidden_layers'", NULL);
    {
        buf t2 = {0};
        make_dir(g, "cfg-not-json");
        cfg_base(&c, N_TOKENS);
        cfg_text(&c, &t2);
        t2.len -= 3; /* drop the closing brace */
        write_buf(g, "cfg-not-json", "config.json", &t2);
        buf_free(&t2);
        link_rest(g, "cfg-not-json", "base", model_files, 4, NULL);
        manifest(g, "cfg-not-json", "quantize", GF_E_FORMAT, "config.json: invalid JSON", NULL);
    }

    /* -- tokenizer.json */
    tok_case(g, "tok-not-json", TOK_NOT_JSON, GF_E_FORMAT, "tokenizer.json: invalid JSON", NULL);
    tok_case(g, "tok-vocab-not-object", TOK_VOCAB_ARRAY, GF_E_FORMAT, "tokenizer.json: key 'model.vocab'", NULL);
    tok_case(g, "tok-id-is-string", TOK_ID_STRING, GF_E_FORMAT, "tokenizer.json: key 'model.vocab': entry 'q'", NULL);
    tok_case(g, "tok-merge-is-number", TOK_MERGE_NUMBER, GF_E_FORMAT, "tokenizer.json: key 'model.merges[3]'", NULL);
    tok_case(g, "tok-added-content-number", TOK_ADDED_CONTENT, GF_E_FORMAT, "tokenizer.json: key 'added_tokens[1].content'",
             NULL);
    tok_case(g, "tok-unigram", TOK_UNIGRAM, GF_E_UNSUPPORTED, "tokenizer.json: key 'model.type'", NULL);
    tok_case(g, "tok-duplicate-id", TOK_DUP_ID, GF_E_FORMAT, "tokenizer.json: key 'model.vocab': id 121", NULL);
    tok_case(g, "tok-unknown-regex", TOK_REGEX, GF_E_UNSUPPORTED, "tokenizer.json: key 'pre_tokenizer'", NULL);
    tok_case(g, "tok-no-merges", TOK_NO_MERGES, GF_E_FORMAT, "tokenizer.json: key 'model.merges'", NULL);
    make_dir(g, "tokcfg-not-json");
    {
        buf t2 = {0};
        tokenizer_config_text(&t2);
        t2.len = 40; /* cut after the first two members */
        write_buf(g, "tokcfg-not-json", "tokenizer_config.json", &t2);
        buf_free(&t2);
    }
    link_rest(g, "tokcfg-not-json", "base", model_files, 4, NULL);
    manifest(g, "tokcfg-not-json", "quantize", GF_E_FORMAT, "tokenizer_config.json: invalid JSON", NULL);
    make_dir(g, "tok-missing");
    link_rest(g, "tok-missing", "base", model_files, 4, "tokenizer.json");
    manifest(g, "tok-missing", "quantize", GF_E_IO, "tokenizer.json: cannot open", NULL);

    /* -- sharded: index against shards */
    shard_case(g, "shard-missing", NULL, NULL, "model-00002-of-00002.safetensors", GF_E_IO,
               "model-00002-of-00002.safetensors: cannot open", NULL);
    shard_case(g, "shard-path-with-slash", "model.norm.weight", "../base-sharded/model-00002-of-00002.safetensors", NULL,
               GF_E_FORMAT, "model.safetensors.index.json: weight_map['model.norm.weight']", NULL);
    shard_case(g, "shard-tensor-not-in-shard", "model.layers.1.mlp.down_proj.weight", "model-00001-of-00002.safetensors",
               NULL, GF_E_FORMAT, "model.safetensors.index.json: tensor 'model.layers.1.mlp.down_proj.weight'", NULL);
    shard_case(g, "shard-tensor-unmapped", "model.layers.0.mlp.gate_proj.weight", NULL, NULL, GF_E_FORMAT,
               "model.layers.0.mlp.gate_proj.weight", NULL);
}

/* ---------------------------------------------------------------- GGUF cases */

typedef enum {
    G_OK, G_EMPTY, G_MAGIC, G_VERSION_1, G_VERSION_BIG_ENDIAN, G_TRUNC_HEADER, G_KV_COUNT_HUGE, G_TENSOR_COUNT_HUGE,
    G_ALIGN_NOT_POW2, G_ALIGN_ZERO, G_ALIGN_TYPE, G_KV_TYPE_BAD, G_DUP_KEY, G_KEY_EMPTY, G_KEY_LEN_PAST_END,
    G_STR_PAST_END, G_ARR_COUNT_PAST_END, G_STRARR_ELEM_PAST_END, G_NESTED_ARRAY, G_DUP_TENSOR, G_NAME_NUL,
    G_DIMS_5, G_DIM_ZERO, G_SHAPE_OVERFLOW, G_TYPE_UNKNOWN, G_TYPE_IQ2_XXS, G_ROW_NOT_BLOCKS, G_ROW_NOT_K_BLOCKS, G_OFFSET_GAP,
    G_OFFSET_MISALIGNED, G_OFFSET_OVERLAP, G_DATA_PAST_END,
} gguf_defect;

static void g_str(buf *b, const char *s) {
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}

/* A small llama-style GGUF v3: 7 keys, three tensors (F32 [32,4], F32 [32], Q8_0 [32,4]). */
static void gguf_build(gguf_defect d, buf *b) {
    uint64_t seed = SEED ^ 0x6767;
    static const char *tokens[4] = {"<s>", "a", "b", "c"};
    put(b, d == G_MAGIC ? "GGML" : "GGUF", 4);
    put_u32(b, d == G_VERSION_1 ? 1 : d == G_VERSION_BIG_ENDIAN ? 0x03000000u : 3);
    put_u64(b, d == G_TENSOR_COUNT_HUGE ? (uint64_t)1 << 40 : d == G_DUP_TENSOR ? 4 : 3);
    put_u64(b, d == G_KV_COUNT_HUGE ? (uint64_t)1 << 40 : d == G_DUP_KEY ? 8 : 7);

    /* key/values */
    if (d == G_KEY_LEN_PAST_END) put_u64(b, 1000000), put(b, "general.architecture", 20);
    else g_str(b, d == G_KEY_EMPTY ? "" : "general.architecture");
    put_u32(b, d == G_KV_TYPE_BAD ? 13 : GF_GGUF_STRING);
    g_str(b, "llama");
    g_str(b, "general.name");
    put_u32(b, GF_GGUF_STRING);
    if (d == G_STR_PAST_END) put_u64(b, 1000000), put(b, "bad-suite", 9);
    else g_str(b, "bad-suite");
    g_str(b, "general.alignment");
    if (d == G_ALIGN_TYPE) put_u32(b, GF_GGUF_U64), put_u64(b, 32);
    else put_u32(b, GF_GGUF_U32), put_u32(b, d == G_ALIGN_NOT_POW2 ? 48 : d == G_ALIGN_ZERO ? 0 : 32);
    g_str(b, "llama.block_count");
    put_u32(b, GF_GGUF_U32);
    put_u32(b, 1);
    if (d == G_DUP_KEY) {
        g_str(b, "general.name");
        put_u32(b, GF_GGUF_STRING);
        g_str(b, "bad-suite-again");
    }
    g_str(b, "llama.context_length");
    put_u32(b, GF_GGUF_U32);
    put_u32(b, 512);
    if (d == G_TRUNC_HEADER) return; /* cut after the fifth key */
    g_str(b, "tokenizer.ggml.tokens");
    put_u32(b, GF_GGUF_ARRAY);
    put_u32(b, d == G_NESTED_ARRAY ? GF_GGUF_ARRAY : GF_GGUF_STRING);
    put_u64(b, 4);
    for (int i = 0; i < 4; i++) {
        if (d == G_STRARR_ELEM_PAST_END && i == 3) put_u64(b, 1u << 20), put(b, tokens[i], strlen(tokens[i]));
        else g_str(b, tokens[i]);
    }
    g_str(b, "tokenizer.ggml.scores");
    put_u32(b, GF_GGUF_ARRAY);
    put_u32(b, GF_GGUF_F32);
    put_u64(b, d == G_ARR_COUNT_PAST_END ? (uint64_t)1 << 40 : 4);
    for (int i = 0; i < 4; i++) {
        float s = -(float)i;
        put(b, &s, 4);
    }

    /* tensor infos; data offsets relative to the aligned data start */
    struct { const char *name; uint32_t n_dims; uint64_t ne[5]; uint32_t type; uint64_t nbytes; } t[4] = {
        {"token_embd.weight", 2, {32, 4}, GF_TYPE_F32, 512},
        {"output_norm.weight", 1, {32}, GF_TYPE_F32, 128},
        {"output.weight", 2, {32, 4}, GF_TYPE_Q8_0, 4 * 34},
        {"output_norm.weight", 1, {32}, GF_TYPE_F32, 128}, /* G_DUP_TENSOR only */
    };
    int n_t = d == G_DUP_TENSOR ? 4 : 3;
    if (d == G_NAME_NUL) t[1].name = "output_norm\0.weight";
    if (d == G_DIMS_5) t[0].n_dims = 5, t[0].ne[2] = t[0].ne[3] = t[0].ne[4] = 1;
    if (d == G_DIM_ZERO) t[1].ne[0] = 0;
    if (d == G_SHAPE_OVERFLOW) t[0].ne[0] = (uint64_t)1 << 32, t[0].ne[1] = (uint64_t)1 << 32;
    if (d == G_TYPE_UNKNOWN) t[2].type = 99;
    if (d == G_TYPE_IQ2_XXS) t[2].type = 16; /* a GGML type gguf-forge does not read */
    if (d == G_ROW_NOT_BLOCKS) t[2].ne[0] = 48, t[2].ne[1] = 2; /* 48 is not a multiple of 32 */
    if (d == G_ROW_NOT_K_BLOCKS) t[2].type = GF_TYPE_Q4_K;     /* a row of 32 is not whole 256-blocks */
    uint64_t off = 0;
    for (int i = 0; i < n_t; i++) {
        if (d == G_NAME_NUL && i == 1) put_u64(b, 19), put(b, t[i].name, 19);
        else g_str(b, t[i].name);
        put_u32(b, t[i].n_dims);
        for (uint32_t k = 0; k < t[i].n_dims; k++) put_u64(b, t[i].ne[k]);
        put_u32(b, t[i].type);
        uint64_t o = off;
        if (i == 2 && d == G_OFFSET_GAP) o += 32;
        if (i == 2 && d == G_OFFSET_MISALIGNED) o += 4;
        if (i == 2 && d == G_OFFSET_OVERLAP) o -= 32;
        put_u64(b, o);
        off += (t[i].nbytes + 31) / 32 * 32;
    }
    while (b->len % 32) put(b, "", 1);
    for (int i = 0; i < n_t; i++) {
        if (t[i].type == GF_TYPE_Q8_0) {
            for (int r = 0; r < 4; r++) {
                uint16_t scale = gf_fp32_to_fp16(0.01f);
                put(b, &scale, 2);
                for (int k = 0; k < 32; k++) {
                    int8_t q = (int8_t)(rnd(&seed) * 127);
                    put(b, &q, 1);
                }
            }
        } else {
            for (uint64_t k = 0; k < t[i].nbytes / 4; k++) {
                float f = rnd(&seed);
                put(b, &f, 4);
            }
        }
        while (b->len % 32) put(b, "", 1);
    }
    if (d == G_DATA_PAST_END) b->len -= 100;
    if (d == G_EMPTY) b->len = 0;
}

static void gguf_case(gen *g, const char *name, gguf_defect d, gf_status st, const char *needle, const char *note) {
    buf b = {0};
    gguf_build(d, &b);
    write_buf(g, NULL, name, &b);
    if (d != G_OK) manifest(g, name, "inspect", st, needle, note);
    buf_free(&b);
}

static void gguf_cases(gen *g) {
    gguf_case(g, "gguf-good.gguf", G_OK, GF_OK, NULL, NULL);
    gguf_case(g, "gguf-empty.gguf", G_EMPTY, GF_E_FORMAT, "gguf-empty.gguf: empty file", NULL);
    gguf_case(g, "gguf-bad-magic.gguf", G_MAGIC, GF_E_FORMAT, "gguf-bad-magic.gguf: not a GGUF file", NULL);
    gguf_case(g, "gguf-version-1.gguf", G_VERSION_1, GF_E_UNSUPPORTED, "gguf-version-1.gguf: GGUF version 1", NULL);
    gguf_case(g, "gguf-version-big-endian.gguf", G_VERSION_BIG_ENDIAN, GF_E_UNSUPPORTED,
              "gguf-version-big-endian.gguf: GGUF version 50331648", NULL);
    gguf_case(g, "gguf-truncated-header.gguf", G_TRUNC_HEADER, GF_E_FORMAT, "gguf-truncated-header.gguf: truncated", NULL);
    gguf_case(g, "gguf-kv-count-huge.gguf", G_KV_COUNT_HUGE, GF_E_FORMAT, "gguf-kv-count-huge.gguf: key/value count", NULL);
    gguf_case(g, "gguf-tensor-count-huge.gguf", G_TENSOR_COUNT_HUGE, GF_E_FORMAT, "gguf-tensor-count-huge.gguf: tensor count",
              NULL);
    gguf_case(g, "gguf-alignment-not-pow2.gguf", G_ALIGN_NOT_POW2, GF_E_FORMAT,
              "gguf-alignment-not-pow2.gguf: key 'general.alignment'", NULL);
    gguf_case(g, "gguf-alignment-zero.gguf", G_ALIGN_ZERO, GF_E_FORMAT, "gguf-alignment-zero.gguf: key 'general.alignment'",
              NULL);
    gguf_case(g, "gguf-alignment-u64.gguf", G_ALIGN_TYPE, GF_E_FORMAT, "gguf-alignment-u64.gguf: key 'general.alignment'",
              NULL);
    gguf_case(g, "gguf-value-type-bad.gguf", G_KV_TYPE_BAD, GF_E_FORMAT,
              "gguf-value-type-bad.gguf: key 'general.architecture' has value type 13", NULL);
    gguf_case(g, "gguf-duplicate-key.gguf", G_DUP_KEY, GF_E_FORMAT, "gguf-duplicate-key.gguf: duplicate key 'general.name'",
              NULL);
    gguf_case(g, "gguf-key-empty.gguf", G_KEY_EMPTY, GF_E_FORMAT, "gguf-key-empty.gguf: key/value 0", NULL);
    gguf_case(g, "gguf-key-length-past-end.gguf", G_KEY_LEN_PAST_END, GF_E_FORMAT,
              "gguf-key-length-past-end.gguf: truncated: key name", NULL);
    gguf_case(g, "gguf-string-past-end.gguf", G_STR_PAST_END, GF_E_FORMAT,
              "gguf-string-past-end.gguf: truncated: value of key 'general.name'", NULL);
    gguf_case(g, "gguf-array-count-past-end.gguf", G_ARR_COUNT_PAST_END, GF_E_FORMAT,
              "gguf-array-count-past-end.gguf: key 'tokenizer.ggml.scores': array of", NULL);
    gguf_case(g, "gguf-string-array-element-past-end.gguf", G_STRARR_ELEM_PAST_END, GF_E_FORMAT,
              "gguf-string-array-element-past-end.gguf: truncated: value of key 'tokenizer.ggml.tokens'", NULL);
    gguf_case(g, "gguf-nested-array.gguf", G_NESTED_ARRAY, GF_E_FORMAT,
              "gguf-nested-array.gguf: key 'tokenizer.ggml.tokens': array element type 9", NULL);
    gguf_case(g, "gguf-duplicate-tensor.gguf", G_DUP_TENSOR, GF_E_FORMAT,
              "gguf-duplicate-tensor.gguf: duplicate tensor 'output_norm.weight'", NULL);
    gguf_case(g, "gguf-tensor-name-nul.gguf", G_NAME_NUL, GF_E_FORMAT, "gguf-tensor-name-nul.gguf: tensor 1", NULL);
    gguf_case(g, "gguf-tensor-5d.gguf", G_DIMS_5, GF_E_FORMAT, "gguf-tensor-5d.gguf: tensor 'token_embd.weight' has 5 dimensions",
              NULL);
    gguf_case(g, "gguf-tensor-dim-zero.gguf", G_DIM_ZERO, GF_E_FORMAT,
              "gguf-tensor-dim-zero.gguf: tensor 'output_norm.weight' has a zero or overflowing shape", NULL);
    gguf_case(g, "gguf-tensor-shape-overflow.gguf", G_SHAPE_OVERFLOW, GF_E_FORMAT,
              "gguf-tensor-shape-overflow.gguf: tensor 'token_embd.weight' has a zero or overflowing shape", NULL);
    gguf_case(g, "gguf-tensor-type-unknown.gguf", G_TYPE_UNKNOWN, GF_E_UNSUPPORTED,
              "gguf-tensor-type-unknown.gguf: tensor 'output.weight' has type id 99", NULL);
    gguf_case(g, "gguf-tensor-type-iq2_xxs.gguf", G_TYPE_IQ2_XXS, GF_E_UNSUPPORTED,
              "gguf-tensor-type-iq2_xxs.gguf: tensor 'output.weight' has type id 16 (iq2_xxs)", NULL);
    gguf_case(g, "gguf-row-not-whole-blocks.gguf", G_ROW_NOT_BLOCKS, GF_E_FORMAT,
              "gguf-row-not-whole-blocks.gguf: tensor 'output.weight': row of 48 elements", NULL);
    gguf_case(g, "gguf-q4_k-row-not-whole-blocks.gguf", G_ROW_NOT_K_BLOCKS, GF_E_FORMAT,
              "gguf-q4_k-row-not-whole-blocks.gguf: tensor 'output.weight': row of 32 elements is not a multiple of the "
              "q4_K block size 256", NULL);
    gguf_case(g, "gguf-offset-gap.gguf", G_OFFSET_GAP, GF_E_FORMAT, "gguf-offset-gap.gguf: tensor 'output.weight' has data offset",
              NULL);
    gguf_case(g, "gguf-offset-misaligned.gguf", G_OFFSET_MISALIGNED, GF_E_FORMAT,
              "gguf-offset-misaligned.gguf: tensor 'output.weight' has data offset", NULL);
    gguf_case(g, "gguf-offset-overlap.gguf", G_OFFSET_OVERLAP, GF_E_FORMAT,
              "gguf-offset-overlap.gguf: tensor 'output.weight' has data offset", NULL);
    gguf_case(g, "gguf-data-past-end.gguf", G_DATA_PAST_END, GF_E_FORMAT,
              "gguf-data-past-end.gguf: tensor 'output.weight' data", NULL);
}

/* ---------------------------------------------------------------- ppl cases */

static gf_status to_buf(void *ctx, const void *p, size_t n, gf_err *err) {
    put(ctx, p, n);
    return GF_OK;
}

/* A llama model the engine loads (hidden 32, 1 layer, 4 heads, FFN 256, 8 tokens, no tokenizer:
 * loading fails first): blk.0.ffn_down.weight, whose rows are 256 long, of type `down` (random
 * block bytes, fp16 scales 1/1024) with its row 10's first fp16 scale set to bad_scale when not 0;
 * gate and up Q8_0, the rest F32. */
static void ppl_build(gf_type down, uint16_t bad_scale, buf *b) {
    enum { D = 32, F = 256, V = 8, BAD_ROW = 10 };
    uint64_t seed = SEED ^ 0x7070;
    gf_err err = {0};
    gf_gguf_writer *w = gf_gguf_writer_new();
    if (!w) die("gguf writer");
    gf_gguf_set_str(w, "general.architecture", "llama");
    gf_gguf_set_u32(w, "llama.context_length", 64);
    gf_gguf_set_u32(w, "llama.embedding_length", D);
    gf_gguf_set_u32(w, "llama.block_count", 1);
    gf_gguf_set_u32(w, "llama.feed_forward_length", F);
    gf_gguf_set_u32(w, "llama.attention.head_count", 4);
    gf_gguf_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    struct { const char *name; int64_t ne0, ne1; gf_type type; } t[] = {
        {"token_embd.weight", D, V, GF_TYPE_F32}, {"output_norm.weight", D, 1, GF_TYPE_F32},
        {"output.weight", D, V, GF_TYPE_F32}, {"blk.0.attn_norm.weight", D, 1, GF_TYPE_F32},
        {"blk.0.attn_q.weight", D, D, GF_TYPE_F32}, {"blk.0.attn_k.weight", D, D, GF_TYPE_F32},
        {"blk.0.attn_v.weight", D, D, GF_TYPE_F32}, {"blk.0.attn_output.weight", D, D, GF_TYPE_F32},
        {"blk.0.ffn_norm.weight", D, 1, GF_TYPE_F32}, {"blk.0.ffn_gate.weight", D, F, GF_TYPE_Q8_0},
        {"blk.0.ffn_up.weight", D, F, GF_TYPE_Q8_0}, {"blk.0.ffn_down.weight", F, D, down},
    };
    const int n_t = (int)(sizeof t / sizeof t[0]);
    for (int i = 0; i < n_t; i++) {
        int64_t ne[2] = {t[i].ne0, t[i].ne1};
        if (gf_gguf_add_tensor(w, t[i].name, t[i].type, t[i].ne1 > 1 ? 2 : 1, ne, &err)) die(err.msg);
    }
    gf_sink sink = {to_buf, b};
    if (gf_gguf_write_header(w, &sink, &err)) die(err.msg);
    for (int i = 0; i < n_t; i++) {
        const int64_t n = t[i].ne0 * t[i].ne1;
        const size_t rb = gf_row_size(t[i].type, t[i].ne0), nb = rb * (size_t)t[i].ne1;
        uint8_t *d = malloc(nb);
        float *f = malloc((size_t)n * sizeof *f);
        if (!d || !f) die("out of memory");
        for (int64_t k = 0; k < n; k++) f[k] = (t[i].ne1 == 1 ? 1.0f : 0.0f) + 0.25f * rnd(&seed);
        if (gf_type_can_write(t[i].type)) gf_quantize_row(t[i].type, f, d, n);
        else { /* Q4_K or Q6_K (read-only): random bytes, then every block's fp16 scales */
            const gf_type_traits *tt = gf_type_info(t[i].type);
            for (size_t k = 0; k < nb; k++) d[k] = (uint8_t)(rnd(&seed) * 128 + 128);
            const int q6 = t[i].type == GF_TYPE_Q6_K;
            const size_t d_at = q6 ? offsetof(gf_block_q6_k, d) : offsetof(gf_block_q4_k, d);
            const size_t dmin_at = q6 ? 0 : offsetof(gf_block_q4_k, dmin);
            const uint16_t h = gf_fp32_to_fp16(1.0f / 1024);
            for (size_t k = 0; k < nb / tt->type_size; k++) {
                memcpy(d + k * tt->type_size + d_at, &h, 2);
                if (dmin_at) memcpy(d + k * tt->type_size + dmin_at, &h, 2);
            }
            if (bad_scale) memcpy(d + BAD_ROW * rb + d_at, &bad_scale, 2);
        }
        if (gf_gguf_write_tensor_data(w, &sink, (uint64_t)i, d, nb, &err)) die(err.msg);
        free(f);
        free(d);
    }
    gf_gguf_writer_free(w);
}

static void ppl_case(gen *g, const char *name, gf_type down, uint16_t bad_scale, gf_status st, const char *needle) {
    buf b = {0};
    ppl_build(down, bad_scale, &b);
    write_buf(g, NULL, name, &b);
    if (bad_scale) manifest(g, name, "ppl", st, needle, NULL);
    buf_free(&b);
}

static void ppl_cases(gen *g) {
    ppl_case(g, "ppl-good.gguf", GF_TYPE_Q4_K, 0, GF_OK, NULL);
    ppl_case(g, "ppl-q4_k-nan-scale.gguf", GF_TYPE_Q4_K, 0x7e00, GF_E_FORMAT,
             "ppl-q4_k-nan-scale.gguf: tensor 'blk.0.ffn_down.weight' (q4_K): element 2560 is NaN: block 10 has a "
             "NaN or Inf fp16 scale");
    ppl_case(g, "ppl-q6_k-inf-scale.gguf", GF_TYPE_Q6_K, 0x7c00, GF_E_FORMAT,
             "ppl-q6_k-inf-scale.gguf: tensor 'blk.0.ffn_down.weight' (q6_K): element 2560 is Inf: block 10 has a "
             "NaN or Inf fp16 scale");
}

/* ---------------------------------------------------------------- GGUF-input cases */

/* A GGUF given to `quantize` (issue 11): base/ converted to F32 in memory, then rewritten
 * as the good twin gguf-in-good.gguf (blk.0.ffn_down.weight Q4_0, blk.0.ffn_gate.weight
 * F16, the rest F32: it must quantize) or with one defect. */
typedef struct {
    const char *drop_key;      /* key left out                                              */
    const char *key;           /* key set (added, or its value replaced): str, or else u32  */
    const char *str;
    uint32_t u32;
    const char *drop;          /* tensor left out                                           */
    const char *extra;         /* a 1-D F32 tensor of N_EMBD elements added at the end      */
    const char *transpose;     /* a 2-D tensor declared with ne[0] and ne[1] exchanged      */
    const char *three_d;       /* a 2-D tensor declared [ne0, ne1, 1]                       */
    const char *retype;        /* tensor written as retype_as, then its type id patched     */
    gf_type retype_as;
    uint32_t type_id;
    const char *poison;        /* F32/F16: element (row, col) made NaN/Inf; Q4_0: the fp16  */
    int64_t row, col;          /* scale of block col of row `row`                           */
    int inf;                   /* Inf instead of NaN                                        */
} gin_defect;

static gf_type twin_type(const char *name) {
    if (!strcmp(name, "blk.0.ffn_down.weight")) return GF_TYPE_Q4_0;
    if (!strcmp(name, "blk.0.ffn_gate.weight")) return GF_TYPE_F16;
    if (!strcmp(name, "token_embd.weight")) return GF_TYPE_Q8_0;
    return GF_TYPE_F32;
}

/* The offset of the type id in tensor `name`'s info in the file image b (after the
 * length-prefixed name, n_dims and the dimensions). */
static size_t type_field(const buf *b, const char *name) {
    const size_t n = strlen(name);
    for (size_t i = 8; i + n + 4 <= b->len; i++) {
        uint64_t len, ndims = 0;
        memcpy(&len, b->p + i - 8, 8);
        if (len != n || memcmp(b->p + i, name, n) != 0) continue;
        memcpy(&ndims, b->p + i + n, 4);
        return i + n + 4 + 8 * (size_t)ndims;
    }
    fprintf(stderr, "gen_bad: no tensor info for %s\n", name);
    exit(1);
}

/* Tensor t of the F32 source as `type`, with the defect's poison applied. */
static uint8_t *gin_data(const gf_gguf_tensor *t, gf_type type, const gin_defect *d, size_t *nbytes) {
    const int64_t ne0 = t->ne[0], n = ne0 * t->ne[1];
    float *f = malloc((size_t)n * sizeof *f);
    if (!f) die("out of memory");
    memcpy(f, t->data, (size_t)n * sizeof *f);
    const int poison = d->poison && !strcmp(d->poison, t->name.s);
    const size_t rs = gf_row_size(type, ne0);
    *nbytes = rs * (size_t)t->ne[1];
    uint8_t *out = malloc(*nbytes);
    if (!out) die("out of memory");
    if (type == GF_TYPE_F32) {
        if (poison) f[d->row * ne0 + d->col] = d->inf ? INFINITY : NAN;
        memcpy(out, f, *nbytes);
    } else if (type == GF_TYPE_F16) {
        uint16_t *h = (uint16_t *)out;
        for (int64_t i = 0; i < n; i++) h[i] = gf_fp32_to_fp16(f[i]);
        if (poison) h[d->row * ne0 + d->col] = d->inf ? 0x7c00 : 0x7e00;
    } else {
        gf_quantize_row(type, f, out, n);
        uint16_t bad = d->inf ? 0x7c00 : 0x7e00; /* Q4_0: the block's fp16 scale d */
        if (poison) memcpy(out + (size_t)d->row * rs + (size_t)d->col * sizeof(gf_block_q4_0) +
                           offsetof(gf_block_q4_0, d), &bad, 2);
    }
    free(f);
    return out;
}

/* The F32 source rewritten as the twin, with defect d, into out. */
static void gin_build(const gf_gguf *src, const gin_defect *d, buf *out) {
    gf_err err = {0};
    gf_gguf_writer *w = gf_gguf_writer_new();
    if (!w) die("gguf writer");
    for (uint64_t i = 0; i < src->n_kv; i++) {
        const char *k = src->kv[i].key.s;
        if (!strncmp(k, "gguf-forge.", 11) || (d->drop_key && !strcmp(k, d->drop_key))) continue;
        if (gf_gguf_set_kv(w, &src->kv[i])) die("out of memory");
    }
    if (d->key && (d->str ? gf_gguf_set_str(w, d->key, d->str) : gf_gguf_set_u32(w, d->key, d->u32))) die("out of memory");
    const gf_gguf_tensor *keep[64];
    gf_type type[64];
    int n = 0;
    for (uint64_t i = 0; i < src->n_tensors && n < 64; i++) {
        const gf_gguf_tensor *t = &src->tensors[i];
        if (d->drop && !strcmp(d->drop, t->name.s)) continue;
        int64_t ne[3] = {t->ne[0], t->ne[1], 1};
        uint32_t nd = t->n_dims;
        if (d->transpose && !strcmp(d->transpose, t->name.s)) ne[0] = t->ne[1], ne[1] = t->ne[0];
        if (d->three_d && !strcmp(d->three_d, t->name.s)) nd = 3;
        type[n] = d->retype && !strcmp(d->retype, t->name.s) ? d->retype_as : twin_type(t->name.s);
        if (gf_gguf_add_tensor(w, t->name.s, type[n], nd, ne, &err)) die(err.msg);
        keep[n++] = t;
    }
    if (d->extra) {
        int64_t ne[1] = {N_EMBD};
        if (gf_gguf_add_tensor(w, d->extra, GF_TYPE_F32, 1, ne, &err)) die(err.msg);
    }
    gf_sink sink = {to_buf, out};
    if (gf_gguf_write_header(w, &sink, &err)) die(err.msg);
    for (int i = 0; i < n; i++) {
        size_t nb;
        uint8_t *data = gin_data(keep[i], type[i], d, &nb);
        if (gf_gguf_write_tensor_data(w, &sink, (uint64_t)i, data, nb, &err)) die(err.msg);
        free(data);
    }
    if (d->extra) {
        float one[N_EMBD];
        for (int i = 0; i < N_EMBD; i++) one[i] = 1.0f;
        if (gf_gguf_write_tensor_data(w, &sink, (uint64_t)n, one, sizeof one, &err)) die(err.msg);
    }
    gf_gguf_writer_free(w);
    if (d->retype) {
        uint32_t id = d->type_id;
        memcpy(out->p + type_field(out, d->retype), &id, 4);
    }
}

static void gin_case(gen *g, const gf_gguf *src, const char *name, const gin_defect *d, gf_status st,
                     const char *needle) {
    buf b = {0};
    char full[512];
    gin_build(src, d, &b);
    write_buf(g, NULL, name, &b);
    snprintf(full, sizeof full, "%s: %s", name, needle);
    if (st != GF_OK) manifest(g, name, "quantize", st, full, NULL);
    buf_free(&b);
}

static void gguf_input_cases(gen *g) {
    char dir[4096];
    path_of(dir, sizeof dir, g, "base", NULL);
    gf_convert_opts o = {.type = GF_TYPE_F32, .embed_type = -1, .output_type = -1};
    gf_convert_summary sum;
    gf_err err = {0};
    buf f32 = {0};
    gf_sink sink = {to_buf, &f32};
    if (gf_convert(dir, &sink, &o, &sum, &err)) die(err.msg);
    gf_gguf *src = NULL;
    if (gf_gguf_parse(f32.p, f32.len, "base-f32.gguf", &src, &err)) die(err.msg);

    gin_case(g, src, "gguf-in-good.gguf", &(gin_defect){0}, GF_OK, NULL);
    /* -- types */
    gin_case(g, src, "gguf-in-type-iq2_xxs.gguf",
             &(gin_defect){.retype = "blk.0.ffn_up.weight", .retype_as = GF_TYPE_F32, .type_id = 16},
             GF_E_UNSUPPORTED, "tensor 'blk.0.ffn_up.weight' has type id 16 (iq2_xxs)");
    gin_case(g, src, "gguf-in-type-i32.gguf", /* 4 bytes an element, as F32: only the type is wrong */
             &(gin_defect){.retype = "blk.0.ffn_up.weight", .retype_as = GF_TYPE_F32, .type_id = 26},
             GF_E_UNSUPPORTED, "tensor 'blk.0.ffn_up.weight' has type id 26 (i32)");
    gin_case(g, src, "gguf-in-q4_0-row-not-whole-blocks.gguf", /* 16 halves = 32 bytes, declared Q4_0 */
             &(gin_defect){.retype = "blk.0.attn_k.bias", .retype_as = GF_TYPE_F16, .type_id = GF_TYPE_Q4_0},
             GF_E_FORMAT, "tensor 'blk.0.attn_k.bias': row of 16 elements is not a multiple of the q4_0 block size 32");
    /* -- values */
    gin_case(g, src, "gguf-in-q4_0-nan-scale.gguf",
             &(gin_defect){.poison = "blk.0.ffn_down.weight", .row = 5, .col = 1}, GF_E_FORMAT,
             "row 5: tensor 'blk.0.ffn_down.weight' (q4_0): element 32 is NaN: block 1 has a NaN or Inf fp16 scale");
    gin_case(g, src, "gguf-in-q4_0-inf-scale.gguf",
             &(gin_defect){.poison = "blk.0.ffn_down.weight", .row = 31, .col = 0, .inf = 1}, GF_E_FORMAT,
             "row 31: tensor 'blk.0.ffn_down.weight' (q4_0): element 0 is Inf: block 0 has a NaN or Inf fp16 scale");
    gin_case(g, src, "gguf-in-f16-inf.gguf", &(gin_defect){.poison = "blk.0.ffn_gate.weight", .row = 7, .col = 9, .inf = 1},
             GF_E_VALUE, "tensor 'blk.0.ffn_gate.weight': Inf at row 7, column 9");
    gin_case(g, src, "gguf-in-f32-nan.gguf", &(gin_defect){.poison = "output_norm.weight", .col = 3}, GF_E_VALUE,
             "tensor 'output_norm.weight': NaN at row 0, column 3");
    /* -- keys */
    gin_case(g, src, "gguf-in-rope-scaling-longrope.gguf",
             &(gin_defect){.key = "qwen2.rope.scaling.type", .str = "longrope"}, GF_E_UNSUPPORTED,
             "key 'qwen2.rope.scaling.type' = 'longrope' is not supported");
    gin_case(g, src, "gguf-in-rope-scaling-factor-string.gguf",
             &(gin_defect){.key = "qwen2.rope.scaling.factor", .str = "4"}, GF_E_FORMAT,
             "key 'qwen2.rope.scaling.factor' has type str");
    gin_case(g, src, "gguf-in-expert-count.gguf", &(gin_defect){.key = "qwen2.expert_count", .u32 = 8},
             GF_E_UNSUPPORTED, "key 'qwen2.expert_count' is not supported");
    gin_case(g, src, "gguf-in-architecture-unknown.gguf", &(gin_defect){.key = "general.architecture", .str = "mamba"},
             GF_E_UNSUPPORTED, "architecture 'mamba' is not supported");
    gin_case(g, src, "gguf-in-architecture-missing.gguf", &(gin_defect){.drop_key = "general.architecture"},
             GF_E_FORMAT, "key 'general.architecture' is missing");
    gin_case(g, src, "gguf-in-rms-eps-missing.gguf", &(gin_defect){.drop_key = "qwen2.attention.layer_norm_rms_epsilon"},
             GF_E_FORMAT, "key 'qwen2.attention.layer_norm_rms_epsilon' is missing");
    gin_case(g, src, "gguf-in-block-count-string.gguf", &(gin_defect){.key = "qwen2.block_count", .str = "2"},
             GF_E_FORMAT, "key 'qwen2.block_count' has type str, expected an integer");
    gin_case(g, src, "gguf-in-vocab-size-mismatch.gguf", &(gin_defect){.key = "qwen2.vocab_size", .u32 = N_TOKENS + 1},
             GF_E_FORMAT, "key 'qwen2.vocab_size' = 300 but 'token_embd.weight' has 299 rows");
    /* -- tensors against the architecture and the keys */
    gin_case(g, src, "gguf-in-unexpected-tensor.gguf", &(gin_defect){.extra = "blk.0.attn_q_norm.weight"},
             GF_E_UNSUPPORTED, "tensor 'blk.0.attn_q_norm.weight' is not part of a qwen2 model");
    gin_case(g, src, "gguf-in-layer-past-block-count.gguf", &(gin_defect){.key = "qwen2.block_count", .u32 = 1},
             GF_E_UNSUPPORTED, "tensor 'blk.1.attn_k.bias' is not part of a qwen2 model");
    gin_case(g, src, "gguf-in-missing-tensor.gguf", &(gin_defect){.drop = "blk.1.ffn_up.weight"}, GF_E_FORMAT,
             "the model has no tensor for GGUF 'blk.1.ffn_up.weight'");
    gin_case(g, src, "gguf-in-shape-vs-keys.gguf", &(gin_defect){.transpose = "blk.1.attn_k.weight"}, GF_E_FORMAT,
             "tensor 'blk.1.attn_k.weight' has shape [32, 16], its GGUF keys imply [16, 32]");
    gin_case(g, src, "gguf-in-tensor-3d.gguf", &(gin_defect){.three_d = "token_embd.weight"}, GF_E_FORMAT,
             "tensor 'token_embd.weight' has 3 dimensions, a qwen2 embedding has 2");
    gin_case(g, src, "gguf-in-no-embedding.gguf", &(gin_defect){.drop = "token_embd.weight"}, GF_E_FORMAT,
             "no tensor 'token_embd.weight'");
    gf_gguf_close(src);
    buf_free(&f32);
}

/* Files of the inspect and ppl cases that `quantize` must refuse for the same defect. */
static void gguf_quantize_lines(gen *g) {
    manifest(g, "gguf-tensor-type-iq2_xxs.gguf", "quantize", GF_E_UNSUPPORTED,
             "gguf-tensor-type-iq2_xxs.gguf: tensor 'output.weight' has type id 16 (iq2_xxs)", NULL);
    manifest(g, "gguf-row-not-whole-blocks.gguf", "quantize", GF_E_FORMAT,
             "gguf-row-not-whole-blocks.gguf: tensor 'output.weight': row of 48 elements", NULL);
    manifest(g, "gguf-data-past-end.gguf", "quantize", GF_E_FORMAT, "gguf-data-past-end.gguf: tensor 'output.weight' data",
             NULL);
    manifest(g, "ppl-q4_k-nan-scale.gguf", "quantize", GF_E_FORMAT,
             "ppl-q4_k-nan-scale.gguf: row 10: tensor 'blk.0.ffn_down.weight' (q4_K): element 0 is NaN: block 0 has a "
             "NaN or Inf fp16 scale", NULL);
    manifest(g, "ppl-q6_k-inf-scale.gguf", "quantize", GF_E_FORMAT,
             "ppl-q6_k-inf-scale.gguf: row 10: tensor 'blk.0.ffn_down.weight' (q6_K): element 0 is Inf: block 0 has a "
             "NaN or Inf fp16 scale", NULL);
}

/* ---------------------------------------------------------------- LoRA adapter cases */

/* What a LoRA case changes in the good adapter (lora-good: r 4, alpha 8, q_proj and down_proj of both layers). */
typedef enum {
    L_OK, L_SHAPE, L_NO_MODULE, L_NO_BASE_TENSOR, L_DORA, L_DORA_MAGNITUDE, L_EMBEDDING, L_EMBED_TARGET, L_SAVED,
    L_NAN, L_INF, L_MISSING_B, L_NO_CONFIG, L_FAN_IN_FAN_OUT,
} lora_defect;

#define L_RANK 4

static void lora_pair(st_model *m, const char *module, int64_t out, int64_t in, uint64_t *seed) {
    char nm[96];
    snprintf(nm, sizeof nm, "base_model.model.%s.lora_A.weight", module);
    add_tensor(m, nm, L_RANK, in, 0, 0.1f, seed);
    snprintf(nm, sizeof nm, "base_model.model.%s.lora_B.weight", module);
    add_tensor(m, nm, out, L_RANK, 0, 0.1f, seed);
}

/* A PEFT adapter folder for the base model (lora --lora CASE), with defect d. */
static void lora_build(gen *g, const char *name, lora_defect d) {
    st_model m = {0};
    buf b = {0};
    uint64_t seed = SEED ^ 0x10ull;
    make_dir(g, name);
    for (int l = 0; l < N_LAYER; l++) {
        char mod[96];
        snprintf(mod, sizeof mod, "model.layers.%d.self_attn.q_proj", l);
        lora_pair(&m, mod, N_HEAD * HEAD_DIM, d == L_SHAPE && l == 1 ? N_EMBD + 1 : N_EMBD, &seed);
        snprintf(mod, sizeof mod, "model.layers.%d.mlp.down_proj", l);
        lora_pair(&m, mod, N_EMBD, N_FF, &seed);
    }
    if (d == L_NO_BASE_TENSOR) lora_pair(&m, "model.layers.5.self_attn.q_proj", N_HEAD * HEAD_DIM, N_EMBD, &seed);
    if (d == L_DORA_MAGNITUDE)
        add_tensor(&m, "base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector", N_HEAD * HEAD_DIM, 0, 1,
                   0.1f, &seed);
    if (d == L_EMBEDDING) add_tensor(&m, "base_model.model.model.embed_tokens.lora_embedding_A", L_RANK, N_TOKENS, 0,
                                     0.1f, &seed);
    if (d == L_EMBED_TARGET) lora_pair(&m, "model.embed_tokens", N_TOKENS, N_EMBD, &seed);
    if (d == L_NAN) ((uint16_t *)find(&m, "base_model.model.model.layers.1.mlp.down_proj.lora_B.weight")->data)[9] = 0x7fc0;
    if (d == L_INF) ((uint16_t *)find(&m, "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")->data)[3] = 0x7f80;
    if (d == L_MISSING_B) drop(&m, "base_model.model.model.layers.1.mlp.down_proj.lora_B.weight");
    st_serialize(&m, &b);
    write_buf(g, name, "adapter_model.safetensors", &b);
    buf_free(&b);
    model_free(&m);
    if (d == L_NO_CONFIG) return;
    putf(&b, "{\n  \"peft_type\": \"LORA\",\n  \"r\": %d,\n  \"lora_alpha\": 8,\n  \"target_modules\": [\"q_proj\", "
             "\"down_proj\"%s],\n  \"use_rslora\": false,\n  \"use_dora\": %s,\n  \"fan_in_fan_out\": %s,\n"
             "  \"modules_to_save\": %s,\n  \"bias\": \"none\"\n}\n",
         L_RANK, d == L_NO_MODULE ? ", \"c_attn\"" : "", d == L_DORA ? "true" : "false",
         d == L_FAN_IN_FAN_OUT ? "true" : "false", d == L_SAVED ? "[\"embed_tokens\", \"lm_head\"]" : "null");
    write_buf(g, name, "adapter_config.json", &b);
    buf_free(&b);
}

static void lora_case(gen *g, const char *name, lora_defect d, gf_status st, const char *needle) {
    lora_build(g, name, d);
    manifest(g, name, "lora", st, needle, "quantize base --lora CASE");
}

static void lora_cases(gen *g) {
    lora_build(g, "lora-good", L_OK); /* must merge: every case fails for its own defect */
    lora_case(g, "lora-shape-mismatch", L_SHAPE, GF_E_VALUE,
              "adapter key 'base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight': shape must be [4, 32]");
    lora_case(g, "lora-target-module-missing", L_NO_MODULE, GF_E_UNSUPPORTED,
              "adapter_config.json: key 'target_modules': the base model has no module 'c_attn'");
    lora_case(g, "lora-base-tensor-missing", L_NO_BASE_TENSOR, GF_E_UNSUPPORTED,
              "the base model has no tensor 'model.layers.5.self_attn.q_proj.weight'");
    lora_case(g, "lora-use-dora", L_DORA, GF_E_UNSUPPORTED, "adapter_config.json: key 'use_dora'");
    lora_case(g, "lora-dora-magnitude", L_DORA_MAGNITUDE, GF_E_UNSUPPORTED,
              "adapter key 'base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector' is not a PEFT");
    lora_case(g, "lora-embedding", L_EMBEDDING, GF_E_UNSUPPORTED,
              "adapter key 'base_model.model.model.embed_tokens.lora_embedding_A' is not a PEFT");
    lora_case(g, "lora-embed-target", L_EMBED_TARGET, GF_E_UNSUPPORTED,
              "'model.embed_tokens.weight' is not a linear weight");
    lora_case(g, "lora-modules-to-save", L_SAVED, GF_E_UNSUPPORTED, "adapter_config.json: key 'modules_to_save'");
    lora_case(g, "lora-fan-in-fan-out", L_FAN_IN_FAN_OUT, GF_E_UNSUPPORTED, "adapter_config.json: key 'fan_in_fan_out'");
    lora_case(g, "lora-nan", L_NAN, GF_E_VALUE,
              "adapter_model.safetensors: tensor 'base_model.model.model.layers.1.mlp.down_proj.lora_B.weight': NaN");
    lora_case(g, "lora-inf", L_INF, GF_E_VALUE,
              "adapter_model.safetensors: tensor 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight': Inf");
    lora_case(g, "lora-missing-lora-b", L_MISSING_B, GF_E_FORMAT,
              "adapter key 'base_model.model.model.layers.1.mlp.down_proj.lora_A.weight': no matching");
    lora_case(g, "lora-no-config", L_NO_CONFIG, GF_E_IO, "adapter_config.json: cannot open");
}

/* ---------------------------------------------------------------- eval cases */

/* Two good HellaSwag tasks in llama.cpp's layout (six lines each). */
static const char HS_GOOD[] = "Roofing: A man is on a roof. he\n3\nsings.\nswims.\nsleeps.\nremoves the shingles.\n"
                              "Cooking: A woman holds a pan. she\n0\ncracks an egg into it.\nflies.\nswims.\nsings.\n";

/* text as a gzip file made by hand (one stored deflate block), so that the bytes do
 * not depend on zlib's compressor version; crc_flip spoils the CRC-32. */
static void gzip_stored(const char *text, size_t n, int crc_flip, buf *b) {
    static const uint8_t head[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3}; /* deflate, no mtime, Unix */
    put(b, head, sizeof head);
    const uint8_t blk[5] = {1, (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)~n, (uint8_t)(~n >> 8)}; /* final, stored */
    put(b, blk, sizeof blk);
    put(b, text, n);
    put_u32(b, (uint32_t)crc32(0, (const Bytef *)text, (uInt)n) ^ (crc_flip ? 1u : 0u));
    put_u32(b, (uint32_t)n);
}

static void eval_case(gen *g, const char *name, const void *d, size_t n, const char *needle) {
    write_file(g, NULL, name, d, n);
    manifest(g, name, "eval", GF_E_FORMAT, needle, "eval ppl-good.gguf --hellaswag CASE");
}

/* A multiple-choice file (llama.cpp's binary layout) of two tasks; defect 1: the first
 * task's offset past the end (read only when tasks are drawn), 2: the second's record
 * cut short, 3: the second with 101 answers. */
static void mc_build(int defect, buf *b) {
    buf body = {0};
    uint32_t pos[2];
    for (int t = 0; t < 2; t++) {
        pos[t] = (uint32_t)(4 + 8 + body.len);
        putf(&body, "%s", ""); /* keeps putf's buffer valid when nothing else is written */
        const char *q = t ? "Which is a fruit?" : "Which is blue?";
        put_u32(&body, (uint32_t)strlen(q));
        put(&body, q, strlen(q));
        const uint32_t n = defect == 3 && t == 1 ? 101 : 2;
        for (int m = 0; m < 2; m++) {
            put_u32(&body, m ? 0 : n);
            if (m) break;
            for (uint32_t i = 0; i < (n > 2 ? 2 : n); i++) {
                const char *a = i ? "a stone" : t ? "an apple" : "the sky";
                put_u32(&body, (uint32_t)strlen(a));
                put(&body, a, strlen(a));
            }
            for (uint32_t i = 0; i < (n > 2 ? 2 : n); i++) put_u32(&body, i == 0);
        }
    }
    if (defect == 1) pos[0] = 100000;
    put_u32(b, 2);
    put(b, pos, sizeof pos);
    put(b, body.p, defect == 2 ? body.len - 6 : body.len);
    buf_free(&body);
}

static void eval_mc_wg_cases(gen *g) {
    buf b = {0};
    mc_build(0, &b);
    write_buf(g, NULL, "eval-mc-good.bin", &b); /* must open: the mc cases fail for their own defect */
    b.len = 0;
    mc_build(1, &b);
    write_file(g, NULL, "eval-mc-task-past-end.bin", b.p, b.len);
    manifest(g, "eval-mc-task-past-end.bin", "eval", GF_E_FORMAT,
             "eval-mc-task-past-end.bin: task 1 starts at byte 100000, past the end of the file",
             "eval ppl-good.gguf --multiple-choice CASE --tasks 1");
    b.len = 0;
    mc_build(2, &b);
    write_file(g, NULL, "eval-mc-truncated-task.bin", b.p, b.len);
    manifest(g, "eval-mc-truncated-task.bin", "eval", GF_E_FORMAT,
             "eval-mc-truncated-task.bin: truncated: task 2: mc1 label 2", "eval ppl-good.gguf --multiple-choice CASE");
    b.len = 0;
    mc_build(3, &b);
    write_file(g, NULL, "eval-mc-too-many-answers.bin", b.p, b.len);
    manifest(g, "eval-mc-too-many-answers.bin", "eval", GF_E_FORMAT,
             "eval-mc-too-many-answers.bin: task 2: 101 mc1 answers (1..100)", "eval ppl-good.gguf --multiple-choice CASE");
    buf_free(&b);
    const char *text = "this is a text file, not a multiple-choice file\n";
    write_file(g, NULL, "eval-mc-not-binary.bin", text, strlen(text));
    manifest(g, "eval-mc-not-binary.bin", "eval", GF_E_FORMAT, "eval-mc-not-binary.bin: not a multiple-choice file",
             "eval ppl-good.gguf --multiple-choice CASE");
    const char *hs = "Roofing: A man is on a roof. he\n3\nsings.\nswims.\nsleeps.\nremoves the shingles.\n";
    write_file(g, NULL, "eval-wg-not-csv.csv", hs, strlen(hs));
    manifest(g, "eval-wg-not-csv.csv", "eval", GF_E_FORMAT, "eval-wg-not-csv.csv: not a Winogrande CSV file",
             "eval ppl-good.gguf --winogrande CASE");
}

static void eval_cases(gen *g) {
    buf b = {0};
    const size_t good = sizeof HS_GOOD - 1;
    gzip_stored(HS_GOOD, good, 0, &b);
    write_buf(g, NULL, "eval-hs-good.txt.gz", &b); /* must parse: the gzip cases fail for their own defect */
    b.len = 0;
    char text[1024];
    snprintf(text, sizeof text, "%sA third: it\n1\nends.\nstops.\n", HS_GOOD);
    eval_case(g, "eval-hs-truncated-task.txt", text, strlen(text),
              "eval-hs-truncated-task.txt: 16 lines, not a multiple of 6: task 3 is truncated (it has 4 of its 6");
    snprintf(text, sizeof text, "%s", HS_GOOD);
    *strstr(text, "\n0\n") = '\0';
    snprintf(text + strlen(text), sizeof text - strlen(text), "\n4\n%s", strstr(HS_GOOD, "\n0\n") + 3);
    eval_case(g, "eval-hs-label-out-of-range.txt", text, strlen(text),
              "eval-hs-label-out-of-range.txt: task 2 (line 8): the gold ending '4' is not one of 0..3");
    const char *word = "A man: he\nthree\na\nb\nc\nd\n";
    eval_case(g, "eval-hs-label-not-a-number.txt", word, strlen(word),
              "eval-hs-label-not-a-number.txt: task 1 (line 2): the gold ending 'three'");
    static const uint8_t gguf[24] = {'G', 'G', 'U', 'F', 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    eval_case(g, "eval-hs-not-text.gguf", gguf, sizeof gguf,
              "eval-hs-not-text.gguf: not a HellaSwag text file (a NUL byte at offset 5)");
    eval_case(g, "eval-hs-empty.txt", "", 0, "eval-hs-empty.txt: empty: no HellaSwag tasks");
    gzip_stored(HS_GOOD, good, 0, &b);
    eval_case(g, "eval-hs-gzip-truncated.txt.gz", b.p, b.len / 2, "eval-hs-gzip-truncated.txt.gz: truncated gzip data");
    b.len = 0;
    gzip_stored(HS_GOOD, good, 1, &b);
    eval_case(g, "eval-hs-gzip-bad-crc.txt.gz", b.p, b.len,
              "eval-hs-gzip-bad-crc.txt.gz: corrupt gzip data (incorrect data check)");
    b.len = 0;
    snprintf(text, sizeof text, "%sA third: it\n1\n", HS_GOOD);
    gzip_stored(text, strlen(text), 0, &b);
    eval_case(g, "eval-hs-gzip-truncated-task.txt.gz", b.p, b.len,
              "eval-hs-gzip-truncated-task.txt.gz: 14 lines, not a multiple of 6: task 3 is truncated");
    buf_free(&b);
    eval_mc_wg_cases(g);
}

/* ---------------------------------------------------------------- checkpoints */

/* A checkpoint folder whose state.gfck is body followed by its FNV-1a (a wrong one when
 * bad_sum), or body alone when raw. */
static void ckpt_case(gen *g, const char *name, const buf *body, int raw, const char *needle) {
    buf b = {0};
    put(&b, body->p, body->len);
    uint64_t h = gf_fnv1a64(body->p, body->len);
    if (!raw) put(&b, &h, 8);
    make_dir(g, name);
    write_buf(g, name, "state.gfck", &b);
    write_file(g, name, "lock", "", 0); /* so that the run refusing the case writes nothing here */
    manifest(g, name, "checkpoint", GF_E_FORMAT, needle, "quantize base --blocks autoround --checkpoint CASE");
    buf_free(&b);
}

static void checkpoint_cases(gen *g) {
    buf b = {0};
    put(&b, "GFCKSTAT", 8);
    put_u32(&b, 1);
    put_u32(&b, 1000); /* an identity of 1000 bytes, of which the file has 10 */
    put(&b, "the model\t", 10);
    ckpt_case(g, "ckpt-state-truncated", &b, 0, "ckpt-state-truncated/state.gfck: truncated: identity at byte 16");
    b.len = 10;
    ckpt_case(g, "ckpt-state-10-bytes", &b, 1, "ckpt-state-10-bytes/state.gfck: truncated: 10 bytes");
    b.len = 0;
    put(&b, "GGUF\3\0\0\0", 8);
    put_u32(&b, 1);
    put_u32(&b, 0);
    ckpt_case(g, "ckpt-state-not-checkpoint", &b, 0, "ckpt-state-not-checkpoint/state.gfck: not a checkpoint file");
    buf_free(&b);
}

/* ---------------------------------------------------------------- --classify */

static gf_status discard(void *ctx, const void *p, size_t n, gf_err *err) { return GF_OK; }

/* The task file's read and parse by its kind (from the name: eval-mc-*, eval-wg-*, else
 * HellaSwag), then for multiple choice every task record, as `eval` reads them first. */
static gf_status classify_eval(const char *path, gf_err *err) {
    char *text = NULL;
    size_t len = 0;
    gf_status st = gf_read_text(path, (size_t)1 << 30, &text, &len, err);
    if (st) return st;
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (!strncmp(base, "eval-mc-", 8)) {
        gf_mc_file f;
        st = gf_mc_open(path, text, len, &f, err);
        size_t off = f.first;
        for (int64_t i = 0; !st && i < f.n_tasks; i++) {
            gf_mc_task t;
            /* the positioned read (the draw's) for the past-the-end case, else one after another */
            st = gf_mc_task_at(&f, strstr(base, "past-end") ? f.pos[i] : off, i + 1, &t, &off, err);
        }
        if (!st || f.buf) gf_mc_free(&f);
    } else if (!strncmp(base, "eval-wg-", 8)) {
        gf_wg_file f;
        st = gf_wg_parse(path, text, len, &f, err);
        if (!st) gf_wg_free(&f);
    } else {
        gf_hs_file f;
        st = gf_hs_parse(path, text, len, &f, err);
        if (!st) gf_hs_free(&f);
    }
    free(text);
    return st;
}

/* What the library says about one case, for the test to compare with the manifest's class. */
static int classify(const char *kind, const char *path) {
    gf_err err = {0};
    gf_status st;
    if (strcmp(kind, "inspect") == 0) {
        gf_gguf *gg = NULL;
        st = gf_gguf_open(path, &gg, &err);
        gf_gguf_close(gg);
    } else if (strcmp(kind, "quantize") == 0) {
        gf_convert_opts o = {.type = GF_TYPE_Q8_0, .embed_type = -1, .output_type = -1}; /* the CLI's defaults */
        gf_sink sink = {discard, NULL};
        gf_convert_summary sum;
        st = gf_convert(path, &sink, &o, &sum, &err);
    } else if (strcmp(kind, "lora") == 0) { /* path: an adapter folder beside base/ */
        char base[4096];
        const char *slash = strrchr(path, '/');
        snprintf(base, sizeof base, "%.*sbase", slash ? (int)(slash - path + 1) : 0, path);
        gf_lora_spec l = {path, 1.0};
        gf_convert_opts o = {.type = GF_TYPE_Q8_0, .embed_type = -1, .output_type = -1, .lora = &l, .n_lora = 1};
        gf_sink sink = {discard, NULL};
        gf_convert_summary sum;
        st = gf_convert(base, &sink, &o, &sum, &err);
    } else if (strcmp(kind, "checkpoint") == 0) { /* path: a checkpoint folder for base/ */
        char base[4096];
        const char *slash = strrchr(path, '/');
        snprintf(base, sizeof base, "%.*sbase", slash ? (int)(slash - path + 1) : 0, path);
        gf_convert_opts o = {.type = GF_TYPE_Q8_0, .embed_type = -1, .output_type = -1,
                             .blocks = gf_qmethod_find("autoround"), .checkpoint = path};
        gf_sink sink = {discard, NULL};
        gf_convert_summary sum;
        st = gf_convert(base, &sink, &o, &sum, &err);
    } else if (strcmp(kind, "ppl") == 0) { /* the engine's load, which `ppl` does first */
        gf_model *m = NULL;
        st = gf_model_open(path, gf_kernels_detect(), &m, &err);
        gf_model_free(m);
    } else if (strcmp(kind, "eval") == 0) { /* the task file's read and parse, which `eval` does first */
        st = classify_eval(path, &err);
    } else {
        fprintf(stderr, "gen_bad: --classify wants quantize, lora, checkpoint, inspect, ppl or eval, not '%s'\n", kind);
        return 1;
    }
    printf("%s\t%s\n", gf_status_name(st), st ? err.msg : "");
    return 0;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--classify") == 0) return classify(argv[2], argv[3]);
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: gen_bad OUT_DIR | gen_bad --classify quantize|lora|checkpoint|inspect|ppl|eval PATH\n");
        return 1;
    }
    gen g = {.out = argv[1]};
    if (mkdir(g.out, 0755) != 0 && errno != EEXIST) die(g.out);
    putf(&g.manifest, "# bad-input suite (issue 6), written by tests/gen_bad.c; run by tests/test_bad_inputs.sh.\n"
                      "# case\tcommand\texit\tclass\tmessage contains\tnote\n");
    write_bases(&g);
    quantize_cases(&g);
    gguf_cases(&g);
    ppl_cases(&g);
    gguf_input_cases(&g);
    gguf_quantize_lines(&g);
    lora_cases(&g);
    eval_cases(&g);
    checkpoint_cases(&g);
    write_buf(&g, NULL, "MANIFEST.tsv", &g.manifest);
    printf("gen_bad: %d cases in %s\n", g.n_cases, g.out);
    buf_free(&g.manifest);
    return 0;
}
