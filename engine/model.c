/*
 * model.c - loads a GGUF file of arch "qwen2" or "llama" into a gf_model:
 * hyperparameters from the <arch>.* keys, every tensor checked against them
 * (name, type, shape) before use, matrices wrapped as gf_wmat over the mapping.
 *
 * It does not parse GGUF itself (formats/gguf.c does) and does not run anything
 * (forward.c does).  Tensor names and layouts follow llama.cpp's GGUF convention:
 * ne[0] is the row length, i.e. the input dimension of a matrix.
 */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>

#include "../quantizers/blocks.h"

/* Sanity caps on hyperparameters from an untrusted file: far above any real
 * model, low enough that products of them cannot overflow int64. */
#define MAX_DIM     (1 << 20)
#define MAX_LAYERS  4096
#define MAX_HEADS   4096
#define MAX_VOCAB   (1 << 24)

static const char *const lin_stems[GF_LIN_COUNT] = {
    [GF_LIN_Q] = "attn_q", [GF_LIN_K] = "attn_k", [GF_LIN_V] = "attn_v", [GF_LIN_O] = "attn_output",
    [GF_LIN_GATE] = "ffn_gate", [GF_LIN_UP] = "ffn_up", [GF_LIN_DOWN] = "ffn_down",
};

const char *gf_linear_stem(gf_linear l) {
    return (unsigned)l < GF_LIN_COUNT ? lin_stems[l] : "?";
}

/* ---------------------------------------------------------------- hparams */

/* Reads <arch>.<key> as a positive integer no larger than cap. */
static gf_status get_dim(const gf_gguf *g, const char *arch, const char *key, int64_t cap,
                         int64_t *out, gf_err *err) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    uint32_t v;
    gf_status st = gf_gguf_get_u32(g, k, &v, err);
    if (st) return st;
    if (v == 0 || (int64_t)v > cap)
        return gf_errf(err, GF_E_FORMAT, "%s: key '%s' = %u is out of range (1..%lld)", g->path, k, v,
                       (long long)cap);
    *out = v;
    return GF_OK;
}

static gf_status read_hparams(const gf_gguf *g, gf_hparams *hp, gf_err *err) {
    memset(hp, 0, sizeof *hp);
    const gf_str *arch_s;
    gf_status st = gf_gguf_get_str(g, "general.architecture", &arch_s, err);
    if (st) return st;
    const char *arch = arch_s->s;
    if (strcmp(arch, "qwen2") == 0) {
        hp->arch = GF_ARCH_QWEN2;
        hp->rope = GF_ROPE_NEOX;
    } else if (strcmp(arch, "llama") == 0) {
        hp->arch = GF_ARCH_LLAMA;
        hp->rope = GF_ROPE_NORM;
    } else {
        return gf_errf(err, GF_E_UNSUPPORTED, "%s: architecture '%.64s' is not supported (qwen2, llama are)",
                       g->path, arch);
    }
    char k[128];
    if ((st = get_dim(g, arch, "embedding_length", MAX_DIM, &hp->dim, err)) ||
        (st = get_dim(g, arch, "block_count", MAX_LAYERS, &hp->n_layers, err)) ||
        (st = get_dim(g, arch, "feed_forward_length", MAX_DIM, &hp->n_ff, err)) ||
        (st = get_dim(g, arch, "attention.head_count", MAX_HEADS, &hp->n_heads, err)))
        return st;
    snprintf(k, sizeof k, "%s.attention.head_count_kv", arch);
    hp->n_kv_heads = hp->n_heads;
    if (gf_gguf_find(g, k) && (st = get_dim(g, arch, "attention.head_count_kv", MAX_HEADS, &hp->n_kv_heads, err)))
        return st;
    snprintf(k, sizeof k, "%s.context_length", arch);
    if (gf_gguf_find(g, k) && (st = get_dim(g, arch, "context_length", INT32_MAX, &hp->n_ctx_train, err)))
        return st;
    snprintf(k, sizeof k, "%s.attention.layer_norm_rms_epsilon", arch);
    if ((st = gf_gguf_get_f32(g, k, &hp->rms_eps, err))) return st;
    if (!(hp->rms_eps > 0.0f && hp->rms_eps < 1.0f))
        return gf_errf(err, GF_E_FORMAT, "%s: key '%s' = %g is out of range (0, 1)", g->path, k, hp->rms_eps);
    hp->rope_base = 10000.0f;
    snprintf(k, sizeof k, "%s.rope.freq_base", arch);
    if (gf_gguf_find(g, k)) {
        if ((st = gf_gguf_get_f32(g, k, &hp->rope_base, err))) return st;
        if (!(hp->rope_base > 1.0f && hp->rope_base < 1e12f))
            return gf_errf(err, GF_E_FORMAT, "%s: key '%s' = %g is out of range", g->path, k, hp->rope_base);
    }

    if (hp->dim % hp->n_heads)
        return gf_errf(err, GF_E_FORMAT, "%s: embedding_length %lld is not a multiple of head_count %lld",
                       g->path, (long long)hp->dim, (long long)hp->n_heads);
    if (hp->n_heads % hp->n_kv_heads)
        return gf_errf(err, GF_E_FORMAT, "%s: head_count %lld is not a multiple of head_count_kv %lld",
                       g->path, (long long)hp->n_heads, (long long)hp->n_kv_heads);
    hp->head_dim = hp->dim / hp->n_heads;
    if (hp->head_dim > GF_MAX_HEAD_DIM)
        return gf_errf(err, GF_E_UNSUPPORTED, "%s: head dimension %lld is larger than the %d this engine supports",
                       g->path, (long long)hp->head_dim, GF_MAX_HEAD_DIM);
    hp->n_rot = hp->head_dim;
    snprintf(k, sizeof k, "%s.rope.dimension_count", arch);
    if (gf_gguf_find(g, k) && (st = get_dim(g, arch, "rope.dimension_count", hp->head_dim, &hp->n_rot, err)))
        return st;
    if (hp->n_rot % 2)
        return gf_errf(err, GF_E_FORMAT, "%s: rope dimension count %lld is odd", g->path, (long long)hp->n_rot);
    if (hp->arch == GF_ARCH_QWEN2 && hp->n_rot != hp->head_dim)
        return gf_errf(err, GF_E_FORMAT, "%s: qwen2 needs rope.dimension_count = head_dim (%lld), got %lld",
                       g->path, (long long)hp->head_dim, (long long)hp->n_rot);
    return GF_OK;
}

