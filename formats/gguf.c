/*
 * gguf.c - GGUF v3 reader (bounded, validating) and streaming writer.
 *
 * Reader: every byte of an untrusted file passes through common/reader.h, which checks
 * what is left before reading; counts are checked against the bytes that could
 * hold them before anything is allocated; names and keys must be unique; tensor
 * data must be aligned, contiguous in declaration order and inside the file.
 * Writer: metadata is kept in memory and serialized once; tensor data is streamed.
 * Follows ggml/docs/gguf.md; accepts versions 2 and 3 (same little-endian layout).
 */
#include "gguf.h"

#include "../common/array.h"
#include "../common/reader.h"
#include "../common/strmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_NAME 256          /* longest tensor name we read (GGML writes < 64)     */
#define MAX_KEY 65535         /* longest key                                        */

/* ---------------------------------------------------------------- value types */

static const struct { const char *name; size_t size; } vtypes[GF_GGUF_NTYPES_] = {
    [GF_GGUF_U8] = {"u8", 1},   [GF_GGUF_I8] = {"i8", 1},     [GF_GGUF_U16] = {"u16", 2},
    [GF_GGUF_I16] = {"i16", 2}, [GF_GGUF_U32] = {"u32", 4},   [GF_GGUF_I32] = {"i32", 4},
    [GF_GGUF_F32] = {"f32", 4}, [GF_GGUF_BOOL] = {"bool", 1}, [GF_GGUF_STRING] = {"str", 0},
    [GF_GGUF_ARRAY] = {"arr", 0}, [GF_GGUF_U64] = {"u64", 8}, [GF_GGUF_I64] = {"i64", 8},
    [GF_GGUF_F64] = {"f64", 8},
};

size_t gf_gguf_vtype_size(uint32_t t) { return t < GF_GGUF_NTYPES_ ? vtypes[t].size : 0; }
const char *gf_gguf_vtype_name(uint32_t t) { return t < GF_GGUF_NTYPES_ ? vtypes[t].name : "?"; }

static void str_free(gf_str *s) {
    free(s->s);
    s->s = NULL;
    s->len = 0;
}

static void kv_clear(gf_kv *kv) {
    str_free(&kv->key);
    str_free(&kv->str);
    if (kv->type == GF_GGUF_ARRAY && kv->arr_type == GF_GGUF_STRING && kv->arr) {
        gf_str *a = kv->arr;
        for (uint64_t i = 0; i < kv->n; i++) free(a[i].s);
    }
    free(kv->arr);
    memset(kv, 0, sizeof *kv);
}

static int str_dup(gf_str *dst, const char *s, uint64_t len) {
    dst->s = malloc(len + 1);
    if (!dst->s) return -1;
    memcpy(dst->s, s, len);
    dst->s[len] = '\0';
    dst->len = len;
    return 0;
}

/* ---------------------------------------------------------------- name index */
/* Names -> index through common/strmap.h, so duplicate checks stay linear even
 * for hostile files with millions of entries. */

typedef struct {
    gf_strmap map;
    gf_span *names; /* (n) views of the names read so far */
} name_index;

static int index_init(name_index *ix, uint64_t n) {
    ix->names = malloc((n ? n : 1) * sizeof *ix->names);
    return !ix->names || gf_strmap_init(&ix->map, n) ? -1 : 0;
}

static void index_free(name_index *ix) {
    gf_strmap_free(&ix->map);
    free(ix->names);
}

/* Returns the index already holding name, or inserts idx (names come in index order) and returns -1. */
static int64_t index_put(name_index *ix, const gf_str *name, uint64_t idx) {
    ix->names[idx] = (gf_span){name->s, (uint32_t)name->len}; /* names are capped at MAX_KEY bytes */
    return gf_strmap_insert(&ix->map, ix->names, (uint32_t)idx);
}

/* ---------------------------------------------------------------- values */
/* Every read goes through common/reader.h, which checks the bytes left first. */

static gf_status rd_str(gf_reader *r, gf_str *s, uint64_t max, const char *what) {
    return gf_reader_str64(r, max, &s->s, &s->len, what);
}

