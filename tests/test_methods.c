/*
 * test_methods.c - quantization methods on tensors with known answers:
 * OMSE never worse than min-max (per block, hence per tensor) and better on
 * average; the importance-weighted search better than min-max and OMSE on the
 * weighted error it optimizes; blocks that min-max represents exactly stay
 * exact; the llama-imatrix reader (hand-made files, bad files, and a real file
 * written by llama-imatrix); calibration statistics against llama-imatrix's
 * (IMATRIX_TOL); the same GGUF bytes with 1, 2 and 3 threads for every method;
 * the calibrated methods' files under every other kernel set this CPU has
 * against the default set's: blocks that differ and the KLD change, bounded by
 * what was measured (the weight-only methods never reach the kernels); the heads'
 * default methods under a calibrating block method (the registry's rules, and what a
 * tied and an untied model's files record).  Under a sanitizer (GF_SANITIZED) the
 * threads run 1 vs 2 and the kernel sets compare imatrix and awq+autoround only.
 */
#include <math.h>
#include <omp.h>

#include "../convert/convert.h"
#include "../formats/imatrix.h"
#include "../common/types.h"
#include "../quantizers/method.h"
#include "check.h"
#include "kld.h"
#include "membuf.h"
#include "random_model.h"
#include "st_write.h"

#define ROWS 64
#define COLS 512
#define REF_TEXT_BYTES 20000 /* reference-outputs/imatrix: llama-imatrix on the first 20000 bytes */
#define IMATRIX_TOL 1e-4 /* worst relative L1 difference per entry from llama-imatrix's; measured 5.69e-5 */
#define MIN_GAIN 0.02 /* OMSE must lower the mean squared error by at least 2 % on gaussian data */

static double sq_err(gf_type type, const float *x, const void *q, int64_t n, const float *w) {
    float *back = malloc((size_t)n * sizeof *back);
    gf_dequantize_row(type, q, back, n);
    double e = 0;
    for (int64_t i = 0; i < n; i++) e += (w ? w[i % COLS] : 1.0) * ((double)x[i] - back[i]) * ((double)x[i] - back[i]);
    free(back);
    return e;
}

static float gauss(uint64_t *s) {
    float u = 0;
    for (int i = 0; i < 4; i++) u += (stw_rand(s) + 1.0f) * 0.5f;
    return (u - 2.0f) * 1.7320508f;
}

/* per-block comparison of one method against min-max */
static void check_method(const char *what, gf_type type, gf_row_quantizer fn, const float *x, const float *imp,
                         double *e_method, double *e_minmax) {
    size_t rs = gf_row_size(type, COLS);
    uint8_t *a = malloc(rs), *b = malloc(rs);
    int worse = 0;
    *e_method = *e_minmax = 0;
    for (int r = 0; r < ROWS; r++) {
        const float *xr = x + r * COLS;
        fn(type, xr, a, COLS, imp);
        gf_quantize_row_minmax(type, xr, b, COLS, NULL);
        for (int blk = 0; blk < COLS / GF_QK; blk++) {
            size_t bs = gf_type_info(type)->type_size;
            double ea = sq_err(type, xr + blk * GF_QK, a + blk * bs, GF_QK, imp ? imp + blk * GF_QK : NULL);
            double eb = sq_err(type, xr + blk * GF_QK, b + blk * bs, GF_QK, imp ? imp + blk * GF_QK : NULL);
            worse += ea > eb * (1 + 1e-6);
            *e_method += ea;
            *e_minmax += eb;
        }
    }
    CHECK(worse == 0, "%s %s: %d blocks worse than min-max", what, gf_type_info(type)->name, worse);
    free(a);
    free(b);
}

