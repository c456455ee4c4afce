/*
 * Process-wide model registry (see ext_registry.h for the contract).
 *
 * Why process-wide: the model is the expensive thing (hundreds of MB mapped);
 * every connection and thread of the process must share one copy, and a name
 * registered on one connection is the same model on another.
 *
 * Ownership: an entry owns one reference to its loaded copy (entry->loaded);
 * every call in flight owns one more (its lease). A copy is destroyed by
 * whoever drops its last reference, always outside g_lock.
 */
#include "ext_registry.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One loaded copy of a model file. */
struct registry_lease {
    emb_model *model; /* owned: destroyed with the last reference */
    char *name;       /* the entry's name, for messages */
    char *path;       /* as registered: what freshness is checked against */
    size_t refs;      /* guarded by g_lock */
};

typedef struct registry_entry {
    int64_t id;
    char *name;
    char *path;
    emb_model_info info;     /* of the copy loaded last */
    registry_lease *loaded;  /* one reference; NULL when not loaded */
    bool loading;            /* a thread loads it outside the lock right now */
    struct registry_entry *next;
} registry_entry;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_load_done = PTHREAD_COND_INITIALIZER; /* some entry stopped loading */
static registry_entry *g_entries; /* registration order */
static int64_t g_next_id = 1;
static pthread_once_t g_env_once = PTHREAD_ONCE_INIT;
static pthread_once_t g_fork_once = PTHREAD_ONCE_INIT;
static emb_error g_env_error; /* why SQLITE_EMBED_MODEL could not be registered; written once */

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

/* ---- fork ---------------------------------------------------------------- */

static void fork_prepare(void) { pthread_mutex_lock(&g_lock); }
static void fork_parent(void) { pthread_mutex_unlock(&g_lock); }

/* The child has one thread: loads that other threads had in flight will never
 * finish there. Forget them so that the child loads for itself. */
static void fork_child(void)
{
    for (registry_entry *e = g_entries; e; e = e->next)
        e->loading = false;
    pthread_mutex_unlock(&g_lock);
}

static void install_fork_handlers(void) { pthread_atfork(fork_prepare, fork_parent, fork_child); }

/* ---- loaded copies ----------------------------------------------------------- */

static void lease_destroy(registry_lease *l)
{
    if (!l)
        return;
    emb_model_destroy(l->model);
    free(l->name);
    free(l->path);
    free(l);
}

/* Caller holds g_lock. Drops one reference; returns the copy if that was the
 * last one (the caller destroys it after unlocking), else NULL. */
static registry_lease *lease_unref_locked(registry_lease *l)
{
    if (!l || --l->refs > 0)
        return NULL;
    return l;
}

/* Loads `path` completely (outside the lock). refs = 0. */
static registry_lease *lease_load(const char *name, const char *path, emb_model_info *info, emb_error *err)
{
    registry_lease *l = calloc(1, sizeof *l);
    if (!l || !(l->name = dup_str(name)) || !(l->path = dup_str(path))) {
        emb_error_set(err, EMB_ERR_NOMEM, "model '%s': out of memory", name);
        goto fail;
    }
    emb_error load_err;
    emb_error_clear(&load_err);
    l->model = emb_model_load(path, &load_err);
    if (!l->model) {
        emb_error_set(err, load_err.code, "%s", load_err.msg);
        goto fail;
    }
    memset(info, 0, sizeof *info);
    info->hp = l->model->hp;
    info->file_size = gguf_file_size(l->model->file);
    snprintf(info->arch_name, sizeof info->arch_name, "%s", emb_arch_name(l->model->hp.arch));
    return l;
fail:
    if (l) {
        free(l->name);
        free(l->path);
        free(l);
    }
    return NULL;
}

/* ---- entries ------------------------------------------------------------- */

