/*
 * tag.c - `tag`: a snapshot's tags changed, as a new snapshot object
 * (objects are immutable and named by their hash) and the old one
 * removed.
 *
 * Order: the new object is saved before the old is removed, so a crash
 * in between leaves both (the same tree twice; forget removes either),
 * never neither.
 *
 * Threat model: the new object is signed by the member that tags it, so
 * it would become that member's in every rule that trusts an author
 * (`latest`, privileges restored by extract, forget's grouping).  Only
 * an owner's own snapshots are retagged: another member's stays as its
 * author signed it.
 */
#include <stdlib.h>
#include <string.h>

#include "common/internal.h"
#include "ops/snapshot_list.h"
#include "repo/repo.h"

static int listed(const char *const *list, size_t n, const char *tag)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], tag) == 0)
            return 1;
    return 0;
}

static void free_tags(char **tags, uint32_t n)
{
    for (uint32_t i = 0; tags && i < n; i++)
        free(tags[i]);
    free(tags);
}

/* The new tag list into *out (copies): the old ones or o->set, then
 * o->add, without o->remove, each once. */
static vault_error new_tags(const snapshot_record *rec,
                            const vault_tag_options *o, char ***out,
                            uint32_t *n)
{
    size_t n_base = o->replace ? o->n_set : rec->n_tags;
    const char *const *base =
        o->replace ? o->set : (const char *const *)rec->tags;
    size_t cap = n_base + o->n_add;
    char **tags = calloc(cap ? cap : 1, sizeof *tags);
    if (!tags)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    size_t count = 0;
    for (size_t pass = 0; pass < 2; pass++) {
        const char *const *from = pass ? o->add : base;
        size_t n_from = pass ? o->n_add : n_base;
        for (size_t i = 0; i < n_from; i++) {
            if (!from[i]) {
                free_tags(tags, (uint32_t)count);
                return vlt_fail(VAULT_E_INVALID, "tag: NULL tag");
            }
            if (listed(o->remove, o->n_remove, from[i]) ||
                listed((const char *const *)tags, count, from[i]))
                continue;
            if (!(tags[count] = strdup(from[i]))) {
                free_tags(tags, (uint32_t)count);
                return vlt_fail(VAULT_E_NOMEM, "out of memory");
            }
            count++;
        }
    }
    if (count > UINT16_MAX) {
        free_tags(tags, (uint32_t)count);
        return vlt_fail(VAULT_E_INVALID, "tag: %zu tags, at most %u", count,
                        (unsigned)UINT16_MAX);
    }
    *out = tags;
    *n = (uint32_t)count;
    return VAULT_OK;
}

static int same_tags(char **a, uint32_t n_a, char **b, uint32_t n_b)
{
    if (n_a != n_b)
        return 0;
    for (uint32_t i = 0; i < n_a; i++)
        if (strcmp(a[i], b[i]) != 0)
            return 0;
    return 1;
}

vault_error vault_tag(vault_t *v, const char *ref, const vault_tag_options *o,
                      char new_id[65])
{
    if (!v || !ref || !o || !new_id || (o->n_add && !o->add) ||
        (o->n_remove && !o->remove) || (o->n_set && !o->set))
        return vlt_fail(VAULT_E_INVALID, "tag: missing argument");
    if (v->keys->role != ROLE_OWNER)
        return vlt_fail(VAULT_E_PERMISSION,
                        "%s: only an owner can change tags (the old "
                        "snapshot is removed, as forget does; this member "
                        "is a %s)",
                        v->location,
                        vault_role_name((vault_role)v->keys->role));
    char old_id[65];
    vault_error rc = vault_snapshot_resolve(v, ref, old_id);
    snapshot_record rec = {0};
    if (rc == VAULT_OK)
        rc = vlt_repo_snapshot_load(v, old_id, &rec);
    if (rc != VAULT_OK)
        return rc;
    if (memcmp(rec.author, v->keys->sign_pk, SIGN_PUBLIC_BYTES) != 0) {
        vlt_snapshot_clear(&rec);
        return vlt_fail(VAULT_E_PERMISSION,
                        "snapshot %.8s: written by another member; its tags "
                        "stay as its author signed them (a retagged copy "
                        "would be this owner's, trusted with what the "
                        "author put in)",
                        old_id);
    }
    char **tags = NULL;
    uint32_t n_tags = 0;
    rc = new_tags(&rec, o, &tags, &n_tags);
    if (rc != VAULT_OK) {
        vlt_snapshot_clear(&rec);
        return rc;
    }
    if (same_tags(tags, n_tags, rec.tags, rec.n_tags)) {
        memcpy(new_id, old_id, 65);
        free_tags(tags, n_tags);
        vlt_snapshot_clear(&rec);
        return VAULT_OK;
    }
    rc = backend_check_deletable(v->be);
    /* The record with the new list in place of its own. */
    free_tags(rec.tags, rec.n_tags);
    rec.tags = tags;
    rec.n_tags = n_tags;
    if (rc == VAULT_OK)
        rc = vlt_repo_snapshot_save(v, &rec, new_id);
    vlt_snapshot_clear(&rec);
    if (rc == VAULT_OK && strcmp(new_id, old_id) != 0) {
        rc = backend_remove(v->be, BACKEND_SNAPSHOTS, old_id);
        if (rc == VAULT_E_NOT_FOUND)
            rc = VAULT_OK; /* forgotten meanwhile */
        if (rc != VAULT_OK)
            rc = vlt_fail_context(rc, "tag: snapshots/%s (the retagged "
                                      "snapshot %.8s is saved; forget the "
                                      "old one)",
                                  old_id, new_id);
    }
    return rc;
}
