/*
 * locks.c - add markers and prune marks in locks/ (see locks.h).
 *
 * Object (format spec "Pruning without locks", format.md §10, §12 (authored objects)):
 *   0   "VAULTLK2"
 *   8   epoch u32
 *   12  nonce (24)
 *   36  XChaCha20-Poly1305(KDF(write key of epoch, "locks"), nonce,
 *                          AD = bytes 0..35, author (32) | sig (64) | record)
 *   sig = Sign(author, "vault/v2 lock", record)
 *   record = kind u8 | time i64 | pid u32 | host str16 | n_packs u32 |
 *            n_packs × pack name (32)   (n_packs is 0 for add markers)
 *            [add markers, optional: process domain (32) | start u64]
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "common/internal.h"
#include "format/locks.h"
#include "format/pack.h"
#include "repo/repo.h"

#define AEAD_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define AEAD_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES
#define LOCK_HEADER_BYTES 36
#define RECORD_FIXED (1 + 8 + 4 + 2 + 4)

vault_error vlt_lock_encode(const lock_record *rec, uint8_t **out, size_t *len)
{
    size_t host_len = strlen(rec->host);
    if ((rec->kind != LOCK_ADD && rec->kind != LOCK_PRUNE_MARK) ||
        host_len > LOCK_HOST_MAX ||
        (rec->kind == LOCK_ADD && rec->n_packs != 0))
        return vlt_fail(VAULT_E_INVALID, "lock: bad record");
    size_t process = rec->kind == LOCK_ADD && rec->has_process
                         ? LOCK_PROCESS_BYTES
                         : 0;
    size_t n = RECORD_FIXED + host_len + (size_t)rec->n_packs * 32 + process;
    if (n > LOCK_MAX_BYTES - LOCK_HEADER_BYTES - LOCK_AUTHOR_BYTES - AEAD_TAG)
        return vlt_fail(VAULT_E_INVALID, "lock: too many packs");
    uint8_t *p = malloc(n);
    if (!p)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    p[0] = (uint8_t)rec->kind;
    store_le64(p + 1, (uint64_t)rec->time);
    store_le32(p + 9, rec->pid);
    store_le16(p + 13, (uint16_t)host_len);
    memcpy(p + 15, rec->host, host_len);
    store_le32(p + 15 + host_len, rec->n_packs);
    if (rec->n_packs)
        memcpy(p + 19 + host_len, rec->packs, (size_t)rec->n_packs * 32);
    if (process) {
        memcpy(p + 19 + host_len, rec->process_domain,
               LOCK_PROCESS_DOMAIN_BYTES);
        store_le64(p + 19 + host_len + LOCK_PROCESS_DOMAIN_BYTES,
                   rec->process_start);
    }
    *out = p;
    *len = n;
    return VAULT_OK;
}

vault_error vlt_lock_decode(const uint8_t *data, size_t len, lock_record *out)
{
    memset(out, 0, sizeof *out);
    if (len < RECORD_FIXED)
        return vlt_fail(VAULT_E_CORRUPT, "lock: truncated");
    lock_kind kind = data[0];
    size_t host_len = load_le16(data + 13);
    if (kind != LOCK_ADD && kind != LOCK_PRUNE_MARK)
        return vlt_fail(VAULT_E_CORRUPT, "lock: unknown kind");
    if (host_len > LOCK_HOST_MAX || len < RECORD_FIXED + host_len ||
        memchr(data + 15, '\0', host_len))
        return vlt_fail(VAULT_E_CORRUPT, "lock: bad host");
    uint32_t n_packs = load_le32(data + 15 + host_len);
    size_t rest = len - RECORD_FIXED - host_len;
    /* An add marker has no packs and may end with its process. */
    int has_process = kind == LOCK_ADD && rest == LOCK_PROCESS_BYTES;
    if ((kind == LOCK_ADD && (n_packs != 0 || (rest != 0 && !has_process))) ||
        (kind == LOCK_PRUNE_MARK && (uint64_t)n_packs * 32 != rest))
        return vlt_fail(VAULT_E_CORRUPT, "lock: bad pack count");
    out->kind = kind;
    out->time = (int64_t)load_le64(data + 1);
    out->pid = load_le32(data + 9);
    memcpy(out->host, data + 15, host_len);
    out->host[host_len] = '\0';
    if (n_packs) {
        out->packs = malloc((size_t)n_packs * 32);
        if (!out->packs)
            return vlt_fail(VAULT_E_NOMEM, "out of memory");
        memcpy(out->packs, data + 19 + host_len, (size_t)n_packs * 32);
    }
    out->n_packs = n_packs;
    if (has_process) {
        out->has_process = 1;
        memcpy(out->process_domain, data + 19 + host_len,
               LOCK_PROCESS_DOMAIN_BYTES);
        out->process_start =
            load_le64(data + 19 + host_len + LOCK_PROCESS_DOMAIN_BYTES);
    }
    return VAULT_OK;
}