static registry_entry *find_by_name_locked(const char *name)
{
    for (registry_entry *e = g_entries; e; e = e->next)
        if (strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

static registry_entry *find_by_id_locked(int64_t id)
{
    for (registry_entry *e = g_entries; e; e = e->next)
        if (e->id == id)
            return e;
    return NULL;
}

/* Registers name -> path; the file is loaded before the lock is taken to
 * publish it, so a slow or hostile file never blocks other connections. */
static emb_code add_entry(const char *name, const char *path, int64_t *id, emb_error *err)
{
    if (!name[0])
        return emb_error_set(err, EMB_ERR_RANGE, "model name is empty");
    pthread_once(&g_fork_once, install_fork_handlers);
    pthread_mutex_lock(&g_lock);
    bool taken = find_by_name_locked(name) != NULL;
    pthread_mutex_unlock(&g_lock);
    if (taken)
        return emb_error_set(err, EMB_ERR_RANGE, "a model named '%s' is already registered; DELETE it first", name);

    registry_entry *e = calloc(1, sizeof *e);
    if (!e || !(e->name = dup_str(name)) || !(e->path = dup_str(path))) {
        if (e) {
            free(e->name);
            free(e);
        }
        return emb_error_set(err, EMB_ERR_NOMEM, "out of memory");
    }
    e->loaded = lease_load(name, path, &e->info, err);
    if (!e->loaded) {
        free(e->name);
        free(e->path);
        free(e);
        return err ? err->code : EMB_ERR_MODEL;
    }
    e->loaded->refs = 1; /* the entry's */

    registry_lease *dead = NULL;
    emb_code rc = EMB_OK;
    pthread_mutex_lock(&g_lock);
    if (find_by_name_locked(name)) { /* registered meanwhile by another connection */
        rc = emb_error_set(err, EMB_ERR_RANGE, "a model named '%s' is already registered; DELETE it first", name);
        dead = e->loaded;
    } else {
        e->id = g_next_id++;
        if (id)
            *id = e->id;
        registry_entry **tail = &g_entries;
        while (*tail)
            tail = &(*tail)->next;
        *tail = e;
        e = NULL;
    }
    pthread_mutex_unlock(&g_lock);
    lease_destroy(dead);
    if (e) {
        free(e->name);
        free(e->path);
        free(e);
    }
    return rc;
}

/* Registers SQLITE_EMBED_MODEL once, lazily, so that a bad path never makes
 * `.load` itself fail: the error is kept and reported when the default model
 * is asked for. */
static void register_env_default(void)
{
    const char *path = getenv(ENV_MODEL_VAR);
    if (!path || !path[0])
        return;
    emb_error e;
    emb_error_clear(&e);
    if (add_entry(ENV_MODEL_NAME, path, NULL, &e) != EMB_OK) {
        if (e.code == EMB_ERR_RANGE)
            emb_error_set(&g_env_error, e.code, "%s is set but a model named '%s' was registered first",
                          ENV_MODEL_VAR, ENV_MODEL_NAME);
        else
            emb_error_set(&g_env_error, e.code, "%s=%s: %s", ENV_MODEL_VAR, path, e.msg);
    }
}

static void ensure_env_default(void) { pthread_once(&g_env_once, register_env_default); }

emb_code registry_add(const char *name, const char *path, int64_t *id, emb_error *err)
{
    ensure_env_default();
    return add_entry(name, path, id, err);
}

/* Caller holds g_lock. Unlinks and frees the entry; returns its copy if the
 * entry held the last reference. */
static registry_lease *remove_locked(registry_entry *e)
{
    for (registry_entry **p = &g_entries; *p; p = &(*p)->next)
        if (*p == e) {
            *p = e->next;
            break;
        }
    registry_lease *dead = lease_unref_locked(e->loaded);
    free(e->name);
    free(e->path);
    free(e);
    return dead;
}

emb_code registry_remove(int64_t id, emb_error *err)
{
    (void)err;
    registry_lease *dead = NULL;
    pthread_mutex_lock(&g_lock);
    registry_entry *e = find_by_id_locked(id);
    if (e)
        dead = remove_locked(e);
    pthread_mutex_unlock(&g_lock);
    lease_destroy(dead);
    return EMB_OK;
}

emb_code registry_unload(const char *name, bool *was_loaded, emb_error *err)
{
    ensure_env_default();
    emb_code rc = EMB_OK;
    registry_lease *dead = NULL;
    pthread_mutex_lock(&g_lock);
    registry_entry *e = find_by_name_locked(name);
    if (!e) {
        rc = emb_error_set(err, EMB_ERR_NOT_FOUND, "no model named '%s' is registered", name);
    } else {
        *was_loaded = e->loaded != NULL;
        dead = lease_unref_locked(e->loaded);
        e->loaded = NULL;
    }
    pthread_mutex_unlock(&g_lock);
    lease_destroy(dead);
    return rc;
}

/* Caller holds g_lock. The entry a name resolves to (NULL name = default). */
static registry_entry *resolve_locked(const char *name, emb_error *err)
{
    registry_entry *e = NULL;
    if (name) {
        e = find_by_name_locked(name);
        if (!e)
            emb_error_set(err, EMB_ERR_NOT_FOUND,
                          "no model named '%s' is registered; INSERT INTO embed_models(name, path) VALUES ('%s', 'model.gguf')",
                          name, name);
        return e;
    }
    const char *env = getenv(ENV_MODEL_VAR);
    if (env && env[0]) {
        if (g_env_error.code != EMB_OK) {
            emb_error_set(err, g_env_error.code, "%s", g_env_error.msg);
            return NULL;
        }
        e = find_by_name_locked(ENV_MODEL_NAME);
    }
    if (!e)
        e = g_entries;
    if (!e)
        emb_error_set(err, EMB_ERR_NOT_FOUND,
                      "no default model: set %s to a GGUF path or INSERT INTO embed_models(name, path) VALUES (...)",
                      ENV_MODEL_VAR);
    return e;
}

/* Acquire by name, or by id when name_or_null is unused (by_id). */
static emb_code acquire(const char *name, bool by_id, int64_t id, registry_lease **out, emb_error *err)
{
    ensure_env_default();
    pthread_once(&g_fork_once, install_fork_handlers);
    pthread_mutex_lock(&g_lock);
    for (;;) {
        registry_entry *e = by_id ? find_by_id_locked(id) : resolve_locked(name, err);
        if (!e) {
            pthread_mutex_unlock(&g_lock);
            if (by_id)
                return emb_error_set(err, EMB_ERR_NOT_FOUND, "the model was unregistered");
            return err ? err->code : EMB_ERR_NOT_FOUND;
        }
        registry_lease *l = e->loaded;
        if (l) {
            l->refs++;
            int64_t eid = e->id;
            pthread_mutex_unlock(&g_lock);
            /* Outside the lock: two stat calls, no mapping access. */
            if (!emb_model_file_changed(l->model, l->path)) {
                *out = l;
                return EMB_OK;
            }
            /* Stale: detach it (unless someone did already) and load anew. */
            pthread_mutex_lock(&g_lock);
            registry_entry *again = find_by_id_locked(eid);
            registry_lease *dead = NULL;
            if (again && again->loaded == l) {
                again->loaded = NULL;
                (void)lease_unref_locked(l); /* cannot be the last: we hold one */
            }
            dead = lease_unref_locked(l);
            if (dead) {
                pthread_mutex_unlock(&g_lock);
                lease_destroy(dead);
                pthread_mutex_lock(&g_lock);
            }
            continue; /* re-resolve: the table may have changed */
        }
        if (e->loading) {
            pthread_cond_wait(&g_load_done, &g_lock);
            continue;
        }
        e->loading = true;
        int64_t eid = e->id;
        char *ename = dup_str(e->name), *epath = dup_str(e->path);
        pthread_mutex_unlock(&g_lock);

        emb_model_info info;
        registry_lease *fresh = NULL;
        if (!ename || !epath)
            emb_error_set(err, EMB_ERR_NOMEM, "out of memory");
        else
            fresh = lease_load(ename, epath, &info, err);
        if (!fresh && err && ename && err->code != EMB_ERR_NOMEM) {
            char why[EMB_ERROR_MSG_MAX]; /* err->msg cannot be both source and destination */
            snprintf(why, sizeof why, "%s", err->msg);
            emb_error_set(err, err->code, "model '%s': %s", ename, why);
        }
        free(ename);
        free(epath);

        pthread_mutex_lock(&g_lock);
        registry_entry *again = find_by_id_locked(eid);
        if (again) {
            again->loading = false;
            if (fresh && !again->loaded) {
                again->loaded = fresh;
                again->info = info;
                fresh->refs++; /* the entry's */
            }
        }
        if (fresh)
            fresh->refs++; /* ours; if the entry is gone, ours alone */
        pthread_cond_broadcast(&g_load_done);
        pthread_mutex_unlock(&g_lock);
        if (!fresh)
            return err ? err->code : EMB_ERR_MODEL;
        *out = fresh;
        return EMB_OK;
    }
}

emb_code registry_acquire(const char *name, registry_lease **lease, emb_error *err)
{
    return acquire(name, false, 0, lease, err);
}

const emb_model *registry_lease_model(const registry_lease *lease) { return lease->model; }
const char *registry_lease_name(const registry_lease *lease) { return lease->name; }

void registry_release(registry_lease *lease)
{
    if (!lease)
        return;
    pthread_mutex_lock(&g_lock);
    registry_lease *dead = lease_unref_locked(lease);
    pthread_mutex_unlock(&g_lock);
    lease_destroy(dead);
}

emb_code registry_snapshot(registry_row **rows, size_t *n_rows, emb_error *err)
{
    emb_code rc = EMB_OK;
    registry_row *out = NULL;
    registry_lease **held = NULL;
    size_t n = 0;
    ensure_env_default();
    pthread_mutex_lock(&g_lock);
    for (registry_entry *e = g_entries; e; e = e->next)
        n++;
    out = calloc(n ? n : 1, sizeof *out);
    held = calloc(n ? n : 1, sizeof *held);
    if (!out || !held) {
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
        if ((held[i] = e->loaded))
            held[i]->refs++;
        if (!out[i].name || !out[i].path) {
            rc = emb_error_set(err, EMB_ERR_NOMEM, "out of memory");
            n = i + 1;
            goto end;
        }
    }
end:
    pthread_mutex_unlock(&g_lock);
    /* The freshness check stats files: outside the lock. */
    for (size_t i = 0; held && i < n; i++) {
        if (held[i] && emb_model_file_changed(held[i]->model, held[i]->path)) {
            out[i].loaded = false;
            /* Reload so the row describes the file as it is now; if the new
             * file does not load, the row keeps the last good description
             * with loaded = 0 (embed() reports the error). */
            registry_lease *l = NULL;
            emb_error ignored;
            emb_error_clear(&ignored);
            if (acquire(NULL, true, out[i].id, &l, &ignored) == EMB_OK) {
                out[i].loaded = true;
                out[i].info.hp = l->model->hp;
                out[i].info.file_size = gguf_file_size(l->model->file);
                snprintf(out[i].info.arch_name, sizeof out[i].info.arch_name, "%s",
                         emb_arch_name(l->model->hp.arch));
                registry_release(l);
            }
        }
        registry_release(held[i]);
    }
    free(held);
    if (rc != EMB_OK) {
        registry_snapshot_free(out, n);
        return rc;
    }
    *rows = out;
    *n_rows = n;
    return EMB_OK;
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

/* When the extension is unloaded (the last connection that loaded it closes,
 * or the process exits), unregister everything, exactly as DELETE FROM
 * embed_models would: copies no call is using are destroyed; a call still in
 * flight keeps its lease and destroys the copy when it returns. Without this
 * the registry would be unreachable memory (and mappings) once the code is
 * gone. */
__attribute__((destructor)) static void registry_clear_on_unload(void)
{
    registry_lease *dead_list[64];
    size_t n_dead = 0;
    pthread_mutex_lock(&g_lock);
    while (g_entries) {
        registry_lease *dead = remove_locked(g_entries);
        if (dead && n_dead < sizeof dead_list / sizeof dead_list[0])
            dead_list[n_dead++] = dead;
        else if (dead) { /* more than fit: destroy under the lock (exit path only) */
            pthread_mutex_unlock(&g_lock);
            lease_destroy(dead);
            pthread_mutex_lock(&g_lock);
        }
    }
    pthread_mutex_unlock(&g_lock);
    for (size_t i = 0; i < n_dead; i++)
        lease_destroy(dead_list[i]);
}
