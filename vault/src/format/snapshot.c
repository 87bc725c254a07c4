/*
 * snapshot.c - snapshot records and objects (snapshot.h).
 *
 * Record (format-spec/trees.md §3; primitives and conventions as trees,
 * format/codec.h):
 *
 *   snapshot = version:u8 (=1) || time_sec:i64 || time_nsec:u32 ||
 *              tree:32 bytes || hostname:str16 || username:str16 ||
 *              n_paths:u16 || path:str16{n_paths} ||
 *              n_tags:u16 || tag:str16{n_tags} ||
 *              files:u64 || dirs:u64 || bytes_read:u64 || bytes_added:u64
 *
 * As for trees, one rule check (snapshot_item_rule) serves encoder and
 * decoder, and the decoder checks every count against the bytes left
 * before it allocates.
 *
 * Object (format spec "Snapshots", format-spec/format.md §10, §12 (authored objects)):
 *   0   "VAULTSN2"
 *   8   epoch u32
 *   12  ephemeral X25519 public key E (32)
 *   44  nonce (24)
 *   68  XChaCha20-Poly1305(seal key "vault/v1 snapshot", nonce,
 *                          AD = bytes 0..67, plaintext)
 *   plaintext = author (32) | sig (64) | snapshot record
 *   sig = Sign(author, "vault/v2 snapshot", snapshot record)
 */
#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/internal.h"
#include "format/authored.h"
#include "format/codec.h"
#include "format/pack.h"
#include "format/snapshot.h"

#define AEAD_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define AEAD_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES

/* A sealed snapshot is at most 16 MiB and adds a 68-byte header, the
 * author and signature and a 16-byte tag to the record (format.md,
 * "Snapshots" and "Limits"), so
 * every record the encoder writes can be stored. */
#define SNAPSHOT_RECORD_MAX_BYTES                                            \
    (SNAPSHOT_MAX_BYTES - SNAPSHOT_HEADER_BYTES - SNAPSHOT_AUTHOR_BYTES -   \
     AEAD_TAG)
/* version, time_sec, time_nsec, tree, hostname and username lengths,
 * n_paths, n_tags, and the four counters. */
#define SNAPSHOT_FIXED_BYTES (1 + 8 + 4 + 32 + 2 + 2 + 2 + 2 + 4 * 8)
#define SNAPSHOT_STR_MAX 65535  /* a str16 */
#define SNAPSHOT_LIST_MAX 65535 /* a u16 count */
#define SNAPSHOT_TAG_MAX 255
/* A path or tag is a non-empty str16. */
#define SNAPSHOT_ITEM_MIN_BYTES (2 + 1)

/* ---------------------------------------------------------------------
 * Records.
 */

static const char *snapshot_item_rule(const uint8_t *s, size_t len,
                                      int is_tag)
{
    if (len == 0)
        return is_tag ? "empty tag" : "empty path";
    if (is_tag && len > SNAPSHOT_TAG_MAX)
        return "tag longer than 255 bytes";
    if (len > SNAPSHOT_STR_MAX)
        return "path longer than 65535 bytes";
    if (memchr(s, '\0', len))
        return is_tag ? "tag contains NUL" : "path contains NUL";
    return NULL;
}

/* Checks paths or tags and adds their encoded length to *total. */
static vault_error prepare_list(char *const *items, uint32_t n, int is_tag,
                                uint64_t *total)
{
    const char *what = is_tag ? "tag" : "path";
    if (n > SNAPSHOT_LIST_MAX)
        return vlt_fail(VAULT_E_INVALID, "snapshot: more than %u %ss",
                        SNAPSHOT_LIST_MAX, what);
    if (n && !items)
        return vlt_fail(VAULT_E_INVALID, "snapshot: no %s array", what);
    for (uint32_t j = 0; j < n; j++) {
        if (!items[j])
            return vlt_fail(VAULT_E_INVALID,
                            "snapshot %s %" PRIu32 ": missing", what, j);
        size_t len = strlen(items[j]);
        const char *why = snapshot_item_rule(bytes_of(items[j]), len, is_tag);
        if (why)
            return vlt_fail(VAULT_E_INVALID,
                            "snapshot %s %" PRIu32 ": %s", what, j, why);
        *total += 2 + len;
    }
    return VAULT_OK;
}

