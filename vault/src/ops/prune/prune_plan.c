/*
 * prune_plan.c - what `prune` (prune.c) knows of the vault: the packs in
 * data/, the segments in index/, the blobs the snapshots reference and
 * which copy of each counts; and phase 1's plan, each pack's verdict.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "repo/tree_walk.h"
#include "ops/prune/prune_internal.h"

void vlt_prune_state_clear(pstate *s)
{
    free(s->packs);
    for (size_t i = 0; i < s->n_segs; i++)
        free(s->segs[i].packs);
    free(s->segs);
    vlt_idset_free(&s->pack_ids);
    free(s->slot_bits);
    free(s->pack_of_index);
    vlt_idset_free(&s->missing);
    free(s->pack_first);
    free(s->chosen_slots);
    vlt_locks_free(s->locks, s->n_locks);
    vault_t *v = s->v;
    int64_t now = s->now;
    const char *cache_dir = s->cache_dir;
    memset(s, 0, sizeof *s);
    s->v = v;
    s->now = now;
    s->cache_dir = cache_dir;
}

vault_error vlt_prune_pack_get(pstate *s, const uint8_t id[32], uint32_t *out)
{
    if (vlt_idset_find(&s->pack_ids, id, out))
        return VAULT_OK;
    if (VLT_ARRAY_GROW(&s->packs, &s->cap_packs, s->n_packs + 1) != 0)
        return vlt_fail(VAULT_E_NOMEM, "prune: out of memory");
    /* Added last, so that the set and packs agree also on failure; the
     * set numbers IDs as packs does. */
    uint32_t n;
    int inserted;
    vault_error rc = vlt_idset_put(&s->pack_ids, id, &n, &inserted);
    if (rc != VAULT_OK)
        return rc;
    assert(inserted && n == s->n_packs);
    ppack *p = &s->packs[s->n_packs];
    memset(p, 0, sizeof *p);
    p->first_seg = NONE;
    *out = (uint32_t)s->n_packs++;
    return VAULT_OK;
}

/* data/: every pack present, and its size. */
typedef struct list_ctx {
    pstate *s;
    vault_error rc;
} list_ctx;

static int list_pack(void *ctx, const char *name, uint64_t size)
{
    list_ctx *c = ctx;
    uint8_t id[32];
    uint32_t n;
    if (vlt_hex_decode(name, 64, id, 32) != VAULT_OK)
        return 0; /* the backend lists valid names only */
    c->rc = vlt_prune_pack_get(c->s, id, &n);
    if (c->rc != VAULT_OK)
        return 1;
    c->s->packs[n].present = 1;
    c->s->packs[n].size = size;
    return 0;
}

vault_error vlt_prune_load_packs(pstate *s)
{
    list_ctx c = {s, VAULT_OK};
    int stopped = 0;
    vault_error rc = backend_list(s->v->be, BACKEND_DATA, list_pack, &c,
                                  &stopped);
    return rc != VAULT_OK ? rc : c.rc;
}

/* index/: which packs each segment lists (their entries are the
 * handle's index's). */
typedef struct seg_ctx {
    pstate *s;
    uint32_t seg;
    uint32_t last_pack;
} seg_ctx;

