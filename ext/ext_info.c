/*
 * embed_version(), embed_debug(): what was built and what runs.
 */
#include "ext_common.h"

#include <stddef.h>

static void fn_embed_version(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    sqlite3_result_text(ctx, "v" EMBED_VERSION, -1, SQLITE_STATIC);
}

int ext_register_info_functions(sqlite3 *db)
{
    /* Pure, constant: safe in any context, including untrusted schemas. */
    return sqlite3_create_function_v2(db, "embed_version", 0,
                                      SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS,
                                      NULL, fn_embed_version, NULL, NULL, NULL);
}
