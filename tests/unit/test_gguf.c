/*
 * test_gguf: the GGUF reader (src/gguf_parse.c, src/gguf_access.c).
 *
 * Valid images come from tests/unit/support/gguf_builder (an independent
 * writer); expected sizes are worked out by hand from the docs/format.md §1.6 table
 * (the arithmetic is in the comments). Corrupt images are generated from a
 * valid baseline, one case per failure kind, each asserting the error code
 * and a message substring. The real vocabulary fixture's expected values come
 * from the PyPI gguf GGUFReader (values quoted in the test).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <float.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ggml_types.h"
#include "gguf.h"
#include "gguf_builder.h"

#define CORRUPT_NAME "corrupt.gguf"

/* --- helpers --------------------------------------------------------------- */

static uint8_t *build(gguf_builder *b, size_t *size)
{
    uint8_t *img;
    assert_non_null(b);
    img = gguf_builder_build(b, size);
    if (!img)
        fail_msg("gguf_builder_build failed (builder ok: %d)", gguf_builder_ok(b));
    return img;
}

/* Open img[0..size) from an exact-size copy (ASan sees any over-read) and
 * expect failure with `code` and a message containing every `want`. */
static void expect_fail_n(const uint8_t *img, size_t size, emb_code code, const char *want1, const char *want2)
{
    uint8_t *copy = gguf_bytes_dup(img, size);
    emb_error err = {EMB_OK, ""};
    gguf_file *f;

    assert_non_null(copy);
    f = gguf_open_memory(copy, size, CORRUPT_NAME, &err);
    if (f) {
        gguf_close(f);
        free(copy);
        fail_msg("expected failure (%s, '%s'), but the image opened", emb_code_name(code), want1);
    }
    if (err.code != code)
        fail_msg("expected code %s, got %s: %s", emb_code_name(code), emb_code_name(err.code), err.msg);
    if (strncmp(err.msg, "gguf: " CORRUPT_NAME ": ", strlen("gguf: " CORRUPT_NAME ": ")) != 0)
        fail_msg("message does not start with 'gguf: " CORRUPT_NAME ": ': %s", err.msg);
    if (want1 && !strstr(err.msg, want1))
        fail_msg("message lacks '%s': %s", want1, err.msg);
    if (want2 && !strstr(err.msg, want2))
        fail_msg("message lacks '%s': %s", want2, err.msg);
    if (getenv("GGUF_TEST_VERBOSE"))
        printf("    %s: %s\n", emb_code_name(err.code), err.msg);
    free(copy);
}

static void expect_fail(const uint8_t *img, size_t size, emb_code code, const char *want)
{
    expect_fail_n(img, size, code, want, NULL);
}

static gguf_file *open_ok(const uint8_t *img, size_t size)
{
    emb_error err = {EMB_OK, ""};
    gguf_file *f = gguf_open_memory(img, size, "valid.gguf", &err);
    if (!f)
        fail_msg("open failed: %s", err.msg);
    return f;
}

static void assert_str(emb_str s, const char *want)
{
    if (!emb_str_eq(s, want))
        fail_msg("got '%.*s' (%zu bytes), expected '%s'", (int)s.len, s.ptr ? s.ptr : "", s.len, want);
}

/* Index of each kv in the baseline image (the order they are added). */
enum {
    KV_ARCH,       /* general.architecture = "bert"           STRING   */
    KV_BLOCKS,     /* bert.block_count = 2                    UINT32   */
    KV_EPS,        /* bert.attention.layer_norm_epsilon 1e-12 FLOAT32  */
    KV_CAUSAL,     /* bert.attention.causal = false           BOOL     */
    KV_TOKENS,     /* tokenizer.ggml.tokens [3 strings]       ARRAY    */
    KV_TYPES,      /* tokenizer.ggml.token_type [1, 3, 1]     ARRAY    */
    KV_COUNT
};

/* Index of each tensor in the baseline image. */
enum {
    T_EMBD, /* token_embd.weight   F32  [8, 3]   96 bytes */
    T_Q,    /* blk.0.attn_q.weight Q4_0 [64, 2]  2 blocks * 18 * 2 rows = 72 bytes */
    T_NORM, /* output_norm.weight  F16  [16]     32 bytes */
    T_COUNT
};

/* A small valid file; tests patch it into corrupt variants. */
static gguf_builder *baseline(void)
{
    static const char *const tokens[] = {"[PAD]", "hello", "[CLS]"};
    static const int32_t token_types[] = {1, 3, 1};
    gguf_builder *b = gguf_builder_create();
    int64_t ne_embd[2] = {8, 3}, ne_q[2] = {64, 2}, ne_norm[1] = {16};

    assert_non_null(b);
    gguf_builder_add_str(b, "general.architecture", "bert");
    gguf_builder_add_u32(b, "bert.block_count", 2);
    gguf_builder_add_f32(b, "bert.attention.layer_norm_epsilon", 1e-12f);
    gguf_builder_add_bool(b, "bert.attention.causal", false);
    gguf_builder_add_str_array(b, "tokenizer.ggml.tokens", tokens, 3);
    gguf_builder_add_array(b, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, token_types, 3);
    gguf_builder_add_tensor(b, "token_embd.weight", GGML_TYPE_F32, 2, ne_embd);
    gguf_builder_add_tensor(b, "blk.0.attn_q.weight", GGML_TYPE_Q4_0, 2, ne_q);
    gguf_builder_add_tensor(b, "output_norm.weight", GGML_TYPE_F16, 1, ne_norm);
    assert_true(gguf_builder_ok(b));
    return b;
}

/* The baseline image; *b keeps the builder for positions (caller destroys). */
static uint8_t *baseline_image(gguf_builder **b, size_t *size)
{
    *b = baseline();
    return build(*b, size);
}

/* --- valid files ----------------------------------------------------------------- */

static void test_baseline_opens(void **state)
{
    gguf_builder *b;
    size_t size;
    uint8_t *img = baseline_image(&b, &size);
    gguf_file *f = open_ok(img, size);
    const gguf_tensor *t;
    emb_str s;
    uint32_t u;

    (void)state;
    assert_int_equal(gguf_version(f), 3);
    assert_int_equal(gguf_n_kv(f), KV_COUNT);
    assert_int_equal(gguf_n_tensors(f), T_COUNT);
    assert_int_equal(gguf_alignment(f), 32);
    assert_int_equal(gguf_file_size(f), size);
    assert_ptr_equal(gguf_base(f), img);
    assert_int_equal(gguf_data_offset(f), gguf_builder_data_start(b));
    assert_int_equal(gguf_data_offset(f) % 32, 0);
    assert_string_equal(gguf_name(f), "valid.gguf");
    assert_int_equal(gguf_get_str(f, "general.architecture", &s, NULL), EMB_OK);
    assert_str(s, "bert");
    assert_int_equal(gguf_get_u32(f, "bert.block_count", &u, NULL), EMB_OK);
    assert_int_equal(u, 2);

    /* Offsets: running sum of sizes padded to 32: 96 -> 96, 72 -> 96, so 0, 96, 192. */
    t = gguf_find_tensor(f, "output_norm.weight");
    assert_non_null(t);
    assert_ptr_equal(t, gguf_tensor_at(f, T_NORM));
    assert_int_equal(t->offset, 192);
    assert_int_equal(t->n_bytes, 32);
    assert_int_equal(t->abs_offset, gguf_data_offset(f) + 192);
    /* the last tensor is padded to 32 bytes: it ends exactly at the end of the file */
    assert_int_equal(t->abs_offset + t->n_bytes, size);
    gguf_close(f);
    free(img);
    gguf_builder_destroy(b);
}

