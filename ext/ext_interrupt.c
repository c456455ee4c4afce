#include "ext_interrupt.h"

#include <string.h>

/* The routine table only grows at its end: sqlite3_is_interrupted (3.41.0)
 * follows sqlite3_value_encoding, the last entry of 3.40's table. Built
 * against a 3.40 header, the entry is reached through this extension of the
 * struct -- and only read when the host says it is 3.41 or newer. Built
 * against 3.41+ headers the member is there already. */
#if SQLITE_VERSION_NUMBER >= 3041000
static int (*host_is_interrupted(void))(sqlite3 *)
{
    return sqlite3_libversion_number() >= 3041000 ? sqlite3_api->is_interrupted : NULL;
}
#elif SQLITE_VERSION_NUMBER >= 3040000
typedef struct api_routines_341 {
    sqlite3_api_routines v340;
    int (*is_interrupted)(sqlite3 *);
} api_routines_341;

static int (*host_is_interrupted(void))(sqlite3 *)
{
    if (sqlite3_libversion_number() < 3041000)
        return NULL;
    return ((const api_routines_341 *)(const void *)sqlite3_api)->is_interrupted;
}
#else
static int (*host_is_interrupted(void))(sqlite3 *) { return NULL; }
#endif

void ext_interrupt_init(ext_interrupt *it, sqlite3 *db)
{
    memset(it, 0, sizeof *it);
    it->db = db;
}

bool ext_interrupt_check(void *ctx)
{
    ext_interrupt *it = ctx;
    if (it->seen)
        return true;
    int (*is_interrupted)(sqlite3 *) = host_is_interrupted();
    if (is_interrupted) {
        it->seen = is_interrupted(it->db) != 0;
        return it->seen;
    }
    if (!it->probe && sqlite3_prepare_v2(it->db, "SELECT 1", -1, &it->probe, NULL) != SQLITE_OK) {
        /* Preparing fails with SQLITE_INTERRUPT too once interrupted; any
         * other failure (out of memory) is not a reason to stop. */
        it->probe = NULL;
        it->seen = sqlite3_errcode(it->db) == SQLITE_INTERRUPT;
        return it->seen;
    }
    int rc = sqlite3_step(it->probe);
    sqlite3_reset(it->probe);
    it->seen = rc == SQLITE_INTERRUPT;
    return it->seen;
}

void ext_interrupt_done(ext_interrupt *it)
{
    sqlite3_finalize(it->probe);
    it->probe = NULL;
}
