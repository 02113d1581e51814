/*
 * test_ppl.c - perplexity and KL divergence against llama.cpp's figures on the
 * shared models, plus checks of the windowing (BOS, scored half) against a
 * plain recomputation from gf_forward logits, thread independence and errors.
 *
 * The figures are read from files, one line per (text, type): PPL, its ±, mean
 * KLD against F32 and the same-top-1 share, as llama-perplexity printed them:
 *   - ../shared/oracle/stories260K.ppl.txt: whole files, tinystories always,
 *     wiki.test.raw with GF_PPL_FULL=1;
 *   - reference-outputs/ppl/qwen2-tiny-nlp-valid-20chunks.txt: the first 20
 *     chunks of nlp-valid.txt for qwen2-tiny F32, Q8_0, Q4_0 (default);
 *   - reference-outputs/ppl/qwen2-tiny-kquants-20chunks.txt: the same 20 chunks for
 *     llama.cpp's Q4_K_M and Q6_K files in reference-outputs/kquants (widened at load);
 *   - ../shared/oracle/qwen2-tiny-f32.ppl.txt: whole nlp-valid.txt and
 *     wiki.test.raw for F32, Q8_0, Q4_0, Q4_0-imatrix, checked with GF_PPL_FULL=1
 *     (about 7 million token evaluations: many minutes, so not in every make
 *     test; without it the whole-file checks count as one skip, cause "other").
 */
#include "../engine/ppl.h"
#include "../engine/tokenizer.h"
#include "../formats/vocab.h"
#include "check.h"

#include <math.h>
#include <omp.h>

#define N_CHUNKS 20
#define REF_20 "reference-outputs/ppl/qwen2-tiny-nlp-valid-20chunks.txt"
#define REF_KQ "reference-outputs/ppl/qwen2-tiny-kquants-20chunks.txt"

/* Tolerances, relative unless said: a small margin over the differences from
 * llama.cpp measured on x86-64 (avx2 kernels) by make test's checks (first 20
 * chunks of nlp-valid.txt for qwen2-tiny, the whole tinystories text for
 * stories260K).  The references print F32 PPL to 4 decimals (a resolution of
 * 1.3e-6 at 39.9, 8e-6 at 6.2) and KLD to 6 (4e-3 of Q8_0's 1.2e-4). */
#define TOL_PPL_F32 1e-5         /* qwen2-tiny F32 PPL: measured 1.0e-6                     */
#define TOL_PPL_F32_STORIES 5e-5 /* stories260K F32 PPL: 2.8e-5 (6.213374 vs 6.2132)        */
#define TOL_PPL_Q   1e-4         /* PPL of llama.cpp's Q8_0 / Q4_0 files: 4.3e-5, 2.1e-5    */
#define TOL_PPL_ERR 2e-4         /* the ± of a PPL: 1.6e-6 (qwen2-tiny), 5.1e-5 (stories)   */
#define TOL_KLD_REL 0.02         /* mean KLD: Q8_0 6.7e-3 (at the print resolution), Q4_0 5.8e-4 */
#define TOL_TOP_ABS 0.003        /* same-top-1 share, absolute: Q8_0 0.158 pp, Q4_0 0.039 pp */
/* llama.cpp's Q4_K_M and Q6_K files (widened to F32 here with Q8_K-rounded activations, integer
 * dots there), 20 chunks: measured PPL 6.1e-5 (Q4_K_M), 2.3e-4 (Q6_K); KLD 3.7e-4, 6.6e-3; top-1
 * 0.24 pp, 0.12 pp.  Issue 11's target for PPL is 0.5 %. */
#define TOL_PPL_KQ 5e-4
#define TOL_KLD_KQ 0.02
#define TOL_TOP_KQ 0.004
#define TOL_PPL_SELF 1e-7        /* PPL of a quantized file alone vs from the KLD sums: 1.3e-8 */
/* Mean PPL(base) of a KLD run vs the F32 figure: the base logits are coded to 16
 * bits, as in llama.cpp's logits file.  Whole nlp-valid.txt: 2.0e-5 (48.799914 vs
 * 48.8009); 20 chunks: printed by the test. */
