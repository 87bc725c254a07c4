/*
 * prune_internal.h - what the files of `prune` share (ops/prune/): what
 * prune knows of the vault, the copier that moves blobs into new packs,
 * and the steps the run (prune.c) takes.  Private to ops/prune/.
 */
#ifndef VAULT_PRUNE_INTERNAL_H
#define VAULT_PRUNE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/idset.h"
#include "common/internal.h"
#include "format/locks.h"
#include "format/pack.h"
#include "repo/repo.h"

#define NONE UINT32_MAX
#define REF_SEEN 1u
#define REF_CHOSEN 2u
#define REF_COPIED 4u

/* --- what prune knows of the vault (prune_plan.c) ----------------------- */

/* A pack (its ID is pack_ids' entry of its number: not kept twice). */
typedef struct ppack {
    uint64_t size;      /* bytes in data/ */
    uint8_t present;    /* listed in data/ */
    uint8_t indexed;    /* listed by an index segment */
    uint8_t condemned;  /* listed by a prune mark */
    uint8_t sweeping;   /* listed by a mark being swept now */
    uint8_t verdict;    /* phase 1: VERDICT_* */
    uint8_t pinned;     /* holds a copy of a blob none of whose copies
                           verified: kept whatever it holds */
    uint32_t first_seg; /* the first segment that lists it */
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
    const char *cache_dir; /* the client's cache folder (client_cache.h) */
    ppack *packs;
    size_t n_packs, cap_packs;
    vlt_idset pack_ids; /* numbered as packs */
    pseg *segs;
    size_t n_segs;
    /* What the snapshots reference, as bits by index slot number
     * (vlt_index_slot_number of the handle's index): REF_SEEN on
     * the best copy of every blob a snapshot references (the walk's
     * seen-set too), REF_CHOSEN on the copy that counts, REF_COPIED once
     * copied into a new pack.  A byte per index entry, not a set of IDs:
     * the marking costs the same for ten million blobs however many
     * snapshots and files reference them. */
    uint8_t *slot_bits;
    size_t n_slot_bits;
    /* Prune's number of each pack the index numbers (NONE: one prune
     * does not know), so that a pass over every entry hashes no pack ID. */
    uint32_t *pack_of_index;
    size_t n_pack_of_index;
    /* Referenced blobs in no index entry (those found so far). */
    vlt_idset missing;
    /* The chosen copies by pack, for copying (built when first needed):
     * chosen_slots[pack_first[p] .. pack_first[p + 1]) are pack p's. */
    uint32_t *pack_first;
    uint32_t *chosen_slots;
    uint64_t n_snapshots;
    lock_record *locks;
    size_t n_locks, unreadable;
} pstate;

/* The name (hex ID) of pack number n. */
static inline void vlt_prune_pack_name(const pstate *s, uint32_t n,
                                       char name[65])
{
    vlt_hex_encode(vlt_idset_id(&s->pack_ids, n), 32, name);
}

/* Frees what s holds and empties it; s->v, s->now and s->cache_dir
 * stay. */
void vlt_prune_state_clear(pstate *s);
/* The number of pack id in s->packs, which it joins (neither present nor
 * indexed yet) if it is new. */
vault_error vlt_prune_pack_get(pstate *s, const uint8_t id[32],
                               uint32_t *out);
/* data/: every pack present, and its size. */
vault_error vlt_prune_load_packs(pstate *s);
/* Reads the vault afresh: locks, snapshots, packs, index, references. */
vault_error vlt_prune_state_load(pstate *s);
/* Groups the chosen copies by pack (pack_first, chosen_slots), once per
 * load. */
vault_error vlt_prune_chosen_by_pack(pstate *s);
/* Decides every pack's verdict and fills the vault's numbers in r;
 * returns the number of packs to condemn. */
vault_error vlt_prune_plan_mark(pstate *s, int max_unused, size_t *n_condemn,
                                vault_prune_result *r);

/* --- copying blobs into new packs (prune_copy.c) ------------------------ */

/* Entries grouped by pack, for an index segment. */
typedef struct segbuild {
    uint8_t *pack_ids; /* 32 bytes each */
    size_t *starts; /* n_packs + 1 */
    pack_entry *entries;
    size_t n_packs, n_entries;
    size_t cap_ids, cap_starts, cap_entries; /* allocated (ids: bytes) */
} segbuild;

/* Adds e, an entry of pack pack_id, to b; a pack's entries come
 * together. */
vault_error vlt_prune_segbuild_add(segbuild *b, const uint8_t pack_id[32],
                                   const pack_entry *e);
/* Saves the entries gathered as one index segment (none: nothing). */
vault_error vlt_prune_segbuild_save(segbuild *b, vault_t *v);
void vlt_prune_segbuild_free(segbuild *b);

/* Writes copied blobs into new packs and indexes them; zero-filled but
 * for v and r. */
typedef struct copier {
    vault_t *v;
    vault_prune_result *r;
    pack_writer pw;
    int open;
    segbuild seg; /* the new packs not yet in a saved segment */
} copier;

/* Saves the last pack, then the segment listing the new packs: after
 * this the copies are as good as the originals. */
vault_error vlt_prune_copier_flush(copier *c);
void vlt_prune_copier_free(copier *c);
/* The blobs of pack n whose counted copy it holds and that no earlier
 * call copied: copied, or with dry_run only counted.  *blobs and *bytes
 * count them. */
vault_error vlt_prune_copy_needed(pstate *s, copier *c, uint32_t n,
                                  int dry_run, uint64_t *blobs,
                                  uint64_t *bytes);

/* --- marks and markers, phases 1 and 2 (prune_sweep.c) ------------------ */

/* Whether l is an add marker not yet VAULT_PRUNE_STALE_SECONDS old. */
int vlt_prune_is_live_marker(const pstate *s, const lock_record *l);
/* How many of s->locks are live add markers. */
size_t vlt_prune_live_markers(const pstate *s);
/* Reads locks/ afresh into s->locks: only the lock objects that count
 * (prune marks by current owners; others are reported and left out), and
 * each add marker dated no later than this client first saw it. */
vault_error vlt_prune_load_locks(pstate *s);
/* Why a mark may not be swept yet, VAULT_PRUNE_WAIT_* bits (0: it may);
 * *sweep_after (sweep_after may be NULL) gets when its grace ends. */
unsigned vlt_prune_mark_waiting(const pstate *s, const lock_record *mark,
                                int64_t grace, int64_t *sweep_after);
/* Phase 1: copies the referenced blobs out of the packs to repack,
 * indexes the copies, then saves the mark (its name into mark)
 * condemning every pack with a verdict. */
vault_error vlt_prune_write_mark(pstate *s, size_t n_condemn, int dry_run,
                                 vault_prune_result *r, char mark[65]);
/* Phase 2: sweeps the marks (names in s->locks, all of them prune marks
 * whose time has come); s was loaded after they were written.  With
 * dry_run counts what it would do. */
vault_error vlt_prune_sweep(pstate *s, const char (*marks)[65],
                            size_t n_marks, int dry_run,
                            vault_prune_result *r);

#endif /* VAULT_PRUNE_INTERNAL_H */
