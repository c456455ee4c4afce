/*
 * test_gguf_samples: cross-check of the GGUF reader against the PyPI gguf
 * package. tests/python/gen_gguf_samples.py writes files with
 * gguf.GGUFWriter and dumps gguf.GGUFReader's view of them (format in that
 * script's docstring); this test opens each file with gguf_open and compares
 * every key (name, type, element type, count, every value), every tensor
 * (name, type, n_dims, ne, element count, byte size, absolute offset, CRC-32
 * of the data bytes) and the header facts (version, alignment, data offset).
 *
 * ctest runs the generator first (fixture gguf_samples, tests/cmake/gguf.cmake)
 * into $EMBED_BUILD_DIR/gguf_samples; GGUF_SAMPLES_DIR overrides the place.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"

#define MAX_FIELDS 12

/* --- tiny TSV / hex helpers ---------------------------------------------------------- */

static char *read_text(const char *path)
{
    FILE *fp = fopen(path, "rb");
    char *buf = NULL;
    long n = 0;

    if (!fp)
        fail_msg("cannot open %s (did the gguf_samples_generate test run?)", path);
    if (fseek(fp, 0, SEEK_END) != 0 || (n = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0)
        fail_msg("cannot size %s", path);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    if (fread(buf, 1, (size_t)n, fp) != (size_t)n)
        fail_msg("cannot read %s", path);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

/* Split `s` in place at `sep`, keeping empty fields; returns the count. */
static size_t split(char *s, char sep, char **out, size_t max)
{
    size_t n = 0;
    out[n++] = s;
    for (; *s; s++) {
        if (*s == sep) {
            *s = '\0';
            if (n == max)
                fail_msg("more than %zu fields", max);
            out[n++] = s + 1;
        }
    }
    return n;
}

/* Decode hex into a malloc()ed buffer (caller frees). */
static char *unhex(const char *hex, size_t *len)
{
    size_t n = strlen(hex), i;
    char *out = malloc(n / 2 + 1);
    assert_non_null(out);
    if (n % 2)
        fail_msg("odd hex string '%s'", hex);
    for (i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            fail_msg("bad hex '%s'", hex);
        out[i] = (char)v;
    }
    out[n / 2] = '\0';
    *len = n / 2;
    return out;
}

static bool str_equal_hex(emb_str s, const char *hex)
{
    size_t len;
    char *want = unhex(hex, &len);
    bool eq = len == s.len && (len == 0 || memcmp(want, s.ptr, len) == 0);
    free(want);
    return eq;
}

static uint32_t crc32_of(const uint8_t *p, uint64_t n)
{
    uint32_t crc = 0xFFFFFFFFu;
    uint64_t i;
    int k;
    for (i = 0; i < n; i++) {
        crc ^= p[i];
        for (k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

/* --- comparisons --------------------------------------------------------------------- */

typedef struct ctx {
    const char *file;
    const char *key;
} ctx;

static bool is_signed_type(gguf_value_type t)
{
    return t == GGUF_TYPE_INT8 || t == GGUF_TYPE_INT16 || t == GGUF_TYPE_INT32 || t == GGUF_TYPE_INT64;
}

/* One scalar (kv itself when arr is false, else element i) against its text. */
static void check_value(const ctx *c, const gguf_kv *kv, bool arr, uint64_t i, const char *text)
{
    gguf_value_type t = arr ? kv->arr_type : kv->type;
    emb_code rc;

    if (t == GGUF_TYPE_FLOAT32 || t == GGUF_TYPE_FLOAT64) {
        double got = 0, want = strtod(text, NULL);
        rc = arr ? gguf_arr_get_f64(kv, i, &got) : gguf_kv_as_f64(kv, &got);
        if (rc != EMB_OK || got != want)
            fail_msg("%s: key %s[%" PRIu64 "]: got %.17g (rc %d), gguf-py %s", c->file, c->key, i, got, rc, text);
    } else if (t == GGUF_TYPE_BOOL) {
        const uint8_t *p = arr ? kv->data + i : kv->data;
        if ((*p != 0) != (strcmp(text, "1") == 0))
            fail_msg("%s: key %s[%" PRIu64 "]: got bool byte %u, gguf-py %s", c->file, c->key, i, *p, text);
    } else if (is_signed_type(t)) {
        int64_t got = 0, want = strtoll(text, NULL, 10);
        rc = arr ? gguf_arr_get_i64(kv, i, &got) : gguf_kv_as_i64(kv, &got);
        if (rc != EMB_OK || got != want)
            fail_msg("%s: key %s[%" PRIu64 "]: got %" PRId64 " (rc %d), gguf-py %s", c->file, c->key, i, got, rc, text);
    } else if (t == GGUF_TYPE_STRING) {
        if (arr)
            fail_msg("internal: string arrays are walked separately");
        if (!str_equal_hex(kv->str, text))
            fail_msg("%s: key %s: got '%.*s', gguf-py hex %s", c->file, c->key, (int)kv->str.len, kv->str.ptr, text);
    } else {
        uint64_t got = 0, want = strtoull(text, NULL, 10);
        rc = arr ? gguf_arr_get_u64(kv, i, &got) : gguf_kv_as_u64(kv, &got);
        if (rc != EMB_OK || got != want)
            fail_msg("%s: key %s[%" PRIu64 "]: got %" PRIu64 " (rc %d), gguf-py %s", c->file, c->key, i, got, rc, text);
    }
}

typedef struct str_walk {
    const ctx *c;
    char **want;
    size_t n_want;
} str_walk;

static int compare_string(void *p, uint64_t index, emb_str value)
{
    str_walk *w = p;
    if (index >= w->n_want || !str_equal_hex(value, w->want[index]))
        fail_msg("%s: key %s: string %" PRIu64 " is '%.*s', gguf-py hex %s", w->c->file, w->c->key, index,
                 (int)value.len, value.ptr, index < w->n_want ? w->want[index] : "(none)");
    return 0;
}

static void check_kv(const ctx *c0, const gguf_file *f, size_t index, char **fld, size_t n)
{
    const gguf_kv *kv = gguf_kv_at(f, index);
    size_t key_len;
    char *key;
    long type, arr_type;
    uint64_t count;
    ctx c = *c0;

    if (n != 6)
        fail_msg("%s: kv line with %zu fields", c.file, n);
    key = unhex(fld[1], &key_len);
    c.key = key;
    if (!kv || !emb_str_eq(kv->key, key))
        fail_msg("%s: kv %zu: got key '%.*s', gguf-py '%s'", c.file, index, kv ? (int)kv->key.len : 0,
                 kv ? kv->key.ptr : "", key);
    if (gguf_find_kv(f, key) != kv)
        fail_msg("%s: gguf_find_kv('%s') does not find kv %zu", c.file, key, index);
    type = strtol(fld[2], NULL, 10);
    arr_type = strtol(fld[3], NULL, 10);
    count = strtoull(fld[4], NULL, 10);
    if ((long)kv->type != type)
        fail_msg("%s: key %s: type %s, gguf-py %s", c.file, key, gguf_value_type_name(kv->type),
                 gguf_value_type_name((gguf_value_type)type));
    if (kv->type == GGUF_TYPE_ARRAY) {
        char **vals = malloc((count ? count : 1) * sizeof *vals);
        size_t got_n;
        assert_non_null(vals);
        if ((long)kv->arr_type != arr_type || kv->arr_count != count)
            fail_msg("%s: key %s: ARRAY of %s x %" PRIu64 ", gguf-py ARRAY of %s x %" PRIu64, c.file, key,
                     gguf_value_type_name(kv->arr_type), kv->arr_count, gguf_value_type_name((gguf_value_type)arr_type),
                     count);
        got_n = split(fld[5], ',', vals, count ? count : 1);
        if (count && got_n != count)
            fail_msg("%s: key %s: %zu values in the dump for %" PRIu64 " elements", c.file, key, got_n, count);
        if (kv->arr_type == GGUF_TYPE_STRING) {
            str_walk w = {&c, vals, (size_t)count};
            assert_int_equal(gguf_arr_foreach_str(kv, compare_string, &w), 0);
        } else {
            uint64_t i;
            for (i = 0; i < count; i++)
                check_value(&c, kv, true, i, vals[i]);
        }
        free(vals);
    } else {
        if (arr_type != -1 || count != 1)
            fail_msg("%s: key %s: scalar in the dump with count %" PRIu64, c.file, key, count);
        check_value(&c, kv, false, 0, fld[5]);
    }
    free(key);
}

static void check_tensor(const char *file, const gguf_file *f, size_t index, char **fld, size_t n)
{
    const gguf_tensor *t = gguf_tensor_at(f, index);
    char *ne_text[GGUF_MAX_DIMS + 1];
    size_t name_len, n_ne, d;
    char *name;
    uint32_t n_dims;

    if (n != 9)
        fail_msg("%s: tensor line with %zu fields", file, n);
    name = unhex(fld[1], &name_len);
    if (!t || !emb_str_eq(t->name, name))
        fail_msg("%s: tensor %zu: got '%.*s', gguf-py '%s'", file, index, t ? (int)t->name.len : 0,
                 t ? t->name.ptr : "", name);
    if (gguf_find_tensor(f, name) != t)
        fail_msg("%s: gguf_find_tensor('%s') does not find tensor %zu", file, name, index);
    if (t->type != strtoul(fld[2], NULL, 10))
        fail_msg("%s: tensor %s: type %u, gguf-py %s", file, name, t->type, fld[2]);
    n_dims = (uint32_t)strtoul(fld[3], NULL, 10);
    if (t->n_dims != n_dims)
        fail_msg("%s: tensor %s: n_dims %u, gguf-py %u", file, name, t->n_dims, n_dims);
    n_ne = split(fld[4], ',', ne_text, GGUF_MAX_DIMS + 1);
    if (n_ne != (n_dims ? n_dims : 1) && !(n_dims == 0 && fld[4][0] == '\0'))
        fail_msg("%s: tensor %s: %zu dims in the dump", file, name, n_ne);
    for (d = 0; d < GGUF_MAX_DIMS; d++) {
        int64_t want = d < n_dims ? strtoll(ne_text[d], NULL, 10) : 1;
        if (t->ne[d] != want)
            fail_msg("%s: tensor %s: ne[%zu] = %" PRId64 ", gguf-py %" PRId64, file, name, d, t->ne[d], want);
    }
    if (t->n_elements != strtoull(fld[5], NULL, 10) || t->n_bytes != strtoull(fld[6], NULL, 10) ||
        t->abs_offset != strtoull(fld[7], NULL, 10))
        fail_msg("%s: tensor %s: elements %" PRIu64 " bytes %" PRIu64 " at %" PRIu64
                 ", gguf-py elements %s bytes %s at %s", file, name, t->n_elements, t->n_bytes, t->abs_offset,
                 fld[5], fld[6], fld[7]);
    if (t->data != gguf_base(f) + t->abs_offset || t->abs_offset != gguf_data_offset(f) + t->offset)
        fail_msg("%s: tensor %s: data pointer / offset inconsistent", file, name);
    if (crc32_of(t->data, t->n_bytes) != strtoul(fld[8], NULL, 10))
        fail_msg("%s: tensor %s: CRC-32 of the data %08x, gguf-py %08lx", file, name, crc32_of(t->data, t->n_bytes),
                 strtoul(fld[8], NULL, 10));
    free(name);
}

static void check_sample(const char *dir, const char *name)
{
    char gguf_path[1024], tsv_path[1024];
    char *text, *line, *next;
    emb_error err = {EMB_OK, "", EMB_ERROR_NO_ITEM};
    gguf_file *f;
    size_t kv_index = 0, tensor_index = 0;
    bool header = false;

    if (snprintf(gguf_path, sizeof gguf_path, "%s/gguf/%s.gguf", dir, name) >= (int)sizeof gguf_path ||
        snprintf(tsv_path, sizeof tsv_path, "%s/expected/%s.tsv", dir, name) >= (int)sizeof tsv_path)
        fail_msg("sample path too long: %s/%s", dir, name);
    f = gguf_open(gguf_path, &err);
    if (!f)
        fail_msg("%s", err.msg);
    text = read_text(tsv_path);
    for (line = text; line && *line; line = next) {
        char *fld[MAX_FIELDS];
        size_t n;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        n = split(line, '\t', fld, MAX_FIELDS);
        if (strcmp(fld[0], "gguf") == 0 && n == 7) {
            header = true;
            if (gguf_version(f) != strtoul(fld[1], NULL, 10) || gguf_alignment(f) != strtoul(fld[2], NULL, 10) ||
                gguf_data_offset(f) != strtoull(fld[3], NULL, 10) || gguf_n_kv(f) != strtoull(fld[4], NULL, 10) ||
                gguf_n_tensors(f) != strtoull(fld[5], NULL, 10) || gguf_file_size(f) != strtoull(fld[6], NULL, 10))
                fail_msg("%s: header: version %u alignment %u data %" PRIu64 " kv %zu tensors %zu size %" PRIu64
                         "; gguf-py %s %s %s %s %s %s", name, gguf_version(f), gguf_alignment(f), gguf_data_offset(f),
                         gguf_n_kv(f), gguf_n_tensors(f), gguf_file_size(f), fld[1], fld[2], fld[3], fld[4], fld[5],
                         fld[6]);
        } else if (strcmp(fld[0], "kv") == 0) {
            ctx c = {name, NULL};
            check_kv(&c, f, kv_index++, fld, n);
        } else if (strcmp(fld[0], "tensor") == 0) {
            check_tensor(name, f, tensor_index++, fld, n);
        } else {
            fail_msg("%s: unknown dump line '%s'", tsv_path, fld[0]);
        }
    }
    assert_true(header);
    assert_int_equal(kv_index, gguf_n_kv(f));
    assert_int_equal(tensor_index, gguf_n_tensors(f));
    print_message("  %s: %zu keys, %zu tensors match gguf-py\n", name, kv_index, tensor_index);
    free(text);
    gguf_close(f);
}

static void test_samples_match_gguf_py(void **state)
{
    const char *dir = getenv("GGUF_SAMPLES_DIR");
    const char *build = getenv("EMBED_BUILD_DIR");
    char dir_buf[1024], manifest[1100];
    char *text, *line, *next;
    int n = 0;

    (void)state;
    if (!dir) {
        if (!build)
            fail_msg("neither GGUF_SAMPLES_DIR nor EMBED_BUILD_DIR is set (run through ctest)");
        if (snprintf(dir_buf, sizeof dir_buf, "%s/gguf_samples", build) >= (int)sizeof dir_buf)
            fail_msg("EMBED_BUILD_DIR too long");
        dir = dir_buf;
    }
    if (snprintf(manifest, sizeof manifest, "%s/manifest.tsv", dir) >= (int)sizeof manifest)
        fail_msg("sample directory path too long");
    text = read_text(manifest);
    for (line = text; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (*line) {
            check_sample(dir, line);
            n++;
        }
    }
    free(text);
    /* the generator writes 5 samples; fewer means it changed or broke */
    assert_int_equal(n, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_samples_match_gguf_py),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
