/*
 * convert.c - the quantize pipeline: HF folder in, GGUF out, one tensor at a time.
 *
 * Four steps over one `conversion` struct:
 *   plan        every tensor's name, shape check against config.json, block type,
 *               method and fallbacks, so bad input is refused before a byte of output
 *   calibrate   what the methods' table entries ask for (quantizers/method.h):
 *               importance statistics, the head's input moment, the block method's
 *               calibration run and quantized path, the probe for the output error
 *   write_header / stream   metadata and tensor infos, then each tensor: pread a
 *               chunk of rows, widen to float, quantize rows in parallel (rows are
 *               independent, so the bytes never depend on the thread count), write.
 *               Memory: one chunk.  A block method's hook runs when a layer's first
 *               tensor comes.
 *   report      the summary.
 * Does not know any method by name: quantize_rows() is the single place where the
 * tensor's method turns float rows into blocks, and the methods' hooks do the rest.
 * --checkpoint: emit() copies the tensor bytes into the checkpoint as they are written;
 * what is saved and how a run resumes is convert/resume.c.
 */
#include "conversion.h"

#include <limits.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>

#include "../calib/probe.h"
#include "../formats/lora.h"
#include "../engine/gemm.h"
#include "../formats/gguf_source.h"
#include "../formats/hfconfig.h"
#include "../formats/hfload.h"
#include "../formats/safetensors.h"
#include "../formats/vocab.h"
#include "../common/types.h"

#define CHUNK_FLOATS ((int64_t)1 << 21) /* 8 MB of float rows per read */

gf_type gf_convert_default_embed_type(gf_type type) {
    return type == GF_TYPE_Q4_0 ? GF_TYPE_Q8_0 : type;
}

uint32_t gf_ftype_of(gf_type type) {
    const gf_type_traits *tt = gf_type_info(type);
    return tt ? tt->file_type : 0;
}

static int plan_cmp(const void *a, const void *b) {
    const plan_entry *x = a, *y = b;
    if (x->group != y->group) return x->group - y->group;
    if (x->map.layer != y->map.layer) return x->map.layer - y->map.layer;
    return strcmp(x->map.name, y->map.name);
}

/* ---------------------------------------------------------------- planning */

static gf_type pick_type(const gf_convert_opts *o, const regex_t *rx, const plan_entry *p) {
    if (p->map.kind == GF_TK_NORM || p->map.kind == GF_TK_BIAS) return GF_TYPE_F32;
    gf_type t = o->type;
    if (!o->pure) {
        if (p->map.kind == GF_TK_EMBED)
            t = o->embed_type >= 0 ? (gf_type)o->embed_type : gf_convert_default_embed_type(o->type);
        if (p->map.kind == GF_TK_OUTPUT)
            t = o->output_type >= 0 ? (gf_type)o->output_type : gf_convert_default_embed_type(o->type);
    }
    for (int i = 0; i < o->n_rules; i++)
        if (regexec(&rx[i], p->map.name, 0, NULL, 0) == 0) return o->rules[i].type;
    return t;
}

static gf_status check_shape(const plan_entry *p, const char *path, int gguf, gf_err *err) {
    const gf_st_tensor *t = p->src;
    int want_dims = p->map.cols ? 2 : 1;
    int ok = (int)t->n_dims == want_dims && t->shape[0] == p->map.rows && (want_dims == 1 || t->shape[1] == p->map.cols);
    if (ok) return GF_OK;
    char got[128] = "", want[64];
    for (uint32_t d = 0; d < t->n_dims; d++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    if (want_dims == 2) snprintf(want, sizeof want, "%lld, %lld", (long long)p->map.rows, (long long)p->map.cols);
    else snprintf(want, sizeof want, "%lld", (long long)p->map.rows);
    return gf_errf(err, GF_E_FORMAT, "%s: tensor '%s' has shape [%s], %s [%s]", path, gf_st_label(t), got,
                   gguf ? "its GGUF keys imply" : "config.json implies", want);
}

static gf_status check_complete(const gf_hfcfg *hp, const plan_entry *plan, int n, const char *dir, gf_err *err) {
    const gf_arch_info *a = hp->info;
    char name[96];
    for (int64_t l = -1; l < hp->n_layer; l++) {
        const gf_arch_tensor *need = l < 0 ? a->top : a->block;
        for (int i = 0; i < (l < 0 ? GF_TOP_COUNT : a->n_block); i++) {
            if (!need[i].required || !gf_tensor_gguf_name(need[i].t, l, name, sizeof name)) continue;
            int found = 0;
            for (int j = 0; j < n && !found; j++) found = strcmp(plan[j].map.name, name) == 0;
            if (!found)
                return gf_errf(err, GF_E_FORMAT, "%s: the model has no tensor for GGUF '%s' (%s, %lld layers)", dir,
                               name, hp->hf_arch, (long long)hp->n_layer);
        }
    }
    int has_output = 0;
    for (int j = 0; j < n; j++) has_output |= plan[j].map.kind == GF_TK_OUTPUT;
    if (!has_output && !hp->tie_word_embeddings)
        return gf_errf(err, GF_E_FORMAT, "%s: no '%s' and config.json says tie_word_embeddings is false", dir,
                       a->top[GF_TOP_OUTPUT].t->hf);
    return GF_OK;
}

/* ---------------------------------------------------------------- data */

/* The squared error of one written row q against its float row x, and x's squared
 * norm (0 and 0 when back, row_len floats of scratch, is NULL). */
static void measure_row(gf_type type, const float *x, const uint8_t *q, int64_t row_len, float *back, double *e2,
                        double *n2) {
    double e = 0, n = 0;
    if (back && gf_dequantize_row(type, q, back, row_len) == 0) {
        for (int64_t j = 0; j < row_len; j++) {
            double d = (double)x[j] - (double)back[j];
            e += d * d;
            n += (double)x[j] * (double)x[j];
        }
    }
    *e2 = e;
    *n2 = n;
}

/* The one place float rows become blocks, by the tensor's method (or exactly,
 * for a tensor already on its type's grid). Rows are
 * independent, and the error sums are combined in row order, so any thread
 * count gives the same bytes and the same numbers. err2/ref2 (n_rows doubles of
 * scratch each) receive per-row squared error and squared norm (0 unless the
 * plan measures). A head tuned by its method (tune_head) has its rows tuned together:
 * its failure (out of memory) is the conversion's, not a silent min-max fallback. */
static gf_status quantize_rows(const plan_entry *p, const float *x, uint8_t *dst, int64_t n_rows, int64_t row_len,
                               double *err2, double *ref2, gf_err *err) {
    size_t rs = gf_row_size(p->type, row_len);
    const int tuned = p->head_h != NULL || p->on_grid;
    GF_FAIL_IF(p->on_grid && !gf_quantize_row_exact(p->type, x, dst, n_rows * row_len), err, GF_E_VALUE,
               "tensor '%s': was on the %s grid when planned, is not now", p->map.name, gf_type_name(p->type));
    if (p->head_h && !p->on_grid) {
        gf_status rc = p->method->tune_head(p->type, x, n_rows, row_len, p->head_h, p->env, dst, err);
        if (rc) {
            gf_err_prefix(err, "tensor '%s'", p->map.name);
            return rc;
        }
    }
    int oom = 0;
#pragma omp parallel reduction(| : oom)
    {
        float *back = p->measure ? malloc((size_t)row_len * sizeof *back) : NULL;
        oom = p->measure && !back;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < n_rows; r++) {
            const float *xr = x + r * row_len;
            uint8_t *qr = dst + (size_t)r * rs;
            if (!tuned) p->method->quantize_row(p->type, xr, qr, row_len, p->importance);
            measure_row(p->type, xr, qr, row_len, back, &err2[r], &ref2[r]);
        }
        free(back);
    }
    GF_FAIL_IF(oom, err, GF_E_NOMEM, "tensor '%s': out of memory measuring rows of %lld", p->map.name,
               (long long)row_len);
    return GF_OK;
}

