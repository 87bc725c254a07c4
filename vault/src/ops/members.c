/*
 * members.c - membership: share, members, unshare (with key rotation)
 * and rekey.  Format: format.md §5.
 *
 * Every change to who is a member is a membership record signed by an
 * owner of the record before it; envelopes only carry secrets, each to
 * its member alone.  The order of writes keeps a crash harmless: the new
 * envelopes first, then the record that lists them, then the deletion
 * of what the record no longer needs.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zstd.h>

#include "crypto/age/age.h"
#include "common/array.h"
#include "common/idset.h"
#include "common/internal.h"
#include "repo/repo.h"

static vault_error member_recipient(const char *member, age_recipient *out)
{
    memset(out, 0, sizeof *out);
    /* The parser's detail says why (e.g. an RSA key too short). */
    if (vlt_age_parse_recipient(member, strlen(member), out) != VAULT_OK)
        return vlt_fail_context(VAULT_E_BAD_KEY, "%s", member);
    return VAULT_OK;
}

vault_error vlt_envelope_save(backend *be, const envelope_payload *p,
                              char name_out[65])
{
    age_recipient to;
    vault_error rc = member_recipient(p->member, &to);
    if (rc != VAULT_OK)
        return rc;
    char *payload;
    size_t payload_len;
    rc = vlt_envelope_payload_encode(p, &payload, &payload_len);
    if (rc != VAULT_OK)
        return rc;
    uint8_t *file;
    size_t file_len;
    rc = vlt_age_encrypt(&to, 1, (const uint8_t *)payload, payload_len, &file,
                         &file_len);
    sodium_memzero(payload, payload_len);
    free(payload);
    if (rc != VAULT_OK)
        return rc;
    rc = vlt_keys_object_save(be, file, file_len, name_out);
    free(file);
    return rc;
}

static vault_error need_owner(const vault_t *v, const char *what)
{
    if (v->keys->role != ROLE_OWNER)
        return vlt_fail(VAULT_E_PERMISSION,
                        "%s: only an owner can %s (this member is a %s)",
                        v->location, what,
                        vault_role_name((vault_role)v->keys->role));
    return VAULT_OK;
}

/* Do two recipient strings name the same key (comments aside)? */
static int same_key(const char *a, const char *b)
{
    age_recipient x, y;
    if (member_recipient(a, &x) != VAULT_OK ||
        member_recipient(b, &y) != VAULT_OK)
        return strcmp(a, b) == 0;
    return vlt_age_same_recipient(&x, &y);
}

/* The index of the current member with recipient's key, or -1. */
static long member_index(const membership *m, const char *recipient)
{
    for (size_t i = 0; i < m->n_members; i++)
        if (same_key(m->members[i].recipient, recipient))
            return (long)i;
    return -1;
}

static int member_cmp(const void *a, const void *b)
{
    const vault_member_info *x = a, *y = b;
    if (x->created != y->created)
        return x->created < y->created ? -1 : 1;
    return strcmp(x->member, y->member);
}

vault_error vault_members(vault_t *v, vault_member_info **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    const membership *m = v->members;
    vault_member_info *list = calloc(m->n_members ? m->n_members : 1,
                                     sizeof *list);
    if (!list)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    for (size_t i = 0; i < m->n_members; i++) {
        const member_entry *e = &m->members[i];
        if (!(list[i].member = strdup(e->recipient))) {
            vault_members_free(list, i);
            return vlt_fail(VAULT_E_NOMEM, "out of memory");
        }
        list[i].role = (vault_role)e->role;
        list[i].created = e->added;
        list[i].epochs = m->epoch + 1;
        if (e->n_envelopes)
            vlt_hex_encode(e->envelopes[0], 32, list[i].envelope);
        vlt_hex_encode(e->sign_pk, SIGN_PUBLIC_BYTES, list[i].sign_key);
    }
    qsort(list, m->n_members, sizeof *list, member_cmp);
    *out = list;
    *n_out = m->n_members;
    return VAULT_OK;
}

void vault_members_free(vault_member_info *list, size_t n)
{
    if (!list)
        return;
    for (size_t i = 0; i < n; i++)
        free(list[i].member);
    free(list);
}

