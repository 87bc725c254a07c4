/*
 * repo.c - the vault handle: creating a vault, opening one with a
 * member's identity (trying every envelope), closing it; and the
 * handle's snapshot objects.  Blob reading is in blob_load.c.
 *
 * Opening (format.md §5.4-5.5): open every envelope sealed to the identity,
 * build the membership log with their write keys, then keep only the
 * envelopes whose every secret the log vouches for; the role is the
 * log's, never an envelope's.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto/age/age.h"
#include "common/internal.h"
#include "crypto/identity.h"
#include "repo/blob_load.h"
#include "repo/client_cache.h"
#include "repo/index_cache.h"
#include "repo/marker_ahead.h"
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

/* format.md §5.4-5.5: BLAKE2b-256("vault/v2 fingerprint" || vault ID ||
 * founder's signing public key), in hex. */
static void fingerprint_of(const uint8_t vault_id[VAULT_ID_BYTES],
                           const uint8_t founder_pk[SIGN_PUBLIC_BYTES],
                           char out[VAULT_FINGERPRINT_CHARS + 1])
{
    static const char label[] = "vault/v2 fingerprint";
    uint8_t h[32];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    crypto_generichash_update(&st, (const uint8_t *)label, sizeof label - 1);
    crypto_generichash_update(&st, vault_id, VAULT_ID_BYTES);
    crypto_generichash_update(&st, founder_pk, SIGN_PUBLIC_BYTES);
    crypto_generichash_final(&st, h, sizeof h);
    vlt_hex_encode(h, sizeof h, out);
}

void vault_fingerprint(const vault_t *v,
                       char out[VAULT_FINGERPRINT_CHARS + 1])
{
    fingerprint_of(v->keys->vault_id, v->members->founder_pk, out);
}

uint64_t vault_membership_seq(const vault_t *v)
{
    return v->members->seq;
}

/* The founder's grant envelope, then record 0 listing it, which commits
 * to salt; k's vault ID is the one made of it (vlt_vault_id_of). */
static vault_error found(backend *be, keyring *k, const char *owner,
                         const uint8_t salt[32], keys_object saved[2])
{
    envelope_payload *p = NULL;
    char *env_name = saved[0].name;
    vault_error rc = vlt_envelope_payload_make(k, owner, k->sign_seed, 1, 0,
                                               1, &p);
    if (rc == VAULT_OK)
        rc = vlt_envelope_save(be, p, env_name);
    vlt_envelope_payload_free(p);
    if (rc != VAULT_OK)
        return rc;
    uint8_t env_raw[32];
    vlt_hex_decode(env_name, 64, env_raw, 32);
    char *recipient = strdup(owner);
    if (!recipient)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    member_entry founder = {.role = ROLE_OWNER, .added = vlt_now(),
                            .recipient = recipient,
                            .envelopes = &env_raw, .n_envelopes = 1};
    memcpy(founder.sign_pk, k->sign_pk, SIGN_PUBLIC_BYTES);
    membership_record r = {.seq = 0, .epoch = 0, .time = vlt_now(),
                           .members = &founder, .n_members = 1};
    memcpy(r.previous, salt, 32);
    memcpy(r.epoch_pk, k->epochs[0].read_pk, X25519_BYTES);
    vlt_write_key_id(k->epochs[0].write_key, r.write_key_id);
    vlt_dedup_id(k->dedup_secret, r.dedup_id);
    rc = vlt_membership_append(be, k->vault_id, k->epochs[0].write_key, &r,
                               k->sign_sk, saved[1].name);
    free(recipient);
    return rc;
}

/* vlt_repo_init_backend, and with cache_dir (not NULL) for a remote *be:
 * *be is wrapped in the local cache of the new vault (taking it over),
 * so that the envelope and record 0 it saves are kept there as well,
 * and the first open, which reads them, need not ask storage; and what
 * that open will find is recorded for location (marker_ahead.h), so that
 * a first add puts its marker up with the config's read. */
