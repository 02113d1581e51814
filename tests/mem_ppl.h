/*
 * mem_ppl.h - the engine's perplexity of a GGUF held in memory, on the first chunks
 * of a text, with llama-perplexity's windows (-c 512 -b 512, F16 KV cache as its
 * default): what the tests compare with llama-perplexity's "Final estimate" on the
 * same file; and the check of a file of such perplexities against ours.  Test code
 * only: test_llama3, test_qwen3.
 */
#ifndef GF_TEST_MEM_PPL_H
#define GF_TEST_MEM_PPL_H

#include <math.h>
#include <stdio.h>

#include "../engine/cpu.h"
#include "../engine/ppl.h"
#include "../engine/tokenizer.h"
#include "../formats/gguf.h"
#include "../formats/vocab.h"
#include "check.h"
#include "membuf.h"

/* -1 (and a failed check) when the file cannot be loaded or scored. */
static double mem_ppl(const membuf *m, const char *text, size_t len, int chunks) {
    gf_err err = {0};
    gf_gguf *g = NULL;
    gf_model *model = NULL;
    gf_vocab *v = NULL;
    gf_tokenizer *t = NULL;
    gf_ppl *r = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    double ppl = -1;
    gf_status st = gf_gguf_parse(m->p, m->n, "mem", &g, &err);
    if (!st) st = gf_model_from_gguf(g, gf_kernels_detect(), &model, &err);
    if (!st) st = gf_vocab_from_gguf(g, &v, &err);
    if (!st) st = gf_tokenizer_init(v, &t, &err);
    if (!st) st = gf_tokenize(t, text, len, 1, 0, &ids, &n_ids, &err);
    if (!st) {
        gf_ppl_params p = {.n_ctx = 512, .n_batch = 512, .n_chunks = chunks, .add_bos = gf_tokenizer_adds_bos(t),
                           .bos_id = gf_tokenizer_bos(t), .kv_type = GF_TYPE_F16};
        st = gf_ppl_init(&r, model, NULL, ids, (int64_t)n_ids, &p, &err);
    }
    for (int64_t i = 0; !st && i < gf_ppl_n_chunks(r); i++) st = gf_ppl_step(r, &err);
    if (!st) {
        gf_ppl_report rep;
        gf_ppl_summary(r, &rep, 0);
        ppl = rep.ppl;
    }
    CHECK(st == GF_OK, "ppl: %s", err.msg);
    gf_ppl_free(r);
    free(ids);
    gf_tokenizer_free(t);
    gf_vocab_free(v);
    gf_model_free(model);
    gf_gguf_close(g);
    return ppl;
}

/* ---------------------------------------------------------------- against llama-perplexity */

#define PPL_REL_F32 1e-3   /* issue 12: llama-perplexity's PPL within 0.1 % on F32 files */
#define PPL_REL_QUANT 5e-3 /* and within 0.5 % on quantized ones */

/* Model `name` of a reference file converted to type (the default layout of `quantize
 * --type`) into m; 0, or -1 with err filled (a model the test does not have, too). */
typedef int (*mem_ppl_convert_fn)(const char *name, gf_type type, membuf *m, const void *ctx, gf_err *err);

/* The shared text rel (GF_SHARED), whole, or NULL: missing (a skip, a failure under CI) or unreadable. */
static char *mem_ppl_text(const char *rel, size_t *len) {
    char path[512], *text = NULL;
    gf_err err = {0};
    if (!check_shared_path(path, sizeof path, rel)) return NULL;
    CHECK(gf_read_file(path, (size_t)1 << 28, &text, len, &err) == GF_OK, "%s", err.msg);
    return text;
}

/* Every line "model [type] chunks PPL +/-" of path (typed: with the type column; else the
 * files are F32): the model converted, scored by mem_ppl on text, and checked within
 * PPL_REL_F32 / PPL_REL_QUANT of who's PPL.  Returns the number of lines checked. */
static int mem_ppl_check_file(const char *path, int typed, mem_ppl_convert_fn convert, const void *ctx,
                              const char *who, const char *text, size_t len) {
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "%s", path);
    if (!f) return 0;
    char line[256];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        char name[64], tname[16] = "f32";
        int chunks;
        double want, pm;
        if (line[0] == '#' || (typed ? sscanf(line, "%63s %15s %d %lf %lf", name, tname, &chunks, &want, &pm) != 5
                                     : sscanf(line, "%63s %d %lf %lf", name, &chunks, &want, &pm) != 4))
            continue;
        const int type = gf_type_from_name(tname);
        CHECK(type >= 0, "%s: type '%s'", path, tname);
        if (type < 0) continue;
        membuf m = {0};
        gf_err err = {0};
        const int ok = convert(name, (gf_type)type, &m, ctx, &err) == 0;
        CHECK(ok, "%s: %s %s: %s", path, name, tname, err.msg);
        const double got = ok ? mem_ppl(&m, text, len, chunks) : -1, rel = fabs(got - want) / want;
        const double lim = type == GF_TYPE_F32 ? PPL_REL_F32 : PPL_REL_QUANT;
        printf("  %s %s, %d x 512: PPL %.6e, %s %.6e: relative difference %.2g\n", name, tname, chunks, got, who,
               want, rel);
        CHECK(rel < lim, "%s %s: PPL %g vs %s's %g", name, tname, got, who, want);
        free(m.p);
        n++;
    }
    fclose(f);
    return n;
}

#endif /* GF_TEST_MEM_PPL_H */
