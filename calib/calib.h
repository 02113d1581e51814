/*
 * calib.h - calibration: text -> tokens -> seeded samples -> activations of the
 * float model, run layer by layer from the safetensors (one decoder block's
 * weights in memory at a time).  Feeds the activation-aware methods: the
 * per-channel statistics of every linear layer's input (an importance matrix,
 * as llama-imatrix computes it) and, block by block, the inputs that AWQ and
 * AutoRound transform weights with.
 */
#ifndef GF_CALIB_H
#define GF_CALIB_H

#include "../engine/forward.h"
#include "../formats/hfconfig.h"
#include "../formats/imatrix.h"
#include "../formats/safetensors.h"
#include "../formats/vocab.h"

typedef struct {
    const char *text;   /* calibration text; NULL: the text built into the program */
    size_t text_len;
    const char *name;   /* for messages and metadata ("calib.txt", "built-in")   */
    int64_t nsamples;   /* windows of seqlen tokens (fewer if the text is short) */
    int64_t seqlen;
    uint64_t seed;
} gf_calib_opts;

/* The float model as calibration sees it: hyperparameters, the current block's
 * weights, and the activations of every sample at the current depth. */
typedef struct gf_calib {
    gf_model m;          /* shell: hp, and layers[l] filled while l is loaded        */
    const gf_hfcfg *cfg;
    const gf_safetensors *st;
    int32_t *tokens;     /* (n_samples, seqlen) sample tokens (BOS first if the vocab adds it) */
    int64_t n_samples, seqlen;
    int64_t n_text_tokens; /* tokens of the whole text                               */
    float *x;            /* (n_samples, seqlen, D) residual stream at the current depth,
                            through the float model                                 */
    float *xq;           /* (n_samples, seqlen, D) the same through the blocks as they
                            were quantized so far; NULL until gf_calib_enable_qpath  */
    gf_state s;          /* KV cache and scratch for one sample                      */
    float *layer_mem;    /* the loaded block's weights, norms and biases             */
    int loaded;          /* layer in layer_mem, -1 none                              */
    void *qblocks[GF_LIN_COUNT]; /* final blocks of the loaded layer's matrices, set by
                            a method that chooses them itself (autoround); NULL: the
                            matrix is quantized from its float data as usual          */
    gf_type qtype[GF_LIN_COUNT];
    char name[256];
} gf_calib;

/* The samples: text tokenized (no special-token parsing), cut into windows of
 * o->seqlen tokens (BOS first when the vocabulary adds it, as llama-imatrix
 * does), and min(o->nsamples, windows) of them picked by o->seed's shuffle:
 * *tokens (*n_samples, seqlen), owned by the caller.  name is for messages. */
struct gf_tokenizer;
gf_status gf_calib_draw(const struct gf_tokenizer *tok, const char *name, const char *text, size_t len,
                        const gf_calib_opts *o, int32_t **tokens, int64_t *n_samples, int64_t *n_text_tokens,
                        gf_err *err);

/* Tokenizes, samples and embeds (reads the sample tokens' embedding rows). */
gf_status gf_calib_open(const gf_hfcfg *cfg, const gf_safetensors *st, const gf_vocab *vocab, const gf_calib_opts *o,
                        gf_calib **out, gf_err *err);
void gf_calib_free(gf_calib *c);

/* Loads block l's float weights (GGUF layout) into c->m.layers[l]. */
gf_status gf_calib_load_layer(gf_calib *c, int layer, gf_err *err);
/* Runs the loaded block l over every sample, advancing c->x; hooks see every
 * linear layer's input. */
gf_status gf_calib_forward_layer(gf_calib *c, int layer, const gf_hooks *hooks, gf_err *err);

/* The loaded block's float data (GGUF layout) of GGUF tensor `name`, or NULL. */
float *gf_calib_tensor(gf_calib *c, const char *name);
/* The final blocks a method stored for matrix `name` of the loaded block (and their
 * type), or NULL. */
const void *gf_calib_blocks(const gf_calib *c, const char *name, gf_type *type);
/* Starts the quantized path: c->xq = a copy of c->x (call before the first block). */
gf_status gf_calib_enable_qpath(gf_calib *c, gf_err *err);

/* A whole float pass: mean x^2 of every linear layer's input (and of the output
 * layer's, named "output.weight"), as an importance matrix. progress(ctx, layer)
 * is called after each block (may be NULL). */
gf_status gf_calib_imatrix(gf_calib *c, gf_imatrix **out, void (*progress)(void *ctx, int layer, int n_layers),
                           void *ctx, gf_err *err);

/* Calls fn(ctx, xn, T, D) with the final norm of each sample's residual stream
 * (the output layer's input, (seqlen, n_embd)), for samples at the final depth. */
gf_status gf_calib_each_final_norm(gf_calib *c, void (*fn)(void *ctx, const float *xn, int64_t T, int64_t D), void *ctx,
                                   gf_err *err);

/* After gf_calib_imatrix (the samples at the final depth): the second moment
 * H = XᵀX / n (D, D) of the output layer's input X (the final norm of every sample
 * position), for methods that tune the output head (autoround on --embed/--output).
 * *out is malloc'ed. */
gf_status gf_calib_head_moment(gf_calib *c, float **out, gf_err *err);

/* FNV-1a 64 of the calibration text, recorded in the GGUF. */
uint64_t gf_calib_text_hash(const char *text, size_t len);
/* The text built into the program. */
const char *gf_calib_default_text(size_t *len);

#endif /* GF_CALIB_H */
