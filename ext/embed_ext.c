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

#include <pthread.h>
#include <stddef.h>

/* Serializes the first write of sqlite3_api (below). */
static pthread_mutex_t g_api_lock = PTHREAD_MUTEX_INITIALIZER;

#ifdef _WIN32
__declspec(dllexport)
#endif
__attribute__((visibility("default"))) int
sqlite3_embed_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi)
{
    /* SQLITE_EXTENSION_INIT2 stores the routine table on every load, while
     * other connections' threads call through it: a data race (the same
     * value, but ThreadSanitizer is right). Store it once, under a lock that
     * every later load takes too, so each thread's reads happen after it. */
    pthread_mutex_lock(&g_api_lock);
    if (!sqlite3_api)
        sqlite3_api = pApi;
    pthread_mutex_unlock(&g_api_lock);
    /* Each ext/ file registers its own functions from its own table. */
    static int (*const REGISTER[])(sqlite3 *) = {
        ext_register_info_functions,     ext_register_gguf_vtabs,
        ext_register_models_vtab,        ext_register_tokenize_functions,
        ext_register_vector_functions,   ext_register_embed_functions,
        ext_register_embed_batch,        ext_register_chunk_functions,
    };
    int rc = SQLITE_OK;
    for (size_t i = 0; rc == SQLITE_OK && i < sizeof REGISTER / sizeof REGISTER[0]; i++)
        rc = REGISTER[i](db);
    if (rc != SQLITE_OK) {
        if (pzErrMsg)
            *pzErrMsg = sqlite3_mprintf("embed: could not register functions: %s", sqlite3_errmsg(db));
        return rc;
    }
    return SQLITE_OK;
}
