/*
 * restore.c - turning a snapshot's trees back into files in a directory,
 * or into a pax tar stream.  Format spec: "Extraction rules".
 *
 * Threat model: every tree and chunk may come from a hostile vault.  A
 * name is used only if it is one path component (re-checked here, whatever
 * the decoder did), and the directory walk goes from a descriptor of the
 * target through openat(O_DIRECTORY | O_NOFOLLOW), so no name and no
 * symlink - restored or already there - can lead a write outside it.
 *
 * Directory mode, per tree, depth first:
 *
 *   directory  mkdirat(name, 0700), openat(O_DIRECTORY | O_NOFOLLOW)
 *              -> its children -> fchown, xattrs, fchmod, futimens
 *              (post-order: children do not disturb the mtime, and a mode
 *              without owner-write cannot block them; with workers, set
 *              when its last file is placed - see open_dir)
 *   other      created under "<name>.vault-tmp-<16 hex>" (O_EXCL open,
 *              symlinkat, mknodat or linkat), content and metadata applied
 *              to the temporary, then renameat into place: with
 *              RENAME_NOREPLACE unless overwriting.  rename() replaces a
 *              symlink itself, never what it points to, and never replaces
 *              a directory.  A file whose chunks fail never gets its name.
 *
 * Without restore_owner (or when not root) files belong to whoever
 * restores, so set-uid/set-gid bits are dropped from non-directories and
 * security.capability is not set: a hostile vault must not hand out
 * privileges.  Sockets are skipped silently (see restore_node).  Xattrs of
 * symlinks, fifos and devices are not restored (no fd to set them on).
 *
 * Chunks of zeros (known by ID when the source offers chunk_size) are
 * never loaded: they become holes, and in tar mode the holes of a GNU
 * sparse 1.0 entry.
 *
 * Tar mode writes the same walk as pax restricted entries, pre-order,
 * with the same name checks and filter; it leaves owners and modes to the
 * extractor.  Restricted pax writes a pax header only when ustar cannot
 * hold the entry, and sub-second mtimes only ride along in one.  Names go
 * through libarchive's locale conversion: outside a UTF-8 locale (or for
 * non-UTF-8 bytes) they are written byte for byte with hdrcharset=BINARY.
 *
 * Item failures are reported through on_error, counted, and the walk goes
 * on; only out-of-memory, an unusable target or a broken tar stream stop
 * it.
 */
#define _GNU_SOURCE /* renameat2, RENAME_NOREPLACE */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <sodium.h>

#include "format/chunker.h"
#include "common/internal.h"
#include "ops/restore/restore.h"

/* Nesting deeper than this is refused: each level holds a descriptor and
 * a decoded tree, and only a hostile vault would need more. */
#define RESTORE_MAX_DEPTH 512

#define TEMP_TAG ".vault-tmp-"
#define TEMP_RANDOM_BYTES 8

/* Files waiting in the queue at most: the walker helps when it is full. */
#define RESTORE_QUEUE_MAX 64

/* A directory being restored (directory mode).  Its files' jobs use its
 * descriptor and point into its tree, and its metadata has to come after
 * its last entry is placed (a rename changes the mtime).  The walker does
 * not wait for that when it leaves the directory - waiting there would
 * idle the workers at the end of every directory, behind its largest
 * file - so the directory lives on until its last reference goes: the
 * walker's while inside, one per queued or running job, one per
 * subdirectory not yet finished (whose node is in this tree).  Whoever
 * drops the last reference finishes it: metadata, close, free. */
typedef struct open_dir {
    struct open_dir *parent; /* NULL: the target */
    const tree_node *node;   /* in parent's tree; NULL: the target */
    tree children;
    int fd;                  /* the target's stays open (restorer's) */
    size_t refs;             /* guarded by restorer.mu */
    char *path;              /* relative to the target, for reports */
} open_dir;

/* A file for a worker to restore (directory mode with workers). */
typedef struct file_job {
    struct file_job *next;
    open_dir *dir;       /* its directory, held by the job */
    const tree_node *n;  /* in dir's tree */
    char *path;          /* relative to the target, for reports */
    gid_t dir_gid;       /* what restorer.dir_gid was */
} file_job;

/* Where a restored hardlinked file went: (device, inode) -> path. */
typedef struct link_slot {
    uint64_t device, inode;
    char *path; /* relative to the target (or the tar's name); NULL: free */
} link_slot;

/* One include path, split into components. */
typedef struct include_path {
    const char *text; /* as the caller gave it, for reports */
    char *buf;        /* copy of text with '/' replaced by NUL */
    char **comps;     /* non-empty components, "." dropped */
    size_t n_comps;
    int done;         /* reached, or its failure already reported */
} include_path;

typedef struct restorer {
    const restore_source *src;
    const restore_options *opt;
    restore_stats *stats;
    int target_fd;      /* directory mode: the target; else -1 */
    struct archive *ar; /* tar mode: the stream; else NULL */
    int tar_broken;     /* a tar write failed: the stream is lost */
    int own;            /* chown items: restore_owner and running as root */
    uid_t euid;         /* who new entries belong to before any chown */
    gid_t egid;
    gid_t dir_gid;      /* the group new entries in the directory being
                           restored get (its own with set-gid, else egid) */
    uint64_t temp_base; /* random per restore: temporary names are */
    atomic_uint_least64_t temp_seq; /* temp_base + temp_seq++, so
                           unguessable and fresh without asking for
                           randomness per file */
    /* Workers (directory mode): the walker queues files that are not
     * hardlinked; workers restore each whole (load, verify, write,
     * rename).  A directory's metadata waits for its files (open_dir).
     * With n_threads 0 the walker restores every file itself. */
    pthread_mutex_t mu;     /* guards what follows, stats and reports */
    pthread_cond_t work;    /* a job was queued, or stopping */
    pthread_cond_t done;    /* a job finished (and released its dir) */
    file_job *head, *tail;  /* the queue */
    size_t queued;
    pthread_t *threads;
    unsigned n_threads;     /* running workers */
    unsigned idle;          /* workers waiting for work */
    unsigned waiters;       /* walker waiting for done (0 or 1) */
    int stopping;           /* workers exit once the queue is empty */
    open_dir *dir;          /* the walker's directory (directory mode) */
    size_t unfinished;      /* jobs queued or running */
    size_t open_dirs;       /* open_dir objects alive */
    vault_error fatal;      /* a job's fatal error (out of memory) */
    char fatal_detail[256]; /* its detail, for the walker to raise */
    char *path;         /* the current item, relative, '/'-separated */
    size_t path_len, path_cap;
    link_slot *links; /* open addressing, links_cap a power of two */
    size_t links_cap, links_used;
    include_path *inc;
    size_t n_inc;
} restorer;

/* ---- reporting ---------------------------------------------------------- */

static vault_error nomem(void)
{
    return vlt_fail(VAULT_E_NOMEM, "restore: out of memory");
}

static void lock(restorer *r)
{
    if (r->n_threads)
        pthread_mutex_lock(&r->mu);
}

static void unlock(restorer *r)
{
    if (r->n_threads)
        pthread_mutex_unlock(&r->mu);
}

