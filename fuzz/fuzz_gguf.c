/*
 * fuzz_gguf.c - bytes as a GGUF file: the bounded reader, the typed getters, the
 * dequantizer of every readable type (the first row of each tensor, through
 * gf_dequantize_checked) and the vocabulary loader on whatever parses.  Rejections
 * are fine; a crash, hang, leak or sanitizer report is a bug.
 */
#include <stdlib.h>

#include "../formats/gguf.h"
#include "../formats/vocab.h"
#include "fuzz_replay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gf_gguf *g = NULL;
    gf_err err;
    if (gf_gguf_parse(data, size, "fuzz.gguf", &g, &err) != GF_OK) return 0;
    uint32_t u;
    float f;
    int b;
    const gf_str *s;
    const gf_kv *a;
    gf_gguf_get_str(g, "general.architecture", &s, &err);
    gf_gguf_get_u32(g, "qwen2.block_count", &u, &err);
    gf_gguf_get_f32(g, "qwen2.rope.freq_base", &f, &err);
    gf_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b, &err);
    gf_gguf_get_arr(g, "tokenizer.ggml.tokens", GF_GGUF_STRING, &a, &err);
    volatile uint8_t sink = 0; /* touch every tensor's first and last byte: must be in bounds */
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const uint8_t *p = g->tensors[i].data;
        if (g->tensors[i].nbytes) sink ^= p[0] ^ p[g->tensors[i].nbytes - 1];
        (void)gf_gguf_find_tensor(g, g->tensors[i].name.s);
        const int64_t ne0 = g->tensors[i].ne[0];
        float *row = ne0 <= 4096 ? malloc((size_t)ne0 * sizeof *row) : NULL; /* the reader checked whole blocks */
        if (row) (void)gf_dequantize_checked(g->tensors[i].type, p, row, ne0, g->tensors[i].name.s, &err);
        free(row);
    }
    (void)sink;
    gf_vocab *v = NULL;
    if (gf_vocab_from_gguf(g, &v, &err) == GF_OK) gf_vocab_free(v);
    gf_gguf_close(g);
    return 0;
}