/* ---------------------------------------------------------------- output-activation error */

#define ACT_ROWS 256   /* rows per product with the probe's inputs */
#define ACT_TOKENS 256 /* probe positions kept per matrix          */

/* Sums of ||X(W - Q)ᵀ||² and ||XWᵀ||² for one tensor, fed a chunk of rows at a time. */
typedef struct {
    const float *x;        /* (n_tok, row_len) probe inputs of a matrix, or NULL      */
    int64_t n_tok;
    const int32_t *counts; /* the embedding: occurrences of each row's token, or NULL */
    int64_t n_counts;
    float *tmp;            /* ACT_ROWS * (max row length + 2 * ACT_TOKENS) floats     */
    double e2, r2;
} act_acc;

/* rows row0 .. row0+n-1: float w (n, len), written blocks q of `type` */
static gf_status act_add(act_acc *a, gf_type type, const float *w, const uint8_t *q, int64_t row0, int64_t n,
                         int64_t len, gf_err *err) {
    if (!a) return GF_OK;
    size_t rs = gf_row_size(type, len);
    for (int64_t r0 = 0; r0 < n; r0 += ACT_ROWS) {
        int64_t m = n - r0 < ACT_ROWS ? n - r0 : ACT_ROWS;
        const float *wc = w + r0 * len;
        float *d = a->tmp, *y = d + m * len, *e = y + a->n_tok * m;
        if (a->counts) { /* looked-up rows, weighted by how often calibration looks them up */
            for (int64_t r = 0; r < m; r++) {
                int64_t row = row0 + r0 + r;
                double c = row < a->n_counts ? a->counts[row] : 0, e2, n2;
                if (c == 0) continue;
                measure_row(type, wc + r * len, q + (size_t)(r0 + r) * rs, len, d, &e2, &n2);
                a->e2 += c * e2;
                a->r2 += c * n2;
            }
            continue;
        }
#pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < m; r++) {
            float *dr = d + r * len;
            if (gf_dequantize_row(type, q + (size_t)(r0 + r) * rs, dr, len) != 0) memset(dr, 0, (size_t)len * 4);
            for (int64_t j = 0; j < len; j++) dr[j] = wc[r * len + j] - dr[j];
        }
        GF_FAIL_IF(gf_gemm_nt(a->n_tok, m, len, a->x, wc, y, 0) || gf_gemm_nt(a->n_tok, m, len, a->x, d, e, 0), err,
                   GF_E_NOMEM, "output-activation error: out of memory for a GEMM of %lld rows", (long long)m);
        for (int64_t i = 0; i < a->n_tok * m; i++) {
            a->e2 += (double)e[i] * e[i];
            a->r2 += (double)y[i] * y[i];
        }
    }
    return GF_OK;
}

/* Tensor data to the GGUF (a whole tensor, or a part of one), and to the checkpoint
 * when the tensor is one a checkpoint keeps. */
static gf_status emit(conversion *cv, gf_sink *sink, uint64_t idx, const void *data, size_t n, int part, gf_err *err) {
    if (cv->ck_capture) GF_TRY(gf_ckpt_tensor_data(cv->ck, data, n, err));
    return part ? gf_gguf_write_tensor_part(cv->w, sink, idx, data, n, err)
                : gf_gguf_write_tensor_data(cv->w, sink, idx, data, n, err);
}

/* Blocks chosen by a method itself (autoround): written as they are; the error
 * is measured against the float rows mem. */
static gf_status write_blocks(conversion *cv, const plan_entry *p, uint64_t idx, const float *mem, const uint8_t *blocks,
                              gf_sink *sink, act_acc *act, double *sq_err, double *sq_ref, gf_err *err) {
    const gf_st_tensor *t = p->src;
    int64_t len = t->row_len;
    size_t rs = gf_row_size(p->type, len);
    *sq_err = *sq_ref = 0;
    for (int64_t r = 0; r < t->n_rows; r++) {
        double e2, n2;
        measure_row(p->type, mem + r * len, blocks + (size_t)r * rs, len, cv->buf, &e2, &n2);
        *sq_err += e2;
        *sq_ref += n2;
    }
    GF_TRY(act_add(act, p->type, mem, blocks, 0, t->n_rows, len, err));
    return emit(cv, sink, idx, blocks, rs * (size_t)t->n_rows, 0, err);
}

/* Rows r0 .. r0+n-1 of float rows x (already in GGUF layout): quantized, measured, written. */
static gf_status write_chunk(conversion *cv, const plan_entry *p, uint64_t idx, const float *x, int64_t r0, int64_t n,
                             gf_sink *sink, act_acc *act, double *sq_err, double *sq_ref, gf_err *err) {
    const int64_t len = p->src->row_len;
    double *err2 = cv->scratch, *ref2 = cv->scratch + CHUNK_FLOATS;
    GF_TRY(quantize_rows(p, x, cv->qbuf, n, len, err2, ref2, err));
    GF_TRY(act_add(act, p->type, x, cv->qbuf, r0, n, len, err));
    for (int64_t i = 0; i < n; i++) {
        *sq_err += err2[i];
        *sq_ref += ref2[i];
    }
    return emit(cv, sink, idx, cv->qbuf, gf_row_size(p->type, len) * (size_t)n, 1, err);
}

/* A tensor's rows, from mem (rewritten by a block method) or read from the
 * safetensors a chunk at a time. */