static vault_error seg_entry(void *ctx, const uint8_t pack_id[32],
                             const pack_entry *e)
{
    seg_ctx *c = ctx;
    pstate *s = c->s;
    uint32_t n;
    vault_error rc = vlt_prune_pack_get(s, pack_id, &n);
    if (rc != VAULT_OK)
        return rc;
    ppack *p = &s->packs[n];
    pseg *g = &s->segs[c->seg];
    if (n != c->last_pack) {
        c->last_pack = n;
        if (VLT_ARRAY_GROW(&g->packs, &g->cap_packs, g->n_packs + 1) != 0)
            return vlt_fail(VAULT_E_NOMEM, "prune: out of memory");
        g->packs[g->n_packs++] = n;
        p->indexed = 1;
        if (p->first_seg == NONE)
            p->first_seg = c->seg;
    }
    (void)e;
    return VAULT_OK;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static vault_error load_segments(pstate *s)
{
    name_list names;
    vault_error rc = vlt_backend_list_names(s->v->be, BACKEND_INDEX, &names);
    if (rc != VAULT_OK)
        return rc;
    qsort(names.names, names.n, sizeof *names.names, name_cmp);
    s->segs = calloc(names.n ? names.n : 1, sizeof *s->segs);
    if (!s->segs) {
        free(names.names);
        return vlt_fail(VAULT_E_NOMEM, "prune: out of memory");
    }
    for (size_t i = 0; i < names.n && rc == VAULT_OK; i++) {
        memcpy(s->segs[i].name, names.names[i], 65);
        s->n_segs = i + 1;
        seg_ctx c = {s, (uint32_t)i, NONE};
        index_segment_info info;
        rc = vlt_index_segment_read(s->v->be, s->v->keys, names.names[i],
                                    seg_entry, &c, &info);
        if (rc == VAULT_OK && info.skipped)
            rc = vlt_fail(VAULT_E_PERMISSION,
                          "index/%s: sealed in a key epoch this member "
                          "does not have; prune must read every index "
                          "segment",
                          names.names[i]);
        if (rc != VAULT_OK && rc != VAULT_E_NOMEM)
            rc = vlt_fail_context(rc, "prune (run `vault check`)");
    }
    free(names.names);
    return rc;
}

static void apply_marks(pstate *s, vault_error *rc)
{
    for (size_t i = 0; i < s->n_locks && *rc == VAULT_OK; i++) {
        const lock_record *l = &s->locks[i];
        for (uint32_t j = 0; l->kind == LOCK_PRUNE_MARK && j < l->n_packs &&
                             *rc == VAULT_OK;
             j++) {
            uint32_t n;
            *rc = vlt_prune_pack_get(s, l->packs + 32 * (size_t)j, &n);
            if (*rc == VAULT_OK)
                s->packs[n].condemned = 1;
        }
    }
}

/* Marks a referenced blob on its best copy; *inserted says whether it
 * was not marked yet.  A blob with no index entry is noted as missing
 * (and counts as new: a missing tree is then walked, and its load fails
 * with the message a damaged tree gets). */
static vault_error ref_put(pstate *s, const uint8_t id[32], int *inserted)
{
    const index_slot *best = vlt_index_find(&s->v->index, id);
    if (!best) {
        uint32_t number;
        *inserted = 1;
        return vlt_idset_put(&s->missing, id, &number, inserted);
    }
    size_t n = vlt_index_slot_number(&s->v->index, best);
    *inserted = n < s->n_slot_bits && !(s->slot_bits[n] & REF_SEEN);
    if (*inserted)
        s->slot_bits[n] |= REF_SEEN;
    return VAULT_OK;
}

/* Chunk IDs marked a batch at a time, sorted: their lookups then go
 * through the index in order, each page of a mapped index cache faulted
 * in once a batch instead of once a lookup (and let go of again; see
 * index_base.trim).  At 10^6 files that took prune from 10 s to 3 s. */
#define REFS_BATCH 65536

/* What load_refs' walk is about. */
typedef struct refs_walk {
    pstate *s;
    const char *snapshot; /* whose trees are walked, for messages */
    uint8_t (*batch)[32]; /* chunks of files, not marked yet */
    size_t n_batch;
} refs_walk;

static int id_cmp(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

static vault_error refs_flush(refs_walk *rw)
{
    qsort(rw->batch, rw->n_batch, sizeof *rw->batch, id_cmp);
    vault_error rc = VAULT_OK;
    int inserted;
    for (size_t i = 0; i < rw->n_batch && rc == VAULT_OK; i++)
        rc = ref_put(rw->s, rw->batch[i], &inserted);
    rw->n_batch = 0;
    return rc;
}

/* One entry of a tree: its chunks (batched), and its subtree, walked if
 * new (at once: the walk needs to know). */
static vault_error refs_node(void *ctx, const vlt_tree_walk_at *at,
                             const tree_node *node,
                             vlt_tree_walk_action *action)
{
    (void)at;
    refs_walk *rw = ctx;
    int inserted = 0;
    vault_error rc = VAULT_OK;
    for (uint32_t c = 0; c < node->n_content && rc == VAULT_OK; c++) {
        memcpy(rw->batch[rw->n_batch++], node->content[c], 32);
        if (rw->n_batch == REFS_BATCH)
            rc = refs_flush(rw);
    }
    if (rc == VAULT_OK && node->type == NODE_DIR) {
        rc = ref_put(rw->s, node->subtree, &inserted);
        if (!inserted)
            *action = VLT_TREE_WALK_SKIP; /* walked already */
    }
    return rc;
}

static vault_error refs_damaged(void *ctx, const vlt_tree_walk_at *at,
                                vault_error rc)
{
    refs_walk *rw = ctx;
    if (vlt_error_stops(rc))
        return rc;
    char hex[65];
    vlt_hex_encode(at->id, 32, hex);
    return vlt_fail_context(rc, "prune: tree %.16s of snapshot %.16s (run "
                                "`vault check`)",
                            hex, rw->snapshot);
}

/* The blobs every snapshot references: trees, walked once each, and the
 * chunks of their files.  Reads trees through the handle's index. */
static vault_error load_refs(pstate *s, char (*snaps)[65], size_t n_snaps)
{
    vault_t *v = s->v;
    s->n_slot_bits = vlt_index_n_slots_all(&v->index);
    if (!(s->slot_bits = calloc(s->n_slot_bits ? s->n_slot_bits : 1, 1)))
        return vlt_fail(VAULT_E_NOMEM, "prune: out of memory");
    s->n_pack_of_index = vlt_index_n_packs(&v->index);
    s->pack_of_index = malloc((s->n_pack_of_index ? s->n_pack_of_index : 1) *
                              sizeof *s->pack_of_index);
    if (!s->pack_of_index)
        return vlt_fail(VAULT_E_NOMEM, "prune: out of memory");
    for (size_t p = 0; p < s->n_pack_of_index; p++)
        if (!vlt_idset_find(&s->pack_ids,
                            vlt_index_pack_id(&v->index, (uint32_t)p),
                            &s->pack_of_index[p]))
            s->pack_of_index[p] = NONE;
    refs_walk rw = {.s = s, .batch = malloc(REFS_BATCH * sizeof *rw.batch)};
    if (!rw.batch)
        return vlt_fail(VAULT_E_NOMEM, "prune: out of memory");
    vlt_tree_walk walk = {.v = v, .ctx = &rw, .node = refs_node,
                          .damaged = refs_damaged};
    vault_error rc = VAULT_OK;
    for (size_t i = 0; i < n_snaps && rc == VAULT_OK; i++) {
        snapshot_record rec;
        rc = vlt_repo_snapshot_load(v, snaps[i], &rec);
        if (rc == VAULT_E_NOT_FOUND) {
            rc = VAULT_OK; /* forgotten meanwhile */
            continue;
        }
        if (rc == VAULT_E_PERMISSION)
            rc = vlt_fail_context(rc, "prune must read every snapshot");
        if (rc != VAULT_OK)
            break;
        s->n_snapshots++;
        int inserted;
        uint8_t root[32];
        memcpy(root, rec.tree, 32);
        vlt_snapshot_clear(&rec);
        rc = ref_put(s, root, &inserted);
        if (rc != VAULT_OK || !inserted)
            continue;
        rw.snapshot = snaps[i];
        rc = vlt_tree_walk_once(&walk, &root, 1);
    }
    if (rc == VAULT_OK)
        rc = refs_flush(&rw);
    free(rw.batch);
    return rc;
}

/* The prune number of the pack of an index copy (NONE: a pending copy,
 * or a pack prune does not know), and whether that pack is in data/. */
static uint32_t slot_pack(const pstate *s, const index_slot *c)
{
    return c->pack < s->n_pack_of_index ? s->pack_of_index[c->pack] : NONE;
}

static uint32_t copy_pack(const pstate *s, const index_slot *c)
{
    uint32_t n = slot_pack(s, c);
    return n != NONE && s->packs[n].present ? n : NONE;
}

static void choose(pstate *s, const index_slot *c)
{
    size_t n = vlt_index_slot_number(&s->v->index, c);
    if (n < s->n_slot_bits)
        s->slot_bits[n] |= REF_CHOSEN;
}

/* The copy of referenced blob id that counts (see the top of prune.c):
 * among the copies in packs present in data/, best first by the index's
 * order (trusted, then not condemned, then the opener's own).  When its
 * copies are in more than one pack, the one kept is opened and its chunk
 * ID checked before the others can be condemned for it: a copy that
 * fails gives way to the next, and if none verifies, every pack holding
 * one is kept (pinned) and the blob reported. */
static vault_error choose_copy(pstate *s, const uint8_t *id, size_t *missing,
                               size_t *unverified, char first[65])
{
    vault_t *v = s->v;
    const index_slot *c[INDEX_MAX_COPIES];
    size_t n = vlt_index_copies(&v->index, id, c, INDEX_MAX_COPIES);
    if (n > INDEX_MAX_COPIES)
        n = INDEX_MAX_COPIES;
    const index_slot *cand[INDEX_MAX_COPIES];
    uint32_t cand_pack[INDEX_MAX_COPIES];
    size_t k = 0;
    int several = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t p = copy_pack(s, c[i]);
        if (p == NONE)
            continue;
        several |= k && p != cand_pack[0];
        cand[k] = c[i];
        cand_pack[k++] = p;
    }
    if (!k) {
        if (!(*missing)++)
            vlt_hex_encode(id, CHUNK_ID_BYTES, first);
        return VAULT_OK;
    }
    if (!several) {
        choose(s, cand[0]);
        return VAULT_OK;
    }
    char hex[65];
    vlt_hex_encode(id, CHUNK_ID_BYTES, hex);
    for (size_t i = 0; i < k; i++) {
        pack_entry e;
        vlt_index_slot_entry(&v->index, cand[i], &e);
        uint8_t *data = NULL;
        size_t len = 0;
        vault_error rc = vlt_repo_load_copy(v, cand[i], (blob_type)e.type,
                                            &data, &len);
        free(data);
        if (rc == VAULT_OK) {
            choose(s, cand[i]);
            return VAULT_OK;
        }
        if (vlt_error_stops(rc))
            return rc;
        vlt_warn("prune: %s; another copy is kept", vault_last_error());
    }
    /* None verifies: nothing holding a copy may go. */
    for (size_t i = 0; i < k; i++)
        s->packs[cand_pack[i]].pinned = 1;
    choose(s, cand[0]);
    ++*unverified;
    vlt_warn("prune: blob %.16s: no copy of it verifies; every pack "
                  "holding one is kept (run `vault check`)",
                  hex);
    return VAULT_OK;
}

/* For every referenced blob, the copy that counts; then each pack's used
 * and unused bytes, over every index entry (one pass: the chosen copy of
 * a blob is used, every other entry unused). */
static vault_error choose_copies(pstate *s)
{
    const vault_index *ix = &s->v->index;
    size_t missing = s->missing.n, unverified = 0;
    char first[65] = "";
    if (missing)
        vlt_hex_encode(vlt_idset_id(&s->missing, 0), 32, first);
    for (size_t i = 0; i < s->n_slot_bits; i++) {
        if (i % INDEX_RELEASE_EVERY == INDEX_RELEASE_EVERY - 1)
            vlt_index_release(ix);
        if (!(s->slot_bits[i] & REF_SEEN))
            continue;
        vault_error rc = choose_copy(s, vlt_index_slot_at(ix, i)->id,
                                     &missing, &unverified, first);
        if (rc != VAULT_OK)
            return rc;
    }
    if (missing)
        return vlt_fail(VAULT_E_CORRUPT,
                        "prune: %zu blob%s that snapshots reference %s in "
                        "no pack (first: %.16s); nothing was deleted - run "
                        "`vault check`",
                        missing, missing == 1 ? "" : "s",
                        missing == 1 ? "is" : "are", first);
    for (size_t i = 0; i < s->n_slot_bits; i++) {
        if (i % INDEX_RELEASE_EVERY == INDEX_RELEASE_EVERY - 1)
            vlt_index_release(ix);
        const index_slot *c = vlt_index_slot_at(ix, i);
        uint32_t n = slot_pack(s, c);
        if (n == NONE)
            continue;
        pack_entry e;
        vlt_index_slot_entry(ix, c, &e);
        ppack *p = &s->packs[n];
        if (s->slot_bits[i] & REF_CHOSEN) {
            p->used_bytes += e.length;
            p->used_blobs++;
        } else {
            p->unused_bytes += e.length;
        }
    }
    return VAULT_OK;
}

vault_error vlt_prune_chosen_by_pack(pstate *s)
{
    if (s->pack_first)
        return VAULT_OK;
    size_t chosen = 0;
    for (size_t i = 0; i < s->n_slot_bits; i++)
        chosen += (s->slot_bits[i] & REF_CHOSEN) != 0;
    s->pack_first = calloc(s->n_packs + 1, sizeof *s->pack_first);
    s->chosen_slots = malloc((chosen ? chosen : 1) * sizeof *s->chosen_slots);
    if (!s->pack_first || !s->chosen_slots || s->n_slot_bits > UINT32_MAX) {
        free(s->pack_first);
        free(s->chosen_slots);
        s->pack_first = s->chosen_slots = NULL;
        return vlt_fail(VAULT_E_NOMEM, "prune: out of memory");
    }
    /* a counting sort by pack: counts, their running sums, the slots */
    const vault_index *ix = &s->v->index;
    for (size_t i = 0; i < s->n_slot_bits; i++) {
        uint32_t n = (s->slot_bits[i] & REF_CHOSEN)
                         ? slot_pack(s, vlt_index_slot_at(ix, i))
                         : NONE;
        if (n != NONE)
            s->pack_first[n + 1]++;
    }
    vlt_index_release(ix);
    for (size_t p = 0; p < s->n_packs; p++)
        s->pack_first[p + 1] += s->pack_first[p];
    for (size_t i = 0; i < s->n_slot_bits; i++) {
        uint32_t n = (s->slot_bits[i] & REF_CHOSEN)
                         ? slot_pack(s, vlt_index_slot_at(ix, i))
                         : NONE;
        if (n != NONE)
            s->chosen_slots[s->pack_first[n]++] = (uint32_t)i;
    }
    /* the fill moved each start to the next pack's: back by one pack */
    for (size_t p = s->n_packs; p > 0; p--)
        s->pack_first[p] = s->pack_first[p - 1];
    s->pack_first[0] = 0;
    return VAULT_OK;
}

/* Reads the vault afresh: locks, snapshots, packs, index, references. */
vault_error vlt_prune_state_load(pstate *s)
{
    vlt_prune_state_clear(s);
    s->now = vlt_now();
    vault_error rc = vlt_prune_load_locks(s);
    /* Snapshots listed first: every pack and segment they need was saved
     * before them, so the listings below include those. */
    name_list snaps = {0};
    if (rc == VAULT_OK)
        rc = vlt_backend_list_names(s->v->be, BACKEND_SNAPSHOTS, &snaps);
    if (rc == VAULT_OK)
        rc = vlt_prune_load_packs(s);
    if (rc == VAULT_OK)
        rc = load_segments(s);
    if (rc == VAULT_OK)
        apply_marks(s, &rc);
    if (rc == VAULT_OK) {
        vlt_repo_forget_index(s->v);
        rc = vlt_repo_load_index(s->v);
    }
    if (rc == VAULT_OK)
        rc = load_refs(s, snaps.names, snaps.n);
    if (rc == VAULT_OK)
        rc = choose_copies(s);
    free(snaps.names);
    return rc;
}

/* --- phase 1: which packs go --------------------------------------------- */

typedef struct candidate {
    uint32_t pack;
    double unused_share;
} candidate;

static int candidate_cmp(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    if (x->unused_share != y->unused_share)
        return x->unused_share > y->unused_share ? -1 : 1;
    return x->pack < y->pack ? -1 : x->pack > y->pack;
}

/* Decides every pack's verdict and fills the vault's numbers in r;
 * returns the number of packs to condemn. */
vault_error vlt_prune_plan_mark(pstate *s, int max_unused, size_t *n_condemn,
                                vault_prune_result *r)
{
    int adds_running = vlt_prune_live_markers(s) || s->unreadable;
    uint64_t used = 0, unused = 0;
    candidate *cand = calloc(s->n_packs ? s->n_packs : 1, sizeof *cand);
    if (!cand)
        return vlt_fail(VAULT_E_NOMEM, "prune: out of memory");
    size_t n_cand = 0;
    *n_condemn = 0;
    r->snapshots = s->n_snapshots;
    for (uint32_t n = 0; n < s->n_packs; n++) {
        ppack *p = &s->packs[n];
        p->verdict = VERDICT_KEEP;
        if (!p->present)
            continue;
        r->packs++;
        r->pack_bytes += p->size;
        r->blobs_used += p->used_blobs;
        r->bytes_used += p->used_bytes;
        if (p->condemned || p->pinned)
            continue; /* a pending mark has it already, or it must stay */
        r->bytes_unused += p->unused_bytes;
        if (!p->indexed) {
            if (adds_running) {
                r->unindexed_left++;
            } else {
                p->verdict = VERDICT_UNINDEXED;
                r->packs_unindexed++;
            }
        } else if (p->used_blobs == 0) {
            p->verdict = VERDICT_UNUSED;
            r->packs_unused++;
        } else {
            used += p->used_bytes;
            if (p->unused_bytes) {
                unused += p->unused_bytes;
                cand[n_cand].pack = n;
                cand[n_cand].unused_share =
                    (double)p->unused_bytes /
                    (double)(p->unused_bytes + p->used_bytes);
                n_cand++;
            }
        }
        if (p->verdict != VERDICT_KEEP)
            ++*n_condemn;
    }
    /* Unused bytes allowed to stay: max_unused percent of what stays. */
    qsort(cand, n_cand, sizeof *cand, candidate_cmp);
    for (size_t i = 0; i < n_cand && max_unused < 100; i++) {
        /* done when unused <= max_unused% of (used + unused) */
        if ((double)unused * (100 - max_unused) <=
            (double)used * max_unused)
            break;
        ppack *p = &s->packs[cand[i].pack];
        p->verdict = VERDICT_REPACK;
        unused -= p->unused_bytes;
        r->packs_repacked++;
        ++*n_condemn;
    }
    free(cand);
    return VAULT_OK;
}

