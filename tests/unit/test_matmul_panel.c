/*
 * test_matmul_panel: the bulk panel products (src/matmul_panel.h) against an
 * independent reference: the scalar reference dequantization
 * (emb_quant_kernel_ref, itself checked against the gguf PyPI package by
 * test_quant) and double-precision dot products computed here.
 *
 * For every computable type and every SIMD level the CPU can run (scalar,
 * avx2, avx512): T that are not multiples of the register blocks (65, 77,
 * 130, 513 and small ones), row ranges that start and end inside a panel,
 * K over several EMB_PANEL_KC blocks with a ragged last block, column slices
 * [k0, k0 + kc) as the FFN uses them, accumulate on and off, leading
 * dimensions larger than the widths, weights at unaligned addresses. Every
 * output must be within the float accumulation bound of the double result,
 * and nothing outside y[0..T)[0..r1 - r0) may be written. Also: results do
 * not depend on how the rows are split between calls (threads), and every
 * type gives exactly the products of its F32 twin.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <float.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml_types.h"
#include "matmul_panel.h"
#include "matmul_thin.h"
#include "quant.h"
#include "random_weights.h"

static const uint32_t TYPES[] = {
    GGML_TYPE_F32,  GGML_TYPE_F16,  GGML_TYPE_BF16, GGML_TYPE_Q4_0,   GGML_TYPE_Q4_1,
    GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q8_0, GGML_TYPE_Q2_K,   GGML_TYPE_Q3_K,
    GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_IQ4_NL, GGML_TYPE_IQ4_XS,
};
#define N_TYPES (sizeof TYPES / sizeof TYPES[0])
static const char *const LEVELS[] = {"scalar", "avx2", "avx512"};
#define CANARY (-7777.0f)

static float *scratch_new(void)
{
    float *s = aligned_alloc(64, EMB_PANEL_SCRATCH_FLOATS * sizeof(float));
    assert_non_null(s);
    return s;
}

/*
 * emb_matmul_panel_part on rows [r0, r1) of an N x K weight, columns
 * [k0, k0 + kc), T tokens, optionally accumulating; checks every output and
 * the canaries around them. Returns 1 if good.
 */
static int check_part(uint32_t type, size_t K, size_t N, size_t T, size_t r0, size_t r1,
                      size_t k0, size_t kc, bool accumulate, size_t misalign)
{
    const ggml_type_info *info = ggml_type_get(type);
    const size_t row_bytes = K / info->block_size * info->type_size;
    const size_t W = r1 - r0, ldx = kc + 3, ldy = W + 5;
    uint8_t *wbuf = malloc(N * row_bytes + misalign + 1);
    float *x = malloc(T * ldx * sizeof(float)), *y = malloc(T * ldy * sizeof(float));
    float *y0 = malloc(T * ldy * sizeof(float)), *wf = malloc(N * K * sizeof(float));
    float *scratch = scratch_new();
    assert_true(wbuf && x && y && y0 && wf);
    uint8_t *wdata = wbuf + misalign;
    test_fill_weights(wdata, type, K, N, row_bytes);
    for (size_t i = 0; i < T * ldx; i++)
        x[i] = test_rng_unit();
    for (size_t i = 0; i < T * ldy; i++)
        y0[i] = y[i] = (i % ldy) < W ? test_rng_unit() : CANARY;
    for (size_t r = 0; r < N; r++)
        emb_quant_kernel_ref(type)(wf + r * K, wdata + r * row_bytes, K);
    emb_weight w = {.data = wdata, .type = type, .ne0 = (int64_t)K, .ne1 = (int64_t)N,
                    .row_bytes = row_bytes};
    emb_matmul_panel_part(y, ldy, x, ldx, T, &w, r0, r1, k0, kc, accumulate, scratch);
    int ok = 1;
    for (size_t t = 0; t < T && ok; t++) {
        for (size_t c = 0; c < ldy && ok; c++) {
            const float got = y[t * ldy + c];
            if (c >= W) {
                if (got != CANARY) {
                    print_error("%s K=%zu rows [%zu,%zu) T=%zu at %s: wrote y[%zu][%zu]\n",
                                ggml_type_name(type), K, r0, r1, T, emb_quant_simd_level(), t, c);
                    ok = 0;
                }
                continue;
            }
            double want = accumulate ? (double)y0[t * ldy + c] : 0.0, mag = fabs(want);
            for (size_t k = 0; k < kc; k++) {
                const double p = (double)x[t * ldx + k] * (double)wf[(r0 + c) * K + k0 + k];
                want += p;
                mag += fabs(p);
            }
            /* one f32 chain of at most EMB_PANEL_KC terms per block, plus
             * one add per block */
            const size_t chain = kc < EMB_PANEL_KC ? kc : EMB_PANEL_KC;
            const double tol =
                ((double)chain + (double)(kc / EMB_PANEL_KC_STEP) + 4.0) * FLT_EPSILON * mag + 1e-30;
            if (!(fabs((double)got - want) <= tol)) {
                print_error("%s K=%zu cols [%zu,+%zu) rows [%zu,%zu) T=%zu acc=%d at %s: "
                            "y[%zu][%zu] = %.9g, want %.9g (tol %.3g)\n",
                            ggml_type_name(type), K, k0, kc, r0, r1, T, (int)accumulate,
                            emb_quant_simd_level(), t, c, (double)got, want, tol);
                ok = 0;
            }
        }
    }
    free(wbuf);
    free(x);
    free(y);
    free(y0);
    free(wf);
    free(scratch);
    return ok;
}

