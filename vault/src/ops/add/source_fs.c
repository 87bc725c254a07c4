/*
 * source_fs.c - the file system as a source for `add` (add_source.h).
 *
 * An iterator over the paths given, depth first.  Entering a directory
 * reads all its entries, sorts them and stats each relative to the
 * directory's descriptor (one path walk each instead of one per
 * component); the descriptor serves until the directory is left.  While
 * the pipeline works on one file, the next few are opened already and
 * the kernel asked to read them (posix_fadvise), so that their bytes
 * come in meanwhile; small files are opened and read whole through
 * io_uring, many at once (see "small files through io_uring").  A pool of
 * helper threads stats the same tree ahead of the walk (see "metadata
 * read-ahead") and, on a first add, one more asks for the files' data
 * ahead of it, across directories (see "data read-ahead").
 */
#define _GNU_SOURCE /* O_NOATIME, getdents64 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <liburing.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/array.h"
#include "common/internal.h"
#include "common/phase_timer.h"
#include "common/pool.h"
#include "ops/add/add_filter.h"
#include "ops/add/add_source.h"

#define PREFETCH_FILES 4
#define PREFETCH_BYTES (4u * 1024 * 1024)

/* Small files through io_uring: how large a file is read whole, how many
 * are in flight, and how many bytes their buffers may hold together. */
#define AHEAD_FILE_MAX (256u * 1024)
#define AHEAD_FILES 32
#define AHEAD_BYTES (4u * 1024 * 1024)

/* Metadata read-ahead: threads, and how deep they go. */
#define META_THREADS 4
#define META_DEPTH_MAX 64
/* Data read-ahead (see there): bytes asked for at most beyond those of
 * the files the walk has reached. */
#define DATA_AHEAD_WINDOW ((uint64_t)256 * 1024 * 1024)

/* Where an entry's read through io_uring is. */
enum {
    AHEAD_NONE = 0, /* not asked for: the walk opens and reads it */
    AHEAD_OPENING,  /* its open is in the ring */
    AHEAD_READING,  /* open, its read is in the ring */
    AHEAD_READY     /* data holds its first data_len bytes */
};

/* One directory entry, stat'ed before any is handed over. */
typedef struct dir_entry {
    char *name;
    struct stat st;
    int ok; /* not excluded, stat'ed */
    int fd; /* opened ahead (prefetch), or -1 */
    int ahead; /* AHEAD_* */
    int open_flags; /* of its open in the ring */
    int dir_fd;     /* of the directory it is in (its open in the ring) */
    uint8_t *data; /* read ahead (AHEAD_READING, AHEAD_READY), or NULL */
    size_t data_len;
} dir_entry;

/* A directory being walked. */
typedef struct fs_frame {
    DIR *d;          /* NULL: it could not be opened (reported) */
    int dfd;         /* dirfd(d), or -1 */
    dir_entry *ents; /* sorted by name */
    size_t n_ents;
    size_t next;     /* the entry to hand over next */
    size_t ahead;    /* entries before this were considered for prefetch */
    size_t path_len; /* the directory's path is fs_source.path[0..len) */
} fs_frame;

typedef struct fs_source fs_source;

/* One metadata read-ahead job: top-level entries i % META_THREADS ==
 * shard of every path given; shard META_THREADS: the data read-ahead. */
typedef struct meta_arg {
    fs_source *s;
    unsigned shard;
    dev_t dev; /* the root's device (one_file_system) */
    char path[PATH_MAX + 1]; /* of the directory walked (excludes) */
} meta_arg;

struct fs_source {
    const vault_add_options *o;
    add_filter filter;      /* what is left out */
    int warned;             /* about patterns that matched nothing */
    filecache *cache; /* files it has are not read ahead */
    add_report_fn report;
    void *report_ctx;
    size_t next_path;       /* the o->paths entry to walk next */
    dev_t root_dev;         /* of the path being walked */
    fs_frame *stack;        /* the directories the walk is in */
    size_t depth, cap;
    /* the current item */
    int enter;              /* a directory: next() enters it */
    int enter_walk;         /* 0: keep it empty (a mount point) */
    int cur_dfd;            /* the item is at cur_at relative to this */
    const char *cur_at;
    struct stat cur_st;     /* as the walk found it */
    int cur_fd;             /* its content, opened (ahead), or -1 */
    uint8_t *cur_data;      /* its first bytes, read ahead, or NULL */
    size_t cur_data_len;    /* how many */
    size_t cur_data_used;   /* handed over already */
    size_t cur_len;         /* strlen(path) */
    char path[PATH_MAX + 1];
    /* Only counting what an add would read (progress totals): no file
     * is opened or read ahead, no helper threads. */
    int scan_only;
    /* small files through io_uring; none where the kernel refuses it */
    struct io_uring ring;
    int ring_ok;
    unsigned ahead_files;   /* entries with an open or read in the ring */
    size_t ahead_bytes;     /* the buffers of entries not handed over */
    /* metadata read-ahead */
    vlt_pool *meta;         /* NULL: none running */
    atomic_int meta_stop;   /* tells its jobs to stop */
    meta_arg meta_args[META_THREADS + 1];
    /* data read-ahead (a first add): the regular files' bytes the walk
     * has reached; the job waits on window_moved when it is a window
     * ahead */
    int data_ahead;
    uint64_t window;
    atomic_uint_fast64_t data_reached;
    atomic_uint_fast64_t data_asked; /* the job's place in the walk's order */
    atomic_int window_waiting;
    pthread_mutex_t window_lock;
    pthread_cond_t window_moved;
};

static void report(fs_source *s, const char *path, const char *fmt, ...)
    VAULT_PRINTF(3, 4);
static void report(fs_source *s, const char *path, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    s->report(s->report_ctx, path, detail);
}

