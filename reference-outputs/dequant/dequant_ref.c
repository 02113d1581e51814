/*
 * dequant_ref.c - llama.cpp's dequantization of every tensor of a GGUF file,
 * written as raw little-endian floats to OUTDIR/<tensor name>.f32, through
 * ggml's own type traits (ggml_get_type_traits(type)->to_float, i.e.
 * dequantize_row_* of ggml-quants.c).  Reference tool only: built against a
 * llama.cpp checkout, never part of gguf-forge.
 *   cc -O2 -I$LLAMA/ggml/include dequant_ref.c -L$LLAMA/build/bin -lggml-base -o dequant_ref
 *   LD_LIBRARY_PATH=$LLAMA/build/bin ./dequant_ref IN.gguf OUTDIR
 */
#include "ggml.h"
#include "gguf.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: dequant_ref IN.gguf OUTDIR\n"); return 2; }
    struct ggml_context *ctx = NULL;
    struct gguf_init_params p = {.no_alloc = false, .ctx = &ctx};
    struct gguf_context *g = gguf_init_from_file(argv[1], p);
    if (!g) { fprintf(stderr, "%s: cannot read\n", argv[1]); return 1; }
    for (int64_t i = 0; i < gguf_get_n_tensors(g); i++) {
        const char *name = gguf_get_tensor_name(g, i);
        struct ggml_tensor *t = ggml_get_tensor(ctx, name);
        const int64_t n = ggml_nelements(t);
        float *out = malloc((size_t)n * sizeof *out);
        const struct ggml_type_traits *tr = ggml_get_type_traits(t->type);
        if (t->type == GGML_TYPE_F32) for (int64_t j = 0; j < n; j++) out[j] = ((const float *)t->data)[j];
        else tr->to_float(t->data, out, n);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.f32", argv[2], name);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(out, sizeof *out, (size_t)n, f) != (size_t)n || fclose(f)) { perror(path); return 1; }
        printf("%s %s %lld\n", name, tr->type_name, (long long)n);
        free(out);
    }
    gguf_free(g);
    ggml_free(ctx);
    return 0;
}