/* Counts and reports a failed item (from any thread: one at a time). */
static void report(restorer *r, const char *path, vault_error code,
                   const char *detail)
{
    lock(r);
    r->stats->errors++;
    if (r->opt->on_error)
        r->opt->on_error(r->opt->on_error_ctx, path, code, detail);
    unlock(r);
}

/* Reports item path: the system said e while doing what. */
static void report_errno_at(restorer *r, const char *path, int e,
                            const char *what)
{
    vault_error code = vlt_fail_errno(e, "%s", what);
    if (e == EEXIST || e == ENOTEMPTY || e == EISDIR)
        code = VAULT_E_EXISTS;
    report(r, path, code, vault_last_error());
}

/* Reports the current item: the system said e while doing what. */
static void report_errno(restorer *r, int e, const char *what)
{
    report_errno_at(r, r->path, e, what);
}

/* Reports the current item with the detail the failing call left (the
 * detail is per thread: call on the thread that failed). */
static void report_last(restorer *r, vault_error code)
{
    report(r, r->path, code, vault_last_error());
}

/* Counts a restored file. */
static void count_file(restorer *r, uint64_t bytes)
{
    lock(r);
    r->stats->files++;
    r->stats->bytes += bytes;
    unlock(r);
}

/* ---- the current path --------------------------------------------------- */

/* Appends "/name" ("name" at the top) to r->path; *mark is what
 * path_pop needs to undo it. */
static vault_error path_push(restorer *r, const char *name, size_t *mark)
{
    size_t len = strlen(name), need = r->path_len + 1 + len + 1;
    if (need > r->path_cap) {
        size_t cap = r->path_cap ? r->path_cap : 256;
        while (cap < need)
            cap *= 2;
        char *p = realloc(r->path, cap);
        if (!p)
            return nomem();
        r->path = p;
        r->path_cap = cap;
    }
    *mark = r->path_len;
    if (r->path_len)
        r->path[r->path_len++] = '/';
    memcpy(r->path + r->path_len, name, len + 1);
    r->path_len += len;
    return VAULT_OK;
}

static void path_pop(restorer *r, size_t mark)
{
    r->path_len = mark;
    r->path[mark] = '\0';
}

/* One path component: what a tree may name, whatever the decoder let by. */
static int name_ok(const char *name)
{
    return name && name[0] && strcmp(name, ".") != 0 &&
           strcmp(name, "..") != 0 && !strchr(name, '/');
}

/* ---- hardlinks ---------------------------------------------------------- */

/* The slot of (device, inode), or the free one where it would go. */
static link_slot *links_slot(const restorer *r, uint64_t device,
                             uint64_t inode)
{
    uint64_t h = (inode * 0x9E3779B97F4A7C15u) ^ device;
    h ^= h >> 29;
    size_t mask = r->links_cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        link_slot *s = &r->links[i];
        if (!s->path || (s->inode == inode && s->device == device))
            return s;
    }
}

/* The path the first restored occurrence of n's inode got, or NULL. */
static const char *links_find(const restorer *r, const tree_node *n)
{
    if (n->nlink < 2 || r->links_cap == 0)
        return NULL;
    return links_slot(r, n->device, n->inode)->path;
}

/* Remembers the current path as where n's inode went. */
static vault_error links_add(restorer *r, const tree_node *n)
{
    if (n->nlink < 2)
        return VAULT_OK;
    if (2 * (r->links_used + 1) > r->links_cap) {
        size_t cap = r->links_cap ? 2 * r->links_cap : 64;
        link_slot *old = r->links;
        size_t old_cap = r->links_cap;
        r->links = calloc(cap, sizeof *r->links);
        if (!r->links) {
            r->links = old;
            return nomem();
        }
        r->links_cap = cap;
        for (size_t i = 0; i < old_cap; i++) {
            if (old[i].path)
                *links_slot(r, old[i].device, old[i].inode) = old[i];
        }
        free(old);
    }
    link_slot *s = links_slot(r, n->device, n->inode);
    assert(!s->path);
    s->path = strdup(r->path);
    if (!s->path)
        return nomem();
    s->device = n->device;
    s->inode = n->inode;
    r->links_used++;
    return VAULT_OK;
}

/* ---- content ------------------------------------------------------------ */

/* Takes len bytes of content: data, or len zeros when data is NULL. */
typedef vault_error (*content_sink)(restorer *r, void *ctx,
                                    const uint8_t *data, size_t len);

/* Feeds n's chunks in order to sink, checking they add up to n->size
 * (never passing more); a chunk of zeros the source knows by its ID is
 * not loaded but passed as data NULL.  *done: the bytes sink took.  On
 * failure the detail names what failed (load_chunk names the object). */
static vault_error content_each(restorer *r, const tree_node *n,
                                content_sink sink, void *ctx, uint64_t *done)
{
    *done = 0;
    for (uint32_t i = 0; i < n->n_content; i++) {
        uint8_t *data = NULL;
        size_t len = 0;
        uint32_t zero_len;
        int zero = 0;
        vault_error rc = VAULT_OK;
        if (r->src->chunk_size)
            rc = r->src->chunk_size(r->src->ctx, n->content[i], &zero_len,
                                    &zero);
        if (rc == VAULT_OK && zero)
            len = zero_len;
        else if (rc == VAULT_OK)
            rc = r->src->load_chunk(r->src->ctx, n->content[i], &data, &len);
        if (rc != VAULT_OK)
            return rc;
        if (len > n->size - *done) {
            free(data);
            return vlt_fail(VAULT_E_CORRUPT,
                            "content is longer than the %llu bytes the "
                            "tree records",
                            (unsigned long long)n->size);
        }
        rc = sink(r, ctx, data, len);
        free(data);
        if (rc != VAULT_OK)
            return rc;
        *done += len;
    }
    if (*done != n->size)
        return vlt_fail(VAULT_E_CORRUPT,
                        "content is %llu bytes, the tree records %llu",
                        (unsigned long long)*done,
                        (unsigned long long)n->size);
    return VAULT_OK;
}

static int all_zero(const uint8_t *p, size_t len)
{
    return len == 0 || (p[0] == 0 && memcmp(p, p + 1, len - 1) == 0);
}

/* ---- directory mode ----------------------------------------------------- */

/* The mode to give n: without its owner, no set-id bits on what is not a
 * directory (a hostile vault must not make set-uid files owned by the
 * restoring user - root, often). */
static mode_t mode_of(const restorer *r, const tree_node *n)
{
    mode_t m = (mode_t)(n->mode & 07777);
    if (!r->own && n->type != NODE_DIR)
        m &= (mode_t) ~(S_ISUID | S_ISGID);
    return m;
}

static void mtime_of(const tree_node *n, struct timespec ts[2])
{
    ts[0].tv_sec = 0;
    ts[0].tv_nsec = UTIME_OMIT; /* atime: not recorded */
    ts[1].tv_sec = (time_t)n->mtime_sec;
    ts[1].tv_nsec = (long)n->mtime_nsec;
}

/* Whether n needs a chown: with owners, unless it is an entry just made
 * in the directory being restored that already has n's owner and group. */
static int needs_chown(const restorer *r, const tree_node *n,
                       const gid_t *fresh_gid)
{
    return r->own && !(fresh_gid && (uid_t)n->uid == r->euid &&
                       (gid_t)n->gid == *fresh_gid);
}

