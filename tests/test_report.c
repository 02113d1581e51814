/*
 * test_report.c - `gguf-forge quantize --report` validated against the GGUF it
 * describes: one entry per tensor in file order with the file's name, shape,
 * type and bytes; the weight error recomputed here from an F32 conversion of the
 * same model and the written blocks; the output-activation error present for
 * every matrix when calibration ran (null otherwise), zero for a matrix kept in
 * F32, smaller at Q8_0 than at Q4_0, and smaller after AWQ (which minimizes it)
 * than with min-max; the output error ||X(W-Q)ᵀ|| / ||XWᵀ|| recomputed here in
 * double for token_embd (X: the probe samples' token lookups) and blk.0.attn_q
 * (X: the normed embeddings at the probe's positions) from the F32 file and the
 * written blocks, to OUT_ERR_TOL; `gguf-forge report` reads the file and draws
 * the SVG.
 */
#include "check.h"

#include <cjson/cJSON.h>
#include <math.h>

#include "../calib/calib.h"
#include "../formats/gguf.h"
#include "../common/types.h"

/* The reported output error against the one recomputed here, relative.  Measured:
 * at most 2.7e-9 (the engine's float X against the double one here).  The weight
 * error in its place is 2.7 % off for token_embd (Q4_0) and 87 % for attn_q. */
#define OUT_ERR_TOL 1e-6
#define PROBE_SAMPLES 4   /* calib/probe.c: the first min(4, nsamples) calibration samples */
#define PROBE_TOKENS 256  /* convert.c's ACT_TOKENS: positions kept per matrix, spread evenly */

static const char *prog(void) {
    static char buf[512];
    const char *b = getenv("BUILD");
    snprintf(buf, sizeof buf, "%s/gguf-forge", b && *b ? b : "build");
    return buf;
}

static char dir[] = "/tmp/gf-test-report-XXXXXX";

