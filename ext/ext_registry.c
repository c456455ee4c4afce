/*
 * Process-wide model registry (see ext_registry.h for the contract).
 *
 * Why process-wide: the model is the expensive thing (hundreds of MB mapped);
 * every connection and thread of the process must share one copy, and a name
 * registered on one connection is the same model on another.
 */
#include "ext_registry.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "model_cache.h"

/* A loaded model with the number of holders: the registry entry (while the
 * entry is loaded) plus every embed() call in flight. */
struct registry_lease {
    const emb_model *model; /* one model-cache reference */
    char *name;
    char *path;
    int holders;
};

typedef struct registry_entry {
    int64_t id;
    char *name;
    char *path;
    emb_model_info info;
    registry_lease *loaded; /* NULL until the first embed() */
    struct registry_entry *next;
} registry_entry;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static registry_entry *g_entries; /* registration order */
static int64_t g_next_id = 1;
static bool g_env_checked;
static emb_error g_env_error; /* why SQLITE_EMBED_MODEL could not be registered */

#define ENV_MODEL_VAR "SQLITE_EMBED_MODEL"
#define ENV_MODEL_NAME "default"

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Caller holds g_lock. Drops one holder; frees at zero. */
static void lease_drop_locked(registry_lease *lease)
{
    if (!lease)
        return;
    if (--lease->holders == 0) {
        /* The cache keeps idle models mapped for the next use; a model no
         * longer registered or explicitly unloaded must really go away. */
        emb_model_release(lease->model);
        emb_model_cache_unload(lease->path, NULL);
        free(lease->name);
        free(lease->path);
        free(lease);
    }
}

static void entry_free(registry_entry *e)
{
    if (!e)
        return;
    lease_drop_locked(e->loaded);
    free(e->name);
    free(e->path);
    free(e);
}

