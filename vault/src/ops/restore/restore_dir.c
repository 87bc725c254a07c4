/*
 * restore_dir.c - the directory sink of restore: the walk (restore.c)
 * written as files into a target directory, safely.  Format spec:
 * "Extraction rules".
 *
 * Per tree, depth first:
 *
 *   directory  mkdirat(name, 0700), openat(O_DIRECTORY | O_NOFOLLOW)
 *              -> its children -> fchown, xattrs, fchmod, futimens
 *              (post-order: children do not disturb the mtime, and a mode
 *              without owner-write cannot block them; with workers, set
 *              when its last file is placed - see open_dir)
 *   file in a  created under its own name (O_EXCL | O_NOFOLLOW open),
 *   new dir    content and metadata applied, removed again if a chunk
 *              fails.  The directory was made by this restore, mode 0700
 *              until its metadata comes, so nothing else is in it and
 *              nobody else can enter it; a temporary and a rename would
 *              double the file system's work per file (measured: 50 us
 *              against 25 us a small file on ext4).
 *   symlink,   the same (symlinkat, mknodat: they fail on a name taken)
 *   fifo, dev
 *   in a new
 *   dir
 *   other      created under "<name>.vault-tmp-<16 hex>" (O_EXCL open,
 *              symlinkat, mknodat or linkat), content and metadata applied
 *              to the temporary, then renameat into place: with
 *              RENAME_NOREPLACE unless overwriting.  rename() replaces a
 *              symlink itself, never what it points to, and never replaces
 *              a directory.
 *
 * Either way a file whose chunks fail never keeps its name.  Only a hard
 * stop (SIGKILL, power loss) can leave a partial file under its name in
 * a new directory; its size and mtime then differ from the snapshot's,
 * so a later extract reports it instead of taking it as done.
 *
 * Without restore_owner (or when not root) files belong to whoever
 * restores, so set-uid/set-gid bits are dropped from non-directories and
 * security.capability is not set: a hostile vault must not hand out
 * privileges.  Xattrs of symlinks, fifos and devices are not restored (no
 * fd to set them on).  Runs of zeros become holes.
 *
 * With workers (restore_options.workers), files that are not hardlinked
 * are restored whole by a worker pool (common/pool.h) while the walker
 * goes on; the walker helps when the queue is full.
 */
#define _GNU_SOURCE /* renameat2, RENAME_NOREPLACE */

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/internal.h"
#include "common/phase_timer.h"
#include "common/pool.h"
#include "ops/restore/restore_internal.h"

#define TEMP_TAG ".vault-tmp-"
#define TEMP_RANDOM_BYTES 8

/* A job is a run of files of one directory, up to JOB_FILES of them and
 * JOB_BYTES of content (a larger file is a job of its own).  Jobs of one
 * file each had both workers creating files in the same directory at
 * once, where each create waits for the directory's lock (the kernel
 * spun on it for 2% of extract's CPU time, and slept on it besides); a
 * run of a small directory's files goes to one worker. */
#define JOB_FILES 16
#define JOB_BYTES (128 * 1024)
/* Jobs waiting in the queue at most: the walker helps when it is full.
 * 64 directories of a file each let the walker run ahead of files that
 * wait for their loads; the content queued is about a window's
 * (restore_ahead.c) at most, so what is loaded ahead of the walker is
 * not dropped to make room before the files queued take it. */
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
struct open_dir {
    struct open_dir *parent; /* NULL: the target */
    const tree_node *node;   /* in parent's tree; NULL: the target */
    tree children;           /* its tree, taken over from the walk when
                                the walker leaves (its nodes never move,
                                so jobs point into them meanwhile) */
    int fd;                  /* the target's stays open (restorer's) */
    int fresh;               /* made by this restore: files go straight
                                under their names */
    size_t refs;             /* under the pool's lock (vlt_restore_lock) */
    char *path;              /* relative to the target, for reports */
    gid_t gid;               /* the group new entries in it get */
};
typedef struct open_dir open_dir;

/* Files for a worker to restore (directory mode with workers). */
typedef struct file_job {
    open_dir *dir;       /* their directory, held by the job once queued */
    gid_t dir_gid;       /* what restorer.dir_gid was */
    size_t n;
    uint64_t bytes;      /* their content */
    struct {
        const tree_node *n; /* in dir's tree */
        char *path;         /* relative to the target, for reports */
    } files[JOB_FILES];
} file_job;

