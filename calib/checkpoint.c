/*
 * checkpoint.c - the checkpoint folder of `quantize --checkpoint DIR` (see checkpoint.h):
 * what a block-by-block run needs to go on after its last finished block.
 *
 * On disk, every integer little-endian, every file ending in the FNV-1a 64 (common/hash.h)
 * of all its bytes before it, and every file written whole or not at all (formats/outfile.c):
 *   DIR/block-LLLL.gfck  one per finished block LLLL (4 digits, from 0): the tensor data
 *       written since the block before it (block 0's file also holds the embedding)
 *       "GFCKBLCK" | u32 version 1 | u64 FNV-1a of the identity text | u32 LLLL |
 *       per tensor: u32 name length (> 0) | name | u64 n | n data bytes |
 *                   f64 squared error, f64 squared norm, f64 output rel. error, f64 seconds |
 *       u32 0 | u32 m | m bytes about the block (the caller's: what the block's method reported) |
 *       u64 FNV-1a
 *   DIR/state.gfck       the commit point, replaced after each block file
 *       "GFCKSTAT" | u32 version 1 | u32 identity length | identity text ("what\tvalue\n"
 *       lines) | u32 blocks done K | u32 tensors saved (in block files 0 .. K-1) |
 *       u32 streams | per stream: u32 name length | name | u64 count | count f32 | u64 FNV-1a
 * The streams are the calibration activations at block K's depth (the caller names them).
 *   DIR/lock             empty; flock()ed while a run uses the folder, so a second run
 *       on the same folder is refused instead of removing the first one's temporary files
 * A block file past the state's K (a kill between the two renames) is ignored and later
 * replaced.  There is no RNG state to keep: AutoRound seeds each block's minibatch order
 * from --seed and the block's index (calib/autoround.c), and --seed is in the identity.
 * Does not know what the tensors or streams are; only that they come back byte for byte.
 */
#include "checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/hash.h"
#include "../common/reader.h"
#include "../formats/outfile.h"

#define CK_VERSION 1
#define CK_MAX_NAME 256                   /* tensor and stream names            */
#define CK_MAX_ID ((uint64_t)1 << 20)     /* identity text                      */
#define CK_MAX_STREAMS 16
#define CK_MAX_TENSORS (1 << 20)
#define CK_MAX_INFO 4096                  /* bytes about a block                */
#define CK_CHUNK ((size_t)1 << 20)        /* bytes per read while hashing       */

typedef struct {
    char *name;
    uint64_t count, off; /* floats, and the file offset of the first */
} stream;

struct gf_ckpt {
    char dir[PATH_MAX];
    int lock_fd;            /* DIR/lock, flock()ed; -1 none                       */
    int reader;             /* gf_ckpt_open_reader's: never written through       */
    char *id;               /* identity text of this run                         */
    uint64_t id_hash;
    int layers_done;
    gf_ckpt_tensor *t;      /* (n_t) the saved tensors found when opening         */
    int *t_layer;           /* (n_t) the block file of each                       */
    uint64_t *t_off;        /* (n_t) file offset of its data                      */
    int n_t, cap_t;
    stream s[CK_MAX_STREAMS];
    int n_s;
    int n_saved;            /* tensors in block files 0 .. layers_done-1          */
    uint8_t **info;         /* (n_loaded) the bytes about each block found saved, or NULL */
    uint32_t *n_info;
    int n_loaded;
    /* the block file being written */
    gf_outfile *seg;
    uint64_t seg_hash, cur_left;
    int seg_tensors, in_tensor;
};

/* ---------------------------------------------------------------- writing */