#define TOL_PPL_BASE 5e-5
/* Measured on the whole of nlp-valid.txt (GF_PPL_FULL=1's first text), this
 * machine: F32 PPL 48.8009 +/- 0.26290, equal to the oracle's 4 decimals; Q8_0
 * PPL(Q) 7.8e-6 off, its ± 3.8e-6, KLD equal at 6 decimals, top-1 0.006 pp. */

typedef struct {
    gf_model *m;
    int32_t *ids;
    size_t n_ids;
    int add_bos;
    int32_t bos;
} loaded;

/* Loads a model and tokenizes a text with its vocabulary, as `gguf-forge ppl` does. */
static int load(loaded *L, const char *model_rel, const char *text_rel) {
    char mp[512], tp[512];
    gf_err err = {0};
    memset(L, 0, sizeof *L);
    if (!check_shared_path(mp, sizeof mp, model_rel) || !check_shared_path(tp, sizeof tp, text_rel)) return 0;
    gf_vocab *v = NULL;
    gf_tokenizer *t = NULL;
    char *text = NULL;
    size_t len = 0;
    int ok = gf_model_open(mp, gf_kernels_detect(), &L->m, &err) == GF_OK &&
             gf_vocab_from_gguf(L->m->gguf, &v, &err) == GF_OK && gf_tokenizer_init(v, &t, &err) == GF_OK &&
             gf_read_file(tp, (size_t)1 << 28, &text, &len, &err) == GF_OK &&
             gf_tokenize(t, text, len, 1, 0, &L->ids, &L->n_ids, &err) == GF_OK;
    CHECK(ok, "%s on %s: %s", model_rel, text_rel, err.msg);
    if (t) {
        L->add_bos = gf_tokenizer_adds_bos(t);
        L->bos = gf_tokenizer_bos(t);
    }
    free(text);
    gf_tokenizer_free(t);
    gf_vocab_free(v);
    return ok;
}

/* Another model over the same tokens (same vocabulary: tokenized once). */
static int load_same_text(loaded *L, const loaded *text_of, const char *model_rel) {
    char mp[512];
    gf_err err = {0};
    *L = *text_of;
    L->m = NULL;
    L->ids = NULL;
    if (!check_shared_path(mp, sizeof mp, model_rel)) return 0;
    CHECK(gf_model_open(mp, gf_kernels_detect(), &L->m, &err) == GF_OK, "%s", err.msg);
    L->ids = malloc(L->n_ids * sizeof *L->ids);
    if (L->ids) memcpy(L->ids, text_of->ids, L->n_ids * sizeof *L->ids);
    return L->m && L->ids;
}

/* The same with a model file in this repository (path relative to its root). */
static int load_repo_model(loaded *L, const loaded *text_of, const char *path) {
    gf_err err = {0};
    *L = *text_of;
    L->m = NULL;
    L->ids = NULL;
    CHECK(gf_model_open(path, gf_kernels_detect(), &L->m, &err) == GF_OK, "%s", err.msg);
    L->ids = malloc(L->n_ids * sizeof *L->ids);
    if (L->ids) memcpy(L->ids, text_of->ids, L->n_ids * sizeof *L->ids);
    return L->m && L->ids;
}

static void unload(loaded *L) {
    gf_model_free(L->m);
    free(L->ids);
}

static gf_ppl_params params(const loaded *L, int64_t n_chunks) {
    return (gf_ppl_params){.n_ctx = 256, .n_batch = 256, .n_chunks = n_chunks, .add_bos = L->add_bos,
                           .bos_id = L->bos, .kv_type = GF_TYPE_F16};
}

/* Runs every chunk and returns the summary. */
static int evaluate(const loaded *L, const gf_model *base, int64_t n_chunks, gf_ppl_report *rep) {
    gf_err err = {0};
    gf_ppl *r = NULL;
    gf_ppl_params p = params(L, n_chunks);
    gf_status st = gf_ppl_init(&r, L->m, base, L->ids, (int64_t)L->n_ids, &p, &err);
    for (int64_t i = 0; st == GF_OK && i < gf_ppl_n_chunks(r); i++) st = gf_ppl_step(r, &err);
    CHECK(st == GF_OK, "%s", err.msg);
    if (st == GF_OK) gf_ppl_summary(r, rep, 1);
    gf_ppl_free(r);
    return st == GF_OK;
}