static member_role role_from_public(vault_role role)
{
    switch (role) {
    case VAULT_ROLE_OWNER: return ROLE_OWNER;
    case VAULT_ROLE_READER: return ROLE_READER;
    case VAULT_ROLE_WRITER: return ROLE_WRITER;
    }
    return 0;
}

/* Record seq+1 carrying over the current one (roster copied, n_extra
 * spare entries at the end of members). */
static vault_error next_record(const vault_t *v, size_t n_extra,
                               membership_record *r)
{
    const membership *m = v->members;
    memset(r, 0, sizeof *r);
    r->seq = m->seq + 1;
    memcpy(r->previous, m->last_name, 32);
    r->epoch = m->epoch;
    memcpy(r->epoch_pk, m->epoch_pk[m->epoch], X25519_BYTES);
    memcpy(r->write_key_id, m->epoch_write_key_id[m->epoch], 32);
    memcpy(r->dedup_id, m->dedup_id, 32);
    r->time = vlt_now();
    r->members = calloc(m->n_members + n_extra, sizeof *r->members);
    if (!r->members)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    for (size_t i = 0; i < m->n_members; i++) {
        vault_error rc = vlt_member_entry_copy(&r->members[i], &m->members[i]);
        if (rc != VAULT_OK)
            return rc;
        r->n_members++;
    }
    return VAULT_OK;
}

/* Removes the envelopes listed for a member that the new record drops. */
static vault_error remove_envelopes(vault_t *v, const member_entry *e)
{
    for (uint16_t i = 0; i < e->n_envelopes; i++) {
        char name[65];
        vlt_hex_encode(e->envelopes[i], 32, name);
        vault_error rc = backend_remove(v->be, BACKEND_KEYS, name);
        if (rc != VAULT_OK && rc != VAULT_E_NOT_FOUND)
            return rc;
    }
    return VAULT_OK;
}

vault_error vault_share(vault_t *v, const char *recipient, vault_role role)
{
    vault_error rc = need_owner(v, "share the vault");
    if (rc != VAULT_OK)
        return rc;
    member_role r = role_from_public(role);
    if (!r)
        return vlt_fail(VAULT_E_INVALID, "unknown role");
    age_recipient parsed;
    rc = member_recipient(recipient, &parsed);
    if (rc != VAULT_OK)
        return rc;
    if (strlen(recipient) > RECIPIENT_MAX || strchr(recipient, '\n'))
        return vlt_fail(VAULT_E_BAD_KEY, "%s: recipient too long", recipient);
    long old = member_index(v->members, recipient);
    /* A new signing key for oneself would leave this handle signing with
     * a key the log no longer lists; another owner can do it. */
    if (old >= 0 && memcmp(v->members->members[old].sign_pk, v->keys->sign_pk,
                           SIGN_PUBLIC_BYTES) == 0)
        return vlt_fail(VAULT_E_INVALID,
                        "%s: %s is you; another owner can change your role",
                        v->location, recipient);
    if (old < 0 && v->members->n_members >= MEMBERS_COUNT_MAX)
        return vlt_fail(VAULT_E_INVALID, "%s: the vault has %d members, the "
                        "most it can have", v->location, MEMBERS_COUNT_MAX);

    /* A fresh signing key, sealed to the new member only, then wiped. */
    uint8_t seed[SIGN_SEED_BYTES], pk[SIGN_PUBLIC_BYTES], sk[SIGN_SECRET_BYTES];
    vlt_sign_keypair_generate(seed, pk, sk);
    sodium_memzero(sk, sizeof sk);
    envelope_payload *p = NULL;
    char env_name[65];
    rc = vlt_envelope_payload_make(v->keys, recipient, seed, 1, 0,
                                   r != ROLE_WRITER, &p);
    sodium_memzero(seed, sizeof seed);
    if (rc == VAULT_OK)
        rc = vlt_envelope_save(v->be, p, env_name);
    vlt_envelope_payload_free(p);
    if (rc != VAULT_OK)
        return rc;

    membership_record rec;
    member_entry replaced = {0};
    rc = next_record(v, 1, &rec);
    member_entry *e = NULL;
    if (rc == VAULT_OK) {
        if (old >= 0) {
            e = &rec.members[old];
            replaced = *e; /* its envelopes go once the record is saved */
            e->recipient = NULL;
            e->envelopes = NULL;
        } else {
            e = &rec.members[rec.n_members++];
        }
        memset(e, 0, sizeof *e);
        memcpy(e->sign_pk, pk, SIGN_PUBLIC_BYTES);
        e->role = r;
        e->added = vlt_now();
        e->recipient = strdup(recipient);
        e->envelopes = malloc(32);
        if (!e->recipient || !e->envelopes)
            rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
        else {
            vlt_hex_decode(env_name, 64, e->envelopes[0], 32);
            e->n_envelopes = 1;
        }
    }
    if (rc == VAULT_OK)
        rc = vlt_membership_append(v->be, v->keys->vault_id,
                                   vlt_keyring_current(v->keys)->write_key,
                                   &rec, v->keys->sign_sk, NULL);
    if (rc == VAULT_OK && old >= 0)
        rc = remove_envelopes(v, &replaced);
    free(replaced.recipient);
    free(replaced.envelopes);
    vlt_membership_record_clear(&rec);
    if (rc == VAULT_OK)
        rc = vlt_repo_reload_membership(v);
    return rc;
}

