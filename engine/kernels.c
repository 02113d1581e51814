/*
 * kernels.c - prepares weight matrices for a kernel set (Q4_0/Q8_0 repacking)
 * and drives the matrix multiply over OpenMP threads.  Which sets this CPU runs
 * is cpu.c's; the arithmetic lives in kernels_<set>.c.
 *
 * Dispatch is by the kernel set's per-type arrays (kernels_internal.h), never by
 * a switch on the type: a weight's row dot is vec_dot[type], its activations are
 * converted by from_float[vec_dot_type] (types.h).  A set's missing entries are
 * the scalar set's.
 *
 * Results never depend on the thread count: every output element is computed
 * by one kernel call whose operation order is fixed by the data layout and by a
 * blocking of rows and tokens that is a constant, never derived from the number
 * of threads.
 */
#include "kernels_internal.h"
#include "gemm.h"

#include <pthread.h>
#include <stdlib.h>

/* Output rows per unit of parallel work in the row-order path, and 8-row groups
 * per unit in the packed path (64 rows: a Q4_0 slice of ~180 KB at n_in = 4864
 * that stays in L2 while every token tile streams past it). */
#define ROWS_PER_CHUNK 16
#define GROUPS_PER_CHUNK 8

/* ---------------------------------------------------------------- kernel sets */

/* The sets built into this binary, as their files define them (NULL: not built). */
static const gf_kernel_ops *built_ops(gf_kernel_set ks) {
    switch (ks) {
    case GF_KERNELS_SCALAR: return &gf_kernel_ops_scalar;
#if defined(__x86_64__)
    case GF_KERNELS_AVX2: return &gf_kernel_ops_avx2;
#endif
#if defined(__aarch64__)
    case GF_KERNELS_NEON: return &gf_kernel_ops_neon;
    case GF_KERNELS_NEON_DOT: return &gf_kernel_ops_neon_dot;
#endif
    default: return NULL;
    }
}

static pthread_once_t ops_once = PTHREAD_ONCE_INIT;
static gf_kernel_ops ops_full[GF_KERNELS_COUNT_];

/* Each built set with the scalar set's entries where it has none. */
static void fill_ops(void) {
    const gf_kernel_ops *sc = &gf_kernel_ops_scalar;
    for (int k = 0; k < GF_KERNELS_COUNT_; k++) {
        const gf_kernel_ops *o = built_ops((gf_kernel_set)k);
        if (!o) continue;
        ops_full[k] = *o;
        for (int t = 0; t < GF_TYPE_COUNT_; t++) {
            if (!ops_full[k].vec_dot[t]) ops_full[k].vec_dot[t] = sc->vec_dot[t];
            if (!ops_full[k].from_float[t]) ops_full[k].from_float[t] = sc->from_float[t];
        }
    }
}

const gf_kernel_ops *gf_kernels_ops(gf_kernel_set ks) {
    if ((unsigned)ks >= GF_KERNELS_COUNT_ || !built_ops(ks)) return NULL;
    pthread_once(&ops_once, fill_ops);
    return &ops_full[ks];
}

/* ---------------------------------------------------------------- weights */

/* GF_OK if the type table lets a weight of this type with these rows be multiplied. */
static gf_status check_type(gf_type type, int64_t n_in, int64_t n_out, gf_err *err) {
    char list[256];
    const gf_type_traits *tt = gf_type_info(type);
    GF_FAIL_IF(!tt || !tt->can_matmul, err, GF_E_UNSUPPORTED, "matmul: weight type %s (%d) is not supported (only %s)",
               gf_type_name(type), (int)type, gf_type_list(gf_type_can_matmul, list, sizeof list));
    GF_FAIL_IF(n_in <= 0 || n_out <= 0 || n_in > ((int64_t)1 << 40) || n_out > ((int64_t)1 << 40), err, GF_E_USAGE,
               "matmul: bad shape %lld x %lld", (long long)n_out, (long long)n_in);
    const gf_type_traits *vt = gf_type_info(tt->vec_dot_type);
    const int64_t bs = tt->block_size > vt->block_size ? tt->block_size : vt->block_size;
    GF_FAIL_IF(n_in % bs, err, GF_E_FORMAT, "matmul: %s rows of %lld elements are not whole blocks of %lld",
               tt->name, (long long)n_in, (long long)bs);
    return GF_OK;
}

/* GF_OK if the set (or the scalar set in its place) has the type's dot and the
 * conversion of its activations: refused here, not crashed on in gf_matmul. */