static double rel(double a, double b) { return fabs(a - b) / fabs(b); }

/* ---------------------------------------------------------------- reference files */

typedef struct {
    char text[64], type[32];
    double ppl, err, kld, top; /* NAN where the file has "-"; top as a fraction */
} ref_row;

typedef struct {
    char path[512];
    ref_row row[32];
    int n;
} ref_file;

static double field(const char *s) { return strcmp(s, "-") ? strtod(s, NULL) : NAN; }

/* Reads "text type PPL +/- [KLD top-1%]" lines (# comments); 0 if absent. */
static int read_refs(ref_file *rf, const char *path) {
    memset(rf, 0, sizeof *rf);
    snprintf(rf->path, sizeof rf->path, "%s", path);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cannot open %s", path);
    if (!f) return 0;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        ref_row *r = &rf->row[rf->n];
        char c[4][64];
        const int k = sscanf(line, "%63s %31s %63s %63s %63s %63s", r->text, r->type, c[0], c[1], c[2], c[3]);
        CHECK((k == 4 || k == 6) && rf->n < 32, "%s: cannot read '%s'", path, line);
        if ((k != 4 && k != 6) || rf->n >= 32) continue;
        r->ppl = field(c[0]);
        r->err = field(c[1]);
        r->kld = k == 6 ? field(c[2]) : NAN;
        r->top = k == 6 ? field(c[3]) / 100 : NAN;
        CHECK(r->ppl > 1, "%s: PPL '%s'", path, c[0]);
        rf->n++;
    }
    fclose(f);
    CHECK(rf->n > 0, "%s: no figures", path);
    return rf->n;
}

static const ref_row *find_ref(const ref_file *rf, const char *text, const char *type) {
    for (int i = 0; i < rf->n; i++)
        if (!strcmp(rf->row[i].text, text) && !strcmp(rf->row[i].type, type)) return &rf->row[i];
    CHECK(0, "%s has no line for %s %s", rf->path, text, type);
    return NULL;
}

/* Worst differences seen, printed at the end (what the tolerances are set from). */
static double worst_f32, worst_q, worst_err, worst_kld, worst_top, worst_kq;

/* One model's report against one reference line. */
static void compare(const char *what, const gf_ppl_report *r, const ref_row *ref, int vs_base) {
    const double ppl = vs_base ? r->ppl_q : r->ppl, err = vs_base ? r->ppl_q_err : r->ppl_err;
    const double d = rel(ppl, ref->ppl);
    printf("  %-36s PPL %.6f  llama.cpp %.6f  (%.1e)", what, ppl, ref->ppl, d);
    if (!strcmp(ref->type, "f32")) {
        const double tol = strstr(what, "stories260K") ? TOL_PPL_F32_STORIES : TOL_PPL_F32;
        worst_f32 = fmax(worst_f32, d);
        CHECK(d < tol, "%s: PPL %.6f vs %.6f (%.2e > %.0e)", what, ppl, ref->ppl, d, tol);
    } else {
        worst_q = fmax(worst_q, d);
        CHECK(d < TOL_PPL_Q, "%s: PPL %.6f vs %.6f (%.2e > %.0e)", what, ppl, ref->ppl, d, TOL_PPL_Q);
        CHECK(rel(r->ppl, ppl) < TOL_PPL_SELF, "%s: PPL alone %.9f vs from the KLD sums %.9f", what, r->ppl, ppl);
    }
    if (!isnan(ref->err)) {
        const double de = rel(err, ref->err);
        worst_err = fmax(worst_err, de);
        printf("  +/- %.6f (%.6f)", err, ref->err);
        CHECK(de < TOL_PPL_ERR, "%s: +/- %.6f vs %.6f", what, err, ref->err);
    }
    if (vs_base && !isnan(ref->kld)) {
        const double dk = rel(r->kld, ref->kld), dt = fabs(r->same_top - ref->top);
        worst_kld = fmax(worst_kld, dk);
        worst_top = fmax(worst_top, dt);
        printf("  KLD %.6f (%.6f, %.1e)  top-1 %.3f %% (%.3f %%)", r->kld, ref->kld, dk, 100 * r->same_top,
               100 * ref->top);
        CHECK(dk < TOL_KLD_REL, "%s: KLD %.6f vs %.6f (%.2e)", what, r->kld, ref->kld, dk);
        CHECK(dt < TOL_TOP_ABS, "%s: same top-1 %.5f vs %.5f", what, r->same_top, ref->top);
    }
    printf("\n");
}