static registry_entry *find_by_name_locked(const char *name)
{
    for (registry_entry *e = g_entries; e; e = e->next)
        if (strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

/* Caller holds g_lock. Probes and appends; on failure nothing changes. */
static emb_code add_locked(const char *name, const char *path, emb_error *err)
{
    emb_code rc = EMB_OK;
    registry_entry *e = NULL;
    if (!name[0])
        return emb_error_set(err, EMB_ERR_RANGE, "model name is empty");
    if (find_by_name_locked(name))
        return emb_error_set(err, EMB_ERR_RANGE,
                             "a model named '%s' is already registered; DELETE it first", name);
    e = calloc(1, sizeof *e);
    if (!e) {
        rc = emb_error_set(err, EMB_ERR_NOMEM, "out of memory");
        goto end;
    }
    rc = emb_model_probe(path, &e->info, err);
    if (rc != EMB_OK)
        goto end;
    e->name = dup_str(name);
    e->path = dup_str(path);
    if (!e->name || !e->path) {
        rc = emb_error_set(err, EMB_ERR_NOMEM, "out of memory");
        goto end;
    }
    e->id = g_next_id++;
    registry_entry **tail = &g_entries;
    while (*tail)
        tail = &(*tail)->next;
    *tail = e;
    e = NULL;
end:
    entry_free(e);
    return rc;
}

/* Caller holds g_lock. Registers SQLITE_EMBED_MODEL once, lazily, so that a
 * bad path never makes `.load` itself fail: the error is kept and reported
 * when the default model is asked for. */
static void ensure_env_default_locked(void)
{
    if (g_env_checked)
        return;
    g_env_checked = true;
    const char *path = getenv(ENV_MODEL_VAR);
    if (!path || !path[0])
        return;
    if (find_by_name_locked(ENV_MODEL_NAME)) {
        emb_error_set(&g_env_error, EMB_ERR_RANGE,
                      "%s is set but a model named '%s' was registered first", ENV_MODEL_VAR, ENV_MODEL_NAME);
        return;
    }
    emb_error e;
    emb_error_clear(&e);
    if (add_locked(ENV_MODEL_NAME, path, &e) != EMB_OK)
        emb_error_set(&g_env_error, e.code, "%s=%s: %s", ENV_MODEL_VAR, path, e.msg);
}

emb_code registry_add(const char *name, const char *path, emb_error *err)
{
    pthread_mutex_lock(&g_lock);
    ensure_env_default_locked();
    emb_code rc = add_locked(name, path, err);
    pthread_mutex_unlock(&g_lock);
    return rc;
}

emb_code registry_remove(int64_t id, emb_error *err)
{
    emb_code rc = EMB_OK;
    pthread_mutex_lock(&g_lock);
    registry_entry **p = &g_entries;
    while (*p && (*p)->id != id)
        p = &(*p)->next;
    if (!*p) {
        rc = emb_error_set(err, EMB_ERR_NOT_FOUND, "no registered model with rowid %lld", (long long)id);
    } else {
        registry_entry *e = *p;
        *p = e->next;
        entry_free(e);
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

emb_code registry_unload(const char *name, bool *was_loaded, emb_error *err)
{
    emb_code rc = EMB_OK;
    pthread_mutex_lock(&g_lock);
    ensure_env_default_locked();
    registry_entry *e = find_by_name_locked(name);
    if (!e) {
        rc = emb_error_set(err, EMB_ERR_NOT_FOUND, "no model named '%s' is registered", name);
    } else {
        *was_loaded = e->loaded != NULL;
        lease_drop_locked(e->loaded);
        e->loaded = NULL;
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

emb_code registry_snapshot(registry_row **rows, size_t *n_rows, emb_error *err)
{
    emb_code rc = EMB_OK;
    registry_row *out = NULL;
    size_t n = 0;
    pthread_mutex_lock(&g_lock);
    ensure_env_default_locked();
    for (registry_entry *e = g_entries; e; e = e->next)
        n++;
    out = calloc(n ? n : 1, sizeof *out);
    if (!out) {
        rc = emb_error_set(err, EMB_ERR_NOMEM, "out of memory");
        goto end;
    }
    size_t i = 0;
    for (registry_entry *e = g_entries; e; e = e->next, i++) {
        out[i].id = e->id;
        out[i].info = e->info;
        out[i].loaded = e->loaded != NULL;
        out[i].name = dup_str(e->name);
        out[i].path = dup_str(e->path);
        if (!out[i].name || !out[i].path) {
            registry_snapshot_free(out, i + 1);
            out = NULL;
            rc = emb_error_set(err, EMB_ERR_NOMEM, "out of memory");
            goto end;
        }
    }
    *rows = out;
    *n_rows = n;
end:
    pthread_mutex_unlock(&g_lock);
    return rc;
}

void registry_snapshot_free(registry_row *rows, size_t n_rows)
{
    if (!rows)
        return;
    for (size_t i = 0; i < n_rows; i++) {
        free(rows[i].name);
        free(rows[i].path);
    }
    free(rows);
}

emb_code registry_acquire(const char *name, registry_lease **lease, emb_error *err)
{
    emb_code rc = EMB_OK;
    pthread_mutex_lock(&g_lock);
    ensure_env_default_locked();
    registry_entry *e = NULL;
    if (name) {
        e = find_by_name_locked(name);
        if (!e) {
            rc = emb_error_set(err, EMB_ERR_NOT_FOUND,
                               "no model named '%s' is registered; INSERT INTO embed_models(name, path) VALUES ('%s', 'model.gguf')",
                               name, name);
            goto end;
        }
    } else {
        const char *env = getenv(ENV_MODEL_VAR);
        if (env && env[0]) {
            if (g_env_error.code != EMB_OK) {
                rc = emb_error_set(err, g_env_error.code, "%s", g_env_error.msg);
                goto end;
            }
            e = find_by_name_locked(ENV_MODEL_NAME);
        }
        if (!e)
            e = g_entries;
        if (!e) {
            rc = emb_error_set(err, EMB_ERR_NOT_FOUND,
                               "no default model: set %s to a GGUF path or INSERT INTO embed_models(name, path) VALUES (...)",
                               ENV_MODEL_VAR);
            goto end;
        }
    }
    if (!e->loaded) {
        registry_lease *l = calloc(1, sizeof *l);
        if (!l) {
            rc = emb_error_set(err, EMB_ERR_NOMEM, "out of memory");
            goto end;
        }
        l->name = dup_str(e->name);
        l->path = dup_str(e->path);
        if (!l->name || !l->path) {
            rc = emb_error_set(err, EMB_ERR_NOMEM, "out of memory");
            free(l->name);
            free(l->path);
            free(l);
            goto end;
        }
        emb_error load_err;
        emb_error_clear(&load_err);
        l->model = emb_model_acquire(e->path, &load_err);
        if (!l->model) {
            rc = emb_error_set(err, load_err.code, "model '%s': %s", e->name, load_err.msg);
            free(l->name);
            free(l->path);
            free(l);
            goto end;
        }
        l->holders = 1; /* the entry's */
        e->loaded = l;
    }
    e->loaded->holders++;
    *lease = e->loaded;
end:
    pthread_mutex_unlock(&g_lock);
    return rc;
}

const emb_model *registry_lease_model(const registry_lease *lease) { return lease->model; }
const char *registry_lease_name(const registry_lease *lease) { return lease->name; }

void registry_release(registry_lease *lease)
{
    pthread_mutex_lock(&g_lock);
    lease_drop_locked(lease);
    pthread_mutex_unlock(&g_lock);
}

/* When the extension is unloaded (the last connection that loaded it closes,
 * or the process exits), unregister everything, exactly as DELETE FROM
 * embed_models would: models no call is using are unmapped; a call still in
 * flight keeps its lease and frees the model when it returns. Without this the
 * registry would be unreachable memory (and mappings) once the code is gone. */
__attribute__((destructor)) static void registry_clear_on_unload(void)
{
    pthread_mutex_lock(&g_lock);
    registry_entry *e = g_entries;
    g_entries = NULL;
    while (e) {
        registry_entry *next = e->next;
        entry_free(e);
        e = next;
    }
    pthread_mutex_unlock(&g_lock);
}
