/*
 * embed_version(), embed_debug(), embed_threads(n): what was built, what
 * runs, and how many threads the engine uses.
 */
#include "ext_common.h"

#include <stdbool.h>
#include <stddef.h>

#include "blas.h"
#include "build_info.h"
#include "quant.h"
#include "thread_pool.h"

static void fn_embed_version(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    sqlite3_result_text(ctx, "v" EMBED_VERSION, -1, SQLITE_STATIC);
}

/* One "key: value" line per fact, no newline after the last. Loads OpenBLAS (that is the point: it
 * reports the kernels OpenBLAS actually selected). */
static void fn_embed_debug(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    sqlite3_str *s = sqlite3_str_new(NULL);
    sqlite3_str_appendf(s, "version: v%s\n", EMBED_VERSION);
    sqlite3_str_appendf(s, "build: %s\n", EMBED_BUILD_INFO);
    sqlite3_str_appendf(s, "sqlite: %s (compiled against %s)\n", sqlite3_libversion(), SQLITE_VERSION);
    sqlite3_str_appendf(s, "dequant simd: %s\n", emb_quant_simd_level());
    sqlite3_str_appendf(s, "threads: %zu (engine pool; default %zu)\n", emb_pool_threads(),
                        emb_pool_default_threads());
    emb_blas_status st;
    emb_error err;
    emb_error_clear(&err);
    if (emb_blas_status_get(&st, &err) == EMB_OK) {
        sqlite3_str_appendf(s, "blas: %s\n", st.config ? st.config : "?");
        sqlite3_str_appendf(s, "blas library: %s\n", st.library ? st.library : "?");
        sqlite3_str_appendf(s, "blas core: %s\n", st.core_name ? st.core_name : "?");
        if (st.already_loaded)
            sqlite3_str_appendf(s, "blas coretype: %s (OpenBLAS was already loaded by the host)\n",
                                st.coretype && st.coretype[0] ? st.coretype : "none");
        else
            sqlite3_str_appendf(s, "blas coretype: %s (%s)\n",
                                st.coretype && st.coretype[0] ? st.coretype : "none",
                                st.coretype_set_by_us ? "chosen by sqlite-embed from CPUID"
                                : st.coretype && st.coretype[0] ? "set by the user" : "OpenBLAS decides");
        sqlite3_str_appendf(s, "blas threads: %d", st.n_threads);
    } else {
        sqlite3_str_appendf(s, "blas: not available: %s", err.msg);
    }
    ext_result_str(ctx, s);
}

/* embed_threads(n): the engine's thread pool size for the whole process
 * (thread_pool.h; OpenBLAS itself stays single-threaded). Returns n. */
static void fn_embed_threads(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    /* Whole REALs are accepted: some drivers (better-sqlite3) bind every
     * JavaScript number as REAL. */
    int type = sqlite3_value_type(argv[0]);
    double d = sqlite3_value_double(argv[0]);
    bool whole_real = type == SQLITE_FLOAT && d >= -1e15 && d <= 1e15 && d == (double)(sqlite3_int64)d;
    if (type != SQLITE_INTEGER && !whole_real) {
        ext_ctx_error(ctx, "embed_threads: n must be a whole number between 1 and 256");
        return;
    }
    sqlite3_int64 n = sqlite3_value_int64(argv[0]);
    if (n < 1 || n > 256) {
        ext_ctx_error(ctx, "embed_threads: n is %lld, expected 1 to 256", (long long)n);
        return;
    }
    emb_error err;
    emb_error_clear(&err);
    if (emb_pool_set_threads((size_t)n, &err) != EMB_OK) {
        ext_ctx_error(ctx, "embed_threads: %s", err.msg);
        return;
    }
    sqlite3_result_int64(ctx, n);
}

int ext_register_info_functions(sqlite3 *db)
{
    static const ext_function FUNCS[] = {
        /* constant: safe anywhere, including untrusted schemas */
        {"embed_version", 0, SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, fn_embed_version},
        /* loads OpenBLAS: a side effect a schema should not trigger */
        {"embed_debug", 0, SQLITE_DIRECTONLY, fn_embed_debug},
        /* changes process-wide state */
        {"embed_threads", 1, SQLITE_DIRECTONLY, fn_embed_threads},
    };
    return ext_register_functions(db, FUNCS, sizeof FUNCS / sizeof FUNCS[0]);
}
