/*
 * Shared declarations of the SQLite glue (ext/). Every ext/ file includes
 * this after <sqlite3ext.h>; it brings SQLITE_EXTENSION_INIT3.
 */
#ifndef EXT_COMMON_H
#define EXT_COMMON_H

#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT3

/* Registration, one per ext/ file; each returns an SQLite result code. */
int ext_register_info_functions(sqlite3 *db);

#endif
