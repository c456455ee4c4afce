/*
 * vmath_internal: the per-level kernels behind vmath.h. Only vmath*.c
 * include this.
 */
#ifndef EMB_VMATH_INTERNAL_H
#define EMB_VMATH_INTERNAL_H

#include <stddef.h>

#if defined(__x86_64__) || defined(__i386__)
#define EMB_VMATH_DECLARE(lv)                                                    \
    void emb_vmath_gelu_erf_##lv(float *x, size_t n);                            \
    void emb_vmath_swiglu_##lv(float *up, const float *gate, size_t n);          \
    double emb_vmath_exp_sum_##lv(float *x, size_t n, float shift);              \
    void emb_vmath_erf_##lv(float *y, const float *x, size_t n);                 \
    void emb_vmath_exp_##lv(float *y, const float *x, size_t n);
EMB_VMATH_DECLARE(avx2)
EMB_VMATH_DECLARE(avx512)
#undef EMB_VMATH_DECLARE
#endif

/* Coefficients shared by the SIMD files (same formulas at both widths). */
#define VM_LOG2E 1.44269504088896341f
#define VM_LN2_HI 0.693359375f       /* Cephes split: hi has 9 bits, n * hi exact */
#define VM_LN2_LO (-2.12194440e-4f)
#define VM_EXP_P0 1.9875691500e-4f
#define VM_EXP_P1 1.3981999507e-3f
#define VM_EXP_P2 8.3334519073e-3f
#define VM_EXP_P3 4.1665795894e-2f
#define VM_EXP_P4 1.6666665459e-1f
#define VM_EXP_P5 5.0000001201e-1f
#define VM_EXP_LO (-104.0f) /* exp < half the smallest subnormal: 0 */
#define VM_EXP_HI 89.0f     /* exp > FLT_MAX: inf */

/* erf(x) ~ x P(x^2) / Q(x^2) on [-3.83, 3.83] (the rational approximation of
 * Eigen's / XLA's float erf) */
#define VM_ERF_CLAMP 3.832506856900711f /* erf rounds to 1 in float from here on */
#define VM_ERF_A1 (-1.60960333262415e-02f)
#define VM_ERF_A3 (-2.95459980854025e-03f)
#define VM_ERF_A5 (-7.34990630326855e-04f)
#define VM_ERF_A7 (-5.69250639462346e-05f)
#define VM_ERF_A9 (-2.10102402082508e-06f)
#define VM_ERF_A11 2.77068142495902e-08f
#define VM_ERF_A13 (-2.72614225801306e-10f)
#define VM_ERF_B0 (-1.42647390514189e-02f)
#define VM_ERF_B2 (-7.37332916720468e-03f)
#define VM_ERF_B4 (-1.68282697438203e-03f)
#define VM_ERF_B6 (-2.13374055278905e-04f)
#define VM_ERF_B8 (-1.45660718464996e-05f)

#define VM_INV_SQRT2 0.70710678118654752440f

#endif
