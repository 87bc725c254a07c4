/*
 * cmd_mount.c - `vault mount`: every readable snapshot as a read-only
 * folder tree through FUSE (libfuse3), served by the library's browsing
 * calls (vault.h "Browsing").
 *
 * libfuse's high-level (path) API, with the kernel caching all it can:
 * the tree never changes under a snapshot, so entries and attributes are
 * kept for an hour (attr/entry timeouts) and file pages across opens
 * (keep_cache); listings come with their attributes (readdirplus), so
 * `ls -l` and `find` ask nothing per entry.  What reaches this process
 * is then cache misses, and a path costs a binary search per component
 * in trees the library keeps decoded.  The low-level API would spare the
 * path strings but would make this file keep an inode table of its own;
 * libfuse's table is freed as the kernel forgets entries, so memory stays
 * bounded by the kernel's cache plus the library's two caches.  Only the
 * made-up folders change (new snapshots): negative lookups are not
 * cached, and folder listings are never cached, so `ls snapshots/` shows
 * a snapshot added meanwhile.
 *
 * Reads run on libfuse's worker threads at once: the browse handle is
 * thread-safe (vault.h).
 */
#define _GNU_SOURCE /* realpath with NULL */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#ifdef VAULT_HAVE_FUSE
#define FUSE_USE_VERSION 31
#include <fuse.h>

/* What a failed call means to the program that made it. */
static int errno_of(vault_error rc)
{
    switch (rc) {
    case VAULT_OK: return 0;
    case VAULT_E_NOT_FOUND: return ENOENT;
    case VAULT_E_INVALID: return EINVAL;
    case VAULT_E_NOMEM: return ENOMEM;
    case VAULT_E_PERMISSION: return EACCES;
    default: return EIO;
    }
}

static vault_browse_t *mount_browse(void)
{
    return fuse_get_context()->private_data;
}

/* A failure a user needs to hear of (damage, storage errors): on stderr,
 * naming the file (the library's detail does). */
static int mount_fail(vault_error rc)
{
    /* One message at a time: cli_text's buffers are shared. */
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    if (rc != VAULT_E_NOT_FOUND && rc != VAULT_E_INVALID) {
        pthread_mutex_lock(&lock);
        cli_error("mount: %s", cli_text(vault_last_error()));
        pthread_mutex_unlock(&lock);
    }
    return -errno_of(rc);
}

static void fill_stat(const vault_browse_stat *s, struct stat *st)
{
    static const mode_t types[] = {0,       S_IFREG, S_IFDIR,  S_IFLNK,
                                   S_IFIFO, S_IFCHR, S_IFBLK, S_IFSOCK};
    memset(st, 0, sizeof *st);
    st->st_mode = (s->type < 8 ? types[s->type] : S_IFREG) | s->mode;
    st->st_ino = (ino_t)s->ino;
    st->st_uid = s->uid;
    st->st_gid = s->gid;
    st->st_nlink = s->nlink;
    st->st_size = (off_t)s->size;
    st->st_blocks = (blkcnt_t)s->blocks;
    st->st_blksize = 4096;
    st->st_rdev = (dev_t)s->rdev;
    st->st_mtim.tv_sec = s->mtime_sec;
    st->st_mtim.tv_nsec = s->mtime_nsec;
    st->st_atim = st->st_mtim;
    st->st_ctim = st->st_mtim;
}

static void *mount_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
    /* Always listings with attributes: a listing costs the same either
     * way here, and `du` or `ls -l` after a plain `find` then asks
     * nothing per entry. */
    if (conn->capable & FUSE_CAP_READDIRPLUS)
        conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS_AUTO;
    cfg->entry_timeout = 3600;
    cfg->attr_timeout = 3600;
    cfg->negative_timeout = 0; /* a snapshot added later must be found */
    cfg->kernel_cache = 1;
    cfg->use_ino = 1; /* hard links share a number, as recorded */
    return mount_browse();
}

static int mount_getattr(const char *path, struct stat *st,
                         struct fuse_file_info *fi)
{
    (void)fi;
    vault_browse_stat s;
    vault_error rc = vault_browse_stat_path(mount_browse(), path, &s);
    if (rc != VAULT_OK)
        return mount_fail(rc);
    fill_stat(&s, st);
    return 0;
}

static int mount_readlink(const char *path, char *buf, size_t size)
{
    vault_error rc = vault_browse_readlink(mount_browse(), path, buf, size,
                                           NULL);
    return rc == VAULT_OK ? 0 : mount_fail(rc);
}

/* A listing handed to libfuse a buffer at a time.  Offsets: 1 and 2 are
 * "." and "..", entry i of the library's listing is i + 3.  Giving
 * offsets is what makes libfuse pass the attributes on with each entry
 * (readdirplus); without them it sends names only, and the kernel asks
 * for each entry's attributes one by one. */
typedef struct mount_dir {
    void *buf;
    fuse_fill_dir_t filler;
    off_t next; /* the offset of the entry after this one */
} mount_dir;

