/*
 * filecache.c - the local files cache (see filecache.h).
 *
 * File layout: "VFCACHE4" | block*, the last block marked as such
 *   block  = nonce (24) | sealed_len u32 | sealed
 *   sealed = XChaCha20-Poly1305(key = KDF(this member's signing seed,
 *            "files cache v2"), nonce, additional data = "VFCACHE4" |
 *            vault ID | KDF(dedup secret, "files cache") | block number
 *            u64 | last u8, record*), records of at most about 64 KiB
 *   record = path_len u32 | path | size u64 | inode u64 | device u64 |
 *            mtime_sec i64 | mtime_nsec u32 | ctime_sec i64 |
 *            ctime_nsec u32 | flags u32 | n u32 | n × chunk ID
 *   flags: bit 0 = the file had extended attributes
 * The cache names local paths, sizes and inodes and the chunk IDs of the
 * content: only this member's own key (not D, which every member holds)
 * opens it.  The additional data ties it to the vault and to the dedup
 * secret the chunk IDs were made with.  Older layouts (VFCACHE1, the
 * clear VFCACHE2, the single-block VFCACHE3) and caches of another member
 * are ignored: the next add starts afresh.
 *
 * In blocks, so that neither run holds the cache: a load opens every
 * block once to check it and learn where each record is (a 12-byte slot
 * a file in a table at most half full: 24 to 48 bytes a file in memory),
 * a lookup opens the record's block again (the last
 * few are kept: lookups come in about the order records were written),
 * and this run's records go to a new file a block at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "repo/client_cache.h"
#include "repo/filecache.h"
#include "common/array.h"
#include "common/internal.h"

#define CACHE_MAGIC "VFCACHE4"
#define CACHE_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define CACHE_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES
#define BLOCK_HEADER (CACHE_NONCE + 4)
#define CACHE_AD_BYTES (8 + VAULT_ID_BYTES + SECRET_BYTES)
#define CACHE_MAX_BYTES (1ull << 32)
#define RECORD_FIXED 56 /* size .. n */
#define FLAG_XATTRS 1u
/* A block is sealed once its records pass this many bytes: memory holds
 * one block being written and BLOCKS_KEPT read ones, not the cache. */
#define BLOCK_TARGET (64u * 1024)
#define BLOCKS_KEPT 4

/* Where a record of the old file is: its block, its offset there, and
 * 32 bits of its path's hash (to skip most blocks a probe meets). */
typedef struct slot {
    uint32_t hash;
    uint32_t block; /* + 1; 0 empty */
    uint32_t offset;
} slot;

/* A block of the old file read and opened, for lookups. */
typedef struct kept_block {
    uint32_t block; /* + 1; 0 none */
    uint8_t *plain;
    size_t len;
    uint64_t used; /* for least recently used out */
} kept_block;

struct filecache {
    char *path;               /* the cache file; NULL: disabled */
    uint8_t key[SECRET_BYTES]; /* this member's own */
    uint8_t ad[CACHE_AD_BYTES]; /* ties it to the vault and D */
    /* the old file: kept open, its blocks opened as lookups need them */
    int fd;
    uint64_t *block_at; /* file offset of each block */
    uint32_t *block_len; /* sealed length of each */
    size_t n_blocks;
    slot *table; /* pow2 size, at most half full */
    size_t table_size, n_table;
    kept_block kept[BLOCKS_KEPT];
    uint64_t clock;
    /* this run's records: the block being filled, and the file the full
     * ones went to */
    uint8_t *fresh;
    size_t fresh_len, fresh_cap;
    uint64_t fresh_blocks;
    int out_fd;
    char *out_path;
    int out_errno; /* the first failure writing the new file; 0: none */
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

/* The additional data of block index: the cache's, the block's number and
 * whether it is the last (so that blocks cannot be moved, dropped or cut
 * off the end). */
static void block_ad(filecache *c, uint64_t index, int last,
                     uint8_t ad[CACHE_AD_BYTES + 9])
{
    memcpy(ad, c->ad, CACHE_AD_BYTES);
    store_le64(ad + CACHE_AD_BYTES, index);
    ad[CACHE_AD_BYTES + 8] = (uint8_t)(last != 0);
}


/* Reads and opens block index of the old file into *plain (malloc'ed,
 * *len bytes); 0 if it does not open (then nothing is allocated). */
static int block_open(filecache *c, size_t index, int last,
                      uint8_t **plain, size_t *len)
{
    size_t sealed = c->block_len[index];
    uint8_t *buf = malloc(BLOCK_HEADER + sealed);
    uint8_t ad[CACHE_AD_BYTES + 9];
    unsigned long long plain_len;
    block_ad(c, index, last, ad);
    if (!buf || vlt_pread_all(c->fd, buf, BLOCK_HEADER + sealed,
                              c->block_at[index]) != 0 ||
        crypto_aead_xchacha20poly1305_ietf_decrypt(
            buf + BLOCK_HEADER, &plain_len, NULL, buf + BLOCK_HEADER, sealed,
            ad, sizeof ad, buf, c->key) != 0) {
        free(buf);
        return 0;
    }
    memmove(buf, buf + BLOCK_HEADER, (size_t)plain_len);
    *plain = buf;
    *len = (size_t)plain_len;
    return 1;
}

static int table_put(filecache *c, uint32_t hash, uint32_t block,
                     uint32_t offset)
{
    if ((c->n_table + 1) * 2 > c->table_size) {
        size_t size = c->table_size ? c->table_size * 2 : 1024;
        slot *t = calloc(size, sizeof *t);
        if (!t)
            return 0;
        for (size_t i = 0; i < c->table_size; i++) {
            if (!c->table[i].block)
                continue;
            size_t h = c->table[i].hash & (size - 1);
            while (t[h].block)
                h = (h + 1) & (size - 1);
            t[h] = c->table[i];
        }
        free(c->table);
        c->table = t;
        c->table_size = size;
    }
    size_t h = hash & (c->table_size - 1);
    while (c->table[h].block)
        h = (h + 1) & (c->table_size - 1);
    c->table[h] = (slot){hash, block + 1, offset};
    c->n_table++;
    return 1;
}

static void drop_old(filecache *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->block_at);
    free(c->block_len);
    free(c->table);
    c->block_at = NULL;
    c->block_len = NULL;
    c->table = NULL;
    c->n_blocks = c->table_size = c->n_table = 0;
    for (size_t i = 0; i < BLOCKS_KEPT; i++) {
        free(c->kept[i].plain);
        memset(&c->kept[i], 0, sizeof c->kept[i]);
    }
}

