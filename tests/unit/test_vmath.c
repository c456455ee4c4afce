/*
 * test_vmath: accuracy of the vectorized activations (src/vmath.h) against
 * double-precision libm (erf, exp) over dense sweeps, at every SIMD level
 * the CPU can run. Prints the measured maxima (docs/engine.md quotes them)
 * and asserts bounds a little above them, so that a changed coefficient or
 * a broken tail fails.
 *
 * Errors in ulp are |got - exact| / ulp(exact) with ulp(v) the spacing of
 * floats at |v| (2^-149 below the normal range).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant.h"
#include "vmath.h"

static const char *const LEVELS[] = {"scalar", "avx2", "avx512"};

static void restore_best_level(void)
{
    for (int i = 2; i >= 0; i--)
        if (emb_quant_force_level(LEVELS[i]))
            return;
    fail_msg("no level accepted, not even scalar");
}

static double ulp_of(double v)
{
    v = fabs(v);
    if (v < FLT_MIN)
        return ldexp(1.0, -149);
    int e;
    frexp(v, &e); /* v = m 2^e, m in [0.5, 1) */
    return ldexp(1.0, e - 24);
}

typedef struct err_stats {
    double max_ulp, max_abs, at_ulp, at_abs;
} err_stats;

static void account(err_stats *s, double x, double got, double want)
{
    const double abs_err = fabs(got - want);
    const double ulp = abs_err / ulp_of(want);
    if (ulp > s->max_ulp) {
        s->max_ulp = ulp;
        s->at_ulp = x;
    }
    if (abs_err > s->max_abs) {
        s->max_abs = abs_err;
        s->at_abs = x;
    }
}

/* Sweep points: uniform steps over [lo, hi], n points (odd n so that the
 * vector tails are exercised too). */
static float *sweep(double lo, double hi, size_t n)
{
    float *x = malloc(n * sizeof(float));
    assert_non_null(x);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * (double)i / (double)(n - 1));
    return x;
}

/* |x| from 1e-30 to 1 geometrically, both signs: erf(x) ~ x needs relative
 * accuracy there. */
static float *tiny_sweep(size_t n)
{
    float *x = malloc(n * sizeof(float));
    assert_non_null(x);
    for (size_t i = 0; i < n; i++) {
        double v = pow(10.0, -30.0 + 30.0 * (double)(i / 2) / (double)(n / 2));
        x[i] = (float)(i % 2 ? -v : v);
    }
    return x;
}

static void test_erf(void **state)
{
    (void)state;
    const size_t n = 1200001;
    float *x = sweep(-6.0, 6.0, n), *y = malloc(n * sizeof(float));
    float *xt = tiny_sweep(20001), *yt = malloc(20001 * sizeof(float));
    assert_non_null(y);
    assert_non_null(yt);
    for (int l = 0; l < 3; l++) {
        if (!emb_quant_force_level(LEVELS[l]))
            continue;
        err_stats s = {0}, st = {0};
        emb_vmath_erf(y, x, n);
        for (size_t i = 0; i < n; i++)
            account(&s, x[i], y[i], erf((double)x[i]));
        emb_vmath_erf(yt, xt, 20001);
        for (size_t i = 0; i < 20001; i++)
            account(&st, xt[i], yt[i], erf((double)xt[i]));
        print_message("[          ] erf %-6s [-6,6]: max %.2f ulp (x=%.6g), max abs %.3g (x=%.6g); "
                      "|x| in [1e-30,1]: max %.2f ulp (x=%.6g)\n",
                      LEVELS[l], s.max_ulp, s.at_ulp, s.max_abs, s.at_abs, st.max_ulp, st.at_ulp);
        assert_true(s.max_abs <= 3.5e-7);
        assert_true(s.max_ulp <= 6.0);
        assert_true(st.max_ulp <= 4.0);
        float special[3] = {INFINITY, -INFINITY, NAN}, out[3];
        emb_vmath_erf(out, special, 3);
        assert_true(out[0] == 1.0f && out[1] == -1.0f && isnan(out[2]));
    }
    restore_best_level();
    free(x);
    free(y);
    free(xt);
    free(yt);
}

