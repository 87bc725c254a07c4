/*
 * browse_cache.c - the bounded, shared cache of browse.c (browse_cache.h):
 * a chained hash table by chunk ID and a least-recently-used list.
 */
#include <stdlib.h>
#include <string.h>

#include "common/idset.h"
#include "ops/browse/browse_cache.h"

struct vlt_browse_entry {
    uint8_t id[CHUNK_ID_BYTES];
    void *value;
    size_t cost;
    unsigned holders;             /* gets not yet put back */
    vlt_browse_entry *chain;      /* next in its bucket */
    vlt_browse_entry *prev, *next; /* LRU list, oldest first */
};

void vlt_browse_cache_init(vlt_browse_cache *c, size_t budget,
                           void (*free_value)(void *value))
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    c->budget = budget;
    c->free_value = free_value;
}

static vlt_browse_entry **slot_of(vlt_browse_cache *c,
                                  const uint8_t id[CHUNK_ID_BYTES])
{
    if (!c->n_buckets)
        return NULL;
    vlt_browse_entry **p = &c->buckets[vlt_id_hash(id) & (c->n_buckets - 1)];
    while (*p && memcmp((*p)->id, id, CHUNK_ID_BYTES) != 0)
        p = &(*p)->chain;
    return p;
}

static void lru_unlink(vlt_browse_cache *c, vlt_browse_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->lru_head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->lru_tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_append(vlt_browse_cache *c, vlt_browse_entry *e)
{
    e->prev = c->lru_tail;
    e->next = NULL;
    if (c->lru_tail)
        c->lru_tail->next = e;
    else
        c->lru_head = e;
    c->lru_tail = e;
}

static void entry_drop(vlt_browse_cache *c, vlt_browse_entry *e)
{
    vlt_browse_entry **p = slot_of(c, e->id);
    *p = e->chain;
    lru_unlink(c, e);
    c->bytes -= e->cost;
    c->n_entries--;
    c->free_value(e->value);
    free(e);
}

/* Frees the oldest entries nobody holds until the budget is met. */
static void evict(vlt_browse_cache *c)
{
    vlt_browse_entry *e = c->lru_head;
    while (e && c->bytes > c->budget) {
        vlt_browse_entry *next = e->next;
        if (!e->holders)
            entry_drop(c, e);
        e = next;
    }
}

/* Doubles the table when it is as full as it has buckets; on failure the
 * chains just grow longer. */
static void grow(vlt_browse_cache *c)
{
    if (c->n_entries < c->n_buckets)
        return;
    size_t n = c->n_buckets ? c->n_buckets * 2 : 64;
    vlt_browse_entry **b = calloc(n, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < c->n_buckets; i++) {
        vlt_browse_entry *e = c->buckets[i];
        while (e) {
            vlt_browse_entry *next = e->chain;
            size_t h = vlt_id_hash(e->id) & (n - 1);
            e->chain = b[h];
            b[h] = e;
            e = next;
        }
    }
    free(c->buckets);
    c->buckets = b;
    c->n_buckets = n;
}

void *vlt_browse_cache_get(vlt_browse_cache *c,
                           const uint8_t id[CHUNK_ID_BYTES])
{
    pthread_mutex_lock(&c->lock);
    vlt_browse_entry **p = slot_of(c, id);
    void *value = NULL;
    if (p && *p) {
        vlt_browse_entry *e = *p;
        e->holders++;
        lru_unlink(c, e);
        lru_append(c, e);
        value = e->value;
    }
    pthread_mutex_unlock(&c->lock);
    return value;
}

void *vlt_browse_cache_add(vlt_browse_cache *c,
                           const uint8_t id[CHUNK_ID_BYTES], void *value,
                           size_t cost)
{
    pthread_mutex_lock(&c->lock);
    vlt_browse_entry **p = slot_of(c, id);
    if (p && *p) { /* another thread loaded it first */
        (*p)->holders++;
        void *kept = (*p)->value;
        pthread_mutex_unlock(&c->lock);
        c->free_value(value);
        return kept;
    }
    vlt_browse_entry *e = calloc(1, sizeof *e);
    if (!e) {
        pthread_mutex_unlock(&c->lock);
        c->free_value(value);
        return NULL;
    }
    grow(c);
    memcpy(e->id, id, CHUNK_ID_BYTES);
    e->value = value;
    e->cost = cost;
    e->holders = 1;
    p = slot_of(c, id);
    if (!p) { /* no table at all: nothing can be kept */
        pthread_mutex_unlock(&c->lock);
        free(e);
        c->free_value(value);
        return NULL;
    }
    *p = e;
    lru_append(c, e);
    c->bytes += cost;
    c->n_entries++;
    evict(c);
    pthread_mutex_unlock(&c->lock);
    return value;
}

void vlt_browse_cache_put(vlt_browse_cache *c,
                          const uint8_t id[CHUNK_ID_BYTES])
{
    pthread_mutex_lock(&c->lock);
    vlt_browse_entry **p = slot_of(c, id);
    if (p && *p && (*p)->holders) {
        (*p)->holders--;
        evict(c);
    }
    pthread_mutex_unlock(&c->lock);
}

size_t vlt_browse_cache_bytes(vlt_browse_cache *c)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->bytes;
    pthread_mutex_unlock(&c->lock);
    return n;
}

void vlt_browse_cache_destroy(vlt_browse_cache *c)
{
    while (c->lru_head)
        entry_drop(c, c->lru_head);
    free(c->buckets);
    pthread_mutex_destroy(&c->lock);
    memset(c, 0, sizeof *c);
}
