/*
 * backend_cache.c - the local cache of small sealed objects (backend.h,
 * vlt_backend_cache_open): a backend in front of another that keeps index
 * segments, snapshots, envelopes and membership records (keys/), and the
 * packs the index says hold only tree blobs, in files on this machine.
 *
 * Layout: <dir>/{keys,index,snapshots,data}/<name>, each file the object's
 * bytes exactly as storage holds them (sealed: the cache holds nothing
 * that storage does not show anyway), mode 0600, written atomically.
 *
 * Every cached kind is named by the SHA-256 of its bytes (format.md §3),
 * so a cached file is checked against its name before its first use in
 * this handle: one that fails is deleted and the object loaded again from
 * inner.  Whole objects (keys, index, snapshots) are checked on every
 * load; a tree pack, read by range many times, is checked once per
 * handle and its ranges then read from the file - a pack's blobs are
 * authenticated by their AEAD on every read anyway (format.md §3.1), so a
 * file swapped after that check yields nothing that verifies.  Whoever
 * can write the cache can therefore do no more than storage can: delete
 * objects (the next load fetches them again) or make loads fail over to
 * inner.
 *
 * list always asks inner (the truth) and drops cached files of that kind
 * that it no longer lists; remove asks inner, then drops the file.  The
 * cache is bounded: when a store takes it over max_bytes, the least
 * recently used files (by mtime, which every hit sets) go until it is
 * under 90% of max_bytes.
 *
 * Thread-safe: restore loads blobs from several threads; the handle's
 * sets and byte count are under one lock, file I/O outside it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "backend/backend.h"
#include "common/array.h"
#include "common/idset.h"
#include "common/internal.h"
#include "crypto/digest.h"

#define CACHE_DEFAULT_MAX_BYTES (1ull << 30)
/* The largest object kept: an index segment's limit (format.md §10);
 * tree packs are near 16 MiB at most as add writes them. */
#define CACHE_OBJECT_MAX ((size_t)64 << 20)

typedef struct cache_backend {
    backend base;
    backend *inner;
    char *dir;
    uint64_t max_bytes;
    pthread_mutex_t lock;
    vlt_idset tree_packs; /* noted by vlt_backend_cache_note_tree_pack */
    vlt_idset verified;   /* tree packs whose file matched its name */
    /* tree packs not kept (too large, storage's copy not matching its
     * name, the cache unwritable): read from inner by range, as if they
     * were not noted, rather than fetched whole for every range */
    vlt_idset passed;
    uint64_t total;       /* bytes of the cached files, once counted */
    int total_known;
} cache_backend;

static const backend_ops cache_ops;

static cache_backend *cache_of(backend *be)
{
    return (cache_backend *)be;
}

/* The kinds kept: everything read whole and named by its hash, besides
 * locks (transient and few) and config (named by nothing). */
static int kind_cached(backend_kind kind)
{
    return kind == BACKEND_KEYS || kind == BACKEND_INDEX ||
           kind == BACKEND_SNAPSHOTS || kind == BACKEND_DATA;
}

static const backend_kind cached_kinds[] = {BACKEND_KEYS, BACKEND_INDEX,
                                            BACKEND_SNAPSHOTS, BACKEND_DATA};

static int name_id(const char *name, uint8_t id[32])
{
    return vlt_hex_decode(name, VAULT_NAME_HEX, id, 32) == VAULT_OK;
}

static int set_has(cache_backend *c, vlt_idset *set, const char *name)
{
    uint8_t id[32];
    if (!name_id(name, id))
        return 0;
    pthread_mutex_lock(&c->lock);
    int found = vlt_idset_find(set, id, NULL);
    pthread_mutex_unlock(&c->lock);
    return found;
}

/* Whether loads of this object go through the cache: a data pack only
 * if the index says it holds trees alone. */
static int object_cached(cache_backend *c, backend_kind kind,
                         const char *name)
{
    if (!kind_cached(kind) || vlt_backend_check(kind, name) != VAULT_OK)
        return 0;
    return kind != BACKEND_DATA || (set_has(c, &c->tree_packs, name) &&
                                    !set_has(c, &c->passed, name));
}

static void set_add(cache_backend *c, vlt_idset *set, const char *name)
{
    uint8_t id[32];
    if (!name_id(name, id))
        return;
    uint32_t number;
    int inserted;
    pthread_mutex_lock(&c->lock);
    /* Out of memory: the set only stays smaller (a cache, not a truth). */
    (void)vlt_idset_put(set, id, &number, &inserted);
    pthread_mutex_unlock(&c->lock);
}