/* Every value type as a key, read back through the kv records and accessors. */
static void test_every_key_type(void **state)
{
    static const uint8_t u8s[] = {0, 7, 255};
    static const int8_t i8s[] = {-128, 0, 127};
    static const uint16_t u16s[] = {0, 65535};
    static const int16_t i16s[] = {-32768, 32767};
    static const uint32_t u32s[] = {0, 4000000000u};
    static const int32_t i32s[] = {-2147483647 - 1, 5};
    static const float f32s[] = {1.5f, -0.25f};
    static const bool bools[] = {true, false, true};
    static const uint64_t u64s[] = {UINT64_MAX, 1};
    static const int64_t i64s[] = {INT64_MIN, INT64_MAX};
    static const double f64s[] = {3.25, -1e300};
    static const char *const strs[] = {"", "a", "\xe2\x96\x81the"};
    gguf_builder *b = gguf_builder_create();
    size_t size, i;
    uint8_t *img;
    gguf_file *f;
    const gguf_kv *kv;
    int64_t i64;
    uint64_t u64;
    double f64;
    float f32;
    bool flag;
    emb_str s;
    static const struct {
        const char *key;
        gguf_value_type type, arr_type;
        uint64_t count;
    } expect[] = {
        {"k.u8", GGUF_TYPE_UINT8, 0, 0},     {"k.i8", GGUF_TYPE_INT8, 0, 0},
        {"k.u16", GGUF_TYPE_UINT16, 0, 0},   {"k.i16", GGUF_TYPE_INT16, 0, 0},
        {"k.u32", GGUF_TYPE_UINT32, 0, 0},   {"k.i32", GGUF_TYPE_INT32, 0, 0},
        {"k.f32", GGUF_TYPE_FLOAT32, 0, 0},  {"k.bool", GGUF_TYPE_BOOL, 0, 0},
        {"k.str", GGUF_TYPE_STRING, 0, 0},   {"k.u64", GGUF_TYPE_UINT64, 0, 0},
        {"k.i64", GGUF_TYPE_INT64, 0, 0},    {"k.f64", GGUF_TYPE_FLOAT64, 0, 0},
        {"k.empty_str", GGUF_TYPE_STRING, 0, 0},
        {"a.u8", GGUF_TYPE_ARRAY, GGUF_TYPE_UINT8, 3},     {"a.i8", GGUF_TYPE_ARRAY, GGUF_TYPE_INT8, 3},
        {"a.u16", GGUF_TYPE_ARRAY, GGUF_TYPE_UINT16, 2},   {"a.i16", GGUF_TYPE_ARRAY, GGUF_TYPE_INT16, 2},
        {"a.u32", GGUF_TYPE_ARRAY, GGUF_TYPE_UINT32, 2},   {"a.i32", GGUF_TYPE_ARRAY, GGUF_TYPE_INT32, 2},
        {"a.f32", GGUF_TYPE_ARRAY, GGUF_TYPE_FLOAT32, 2},  {"a.bool", GGUF_TYPE_ARRAY, GGUF_TYPE_BOOL, 3},
        {"a.u64", GGUF_TYPE_ARRAY, GGUF_TYPE_UINT64, 2},   {"a.i64", GGUF_TYPE_ARRAY, GGUF_TYPE_INT64, 2},
        {"a.f64", GGUF_TYPE_ARRAY, GGUF_TYPE_FLOAT64, 2},  {"a.str", GGUF_TYPE_ARRAY, GGUF_TYPE_STRING, 3},
        {"a.empty", GGUF_TYPE_ARRAY, GGUF_TYPE_UINT32, 0}, {"a.empty_str", GGUF_TYPE_ARRAY, GGUF_TYPE_STRING, 0},
    };

    (void)state;
    assert_non_null(b);
    gguf_builder_add_u8(b, "k.u8", 200);
    gguf_builder_add_i8(b, "k.i8", -100);
    gguf_builder_add_u16(b, "k.u16", 60000);
    gguf_builder_add_i16(b, "k.i16", -30000);
    gguf_builder_add_u32(b, "k.u32", 4000000000u);
    gguf_builder_add_i32(b, "k.i32", -2000000000);
    gguf_builder_add_f32(b, "k.f32", 0.1f);
    gguf_builder_add_bool(b, "k.bool", true);
    gguf_builder_add_str(b, "k.str", "hello world");
    gguf_builder_add_u64(b, "k.u64", UINT64_MAX);
    gguf_builder_add_i64(b, "k.i64", INT64_MIN);
    gguf_builder_add_f64(b, "k.f64", 1e-300);
    gguf_builder_add_str(b, "k.empty_str", "");
    gguf_builder_add_array(b, "a.u8", GGUF_TYPE_UINT8, u8s, 3);
    gguf_builder_add_array(b, "a.i8", GGUF_TYPE_INT8, i8s, 3);
    gguf_builder_add_array(b, "a.u16", GGUF_TYPE_UINT16, u16s, 2);
    gguf_builder_add_array(b, "a.i16", GGUF_TYPE_INT16, i16s, 2);
    gguf_builder_add_array(b, "a.u32", GGUF_TYPE_UINT32, u32s, 2);
    gguf_builder_add_array(b, "a.i32", GGUF_TYPE_INT32, i32s, 2);
    gguf_builder_add_array(b, "a.f32", GGUF_TYPE_FLOAT32, f32s, 2);
    gguf_builder_add_array(b, "a.bool", GGUF_TYPE_BOOL, bools, 3);
    gguf_builder_add_array(b, "a.u64", GGUF_TYPE_UINT64, u64s, 2);
    gguf_builder_add_array(b, "a.i64", GGUF_TYPE_INT64, i64s, 2);
    gguf_builder_add_array(b, "a.f64", GGUF_TYPE_FLOAT64, f64s, 2);
    gguf_builder_add_str_array(b, "a.str", strs, 3);
    gguf_builder_add_array(b, "a.empty", GGUF_TYPE_UINT32, NULL, 0);
    gguf_builder_add_str_array(b, "a.empty_str", NULL, 0);
    img = build(b, &size);
    f = open_ok(img, size);

    assert_int_equal(gguf_n_kv(f), sizeof expect / sizeof expect[0]);
    assert_int_equal(gguf_n_tensors(f), 0);
    for (i = 0; i < gguf_n_kv(f); i++) {
        kv = gguf_kv_at(f, i);
        assert_non_null(kv);
        assert_str(kv->key, expect[i].key);
        assert_ptr_equal(gguf_find_kv(f, expect[i].key), kv);
        assert_int_equal(kv->file_offset, gguf_builder_kv_pos_at(b, i)->record);
        if (kv->type != expect[i].type)
            fail_msg("key %s: type %s, expected %s", expect[i].key, gguf_value_type_name(kv->type),
                     gguf_value_type_name(expect[i].type));
        if (kv->type == GGUF_TYPE_ARRAY) {
            assert_int_equal(kv->arr_type, expect[i].arr_type);
            assert_int_equal(kv->arr_count, expect[i].count);
        }
    }
    assert_null(gguf_kv_at(f, gguf_n_kv(f)));

    /* scalars, each through its natural accessor */
    assert_int_equal(gguf_get_i64(f, "k.u8", &i64, NULL), EMB_OK);
    assert_int_equal(i64, 200);
    assert_int_equal(gguf_get_i64(f, "k.i8", &i64, NULL), EMB_OK);
    assert_int_equal(i64, -100);
    assert_int_equal(gguf_get_u64(f, "k.u16", &u64, NULL), EMB_OK);
    assert_int_equal(u64, 60000);
    assert_int_equal(gguf_get_i64(f, "k.i16", &i64, NULL), EMB_OK);
    assert_int_equal(i64, -30000);
    assert_int_equal(gguf_get_u64(f, "k.u32", &u64, NULL), EMB_OK);
    assert_int_equal(u64, 4000000000u);
    assert_int_equal(gguf_get_i64(f, "k.i32", &i64, NULL), EMB_OK);
    assert_int_equal(i64, -2000000000);
    assert_int_equal(gguf_get_f32(f, "k.f32", &f32, NULL), EMB_OK);
    assert_true(f32 == 0.1f);
    assert_int_equal(gguf_get_f64(f, "k.f32", &f64, NULL), EMB_OK);
    assert_true(f64 == (double)0.1f);
    assert_int_equal(gguf_get_bool(f, "k.bool", &flag, NULL), EMB_OK);
    assert_true(flag);
    assert_int_equal(gguf_get_str(f, "k.str", &s, NULL), EMB_OK);
    assert_str(s, "hello world");
    assert_int_equal(gguf_get_u64(f, "k.u64", &u64, NULL), EMB_OK);
    assert_true(u64 == UINT64_MAX);
    assert_int_equal(gguf_get_i64(f, "k.i64", &i64, NULL), EMB_OK);
    assert_true(i64 == INT64_MIN);
    assert_int_equal(gguf_get_f64(f, "k.f64", &f64, NULL), EMB_OK);
    assert_true(f64 == 1e-300);
    assert_int_equal(gguf_get_str(f, "k.empty_str", &s, NULL), EMB_OK);
    assert_int_equal(s.len, 0);

    /* every element of every numeric array */
    for (i = 0; i < 3; i++) {
        assert_int_equal(gguf_arr_get_u64(gguf_find_kv(f, "a.u8"), i, &u64), EMB_OK);
        assert_int_equal(u64, u8s[i]);
        assert_int_equal(gguf_arr_get_i64(gguf_find_kv(f, "a.i8"), i, &i64), EMB_OK);
        assert_int_equal(i64, i8s[i]);
    }
    for (i = 0; i < 2; i++) {
        assert_int_equal(gguf_arr_get_u64(gguf_find_kv(f, "a.u16"), i, &u64), EMB_OK);
        assert_int_equal(u64, u16s[i]);
        assert_int_equal(gguf_arr_get_i64(gguf_find_kv(f, "a.i16"), i, &i64), EMB_OK);
        assert_int_equal(i64, i16s[i]);
        assert_int_equal(gguf_arr_get_u64(gguf_find_kv(f, "a.u32"), i, &u64), EMB_OK);
        assert_int_equal(u64, u32s[i]);
        assert_int_equal(gguf_arr_get_i64(gguf_find_kv(f, "a.i32"), i, &i64), EMB_OK);
        assert_int_equal(i64, i32s[i]);
        assert_int_equal(gguf_arr_get_f64(gguf_find_kv(f, "a.f32"), i, &f64), EMB_OK);
        assert_true(f64 == (double)f32s[i]);
        assert_int_equal(gguf_arr_get_u64(gguf_find_kv(f, "a.u64"), i, &u64), EMB_OK);
        assert_true(u64 == u64s[i]);
        assert_int_equal(gguf_arr_get_i64(gguf_find_kv(f, "a.i64"), i, &i64), EMB_OK);
        assert_true(i64 == i64s[i]);
        assert_int_equal(gguf_arr_get_f64(gguf_find_kv(f, "a.f64"), i, &f64), EMB_OK);
        assert_true(f64 == f64s[i]);
    }
    /* BOOL elements are one byte each; they are not integers for the accessors */
    kv = gguf_find_kv(f, "a.bool");
    assert_int_equal(kv->data[0], 1);
    assert_int_equal(kv->data[1], 0);
    assert_int_equal(kv->data[2], 1);
    assert_int_equal(gguf_arr_get_i64(kv, 0, &i64), EMB_ERR_TYPE);
    gguf_close(f);
    free(img);
    gguf_builder_destroy(b);
}

