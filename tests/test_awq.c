/*
 * test_awq.c - AWQ: folding scales into the preceding norm / linear leaves the
 * float block's output unchanged (within FOLD_TOL relative), for every group
 * including v -> o (a random model with as many KV heads as heads) and q/k/v
 * biases (qwen2); the search never raises a group's quantized output error and
 * lowers it on a trained model (qwen2-tiny, when ../shared is present).
 */
#include <math.h>

#include "../calib/awq.h"
#include "check.h"
#include "random_model.h"

#define FOLD_TOL 1e-5

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

static void test_fold(const char *tmp, int qwen2, int kv_heads) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/fold-%d-%d", tmp, qwen2, kv_heads);
    rt ts[64];
    int n = 0;
    rm_spec sp = {.qwen2 = qwen2, .embd = 64, .heads = 4, .kv_heads = kv_heads, .ff = 96, .layers = 1, .seed = 3};
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
    printf("  fold %s, %d/%d heads: max relative change of the block output %.2e\n", qwen2 ? "qwen2" : "llama",
           (int)cfg.n_head, (int)cfg.n_head_kv, d);
    CHECK(d < FOLD_TOL, "folding changed the float output by %.3g", d);
    free(x);
    free(y0);
    free(y1);
out:
    gf_calib_free(c);
    gf_vocab_free(v);
    gf_st_close(st);
    rm_free(ts, n);
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
        int lower = 0, higher = 0;
        for (int g = 0; g < 4; g++) {
            if (rep.alpha[g] == -2) continue;
            lower += rep.err_after[g] < rep.err_before[g];
            higher += rep.err_after[g] > rep.err_before[g];
            printf("  qwen2-tiny block %d group %d: alpha %.2f, output error %.4g -> %.4g\n", l, g, rep.alpha[g],
                   rep.err_before[g], rep.err_after[g]);
        }
        CHECK(higher == 0 && lower >= 2, "block %d: %d groups improved, %d got worse", l, lower, higher);
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
    test_search();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return check_done("test_awq");
}
