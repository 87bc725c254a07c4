/*
 * backend_local.c - a vault in a local directory.
 *
 * Layout (backend.h):
 *
 *   ROOT/config
 *   ROOT/keys/<name>
 *   ROOT/data/00/ .. ROOT/data/ff/      data/<name[0:2]>/<name>
 *   ROOT/index/<name>
 *   ROOT/snapshots/<name>
 *   ROOT/locks/<name>
 *
 * Folders are made with mode 0700.  Objects get mode 0444: they are never
 * modified, so no tool (or slip of ours) should open one for writing, and
 * unlink needs only the folder's write bit; the read bits for group and
 * others give nothing away because objects are ciphertext and the 0700
 * folders already gate access (as restic does, whose objects are 0444).
 *
 * The backend holds the immutable root path and a small cache of open
 * pack files (guarded by a mutex), so any number of threads may use it at
 * once; the atomicity of save rests on link(), which never replaces an
 * existing name.
 *
 * Pack cache: restoring reads a pack a chunk at a time, and opening,
 * stat'ing and closing the file for every chunk costs more than the read.
 * Data objects are never modified (their name is their hash, save never
 * replaces), so a descriptor and the size seen when it was opened stay
 * good until the object is removed; local_remove drops it from the cache.
 * A slot in use (refs > 0) is never reused or closed under its reader.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "common/internal.h"

#define LOCAL_OBJECT_MODE 0444
#define LOCAL_FOLDER_MODE 0700

/* Open data objects kept for further loads. */
#define LOCAL_FD_CACHE 32

typedef struct fd_slot {
    char name[VAULT_NAME_HEX + 1]; /* the data object; "" when none */
    int fd;                        /* open read-only; -1 when none */
    uint64_t size;                 /* its size when opened */
    unsigned refs;                 /* loads reading through fd now */
    uint64_t used;                 /* clock of the last use (LRU) */
} fd_slot;

typedef struct local_backend {
    backend base; /* first, so a backend * is a local_backend * */
    char *root;   /* the vault directory, no trailing '/'; never changes */
    pthread_mutex_t lock;         /* guards fds and clock */
    fd_slot fds[LOCAL_FD_CACHE];  /* open data objects */
    uint64_t clock;               /* ticks once per cache use */
} local_backend;

static local_backend *local_of(backend *be)
{
    return (local_backend *)be;
}

/* snprintf that must not truncate: vlt_backend_local_open checked that the
 * root plus the longest relative path fits in PATH_MAX. */
static void path_join(char buf[PATH_MAX], const char *root, const char *rel)
{
    int n = snprintf(buf, PATH_MAX, "%s/%s", root, rel);
    assert(n > 0 && n < PATH_MAX);
    (void)n;
}

/* The object's full path; kind and name already checked. */
static void object_path(const local_backend *lb, backend_kind kind,
                        const char *name, char buf[PATH_MAX])
{
    char label[BACKEND_LABEL_MAX];
    vlt_backend_label(kind, name, label);
    path_join(buf, lb->root, label);
}

/* The folder holding an object (its shard for data). */
static void object_folder(const local_backend *lb, backend_kind kind,
                          const char *name, char buf[PATH_MAX])
{
    object_path(lb, kind, name, buf);
    *strrchr(buf, '/') = '\0';
}

/* fsync of a directory, so that entries made or removed in it survive a
 * crash.  Some file systems cannot sync a directory and say so with
 * EINVAL or ENOTSUP; there is nothing more to do on those. */
static vault_error sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return vlt_fail_errno(errno, "%s: cannot open folder", dir);
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0 && e != EINVAL && e != ENOTSUP)
        return vlt_fail_errno(e, "%s: cannot sync folder", dir);
    return VAULT_OK;
}