static int file_path(const cache_backend *c, backend_kind kind,
                     const char *name, char out[PATH_MAX])
{
    int n = snprintf(out, PATH_MAX, "%s/%s/%s", c->dir,
                     vlt_backend_kind_name(kind), name);
    return n > 0 && n < PATH_MAX;
}

static int matches_name(const uint8_t *data, size_t len, const char *name)
{
    uint8_t id[32], digest[SHA256_BYTES];
    if (!name_id(name, id))
        return 0;
    vlt_sha256(data, len, digest);
    return sodium_memcmp(id, digest, 32) == 0;
}

/* A hit: the file becomes the most recently used. */
static void touch(const char *path)
{
    (void)utimensat(AT_FDCWD, path, NULL, 0);
}

/* --- size bound ---------------------------------------------------------- */

typedef struct cached_file {
    char path[PATH_MAX];
    uint64_t size;
    struct timespec used;
} cached_file;

static int older_first(const void *a, const void *b)
{
    const cached_file *x = a, *y = b;
    if (x->used.tv_sec != y->used.tv_sec)
        return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
    if (x->used.tv_nsec != y->used.tv_nsec)
        return x->used.tv_nsec < y->used.tv_nsec ? -1 : 1;
    return 0;
}

/* The cached files (well-formed names only) into *files; their bytes in
 * *total.  Temporaries of a save that died an hour ago or more go. */
static vault_error scan_files(cache_backend *c, cached_file **files,
                              size_t *n, uint64_t *total)
{
    size_t cap = 0;
    *files = NULL;
    *n = 0;
    *total = 0;
    time_t now = time(NULL);
    for (size_t k = 0; k < VAULT_ARRAY_SIZE(cached_kinds); k++) {
        char sub[PATH_MAX];
        snprintf(sub, sizeof sub, "%s/%s", c->dir,
                 vlt_backend_kind_name(cached_kinds[k]));
        DIR *d = opendir(sub);
        if (!d)
            continue;
        struct dirent *de;
        while ((de = readdir(d))) {
            cached_file f;
            int n_path = snprintf(f.path, sizeof f.path, "%s/%s", sub,
                                  de->d_name);
            struct stat st;
            if (n_path <= 0 || (size_t)n_path >= sizeof f.path ||
                lstat(f.path, &st) != 0 || !S_ISREG(st.st_mode))
                continue;
            if (!vlt_backend_name_valid(de->d_name)) {
                if (strncmp(de->d_name, ".tmp-", 5) == 0 &&
                    st.st_mtime + 3600 < now)
                    unlink(f.path);
                continue;
            }
            f.size = (uint64_t)st.st_size;
            f.used = st.st_mtim;
            if (VLT_ARRAY_GROW(files, &cap, *n + 1) != 0) {
                closedir(d);
                free(*files);
                *files = NULL;
                return vlt_fail(VAULT_E_NOMEM, "out of memory");
            }
            (*files)[(*n)++] = f;
            *total += f.size;
        }
        closedir(d);
    }
    return VAULT_OK;
}

/* With the lock held: counts the cache if it is not counted yet, and when
 * it is over max_bytes deletes the least recently used files until it is
 * under 90% of it.  Best effort: a failure leaves the cache larger. */
static void bound_locked(cache_backend *c)
{
    if (c->total_known && c->total <= c->max_bytes)
        return;
    cached_file *files;
    size_t n;
    if (scan_files(c, &files, &n, &c->total) != VAULT_OK)
        return;
    c->total_known = 1;
    if (c->total > c->max_bytes) {
        uint64_t target = c->max_bytes / 10 * 9;
        qsort(files, n, sizeof *files, older_first);
        for (size_t i = 0; i < n && c->total > target; i++)
            if (unlink(files[i].path) == 0)
                c->total -= files[i].size;
        /* A tree pack evicted here is no longer verified: its next read
         * finds no file and fetches it again. */
        vlt_idset_free(&c->verified);
    }
    free(files);
}

/* Keeps a copy of an object that hashes to its name (the caller checked).
 * Best effort: a cache that cannot be written only means loads from
 * inner.  An object over a quarter of the bound is not kept: it would
 * push out too much. */
