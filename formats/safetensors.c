/*
 * safetensors.c - reads Hugging Face safetensors files (single or sharded).
 *
 * Every header is validated before any data is read: dtype known, at most 4
 * dims, byte counts equal to shape x dtype size (overflow-checked), data offsets
 * in bounds, non-overlapping and contiguous over the whole data buffer.  The header
 * and the data are read with pread through common/reader.h (16-bit data through a
 * scratch buffer the size of the request),
 * so no file is mapped and resident memory stays small.  Does not write safetensors.
 * Format: github.com/huggingface/safetensors (8-byte LE header length, JSON header, data).
 */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "../common/reader.h"

#define MAX_HEADER_BYTES ((uint64_t)100 << 20) /* the reference implementation's cap */
#define MAX_TENSORS_PER_FILE (1 << 20)
#define MAX_SHARDS 4096

/* ---------------------------------------------------------------- header */

static int dtype_of(const char *s, gf_type *t) {
    if (strcmp(s, "F32") == 0) *t = GF_TYPE_F32;
    else if (strcmp(s, "F16") == 0) *t = GF_TYPE_F16;
    else if (strcmp(s, "BF16") == 0) *t = GF_TYPE_BF16;
    else return -1;
    return 0;
}

static int dtype_known_unsupported(const char *s) {
    static const char *known[] = {"F64", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8",
                                  "BOOL", "F8_E4M3", "F8_E5M2", "F4", "F6_E2M3", "F6_E3M2", "E8M0"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(s, known[i]) == 0) return 1;
    return 0;
}

typedef struct {
    uint64_t begin, end;
    int64_t idx;
} span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end > y->end) - (x->end < y->end);
}

static gf_status parse_entry(const cJSON *e, gf_st_tensor *t, uint64_t *begin, uint64_t *end, const char *name,
                             gf_err *err) {
    const char *tn = e->string;
    char what[512];
    if (!cJSON_IsObject(e)) return gf_errf(err, GF_E_FORMAT, "%s: tensor '%s': entry is not an object", name, tn);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt)) return gf_errf(err, GF_E_FORMAT, "%s: tensor '%s': 'dtype' missing or not a string", name, tn);
    if (dtype_of(dt->valuestring, &t->dtype)) {
        if (dtype_known_unsupported(dt->valuestring))
            return gf_errf(err, GF_E_UNSUPPORTED, "%s: tensor '%s': dtype %s is not supported (F32, F16, BF16 are)",
                           name, tn, dt->valuestring);
        return gf_errf(err, GF_E_FORMAT, "%s: tensor '%s': unknown dtype '%.40s'", name, tn, dt->valuestring);
    }
    if (!cJSON_IsArray(sh)) return gf_errf(err, GF_E_FORMAT, "%s: tensor '%s': 'shape' missing or not an array", name, tn);
    int nd = cJSON_GetArraySize(sh);
    if (nd > GF_ST_MAX_DIMS)
        return gf_errf(err, GF_E_UNSUPPORTED, "%s: tensor '%s' has %d dimensions (at most %d supported)", name, tn, nd,
                       GF_ST_MAX_DIMS);
    t->n_dims = (uint32_t)nd;
    uint64_t nel = 1;
    for (int d = 0; d < nd; d++) {
        int64_t v;
        snprintf(what, sizeof what, "tensor '%s': shape[%d]", tn, d);
        gf_status st = gf_json_int(cJSON_GetArrayItem(sh, d), 0, INT64_MAX, name, what, &v, err);
        if (st) return st;
        if (v == 0) return gf_errf(err, GF_E_FORMAT, "%s: tensor '%s': shape[%d] is 0 (empty tensor)", name, tn, d);
        t->shape[d] = v;
        if (gf_mul_overflow(nel, (uint64_t)v, &nel) || nel > (uint64_t)INT64_MAX)
            return gf_errf(err, GF_E_FORMAT, "%s: tensor '%s': shape overflows", name, tn);
    }
    t->row_len = nd ? t->shape[nd - 1] : 1;
    t->n_rows = (int64_t)(nel / (uint64_t)t->row_len);
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2)
        return gf_errf(err, GF_E_FORMAT, "%s: tensor '%s': 'data_offsets' must be an array of two integers", name, tn);
    int64_t b, en;
    snprintf(what, sizeof what, "tensor '%s': data_offsets", tn);
    gf_status st = gf_json_int(cJSON_GetArrayItem(off, 0), 0, INT64_MAX, name, what, &b, err);
    if (!st) st = gf_json_int(cJSON_GetArrayItem(off, 1), 0, INT64_MAX, name, what, &en, err);
    if (st) return st;
    if (en < b) return gf_errf(err, GF_E_FORMAT, "%s: tensor '%s': data_offsets [%lld,%lld) end before they begin",
                               name, tn, (long long)b, (long long)en);
    size_t es = gf_type_info(t->dtype)->type_size;
    if (gf_mul_overflow(nel, es, &t->nbytes))
        return gf_errf(err, GF_E_FORMAT, "%s: tensor '%s': byte size overflows", name, tn);
    if ((uint64_t)(en - b) != t->nbytes)
        return gf_errf(err, GF_E_FORMAT, "%s: tensor '%s': data_offsets [%lld,%lld) hold %lld bytes but shape x %s needs %llu",
                       name, tn, (long long)b, (long long)en, (long long)(en - b), dt->valuestring,
                       (unsigned long long)t->nbytes);
    *begin = (uint64_t)b;
    *end = (uint64_t)en;
    return GF_OK;
}

