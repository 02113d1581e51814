/*
 * kernels.c - picks a kernel set at run time, prepares weight matrices for it
 * (Q4_0/Q8_0 repacking) and drives the matrix multiply over OpenMP threads.
 *
 * Results never depend on the thread count: every output element is computed
 * by one kernel call whose operation order is fixed by the data layout and by a
 * blocking of rows and tokens that is a constant, never derived from the number
 * of threads.  The arithmetic itself lives in kernels_<set>.c.
 */
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include "kernels_internal.h"
#include "gemm.h"

#include <stdlib.h>

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1 << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#endif

/* Output rows per unit of parallel work in the row-order path, and 8-row groups
 * per unit in the packed path (64 rows: a Q4_0 slice of ~180 KB at n_in = 4864
 * that stays in L2 while every token tile streams past it). */
#define ROWS_PER_CHUNK 16
#define GROUPS_PER_CHUNK 8

/* ---------------------------------------------------------------- kernel sets */

static const char *const set_names[GF_KERNELS_COUNT_] = {
    [GF_KERNELS_SCALAR] = "scalar", [GF_KERNELS_AVX2] = "avx2", [GF_KERNELS_AVX512] = "avx512",
    [GF_KERNELS_NEON] = "neon",     [GF_KERNELS_NEON_DOT] = "neon-dot",
};

const char *gf_kernels_name(gf_kernel_set ks) {
    return (unsigned)ks < GF_KERNELS_COUNT_ ? set_names[ks] : "?";
}

int gf_kernels_from_name(const char *name) {
    for (int i = 0; i < GF_KERNELS_COUNT_; i++)
        if (name && strcmp(name, set_names[i]) == 0) return i;
    return -1;
}

const gf_kernel_ops *gf_kernels_ops(gf_kernel_set ks) {
    switch (ks) {
    case GF_KERNELS_SCALAR: return &gf_kernel_ops_scalar;
#if defined(__x86_64__)
    case GF_KERNELS_AVX2: return &gf_kernel_ops_avx2;
#endif
#if defined(__aarch64__)
    case GF_KERNELS_NEON: return &gf_kernel_ops_neon;
    case GF_KERNELS_NEON_DOT: return &gf_kernel_ops_neon_dot;
#endif
    default: return NULL; /* AVX-512: not built, see kernels.h */
    }
}

#if defined(__x86_64__)
/* clang 14's __builtin_cpu_supports does not know "f16c": ask CPUID (leaf 1, ECX bit 29). */
static int cpu_has_f16c(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
}
#endif

static int cpu_has(gf_kernel_set ks) {
    switch (ks) {
    case GF_KERNELS_SCALAR: return 1;
#if defined(__x86_64__)
    case GF_KERNELS_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
#endif
#if defined(__aarch64__) && defined(__linux__)
    case GF_KERNELS_NEON: return (getauxval(AT_HWCAP) & HWCAP_ASIMD) != 0;
    case GF_KERNELS_NEON_DOT:
        return (getauxval(AT_HWCAP) & (HWCAP_ASIMD | HWCAP_ASIMDDP)) == (HWCAP_ASIMD | HWCAP_ASIMDDP);
#endif
    default: return 0;
    }
}

int gf_kernels_supported(gf_kernel_set ks) {
    return (unsigned)ks < GF_KERNELS_COUNT_ && gf_kernels_ops(ks) != NULL && cpu_has(ks);
}

gf_kernel_set gf_kernels_detect(void) {
    const char *env = getenv("GF_KERNELS");
    int want = env && *env ? gf_kernels_from_name(env) : -1;
    if (want >= 0 && gf_kernels_supported((gf_kernel_set)want)) return (gf_kernel_set)want;
    /* best first; an unknown or unsupported GF_KERNELS falls through to this */
    static const gf_kernel_set order[] = {GF_KERNELS_AVX512, GF_KERNELS_AVX2, GF_KERNELS_NEON_DOT,
                                          GF_KERNELS_NEON};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (gf_kernels_supported(order[i])) return order[i];
    return GF_KERNELS_SCALAR;
}

/* ---------------------------------------------------------------- weights */

