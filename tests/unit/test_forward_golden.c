/*
 * test_forward_golden: the engine against the independent numpy reference.
 *
 * tests/python/gen_models.py writes tiny bert / nomic-bert models of every
 * supported type into $EMBED_FIXTURES_DIR/models, each with a .ref.bin
 * holding texts, the Hugging Face tokenizer's ids and the embeddings of
 * tests/python/reference_forward.py (numpy, weights dequantized by the PyPI
 * gguf package). Contract: docs/models.md.
 *
 * For every model and text: the C tokenizer's ids (after truncation to the
 * context length) equal the file's, and the pipeline's vector (file pooling,
 * L2-normalized) has cosine >= 1 - 1e-10 (tiny models) or 1 - 1e-7 (others)
 * with the reference (see MIN_COSINE_TINY). For two models
 * the naive twin is checked too, so a mistake shared by both C paths cannot
 * hide. The fixture directory is required (ctest FIXTURES_REQUIRED models):
 * no fixtures is a failure, not a skip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "embed.h"
#include "forward.h"
#include "model.h"
#include "tokenizer.h"

/* The contract asks for cosine >= 0.99999. The float32 engine agrees with
 * the float64 reference far better, and 0.99999 would not even notice a tanh
 * GELU in place of erf (measured on the tiny bert models: 1 - cos = 9e-9).
 * So the tiny-* fixtures (2 layers, where float32 rounding gives 1 - cos ~
 * 1e-13) are held to 1 - 1e-10: 700x above what is measured, 90x below that
 * approximation's error. Float32 rounding grows with depth and width (12
 * layers x 768, nomic-full-F16: 1 - cos up to 1.5e-9, the same with Haswell
 * or SkylakeX kernels; the double-accumulating twin gets 1e-11), so any
 * other model (all-MiniLM-L6-v2: 7.5e-13) is held to 1 - 1e-7, still 100x
 * stricter than the contract. */
#define MIN_COSINE_TINY (1.0 - 1e-10)
#define MIN_COSINE_OTHER (1.0 - 1e-7)

typedef struct ref_text {
    char *text;
    uint32_t text_len;
    int32_t *ids;
    uint32_t n_ids;
    float *vec;
} ref_text;

typedef struct ref_file {
    uint32_t n_texts, dims, pooling;
    ref_text *t;
} ref_file;

static void ref_free(ref_file *r)
{
    for (uint32_t i = 0; r->t && i < r->n_texts; i++) {
        free(r->t[i].text);
        free(r->t[i].ids);
        free(r->t[i].vec);
    }
    free(r->t);
    memset(r, 0, sizeof *r);
}

static bool read_u32(FILE *f, uint32_t *v)
{
    uint8_t b[4];
    if (fread(b, 1, 4, f) != 4)
        return false;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return true;
}

/* Little-endian file, read field by field (host is little-endian x86/arm). */
static bool ref_read(const char *path, ref_file *r)
{
    memset(r, 0, sizeof *r);
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    char magic[8];
    uint32_t reserved;
    bool ok = fread(magic, 1, 8, f) == 8 && memcmp(magic, "EMBREF1\0", 8) == 0 &&
              read_u32(f, &r->n_texts) && read_u32(f, &r->dims) && read_u32(f, &r->pooling) &&
              read_u32(f, &reserved) && r->n_texts < 100000 && r->dims > 0 && r->dims < 100000;
    if (ok)
        r->t = calloc(r->n_texts, sizeof *r->t);
    ok = ok && r->t;
    for (uint32_t i = 0; ok && i < r->n_texts; i++) {
        ref_text *t = &r->t[i];
        ok = read_u32(f, &t->text_len) && t->text_len < (1u << 24);
        ok = ok && (t->text = malloc(t->text_len + 1)) != NULL;
        ok = ok && fread(t->text, 1, t->text_len, f) == t->text_len;
        if (ok)
            t->text[t->text_len] = '\0';
        ok = ok && read_u32(f, &t->n_ids) && t->n_ids < (1u << 20);
        ok = ok && (t->ids = malloc((t->n_ids + 1) * sizeof *t->ids)) != NULL;
        ok = ok && fread(t->ids, 4, t->n_ids, f) == t->n_ids;
        ok = ok && (t->vec = malloc(r->dims * sizeof *t->vec)) != NULL;
        ok = ok && fread(t->vec, 4, r->dims, f) == r->dims;
    }
    ok = ok && fgetc(f) == EOF;
    fclose(f);
    if (!ok)
        ref_free(r);
    return ok;
}