static gf_status rd_array(gf_reader *r, gf_kv *kv, const char *what) {
    GF_TRY(gf_reader_u32(r, &kv->arr_type, what));
    GF_TRY(gf_reader_u64(r, &kv->n, what));
    GF_FAIL_IF(kv->arr_type == GF_GGUF_ARRAY || kv->arr_type >= GF_GGUF_NTYPES_, r->err, GF_E_FORMAT,
               "%s: key '%.80s': array element type %u is not valid", r->name, kv->key.s, kv->arr_type);
    /* every element takes at least this many bytes: check before allocating */
    uint64_t min_elem = kv->arr_type == GF_GGUF_STRING ? 8 : gf_gguf_vtype_size(kv->arr_type);
    GF_FAIL_IF(kv->n > gf_reader_left(r) / min_elem, r->err, GF_E_FORMAT,
               "%s: key '%.80s': array of %llu elements cannot fit in the %llu bytes left", r->name, kv->key.s,
               (unsigned long long)kv->n, (unsigned long long)gf_reader_left(r));
    if (kv->arr_type == GF_GGUF_STRING) {
        gf_str *a = calloc(kv->n ? kv->n : 1, sizeof *a);
        GF_FAIL_IF(!a, r->err, GF_E_NOMEM, "%s: out of memory for key '%.80s'", r->name, kv->key.s);
        kv->arr = a;
        for (uint64_t i = 0; i < kv->n; i++) {
            gf_status st = rd_str(r, &a[i], UINT64_MAX, what);
            if (st) {
                kv->n = i; /* kv_clear frees what was read */
                return st;
            }
        }
        return GF_OK;
    }
    uint64_t bytes = kv->n * min_elem; /* cannot overflow: bounded by the bytes left */
    kv->arr = malloc(bytes ? bytes : 1);
    GF_FAIL_IF(!kv->arr, r->err, GF_E_NOMEM, "%s: out of memory for key '%.80s'", r->name, kv->key.s);
    return gf_reader_bytes(r, kv->arr, bytes, what);
}

static gf_status rd_value(gf_reader *r, gf_kv *kv) {
    char what[128];
    snprintf(what, sizeof what, "value of key '%.80s'", kv->key.s);
    if (kv->type == GF_GGUF_STRING) return rd_str(r, &kv->str, UINT64_MAX, what);
    if (kv->type == GF_GGUF_ARRAY) return rd_array(r, kv, what);
    kv->n = 1;
    return gf_reader_bytes(r, &kv->v, gf_gguf_vtype_size(kv->type), what);
}

/* ---------------------------------------------------------------- reader */
/* parse = header, key/values, alignment, tensor infos, data placement. */

static gf_status parse_header(gf_reader *r, gf_gguf *g, uint64_t *n_tensors, uint64_t *n_kv) {
    char magic[4];
    GF_TRY(gf_reader_bytes(r, magic, 4, "magic"));
    GF_FAIL_IF(memcmp(magic, "GGUF", 4) != 0, r->err, GF_E_FORMAT, "%s: not a GGUF file (bad magic %02x %02x %02x %02x)",
               g->path, (uint8_t)magic[0], (uint8_t)magic[1], (uint8_t)magic[2], (uint8_t)magic[3]);
    GF_TRY(gf_reader_u32(r, &g->version, "version"));
    GF_FAIL_IF(g->version != 2 && g->version != 3, r->err, GF_E_UNSUPPORTED,
               "%s: GGUF version %u is not supported (2 and 3 are)", g->path, g->version);
    GF_TRY(gf_reader_u64(r, n_tensors, "tensor count"));
    GF_TRY(gf_reader_u64(r, n_kv, "key/value count"));
    /* a key/value takes >= 8+1+4+1 bytes, a tensor info >= 8+1+4+8+4+8 */
    GF_FAIL_IF(*n_kv > gf_reader_left(r) / 14, r->err, GF_E_FORMAT, "%s: key/value count %llu cannot fit in a %llu-byte file",
               g->path, (unsigned long long)*n_kv, (unsigned long long)r->len);
    GF_FAIL_IF(*n_tensors > gf_reader_left(r) / 33, r->err, GF_E_FORMAT,
               "%s: tensor count %llu cannot fit in a %llu-byte file", g->path, (unsigned long long)*n_tensors,
               (unsigned long long)r->len);
    /* names are indexed by 32-bit ids; real files have thousands */
    GF_FAIL_IF(*n_kv >= UINT32_MAX || *n_tensors >= UINT32_MAX, r->err, GF_E_UNSUPPORTED,
               "%s: %llu tensors and %llu key/values: more than gguf-forge reads (%u each)", g->path,
               (unsigned long long)*n_tensors, (unsigned long long)*n_kv, UINT32_MAX - 1);
    return GF_OK;
}

/* Key/value i: name (unique, no NUL), type, value. */
static gf_status parse_kv(gf_reader *r, gf_gguf *g, uint64_t i, name_index *ix) {
    gf_kv *kv = &g->kv[i];
    GF_TRY(rd_str(r, &kv->key, MAX_KEY, "key name"));
    GF_FAIL_IF(kv->key.len == 0 || strlen(kv->key.s) != kv->key.len, r->err, GF_E_FORMAT,
               "%s: key/value %llu has an empty name or a NUL inside it", g->path, (unsigned long long)i);
    GF_TRY(gf_reader_u32(r, &kv->type, "value type"));
    GF_FAIL_IF(kv->type >= GF_GGUF_NTYPES_, r->err, GF_E_FORMAT,
               "%s: key '%.80s' has value type %u, which is not a GGUF type", g->path, kv->key.s, kv->type);
    GF_FAIL_IF(index_put(ix, &kv->key, i) >= 0, r->err, GF_E_FORMAT,
               "%s: duplicate key '%.80s'", g->path, kv->key.s);
    return rd_value(r, kv);
}