/* n bytes into f, added to the running hash *h */
static gf_status put(gf_outfile *f, uint64_t *h, const void *p, size_t n, gf_err *err) {
    *h = gf_fnv1a64_from(*h, p, n);
    return gf_outfile_write(f, p, n, err);
}
static gf_status put_u32(gf_outfile *f, uint64_t *h, uint32_t v, gf_err *err) { return put(f, h, &v, 4, err); }
static gf_status put_u64(gf_outfile *f, uint64_t *h, uint64_t v, gf_err *err) { return put(f, h, &v, 8, err); }
static gf_status put_str(gf_outfile *f, uint64_t *h, const char *s, gf_err *err) {
    GF_TRY(put_u32(f, h, (uint32_t)strlen(s), err));
    return put(f, h, s, strlen(s), err);
}
/* the hash, then fsync and rename into place; f is freed */
static gf_status finish(gf_outfile *f, uint64_t h, gf_err *err) {
    gf_status rc = gf_outfile_write(f, &h, 8, err);
    if (rc) {
        gf_outfile_abort(f);
        return rc;
    }
    return gf_outfile_commit(f, err);
}

static void file_path(const gf_ckpt *ck, int layer, char *buf, size_t n) {
    if (layer < 0) snprintf(buf, n, "%s/state.gfck", ck->dir);
    else snprintf(buf, n, "%s/block-%04d.gfck", ck->dir, layer);
}

gf_status gf_ckpt_tensor_begin(gf_ckpt *ck, const char *name, uint64_t nbytes, gf_err *err) {
    GF_FAIL_IF(ck->reader || ck->in_tensor || !name[0] || strlen(name) > CK_MAX_NAME, err, GF_E_USAGE,
               "checkpoint %s: tensor '%s' begun inside another, misnamed or on a reader", ck->dir, name);
    if (!ck->seg) {
        char path[PATH_MAX + 32];
        file_path(ck, ck->layers_done, path, sizeof path);
        GF_TRY(gf_outfile_open(path, 1, &ck->seg, err));
        ck->seg_hash = GF_FNV1A64_BASIS;
        ck->seg_tensors = 0;
        gf_status rc = put(ck->seg, &ck->seg_hash, "GFCKBLCK", 8, err);
        if (!rc) rc = put_u32(ck->seg, &ck->seg_hash, CK_VERSION, err);
        if (!rc) rc = put_u64(ck->seg, &ck->seg_hash, ck->id_hash, err);
        if (!rc) rc = put_u32(ck->seg, &ck->seg_hash, (uint32_t)ck->layers_done, err);
        if (rc) return rc;
    }
    GF_TRY(put_str(ck->seg, &ck->seg_hash, name, err));
    GF_TRY(put_u64(ck->seg, &ck->seg_hash, nbytes, err));
    ck->cur_left = nbytes;
    ck->in_tensor = 1;
    return GF_OK;
}

gf_status gf_ckpt_tensor_data(gf_ckpt *ck, const void *data, uint64_t n, gf_err *err) {
    GF_FAIL_IF(!ck->in_tensor || n > ck->cur_left, err, GF_E_USAGE, "checkpoint %s: %llu bytes of no tensor, or too many",
               ck->dir, (unsigned long long)n);
    ck->cur_left -= n;
    return put(ck->seg, &ck->seg_hash, data, (size_t)n, err);
}

gf_status gf_ckpt_tensor_end(gf_ckpt *ck, const gf_ckpt_tensor *fig, gf_err *err) {
    GF_FAIL_IF(!ck->in_tensor || ck->cur_left, err, GF_E_USAGE, "checkpoint %s: tensor '%s' ended %llu bytes short",
               ck->dir, fig->name, (unsigned long long)ck->cur_left);
    const double v[4] = {fig->e2, fig->r2, fig->act_rel, fig->seconds};
    ck->in_tensor = 0;
    ck->seg_tensors++;
    return put(ck->seg, &ck->seg_hash, v, sizeof v, err);
}