typedef struct collected {
    int calls;
    char joined[128];
    int stop_at; /* return 7 at this index, -1 never */
} collected;

static int collect(void *ctx, uint64_t index, emb_str value)
{
    collected *c = ctx;
    size_t used = strlen(c->joined);
    if ((int)index != c->calls)
        return -100; /* out of order */
    c->calls++;
    snprintf(c->joined + used, sizeof c->joined - used, "%.*s|", (int)value.len, value.ptr);
    return (int)index == c->stop_at ? 7 : 0;
}

static void test_string_array_walk(void **state)
{
    gguf_builder *b;
    size_t size;
    uint8_t *img = baseline_image(&b, &size);
    gguf_file *f = open_ok(img, size);
    const gguf_kv *tokens = NULL;
    collected c = {0, "", -1};

    (void)state;
    assert_int_equal(gguf_get_array(f, "tokenizer.ggml.tokens", &tokens, NULL), EMB_OK);
    assert_int_equal(gguf_arr_foreach_str(tokens, collect, &c), 0);
    assert_int_equal(c.calls, 3);
    assert_string_equal(c.joined, "[PAD]|hello|[CLS]|");
    /* early stop returns the visitor's value */
    c = (collected){0, "", 1};
    assert_int_equal(gguf_arr_foreach_str(tokens, collect, &c), 7);
    assert_int_equal(c.calls, 2);
    /* not an array of strings */
    assert_int_equal(gguf_arr_foreach_str(gguf_find_kv(f, "tokenizer.ggml.token_type"), collect, &c), EMB_ERR_TYPE);
    assert_int_equal(gguf_arr_foreach_str(gguf_find_kv(f, "general.architecture"), collect, &c), EMB_ERR_TYPE);
    assert_int_equal(gguf_arr_foreach_str(NULL, collect, &c), EMB_ERR_TYPE);
    gguf_close(f);
    free(img);
    gguf_builder_destroy(b);
}

/* Several tensor types and shapes, sizes worked out from docs/format.md §1.6. */
static void test_tensor_types(void **state)
{
    static const struct {
        const char *name;
        uint32_t type, n_dims;
        int64_t ne[4];
        uint64_t n_elements, row_bytes, n_bytes;
    } cases[] = {
        {"f32.2d", GGML_TYPE_F32, 2, {5, 3, 1, 1}, 15, 20, 60},
        {"f16.1d", GGML_TYPE_F16, 1, {7, 1, 1, 1}, 7, 14, 14},
        {"q4_0", GGML_TYPE_Q4_0, 2, {64, 3, 1, 1}, 192, 36, 108},      /* 2 blocks * 18 */
        {"q4_1", GGML_TYPE_Q4_1, 2, {32, 2, 1, 1}, 64, 20, 40},
        {"q5_0", GGML_TYPE_Q5_0, 2, {96, 1, 1, 1}, 96, 66, 66},        /* 3 * 22 */
        {"q5_1", GGML_TYPE_Q5_1, 1, {32, 1, 1, 1}, 32, 24, 24},
        {"q8_0", GGML_TYPE_Q8_0, 3, {32, 2, 2, 1}, 128, 34, 136},
        {"q2_k", GGML_TYPE_Q2_K, 2, {256, 2, 1, 1}, 512, 84, 168},
        {"q3_k", GGML_TYPE_Q3_K, 1, {256, 1, 1, 1}, 256, 110, 110},
        {"q4_k", GGML_TYPE_Q4_K, 2, {512, 3, 1, 1}, 1536, 288, 864},   /* 2 * 144 per row */
        {"q5_k", GGML_TYPE_Q5_K, 1, {256, 1, 1, 1}, 256, 176, 176},
        {"q6_k", GGML_TYPE_Q6_K, 2, {256, 2, 1, 1}, 512, 210, 420},
        {"iq4_nl", GGML_TYPE_IQ4_NL, 2, {32, 3, 1, 1}, 96, 18, 54},
        {"iq4_xs", GGML_TYPE_IQ4_XS, 1, {256, 1, 1, 1}, 256, 136, 136},
        {"bf16", GGML_TYPE_BF16, 4, {3, 2, 2, 2}, 24, 6, 48},
        {"i8", GGML_TYPE_I8, 1, {5, 1, 1, 1}, 5, 5, 5},
        {"i32", GGML_TYPE_I32, 2, {3, 3, 1, 1}, 9, 12, 36},
        {"f64", GGML_TYPE_F64, 1, {2, 1, 1, 1}, 2, 16, 16},
        {"tq2_0", GGML_TYPE_TQ2_0, 1, {256, 1, 1, 1}, 256, 66, 66},
        {"scalar", GGML_TYPE_F32, 0, {1, 1, 1, 1}, 1, 4, 4},
        {"empty", GGML_TYPE_F32, 2, {4, 0, 1, 1}, 0, 16, 0},
    };
    size_t n = sizeof cases / sizeof cases[0], size, i;
    gguf_builder *b = gguf_builder_create();
    uint8_t *img, expect[1024];
    gguf_file *f;

    (void)state;
    gguf_builder_set_alignment(b, 64);
    for (i = 0; i < n; i++)
        gguf_builder_add_tensor(b, cases[i].name, cases[i].type, cases[i].n_dims, cases[i].ne);
    img = build(b, &size);
    f = open_ok(img, size);
    assert_int_equal(gguf_alignment(f), 64);
    assert_int_equal(gguf_n_tensors(f), n);
    assert_int_equal(gguf_data_offset(f) % 64, 0);
    for (i = 0; i < n; i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        const gguf_builder_tensor_pos *pos = gguf_builder_tensor_pos_at(b, i);
        uint32_t d;
        assert_non_null(t);
        assert_str(t->name, cases[i].name);
        assert_ptr_equal(gguf_find_tensor(f, cases[i].name), t);
        assert_int_equal(t->type, cases[i].type);
        assert_int_equal(t->n_dims, cases[i].n_dims);
        for (d = 0; d < 4; d++) {
            if (t->ne[d] != cases[i].ne[d])
                fail_msg("%s: ne[%u] = %" PRId64 ", expected %" PRId64, cases[i].name, d, t->ne[d], cases[i].ne[d]);
        }
        if (t->n_elements != cases[i].n_elements || t->row_bytes != cases[i].row_bytes ||
            t->n_bytes != cases[i].n_bytes)
            fail_msg("%s: elements %" PRIu64 " row %" PRIu64 " bytes %" PRIu64 ", expected %" PRIu64 " %" PRIu64
                     " %" PRIu64, cases[i].name, t->n_elements, t->row_bytes, t->n_bytes, cases[i].n_elements,
                     cases[i].row_bytes, cases[i].n_bytes);
        assert_int_equal(t->offset % 64, 0);
        assert_int_equal(t->abs_offset, pos->data);
        assert_int_equal(t->abs_offset, gguf_data_offset(f) + t->offset);
        assert_ptr_equal(t->data, img + pos->data);
        /* data bytes are the builder's fill for tensor i */
        assert_true(t->n_bytes <= sizeof expect);
        gguf_builder_fill((uint32_t)i, t->type, expect, (size_t)t->n_bytes);
        if (t->n_bytes && memcmp(t->data, expect, (size_t)t->n_bytes) != 0)
            fail_msg("%s: data differs from the builder's fill", cases[i].name);
    }
    assert_null(gguf_tensor_at(f, n));
    assert_null(gguf_find_tensor(f, "missing"));
    assert_null(gguf_find_tensor(f, "q4_"));    /* prefix of a name */
    assert_null(gguf_find_tensor(f, "q4_0x"));  /* name is a prefix */
    gguf_close(f);
    free(img);
    gguf_builder_destroy(b);
}

