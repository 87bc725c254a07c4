/*
 * prune.c - `prune`: deletes the packs no snapshot needs, while adds on
 * other machines go on without a lock.  Format spec "Pruning without
 * locks" (section 15a); this file follows it step by step.
 *
 * One run:
 *
 *   1. Add markers older than VAULT_PRUNE_STALE_SECONDS are stale (their
 *      add crashed); they are ignored and deleted.
 *   2. Phase 2 (sweep) for every prune mark already in locks/ whose time
 *      has come: no live add marker visible, no lock object this member
 *      cannot open (it might be an add marker), and the mark at least the
 *      grace period old.
 *   3. Phase 1 (mark): with everything read afresh, the packs the
 *      snapshots do not need are condemned by one new mark: unused packs,
 *      partly used packs chosen for repacking (their referenced blobs are
 *      copied into new packs and indexed first), and packs in data/ that
 *      no index segment lists (left by interrupted adds; only when no add
 *      marker is live, since a running add's packs are unindexed until
 *      its segment is saved).
 *   4. Phase 2 for the new mark, if its time has come already (grace 0,
 *      no add running): a quiet vault is pruned by one run.
 *
 * A sweep reads everything afresh and then, in this order: (a) copies
 * every referenced blob whose only copies are in packs being swept into
 * new packs and indexes them; (b) replaces every index segment that lists
 * a swept pack by one without it (new saved before old deleted); (c)
 * deletes the packs; (d) deletes the marks.  Each step only adds objects
 * or deletes what earlier steps made redundant, so a crash anywhere
 * leaves every snapshot whole and the next prune finishes the job.
 *
 * Which copy of a blob is "the" needed one (several packs may hold it,
 * after concurrent adds): the first, in index order (segments sorted by
 * name, entries in segment order), among packs present in data/ and not
 * condemned; failing that, the first among condemned packs.  Every other
 * copy counts as unused.
 *
 * Repacking, as restic's --max-unused: unused packs always go; of the
 * partly used packs, the most wasteful (highest unused share) are
 * repacked until the unused bytes left are at most max_unused percent of
 * what stays (default 5).
 *
 * Memory: the referenced chunk IDs and every index entry are held in
 * memory (about 100 bytes per blob).
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <zstd.h>

#include "common/array.h"
#include "common/idset.h"
#include "common/internal.h"
#include "format/locks.h"
#include "format/pack.h"
#include "repo/repo.h"
#include "repo/tree_walk.h"

#define NONE UINT32_MAX
#define COPY_LEVEL 3 /* zstd level for blobs that were compressed */

/* --- what prune knows of the vault -------------------------------------- */

typedef struct ppack {
    uint8_t id[32];
    char name[65];
    uint64_t size;      /* bytes in data/ */
    uint8_t present;    /* listed in data/ */
    uint8_t indexed;    /* listed by an index segment */
    uint8_t condemned;  /* listed by a prune mark */
    uint8_t sweeping;   /* listed by a mark being swept now */
    uint8_t verdict;    /* phase 1: VERDICT_* */
    uint32_t first_seg; /* the segment whose entries for it are kept */
    pack_entry *entries;
    uint32_t n_entries;
    size_t cap_entries;
    uint64_t used_bytes, unused_bytes; /* sealed blob bytes */
    uint32_t used_blobs;
} ppack;

enum { VERDICT_KEEP, VERDICT_UNUSED, VERDICT_REPACK, VERDICT_UNINDEXED };

typedef struct pseg {
    char name[65];
    uint32_t *packs; /* pack numbers it lists, in order */
    size_t n_packs, cap_packs;
} pseg;

typedef struct pstate {
    vault_t *v;
    int64_t now;
    ppack *packs;
    size_t n_packs, cap_packs;
    vlt_idset pack_ids; /* numbered as packs */
    pseg *segs;
    size_t n_segs;
    vlt_idset refs; /* the blobs snapshots reference, trees and chunks */
    uint32_t *ref_pack; /* by number in refs: the pack counted, or NONE */
    uint8_t *ref_flag;  /* by number in refs: counted (1), copied (2) */
    size_t cap_ref_pack, cap_ref_flag;
    uint64_t n_snapshots;
    lock_record *locks;
    size_t n_locks, unreadable;
} pstate;

