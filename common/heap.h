/*
 * heap.h - the one binary heap, as a macro that defines a typed min-heap (klib
 * style, so the comparison inlines): GF_HEAP_DEFINE(name, T, before) defines
 *     typedef struct { T *v; size_t n, cap; } name;
 *     int  name_push(name *h, T x);   0, or -1 when out of memory
 *     T    name_pop(name *h);         the element that comes first (h->n > 0)
 *     void name_free(name *h);
 * where before(const T *a, const T *b) says whether a comes out before b.  Equal
 * elements come out in an order fixed by the sequence of pushes and pops (the
 * tokenizers rely on this: their `before` breaks ties itself).
 */
#ifndef GF_HEAP_H
#define GF_HEAP_H

#include "array.h"

#define GF_HEAP_DEFINE(name, T, before)                                                                                \
    typedef struct {                                                                                                   \
        T *v;                                                                                                          \
        size_t n, cap;                                                                                                 \
    } name;                                                                                                            \
    static inline int name##_push(name *h, T x) {                                                                      \
        if (gf_array_reserve(&h->v, &h->cap, h->n + 1, 64)) return -1;                                                 \
        size_t i = h->n++;                                                                                             \
        while (i && before(&x, &h->v[(i - 1) / 2])) { /* sift up */                                                   \
            h->v[i] = h->v[(i - 1) / 2];                                                                               \
            i = (i - 1) / 2;                                                                                           \
        }                                                                                                              \
        h->v[i] = x;                                                                                                   \
        return 0;                                                                                                      \
    }                                                                                                                  \
    static inline T name##_pop(name *h) {                                                                              \
        T top = h->v[0], last = h->v[--h->n];                                                                          \
        size_t i = 0, n = h->n;                                                                                        \
        for (;;) { /* sift down */                                                                                     \
            size_t c = 2 * i + 1;                                                                                      \
            if (c >= n) break;                                                                                         \
            if (c + 1 < n && before(&h->v[c + 1], &h->v[c])) c++;                                                      \
            if (!before(&h->v[c], &last)) break;                                                                       \
            h->v[i] = h->v[c];                                                                                         \
            i = c;                                                                                                     \
        }                                                                                                              \
        if (n) h->v[i] = last;                                                                                         \
        return top;                                                                                                    \
    }                                                                                                                  \
    static inline void name##_free(name *h) {                                                                          \
        free(h->v);                                                                                                    \
        h->v = NULL;                                                                                                   \
        h->n = h->cap = 0;                                                                                             \
    }

#endif /* GF_HEAP_H */
