/*
 * gf.c - error messages, half-precision conversion, small file I/O (the type
 * traits are in types.c).
 *
 * The fp16 conversion rounds to nearest even with no dependence on F16C, so the
 * scales written into Q4_0/Q8_0 blocks are the same bytes on every machine.
 */
#define _POSIX_C_SOURCE 200809L
#include "gf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- errors */

gf_status gf_errf(gf_err *err, gf_status code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

void gf_err_prefix(gf_err *err, const char *fmt, ...) {
    if (!err) return;
    char old[sizeof err->msg];
    memcpy(old, err->msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    size_t at = n < 0 ? 0 : (size_t)n < sizeof err->msg ? (size_t)n : sizeof err->msg - 1;
    size_t room = sizeof err->msg - at;       /* >= 1: the NUL always fits */
    size_t want = strlen(old) + 2;
    if (want > room - 1) want = room - 1;
    char *p = err->msg + at;
    for (size_t i = 0; i < want; i++) p[i] = i == 0 ? ':' : i == 1 ? ' ' : old[i - 2];
    p[want] = '\0';
}

const char *gf_status_name(gf_status s) {
    static const char *names[GF_E_COUNT_] = {
        [GF_OK] = "ok", [GF_E_USAGE] = "usage", [GF_E_IO] = "io",
        [GF_E_FORMAT] = "format", [GF_E_UNSUPPORTED] = "unsupported",
        [GF_E_VALUE] = "value", [GF_E_NOMEM] = "nomem", [GF_E_EXISTS] = "exists",
        [GF_E_INTERRUPTED] = "interrupted",
    };
    return (s >= 0 && s < GF_E_COUNT_) ? names[s] : "unknown";
}

/* ---------------------------------------------------------------- numbers */

uint16_t gf_fp32_to_fp16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = x & 0x80000000u;
    x ^= sign;
    uint16_t h;
    if (x >= (uint32_t)(127 + 16) << 23) {            /* >= 2^16: inf, or NaN */
        h = x > 0x7f800000u ? 0x7e00 : 0x7c00;
    } else if (x < (uint32_t)113 << 23) {             /* below 2^-14: half subnormal */
        /* Adding 0.5 (as 2^-1 scaled to the half subnormal ulp) lets the FPU do the
         * round-to-nearest-even; the low bits are then the half's mantissa. */
        const uint32_t magic_u = (uint32_t)((127 - 15) + (23 - 10) + 1) << 23;
        float fx, magic;
        memcpy(&fx, &x, 4);
        memcpy(&magic, &magic_u, 4);
        fx += magic;
        uint32_t r;
        memcpy(&r, &fx, 4);
        h = (uint16_t)(r - magic_u);
    } else {
        uint32_t odd = (x >> 13) & 1;                 /* ties go to even */
        x += ((uint32_t)(15 - 127) << 23) + 0xfff + odd;
        h = (uint16_t)(x >> 13);                      /* carry may reach inf: correct */
    }
    return (uint16_t)(h | (sign >> 16));
}

float gf_fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, u;
    if (exp == 0) {
        float f = (float)mant * (1.0f / 16777216.0f); /* mant * 2^-24, exact */
        memcpy(&u, &f, 4);
        u |= sign;
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (mant << 13);
    } else {
        u = sign | ((exp + 112) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ---------------------------------------------------------------- files */

gf_status gf_read_file(const char *path, size_t max_bytes, char **out, size_t *out_len, gf_err *err) {
    *out = NULL;
    if (out_len) *out_len = 0;
    gf_status st = GF_OK;
    char *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return gf_errf(err, GF_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) { st = gf_errf(err, GF_E_IO, "%s: cannot stat: %s", path, strerror(errno)); goto done; }
    if (!S_ISREG(sb.st_mode)) { st = gf_errf(err, GF_E_IO, "%s: not a regular file", path); goto done; }
    if ((uint64_t)sb.st_size > max_bytes) {
        st = gf_errf(err, GF_E_FORMAT, "%s: file is %lld bytes, more than the %zu this reader accepts",
                     path, (long long)sb.st_size, max_bytes);
        goto done;
    }
    size_t n = (size_t)sb.st_size;
    buf = malloc(n + 1);
    if (!buf) { st = gf_errf(err, GF_E_NOMEM, "%s: out of memory reading %zu bytes", path, n); goto done; }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) { st = gf_errf(err, GF_E_IO, "%s: read failed: %s", path, r ? strerror(errno) : "unexpected end of file"); goto done; }
        got += (size_t)r;
    }
    buf[n] = '\0';
    *out = buf;
    buf = NULL;
    if (out_len) *out_len = n;
done:
    free(buf);
    close(fd);
    return st;
}

double gf_time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
