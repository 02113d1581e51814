/*
 * convert.c - the quantize pipeline: HF folder in, GGUF out, one tensor at a time.
 *
 * Plans every tensor first (name, shape check against config.json, block type,
 * fallbacks), so the GGUF header can be written before any data and bad input is
 * refused before a byte of output exists.  Then streams each tensor: pread a chunk
 * of rows, widen to float, quantize rows in parallel (rows are independent, so
 * the bytes never depend on the thread count), write.  Memory: one chunk.
 * Does not choose rounding methods itself: quantize_rows() is the single place
 * where the tensor's method (quantizers/method.h) turns float rows into blocks.
 */
#include "convert.h"

#include <limits.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>

#include "../calib/probe.h"
#include "../engine/gemm.h"
#include "../formats/hfconfig.h"
#include "../formats/hfload.h"
#include "../formats/safetensors.h"
#include "../formats/vocab.h"
#include "../quantizers/blocks.h"

#define CHUNK_FLOATS ((int64_t)1 << 21) /* 8 MB of float rows per read */

typedef struct {
    const gf_st_tensor *src;
    gf_tensor_map map;
    gf_type type;
    const gf_qmethod *method;
    const float *importance;   /* (row_len) from the importance matrix, or NULL */
    const float *head_h;       /* (row_len, row_len): autoround on the embedding/output
                                  head, rows tuned under this quadratic form; or NULL */
    int head_iters;
    double head_lr;
    int measure;               /* compute the weight error while quantizing     */
    char note[160];
    int group; /* order in the file: embedding, blocks, output norm, output */
} plan_entry;

gf_type gf_convert_default_embed_type(gf_type type) {
    return type == GF_TYPE_Q4_0 ? GF_TYPE_Q8_0 : type;
}

uint32_t gf_ftype_of(gf_type type) {
    switch (type) {
    case GF_TYPE_F32: return 0;
    case GF_TYPE_F16: return 1;
    case GF_TYPE_Q4_0: return 2;
    case GF_TYPE_Q8_0: return 7;
    default: return 0;
    }
}

static int plan_cmp(const void *a, const void *b) {
    const plan_entry *x = a, *y = b;
    if (x->group != y->group) return x->group - y->group;
    if (x->map.layer != y->map.layer) return x->map.layer - y->map.layer;
    return strcmp(x->map.name, y->map.name);
}

static int is_quantized(gf_type t) { return t == GF_TYPE_Q4_0 || t == GF_TYPE_Q8_0; }

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