static gf_status write_tensor(conversion *cv, const plan_entry *p, uint64_t idx, const float *mem, gf_sink *sink,
                              act_acc *act, double *sq_err, double *sq_ref, gf_err *err) {
    const gf_st_tensor *t = p->src;
    int64_t rows = t->n_rows, len = t->row_len;
    int64_t chunk = CHUNK_FLOATS / len > 0 ? CHUNK_FLOATS / len : 1;
    *sq_err = *sq_ref = 0;
    if (mem) { /* rewritten by a block transform: already in GGUF layout */
        for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
            int64_t n = rows - r0 < chunk ? rows - r0 : chunk;
            GF_TRY(write_chunk(cv, p, idx, mem + r0 * len, r0, n, sink, act, sq_err, sq_ref, err));
        }
        return GF_OK;
    }
    if (p->map.permute_heads && t->n_dims == 1) { /* a permuted bias: read whole */
        GF_TRY(gf_hf_read_rows(cv->st, t, &p->map, 0, 1, cv->buf, err));
        return write_chunk(cv, p, idx, cv->buf, 0, 1, sink, NULL, sq_err, sq_ref, err);
    }
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
        GF_FAIL_IF(cv->o->cancel && *cv->o->cancel, err, GF_E_INTERRUPTED, "interrupted");
        int64_t n = rows - r0 < chunk ? rows - r0 : chunk;
        GF_TRY(gf_hf_read_rows(cv->st, t, &p->map, r0, n, cv->buf, err));
        GF_TRY(write_chunk(cv, p, idx, cv->buf, r0, n, sink, act, sq_err, sq_ref, err));
    }
    return GF_OK;
}

/* ---------------------------------------------------------------- metadata */

/* The source's types, "q4_1 169, f32 61" (counts of tensors), into buf; returns
 * the number of tensors of a block type. */
static int source_types(const conversion *cv, char *buf, size_t n) {
    int count[GF_TYPE_COUNT_] = {0}, quant = 0;
    for (int i = 0; i < cv->n; i++) count[cv->plan[i].src->dtype]++;
    buf[0] = 0;
    for (int t = 0; t < GF_TYPE_COUNT_; t++) {
        if (!count[t]) continue;
        size_t l = strlen(buf);
        snprintf(buf + l, n - l, "%s%s %d", l ? ", " : "", gf_type_name((gf_type)t), count[t]);
        if (gf_type_is_quantized((gf_type)t)) quant += count[t];
    }
    return quant;
}

/* A GGUF input's keys, copied through unchanged: the architecture's, the
 * tokenizer's and the descriptive general.* ones; not what this run rewrites
 * (file type, quantization version, who quantized) nor an earlier gguf-forge run's
 * provenance, which no longer describes the file. */
static gf_status copy_source_meta(gf_gguf_writer *w, const gf_gguf *g) {
    static const char *const rewritten[] = {"general.file_type", "general.quantization_version",
                                            "general.quantized_by"};
    gf_status rc = GF_OK;
    for (uint64_t i = 0; i < g->n_kv && !rc; i++) {
        const char *k = g->kv[i].key.s;
        int skip = !strncmp(k, "gguf-forge.", 11);
        for (size_t j = 0; j < sizeof rewritten / sizeof *rewritten; j++) skip |= !strcmp(k, rewritten[j]);
        if (!skip) rc = gf_gguf_set_kv(w, &g->kv[i]);
    }
    return rc;
}

/* general.name: --name, the source GGUF's, or the input's last path component
 * (".gguf" removed); NULL to keep the copied one. */
static const char *model_name(const conversion *cv, char *buf, size_t n) {
    if (cv->o->name) return cv->o->name;
    if (cv->src && gf_gguf_find(cv->src, "general.name")) return NULL;
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", cv->dir);
    size_t l = strlen(tmp);
    while (l > 1 && tmp[l - 1] == '/') tmp[--l] = '\0';
    if (cv->src && l > 5 && !strcmp(tmp + l - 5, ".gguf")) tmp[l - 5] = '\0';
    const char *b = strrchr(tmp, '/');
    snprintf(buf, n, "%s", b ? b + 1 : tmp);
    return buf;
}

/* gguf-forge.source.*: what a GGUF input was (its file, general.file_type, types). */
static gf_status write_source_meta(const conversion *cv, gf_gguf_writer *w) {
    char types[256];
    source_types(cv, types, sizeof types);
    const char *b = strrchr(cv->dir, '/');
    gf_status rc = gf_gguf_set_str(w, "gguf-forge.source.file", b && b[1] ? b + 1 : cv->dir);
    if (!rc) rc = gf_gguf_set_str(w, "gguf-forge.source.types", types);
    uint32_t ft;
    gf_err e2;
    if (!rc && gf_gguf_find(cv->src, "general.file_type") && !gf_gguf_get_u32(cv->src, "general.file_type", &ft, &e2))
        rc = gf_gguf_set_u32(w, "gguf-forge.source.file_type", ft);
    return rc;
}

/* gguf-forge.lora.*: each merged adapter, in the order applied. */
static gf_status write_lora_meta(const gf_lora *l, gf_gguf_writer *w) {
    gf_status rc = l->n ? gf_gguf_set_u32(w, "gguf-forge.lora.count", (uint32_t)l->n) : GF_OK;
    for (int i = 0; i < l->n && !rc; i++) {
        const gf_lora_adapter *ad = &l->ad[i];
        char k[64], hash[32];
        snprintf(hash, sizeof hash, "fnv1a64:%016llx", (unsigned long long)ad->hash);
        snprintf(k, sizeof k, "gguf-forge.lora.%d.file", i);
        rc = gf_gguf_set_str(w, k, ad->path);
        snprintf(k, sizeof k, "gguf-forge.lora.%d.hash", i);
        if (!rc) rc = gf_gguf_set_str(w, k, hash);
        snprintf(k, sizeof k, "gguf-forge.lora.%d.rank", i);
        if (!rc) rc = gf_gguf_set_u32(w, k, (uint32_t)ad->rank);
        snprintf(k, sizeof k, "gguf-forge.lora.%d.alpha", i);
        if (!rc) rc = gf_gguf_set_f32(w, k, (float)ad->alpha);
        snprintf(k, sizeof k, "gguf-forge.lora.%d.scale", i);
        if (!rc) rc = gf_gguf_set_f32(w, k, (float)ad->user_scale);
        snprintf(k, sizeof k, "gguf-forge.lora.%d.rslora", i);
        if (!rc) rc = gf_gguf_set_bool(w, k, ad->rslora);
    }
    return rc;
}

