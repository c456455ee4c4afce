/*
 * test_model_cache: the process-wide, reference-counted model table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ggml_types.h"
#include "gguf_builder.h"
#include "model_cache.h"
#include "tiny_model.h"

static char g_path[64];
static char g_link[80];

static int setup(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_BERT, GGML_TYPE_F32);
    size_t size;
    uint8_t *img = tiny_model_build(&s, &size);
    if (!img)
        return -1;
    snprintf(g_path, sizeof g_path, "/tmp/test_model_cache_XXXXXX");
    int fd = mkstemp(g_path);
    if (fd < 0)
        return -1;
    close(fd);
    bool ok = gguf_write_file(g_path, img, size);
    free(img);
    snprintf(g_link, sizeof g_link, "%s.link", g_path);
    unlink(g_link);
    if (!ok || symlink(g_path, g_link) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    emb_model_cache_clear();
    unlink(g_link);
    unlink(g_path);
    return 0;
}

static void test_acquire_shares_one_model(void **state)
{
    (void)state;
    emb_error err;
    emb_error_clear(&err);
    assert_int_equal(emb_model_cache_count(), 0);
    const emb_model *a = emb_model_acquire(g_path, &err);
    assert_non_null(a);
    const emb_model *b = emb_model_acquire(g_path, &err);
    const emb_model *c = emb_model_acquire(g_link, &err); /* same file, other path */
    assert_ptr_equal(a, b);
    assert_ptr_equal(a, c);
    assert_int_equal(emb_model_cache_count(), 1);
    assert_int_equal(emb_model_cache_refs(), 3);
    emb_model_release(a);
    emb_model_release(b);
    emb_model_release(c);
    /* unreferenced models stay cached until unloaded */
    assert_int_equal(emb_model_cache_count(), 1);
    assert_int_equal(emb_model_cache_refs(), 0);
    const emb_model *d = emb_model_acquire(g_path, &err);
    assert_ptr_equal(a, d);
    emb_model_release(d);
    assert_int_equal(emb_model_cache_unload(g_link, &err), EMB_OK);
    assert_int_equal(emb_model_cache_count(), 0);
}

static void test_unload_while_referenced(void **state)
{
    (void)state;
    emb_error err;
    emb_error_clear(&err);
    const emb_model *a = emb_model_acquire(g_path, &err);
    assert_non_null(a);
    assert_int_equal(emb_model_cache_unload(g_path, &err), EMB_OK);
    /* still usable by its holder, still counted until released */
    assert_int_equal(a->hp.n_embd, 64);
    assert_int_equal(emb_model_cache_count(), 1);
    /* a new acquire does not see the detached model: it loads afresh */
    const emb_model *b = emb_model_acquire(g_path, &err);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    assert_int_equal(emb_model_cache_count(), 2);
    emb_model_release(a); /* last reference of the detached one: destroyed */
    assert_int_equal(emb_model_cache_count(), 1);
    emb_model_release(b);
    assert_int_equal(emb_model_cache_unload(g_path, &err), EMB_OK);
    assert_int_equal(emb_model_cache_count(), 0);
    assert_int_equal(emb_model_cache_unload(g_path, &err), EMB_ERR_NOT_FOUND);
    char want[160];
    snprintf(want, sizeof want, "model: %s is not loaded", g_path);
    assert_string_equal(err.msg, want);
}

static void test_acquire_errors(void **state)
{
    (void)state;
    emb_error err;
    emb_error_clear(&err);
    assert_null(emb_model_acquire("/nonexistent/x.gguf", &err));
    assert_int_equal(err.code, EMB_ERR_IO);
    assert_string_equal(err.msg, "model: /nonexistent/x.gguf: No such file or directory");
    /* a file that is no model: the loader's error comes through, nothing cached */
    char bad[] = "/tmp/test_model_cache_bad_XXXXXX";
    int fd = mkstemp(bad);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "GGUF", 4), 4);
    close(fd);
    emb_error_clear(&err);
    assert_null(emb_model_acquire(bad, &err));
    assert_int_equal(err.code, EMB_ERR_FORMAT);
    assert_int_equal(emb_model_cache_count(), 0);
    unlink(bad);
    emb_model_release(NULL);
}

#define N_THREADS 4
#define N_ROUNDS 50

static void *hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < N_ROUNDS; i++) {
        emb_error err;
        const emb_model *m = emb_model_acquire(i % 2 ? g_path : g_link, &err);
        if (!m)
            return (void *)1;
        if (m->hp.n_layer != 2)
            return (void *)2;
        emb_model_release(m);
    }
    return NULL;
}

static void test_concurrent_acquire(void **state)
{
    (void)state;
    pthread_t th[N_THREADS];
    for (int i = 0; i < N_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, hammer, NULL), 0);
    for (int i = 0; i < N_THREADS; i++) {
        void *rv;
        pthread_join(th[i], &rv);
        assert_null(rv);
    }
    assert_int_equal(emb_model_cache_count(), 1);
    assert_int_equal(emb_model_cache_refs(), 0);
    emb_model_cache_clear();
    assert_int_equal(emb_model_cache_count(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acquire_shares_one_model),
        cmocka_unit_test(test_unload_while_referenced),
        cmocka_unit_test(test_acquire_errors),
        cmocka_unit_test(test_concurrent_acquire),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
