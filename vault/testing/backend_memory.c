/*
 * backend_memory.c - a vault held in memory, for tests.
 *
 * Per kind, an array of objects sorted by name (bsearch to find, memmove
 * to insert), all behind one mutex.  Semantics match the local backend
 * exactly: the conformance suite in tests/unit/test_backend.c runs
 * against both.
 */
#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend_testing.h"
#include "common/internal.h"

typedef struct mem_object {
    char name[VAULT_NAME_HEX + 1]; /* "" for the config */
    uint8_t *data;                 /* malloc'ed, never NULL */
    size_t len;                    /* bytes in data */
} mem_object;

typedef struct mem_folder {
    mem_object **objects; /* sorted by name; each malloc'ed */
    size_t count;         /* objects in use */
    size_t cap;           /* objects allocated */
} mem_folder;

typedef struct memory_backend {
    backend base;                           /* first: the ops dispatch */
    pthread_mutex_t lock;                   /* guards folders */
    mem_folder folders[BACKEND_KIND_COUNT]; /* indexed by kind */
} memory_backend;

static memory_backend *memory_of(backend *be)
{
    return (memory_backend *)be;
}

/* Index of name in folder, or of where it would go (*found 0).  Holds
 * the lock. */
static size_t find(const mem_folder *f, const char *name, int *found)
{
    size_t lo = 0, hi = f->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->objects[mid]->name, name);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

static vault_error memory_save(backend *be, backend_kind kind, const char *name,
                               const uint8_t *data, size_t len)
{
    memory_backend *mb = memory_of(be);
    vault_error rc = vlt_backend_check(kind, name);
    if (rc != VAULT_OK)
        return rc;
    assert(data || len == 0);
    char label[BACKEND_LABEL_MAX];
    vlt_backend_label(kind, name, label);
    /* Copy outside the lock: saves of big packs run in parallel. */
    mem_object *obj = malloc(sizeof *obj);
    uint8_t *copy = malloc(len ? len : 1);
    if (!obj || !copy) {
        free(obj);
        free(copy);
        return vlt_fail(VAULT_E_NOMEM, "%s: out of memory", label);
    }
    if (len)
        memcpy(copy, data, len);
    memcpy(obj->name, name, strlen(name) + 1); /* checked: <= 64 chars */
    obj->data = copy;
    obj->len = len;

    mem_folder *f = &mb->folders[kind];
    pthread_mutex_lock(&mb->lock);
    int found;
    size_t at = find(f, name, &found);
    if (found) {
        rc = vlt_fail(VAULT_E_EXISTS, "%s: already exists", label);
    } else if (f->count == f->cap) {
        size_t ncap = f->cap ? f->cap * 2 : 16;
        mem_object **n = realloc(f->objects, ncap * sizeof *n);
        if (!n) {
            rc = vlt_fail(VAULT_E_NOMEM, "%s: out of memory", label);
        } else {
            f->objects = n;
            f->cap = ncap;
        }
    }
    if (rc == VAULT_OK) {
        memmove(f->objects + at + 1, f->objects + at,
                (f->count - at) * sizeof *f->objects);
        f->objects[at] = obj;
        f->count++;
    }
    pthread_mutex_unlock(&mb->lock);
    if (rc != VAULT_OK) {
        free(copy);
        free(obj);
    }
    return rc;
}

static vault_error memory_load(backend *be, backend_kind kind, const char *name,
                               uint64_t offset, size_t len, size_t max_len,
                               uint8_t **out, size_t *out_len)
{
    memory_backend *mb = memory_of(be);
    *out = NULL;
    *out_len = 0;
    vault_error rc = vlt_backend_check(kind, name);
    if (rc != VAULT_OK)
        return rc;
    char label[BACKEND_LABEL_MAX];
    vlt_backend_label(kind, name, label);
    mem_folder *f = &mb->folders[kind];
    uint8_t *buf = NULL;
    size_t n = 0;
    pthread_mutex_lock(&mb->lock);
    int found;
    size_t at = find(f, name, &found);
    if (!found) {
        rc = vlt_fail(VAULT_E_NOT_FOUND, "%s: no such object", label);
    } else {
        const mem_object *obj = f->objects[at];
        rc = vlt_backend_check_range(label, obj->len, offset, len, max_len, &n);
        if (rc == VAULT_OK && !(buf = malloc(n ? n : 1)))
            rc = vlt_fail(VAULT_E_NOMEM, "%s: out of memory", label);
        if (rc == VAULT_OK && n)
            memcpy(buf, obj->data + offset, n);
    }
    pthread_mutex_unlock(&mb->lock);
    if (rc != VAULT_OK)
        return rc;
    *out = buf;
    *out_len = n;
    return VAULT_OK;
}