/* the state file: identity, counts, streams */
static gf_status write_state(gf_ckpt *ck, int n, const char *const *names, const float *const *src,
                             const uint64_t *count, gf_err *err) {
    char path[PATH_MAX + 32];
    file_path(ck, -1, path, sizeof path);
    gf_outfile *f = NULL;
    GF_TRY(gf_outfile_open(path, 1, &f, err));
    uint64_t h = GF_FNV1A64_BASIS;
    gf_status rc = put(f, &h, "GFCKSTAT", 8, err);
    if (!rc) rc = put_u32(f, &h, CK_VERSION, err);
    if (!rc) rc = put_str(f, &h, ck->id, err);
    if (!rc) rc = put_u32(f, &h, (uint32_t)ck->layers_done + 1, err);
    if (!rc) rc = put_u32(f, &h, (uint32_t)(ck->n_saved + ck->seg_tensors), err);
    if (!rc) rc = put_u32(f, &h, (uint32_t)n, err);
    for (int i = 0; i < n && !rc; i++) {
        rc = put_str(f, &h, names[i], err);
        if (!rc) rc = put_u64(f, &h, count[i], err);
        if (!rc) rc = put(f, &h, src[i], (size_t)count[i] * sizeof(float), err);
    }
    if (rc) {
        gf_outfile_abort(f);
        return rc;
    }
    return finish(f, h, err);
}

gf_status gf_ckpt_save(gf_ckpt *ck, int layer, const void *info, uint32_t n_info, int n, const char *const *names,
                       const float *const *src, const uint64_t *count, gf_err *err) {
    GF_FAIL_IF(layer != ck->layers_done || !ck->seg || ck->in_tensor || n > CK_MAX_STREAMS || n_info > CK_MAX_INFO, err,
               GF_E_USAGE, "checkpoint %s: block %d saved out of order (%d done)", ck->dir, layer, ck->layers_done);
    gf_outfile *seg = ck->seg;
    uint64_t h = ck->seg_hash;
    ck->seg = NULL;
    gf_status rc = put_u32(seg, &h, 0, err);
    if (!rc) rc = put_u32(seg, &h, n_info, err);
    if (!rc && n_info) rc = put(seg, &h, info, n_info, err);
    if (rc) {
        gf_outfile_abort(seg);
        return rc;
    }
    GF_TRY(finish(seg, h, err));
    GF_TRY(write_state(ck, n, names, src, count, err));
    ck->layers_done++;
    ck->n_saved += ck->seg_tensors;
    ck->seg_tensors = 0;
    return GF_OK;
}

/* ---------------------------------------------------------------- reading */

/* The file's size after checking its closing hash (the whole file is read once);
 * *fd is the open file. */