static void test_searches(void) {
    float *x = malloc(ROWS * COLS * sizeof *x), imp[COLS];
    uint64_t s = 7;
    for (int i = 0; i < ROWS * COLS; i++) x[i] = 0.02f * gauss(&s) * (i % 97 == 0 ? 6.0f : 1.0f); /* some outliers */
    for (int j = 0; j < COLS; j++) imp[j] = j % 16 == 0 ? 50.0f : 0.5f + (stw_rand(&s) + 1.0f); /* a few hot channels */
    static const gf_type types[] = {GF_TYPE_Q4_0, GF_TYPE_Q8_0};
    for (int t = 0; t < 2; t++) {
        double eo, em, ei, emw, eow;
        check_method("omse", types[t], gf_quantize_row_omse, x, NULL, &eo, &em);
        CHECK(eo < em * (1 - MIN_GAIN), "%s: omse mse %.4g vs min-max %.4g", gf_type_info(types[t])->name, eo, em);
        printf("  %s: squared error omse/min-max = %.3f\n", gf_type_info(types[t])->name, eo / em);
        check_method("imatrix", types[t], gf_quantize_row_importance, x, imp, &ei, &emw);
        check_method("omse (weighted)", types[t], gf_quantize_row_omse, x, NULL, &eow, &em);
        /* omse's blocks measured under the weights */
        size_t rs = gf_row_size(types[t], COLS);
        uint8_t *q = malloc(rs);
        eow = 0;
        for (int r = 0; r < ROWS; r++) {
            gf_quantize_row_omse(types[t], x + r * COLS, q, COLS, NULL);
            eow += sq_err(types[t], x + r * COLS, q, COLS, imp);
        }
        free(q);
        CHECK(ei < emw * (1 - MIN_GAIN) && ei < eow, "%s: weighted error imatrix %.4g, min-max %.4g, omse %.4g",
              gf_type_info(types[t])->name, ei, emw, eow);
        printf("  %s: weighted error imatrix/min-max = %.3f, omse/min-max = %.3f\n", gf_type_info(types[t])->name,
               ei / emw, eow / emw);
    }
    /* a block min-max represents exactly stays exact: values on the Q4_0 grid */
    float g[COLS];
    for (int j = 0; j < COLS; j++) g[j] = 0.25f * (float)((j % 16) - 8);
    gf_block_q4_0 bo[COLS / GF_QK], bm[COLS / GF_QK];
    gf_quantize_row_omse(GF_TYPE_Q4_0, g, bo, COLS, NULL);
    gf_quantize_row_minmax(GF_TYPE_Q4_0, g, bm, COLS, NULL);
    CHECK(sq_err(GF_TYPE_Q4_0, g, bo, COLS, NULL) == 0 && !memcmp(bo, bm, sizeof bo), "exact grid not kept");
    /* all zeros */
    float z[GF_QK] = {0};
    gf_block_q8_0 b8;
    gf_quantize_row_omse(GF_TYPE_Q8_0, z, &b8, GF_QK, NULL);
    CHECK(b8.d == 0 || gf_fp16_to_fp32(b8.d) == 0, "zero block scale");
    free(x);
}

/* ---------------------------------------------------------------- imatrix files */

typedef struct {
    uint8_t b[4096];
    size_t n;
} raw;
static void put(raw *r, const void *p, size_t n) { memcpy(r->b + r->n, p, n); r->n += n; }
static void put_i32(raw *r, int32_t v) { put(r, &v, 4); }

