/*
 * repo.c - opening and creating vaults, snapshots, listing and extraction.
 *
 * Snapshot object (format spec "Snapshots"):
 *   0   "VAULTSN1"
 *   8   epoch u32
 *   12  ephemeral X25519 public key E (32)
 *   44  nonce (24)
 *   68  XChaCha20-Poly1305(seal key "vault/v1 snapshot", nonce,
 *                          AD = bytes 0..67, snapshot record)
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "crypto/age/age.h"
#include "common/internal.h"
#include "format/locks.h"
#include "repo/repo.h"
#include "format/chunker.h"
#include "ops/restore/restore.h"

#define AEAD_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define AEAD_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES

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
    }
    free(v);
}

vault_role vault_member_role(const vault_t *v)
{
    return (vault_role)v->keys->role;
}

void vlt_repo_forget_index(vault_t *v)
{
    vlt_index_free(&v->index);
    vlt_index_init(&v->index);
    v->index_loaded = 0;
    if (v->pack_keys)
        sodium_free(v->pack_keys);
    free(v->pack_key_state);
    v->pack_keys = NULL;
    v->pack_key_state = NULL;
    v->pack_keys_size = 0;
}

vault_error vlt_repo_load_index(vault_t *v)
{
    if (v->index_loaded)
        return VAULT_OK;
    /* Packs that a prune has condemned first, so that their entries give
     * way to copies elsewhere (format spec "Pruning without locks"). */
    lock_record *locks;
    size_t n_locks;
    vault_error rc = vlt_locks_load(v, &locks, &n_locks, NULL);
    for (size_t i = 0; rc == VAULT_OK && i < n_locks; i++)
        for (uint32_t j = 0; rc == VAULT_OK && j < locks[i].n_packs; j++)
            rc = vlt_index_condemn_pack(&v->index, locks[i].packs + 32 * j);
    vlt_locks_free(locks, n_locks);
    if (rc == VAULT_OK)
        rc = vlt_index_load(&v->index, v->be, v->keys);
    if (rc != VAULT_OK) {
        vlt_index_free(&v->index);
        vlt_index_init(&v->index);
        return rc;
    }
    v->index_loaded = 1;
    return VAULT_OK;
}

/* Loads and authenticates the pack's trailer: the pack's length, its
 * trailer length and its own index must all be as sealed. */
static vault_error pack_trailer_verify(vault_t *v, const char *name,
                                       const uint8_t *header,
                                       const uint8_t *key)
{
    uint64_t size;
    vault_error rc = backend_stat(v->be, BACKEND_DATA, name, &size);
    if (rc != VAULT_OK)
        return rc;
    if (size < PACK_HEADER_BYTES + 4 || size > PACK_MAX_BYTES)
        return vlt_fail(VAULT_E_CORRUPT, "pack: bad size");
    uint8_t *tail;
    size_t len;
    rc = backend_load(v->be, BACKEND_DATA, name, size - 4, 4, 4, &tail,
                      &len);
    if (rc != VAULT_OK)
        return rc;
    uint32_t trailer_len = load_le32(tail);
    free(tail);
    if (trailer_len > size - 4 - PACK_HEADER_BYTES)
        return vlt_fail(VAULT_E_CORRUPT, "pack: bad trailer length");
    uint8_t *trailer;
    rc = backend_load(v->be, BACKEND_DATA, name, size - 4 - trailer_len,
                      trailer_len, trailer_len, &trailer, &len);
    if (rc != VAULT_OK)
        return rc;
    rc = vlt_pack_check_trailer(key, header, trailer, len);
    free(trailer);
    return rc;
}

