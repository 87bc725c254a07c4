/*
 * check_snapshots.c - `check` steps 5 and 6 (check.c): the snapshots, a
 * walk over their trees that records where each tree and chunk is reached
 * from, and that everything referenced is indexed.
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
        return *n < c->n_nodes && c->nodes[*n].type != 0;
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
        *inserted = c->nodes[*number].type == 0;
    } else {
        uint32_t k;
        vault_error rc = vlt_idset_put(&c->missing_refs, id, &k, inserted);
        if (rc != VAULT_OK)
            return rc;
        if (c->ix.n_slots + (size_t)k >= NO_EDGE)
            return nomem();
        *number = (uint32_t)(c->ix.n_slots + k);
        rc = grow(&c->nodes, &c->cap_nodes, (size_t)*number + 1);
        if (rc != VAULT_OK)
            return rc;
        if (*number >= c->n_nodes)
            c->n_nodes = (size_t)*number + 1;
    }
    if (!*inserted)
        return VAULT_OK;
    c->nodes[*number].type = type;
    c->nodes[*number].first_edge = NO_EDGE;
    return VAULT_OK;
}

static vault_error edge_add(checker *c, uint32_t n, uint32_t parent,
                            uint32_t name)
{
    /* A file naming the same chunk again adds the same edge again: its
     * edges for this file are the newest, so comparing the first will do. */
    uint32_t head = c->nodes[n].first_edge;
    if (head != NO_EDGE && c->edges[head].parent == parent &&
        c->edges[head].name == name)
        return VAULT_OK;
    if (c->n_edges >= NO_EDGE - 1)
        return nomem();
    vault_error rc = grow(&c->edges, &c->cap_edges, c->n_edges + 1);
    if (rc != VAULT_OK)
        return rc;
    c->edges[c->n_edges] = (edge){parent, name, head};
    c->nodes[n].first_edge = (uint32_t)c->n_edges++;
    return VAULT_OK;
}

static vault_error name_put(checker *c, const char *name, uint32_t *offset)
{
    size_t n = strlen(name) + 1;
    if (c->names_len + n > UINT32_MAX)
        return nomem();
    vault_error rc = grow(&c->names, &c->names_cap, c->names_len + n);
    if (rc != VAULT_OK)
        return rc;
    memcpy(c->names + c->names_len, name, n);
    *offset = (uint32_t)c->names_len;
    c->names_len += n;
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
    (void)t;
    (void)dir_state;
    checker *c = ctx;
    int found = vlt_check_node_find(c, at->id, &c->walk_tree);
    assert(found); /* every tree walked was a node first */
    (void)found;
    c->r->trees++;
    return VAULT_OK;
}

/* Adds edges from the tree being walked to what its entry names; its
 * subtree is walked the first time it is named. */
static vault_error walk_node(void *ctx, const vlt_tree_walk_at *at,
                             const tree_node *tn, vlt_tree_walk_action *action)
{
    (void)at;
    checker *c = ctx;
    uint32_t n = c->walk_tree;
    *action = VLT_TREE_WALK_SKIP;
    if (tn->type != NODE_DIR && (tn->type != NODE_FILE || !tn->n_content))
        return VAULT_OK;
    uint32_t name = 0, child = 0;
    int inserted;
    vault_error rc = name_put(c, tn->name, &name);
    if (rc == VAULT_OK && tn->type == NODE_DIR) {
        rc = node_get(c, tn->subtree, BLOB_TREE, &child, &inserted);
        if (rc == VAULT_OK)
            rc = edge_add(c, child, n, name);
        if (rc == VAULT_OK && inserted)
            *action = VLT_TREE_WALK_CONTINUE;
    }
    for (uint32_t j = 0; rc == VAULT_OK && tn->type == NODE_FILE &&
                         j < tn->n_content;
         j++) {
        rc = node_get(c, tn->content[j], BLOB_DATA, &child, &inserted);
        if (rc == VAULT_OK)
            rc = edge_add(c, child, n, name);
    }
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
    if (!c->snaps) {
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
            rc = vlt_check_affects_add(&a, c->snaps[i], NULL, 0, 1);
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
            if (rc == VAULT_OK)
                rc = edge_add(c, n, ROOT_PARENT, (uint32_t)i);
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

vault_error vlt_check_references(checker *c)
{
    affects missing = {0};
    char what[512] = "";
    size_t n_missing = 0, n_found = 0, used = 0;
    uint8_t *found = calloc(c->n_nodes ? c->n_nodes : 1, 1);
    if (!found)
        return nomem();
    n_missing = c->missing_refs.n;
    vault_error rc = vlt_check_scan_strays(c, n_missing > 0, found);
    n_missing = 0;
    for (size_t n = 0; n < c->n_nodes && rc == VAULT_OK; n++) {
        if (!c->nodes[n].type)
            continue; /* an indexed blob no snapshot refers to */
        const uint8_t *id = vlt_check_node_id(c, (uint32_t)n);
        const char *kind = c->nodes[n].type == BLOB_TREE ? "tree" : "data";
        char hex[65];
        vlt_hex_encode(id, CHUNK_ID_BYTES, hex);
        const index_slot *s = vlt_index_find(&c->ix, id);
        if (!s) {
            n_found += found[n];
            if (n_missing++ < MISSING_LISTED)
                used += (size_t)snprintf(what + used, sizeof what - used,
                                         "%s%s %.16s", used ? ", " : "",
                                         kind, hex);
            const char *comps[AFFECTS_DEPTH];
            rc = vlt_check_affects_node(c, &missing, (uint32_t)n, comps, 0);
            continue;
        }
        pack_entry e;
        vlt_index_slot_entry(&c->ix, s, &e);
        if (e.type != c->nodes[n].type) {
            char msg[200];
            snprintf(msg, sizeof msg,
                     "blob %.16s is indexed as %s but referenced as %s",
                     hex, e.type == BLOB_TREE ? "a tree" : "data",
                     c->nodes[n].type == BLOB_TREE ? "a tree" : "data");
            affects a = {0};
            const char *comps[AFFECTS_DEPTH];
            rc = vlt_check_affects_node(c, &a, (uint32_t)n, comps, 0);
            if (rc == VAULT_OK)
                vlt_check_emit(c, 0, "index", msg, &a);
            vlt_check_affects_free(&a);
        }
    }
    if (rc == VAULT_OK && n_missing) {
        char msg[800], also[160] = "";
        if (n_found)
            snprintf(also, sizeof also,
                     "; %zu of them %s in packs that no segment lists",
                     n_found, n_found == 1 ? "is" : "are");
        snprintf(msg, sizeof msg,
                 "%zu referenced blob%s in no index segment (%s%s)%s",
                 n_missing, n_missing == 1 ? " is" : "s are", what,
                 n_missing > MISSING_LISTED ? ", ..." : "", also);
        vlt_check_emit(c, 0, "index", msg, &missing);
    }
    vlt_check_affects_free(&missing);
    free(found);
    return rc;
}