gf_status gf_wmat_init(gf_wmat *m, gf_type type, int64_t n_in, int64_t n_out,
                       const void *data, gf_kernel_set ks, gf_err *err) {
    memset(m, 0, sizeof *m);
    if (!gf_type_can_matmul(type)) {
        char list[256];
        return gf_errf(err, GF_E_UNSUPPORTED, "matmul: weight type %s (%d) is not supported (only %s)",
                       gf_type_name(type), (int)type, gf_type_list(gf_type_can_matmul, list, sizeof list));
    }
    if (n_in <= 0 || n_out <= 0 || n_in > ((int64_t)1 << 40) || n_out > ((int64_t)1 << 40))
        return gf_errf(err, GF_E_USAGE, "matmul: bad shape %lld x %lld", (long long)n_out, (long long)n_in);
    if ((type == GF_TYPE_Q8_0 || type == GF_TYPE_Q4_0) && n_in % GF_QK)
        return gf_errf(err, GF_E_FORMAT, "matmul: %s rows of %lld elements are not whole blocks of %d",
                       gf_type_info(type)->name, (long long)n_in, GF_QK);
    if (!data) return gf_errf(err, GF_E_USAGE, "matmul: NULL weight data");
    if (!gf_kernels_supported(ks))
        return gf_errf(err, GF_E_UNSUPPORTED, "matmul: kernel set '%s' is not supported on this CPU "
                       "or not built", gf_kernels_name(ks));
    m->type = type;
    m->n_in = n_in;
    m->n_out = n_out;
    m->data = data;
    m->ks = ks;
    const gf_kernel_ops *ops = gf_kernels_ops(ks);
    const int pack4 = type == GF_TYPE_Q4_0 && ops->gemm_q4x8, pack8 = type == GF_TYPE_Q8_0 && ops->gemm_q8x8;
    if (pack4 || pack8) {
        const int64_t nb = n_in / GF_QK, n_grp = (n_out + GF_Q4X8_ROWS - 1) / GF_Q4X8_ROWS;
        const size_t blk = pack4 ? sizeof(gf_block_q4_0x8) : sizeof(gf_block_q8_0x8);
        uint64_t bytes;
        if (gf_mul_overflow((uint64_t)nb * (uint64_t)n_grp, blk, &bytes) || bytes > SIZE_MAX - 63)
            return gf_errf(err, GF_E_NOMEM, "matmul: packed %s size overflows", gf_type_info(type)->name);
        m->packed = aligned_alloc(64, (size_t)((bytes + 63) & ~(uint64_t)63));
        if (!m->packed)
            return gf_errf(err, GF_E_NOMEM, "matmul: cannot allocate %llu bytes for packed %s",
                           (unsigned long long)bytes, gf_type_info(type)->name);
        if (pack4) gf_pack_q4_0x8(data, nb, n_out, m->packed);
        else gf_pack_q8_0x8(data, nb, n_out, m->packed);
    }
    return GF_OK;
}

void gf_wmat_free(gf_wmat *m) {
    if (!m) return;
    free(m->packed);
    m->packed = NULL;
}

/* ---------------------------------------------------------------- matmul */

/* Scratch layout: converted activations (Q8_0 blocks or halves), then for
 * packed Q4_0 the int32 block sums. */
static size_t act_bytes(const gf_wmat *W, int64_t n_tok) {
    switch (W->type) {
    case GF_TYPE_F16: return (size_t)(n_tok * W->n_in) * sizeof(uint16_t);
    case GF_TYPE_Q8_0:
    case GF_TYPE_Q4_0: return (size_t)(n_tok * (W->n_in / GF_QK)) * sizeof(gf_block_q8_0);
    default: return 0;
    }
}

size_t gf_matmul_work_size(const gf_wmat *W, int64_t n_tok) {
    size_t a = (act_bytes(W, n_tok) + 63) & ~(size_t)63;
    if (W->packed && W->type == GF_TYPE_Q4_0) a += (size_t)(n_tok * (W->n_in / GF_QK)) * sizeof(int32_t);
    return a;
}

static void matmul_rows(const gf_wmat *W, const gf_kernel_ops *ops, const void *xa,
                        const float *X, float *Y, int64_t n_tok) {
    const int64_t n_in = W->n_in, n_out = W->n_out, nb = n_in / GF_QK;
    const size_t rb = gf_row_size(W->type, n_in);
    const int64_t n_chunk = (n_out + ROWS_PER_CHUNK - 1) / ROWS_PER_CHUNK;
    #pragma omp for schedule(static)
    for (int64_t c = 0; c < n_chunk; c++) {
        const int64_t o0 = c * ROWS_PER_CHUNK;
        const int64_t o1 = o0 + ROWS_PER_CHUNK < n_out ? o0 + ROWS_PER_CHUNK : n_out;
        for (int64_t t = 0; t < n_tok; t++) {
            float *yt = Y + t * n_out;
            for (int64_t o = o0; o < o1; o++) {
                const void *w = (const char *)W->data + (size_t)o * rb;
                switch (W->type) {
                case GF_TYPE_F16: yt[o] = ops->dot_f16(w, (const uint16_t *)xa + t * n_in, n_in); break;
                case GF_TYPE_Q8_0: yt[o] = ops->dot_q8_0(w, (const gf_block_q8_0 *)xa + t * nb, nb); break;
                case GF_TYPE_Q4_0: yt[o] = ops->dot_q4_0(w, (const gf_block_q8_0 *)xa + t * nb, nb); break;
                default: break;
                }
            }
        }
    }
}

