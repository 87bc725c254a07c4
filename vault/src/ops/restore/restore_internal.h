/*
 * restore_internal.h - what the restore driver (restore.c) and its two
 * sinks share.  Private to ops/restore.
 *
 * restore.c walks the snapshot's trees through the shared walker
 * (repo/tree_walk.h) - include filter, name checks, hardlink table,
 * reports - and hands every selected node to a sink:
 *
 *   restore_dir.c  files in a target directory (safe openat writes,
 *                  temporary names, metadata, hardlinks, holes), files
 *                  restored by a worker pool
 *   restore_tar.c  a pax tar stream
 *
 * A sink sees the current item's path in r->path ('/'-separated,
 * relative to the snapshot's root) and reports item failures with
 * vlt_restore_report*; what it returns is for errors that stop
 * everything.
 */
#ifndef VAULT_RESTORE_INTERNAL_H
#define VAULT_RESTORE_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/pool.h"
#include "ops/restore/restore.h"

/* Nesting deeper than this is refused: each level holds a descriptor and
 * a decoded tree, and only a hostile vault would need more. */
#define RESTORE_MAX_DEPTH 512

/* Files up to this size have their content loaded ahead with other
 * small files (restore_ahead.c). */
#define RESTORE_PREFETCH_FILE (2u * 1024 * 1024)

struct open_dir; /* restore_dir.c */
typedef struct restore_ahead restore_ahead; /* restore_ahead.c */
struct archive;  /* libarchive */
typedef struct restorer restorer;

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
    size_t n_comps;   /* in comps */
    int done;         /* reached, or its failure already reported */
    /* Components matched along the walk's current path: the include
     * leads on below a directory at depth d while matched >= d (and
     * d < n_comps); set again at each entry of depth d. */
    unsigned matched;
} include_path;

/* Where the walk's nodes go.  Called on the walking thread, in the
 * walk's order (repo/tree_walk.h): dir_enter, the directory's entries,
 * dir_leave. */
typedef struct restore_sink {
    /* Opens the output (r->opt says which). */
    vault_error (*open)(restorer *r);
    /* Directory n (the current item; NULL: the root), whose tree was
     * read: makes the directory (or writes its header).  *made: the
     * sink's state for the directory, handed to dir_leave; left NULL
     * when it could not be made (reported), and then none of its
     * entries is walked and dir_leave is not called. */
    vault_error (*dir_enter)(restorer *r, const tree_node *n, void **made);
    /* The directory's entries are done (stopping: the walk ends early on
     * an error).  t is the directory's tree, taken over if the sink still
     * needs its nodes (move *t, zero it: the nodes do not move). */
    vault_error (*dir_leave)(restorer *r, tree *t, void *made,
                             int stopping);
    /* After the walk (rc: how it ended, its detail on this thread):
     * waits for whatever the sink still does; returns rc, or the
     * sink's own failure when rc is VAULT_OK. */
    vault_error (*walked)(restorer *r, vault_error rc);
    /* A regular file (perhaps a later link to an earlier one). */
    vault_error (*file)(restorer *r, const tree_node *n);
    /* A symlink (with a target), fifo or device. */
    vault_error (*special)(restorer *r, const tree_node *n);
    /* After a walk that succeeded: completes the output. */
    vault_error (*close)(restorer *r);
    /* Releases what open made (whether or not it succeeded). */
    void (*release)(restorer *r);
} restore_sink;

extern const restore_sink vlt_restore_dir_sink;
extern const restore_sink vlt_restore_tar_sink;