/* Applies owner, xattrs, mode and mtime through fd (a file or directory
 * descriptor), in the order that keeps each from undoing another (chown
 * clears set-id bits and capabilities; user.* xattrs need write access).
 * fresh_gid: fd is an entry just created, in a directory that gives new
 * entries that group; NULL: not known to be fresh.
 * Returns 0, or the errno of the first failure with what[] naming the
 * step; the remaining steps are still tried. */
static int fs_meta_fd(const restorer *r, int fd, const tree_node *n,
                      const gid_t *fresh_gid, char *what, size_t what_size)
{
    int err = 0;
#define META_FAIL(...)                                                       \
    do {                                                                     \
        if (!err) {                                                          \
            err = errno;                                                     \
            snprintf(what, what_size, __VA_ARGS__);                          \
        }                                                                    \
    } while (0)
    if (needs_chown(r, n, fresh_gid) &&
        fchown(fd, (uid_t)n->uid, (gid_t)n->gid) != 0)
        META_FAIL("set owner %u:%u", (unsigned)n->uid, (unsigned)n->gid);
    for (uint32_t i = 0; i < n->n_xattrs; i++) {
        const node_xattr *x = &n->xattrs[i];
        /* Capabilities are privileges, like set-uid: only with owners. */
        if (!r->own && strcmp(x->name, "security.capability") == 0)
            continue;
        if (fsetxattr(fd, x->name, x->value, x->value_len, 0) != 0)
            META_FAIL("set xattr %s", x->name);
    }
    if (fchmod(fd, mode_of(r, n)) != 0)
        META_FAIL("set mode %04o", (unsigned)mode_of(r, n));
    struct timespec ts[2];
    mtime_of(n, ts);
    if (futimens(fd, ts) != 0)
        META_FAIL("set mtime");
#undef META_FAIL
    return err;
}

/* As fs_meta_fd for an entry that cannot be opened (symlink, fifo,
 * device), by name and without following it.  Their xattrs are not
 * restored: Linux has no fsetxattr by name relative to a descriptor. */
static int fs_meta_at(const restorer *r, int dirfd, const char *name,
                      const tree_node *n, const char **what)
{
    if (needs_chown(r, n, &r->dir_gid) &&
        fchownat(dirfd, name, (uid_t)n->uid, (gid_t)n->gid,
                 AT_SYMLINK_NOFOLLOW) != 0) {
        *what = "set owner";
        return errno;
    }
    if (n->type != NODE_SYMLINK &&
        fchmodat(dirfd, name, mode_of(r, n), AT_SYMLINK_NOFOLLOW) != 0) {
        *what = "set mode";
        return errno;
    }
    struct timespec ts[2];
    mtime_of(n, ts);
    if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) != 0) {
        *what = "set mtime";
        return errno;
    }
    return 0;
}

typedef int (*temp_create)(int dirfd, const char *tmp, const void *arg);

/* Creates an entry with create() under a fresh temporary name next to
 * name (kept in tmp).  Returns what create returned (a descriptor or 0),
 * or -1 with errno. */
static int make_temp(restorer *r, int dirfd, const char *name,
                     char tmp[NAME_MAX + 1], temp_create create,
                     const void *arg)
{
    size_t keep = strlen(name);
    size_t room = NAME_MAX - (sizeof TEMP_TAG - 1) - 2 * TEMP_RANDOM_BYTES;
    if (keep > room)
        keep = room;
    for (int tries = 0; tries < 8; tries++) {
        uint64_t seq = atomic_fetch_add(&r->temp_seq, 1);
        snprintf(tmp, NAME_MAX + 1, "%.*s" TEMP_TAG "%016llx", (int)keep,
                 name, (unsigned long long)(r->temp_base + seq));
        int ret = create(dirfd, tmp, arg);
        if (ret >= 0 || errno != EEXIST)
            return ret;
    }
    return -1;
}

