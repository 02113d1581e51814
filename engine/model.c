/*
 * model.c - loads a GGUF file of an architecture in formats/arch.h into a gf_model:
 * hyperparameters from the <arch>.* keys, every tensor the table lists checked
 * against them (name, type, shape) before use, matrices wrapped as gf_wmat over
 * the mapping.  A matrix of a type the type table says no kernel multiplies
 * (can_matmul = 0: BF16 and the read-only block types) is dequantized at load into
 * an owned F32 copy with gf_dequantize_checked, so a NaN or Inf scale is refused
 * naming the tensor; the token embedding's rows are dequantized on lookup.
 *
 * It does not parse GGUF itself (formats/gguf.c does) and does not run anything
 * (forward.c does).  Tensor names and layouts follow llama.cpp's GGUF convention:
 * ne[0] is the row length, i.e. the input dimension of a matrix.
 */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>

#include "../common/types.h"
#include "../formats/hfconfig.h"

/* Sanity caps on hyperparameters from an untrusted file: far above any real
 * model, low enough that products of them cannot overflow int64. */
#define MAX_DIM     (1 << 20)
#define MAX_LAYERS  4096
#define MAX_HEADS   4096
#define MAX_VOCAB   (1 << 24)

/* ---------------------------------------------------------------- hparams */

/* Reads <arch>.<key> as a positive integer no larger than cap; when `optional`, an
 * absent key leaves *out as it is. */
static gf_status get_dim(const gf_gguf *g, const char *arch, gf_hkey key, int optional, int64_t cap, int64_t *out,
                         gf_err *err) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, gf_hkey_name(key));
    if (optional && !gf_gguf_find(g, k)) return GF_OK;
    uint32_t v;
    gf_status st = gf_gguf_get_u32(g, k, &v, err);
    if (st) return st;
    if (v == 0 || (int64_t)v > cap)
        return gf_errf(err, GF_E_FORMAT, "%s: key '%s' = %u is out of range (1..%lld)", g->path, k, v,
                       (long long)cap);
    *out = v;
    return GF_OK;
}

/* head_dim, n_rot: from the head count, or the key lengths for an arch whose heads
 * need not divide the embedding. */
static gf_status head_shape(const gf_gguf *g, const gf_arch_info *a, gf_hparams *hp, gf_err *err) {
    const char *arch = a->gguf_name;
    gf_status st;
    char kl[128];
    snprintf(kl, sizeof kl, "%s.%s", arch, gf_hkey_name(GF_HK_KEY_LENGTH));
    if ((!a->explicit_head_dim || !gf_gguf_find(g, kl)) && hp->dim % hp->n_heads)
        return gf_errf(err, GF_E_FORMAT, "%s: embedding_length %lld is not a multiple of head_count %lld",
                       g->path, (long long)hp->dim, (long long)hp->n_heads);
    if (hp->n_heads % hp->n_kv_heads)
        return gf_errf(err, GF_E_FORMAT, "%s: head_count %lld is not a multiple of head_count_kv %lld",
                       g->path, (long long)hp->n_heads, (long long)hp->n_kv_heads);
    hp->head_dim = hp->dim / hp->n_heads;
    if (a->explicit_head_dim) {
        int64_t v_len = 0;
        if ((st = get_dim(g, arch, GF_HK_KEY_LENGTH, 1, MAX_DIM, &hp->head_dim, err))) return st;
        v_len = hp->head_dim;
        if ((st = get_dim(g, arch, GF_HK_VALUE_LENGTH, 1, MAX_DIM, &v_len, err))) return st;
        if (v_len != hp->head_dim)
            return gf_errf(err, GF_E_UNSUPPORTED, "%s: key_length %lld and value_length %lld differ", g->path,
                           (long long)hp->head_dim, (long long)v_len);
    }
    if (hp->head_dim > GF_MAX_HEAD_DIM)
        return gf_errf(err, GF_E_UNSUPPORTED, "%s: head dimension %lld is larger than the %d this engine supports",
                       g->path, (long long)hp->head_dim, GF_MAX_HEAD_DIM);
    hp->n_rot = hp->head_dim;
    if ((st = get_dim(g, arch, GF_HK_ROPE_DIMENSION_COUNT, 1, hp->head_dim, &hp->n_rot, err))) return st;
    if (hp->n_rot % 2)
        return gf_errf(err, GF_E_FORMAT, "%s: rope dimension count %lld is odd", g->path, (long long)hp->n_rot);
    if (!a->partial_rope && hp->n_rot != hp->head_dim)
        return gf_errf(err, GF_E_FORMAT, "%s: %s needs rope.dimension_count = head_dim (%lld), got %lld",
                       g->path, arch, (long long)hp->head_dim, (long long)hp->n_rot);
    return GF_OK;
}