static int store(cache_backend *c, backend_kind kind, const char *name,
                 const uint8_t *data, size_t len)
{
    char path[PATH_MAX];
    if (len > CACHE_OBJECT_MAX || len > c->max_bytes / 4 ||
        !file_path(c, kind, name, path))
        return 0;
    struct stat st;
    uint64_t replaced = lstat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
    if (vlt_write_file_atomic(path, data, len, 0600, 0) != VAULT_OK)
        return 0;
    pthread_mutex_lock(&c->lock);
    if (c->total_known)
        c->total = c->total - (replaced < c->total ? replaced : c->total) +
                   len;
    bound_locked(c);
    pthread_mutex_unlock(&c->lock);
    return 1;
}

static void drop_file(cache_backend *c, const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0 || unlink(path) != 0)
        return;
    pthread_mutex_lock(&c->lock);
    if (c->total_known)
        c->total -= (uint64_t)st.st_size < c->total ? (uint64_t)st.st_size
                                                    : c->total;
    pthread_mutex_unlock(&c->lock);
}

/* --- loads ---------------------------------------------------------------- */

/* The whole object: from its cached file when that matches its name (a
 * file that does not is deleted, with a warning), else from inner, kept
 * in the cache when it matches; *kept says whether the cache holds it
 * now.  For a data pack, *fits is 0 when the pack is too large to keep:
 * the caller reads inner by range. */
static vault_error obtain(cache_backend *c, backend_kind kind,
                          const char *name, size_t max_len, uint8_t **out,
                          size_t *out_len, int *fits, int *kept)
{
    *out = NULL;
    *out_len = 0;
    *fits = 1;
    *kept = 0;
    char path[PATH_MAX];
    if (!file_path(c, kind, name, path))
        return backend_load(c->inner, kind, name, 0, 0, max_len, out,
                            out_len);
    uint8_t *data;
    size_t len;
    if (vlt_read_file(path, max_len < CACHE_OBJECT_MAX ? max_len
                                                       : CACHE_OBJECT_MAX,
                      &data, &len) == VAULT_OK) {
        if (matches_name(data, len, name)) {
            touch(path);
            *out = data;
            *out_len = len;
            *kept = 1;
            return VAULT_OK;
        }
        free(data);
        vlt_warn("cache: %s does not match its name; deleted, and the "
                 "object loaded again from storage",
                 path);
        drop_file(c, path);
    }
    vault_error rc;
    if (kind == BACKEND_DATA) {
        uint64_t size;
        rc = backend_stat(c->inner, kind, name, &size);
        if (rc != VAULT_OK)
            return rc;
        if (size > CACHE_OBJECT_MAX || size > max_len ||
            size > c->max_bytes / 4) {
            *fits = 0;
            return VAULT_OK;
        }
        max_len = (size_t)size;
    }
    rc = backend_load(c->inner, kind, name, 0, 0, max_len, &data, &len);
    if (rc != VAULT_OK)
        return rc;
    /* Storage's answer stands either way: its reader checks it. */
    *kept = matches_name(data, len, name) && store(c, kind, name, data, len);
    *out = data;
    *out_len = len;
    return VAULT_OK;
}

/* The range [offset, offset+len) of data (of data_len bytes) into *out,
 * as a load would return it; takes data. */
static vault_error slice(backend_kind kind, const char *name, uint8_t *data,
                         size_t data_len, uint64_t offset, size_t len,
                         size_t max_len, uint8_t **out, size_t *out_len)
{
    char label[BACKEND_LABEL_MAX];
    vlt_backend_label(kind, name, label);
    size_t n;
    vault_error rc = vlt_backend_check_range(label, data_len, offset, len,
                                             max_len, &n);
    if (rc != VAULT_OK) {
        free(data);
        return rc;
    }
    if (offset == 0 && n == data_len) {
        *out = data;
        *out_len = n;
        return VAULT_OK;
    }
    uint8_t *part = malloc(n ? n : 1);
    if (!part) {
        free(data);
        return vlt_fail(VAULT_E_NOMEM, "%s: out of memory", label);
    }
    memcpy(part, data + offset, n);
    free(data);
    *out = part;
    *out_len = n;
    return VAULT_OK;
}

static void forget_verified(cache_backend *c)
{
    /* An idset cannot drop one ID: start the set afresh (it only costs
     * hashing the files still there once more). */
    pthread_mutex_lock(&c->lock);
    vlt_idset_free(&c->verified);
    pthread_mutex_unlock(&c->lock);
}

