/*
 * st_write.h - writes small safetensors files and model folders for tests:
 * random-weight models (untied, sharded) and deliberately broken headers.
 * Header-only, test code only; the product never writes safetensors.
 */
#ifndef GF_ST_WRITE_H
#define GF_ST_WRITE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    const char *dtype;  /* "F32", "BF16", "F16" */
    int n_dims;
    int64_t shape[4];
    const void *data;   /* nbytes of raw little-endian data */
    size_t nbytes;
} stw_tensor;

/* Writes tensors in order with contiguous offsets. Returns 0 on success. */
static inline int stw_write(const char *path, const stw_tensor *t, int n) {
    size_t cap = 4096 + (size_t)n * 256, len = 0, off = 0;
    char *h = malloc(cap);
    if (!h) return -1;
    len += (size_t)snprintf(h + len, cap - len, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < n; i++) {
        len += (size_t)snprintf(h + len, cap - len, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", t[i].name, t[i].dtype);
        for (int d = 0; d < t[i].n_dims; d++) len += (size_t)snprintf(h + len, cap - len, "%s%lld", d ? "," : "", (long long)t[i].shape[d]);
        len += (size_t)snprintf(h + len, cap - len, "],\"data_offsets\":[%zu,%zu]}", off, off + t[i].nbytes);
        off += t[i].nbytes;
    }
    len += (size_t)snprintf(h + len, cap - len, "}");
    while (len % 8) h[len++] = ' '; /* as the reference writer pads */
    FILE *f = fopen(path, "wb");
    if (!f) { free(h); return -1; }
    uint64_t hl = len;
    int ok = fwrite(&hl, 8, 1, f) == 1 && fwrite(h, 1, len, f) == len;
    for (int i = 0; i < n && ok; i++) ok = fwrite(t[i].data, 1, t[i].nbytes, f) == t[i].nbytes;
    ok = (fclose(f) == 0) && ok;
    free(h);
    return ok ? 0 : -1;
}

/* Writes a raw header JSON text after its 8-byte length, then data_bytes zero bytes. */
static inline int stw_write_raw(const char *path, const char *json, uint64_t claimed_len, size_t data_bytes) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(&claimed_len, 8, 1, f) == 1 && fwrite(json, 1, strlen(json), f) == strlen(json);
    for (size_t i = 0; i < data_bytes && ok; i++) ok = fputc(0, f) != EOF;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

static inline int stw_write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fputs(text, f) >= 0;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* xorshift, for reproducible random weights */
static inline float stw_rand(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (float)((double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

#endif /* GF_ST_WRITE_H */