static gf_status parse_kvs(gf_reader *r, gf_gguf *g, uint64_t n_kv) {
    gf_status rc = GF_OK;
    name_index ix = {0};
    g->kv = calloc(n_kv ? n_kv : 1, sizeof *g->kv);
    GF_FAIL_GOTO_IF(!g->kv || index_init(&ix, n_kv), r->err, GF_E_NOMEM, "%s: out of memory", g->path);
    for (uint64_t i = 0; i < n_kv; i++) {
        g->n_kv = i + 1; /* gf_gguf_close frees what was read */
        GF_TRY_GOTO(parse_kv(r, g, i, &ix));
    }
done:
    index_free(&ix);
    return rc;
}

static gf_status read_alignment(gf_gguf *g, gf_err *err) {
    g->alignment = GF_GGUF_DEFAULT_ALIGNMENT;
    const gf_kv *al = gf_gguf_find(g, "general.alignment");
    if (!al) return GF_OK;
    GF_FAIL_IF(al->type != GF_GGUF_U32 || al->v.u32 == 0 || (al->v.u32 & (al->v.u32 - 1)), err, GF_E_FORMAT,
               "%s: key 'general.alignment' must be a u32 power of two", g->path);
    g->alignment = al->v.u32;
    return GF_OK;
}

/* The shape and type of tensor t (its name read): dims, then the type, then the byte size. */
static gf_status parse_shape(gf_reader *r, gf_gguf *g, gf_gguf_tensor *t, const char *what) {
    GF_TRY(gf_reader_u32(r, &t->n_dims, what));
    GF_FAIL_IF(t->n_dims < 1 || t->n_dims > GF_GGUF_MAX_DIMS, r->err, GF_E_FORMAT,
               "%s: tensor '%s' has %u dimensions (1 to 4 allowed)", g->path, t->name.s, t->n_dims);
    uint64_t nel = 1;
    for (uint32_t d = 0; d < GF_GGUF_MAX_DIMS; d++) {
        uint64_t ne = 1;
        if (d < t->n_dims) GF_TRY(gf_reader_u64(r, &ne, what));
        GF_FAIL_IF(ne == 0 || ne > (uint64_t)INT64_MAX || gf_mul_overflow(nel, ne, &nel) || nel > (uint64_t)INT64_MAX,
                   r->err, GF_E_FORMAT, "%s: tensor '%s' has a zero or overflowing shape (dimension %u = %llu)",
                   g->path, t->name.s, d, (unsigned long long)ne);
        t->ne[d] = (int64_t)ne;
    }
    uint32_t type;
    GF_TRY(gf_reader_u32(r, &type, what));
    const gf_type_traits *tt = gf_type_info(type);
    char list[160];
    GF_FAIL_IF(!tt || !tt->to_float, r->err, GF_E_UNSUPPORTED,
               "%s: tensor '%s' has type id %u (%s), which gguf-forge does not read (%s)", g->path, t->name.s, type,
               gf_ggml_type_name(type), gf_type_list(gf_type_can_read, list, sizeof list));
    t->type = (gf_type)type;
    GF_FAIL_IF(t->ne[0] % tt->block_size, r->err, GF_E_FORMAT,
               "%s: tensor '%s': row of %lld elements is not a multiple of the %s block size %lld", g->path,
               t->name.s, (long long)t->ne[0], tt->name, (long long)tt->block_size);
    uint64_t rows = nel / (uint64_t)t->ne[0];
    GF_FAIL_IF(gf_mul_overflow(gf_row_size(t->type, t->ne[0]), rows, &t->nbytes), r->err, GF_E_FORMAT,
               "%s: tensor '%s': byte size overflows", g->path, t->name.s);
    return GF_OK;
}

/* Tensor info i; *expect is the data offset it must have, moved past its padded data. */
static gf_status parse_tensor_info(gf_reader *r, gf_gguf *g, uint64_t i, name_index *ix, uint64_t *expect) {
    gf_gguf_tensor *t = &g->tensors[i];
    GF_TRY(rd_str(r, &t->name, MAX_NAME, "tensor name"));
    GF_FAIL_IF(t->name.len == 0 || strlen(t->name.s) != t->name.len, r->err, GF_E_FORMAT,
               "%s: tensor %llu has an empty name or a NUL inside it", g->path, (unsigned long long)i);
    GF_FAIL_IF(index_put(ix, &t->name, i) >= 0, r->err, GF_E_FORMAT,
               "%s: duplicate tensor '%s'", g->path, t->name.s);
    char what[MAX_NAME + 32];
    snprintf(what, sizeof what, "tensor '%s'", t->name.s);
    GF_TRY(parse_shape(r, g, t, what));
    GF_TRY(gf_reader_u64(r, &t->offset, what));
    GF_FAIL_IF(t->offset != *expect, r->err, GF_E_FORMAT,
               "%s: tensor '%s' has data offset %llu, expected %llu (data must be aligned and contiguous)", g->path,
               t->name.s, (unsigned long long)t->offset, (unsigned long long)*expect);
    uint64_t padded = t->nbytes + (g->alignment - t->nbytes % g->alignment) % g->alignment;
    GF_FAIL_IF(gf_add_overflow(*expect, padded, expect) || padded < t->nbytes, r->err, GF_E_FORMAT,
               "%s: tensor '%s': data offsets overflow", g->path, t->name.s);
    g->data_size = t->offset + t->nbytes;
    return GF_OK;
}

