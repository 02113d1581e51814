/*
 * bench_kernels.c - speed of gf_matmul at the shapes of Qwen2.5-0.5B (hidden
 * 896, intermediate 4864, k/v 128 rows, vocab 151936), per kernel set, weight
 * type, token count (1 = decode, 512 = prompt/perplexity) and thread count.
 *
 * Prints GFLOP/s per shape (2·n_in·n_out·n_tok flops per call) and the matmul
 * time of one whole forward pass (24 layers + output head) as tokens/s.
 * Not a test: numbers only.  "avx2-rows" is the AVX2 set with the Q4_0
 * repacking turned off, to show what the interleaved layout is worth.
 *
 *   bench_kernels [-t q4_0,q8_0,f16,f32] [-n 1,512] [-s seconds-per-point]
 */
#include "../engine/kernels_internal.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    const char *name;
    int64_t n_out, n_in;
    int per_layer; /* how often the shape occurs per layer; 0: once per model */
} shape;

static const shape shapes[] = {
    {"q/o 896x896", 896, 896, 2},     {"k/v 128x896", 128, 896, 2}, {"gate/up 4864x896", 4864, 896, 2},
    {"down 896x4864", 896, 4864, 1},  {"head 151936x896", 151936, 896, 0},
};
#define N_SHAPES ((int)(sizeof shapes / sizeof shapes[0]))
#define N_LAYER 24
/* Caps one call's work so the scalar set at n_tok = 512 finishes: bigger shapes
 * are timed on their first rows (GFLOP/s is a rate; rows are independent). */
#define MAX_FLOP_PER_CALL 4e9
#define MAX_FLOP_PER_CALL_SCALAR 2e8 /* the scalar F16 dot runs at ~0.2 GFLOP/s */

typedef struct { uint64_t s; } rng_t;
static float rnd_f(rng_t *r) {
    r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)(uint32_t)(r->s >> 33) / 2147483648.0f - 1.0f;
}

/* seconds per call of W at n_tok tokens, best of repeated runs over ~budget s */
static double time_call(const gf_wmat *W, const float *X, float *Y, int64_t n_tok, double budget) {
    gf_matmul(W, X, Y, n_tok); /* warm up: page in, wake threads */
    double best = 1e30, spent = 0;
    int runs = 0;
    while (runs < 3 || (spent < budget && runs < 1000)) {
        const double t0 = gf_time_now();
        gf_matmul(W, X, Y, n_tok);
        const double dt = gf_time_now() - t0;
        if (dt < best) best = dt;
        spent += dt;
        runs++;
        if (dt > budget) break;
    }
    return best;
}

static int parse_list(const char *s, int64_t *out, int max) {
    int n = 0;
    while (*s && n < max) {
        out[n++] = strtoll(s, (char **)&s, 10);
        if (*s == ',') s++;
    }
    return n;
}

