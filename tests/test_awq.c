/*
 * test_awq.c - AWQ: gf_awq_fold multiplies column j of every matrix by s_j and
 * divides the norm (or the previous matrix's row j and its bias) by s_j, element
 * by element, for a non-trivial s; folding leaves the float block's output
 * unchanged (within FOLD_TOL relative), for every group including v -> o (a
 * random model with as many KV heads as heads) and q/k/v biases (qwen2); the
 * search picks non-identity scales on a trained model; and the file AWQ writes
 * (qwen2-tiny from ../shared, read back, its blocks and folded norms run by the
 * engine) has a lower block-output error on the calibration samples than
 * min-max's file, by a measured margin.
 */
#include <math.h>

#include "../calib/awq.h"
#include "../convert/convert.h"
#include "check.h"
#include "membuf.h"
#include "random_model.h"

#define FOLD_TOL 1e-5
/* Block-output error of the written files on the calibration samples (every
 * block fed the float model's input, error relative to the block's own change of
 * the residual stream, summed over blocks): AWQ's must be below this fraction of
 * min-max's.  Measured on 4 samples of 64 tokens: awq/min-max 0.947 (blocks 0-3: 1.005, 0.950,
 * 0.944, 0.928); with 8 x 128 it is 0.970.  Per matrix the gain is larger (test_report: mean
 * output error 0.034 vs 0.039), but the block output adds attention and the engine's Q8_0
 * activations, which AWQ does not change. */
#define MAX_AWQ_OVER_MINMAX 0.965

static double max_rel(const float *a, const float *b, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        num = fmax(num, fabs((double)a[i] - b[i]));
        den = fmax(den, fabs((double)a[i]));
    }
    return den > 0 ? num / den : num;
}

static gf_calib *open_calib(const char *dir, gf_hfcfg *cfg, gf_safetensors **st, gf_vocab **v, int64_t ns, int64_t T) {
    gf_err err = {0};
    gf_calib *c = NULL;
    gf_calib_opts co = {.nsamples = ns, .seqlen = T};
    int ok = gf_hfcfg_load(dir, cfg, &err) == GF_OK && gf_st_open(dir, st, &err) == GF_OK &&
             gf_vocab_from_hf(dir, cfg->n_vocab, v, &err) == GF_OK && gf_calib_open(cfg, *st, *v, &co, &c, &err) == GF_OK;
    CHECK(ok, "%s: %s", dir, err.msg);
    return c;
}

