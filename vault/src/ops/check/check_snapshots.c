/*
 * check_snapshots.c - `check` steps 5 and 6 (check.c): the snapshots, a
 * walk over their trees that notes each tree and chunk they reference,
 * and that everything referenced is indexed; and at the end the walk
 * that finds the paths pending problems affect.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "repo/repo.h"
#include "repo/tree_walk.h"
#include "ops/check/check_internal.h"

static pack_rec *pack_of_slot(checker *c, const index_slot *s)
{
    uint32_t n = 0;
    int found = vlt_idset_find(&c->packset, c->ix.packs[s->pack], &n);
    assert(found);
    (void)found;
    return &c->packs[n];
}

/* --- 5: snapshots and trees ----------------------------------------------- */

int vlt_check_node_find(const checker *c, const uint8_t id[CHUNK_ID_BYTES],
                        uint32_t *n)
{
    const index_slot *s = vlt_index_find(&c->ix, id);
    if (s) {
        *n = (uint32_t)vlt_index_slot_number(&c->ix, s);
        return *n < c->n_nodes && (c->nodes[*n] & NODE_TYPE_MASK) != 0;
    }
    uint32_t k;
    if (!vlt_idset_find(&c->missing_refs, id, &k))
        return 0;
    *n = (uint32_t)c->ix.n_slots + k;
    return 1;
}

const uint8_t *vlt_check_node_id(const checker *c, uint32_t n)
{
    if (n < c->ix.n_slots)
        return vlt_index_slot_at(&c->ix, n)->id;
    return vlt_idset_id(&c->missing_refs, n - c->ix.n_slots);
}

static vault_error node_get(checker *c, const uint8_t id[CHUNK_ID_BYTES],
                            uint8_t type, uint32_t *number, int *inserted)
{
    /* the index is whole before the walk: a node per slot up front */
    if (!c->nodes && c->ix.n_slots) {
        if (!(c->nodes = calloc(c->ix.n_slots, sizeof *c->nodes)))
            return nomem();
        c->n_nodes = c->cap_nodes = c->ix.n_slots;
    }
    const index_slot *s = vlt_index_find(&c->ix, id);
    if (s) {
        *number = (uint32_t)vlt_index_slot_number(&c->ix, s);
        *inserted = (c->nodes[*number] & NODE_TYPE_MASK) == 0;
    } else {
        uint32_t k;
        vault_error rc = vlt_idset_put(&c->missing_refs, id, &k, inserted);
        if (rc != VAULT_OK)
            return rc;
        if (c->ix.n_slots + (size_t)k >= UINT32_MAX)
            return nomem();
        *number = (uint32_t)(c->ix.n_slots + k);
        rc = grow(&c->nodes, &c->cap_nodes, (size_t)*number + 1);
        if (rc != VAULT_OK)
            return rc;
        if (*number >= c->n_nodes) {
            memset(c->nodes + c->n_nodes, 0, (size_t)*number + 1 - c->n_nodes);
            c->n_nodes = (size_t)*number + 1;
        }
    }
    if (*inserted)
        c->nodes[*number] = type;
    return VAULT_OK;
}

static vault_error root_add(checker *c, const uint8_t id[CHUNK_ID_BYTES])
{
    vault_error rc = grow(&c->roots, &c->cap_roots, c->n_roots + 1);
    if (rc == VAULT_OK)
        memcpy(c->roots[c->n_roots++], id, CHUNK_ID_BYTES);
    return rc;
}

/* The pack's key, after its header and trailer are verified as a read of
 * the pack does; a failure is a finding for the whole pack.  When only
 * the trailer fails, reads of the pack fail all the same, but its trees
 * (each blob authenticates on its own) still tell which files that
 * affects: the key is handed out for that. */
