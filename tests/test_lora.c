/*
 * test_lora.c - merging PEFT LoRA adapters (formats/lora.c, --lora, issue 16).
 * The test writes random adapters in PEFT's layout (adapter_config.json and
 * adapter_model.safetensors with base_model.model.*.lora_A/lora_B.weight), then checks:
 * every merged F32 tensor against W + s B A computed here in double (GGUF row i is
 * HF row permute(i) for llama q/k), every other tensor byte for byte against the
 * conversion without the adapter, a GGUF base against its folder, quantizing with
 * --lora against quantizing a folder that holds the merged weights, and refusals.
 */
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../convert/convert.h"
#include "../formats/gguf.h"
#include "../formats/hfconfig.h"
#include "../formats/safetensors.h"
#include "check.h"
#include "membuf.h"
#include "random_model.h"
#include "st_write.h"

#define REL_TOL 1e-6 /* merged weight vs the double-precision W + s B A, per element */
#define RANK 4
#define ALPHA 16.0
#define MAX_PAIRS 128

/* ---------------------------------------------------------------- writing adapters */

typedef struct {
    const gf_st_tensor *w; /* the base tensor it targets      */
    float *a, *b;          /* (RANK, in), (out, RANK)          */
} lpair;

typedef struct {
    lpair p[MAX_PAIRS];
    int n;
    double s;              /* the scale the merge must use     */
} adapter;

static void adapter_free(adapter *ad) {
    for (int i = 0; i < ad->n; i++) free(ad->p[i].a), free(ad->p[i].b);
    ad->n = 0;
}

static int has_suffix(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* An adapter on every 2-D base tensor named *.<mod>.weight for mod in mods (a
 * comma-separated list). extra ("key":value, pairs) goes first in adapter_config.json, so
 * it wins over the defaults after it (cJSON reads the first of a repeated key). */
static int write_adapter(const char *dir, const gf_safetensors *base, const char *mods, const char *extra, double s,
                         uint64_t seed, adapter *ad) {
    char path[1024], cfg[2048], list[512] = "", names[MAX_PAIRS * 2][200];
    stw_tensor st[MAX_PAIRS * 2];
    char *copy = strdup(mods), *save = NULL;
    int n = 0;
    ad->n = 0, ad->s = s;
    mkdir(dir, 0755);
    for (char *m = strtok_r(copy, ",", &save); m; m = strtok_r(NULL, ",", &save)) {
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s\"%s\"", list[0] ? "," : "", m);
        char suf[96];
        snprintf(suf, sizeof suf, ".%s.weight", m);
        for (int64_t i = 0; i < base->n_tensors && ad->n < MAX_PAIRS; i++) {
            const gf_st_tensor *w = &base->tensors[i];
            if (w->n_dims != 2 || !has_suffix(w->name, suf)) continue;
            lpair *p = &ad->p[ad->n++];
            p->w = w;
            p->a = malloc((size_t)(RANK * w->row_len) * sizeof(float));
            p->b = malloc((size_t)(w->n_rows * RANK) * sizeof(float));
            for (int64_t k = 0; k < RANK * w->row_len; k++) p->a[k] = 0.1f * stw_rand(&seed);
            for (int64_t k = 0; k < w->n_rows * RANK; k++) p->b[k] = 0.1f * stw_rand(&seed);
            size_t stem = strlen(w->name) - strlen(".weight");
            snprintf(names[n], sizeof names[n], "base_model.model.%.*s.lora_A.weight", (int)stem, w->name);
            st[n] = (stw_tensor){names[n], "F32", 2, {RANK, w->row_len}, p->a, (size_t)(RANK * w->row_len) * 4};
            n++;
            snprintf(names[n], sizeof names[n], "base_model.model.%.*s.lora_B.weight", (int)stem, w->name);
            st[n] = (stw_tensor){names[n], "F32", 2, {w->n_rows, RANK}, p->b, (size_t)(w->n_rows * RANK) * 4};
            n++;
        }
    }
    free(copy);
    snprintf(cfg, sizeof cfg,
             "{%s\"use_rslora\":false,\"peft_type\":\"LORA\",\"task_type\":\"CAUSAL_LM\",\"r\":%d,\"lora_alpha\":%g,\"lora_dropout\":0.0,"
             "\"target_modules\":[%s],\"bias\":\"none\",\"fan_in_fan_out\":false,\"use_dora\":false,"
             "\"modules_to_save\":null,\"rank_pattern\":{},\"alpha_pattern\":{}}",
             extra ? extra : "", RANK, ALPHA, list);
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    if (stw_write_text(path, cfg)) return -1;
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    return stw_write(path, st, n);
}