vault_error vlt_snapshot_encode(const snapshot_record *s, uint8_t **out,
                                size_t *out_len)
{
    if (!out || !out_len)
        return vlt_fail(VAULT_E_INVALID, "vlt_snapshot_encode: no output");
    *out = NULL;
    *out_len = 0;
    if (!s)
        return vlt_fail(VAULT_E_INVALID, "vlt_snapshot_encode: no record");
    if (s->time_nsec >= NSEC_PER_SEC)
        return vlt_fail(VAULT_E_INVALID,
                        "snapshot: time_nsec not below 1000000000");
    const char *host = or_empty(s->hostname), *user = or_empty(s->username);
    size_t host_len = strlen(host), user_len = strlen(user);
    if (host_len > SNAPSHOT_STR_MAX)
        return vlt_fail(VAULT_E_INVALID,
                        "snapshot: hostname longer than 65535 bytes");
    if (user_len > SNAPSHOT_STR_MAX)
        return vlt_fail(VAULT_E_INVALID,
                        "snapshot: username longer than 65535 bytes");
    uint64_t total = SNAPSHOT_FIXED_BYTES + host_len + user_len;
    vault_error rc = prepare_list(s->paths, s->n_paths, 0, &total);
    if (rc == VAULT_OK)
        rc = prepare_list(s->tags, s->n_tags, 1, &total);
    if (rc != VAULT_OK)
        return rc;
    if (total > SNAPSHOT_RECORD_MAX_BYTES)
        return vlt_fail(VAULT_E_INVALID,
                        "snapshot: encoding exceeds %u bytes",
                        SNAPSHOT_RECORD_MAX_BYTES);

    uint8_t *buf = malloc((size_t)total);
    if (!buf)
        return vlt_fail(VAULT_E_NOMEM, "vlt_snapshot_encode: out of memory");
    uint8_t *w = buf;
    w = put_u8(w, SNAPSHOT_FORMAT_VERSION);
    w = put_u64(w, (uint64_t)s->time_sec);
    w = put_u32(w, s->time_nsec);
    w = put_bytes(w, s->tree, CHUNK_ID_BYTES);
    w = put_str16(w, host, host_len);
    w = put_str16(w, user, user_len);
    w = put_u16(w, (uint16_t)s->n_paths);
    for (uint32_t j = 0; j < s->n_paths; j++)
        w = put_str16(w, s->paths[j], strlen(s->paths[j]));
    w = put_u16(w, (uint16_t)s->n_tags);
    for (uint32_t j = 0; j < s->n_tags; j++)
        w = put_str16(w, s->tags[j], strlen(s->tags[j]));
    w = put_u64(w, s->files);
    w = put_u64(w, s->dirs);
    w = put_u64(w, s->bytes_read);
    w = put_u64(w, s->bytes_added);
    assert((uint64_t)(w - buf) == total);
    *out = buf;
    *out_len = (size_t)total;
    return VAULT_OK;
}

/* Reads a u16 count and that many paths or tags into *items. */
static vault_error decode_list(reader *r, int is_tag, char ***items,
                               uint32_t *n_items)
{
    const char *what = is_tag ? "tag" : "path";
    uint16_t n;
    if (!rd_u16(r, &n))
        return vlt_fail(VAULT_E_CORRUPT, "snapshot: truncated %s count",
                        what);
    /* Checked before the allocation it sizes. */
    if (n > r->left / SNAPSHOT_ITEM_MIN_BYTES)
        return vlt_fail(VAULT_E_CORRUPT,
                        "snapshot: %u %ss cannot fit in %zu bytes",
                        (unsigned)n, what, r->left);
    if (n == 0)
        return VAULT_OK;
    if (!(*items = calloc(n, sizeof **items)))
        return vlt_fail(VAULT_E_NOMEM, "snapshot: out of memory");
    *n_items = n; /* all NULL: vlt_snapshot_clear copes */
    for (uint32_t j = 0; j < n; j++) {
        const uint8_t *s;
        size_t len;
        if (!rd_str16(r, &s, &len))
            return vlt_fail(VAULT_E_CORRUPT,
                            "snapshot %s %" PRIu32 ": truncated", what, j);
        const char *why = snapshot_item_rule(s, len, is_tag);
        if (why)
            return vlt_fail(VAULT_E_CORRUPT, "snapshot %s %" PRIu32 ": %s",
                            what, j, why);
        if (!((*items)[j] = dup_str(s, len)))
            return vlt_fail(VAULT_E_NOMEM, "snapshot: out of memory");
    }
    return VAULT_OK;
}

/* Reads a str16 that must hold no NUL into a new string. */
static vault_error decode_text(reader *r, const char *what, char **out)
{
    const uint8_t *s;
    size_t len;
    if (!rd_str16(r, &s, &len))
        return vlt_fail(VAULT_E_CORRUPT, "snapshot: truncated %s", what);
    if (memchr(s, '\0', len))
        return vlt_fail(VAULT_E_CORRUPT, "snapshot: %s contains NUL",
                        what);
    if (!(*out = dup_str(s, len)))
        return vlt_fail(VAULT_E_NOMEM, "snapshot: out of memory");
    return VAULT_OK;
}