static double cosine(const float *a, const float *b, size_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return (aa > 0 && bb > 0) ? ab / sqrt(aa * bb) : (aa == bb ? 1.0 : 0.0);
}

static const char *fixture_dir(char *buf, size_t cap)
{
    const char *f = getenv("EMBED_FIXTURES_DIR"); /* set by ctest */
    const char *b = getenv("EMBED_BUILD_DIR");
    if (f && *f)
        snprintf(buf, cap, "%s/models", f);
    else
        snprintf(buf, cap, "%s/fixtures/models", b && *b ? b : ".");
    return buf;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Check one model; returns the number of failures (details printed). */
static int check_model(const char *dir, const char *ref_name, bool with_twin)
{
    int failures = 0;
    const double min_cos = strncmp(ref_name, "tiny-", 5) == 0 ? MIN_COSINE_TINY : MIN_COSINE_OTHER;
    char ref_path[2048], model_path[2048];
    int n1 = snprintf(ref_path, sizeof ref_path, "%s/%s", dir, ref_name);
    int n2 = snprintf(model_path, sizeof model_path, "%s/%.*s.gguf", dir,
                      (int)(strlen(ref_name) - 8), ref_name);
    if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof ref_path || (size_t)n2 >= sizeof model_path) {
        print_error("%s: path too long\n", ref_name);
        return 1;
    }

    ref_file r;
    if (!ref_read(ref_path, &r)) {
        print_error("%s: unreadable or malformed .ref.bin\n", ref_name);
        return 1;
    }
    emb_error err;
    emb_error_clear(&err);
    emb_model *m = emb_model_load(model_path, &err);
    if (!m) {
        print_error("%s: %s\n", model_path, err.msg);
        ref_free(&r);
        return 1;
    }
    if (r.dims != m->hp.n_embd || r.pooling != (uint32_t)emb_embed_pooling(m, NULL)) {
        print_error("%s: ref dims %u pooling %u, model %u / %s\n", ref_name, r.dims, r.pooling,
                    m->hp.n_embd, emb_pooling_name((emb_pooling)emb_embed_pooling(m, NULL)));
        failures++;
        goto end;
    }

    emb_str *texts = calloc(r.n_texts, sizeof *texts);
    float *got = malloc((size_t)r.n_texts * r.dims * sizeof *got);
    float *twin = malloc(r.dims * sizeof *twin);
    if (!texts || !got || !twin) {
        free(texts);
        free(got);
        free(twin);
        print_error("out of memory\n");
        failures++;
        goto end;
    }
    for (uint32_t i = 0; i < r.n_texts; i++) {
        texts[i].ptr = r.t[i].text;
        texts[i].len = r.t[i].text_len;
        /* tokenizer: ids after truncation to the context length */
        emb_token_list toks = {0};
        if (emb_tokenize(m->tokenizer, texts[i].ptr, texts[i].len, true, &toks, &err) != EMB_OK) {
            print_error("%s text %u: %s\n", ref_name, i, err.msg);
            failures++;
            continue;
        }
        emb_tokens_truncate(&toks, m->hp.n_ctx_train);
        size_t first_diff = toks.n == r.t[i].n_ids ? SIZE_MAX : 0;
        for (size_t k = 0; k < toks.n && k < r.t[i].n_ids; k++)
            if (toks.v[k].id != r.t[i].ids[k]) {
                first_diff = k;
                break;
            }
        if (toks.n != r.t[i].n_ids || first_diff != SIZE_MAX) {
            size_t k = first_diff == SIZE_MAX ? 0 : first_diff;
            print_error("%s text %u: %zu ids, reference %u; first difference at %zu: %d vs %d\n",
                        ref_name, i, toks.n, r.t[i].n_ids, k, k < toks.n ? toks.v[k].id : -1,
                        k < r.t[i].n_ids ? r.t[i].ids[k] : -1);
            failures++;
        }
        emb_token_list_free(&toks);
    }
    if (emb_embed_texts(got, m, texts, r.n_texts, NULL, &err) != EMB_OK) {
        print_error("%s: %s\n", ref_name, err.msg);
        failures++;
    } else {
        double worst = 1.0;
        uint32_t worst_i = 0;
        for (uint32_t i = 0; i < r.n_texts; i++) {
            double c = cosine(got + (size_t)i * r.dims, r.t[i].vec, r.dims);
            if (!(c >= worst)) {
                worst = c;
                worst_i = i;
            }
            if (!(c >= min_cos)) {
                print_error("%s text %u: cosine 1 - %.3g < 1 - %.3g; got [%.6f %.6f %.6f ...], want [%.6f "
                            "%.6f %.6f ...]\n",
                            ref_name, i, 1.0 - c, 1.0 - min_cos, got[(size_t)i * r.dims],
                            got[(size_t)i * r.dims + 1], got[(size_t)i * r.dims + 2], r.t[i].vec[0],
                            r.t[i].vec[1], r.t[i].vec[2]);
                failures++;
            }
        }
        print_message("%-32s %2u texts, min cosine 1 - %.2e (text %u)\n", ref_name, r.n_texts,
                      1.0 - worst, worst_i);
    }
    if (with_twin) {
        for (uint32_t i = 0; i < r.n_texts; i++) {
            emb_seq seq = {r.t[i].ids, r.t[i].n_ids};
            if (emb_forward_ref(twin, m, &seq, 1, (emb_pooling)r.pooling, &err) != EMB_OK) {
                print_error("%s text %u twin: %s\n", ref_name, i, err.msg);
                failures++;
                continue;
            }
            double c = cosine(twin, r.t[i].vec, r.dims);
            if (!(c >= min_cos)) {
                print_error("%s text %u: naive twin cosine 1 - %.3g\n", ref_name, i, 1.0 - c);
                failures++;
            }
        }
    }
    free(texts);
    free(got);
    free(twin);
end:
    emb_model_destroy(m);
    ref_free(&r);
    return failures;
}

