/*
 * marker_ahead.c - an add's marker put up while the open reads the config
 * (marker_ahead.h).
 *
 * Open record, <cache>/locations/<SHA-256 of the redacted location, hex>:
 *   "VAULTOR1" | vault ID (32) | config length u32 | config |
 *   count u32 | count × object name of keys/ (32, ascending)
 * Nothing in it is secret (storage holds all of it), and nothing in it is
 * trusted: the keys derived from it seal only a marker, which is kept
 * only when the open finds the same config and the same keys/ objects
 * (checked against their names) in storage.  A damaged or planted record
 * costs at most a marker taken down again.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "common/internal.h"
#include "common/interrupt.h"
#include "crypto/digest.h"
#include "format/pack.h"
#include "repo/client_cache.h"
#include "repo/marker_ahead.h"

#define RECORD_MAGIC "VAULTOR1"
#define RECORD_HEADER_BYTES (8 + VAULT_ID_BYTES + 4)
/* keys/ holds a few objects per membership change: far fewer than this */
#define RECORD_NAMES_MAX 65536u
#define RECORD_MAX_BYTES                                                       \
    (RECORD_HEADER_BYTES + VAULT_CONFIG_MAX_BYTES + 4 +                        \
     (size_t)RECORD_NAMES_MAX * 32)

/* What an open found at a location (the record's contents). */
typedef struct open_record {
    uint8_t vault_id[VAULT_ID_BYTES];
    uint8_t *config;
    size_t config_len;
    uint8_t (*names)[32]; /* ascending */
    size_t n_names;
} open_record;

struct marker_ahead {
    pthread_t thread;
    backend *be; /* the open's, borrowed */
    char *cache_dir;
    char *location;
    const vault_identity_t *identity; /* borrowed until finish */
    open_record record;
    /* the record's keys/ objects, read from the cache before the open
     * lists keys/: that listing deletes the cached objects storage no
     * longer holds (after a share or unshare), which the thread would
     * otherwise race */
    keys_object *objs;
    /* the thread's outcome */
    int sent; /* a save was tried: the marker may be in storage */
    int saved;
    lock_record marker;
};

static void record_clear(open_record *r)
{
    free(r->config);
    free(r->names);
    memset(r, 0, sizeof *r);
}

static int record_path(const char *cache_dir, const char *location,
                       char out[PATH_MAX])
{
    if (!cache_dir || !cache_dir[0])
        return 0;
    uint8_t digest[SHA256_BYTES];
    vlt_sha256((const uint8_t *)location, strlen(location), digest);
    char hex[2 * SHA256_BYTES + 1];
    vlt_hex_encode(digest, sizeof digest, hex);
    int n = snprintf(out, PATH_MAX, "%s/locations", cache_dir);
    if (n <= 0 || n >= PATH_MAX)
        return 0;
    /* the cache folder itself may be new; a failure shows on write */
    mkdir(cache_dir, 0700);
    mkdir(out, 0700);
    n = snprintf(out, PATH_MAX, "%s/locations/%s", cache_dir, hex);
    return n > 0 && n < PATH_MAX;
}