/* mkdir that accepts an existing directory. */
static vault_error make_folder(const char *dir)
{
    if (mkdir(dir, LOCAL_FOLDER_MODE) == 0)
        return VAULT_OK;
    int e = errno;
    struct stat st;
    if (e == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return VAULT_OK;
    return vlt_fail_errno(e, "%s: cannot create folder", dir);
}

/* Makes the folder an object of kind lives in (and data/ for a shard),
 * syncing each parent so the new entry is durable before objects go in. */
static vault_error make_object_folder(const local_backend *lb,
                                      backend_kind kind, const char *name)
{
    char dir[PATH_MAX], shard[PATH_MAX];
    vault_error rc;
    path_join(dir, lb->root, vlt_backend_kind_name(kind));
    if ((rc = make_folder(dir)) != VAULT_OK ||
        (rc = sync_dir(lb->root)) != VAULT_OK)
        return rc;
    if (kind != BACKEND_DATA)
        return VAULT_OK;
    object_folder(lb, kind, name, shard);
    if ((rc = make_folder(shard)) != VAULT_OK)
        return rc;
    return sync_dir(dir);
}

static vault_error local_save(backend *be, backend_kind kind, const char *name,
                              const uint8_t *data, size_t len)
{
    local_backend *lb = local_of(be);
    vault_error rc = vlt_backend_check(kind, name);
    if (rc != VAULT_OK)
        return rc;
    assert(data || len == 0);
    char path[PATH_MAX];
    object_path(lb, kind, name, path);
    /* Temporary ".tmp-<random>" beside the object, fsync, link() into
     * place (never replacing: VAULT_E_EXISTS), unlink, sync the folder. */
    rc = vlt_write_file_atomic(path, data, len, LOCAL_OBJECT_MODE, 1);
    if (rc == VAULT_E_IO && kind != BACKEND_CONFIG) {
        /* A folder dropped by a copy or sync tool is made again; only
         * then is the save retried, so a failure costs one stat(). */
        char dir[PATH_MAX];
        struct stat st;
        object_folder(lb, kind, name, dir);
        if (stat(dir, &st) != 0 && errno == ENOENT) {
            if ((rc = make_object_folder(lb, kind, name)) != VAULT_OK)
                return rc;
            rc = vlt_write_file_atomic(path, data, len, LOCAL_OBJECT_MODE, 1);
        }
    }
    if (rc != VAULT_OK && rc != VAULT_E_EXISTS)
        return vlt_fail_context(rc, "%s: cannot save", path);
    return rc;
}

/* The cached descriptor of data object name (refs taken: fd_release),
 * or -1 on a miss. */
static int fd_cache_get(local_backend *lb, const char *name, uint64_t *size,
                        fd_slot **slot)
{
    int fd = -1;
    *slot = NULL;
    pthread_mutex_lock(&lb->lock);
    for (size_t i = 0; i < LOCAL_FD_CACHE; i++) {
        fd_slot *s = &lb->fds[i];
        if (s->fd >= 0 && strcmp(s->name, name) == 0) {
            s->refs++;
            s->used = ++lb->clock;
            *size = s->size;
            *slot = s;
            fd = s->fd;
            break;
        }
    }
    pthread_mutex_unlock(&lb->lock);
    return fd;
}

/* Offers fd (just opened for data object name) to the cache, in a slot
 * nobody is reading through (the least recently used).  *slot: where it
 * went with a ref taken, or NULL when every slot was busy (the caller
 * closes fd itself). */
static void fd_cache_put(local_backend *lb, const char *name, int fd,
                         uint64_t size, fd_slot **slot)
{
    *slot = NULL;
    if (strlen(name) > VAULT_NAME_HEX)
        return;
    pthread_mutex_lock(&lb->lock);
    fd_slot *victim = NULL;
    for (size_t i = 0; i < LOCAL_FD_CACHE; i++) {
        fd_slot *s = &lb->fds[i];
        if (s->refs == 0 && (!victim || s->used < victim->used))
            victim = s;
    }
    if (victim) {
        if (victim->fd >= 0)
            close(victim->fd);
        snprintf(victim->name, sizeof victim->name, "%s", name);
        victim->fd = fd;
        victim->size = size;
        victim->refs = 1;
        victim->used = ++lb->clock;
        *slot = victim;
    }
    pthread_mutex_unlock(&lb->lock);
}

/* Ends a load's use of a cached descriptor. */
static void fd_release(local_backend *lb, fd_slot *slot)
{
    pthread_mutex_lock(&lb->lock);
    assert(slot->refs > 0);
    slot->refs--;
    if (slot->refs == 0 && slot->name[0] == '\0' && slot->fd >= 0) {
        close(slot->fd); /* dropped while in use */
        slot->fd = -1;
    }
    pthread_mutex_unlock(&lb->lock);
}

/* Forgets data object name (removed): closed now, or by its last
 * reader. */
static void fd_cache_drop(local_backend *lb, const char *name)
{
    pthread_mutex_lock(&lb->lock);
    for (size_t i = 0; i < LOCAL_FD_CACHE; i++) {
        fd_slot *s = &lb->fds[i];
        if (s->fd >= 0 && s->name[0] && strcmp(s->name, name) == 0) {
            s->name[0] = '\0';
            s->used = 0;
            if (s->refs == 0) {
                close(s->fd);
                s->fd = -1;
            }
        }
    }
    pthread_mutex_unlock(&lb->lock);
}

static vault_error local_load(backend *be, backend_kind kind, const char *name,
                              uint64_t offset, size_t len, size_t max_len,
                              uint8_t **out, size_t *out_len)
{
    local_backend *lb = local_of(be);
    *out = NULL;
    *out_len = 0;
    vault_error rc = vlt_backend_check(kind, name);
    if (rc != VAULT_OK)
        return rc;
    char path[PATH_MAX];
    object_path(lb, kind, name, path);
    fd_slot *slot = NULL;
    uint64_t size = 0;
    int fd = kind == BACKEND_DATA ? fd_cache_get(lb, name, &size, &slot) : -1;
    if (fd < 0) {
        /* O_NONBLOCK: a FIFO planted under an object's name must not hang
         * us in open(); the S_ISREG check below then refuses it. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
            if (errno == ENOENT)
                return vlt_fail(VAULT_E_NOT_FOUND, "%s: no such object",
                                path);
            return vlt_fail_errno(errno, "%s: cannot open", path);
        }
        struct stat st;
        if (fstat(fd, &st) != 0) {
            int e = errno;
            close(fd);
            return vlt_fail_errno(e, "%s: cannot stat", path);
        }
        if (!S_ISREG(st.st_mode)) {
            close(fd);
            return vlt_fail(VAULT_E_CORRUPT, "%s: not a regular file",
                            path);
        }
        size = (uint64_t)st.st_size;
        if (kind == BACKEND_DATA)
            fd_cache_put(lb, name, fd, size, &slot);
    }
    size_t n;
    uint8_t *buf = NULL;
    rc = vlt_backend_check_range(path, size, offset, len, max_len, &n);
    if (rc == VAULT_OK) {
        buf = malloc(n ? n : 1);
        if (!buf)
            rc = vlt_fail(VAULT_E_NOMEM, "%s: out of memory for %zu bytes",
                          path, n);
    }
    size_t done = 0;
    while (rc == VAULT_OK && done < n) {
        ssize_t r = pread(fd, buf + done, n - done, (off_t)(offset + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            rc = vlt_fail(VAULT_E_CORRUPT,
                          "%s: shorter than its size while read", path);
        else if (r < 0)
            rc = vlt_fail_errno(errno, "%s: cannot read", path);
        else
            done += (size_t)r;
    }
    if (slot)
        fd_release(lb, slot);
    else
        close(fd);
    if (rc != VAULT_OK) {
        free(buf);
        return rc;
    }
    *out = buf;
    *out_len = n;
    return VAULT_OK;
}

static vault_error local_stat(backend *be, backend_kind kind, const char *name,
                              uint64_t *size)
{
    local_backend *lb = local_of(be);
    *size = 0;
    vault_error rc = vlt_backend_check(kind, name);
    if (rc != VAULT_OK)
        return rc;
    char path[PATH_MAX];
    object_path(lb, kind, name, path);
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT)
            return vlt_fail(VAULT_E_NOT_FOUND, "%s: no such object", path);
        return vlt_fail_errno(errno, "%s: cannot stat", path);
    }
    if (!S_ISREG(st.st_mode))
        return vlt_fail(VAULT_E_CORRUPT, "%s: not a regular file", path);
    *size = (uint64_t)st.st_size;
    return VAULT_OK;
}

/* Lists one folder: every regular file with a valid name (starting with
 * prefix, for a data shard).  A missing folder holds nothing.  Sets
 * *stopped when fn stops the listing. */
static vault_error list_folder(const char *dir, const char *prefix,
                               backend_list_fn fn, void *ctx, int *stopped)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return VAULT_OK;
        return vlt_fail_errno(errno, "%s: cannot list", dir);
    }
    for (;;) {
        errno = 0;
        struct dirent *ent = readdir(d);
        if (!ent) {
            int e = errno;
            closedir(d);
            if (e)
                return vlt_fail_errno(e, "%s: cannot list", dir);
            return VAULT_OK;
        }
        /* Skips ".", "..", ".tmp-*" of an interrupted save, and the
         * litter of sync tools ("x (conflicted copy)", ".DS_Store"). */
        if (!vlt_backend_name_valid(ent->d_name))
            continue;
        /* An object in the wrong shard is not where load looks for it. */
        if (prefix && memcmp(ent->d_name, prefix, 2) != 0)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), ent->d_name, &st, 0) != 0) {
            int e = errno;
            if (e == ENOENT) /* removed since readdir saw it */
                continue;
            /* The detail first: closedir frees ent. */
            vault_error rc =
                vlt_fail_errno(e, "%s/%s: cannot stat", dir, ent->d_name);
            closedir(d);
            return rc;
        }
        if (!S_ISREG(st.st_mode))
            continue;
        int r = fn(ctx, ent->d_name, (uint64_t)st.st_size);
        if (r != 0) {
            *stopped = r;
            closedir(d);
            return VAULT_OK;
        }
    }
}