/* runs quantize on the bundled model with extra options; returns the parsed report */
static cJSON *quantize(const char *tag, const char *opts) {
    char cmd[2048], path[600];
    snprintf(cmd, sizeof cmd,
             "%s quantize models/qwen2-tiny -o %s/%s.gguf --report %s/%s.json -q --force -t 2 %s >%s/%s.log 2>&1", prog(),
             dir, tag, dir, tag, opts, dir, tag);
    int rc = system(cmd);
    CHECK(rc == 0, "%s exited %d (see %s/%s.log)", cmd, rc, dir, tag);
    if (rc) return NULL;
    snprintf(path, sizeof path, "%s/%s.json", dir, tag);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    cJSON *j = cJSON_Parse(text);
    CHECK(j != NULL, "%s is not JSON", path);
    return j;
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* every entry against the GGUF; the weight error against the F32 file */
static void check_against_file(const char *tag, const cJSON *rep, const gf_gguf *ref, int calibrated, int werr) {
    char path[600];
    gf_err err = {0};
    gf_gguf *g = NULL;
    snprintf(path, sizeof path, "%s/%s.gguf", dir, tag);
    if (gf_gguf_open(path, &g, &err)) {
        CHECK(0, "%s", err.msg);
        return;
    }
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(rep, "tensors");
    CHECK(cJSON_IsArray(ts) && (uint64_t)cJSON_GetArraySize(ts) == g->n_tensors, "%s: %d report entries, %llu tensors",
          tag, cJSON_GetArraySize(ts), (unsigned long long)g->n_tensors);
    int bad_meta = 0, bad_err = 0, bad_act = 0;
    for (uint64_t i = 0; i < g->n_tensors && i < (uint64_t)cJSON_GetArraySize(ts); i++) {
        const cJSON *e = cJSON_GetArrayItem(ts, (int)i);
        const gf_gguf_tensor *t = &g->tensors[i];
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
        int ok = strlen(str(e, "name")) == t->name.len && !memcmp(str(e, "name"), t->name.s, t->name.len) &&
                 !strcmp(str(e, "type"), gf_type_info(t->type)->name) && num(e, "bytes") == (double)t->nbytes &&
                 cJSON_GetArraySize(shape) == (int)t->n_dims;
        for (uint32_t d = 0; ok && d < t->n_dims; d++) ok = cJSON_GetArrayItem(shape, (int)d)->valuedouble == t->ne[d];
        if (!ok && bad_meta++ < 3) CHECK(0, "%s: entry %llu (%s) disagrees with the file", tag, (unsigned long long)i, str(e, "name"));
        /* weight error: the float weights from the F32 conversion, the blocks from the file */
        int64_t k = gf_gguf_find_tensor(ref, str(e, "name"));
        if (k < 0 || !werr) goto act; /* AWQ's errors are against its rescaled weights */
        const gf_gguf_tensor *rt = &ref->tensors[k];
        int64_t len = t->ne[0], rows = t->nbytes / gf_row_size(t->type, len);
        float *back = malloc((size_t)len * sizeof *back);
        double e2 = 0, r2 = 0;
        for (int64_t r = 0; r < rows; r++) {
            gf_dequantize_row(t->type, (const uint8_t *)t->data + (size_t)r * gf_row_size(t->type, len), back, len);
            const float *w = (const float *)rt->data + r * len;
            for (int64_t j = 0; j < len; j++) e2 += ((double)w[j] - back[j]) * ((double)w[j] - back[j]), r2 += (double)w[j] * w[j];
        }
        free(back);
        double mse = e2 / (double)(len * rows), rel = r2 > 0 ? sqrt(e2 / r2) : 0;
        if ((fabs(num(e, "weight_mse") - mse) > 1e-6 * mse + 1e-30 || fabs(num(e, "weight_rel_error") - rel) > 1e-6 * rel + 1e-30) &&
            bad_err++ < 3)
            CHECK(0, "%s: %s: weight error %.9g / %.9g, recomputed %.9g / %.9g", tag, str(e, "name"), num(e, "weight_mse"),
                  num(e, "weight_rel_error"), mse, rel);
    act:;
        const cJSON *act = cJSON_GetObjectItemCaseSensitive(e, "output_rel_error");
        int want_number = calibrated && t->n_dims == 2;
        double a = num(e, "output_rel_error");
        if (want_number ? !(a >= 0 && a < 1 && (t->type == GF_TYPE_F32 ? a == 0 : a > 0)) : !cJSON_IsNull(act)) {
            if (bad_act++ < 3) CHECK(0, "%s: %s (%s): output_rel_error %s", tag, str(e, "name"), gf_type_info(t->type)->name,
                                     cJSON_PrintUnformatted(act));
        }
    }
    CHECK(!bad_meta, "%s: %d entries disagree with the file", tag, bad_meta);
    CHECK(!bad_err, "%s: %d weight errors differ from the recomputed ones", tag, bad_err);
    CHECK(!bad_act, "%s: %d bad output_rel_error values", tag, bad_act);
    gf_gguf_close(g);
}

/* mean output error of the block matrices, and the largest ratio a/b entry by entry */
static double mean_act(const cJSON *rep) {
    double s = 0;
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(rep, "tensors")) {
        if (strncmp(str(e, "name"), "blk.", 4) || !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(e, "output_rel_error"))) continue;
        s += num(e, "output_rel_error"), n++;
    }
    return n ? s / n : NAN;
}

/* the report entry named name */
static const cJSON *entry(const cJSON *rep, const char *name) {
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(rep, "tensors")) if (!strcmp(str(e, "name"), name)) return e;
    return NULL;
}

static const float *f32_data(const gf_gguf *g, const char *name, int64_t *n) {
    int64_t k = gf_gguf_find_tensor(g, name);
    if (k < 0 || g->tensors[k].type != GF_TYPE_F32) return NULL;
    *n = (int64_t)(g->tensors[k].nbytes / 4);
    return (const float *)g->tensors[k].data;
}

static double worst_out_rel; /* largest relative difference reported vs recomputed */

/* token_embd and blk.0.attn_q of file `tag` (calibrated with nsamples windows of
 * seqlen tokens of text): ||X(W-Q)ᵀ|| / ||XWᵀ|| in double against the report. */
