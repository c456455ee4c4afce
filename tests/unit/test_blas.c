/*
 * test_blas: the lazy OpenBLAS loader, the core-type choice and the sgemm
 * wrappers; CPUID detection against the kernel's /proc/cpuinfo.
 * (Loading failures and an OpenBLAS loaded before us need a fresh process
 * each: test_blas_missing.c, test_blas_preloaded.c.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "blas.h"
#include "thread_pool.h"
#include "cpu_features.h"

/* valgrind emulates CPUID (it hides AVX-512 it cannot run) while
 * /proc/cpuinfo shows the real CPU: the comparison is skipped there. */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define UNDER_VALGRIND() RUNNING_ON_VALGRIND
#endif
#endif
#ifndef UNDER_VALGRIND
#define UNDER_VALGRIND() 0
#endif

static emb_cpu_features all_avx512(void)
{
    emb_cpu_features f;
    memset(&f, 0, sizeof f);
    f.sse3 = f.ssse3 = f.sse41 = f.sse42 = true;
    f.avx = f.avx2 = f.fma = f.f16c = true;
    f.avx512f = f.avx512bw = f.avx512vl = f.avx512dq = f.avx512cd = true;
    f.os_avx = f.os_avx512 = true;
    return f;
}

static void test_choose_coretype(void **state)
{
    (void)state;
    emb_cpu_features f = all_avx512();
    assert_string_equal(emb_blas_choose_coretype(&f), "SkylakeX");
    f.os_avx512 = false; /* CPU has it, the OS does not save ZMM state */
    assert_string_equal(emb_blas_choose_coretype(&f), "Haswell");
    f = all_avx512();
    f.avx512dq = false; /* incomplete AVX-512 set */
    assert_string_equal(emb_blas_choose_coretype(&f), "Haswell");
    f.fma = false;
    assert_string_equal(emb_blas_choose_coretype(&f), "Sandybridge");
    f.avx2 = false;
    assert_string_equal(emb_blas_choose_coretype(&f), "Sandybridge");
    f.os_avx = false;
    assert_null(emb_blas_choose_coretype(&f));
    memset(&f, 0, sizeof f);
    assert_null(emb_blas_choose_coretype(&f));
}

/* The flag as the kernel reports it in /proc/cpuinfo; -1 if unreadable. */
static int cpuinfo_has(const char *flag)
{
    FILE *fp = fopen("/proc/cpuinfo", "r");
    if (!fp)
        return -1;
    char line[8192];
    int found = -1;
    while (fgets(line, sizeof line, fp)) {
        if (strncmp(line, "flags", 5) != 0)
            continue;
        found = 0;
        for (char *tok = strtok(strchr(line, ':') + 1, " \n"); tok; tok = strtok(NULL, " \n"))
            if (strcmp(tok, flag) == 0)
                found = 1;
        break;
    }
    fclose(fp);
    return found;
}

static void test_cpu_features_match_cpuinfo(void **state)
{
    (void)state;
    const emb_cpu_features *f = emb_cpu_features_get();
    assert_ptr_equal(f, emb_cpu_features_get()); /* cached */
    struct {
        const char *flag;
        bool ours;
    } pairs[] = {
        {"avx", f->avx},           {"avx2", f->avx2},           {"fma", f->fma},
        {"f16c", f->f16c},         {"avx512f", f->avx512f},     {"avx512bw", f->avx512bw},
        {"avx512vl", f->avx512vl}, {"avx512dq", f->avx512dq},   {"avx512cd", f->avx512cd},
        {"avx512_bf16", f->avx512_bf16}, {"sse4_2", f->sse42},  {"ssse3", f->ssse3},
    };
    if (cpuinfo_has("fpu") < 0 || f->vendor[0] == '\0' || UNDER_VALGRIND())
        skip(); /* not Linux/x86, or a virtual CPU: nothing to compare with */
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        int k = cpuinfo_has(pairs[i].flag);
        if (k != (int)pairs[i].ours)
            fail_msg("flag %s: cpuinfo %d, cpuid %d", pairs[i].flag, k, (int)pairs[i].ours);
    }
    /* Linux lists a flag only if the OS supports its state too */
    if (f->avx512f)
        assert_true(f->os_avx512);
    if (f->avx)
        assert_true(f->os_avx);
}

