/*
 * hfload.c - HF tensor rows in GGUF layout.  Permuted matrices are read row by
 * row (each GGUF row is one HF row); a permuted bias is read whole and its
 * elements reordered, since its "rows" are single elements.  Tensors of a GGUF
 * source are in GGUF layout already and read as they are.  LoRA adapters are
 * merged here, in HF layout: GGUF row i is HF row permute(i) for both sources.
 */
#include "hfload.h"

#include "lora.h"

static gf_status read_rows(const gf_safetensors *st, const gf_st_tensor *t, const gf_tensor_map *m, int64_t row0,
                           int64_t n, float *out, gf_err *err) {
    gf_status rc;
    if (!m->permute_heads || st->gguf_layout) return gf_st_read_rows(st, t, row0, n, out, err);
    int64_t len = t->row_len;
    if (t->n_dims == 1) {
        if (row0 != 0 || n != 1) return gf_errf(err, GF_E_USAGE, "tensor '%s': a permuted bias is read whole", t->name);
        if ((rc = gf_st_read_rows(st, t, 0, 1, out + len, err))) return rc;
        for (int64_t i = 0; i < len; i++) out[i] = out[len + gf_permute_row(i, len, m->permute_heads)];
        return GF_OK;
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t src = gf_permute_row(row0 + i, t->n_rows, m->permute_heads);
        if ((rc = gf_st_read_rows(st, t, src, 1, out + i * len, err))) return rc;
    }
    return GF_OK;
}

gf_status gf_hf_read_rows(const gf_safetensors *st, const gf_st_tensor *t, const gf_tensor_map *m, int64_t row0,
                          int64_t n, float *out, gf_err *err) {
    gf_status rc = read_rows(st, t, m, row0, n, out, err);
    if (rc || !st->lora || t->n_dims != 2) return rc;
    for (int64_t i = 0; i < n; i++) {
        int64_t r = row0 + i;
        gf_lora_merge_row(st->lora, t, m->permute_heads ? gf_permute_row(r, t->n_rows, m->permute_heads) : r,
                          out + i * t->row_len);
    }
    return GF_OK;
}
