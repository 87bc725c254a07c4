/*
 * membership.h - who the members of an open vault are, by the signed
 * membership log (format v2, format-spec/DESIGN-v2.md §2), and what
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

#include "crypto/keys.h"

/* What the last membership record says of a signing key.  Ordered: a
 * higher value is more trusted. */
typedef enum author_standing {
    AUTHOR_UNKNOWN = 0, /* never in the log: the object is forged */
    AUTHOR_FORMER = 1,  /* in an earlier record only: removed */
    AUTHOR_WRITER = 2,
    AUTHOR_READER = 3,
    AUTHOR_OWNER = 4
} author_standing;

typedef struct member_entry {
    uint8_t sign_pk[SIGN_PUBLIC_BYTES];
    member_role role;
    int64_t added;
    char *recipient;
    uint8_t (*envelopes)[32]; /* names (raw SHA-256) of its envelopes */
    uint16_t n_envelopes;
} member_entry;

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
} membership;

/* Standing of a signing key in the vault's membership. */
author_standing vlt_membership_standing(const membership *m,
                                        const uint8_t sign_pk[SIGN_PUBLIC_BYTES]);
/* The roster (or former) entry of a signing key, or NULL. */
const member_entry *vlt_membership_find(const membership *m,
                                        const uint8_t sign_pk[SIGN_PUBLIC_BYTES]);
const char *vlt_author_standing_name(author_standing s);
void vlt_membership_free(membership *m);

#endif
