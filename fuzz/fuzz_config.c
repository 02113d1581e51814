/*
 * fuzz_config.c - bytes as config.json: hyperparameters and refusals, then the
 * tensor-name mapping and the q/k row permutation on what was accepted.
 * Rejections are fine; a crash, hang, leak or sanitizer report is a bug.
 */
#include "../formats/hfconfig.h"
#include "fuzz_replay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gf_hfcfg hp;
    gf_err err;
    if (gf_hfcfg_from_json((const char *)data, size, "config.json", &hp, &err) != GF_OK) return 0;
    static const char *names[] = {"model.embed_tokens.weight", "lm_head.weight", "model.norm.weight",
                                  "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.bias",
                                  "model.layers.00.mlp.up_proj.weight", "model.layers.-1.mlp.up_proj.weight",
                                  "model.layers.99999999999999999999.mlp.up_proj.weight", "x"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        gf_tensor_map m;
        if (gf_map_tensor(&hp, names[i], &m, &err) == GF_OK && m.permute_heads && m.rows > 0 && m.rows <= 4096)
            for (int64_t r = 0; r < m.rows; r++)
                if (gf_permute_row(r, m.rows, m.permute_heads) >= m.rows) __builtin_trap();
    }
    gf_gguf_writer *w = gf_gguf_writer_new();
    if (w) gf_hfcfg_to_gguf(&hp, w, &err);
    gf_gguf_writer_free(w);
    return 0;
}
