/*
 * calib.c - calibration samples and the float model run block by block.
 *
 * The text is tokenized once (no special-token parsing), cut into windows of
 * seqlen tokens (BOS first when the vocabulary adds it, as llama-imatrix does),
 * and nsamples windows are picked by a seeded shuffle.  The float model is the
 * engine's forward pass over weights read from the safetensors one block at a
 * time, so memory holds one block plus the samples' activations.  Statistics are
 * summed in double in sample order: the same numbers for any thread count.
 */
#include "calib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../common/array.h"
#include "../common/hash.h"
#include "../common/rand.h"
#include "../engine/gemm.h"
#include "../engine/tokenizer.h"
#include "../formats/hfload.h"

extern const char gf_default_calib_text[], gf_default_calib_end[];

const char *gf_calib_default_text(size_t *len) {
    *len = (size_t)(gf_default_calib_end - gf_default_calib_text);
    return gf_default_calib_text;
}

/* FNV-1a from an offset basis one digit short of the standard 14695981039346656037
 * (GF_FNV1A64_BASIS).  It is not the standard hash, but files already written carry
 * "fnv1a64:<hex>" computed with it (key gguf-forge.calib.hash), so it stays: the same
 * text must keep giving the same value. */
#define CALIB_HASH_BASIS 1469598103934665603ull

uint64_t gf_calib_text_hash(const char *text, size_t len) { return gf_fnv1a64_from(CALIB_HASH_BASIS, text, len); }

/* ---------------------------------------------------------------- open */

static void shell_hparams(const gf_hfcfg *cfg, gf_hparams *hp) {
    memset(hp, 0, sizeof *hp);
    hp->arch = cfg->arch;
    hp->n_vocab = cfg->n_vocab;
    hp->dim = cfg->n_embd;
    hp->n_layers = cfg->n_layer;
    hp->n_ff = cfg->n_ff;
    hp->n_heads = cfg->n_head;
    hp->n_kv_heads = cfg->n_head_kv;
    hp->head_dim = cfg->head_dim;
    hp->n_rot = cfg->head_dim;
    hp->n_ctx_train = cfg->n_ctx_train;
    hp->rope_base = (float)cfg->rope_theta;
    hp->rms_eps = (float)cfg->rms_eps;
    hp->rope = cfg->info->rope;
    hp->rope_freqs = cfg->n_rope_freqs ? cfg->rope_freqs : NULL;
    hp->rope_scaling = cfg->rope_scaling;
}

gf_status gf_calib_draw(const gf_tokenizer *tok, const char *name, const char *text, size_t len,
                        const gf_calib_opts *o, int32_t **tokens, int64_t *n_samples, int64_t *n_text_tokens,
                        gf_err *err) {
    *tokens = NULL;
    int32_t *ids = NULL;
    int64_t *order = NULL;
    size_t n_ids = 0;
    gf_status rc = GF_OK;
    if ((rc = gf_tokenize(tok, text, len, 0, 0, &ids, &n_ids, err))) {
        gf_err_prefix(err, "%s", name);
        return rc;
    }
    *n_text_tokens = (int64_t)n_ids;
    const int bos = gf_tokenizer_adds_bos(tok) ? 1 : 0;
    const int64_t T = o->seqlen, inner = T - bos, n_win = inner > 0 ? (int64_t)n_ids / inner : 0;
    GF_FAIL_GOTO_IF(n_win < 1, err, GF_E_VALUE, "%s: %zu tokens, fewer than one sample of %lld", name, n_ids,
                    (long long)T);
    /* seeded Fisher-Yates over the windows, first nsamples taken */
    order = malloc((size_t)n_win * sizeof *order);
    GF_FAIL_GOTO_IF(!order, err, GF_E_NOMEM, "out of memory");
    for (int64_t i = 0; i < n_win; i++) order[i] = i;
    uint64_t s = o->seed * 0x9e3779b97f4a7c15ull + 0x2545f4914f6cdd1dull;
    if (!s) s = 1;
    gf_shuffle_i64(order, n_win, &s);
    const int64_t n = o->nsamples < n_win ? o->nsamples : n_win;
    *tokens = malloc((size_t)(n * T) * sizeof **tokens);
    GF_FAIL_GOTO_IF(!*tokens, err, GF_E_NOMEM, "calibration: out of memory for %lld samples of %lld tokens",
                    (long long)n, (long long)T);
    for (int64_t i = 0; i < n; i++) {
        int32_t *dst = *tokens + i * T;
        if (bos) dst[0] = gf_tokenizer_bos(tok);
        memcpy(dst + bos, ids + order[i] * inner, (size_t)inner * sizeof *dst);
    }
    *n_samples = n;
done:
    free(order);
    free(ids);
    return rc;
}