static gf_status parse_tensor_infos(gf_reader *r, gf_gguf *g, uint64_t n_tensors) {
    gf_status rc = GF_OK;
    name_index ix = {0};
    uint64_t expect = 0; /* the offset the next tensor must have */
    g->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *g->tensors);
    GF_FAIL_GOTO_IF(!g->tensors || index_init(&ix, n_tensors), r->err, GF_E_NOMEM, "%s: out of memory", g->path);
    for (uint64_t i = 0; i < n_tensors; i++) {
        g->n_tensors = i + 1;
        GF_TRY_GOTO(parse_tensor_info(r, g, i, &ix, &expect));
    }
done:
    index_free(&ix);
    return rc;
}

/* The data section starts at the next aligned byte and must hold every tensor. */
static gf_status place_data(gf_gguf *g, const uint8_t *buf, uint64_t len, uint64_t header_end, gf_err *err) {
    g->data_offset = header_end + (g->alignment - header_end % g->alignment) % g->alignment;
    if (g->n_tensors && (g->data_offset > len || g->data_size > len - g->data_offset)) {
        const gf_gguf_tensor *last = &g->tensors[g->n_tensors - 1];
        return gf_errf(err, GF_E_FORMAT, "%s: tensor '%s' data [%llu, %llu) lies past the end of the file (%llu bytes)",
                       g->path, last->name.s, (unsigned long long)(g->data_offset + last->offset),
                       (unsigned long long)(g->data_offset + last->offset + last->nbytes), (unsigned long long)len);
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) g->tensors[i].data = buf + g->data_offset + g->tensors[i].offset;
    return GF_OK;
}

static gf_status parse(gf_gguf *g, const uint8_t *buf, uint64_t len, gf_err *err) {
    gf_reader r;
    gf_reader_init(&r, buf, len, g->path, err);
    uint64_t n_tensors, n_kv;
    GF_TRY(parse_header(&r, g, &n_tensors, &n_kv));
    GF_TRY(parse_kvs(&r, g, n_kv));
    GF_TRY(read_alignment(g, err));
    GF_TRY(parse_tensor_infos(&r, g, n_tensors));
    return place_data(g, buf, len, r.pos, err);
}

static gf_gguf *gguf_new(const char *name) {
    gf_gguf *g = calloc(1, sizeof *g);
    if (g && !(g->path = strdup(name))) {
        free(g);
        g = NULL;
    }
    return g;
}

gf_status gf_gguf_parse(const void *buf, size_t len, const char *name, gf_gguf **out, gf_err *err) {
    *out = NULL;
    gf_gguf *g = gguf_new(name ? name : "<memory>");
    if (!g) return gf_errf(err, GF_E_NOMEM, "out of memory");
    gf_status st = parse(g, buf, len, err);
    if (st) {
        gf_gguf_close(g);
        return st;
    }
    *out = g;
    return GF_OK;
}

gf_status gf_gguf_open(const char *path, gf_gguf **out, gf_err *err) {
    *out = NULL;
    gf_status st;
    gf_gguf *g = gguf_new(path);
    if (!g) return gf_errf(err, GF_E_NOMEM, "out of memory");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        st = gf_errf(err, GF_E_IO, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = gf_errf(err, GF_E_IO, "%s: not a regular file", path);
        goto fail;
    }
    if (sb.st_size == 0) {
        st = gf_errf(err, GF_E_FORMAT, "%s: empty file", path);
        goto fail;
    }
    g->map_size = (size_t)sb.st_size;
    g->map = mmap(NULL, g->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (g->map == MAP_FAILED) {
        g->map = NULL;
        st = gf_errf(err, GF_E_IO, "%s: cannot map: %s", path, strerror(errno));
        goto fail;
    }
    close(fd);
    fd = -1;
    if ((st = parse(g, g->map, g->map_size, err))) goto fail;
    *out = g;
    return GF_OK;
fail:
    if (fd >= 0) close(fd);
    gf_gguf_close(g);
    return st;
}

void gf_gguf_close(gf_gguf *g) {
    if (!g) return;
    for (uint64_t i = 0; i < g->n_kv; i++) kv_clear(&g->kv[i]);
    for (uint64_t i = 0; i < g->n_tensors; i++) str_free(&g->tensors[i].name);
    free(g->kv);
    free(g->tensors);
    if (g->map) munmap(g->map, g->map_size);
    free(g->path);
    free(g);
}

void gf_gguf_release(const gf_gguf *g, const gf_gguf_tensor *t) {
    if (!g->map || !t->data) return;
    const uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t a = ((uintptr_t)t->data + pg - 1) & ~(pg - 1), b = ((uintptr_t)t->data + t->nbytes) & ~(pg - 1);
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED); /* advice: if it fails, the pages just stay */
}