static void restore_best_level(void)
{
    for (int i = 2; i >= 0; i--)
        if (emb_quant_force_level(LEVELS[i]))
            return;
    fail_msg("no level accepted, not even scalar");
}

/* Ks of a type: one small width, one over two K blocks with a ragged last
 * block (element-wise types: also not a multiple of the vector width). */
static void widths(uint32_t type, size_t ks[2])
{
    const size_t bs = ggml_type_get(type)->block_size;
    if (bs == 1) {
        ks[0] = 37;
        ks[1] = 2 * EMB_PANEL_KC + 41;
    } else {
        ks[0] = 3 * bs;
        ks[1] = (2 * EMB_PANEL_KC / bs + 1) * bs;
    }
}

static void test_every_type_level_and_shape(void **state)
{
    (void)state;
    size_t cases = 0;
    int ok = 1;
    for (int l = 0; l < 3; l++) {
        if (!emb_quant_force_level(LEVELS[l]))
            continue;
        for (size_t ti = 0; ti < N_TYPES; ti++) {
            const uint32_t type = TYPES[ti];
            size_t ks[2];
            widths(type, ks);
            /* 75 rows = 32 + 32 + 11: full and ragged panels; ranges that
             * start and end inside panels and groups */
            static const size_t ranges[][2] = {{0, 75}, {3, 70}, {33, 34}, {1, 17}, {40, 75}};
            static const size_t Ts[] = {1, 6, 7, 13, 14, 15, 29, 65, 77, 130};
            for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
                for (size_t j = 0; j < sizeof Ts / sizeof Ts[0]; j++) {
                    ok &= check_part(type, ks[0], 75, Ts[j], ranges[i][0], ranges[i][1], 0,
                                     ks[0], false, (i + j) % 3);
                    cases++;
                }
            /* several K blocks */
            for (size_t j = 0; j < sizeof Ts / sizeof Ts[0]; j += 3) {
                ok &= check_part(type, ks[1], 40, Ts[j], j % 2, 40 - j % 3, 0, ks[1], false,
                                 j % 3);
                cases++;
            }
        }
    }
    restore_best_level();
    print_message("[          ] %zu product cases\n", cases);
    assert_true(ok);
}

/* A bulk-sized T on the hot types: 513 tokens = 43 blocks of 11-12
 * (AVX-512), 86 blocks of 5-6 (AVX2). */
static void test_bulk_tokens(void **state)
{
    (void)state;
    static const uint32_t hot[] = {GGML_TYPE_F16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_K};
    int ok = 1;
    for (int l = 0; l < 3; l++) {
        if (!emb_quant_force_level(LEVELS[l]))
            continue;
        for (size_t i = 0; i < sizeof hot / sizeof hot[0]; i++) {
            size_t ks[2];
            widths(hot[i], ks);
            ok &= check_part(hot[i], ks[1], 48, 513, 5, 48, 0, ks[1], i % 2 == 1, 1);
        }
    }
    restore_best_level();
    assert_true(ok);
}