/* ---------------------------------------------------------------- converting */

static gf_gguf *convert(const char *dir, gf_convert_opts o, const gf_lora_spec *l, int n_l, membuf *m, gf_err *err) {
    gf_sink sink = {mem_write, m};
    gf_convert_summary sum;
    o.lora = l, o.n_lora = n_l;
    m->n = 0;
    if (gf_convert(dir, &sink, &o, &sum, err)) return NULL;
    gf_gguf *g = NULL;
    return gf_gguf_parse(m->p, m->n, dir, &g, err) ? NULL : g;
}

static const gf_gguf_tensor *tensor(const gf_gguf *g, const char *name) {
    int64_t i = gf_gguf_find_tensor(g, name);
    return i < 0 ? NULL : &g->tensors[i];
}

/* HF row h of the merged w: W + sum over adapters of s B[h] A, in double, and the largest
 * magnitude of the running sum (a bound on what float rounding between adapters can add). */
static void ref_row(const gf_st_tensor *w, const float *wrow, int64_t h, const adapter *ads, int n_ads, double *out,
                    double *mag) {
    for (int64_t j = 0; j < w->row_len; j++) out[j] = wrow[j], mag[j] = fabs(wrow[j]);
    for (int i = 0; i < n_ads; i++) {
        for (int k = 0; k < ads[i].n; k++) {
            const lpair *p = &ads[i].p[k];
            if (p->w != w) continue;
            for (int64_t j = 0; j < w->row_len; j++) {
                double d = 0;
                for (int r = 0; r < RANK; r++) d += (double)p->b[h * RANK + r] * (double)p->a[r * w->row_len + j];
                out[j] += ads[i].s * d;
                if (fabs(out[j]) > mag[j]) mag[j] = fabs(out[j]);
            }
        }
    }
}

static int targeted(const gf_st_tensor *w, const adapter *ads, int n_ads) {
    for (int i = 0; i < n_ads; i++)
        for (int k = 0; k < ads[i].n; k++)
            if (ads[i].p[k].w == w) return 1;
    return 0;
}

/* g (F32, merged) against the double reference; the rest of g against plain byte for byte. */
static void check_merged(const char *what, const gf_gguf *g, const gf_gguf *plain, const gf_hfcfg *hp,
                         const gf_safetensors *base, const adapter *ads, int n_ads) {
    int n_merged = 0, n_same = 0, n_bad = 0;
    double worst = 0;
    for (int64_t i = 0; i < base->n_tensors; i++) {
        const gf_st_tensor *w = &base->tensors[i];
        gf_tensor_map m;
        gf_err err = {0};
        if (gf_map_tensor(hp, w->name, &m, &err) || m.kind == GF_TK_SKIP) continue;
        const gf_gguf_tensor *gt = tensor(g, m.name), *pt = tensor(plain, m.name);
        CHECK(gt && pt, "%s: %s missing from the output", what, m.name);
        if (!gt || !pt) continue;
        if (!targeted(w, ads, n_ads)) {
            n_same++;
            CHECK(gt->nbytes == pt->nbytes && !memcmp(gt->data, pt->data, gt->nbytes),
                  "%s: untouched %s differs from the conversion without --lora", what, m.name);
            continue;
        }
        n_merged++;
        CHECK(gt->type == GF_TYPE_F32, "%s: %s is not F32", what, m.name);
        float *wf = malloc((size_t)(w->n_rows * w->row_len) * sizeof *wf);
        double *ref = malloc((size_t)w->row_len * sizeof *ref), *mag = malloc((size_t)w->row_len * sizeof *mag);
        CHECK(!gf_st_read_rows(base, w, 0, w->n_rows, wf, &err), "%s", err.msg);
        int changed = 0;
        for (int64_t r = 0; r < w->n_rows; r++) {
            int64_t h = m.permute_heads ? gf_permute_row(r, w->n_rows, m.permute_heads) : r;
            ref_row(w, wf + h * w->row_len, h, ads, n_ads, ref, mag);
            const float *got = (const float *)gt->data + r * w->row_len;
            for (int64_t j = 0; j < w->row_len; j++) {
                double e = fabs(got[j] - ref[j]), rel = mag[j] > 0 ? e / mag[j] : e;
                if (rel > worst) worst = rel;
                n_bad += rel > REL_TOL;
                changed |= got[j] != wf[h * w->row_len + j];
            }
        }
        CHECK(changed, "%s: %s is not changed by the adapter", what, m.name);
        free(wf), free(ref), free(mag);
    }
    CHECK(n_bad == 0 && n_merged > 0, "%s: %d elements of %d merged tensors off W + sBA by more than %g (worst %.3g)",
          what, n_bad, n_merged, REL_TOL, worst);
    printf("  %s: %d merged tensors within %.2g of W + sBA (double), %d untouched byte-identical\n", what, n_merged, worst,
           n_same);
}

