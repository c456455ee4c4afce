/*
 * model_cache: the process-wide set of loaded models, shared by every
 * connection and thread.
 *
 * A model is identified by its file (st_dev, st_ino), so two paths to one file
 * share one mapping, and a file replaced at the same path (new inode) loads
 * afresh. Nothing is mapped until the first emb_model_acquire(); the model
 * stays loaded while referenced and, unreferenced, until
 * emb_model_cache_unload() / emb_model_cache_clear() (loading costs a mapping
 * plus the tokenizer's hash table, so an idle model is kept for the next use).
 *
 * A model file must not be modified in place while loaded (the mapping would
 * see the change, or fault on truncation); replace files by renaming.
 *
 * Thread-safe: one mutex guards the table; models load outside the lock (two
 * threads racing on one new file both load it and the loser's copy is
 * dropped, nobody waits on another's load).
 */
#ifndef EMB_MODEL_CACHE_H
#define EMB_MODEL_CACHE_H

#include <stddef.h>

#include "emb_error.h"
#include "model.h"

/* A shared, read-only model for `path`, loaded on first use. The caller owns
 * one reference and gives it back with emb_model_release(); it must not
 * destroy the model. NULL with *err filled (the load's error) on failure. */
const emb_model *emb_model_acquire(const char *path, emb_error *err);

/* Give back one reference. Accepts NULL. A model that was unloaded while
 * referenced is destroyed by its last release. */
void emb_model_release(const emb_model *m);

/* Drop the model loaded from `path` (matched by file identity, or by the path
 * string if the file is gone): destroyed now if unreferenced, else as soon as
 * its last reference is released; the next acquire loads it again.
 * EMB_OK, or EMB_ERR_NOT_FOUND if no model from that file is cached. */
emb_code emb_model_cache_unload(const char *path, emb_error *err);

/* Unload every cached model (as emb_model_cache_unload each). */
void emb_model_cache_clear(void);

/* Models currently cached and their total references (diagnostics, tests). */
size_t emb_model_cache_count(void);
size_t emb_model_cache_refs(void);

#endif
