/*
 * gemm_avx2.c - the AVX2 + FMA GEMM (x86-64), compiled with -mavx2 -mfma and
 * only called after gf_kernels_supported(GF_KERNELS_AVX2) said so.
 *
 * NN and TN: Goto/BLIS style.  A KC x tile block of B and a tile x KC block of
 * A are packed into 16-column / 6-row panels, and a 6 x 16 micro-kernel keeps
 * C in 12 ymm accumulators, one broadcast of A and two loads of B per k.  Each
 * element of C is one FMA chain over k = 0..K-1, started from 0 or the old C;
 * between K blocks the partial sum waits in C as a float, which changes nothing.
 *
 * NT (Y = X·Wᵀ, both operands run along K): no packing, a 3 x 4 (or 1 x 8 for
 * a single row) tile of dot products, each in 8 lanes (lane l takes k ≡ l mod
 * 8), reduced by a fixed tree per KC_NT block of k and added to C in block
 * order.  A lone token (decode) thus gets the same bits as inside a batch,
 * without a packed copy of the weights.  K tails use masked loads (zeros).
 */
#include "gemm_internal.h"

#include <immintrin.h>

#define TILE_M 96   /* NT: rows of C per tile, 32 dot tiles of 3 */
#define TILE_M_XN 384 /* NN/TN: rows of C per tile, in blocks of MC sharing one packed B block */
#define MC 96       /* rows of A packed at a time: 16 micro-panels of 6 */
#define TILE_N 256  /* columns of C per tile: 16 micro-panels of 16 */
#define MR 6
#define NR 16
#define KC 256      /* packed B block KC x TILE_N = 256 KB and A block 96 KB: in L2 */
#define KC_NT 512   /* NT: k per reduction block; 4 rows of B (8 KB) stay in L1, the tile's A block (192 KB) in L2 */

/* ---------------------------------------------------------------- NN / TN */

/* C (MR x NR, row stride ldc) = (first ? 0 : C) + ap (kc x MR) · bp (kc x NR) */
static inline void kernel_6x16(const float *ap, const float *bp, int64_t kc, float *c, int64_t ldc, int first) {
    __m256 c0[MR], c1[MR];
    for (int i = 0; i < MR; i++) {
        c0[i] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(c + i * ldc);
        c1[i] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(c + i * ldc + 8);
    }
    for (int64_t k = 0; k < kc; k++, ap += MR, bp += NR) {
        const __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
        for (int i = 0; i < MR; i++) {
            const __m256 a = _mm256_broadcast_ss(ap + i);
            c0[i] = _mm256_fmadd_ps(a, b0, c0[i]);
            c1[i] = _mm256_fmadd_ps(a, b1, c1[i]);
        }
    }
    for (int i = 0; i < MR; i++) {
        _mm256_storeu_ps(c + i * ldc, c0[i]);
        _mm256_storeu_ps(c + i * ldc + 8, c1[i]);
    }
}

/* B rows k0..k0+kc, columns j0..j1 -> panels of NR columns, k-major, zero-padded */
static void pack_b(const gf_gemm_args *g, int64_t k0, int64_t kc, int64_t j0, int64_t j1, float *bp) {
    for (int64_t jp = j0; jp < j1; jp += NR, bp += kc * NR) {
        const int64_t nr = j1 - jp < NR ? j1 - jp : NR;
        const float *b = g->B + k0 * g->ldb + jp;
        if (nr == NR)
            for (int64_t k = 0; k < kc; k++) {
                _mm256_store_ps(bp + k * NR, _mm256_loadu_ps(b + k * g->ldb));
                _mm256_store_ps(bp + k * NR + 8, _mm256_loadu_ps(b + k * g->ldb + 8));
            }
        else
            for (int64_t k = 0; k < kc; k++)
                for (int64_t j = 0; j < NR; j++) bp[k * NR + j] = j < nr ? b[k * g->ldb + j] : 0.0f;
    }
}