static vault_error decode_snapshot(reader *r, snapshot_record *s)
{
    uint8_t version;
    const uint8_t *id;
    vault_error rc;
    if (!rd_u8(r, &version))
        return vlt_fail(VAULT_E_CORRUPT, "snapshot: truncated header");
    if (version != SNAPSHOT_FORMAT_VERSION)
        return vlt_fail(VAULT_E_CORRUPT, "snapshot: unknown version %u",
                        (unsigned)version);
    if (!rd_i64(r, &s->time_sec) || !rd_u32(r, &s->time_nsec) ||
        !rd_bytes(r, CHUNK_ID_BYTES, &id))
        return vlt_fail(VAULT_E_CORRUPT, "snapshot: truncated header");
    if (s->time_nsec >= NSEC_PER_SEC)
        return vlt_fail(VAULT_E_CORRUPT,
                        "snapshot: time_nsec not below 1000000000");
    memcpy(s->tree, id, CHUNK_ID_BYTES);
    if ((rc = decode_text(r, "hostname", &s->hostname)) != VAULT_OK ||
        (rc = decode_text(r, "username", &s->username)) != VAULT_OK ||
        (rc = decode_list(r, 0, &s->paths, &s->n_paths)) != VAULT_OK ||
        (rc = decode_list(r, 1, &s->tags, &s->n_tags)) != VAULT_OK)
        return rc;
    if (!rd_u64(r, &s->files) || !rd_u64(r, &s->dirs) ||
        !rd_u64(r, &s->bytes_read) || !rd_u64(r, &s->bytes_added))
        return vlt_fail(VAULT_E_CORRUPT, "snapshot: truncated counters");
    if (r->left)
        return vlt_fail(VAULT_E_CORRUPT,
                        "snapshot: %zu trailing bytes after the counters",
                        r->left);
    return VAULT_OK;
}

vault_error vlt_snapshot_decode(const uint8_t *data, size_t len,
                                snapshot_record *out)
{
    if (!out)
        return vlt_fail(VAULT_E_INVALID, "vlt_snapshot_decode: no output");
    memset(out, 0, sizeof *out);
    if (!data && len)
        return vlt_fail(VAULT_E_INVALID, "vlt_snapshot_decode: no input");
    if (len > SNAPSHOT_RECORD_MAX_BYTES)
        return vlt_fail(VAULT_E_CORRUPT,
                        "snapshot: %zu bytes, over the %u-byte limit", len,
                        SNAPSHOT_RECORD_MAX_BYTES);
    reader r = {data, len};
    snapshot_record s;
    memset(&s, 0, sizeof s);
    vault_error rc = decode_snapshot(&r, &s);
    if (rc != VAULT_OK) {
        vlt_snapshot_clear(&s);
        return rc;
    }
    *out = s;
    return VAULT_OK;
}

void vlt_snapshot_clear(snapshot_record *s)
{
    if (!s)
        return;
    free(s->hostname);
    free(s->username);
    if (s->paths) {
        for (uint32_t j = 0; j < s->n_paths; j++)
            free(s->paths[j]);
        free(s->paths);
    }
    if (s->tags) {
        for (uint32_t j = 0; j < s->n_tags; j++)
            free(s->tags[j]);
        free(s->tags);
    }
    memset(s, 0, sizeof *s);
}

/* ---------------------------------------------------------------------
 * Objects.
 */

/* Seals plain (author | sig | encoded record) under the current epoch
 * and saves it. */
static vault_error seal_save(backend *be, const keyring *k,
                             const uint8_t *plain, size_t plain_len,
                             char id_hex[65])
{
    size_t total = SNAPSHOT_HEADER_BYTES + plain_len + AEAD_TAG;
    uint8_t *file = malloc(total);
    if (!file)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    uint8_t key[SECRET_BYTES];
    memcpy(file, SNAPSHOT_MAGIC, 8);
    store_le32(file + 8, k->n_epochs - 1);
    vault_error rc = vlt_seal_key_new(vlt_keyring_current(k),
                                      "vault/v1 snapshot", file + 12, key);
    if (rc == VAULT_OK) {
        randombytes_buf(file + 44, AEAD_NONCE);
        crypto_aead_xchacha20poly1305_ietf_encrypt(
            file + SNAPSHOT_HEADER_BYTES, NULL, plain, plain_len, file,
            SNAPSHOT_HEADER_BYTES, NULL, file + 44, key);
        sodium_memzero(key, sizeof key);
        vlt_object_name(file, total, id_hex);
        /* sealed under the nonce just drawn: a name nobody has */
        rc = backend_save_new(be, BACKEND_SNAPSHOTS, id_hex, file, total);
    }
    free(file);
    return rc;
}