static gf_status read_hparams(const gf_gguf *g, gf_hparams *hp, gf_err *err) {
    memset(hp, 0, sizeof *hp);
    const gf_str *arch_s;
    gf_status st = gf_gguf_get_str(g, "general.architecture", &arch_s, err);
    if (st) return st;
    const char *arch = arch_s->s;
    const gf_arch_info *a = gf_arch_by_gguf_name(arch);
    if (!a) {
        char known[128];
        gf_arch_list(1, known, sizeof known);
        return gf_errf(err, GF_E_UNSUPPORTED, "%s: architecture '%.64s' is not supported (%s are)", g->path, arch,
                       known);
    }
    hp->arch = a->id;
    hp->rope = a->rope;
    if ((st = get_dim(g, arch, GF_HK_EMBEDDING_LENGTH, 0, MAX_DIM, &hp->dim, err)) ||
        (st = get_dim(g, arch, GF_HK_BLOCK_COUNT, 0, MAX_LAYERS, &hp->n_layers, err)) ||
        (st = get_dim(g, arch, GF_HK_FEED_FORWARD_LENGTH, 0, MAX_DIM, &hp->n_ff, err)) ||
        (st = get_dim(g, arch, GF_HK_HEAD_COUNT, 0, MAX_HEADS, &hp->n_heads, err)))
        return st;
    hp->n_kv_heads = hp->n_heads;
    if ((st = get_dim(g, arch, GF_HK_HEAD_COUNT_KV, 1, MAX_HEADS, &hp->n_kv_heads, err)) ||
        (st = get_dim(g, arch, GF_HK_CONTEXT_LENGTH, 1, INT32_MAX, &hp->n_ctx_train, err)))
        return st;
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, gf_hkey_name(GF_HK_RMS_EPS));
    if ((st = gf_gguf_get_f32(g, k, &hp->rms_eps, err))) return st;
    if (!(hp->rms_eps > 0.0f && hp->rms_eps < 1.0f))
        return gf_errf(err, GF_E_FORMAT, "%s: key '%s' = %g is out of range (0, 1)", g->path, k, hp->rms_eps);
    hp->rope_base = 10000.0f;
    snprintf(k, sizeof k, "%s.%s", arch, gf_hkey_name(GF_HK_ROPE_FREQ_BASE));
    if (gf_gguf_find(g, k)) {
        if ((st = gf_gguf_get_f32(g, k, &hp->rope_base, err))) return st;
        if (!(hp->rope_base > 1.0f && hp->rope_base < 1e12f))
            return gf_errf(err, GF_E_FORMAT, "%s: key '%s' = %g is out of range", g->path, k, hp->rope_base);
    }
    if ((st = gf_rope_scaling_read(g, arch, &hp->rope_scaling, err))) return st;
    return head_shape(g, a, hp, err);
}

/* ---------------------------------------------------------------- tensors */

typedef struct {
    const gf_gguf *g;
    gf_model *m;     /* takes the widened copies */
    uint8_t *used;   /* (n_tensors) 1 once a tensor has been claimed */
    float *arena;    /* where widened vectors go */
    size_t arena_used, arena_cap;
} loader;

static const char *type_name(gf_type t) { return gf_type_name(t); }

