/*
 * gen_model.c - writes a random-weight Hugging Face model folder with the exact
 * shape of a real config.json (for speed benchmarks only: the weights mean
 * nothing).  Usage: gen_model CONFIG_DIR OUT_DIR [bf16|f32] [seed]
 * CONFIG_DIR supplies config.json and the tokenizer files, copied to OUT_DIR;
 * model.safetensors is streamed tensor by tensor (memory: one tensor row block).
 * Weights ~ N(0, 0.02) (sum of uniforms), norms 1, biases small.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/rand.h"
#include "../formats/hfconfig.h"

typedef struct {
    char name[96];
    int64_t rows, cols; /* cols 0: 1-D */
    int kind;           /* 0 weight, 1 norm, 2 bias */
} gt;

static uint64_t rng;
static float urand(void) {
    gf_rand_next(&rng);
    return (float)((double)(rng >> 11) / 9007199254740992.0);
}

static int copy_file(const char *src, const char *dst) {
    FILE *a = fopen(src, "rb"), *b = a ? fopen(dst, "wb") : NULL;
    if (!a || !b) {
        if (a) fclose(a);
        return -1;
    }
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0) fwrite(buf, 1, n, b);
    fclose(a);
    return fclose(b);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: gen_model CONFIG_DIR OUT_DIR [bf16|f32] [seed]\n");
        return 1;
    }
    const char *cfg = argv[1], *out = argv[2];
    int bf16 = argc < 4 || strcmp(argv[3], "f32") != 0;
    rng = argc > 4 ? strtoull(argv[4], NULL, 10) | 1 : 12345;
    gf_hfcfg hp;
    gf_err err = {0};
    if (gf_hfcfg_load(cfg, &hp, &err)) {
        fprintf(stderr, "gen_model: %s\n", err.msg);
        return 1;
    }
    mkdir(out, 0755);
    static const char *files[] = {"config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json"};
    char a[4096], b[4096];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(a, sizeof a, "%s/%s", cfg, files[i]);
        snprintf(b, sizeof b, "%s/%s", out, files[i]);
        if (copy_file(a, b) && i < 2) {
            fprintf(stderr, "gen_model: cannot copy %s\n", a);
            return 1;
        }
    }
    /* every tensor the architecture table requires, and the biases the config turns on */
    const gf_arch_info *ai = hp.info;
    const gf_arch_dims d = {hp.n_vocab, hp.n_embd, hp.n_head, hp.n_head_kv, hp.head_dim, hp.n_ff};
    int cap = GF_TOP_COUNT + ai->n_block * (int)hp.n_layer, n = 0;
    gt *t = calloc((size_t)cap, sizeof *t);
#define ADD(at, l) do { const gf_tensor_name *tn = (at)->t; gf_tensor_hf_name(tn, l, t[n].name, sizeof t[n].name); \
        t[n].rows = gf_arch_dim(&d, tn->rows); t[n].cols = gf_arch_dim(&d, tn->cols); \
        t[n].kind = tn->kind == GF_TK_NORM ? 1 : tn->kind == GF_TK_BIAS ? 2 : 0; n++; } while (0)
    for (int i = 0; i < GF_TOP_COUNT; i++)
        if (ai->top[i].required || (i == GF_TOP_OUTPUT && !hp.tie_word_embeddings)) ADD(&ai->top[i], -1);
    for (int64_t l = 0; l < hp.n_layer; l++)
        for (int i = 0; i < ai->n_block; i++) {
            const gf_arch_tensor *at = &ai->block[i];
            int bias_on = at->t->when == GF_WHEN_ATTN_BIAS && hp.attn_bias && ai->attn_bias == GF_BIAS_BY_CONFIG;
            if (at->t->kind != GF_TK_SKIP && (at->required || bias_on)) ADD(at, l);
        }
#undef ADD
    size_t es = bf16 ? 2 : 4;
    /* header */
    size_t hcap = (size_t)n * 200 + 256, hl = 0;
    char *h = malloc(hcap);
    uint64_t off = 0;
    hl += (size_t)snprintf(h, hcap, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < n; i++) {
        uint64_t nb = (uint64_t)t[i].rows * (uint64_t)(t[i].cols ? t[i].cols : 1) * es;
        if (t[i].cols)
            hl += (size_t)snprintf(h + hl, hcap - hl, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%" PRId64 ",%" PRId64 "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}",
                                   t[i].name, bf16 ? "BF16" : "F32", t[i].rows, t[i].cols, off, off + nb);
        else
            hl += (size_t)snprintf(h + hl, hcap - hl, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%" PRId64 "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}",
                                   t[i].name, bf16 ? "BF16" : "F32", t[i].rows, off, off + nb);
        off += nb;
    }
    hl += (size_t)snprintf(h + hl, hcap - hl, "}");
    while (hl % 8) h[hl++] = ' ';
    snprintf(b, sizeof b, "%s/model.safetensors", out);
    FILE *f = fopen(b, "wb");
    if (!f) {
        fprintf(stderr, "gen_model: cannot write %s\n", b);
        return 1;
    }
    uint64_t hl64 = hl;
    fwrite(&hl64, 8, 1, f);
    fwrite(h, 1, hl, f);
    /* data, a row block at a time */
    size_t blk = 1 << 20;
    float *x = malloc(blk * sizeof *x);
    uint16_t *y = malloc(blk * sizeof *y);
    for (int i = 0; i < n; i++) {
        uint64_t cnt = (uint64_t)t[i].rows * (uint64_t)(t[i].cols ? t[i].cols : 1);
        for (uint64_t done = 0; done < cnt;) {
            size_t k = cnt - done < blk ? (size_t)(cnt - done) : blk;
            for (size_t j = 0; j < k; j++) {
                float g = (urand() + urand() + urand() + urand() - 2.0f) * 1.7320508f; /* ~N(0,1) */
                x[j] = t[i].kind == 1 ? 1.0f + 0.1f * g : t[i].kind == 2 ? 0.1f * g : 0.02f * g;
            }
            if (bf16) {
                for (size_t j = 0; j < k; j++) {
                    uint32_t u;
                    memcpy(&u, &x[j], 4);
                    y[j] = (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16); /* round to nearest even */
                }
                fwrite(y, 2, k, f);
            } else {
                fwrite(x, 4, k, f);
            }
            done += k;
        }
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "gen_model: write failed\n");
        return 1;
    }
    fprintf(stderr, "gen_model: %s: %d tensors, %.1f MB (%s)\n", out, n, (double)(off + hl + 8) / 1e6, bf16 ? "bf16" : "f32");
    free(t);
    free(h);
    free(x);
    free(y);
    return 0;
}