static vault_error local_list(backend *be, backend_kind kind,
                              backend_list_fn fn, void *ctx, int *stopped)
{
    local_backend *lb = local_of(be);
    int stop = 0;
    if (stopped)
        *stopped = 0;
    const char *kname = vlt_backend_kind_name(kind);
    if (!kname)
        return vlt_backend_check(kind, "");
    char dir[PATH_MAX];
    path_join(dir, lb->root, kname);
    vault_error rc = VAULT_OK;
    if (kind == BACKEND_CONFIG) {
        struct stat st;
        if (stat(dir, &st) != 0) {
            if (errno != ENOENT)
                return vlt_fail_errno(errno, "%s: cannot stat", dir);
        } else if (S_ISREG(st.st_mode)) {
            stop = fn(ctx, "", (uint64_t)st.st_size);
        }
    } else if (kind == BACKEND_DATA) {
        for (unsigned i = 0; i < 256 && rc == VAULT_OK && !stop; i++) {
            char shard[PATH_MAX], prefix[3], rel[8];
            snprintf(prefix, sizeof prefix, "%02x", i);
            snprintf(rel, sizeof rel, "data/%s", prefix);
            path_join(shard, lb->root, rel);
            rc = list_folder(shard, prefix, fn, ctx, &stop);
        }
    } else {
        rc = list_folder(dir, NULL, fn, ctx, &stop);
    }
    if (stopped)
        *stopped = stop;
    return rc;
}

