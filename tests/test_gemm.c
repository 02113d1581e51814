/*
 * test_gemm.c - the float GEMM (engine/gemm.h): every kernel set and product
 * against a naive double-precision reference at awkward sizes, with and
 * without accumulation and leading dimensions; bit-identical results for 1 and
 * 2 threads and for a row (or five) computed alone or inside a batch; the plain entry
 * points against the same reference.  (gf_matmul on F32 weights, which calls
 * gf_gemm, is checked against a double reference in test_kernels.)
 *
 * Error bounds are the textbook ones for the summation each set does, so a
 * failure is a bug, not bad luck: a float FMA chain or tree over K terms
 * (SIMD) is within (K+2)·u of Σ|a·b| + |C_old|, u = 2^-24; the scalar
 * reference sums in double and rounds once.
 */
#include "../engine/gemm_internal.h"
#include "check.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>

#define U_F32 (1.0 / 16777216.0) /* unit roundoff of float, 2^-24 */
#define U_F64 (1.0 / 9007199254740992.0)
/* SIMD sets: K products summed in float (chains, lane trees, per-block sums and
 * the add into C each round at most once per term), relative to Σ|a·b| + |C_old|. */
static double tol_simd(int64_t K) { return (double)(K + 2) * U_F32; }
/* Scalar: summed in double, rounded to float once. */
static double tol_scalar(int64_t K) { return U_F32 + (double)(K + 2) * U_F64; }

static const int64_t sizes[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 127, 129, 257};
#define N_SIZES ((int)(sizeof sizes / sizeof sizes[0]))
static const char *const op_names[GF_GEMM_OP_COUNT_] = {"nt", "nn", "tn"};

typedef struct { uint64_t s; } rng_t;
static float rnd_f(rng_t *r) {
    r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)(uint32_t)(r->s >> 33) / 2147483648.0f - 1.0f;
}
static float *rnd_buf(rng_t *r, int64_t n) {
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    for (int64_t i = 0; i < n; i++) p[i] = rnd_f(r);
    return p;
}

/* element accessors of op(A) (M, K) and op(B) (K, N) */
static double a_at(gf_gemm_op op, const float *A, int64_t lda, int64_t i, int64_t k) {
    return op == GF_GEMM_TN ? A[k * lda + i] : A[i * lda + k];
}
static double b_at(gf_gemm_op op, const float *B, int64_t ldb, int64_t k, int64_t j) {
    return op == GF_GEMM_NT ? B[j * ldb + k] : B[k * ldb + j];
}

/* Naive reference: ref = C_old (if acc) + Σ a·b in double, mag = Σ|a·b| + |C_old|. */
static void reference(gf_gemm_op op, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                      const float *B, int64_t ldb, const float *C0, int64_t ldc, int acc, double *ref,
                      double *mag) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = acc ? C0[i * ldc + j] : 0.0, m = acc ? fabs(C0[i * ldc + j]) : 0.0;
            for (int64_t k = 0; k < K; k++) {
                const double p = a_at(op, A, lda, i, k) * b_at(op, B, ldb, k, j);
                s += p;
                m += fabs(p);
            }
            ref[i * N + j] = s;
            mag[i * N + j] = m;
        }
}

static int64_t lda_of(gf_gemm_op op, int64_t M, int64_t K) { return op == GF_GEMM_TN ? M : K; }
static int64_t ldb_of(gf_gemm_op op, int64_t N, int64_t K) { return op == GF_GEMM_NT ? K : N; }
static int64_t a_rows(gf_gemm_op op, int64_t M, int64_t K) { return op == GF_GEMM_TN ? K : M; }
static int64_t b_rows(gf_gemm_op op, int64_t N, int64_t K) { return op == GF_GEMM_NT ? N : K; }

typedef struct { double worst; int n_bad; } errstat;

static void check_against(const float *C, int64_t ldc, const double *ref, const double *mag, int64_t M,
                          int64_t N, double tol, errstat *st) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            const double e = fabs((double)C[i * ldc + j] - ref[i * N + j]);
            const double rel = e / (mag[i * N + j] + 1e-300);
            if (!(rel <= st->worst)) st->worst = rel; /* NaN wins */
            if (!(e <= tol * mag[i * N + j])) st->n_bad++;
        }
}