/* The encoded record after AUTHORED_BYTES of room: *plain malloc'ed. */
static vault_error encode_authored(const snapshot_record *rec,
                                   uint8_t **plain, size_t *plain_len)
{
    uint8_t *record;
    size_t record_len;
    vault_error rc = vlt_snapshot_encode(rec, &record, &record_len);
    if (rc != VAULT_OK)
        return rc;
    *plain_len = AUTHORED_BYTES + record_len;
    *plain = malloc(*plain_len);
    if (*plain)
        memcpy(*plain + AUTHORED_BYTES, record, record_len);
    free(record);
    return *plain ? VAULT_OK : vlt_fail(VAULT_E_NOMEM, "out of memory");
}

vault_error vlt_snapshot_save(backend *be, const keyring *k,
                              const snapshot_record *rec, char id_hex[65])
{
    uint8_t *plain;
    size_t plain_len;
    vault_error rc = encode_authored(rec, &plain, &plain_len);
    if (rc != VAULT_OK)
        return rc;
    rc = vlt_authored_sign(k, SIGN_LABEL_SNAPSHOT, "a snapshot", plain,
                           plain_len);
    if (rc == VAULT_OK)
        rc = seal_save(be, k, plain, plain_len, id_hex);
    free(plain);
    return rc;
}

vault_error vlt_snapshot_reseal(backend *be, const keyring *k,
                                const snapshot_record *rec, char id_hex[65])
{
    uint8_t *plain;
    size_t plain_len;
    vault_error rc = encode_authored(rec, &plain, &plain_len);
    if (rc != VAULT_OK)
        return rc;
    memcpy(plain, rec->author, SIGN_PUBLIC_BYTES);
    memcpy(plain + SIGN_PUBLIC_BYTES, rec->sig, SIGNATURE_BYTES);
    rc = vlt_authored_verify(k, SIGN_LABEL_SNAPSHOT, "snapshots",
                             "(to re-seal)", plain, plain_len);
    if (rc == VAULT_OK)
        rc = seal_save(be, k, plain, plain_len, id_hex);
    free(plain);
    return rc;
}

/* Loads snapshots/<name> and checks what can be checked without
 * unsealing it: its name, its header, and that k holds its epoch (*epoch). */
static vault_error load_sealed(backend *be, const keyring *k, const char *name,
                               uint8_t **out, size_t *out_len,
                               const key_epoch **epoch)
{
    uint8_t *file;
    size_t len;
    vault_error rc = backend_load(be, BACKEND_SNAPSHOTS, name, 0, 0,
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
    const key_epoch *ep = vlt_keyring_epoch(k, load_le32(file + 8));
    if (!ep) {
        free(file);
        return vlt_fail(VAULT_E_PERMISSION,
                        "snapshots/%s: sealed in a key epoch this member "
                        "does not have",
                        name);
    }
    *out = file;
    *out_len = len;
    *epoch = ep;
    return VAULT_OK;
}

vault_error vlt_snapshot_check_sealed(backend *be, const keyring *k,
                                      const char *name)
{
    uint8_t *file = NULL;
    size_t len = 0;
    const key_epoch *ep = NULL;
    vault_error rc = load_sealed(be, k, name, &file, &len, &ep);
    if (rc == VAULT_OK)
        free(file);
    return rc;
}

vault_error vlt_snapshot_load(backend *be, const keyring *k, const char *name,
                              snapshot_record *rec)
{
    memset(rec, 0, sizeof *rec);
    uint8_t *file = NULL;
    size_t len = 0;
    const key_epoch *ep = NULL;
    vault_error rc = load_sealed(be, k, name, &file, &len, &ep);
    if (rc != VAULT_OK)
        return rc;
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
    rc = vlt_authored_verify(k, SIGN_LABEL_SNAPSHOT, "snapshots", name,
                             plain, plain_len);
    if (rc == VAULT_OK) {
        rc = vlt_snapshot_decode(plain + AUTHORED_BYTES,
                                 plain_len - AUTHORED_BYTES, rec);
        if (rc != VAULT_OK)
            rc = vlt_fail_context(rc, "snapshots/%s", name);
    }
    if (rc == VAULT_OK) {
        memcpy(rec->author, plain, SIGN_PUBLIC_BYTES);
        memcpy(rec->sig, plain + SIGN_PUBLIC_BYTES, SIGNATURE_BYTES);
    }
    free(plain);
    return rc;
}
