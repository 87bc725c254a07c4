/*
 * find.c - `find`: entries whose path matches a pattern, across
 * snapshots (restic's find), with add's pattern matcher
 * (common/pathmatch.h) asked for whole paths.
 *
 * Each snapshot is walked with paths (repo/tree_walk.h): the cost is the
 * entries of every snapshot searched; memory is the walk's, a decoded
 * tree per level.
 */
#include <stdlib.h>
#include <string.h>

#include "common/internal.h"
#include "common/pathmatch.h"
#include "ops/snapshot_list.h"
#include "repo/repo.h"
#include "repo/tree_walk.h"

typedef struct finder {
    const vlt_pattern_list *patterns;
    const char *snapshot;
    vault_find_fn fn;
    void *ctx;
    int stopped;
} finder;

static vault_error find_node(void *ctx, const vlt_tree_walk_at *at,
                             const tree_node *n, vlt_tree_walk_action *action)
{
    finder *f = ctx;
    if (!vlt_pattern_list_match(f->patterns, at->path, n->type == NODE_DIR,
                                NULL))
        return VAULT_OK;
    vault_file_info info;
    vlt_file_info_of(at->path, n, &info);
    if (f->fn(f->ctx, f->snapshot, &info)) {
        f->stopped = 1;
        *action = VLT_TREE_WALK_STOP;
    }
    return VAULT_OK;
}

static vault_error find_run(vault_t *v, const vault_find_options *o,
                            const vlt_pattern_list *patterns, vault_find_fn fn,
                            void *ctx)
{
    char(*ids)[65];
    size_t n;
    vault_error rc = vlt_snapshot_select(v, o->snapshots, o->n_snapshots,
                                         o->filter, &ids, &n);
    finder f = {.patterns = patterns, .fn = fn, .ctx = ctx};
    for (size_t i = 0; rc == VAULT_OK && i < n && !f.stopped; i++) {
        snapshot_record rec;
        rc = vlt_snapshot_open_id(v, ids[i], &rec);
        if (rc != VAULT_OK)
            break;
        f.snapshot = ids[i];
        vlt_tree_walk w = {.v = v, .ctx = &f, .node = find_node};
        rc = vlt_tree_walk_paths(&w, rec.tree, "");
        vlt_snapshot_clear(&rec);
    }
    free(ids);
    return rc;
}

vault_error vault_find(vault_t *v, const vault_find_options *o,
                       vault_find_fn fn, void *ctx)
{
    if (!v || !o || !fn || (o->n_patterns && !o->patterns) ||
        (o->n_snapshots && !o->snapshots))
        return vlt_fail(VAULT_E_INVALID, "find: missing argument");
    if (o->n_patterns == 0)
        return vlt_fail(VAULT_E_INVALID, "find: no pattern");
    vlt_pattern_list patterns = {
        .flags = VLT_PATTERN_WHOLE | (o->ignore_case ? VLT_PATTERN_CASEFOLD
                                                     : 0)};
    vault_error rc = VAULT_OK;
    for (size_t i = 0; rc == VAULT_OK && i < o->n_patterns; i++)
        rc = vlt_pattern_list_add(&patterns, o->patterns[i], 0);
    if (rc == VAULT_OK) {
        vlt_repo_list_ahead_read(v);
        rc = find_run(v, o, &patterns, fn, ctx);
        vlt_repo_list_ahead_done(v);
    }
    vlt_pattern_list_free(&patterns);
    return rc;
}