static void test_load_and_status(void **state)
{
    (void)state;
    const char *user = getenv("OPENBLAS_CORETYPE");
    char user_copy[64] = "";
    if (user)
        snprintf(user_copy, sizeof user_copy, "%s", user);
    const char *user_threads = getenv("OPENBLAS_NUM_THREADS");
    char threads_copy[64] = "";
    if (user_threads)
        snprintf(threads_copy, sizeof threads_copy, "%s", user_threads);
    emb_error err;
    emb_error_clear(&err);
    emb_blas_status st;
    assert_int_equal(emb_blas_status_get(&st, &err), EMB_OK);
    assert_non_null(st.library);
    assert_true(st.core_name[0] != '\0');
    assert_non_null(strstr(st.config, "OpenBLAS"));
    assert_false(st.already_loaded);
    const char *ours = emb_blas_choose_coretype(emb_cpu_features_get());
    if (user && *user) {
        assert_false(st.coretype_set_by_us);
        assert_string_equal(st.coretype, user_copy);
    } else if (ours) {
        /* we chose, OpenBLAS took it, and the environment is as before */
        assert_true(st.coretype_set_by_us);
        assert_string_equal(st.coretype, ours);
        assert_string_equal(st.core_name, ours);
        assert_null(getenv("OPENBLAS_CORETYPE"));
    }
    /* OpenBLAS runs one thread; OPENBLAS_NUM_THREADS is as the user left it */
    assert_int_equal(st.n_threads, 1);
    if (user_threads)
        assert_string_equal(getenv("OPENBLAS_NUM_THREADS"), threads_copy);
    else
        assert_null(getenv("OPENBLAS_NUM_THREADS"));
    print_message("openblas %s: core %s, OPENBLAS_CORETYPE '%s' (%s), %d threads\n", st.library,
                  st.core_name, st.coretype, st.coretype_set_by_us ? "set by us" : "not ours",
                  st.n_threads);
    /* later calls give the same answer */
    emb_blas_status again;
    assert_int_equal(emb_blas_status_get(&again, &err), EMB_OK);
    assert_string_equal(again.core_name, st.core_name);
}

/* The engine's pool size (thread_pool.h) replaced OpenBLAS's: setting it
 * leaves OpenBLAS at one thread. */
static void test_threads(void **state)
{
    (void)state;
    emb_error err;
    emb_error_clear(&err);
    size_t before = emb_pool_threads();
    assert_int_equal(emb_pool_set_threads(0, &err), EMB_ERR_RANGE);
    assert_string_equal(err.msg, "threads: 0 threads, expected 1 to 256");
    assert_int_equal(emb_pool_set_threads(257, &err), EMB_ERR_RANGE);
    assert_int_equal(emb_pool_set_threads(3, &err), EMB_OK);
    assert_int_equal(emb_pool_threads(), 3);
    emb_blas_status st;
    assert_int_equal(emb_blas_status_get(&st, &err), EMB_OK);
    assert_int_equal(st.n_threads, 1);
    assert_int_equal(emb_pool_set_threads(before, &err), EMB_OK);
}

/* c (m, n) with ldc = n + 3; a (m, k) lda = k + 1; b (n, k) or (k, n) with padding. */
static void test_sgemm_wrappers(void **state)
{
    (void)state;
    emb_error err;
    assert_int_equal(emb_blas_init(&err), EMB_OK);
    enum { M = 5, N = 7, K = 9, LDA = K + 1, LDB = K + 2, LDBN = N + 2, LDC = N + 3 };
    float a[M * LDA], b[N * LDB], bn[K * LDBN], c[M * LDC], want;
    for (int i = 0; i < M * LDA; i++)
        a[i] = (float)((i * 7) % 11) - 5.0f;
    for (int i = 0; i < N * LDB; i++)
        b[i] = (float)((i * 5) % 13) - 6.0f;
    for (int i = 0; i < K * LDBN; i++)
        bn[i] = (float)((i * 3) % 7) - 3.0f;
    for (int i = 0; i < M * LDC; i++)
        c[i] = 100.0f;
    emb_sgemm_nt(c, LDC, a, LDA, b, LDB, M, N, K, 0.0f);
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            want = 0;
            for (int k = 0; k < K; k++)
                want += a[i * LDA + k] * b[j * LDB + k];
            assert_true(c[i * LDC + j] == want); /* small integers: exact */
        }
        for (int j = N; j < LDC; j++)
            assert_true(c[i * LDC + j] == 100.0f); /* padding untouched */
    }
    /* beta = 1 accumulates */
    emb_sgemm_nn(c, LDC, a, LDA, bn, LDBN, M, N, K, 1.0f);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float nt = 0, nn = 0;
            for (int k = 0; k < K; k++) {
                nt += a[i * LDA + k] * b[j * LDB + k];
                nn += a[i * LDA + k] * bn[k * LDBN + j];
            }
            assert_true(c[i * LDC + j] == nt + nn);
        }
    emb_sgemm_nt(c, LDC, a, LDA, b, LDB, 0, N, K, 0.0f); /* empty: no-op */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_choose_coretype),
        cmocka_unit_test(test_cpu_features_match_cpuinfo),
        cmocka_unit_test(test_load_and_status),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_sgemm_wrappers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
