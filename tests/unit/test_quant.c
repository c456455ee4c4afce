/*
 * test_quant: dequantization kernels (src/quant.h).
 *
 * Golden values come from numpy + the PyPI gguf package through
 * tests/python/gen_quant_goldens.py, which ctest runs first (fixture
 * quant_goldens, tests/cmake/quant.cmake) into $EMBED_BUILD_DIR/quant_goldens.bin.
 *
 * - every scalar reference kernel and every SIMD level this CPU can run must
 *   reproduce the goldens bit for bit (NaN == NaN whatever the payload);
 * - every SIMD level must equal the scalar kernels on random C-generated
 *   blocks (any bytes, NaN/inf scales included), many sizes, unaligned
 *   source and destination, without writing past n;
 * - f16 / bf16 / f32 -> f16 conversions, emb_dequant_rows, type support,
 *   level forcing and CPU detection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml_types.h"
#include "quant.h"
#include "random_weights.h"

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define HAVE_MXCSR 1
#else
#define HAVE_MXCSR 0
#endif

/* ---- goldens ------------------------------------------------------------------ */

enum { KIND_DEQUANT = 1, KIND_F32_TO_F16 = 2 };

typedef struct golden {
    uint32_t kind, type;
    uint64_t n;
    char label[128];
    const uint8_t *in; /* unaligned, inside the file buffer */
    uint64_t in_len;
    const uint8_t *out;
    uint64_t out_len;
} golden;

typedef struct goldens {
    uint8_t *buf;
    size_t size;
    golden *recs;
    uint32_t count;
} goldens;

static goldens G;

static const uint32_t SUPPORTED[] = {
    GGML_TYPE_F32,  GGML_TYPE_F16,  GGML_TYPE_BF16, GGML_TYPE_Q4_0,  GGML_TYPE_Q4_1,
    GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q8_0, GGML_TYPE_Q2_K,  GGML_TYPE_Q3_K,
    GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_IQ4_NL, GGML_TYPE_IQ4_XS,
};
#define N_SUPPORTED (sizeof SUPPORTED / sizeof SUPPORTED[0])

static const char *const LEVELS[] = {"scalar", "avx2", "avx512"};

typedef struct cursor {
    const uint8_t *p;
    size_t left;
} cursor;

static int take(cursor *c, void *out, size_t len)
{
    if (len > c->left)
        return -1;
    if (out)
        memcpy(out, c->p, len);
    c->p += len;
    c->left -= len;
    return 0;
}

static int take_span(cursor *c, const uint8_t **span, uint64_t *len)
{
    if (take(c, len, 8) != 0 || *len > c->left)
        return -1;
    *span = c->p;
    return take(c, NULL, (size_t)*len);
}

static int load_goldens(void **state)
{
    (void)state;
    const char *dir = getenv("EMBED_BUILD_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/quant_goldens.bin", dir ? dir : ".");
    FILE *f = fopen(path, "rb");
    if (!f) {
        print_error("cannot open %s (run ctest: fixture quant_goldens generates it)\n", path);
        return -1;
    }
    int rc = -1;
    if (fseek(f, 0, SEEK_END) != 0)
        goto end;
    long size = ftell(f);
    if (size < 12 || fseek(f, 0, SEEK_SET) != 0)
        goto end;
    G.size = (size_t)size;
    G.buf = malloc(G.size);
    if (!G.buf || fread(G.buf, 1, G.size, f) != G.size)
        goto end;
    cursor c = {G.buf, G.size};
    char magic[8];
    if (take(&c, magic, 8) != 0 || memcmp(magic, "EMBQGLD1", 8) != 0 || take(&c, &G.count, 4) != 0 ||
        G.count == 0 || G.count > 100000)
        goto end;
    G.recs = calloc(G.count, sizeof *G.recs);
    if (!G.recs)
        goto end;
    for (uint32_t i = 0; i < G.count; i++) {
        golden *r = &G.recs[i];
        uint32_t label_len;
        if (take(&c, &r->kind, 4) || take(&c, &r->type, 4) || take(&c, &r->n, 8) ||
            take(&c, &label_len, 4) || label_len >= sizeof r->label || take(&c, r->label, label_len) ||
            take_span(&c, &r->in, &r->in_len) || take_span(&c, &r->out, &r->out_len)) {
            print_error("%s: record %u is truncated or malformed\n", path, i);
            goto end;
        }
        r->label[label_len] = '\0';
    }
    rc = c.left == 0 ? 0 : -1;
end:
    if (rc != 0)
        print_error("%s: not a valid golden file\n", path);
    fclose(f);
    return rc;
}

