/*
 * reader.h - the one bounded reader for untrusted bytes: a cursor over a buffer or
 * over a region of an open file.  Every read checks the bytes left first and fails
 * with a message naming the file, what was being read, where, and how short it was
 * ("model.gguf: truncated: tensor count at byte 16 needs 8 bytes, 3 left").
 * Values are little-endian as they lie in the file (every format we read is LE and
 * so is every CPU we build for).  Nothing here allocates except gf_reader_str*.
 */
#ifndef GF_READER_H
#define GF_READER_H

#include "gf.h"

typedef struct {
    const uint8_t *p;  /* the bytes, or NULL when reading from fd      */
    int fd;            /* the file when p is NULL (read with pread)     */
    uint64_t base;     /* file offset of the region's byte 0            */
    uint64_t len, pos; /* region size and bytes consumed, both in bytes */
    const char *name;  /* file name, for messages                       */
    gf_err *err;
} gf_reader;

/* A reader over len bytes at buf. */
void gf_reader_init(gf_reader *r, const void *buf, uint64_t len, const char *name, gf_err *err);
/* A reader over bytes [off, off+len) of the open file fd; the caller checked that they exist. */
void gf_reader_init_fd(gf_reader *r, int fd, uint64_t off, uint64_t len, const char *name, gf_err *err);

static inline uint64_t gf_reader_left(const gf_reader *r) { return r->len - r->pos; }

/* GF_E_FORMAT ("truncated: ...") unless n more bytes are left; reads nothing. */
gf_status gf_reader_need(gf_reader *r, uint64_t n, const char *what);
/* Copies the next n bytes into dst. */
gf_status gf_reader_bytes(gf_reader *r, void *dst, uint64_t n, const char *what);
gf_status gf_reader_skip(gf_reader *r, uint64_t n, const char *what);
gf_status gf_reader_u8(gf_reader *r, uint8_t *v, const char *what);
gf_status gf_reader_u32(gf_reader *r, uint32_t *v, const char *what);
gf_status gf_reader_i32(gf_reader *r, int32_t *v, const char *what);
gf_status gf_reader_u64(gf_reader *r, uint64_t *v, const char *what);
gf_status gf_reader_f32(gf_reader *r, float *v, const char *what);
/* The next n bytes as a new NUL-terminated string (*out, free it); n over max is refused
 * (after the truncation check, so a short file reads as truncated). */
gf_status gf_reader_str(gf_reader *r, uint64_t n, uint64_t max, char **out, const char *what);
/* A string with a u64 length before it (GGUF's), as gf_reader_str. */
gf_status gf_reader_str64(gf_reader *r, uint64_t max, char **out, uint64_t *len, const char *what);

#endif /* GF_READER_H */
