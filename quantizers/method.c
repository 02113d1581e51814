/*
 * method.c - the registry of quantization methods and the weight-only ones:
 *   minmax   round to nearest with the block's absmax scale (llama.cpp's reference)
 *   omse     per block, the fp16 scale on a grid in [0.5, 1] x absmax minimizing the
 *            squared error (../shared/papers/000: OMSE for the embedding)
 *   imatrix  the same search with each weight's error weighted by its input
 *            channel's mean x^2 (llama.cpp's importance-matrix idea)
 * The searches keep min-max's block whenever it is at least as good under the
 * method's own error, so their error is never above min-max's, block by block.
 * Methods that need calibration activations (awq, autoround) are listed here too;
 * their entries and hooks are in calib/, and do their work before the rows reach
 * these functions.
 */
#include "method.h"

#include "../search/scale.h"
#include "../common/types.h"

/* ---------------------------------------------------------------- rows */

void gf_quantize_row_minmax(gf_type type, const float *x, void *dst, int64_t k, const float *importance) {
    (void)importance;
    gf_quantize_row(type, x, dst, k);
}

/* Searched block vs the reference block; writes the better one into dst. */
static void search_row(gf_type type, const float *x, void *dst, int64_t k, const float *importance) {
    if (type != GF_TYPE_Q4_0 && type != GF_TYPE_Q8_0) {
        gf_quantize_row(type, x, dst, k);
        return;
    }
    int q4 = type == GF_TYPE_Q4_0;
    int8_t q[GF_QK], qr[GF_QK];
    for (int64_t b = 0; b < k / GF_QK; b++) {
        const float *xb = x + b * GF_QK, *wb = importance ? importance + b * GF_QK : NULL;
        uint16_t d16;
        float e = gf_search_block(xb, wb, q4 ? GF_Q4_MIN : GF_Q8_MIN, q4 ? GF_Q4_MAX : GF_Q8_MAX, q, &d16);
        if (q4) {
            gf_block_q4_0 ref, *y = (gf_block_q4_0 *)dst + b;
            gf_quantize_row_q4_0_ref(xb, &ref, GF_QK);
            for (int j = 0; j < GF_QK / 2; j++) {
                qr[j] = (int8_t)((ref.qs[j] & 15) - 8);
                qr[j + GF_QK / 2] = (int8_t)((ref.qs[j] >> 4) - 8);
            }
            if (!(e < gf_block_error(xb, wb, qr, gf_fp16_to_fp32(ref.d)))) {
                *y = ref;
                continue;
            }
            y->d = d16;
            for (int j = 0; j < GF_QK / 2; j++) y->qs[j] = (uint8_t)((q[j] + 8) | ((q[j + GF_QK / 2] + 8) << 4));
        } else {
            gf_block_q8_0 ref, *y = (gf_block_q8_0 *)dst + b;
            gf_quantize_row_q8_0_ref(xb, &ref, GF_QK);
            if (!(e < gf_block_error(xb, wb, ref.qs, gf_fp16_to_fp32(ref.d)))) {
                *y = ref;
                continue;
            }
            y->d = d16;
            memcpy(y->qs, q, GF_QK);
        }
    }
}

void gf_quantize_row_omse(gf_type type, const float *x, void *dst, int64_t k, const float *importance) {
    (void)importance;
    search_row(type, x, dst, k, NULL);
}

void gf_quantize_row_importance(gf_type type, const float *x, void *dst, int64_t k, const float *importance) {
    search_row(type, x, dst, k, importance);
}

/* ---------------------------------------------------------------- registry */

static const gf_qmethod minmax = {
    .name = "minmax", .help = "round to nearest with the block's absmax scale (llama.cpp's reference rounding)",
    .quantize_row = gf_quantize_row_minmax};
static const gf_qmethod omse = {
    .name = "omse", .help = "per block, grid search of the scale minimizing squared weight error",
    .quantize_row = gf_quantize_row_omse};
static const gf_qmethod imatrix = {
    .name = "imatrix",
    .help = "omse with each weight's error weighted by its input channel's mean x^2 (from --calib or --imatrix)",
    .uses_importance = 1, .quantize_row = gf_quantize_row_importance,
    .embed_default = "imatrix", .output_default = "imatrix",
    .heads_why = "its statistics cover the heads too: the embedding's and output head's blocks weighted by their inputs"};

/* The block methods' entries live next to their algorithms (calib/awq.c, calib/autoround.c). */
extern const gf_qmethod gf_method_awq, gf_method_autoround, gf_method_awq_autoround;

/* In --list order. */
static const gf_qmethod *const methods[] = {
    &minmax, &omse, &imatrix, &gf_method_awq, &gf_method_autoround, &gf_method_awq_autoround,
};

const gf_qmethod *gf_qmethod_find(const char *name) {
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strcmp(methods[i]->name, name) == 0) return methods[i];
    return NULL;
}

const gf_qmethod *gf_qmethod_at(int i) {
    return i >= 0 && (size_t)i < sizeof methods / sizeof methods[0] ? methods[i] : NULL;
}

const gf_qmethod *gf_qmethod_default(void) { return &minmax; }

const char *gf_qmethod_heads(const gf_qmethod *blocks, int tied, const gf_qmethod **embed, const gf_qmethod **output) {
    if (!blocks || (!blocks->embed_default && !blocks->output_default)) return NULL;
    /* the untied embedding: omse measured best for every block method (qwen2-tiny and
     * stories260K untied, BENCHMARKS.md "Head methods"), autoround's tuning against
     * the plain weight error and imatrix without importance data doing no better */
    if (!*embed) *embed = !tied ? &omse : blocks->embed_default ? gf_qmethod_find(blocks->embed_default) : NULL;
    if (!*output && blocks->output_default) *output = gf_qmethod_find(blocks->output_default);
    return blocks->heads_why;
}

int gf_qmethod_calibrates(const gf_qmethod *m, int have_imatrix) {
    return m && (m->transform_block || m->tune_head || (m->uses_importance && !have_imatrix));
}