static void test_imatrix_files(void) {
    raw r = {.n = 0};
    put_i32(&r, 2);
    put_i32(&r, 19); put(&r, "blk.0.attn_q.weight", 19); put_i32(&r, 4); put_i32(&r, 3);
    float v1[3] = {4, 8, 12};
    put(&r, v1, sizeof v1);
    put_i32(&r, 13); put(&r, "output.weight", 13); put_i32(&r, 0); put_i32(&r, 2);
    float v2[2] = {1.5f, 2.5f};
    put(&r, v2, sizeof v2);
    put_i32(&r, 10); put_i32(&r, 8); put(&r, "calib.tx", 8);
    gf_imatrix *im = NULL;
    gf_err err = {0};
    CHECK(gf_imatrix_parse(r.b, r.n, "x.dat", &im, &err) == GF_OK, "%s", err.msg);
    const gf_imatrix_entry *e = im ? gf_imatrix_find(im, "blk.0.attn_q.weight") : NULL;
    CHECK(e && e->n == 3 && e->values[0] == 1.0f && e->values[2] == 3.0f, "values divided by ncall");
    e = im ? gf_imatrix_find(im, "output.weight") : NULL;
    CHECK(e && e->values[1] == 2.5f, "ncall 0 leaves values");
    CHECK(im && im->chunks == 10 && im->dataset && !strcmp(im->dataset, "calib.tx"), "trailer");
    gf_imatrix_free(im);
    /* every truncation is refused or parses cleanly, never crashes; the short ones must be refused */
    int bad = 0;
    for (size_t len = 0; len < r.n; len++) {
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, r.b, len);
        gf_status st = gf_imatrix_parse(copy, len, "t.dat", &im, &err);
        if (st == GF_OK) gf_imatrix_free(im);
        bad += len < 70 && st == GF_OK;
        free(copy);
    }
    CHECK(bad == 0, "%d truncations accepted", bad);
    float nanv = NAN;
    memcpy(r.b + 4 + 4 + 19 + 8 + 4, &nanv, 4);
    CHECK(gf_imatrix_parse(r.b, r.n, "nan.dat", &im, &err) == GF_E_VALUE && strstr(err.msg, "blk.0.attn_q.weight"),
          "NaN value: %s", err.msg);
    /* the same name twice: the second entry is refused by name */
    raw d = {.n = 0};
    put_i32(&d, 2);
    for (int k = 0; k < 2; k++) {
        put_i32(&d, 13); put(&d, "output.weight", 13); put_i32(&d, 1); put_i32(&d, 1);
        put(&d, v2, 4);
    }
    CHECK(gf_imatrix_parse(d.b, d.n, "dup.dat", &im, &err) == GF_E_FORMAT &&
              strstr(err.msg, "dup.dat: entry 'output.weight' appears twice"), "duplicate: %s", err.msg);
    int32_t huge = 1 << 30;
    memcpy(r.b, &huge, 4);
    CHECK(gf_imatrix_parse(r.b, r.n, "huge.dat", &im, &err) == GF_E_FORMAT, "huge count accepted");
}

/* llama-imatrix's file for qwen2-tiny on calibration.txt, and our calibration of the same windows */
static void test_llama_imatrix(void) {
    const char *path = "reference-outputs/imatrix/qwen2-tiny-calibration.imatrix.dat";
    gf_imatrix *ref = NULL;
    gf_err err = {0};
    if (access(path, R_OK) != 0) { SKIP("%s not present", path); return; }
    CHECK(gf_imatrix_load(path, &ref, &err) == GF_OK, "%s", err.msg);
    if (!ref) return;
    int ok = 0;
    for (int l = 0; l < 4; l++) {
        static const char *stems[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
        for (int i = 0; i < 7; i++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, stems[i]);
            const gf_imatrix_entry *e = gf_imatrix_find(ref, name);
            ok += e && e->n == (i == 3 ? 256 : i == 6 ? 768 : 256);
        }
    }
    CHECK(ok == 28, "%d of 28 block entries with the right sizes", ok);

    /* our statistics on the same text, every 256-token window (qwen2: no BOS) */
    char dir[1024], text_path[1024];
    if (!check_shared_path(dir, sizeof dir, "models/qwen2-tiny/f32") ||
        !check_shared_path(text_path, sizeof text_path, "data/calibration.txt")) {
        gf_imatrix_free(ref);
        return;
    }
    char *text = NULL;
    size_t len = 0;
    gf_read_file(text_path, 1 << 24, &text, &len, &err);
    if (len > REF_TEXT_BYTES) len = REF_TEXT_BYTES; /* the reference was computed on this prefix */
    gf_hfcfg cfg;
    gf_safetensors *st = NULL;
    gf_vocab *v = NULL;
    gf_calib *c = NULL;
    gf_imatrix *ours = NULL;
    gf_calib_opts co = {.text = text, .text_len = len, .name = "calibration.txt", .nsamples = 100000, .seqlen = 256};
    CHECK(gf_hfcfg_load(dir, &cfg, &err) == GF_OK && gf_st_open(dir, &st, &err) == GF_OK &&
              gf_vocab_from_hf(dir, cfg.n_vocab, &v, &err) == GF_OK && gf_calib_open(&cfg, st, v, &co, &c, &err) == GF_OK &&
              gf_calib_imatrix(c, &ours, NULL, NULL, &err) == GF_OK,
          "calibration: %s", err.msg);
    double worst = 0;
    int compared = 0;
    for (int64_t i = 0; ours && i < ref->n; i++) {
        const gf_imatrix_entry *a = &ref->e[i], *b = gf_imatrix_find(ours, a->name);
        if (!b || b->n != a->n) continue;
        compared++;
        double num = 0, den = 0;
        for (int64_t j = 0; j < a->n; j++) {
            num += fabs((double)a->values[j] - b->values[j]);
            den += fabs((double)a->values[j]);
        }
        if (num / den > worst) worst = num / den;
    }
    printf("  calibration vs llama-imatrix: %d entries, worst relative L1 difference %.2e (%lld windows)\n", compared,
           worst, c ? (long long)c->n_samples : 0LL);
    CHECK(compared >= 28 && worst < IMATRIX_TOL, "%d entries compared, worst relative difference %.3g", compared, worst);
    gf_imatrix_free(ours);
    gf_calib_free(c);
    gf_vocab_free(v);
    gf_st_close(st);
    free(text);
    gf_imatrix_free(ref);
}

