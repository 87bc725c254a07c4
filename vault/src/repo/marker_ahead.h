/*
 * marker_ahead.h - an add's marker put up in the round trip that reads
 * the config, not in one of its own after it (format.md §15a, "Adds").
 * Private.
 *
 * An add on remote storage waits for round trips in turn: the config and
 * keys/, then its marker, then locks/ and index/ (which must follow the
 * marker), its snapshot, the marker's removal.  The marker is sealed and
 * signed with the member's keys, which the open derives from the config
 * and keys/; but an add of the same vault from the same client usually
 * finds exactly what the last open there found.  So the client records,
 * for each location, what its last open read (the open record: the
 * vault ID, the config's bytes and the names of keys/'s objects, none of
 * them secret), and an open for an add derives the keys from that
 * record and the objects in the local cache, on a thread of its own, and
 * puts the marker up while the open reads the config and keys/.  When
 * the open has read them, the marker is kept for the add only if the
 * config is byte for byte the one recorded and keys/ holds the same
 * objects: the keys are then the same (they depend on nothing else
 * besides the identity), so the marker is exactly the one the add would
 * have written.  Otherwise it is taken down and the add writes its own.
 */
#ifndef VAULT_MARKER_AHEAD_H
#define VAULT_MARKER_AHEAD_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "format/locks.h"
#include "repo/membership.h"
#include "repo/repo.h"

typedef struct marker_ahead marker_ahead;

/* Starts putting an add marker for location (as redacted) up on be, on a
 * thread, if cache_dir holds an open record for location whose keys/
 * objects are all in the local cache; NULL when it does not (or there
 * is no thread): the add writes its marker itself.  identity is used
 * until vlt_marker_ahead_finish. */
marker_ahead *vlt_marker_ahead_start(backend *be, const char *cache_dir,
                                     const char *location,
                                     const vault_identity_t *identity);
/* After an open of v (opened: it succeeded, reading config and objs):
 * records what it found for v->location (remote storage only), unless
 * the record says so already; then waits for the marker's save and hands
 * it to v (v->ahead_marker) when config and objs are what it was made
 * from, else takes it down if it may have been saved.  Frees ahead
 * (NULL: only the record). */
void vlt_marker_ahead_finish(marker_ahead *ahead, vault_t *v, int opened,
                             const uint8_t *config, size_t config_len,
                             const keys_object *objs, size_t n_objs);

/* Records what an open of location will find (vault_id, config, the
 * objects of keys/) in cache_dir, unless the record says so already
 * (init: what it saved).  Best effort: without a record an add only
 * writes its own marker. */
void vlt_open_record_save(const char *cache_dir, const char *location,
                          const uint8_t vault_id[VAULT_ID_BYTES],
                          const uint8_t *config, size_t config_len,
                          const keys_object *objs, size_t n_objs);

/* The add's marker, if the open put one up: 1 with *out set (the handle
 * lets go of it: the add takes it down), else 0. */
int vlt_repo_marker_ahead_take(vault_t *v, lock_record *out);
/* Takes the open's marker down, if there is one (a dry run, vault_close). */
void vlt_repo_marker_ahead_drop(vault_t *v);

#endif