/* A range of a tree pack whose file this handle has checked, read from
 * the file; VAULT_E_NOT_FOUND when it was not checked or is gone
 * (evicted, or deleted by another client of the cache): the caller then
 * fetches it again. */
static vault_error read_verified(cache_backend *c, const char *name,
                                 uint64_t offset, size_t len, size_t max_len,
                                 uint8_t **out, size_t *out_len)
{
    char path[PATH_MAX];
    if (!set_has(c, &c->verified, name) ||
        !file_path(c, BACKEND_DATA, name, path))
        return VAULT_E_NOT_FOUND;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        forget_verified(c);
        return VAULT_E_NOT_FOUND;
    }
    struct stat st;
    vault_error rc = VAULT_E_NOT_FOUND;
    size_t n;
    char label[BACKEND_LABEL_MAX];
    vlt_backend_label(BACKEND_DATA, name, label);
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
        vlt_backend_check_range(label, (uint64_t)st.st_size, offset, len,
                                max_len, &n) == VAULT_OK) {
        uint8_t *buf = malloc(n ? n : 1);
        if (!buf) {
            close(fd);
            return vlt_fail(VAULT_E_NOMEM, "%s: out of memory", label);
        }
        size_t got = 0;
        while (got < n) {
            ssize_t r = pread(fd, buf + got, n - got, (off_t)(offset + got));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        if (got == n) {
            *out = buf;
            *out_len = n;
            rc = VAULT_OK;
        } else {
            free(buf);
        }
    }
    close(fd);
    return rc;
}

static vault_error cache_load(backend *be, backend_kind kind,
                              const char *name, uint64_t offset, size_t len,
                              size_t max_len, uint8_t **out, size_t *out_len)
{
    cache_backend *c = cache_of(be);
    *out = NULL;
    *out_len = 0;
    if (!object_cached(c, kind, name))
        return backend_load(c->inner, kind, name, offset, len, max_len, out,
                            out_len);
    size_t whole_max = max_len;
    if (kind == BACKEND_DATA) {
        if (read_verified(c, name, offset, len, max_len, out, out_len) ==
            VAULT_OK)
            return VAULT_OK;
        whole_max = CACHE_OBJECT_MAX; /* the whole pack, for a range */
    } else if (offset != 0 || len != 0) {
        /* Objects of these kinds are read whole; a range is passed on. */
        return backend_load(c->inner, kind, name, offset, len, max_len, out,
                            out_len);
    }
    uint8_t *data;
    size_t data_len;
    int fits, kept;
    vault_error rc = obtain(c, kind, name, whole_max, &data, &data_len, &fits,
                            &kept);
    if (rc != VAULT_OK)
        return rc;
    if (kind == BACKEND_DATA && (!fits || !kept))
        set_add(c, &c->passed, name);
    if (!fits)
        return backend_load(c->inner, kind, name, offset, len, max_len, out,
                            out_len);
    /* The file is there and matched, or was just kept: later ranges
     * read it. */
    if (kind == BACKEND_DATA && kept)
        set_add(c, &c->verified, name);
    return slice(kind, name, data, data_len, offset, len, max_len, out,
                 out_len);
}

static vault_error cache_stat(backend *be, backend_kind kind,
                              const char *name, uint64_t *size)
{
    cache_backend *c = cache_of(be);
    char path[PATH_MAX];
    struct stat st;
    /* A pack is stat'ed first when it opens (its trailer sits at the
     * end): a tree pack's size comes from its file, checked against its
     * name first (or the pack fetched whole and kept, as a load would). */
    if (kind == BACKEND_DATA && object_cached(c, kind, name) &&
        !set_has(c, &c->verified, name)) {
        uint8_t *data = NULL;
        size_t len = 0;
        int fits = 0, kept = 0;
        vault_error rc = obtain(c, kind, name, CACHE_OBJECT_MAX, &data, &len,
                                &fits, &kept);
        free(data);
        if (rc != VAULT_OK)
            return rc;
        if (fits && kept) {
            set_add(c, &c->verified, name);
            *size = len;
            return VAULT_OK;
        }
        set_add(c, &c->passed, name);
    }
    if (kind == BACKEND_DATA && object_cached(c, kind, name) &&
        set_has(c, &c->verified, name) && file_path(c, kind, name, path) &&
        stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        *size = (uint64_t)st.st_size;
        return VAULT_OK;
    }
    return backend_stat(c->inner, kind, name, size);
}

