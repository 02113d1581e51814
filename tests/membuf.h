/*
 * membuf.h - a growable memory buffer usable as a gf_sink, so tests can write
 * GGUF files to memory and parse them back.  Test code only.
 */
#ifndef GF_MEMBUF_H
#define GF_MEMBUF_H

#include <stdlib.h>
#include <string.h>

#include "../common/gf.h"

typedef struct {
    uint8_t *p;
    size_t n, cap;
} membuf;

static inline gf_status mem_write(void *ctx, const void *buf, size_t n, gf_err *err) {
    membuf *m = ctx;
    if (m->n + n > m->cap) {
        size_t cap = m->cap ? m->cap : 4096;
        while (cap < m->n + n) cap *= 2;
        uint8_t *p = realloc(m->p, cap);
        if (!p) return gf_errf(err, GF_E_NOMEM, "out of memory");
        m->p = p;
        m->cap = cap;
    }
    memcpy(m->p + m->n, buf, n);
    m->n += n;
    return GF_OK;
}

#endif /* GF_MEMBUF_H */
