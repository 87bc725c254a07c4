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

/* VAULT_E_PERMISSION, naming the member, unless it can read snapshots
 * (a writer cannot). */
vault_error vlt_snapshot_need_read(const vault_t *v);

#endif
