/*
 * test_blas_preloaded: when OpenBLAS is already in the process (the host or
 * another library loaded it), its kernels were chosen before we could set
 * OPENBLAS_CORETYPE. The loader must use that copy, set nothing, and say so.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "blas.h"

static void test_preloaded_is_reported(void **state)
{
    (void)state;
    unsetenv("OPENBLAS_CORETYPE");
    void *h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        fail_msg("libopenblas.so.0 not loadable: %s", dlerror());
    void *sym = dlsym(h, "openblas_get_corename");
    assert_non_null(sym);
    char *(*corename)(void);
    memcpy(&corename, &sym, sizeof sym);
    char host_core[64];
    strncpy(host_core, corename(), sizeof host_core - 1);
    host_core[sizeof host_core - 1] = '\0';

    emb_error err;
    emb_error_clear(&err);
    emb_blas_status st;
    assert_int_equal(emb_blas_status_get(&st, &err), EMB_OK);
    assert_true(st.already_loaded);
    assert_false(st.coretype_set_by_us);
    assert_string_equal(st.coretype, "");
    assert_string_equal(st.core_name, host_core); /* the same copy, its own choice */
    assert_null(getenv("OPENBLAS_CORETYPE"));
    dlclose(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preloaded_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
