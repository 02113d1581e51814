/*
 * test_ppl.c - perplexity and KL divergence against llama.cpp's numbers on the
 * shared models, plus checks of the windowing (BOS, scored half) against a
 * plain recomputation from gf_forward logits, thread independence and errors.
 *
 * Reference numbers: llama-perplexity from llama.cpp c392e50 (x86-64, AVX2/AVX-512
 * build), run by hand on this machine:
 *   llama-perplexity -m qwen2-tiny-f32.f32.gguf -f nlp-valid.txt -c 256 -t 2 --chunks 20 \
 *       --kl-divergence-base f32.kld                          -> PPL = 39.9081 +/- 1.93536
 *   llama-perplexity -m qwen2-tiny-f32.{q8_0,q4_0}.gguf -c 256 -t 2 \
 *       --kl-divergence-base f32.kld --kl-divergence          -> the REF_Q* numbers below
 * and, from the shared oracle (oracle/stories260K.ppl.txt), the whole of
 * tinystories-valid-sample.txt at -c 256 for stories260K: PPL = 6.2132 +/- 0.15668.
 */
#include "../engine/ppl.h"
#include "../engine/tokenizer.h"
#include "../formats/vocab.h"
#include "check.h"

#include <math.h>
#include <omp.h>

#define N_CHUNKS 20
#define REF_F32_PPL 39.9081
#define REF_F32_ERR 1.93536
#define REF_Q8_PPL 39.911127
#define REF_Q8_KLD 0.000118
#define REF_Q8_TOP 0.99055
#define REF_Q4_PPL 40.431202
#define REF_Q4_KLD 0.010017
#define REF_Q4_TOP 0.90630
#define REF_STORIES_PPL 6.2132  /* oracle, whole file (60 chunks) */
#define REF_STORIES_ERR 0.15668

#define TOL_PPL_F32 0.001       /* relative, the limit for float models        */
#define TOL_PPL_Q   0.005       /* relative, for llama.cpp's quantized files           */
#define TOL_KLD_REL 0.10        /* mean KLD within 10 % (Q8_0's is 1e-4: noise-level)  */
#define TOL_TOP_ABS 0.01        /* same-top-1 share within 1 percentage point          */

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

/* ---------------------------------------------------------------- llama.cpp numbers */

