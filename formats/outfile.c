/*
 * outfile.c - atomic output: temporary file, fsync, rename (renameat2 with
 * RENAME_NOREPLACE when the target must not be replaced, so a file created
 * meanwhile is not clobbered either).  Write errors (disk full, file size limit)
 * name the target and the byte count.
 */
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUF_BYTES ((size_t)4 << 20)

struct gf_outfile {
    char path[PATH_MAX];
    char tmp[PATH_MAX];
    char dir[PATH_MAX];
    int fd;
    int force;
    uint8_t *buf;
    size_t n;        /* bytes buffered */
    uint64_t total;  /* bytes accepted */
};

gf_status gf_outfile_open(const char *path, int force, gf_outfile **out, gf_err *err) {
    *out = NULL;
    if (strlen(path) + 32 >= PATH_MAX) return gf_errf(err, GF_E_USAGE, "%s: path too long", path);
    struct stat sb;
    if (stat(path, &sb) == 0) {
        if (!force) return gf_errf(err, GF_E_EXISTS, "%s: file exists (use --force to replace it)", path);
        if (!S_ISREG(sb.st_mode)) return gf_errf(err, GF_E_IO, "%s: exists and is not a regular file", path);
    }
    gf_outfile *f = calloc(1, sizeof *f);
    if (!f || !(f->buf = malloc(BUF_BYTES))) {
        free(f);
        return gf_errf(err, GF_E_NOMEM, "out of memory");
    }
    snprintf(f->path, sizeof f->path, "%s", path);
    char d[PATH_MAX], b[PATH_MAX];
    snprintf(d, sizeof d, "%s", path);
    snprintf(b, sizeof b, "%s", path);
    snprintf(f->dir, sizeof f->dir, "%s", dirname(d));
    if (snprintf(f->tmp, sizeof f->tmp, "%s/.%s.tmp-XXXXXX", f->dir, basename(b)) >= (int)sizeof f->tmp) {
        free(f->buf);
        free(f);
        return gf_errf(err, GF_E_USAGE, "%s: path too long", path);
    }
    f->force = force;
    f->fd = mkstemp(f->tmp);
    if (f->fd < 0) {
        gf_status st = gf_errf(err, GF_E_IO, "%s: cannot create a temporary file in %s: %s", path, f->dir, strerror(errno));
        free(f->buf);
        free(f);
        return st;
    }
    mode_t mask = umask(0);
    umask(mask);
    fchmod(f->fd, 0666 & ~mask);
    *out = f;
    return GF_OK;
}

static gf_status flush(gf_outfile *f, gf_err *err) {
    size_t off = 0;
    while (off < f->n) {
        ssize_t w = write(f->fd, f->buf + off, f->n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            return gf_errf(err, GF_E_IO, "%s: write failed after %llu bytes: %s", f->path,
                           (unsigned long long)(f->total - f->n + off), w < 0 ? strerror(errno) : "no progress");
        off += (size_t)w;
    }
    f->n = 0;
    return GF_OK;
}

gf_status gf_outfile_write(void *ctx, const void *buf, size_t n, gf_err *err) {
    gf_outfile *f = ctx;
    const uint8_t *p = buf;
    while (n) {
        size_t k = BUF_BYTES - f->n < n ? BUF_BYTES - f->n : n;
        memcpy(f->buf + f->n, p, k);
        f->n += k;
        f->total += k;
        p += k;
        n -= k;
        if (f->n == BUF_BYTES) {
            gf_status st = flush(f, err);
            if (st) return st;
        }
    }
    return GF_OK;
}

gf_status gf_outfile_commit(gf_outfile *f, gf_err *err) {
    gf_status st = flush(f, err);
    if (!st && fsync(f->fd) != 0) st = gf_errf(err, GF_E_IO, "%s: fsync failed: %s", f->path, strerror(errno));
    if (!st && close(f->fd) != 0) st = gf_errf(err, GF_E_IO, "%s: close failed: %s", f->path, strerror(errno));
    f->fd = -1;
    if (!st) {
        int rc;
        if (f->force) {
            rc = rename(f->tmp, f->path);
        } else {
            rc = renameat2(AT_FDCWD, f->tmp, AT_FDCWD, f->path, RENAME_NOREPLACE);
            if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) { /* file system without it */
                rc = access(f->path, F_OK) == 0 ? (errno = EEXIST, -1) : rename(f->tmp, f->path);
            }
        }
        if (rc != 0)
            st = errno == EEXIST ? gf_errf(err, GF_E_EXISTS, "%s: file appeared while writing (use --force to replace it)", f->path)
                                 : gf_errf(err, GF_E_IO, "%s: cannot rename the temporary file into place: %s", f->path, strerror(errno));
    }
    if (!st) {
        int dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd); /* best effort: the rename itself is durable once the folder is */
            close(dfd);
        }
        free(f->buf);
        free(f);
        return GF_OK;
    }
    gf_outfile_abort(f);
    return st;
}

void gf_outfile_abort(gf_outfile *f) {
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    unlink(f->tmp);
    free(f->buf);
    free(f);
}

const char *gf_outfile_temp_path(const gf_outfile *f) { return f->tmp; }
uint64_t gf_outfile_bytes(const gf_outfile *f) { return f->total; }