static gf_status check_shape(const plan_entry *p, const char *path, gf_err *err) {
    const gf_st_tensor *t = p->src;
    int want_dims = p->map.cols ? 2 : 1;
    int ok = (int)t->n_dims == want_dims && t->shape[0] == p->map.rows && (want_dims == 1 || t->shape[1] == p->map.cols);
    if (ok) return GF_OK;
    char got[128] = "", want[64];
    for (uint32_t d = 0; d < t->n_dims; d++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    if (want_dims == 2) snprintf(want, sizeof want, "%lld, %lld", (long long)p->map.rows, (long long)p->map.cols);
    else snprintf(want, sizeof want, "%lld", (long long)p->map.rows);
    return gf_errf(err, GF_E_FORMAT, "%s: tensor '%s' has shape [%s], config.json implies [%s]", path, t->name, got, want);
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
                return gf_errf(err, GF_E_FORMAT, "%s: the safetensors have no tensor for GGUF '%s' (%s, %lld layers)", dir,
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

/* The one place float rows become blocks, by the tensor's method. Rows are
 * independent, and the error sums are combined in row order, so any thread
 * count gives the same bytes and the same numbers. err2/ref2 (n_rows doubles of
 * scratch each) receive per-row squared error and squared norm (0 unless the
 * plan measures). */
static void quantize_rows(const plan_entry *p, const float *x, uint8_t *dst, int64_t n_rows, int64_t row_len,
                          double *err2, double *ref2) {
    size_t rs = gf_row_size(p->type, row_len);
    /* autoround on the head tunes the rows together; when it cannot (out of memory),
     * the rows get the method's row quantizer, min-max */
    gf_err e = {0};
    double l0, l1;
    const int tuned = p->head_h && !gf_autoround_rows(p->type, x, n_rows, row_len, p->head_h, p->head_iters, p->head_lr,
                                                      dst, &l0, &l1, &e);
#pragma omp parallel
    {
        float *back = p->measure ? malloc((size_t)row_len * sizeof *back) : NULL;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < n_rows; r++) {
            const float *xr = x + r * row_len;
            uint8_t *qr = dst + (size_t)r * rs;
            if (!tuned) p->method->quantize_row(p->type, xr, qr, row_len, p->importance);
            measure_row(p->type, xr, qr, row_len, back, &err2[r], &ref2[r]);
        }
        free(back);
    }
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
static void act_add(act_acc *a, gf_type type, const float *w, const uint8_t *q, int64_t row0, int64_t n, int64_t len) {
    if (!a) return;
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
        gf_gemm_nt(a->n_tok, m, len, a->x, wc, y, 0);
        gf_gemm_nt(a->n_tok, m, len, a->x, d, e, 0);
        for (int64_t i = 0; i < a->n_tok * m; i++) {
            a->e2 += (double)e[i] * e[i];
            a->r2 += (double)y[i] * y[i];
        }
    }
}

/* Blocks chosen by a method itself (autoround): written as they are; the error
 * is measured against the float rows mem. */
static gf_status write_blocks(const plan_entry *p, const float *mem, const uint8_t *blocks, gf_gguf_writer *w,
                              gf_sink *sink, uint64_t idx, float *back, double *sq_err, double *sq_ref, act_acc *act,
                              gf_err *err) {
    const gf_st_tensor *t = p->src;
    int64_t len = t->row_len;
    size_t rs = gf_row_size(p->type, len);
    *sq_err = *sq_ref = 0;
    for (int64_t r = 0; r < t->n_rows; r++) {
        double e2, n2;
        measure_row(p->type, mem + r * len, blocks + (size_t)r * rs, len, back, &e2, &n2);
        *sq_err += e2;
        *sq_ref += n2;
    }
    act_add(act, p->type, mem, blocks, 0, t->n_rows, len);
    return gf_gguf_write_tensor_data(w, sink, idx, blocks, rs * (size_t)t->n_rows, err);
}

static gf_status write_tensor(const gf_safetensors *st, const plan_entry *p, const float *mem, gf_gguf_writer *w,
                              gf_sink *sink, uint64_t idx, float *buf, uint8_t *qbuf, double *scratch,
                              volatile int *cancel, double *sq_err, double *sq_ref, act_acc *act, gf_err *err) {
    const gf_st_tensor *t = p->src;
    int64_t rows = t->n_rows, len = t->row_len;
    int64_t chunk = CHUNK_FLOATS / len > 0 ? CHUNK_FLOATS / len : 1;
    size_t rs = gf_row_size(p->type, len);
    double *err2 = scratch, *ref2 = scratch + CHUNK_FLOATS;
    gf_status rc;
    *sq_err = *sq_ref = 0;
    if (mem) { /* rewritten by a block transform: already in GGUF layout */
        for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
            int64_t n = rows - r0 < chunk ? rows - r0 : chunk;
            quantize_rows(p, mem + r0 * len, qbuf, n, len, err2, ref2);
            act_add(act, p->type, mem + r0 * len, qbuf, r0, n, len);
            for (int64_t i = 0; i < n; i++) {
                *sq_err += err2[i];
                *sq_ref += ref2[i];
            }
            if ((rc = gf_gguf_write_tensor_part(w, sink, idx, qbuf, rs * (size_t)n, err))) return rc;
        }
        return GF_OK;
    }
    if (p->map.permute_heads && t->n_dims == 1) { /* a permuted bias: read whole */
        if ((rc = gf_hf_read_rows(st, t, &p->map, 0, 1, buf, err))) return rc;
        quantize_rows(p, buf, qbuf, 1, len, err2, ref2);
        *sq_err = err2[0];
        *sq_ref = ref2[0];
        return gf_gguf_write_tensor_part(w, sink, idx, qbuf, rs, err);
    }
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
        if (cancel && *cancel) return gf_errf(err, GF_E_INTERRUPTED, "interrupted");
        int64_t n = rows - r0 < chunk ? rows - r0 : chunk;
        if ((rc = gf_hf_read_rows(st, t, &p->map, r0, n, buf, err))) return rc;
        quantize_rows(p, buf, qbuf, n, len, err2, ref2);
        act_add(act, p->type, buf, qbuf, r0, n, len);
        for (int64_t i = 0; i < n; i++) {
            *sq_err += err2[i];
            *sq_ref += ref2[i];
        }
        if ((rc = gf_gguf_write_tensor_part(w, sink, idx, qbuf, rs * (size_t)n, err))) return rc;
    }
    return GF_OK;
}

