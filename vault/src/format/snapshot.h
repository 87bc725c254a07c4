/*
 * snapshot.h - snapshot objects: a snapshot record (format/tree.h)
 * sealed to the vault's current key epoch and stored under snapshots/.
 * Private.  Format spec "Snapshots".
 *
 * This layer reads and writes the objects themselves, given a backend and
 * a keyring (as the index segments in pack.h); repo.h offers the same on
 * an open vault handle (vlt_repo_snapshot_*), which is what operations
 * use.
 */
#ifndef VAULT_SNAPSHOT_H
#define VAULT_SNAPSHOT_H

#include "backend/backend.h"
#include "crypto/keys.h"
#include "format/tree.h"

#define SNAPSHOT_MAGIC "VAULTSN1"
#define SNAPSHOT_HEADER_BYTES 68 /* magic | epoch | E | nonce */
#define SNAPSHOT_MAX_BYTES (16u * 1024 * 1024)

/* Seals rec under the current epoch and saves it; its name (the SHA-256
 * of the object, hex) goes to id_hex. */
vault_error vlt_snapshot_save(backend *be, const keyring *k,
                              const snapshot_record *rec, char id_hex[65]);
/* Loads snapshots/<name>, checks its name and header, unseals and decodes
 * it.  VAULT_E_PERMISSION (with a detail) if it is sealed in an epoch k
 * does not hold. */
vault_error vlt_snapshot_load(backend *be, const keyring *k, const char *name,
                              snapshot_record *rec);
/* What a member without read keys (a writer) can check of a snapshot
 * object: it loads, its name is its SHA-256, its header is well formed,
 * and its epoch is one k holds (VAULT_E_PERMISSION otherwise). */
vault_error vlt_snapshot_check_sealed(backend *be, const keyring *k,
                                      const char *name);

#endif