vault_error vault_unshare(vault_t *v, const char *const *recipients,
                          size_t n_recipients)
{
    vault_error rc = need_owner(v, "unshare the vault");
    /* Unshare removes the old envelopes: on an append-only server it
     * would leave the removed member's envelope behind, so it fails
     * before the new epoch is written. */
    if (rc == VAULT_OK)
        rc = backend_check_deletable(v->be);
    if (rc != VAULT_OK)
        return rc;
    const membership *m = v->members;
    uint8_t *removed = calloc(m->n_members ? m->n_members : 1, 1);
    if (!removed)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    for (size_t r = 0; r < n_recipients && rc == VAULT_OK; r++) {
        long i = member_index(m, recipients[r]);
        if (i < 0)
            rc = vlt_fail(VAULT_E_NOT_FOUND, "%s: not a member",
                          recipients[r]);
        else
            removed[i] = 1;
    }
    int owners_left = 0;
    for (size_t i = 0; i < m->n_members; i++)
        if (!removed[i] && m->members[i].role == ROLE_OWNER)
            owners_left = 1;
    if (rc == VAULT_OK && !owners_left)
        rc = vlt_fail(VAULT_E_INVALID, "refusing to remove the last owner");

    /* The new epoch goes to the remaining members, then the record that
     * starts it; only then are the removed members' envelopes deleted. */
    keyring *next = NULL;
    membership_record rec = {0};
    if (rc == VAULT_OK)
        rc = vlt_keyring_new_epoch(v->keys, &next);
    if (rc == VAULT_OK)
        rc = next_record(v, 0, &rec);
    if (rc == VAULT_OK) {
        rec.epoch = next->n_epochs - 1;
        memcpy(rec.epoch_pk, vlt_keyring_current(next)->read_pk, X25519_BYTES);
        vlt_write_key_id(vlt_keyring_current(next)->write_key,
                         rec.write_key_id);
    }
    for (size_t i = 0; i < m->n_members && rc == VAULT_OK; i++) {
        member_entry *e = &rec.members[i];
        if (removed[i])
            continue;
        if (e->n_envelopes >= MEMBER_ENVELOPES_MAX) {
            rc = vlt_fail(VAULT_E_UNSUPPORTED, "%s: too many key epochs",
                          e->recipient);
            break;
        }
        envelope_payload *p = NULL;
        char name[65];
        rc = vlt_envelope_payload_make(next, e->recipient, NULL, 0,
                                       rec.epoch, e->role != ROLE_WRITER, &p);
        if (rc == VAULT_OK)
            rc = vlt_envelope_save(v->be, p, name);
        vlt_envelope_payload_free(p);
        uint8_t(*grown)[32] = NULL;
        if (rc == VAULT_OK &&
            !(grown = realloc(e->envelopes, 32u * (e->n_envelopes + 1u))))
            rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
        if (grown) {
            e->envelopes = grown;
            vlt_hex_decode(name, 64, e->envelopes[e->n_envelopes++], 32);
        }
    }
    /* The record lists the remaining members only. */
    size_t kept = 0;
    for (size_t i = 0; i < rec.n_members; i++) {
        if (removed[i]) {
            free(rec.members[i].recipient);
            free(rec.members[i].envelopes);
        } else {
            rec.members[kept++] = rec.members[i];
        }
    }
    rec.n_members = (uint32_t)kept;
    if (rc == VAULT_OK)
        rc = vlt_membership_append(v->be, next->vault_id,
                                   vlt_keyring_current(next)->write_key, &rec,
                                   v->keys->sign_sk, NULL);
    for (size_t i = 0; i < m->n_members && rc == VAULT_OK; i++)
        if (removed[i])
            rc = remove_envelopes(v, &m->members[i]);
    if (rc == VAULT_OK) {
        vlt_keyring_free(v->keys);
        v->keys = next;
        next = NULL;
        rc = vlt_repo_reload_membership(v);
    }
    vlt_keyring_free(next);
    vlt_membership_record_clear(&rec);
    free(removed);
    return rc;
}

