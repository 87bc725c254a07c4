/*
 * tree_walk.h - walking a snapshot's trees: the one loop that loads each
 * tree blob, decodes it and hands its entries to the caller.  Private.
 *
 * Two walks share the callbacks below:
 *
 *   vlt_tree_walk_paths  depth first, entries in name order, each with its
 *                        path; every occurrence of a tree is walked.  For
 *                        listing (ls) and extraction, which need paths and
 *                        the order of a directory listing.
 *   vlt_tree_walk_once   breadth first from a list of roots, without paths.
 *                        It descends into a directory only when node()
 *                        says so, so a caller that keeps an ID set of what
 *                        it has seen (common/idset.h; prune's and check's
 *                        sets of referenced blobs) reads each distinct
 *                        tree once.  Holds one decoded tree at a time, so
 *                        a hostile vault's deep chain costs 32 bytes per
 *                        tree queued, not a decoded tree per level.
 *
 * Per directory, in both walks: the tree is loaded (load(), or the blob
 * loader of v: vlt_repo_load_tree); if that fails, damaged() decides
 * whether the walk goes on without that directory; else enter(), node()
 * for each entry, then leave().  No callback but node() is required.
 *
 * In a paths walk, enter() for a directory comes right after node()
 * returned VLT_TREE_WALK_CONTINUE for its entry, so node() may leave in
 * ctx what enter() needs (restore: the directory it just created).
 *
 * Errors: a callback's non-OK return ends the walk and is returned (after
 * leave() for every directory entered, with at->stopping set).  A tree
 * that cannot be loaded or decoded, a path too long (8191 bytes) and a
 * directory nested deeper than max_depth go to damaged() with the error
 * (its detail set); damaged() returns VAULT_OK to go on with the next
 * entry (check, restore: report and continue), or an error to end the
 * walk.  Without damaged() they end the walk.
 *
 * Memory: per walk, one allocation for the levels (paths) or the queue
 * (once), grown as needed; per directory only the decoded tree.  The
 * decoded trees held at once (a paths walk's levels; a once walk's one)
 * take at most max_memory: a tree that would take more goes to damaged()
 * with VAULT_E_UNSUPPORTED naming its path, before it is decoded.
 */
#ifndef VAULT_TREE_WALK_H
#define VAULT_TREE_WALK_H

#include "format/tree.h"
#include "vault.h"

/* Longest path a paths walk builds, NUL included. */
#define VLT_TREE_WALK_PATH_MAX 8192
/* Default max_depth: as deep as extraction goes. */
#define VLT_TREE_WALK_MAX_DEPTH 512
/* Default max_memory (VAULT_TREE_MEMORY_DEFAULT, vault.h). */
#define VLT_TREE_WALK_MAX_MEMORY VAULT_TREE_MEMORY_DEFAULT

/* What node() tells the walk to do next. */
typedef enum vlt_tree_walk_action {
    VLT_TREE_WALK_CONTINUE, /* go on; a directory entry is descended into */
    VLT_TREE_WALK_SKIP,     /* go on, but not into this directory */
    VLT_TREE_WALK_STOP      /* end the walk: it returns VAULT_OK */
} vlt_tree_walk_action;

/* Where a callback is called. */
typedef struct vlt_tree_walk_at {
    /* The ID of the directory's tree (node(): the tree holding the
     * entry). */
    const uint8_t *id;
    /* node(): the entry.  enter(), leave(), damaged(): the entry that
     * names the directory; NULL for a root. */
    const tree_node *node;
    /* Paths walk: node(): the entry's path; else the directory's ("" for
     * the root, or the root_path given).  Once walk: NULL. */
    const char *path;
    /* Paths walk: directories between the root and here (the root's
     * entries: 0; the root itself: 0; its subdirectories: 1).  Once: 0. */
    unsigned depth;
    /* node(), leave(): what enter() set for this directory.  enter(),
     * damaged(): the parent directory's (NULL for a root). */
    void *dir_state;
    /* leave(): the walk is ending early (an error or STOP), so leave()
     * should only release what enter() took. */
    int stopping;
} vlt_tree_walk_at;

