/*
 * hash.h - the one FNV-1a hash (64-bit): for hash tables, and for the calibration
 * text's fingerprint that GGUF files carry.  Header-only; no allocation.
 */
#ifndef GF_HASH_H
#define GF_HASH_H

#include <stddef.h>
#include <stdint.h>

#define GF_FNV1A64_BASIS 14695981039346656037ull /* the standard offset basis, 0xcbf29ce484222325 */
#define GF_FNV1A64_PRIME 1099511628211ull        /* 0x100000001b3 */

/* FNV-1a of n bytes, starting from basis (GF_FNV1A64_BASIS, unless a stored value needs another). */
static inline uint64_t gf_fnv1a64_from(uint64_t basis, const void *data, size_t n) {
    const unsigned char *p = data;
    uint64_t h = basis;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * GF_FNV1A64_PRIME;
    return h;
}

static inline uint64_t gf_fnv1a64(const void *data, size_t n) { return gf_fnv1a64_from(GF_FNV1A64_BASIS, data, n); }

#endif /* GF_HASH_H */