static void test_qwen2_tiny(void) {
    loaded f32, q8, q4;
    gf_ppl_report r;
    if (!load(&f32, "oracle/qwen2-tiny-f32.f32.gguf", "data/nlp-valid.txt")) return;
    CHECK(f32.add_bos == 0, "qwen2-tiny adds no BOS");
    if (evaluate(&f32, NULL, N_CHUNKS, &r)) {
        printf("  qwen2-tiny f32  nlp-valid %d chunks: PPL %.4f +/- %.5f   llama.cpp %.4f +/- %.5f  (%+.4f %%)\n",
               N_CHUNKS, r.ppl, r.ppl_err, REF_F32_PPL, REF_F32_ERR, 100 * (r.ppl / REF_F32_PPL - 1));
        CHECK(rel(r.ppl, REF_F32_PPL) < TOL_PPL_F32, "PPL %.4f vs %.4f", r.ppl, REF_F32_PPL);
        CHECK(rel(r.ppl_err, REF_F32_ERR) < 0.01, "PPL +/- %.5f vs %.5f", r.ppl_err, REF_F32_ERR);
        CHECK(r.count == N_CHUNKS * 127, "scored %lld tokens, expected %d", (long long)r.count, N_CHUNKS * 127);
    }
    /* a model against itself: no divergence (the 16-bit coded base rows leave ~1e-6) */
    if (evaluate(&f32, f32.m, 2, &r)) {
        CHECK(fabs(r.kld) < 1e-5 && r.same_top > 0.995 && rel(r.ppl_q, r.ppl_base) < 1e-4,
              "self-KLD %.3g, same top %.4f, PPL %.5f vs %.5f", r.kld, r.same_top, r.ppl_q, r.ppl_base);
    }
    if (load_same_text(&q8, &f32, "oracle/qwen2-tiny-f32.q8_0.gguf") && evaluate(&q8, f32.m, N_CHUNKS, &r)) {
        printf("  qwen2-tiny q8_0 vs f32: PPL(Q) %.4f (llama.cpp %.4f, %+.4f %%)  KLD %.6f (%.6f)  same top %.3f %% "
               "(%.3f %%)\n", r.ppl_q, REF_Q8_PPL, 100 * (r.ppl_q / REF_Q8_PPL - 1), r.kld, REF_Q8_KLD,
               100 * r.same_top, 100 * REF_Q8_TOP);
        CHECK(rel(r.ppl_q, REF_Q8_PPL) < TOL_PPL_Q, "q8_0 PPL %.4f vs %.4f", r.ppl_q, REF_Q8_PPL);
        CHECK(rel(r.ppl, REF_Q8_PPL) < TOL_PPL_Q, "q8_0 plain PPL %.4f vs %.4f", r.ppl, REF_Q8_PPL);
        CHECK(rel(r.kld, REF_Q8_KLD) < TOL_KLD_REL, "q8_0 KLD %.6f vs %.6f", r.kld, REF_Q8_KLD);
        CHECK(fabs(r.same_top - REF_Q8_TOP) < TOL_TOP_ABS, "q8_0 same top %.4f vs %.4f", r.same_top, REF_Q8_TOP);
        CHECK(rel(r.ppl_base, REF_F32_PPL) < TOL_PPL_F32, "base PPL %.4f vs %.4f", r.ppl_base, REF_F32_PPL);
    }
    if (load_same_text(&q4, &f32, "oracle/qwen2-tiny-f32.q4_0.gguf") && evaluate(&q4, f32.m, N_CHUNKS, &r)) {
        printf("  qwen2-tiny q4_0 vs f32: PPL(Q) %.4f (llama.cpp %.4f, %+.4f %%)  KLD %.6f (%.6f)  same top %.3f %% "
               "(%.3f %%)\n", r.ppl_q, REF_Q4_PPL, 100 * (r.ppl_q / REF_Q4_PPL - 1), r.kld, REF_Q4_KLD,
               100 * r.same_top, 100 * REF_Q4_TOP);
        CHECK(rel(r.ppl_q, REF_Q4_PPL) < TOL_PPL_Q, "q4_0 PPL %.4f vs %.4f", r.ppl_q, REF_Q4_PPL);
        CHECK(rel(r.kld, REF_Q4_KLD) < TOL_KLD_REL, "q4_0 KLD %.6f vs %.6f", r.kld, REF_Q4_KLD);
        CHECK(fabs(r.same_top - REF_Q4_TOP) < TOL_TOP_ABS, "q4_0 same top %.4f vs %.4f", r.same_top, REF_Q4_TOP);
        CHECK(r.diff > 0 && r.diff_err > 0 && r.kld_max >= r.kld_p99 && r.kld_p99 >= r.kld_median &&
              r.kld_median >= r.kld_min && r.dp_min <= r.dp_median && r.dp_median <= r.dp_max,
              "KLD/Δp statistics out of order");
    }
    /* wrong pairings are errors, not garbage */
    loaded st;
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
    unload(&q4);
    unload(&q8);
    unload(&f32);
}

static void test_stories(void) {
    loaded L;
    gf_ppl_report r;
    if (!load(&L, "oracle/stories260K.f32.gguf", "data/tinystories-valid-sample.txt")) return;
    CHECK(L.add_bos == 1 && L.bos == 1, "stories260K adds BOS 1 (got %d, %d)", L.add_bos, L.bos);
    if (evaluate(&L, NULL, -1, &r)) {
        printf("  stories260K f32 tinystories, all %lld chunks: PPL %.4f +/- %.5f   oracle %.4f +/- %.5f  "
               "(%+.4f %%)\n", (long long)r.n_chunks, r.ppl, r.ppl_err, REF_STORIES_PPL, REF_STORIES_ERR,
               100 * (r.ppl / REF_STORIES_PPL - 1));
        CHECK(rel(r.ppl, REF_STORIES_PPL) < TOL_PPL_F32, "PPL %.4f vs %.4f", r.ppl, REF_STORIES_PPL);
        CHECK(rel(r.ppl_err, REF_STORIES_ERR) < 0.01, "+/- %.5f vs %.5f", r.ppl_err, REF_STORIES_ERR);
    }
    unload(&L);
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
    test_stories();
    test_qwen2_tiny();
    return check_done("test_ppl");
}
