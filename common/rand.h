/*
 * rand.h - the one seeded PRNG and shuffle: xorshift64 (shifts 13, 7, 17) and a
 * Fisher-Yates shuffle driven by it.  Calibration's choice of windows and
 * AutoRound's minibatch order come from here, so the sequence is part of what
 * makes a GGUF file: do not change the generator or the shuffle's draw order.
 *
 * Also the 32-bit Mersenne Twister (std::mt19937) and libstdc++'s
 * std::uniform_int_distribution over it, because llama-perplexity draws its
 * HellaSwag tasks with them and `eval` must draw the same tasks.
 */
#ifndef GF_RAND_H
#define GF_RAND_H

#include <stdint.h>

/* The next value of the xorshift64 state *s (which must not be 0; it never becomes 0). */
static inline uint64_t gf_rand_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Shuffles v[0..n) in place: for i from n-1 down to 1, swaps v[i] with v[next % (i+1)]. */
static inline void gf_shuffle_i64(int64_t *v, int64_t n, uint64_t *s) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(gf_rand_next(s) % (uint64_t)(i + 1)), t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

/* ---------------------------------------------------------------- mt19937 */

/* std::mt19937: MT19937 with the C++ standard's parameters (Matsumoto and
 * Nishimura 1998; seeding by the standard's initialization multiplier). */
#define GF_MT_N 624
typedef struct {
    uint32_t s[GF_MT_N];
    int i;
} gf_mt19937;

static inline void gf_mt_seed(gf_mt19937 *g, uint32_t seed) {
    g->s[0] = seed;
    for (int i = 1; i < GF_MT_N; i++) g->s[i] = 1812433253u * (g->s[i - 1] ^ (g->s[i - 1] >> 30)) + (uint32_t)i;
    g->i = GF_MT_N;
}

static inline uint32_t gf_mt_next(gf_mt19937 *g) {
    if (g->i >= GF_MT_N) { /* regenerate the whole state (the "twist") */
        for (int k = 0; k < GF_MT_N; k++) {
            const uint32_t y = (g->s[k] & 0x80000000u) | (g->s[(k + 1) % GF_MT_N] & 0x7fffffffu);
            g->s[k] = g->s[(k + 397) % GF_MT_N] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
        }
        g->i = 0;
    }
    uint32_t y = g->s[g->i++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

/* A value in 0 .. n-1 (1 <= n < 2^32) as libstdc++'s (GCC 11 and later)
 * std::uniform_int_distribution draws it from a 32-bit generator: the
 * multiply-and-shift of Lemire ("Fast random integer generation in an
 * interval", 2019), redrawing while the low half is below 2^32 mod n. */
static inline uint32_t gf_mt_below(gf_mt19937 *g, uint32_t n) {
    uint64_t prod = (uint64_t)gf_mt_next(g) * n;
    uint32_t low = (uint32_t)prod;
    if (low < n) {
        const uint32_t threshold = (uint32_t)(-n) % n;
        while (low < threshold) {
            prod = (uint64_t)gf_mt_next(g) * n;
            low = (uint32_t)prod;
        }
    }
    return (uint32_t)(prod >> 32);
}

#endif /* GF_RAND_H */
