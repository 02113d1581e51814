/*
 * mem_ppl.h - the engine's perplexity of a GGUF held in memory, on the first chunks
 * of a text, with llama-perplexity's windows (-c 512 -b 512, F16 KV cache as its
 * default): what the tests compare with llama-perplexity's "Final estimate" on the
 * same file.  Test code only: test_llama3, test_qwen3.
 */
#ifndef GF_TEST_MEM_PPL_H
#define GF_TEST_MEM_PPL_H

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

#endif /* GF_TEST_MEM_PPL_H */