static vault_error local_remove(backend *be, backend_kind kind,
                                const char *name)
{
    local_backend *lb = local_of(be);
    vault_error rc = vlt_backend_check(kind, name);
    if (rc != VAULT_OK)
        return rc;
    char path[PATH_MAX], dir[PATH_MAX];
    object_path(lb, kind, name, path);
    if (kind == BACKEND_DATA)
        fd_cache_drop(lb, name);
    if (unlink(path) != 0) {
        if (errno == ENOENT)
            return vlt_fail(VAULT_E_NOT_FOUND, "%s: no such object", path);
        return vlt_fail_errno(errno, "%s: cannot remove", path);
    }
    object_folder(lb, kind, name, dir);
    return sync_dir(dir);
}

static void local_close(backend *be)
{
    local_backend *lb = local_of(be);
    for (size_t i = 0; i < LOCAL_FD_CACHE; i++) {
        assert(lb->fds[i].refs == 0);
        if (lb->fds[i].fd >= 0)
            close(lb->fds[i].fd);
    }
    pthread_mutex_destroy(&lb->lock);
    free(lb->root);
    free(lb);
}

/* Removes stale ".tmp-" files from one folder (absent folders are fine). */
static vault_error clean_folder(const char *dir, time_t before,
                                uint64_t *removed)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? VAULT_OK
                               : vlt_fail_errno(errno, "%s", dir);
    int fd = dirfd(d);
    struct dirent *de;
    int removed_here = 0;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, ".tmp-", 5) != 0)
            continue;
        struct stat st;
        if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode) || st.st_mtime >= before)
            continue;
        if (unlinkat(fd, de->d_name, 0) == 0) {
            (*removed)++;
            removed_here = 1;
        }
    }
    closedir(d);
    return removed_here ? sync_dir(dir) : VAULT_OK;
}

