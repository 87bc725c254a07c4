/*
 * repo.c - the vault handle: creating a vault, opening one with a
 * member's identity (trying every envelope), closing it; and the
 * handle's snapshot objects.  Blob reading is in blob_load.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto/age/age.h"
#include "common/internal.h"
#include "repo/repo.h"

const char *vault_role_name(vault_role role)
{
    switch (role) {
    case VAULT_ROLE_OWNER: return "owner";
    case VAULT_ROLE_READER: return "reader";
    case VAULT_ROLE_WRITER: return "writer";
    }
    return "unknown";
}

/* Format spec "Pinning": BLAKE2b-256("vault/v1 fingerprint" || vault ID
 * || pk_0), in hex. */
static void fingerprint_of(const keyring *k,
                           char out[VAULT_FINGERPRINT_CHARS + 1])
{
    static const char label[] = "vault/v1 fingerprint";
    uint8_t h[32];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    crypto_generichash_update(&st, (const uint8_t *)label, sizeof label - 1);
    crypto_generichash_update(&st, k->vault_id, VAULT_ID_BYTES);
    crypto_generichash_update(&st, k->epochs[0].read_pk, X25519_BYTES);
    crypto_generichash_final(&st, h, sizeof h);
    vlt_hex_encode(h, sizeof h, out);
}

void vault_fingerprint(const vault_t *v,
                       char out[VAULT_FINGERPRINT_CHARS + 1])
{
    fingerprint_of(v->keys, out);
}

vault_error vlt_repo_init_backend(backend *be, const char *owner,
                                  char fingerprint[VAULT_FINGERPRINT_CHARS + 1])
{
    vault_error rc = vault_recipient_check(owner);
    if (rc != VAULT_OK)
        return rc;
    keyring *k = NULL;
    rc = vlt_keyring_generate(&k);
    if (rc != VAULT_OK)
        return rc;
    /* The envelope first, the config last: a directory with a config is a
     * vault, so an interrupted init leaves no half-made vault behind. */
    rc = vlt_envelope_save(be, k, ROLE_OWNER, owner, NULL);
    if (rc == VAULT_OK) {
        uint8_t config[CONFIG_BYTES];
        vlt_config_encode(k, config);
        rc = backend_save(be, BACKEND_CONFIG, "", config, sizeof config);
    }
    if (rc == VAULT_OK && fingerprint)
        fingerprint_of(k, fingerprint);
    vlt_keyring_free(k);
    return rc;
}

vault_error vault_init(const char *path, const char *owner)
{
    return vault_create(path, owner, NULL);
}

vault_error vault_create(const char *path, const char *owner,
                         char fingerprint[VAULT_FINGERPRINT_CHARS + 1])
{
    if (!path || !owner)
        return vlt_fail(VAULT_E_INVALID, "init: missing argument");
    vault_error rc = vault_recipient_check(owner);
    if (rc != VAULT_OK)
        return rc;
    backend *be = NULL;
    rc = vlt_backend_local_open(path, 1, &be);
    if (rc != VAULT_OK)
        return rc;
    rc = vlt_repo_init_backend(be, owner, fingerprint);
    backend_close(be);
    return rc;
}

/* Tries every envelope with the identity's keys; keeps the best match:
 * the most key epochs, then the strongest role. */
