/*
 * blas: OpenBLAS, loaded lazily with dlopen on first use.
 *
 * Why dlopen instead of linking: OpenBLAS picks its kernels ("core type")
 * once, in its constructor. Some OpenBLAS builds do not recognise newer CPUs
 * and silently fall back to SSE3 "Prescott" kernels (2.5x slower sgemm on this
 * project's AVX-512 test machine) unless OPENBLAS_CORETYPE is set before the
 * library initialises. Loading it ourselves lets us set that variable from
 * CPUID first (only if the user has not set it), and lets the extension load
 * on a machine without OpenBLAS and report a clear error instead.
 *
 * Candidates, in order: $SQLITE_EMBED_OPENBLAS (if set, the only one tried),
 * the build's EMBED_OPENBLAS_PATH, "libopenblas.so.0", "libopenblas.so".
 * If OpenBLAS is already loaded in the process (by the host or another
 * library) we use that copy, do not touch OPENBLAS_CORETYPE (it is too late to
 * matter) and say so in emb_blas_status.already_loaded.
 *
 * Threads: OpenBLAS runs single-threaded. Before loading it we set
 * OPENBLAS_NUM_THREADS=1 (unless the user set it; restored afterwards, like
 * OPENBLAS_CORETYPE) so that its constructor starts no thread pool, and call
 * openblas_set_num_threads(1) after loading. The engine splits the work over
 * its own workers (thread_pool.h), each calling sgemm on its own part.
 * OpenBLAS's pool is what crashed at process exit, hung the parent after fork
 * and spun under `ulimit -v` (issue 9). A copy already loaded by the host
 * keeps the host's thread setting (we do not change process-wide state we did
 * not create); concurrent calls into it are then serialised by OpenBLAS.
 *
 * Thread-safe: loading happens once under pthread_once; afterwards everything
 * here only reads immutable state. The one-time setenv/unsetenv of
 * OPENBLAS_CORETYPE is not atomic with respect to getenv() running at that
 * instant in another thread of the host (a glibc limitation); it happens once
 * per process, on the first embedding.
 */
#ifndef EMB_BLAS_H
#define EMB_BLAS_H

#include <stdbool.h>
#include <stddef.h>

#include "cpu_features.h"
#include "emb_error.h"

typedef struct emb_blas_status {
    const char *library;    /* the dlopen name that worked, or "(already loaded)" */
    const char *core_name;  /* openblas_get_corename(): kernels in use   */
    const char *config;     /* openblas_get_config()                     */
    const char *coretype;   /* OPENBLAS_CORETYPE in effect at load ("" = none) */
    bool coretype_set_by_us;/* we chose `coretype` from CPUID            */
    bool already_loaded;    /* OpenBLAS was in the process before us     */
    int n_threads;          /* openblas_get_num_threads() now (1 unless already loaded) */
} emb_blas_status;

/* Load OpenBLAS if not done yet. EMB_OK, or EMB_ERR_BLAS with a message
 * naming what was tried (the same answer on every later call). */
emb_code emb_blas_init(emb_error *err);

/* Load if needed and describe the loaded library. The strings are static
 * (owned by this module / OpenBLAS), valid for the process lifetime. */
emb_code emb_blas_status_get(emb_blas_status *out, emb_error *err);

/* The OPENBLAS_CORETYPE we would choose for this CPU: "SkylakeX" (AVX-512
 * F/BW/VL/DQ/CD with OS support), "Haswell" (AVX2 + FMA), "Sandybridge"
 * (AVX), or NULL (let OpenBLAS decide). Pure; exposed for tests and docs. */
const char *emb_blas_choose_coretype(const emb_cpu_features *f);

/*
 * OpenBLAS gives every thread that is inside sgemm at the same time a work
 * buffer of its own, allocated once per slot (128 MiB of address space plus a
 * page in Debian's 0.3.21) and kept; when that allocation fails, OpenBLAS
 * retries forever, so a host under an address-space limit (ulimit -v,
 * RLIMIT_AS) would hang instead of failing. Before a forward pass that will
 * have `callers` threads in sgemm at once, emb_blas_reserve checks, when more
 * callers come than have succeeded before, that `callers` whole buffers
 * still fit under the limit (a PROT_NONE probe mapping, released at once; all
 * of them, not only the missing ones, which let OpenBLAS spin at some limits): EMB_OK, or EMB_ERR_BLAS naming the limit
 * (not NOMEM: the glue reports NOMEM as SQLite's bare "out of memory").
 * No limit: no check. emb_blas_reserved records, after a pass that succeeded,
 * that `callers` slots now exist (calls run side by side reserve for all
 * their threads at once: forward_many.c). Not covered: several host threads
 * running forward passes at once under a tight limit can still need one more
 * slot than recorded (docs/engine.md).
 */
#define EMB_OPENBLAS_BUFFER_BYTES ((size_t)129 << 20)
emb_code emb_blas_reserve(size_t callers, emb_error *err);
void emb_blas_reserved(size_t callers);

/* c: (m, n) row-major with leading dimension ldc; a: (m, k) lda; b: (n, k) ldb.
 *   c = a · bᵀ + beta · c
 * Requires a successful emb_blas_init() before; every size and leading
 * dimension must be <= INT_MAX (callers check). No-op if m, n or k is 0 (for
 * k == 0 c is scaled by beta). */
void emb_sgemm_nt(float *c, size_t ldc, const float *a, size_t lda, const float *b, size_t ldb,
                  size_t m, size_t n, size_t k, float beta);

/* c: (m, n) ldc; a: (m, k) lda; b: (k, n) ldb.   c = a · b + beta · c
 * Same preconditions as emb_sgemm_nt. */
void emb_sgemm_nn(float *c, size_t ldc, const float *a, size_t lda, const float *b, size_t ldb,
                  size_t m, size_t n, size_t k, float beta);

#endif