static void test_exp(void **state)
{
    (void)state;
    const size_t n = 1930001;
    float *x = sweep(-104.0, 89.0, n), *y = malloc(n * sizeof(float));
    assert_non_null(y);
    for (int l = 0; l < 3; l++) {
        if (!emb_quant_force_level(LEVELS[l]))
            continue;
        err_stats s = {0}, sub = {0};
        emb_vmath_exp(y, x, n);
        for (size_t i = 0; i < n; i++) {
            const double want = exp((double)x[i]);
            if (want > FLT_MAX) {
                assert_true(isinf(y[i]) && y[i] > 0);
                continue;
            }
            account(want < FLT_MIN ? &sub : &s, x[i], y[i], want);
        }
        print_message("[          ] exp %-6s [-104,89]: normal results max %.2f ulp (x=%.6g); "
                      "subnormal results max %.2f ulp of 2^-149 (x=%.6g)\n",
                      LEVELS[l], s.max_ulp, s.at_ulp, sub.max_ulp, sub.at_ulp);
        assert_true(s.max_ulp <= 2.0);
        assert_true(sub.max_ulp <= 1.0);
        float special[4] = {INFINITY, -INFINITY, NAN, 0.0f}, out[4];
        emb_vmath_exp(out, special, 4);
        assert_true(isinf(out[0]) && out[1] == 0.0f && isnan(out[2]) && out[3] == 1.0f);
    }
    restore_best_level();
    free(x);
    free(y);
}

/* GELU and SwiGLU against the double formulas; the bound is absolute error
 * relative to max(1, |x|): near-cancellation for x << 0 (1 + erf -> 0) is
 * inherent in the float formula the naive twin uses too. */
static void test_gelu_and_swiglu(void **state)
{
    (void)state;
    const size_t n = 400003;
    float *x = sweep(-12.0, 12.0, n), *g = malloc(n * sizeof(float));
    float *u = malloc(n * sizeof(float));
    assert_non_null(g);
    assert_non_null(u);
    for (int l = 0; l < 3; l++) {
        if (!emb_quant_force_level(LEVELS[l]))
            continue;
        memcpy(g, x, n * sizeof(float));
        emb_vmath_gelu_erf(g, n);
        double gelu_err = 0.0;
        for (size_t i = 0; i < n; i++) {
            const double xd = x[i];
            const double want = 0.5 * xd * (1.0 + erf(xd / sqrt(2.0)));
            const double e = fabs(g[i] - want) / fmax(1.0, fabs(xd));
            gelu_err = fmax(gelu_err, e);
        }
        for (size_t i = 0; i < n; i++)
            u[i] = 0.5f + (float)(i % 7) * 0.25f;
        emb_vmath_swiglu(u, x, n);
        double swi_err = 0.0;
        for (size_t i = 0; i < n; i++) {
            const double gd = x[i], ud = 0.5 + (double)(i % 7) * 0.25;
            const double want = gd / (1.0 + exp(-gd)) * ud;
            swi_err = fmax(swi_err, fabs(u[i] - want) / fmax(1.0, fabs(want)));
        }
        print_message("[          ] %-6s gelu max err %.3g, swiglu max err %.3g (abs / max(1, |v|))\n",
                      LEVELS[l], gelu_err, swi_err);
        assert_true(gelu_err <= 4e-7);
        assert_true(swi_err <= 4e-7);
    }
    restore_best_level();
    free(x);
    free(g);
    free(u);
}

/* The softmax helper: values exp(x - shift), sum in double of those values,
 * every length 0..40 (vector tails) plus one long row. */
static void test_exp_sum(void **state)
{
    (void)state;
    for (int l = 0; l < 3; l++) {
        if (!emb_quant_force_level(LEVELS[l]))
            continue;
        for (size_t n = 0; n <= 2049; n = n < 40 ? n + 1 : 2049) {
            float *x = malloc((n + 1) * sizeof(float)), *orig = malloc((n + 1) * sizeof(float));
            assert_non_null(x);
            assert_non_null(orig);
            for (size_t i = 0; i <= n; i++)
                orig[i] = x[i] = (float)((double)((i * 37) % 101) * 0.13 - 9.0);
            x[n] = orig[n] = 123.0f; /* canary past the end */
            const float shift = 2.5f;
            const double sum = emb_vmath_exp_sum(x, n, shift);
            double want_sum = 0.0, sum_of_got = 0.0;
            for (size_t i = 0; i < n; i++) {
                const double want = exp((double)(orig[i] - shift));
                assert_true(fabs(x[i] - want) <= 2.0 * ulp_of(want));
                want_sum += want;
                sum_of_got += x[i];
            }
            assert_true(x[n] == 123.0f);
            assert_true(fabs(sum - sum_of_got) <= 1e-12 * fmax(1.0, sum_of_got));
            assert_true(fabs(sum - want_sum) <= 2.5e-7 * fmax(1.0, want_sum));
            free(x);
            free(orig);
            if (n == 2049)
                break;
        }
    }
    restore_best_level();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_erf),
        cmocka_unit_test(test_exp),
        cmocka_unit_test(test_gelu_and_swiglu),
        cmocka_unit_test(test_exp_sum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
