/*
 * restore.h - turning a snapshot's trees back into files, safely, or into
 * a pax tar stream.  Private.  Format spec: "Extraction rules".
 *
 * Everything read comes from a vault that may be hostile, so restoring
 * never writes outside the target directory: names are single components
 * (checked again here), directories are walked with openat(O_NOFOLLOW |
 * O_DIRECTORY) from a descriptor of the target, never through a symlink,
 * and each file is written under a temporary name and renamed into place
 * only after all its chunks verified.
 */
#ifndef VAULT_RESTORE_H
#define VAULT_RESTORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/idset.h"
#include "common/pathmatch.h"
#include "common/progress.h"
#include "format/tree.h"
#include "vault.h"

/* Where trees and chunks come from: the vault, or a test's fake. */
typedef struct restore_source {
    /* Decodes the tree blob with this ID into *out (vlt_tree_clear frees). */
    vault_error (*load_tree)(void *ctx, const uint8_t id[CHUNK_ID_BYTES],
                             tree *out);
    /* The verified plaintext of a data chunk; *data malloc'ed. */
    vault_error (*load_chunk)(void *ctx, const uint8_t id[CHUNK_ID_BYTES],
                              uint8_t **data, size_t *len);
    /* Optional (NULL: every chunk is loaded).  A chunk's length, without
     * reading it, and whether it is all zeros - known from its ID alone,
     * IDs being hashes of the content.  Such chunks are not loaded: in
     * directory mode they become holes, in tar mode holes in the entry's
     * sparse map.  Called from the same threads as load_chunk. */
    vault_error (*chunk_size)(void *ctx, const uint8_t id[CHUNK_ID_BYTES],
                              uint32_t *len, int *zero);
    void *ctx;
    /* Optional (NULL: load_chunk and chunk_size, chunk by chunk).  A
     * file's n chunks at once, handed to fn in order, each lent for the
     * call (data NULL for a chunk of zeros, not loaded): the vault
     * reads neighbouring chunks of a pack in one request.  A non-OK
     * return of fn stops it and is returned. */
    vault_error (*load_chunks)(void *ctx,
                               const uint8_t (*ids)[CHUNK_ID_BYTES], size_t n,
                               vault_error (*fn)(void *fn_ctx,
                                                 const uint8_t *data,
                                                 size_t len),
                               void *fn_ctx);
    /* Optional: the walk is about to need these trees (trees 1: a
     * directory's subtrees) or chunks (0: its small files' content): the
     * vault marks them as coming (their loads wait for them) and returns
     * a plan (NULL: nothing to load), which prefetch_load (any thread)
     * then loads, many per round trip, and frees.  Both or neither. */
    void *(*prefetch)(void *ctx, const uint8_t (*ids)[CHUNK_ID_BYTES],
                      size_t n, int trees);
    void (*prefetch_load)(void *ctx, void *plan);
    /* Optional, with prefetch: decodes tree id if it was loaded ahead
     * (into *out, zeroed), so that the walk can load the small files of
     * the subdirectories with the directory's; else not VAULT_OK. */
    vault_error (*peek_tree)(void *ctx, const uint8_t id[CHUNK_ID_BYTES],
                             tree *out);
    /* Optional, with prefetch: a plan that a thread which never waits
     * for a file will load; the files that need its chunks wait for it
     * rather than load them alone (restore_ahead.c's loaders). */
    void (*prefetch_promise)(void *ctx, void *plan);
    /* Optional, with prefetch: the bytes chunk id takes as stored.  A
     * source offers it when its chunks are far away (remote storage):
     * windows ahead are then cut by what they hold as stored, not by
     * their plaintext, so that each is as large as memory allows and
     * reads a pack in fewer requests (restore_ahead.c). */
    vault_error (*chunk_stored)(void *ctx, const uint8_t id[CHUNK_ID_BYTES],
                                uint32_t *stored);
    /* Optional, with chunk_stored: whether bytes as stored in blobs
     * chunks more fit in what the source holds loaded ahead without
     * dropping any.  Windows are then planned as long as they fit, by
     * the loaders too, rather than a fixed few ahead of the walk. */
    int (*prefetch_fits)(void *ctx, uint64_t bytes, size_t blobs);
    /* With chunk_stored: the chunks are a round trip of 10 ms or more
     * away, and the source holds more of them ahead: windows grow. */
    int far;
} restore_source;

