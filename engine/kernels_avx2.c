/*
 * kernels_avx2.c - the AVX2 + FMA + F16C kernel set (x86-64), compiled with
 * -mavx2 -mfma -mf16c and only called after gf_kernels_supported() said so.
 *
 * Same contracts as kernels_scalar.c: the Q8_0 activation quantizer matches the
 * reference bit for bit (round half away from zero done exactly), the packed
 * Q4_0/Q8_0 kernels do the scalar packed kernels' float steps lane by lane, and the
 * row dots differ from the scalar ones only in float summation order.  Lengths
 * that are not a multiple of the vector width finish in a scalar tail.
 */
#include "kernels_internal.h"

#include <immintrin.h>

static inline float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float hmax_ps(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* ---------------------------------------------------------------- activations */

/* roundf() for 8 floats: truncate, then step away from zero when the dropped
 * fraction is at least one half.  v - trunc(v) is exact, so ties and the float
 * just below 0.5 come out as roundf gives them (v + 0.5 would not). */
static inline __m256i round_away_epi32(__m256 v) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 frac = _mm256_andnot_ps(sign, _mm256_sub_ps(v, t));
    const __m256 step = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(sign, v));
    const __m256 need = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    return _mm256_cvttps_epi32(_mm256_add_ps(t, _mm256_and_ps(need, step)));
}

void gf_quantize_q8_0_avx2(const float *x, void *vy, int64_t n) {
    gf_block_q8_0 *y = vy;
    const int64_t nb = n / GF_QK;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < nb; b++, x += GF_QK) {
        __m256 v[4];
        __m256 amax = _mm256_setzero_ps();
        for (int i = 0; i < 4; i++) {
            v[i] = _mm256_loadu_ps(x + 8 * i);
            amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[i]));
        }
        /* d and 1/d exactly as the reference computes them */
        const float d = hmax_ps(amax) / 127;
        const float id = d ? 1.0f / d : 0.0f;
        y[b].d = gf_fp32_to_fp16(d);
        const __m256 vid = _mm256_set1_ps(id);
        __m256i q[4];
        for (int i = 0; i < 4; i++) q[i] = round_away_epi32(_mm256_mul_ps(v[i], vid));
        /* the packs interleave 128-bit lanes; the permute puts elements back in order */
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)y[b].qs, p);
    }
}

void gf_to_f16_avx2(const float *x, void *vy, int64_t n) {
    uint16_t *y = vy;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) y[i] = gf_fp32_to_fp16(x[i]);
}

/* ---------------------------------------------------------------- float dots */

float gf_dot_f32_avx2(const void *vw, const void *vx, int64_t n) {
    const float *w = vw, *x = vx;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++)
            acc[k] = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8 * k), _mm256_loadu_ps(x + i + 8 * k), acc[k]);
    for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), acc[0]);
    float s = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; i++) s += w[i] * x[i];
    return s;
}

float gf_dot_f16_avx2(const void *vw, const void *vx, int64_t n) {
    const uint16_t *w = vw, *x = vx;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
#define LOADH(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++) acc[k] = _mm256_fmadd_ps(LOADH(w + i + 8 * k), LOADH(x + i + 8 * k), acc[k]);
    for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(LOADH(w + i), LOADH(x + i), acc[0]);
#undef LOADH
    float s = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; i++) s += _cvtsh_ss(w[i]) * _cvtsh_ss(x[i]);
    return s;
}

/* ---------------------------------------------------------------- quantized row dots */

/* 8 int32 partial sums of the signed products a·b.  maddubs wants an unsigned
 * operand, so the sign of a moves onto b (|a|·sign(b,a) = a·b); pairs of
 * products reach at most 2·127·127 and do not saturate int16. */
static inline __m256i dot_i8(__m256i a, __m256i b) {
    const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

float gf_dot_q8_0_avx2(const void *vw, const void *vx, int64_t n) {
    const gf_block_q8_0 *w = vw, *x = vx;
    const int64_t nb = n / GF_QK;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const __m256i s = dot_i8(_mm256_loadu_si256((const __m256i *)w[b].qs),
                                 _mm256_loadu_si256((const __m256i *)x[b].qs));
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(w[b].d) * _cvtsh_ss(x[b].d));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), d, acc);
    }
    return hsum_ps(acc);
}

float gf_dot_q4_0_avx2(const void *vw, const void *vx, int64_t n) {
    const gf_block_q4_0 *w = vw;
    const gf_block_q8_0 *x = vx;
    const int64_t nb = n / GF_QK;
    const __m256i low4 = _mm256_set1_epi8(0x0f), eight = _mm256_set1_epi8(8);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const __m128i q = _mm_loadu_si128((const __m128i *)w[b].qs);
        /* elements 0..15 are the low nibbles, 16..31 the high ones */
        __m256i v = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
        v = _mm256_sub_epi8(_mm256_and_si256(v, low4), eight);
        const __m256i s = dot_i8(v, _mm256_loadu_si256((const __m256i *)x[b].qs));
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(w[b].d) * _cvtsh_ss(x[b].d));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), d, acc);
    }
    return hsum_ps(acc);
}

/* ---------------------------------------------------------------- packed Q4_0 */