/* ---------------------------------------------------------------- tensors */

typedef struct {
    const gf_gguf *g;
    uint8_t *used;   /* (n_tensors) 1 once a tensor has been claimed */
    float *arena;    /* where widened vectors go */
    size_t arena_used, arena_cap;
} loader;

static int is_matrix_type(gf_type t) {
    return t == GF_TYPE_F32 || t == GF_TYPE_F16 || t == GF_TYPE_Q8_0 || t == GF_TYPE_Q4_0;
}

static const char *type_name(gf_type t) {
    const gf_type_traits *tt = gf_type_info(t);
    return tt ? tt->name : "unknown";
}

/* Finds a tensor, checks its shape is exactly (ne0[, ne1]); NULL with *st = GF_OK
 * when it is absent and optional. */
static const gf_gguf_tensor *claim(loader *L, const char *name, int optional, int n_dims, int64_t ne0,
                                   int64_t ne1, gf_status *st, gf_err *err) {
    *st = GF_OK;
    int64_t i = gf_gguf_find_tensor(L->g, name);
    if (i < 0) {
        if (!optional) *st = gf_errf(err, GF_E_FORMAT, "%s: tensor '%s' is missing", L->g->path, name);
        return NULL;
    }
    const gf_gguf_tensor *t = &L->g->tensors[i];
    int64_t want[GF_GGUF_MAX_DIMS] = {ne0, n_dims > 1 ? ne1 : 1, 1, 1};
    int ok = 1;
    for (int d = 0; d < GF_GGUF_MAX_DIMS; d++) ok &= t->ne[d] == want[d];
    if (!ok) {
        *st = gf_errf(err, GF_E_FORMAT, "%s: tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld] "
                      "from the hyperparameters", L->g->path, name, (long long)t->ne[0], (long long)t->ne[1],
                      (long long)t->ne[2], (long long)t->ne[3], (long long)want[0], (long long)want[1]);
        return NULL;
    }
    if (!t->data) {
        *st = gf_errf(err, GF_E_FORMAT, "%s: tensor '%s' has no data", L->g->path, name);
        return NULL;
    }
    L->used[i] = 1;
    return t;
}