static vault_error local_clean(backend *be, uint64_t older_than,
                               uint64_t *removed)
{
    local_backend *lb = local_of(be);
    time_t before = time(NULL) - (time_t)older_than;
    char dir[PATH_MAX];
    vault_error rc = clean_folder(lb->root, before, removed);
    for (int k = BACKEND_KEYS; rc == VAULT_OK && k < BACKEND_KIND_COUNT;
         k++) {
        path_join(dir, lb->root, vlt_backend_kind_name((backend_kind)k));
        rc = clean_folder(dir, before, removed);
    }
    for (int shard = 0; rc == VAULT_OK && shard < 256; shard++) {
        char rel[16];
        snprintf(rel, sizeof rel, "data/%02x", shard);
        path_join(dir, lb->root, rel);
        rc = clean_folder(dir, before, removed);
    }
    return rc;
}

/* ---- objects written in pieces (backend_ops.stage_*) -------------------
 * The temporary is a ".tmp-<random>" in the kind's folder (data/): its
 * shard is known only from its name, at the end.  Committing is save's
 * sequence: fsync, link() into place (never replacing), unlink, fsync of
 * the folder it went into. */
struct backend_stage {
    local_backend *lb;
    backend_kind kind;
    int fd;
    char tmp[PATH_MAX];
};

static vault_error local_stage_begin(backend *be, backend_kind kind,
                                     backend_stage **out)
{
    local_backend *lb = local_of(be);
    *out = NULL;
    backend_stage *st = malloc(sizeof *st);
    if (!st)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    st->lb = lb;
    st->kind = kind;
    char dir[PATH_MAX];
    path_join(dir, lb->root, vlt_backend_kind_name(kind));
    size_t dir_len = strlen(dir);
    dir[dir_len] = '/'; /* the temporary's folder, "/" included */
    int fits = vlt_temp_path(st->tmp, sizeof st->tmp, dir, dir_len + 1) == 0;
    dir[dir_len] = '\0';
    if (!fits) {
        free(st);
        return vlt_fail(VAULT_E_INVALID, "%s: path too long", dir);
    }
    int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
    st->fd = open(st->tmp, flags, LOCAL_OBJECT_MODE);
    if (st->fd < 0 && errno == ENOENT &&
        make_folder(dir) == VAULT_OK && sync_dir(lb->root) == VAULT_OK)
        st->fd = open(st->tmp, flags, LOCAL_OBJECT_MODE); /* folder dropped */
    if (st->fd < 0 || fchmod(st->fd, LOCAL_OBJECT_MODE) != 0) {
        int e = errno;
        if (st->fd >= 0) {
            close(st->fd);
            unlink(st->tmp);
        }
        free(st);
        return vlt_fail_errno(e, "%s: cannot create a temporary", dir);
    }
    *out = st;
    return VAULT_OK;
}

