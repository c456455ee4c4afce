#include "model_cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct cache_entry {
    dev_t dev;
    ino_t ino;
    char *path;         /* as given at load, for unload after the file is gone */
    emb_model *model;   /* owned */
    size_t refs;
    bool detached;      /* unloaded while referenced: invisible to acquire */
    struct cache_entry *next;
} cache_entry;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static cache_entry *g_head;

static void entry_destroy(cache_entry *e)
{
    if (!e)
        return;
    emb_model_destroy(e->model);
    free(e->path);
    free(e);
}

/* Caller holds g_lock. */
static cache_entry *find_live(dev_t dev, ino_t ino)
{
    for (cache_entry *e = g_head; e; e = e->next)
        if (!e->detached && e->dev == dev && e->ino == ino)
            return e;
    return NULL;
}

/* Caller holds g_lock; unlinks e from the list. */
static void unlink_entry(cache_entry *e)
{
    for (cache_entry **pp = &g_head; *pp; pp = &(*pp)->next)
        if (*pp == e) {
            *pp = e->next;
            return;
        }
}

const emb_model *emb_model_acquire(const char *path, emb_error *err)
{
    struct stat st;
    if (!path) {
        emb_error_set(err, EMB_ERR_IO, "model: no path given");
        return NULL;
    }
    if (stat(path, &st) != 0) {
        emb_error_set(err, EMB_ERR_IO, "model: %s: %s", path, strerror(errno));
        return NULL;
    }

    pthread_mutex_lock(&g_lock);
    cache_entry *e = find_live(st.st_dev, st.st_ino);
    if (e)
        e->refs++;
    pthread_mutex_unlock(&g_lock);
    if (e)
        return e->model;

    cache_entry *fresh = calloc(1, sizeof *fresh);
    char *copy = strdup(path);
    if (!fresh || !copy) {
        free(fresh);
        free(copy);
        emb_error_set(err, EMB_ERR_NOMEM, "model: %s: out of memory", path);
        return NULL;
    }
    fresh->model = emb_model_load(path, err);
    if (!fresh->model) {
        free(copy);
        free(fresh);
        return NULL;
    }
    fresh->path = copy;
    fresh->dev = st.st_dev;
    fresh->ino = st.st_ino;
    fresh->refs = 1;

    const emb_model *result;
    pthread_mutex_lock(&g_lock);
    e = find_live(st.st_dev, st.st_ino);
    if (e) { /* another thread won the race: use its copy, drop ours */
        e->refs++;
        result = e->model;
    } else {
        fresh->next = g_head;
        g_head = fresh;
        result = fresh->model;
        fresh = NULL;
    }
    pthread_mutex_unlock(&g_lock);
    entry_destroy(fresh);
    return result;
}

void emb_model_release(const emb_model *m)
{
    if (!m)
        return;
    cache_entry *dead = NULL;
    pthread_mutex_lock(&g_lock);
    for (cache_entry *e = g_head; e; e = e->next) {
        if (e->model != m || e->refs == 0)
            continue;
        e->refs--;
        if (e->refs == 0 && e->detached) {
            unlink_entry(e);
            dead = e;
        }
        break;
    }
    pthread_mutex_unlock(&g_lock);
    entry_destroy(dead);
}

/* Caller holds g_lock. Unreferenced: unlinked and returned for destruction;
 * referenced: detached, NULL returned. */
static cache_entry *drop_locked(cache_entry *e)
{
    if (e->refs == 0) {
        unlink_entry(e);
        return e;
    }
    e->detached = true;
    return NULL;
}

emb_code emb_model_cache_unload(const char *path, emb_error *err)
{
    if (!path)
        return emb_error_set(err, EMB_ERR_NOT_FOUND, "model: no path given");
    struct stat st;
    bool have_id = stat(path, &st) == 0;
    cache_entry *dead = NULL;
    bool found = false;
    pthread_mutex_lock(&g_lock);
    for (cache_entry *e = g_head; e; e = e->next) {
        if (e->detached)
            continue;
        bool match = have_id ? (e->dev == st.st_dev && e->ino == st.st_ino) : strcmp(e->path, path) == 0;
        if (match) {
            found = true;
            dead = drop_locked(e);
            break;
        }
    }
    pthread_mutex_unlock(&g_lock);
    entry_destroy(dead);
    if (!found)
        return emb_error_set(err, EMB_ERR_NOT_FOUND, "model: %s is not loaded", path);
    return EMB_OK;
}

void emb_model_cache_clear(void)
{
    cache_entry *dead = NULL;
    pthread_mutex_lock(&g_lock);
    cache_entry **pp = &g_head;
    while (*pp) {
        cache_entry *e = *pp;
        if (e->refs == 0) {
            *pp = e->next;
            e->next = dead;
            dead = e;
        } else {
            e->detached = true;
            pp = &e->next;
        }
    }
    pthread_mutex_unlock(&g_lock);
    while (dead) {
        cache_entry *next = dead->next;
        entry_destroy(dead);
        dead = next;
    }
}

size_t emb_model_cache_count(void)
{
    size_t n = 0;
    pthread_mutex_lock(&g_lock);
    for (cache_entry *e = g_head; e; e = e->next)
        n++;
    pthread_mutex_unlock(&g_lock);
    return n;
}

size_t emb_model_cache_refs(void)
{
    size_t n = 0;
    pthread_mutex_lock(&g_lock);
    for (cache_entry *e = g_head; e; e = e->next)
        n += e->refs;
    pthread_mutex_unlock(&g_lock);
    return n;
}