/* arch: 0 llama, 1 qwen2, 2 qwen3 (heads of 32 on a 64-wide stream, per-head q/k norms) */
static void test_fold(const char *tmp, int arch, int kv_heads) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/fold-%d-%d", tmp, arch, kv_heads);
    rt ts[64];
    int n = 0;
    rm_spec sp = {.qwen2 = arch == 1, .qwen3 = arch == 2, .embd = 64, .heads = 4, .kv_heads = kv_heads, .ff = 96,
                  .layers = 1, .seed = 3, .head_dim = arch == 2 ? 32 : 0};
    CHECK(rm_write(dir, &sp, ts, &n, 0) == 0, "cannot write %s", dir);
    gf_hfcfg cfg;
    gf_safetensors *st = NULL;
    gf_vocab *v = NULL;
    gf_calib *c = open_calib(dir, &cfg, &st, &v, 2, 32);
    gf_err err = {0};
    if (!c || gf_calib_load_layer(c, 0, &err)) {
        CHECK(0, "load: %s", err.msg);
        goto out;
    }
    const int64_t T = c->seqlen, D = cfg.n_embd, qd = cfg.n_head * cfg.head_dim, F = cfg.n_ff;
    float *x = malloc((size_t)(T * D) * sizeof *x), *y0 = malloc((size_t)(T * D) * sizeof *y0);
    memcpy(y0, c->x, (size_t)(T * D) * sizeof *y0);
    memcpy(x, c->x, (size_t)(T * D) * sizeof *x);
    CHECK(gf_block_forward(&c->m, 0, y0, T, 0, &c->s, NULL, &err) == GF_OK, "%s", err.msg);
    /* random positive scales for every group, folded */
    gf_layer *ly = &c->m.layers[0];
    float *W[GF_LIN_COUNT];
    for (int i = 0; i < GF_LIN_COUNT; i++) W[i] = (float *)ly->lin[i].data;
    float s[512];
    uint64_t seed = 11;
    for (int i = 0; i < 512; i++) s[i] = 0.25f + 3.0f * (stw_rand(&seed) + 1.0f) * 0.5f;
    int64_t kvd = cfg.n_head_kv * cfg.head_dim;
    float *qkv[3] = {W[GF_LIN_Q], W[GF_LIN_K], W[GF_LIN_V]}, *gu[2] = {W[GF_LIN_GATE], W[GF_LIN_UP]};
    int64_t nq[3] = {qd, kvd, kvd}, ng[2] = {F, F}, nd[1] = {D};
    gf_awq_fold(qkv, nq, 3, D, s, (float *)ly->norm[GF_NORM_ATTN], NULL, 0, NULL);
    gf_awq_fold(gu, ng, 2, D, s + 7, (float *)ly->norm[GF_NORM_FFN], NULL, 0, NULL);
    gf_awq_fold(&W[GF_LIN_DOWN], nd, 1, F, s + 13, NULL, W[GF_LIN_UP], D, NULL);
    if (cfg.n_head_kv == cfg.n_head)
        gf_awq_fold(&W[GF_LIN_O], nd, 1, qd, s + 29, NULL, W[GF_LIN_V], D, (float *)ly->bias[GF_LIN_V]);
    float *y1 = malloc((size_t)(T * D) * sizeof *y1);
    memcpy(y1, x, (size_t)(T * D) * sizeof *y1);
    CHECK(gf_block_forward(&c->m, 0, y1, T, 0, &c->s, NULL, &err) == GF_OK, "%s", err.msg);
    double d = max_rel(y0, y1, T * D);
    static const char *names[] = {"llama", "qwen2", "qwen3"};
    printf("  fold %s, %d/%d heads: max relative change of the block output %.2e\n", names[arch],
           (int)cfg.n_head, (int)cfg.n_head_kv, d);
    CHECK(d < FOLD_TOL, "folding changed the float output by %.3g", d);
    if (arch == 2) {
        /* the fold AWQ must not make (fold_valid): scales on q's rows, undone by the q norm's
         * weight, are not exact, since the per-head RMS changes with them */
        float *qn = (float *)ly->norm[GF_NORM_Q];
        for (int64_t r = 0; r < qd; r++)
            for (int64_t j = 0; j < D; j++) W[GF_LIN_Q][r * D + j] *= s[r % cfg.head_dim];
        for (int64_t j = 0; j < cfg.head_dim; j++) qn[j] /= s[j];
        memcpy(y1, x, (size_t)(T * D) * sizeof *y1);
        CHECK(gf_block_forward(&c->m, 0, y1, T, 0, &c->s, NULL, &err) == GF_OK, "%s", err.msg);
        const double dq = max_rel(y0, y1, T * D);
        printf("  qwen3: scales on q's rows undone by attn_q_norm change the block output by %.2e (not a fold)\n",
               dq);
        CHECK(dq > 1e3 * FOLD_TOL, "q rows through the per-head norm should not commute: %.3g", dq);
    }
    free(x);
    free(y0);
    free(y1);
out:
    gf_calib_free(c);
    gf_vocab_free(v);
    gf_st_close(st);
    rm_free(ts, n);
}

/* gf_awq_fold element by element: W'[r][j] = W[r][j] * s_j, prev'[j] = prev[j] / s_j
 * (a norm, or row j of the previous matrix and its bias), exactly (one float
 * operation per element).  s in [0.25, 1.75], so every nonzero element moves. */
static void test_fold_elementwise(void) {
    enum { N = 40, R1 = 3, R2 = 5, PL = 7 };
    float w1[R1 * N], w2[R2 * N], o1[R1 * N], o2[R2 * N], s[N], vec[N], ovec[N], rows[N * PL], orows[N * PL];
    float bias[N], obias[N];
    uint64_t seed = 5;
    for (int i = 0; i < R1 * N; i++) o1[i] = w1[i] = stw_rand(&seed);
    for (int i = 0; i < R2 * N; i++) o2[i] = w2[i] = stw_rand(&seed);
    for (int j = 0; j < N; j++) {
        s[j] = 0.25f + 0.75f * (stw_rand(&seed) + 1.0f);
        ovec[j] = vec[j] = 1.0f + 0.1f * stw_rand(&seed);
        obias[j] = bias[j] = 0.3f * stw_rand(&seed);
    }
    for (int i = 0; i < N * PL; i++) orows[i] = rows[i] = stw_rand(&seed);
    float *W[2] = {w1, w2};
    const int64_t n_out[2] = {R1, R2};
    int bad = 0, moved = 0, total = 0;
    gf_awq_fold(W, n_out, 2, N, s, vec, NULL, 0, NULL); /* into a norm */
    for (int r = 0; r < R1; r++)
        for (int j = 0; j < N; j++) bad += w1[r * N + j] != o1[r * N + j] * s[j], moved += w1[r * N + j] != o1[r * N + j], total++;
    for (int r = 0; r < R2; r++)
        for (int j = 0; j < N; j++) bad += w2[r * N + j] != o2[r * N + j] * s[j], moved += w2[r * N + j] != o2[r * N + j], total++;
    for (int j = 0; j < N; j++) bad += vec[j] != ovec[j] / s[j], moved += vec[j] != ovec[j], total++;
    memcpy(o1, w1, sizeof o1);
    gf_awq_fold(W, n_out, 1, N, s, NULL, rows, PL, bias); /* into the previous matrix's rows and bias */
    for (int r = 0; r < R1; r++)
        for (int j = 0; j < N; j++) bad += w1[r * N + j] != o1[r * N + j] * s[j], moved += w1[r * N + j] != o1[r * N + j], total++;
    for (int j = 0; j < N; j++) {
        for (int k = 0; k < PL; k++)
            bad += rows[j * PL + k] != orows[j * PL + k] / s[j], moved += rows[j * PL + k] != orows[j * PL + k], total++;
        bad += bias[j] != obias[j] / s[j], moved += bias[j] != obias[j], total++;
    }
    printf("  fold element by element: %d of %d elements differ from W*s / prev/s, %d moved\n", bad, total, moved);
    CHECK(bad == 0 && moved == total, "%d of %d elements wrong, %d moved", bad, total, moved);
}