/* --- rekey ------------------------------------------------------------- */

typedef struct rekeyer {
    vault_t *v;
    vault_rekey_result *r;
    pack_writer pw;
    int open;
    vlt_idset seen; /* chunk IDs written by this rekey */
    /* chunk IDs of blobs that failed to open (a damaged copy, or a
     * member's junk under a real ID): fine if another copy is rekeyed */
    vlt_idset failed;
    char failed_detail[512]; /* the first failure, for the report */
    uint8_t *pack_ids; /* the packs written, 32 bytes each */
    size_t *starts;    /* n_packs + 1: where each pack's entries start */
    pack_entry *entries;
    size_t n_packs, n_entries;
    size_t cap_ids, cap_starts, cap_entries; /* allocated (ids: bytes) */
} rekeyer;

static vault_error rk_finish(rekeyer *k)
{
    if (!k->open)
        return VAULT_OK;
    k->open = 0;
    uint8_t id[32];
    vault_error rc = vlt_pack_writer_finish(&k->pw, k->v->be, id);
    if (rc != VAULT_OK)
        return rc;
    if (vlt_array_reserve(&k->pack_ids, &k->cap_ids, 32 * (k->n_packs + 1),
                          1) != 0 ||
        VLT_ARRAY_GROW(&k->starts, &k->cap_starts, k->n_packs + 2) != 0 ||
        VLT_ARRAY_GROW(&k->entries, &k->cap_entries,
                       k->n_entries + k->pw.n_entries) != 0)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    memcpy(k->pack_ids + 32 * k->n_packs, id, 32);
    k->starts[0] = 0;
    memcpy(k->entries + k->n_entries, k->pw.entries,
           k->pw.n_entries * sizeof *k->entries);
    k->n_entries += k->pw.n_entries;
    k->starts[++k->n_packs] = k->n_entries;
    k->r->packs_rewritten++;
    return VAULT_OK;
}

static vault_error rk_add(rekeyer *k, const pack_entry *e,
                          const uint8_t *raw)
{
    int inserted;
    uint32_t number;
    vault_error rc = vlt_idset_put(&k->seen, e->id, &number, &inserted);
    if (rc != VAULT_OK || !inserted)
        return rc;
    if (!k->open) {
        rc = vlt_pack_writer_begin(&k->pw, k->v->keys);
        if (rc != VAULT_OK)
            return rc;
        k->open = 1;
    }
    const uint8_t *stored = raw;
    size_t stored_len = e->raw_len;
    uint8_t flags = 0;
    uint8_t *z = NULL;
    if (e->flags & BLOB_FLAG_ZSTD) {
        /* It compressed before; compress it again the same way. */
        size_t bound = ZSTD_compressBound(e->raw_len);
        z = malloc(bound);
        if (!z)
            return vlt_fail(VAULT_E_NOMEM, "out of memory");
        size_t zn = ZSTD_compress(z, bound, raw, e->raw_len, 3);
        if (!ZSTD_isError(zn) && zn < e->raw_len) {
            stored = z;
            stored_len = zn;
            flags = BLOB_FLAG_ZSTD;
        }
    }
    rc = vlt_pack_writer_add(&k->pw, (blob_type)e->type, e->id, flags, stored,
                             stored_len, e->raw_len);
    free(z);
    k->r->blobs_rewritten++;
    if (rc == VAULT_OK && k->pw.len >= PACK_TARGET_BYTES)
        rc = rk_finish(k);
    return rc;
}