/* norm weights and biases: any float type the table can widen */
static int is_vector_type(gf_type t) {
    const gf_type_traits *tt = gf_type_info(t);
    return tt && !tt->is_quantized && tt->to_float;
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
    if (!is_vector_type(t->type)) {
        char list[256];
        return gf_errf(err, GF_E_UNSUPPORTED, "%s: tensor '%s' has type %s; vectors must be %s", L->g->path, name,
                       type_name(t->type), gf_type_list(is_vector_type, list, sizeof list));
    }
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

/* ---------------------------------------------------------------- matrices */

/* What a matrix of a type no kernel multiplies becomes at load.  F32, because it
 * is exact: every dequantized value is a float, so the products are those of the
 * F32 model with the same weights (F16 would round them again, and its kernel
 * rounds the activations to half as well). */
#define WIDE_TYPE GF_TYPE_F32
/* Rows per unit of parallel work when widening; fixed, so the chunk reported
 * first never depends on the thread count. */
#define WIDE_ROWS 64

/* An owned F32 copy of t's n_out rows of n_in, each row through the type's to_float;
 * a NaN or Inf (a bad fp16 scale) is refused naming the tensor, its element and block. */
static gf_status widen(loader *L, const char *name, const gf_gguf_tensor *t, int64_t n_in, int64_t n_out,
                       const void **out, gf_err *err) {
    gf_model *m = L->m;
    const char *path = L->g->path;
    uint64_t n;
    GF_FAIL_IF(gf_mul_overflow((uint64_t)n_in, (uint64_t)n_out, &n) || n > SIZE_MAX / sizeof(float), err,
               GF_E_NOMEM, "%s: tensor '%s': %lld x %lld floats overflow", path, name, (long long)n_out,
               (long long)n_in);
    float *w = malloc((size_t)n * sizeof *w);
    GF_FAIL_IF(!w, err, GF_E_NOMEM, "%s: tensor '%s': cannot allocate %llu bytes to dequantize its %s blocks to %s",
               path, name, (unsigned long long)(n * sizeof *w), type_name(t->type), type_name(WIDE_TYPE));
    m->wide[m->n_widened++] = w; /* owned by the model from here on */
    const size_t rb = gf_row_size(t->type, n_in);
    const int64_t n_chunk = (n_out + WIDE_ROWS - 1) / WIDE_ROWS;
    int64_t bad = n_chunk;
    #pragma omp parallel for schedule(static) reduction(min : bad)
    for (int64_t c = 0; c < n_chunk; c++) {
        gf_err e;
        const int64_t r0 = c * WIDE_ROWS, r1 = r0 + WIDE_ROWS < n_out ? r0 + WIDE_ROWS : n_out;
        if (gf_dequantize_checked(t->type, (const char *)t->data + (size_t)r0 * rb, w + r0 * n_in, (r1 - r0) * n_in,
                                  name, &e) != GF_OK && c < bad)
            bad = c;
    }
    if (bad < n_chunk) {
        /* again from the tensor's start, so the message counts elements and blocks from there */
        const int64_t r1 = (bad + 1) * WIDE_ROWS < n_out ? (bad + 1) * WIDE_ROWS : n_out;
        gf_status st = gf_dequantize_checked(t->type, t->data, w, r1 * n_in, name, err);
        if (st == GF_OK) st = gf_errf(err, GF_E_FORMAT, "tensor '%s': cannot be dequantized", name);
        gf_err_prefix(err, "%s", path);
        return st;
    }
    m->n_widened_by_type[t->type]++;
    m->widened_bytes += (size_t)n * sizeof *w;
    m->widened_src_bytes += rb * (size_t)n_out;
    *out = w;
    return GF_OK;
}

/* t as a weight matrix (n_out, n_in): over the mapping when a kernel multiplies its
 * type, else over its widened copy. */
static gf_status wrap_mat(loader *L, const char *name, const gf_gguf_tensor *t, int64_t n_in, int64_t n_out,
                          gf_wmat *w, gf_err *err) {
    gf_type type = t->type;
    const void *data = t->data;
    gf_status st;
    memset(w, 0, sizeof *w);
    if (!gf_type_can_matmul(type)) {
        if ((st = widen(L, name, t, n_in, n_out, &data, err))) return st;
        type = WIDE_TYPE;
    }
    if ((st = gf_wmat_init(w, type, n_in, n_out, data, L->m->ks, err)))
        gf_err_prefix(err, "%s: tensor '%s'", L->g->path, name);
    else if (type != t->type)
        w->act_round = gf_type_info(t->type)->act_round; /* llama.cpp's activations for t->type */
    return st;
}

static gf_status load_mat(loader *L, const char *name, int64_t n_in, int64_t n_out, gf_wmat *m, gf_err *err) {
    gf_status st;
    memset(m, 0, sizeof *m);
    const gf_gguf_tensor *t = claim(L, name, 0, 2, n_in, n_out, &st, err);
    if (!t) return st;
    if ((st = wrap_mat(L, name, t, n_in, n_out, m, err))) return st;
    if (m->data != t->data) gf_gguf_release(L->g, t); /* widened: the file's bytes are not read again */
    return GF_OK;
}

/* ---------------------------------------------------------------- lifecycle */

static gf_arch_dims dims_of(const gf_hparams *hp) {
    return (gf_arch_dims){hp->n_vocab, hp->dim, hp->n_heads, hp->n_kv_heads, hp->head_dim, hp->n_ff};
}

/* Floats of every norm and bias the architecture may have (the vector arena). */
static size_t vec_floats(const gf_arch_info *a, const gf_arch_dims *d, int64_t n_layers) {
    size_t per_layer = 0;
    for (int i = 0; i < a->n_block; i++)
        if (a->block[i].t->kind == GF_TK_NORM || a->block[i].t->kind == GF_TK_BIAS)
            per_layer += (size_t)gf_arch_dim(d, a->block[i].t->rows);
    return (size_t)d->n_embd + (a->rope_freqs ? (size_t)d->head_dim / 2 : 0) + (size_t)n_layers * per_layer;
}

/* token_embd (its rows are the vocabulary), output_norm, and output or the tied embedding. */
static gf_status load_top(loader *L, const gf_arch_info *a, gf_model *m, gf_err *err) {
    const gf_gguf *g = L->g;
    gf_hparams *hp = &m->hp;
    const int64_t D = hp->dim;
    gf_status st;
    for (int i = 0; i < GF_TOP_COUNT; i++) gf_tensor_gguf_name(a->top[i].t, -1, m->top_name[i], sizeof m->top_name[i]);
    const char *embd = m->top_name[GF_TOP_EMBD], *out = m->top_name[GF_TOP_OUTPUT];
    int64_t ti = gf_gguf_find_tensor(g, embd);
    if (ti < 0) return gf_errf(err, GF_E_FORMAT, "%s: tensor '%s' is missing", g->path, embd);
    hp->n_vocab = g->tensors[ti].ne[1];
    if (hp->n_vocab < 1 || hp->n_vocab > MAX_VOCAB)
        return gf_errf(err, GF_E_FORMAT, "%s: tensor '%s' has %lld rows (1..%d allowed)", g->path, embd,
                       (long long)hp->n_vocab, MAX_VOCAB);
    const gf_kv *toks = gf_gguf_find(g, "tokenizer.ggml.tokens");
    if (toks && toks->type == GF_GGUF_ARRAY && (int64_t)toks->n != hp->n_vocab)
        return gf_errf(err, GF_E_FORMAT, "%s: tokenizer.ggml.tokens has %llu entries but %s has %lld rows", g->path,
                       (unsigned long long)toks->n, embd, (long long)hp->n_vocab);
    const gf_gguf_tensor *te = claim(L, embd, 0, 2, D, hp->n_vocab, &st, err);
    if (!te) return st;
    if (!gf_type_can_read(te->type)) { /* the GGUF reader refuses these already */
        char list[256];
        return gf_errf(err, GF_E_UNSUPPORTED, "%s: tensor '%s' has type %s; the engine reads %s", g->path, embd,
                       type_name(te->type), gf_type_list(gf_type_can_read, list, sizeof list));
    }
    m->embd_type = te->type;
    m->embd = te->data;
    m->embd_row_bytes = gf_row_size(te->type, D);

    if ((st = load_vec(L, m->top_name[GF_TOP_OUTPUT_NORM], 0, D, &m->output_norm, err))) return st;
    if (a->rope_freqs) {
        char rf[32];
        gf_tensor_gguf_name(gf_rope_freqs_tensor(), -1, rf, sizeof rf);
        if ((st = load_vec(L, rf, 1, hp->n_rot / 2, &hp->rope_freqs, err))) return st;
        for (int64_t i = 0; hp->rope_freqs && i < hp->n_rot / 2; i++)
            if (!(hp->rope_freqs[i] > 0))
                return gf_errf(err, GF_E_VALUE, "%s: tensor '%s' element %lld is %g; RoPE frequency factors must be "
                               "positive", g->path, rf, (long long)i, (double)hp->rope_freqs[i]);
    }
    m->output_name = out;
    if (gf_gguf_find_tensor(g, out) >= 0) return load_mat(L, out, D, hp->n_vocab, &m->output, err);
    m->tied_output = 1;
    m->output_name = embd;
    return wrap_mat(L, embd, te, D, hp->n_vocab, &m->output, err);
}

/* Every tensor of block il that the architecture lists, into its slot.  The forward
 * pass needs all seven matrices; norms and biases may be optional. */
static gf_status load_block(loader *L, const gf_arch_info *a, const gf_arch_dims *d, int64_t il, gf_layer *ly,
                            gf_err *err) {
    char name[96];
    gf_status st = GF_OK;
    for (int i = 0; i < a->n_block && !st; i++) {
        const gf_tensor_name *t = a->block[i].t;
        const int64_t rows = gf_arch_dim(d, t->rows), cols = gf_arch_dim(d, t->cols);
        const int optional = !a->block[i].required;
        switch (t->kind) {
        case GF_TK_LINEAR:
            gf_tensor_gguf_name(t, il, ly->name[t->slot], sizeof ly->name[t->slot]);
            st = load_mat(L, ly->name[t->slot], cols, rows, &ly->lin[t->slot], err);
            break;
        case GF_TK_NORM:
            gf_tensor_gguf_name(t, il, name, sizeof name);
            st = load_vec(L, name, optional, rows, &ly->norm[t->slot], err);
            break;
        case GF_TK_BIAS:
            gf_tensor_gguf_name(t, il, name, sizeof name);
            st = load_vec(L, name, optional, rows, &ly->bias[t->slot], err);
            break;
        default: break; /* not in GGUF files (rotary buffers) */
        }
    }
    return st;
}

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
    L.m = m;
    if ((st = read_hparams(g, &m->hp, err))) goto done;
    const gf_hparams *hp = &m->hp;
    const gf_arch_info *a = gf_arch_get(hp->arch);
    gf_arch_dims d = dims_of(hp);
    L.arena_cap = vec_floats(a, &d, hp->n_layers);
    L.arena = m->vec_arena = malloc(L.arena_cap * sizeof(float));
    m->layers = calloc((size_t)hp->n_layers, sizeof *m->layers);
    m->wide = calloc((size_t)hp->n_layers * GF_LIN_COUNT + 1, sizeof *m->wide);
    if (!m->vec_arena || !m->layers || !m->wide) { st = gf_errf(err, GF_E_NOMEM, "%s: out of memory", g->path); goto done; }
    if ((st = load_top(&L, a, m, err))) goto done;
    d = dims_of(hp);
    for (int64_t il = 0; il < hp->n_layers; il++)
        if ((st = load_block(&L, a, &d, il, &m->layers[il], err))) goto done;

    /* A tensor we would silently ignore (rope_freqs, q/k norms, ...) means a model
     * variant this engine would compute wrongly: refuse it. */
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (!L.used[i]) {
            st = gf_errf(err, GF_E_UNSUPPORTED, "%s: tensor '%s' is not used by the %s forward pass this engine "
                         "implements", g->path, g->tensors[i].name.s, a->gguf_name);
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
    if (m->wide)
        for (int64_t i = 0; i < m->n_widened; i++) free(m->wide[i]);
    free(m->wide);
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
        const char *row = (const char *)m->embd + (size_t)tokens[t] * m->embd_row_bytes;
        gf_status st = gf_dequantize_checked(m->embd_type, row, x + t * D, D, m->top_name[GF_TOP_EMBD], err);
        if (st) {
            gf_err_prefix(err, "%s: row of token %d", m->path, tokens[t]);
            return st;
        }
    }
    return GF_OK;
}