static void test_version2_and_trailing_padding(void **state)
{
    gguf_builder *b = baseline();
    size_t size;
    uint8_t *img;
    gguf_file *f;

    (void)state;
    gguf_builder_set_version(b, 2);
    gguf_builder_set_trailing_padding(b, false);
    img = build(b, &size);
    f = open_ok(img, size);
    assert_int_equal(gguf_version(f), 2);
    /* F16 [16] is 32 bytes, so there was no padding to drop; the file ends with the data */
    assert_int_equal(gguf_tensor_at(f, T_NORM)->abs_offset + 32, size);
    gguf_close(f);
    free(img);
    gguf_builder_destroy(b);

    /* a last tensor that is not a multiple of 32 bytes and not padded: still valid */
    b = gguf_builder_create();
    gguf_builder_set_trailing_padding(b, false);
    gguf_builder_add_tensor(b, "t", GGML_TYPE_F32, 1, (const int64_t[]){3});
    img = build(b, &size);
    f = open_ok(img, size);
    assert_int_equal(gguf_tensor_at(f, 0)->abs_offset + 12, size);
    gguf_close(f);
    free(img);
    gguf_builder_destroy(b);
}

/* Keys are looked up exactly: order of insertion does not matter, prefixes do not match. */
static void test_lookup(void **state)
{
    static const char *const keys[] = {"b", "a", "ab", "a.b", "aa", "c"};
    gguf_builder *b = gguf_builder_create();
    size_t size, i;
    uint8_t *img;
    gguf_file *f;

    (void)state;
    for (i = 0; i < 6; i++)
        gguf_builder_add_u32(b, keys[i], (uint32_t)i);
    img = build(b, &size);
    f = open_ok(img, size);
    for (i = 0; i < 6; i++) {
        uint32_t v = 99;
        assert_int_equal(gguf_get_u32(f, keys[i], &v, NULL), EMB_OK);
        assert_int_equal(v, i);
    }
    assert_null(gguf_find_kv(f, ""));
    assert_null(gguf_find_kv(f, "a.c"));
    assert_null(gguf_find_kv(f, "abc"));
    assert_null(gguf_find_kv(f, NULL));
    assert_null(gguf_find_kv(NULL, "a"));
    gguf_close(f);
    free(img);
    gguf_builder_destroy(b);
}

/* --- accessors ----------------------------------------------------------------------- */

static void expect_code_msg(emb_code got, const emb_error *err, emb_code code, const char *want)
{
    if (got != code || err->code != code)
        fail_msg("expected %s, got %s (err %s): %s", emb_code_name(code), emb_code_name(got),
                 emb_code_name(err->code), err->msg);
    if (!strstr(err->msg, want))
        fail_msg("message lacks '%s': %s", want, err->msg);
}

static void test_accessor_errors(void **state)
{
    gguf_builder *b = gguf_builder_create();
    static const int32_t ints[] = {-1, 2};
    static const double dbls[] = {0.5};
    size_t size;
    uint8_t *img;
    gguf_file *f;
    emb_error err = {EMB_OK, ""};
    uint32_t u32 = 12345;
    uint64_t u64 = 12345;
    int64_t i64 = 12345;
    float f32 = 1.0f;
    double f64 = 1.0;
    bool flag = false;
    emb_str s = {"x", 1};
    const gguf_kv *arr = NULL;

    (void)state;
    gguf_builder_add_str(b, "s", "text");
    gguf_builder_add_i32(b, "neg", -1);
    gguf_builder_add_u64(b, "big", 5000000000u);
    gguf_builder_add_u64(b, "huge", UINT64_MAX);
    gguf_builder_add_i64(b, "neg64", -5);
    gguf_builder_add_f64(b, "far", 1e300);
    gguf_builder_add_bool(b, "flag", true);
    gguf_builder_add_u8(b, "byte", 1);
    gguf_builder_add_array(b, "ints", GGUF_TYPE_INT32, ints, 2);
    gguf_builder_add_array(b, "dbls", GGUF_TYPE_FLOAT64, dbls, 1);
    img = build(b, &size);
    f = open_ok(img, size);

    /* missing */
    expect_code_msg(gguf_get_u32(f, "nope", &u32, &err), &err, EMB_ERR_NOT_FOUND, "gguf: valid.gguf: key 'nope' not found");
    expect_code_msg(gguf_get_str(f, "nope", &s, &err), &err, EMB_ERR_NOT_FOUND, "key 'nope' not found");
    expect_code_msg(gguf_get_array(f, "nope", &arr, &err), &err, EMB_ERR_NOT_FOUND, "not found");
    /* type mismatches name the key, the stored type and the wanted one */
    expect_code_msg(gguf_get_u32(f, "s", &u32, &err), &err, EMB_ERR_TYPE, "key 's' is STRING, expected an integer (read as u32)");
    expect_code_msg(gguf_get_i64(f, "flag", &i64, &err), &err, EMB_ERR_TYPE, "key 'flag' is BOOL, expected an integer");
    expect_code_msg(gguf_get_u64(f, "far", &u64, &err), &err, EMB_ERR_TYPE, "is FLOAT64, expected an integer");
    expect_code_msg(gguf_get_f32(f, "neg", &f32, &err), &err, EMB_ERR_TYPE, "key 'neg' is INT32, expected FLOAT32 or FLOAT64");
    expect_code_msg(gguf_get_f64(f, "s", &f64, &err), &err, EMB_ERR_TYPE, "is STRING, expected FLOAT32 or FLOAT64");
    expect_code_msg(gguf_get_bool(f, "byte", &flag, &err), &err, EMB_ERR_TYPE, "key 'byte' is UINT8, expected BOOL");
    expect_code_msg(gguf_get_str(f, "ints", &s, &err), &err, EMB_ERR_TYPE, "key 'ints' is ARRAY of INT32, expected STRING");
    expect_code_msg(gguf_get_u32(f, "ints", &u32, &err), &err, EMB_ERR_TYPE, "is ARRAY of INT32, expected an integer");
    expect_code_msg(gguf_get_array(f, "s", &arr, &err), &err, EMB_ERR_TYPE, "key 's' is STRING, expected ARRAY");
    /* ranges */
    expect_code_msg(gguf_get_u32(f, "neg", &u32, &err), &err, EMB_ERR_RANGE, "key 'neg' value -1 (INT32) does not fit in u32");
    expect_code_msg(gguf_get_u64(f, "neg64", &u64, &err), &err, EMB_ERR_RANGE, "value -5 (INT64) does not fit in u64");
    expect_code_msg(gguf_get_u32(f, "big", &u32, &err), &err, EMB_ERR_RANGE, "value 5000000000 (UINT64) does not fit in u32");
    expect_code_msg(gguf_get_i64(f, "huge", &i64, &err), &err, EMB_ERR_RANGE, "value 18446744073709551615 (UINT64) does not fit in i64");
    expect_code_msg(gguf_get_f32(f, "far", &f32, &err), &err, EMB_ERR_RANGE, "does not fit in f32");
    /* out-parameters untouched by all of the failures above */
    assert_int_equal(u32, 12345);
    assert_int_equal(u64, 12345);
    assert_int_equal(i64, 12345);
    assert_true(f32 == 1.0f);
    assert_true(f64 == 1.0);
    assert_false(flag);
    assert_int_equal(s.len, 1);
    assert_null(arr);
    /* NULL err is allowed */
    assert_int_equal(gguf_get_u32(f, "neg", &u32, NULL), EMB_ERR_RANGE);
    assert_int_equal(gguf_get_u32(f, "nope", &u32, NULL), EMB_ERR_NOT_FOUND);
    assert_int_equal(gguf_get_u32(NULL, "nope", &u32, NULL), EMB_ERR_INTERNAL);
    /* successful reads across widths */
    assert_int_equal(gguf_get_i64(f, "neg", &i64, &err), EMB_OK);
    assert_int_equal(i64, -1);
    assert_int_equal(gguf_get_u64(f, "big", &u64, &err), EMB_OK);
    assert_int_equal(u64, 5000000000u);
    assert_int_equal(gguf_get_u32(f, "byte", &u32, &err), EMB_OK);
    assert_int_equal(u32, 1);
    assert_int_equal(gguf_get_f64(f, "far", &f64, &err), EMB_OK);
    assert_true(f64 == 1e300);
    assert_int_equal(gguf_get_bool(f, "flag", &flag, &err), EMB_OK);
    assert_true(flag);

    /* kv-level readers */
    assert_int_equal(gguf_kv_as_i64(gguf_find_kv(f, "neg"), &i64), EMB_OK);
    assert_int_equal(i64, -1);
    assert_int_equal(gguf_kv_as_u64(gguf_find_kv(f, "neg"), &u64), EMB_ERR_RANGE);
    assert_int_equal(gguf_kv_as_i64(gguf_find_kv(f, "huge"), &i64), EMB_ERR_RANGE);
    assert_int_equal(gguf_kv_as_u64(gguf_find_kv(f, "huge"), &u64), EMB_OK);
    assert_true(u64 == UINT64_MAX);
    assert_int_equal(gguf_kv_as_i64(gguf_find_kv(f, "flag"), &i64), EMB_ERR_TYPE);
    assert_int_equal(gguf_kv_as_i64(gguf_find_kv(f, "s"), &i64), EMB_ERR_TYPE);
    assert_int_equal(gguf_kv_as_i64(gguf_find_kv(f, "ints"), &i64), EMB_ERR_TYPE);
    assert_int_equal(gguf_kv_as_f64(gguf_find_kv(f, "neg"), &f64), EMB_ERR_TYPE);
    assert_int_equal(gguf_kv_as_f64(gguf_find_kv(f, "far"), &f64), EMB_OK);
    assert_int_equal(gguf_kv_as_i64(NULL, &i64), EMB_ERR_TYPE);

    /* array element readers */
    arr = gguf_find_kv(f, "ints");
    assert_int_equal(gguf_arr_get_i64(arr, 0, &i64), EMB_OK);
    assert_int_equal(i64, -1);
    assert_int_equal(gguf_arr_get_u64(arr, 0, &u64), EMB_ERR_RANGE);
    assert_int_equal(gguf_arr_get_u64(arr, 1, &u64), EMB_OK);
    assert_int_equal(u64, 2);
    assert_int_equal(gguf_arr_get_i64(arr, 2, &i64), EMB_ERR_RANGE);
    assert_int_equal(gguf_arr_get_i64(arr, UINT64_MAX, &i64), EMB_ERR_RANGE);
    assert_int_equal(gguf_arr_get_f64(arr, 0, &f64), EMB_ERR_TYPE);
    assert_int_equal(gguf_arr_get_f64(gguf_find_kv(f, "dbls"), 0, &f64), EMB_OK);
    assert_true(f64 == 0.5);
    assert_int_equal(gguf_arr_get_i64(gguf_find_kv(f, "s"), 0, &i64), EMB_ERR_TYPE);
    assert_int_equal(gguf_arr_get_i64(NULL, 0, &i64), EMB_ERR_TYPE);

    gguf_close(f);
    free(img);
    gguf_builder_destroy(b);
}