static gf_status check_kernels(gf_type type, const gf_kernel_ops *ops, gf_err *err) {
    const gf_type vt = gf_type_info(type)->vec_dot_type;
    const int dot = ops->vec_dot[type] != NULL, cvt = vt == GF_TYPE_F32 || ops->from_float[vt];
    GF_FAIL_IF(!dot || !cvt, err, GF_E_UNSUPPORTED,
               "matmul: no kernel multiplies %s weights (neither kernel set %s nor the scalar set has %s)",
               gf_type_name(type), gf_kernels_name(ops->ks), !dot ? "their dot" : "the conversion of their activations");
    return GF_OK;
}

/* The interleaved copy the set's packed kernels read, if it has them for this type. */
static gf_status pack(gf_wmat *m, gf_err *err) {
    const int pack4 = m->type == GF_TYPE_Q4_0 && m->ops->gemm_q4x8;
    const int pack8 = m->type == GF_TYPE_Q8_0 && m->ops->gemm_q8x8;
    if (!pack4 && !pack8) return GF_OK;
    const char *name = gf_type_name(m->type);
    const int64_t nb = m->n_in / GF_QK, n_grp = (m->n_out + GF_Q4X8_ROWS - 1) / GF_Q4X8_ROWS;
    const size_t blk = pack4 ? sizeof(gf_block_q4_0x8) : sizeof(gf_block_q8_0x8);
    uint64_t bytes;
    GF_FAIL_IF(gf_mul_overflow((uint64_t)nb * (uint64_t)n_grp, blk, &bytes) || bytes > SIZE_MAX - 63, err,
               GF_E_NOMEM, "matmul: packed %s size overflows", name);
    m->packed = aligned_alloc(64, (size_t)((bytes + 63) & ~(uint64_t)63));
    GF_FAIL_IF(!m->packed, err, GF_E_NOMEM, "matmul: cannot allocate %llu bytes for packed %s",
               (unsigned long long)bytes, name);
    if (pack4) gf_pack_q4_0x8(m->data, nb, m->n_out, m->packed);
    else gf_pack_q8_0x8(m->data, nb, m->n_out, m->packed);
    return GF_OK;
}

gf_status gf_wmat_init(gf_wmat *m, gf_type type, int64_t n_in, int64_t n_out,
                       const void *data, gf_kernel_set ks, gf_err *err) {
    memset(m, 0, sizeof *m);
    GF_TRY(check_type(type, n_in, n_out, err));
    GF_FAIL_IF(!data, err, GF_E_USAGE, "matmul: NULL weight data");
    GF_FAIL_IF(!gf_kernels_supported(ks), err, GF_E_UNSUPPORTED,
               "matmul: kernel set '%s' is not supported on this CPU or not built", gf_kernels_name(ks));
    const gf_kernel_ops *ops = gf_kernels_ops(ks);
    GF_TRY(check_kernels(type, ops, err));
    m->type = type;
    m->n_in = n_in;
    m->n_out = n_out;
    m->data = data;
    m->ks = ks;
    m->ops = ops;
    return pack(m, err);
}

void gf_wmat_free(gf_wmat *m) {
    if (!m) return;
    free(m->packed);
    m->packed = NULL;
}

/* ---------------------------------------------------------------- matmul */

/* The activations' type: what the weight type's dot pairs with. */
static gf_type act_type(const gf_wmat *W) { return gf_type_info(W->type)->vec_dot_type; }

/* Scratch layout: converted activations (rows of the vec_dot_type, none for
 * F32), then for packed Q4_0 the int32 block sums. */
static size_t act_bytes(const gf_wmat *W, int64_t n_tok) {
    const gf_type at = act_type(W);
    if (W->type == GF_TYPE_F32 && W->act_round) return (size_t)n_tok * (size_t)W->n_in * sizeof(float);
    return W->type == GF_TYPE_F32 || at == GF_TYPE_F32 ? 0 : (size_t)n_tok * gf_row_size(at, W->n_in);
}

static int has_xsum(const gf_wmat *W) { return W->packed && W->type == GF_TYPE_Q4_0; }

size_t gf_matmul_work_size(const gf_wmat *W, int64_t n_tok) {
    size_t a = (act_bytes(W, n_tok) + 63) & ~(size_t)63;
    if (has_xsum(W)) a += (size_t)(n_tok * (W->n_in / GF_QK)) * sizeof(int32_t);
    return a;
}

/* Activation rows into the vec_dot_type (xa, arb bytes a row), with the int8
 * block sums the packed Q4_0 kernels need. */
