/*
 * gf.h - the small common header every gguf-forge module may include.
 *
 * Errors as status codes plus a caller-owned message, fp16/bf16 conversions
 * and overflow-checked size arithmetic (tensor types and their traits: types.h).
 * Nothing here allocates, prints or exits: library code reports, only cli/
 * decides what to do.
 */
#ifndef GF_H
#define GF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define GF_VERSION "0.1.0"

/* ---------------------------------------------------------------- errors */

typedef enum {
    GF_OK = 0,
    GF_E_USAGE,       /* bad command line or API misuse by the caller       */
    GF_E_IO,          /* open/read/write/rename failed                       */
    GF_E_FORMAT,      /* malformed input file (truncated, bad header, ...)   */
    GF_E_UNSUPPORTED, /* well-formed but a feature this version lacks        */
    GF_E_VALUE,       /* bad numbers in the data: NaN/Inf weights, ...       */
    GF_E_NOMEM,       /* allocation failed                                   */
    GF_E_EXISTS,      /* output exists and --force was not given             */
    GF_E_INTERRUPTED, /* SIGINT/SIGTERM                                      */
    GF_E_COUNT_
} gf_status;

typedef struct {
    gf_status code;
    char msg[1024];
} gf_err;

/* Sets err (if not NULL) and returns code, so that `return gf_errf(...)` reads well. */
gf_status gf_errf(gf_err *err, gf_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prepends "prefix: " to an already set message (e.g. the file name). */
void gf_err_prefix(gf_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *gf_status_name(gf_status s); /* "io", "format", ... */

/* The error idiom: one-line checks, as zstd's RETURN_ERROR_IF / FORWARD_IF_ERROR.
 *   GF_TRY(expr)                       a failed status from expr is returned as it is
 *                                      (the callee has filled err)
 *   GF_FAIL_IF(cond, err, code, ...)   when cond holds, returns gf_errf(err, code, ...)
 * In a function with a cleanup label, the same checks jump instead of returning; they
 * assume the function's `gf_status rc` and its one label `done:`:
 *   GF_TRY_GOTO(expr)                  rc = expr; on failure goto done
 *   GF_FAIL_GOTO_IF(cond, err, code, ...)  when cond holds, rc = gf_errf(...); goto done */
#define GF_TRY(expr)                                                                                                   \
    do {                                                                                                               \
        gf_status gf_try_rc_ = (expr);                                                                                 \
        if (gf_try_rc_ != GF_OK) return gf_try_rc_;                                                                    \
    } while (0)
#define GF_FAIL_IF(cond, err, code, ...)                                                                               \
    do {                                                                                                               \
        if (cond) return gf_errf((err), (code), __VA_ARGS__);                                                          \
    } while (0)
#define GF_TRY_GOTO(expr)                                                                                              \
    do {                                                                                                               \
        if ((rc = (expr)) != GF_OK) goto done;                                                                         \
    } while (0)
#define GF_FAIL_GOTO_IF(cond, err, code, ...)                                                                          \
    do {                                                                                                               \
        if (cond) {                                                                                                    \
            rc = gf_errf((err), (code), __VA_ARGS__);                                                                  \
            goto done;                                                                                                 \
        }                                                                                                              \
    } while (0)

/* ---------------------------------------------------------------- numbers */

/* float -> IEEE half with round-to-nearest-even, as F16C's vcvtps2ph (imm 0) does. */
uint16_t gf_fp32_to_fp16(float f);
float gf_fp16_to_fp32(uint16_t h);
static inline float gf_bf16_to_fp32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Overflow-checked size arithmetic: return 0 and set *out, or 1 on overflow. */
static inline int gf_mul_overflow(uint64_t a, uint64_t b, uint64_t *out) {
    return __builtin_mul_overflow(a, b, out);
}
static inline int gf_add_overflow(uint64_t a, uint64_t b, uint64_t *out) {
    return __builtin_add_overflow(a, b, out);
}

/* Reads a whole (small) file into a NUL-terminated buffer; refuses files over max_bytes. */
gf_status gf_read_file(const char *path, size_t max_bytes, char **out, size_t *out_len, gf_err *err);

/* Wall clock in seconds (monotonic). */
double gf_time_now(void);

#endif /* GF_H */
