/*
 * test_common.c - the small shared modules of common/: the bounded reader refuses a
 * truncated buffer at every read kind (from memory and from a file region), with a
 * message naming the file and what was being read, and reads good bytes exactly; the
 * string map finds every key and reports the first holder of a duplicate; the hash
 * gives FNV-1a's published values; the PRNG, the shuffle, the heap and the array work.
 */
#include <stdlib.h>
#include <unistd.h>

#include "../common/hash.h"
#include "../common/heap.h"
#include "../common/rand.h"
#include "../common/reader.h"
#include "../common/strmap.h"
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

/* ---------------------------------------------------------------- strmap */

static void test_strmap(void) {
    /* 2000 keys "k0".."k1999", each key once more at the end: the first id keeps its text */
    enum { N = 2000 };
    static char text[2 * N][8];
    static gf_span keys[2 * N];
    for (int i = 0; i < 2 * N; i++) {
        int n = snprintf(text[i], sizeof text[i], "k%d", i % N);
        keys[i] = (gf_span){text[i], (uint32_t)n};
    }
    gf_strmap m;
    CHECK(gf_strmap_init(&m, 2 * N) == 0, "init");
    int bad_new = 0, bad_dup = 0, bad_find = 0;
    for (int i = 0; i < 2 * N; i++) {
        int32_t old = gf_strmap_insert(&m, keys, (uint32_t)i);
        if (i < N) bad_new += old != -1;
        else bad_dup += old != i - N;
    }
    for (int i = 0; i < N; i++) bad_find += gf_strmap_find(&m, keys, text[i], strlen(text[i])) != i;
    CHECK(bad_new == 0 && bad_dup == 0 && bad_find == 0, "new %d dup %d find %d", bad_new, bad_dup, bad_find);
    CHECK(gf_strmap_find(&m, keys, "k2000", 5) == -1 && gf_strmap_find(&m, keys, "", 0) == -1, "absent keys found");
    gf_strmap_free(&m);
}

/* ---------------------------------------------------------------- hash, PRNG, heap, array */

static void test_hash_rand(void) {
    /* the published FNV-1a 64 test vectors (Fowler, Noll, Vo: "", "a", "foobar") */
    CHECK(gf_fnv1a64("", 0) == 0xcbf29ce484222325ull, "fnv1a64('')");
    CHECK(gf_fnv1a64("a", 1) == 0xaf63dc4c8601ec8cull, "fnv1a64('a') = %016llx",
          (unsigned long long)gf_fnv1a64("a", 1));
    CHECK(gf_fnv1a64("foobar", 6) == 0x85944171f73967e8ull, "fnv1a64('foobar')");
    /* xorshift64 (13, 7, 17) from 1: its first output, worked by hand (0x2001, 0x2041, 0x40822041) */
    uint64_t s = 1;
    CHECK(gf_rand_next(&s) == 0x40822041ull && s == 0x40822041ull, "xorshift64 from 1");
    /* a shuffle is a permutation, and the same seed gives the same order */
    int64_t a[100], b[100];
    int seen[100] = {0}, bad = 0;
    for (int i = 0; i < 100; i++) a[i] = b[i] = i;
    uint64_t sa = 42, sb = 42;
    gf_shuffle_i64(a, 100, &sa);
    gf_shuffle_i64(b, 100, &sb);
    for (int i = 0; i < 100; i++) bad += a[i] < 0 || a[i] >= 100 || seen[a[i]]++ || a[i] != b[i];
    int moved = 0;
    for (int i = 0; i < 100; i++) moved += a[i] != i;
    CHECK(bad == 0 && moved > 50, "shuffle: %d bad, %d moved", bad, moved);
}

typedef struct {
    int key, seq;
} item;
static int item_before(const item *x, const item *y) { return x->key < y->key || (x->key == y->key && x->seq < y->seq); }
GF_HEAP_DEFINE(item_heap, item, item_before)

static void test_heap_array(void) {
    item_heap h = {0};
    uint64_t s = 7;
    int bad = 0, n = 1000;
    for (int i = 0; i < n; i++) bad += item_heap_push(&h, (item){(int)(gf_rand_next(&s) % 50), i}) != 0;
    item prev = {-1, -1};
    for (int i = 0; i < n; i++) {
        item x = item_heap_pop(&h);
        bad += item_before(&x, &prev);
        prev = x;
    }
    CHECK(bad == 0 && h.n == 0, "heap order: %d bad", bad);
    item_heap_free(&h);
    /* reserve doubles from the first capacity and refuses sizes that overflow, leaving the array */
    int *v = NULL;
    size_t cap = 0;
    CHECK(gf_array_reserve(&v, &cap, 1, 16) == 0 && v && cap == 16, "first reserve: cap %zu", cap);
    CHECK(gf_array_reserve(&v, &cap, 17, 16) == 0 && cap == 32, "doubling: cap %zu", cap);
    int *keep = v;
    CHECK(gf_array_reserve(&v, &cap, SIZE_MAX / 2, 16) == -1 && v == keep && cap == 32, "overflow accepted");
    free(v);
}

int main(void) {
    test_reader_truncated_memory();
    test_reader_truncated_file();
    test_reader_values();
    test_strmap();
    test_hash_rand();
    test_heap_array();
    return check_done("test_common");
}
