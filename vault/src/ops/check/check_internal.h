/*
 * check_internal.h - what the files of `check` share (ops/check/): the
 * checker's state, the packs and references it collects, and the steps
 * the driver (check.c) runs in order.  Private to ops/check/.
 */
#ifndef VAULT_CHECK_INTERNAL_H
#define VAULT_CHECK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "common/array.h"
#include "common/idset.h"
#include "common/internal.h"
#include "repo/repo.h"

#define AEAD_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define AEAD_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES

/* Bounds on listing what a problem affects: a hostile tree that names
 * itself twice would otherwise make the paths grow without end. */
#define AFFECTS_MAX 10000      /* paths listed per problem */
#define AFFECTS_STEPS 1000000  /* entries walked again (a tree reached by
                                  more than one path) per affects walk */
#define WHAT_MAX 900     /* bytes of findings text kept per pack */
#define MISSING_LISTED 4 /* blob IDs named in the "not indexed" problem */

/* What one problem affects, while it is being gathered. */
typedef struct affects {
    vault_check_ref *refs;
    size_t n, cap;
    int truncated;
} affects;

/* A tree or chunk that the snapshots reference is a node, numbered by the
 * slot of its best copy in the checker's index (ix), or, when no segment
 * lists it, after those: ix's slot count + its number in missing_refs.
 * The index already holds every indexed ID, so a node costs one byte
 * (nodes[]): the blob type it is referenced as (0: not referenced), and
 * the affects walk's flags. */
#define NODE_TYPE_MASK 0x0f
#define NODE_TARGET 0x80 /* a pending problem names it */
#define NODE_CLEAN 0x40  /* no target below this tree */
#define NODE_WALKED 0x20 /* entered by the affects walk before */

/* A problem whose affected paths are found at the end, by one walk of
 * every snapshot (vlt_check_affects_walk), so that check keeps no graph
 * of the trees: memory does not grow with the files in the snapshots. */
typedef struct pending_problem {
    int warning;
    char *object;
    char *what;
    affects a; /* gathered by the walk */
} pending_problem;

/* A node whose paths a pending problem lists. */
typedef struct problem_target {
    uint32_t node;
    uint32_t problem; /* in checker.pending */
} problem_target;

/* A pack the index lists, and what was found wrong with it. */
typedef struct pack_rec {
    uint8_t id[32];
    char name[65];
    char label[BACKEND_LABEL_MAX]; /* "data/ab/ab..." */
    char segment[65];              /* the first segment listing it */
    pack_entry *entries;           /* as the segments list them */
    size_t n_entries, cap_entries;
    uint64_t size;
    int key_state; /* 0: not tried, 1: key ready, 2: unusable, 3: key
                      from the header, but the trailer fails */
    int whole;     /* a finding that makes every blob in it unusable */
    uint8_t (*bad)[CHUNK_ID_BYTES]; /* blobs found damaged */
    size_t n_bad, cap_bad;
    char what[WHAT_MAX];  /* findings, "; "-separated */
    size_t n_findings;    /* in what, or dropped for lack of room */
    size_t dropped;
} pack_rec;

typedef struct checker {
    vault_t *v;
    const vault_check_options *o;
    vault_check_result *r;
    int can_read; /* holds read keys: owner or reader */

    vault_index ix;      /* chunk ID -> place, from the segments that load */
    vlt_idset packset; /* pack IDs, numbered as packs */
    pack_rec *packs;
    size_t n_packs, cap_packs;
    uint8_t (*keys)[SECRET_BYTES]; /* pack keys, sodium_malloc'ed */
    uint64_t segments_skipped;

    vlt_idset missing_refs; /* referenced IDs no segment lists */
    uint8_t *nodes;         /* see NODE_TYPE_MASK */
    size_t n_nodes, cap_nodes;
    char (*snaps)[9]; /* short IDs by snapshot number */
    size_t n_snaps;
    uint8_t (*snap_roots)[CHUNK_ID_BYTES]; /* by snapshot number */
    uint8_t *snap_has_root; /* it loaded, and this member reads it */
    uint8_t (*roots)[CHUNK_ID_BYTES]; /* the distinct root trees */
    size_t n_roots, cap_roots;
    pending_problem *pending; /* in the order they were found */
    size_t n_pending, cap_pending;
    problem_target *targets;
    size_t n_targets, cap_targets;
    struct stray *strays; /* packs no segment lists, by name */
    size_t n_strays, cap_strays;
} checker;

/* A pack in data/ that no index segment lists. */
typedef struct stray {
    char name[65];
    uint64_t holds;   /* referenced blobs that no segment lists */
    int damaged;      /* read_data: its name does not match its content */
    char detail[256]; /* why, if damaged */
} stray;


/* Every step's "out of memory". */
static inline vault_error nomem(void)
{
    return vlt_fail(VAULT_E_NOMEM, "check: out of memory");
}

