/*
 * The process-wide model registry behind embed_models and embed().
 *
 * Names map to GGUF paths. Registering validates the file completely
 * (emb_model_probe: header, hyper-parameters, tensor table, vocabulary) but
 * keeps nothing mapped; the model is mapped and bound on the first embed()
 * that needs it and stays loaded, shared by every connection and thread of the
 * process, until it is unregistered or unloaded.
 *
 * The default model is the file named by the environment variable
 * SQLITE_EMBED_MODEL (registered lazily under the name 'default'), else the
 * first registered model.
 *
 * All functions are thread-safe (one process-wide mutex; model loading
 * happens under it, inference does not).
 */
#ifndef EXT_REGISTRY_H
#define EXT_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "emb_error.h"
#include "model.h"
#include "model_cache.h"

/* A snapshot of one registry entry, for listings. Strings are owned by the
 * snapshot (free with registry_snapshot_free). */
typedef struct registry_row {
    int64_t id; /* stable while registered; the vtab's rowid */
    char *name;
    char *path;
    emb_model_info info;
    bool loaded;
} registry_row;

/* Register `name` -> `path` after validating the file. EMB_ERR_RANGE if the
 * name is taken or empty. */
emb_code registry_add(const char *name, const char *path, emb_error *err);

/* Unregister by id; unloads the model once no embed() uses it. Returns
 * EMB_ERR_NOT_FOUND for an unknown id. */
emb_code registry_remove(int64_t id, emb_error *err);

/* Drop the mapping of a registered model but keep it registered. Returns
 * EMB_ERR_NOT_FOUND if no such name. *was_loaded tells whether it was. */
emb_code registry_unload(const char *name, bool *was_loaded, emb_error *err);

/* Copy all entries (registration order). *rows is malloc'ed; free with
 * registry_snapshot_free. */
emb_code registry_snapshot(registry_row **rows, size_t *n_rows, emb_error *err);
void registry_snapshot_free(registry_row *rows, size_t n_rows);

/* A loaded model held by one embed() call; keeps the model alive even if
 * another thread unregisters it meanwhile. */
typedef struct registry_lease registry_lease;

/* Resolve a model by name (NULL = the default model), loading it on first
 * use. On success *lease must be given back with registry_release(). */
emb_code registry_acquire(const char *name, registry_lease **lease, emb_error *err);
const emb_model *registry_lease_model(const registry_lease *lease);
const char *registry_lease_name(const registry_lease *lease);
void registry_release(registry_lease *lease);

#endif