static void state_clear(pstate *s)
{
    for (size_t i = 0; i < s->n_packs; i++)
        free(s->packs[i].entries);
    free(s->packs);
    for (size_t i = 0; i < s->n_segs; i++)
        free(s->segs[i].packs);
    free(s->segs);
    vlt_idset_free(&s->pack_ids);
    vlt_idset_free(&s->refs);
    free(s->ref_pack);
    free(s->ref_flag);
    vlt_locks_free(s->locks, s->n_locks);
    vault_t *v = s->v;
    int64_t now = s->now;
    memset(s, 0, sizeof *s);
    s->v = v;
    s->now = now;
}

static vault_error pack_get(pstate *s, const uint8_t id[32], uint32_t *out)
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
    memcpy(p->id, id, 32);
    vlt_hex_encode(id, 32, p->name);
    p->first_seg = NONE;
    *out = (uint32_t)s->n_packs++;
    return VAULT_OK;
}

static int is_live_marker(const pstate *s, const lock_record *l)
{
    return l->kind == LOCK_ADD && l->time >= s->now - VAULT_PRUNE_STALE_SECONDS;
}

static size_t live_markers(const pstate *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_locks; i++)
        n += is_live_marker(s, &s->locks[i]);
    return n;
}

static vault_error load_locks(pstate *s)
{
    vlt_locks_free(s->locks, s->n_locks);
    s->locks = NULL;
    s->n_locks = 0;
    return vlt_locks_load(s->v, &s->locks, &s->n_locks, &s->unreadable);
}

/* Why a mark may not be swept yet (0: it may). */
static unsigned mark_waiting(const pstate *s, const lock_record *mark,
                             int64_t grace, int64_t *sweep_after)
{
    unsigned w = 0;
    if (live_markers(s))
        w |= VAULT_PRUNE_WAIT_ADD;
    if (s->unreadable)
        w |= VAULT_PRUNE_WAIT_UNREADABLE;
    if (s->now - mark->time < grace) {
        w |= VAULT_PRUNE_WAIT_GRACE;
        if (sweep_after)
            *sweep_after = mark->time + grace;
    }
    return w;
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
    c->rc = pack_get(c->s, id, &n);
    if (c->rc != VAULT_OK)
        return 1;
    c->s->packs[n].present = 1;
    c->s->packs[n].size = size;
    return 0;
}

static vault_error load_packs(pstate *s)
{
    list_ctx c = {s, VAULT_OK};
    int stopped = 0;
    vault_error rc = backend_list(s->v->be, BACKEND_DATA, list_pack, &c,
                                  &stopped);
    return rc != VAULT_OK ? rc : c.rc;
}

/* index/: which packs each segment lists, and every pack's entries (from
 * the first segment that lists it). */
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
    vault_error rc = pack_get(s, pack_id, &n);
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
    if (p->first_seg != c->seg)
        return VAULT_OK; /* listed again: the first listing counts */
    if (p->n_entries >= NONE / 2)
        return vlt_fail(VAULT_E_CORRUPT, "prune: pack %s: too many "
                                         "entries",
                        p->name);
    if (VLT_ARRAY_GROW(&p->entries, &p->cap_entries, p->n_entries + 1) != 0)
        return vlt_fail(VAULT_E_NOMEM, "prune: out of memory");
    p->entries[p->n_entries++] = *e;
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
        int skipped = 0;
        rc = vlt_index_segment_read(s->v->be, s->v->keys, names.names[i],
                                    seg_entry, &c, &skipped);
        if (rc == VAULT_OK && skipped)
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
            *rc = pack_get(s, l->packs + 32 * (size_t)j, &n);
            if (*rc == VAULT_OK)
                s->packs[n].condemned = 1;
        }
    }
}

/* Adds a referenced blob (no pack counted yet); *inserted says whether
 * it is new. */
static vault_error ref_put(pstate *s, const uint8_t id[32], int *inserted)
{
    size_t n = s->refs.n;
    if (VLT_ARRAY_GROW(&s->ref_pack, &s->cap_ref_pack, n + 1) != 0 ||
        VLT_ARRAY_GROW(&s->ref_flag, &s->cap_ref_flag, n + 1) != 0)
        return vlt_fail(VAULT_E_NOMEM, "prune: out of memory");
    uint32_t number;
    vault_error rc = vlt_idset_put(&s->refs, id, &number, inserted);
    if (rc == VAULT_OK && *inserted) {
        s->ref_pack[number] = NONE;
        s->ref_flag[number] = 0;
    }
    return rc;
}

/* What load_refs' walk is about. */
typedef struct refs_walk {
    pstate *s;
    const char *snapshot; /* whose trees are walked, for messages */
} refs_walk;