static void test_golden_all_models(void **state)
{
    (void)state;
    char dir[1024];
    fixture_dir(dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("fixture directory %s is missing: run the gen_models fixture (ctest does)", dir);
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 256) {
        size_t len = strlen(e->d_name);
        if (len > 8 && strcmp(e->d_name + len - 8, ".ref.bin") == 0)
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    /* 15 types x 2 architectures + tiny-bert-mixed + tiny-bert-cls-F32 */
    if (n < 32)
        fail_msg("only %zu .ref.bin files in %s, expected at least 32", n, dir);
    int failures = 0;
    bool saw_bert = false, saw_nomic = false;
    for (size_t i = 0; i < n; i++) {
        bool twin = strcmp(names[i], "tiny-bert-Q4_K.ref.bin") == 0 ||
                    strcmp(names[i], "tiny-nomic-F32.ref.bin") == 0;
        saw_bert |= strcmp(names[i], "tiny-bert-F32.ref.bin") == 0;
        saw_nomic |= strcmp(names[i], "tiny-nomic-F16.ref.bin") == 0;
        failures += check_model(dir, names[i], twin);
        free(names[i]);
    }
    assert_true(saw_bert);
    assert_true(saw_nomic);
    if (failures)
        fail_msg("%d failures (details above)", failures);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_all_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