void vlt_lock_add_marker_init(lock_record *rec)
{
    memset(rec, 0, sizeof *rec);
    rec->kind = LOCK_ADD;
    rec->time = vlt_now();
    rec->pid = (uint32_t)getpid();
    if (gethostname(rec->host, sizeof rec->host - 1) != 0)
        rec->host[0] = '\0';
    vlt_process_id self;
    rec->has_process = vlt_process_self(&self);
    if (!rec->has_process)
        return;
    rec->pid = self.pid;
    memcpy(rec->process_domain, self.domain, LOCK_PROCESS_DOMAIN_BYTES);
    rec->process_start = self.start;
}

vlt_process_state vlt_lock_marker_process(const lock_record *l)
{
    if (l->kind != LOCK_ADD || !l->has_process)
        return PROCESS_ELSEWHERE;
    vlt_process_id p = {.pid = l->pid, .start = l->process_start};
    memcpy(p.domain, l->process_domain, sizeof p.domain);
    return vlt_process_check(&p);
}

int vlt_lock_marker_dead(const lock_record *l)
{
    return vlt_lock_marker_process(l) == PROCESS_GONE;
}

static void lock_key(const keyring *k, uint32_t epoch,
                     uint8_t key[SECRET_BYTES])
{
    vlt_kdf(key, vlt_keyring_epoch(k, epoch)->write_key, "locks");
}