static gf_status check_file(const char *path, int *fd, uint64_t *size, gf_err *err) {
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    GF_FAIL_IF(*fd < 0, err, GF_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    GF_FAIL_IF(fstat(*fd, &sb) != 0, err, GF_E_IO, "%s: cannot stat: %s", path, strerror(errno));
    *size = (uint64_t)sb.st_size;
    GF_FAIL_IF(*size < 20, err, GF_E_FORMAT, "%s: truncated: %llu bytes, a checkpoint file has at least 20", path,
               (unsigned long long)*size);
    uint8_t *buf = malloc(CK_CHUNK);
    GF_FAIL_IF(!buf, err, GF_E_NOMEM, "out of memory");
    uint64_t h = GF_FNV1A64_BASIS, want = 0, pos = 0;
    gf_status rc = GF_OK;
    while (pos < *size - 8 && !rc) {
        size_t k = *size - 8 - pos < CK_CHUNK ? (size_t)(*size - 8 - pos) : CK_CHUNK;
        ssize_t r = pread(*fd, buf, k, (off_t)pos);
        if (r <= 0) rc = gf_errf(err, GF_E_IO, "%s: read failed at byte %llu", path, (unsigned long long)pos);
        else h = gf_fnv1a64_from(h, buf, (size_t)r), pos += (uint64_t)r;
    }
    free(buf);
    if (rc) return rc;
    GF_FAIL_IF(pread(*fd, &want, 8, (off_t)(*size - 8)) != 8, err, GF_E_IO, "%s: read failed at its end", path);
    GF_FAIL_IF(want != h, err, GF_E_FORMAT,
               "%s: damaged or truncated: its checksum is %016llx, its %llu bytes hash to %016llx", path,
               (unsigned long long)want, (unsigned long long)(*size - 8), (unsigned long long)h);
    *size -= 8;
    return GF_OK;
}

static gf_status read_magic(gf_reader *r, const char *magic) {
    char m[8];
    uint32_t v;
    GF_TRY(gf_reader_bytes(r, m, 8, "magic"));
    GF_FAIL_IF(memcmp(m, magic, 8), r->err, GF_E_FORMAT, "%s: not a checkpoint file (magic is not %.8s)", r->name, magic);
    GF_TRY(gf_reader_u32(r, &v, "version"));
    GF_FAIL_IF(v != CK_VERSION, r->err, GF_E_FORMAT, "%s: checkpoint version %u, this program reads %d", r->name, v,
               CK_VERSION);
    return GF_OK;
}

/* value of line `what` in identity text id (into val), or 0 */
static int id_value(const char *id, const char *what, char *val, size_t n) {
    size_t wl = strlen(what);
    for (const char *p = id; *p;) {
        const char *eol = strchr(p, '\n'), *end = eol ? eol : p + strlen(p);
        if ((size_t)(end - p) > wl && !strncmp(p, what, wl) && p[wl] == '\t') {
            snprintf(val, n, "%.*s", (int)(end - p - (ptrdiff_t)wl - 1), p + wl + 1);
            return 1;
        }
        p = eol ? eol + 1 : end;
    }
    return 0;
}

/* the first line of `a` whose value `b` gives otherwise (or lacks), as a message */
static gf_status id_diff(const char *dir, const char *a, const char *b, int a_is_old, gf_err *err) {
    for (const char *p = a; *p;) {
        const char *eol = strchr(p, '\n'), *end = eol ? eol : p + strlen(p), *tab = memchr(p, '\t', (size_t)(end - p));
        if (tab) {
            char what[256], va[512], vb[512];
            snprintf(what, sizeof what, "%.*s", (int)(tab - p), p);
            snprintf(va, sizeof va, "%.*s", (int)(end - tab - 1), tab + 1);
            int has = id_value(b, what, vb, sizeof vb);
            if (!has) snprintf(vb, sizeof vb, "not given");
            if (!has || strcmp(va, vb))
                return gf_errf(err, GF_E_USAGE,
                               "checkpoint %s: %s was %s, now %s (a checkpoint of another run: use another folder, or "
                               "remove this one)", dir, what, a_is_old ? va : vb, a_is_old ? vb : va);
        }
        p = eol ? eol + 1 : end;
    }
    return GF_OK;
}

static gf_status read_streams(gf_ckpt *ck, gf_reader *r) {
    uint32_t n;
    GF_TRY(gf_reader_u32(r, &n, "stream count"));
    GF_FAIL_IF(n > CK_MAX_STREAMS, r->err, GF_E_FORMAT, "%s: %u streams, at most %d", r->name, n, CK_MAX_STREAMS);
    while (ck->n_s < (int)n) {
        stream *s = &ck->s[ck->n_s];
        uint32_t len;
        GF_TRY(gf_reader_u32(r, &len, "stream name length"));
        GF_TRY(gf_reader_str(r, len, CK_MAX_NAME, &s->name, "stream name"));
        ck->n_s++; /* owns the name now */
        GF_TRY(gf_reader_u64(r, &s->count, "stream size"));
        GF_FAIL_IF(s->count > gf_reader_left(r) / 4, r->err, GF_E_FORMAT,
                   "%s: truncated: stream '%s' of %llu floats at byte %llu, %llu bytes left", r->name, s->name,
                   (unsigned long long)s->count, (unsigned long long)r->pos, (unsigned long long)gf_reader_left(r));
        s->off = r->pos;
        GF_TRY(gf_reader_skip(r, s->count * 4, "stream data"));
    }
    GF_FAIL_IF(gf_reader_left(r), r->err, GF_E_FORMAT, "%s: %llu bytes after the last stream", r->name,
               (unsigned long long)gf_reader_left(r));
    return GF_OK;
}

/* state.gfck: the identity checked against ck->id, then K, the count and the streams */
static gf_status read_state(gf_ckpt *ck, const char *path, int *n_tensors, gf_err *err) {
    int fd = -1;
    uint64_t size;
    char *id = NULL;
    gf_status rc = check_file(path, &fd, &size, err);
    gf_reader r;
    gf_reader_init_fd(&r, fd, 0, size, path, err);
    uint32_t len, k = 0, nt = 0;
    if (!rc) rc = read_magic(&r, "GFCKSTAT");
    if (!rc) rc = gf_reader_u32(&r, &len, "identity length");
    if (!rc) rc = gf_reader_str(&r, len, CK_MAX_ID, &id, "identity");
    if (!rc) rc = id_diff(ck->dir, id, ck->id, 1, err);
    if (!rc) rc = id_diff(ck->dir, ck->id, id, 0, err);
    if (!rc) rc = gf_reader_u32(&r, &k, "blocks done");
    if (!rc) rc = gf_reader_u32(&r, &nt, "tensors saved");
    if (!rc && (k < 1 || k > 100000 || nt > CK_MAX_TENSORS))
        rc = gf_errf(err, GF_E_FORMAT, "%s: %u blocks done and %u tensors saved are out of range", path, k, nt);
    if (!rc) rc = read_streams(ck, &r);
    ck->layers_done = (int)k;
    *n_tensors = (int)nt;
    free(id);
    if (fd >= 0) close(fd);
    return rc;
}

/* one record of a block file into ck->t[ck->n_t] (*end = 1 at the closing 0) */
static gf_status read_record(gf_ckpt *ck, gf_reader *r, int layer, int *end) {
    uint32_t len;
    GF_TRY(gf_reader_u32(r, &len, "tensor name length"));
    if (!len) return *end = 1, GF_OK;
    if (ck->n_t == ck->cap_t) {
        int cap = ck->cap_t ? 2 * ck->cap_t : 64;
        gf_ckpt_tensor *t = realloc(ck->t, (size_t)cap * sizeof *t);
        if (t) ck->t = t;
        int *tl = t ? realloc(ck->t_layer, (size_t)cap * sizeof *tl) : NULL;
        if (tl) ck->t_layer = tl;
        uint64_t *to = tl ? realloc(ck->t_off, (size_t)cap * sizeof *to) : NULL;
        GF_FAIL_IF(!to, r->err, GF_E_NOMEM, "out of memory");
        ck->t_off = to;
        ck->cap_t = cap;
    }
    gf_ckpt_tensor *t = &ck->t[ck->n_t];
    char *name = NULL;
    GF_TRY(gf_reader_str(r, len, CK_MAX_NAME, &name, "tensor name"));
    t->name = name;
    ck->n_t++; /* owns name now */
    GF_TRY(gf_reader_u64(r, &t->nbytes, "tensor size"));
    ck->t_layer[ck->n_t - 1] = layer;
    ck->t_off[ck->n_t - 1] = r->pos;
    GF_TRY(gf_reader_skip(r, t->nbytes, "tensor data"));
    double v[4];
    GF_TRY(gf_reader_bytes(r, v, sizeof v, "tensor figures"));
    t->e2 = v[0], t->r2 = v[1], t->act_rel = v[2], t->seconds = v[3];
    return GF_OK;
}

static gf_status read_block(gf_ckpt *ck, int layer, gf_err *err) {
    char path[PATH_MAX + 32];
    file_path(ck, layer, path, sizeof path);
    int fd = -1, end = 0;
    uint64_t size, idh = 0;
    uint32_t l = 0;
    gf_status rc = check_file(path, &fd, &size, err);
    gf_reader r;
    gf_reader_init_fd(&r, fd, 0, size, path, err);
    if (!rc) rc = read_magic(&r, "GFCKBLCK");
    if (!rc) rc = gf_reader_u64(&r, &idh, "identity hash");
    if (!rc) rc = gf_reader_u32(&r, &l, "block");
    if (!rc && (idh != ck->id_hash || l != (uint32_t)layer))
        rc = gf_errf(err, GF_E_FORMAT, "%s: holds block %u of another run (identity %016llx, this run's %016llx)", path,
                     l, (unsigned long long)idh, (unsigned long long)ck->id_hash);
    while (!rc && !end) rc = read_record(ck, &r, layer, &end);
    uint32_t m = 0;
    if (!rc) rc = gf_reader_u32(&r, &m, "block figures size");
    if (!rc && m > CK_MAX_INFO) rc = gf_errf(err, GF_E_FORMAT, "%s: %u bytes of block figures, at most %d", path, m,
                                             CK_MAX_INFO);
    if (!rc && m && !(ck->info[layer] = malloc(m))) rc = gf_errf(err, GF_E_NOMEM, "out of memory");
    if (!rc && m) rc = gf_reader_bytes(&r, ck->info[layer], m, "block figures");
    if (!rc) ck->n_info[layer] = m;
    if (!rc && gf_reader_left(&r))
        rc = gf_errf(err, GF_E_FORMAT, "%s: %llu bytes after the last tensor", path, (unsigned long long)gf_reader_left(&r));
    if (fd >= 0) close(fd);
    return rc;
}

/* ---------------------------------------------------------------- the folder */

/* temporary files of a killed run (".NAME.tmp-XXXXXX", formats/outfile.c) */
static void remove_leftovers(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    char path[PATH_MAX + 260];
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] != '.' || !strstr(e->d_name, ".gfck.tmp-")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
}