/* ---------------------------------------------------------------- llama.cpp figures */

/* qwen2-tiny F32 and the oracle's quantized files on one text, every reference
 * line for that text, n_chunks windows (-1: all). */
static void test_qwen2_tiny(const ref_file *rf, const char *text, int64_t n_chunks) {
    char rel_text[128], what[128];
    loaded f32, q;
    gf_ppl_report r;
    snprintf(rel_text, sizeof rel_text, "data/%s", text);
    if (!load(&f32, "oracle/qwen2-tiny-f32.f32.gguf", rel_text)) return;
    CHECK(f32.add_bos == 0, "qwen2-tiny adds no BOS");
    for (int i = 0; i < rf->n; i++) {
        const ref_row *ref = &rf->row[i];
        if (strcmp(ref->text, text)) continue;
        snprintf(what, sizeof what, "qwen2-tiny %s %s", ref->type, text);
        if (!strcmp(ref->type, "f32")) {
            if (evaluate(&f32, NULL, n_chunks, &r)) {
                compare(what, &r, ref, 0);
                CHECK(n_chunks < 0 || r.count == n_chunks * 127, "scored %lld tokens, expected %lld",
                      (long long)r.count, (long long)n_chunks * 127);
            }
            continue;
        }
        char model[128];
        snprintf(model, sizeof model, "oracle/qwen2-tiny-f32.%s.gguf", ref->type);
        if (load_same_text(&q, &f32, model) && evaluate(&q, f32.m, n_chunks, &r)) {
            compare(what, &r, ref, 1);
            const ref_row *base = find_ref(rf, text, "f32");
            if (base) {
                printf("  %-36s PPL(base) %.6f  llama.cpp F32 %.6f  (%.1e)\n", what, r.ppl_base, base->ppl,
                       rel(r.ppl_base, base->ppl));
                CHECK(rel(r.ppl_base, base->ppl) < TOL_PPL_BASE, "%s: PPL(base) %.6f vs F32 %.6f", what, r.ppl_base,
                      base->ppl);
            }
            CHECK(r.diff_err > 0 && r.kld_max >= r.kld_p99 && r.kld_p99 >= r.kld_median &&
                      r.kld_median >= r.kld_min && r.dp_min <= r.dp_median && r.dp_median <= r.dp_max,
                  "%s: KLD/Δp statistics out of order", what);
        }
        unload(&q);
    }
    unload(&f32);
}

/* a model against itself, and wrong pairings: errors, not garbage */
static void test_self_and_errors(void) {
    loaded f32, st;
    gf_ppl_report r;
    if (!load(&f32, "oracle/qwen2-tiny-f32.f32.gguf", "data/nlp-valid.txt")) return;
    /* no divergence (the 16-bit coded base rows leave ~1e-6) */
    if (evaluate(&f32, f32.m, 2, &r))
        CHECK(fabs(r.kld) < 1e-5 && r.same_top > 0.995 && rel(r.ppl_q, r.ppl_base) < 1e-4,
              "self-KLD %.3g, same top %.4f, PPL %.5f vs %.5f", r.kld, r.same_top, r.ppl_q, r.ppl_base);
    if (load(&st, "oracle/stories260K.f32.gguf", "data/tinystories-valid-sample.txt")) {
        gf_err err = {0};
        gf_ppl *r2 = NULL;
        gf_ppl_params p = params(&f32, 1);
        CHECK(gf_ppl_init(&r2, f32.m, st.m, f32.ids, (int64_t)f32.n_ids, &p, &err) == GF_E_VALUE &&
                  strstr(err.msg, "vocabulary"), "vocabulary mismatch: %s", err.msg);
        CHECK(gf_ppl_init(&r2, f32.m, NULL, f32.ids, 511, &p, &err) == GF_E_VALUE && strstr(err.msg, "512"),
              "short text: %s", err.msg);
        unload(&st);
    }
    unload(&f32);
}

