/*
 * members.c - envelopes and membership: share, members, unshare (with key
 * rotation) and rekey.  Format spec: "Envelopes, members and roles" and
 * "Key epochs and rotation".
 *
 * Every envelope is an age file with two recipients: the member, and the
 * read key of the epoch current when it was written.  So the member opens
 * it with their own identity (and so does `age -d`), and anyone who can
 * read the vault can list who the members are and with which role.
 */
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
    if (vlt_age_parse_recipient(member, strlen(member), out) != VAULT_OK)
        return vlt_fail(VAULT_E_BAD_KEY,
                        "%s: not a recipient (age1... or ssh-ed25519 ...)",
                        member);
    return VAULT_OK;
}

vault_error vlt_envelope_save(backend *be, const keyring *k, member_role role,
                              const char *member, char name_out[65])
{
    age_recipient to[2];
    vault_error rc = member_recipient(member, &to[0]);
    if (rc != VAULT_OK)
        return rc;
    memset(&to[1], 0, sizeof to[1]);
    to[1].kind = AGE_KIND_X25519;
    memcpy(to[1].public_key, vlt_keyring_current(k)->read_pk, X25519_BYTES);
    char *payload;
    size_t payload_len;
    rc = vlt_envelope_payload_encode(k, role, member, vlt_now(), &payload,
                                     &payload_len);
    if (rc != VAULT_OK)
        return rc;
    uint8_t *file;
    size_t file_len;
    rc = vlt_age_encrypt(to, 2, (const uint8_t *)payload, payload_len, &file,
                         &file_len);
    sodium_memzero(payload, payload_len);
    free(payload);
    if (rc != VAULT_OK)
        return rc;
    char name[65];
    vlt_object_name(file, file_len, name);
    rc = backend_save(be, BACKEND_KEYS, name, file, file_len);
    free(file);
    if (rc == VAULT_OK && name_out)
        memcpy(name_out, name, 65);
    return rc;
}

/* One envelope as a reader sees it. */
typedef struct envelope_info {
    char name[65];
    keyring *keys;
    char *member;
    int64_t created;
} envelope_info;

static void envelopes_free(envelope_info *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        vlt_keyring_free(e[i].keys);
        free(e[i].member);
    }
    free(e);
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