static void test_small_helpers(void **state)
{
    (void)state;
    assert_string_equal(gguf_value_type_name(GGUF_TYPE_UINT32), "UINT32");
    assert_string_equal(gguf_value_type_name(GGUF_TYPE_FLOAT64), "FLOAT64");
    assert_string_equal(gguf_value_type_name((gguf_value_type)13), "?");
    assert_string_equal(gguf_value_type_name((gguf_value_type)-1), "?");
    assert_int_equal(gguf_value_type_size(GGUF_TYPE_INT16), 2);
    assert_int_equal(gguf_value_type_size(GGUF_TYPE_BOOL), 1);
    assert_int_equal(gguf_value_type_size(GGUF_TYPE_FLOAT64), 8);
    assert_int_equal(gguf_value_type_size(GGUF_TYPE_STRING), 0);
    assert_int_equal(gguf_value_type_size(GGUF_TYPE_ARRAY), 0);
    assert_int_equal(gguf_value_type_size((gguf_value_type)99), 0);
    assert_true(emb_str_eq((emb_str){"abc", 3}, "abc"));
    assert_false(emb_str_eq((emb_str){"abc", 2}, "abc"));
    assert_false(emb_str_eq((emb_str){"abc", 3}, "ab"));
    assert_true(emb_str_eq((emb_str){NULL, 0}, ""));
    assert_false(emb_str_eq((emb_str){"a", 1}, NULL));
    gguf_close(NULL);
}

/* --- corrupt variants of the baseline ------------------------------------------------ */

/* Each case: patch the baseline image, expect code + message pieces. */
#define CORRUPT_CASE(fn_name, code, want1, want2, ...)                                                                \
    static void fn_name(void **state)                                                                                 \
    {                                                                                                                 \
        gguf_builder *b;                                                                                              \
        size_t size;                                                                                                  \
        uint8_t *img = baseline_image(&b, &size);                                                                     \
        const gguf_builder_kv_pos *kv = gguf_builder_kv_pos_at(b, KV_ARCH);                                           \
        const gguf_builder_tensor_pos *tq = gguf_builder_tensor_pos_at(b, T_Q);                                       \
        (void)state;                                                                                                  \
        (void)kv;                                                                                                     \
        (void)tq;                                                                                                     \
        __VA_ARGS__;                                                                                                  \
        expect_fail_n(img, size, code, want1, want2);                                                                 \
        free(img);                                                                                                    \
        gguf_builder_destroy(b);                                                                                      \
    }

CORRUPT_CASE(test_bad_magic, EMB_ERR_FORMAT, "offset 0: magic is 47 47 55 47", "not a GGUF file",
             gguf_patch_u8(img, 3, 'G'))
CORRUPT_CASE(test_future_version, EMB_ERR_UNSUPPORTED, "offset 4: version 4 is not supported, expected 2 or 3", NULL,
             gguf_patch_u32(img, 4, 4))
CORRUPT_CASE(test_version_1, EMB_ERR_UNSUPPORTED, "version 1 (32-bit counts)", NULL, gguf_patch_u32(img, 4, 1))
CORRUPT_CASE(test_version_0, EMB_ERR_UNSUPPORTED, "version 0 is not supported", NULL, gguf_patch_u32(img, 4, 0))
CORRUPT_CASE(test_big_endian_version, EMB_ERR_UNSUPPORTED, "offset 4: version 0x03000000",
             "big-endian", gguf_patch_u32(img, 4, 0x03000000u))
CORRUPT_CASE(test_huge_tensor_count, EMB_ERR_FORMAT, "offset 8: tensor count 4611686018427387904 needs at least 25 bytes",
             "bytes are left", gguf_patch_u64(img, 8, UINT64_C(1) << 62))
CORRUPT_CASE(test_negative_tensor_count, EMB_ERR_FORMAT, "offset 8: tensor count -1 is negative", NULL,
             gguf_patch_i64(img, 8, -1))
CORRUPT_CASE(test_huge_kv_count, EMB_ERR_FORMAT, "offset 16: key/value count 4611686018427387904 needs at least 14 bytes",
             NULL, gguf_patch_u64(img, 16, UINT64_C(1) << 62))
CORRUPT_CASE(test_negative_kv_count, EMB_ERR_FORMAT, "offset 16: key/value count -5 is negative", NULL,
             gguf_patch_i64(img, 16, -5))
/* more records than the file holds, but few enough to pass the first bound:
 * the file is cut after the records and claims one more and no tensors */
CORRUPT_CASE(test_kv_count_too_large, EMB_ERR_FORMAT, "key/value record 6: key needs 8 bytes but only 0 are left", NULL,
             gguf_patch_u64(img, 16, KV_COUNT + 1); gguf_patch_u64(img, 8, 0);
             size = gguf_builder_tensor_pos_at(b, 0)->record)
CORRUPT_CASE(test_key_length_past_eof, EMB_ERR_FORMAT, "key/value record 0: key length 1000000 exceeds the", NULL,
             gguf_patch_u64(img, kv->record, 1000000))
CORRUPT_CASE(test_string_length_past_eof, EMB_ERR_FORMAT, "key 'general.architecture': string value length",
             "exceeds the", gguf_patch_u64(img, kv->value, UINT64_MAX))
CORRUPT_CASE(test_array_string_past_eof, EMB_ERR_FORMAT, "key 'tokenizer.ggml.tokens': string 1 of 3: length 99999",
             "exceeds the",
             /* first string: 8 + 5 ("[PAD]") bytes after the 12-byte array header */
             gguf_patch_u64(img, gguf_builder_kv_pos_at(b, KV_TOKENS)->value + 12 + 13, 99999))
CORRUPT_CASE(test_string_array_count_huge, EMB_ERR_FORMAT, "array of 1152921504606846976 strings needs at least 8 bytes",
             NULL, gguf_patch_u64(img, gguf_builder_kv_pos_at(b, KV_TOKENS)->value + 4, UINT64_C(1) << 60))