static int mount_dir_entry(void *ctx, const char *name,
                           const vault_browse_stat *s)
{
    mount_dir *d = ctx;
    struct stat st;
    fill_stat(s, &st);
    return d->filler(d->buf, name, &st, ++d->next, FUSE_FILL_DIR_PLUS);
}

static int mount_readdir(const char *path, void *buf, fuse_fill_dir_t filler,
                         off_t offset, struct fuse_file_info *fi,
                         enum fuse_readdir_flags flags)
{
    (void)fi;
    (void)flags;
    if (offset < 1 && filler(buf, ".", NULL, 1, 0))
        return 0;
    if (offset < 2 && filler(buf, "..", NULL, 2, 0))
        return 0;
    size_t start = offset > 2 ? (size_t)(offset - 2) : 0;
    mount_dir d = {buf, filler, (off_t)start + 2};
    vault_error rc =
        vault_browse_list(mount_browse(), path, start, mount_dir_entry, &d);
    if (rc == VAULT_E_INVALID)
        return -ENOTDIR;
    return rc == VAULT_OK ? 0 : mount_fail(rc);
}

static int mount_open(const char *path, struct fuse_file_info *fi)
{
    if ((fi->flags & O_ACCMODE) != O_RDONLY)
        return -EROFS;
    vault_browse_file_t *f;
    vault_error rc = vault_browse_file_open(mount_browse(), path, &f);
    if (rc == VAULT_E_INVALID)
        return -EISDIR;
    if (rc != VAULT_OK)
        return mount_fail(rc);
    fi->fh = (uint64_t)(uintptr_t)f;
    fi->keep_cache = 1; /* the content never changes */
    return 0;
}

static int mount_read(const char *path, char *buf, size_t size, off_t offset,
                      struct fuse_file_info *fi)
{
    (void)path;
    vault_browse_file_t *f = (vault_browse_file_t *)(uintptr_t)fi->fh;
    size_t got;
    vault_error rc =
        vault_browse_file_read(f, (uint64_t)offset, buf, size, &got);
    return rc == VAULT_OK ? (int)got : mount_fail(rc);
}

static int mount_release(const char *path, struct fuse_file_info *fi)
{
    (void)path;
    vault_browse_file_close((vault_browse_file_t *)(uintptr_t)fi->fh);
    return 0;
}

static int mount_getxattr(const char *path, const char *name, char *value,
                          size_t size)
{
    size_t len;
    vault_error rc =
        vault_browse_xattr_get(mount_browse(), path, name, value, size, &len);
    if (rc == VAULT_E_NOT_FOUND)
        return -ENODATA; /* also for a path gone: stat said it is there */
    if (rc != VAULT_OK)
        return mount_fail(rc);
    if (size && len > size)
        return -ERANGE;
    return (int)len;
}

static int mount_listxattr(const char *path, char *list, size_t size)
{
    size_t len;
    vault_error rc =
        vault_browse_xattr_list(mount_browse(), path, list, size, &len);
    if (rc != VAULT_OK)
        return mount_fail(rc);
    if (size && len > size)
        return -ERANGE;
    return (int)len;
}

static const struct fuse_operations mount_ops = {
    .init = mount_init,
    .getattr = mount_getattr,
    .readlink = mount_readlink,
    .readdir = mount_readdir,
    .open = mount_open,
    .read = mount_read,
    .release = mount_release,
    .getxattr = mount_getxattr,
    .listxattr = mount_listxattr,
};

/* Refuses a mountpoint that is not a folder, explaining the one a
 * killed mount left behind. */