static gf_status write_meta(const conversion *cv, gf_gguf_writer *w, gf_err *err) {
    const gf_convert_opts *o = cv->o;
    const gf_hfcfg *hp = &cv->hp;
    gf_status rc = cv->src ? copy_source_meta(w, cv->src) : GF_OK;
    if (!rc && !cv->src) GF_TRY(gf_hfcfg_to_gguf(hp, w, err));
    char buf[256];
    const char *name = model_name(cv, buf, sizeof buf);
    gf_type et = o->type, ot = o->type;
    for (int i = 0; i < cv->n; i++) {
        if (cv->plan[i].map.kind == GF_TK_EMBED) et = cv->plan[i].type;
        if (cv->plan[i].map.kind == GF_TK_OUTPUT) ot = cv->plan[i].type;
    }
    const char *src = cv->n ? gf_type_info(cv->plan[0].src->dtype)->name : "none";
    if (!rc && name) rc = gf_gguf_set_str(w, "general.name", name);
    if (!rc) rc = gf_gguf_set_u32(w, "general.file_type", gf_ftype_of(o->type));
    if (!rc) rc = gf_gguf_set_u32(w, "general.quantization_version", 2);
    if (!rc) rc = gf_gguf_set_str(w, "general.quantized_by", "gguf-forge " GF_VERSION);
    if (!rc) rc = gf_gguf_set_str(w, "gguf-forge.version", GF_VERSION);
    if (!rc) rc = gf_gguf_set_str(w, "gguf-forge.type", gf_type_info(o->type)->name);
    if (!rc) rc = gf_gguf_set_str(w, "gguf-forge.embed_type", gf_type_info(et)->name);
    if (!rc && !hp->tie_word_embeddings) rc = gf_gguf_set_str(w, "gguf-forge.output_type", gf_type_info(ot)->name);
    if (!rc) rc = gf_gguf_set_bool(w, "gguf-forge.pure", o->pure);
    if (!rc) rc = gf_gguf_set_str(w, "gguf-forge.method.blocks", (o->blocks ? o->blocks : gf_qmethod_default())->name);
    if (!rc) rc = gf_gguf_set_str(w, "gguf-forge.method.embed", cv->embed_m->name);
    if (!rc && !hp->tie_word_embeddings) rc = gf_gguf_set_str(w, "gguf-forge.method.output", cv->output_m->name);
    if (!rc && o->imatrix) rc = gf_gguf_set_str(w, "gguf-forge.imatrix.file", o->imatrix_name ? o->imatrix_name : "");
    if (!rc && o->imatrix) rc = gf_gguf_set_u32(w, "gguf-forge.imatrix.entries", (uint32_t)o->imatrix->n);
    if (!rc && o->imatrix && o->imatrix->dataset) rc = gf_gguf_set_str(w, "gguf-forge.imatrix.dataset", o->imatrix->dataset);
    if (!rc) rc = gf_gguf_set_str(w, "gguf-forge.source_dtype", src);
    if (!rc) rc = write_lora_meta(&cv->lora, w);
    if (!rc && cv->src) rc = write_source_meta(cv, w);
    return rc ? gf_errf(err, rc, "out of memory writing metadata") : GF_OK;
}

/* ---------------------------------------------------------------- block transforms */

/* Loads decoder block `layer` into the calibration, runs the block method's hook
 * for the layer's matrix type, and advances the calibration activations past it. */
static gf_status transform_layer(gf_calib *c, const gf_qmethod *bt, int layer, gf_type lt, const gf_method_env *env,
                                 const gf_convert_opts *o, block_figures *fig, gf_err *err) {
    /* lt GF_TYPE_F32: nothing to tune (no Q4_0/Q8_0 matrix, or one already on its grid) */
    memset(fig, 0, sizeof *fig);
    gf_block_report rep = {.awq = &fig->awq, .ar = &fig->ar};
    double t0 = gf_time_now();
    GF_TRY(gf_calib_load_layer(c, layer, err));
    if (lt != GF_TYPE_Q4_0 && lt != GF_TYPE_Q8_0) { /* nothing to tune: carry both streams through the float block */
        gf_status rc = gf_calib_forward_layer(c, layer, NULL, err);
        if (rc || !c->xq) return rc;
        float *x = c->x;
        c->x = c->xq;
        rc = gf_calib_forward_layer(c, layer, NULL, err);
        c->xq = c->x;
        c->x = x;
        return rc;
    }
    GF_TRY(bt->transform_block(c, layer, lt, env, &rep, err));
    gf_block_event ev = {.layer = layer, .n_layers = (int)c->cfg->n_layer, .method = bt->name, .awq = rep.awq,
                         .ar = rep.ar, .seconds = gf_time_now() - t0};
    fig->reported = 1;
    fig->has_awq = rep.awq != NULL;
    fig->has_ar = rep.ar != NULL;
    fig->seconds = ev.seconds;
    if (o->block_progress) o->block_progress(o->progress_ctx, &ev);
    return GF_OK;
}

static void conversion_free(conversion *cv) {
    for (int i = 0; i < cv->n_rx; i++) regfree(&cv->rx[i]);
    free(cv->rx);
    free(cv->buf);
    free(cv->qbuf);
    free(cv->scratch);
    free(cv->plan);
    gf_gguf_writer_free(cv->w);
    gf_calib_free(cv->calib);
    gf_probe_free(cv->probe);
    gf_ckpt_free(cv->ck);
    free(cv->act_tmp);
    free(cv->head_h), free(cv->head_out), free(cv->head_tied), free(cv->head_eye);
    gf_imatrix_free(cv->calib_imx);
    gf_vocab_free(cv->vocab);
    gf_st_close(cv->st);
    gf_lora_free(&cv->lora);
    gf_gguf_close(cv->src);
}

/* ---------------------------------------------------------------- step 1: plan */

/* One source tensor into plan[cv->n] (skipped tensors leave no entry). */
static gf_status plan_tensor(conversion *cv, const gf_st_tensor *src, gf_err *err) {
    const gf_convert_opts *o = cv->o;
    plan_entry *p = &cv->plan[cv->n];
    p->src = src;
    gf_status rc = gf_map_tensor(&cv->hp, src->name, &p->map, err);
    if (rc) {
        gf_err_prefix(err, "%s", cv->dir);
        return rc;
    }
    if (p->map.kind == GF_TK_SKIP) return GF_OK;
    GF_TRY(check_shape(p, cv->st->files[src->file].path, cv->src != NULL, err));
    p->group = p->map.kind == GF_TK_EMBED ? 0 : p->map.layer >= 0 ? 1 : p->map.kind == GF_TK_NORM ? 2 : 3;
    gf_type want = pick_type(o, cv->rx, p);
    p->type = want;
    const gf_qmethod *mm = p->map.kind == GF_TK_EMBED ? cv->embed_m : p->map.kind == GF_TK_OUTPUT ? cv->output_m : o->blocks;
    p->method = mm ? mm : gf_qmethod_default();
    p->measure = o->measure || o->checkpoint; /* a checkpoint keeps the figures for a run that shows them */
    p->env = &cv->env;
    const gf_type_traits *wt = gf_type_info(want);
    if (wt->is_quantized && src->row_len % wt->block_size) {
        p->type = GF_TYPE_F16;
        snprintf(p->note, sizeof p->note, "rows of %lld are not a multiple of %lld: f16 instead of %s",
                 (long long)src->row_len, (long long)wt->block_size, wt->name);
        cv->sum->n_fallback++;
    }
    cv->n++;
    return GF_OK;
}

