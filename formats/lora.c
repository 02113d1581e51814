/*
 * lora.c - reads PEFT LoRA adapters (adapter_config.json + adapter_model.safetensors)
 * and merges them into base rows.  Every key of the adapter must be a lora_A/lora_B
 * pair on a 2-D linear weight of the base, with the config's rank; what PEFT can
 * hold but a plain W + s B A merge would get wrong (DoRA magnitudes, embedding
 * LoRA, modules_to_save copies, per-module rank/alpha patterns, Conv1D
 * fan_in_fan_out) is refused with the key named.  The adapter's A and B are held
 * in memory as floats (r * (in + out) per matrix, a small part of the model).
 */
#include "lora.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/hash.h"
#include "json.h"

#define PEFT_PREFIX "base_model.model."
#define MAX_RANK 65536

/* ---------------------------------------------------------------- config */

static int empty_or_null(const cJSON *it) {
    return !it || cJSON_IsNull(it) || ((cJSON_IsArray(it) || cJSON_IsObject(it)) && !it->child);
}

/* Whether the base has a 2-D tensor named *.<module>.weight. */
static int base_has_module(const gf_safetensors *base, const char *module) {
    size_t ml = strlen(module);
    for (int64_t i = 0; i < base->n_tensors; i++) {
        const char *n = base->tensors[i].name;
        size_t nl = strlen(n);
        if (base->tensors[i].n_dims == 2 && nl >= ml + 7 && !strcmp(n + nl - 7, ".weight") &&
            !strncmp(n + nl - 7 - ml, module, ml) && (nl == ml + 7 || n[nl - 8 - ml] == '.'))
            return 1;
    }
    return 0;
}