/* op(A) rows i0..i1, k0..k0+kc -> panels of MR rows, k-major, zero-padded */
static void pack_a(const gf_gemm_args *g, int64_t k0, int64_t kc, int64_t i0, int64_t i1, float *ap) {
    for (int64_t ip = i0; ip < i1; ip += MR, ap += kc * MR) {
        const int64_t mr = i1 - ip < MR ? i1 - ip : MR;
        if (g->op == GF_GEMM_TN) { /* A is (K, M): MR neighbours per k */
            const float *a = g->A + k0 * g->lda + ip;
            if (mr == MR)
                for (int64_t k = 0; k < kc; k++)
                    for (int i = 0; i < MR; i++) ap[k * MR + i] = a[k * g->lda + i];
            else
                for (int64_t k = 0; k < kc; k++)
                    for (int64_t i = 0; i < MR; i++) ap[k * MR + i] = i < mr ? a[k * g->lda + i] : 0.0f;
        } else { /* A is (M, K): MR rows read along k */
            for (int64_t i = 0; i < MR; i++) {
                const float *a = g->A + (ip + i) * g->lda + k0;
                if (i < mr)
                    for (int64_t k = 0; k < kc; k++) ap[k * MR + i] = a[k];
                else
                    for (int64_t k = 0; k < kc; k++) ap[k * MR + i] = 0.0f;
            }
        }
    }
}

/* Rows i0..i1 (at most MC) of the tile's columns j0..j1 for k block k0..k0+kc,
 * B's block already packed in bp. */
static void xn_block(const gf_gemm_args *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1, int64_t k0, int64_t kc,
                     int first, float *ap, const float *bp) {
    pack_a(g, k0, kc, i0, i1, ap);
    /* one B micro-panel (16 KB) stays in L1 while the A panels stream past */
    for (int64_t jp = j0; jp < j1; jp += NR) {
        const int64_t nr = j1 - jp < NR ? j1 - jp : NR;
        const float *bpp = bp + (jp - j0) * kc;
        for (int64_t ip = i0; ip < i1; ip += MR) {
            const int64_t mr = i1 - ip < MR ? i1 - ip : MR;
            const float *app = ap + (ip - i0) * kc;
            float *c = g->C + ip * g->ldc + jp;
            if (mr == MR && nr == NR) {
                kernel_6x16(app, bpp, kc, c, g->ldc, first);
            } else { /* edge: the same kernel on a copy, so the same bits */
                float t[MR * NR];
                for (int64_t i = 0; i < mr; i++)
                    for (int64_t j = 0; j < nr; j++) t[i * NR + j] = c[i * g->ldc + j];
                kernel_6x16(app, bpp, kc, t, NR, first);
                for (int64_t i = 0; i < mr; i++)
                    for (int64_t j = 0; j < nr; j++) c[i * g->ldc + j] = t[i * NR + j];
            }
        }
    }
}

static void tile_xn(const gf_gemm_args *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1, void *work) {
    float *ap = work, *bp = ap + MC * KC;
    for (int64_t k0 = 0; k0 < g->K; k0 += KC) {
        const int64_t kc = g->K - k0 < KC ? g->K - k0 : KC;
        const int first = k0 == 0 && !g->accumulate;
        pack_b(g, k0, kc, j0, j1, bp); /* once for all the tile's rows */
        for (int64_t ib = i0; ib < i1; ib += MC)
            xn_block(g, ib, ib + MC < i1 ? ib + MC : i1, j0, j1, k0, kc, first, ap, bp);
    }
}

/* ---------------------------------------------------------------- NT */

/* Lane sums of v[0..3] -> one __m128, by the same tree for every element:
 * ((l0+l1)+(l2+l3)) + ((l4+l5)+(l6+l7)). */
static inline __m128 hsum4(__m256 v0, __m256 v1, __m256 v2, __m256 v3) {
    const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(v0, v1), _mm256_hadd_ps(v2, v3));
    return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

static inline __m256 tail_mask(int64_t n) { /* first n (0..8) lanes set */
    static const int32_t ones[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)(ones + 8 - n)));
}

/* out[i][j] = Σ_k a[i][k]·b[j][k] over k < kc as 8 lane chains and hsum4, for
 * MRD rows of A and NRD rows of B (MRD·NRD ≤ 12 accumulators). */