static void matmul_packed(const gf_wmat *W, const gf_kernel_ops *ops, const gf_block_q8_0 *xq,
                          const int32_t *xsum, float *Y, int64_t n_tok) {
    const int64_t n_out = W->n_out, nb = W->n_in / GF_QK;
    const int64_t n_grp = (n_out + GF_Q4X8_ROWS - 1) / GF_Q4X8_ROWS;
    const int64_t n_chunk = (n_grp + GROUPS_PER_CHUNK - 1) / GROUPS_PER_CHUNK;
    #pragma omp for schedule(static)
    for (int64_t c = 0; c < n_chunk; c++) {
        const int64_t g0 = c * GROUPS_PER_CHUNK;
        const int64_t g1 = g0 + GROUPS_PER_CHUNK < n_grp ? g0 + GROUPS_PER_CHUNK : n_grp;
        for (int64_t t0 = 0; t0 < n_tok; t0 += GF_TOK_TILE) {
            const int nt = n_tok - t0 < GF_TOK_TILE ? (int)(n_tok - t0) : GF_TOK_TILE;
            for (int64_t g = g0; g < g1; g++) {
                float tile[GF_TOK_TILE * GF_Q4X8_ROWS];
                if (W->type == GF_TYPE_Q4_0)
                    ops->gemm_q4x8((const gf_block_q4_0x8 *)W->packed + g * nb, nb, xq + t0 * nb,
                                   xsum + t0 * nb, nb, nt, tile, GF_Q4X8_ROWS);
                else
                    ops->gemm_q8x8((const gf_block_q8_0x8 *)W->packed + g * nb, nb, xq + t0 * nb, nb, nt,
                                   tile, GF_Q4X8_ROWS);
                const int64_t o0 = g * GF_Q4X8_ROWS;
                const int nr = n_out - o0 < GF_Q4X8_ROWS ? (int)(n_out - o0) : GF_Q4X8_ROWS;
                for (int t = 0; t < nt; t++)
                    memcpy(Y + (t0 + t) * n_out + o0, tile + t * GF_Q4X8_ROWS, (size_t)nr * sizeof(float));
            }
        }
    }
}

void gf_matmul_work(const gf_wmat *W, const float *X, float *Y, int64_t n_tok, void *work) {
    if (W->type == GF_TYPE_F32) {
        /* Every token count, decode included: the GEMM's elements do not depend
         * on M, so a token alone keeps the bits it has inside a batch.  It is at
         * least as fast as one dot per row even at n_tok = 1. */
        gf_gemm(W->ks, GF_GEMM_NT, n_tok, W->n_out, W->n_in, X, W->n_in, W->data, W->n_in, Y, W->n_out, 0);
        return;
    }
    const gf_kernel_ops *ops = gf_kernels_ops(W->ks);
    const int64_t n_in = W->n_in, nb = n_in / GF_QK;
    void *xa = work;
    int32_t *xsum = W->packed && W->type == GF_TYPE_Q4_0 ? (int32_t *)((char *)work + ((act_bytes(W, n_tok) + 63) & ~(size_t)63)) : NULL;
    /* tiny products are not worth waking the other threads for */
    const int par = (double)n_tok * (double)n_in * (double)W->n_out >= 32768.0;
    #pragma omp parallel if (par)
    {
        if (W->type != GF_TYPE_F32) {
            #pragma omp for schedule(static)
            for (int64_t t = 0; t < n_tok; t++) {
                if (W->type == GF_TYPE_F16) {
                    ops->to_f16(X + t * n_in, (uint16_t *)xa + t * n_in, n_in);
                } else {
                    gf_block_q8_0 *q = (gf_block_q8_0 *)xa + t * nb;
                    ops->quantize_q8_0(X + t * n_in, q, nb);
                    if (xsum)
                        for (int64_t b = 0; b < nb; b++) {
                            int32_t s = 0;
                            for (int j = 0; j < GF_QK; j++) s += q[b].qs[j];
                            xsum[t * nb + b] = s;
                        }
                }
            }
        } /* the implicit barrier of omp for: activations are ready */
        if (W->packed) matmul_packed(W, ops, xa, xsum, Y, n_tok);
        else matmul_rows(W, ops, xa, X, Y, n_tok);
    }
}

void gf_matmul(const gf_wmat *W, const float *X, float *Y, int64_t n_tok) {
    if (n_tok <= 0) return;
    const size_t need = gf_matmul_work_size(W, n_tok);
    void *work = need ? aligned_alloc(64, (need + 63) & ~(size_t)63) : NULL;
    if (need && !work) {
        /* No way to report from here: make the failure impossible to miss. */
        for (int64_t i = 0; i < n_tok * W->n_out; i++) Y[i] = __builtin_nanf("");
        return;
    }
    gf_matmul_work(W, X, Y, n_tok, work);
    free(work);
}