/* ---------------------------------------------------------------- metadata */

static gf_status write_meta(gf_gguf_writer *w, const gf_hfcfg *hp, const gf_convert_opts *o, const char *dir,
                            const plan_entry *plan, int n, gf_err *err) {
    gf_status rc = gf_hfcfg_to_gguf(hp, w, err);
    if (rc) return rc;
    char name[256];
    if (o->name) {
        snprintf(name, sizeof name, "%s", o->name);
    } else { /* the folder's last component */
        char tmp[PATH_MAX];
        snprintf(tmp, sizeof tmp, "%s", dir);
        size_t l = strlen(tmp);
        while (l > 1 && tmp[l - 1] == '/') tmp[--l] = '\0';
        const char *b = strrchr(tmp, '/');
        snprintf(name, sizeof name, "%s", b ? b + 1 : tmp);
    }
    gf_type et = o->type, ot = o->type;
    for (int i = 0; i < n; i++) {
        if (plan[i].map.kind == GF_TK_EMBED) et = plan[i].type;
        if (plan[i].map.kind == GF_TK_OUTPUT) ot = plan[i].type;
    }
    const char *src = n ? gf_type_info(plan[0].src->dtype)->name : "none";
    if (!rc) rc = gf_gguf_set_str(w, "general.name", name);
    if (!rc) rc = gf_gguf_set_u32(w, "general.file_type", gf_ftype_of(o->type));
    if (!rc) rc = gf_gguf_set_u32(w, "general.quantization_version", 2);
    if (!rc) rc = gf_gguf_set_str(w, "general.quantized_by", "gguf-forge " GF_VERSION);
    if (!rc) rc = gf_gguf_set_str(w, "gguf-forge.version", GF_VERSION);
    if (!rc) rc = gf_gguf_set_str(w, "gguf-forge.type", gf_type_info(o->type)->name);
    if (!rc) rc = gf_gguf_set_str(w, "gguf-forge.embed_type", gf_type_info(et)->name);
    if (!rc && !hp->tie_word_embeddings) rc = gf_gguf_set_str(w, "gguf-forge.output_type", gf_type_info(ot)->name);
    if (!rc) rc = gf_gguf_set_bool(w, "gguf-forge.pure", o->pure);
    if (!rc) rc = gf_gguf_set_str(w, "gguf-forge.method.blocks", o->blocks ? o->blocks->name : "minmax");
    if (!rc) rc = gf_gguf_set_str(w, "gguf-forge.method.embed", o->embed ? o->embed->name : "minmax");
    if (!rc && !hp->tie_word_embeddings) rc = gf_gguf_set_str(w, "gguf-forge.method.output", o->output ? o->output->name : "minmax");
    if (!rc && o->imatrix) rc = gf_gguf_set_str(w, "gguf-forge.imatrix.file", o->imatrix_name ? o->imatrix_name : "");
    if (!rc && o->imatrix) rc = gf_gguf_set_u32(w, "gguf-forge.imatrix.entries", (uint32_t)o->imatrix->n);
    if (!rc && o->imatrix && o->imatrix->dataset) rc = gf_gguf_set_str(w, "gguf-forge.imatrix.dataset", o->imatrix->dataset);
    if (!rc) rc = gf_gguf_set_str(w, "gguf-forge.source_dtype", src);
    return rc ? gf_errf(err, rc, "out of memory writing metadata") : GF_OK;
}

