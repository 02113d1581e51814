/*
 * cpu.c - which kernel sets this binary has and this CPU can run (CPUID on
 * x86-64, the auxiliary vector on aarch64 Linux), asked once, and the set the
 * engine uses by default.
 *
 * A set is built into the binary when its architecture is the target's: the
 * Makefile compiles kernels_avx2.c / gemm_avx2.c for x86-64 and kernels_neon.c /
 * gemm_neon.c for aarch64, under the same conditions as built() below.
 */
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include "cpu.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1 << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#endif

static const char *const set_names[GF_KERNELS_COUNT_] = {
    [GF_KERNELS_SCALAR] = "scalar", [GF_KERNELS_AVX2] = "avx2",
    [GF_KERNELS_NEON] = "neon",     [GF_KERNELS_NEON_DOT] = "neon-dot",
};

const char *gf_kernels_name(gf_kernel_set ks) {
    return (unsigned)ks < GF_KERNELS_COUNT_ ? set_names[ks] : "?";
}

int gf_kernels_from_name(const char *name) {
    for (int i = 0; i < GF_KERNELS_COUNT_; i++)
        if (name && strcmp(name, set_names[i]) == 0) return i;
    return -1;
}

static int built(gf_kernel_set ks) {
    switch (ks) {
    case GF_KERNELS_SCALAR: return 1;
#if defined(__x86_64__)
    case GF_KERNELS_AVX2: return 1;
#endif
#if defined(__aarch64__)
    case GF_KERNELS_NEON:
    case GF_KERNELS_NEON_DOT: return 1;
#endif
    default: return 0;
    }
}

#if defined(__x86_64__)
/* clang 14's __builtin_cpu_supports does not know "f16c": ask CPUID (leaf 1, ECX bit 29). */
static int cpu_has_f16c(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
}
#endif

static int cpu_has(gf_kernel_set ks) {
    switch (ks) {
    case GF_KERNELS_SCALAR: return 1;
#if defined(__x86_64__)
    case GF_KERNELS_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
#endif
#if defined(__aarch64__) && defined(__linux__)
    case GF_KERNELS_NEON: return (getauxval(AT_HWCAP) & HWCAP_ASIMD) != 0;
    case GF_KERNELS_NEON_DOT:
        return (getauxval(AT_HWCAP) & (HWCAP_ASIMD | HWCAP_ASIMDDP)) == (HWCAP_ASIMD | HWCAP_ASIMDDP);
#endif
    default: return 0;
    }
}

static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;
static int supported[GF_KERNELS_COUNT_];

static void ask_cpu(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
#endif
    for (int i = 0; i < GF_KERNELS_COUNT_; i++) supported[i] = built((gf_kernel_set)i) && cpu_has((gf_kernel_set)i);
}

int gf_kernels_supported(gf_kernel_set ks) {
    if ((unsigned)ks >= GF_KERNELS_COUNT_) return 0;
    pthread_once(&cpu_once, ask_cpu);
    return supported[ks];
}

gf_kernel_set gf_kernels_detect(void) {
    const char *env = getenv("GF_KERNELS");
    int want = env && *env ? gf_kernels_from_name(env) : -1;
    if (want >= 0 && gf_kernels_supported((gf_kernel_set)want)) return (gf_kernel_set)want;
    /* best first; an unknown or unsupported GF_KERNELS falls through to this */
    static const gf_kernel_set order[] = {GF_KERNELS_AVX2, GF_KERNELS_NEON_DOT, GF_KERNELS_NEON};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (gf_kernels_supported(order[i])) return order[i];
    return GF_KERNELS_SCALAR;
}

static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static gf_kernel_set default_set;

static void pick_default(void) { default_set = gf_kernels_detect(); }

gf_kernel_set gf_kernels_default(void) {
    pthread_once(&default_once, pick_default);
    return default_set;
}