/* Whether every block of p's tensor is already on its type's grid (a QAT checkpoint,
 * a dequantized Q4_0/Q8_0 file): read a chunk at a time, stopping at the first block
 * that is not, which for trained float weights is the first. */
static gf_status on_grid(conversion *cv, const plan_entry *p, float *x, uint8_t *q, int *yes, gf_err *err) {
    const gf_st_tensor *t = p->src;
    int64_t chunk = CHUNK_FLOATS / t->row_len > 0 ? CHUNK_FLOATS / t->row_len : 1;
    *yes = 1;
    for (int64_t r0 = 0; r0 < t->n_rows && *yes; r0 += chunk) {
        int64_t n = t->n_rows - r0 < chunk ? t->n_rows - r0 : chunk;
        GF_TRY(gf_hf_read_rows(cv->st, t, &p->map, r0, n, x, err));
        *yes = gf_quantize_row_exact(p->type, x, q, n * t->row_len);
    }
    return GF_OK;
}

/* Marks the matrices whose weights are on their type's grid: they are written
 * exactly, with no second rounding, whatever the method. */
static gf_status find_grid(conversion *cv, gf_err *err) {
    float *x = NULL;
    uint8_t *q = NULL;
    gf_status rc = GF_OK;
    for (int i = 0; i < cv->n && !rc; i++) {
        plan_entry *p = &cv->plan[i];
        const gf_type_traits *tt = gf_type_info(p->type);
        if (p->src->n_dims != 2 || !tt->from_grid || p->src->row_len % tt->block_size) continue;
        int64_t len = p->src->row_len, chunk = CHUNK_FLOATS / len > 0 ? CHUNK_FLOATS / len : 1;
        if (!x) x = malloc((size_t)(CHUNK_FLOATS > len ? CHUNK_FLOATS : len) * sizeof *x);
        if (!q) q = malloc((size_t)(CHUNK_FLOATS > len ? CHUNK_FLOATS : len) * sizeof *x);
        if (!x || !q) rc = gf_errf(err, GF_E_NOMEM, "out of memory for a chunk of %lld rows", (long long)chunk);
        if (!rc) rc = on_grid(cv, p, x, q, &p->on_grid, err);
        if (!rc && p->on_grid) snprintf(p->note, sizeof p->note, "on grid, exact");
    }
    const gf_qmethod *bt = cv->o->blocks && cv->o->blocks->transform_block ? cv->o->blocks : NULL;
    for (int i = 0; i < cv->n && bt; i++) { /* a block with such a matrix is not tuned (transformed_rows) */
        plan_entry *p = &cv->plan[i];
        int grid = 0;
        for (int k = 0; k < cv->n; k++) grid |= cv->plan[k].map.layer == p->map.layer && cv->plan[k].on_grid;
        if (grid && !p->on_grid && p->map.kind == GF_TK_LINEAR && gf_type_is_quantized(p->type))
            snprintf(p->note, sizeof p->note, "block %d has matrices on the grid: %s does not tune it, %s rounds",
                     p->map.layer, bt->name, p->method->name);
    }
    free(x);
    free(q);
    return rc;
}

/* A quantized GGUF input is announced: the result can only be as good as its source. */
static void announce_source(const conversion *cv) {
    char types[256], msg[512];
    int quant = source_types(cv, types, sizeof types);
    if (!quant || !cv->o->notice) return;
    snprintf(msg, sizeof msg, "requantizing: %s holds quantized weights (%s); the reference of every figure is the "
             "dequantized source, not the original float model", cv->dir, types);
    cv->o->notice(cv->o->progress_ctx, msg);
}

/* The heads' methods: those given, else the block method's defaults for a tied or
 * untied model, announced with the block method's reason. */
static void choose_heads(conversion *cv) {
    const gf_convert_opts *o = cv->o;
    const int tied = cv->hp.tie_word_embeddings;
    cv->embed_m = o->embed, cv->output_m = o->output;
    const char *why = gf_qmethod_heads(o->blocks, tied, &cv->embed_m, &cv->output_m);
    if (!cv->embed_m) cv->embed_m = gf_qmethod_default();
    if (!cv->output_m) cv->output_m = gf_qmethod_default();
    cv->sum->embed_method = cv->embed_m->name;
    cv->sum->output_method = cv->output_m->name;
    if (!why || !o->notice || (o->embed && (tied || o->output))) return;
    char msg[640];
    int n = snprintf(msg, sizeof msg, "heads: the token embedding%s by %s%s", tied ? " (tied: the output head too)" : "",
                     cv->embed_m->name, o->embed ? " (--embed)" : !tied ? " (an untied embedding: its only error is "
                     "the weight error)" : "");
    if (!tied) n += snprintf(msg + n, sizeof msg - (size_t)n, ", the output head by %s%s", cv->output_m->name,
                             o->output ? " (--output)" : "");
    snprintf(msg + n, sizeof msg - (size_t)n, "; the default with --blocks %s: %s", o->blocks->name, why);
    o->notice(o->progress_ctx, msg);
}

/* Reads config.json and the safetensors headers, maps, checks and types every
 * tensor, and loads the vocabulary: bad input is refused before any output. */