/* Column slices (as the FFN's down projection uses them) and accumulation. */
static void test_column_slices_and_accumulate(void **state)
{
    (void)state;
    size_t cases = 0;
    int ok = 1;
    for (int l = 0; l < 3; l++) {
        if (!emb_quant_force_level(LEVELS[l]))
            continue;
        for (size_t ti = 0; ti < N_TYPES; ti++) {
            const uint32_t type = TYPES[ti];
            const size_t bs = ggml_type_get(type)->block_size;
            size_t ks[2];
            widths(type, ks);
            const size_t K = ks[1];
            const size_t k0 = bs == 1 ? 7 : bs, kc = bs == 1 ? K - 7 - 5 : K - 2 * bs;
            for (int acc = 0; acc < 2; acc++) {
                ok &= check_part(type, K, 37, 65, 1, 36, k0, kc, acc, 0);
                ok &= check_part(type, K, 37, 77, 0, 37, 0, K, acc, 2);
                ok &= check_part(type, K, 37, 15, 5, 37, K - kc, kc, acc, 1); /* to the end */
                cases += 3;
            }
        }
    }
    restore_best_level();
    print_message("[          ] %zu slice cases\n", cases);
    assert_true(ok);
}

/* Rows split between calls at any boundary (as threads split a product)
 * give bit-identical outputs: an output never depends on its panel. */
static void test_split_is_bit_identical(void **state)
{
    (void)state;
    const uint32_t type = GGML_TYPE_Q8_0;
    const size_t K = 2 * EMB_PANEL_KC + 64, N = 100, T = 77;
    const ggml_type_info *info = ggml_type_get(type);
    const size_t row_bytes = K / info->block_size * info->type_size;
    uint8_t *wdata = malloc(N * row_bytes);
    float *x = malloc(T * K * sizeof(float)), *ya = malloc(T * N * sizeof(float));
    float *yb = malloc(T * N * sizeof(float)), *scratch = scratch_new();
    assert_true(wdata && x && ya && yb);
    test_fill_weights(wdata, type, K, N, row_bytes);
    for (size_t i = 0; i < T * K; i++)
        x[i] = test_rng_unit();
    emb_weight w = {.data = wdata, .type = type, .ne0 = (int64_t)K, .ne1 = (int64_t)N,
                    .row_bytes = row_bytes};
    for (int l = 0; l < 3; l++) {
        if (!emb_quant_force_level(LEVELS[l]))
            continue;
        emb_matmul_panel_part(ya, N, x, K, T, &w, 0, N, 0, K, false, scratch);
        static const size_t cuts[] = {0, 5, 37, 38, 64, 99, 100};
        for (size_t c = 0; c + 1 < sizeof cuts / sizeof cuts[0]; c++)
            emb_matmul_panel_part(yb + cuts[c], N, x, K, T, &w, cuts[c], cuts[c + 1], 0, K, false,
                                  scratch);
        assert_memory_equal(ya, yb, T * N * sizeof(float));
    }
    restore_best_level();
    free(wdata);
    free(x);
    free(ya);
    free(yb);
    free(scratch);
}

/* A weight of any type gives products bit-identical to its F32 twin (the
 * reference dequantization stored as F32): the panels are exactly the
 * reference weights (SIMD dequantization and the transposing pack are
 * exact), and the micro-kernel is the same. */
