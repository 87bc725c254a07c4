/*
 * filecache.c - the local files cache (see filecache.h).
 *
 * File layout: "VFCACHE3" | nonce (24) | sealed records
 *   sealed = XChaCha20-Poly1305(key = KDF(this member's signing seed,
 *            "files cache v2"), nonce, additional data = "VFCACHE3" |
 *            vault ID | KDF(dedup secret, "files cache"), record*)
 *   record = path_len u32 | path | size u64 | inode u64 | device u64 |
 *            mtime_sec i64 | mtime_nsec u32 | ctime_sec i64 |
 *            ctime_nsec u32 | flags u32 | n u32 | n × chunk ID
 *   flags: bit 0 = the file had extended attributes
 * The cache names local paths, sizes and inodes and the chunk IDs of the
 * content: only this member's own key (not D, which every member holds)
 * opens it.  The additional data ties it to the vault and to the dedup
 * secret the chunk IDs were made with.  Older layouts (VFCACHE1, the
 * clear VFCACHE2) and caches of another member are ignored: the next add
 * starts afresh.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "repo/client_cache.h"
#include "repo/filecache.h"
#include "common/array.h"
#include "common/internal.h"

#define CACHE_MAGIC "VFCACHE3"
#define CACHE_HEADER (8 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
#define CACHE_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES
#define CACHE_AD_BYTES (8 + VAULT_ID_BYTES + SECRET_BYTES)
#define CACHE_MAX_BYTES (1ull << 32)
#define RECORD_FIXED 56 /* size .. n */
#define FLAG_XATTRS 1u

struct filecache {
    char *path;               /* the cache file; NULL: disabled */
    uint8_t key[SECRET_BYTES]; /* this member's own */
    uint8_t ad[CACHE_AD_BYTES]; /* ties it to the vault and D */
    uint8_t *old;             /* the records of the loaded file */
    size_t old_len;
    uint32_t *table;          /* offsets + 1 of old records; pow2 size */
    size_t table_size;
    uint8_t *fresh;           /* records of this run */
    size_t fresh_len, fresh_cap;
};

static size_t str_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a: paths are local data */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return (size_t)h;
}

/* Validates record bounds; returns its length or 0 when malformed. */
static size_t record_len(const uint8_t *p, size_t avail)
{
    if (avail < 4)
        return 0;
    uint64_t path_len = load_le32(p);
    if (path_len == 0 || path_len > PATH_MAX || avail < 4 + path_len + RECORD_FIXED)
        return 0;
    uint64_t n = load_le32(p + 4 + path_len + RECORD_FIXED - 4);
    uint64_t total = 4 + path_len + RECORD_FIXED + n * CHUNK_ID_BYTES;
    return total <= avail ? (size_t)total : 0;
}

static void load_old(filecache *c)
{
    uint8_t *data;
    size_t len;
    if (vlt_read_file(c->path, CACHE_MAX_BYTES, &data, &len) != VAULT_OK)
        return; /* no cache yet, or unreadable: start afresh */
    if (len < CACHE_HEADER + CACHE_TAG || memcmp(data, CACHE_MAGIC, 8) != 0)
        goto drop;
    size_t sealed_len = len - CACHE_HEADER, body_end = sealed_len - CACHE_TAG;
    unsigned long long plain_len;
    /* In place, then moved to the front: the cache is the largest thing a
     * re-add holds, so it is never held twice. */
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            data + CACHE_HEADER, &plain_len, NULL, data + CACHE_HEADER,
            sealed_len, c->ad, sizeof c->ad, data + 8, c->key) != 0 ||
        plain_len != body_end)
        goto drop; /* damaged, or another member's or vault's */
    memmove(data, data + CACHE_HEADER, body_end);
    size_t count = 0;
    for (size_t off = 0; off < body_end; count++) {
        size_t n = record_len(data + off, body_end - off);
        if (!n)
            goto drop;
        off += n;
    }
    size_t size = 16;
    while (size < count * 2)
        size *= 2;
    c->table = calloc(size, sizeof *c->table);
    if (!c->table || body_end > UINT32_MAX)
        goto drop;
    c->table_size = size;
    for (size_t off = 0; off < body_end;) {
        size_t plen = load_le32(data + off);
        size_t h = str_hash((const char *)data + off + 4, plen) & (size - 1);
        while (c->table[h])
            h = (h + 1) & (size - 1);
        c->table[h] = (uint32_t)off + 1;
        off += record_len(data + off, body_end - off);
    }
    c->old = data;
    c->old_len = body_end;
    return;
drop:
    free(c->table);
    c->table = NULL;
    free(data);
}

