/*
 * ext_interrupt: has sqlite3_interrupt() been called on a connection whose
 * statement is running our function? The engine's cancel hook
 * (emb_forward_cfg.cancelled) for long embed() calls.
 *
 * SQLite 3.41+ answers directly (sqlite3_is_interrupted, read from the host's
 * routine table only when the host's version has it and the pointer is set).
 * Older hosts (Debian 12 has 3.40.1) have no such call: there a tiny
 * statement ("SELECT 1") is stepped on the same connection -- while the
 * interrupted statement is still running SQLite keeps the flag set and the
 * probe fails with SQLITE_INTERRUPT. The probe needs the connection's mutex,
 * so the hook must be asked on the thread that runs the SQL function (the
 * engine asks it between layers on the calling thread).
 */
#ifndef EXT_INTERRUPT_H
#define EXT_INTERRUPT_H

#include "ext_common.h"

#include <stdbool.h>

typedef struct ext_interrupt {
    sqlite3 *db;
    sqlite3_stmt *probe; /* prepared on first use (pre-3.41 hosts) */
    bool seen;           /* sticky once seen */
} ext_interrupt;

void ext_interrupt_init(ext_interrupt *it, sqlite3 *db);

/* emb_forward_cfg.cancelled: ctx is an ext_interrupt. */
bool ext_interrupt_check(void *ctx);

/* Finalizes the probe. */
void ext_interrupt_done(ext_interrupt *it);

#endif