/* ---------------------------------------------------------------- the written file */

static gf_status convert_mem(const char *dir, gf_type type, const char *method, const gf_calib_opts *co, membuf *out,
                             gf_err *err) {
    const gf_qmethod *m = gf_qmethod_find(method);
    gf_convert_summary sum;
    gf_convert_opts o = {.type = type, .embed_type = -1, .output_type = -1, .blocks = m, .calib = co};
    gf_sink sk = {mem_write, out};
    return gf_convert(dir, &sk, &o, &sum, err);
}

/* every block fed the float model's input x: the squared distance of each quantized
 * file's block output to the float block's, and the square of the float block's
 * change of x, summed over samples */
typedef struct {
    gf_model *m[3]; /* f32, min-max, awq */
    gf_state st[3];
    double e2[2][16], r2[16];
} cmp3;

static gf_status block_errors(cmp3 *k, const int32_t *tok, int64_t T, gf_err *err) {
    const gf_hparams *hp = &k->m[0]->hp;
    const int64_t D = hp->dim;
    float *x = malloc((size_t)(T * D) * sizeof *x), *y = malloc((size_t)(T * D) * sizeof *y);
    float *yq = malloc((size_t)(T * D) * sizeof *yq);
    gf_status rc = x && y && yq ? gf_model_embed(k->m[0], tok, T, x, err) : GF_E_NOMEM;
    for (int64_t l = 0; !rc && l < hp->n_layers && l < 16; l++) {
        memcpy(y, x, (size_t)(T * D) * sizeof *y);
        rc = gf_block_forward(k->m[0], (int)l, y, T, 0, &k->st[0], NULL, err);
        for (int64_t i = 0; !rc && i < T * D; i++) k->r2[l] += ((double)y[i] - x[i]) * ((double)y[i] - x[i]);
        for (int q = 0; q < 2 && !rc; q++) {
            memcpy(yq, x, (size_t)(T * D) * sizeof *yq);
            rc = gf_block_forward(k->m[1 + q], (int)l, yq, T, 0, &k->st[1 + q], NULL, err);
            for (int64_t i = 0; !rc && i < T * D; i++) k->e2[q][l] += ((double)yq[i] - y[i]) * ((double)yq[i] - y[i]);
        }
        memcpy(x, y, (size_t)(T * D) * sizeof *x);
    }
    free(x), free(y), free(yq);
    return rc;
}