/* ---------------------------------------------------------------- thread-count independence */

/* Every method's bytes with 1, 2 and 3 threads.  qwen2-tiny at 2 x 128 tokens is above
 * every parallel threshold the methods meet: AutoRound's elementwise loops (65536
 * weights: attn_q, attn_output, the FFN matrices, the head), the GEMM (32768 MACs), the
 * attention's heads (T * P * head_dim = 128 * 128 * 64), AWQ's row loops and the
 * pipeline's row chunks; 3 threads split 4 blocks and 2 heads unevenly. */
static void test_threads(void) {
    static const char *names[] = {"minmax", "omse", "imatrix", "awq", "autoround", "awq+autoround"};
    gf_calib_opts co = {.nsamples = 2, .seqlen = 128};
    gf_ar_opts ar = {.iters = 10, .batch = 2, .tune_range = 1};
    const int saved = omp_get_max_threads();
    for (int i = 0; i < 6; i++) {
        const gf_qmethod *m = gf_qmethod_find(names[i]);
        membuf f[3] = {{0}};
        gf_err err = {0};
        gf_convert_summary sum;
        gf_convert_opts o = {.type = GF_TYPE_Q4_0, .embed_type = -1, .output_type = -1, .blocks = m,
                             .embed = strstr(names[i], "awq") ? NULL : m, .autoround = &ar,
                             .calib = &co, .act_error = 1}; /* autoround: the head too; the report's probe runs */
        int ok = 1;
        const int n_threads = GF_SANITIZED ? 2 : 3; /* 1 vs 2 under a sanitizer, 5-10x slower */
        for (int t = 0; t < n_threads; t++) {
            gf_sink sk = {mem_write, &f[t]};
            omp_set_num_threads(t + 1);
            ok &= omp_get_max_threads() == t + 1 && gf_convert("models/qwen2-tiny", &sk, &o, &sum, &err) == GF_OK;
        }
        CHECK(ok, "%s: %s", names[i], err.msg);
        for (int t = 1; ok && t < n_threads; t++)
            CHECK(f[0].n == f[t].n && !memcmp(f[0].p, f[t].p, f[0].n), "%s: 1 and %d threads give different files",
                  names[i], t + 1);
        for (int t = 0; t < 3; t++) free(f[t].p);
    }
    omp_set_num_threads(saved);
}