/* A 1-D vector (norm weight or bias) widened to float in the arena. */
static gf_status load_vec(loader *L, const char *name, int optional, int64_t n, const float **out, gf_err *err) {
    gf_status st;
    *out = NULL;
    const gf_gguf_tensor *t = claim(L, name, optional, 1, n, 1, &st, err);
    if (!t) return st;
    if (t->type != GF_TYPE_F32 && t->type != GF_TYPE_F16 && t->type != GF_TYPE_BF16)
        return gf_errf(err, GF_E_UNSUPPORTED, "%s: tensor '%s' has type %s; vectors must be f32, f16 or bf16",
                       L->g->path, name, type_name(t->type));
    if (L->arena_used + (size_t)n > L->arena_cap)
        return gf_errf(err, GF_E_USAGE, "%s: internal: vector arena too small at '%s'", L->g->path, name);
    float *dst = L->arena + L->arena_used;
    L->arena_used += (size_t)n;
    if (gf_dequantize_row(t->type, t->data, dst, n) != 0)
        return gf_errf(err, GF_E_UNSUPPORTED, "%s: tensor '%s': cannot convert type %s", L->g->path, name,
                       type_name(t->type));
    for (int64_t i = 0; i < n; i++)
        if (!(dst[i] - dst[i] == 0.0f))
            return gf_errf(err, GF_E_VALUE, "%s: tensor '%s' has a NaN or Inf at element %lld", L->g->path, name,
                           (long long)i);
    *out = dst;
    return GF_OK;
}

static gf_status load_mat(loader *L, const char *name, int64_t n_in, int64_t n_out, gf_kernel_set ks, gf_wmat *m,
                          gf_err *err) {
    gf_status st;
    memset(m, 0, sizeof *m);
    const gf_gguf_tensor *t = claim(L, name, 0, 2, n_in, n_out, &st, err);
    if (!t) return st;
    if (!is_matrix_type(t->type))
        return gf_errf(err, GF_E_UNSUPPORTED, "%s: tensor '%s' has type %s; the engine runs f32, f16, q8_0 and "
                       "q4_0 matrices", L->g->path, name, type_name(t->type));
    if ((st = gf_wmat_init(m, t->type, n_in, n_out, t->data, ks, err)))
        gf_err_prefix(err, "%s: tensor '%s'", L->g->path, name);
    return st;
}

/* ---------------------------------------------------------------- lifecycle */