const gf_kv *gf_gguf_find(const gf_gguf *g, const char *key) {
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (strcmp(g->kv[i].key.s, key) == 0) return &g->kv[i];
    return NULL;
}

int64_t gf_gguf_find_tensor(const gf_gguf *g, const char *name) {
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name.s, name) == 0) return (int64_t)i;
    return -1;
}

/* ---------------------------------------------------------------- typed getters */

static const gf_kv *need_key(const gf_gguf *g, const char *key, gf_err *err) {
    const gf_kv *kv = gf_gguf_find(g, key);
    if (!kv) gf_errf(err, GF_E_FORMAT, "%s: key '%s' is missing", g->path, key);
    return kv;
}

/* Any integer scalar as a signed 128-bit-safe pair: returns 0 if kv is an integer. */
static int kv_int(const gf_kv *kv, int64_t *s, uint64_t *u, int *is_unsigned) {
    *is_unsigned = 0;
    switch (kv->type) {
    case GF_GGUF_U8: *u = kv->v.u8; *is_unsigned = 1; return 0;
    case GF_GGUF_U16: *u = kv->v.u16; *is_unsigned = 1; return 0;
    case GF_GGUF_U32: *u = kv->v.u32; *is_unsigned = 1; return 0;
    case GF_GGUF_U64: *u = kv->v.u64; *is_unsigned = 1; return 0;
    case GF_GGUF_I8: *s = kv->v.i8; return 0;
    case GF_GGUF_I16: *s = kv->v.i16; return 0;
    case GF_GGUF_I32: *s = kv->v.i32; return 0;
    case GF_GGUF_I64: *s = kv->v.i64; return 0;
    default: return -1;
    }
}

gf_status gf_gguf_get_u32(const gf_gguf *g, const char *key, uint32_t *out, gf_err *err) {
    const gf_kv *kv = need_key(g, key, err);
    if (!kv) return GF_E_FORMAT;
    int64_t s = 0;
    uint64_t u = 0;
    int is_u;
    if (kv_int(kv, &s, &u, &is_u))
        return gf_errf(err, GF_E_FORMAT, "%s: key '%s' has type %s, expected an integer", g->path, key,
                       gf_gguf_vtype_name(kv->type));
    if (is_u ? u > UINT32_MAX : (s < 0 || s > (int64_t)UINT32_MAX))
        return gf_errf(err, GF_E_FORMAT, "%s: key '%s' value is out of range", g->path, key);
    *out = is_u ? (uint32_t)u : (uint32_t)s;
    return GF_OK;
}

gf_status gf_gguf_get_f32(const gf_gguf *g, const char *key, float *out, gf_err *err) {
    const gf_kv *kv = need_key(g, key, err);
    if (!kv) return GF_E_FORMAT;
    if (kv->type == GF_GGUF_F32) *out = kv->v.f32;
    else if (kv->type == GF_GGUF_F64) *out = (float)kv->v.f64;
    else
        return gf_errf(err, GF_E_FORMAT, "%s: key '%s' has type %s, expected f32", g->path, key,
                       gf_gguf_vtype_name(kv->type));
    return GF_OK;
}

gf_status gf_gguf_get_bool(const gf_gguf *g, const char *key, int *out, gf_err *err) {
    const gf_kv *kv = need_key(g, key, err);
    if (!kv) return GF_E_FORMAT;
    if (kv->type != GF_GGUF_BOOL)
        return gf_errf(err, GF_E_FORMAT, "%s: key '%s' has type %s, expected bool", g->path, key,
                       gf_gguf_vtype_name(kv->type));
    *out = kv->v.b != 0;
    return GF_OK;
}

gf_status gf_gguf_get_str(const gf_gguf *g, const char *key, const gf_str **out, gf_err *err) {
    const gf_kv *kv = need_key(g, key, err);
    if (!kv) return GF_E_FORMAT;
    if (kv->type != GF_GGUF_STRING)
        return gf_errf(err, GF_E_FORMAT, "%s: key '%s' has type %s, expected a string", g->path, key,
                       gf_gguf_vtype_name(kv->type));
    *out = &kv->str;
    return GF_OK;
}

