/*
 * lora.h - PEFT LoRA adapters merged into a base model's weights as they stream:
 * each targeted matrix W (out, in) becomes W + s * B A, B (out, r), A (r, in),
 * s = lora_alpha / r (lora_alpha / sqrt(r) with rsLoRA) times the user's scale.
 * Rows are merged in Hugging Face layout (before any q/k permutation), so one
 * adapter applies the same way to a folder and to a GGUF base.
 */
#ifndef GF_LORA_H
#define GF_LORA_H

#include "hfconfig.h"
#include "safetensors.h"

typedef struct {
    char *target;      /* the base tensor's HF name: model.layers.0.self_attn.q_proj.weight */
    int64_t r, in, out;
    float *a;          /* (r, in)  lora_A                                  */
    float *b;          /* (out, r) lora_B                                  */
} gf_lora_pair;

typedef struct {
    char *path;        /* the adapter folder, for messages and metadata    */
    uint64_t hash;     /* FNV-1a 64 of adapter_model.safetensors           */
    int64_t rank;      /* adapter_config.json r                            */
    double alpha;      /* lora_alpha                                       */
    double user_scale; /* --lora-scale                                     */
    double scale;      /* s: alpha / r or alpha / sqrt(r), times user_scale */
    int rslora;
    gf_lora_pair *pairs; /* sorted by target                               */
    int n_pairs;
} gf_lora_adapter;

typedef struct gf_lora {
    gf_lora_adapter *ad; /* applied in this order                          */
    int n;
} gf_lora;

/* Reads the PEFT adapter folder dir (adapter_config.json, adapter_model.safetensors)
 * and appends it to l, checked against the base: every key, shape and target module. */
gf_status gf_lora_add(gf_lora *l, const char *dir, double user_scale, const gf_hfcfg *hp, const gf_safetensors *base,
                      gf_err *err);
void gf_lora_free(gf_lora *l);

/* Adds every adapter's s * B[hf_row] A to row (t's row hf_row in HF layout, row_len floats). */
void gf_lora_merge_row(const gf_lora *l, const gf_st_tensor *t, int64_t hf_row, float *row);

#endif /* GF_LORA_H */
