/*
 * membership.c - standing of signing keys in an open vault's membership.
 *
 * STUB until the membership log lands (issue #10, DESIGN-v2.md §2): the
 * handle's membership lists only the opening member; every other key is
 * treated as a writer (accepted, never trusted).
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "repo/membership.h"

static author_standing standing_of_role(member_role r)
{
    switch (r) {
    case ROLE_OWNER: return AUTHOR_OWNER;
    case ROLE_READER: return AUTHOR_READER;
    case ROLE_WRITER: return AUTHOR_WRITER;
    }
    return AUTHOR_UNKNOWN;
}

const member_entry *vlt_membership_find(const membership *m,
                                        const uint8_t sign_pk[SIGN_PUBLIC_BYTES])
{
    if (!m)
        return NULL;
    for (size_t i = 0; i < m->n_members; i++)
        if (sodium_memcmp(m->members[i].sign_pk, sign_pk, SIGN_PUBLIC_BYTES) == 0)
            return &m->members[i];
    for (size_t i = 0; i < m->n_former; i++)
        if (sodium_memcmp(m->former[i].sign_pk, sign_pk, SIGN_PUBLIC_BYTES) == 0)
            return &m->former[i];
    return NULL;
}

author_standing vlt_membership_standing(const membership *m,
                                        const uint8_t sign_pk[SIGN_PUBLIC_BYTES])
{
    if (!m)
        return AUTHOR_UNKNOWN;
    for (size_t i = 0; i < m->n_members; i++)
        if (sodium_memcmp(m->members[i].sign_pk, sign_pk, SIGN_PUBLIC_BYTES) == 0)
            return standing_of_role(m->members[i].role);
    for (size_t i = 0; i < m->n_former; i++)
        if (sodium_memcmp(m->former[i].sign_pk, sign_pk, SIGN_PUBLIC_BYTES) == 0)
            return AUTHOR_FORMER;
    return AUTHOR_WRITER; /* STUB: see the file comment */
}

const char *vlt_author_standing_name(author_standing s)
{
    switch (s) {
    case AUTHOR_OWNER: return "owner";
    case AUTHOR_READER: return "reader";
    case AUTHOR_WRITER: return "writer";
    case AUTHOR_FORMER: return "former member";
    case AUTHOR_UNKNOWN: break;
    }
    return "not a member";
}

static void entries_free(member_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].recipient);
        free(e[i].envelopes);
    }
    free(e);
}

void vlt_membership_free(membership *m)
{
    if (!m)
        return;
    entries_free(m->members, m->n_members);
    entries_free(m->former, m->n_former);
    free(m);
}