/* stories260K F32 on the texts of the oracle's file, whole: its own text
 * (60 chunks) always, the others (wiki.test.raw: 3161 chunks) when full */
static void test_stories(int full) {
    char path[512], rel_text[128], what[128];
    ref_file rf;
    if (!check_shared_path(path, sizeof path, "oracle/stories260K.ppl.txt") || !read_refs(&rf, path)) return;
    for (int i = 0; i < rf.n; i++) {
        loaded L;
        if (!full && strcmp(rf.row[i].text, "tinystories-valid-sample.txt")) continue;
        gf_ppl_report r;
        snprintf(rel_text, sizeof rel_text, "data/%s", rf.row[i].text);
        if (!load(&L, "oracle/stories260K.f32.gguf", rel_text)) continue;
        CHECK(L.add_bos == 1 && L.bos == 1, "stories260K adds BOS 1 (got %d, %d)", L.add_bos, L.bos);
        snprintf(what, sizeof what, "stories260K %s %s", rf.row[i].type, rf.row[i].text);
        if (evaluate(&L, NULL, -1, &r)) compare(what, &r, &rf.row[i], 0);
        unload(&L);
    }
}

static void test_llama_cpp(void) {
    ref_file rf;
    const char *env = getenv("GF_PPL_FULL");
    const int full = env && !strcmp(env, "1");
    char path[512];
    test_stories(full);
    if (read_refs(&rf, REF_20)) test_qwen2_tiny(&rf, "nlp-valid.txt", N_CHUNKS);
    if (!full) {
        SKIP("whole-file perplexities of qwen2-tiny (oracle/qwen2-tiny-f32.ppl.txt) and of stories260K on "
             "wiki.test.raw: set GF_PPL_FULL=1 (minutes)");
        return;
    }
    if (!check_shared_path(path, sizeof path, "oracle/qwen2-tiny-f32.ppl.txt") || !read_refs(&rf, path)) return;
    test_qwen2_tiny(&rf, "nlp-valid.txt", -1);
    test_qwen2_tiny(&rf, "wiki.test.raw", -1);
}

/* ---------------------------------------------------------------- llama.cpp's K-quant files */

/* llama-quantize's Q4_K_M and Q6_K files of qwen2-tiny (in this repository, with how they were made):
 * the engine widens their K-quant matrices to F32 at load, llama.cpp dots them with activations
 * rounded to Q8_K blocks, so the figures differ by that rounding (README). */
static void test_kquants(void) {
    ref_file rf;
    loaded f32, q;
    gf_ppl_report r;
    char what[128], model[256];
    if (!read_refs(&rf, REF_KQ)) return;
    if (!load(&f32, "oracle/qwen2-tiny-f32.f32.gguf", "data/nlp-valid.txt")) return;
    for (int i = 0; i < rf.n; i++) {
        const ref_row *ref = &rf.row[i];
        if (strcmp(ref->text, "nlp-valid.txt") || !strcmp(ref->type, "f32")) continue;
        snprintf(model, sizeof model, "reference-outputs/kquants/qwen2-tiny-f32.%s.gguf", ref->type);
        snprintf(what, sizeof what, "qwen2-tiny %s (llama-quantize)", ref->type);
        if (!load_repo_model(&q, &f32, model)) continue;
        CHECK(q.m->n_widened > 0, "%s: no matrix widened", model);
        if (evaluate(&q, f32.m, N_CHUNKS, &r)) {
            const double d = rel(r.ppl_q, ref->ppl);
            worst_kq = fmax(worst_kq, d);
            printf("  %-36s PPL %.6f  llama.cpp %.6f  (%.1e)", what, r.ppl_q, ref->ppl, d);
            CHECK(d < TOL_PPL_KQ, "%s: PPL %.6f vs %.6f (%.2e > %.0e)", what, r.ppl_q, ref->ppl, d, TOL_PPL_KQ);
            if (!isnan(ref->kld)) {
                const double dk = rel(r.kld, ref->kld), dt = fabs(r.same_top - ref->top);
                printf("  KLD %.6f (%.6f, %.1e)  top-1 %.3f %% (%.3f %%)", r.kld, ref->kld, dk, 100 * r.same_top,
                       100 * ref->top);
                CHECK(dk < TOL_KLD_KQ, "%s: KLD %.6f vs %.6f (%.2e)", what, r.kld, ref->kld, dk);
                CHECK(dt < TOL_TOP_KQ, "%s: same top-1 %.5f vs %.5f", what, r.same_top, ref->top);
            }
            printf("\n");
        }
        unload(&q);
    }
    unload(&f32);
}

