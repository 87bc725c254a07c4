/*
 * upload_journal.c - the journal of packs an add uploaded (see
 * upload_journal.h).
 *
 * File layout: "VUPJRNL1" | record*
 *   record = sealed_len u32 | nonce (24) | sealed (sealed_len bytes)
 *   sealed = XChaCha20-Poly1305(key = KDF(this member's signing seed,
 *            "upload journal v1"), nonce, additional data = "VUPJRNL1" |
 *            vault ID, plain)
 *   plain  = pack ID (32) | pack length u64 | n u32 |
 *            n × pack entry (PACK_ENTRY_BYTES, as in a pack's own index)
 * Records are appended and synced one per saved pack, so a kill leaves
 * every record before the one being written whole; a torn, damaged or
 * foreign record ends the reading there.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "common/array.h"
#include "common/internal.h"
#include "repo/client_cache.h"
#include "repo/upload_journal.h"

#define JOURNAL_MAGIC "VUPJRNL1"
#define JOURNAL_NAME_BYTES 8 /* random; 16 hex characters */
#define JOURNAL_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define JOURNAL_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES
#define JOURNAL_AD_BYTES (8 + VAULT_ID_BYTES)
#define PLAIN_FIXED (32 + 8 + 4)
/* The most entries a pack can hold (every blob at least its overhead):
 * a record past this is damaged, whatever its length field says. */
#define RECORD_ENTRIES_MAX (PACK_MAX_BYTES / BLOB_OVERHEAD)
#define RECORD_SEALED_MAX \
    (PLAIN_FIXED + (size_t)RECORD_ENTRIES_MAX * PACK_ENTRY_BYTES + JOURNAL_TAG)

/* A journal of an interrupted add, taken over by this one. */
typedef struct adopted {
    char *path;
    int fd;   /* holds its lock */
    int keep; /* stays after a committed add: not read to the end for
               * want of the storage, or perhaps another member's */
} adopted;

struct upload_journal {
    char dir[PATH_MAX];            /* <cache>/<vault ID>/pending */
    char path[PATH_MAX];           /* this add's journal */
    int fd;                        /* holds its lock */
    int stopped;                   /* a write failed: no more records */
    size_t records;                /* appended (or tried) */
    pthread_mutex_t lock;          /* writes to fd, stopped, records */
    uint8_t key[SECRET_BYTES];     /* this member's own */
    uint8_t ad[JOURNAL_AD_BYTES];  /* ties it to the vault */
    adopted *taken;
    size_t n_taken, cap_taken;
};