static vault_error pack_key(checker *c, pack_rec *p, const uint8_t **key)
{
    size_t i = (size_t)(p - c->packs);
    if (p->key_state == 1 || p->key_state == 3) {
        *key = c->keys[i];
        return VAULT_OK;
    }
    if (p->key_state == 2)
        return VAULT_E_CORRUPT;
    p->key_state = 2;
    backend *be = c->v->be;
    uint8_t *header = NULL, *tail = NULL, *trailer = NULL;
    size_t len;
    vault_error rc = backend_load(be, BACKEND_DATA, p->name, 0,
                                  PACK_HEADER_BYTES, PACK_HEADER_BYTES,
                                  &header, &len);
    if (rc == VAULT_OK)
        rc = vlt_pack_key_from_header(c->v->keys, header, len, c->keys[i]);
    int have_key = rc == VAULT_OK;
    if (rc == VAULT_OK)
        rc = backend_load(be, BACKEND_DATA, p->name, p->size - 4, 4, 4, &tail,
                          &len);
    if (rc == VAULT_OK) {
        uint32_t n = load_le32(tail);
        if (n > p->size - 4 - PACK_HEADER_BYTES)
            rc = vlt_fail(VAULT_E_CORRUPT, "pack: bad trailer length");
        else
            rc = backend_load(be, BACKEND_DATA, p->name, p->size - 4 - n, n,
                              n, &trailer, &len);
    }
    if (rc == VAULT_OK)
        rc = vlt_pack_check_trailer(c->keys[i], header, trailer, len);
    free(header);
    free(tail);
    free(trailer);
    if (fatal(rc))
        return rc;
    if (rc != VAULT_OK) {
        p->whole = 1;
        vlt_check_pack_finding(
            p, "%s", vlt_check_after_label(vault_last_error(), p->label));
        if (!have_key)
            return VAULT_E_CORRUPT;
    }
    p->key_state = rc == VAULT_OK ? 1 : 3;
    *key = c->keys[i];
    return VAULT_OK;
}

/* Loads tree id for the walk as a read of it would, through this check's
 * own index.  A tree that cannot be read is a finding of its pack (or, if
 * no segment lists it, of the index: step 6), recorded here: the walk
 * then goes on without it (walk_damaged). */
static vault_error walk_load_copy(checker *c, const index_slot *s,
                                  const uint8_t id[CHUNK_ID_BYTES], tree *t)
{
    pack_entry e;
    vlt_index_slot_entry(&c->ix, s, &e);
    if (e.type != BLOB_TREE)
        return VAULT_E_NOT_FOUND;
    pack_rec *p = pack_of_slot(c, s);
    const uint8_t *key;
    vault_error rc = pack_key(c, p, &key);
    if (rc != VAULT_OK)
        return rc;
    uint8_t *blob = NULL, *plain = NULL;
    size_t len;
    rc = backend_load(c->v->be, BACKEND_DATA, p->name, e.offset, e.length,
                      e.length, &blob, &len);
    if (rc == VAULT_OK)
        rc = vlt_blob_open(c->v->keys, key, &e, blob, len, NULL, &plain);
    free(blob);
    if (fatal(rc))
        return rc;
    if (rc != VAULT_OK) {
        rc = vlt_check_blob_finding(
            p, id, "blob", vlt_check_after_label(vault_last_error(), p->label));
        return rc != VAULT_OK ? rc : VAULT_E_CORRUPT;
    }
    rc = vlt_tree_decode(plain, e.raw_len, t);
    free(plain);
    if (fatal(rc))
        return rc;
    if (rc != VAULT_OK) {
        rc = vlt_check_blob_finding(p, id, "tree", vault_last_error());
        return rc != VAULT_OK ? rc : VAULT_E_CORRUPT;
    }
    return VAULT_OK;
}

/* Every copy of the tree in turn, best first, as a read falls back
 * (format.md §15-15a): each copy that fails is a finding of its pack; the
 * walk goes on with the first that loads. */
