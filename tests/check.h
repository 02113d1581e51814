/*
 * check.h - the whole test framework: CHECK macros that count, skips counted by
 * cause, and a closing line "<program>: N passed, N failed[, N skipped (data N,
 * cpu N, tools N, other N)]" that tests/run.sh adds up.
 * GF_SHARED (default ../shared) locates the shared models and oracle.  Under CI
 * (CI=true, as .ci/run sets it) a missing shared file is a failure, not a skip:
 * a green CI run has compared against llama.cpp's files.
 * GF_SANITIZED marks the sanitizer build, where the slowest comparisons take a subset.
 */
#ifndef GF_CHECK_H
#define GF_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* why a check was skipped: missing shared data, a kernel set this CPU (or
 * binary) cannot run, a missing tool, anything else */
enum { CHECK_SKIP_DATA, CHECK_SKIP_CPU, CHECK_SKIP_TOOLS, CHECK_SKIP_OTHER, CHECK_SKIP_CAUSES_ };
static const char *const check_skip_cause[CHECK_SKIP_CAUSES_] = {"data", "cpu", "tools", "other"};
static int check_passed, check_failed, check_skipped, check_skips[CHECK_SKIP_CAUSES_];

#define CHECK(cond, ...) do { \
    if (cond) check_passed++; \
    else { check_failed++; fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
           fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } \
} while (0)

#define SKIP_BY(cause, ...) do { check_skipped++; check_skips[cause]++; \
                                 fprintf(stderr, "SKIP (%s): ", check_skip_cause[cause]); \
                                 fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } while (0)
#define SKIP(...) SKIP_BY(CHECK_SKIP_OTHER, __VA_ARGS__)
#define SKIP_DATA(...) SKIP_BY(CHECK_SKIP_DATA, __VA_ARGS__)
#define SKIP_CPU(...) SKIP_BY(CHECK_SKIP_CPU, __VA_ARGS__)
#define SKIP_TOOLS(...) SKIP_BY(CHECK_SKIP_TOOLS, __VA_ARGS__)

/* 1 in the sanitizer build (make asan passes -DGF_SANITIZED=1).  The slowest oracle
 * comparisons run a subset there, still against llama.cpp's numbers; make test runs
 * them whole.  Instrumented code is 5-10 times slower, and CI runs both. */
#ifndef GF_SANITIZED
#define GF_SANITIZED 0
#endif

static inline const char *check_shared(void) {
    const char *s = getenv("GF_SHARED");
    return s && *s ? s : "../shared";
}

/* running under CI (CI=true or CI=1, as CI services and .ci/run set it) */
static inline int check_in_ci(void) {
    const char *s = getenv("CI");
    return s && (!strcmp(s, "true") || !strcmp(s, "1"));
}

/* path under GF_SHARED, or NULL when it is absent: a data skip, or under CI a failure */
static inline const char *check_shared_path(char *buf, size_t n, const char *rel) {
    snprintf(buf, n, "%s/%s", check_shared(), rel);
    if (access(buf, R_OK) == 0) return buf;
    if (check_in_ci()) CHECK(0, "%s not found: under CI (CI=%s) the shared files must be present (set GF_SHARED)", buf,
                             getenv("CI"));
    else SKIP_DATA("%s not found (set GF_SHARED)", buf);
    return NULL;
}

static inline int check_done(const char *prog) {
    printf("%s: %d passed, %d failed", prog, check_passed, check_failed);
    if (check_skipped) {
        printf(", %d skipped (", check_skipped);
        for (int c = 0, first = 1; c < CHECK_SKIP_CAUSES_; c++)
            if (check_skips[c]) { printf("%s%s %d", first ? "" : ", ", check_skip_cause[c], check_skips[c]); first = 0; }
        printf(")");
    }
    printf("\n");
    return check_failed ? 1 : 0;
}

#endif /* GF_CHECK_H */