/* Reads an object's epoch (bytes 8..11 of packs, segments, snapshots). */
static vault_error object_epoch(vault_t *v, backend_kind kind,
                                const char *name, uint32_t *epoch)
{
    uint8_t *head;
    size_t len;
    vault_error rc = backend_load(v->be, kind, name, 0, 12, 12, &head, &len);
    if (rc != VAULT_OK)
        return rc;
    *epoch = load_le32(head + 8);
    free(head);
    return VAULT_OK;
}

static vault_error rekey_pack(rekeyer *k, const char *name)
{
    vault_t *v = k->v;
    uint8_t *pack;
    size_t len;
    vault_error rc = backend_load(v->be, BACKEND_DATA, name, 0, 0,
                                  PACK_MAX_BYTES, &pack, &len);
    if (rc != VAULT_OK)
        return rc;
    rc = vlt_object_check_name(BACKEND_DATA, name, pack, len);
    pack_entry *entries = NULL;
    size_t n = 0;
    uint8_t key[SECRET_BYTES];
    if (rc == VAULT_OK)
        rc = vlt_pack_read_index(v->keys, pack, len, &entries, &n);
    if (rc == VAULT_OK)
        rc = vlt_pack_key_from_header(v->keys, pack, len, key);
    for (size_t i = 0; i < n && rc == VAULT_OK; i++) {
        uint8_t *raw;
        rc = vlt_blob_open(v->keys, key, &entries[i], pack + entries[i].offset,
                           entries[i].length, NULL, &raw);
        if (rc == VAULT_OK) {
            rc = rk_add(k, &entries[i], raw);
            free(raw);
        } else if (!vlt_error_stops(rc)) {
            /* Another copy may serve (checked once every pack is read):
             * a writer's junk must not stop a rekey. */
            char hex[65];
            vlt_hex_encode(entries[i].id, CHUNK_ID_BYTES, hex);
            vlt_warn("rekey: data/%.2s/%s: blob %.16s: %s", name,
                          name, hex, vault_last_error());
            if (!k->failed_detail[0])
                snprintf(k->failed_detail, sizeof k->failed_detail,
                         "data/%.2s/%s: blob %.16s: %s", name, name, hex,
                         vault_last_error());
            uint32_t number;
            int inserted;
            rc = vlt_idset_put(&k->failed, entries[i].id, &number,
                               &inserted);
        }
    }
    sodium_memzero(key, sizeof key);
    free(entries);
    free(pack);
    if (rc != VAULT_OK)
        return vlt_fail_context(rc, "data/%.2s/%s", name, name);
    return VAULT_OK;
}

