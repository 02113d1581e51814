/*
 * strmap.h - a header-only hash map from byte strings to ids (token texts, GGUF
 * key and tensor names, imatrix entry names).
 *
 * Open addressing with linear probing; the map stores ids (and a hash tag), the
 * caller keeps the texts and passes them in as an array of (pointer, length).
 * It does not own or copy texts, and it never grows: size it once for n keys.
 */
#ifndef GF_STRMAP_H
#define GF_STRMAP_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

typedef struct {
    const char *p;
    uint32_t n;
} gf_span;

typedef struct {
    uint64_t *slots; /* (mask+1) entries: 0 empty, else (hash tag << 32) | (id + 1) */
    uint64_t mask;
} gf_strmap;

static inline uint64_t gf_strmap_hash(const void *data, size_t n) {
    /* FNV-1a over the bytes, then a 64-bit finaliser so the low bits mix well. */
    uint64_t h = gf_fnv1a64(data, n);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

/* Room for n keys at a load factor <= 1/2. Returns 0, or -1 when out of memory. */
static inline int gf_strmap_init(gf_strmap *m, uint64_t n) {
    uint64_t cap = 16;
    while (cap < 2 * n + 2) cap <<= 1;
    m->slots = calloc(cap, sizeof *m->slots);
    m->mask = cap - 1;
    return m->slots ? 0 : -1;
}

static inline void gf_strmap_free(gf_strmap *m) {
    free(m->slots);
    m->slots = NULL;
    m->mask = 0;
}

/* Id of text (p, n) among keys[], or -1. */
static inline int32_t gf_strmap_find(const gf_strmap *m, const gf_span *keys, const void *p, size_t n) {
    uint64_t h = gf_strmap_hash(p, n);
    uint32_t tag = (uint32_t)(h >> 32);
    for (uint64_t i = h & m->mask;; i = (i + 1) & m->mask) {
        uint64_t s = m->slots[i];
        if (!s) return -1;
        if ((uint32_t)(s >> 32) != tag) continue;
        uint32_t id = (uint32_t)s - 1;
        if (keys[id].n == n && memcmp(keys[id].p, p, n) == 0) return (int32_t)id;
    }
}

/* Inserts keys[id]. Returns -1 when inserted, else the id already holding that text
 * (the map is left unchanged: the first id keeps the text). */
static inline int32_t gf_strmap_insert(gf_strmap *m, const gf_span *keys, uint32_t id) {
    uint64_t h = gf_strmap_hash(keys[id].p, keys[id].n);
    uint32_t tag = (uint32_t)(h >> 32);
    for (uint64_t i = h & m->mask;; i = (i + 1) & m->mask) {
        uint64_t s = m->slots[i];
        if (!s) {
            m->slots[i] = ((uint64_t)tag << 32) | ((uint64_t)id + 1);
            return -1;
        }
        if ((uint32_t)(s >> 32) != tag) continue;
        uint32_t old = (uint32_t)s - 1;
        if (keys[old].n == keys[id].n && memcmp(keys[old].p, keys[id].p, keys[id].n) == 0) return (int32_t)old;
    }
}

#endif /* GF_STRMAP_H */
