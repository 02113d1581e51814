/*
 * bench_gemm.c - speed of the float GEMM (engine/gemm.h) at Qwen2.5-0.5B's
 * shapes (hidden 896, intermediate 4864, k/v 128 rows), per kernel set,
 * product, token count and thread count, beside the row-at-a-time dot path
 * gf_matmul used for F32 weights before (rows).
 *
 * Prints GFLOP/s (2·M·N·K flops per call) as the best of repeated calls over
 * a time budget per point: other processes share the machine, and the best
 * run is the one they disturbed least.  The median is printed too so the
 * noise shows, and a per-core rate: flops of all calls over the process CPU
 * time they took, which the scheduler disturbs much less on a loaded machine.
 * Not a test: numbers only.
 *
 *   bench_gemm [-s seconds-per-point] [-k scalar,avx2] [-m 1,8,256,2048] [-t 1,2]
 */
#include "../engine/gemm_internal.h"
#include "../engine/kernels_internal.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct {
    const char *name;
    int64_t n_out, n_in;
} shape;

static const shape shapes[] = {
    {"q/o", 896, 896}, {"k/v", 128, 896}, {"gate/up", 4864, 896}, {"down", 896, 4864},
};
#define N_SHAPES ((int)(sizeof shapes / sizeof shapes[0]))
#define MAX_REPS 200

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time of all the process's threads: unlike wall time it stops while the
 * scheduler runs someone else, so flops / CPU time is a per-core rate that a
 * loaded machine disturbs much less (OpenMP's spinning at barriers counts). */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* the F32 path of gf_matmul before the GEMM: one dot per (token, row), 16 rows per chunk */
static void rows_path(const gf_kernel_ops *ops, int64_t T, int64_t O, int64_t I, const float *X, const float *W,
                      float *Y) {
    const int64_t n_chunk = (O + 15) / 16;
    #pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < n_chunk; c++)
        for (int64_t t = 0; t < T; t++)
            for (int64_t o = c * 16; o < O && o < c * 16 + 16; o++) Y[t * O + o] = ops->vec_dot[GF_TYPE_F32](W + o * I, X + t * I, I);
}

typedef struct { double best, median, per_core; } rate;

/* variant: 0..2 = gf_gemm op, 3 = rows path (NT shape) */
static rate time_one(gf_kernel_set ks, int variant, int64_t M, int64_t N, int64_t K, const float *A,
                     const float *B, float *C, double budget) {
    double t[MAX_REPS], cpu_total = 0;
    int n = 0;
    const double t_end = now() + budget;
    do {
        const double t0 = now(), c0 = cpu_now();
        if (variant == 3) rows_path(gf_kernels_ops(ks), M, N, K, A, B, C);
        else {
            const gf_gemm_op op = (gf_gemm_op)variant;
            const int64_t lda = op == GF_GEMM_TN ? M : K, ldb = op == GF_GEMM_NT ? K : N;
            gf_gemm(ks, op, M, N, K, A, lda, B, ldb, C, N, 0);
        }
        t[n++] = now() - t0;
        cpu_total += cpu_now() - c0;
    } while (n < MAX_REPS && (now() < t_end || n < 3));
    qsort(t, (size_t)n, sizeof t[0], cmp_d);
    const double fl = 2.0 * (double)M * (double)N * (double)K;
    /* per core: all calls over all their CPU time (one short call's CPU time is too coarse) */
    return (rate){fl / t[0] * 1e-9, fl / t[n / 2] * 1e-9, fl * n / cpu_total * 1e-9};
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
    double budget = 0.4;
    const char *sets = "scalar,avx2,neon";
    int64_t toks[8] = {1, 8, 256, 2048}, thr[4] = {1, 2};
    int n_toks = 4, n_thr = 2;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-s")) budget = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "-k")) sets = argv[i + 1];
        else if (!strcmp(argv[i], "-m")) n_toks = parse_list(argv[i + 1], toks, 8);
        else if (!strcmp(argv[i], "-t")) n_thr = parse_list(argv[i + 1], thr, 4);
    }
    const int64_t max_tok = 2048, max_dim = 4864;
    float *A = malloc((size_t)(max_tok * max_dim) * sizeof(float));
    float *B = malloc((size_t)(max_dim * max_dim) * sizeof(float));
    float *C = malloc((size_t)(max_dim * max_dim) * sizeof(float));
    for (int64_t i = 0; i < max_tok * max_dim; i++) A[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f;
    for (int64_t i = 0; i < max_dim * max_dim; i++) B[i] = (float)((i * 104729) % 1000) * 1e-3f - 0.5f;

    printf("| set | product | shape (W out x in) | M,N,K | tokens | threads | best GFLOP/s | median | per core (CPU time) |\n");
    printf("|---|---|---|---|---|---|---|---|---|\n");
    for (int ks = 0; ks < GF_KERNELS_COUNT_; ks++) {
        const gf_kernel_set s = (gf_kernel_set)ks;
        const char *nm = gf_kernels_name(s);
        const char *hit = strstr(sets, nm);
        if (!hit || (hit[strlen(nm)] != ',' && hit[strlen(nm)] != 0) || !gf_kernels_supported(s)) continue;
        for (int variant = 0; variant < 4; variant++)
            for (int sh = 0; sh < N_SHAPES; sh++)
                for (int ti = 0; ti < n_toks; ti++) {
                    const int64_t T = toks[ti], O = shapes[sh].n_out, I = shapes[sh].n_in;
                    if (variant == 3 && s == GF_KERNELS_SCALAR) continue;
                    /* the backward products only run over calibration batches */
                    if ((variant == 1 || variant == 2) && T < 64) continue;
                    int64_t M, N, K;
                    if (variant == 0 || variant == 3) { M = T; N = O; K = I; }  /* Y = X·Wᵀ   */
                    else if (variant == 1) { M = T; N = I; K = O; }             /* dX = dY·W  */
                    else { M = O; N = I; K = T; }                               /* dW = dYᵀ·X */
                    for (int th = 0; th < n_thr; th++) {
                        omp_set_num_threads((int)thr[th]);
                        const double b = s == GF_KERNELS_SCALAR ? budget / 4 : budget;
                        const rate r = time_one(s, variant, M, N, K, A, B, C, b);
                        static const char *const vn[4] = {"nt Y=X·Wᵀ", "nn dX=dY·W", "tn dW=dYᵀ·X", "rows (old nt)"};
                        printf("| %s | %s | %s %lldx%lld | %lld,%lld,%lld | %lld | %lld | %.1f | %.1f | %.1f |\n", nm,
                               vn[variant], shapes[sh].name, (long long)O, (long long)I, (long long)M,
                               (long long)N, (long long)K, (long long)T, (long long)thr[th], r.best, r.median, r.per_core);
                        fflush(stdout);
                    }
                }
    }
    free(A); free(B); free(C);
    return 0;
}