static int create_file(int dirfd, const char *tmp, const void *arg)
{
    (void)arg;
    return openat(dirfd, tmp,
                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
}

static int create_symlink(int dirfd, const char *tmp, const void *arg)
{
    return symlinkat((const char *)arg, dirfd, tmp);
}

static int create_node(int dirfd, const char *tmp, const void *arg)
{
    const tree_node *n = arg;
    mode_t type = n->type == NODE_FIFO      ? S_IFIFO
                  : n->type == NODE_CHARDEV ? S_IFCHR
                                            : S_IFBLK;
    return mknodat(dirfd, tmp, type | 0600, (dev_t)n->rdev);
}

typedef struct link_source {
    int dirfd;
    const char *name;
} link_source;

static int create_link(int dirfd, const char *tmp, const void *arg)
{
    const link_source *src = arg;
    return linkat(src->dirfd, src->name, dirfd, tmp, 0);
}

/* Moves the finished temporary tmp to name.  Only with overwrite is an
 * existing entry replaced, and rename() never replaces a directory with a
 * non-directory nor follows a symlink that is there. */
static int place(const restorer *r, int dirfd, const char *tmp,
                 const char *name)
{
    if (r->opt->overwrite)
        return renameat(dirfd, tmp, dirfd, name);
    if (renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    /* No RENAME_NOREPLACE on this file system: link() fails if name
     * exists, atomically too. */
    if (linkat(dirfd, tmp, dirfd, name, 0) != 0)
        return -1;
    unlinkat(dirfd, tmp, 0);
    return 0;
}

/* place(), reporting and removing the temporary if it fails.  1: placed. */
static int place_or_report(restorer *r, int dirfd, const char *tmp,
                           const char *name, const char *path)
{
    if (place(r, dirfd, tmp, name) == 0)
        return 1;
    int e = errno;
    unlinkat(dirfd, tmp, 0);
    report_errno_at(r, path, e, "put into place");
    return 0;
}

/* Opens the directory holding the restored path rel (relative to the
 * target), one component at a time, never through a symlink.  -1: errno. */
static int open_parent(const restorer *r, const char *rel,
                       const char **base)
{
    const char *slash = strrchr(rel, '/');
    *base = slash ? slash + 1 : rel;
    int fd = dup(r->target_fd);
    const char *p = rel;
    while (fd >= 0 && slash && p < slash) {
        const char *end = strchr(p, '/');
        char comp[NAME_MAX + 1];
        if ((size_t)(end - p) > NAME_MAX) {
            close(fd);
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(comp, p, (size_t)(end - p));
        comp[end - p] = '\0';
        int next = openat(fd, comp,
                          O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        close(fd);
        errno = e;
        fd = next;
        p = end + 1;
    }
    return fd;
}

/* A later occurrence of a hardlinked file: a link to the first one. */
static void fs_hardlink(restorer *r, int dirfd, const tree_node *n,
                        const char *first)
{
    link_source src;
    src.dirfd = open_parent(r, first, &src.name);
    if (src.dirfd < 0) {
        report_errno(r, errno, "open the first link's directory");
        return;
    }
    char tmp[NAME_MAX + 1];
    int ret = make_temp(r, dirfd, n->name, tmp, create_link, &src);
    int e = errno;
    close(src.dirfd);
    if (ret < 0) {
        report_errno(r, e, "link to the first occurrence");
        return;
    }
    if (place_or_report(r, dirfd, tmp, n->name, r->path))
        count_file(r, 0);
}

typedef struct fs_out {
    int fd;
    int hole_at_end; /* the last chunk was skipped: ftruncate sets size */
} fs_out;

static vault_error write_all_fd(int fd, const uint8_t *data, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return vlt_fail_errno(errno, "write");
        }
        data += w;
        len -= (size_t)w;
    }
    return VAULT_OK;
}

/* The file system's block: runs of zeros this long become holes. */
#define HOLE_BLOCK 4096

/* Writes a chunk, seeking over every block-sized run of zeros so that a
 * sparse file comes back sparse (chunks are large: a file with a few
 * bytes in a big hole has them in a chunk that is otherwise zeros). */
static vault_error fs_sink(restorer *r, void *ctx, const uint8_t *data,
                           size_t len)
{
    (void)r;
    fs_out *out = ctx;
    if (!data) { /* a chunk of zeros: all hole */
        if (lseek(out->fd, (off_t)len, SEEK_CUR) < 0)
            return vlt_fail_errno(errno, "seek");
        out->hole_at_end = len > 0 || out->hole_at_end;
        return VAULT_OK;
    }
    size_t pos = 0;
    while (pos < len) {
        size_t block = len - pos < HOLE_BLOCK ? len - pos : HOLE_BLOCK;
        if (all_zero(data + pos, block)) {
            size_t run = block;
            while (pos + run < len) {
                size_t next = len - pos - run < HOLE_BLOCK ? len - pos - run
                                                           : HOLE_BLOCK;
                if (!all_zero(data + pos + run, next))
                    break;
                run += next;
            }
            if (lseek(out->fd, (off_t)run, SEEK_CUR) < 0)
                return vlt_fail_errno(errno, "seek");
            pos += run;
            out->hole_at_end = 1;
            continue;
        }
        size_t run = block;
        while (pos + run < len) {
            size_t next = len - pos - run < HOLE_BLOCK ? len - pos - run
                                                       : HOLE_BLOCK;
            if (all_zero(data + pos + run, next))
                break;
            run += next;
        }
        vault_error rc = write_all_fd(out->fd, data + pos, run);
        if (rc != VAULT_OK)
            return rc;
        pos += run;
        out->hole_at_end = 0;
    }
    return VAULT_OK;
}

/* Restores file n (not a later hardlink) in dirfd, reporting failures
 * as path's; on any thread.  *placed: it got its name.  The return
 * value is for fatal errors. */
static vault_error fs_file_content(restorer *r, int dirfd, const tree_node *n,
                                   const char *path, gid_t dir_gid,
                                   int *placed)
{
    *placed = 0;
    char tmp[NAME_MAX + 1];
    fs_out out = {make_temp(r, dirfd, n->name, tmp, create_file, NULL), 0};
    if (out.fd < 0) {
        report_errno_at(r, path, errno, "create a temporary file");
        return VAULT_OK;
    }
    uint64_t done;
    vault_error rc = content_each(r, n, fs_sink, &out, &done);
    if (rc == VAULT_OK && out.hole_at_end &&
        ftruncate(out.fd, (off_t)n->size) != 0)
        rc = vlt_fail_errno(errno, "set size");
    char what[TREE_XATTR_NAME_MAX + 32];
    int meta_err = 0;
    if (rc == VAULT_OK)
        meta_err = fs_meta_fd(r, out.fd, n, &dir_gid, what, sizeof what);
    if (close(out.fd) != 0 && rc == VAULT_OK)
        rc = vlt_fail_errno(errno, "close");
    if (rc != VAULT_OK) {
        unlinkat(dirfd, tmp, 0);
        if (rc == VAULT_E_NOMEM)
            return rc;
        report(r, path, rc, vault_last_error());
        return VAULT_OK;
    }
    if (!place_or_report(r, dirfd, tmp, n->name, path))
        return VAULT_OK;
    *placed = 1;
    count_file(r, n->size);
    if (meta_err)
        report_errno_at(r, path, meta_err, what); /* the file stays */
    return VAULT_OK;
}

/* ---- directories being restored ---------------------------------------- */

/* Finishes directory d (no reference left; any thread): its metadata,
 * unless a fatal error ended the restore, then closes and frees it. */
static void dir_finish(restorer *r, open_dir *d)
{
    if (d->node) {
        lock(r);
        int fatal = r->fatal != VAULT_OK;
        unlock(r);
        char what[TREE_XATTR_NAME_MAX + 32];
        int e = fatal ? 0 : fs_meta_fd(r, d->fd, d->node, NULL, what,
                                       sizeof what);
        if (e)
            report_errno_at(r, d->path, e, what);
        close(d->fd);
    }
    vlt_tree_clear(&d->children);
    free(d->path);
    free(d);
}

/* Drops a reference on d, finishing it (and then perhaps its parents) if
 * it was the last.  Not holding mu. */
static void dir_release(restorer *r, open_dir *d)
{
    while (d) {
        lock(r);
        assert(d->refs > 0);
        size_t left = --d->refs;
        if (!left)
            r->open_dirs--;
        unlock(r);
        if (left)
            return;
        open_dir *parent = d->parent;
        dir_finish(r, d);
        d = parent;
    }
}

/* A new directory object for fd, holding the walker's reference and one
 * on its parent (the walker's directory; NULL for the target).  Takes
 * over children (cleared on failure too); NULL: out of memory. */
static open_dir *dir_open(restorer *r, int fd, const tree_node *n,
                          tree *children)
{
    open_dir *d = malloc(sizeof *d);
    char *path = strdup(r->path);
    if (!d || !path) {
        free(d);
        free(path);
        vlt_tree_clear(children);
        return NULL;
    }
    *d = (open_dir){r->dir, n, *children, fd, 1, path};
    memset(children, 0, sizeof *children);
    lock(r);
    if (d->parent)
        d->parent->refs++;
    r->open_dirs++;
    unlock(r);
    return d;
}

/* ---- workers ------------------------------------------------------------ */

/* Runs job j (any thread; not holding mu) and frees it.  After a fatal
 * error the rest are only counted off: the restore is over. */
static void job_run(restorer *r, file_job *j)
{
    pthread_mutex_lock(&r->mu);
    int skip = r->fatal != VAULT_OK;
    pthread_mutex_unlock(&r->mu);
    int placed;
    vault_error rc = skip ? VAULT_OK
                          : fs_file_content(r, j->dir->fd, j->n, j->path,
                                            j->dir_gid, &placed);
    if (rc != VAULT_OK) {
        pthread_mutex_lock(&r->mu);
        if (r->fatal == VAULT_OK) {
            r->fatal = rc;
            snprintf(r->fatal_detail, sizeof r->fatal_detail, "%s",
                     vault_last_error());
        }
        pthread_mutex_unlock(&r->mu);
    }
    /* Before the job counts as finished: whoever waits for all jobs may
     * then rely on every directory being finished too. */
    dir_release(r, j->dir);
    pthread_mutex_lock(&r->mu);
    assert(r->unfinished > 0);
    r->unfinished--;
    if (r->waiters)
        pthread_cond_broadcast(&r->done);
    pthread_mutex_unlock(&r->mu);
    free(j->path);
    free(j);
}

/* The queue's first job, taken off it (mu held), or NULL. */
static file_job *job_pop(restorer *r)
{
    file_job *j = r->head;
    if (j) {
        r->head = j->next;
        if (!r->head)
            r->tail = NULL;
        r->queued--;
    }
    return j;
}

static void *worker_main(void *arg)
{
    restorer *r = arg;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        file_job *j = job_pop(r);
        if (!j) {
            if (r->stopping)
                break;
            r->idle++;
            pthread_cond_wait(&r->work, &r->mu);
            r->idle--;
            continue;
        }
        pthread_mutex_unlock(&r->mu);
        job_run(r, j);
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* The fatal error a job met, raised on this thread, or VAULT_OK. */
static vault_error jobs_fatal(restorer *r)
{
    if (!r->n_threads)
        return VAULT_OK;
    pthread_mutex_lock(&r->mu);
    vault_error rc = r->fatal;
    char detail[sizeof r->fatal_detail];
    memcpy(detail, r->fatal_detail, sizeof detail);
    pthread_mutex_unlock(&r->mu);
    if (rc != VAULT_OK)
        return vlt_fail(rc, "%s", detail);
    return VAULT_OK;
}

/* Waits until *count (guarded by mu: restorer.unfinished, or a
 * directory's refs) is at most floor, running queued jobs meanwhile. */
static void jobs_wait(restorer *r, const size_t *count, size_t floor)
{
    if (!r->n_threads)
        return;
    pthread_mutex_lock(&r->mu);
    while (*count > floor) {
        file_job *j = job_pop(r);
        if (j) {
            pthread_mutex_unlock(&r->mu);
            job_run(r, j);
            pthread_mutex_lock(&r->mu);
        } else {
            r->waiters++;
            pthread_cond_wait(&r->done, &r->mu);
            r->waiters--;
        }
    }
    pthread_mutex_unlock(&r->mu);
}

/* Queues file n (the current item, in the walker's directory), or runs
 * a job itself while the queue is full. */
static vault_error jobs_submit(restorer *r, const tree_node *n)
{
    file_job *j = malloc(sizeof *j);
    char *path = strdup(r->path);
    if (!j || !path) {
        free(j);
        free(path);
        return nomem();
    }
    *j = (file_job){NULL, r->dir, n, path, r->dir_gid};
    pthread_mutex_lock(&r->mu);
    while (r->queued >= RESTORE_QUEUE_MAX) {
        file_job *other = job_pop(r);
        pthread_mutex_unlock(&r->mu);
        job_run(r, other);
        pthread_mutex_lock(&r->mu);
    }
    if (r->tail)
        r->tail->next = j;
    else
        r->head = j;
    r->tail = j;
    r->queued++;
    r->unfinished++;
    r->dir->refs++;
    if (r->idle)
        pthread_cond_signal(&r->work);
    pthread_mutex_unlock(&r->mu);
    return jobs_fatal(r);
}

/* Starts up to want workers; fewer (even none) when threads cannot be
 * had: the walker then does more itself. */
static void workers_start(restorer *r, unsigned want)
{
    if (want == 0)
        return;
    r->threads = calloc(want, sizeof *r->threads);
    if (!r->threads)
        return;
    if (pthread_mutex_init(&r->mu, NULL) != 0)
        goto no_threads;
    if (pthread_cond_init(&r->work, NULL) != 0) {
        pthread_mutex_destroy(&r->mu);
        goto no_threads;
    }
    if (pthread_cond_init(&r->done, NULL) != 0) {
        pthread_cond_destroy(&r->work);
        pthread_mutex_destroy(&r->mu);
        goto no_threads;
    }
    for (unsigned i = 0; i < want; i++) {
        if (pthread_create(&r->threads[r->n_threads], NULL, worker_main,
                           r) != 0)
            break;
        r->n_threads++;
    }
    if (r->n_threads)
        return;
    pthread_cond_destroy(&r->done);
    pthread_cond_destroy(&r->work);
    pthread_mutex_destroy(&r->mu);
no_threads:
    free(r->threads);
    r->threads = NULL;
}

/* Stops the workers (the queue is empty: every directory waited). */
static void workers_stop(restorer *r)
{
    if (!r->n_threads) {
        free(r->threads);
        r->threads = NULL;
        return;
    }
    pthread_mutex_lock(&r->mu);
    assert(!r->head);
    r->stopping = 1;
    pthread_cond_broadcast(&r->work);
    pthread_mutex_unlock(&r->mu);
    for (unsigned i = 0; i < r->n_threads; i++)
        pthread_join(r->threads[i], NULL);
    pthread_cond_destroy(&r->done);
    pthread_cond_destroy(&r->work);
    pthread_mutex_destroy(&r->mu);
    free(r->threads);
    r->threads = NULL;
    r->n_threads = 0;
}

/* A file: a link to an earlier occurrence, a job for the workers, or
 * (hardlinked, or without workers) restored here. */
static vault_error fs_file(restorer *r, int dirfd, const tree_node *n)
{
    const char *first = links_find(r, n);
    if (first) {
        fs_hardlink(r, dirfd, n, first);
        return VAULT_OK;
    }
    if (r->n_threads && n->nlink < 2)
        return jobs_submit(r, n);
    int placed;
    vault_error rc = fs_file_content(r, dirfd, n, r->path, r->dir_gid,
                                     &placed);
    if (rc != VAULT_OK || !placed)
        return rc;
    return links_add(r, n);
}

/* Symlinks, fifos and devices. */
static void fs_special(restorer *r, int dirfd, const tree_node *n)
{
    char tmp[NAME_MAX + 1];
    int ret = n->type == NODE_SYMLINK
                  ? make_temp(r, dirfd, n->name, tmp, create_symlink,
                              n->target)
                  : make_temp(r, dirfd, n->name, tmp, create_node, n);
    if (ret < 0) {
        report_errno(r, errno, "create");
        return;
    }
    const char *what = NULL;
    int meta_err = fs_meta_at(r, dirfd, tmp, n, &what);
    if (!place_or_report(r, dirfd, tmp, n->name, r->path))
        return;
    if (n->type == NODE_SYMLINK)
        r->stats->symlinks++;
    else
        r->stats->others++;
    if (meta_err)
        report_errno(r, meta_err, what);
}

/* Opens (creating if needed) the directory name in dirfd for restoring
 * into.  An existing directory is merged; anything else in the way - a
 * symlink included, which is never followed - is replaced only with
 * overwrite.  -1: reported. */
static int fs_open_dir(restorer *r, int dirfd, const char *name)
{
    const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    int created = mkdirat(dirfd, name, 0700) == 0;
    if (!created && errno != EEXIST) {
        report_errno(r, errno, "create directory");
        return -1;
    }
    int fd = openat(dirfd, name, flags);
    if (fd < 0 && !created && (errno == ELOOP || errno == ENOTDIR)) {
        if (!r->opt->overwrite) {
            report_last(r, vlt_fail(VAULT_E_EXISTS,
                                      "exists and is not a directory "
                                      "(symlinks are not followed)"));
            return -1;
        }
        if (unlinkat(dirfd, name, 0) != 0 || mkdirat(dirfd, name, 0700) != 0) {
            report_errno(r, errno, "replace with a directory");
            return -1;
        }
        created = 1;
        fd = openat(dirfd, name, flags);
    }
    if (fd < 0) {
        report_errno(r, errno, "open directory");
        return -1;
    }
    struct stat st;
    if (!created && fstat(fd, &st) == 0 && (st.st_mode & S_IRWXU) != S_IRWXU)
        (void)fchmod(fd, (st.st_mode & 07777) | S_IRWXU); /* mode set later */
    return fd;
}

/* The group entries made in directory fd get: its own with the set-gid
 * bit, else ours.  Unknown (never a match, so chown is done) when fstat
 * fails. */
static gid_t dir_new_gid(const restorer *r, int fd)
{
    struct stat st;
    if (!r->own)
        return r->egid;
    if (fstat(fd, &st) != 0)
        return (gid_t)-1;
    return (st.st_mode & S_ISGID) ? st.st_gid : r->egid;
}

/* ---- tar mode ----------------------------------------------------------- */

static vault_error tar_fatal(restorer *r, const char *what)
{
    r->tar_broken = 1;
    return vlt_fail(VAULT_E_IO, "tar: %s: %s", what,
                    archive_error_string(r->ar) ? archive_error_string(r->ar)
                                                : "failed");
}

/* Writes the header of the current item.  *written: 0 when the entry
 * was refused (reported); the return value is for fatal errors. */
/* The data regions of a file whose zero chunks are holes: [offset,
 * length] pairs, in order. */
typedef struct sparse_map {
    uint64_t (*data)[2];
    size_t n;
} sparse_map;

/* Appends the data region [from, to) of a file of size bytes, widened to
 * 512-byte blocks - GNU tar reads each region from a fresh block of the
 * stream while libarchive writes them back to back; block-aligned regions
 * suit both - and merged into the previous one if they now touch. */
static void sparse_add(sparse_map *map, uint64_t from, uint64_t to,
                       uint64_t size)
{
    from &= ~(uint64_t)511;
    to = (to + 511) & ~(uint64_t)511;
    if (to > size)
        to = size;
    uint64_t(*last)[2] = map->n ? &map->data[map->n - 1] : NULL;
    if (last && from <= (*last)[0] + (*last)[1]) {
        (*last)[1] = to - (*last)[0];
        return;
    }
    map->data[map->n][0] = from;
    map->data[map->n][1] = to - from;
    map->n++;
}

/* Fills map for file n when its chunks include zeros the source knows by
 * ID (else leaves it empty: a plain entry).  A chunk the source cannot
 * size, or sizes that do not add up to n->size, also leave it empty:
 * content_each then reports the damage. */
static vault_error tar_sparse_map(restorer *r, const tree_node *n,
                                  sparse_map *map)
{
    map->data = NULL;
    map->n = 0;
    if (!r->src->chunk_size || n->n_content == 0)
        return VAULT_OK;
    /* At most one data region per chunk. */
    map->data = malloc((size_t)n->n_content * sizeof *map->data);
    if (!map->data)
        return nomem();
    uint64_t at = 0, start = 0;
    int in_data = 0, any_zero = 0;
    vault_error rc = VAULT_OK;
    for (uint32_t i = 0; i < n->n_content && rc == VAULT_OK; i++) {
        uint32_t len = 0;
        int zero = 0;
        rc = r->src->chunk_size(r->src->ctx, n->content[i], &len, &zero);
        if (rc == VAULT_OK && zero && in_data)
            sparse_add(map, start, at, n->size);
        if (rc == VAULT_OK && !zero && !in_data)
            start = at;
        in_data = !zero;
        any_zero |= zero;
        at += len;
    }
    if (rc == VAULT_OK && in_data)
        sparse_add(map, start, at, n->size);
    if (rc == VAULT_OK && map->n == 0) { /* all zeros: one empty region */
        map->data[0][0] = at;
        map->data[0][1] = 0;
        map->n = 1;
    }
    if (rc != VAULT_OK || !any_zero || at != n->size) {
        free(map->data);
        map->data = NULL;
        map->n = 0;
    }
    return rc == VAULT_E_NOMEM ? rc : VAULT_OK;
}

static vault_error tar_header(restorer *r, const tree_node *n,
                              const char *hardlink, const sparse_map *map,
                              int *written)
{
    *written = 0;
    struct archive_entry *e = archive_entry_new();
    if (!e)
        return nomem();
    archive_entry_set_pathname(e, r->path);
    switch (n->type) {
    case NODE_FILE: archive_entry_set_filetype(e, AE_IFREG); break;
    case NODE_DIR: archive_entry_set_filetype(e, AE_IFDIR); break;
    case NODE_SYMLINK: archive_entry_set_filetype(e, AE_IFLNK); break;
    case NODE_FIFO: archive_entry_set_filetype(e, AE_IFIFO); break;
    case NODE_CHARDEV: archive_entry_set_filetype(e, AE_IFCHR); break;
    case NODE_BLOCKDEV: archive_entry_set_filetype(e, AE_IFBLK); break;
    case NODE_SOCKET: break; /* never asked for */
    }
    archive_entry_set_perm(e, (mode_t)(n->mode & 07777));
    archive_entry_set_uid(e, n->uid);
    archive_entry_set_gid(e, n->gid);
    if (n->user && n->user[0])
        archive_entry_set_uname(e, n->user);
    if (n->group && n->group[0])
        archive_entry_set_gname(e, n->group);
    /* libarchive's pax writer prints a time as "<sec>.<nsec>", which a
     * reader takes as sec + 0.nsec even when sec is negative: before 1970
     * -301246201 s + 0.75 s would come out as -301246201.75 instead of
     * -301246200.25.  Handing it the time rounded towards zero makes the
     * printed decimal the true value. */
    int64_t sec = n->mtime_sec;
    long nsec = (long)n->mtime_nsec;
    if (sec < 0 && nsec > 0) {
        sec += 1;
        nsec = 1000000000L - nsec;
    }
    archive_entry_set_mtime(e, (time_t)sec, nsec);
    if (n->type == NODE_FILE && !hardlink)
        archive_entry_set_size(e, (la_int64_t)n->size);
    else
        archive_entry_set_size(e, 0);
    if (hardlink)
        archive_entry_set_hardlink(e, hardlink);
    if (n->type == NODE_SYMLINK)
        archive_entry_set_symlink(e, n->target);
    if (n->type == NODE_CHARDEV || n->type == NODE_BLOCKDEV)
        archive_entry_set_rdev(e, (dev_t)n->rdev);
    /* Written as GNU sparse 1.0 pax attributes; libarchive then drops the
     * zeros written for the holes. */
    for (size_t i = 0; map && i < map->n; i++)
        archive_entry_sparse_add_entry(e, (la_int64_t)map->data[i][0],
                                       (la_int64_t)map->data[i][1]);
    for (uint32_t i = 0; i < n->n_xattrs; i++)
        archive_entry_xattr_add_entry(e, n->xattrs[i].name,
                                      n->xattrs[i].value,
                                      n->xattrs[i].value_len);
    int ret = archive_write_header(r->ar, e);
    archive_entry_free(e);
    if (ret == ARCHIVE_FATAL)
        return tar_fatal(r, "write header");
    if (ret < ARCHIVE_WARN) {
        report_last(r, vlt_fail(VAULT_E_IO, "tar: %s",
                                  archive_error_string(r->ar)));
        return VAULT_OK;
    }
    *written = 1;
    return VAULT_OK;
}

static vault_error tar_sink(restorer *r, void *ctx, const uint8_t *data,
                            size_t len)
{
    (void)ctx;
    static const uint8_t zeros[65536];
    while (len > 0) {
        /* Zeros in a hole of the sparse map cost libarchive nothing. */
        size_t n = data ? len : len < sizeof zeros ? len : sizeof zeros;
        la_ssize_t w = archive_write_data(r->ar, data ? data : zeros, n);
        if (w <= 0)
            return tar_fatal(r, "write data");
        if (data)
            data += w;
        len -= (size_t)w;
    }
    return VAULT_OK;
}

static vault_error tar_file(restorer *r, const tree_node *n)
{
    const char *first = links_find(r, n);
    /* The header promises n->size bytes before any content is read; a
     * hostile tree claiming more than its chunks can hold would have us
     * pad with zeros without end.  Chunks are at most CHUNKER_MAX_SIZE. */
    if (!first && n->size > (uint64_t)n->n_content * CHUNKER_MAX_SIZE) {
        report_last(r, vlt_fail(VAULT_E_CORRUPT,
                                  "size %llu is more than its %u chunks "
                                  "can hold",
                                  (unsigned long long)n->size,
                                  (unsigned)n->n_content));
        return VAULT_OK;
    }
    sparse_map map = {NULL, 0};
    vault_error rc = first ? VAULT_OK : tar_sparse_map(r, n, &map);
    int written = 0;
    if (rc == VAULT_OK)
        rc = tar_header(r, n, first, &map, &written);
    free(map.data);
    if (rc != VAULT_OK || !written)
        return rc;
    if (first) {
        r->stats->files++;
        return VAULT_OK;
    }
    uint64_t done;
    rc = content_each(r, n, tar_sink, NULL, &done);
    if (r->tar_broken || rc == VAULT_E_NOMEM)
        return rc;
    if (rc != VAULT_OK) {
        /* The header promised n->size bytes: zeros keep the stream
         * well-formed, the report says this entry is damaged. */
        report_last(r, rc);
        return tar_sink(r, NULL, NULL, n->size - done);
    }
    r->stats->files++;
    r->stats->bytes += n->size;
    return links_add(r, n);
}

static void tar_special(restorer *r, const tree_node *n, vault_error *rc)
{
    int written;
    *rc = tar_header(r, n, NULL, NULL, &written);
    if (*rc == VAULT_OK && written) {
        if (n->type == NODE_SYMLINK)
            r->stats->symlinks++;
        else
            r->stats->others++;
    }
}

/* ---- the walk ----------------------------------------------------------- */

/* The includes in sub[] lead below an item that failed (already
 * reported): not "not found" as well. */
static void includes_done(restorer *r, const size_t *sub, size_t n_sub)
{
    for (size_t i = 0; i < n_sub; i++)
        r->inc[sub[i]].done = 1;
}

static vault_error walk(restorer *r, int dirfd, const tree *t,
                        const size_t *active, size_t n_active, int full,
                        unsigned depth);

/* A directory: its tree, the directory or header, its children, then (in
 * directory mode) its metadata. */
static vault_error restore_dir(restorer *r, int dirfd, const tree_node *n,
                               const size_t *sub, size_t n_sub, int full,
                               unsigned depth)
{
    if (depth + 1 >= RESTORE_MAX_DEPTH) {
        includes_done(r, sub, n_sub);
        report_last(r, vlt_fail(VAULT_E_UNSUPPORTED,
                                  "nested deeper than %d directories",
                                  RESTORE_MAX_DEPTH));
        return VAULT_OK;
    }
    tree child = {0};
    vault_error rc = r->src->load_tree(r->src->ctx, n->subtree, &child);
    if (rc != VAULT_OK) {
        vlt_tree_clear(&child);
        if (rc == VAULT_E_NOMEM)
            return rc;
        includes_done(r, sub, n_sub);
        report_last(r, rc);
        return VAULT_OK;
    }
    if (r->ar) {
        int written;
        rc = tar_header(r, n, NULL, NULL, &written);
        if (rc == VAULT_OK && written) {
            r->stats->dirs++;
            rc = walk(r, -1, &child, sub, n_sub, full, depth + 1);
        } else {
            includes_done(r, sub, n_sub);
        }
        vlt_tree_clear(&child);
        return rc;
    }
    int fd = fs_open_dir(r, dirfd, n->name);
    if (fd < 0) {
        includes_done(r, sub, n_sub);
        vlt_tree_clear(&child);
        return VAULT_OK;
    }
    open_dir *d = dir_open(r, fd, n, &child);
    if (!d) {
        close(fd);
        return nomem();
    }
    r->stats->dirs++;
    gid_t parent_gid = r->dir_gid;
    r->dir_gid = dir_new_gid(r, fd);
    r->dir = d;
    rc = walk(r, fd, &d->children, sub, n_sub, full, depth + 1);
    r->dir_gid = parent_gid;
    r->dir = d->parent;
    lock(r);
    int crowded = r->open_dirs > RESTORE_OPEN_DIRS_MAX;
    unlock(r);
    if (crowded)
        jobs_wait(r, &d->refs, 1); /* finish it here, as the last one */
    dir_release(r, d);
    if (rc == VAULT_OK)
        rc = jobs_fatal(r);
    return rc;
}

static vault_error restore_node(restorer *r, int dirfd, const tree_node *n,
                                const size_t *sub, size_t n_sub, int full,
                                unsigned depth)
{
    vault_error rc = VAULT_OK;
    switch (n->type) {
    case NODE_DIR:
        return restore_dir(r, dirfd, n, sub, n_sub, full, depth);
    case NODE_FILE:
        return r->ar ? tar_file(r, n) : fs_file(r, dirfd, n);
    case NODE_SYMLINK:
        if (!n->target || !n->target[0]) {
            report_last(r, vlt_fail(VAULT_E_CORRUPT, "symlink without a "
                                                       "target"));
            return VAULT_OK;
        }
        /* fall through */
    case NODE_FIFO:
    case NODE_CHARDEV:
    case NODE_BLOCKDEV:
        /* Devices need privilege: without it mknodat fails with EPERM,
         * which is reported like any other failure. */
        if (r->ar)
            tar_special(r, n, &rc);
        else
            fs_special(r, dirfd, n);
        return rc;
    case NODE_SOCKET:
        /* Skipped silently, in both modes (as restic and tar do): a
         * socket is made by the program that listens on it, and a
         * restored one would be a dead name.  Not counted. */
        return VAULT_OK;
    }
    report_last(r, vlt_fail(VAULT_E_UNSUPPORTED, "unknown entry type %d",
                              (int)n->type));
    return VAULT_OK;
}

/* Restores the nodes of t selected by the filter: with full, all of them;
 * else those that active[] (indices into r->inc whose components up to
 * depth matched the way here) name, or lead through. */
static vault_error walk(restorer *r, int dirfd, const tree *t,
                        const size_t *active, size_t n_active, int full,
                        unsigned depth)
{
    size_t *sub = NULL;
    if (n_active) {
        sub = malloc(n_active * sizeof *sub);
        if (!sub)
            return nomem();
    }
    vault_error rc = VAULT_OK;
    for (uint32_t i = 0; i < t->n_nodes && rc == VAULT_OK; i++) {
        const tree_node *n = &t->nodes[i];
        const char *name = n->name ? n->name : "";
        size_t n_sub = 0;
        int sub_full = full;
        for (size_t a = 0; a < n_active; a++) {
            include_path *inc = &r->inc[active[a]];
            assert(depth < inc->n_comps);
            if (strcmp(inc->comps[depth], name) != 0)
                continue;
            if (inc->n_comps == depth + 1) {
                inc->done = 1;
                sub_full = 1;
            } else {
                sub[n_sub++] = active[a];
            }
        }
        if (!sub_full && !(n_sub && n->type == NODE_DIR))
            continue;
        size_t mark;
        rc = path_push(r, name, &mark);
        if (rc != VAULT_OK)
            break;
        if (!name_ok(n->name)) {
            includes_done(r, sub, n_sub);
            report_last(r, vlt_fail(VAULT_E_UNSAFE_PATH,
                                      "refused the entry name \"%s\"", name));
        } else {
            rc = restore_node(r, dirfd, n, sub, n_sub, sub_full, depth);
        }
        path_pop(r, mark);
    }
    free(sub);
    return rc;
}

/* ---- setup -------------------------------------------------------------- */

static vault_error parse_includes(restorer *r)
{
    const restore_options *opt = r->opt;
    if (opt->n_include == 0)
        return VAULT_OK;
    r->inc = calloc(opt->n_include, sizeof *r->inc);
    if (!r->inc)
        return nomem();
    r->n_inc = opt->n_include;
    for (size_t i = 0; i < opt->n_include; i++) {
        include_path *inc = &r->inc[i];
        const char *text = opt->include[i];
        if (!text)
            return vlt_fail(VAULT_E_INVALID, "restore: NULL include path");
        inc->text = text;
        size_t len = strlen(text);
        inc->buf = strdup(text);
        inc->comps = malloc((len / 2 + 1) * sizeof *inc->comps);
        if (!inc->buf || !inc->comps)
            return nomem();
        char *p = inc->buf;
        while (p) {
            char *slash = strchr(p, '/');
            if (slash)
                *slash = '\0';
            if (p[0] && strcmp(p, ".") != 0)
                inc->comps[inc->n_comps++] = p;
            p = slash ? slash + 1 : NULL;
        }
    }
    return VAULT_OK;
}

static vault_error open_output(restorer *r)
{
    const restore_options *opt = r->opt;
    if (opt->tar_fd >= 0) {
        r->ar = archive_write_new();
        if (!r->ar)
            return nomem();
        if (archive_write_set_format_pax(r->ar) != ARCHIVE_OK ||
            archive_write_open_fd(r->ar, opt->tar_fd) != ARCHIVE_OK)
            return tar_fatal(r, "open");
        return VAULT_OK;
    }
    if (mkdir(opt->target_dir, 0700) != 0 && errno != EEXIST)
        return vlt_fail_errno(errno, "%s", opt->target_dir);
    r->target_fd = open(opt->target_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (r->target_fd < 0)
        return vlt_fail_errno(errno, "%s", opt->target_dir);
    r->dir_gid = dir_new_gid(r, r->target_fd);
    return VAULT_OK;
}

static void restorer_free(restorer *r)
{
    assert(!r->n_threads);
    if (r->target_fd >= 0)
        close(r->target_fd);
    if (r->ar)
        archive_write_free(r->ar);
    for (size_t i = 0; i < r->links_cap; i++)
        free(r->links[i].path);
    free(r->links);
    for (size_t i = 0; i < r->n_inc; i++) {
        free(r->inc[i].buf);
        free(r->inc[i].comps);
    }
    free(r->inc);
    free(r->path);
}

static vault_error run(restorer *r, const uint8_t root[CHUNK_ID_BYTES])
{
    size_t mark;
    vault_error rc = parse_includes(r);
    if (rc == VAULT_OK)
        rc = path_push(r, "", &mark); /* r->path is "" at the top */
    if (rc == VAULT_OK)
        rc = open_output(r);
    if (rc != VAULT_OK)
        return rc;

    /* Every include starts active at the root; an empty one ("/")
     * selects everything. */
    size_t *active = NULL, n_active = 0;
    int full = r->n_inc == 0;
    if (r->n_inc) {
        active = malloc(r->n_inc * sizeof *active);
        if (!active)
            return nomem();
    }
    for (size_t i = 0; i < r->n_inc; i++) {
        if (r->inc[i].n_comps == 0) {
            r->inc[i].done = 1;
            full = 1;
        } else {
            active[n_active++] = i;
        }
    }

    tree t = {0};
    rc = r->src->load_tree(r->src->ctx, root, &t);
    if (rc != VAULT_OK) {
        vlt_tree_clear(&t);
        free(active);
        return vlt_fail_context(rc, "root tree");
    }
    if (r->ar) {
        rc = walk(r, -1, &t, active, n_active, full, 0);
        vlt_tree_clear(&t);
    } else {
        workers_start(r, r->opt->workers);
        r->dir = dir_open(r, r->target_fd, NULL, &t);
        if (!r->dir) {
            rc = nomem();
        } else {
            rc = walk(r, r->target_fd, &r->dir->children, active, n_active,
                      full, 0);
            dir_release(r, r->dir);
            r->dir = NULL;
        }
        jobs_wait(r, &r->unfinished, 0); /* every directory finished too */
        if (rc == VAULT_OK)
            rc = jobs_fatal(r);
        workers_stop(r);
        assert(r->open_dirs == 0);
    }
    free(active);
    if (rc != VAULT_OK)
        return rc;

    for (size_t i = 0; i < r->n_inc; i++) {
        if (!r->inc[i].done)
            report(r, r->inc[i].text, VAULT_E_NOT_FOUND,
                   "not in the snapshot");
    }
    if (r->ar && archive_write_close(r->ar) != ARCHIVE_OK)
        return tar_fatal(r, "close");
    return VAULT_OK;
}

vault_error vlt_restore_run(const restore_source *src,
                            const uint8_t root[CHUNK_ID_BYTES],
                            const restore_options *opt, restore_stats *stats)
{
    restore_stats local;
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof *stats);
    if (!src || !src->load_tree || !src->load_chunk || !root || !opt ||
        (opt->tar_fd < 0 && !opt->target_dir) || (opt->n_include && !opt->include))
        return vlt_fail(VAULT_E_INVALID, "restore: missing argument");

    restorer r = {.src = src, .opt = opt, .stats = stats, .target_fd = -1};
    r.own = opt->restore_owner && geteuid() == 0;
    r.euid = geteuid();
    r.egid = getegid();
    r.dir_gid = r.egid;
    randombytes_buf(&r.temp_base, sizeof r.temp_base);
    vault_error rc = run(&r, root);
    restorer_free(&r);
    if (rc == VAULT_OK && stats->errors)
        rc = vlt_fail(VAULT_E_PARTIAL, "restore: %llu items failed",
                      (unsigned long long)stats->errors);
    return rc;
}
