/*
 * membership.h - who the members of an open vault are, by the signed
 * membership log (format v2, format-spec/format.md §5.2-5.3), and what
 * standing the author of an object has.  Private.
 *
 * Operations ask two questions of it: which standing does a signing key
 * have (to trust an index segment for dedup, to honour a prune mark, to
 * group snapshots by author), and which recipient is that key (to show
 * the author to people).
 */
#ifndef VAULT_MEMBERSHIP_H
#define VAULT_MEMBERSHIP_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "crypto/keys.h"
#include "format/membership_record.h"

/* What the last membership record says of a signing key.  Ordered: a
 * higher value is more trusted. */
typedef enum author_standing {
    AUTHOR_UNKNOWN = 0, /* never in the log: the object is forged */
    AUTHOR_FORMER = 1,  /* in an earlier record only: removed */
    AUTHOR_WRITER = 2,
    AUTHOR_READER = 3,
    AUTHOR_OWNER = 4
} author_standing;

/* The verified log, reduced to what operations need. */
typedef struct membership {
    uint64_t seq;              /* of the last record */
    uint8_t last_name[32];     /* the last record's object name, raw */
    uint32_t epoch;            /* current key epoch */
    uint8_t founder_pk[SIGN_PUBLIC_BYTES];
    member_entry *members;     /* the last record's roster, sorted by key */
    size_t n_members;
    /* keys of earlier records that the last one no longer lists, with the
     * recipient they had (for showing who wrote an old snapshot) */
    member_entry *former;
    size_t n_former;
    /* What the log fixes of each key epoch 0..epoch (from the record that
     * started it): its read public key and its write key ID; and the
     * dedup ID every record repeats. */
    uint8_t (*epoch_pk)[X25519_BYTES];
    uint8_t (*epoch_write_key_id)[32];
    uint8_t dedup_id[32];
} membership;

/* One object of keys/ as stored. */
typedef struct keys_object {
    char name[65];
    uint8_t *data;
    size_t len;
} keys_object;

/* Every object of keys/ (envelopes and records), each checked against its
 * name; objects that cannot be read are reported (vlt_warn) and left
 * out. */
vault_error vlt_keys_objects_load(backend *be, keys_object **out, size_t *n);
void vlt_keys_objects_free(keys_object *objs, size_t n);
/* Saves an envelope or record under keys/, named by its SHA-256; the name
 * into name (may be NULL). */
vault_error vlt_keys_object_save(backend *be, const uint8_t *data, size_t len,
                                 char name[65]);

/*
 * Builds the verified log (format.md §5.2-5.3) from the membership records
 * among objs, opening each with the write key of its epoch from keys
 * (several candidates per epoch are tried).  Records that are damaged,
 * forged, or do not follow the chain are reported by name (vlt_warn)
 * and ignored; a fork fails with VAULT_E_CORRUPT naming both records;
 * no founding record fails with VAULT_E_CORRUPT.
 */
vault_error vlt_membership_build(const keys_object *objs, size_t n_objs,
                                 const uint8_t vault_id[VAULT_ID_BYTES],
                                 const envelope_epoch *keys, size_t n_keys,
                                 membership **out);

/* Standing of a signing key in the vault's membership. */
author_standing vlt_membership_standing(const membership *m,
                                        const uint8_t sign_pk[SIGN_PUBLIC_BYTES]);
/* The roster (or former) entry of a signing key, or NULL. */
const member_entry *vlt_membership_find(const membership *m,
                                        const uint8_t sign_pk[SIGN_PUBLIC_BYTES]);
const char *vlt_author_standing_name(author_standing s);
void vlt_membership_free(membership *m);

/*
 * Signs r as the holder of sign_sk (filling signer and sig), seals it with
 * write_key (of r->epoch) and saves it under keys/; its name into name
 * (may be NULL).
 */
vault_error vlt_membership_append(backend *be,
                                  const uint8_t vault_id[VAULT_ID_BYTES],
                                  const uint8_t write_key[SECRET_BYTES],
                                  membership_record *r,
                                  const uint8_t sign_sk[SIGN_SECRET_BYTES],
                                  char name[65]);

#endif