static void test_written_file(void) {
    char dir[1024];
    if (!check_shared_path(dir, sizeof dir, "models/qwen2-tiny/f32")) return;
    gf_calib_opts co = {.nsamples = 4, .seqlen = 64}; /* small: AWQ's search and clipping cost ~1.5 s CPU here */
    membuf f[3] = {{0}};
    gf_gguf *g[3] = {0};
    cmp3 k = {0};
    gf_err err = {0};
    gf_hfcfg cfg;
    gf_safetensors *st = NULL;
    gf_vocab *v = NULL;
    gf_calib *c = open_calib(dir, &cfg, &st, &v, co.nsamples, co.seqlen); /* the samples AWQ calibrated on */
    static const char *methods[3] = {"minmax", "minmax", "awq"};
    gf_status rc = c ? GF_OK : GF_E_VALUE;
    for (int i = 0; i < 3 && !rc; i++) {
        rc = convert_mem(dir, i ? GF_TYPE_Q4_0 : GF_TYPE_F32, methods[i], &co, &f[i], &err);
        if (!rc) rc = gf_gguf_parse(f[i].p, f[i].n, methods[i], &g[i], &err);
        if (!rc) rc = gf_model_from_gguf(g[i], gf_kernels_detect(), &k.m[i], &err);
        if (!rc) rc = gf_state_init(&k.st[i], k.m[i], co.seqlen, co.seqlen, GF_TYPE_F32, &err);
    }
    /* AWQ really rescaled: its attention norms differ from the float file's */
    int64_t moved = 0;
    for (int l = 0; !rc && l < k.m[0]->hp.n_layers; l++)
        for (int64_t j = 0; j < k.m[0]->hp.dim; j++)
            moved += k.m[0]->layers[l].norm[GF_NORM_ATTN][j] != k.m[2]->layers[l].norm[GF_NORM_ATTN][j];
    for (int64_t smp = 0; !rc && smp < c->n_samples; smp++) rc = block_errors(&k, c->tokens + smp * c->seqlen, c->seqlen, &err);
    CHECK(rc == GF_OK, "%s", err.msg);
    if (!rc) {
        double em = 0, ea = 0, r = 0;
        for (int64_t l = 0; l < k.m[0]->hp.n_layers; l++) {
            printf("  written files, block %lld: output error min-max %.4f, awq %.4f\n", (long long)l,
                   sqrt(k.e2[0][l] / k.r2[l]), sqrt(k.e2[1][l] / k.r2[l]));
            em += k.e2[0][l], ea += k.e2[1][l], r += k.r2[l];
        }
        printf("  written files, all blocks (%lld samples): min-max %.4f, awq %.4f, awq/min-max %.3f; %lld norm weights "
               "rescaled\n", (long long)c->n_samples, sqrt(em / r), sqrt(ea / r), sqrt(ea / em), (long long)moved);
        CHECK(moved > 0 && sqrt(ea / em) < MAX_AWQ_OVER_MINMAX, "awq/min-max output error %.4f (limit %.3f), %lld norm weights moved",
              sqrt(ea / em), MAX_AWQ_OVER_MINMAX, (long long)moved);
    }
    for (int i = 0; i < 3; i++) {
        if (k.m[i]) gf_state_free(&k.st[i]);
        gf_model_free(k.m[i]);
        gf_gguf_close(g[i]);
        free(f[i].p);
    }
    gf_calib_free(c);
    gf_vocab_free(v);
    gf_st_close(st);
}

static void test_search(void) {
    char dir[1024];
    if (!check_shared_path(dir, sizeof dir, "models/qwen2-tiny/f32")) return;
    gf_hfcfg cfg;
    gf_safetensors *st = NULL;
    gf_vocab *v = NULL;
    gf_calib *c = open_calib(dir, &cfg, &st, &v, 8, 128);
    gf_err err = {0};
    gf_awq_opts ao = {.max_tokens = 512, .clip = 1};
    for (int l = 0; c && l < 2; l++) {
        gf_awq_report rep;
        CHECK(gf_calib_load_layer(c, l, &err) == GF_OK && gf_awq_layer(c, l, GF_TYPE_Q4_0, &ao, &rep, &err) == GF_OK,
              "%s", err.msg);
        /* err_after <= err_before holds by construction (the identity is a candidate):
         * not checked.  What can fail: the grid finds scales at all (alpha >= 0). */
        int scaled = 0;
        for (int g = 0; g < 4; g++) {
            if (rep.alpha[g] == -2) continue;
            scaled += rep.alpha[g] >= 0;
            printf("  qwen2-tiny block %d group %d: alpha %.2f, output error %.4g -> %.4g (the search's own numbers)\n", l,
                   g, rep.alpha[g], rep.err_before[g], rep.err_after[g]);
        }
        CHECK(scaled >= 2, "block %d: only %d groups chose scales", l, scaled);
    }
    gf_calib_free(c);
    gf_vocab_free(v);
    gf_st_close(st);
}

int main(void) {
    char tmp[] = "/tmp/gf-test-awq-XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    test_fold(tmp, 1, 4); /* qwen2, biases, v -> o */
    test_fold(tmp, 0, 4); /* llama, v -> o */
    test_fold(tmp, 1, 2); /* qwen2 GQA: no v -> o */
    test_fold(tmp, 2, 4); /* qwen3: q/k norms after the q/k/v input scaling, v -> o */
    test_fold(tmp, 2, 2); /* qwen3 GQA */
    test_fold_elementwise();
    test_search();
    test_written_file();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return check_done("test_awq");
}