/* ---------------------------------------------------------------- kernel sets */

/* Blocks (n[0] of them) and F32 elements (n[1]) that differ between two files
 * with the same tensors (diff[0], diff[1]); 0 when the layouts differ. */
static int units_differ(const gf_gguf *a, const gf_gguf *b, int64_t diff[2], int64_t n[2]) {
    diff[0] = diff[1] = n[0] = n[1] = 0;
    if (a->n_tensors != b->n_tensors) return 0;
    for (uint64_t i = 0; i < a->n_tensors; i++) {
        const gf_gguf_tensor *x = &a->tensors[i], *y = &b->tensors[i];
        if (x->type != y->type || x->nbytes != y->nbytes) return 0;
        const int f = x->type == GF_TYPE_F32;
        const size_t u = f ? 4 : gf_type_info(x->type)->type_size;
        for (size_t o = 0; o < x->nbytes; o += u, n[f]++)
            diff[f] += memcmp((const uint8_t *)x->data + o, (const uint8_t *)y->data + o, u) != 0;
    }
    return 1;
}

/* Per method: blocks and F32 (norm) elements whose bytes may differ from the default
 * kernel set's file, and the relative change of the file's KLD from the F32 model
 * (2 chunks of nlp-valid.txt) allowed, a little over what was measured with the
 * settings below (2 samples of 64 tokens, 12 iterations), scalar vs avx2 on x86-64:
 *   imatrix        15 of 114712 blocks, 0 of 4352 elements, KLD 4.3e-3  (the statistics' float sums)
 *   awq            2 blocks, 85 elements (norms), KLD 4.7e-6           (the scales' inputs)
 *   autoround      59899 blocks (52 %), 0 elements, KLD 5.0e-2         (SignSGD: a gradient near 0
 *                  takes the other sign, and the trajectories part)
 *   awq+autoround  51082 blocks, 86 elements, KLD 4.5e-2
 * With 4 iterations AutoRound kept V = 0, a = 1 (best iteration 0) and its bytes were
 * identical: the difference is the tuning's, not the calibration's. */
typedef struct {
    const char *name;
    int64_t max_blocks, max_elems;
    double max_kld_rel;
} ks_limit;

/* The conversion test_kernel_sets compares (2 samples of 64 tokens of the built-in
 * text, 12 AutoRound iterations: fewer and the kept iterate is V = 0, a = 1). */
static gf_convert_opts ks_opts(const char *method, gf_calib_opts *co, gf_ar_opts *ar) {
    const gf_qmethod *m = gf_qmethod_find(method);
    *co = (gf_calib_opts){.nsamples = 2, .seqlen = 64};
    *ar = (gf_ar_opts){.iters = 12, .batch = 2, .tune_range = 1};
    return (gf_convert_opts){.type = GF_TYPE_Q4_0, .embed_type = -1, .output_type = -1, .blocks = m,
                             .embed = strstr(method, "awq") ? NULL : m, .autoround = ar, .calib = co};
}

/* `test_methods --convert METHOD OUT SET`: the conversion in a process whose kernel
 * set is SET from the start (calibration and the GEMM ask for it once). */
static int convert_child(const char *method, const char *out, const char *set) {
    if (gf_kernels_default() != (gf_kernel_set)gf_kernels_from_name(set)) {
        fprintf(stderr, "kernel set %s asked, %s in use\n", set, gf_kernels_name(gf_kernels_default()));
        return 2;
    }
    gf_calib_opts co;
    gf_ar_opts ar;
    gf_convert_opts o = ks_opts(method, &co, &ar);
    membuf f = {0};
    gf_err err = {0};
    gf_convert_summary sum;
    gf_sink sk = {mem_write, &f};
    FILE *fp = NULL;
    int ok = gf_convert("models/qwen2-tiny", &sk, &o, &sum, &err) == GF_OK && (fp = fopen(out, "wb")) &&
             fwrite(f.p, 1, f.n, fp) == f.n;
    if (fp && fclose(fp)) ok = 0;
    if (!ok) fprintf(stderr, "%s: %s\n", method, err.msg);
    free(f.p);
    return ok ? 0 : 1;
}

