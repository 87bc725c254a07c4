/*
 * locks.h - the objects in locks/: markers that let `prune` run safely
 * while other machines `add` without a lock.  Private.
 * Format spec: "Pruning without locks".
 *
 * Two kinds, both sealed with a key derived from the epoch's write key so
 * that every member (writers too) can read them and storage cannot forge
 * them:
 *   - an add marker, written when an add starts and removed after its
 *     snapshot is committed (a crash leaves it behind: it goes stale);
 *   - a prune mark, listing packs condemned by a prune: adds that see it
 *     do not deduplicate against them, and a later phase deletes them once
 *     no add that might still reference them can be running.
 */
#ifndef VAULT_LOCKS_H
#define VAULT_LOCKS_H

#include <stddef.h>
#include <stdint.h>

#include "common/process.h"
#include "crypto/keys.h"
#include "format/authored.h"
#include "vault.h"

#define LOCK_MAGIC "VAULTLK2"
/* The sealed plaintext starts with the author's signing key and its
 * signature of the record (format-spec/format.md §10, §12 (authored objects)). */
#define LOCK_AUTHOR_BYTES AUTHORED_BYTES
#define LOCK_MAX_BYTES (64u * 1024 * 1024)
#define LOCK_HOST_MAX 255
/* An add marker's optional process part: domain (32) | start u64. */
#define LOCK_PROCESS_DOMAIN_BYTES 32
#define LOCK_PROCESS_BYTES (LOCK_PROCESS_DOMAIN_BYTES + 8)

typedef enum lock_kind { LOCK_ADD = 1, LOCK_PRUNE_MARK = 2 } lock_kind;

typedef struct lock_record {
    char name[65];     /* object name (set by vlt_lock_write / vlt_locks_load) */
    lock_kind kind;
    int64_t time;      /* when written, unix seconds (writer's clock) */
    uint32_t pid;
    char host[LOCK_HOST_MAX + 1];
    uint8_t *packs;    /* prune marks: n_packs × 32-byte pack names */
    uint32_t n_packs;
    /* add markers: the adding process (pid is its pid), if its system
     * said (common/process.h); a marker without is aged only */
    int has_process;
    uint8_t process_domain[LOCK_PROCESS_DOMAIN_BYTES];
    uint64_t process_start;
    /* who wrote it: its signing key, verified (set by vlt_lock_write and
     * vlt_locks_load; not part of the record's encoding) */
    uint8_t author[SIGN_PUBLIC_BYTES];
} lock_record;

/* Signs (as v's member), seals and saves rec under locks/; fills
 * rec->name and rec->author. */
vault_error vlt_lock_write(vault_t *v, lock_record *rec);
vault_error vlt_lock_remove(vault_t *v, const char *name);
/* Every lock object the member can open.  Others are skipped: sealed in
 * an epoch it does not hold or damaged (counted in *unreadable if given:
 * they might be add markers), or forged (its author not a member;
 * reported through vlt_warn, not counted).
 * Whether a mark is honoured is the caller's question
 * (vlt_repo_lock_honoured). */
vault_error vlt_locks_load(vault_t *v, lock_record **out, size_t *n,
                           size_t *unreadable);
void vlt_locks_free(lock_record *list, size_t n);

/* A new add marker of this process, now: its host, its pid and (if the
 * system says which process it is: common/process.h) its process. */
void vlt_lock_add_marker_init(lock_record *rec);
/* For an add marker with its process: whether that runs here, ended here
 * (its add crashed or was killed), or ran elsewhere - another machine,
 * container or boot, where only the marker's age tells.  Every other
 * lock: PROCESS_ELSEWHERE. */
vlt_process_state vlt_lock_marker_process(const lock_record *l);
/* The marker's process ended on this machine. */
int vlt_lock_marker_dead(const lock_record *l);

/* Checks the name, header, seal and signature of a lock object's bytes
 * and decodes its record (out->author set); exposed for fuzzing. */
vault_error vlt_lock_parse(const keyring *k, const char *name,
                           const uint8_t *file, size_t len, lock_record *out);
/* Encoding of the record, exposed for tests and fuzzing. */
vault_error vlt_lock_encode(const lock_record *rec, uint8_t **out, size_t *len);
vault_error vlt_lock_decode(const uint8_t *data, size_t len, lock_record *out);

#endif
