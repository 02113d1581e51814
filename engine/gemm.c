/*
 * gemm.c - the float GEMM driver: takes the kernel set's tile functions, cuts
 * C into tiles and hands them to OpenMP threads, each with its own scratch.
 * Which sets the CPU runs is cpu.c's (asked once, not per product).
 *
 * Results never depend on the thread count: a tile is computed by one thread
 * with no split of the K reduction, and the kernels make each element a
 * function of its inputs only (see gemm.h), so the tiling is free to change
 * (and follows the thread count).  The arithmetic lives in gemm_<set>.c.
 */
#include "gemm_internal.h"

#include <omp.h>
#include <stdlib.h>

/* Below this many multiply-adds the threads cost more than they save. */
#define PAR_MIN_MACS 32768.0
/* Aim for at least this many tiles per thread, so that threads get balanced work (decode: M = 1). */
#define TILES_PER_THREAD 4
/* Narrowest tile the splitting goes down to (a multiple of every set's NR). */
#define MIN_TILE_N 32

const gf_gemm_ops *gf_gemm_ops_for(gf_kernel_set ks) {
    switch (ks) {
    case GF_KERNELS_SCALAR: return &gf_gemm_ops_scalar;
#if defined(__x86_64__)
    case GF_KERNELS_AVX2: return &gf_gemm_ops_avx2;
#endif
#if defined(__aarch64__)
    case GF_KERNELS_NEON:
    case GF_KERNELS_NEON_DOT: return &gf_gemm_ops_neon;
#endif
    default: return NULL;
    }
}

/* The tile size for n items, at most cap: as many tiles as cap needs, of equal
 * size rounded up to a multiple of `unit` (the kernels' panels), never over cap. */
static int64_t even_split(int64_t n, int64_t cap, int64_t unit) {
    if (n <= cap) return n;
    const int64_t parts = (n + cap - 1) / cap, t = ((n + parts - 1) / parts + unit - 1) / unit * unit;
    return t < cap ? t : cap;
}

static void fill(float *C, int64_t ldc, int64_t M, int64_t N, float v) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) C[i * ldc + j] = v;
}

gf_status gf_gemm(gf_kernel_set ks, gf_gemm_op op, int64_t M, int64_t N, int64_t K,
                  const float *A, int64_t lda, const float *B, int64_t ldb,
                  float *C, int64_t ldc, int accumulate) {
    if (M <= 0 || N <= 0 || (unsigned)op >= GF_GEMM_OP_COUNT_) return GF_OK;
    if (K <= 0) {
        if (!accumulate) fill(C, ldc, M, N, 0.0f);
        return GF_OK;
    }
    const gf_gemm_ops *ops = gf_kernels_supported(ks) ? gf_gemm_ops_for(ks) : NULL;
    if (!ops) ops = &gf_gemm_ops_scalar;
    const gf_gemm_args g = {.op = op, .M = M, .N = N, .K = K, .A = A, .lda = lda, .B = B, .ldb = ldb,
                            .C = C, .ldc = ldc, .accumulate = accumulate ? 1 : 0};

    /* No element depends on the tiling, so it may follow the thread count: rows
     * are cut into tiles of (nearly) equal height so that threads get equal
     * shares, and columns are narrowed while there are too few tiles for the
     * threads to share (decode, K/V projections). */
    const int big = (double)M * (double)N * (double)K >= PAR_MIN_MACS;
    const int64_t min_tiles = big ? TILES_PER_THREAD * (int64_t)omp_get_max_threads() : 1;
    const int64_t tm = even_split(M, ops->tile_m[op], 6);
    int64_t tn = ops->tile_n;
    const int64_t n_tm = (M + tm - 1) / tm;
    while (tn > MIN_TILE_N && n_tm * ((N + tn - 1) / tn) < min_tiles) tn /= 2;
    tn = even_split(N, tn, MIN_TILE_N);
    const int64_t n_tn = (N + tn - 1) / tn, n_tiles = n_tm * n_tn;

    const int par = big && n_tiles > 1;
    const int max_thr = par ? omp_get_max_threads() : 1;
    const size_t wb = (ops->work_bytes[op] + 63) & ~(size_t)63;
    char *work = NULL;
    if (wb) {
        work = aligned_alloc(64, wb * (size_t)max_thr);
        if (!work) return GF_E_NOMEM;
    }
    const gf_gemm_tile_fn tile = ops->tile[op];
    #pragma omp parallel if (par) num_threads(max_thr)
    {
        void *w = work ? work + wb * (size_t)omp_get_thread_num() : NULL;
        /* N-tiles inner: neighbouring threads share A's rows (the smaller side
         * at the calibration shapes) while each streams its own slice of B. */
        #pragma omp for schedule(static)
        for (int64_t t = 0; t < n_tiles; t++) {
            const int64_t i0 = (t / n_tn) * tm, j0 = (t % n_tn) * tn;
            const int64_t i1 = i0 + tm < M ? i0 + tm : M, j1 = j0 + tn < N ? j0 + tn : N;
            tile(&g, i0, i1, j0, j1, w);
        }
    }
    free(work);
    return GF_OK;
}

gf_status gf_gemm_nt(int64_t M, int64_t N, int64_t K, const float *A, const float *B, float *C, int accumulate) {
    return gf_gemm(gf_kernels_default(), GF_GEMM_NT, M, N, K, A, K, B, K, C, N, accumulate);
}

gf_status gf_gemm_nn(int64_t M, int64_t N, int64_t K, const float *A, const float *B, float *C, int accumulate) {
    return gf_gemm(gf_kernels_default(), GF_GEMM_NN, M, N, K, A, K, B, N, C, N, accumulate);
}

gf_status gf_gemm_tn(int64_t M, int64_t N, int64_t K, const float *A, const float *B, float *C, int accumulate) {
    return gf_gemm(gf_kernels_default(), GF_GEMM_TN, M, N, K, A, M, B, N, C, N, accumulate);
}