struct restorer {
    const restore_source *src; /* trees and chunks */
    const restore_options *opt;
    restore_stats *stats;      /* counted as the restore goes */
    const restore_sink *sink;  /* the directory or the tar stream */
    /* directory mode (restore_dir.c) */
    int target_fd;      /* the target; else -1 */
    int target_fresh;   /* made by this restore (open_dir.fresh) */
    int own;            /* chown items: restore_owner and running as root */
    int drop;           /* opt->drop_privileges */
    atomic_uint_least64_t withheld; /* stats->withheld, from any thread */
    uid_t euid;         /* who new entries belong to before any chown */
    gid_t egid;         /* and their group (without set-gid) */
    gid_t dir_gid;      /* the group new entries in the directory being
                           restored get (its own with set-gid, else egid) */
    mode_t umask_bits;  /* the process's umask, read at open */
    int umask_known;    /* else every file gets an fchmod */
    uint64_t temp_base; /* random per restore: temporary names are */
    atomic_uint_least64_t temp_seq; /* temp_base + temp_seq++, so
                           unguessable and fresh without asking for
                           randomness per file */
    /* Workers (directory mode): the walker queues files that are not
     * hardlinked; workers restore each whole (load, verify, write,
     * rename).  A directory's metadata waits for its files (open_dir).
     * Without a pool the walker restores every file itself.  The pool's
     * lock also guards stats, reports and directories' references. */
    vlt_pool *pool;         /* the workers; NULL: none */
    struct file_job *batch; /* files of the walker's directory gathered
                               for a job, not queued yet; NULL: none */
    struct open_dir *dir;   /* the walker's directory */
    size_t open_dirs;       /* open_dir objects alive (under the lock) */
    /* tar mode (restore_tar.c) */
    struct archive *ar; /* the stream; else NULL */
    int tar_broken;     /* a tar write failed: the stream is lost */
    /* the walk (restore.c) */
    const char *path;   /* the current item, relative, '/'-separated (in
                           the walk's buffer: valid during the walk) */
    unsigned full_depth; /* entries this deep or deeper on the current
                           path are all selected; UINT_MAX: none */
    unsigned keep_depth; /* the same for opt->keep */
    link_slot *links; /* open addressing, links_cap a power of two */
    size_t links_cap, links_used;
    include_path *inc;  /* the include filter (opt->include, split) */
    size_t n_inc;       /* 0: everything */
    /* loading ahead (restore_ahead.c) */
    restore_ahead *ahead; /* NULL: not loading ahead */
    /* directories the restore walk entered (read by restore_ahead.c's
     * loaders) */
    atomic_uint_least64_t walk_entered;
};

/* ---- restore_ahead.c ---------------------------------------------------- */

/* Starts loading ahead (when the source can, and there are no includes)
 * from root, the snapshot's root tree as the walk read it. */
void vlt_restore_ahead_start(restorer *r, const tree *root);
/* The restore walk entered its r->walk_entered-th directory: plans and
 * loads the next windows once it reached the last one's first. */
void vlt_restore_ahead_step(restorer *r);
void vlt_restore_ahead_free(restorer *r);

/* ---- restore.c ---------------------------------------------------------- */

vault_error vlt_restore_nomem(void);

/* Whether x is the file-capability xattr (a privilege, like set-uid). */
int vlt_restore_is_capability(const node_xattr *x);

/* The pool's lock, when there is a pool (else nothing to guard). */
void vlt_restore_lock(restorer *r);
void vlt_restore_unlock(restorer *r);

/* Counts and reports a failed item (from any thread: one at a time). */
void vlt_restore_report(restorer *r, const char *path, vault_error code,
                        const char *detail);
/* Reports item path: the system said e while doing what. */
void vlt_restore_report_errno_at(restorer *r, const char *path, int e,
                                 const char *what);
/* The same for the current item. */
void vlt_restore_report_errno(restorer *r, int e, const char *what);
/* Reports the current item with the detail the failing call left (the
 * detail is per thread: call on the thread that failed). */
void vlt_restore_report_last(restorer *r, vault_error code);

/* The path the first restored occurrence of n's inode got, or NULL. */
const char *vlt_restore_links_find(const restorer *r, const tree_node *n);
/* Remembers the current path as where n's inode went. */
vault_error vlt_restore_links_add(restorer *r, const tree_node *n);

/* Takes len bytes of content: data, or len zeros when data is NULL. */
typedef vault_error (*content_sink)(restorer *r, void *ctx,
                                    const uint8_t *data, size_t len);

/* Feeds n's chunks in order to sink, checking they add up to n->size
 * (never passing more); a chunk of zeros the source knows by its ID is
 * not loaded but passed as data NULL.  *done: the bytes sink took.  On
 * failure the detail names what failed (load_chunk names the object). */
vault_error vlt_restore_content_each(restorer *r, const tree_node *n,
                                     content_sink sink, void *ctx,
                                     uint64_t *done);

/* A file restored (bytes of content), for the progress report. */
static inline void vlt_restore_progress(const restorer *r, uint64_t bytes)
{
    if (r->opt->progress)
        vlt_progress_add(r->opt->progress, 1, bytes);
}

#endif