/* Counts a restored file. */
static void count_file(restorer *r, uint64_t bytes)
{
    vlt_restore_lock(r);
    r->stats->files++;
    r->stats->bytes += bytes;
    vlt_restore_unlock(r);
    vlt_restore_progress(r, bytes);
}

static int all_zero(const uint8_t *p, size_t len)
{
    return len == 0 || (p[0] == 0 && memcmp(p, p + 1, len - 1) == 0);
}

/* ---- entries ------------------------------------------------------------ */

/* The mode to give n: without its owner, no set-id bits on what is not a
 * directory (a hostile vault must not make set-uid files owned by the
 * restoring user - root, often); none either when privileges are
 * withheld (vlt_restore_withhold_setid). */
static mode_t mode_of(const restorer *r, const tree_node *n)
{
    mode_t m = (mode_t)(n->mode & 07777);
    if ((!r->own || r->drop) && n->type != NODE_DIR)
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

/* Whether a new file can be created with n's mode, sparing the fchmod:
 * the umask must leave it whole, and it must keep owner-write (user.*
 * xattrs are set after creation and need it) and no set-id bit (a chown
 * would clear it). */
static int mode_at_creation(const restorer *r, const tree_node *n)
{
    mode_t m = mode_of(r, n);
    return r->umask_known && !(m & ~(mode_t)0777) && (m & S_IWUSR) &&
           !(m & r->umask_bits);
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
                      const gid_t *fresh_gid, int mode_done, char *what,
                      size_t what_size)
{
    uint64_t timer = vlt_phase_start();
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
        /* Capabilities are privileges, like set-uid: only with owners,
         * and not when privileges are withheld. */
        if ((!r->own || r->drop) && vlt_restore_is_capability(x))
            continue;
        if (fsetxattr(fd, x->name, x->value, x->value_len, 0) != 0)
            META_FAIL("set xattr %s", x->name);
    }
    if (!mode_done && fchmod(fd, mode_of(r, n)) != 0)
        META_FAIL("set mode %04o", (unsigned)mode_of(r, n));
    struct timespec ts[2];
    mtime_of(n, ts);
    if (futimens(fd, ts) != 0)
        META_FAIL("set mtime");
#undef META_FAIL
    vlt_phase_stop(VLT_PHASE_CREATE, timer);
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

/* create(dirfd, name, arg), its time counted as creating (errno kept). */
static int timed_create(temp_create create, int dirfd, const char *name,
                        const void *arg)
{
    uint64_t timer = vlt_phase_start();
    int ret = create(dirfd, name, arg);
    int e = errno;
    vlt_phase_stop(VLT_PHASE_CREATE, timer);
    errno = e;
    return ret;
}

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
        int ret = timed_create(create, dirfd, tmp, arg);
        if (ret >= 0 || errno != EEXIST)
            return ret;
    }
    return -1;
}

