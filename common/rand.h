/*
 * rand.h - the one seeded PRNG and shuffle: xorshift64 (shifts 13, 7, 17) and a
 * Fisher-Yates shuffle driven by it.  Calibration's choice of windows and
 * AutoRound's minibatch order come from here, so the sequence is part of what
 * makes a GGUF file: do not change the generator or the shuffle's draw order.
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

#endif /* GF_RAND_H */