static int free_goldens(void **state)
{
    (void)state;
    free(G.recs);
    free(G.buf);
    memset(&G, 0, sizeof G);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------ */

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static int same_float(float a, float b)
{
    return (isnan(a) && isnan(b)) || f32_bits(a) == f32_bits(b);
}

/* Bit-exact comparison (NaN equals NaN). On failure prints how many differ,
 * the first differing index with both values, and the largest difference. */
static int check_same(const float *got, const float *want, size_t n, const char *what)
{
    size_t n_diff = 0, first = 0, worst = 0;
    double worst_diff = -1.0;
    for (size_t i = 0; i < n; i++) {
        if (same_float(got[i], want[i]))
            continue;
        if (n_diff++ == 0)
            first = i;
        double diff = fabs((double)got[i] - (double)want[i]);
        if (isnan(diff))
            diff = INFINITY;
        if (diff > worst_diff) {
            worst_diff = diff;
            worst = i;
        }
    }
    if (n_diff == 0)
        return 1;
    print_error("%s: %zu of %zu values differ; first at [%zu]: got %.9g (0x%08x) want %.9g (0x%08x); "
                "largest |diff| %.9g at [%zu]: got %.9g want %.9g\n",
                what, n_diff, n, first, (double)got[first], (unsigned)f32_bits(got[first]),
                (double)want[first], (unsigned)f32_bits(want[first]), worst_diff, worst,
                (double)got[worst], (double)want[worst]);
    return 0;
}

static float *expected_floats(const golden *r)
{
    float *want = malloc(r->out_len ? r->out_len : 1);
    assert_non_null(want);
    memcpy(want, r->out, r->out_len);
    return want;
}

/* The best level the CPU accepts (restores the dispatcher's own choice). */
static void restore_best_level(void)
{
    for (int i = 2; i >= 0; i--)
        if (emb_quant_force_level(LEVELS[i]))
            return;
    fail_msg("no level accepted, not even scalar");
}

static void fill_random(uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(test_rng_next() >> 56);
}

static int is_supported_id(uint32_t t)
{
    for (size_t i = 0; i < N_SUPPORTED; i++)
        if (SUPPORTED[i] == t)
            return 1;
    return 0;
}

/* ---- tests --------------------------------------------------------------------- */

static void test_type_support_table(void **state)
{
    (void)state;
    for (uint32_t t = 0; t < GGML_TYPE_COUNT + 8; t++) {
        const int want = is_supported_id(t);
        assert_int_equal(emb_quant_supported(t), want);
        if (want) {
            assert_non_null(emb_quant_kernel(t));
            assert_non_null(emb_quant_kernel_ref(t));
            assert_non_null(ggml_type_get(t));
        } else {
            assert_null(emb_quant_kernel(t));
            assert_null(emb_quant_kernel_ref(t));
        }
    }
    /* valid in files but not computable here: rejected, not crashing */
    const uint32_t rejected[] = {GGML_TYPE_Q8_1,  GGML_TYPE_Q8_K, GGML_TYPE_IQ2_XXS, GGML_TYPE_IQ1_M,
                                 GGML_TYPE_TQ1_0, GGML_TYPE_I8,   GGML_TYPE_F64,     UINT32_MAX};
    for (size_t i = 0; i < sizeof rejected / sizeof rejected[0]; i++) {
        assert_false(emb_quant_supported(rejected[i]));
        assert_null(emb_quant_kernel(rejected[i]));
        assert_null(emb_quant_kernel_ref(rejected[i]));
    }
}

static void test_goldens_cover_every_type(void **state)
{
    (void)state;
    int seen[GGML_TYPE_COUNT] = {0};
    int seen_f32_to_f16 = 0;
    for (uint32_t i = 0; i < G.count; i++) {
        const golden *r = &G.recs[i];
        if (r->kind == KIND_F32_TO_F16) {
            assert_int_equal(r->in_len, r->n * 4);
            assert_int_equal(r->out_len, r->n * 2);
            seen_f32_to_f16 = 1;
            continue;
        }
        assert_int_equal(r->kind, KIND_DEQUANT);
        const ggml_type_info *info = ggml_type_get(r->type);
        assert_non_null(info);
        /* the generator's (gguf-py's) block sizes agree with ggml_types.c */
        assert_int_equal(r->n % info->block_size, 0);
        assert_int_equal(r->in_len, r->n / info->block_size * info->type_size);
        assert_int_equal(r->out_len, r->n * 4);
        seen[r->type]++;
    }
    for (size_t i = 0; i < N_SUPPORTED; i++) {
        if (seen[SUPPORTED[i]] == 0)
            fail_msg("no golden record for %s", ggml_type_name(SUPPORTED[i]));
    }
    assert_true(seen_f32_to_f16);
}

/* Every dequant record through the kernel pick(type) returns. */
static int check_goldens_with(emb_dequant_fn (*pick)(uint32_t), const char *level)
{
    int ok = 1, checked = 0;
    for (uint32_t i = 0; i < G.count; i++) {
        const golden *r = &G.recs[i];
        if (r->kind != KIND_DEQUANT)
            continue;
        const emb_dequant_fn fn = pick(r->type);
        assert_non_null(fn);
        float *want = expected_floats(r);
        float *got = malloc((size_t)r->n * sizeof(float) + 1);
        assert_non_null(got);
        fn(got, r->in, (size_t)r->n); /* r->in is unaligned on purpose */
        char what[200];
        snprintf(what, sizeof what, "%s [%s kernel]", r->label, level);
        ok &= check_same(got, want, (size_t)r->n, what);
        free(got);
        free(want);
        checked++;
    }
    assert_true(checked > 0);
    return ok;
}

static void test_ref_kernels_match_gguf_py(void **state)
{
    (void)state;
    assert_true(check_goldens_with(emb_quant_kernel_ref, "scalar reference"));
}

static void test_every_level_matches_gguf_py(void **state)
{
    (void)state;
    int levels = 0;
    for (int l = 0; l < 3; l++) {
        if (!emb_quant_force_level(LEVELS[l]))
            continue;
        assert_string_equal(emb_quant_simd_level(), LEVELS[l]);
        const int ok = check_goldens_with(emb_quant_kernel, LEVELS[l]);
        restore_best_level();
        assert_true(ok);
        levels++;
    }
    print_message("[          ] goldens checked at %d level(s), best: %s\n", levels, emb_quant_simd_level());
    assert_true(levels >= 1);
}

/* A host process built with -ffast-math runs with flush-to-zero and
 * denormals-are-zero set. Dequantized values must not change: f16 subnormal
 * scales are converted with integer ops (scalar) or F16C (which ignores DAZ),
 * and no product or difference of the formats is an f32 subnormal. */
static void test_every_level_matches_gguf_py_under_ftz_daz(void **state)
{
    (void)state;
#if HAVE_MXCSR
    const unsigned saved = _mm_getcsr();
    _mm_setcsr(saved | 0x8040u); /* FTZ (bit 15) | DAZ (bit 6) */
    int ok = 1;
    for (int l = 0; l < 3; l++) {
        if (!emb_quant_force_level(LEVELS[l]))
            continue;
        char level[64];
        snprintf(level, sizeof level, "%s, FTZ+DAZ", LEVELS[l]);
        ok &= check_goldens_with(emb_quant_kernel, level);
    }
    _mm_setcsr(saved);
    restore_best_level();
    assert_true(ok);
#else
    skip();
#endif
}

/* SIMD vs scalar on arbitrary bytes: n_blocks blocks at src offset `src_off`
 * bytes and dst offset `dst_off` floats; a canary after n must survive. */
static int compare_level_once(uint32_t type, size_t n, size_t src_off, size_t dst_off, const char *level)
{
    const ggml_type_info *info = ggml_type_get(type);
    const size_t in_len = n / info->block_size * info->type_size;
    uint8_t *in = malloc(in_len + src_off + 1);
    float *want = malloc((n + 1) * sizeof(float));
    float *got_buf = malloc((n + dst_off + 16) * sizeof(float));
    assert_true(in && want && got_buf);
    fill_random(in + src_off, in_len);
    float *got = got_buf + dst_off;
    for (size_t i = 0; i < n + 16; i++)
        got[i] = -12345.0f;
    emb_quant_kernel_ref(type)(want, in + src_off, n);
    emb_quant_kernel(type)(got, in + src_off, n);
    char what[160];
    snprintf(what, sizeof what, "%s n=%zu src+%zu dst+%zu: %s vs scalar", ggml_type_name(type), n,
             src_off, dst_off, level);
    int ok = check_same(got, want, n, what);
    for (size_t i = n; i < n + 16; i++) {
        if (got[i] != -12345.0f) {
            print_error("%s: wrote past the end at [%zu]\n", what, i);
            ok = 0;
            break;
        }
    }
    free(in);
    free(want);
    free(got_buf);
    return ok;
}

static void test_simd_levels_match_scalar_random(void **state)
{
    (void)state;
    static const size_t block_counts[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100};
    size_t cases = 0;
    int ok = 1;
    for (int l = 1; l < 3; l++) {
        if (!emb_quant_force_level(LEVELS[l]))
            continue;
        for (size_t t = 0; t < N_SUPPORTED; t++) {
            const uint32_t type = SUPPORTED[t];
            const size_t bs = ggml_type_get(type)->block_size;
            for (size_t b = 0; b < sizeof block_counts / sizeof block_counts[0]; b++) {
                for (int rep = 0; rep < 4; rep++) {
                    ok &= compare_level_once(type, block_counts[b] * bs, (size_t)rep, (size_t)(rep & 1),
                                             LEVELS[l]);
                    cases++;
                }
            }
            if (bs == 1) { /* every tail length of the element-wise kernels */
                for (size_t n = 0; n <= 200; n++) {
                    ok &= compare_level_once(type, n, n % 3, n % 2, LEVELS[l]);
                    cases++;
                }
                ok &= compare_level_once(type, 4097, 1, 1, LEVELS[l]);
                cases++;
            }
        }
        restore_best_level();
    }
    print_message("[          ] %zu SIMD-vs-scalar random cases\n", cases);
    assert_true(ok);
}

static void test_f16_to_f32_exhaustive(void **state)
{
    (void)state;
    const golden *all = NULL;
    for (uint32_t i = 0; i < G.count; i++)
        if (G.recs[i].kind == KIND_DEQUANT && G.recs[i].type == GGML_TYPE_F16 && G.recs[i].n == 65536)
            all = &G.recs[i];
    assert_non_null(all);
    float *want = expected_floats(all);
    static float got[65536];
    for (uint32_t h = 0; h < 65536; h++) {
        uint16_t in;
        memcpy(&in, all->in + 2 * h, 2);
        assert_int_equal(in, h);
        got[h] = emb_f16_to_f32((uint16_t)h);
    }
    assert_true(check_same(got, want, 65536, "emb_f16_to_f32 vs numpy, all f16 values"));
    free(want);

    /* subnormals exactly m * 2^-24, e.g. the smallest one */
    assert_true(emb_f16_to_f32(0x0001) == 0x1p-24f);
    assert_true(emb_f16_to_f32(0x83FF) == -1023 * 0x1p-24f);
    /* signalling NaN payload kept by the scalar path */
    assert_int_equal(f32_bits(emb_f16_to_f32(0x7C01)), 0x7F802000u);
}

static void test_bf16_to_f32_exhaustive(void **state)
{
    (void)state;
    const golden *all = NULL;
    for (uint32_t i = 0; i < G.count; i++)
        if (G.recs[i].kind == KIND_DEQUANT && G.recs[i].type == GGML_TYPE_BF16 && G.recs[i].n == 65536)
            all = &G.recs[i];
    assert_non_null(all);
    float *want = expected_floats(all);
    static float got[65536];
    for (uint32_t h = 0; h < 65536; h++)
        got[h] = emb_bf16_to_f32((uint16_t)h);
    assert_true(check_same(got, want, 65536, "emb_bf16_to_f32 vs gguf-py, all bf16 values"));
    free(want);
}

static void test_f32_to_f16_matches_numpy(void **state)
{
    (void)state;
    const golden *r = NULL;
    for (uint32_t i = 0; i < G.count; i++)
        if (G.recs[i].kind == KIND_F32_TO_F16)
            r = &G.recs[i];
    assert_non_null(r);
    size_t n_diff = 0, first = 0;
    uint16_t first_got = 0, first_want = 0;
    float first_in = 0;
    for (size_t i = 0; i < r->n; i++) {
        float in;
        uint16_t want;
        memcpy(&in, r->in + 4 * i, 4);
        memcpy(&want, r->out + 2 * i, 2);
        const uint16_t got = emb_f32_to_f16(in);
        if (got != want && n_diff++ == 0) {
            first = i;
            first_in = in;
            first_got = got;
            first_want = want;
        }
    }
    if (n_diff)
        fail_msg("emb_f32_to_f16: %zu of %zu differ; first [%zu]: %.9g (0x%08x) -> 0x%04x, numpy 0x%04x",
                 n_diff, (size_t)r->n, first, (double)first_in, (unsigned)f32_bits(first_in), first_got,
                 first_want);
}

static void test_f16_round_trip_and_nan(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        const float f = emb_f16_to_f32((uint16_t)h);
        const uint16_t back = emb_f32_to_f16(f);
        if ((h & 0x7C00) == 0x7C00 && (h & 0x3FF) != 0) {
            /* NaN stays a NaN of the same sign */
            assert_int_equal(back & 0x7C00, 0x7C00);
            assert_int_not_equal(back & 0x3FF, 0);
            assert_int_equal(back & 0x8000, h & 0x8000);
        } else if (back != h) {
            fail_msg("f16 0x%04x -> %.9g -> 0x%04x", h, (double)f, back);
        }
    }
    const uint32_t nans[] = {0x7FC00000u, 0xFFC00000u, 0x7F800001u, 0x7FBFFFFFu, 0xFF800001u, 0x7FFFFFFFu};
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++) {
        float f;
        memcpy(&f, &nans[i], 4);
        const uint16_t h = emb_f32_to_f16(f);
        assert_int_equal(h & 0x7C00, 0x7C00);
        assert_int_not_equal(h & 0x3FF, 0);
        assert_int_equal(h >> 15, nans[i] >> 31);
    }
}