static vault_error local_stage_write(backend_stage *st, const uint8_t *data,
                                     size_t len)
{
    if (vlt_write_all(st->fd, data, len) != 0)
        return vlt_fail_errno(errno, "%s: cannot write", st->tmp);
    return VAULT_OK;
}

static void local_stage_abort(backend_stage *st)
{
    if (!st)
        return;
    if (st->fd >= 0)
        close(st->fd);
    unlink(st->tmp);
    free(st);
}

static vault_error local_stage_commit(backend_stage *st, const char *name)
{
    local_backend *lb = st->lb;
    backend_kind kind = st->kind; /* st is freed before the end */
    vault_error rc = vlt_backend_check(kind, name);
    if (rc != VAULT_OK) {
        local_stage_abort(st);
        return rc;
    }
    int fd = st->fd;
    st->fd = -1;
    int synced = fsync(fd) == 0;
    int e = errno;
    /* closed once, whatever happened: another thread may get the number */
    if (close(fd) != 0 && synced) {
        synced = 0;
        e = errno;
    }
    if (!synced) {
        rc = vlt_fail_errno(e, "%s: cannot write", st->tmp);
        local_stage_abort(st);
        return rc;
    }
    char path[PATH_MAX];
    object_path(lb, kind, name, path);
    int linked = link(st->tmp, path);
    if (linked != 0 && errno == ENOENT) {
        /* the shard folder, dropped by a copy or sync tool: made again */
        if ((rc = make_object_folder(lb, kind, name)) != VAULT_OK) {
            local_stage_abort(st);
            return rc;
        }
        linked = link(st->tmp, path);
    }
    e = errno;
    local_stage_abort(st); /* the temporary goes: linked, or refused */
    if (linked != 0) {
        if (e == EEXIST)
            return vlt_fail(VAULT_E_EXISTS, "%s: already exists", path);
        return vlt_fail_errno(e, "%s: cannot save", path);
    }
    char dir[PATH_MAX];
    object_folder(lb, kind, name, dir);
    return sync_dir(dir);
}

static const backend_ops local_ops = {
    .save = local_save,
    .load = local_load,
    .stat = local_stat,
    .list = local_list,
    .remove = local_remove,
    .close = local_close,
    .clean = local_clean,
    .stage_begin = local_stage_begin,
    .stage_write = local_stage_write,
    .stage_commit = local_stage_commit,
    .stage_abort = local_stage_abort,
};

/* The directory holding path, for syncing after root is made in it. */
static void parent_of(const char *path, char buf[PATH_MAX])
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(buf, PATH_MAX, ".");
    else if (slash == path)
        snprintf(buf, PATH_MAX, "/");
    else
        snprintf(buf, PATH_MAX, "%.*s", (int)(slash - path), path);
}

/* Makes root (absent, or an empty directory) into an empty vault: the
 * folders only; the caller saves the config, which marks it a vault. */
