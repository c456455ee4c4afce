/*
 * sqlite-embed: SQLite entry point.
 *
 *   .load ./embed            (sqlite3 shell)
 *   db.loadExtension(path)   (better-sqlite3)
 *
 * This file is the only translation unit with SQLITE_EXTENSION_INIT1; the
 * other ext/ files use SQLITE_EXTENSION_INIT3 through ext_common.h.
 */
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1

#include "ext_common.h"

#ifdef _WIN32
__declspec(dllexport)
#endif
__attribute__((visibility("default"))) int
sqlite3_embed_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi)
{
    SQLITE_EXTENSION_INIT2(pApi);
    int rc = ext_register_info_functions(db);
    if (rc == SQLITE_OK)
        rc = ext_register_gguf_vtabs(db);
    if (rc == SQLITE_OK)
        rc = ext_register_models_vtab(db);
    if (rc == SQLITE_OK)
        rc = ext_register_tokenize_functions(db);
    if (rc != SQLITE_OK) {
        if (pzErrMsg)
            *pzErrMsg = sqlite3_mprintf("embed: could not register functions: %s", sqlite3_errmsg(db));
        return rc;
    }
    return SQLITE_OK;
}
