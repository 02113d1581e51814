/*
 * textfile.c - whole text files into memory, inflating gzip data with zlib.
 * gzip is recognized by its magic bytes; the decompressed size is capped as the
 * plain file's is, so a small "zip bomb" is refused rather than filling memory.
 * Does not interpret the text (no line splitting, no encoding checks).
 */
#include "textfile.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static int is_gzip(const unsigned char *b, size_t n) { return n >= 2 && b[0] == 0x1f && b[1] == 0x8b; }

/* Inflates gzip members back to back into *out (capped at max_bytes). */
static gf_status inflate_gzip(const char *name, const unsigned char *buf, size_t len, size_t max_bytes, char **out,
                              size_t *out_len, gf_err *err) {
    gf_status rc = GF_OK;
    z_stream z;
    memset(&z, 0, sizeof z);
    char *dst = NULL;
    size_t cap = len * 4 + 4096, n = 0;
    if (cap > max_bytes + 1) cap = max_bytes + 1;
    int zr = inflateInit2(&z, 16 + MAX_WBITS); /* 16: gzip wrapper only */
    GF_FAIL_GOTO_IF(zr != Z_OK, err, GF_E_NOMEM, "%s: zlib cannot start (%d)", name, zr);
    dst = malloc(cap + 1);
    GF_FAIL_GOTO_IF(!dst, err, GF_E_NOMEM, "%s: out of memory inflating", name);
    z.next_in = (unsigned char *)buf;
    size_t in_left = len;
    for (;;) {
        if (n == cap) {
            GF_FAIL_GOTO_IF(cap > max_bytes, err, GF_E_FORMAT,
                            "%s: the decompressed text is more than the %zu bytes this reader accepts", name,
                            max_bytes);
            size_t ncap = cap * 2 > max_bytes + 1 ? max_bytes + 1 : cap * 2;
            char *b = realloc(dst, ncap + 1);
            GF_FAIL_GOTO_IF(!b, err, GF_E_NOMEM, "%s: out of memory inflating %zu bytes", name, ncap);
            dst = b;
            cap = ncap;
        }
        const uInt chunk_in = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
        const size_t room = cap - n;
        z.avail_in = chunk_in;
        z.next_out = (unsigned char *)dst + n;
        z.avail_out = room > (1u << 30) ? (1u << 30) : (uInt)room;
        const uInt out_before = z.avail_out;
        zr = inflate(&z, Z_NO_FLUSH);
        n += out_before - z.avail_out;
        in_left -= chunk_in - z.avail_in;
        if (zr == Z_STREAM_END) {
            if (in_left == 0) break;
            /* another member follows (as `cat a.gz b.gz`) */
            GF_FAIL_GOTO_IF(!is_gzip(z.next_in, in_left), err, GF_E_FORMAT,
                            "%s: %zu bytes of garbage after the gzip data", name, in_left);
            GF_FAIL_GOTO_IF(inflateReset(&z) != Z_OK, err, GF_E_FORMAT, "%s: zlib cannot restart", name);
            continue;
        }
        GF_FAIL_GOTO_IF(zr == Z_MEM_ERROR, err, GF_E_NOMEM, "%s: out of memory inflating", name);
        GF_FAIL_GOTO_IF(zr != Z_OK && zr != Z_BUF_ERROR, err, GF_E_FORMAT, "%s: corrupt gzip data (%s)", name,
                        z.msg ? z.msg : "zlib error");
        GF_FAIL_GOTO_IF(in_left == 0 && z.avail_out > 0, err, GF_E_FORMAT,
                        "%s: truncated gzip data (it ends after %zu bytes of text)", name, n);
    }
    GF_FAIL_GOTO_IF(n > max_bytes, err, GF_E_FORMAT,
                    "%s: the decompressed text is more than the %zu bytes this reader accepts", name, max_bytes);
    dst[n] = '\0';
    *out = dst;
    *out_len = n;
    dst = NULL;
done:
    inflateEnd(&z);
    free(dst);
    return rc;
}

gf_status gf_text_from_buffer(const char *name, const unsigned char *buf, size_t len, size_t max_bytes, char **out,
                              size_t *out_len, gf_err *err) {
    *out = NULL;
    *out_len = 0;
    if (is_gzip(buf, len)) return inflate_gzip(name, buf, len, max_bytes, out, out_len, err);
    if (len > max_bytes)
        return gf_errf(err, GF_E_FORMAT, "%s: %zu bytes, more than the %zu this reader accepts", name, len, max_bytes);
    char *b = malloc(len + 1);
    if (!b) return gf_errf(err, GF_E_NOMEM, "%s: out of memory for %zu bytes", name, len);
    memcpy(b, buf, len);
    b[len] = '\0';
    *out = b;
    *out_len = len;
    return GF_OK;
}

gf_status gf_read_text(const char *path, size_t max_bytes, char **out, size_t *out_len, gf_err *err) {
    char *raw = NULL;
    size_t n = 0;
    *out = NULL;
    if (out_len) *out_len = 0;
    GF_TRY(gf_read_file(path, max_bytes, &raw, &n, err));
    if (!is_gzip((const unsigned char *)raw, n)) { /* plain text: the buffer as read */
        *out = raw;
        if (out_len) *out_len = n;
        return GF_OK;
    }
    size_t len = 0;
    gf_status rc = inflate_gzip(path, (const unsigned char *)raw, n, max_bytes, out, &len, err);
    free(raw);
    if (!rc && out_len) *out_len = len;
    return rc;
}