char *vlt_add_owner_name(uint32_t id, int group)
{
    /* Tiny cache: most trees have one or two owners. */
    static _Thread_local uint32_t last_id[2] = {UINT32_MAX, UINT32_MAX};
    static _Thread_local char last_name[2][256];
    if (last_id[group] != id) {
        char buf[4096];
        last_name[group][0] = '\0';
        if (group) {
            struct group gr, *res = NULL;
            if (getgrgid_r(id, &gr, buf, sizeof buf, &res) == 0 && res)
                snprintf(last_name[1], 256, "%s", res->gr_name);
        } else {
            struct passwd pw, *res = NULL;
            if (getpwuid_r(id, &pw, buf, sizeof buf, &res) == 0 && res)
                snprintf(last_name[0], 256, "%s", res->pw_name);
        }
        last_id[group] = id;
    }
    return strdup(last_name[group]);
}

static vault_error node_from_stat(tree_node *n, const char *name,
                                  const struct stat *st)
{
    memset(n, 0, sizeof *n);
    if (S_ISREG(st->st_mode))
        n->type = NODE_FILE;
    else if (S_ISDIR(st->st_mode))
        n->type = NODE_DIR;
    else if (S_ISLNK(st->st_mode))
        n->type = NODE_SYMLINK;
    else if (S_ISFIFO(st->st_mode))
        n->type = NODE_FIFO;
    else if (S_ISCHR(st->st_mode))
        n->type = NODE_CHARDEV;
    else if (S_ISBLK(st->st_mode))
        n->type = NODE_BLOCKDEV;
    else
        n->type = NODE_SOCKET;
    n->mode = st->st_mode & 07777;
    n->uid = st->st_uid;
    n->gid = st->st_gid;
    n->mtime_sec = st->st_mtim.tv_sec;
    n->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
    n->size = n->type == NODE_FILE ? (uint64_t)st->st_size : 0;
    n->inode = st->st_ino;
    n->device = st->st_dev;
    n->nlink = (uint32_t)st->st_nlink;
    if (n->type == NODE_CHARDEV || n->type == NODE_BLOCKDEV)
        n->rdev = st->st_rdev;
    n->name = strdup(name);
    n->user = vlt_add_owner_name(st->st_uid, 0);
    n->group = vlt_add_owner_name(st->st_gid, 1);
    if (!n->name || !n->user || !n->group)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    return VAULT_OK;
}

static filecache_key key_from_stat(const struct stat *st)
{
    filecache_key key = {
        .size = (uint64_t)st->st_size,
        .inode = st->st_ino,
        .device = st->st_dev,
        .mtime_sec = st->st_mtim.tv_sec,
        .mtime_nsec = (uint32_t)st->st_mtim.tv_nsec,
        .ctime_sec = st->st_ctim.tv_sec,
        .ctime_nsec = (uint32_t)st->st_ctim.tv_nsec,
    };
    return key;
}

/* ---- reading ahead ------------------------------------------------------ */

/* Whether the files cache knows entry e of the directory at
 * s->path[0..path_len) unchanged: then the add reads nothing of it. */
static int cache_skips(fs_source *s, size_t path_len, const dir_entry *e)
{
    if (!s->cache) /* open's contract: NULL is no cache */
        return 0;
    size_t nlen = strlen(e->name);
    s->path[path_len] = '/';
    memcpy(s->path + path_len + 1, e->name, nlen + 1);
    filecache_key key = key_from_stat(&e->st);
    uint32_t n_ids;
    int has_xattrs;
    int hit = vlt_filecache_lookup(s->cache, s->path, &key, &n_ids,
                                   &has_xattrs) != NULL;
    s->path[path_len] = '\0';
    return hit;
}

/* Opens regular file name (relative to dfd) for reading, if it is still
 * the file the walk stat'ed as st.  A local user may have put a FIFO, a
 * device or another file in its place since: O_NONBLOCK keeps the open
 * of a FIFO from waiting for a writer (which would stall the add), and
 * fstat checks type, device and inode before a byte is read.  Returns
 * the descriptor (blocking again), or -1: *replaced says whether it was
 * no longer that file (else errno says why the open failed). */
