/*
 * map_guard: a file mapping that shrinks under a running call must not kill
 * the host process.
 *
 * Reading a page of a file mapping beyond the file's current end raises
 * SIGBUS, whose default action ends the process. That happens when a model
 * file is truncated, or replaced in place by a smaller one (`cp new live`
 * truncates first), while a call reads its weights.
 *
 * A guarded range is a mapping the engine registered here. The first time a
 * guarded range is registered, a SIGBUS handler is installed (SA_SIGINFO,
 * chained): a fault inside a guarded range replaces the faulting page by a
 * page of zeros (an anonymous MAP_FIXED mapping at the same address), marks
 * the range as faulted and returns, so the faulting instruction -- in our
 * code, in OpenBLAS, on any thread -- reads zeros and the call runs to its
 * end. The caller then sees emb_map_guard_faulted() and turns the result into
 * an error; the mapping is never trusted again (its file changed). Nothing
 * unwinds through foreign code (no longjmp out of sgemm).
 *
 * Every other SIGBUS goes to the handler that was installed before ours (or
 * the default action, which ends the process as it would have without us).
 * When the library is unloaded our handler is removed again if it is still
 * the installed one. A handler installed by the host after ours replaces it:
 * then a truncation during a call ends the process as it did before. A thread
 * that blocks SIGBUS cannot be guarded (the kernel kills the process for a
 * blocked fault signal): threads that read model pages -- the engine's own
 * worker threads included -- must leave SIGBUS unblocked.
 *
 * Thread-safe; the signal handler reads the table without locks.
 */
#ifndef EMB_MAP_GUARD_H
#define EMB_MAP_GUARD_H

#include <stdbool.h>
#include <stddef.h>

/* Guard [base, base + len). Returns a slot for the calls below, or -1 if the
 * table is full or the handler cannot be installed (the range is then
 * unguarded, exactly as without this module). */
int emb_map_guard_add(const void *base, size_t len);

/* Stop guarding (before the range is unmapped). Accepts -1. */
void emb_map_guard_remove(int slot);

/* Whether a page of the range had to be replaced by zeros (sticky). */
bool emb_map_guard_faulted(int slot);

/* Whether our handler is the process's SIGBUS handler now (tests). */
bool emb_map_guard_active(void);

#endif
