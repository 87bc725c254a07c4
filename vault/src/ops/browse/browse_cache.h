/*
 * browse_cache.h - a bounded cache of things loaded by chunk ID (decoded
 * trees, verified plaintexts) that several threads share.  Private; used
 * by browse.c.
 *
 * Each entry is counted by the bytes it costs; past the budget the least
 * recently used entries nobody holds are freed.  An entry a caller holds
 * (vlt_browse_cache_get until _put) is never freed under it, so a held
 * entry may keep the cache over budget for as long as it is held: the
 * budget bounds what is kept, callers bound what they hold (one tree per
 * path component being resolved, one blob per read).
 *
 * Usage:
 *
 *     vlt_browse_cache c;
 *     vlt_browse_cache_init(&c, budget, free_value);
 *     void *v = vlt_browse_cache_get(&c, id);        // held, or NULL
 *     if (!v) { load it; v = vlt_browse_cache_add(&c, id, value, cost); }
 *     ... use v ...
 *     vlt_browse_cache_put(&c, id);
 *     vlt_browse_cache_destroy(&c);
 *
 * Every call is thread-safe (one mutex, never held across a load).
 */
#ifndef VAULT_BROWSE_CACHE_H
#define VAULT_BROWSE_CACHE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "format/tree.h"

typedef struct vlt_browse_entry vlt_browse_entry;

typedef struct vlt_browse_cache {
    pthread_mutex_t lock;
    vlt_browse_entry **buckets; /* chains by vlt_id_hash */
    size_t n_buckets;           /* a power of two, or 0 */
    size_t n_entries;
    vlt_browse_entry *lru_head; /* least recently used */
    vlt_browse_entry *lru_tail; /* most recently used */
    size_t bytes;               /* cost of every entry kept */
    size_t budget;              /* what bytes may reach with none held */
    void (*free_value)(void *value); /* frees what add was given */
} vlt_browse_cache;

void vlt_browse_cache_init(vlt_browse_cache *c, size_t budget,
                           void (*free_value)(void *value));
void vlt_browse_cache_destroy(vlt_browse_cache *c);
/* The value cached for id, held (the caller puts it back), or NULL. */
void *vlt_browse_cache_get(vlt_browse_cache *c,
                           const uint8_t id[CHUNK_ID_BYTES]);
/* Caches value (costing cost bytes) under id and returns it held.  If
 * another thread added id meanwhile, value is freed and that one is
 * returned held instead.  NULL (value freed) when out of memory. */
void *vlt_browse_cache_add(vlt_browse_cache *c,
                           const uint8_t id[CHUNK_ID_BYTES], void *value,
                           size_t cost);
/* Gives back a value get or add returned held. */
void vlt_browse_cache_put(vlt_browse_cache *c,
                          const uint8_t id[CHUNK_ID_BYTES]);
/* Bytes kept (for tests). */
size_t vlt_browse_cache_bytes(vlt_browse_cache *c);

#endif