static gf_status plan(conversion *cv, gf_err *err) {
    const gf_convert_opts *o = cv->o;
    if (gf_is_gguf_file(cv->dir)) {
        GF_TRY(gf_gguf_source_open(cv->dir, &cv->src, &cv->hp, &cv->st, err));
    } else {
        GF_TRY(gf_hfcfg_load(cv->dir, &cv->hp, err));
        if (!o->vocab_only) GF_TRY(gf_st_open(cv->dir, &cv->st, err));
    }
    cv->rx = calloc((size_t)o->n_rules + 1, sizeof *cv->rx);
    GF_FAIL_IF(!cv->rx, err, GF_E_NOMEM, "out of memory");
    for (; cv->n_rx < o->n_rules; cv->n_rx++)
        GF_FAIL_IF(regcomp(&cv->rx[cv->n_rx], o->rules[cv->n_rx].regex, REG_EXTENDED | REG_NOSUB) != 0, err, GF_E_USAGE,
                   "--tensor-type: '%s' is not a valid regular expression", o->rules[cv->n_rx].regex);

    if (o->autoround) cv->tuning = *o->autoround;
    else gf_ar_opts_from_recipe(&cv->tuning, gf_ar_recipe_find("default"));
    GF_FAIL_IF(cv->tuning.fp_inputs && !(o->blocks && o->blocks->needs_qpath), err, GF_E_USAGE,
               "--fp-inputs: --blocks %s does not tune blocks on the quantized path's inputs",
               (o->blocks ? o->blocks : gf_qmethod_default())->name);
    cv->env = (gf_method_env){.tuning = &cv->tuning, .recipe = o->ar_recipe, .tune_progress = o->ar_progress,
                              .ctx = o->progress_ctx};
    cv->co = o->calib ? *o->calib : (gf_calib_opts){.nsamples = 128, .seqlen = 512};

    for (int i = 0; i < o->n_lora && cv->st && !o->vocab_only; i++) {
        GF_TRY(gf_lora_add(&cv->lora, o->lora[i].dir, o->lora[i].scale, &cv->hp, cv->st, err));
        cv->st->lora = &cv->lora;
    }
    choose_heads(cv);
    int64_t n_src = cv->st && !o->vocab_only ? cv->st->n_tensors : 0; /* --vocab-only reads no tensors */
    cv->plan = calloc((size_t)n_src + 1, sizeof *cv->plan);
    GF_FAIL_IF(!cv->plan, err, GF_E_NOMEM, "out of memory");
    for (int64_t i = 0; i < n_src; i++) GF_TRY(plan_tensor(cv, &cv->st->tensors[i], err));
    qsort(cv->plan, (size_t)cv->n, sizeof *cv->plan, plan_cmp);
    if (!o->vocab_only) GF_TRY(check_complete(&cv->hp, cv->plan, cv->n, cv->dir, err));
    if (!o->vocab_only) GF_TRY(find_grid(cv, err));
    if (cv->src) announce_source(cv);
    /* after the shapes: a config.json that disagrees with the weights fails fast */
    if (cv->src) return gf_vocab_from_gguf(cv->src, &cv->vocab, err);
    return gf_vocab_from_hf(cv->dir, cv->hp.n_vocab, &cv->vocab, err);
}

/* ---------------------------------------------------------------- step 2: calibrate */

/* a method that tunes heads chosen for the embedding or output head (--embed/--output
 * autoround) of a matrix that gets Q4_0/Q8_0 blocks */
static int head_tuned(const plan_entry *p) {
    return !p->on_grid && (p->map.kind == GF_TK_EMBED || p->map.kind == GF_TK_OUTPUT) && p->method->tune_head &&
           p->src->n_dims == 2 && (p->type == GF_TYPE_Q4_0 || p->type == GF_TYPE_Q8_0);
}

/* The quadratic form a head-tuning method minimizes for p's role (built once per role). */
static gf_status head_form(conversion *cv, plan_entry *p, gf_err *err) {
    const int64_t D = p->src->row_len;
    const float *H = cv->head_h;
    float **f = p->map.kind == GF_TK_OUTPUT ? &cv->head_out : cv->hp.tie_word_embeddings ? &cv->head_tied : &cv->head_eye;
    if (!*f) {
        *f = calloc((size_t)(D * D), sizeof **f);
        GF_FAIL_IF(!*f, err, GF_E_NOMEM, "out of memory");
        double tr = 0;
        for (int64_t j = 0; H && j < D; j++) tr += H[j * D + j];
        /* output: H; tied embedding: H scaled to a mean diagonal of 1, plus 0.1 I for the
         * lookup role; untied embedding: I, the plain weight error.  On qwen2-tiny (Q4_0,
         * 200 iterations) the logits' KLD was lowest with the output role alone
         * (0.0083 at 0, 0.0084 at 0.1 I and 0.25 I, 0.0086 at I, 0.0089 at 4 I; omse 0.0090);
         * 0.1 I keeps the lookup role in play at no measurable cost. */
        const float diag = f == &cv->head_tied ? 0.1f : f == &cv->head_eye ? 1.0f : 0.0f;
        for (int64_t j = 0; j < D * D; j++) {
            float h = H && f != &cv->head_eye ? H[j] : 0;
            if (f == &cv->head_tied && tr > 0) h = (float)(h * ((double)D / tr));
            (*f)[j] = h + (j % (D + 1) == 0 ? diag : 0.0f);
        }
    }
    p->head_h = *f;
    return GF_OK;
}

/* Each tensor's importance from cv->imx, for the methods that read it. */
static gf_status attach_importance(conversion *cv, gf_err *err) {
    for (int i = 0; i < cv->n && cv->imx; i++) {
        plan_entry *p = &cv->plan[i];
        if (!p->method->uses_importance || p->src->n_dims != 2 || !gf_type_is_quantized(p->type)) continue;
        const gf_imatrix_entry *ie = gf_imatrix_find(cv->imx, p->map.name);
        /* a tied embedding is the output layer too: its columns see the final hidden state */
        char head[32];
        if (!ie && p->map.kind == GF_TK_EMBED && cv->hp.tie_word_embeddings &&
            gf_tensor_gguf_name(cv->hp.info->top[GF_TOP_OUTPUT].t, -1, head, sizeof head))
            ie = gf_imatrix_find(cv->imx, head);
        GF_FAIL_IF(ie && ie->n != p->src->row_len, err, GF_E_FORMAT,
                   "%s: importance entry '%s' has %lld values, the tensor's rows have %lld",
                   cv->o->imatrix_name ? cv->o->imatrix_name : "calibration", ie->name, (long long)ie->n,
                   (long long)p->src->row_len);
        p->importance = ie ? ie->values : NULL;
        if (!ie) snprintf(p->note, sizeof p->note, "no importance data for this tensor: %s searched without weights",
                          p->method->name);
    }
    return GF_OK;
}

/* Runs what the tensors' methods need before any data is written (per the method
 * table): importance statistics, the head's input moment, the block method's
 * calibration run and quantized path; and the probe for the output-activation error. */
static gf_status calibrate(conversion *cv, gf_err *err) {
    const gf_convert_opts *o = cv->o;
    cv->imx = o->imatrix;
    if (o->checkpoint) GF_TRY(gf_convert_ckpt_open(cv, err));
    int want_stats = 0, want_head = 0;
    for (int i = 0; i < cv->n; i++) {
        const plan_entry *p = &cv->plan[i];
        want_stats |= p->method->uses_importance;
        /* AutoRound's imatrix start reads the block matrices' importance */
        want_stats |= p->method == o->blocks && p->method->tunes && cv->tuning.start == GF_AR_START_IMATRIX;
        /* the output role needs the second moment of the head's calibration inputs (the
         * untied embedding has only the lookup role) */
        want_head |= head_tuned(p) && (p->map.kind == GF_TK_OUTPUT || cv->hp.tie_word_embeddings);
    }
    if ((want_stats && !cv->imx) || want_head) {
        GF_TRY(gf_calib_open(&cv->hp, cv->st, cv->vocab, &cv->co, &cv->calib, err));
        GF_TRY(gf_calib_imatrix(cv->calib, &cv->calib_imx, o->calib_progress, o->progress_ctx, err));
        if (!cv->imx) cv->imx = cv->calib_imx;
        if (want_head) GF_TRY(gf_calib_head_moment(cv->calib, &cv->head_h, err));
    }
    cv->env.imatrix = cv->imx;
    for (int i = 0; i < cv->n; i++)
        if (head_tuned(&cv->plan[i])) GF_TRY(head_form(cv, &cv->plan[i], err));
    /* a block method runs its own calibration pass while writing */
    cv->bt = o->blocks && o->blocks->transform_block ? o->blocks : NULL;
    if (cv->bt) {
        gf_calib_free(cv->calib);
        cv->calib = NULL;
        GF_TRY(gf_calib_open(&cv->hp, cv->st, cv->vocab, &cv->co, &cv->calib, err));
        /* --fp-inputs: every block tunes on the float path, so there is no quantized one to carry */
        if (cv->bt->needs_qpath && !cv->tuning.fp_inputs) GF_TRY(gf_calib_enable_qpath(cv->calib, err));
    }
    if (o->act_error) /* a few samples for the output-activation error */
        GF_TRY(gf_probe_open(&cv->hp, cv->st, cv->vocab, &cv->co, ACT_TOKENS, &cv->probe, err));
    if (cv->ck) GF_TRY(gf_convert_ckpt_resume(cv, err));
    return attach_importance(cv, err);
}

