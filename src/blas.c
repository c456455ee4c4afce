#include "blas.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#ifndef EMBED_OPENBLAS_PATH
#define EMBED_OPENBLAS_PATH ""
#endif

/* CBLAS constants and the sgemm signature, spelled out so that no cblas.h is
 * needed (the enums are ints in every CBLAS ABI; OpenBLAS's LP64 build, the
 * one libopenblas.so.0 names, takes int sizes). */
enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };
typedef void (*sgemm_fn)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                         const float *a, int lda, const float *b, int ldb, float beta, float *c,
                         int ldc);
typedef void (*set_threads_fn)(int n);
typedef int (*get_threads_fn)(void);
typedef char *(*get_str_fn)(void);

static struct {
    emb_code code;
    char msg[EMB_ERROR_MSG_MAX];
    const char *library;
    char coretype[32];
    bool coretype_set_by_us;
    bool already_loaded;
    void *handle;
    sgemm_fn sgemm;
    set_threads_fn set_threads;
    get_threads_fn get_threads;
    get_str_fn corename;
    get_str_fn config;
} g_blas;

static pthread_once_t g_once = PTHREAD_ONCE_INIT;

const char *emb_blas_choose_coretype(const emb_cpu_features *f)
{
    if (emb_cpu_can_avx512(f))
        return "SkylakeX";
    if (f->os_avx && f->avx && f->avx2 && f->fma)
        return "Haswell";
    if (f->os_avx && f->avx)
        return "Sandybridge";
    return NULL;
}

/* Resolve the five symbols from `handle` (RTLD_DEFAULT allowed). */
static bool bind_symbols(void *handle)
{
    /* POSIX guarantees object <-> function pointer conversion for dlsym. */
    void *sg = dlsym(handle, "cblas_sgemm");
    void *st = dlsym(handle, "openblas_set_num_threads");
    void *gt = dlsym(handle, "openblas_get_num_threads");
    void *cn = dlsym(handle, "openblas_get_corename");
    void *cf = dlsym(handle, "openblas_get_config");
    if (!sg || !st || !gt || !cn || !cf)
        return false;
    memcpy(&g_blas.sgemm, &sg, sizeof sg);
    memcpy(&g_blas.set_threads, &st, sizeof st);
    memcpy(&g_blas.get_threads, &gt, sizeof gt);
    memcpy(&g_blas.corename, &cn, sizeof cn);
    memcpy(&g_blas.config, &cf, sizeof cf);
    return true;
}

static void remember_coretype_env(void)
{
    const char *v = getenv("OPENBLAS_CORETYPE");
    snprintf(g_blas.coretype, sizeof g_blas.coretype, "%s", v ? v : "");
}

/* Runs once. Leaves g_blas.code == EMB_OK with every pointer set, or an
 * EMB_ERR_BLAS code and message. */
