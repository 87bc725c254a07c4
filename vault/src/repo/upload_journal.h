/*
 * upload_journal.h - what an add has uploaded but not yet listed in an
 * index segment, kept on the client so that the next add can list it
 * instead of uploading it again (format.md "Upload journal").
 *
 * An add lists its packs in a segment only every INDEX_SEGMENT_ENTRIES
 * entries; killed before that, its packs are in the storage but no index
 * names them.  So each add appends, after each pack is saved, one sealed
 * record (the pack's name, length and entries) to its own journal,
 * <cache>/<vault ID>/pending/<16 hex>, which it holds under flock for its
 * whole life.  The next add takes the journals whose lock is free (their
 * add is gone) and lists their packs that are still in the storage.
 *
 * Records are sealed (XChaCha20-Poly1305) under a key derived from this
 * member's signing seed: other members, who share the vault's secrets,
 * can neither read nor forge them.  A member without a signing key keeps
 * no journal.  Private.
 */
#ifndef VAULT_UPLOAD_JOURNAL_H
#define VAULT_UPLOAD_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "crypto/keys.h"
#include "format/pack.h"

typedef struct upload_journal upload_journal;

/* Starts this add's journal in the vault's cache folder under dir; *out
 * is NULL when there is none to keep: dir NULL or "", no
 * signing key, or the file cannot be made (a warning says so: the add
 * goes on, only a crash would cost more). */
void vlt_upload_journal_open(const char *dir, const keyring *k,
                             upload_journal **out);

/* Appends a saved pack (its name, length and entries) and syncs it to
 * disk.  Thread-safe.  A failure is a warning, and the journal stops
 * there: the add goes on. */
void vlt_upload_journal_append(upload_journal *j, const uint8_t pack_id[32],
                               uint64_t pack_len, const pack_entry *entries,
                               size_t n_entries);

/* Called for each pack an interrupted add left: it is in the storage
 * with the length the journal recorded.  A failure stops the adoption
 * and is returned. */
typedef vault_error (*upload_journal_pack_fn)(void *ctx,
                                              const uint8_t pack_id[32],
                                              uint64_t pack_len,
                                              const pack_entry *entries,
                                              size_t n_entries);

/* Reads the journals of interrupted adds (those whose lock is free; they
 * stay locked, by this add, until vlt_upload_journal_close) and calls fn
 * for each of their packs that the storage has with the recorded length
 * and that known() does not know (listed already, or condemned; known
 * is called under no lock of the journal's).  A damaged record ends its
 * journal's reading with a warning naming the file.  *n_packs and
 * *n_bytes count the packs passed to fn. */
vault_error vlt_upload_journal_adopt(upload_journal *j, backend *be,
                                     int (*known)(void *ctx,
                                                  const uint8_t pack_id[32]),
                                     upload_journal_pack_fn fn, void *ctx,
                                     size_t *n_packs, uint64_t *n_bytes);

/* Ends the journal: with committed (the add's snapshot is saved, so every
 * pack in this journal and the adopted ones is listed), removes them all;
 * otherwise keeps them for the next add.  Releases the locks; NULL is
 * fine. */
void vlt_upload_journal_close(upload_journal *j, int committed);

#endif