int main(int argc, char **argv) {
    const char *types = "q4_0,q8_0,f16,f32";
    int64_t toks[4] = {1, 512};
    int n_toks = 2;
    double budget = 0.3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-t")) types = argv[i + 1];
        else if (!strcmp(argv[i], "-n")) n_toks = parse_list(argv[i + 1], toks, 4);
        else if (!strcmp(argv[i], "-s")) budget = atof(argv[i + 1]);
        else { fprintf(stderr, "usage: %s [-t types] [-n tokens] [-s seconds]\n", argv[0]); return 2; }
    }
    int64_t max_tok = 0;
    for (int i = 0; i < n_toks; i++) max_tok = toks[i] > max_tok ? toks[i] : max_tok;

    rng_t r = {99};
    const int64_t max_in = 4864, max_out = 151936;
    float *X = malloc((size_t)(max_tok * max_in) * sizeof(float));
    float *Y = malloc((size_t)(max_tok * max_out) * sizeof(float));
    float *row = malloc((size_t)max_in * sizeof(float));
    if (!X || !Y || !row) return 1;
    for (int64_t i = 0; i < max_tok * max_in; i++) X[i] = rnd_f(&r);

    printf("%-10s %-5s %-4s %4s", "set", "type", "tok", "thr");
    for (int s = 0; s < N_SHAPES; s++) printf(" %17s", shapes[s].name);
    printf(" %9s\n", "model t/s");

    char tbuf[64];
    snprintf(tbuf, sizeof tbuf, "%s", types);
    for (char *tn = strtok(tbuf, ","); tn; tn = strtok(NULL, ",")) {
        const int type = gf_type_from_name(tn);
        if (type < 0) { fprintf(stderr, "unknown type %s\n", tn); continue; }
        /* weights of every shape, made once per type */
        void *wd[N_SHAPES];
        for (int s = 0; s < N_SHAPES; s++) {
            const size_t rb = gf_row_size((gf_type)type, shapes[s].n_in);
            wd[s] = malloc(rb * (size_t)shapes[s].n_out);
            for (int64_t o = 0; o < shapes[s].n_out; o++) {
                for (int64_t i = 0; i < shapes[s].n_in; i++) row[i] = 0.05f * rnd_f(&r);
                gf_quantize_row((gf_type)type, row, (char *)wd[s] + (size_t)o * rb, shapes[s].n_in);
            }
        }
        for (int ks = 0; ks <= GF_KERNELS_COUNT_; ks++) {
            /* ks == COUNT_: AVX2 without the Q4_0 repacking */
            const int rows_variant = ks == GF_KERNELS_COUNT_;
            const gf_kernel_set set = rows_variant ? GF_KERNELS_AVX2 : (gf_kernel_set)ks;
            if (!gf_kernels_supported(set)) continue;
            if (rows_variant && type != GF_TYPE_Q4_0) continue;
            for (int ti = 0; ti < n_toks; ti++)
                for (int thr = 1; thr <= 2; thr++) {
                    omp_set_num_threads(thr);
                    printf("%-10s %-5s %-4lld %4d", rows_variant ? "avx2-rows" : gf_kernels_name(set), tn,
                           (long long)toks[ti], thr);
                    double model_s = 0;
                    for (int s = 0; s < N_SHAPES; s++) {
                        int64_t n_out = shapes[s].n_out;
                        const double full = 2.0 * shapes[s].n_in * n_out * toks[ti];
                        const double cap = set == GF_KERNELS_SCALAR ? MAX_FLOP_PER_CALL_SCALAR : MAX_FLOP_PER_CALL;
                        if (full > cap) n_out = (int64_t)(n_out * cap / full) / 64 * 64;
                        if (n_out < 64) n_out = 64;
                        gf_wmat W;
                        gf_err err;
                        if (gf_wmat_init(&W, (gf_type)type, shapes[s].n_in, n_out, wd[s], set, &err)) {
                            fprintf(stderr, "%s\n", err.msg);
                            return 1;
                        }
                        if (rows_variant) gf_wmat_free(&W); /* drops the packed copy: row-order dots */
                        const double sec = time_call(&W, X, Y, toks[ti], budget);
                        gf_wmat_free(&W);
                        const double flop = 2.0 * shapes[s].n_in * n_out * toks[ti];
                        printf(" %17.2f", flop / sec * 1e-9);
                        const double sec_full = sec * full / flop;
                        model_s += sec_full * (shapes[s].per_layer ? shapes[s].per_layer * N_LAYER : 1);
                        fflush(stdout);
                    }
                    printf(" %9.1f\n", toks[ti] / model_s);
                }
        }
        for (int s = 0; s < N_SHAPES; s++) free(wd[s]);
    }
    printf("(GFLOP/s per shape; 'model t/s' = tokens/s of the matmuls of one Qwen2.5-0.5B forward pass)\n");
    free(X); free(Y); free(row);
    return 0;
}