static void load_once(void)
{
    g_blas.code = EMB_ERR_BLAS;
    const char *env = getenv("SQLITE_EMBED_OPENBLAS");
    const char *candidates[4];
    size_t n_cand = 0;
    if (env && *env) {
        candidates[n_cand++] = env;
    } else {
        if (EMBED_OPENBLAS_PATH[0])
            candidates[n_cand++] = EMBED_OPENBLAS_PATH;
        candidates[n_cand++] = "libopenblas.so.0";
        candidates[n_cand++] = "libopenblas.so";
    }

    /* Already in the process? Then its constructor has run: use that copy. */
    for (size_t i = 0; i < n_cand; i++) {
        void *h = dlopen(candidates[i], RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
        if (h && bind_symbols(h)) {
            g_blas.handle = h;
            g_blas.library = candidates[i];
            g_blas.already_loaded = true;
            remember_coretype_env();
            g_blas.code = EMB_OK;
            return;
        }
        if (h)
            dlclose(h);
    }
    if (bind_symbols(RTLD_DEFAULT)) {
        g_blas.library = "(already loaded)";
        g_blas.already_loaded = true;
        remember_coretype_env();
        g_blas.code = EMB_OK;
        return;
    }

    /* Choose the kernels before OpenBLAS's constructor reads the variable;
     * restore the environment afterwards so the host sees no change. */
    const char *user = getenv("OPENBLAS_CORETYPE");
    const char *chosen = NULL;
    if (!user || !*user) {
        chosen = emb_blas_choose_coretype(emb_cpu_features_get());
        if (chosen && setenv("OPENBLAS_CORETYPE", chosen, 1) != 0)
            chosen = NULL;
    }
    remember_coretype_env();
    g_blas.coretype_set_by_us = chosen != NULL;
    /* One OpenBLAS thread: the constructor then starts no pool at all (the
     * engine parallelises itself, thread_pool.h). A user's own variable is
     * left in place for the constructor (the host may use OpenBLAS too), but
     * our calls run single-threaded either way (set_threads(1) below). */
    const char *user_threads = getenv("OPENBLAS_NUM_THREADS");
    bool threads_set = false;
    if (!user_threads || !*user_threads)
        threads_set = setenv("OPENBLAS_NUM_THREADS", "1", 1) == 0;

    char why[160] = "";
    for (size_t i = 0; i < n_cand; i++) {
        void *h = dlopen(candidates[i], RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            const char *e = dlerror();
            snprintf(why, sizeof why, "%s", e ? e : candidates[i]);
            continue;
        }
        if (!bind_symbols(h)) {
            snprintf(why, sizeof why, "%s lacks cblas_sgemm/openblas_* symbols: not OpenBLAS",
                     candidates[i]);
            dlclose(h);
            continue;
        }
        g_blas.handle = h;
        g_blas.library = candidates[i];
        g_blas.code = EMB_OK;
        break;
    }
    if (chosen)
        unsetenv("OPENBLAS_CORETYPE");
    if (threads_set)
        unsetenv("OPENBLAS_NUM_THREADS");
    if (g_blas.code == EMB_OK)
        g_blas.set_threads(1);
    if (g_blas.code != EMB_OK)
        snprintf(g_blas.msg, sizeof g_blas.msg,
                 "blas: cannot load openblas (%s); install libopenblas0 or set "
                 "SQLITE_EMBED_OPENBLAS to its path",
                 why);
}

/* fork() while another thread is inside sgemm would copy OpenBLAS's
 * allocator lock, held, into the child, whose first sgemm would then wait
 * forever. Every call holds this lock shared and fork (pthread_atfork) takes
 * it exclusively, so a fork happens between calls. Writers are preferred so a
 * stream of calls on other threads cannot starve a fork; calls never nest. */
static pthread_rwlock_t g_fork_lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
static pthread_once_t g_fork_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void) { pthread_rwlock_wrlock(&g_fork_lock); }
static void fork_parent(void) { pthread_rwlock_unlock(&g_fork_lock); }

/* The child's thread is not the writer the lock recorded (another thread id),
 * so unlocking would not release it: start from a fresh lock (one thread). */
static void fork_child(void)
{
    static const pthread_rwlock_t fresh = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
    memcpy(&g_fork_lock, &fresh, sizeof fresh);
}

/* exit() while another thread is inside sgemm: exit runs the libraries'
 * destructors, OpenBLAS's gotoblas_quit unmaps the buffers the running call
 * works in, and the host dies of SIGSEGV (issue 9: Python returning with a
 * daemon thread still embedding). atexit handlers run before any library's
 * destructor (_dl_fini comes last), so this one waits for the calls in flight
 * and then keeps every later call out for good: threads still embedding block
 * at their next sgemm until exit_group ends them (thread_pool.c does not join
 * a worker that may be one of them). Registered by this object, it also runs
 * when the extension is unloaded, when no call is in flight and the lock goes
 * away with the object. */
static void quiesce_at_exit(void) { pthread_rwlock_wrlock(&g_fork_lock); }

static void fork_lock_init(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    atexit(quiesce_at_exit); /* fails only without memory: then exit is as before */
}

