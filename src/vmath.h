/*
 * vmath: the element-wise activations of the forward pass, vectorized:
 * exact-erf GELU (bert), SiLU-gated SwiGLU (nomic) and the exponentials of
 * the softmax. glibc's erff/expf were 9-14 % of a one-text profile.
 *
 * Levels follow quant.h's dispatcher (emb_quant_simd_level(), forced by
 * emb_quant_force_level in tests): "scalar" calls libm's erff/expf (the
 * naive twin's functions), "avx2" and "avx512" use polynomial kernels
 * (vmath_avx2.c, vmath_avx512.c; both compute the same formulas):
 *   exp: Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, degree-6 Cephes
 *        polynomial, 2^n applied exactly (overflow -> inf, gradual underflow
 *        down to 0 below -103.97);
 *   erf: odd/even rational minimax approximation on [-4, 4] (erf = +-1 in
 *        float beyond), one division.
 * Accuracy measured against double-precision libm over a dense sweep by
 * tests/unit/test_vmath.c (bounds asserted there, values in docs/engine.md).
 *
 * All functions are pure, thread-safe, and accept n == 0.
 */
#ifndef EMB_VMATH_H
#define EMB_VMATH_H

#include <stddef.h>

/* x: (n) in place.  x = 0.5 x (1 + erf(x / sqrt 2))  (HF BERT's exact GELU) */
void emb_vmath_gelu_erf(float *x, size_t n);

/* up, gate: (n).  up = gate / (1 + exp(-gate)) * up  (SiLU(gate) * up) */
void emb_vmath_swiglu(float *up, const float *gate, size_t n);

/* x: (n) in place.  x = exp(x - shift); returns the sum of the new x[i],
 * accumulated in double (the softmax's normalizer, docs/format.md §6.1). */
double emb_vmath_exp_sum(float *x, size_t n, float shift);

/* y = erf(x), y = exp(x) element-wise (tests and accuracy sweeps). */
void emb_vmath_erf(float *y, const float *x, size_t n);
void emb_vmath_exp(float *y, const float *x, size_t n);

#endif