CORRUPT_CASE(test_numeric_array_count_huge, EMB_ERR_FORMAT, "array of 4611686018427387904 INT32 (4 bytes each) exceeds",
             NULL, gguf_patch_u64(img, gguf_builder_kv_pos_at(b, KV_TYPES)->value + 4, UINT64_C(1) << 62))
CORRUPT_CASE(test_unknown_kv_type, EMB_ERR_FORMAT, "key 'bert.block_count': value type 13 is unknown, expected 0..12", NULL,
             gguf_patch_i32(img, gguf_builder_kv_pos_at(b, KV_BLOCKS)->type, 13))
CORRUPT_CASE(test_negative_kv_type, EMB_ERR_FORMAT, "value type -1 is unknown", NULL,
             gguf_patch_i32(img, gguf_builder_kv_pos_at(b, KV_BLOCKS)->type, -1))
CORRUPT_CASE(test_unknown_array_type, EMB_ERR_FORMAT, "array element type 14 is unknown", NULL,
             gguf_patch_i32(img, gguf_builder_kv_pos_at(b, KV_TYPES)->value, 14))
CORRUPT_CASE(test_array_of_arrays, EMB_ERR_UNSUPPORTED, "key 'tokenizer.ggml.token_type': arrays of arrays are not supported",
             NULL, gguf_patch_i32(img, gguf_builder_kv_pos_at(b, KV_TYPES)->value, GGUF_TYPE_ARRAY))
CORRUPT_CASE(test_n_dims_5, EMB_ERR_FORMAT, "tensor 'blk.0.attn_q.weight': n_dims 5 exceeds the maximum 4", NULL,
             gguf_patch_u32(img, tq->n_dims, 5))
CORRUPT_CASE(test_negative_ne, EMB_ERR_FORMAT, "tensor 'blk.0.attn_q.weight': ne[1] = -2 is negative", NULL,
             gguf_patch_i64(img, tq->ne + 8, -2))
CORRUPT_CASE(test_element_count_overflow, EMB_ERR_FORMAT, "shape [4294967296, 4294967296] has more than INT64_MAX elements",
             NULL, gguf_patch_i64(img, gguf_builder_tensor_pos_at(b, T_EMBD)->ne, INT64_C(1) << 32);
             gguf_patch_i64(img, gguf_builder_tensor_pos_at(b, T_EMBD)->ne + 8, INT64_C(1) << 32))
/* 2^31 * 2^31 F64 elements fit in int64, their 2^65 bytes do not fit in 64 bits */
CORRUPT_CASE(test_byte_size_overflow, EMB_ERR_FORMAT, "byte size of shape [2147483648, 2147483648] as F64 overflows", NULL,
             gguf_patch_i32(img, gguf_builder_tensor_pos_at(b, T_EMBD)->type, GGML_TYPE_F64);
             gguf_patch_i64(img, gguf_builder_tensor_pos_at(b, T_EMBD)->ne, INT64_C(1) << 31);
             gguf_patch_i64(img, gguf_builder_tensor_pos_at(b, T_EMBD)->ne + 8, INT64_C(1) << 31))
/* 2^62 F64 elements in one row: the element count fits, the row's 2^65 bytes do not */
CORRUPT_CASE(test_row_bytes_overflow, EMB_ERR_FORMAT, "row of shape [4611686018427387904] as F64 overflows 64 bits", NULL,
             gguf_patch_i32(img, gguf_builder_tensor_pos_at(b, T_NORM)->type, GGML_TYPE_F64);
             gguf_patch_i64(img, gguf_builder_tensor_pos_at(b, T_NORM)->ne, INT64_C(1) << 62))
CORRUPT_CASE(test_unknown_tensor_type, EMB_ERR_UNSUPPORTED, "tensor 'blk.0.attn_q.weight': type id 39 is unknown", NULL,
             gguf_patch_i32(img, tq->type, 39))
CORRUPT_CASE(test_negative_tensor_type, EMB_ERR_UNSUPPORTED, "type id -7 is unknown", NULL, gguf_patch_i32(img, tq->type, -7))
CORRUPT_CASE(test_removed_tensor_type, EMB_ERR_UNSUPPORTED, "type id 4 is a ggml type removed from GGUF files", NULL,
             gguf_patch_i32(img, tq->type, 4))
CORRUPT_CASE(test_removed_tensor_type_31, EMB_ERR_UNSUPPORTED, "type id 31 is a ggml type removed", NULL,
             gguf_patch_i32(img, tq->type, 31))
CORRUPT_CASE(test_row_not_whole_blocks, EMB_ERR_FORMAT, "ne[0] = 33 is not a multiple of the Q4_0 block size 32", NULL,
             gguf_patch_i64(img, tq->ne, 33))
CORRUPT_CASE(test_data_past_eof, EMB_ERR_FORMAT, "tensor 'blk.0.attn_q.weight': data [", "ends past the end of the file",
             gguf_patch_u64(img, tq->offset, 1024))
CORRUPT_CASE(test_data_offset_overflow, EMB_ERR_FORMAT, "overflows 64 bits", NULL,
             gguf_patch_u64(img, tq->offset, UINT64_MAX - 31))
CORRUPT_CASE(test_offset_misaligned, EMB_ERR_FORMAT, "data offset 97 is not a multiple of the alignment 32", NULL,
             gguf_patch_u64(img, tq->offset, 97))
CORRUPT_CASE(test_tensor_name_past_eof, EMB_ERR_FORMAT, "tensor info 1: tensor name length", "exceeds the",
             gguf_patch_u64(img, tq->record, 1u << 20))
CORRUPT_CASE(test_tensor_name_empty, EMB_ERR_FORMAT, "tensor info 1: tensor name is empty", NULL,
             /* name length 0: the old name bytes are then read as n_dims & co; the empty name is reported first */
             gguf_patch_u64(img, tq->record, 0))
CORRUPT_CASE(test_tensor_name_nul, EMB_ERR_FORMAT, "tensor info 1: tensor name contains a NUL byte", NULL,
             gguf_patch_u8(img, tq->record + 8 + 3, 0))
CORRUPT_CASE(test_key_nul, EMB_ERR_FORMAT, "key/value record 0: key contains a NUL byte", NULL,
             gguf_patch_u8(img, kv->record + 8 + 7, 0))

static void test_duplicate_key(void **state)
{
    gguf_builder *b = baseline();
    size_t size;
    uint8_t *img;
    char want[64];

    (void)state;
    gguf_builder_add_u32(b, "bert.block_count", 3);
    img = build(b, &size);
    snprintf(want, sizeof want, "(first at offset %zu)", gguf_builder_kv_pos_at(b, KV_BLOCKS)->record);
    expect_fail_n(img, size, EMB_ERR_FORMAT, "key 'bert.block_count': duplicate key", want);
    free(img);
    gguf_builder_destroy(b);
}

static void test_duplicate_tensor_name(void **state)
{
    gguf_builder *b = baseline();
    size_t size;
    uint8_t *img;

    (void)state;
    gguf_builder_add_tensor(b, "token_embd.weight", GGML_TYPE_F32, 1, (const int64_t[]){4});
    img = build(b, &size);
    expect_fail(img, size, EMB_ERR_FORMAT,
                "tensor 'token_embd.weight': duplicate tensor name (tensor 3; first as tensor 0 at offset");
    free(img);
    gguf_builder_destroy(b);
}

static void expect_alignment_rejected(void (*add)(gguf_builder *), const char *want)
{
    gguf_builder *b = baseline();
    size_t size;
    uint8_t *img;

    add(b);
    img = build(b, &size);
    expect_fail_n(img, size, EMB_ERR_FORMAT, "key 'general.alignment': ", want);
    free(img);
    gguf_builder_destroy(b);
}

static void add_alignment_0(gguf_builder *b) { gguf_builder_add_u32(b, "general.alignment", 0); }
static void add_alignment_3(gguf_builder *b) { gguf_builder_add_u32(b, "general.alignment", 3); }
static void add_alignment_str(gguf_builder *b) { gguf_builder_add_str(b, "general.alignment", "32"); }
static void add_alignment_u64(gguf_builder *b) { gguf_builder_add_u64(b, "general.alignment", 32); }

static void test_alignment_invalid(void **state)
{
    (void)state;
    expect_alignment_rejected(add_alignment_0, "alignment 0 is not a non-zero power of two");
    expect_alignment_rejected(add_alignment_3, "alignment 3 is not a non-zero power of two");
    expect_alignment_rejected(add_alignment_str, "value is STRING, expected UINT32");
    expect_alignment_rejected(add_alignment_u64, "value is UINT64, expected UINT32");
}

/* An alignment key that differs from how the data was laid out moves the data
 * start; offsets then no longer fit. */