gf_status gf_calib_open(const gf_hfcfg *cfg, const gf_safetensors *st, const gf_vocab *vocab, const gf_calib_opts *o,
                        gf_calib **out, gf_err *err) {
    *out = NULL;
    gf_status rc;
    gf_tokenizer *tok = NULL;
    gf_calib *c = calloc(1, sizeof *c);
    if (!c) return gf_errf(err, GF_E_NOMEM, "out of memory");
    c->loaded = -1;
    c->cfg = cfg;
    c->st = st;
    snprintf(c->name, sizeof c->name, "%s", o->name ? o->name : "calibration text");
    const char *text = o->text;
    size_t len = o->text_len;
    if (!text) text = gf_calib_default_text(&len);
    if (o->seqlen < 2 || o->seqlen > (1 << 20) || o->nsamples < 1 || o->nsamples > (1 << 20)) {
        rc = gf_errf(err, GF_E_USAGE, "calibration: seqlen %lld and nsamples %lld out of range", (long long)o->seqlen,
                     (long long)o->nsamples);
        goto fail;
    }
    if ((rc = gf_tokenizer_init(vocab, &tok, err))) goto fail;
    if ((rc = gf_calib_draw(tok, c->name, text, len, o, &c->tokens, &c->n_samples, &c->n_text_tokens, err))) goto fail;
    c->seqlen = o->seqlen;
    const int64_t D = cfg->n_embd, T = c->seqlen;
    c->x = malloc((size_t)(c->n_samples * T * D) * sizeof *c->x);
    if (!c->x) {
        rc = gf_errf(err, GF_E_NOMEM, "calibration: out of memory for %lld samples of %lld tokens", (long long)c->n_samples,
                     (long long)T);
        goto fail;
    }
    /* embeddings of the sample tokens */
    const char *emb_name = cfg->info->top[GF_TOP_EMBD].t->hf;
    const gf_st_tensor *emb = gf_st_find(st, emb_name);
    if (!emb) { rc = gf_errf(err, GF_E_FORMAT, "calibration: no %s", emb_name); goto fail; }
    for (int64_t i = 0; i < c->n_samples * T; i++) {
        if (c->tokens[i] < 0 || c->tokens[i] >= emb->n_rows) {
            rc = gf_errf(err, GF_E_VALUE, "%s: token id %d is outside the embedding's %lld rows", c->name, c->tokens[i],
                         (long long)emb->n_rows);
            goto fail;
        }
        if ((rc = gf_st_read_rows(st, emb, c->tokens[i], 1, c->x + i * D, err))) goto fail;
    }
    /* the engine model shell: layers are filled by gf_calib_load_layer */
    shell_hparams(cfg, &c->m.hp);
    for (int i = 0; i < GF_TOP_COUNT; i++)
        gf_tensor_gguf_name(cfg->info->top[i].t, -1, c->m.top_name[i], sizeof c->m.top_name[i]);
    c->m.path = c->name;
    c->m.ks = gf_kernels_default();
    c->m.layers = calloc((size_t)cfg->n_layer, sizeof *c->m.layers);
    if (!c->m.layers) { rc = gf_errf(err, GF_E_NOMEM, "out of memory"); goto fail; }
    if ((rc = gf_state_init(&c->s, &c->m, T, T, GF_TYPE_F32, err))) goto fail;
    gf_tokenizer_free(tok);
    *out = c;
    return GF_OK;
fail:
    gf_tokenizer_free(tok);
    gf_calib_free(c);
    return rc;
}