/* ---------------------------------------------------------------- step 3: the header */

/* The calibration's keys (and the block method's own) when calibration ran. */
static gf_status write_calib_meta(const conversion *cv) {
    const gf_convert_opts *o = cv->o;
    const gf_calib *c = cv->calib;
    const char *ct = o->calib && o->calib->text ? o->calib->text : NULL;
    size_t cl = o->calib && o->calib->text ? o->calib->text_len : 0;
    if (!ct) ct = gf_calib_default_text(&cl);
    char hash[32];
    snprintf(hash, sizeof hash, "fnv1a64:%016llx", (unsigned long long)gf_calib_text_hash(ct, cl));
    gf_status rc = gf_gguf_set_str(cv->w, "gguf-forge.calib.file", c->name);
    if (!rc) rc = gf_gguf_set_str(cv->w, "gguf-forge.calib.hash", hash);
    if (!rc) rc = gf_gguf_set_u32(cv->w, "gguf-forge.calib.nsamples", (uint32_t)c->n_samples);
    if (!rc) rc = gf_gguf_set_u32(cv->w, "gguf-forge.calib.seqlen", (uint32_t)c->seqlen);
    if (!rc) rc = gf_gguf_set_u64(cv->w, "gguf-forge.calib.seed", o->calib ? o->calib->seed : 0);
    if (!rc && cv->bt && cv->bt->write_meta) rc = cv->bt->write_meta(cv->w, &cv->env);
    return rc;
}

/* Metadata, vocabulary and tensor infos, written before any data. */
static gf_status write_header(conversion *cv, gf_sink *sink, gf_err *err) {
    cv->w = gf_gguf_writer_new();
    GF_FAIL_IF(!cv->w, err, GF_E_NOMEM, "out of memory");
    GF_TRY(write_meta(cv, cv->w, err));
    if (!cv->src) GF_TRY(gf_vocab_to_gguf(cv->vocab, cv->w, err)); /* a GGUF's tokenizer keys were copied */
    if (cv->calib) {
        gf_status r2 = write_calib_meta(cv);
        GF_FAIL_IF(r2, err, r2, "out of memory writing metadata");
    }
    cv->max_row = 1;
    for (int i = 0; i < (cv->o->vocab_only ? 0 : cv->n); i++) {
        const gf_st_tensor *t = cv->plan[i].src;
        int64_t ne[2] = {t->row_len, t->n_rows};
        GF_TRY(gf_gguf_add_tensor(cv->w, cv->plan[i].map.name, cv->plan[i].type, t->n_dims == 1 ? 1 : 2, ne, err));
        if (t->row_len > cv->max_row) cv->max_row = t->row_len;
    }
    if (cv->hp.n_rope_freqs && !cv->o->vocab_only) { /* made from config.json: after the source's tensors */
        char name[64];
        int64_t ne[2] = {cv->hp.n_rope_freqs, 1};
        gf_tensor_gguf_name(gf_rope_freqs_tensor(), -1, name, sizeof name);
        GF_TRY(gf_gguf_add_tensor(cv->w, name, GF_TYPE_F32, 1, ne, err));
    }
    return gf_gguf_write_header(cv->w, sink, err);
}

/* ---------------------------------------------------------------- step 4: stream */

/* A decoder-block tensor under a block method: its block's hook has run (it runs
 * when the first tensor of a layer comes); *mem gets the rewritten float rows and
 * *blocks the blocks the method chose, or NULL. */
static gf_status transformed_rows(conversion *cv, int i, const float **mem, const void **blocks, gf_err *err) {
    const plan_entry *p = &cv->plan[i];
    if (p->map.layer != cv->bt_layer) {
        gf_type lt = GF_TYPE_F32; /* the type of this layer's matrices (the first quantized one) */
        int grid = 0;             /* a matrix already on its grid: the block is not tuned, so
                                     that no scale is folded past weights written exactly */
        for (int k = cv->n - 1; k >= i; k--)
            if (cv->plan[k].map.layer == p->map.layer && cv->plan[k].map.kind == GF_TK_LINEAR &&
                gf_type_is_quantized(cv->plan[k].type)) {
                lt = cv->plan[k].type;
                grid |= cv->plan[k].on_grid;
            }
        if (grid) lt = GF_TYPE_F32;
        GF_TRY(transform_layer(cv->calib, cv->bt, p->map.layer, lt, &cv->env, cv->o, &cv->fig, err));
        cv->bt_layer = p->map.layer;
    }
    *mem = gf_calib_tensor(cv->calib, p->map.name);
    GF_FAIL_IF(!*mem, err, GF_E_USAGE, "tensor '%s' is not in the transformed block", p->map.name);
    gf_type qt;
    *blocks = gf_calib_blocks(cv->calib, p->map.name, &qt);
    if (*blocks && qt != p->type) *blocks = NULL; /* a --tensor-type override: quantized from the float rows */
    return GF_OK;
}

/* The probe's inputs of a matrix (or the embedding's token counts) into act; *ap
 * = act when there are any. */
static gf_status probe_inputs(conversion *cv, const plan_entry *p, act_acc *act, act_acc **ap, gf_err *err) {
    int64_t n_in = 0;
    if (p->map.layer >= 0) {
        if (p->map.layer != cv->probe_layer) {
            GF_TRY(gf_probe_layer(cv->probe, p->map.layer, cv->bt ? cv->calib : NULL, err));
            cv->probe_layer = p->map.layer;
        }
        act->x = gf_probe_input(cv->probe, p->map.name, &act->n_tok, &n_in);
    } else if (p->map.kind == GF_TK_OUTPUT) {
        if (!cv->probe_final) GF_TRY(gf_probe_final(cv->probe, err));
        cv->probe_final = 1;
        act->x = gf_probe_input(cv->probe, p->map.name, &act->n_tok, &n_in);
    } else if (p->map.kind == GF_TK_EMBED) {
        act->counts = gf_probe_token_counts(cv->probe, &act->n_counts);
    }
    if (act->x && n_in != p->src->row_len) act->x = NULL;
    if (act->x || act->counts) *ap = act;
    return GF_OK;
}