static int open_as_stated(int dfd, const char *name, const struct stat *st,
                          int *replaced)
{
    *replaced = 0;
    int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
    int fd = openat(dfd, name, flags | O_NOATIME);
    if (fd < 0 && errno == EPERM) /* O_NOATIME needs ownership */
        fd = openat(dfd, name, flags);
    if (fd < 0)
        return -1;
    struct stat now;
    if (fstat(fd, &now) != 0 || !S_ISREG(now.st_mode) ||
        now.st_ino != st->st_ino || now.st_dev != st->st_dev) {
        close(fd);
        *replaced = 1;
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

/* Opens entry e of the directory at s->path (path_len) and asks the
 * kernel to start reading it, so that its bytes come in while the
 * pipeline is busy with the files before it.  Only files the files cache
 * cannot skip. */
static void prefetch(fs_source *s, int dfd, size_t path_len, dir_entry *e)
{
    if (!e->ok || !S_ISREG(e->st.st_mode) || e->st.st_size == 0 ||
        e->fd >= 0 || dfd < 0)
        return;
    if (cache_skips(s, path_len, e))
        return;
    int replaced;
    int fd = open_as_stated(dfd, e->name, &e->st, &replaced);
    if (fd < 0)
        return; /* read opens it again and reports */
    off_t len = e->st.st_size < (off_t)PREFETCH_BYTES ? e->st.st_size
                                                      : (off_t)PREFETCH_BYTES;
    (void)posix_fadvise(fd, 0, len, POSIX_FADV_WILLNEED);
    e->fd = fd;
}

/* ---- small files through io_uring ---------------------------------------
 * Opening and reading a small file with a cold page cache waits on the
 * disk twice (its inode, then its data) and the walk would wait file by
 * file.  Through io_uring, the opens and reads of the next AHEAD_FILES
 * small files of the directory are in flight together, in the kernel's
 * own threads; a copy of /usr/share's small files read this way took
 * 2.2 s cold instead of 4.0 s.  Each open is checked as prefetch()
 * checks it (fstat: the same regular file the walk stat'ed) before its
 * read is asked for.  Where io_uring is refused (an old kernel, a
 * seccomp filter, kernel.io_uring_disabled), prefetch() does the work. */

static void ahead_forget(fs_source *s, dir_entry *e)
{
    if (e->data) {
        free(e->data);
        e->data = NULL;
        s->ahead_bytes -= (size_t)e->st.st_size;
    }
    e->ahead = AHEAD_NONE;
}

static vault_error ahead_submit_open(fs_source *s, dir_entry *e)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
    if (!sqe)
        return VAULT_E_IO; /* not expected: the ring holds AHEAD_FILES */
    /* O_NONBLOCK: should it have become a FIFO since the stat, the open
     * must not wait for a writer. */
    io_uring_prep_openat(sqe, e->dir_fd, e->name, e->open_flags, 0);
    io_uring_sqe_set_data(sqe, e);
    e->ahead = AHEAD_OPENING;
    return VAULT_OK;
}

/* An open came back: checks it and asks for the read. */
static void ahead_opened(fs_source *s, dir_entry *e, int res)
{
    if (res == -EPERM && (e->open_flags & O_NOATIME)) {
        /* O_NOATIME needs ownership: again without */
        e->open_flags &= ~O_NOATIME;
        if (ahead_submit_open(s, e) == VAULT_OK)
            return;
    }
    if (res < 0) { /* the walk opens it again and reports */
        ahead_forget(s, e);
        return;
    }
    struct stat st;
    if (fstat(res, &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_ino != e->st.st_ino || st.st_dev != e->st.st_dev) {
        close(res);
        ahead_forget(s, e);
        return;
    }
    /* A regular file: reads may block now (a read of a file opened
     * O_NONBLOCK is not handed to io_uring's threads, it fails). */
    (void)fcntl(res, F_SETFL, e->open_flags & O_NOATIME);
    struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
    if (!sqe) {
        e->fd = res; /* the walk reads it */
        ahead_forget(s, e);
        return;
    }
    e->fd = res;
    io_uring_prep_read(sqe, res, e->data, (unsigned)e->st.st_size, 0);
    io_uring_sqe_set_data(sqe, e);
    e->ahead = AHEAD_READING;
}

/* Takes what came back, waiting for one answer at least when wait. */
static void ahead_reap(fs_source *s, int wait)
{
    unsigned seen = 0;
    struct io_uring_cqe *cqe;
    if (wait) {
        /* Other failures of io_uring_enter are misuse: not retried. */
        int r;
        do
            r = io_uring_submit_and_wait(&s->ring, 1);
        while (r == -EINTR || r == -EAGAIN || r == -EBUSY);
    }
    unsigned head;
    io_uring_for_each_cqe(&s->ring, head, cqe) {
        dir_entry *e = io_uring_cqe_get_data(cqe);
        int res = cqe->res;
        seen++;
        if (e->ahead == AHEAD_OPENING) {
            ahead_opened(s, e, res);
        } else if (res < 0) { /* the walk reads it, and reports */
            ahead_forget(s, e);
        } else {
            e->data_len = (size_t)res;
            e->ahead = AHEAD_READY;
        }
        if (e->ahead == AHEAD_NONE || e->ahead == AHEAD_READY)
            s->ahead_files--;
    }
    io_uring_cq_advance(&s->ring, seen);
    /* The reads the opens asked for go out with the next submission:
     * read_ahead()'s, or the next wait's. */
}

/* Waits until e's open and read have come back. */
static void ahead_wait(fs_source *s, dir_entry *e)
{
    while (e->ahead == AHEAD_OPENING || e->ahead == AHEAD_READING)
        ahead_reap(s, 1);
}

/* Waits for everything in the ring: before entries are freed. */
static void ahead_drain(fs_source *s)
{
    while (s->ring_ok && s->ahead_files > 0)
        ahead_reap(s, 1);
}

/* Whether entry e may be read through the ring now: a small file, with
 * room in the ring and the buffers. */
static int ahead_fits(const fs_source *s, const dir_entry *e)
{
    return s->ring_ok && e->ok && S_ISREG(e->st.st_mode) &&
           e->st.st_size > 0 && e->st.st_size <= (off_t)AHEAD_FILE_MAX &&
           s->ahead_files < AHEAD_FILES &&
           s->ahead_bytes + (size_t)e->st.st_size <= AHEAD_BYTES;
}

/* Asks for entry e (ahead_fits) of the directory at dfd to be opened and
 * read whole, unless the files cache can skip it.  path_len: the
 * directory's path is s->path[0..path_len). */
static void ahead_submit(fs_source *s, int dfd, size_t path_len,
                         dir_entry *e)
{
    if (e->fd >= 0 || e->ahead != AHEAD_NONE || dfd < 0)
        return;
    if (cache_skips(s, path_len, e) ||
        !(e->data = malloc((size_t)e->st.st_size)))
        return; /* without the buffer, the walk reads it */
    s->ahead_bytes += (size_t)e->st.st_size;
    e->dir_fd = dfd;
    e->open_flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOATIME;
    if (ahead_submit_open(s, e) != VAULT_OK) {
        ahead_forget(s, e);
        return;
    }
    s->ahead_files++;
}

/* Reads ahead of entry i of the current directory f: through the ring,
 * up to AHEAD_FILES entries ahead, stopping at a directory (nothing is
 * in flight while the walk is below it); the others, and all without a
 * ring, prefetch()ed up to PREFETCH_FILES ahead. */
static void read_ahead(fs_source *s, fs_frame *f, size_t i)
{
    while (f->ahead < f->n_ents) {
        dir_entry *e = &f->ents[f->ahead];
        size_t distance = f->ahead - i;
        if (s->ring_ok && e->ok && S_ISDIR(e->st.st_mode)) {
            break;
        } else if (ahead_fits(s, e)) { /* never without a ring */
            if (distance > AHEAD_FILES)
                break;
            ahead_submit(s, f->dfd, f->path_len, e);
        } else {
            if (distance > PREFETCH_FILES)
                break; /* again once the ring has room */
            prefetch(s, f->dfd, f->path_len, e);
        }
        f->ahead++;
    }
    if (s->ring_ok && io_uring_sq_ready(&s->ring) > 0) /* opens, reads */
        (void)io_uring_submit(&s->ring); /* failures: ahead_wait sees */
}

/* ---- metadata read-ahead ------------------------------------------------
 * With a cold page cache an unchanged re-backup waits on the disk for
 * every directory and inode it stats.  Helper threads walk the same
 * paths ahead of the walker, only stat'ing, so that those reads overlap;
 * what they learn is thrown away (it changes nothing but the page cache).
 * The top level's entries are dealt out round-robin among META_THREADS
 * jobs, so that several inode and directory reads are in flight at once.
 * They allocate nothing and stop when the walk is done.
 *
 * On a first add (the files cache knows no file, so every one will be
 * read) one more job reads the files' data ahead (see "data read-ahead"
 * below).  They allocate nothing but that job's sorted names. */

static void meta_walk(meta_arg *m, int dfd, size_t path_len, int depth)
{
    fs_source *s = m->s;
    unsigned index = 0;
    char buf[8192];
    for (;;) {
        if (atomic_load_explicit(&s->meta_stop, memory_order_relaxed))
            return;
        ssize_t got = getdents64(dfd, buf, sizeof buf);
        if (got <= 0)
            return;
        for (ssize_t off = 0; off < got;) {
            const struct dirent64 *de = (const void *)(buf + off);
            off += de->d_reclen;
            const char *name = de->d_name;
            if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                continue;
            if (depth == 0 && index++ % META_THREADS != m->shard)
                continue;
            struct stat st;
            size_t nlen = strlen(name);
            if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
                !S_ISDIR(st.st_mode) || depth >= META_DEPTH_MAX ||
                (s->o->one_file_system && st.st_dev != m->dev) ||
                path_len + 1 + nlen > PATH_MAX)
                continue;
            m->path[path_len] = '/';
            memcpy(m->path + path_len + 1, name, nlen + 1);
            if (vlt_add_filter_excludes(&s->filter, m->path, &st, 0))
                continue;
            int sub = openat(dfd, name,
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0) {
                meta_walk(m, sub, path_len + 1 + nlen, depth + 1);
                close(sub);
            }
            if (atomic_load_explicit(&s->meta_stop, memory_order_relaxed))
                return;
        }
    }
}

/* ---- data read-ahead ----------------------------------------------------
 * The walk's own reads ahead (io_uring, prefetch) stop at the end of its
 * directory, and /usr/share has 13 files per directory: each directory
 * began with a wait on the disk with nothing in flight.  On a first add
 * a job walks the tree in the walk's own order (each directory's entries
 * sorted by name, a subdirectory's right after its entry) and asks the
 * kernel for each regular file's data, at most DATA_AHEAD_WINDOW bytes
 * past the files the walk has reached: it waits for the walk there, so
 * a tree larger than the memory does not push what was read ahead out
 * of the page cache before it is used.  Behind the walk it only counts.
 * A cold first add of a /usr/share copy (58,648 files) took 4.5-6.4 s
 * (median 5.0) against 6.4-7.9 s (median 6.8) without, alternating, 4
 * runs each; with an unordered read-ahead the window cost half the gain.
 * Files the walk leaves out for a tag (--exclude-caches) are read ahead
 * all the same: at most a window's worth of reads, and a window smaller
 * by as much from there on. */

/* Waits while the file at byte `at` of the walk's order is past the
 * window; 0 when the walk is over. */
static int window_wait(fs_source *s, uint64_t at)
{
    if (at < atomic_load(&s->data_reached) + s->window)
        return !atomic_load(&s->meta_stop);
    pthread_mutex_lock(&s->window_lock);
    atomic_store(&s->window_waiting, 1);
    /* checked again after saying it waits: a walk that moved the window
     * before saw nobody waiting, and woke nobody */
    while (!atomic_load(&s->meta_stop) &&
           at >= atomic_load(&s->data_reached) + s->window)
        pthread_cond_wait(&s->window_moved, &s->window_lock);
    atomic_store(&s->window_waiting, 0);
    pthread_mutex_unlock(&s->window_lock);
    return !atomic_load(&s->meta_stop);
}

/* The walk reached a regular file of len bytes: the window moves. */
static void window_move(fs_source *s, uint64_t len)
{
    if (!s->data_ahead)
        return;
    atomic_fetch_add(&s->data_reached, len);
    if (atomic_load(&s->window_waiting)) {
        pthread_mutex_lock(&s->window_lock);
        pthread_cond_broadcast(&s->window_moved);
        pthread_mutex_unlock(&s->window_lock);
    }
}

static int name_cmp(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The names in dfd (without . and ..), sorted: *names and the names are
 * in one allocation, *block (to free); 0 if it cannot be read or held. */
static int names_sorted(int dfd, void **block, char ***names, size_t *n)
{
    char *text = NULL;
    size_t len = 0, cap = 0, count = 0;
    char buf[8192];
    for (;;) {
        ssize_t got = getdents64(dfd, buf, sizeof buf);
        if (got < 0) {
            free(text);
            return 0;
        }
        if (got == 0)
            break;
        for (ssize_t off = 0; off < got;) {
            const struct dirent64 *de = (const void *)(buf + off);
            off += de->d_reclen;
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            size_t nlen = strlen(de->d_name) + 1;
            if (VLT_ARRAY_GROW(&text, &cap, len + nlen) != 0) {
                free(text);
                return 0;
            }
            memcpy(text + len, de->d_name, nlen);
            len += nlen;
            count++;
        }
    }
    /* the pointers after the text, aligned */
    size_t at = (len + sizeof(char *) - 1) / sizeof(char *) * sizeof(char *);
    char *all = realloc(text, at + (count ? count : 1) * sizeof(char *));
    if (!all) {
        free(text);
        return 0;
    }
    char **list = (char **)(void *)(all + at);
    for (size_t i = 0, off = 0; i < count; i++) {
        list[i] = all + off;
        off += strlen(all + off) + 1;
    }
    qsort(list, count, sizeof *list, name_cmp);
    *block = all;
    *names = list;
    *n = count;
    return 1;
}

/* The walk's order below dfd (m->path, path_len long), from byte *at. */
static void data_walk(meta_arg *m, int dfd, size_t path_len, int depth,
                      uint64_t *at)
{
    fs_source *s = m->s;
    void *block;
    char **names;
    size_t n;
    if (!names_sorted(dfd, &block, &names, &n))
        return;
    for (size_t i = 0; i < n && !atomic_load(&s->meta_stop); i++) {
        const char *name = names[i];
        struct stat st;
        size_t nlen = strlen(name);
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            path_len + 1 + nlen > PATH_MAX)
            continue;
        int is_dir = S_ISDIR(st.st_mode);
        if (is_dir ? depth >= META_DEPTH_MAX ||
                         (s->o->one_file_system && st.st_dev != m->dev)
                   : !S_ISREG(st.st_mode) || st.st_size == 0)
            continue;
        m->path[path_len] = '/';
        memcpy(m->path + path_len + 1, name, nlen + 1);
        if (vlt_add_filter_excludes(&s->filter, m->path, &st, 0))
            continue;
        if (is_dir) {
            int sub = openat(dfd, name,
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0) {
                data_walk(m, sub, path_len + 1 + nlen, depth + 1, at);
                close(sub);
            }
            continue;
        }
        uint64_t len = (uint64_t)st.st_size;
        if (!window_wait(s, *at))
            break;
        /* Behind the walk: read already.  A large file's first part only
         * (the walk reads the rest in order, with the kernel's own
         * read-ahead); opened as the walk opens it, so that a FIFO or
         * device put in its place is not touched. */
        int replaced;
        int fd = *at + len <= atomic_load(&s->data_reached)
                     ? -1
                     : open_as_stated(dfd, name, &st, &replaced);
        if (fd >= 0) {
            off_t ask = (off_t)(len < s->window / 4 ? len : s->window / 4);
            (void)posix_fadvise(fd, 0, ask, POSIX_FADV_WILLNEED);
            close(fd);
        }
        *at += len;
        atomic_store(&s->data_asked, *at);
    }
    free(block);
}

/* A read-ahead job (pool run function). */
static void meta_main(void *ctx, void *state, void *job)
{
    (void)ctx;
    (void)state;
    meta_arg *m = job;
    const vault_add_options *o = m->s->o;
    uint64_t at = 0; /* the data job's place in the walk's order */
    for (size_t i = 0; i < o->n_paths && !atomic_load(&m->s->meta_stop);
         i++) {
        /* the walk's own path, which excludes are matched against */
        if (vlt_add_absolute_path(o->paths[i], m->path) != VAULT_OK)
            continue;
        int dfd = open(m->path,
                       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
            continue;
        struct stat st;
        if (fstat(dfd, &st) == 0) {
            m->dev = st.st_dev;
            size_t len = strcmp(m->path, "/") ? strlen(m->path) : 0;
            if (m->shard == META_THREADS)
                data_walk(m, dfd, len, 0, &at);
            else
                meta_walk(m, dfd, len, 0);
        }
        close(dfd);
    }
}

/* Read-ahead is an optimisation: without threads the walk goes on. */
static void meta_start(fs_source *s)
{
    atomic_init(&s->meta_stop, 0);
    atomic_init(&s->data_reached, 0);
    atomic_init(&s->data_asked, 0);
    atomic_init(&s->window_waiting, 0);
    s->meta = NULL;
    if (pthread_mutex_init(&s->window_lock, NULL) != 0) {
        s->data_ahead = 0;
        return;
    }
    if (pthread_cond_init(&s->window_moved, NULL) != 0) {
        pthread_mutex_destroy(&s->window_lock);
        s->data_ahead = 0;
        return;
    }
    unsigned jobs = META_THREADS + (s->data_ahead ? 1 : 0);
    vlt_pool_config cfg = {.threads = jobs,
                           .queue_max = jobs,
                           .run = meta_main,
                           .ctx = s};
    if (vlt_pool_create(&cfg, &s->meta) != VAULT_OK) {
        s->meta = NULL;
        pthread_cond_destroy(&s->window_moved);
        pthread_mutex_destroy(&s->window_lock);
        s->data_ahead = 0;
        return;
    }
    for (unsigned i = 0; i < jobs; i++) {
        s->meta_args[i] = (meta_arg){.s = s, .shard = i};
        (void)vlt_pool_submit(s->meta, &s->meta_args[i], 0);
    }
}

static void meta_stop(fs_source *s)
{
    if (!s->meta)
        return;
    atomic_store(&s->meta_stop, 1);
    pthread_mutex_lock(&s->window_lock); /* helpers waiting on the window */
    pthread_cond_broadcast(&s->window_moved);
    pthread_mutex_unlock(&s->window_lock);
    (void)vlt_pool_finish(s->meta, 0, VAULT_OK);
    s->meta = NULL;
    pthread_cond_destroy(&s->window_moved);
    pthread_mutex_destroy(&s->window_lock);
    s->data_ahead = 0; /* the walk no longer moves the window */
}

/* ---- the walk ----------------------------------------------------------- */

static int entry_cmp(const void *x, const void *y)
{
    return strcmp(((const dir_entry *)x)->name, ((const dir_entry *)y)->name);
}

/* Frees a directory's entries; nothing of it may be in the ring
 * (ahead_drain). */
static void frame_free(fs_frame *f)
{
    for (size_t i = 0; i < f->n_ents; i++) {
        if (f->ents[i].fd >= 0)
            close(f->ents[i].fd);
        free(f->ents[i].data);
        free(f->ents[i].name);
    }
    free(f->ents);
    if (f->d)
        closedir(f->d);
}

/* Enters the directory at s->path (s->cur_len): reads its entries,
 * sorts and stats them.  One that cannot be opened is reported and
 * walked as empty. */
static vault_error dir_read(fs_source *s);

static vault_error dir_enter(fs_source *s)
{
    uint64_t timer = vlt_phase_start();
    vault_error rc = dir_read(s);
    vlt_phase_stop(VLT_PHASE_WALK, timer);
    return rc;
}

/* dir_enter's work. */
static vault_error dir_read(fs_source *s)
{
    if (VLT_ARRAY_GROW(&s->stack, &s->cap, s->depth + 1) != 0)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    fs_frame *f = &s->stack[s->depth++];
    memset(f, 0, sizeof *f);
    f->path_len = s->cur_len;
    f->dfd = -1;
    int dfd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    f->d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!f->d && dfd >= 0)
        close(dfd);
    if (!f->d) {
        report(s, s->path, "cannot open directory: %s", strerror(errno));
        /* Stored as an empty directory so its metadata survives. */
        return VAULT_OK;
    }
    size_t cap_ents = 0;
    struct dirent *de;
    while ((de = readdir(f->d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (VLT_ARRAY_GROW(&f->ents, &cap_ents, f->n_ents + 1) != 0)
            return vlt_fail(VAULT_E_NOMEM, "out of memory");
        dir_entry *e = &f->ents[f->n_ents];
        e->ok = 0;
        e->fd = -1;
        e->ahead = AHEAD_NONE;
        e->data = NULL;
        if (!(e->name = strdup(de->d_name)))
            return vlt_fail(VAULT_E_NOMEM, "out of memory");
        f->n_ents++;
    }
    f->dfd = dirfd(f->d);
    if (f->n_ents)
        qsort(f->ents, f->n_ents, sizeof *f->ents, entry_cmp);
    size_t path_len = f->path_len;
    /* A tagged directory (--exclude-caches, --exclude-if-present) keeps
     * its tag file only. */
    size_t only = SIZE_MAX;
    if (!vlt_add_filter_tagged(&s->filter, f->dfd, s->path, f->ents,
                               f->n_ents, sizeof *f->ents, &only))
        only = SIZE_MAX;
    for (size_t i = 0; i < f->n_ents; i++) {
        dir_entry *e = &f->ents[i];
        size_t nlen = strlen(e->name);
        if (only != SIZE_MAX && i != only)
            continue;
        if (path_len + 1 + nlen > PATH_MAX) {
            report(s, s->path, "name too long: %s", e->name);
            continue;
        }
        s->path[path_len] = '/';
        memcpy(s->path + path_len + 1, e->name, nlen + 1);
        /* Stat'ed first: a trailing `/` in a pattern and the size limit
         * need the type and size. */
        if (fstatat(f->dfd, e->name, &e->st, AT_SYMLINK_NOFOLLOW) != 0)
            report(s, s->path, "cannot stat: %s", strerror(errno));
        else if (!vlt_add_filter_excludes(&s->filter, s->path, &e->st, 1))
            e->ok = 1;
        s->path[path_len] = '\0';
    }
    return VAULT_OK;
}

/* Makes st, at cur_at relative to cur_dfd with path s->path, the current
 * item. */
static vault_error item_set(fs_source *s, add_item *it, const char *name,
                            const struct stat *st)
{
    s->cur_st = *st;
    if (S_ISREG(st->st_mode))
        window_move(s, (uint64_t)st->st_size);
    it->kind = ADD_ITEM_NODE;
    it->path = s->path;
    it->key = key_from_stat(st);
    it->use_cache = 1;
    vault_error rc = node_from_stat(&it->node, name, st);
    if (rc != VAULT_OK)
        return rc;
    if (it->node.type == NODE_DIR) {
        s->enter = 1;
        s->enter_walk = !(s->o->one_file_system && st->st_dev != s->root_dev);
    } else if (it->node.type == NODE_SYMLINK) {
        char target[PATH_MAX + 1];
        ssize_t len = readlinkat(s->cur_dfd, s->cur_at, target, PATH_MAX);
        if (len <= 0) {
            report(s, s->path, "cannot read link: %s",
                   len < 0 ? strerror(errno) : "empty");
            return VAULT_OK; /* target NULL: left out */
        }
        target[len] = '\0';
        if (!(it->node.target = strdup(target)))
            return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    return VAULT_OK;
}

vault_error vlt_add_absolute_path(const char *in, char out[PATH_MAX + 1])
{
    char tmp[PATH_MAX + 1];
    if (in[0] == '/') {
        if (strlen(in) > PATH_MAX)
            return vlt_fail(VAULT_E_INVALID, "%s: path too long", in);
        memcpy(tmp, in, strlen(in) + 1);
    } else {
        char cwd[PATH_MAX + 1];
        if (!getcwd(cwd, sizeof cwd))
            return vlt_fail_errno(errno, "current directory");
        int n = snprintf(tmp, sizeof tmp, "%s/%s", cwd, in);
        if (n < 0 || (size_t)n >= sizeof tmp)
            return vlt_fail(VAULT_E_INVALID, "%s: path too long", in);
    }
    /* Resolve "." and ".." and repeated slashes lexically. */
    size_t o = 0;
    const char *p = tmp;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, "/");
        if (len == 1 && p[0] == '.') {
        } else if (len == 2 && p[0] == '.' && p[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
        } else {
            out[o++] = '/';
            memcpy(out + o, p, len);
            o += len;
        }
        p += len;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    return VAULT_OK;
}

/* The next path given, as a top-level item, or the end. */
static vault_error next_top(fs_source *s, add_item *it)
{
    const vault_add_options *o = s->o;
    if (s->next_path == o->n_paths) {
        meta_stop(s); /* the walk is done */
        if (!s->warned)
            vlt_add_filter_warn_unmatched(&s->filter);
        s->warned = 1;
        it->kind = ADD_ITEM_END;
        return VAULT_OK;
    }
    const char *given = o->paths[s->next_path++];
    vault_error rc = vlt_add_absolute_path(given, s->path);
    if (rc != VAULT_OK)
        return rc;
    struct stat st;
    if (lstat(s->path, &st) != 0)
        return vlt_fail_errno(errno, "%s", given);
    if (strcmp(s->path, "/") == 0)
        return vlt_fail(VAULT_E_INVALID,
                        "/: back up its directories instead of the root");
    s->root_dev = st.st_dev;
    s->cur_len = strlen(s->path);
    s->cur_dfd = AT_FDCWD;
    s->cur_at = s->path;
    char name[NAME_MAX + 1];
    snprintf(name, sizeof name, "%s", strrchr(s->path, '/') + 1);
    it->given = given;
    return item_set(s, it, name, &st);
}

static vault_error fs_next(void *ctx, add_item *it)
{
    fs_source *s = ctx;
    memset(it, 0, sizeof *it);
    if (s->cur_fd >= 0) {
        close(s->cur_fd);
        s->cur_fd = -1;
    }
    free(s->cur_data);
    s->cur_data = NULL;
    if (s->ahead_files > 0)
        ahead_reap(s, 0); /* opens that came back: their reads go out */
    if (s->enter) {
        s->enter = 0;
        if (!s->enter_walk) {
            /* A mount point: kept, empty, like restic and tar. */
            it->kind = ADD_ITEM_DIR_END;
            return VAULT_OK;
        }
        vault_error rc = dir_enter(s);
        if (rc != VAULT_OK)
            return rc;
    }
    if (s->depth == 0)
        return next_top(s, it);
    fs_frame *f = &s->stack[s->depth - 1];
    while (f->next < f->n_ents && !f->ents[f->next].ok)
        f->next++;
    if (f->next == f->n_ents) {
        s->path[f->path_len] = '\0';
        ahead_drain(s); /* nothing is: every entry was handed over */
        frame_free(f);
        s->depth--;
        it->kind = ADD_ITEM_DIR_END;
        return VAULT_OK;
    }
    size_t i = f->next++;
    dir_entry *e = &f->ents[i];
    if (S_ISDIR(e->st.st_mode)) {
        /* Hold no open files across the subtree. */
        for (size_t k = i + 1; k < f->ahead; k++)
            if (f->ents[k].fd >= 0) {
                close(f->ents[k].fd);
                f->ents[k].fd = -1;
            }
        if (f->ahead > i + 1)
            f->ahead = i + 1;
    } else {
        if (f->ahead < i + 1)
            f->ahead = i + 1;
        if (!s->scan_only)
            read_ahead(s, f, i);
    }
    size_t nlen = strlen(e->name);
    s->path[f->path_len] = '/';
    memcpy(s->path + f->path_len + 1, e->name, nlen + 1);
    s->cur_len = f->path_len + 1 + nlen;
    s->cur_dfd = f->dfd;
    s->cur_at = e->name;
    ahead_wait(s, e);
    s->cur_fd = e->fd;
    e->fd = -1;
    if (e->ahead == AHEAD_READY) {
        s->cur_data = e->data;
        s->cur_data_len = e->data_len;
        s->cur_data_used = 0;
        s->ahead_bytes -= (size_t)e->st.st_size;
        e->data = NULL;
        e->ahead = AHEAD_NONE;
    }
    return item_set(s, it, e->name, &e->st);
}

static vault_error fs_read_timed(fs_source *s, uint8_t *buf, size_t cap,
                                 size_t *got);

static vault_error fs_read(void *ctx, uint8_t *buf, size_t cap, size_t *got)
{
    uint64_t timer = vlt_phase_start();
    vault_error rc = fs_read_timed(ctx, buf, cap, got);
    vlt_phase_stop(VLT_PHASE_READ, timer);
    return rc;
}

/* fs_read's work. */
static vault_error fs_read_timed(fs_source *s, uint8_t *buf, size_t cap,
                                 size_t *got)
{
    *got = 0;
    if (s->cur_data && s->cur_data_used < s->cur_data_len) {
        /* read ahead whole (through the ring) */
        size_t n = s->cur_data_len - s->cur_data_used;
        n = n < cap ? n : cap;
        memcpy(buf, s->cur_data + s->cur_data_used, n);
        s->cur_data_used += n;
        *got = n;
        return VAULT_OK;
    }
    if (s->cur_fd < 0) {
        int replaced;
        s->cur_fd = open_as_stated(s->cur_dfd, s->cur_at, &s->cur_st,
                                   &replaced);
        if (s->cur_fd < 0) {
            if (replaced)
                report(s, s->path, "replaced while it was backed up "
                                   "(not the regular file found)");
            else
                report(s, s->path, "cannot open: %s", strerror(errno));
            return VAULT_E_PARTIAL;
        }
    }
    for (;;) {
        /* After a read through the ring the descriptor's offset is still
         * 0: should the file have grown since, on from where that read
         * ended. */
        ssize_t n = s->cur_data ? pread(s->cur_fd, buf, cap,
                                        (off_t)s->cur_data_used)
                                : read(s->cur_fd, buf, cap);
        if (n >= 0) {
            if (s->cur_data)
                s->cur_data_used += (size_t)n;
            *got = (size_t)n;
            return VAULT_OK;
        }
        if (errno != EINTR) {
            report(s, s->path, "read failed: %s", strerror(errno));
            return VAULT_E_PARTIAL;
        }
    }
}

/* Reads the current item's extended attributes into n; returns whether
 * it has any (for the files cache: a file without any need not be asked
 * again). */
static int fs_xattrs(void *ctx, tree_node *n)
{
    fs_source *s = ctx;
    const char *path = s->path;
    ssize_t len = llistxattr(path, NULL, 0);
    if (len <= 0)
        return 0; /* none, or the file system has none */
    char *names = malloc((size_t)len);
    if (!names)
        return 1;
    len = llistxattr(path, names, (size_t)len);
    size_t count = 0;
    for (ssize_t i = 0; i < len; i += (ssize_t)strlen(names + i) + 1)
        count++;
    n->xattrs = calloc(count ? count : 1, sizeof *n->xattrs);
    for (ssize_t i = 0; n->xattrs && i < len;
         i += (ssize_t)strlen(names + i) + 1) {
        const char *name = names + i;
        if (strlen(name) > TREE_XATTR_NAME_MAX ||
            n->n_xattrs >= TREE_XATTRS_MAX)
            continue;
        ssize_t vlen = lgetxattr(path, name, NULL, 0);
        if (vlen < 0 || (size_t)vlen > TREE_XATTR_VALUE_MAX)
            continue;
        node_xattr *x = &n->xattrs[n->n_xattrs];
        x->value = malloc(vlen ? (size_t)vlen : 1);
        x->name = strdup(name);
        if (!x->value || !x->name) {
            free(x->value);
            free(x->name);
            continue;
        }
        vlen = lgetxattr(path, name, x->value, (size_t)vlen);
        if (vlen < 0) {
            report(s, path, "cannot read xattr %s: %s", name,
                   strerror(errno));
            free(x->value);
            free(x->name);
            continue;
        }
        x->value_len = (uint32_t)vlen;
        n->n_xattrs++;
    }
    free(names);
    return 1;
}

static vault_error fs_parent(void *ctx, const char *path, const char *name,
                             tree_node *node)
{
    (void)ctx;
    struct stat st;
    if (lstat(path, &st) != 0)
        return vlt_fail_errno(errno, "%s", path);
    return node_from_stat(node, name, &st);
}

/* vlt_add_source_fs_set_window's: 0, the default */
static atomic_uint_fast64_t window_set;

void vlt_add_source_fs_set_window(uint64_t bytes)
{
    atomic_store(&window_set, bytes);
}

uint64_t vlt_add_source_fs_asked(const add_source *src)
{
    fs_source *s = src->ctx;
    return atomic_load(&s->data_asked);
}

/* The source of both opens below. */
static vault_error fs_open(const vault_add_options *o, filecache *cache,
                           add_report_fn report_fn, void *report_ctx,
                           int scan_only, add_source *out)
{
    memset(out, 0, sizeof *out);
    fs_source *s = calloc(1, sizeof *s);
    if (!s)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    s->o = o;
    s->cache = cache;
    s->report = report_fn;
    s->report_ctx = report_ctx;
    s->cur_fd = -1;
    s->scan_only = scan_only;
    s->warned = scan_only; /* the add itself warns of unused patterns */
    *out = (add_source){fs_next, fs_read, fs_xattrs, fs_parent, s};
    vault_error rc = vlt_add_filter_init(&s->filter, o);
    if (rc != VAULT_OK)
        return rc;
    if (!scan_only) {
        /* every file will be read: its data is read ahead */
        s->data_ahead = vlt_filecache_known(cache) == 0;
        s->window = atomic_load(&window_set) ? atomic_load(&window_set)
                                              : DATA_AHEAD_WINDOW;
        meta_start(s);
        /* Refused (ENOSYS, EPERM): prefetch() alone. */
        s->ring_ok = io_uring_queue_init(2 * AHEAD_FILES, &s->ring, 0) == 0;
    }
    return VAULT_OK;
}

vault_error vlt_add_source_fs_open(const vault_add_options *o,
                                   filecache *cache,
                                   add_report_fn report_fn, void *report_ctx,
                                   add_source *out)
{
    return fs_open(o, cache, report_fn, report_ctx, 0, out);
}

static void scan_report(void *ctx, const char *path, const char *detail)
{
    (void)ctx;
    (void)path;
    (void)detail; /* the add itself reports it */
}

vault_error vlt_add_source_fs_scan_open(const vault_add_options *o,
                                        add_source *out)
{
    return fs_open(o, NULL, scan_report, NULL, 1, out);
}

void vlt_add_source_fs_close(add_source *src)
{
    fs_source *s = src->ctx;
    if (!s)
        return;
    meta_stop(s);
    if (s->cur_fd >= 0)
        close(s->cur_fd);
    free(s->cur_data);
    ahead_drain(s); /* a walk cut short: the kernel may still write */
    while (s->depth > 0)
        frame_free(&s->stack[--s->depth]);
    if (s->ring_ok)
        io_uring_queue_exit(&s->ring);
    free(s->stack);
    vlt_add_filter_free(&s->filter);
    free(s);
    src->ctx = NULL;
}