static inline __attribute__((always_inline)) void dot_tile(const float *const *a, const float *const *b,
                                                           int64_t kc, int mrd, int nrd, __m128 *out) {
    __m256 acc[3][8];
    for (int i = 0; i < mrd; i++)
        for (int j = 0; j < nrd; j++) acc[i][j] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= kc; k += 8) {
        __m256 av[3];
        for (int i = 0; i < mrd; i++) av[i] = _mm256_loadu_ps(a[i] + k);
        for (int j = 0; j < nrd; j++) {
            const __m256 bv = _mm256_loadu_ps(b[j] + k);
            for (int i = 0; i < mrd; i++) acc[i][j] = _mm256_fmadd_ps(av[i], bv, acc[i][j]);
        }
    }
    if (k < kc) {
        const __m256i m = _mm256_castps_si256(tail_mask(kc - k));
        __m256 av[3];
        for (int i = 0; i < mrd; i++) av[i] = _mm256_maskload_ps(a[i] + k, m);
        for (int j = 0; j < nrd; j++) {
            const __m256 bv = _mm256_maskload_ps(b[j] + k, m);
            for (int i = 0; i < mrd; i++) acc[i][j] = _mm256_fmadd_ps(av[i], bv, acc[i][j]);
        }
    }
    for (int i = 0; i < mrd; i++)
        for (int j = 0; j < nrd; j += 4) out[i * 2 + j / 4] = hsum4(acc[i][j], acc[i][j + 1], acc[i][j + 2], acc[i][j + 3]);
}

/* C[i][j0 + j] (+)= s[j] for the nj ≤ 4 valid columns */
static inline void add_out(float *c, __m128 s, int64_t nj, int first) {
    if (nj == 4) {
        _mm_storeu_ps(c, first ? s : _mm_add_ps(_mm_loadu_ps(c), s));
        return;
    }
    float t[4];
    _mm_storeu_ps(t, s);
    for (int64_t j = 0; j < nj; j++) c[j] = first ? t[j] : c[j] + t[j];
}

static void tile_nt(const gf_gemm_args *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1, void *work) {
    (void)work;
    for (int64_t k0 = 0; k0 < g->K; k0 += KC_NT) {
        const int64_t kc = g->K - k0 < KC_NT ? g->K - k0 : KC_NT;
        const int first = k0 == 0 && !g->accumulate;
        if (i1 - i0 == 1) { /* one row (decode): 1 x 8 tiles, 8 chains in flight */
            const float *a[1] = {g->A + i0 * g->lda + k0};
            for (int64_t j = j0; j < j1; j += 8) {
                const float *b[8];
                for (int q = 0; q < 8; q++) b[q] = g->B + (j + q < j1 ? j + q : j1 - 1) * g->ldb + k0;
                __m128 s[2];
                dot_tile(a, b, kc, 1, 8, s);
                float *c = g->C + i0 * g->ldc + j;
                add_out(c, s[0], j1 - j < 4 ? j1 - j : 4, first);
                if (j1 - j > 4) add_out(c + 4, s[1], j1 - j - 4 < 4 ? j1 - j - 4 : 4, first);
            }
            continue;
        }
        /* 4 rows of B (4 KB) stay in L1 while the tile's rows of A stream past */
        for (int64_t j = j0; j < j1; j += 4) {
            const int64_t nj = j1 - j < 4 ? j1 - j : 4;
            const float *b[4];
            for (int q = 0; q < 4; q++) b[q] = g->B + (j + (q < nj ? q : nj - 1)) * g->ldb + k0;
            for (int64_t i = i0; i < i1; i += 3) {
                const int64_t mi = i1 - i < 3 ? i1 - i : 3;
                const float *a[3];
                for (int q = 0; q < 3; q++) a[q] = g->A + (i + (q < mi ? q : mi - 1)) * g->lda + k0;
                __m128 s[6];
                if (mi == 3) dot_tile(a, b, kc, 3, 4, s);
                else if (mi == 2) dot_tile(a, b, kc, 2, 4, s);
                else dot_tile(a, b, kc, 1, 4, s);
                for (int64_t q = 0; q < mi; q++) add_out(g->C + (i + q) * g->ldc + j, s[q * 2], nj, first);
            }
        }
    }
}

const gf_gemm_ops gf_gemm_ops_avx2 = {
    .ks = GF_KERNELS_AVX2,
    .tile_m = {[GF_GEMM_NT] = TILE_M, [GF_GEMM_NN] = TILE_M_XN, [GF_GEMM_TN] = TILE_M_XN},
    .tile_n = TILE_N,
    .work_bytes = {[GF_GEMM_NN] = sizeof(float) * (MC * KC + KC * TILE_N),
                   [GF_GEMM_TN] = sizeof(float) * (MC * KC + KC * TILE_N)}, /* NT packs nothing */
    .tile = {[GF_GEMM_NT] = tile_nt, [GF_GEMM_NN] = tile_xn, [GF_GEMM_TN] = tile_xn},
};