/* ---------------------------------------------------------------- accuracy */

/* Every product at awkward sizes: all (M, N) pairs with K rotating through the
 * list, and all K with small and large M, N; half the cases accumulate. */
static void test_accuracy(gf_kernel_set ks) {
    const char *name = gf_kernels_name(ks);
    for (int op = 0; op < GF_GEMM_OP_COUNT_; op++) {
        rng_t r = {1000 + (uint64_t)op};
        errstat st = {0, 0};
        int n_cases = 0, first_bad = -1;
        for (int im = 0; im < N_SIZES; im++)
            for (int in = 0; in < N_SIZES; in++) {
                const int64_t M = sizes[im], N = sizes[in];
                for (int rep = 0; rep < 2; rep++) {
                    /* rep 0: K rotates with (M, N); rep 1 only for the corners, all K */
                    const int ik_lo = rep == 0 ? (im + 3 * in) % N_SIZES : 0;
                    const int ik_hi = rep == 0 ? ik_lo + 1 : N_SIZES;
                    if (rep == 1 && !((im == 0 || im == N_SIZES - 1) && (in == 0 || in == N_SIZES - 2)))
                        continue;
                    for (int ik = ik_lo; ik < ik_hi; ik++) {
                        const int64_t K = sizes[ik];
                        const int acc = (im + in + ik) & 1;
                        const int64_t lda = lda_of(op, M, K), ldb = ldb_of(op, N, K);
                        float *A = rnd_buf(&r, a_rows(op, M, K) * lda), *B = rnd_buf(&r, b_rows(op, N, K) * ldb);
                        float *C = rnd_buf(&r, M * N), *C0 = malloc((size_t)(M * N) * sizeof(float));
                        memcpy(C0, C, (size_t)(M * N) * sizeof(float));
                        double *ref = malloc((size_t)(M * N) * sizeof(double));
                        double *mag = malloc((size_t)(M * N) * sizeof(double));
                        reference(op, M, N, K, A, lda, B, ldb, C0, N, acc, ref, mag);
                        gf_gemm(ks, op, M, N, K, A, lda, B, ldb, C, N, acc);
                        const int before = st.n_bad;
                        check_against(C, N, ref, mag, M, N,
                                      ks == GF_KERNELS_SCALAR ? tol_scalar(K) : tol_simd(K), &st);
                        if (st.n_bad > before && first_bad < 0) {
                            first_bad = n_cases;
                            fprintf(stderr, "  %s %s: first bad case M=%lld N=%lld K=%lld acc=%d\n", name,
                                    op_names[op], (long long)M, (long long)N, (long long)K, acc);
                        }
                        n_cases++;
                        free(A); free(B); free(C); free(C0); free(ref); free(mag);
                    }
                }
            }
        CHECK(st.n_bad == 0, "%s %s: %d elements outside the bound over %d shapes", name, op_names[op],
              st.n_bad, n_cases);
        printf("  %-7s %s: %d shapes, worst |C - exact| / (Σ|a·b| + |C_old|) = %.2e\n", name, op_names[op],
               n_cases, st.worst);
    }
}

/* ---------------------------------------------------------------- determinism */

/* Rows i .. i+n-1 of C computed as a product of their own (from C0's old values)
 * equal the same rows of the whole product `batch`; for TN a row of C is a column of A. */
static int rows_alone_match(gf_kernel_set ks, gf_gemm_op op, int64_t i, int64_t n, int64_t N, int64_t K,
                            const float *A, int64_t lda, const float *B, int64_t ldb, const float *C0,
                            const float *batch, int acc) {
    float *rows = malloc((size_t)(n * N) * sizeof(float));
    memcpy(rows, C0 + i * N, (size_t)(n * N) * sizeof(float));
    gf_gemm(ks, op, n, N, K, op == GF_GEMM_TN ? A + i : A + i * lda, lda, B, ldb, rows, N, acc);
    const int same = memcmp(rows, batch + i * N, (size_t)(n * N) * sizeof(float)) == 0;
    free(rows);
    return same;
}

/* 1 vs 2 threads, and each row alone (M = 1) vs inside the batch: bit-identical.
 * Shapes big enough for many tiles, with edges in every direction. */
