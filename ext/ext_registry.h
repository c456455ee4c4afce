/*
 * The process-wide model registry behind embed_models and embed(): the one
 * owner of every model's life (docs/engine.md, "Model lifecycle").
 *
 * An entry is name -> (path, the loaded model, its file's identity, its
 * references). Registering loads the file completely (header, tensors,
 * vocabulary, tokenizer: everything the first embed() needs) and keeps it
 * loaded, so the validation work is not done twice. Loaded means mapped; no
 * weight page is read before the first embed().
 *
 * Every acquire checks that the loaded copy still is the file at the path
 * (gguf_file_changed: same inode, size, mtime, ctime, no unreadable page). A
 * file replaced (by rename or cp), overwritten in place or truncated is
 * loaded afresh by the next call; the old copy is destroyed when its last
 * user returns. A path that no longer exists keeps the loaded copy.
 *
 * Locking: one mutex guards the table and every reference count; nothing slow
 * happens under it (files are opened, parsed and unmapped outside it). Two
 * callers racing to load the same entry load it once (the second waits for
 * the first); a load never blocks calls on other models. Fork-safe: the lock
 * is taken around fork() (pthread_atfork) and a load that was in flight in
 * another thread of the parent is forgotten in the child.
 *
 * The default model is the file named by the environment variable
 * SQLITE_EMBED_MODEL (registered lazily under the name 'default'), else the
 * first registered model.
 */
#ifndef EXT_REGISTRY_H
#define EXT_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "emb_error.h"
#include "model.h"

/* A snapshot of one registry entry, for listings. Strings are owned by the
 * snapshot (free with registry_snapshot_free). */
typedef struct registry_row {
    int64_t id; /* stable while registered; the vtab's rowid */
    char *name;
    char *path;
    emb_model_info info; /* of the copy loaded last */
    bool loaded;         /* a copy is loaded and still matches the file */
} registry_row;

/* Register `name` -> `path`: loads and validates the file (outside the lock)
 * and keeps it loaded. *id (may be NULL) receives the new entry's id.
 * EMB_ERR_RANGE if the name is taken or empty. */
emb_code registry_add(const char *name, const char *path, int64_t *id, emb_error *err);

/* Unregister by id; the model is destroyed once no call uses it. An id that
 * is not registered (another connection deleted it first) is EMB_OK: the
 * caller wanted it gone and it is. */
emb_code registry_remove(int64_t id, emb_error *err);

/* Drop the entry's loaded copy but keep it registered (the next call loads
 * it again). EMB_ERR_NOT_FOUND if no such name. *was_loaded tells whether a
 * copy was loaded. */
emb_code registry_unload(const char *name, bool *was_loaded, emb_error *err);

/* Copy all entries (registration order). A loaded copy whose file changed is
 * reloaded first, so that the row shows the file as it is. *rows is
 * malloc'ed; free with registry_snapshot_free. */
emb_code registry_snapshot(registry_row **rows, size_t *n_rows, emb_error *err);
void registry_snapshot_free(registry_row *rows, size_t n_rows);

/* A loaded model held by one call; keeps the model alive even if another
 * thread unregisters or unloads it meanwhile. */
typedef struct registry_lease registry_lease;

/* Resolve a model by name (NULL = the default model), loading it if needed.
 * On success *lease must be given back with registry_release().
 * EMB_ERR_NOT_FOUND if no such name is registered. */
emb_code registry_acquire(const char *name, registry_lease **lease, emb_error *err);
const emb_model *registry_lease_model(const registry_lease *lease);
const char *registry_lease_name(const registry_lease *lease);
void registry_release(registry_lease *lease);

#endif