/* arg: the mode_t to create it with. */
static int create_file(int dirfd, const char *name, const void *arg)
{
    return openat(dirfd, name,
                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  *(const mode_t *)arg);
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
static int place_entry(const restorer *r, int dirfd, const char *tmp,
                       const char *name);

static int place(const restorer *r, int dirfd, const char *tmp,
                 const char *name)
{
    uint64_t timer = vlt_phase_start();
    int ret = place_entry(r, dirfd, tmp, name);
    int e = errno;
    vlt_phase_stop(VLT_PHASE_CREATE, timer);
    errno = e;
    return ret;
}

/* place()'s work. */
static int place_entry(const restorer *r, int dirfd, const char *tmp,
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
    vlt_restore_report_errno_at(r, path, e, "put into place");
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

/* ---- resuming an interrupted restore ----------------------------------- */

/* Whether name is one of make_temp's: "<name>" TEMP_TAG "<16 hex>". */
static int is_temp_name(const char *name)
{
    size_t len = strlen(name), tag = sizeof TEMP_TAG - 1;
    size_t digits = 2 * TEMP_RANDOM_BYTES;
    if (len < tag + digits ||
        memcmp(name + len - digits - tag, TEMP_TAG, tag) != 0)
        return 0;
    for (size_t i = len - digits; i < len; i++)
        if (!((name[i] >= '0' && name[i] <= '9') ||
              (name[i] >= 'a' && name[i] <= 'f')))
            return 0;
    return 1;
}

/* Removes the temporaries an interrupted restore left in directory fd
 * (only those names, and never a directory: unlinkat without
 * AT_REMOVEDIR refuses one).  A restore running into the same folder at
 * the same time would lose its own: that is not supported anyway. */
static void remove_stale_temps(restorer *r, int fd)
{
    int dup_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (!d) {
        if (dup_fd >= 0)
            close(dup_fd);
        return; /* the entries' own creation will report a problem */
    }
    uint64_t removed = 0;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (is_temp_name(e->d_name) && unlinkat(fd, e->d_name, 0) == 0)
            removed++;
    closedir(d);
    if (removed) {
        vlt_restore_lock(r);
        r->stats->temporaries_removed += removed;
        vlt_restore_unlock(r);
    }
}

/* Whether the symlink name in dirfd points to target. */
static int symlink_is(int dirfd, const char *name, const char *target)
{
    size_t want = strlen(target);
    char *buf = malloc(want + 2);
    if (!buf)
        return 0; /* then it is reported as different: nothing is lost */
    ssize_t got = readlinkat(dirfd, name, buf, want + 1);
    int same = got >= 0 && (size_t)got == want && memcmp(buf, target, want) == 0;
    free(buf);
    return same;
}

/* Without overwrite, what is at n's name already (an interrupted restore
 * run again): 0 nothing (restore it); 1 the same as the snapshot's - a
 * file of the same size and mtime, as restic and rsync judge it, a
 * symlink to the same target, a fifo, a device with the same number -
 * counted as skipped; -1 something else, left alone and reported with a
 * hint at overwrite.  A later occurrence of a hardlink is the same when
 * it is the first occurrence's inode (first: its path, else NULL). */
static int already_there(restorer *r, int dirfd, const tree_node *n,
                         const char *first)
{
    struct stat st;
    if (r->opt->overwrite ||
        fstatat(dirfd, n->name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return 0; /* nothing there (or it cannot tell: placing will say) */
    int same = 0;
    if (first) {
        const char *base;
        int fd = open_parent(r, first, &base);
        struct stat at_first;
        same = fd >= 0 &&
               fstatat(fd, base, &at_first, AT_SYMLINK_NOFOLLOW) == 0 &&
               at_first.st_ino == st.st_ino && at_first.st_dev == st.st_dev;
        if (fd >= 0)
            close(fd);
    } else if (n->type == NODE_FILE) {
        same = S_ISREG(st.st_mode) && (uint64_t)st.st_size == n->size &&
               (int64_t)st.st_mtim.tv_sec == n->mtime_sec &&
               (uint32_t)st.st_mtim.tv_nsec == n->mtime_nsec;
    } else if (n->type == NODE_SYMLINK) {
        same = S_ISLNK(st.st_mode) && symlink_is(dirfd, n->name, n->target);
    } else if (n->type == NODE_FIFO) {
        same = S_ISFIFO(st.st_mode);
    } else {
        same = (n->type == NODE_CHARDEV ? S_ISCHR(st.st_mode)
                                        : S_ISBLK(st.st_mode)) &&
               (uint64_t)st.st_rdev == n->rdev;
    }
    vlt_restore_lock(r);
    if (same)
        r->stats->skipped++;
    else
        r->stats->differ++;
    vlt_restore_unlock(r);
    if (same)
        return 1;
    vlt_restore_report_last(r, vlt_fail(VAULT_E_EXISTS,
                                         "exists and differs from the "
                                         "snapshot (--overwrite replaces "
                                         "it)"));
    return -1;
}

/* A later occurrence of a hardlinked file: a link to the first one. */
static void fs_hardlink(restorer *r, int dirfd, const tree_node *n,
                        const char *first)
{
    if (already_there(r, dirfd, n, first) != 0)
        return;
    link_source src;
    src.dirfd = open_parent(r, first, &src.name);
    if (src.dirfd < 0) {
        vlt_restore_report_errno(r, errno, "open the first link's directory");
        return;
    }
    char tmp[NAME_MAX + 1];
    int ret = make_temp(r, dirfd, n->name, tmp, create_link, &src);
    int e = errno;
    close(src.dirfd);
    if (ret < 0) {
        vlt_restore_report_errno(r, e, "link to the first occurrence");
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
    uint64_t timer = vlt_phase_start();
    vault_error rc = VAULT_OK;
    while (len > 0 && rc == VAULT_OK) {
        ssize_t w = write(fd, data, len);
        if (w < 0) {
            if (errno != EINTR)
                rc = vlt_fail_errno(errno, "write");
            continue;
        }
        data += w;
        len -= (size_t)w;
    }
    vlt_phase_stop(VLT_PHASE_WRITE, timer);
    return rc;
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

/* Restores file n (not a later hardlink) in dirfd (fresh: a directory
 * this restore made), reporting failures as path's; on any thread.
 * *placed: it got its name.  The return value is for fatal errors. */
static vault_error fs_file_content(restorer *r, int dirfd, int fresh,
                                   const tree_node *n, const char *path,
                                   gid_t dir_gid, int *placed)
{
    *placed = 0;
    int mode_done = mode_at_creation(r, n);
    mode_t create_mode = mode_done ? mode_of(r, n) : 0600;
    char tmp[NAME_MAX + 1];
    const char *name = fresh ? n->name : tmp;
    fs_out out = {
        fresh ? timed_create(create_file, dirfd, n->name, &create_mode)
              : make_temp(r, dirfd, n->name, tmp, create_file, &create_mode),
        0};
    if (out.fd < 0) {
        vlt_restore_report_errno_at(r, path, errno,
                                    fresh ? "create" : "create a temporary file");
        return VAULT_OK;
    }
    uint64_t done;
    vault_error rc = vlt_restore_content_each(r, n, fs_sink, &out, &done);
    if (rc == VAULT_OK && out.hole_at_end &&
        ftruncate(out.fd, (off_t)n->size) != 0)
        rc = vlt_fail_errno(errno, "set size");
    char what[TREE_XATTR_NAME_MAX + 32];
    int meta_err = 0;
    if (rc == VAULT_OK)
        meta_err = fs_meta_fd(r, out.fd, n, &dir_gid, mode_done, what,
                              sizeof what);
    if (close(out.fd) != 0 && rc == VAULT_OK)
        rc = vlt_fail_errno(errno, "close");
    if (rc != VAULT_OK) {
        unlinkat(dirfd, name, 0);
        if (vlt_error_stops(rc))
            return rc;
        vlt_restore_report(r, path, rc, vault_last_error());
        return VAULT_OK;
    }
    if (!fresh && !place_or_report(r, dirfd, tmp, n->name, path))
        return VAULT_OK;
    *placed = 1;
    count_file(r, n->size);
    if (meta_err)
        vlt_restore_report_errno_at(r, path, meta_err, what); /* the file stays */
    return VAULT_OK;
}

/* ---- directories being restored ---------------------------------------- */

/* Finishes directory d (no reference left; any thread): its metadata,
 * unless a fatal error ended the restore, then closes and frees it. */
static void dir_finish(restorer *r, open_dir *d)
{
    if (d->node) {
        int fatal = r->pool && vlt_pool_failed(r->pool);
        char what[TREE_XATTR_NAME_MAX + 32];
        int e = fatal ? 0 : fs_meta_fd(r, d->fd, d->node, NULL, 0, what,
                                       sizeof what);
        if (e)
            vlt_restore_report_errno_at(r, d->path, e, what);
        close(d->fd);
    }
    vlt_tree_clear(&d->children);
    free(d->path);
    free(d);
}

/* Drops a reference on d, finishing it (and then perhaps its parents) if
 * it was the last.  Not holding the pool's lock. */
static void dir_release(restorer *r, open_dir *d)
{
    while (d) {
        vlt_restore_lock(r);
        assert(d->refs > 0);
        size_t left = --d->refs;
        if (!left)
            r->open_dirs--;
        vlt_restore_unlock(r);
        if (left)
            return;
        open_dir *parent = d->parent;
        dir_finish(r, d);
        d = parent;
    }
}

/* A new directory object for fd, holding the walker's reference and one
 * on its parent (the walker's directory; NULL for the target); its tree
 * comes when the walker leaves it (fs_dir_leave).  NULL: out of
 * memory. */
static open_dir *dir_open(restorer *r, int fd, int fresh, const tree_node *n,
                          gid_t gid)
{
    open_dir *d = malloc(sizeof *d);
    char *path = strdup(r->path);
    if (!d || !path) {
        free(d);
        free(path);
        return NULL;
    }
    *d = (open_dir){r->dir, n, {0}, fd, fresh, 1, path, gid};
    vlt_restore_lock(r);
    if (d->parent)
        d->parent->refs++;
    r->open_dirs++;
    vlt_restore_unlock(r);
    return d;
}

/* ---- workers ------------------------------------------------------------ */

static void job_free(file_job *j)
{
    for (size_t i = 0; i < j->n; i++)
        free(j->files[i].path);
    free(j);
}

/* Runs job j (a worker, or the walker helping; not holding the lock) and
 * frees it.  After a fatal error the rest are only counted off: the
 * restore is over. */
static void job_run(void *ctx, void *state, void *job)
{
    (void)state;
    restorer *r = ctx;
    file_job *j = job;
    for (size_t i = 0; i < j->n; i++) {
        int placed;
        vault_error rc = vlt_pool_failed(r->pool)
                             ? VAULT_OK
                             : fs_file_content(r, j->dir->fd, j->dir->fresh,
                                               j->files[i].n,
                                               j->files[i].path, j->dir_gid,
                                               &placed);
        if (rc != VAULT_OK)
            vlt_pool_fail(r->pool, rc);
    }
    /* Before the job counts as finished: whoever waits for all jobs may
     * then rely on every directory being finished too. */
    dir_release(r, j->dir);
    job_free(j);
}

/* The fatal error a job met, raised on this thread, or VAULT_OK. */
static vault_error jobs_fatal(restorer *r)
{
    return r->pool ? vlt_pool_raise(r->pool) : VAULT_OK;
}

/* Queues the files gathered (r->batch); the walker runs jobs itself
 * while the queue is full.  Called before the walker's directory
 * changes, so a job's files are all in one directory. */
static vault_error jobs_flush(restorer *r)
{
    file_job *j = r->batch;
    if (!j)
        return VAULT_OK;
    r->batch = NULL;
    vlt_pool_lock(r->pool);
    vault_error rc = vlt_pool_submit_locked(r->pool, j, 1);
    if (rc == VAULT_OK)
        j->dir->refs++; /* the job's, taken before any worker can run it */
    vlt_pool_unlock(r->pool);
    if (rc != VAULT_OK) {
        job_free(j);
        return rc;
    }
    return VAULT_OK;
}

/* Adds file n (the current item, in the walker's directory) to the files
 * gathered for a job, queuing them when they are enough. */
static vault_error jobs_submit(restorer *r, const tree_node *n)
{
    file_job *j = r->batch;
    if (!j) {
        j = malloc(sizeof *j);
        if (!j)
            return vlt_restore_nomem();
        j->dir = r->dir;
        j->dir_gid = r->dir_gid;
        j->n = 0;
        j->bytes = 0;
        r->batch = j;
    }
    assert(j->dir == r->dir);
    char *path = strdup(r->path);
    if (!path)
        return vlt_restore_nomem();
    j->files[j->n].n = n;
    j->files[j->n].path = path;
    j->n++;
    j->bytes += n->size;
    vault_error rc = VAULT_OK;
    if (j->n == JOB_FILES || j->bytes >= JOB_BYTES)
        rc = jobs_flush(r);
    return rc != VAULT_OK ? rc : jobs_fatal(r);
}

/* Starts up to want workers; fewer (even none) when threads cannot be
 * had: the walker then does more itself. */
static void workers_start(restorer *r, unsigned want)
{
    if (want == 0)
        return;
    vlt_pool_config cfg = {.threads = want,
                           .queue_max = RESTORE_QUEUE_MAX,
                           .run = job_run,
                           .ctx = r};
    if (vlt_pool_create(&cfg, &r->pool) != VAULT_OK)
        r->pool = NULL;
}

/* A file: a link to an earlier occurrence, a job for the workers, or
 * (hardlinked, or without workers) restored here. */
static vault_error fs_file(restorer *r, const tree_node *n)
{
    int dirfd = r->dir->fd;
    const char *first = vlt_restore_links_find(r, n);
    if (first) {
        fs_hardlink(r, dirfd, n, first);
        return VAULT_OK;
    }
    /* nothing can be in the way in a directory this restore made */
    int there = r->dir->fresh ? 0 : already_there(r, dirfd, n, NULL);
    if (there < 0)
        return VAULT_OK; /* reported */
    if (there > 0) /* later links to it are links to this one */
        return n->nlink < 2 ? VAULT_OK : vlt_restore_links_add(r, n);
    if (r->pool && n->nlink < 2)
        return jobs_submit(r, n);
    int placed;
    vault_error rc = fs_file_content(r, dirfd, r->dir->fresh, n, r->path,
                                     r->dir_gid, &placed);
    if (rc != VAULT_OK || !placed)
        return rc;
    return vlt_restore_links_add(r, n);
}

/* Symlinks, fifos and devices: under their own names in a directory
 * this restore made (as files are: nothing can be in the way there, and
 * a temporary, its rename and the check for what is there were three
 * system calls of four), else under a temporary name renamed into
 * place. */
static vault_error fs_special(restorer *r, const tree_node *n)
{
    int dirfd = r->dir->fd, fresh = r->dir->fresh;
    if (!fresh && already_there(r, dirfd, n, NULL) != 0)
        return VAULT_OK; /* the same, or reported */
    temp_create create =
        n->type == NODE_SYMLINK ? create_symlink : create_node;
    const void *arg = n->type == NODE_SYMLINK ? (const void *)n->target
                                              : (const void *)n;
    char tmp[NAME_MAX + 1];
    const char *name = fresh ? n->name : tmp;
    int ret = fresh ? timed_create(create, dirfd, n->name, arg)
                    : make_temp(r, dirfd, n->name, tmp, create, arg);
    if (ret < 0) {
        vlt_restore_report_errno(r, errno, "create");
        return VAULT_OK;
    }
    const char *what = NULL;
    int meta_err = fs_meta_at(r, dirfd, name, n, &what);
    if (!fresh && !place_or_report(r, dirfd, tmp, n->name, r->path))
        return VAULT_OK;
    if (n->type == NODE_SYMLINK)
        r->stats->symlinks++;
    else
        r->stats->others++;
    if (meta_err)
        vlt_restore_report_errno(r, meta_err, what);
    return VAULT_OK;
}

/* Opens (creating if needed) the directory name in dirfd for restoring
 * into.  An existing directory is merged; anything else in the way - a
 * symlink included, which is never followed - is replaced only with
 * overwrite.  -1: reported. */
static int fs_open_dir(restorer *r, int dirfd, const char *name,
                       int *fresh)
{
    const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    int created = mkdirat(dirfd, name, 0700) == 0;
    if (!created && errno != EEXIST) {
        vlt_restore_report_errno(r, errno, "create directory");
        return -1;
    }
    int fd = openat(dirfd, name, flags);
    if (fd < 0 && !created && (errno == ELOOP || errno == ENOTDIR)) {
        if (!r->opt->overwrite) {
            vlt_restore_report_last(r, vlt_fail(VAULT_E_EXISTS,
                                      "exists and is not a directory "
                                      "(symlinks are not followed)"));
            return -1;
        }
        if (unlinkat(dirfd, name, 0) != 0 || mkdirat(dirfd, name, 0700) != 0) {
            vlt_restore_report_errno(r, errno, "replace with a directory");
            return -1;
        }
        created = 1;
        fd = openat(dirfd, name, flags);
    }
    if (fd < 0) {
        vlt_restore_report_errno(r, errno, "open directory");
        return -1;
    }
    struct stat st;
    if (!created && fstat(fd, &st) == 0 && (st.st_mode & S_IRWXU) != S_IRWXU)
        (void)fchmod(fd, (st.st_mode & 07777) | S_IRWXU); /* mode set later */
    if (!created)
        remove_stale_temps(r, fd);
    *fresh = created;
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

/* A directory (n; NULL: the target): made (or merged) and opened, its
 * metadata set when its last reference goes (open_dir).  The walker's
 * directory from here to fs_dir_leave. */
static vault_error fs_dir_enter(restorer *r, const tree_node *n, void **made)
{
    int fd = r->target_fd;
    int fresh = r->target_fresh;
    vault_error rc = jobs_flush(r); /* the parent's files gathered */
    if (rc != VAULT_OK)
        return rc;
    if (n) {
        fd = fs_open_dir(r, r->dir->fd, n->name, &fresh);
        if (fd < 0)
            return VAULT_OK; /* reported */
    } else {
        workers_start(r, r->opt->workers);
    }
    open_dir *d = dir_open(r, fd, fresh, n,
                           n ? dir_new_gid(r, fd) : r->dir_gid);
    if (!d) {
        if (n)
            close(fd);
        return vlt_restore_nomem();
    }
    if (n)
        r->stats->dirs++;
    r->dir_gid = d->gid;
    r->dir = d;
    *made = d;
    return VAULT_OK;
}

/* Back in the parent: directory made takes its tree over (its jobs point
 * into it) and drops the walker's reference. */
static vault_error fs_dir_leave(restorer *r, tree *t, void *made,
                                int stopping)
{
    open_dir *d = made;
    /* its files gathered (stopping: only counted off by the workers) */
    vault_error flushed = jobs_flush(r);
    int root = !d->parent;
    r->dir = d->parent;
    if (r->dir)
        r->dir_gid = r->dir->gid;
    d->children = *t;
    memset(t, 0, sizeof *t);
    if (!root) {
        vlt_restore_lock(r);
        int crowded = r->open_dirs > RESTORE_OPEN_DIRS_MAX;
        vlt_restore_unlock(r);
        if (crowded && r->pool) /* finish it here, as the last one */
            vlt_pool_wait(r->pool, &d->refs, 1, 1);
    }
    dir_release(r, d);
    /* Stopping, the walk's own error is the one to keep (a raise would
     * replace its detail); the root's jobs are waited for in fs_walked. */
    if (root || stopping)
        return VAULT_OK;
    return flushed != VAULT_OK ? flushed : jobs_fatal(r);
}

/* ---- the target --------------------------------------------------------- */

/* The process's umask, from /proc (Linux 4.7): umask() would have to set
 * it to read it, racing other threads of the caller.  -1: not known. */
static int read_umask(mode_t *out)
{
    FILE *f = fopen("/proc/self/status", "re");
    if (!f)
        return -1;
    char line[256];
    int found = -1;
    while (found < 0 && fgets(line, sizeof line, f)) {
        unsigned mask;
        if (sscanf(line, "Umask: %o", &mask) == 1 && mask <= 0777) {
            *out = (mode_t)mask;
            found = 0;
        }
    }
    fclose(f);
    return found;
}

static vault_error fs_open(restorer *r)
{
    const restore_options *opt = r->opt;
    int created = mkdir(opt->target_dir, 0700) == 0;
    if (!created && errno != EEXIST)
        return vlt_fail_errno(errno, "%s", opt->target_dir);
    r->target_fd = open(opt->target_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (r->target_fd < 0)
        return vlt_fail_errno(errno, "%s", opt->target_dir);
    if (!created)
        remove_stale_temps(r, r->target_fd);
    r->target_fresh = created;
    r->dir_gid = dir_new_gid(r, r->target_fd);
    r->umask_known = read_umask(&r->umask_bits) == 0;
    return VAULT_OK;
}

static vault_error fs_walked(restorer *r, vault_error rc)
{
    /* nothing is left gathered: each directory's leave queued its files,
     * and a failed queuing freed them */
    assert(!r->batch);
    /* Every job run, so every directory finished too. */
    rc = vlt_pool_finish(r->pool, 1, rc);
    r->pool = NULL;
    assert(r->open_dirs == 0);
    return rc;
}

static vault_error fs_close(restorer *r)
{
    (void)r;
    return VAULT_OK;
}

static void fs_release(restorer *r)
{
    assert(!r->pool);
    if (r->target_fd >= 0)
        close(r->target_fd);
    r->target_fd = -1;
}

const restore_sink vlt_restore_dir_sink = {
    .open = fs_open,
    .dir_enter = fs_dir_enter,
    .dir_leave = fs_dir_leave,
    .walked = fs_walked,
    .file = fs_file,
    .special = fs_special,
    .close = fs_close,
    .release = fs_release,
};