/* The calibrated methods' files under every kernel set this CPU has, against the
 * default set's: the float products of calibration and AWQ's search go through the
 * kernels (and the GEMM), so summation order may move a statistic or a loss by an
 * ulp and flip a close choice.  Each other set runs in a child process started with
 * GF_KERNELS; every file is evaluated with the default kernels. */
static void test_kernel_sets(const char *self) {
    char text[1024], tmp[] = "/tmp/gf-test-methods-XXXXXX";
    if (!check_shared_path(text, sizeof text, "data/nlp-valid.txt")) return;
    if (!mkdtemp(tmp)) { CHECK(0, "mkdtemp"); return; }
    static const ks_limit lim[] = {
        {"imatrix", 25, 0, 8e-3}, {"awq", 8, 130, 3e-5}, {"autoround", 66000, 0, 6e-2},
        {"awq+autoround", 56000, 130, 6e-2}};
    const gf_kernel_set def = gf_kernels_default();
    kld_ref ref;
    if (!kld_ref_open(&ref, "models/qwen2-tiny", text, 20000, 2)) return;
    int others = 0;
    for (int i = 0; i < 4; i++) {
        if (GF_SANITIZED && (i == 1 || i == 2)) continue; /* awq+autoround runs both their code */
        gf_calib_opts co;
        gf_ar_opts ar;
        gf_convert_opts o = ks_opts(lim[i].name, &co, &ar);
        kld_file base;
        gf_err err = {0};
        CHECK(kld_convert("models/qwen2-tiny", &o, &base, &err) == GF_OK, "%s: %s", lim[i].name, err.msg);
        const double k0 = base.m ? kld_of(&ref, base.m) : NAN;
        for (int s = 0; base.m && s < GF_KERNELS_COUNT_; s++) {
            if ((gf_kernel_set)s == def || !gf_kernels_supported((gf_kernel_set)s)) continue;
            others += i == 0;
            char path[128], cmd[2048];
            snprintf(path, sizeof path, "%s/%d-%d.gguf", tmp, i, s);
            snprintf(cmd, sizeof cmd, "GF_KERNELS=%s '%s' --convert '%s' '%s' %s", gf_kernels_name((gf_kernel_set)s), self,
                     lim[i].name, path, gf_kernels_name((gf_kernel_set)s));
            kld_file k = {0};
            char *data = NULL;
            size_t len = 0;
            int rc = system(cmd);
            gf_status st = rc ? GF_E_IO : gf_read_file(path, (size_t)1 << 30, &data, &len, &err);
            if (!st) {
                k.f.p = (uint8_t *)data, k.f.n = k.f.cap = len;
                st = kld_load(&k, &err);
            }
            CHECK(st == GF_OK, "%s with %s: exit %d, %s", lim[i].name, gf_kernels_name((gf_kernel_set)s), rc, err.msg);
            int64_t d[2] = {0}, n[2] = {0};
            const int same_layout = !st && units_differ(base.g, k.g, d, n);
            const double k1 = st ? NAN : kld_of(&ref, k.m), rel = fabs(k1 - k0) / k0;
            printf("  %-13s %s vs %s: %lld of %lld blocks and %lld of %lld F32 elements differ, KLD %.6f vs %.6f "
                   "(relative %.2e)\n", lim[i].name, gf_kernels_name((gf_kernel_set)s), gf_kernels_name(def),
                   (long long)d[0], (long long)n[0], (long long)d[1], (long long)n[1], k1, k0, rel);
            CHECK(same_layout && d[0] <= lim[i].max_blocks && d[1] <= lim[i].max_elems && rel <= lim[i].max_kld_rel,
                  "%s: %s vs %s: %lld blocks and %lld elements differ (limits %lld, %lld), KLD relative change %.3g "
                  "(limit %.3g)", lim[i].name, gf_kernels_name((gf_kernel_set)s), gf_kernels_name(def), (long long)d[0],
                  (long long)d[1], (long long)lim[i].max_blocks, (long long)lim[i].max_elems, rel, lim[i].max_kld_rel);
            kld_file_free(&k);
            remove(path);
        }
        kld_file_free(&base);
    }
    if (!others) SKIP_CPU("test_methods: only the %s kernel set runs here: no kernel sets to compare", gf_kernels_name(def));
    kld_ref_free(&ref);
    rmdir(tmp);
}