/* emb_dequant_rows over golden records laid out as a padded 2-D tensor. */
static void test_dequant_rows_matches_goldens(void **state)
{
    (void)state;
    size_t tensors = 0;
    for (uint32_t i = 0; i < G.count; i++) {
        const golden *r = &G.recs[i];
        if (r->kind != KIND_DEQUANT)
            continue;
        const ggml_type_info *info = ggml_type_get(r->type);
        const size_t blocks = (size_t)r->n / info->block_size;
        const size_t row_blocks = info->block_size == 1 ? 256 : 3;
        if (blocks < 4 * row_blocks)
            continue;
        const size_t n_rows_all = blocks / row_blocks;
        const size_t row_len = row_blocks * info->block_size;
        const size_t packed = row_blocks * info->type_size;
        for (size_t pad = 0; pad <= 7; pad += 7) {
            const size_t row_bytes = packed + pad;
            /* odd base address: rows are not aligned to anything */
            uint8_t *buf = malloc(n_rows_all * row_bytes + 1);
            assert_non_null(buf);
            uint8_t *tensor = buf + 1;
            memset(buf, 0xA5, n_rows_all * row_bytes + 1);
            for (size_t row = 0; row < n_rows_all; row++)
                memcpy(tensor + row * row_bytes, r->in + row * packed, packed);
            const size_t row0 = 1, n_rows = n_rows_all - 2;
            float *got = malloc((n_rows * row_len + 8) * sizeof(float));
            float *want = expected_floats(r);
            assert_non_null(got);
            for (size_t k = 0; k < n_rows * row_len + 8; k++)
                got[k] = 777.0f;
            assert_true(emb_dequant_rows(got, tensor, r->type, row0, n_rows, row_len, row_bytes));
            char what[200];
            snprintf(what, sizeof what, "emb_dequant_rows %s rows [%zu, %zu) row_bytes %zu", r->label, row0,
                     row0 + n_rows, row_bytes);
            assert_true(check_same(got, want + row0 * row_len, n_rows * row_len, what));
            for (size_t k = n_rows * row_len; k < n_rows * row_len + 8; k++)
                assert_true(got[k] == 777.0f);
            free(want);
            free(got);
            free(buf);
            tensors++;
        }
    }
    print_message("[          ] %zu tensors through emb_dequant_rows\n", tensors);
    assert_true(tensors >= N_SUPPORTED);
}