vault_error vlt_lock_write(vault_t *v, lock_record *rec)
{
    const keyring *k = v->keys;
    uint8_t *record;
    size_t record_len;
    vault_error rc = vlt_lock_encode(rec, &record, &record_len);
    if (rc != VAULT_OK)
        return rc;
    size_t plain_len = LOCK_AUTHOR_BYTES + record_len;
    size_t total = LOCK_HEADER_BYTES + plain_len + AEAD_TAG;
    uint8_t *plain = malloc(plain_len);
    uint8_t *file = malloc(total);
    if (!plain || !file) {
        free(record);
        free(plain);
        free(file);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    memcpy(plain + LOCK_AUTHOR_BYTES, record, record_len);
    free(record);
    rc = vlt_authored_sign(k, SIGN_LABEL_LOCK, "a lock", plain, plain_len);
    if (rc != VAULT_OK) {
        free(plain);
        free(file);
        return rc;
    }
    uint32_t epoch = k->n_epochs - 1;
    memcpy(file, LOCK_MAGIC, 8);
    store_le32(file + 8, epoch);
    randombytes_buf(file + 12, AEAD_NONCE);
    uint8_t key[SECRET_BYTES];
    lock_key(k, epoch, key);
    crypto_aead_xchacha20poly1305_ietf_encrypt(
        file + LOCK_HEADER_BYTES, NULL, plain, plain_len, file,
        LOCK_HEADER_BYTES, NULL, file + 12, key);
    sodium_memzero(key, sizeof key);
    free(plain);
    vlt_object_name(file, total, rec->name);
    memcpy(rec->author, k->sign_pk, SIGN_PUBLIC_BYTES);
    /* sealed under the nonce just drawn: a name nobody has */
    rc = backend_save_new(v->be, BACKEND_LOCKS, rec->name, file, total);
    free(file);
    return rc;
}

vault_error vlt_lock_remove(vault_t *v, const char *name)
{
    /* gone already counts as removed: no need to tell them apart */
    return backend_discard(v->be, BACKEND_LOCKS, name);
}

vault_error vlt_lock_parse(const keyring *k, const char *name,
                           const uint8_t *file, size_t len, lock_record *out)
{
    memset(out, 0, sizeof *out);
    vault_error rc = vlt_object_check_name(BACKEND_LOCKS, name, file, len);
    if (rc == VAULT_OK &&
        (len < LOCK_HEADER_BYTES + LOCK_AUTHOR_BYTES + AEAD_TAG ||
         memcmp(file, LOCK_MAGIC, 8) != 0))
        rc = vlt_fail(VAULT_E_CORRUPT, "locks/%s: not a lock", name);
    uint32_t epoch = rc == VAULT_OK ? load_le32(file + 8) : 0;
    if (rc == VAULT_OK && !vlt_keyring_epoch(k, epoch))
        rc = vlt_fail(VAULT_E_PERMISSION, "locks/%s: epoch not held",
                      name);
    uint8_t *plain = NULL;
    size_t plain_len = rc == VAULT_OK ? len - LOCK_HEADER_BYTES - AEAD_TAG : 0;
    if (rc == VAULT_OK && !(plain = malloc(plain_len)))
        rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
    if (rc == VAULT_OK) {
        uint8_t key[SECRET_BYTES];
        lock_key(k, epoch, key);
        if (crypto_aead_xchacha20poly1305_ietf_decrypt(
                plain, NULL, NULL, file + LOCK_HEADER_BYTES,
                len - LOCK_HEADER_BYTES, file, LOCK_HEADER_BYTES, file + 12,
                key) != 0)
            rc = vlt_fail(VAULT_E_CORRUPT,
                          "locks/%s: authentication failed", name);
        sodium_memzero(key, sizeof key);
    }
    if (rc == VAULT_OK)
        rc = vlt_authored_verify(k, SIGN_LABEL_LOCK, "locks", name, plain,
                                 plain_len);
    if (rc == VAULT_OK) {
        rc = vlt_lock_decode(plain + LOCK_AUTHOR_BYTES,
                             plain_len - LOCK_AUTHOR_BYTES, out);
        if (rc != VAULT_OK)
            rc = vlt_fail_context(rc, "locks/%s", name);
    }
    if (rc == VAULT_OK) {
        memcpy(out->name, name, 65);
        memcpy(out->author, plain, SIGN_PUBLIC_BYTES);
    }
    free(plain);
    return rc;
}

/* *forged: the lock is well sealed and signed, but its author is not a
 * member (reported; not a marker anyone may wait for). */
static vault_error lock_open(vault_t *v, const char *name, lock_record *out,
                             int *forged)
{
    *forged = 0;
    uint8_t *file;
    size_t len;
    vault_error rc = backend_load(v->be, BACKEND_LOCKS, name, 0, 0,
                                  LOCK_MAX_BYTES, &file, &len);
    if (rc != VAULT_OK)
        return rc;
    rc = vlt_lock_parse(v->keys, name, file, len, out);
    free(file);
    if (rc == VAULT_OK &&
        vlt_membership_standing(v->members, out->author) == AUTHOR_UNKNOWN) {
        free(out->packs);
        memset(out, 0, sizeof *out);
        rc = vlt_fail(VAULT_E_CORRUPT,
                      "locks/%s: forged: its author is not a member of the "
                      "vault",
                      name);
        *forged = 1;
    }
    if (rc == VAULT_E_CORRUPT)
        vlt_warn("%s; ignored", vault_last_error());
    return rc;
}

vault_error vlt_locks_load(vault_t *v, lock_record **out, size_t *n_out,
                           size_t *unreadable)
{
    *out = NULL;
    *n_out = 0;
    if (unreadable)
        *unreadable = 0;
    name_list names;
    vault_error rc = vlt_backend_list_names(v->be, BACKEND_LOCKS, &names);
    if (rc != VAULT_OK)
        return rc;
    lock_record *list = calloc(names.n ? names.n : 1, sizeof *list);
    if (!list) {
        free(names.names);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    size_t n = 0;
    for (size_t i = 0; i < names.n; i++) {
        if (v->own_marker[0] && strcmp(names.names[i], v->own_marker) == 0)
            continue; /* an add marker: it condemns nothing */
        int forged;
        rc = lock_open(v, names.names[i], &list[n], &forged);
        if (rc == VAULT_OK) {
            n++;
        } else if (vlt_error_stops(rc) || rc == VAULT_E_IO) {
            break;
        } else {
            /* gone meanwhile (an add finished), damaged, or sealed in an
             * epoch this member lacks: not a marker it can honour, but
             * maybe one to wait for - unless no member wrote it */
            if (unreadable && rc != VAULT_E_NOT_FOUND && !forged)
                (*unreadable)++;
            rc = VAULT_OK;
        }
    }
    free(names.names);
    if (rc != VAULT_OK) {
        vlt_locks_free(list, n);
        return rc;
    }
    *out = list;
    *n_out = n;
    return VAULT_OK;
}

void vlt_locks_free(lock_record *list, size_t n)
{
    if (!list)
        return;
    for (size_t i = 0; i < n; i++)
        free(list[i].packs);
    free(list);
}
