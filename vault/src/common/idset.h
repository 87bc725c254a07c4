/*
 * idset.h - sets of 32-byte IDs (chunk, tree and pack IDs), each ID
 * numbered densely in the order it was first added.  Private.
 *
 * The number is what callers hang their own data on: a parallel array
 * indexed by it (prune's chosen pack per blob, check's graph nodes), so
 * the set itself holds nothing but the IDs.  Numbers never change, and
 * vlt_idset_id(set, n) gives the ID back, so walking 0 .. count-1 visits
 * the IDs in insertion order.
 *
 * Usage:
 *
 *     vlt_idset seen = {0};             // an empty set; no init call
 *     uint32_t n;
 *     int inserted;
 *     if (vlt_idset_put(&seen, id, &n, &inserted) != VAULT_OK) ...
 *     if (vlt_idset_find(&seen, id, &n)) ...
 *     vlt_idset_free(&seen);
 *
 * IDs come from storage a hostile writer member may have filled: such a
 * writer knows the chunk-ID key, so it could pick IDs that share their
 * first bytes and turn every probe into a walk of the whole table.  The
 * table therefore hashes IDs with SipHash under a key of this process's
 * own (vlt_id_hash), which a writer cannot know.
 *
 * Not thread-safe: one set, one thread at a time (vlt_id_hash itself may
 * be called from any thread).
 */
#ifndef VAULT_IDSET_H
#define VAULT_IDSET_H

#include <stddef.h>
#include <stdint.h>

#include "vault.h"

#define VLT_ID_BYTES 32

typedef struct vlt_idset {
    uint8_t (*ids)[VLT_ID_BYTES]; /* by number, in insertion order */
    size_t n;                     /* IDs in the set */
    size_t cap;                   /* ids allocated */
    uint32_t *table;              /* number + 1, 0 empty; at most half full */
    size_t table_size;            /* 0 or a power of two */
} vlt_idset;

/* The hash a table of IDs probes from: SipHash-2-4 of the ID under a
 * random key made once per process. */
size_t vlt_id_hash(const uint8_t id[VLT_ID_BYTES]);

/* Adds id unless present; *number is its number either way and
 * *inserted says whether it was new.  VAULT_E_NOMEM (with a detail) if
 * memory runs out or the set would exceed UINT32_MAX - 1 IDs; the set is
 * then unchanged. */
vault_error vlt_idset_put(vlt_idset *set, const uint8_t id[VLT_ID_BYTES],
                          uint32_t *number, int *inserted);
/* 1 and *number if id is in the set, else 0 (number may be NULL). */
int vlt_idset_find(const vlt_idset *set, const uint8_t id[VLT_ID_BYTES],
                   uint32_t *number);
/* The ID numbered n (< set->n). */
static inline const uint8_t *vlt_idset_id(const vlt_idset *set, size_t n)
{
    return set->ids[n];
}
/* Frees what the set holds and leaves it empty (usable again). */
void vlt_idset_free(vlt_idset *set);

#endif