/* The old objects of one kind: those sealed in an epoch before current. */
static vault_error old_objects(vault_t *v, backend_kind kind,
                               name_list *old)
{
    name_list all;
    vault_error rc = vlt_backend_list_names(v->be, kind, &all);
    if (rc != VAULT_OK)
        return rc;
    memset(old, 0, sizeof *old);
    uint32_t current = v->keys->n_epochs - 1;
    for (size_t i = 0; i < all.n && rc == VAULT_OK; i++) {
        uint32_t epoch;
        rc = object_epoch(v, kind, all.names[i], &epoch);
        if (rc == VAULT_OK && epoch < current &&
            vlt_name_list_add(old, all.names[i]) != 0)
            rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    free(all.names);
    return rc;
}

static vault_error remove_all(vault_t *v, backend_kind kind,
                              const name_list *l, vault_rekey_result *r)
{
    for (size_t i = 0; i < l->n; i++) {
        vault_error rc = backend_remove(v->be, kind, l->names[i]);
        if (rc != VAULT_OK && rc != VAULT_E_NOT_FOUND)
            return rc;
        r->objects_deleted++;
    }
    return VAULT_OK;
}

static vault_error rekey_run(vault_t *v, vault_rekey_result *r)
{
    memset(r, 0, sizeof *r);
    vault_error rc = need_owner(v, "rekey the vault");
    /* Rekey deletes what it re-sealed: not on an append-only server. */
    if (rc == VAULT_OK)
        rc = backend_check_deletable(v->be);
    if (rc != VAULT_OK)
        return rc;
    rekeyer k = {.v = v, .r = r};
    name_list packs = {0}, segments = {0}, snaps = {0};
    rc = old_objects(v, BACKEND_DATA, &packs);
    if (rc == VAULT_OK)
        rc = old_objects(v, BACKEND_INDEX, &segments);
    if (rc == VAULT_OK)
        rc = old_objects(v, BACKEND_SNAPSHOTS, &snaps);
    /* New packs, then their index, then new snapshots: the same order as
     * add, so a crash leaves duplicates, never a gap. */
    vlt_progress_total(&v->progress, packs.n + snaps.n, 0, rc == VAULT_OK);
    for (size_t i = 0; i < packs.n && rc == VAULT_OK; i++) {
        rc = rekey_pack(&k, packs.names[i]);
        vlt_progress_add(&v->progress, 1, 0);
    }
    /* A blob that failed everywhere: stop before anything is removed. */
    for (size_t i = 0; rc == VAULT_OK && i < k.failed.n; i++) {
        uint32_t number;
        if (!vlt_idset_find(&k.seen, vlt_idset_id(&k.failed, i), &number)) {
            char hex[65];
            vlt_hex_encode(vlt_idset_id(&k.failed, i), CHUNK_ID_BYTES, hex);
            rc = vlt_fail(VAULT_E_CORRUPT,
                          "rekey: blob %.16s: no copy of it opens, nothing "
                          "was removed (run `vault check`; first failure: "
                          "%s)",
                          hex, k.failed_detail);
        }
    }
    if (rc == VAULT_OK)
        rc = rk_finish(&k);
    if (rc == VAULT_OK && k.n_packs)
        rc = vlt_index_segment_save(v->be, v->keys, k.pack_ids, k.n_packs,
                                    k.starts, k.entries);
    for (size_t i = 0; i < snaps.n && rc == VAULT_OK; i++) {
        snapshot_record rec;
        char id[65];
        rc = vlt_repo_snapshot_load(v, snaps.names[i], &rec);
        if (rc == VAULT_OK) {
            /* its author and signature stay: the signature does not
             * cover the epoch (format.md §5.2-5.3, rekey) */
            rc = vlt_snapshot_reseal(v->be, v->keys, &rec, id);
            vlt_snapshot_clear(&rec);
        }
        if (rc == VAULT_OK)
            r->snapshots_rewritten++;
        vlt_progress_add(&v->progress, 1, 0);
    }
    /* Only now is the old material redundant. */
    if (rc == VAULT_OK)
        rc = remove_all(v, BACKEND_SNAPSHOTS, &snaps, r);
    if (rc == VAULT_OK)
        rc = remove_all(v, BACKEND_INDEX, &segments, r);
    if (rc == VAULT_OK)
        rc = remove_all(v, BACKEND_DATA, &packs, r);
    vlt_pack_writer_free(&k.pw);
    vlt_idset_free(&k.seen);
    vlt_idset_free(&k.failed);
    free(k.pack_ids);
    free(k.starts);
    free(k.entries);
    free(packs.names);
    free(segments.names);
    free(snaps.names);
    /* The index this handle loaded names packs that are gone. */
    vlt_repo_forget_index(v);
    return rc;
}

vault_error vault_rekey(vault_t *v, vault_rekey_result *r)
{
    vlt_progress_begin(&v->progress, "rekey", "objects");
    vault_error rc = rekey_run(v, r);
    vlt_progress_end(&v->progress);
    return rc;
}
