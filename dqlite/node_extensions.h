/*
 * SQLite extensions for a dqlite node's connections.
 *
 * dqlite's VFS refuses sqlite3_load_extension ("Loadable extensions are not
 * supported"), and the leader opens its connections itself, so the only way
 * in is sqlite3_auto_extension: the extension's entry point then runs on
 * every connection the process opens, dqlite's included.
 */
#ifndef EMBED_DQLITE_NODE_EXTENSIONS_H
#define EMBED_DQLITE_NODE_EXTENSIONS_H

#include "node_options.h"

#include <stddef.h>

/* Loads each shared object (dlopen, never closed: SQLite keeps calling its
 * entry point for the life of the process) and registers its entry point
 * with sqlite3_auto_extension. The entry point is named as
 * sqlite3_load_extension would name it: "sqlite3_" + the file name's letters
 * before the first '.', lower-cased, without a leading "lib", + "_init"
 * (embed.so -> sqlite3_embed_init, vec0.so -> sqlite3_vec_init).
 * Must run after sqlite3_config() and before dqlite opens any connection.
 * Returns 0, or -1 after printing why to stderr. */
int node_extensions_register(const char *const *paths, size_t n_paths);

/* Opens a private in-memory connection (the default VFS, not dqlite's) and
 * through it registers every --model in sqlite-embed's process-wide model
 * registry, then checks SQLITE_EMBED_MODEL if it is set. Every connection
 * dqlite opens later sees the same registry. Opening the connection also
 * runs every auto-extension once, so a broken extension fails here, at
 * start, not on the first client query. Returns 0, or -1 after printing why. */
int node_models_register(const node_model *models, size_t n_models);

#endif