static int journal_name(const char *name)
{
    if (strlen(name) != 2 * JOURNAL_NAME_BYTES)
        return 0;
    for (const char *s = name; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

void vlt_upload_journal_open(const char *dir, const keyring *k,
                             upload_journal **out)
{
    *out = NULL;
    /* Without a signing key of its own a member has no secret the other
     * members lack: no journal then, rather than one they could forge. */
    if (!k->has_sign_key)
        return;
    upload_journal *j = calloc(1, sizeof *j);
    if (!j)
        return;
    j->fd = -1;
    if (!vlt_cache_vault_file(dir, k, "pending", j->dir, sizeof j->dir) ||
        pthread_mutex_init(&j->lock, NULL) != 0) {
        free(j);
        return;
    }
    vlt_kdf(j->key, k->sign_seed, "upload journal v1");
    memcpy(j->ad, JOURNAL_MAGIC, 8);
    memcpy(j->ad + 8, k->vault_id, VAULT_ID_BYTES);
    (void)mkdir(j->dir, 0700);

    /* Made under a name no adopter takes, locked, then renamed: an add
     * scanning the folder never sees it unlocked. */
    uint8_t rnd[JOURNAL_NAME_BYTES];
    char hex[2 * JOURNAL_NAME_BYTES + 1], tmp[PATH_MAX];
    randombytes_buf(rnd, sizeof rnd);
    vlt_hex_encode(rnd, sizeof rnd, hex);
    int n1 = snprintf(j->path, sizeof j->path, "%s/%s", j->dir, hex);
    int n2 = snprintf(tmp, sizeof tmp, "%s/.tmp-%s", j->dir, hex);
    int fd = -1;
    if (n1 > 0 && (size_t)n1 < sizeof j->path && n2 > 0 &&
        (size_t)n2 < sizeof tmp)
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC,
                  0600);
    if (fd < 0 || flock(fd, LOCK_EX) != 0 ||
        vlt_write_all(fd, (const uint8_t *)JOURNAL_MAGIC, 8) != 0 ||
        rename(tmp, j->path) != 0) {
        vlt_warn("%s: cannot keep the upload journal (%s): an interrupted "
                 "add will upload again",
                 j->dir, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        vlt_upload_journal_close(j, 0);
        return;
    }
    sync_dir(j->dir);
    j->fd = fd;
    *out = j;
}

void vlt_upload_journal_append(upload_journal *j, const uint8_t pack_id[32],
                               uint64_t pack_len, const pack_entry *entries,
                               size_t n_entries)
{
    if (!j || n_entries == 0 || n_entries > RECORD_ENTRIES_MAX)
        return;
    size_t plain_len = PLAIN_FIXED + n_entries * PACK_ENTRY_BYTES;
    size_t len = 4 + JOURNAL_NONCE + plain_len + JOURNAL_TAG;
    uint8_t *rec = malloc(len);
    if (!rec) {
        vlt_warn("%s: out of memory: the upload journal stops", j->path);
        return;
    }
    uint8_t *nonce = rec + 4, *plain = nonce + JOURNAL_NONCE;
    store_le32(rec, (uint32_t)(plain_len + JOURNAL_TAG));
    randombytes_buf(nonce, JOURNAL_NONCE);
    memcpy(plain, pack_id, 32);
    store_le64(plain + 32, pack_len);
    store_le32(plain + 40, (uint32_t)n_entries);
    for (size_t i = 0; i < n_entries; i++)
        vlt_pack_entry_encode(plain + PLAIN_FIXED + i * PACK_ENTRY_BYTES,
                              &entries[i]);
    crypto_aead_xchacha20poly1305_ietf_encrypt(plain, NULL, plain, plain_len,
                                               j->ad, sizeof j->ad, NULL,
                                               nonce, j->key);
    pthread_mutex_lock(&j->lock);
    if (!j->stopped) {
        /* synced record by record: a kill right after keeps it */
        if (vlt_write_all(j->fd, rec, len) != 0 || fdatasync(j->fd) != 0) {
            vlt_warn("%s: cannot write the upload journal (%s): it stops "
                     "here",
                     j->path, strerror(errno));
            /* still held (the lock) until the add ends: its records
             * before this one may be adopted after a crash */
            j->stopped = 1;
        }
        j->records++;
    }
    pthread_mutex_unlock(&j->lock);
    free(rec);
}

/* Reads exactly len bytes at the file's position: 1, or 0 at a short
 * read (end of file or error). */
static int read_exact(int fd, uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        p += n;
        len -= (size_t)n;
    }
    return 1;
}

typedef struct adopt_ctx {
    upload_journal *j;
    backend *be;
    int (*known)(void *ctx, const uint8_t pack_id[32]);
    upload_journal_pack_fn fn;
    void *fn_ctx;
    size_t *n_packs;
    uint64_t *n_bytes;
} adopt_ctx;

/* One decrypted record: its pack adopted if the storage has it whole.
 * VAULT_OK also when it is skipped; VAULT_E_CORRUPT for a record that
 * makes no sense; *stop when the storage cannot say (the journal stays). */
static vault_error adopt_record(adopt_ctx *c, const uint8_t *plain,
                                size_t plain_len, int *stop)
{
    uint64_t pack_len = load_le64(plain + 32);
    uint64_t n = load_le32(plain + 40);
    if (n == 0 || n > RECORD_ENTRIES_MAX ||
        PLAIN_FIXED + n * PACK_ENTRY_BYTES != plain_len ||
        pack_len > PACK_MAX_BYTES)
        return VAULT_E_CORRUPT;
    pack_entry *es = malloc((size_t)n * sizeof *es);
    if (!es)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        if (!vlt_pack_entry_decode(plain + PLAIN_FIXED + i * PACK_ENTRY_BYTES,
                                   &es[i]) ||
            (uint64_t)es[i].offset + es[i].length > pack_len) {
            free(es);
            return VAULT_E_CORRUPT;
        }
    vault_error rc = VAULT_OK;
    if (!c->known(c->fn_ctx, plain)) {
        char name[65];
        uint64_t size = 0;
        vlt_hex_encode(plain, 32, name);
        vault_error src = backend_stat(c->be, BACKEND_DATA, name, &size);
        if (src == VAULT_OK && size == pack_len) {
            rc = c->fn(c->fn_ctx, plain, pack_len, es, (size_t)n);
            if (rc == VAULT_OK) {
                (*c->n_packs)++;
                *c->n_bytes += pack_len;
            }
        } else if (src != VAULT_OK && src != VAULT_E_NOT_FOUND) {
            *stop = 1; /* not known gone: the next add asks again */
        }
        /* missing (pruned) or of another length (torn): not listed */
    }
    free(es);
    return rc;
}

/* Reads one taken journal's records.  A damaged one ends it with a
 * warning; only fn's failure is returned. */
static vault_error adopt_file(adopt_ctx *c, adopted *t)
{
    struct stat st;
    uint8_t head[8];
    if (fstat(t->fd, &st) != 0 || !read_exact(t->fd, head, sizeof head) ||
        memcmp(head, JOURNAL_MAGIC, 8) != 0) {
        vlt_warn("%s: not an upload journal this client reads: ignored",
                 t->path);
        t->keep = 1;
        return VAULT_OK;
    }
    uint64_t pos = sizeof head;
    uint8_t *buf = NULL;
    vault_error rc = VAULT_OK;
    for (;;) {
        uint8_t len_bytes[4];
        if (pos == (uint64_t)st.st_size)
            break; /* the end, between records */
        if (!read_exact(t->fd, len_bytes, 4)) {
            vlt_warn("%s: upload journal cut short: read up to byte %llu",
                     t->path, (unsigned long long)pos);
            break;
        }
        uint64_t sealed = load_le32(len_bytes);
        /* bounded by what a pack can hold and by what the file has */
        if (sealed < PLAIN_FIXED + JOURNAL_TAG || sealed > RECORD_SEALED_MAX ||
            pos + 4 + JOURNAL_NONCE + sealed > (uint64_t)st.st_size) {
            vlt_warn("%s: upload journal damaged or cut short at byte %llu: "
                     "read up to there",
                     t->path, (unsigned long long)pos);
            break;
        }
        free(buf);
        buf = malloc(JOURNAL_NONCE + (size_t)sealed);
        if (!buf) {
            rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
            break;
        }
        unsigned long long plain_len = 0;
        uint8_t *plain = buf + JOURNAL_NONCE;
        if (!read_exact(t->fd, buf, JOURNAL_NONCE + (size_t)sealed) ||
            crypto_aead_xchacha20poly1305_ietf_decrypt(
                plain, &plain_len, NULL, plain, sealed, c->j->ad,
                sizeof c->j->ad, buf, c->j->key) != 0) {
            vlt_warn("%s: upload journal record at byte %llu fails "
                     "authentication (damaged, or another member's): read "
                     "up to there",
                     t->path, (unsigned long long)pos);
            /* Not one record opened: perhaps another member's on this
             * machine, whose next add may still use it. */
            t->keep = pos == sizeof head;
            break;
        }
        int stop = 0;
        rc = adopt_record(c, plain, (size_t)plain_len, &stop);
        if (rc == VAULT_E_CORRUPT) {
            vlt_warn("%s: upload journal record at byte %llu is malformed: "
                     "read up to there",
                     t->path, (unsigned long long)pos);
            rc = VAULT_OK;
            break;
        }
        if (rc != VAULT_OK)
            break;
        if (stop) {
            t->keep = 1;
            break;
        }
        pos += 4 + JOURNAL_NONCE + sealed;
    }
    free(buf);
    return rc;
}

/* Takes the journal at path if no live add holds it: 1 and *t filled. */
static int take(const char *path, adopted *t)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat held, now;
    /* a live add holds its lock; and one that adopted and removed the
     * file after this open must not be followed (the same inode still
     * under the name says it was not) */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0 || fstat(fd, &held) != 0 ||
        !S_ISREG(held.st_mode) || stat(path, &now) != 0 ||
        now.st_ino != held.st_ino || now.st_dev != held.st_dev) {
        close(fd);
        return 0;
    }
    t->path = strdup(path);
    if (!t->path) {
        close(fd);
        return 0;
    }
    t->fd = fd;
    t->keep = 0;
    return 1;
}

