/*
 * imatrix.c - reads llama-imatrix .dat files (llama.cpp examples/imatrix, the
 * legacy binary format) through common/reader.h: counts checked against the
 * bytes left, names capped, values finite and non-negative, names unique.
 */
#include "imatrix.h"

#include "../common/reader.h"
#include "../common/strmap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_NAME 1024

/* Entry i: name, ncall, values (finite, >= 0, divided by ncall when it is positive). */
static gf_status parse_entry(gf_reader *r, gf_imatrix *im, int32_t i, gf_strmap *seen, gf_span *names) {
    gf_imatrix_entry *e = &im->e[i];
    const char *name = r->name;
    char what[MAX_NAME + 64];
    int32_t nl, nval;
    snprintf(what, sizeof what, "entry %d: name length", i);
    GF_TRY(gf_reader_i32(r, &nl, what));
    GF_FAIL_IF(nl <= 0 || nl > MAX_NAME, r->err, GF_E_FORMAT, "%s: entry %d: name length %d is not in [1, %d]", name, i,
               nl, MAX_NAME);
    snprintf(what, sizeof what, "entry %d: name", i);
    GF_TRY(gf_reader_str(r, (uint64_t)nl, MAX_NAME, &e->name, what));
    im->n = i + 1; /* gf_imatrix_free frees it from here on */
    GF_FAIL_IF(strlen(e->name) != (size_t)nl, r->err, GF_E_FORMAT, "%s: entry %d: name contains a NUL byte", name, i);
    snprintf(what, sizeof what, "entry '%s'", e->name);
    GF_TRY(gf_reader_i32(r, &e->ncall, what));
    GF_TRY(gf_reader_i32(r, &nval, what));
    GF_FAIL_IF(nval <= 0 || (uint64_t)nval > gf_reader_left(r) / 4, r->err, GF_E_FORMAT,
               "%s: entry '%s': %d values do not fit in the file", name, e->name, nval);
    e->n = nval;
    e->values = malloc((size_t)nval * 4);
    GF_FAIL_IF(!e->values, r->err, GF_E_NOMEM, "%s: out of memory", name);
    GF_TRY(gf_reader_bytes(r, e->values, (uint64_t)nval * 4, what));
    for (int32_t j = 0; j < nval; j++) {
        GF_FAIL_IF(!isfinite(e->values[j]) || e->values[j] < 0, r->err, GF_E_VALUE,
                   "%s: entry '%s': value %d is %g (must be finite and >= 0)", name, e->name, j, (double)e->values[j]);
        if (e->ncall > 0) e->values[j] /= (float)e->ncall;
    }
    names[i] = (gf_span){e->name, (uint32_t)nl};
    GF_FAIL_IF(gf_strmap_insert(seen, names, (uint32_t)i) >= 0, r->err, GF_E_FORMAT, "%s: entry '%s' appears twice",
               name, e->name);
    return GF_OK;
}

/* The optional trailer: chunk count and dataset name. */
static gf_status parse_trailer(gf_reader *r, gf_imatrix *im) {
    int32_t dl;
    GF_TRY(gf_reader_i32(r, &im->chunks, "trailer chunk count"));
    GF_TRY(gf_reader_i32(r, &dl, "trailer dataset name length"));
    GF_FAIL_IF(dl < 0, r->err, GF_E_FORMAT, "%s: trailer: dataset name length %d is negative", r->name, dl);
    return gf_reader_str(r, (uint64_t)dl, (uint64_t)dl, &im->dataset, "trailer dataset name");
}

gf_status gf_imatrix_parse(const void *buf, size_t len, const char *name, gf_imatrix **out, gf_err *err) {
    *out = NULL;
    gf_status rc = GF_OK;
    gf_reader r;
    gf_reader_init(&r, buf, len, name, err);
    int32_t n;
    gf_strmap seen = {0}; /* names -> entry, for the duplicate check */
    gf_span *names = NULL;
    gf_imatrix *im = calloc(1, sizeof *im);
    if (!im) return gf_errf(err, GF_E_NOMEM, "%s: out of memory", name);
    GF_TRY_GOTO(gf_reader_i32(&r, &n, "entry count"));
    /* an entry takes >= 4+1+4+4 bytes: check before allocating */
    GF_FAIL_GOTO_IF(n < 0 || (uint64_t)n > gf_reader_left(&r) / 13, err, GF_E_FORMAT,
                    "%s: entry count %d cannot fit in a %zu-byte file", name, n, len);
    im->e = calloc((size_t)n + 1, sizeof *im->e);
    names = malloc(((size_t)n + 1) * sizeof *names);
    GF_FAIL_GOTO_IF(!im->e || !names || gf_strmap_init(&seen, (uint64_t)n), err, GF_E_NOMEM, "%s: out of memory", name);
    for (int32_t i = 0; i < n; i++) GF_TRY_GOTO(parse_entry(&r, im, i, &seen, names));
    if (gf_reader_left(&r)) GF_TRY_GOTO(parse_trailer(&r, im));
    *out = im;
    im = NULL;
done:
    gf_imatrix_free(im);
    gf_strmap_free(&seen);
    free(names);
    return rc;
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