gf_status gf_gguf_get_arr(const gf_gguf *g, const char *key, uint32_t elem_type, const gf_kv **out, gf_err *err) {
    const gf_kv *kv = need_key(g, key, err);
    if (!kv) return GF_E_FORMAT;
    if (kv->type != GF_GGUF_ARRAY || kv->arr_type != elem_type)
        return gf_errf(err, GF_E_FORMAT, "%s: key '%s' has type %s%s%s, expected an array of %s", g->path, key,
                       gf_gguf_vtype_name(kv->type), kv->type == GF_GGUF_ARRAY ? " of " : "",
                       kv->type == GF_GGUF_ARRAY ? gf_gguf_vtype_name(kv->arr_type) : "",
                       gf_gguf_vtype_name(elem_type));
    *out = kv;
    return GF_OK;
}

/* ---------------------------------------------------------------- writer */

typedef struct {
    char *name;
    gf_type type;
    uint32_t n_dims;
    int64_t ne[GF_GGUF_MAX_DIMS];
    uint64_t offset, nbytes;
} wtensor;

struct gf_gguf_writer {
    gf_kv *kv;
    uint64_t n_kv;
    size_t cap_kv;
    wtensor *t;
    uint64_t n_t;
    size_t cap_t;
    uint64_t data_size;   /* padded bytes of all declared tensors          */
    uint64_t header_size; /* set by write_header (includes padding)       */
    uint64_t next;        /* next tensor whose data must be written       */
    uint64_t part;        /* bytes of tensor `next` written so far        */
    int header_written;
};

gf_gguf_writer *gf_gguf_writer_new(void) { return calloc(1, sizeof(gf_gguf_writer)); }

void gf_gguf_writer_free(gf_gguf_writer *w) {
    if (!w) return;
    for (uint64_t i = 0; i < w->n_kv; i++) kv_clear(&w->kv[i]);
    for (uint64_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

static uint64_t writer_alignment(const gf_gguf_writer *w) {
    const gf_kv *al = gf_gguf_writer_find(w, "general.alignment");
    return al && al->type == GF_GGUF_U32 && al->v.u32 && !(al->v.u32 & (al->v.u32 - 1)) ? al->v.u32
                                                                                       : GF_GGUF_DEFAULT_ALIGNMENT;
}

const gf_kv *gf_gguf_writer_find(const gf_gguf_writer *w, const char *key) {
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key.s, key) == 0) return &w->kv[i];
    return NULL;
}

/* A cleared slot for key: the existing one (value freed), or a new one at the end. */
static gf_kv *kv_slot(gf_gguf_writer *w, const char *key) {
    for (uint64_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key.s, key) == 0) {
            gf_str k = w->kv[i].key;
            w->kv[i].key.s = NULL;
            kv_clear(&w->kv[i]);
            w->kv[i].key = k;
            return &w->kv[i];
        }
    }
    if (gf_array_reserve(&w->kv, &w->cap_kv, w->n_kv + 1, 32)) return NULL;
    gf_kv *kv = &w->kv[w->n_kv];
    memset(kv, 0, sizeof *kv);
    if (str_dup(&kv->key, key, strlen(key))) return NULL;
    w->n_kv++;
    return kv;
}

static gf_status set_scalar(gf_gguf_writer *w, const char *key, uint32_t type, const void *v) {
    gf_kv *kv = kv_slot(w, key);
    if (!kv) return GF_E_NOMEM;
    kv->type = type;
    kv->n = 1;
    memcpy(&kv->v, v, gf_gguf_vtype_size(type));
    return GF_OK;
}

gf_status gf_gguf_set_u32(gf_gguf_writer *w, const char *key, uint32_t v) { return set_scalar(w, key, GF_GGUF_U32, &v); }
gf_status gf_gguf_set_i32(gf_gguf_writer *w, const char *key, int32_t v) { return set_scalar(w, key, GF_GGUF_I32, &v); }
gf_status gf_gguf_set_u64(gf_gguf_writer *w, const char *key, uint64_t v) { return set_scalar(w, key, GF_GGUF_U64, &v); }
gf_status gf_gguf_set_f32(gf_gguf_writer *w, const char *key, float v) { return set_scalar(w, key, GF_GGUF_F32, &v); }
gf_status gf_gguf_set_bool(gf_gguf_writer *w, const char *key, int v) {
    uint8_t b = v != 0;
    return set_scalar(w, key, GF_GGUF_BOOL, &b);
}

gf_status gf_gguf_set_str(gf_gguf_writer *w, const char *key, const char *v) {
    gf_kv *kv = kv_slot(w, key);
    if (!kv) return GF_E_NOMEM;
    kv->type = GF_GGUF_STRING;
    kv->n = 1;
    return str_dup(&kv->str, v, strlen(v)) ? GF_E_NOMEM : GF_OK;
}