gf_status gf_st_parse_header(gf_safetensors *st, const char *json, size_t json_len, uint64_t file_size, int file,
                             const char *name, gf_err *err) {
    gf_status rc;
    cJSON *root = NULL;
    span *spans = NULL;
    int64_t first = st->n_tensors, n = 0;
    if ((rc = gf_json_parse(json, json_len, name, &root, err))) return rc;
    if (!cJSON_IsObject(root)) {
        rc = gf_errf(err, GF_E_FORMAT, "%s: header is not a JSON object", name);
        goto done;
    }
    uint64_t data_len = file_size - 8 - json_len; /* caller checked json_len + 8 <= file_size */
    int count = cJSON_GetArraySize(root);
    if (count > MAX_TENSORS_PER_FILE) {
        rc = gf_errf(err, GF_E_FORMAT, "%s: header lists %d entries (at most %d)", name, count, MAX_TENSORS_PER_FILE);
        goto done;
    }
    gf_st_tensor *nt = realloc(st->tensors, (size_t)(st->n_tensors + count + 1) * sizeof *nt);
    spans = malloc((size_t)(count + 1) * sizeof *spans);
    if (!nt || !spans) {
        if (nt) st->tensors = nt;
        rc = gf_errf(err, GF_E_NOMEM, "%s: out of memory", name);
        goto done;
    }
    st->tensors = nt;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (!cJSON_IsObject(e)) {
                rc = gf_errf(err, GF_E_FORMAT, "%s: '__metadata__' is not an object", name);
                goto done;
            }
            continue;
        }
        gf_st_tensor *t = &st->tensors[st->n_tensors];
        memset(t, 0, sizeof *t);
        if (strlen(e->string) == 0 || strlen(e->string) > 1024) {
            rc = gf_errf(err, GF_E_FORMAT, "%s: a tensor name is empty or longer than 1024 bytes", name);
            goto done;
        }
        uint64_t b, en;
        if ((rc = parse_entry(e, t, &b, &en, name, err))) goto done;
        if (en > data_len) {
            rc = gf_errf(err, GF_E_FORMAT, "%s: tensor '%s': data_offsets [%llu,%llu) past end of data (%llu bytes)",
                         name, e->string, (unsigned long long)b, (unsigned long long)en, (unsigned long long)data_len);
            goto done;
        }
        if (!(t->name = strdup(e->string))) {
            rc = gf_errf(err, GF_E_NOMEM, "%s: out of memory", name);
            goto done;
        }
        t->file = file;
        t->offset = 8 + json_len + b;
        spans[n] = (span){b, en, st->n_tensors};
        st->n_tensors++;
        n++;
    }
    /* the data buffer must be covered exactly: sorted spans touch end to start */
    qsort(spans, (size_t)n, sizeof *spans, span_cmp);
    uint64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        const char *tn = st->tensors[spans[i].idx].name;
        if (spans[i].begin < at) {
            rc = gf_errf(err, GF_E_FORMAT, "%s: tensor '%s': data_offsets [%llu,%llu) overlap the previous tensor",
                         name, tn, (unsigned long long)spans[i].begin, (unsigned long long)spans[i].end);
            goto done;
        }
        if (spans[i].begin > at) {
            rc = gf_errf(err, GF_E_FORMAT, "%s: tensor '%s': data_offsets [%llu,%llu) leave a gap after byte %llu",
                         name, tn, (unsigned long long)spans[i].begin, (unsigned long long)spans[i].end,
                         (unsigned long long)at);
            goto done;
        }
        at = spans[i].end;
    }
    if (at != data_len) {
        rc = gf_errf(err, GF_E_FORMAT, "%s: tensors cover %llu bytes of a %llu-byte data buffer", name,
                     (unsigned long long)at, (unsigned long long)data_len);
        goto done;
    }
    rc = GF_OK;
