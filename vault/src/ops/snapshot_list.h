/*
 * snapshot_list.h - finding a snapshot by what a user calls it.  Private.
 * (vault_snapshots, vault_snapshot_resolve and vault_snapshot_count are
 * public: vault.h.)
 */
#ifndef VAULT_SNAPSHOT_LIST_H
#define VAULT_SNAPSHOT_LIST_H

#include "format/snapshot.h"
#include "format/tree.h"
#include "vault.h"

/* Opens the snapshot ref names ("latest" or an ID prefix, as
 * vault_snapshot_resolve) for reading: loads the index and the record
 * (the caller clears it). */
vault_error vlt_snapshot_open_ref(vault_t *v, const char *ref,
                                  snapshot_record *rec);
/* The same for a full ID already resolved (vlt_snapshot_select): no
 * listing of snapshots/ again, which on remote storage is a round trip
 * per snapshot. */
vault_error vlt_snapshot_open_id(vault_t *v, const char id[65],
                                 snapshot_record *rec);

/* The snapshots refs[0..n) name (as vault_snapshot_resolve_filtered),
 * or with n 0 every readable one f lets through (NULL: all), oldest
 * first, into *ids (malloc'ed; the caller frees it). */
vault_error vlt_snapshot_select(vault_t *v, const char *const *refs, size_t n,
                                const vault_snapshot_filter *f,
                                char (**ids)[65], size_t *count);

/* A tree entry at path as the public listings show it (pointers into n). */
void vlt_file_info_of(const char *path, const tree_node *n,
                      vault_file_info *out);

/* Where path leads in snapshot ref (vlt_tree_find after opening it):
 * *out malloc'ed, freed with vlt_tree_found_free. */
struct vlt_tree_found;
vault_error vlt_snapshot_find(vault_t *v, const char *ref, const char *path,
                              struct vlt_tree_found **out);
void vlt_tree_found_free(struct vlt_tree_found *at);

/* VAULT_E_PERMISSION, naming the member, unless it can read snapshots
 * (a writer cannot). */
vault_error vlt_snapshot_need_read(const vault_t *v);

#endif