gf_status gf_model_from_gguf(const gf_gguf *g, gf_kernel_set ks, gf_model **out, gf_err *err) {
    gf_status st = GF_OK;
    gf_model *m = NULL;
    loader L = {.g = g};
    *out = NULL;

    m = calloc(1, sizeof *m);
    L.used = calloc(g->n_tensors ? g->n_tensors : 1, 1);
    if (!m || !L.used) { st = gf_errf(err, GF_E_NOMEM, "%s: out of memory", g->path); goto done; }
    m->path = g->path;
    m->ks = ks;
    if ((st = read_hparams(g, &m->hp, err))) goto done;
    gf_hparams *hp = &m->hp;
    const int64_t D = hp->dim, Dq = hp->n_heads * hp->head_dim, Dkv = hp->n_kv_heads * hp->head_dim;
    const int64_t n_in[GF_LIN_COUNT] = {D, D, D, Dq, D, D, hp->n_ff};
    const int64_t n_out[GF_LIN_COUNT] = {Dq, Dkv, Dkv, D, hp->n_ff, hp->n_ff, D};

    /* token embedding: its row count is the vocabulary size */
    int64_t ti = gf_gguf_find_tensor(g, "token_embd.weight");
    if (ti < 0) { st = gf_errf(err, GF_E_FORMAT, "%s: tensor 'token_embd.weight' is missing", g->path); goto done; }
    hp->n_vocab = g->tensors[ti].ne[1];
    if (hp->n_vocab < 1 || hp->n_vocab > MAX_VOCAB) {
        st = gf_errf(err, GF_E_FORMAT, "%s: tensor 'token_embd.weight' has %lld rows (1..%d allowed)", g->path,
                     (long long)hp->n_vocab, MAX_VOCAB);
        goto done;
    }
    const gf_kv *toks = gf_gguf_find(g, "tokenizer.ggml.tokens");
    if (toks && toks->type == GF_GGUF_ARRAY && (int64_t)toks->n != hp->n_vocab) {
        st = gf_errf(err, GF_E_FORMAT, "%s: tokenizer.ggml.tokens has %llu entries but token_embd.weight has %lld rows",
                     g->path, (unsigned long long)toks->n, (long long)hp->n_vocab);
        goto done;
    }
    const gf_gguf_tensor *te = claim(&L, "token_embd.weight", 0, 2, D, hp->n_vocab, &st, err);
    if (!te) goto done;
    if (!is_matrix_type(te->type)) {
        st = gf_errf(err, GF_E_UNSUPPORTED, "%s: tensor 'token_embd.weight' has type %s; the engine runs f32, f16, "
                     "q8_0 and q4_0", g->path, type_name(te->type));
        goto done;
    }
    m->embd_type = te->type;
    m->embd = te->data;
    m->embd_row_bytes = gf_row_size(te->type, D);

    /* every norm and bias fits in this many floats */
    L.arena_cap = (size_t)D * (size_t)(2 * hp->n_layers + 1);
    for (int l = 0; l < GF_LIN_COUNT; l++) L.arena_cap += (size_t)hp->n_layers * (size_t)n_out[l];
    L.arena = m->vec_arena = malloc(L.arena_cap * sizeof(float));
    m->layers = calloc((size_t)hp->n_layers, sizeof *m->layers);
    if (!m->vec_arena || !m->layers) { st = gf_errf(err, GF_E_NOMEM, "%s: out of memory", g->path); goto done; }

    if ((st = load_vec(&L, "output_norm.weight", 0, D, &m->output_norm, err))) goto done;
    m->output_name = "output.weight";
    if (gf_gguf_find_tensor(g, "output.weight") >= 0) {
        if ((st = load_mat(&L, "output.weight", D, hp->n_vocab, ks, &m->output, err))) goto done;
    } else {
        m->tied_output = 1;
        m->output_name = "token_embd.weight";
        if ((st = gf_wmat_init(&m->output, te->type, D, hp->n_vocab, te->data, ks, err))) {
            gf_err_prefix(err, "%s: tensor 'token_embd.weight' (as output)", g->path);
            goto done;
        }
    }

    for (int64_t il = 0; il < hp->n_layers; il++) {
        gf_layer *ly = &m->layers[il];
        char name[96];
        snprintf(name, sizeof name, "blk.%lld.attn_norm.weight", (long long)il);
        if ((st = load_vec(&L, name, 0, D, &ly->attn_norm, err))) goto done;
        snprintf(name, sizeof name, "blk.%lld.ffn_norm.weight", (long long)il);
        if ((st = load_vec(&L, name, 0, D, &ly->ffn_norm, err))) goto done;
        for (int l = 0; l < GF_LIN_COUNT; l++) {
            snprintf(ly->name[l], sizeof ly->name[l], "blk.%lld.%s.weight", (long long)il, lin_stems[l]);
            if ((st = load_mat(&L, ly->name[l], n_in[l], n_out[l], ks, &ly->lin[l], err))) goto done;
            /* qwen2 always has q/k/v biases; llama may carry any of them */
            const int required = hp->arch == GF_ARCH_QWEN2 && l <= GF_LIN_V;
            snprintf(name, sizeof name, "blk.%lld.%s.bias", (long long)il, lin_stems[l]);
            if ((st = load_vec(&L, name, !required, n_out[l], &ly->bias[l], err))) goto done;
        }
    }

    /* A tensor we would silently ignore (rope_freqs, q/k norms, ...) means a model
     * variant this engine would compute wrongly: refuse it. */
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (!L.used[i]) {
            st = gf_errf(err, GF_E_UNSUPPORTED, "%s: tensor '%s' is not used by the %s forward pass this engine "
                         "implements", g->path, g->tensors[i].name.s, hp->arch == GF_ARCH_QWEN2 ? "qwen2" : "llama");
            goto done;
        }

done:
    free(L.used);
    if (st) { gf_model_free(m); m = NULL; }
    *out = m;
    return st;
}

gf_status gf_model_open(const char *path, gf_kernel_set ks, gf_model **out, gf_err *err) {
    gf_gguf *g = NULL;
    *out = NULL;
    gf_status st = gf_gguf_open(path, &g, err);
    if (st) return st;
    if ((st = gf_model_from_gguf(g, ks, out, err))) { gf_gguf_close(g); return st; }
    (*out)->gguf = g;
    return GF_OK;
}

void gf_model_free(gf_model *m) {
    if (!m) return;
    if (m->layers)
        for (int64_t il = 0; il < m->hp.n_layers; il++)
            for (int l = 0; l < GF_LIN_COUNT; l++) gf_wmat_free(&m->layers[il].lin[l]);
    gf_wmat_free(&m->output);
    free(m->layers);
    free(m->vec_arena);
    gf_gguf_close(m->gguf);
    free(m);
}

/* ---------------------------------------------------------------- embedding */

gf_status gf_model_embed(const gf_model *m, const int32_t *tokens, int64_t n_tok, float *x, gf_err *err) {
    const int64_t D = m->hp.dim;
    for (int64_t t = 0; t < n_tok; t++) {
        if (tokens[t] < 0 || tokens[t] >= m->hp.n_vocab)
            return gf_errf(err, GF_E_VALUE, "%s: token id %d at position %lld is outside the vocabulary (0..%lld)",
                           m->path, tokens[t], (long long)t, (long long)m->hp.n_vocab - 1);
        gf_dequantize_row(m->embd_type, (const char *)m->embd + (size_t)tokens[t] * m->embd_row_bytes, x + t * D, D);
    }
    return GF_OK;
}