static vault_error walk_load(void *ctx, const uint8_t id[CHUNK_ID_BYTES],
                             tree *t)
{
    checker *c = ctx;
    const index_slot *copies[INDEX_MAX_COPIES];
    size_t n = vlt_index_copies(&c->ix, id, copies, INDEX_MAX_COPIES);
    if (n > INDEX_MAX_COPIES)
        n = INDEX_MAX_COPIES;
    vault_error rc = VAULT_E_NOT_FOUND;
    for (size_t i = 0; i < n; i++) {
        vault_error one = walk_load_copy(c, copies[i], id, t);
        if (one == VAULT_OK || fatal(one))
            return one;
        vlt_tree_clear(t);
        if (rc == VAULT_E_NOT_FOUND)
            rc = one;
    }
    return rc;
}

/* walk_load has recorded the finding; only running out stops. */
static vault_error walk_damaged(void *ctx, const vlt_tree_walk_at *at,
                                vault_error rc)
{
    (void)ctx;
    (void)at;
    return fatal(rc) ? rc : VAULT_OK;
}

static vault_error walk_enter(void *ctx, const vlt_tree_walk_at *at, tree *t,
                              void **dir_state)
{
    (void)at;
    (void)t;
    (void)dir_state;
    checker *c = ctx;
    c->r->trees++;
    return VAULT_OK;
}

/* Notes what the entry names; its subtree is walked the first time it is
 * named. */