done:
    if (rc) { /* drop this file's tensors */
        for (int64_t i = first; i < st->n_tensors; i++) free(st->tensors[i].name);
        st->n_tensors = first;
    }
    free(spans);
    cJSON_Delete(root);
    return rc;
}

/* ---------------------------------------------------------------- files */

/* The 8-byte header length and the JSON header of file f, through the bounded reader. */
static gf_status read_header(gf_safetensors *st, const gf_st_file *f, gf_err *err) {
    gf_reader r;
    uint64_t hlen;
    char *json = NULL;
    GF_FAIL_IF(f->size < 8, err, GF_E_FORMAT, "%s: truncated: %llu bytes, too short for a safetensors header", f->path,
               (unsigned long long)f->size);
    gf_reader_init_fd(&r, f->fd, 0, f->size, f->path, err);
    GF_TRY(gf_reader_u64(&r, &hlen, "header length"));
    GF_FAIL_IF(hlen > gf_reader_left(&r), err, GF_E_FORMAT,
               "%s: header length %llu runs past the end of the file (%llu bytes)", f->path, (unsigned long long)hlen,
               (unsigned long long)f->size);
    GF_FAIL_IF(hlen > MAX_HEADER_BYTES, err, GF_E_FORMAT, "%s: header length %llu is over the %llu-byte limit", f->path,
               (unsigned long long)hlen, (unsigned long long)MAX_HEADER_BYTES);
    GF_TRY(gf_reader_str(&r, hlen, MAX_HEADER_BYTES, &json, "header"));
    gf_status rc = gf_st_parse_header(st, json, hlen, f->size, st->n_files - 1, f->path, err);
    free(json);
    return rc;
}

static gf_status add_file(gf_safetensors *st, const char *path, gf_err *err) {
    gf_st_file *nf = realloc(st->files, (size_t)(st->n_files + 1) * sizeof *nf);
    if (!nf) return gf_errf(err, GF_E_NOMEM, "out of memory");
    st->files = nf;
    gf_st_file *f = &st->files[st->n_files];
    f->fd = -1;
    if (!(f->path = strdup(path))) return gf_errf(err, GF_E_NOMEM, "out of memory");
    st->n_files++;
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) return gf_errf(err, GF_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(f->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) return gf_errf(err, GF_E_IO, "%s: not a regular file", path);
    f->size = (uint64_t)sb.st_size;
    return read_header(st, f, err);
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(((const gf_st_tensor *)a)->name, ((const gf_st_tensor *)b)->name);
}