/* ---------------------------------------------------------------- block transforms */

/* Loads decoder block `layer` into the calibration, applies the block method
 * (awq, autoround, awq+autoround) for the layer's matrix type, and advances the
 * calibration activations past it. */
static gf_status transform_layer(gf_calib *c, const gf_qmethod *bt, int layer, gf_type lt, const gf_convert_opts *o,
                                 gf_err *err) {
    int awq = strstr(bt->name, "awq") != NULL, ar = strstr(bt->name, "autoround") != NULL;
    gf_awq_report awq_rep;
    gf_ar_report ar_rep;
    gf_block_event ev = {.layer = layer, .n_layers = (int)c->cfg->n_layer, .method = bt->name};
    double t0 = gf_time_now();
    gf_status rc = gf_calib_load_layer(c, layer, err);
    if (rc) return rc;
    if (lt != GF_TYPE_Q4_0 && lt != GF_TYPE_Q8_0) { /* nothing to tune: carry both streams through the float block */
        if ((rc = gf_calib_forward_layer(c, layer, NULL, err)) || !c->xq) return rc;
        float *x = c->x;
        c->x = c->xq;
        rc = gf_calib_forward_layer(c, layer, NULL, err);
        c->xq = c->x;
        c->x = x;
        return rc;
    }
    if (awq) {
        size_t bytes = (size_t)(c->n_samples * c->seqlen * c->cfg->n_embd) * sizeof(float);
        float *x0 = ar ? malloc(bytes) : NULL;
        if (ar && !x0) return gf_errf(err, GF_E_NOMEM, "out of memory");
        if (x0) memcpy(x0, c->x, bytes);
        /* before AutoRound: fold the scales only (clipping would change the float targets) */
        gf_awq_opts ao = {.max_tokens = 512, .clip = !ar};
        rc = gf_awq_layer(c, layer, lt, &ao, &awq_rep, err);
        if (x0) { /* AutoRound's targets start from this block's input */
            memcpy(c->x, x0, bytes);
            free(x0);
        }
        if (rc) return rc;
        ev.awq = &awq_rep;
    }
    if (ar) {
        gf_ar_opts ro = {0};
        if (o->autoround) ro = *o->autoround;
        else gf_ar_opts_from_recipe(&ro, gf_ar_recipe_find("default"));
        if ((rc = gf_autoround_layer(c, layer, lt, &ro, &ar_rep, o->ar_progress, o->progress_ctx, err))) return rc;
        ev.ar = &ar_rep;
    }
    ev.seconds = gf_time_now() - t0;
    if (o->block_progress) o->block_progress(o->progress_ctx, &ev);
    return GF_OK;
}

/* ---------------------------------------------------------------- driver */

/* autoround chosen for the embedding or output head (--embed/--output autoround) of a
 * matrix that gets Q4_0/Q8_0 blocks */
static int head_autoround(const plan_entry *p) {
    return (p->map.kind == GF_TK_EMBED || p->map.kind == GF_TK_OUTPUT) && !strcmp(p->method->name, "autoround") &&
           p->src->n_dims == 2 && (p->type == GF_TYPE_Q4_0 || p->type == GF_TYPE_Q8_0);
}