static vault_error pack_key_get_locked(vault_t *v, uint32_t pack,
                                       const char *name, const uint8_t **key)
{
    if (v->pack_keys_size < v->index.n_packs) {
        size_t n = v->index.n_packs;
        uint8_t(*keys)[SECRET_BYTES] = sodium_allocarray(n, SECRET_BYTES);
        uint8_t *state = calloc(n, 1);
        if (!keys || !state) {
            if (keys)
                sodium_free(keys);
            free(state);
            return vlt_fail(VAULT_E_NOMEM, "out of memory");
        }
        if (v->pack_keys) {
            memcpy(keys, v->pack_keys, v->pack_keys_size * SECRET_BYTES);
            memcpy(state, v->pack_key_state, v->pack_keys_size);
            sodium_free(v->pack_keys);
            free(v->pack_key_state);
        }
        v->pack_keys = keys;
        v->pack_key_state = state;
        v->pack_keys_size = n;
    }
    if (v->pack_key_state[pack] == 0) {
        uint8_t *header;
        size_t len;
        vault_error rc = backend_load(v->be, BACKEND_DATA, name, 0,
                                      PACK_HEADER_BYTES, PACK_HEADER_BYTES,
                                      &header, &len);
        if (rc == VAULT_OK) {
            rc = vlt_pack_key_from_header(v->keys, header, len,
                                          v->pack_keys[pack]);
            if (rc == VAULT_OK)
                rc = pack_trailer_verify(v, name, header, v->pack_keys[pack]);
            free(header);
        }
        if (rc != VAULT_OK)
            return vlt_fail_context(rc, "data/%.2s/%s", name, name);
        v->pack_key_state[pack] = 1;
    }
    *key = v->pack_keys[pack];
    return VAULT_OK;
}

/* Copies the key of pack into key (the caller wipes it). */
static vault_error pack_key_get(vault_t *v, uint32_t pack, const char *name,
                                uint8_t key[SECRET_BYTES])
{
    const uint8_t *k = NULL;
    pthread_mutex_lock(&v->pack_key_lock);
    vault_error rc = pack_key_get_locked(v, pack, name, &k);
    if (rc == VAULT_OK)
        memcpy(key, k, SECRET_BYTES);
    pthread_mutex_unlock(&v->pack_key_lock);
    return rc;
}

/* An idle decompression context of v's, or a new one; NULL if none can
 * be made (vlt_blob_open then makes its own). */
static ZSTD_DCtx *dctx_take(vault_t *v)
{
    ZSTD_DCtx *d = NULL;
    pthread_mutex_lock(&v->dctx_lock);
    if (v->n_dctx)
        d = v->dctx[--v->n_dctx];
    pthread_mutex_unlock(&v->dctx_lock);
    return d ? d : ZSTD_createDCtx();
}

static void dctx_give_back(vault_t *v, ZSTD_DCtx *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&v->dctx_lock);
    if (v->n_dctx < REPO_DCTX_KEEP) {
        v->dctx[v->n_dctx++] = d;
        d = NULL;
    }
    pthread_mutex_unlock(&v->dctx_lock);
    ZSTD_freeDCtx(d);
}

/* Finds blob id, of type, in the index: its slot and entry (id_hex: its
 * ID in hex, for messages). */
static vault_error blob_locate(vault_t *v, const uint8_t id[CHUNK_ID_BYTES],
                               blob_type type, const index_slot **slot,
                               pack_entry *e, char id_hex[65])
{
    vlt_hex_encode(id, CHUNK_ID_BYTES, id_hex);
    const index_slot *s = vlt_index_find(&v->index, id);
    if (!s || s->pack == INDEX_PENDING)
        return vlt_fail(VAULT_E_NOT_FOUND,
                        "blob %.16s: not in the index (missing data)",
                        id_hex);
    vlt_index_slot_entry(&v->index, s, e);
    if (e->type != type)
        return vlt_fail(VAULT_E_CORRUPT, "blob %.16s: wrong type", id_hex);
    *slot = s;
    return VAULT_OK;
}