emb_code emb_blas_init(emb_error *err)
{
    pthread_once(&g_fork_once, fork_lock_init);
    pthread_once(&g_once, load_once);
    if (g_blas.code != EMB_OK)
        return emb_error_set(err, g_blas.code, "%s", g_blas.msg);
    return EMB_OK;
}

emb_code emb_blas_status_get(emb_blas_status *out, emb_error *err)
{
    emb_code rc = emb_blas_init(err);
    if (rc != EMB_OK)
        return rc;
    emb_blas_status s;
    s.library = g_blas.library;
    s.core_name = g_blas.corename();
    s.config = g_blas.config();
    s.coretype = g_blas.coretype;
    s.coretype_set_by_us = g_blas.coretype_set_by_us;
    s.already_loaded = g_blas.already_loaded;
    s.n_threads = g_blas.get_threads();
    if (!s.core_name)
        s.core_name = "";
    if (!s.config)
        s.config = "";
    *out = s;
    return EMB_OK;
}

void emb_sgemm_nt(float *c, size_t ldc, const float *a, size_t lda, const float *b, size_t ldb,
                  size_t m, size_t n, size_t k, float beta)
{
    if (m == 0 || n == 0)
        return;
    pthread_rwlock_rdlock(&g_fork_lock);
    g_blas.sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_TRANS, (int)m, (int)n, (int)k, 1.0f, a,
                 (int)lda, b, (int)ldb, beta, c, (int)ldc);
    pthread_rwlock_unlock(&g_fork_lock);
}

void emb_sgemm_nn(float *c, size_t ldc, const float *a, size_t lda, const float *b, size_t ldb,
                  size_t m, size_t n, size_t k, float beta)
{
    if (m == 0 || n == 0)
        return;
    pthread_rwlock_rdlock(&g_fork_lock);
    g_blas.sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_NO_TRANS, (int)m, (int)n, (int)k, 1.0f, a,
                 (int)lda, b, (int)ldb, beta, c, (int)ldc);
    pthread_rwlock_unlock(&g_fork_lock);
}

/* Slots known to exist: the most threads that were in sgemm together during
 * a pass that succeeded. Only grows (OpenBLAS keeps its buffers). */
static atomic_size_t g_callers_ok;

emb_code emb_blas_reserve(size_t callers, emb_error *err)
{
    size_t ok = atomic_load(&g_callers_ok);
    if (callers <= ok)
        return EMB_OK;
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return EMB_OK;
    /* All `callers` buffers, not only the missing ones: a probe for just the
     * missing one passed at limits where OpenBLAS's own allocation of it then
     * failed and spun forever (one call at 1 thread, then a 300-word text at
     * 2 threads under ulimit -v 324-404 MB: host_address_limit). Refusing a
     * few limits that would have fitted is the price. */
    size_t need = callers;
    if (need > SIZE_MAX / EMB_OPENBLAS_BUFFER_BYTES)
        need = SIZE_MAX / EMB_OPENBLAS_BUFFER_BYTES;
    size_t bytes = need * EMB_OPENBLAS_BUFFER_BYTES;
    void *probe = mmap(NULL, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (probe == MAP_FAILED)
        return emb_error_set(err, EMB_ERR_BLAS,
                             "blas: the address-space limit (ulimit -v: %llu KiB) leaves no room "
                             "for OpenBLAS's work buffer (%zu MiB for each of %zu threads), and "
                             "OpenBLAS would retry that allocation forever: raise the limit or use "
                             "fewer threads (embed_threads)",
                             (unsigned long long)(rl.rlim_cur / 1024),
                             EMB_OPENBLAS_BUFFER_BYTES >> 20, need);
    munmap(probe, bytes);
    return EMB_OK;
}

void emb_blas_reserved(size_t callers)
{
    size_t ok = atomic_load(&g_callers_ok);
    while (callers > ok && !atomic_compare_exchange_weak(&g_callers_ok, &ok, callers))
        ;
}