static void convert_acts(const gf_wmat *W, const float *X, void *xa, size_t arb, int32_t *xsum, int64_t n_tok) {
    const gf_from_float_fn cvt = W->ops->from_float[act_type(W)];
    const int64_t n_in = W->n_in, nb = n_in / GF_QK;
    #pragma omp for schedule(static)
    for (int64_t t = 0; t < n_tok; t++) {
        cvt(X + t * n_in, (char *)xa + (size_t)t * arb, n_in);
        if (!xsum) continue;
        const gf_block_q8_0 *q = (const gf_block_q8_0 *)((char *)xa + (size_t)t * arb);
        for (int64_t b = 0; b < nb; b++) {
            int32_t s = 0;
            for (int j = 0; j < GF_QK; j++) s += q[b].qs[j];
            xsum[t * nb + b] = s;
        }
    }
}

static void matmul_rows(const gf_wmat *W, const void *xa, size_t arb, float *Y, int64_t n_tok) {
    const int64_t n_in = W->n_in, n_out = W->n_out;
    const size_t rb = gf_row_size(W->type, n_in);
    const gf_vec_dot_fn dot = W->ops->vec_dot[W->type];
    const int64_t n_chunk = (n_out + ROWS_PER_CHUNK - 1) / ROWS_PER_CHUNK;
    #pragma omp for schedule(static)
    for (int64_t c = 0; c < n_chunk; c++) {
        const int64_t o0 = c * ROWS_PER_CHUNK;
        const int64_t o1 = o0 + ROWS_PER_CHUNK < n_out ? o0 + ROWS_PER_CHUNK : n_out;
        for (int64_t t = 0; t < n_tok; t++) {
            float *yt = Y + t * n_out;
            const void *xt = (const char *)xa + (size_t)t * arb;
            for (int64_t o = o0; o < o1; o++) yt[o] = dot((const char *)W->data + (size_t)o * rb, xt, n_in);
        }
    }
}

static void matmul_packed(const gf_wmat *W, const gf_block_q8_0 *xq, const int32_t *xsum, float *Y, int64_t n_tok) {
    const gf_kernel_ops *ops = W->ops;
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

/* The rows of X rounded as llama.cpp rounds the activations of the type W was widened from. */
static const float *round_acts(const gf_wmat *W, const float *X, float *xr, int64_t n_tok) {
    const int64_t n_in = W->n_in;
    const int par = (double)n_tok * (double)n_in >= 16384.0;
    #pragma omp parallel for schedule(static) if (par)
    for (int64_t t = 0; t < n_tok; t++) {
        memcpy(xr + t * n_in, X + t * n_in, (size_t)n_in * sizeof(float));
        W->act_round(xr + t * n_in, n_in);
    }
    return xr;
}

gf_status gf_matmul_work(const gf_wmat *W, const float *X, float *Y, int64_t n_tok, void *work) {
    if (W->type == GF_TYPE_F32) {
        /* Every token count, decode included: the GEMM's elements do not depend
         * on M, so a token alone keeps the bits it has inside a batch.  It is at
         * least as fast as one dot per row even at n_tok = 1. */
        if (W->act_round) X = round_acts(W, X, work, n_tok);
        return gf_gemm(W->ks, GF_GEMM_NT, n_tok, W->n_out, W->n_in, X, W->n_in, W->data, W->n_in, Y, W->n_out, 0);
    }
    /* F32 activations (a weight type whose dot takes floats) are read in place */
    const int convert = act_type(W) != GF_TYPE_F32;
    const size_t arb = gf_row_size(act_type(W), W->n_in);
    const void *xa = convert ? work : (const void *)X;
    int32_t *xsum = has_xsum(W) ? (int32_t *)((char *)work + ((act_bytes(W, n_tok) + 63) & ~(size_t)63)) : NULL;
    /* tiny products are not worth waking the other threads for */
    const int par = (double)n_tok * (double)W->n_in * (double)W->n_out >= 32768.0;
    #pragma omp parallel if (par)
    {
        if (convert) convert_acts(W, X, work, arb, xsum, n_tok); /* its omp for's barrier: activations ready */
        if (W->packed) matmul_packed(W, xa, xsum, Y, n_tok);
        else matmul_rows(W, xa, arb, Y, n_tok);
    }
    return GF_OK;
}

gf_status gf_matmul(const gf_wmat *W, const float *X, float *Y, int64_t n_tok) {
    if (n_tok <= 0) return GF_OK;
    const size_t need = gf_matmul_work_size(W, n_tok);
    void *work = need ? aligned_alloc(64, (need + 63) & ~(size_t)63) : NULL;
    if (need && !work) return GF_E_NOMEM;
    gf_status rc = gf_matmul_work(W, X, Y, n_tok, work);
    free(work);
    return rc;
}