vault_error vlt_repo_load_blob(vault_t *v, const uint8_t id[CHUNK_ID_BYTES],
                               blob_type type, uint8_t **out, size_t *len)
{
    *out = NULL;
    char id_hex[65];
    const index_slot *s;
    pack_entry e;
    vault_error rc = blob_locate(v, id, type, &s, &e, id_hex);
    if (rc != VAULT_OK)
        return rc;
    char name[65];
    vlt_hex_encode(v->index.packs[s->pack], 32, name);
    uint8_t key[SECRET_BYTES];
    rc = pack_key_get(v, s->pack, name, key);
    if (rc != VAULT_OK)
        return rc;
    uint8_t *blob;
    size_t blob_len;
    rc = backend_load(v->be, BACKEND_DATA, name, e.offset, e.length,
                      e.length, &blob, &blob_len);
    if (rc == VAULT_OK) {
        ZSTD_DCtx *dctx = dctx_take(v);
        rc = vlt_blob_open(v->keys, key, &e, blob, blob_len, dctx, out);
        dctx_give_back(v, dctx);
        free(blob);
    }
    sodium_memzero(key, sizeof key);
    if (rc != VAULT_OK)
        return vlt_fail_context(rc, "data/%.2s/%s (blob %.16s)", name,
                                name, id_hex);
    *len = e.raw_len;
    return VAULT_OK;
}

