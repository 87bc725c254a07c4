/*
 * diff.c - `diff`: what changed between two snapshots, path by path.
 *
 * The two root trees are merged by name (trees are sorted bytewise), one
 * directory level at a time; a pair of folders whose trees are the same
 * blob is the same all the way down and is not read, so the cost grows
 * with what changed.  Below a folder only one side has, every entry is
 * listed through the tree walk (repo/tree_walk.h).
 *
 * Memory: the two trees of each level on the way down, bounded like any
 * walk's (the vault's tree memory limit, across levels); depth as deep as
 * extraction goes.  Trees come from a vault that may be hostile: a tree
 * too big or too deep is an error naming its path, never a crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/internal.h"
#include "ops/snapshot_list.h"
#include "repo/repo.h"
#include "repo/tree_walk.h"

typedef struct differ {
    vault_t *v;
    vault_diff_fn fn;
    void *ctx;
    vault_diff_result *r;
    size_t held;       /* decoded trees of the levels above */
    size_t max_memory; /* what all of them may take */
    int stopped;       /* fn asked to stop */
    vault_diff_kind listing; /* tell_below: the kind of every entry */
    char path[VLT_TREE_WALK_PATH_MAX];
} differ;

static void count(vault_diff_result *r, const vault_diff_entry *e)
{
    switch (e->kind) {
    case VAULT_DIFF_ADDED:
        r->added++;
        r->added_bytes += e->new_size;
        break;
    case VAULT_DIFF_REMOVED:
        r->removed++;
        r->removed_bytes += e->old_size;
        break;
    case VAULT_DIFF_MODIFIED:
        r->modified++;
        r->modified_old_bytes += e->old_size;
        r->modified_new_bytes += e->new_size;
        break;
    case VAULT_DIFF_METADATA: r->metadata++; break;
    case VAULT_DIFF_TYPE: r->type_changed++; break;
    }
}

/* One difference at path: counted, and told.  old/new: the entry on each
 * side (NULL where absent). */
static void tell(differ *d, vault_diff_kind kind, const char *path,
                 const tree_node *old, const tree_node *new)
{
    const tree_node *shown = new ? new : old;
    vault_diff_entry e = {
        .kind = kind,
        .path = path[0] ? path : "/",
        .type = (vault_file_type)shown->type,
        .old_size = old && old->type == NODE_FILE ? old->size : 0,
        .new_size = new && new->type == NODE_FILE ? new->size : 0,
    };
    count(d->r, &e);
    if (d->fn && !d->stopped && d->fn(d->ctx, &e))
        d->stopped = 1;
}

static vault_error below_node(void *ctx, const vlt_tree_walk_at *at,
                              const tree_node *n, vlt_tree_walk_action *action)
{
    differ *d = ctx;
    int removed = d->listing == VAULT_DIFF_REMOVED;
    tell(d, d->listing, at->path, removed ? n : NULL, removed ? NULL : n);
    if (d->stopped)
        *action = VLT_TREE_WALK_STOP;
    return VAULT_OK;
}

/* Every entry below folder n (at d->path), which one side lacks. */
static vault_error tell_below(differ *d, vault_diff_kind kind,
                              const tree_node *n)
{
    if (n->type != NODE_DIR || d->stopped)
        return VAULT_OK;
    d->listing = kind;
    vlt_tree_walk w = {
        .v = d->v,
        .ctx = d,
        .node = below_node,
        .max_memory = d->held < d->max_memory ? d->max_memory - d->held : 1,
    };
    return vlt_tree_walk_paths(&w, n->subtree, d->path);
}

static int same_xattrs(const tree_node *a, const tree_node *b)
{
    if (a->n_xattrs != b->n_xattrs)
        return 0;
    for (uint32_t i = 0; i < a->n_xattrs; i++) {
        const node_xattr *x = &a->xattrs[i], *y = &b->xattrs[i];
        if (strcmp(x->name, y->name) != 0 || x->value_len != y->value_len ||
            memcmp(x->value, y->value, x->value_len) != 0)
            return 0;
    }
    return 1;
}

/* Metadata as ls -l and getfattr show it (not inode numbers or link
 * counts, which change without the file changing). */
static int same_metadata(const tree_node *a, const tree_node *b)
{
    return a->mode == b->mode && a->uid == b->uid && a->gid == b->gid &&
           strcmp(a->user ? a->user : "", b->user ? b->user : "") == 0 &&
           strcmp(a->group ? a->group : "", b->group ? b->group : "") == 0 &&
           a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec &&
           same_xattrs(a, b);
}

/* Same type assumed; a folder's content is compared below it. */
static int same_content(const tree_node *a, const tree_node *b)
{
    switch (a->type) {
    case NODE_FILE:
        return a->size == b->size && a->n_content == b->n_content &&
               (a->n_content == 0 ||
                memcmp(a->content, b->content,
                       (size_t)a->n_content * CHUNK_ID_BYTES) == 0);
    case NODE_SYMLINK:
        return strcmp(a->target ? a->target : "",
                      b->target ? b->target : "") == 0;
    case NODE_CHARDEV:
    case NODE_BLOCKDEV:
        return a->rdev == b->rdev;
    default:
        return 1;
    }
}