static gf_status set_arr_gstr(gf_gguf_writer *w, const char *key, const gf_str *v, const char *const *cs, uint64_t n) {
    gf_kv *kv = kv_slot(w, key);
    if (!kv) return GF_E_NOMEM;
    kv->type = GF_GGUF_ARRAY;
    kv->arr_type = GF_GGUF_STRING;
    gf_str *a = calloc(n ? n : 1, sizeof *a);
    if (!a) return GF_E_NOMEM;
    kv->arr = a;
    for (uint64_t i = 0; i < n; i++) {
        int rc = v ? str_dup(&a[i], v[i].s, v[i].len) : str_dup(&a[i], cs[i], strlen(cs[i]));
        if (rc) return GF_E_NOMEM;
        kv->n = i + 1;
    }
    return GF_OK;
}

gf_status gf_gguf_set_arr_str(gf_gguf_writer *w, const char *key, const char *const *v, uint64_t n) {
    return set_arr_gstr(w, key, NULL, v, n);
}

gf_status gf_gguf_set_arr(gf_gguf_writer *w, const char *key, uint32_t elem_type, const void *data, uint64_t n) {
    size_t es = gf_gguf_vtype_size(elem_type);
    if (!es) return GF_E_USAGE;
    gf_kv *kv = kv_slot(w, key);
    if (!kv) return GF_E_NOMEM;
    kv->type = GF_GGUF_ARRAY;
    kv->arr_type = elem_type;
    uint64_t bytes;
    if (gf_mul_overflow(n, es, &bytes) || !(kv->arr = malloc(bytes ? bytes : 1))) return GF_E_NOMEM;
    if (n) memcpy(kv->arr, data, n * es);
    kv->n = n;
    return GF_OK;
}

gf_status gf_gguf_set_kv(gf_gguf_writer *w, const gf_kv *src) {
    if (src->type == GF_GGUF_STRING) return gf_gguf_set_str(w, src->key.s, src->str.s);
    if (src->type == GF_GGUF_ARRAY && src->arr_type == GF_GGUF_STRING)
        return set_arr_gstr(w, src->key.s, src->arr, NULL, src->n);
    if (src->type == GF_GGUF_ARRAY) return gf_gguf_set_arr(w, src->key.s, src->arr_type, src->arr, src->n);
    return set_scalar(w, src->key.s, src->type, &src->v);
}

gf_status gf_gguf_add_tensor(gf_gguf_writer *w, const char *name, gf_type type, uint32_t n_dims,
                             const int64_t *ne, gf_err *err) {
    if (w->header_written) return gf_errf(err, GF_E_USAGE, "tensor '%s' added after the header was written", name);
    size_t len = strlen(name);
    if (len == 0 || len >= 64) return gf_errf(err, GF_E_USAGE, "tensor name '%s' must have 1 to 63 bytes", name);
    if (n_dims < 1 || n_dims > GF_GGUF_MAX_DIMS)
        return gf_errf(err, GF_E_USAGE, "tensor '%s': %u dimensions (1 to 4 allowed)", name, n_dims);
    for (uint64_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0) return gf_errf(err, GF_E_USAGE, "duplicate tensor '%s'", name);
    wtensor t = {.type = type, .n_dims = n_dims, .ne = {1, 1, 1, 1}};
    uint64_t rows = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] <= 0) return gf_errf(err, GF_E_USAGE, "tensor '%s': dimension %u is %lld", name, d, (long long)ne[d]);
        t.ne[d] = ne[d];
        if (d > 0 && gf_mul_overflow(rows, (uint64_t)ne[d], &rows))
            return gf_errf(err, GF_E_USAGE, "tensor '%s': shape overflows", name);
    }
    size_t rs = gf_row_size(type, t.ne[0]);
    if (!rs)
        return gf_errf(err, GF_E_USAGE, "tensor '%s': row of %lld elements does not fit type %s", name,
                       (long long)t.ne[0], gf_type_info(type) ? gf_type_info(type)->name : "?");
    if (gf_mul_overflow(rs, rows, &t.nbytes)) return gf_errf(err, GF_E_USAGE, "tensor '%s': size overflows", name);
    if (gf_array_reserve(&w->t, &w->cap_t, w->n_t + 1, 64)) return gf_errf(err, GF_E_NOMEM, "out of memory");
    if (!(t.name = strdup(name))) return gf_errf(err, GF_E_NOMEM, "out of memory");
    uint64_t al = writer_alignment(w);
    t.offset = w->data_size;
    w->data_size += t.nbytes + (al - t.nbytes % al) % al;
    w->t[w->n_t++] = t;
    return GF_OK;
}

uint64_t gf_gguf_writer_n_tensors(const gf_gguf_writer *w) { return w->n_t; }
uint64_t gf_gguf_tensor_nbytes_at(const gf_gguf_writer *w, uint64_t idx) { return idx < w->n_t ? w->t[idx].nbytes : 0; }

/* growable byte buffer for the header */
typedef struct {
    uint8_t *p;
    size_t n, cap;
    int oom;
} buf_t;

