/*
 * add_source.h - where `add` gets what it backs up.  Private.
 *
 * The mirror of restore's restore_source (ops/restore/restore.h): the
 * add pipeline (add_tree.c, add_pipeline.c) pulls entries from a source
 * through this small table and turns them into trees and blobs; it never
 * looks at a file system itself.  Sources: the file system walker
 * (source_fs.c), standard input as one file and an archive's entries
 * (source_stream.c), another vault's snapshot (source_snapshot.c).
 *
 * The walk, one call to next() per step, in pre-order:
 *
 *     ADD_ITEM_NODE  a top-level entry: one of the paths being added
 *       ADD_ITEM_NODE  an entry of that directory (if it is one)
 *         ...          (a directory's entries follow it, sorted by name)
 *       ADD_ITEM_DIR_END   that directory has no more entries
 *     ADD_ITEM_NODE  the next top-level entry
 *     ...
 *     ADD_ITEM_END
 *
 * Every directory item is followed by its entries and a DIR_END (none
 * for one kept empty: a mount point not crossed, or one that could not
 * be opened - reported).  A top-level item's path names where it goes in
 * the snapshot: the directories above it come from parent().
 *
 * While an item is the current one (until the next call to next), the
 * pipeline may read its content (files) and its extended attributes.
 * All calls come from one thread (the add's caller).
 *
 * Failures: an item the source cannot read, or cannot read fully, it
 * reports through the add_report_fn it was given (counted in the
 * result's errors; the add goes on) and leaves out, or leaves without
 * the part it could not read.  An error returned stops the add.
 */
#ifndef VAULT_ADD_SOURCE_H
#define VAULT_ADD_SOURCE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "format/snapshot.h"
#include "format/tree.h"
#include "repo/filecache.h"
#include "vault.h"

typedef enum add_item_kind {
    ADD_ITEM_NODE,    /* an entry: add_item.node and the fields below */
    ADD_ITEM_DIR_END, /* the directory last entered has no more entries */
    ADD_ITEM_END,     /* the walk is over */
} add_item_kind;

typedef struct add_item {
    add_item_kind kind; /* what this step is; the rest is for NODE */
    /* ADD_ITEM_NODE: name, type and metadata (mode, owner ids and names,
     * mtime, size, inode, device, nlink, rdev; a symlink's target, NULL
     * when it could not be read - reported, the symlink is left out).
     * Content, subtree and xattrs are left empty.  The pipeline takes it
     * over (the source must not free it). */
    tree_node node;
    /* The entry's path, for reports and the files cache ('/'-separated;
     * a top-level item's is absolute and clean).  Valid until the next
     * call to next. */
    const char *path;
    /* Top-level items: the path as the caller named it, for messages. */
    const char *given;
    /* NODE_FILE with use_cache: what the files cache compares to know
     * the file unchanged (its content then is not read).  use_cache 0:
     * the source has no stable identity for files; always read. */
    filecache_key key;
    int use_cache;      /* key is meaningful */
    /* NODE_FILE: a stream whose length is known only at its end
     * (node.size 0): the file is what read() gives. */
    int size_unknown;
    /* A top-level item that is one entry of many placed by path (an
     * archive's), not a path given: it is not recorded in the snapshot's
     * paths; one that collides with an entry placed before (the same
     * name, or below a non-directory) is reported and left out; a
     * NODE_DIR sets the metadata of the directory at path, made or not
     * (no entries nor DIR_END follow it: placed items go inside it). */
    int placed;
    /* Placed NODE_FILE: a hard link to the file placed before at this
     * path (absolute, clean), whose content it shares; read() is not
     * called.  NULL: none. */
    const char *link_to;
} add_item;

typedef struct add_source {
    /* The next step of the walk into *item (see the top of this file).
     * *item is zeroed first, so that on failure too the caller may clear
     * item->node. */
    vault_error (*next)(void *ctx, add_item *item);
    /* Reads up to cap bytes of the current item's content (a file) into
     * buf; *got is 0 at its end.  VAULT_E_PARTIAL: it cannot be read (any
     * more) - reported, the pipeline leaves it out; any other error stops
     * the add. */
    vault_error (*read)(void *ctx, uint8_t *buf, size_t cap, size_t *got);
    /* Fills node's xattrs with the current item's extended attributes
     * (those it cannot read reported and left out); returns whether it
     * has any.  Called at most once per item - not at all for a file the
     * files cache knows unchanged and without any. */
    int (*xattrs)(void *ctx, tree_node *node);
    /* Fills *node (name and metadata) for the directory at path, above a
     * top-level item; name is path's last component. */
    vault_error (*parent)(void *ctx, const char *path, const char *name,
                          tree_node *node);
    void *ctx; /* the source's own, handed to every call */
} add_source;

/* How a source reports an item it leaves out or cannot read fully. */
typedef void (*add_report_fn)(void *ctx, const char *path,
                              const char *detail);