vault_error vlt_filecache_open(const char *dir, const keyring *k, filecache **out)
{
    *out = NULL;
    filecache *c = calloc(1, sizeof *c);
    if (!c)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    /* Without a signing key of its own, a member has no secret that the
     * other members lack: no cache then, rather than one they can read. */
    if (k->has_sign_key) {
        vlt_kdf(c->key, k->sign_seed, "files cache v2");
        memcpy(c->ad, CACHE_MAGIC, 8);
        memcpy(c->ad + 8, k->vault_id, VAULT_ID_BYTES);
        vlt_kdf(c->ad + 8 + VAULT_ID_BYTES, k->dedup_secret, "files cache");
        char path[PATH_MAX];
        if (vlt_cache_vault_file(dir, k, "files", path, sizeof path))
            c->path = strdup(path);
    }
    if (c->path)
        load_old(c);
    *out = c;
    return VAULT_OK;
}

const uint8_t *vlt_filecache_lookup(const filecache *c, const char *path,
                                    const filecache_key *key, uint32_t *n_ids,
                                    int *has_xattrs)
{
    if (!c->table)
        return NULL;
    size_t plen = strlen(path), mask = c->table_size - 1;
    for (size_t h = str_hash(path, plen) & mask;; h = (h + 1) & mask) {
        uint32_t v = c->table[h];
        if (!v)
            return NULL;
        const uint8_t *p = c->old + v - 1;
        if (load_le32(p) != plen || memcmp(p + 4, path, plen) != 0)
            continue;
        p += 4 + plen;
        if (load_le64(p) != key->size || load_le64(p + 8) != key->inode ||
            load_le64(p + 16) != key->device ||
            (int64_t)load_le64(p + 24) != key->mtime_sec ||
            load_le32(p + 32) != key->mtime_nsec ||
            (int64_t)load_le64(p + 36) != key->ctime_sec ||
            load_le32(p + 44) != key->ctime_nsec)
            return NULL;
        *has_xattrs = (load_le32(p + 48) & FLAG_XATTRS) != 0;
        *n_ids = load_le32(p + 52);
        return p + 56;
    }
}

vault_error vlt_filecache_record(filecache *c, const char *path,
                                 const filecache_key *key,
                                 const uint8_t *ids, uint32_t n_ids,
                                 int has_xattrs)
{
    if (!c->path)
        return VAULT_OK;
    size_t plen = strlen(path);
    size_t need = 4 + plen + RECORD_FIXED + (size_t)n_ids * CHUNK_ID_BYTES;
    if (plen == 0 || plen > PATH_MAX)
        return VAULT_OK;
    if (!c->fresh_len)
        c->fresh_len = CACHE_HEADER; /* room to seal the file in place */
    /* and room for the tag after the last record */
    if (c->fresh_cap < c->fresh_len + need + CACHE_TAG) {
        /* the first buffer is 64 KiB */
        size_t want = c->fresh_len + need + CACHE_TAG;
        if (want < (1u << 16))
            want = 1u << 16;
        if (vlt_array_reserve(&c->fresh, &c->fresh_cap, want, 1) != 0)
            return vlt_fail(VAULT_E_NOMEM, "files cache: out of memory");
    }
    uint8_t *p = c->fresh + c->fresh_len;
    store_le32(p, (uint32_t)plen);
    memcpy(p + 4, path, plen);
    p += 4 + plen;
    store_le64(p, key->size);
    store_le64(p + 8, key->inode);
    store_le64(p + 16, key->device);
    store_le64(p + 24, (uint64_t)key->mtime_sec);
    store_le32(p + 32, key->mtime_nsec);
    store_le64(p + 36, (uint64_t)key->ctime_sec);
    store_le32(p + 44, key->ctime_nsec);
    store_le32(p + 48, has_xattrs ? FLAG_XATTRS : 0);
    store_le32(p + 52, n_ids);
    if (n_ids)
        memcpy(p + 56, ids, (size_t)n_ids * CHUNK_ID_BYTES);
    c->fresh_len += need;
    return VAULT_OK;
}

vault_error vlt_filecache_save(filecache *c)
{
    if (!c->path || !c->fresh)
        return VAULT_OK;
    /* Sealed in place (fresh has room for the header in front and the
     * tag behind), so a large cache is not held twice; the records are
     * not needed after this. */
    uint8_t *file = c->fresh;
    size_t body = c->fresh_len - CACHE_HEADER;
    memcpy(file, CACHE_MAGIC, 8);
    randombytes_buf(file + 8, CACHE_HEADER - 8);
    crypto_aead_xchacha20poly1305_ietf_encrypt(
        file + CACHE_HEADER, NULL, file + CACHE_HEADER, body, c->ad,
        sizeof c->ad, NULL, file + 8, c->key);
    vault_error rc = vlt_write_file_atomic(
        c->path, file, CACHE_HEADER + body + CACHE_TAG, 0600, 0);
    free(c->fresh);
    c->fresh = NULL;
    c->fresh_len = c->fresh_cap = 0;
    return rc;
}

void vlt_filecache_free(filecache *c)
{
    if (!c)
        return;
    free(c->path);
    free(c->old);
    free(c->table);
    free(c->fresh);
    sodium_memzero(c->key, sizeof c->key);
    free(c);
}