static void test_bit_identical_to_f32_twin(void **state)
{
    (void)state;
    const size_t N = 70, T = 29;
    int ok = 1;
    for (int l = 0; l < 3; l++) {
        if (!emb_quant_force_level(LEVELS[l]))
            continue;
        for (size_t ti = 0; ti < N_TYPES; ti++) {
            const uint32_t type = TYPES[ti];
            const ggml_type_info *info = ggml_type_get(type);
            size_t ks[2];
            widths(type, ks);
            for (int wi = 0; wi < 2; wi++) {
                const size_t K = ks[wi], row_bytes = K / info->block_size * info->type_size;
                uint8_t *wq = malloc(N * row_bytes);
                float *wf = malloc(N * K * sizeof(float)), *x = malloc(T * K * sizeof(float));
                float *ya = malloc(T * N * sizeof(float)), *yb = malloc(T * N * sizeof(float));
                float *scratch = scratch_new();
                assert_true(wq && wf && x && ya && yb);
                test_fill_weights(wq, type, K, N, row_bytes);
                for (size_t r = 0; r < N; r++)
                    emb_quant_kernel_ref(type)(wf + r * K, wq + r * row_bytes, K);
                for (size_t i = 0; i < T * K; i++)
                    x[i] = test_rng_unit();
                emb_weight w = {.data = wq, .type = type, .ne0 = (int64_t)K, .ne1 = (int64_t)N,
                                .row_bytes = row_bytes};
                emb_weight w32 = {.data = wf, .type = GGML_TYPE_F32, .ne0 = (int64_t)K,
                                  .ne1 = (int64_t)N, .row_bytes = K * sizeof(float)};
                emb_matmul_panel_part(ya, N, x, K, T, &w, 0, N, 0, K, false, scratch);
                emb_matmul_panel_part(yb, N, x, K, T, &w32, 0, N, 0, K, false, scratch);
                if (memcmp(ya, yb, T * N * sizeof(float)) != 0) {
                    print_error("%s K=%zu at %s: not bit-identical to the F32 twin\n",
                                ggml_type_name(type), K, emb_quant_simd_level());
                    ok = 0;
                }
                free(wq);
                free(wf);
                free(x);
                free(ya);
                free(yb);
                free(scratch);
            }
        }
    }
    restore_best_level();
    assert_true(ok);
}

/* T == 0, empty row ranges and empty slices write nothing. */
static void test_empty_products_write_nothing(void **state)
{
    (void)state;
    float w[64], x[64], y[64];
    float *scratch = scratch_new();
    for (int i = 0; i < 64; i++) {
        w[i] = 1.0f;
        x[i] = 1.0f;
        y[i] = CANARY;
    }
    emb_weight wt = {.data = w, .type = GGML_TYPE_F32, .ne0 = 16, .ne1 = 4, .row_bytes = 64};
    emb_matmul_panel_part(y, 4, x, 16, 0, &wt, 0, 4, 0, 16, false, scratch);
    emb_matmul_panel_part(y, 4, x, 16, 2, &wt, 3, 3, 0, 16, false, scratch);
    emb_matmul_panel_part(y, 4, x, 16, 2, &wt, 4, 2, 0, 16, false, scratch);
    emb_matmul_panel_part(y, 4, x, 16, 2, &wt, 0, 4, 0, 0, true, scratch);
    for (int i = 0; i < 64; i++)
        assert_true(y[i] == CANARY);
    free(scratch);
}

/* The predicate: never for types that cannot be computed, never in the thin
 * range, never at the scalar level (BLAS wins); else for every type. */
static void test_predicate(void **state)
{
    (void)state;
    assert_false(emb_matmul_panel_wins(GGML_TYPE_F16, 0));
    assert_false(emb_matmul_panel_wins(GGML_TYPE_COUNT, 512));
    assert_false(emb_matmul_panel_wins(4 /* Q4_2, removed */, 512));
    assert_true(emb_quant_force_level("scalar"));
    assert_false(emb_matmul_panel_wins(GGML_TYPE_F16, 512));
    assert_int_equal(emb_matmul_panel_rows(), 8);
    restore_best_level();
    if (strcmp(emb_quant_simd_level(), "scalar") != 0) {
        assert_int_equal(emb_matmul_panel_rows(),
                         strcmp(emb_quant_simd_level(), "avx512") == 0 ? 48 : 16);
        for (size_t i = 0; i < N_TYPES; i++) {
            assert_false(emb_matmul_panel_wins(TYPES[i], EMB_THIN_MAX_TOKENS));
            assert_true(emb_matmul_panel_wins(TYPES[i], EMB_THIN_MAX_TOKENS + 1));
            assert_true(emb_matmul_panel_wins(TYPES[i], 4096));
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_type_level_and_shape),
        cmocka_unit_test(test_bulk_tokens),
        cmocka_unit_test(test_column_slices_and_accumulate),
        cmocka_unit_test(test_split_is_bit_identical),
        cmocka_unit_test(test_bit_identical_to_f32_twin),
        cmocka_unit_test(test_empty_products_write_nothing),
        cmocka_unit_test(test_predicate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