/* Sharded folder: open every file the index names and check the index agrees. */
static gf_status open_index(gf_safetensors *st, const char *dir, const char *index_path, gf_err *err) {
    cJSON *root = NULL;
    gf_status rc = gf_json_load(index_path, 64u << 20, &root, err);
    if (rc) return rc;
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    char path[PATH_MAX];
    if (!cJSON_IsObject(wm)) {
        rc = gf_errf(err, GF_E_FORMAT, "%s: key 'weight_map' is missing or not an object", index_path);
        goto done;
    }
    for (const cJSON *e = wm->child; e; e = e->next) {
        const char *fn = cJSON_IsString(e) ? e->valuestring : NULL;
        if (!fn || !*fn || strchr(fn, '/') || strcmp(fn, ".") == 0 || strcmp(fn, "..") == 0) {
            rc = gf_errf(err, GF_E_FORMAT, "%s: weight_map['%s'] must be a file name in the same folder", index_path, e->string);
            goto done;
        }
        int seen = 0;
        for (int i = 0; i < st->n_files && !seen; i++) {
            const char *base = strrchr(st->files[i].path, '/');
            seen = strcmp(base ? base + 1 : st->files[i].path, fn) == 0;
        }
        if (seen) continue;
        if (st->n_files >= MAX_SHARDS) {
            rc = gf_errf(err, GF_E_FORMAT, "%s: more than %d shards", index_path, MAX_SHARDS);
            goto done;
        }
        if (snprintf(path, sizeof path, "%s/%s", dir, fn) >= (int)sizeof path) {
            rc = gf_errf(err, GF_E_FORMAT, "%s: shard path too long", index_path);
            goto done;
        }
        if ((rc = add_file(st, path, err))) goto done;
    }
    if (st->n_files == 0) {
        rc = gf_errf(err, GF_E_FORMAT, "%s: 'weight_map' is empty", index_path);
        goto done;
    }
    /* every mapped tensor must be in the shard the index names, and every tensor mapped */
    qsort(st->tensors, (size_t)st->n_tensors, sizeof *st->tensors, name_cmp);
    int64_t mapped = 0;
    for (const cJSON *e = wm->child; e; e = e->next, mapped++) {
        const gf_st_tensor *t = gf_st_find(st, e->string);
        const char *base = t ? strrchr(st->files[t->file].path, '/') : NULL;
        if (!t || strcmp(base ? base + 1 : st->files[t->file].path, e->valuestring) != 0) {
            rc = gf_errf(err, GF_E_FORMAT, "%s: tensor '%s' is not in %s as the index says", index_path, e->string,
                         e->valuestring);
            goto done;
        }
    }
    if (mapped != st->n_tensors) {
        const char *missing = "?";
        for (int64_t i = 0; i < st->n_tensors; i++) {
            if (!cJSON_GetObjectItemCaseSensitive(wm, st->tensors[i].name)) {
                missing = st->tensors[i].name;
                break;
            }
        }
        rc = gf_errf(err, GF_E_FORMAT, "%s: tensor '%s' is in the shards but not in the index (%lld tensors, %lld mapped)",
                     index_path, missing, (long long)st->n_tensors, (long long)mapped);
        goto done;
    }
    rc = GF_OK;
done:
    cJSON_Delete(root);
    return rc;
}

gf_status gf_st_index(gf_safetensors *st, gf_err *err) {
    qsort(st->tensors, (size_t)st->n_tensors, sizeof *st->tensors, name_cmp);
    for (int64_t i = 1; i < st->n_tensors; i++)
        GF_FAIL_IF(strcmp(st->tensors[i - 1].name, st->tensors[i].name) == 0, err, GF_E_FORMAT,
                   "%s: tensor '%s' appears twice", st->files[st->tensors[i].file].path, st->tensors[i].name);
    return GF_OK;
}