static vault_error init_vault(backend **be, const char *owner,
                              char fingerprint[VAULT_FINGERPRINT_CHARS + 1],
                              const char *cache_dir, const char *location)
{
    vault_error rc = vault_recipient_check(owner);
    if (rc != VAULT_OK)
        return rc;
    keyring *k = NULL;
    rc = vlt_keyring_generate(&k);
    if (rc != VAULT_OK)
        return rc;
    /* The vault ID record 0 commits to, and the cache is named by. */
    uint8_t salt[32];
    randombytes_buf(salt, sizeof salt);
    vlt_vault_id_of(k->sign_pk, salt, k->vault_id);
    char dir[PATH_MAX];
    if (cache_dir && !(*be)->is_local &&
        vlt_cache_vault_path(cache_dir, k->vault_id, "objects", dir,
                             sizeof dir)) {
        backend *cached = NULL;
        rc = vlt_backend_cache_open(*be, dir, 0, &cached);
        *be = cached; /* the cache took the backend, also on failure */
        if (rc != VAULT_OK) {
            vlt_keyring_free(k);
            return rc;
        }
    }
    /* The envelope and record 0 first, the config last: a directory with a
     * config is a vault, so an interrupted init leaves no half-made vault
     * behind. */
    keys_object saved[2] = {{.name = ""}, {.name = ""}};
    rc = found(*be, k, owner, salt, saved);
    if (rc == VAULT_OK) {
        uint8_t config[CONFIG_BYTES];
        vlt_config_encode(k, config);
        rc = backend_save(*be, BACKEND_CONFIG, "", config, sizeof config);
        if (rc == VAULT_OK && cache_dir && location && !(*be)->is_local)
            vlt_open_record_save(cache_dir, location, k->vault_id, config,
                                 sizeof config, saved, 2);
    }
    if (rc == VAULT_OK && fingerprint)
        fingerprint_of(k->vault_id, k->sign_pk, fingerprint);
    vlt_keyring_free(k);
    return rc;
}

/* The location as messages and the client's records name it: never
 * with a password (malloc'ed; NULL: out of memory). */
static char *location_shown(const char *location)
{
    /* "***" for each secret: at most twice as long. */
    size_t size = 2 * strlen(location) + 16;
    char *shown = malloc(size);
    if (shown)
        vault_location_redact(location, shown, size);
    return shown;
}

vault_error vlt_repo_init_backend(backend *be, const char *owner,
                                  char fingerprint[VAULT_FINGERPRINT_CHARS + 1])
{
    return init_vault(&be, owner, fingerprint, NULL, NULL);
}

vault_error vault_init(const char *path, const char *owner)
{
    return vault_create(path, owner, NULL);
}

vault_error vault_create(const char *path, const char *owner,
                         char fingerprint[VAULT_FINGERPRINT_CHARS + 1])
{
    return vault_create_at(path, NULL, owner, fingerprint);
}