static vault_error open_envelopes(vault_t *v, const vault_identity_t *id)
{
    name_list names;
    vault_error rc = vlt_backend_list_names(v->be, BACKEND_KEYS, &names);
    if (rc != VAULT_OK)
        return rc;
    age_identity *ids = sodium_allocarray(id->n_keys, sizeof *ids);
    if (!ids) {
        free(names.names);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < id->n_keys; i++) {
        memset(&ids[i], 0, sizeof ids[i]);
        ids[i].kind = id->keys[i].kind; /* X25519 or an ssh-ed25519 key */
        memcpy(ids[i].secret_key, id->keys[i].secret_key, 32);
        memcpy(ids[i].ssh_secret_key, id->keys[i].ssh_secret_key, 64);
    }
    size_t damaged = 0;
    char first_damage[256] = "";
    /* An envelope that could not be read (I/O, memory) is not damage: if
     * no envelope opens, that is the error, not "not a member". */
    vault_error unread = VAULT_OK;
    for (size_t i = 0; i < names.n; i++) {
        uint8_t *file = NULL, *plain = NULL;
        size_t len, plain_len = 0;
        rc = backend_load(v->be, BACKEND_KEYS, names.names[i], 0, 0,
                          ENVELOPE_MAX_BYTES, &file, &len);
        if (rc == VAULT_OK)
            rc = vlt_object_check_name(BACKEND_KEYS, names.names[i], file, len);
        if (rc == VAULT_OK)
            rc = vlt_age_decrypt(ids, id->n_keys, file, len, &plain, &plain_len);
        free(file);
        if (rc == VAULT_E_AGE_NO_MATCH)
            continue;
        keyring *k = NULL;
        char *member = NULL;
        if (rc == VAULT_OK)
            rc = vlt_envelope_payload_decode(plain, plain_len, &k, &member, NULL);
        vlt_age_free_plaintext(plain, plain_len);
        if (rc != VAULT_OK) {
            const char *why = vault_last_error();
            if (unread == VAULT_OK &&
                (rc == VAULT_E_IO || rc == VAULT_E_NOMEM))
                unread = rc;
            if (!damaged++ && strncmp(why, "keys/", 5) == 0)
                snprintf(first_damage, sizeof first_damage, "%s", why);
            else if (damaged == 1)
                snprintf(first_damage, sizeof first_damage, "keys/%s: %s",
                         names.names[i], why);
            continue;
        }
        if (!v->keys || k->n_epochs > v->keys->n_epochs ||
            (k->n_epochs == v->keys->n_epochs && k->role < v->keys->role)) {
            vlt_keyring_free(v->keys);
            free(v->member);
            v->keys = k;
            v->member = member;
        } else {
            vlt_keyring_free(k);
            free(member);
        }
    }
    sodium_free(ids);
    free(names.names);
    if (v->keys)
        return VAULT_OK;
    if (damaged)
        return vlt_fail(unread != VAULT_OK ? unread : VAULT_E_NOT_MEMBER,
                        "%s: no envelope opens with identity %s (%zu "
                        "damaged envelope%s; first: %s)",
                        v->location, id->recipient, damaged,
                        damaged == 1 ? "" : "s", first_damage);
    return vlt_fail(VAULT_E_NOT_MEMBER,
                    "%s: identity %s is not a member of this vault",
                    v->location, id->recipient);
}

vault_error vault_probe(const char *path)
{
    backend *be = NULL;
    vault_error rc = vlt_backend_local_open(path, 0, &be);
    backend_close(be);
    return rc;
}

/* BRIDGE until envelopes carry the member's signing key and the
 * membership log lists every member (the membership helper's part of
 * issue #10; drop this when merging it): a signing key per role, derived
 * from the dedup secret, so that what a member writes is signed by the
 * same key in every session, and each role's key stands with its role. */
static void bridge_key(const keyring *k, member_role role,
                       uint8_t seed[SIGN_SEED_BYTES],
                       uint8_t pk[SIGN_PUBLIC_BYTES],
                       uint8_t sk[SIGN_SECRET_BYTES])
{
    char label[32];
    snprintf(label, sizeof label, "bridge signing key %d", (int)role);
    vlt_kdf(seed, k->dedup_secret, label);
    vlt_sign_keypair_from_seed(seed, pk, sk);
}

static int signing_key_bridge(vault_t *v)
{
    if (v->keys->has_sign_key)
        return 0;
    bridge_key(v->keys, v->keys->role, v->keys->sign_seed, v->keys->sign_pk,
               v->keys->sign_sk);
    v->keys->has_sign_key = 1;
    return 1;
}