/* One entry of a tree: its chunks, and its subtree, walked if new. */
static vault_error refs_node(void *ctx, const vlt_tree_walk_at *at,
                             const tree_node *node,
                             vlt_tree_walk_action *action)
{
    (void)at;
    refs_walk *rw = ctx;
    int inserted = 0;
    vault_error rc = VAULT_OK;
    for (uint32_t c = 0; c < node->n_content && rc == VAULT_OK; c++)
        rc = ref_put(rw->s, node->content[c], &inserted);
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
    if (rc == VAULT_E_NOMEM)
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
    refs_walk rw = {.s = s};
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
    return rc;
}

/* For every referenced blob, the pack whose copy counts (see the top of
 * the file); then each pack's used and unused bytes. */
static vault_error choose_copies(pstate *s)
{
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t n = 0; n < s->n_packs; n++) {
            ppack *p = &s->packs[n];
            if (!p->present || p->condemned != (pass == 1))
                continue;
            for (uint32_t i = 0; i < p->n_entries; i++) {
                uint32_t r;
                if (vlt_idset_find(&s->refs, p->entries[i].id, &r) &&
                    s->ref_pack[r] == NONE)
                    s->ref_pack[r] = n;
            }
        }
    }
    size_t missing = 0;
    char first[65] = "";
    for (size_t r = 0; r < s->refs.n; r++) {
        s->ref_flag[r] = 0;
        if (s->ref_pack[r] == NONE && missing++ == 0)
            vlt_hex_encode(vlt_idset_id(&s->refs, r), 32, first);
    }
    if (missing)
        return vlt_fail(VAULT_E_CORRUPT,
                        "prune: %zu blob%s that snapshots reference %s in "
                        "no pack (first: %.16s); nothing was deleted - run "
                        "`vault check`",
                        missing, missing == 1 ? "" : "s",
                        missing == 1 ? "is" : "are", first);
    for (uint32_t n = 0; n < s->n_packs; n++) {
        ppack *p = &s->packs[n];
        for (uint32_t i = 0; i < p->n_entries; i++) {
            uint32_t r;
            if (vlt_idset_find(&s->refs, p->entries[i].id, &r) &&
                s->ref_pack[r] == n && !s->ref_flag[r]) {
                s->ref_flag[r] = 1; /* counted once, even if listed twice */
                p->used_bytes += p->entries[i].length;
                p->used_blobs++;
            } else {
                p->unused_bytes += p->entries[i].length;
            }
        }
    }
    return VAULT_OK;
}