/* Opens every envelope with the epochs' read keys. */
static vault_error read_envelopes(vault_t *v, envelope_info **out,
                                  size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (!vlt_keyring_can_read(v->keys))
        return vlt_fail(VAULT_E_PERMISSION,
                        "%s: a writer cannot list members", v->location);
    name_list names;
    vault_error rc = vlt_backend_list_names(v->be, BACKEND_KEYS, &names);
    if (rc != VAULT_OK)
        return rc;
    age_identity *ids = sodium_allocarray(v->keys->n_epochs, sizeof *ids);
    envelope_info *list = calloc(names.n ? names.n : 1, sizeof *list);
    if (!ids || !list) {
        if (ids)
            sodium_free(ids);
        free(list);
        free(names.names);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    for (uint32_t e = 0; e < v->keys->n_epochs; e++) {
        memset(&ids[e], 0, sizeof ids[e]);
        ids[e].kind = AGE_KIND_X25519;
        memcpy(ids[e].secret_key, v->keys->epochs[e].read_sk, X25519_BYTES);
    }
    size_t n = 0;
    for (size_t i = 0; i < names.n; i++) {
        uint8_t *file = NULL, *plain = NULL;
        size_t len, plain_len = 0;
        rc = backend_load(v->be, BACKEND_KEYS, names.names[i], 0, 0,
                          ENVELOPE_MAX_BYTES, &file, &len);
        if (rc == VAULT_OK)
            rc = vlt_object_check_name(BACKEND_KEYS, names.names[i], file, len);
        if (rc == VAULT_OK)
            rc = vlt_age_decrypt(ids, v->keys->n_epochs, file, len, &plain,
                                 &plain_len);
        free(file);
        if (rc == VAULT_OK)
            rc = vlt_envelope_payload_decode(plain, plain_len, &list[n].keys,
                                             &list[n].member, &list[n].created);
        vlt_age_free_plaintext(plain, plain_len);
        if (rc == VAULT_OK &&
            sodium_memcmp(list[n].keys->vault_id, v->keys->vault_id,
                          VAULT_ID_BYTES) != 0) {
            vlt_keyring_free(list[n].keys);
            free(list[n].member);
            list[n].keys = NULL;
            list[n].member = NULL;
            rc = VAULT_E_CORRUPT;
        }
        if (rc != VAULT_OK)
            continue; /* not ours to read, or damaged: not a member */
        memcpy(list[n].name, names.names[i], 65);
        n++;
    }
    sodium_free(ids);
    free(names.names);
    *out = list;
    *n_out = n;
    return VAULT_OK;
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
    envelope_info *env;
    size_t n;
    vault_error rc = read_envelopes(v, &env, &n);
    if (rc != VAULT_OK)
        return rc;
    vault_member_info *list = calloc(n ? n : 1, sizeof *list);
    if (!list) {
        envelopes_free(env, n);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        list[i].member = env[i].member;
        env[i].member = NULL;
        list[i].role = (vault_role)env[i].keys->role;
        list[i].created = env[i].created;
        list[i].epochs = env[i].keys->n_epochs;
        memcpy(list[i].envelope, env[i].name, 65);
    }
    envelopes_free(env, n);
    qsort(list, n, sizeof *list, member_cmp);
    *out = list;
    *n_out = n;
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
    envelope_info *env;
    size_t n;
    rc = read_envelopes(v, &env, &n);
    if (rc != VAULT_OK)
        return rc;
    for (size_t i = 0; i < n && rc == VAULT_OK; i++)
        if (strcmp(env[i].member, recipient) == 0)
            rc = vlt_fail(VAULT_E_EXISTS, "%s is a member already (%s)",
                          recipient,
                          vault_role_name((vault_role)env[i].keys->role));
    envelopes_free(env, n);
    if (rc == VAULT_OK)
        rc = vlt_envelope_save(v->be, v->keys, r, recipient, NULL);
    return rc;
}

vault_error vault_unshare(vault_t *v, const char *const *recipients,
                          size_t n_recipients)
{
    vault_error rc = need_owner(v, "unshare the vault");
    if (rc != VAULT_OK)
        return rc;
    envelope_info *env;
    size_t n;
    rc = read_envelopes(v, &env, &n);
    if (rc != VAULT_OK)
        return rc;
    uint8_t *removed = calloc(n ? n : 1, 1);
    if (!removed) {
        envelopes_free(env, n);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    for (size_t r = 0; r < n_recipients && rc == VAULT_OK; r++) {
        int found = 0;
        for (size_t i = 0; i < n; i++)
            if (strcmp(env[i].member, recipients[r]) == 0)
                removed[i] = 1, found = 1;
        if (!found)
            rc = vlt_fail(VAULT_E_NOT_FOUND, "%s: not a member",
                          recipients[r]);
    }
    int owners_left = 0;
    for (size_t i = 0; i < n; i++)
        if (!removed[i] && env[i].keys->role == ROLE_OWNER)
            owners_left = 1;
    if (rc == VAULT_OK && !owners_left)
        rc = vlt_fail(VAULT_E_INVALID,
                      "refusing to remove the last owner");

    /* The new epoch goes to the remaining members first; only then are
     * old envelopes deleted, so a crash leaves every remaining member
     * able to open the vault (they pick the envelope with most epochs). */
    keyring *next = NULL;
    if (rc == VAULT_OK)
        rc = vlt_keyring_new_epoch(v->keys, &next);
    for (size_t i = 0; i < n && rc == VAULT_OK; i++) {
        if (removed[i])
            continue;
        int seen = 0; /* one new envelope per member */
        for (size_t j = 0; j < i; j++)
            if (!removed[j] && strcmp(env[j].member, env[i].member) == 0)
                seen = 1;
        if (!seen)
            rc = vlt_envelope_save(v->be, next, env[i].keys->role, env[i].member,
                                   NULL);
    }
    for (size_t i = 0; i < n && rc == VAULT_OK; i++) {
        rc = backend_remove(v->be, BACKEND_KEYS, env[i].name);
        if (rc == VAULT_E_NOT_FOUND)
            rc = VAULT_OK;
    }
    if (rc == VAULT_OK) {
        next->role = v->keys->role;
        vlt_keyring_free(v->keys);
        v->keys = next;
        next = NULL;
    }
    vlt_keyring_free(next);
    free(removed);
    envelopes_free(env, n);
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
        } else if (rc != VAULT_E_NOMEM) {
            /* Another copy may serve (checked once every pack is read):
             * a writer's junk must not stop a rekey. */
            char hex[65];
            vlt_hex_encode(entries[i].id, CHUNK_ID_BYTES, hex);
            vlt_repo_warn(v, "rekey: data/%.2s/%s: blob %.16s: %s", name,
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

vault_error vault_rekey(vault_t *v, vault_rekey_result *r)
{
    memset(r, 0, sizeof *r);
    vault_error rc = need_owner(v, "rekey the vault");
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
    for (size_t i = 0; i < packs.n && rc == VAULT_OK; i++)
        rc = rekey_pack(&k, packs.names[i]);
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
             * cover the epoch (DESIGN-v2.md §2, rekey) */
            rc = vlt_snapshot_reseal(v->be, v->keys, &rec, id);
            vlt_snapshot_clear(&rec);
        }
        if (rc == VAULT_OK)
            r->snapshots_rewritten++;
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