/* The other roles' bridge keys join the stub's membership. */
static vault_error bridge_members(vault_t *v)
{
    static const member_role roles[] = {ROLE_OWNER, ROLE_READER,
                                        ROLE_WRITER};
    membership *m = v->members;
    member_entry *grown = realloc(m->members, 3 * sizeof *grown);
    if (!grown)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    m->members = grown;
    for (size_t i = 0; i < 3; i++) {
        if (roles[i] == v->keys->role)
            continue;
        member_entry *e = &m->members[m->n_members];
        memset(e, 0, sizeof *e);
        uint8_t seed[SIGN_SEED_BYTES], sk[SIGN_SECRET_BYTES];
        bridge_key(v->keys, roles[i], seed, e->sign_pk, sk);
        sodium_memzero(seed, sizeof seed);
        sodium_memzero(sk, sizeof sk);
        e->role = roles[i];
        if (!(e->recipient = strdup("")))
            return vlt_fail(VAULT_E_NOMEM, "out of memory");
        m->n_members++;
    }
    return VAULT_OK;
}

/* STUB until the membership log lands: the opener alone. */
static vault_error membership_stub(vault_t *v)
{
    membership *m = calloc(1, sizeof *m);
    if (!m || !(m->members = calloc(1, sizeof *m->members))) {
        free(m);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    m->n_members = 1;
    memcpy(m->members[0].sign_pk, v->keys->sign_pk, SIGN_PUBLIC_BYTES);
    m->members[0].role = v->keys->role;
    m->members[0].recipient = strdup(v->member ? v->member : "");
    if (!m->members[0].recipient) {
        vlt_membership_free(m);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    m->epoch = v->keys->n_epochs - 1;
    v->members = m;
    return VAULT_OK;
}

/* Initialises the handle's locks (repo.h); 0 or an errno value. */
static int handle_locks_init(vault_t *v)
{
    int err = pthread_mutex_init(&v->pack_key_lock, NULL);
    if (err)
        return err;
    err = pthread_mutex_init(&v->dctx_lock, NULL);
    if (err) {
        pthread_mutex_destroy(&v->pack_key_lock);
        return err;
    }
    err = pthread_mutex_init(&v->zero_lock, NULL);
    if (err) {
        pthread_mutex_destroy(&v->dctx_lock);
        pthread_mutex_destroy(&v->pack_key_lock);
        return err;
    }
    err = pthread_mutex_init(&v->warn_lock, NULL);
    if (err) {
        pthread_mutex_destroy(&v->zero_lock);
        pthread_mutex_destroy(&v->dctx_lock);
        pthread_mutex_destroy(&v->pack_key_lock);
        return err;
    }
    v->locks_ready = 1;
    return 0;
}

vault_error vlt_repo_open_backend(backend *be, const char *location,
                                  const vault_identity_t *id, vault_t **out)
{
    *out = NULL;
    if (!be || !location || !id) {
        backend_close(be);
        return vlt_fail(VAULT_E_INVALID, "open: missing argument");
    }
    vault_t *v = calloc(1, sizeof *v);
    if (!v) {
        backend_close(be);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    v->be = be;
    vlt_index_init(&v->index);
    vault_error rc = VAULT_OK;
    int err = handle_locks_init(v);
    if (err)
        rc = vlt_fail_errno(err, "open: locks");
    else if (!(v->location = strdup(location)))
        rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
    uint8_t *config = NULL;
    size_t config_len = 0;
    if (rc == VAULT_OK)
        rc = backend_load(v->be, BACKEND_CONFIG, "", 0, 0, 4096, &config,
                          &config_len);
    if (rc == VAULT_E_NOT_FOUND)
        rc = vlt_fail(VAULT_E_NOT_FOUND, "%s: not a vault (no config)",
                      location);
    if (rc == VAULT_OK) {
        uint8_t vault_id[VAULT_ID_BYTES];
        rc = vlt_config_parse(config, config_len, vault_id);
    }
    if (rc == VAULT_OK)
        rc = open_envelopes(v, id);
    if (rc == VAULT_OK)
        rc = vlt_config_verify(v->keys, config, config_len);
    if (rc == VAULT_OK) {
        int bridged = signing_key_bridge(v);
        rc = membership_stub(v);
        if (rc == VAULT_OK && bridged)
            rc = bridge_members(v);
    }
    free(config);
    if (rc != VAULT_OK) {
        vault_close(v);
        return rc;
    }
    *out = v;
    return VAULT_OK;
}

vault_error vault_open(const char *path, const vault_identity_t *id,
                       vault_t **out)
{
    *out = NULL;
    if (!path || !id)
        return vlt_fail(VAULT_E_INVALID, "open: missing argument");
    backend *be = NULL;
    vault_error rc = vlt_backend_local_open(path, 0, &be);
    if (rc != VAULT_OK)
        return rc;
    return vlt_repo_open_backend(be, path, id, out);
}

void vault_close(vault_t *v)
{
    if (!v)
        return;
    backend_close(v->be);
    vlt_keyring_free(v->keys);
    vlt_membership_free(v->members);
    vlt_index_free(&v->index);
    if (v->pack_keys)
        sodium_free(v->pack_keys);
    free(v->pack_key_state);
    for (size_t i = 0; i < v->n_dctx; i++)
        ZSTD_freeDCtx(v->dctx[i]);
    free(v->member);
    free(v->location);
    if (v->locks_ready) {
        pthread_mutex_destroy(&v->pack_key_lock);
        pthread_mutex_destroy(&v->dctx_lock);
        pthread_mutex_destroy(&v->zero_lock);
        pthread_mutex_destroy(&v->warn_lock);
    }
    free(v);
}

void vault_set_warning_handler(vault_t *v,
                               void (*fn)(void *ctx, const char *message),
                               void *ctx)
{
    v->on_warning = fn;
    v->on_warning_ctx = ctx;
}

void vlt_repo_warn(vault_t *v, const char *fmt, ...)
{
    if (!v->on_warning)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (v->locks_ready)
        pthread_mutex_lock(&v->warn_lock);
    v->on_warning(v->on_warning_ctx, msg);
    if (v->locks_ready)
        pthread_mutex_unlock(&v->warn_lock);
}

vault_role vault_member_role(const vault_t *v)
{
    return (vault_role)v->keys->role;
}

vault_error vlt_repo_snapshot_save(vault_t *v, const snapshot_record *rec,
                                   char id_hex[65])
{
    return vlt_snapshot_save(v->be, v->keys, rec, id_hex);
}

vault_error vlt_repo_snapshot_load(vault_t *v, const char *name,
                                   snapshot_record *rec)
{
    vault_error rc = vlt_snapshot_load(v->be, v->keys, name, rec);
    if (rc == VAULT_OK &&
        vlt_membership_standing(v->members, rec->author) == AUTHOR_UNKNOWN) {
        vlt_snapshot_clear(rec);
        return vlt_fail(VAULT_E_CORRUPT,
                        "snapshots/%s: forged: its author is not a member "
                        "of the vault",
                        name);
    }
    return rc;
}

vault_error vlt_repo_snapshot_names(vault_t *v, char (**names)[65], size_t *n)
{
    name_list l;
    vault_error rc = vlt_backend_list_names(v->be, BACKEND_SNAPSHOTS, &l);
    *names = l.names;
    *n = l.n;
    return rc;
}

void vault_set_tree_memory_limit(vault_t *v, size_t bytes)
{
    if (v)
        v->tree_memory_limit = bytes;
}

size_t vlt_repo_tree_memory_limit(const vault_t *v)
{
    return v->tree_memory_limit ? v->tree_memory_limit
                                : VAULT_TREE_MEMORY_DEFAULT;
}