vault_error vlt_upload_journal_adopt(upload_journal *j, backend *be,
                                     int (*known)(void *ctx,
                                                  const uint8_t pack_id[32]),
                                     upload_journal_pack_fn fn, void *ctx,
                                     size_t *n_packs, uint64_t *n_bytes)
{
    *n_packs = 0;
    *n_bytes = 0;
    if (!j)
        return VAULT_OK;
    DIR *d = opendir(j->dir);
    if (!d)
        return VAULT_OK;
    adopt_ctx c = {.j = j, .be = be, .known = known, .fn = fn,
                   .fn_ctx = ctx, .n_packs = n_packs, .n_bytes = n_bytes};
    const char *own = strrchr(j->path, '/') + 1;
    vault_error rc = VAULT_OK;
    struct dirent *e;
    while (rc == VAULT_OK && (e = readdir(d)) != NULL) {
        char path[PATH_MAX];
        if (!journal_name(e->d_name) || strcmp(e->d_name, own) == 0)
            continue;
        int n = snprintf(path, sizeof path, "%s/%s", j->dir, e->d_name);
        if (n <= 0 || (size_t)n >= sizeof path)
            continue;
        if (VLT_ARRAY_GROW(&j->taken, &j->cap_taken, j->n_taken + 1) != 0) {
            rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
            break;
        }
        adopted *t = &j->taken[j->n_taken];
        if (!take(path, t))
            continue;
        j->n_taken++;
        rc = adopt_file(&c, t);
    }
    closedir(d);
    return rc;
}

void vlt_upload_journal_close(upload_journal *j, int committed)
{
    if (!j)
        return;
    /* Removed while still locked, so no other add takes it meanwhile.
     * Uncommitted, a journal that lists nothing is of no use either. */
    if (j->fd >= 0 && (committed || j->records == 0))
        unlink(j->path);
    if (j->fd >= 0)
        close(j->fd);
    for (size_t i = 0; i < j->n_taken; i++) {
        if (committed && !j->taken[i].keep)
            unlink(j->taken[i].path);
        close(j->taken[i].fd);
        free(j->taken[i].path);
    }
    free(j->taken);
    pthread_mutex_destroy(&j->lock);
    sodium_memzero(j->key, sizeof j->key);
    free(j);
}
