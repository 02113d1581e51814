/*
 * imatrix.c - reads llama-imatrix .dat files (llama.cpp examples/imatrix, the
 * legacy binary format) through a bounded cursor: counts checked against the
 * bytes left, names capped, values finite and non-negative, names unique.
 */
#include "imatrix.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_NAME 1024

typedef struct {
    const uint8_t *p;
    size_t len, pos;
} cur;

static int take(cur *c, void *dst, size_t n) {
    if (n > c->len - c->pos) return -1;
    memcpy(dst, c->p + c->pos, n);
    c->pos += n;
    return 0;
}

gf_status gf_imatrix_parse(const void *buf, size_t len, const char *name, gf_imatrix **out, gf_err *err) {
    *out = NULL;
    cur c = {buf, len, 0};
    gf_status st = GF_OK;
    int32_t n;
    gf_imatrix *im = calloc(1, sizeof *im);
    if (!im) return gf_errf(err, GF_E_NOMEM, "%s: out of memory", name);
    if (take(&c, &n, 4)) { st = gf_errf(err, GF_E_FORMAT, "%s: truncated: no entry count", name); goto fail; }
    if (n < 0 || (size_t)n > (len - c.pos) / 13) {
        st = gf_errf(err, GF_E_FORMAT, "%s: entry count %d cannot fit in a %zu-byte file", name, n, len);
        goto fail;
    }
    im->e = calloc((size_t)n + 1, sizeof *im->e);
    if (!im->e) { st = gf_errf(err, GF_E_NOMEM, "%s: out of memory", name); goto fail; }
    for (int32_t i = 0; i < n; i++) {
        gf_imatrix_entry *e = &im->e[i];
        int32_t nl, nval;
        if (take(&c, &nl, 4) || nl <= 0 || nl > MAX_NAME || (size_t)nl > len - c.pos) {
            st = gf_errf(err, GF_E_FORMAT, "%s: entry %d: bad or truncated name length", name, i);
            goto fail;
        }
        if (!(e->name = malloc((size_t)nl + 1))) { st = gf_errf(err, GF_E_NOMEM, "%s: out of memory", name); goto fail; }
        take(&c, e->name, (size_t)nl);
        e->name[nl] = '\0';
        im->n = i + 1;
        if (strlen(e->name) != (size_t)nl) {
            st = gf_errf(err, GF_E_FORMAT, "%s: entry %d: name contains a NUL byte", name, i);
            goto fail;
        }
        if (take(&c, &e->ncall, 4) || take(&c, &nval, 4)) {
            st = gf_errf(err, GF_E_FORMAT, "%s: entry '%s': truncated", name, e->name);
            goto fail;
        }
        if (nval <= 0 || (size_t)nval > (len - c.pos) / 4) {
            st = gf_errf(err, GF_E_FORMAT, "%s: entry '%s': %d values do not fit in the file", name, e->name, nval);
            goto fail;
        }
        e->n = nval;
        if (!(e->values = malloc((size_t)nval * 4))) { st = gf_errf(err, GF_E_NOMEM, "%s: out of memory", name); goto fail; }
        take(&c, e->values, (size_t)nval * 4);
        for (int32_t j = 0; j < nval; j++) {
            if (!isfinite(e->values[j]) || e->values[j] < 0) {
                st = gf_errf(err, GF_E_VALUE, "%s: entry '%s': value %d is %g (must be finite and >= 0)", name, e->name, j,
                             (double)e->values[j]);
                goto fail;
            }
            if (e->ncall > 0) e->values[j] /= (float)e->ncall;
        }
        for (int32_t k = 0; k < i; k++) {
            if (strcmp(im->e[k].name, e->name) == 0) {
                st = gf_errf(err, GF_E_FORMAT, "%s: entry '%s' appears twice", name, e->name);
                goto fail;
            }
        }
    }
    if (c.pos < len) { /* optional trailer: chunk count and dataset name */
        int32_t dl;
        if (take(&c, &im->chunks, 4) || take(&c, &dl, 4) || dl < 0 || (size_t)dl > len - c.pos) {
            st = gf_errf(err, GF_E_FORMAT, "%s: truncated trailer after %lld entries", name, (long long)im->n);
            goto fail;
        }
        if (!(im->dataset = malloc((size_t)dl + 1))) { st = gf_errf(err, GF_E_NOMEM, "%s: out of memory", name); goto fail; }
        take(&c, im->dataset, (size_t)dl);
        im->dataset[dl] = '\0';
    }
    *out = im;
    return GF_OK;
fail:
    gf_imatrix_free(im);
    return st;
}

gf_status gf_imatrix_load(const char *path, gf_imatrix **out, gf_err *err) {
    char *buf = NULL;
    size_t len = 0;
    gf_status st = gf_read_file(path, (size_t)1 << 31, &buf, &len, err);
    if (st) return st;
    st = gf_imatrix_parse(buf, len, path, out, err);
    free(buf);
    return st;
}

void gf_imatrix_free(gf_imatrix *im) {
    if (!im) return;
    for (int64_t i = 0; i < im->n; i++) {
        free(im->e[i].name);
        free(im->e[i].values);
    }
    free(im->e);
    free(im->dataset);
    free(im);
}

const gf_imatrix_entry *gf_imatrix_find(const gf_imatrix *im, const char *tensor) {
    for (int64_t i = 0; im && i < im->n; i++)
        if (strcmp(im->e[i].name, tensor) == 0) return &im->e[i];
    return NULL;
}