static int check_mountpoint(const char *mountpoint)
{
    struct stat st;
    if (stat(mountpoint, &st) != 0) {
        if (errno == ENOTCONN)
            cli_error("%s: a FUSE mount (a `vault mount` that was killed?) "
                      "is still attached here but nobody serves it "
                      "(transport endpoint is not connected); unmount it "
                      "with `fusermount3 -u %s`, then mount again",
                      mountpoint, mountpoint);
        else
            cli_error("%s: %s", mountpoint, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        cli_error("%s: not a folder", mountpoint);
        return -1;
    }
    return 0;
}

/* Mounts browse at mountpoint and serves it until unmounted (fusermount3
 * -u, umount, or SIGINT/SIGTERM/SIGHUP to this process). */
static int serve(vault_browse_t *browse, const char *mountpoint,
                 int allow_other, int foreground)
{
    /* ro: nothing here writes.  allow_other lets other users in, so the
     * kernel then checks each file's recorded mode and owner
     * (default_permissions); without it only the mounting user gets in,
     * who could extract it all anyway. */
    char *argv[] = {"vault", "-o",
                    allow_other ? "ro,fsname=vault,subtype=vault,allow_other,"
                                  "default_permissions"
                                : "ro,fsname=vault,subtype=vault",
                    NULL};
    struct fuse_args args = FUSE_ARGS_INIT(3, argv);
    struct fuse *fuse = fuse_new(&args, &mount_ops, sizeof mount_ops, browse);
    if (!fuse) {
        cli_error("mount: libfuse refused the options");
        return EXIT_FAILURE_;
    }
    if (fuse_mount(fuse, mountpoint) != 0) {
        /* libfuse said why on stderr. */
        cli_error("%s: could not mount (is /dev/fuse there, and "
                  "fusermount3 installed?)",
                  mountpoint);
        fuse_destroy(fuse);
        return EXIT_FAILURE_;
    }
    /* In the background messages still go to where the mount was asked
     * for: a damaged file is named there.  The library runs no threads
     * between calls, so forking here loses none. */
    int saved_stderr = dup(STDERR_FILENO);
    int status = EXIT_OK;
    if (fuse_daemonize(foreground) != 0) {
        status = EXIT_FAILURE_;
    } else {
        if (saved_stderr >= 0)
            dup2(saved_stderr, STDERR_FILENO);
        struct fuse_session *se = fuse_get_session(fuse);
        if (fuse_set_signal_handlers(se) != 0) {
            cli_error("mount: could not handle signals");
            status = EXIT_FAILURE_;
        } else {
            /* libfuse returns the signal that ended the loop (Ctrl-C is a
             * clean way out), or a negative errno. */
            if (fuse_loop_mt(fuse, 0) < 0)
                status = EXIT_FAILURE_;
            fuse_remove_signal_handlers(se);
        }
    }
    if (saved_stderr >= 0)
        close(saved_stderr);
    fuse_unmount(fuse);
    fuse_destroy(fuse);
    fuse_opt_free_args(&args);
    return status;
}
#endif

int cmd_mount(int argc, char **argv)
{
    static const struct option options[] = {
        {"identity", required_argument, NULL, 'i'},
        {"passphrase-file", required_argument, NULL, 'F'},
        {"allow-other", no_argument, NULL, 'a'},
        {"foreground", no_argument, NULL, 'f'},
        {"cache-size", required_argument, NULL, 'c'},
        {NULL, 0, NULL, 0}};
    const char *identity = NULL, *passphrase_file = NULL;
    const char *cache_text = NULL;
    int allow_other = 0, foreground = 0, c;
    while ((c = getopt_long(argc, argv, "i:f", options, NULL)) != -1) {
        switch (c) {
        case 'i': identity = optarg; break;
        case 'F': passphrase_file = optarg; break;
        case 'a': allow_other = 1; break;
        case 'f': foreground = 1; break;
        case 'c': cache_text = optarg; break;
        default: return cli_bad_option("mount", argv);
        }
    }
    argc -= optind;
    argv += optind;
    const char *location = argc >= 2 ? argv[0] : NULL;
    if (location) {
        argc--;
        argv++;
    } else {
        location = cli_take_vault(&argc, &argv);
    }
    if (!location)
        return cli_usage("mount", "name the vault (or set VAULT_REPOSITORY)");
    if (argc != 1)
        return cli_usage("mount", argc ? "unexpected argument '%s'"
                                       : "name the mountpoint%s",
                         argc ? argv[1] : "");
    const char *mountpoint = argv[0];
#ifdef VAULT_HAVE_FUSE
    /* Chunks (up to a few MiB) come and go through the cache all the
     * time: from the heap, reused, rather than mapped afresh each time
     * (main's threshold), whose page faults and zeroing took a third of
     * a sequential read's time.  The cache bounds what is live. */
    mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    vault_browse_options bo;
    vault_browse_options_init(&bo);
    if (cache_text && !(bo.cache_bytes = (size_t)cli_parse_size(cache_text)))
        return cli_usage("mount",
                         "--cache-size: '%s' is not a size (like 64M)",
                         cache_text);
    if (check_mountpoint(mountpoint) != 0)
        return EXIT_FAILURE_;
    /* The server runs in "/" (fuse_daemonize goes there, also in the
     * foreground): a local vault and the mountpoint go by absolute
     * paths. */
    char *absolute = NULL, *mount_abs = realpath(mountpoint, NULL);
    if (!mount_abs) {
        cli_error("%s: %s", cli_text(mountpoint), strerror(errno));
        return EXIT_FAILURE_;
    }
    if (!vault_location_has_scheme(location) &&
        !(absolute = realpath(location, NULL))) {
        cli_error("%s: %s", cli_text(location), strerror(errno));
        free(mount_abs);
        return EXIT_FAILURE_;
    }
    vault_t *v = cli_open_vault(absolute ? absolute : location, identity,
                                passphrase_file);
    free(absolute);
    int status = EXIT_FAILURE_;
    vault_browse_t *browse;
    vault_error rc = v ? vault_browse_open(v, &bo, &browse) : VAULT_OK;
    if (v && rc != VAULT_OK) {
        status = cli_fail(rc);
    } else if (v) {
        status = serve(browse, mount_abs, allow_other, foreground);
        vault_browse_close(browse);
    }
    vault_close(v);
    free(mount_abs);
    return status;
#else
    (void)identity;
    (void)passphrase_file;
    (void)allow_other;
    (void)foreground;
    (void)cache_text;
    (void)mountpoint;
    cli_error("mount: this vault was built without FUSE (libfuse3)");
    return EXIT_FAILURE_;
#endif
}