static int name_order(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

/* The record of what an open found: names sorted, so that two listings
 * of the same objects compare equal. */
static int record_make(const uint8_t vault_id[VAULT_ID_BYTES],
                       const uint8_t *config, size_t config_len,
                       const keys_object *objs, size_t n_objs,
                       open_record *out)
{
    memset(out, 0, sizeof *out);
    if (config_len > VAULT_CONFIG_MAX_BYTES || n_objs > RECORD_NAMES_MAX)
        return 0;
    memcpy(out->vault_id, vault_id, VAULT_ID_BYTES);
    out->config = malloc(config_len ? config_len : 1);
    out->names = malloc((n_objs ? n_objs : 1) * sizeof *out->names);
    if (!out->config || !out->names) {
        record_clear(out);
        return 0;
    }
    memcpy(out->config, config, config_len);
    out->config_len = config_len;
    for (size_t i = 0; i < n_objs; i++)
        if (vlt_hex_decode(objs[i].name, 64, out->names[i], 32) != VAULT_OK) {
            record_clear(out);
            return 0;
        }
    out->n_names = n_objs;
    qsort(out->names, n_objs, sizeof *out->names, name_order);
    return 1;
}

static int record_same(const open_record *a, const open_record *b)
{
    return memcmp(a->vault_id, b->vault_id, VAULT_ID_BYTES) == 0 &&
           a->config_len == b->config_len &&
           memcmp(a->config, b->config, a->config_len) == 0 &&
           a->n_names == b->n_names &&
           (a->n_names == 0 ||
            memcmp(a->names, b->names, a->n_names * sizeof *a->names) == 0);
}

static int record_load(const char *cache_dir, const char *location,
                       open_record *out)
{
    memset(out, 0, sizeof *out);
    char path[PATH_MAX];
    uint8_t *file;
    size_t len;
    if (!record_path(cache_dir, location, path) ||
        vlt_read_file(path, RECORD_MAX_BYTES, &file, &len) != VAULT_OK)
        return 0;
    int ok = len >= RECORD_HEADER_BYTES &&
             memcmp(file, RECORD_MAGIC, 8) == 0;
    size_t config_len = ok ? load_le32(file + 8 + VAULT_ID_BYTES) : 0;
    size_t at = RECORD_HEADER_BYTES + config_len;
    ok = ok && config_len <= VAULT_CONFIG_MAX_BYTES && len >= at + 4;
    size_t n = ok ? load_le32(file + at) : 0;
    ok = ok && n <= RECORD_NAMES_MAX && len == at + 4 + n * 32;
    if (ok) {
        out->config = malloc(config_len ? config_len : 1);
        out->names = malloc((n ? n : 1) * sizeof *out->names);
        ok = out->config && out->names;
    }
    if (ok) {
        memcpy(out->vault_id, file + 8, VAULT_ID_BYTES);
        memcpy(out->config, file + RECORD_HEADER_BYTES, config_len);
        out->config_len = config_len;
        if (n)
            memcpy(out->names, file + at + 4, n * 32);
        out->n_names = n;
    }
    free(file);
    if (!ok)
        record_clear(out);
    return ok;
}

/* Writes r as location's record, unless known (the record as read
 * before, NULL: read it now) says the same already. */
static void record_keep(const char *cache_dir, const char *location,
                        const open_record *r, const open_record *known)
{
    char path[PATH_MAX];
    if (!record_path(cache_dir, location, path))
        return;
    open_record before = {0};
    if (!known && record_load(cache_dir, location, &before))
        known = &before;
    int same = known && record_same(r, known);
    record_clear(&before);
    size_t at = RECORD_HEADER_BYTES + r->config_len;
    size_t len = at + 4 + r->n_names * 32;
    uint8_t *file = same ? NULL : malloc(len);
    if (!file)
        return;
    memcpy(file, RECORD_MAGIC, 8);
    memcpy(file + 8, r->vault_id, VAULT_ID_BYTES);
    store_le32(file + 8 + VAULT_ID_BYTES, (uint32_t)r->config_len);
    memcpy(file + RECORD_HEADER_BYTES, r->config, r->config_len);
    store_le32(file + at, (uint32_t)r->n_names);
    if (r->n_names)
        memcpy(file + at + 4, r->names, r->n_names * 32);
    /* A record that cannot be written only costs the next add its
     * marker's round trip. */
    (void)vlt_write_file_atomic(path, file, len, 0600, 0);
    free(file);
}

void vlt_open_record_save(const char *cache_dir, const char *location,
                          const uint8_t vault_id[VAULT_ID_BYTES],
                          const uint8_t *config, size_t config_len,
                          const keys_object *objs, size_t n_objs)
{
    open_record now;
    if (!record_make(vault_id, config, config_len, objs, n_objs, &now))
        return;
    record_keep(cache_dir, location, &now, NULL);
    record_clear(&now);
}

/* The objects the record names, from the local cache, each checked
 * against its name: 0 if any is missing or does not match. */
static int cached_keys_load(const char *cache_dir, const open_record *r,
                            keys_object **out)
{
    keys_object *objs = calloc(r->n_names ? r->n_names : 1, sizeof *objs);
    if (!objs)
        return 0;
    size_t n = 0;
    for (; n < r->n_names; n++) {
        keys_object *o = &objs[n];
        vlt_hex_encode(r->names[n], 32, o->name);
        char file[16 + 64 + 1], path[PATH_MAX];
        snprintf(file, sizeof file, "objects/keys/%s", o->name);
        if (!vlt_cache_vault_path(cache_dir, r->vault_id, file, path,
                                  sizeof path) ||
            vlt_read_file(path, MEMBERS_MAX_BYTES + 64, &o->data, &o->len) !=
                VAULT_OK)
            break;
        if (vlt_object_check_name(BACKEND_KEYS, o->name, o->data, o->len) !=
            VAULT_OK) {
            free(o->data);
            o->data = NULL;
            break;
        }
    }
    if (n < r->n_names) {
        vlt_keys_objects_free(objs, n);
        return 0;
    }
    *out = objs;
    return 1;
}

/* The thread: the keys from the record, then the marker's save. */
static void *ahead_main(void *arg)
{
    marker_ahead *a = arg;
    /* The open that follows reports what is wrong in keys/ itself: said
     * here it would be said twice. */
    vlt_warn_mute(1);
    vault_t *v = calloc(1, sizeof *v);
    if (v) {
        v->location = a->location;
        if (vlt_repo_open_keys(v, a->identity, a->record.vault_id,
                               a->record.config, a->record.config_len,
                               a->objs, a->record.n_names) == VAULT_OK) {
            v->be = a->be;
            vlt_lock_add_marker_init(&a->marker);
            a->sent = 1;
            a->saved = vlt_lock_write(v, &a->marker) == VAULT_OK;
        }
        vlt_keyring_free(v->keys);
        vlt_membership_free(v->members);
        free(v->member);
        free(v);
    }
    vlt_warn_mute(0);
    return NULL;
}

static void ahead_free(marker_ahead *a)
{
    if (a->objs)
        vlt_keys_objects_free(a->objs, a->record.n_names);
    record_clear(&a->record);
    free(a->cache_dir);
    free(a->location);
    free(a);
}

marker_ahead *vlt_marker_ahead_start(backend *be, const char *cache_dir,
                                     const char *location,
                                     const vault_identity_t *identity)
{
    marker_ahead *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->be = be;
    a->identity = identity;
    a->cache_dir = cache_dir ? strdup(cache_dir) : NULL;
    a->location = strdup(location);
    if (!a->cache_dir || !a->location ||
        !record_load(cache_dir, location, &a->record) ||
        !cached_keys_load(cache_dir, &a->record, &a->objs) ||
        pthread_create(&a->thread, NULL, ahead_main, a) != 0) {
        ahead_free(a);
        return NULL;
    }
    return a;
}

void vlt_marker_ahead_finish(marker_ahead *ahead, vault_t *v, int opened,
                             const uint8_t *config, size_t config_len,
                             const keys_object *objs, size_t n_objs)
{
    if (ahead)
        pthread_join(ahead->thread, NULL);
    /* What the open found, recorded for the next add (the record the
     * thread read tells whether it changed: no second read). */
    open_record found;
    int made = opened && !v->be->is_local &&
               record_make(v->keys->vault_id, config, config_len, objs,
                           n_objs, &found);
    if (made)
        record_keep(v->cache_dir, v->location, &found,
                    ahead ? &ahead->record : NULL);
    if (!ahead) {
        if (made)
            record_clear(&found);
        return;
    }
    int keep = made && ahead->saved && record_same(&found, &ahead->record) &&
               memcmp(ahead->marker.author, v->keys->sign_pk,
                      SIGN_PUBLIC_BYTES) == 0;
    if (made)
        record_clear(&found);
    if (keep && (v->ahead_marker = malloc(sizeof *v->ahead_marker)))
        *v->ahead_marker = ahead->marker;
    else if (ahead->sent && ahead->marker.name[0]) {
        /* Sealed with keys the open did not find (or never to be used):
         * down at once, or it would hold prunes back until it is stale. */
        vlt_interrupt_shield(1);
        (void)vlt_lock_remove(v, ahead->marker.name);
        vlt_interrupt_shield(0);
    }
    ahead_free(ahead);
}

int vlt_repo_marker_ahead_take(vault_t *v, lock_record *out)
{
    if (!v->ahead_marker)
        return 0;
    *out = *v->ahead_marker;
    free(v->ahead_marker);
    v->ahead_marker = NULL;
    return 1;
}

void vlt_repo_marker_ahead_drop(vault_t *v)
{
    lock_record marker;
    if (!vlt_repo_marker_ahead_take(v, &marker))
        return;
    vlt_interrupt_shield(1);
    (void)vlt_lock_remove(v, marker.name);
    vlt_interrupt_shield(0);
}