/* ---------------------------------------------------------------- merged folder */

/* dir/model.safetensors holding base's tensors with ads merged the way the converter
 * merges (in HF layout, double sums rounded to float once per adapter), as F32. */
static int write_merged(const char *dir, const char *src_dir, const gf_safetensors *base, const adapter *ads, int n_ads) {
    static const char *files[] = {"config.json", "tokenizer.json", "tokenizer_config.json"};
    char path[1024];
    mkdir(dir, 0755);
    for (int i = 0; i < 3; i++) {
        char *text = NULL;
        gf_err err;
        snprintf(path, sizeof path, "%s/%s", src_dir, files[i]);
        if (gf_read_file(path, 1 << 24, &text, NULL, &err)) return -1;
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        int rc = stw_write_text(path, text);
        free(text);
        if (rc) return -1;
    }
    stw_tensor *st = calloc((size_t)base->n_tensors, sizeof *st);
    float **data = calloc((size_t)base->n_tensors, sizeof *data);
    int rc = 0;
    for (int64_t i = 0; i < base->n_tensors && !rc; i++) {
        const gf_st_tensor *w = &base->tensors[i];
        gf_err err;
        data[i] = malloc((size_t)(w->n_rows * w->row_len) * sizeof(float));
        rc = gf_st_read_rows(base, w, 0, w->n_rows, data[i], &err);
        for (int a = 0; a < n_ads && !rc; a++)
            for (int k = 0; k < ads[a].n; k++) {
                const lpair *p = &ads[a].p[k];
                if (p->w != w) continue;
                for (int64_t h = 0; h < w->n_rows; h++)
                    for (int64_t j = 0; j < w->row_len; j++) {
                        double d = 0;
                        for (int r = 0; r < RANK; r++) d += (double)p->b[h * RANK + r] * (double)p->a[r * w->row_len + j];
                        float *x = &data[i][h * w->row_len + j];
                        *x = (float)((double)*x + ads[a].s * d);
                    }
            }
        st[i] = (stw_tensor){w->name, "F32", (int)w->n_dims, {0}, data[i], (size_t)(w->n_rows * w->row_len) * 4};
        for (uint32_t d = 0; d < w->n_dims; d++) st[i].shape[d] = w->shape[d];
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (!rc) rc = stw_write(path, st, (int)base->n_tensors);
    for (int64_t i = 0; i < base->n_tensors; i++) free(data[i]);
    free(data), free(st);
    return rc;
}

/* Every tensor of a and b holds the same bytes. */
static int same_tensors(const gf_gguf *a, const gf_gguf *b, char *first, size_t n) {
    if (a->n_tensors != b->n_tensors) return snprintf(first, n, "tensor counts differ"), 0;
    for (uint64_t i = 0; i < a->n_tensors; i++) {
        const gf_gguf_tensor *t = tensor(b, a->tensors[i].name.s);
        if (!t || t->type != a->tensors[i].type || t->nbytes != a->tensors[i].nbytes ||
            memcmp(t->data, a->tensors[i].data, t->nbytes))
            return snprintf(first, n, "%s", a->tensors[i].name.s), 0;
    }
    return 1;
}

/* ---------------------------------------------------------------- the tests */

static const gf_convert_opts F32 = {.type = GF_TYPE_F32, .embed_type = -1, .output_type = -1, .name = "lora"};

/* Opens the base folder's tensors and config; a failure is a failed check. */
static int open_base(const char *dir, gf_safetensors **base, gf_hfcfg *hp, gf_err *err) {
    if (!gf_st_open(dir, base, err) && !gf_hfcfg_load(dir, hp, err)) return 1;
    CHECK(0, "%s", err->msg);
    gf_st_close(*base);
    *base = NULL;
    return 0;
}

/* qwen2-tiny: one adapter on every linear weight, then a second (rsLoRA, --lora-scale 0.5) on top. */
static void test_qwen2_tiny(const char *tmp) {
    const char *dir = "models/qwen2-tiny";
    gf_safetensors *base = NULL;
    gf_hfcfg hp;
    gf_err err = {0};
    if (!open_base(dir, &base, &hp, &err)) return;
    static adapter ads[2];
    char d1[600], d2[600], dm[600];
    snprintf(d1, sizeof d1, "%s/qwen-a1", tmp);
    snprintf(d2, sizeof d2, "%s/qwen-a2", tmp);
    snprintf(dm, sizeof dm, "%s/qwen-merged", tmp);
    CHECK(!write_adapter(d1, base, "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj", NULL, ALPHA / RANK, 7,
                         &ads[0]), "cannot write %s", d1);
    CHECK(!write_adapter(d2, base, "q_proj,down_proj", "\"use_rslora\":true,", 0.5 * ALPHA / sqrt(RANK), 8, &ads[1]),
          "cannot write %s", d2);
    gf_lora_spec l[2] = {{d1, 1.0}, {d2, 0.5}};
    membuf mp = {0}, m1 = {0}, m2 = {0}, mq = {0}, mr = {0};
    gf_gguf *plain = convert(dir, F32, NULL, 0, &mp, &err);
    CHECK(plain != NULL, "plain: %s", err.msg);
    gf_gguf *g1 = plain ? convert(dir, F32, l, 1, &m1, &err) : NULL;
    CHECK(g1 != NULL, "--lora: %s", err.msg);
    if (g1) check_merged("qwen2-tiny, 1 adapter", g1, plain, &hp, base, ads, 1);
    if (g1) { /* provenance */
        uint32_t cnt = 0, rank = 0;
        float alpha = 0, scale = 0;
        const gf_str *hash = NULL, *file = NULL;
        CHECK(!gf_gguf_get_u32(g1, "gguf-forge.lora.count", &cnt, &err) && cnt == 1, "lora.count %u", cnt);
        CHECK(!gf_gguf_get_u32(g1, "gguf-forge.lora.0.rank", &rank, &err) && rank == RANK, "lora.0.rank %u", rank);
        CHECK(!gf_gguf_get_f32(g1, "gguf-forge.lora.0.alpha", &alpha, &err) && alpha == (float)ALPHA, "alpha %g", alpha);
        CHECK(!gf_gguf_get_f32(g1, "gguf-forge.lora.0.scale", &scale, &err) && scale == 1.0f, "scale %g", scale);
        CHECK(!gf_gguf_get_str(g1, "gguf-forge.lora.0.hash", &hash, &err) && !strncmp(hash->s, "fnv1a64:", 8) &&
              hash->len == 24, "lora.0.hash");
        CHECK(!gf_gguf_get_str(g1, "gguf-forge.lora.0.file", &file, &err) && !strcmp(file->s, d1), "lora.0.file");
    }
    gf_gguf *g2 = g1 ? convert(dir, F32, l, 2, &m2, &err) : NULL;
    CHECK(g2 != NULL, "two --lora: %s", err.msg);
    if (g2) check_merged("qwen2-tiny, 2 adapters (2nd rsLoRA, scale 0.5)", g2, plain, &hp, base, ads, 2);

    /* quantizing with --lora = quantizing the merged folder, for a weight-only and a calibrated method */
    CHECK(!write_merged(dm, dir, base, ads, 2), "cannot write %s", dm);
    static const char *methods[] = {"minmax", "awq"};
    gf_calib_opts co = {.nsamples = 4, .seqlen = 64};
    for (int k = 0; k < 2 && g2; k++) {
        gf_convert_opts q = {.type = GF_TYPE_Q4_0, .embed_type = -1, .output_type = -1, .name = "lora",
                             .blocks = gf_qmethod_find(methods[k]), .calib = &co};
        gf_gguf *gq = convert(dir, q, l, 2, &mq, &err);
        CHECK(gq != NULL, "q4_0 %s --lora: %s", methods[k], err.msg);
        gf_gguf *gr = gq ? convert(dm, q, NULL, 0, &mr, &err) : NULL;
        CHECK(gr != NULL, "q4_0 %s of the merged folder: %s", methods[k], err.msg);
        char first[128] = "";
        if (gq && gr) {
            int same = same_tensors(gq, gr, first, sizeof first);
            CHECK(same, "q4_0 %s: --lora and the merged folder differ (first: %s)", methods[k], first);
            if (same) printf("  q4_0 --blocks %s: --lora gives the merged folder's bytes (%llu tensors)\n", methods[k],
                             (unsigned long long)gq->n_tensors);
        }
        gf_gguf_close(gq), gf_gguf_close(gr);
    }
    gf_gguf_close(plain), gf_gguf_close(g1), gf_gguf_close(g2);
    free(mp.p), free(m1.p), free(m2.p), free(mq.p), free(mr.p);
    adapter_free(&ads[0]), adapter_free(&ads[1]);
    gf_st_close(base);
}

static gf_status to_file(const char *path, const membuf *m) {
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(m->p, 1, m->n, f) == m->n;
    if (f && fclose(f)) ok = 0;
    return ok ? GF_OK : GF_E_IO;
}

/* A llama model (q/k permuted for GGUF): the merge happens in HF layout, from a folder
 * and from a GGUF base (rows already permuted) alike. */
static void test_llama_permuted(const char *tmp) {
    char dir[600], ad_dir[600], gg[600];
    snprintf(dir, sizeof dir, "%s/llama", tmp);
    snprintf(ad_dir, sizeof ad_dir, "%s/llama-a", tmp);
    snprintf(gg, sizeof gg, "%s/llama-f32.gguf", tmp);
    rt ts[64];
    int n_ts = 0;
    rm_spec sp = {.embd = 64, .heads = 4, .kv_heads = 2, .ff = 96, .layers = 2, .seed = 5};
    CHECK(rm_write(dir, &sp, ts, &n_ts, 0) == 0, "cannot write %s", dir);
    rm_free(ts, n_ts);
    gf_safetensors *base = NULL;
    gf_hfcfg hp;
    gf_err err = {0};
    if (!open_base(dir, &base, &hp, &err)) return;
    static adapter ad;
    CHECK(!write_adapter(ad_dir, base, "q_proj,k_proj,o_proj,lm_head", NULL, ALPHA / RANK, 9, &ad), "adapter");
    gf_lora_spec l = {ad_dir, 1.0};
    membuf mp = {0}, m1 = {0}, m2 = {0};
    gf_gguf *plain = convert(dir, F32, NULL, 0, &mp, &err);
    CHECK(plain != NULL, "%s", err.msg);
    gf_gguf *g1 = plain ? convert(dir, F32, &l, 1, &m1, &err) : NULL;
    CHECK(g1 != NULL, "llama --lora: %s", err.msg);
    if (g1) check_merged("llama (q/k permuted), folder base", g1, plain, &hp, base, &ad, 1);
    CHECK(plain && !to_file(gg, &mp), "cannot write %s", gg);
    gf_gguf *g2 = g1 ? convert(gg, F32, &l, 1, &m2, &err) : NULL;
    CHECK(g2 != NULL, "llama GGUF base --lora: %s", err.msg);
    char first[128] = "";
    if (g2) {
        int same = same_tensors(g1, g2, first, sizeof first);
        CHECK(same, "GGUF base + adapter differs from folder + adapter (first: %s)", first);
        if (same) printf("  llama GGUF base --lora: the folder's merged bytes\n");
    }
    gf_gguf_close(plain), gf_gguf_close(g1), gf_gguf_close(g2);
    free(mp.p), free(m1.p), free(m2.p);
    adapter_free(&ad);
    gf_st_close(base);
}

/* A few refusals at the library level (the CLI's are in the bad-input suite). */
static void test_refusals(const char *tmp) {
    const char *dir = "models/qwen2-tiny";
    gf_safetensors *base = NULL;
    gf_err err = {0};
    if (gf_st_open(dir, &base, &err)) {
        CHECK(0, "%s", err.msg);
        return;
    }
    static const struct {
        const char *name, *mods, *extra, *want;
    } cases[] = {
        {"dora", "q_proj", "\"use_dora\":true,", "use_dora"},
        {"no-module", "q_proj,c_attn", NULL, "'c_attn'"},
        {"saved", "q_proj", "\"modules_to_save\":[\"embed_tokens\"],", "modules_to_save"},
        {"fifo", "q_proj", "\"fan_in_fan_out\":true,", "fan_in_fan_out"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char d[600];
        static adapter ad;
        snprintf(d, sizeof d, "%s/bad-%s", tmp, cases[i].name);
        CHECK(!write_adapter(d, base, cases[i].mods, cases[i].extra, 1, 3, &ad), "cannot write %s", d);
        adapter_free(&ad);
        gf_lora_spec l = {d, 1.0};
        membuf m = {0};
        gf_gguf *g = convert(dir, F32, &l, 1, &m, &err);
        CHECK(!g && strstr(err.msg, cases[i].want) && strstr(err.msg, d), "%s: %s", cases[i].name,
              g ? "accepted" : err.msg);
        gf_gguf_close(g);
        free(m.p);
    }
    gf_st_close(base);
}

int main(void) {
    char tmp[] = "/tmp/gf-test-lora-XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    test_qwen2_tiny(tmp);
    test_llama_permuted(tmp);
    test_refusals(tmp);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return check_done("test_lora");
}