static void unload(gf_calib *c) {
    for (int i = 0; i < GF_LIN_COUNT; i++) {
        free(c->qblocks[i]);
        c->qblocks[i] = NULL;
    }
    if (c->loaded >= 0) {
        gf_layer *ly = &c->m.layers[c->loaded];
        for (int i = 0; i < GF_LIN_COUNT; i++) gf_wmat_free(&ly->lin[i]);
        memset(ly, 0, sizeof *ly);
    }
    free(c->layer_mem);
    c->layer_mem = NULL;
    c->loaded = -1;
}

void gf_calib_free(gf_calib *c) {
    if (!c) return;
    unload(c);
    gf_state_free(&c->s);
    free(c->m.layers);
    free(c->tokens);
    free(c->x);
    free(c->xq);
    free(c);
}

gf_status gf_calib_enable_qpath(gf_calib *c, gf_err *err) {
    size_t bytes = (size_t)(c->n_samples * c->seqlen * c->cfg->n_embd) * sizeof(float);
    if (!c->xq && !(c->xq = malloc(bytes))) return gf_errf(err, GF_E_NOMEM, "calibration: out of memory");
    memcpy(c->xq, c->x, bytes);
    return GF_OK;
}

const void *gf_calib_blocks(const gf_calib *c, const char *name, gf_type *type) {
    if (c->loaded < 0) return NULL;
    const gf_layer *ly = &c->m.layers[c->loaded];
    for (int l = 0; l < GF_LIN_COUNT; l++) {
        if (c->qblocks[l] && !strcmp(ly->name[l], name)) {
            *type = c->qtype[l];
            return c->qblocks[l];
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------- layers */

/* The loaded block's float data of the tensor with this kind and slot, or NULL. */
static const float *data_of(const gf_layer *ly, gf_tensor_kind kind, int slot) {
    switch (kind) {
    case GF_TK_NORM: return ly->norm[slot];
    case GF_TK_BIAS: return ly->bias[slot];
    case GF_TK_LINEAR: return ly->lin[slot].data;
    default: return NULL;
    }
}

gf_status gf_calib_load_layer(gf_calib *c, int layer, gf_err *err) {
    unload(c);
    gf_status rc;
    gf_layer *ly = &c->m.layers[layer];
    gf_tensor_map maps[32];
    const gf_st_tensor *ts[32];
    int n = 0;
    int64_t total = 0;
    for (int64_t i = 0; i < c->st->n_tensors; i++) {
        gf_tensor_map m;
        gf_err e2;
        if (gf_map_tensor(c->cfg, c->st->tensors[i].name, &m, &e2) || m.layer != layer || m.kind == GF_TK_SKIP) continue;
        if (n == 32) return gf_errf(err, GF_E_FORMAT, "layer %d has too many tensors", layer);
        maps[n] = m;
        ts[n] = &c->st->tensors[i];
        total += ts[n]->row_len * ts[n]->n_rows + (m.permute_heads && ts[n]->n_dims == 1 ? ts[n]->row_len : 0);
        n++;
    }
    c->layer_mem = malloc((size_t)total * sizeof(float));
    if (!c->layer_mem) return gf_errf(err, GF_E_NOMEM, "calibration: out of memory for layer %d", layer);
    c->loaded = layer;
    float *p = c->layer_mem;
    for (int i = 0; i < n; i++) {
        const gf_st_tensor *t = ts[i];
        int64_t cnt = t->row_len * t->n_rows;
        if ((rc = gf_hf_read_rows(c->st, t, &maps[i], 0, t->n_rows, p, err))) return rc;
        if (maps[i].kind == GF_TK_LINEAR) {
            const int l = maps[i].slot;
            if ((rc = gf_wmat_init(&ly->lin[l], GF_TYPE_F32, t->row_len, t->n_rows, p, c->m.ks, err))) return rc;
            snprintf(ly->name[l], sizeof ly->name[l], "%.47s", maps[i].name);
        } else if (maps[i].kind == GF_TK_NORM) {
            ly->norm[maps[i].slot] = p;
        } else if (maps[i].kind == GF_TK_BIAS) {
            ly->bias[maps[i].slot] = p;
        }
        p += cnt + (maps[i].permute_heads && t->n_dims == 1 ? t->row_len : 0);
    }
    /* the converter checked the safetensors against the table; this guards direct callers */
    const gf_arch_info *a = c->cfg->info;
    for (int i = 0; i < a->n_block; i++) {
        const gf_tensor_name *t = a->block[i].t;
        char name[96];
        if (a->block[i].required && !data_of(ly, t->kind, t->slot) && gf_tensor_gguf_name(t, layer, name, sizeof name))
            return gf_errf(err, GF_E_FORMAT, "calibration: layer %d has no %s", layer, name);
    }
    return GF_OK;
}

float *gf_calib_tensor(gf_calib *c, const char *name) {
    if (c->loaded < 0) return NULL;
    const gf_arch_info *a = c->cfg->info;
    char want[96];
    for (int i = 0; i < a->n_block; i++) {
        const gf_tensor_name *t = a->block[i].t;
        if (!gf_tensor_gguf_name(t, c->loaded, want, sizeof want) || strcmp(want, name)) continue;
        return (float *)data_of(&c->m.layers[c->loaded], t->kind, t->slot);
    }
    return NULL;
}

gf_status gf_calib_forward_layer(gf_calib *c, int layer, const gf_hooks *hooks, gf_err *err) {
    const int64_t T = c->seqlen, D = c->cfg->n_embd;
    for (int64_t i = 0; i < c->n_samples; i++) {
        gf_status rc = gf_block_forward(&c->m, layer, c->x + i * T * D, T, 0, &c->s, hooks, err);
        if (rc) return rc;
    }
    return GF_OK;
}

/* ---------------------------------------------------------------- statistics */

typedef struct {
    char name[64];
    int64_t n;
    double *sum2; /* (n) sum of x^2 */
    int64_t count;
} stat;

typedef struct {
    stat *s;
    int n;
    size_t cap;
    int oom;
    const char *head_name; /* the output layer's GGUF name */
} stats;

static void on_input(void *ctx, int layer, const char *name, const float *x, int64_t n_tok, int64_t n_in) {
    stats *ss = ctx;
    (void)layer;
    stat *e = NULL;
    for (int i = ss->n - 1; i >= 0 && !e; i--)
        if (!strcmp(ss->s[i].name, name)) e = &ss->s[i];
    if (!e) {
        if (gf_array_reserve(&ss->s, &ss->cap, (size_t)ss->n + 1, 64)) { ss->oom = 1; return; }
        e = &ss->s[ss->n];
        memset(e, 0, sizeof *e);
        snprintf(e->name, sizeof e->name, "%s", name);
        e->n = n_in;
        if (!(e->sum2 = calloc((size_t)n_in, sizeof *e->sum2))) { ss->oom = 1; return; }
        ss->n++;
    }
    if (e->n != n_in) return;
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t j = 0; j < n_in; j++) e->sum2[j] += (double)x[t * n_in + j] * (double)x[t * n_in + j];
    e->count += n_tok;
}

gf_status gf_calib_each_final_norm(gf_calib *c, void (*fn)(void *ctx, const float *xn, int64_t T, int64_t D), void *ctx,
                                 gf_err *err) {
    const int64_t T = c->seqlen, D = c->cfg->n_embd;
    const char *norm_name = c->cfg->info->top[GF_TOP_OUTPUT_NORM].t->hf;
    const gf_st_tensor *nt = gf_st_find(c->st, norm_name);
    if (!nt) return gf_errf(err, GF_E_FORMAT, "calibration: no %s", norm_name);
    float *norm = malloc((size_t)D * sizeof *norm), *xn = malloc((size_t)(T * D) * sizeof *xn);
    gf_status rc = norm && xn ? gf_st_read_rows(c->st, nt, 0, 1, norm, err) : gf_errf(err, GF_E_NOMEM, "calibration: out of memory");
    for (int64_t i = 0; i < c->n_samples && !rc; i++) {
        gf_norm_forward(gf_arch_get(c->cfg->arch)->norm, xn, c->x + i * T * D, norm, T, D, (float)c->cfg->rms_eps);
        fn(ctx, xn, T, D);
    }
    free(norm);
    free(xn);
    return rc;
}

static void head_input(void *ctx, const float *xn, int64_t T, int64_t D) {
    on_input(ctx, -1, ((stats *)ctx)->head_name, xn, T, D);
}

gf_status gf_calib_imatrix(gf_calib *c, gf_imatrix **out, void (*progress)(void *ctx, int layer, int n_layers),
                           void *ctx, gf_err *err) {
    *out = NULL;
    stats ss = {.head_name = c->m.top_name[GF_TOP_OUTPUT]};
    gf_hooks hooks = {.on_linear_input = on_input, .ctx = &ss};
    gf_status rc = GF_OK;
    for (int l = 0; l < c->cfg->n_layer && !rc; l++) {
        if (!(rc = gf_calib_load_layer(c, l, err))) rc = gf_calib_forward_layer(c, l, &hooks, err);
        if (!rc && ss.oom) rc = gf_errf(err, GF_E_NOMEM, "calibration: out of memory for statistics");
        if (!rc && progress) progress(ctx, l, (int)c->cfg->n_layer);
    }
    unload(c);
    /* the output layer sees the final norm of the residual stream */
    if (!rc) rc = gf_calib_each_final_norm(c, head_input, &ss, err);
    gf_imatrix *im = NULL;
    if (!rc && !(im = calloc(1, sizeof *im))) rc = gf_errf(err, GF_E_NOMEM, "out of memory");
    if (!rc && !(im->e = calloc((size_t)ss.n + 1, sizeof *im->e))) rc = gf_errf(err, GF_E_NOMEM, "out of memory");
    for (int i = 0; i < ss.n && !rc; i++) {
        gf_imatrix_entry *e = &im->e[i];
        e->name = strdup(ss.s[i].name);
        e->values = malloc((size_t)ss.s[i].n * sizeof *e->values);
        im->n = i + 1;
        if (!e->name || !e->values) { rc = gf_errf(err, GF_E_NOMEM, "out of memory"); break; }
        e->n = ss.s[i].n;
        e->ncall = (int32_t)c->n_samples;
        for (int64_t j = 0; j < e->n; j++) e->values[j] = (float)(ss.s[i].sum2[j] / (double)ss.s[i].count);
    }
    if (im) im->chunks = (int32_t)c->n_samples;
    for (int i = 0; i < ss.n; i++) free(ss.s[i].sum2);
    free(ss.s);
    if (rc) {
        gf_imatrix_free(im);
        return rc;
    }
    *out = im;
    return GF_OK;
}

/* ---------------------------------------------------------------- the output head */

/* h += xnᵀ·xn; the first failed product's status is kept in rc */
typedef struct {
    float *h;
    gf_status rc;
} moment;

static void add_moment(void *ctx, const float *xn, int64_t T, int64_t D) {
    moment *mo = ctx;
    if (!mo->rc) mo->rc = gf_gemm_tn(D, D, T, xn, xn, mo->h, 1);
}

gf_status gf_calib_head_moment(gf_calib *c, float **out, gf_err *err) {
    *out = NULL;
    const int64_t D = c->cfg->n_embd;
    float *h = calloc((size_t)(D * D), sizeof *h);
    if (!h) return gf_errf(err, GF_E_NOMEM, "calibration: out of memory for a %lldx%lld matrix", (long long)D, (long long)D);
    moment mo = {.h = h};
    gf_status rc = gf_calib_each_final_norm(c, add_moment, &mo, err);
    if (!rc && mo.rc) rc = gf_errf(err, mo.rc, "calibration: out of memory for the GEMM of the head's second moment");
    const float inv = 1.0f / (float)(c->n_samples * c->seqlen);
    for (int64_t i = 0; i < D * D && !rc; i++) h[i] *= inv;
    if (rc) {
        free(h);
        return rc;
    }
    *out = h;
    return GF_OK;
}