static void test_dequant_rows_rejects_bad_arguments(void **state)
{
    (void)state;
    uint8_t data[2 * 144] = {0};
    float dst[512];
    for (size_t i = 0; i < 512; i++)
        dst[i] = 5.0f;
    /* unsupported types */
    assert_false(emb_dequant_rows(dst, data, GGML_TYPE_Q8_1, 0, 1, 32, 36));
    assert_false(emb_dequant_rows(dst, data, GGML_TYPE_IQ2_XS, 0, 1, 256, 74));
    assert_false(emb_dequant_rows(dst, data, 4, 0, 1, 32, 18));
    assert_false(emb_dequant_rows(dst, data, 1000, 0, 1, 32, 18));
    /* row not a whole number of blocks */
    assert_false(emb_dequant_rows(dst, data, GGML_TYPE_Q4_K, 0, 1, 100, 144));
    /* row's blocks do not fit the stride */
    assert_false(emb_dequant_rows(dst, data, GGML_TYPE_Q4_K, 0, 1, 256, 143));
    assert_false(emb_dequant_rows(dst, data, GGML_TYPE_Q4_K, 0, 1, 512, 144));
    /* row range / output size overflow */
    assert_false(emb_dequant_rows(dst, data, GGML_TYPE_Q4_K, SIZE_MAX, 1, 256, 144));
    assert_false(emb_dequant_rows(dst, data, GGML_TYPE_Q4_K, SIZE_MAX / 144, 1, 256, 144));
    assert_false(emb_dequant_rows(dst, data, GGML_TYPE_Q4_K, 0, SIZE_MAX / 512, 256, 144));
    for (size_t i = 0; i < 512; i++)
        assert_true(dst[i] == 5.0f);
    /* zero rows: success, nothing written */
    assert_true(emb_dequant_rows(dst, data, GGML_TYPE_Q4_K, 0, 0, 256, 144));
    assert_true(dst[0] == 5.0f);
    /* and a valid call does write: the zero block is all zeros */
    assert_true(emb_dequant_rows(dst, data, GGML_TYPE_Q4_K, 1, 1, 256, 144));
    for (size_t i = 0; i < 256; i++)
        assert_true(dst[i] == 0.0f);
    assert_true(dst[256] == 5.0f);
}

