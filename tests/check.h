/*
 * check.h - the whole test framework: CHECK macros that count, and a closing
 * line "<program>: N passed, N failed" that tests/run.sh adds up.
 * GF_SHARED (default ../shared) locates the shared models and oracle.
 */
#ifndef GF_CHECK_H
#define GF_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int check_passed, check_failed, check_skipped;

#define CHECK(cond, ...) do { \
    if (cond) check_passed++; \
    else { check_failed++; fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
           fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } \
} while (0)

#define SKIP(...) do { check_skipped++; fprintf(stderr, "SKIP: "); fprintf(stderr, __VA_ARGS__); \
                       fputc('\n', stderr); } while (0)

static inline const char *check_shared(void) {
    const char *s = getenv("GF_SHARED");
    return s && *s ? s : "../shared";
}

/* path under GF_SHARED, or NULL (with a SKIP) when it is absent */
static inline const char *check_shared_path(char *buf, size_t n, const char *rel) {
    snprintf(buf, n, "%s/%s", check_shared(), rel);
    if (access(buf, R_OK) != 0) { SKIP("%s not found (set GF_SHARED)", buf); return NULL; }
    return buf;
}

static inline int check_done(const char *prog) {
    printf("%s: %d passed, %d failed", prog, check_passed, check_failed);
    if (check_skipped) printf(", %d skipped", check_skipped);
    printf("\n");
    return check_failed ? 1 : 0;
}

#endif /* GF_CHECK_H */