static inline __m256i bcast32(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* NT tokens × 8 rows.  Lane r of every register is row r: the weight nibbles are
 * unpacked once per block and used for all NT tokens, each token's 4-byte
 * activation chunks are broadcast to all lanes.  Nibbles stay unsigned (0..15)
 * so maddubs needs no sign trick: a pair is at most 2·15·127 = 3810 and the 8
 * pairs of a block add up to 30480, still inside int16; the -8 offset is
 * removed afterwards with the block's activation sum. */
static inline __attribute__((always_inline)) void gemm_q4x8_nt(const gf_block_q4_0x8 *w, int64_t nb,
                                                              const gf_block_q8_0 *x, const int32_t *xsum,
                                                              int64_t ldx, const int NT, float *y,
                                                              int64_t ldy) {
    const __m256i low4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
    __m256 acc[GF_TOK_TILE];
    /* the pragmas matter: with a rolled t loop gcc keeps acc[] in memory */
    #pragma GCC unroll 4
    for (int t = 0; t < NT; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i lo[4], hi[4];
        #pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            const __m256i p = _mm256_loadu_si256((const __m256i *)w[b].qs[k]);
            lo[k] = _mm256_and_si256(p, low4);
            hi[k] = _mm256_and_si256(_mm256_srli_epi16(p, 4), low4);
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)w[b].d));
        #pragma GCC unroll 4
        for (int t = 0; t < NT; t++) {
            const gf_block_q8_0 *xb = &x[t * ldx + b];
            __m256i s16 = _mm256_maddubs_epi16(lo[0], bcast32(xb->qs));
            #pragma GCC unroll 4
            for (int k = 1; k < 4; k++) s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(lo[k], bcast32(xb->qs + 4 * k)));
            #pragma GCC unroll 4
            for (int k = 0; k < 4; k++)
                s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(hi[k], bcast32(xb->qs + 16 + 4 * k)));
            __m256i s32 = _mm256_madd_epi16(s16, ones);
            s32 = _mm256_sub_epi32(s32, _mm256_set1_epi32(8 * xsum[t * ldx + b]));
            const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(_cvtsh_ss(xb->d)));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32), scale, acc[t]);
        }
    }
    #pragma GCC unroll 4
    for (int t = 0; t < NT; t++) _mm256_storeu_ps(y + t * ldy, acc[t]);
}

void gf_gemm_q4x8_avx2(const gf_block_q4_0x8 *w, int64_t nb, const gf_block_q8_0 *x,
                       const int32_t *xsum, int64_t ldx, int n_tok, float *y, int64_t ldy) {
    switch (n_tok) { /* constant NT lets the compiler keep every accumulator in a register */
    case 1: gemm_q4x8_nt(w, nb, x, xsum, ldx, 1, y, ldy); break;
    case 2: gemm_q4x8_nt(w, nb, x, xsum, ldx, 2, y, ldy); break;
    case 3: gemm_q4x8_nt(w, nb, x, xsum, ldx, 3, y, ldy); break;
    default: gemm_q4x8_nt(w, nb, x, xsum, ldx, 4, y, ldy); break;
    }
}

/* Q8_0 weights are signed, so maddubs gets |w| (taken once per block for all
 * tokens) and the activation with w's sign; a pair of products can reach
 * 2·127·127, so every chunk is widened to int32 before it is summed. */
static inline __attribute__((always_inline)) void gemm_q8x8_nt(const gf_block_q8_0x8 *w, int64_t nb,
                                                              const gf_block_q8_0 *x, int64_t ldx, const int NT,
                                                              float *y, int64_t ldy) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[GF_TOK_TILE];
    #pragma GCC unroll 4
    for (int t = 0; t < NT; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i sw[8], aw[8];
        #pragma GCC unroll 8
        for (int k = 0; k < 8; k++) {
            sw[k] = _mm256_loadu_si256((const __m256i *)w[b].qs[k]);
            aw[k] = _mm256_sign_epi8(sw[k], sw[k]);
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)w[b].d));
        #pragma GCC unroll 4
        for (int t = 0; t < NT; t++) {
            const gf_block_q8_0 *xb = &x[t * ldx + b];
            __m256i s32 = _mm256_madd_epi16(_mm256_maddubs_epi16(aw[0], _mm256_sign_epi8(bcast32(xb->qs), sw[0])), ones);
            #pragma GCC unroll 8
            for (int k = 1; k < 8; k++) {
                const __m256i p = _mm256_maddubs_epi16(aw[k], _mm256_sign_epi8(bcast32(xb->qs + 4 * k), sw[k]));
                s32 = _mm256_add_epi32(s32, _mm256_madd_epi16(p, ones));
            }
            const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(_cvtsh_ss(xb->d)));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32), scale, acc[t]);
        }
    }
    #pragma GCC unroll 4
    for (int t = 0; t < NT; t++) _mm256_storeu_ps(y + t * ldy, acc[t]);
}

void gf_gemm_q8x8_avx2(const gf_block_q8_0x8 *w, int64_t nb, const gf_block_q8_0 *x, int64_t ldx,
                       int n_tok, float *y, int64_t ldy) {
    switch (n_tok) {
    case 1: gemm_q8x8_nt(w, nb, x, ldx, 1, y, ldy); break;
    case 2: gemm_q8x8_nt(w, nb, x, ldx, 2, y, ldy); break;
    case 3: gemm_q8x8_nt(w, nb, x, ldx, 3, y, ldy); break;
    default: gemm_q8x8_nt(w, nb, x, ldx, 4, y, ldy); break;
    }
}

const gf_kernel_ops gf_kernel_ops_avx2 = {
    .ks = GF_KERNELS_AVX2,
    .vec_dot = {
        [GF_TYPE_F32] = gf_dot_f32_avx2,
        [GF_TYPE_F16] = gf_dot_f16_avx2,
        [GF_TYPE_Q4_0] = gf_dot_q4_0_avx2,
        [GF_TYPE_Q8_0] = gf_dot_q8_0_avx2,
    },
    .from_float = {
        [GF_TYPE_F16] = gf_to_f16_avx2,
        [GF_TYPE_Q8_0] = gf_quantize_q8_0_avx2,
    },
    .gemm_q4x8 = gf_gemm_q4x8_avx2,
    .gemm_q8x8 = gf_gemm_q8x8_avx2,
};
