/*
 * resume.c - the quantize pipeline's side of `--checkpoint DIR` (the folder's format is
 * calib/checkpoint.c's): what identifies a run (the model and every option that changes
 * the bytes), what is saved after each block (the calibration's float and quantized-path
 * streams -- no quantized path with --fp-inputs --, the probe's, what the block method reported) and how a run resumes after the
 * last saved block (the saved tensors checked against the plan, the streams read back,
 * the reports replayed).  convert/convert.c copies the tensor bytes into the checkpoint
 * as it writes them and calls these at the step boundaries.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/hash.h"
#include "../common/textfile.h"
#include "../calib/dist.h"
#include "../engine/cpu.h"
#include "conversion.h"

/* The identity text a checkpoint is checked against: one "what\tvalue" line for the
 * model and for every option that changes the bytes written (not -t, -q, --report). */
typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} idtext;

__attribute__((format(printf, 3, 4))) static void idline(idtext *t, const char *what, const char *fmt, ...) {
    char val[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(val, sizeof val, fmt, ap);
    va_end(ap);
    for (char *c = val; *c; c++)
        if (*c == '\t' || *c == '\n') *c = ' '; /* a path or a regex must not break the lines */
    size_t need = t->len + strlen(what) + strlen(val) + 3;
    if (need > t->cap) {
        char *s = realloc(t->s, need * 2);
        if (!s) return (void)(t->oom = 1);
        t->s = s, t->cap = need * 2;
    }
    t->len += (size_t)sprintf(t->s + t->len, "%s\t%s\n", what, val);
}

/* the model: its name, its files' sizes, its tensor table and (a folder's) config.json */
static gf_status model_identity(const conversion *cv, idtext *t, gf_err *err) {
    const gf_safetensors *st = cv->st;
    uint64_t size = 0, h = GF_FNV1A64_BASIS;
    for (int f = 0; f < st->n_files; f++) size += st->files[f].size;
    for (int64_t i = 0; i < st->n_tensors; i++) {
        const gf_st_tensor *x = &st->tensors[i];
        uint64_t v[4] = {(uint64_t)x->dtype, x->n_dims, x->offset, x->nbytes};
        h = gf_fnv1a64_from(h, x->name, strlen(x->name) + 1);
        h = gf_fnv1a64_from(h, v, sizeof v);
        h = gf_fnv1a64_from(h, x->shape, sizeof x->shape);
    }
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", cv->dir);
    size_t l = strlen(tmp);
    while (l > 1 && tmp[l - 1] == '/') tmp[--l] = '\0';
    const char *b = strrchr(tmp, '/');
    idline(t, "the model", "%s", b ? b + 1 : tmp);
    idline(t, "the model's size", "%llu bytes in %d files", (unsigned long long)size, st->n_files);
    idline(t, "the model's tensor table", "fnv1a64:%016llx", (unsigned long long)h);
    if (!cv->src) {
        char path[PATH_MAX + 16], *text = NULL;
        size_t len = 0;
        snprintf(path, sizeof path, "%s/config.json", cv->dir);
        GF_TRY(gf_read_text(path, (size_t)1 << 24, &text, &len, err));
        idline(t, "the model's config.json", "fnv1a64:%016llx", (unsigned long long)gf_fnv1a64(text, len));
        free(text);
    }
    return GF_OK;
}

/* what a --tensor-type rule list, an imatrix and the lora adapters are, in one value each */
static void input_identity(const conversion *cv, idtext *t) {
    const gf_convert_opts *o = cv->o;
    char buf[1024] = "none";
    for (int i = 0; i < o->n_rules; i++)
        snprintf(buf + (i ? strlen(buf) : 0), sizeof buf - (i ? strlen(buf) : 0), "%s%s=%s", i ? " " : "",
                 o->rules[i].regex, gf_type_name(o->rules[i].type));
    idline(t, "option --tensor-type", "%s", buf);
    uint64_t h = GF_FNV1A64_BASIS;
    for (int64_t i = 0; o->imatrix && i < o->imatrix->n; i++) {
        const gf_imatrix_entry *e = &o->imatrix->e[i];
        h = gf_fnv1a64_from(h, e->name, strlen(e->name) + 1);
        h = gf_fnv1a64_from(h, e->values, (size_t)e->n * sizeof *e->values);
    }
    if (o->imatrix) idline(t, "option --imatrix", "%s fnv1a64:%016llx", o->imatrix_name ? o->imatrix_name : "",
                           (unsigned long long)h);
    else idline(t, "option --imatrix", "none");
    snprintf(buf, sizeof buf, "none");
    for (int i = 0; i < cv->lora.n; i++)
        snprintf(buf + (i ? strlen(buf) : 0), sizeof buf - (i ? strlen(buf) : 0), "%s%s fnv1a64:%016llx x%.17g",
                 i ? ", " : "", cv->lora.ad[i].path, (unsigned long long)cv->lora.ad[i].hash, cv->lora.ad[i].user_scale);
    idline(t, "option --lora", "%s", buf);
}

static gf_status run_identity(const conversion *cv, char **out, gf_err *err) {
    const gf_convert_opts *o = cv->o;
    const gf_ar_opts *a = &cv->tuning;
    idtext t = {0};
    gf_status rc = model_identity(cv, &t, err);
    const char *ct = cv->co.text;
    size_t cl = cv->co.text_len;
    if (!ct) ct = gf_calib_default_text(&cl);
    idline(&t, "gguf-forge", "%s", GF_VERSION);
    idline(&t, "the kernel set", "%s", gf_kernels_name(gf_kernels_default()));
    /* AutoRound's minibatch gradient: the MPI build sums per-sample gradients in fixed point, the plain
     * build in float (its identity as before): a checkpoint of the other build is another run */
    if (gf_ar_gradient_sum()) idline(&t, "the AutoRound gradient sum", "%s", gf_ar_gradient_sum());
    idline(&t, "option --type", "%s", gf_type_name(o->type));
    idline(&t, "option --embed-type", "%s", o->embed_type >= 0 ? gf_type_name((gf_type)o->embed_type) : "default");
    idline(&t, "option --output-type", "%s", o->output_type >= 0 ? gf_type_name((gf_type)o->output_type) : "default");
    idline(&t, "option --pure", "%s", o->pure ? "yes" : "no");
    input_identity(cv, &t);
    idline(&t, "option --blocks", "%s", (o->blocks ? o->blocks : gf_qmethod_default())->name);
    idline(&t, "option --embed", "%s", cv->embed_m->name);
    idline(&t, "option --output", "%s", cv->output_m->name);
    idline(&t, "option --calib", "%s fnv1a64:%016llx", cv->co.text ? cv->co.name : "built-in",
           (unsigned long long)gf_calib_text_hash(ct, cl));
    idline(&t, "option --nsamples", "%lld", (long long)cv->co.nsamples);
    idline(&t, "option --seqlen", "%lld", (long long)cv->co.seqlen);
    idline(&t, "option --seed", "%llu", (unsigned long long)cv->co.seed);
    idline(&t, "option --recipe", "%s", o->ar_recipe ? o->ar_recipe : "default");
    idline(&t, "option --iters", "%d", a->iters);
    idline(&t, "option --batch", "%lld", (long long)a->batch);
    if (a->lr > 0) idline(&t, "option --lr", "%.17g", a->lr);
    else idline(&t, "option --lr", "auto");
    idline(&t, "AutoRound's minibatch seed", "%llu", (unsigned long long)a->seed);
    idline(&t, "AutoRound's range tuning", "%d", a->tune_range);
    idline(&t, "option --init", "%s", gf_ar_starts[a->start]);
    idline(&t, "option --fp-inputs", "%s", a->fp_inputs ? "yes" : "no");
    idline(&t, "option --name", "%s", o->name ? o->name : "(the model's)");
    if (!rc && t.oom) rc = gf_errf(err, GF_E_NOMEM, "out of memory");
    if (rc) free(t.s);
    else *out = t.s;
    return rc;
}

/* The saved tensors must be this run's first ones, ending with a whole block. */
static gf_status check_saved(const conversion *cv, gf_err *err) {
    const int k = gf_ckpt_layers_done(cv->ck), n = gf_ckpt_n_tensors(cv->ck);
    const char *dir = cv->o->checkpoint;
    GF_FAIL_IF(n > cv->n, err, GF_E_FORMAT, "checkpoint %s: %d tensors saved, this run writes %d", dir, n, cv->n);
    for (int i = 0; i < n; i++) {
        const gf_ckpt_tensor *t = gf_ckpt_tensor_at(cv->ck, i);
        const plan_entry *p = &cv->plan[i];
        uint64_t nb = gf_row_size(p->type, p->src->row_len) * (uint64_t)p->src->n_rows;
        GF_FAIL_IF(strcmp(t->name, p->map.name) || t->nbytes != nb, err, GF_E_FORMAT,
                   "checkpoint %s: saved tensor %d is '%s' of %llu bytes, this run's is '%s' of %llu", dir, i, t->name,
                   (unsigned long long)t->nbytes, p->map.name, (unsigned long long)nb);
    }
    GF_FAIL_IF(!n || cv->plan[n - 1].map.layer != k - 1 || (n < cv->n && cv->plan[n].map.layer >= 0 &&
               cv->plan[n].map.layer < k), err, GF_E_FORMAT,
               "checkpoint %s: its %d tensors do not end with block %d", dir, n, k - 1);
    return GF_OK;
}

/* The calibration streams at block k's input, from the checkpoint (the probe's is
 * optional: without it the probe runs the float blocks itself). */
static gf_status resume_streams(conversion *cv, int k, gf_err *err) {
    gf_calib *c = cv->calib;
    const uint64_t count = (uint64_t)(c->n_samples * c->seqlen * c->cfg->n_embd);
    int found = 0;
    GF_TRY(gf_ckpt_read_stream(cv->ck, "x", c->x, count, &found, err));
    GF_FAIL_IF(!found, err, GF_E_FORMAT, "checkpoint %s: no stream 'x'", cv->o->checkpoint);
    if (c->xq) {
        GF_TRY(gf_ckpt_read_stream(cv->ck, "xq", c->xq, count, &found, err));
        GF_FAIL_IF(!found, err, GF_E_FORMAT, "checkpoint %s: no stream 'xq'", cv->o->checkpoint);
    }
    if (cv->probe) {
        int next;
        uint64_t pn;
        float *px = gf_probe_stream(cv->probe, &next, &pn);
        GF_TRY(gf_ckpt_read_stream(cv->ck, "probe.x", px, pn, &found, err));
        if (found) gf_probe_set_depth(cv->probe, k);
    }
    return GF_OK;
}

gf_status gf_convert_ckpt_open(conversion *cv, gf_err *err) {
    const gf_convert_opts *o = cv->o;
    GF_FAIL_IF(!o->blocks || !o->blocks->transform_block, err, GF_E_USAGE, "--checkpoint %s: only a block method's run (--blocks awq, autoround, "
               "awq+autoround) is saved block by block; --blocks %s has nothing to save", o->checkpoint,
               (o->blocks ? o->blocks : gf_qmethod_default())->name);
    char *id = NULL;
    GF_TRY(run_identity(cv, &id, err));
    /* under MPI every rank computes what rank 0 saves: the others only read the folder */
    cv->ck_writer = gf_dist_rank() == 0;
    gf_status rc = cv->ck_writer ? gf_ckpt_open(o->checkpoint, id, &cv->ck, err)
                                 : gf_ckpt_open_reader(o->checkpoint, id, &cv->ck, err);
    free(id);
    return rc;
}

/* Blocks 0 .. k-1 are saved: the tensors checked against the plan, the streams read back,
 * the saved blocks' reports replayed. */
static gf_status resume_saved(conversion *cv, int k, gf_err *err) {
    const gf_convert_opts *o = cv->o;
    GF_TRY(check_saved(cv, err));
    GF_TRY(resume_streams(cv, k, err));
    cv->ck_done = gf_ckpt_n_tensors(cv->ck);
    if (o->checkpoint_event) o->checkpoint_event(o->progress_ctx, o->checkpoint, k, 1);
    for (int l = 0; l < k; l++) { /* the saved blocks' reports, for the report and the ETA */
        uint32_t n;
        const void *info = gf_ckpt_block_info(cv->ck, l, &n);
        block_figures fig;
        GF_FAIL_IF(n != sizeof fig, err, GF_E_FORMAT, "checkpoint %s: block %d's figures are %u bytes, this build's %zu",
                   o->checkpoint, l, n, sizeof fig);
        memcpy(&fig, info, sizeof fig);
        gf_block_event ev = {.layer = l, .n_layers = (int)cv->hp.n_layer, .method = cv->bt->name,
                             .awq = fig.has_awq ? &fig.awq : NULL, .ar = fig.has_ar ? &fig.ar : NULL,
                             .seconds = fig.seconds, .saved = 1};
        if (fig.reported && o->block_progress) o->block_progress(o->progress_ctx, &ev);
    }
    return GF_OK;
}

/* Under MPI, every rank must have read the same checkpoint, all of it, before rank 0 writes
 * the next one (a stream is read from state.gfck when resuming): an allreduce of the blocks
 * each rank found done, which is also that barrier. */
static gf_status ranks_agree(const conversion *cv, int k, gf_err *err) {
    if (gf_dist_size() == 1) return GF_OK;
    double v[2] = {k, -k};
    GF_TRY(gf_dist_max_f64(v, 2, err));
    GF_FAIL_IF(v[0] != -v[1], err, GF_E_USAGE, "checkpoint %s: the MPI ranks found different checkpoints there "
               "(%d to %d blocks done, this rank %d): the folder must be one that every rank reads, on a "
               "filesystem they share", cv->o->checkpoint, (int)-v[1], (int)v[0], k);
    return GF_OK;
}

gf_status gf_convert_ckpt_resume(conversion *cv, gf_err *err) {
    const int k = gf_ckpt_layers_done(cv->ck);
    if (k) GF_TRY(resume_saved(cv, k, err));
    return ranks_agree(cv, k, err);
}

gf_status gf_convert_ckpt_save(conversion *cv, int layer, gf_err *err) {
    if (!cv->ck_writer) return GF_OK; /* rank 0 saves what this rank computed too */
    gf_calib *c = cv->calib;
    const uint64_t count = (uint64_t)(c->n_samples * c->seqlen * c->cfg->n_embd);
    const char *names[3] = {"x", "xq", "probe.x"};
    const float *src[3] = {c->x, c->xq, NULL};
    uint64_t counts[3] = {count, count, 0};
    int n = c->xq ? 2 : 1, next = -1;
    if (cv->probe) src[2] = gf_probe_stream(cv->probe, &next, &counts[2]);
    if (!c->xq) names[1] = names[2], src[1] = src[2], counts[1] = counts[2];
    if (cv->probe && next == layer + 1) n++;
    GF_TRY(gf_ckpt_save(cv->ck, layer, &cv->fig, sizeof cv->fig, n, names, src, counts, err));
    const gf_convert_opts *o = cv->o;
    if (o->checkpoint_event) o->checkpoint_event(o->progress_ctx, o->checkpoint, layer + 1, 0);
    return GF_OK;
}

gf_status gf_convert_ckpt_tensor(conversion *cv, int i, gf_sink *sink, gf_convert_event *ev, double *e2, double *r2,
                                 gf_err *err) {
    const gf_ckpt_tensor *t = gf_ckpt_tensor_at(cv->ck, i);
    void *data = malloc(t->nbytes ? (size_t)t->nbytes : 1);
    GF_FAIL_IF(!data, err, GF_E_NOMEM, "out of memory for tensor '%s' (%llu bytes)", t->name,
               (unsigned long long)t->nbytes);
    gf_status rc = gf_ckpt_read_tensor(cv->ck, i, data, err);
    if (!rc) rc = gf_gguf_write_tensor_data(cv->w, sink, (uint64_t)i, data, t->nbytes, err);
    free(data);
    *e2 = t->e2, *r2 = t->r2;
    ev->act_rel = t->act_rel;
    ev->seconds = t->seconds;
    return rc;
}