static void test_alignment_mismatch(void **state)
{
    gguf_builder *b = baseline();
    size_t size;
    uint8_t *img;

    (void)state;
    gguf_builder_add_u32(b, "general.alignment", 4096);
    img = build(b, &size);
    expect_fail(img, size, EMB_ERR_FORMAT, "ends past the end of the file");
    free(img);
    gguf_builder_destroy(b);
}

static void test_empty_key(void **state)
{
    gguf_builder *b = gguf_builder_create();
    size_t size;
    uint8_t *img;

    (void)state;
    gguf_builder_add_u8_keyn(b, "", 0, 1);
    /* a 13-byte empty-key record alone is below the 14-byte minimum the counts
     * are bounded with; a second record gives the parser enough bytes to reach it */
    gguf_builder_add_u8(b, "second.key", 1);
    img = build(b, &size);
    expect_fail(img, size, EMB_ERR_FORMAT, "offset 24: key/value record 0: key is empty");
    free(img);
    gguf_builder_destroy(b);
}

/* Names in messages: control bytes, quotes and backslashes escaped, long names cut. */
static void test_message_escapes_names(void **state)
{
    static const char key[] = "odd\x01key'with\\escapes.and.a.very.long.tail.that.goes.on.and.on";
    gguf_builder *b = gguf_builder_create();
    size_t size;
    uint8_t *img;

    (void)state;
    gguf_builder_add_u32(b, key, 1);
    gguf_builder_add_u32(b, key, 2);
    img = build(b, &size);
    expect_fail_n(img, size, EMB_ERR_FORMAT, "key 'odd\\x01key\\x27with\\x5cescapes.and.a.very.long.ta...': duplicate key",
                  NULL);
    free(img);
    gguf_builder_destroy(b);
}

static void test_tensor_name_too_long(void **state)
{
    gguf_builder *b = gguf_builder_create();
    char name[258];
    size_t size;
    uint8_t *img;
    gguf_file *f;

    (void)state;
    /* 256 bytes is the limit: accepted */
    memset(name, 'n', 256);
    name[256] = '\0';
    gguf_builder_add_tensor(b, name, GGML_TYPE_F32, 1, (const int64_t[]){1});
    img = build(b, &size);
    f = open_ok(img, size);
    assert_int_equal(gguf_tensor_at(f, 0)->name.len, 256);
    gguf_close(f);
    free(img);
    gguf_builder_destroy(b);

    b = gguf_builder_create();
    memset(name, 'n', 257);
    name[257] = '\0';
    gguf_builder_add_tensor(b, name, GGML_TYPE_F32, 1, (const int64_t[]){1});
    img = build(b, &size);
    expect_fail(img, size, EMB_ERR_FORMAT, "tensor name is 257 bytes, maximum 256");
    free(img);
    gguf_builder_destroy(b);
}

static void test_raw_kv_array_of_arrays(void **state)
{
    /* ARRAY of ARRAY of UINT8: elem type 9, count 1, then an inner array */
    static const uint8_t payload[] = {9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 42};
    gguf_builder *b = gguf_builder_create();
    size_t size;
    uint8_t *img;

    (void)state;
    gguf_builder_add_raw_kv(b, "nested", GGUF_TYPE_ARRAY, payload, sizeof payload);
    img = build(b, &size);
    expect_fail(img, size, EMB_ERR_UNSUPPORTED, "offset 42: key 'nested': arrays of arrays are not supported");
    free(img);
    gguf_builder_destroy(b);
}

static void test_short_files(void **state)
{
    static const uint8_t not_gguf[] = "PK\x03\x04 this is a zip";
    (void)state;
    expect_fail(not_gguf, 4, EMB_ERR_FORMAT, "offset 0: magic is not 'GGUF'");
    expect_fail(not_gguf, sizeof not_gguf, EMB_ERR_FORMAT, "magic is not 'GGUF': not a GGUF file");
    expect_fail((const uint8_t *)"GGUF\x03\0\0\0", 8, EMB_ERR_FORMAT,
                "offset 0: file is 8 bytes, too short for the 24-byte GGUF header");
    expect_fail((const uint8_t *)"GGUF", 4, EMB_ERR_FORMAT, "file is 4 bytes, too short");
    expect_fail((const uint8_t *)"", 0, EMB_ERR_FORMAT, "file is 0 bytes, too short");
}

/* Every proper prefix of a small valid file must fail cleanly (never crash,
 * never read past the end: the copy is exact-size for ASan/valgrind). */
static void test_truncation_every_offset(void **state)
{
    gguf_builder *b;
    size_t size, len;
    uint8_t *img = baseline_image(&b, &size);
    gguf_file *f;

    (void)state;
    /* the baseline's last tensor ends exactly at the end: no slack to truncate into */
    f = open_ok(img, size);
    assert_int_equal(gguf_tensor_at(f, T_NORM)->abs_offset + gguf_tensor_at(f, T_NORM)->n_bytes, size);
    gguf_close(f);
    for (len = 0; len < size; len++) {
        uint8_t *copy = gguf_bytes_dup(img, len);
        emb_error err = {EMB_OK, ""};
        assert_non_null(copy);
        f = gguf_open_memory(copy, len, "trunc.gguf", &err);
        if (f) {
            gguf_close(f);
            free(copy);
            fail_msg("prefix of %zu of %zu bytes opened", len, size);
        }
        if (err.code != EMB_ERR_FORMAT || strncmp(err.msg, "gguf: trunc.gguf: offset ", 25) != 0)
            fail_msg("prefix of %zu bytes: code %s, message: %s", len, emb_code_name(err.code), err.msg);
        free(copy);
    }
    free(img);
    gguf_builder_destroy(b);
}

/* A 0-tensor file may end right after its key/value records (llama.cpp's
 * vocab files do): the data section start is then past the end. */
static void test_no_tensors_unpadded(void **state)
{
    gguf_builder *b = gguf_builder_create();
    size_t size;
    uint8_t *img;
    gguf_file *f;

    (void)state;
    gguf_builder_add_str(b, "general.architecture", "bert");
    img = build(b, &size);
    assert_int_equal(size, 24 + 8 + 20 + 4 + 8 + 4);
    f = open_ok(img, size);
    assert_int_equal(gguf_data_offset(f), 96);
    gguf_close(f);
    free(img);
    gguf_builder_destroy(b);
}

/* --- files on disk ------------------------------------------------------------------- */