static void test_determinism(gf_kernel_set ks) {
    const char *name = gf_kernels_name(ks);
    static const int64_t shapes[][3] = {{129, 257, 300}, {7, 1000, 517}, {300, 33, 129}, {1, 896, 896}};
    for (int op = 0; op < GF_GEMM_OP_COUNT_; op++)
        for (int s = 0; s < 4; s++) {
            const int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            rng_t r = {77 + (uint64_t)s};
            const int64_t lda = lda_of(op, M, K), ldb = ldb_of(op, N, K);
            float *A = rnd_buf(&r, a_rows(op, M, K) * lda), *B = rnd_buf(&r, b_rows(op, N, K) * ldb);
            float *C0 = rnd_buf(&r, M * N);
            float *C1 = malloc((size_t)(M * N) * sizeof(float)), *C2 = malloc((size_t)(M * N) * sizeof(float));
            for (int acc = 0; acc < 2; acc++) {
                memcpy(C1, C0, (size_t)(M * N) * sizeof(float));
                memcpy(C2, C0, (size_t)(M * N) * sizeof(float));
                omp_set_num_threads(1);
                gf_gemm(ks, op, M, N, K, A, lda, B, ldb, C1, N, acc);
                omp_set_num_threads(2);
                gf_gemm(ks, op, M, N, K, A, lda, B, ldb, C2, N, acc);
                CHECK(memcmp(C1, C2, (size_t)(M * N) * sizeof(float)) == 0,
                      "%s %s %lldx%lldx%lld acc=%d: 1 and 2 threads differ", name, op_names[op], (long long)M,
                      (long long)N, (long long)K, acc);
                /* rows 0, M/2 and M-1 alone */
                int same = 1;
                for (int q = 0; q < 3; q++) {
                    const int64_t i = q == 0 ? 0 : q == 1 ? M / 2 : M - 1;
                    same &= rows_alone_match(ks, op, i, 1, N, K, A, lda, B, ldb, C0, C2, acc);
                }
                CHECK(same, "%s %s %lldx%lldx%lld acc=%d: a row alone differs from inside the batch", name,
                      op_names[op], (long long)M, (long long)N, (long long)K, acc);
                /* rows 1..5 as a batch of their own: fewer rows than one micro-tile */
                if (M >= 6)
                    CHECK(rows_alone_match(ks, op, 1, 5, N, K, A, lda, B, ldb, C0, C2, acc),
                          "%s %s %lldx%lldx%lld acc=%d: rows 1..5 alone differ from inside the batch", name,
                          op_names[op], (long long)M, (long long)N, (long long)K, acc);
            }
            free(A); free(B); free(C0); free(C1); free(C2);
        }
}

/* ---------------------------------------------------------------- leading dims */

/* Sub-matrices of wider buffers: the result matches the dense call bit for bit
 * and nothing outside C's columns is written. */
static void test_leading_dims(gf_kernel_set ks) {
    const char *name = gf_kernels_name(ks);
    const int64_t M = 19, N = 37, K = 45, pad = 5;
    for (int op = 0; op < GF_GEMM_OP_COUNT_; op++) {
        rng_t r = {5};
        const int64_t lda = lda_of(op, M, K), ldb = ldb_of(op, N, K);
        float *A = rnd_buf(&r, a_rows(op, M, K) * lda), *B = rnd_buf(&r, b_rows(op, N, K) * ldb);
        float *Aw = rnd_buf(&r, a_rows(op, M, K) * (lda + pad)), *Bw = rnd_buf(&r, b_rows(op, N, K) * (ldb + pad));
        for (int64_t i = 0; i < a_rows(op, M, K); i++) memcpy(Aw + i * (lda + pad), A + i * lda, (size_t)lda * 4);
        for (int64_t i = 0; i < b_rows(op, N, K); i++) memcpy(Bw + i * (ldb + pad), B + i * ldb, (size_t)ldb * 4);
        float *C = malloc((size_t)(M * N) * 4), *Cw = malloc((size_t)(M * (N + pad)) * 4);
        for (int64_t i = 0; i < M * (N + pad); i++) Cw[i] = 42.0f;
        gf_gemm(ks, op, M, N, K, A, lda, B, ldb, C, N, 0);
        gf_gemm(ks, op, M, N, K, Aw, lda + pad, Bw, ldb + pad, Cw, N + pad, 0);
        int same = 1, pad_ok = 1;
        for (int64_t i = 0; i < M; i++) {
            same &= memcmp(C + i * N, Cw + i * (N + pad), (size_t)N * 4) == 0;
            for (int64_t j = N; j < N + pad; j++) pad_ok &= Cw[i * (N + pad) + j] == 42.0f;
        }
        CHECK(same, "%s %s: strided call differs from dense", name, op_names[op]);
        CHECK(pad_ok, "%s %s: wrote outside C's columns", name, op_names[op]);
        free(A); free(B); free(Aw); free(Bw); free(C); free(Cw);
    }
}

