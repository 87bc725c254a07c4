/*
 * ls.c - `ls`: the entries of a snapshot, below a path, one level or all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/internal.h"
#include "ops/snapshot_list.h"
#include "repo/repo.h"
#include "repo/tree_walk.h"

typedef struct ls_walk {
    vault_ls_fn fn;         /* the caller's, per entry */
    void *ctx;              /* the caller's */
    int recursive;          /* into subdirectories too */
    int stopped;            /* fn asked to stop */
} ls_walk;

static int ls_emit(ls_walk *w, const char *path, const tree_node *n)
{
    vault_file_info info;
    vlt_file_info_of(path, n, &info);
    if (w->fn(w->ctx, &info))
        w->stopped = 1;
    return w->stopped;
}

static vault_error ls_node(void *ctx, const vlt_tree_walk_at *at,
                           const tree_node *n, vlt_tree_walk_action *action)
{
    ls_walk *w = ctx;
    if (ls_emit(w, at->path, n))
        *action = VLT_TREE_WALK_STOP;
    else if (!w->recursive)
        *action = VLT_TREE_WALK_SKIP;
    return VAULT_OK;
}

static vault_error ls_run(vault_t *v, const char *ref, const char *path,
                          int recursive, vault_ls_fn fn, void *ctx)
{
    ls_walk w = {.fn = fn, .ctx = ctx, .recursive = recursive};
    vlt_tree_found *at;
    vault_error rc = vlt_snapshot_find(v, ref, path, &at);
    if (rc != VAULT_OK)
        return rc;
    if (at->entry && at->entry->type != NODE_DIR) {
        ls_emit(&w, at->path, at->entry); /* a file: itself */
    } else {
        /* As deep as extraction goes (the walk's default): a hostile
         * vault's deep chain would otherwise hold one decoded tree per
         * level. */
        uint8_t dir[CHUNK_ID_BYTES];
        memcpy(dir, at->entry ? at->entry->subtree : at->dir, sizeof dir);
        vlt_tree_clear(&at->dir_tree);
        vlt_tree_walk walk = {.v = v, .ctx = &w, .node = ls_node};
        rc = vlt_tree_walk_paths(&walk, dir, at->path);
    }
    vlt_tree_found_free(at);
    return rc;
}

vault_error vault_ls(vault_t *v, const char *ref, const char *path,
                     int recursive, vault_ls_fn fn, void *ctx)
{
    vlt_repo_list_ahead_read(v);
    vault_error rc = ls_run(v, ref, path, recursive, fn, ctx);
    vlt_repo_list_ahead_done(v);
    return rc;
}