/* ---- the file system (source_fs.c) -------------------------------------
 * Walks o->paths (o->excludes, o->one_file_system apply): directories
 * read whole and sorted, entries stat'ed relative to their directory,
 * the next few files opened and read ahead, and helper threads stat'ing
 * ahead of the walk; when cache knows no file (a first add; NULL: no
 * cache), one more reading the files' data ahead, within a window of
 * bytes past the files the walk has reached.  cache: files it knows
 * unchanged are not read ahead.  vlt_add_source_fs_close frees what open
 * made, also after an open that failed. */
vault_error vlt_add_source_fs_open(const vault_add_options *o,
                                   filecache *cache,
                                   add_report_fn report, void *report_ctx,
                                   add_source *out);
void vlt_add_source_fs_close(add_source *src);
/* For tests: the data read-ahead's window for the sources opened next
 * (0: the default), and how far into the walk's order (bytes of regular
 * files) a source's read-ahead has asked for data so far. */
void vlt_add_source_fs_set_window(uint64_t bytes);
uint64_t vlt_add_source_fs_asked(const add_source *src);
/* The same walk, only for counting what it holds (progress totals): no
 * content is opened or read ahead and nothing is reported.  Closed with
 * vlt_add_source_fs_close. */
vault_error vlt_add_source_fs_scan_open(const vault_add_options *o,
                                        add_source *out);
/* in made absolute (from the current directory) and lexically clean
 * into out, without following its last component (a symlink given is
 * stored as a symlink). */
vault_error vlt_add_absolute_path(const char *in, char out[PATH_MAX + 1]);

/* ---- one stream (source_stream.c) --------------------------------------
 * stdin: one file, o->stdin_filename (a name, or a relative path whose
 * directories are made up: mode 0755, the caller's, now), holding what
 * o->input_fd gives to its end; the file is mode 0600, the caller's,
 * now.  tar: the entries of the archive o->tar ("-": o->input_fd) as
 * placed items, their metadata as the archive has it (owners out of
 * range are 0; inodes made up).  Both: VAULT_E_INVALID for a name with
 * "..", an archive that cannot be opened is an error; close frees what
 * open made, also after an open that failed. */
vault_error vlt_add_source_stdin_open(const vault_add_options *o,
                                      add_report_fn report, void *report_ctx,
                                      add_source *out);
vault_error vlt_add_source_tar_open(const vault_add_options *o,
                                    add_report_fn report, void *report_ctx,
                                    add_source *out);
void vlt_add_source_stream_close(add_source *src);

/* ---- a snapshot of another vault (source_snapshot.c) ---------------------
 * Walks the snapshot whose root tree is root in vault from (opened for
 * reading, its index loaded): the root's entries are the top-level items
 * (paths "/<name>", so parent() is never needed), and every entry below
 * comes with the metadata recorded (mode, owners, times, inode, device,
 * link count, rdev, target, xattrs) and its content streamed from from's
 * blobs; runs of zero chunks are produced without loading them.  A
 * file's content that does not add up to its recorded size, or a tree
 * or chunk that cannot be read, stops the add (a copy is exact or not
 * made).  n_top gets the number of top-level items.  withhold: the
 * snapshot is another member's, so the items below are left as the
 * predicates below say, each counted in *withheld.
 * vlt_add_source_snapshot_close frees what open made, also after an open
 * that failed. */
vault_error vlt_add_source_snapshot_open(vault_t *from,
                                         const uint8_t root[CHUNK_ID_BYTES],
                                         int withhold, uint64_t *withheld,
                                         size_t *n_top, add_source *out);
void vlt_add_source_snapshot_close(add_source *src);

/* A copy of another member's snapshot is the copier's in the destination,
 * where extraction would no longer withhold the privileges it withholds
 * from another member's snapshot (format.md §16.2); the copy withholds
 * them instead (§12.2): device nodes are left out, set-id bits cleared on
 * all but directories, the security.capability xattr left out. */
int vlt_copy_withholds_node(const tree_node *n);
uint32_t vlt_copy_withheld_mode(const tree_node *n); /* n's mode to keep */
int vlt_copy_withholds_xattr(const node_xattr *x);

/* ---- running an add from any source (archiver.c) ------------------------
 * What vault_add does, from the source open() makes (with the files
 * cache, which is disabled when o->cache_dir is "", and the report
 * function the add counts errors with): the add marker, the pipeline,
 * the trees, the snapshot.  o->n_paths is the number of top-level items
 * the source yields (o->paths is not read here).  as: NULL, the snapshot
 * is of now, this host (o->hostname) and user, with o->tags and the
 * top-level items' paths; else it takes as's time, hostname, username,
 * paths, tags and counts of files and directories (copy keeps the
 * original's; the bytes read and added are the run's own). */
typedef struct add_origin {
    vault_error (*open)(void *ctx, const vault_add_options *o,
                        filecache *cache, add_report_fn report,
                        void *report_ctx, add_source *out);
    void (*close)(add_source *src);
    void *ctx;
    const snapshot_record *as;
} add_origin;
vault_error vlt_add_run(vault_t *v, const vault_add_options *o,
                        const add_origin *origin, vault_add_result *r);

/* The name of user id (group 0) or group id (group 1), "" if it has
 * none; malloc'ed (NULL: out of memory). */
char *vlt_add_owner_name(uint32_t id, int group);

#endif
