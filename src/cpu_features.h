/*
 * cpu_features: what the CPU and the operating system let us run.
 *
 * Read once from CPUID (and XGETBV for the OS's register-state support) and
 * cached; the answer never changes during a process. On non-x86 builds every
 * flag is false. The one CPU detector of the project: it picks the OpenBLAS
 * core type before OpenBLAS is loaded (blas.c) and the SIMD level of the
 * dequantization kernels (quant.c); new SIMD code asks it too.
 *
 * Thread-safe: the first call fills a static struct under pthread_once.
 */
#ifndef EMB_CPU_FEATURES_H
#define EMB_CPU_FEATURES_H

#include <stdbool.h>

typedef struct emb_cpu_features {
    char vendor[13];   /* "GenuineIntel", "AuthenticAMD", "" off x86     */
    unsigned family;   /* display family (base + extended)               */
    unsigned model;    /* display model (base + extended << 4)           */
    bool sse3, ssse3, sse41, sse42;
    bool avx, avx2, fma, f16c;
    bool avx512f, avx512bw, avx512vl, avx512dq, avx512cd, avx512_bf16;
    bool os_avx;       /* XCR0 has SSE + YMM state: the OS saves AVX registers   */
    bool os_avx512;    /* XCR0 also has opmask + ZMM state                        */
} emb_cpu_features;

/* The cached features of the running CPU. Never NULL. */
const emb_cpu_features *emb_cpu_features_get(void);

/* true if AVX2 + FMA + F16C code may run (CPU and OS): what the *_avx2.c
 * files are compiled for (-mavx2 -mfma -mf16c). */
bool emb_cpu_can_avx2(const emb_cpu_features *f);

/* true if AVX-512 F/BW/VL/DQ/CD code may run (CPU and OS), on top of AVX2:
 * the set of Skylake-X and every later AVX-512 CPU. The *_avx512.c files
 * use F/BW/VL/DQ; OpenBLAS's SkylakeX kernels also use CD. */
bool emb_cpu_can_avx512(const emb_cpu_features *f);

#endif