/* ---------------------------------------------------------------- head defaults */

static void keep_notice(void *ctx, const char *text) {
    if (strstr(text, "heads:")) snprintf(ctx, 640, "%s", text);
}

/* Converts dir with blocks method `blocks` (embed: given or NULL) into tmp/heads.gguf and
 * checks the methods that the summary and the file's keys record, and the notice. */
static void check_heads(const char *tmp, const char *dir, int tied, const char *blocks, const gf_qmethod *embed,
                        const char *want_e, const char *want_o) {
    gf_calib_opts co = {.nsamples = 2, .seqlen = 64};
    gf_ar_opts ar = {.iters = 2, .batch = 2, .tune_range = 1};
    char notice[640] = "", path[600], what[700];
    snprintf(what, sizeof what, "%s --blocks %s%s%s", dir, blocks, embed ? " --embed " : "", embed ? embed->name : "");
    gf_convert_opts o = {.type = GF_TYPE_Q4_0, .embed_type = -1, .output_type = -1, .blocks = gf_qmethod_find(blocks),
                         .embed = embed, .autoround = &ar, .calib = &co, .notice = keep_notice, .progress_ctx = notice};
    membuf f = {0};
    gf_sink sk = {mem_write, &f};
    gf_convert_summary sum;
    gf_err err = {0};
    gf_gguf *g = NULL;
    snprintf(path, sizeof path, "%s/heads.gguf", tmp);
    FILE *fp = NULL;
    int ok = gf_convert(dir, &sk, &o, &sum, &err) == GF_OK && (fp = fopen(path, "wb")) && fwrite(f.p, 1, f.n, fp) == f.n;
    if (fp) ok &= fclose(fp) == 0;
    ok = ok && gf_gguf_open(path, &g, &err) == GF_OK;
    CHECK(ok, "%s: %s", what, err.msg);
    const gf_str *ke = NULL, *ko = NULL;
    if (ok) {
        CHECK(!strcmp(sum.embed_method, want_e) && !strcmp(sum.output_method, want_o),
              "%s: summary says embed %s, output %s; expected %s, %s", what, sum.embed_method, sum.output_method,
              want_e, want_o);
        CHECK(gf_gguf_get_str(g, "gguf-forge.method.embed", &ke, &err) == GF_OK && !strcmp(ke->s, want_e),
              "%s: gguf-forge.method.embed is %s, expected %s", what, ke ? ke->s : "absent", want_e);
        gf_status rc = gf_gguf_get_str(g, "gguf-forge.method.output", &ko, &err);
        if (tied) CHECK(rc != GF_OK, "%s: a tied model's file records an output method", what);
        else CHECK(rc == GF_OK && !strcmp(ko->s, want_o), "%s: gguf-forge.method.output is %s, expected %s", what,
                   ko ? ko->s : "absent", want_o);
    }
    /* announced when a method was chosen for the user: a tied model has no output head of its own */
    const int defaulted = (!embed && strcmp(want_e, "minmax")) || (!tied && strcmp(want_o, "minmax"));
    CHECK(defaulted == (notice[0] != 0) && (!defaulted || strstr(notice, embed ? want_o : want_e)),
          "%s: notice '%s'", what, notice);
    gf_gguf_close(g);
    free(f.p);
    remove(path);
}

