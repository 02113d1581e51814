/*
 * probe.c - a few calibration samples through the float model, block by block,
 * keeping every matrix's input at a spread of positions (see probe.h).
 */
#include "probe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROBE_SAMPLES 4
#define MAX_INPUTS (GF_LIN_COUNT + 1)

typedef struct {
    char name[64];
    int64_t n_in, seen; /* seen: tokens passed through the hook, all samples */
    float *x;           /* (n_keep, n_in) */
} input;

struct gf_probe {
    gf_calib *c;
    int64_t per_sample, n_keep; /* positions kept per sample, in all       */
    int64_t *slot;              /* (seqlen) row within a sample, or -1      */
    int next;                   /* the next decoder block to run            */
    input in[MAX_INPUTS];
    int n_in, oom;
    int32_t *counts;            /* (n_counts) occurrences of each token id  */
    int64_t n_counts;
};

static void clear_inputs(gf_probe *p) {
    for (int i = 0; i < p->n_in; i++) free(p->in[i].x);
    memset(p->in, 0, sizeof p->in);
    p->n_in = 0;
}

static input *find(const gf_probe *p, const char *name) {
    for (int i = 0; i < p->n_in; i++)
        if (!strcmp(p->in[i].name, name)) return (input *)&p->in[i];
    return NULL;
}

/* keeps the rows of x at the chosen positions of each sample */
static void keep(void *ctx, int layer, const char *name, const float *x, int64_t n_tok, int64_t n_in) {
    gf_probe *p = ctx;
    (void)layer;
    input *e = find(p, name);
    if (!e) {
        if (p->n_in == MAX_INPUTS) return;
        e = &p->in[p->n_in];
        snprintf(e->name, sizeof e->name, "%s", name);
        e->n_in = n_in;
        e->seen = 0;
        if (!(e->x = malloc((size_t)(p->n_keep * n_in) * sizeof *e->x))) {
            p->oom = 1;
            return;
        }
        p->n_in++;
    }
    if (e->n_in != n_in) return;
    const int64_t T = p->c->seqlen;
    for (int64_t t = 0; t < n_tok; t++, e->seen++) {
        int64_t s = e->seen / T, k = p->slot[e->seen % T];
        if (k >= 0 && s < p->c->n_samples) memcpy(e->x + (s * p->per_sample + k) * n_in, x + t * n_in, (size_t)n_in * 4);
    }
}

gf_status gf_probe_open(const gf_hfcfg *cfg, const gf_safetensors *st, const gf_vocab *vocab, const gf_calib_opts *o,
                        int64_t max_tokens, gf_probe **out, gf_err *err) {
    *out = NULL;
    gf_probe *p = calloc(1, sizeof *p);
    if (!p) return gf_errf(err, GF_E_NOMEM, "out of memory");
    gf_calib_opts po = *o;
    if (po.nsamples > PROBE_SAMPLES) po.nsamples = PROBE_SAMPLES;
    gf_status rc = gf_calib_open(cfg, st, vocab, &po, &p->c, err);
    if (rc) {
        free(p);
        return rc;
    }
    const int64_t T = p->c->seqlen, S = p->c->n_samples;
    /* positions 1 .. T-1 evenly (position 0 is often an attention sink) */
    p->per_sample = max_tokens / S; /* n_keep <= max_tokens: callers size buffers by it */
    if (p->per_sample > T - 1) p->per_sample = T - 1;
    if (p->per_sample < 1) p->per_sample = 1;
    p->n_keep = p->per_sample * S;
    p->slot = malloc((size_t)T * sizeof *p->slot);
    const gf_st_tensor *emb = gf_st_find(st, cfg->info->top[GF_TOP_EMBD].t->hf);
    p->n_counts = emb ? emb->n_rows : 0;
    p->counts = calloc((size_t)p->n_counts + 1, sizeof *p->counts);
    if (!p->slot || !p->counts) {
        gf_probe_free(p);
        return gf_errf(err, GF_E_NOMEM, "out of memory");
    }
    for (int64_t t = 0; t < T; t++) p->slot[t] = -1;
    for (int64_t k = 0; k < p->per_sample; k++) p->slot[1 + k * (T - 1) / p->per_sample] = k;
    for (int64_t i = 0; i < S * T; i++)
        if (p->c->tokens[i] >= 0 && p->c->tokens[i] < p->n_counts) p->counts[p->c->tokens[i]]++;
    *out = p;
    return GF_OK;
}

void gf_probe_free(gf_probe *p) {
    if (!p) return;
    clear_inputs(p);
    gf_calib_free(p->c);
    free(p->slot);
    free(p->counts);
    free(p);
}

static gf_status run_own(gf_probe *p, int layer, const gf_hooks *h, gf_err *err) {
    gf_status rc = gf_calib_load_layer(p->c, layer, err);
    return rc ? rc : gf_calib_forward_layer(p->c, layer, h, err);
}

gf_status gf_probe_layer(gf_probe *p, int layer, const gf_calib *src, gf_err *err) {
    gf_status rc;
    if (layer < p->next || layer >= p->c->cfg->n_layer)
        return gf_errf(err, GF_E_USAGE, "probe: block %d asked after block %d", layer, p->next - 1);
    clear_inputs(p);
    for (; p->next < layer; p->next++)
        if ((rc = run_own(p, p->next, NULL, err))) return rc;
    gf_hooks h = {.on_linear_input = keep, .ctx = p};
    if (src && src->loaded == layer) { /* the block as the method rewrote it */
        gf_layer *ly = &p->c->m.layers[layer];
        *ly = src->m.layers[layer];
        rc = gf_calib_forward_layer(p->c, layer, &h, err);
        memset(ly, 0, sizeof *ly);
    } else {
        rc = run_own(p, layer, &h, err);
    }
    p->next = layer + 1;
    if (!rc && p->oom) rc = gf_errf(err, GF_E_NOMEM, "probe: out of memory");
    return rc;
}

static void keep_head_input(void *ctx, const float *xn, int64_t T, int64_t D) {
    keep(ctx, -1, ((gf_probe *)ctx)->c->m.top_name[GF_TOP_OUTPUT], xn, T, D);
}

gf_status gf_probe_final(gf_probe *p, gf_err *err) {
    gf_status rc;
    clear_inputs(p);
    for (; p->next < p->c->cfg->n_layer; p->next++)
        if ((rc = run_own(p, p->next, NULL, err))) return rc;
    rc = gf_calib_each_final_norm(p->c, keep_head_input, p, err);
    if (!rc && p->oom) rc = gf_errf(err, GF_E_NOMEM, "probe: out of memory");
    return rc;
}

const float *gf_probe_input(const gf_probe *p, const char *name, int64_t *n_tok, int64_t *n_in) {
    const input *e = find(p, name);
    if (!e) return NULL;
    *n_tok = p->n_keep;
    *n_in = e->n_in;
    return e->x;
}

const int32_t *gf_probe_token_counts(const gf_probe *p, int64_t *n) {
    *n = p->n_counts;
    return p->counts;
}

float *gf_probe_stream(gf_probe *p, int *next, uint64_t *count) {
    *next = p->next;
    *count = (uint64_t)(p->c->n_samples * p->c->seqlen * p->c->cfg->n_embd);
    return p->c->x;
}

void gf_probe_set_depth(gf_probe *p, int next) {
    clear_inputs(p);
    p->next = next;
}