gf_status gf_convert(const char *dir, gf_sink *sink, const gf_convert_opts *o, gf_convert_summary *sum, gf_err *err) {
    gf_status rc;
    gf_hfcfg hp;
    gf_safetensors *st = NULL;
    gf_vocab *vocab = NULL;
    gf_gguf_writer *w = NULL;
    plan_entry *plan = NULL;
    regex_t *rx = NULL;
    int n_rx = 0, n = 0;
    float *buf = NULL;
    uint8_t *qbuf = NULL;
    double *scratch = NULL;
    gf_calib *calib = NULL;
    gf_imatrix *calib_imx = NULL;
    gf_probe *probe = NULL;
    float *act_tmp = NULL, *head_h = NULL, *head_out = NULL, *head_tied = NULL, *head_eye = NULL;
    int bt_layer = -1, probe_layer = -1, probe_final = 0;
    double t0 = gf_time_now();
    memset(sum, 0, sizeof *sum);

    if ((rc = gf_hfcfg_load(dir, &hp, err))) goto done;
    if (!o->vocab_only && (rc = gf_st_open(dir, &st, err))) goto done;

    rx = calloc((size_t)o->n_rules + 1, sizeof *rx);
    if (!rx) { rc = gf_errf(err, GF_E_NOMEM, "out of memory"); goto done; }
    for (; n_rx < o->n_rules; n_rx++) {
        if (regcomp(&rx[n_rx], o->rules[n_rx].regex, REG_EXTENDED | REG_NOSUB) != 0) {
            rc = gf_errf(err, GF_E_USAGE, "--tensor-type: '%s' is not a valid regular expression", o->rules[n_rx].regex);
            goto done;
        }
    }

    /* plan: map, check and type every tensor before writing anything */
    int64_t n_src = st ? st->n_tensors : 0; /* --vocab-only reads no safetensors */
    plan = calloc((size_t)n_src + 1, sizeof *plan);
    if (!plan) { rc = gf_errf(err, GF_E_NOMEM, "out of memory"); goto done; }
    for (int64_t i = 0; i < n_src; i++) {
        plan_entry *p = &plan[n];
        p->src = &st->tensors[i];
        if ((rc = gf_map_tensor(&hp, p->src->name, &p->map, err))) {
            gf_err_prefix(err, "%s", dir);
            goto done;
        }
        if (p->map.kind == GF_TK_SKIP) continue;
        if ((rc = check_shape(p, st->files[p->src->file].path, err))) goto done;
        p->group = p->map.kind == GF_TK_EMBED ? 0 : p->map.layer >= 0 ? 1 : p->map.kind == GF_TK_NORM ? 2 : 3;
        gf_type want = pick_type(o, rx, p);
        p->type = want;
        const gf_qmethod *mm = p->map.kind == GF_TK_EMBED ? o->embed : p->map.kind == GF_TK_OUTPUT ? o->output : o->blocks;
        p->method = mm ? mm : gf_qmethod_find("minmax");
        p->measure = o->measure;
        if (is_quantized(want) && p->src->row_len % GF_QK) {
            p->type = GF_TYPE_F16;
            snprintf(p->note, sizeof p->note, "rows of %lld are not a multiple of %d: f16 instead of %s",
                     (long long)p->src->row_len, GF_QK, gf_type_info(want)->name);
            sum->n_fallback++;
        }
        n++;
    }
    qsort(plan, (size_t)n, sizeof *plan, plan_cmp);
    if (!o->vocab_only && (rc = check_complete(&hp, plan, n, dir, err))) goto done;
    /* after the shapes: a config.json that disagrees with the weights fails fast */
    if ((rc = gf_vocab_from_hf(dir, hp.n_vocab, &vocab, err))) goto done;

    /* importance statistics from calibration, for the methods that want them */
    const gf_imatrix *imx = o->imatrix;
    const gf_calib_opts co = o->calib ? *o->calib : (gf_calib_opts){.nsamples = 128, .seqlen = 512};
    int want_stats = 0;
    for (int i = 0; i < n; i++) want_stats |= plan[i].method->uses_importance;
    /* autoround on the embedding/output head: the output role needs the second moment
     * of the head's calibration inputs (the untied embedding has only the lookup role) */
    int want_head = 0;
    for (int i = 0; i < n; i++)
        if (head_autoround(&plan[i]) && (plan[i].map.kind == GF_TK_OUTPUT || hp.tie_word_embeddings)) want_head = 1;
    if (((want_stats && !imx) || want_head) && !o->vocab_only) {
        if ((rc = gf_calib_open(&hp, st, vocab, &co, &calib, err))) goto done;
        if ((rc = gf_calib_imatrix(calib, &calib_imx, o->calib_progress, o->progress_ctx, err))) goto done;
        if (!imx) imx = calib_imx;
        if (want_head && (rc = gf_calib_head_moment(calib, &head_h, err))) goto done;
    }
    for (int i = 0; i < n && !o->vocab_only; i++) {
        plan_entry *p = &plan[i];
        if (!head_autoround(p)) continue;
        const int64_t D = p->src->row_len;
        float **hp_ = p->map.kind == GF_TK_OUTPUT ? &head_out : hp.tie_word_embeddings ? &head_tied : &head_eye;
        if (!*hp_) {
            if (!(*hp_ = calloc((size_t)(D * D), sizeof **hp_))) { rc = gf_errf(err, GF_E_NOMEM, "out of memory"); goto done; }
            double tr = 0;
            for (int64_t j = 0; head_h && j < D; j++) tr += head_h[j * D + j];
            /* output: H; tied embedding: H scaled to a mean diagonal of 1, plus 0.1 I for the
             * lookup role; untied embedding: I, the plain weight error.  On qwen2-tiny (Q4_0,
             * 200 iterations) the logits' KLD was lowest with the output role alone
             * (0.0083 at 0, 0.0084 at 0.1 I and 0.25 I, 0.0086 at I, 0.0089 at 4 I; omse 0.0090);
             * 0.1 I keeps the lookup role in play at no measurable cost. */
            const float diag = hp_ == &head_tied ? 0.1f : hp_ == &head_eye ? 1.0f : 0.0f;
            for (int64_t j = 0; j < D * D; j++) {
                float h = head_h && hp_ != &head_eye ? head_h[j] : 0;
                if (hp_ == &head_tied && tr > 0) h = (float)(h * ((double)D / tr));
                (*hp_)[j] = h + (j % (D + 1) == 0 ? diag : 0.0f);
            }
        }
        gf_ar_opts ro = {0};
        if (o->autoround) ro = *o->autoround;
        else gf_ar_opts_from_recipe(&ro, gf_ar_recipe_find("default"));
        p->head_h = *hp_;
        p->head_iters = ro.iters;
        p->head_lr = ro.lr;
    }
    /* block transforms (awq) run their own calibration pass while writing */
    const gf_qmethod *bt = o->blocks && o->blocks->block_transform && !o->vocab_only ? o->blocks : NULL;
    if (bt) {
        if (calib) {
            gf_calib_free(calib);
            calib = NULL;
        }
        if ((rc = gf_calib_open(&hp, st, vocab, &co, &calib, err))) goto done;
        if (strstr(bt->name, "autoround") && (rc = gf_calib_enable_qpath(calib, err))) goto done;
    }
    if (o->act_error && !o->vocab_only) { /* a few samples for the output-activation error */
        if ((rc = gf_probe_open(&hp, st, vocab, &co, ACT_TOKENS, &probe, err))) goto done;
    }
    for (int i = 0; i < n && imx; i++) { /* attach each tensor's importance */
        plan_entry *p = &plan[i];
        if (!p->method->uses_importance || p->src->n_dims != 2 || !is_quantized(p->type)) continue;
        const gf_imatrix_entry *ie = gf_imatrix_find(imx, p->map.name);
        /* a tied embedding is the output layer too: its columns see the final hidden state */
        char head[32];
        if (!ie && p->map.kind == GF_TK_EMBED && hp.tie_word_embeddings &&
            gf_tensor_gguf_name(hp.info->top[GF_TOP_OUTPUT].t, -1, head, sizeof head))
            ie = gf_imatrix_find(imx, head);
        if (ie && ie->n != p->src->row_len) {
            rc = gf_errf(err, GF_E_FORMAT, "%s: importance entry '%s' has %lld values, the tensor's rows have %lld",
                         o->imatrix_name ? o->imatrix_name : "calibration", ie->name, (long long)ie->n,
                         (long long)p->src->row_len);
            goto done;
        }
        p->importance = ie ? ie->values : NULL;
        if (!ie) snprintf(p->note, sizeof p->note, "no importance data for this tensor: %s searched without weights",
                          p->method->name);
    }

    /* metadata and header */
    if (!(w = gf_gguf_writer_new())) { rc = gf_errf(err, GF_E_NOMEM, "out of memory"); goto done; }
    if ((rc = write_meta(w, &hp, o, dir, plan, n, err))) goto done;
    if ((rc = gf_vocab_to_gguf(vocab, w, err))) goto done;
    if (calib) {
        const char *ct = o->calib && o->calib->text ? o->calib->text : NULL;
        size_t cl = o->calib && o->calib->text ? o->calib->text_len : 0;
        if (!ct) ct = gf_calib_default_text(&cl);
        char hash[32];
        snprintf(hash, sizeof hash, "fnv1a64:%016llx", (unsigned long long)gf_calib_text_hash(ct, cl));
        gf_status r2 = gf_gguf_set_str(w, "gguf-forge.calib.file", calib->name);
        if (!r2) r2 = gf_gguf_set_str(w, "gguf-forge.calib.hash", hash);
        if (!r2) r2 = gf_gguf_set_u32(w, "gguf-forge.calib.nsamples", (uint32_t)calib->n_samples);
        if (!r2) r2 = gf_gguf_set_u32(w, "gguf-forge.calib.seqlen", (uint32_t)calib->seqlen);
        if (!r2) r2 = gf_gguf_set_u64(w, "gguf-forge.calib.seed", o->calib ? o->calib->seed : 0);
        if (!r2 && bt && strstr(bt->name, "autoround")) {
            gf_ar_opts ro = {0};
            if (o->autoround) ro = *o->autoround;
            else gf_ar_opts_from_recipe(&ro, gf_ar_recipe_find("default"));
            r2 = gf_gguf_set_str(w, "gguf-forge.autoround.recipe", o->ar_recipe ? o->ar_recipe : "default");
            if (!r2) r2 = gf_gguf_set_u32(w, "gguf-forge.autoround.iters", (uint32_t)ro.iters);
            if (!r2) r2 = gf_gguf_set_f32(w, "gguf-forge.autoround.lr", (float)(ro.lr > 0 ? ro.lr : ro.iters ? 1.0 / ro.iters : 0));
            if (!r2) r2 = gf_gguf_set_u32(w, "gguf-forge.autoround.batch", (uint32_t)ro.batch);
            if (!r2) r2 = gf_gguf_set_u64(w, "gguf-forge.autoround.seed", ro.seed);
        }
        if (r2) { rc = gf_errf(err, r2, "out of memory writing metadata"); goto done; }
    }
    int64_t max_row = 1;
    for (int i = 0; i < (o->vocab_only ? 0 : n); i++) {
        const gf_st_tensor *t = plan[i].src;
        int64_t ne[2] = {t->row_len, t->n_rows};
        if ((rc = gf_gguf_add_tensor(w, plan[i].map.name, plan[i].type, t->n_dims == 1 ? 1 : 2, ne, err))) goto done;
        if (t->row_len > max_row) max_row = t->row_len;
    }
    if ((rc = gf_gguf_write_header(w, sink, err))) goto done;
    if (o->vocab_only) goto finish;

    /* data: one chunk of rows at a time (2 rows of room for a permuted bias) */
    int64_t cap = (CHUNK_FLOATS > 2 * max_row ? CHUNK_FLOATS : 2 * max_row) + max_row;
    buf = malloc((size_t)cap * sizeof *buf);
    qbuf = malloc((size_t)cap * sizeof *buf);
    scratch = malloc(2 * (size_t)CHUNK_FLOATS * sizeof *scratch);
    if (probe) act_tmp = malloc((size_t)(ACT_ROWS * (max_row + 2 * ACT_TOKENS)) * sizeof *act_tmp);
    if (!buf || !qbuf || !scratch || (probe && !act_tmp)) { rc = gf_errf(err, GF_E_NOMEM, "out of memory for a %lld-float buffer", (long long)cap); goto done; }
    for (int i = 0; i < n; i++) {
        const plan_entry *p = &plan[i];
        const gf_st_tensor *t = p->src;
        gf_convert_event ev = {.index = i + 1, .count = n, .hf_name = t->name, .name = p->map.name,
                               .n_dims = t->n_dims == 1 ? 1 : 2, .ne = {t->row_len, t->n_rows, 1, 1},
                               .src_type = t->dtype, .type = p->type, .note = p->note[0] ? p->note : NULL,
                               .nbytes = gf_gguf_tensor_nbytes_at(w, (uint64_t)i), .method = p->method->name,
                               .act_rel = -1};
        double t1 = gf_time_now(), e2, r2;
        if (o->progress) o->progress(o->progress_ctx, &ev);
        const float *mem = NULL;
        const void *blocks = NULL;
        if (bt && p->map.layer >= 0) {
            if (p->map.layer != bt_layer) {
                gf_type lt = GF_TYPE_F32; /* the type of this layer's matrices (the first quantized one) */
                for (int k = n - 1; k >= i; k--)
                    if (plan[k].map.layer == p->map.layer && plan[k].map.kind == GF_TK_LINEAR && is_quantized(plan[k].type))
                        lt = plan[k].type;
                if ((rc = transform_layer(calib, bt, p->map.layer, lt, o, err))) goto done;
                bt_layer = p->map.layer;
            }
            if (!(mem = gf_calib_tensor(calib, p->map.name))) {
                rc = gf_errf(err, GF_E_USAGE, "tensor '%s' is not in the transformed block", p->map.name);
                goto done;
            }
            gf_type qt;
            blocks = gf_calib_blocks(calib, p->map.name, &qt);
            if (blocks && qt != p->type) blocks = NULL; /* a --tensor-type override: quantized from the float rows */
        }
        act_acc act = {.tmp = act_tmp}, *ap = NULL;
        if (probe && t->n_dims == 2) { /* the inputs this matrix sees on the probe's samples */
            int64_t n_in = 0;
            if (p->map.layer >= 0) {
                if (p->map.layer != probe_layer) {
                    if ((rc = gf_probe_layer(probe, p->map.layer, bt ? calib : NULL, err))) goto done;
                    probe_layer = p->map.layer;
                }
                act.x = gf_probe_input(probe, p->map.name, &act.n_tok, &n_in);
            } else if (p->map.kind == GF_TK_OUTPUT) {
                if (!probe_final && (rc = gf_probe_final(probe, err))) goto done;
                probe_final = 1;
                act.x = gf_probe_input(probe, p->map.name, &act.n_tok, &n_in);
            } else if (p->map.kind == GF_TK_EMBED) {
                act.counts = gf_probe_token_counts(probe, &act.n_counts);
            }
            if (act.x && n_in != t->row_len) act.x = NULL;
            if (act.x || act.counts) ap = &act;
        }
        if (blocks) rc = write_blocks(p, mem, blocks, w, sink, (uint64_t)i, buf, &e2, &r2, ap, err);
        else rc = write_tensor(st, p, mem, w, sink, (uint64_t)i, buf, qbuf, scratch, o->cancel, &e2, &r2, ap, err);
        if (rc) goto done;
        ev.act_rel = ap && act.r2 > 0 ? sqrt(act.e2 / act.r2) : -1;
        ev.seconds = gf_time_now() - t1;
        ev.w_mse = e2 / ((double)t->row_len * (double)t->n_rows);
        ev.w_rel = r2 > 0 ? sqrt(e2 / r2) : 0;
        ev.done = 1;
        if (o->progress) o->progress(o->progress_ctx, &ev);
        uint64_t nel = (uint64_t)t->row_len * (uint64_t)t->n_rows;
        sum->n_params += nel;
        sum->in_bytes += t->nbytes;
        if (t->n_dims == 2) {
            sum->n_quant_params += nel;
            sum->quant_bytes += ev.nbytes;
        }
    }
finish:
    sum->n_tensors = o->vocab_only ? 0 : n;
    sum->out_bytes = gf_gguf_writer_total_size(w);
    sum->seconds = gf_time_now() - t0;
    rc = GF_OK;
done:
    for (int i = 0; i < n_rx; i++) regfree(&rx[i]);
    free(rx);
    free(buf);
    free(qbuf);
    free(scratch);
    free(plan);
    gf_gguf_writer_free(w);
    gf_calib_free(calib);
    gf_probe_free(probe);
    free(act_tmp);
    free(head_h), free(head_out), free(head_tied), free(head_eye);
    gf_imatrix_free(calib_imx);
    gf_vocab_free(vocab);
    gf_st_close(st);
    return rc;
}