/* ---------------------------------------------------------------- API */

static void test_api(void) {
    rng_t r = {9};
    float *A = rnd_buf(&r, 6 * 5), *B = rnd_buf(&r, 6 * 4), C[6 * 4], D[6 * 4]; /* B: (5, 4) or (6, 4) for TN */
    /* K = 0: C = 0, or untouched when accumulating */
    for (int i = 0; i < 24; i++) C[i] = 1.0f;
    gf_gemm_nn(6, 4, 0, A, B, C, 1);
    CHECK(C[0] == 1.0f && C[23] == 1.0f, "K=0 accumulate changed C");
    gf_gemm_nn(6, 4, 0, A, B, C, 0);
    CHECK(C[0] == 0.0f && C[23] == 0.0f, "K=0 did not zero C");
    gf_gemm_nt(0, 4, 5, A, B, C, 0); /* M = 0: nothing to do, no crash */
    /* the plain entry points (dense leading dimensions, the detected set) against
     * the double reference, not against gf_gemm, which they call */
    const double tol = gf_kernels_detect() == GF_KERNELS_SCALAR ? tol_scalar(6) : tol_simd(6);
    double ref[6 * 4], mag[6 * 4];
    errstat st = {0, 0};
    gf_gemm_nt(6, 4, 5, A, B, C, 0);
    reference(GF_GEMM_NT, 6, 4, 5, A, 5, B, 5, NULL, 4, 0, ref, mag);
    check_against(C, 4, ref, mag, 6, 4, tol, &st);
    CHECK(st.n_bad == 0, "gf_gemm_nt: %d elements off the reference", st.n_bad);
    gf_gemm_nn(6, 4, 5, A, B, D, 0);
    reference(GF_GEMM_NN, 6, 4, 5, A, 5, B, 4, NULL, 4, 0, ref, mag);
    check_against(D, 4, ref, mag, 6, 4, tol, &st);
    CHECK(st.n_bad == 0, "gf_gemm_nn: %d elements off the reference", st.n_bad);
    gf_gemm_tn(5, 4, 6, A, B, C, 0); /* A as (6, 5): C (5, 4) = Aᵀ · B (6, 4) */
    reference(GF_GEMM_TN, 5, 4, 6, A, 5, B, 4, NULL, 4, 0, ref, mag);
    check_against(C, 4, ref, mag, 5, 4, tol, &st);
    CHECK(st.n_bad == 0, "gf_gemm_tn: %d elements off the reference", st.n_bad);
    free(A); free(B);
}

int main(void) {
    test_api();
    const gf_gemm_ops *seen[GF_KERNELS_COUNT_] = {0};
    for (int ks = 0; ks < GF_KERNELS_COUNT_; ks++) {
        const gf_kernel_set s = (gf_kernel_set)ks;
        const gf_gemm_ops *ops = gf_gemm_ops_for(s);
        if (!gf_kernels_supported(s) || !ops) {
            SKIP_CPU("kernel set %s: %s", gf_kernels_name(s),
                 ops ? "not supported by this CPU" : "no GEMM built into this binary");
            continue;
        }
        printf("kernel set %s\n", gf_kernels_name(s));
        int dup = 0;
        for (int p = 0; p < ks; p++) dup |= seen[p] == ops;
        seen[ks] = ops;
        if (dup) { printf("  (same GEMM as an earlier set)\n"); continue; }
        test_accuracy(s);
        test_determinism(s);
        test_leading_dims(s);
    }
    return check_done("test_gemm");
}