static void put(buf_t *b, const void *src, size_t n) {
    if (b->oom) return;
    if (n > SIZE_MAX - b->n || gf_array_reserve(&b->p, &b->cap, b->n + n, 4096)) {
        b->oom = 1;
        return;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void put_u32(buf_t *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(buf_t *b, uint64_t v) { put(b, &v, 8); }
static void put_str(buf_t *b, const char *s, uint64_t len) {
    put_u64(b, len);
    put(b, s, len);
}

static void serialize(const gf_gguf_writer *w, buf_t *b) {
    put(b, "GGUF", 4);
    put_u32(b, 3);
    put_u64(b, w->n_t);
    put_u64(b, w->n_kv);
    for (uint64_t i = 0; i < w->n_kv; i++) {
        const gf_kv *kv = &w->kv[i];
        put_str(b, kv->key.s, kv->key.len);
        put_u32(b, kv->type);
        if (kv->type == GF_GGUF_STRING) {
            put_str(b, kv->str.s, kv->str.len);
        } else if (kv->type == GF_GGUF_ARRAY) {
            put_u32(b, kv->arr_type);
            put_u64(b, kv->n);
            if (kv->arr_type == GF_GGUF_STRING) {
                const gf_str *a = kv->arr;
                for (uint64_t j = 0; j < kv->n; j++) put_str(b, a[j].s, a[j].len);
            } else {
                put(b, kv->arr, kv->n * gf_gguf_vtype_size(kv->arr_type));
            }
        } else {
            put(b, &kv->v, gf_gguf_vtype_size(kv->type));
        }
    }
    for (uint64_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        put_str(b, t->name, strlen(t->name));
        put_u32(b, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) put_u64(b, (uint64_t)t->ne[d]);
        put_u32(b, (uint32_t)t->type);
        put_u64(b, t->offset);
    }
    static const uint8_t zeros[256];
    uint64_t al = writer_alignment(w);
    for (uint64_t pad = (al - b->n % al) % al; pad;) {
        uint64_t n = pad < sizeof zeros ? pad : sizeof zeros;
        put(b, zeros, n);
        pad -= n;
    }
}

uint64_t gf_gguf_writer_total_size(const gf_gguf_writer *w) {
    buf_t b = {0};
    serialize(w, &b);
    uint64_t n = b.n;
    free(b.p);
    return n + w->data_size;
}

gf_status gf_gguf_write_header(gf_gguf_writer *w, gf_sink *sink, gf_err *err) {
    if (w->header_written) return gf_errf(err, GF_E_USAGE, "GGUF header written twice");
    buf_t b = {0};
    serialize(w, &b);
    if (b.oom) {
        free(b.p);
        return gf_errf(err, GF_E_NOMEM, "out of memory serializing the GGUF header");
    }
    gf_status st = sink->write(sink->ctx, b.p, b.n, err);
    w->header_size = b.n;
    w->header_written = 1;
    free(b.p);
    return st;
}

gf_status gf_gguf_write_tensor_part(gf_gguf_writer *w, gf_sink *sink, uint64_t idx, const void *data,
                                    uint64_t nbytes, gf_err *err) {
    if (!w->header_written || idx != w->next || idx >= w->n_t)
        return gf_errf(err, GF_E_USAGE, "tensor data written out of order (index %llu, expected %llu)",
                       (unsigned long long)idx, (unsigned long long)w->next);
    const wtensor *t = &w->t[idx];
    if (nbytes > t->nbytes - w->part)
        return gf_errf(err, GF_E_USAGE, "tensor '%s': %llu more bytes given, only %llu declared", t->name,
                       (unsigned long long)(w->part + nbytes), (unsigned long long)t->nbytes);
    gf_status st = nbytes ? sink->write(sink->ctx, data, nbytes, err) : GF_OK;
    if (st) return st;
    w->part += nbytes;
    if (w->part < t->nbytes) return GF_OK;
    static const uint8_t zeros[256];
    uint64_t al = writer_alignment(w), pad = (al - t->nbytes % al) % al;
    while (pad) {
        uint64_t n = pad < sizeof zeros ? pad : sizeof zeros;
        if ((st = sink->write(sink->ctx, zeros, n, err))) return st;
        pad -= n;
    }
    w->part = 0;
    w->next++;
    return GF_OK;
}

gf_status gf_gguf_write_tensor_data(gf_gguf_writer *w, gf_sink *sink, uint64_t idx, const void *data,
                                    uint64_t nbytes, gf_err *err) {
    if (idx < w->n_t && (w->part != 0 || nbytes != w->t[idx].nbytes))
        return gf_errf(err, GF_E_USAGE, "tensor '%s': %llu bytes given, %llu declared", w->t[idx].name,
                       (unsigned long long)nbytes, (unsigned long long)w->t[idx].nbytes);
    return gf_gguf_write_tensor_part(w, sink, idx, data, nbytes, err);
}