static void check_output_error(const char *tag, const cJSON *rep, const gf_gguf *ref, int64_t nsamples, int64_t seqlen,
                               const char *text, size_t text_len) {
    char path[600];
    gf_err err = {0};
    gf_gguf *g = NULL;
    gf_hfcfg cfg;
    gf_safetensors *st = NULL;
    gf_vocab *v = NULL;
    gf_calib *c = NULL;
    snprintf(path, sizeof path, "%s/%s.gguf", dir, tag);
    gf_calib_opts co = {.text = text, .text_len = text_len, .nsamples = nsamples < PROBE_SAMPLES ? nsamples : PROBE_SAMPLES,
                        .seqlen = seqlen};
    gf_status rc = gf_gguf_open(path, &g, &err);
    if (!rc) rc = gf_hfcfg_load("models/qwen2-tiny", &cfg, &err);
    if (!rc) rc = gf_st_open("models/qwen2-tiny", &st, &err);
    if (!rc) rc = gf_vocab_from_hf("models/qwen2-tiny", cfg.n_vocab, &v, &err);
    if (!rc) rc = gf_calib_open(&cfg, st, v, &co, &c, &err); /* the probe's samples: its tokens only are used */
    CHECK(rc == GF_OK, "%s: %s", tag, err.msg);
    int64_t n_emb = 0, n_norm = 0, n_wq = 0;
    const float *emb = rc ? NULL : f32_data(ref, "token_embd.weight", &n_emb);
    const float *norm = rc ? NULL : f32_data(ref, "blk.0.attn_norm.weight", &n_norm);
    const float *wq = rc ? NULL : f32_data(ref, "blk.0.attn_q.weight", &n_wq);
    const int64_t D = cfg.n_embd;
    CHECK(rc || (emb && norm && wq && n_norm == D), "%s: the F32 file lacks the tensors", tag);
    if (rc || !emb || !norm || !wq) goto done;
    static const char *names[2] = {"token_embd.weight", "blk.0.attn_q.weight"};
    const int64_t S = c->n_samples, T = c->seqlen;
    int64_t per = PROBE_TOKENS / S;
    if (per > T - 1) per = T - 1;
    for (int k = 0; k < 2; k++) {
        int64_t t_idx = gf_gguf_find_tensor(g, names[k]);
        const cJSON *e = entry(rep, names[k]);
        if (t_idx < 0 || !e) {
            CHECK(0, "%s: no %s", tag, names[k]);
            continue;
        }
        const gf_gguf_tensor *t = &g->tensors[t_idx];
        const int64_t rows = k == 0 ? n_emb / D : n_wq / D;
        const size_t rs = gf_row_size(t->type, D);
        float *Q = malloc((size_t)(rows * D) * sizeof *Q); /* the written blocks, decoded */
        for (int64_t r = 0; r < rows; r++) gf_dequantize_row(t->type, (const uint8_t *)t->data + r * rs, Q + r * D, D);
        const float *W = k == 0 ? emb : wq;
        double e2 = 0, r2 = 0;
        if (k == 0) { /* every lookup of every probe sample's tokens: X is one-hot */
            for (int64_t i = 0; i < S * T; i++)
                for (int64_t j = 0; j < D; j++) {
                    const int64_t o = (int64_t)c->tokens[i] * D + j;
                    e2 += ((double)W[o] - Q[o]) * ((double)W[o] - Q[o]);
                    r2 += (double)W[o] * W[o];
                }
        } else { /* block 0's input is the embedding: X = rmsnorm(x) * attn_norm at positions 1 + k(T-1)/per */
            double *xn = malloc((size_t)D * sizeof *xn);
            for (int64_t smp = 0; smp < S; smp++)
                for (int64_t kk = 0; kk < per; kk++) {
                    const float *x = emb + (int64_t)c->tokens[smp * T + 1 + kk * (T - 1) / per] * D;
                    double ss = 0;
                    for (int64_t j = 0; j < D; j++) ss += (double)x[j] * x[j];
                    const double sc = 1.0 / sqrt(ss / (double)D + cfg.rms_eps);
                    for (int64_t j = 0; j < D; j++) xn[j] = x[j] * sc * norm[j];
                    for (int64_t r = 0; r < rows; r++) {
                        double y = 0, d = 0;
                        for (int64_t j = 0; j < D; j++) y += xn[j] * W[r * D + j], d += xn[j] * ((double)W[r * D + j] - Q[r * D + j]);
                        e2 += d * d;
                        r2 += y * y;
                    }
                }
            free(xn);
        }
        free(Q);
        const double ours = sqrt(e2 / r2), theirs = num(e, "output_rel_error"), rel = fabs(ours - theirs) / ours;
        if (rel > worst_out_rel) worst_out_rel = rel;
        printf("  %s %s: output error reported %.8f, recomputed %.8f (relative difference %.2e); weight error %.6f\n", tag,
               names[k], theirs, ours, rel, num(e, "weight_rel_error"));
        CHECK(rel <= OUT_ERR_TOL, "%s %s: output error reported %.8g, recomputed %.8g", tag, names[k], theirs, ours);
    }
done:
    gf_calib_free(c);
    gf_vocab_free(v);
    gf_st_close(st);
    gf_gguf_close(g);
}

