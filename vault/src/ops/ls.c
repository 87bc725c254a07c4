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
    char path[VLT_TREE_WALK_PATH_MAX]; /* while finding the start */
} ls_walk;

static int ls_emit(ls_walk *w, const char *path, const tree_node *n)
{
    vault_file_info info = {
        .path = path[0] ? path : "/",
        .type = (vault_file_type)n->type,
        .mode = n->mode,
        .uid = n->uid,
        .gid = n->gid,
        .user = n->user ? n->user : "",
        .group = n->group ? n->group : "",
        .size = n->size,
        .mtime_sec = n->mtime_sec,
        .mtime_nsec = n->mtime_nsec,
        .target = n->target,
        .nlink = n->nlink,
        .inode = n->inode,
    };
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
    snapshot_record rec;
    vault_error rc = vlt_snapshot_open_ref(v, ref, &rec);
    if (rc != VAULT_OK)
        return rc;
    ls_walk *w = calloc(1, sizeof *w);
    if (!w) {
        vlt_snapshot_clear(&rec);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    w->fn = fn;
    w->ctx = ctx;
    w->recursive = recursive;
    uint8_t dir[CHUNK_ID_BYTES];
    memcpy(dir, rec.tree, CHUNK_ID_BYTES);
    vlt_snapshot_clear(&rec);

    /* Walk down to path, one component at a time. */
    const char *p = path ? path : "";
    while (rc == VAULT_OK && *p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, "/");
        tree t = {0};
        size_t limit = vlt_tree_decode_limit(vlt_repo_tree_memory_limit(v));
        rc = vlt_repo_load_tree(v, dir, &t);
        vlt_tree_decode_limit(limit);
        if (rc != VAULT_OK)
            break;
        const tree_node *found = NULL;
        for (uint32_t i = 0; i < t.n_nodes; i++)
            if (strlen(t.nodes[i].name) == len &&
                memcmp(t.nodes[i].name, p, len) == 0)
                found = &t.nodes[i];
        size_t base = strlen(w->path);
        if (!found || base + len + 2 > sizeof w->path) {
            rc = vlt_fail(VAULT_E_NOT_FOUND, "%s: no such file in the "
                                             "snapshot",
                          path);
        } else {
            snprintf(w->path + base, sizeof w->path - base, "/%.*s",
                     (int)len, p);
            p += len;
            while (*p == '/')
                p++;
            if (found->type == NODE_DIR) {
                memcpy(dir, found->subtree, CHUNK_ID_BYTES);
            } else if (*p) {
                rc = vlt_fail(VAULT_E_NOT_FOUND,
                              "%s: not a directory in the snapshot", path);
            } else {
                ls_emit(w, w->path, found);
                vlt_tree_clear(&t);
                free(w);
                return VAULT_OK;
            }
        }
        vlt_tree_clear(&t);
    }
    if (rc == VAULT_OK) {
        /* As deep as extraction goes (the walk's default): a hostile
         * vault's deep chain would otherwise hold one decoded tree per
         * level. */
        vlt_tree_walk walk = {.v = v, .ctx = w, .node = ls_node};
        rc = vlt_tree_walk_paths(&walk, dir, w->path);
    }
    free(w);
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