static gf_status load(gf_ckpt *ck, gf_err *err) {
    char path[PATH_MAX + 32];
    file_path(ck, -1, path, sizeof path);
    struct stat sb;
    if (stat(path, &sb) != 0) return GF_OK; /* a new checkpoint */
    int n_tensors = 0;
    GF_TRY(read_state(ck, path, &n_tensors, err));
    ck->info = calloc((size_t)ck->layers_done, sizeof *ck->info);
    ck->n_info = calloc((size_t)ck->layers_done, sizeof *ck->n_info);
    GF_FAIL_IF(!ck->info || !ck->n_info, err, GF_E_NOMEM, "out of memory");
    ck->n_loaded = ck->layers_done;
    for (int l = 0; l < ck->layers_done; l++) GF_TRY(read_block(ck, l, err));
    GF_FAIL_IF(ck->n_t != n_tensors, err, GF_E_FORMAT, "checkpoint %s: state.gfck counts %d tensors, its %d block files "
               "hold %d", ck->dir, n_tensors, ck->layers_done, ck->n_t);
    ck->n_saved = ck->n_t;
    return GF_OK;
}

/* the folder's lock, taken by the writer (EWOULDBLOCK: another run holds it) */
static gf_status take_lock(gf_ckpt *ck, gf_err *err) {
    char lock[PATH_MAX + 8];
    snprintf(lock, sizeof lock, "%s/lock", ck->dir);
    ck->lock_fd = open(lock, O_RDONLY | O_CLOEXEC); /* flock needs no write access */
    if (ck->lock_fd < 0 && errno == ENOENT) ck->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    GF_FAIL_IF(ck->lock_fd < 0, err, GF_E_IO, "checkpoint %s: cannot create %s: %s", ck->dir, lock, strerror(errno));
    if (flock(ck->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return errno == EWOULDBLOCK ? gf_errf(err, GF_E_USAGE, "checkpoint %s: in use by another run (it holds %s)",
                                              ck->dir, lock)
                                    : gf_errf(err, GF_E_IO, "checkpoint %s: cannot lock %s: %s", ck->dir, lock,
                                              strerror(errno));
    return GF_OK;
}

/* gf_ckpt_open and gf_ckpt_open_reader: the writer creates and locks the folder and
 * removes a killed run's temporary files; a reader only reads (a missing folder is a
 * new checkpoint). */
static gf_status open_ckpt(const char *dir, const char *id, int writer, gf_ckpt **out, gf_err *err) {
    *out = NULL;
    GF_FAIL_IF(strlen(dir) + 32 >= PATH_MAX, err, GF_E_USAGE, "checkpoint %s: path too long", dir);
    struct stat sb;
    const int exists = stat(dir, &sb) == 0;
    if (!exists && writer && mkdir(dir, 0777) != 0)
        return gf_errf(err, GF_E_IO, "checkpoint %s: cannot create the folder: %s", dir, strerror(errno));
    GF_FAIL_IF((exists || writer) && (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)), err, GF_E_IO,
               "checkpoint %s: not a folder", dir);
    gf_ckpt *ck = calloc(1, sizeof *ck);
    GF_FAIL_IF(!ck, err, GF_E_NOMEM, "out of memory");
    snprintf(ck->dir, sizeof ck->dir, "%s", dir);
    ck->lock_fd = -1;
    ck->reader = !writer;
    ck->id = strdup(id);
    ck->id_hash = gf_fnv1a64(id, strlen(id));
    gf_status rc = ck->id ? GF_OK : gf_errf(err, GF_E_NOMEM, "out of memory");
    if (!rc && writer) rc = take_lock(ck, err);
    if (!rc && writer) remove_leftovers(dir);
    if (!rc && (exists || writer)) rc = load(ck, err);
    if (rc) {
        gf_ckpt_free(ck);
        return rc;
    }
    *out = ck;
    return GF_OK;
}

gf_status gf_ckpt_open(const char *dir, const char *id, gf_ckpt **out, gf_err *err) {
    return open_ckpt(dir, id, 1, out, err);
}

gf_status gf_ckpt_open_reader(const char *dir, const char *id, gf_ckpt **out, gf_err *err) {
    return open_ckpt(dir, id, 0, out, err);
}

void gf_ckpt_free(gf_ckpt *ck) {
    if (!ck) return;
    gf_outfile_abort(ck->seg);
    for (int i = 0; i < ck->n_t; i++) free((char *)ck->t[i].name);
    for (int i = 0; i < ck->n_s; i++) free(ck->s[i].name);
    for (int i = 0; ck->info && i < ck->n_loaded; i++) free(ck->info[i]);
    free(ck->info);
    free(ck->n_info);
    free(ck->t);
    free(ck->t_layer);
    free(ck->t_off);
    free(ck->id);
    if (ck->lock_fd >= 0) close(ck->lock_fd); /* and the lock with it */
    free(ck);
}

int gf_ckpt_layers_done(const gf_ckpt *ck) { return ck->layers_done; }
int gf_ckpt_n_tensors(const gf_ckpt *ck) { return ck->n_t; }

const void *gf_ckpt_block_info(const gf_ckpt *ck, int layer, uint32_t *n) {
    *n = 0;
    if (!ck->info || layer < 0 || layer >= ck->n_loaded || !ck->info[layer]) return NULL;
    *n = ck->n_info[layer];
    return ck->info[layer];
}
const gf_ckpt_tensor *gf_ckpt_tensor_at(const gf_ckpt *ck, int i) { return &ck->t[i]; }

/* n bytes at off of the checkpoint's file `layer` (-1: the state) into dst */
static gf_status read_at(const gf_ckpt *ck, int layer, uint64_t off, void *dst, uint64_t n, gf_err *err) {
    char path[PATH_MAX + 32];
    file_path(ck, layer, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    GF_FAIL_IF(fd < 0, err, GF_E_IO, "%s: cannot open: %s", path, strerror(errno));
    gf_reader r;
    gf_reader_init_fd(&r, fd, off, n, path, err);
    gf_status rc = gf_reader_bytes(&r, dst, n, "saved data");
    close(fd);
    return rc;
}

gf_status gf_ckpt_read_tensor(const gf_ckpt *ck, int i, void *dst, gf_err *err) {
    return read_at(ck, ck->t_layer[i], ck->t_off[i], dst, ck->t[i].nbytes, err);
}

gf_status gf_ckpt_read_stream(const gf_ckpt *ck, const char *name, float *dst, uint64_t count, int *found, gf_err *err) {
    *found = 0;
    for (int i = 0; i < ck->n_s; i++) {
        if (strcmp(ck->s[i].name, name)) continue;
        GF_FAIL_IF(ck->s[i].count != count, err, GF_E_FORMAT, "checkpoint %s: stream '%s' holds %llu floats, this run "
                   "has %llu", ck->dir, name, (unsigned long long)ck->s[i].count, (unsigned long long)count);
        *found = 1;
        return read_at(ck, -1, ck->s[i].off, dst, count * 4, err);
    }
    return GF_OK;
}
