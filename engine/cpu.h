/*
 * cpu.h - the kernel sets (scalar, AVX2 on x86-64, NEON and NEON with SDOT on
 * aarch64): their names, which of them this binary has and this CPU runs, and
 * the one the engine uses by default.
 *
 * Below both kernels.c (the matmul) and gemm.c (the float GEMM): neither asks
 * the other about the CPU.  The CPU is asked once; GF_KERNELS (scalar, avx2,
 * neon, neon-dot) names another set to use instead of the best one, when this
 * CPU supports it.
 */
#ifndef GF_CPU_H
#define GF_CPU_H

typedef enum {
    GF_KERNELS_SCALAR = 0,
    GF_KERNELS_AVX2,
    GF_KERNELS_NEON,
    GF_KERNELS_NEON_DOT,
    GF_KERNELS_COUNT_
} gf_kernel_set;

/* The best set this CPU supports, unless GF_KERNELS names another that it
 * supports; reads GF_KERNELS at every call. */
gf_kernel_set gf_kernels_detect(void);
/* gf_kernels_detect() as it answered on the first call (thread-safe, once):
 * what gf_gemm_nt/_nn/_tn use, with no getenv or CPUID per product. */
gf_kernel_set gf_kernels_default(void);
const char *gf_kernels_name(gf_kernel_set ks);
/* The set a name (as gf_kernels_name spells it) stands for, or -1. */
int gf_kernels_from_name(const char *name);
/* 1 if the set is built into this binary and this CPU can run it (the CPU is
 * asked once). */
int gf_kernels_supported(gf_kernel_set ks);

#endif /* GF_CPU_H */