/* ---------------------------------------------------------------- windowing */

/* Recomputes 2 windows of stories260K plainly from gf_forward logits: BOS in
 * place of each window's first token, positions 128..254 predicting the next. */
static void test_windows_by_hand(void) {
    loaded L;
    if (!load(&L, "oracle/stories260K.f32.gguf", "data/tinystories-valid-sample.txt")) return;
    gf_err err = {0};
    const int n_ctx = 256, V = (int)L.m->hp.n_vocab;
    gf_state s;
    float *lg = malloc(sizeof(float) * n_ctx * V);
    int32_t win[256];
    double nll = 0;
    int count = 0;
    CHECK(gf_state_init(&s, L.m, n_ctx, 64, GF_TYPE_F16, &err) == GF_OK, "%s", err.msg);
    for (int c = 0; c < 2; c++) {
        memcpy(win, L.ids + c * n_ctx, sizeof win);
        win[0] = L.bos;
        CHECK(gf_forward(L.m, &s, win, n_ctx, 0, 0, lg, NULL, &err) == GF_OK, "%s", err.msg);
        for (int j = n_ctx / 2; j < n_ctx - 1; j++) {
            const float *x = lg + (size_t)j * V;
            double mx = x[0], se = 0;
            for (int i = 1; i < V; i++) mx = fmax(mx, x[i]);
            for (int i = 0; i < V; i++) se += exp(x[i] - mx);
            nll += -(x[L.ids[c * n_ctx + j + 1]] - mx - log(se));
            count++;
        }
    }
    gf_state_free(&s);
    free(lg);
    gf_ppl_report r;
    if (evaluate(&L, NULL, 2, &r)) {
        const double ppl = exp(nll / count);
        CHECK(r.count == count && rel(r.ppl, ppl) < 1e-7, "windows: PPL %.9f vs by hand %.9f (%lld vs %d tokens)",
              r.ppl, ppl, (long long)r.count, count);
    }
    /* the thread count does not change a single bit */
    gf_ppl_report r1, r2;
    const int nt = omp_get_max_threads();
    omp_set_num_threads(1);
    int ok1 = evaluate(&L, NULL, 3, &r1);
    omp_set_num_threads(2);
    int ok2 = evaluate(&L, NULL, 3, &r2);
    omp_set_num_threads(nt);
    CHECK(ok1 && ok2 && r1.ppl == r2.ppl && r1.ppl_err == r2.ppl_err, "1 vs 2 threads: %.17g vs %.17g", r1.ppl,
          r2.ppl);
    unload(&L);
}

int main(void) {
    printf("perplexity vs llama.cpp c392e50 (-c 256, F16 KV cache):\n");
    test_windows_by_hand();
    test_self_and_errors();
    test_llama_cpp();
    test_kquants();
    printf("  worst relative differences: PPL f32 %.2e, quantized %.2e, K-quant files %.2e, +/- %.2e, KLD %.2e; "
           "top-1 %.3f pp\n", worst_f32, worst_q, worst_kq, worst_err, worst_kld, 100 * worst_top);
    return check_done("test_ppl");
}