/* Tensor i's rows quantized and written (into the checkpoint too when it keeps them):
 * the sums of its errors into *e2, *r2, its time and output error into ev. */
static gf_status computed_tensor(conversion *cv, int i, gf_sink *sink, gf_convert_event *ev, double *e2, double *r2,
                                 gf_err *err) {
    const plan_entry *p = &cv->plan[i];
    const gf_st_tensor *t = p->src;
    double t1 = gf_time_now();
    const float *mem = NULL;
    const void *blocks = NULL;
    if (cv->bt && p->map.layer >= 0) GF_TRY(transformed_rows(cv, i, &mem, &blocks, err));
    act_acc act = {.tmp = cv->act_tmp}, *ap = NULL;
    if (cv->probe && t->n_dims == 2) GF_TRY(probe_inputs(cv, p, &act, &ap, err));
    cv->ck_capture = cv->ck && cv->ck_writer && p->group <= 1; /* the embedding and the blocks */
    if (cv->ck_capture) GF_TRY(gf_ckpt_tensor_begin(cv->ck, p->map.name, ev->nbytes, err));
    if (blocks) GF_TRY(write_blocks(cv, p, (uint64_t)i, mem, blocks, sink, ap, e2, r2, err));
    else GF_TRY(write_tensor(cv, p, (uint64_t)i, mem, sink, ap, e2, r2, err));
    ev->act_rel = ap && act.r2 > 0 ? sqrt(act.e2 / act.r2) : -1;
    ev->seconds = gf_time_now() - t1;
    if (!cv->ck_capture) return GF_OK;
    cv->ck_capture = 0;
    gf_ckpt_tensor fig = {.name = p->map.name, .e2 = *e2, .r2 = *r2, .act_rel = ev->act_rel, .seconds = ev->seconds};
    return gf_ckpt_tensor_end(cv->ck, &fig, err);
}

/* Tensor i: progress before, its rows quantized and written (or taken from the
 * checkpoint), progress and sums after. */
static gf_status stream_tensor(conversion *cv, int i, gf_sink *sink, gf_err *err) {
    const gf_convert_opts *o = cv->o;
    const plan_entry *p = &cv->plan[i];
    const gf_st_tensor *t = p->src;
    gf_convert_event ev = {.index = i + 1, .count = cv->n, .hf_name = t->name, .name = p->map.name,
                           .n_dims = t->n_dims == 1 ? 1 : 2, .ne = {t->row_len, t->n_rows, 1, 1},
                           .src_type = t->dtype, .type = p->type, .note = p->note[0] ? p->note : NULL,
                           .nbytes = gf_gguf_tensor_nbytes_at(cv->w, (uint64_t)i),
                           .method = p->on_grid ? "exact" : p->method->name,
                           .act_rel = -1};
    double e2, r2;
    if (o->progress) o->progress(o->progress_ctx, &ev);
    if (i < cv->ck_done) GF_TRY(gf_convert_ckpt_tensor(cv, i, sink, &ev, &e2, &r2, err));
    else GF_TRY(computed_tensor(cv, i, sink, &ev, &e2, &r2, err));
    ev.w_mse = e2 / ((double)t->row_len * (double)t->n_rows);
    ev.w_rel = r2 > 0 ? sqrt(e2 / r2) : 0;
    ev.done = 1;
    if (o->progress) o->progress(o->progress_ctx, &ev);
    uint64_t nel = (uint64_t)t->row_len * (uint64_t)t->n_rows;
    cv->sum->n_params += nel;
    cv->sum->in_bytes += t->nbytes;
    if (t->n_dims == 2) {
        cv->sum->n_quant_params += nel;
        cv->sum->quant_bytes += ev.nbytes;
    }
    return GF_OK;
}

/* The data: one chunk of rows at a time (2 rows of room for a permuted bias). */
static gf_status stream(conversion *cv, gf_sink *sink, gf_err *err) {
    int64_t max_row = cv->max_row, cap = (CHUNK_FLOATS > 2 * max_row ? CHUNK_FLOATS : 2 * max_row) + max_row;
    cv->buf = malloc((size_t)cap * sizeof *cv->buf);
    cv->qbuf = malloc((size_t)cap * sizeof *cv->buf);
    cv->scratch = malloc(2 * (size_t)CHUNK_FLOATS * sizeof *cv->scratch);
    if (cv->probe) cv->act_tmp = malloc((size_t)(ACT_ROWS * (max_row + 2 * ACT_TOKENS)) * sizeof *cv->act_tmp);
    GF_FAIL_IF(!cv->buf || !cv->qbuf || !cv->scratch || (cv->probe && !cv->act_tmp), err, GF_E_NOMEM,
               "out of memory for a %lld-float buffer", (long long)cap);
    for (int i = 0; i < cv->n; i++) {
        GF_TRY(stream_tensor(cv, i, sink, err));
        const int layer = cv->plan[i].map.layer; /* a block's last tensor: save the checkpoint */
        if (cv->ck && i >= cv->ck_done && layer >= 0 && (i + 1 == cv->n || cv->plan[i + 1].map.layer != layer))
            GF_TRY(gf_convert_ckpt_save(cv, layer, err));
    }
    if (cv->hp.n_rope_freqs && !cv->o->vocab_only)
        GF_TRY(gf_gguf_write_tensor_data(cv->w, sink, (uint64_t)cv->n, cv->hp.rope_freqs,
                                         (size_t)cv->hp.n_rope_freqs * sizeof(float), err));
    return GF_OK;
}

/* ---------------------------------------------------------------- the pipeline */

gf_status gf_convert(const char *dir, gf_sink *sink, const gf_convert_opts *o, gf_convert_summary *sum, gf_err *err) {
    conversion cv = {.dir = dir, .o = o, .sum = sum, .bt_layer = -1, .probe_layer = -1};
    double t0 = gf_time_now();
    memset(sum, 0, sizeof *sum);
    gf_status rc = plan(&cv, err);
    if (!rc && !o->vocab_only) rc = calibrate(&cv, err);
    if (!rc) rc = write_header(&cv, sink, err);
    if (!rc && !o->vocab_only) rc = stream(&cv, sink, err);
    if (!rc) { /* report */
        sum->n_tensors = o->vocab_only ? 0 : cv.n + (cv.hp.n_rope_freqs > 0);
        sum->out_bytes = gf_gguf_writer_total_size(cv.w);
        sum->seconds = gf_time_now() - t0;
    }
    conversion_free(&cv);
    return rc;
}