static void test_force_level(void **state)
{
    (void)state;
    const char *before = emb_quant_simd_level();
    assert_true(strcmp(before, "scalar") == 0 || strcmp(before, "avx2") == 0 || strcmp(before, "avx512") == 0);
    assert_false(emb_quant_force_level(NULL));
    assert_false(emb_quant_force_level(""));
    assert_false(emb_quant_force_level("sse9"));
    assert_false(emb_quant_force_level("AVX2"));
    assert_string_equal(emb_quant_simd_level(), before);

    assert_true(emb_quant_force_level("scalar"));
    assert_string_equal(emb_quant_simd_level(), "scalar");
    for (size_t i = 0; i < N_SUPPORTED; i++)
        assert_ptr_equal(emb_quant_kernel(SUPPORTED[i]), emb_quant_kernel_ref(SUPPORTED[i]));

    if (emb_quant_force_level("avx2")) {
        assert_string_equal(emb_quant_simd_level(), "avx2");
        assert_ptr_not_equal(emb_quant_kernel(GGML_TYPE_Q4_K), emb_quant_kernel_ref(GGML_TYPE_Q4_K));
        assert_ptr_not_equal(emb_quant_kernel(GGML_TYPE_F16), emb_quant_kernel_ref(GGML_TYPE_F16));
        /* no SIMD kernel for Q4_1: the reference one */
        assert_ptr_equal(emb_quant_kernel(GGML_TYPE_Q4_1), emb_quant_kernel_ref(GGML_TYPE_Q4_1));
        if (emb_quant_force_level("avx512"))
            assert_ptr_not_equal(emb_quant_kernel(GGML_TYPE_Q6_K), emb_quant_kernel_ref(GGML_TYPE_Q6_K));
    } else {
        assert_false(emb_quant_force_level("avx512"));
    }
    restore_best_level();
    assert_string_equal(emb_quant_simd_level(), before);
}