/* The registry's rules for default heads, then what a conversion does with them. */
static void test_head_defaults(void) {
    const gf_qmethod *omse = gf_qmethod_find("omse"), *mm = gf_qmethod_default();
    for (int i = 0; gf_qmethod_at(i); i++) {
        const gf_qmethod *m = gf_qmethod_at(i);
        for (int tied = 0; tied < 2; tied++) {
            const gf_qmethod *e = NULL, *o = NULL, *ge = mm, *go = mm;
            const char *why = gf_qmethod_heads(m, tied, &e, &o);
            /* a method that calibrates anyway names its heads' methods; the others leave them alone */
            CHECK(!why == !gf_qmethod_calibrates(m, 0), "%s: heads named %d, calibrates %d", m->name, !!why,
                  gf_qmethod_calibrates(m, 0));
            if (!why) {
                CHECK(!e && !o, "%s names no heads but filled them", m->name);
                continue;
            }
            CHECK(e && o && why[0], "%s: a default head is not a registered method, or no reason", m->name);
            if (!e || !o) continue;
            CHECK(tied || e == omse, "%s: an untied embedding gets %s, not omse", m->name, e->name);
            for (int k = 0; k < 2; k++) { /* never more than the block method needs */
                const gf_qmethod *h = k ? o : e;
                CHECK(!h->blocks_only, "%s: its default head %s cannot do heads", m->name, h->name);
                CHECK(h->tunes <= m->tunes && gf_qmethod_calibrates(h, 0) <= gf_qmethod_calibrates(m, 0) &&
                      gf_qmethod_calibrates(h, 1) <= gf_qmethod_calibrates(m, 1),
                      "%s: its default head %s tunes or calibrates where it does not", m->name, h->name);
            }
            gf_qmethod_heads(m, tied, &ge, &go); /* given ones are kept */
            CHECK(ge == mm && go == mm, "%s: replaced a head method the user gave", m->name);
        }
    }
    char tmp[] = "/tmp/gf-test-heads-XXXXXX", dir[64];
    if (!mkdtemp(tmp)) { CHECK(0, "mkdtemp"); return; }
    const gf_qmethod *e = NULL, *o = NULL;
    gf_qmethod_heads(gf_qmethod_find("autoround"), 1, &e, &o);
    if (e && o) {
        check_heads(tmp, "models/qwen2-tiny", 1, "autoround", NULL, e->name, o->name);
        check_heads(tmp, "models/qwen2-tiny", 1, "autoround", mm, "minmax", o->name);
    }
    check_heads(tmp, "models/qwen2-tiny", 1, "minmax", NULL, "minmax", "minmax");
    snprintf(dir, sizeof dir, "%s/untied", tmp);
    rt ts[64];
    int n = 0;
    rm_spec sp = {.qwen2 = 1, .embd = 64, .heads = 4, .kv_heads = 2, .ff = 96, .layers = 1, .seed = 5};
    CHECK(rm_write(dir, &sp, ts, &n, 0) == 0, "cannot write %s", dir);
    const char *bm[] = {"autoround", "awq", "imatrix"};
    for (int i = 0; i < 3; i++) {
        e = o = NULL;
        gf_qmethod_heads(gf_qmethod_find(bm[i]), 0, &e, &o);
        if (e && o) check_heads(tmp, dir, 0, bm[i], NULL, e->name, o->name);
    }
    rm_free(ts, n);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    CHECK(system(cmd) == 0, "%s", cmd);
}

int main(int argc, char **argv) {
    if (argc == 5 && !strcmp(argv[1], "--convert")) return convert_child(argv[2], argv[3], argv[4]);
    if (argc == 2 && !strcmp(argv[1], "--heads")) { /* this part alone, while changing it */
        test_head_defaults();
        return check_done("test_methods --heads");
    }
    char self[1024];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1); /* resolved here: in the shell it is the shell */
    self[n > 0 ? n : 0] = 0;
    test_kernel_sets(self);
    test_searches();
    test_imatrix_files();
    test_llama_imatrix();
    test_threads();
    test_head_defaults();
    return check_done("test_methods");
}
