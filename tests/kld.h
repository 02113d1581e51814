/*
 * kld.h - GGUF files converted into memory and loaded by the engine, and their
 * mean KL divergence from an F32 conversion's next-token distributions on the
 * first chunks of a text (engine/ppl.h: llama-perplexity's windows and formula,
 * F32 attention).  Test code only: test_methods (kernel sets) and test_ordering.
 */
#ifndef GF_TEST_KLD_H
#define GF_TEST_KLD_H

#include <math.h>

#include "../convert/convert.h"
#include "../engine/ppl.h"
#include "../engine/tokenizer.h"
#include "check.h"
#include "membuf.h"

#define KLD_CTX 256 /* qwen2-tiny was trained on 256-token sequences */

typedef struct {
    membuf f;
    gf_gguf *g;
    gf_model *m;
} kld_file;

static void kld_file_free(kld_file *k) {
    gf_model_free(k->m);
    gf_gguf_close(k->g);
    free(k->f.p);
    memset(k, 0, sizeof *k);
}

/* k->f parsed and loaded for the engine (kernel set: gf_kernels_detect() now) */
static gf_status kld_load(kld_file *k, gf_err *err) {
    GF_TRY(gf_gguf_parse(k->f.p, k->f.n, "memory", &k->g, err));
    return gf_model_from_gguf(k->g, gf_kernels_detect(), &k->m, err);
}

/* gf_convert of model_dir with o into k->f, then kld_load */
static gf_status kld_convert(const char *model_dir, const gf_convert_opts *o, kld_file *k, gf_err *err) {
    gf_convert_summary sum;
    gf_sink sk = {mem_write, &k->f};
    memset(k, 0, sizeof *k);
    GF_TRY(gf_convert(model_dir, &sk, o, &sum, err));
    return kld_load(k, err);
}

typedef struct {
    kld_file base; /* the F32 conversion */
    int32_t *ids;
    size_t n_ids;
    int add_bos;
    int32_t bos;
    int64_t chunks;
} kld_ref;

static void kld_ref_free(kld_ref *r) {
    kld_file_free(&r->base);
    free(r->ids);
    memset(r, 0, sizeof *r);
}

/* The F32 base and the tokens of the first text_bytes of text_path; 0 on failure (checked). */
static int kld_ref_open(kld_ref *r, const char *model_dir, const char *text_path, size_t text_bytes, int64_t chunks) {
    gf_err err = {0};
    gf_vocab *v = NULL;
    gf_tokenizer *t = NULL;
    char *text = NULL;
    size_t len = 0;
    memset(r, 0, sizeof *r);
    r->chunks = chunks;
    gf_convert_opts o = {.type = GF_TYPE_F32, .embed_type = -1, .output_type = -1};
    gf_status rc = kld_convert(model_dir, &o, &r->base, &err);
    if (!rc) rc = gf_vocab_from_gguf(r->base.g, &v, &err);
    if (!rc) rc = gf_tokenizer_init(v, &t, &err);
    if (!rc) rc = gf_read_file(text_path, (size_t)1 << 28, &text, &len, &err);
    if (!rc) rc = gf_tokenize(t, text, len < text_bytes ? len : text_bytes, 1, 0, &r->ids, &r->n_ids, &err);
    if (t) r->add_bos = gf_tokenizer_adds_bos(t), r->bos = gf_tokenizer_bos(t);
    CHECK(rc == GF_OK, "kld reference %s on %s: %s", model_dir, text_path, err.msg);
    free(text);
    gf_tokenizer_free(t);
    gf_vocab_free(v);
    return rc == GF_OK;
}

/* mean KLD of m from the base over r->chunks windows; NAN on failure (checked) */
static double kld_of(const kld_ref *r, const gf_model *m) {
    gf_err err = {0};
    gf_ppl *p = NULL;
    gf_ppl_params pp = {.n_ctx = KLD_CTX, .n_batch = KLD_CTX, .n_chunks = r->chunks, .add_bos = r->add_bos,
                        .bos_id = r->bos, .kv_type = GF_TYPE_F32};
    gf_status rc = gf_ppl_init(&p, m, r->base.m, r->ids, (int64_t)r->n_ids, &pp, &err);
    for (int64_t i = 0; !rc && i < gf_ppl_n_chunks(p); i++) rc = gf_ppl_step(p, &err);
    gf_ppl_report rep;
    if (!rc) gf_ppl_summary(p, &rep, 0);
    gf_ppl_free(p);
    CHECK(rc == GF_OK, "kld: %s", err.msg);
    return rc ? NAN : rep.kld;
}

#endif /* GF_TEST_KLD_H */