static void test_open_files(void **state)
{
    char dir[] = "/tmp/test_gguf_XXXXXX";
    char path[512];
    emb_error err = {EMB_OK, ""};
    gguf_builder *b;
    size_t size;
    uint8_t *img;
    gguf_file *f;

    (void)state;
    assert_non_null(mkdtemp(dir));

    /* missing */
    snprintf(path, sizeof path, "%s/missing.gguf", dir);
    assert_null(gguf_open(path, &err));
    assert_int_equal(err.code, EMB_ERR_IO);
    assert_non_null(strstr(err.msg, "missing.gguf: cannot open: No such file or directory"));

    /* a directory */
    assert_null(gguf_open(dir, &err));
    assert_int_equal(err.code, EMB_ERR_IO);
    if (!strstr(err.msg, ": is a directory, expected a GGUF file"))
        fail_msg("%s", err.msg);

    /* empty */
    snprintf(path, sizeof path, "%s/empty.gguf", dir);
    assert_true(gguf_write_file(path, (const uint8_t *)"", 0));
    assert_null(gguf_open(path, &err));
    assert_int_equal(err.code, EMB_ERR_FORMAT);
    if (!strstr(err.msg, "empty.gguf: file is empty (0 bytes), expected a GGUF file"))
        fail_msg("%s", err.msg);
    unlink(path);

    /* a corrupt file: the path is in the message */
    img = baseline_image(&b, &size);
    snprintf(path, sizeof path, "%s/bad.gguf", dir);
    gguf_patch_u32(img, 4, 7);
    assert_true(gguf_write_file(path, img, size));
    assert_null(gguf_open(path, &err));
    assert_int_equal(err.code, EMB_ERR_UNSUPPORTED);
    if (!strstr(err.msg, "gguf: /tmp/test_gguf_") || !strstr(err.msg, "/bad.gguf: offset 4: version 7"))
        fail_msg("%s", err.msg);
    unlink(path);

    /* a valid file through mmap: same view as from memory */
    gguf_patch_u32(img, 4, 3);
    snprintf(path, sizeof path, "%s/ok.gguf", dir);
    assert_true(gguf_write_file(path, img, size));
    f = gguf_open(path, &err);
    if (!f)
        fail_msg("%s", err.msg);
    assert_string_equal(gguf_name(f), path);
    assert_int_equal(gguf_file_size(f), size);
    assert_int_equal(gguf_n_tensors(f), T_COUNT);
    assert_int_equal(gguf_n_kv(f), KV_COUNT);
    assert_true(gguf_tensor_at(f, T_Q)->data == gguf_base(f) + gguf_builder_tensor_pos_at(b, T_Q)->data);
    assert_memory_equal(gguf_tensor_at(f, T_Q)->data, img + gguf_builder_tensor_pos_at(b, T_Q)->data, 72);
    gguf_close(f);
    unlink(path);
    free(img);
    gguf_builder_destroy(b);

    assert_null(gguf_open(NULL, &err));
    assert_int_equal(err.code, EMB_ERR_IO);

    /* a character device and a FIFO (must not block waiting for a writer) */
    assert_null(gguf_open("/dev/null", &err));
    assert_int_equal(err.code, EMB_ERR_IO);
    assert_string_equal(err.msg, "gguf: /dev/null: is not a regular file, expected a GGUF file");
    snprintf(path, sizeof path, "%s/fifo.gguf", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_null(gguf_open(path, &err));
    assert_int_equal(err.code, EMB_ERR_IO);
    assert_non_null(strstr(err.msg, "fifo.gguf: is not a regular file"));
    unlink(path);

    /* a NULL image with a size is a caller bug, reported, not dereferenced */
    assert_null(gguf_open_memory(NULL, 5, "null", &err));
    assert_int_equal(err.code, EMB_ERR_INTERNAL);
    assert_int_equal(rmdir(dir), 0);
}

/* Long paths keep their tail in messages. */
static void test_long_name_in_message(void **state)
{
    char name[400];
    emb_error err = {EMB_OK, ""};

    (void)state;
    memset(name, 'd', sizeof name);
    memcpy(name + sizeof name - 12, "/model.gguf", 12);
    assert_null(gguf_open_memory("GGUF", 4, name, &err));
    if (strncmp(err.msg, "gguf: ...ddd", 12) != 0 || !strstr(err.msg, "/model.gguf: offset 0: file is 4 bytes"))
        fail_msg("%s", err.msg);
}

/* --- the real vocabulary fixture ------------------------------------------------------ */

typedef struct vocab_check {
    uint64_t count;
    uint64_t bytes;
    int bad_index;
} vocab_check;

static int check_token(void *ctx, uint64_t index, emb_str value)
{
    /* Expected ids and strings from gguf.GGUFReader on the same file. */
    static const struct {
        uint64_t id;
        const char *text;
    } known[] = {
        {0, "[PAD]"}, {100, "[UNK]"}, {101, "[CLS]"}, {102, "[SEP]"}, {103, "[MASK]"},
        {1000, "\xe2\x96\x81\""}, {2000, "\xe2\x96\x81to"}, {30521, "\xef\xbd\x9e"},
    };
    vocab_check *c = ctx;
    size_t i;

    if (index != c->count)
        c->bad_index = (int)index;
    c->count++;
    c->bytes += value.len;
    for (i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (known[i].id == index && !emb_str_eq(value, known[i].text)) {
            c->bad_index = (int)index;
            return 1;
        }
    }
    return 0;
}

static void test_real_vocab_file(void **state)
{
    const char *source = getenv("EMBED_SOURCE_DIR");
    char path[1024];
    emb_error err = {EMB_OK, ""};
    gguf_file *f;
    const gguf_kv *tokens = NULL, *types = NULL;
    vocab_check c = {0, 0, -1};
    uint32_t u32;
    float eps;
    bool causal = true;
    emb_str s;
    int64_t i64;

    (void)state;
    if (!source)
        fail_msg("EMBED_SOURCE_DIR is not set (ctest sets it)");
    snprintf(path, sizeof path, "%s/tests/data/bert-vocab/ggml-vocab-bert-bge.gguf", source);
    f = gguf_open(path, &err);
    if (!f)
        fail_msg("%s", err.msg);
    assert_int_equal(gguf_version(f), 3);
    assert_int_equal(gguf_n_tensors(f), 0);
    assert_int_equal(gguf_n_kv(f), 20);
    assert_int_equal(gguf_file_size(f), 627549);
    assert_int_equal(gguf_get_str(f, "general.architecture", &s, &err), EMB_OK);
    assert_str(s, "bert");
    assert_int_equal(gguf_get_str(f, "tokenizer.ggml.model", &s, &err), EMB_OK);
    assert_str(s, "bert");
    assert_int_equal(gguf_get_u32(f, "bert.block_count", &u32, &err), EMB_OK);
    assert_int_equal(u32, 12);
    assert_int_equal(gguf_get_u32(f, "tokenizer.ggml.seperator_token_id", &u32, &err), EMB_OK);
    assert_int_equal(u32, 102);
    assert_int_equal(gguf_get_f32(f, "bert.attention.layer_norm_epsilon", &eps, &err), EMB_OK);
    assert_true(eps == 1e-12f);
    assert_int_equal(gguf_get_bool(f, "bert.attention.causal", &causal, &err), EMB_OK);
    assert_false(causal);

    assert_int_equal(gguf_get_array(f, "tokenizer.ggml.tokens", &tokens, &err), EMB_OK);
    assert_int_equal(tokens->arr_type, GGUF_TYPE_STRING);
    assert_int_equal(tokens->arr_count, 30522);
    assert_int_equal(gguf_arr_foreach_str(tokens, check_token, &c), 0);
    if (c.bad_index >= 0)
        fail_msg("token %d differs from the expected value", c.bad_index);
    assert_int_equal(c.count, 30522);

    assert_int_equal(gguf_get_array(f, "tokenizer.ggml.token_type", &types, &err), EMB_OK);
    assert_int_equal(types->arr_type, GGUF_TYPE_INT32);
    assert_int_equal(types->arr_count, 30522);
    assert_int_equal(gguf_arr_get_i64(types, 101, &i64), EMB_OK);
    assert_int_equal(i64, 3); /* CONTROL */
    assert_int_equal(gguf_arr_get_i64(types, 2000, &i64), EMB_OK);
    assert_int_equal(i64, 1); /* NORMAL */
    gguf_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_baseline_opens),
        cmocka_unit_test(test_every_key_type),
        cmocka_unit_test(test_string_array_walk),
        cmocka_unit_test(test_tensor_types),
        cmocka_unit_test(test_version2_and_trailing_padding),
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_accessor_errors),
        cmocka_unit_test(test_small_helpers),
        cmocka_unit_test(test_bad_magic),
        cmocka_unit_test(test_future_version),
        cmocka_unit_test(test_version_1),
        cmocka_unit_test(test_version_0),
        cmocka_unit_test(test_big_endian_version),
        cmocka_unit_test(test_huge_tensor_count),
        cmocka_unit_test(test_negative_tensor_count),
        cmocka_unit_test(test_huge_kv_count),
        cmocka_unit_test(test_negative_kv_count),
        cmocka_unit_test(test_kv_count_too_large),
        cmocka_unit_test(test_key_length_past_eof),
        cmocka_unit_test(test_string_length_past_eof),
        cmocka_unit_test(test_array_string_past_eof),
        cmocka_unit_test(test_string_array_count_huge),
        cmocka_unit_test(test_numeric_array_count_huge),
        cmocka_unit_test(test_unknown_kv_type),
        cmocka_unit_test(test_negative_kv_type),
        cmocka_unit_test(test_unknown_array_type),
        cmocka_unit_test(test_array_of_arrays),
        cmocka_unit_test(test_raw_kv_array_of_arrays),
        cmocka_unit_test(test_n_dims_5),
        cmocka_unit_test(test_negative_ne),
        cmocka_unit_test(test_element_count_overflow),
        cmocka_unit_test(test_byte_size_overflow),
        cmocka_unit_test(test_row_bytes_overflow),
        cmocka_unit_test(test_unknown_tensor_type),
        cmocka_unit_test(test_negative_tensor_type),
        cmocka_unit_test(test_removed_tensor_type),
        cmocka_unit_test(test_removed_tensor_type_31),
        cmocka_unit_test(test_row_not_whole_blocks),
        cmocka_unit_test(test_data_past_eof),
        cmocka_unit_test(test_data_offset_overflow),
        cmocka_unit_test(test_offset_misaligned),
        cmocka_unit_test(test_tensor_name_past_eof),
        cmocka_unit_test(test_tensor_name_empty),
        cmocka_unit_test(test_tensor_name_nul),
        cmocka_unit_test(test_tensor_name_too_long),
        cmocka_unit_test(test_message_escapes_names),
        cmocka_unit_test(test_key_nul),
        cmocka_unit_test(test_empty_key),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_duplicate_tensor_name),
        cmocka_unit_test(test_alignment_invalid),
        cmocka_unit_test(test_alignment_mismatch),
        cmocka_unit_test(test_short_files),
        cmocka_unit_test(test_truncation_every_offset),
        cmocka_unit_test(test_no_tensors_unpadded),
        cmocka_unit_test(test_open_files),
        cmocka_unit_test(test_long_name_in_message),
        cmocka_unit_test(test_real_vocab_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