static vault_error walk_node(void *ctx, const vlt_tree_walk_at *at,
                             const tree_node *tn, vlt_tree_walk_action *action)
{
    (void)at;
    checker *c = ctx;
    *action = VLT_TREE_WALK_SKIP;
    uint32_t child;
    int inserted;
    vault_error rc = VAULT_OK;
    if (tn->type == NODE_DIR) {
        rc = node_get(c, tn->subtree, BLOB_TREE, &child, &inserted);
        if (rc == VAULT_OK && inserted)
            *action = VLT_TREE_WALK_CONTINUE;
    }
    for (uint32_t j = 0; rc == VAULT_OK && tn->type == NODE_FILE &&
                         j < tn->n_content;
         j++)
        rc = node_get(c, tn->content[j], BLOB_DATA, &child, &inserted);
    return rc;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

vault_error vlt_check_snapshots(checker *c)
{
    name_list names;
    vault_error rc = vlt_backend_list_names(c->v->be, BACKEND_SNAPSHOTS, &names);
    if (rc != VAULT_OK)
        return rc;
    qsort(names.names, names.n, sizeof *names.names, name_cmp);
    c->snaps = calloc(names.n ? names.n : 1, sizeof *c->snaps);
    c->snap_roots = calloc(names.n ? names.n : 1, sizeof *c->snap_roots);
    c->snap_has_root = calloc(names.n ? names.n : 1, 1);
    if (!c->snaps || !c->snap_roots || !c->snap_has_root) {
        free(names.names);
        return nomem();
    }
    c->n_snaps = names.n;
    for (size_t i = 0; i < names.n; i++) {
        memcpy(c->snaps[i], names.names[i], 8);
        c->snaps[i][8] = '\0';
    }
    for (size_t i = 0; i < names.n && rc == VAULT_OK; i++) {
        const char *name = names.names[i];
        snapshot_record rec;
        memset(&rec, 0, sizeof rec);
        /* A writer cannot open a snapshot; it checks the name and the
         * header. */
        rc = c->can_read
                 ? vlt_repo_snapshot_load(c->v, name, &rec)
                 : vlt_snapshot_check_sealed(c->v->be, c->v->keys, name);
        if (rc == VAULT_E_PERMISSION) {
            c->r->skipped_objects++;
            c->r->skipped |= VAULT_CHECK_SKIPPED_EPOCHS;
            rc = VAULT_OK;
            continue;
        }
        if (fatal(rc))
            break;
        if (rc != VAULT_OK) {
            char label[BACKEND_LABEL_MAX];
            vlt_backend_label(BACKEND_SNAPSHOTS, name, label);
            affects a = {0};
            rc = vlt_check_affects_add(&a, c->snaps[i], NULL);
            if (rc == VAULT_OK)
                vlt_check_emit_last(c, label, &a);
            vlt_check_affects_free(&a);
            continue;
        }
        c->r->snapshots++;
        if (c->can_read) {
            uint32_t n;
            int inserted;
            rc = node_get(c, rec.tree, BLOB_TREE, &n, &inserted);
            memcpy(c->snap_roots[i], rec.tree, CHUNK_ID_BYTES);
            c->snap_has_root[i] = 1;
            if (rc == VAULT_OK && inserted)
                rc = root_add(c, rec.tree);
            vlt_snapshot_clear(&rec);
        }
    }
    free(names.names);
    /* Breadth first, each tree once (walk_node descends into a tree only
     * when it is new): no recursion for a hostile depth. */
    vlt_tree_walk walk = {.ctx = c, .load = walk_load, .enter = walk_enter,
                          .node = walk_node, .damaged = walk_damaged,
                          .max_memory = vlt_repo_tree_memory_limit(c->v)};
    if (rc == VAULT_OK)
        rc = vlt_tree_walk_once(&walk, c->roots, c->n_roots);
    return rc;
}

/* --- 6: everything referenced is indexed --------------------------------- */

/* One problem for the referenced blobs of a kind (no index segment lists
 * them; or indexed with another type than referenced), naming the first
 * few: a hostile member's index can make them many, and each would
 * otherwise be a problem kept until the end. */
typedef struct ref_problem {
    uint32_t *nodes;
    size_t n, cap;
    char listed[512];
    size_t used;
} ref_problem;

static vault_error ref_problem_add(ref_problem *p, uint32_t node,
                                   const char *fmt, ...) VAULT_PRINTF(3, 4);
static vault_error ref_problem_add(ref_problem *p, uint32_t node,
                                   const char *fmt, ...)
{
    if (p->n < MISSING_LISTED && p->used < sizeof p->listed) {
        va_list ap;
        va_start(ap, fmt);
        if (p->used)
            p->used += (size_t)snprintf(p->listed + p->used,
                                        sizeof p->listed - p->used, ", ");
        if (p->used < sizeof p->listed)
            p->used += (size_t)vsnprintf(p->listed + p->used,
                                         sizeof p->listed - p->used, fmt, ap);
        va_end(ap);
    }
    vault_error rc = grow(&p->nodes, &p->cap, p->n + 1);
    if (rc == VAULT_OK)
        p->nodes[p->n++] = node;
    return rc;
}

static vault_error ref_problem_queue(checker *c, const ref_problem *p,
                                     const char *what)
{
    uint32_t id;
    vault_error rc = vlt_check_defer(c, 0, "index", what, &id);
    for (size_t i = 0; i < p->n && rc == VAULT_OK; i++)
        rc = vlt_check_defer_target(c, id, p->nodes[i]);
    return rc;
}

vault_error vlt_check_references(checker *c)
{
    ref_problem missing = {0}, mistyped = {0};
    size_t n_found = 0;
    uint8_t *found = calloc(c->n_nodes ? c->n_nodes : 1, 1);
    if (!found)
        return nomem();
    vault_error rc = vlt_check_scan_strays(c, c->missing_refs.n > 0, found);
    for (size_t n = 0; n < c->n_nodes && rc == VAULT_OK; n++) {
        uint8_t type = c->nodes[n] & NODE_TYPE_MASK;
        if (!type)
            continue; /* an indexed blob no snapshot refers to */
        const uint8_t *id = vlt_check_node_id(c, (uint32_t)n);
        const char *kind = type == BLOB_TREE ? "tree" : "data";
        char hex[65];
        vlt_hex_encode(id, CHUNK_ID_BYTES, hex);
        const index_slot *s = vlt_index_find(&c->ix, id);
        if (!s) {
            n_found += found[n];
            rc = ref_problem_add(&missing, (uint32_t)n, "%s %.16s", kind, hex);
            continue;
        }
        pack_entry e;
        vlt_index_slot_entry(&c->ix, s, &e);
        if (e.type != type)
            rc = ref_problem_add(&mistyped, (uint32_t)n,
                                 "%.16s referenced as %s, indexed as %s", hex,
                                 kind, e.type == BLOB_TREE ? "a tree" : "data");
    }
    if (rc == VAULT_OK && mistyped.n) {
        char msg[800];
        snprintf(msg, sizeof msg,
                 "%zu referenced blob%s indexed as another type (%s%s)",
                 mistyped.n, mistyped.n == 1 ? " is" : "s are",
                 mistyped.listed, mistyped.n > MISSING_LISTED ? ", ..." : "");
        rc = ref_problem_queue(c, &mistyped, msg);
    }
    if (rc == VAULT_OK && missing.n) {
        char msg[800], also[160] = "";
        if (n_found)
            snprintf(also, sizeof also,
                     "; %zu of them %s in packs that no segment lists",
                     n_found, n_found == 1 ? "is" : "are");
        snprintf(msg, sizeof msg,
                 "%zu referenced blob%s in no index segment (%s%s)%s",
                 missing.n, missing.n == 1 ? " is" : "s are", missing.listed,
                 missing.n > MISSING_LISTED ? ", ..." : "", also);
        rc = ref_problem_queue(c, &missing, msg);
    }
    free(missing.nodes);
    free(mistyped.nodes);
    free(found);
    return rc;
}

/* --- at the end: the paths pending problems affect ----------------------- */

/* A directory the affects walk is in. */
typedef struct affects_level {
    uint32_t node;  /* its tree's */
    uint64_t hits;  /* affects_walk.hits when it was entered */
    uint64_t cuts;  /* and .cuts */
    int again;      /* entered before: its entries count as steps */
} affects_level;

typedef struct affects_walk {
    checker *c;
    const char *snapshot; /* short ID of the snapshot walked */
    uint64_t hits;        /* targets met */
    uint64_t cuts;        /* directories that could not be looked into */
    uint64_t steps;       /* entries walked again */
    int truncated;        /* steps ran out */
    affects_level levels[VLT_TREE_WALK_MAX_DEPTH + 1];
} affects_walk;

static int target_cmp(const void *x, const void *y)
{
    const problem_target *a = x, *b = y;
    if (a->node != b->node)
        return a->node < b->node ? -1 : 1;
    return (a->problem > b->problem) - (a->problem < b->problem);
}

/* Node n (a target) is reached at path: each problem naming it gets it. */
static vault_error affects_hit(affects_walk *w, uint32_t n, const char *path)
{
    checker *c = w->c;
    size_t lo = 0, hi = c->n_targets;
    while (lo < hi) { /* the first target of n */
        size_t mid = lo + (hi - lo) / 2;
        if (c->targets[mid].node < n)
            lo = mid + 1;
        else
            hi = mid;
    }
    w->hits++;
    vault_error rc = VAULT_OK;
    for (size_t i = lo; i < c->n_targets && c->targets[i].node == n &&
                        rc == VAULT_OK;
         i++)
        rc = vlt_check_affects_add(&c->pending[c->targets[i].problem].a,
                                   w->snapshot, path);
    return rc;
}

/* The flags of the node of a referenced ID (0: not one). */
static uint8_t *node_flags(checker *c, const uint8_t id[CHUNK_ID_BYTES],
                           uint32_t *n)
{
    return vlt_check_node_find(c, id, n) ? &c->nodes[*n] : NULL;
}

static vault_error affects_enter(void *ctx, const vlt_tree_walk_at *at,
                                 tree *t, void **dir_state)
{
    (void)t;
    (void)dir_state;
    affects_walk *w = ctx;
    uint32_t n = 0;
    uint8_t *flags = node_flags(w->c, at->id, &n);
    assert(flags && at->depth <= VLT_TREE_WALK_MAX_DEPTH);
    w->levels[at->depth] =
        (affects_level){n, w->hits, w->cuts, (*flags & NODE_WALKED) != 0};
    *flags |= NODE_WALKED;
    return VAULT_OK;
}

/* A directory without a target below it is clean: not walked again. */
static vault_error affects_leave(void *ctx, const vlt_tree_walk_at *at,
                                 tree *t, void *dir_state)
{
    (void)t;
    (void)dir_state;
    affects_walk *w = ctx;
    const affects_level *l = &w->levels[at->depth];
    if (!at->stopping && l->hits == w->hits && l->cuts == w->cuts)
        w->c->nodes[l->node] |= NODE_CLEAN;
    return VAULT_OK;
}

static vault_error affects_node(void *ctx, const vlt_tree_walk_at *at,
                                const tree_node *tn,
                                vlt_tree_walk_action *action)
{
    affects_walk *w = ctx;
    *action = VLT_TREE_WALK_SKIP;
    if (w->levels[at->depth].again && ++w->steps > AFFECTS_STEPS) {
        w->truncated = 1;
        *action = VLT_TREE_WALK_STOP;
        return VAULT_OK;
    }
    uint32_t n;
    uint8_t *flags;
    vault_error rc = VAULT_OK;
    if (tn->type == NODE_DIR && (flags = node_flags(w->c, tn->subtree, &n))) {
        if (*flags & NODE_TARGET)
            rc = affects_hit(w, n, at->path);
        if (!(*flags & NODE_CLEAN))
            *action = VLT_TREE_WALK_CONTINUE;
    }
    for (uint32_t j = 0; rc == VAULT_OK && tn->type == NODE_FILE &&
                         j < tn->n_content;
         j++) {
        flags = node_flags(w->c, tn->content[j], &n);
        if (flags && (*flags & NODE_TARGET))
            rc = affects_hit(w, n, at->path);
    }
    return rc;
}

/* Loads a tree as step 5 did (any finding is already queued). */
static vault_error affects_load(void *ctx, const uint8_t id[CHUNK_ID_BYTES],
                                tree *t)
{
    const affects_walk *w = ctx;
    return walk_load(w->c, id, t);
}

/* A directory that cannot be loaded was reported where its pack or the
 * index is; one too deep or too large to look into cuts the lists. */
static vault_error affects_damaged(void *ctx, const vlt_tree_walk_at *at,
                                   vault_error rc)
{
    (void)at;
    affects_walk *w = ctx;
    if (fatal(rc))
        return rc;
    if (rc == VAULT_E_UNSUPPORTED) {
        w->cuts++;
        w->truncated = 1;
    }
    return VAULT_OK;
}

vault_error vlt_check_affects_walk(checker *c)
{
    qsort(c->targets, c->n_targets, sizeof *c->targets, target_cmp);
    for (size_t i = 0; i < c->n_nodes; i++)
        c->nodes[i] &= NODE_TYPE_MASK;
    for (size_t i = 0; i < c->n_targets; i++)
        c->nodes[c->targets[i].node] |= NODE_TARGET;
    affects_walk *w = calloc(1, sizeof *w);
    if (!w)
        return nomem();
    w->c = c;
    vlt_tree_walk walk = {.ctx = w, .load = affects_load, .enter = affects_enter,
                          .node = affects_node, .leave = affects_leave,
                          .damaged = affects_damaged,
                          .max_depth = VLT_TREE_WALK_MAX_DEPTH,
                          .max_memory = vlt_repo_tree_memory_limit(c->v)};
    vault_error rc = VAULT_OK;
    for (size_t i = 0; i < c->n_snaps && rc == VAULT_OK && !w->truncated;
         i++) {
        uint32_t n;
        uint8_t *flags;
        if (!c->snap_has_root[i] ||
            !(flags = node_flags(c, c->snap_roots[i], &n)))
            continue;
        w->snapshot = c->snaps[i];
        if (*flags & NODE_TARGET)
            rc = affects_hit(w, n, "");
        if (rc == VAULT_OK && !(*flags & NODE_CLEAN))
            rc = vlt_tree_walk_paths(&walk, c->snap_roots[i], "");
    }
    if (w->truncated)
        for (size_t i = 0; i < c->n_pending; i++)
            c->pending[i].a.truncated = 1;
    free(w);
    return rc;
}