vault_error vlt_repo_snapshot_save(vault_t *v, const snapshot_record *rec,
                                   char id_hex[65])
{
    uint8_t *plain;
    size_t plain_len;
    vault_error rc = vlt_snapshot_encode(rec, &plain, &plain_len);
    if (rc != VAULT_OK)
        return rc;
    size_t total = SNAPSHOT_HEADER_BYTES + plain_len + AEAD_TAG;
    uint8_t *file = malloc(total);
    if (!file) {
        free(plain);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    uint8_t key[SECRET_BYTES];
    memcpy(file, SNAPSHOT_MAGIC, 8);
    store_le32(file + 8, v->keys->n_epochs - 1);
    rc = vlt_seal_key_new(vlt_keyring_current(v->keys), "vault/v1 snapshot",
                          file + 12, key);
    if (rc == VAULT_OK) {
        randombytes_buf(file + 44, AEAD_NONCE);
        crypto_aead_xchacha20poly1305_ietf_encrypt(
            file + SNAPSHOT_HEADER_BYTES, NULL, plain, plain_len, file,
            SNAPSHOT_HEADER_BYTES, NULL, file + 44, key);
        sodium_memzero(key, sizeof key);
        vlt_object_name(file, total, id_hex);
        rc = backend_save(v->be, BACKEND_SNAPSHOTS, id_hex, file, total);
    }
    free(plain);
    free(file);
    return rc;
}

vault_error vlt_repo_snapshot_load(vault_t *v, const char *name,
                                   snapshot_record *rec)
{
    memset(rec, 0, sizeof *rec);
    uint8_t *file;
    size_t len;
    vault_error rc = backend_load(v->be, BACKEND_SNAPSHOTS, name, 0, 0,
                                  SNAPSHOT_MAX_BYTES, &file, &len);
    if (rc != VAULT_OK)
        return rc;
    rc = vlt_object_check_name(BACKEND_SNAPSHOTS, name, file, len);
    if (rc != VAULT_OK) {
        free(file);
        return rc;
    }
    if (len < SNAPSHOT_HEADER_BYTES + AEAD_TAG ||
        memcmp(file, SNAPSHOT_MAGIC, 8) != 0) {
        free(file);
        return vlt_fail(VAULT_E_CORRUPT, "snapshots/%s: not a snapshot",
                        name);
    }
    const key_epoch *ep = vlt_keyring_epoch(v->keys, load_le32(file + 8));
    if (!ep) {
        free(file);
        return vlt_fail(VAULT_E_PERMISSION,
                        "snapshots/%s: sealed in a key epoch this member "
                        "does not have",
                        name);
    }
    uint8_t key[SECRET_BYTES];
    rc = vlt_seal_key_open(ep, "vault/v1 snapshot", file + 12, key);
    if (rc != VAULT_OK) {
        free(file);
        return vlt_fail_context(rc, "snapshots/%s", name);
    }
    size_t plain_len = len - SNAPSHOT_HEADER_BYTES - AEAD_TAG;
    uint8_t *plain = malloc(plain_len ? plain_len : 1);
    if (!plain) {
        free(file);
        sodium_memzero(key, sizeof key);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    int bad = crypto_aead_xchacha20poly1305_ietf_decrypt(
        plain, NULL, NULL, file + SNAPSHOT_HEADER_BYTES,
        len - SNAPSHOT_HEADER_BYTES, file, SNAPSHOT_HEADER_BYTES, file + 44,
        key);
    sodium_memzero(key, sizeof key);
    free(file);
    if (bad) {
        free(plain);
        return vlt_fail(VAULT_E_CORRUPT,
                        "snapshots/%s: authentication failed", name);
    }
    rc = vlt_snapshot_decode(plain, plain_len, rec);
    free(plain);
    if (rc != VAULT_OK)
        return vlt_fail_context(rc, "snapshots/%s", name);
    return VAULT_OK;
}

vault_error vlt_repo_snapshot_names(vault_t *v, char (**names)[65], size_t *n)
{
    name_list l;
    vault_error rc = vlt_backend_list_names(v->be, BACKEND_SNAPSHOTS, &l);
    *names = l.names;
    *n = l.n;
    return rc;
}

vault_error vault_snapshot_count(vault_t *v, size_t *n)
{
    char(*names)[65];
    vault_error rc = vlt_repo_snapshot_names(v, &names, n);
    free(names);
    return rc;
}

static vault_error need_read(const vault_t *v)
{
    if (!vlt_keyring_can_read(v->keys))
        return vlt_fail(VAULT_E_PERMISSION,
                        "%s: member %s has the writer role: it can add "
                        "snapshots but not read them",
                        v->location, v->member);
    return VAULT_OK;
}

static char *dup_str(const char *s)
{
    return strdup(s ? s : "");
}

static int info_cmp(const void *a, const void *b)
{
    const vault_snapshot_info *x = a, *y = b;
    if (x->time_sec != y->time_sec)
        return x->time_sec < y->time_sec ? -1 : 1;
    if (x->time_nsec != y->time_nsec)
        return x->time_nsec < y->time_nsec ? -1 : 1;
    return strcmp(x->id, y->id);
}

static void free_info_strings(vault_snapshot_info *s)
{
    free(s->hostname);
    free(s->username);
    for (size_t j = 0; s->paths && j < s->n_paths; j++)
        free(s->paths[j]);
    for (size_t j = 0; s->tags && j < s->n_tags; j++)
        free(s->tags[j]);
    free(s->paths);
    free(s->tags);
}

static vault_error strv_copy(char **src, uint32_t n, char ***dst)
{
    *dst = calloc(n ? n : 1, sizeof **dst);
    if (!*dst)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    for (uint32_t i = 0; i < n; i++)
        if (!((*dst)[i] = strdup(src[i])))
            return vlt_fail(VAULT_E_NOMEM, "out of memory");
    return VAULT_OK;
}

vault_error vault_snapshots(vault_t *v, vault_snapshot_info **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    vault_error rc = need_read(v);
    if (rc != VAULT_OK)
        return rc;
    char(*names)[65];
    size_t count;
    rc = vlt_repo_snapshot_names(v, &names, &count);
    if (rc != VAULT_OK)
        return rc;
    vault_snapshot_info *list = calloc(count ? count : 1, sizeof *list);
    if (!list) {
        free(names);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    size_t done = 0;
    for (; done < count && rc == VAULT_OK; done++) {
        snapshot_record rec;
        vault_snapshot_info *s = &list[done];
        memcpy(s->id, names[done], 65);
        rc = vlt_repo_snapshot_load(v, names[done], &rec);
        if (rc == VAULT_E_PERMISSION) {
            rc = VAULT_OK; /* listed as unreadable, not an error */
            continue;
        }
        if (rc != VAULT_OK)
            break;
        s->readable = 1;
        s->time_sec = rec.time_sec;
        s->time_nsec = rec.time_nsec;
        s->files = rec.files;
        s->dirs = rec.dirs;
        s->bytes_read = rec.bytes_read;
        s->bytes_added = rec.bytes_added;
        s->n_paths = rec.n_paths;
        s->n_tags = rec.n_tags;
        if (!(s->hostname = dup_str(rec.hostname)) ||
            !(s->username = dup_str(rec.username)))
            rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
        if (rc == VAULT_OK)
            rc = strv_copy(rec.paths, rec.n_paths, &s->paths);
        if (rc == VAULT_OK)
            rc = strv_copy(rec.tags, rec.n_tags, &s->tags);
        vlt_snapshot_clear(&rec);
    }
    free(names);
    if (rc != VAULT_OK) {
        vault_snapshots_free(list, count);
        return rc;
    }
    qsort(list, count, sizeof *list, info_cmp);
    *out = list;
    *n = count;
    return VAULT_OK;
}

void vault_snapshots_free(vault_snapshot_info *list, size_t n)
{
    if (!list)
        return;
    for (size_t i = 0; i < n; i++)
        free_info_strings(&list[i]);
    free(list);
}

vault_error vault_snapshot_resolve(vault_t *v, const char *ref, char id[65])
{
    vault_error rc = need_read(v);
    if (rc != VAULT_OK)
        return rc;
    if (!ref || !ref[0])
        return vlt_fail(VAULT_E_INVALID, "no snapshot given");
    if (strcmp(ref, "latest") == 0) {
        vault_snapshot_info *list;
        size_t n;
        rc = vault_snapshots(v, &list, &n);
        if (rc != VAULT_OK)
            return rc;
        size_t last = n;
        for (size_t i = 0; i < n; i++)
            if (list[i].readable)
                last = i;
        if (last == n) {
            vault_snapshots_free(list, n);
            return vlt_fail(VAULT_E_NOT_FOUND,
                            "%s: no snapshots this member can read",
                            v->location);
        }
        memcpy(id, list[last].id, 65);
        vault_snapshots_free(list, n);
        return VAULT_OK;
    }
    size_t len = strlen(ref);
    if (len < 4 || len > 64 || strspn(ref, "0123456789abcdef") != len)
        return vlt_fail(VAULT_E_INVALID,
                        "%s: not a snapshot ID (4 to 64 lower-case hex "
                        "digits) or \"latest\"",
                        ref);
    char(*names)[65];
    size_t n, matches = 0;
    rc = vlt_repo_snapshot_names(v, &names, &n);
    if (rc != VAULT_OK)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (strncmp(names[i], ref, len) == 0 && matches++ == 0)
            memcpy(id, names[i], 65);
    free(names);
    if (matches == 0)
        return vlt_fail(VAULT_E_NOT_FOUND, "snapshot %s: not found", ref);
    if (matches > 1)
        return vlt_fail(VAULT_E_INVALID,
                        "snapshot %s: prefix is ambiguous (%zu match)", ref,
                        matches);
    return VAULT_OK;
}

/* --- trees ------------------------------------------------------------- */

static vault_error load_tree(void *ctx, const uint8_t id[CHUNK_ID_BYTES],
                             tree *out)
{
    vault_t *v = ctx;
    uint8_t *data;
    size_t len;
    vault_error rc = vlt_repo_load_blob(v, id, BLOB_TREE, &data, &len);
    if (rc != VAULT_OK)
        return rc;
    rc = vlt_tree_decode(data, len, out);
    free(data);
    if (rc != VAULT_OK) {
        char hex[65];
        vlt_hex_encode(id, CHUNK_ID_BYTES, hex);
        return vlt_fail_context(rc, "tree %.16s", hex);
    }
    return VAULT_OK;
}

static vault_error load_chunk(void *ctx, const uint8_t id[CHUNK_ID_BYTES],
                              uint8_t **data, size_t *len)
{
    return vlt_repo_load_blob(ctx, id, BLOB_DATA, data, len);
}

/* The length and ID of the chunks a long run of zero bytes becomes: the
 * chunker's decisions there depend only on the zeros, so every such run
 * is cut at one length - CHUNKER_MAX_SIZE, unless one of the first 64
 * cut tests from CHUNKER_MIN_SIZE passes (the hash is constant after 64
 * bytes) - and those chunks all have one ID. */
static vault_error zero_chunk(vault_t *v, uint32_t *len,
                              uint8_t id[CHUNK_ID_BYTES])
{
    vault_error rc = VAULT_OK;
    pthread_mutex_lock(&v->zero_lock);
    if (!v->zero_known) {
        uint8_t *zeros = calloc(CHUNKER_MAX_SIZE, 1);
        chunker_table *t = malloc(sizeof *t);
        if (zeros && t) {
            vlt_chunker_table_init(t, v->keys->gear_key);
            v->zero_len = (uint32_t)vlt_chunker_next(t, zeros, CHUNKER_MAX_SIZE,
                                                     0);
            vlt_chunk_id_compute(v->keys, BLOB_DATA, zeros, v->zero_len,
                                 v->zero_id);
            v->zero_known = 1;
        } else {
            rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
        }
        free(zeros);
        free(t);
    }
    *len = v->zero_len;
    memcpy(id, v->zero_id, CHUNK_ID_BYTES);
    pthread_mutex_unlock(&v->zero_lock);
    return rc;
}

static vault_error chunk_size(void *ctx, const uint8_t id[CHUNK_ID_BYTES],
                              uint32_t *len, int *zero)
{
    vault_t *v = ctx;
    *zero = 0;
    char id_hex[65];
    const index_slot *s;
    pack_entry e;
    vault_error rc = blob_locate(v, id, BLOB_DATA, &s, &e, id_hex);
    if (rc != VAULT_OK)
        return rc;
    *len = e.raw_len;
    /* Only chunks of a length a zero run can be cut at are candidates:
     * nothing is hashed for the others. */
    int candidate = e.raw_len == CHUNKER_MAX_SIZE ||
                    (e.raw_len > CHUNKER_MIN_SIZE &&
                     e.raw_len <= CHUNKER_MIN_SIZE + 64);
    if (!candidate)
        return VAULT_OK;
    uint32_t zero_len;
    uint8_t zero_id[CHUNK_ID_BYTES];
    rc = zero_chunk(v, &zero_len, zero_id);
    if (rc == VAULT_OK)
        *zero = e.raw_len == zero_len &&
                sodium_memcmp(id, zero_id, CHUNK_ID_BYTES) == 0;
    return rc;
}

/* Opens a snapshot for reading: its record and the index. */
static vault_error snapshot_open(vault_t *v, const char *ref,
                                 snapshot_record *rec)
{
    char id[65];
    vault_error rc = vault_snapshot_resolve(v, ref, id);
    if (rc == VAULT_OK)
        rc = vlt_repo_load_index(v);
    if (rc == VAULT_OK)
        rc = vlt_repo_snapshot_load(v, id, rec);
    return rc;
}

typedef struct ls_walk {
    vault_t *v;
    vault_ls_fn fn;
    void *ctx;
    int recursive;
    int stopped;
    char path[8192];
} ls_walk;

static int ls_emit(ls_walk *w, const tree_node *n)
{
    vault_file_info info = {
        .path = w->path[0] ? w->path : "/",
        .type = (vault_file_type)n->type,
        .mode = n->mode,
        .uid = n->uid,
        .gid = n->gid,
        .user = n->user ? n->user : "",
        .group = n->group ? n->group : "",
        .size = n->size,
        .mtime_sec = n->mtime_sec,
        .mtime_nsec = n->mtime_nsec,
        .target = n->target,
        .nlink = n->nlink,
        .inode = n->inode,
    };
    if (w->fn(w->ctx, &info))
        w->stopped = 1;
    return w->stopped;
}

/* As deep as extraction goes (restore.c): a hostile vault's deep chain
 * would otherwise hold one decoded tree per level. */
#define LS_MAX_DEPTH 512

static vault_error ls_tree(ls_walk *w, const uint8_t id[CHUNK_ID_BYTES],
                           unsigned depth)
{
    if (depth >= LS_MAX_DEPTH)
        return vlt_fail(VAULT_E_UNSUPPORTED,
                        "%s: nested deeper than %d directories", w->path,
                        LS_MAX_DEPTH);
    tree t = {0};
    vault_error rc = load_tree(w->v, id, &t);
    if (rc != VAULT_OK)
        return rc;
    size_t base = strlen(w->path);
    for (uint32_t i = 0; i < t.n_nodes && !w->stopped; i++) {
        const tree_node *n = &t.nodes[i];
        int len = snprintf(w->path + base, sizeof w->path - base, "/%s",
                           n->name);
        if (len < 0 || (size_t)len >= sizeof w->path - base) {
            rc = vlt_fail(VAULT_E_UNSUPPORTED, "%s: path too long",
                          w->path);
            break;
        }
        if (ls_emit(w, n))
            break;
        if (w->recursive && n->type == NODE_DIR) {
            rc = ls_tree(w, n->subtree, depth + 1);
            if (rc != VAULT_OK)
                break;
        }
    }
    w->path[base] = '\0';
    vlt_tree_clear(&t);
    return rc;
}

vault_error vault_ls(vault_t *v, const char *ref, const char *path,
                     int recursive, vault_ls_fn fn, void *ctx)
{
    snapshot_record rec;
    vault_error rc = snapshot_open(v, ref, &rec);
    if (rc != VAULT_OK)
        return rc;
    ls_walk *w = calloc(1, sizeof *w);
    if (!w) {
        vlt_snapshot_clear(&rec);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    w->v = v;
    w->fn = fn;
    w->ctx = ctx;
    w->recursive = recursive;
    uint8_t dir[CHUNK_ID_BYTES];
    memcpy(dir, rec.tree, CHUNK_ID_BYTES);
    vlt_snapshot_clear(&rec);

    /* Walk down to path, one component at a time. */
    const char *p = path ? path : "";
    while (rc == VAULT_OK && *p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, "/");
        tree t = {0};
        rc = load_tree(v, dir, &t);
        if (rc != VAULT_OK)
            break;
        const tree_node *found = NULL;
        for (uint32_t i = 0; i < t.n_nodes; i++)
            if (strlen(t.nodes[i].name) == len &&
                memcmp(t.nodes[i].name, p, len) == 0)
                found = &t.nodes[i];
        size_t base = strlen(w->path);
        if (!found || base + len + 2 > sizeof w->path) {
            rc = vlt_fail(VAULT_E_NOT_FOUND, "%s: no such file in the "
                                             "snapshot",
                          path);
        } else {
            snprintf(w->path + base, sizeof w->path - base, "/%.*s",
                     (int)len, p);
            p += len;
            while (*p == '/')
                p++;
            if (found->type == NODE_DIR) {
                memcpy(dir, found->subtree, CHUNK_ID_BYTES);
            } else if (*p) {
                rc = vlt_fail(VAULT_E_NOT_FOUND,
                              "%s: not a directory in the snapshot", path);
            } else {
                ls_emit(w, found);
                vlt_tree_clear(&t);
                free(w);
                return VAULT_OK;
            }
        }
        vlt_tree_clear(&t);
    }
    if (rc == VAULT_OK)
        rc = ls_tree(w, dir, 0);
    free(w);
    return rc;
}

/* Threads for restoring files: one per core (the walker works too while
 * it waits), at most 8. */
static unsigned extract_workers(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return n > 8 ? 8 : (unsigned)n;
}

vault_error vault_extract(vault_t *v, const char *ref,
                          const vault_extract_options *o,
                          vault_extract_result *result)
{
    memset(result, 0, sizeof *result);
    if (o->tar && o->tar_fd < 0)
        return vlt_fail(VAULT_E_INVALID, "extract: tar_fd %d", o->tar_fd);
    snapshot_record rec;
    vault_error rc = snapshot_open(v, ref, &rec);
    if (rc != VAULT_OK)
        return rc;
    restore_source src = {load_tree, load_chunk, chunk_size, v};
    restore_options ro = {
        .target_dir = o->target_dir,
        .tar_fd = o->tar ? o->tar_fd : -1,
        .overwrite = o->overwrite,
        .restore_owner = o->restore_owner,
        .include = o->include,
        .n_include = o->n_include,
        .on_error = o->on_error,
        .on_error_ctx = o->on_error_ctx,
        .workers = extract_workers(),
    };
    restore_stats st = {0};
    rc = vlt_restore_run(&src, rec.tree, &ro, &st);
    vlt_snapshot_clear(&rec);
    result->files = st.files;
    result->dirs = st.dirs;
    result->symlinks = st.symlinks;
    result->others = st.others;
    result->bytes = st.bytes;
    result->errors = st.errors;
    return rc;
}