/* Errors that stop the check; any other is a problem of the object. */
static inline int fatal(vault_error rc)
{
    return vlt_error_stops(rc) || rc == VAULT_E_INTERNAL;
}

/* VLT_ARRAY_GROW with check's error. */
#define grow(array_ptr, cap, need)                                            \
    (VLT_ARRAY_GROW((array_ptr), (cap), (need)) != 0 ? nomem() : VAULT_OK)


/* --- references (check_snapshots.c) -------------------------------------- */

/* The node of a referenced ID (0: no snapshot this member reads refers to
 * it), and the ID of node n. */
int vlt_check_node_find(const checker *c, const uint8_t id[CHUNK_ID_BYTES],
                        uint32_t *n);
const uint8_t *vlt_check_node_id(const checker *c, uint32_t n);

/* --- reporting (check.c) ------------------------------------------------- */

/* The detail without a leading "label: ", which the problem names. */
const char *vlt_check_after_label(const char *detail, const char *label);

/* Frees what a gathers and zeroes it for reuse. */
void vlt_check_affects_free(affects *a);

/* Adds (snapshot, path): path as a walk names it ("/a/b"; "": the root,
 * listed as "/"), or NULL for the snapshot itself. */
vault_error vlt_check_affects_add(affects *a, const char *snapshot,
                                  const char *path);

/* Queues a problem whose affected paths are the places its targets
 * (vlt_check_defer_target) are reached from; *id: its number.  Problems
 * are handed over in the order they were queued, at the end
 * (vlt_check_emit_pending). */
vault_error vlt_check_defer(checker *c, int warning, const char *object,
                            const char *what, uint32_t *id);
vault_error vlt_check_defer_target(checker *c, uint32_t id, uint32_t node);

/* Finds what each pending problem affects (vlt_check_affects_walk) and
 * hands them over in order. */
vault_error vlt_check_emit_pending(checker *c);

/* Walks every snapshot this member reads, depth first with paths, and
 * adds each place a target is reached from to its problems' affects.
 * Trees with no target below are walked once (NODE_CLEAN). */
vault_error vlt_check_affects_walk(checker *c);

/* Hands one problem (warning: a warning) to the caller and counts it; a
 * may be NULL, and is freed. */
void vlt_check_emit(checker *c, int warning, const char *object,
                    const char *what, affects *a);

/* A problem whose detail is the library's last error, less the label. */
void vlt_check_emit_last(checker *c, const char *object, affects *a);

/* Adds a finding to pack p, once; reported with the pack at the end. */
void vlt_check_pack_finding(pack_rec *p, const char *fmt, ...)
    VAULT_PRINTF(2, 3);

/* A blob of p that failed: "<what> <id>: <why>" (detail less "blob: "),
 * and the blob is recorded as damaged. */
vault_error vlt_check_blob_finding(pack_rec *p,
                                   const uint8_t id[CHUNK_ID_BYTES],
                                   const char *what, const char *detail);

/* --- 1 to 4: config, envelopes, index, packs (check_structure.c) -------- */

vault_error vlt_check_config(checker *c);
vault_error vlt_check_envelopes(checker *c);
/* Loads every segment into c->ix and c->packs. */
/* locks/: a lock whose author is not a member is forged (a problem); a
 * prune mark by a member who is not an owner is ignored by prune (a
 * warning).  Damaged and unreadable locks are prune's business. */
vault_error vlt_check_locks(checker *c);
vault_error vlt_check_index(checker *c);
/* p exists and is large enough for its entries, which it sorts by offset
 * and makes unique. */
vault_error vlt_check_pack_exists(checker *c, pack_rec *p);
/* qsort order of pack entries: by offset, then by every field. */
int vlt_check_entry_offset_cmp(const void *x, const void *y);
/* Whether two pack entries are equal in every field. */
int vlt_check_entry_same(const pack_entry *a, const pack_entry *b);
/* Lists the packs that no segment lists into c->strays, by name. */
vault_error vlt_check_list_strays(checker *c);
/* Reads the strays when there is a reason to (look: snapshots reference
 * blobs no segment lists; or read_data); sets found[node] for each
 * referenced blob found in one. */
vault_error vlt_check_scan_strays(checker *c, int look, uint8_t *found);

/* --- 5, 6: snapshots, trees, references (check_snapshots.c) ------------- */

/* Loads the snapshots and walks their trees, each once, noting what they
 * reference. */
vault_error vlt_check_snapshots(checker *c);
/* Every referenced tree and chunk is indexed, with its type. */
vault_error vlt_check_references(checker *c);

/* --- 7: reading packs (check_data.c) ------------------------------------- */

/* Reads every pack (read_data) or the subset read_data_percent picks. */
vault_error vlt_check_read_packs(checker *c);

#endif /* VAULT_CHECK_INTERNAL_H */