static vault_error local_create(const char *root)
{
    static const char *const folders[] = {"keys", "data", "index", "snapshots",
                                          "locks"};
    vault_error rc;
    if (mkdir(root, LOCAL_FOLDER_MODE) != 0) {
        int e = errno;
        if (e != EEXIST)
            return vlt_fail_errno(e, "%s: cannot create folder", root);
        DIR *d = opendir(root);
        if (!d) {
            e = errno;
            if (e == ENOTDIR)
                return vlt_fail(VAULT_E_EXISTS,
                                "%s: exists and is not a directory", root);
            return vlt_fail_errno(e, "%s: cannot list", root);
        }
        struct dirent *ent;
        int empty = 1;
        errno = 0;
        while (empty && (ent = readdir(d)) != NULL)
            if (strcmp(ent->d_name, ".") != 0 && strcmp(ent->d_name, ".."))
                empty = 0;
        e = errno;
        closedir(d);
        if (!empty)
            return vlt_fail(VAULT_E_EXISTS,
                            "%s: exists and is not empty (a new vault "
                            "needs an empty or absent directory)",
                            root);
        if (e)
            return vlt_fail_errno(e, "%s: cannot list", root);
    }
    char dir[PATH_MAX];
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(folders); i++) {
        path_join(dir, root, folders[i]);
        if ((rc = make_folder(dir)) != VAULT_OK)
            return rc;
    }
    for (unsigned i = 0; i < 256; i++) {
        int n = snprintf(dir, sizeof dir, "%s/data/%02x", root, i);
        assert(n > 0 && (size_t)n < sizeof dir);
        (void)n;
        if ((rc = make_folder(dir)) != VAULT_OK)
            return rc;
    }
    path_join(dir, root, "data");
    if ((rc = sync_dir(dir)) != VAULT_OK || (rc = sync_dir(root)) != VAULT_OK)
        return rc;
    parent_of(root, dir);
    return sync_dir(dir);
}

/* Checks that root holds a vault: a directory with a config object. */
static vault_error local_check(const char *root)
{
    struct stat st;
    if (stat(root, &st) != 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR)
            return vlt_fail(VAULT_E_NOT_FOUND,
                            "%s: not a vault (no such directory)", root);
        return vlt_fail_errno(e, "%s: cannot open vault", root);
    }
    if (!S_ISDIR(st.st_mode))
        return vlt_fail(VAULT_E_NOT_FOUND,
                        "%s: not a vault (not a directory)", root);
    char config[PATH_MAX];
    path_join(config, root, "config");
    if (stat(config, &st) != 0) {
        int e = errno;
        if (e == ENOENT)
            return vlt_fail(VAULT_E_NOT_FOUND, "%s: not a vault (no config)",
                            root);
        return vlt_fail_errno(e, "%s: cannot open vault", config);
    }
    if (!S_ISREG(st.st_mode))
        return vlt_fail(VAULT_E_NOT_FOUND,
                        "%s: not a vault (config is not a file)", root);
    return VAULT_OK;
}

vault_error vlt_backend_local_open(const char *path, int create, backend **out)
{
    *out = NULL;
    if (!path || !path[0])
        return vlt_fail(VAULT_E_INVALID, "no vault directory given");
    size_t len = strlen(path);
    /* "dir/" and "dir" are one vault; "/" stays "/". */
    while (len > 1 && path[len - 1] == '/')
        len--;
    /* Room for "/" and the longest relative path, which leaves the
     * ".tmp-" name of a save (shorter than an object name) room too. */
    if (len + 1 + BACKEND_LABEL_MAX > PATH_MAX)
        return vlt_fail(VAULT_E_INVALID, "%.64s...: path too long", path);
    local_backend *lb = calloc(1, sizeof *lb);
    char *root = malloc(len + 1);
    if (!lb || !root) {
        free(lb);
        free(root);
        return vlt_fail(VAULT_E_NOMEM, "%s: out of memory", path);
    }
    memcpy(root, path, len);
    root[len] = '\0';
    vault_error rc = create ? local_create(root) : local_check(root);
    if (rc != VAULT_OK) {
        free(lb);
        free(root);
        return rc;
    }
    lb->base.ops = &local_ops;
    lb->base.is_local = 1;
    /* Two: one pack written (and fsync'ed) while the next is sealed; a
     * disk gains nothing from more writers at once. */
    lb->base.connections = 2;
    lb->root = root;
    pthread_mutex_init(&lb->lock, NULL);
    for (size_t i = 0; i < LOCAL_FD_CACHE; i++)
        lb->fds[i].fd = -1;
    *out = &lb->base;
    return VAULT_OK;
}
