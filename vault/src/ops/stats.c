/*
 * stats.c - `stats`: what snapshots hold (entries, restore size) and what
 * their distinct chunks and trees take in the vault.
 *
 * Each snapshot is walked with paths (repo/tree_walk.h) so that a folder
 * occurring twice is counted twice, as extract would write it; chunks and
 * trees go into ID sets, one per snapshot and one for all, so that what
 * is shared is counted once where it is stored once.  Stored sizes come
 * from the index (the best copy of each ID).
 */
#include <stdlib.h>
#include <string.h>

#include "common/idset.h"
#include "common/internal.h"
#include "ops/snapshot_list.h"
#include "repo/repo.h"
#include "repo/tree_walk.h"

typedef struct sizer {
    vault_t *v;
    vlt_idset seen;     /* this snapshot's chunks and trees */
    vlt_idset all;      /* every snapshot's */
    vault_stats_info *one, *total;
} sizer;

/* The stored size of blob id, 0 if the index does not list it (check
 * names such damage; stats only adds up). */
static uint64_t stored_size(const vault_t *v, const uint8_t id[CHUNK_ID_BYTES])
{
    const index_slot *s = vlt_index_find(&v->index, id);
    if (!s)
        return 0;
    pack_entry e;
    vlt_index_slot_entry(&v->index, s, &e);
    return e.length;
}

/* Counts blob id (a chunk of raw bytes, or a tree: raw 0) in the
 * snapshot's sizes and, once across snapshots, in the total's. */
static vault_error count_blob(sizer *z, const uint8_t id[CHUNK_ID_BYTES],
                              int is_tree)
{
    uint32_t number;
    int fresh;
    vault_error rc = vlt_idset_put(&z->seen, id, &number, &fresh);
    if (rc != VAULT_OK || !fresh)
        return rc;
    vault_stats_info *to[2] = {z->one, z->total};
    rc = vlt_idset_put(&z->all, id, &number, &fresh);
    if (rc != VAULT_OK)
        return rc;
    uint64_t stored = stored_size(z->v, id);
    uint32_t raw = 0;
    int zero = 0;
    if (!is_tree && vlt_repo_chunk_size(z->v, id, &raw, &zero) != VAULT_OK)
        raw = 0; /* not indexed: check reports it */
    for (int i = 0; i < (fresh ? 2 : 1); i++) {
        to[i]->stored_bytes += stored;
        if (is_tree) {
            to[i]->trees++;
        } else {
            to[i]->chunks++;
            to[i]->chunk_bytes += raw;
        }
    }
    return VAULT_OK;
}

static vault_error stats_enter(void *ctx, const vlt_tree_walk_at *at, tree *t,
                               void **dir_state)
{
    (void)t;
    (void)dir_state;
    return count_blob(ctx, at->id, 1);
}

static vault_error stats_node(void *ctx, const vlt_tree_walk_at *at,
                              const tree_node *n, vlt_tree_walk_action *action)
{
    (void)at;
    (void)action;
    sizer *z = ctx;
    vault_stats_info *to[2] = {z->one, z->total};
    for (int i = 0; i < 2; i++) {
        if (n->type == NODE_FILE) {
            to[i]->files++;
            to[i]->restore_bytes += n->size;
        } else if (n->type == NODE_DIR) {
            to[i]->dirs++;
        } else {
            to[i]->others++;
        }
    }
    for (uint32_t i = 0; n->type == NODE_FILE && i < n->n_content; i++) {
        vault_error rc = count_blob(z, n->content[i], 0);
        if (rc != VAULT_OK)
            return rc;
    }
    return VAULT_OK;
}

static vault_error stats_one(sizer *z, const char *id)
{
    snapshot_record rec;
    vault_error rc = vlt_snapshot_open_id(z->v, id, &rec);
    if (rc != VAULT_OK)
        return rc;
    vlt_idset_free(&z->seen);
    vlt_tree_walk w = {.v = z->v, .ctx = z, .enter = stats_enter,
                       .node = stats_node};
    rc = vlt_tree_walk_paths(&w, rec.tree, "");
    vlt_snapshot_clear(&rec);
    return rc;
}

static vault_error stats_run(vault_t *v, const char *const *refs, size_t n,
                             vault_stats_fn fn, void *ctx,
                             vault_stats_info *total)
{
    char(*ids)[65] = NULL;
    size_t count;
    vault_error rc = vlt_snapshot_select(v, refs, n, NULL, &ids, &count);
    if (rc == VAULT_OK)
        rc = vlt_repo_load_index(v);
    sizer z = {.v = v, .total = total};
    for (size_t i = 0; i < count && rc == VAULT_OK; i++) {
        vault_stats_info one = {0};
        memcpy(one.id, ids[i], 65);
        z.one = &one;
        rc = stats_one(&z, ids[i]);
        if (rc == VAULT_OK && fn && fn(ctx, &one))
            break;
    }
    size_t n_slots = vlt_index_n_slots_all(&v->index);
    for (size_t i = 0; rc == VAULT_OK && i < n_slots; i++) {
        if (i % INDEX_RELEASE_EVERY == INDEX_RELEASE_EVERY - 1)
            vlt_index_release(&v->index);
        pack_entry e;
        vlt_index_slot_entry(&v->index, vlt_index_slot_at(&v->index, i), &e);
        total->vault_bytes += e.length;
    }
    vlt_idset_free(&z.seen);
    vlt_idset_free(&z.all);
    free(ids);
    return rc;
}

vault_error vault_stats(vault_t *v, const char *const *refs, size_t n,
                        vault_stats_fn fn, void *ctx, vault_stats_info *total)
{
    vault_stats_info local;
    if (!total)
        total = &local;
    memset(total, 0, sizeof *total);
    if (!v || (n && !refs))
        return vlt_fail(VAULT_E_INVALID, "stats: missing argument");
    vlt_repo_list_ahead_read(v);
    vault_error rc = stats_run(v, refs, n, fn, ctx, total);
    vlt_repo_list_ahead_done(v);
    return rc;
}