gf_status gf_st_open(const char *path, gf_safetensors **out, gf_err *err) {
    *out = NULL;
    gf_safetensors *st = calloc(1, sizeof *st);
    if (!st) return gf_errf(err, GF_E_NOMEM, "out of memory");
    gf_status rc;
    struct stat sb;
    char p[PATH_MAX];
    if (stat(path, &sb) != 0) {
        rc = gf_errf(err, GF_E_IO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (S_ISDIR(sb.st_mode)) {
        snprintf(p, sizeof p, "%s/model.safetensors.index.json", path);
        if (access(p, F_OK) == 0) {
            if ((rc = open_index(st, path, p, err))) goto fail;
        } else {
            snprintf(p, sizeof p, "%s/model.safetensors", path);
            if (access(p, F_OK) != 0) {
                rc = gf_errf(err, GF_E_IO, "%s: no model.safetensors or model.safetensors.index.json in this folder", path);
                goto fail;
            }
            if ((rc = add_file(st, p, err))) goto fail;
        }
    } else if ((rc = add_file(st, path, err))) {
        goto fail;
    }
    if ((rc = gf_st_index(st, err))) goto fail;
    *out = st;
    return GF_OK;
fail:
    gf_st_close(st);
    return rc;
}

void gf_st_close(gf_safetensors *st) {
    if (!st) return;
    for (int i = 0; i < st->n_files; i++) {
        if (st->files[i].fd >= 0) close(st->files[i].fd);
        free(st->files[i].path);
    }
    for (int64_t i = 0; i < st->n_tensors; i++) free(st->tensors[i].name), free(st->tensors[i].gguf_name);
    free(st->files);
    free(st->tensors);
    free(st);
}

const gf_st_tensor *gf_st_find(const gf_safetensors *st, const char *name) {
    int64_t lo = 0, hi = st->n_tensors - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(st->tensors[mid].name, name);
        if (c == 0) return &st->tensors[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

/* ---------------------------------------------------------------- data */

/* Rows of a block type (a GGUF input): their bytes, dequantized as GGML does, a NaN
 * or Inf scale refused with the row named. */
static gf_status read_block_rows(const gf_st_file *f, const gf_st_tensor *t, gf_reader *r, int64_t row0, int64_t n,
                                 size_t rs, float *out, gf_err *err) {
    uint8_t *b = malloc(rs ? rs : 1);
    if (!b) return gf_errf(err, GF_E_NOMEM, "tensor '%s': out of memory reading a row", gf_st_label(t));
    char what[1100];
    snprintf(what, sizeof what, "tensor '%s'", gf_st_label(t));
    gf_status rc = GF_OK;
    for (int64_t i = 0; i < n && !rc; i++) {
        if ((rc = gf_reader_bytes(r, b, rs, what))) break;
        rc = gf_dequantize_checked(t->dtype, b, out + i * t->row_len, t->row_len, gf_st_label(t), err);
        if (rc) gf_err_prefix(err, "%s: row %lld", f->path, (long long)(row0 + i));
    }
    free(b);
    return rc;
}

gf_status gf_st_read_rows(const gf_safetensors *st, const gf_st_tensor *t, int64_t row0, int64_t n, float *out,
                          gf_err *err) {
    const gf_st_file *f = &st->files[t->file];
    if (row0 < 0 || n < 0 || row0 > t->n_rows || n > t->n_rows - row0)
        return gf_errf(err, GF_E_USAGE, "tensor '%s': rows [%lld,%lld) out of range", gf_st_label(t), (long long)row0,
                       (long long)(row0 + n));
    uint64_t count = (uint64_t)n * (uint64_t)t->row_len;
    size_t rs = gf_row_size(t->dtype, t->row_len);
    uint64_t bad = count; /* index of the first NaN/Inf */
    gf_status rc;
    /* a reader over the tensor's own bytes: a request can never leave them */
    gf_reader r;
    char what[1100];
    snprintf(what, sizeof what, "tensor '%s'", gf_st_label(t));
    gf_reader_init_fd(&r, f->fd, t->offset, t->nbytes, f->path, err);
    if ((rc = gf_reader_skip(&r, (uint64_t)row0 * rs, what))) return rc;
    if (gf_type_is_quantized(t->dtype)) return read_block_rows(f, t, &r, row0, n, rs, out, err);
    if (t->dtype == GF_TYPE_F32) {
        if ((rc = gf_reader_bytes(&r, out, count * 4, what))) return rc;
        const uint32_t *u = (const uint32_t *)out;
        for (uint64_t i = 0; i < count; i++)
            if ((u[i] & 0x7f800000u) == 0x7f800000u) { bad = i; break; }
    } else {
        uint16_t *h = malloc(count ? count * 2 : 1);
        if (!h) return gf_errf(err, GF_E_NOMEM, "tensor '%s': out of memory reading %lld rows", gf_st_label(t), (long long)n);
        if ((rc = gf_reader_bytes(&r, h, count * 2, what))) {
            free(h);
            return rc;
        }
        /* the same exponent test in both 16-bit formats: all-ones exponent is Inf/NaN */
        uint16_t expmask = t->dtype == GF_TYPE_BF16 ? 0x7f80 : 0x7c00;
        int any = 0;
        for (uint64_t i = 0; i < count; i++) any |= (h[i] & expmask) == expmask;
        if (t->dtype == GF_TYPE_BF16)
            for (uint64_t i = 0; i < count; i++) out[i] = gf_bf16_to_fp32(h[i]);
        else
            for (uint64_t i = 0; i < count; i++) out[i] = gf_fp16_to_fp32(h[i]);
        for (uint64_t i = 0; any && i < count; i++)
            if ((h[i] & expmask) == expmask) { bad = i; break; }
        free(h);
    }
    if (bad < count) {
        uint32_t u;
        memcpy(&u, &out[bad], 4);
        return gf_errf(err, GF_E_VALUE, "%s: tensor '%s': %s at row %lld, column %lld", f->path, gf_st_label(t),
                       (u & 0x007fffffu) ? "NaN" : "Inf", (long long)(row0 + (int64_t)(bad / (uint64_t)t->row_len)),
                       (long long)(bad % (uint64_t)t->row_len));
    }
    return GF_OK;
}
