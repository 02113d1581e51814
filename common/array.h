/*
 * array.h - the one growable array: gf_array_reserve makes room in a (pointer,
 * capacity) pair, doubling from a first capacity, with every size checked for
 * overflow.  The caller keeps its own count; the elements are whatever *pp points to.
 *     if (gf_array_reserve(&v->p, &v->cap, v->n + 1, 256)) return -1;
 *     v->p[v->n++] = x;
 */
#ifndef GF_ARRAY_H
#define GF_ARRAY_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Room for need elements of es bytes at *pp (a pointer to the array pointer; *cap elements
 * allocated).  Returns 0, or -1 on overflow or when out of memory (the array is unchanged). */
static inline int gf_array_grow_(void *pp, size_t *cap, size_t need, size_t es, size_t first_cap) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : first_cap;
    while (c < need) {
        if (c > SIZE_MAX / 2) return -1;
        c *= 2;
    }
    if (c > SIZE_MAX / es) return -1;
    void *old, *p;
    memcpy(&old, pp, sizeof old); /* pp points to a T*, whatever T is */
    if (!(p = realloc(old, c * es))) return -1;
    memcpy(pp, &p, sizeof p);
    *cap = c;
    return 0;
}
#define gf_array_reserve(pp, cap, need, first_cap) gf_array_grow_((pp), (cap), (need), sizeof **(pp), (first_cap))

#endif /* GF_ARRAY_H */
