/*
 * bench_autoround.c - what AutoRound costs on this machine: seconds per SignSGD
 * iteration and per block on a random-weight decoder block of Qwen2.5-0.5B's
 * exact shape (hidden 896, 14 heads / 2 KV heads, head_dim 64, n_ff 4864, q/k/v
 * biases), for minibatch x seqlen choices, 1 and 2 threads; the GFLOP/s reached
 * against the FMA peak measured with 8 independent __m256 FMA chains; and the
 * whole-model (24 blocks) extrapolation of every recipe.
 *
 * The machine may be shared: besides wall time every figure has process CPU time
 * (CLOCK_PROCESS_CPUTIME_ID), which other jobs do not inflate (perf counters are
 * not available in this VM).  Extrapolations use CPU seconds: the 1-thread CPU
 * time is the work, and an idle 2-core machine is estimated at the 2-thread CPU
 * time / 2 (CPU time there includes OpenMP's spin-waiting, so this is pessimistic).
 * On a loaded machine run it with OMP_WAIT_POLICY=passive: libgomp's default
 * spinning at every barrier while the other core runs someone else's job made
 * 2 threads cost 40% more CPU per iteration here (and the tests 10x the time).
 *
 *   bench_autoround              the table (a few minutes)
 *   bench_autoround B T [B T..]  only these minibatch shapes (BENCH_THREADS=1: 1 thread only)
 */
#include "../calib/autoround.h"
#include "../common/rand.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define N_LAYERS 24 /* Qwen2.5-0.5B */
#define BENCH_ITERS 3

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---------------------------------------------------------------- FMA peak */

