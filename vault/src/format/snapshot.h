/*
 * snapshot.h - snapshots: the record of one add (its root tree, when,
 * where from, what it did), its canonical byte encoding, and the
 * snapshot object - the record sealed to the vault's current key epoch
 * and stored under snapshots/.  Private.  Format spec "Snapshots" and
 * format-spec/trees.md §3 "Snapshot records".
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
#include "format/authored.h"
#include "format/tree.h"

#define SNAPSHOT_FORMAT_VERSION 1
#define SNAPSHOT_MAGIC "VAULTSN2"
/* The sealed plaintext starts with the author's signing key and its
 * signature of the record (format-spec/format.md §10, §12 (authored objects)). */
#define SNAPSHOT_AUTHOR_BYTES AUTHORED_BYTES
#define SNAPSHOT_HEADER_BYTES 68 /* magic | epoch | E | nonce */
#define SNAPSHOT_MAX_BYTES (16u * 1024 * 1024)

/* --- records -------------------------------------------------------- */
typedef struct snapshot_record {
    int64_t time_sec; /* when the add started (UTC) */
    uint32_t time_nsec;
    uint8_t tree[CHUNK_ID_BYTES]; /* root tree: one node per added path */
    char *hostname;
    char *username;
    char **paths; /* absolute paths given to add, as given */
    uint32_t n_paths;
    char **tags;
    uint32_t n_tags;
    /* what the add did, for `ls` and people */
    uint64_t files, dirs, bytes_read, bytes_added;
    /* Who wrote it (set by vlt_snapshot_load, which verifies sig; not
     * part of the record's encoding): the author's signing public key and
     * its signature of the encoded record.  vlt_snapshot_reseal seals
     * them again as they are. */
    uint8_t author[SIGN_PUBLIC_BYTES];
    uint8_t sig[SIGNATURE_BYTES];
} snapshot_record;

/* Canonical encoding; VAULT_E_INVALID if the record breaks a rule.  *out
 * is malloc'ed. */
vault_error vlt_snapshot_encode(const snapshot_record *s, uint8_t **out,
                                size_t *out_len);
/* Strict decoding of untrusted bytes (VAULT_E_CORRUPT with a detail). */
vault_error vlt_snapshot_decode(const uint8_t *data, size_t len,
                                snapshot_record *out);
/* Frees what a record holds; safe on a zeroed record and on NULL. */
void vlt_snapshot_clear(snapshot_record *s);

/* --- objects -------------------------------------------------------- */

/* Signs rec with k's signing key (the author is k's member; rec->author
 * and rec->sig are ignored), seals it under the current epoch and saves
 * it; its name (the SHA-256 of the object, hex) goes to id_hex.
 * VAULT_E_PERMISSION if k has no signing key. */
vault_error vlt_snapshot_save(backend *be, const keyring *k,
                              const snapshot_record *rec, char id_hex[65]);
/* Seals rec under k's current epoch keeping its author and signature (as
 * vlt_snapshot_load set them): rekey re-seals other members' snapshots.
 * The signature is checked first, so nothing unsigned is re-sealed. */
vault_error vlt_snapshot_reseal(backend *be, const keyring *k,
                                const snapshot_record *rec, char id_hex[65]);
/* Loads snapshots/<name>, checks its name and header, unseals it,
 * verifies its author's signature and decodes it (rec->author, rec->sig
 * set).  Whether the author is a member is the caller's question
 * (vlt_repo_snapshot_load asks it).  VAULT_E_PERMISSION (with a detail)
 * if it is sealed in an epoch k does not hold. */
vault_error vlt_snapshot_load(backend *be, const keyring *k, const char *name,
                              snapshot_record *rec);
/* What a member without read keys (a writer) can check of a snapshot
 * object: it loads, its name is its SHA-256, its header is well formed,
 * and its epoch is one k holds (VAULT_E_PERMISSION otherwise). */
vault_error vlt_snapshot_check_sealed(backend *be, const keyring *k,
                                      const char *name);

#endif