/* Reads the old file through once: every block must open and hold whole
 * records, the last one marked so; the table learns where each record
 * is.  Anything wrong and the whole cache is ignored. */
static void load_old(filecache *c)
{
    c->fd = open(c->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (c->fd < 0)
        return; /* no cache yet, or unreadable: start afresh */
    struct stat st;
    uint8_t magic[8];
    if (fstat(c->fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (uint64_t)st.st_size > CACHE_MAX_BYTES ||
        vlt_pread_all(c->fd, magic, 8, 0) != 0 || memcmp(magic, CACHE_MAGIC, 8) != 0)
        goto drop;
    size_t cap_blocks = 0, cap_lens = 0;
    int last_seen = 0;
    for (uint64_t at = 8; at < (uint64_t)st.st_size;) {
        uint8_t head[BLOCK_HEADER];
        if (last_seen || (uint64_t)st.st_size - at < BLOCK_HEADER ||
            vlt_pread_all(c->fd, head, BLOCK_HEADER, at) != 0)
            goto drop;
        uint32_t sealed = load_le32(head + CACHE_NONCE);
        if (sealed < CACHE_TAG ||
            sealed > (uint64_t)st.st_size - at - BLOCK_HEADER ||
            VLT_ARRAY_GROW(&c->block_at, &cap_blocks, c->n_blocks + 1) != 0 ||
            VLT_ARRAY_GROW(&c->block_len, &cap_lens, c->n_blocks + 1) != 0)
            goto drop;
        c->block_at[c->n_blocks] = at;
        c->block_len[c->n_blocks] = sealed;
        at += BLOCK_HEADER + sealed;
        last_seen = at == (uint64_t)st.st_size;
        uint8_t *plain;
        size_t len;
        if (!block_open(c, c->n_blocks, last_seen, &plain, &len))
            goto drop; /* damaged, reordered, or another member's */
        int ok = 1;
        for (size_t off = 0; ok && off < len;) {
            size_t n = record_len(plain + off, len - off);
            size_t plen = n ? load_le32(plain + off) : 0;
            ok = n && table_put(c,
                                (uint32_t)str_hash((const char *)plain + off +
                                                       4,
                                                   plen),
                                (uint32_t)c->n_blocks, (uint32_t)off);
            off += n;
        }
        free(plain);
        if (!ok)
            goto drop;
        c->n_blocks++;
    }
    if (last_seen)
        return;
drop:
    drop_old(c);
}

vault_error vlt_filecache_open(const char *dir, const keyring *k, filecache **out)
{
    *out = NULL;
    filecache *c = calloc(1, sizeof *c);
    if (!c)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    c->fd = c->out_fd = -1;
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

size_t vlt_filecache_known(const filecache *c)
{
    return c ? c->n_table : 0;
}

/* Block b of the old file, opened (kept for the next lookups), or NULL. */
static const kept_block *block_get(filecache *c, uint32_t b)
{
    kept_block *victim = &c->kept[0];
    for (size_t i = 0; i < BLOCKS_KEPT; i++) {
        if (c->kept[i].block == b + 1) {
            c->kept[i].used = ++c->clock;
            return &c->kept[i];
        }
        if (c->kept[i].used < victim->used)
            victim = &c->kept[i];
    }
    uint8_t *plain;
    size_t len;
    if (!block_open(c, b, b + 1 == c->n_blocks, &plain, &len))
        return NULL; /* changed since it was loaded: a miss */
    free(victim->plain);
    *victim = (kept_block){b + 1, plain, len, ++c->clock};
    return victim;
}

const uint8_t *vlt_filecache_lookup(filecache *c, const char *path,
                                    const filecache_key *key, uint32_t *n_ids,
                                    int *has_xattrs)
{
    if (!c->table)
        return NULL;
    size_t plen = strlen(path), mask = c->table_size - 1;
    uint32_t hash = (uint32_t)str_hash(path, plen);
    for (size_t h = hash & mask;; h = (h + 1) & mask) {
        const slot *s = &c->table[h];
        if (!s->block)
            return NULL;
        if (s->hash != hash)
            continue;
        const kept_block *kb = block_get(c, s->block - 1);
        if (!kb)
            return NULL;
        /* bounds were checked when the file was loaded, and the block
         * authenticated again now */
        const uint8_t *p = kb->plain + s->offset;
        if (s->offset >= kb->len || !record_len(p, kb->len - s->offset) ||
            load_le32(p) != plen || memcmp(p + 4, path, plen) != 0)
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

/* Seals the records gathered (fresh) as the next block of the new file,
 * which is made at the first block. */
static void block_flush(filecache *c, int last)
{
    if (c->out_errno)
        return;
    if (c->out_fd < 0) {
        size_t n = strlen(c->path) + 16;
        if (!(c->out_path = malloc(n))) {
            c->out_errno = ENOMEM;
            return;
        }
        snprintf(c->out_path, n, "%s.tmp-XXXXXX", c->path);
        c->out_fd = mkstemp(c->out_path);
        if (c->out_fd < 0 || fchmod(c->out_fd, 0600) != 0 ||
            vlt_write_all(c->out_fd, (const uint8_t *)CACHE_MAGIC, 8) != 0) {
            c->out_errno = errno ? errno : EIO;
            return;
        }
    }
    /* fresh has room for the block's header in front and its tag */
    size_t body = c->fresh_len - BLOCK_HEADER;
    uint8_t ad[CACHE_AD_BYTES + 9];
    block_ad(c, c->fresh_blocks, last, ad);
    randombytes_buf(c->fresh, CACHE_NONCE);
    store_le32(c->fresh + CACHE_NONCE, (uint32_t)(body + CACHE_TAG));
    crypto_aead_xchacha20poly1305_ietf_encrypt(
        c->fresh + BLOCK_HEADER, NULL, c->fresh + BLOCK_HEADER, body, ad,
        sizeof ad, NULL, c->fresh, c->key);
    if (vlt_write_all(c->out_fd, c->fresh,
                      BLOCK_HEADER + body + CACHE_TAG) != 0)
        c->out_errno = errno ? errno : EIO;
    c->fresh_blocks++;
    c->fresh_len = BLOCK_HEADER;
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
        c->fresh_len = BLOCK_HEADER; /* room to seal the block in place */
    else if (c->fresh_len - BLOCK_HEADER + need > BLOCK_TARGET)
        block_flush(c, 0);
    /* and room for the tag after the last record */
    if (c->fresh_cap < c->fresh_len + need + CACHE_TAG) {
        size_t want = c->fresh_len + need + CACHE_TAG;
        if (want < BLOCK_HEADER + BLOCK_TARGET + CACHE_TAG)
            want = BLOCK_HEADER + BLOCK_TARGET + CACHE_TAG;
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

static void out_discard(filecache *c)
{
    if (c->out_fd >= 0) {
        close(c->out_fd);
        unlink(c->out_path);
    }
    c->out_fd = -1;
    free(c->out_path);
    c->out_path = NULL;
}

vault_error vlt_filecache_save(filecache *c)
{
    if (!c->path || !c->fresh)
        return VAULT_OK;
    block_flush(c, 1);
    int e = c->out_errno;
    if (!e && fdatasync(c->out_fd) != 0)
        e = errno;
    if (!e) {
        int fd = c->out_fd;
        c->out_fd = -1;
        if (close(fd) != 0 || rename(c->out_path, c->path) != 0) {
            e = errno;
            unlink(c->out_path);
        }
    }
    vault_error rc = e ? vlt_fail_errno(e, "files cache: %s", c->path)
                       : VAULT_OK;
    out_discard(c);
    free(c->fresh);
    c->fresh = NULL;
    c->fresh_len = c->fresh_cap = 0;
    c->fresh_blocks = 0;
    c->out_errno = 0;
    return rc;
}

void vlt_filecache_free(filecache *c)
{
    if (!c)
        return;
    drop_old(c);
    out_discard(c);
    free(c->path);
    free(c->fresh);
    sodium_memzero(c->key, sizeof c->key);
    free(c);
}