#if defined(__x86_64__)
/* 8 independent chains: FMA latency 4 (Zen 3) x 2 pipes; returns flops done */
__attribute__((target("avx2,fma"))) static double fma_loop(int64_t n, float *sink) {
    __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(1e-4f);
    __m256 c0 = _mm256_set1_ps(0.1f), c1 = _mm256_set1_ps(0.2f), c2 = _mm256_set1_ps(0.3f), c3 = _mm256_set1_ps(0.4f);
    __m256 c4 = _mm256_set1_ps(0.5f), c5 = _mm256_set1_ps(0.6f), c6 = _mm256_set1_ps(0.7f), c7 = _mm256_set1_ps(0.8f);
    for (int64_t i = 0; i < n; i++) {
        c0 = _mm256_fmadd_ps(c0, a, b), c1 = _mm256_fmadd_ps(c1, a, b);
        c2 = _mm256_fmadd_ps(c2, a, b), c3 = _mm256_fmadd_ps(c3, a, b);
        c4 = _mm256_fmadd_ps(c4, a, b), c5 = _mm256_fmadd_ps(c5, a, b);
        c6 = _mm256_fmadd_ps(c6, a, b), c7 = _mm256_fmadd_ps(c7, a, b);
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                             _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
    float out[8];
    _mm256_storeu_ps(out, s);
    *sink += out[0];
    return (double)n * 8 * 8 * 2;
}

/* GFLOP/s per CPU-second of one core (best of a few runs), and the wall-clock
 * figure of threads running the loop at once */
static void fma_peak(int threads, double *per_cpu, double *wall_rate) {
    const int64_t n = 100 * 1000 * 1000;
    double best_cpu = 0, best_wall = 0;
    for (int rep = 0; rep < 3; rep++) {
        double flop = 0, c0 = cpu_now(), t0 = gf_time_now();
        float sink = 0;
        #pragma omp parallel num_threads(threads) reduction(+ : flop)
        flop += fma_loop(n, &sink);
        double c = cpu_now() - c0, t = gf_time_now() - t0;
        if (flop / c > best_cpu) best_cpu = flop / c;
        if (flop / t > best_wall) best_wall = flop / t;
        if (sink == 12345.0f) printf(" ");
    }
    *per_cpu = best_cpu / 1e9;
    *wall_rate = best_wall / 1e9;
}
#endif

/* ---------------------------------------------------------------- the block */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(void) {
    gf_rand_next(&rng);
    return (float)((double)(rng >> 11) / (double)(1ull << 52) - 1.0);
}

typedef struct {
    gf_hparams hp;
    float *w[GF_LIN_COUNT], *bias[GF_LIN_COUNT], *norm[2];
    gf_block_weights bw;
    double params;
} qblock;

static void qblock_init(qblock *q) {
    memset(q, 0, sizeof *q);
    gf_hparams *hp = &q->hp;
    hp->arch = GF_ARCH_QWEN2;
    hp->dim = 896, hp->n_layers = N_LAYERS, hp->n_ff = 4864, hp->n_heads = 14, hp->n_kv_heads = 2;
    hp->head_dim = 64, hp->n_rot = 64, hp->n_vocab = 151936, hp->n_ctx_train = 32768;
    hp->rope_base = 1000000.0f, hp->rms_eps = 1e-6f, hp->rope = GF_ROPE_NEOX;
    for (int l = 0; l < GF_LIN_COUNT; l++) {
        int64_t n_out, n_in;
        gf_block_linear_shape(hp, l, &n_out, &n_in);
        q->w[l] = malloc((size_t)(n_out * n_in) * 4);
        const float s = 1.7f / sqrtf((float)n_in);
        for (int64_t i = 0; i < n_out * n_in; i++) q->w[l][i] = s * frand();
        if (l <= GF_LIN_V) {
            q->bias[l] = malloc((size_t)n_out * 4);
            for (int64_t i = 0; i < n_out; i++) q->bias[l][i] = 0.1f * frand();
        }
        q->bw.w[l] = q->w[l], q->bw.bias[l] = q->bias[l];
        q->params += (double)(n_out * n_in);
    }
    for (int k = 0; k < 2; k++) {
        q->norm[k] = malloc((size_t)hp->dim * 4);
        for (int64_t i = 0; i < hp->dim; i++) q->norm[k][i] = 1.0f + 0.2f * frand();
    }
    q->bw.norm[GF_NORM_ATTN] = q->norm[0], q->bw.norm[GF_NORM_FFN] = q->norm[1];
}

static void qblock_free(qblock *q) {
    for (int l = 0; l < GF_LIN_COUNT; l++) free(q->w[l]), free(q->bias[l]);
    free(q->norm[0]), free(q->norm[1]);
}

typedef struct {
    double wall, cpu, gflop;
} timing;

/* one gf_autoround_block call on S samples of T tokens, minibatch B */
static int run(const qblock *q, int64_t S, int64_t B, int64_t T, int iters, timing *t) {
    const int64_t n = S * T * q->hp.dim;
    float *x = malloc((size_t)n * 4), *xq = malloc((size_t)n * 4);
    for (int64_t i = 0; i < n; i++) x[i] = frand(), xq[i] = x[i] + 0.01f * frand();
    gf_ar_opts o = {.iters = iters, .batch = B, .seed = 1, .tune_range = 1};
    void *blocks[GF_LIN_COUNT];
    gf_ar_report rep;
    gf_err err = {0};
    double c0 = cpu_now(), t0 = gf_time_now();
    const gf_ar_block b = {.hp = &q->hp, .bw = &q->bw, .x = x, .xq = xq, .n_samples = S, .seqlen = T};
    gf_status rc = gf_autoround_block(&b, GF_TYPE_Q4_0, &o, blocks, &rep, &err);
    t->wall = gf_time_now() - t0;
    t->cpu = cpu_now() - c0;
    t->gflop = rep.gflop;
    if (rc) fprintf(stderr, "autoround: %s\n", err.msg);
    for (int l = 0; !rc && l < GF_LIN_COUNT; l++) free(blocks[l]);
    free(x), free(xq);
    return rc ? 1 : 0;
}

typedef struct {
    int64_t B, T;
    double iter_cpu[3], iter_wall[3], iter_gflop;   /* [threads] */
    double fixed_cpu_tok[3], fixed_cpu_const[3];     /* per block: const + per sample token */
} shape_t;

int main(int argc, char **argv) {
    int64_t shapes_in[16][2] = {{1, 256}, {2, 128}, {2, 256}, {4, 128}, {4, 256}};
    int n_shapes = 5;
    const int peak_only = argc > 1 && strcmp(argv[1], "--peak") == 0; /* the FMA peak line only */
    if (argc > 2) {
        n_shapes = 0;
        for (int i = 1; i + 1 < argc && n_shapes < 16; i += 2, n_shapes++) {
            shapes_in[n_shapes][0] = atoll(argv[i]);
            shapes_in[n_shapes][1] = atoll(argv[i + 1]);
        }
    }
    printf("AutoRound on a Qwen2.5-0.5B-shaped block (random weights), Q4_0; CPU seconds beside wall seconds\n");
    double peak_cpu[3] = {0}, peak_wall[3] = {0};
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        for (int thr = 1; thr <= 2; thr++) fma_peak(thr, &peak_cpu[thr], &peak_wall[thr]);
        printf("FMA peak (8 chains of __m256 FMA): %.1f GFLOP/s per CPU-second of one core (%.2f GHz at 32 flop/cycle); "
               "2 threads: %.1f GFLOP/s wall (the other jobs' share included)\n",
               peak_cpu[1], peak_cpu[1] / 32, peak_wall[2]);
    }
#endif
    if (peak_only) return 0;
    qblock q;
    qblock_init(&q);
    printf("block: %.2fM weights; tape per token %.1f KB at T=256\n", q.params / 1e6,
           gf_block_tape_bytes(&q.hp, 1, 256) / 1e3 / 256);
    shape_t sh[16];
    const int max_thr = getenv("BENCH_THREADS") && atoi(getenv("BENCH_THREADS")) == 1 ? 1 : 2;
    printf("\n| batch x seqlen | threads | s/iter wall | s/iter CPU | GFLOP/iter | GFLOP/s per CPU-s | of peak | fixed CPU-s: per block + per 1k sample tokens |\n");
    printf("|---|---|---|---|---|---|---|---|\n");
    for (int s = 0; s < n_shapes; s++) {
        shape_t *p = &sh[s];
        memset(p, 0, sizeof *p);
        p->B = shapes_in[s][0], p->T = shapes_in[s][1];
        for (int thr = 1; thr <= max_thr; thr++) {
            omp_set_num_threads(thr);
            timing t0, t0b, t1;
            /* no iterations on B and on 4B samples: the fixed work (allocation, the float
             * targets, the min-max pass and the final pass) as a constant plus a cost per
             * sample token; then BENCH_ITERS iterations on B samples */
            if (run(&q, p->B, p->B, p->T, 0, &t0) || run(&q, 4 * p->B, p->B, p->T, 0, &t0b) ||
                run(&q, p->B, p->B, p->T, BENCH_ITERS, &t1))
                return 1;
            p->iter_cpu[thr] = (t1.cpu - t0.cpu) / BENCH_ITERS;
            p->iter_wall[thr] = (t1.wall - t0.wall) / BENCH_ITERS;
            p->iter_gflop = (t1.gflop - t0.gflop) / BENCH_ITERS;
            p->fixed_cpu_tok[thr] = (t0b.cpu - t0.cpu) / (double)(3 * p->B * p->T);
            p->fixed_cpu_const[thr] = t0.cpu - p->fixed_cpu_tok[thr] * (double)(p->B * p->T);
            printf("| %lld x %lld | %d | %.2f | %.2f | %.1f | %.1f | %.0f%% | %.2f + %.2f |\n", (long long)p->B,
                   (long long)p->T, thr, p->iter_wall[thr], p->iter_cpu[thr], p->iter_gflop,
                   p->iter_gflop / p->iter_cpu[thr],
                   peak_cpu[1] > 0 ? 100 * p->iter_gflop / p->iter_cpu[thr] / peak_cpu[1] : 0.0,
                   p->fixed_cpu_const[thr], 1000 * p->fixed_cpu_tok[thr]);
            fflush(stdout);
        }
    }

    /* recipes: per block = fixed(nsamples x seqlen) + iters x iteration(batch x seqlen) */
    printf("\nWhole model (%d blocks), extrapolated from the CPU seconds above; 2-core estimate = 2-thread CPU / 2\n",
           N_LAYERS);
    printf("| recipe | iters | nsamples x seqlen | batch | 1 thread | 2 cores (est.) | per block (2 cores) | activations MB |\n");
    printf("|---|---|---|---|---|---|---|---|\n");
    for (const gf_ar_recipe *r = gf_ar_recipes; r->name; r++) {
        const shape_t *p = NULL;
        for (int s = 0; s < n_shapes; s++)
            if (sh[s].B == r->batch && sh[s].T == r->seqlen) p = &sh[s];
        if (!p) {
            printf("| %s | %d | %lld x %lld | %lld | (shape not measured) | | | |\n", r->name, r->iters,
                   (long long)r->nsamples, (long long)r->seqlen, (long long)r->batch);
            continue;
        }
        double tok = (double)(r->nsamples * r->seqlen), blk[3];
        for (int thr = 1; thr <= max_thr; thr++)
            blk[thr] = (p->fixed_cpu_const[thr] + tok * p->fixed_cpu_tok[thr] + r->iters * p->iter_cpu[thr]) / thr;
        if (max_thr == 1) blk[2] = blk[1] / 2; /* not measured: ideal scaling */
        /* c->x, c->xq, targets, min-max outputs: 4 x samples x D floats */
        double act = 4.0 * tok * (double)q.hp.dim * 4 / 1e6;
        printf("| %s | %d | %lld x %lld | %lld | %.1f min | %.1f min | %.0f s | %.0f |\n", r->name, r->iters,
               (long long)r->nsamples, (long long)r->seqlen, (long long)r->batch, N_LAYERS * blk[1] / 60,
               N_LAYERS * blk[2] / 60, blk[2], act);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("\npeak RSS of this bench: %.0f MB\n", ru.ru_maxrss / 1024.0);
    qblock_free(&q);
    return 0;
}
