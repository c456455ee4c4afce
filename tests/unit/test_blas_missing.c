/*
 * test_blas_missing: OpenBLAS that cannot be loaded is an error, not a crash:
 * EMB_ERR_BLAS naming what was tried, from the loader and from the forward
 * pass, every time. SQLITE_EMBED_OPENBLAS is set before the first use (the
 * loader runs once per process, hence a test executable of its own).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "blas.h"
#include "forward.h"
#include "ggml_types.h"
#include "tiny_model.h"

static void test_missing_library(void **state)
{
    (void)state;
    emb_error err;
    emb_error_clear(&err);
    assert_int_equal(emb_blas_init(&err), EMB_ERR_BLAS);
    assert_non_null(strstr(err.msg, "blas: cannot load openblas ("));
    assert_non_null(strstr(err.msg, "/nonexistent/libopenblas.so.0"));
    assert_non_null(strstr(err.msg, "install libopenblas0 or set SQLITE_EMBED_OPENBLAS to its path"));
    char first[EMB_ERROR_MSG_MAX];
    strcpy(first, err.msg);

    emb_blas_status st;
    assert_int_equal(emb_blas_status_get(&st, &err), EMB_ERR_BLAS);
    assert_string_equal(err.msg, first);

    /* the forward pass reports it too, after its own input checks */
    tiny_model_spec s = tiny_model_default(EMB_ARCH_BERT, GGML_TYPE_F32);
    uint8_t *img = NULL;
    emb_model *m = tiny_model_load(&s, &img, &err);
    assert_non_null(m);
    int32_t ids[3] = {2, 7, 3};
    emb_seq seq = {ids, 3};
    float out[64];
    emb_error_clear(&err);
    assert_int_equal(emb_forward(out, m, &seq, 1, EMB_POOLING_MEAN, NULL, &err), EMB_ERR_BLAS);
    assert_string_equal(err.msg, first);
    /* the naive twin needs no BLAS */
    assert_int_equal(emb_forward_ref(out, m, &seq, 1, EMB_POOLING_MEAN, &err), EMB_OK);
    emb_model_destroy(m);
    free(img);
}

int main(void)
{
    setenv("SQLITE_EMBED_OPENBLAS", "/nonexistent/libopenblas.so.0", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_library),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
