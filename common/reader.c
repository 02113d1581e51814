/*
 * reader.c - the bounded reader of reader.h: one chokepoint that checks the bytes
 * left before every read of an untrusted file (GGUF, imatrix, the safetensors
 * header), as Lua's lundump.c does.  It does not interpret what it reads: counts,
 * caps and meaning stay with each format's parser.
 */
#include "reader.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

void gf_reader_init(gf_reader *r, const void *buf, uint64_t len, const char *name, gf_err *err) {
    *r = (gf_reader){.p = buf, .fd = -1, .len = len, .name = name, .err = err};
}

void gf_reader_init_fd(gf_reader *r, int fd, uint64_t off, uint64_t len, const char *name, gf_err *err) {
    *r = (gf_reader){.p = NULL, .fd = fd, .base = off, .len = len, .name = name, .err = err};
}

gf_status gf_reader_need(gf_reader *r, uint64_t n, const char *what) {
    GF_FAIL_IF(n > r->len - r->pos, r->err, GF_E_FORMAT, "%s: truncated: %s at byte %llu needs %llu bytes, %llu left",
               r->name, what, (unsigned long long)(r->base + r->pos), (unsigned long long)n,
               (unsigned long long)(r->len - r->pos));
    return GF_OK;
}

static gf_status pread_all(gf_reader *r, uint8_t *dst, uint64_t n, const char *what) {
    uint64_t off = r->base + r->pos;
    while (n) {
        ssize_t got = pread(r->fd, dst, n > (1u << 30) ? (1u << 30) : n, (off_t)off);
        if (got < 0 && errno == EINTR) continue;
        GF_FAIL_IF(got < 0, r->err, GF_E_IO, "%s: read failed at byte %llu (%s): %s", r->name,
                   (unsigned long long)off, what, strerror(errno));
        GF_FAIL_IF(got == 0, r->err, GF_E_IO, "%s: unexpected end of file at byte %llu (%s)", r->name,
                   (unsigned long long)off, what);
        dst += got;
        n -= (uint64_t)got;
        off += (uint64_t)got;
    }
    return GF_OK;
}

gf_status gf_reader_bytes(gf_reader *r, void *dst, uint64_t n, const char *what) {
    GF_TRY(gf_reader_need(r, n, what));
    if (r->p) {
        if (n) memcpy(dst, r->p + r->pos, n);
    } else {
        GF_TRY(pread_all(r, dst, n, what));
    }
    r->pos += n;
    return GF_OK;
}

gf_status gf_reader_skip(gf_reader *r, uint64_t n, const char *what) {
    GF_TRY(gf_reader_need(r, n, what));
    r->pos += n;
    return GF_OK;
}

gf_status gf_reader_u8(gf_reader *r, uint8_t *v, const char *what) { return gf_reader_bytes(r, v, 1, what); }
gf_status gf_reader_u32(gf_reader *r, uint32_t *v, const char *what) { return gf_reader_bytes(r, v, 4, what); }
gf_status gf_reader_i32(gf_reader *r, int32_t *v, const char *what) { return gf_reader_bytes(r, v, 4, what); }
gf_status gf_reader_u64(gf_reader *r, uint64_t *v, const char *what) { return gf_reader_bytes(r, v, 8, what); }
gf_status gf_reader_f32(gf_reader *r, float *v, const char *what) { return gf_reader_bytes(r, v, 4, what); }

gf_status gf_reader_str(gf_reader *r, uint64_t n, uint64_t max, char **out, const char *what) {
    *out = NULL;
    GF_TRY(gf_reader_need(r, n, what));
    GF_FAIL_IF(n > max, r->err, GF_E_FORMAT, "%s: %s at byte %llu has length %llu, over the limit of %llu", r->name,
               what, (unsigned long long)(r->base + r->pos), (unsigned long long)n, (unsigned long long)max);
    char *s = malloc(n + 1);
    GF_FAIL_IF(!s, r->err, GF_E_NOMEM, "%s: out of memory reading %s", r->name, what);
    gf_status st = gf_reader_bytes(r, s, n, what);
    if (st) {
        free(s);
        return st;
    }
    s[n] = '\0';
    *out = s;
    return GF_OK;
}

gf_status gf_reader_str64(gf_reader *r, uint64_t max, char **out, uint64_t *len, const char *what) {
    uint64_t n;
    *out = NULL;
    GF_TRY(gf_reader_u64(r, &n, what));
    GF_TRY(gf_reader_need(r, n, what));
    /* the limit message points at the length, where the string starts */
    GF_FAIL_IF(n > max, r->err, GF_E_FORMAT, "%s: %s at byte %llu has length %llu, over the limit of %llu", r->name,
               what, (unsigned long long)(r->base + r->pos - 8), (unsigned long long)n, (unsigned long long)max);
    GF_TRY(gf_reader_str(r, n, n, out, what));
    *len = n;
    return GF_OK;
}