/* Loads tree id, within what the levels above leave of the memory. */
static vault_error load_level(differ *d, const uint8_t id[CHUNK_ID_BYTES],
                              tree *t, size_t *memory)
{
    memset(t, 0, sizeof *t);
    size_t before = vlt_tree_decode_limit(
        d->held < d->max_memory ? d->max_memory - d->held : 0);
    vault_error rc = vlt_repo_load_tree(d->v, id, t);
    vlt_tree_decode_limit(before);
    if (rc != VAULT_OK) {
        vlt_tree_clear(t);
        return vlt_fail_context(rc, "directory %s", d->path[0] ? d->path
                                                               : "/");
    }
    *memory = vlt_tree_memory(t);
    d->held += *memory;
    return VAULT_OK;
}

static vault_error diff_dirs(differ *d, const uint8_t a_id[CHUNK_ID_BYTES],
                             const uint8_t b_id[CHUNK_ID_BYTES],
                             unsigned depth);

/* The pair of entries a (first snapshot) and b (second) at d->path. */
static vault_error diff_pair(differ *d, const tree_node *a, const tree_node *b,
                             unsigned depth)
{
    if (!b) {
        tell(d, VAULT_DIFF_REMOVED, d->path, a, NULL);
        return tell_below(d, VAULT_DIFF_REMOVED, a);
    }
    if (!a) {
        tell(d, VAULT_DIFF_ADDED, d->path, NULL, b);
        return tell_below(d, VAULT_DIFF_ADDED, b);
    }
    if (a->type != b->type) {
        tell(d, VAULT_DIFF_TYPE, d->path, a, b);
        return VAULT_OK;
    }
    if (!same_content(a, b))
        tell(d, VAULT_DIFF_MODIFIED, d->path, a, b);
    else if (!same_metadata(a, b))
        tell(d, VAULT_DIFF_METADATA, d->path, a, b);
    if (a->type == NODE_DIR &&
        memcmp(a->subtree, b->subtree, CHUNK_ID_BYTES) != 0)
        return diff_dirs(d, a->subtree, b->subtree, depth + 1);
    return VAULT_OK;
}

static vault_error diff_dirs(differ *d, const uint8_t a_id[CHUNK_ID_BYTES],
                             const uint8_t b_id[CHUNK_ID_BYTES],
                             unsigned depth)
{
    if (depth >= VLT_TREE_WALK_MAX_DEPTH)
        return vlt_fail(VAULT_E_UNSUPPORTED,
                        "%s: nested deeper than %d directories", d->path,
                        VLT_TREE_WALK_MAX_DEPTH);
    tree a, b;
    size_t a_mem = 0, b_mem = 0;
    vault_error rc = load_level(d, a_id, &a, &a_mem);
    if (rc != VAULT_OK)
        return rc;
    rc = load_level(d, b_id, &b, &b_mem);
    if (rc != VAULT_OK) {
        vlt_tree_clear(&a);
        d->held -= a_mem;
        return rc;
    }
    size_t base = strlen(d->path);
    uint32_t i = 0, j = 0;
    while (rc == VAULT_OK && !d->stopped && (i < a.n_nodes || j < b.n_nodes)) {
        const tree_node *x = i < a.n_nodes ? &a.nodes[i] : NULL;
        const tree_node *y = j < b.n_nodes ? &b.nodes[j] : NULL;
        int order = !x ? 1 : !y ? -1 : strcmp(x->name, y->name);
        if (order < 0)
            y = NULL, i++;
        else if (order > 0)
            x = NULL, j++;
        else
            i++, j++;
        const char *name = (x ? x : y)->name;
        size_t room = sizeof d->path - base;
        if ((size_t)snprintf(d->path + base, room, "/%s", name) >= room) {
            rc = vlt_fail(VAULT_E_UNSUPPORTED, "%s: path too long", d->path);
            break;
        }
        rc = diff_pair(d, x, y, depth);
        d->path[base] = '\0';
    }
    d->path[base] = '\0';
    vlt_tree_clear(&a);
    vlt_tree_clear(&b);
    d->held -= a_mem + b_mem;
    return rc;
}

static vault_error diff_run(vault_t *v, const char *first, const char *second,
                            differ *d)
{
    snapshot_record a, b;
    vault_error rc = vlt_snapshot_open_ref(v, first, &a);
    if (rc != VAULT_OK)
        return rc;
    rc = vlt_snapshot_open_ref(v, second, &b);
    if (rc != VAULT_OK) {
        vlt_snapshot_clear(&a);
        return rc;
    }
    if (memcmp(a.tree, b.tree, CHUNK_ID_BYTES) != 0)
        rc = diff_dirs(d, a.tree, b.tree, 0);
    vlt_snapshot_clear(&a);
    vlt_snapshot_clear(&b);
    return rc;
}

vault_error vault_diff(vault_t *v, const char *first, const char *second,
                       vault_diff_fn fn, void *ctx, vault_diff_result *result)
{
    vault_diff_result local;
    if (!result)
        result = &local;
    memset(result, 0, sizeof *result);
    if (!v || !first || !second)
        return vlt_fail(VAULT_E_INVALID, "diff: missing argument");
    differ *d = calloc(1, sizeof *d);
    if (!d)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    d->v = v;
    d->fn = fn;
    d->ctx = ctx;
    d->r = result;
    d->max_memory = vlt_repo_tree_memory_limit(v);
    vlt_repo_list_ahead_read(v);
    vault_error rc = diff_run(v, first, second, d);
    vlt_repo_list_ahead_done(v);
    free(d);
    return rc;
}
