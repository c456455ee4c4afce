/*
 * fuzz_gguf: libFuzzer target for the GGUF reader (docs/fuzzing.md).
 *
 * Parses the input with gguf_open_memory, then walks everything a caller
 * can reach: every key through every typed accessor, every array element,
 * every string of every string array, every tensor (lookup by name, first and
 * last data byte). libFuzzer hands us an exact-size heap copy, so ASan reports
 * any read outside the image. Broken invariants that a sanitizer would not see
 * (a failure without a message, a tensor whose sizes do not add up) trap.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "gguf.h"

#define CHECK(cond)                                                                                                   \
    do {                                                                                                              \
        if (!(cond)) {                                                                                                \
            fprintf(stderr, "fuzz_gguf: invariant broken: %s (line %d)\n", #cond, __LINE__);                          \
            __builtin_trap();                                                                                         \
        }                                                                                                             \
    } while (0)

/* Sink for values so the reads are not optimised away. */
static volatile uint64_t sink;

static int visit_string(void *ctx, uint64_t index, emb_str value)
{
    uint64_t *sum = ctx;
    *sum += index + value.len;
    if (value.len)
        *sum += (uint8_t)value.ptr[0] + (uint8_t)value.ptr[value.len - 1];
    return 0;
}

static void walk_kv(const gguf_file *f, const gguf_kv *kv)
{
    char key[4096];
    emb_error err = {EMB_OK, "", EMB_ERROR_NO_ITEM};
    uint32_t u32;
    uint64_t u64, i, sum = 0;
    int64_t i64;
    float f32;
    double f64;
    bool flag;
    emb_str s;
    const gguf_kv *arr;

    CHECK(kv->key.len > 0);
    CHECK(memchr(kv->key.ptr, '\0', kv->key.len) == NULL);
    CHECK((const uint8_t *)kv->key.ptr >= gguf_base(f) &&
          (const uint8_t *)kv->key.ptr + kv->key.len <= gguf_base(f) + gguf_file_size(f));
    if (kv->key.len < sizeof key) {
        memcpy(key, kv->key.ptr, kv->key.len);
        key[kv->key.len] = '\0';
        /* keys are unique, so lookup finds this very record */
        CHECK(gguf_find_kv(f, key) == kv);
        sink += gguf_get_u32(f, key, &u32, &err) + gguf_get_u64(f, key, &u64, &err) +
                gguf_get_i64(f, key, &i64, &err) + gguf_get_f32(f, key, &f32, &err) +
                gguf_get_f64(f, key, &f64, &err) + gguf_get_bool(f, key, &flag, &err) +
                gguf_get_str(f, key, &s, &err) + gguf_get_array(f, key, &arr, &err);
        CHECK(err.msg[0] != '\0');
    }
    sink += gguf_kv_as_i64(kv, &i64) + gguf_kv_as_u64(kv, &u64) + gguf_kv_as_f64(kv, &f64);
    if (kv->type == GGUF_TYPE_STRING && kv->str.len)
        sink += (uint8_t)kv->str.ptr[0] + (uint8_t)kv->str.ptr[kv->str.len - 1];
    if (kv->type != GGUF_TYPE_ARRAY)
        return;
    if (kv->arr_type == GGUF_TYPE_STRING) {
        CHECK(gguf_arr_foreach_str(kv, visit_string, &sum) == 0);
    } else {
        for (i = 0; i < kv->arr_count; i++) {
            sum += (uint64_t)gguf_arr_get_i64(kv, i, &i64) + (uint64_t)gguf_arr_get_u64(kv, i, &u64) +
                   (uint64_t)gguf_arr_get_f64(kv, i, &f64);
        }
        CHECK(gguf_arr_get_i64(kv, kv->arr_count, &i64) == EMB_ERR_RANGE ||
              gguf_arr_get_i64(kv, kv->arr_count, &i64) == EMB_ERR_TYPE);
    }
    sink += sum;
}

static void walk_tensor(const gguf_file *f, const gguf_tensor *t)
{
    char name[300];
    uint64_t rows;

    CHECK(t->n_dims <= GGUF_MAX_DIMS);
    CHECK(t->ne[0] >= 0 && t->ne[1] >= 0 && t->ne[2] >= 0 && t->ne[3] >= 0);
    CHECK(t->abs_offset == gguf_data_offset(f) + t->offset);
    CHECK(t->offset % gguf_alignment(f) == 0);
    CHECK(t->abs_offset <= gguf_file_size(f) && t->n_bytes <= gguf_file_size(f) - t->abs_offset);
    CHECK(t->data == gguf_base(f) + t->abs_offset);
    rows = (uint64_t)t->ne[1] * (uint64_t)t->ne[2] * (uint64_t)t->ne[3];
    CHECK(t->n_elements == 0 || t->n_bytes == t->row_bytes * rows);
    CHECK(t->name.len > 0 && t->name.len < sizeof name);
    memcpy(name, t->name.ptr, t->name.len);
    name[t->name.len] = '\0';
    CHECK(gguf_find_tensor(f, name) == t);
    if (t->n_bytes)
        sink += t->data[0] + t->data[t->n_bytes - 1];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    emb_error err = {EMB_OK, "", EMB_ERROR_NO_ITEM};
    gguf_file *f = gguf_open_memory(data, size, "fuzz.gguf", &err);
    size_t i;

    if (!f) {
        CHECK(err.code != EMB_OK);
        CHECK(strncmp(err.msg, "gguf: fuzz.gguf: ", 17) == 0);
        return 0;
    }
    CHECK(gguf_version(f) == 2 || gguf_version(f) == 3);
    CHECK(gguf_alignment(f) && (gguf_alignment(f) & (gguf_alignment(f) - 1)) == 0);
    for (i = 0; i < gguf_n_kv(f); i++)
        walk_kv(f, gguf_kv_at(f, i));
    for (i = 0; i < gguf_n_tensors(f); i++)
        walk_tensor(f, gguf_tensor_at(f, i));
    CHECK(gguf_kv_at(f, gguf_n_kv(f)) == NULL && gguf_tensor_at(f, gguf_n_tensors(f)) == NULL);
    gguf_close(f);
    return 0;
}