vault_error vault_create_at(const char *location,
                            const vault_storage_options *options,
                            const char *owner,
                            char fingerprint[VAULT_FINGERPRINT_CHARS + 1])
{
    if (!location || !owner)
        return vlt_fail(VAULT_E_INVALID, "init: missing argument");
    vault_error rc = vault_recipient_check(owner);
    if (rc != VAULT_OK)
        return rc;
    backend *be = NULL;
    rc = vlt_backend_open(location, options, 1, &be);
    if (rc != VAULT_OK)
        return rc;
    char base[PATH_MAX];
    const char *cache_dir = NULL;
    if (!(options && options->no_cache))
        cache_dir = options && options->cache_dir
                        ? options->cache_dir
                        : vlt_cache_dir_default(base, sizeof base);
    /* records name a location as vault_open_at's messages do */
    char *shown = location_shown(location);
    if (!shown) {
        backend_close(be);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    rc = init_vault(&be, owner, fingerprint,
                    cache_dir && *cache_dir ? cache_dir : NULL, shown);
    free(shown);
    backend_close(be);
    return rc;
}

/* One envelope that a key of the identity opened. */
typedef struct opened_envelope {
    const char *name;
    envelope_payload *payload;
    size_t key; /* which of the identity's keys opened it */
    int accepted;
} opened_envelope;

/* Public key of an identity key, as a recipient (X25519 or ssh-*). */
static void recipient_of_key(const identity_key *key, age_recipient *out)
{
    memset(out, 0, sizeof *out);
    out->kind = key->kind;
    if (key->kind == AGE_KIND_SSH_ED25519) {
        memcpy(out->ssh_public_key, key->ssh_secret_key + 32,
               AGE_ED25519_PUBLIC_KEY_BYTES);
    } else if (key->kind == AGE_KIND_SSH_RSA) {
        memcpy(out->ssh_rsa_wire, key->rsa.wire, key->rsa.wire_len);
        out->ssh_rsa_wire_len = key->rsa.wire_len;
    } else
        crypto_scalarmult_base(out->public_key, key->secret_key);
}

/* Is text the recipient of key (compared by key, not by comment)? */
static int same_recipient(const char *text, const age_recipient *key)
{
    age_recipient r;
    return vlt_age_parse_recipient(text, strlen(text), &r) == VAULT_OK &&
           vlt_age_same_recipient(&r, key);
}

/* The current member whose recipient is key, or NULL. */
static const member_entry *member_of_key(const membership *m,
                                         const age_recipient *key)
{
    for (size_t i = 0; i < m->n_members; i++)
        if (same_recipient(m->members[i].recipient, key))
            return &m->members[i];
    return NULL;
}

/* format.md §5.4-5.5: does every secret in the envelope check against the
 * log?  The opener is the key that opened it. */
static int envelope_granted(const envelope_payload *p, const membership *m,
                            const age_recipient *opener,
                            const uint8_t vault_id[VAULT_ID_BYTES],
                            const uint8_t *config, size_t config_len)
{
    if (sodium_memcmp(p->vault_id, vault_id, VAULT_ID_BYTES) != 0)
        return 0;
    const member_entry *me = member_of_key(m, opener);
    if (!me)
        return 0; /* not (or no longer) a member */
    if (p->has_dedup_secret) {
        uint8_t id[32], mac_key[SECRET_BYTES];
        vlt_dedup_id(p->dedup_secret, id);
        vlt_kdf(mac_key, p->dedup_secret, "config");
        int ok = memcmp(id, m->dedup_id, 32) == 0 &&
                 vlt_config_check_mac(mac_key, vault_id, config,
                                      config_len) == VAULT_OK;
        sodium_memzero(mac_key, sizeof mac_key);
        if (!ok)
            return 0;
    }
    if (p->has_sign_key) {
        uint8_t pk[SIGN_PUBLIC_BYTES], sk[SIGN_SECRET_BYTES];
        vlt_sign_keypair_from_seed(p->sign_seed, pk, sk);
        sodium_memzero(sk, sizeof sk);
        if (memcmp(pk, me->sign_pk, SIGN_PUBLIC_BYTES) != 0)
            return 0;
    }
    for (uint32_t i = 0; i < p->n_epochs; i++) {
        const envelope_epoch *e = &p->epochs[i];
        uint8_t id[32];
        if (e->number > m->epoch)
            return 0;
        vlt_write_key_id(e->keys.write_key, id);
        if (memcmp(id, m->epoch_write_key_id[e->number], 32) != 0 ||
            memcmp(e->keys.read_pk, m->epoch_pk[e->number], X25519_BYTES) != 0)
            return 0;
    }
    return 1;
}

/* Opens every envelope a key of id opens (the log is built after). */
static vault_error open_envelopes(vault_t *v, const vault_identity_t *id,
                                  const keys_object *objs, size_t n_objs,
                                  opened_envelope *env, size_t *n_env)
{
    age_identity *ids = sodium_allocarray(id->n_keys, sizeof *ids);
    if (!ids)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    for (size_t i = 0; i < id->n_keys; i++) {
        memset(&ids[i], 0, sizeof ids[i]);
        ids[i].kind = id->keys[i].kind; /* X25519 or an ssh key */
        memcpy(ids[i].secret_key, id->keys[i].secret_key, 32);
        memcpy(ids[i].ssh_secret_key, id->keys[i].ssh_secret_key, 64);
        ids[i].ssh_rsa = &id->keys[i].rsa; /* borrowed from id */
    }
    size_t damaged = 0, n = 0;
    char first_damage[256] = "";
    vault_error rc = VAULT_OK, unread = VAULT_OK;
    for (size_t i = 0; i < n_objs; i++) {
        const keys_object *o = &objs[i];
        if (o->len >= 8 && memcmp(o->data, MEMBERS_MAGIC, 8) == 0)
            continue;
        uint8_t *plain = NULL;
        size_t plain_len = 0, key = 0;
        rc = VAULT_E_AGE_NO_MATCH;
        /* One key at a time: which key opened it matters. */
        for (key = 0; key < id->n_keys && rc == VAULT_E_AGE_NO_MATCH; key++)
            rc = vlt_age_decrypt(&ids[key], 1, o->data, o->len, &plain,
                                 &plain_len);
        if (rc == VAULT_E_AGE_NO_MATCH)
            continue;
        envelope_payload *p = NULL;
        if (rc == VAULT_OK)
            rc = vlt_envelope_payload_decode(plain, plain_len, &p);
        vlt_age_free_plaintext(plain, plain_len);
        if (rc != VAULT_OK) {
            if (unread == VAULT_OK && (rc == VAULT_E_IO || vlt_error_stops(rc)))
                unread = rc;
            if (!damaged++)
                snprintf(first_damage, sizeof first_damage, "keys/%s: %s",
                         o->name, vault_last_error());
            continue;
        }
        env[n].name = o->name;
        env[n].payload = p;
        env[n].key = key - 1;
        n++;
    }
    sodium_free(ids);
    *n_env = n;
    if (n)
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

/* The config must authenticate with the dedup secret of some envelope
 * sealed to the member; otherwise the config is what is wrong (damaged
 * or another vault's), and saying so beats a membership log that does
 * not verify under its vault ID. */
static vault_error config_matches(const opened_envelope *env, size_t n,
                                  const uint8_t vault_id[VAULT_ID_BYTES],
                                  const uint8_t *config, size_t config_len)
{
    vault_error rc = VAULT_OK;
    for (size_t i = 0; i < n; i++) {
        const envelope_payload *p = env[i].payload;
        if (!p->has_dedup_secret)
            continue;
        uint8_t mac_key[SECRET_BYTES];
        vlt_kdf(mac_key, p->dedup_secret, "config");
        rc = vlt_config_check_mac(mac_key, p->vault_id, config, config_len);
        sodium_memzero(mac_key, sizeof mac_key);
        if (rc == VAULT_OK &&
            sodium_memcmp(p->vault_id, vault_id, VAULT_ID_BYTES) == 0)
            return VAULT_OK;
    }
    return rc; /* the last complaint, or none if no envelope had D */
}

/* Every epoch key the envelopes hold: candidates for opening records. */
static vault_error epoch_candidates(const opened_envelope *env, size_t n,
                                    envelope_epoch **out, size_t *n_out)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += env[i].payload->n_epochs;
    envelope_epoch *c = sodium_allocarray(total ? total : 1, sizeof *c);
    if (!c)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (uint32_t e = 0; e < env[i].payload->n_epochs; e++)
            c[k++] = env[i].payload->epochs[e];
    *out = c;
    *n_out = total;
    return VAULT_OK;
}

/* The keyring of the accepted envelopes: the signing key with the
 * strongest role the log gives, the dedup secret, every epoch up to the
 * current one.  Role and member string come from the log. */
static vault_error merge_keyring(vault_t *v, const vault_identity_t *id,
                                 const opened_envelope *env, size_t n)
{
    const membership *m = v->members;
    const envelope_payload *signer = NULL, *dedup = NULL;
    const member_entry *me = NULL;
    for (size_t i = 0; i < n; i++) {
        const envelope_payload *p = env[i].payload;
        if (!env[i].accepted)
            continue;
        if (p->has_dedup_secret)
            dedup = p;
        if (p->has_sign_key) {
            uint8_t pk[SIGN_PUBLIC_BYTES], sk[SIGN_SECRET_BYTES];
            vlt_sign_keypair_from_seed(p->sign_seed, pk, sk);
            sodium_memzero(sk, sizeof sk);
            const member_entry *e = vlt_membership_find(m, pk);
            if (!me || e->role < me->role)
                me = e, signer = p;
        }
    }
    if (!signer || !dedup)
        return vlt_fail(VAULT_E_NOT_MEMBER,
                        "%s: identity %s is not a member of this vault (no "
                        "envelope sealed to it holds a signing key the "
                        "membership log lists)",
                        v->location, id->recipient);
    keyring *k = NULL;
    vault_error rc = vlt_keyring_alloc(m->epoch + 1, &k);
    if (rc != VAULT_OK)
        return rc;
    memcpy(k->vault_id, signer->vault_id, VAULT_ID_BYTES);
    memcpy(k->dedup_secret, dedup->dedup_secret, SECRET_BYTES);
    vlt_keyring_derive(k);
    k->role = me->role;
    memcpy(k->sign_seed, signer->sign_seed, SIGN_SEED_BYTES);
    vlt_sign_keypair_from_seed(k->sign_seed, k->sign_pk, k->sign_sk);
    k->has_sign_key = 1;
    uint8_t *have = calloc(m->epoch + 1u, 1);
    if (!have) {
        vlt_keyring_free(k);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        if (!env[i].accepted)
            continue;
        const envelope_payload *p = env[i].payload;
        for (uint32_t e = 0; e < p->n_epochs; e++) {
            const envelope_epoch *ee = &p->epochs[e];
            key_epoch *dst = &k->epochs[ee->number];
            if (!have[ee->number] || (ee->keys.has_read_sk && !dst->has_read_sk))
                *dst = ee->keys;
            have[ee->number] = 1;
        }
    }
    int readable = vlt_keyring_can_read(k);
    for (uint32_t e = 0; e <= m->epoch && rc == VAULT_OK; e++)
        if (!have[e] || (readable && !k->epochs[e].has_read_sk))
            rc = vlt_fail(VAULT_E_PERMISSION,
                          "%s: key epoch %u (of 0..%u) is in no envelope "
                          "sealed to %s that the membership log grants; the "
                          "vault cannot be opened without it",
                          v->location, (unsigned)e, (unsigned)m->epoch,
                          id->recipient);
    free(have);
    if (rc == VAULT_OK && !(v->member = strdup(me->recipient)))
        rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
    if (rc != VAULT_OK) {
        vlt_keyring_free(k);
        return rc;
    }
    v->keys = k;
    return VAULT_OK;
}

/* format.md §5.4-5.5, opening: envelopes, then the log, then which
 * envelopes the log grants; then the config is checked with the keys. */
vault_error vlt_repo_open_keys(vault_t *v, const vault_identity_t *id,
                               const uint8_t vault_id[VAULT_ID_BYTES],
                               const uint8_t *config, size_t config_len,
                               const keys_object *objs, size_t n_objs)
{
    size_t n_env = 0, n_cand = 0;
    opened_envelope *env = NULL;
    envelope_epoch *cand = NULL;
    vault_error rc = VAULT_OK;
    if (!(env = calloc(n_objs ? n_objs : 1, sizeof *env)))
        rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
    if (rc == VAULT_OK)
        rc = open_envelopes(v, id, objs, n_objs, env, &n_env);
    if (rc == VAULT_OK)
        rc = config_matches(env, n_env, vault_id, config, config_len);
    if (rc == VAULT_OK)
        rc = epoch_candidates(env, n_env, &cand, &n_cand);
    if (rc == VAULT_OK)
        rc = vlt_membership_build(objs, n_objs, vault_id, cand, n_cand,
                                  &v->members);
    for (size_t i = 0; i < n_env && rc == VAULT_OK; i++) {
        age_recipient opener;
        recipient_of_key(&id->keys[env[i].key], &opener);
        env[i].accepted = envelope_granted(env[i].payload, v->members,
                                           &opener, vault_id, config,
                                           config_len);
        if (!env[i].accepted)
            vlt_warn("keys/%s: envelope sealed to you holds keys the "
                     "membership log does not grant; ignored",
                     env[i].name);
    }
    if (rc == VAULT_OK)
        rc = merge_keyring(v, id, env, n_env);
    for (size_t i = 0; i < n_env; i++)
        vlt_envelope_payload_free(env[i].payload);
    free(env);
    if (cand)
        sodium_free(cand);
    if (rc == VAULT_OK)
        rc = vlt_config_verify(v->keys, config, config_len);
    return rc;
}

vault_error vlt_repo_reload_membership(vault_t *v)
{
    keys_object *objs = NULL;
    size_t n_objs = 0;
    vault_error rc = vlt_keys_objects_load(v->be, &objs, &n_objs);
    if (rc != VAULT_OK)
        return rc;
    envelope_epoch *cand = sodium_allocarray(v->keys->n_epochs, sizeof *cand);
    membership *m = NULL;
    if (!cand)
        rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
    for (uint32_t e = 0; rc == VAULT_OK && e < v->keys->n_epochs; e++) {
        cand[e].number = e;
        cand[e].keys = v->keys->epochs[e];
    }
    if (rc == VAULT_OK)
        rc = vlt_membership_build(objs, n_objs, v->keys->vault_id, cand,
                                  v->keys->n_epochs, &m);
    if (cand)
        sodium_free(cand);
    vlt_keys_objects_free(objs, n_objs);
    if (rc != VAULT_OK)
        return rc;
    const member_entry *me = vlt_membership_find(m, v->keys->sign_pk);
    if (me && vlt_membership_standing(m, v->keys->sign_pk) != AUTHOR_FORMER)
        v->keys->role = me->role;
    vlt_membership_free(v->members);
    v->members = m;
    return VAULT_OK;
}

vault_error vault_probe(const char *path)
{
    return vault_probe_at(path, NULL);
}

vault_error vault_probe_at(const char *location,
                           const vault_storage_options *options)
{
    backend *be = NULL;
    vault_error rc = vlt_backend_open(location, options, 0, &be);
    backend_close(be);
    return rc;
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
    err = pthread_mutex_init(&v->prefetch_lock, NULL);
    if (!err) {
        err = pthread_cond_init(&v->prefetch_done, NULL);
        if (err)
            pthread_mutex_destroy(&v->prefetch_lock);
    }
    if (err) {
        pthread_mutex_destroy(&v->zero_lock);
        pthread_mutex_destroy(&v->dctx_lock);
        pthread_mutex_destroy(&v->pack_key_lock);
        return err;
    }
    vlt_progress_init(&v->progress);
    v->locks_ready = 1;
    return 0;
}

vault_error vlt_repo_open_backend(backend *be, const char *location,
                                  const vault_identity_t *id, vault_t **out)
{
    /* A backend the tests or tools made (in memory, failing on purpose):
     * it is no place of the user's, and its vault IDs repeat between runs,
     * so nothing of it goes to the client's cache folder. */
    vault_storage_options options;
    vault_storage_options_init(&options);
    options.cache_dir = "";
    return vlt_repo_open_backend_with(be, location, &options, id, out);
}

/* Puts the local cache (backend_cache.c) in front of v's backend, under
 * <v->cache_dir>/<vault ID hex>/objects, unless there is no cache folder
 * (no_cache) or the backend is on this machine already. */
static vault_error use_cache(vault_t *v, const uint8_t vault_id[VAULT_ID_BYTES])
{
    char dir[PATH_MAX];
    if (!v->cache_dir || v->be->is_local ||
        !vlt_cache_vault_path(v->cache_dir, vault_id, "objects", dir,
                              sizeof dir))
        return VAULT_OK; /* no folder to keep it in */
    backend *cached = NULL;
    vault_error rc = vlt_backend_cache_open(v->be, dir, 0, &cached);
    v->be = cached; /* the cache took the backend, also on failure */
    return rc;
}

vault_error vlt_repo_open_backend_with(backend *be, const char *location,
                                       const vault_storage_options *options,
                                       const vault_identity_t *id,
                                       vault_t **out)
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
    /* The client's cache folder; its records name the vault only once
     * the config does. */
    if (rc == VAULT_OK && !(options && options->no_cache)) {
        char base[PATH_MAX];
        const char *dir = options && options->cache_dir
                              ? options->cache_dir
                              : vlt_cache_dir_default(base, sizeof base);
        if (dir && *dir && !(v->cache_dir = strdup(dir)))
            rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    /* An add's marker goes up while the config is read (marker_ahead.h):
     * kept only if the keys the open finds are those it was sealed with. */
    marker_ahead *ahead = NULL;
    if (rc == VAULT_OK && options && options->adds_next && !be->is_local)
        ahead = vlt_marker_ahead_start(be, v->cache_dir, location, id);
    uint8_t *config = NULL;
    size_t config_len = 0;
    if (rc == VAULT_OK)
        rc = backend_load(v->be, BACKEND_CONFIG, "", 0, 0,
                          VAULT_CONFIG_MAX_BYTES, &config, &config_len);
    if (rc == VAULT_E_NOT_FOUND)
        rc = vlt_fail(VAULT_E_NOT_FOUND, "%s: not a vault (no config)",
                      location);
    uint8_t vault_id[VAULT_ID_BYTES];
    if (rc == VAULT_OK)
        rc = vlt_config_parse(config, config_len, vault_id);
    if (rc == VAULT_E_UNSUPPORTED)
        rc = vlt_fail_context(rc, "%s", location);
    /* The vault is named: from here on its envelopes, records, index and
     * trees may come from the local cache. */
    if (rc == VAULT_OK)
        rc = use_cache(v, vault_id);
    keys_object *objs = NULL;
    size_t n_objs = 0;
    if (rc == VAULT_OK)
        rc = vlt_keys_objects_load(v->be, &objs, &n_objs);
    if (rc == VAULT_OK)
        rc = vlt_repo_open_keys(v, id, vault_id, config, config_len, objs,
                                n_objs);
    /* What this open found, for the next add's marker (marker_ahead.h);
     * and whether the one put up meanwhile was sealed with the same. */
    vlt_marker_ahead_finish(ahead, v, rc == VAULT_OK, config, config_len,
                            objs, n_objs);
    vlt_keys_objects_free(objs, n_objs);
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
    return vault_open_at(path, NULL, id, out);
}

vault_error vault_open_at(const char *location,
                          const vault_storage_options *options,
                          const vault_identity_t *id, vault_t **out)
{
    *out = NULL;
    if (!location || !id)
        return vlt_fail(VAULT_E_INVALID, "open: missing argument");
    backend *be = NULL;
    /* The config is read next: its absence is "not a vault" there. */
    vault_error rc =
        vlt_backend_open(location, options, BACKEND_OPEN_UNCHECKED, &be);
    if (rc != VAULT_OK)
        return rc;
    /* opening lists the members' keys after reading the config */
    vlt_backend_list_ahead(be, BACKEND_KEYS);
    /* and a reader lists these next (vlt_repo_list_ahead_read): asked
     * now, their answers come back with the config's */
    if (options && options->reads_snapshots) {
        vlt_backend_list_ahead(be, BACKEND_SNAPSHOTS);
        vlt_backend_list_ahead(be, BACKEND_LOCKS);
        vlt_backend_list_ahead(be, BACKEND_INDEX);
    }
    char *shown = location_shown(location);
    if (!shown) {
        backend_close(be);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    rc = vlt_repo_open_backend_with(be, shown, options, id, out);
    free(shown);
    return rc;
}

void vlt_repo_list_ahead_read(vault_t *v)
{
    vlt_backend_list_ahead(v->be, BACKEND_SNAPSHOTS);
    if (!v->index_loaded) {
        vlt_backend_list_ahead(v->be, BACKEND_LOCKS);
        vlt_backend_list_ahead(v->be, BACKEND_INDEX);
    }
}

void vlt_repo_list_ahead_done(vault_t *v)
{
    vlt_backend_list_ahead_drop(v->be);
}

void vault_close(vault_t *v)
{
    if (!v)
        return;
    vlt_repo_loaders_stop(v); /* their jobs use all that follows */
    if (v->be)
        vlt_repo_marker_ahead_drop(v); /* asked for, and no add came */
    backend_close(v->be);
    vlt_keyring_free(v->keys);
    vlt_membership_free(v->members);
    vlt_index_free(&v->index);
    vlt_index_cache_close(v->index_cache);
    free(v->cache_dir);
    if (v->pack_keys)
        sodium_free(v->pack_keys);
    free(v->pack_key_state);
    free(v->pack_listings);
    for (size_t i = 0; i < v->n_dctx; i++)
        ZSTD_freeDCtx(v->dctx[i]);
    vlt_repo_prefetch_drop(v);
    free(v->member);
    free(v->location);
    if (v->locks_ready) {
        pthread_mutex_destroy(&v->pack_key_lock);
        pthread_mutex_destroy(&v->dctx_lock);
        pthread_mutex_destroy(&v->zero_lock);
        pthread_mutex_destroy(&v->prefetch_lock);
        pthread_cond_destroy(&v->prefetch_done);
        vlt_progress_destroy(&v->progress);
    }
    free(v);
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

void vault_set_progress(vault_t *v, vault_progress_fn fn, void *ctx,
                        unsigned interval_ms)
{
    if (!v)
        return;
    v->progress.fn = fn;
    v->progress.ctx = ctx;
    v->progress.interval_ms = interval_ms ? interval_ms : 250;
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