/* Reads the vault afresh: locks, snapshots, packs, index, references. */
static vault_error state_load(pstate *s)
{
    state_clear(s);
    s->now = vlt_now();
    vault_error rc = load_locks(s);
    /* Snapshots listed first: every pack and segment they need was saved
     * before them, so the listings below include those. */
    name_list snaps = {0};
    if (rc == VAULT_OK)
        rc = vlt_backend_list_names(s->v->be, BACKEND_SNAPSHOTS, &snaps);
    if (rc == VAULT_OK)
        rc = load_packs(s);
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

/* --- copying blobs into new packs --------------------------------------- */

/* Entries grouped by pack, for an index segment. */
typedef struct segbuild {
    uint8_t *pack_ids; /* 32 bytes each */
    size_t *starts; /* n_packs + 1 */
    pack_entry *entries;
    size_t n_packs, n_entries;
    size_t cap_ids, cap_starts, cap_entries; /* allocated (ids: bytes) */
} segbuild;

static vault_error segbuild_add(segbuild *b, const uint8_t pack_id[32],
                                const pack_entry *e)
{
    if (b->n_packs == 0 ||
        memcmp(b->pack_ids + 32 * (b->n_packs - 1), pack_id, 32) != 0) {
        /* starts holds one more than pack_ids: the end of the last. */
        if (vlt_array_reserve(&b->pack_ids, &b->cap_ids, 32 * (b->n_packs + 1),
                              1) != 0 ||
            VLT_ARRAY_GROW(&b->starts, &b->cap_starts, b->n_packs + 2) != 0)
            return vlt_fail(VAULT_E_NOMEM, "prune: out of memory");
        b->starts[b->n_packs] = b->n_entries;
        memcpy(b->pack_ids + 32 * b->n_packs++, pack_id, 32);
    }
    if (VLT_ARRAY_GROW(&b->entries, &b->cap_entries, b->n_entries + 1) != 0)
        return vlt_fail(VAULT_E_NOMEM, "prune: out of memory");
    b->entries[b->n_entries++] = *e;
    b->starts[b->n_packs] = b->n_entries;
    return VAULT_OK;
}

/* Saves the entries gathered as one index segment (none: nothing). */
static vault_error segbuild_save(segbuild *b, vault_t *v)
{
    if (b->n_packs == 0)
        return VAULT_OK;
    vault_error rc = vlt_index_segment_save(v->be, v->keys, b->pack_ids,
                                            b->n_packs, b->starts, b->entries);
    b->n_packs = 0;
    b->n_entries = 0;
    return rc;
}

static void segbuild_free(segbuild *b)
{
    free(b->pack_ids);
    free(b->starts);
    free(b->entries);
    memset(b, 0, sizeof *b);
}

typedef struct copier {
    vault_t *v;
    vault_prune_result *r;
    pack_writer pw;
    int open;
    segbuild seg; /* the new packs not yet in a saved segment */
} copier;

static vault_error copier_finish_pack(copier *c)
{
    if (!c->open)
        return VAULT_OK;
    c->open = 0;
    uint8_t id[32];
    vault_error rc = vlt_pack_writer_finish(&c->pw, c->v->be, id);
    for (size_t i = 0; i < c->pw.n_entries && rc == VAULT_OK; i++)
        rc = segbuild_add(&c->seg, id, &c->pw.entries[i]);
    if (rc == VAULT_OK) {
        c->r->packs_written++;
        c->r->bytes_written += c->pw.len_saved;
    }
    if (rc == VAULT_OK && c->seg.n_entries >= INDEX_SEGMENT_ENTRIES)
        rc = segbuild_save(&c->seg, c->v);
    return rc;
}

/* Saves the last pack, then the segment listing the new packs: after
 * this the copies are as good as the originals. */
static vault_error copier_flush(copier *c)
{
    vault_error rc = copier_finish_pack(c);
    if (rc == VAULT_OK)
        rc = segbuild_save(&c->seg, c->v);
    return rc;
}

static void copier_free(copier *c)
{
    vlt_pack_writer_free(&c->pw);
    segbuild_free(&c->seg);
}

/* Copies one blob (authenticated and checked against its chunk ID on the
 * way) from an existing pack into the pack being written. */
static vault_error copier_add(copier *c, const ppack *from,
                              const uint8_t key[SECRET_BYTES],
                              const pack_entry *e)
{
    vault_t *v = c->v;
    uint8_t *blob, *raw = NULL;
    size_t len;
    vault_error rc = backend_load(v->be, BACKEND_DATA, from->name, e->offset,
                                  e->length, e->length, &blob, &len);
    if (rc != VAULT_OK)
        return rc;
    rc = vlt_blob_open(v->keys, key, e, blob, len, NULL, &raw);
    free(blob);
    if (rc != VAULT_OK)
        return rc;
    const uint8_t *stored = raw;
    size_t stored_len = e->raw_len;
    uint8_t flags = 0;
    uint8_t *z = NULL;
    if (e->flags & BLOB_FLAG_ZSTD) {
        /* It compressed before; compress it again the same way. */
        size_t bound = ZSTD_compressBound(e->raw_len);
        z = malloc(bound);
        if (!z) {
            free(raw);
            return vlt_fail(VAULT_E_NOMEM, "prune: out of memory");
        }
        size_t zn = ZSTD_compress(z, bound, raw, e->raw_len, COPY_LEVEL);
        if (!ZSTD_isError(zn) && zn < e->raw_len) {
            stored = z;
            stored_len = zn;
            flags = BLOB_FLAG_ZSTD;
        }
    }
    if (!c->open) {
        rc = vlt_pack_writer_begin(&c->pw, v->keys);
        c->open = rc == VAULT_OK;
    }
    if (rc == VAULT_OK)
        rc = vlt_pack_writer_add(&c->pw, (blob_type)e->type, e->id, flags,
                                 stored, stored_len, e->raw_len);
    sodium_memzero(raw, e->raw_len);
    free(raw);
    free(z);
    if (rc == VAULT_OK && c->pw.len >= PACK_TARGET_BYTES)
        rc = copier_finish_pack(c);
    return rc;
}

/* The blobs of pack n whose counted copy it holds (r->val == n) and that
 * no earlier call copied (flag 2): copied, or with dry_run only counted.
 * *blobs and *bytes count them. */
static vault_error copy_needed(pstate *s, copier *c, uint32_t n, int dry_run,
                               uint64_t *blobs, uint64_t *bytes)
{
    ppack *p = &s->packs[n];
    uint8_t key[SECRET_BYTES];
    int have_key = 0;
    vault_error rc = VAULT_OK;
    for (uint32_t i = 0; i < p->n_entries && rc == VAULT_OK; i++) {
        const pack_entry *e = &p->entries[i];
        uint32_t r;
        if (!vlt_idset_find(&s->refs, e->id, &r) || s->ref_pack[r] != n ||
            s->ref_flag[r] == 2)
            continue;
        s->ref_flag[r] = 2;
        (*blobs)++;
        *bytes += e->length;
        if (dry_run)
            continue;
        if (!have_key) {
            uint8_t *header;
            size_t len;
            rc = backend_load(s->v->be, BACKEND_DATA, p->name, 0,
                              PACK_HEADER_BYTES, PACK_HEADER_BYTES, &header,
                              &len);
            if (rc == VAULT_OK) {
                rc = vlt_pack_key_from_header(s->v->keys, header, len, key);
                free(header);
            }
            have_key = rc == VAULT_OK;
        }
        if (rc == VAULT_OK)
            rc = copier_add(c, p, key, e);
    }
    sodium_memzero(key, sizeof key);
    if (rc != VAULT_OK && rc != VAULT_E_NOMEM)
        rc = vlt_fail_context(rc, "prune: copying from data/%.2s/%s",
                              p->name, p->name);
    return rc;
}

/* --- phase 2: sweep ----------------------------------------------------- */

typedef struct filter_ctx {
    pstate *s;
    segbuild out;
} filter_ctx;

static vault_error filter_entry(void *ctx, const uint8_t pack_id[32],
                                const pack_entry *e)
{
    filter_ctx *f = ctx;
    uint32_t n;
    if (vlt_idset_find(&f->s->pack_ids, pack_id, &n) &&
        f->s->packs[n].sweeping)
        return VAULT_OK;
    return segbuild_add(&f->out, pack_id, e);
}

/* (b): replaces segment g by one without the packs being swept. */
static vault_error rewrite_segment(pstate *s, const pseg *g,
                                   vault_prune_result *r)
{
    filter_ctx f = {s, {0}};
    int skipped = 0;
    vault_error rc = vlt_index_segment_read(s->v->be, s->v->keys, g->name,
                                            filter_entry, &f, &skipped);
    if (rc == VAULT_E_NOT_FOUND) {
        /* replaced meanwhile by another prune */
        segbuild_free(&f.out);
        return VAULT_OK;
    }
    if (rc == VAULT_OK && skipped)
        rc = vlt_fail(VAULT_E_PERMISSION, "index/%s: sealed in a key "
                                          "epoch this member lacks",
                      g->name);
    if (rc == VAULT_OK && f.out.n_packs) {
        rc = segbuild_save(&f.out, s->v);
        if (rc == VAULT_OK)
            r->segments_rewritten++;
    } else if (rc == VAULT_OK) {
        r->segments_deleted++;
    }
    segbuild_free(&f.out);
    /* Only now is the old segment redundant. */
    if (rc == VAULT_OK) {
        rc = backend_remove(s->v->be, BACKEND_INDEX, g->name);
        if (rc == VAULT_E_NOT_FOUND)
            rc = VAULT_OK;
    }
    return rc;
}

/* Sweeps the marks (names in s->locks, all of them prune marks whose time
 * has come); s was loaded after they were written.  With dry_run counts
 * what it would do. */
static vault_error sweep(pstate *s, const char (*marks)[65], size_t n_marks,
                         int dry_run, vault_prune_result *r)
{
    vault_error rc = VAULT_OK;
    for (size_t m = 0; m < n_marks && rc == VAULT_OK; m++) {
        for (size_t i = 0; i < s->n_locks && rc == VAULT_OK; i++) {
            const lock_record *l = &s->locks[i];
            if (strcmp(l->name, marks[m]) != 0)
                continue;
            for (uint32_t j = 0; j < l->n_packs && rc == VAULT_OK; j++) {
                uint32_t n;
                rc = pack_get(s, l->packs + 32 * (size_t)j, &n);
                if (rc == VAULT_OK)
                    s->packs[n].sweeping = 1;
            }
        }
    }
    /* (a) Rescue: referenced blobs whose counted copy is in a pack being
     * swept have no copy outside condemned packs (a copy elsewhere would
     * have been preferred). */
    copier c = {s->v, r, {0}, 0, {0}};
    uint64_t bytes = 0;
    for (uint32_t n = 0; n < s->n_packs && rc == VAULT_OK; n++)
        if (s->packs[n].sweeping && s->packs[n].present)
            rc = copy_needed(s, &c, n, dry_run, &r->blobs_rescued, &bytes);
    if (rc == VAULT_OK && !dry_run)
        rc = copier_flush(&c);
    if (dry_run) { /* an estimate, as for repacking */
        r->bytes_written += bytes;
        r->packs_written += (bytes + PACK_TARGET_BYTES - 1) / PACK_TARGET_BYTES;
    }
    copier_free(&c);
    /* (b) Index segments without the swept packs. */
    for (size_t g = 0; g < s->n_segs && rc == VAULT_OK; g++) {
        const pseg *seg = &s->segs[g];
        size_t touched = 0;
        for (size_t i = 0; i < seg->n_packs; i++)
            touched += s->packs[seg->packs[i]].sweeping;
        if (!touched)
            continue;
        if (!dry_run)
            rc = rewrite_segment(s, seg, r);
        else if (touched == seg->n_packs)
            r->segments_deleted++;
        else
            r->segments_rewritten++;
    }
    /* (c) The packs. */
    for (uint32_t n = 0; n < s->n_packs && rc == VAULT_OK; n++) {
        ppack *p = &s->packs[n];
        if (!p->sweeping)
            continue;
        if (!dry_run) {
            rc = backend_remove(s->v->be, BACKEND_DATA, p->name);
            if (rc == VAULT_E_NOT_FOUND) {
                rc = VAULT_OK;
                continue; /* deleted by an earlier, interrupted sweep */
            }
        }
        if (rc == VAULT_OK && p->present) {
            r->packs_deleted++;
            r->bytes_deleted += p->size;
        }
    }
    /* (d) The marks. */
    for (size_t m = 0; m < n_marks && rc == VAULT_OK; m++) {
        if (!dry_run)
            rc = vlt_lock_remove(s->v, marks[m]);
        if (rc == VAULT_OK)
            r->marks_swept++;
    }
    return rc;
}

/* --- phase 1: mark ------------------------------------------------------ */

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
static vault_error plan_mark(pstate *s, int max_unused, size_t *n_condemn,
                             vault_prune_result *r)
{
    int adds_running = live_markers(s) || s->unreadable;
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
        if (p->condemned)
            continue; /* a pending mark has it already */
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

/* Copies the referenced blobs out of the packs to repack, indexes the
 * copies, then saves the mark condemning every pack with a verdict. */
static vault_error write_mark(pstate *s, size_t n_condemn, int dry_run,
                              vault_prune_result *r, char mark[65])
{
    copier c = {s->v, r, {0}, 0, {0}};
    vault_error rc = VAULT_OK;
    for (uint32_t n = 0; n < s->n_packs && rc == VAULT_OK; n++)
        if (s->packs[n].verdict == VERDICT_REPACK)
            rc = copy_needed(s, &c, n, dry_run, &r->blobs_repacked,
                             &r->bytes_repacked);
    if (rc == VAULT_OK && !dry_run)
        rc = copier_flush(&c); /* the copies are indexed before the mark */
    copier_free(&c);
    if (rc != VAULT_OK)
        return rc;
    if (dry_run) {
        /* an estimate: the copies' sizes, in packs of the usual size */
        r->bytes_written += r->bytes_repacked;
        r->packs_written +=
            (r->bytes_repacked + PACK_TARGET_BYTES - 1) / PACK_TARGET_BYTES;
        r->marks_written++;
        return VAULT_OK;
    }
    lock_record mark_rec = {.kind = LOCK_PRUNE_MARK,
                            .time = vlt_now(),
                            .pid = (uint32_t)getpid()};
    if (gethostname(mark_rec.host, sizeof mark_rec.host - 1) != 0)
        mark_rec.host[0] = '\0';
    mark_rec.packs = malloc(n_condemn * 32);
    if (!mark_rec.packs)
        return vlt_fail(VAULT_E_NOMEM, "prune: out of memory");
    for (uint32_t n = 0; n < s->n_packs; n++)
        if (s->packs[n].verdict != VERDICT_KEEP)
            memcpy(mark_rec.packs + 32 * (size_t)mark_rec.n_packs++,
                   s->packs[n].id, 32);
    assert(mark_rec.n_packs == n_condemn);
    rc = vlt_lock_write(s->v, &mark_rec);
    free(mark_rec.packs);
    if (rc == VAULT_OK) {
        memcpy(mark, mark_rec.name, 65);
        r->marks_written++;
    }
    return rc;
}

/* --- the report --------------------------------------------------------- */

static vault_error add_pending(vault_prune_result *r,
                               const vault_prune_pending *p)
{
    vault_prune_pending *np =
        realloc(r->pending, (r->n_pending + 1) * sizeof *np);
    if (!np)
        return vlt_fail(VAULT_E_NOMEM, "prune: out of memory");
    r->pending = np;
    r->pending[r->n_pending++] = *p;
    return VAULT_OK;
}

/* The marks left and the add markers they wait for, as s sees them
 * (locks and data/ loaded); new_mark (may be NULL) is this run's. */
static vault_error report_pending(pstate *s, int64_t grace,
                                  const char *new_mark, int dry_run,
                                  vault_prune_result *r)
{
    size_t live = live_markers(s);
    r->live_adds = calloc(live ? live : 1, sizeof *r->live_adds);
    if (!r->live_adds)
        return vlt_fail(VAULT_E_NOMEM, "prune: out of memory");
    for (size_t i = 0; i < s->n_locks; i++) {
        const lock_record *l = &s->locks[i];
        if (is_live_marker(s, l)) {
            vault_prune_marker *m = &r->live_adds[r->n_live_adds++];
            snprintf(m->host, sizeof m->host, "%s", l->host);
            m->pid = l->pid;
            m->time = l->time;
        }
        if (l->kind != LOCK_PRUNE_MARK)
            continue;
        vault_prune_pending p = {0};
        memcpy(p.mark, l->name, 65);
        p.time = l->time;
        p.packs = l->n_packs;
        for (uint32_t j = 0; j < l->n_packs; j++) {
            uint32_t n;
            if (vlt_idset_find(&s->pack_ids, l->packs + 32 * (size_t)j, &n) &&
                s->packs[n].present)
                p.bytes += s->packs[n].size;
        }
        p.waiting = mark_waiting(s, l, grace, &p.sweep_after);
        if (dry_run && !p.waiting)
            continue; /* counted as swept by this (dry) run */
        p.written_now = new_mark && strcmp(new_mark, l->name) == 0;
        vault_error rc = add_pending(r, &p);
        if (rc != VAULT_OK)
            return rc;
    }
    return VAULT_OK;
}

/* --- the whole run ------------------------------------------------------ */

static vault_error need_owner(const vault_t *v)
{
    if (v->keys->role != ROLE_OWNER)
        return vlt_fail(VAULT_E_PERMISSION,
                        "%s: only an owner can prune (this member is a "
                        "%s)",
                        v->location,
                        vault_role_name((vault_role)v->keys->role));
    return VAULT_OK;
}

/* Deletes the stale add markers: their adds crashed long ago. */
static vault_error remove_stale(pstate *s, int dry_run, vault_prune_result *r)
{
    for (size_t i = 0; i < s->n_locks; i++) {
        const lock_record *l = &s->locks[i];
        if (l->kind != LOCK_ADD || is_live_marker(s, l))
            continue;
        if (!dry_run) {
            vault_error rc = vlt_lock_remove(s->v, l->name);
            if (rc != VAULT_OK)
                return rc;
        }
        r->stale_markers_removed++;
    }
    return VAULT_OK;
}

/* The marks in s whose time has come. */
static vault_error sweepable_marks(const pstate *s, int64_t grace,
                                   char (**out)[65], size_t *n)
{
    *out = calloc(s->n_locks ? s->n_locks : 1, sizeof **out);
    *n = 0;
    if (!*out)
        return vlt_fail(VAULT_E_NOMEM, "prune: out of memory");
    for (size_t i = 0; i < s->n_locks; i++)
        if (s->locks[i].kind == LOCK_PRUNE_MARK &&
            mark_waiting(s, &s->locks[i], grace, NULL) == 0)
            memcpy((*out)[(*n)++], s->locks[i].name, 65);
    return VAULT_OK;
}

static vault_error prune_run(pstate *s, const vault_prune_options *o,
                             int max_unused, vault_prune_result *r)
{
    int dry = o->dry_run;
    int64_t grace = o->grace_seconds;
    s->now = vlt_now();
    vault_error rc = load_locks(s);
    if (rc == VAULT_OK)
        rc = remove_stale(s, dry, r);
    /* Temporaries of saves that crashed as long ago as a stale marker:
     * no save in progress is that old (format spec section 14). */
    if (rc == VAULT_OK && !dry)
        rc = backend_clean(s->v->be, VAULT_PRUNE_STALE_SECONDS,
                           &r->temporaries_removed);

    /* Phase 2 for the marks already there. */
    char(*marks)[65] = NULL;
    size_t n_marks = 0;
    if (rc == VAULT_OK)
        rc = sweepable_marks(s, grace, &marks, &n_marks);
    if (rc == VAULT_OK && n_marks) {
        rc = state_load(s);
        /* Checked again on what the sweep itself read. */
        size_t still = 0;
        for (size_t m = 0; m < n_marks && rc == VAULT_OK; m++)
            for (size_t i = 0; i < s->n_locks; i++)
                if (strcmp(s->locks[i].name, marks[m]) == 0 &&
                    mark_waiting(s, &s->locks[i], grace, NULL) == 0)
                    memmove(marks[still++], marks[m], 65);
        if (rc == VAULT_OK && still)
            rc = sweep(s, (const char(*)[65])marks, still, dry, r);
    }
    free(marks);

    /* Phase 1. */
    if (rc == VAULT_OK)
        rc = state_load(s);
    size_t n_condemn = 0;
    if (rc == VAULT_OK)
        rc = plan_mark(s, max_unused, &n_condemn, r);
    char new_mark[65] = "";
    if (rc == VAULT_OK && n_condemn)
        rc = write_mark(s, n_condemn, dry, r, new_mark);

    /* Phase 2 for the new mark, if nothing holds it back. */
    if (rc == VAULT_OK && n_condemn && dry) {
        lock_record hypothetical = {.kind = LOCK_PRUNE_MARK, .time = s->now};
        unsigned waiting = mark_waiting(s, &hypothetical, grace, NULL);
        uint64_t bytes = 0;
        for (uint32_t n = 0; n < s->n_packs; n++)
            if (s->packs[n].verdict != VERDICT_KEEP)
                bytes += s->packs[n].size;
        if (!waiting) {
            r->marks_swept++;
            r->packs_deleted += n_condemn;
            r->bytes_deleted += bytes;
        } else {
            vault_prune_pending p = {.time = s->now,
                                     .packs = n_condemn,
                                     .bytes = bytes,
                                     .waiting = waiting,
                                     .sweep_after = s->now + grace,
                                     .written_now = 1};
            rc = add_pending(r, &p);
        }
    } else if (rc == VAULT_OK && n_condemn) {
        /* The markers are read after the mark was saved: an add whose
         * marker this misses wrote it later, so it reads the mark. */
        rc = state_load(s);
        const lock_record *mark = NULL;
        for (size_t i = 0; rc == VAULT_OK && i < s->n_locks; i++)
            if (strcmp(s->locks[i].name, new_mark) == 0)
                mark = &s->locks[i];
        if (rc == VAULT_OK && mark && mark_waiting(s, mark, grace, NULL) == 0)
            rc = sweep(s, (const char(*)[65]) & new_mark, 1, 0, r);
    }

    /* What is left for a later prune. */
    if (rc == VAULT_OK) {
        if (!dry) {
            state_clear(s);
            s->now = vlt_now();
            rc = load_locks(s);
            if (rc == VAULT_OK)
                rc = load_packs(s);
        }
        if (rc == VAULT_OK)
            rc = report_pending(s, grace, dry ? NULL : new_mark, dry, r);
    }
    return rc;
}

vault_error vault_prune(vault_t *v, const vault_prune_options *o,
                        vault_prune_result *r)
{
    if (!r)
        return vlt_fail(VAULT_E_INVALID, "prune: missing result");
    memset(r, 0, sizeof *r);
    if (!v || !o)
        return vlt_fail(VAULT_E_INVALID, "prune: missing argument");
    int max_unused = o->max_unused_percent;
    if (max_unused == 0)
        max_unused = VAULT_PRUNE_MAX_UNUSED_DEFAULT;
    else if (max_unused == VAULT_PRUNE_MAX_UNUSED_NONE)
        max_unused = 0;
    if (max_unused < 0 || max_unused > 100)
        return vlt_fail(VAULT_E_INVALID,
                        "prune: max unused must be 0..100 percent");
    if (o->grace_seconds < 0)
        return vlt_fail(VAULT_E_INVALID,
                        "prune: the grace period cannot be negative");
    vault_error rc = need_owner(v);
    if (rc != VAULT_OK)
        return rc;
    pstate s = {.v = v};
    rc = prune_run(&s, o, max_unused, r);
    state_clear(&s);
    /* The packs this handle's index names may be gone. */
    vlt_repo_forget_index(v);
    return rc;
}

void vault_prune_result_free(vault_prune_result *r)
{
    if (!r)
        return;
    free(r->pending);
    free(r->live_adds);
    memset(r, 0, sizeof *r);
}