/* The level (from cpu_features.c's CPUID + XGETBV) and the compiler runtime's
 * view (which also checks the OS-enabled register state) must agree. */
static void test_cpu_detection_agrees_with_compiler(void **state)
{
    (void)state;
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
    __builtin_cpu_init();
    const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    const int avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                       __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                       __builtin_cpu_supports("avx512cd");
    assert_int_equal(emb_quant_force_level("avx2"), avx2);
    assert_int_equal(emb_quant_force_level("avx512"), avx512);
    restore_best_level();
    assert_string_equal(emb_quant_simd_level(), avx512 ? "avx512" : avx2 ? "avx2" : "scalar");
#else
    assert_string_equal(emb_quant_simd_level(), "scalar");
#endif
}

int main(void)
{
    test_rng_seed(0x9E3779B97F4A7C15ull); /* the stream these cases were written with */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_support_table),
        cmocka_unit_test(test_goldens_cover_every_type),
        cmocka_unit_test(test_ref_kernels_match_gguf_py),
        cmocka_unit_test(test_every_level_matches_gguf_py),
        cmocka_unit_test(test_every_level_matches_gguf_py_under_ftz_daz),
        cmocka_unit_test(test_simd_levels_match_scalar_random),
        cmocka_unit_test(test_f16_to_f32_exhaustive),
        cmocka_unit_test(test_bf16_to_f32_exhaustive),
        cmocka_unit_test(test_f32_to_f16_matches_numpy),
        cmocka_unit_test(test_f16_round_trip_and_nan),
        cmocka_unit_test(test_dequant_rows_matches_goldens),
        cmocka_unit_test(test_dequant_rows_rejects_bad_arguments),
        cmocka_unit_test(test_force_level),
        cmocka_unit_test(test_cpu_detection_agrees_with_compiler),
    };
    return cmocka_run_group_tests(tests, load_goldens, free_goldens);
}