static vault_error cache_save_as(backend *be, int fresh, backend_kind kind,
                                 const char *name, const uint8_t *data,
                                 size_t len)
{
    cache_backend *c = cache_of(be);
    vault_error rc = fresh ? backend_save_new(c->inner, kind, name, data, len)
                           : backend_save(c->inner, kind, name, data, len);
    /* What this client writes it reads next (its own index segment and
     * snapshot, the packs of trees an add noted as such).  Other packs
     * are not kept. */
    if (rc == VAULT_OK && object_cached(c, kind, name) &&
        matches_name(data, len, name))
        (void)store(c, kind, name, data, len);
    return rc;
}

static vault_error cache_save(backend *be, backend_kind kind,
                              const char *name, const uint8_t *data,
                              size_t len)
{
    return cache_save_as(be, 0, kind, name, data, len);
}

static vault_error cache_save_new(backend *be, backend_kind kind,
                                  const char *name, const uint8_t *data,
                                  size_t len)
{
    return cache_save_as(be, 1, kind, name, data, len);
}

/* list's callback in front of the caller's: notes every name listed. */
typedef struct list_ctx {
    backend_list_fn fn;
    void *ctx;
    vlt_idset listed;
    int incomplete; /* out of memory: nothing may be dropped */
} list_ctx;

static int list_note(void *ctx, const char *name, uint64_t size)
{
    list_ctx *l = ctx;
    uint8_t id[32];
    uint32_t number;
    int inserted;
    if (!l->incomplete && name_id(name, id) &&
        vlt_idset_put(&l->listed, id, &number, &inserted) != VAULT_OK)
        l->incomplete = 1;
    return l->fn(l->ctx, name, size);
}

/* Deletes the cached files of kind that storage no longer lists. */
static void drop_unlisted(cache_backend *c, backend_kind kind,
                          const vlt_idset *listed)
{
    char sub[PATH_MAX];
    snprintf(sub, sizeof sub, "%s/%s", c->dir, vlt_backend_kind_name(kind));
    DIR *d = opendir(sub);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        uint8_t id[32];
        char path[PATH_MAX];
        if (!vlt_backend_name_valid(de->d_name) || !name_id(de->d_name, id) ||
            vlt_idset_find(listed, id, NULL) ||
            !file_path(c, kind, de->d_name, path))
            continue;
        drop_file(c, path);
    }
    closedir(d);
}

static vault_error cache_list(backend *be, backend_kind kind,
                              backend_list_fn fn, void *ctx, int *stopped)
{
    cache_backend *c = cache_of(be);
    if (!kind_cached(kind))
        return backend_list(c->inner, kind, fn, ctx, stopped);
    list_ctx l = {.fn = fn, .ctx = ctx};
    int stop = 0;
    vault_error rc = backend_list(c->inner, kind, list_note, &l, &stop);
    if (rc == VAULT_OK && !stop && !l.incomplete)
        drop_unlisted(c, kind, &l.listed);
    vlt_idset_free(&l.listed);
    if (stopped)
        *stopped = stop;
    return rc;
}

static vault_error cache_remove_as(backend *be, int discard,
                                   backend_kind kind, const char *name)
{
    cache_backend *c = cache_of(be);
    vault_error rc = discard ? backend_discard(c->inner, kind, name)
                             : backend_remove(c->inner, kind, name);
    char path[PATH_MAX];
    /* Gone from storage (or never there): gone from here. */
    if ((rc == VAULT_OK || rc == VAULT_E_NOT_FOUND) && kind_cached(kind) &&
        vlt_backend_check(kind, name) == VAULT_OK &&
        file_path(c, kind, name, path))
        drop_file(c, path);
    return rc;
}

static vault_error cache_remove(backend *be, backend_kind kind,
                                const char *name)
{
    return cache_remove_as(be, 0, kind, name);
}

static vault_error cache_discard(backend *be, backend_kind kind,
                                 const char *name)
{
    return cache_remove_as(be, 1, kind, name);
}

static vault_error cache_clean(backend *be, uint64_t older_than,
                               uint64_t *removed)
{
    return backend_clean(cache_of(be)->inner, older_than, removed);
}

static vault_error cache_check_deletable(backend *be)
{
    return backend_check_deletable(cache_of(be)->inner);
}

static void cache_close(backend *be)
{
    cache_backend *c = cache_of(be);
    backend_close(c->inner);
    vlt_idset_free(&c->tree_packs);
    vlt_idset_free(&c->verified);
    vlt_idset_free(&c->passed);
    pthread_mutex_destroy(&c->lock);
    free(c->dir);
    free(c);
}