int main(void) {
    if (access("models/qwen2-tiny/model.safetensors", R_OK) != 0) {
        SKIP("models/qwen2-tiny not found (run from the repository root)");
        return check_done("test_report");
    }
    if (!mkdtemp(dir)) return 1;
    const char *cal = "--calib calib/default-calibration.txt --nsamples 8 --seqlen 128";
    char opts[512];
    cJSON *f32 = quantize("f32", "--type f32");
    snprintf(opts, sizeof opts, "--type q4_0 --embed-type q4_0 --tensor-type 'blk\\.0\\.ffn_down=f32' %s", cal);
    cJSON *q4 = quantize("q4", opts);
    /* 3 samples: the probe keeps 85 positions of each, 255 in all */
    snprintf(opts, sizeof opts, "--type q8_0 --tensor-type 'blk\\.0\\.ffn_down=f32' --calib calib/default-calibration.txt "
                                "--nsamples 3 --seqlen 128");
    cJSON *q8 = quantize("q8", opts);
    snprintf(opts, sizeof opts, "--type q4_0 --embed-type q4_0 --blocks awq --tensor-type 'blk\\.0\\.ffn_down=f32' %s", cal);
    cJSON *awq = quantize("awq", opts);
    cJSON *nocal = quantize("nocal", "--type q4_0");
    char path[600];
    gf_err err = {0};
    gf_gguf *ref = NULL;
    snprintf(path, sizeof path, "%s/f32.gguf", dir);
    if (f32 && q4 && q8 && awq && nocal && !gf_gguf_open(path, &ref, &err)) {
        CHECK(!strcmp(str(q4, "type"), "q4_0") && !strcmp(str(awq, "blocks_method"), "awq") && num(q4, "parameters") > 0,
              "report header: type %s, blocks %s", str(q4, "type"), str(awq, "blocks_method"));
        check_against_file("q4", q4, ref, 1, 1);
        check_against_file("q8", q8, ref, 1, 1);
        check_against_file("awq", awq, ref, 1, 0);
        check_against_file("nocal", nocal, ref, 0, 1);
        char *text = NULL;
        size_t text_len = 0;
        CHECK(gf_read_file("calib/default-calibration.txt", 1 << 24, &text, &text_len, &err) == GF_OK, "%s", err.msg);
        check_output_error("q4", q4, ref, 8, 128, text, text_len);
        check_output_error("q8", q8, ref, 3, 128, text, text_len);
        printf("test_report: output error vs recomputed: worst relative difference %.2e\n", worst_out_rel);
        free(text);
        /* Q8_0 keeps 3 more bits: its output error is far below Q4_0's, tensor by tensor */
        const cJSON *a, *b;
        int worse = 0, n = 0;
        cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(q4, "tensors")) {
            cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(q8, "tensors")) {
                if (strcmp(str(a, "name"), str(b, "name")) || isnan(num(a, "output_rel_error")) || num(a, "output_rel_error") == 0) continue;
                n++;
                if (!(num(b, "output_rel_error") < num(a, "output_rel_error") / 4)) worse++;
            }
        }
        CHECK(n > 20 && worse == 0, "%d of %d tensors: Q8_0's output error not below a quarter of Q4_0's", worse, n);
        /* AWQ chooses its scales by this very error */
        double m_min = mean_act(q4), m_awq = mean_act(awq);
        CHECK(m_awq < m_min, "mean output error of the block matrices: awq %.5f, min-max %.5f", m_awq, m_min);
        printf("test_report: mean output error of the block matrices at Q4_0: min-max %.5f, awq %.5f\n", m_min, m_awq);
        /* the report command reads it back and draws the layers */
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "%s report %s/q4.json --svg %s/q4.svg >%s/r.log 2>&1 && grep -q '<svg' %s/q4.svg", prog(), dir,
                 dir, dir, dir);
        CHECK(system(cmd) == 0, "%s", cmd);
    } else {
        CHECK(0, "the conversions or %s failed: %s", path, err.msg);
    }
    gf_gguf_close(ref);
    cJSON_Delete(f32), cJSON_Delete(q4), cJSON_Delete(q8), cJSON_Delete(awq), cJSON_Delete(nocal);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_done("test_report");
}