static vault_error memory_stat(backend *be, backend_kind kind, const char *name,
                               uint64_t *size)
{
    memory_backend *mb = memory_of(be);
    *size = 0;
    vault_error rc = vlt_backend_check(kind, name);
    if (rc != VAULT_OK)
        return rc;
    mem_folder *f = &mb->folders[kind];
    pthread_mutex_lock(&mb->lock);
    int found;
    size_t at = find(f, name, &found);
    if (found)
        *size = f->objects[at]->len;
    pthread_mutex_unlock(&mb->lock);
    if (!found) {
        char label[BACKEND_LABEL_MAX];
        vlt_backend_label(kind, name, label);
        return vlt_fail(VAULT_E_NOT_FOUND, "%s: no such object", label);
    }
    return VAULT_OK;
}

/* One listed object, copied out so fn runs without the lock held (it
 * may call the backend, as with the local backend). */
typedef struct mem_entry {
    char name[VAULT_NAME_HEX + 1]; /* the object's name */
    uint64_t size;                 /* its length */
} mem_entry;

static vault_error memory_list(backend *be, backend_kind kind,
                               backend_list_fn fn, void *ctx, int *stopped)
{
    memory_backend *mb = memory_of(be);
    if (stopped)
        *stopped = 0;
    if (!vlt_backend_kind_name(kind))
        return vlt_backend_check(kind, "");
    mem_folder *f = &mb->folders[kind];
    vault_error rc = VAULT_OK;
    pthread_mutex_lock(&mb->lock);
    size_t count = f->count;
    mem_entry *entries = malloc((count ? count : 1) * sizeof *entries);
    if (!entries) {
        rc = vlt_fail(VAULT_E_NOMEM, "%s: out of memory",
                      vlt_backend_kind_name(kind));
    } else {
        for (size_t i = 0; i < count; i++) {
            memcpy(entries[i].name, f->objects[i]->name,
                   sizeof entries[i].name);
            entries[i].size = f->objects[i]->len;
        }
    }
    pthread_mutex_unlock(&mb->lock);
    if (rc != VAULT_OK)
        return rc;
    for (size_t i = 0; i < count; i++) {
        int r = fn(ctx, entries[i].name, entries[i].size);
        if (r != 0) {
            if (stopped)
                *stopped = r;
            break;
        }
    }
    free(entries);
    return VAULT_OK;
}

static vault_error memory_remove(backend *be, backend_kind kind,
                                 const char *name)
{
    memory_backend *mb = memory_of(be);
    vault_error rc = vlt_backend_check(kind, name);
    if (rc != VAULT_OK)
        return rc;
    mem_folder *f = &mb->folders[kind];
    mem_object *gone = NULL;
    pthread_mutex_lock(&mb->lock);
    int found;
    size_t at = find(f, name, &found);
    if (found) {
        gone = f->objects[at];
        memmove(f->objects + at, f->objects + at + 1,
                (f->count - at - 1) * sizeof *f->objects);
        f->count--;
    }
    pthread_mutex_unlock(&mb->lock);
    if (!gone) {
        char label[BACKEND_LABEL_MAX];
        vlt_backend_label(kind, name, label);
        return vlt_fail(VAULT_E_NOT_FOUND, "%s: no such object", label);
    }
    free(gone->data);
    free(gone);
    return VAULT_OK;
}

static void memory_close(backend *be)
{
    memory_backend *mb = memory_of(be);
    for (size_t k = 0; k < BACKEND_KIND_COUNT; k++) {
        mem_folder *f = &mb->folders[k];
        for (size_t i = 0; i < f->count; i++) {
            free(f->objects[i]->data);
            free(f->objects[i]);
        }
        free(f->objects);
    }
    pthread_mutex_destroy(&mb->lock);
    free(mb);
}

static const backend_ops memory_ops = {
    .save = memory_save,
    .load = memory_load,
    .stat = memory_stat,
    .list = memory_list,
    .remove = memory_remove,
    .close = memory_close,
};

vault_error vlt_backend_memory_open(backend **out)
{
    *out = NULL;
    memory_backend *mb = calloc(1, sizeof *mb);
    if (!mb)
        return vlt_fail(VAULT_E_NOMEM, "memory backend: out of memory");
    if (pthread_mutex_init(&mb->lock, NULL) != 0) {
        free(mb);
        return vlt_fail(VAULT_E_INTERNAL,
                        "memory backend: cannot make a mutex");
    }
    mb->base.ops = &memory_ops;
    /* In this process: a local cache would only copy it. */
    mb->base.is_local = 1;
    *out = &mb->base;
    return VAULT_OK;
}
