/*
 * gguf_source.c - a GGUF as the converter's input: each tensor is looked up in
 * the architecture table by its GGUF name and entered under its Hugging Face name,
 * so that planning, calibration and every method read it as they read safetensors
 * (gf_st_read_rows dequantizes a block type a row at a time).
 */
#include "gguf_source.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int gf_is_gguf_file(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) return 0;
    FILE *f = fopen(path, "rb");
    char m[4] = {0};
    int ok = f && fread(m, 1, 4, f) == 4 && memcmp(m, "GGUF", 4) == 0;
    if (f) fclose(f);
    return ok;
}

/* Whether arch a lists tensor t (outside the blocks or in a block). */
static int arch_has(const gf_arch_info *a, const gf_tensor_name *t, int layer) {
    if (layer < 0) {
        for (int i = 0; i < GF_TOP_COUNT; i++)
            if (a->top[i].t == t) return 1;
        return 0;
    }
    for (int i = 0; i < a->n_block; i++)
        if (a->block[i].t == t) return 1;
    return 0;
}

/* rope_freqs.weight (llama3 RoPE scaling, as llama.cpp's converter writes it: F32,
 * head_dim/2 positive values) into hp, which writes it again. */
static gf_status rope_freqs_of(const gf_gguf *g, const gf_gguf_tensor *gt, gf_hfcfg *hp, gf_err *err) {
    const int64_t n = hp->head_dim / 2;
    GF_FAIL_IF(!hp->info->rope_freqs, err, GF_E_UNSUPPORTED, "%s: tensor '%s' is not part of a %s model this "
               "version converts", g->path, gt->name.s, hp->arch_name);
    GF_FAIL_IF(gt->type != GF_TYPE_F32 || gt->n_dims != 1 || gt->ne[0] != n || n > GF_ROPE_FREQS_MAX, err,
               GF_E_FORMAT, "%s: tensor '%s' must be F32 of %lld values (head size / 2)", g->path, gt->name.s,
               (long long)n);
    memcpy(hp->rope_freqs, gt->data, (size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        GF_FAIL_IF(!(hp->rope_freqs[i] > 0 && hp->rope_freqs[i] < 1e30f), err, GF_E_VALUE, "%s: tensor '%s' element "
                   "%lld is %g; RoPE frequency factors must be positive and finite", g->path, gt->name.s,
                   (long long)i, (double)hp->rope_freqs[i]);
    hp->n_rope_freqs = (int)n;
    return GF_OK;
}

/* GGUF tensor i as entry st->tensors[st->n_tensors]. */
static gf_status add_tensor(const gf_gguf *g, uint64_t i, const gf_hfcfg *hp, gf_safetensors *st, gf_err *err) {
    const gf_gguf_tensor *gt = &g->tensors[i];
    const char *name = gt->name.s;
    int layer;
    const gf_tensor_name *t = gf_tensor_by_gguf_name(name, &layer);
    GF_FAIL_IF(!t || !arch_has(hp->info, t, layer) || layer >= hp->n_layer, err, GF_E_UNSUPPORTED,
               "%s: tensor '%.100s' is not part of a %s model this version converts", g->path, name, hp->arch_name);
    if (!gf_type_can_read(gt->type)) {
        char known[256];
        return gf_errf(err, GF_E_UNSUPPORTED, "%s: tensor '%s' has type %s, which this version cannot read (%s can be)",
                       g->path, name, gf_ggml_type_name(gt->type), gf_type_list(gf_type_can_read, known, sizeof known));
    }
    GF_FAIL_IF(gt->n_dims > 2 || (gt->n_dims == 2) != (t->cols != GF_DIM_NONE), err, GF_E_FORMAT,
               "%s: tensor '%s' has %u dimensions, a %s tensor has %d", g->path, name, gt->n_dims, hp->arch_name,
               t->cols != GF_DIM_NONE ? 2 : 1);
    gf_st_tensor *e = &st->tensors[st->n_tensors];
    char hf[256];
    gf_tensor_hf_name(t, layer, hf, sizeof hf);
    st->n_tensors++; /* counted first, so that gf_st_close frees whichever copy succeeded */
    e->name = strdup(hf);
    e->gguf_name = strdup(name);
    GF_FAIL_IF(!e->name || !e->gguf_name, err, GF_E_NOMEM, "out of memory");
    e->dtype = gt->type;
    e->n_dims = gt->n_dims;
    e->row_len = gt->ne[0];
    e->n_rows = gt->n_dims == 2 ? gt->ne[1] : 1;
    e->shape[0] = gt->n_dims == 2 ? gt->ne[1] : gt->ne[0]; /* HF order: outermost first */
    e->shape[1] = gt->n_dims == 2 ? gt->ne[0] : 0;
    e->file = 0;
    e->offset = g->data_offset + gt->offset;
    e->nbytes = gt->nbytes;
    return GF_OK;
}

/* What config.json would say and the GGUF keys do not: the vocabulary's size is the
 * embedding's rows, tied without output.weight, biases where blk.0 has them. */
static gf_status from_tensors(const gf_gguf *g, gf_hfcfg *hp, gf_err *err) {
    char name[96];
    int64_t e = -1;
    if (gf_tensor_gguf_name(hp->info->top[GF_TOP_EMBD].t, -1, name, sizeof name)) e = gf_gguf_find_tensor(g, name);
    GF_FAIL_IF(e < 0, err, GF_E_FORMAT, "%s: no tensor '%s'", g->path, name);
    GF_FAIL_IF(g->tensors[e].n_dims != 2, err, GF_E_FORMAT, "%s: tensor '%s' has %u dimensions, a %s embedding has 2",
               g->path, name, g->tensors[e].n_dims, hp->arch_name);
    hp->n_vocab = g->tensors[e].ne[1];
    char k[128];
    snprintf(k, sizeof k, "%s.vocab_size", hp->arch_name);
    uint32_t nv;
    if (gf_gguf_find(g, k) && gf_gguf_get_u32(g, k, &nv, err) == GF_OK)
        GF_FAIL_IF(nv != hp->n_vocab, err, GF_E_FORMAT, "%s: key '%s' = %u but '%s' has %lld rows", g->path, k, nv,
                   name, (long long)hp->n_vocab);
    gf_tensor_gguf_name(hp->info->top[GF_TOP_OUTPUT].t, -1, name, sizeof name);
    hp->tie_word_embeddings = gf_gguf_find_tensor(g, name) < 0;
    const gf_arch_tensor *qb = gf_arch_block_tensor(hp->info, GF_TK_BIAS, GF_LIN_Q);
    if (hp->info->attn_bias == GF_BIAS_BY_CONFIG && qb && gf_tensor_gguf_name(qb->t, 0, name, sizeof name))
        hp->attn_bias = gf_gguf_find_tensor(g, name) >= 0;
    return GF_OK;
}

gf_status gf_gguf_source_open(const char *path, gf_gguf **g, gf_hfcfg *hp, gf_safetensors **out, gf_err *err) {
    *out = NULL;
    GF_TRY(gf_gguf_open(path, g, err));
    GF_TRY(gf_hfcfg_from_gguf(*g, hp, err));
    GF_TRY(from_tensors(*g, hp, err));
    gf_safetensors *st = calloc(1, sizeof *st);
    GF_FAIL_IF(!st, err, GF_E_NOMEM, "out of memory");
    *out = st;
    st->gguf_layout = 1;
    st->files = calloc(1, sizeof *st->files);
    st->tensors = calloc((size_t)(*g)->n_tensors + 1, sizeof *st->tensors);
    GF_FAIL_IF(!st->files || !st->tensors, err, GF_E_NOMEM, "out of memory");
    st->n_files = 1;
    st->files[0].fd = -1;
    GF_FAIL_IF(!(st->files[0].path = strdup(path)), err, GF_E_NOMEM, "out of memory");
    st->files[0].fd = open(path, O_RDONLY | O_CLOEXEC);
    GF_FAIL_IF(st->files[0].fd < 0, err, GF_E_IO, "%s: %s", path, strerror(errno));
    st->files[0].size = (*g)->map_size;
    int layer;
    for (uint64_t i = 0; i < (*g)->n_tensors; i++) {
        const gf_gguf_tensor *gt = &(*g)->tensors[i];
        if (gf_tensor_by_gguf_name(gt->name.s, &layer) == gf_rope_freqs_tensor()) GF_TRY(rope_freqs_of(*g, gt, hp, err));
        else GF_TRY(add_tensor(*g, i, hp, st, err));
    }
    return gf_st_index(st, err);
}