/* Told about every item that failed; restoring goes on with the rest. */
typedef void (*restore_error_fn)(void *ctx, const char *path,
                                 vault_error code, const char *detail);

typedef struct restore_options {
    const char *target_dir; /* files: created if absent (one level) */
    int tar_fd;             /* >= 0: write a pax tar stream here instead */
    int overwrite;          /* replace existing files (never directories
                               with files, never through symlinks) */
    int restore_owner;      /* chown to uid/gid (when running as root) */
    /* Withhold privileges the snapshot asks for: no set-uid/set-gid bits
     * on files, no security.capability xattr, no device nodes.  For
     * snapshots another member wrote (format spec "Extraction"). */
    int drop_privileges;
    /* Only these snapshot paths and what is below them (NULL: all).
     * Paths are '/'-separated from the snapshot's root, e.g.
     * "home/ann/docs" (a leading '/' is ignored). */
    const char *const *include;
    size_t n_include;
    restore_error_fn on_error;
    void *on_error_ctx;
    /* Directory mode: threads restoring files besides the caller's (0:
     * none).  load_chunk and on_error are then called from them (never
     * two on_error at once); load_chunk must be thread-safe. */
    unsigned workers;
    /* Memory the decoded trees of the walk may take at once (0: the
     * default, VAULT_TREE_MEMORY_DEFAULT); see tree_walk.h. */
    size_t tree_memory;
    /* Told each file restored (NULL: nothing). */
    vlt_progress *progress;
    /* Pattern filters (restic's --exclude and --include), on snapshot
     * paths: path_prefix (the snapshot path of the restore's root, ""
     * for the snapshot's root) followed by the walk's path.  exclude:
     * entries it matches (a folder: all it holds) are left out.  keep:
     * only the entries it holds and what they hold, and the folders on
     * the way to them (restore_keep_*).  NULL: no such filter. */
    const vlt_pattern_list *exclude[2]; /* exact, case folded; NULL */
    const struct restore_keep *keep;
    const char *path_prefix;
} restore_options;

/* The entries an include pattern selects, found by a walk before the
 * restore (extract.c): hashes of their walk paths, and of the folders
 * above them. */
typedef struct restore_keep {
    vlt_idset paths;
    vlt_idset parents;
} restore_keep;
/* Adds walk path (e.g. "/home/ann/x") and the folders above it. */
vault_error vlt_restore_keep_add(restore_keep *k, const char *path);
/* 2: path was added (all below it is kept); 1: a folder above one
 * added; 0: neither. */
int vlt_restore_keep_find(const restore_keep *k, const char *path);
void vlt_restore_keep_free(restore_keep *k);

/* Directories restore keeps open at most (besides those the walk is
 * in) while their files are still being written: leaving a directory,
 * the walker goes on without waiting for its files unless this many are
 * open. */
#define RESTORE_OPEN_DIRS_MAX 128

typedef struct restore_stats {
    uint64_t files, dirs, symlinks, others; /* items restored */
    uint64_t bytes;                         /* file content bytes written */
    uint64_t errors;                        /* items that failed */
    uint64_t withheld; /* with drop_privileges: devices not made, set-id
                          bits and capabilities not given */
    uint64_t skipped;  /* already there as in the snapshot (a resumed
                          restore): left alone */
    uint64_t differ;   /* in the way and different: not replaced (without
                          overwrite; also counted in errors) */
    uint64_t temporaries_removed; /* an interrupted restore's leftovers */
} restore_stats;

/*
 * Restores the tree with ID root.  Returns VAULT_OK when everything was
 * restored, VAULT_E_PARTIAL when some items failed (each reported through
 * on_error and counted), or an error that stopped everything (target
 * unusable, a tar write failed, out of memory).
 */
vault_error vlt_restore_run(const restore_source *src,
                            const uint8_t root[CHUNK_ID_BYTES],
                            const restore_options *opt, restore_stats *stats);

#endif