typedef struct vlt_tree_walk {
    vault_t *v; /* trees load through v's blob loader (unless load) */
    void *ctx;  /* handed to every callback */
    /* Loads and decodes tree id into *out (zeroed); NULL:
     * vlt_repo_load_tree(v, ...).  On failure *out is cleared by the
     * walk. */
    vault_error (*load)(void *ctx, const uint8_t id[CHUNK_ID_BYTES],
                        tree *out);
    /* A directory's tree was read.  *dir_state (NULL on entry) is handed
     * to its node() and leave() calls.  t stays valid until leave()
     * returns; leave() may take its contents over (move *t, zero it:
     * the nodes do not move), e.g. for workers still using them.
     * enter() may clear *t (vlt_tree_clear) so that none of the
     * directory's entries is walked (restore: one it could not make). */
    vault_error (*enter)(void *ctx, const vlt_tree_walk_at *at, tree *t,
                         void **dir_state);
    /* One entry.  *action is VLT_TREE_WALK_CONTINUE on entry. */
    vault_error (*node)(void *ctx, const vlt_tree_walk_at *at,
                        const tree_node *n, vlt_tree_walk_action *action);
    /* The directory's entries are done (or the walk stops). */
    vault_error (*leave)(void *ctx, const vlt_tree_walk_at *at, tree *t,
                         void *dir_state);
    /* A directory that cannot be walked, and why (rc, with its detail);
     * VAULT_OK: go on without it. */
    vault_error (*damaged)(void *ctx, const vlt_tree_walk_at *at,
                           vault_error rc);
    /* Paths walk: a directory this many levels below the root is
     * damaged ("nested deeper than ..."); 0: VLT_TREE_WALK_MAX_DEPTH. */
    unsigned max_depth;
    /* Memory the decoded trees held at once may take; 0: v's limit
     * (vault_set_tree_memory_limit) or VLT_TREE_WALK_MAX_MEMORY. */
    size_t max_memory;
} vlt_tree_walk;

/* The IDs a walk of t loads next, for vlt_repo_prefetch: with trees, the
 * subtrees of its directories; else the chunks of its files of at most
 * max_file bytes that are not hardlinked.  At most max, in t's order, malloc'ed into *ids (NULL
 * when none or out of memory: prefetching is only ever a help). */
size_t vlt_tree_ahead(const tree *t, int trees, uint64_t max_file, size_t max,
                      uint8_t (**ids)[CHUNK_ID_BYTES]);

/* Walks the tree root, whose path is root_path ("" or NULL for a
 * snapshot's root; ls below a path passes that path, "/a/b"). */
vault_error vlt_tree_walk_paths(const vlt_tree_walk *w,
                                const uint8_t root[CHUNK_ID_BYTES],
                                const char *root_path);
/* Walks the trees roots[0 .. n_roots) and, breadth first, every
 * directory node() lets it descend into. */
vault_error vlt_tree_walk_once(const vlt_tree_walk *w,
                               const uint8_t (*roots)[CHUNK_ID_BYTES],
                               size_t n_roots);

/* Where a path leads in a snapshot (vlt_tree_find). */
typedef struct vlt_tree_found {
    /* The tree holding the entry; the root's ID when path is the root. */
    uint8_t dir[CHUNK_ID_BYTES];
    /* That tree, decoded (the caller clears it); empty for the root. */
    tree dir_tree;
    /* The entry in dir_tree; NULL when path is the root. */
    const tree_node *entry;
    /* The path as the walk names it: "/a/b" ("" for the root). */
    char path[VLT_TREE_WALK_PATH_MAX];
} vlt_tree_found;

/* Follows path ("/a/b", "a/b"; "", "/" or NULL: the root) down from the
 * tree root, one component at a time, loading the trees through v.
 * VAULT_E_NOT_FOUND names path when a component is missing or is not a
 * directory on the way.  On success the caller clears out->dir_tree
 * (vlt_tree_clear); on failure it is clear. */
vault_error vlt_tree_find(vault_t *v, const uint8_t root[CHUNK_ID_BYTES],
                          const char *path, vlt_tree_found *out);

#endif