static double cache_answer_wait(backend *be)
{
    return backend_answer_wait(cache_of(be)->inner);
}

static const backend_ops cache_ops = {
    .save = cache_save,
    .save_new = cache_save_new,
    .discard = cache_discard,
    .load = cache_load,
    .stat = cache_stat,
    .list = cache_list,
    .remove = cache_remove,
    .close = cache_close,
    .clean = cache_clean,
    .check_deletable = cache_check_deletable,
    .answer_wait = cache_answer_wait,
};

backend *vlt_backend_cache_inner(backend *be)
{
    return cache_of(be)->inner;
}

int vlt_backend_is_cache(const backend *be)
{
    return be && be->ops == &cache_ops;
}

void vlt_backend_cache_note_tree_pack(backend *be, const uint8_t id[32])
{
    if (!vlt_backend_is_cache(be))
        return;
    cache_backend *c = cache_of(be);
    uint32_t number;
    int inserted;
    pthread_mutex_lock(&c->lock);
    /* Out of memory: the pack is only not kept. */
    (void)vlt_idset_put(&c->tree_packs, id, &number, &inserted);
    pthread_mutex_unlock(&c->lock);
}

/* Makes dir and its folders (0700) and checks that this user owns it and
 * may use it; a detail naming the path otherwise. */
static vault_error prepare_dir(const char *dir)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s", dir);
    if (n <= 0 || (size_t)n >= sizeof path)
        return vlt_fail(VAULT_E_INVALID, "%.100s...: path too long", dir);
    for (char *s = path + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            (void)mkdir(path, 0700);
            *s = '/';
        }
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return vlt_fail_errno(errno, "%s: cannot make the folder", dir);
    struct stat st;
    if (lstat(dir, &st) != 0)
        return vlt_fail_errno(errno, "%s", dir);
    if (!S_ISDIR(st.st_mode))
        return vlt_fail(VAULT_E_INVALID, "%s: not a folder", dir);
    /* Another user's folder: they could read what we keep and delete it
     * at will.  Nothing they put there would be used unchecked, but a
     * cache that is not ours is not worth the doubt. */
    if (st.st_uid != geteuid())
        return vlt_fail(VAULT_E_PERMISSION,
                        "%s: owned by another user (uid %u)", dir,
                        (unsigned)st.st_uid);
    if (access(dir, R_OK | W_OK | X_OK) != 0)
        return vlt_fail_errno(errno, "%s", dir);
    for (size_t k = 0; k < VAULT_ARRAY_SIZE(cached_kinds); k++) {
        n = snprintf(path, sizeof path, "%s/%s", dir,
                     vlt_backend_kind_name(cached_kinds[k]));
        if (n <= 0 || (size_t)n >= sizeof path)
            return vlt_fail(VAULT_E_INVALID, "%.100s...: path too long", dir);
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return vlt_fail_errno(errno, "%s: cannot make the folder", path);
        if (access(path, R_OK | W_OK | X_OK) != 0)
            return vlt_fail_errno(errno, "%s", path);
    }
    return VAULT_OK;
}

vault_error vlt_backend_cache_open(backend *inner, const char *dir,
                                   uint64_t max_bytes, backend **out)
{
    *out = NULL;
    if (!inner || !dir || !dir[0]) {
        backend_close(inner);
        return vlt_fail(VAULT_E_INVALID, "cache: missing argument");
    }
    vault_error rc = prepare_dir(dir);
    if (rc != VAULT_OK) {
        /* The cache only saves requests: without it, storage answers. */
        vlt_warn("cache: %s; going on without the local cache",
                 vault_last_error());
        *out = inner;
        return VAULT_OK;
    }
    cache_backend *c = calloc(1, sizeof *c);
    if (!c || !(c->dir = strdup(dir))) {
        free(c);
        backend_close(inner);
        return vlt_fail(VAULT_E_NOMEM, "cache: out of memory");
    }
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c->dir);
        free(c);
        backend_close(inner);
        return vlt_fail(VAULT_E_INTERNAL, "cache: cannot make a mutex");
    }
    c->base.ops = &cache_ops;
    c->base.connections = inner->connections;
    c->inner = inner;
    c->max_bytes = max_bytes ? max_bytes : CACHE_DEFAULT_MAX_BYTES;
    *out = &c->base;
    return VAULT_OK;
}