static gf_status read_config(gf_lora_adapter *ad, const char *path, const gf_safetensors *base, gf_err *err) {
    cJSON *c = NULL;
    gf_status rc = gf_json_load(path, 1 << 20, &c, err);
    if (rc) return rc;
    const cJSON *pt = gf_json_get(c, "peft_type"), *tm = gf_json_get(c, "target_modules");
    int dora = 0, fifo = 0;
    GF_FAIL_GOTO_IF(!cJSON_IsObject(c), err, GF_E_FORMAT, "%s: not a JSON object", path);
    GF_FAIL_GOTO_IF(pt && (!cJSON_IsString(pt) || strcmp(pt->valuestring, "LORA")), err, GF_E_UNSUPPORTED,
                    "%s: key 'peft_type' is not \"LORA\"", path);
    GF_TRY_GOTO(gf_json_get_int(c, "r", 1, MAX_RANK, path, &ad->rank, err));
    GF_TRY_GOTO(gf_json_get_num_or(c, "lora_alpha", 0, 0, path, &ad->alpha, err));
    GF_TRY_GOTO(gf_json_get_bool_or(c, "use_rslora", 0, path, &ad->rslora, err));
    GF_TRY_GOTO(gf_json_get_bool_or(c, "use_dora", 0, path, &dora, err));
    GF_TRY_GOTO(gf_json_get_bool_or(c, "fan_in_fan_out", 0, path, &fifo, err));
    static const char *refused_flags[] = {"lora_bias", "use_qalora"};
    for (size_t i = 0; i < sizeof refused_flags / sizeof *refused_flags; i++) {
        int on = 0;
        GF_TRY_GOTO(gf_json_get_bool_or(c, refused_flags[i], 0, path, &on, err));
        GF_FAIL_GOTO_IF(on, err, GF_E_UNSUPPORTED, "%s: key '%s' is true: not supported", path, refused_flags[i]);
    }
    GF_FAIL_GOTO_IF(dora, err, GF_E_UNSUPPORTED, "%s: key 'use_dora': DoRA adapters are not merged (their magnitude "
                    "vector renormalizes each column); merge it with PEFT first", path);
    GF_FAIL_GOTO_IF(fifo, err, GF_E_UNSUPPORTED, "%s: key 'fan_in_fan_out' is true: that is for Conv1D weights "
                    "(GPT-2), which no architecture here has", path);
    static const char *refused[] = {"modules_to_save", "rank_pattern", "alpha_pattern", "layers_to_transform",
                                    "layer_replication", "target_parameters", "trainable_token_indices"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        GF_FAIL_GOTO_IF(!empty_or_null(gf_json_get(c, refused[i])), err, GF_E_UNSUPPORTED,
                        "%s: key '%s' is set: not supported (a merge that ignored it would be wrong)", path, refused[i]);
    GF_FAIL_GOTO_IF(!cJSON_IsArray(tm) || !tm->child, err, GF_E_UNSUPPORTED,
                    "%s: key 'target_modules' must be a list of module names (a regex or \"all-linear\" is not "
                    "supported)", path);
    for (const cJSON *m = tm->child; m; m = m->next) {
        GF_FAIL_GOTO_IF(!cJSON_IsString(m), err, GF_E_FORMAT, "%s: key 'target_modules': not a string", path);
        GF_FAIL_GOTO_IF(!base_has_module(base, m->valuestring), err, GF_E_UNSUPPORTED,
                        "%s: key 'target_modules': the base model has no module '%s'", path, m->valuestring);
    }
    ad->scale = ad->user_scale * ad->alpha / (ad->rslora ? sqrt((double)ad->rank) : (double)ad->rank);
done:
    cJSON_Delete(c);
    return rc;
}

/* ---------------------------------------------------------------- tensors */

/* "base_model.model.X.lora_A.weight" -> "X.weight" in out; which: 'A' or 'B'; 0 if not such a key. */
static char lora_target(const char *key, char *out, size_t cap) {
    size_t pl = strlen(PEFT_PREFIX), kl = strlen(key), sl = strlen(".lora_A.weight");
    if (kl <= pl + sl || strncmp(key, PEFT_PREFIX, pl)) return 0;
    const char *suf = key + kl - sl;
    if (strcmp(suf, ".lora_A.weight") && strcmp(suf, ".lora_B.weight")) return 0;
    if (kl - pl - sl + 8 > cap) return 0;
    memcpy(out, key + pl, kl - pl - sl);
    strcpy(out + (kl - pl - sl), ".weight");
    return suf[6];
}

/* One lora_A key and its lora_B, checked against the base and read. */
static gf_status load_pair(gf_lora_adapter *ad, const gf_safetensors *st, const gf_st_tensor *ta, const char *target,
                           const gf_hfcfg *hp, const gf_safetensors *base, gf_err *err) {
    char bname[512];
    snprintf(bname, sizeof bname, "%.*s.lora_B.weight", (int)(strlen(ta->name) - strlen(".lora_A.weight")), ta->name);
    const gf_st_tensor *tb = gf_st_find(st, bname), *w = gf_st_find(base, target);
    const char *f = st->files[ta->file].path;
    gf_tensor_map m;
    GF_FAIL_IF(!tb, err, GF_E_FORMAT, "%s: adapter key '%s': no matching '%s'", f, ta->name, bname);
    GF_FAIL_IF(!w, err, GF_E_UNSUPPORTED, "%s: adapter key '%s': the base model has no tensor '%s'", f, ta->name,
               target);
    GF_TRY(gf_map_tensor(hp, target, &m, err)); /* names the base tensor, which plan() would refuse too */
    GF_FAIL_IF(w->n_dims != 2 || (m.kind != GF_TK_LINEAR && m.kind != GF_TK_OUTPUT), err, GF_E_UNSUPPORTED,
               "%s: adapter key '%s': '%s' is not a linear weight (embedding LoRA is not merged)", f, ta->name, target);
    GF_FAIL_IF(ta->n_dims != 2 || ta->shape[0] != ad->rank || ta->shape[1] != w->row_len, err, GF_E_VALUE,
               "%s: adapter key '%s': shape must be [%lld, %lld] (r, in of '%s'), not [%lld, %lld]", f, ta->name,
               (long long)ad->rank, (long long)w->row_len, target, (long long)ta->shape[0],
               (long long)(ta->n_dims > 1 ? ta->shape[1] : 0));
    GF_FAIL_IF(tb->n_dims != 2 || tb->shape[0] != w->n_rows || tb->shape[1] != ad->rank, err, GF_E_VALUE,
               "%s: adapter key '%s': shape must be [%lld, %lld] (out of '%s', r), not [%lld, %lld]", f, bname,
               (long long)w->n_rows, (long long)ad->rank, target, (long long)tb->shape[0],
               (long long)(tb->n_dims > 1 ? tb->shape[1] : 0));
    gf_lora_pair *p = &ad->pairs[ad->n_pairs];
    *p = (gf_lora_pair){.target = strdup(target), .r = ad->rank, .in = w->row_len, .out = w->n_rows};
    p->a = malloc((size_t)(p->r * p->in) * sizeof *p->a);
    p->b = malloc((size_t)(p->out * p->r) * sizeof *p->b);
    ad->n_pairs++; /* freed with the adapter from here on */
    GF_FAIL_IF(!p->target || !p->a || !p->b, err, GF_E_NOMEM, "adapter key '%s': out of memory", ta->name);
    GF_TRY(gf_st_read_rows(st, ta, 0, ta->n_rows, p->a, err));
    return gf_st_read_rows(st, tb, 0, tb->n_rows, p->b, err);
}

static gf_status load_tensors(gf_lora_adapter *ad, const char *path, const gf_hfcfg *hp, const gf_safetensors *base,
                              gf_err *err) {
    gf_safetensors *st = NULL;
    gf_status rc = gf_st_open(path, &st, err);
    if (rc) return rc;
    ad->pairs = calloc((size_t)st->n_tensors + 1, sizeof *ad->pairs);
    GF_FAIL_GOTO_IF(!ad->pairs, err, GF_E_NOMEM, "%s: out of memory", path);
    for (int64_t i = 0; i < st->n_tensors; i++) {
        char target[512];
        const gf_st_tensor *t = &st->tensors[i];
        char which = lora_target(t->name, target, sizeof target);
        GF_FAIL_GOTO_IF(!which, err, GF_E_UNSUPPORTED, "%s: adapter key '%s' is not a PEFT lora_A/lora_B weight "
                        "(DoRA magnitudes, embedding LoRA and saved modules are not merged)", path, t->name);
        if (which == 'B') { /* its lora_A loads it */
            char aname[512];
            snprintf(aname, sizeof aname, "%.*s.lora_A.weight", (int)(strlen(t->name) - 14), t->name);
            GF_FAIL_GOTO_IF(!gf_st_find(st, aname), err, GF_E_FORMAT, "%s: adapter key '%s': no matching '%s'", path,
                            t->name, aname);
            continue;
        }
        GF_TRY_GOTO(load_pair(ad, st, t, target, hp, base, err));
    }
    GF_FAIL_GOTO_IF(ad->n_pairs == 0, err, GF_E_FORMAT, "%s: no lora_A/lora_B weights", path);
done:
    gf_st_close(st);
    return rc;
}

static int pair_cmp(const void *a, const void *b) {
    return strcmp(((const gf_lora_pair *)a)->target, ((const gf_lora_pair *)b)->target);
}

static gf_status hash_file(const char *path, uint64_t *h, gf_err *err) {
    int fd = open(path, O_RDONLY);
    GF_FAIL_IF(fd < 0, err, GF_E_IO, "%s: cannot open", path);
    unsigned char buf[1 << 16];
    ssize_t n;
    *h = GF_FNV1A64_BASIS;
    while ((n = read(fd, buf, sizeof buf)) > 0) *h = gf_fnv1a64_from(*h, buf, (size_t)n);
    close(fd);
    GF_FAIL_IF(n < 0, err, GF_E_IO, "%s: read failed", path);
    return GF_OK;
}

/* ---------------------------------------------------------------- public */

static void adapter_free(gf_lora_adapter *ad) {
    for (int i = 0; i < ad->n_pairs; i++) {
        free(ad->pairs[i].target);
        free(ad->pairs[i].a);
        free(ad->pairs[i].b);
    }
    free(ad->pairs);
    free(ad->path);
}

gf_status gf_lora_add(gf_lora *l, const char *dir, double user_scale, const gf_hfcfg *hp, const gf_safetensors *base,
                      gf_err *err) {
    char cfg[4096], model[4096];
    snprintf(cfg, sizeof cfg, "%s/adapter_config.json", dir);
    snprintf(model, sizeof model, "%s/adapter_model.safetensors", dir);
    GF_FAIL_IF(!(isfinite(user_scale)), err, GF_E_USAGE, "--lora-scale must be a finite number");
    gf_lora_adapter *grown = realloc(l->ad, (size_t)(l->n + 1) * sizeof *l->ad);
    GF_FAIL_IF(!grown, err, GF_E_NOMEM, "%s: out of memory", dir);
    l->ad = grown;
    gf_lora_adapter ad = {.path = strdup(dir), .user_scale = user_scale};
    gf_status rc = ad.path ? GF_OK : gf_errf(err, GF_E_NOMEM, "%s: out of memory", dir);
    if (!rc) rc = read_config(&ad, cfg, base, err);
    if (!rc) rc = load_tensors(&ad, model, hp, base, err);
    if (!rc) rc = hash_file(model, &ad.hash, err);
    if (rc) {
        adapter_free(&ad);
        return rc;
    }
    qsort(ad.pairs, (size_t)ad.n_pairs, sizeof *ad.pairs, pair_cmp);
    l->ad[l->n++] = ad;
    return GF_OK;
}

void gf_lora_free(gf_lora *l) {
    if (!l) return;
    for (int i = 0; i < l->n; i++) adapter_free(&l->ad[i]);
    free(l->ad);
    l->ad = NULL;
    l->n = 0;
}

void gf_lora_merge_row(const gf_lora *l, const gf_st_tensor *t, int64_t hf_row, float *row) {
    for (int i = 0; l && i < l->n; i++) {
        const gf_lora_adapter *ad = &l->ad[i];
        gf_lora_pair key = {.target = t->name};
        const gf_lora_pair *p = bsearch(&key, ad->pairs, (size_t)ad->n_pairs, sizeof key, pair_cmp);
        if (!p) continue;
        const float *b = p->b + hf_row * p->r;
        for (int64_t j = 0; j < p->in; j++) { /* in double: the merge adds no rounding of its own */
            double d = 0;
            for (int64_t k = 0; k < p->r; k++) d += (double)b[k] * (double)p->a[k * p->in + j];
            row[j] = (float)((double)row[j] + ad->scale * d);
        }
    }
}
