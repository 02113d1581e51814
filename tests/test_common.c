/*
 * test_common.c - the small shared modules of common/: the bounded reader refuses a
 * truncated buffer at every read kind (from memory and from a file region), with a
 * message naming the file and what was being read, and reads good bytes exactly.
 */
#include <stdlib.h>
#include <unistd.h>

#include "../common/reader.h"
#include "check.h"

/* ---------------------------------------------------------------- reader */

enum { K_U8, K_U32, K_I32, K_U64, K_F32, K_BYTES, K_SKIP, K_STR, K_STR64, K_NKINDS };
static const char *const kind_name[K_NKINDS] = {"u8", "u32", "i32", "u64", "f32", "bytes", "skip", "str", "str64"};
static const uint64_t kind_size[K_NKINDS] = {1, 4, 4, 8, 4, 5, 5, 5, 8 + 5}; /* bytes each read takes */

/* One read of kind k: the string reads take "hello" (str64: with its u64 length first). */
static gf_status read_kind(gf_reader *r, int k) {
    uint8_t b[8];
    uint32_t u32;
    int32_t i32;
    uint64_t u64, n;
    float f;
    char *s = NULL;
    gf_status st = GF_OK;
    switch (k) {
    case K_U8: st = gf_reader_u8(r, b, kind_name[k]); break;
    case K_U32: st = gf_reader_u32(r, &u32, kind_name[k]); break;
    case K_I32: st = gf_reader_i32(r, &i32, kind_name[k]); break;
    case K_U64: st = gf_reader_u64(r, &u64, kind_name[k]); break;
    case K_F32: st = gf_reader_f32(r, &f, kind_name[k]); break;
    case K_BYTES: st = gf_reader_bytes(r, b, 5, kind_name[k]); break;
    case K_SKIP: st = gf_reader_skip(r, 5, kind_name[k]); break;
    case K_STR: st = gf_reader_str(r, 5, 64, &s, kind_name[k]); break;
    case K_STR64: st = gf_reader_str64(r, 64, &s, &n, kind_name[k]); break;
    }
    if (st == GF_OK && s && strcmp(s, "hello") != 0) st = GF_E_VALUE;
    free(s);
    return st;
}

/* The bytes kind k reads well: "hello" for the strings, with its length for str64. */
static size_t good_bytes(int k, uint8_t *buf) {
    memset(buf, 0x41, 16);
    if (k == K_STR || k == K_STR64) {
        uint64_t n = 5;
        size_t at = 0;
        if (k == K_STR64) memcpy(buf, &n, 8), at = 8;
        memcpy(buf + at, "hello", 5);
    }
    return (size_t)kind_size[k];
}

static void test_reader_truncated_memory(void) {
    uint8_t buf[16];
    for (int k = 0; k < K_NKINDS; k++) {
        size_t full = good_bytes(k, buf);
        gf_err err = {0};
        gf_reader r;
        gf_reader_init(&r, buf, full, "t.bin", &err);
        CHECK(read_kind(&r, k) == GF_OK && r.pos == full, "%s: a whole read fails: %s", kind_name[k], err.msg);
        for (size_t len = 0; len < full; len++) {
            /* a copy the size of the cut, so that a read past it is an ASan error too */
            uint8_t *cut = malloc(len ? len : 1);
            memcpy(cut, buf, len);
            memset(&err, 0, sizeof err);
            gf_reader_init(&r, cut, len, "t.bin", &err);
            gf_status st = read_kind(&r, k);
            CHECK(st == GF_E_FORMAT && strstr(err.msg, "t.bin: truncated: ") && strstr(err.msg, kind_name[k]),
                  "%s cut to %zu of %zu bytes: status %d, '%s'", kind_name[k], len, full, (int)st, err.msg);
            free(cut);
        }
    }
}

static void test_reader_truncated_file(void) {
    char path[] = "/tmp/gf-test-reader-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    if (fd < 0) return;
    uint8_t buf[16];
    for (int k = 0; k < K_NKINDS; k++) {
        size_t full = good_bytes(k, buf);
        /* the region starts 3 bytes into the file, which has 2 bytes after it */
        CHECK(ftruncate(fd, 0) == 0 && pwrite(fd, "xyz", 3, 0) == 3 && pwrite(fd, buf, full, 3) == (ssize_t)full &&
                  pwrite(fd, "zz", 2, 3 + (off_t)full) == 2, "write");
        gf_err err = {0};
        gf_reader r;
        gf_reader_init_fd(&r, fd, 3, full, "t.bin", &err);
        CHECK(read_kind(&r, k) == GF_OK && r.pos == full, "%s from a file: %s", kind_name[k], err.msg);
        for (size_t len = 0; len < full; len++) {
            memset(&err, 0, sizeof err);
            gf_reader_init_fd(&r, fd, 3, len, "t.bin", &err);
            gf_status st = read_kind(&r, k);
            CHECK(st == GF_E_FORMAT && strstr(err.msg, "t.bin: truncated: ") && strstr(err.msg, kind_name[k]),
                  "%s: file region cut to %zu of %zu bytes: status %d, '%s'", kind_name[k], len, full, (int)st, err.msg);
        }
    }
    close(fd);
    unlink(path);
}

static void test_reader_values(void) {
    uint8_t buf[64];
    size_t n = 0;
    uint32_t u32 = 0xdeadbeefu;
    uint64_t u64 = 0x0123456789abcdefull, len = 3, huge = 1000;
    float f = -2.5f;
    buf[n++] = 7;
    memcpy(buf + n, &u32, 4), n += 4;
    memcpy(buf + n, &u64, 8), n += 8;
    memcpy(buf + n, &f, 4), n += 4;
    memcpy(buf + n, &len, 8), n += 8;
    memcpy(buf + n, "abc", 3), n += 3;
    memcpy(buf + n, &huge, 8), n += 8;
    gf_err err = {0};
    gf_reader r;
    gf_reader_init(&r, buf, n, "v.bin", &err);
    uint8_t a;
    uint32_t b;
    uint64_t c, sl;
    float d;
    char *s = NULL;
    CHECK(gf_reader_u8(&r, &a, "a") == GF_OK && a == 7, "u8");
    CHECK(gf_reader_u32(&r, &b, "b") == GF_OK && b == u32, "u32");
    CHECK(gf_reader_u64(&r, &c, "c") == GF_OK && c == u64, "u64");
    CHECK(gf_reader_f32(&r, &d, "d") == GF_OK && d == f, "f32");
    CHECK(gf_reader_left(&r) == 19, "left %llu", (unsigned long long)gf_reader_left(&r));
    /* over the cap: refused even though the bytes are there */
    gf_reader q = r;
    CHECK(gf_reader_str64(&q, 2, &s, &sl, "short name") == GF_E_FORMAT && !s && strstr(err.msg, "over the limit of 2"),
          "cap: %s", err.msg);
    CHECK(gf_reader_str64(&r, 3, &s, &sl, "name") == GF_OK && s && sl == 3 && !strcmp(s, "abc"), "str64");
    free(s);
    s = NULL;
    /* a length the file cannot hold is "truncated", never an allocation of that size */
    CHECK(gf_reader_str64(&r, UINT64_MAX, &s, &sl, "big") == GF_E_FORMAT && !s &&
              strstr(err.msg, "v.bin: truncated: big at byte 36 needs 1000 bytes, 0 left"), "huge length: %s", err.msg);
}

int main(void) {
    test_reader_truncated_memory();
    test_reader_truncated_file();
    test_reader_values();
    return check_done("test_common");
}
