/*
 * idset.c - sets of 32-byte IDs (idset.h): an array of the IDs in
 * insertion order and an open-addressing table (linear probing) of their
 * numbers, hashed with SipHash under a per-process key.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/array.h"
#include "common/idset.h"
#include "common/internal.h"

static uint8_t hash_key[crypto_shorthash_KEYBYTES];
static pthread_once_t hash_key_once = PTHREAD_ONCE_INIT;

static void hash_key_init(void)
{
    randombytes_buf(hash_key, sizeof hash_key);
}

size_t vlt_id_hash(const uint8_t id[VLT_ID_BYTES])
{
    pthread_once(&hash_key_once, hash_key_init);
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, id, VLT_ID_BYTES, hash_key);
    return (size_t)load_le64(h);
}

/* Where id is, or the empty slot where it would go. */
static size_t probe(const vlt_idset *set, const uint8_t id[VLT_ID_BYTES],
                    size_t hash)
{
    size_t mask = set->table_size - 1;
    size_t h = hash & mask;
    for (;;) {
        uint32_t v = set->table[h];
        if (!v || memcmp(set->ids[v - 1], id, VLT_ID_BYTES) == 0)
            return h;
        h = (h + 1) & mask;
    }
}

int vlt_idset_find(const vlt_idset *set, const uint8_t id[VLT_ID_BYTES],
                   uint32_t *number)
{
    if (!set->table_size)
        return 0;
    uint32_t v = set->table[probe(set, id, vlt_id_hash(id))];
    if (!v)
        return 0;
    if (number)
        *number = v - 1;
    return 1;
}

/* Doubles the table (keeping the load at most 1/2 so probes stay short),
 * rehashing every ID. */
static vault_error table_grow(vlt_idset *set)
{
    size_t size = set->table_size ? set->table_size * 2 : 1024;
    if (size > SIZE_MAX / sizeof *set->table)
        return vlt_fail(VAULT_E_NOMEM, "ID set: out of memory");
    uint32_t *table = calloc(size, sizeof *table);
    if (!table)
        return vlt_fail(VAULT_E_NOMEM, "ID set: out of memory");
    for (size_t i = 0; i < set->n; i++) {
        size_t h = vlt_id_hash(set->ids[i]) & (size - 1);
        while (table[h])
            h = (h + 1) & (size - 1);
        table[h] = (uint32_t)i + 1;
    }
    free(set->table);
    set->table = table;
    set->table_size = size;
    return VAULT_OK;
}

vault_error vlt_idset_put(vlt_idset *set, const uint8_t id[VLT_ID_BYTES],
                          uint32_t *number, int *inserted)
{
    *inserted = 0;
    size_t hash = vlt_id_hash(id);
    if (set->table_size) {
        uint32_t v = set->table[probe(set, id, hash)];
        if (v) {
            *number = v - 1;
            return VAULT_OK;
        }
    }
    if (set->n >= UINT32_MAX - 1)
        return vlt_fail(VAULT_E_NOMEM, "ID set: too many IDs");
    if ((set->n + 1) * 2 > set->table_size) {
        vault_error rc = table_grow(set);
        if (rc != VAULT_OK)
            return rc;
    }
    if (VLT_ARRAY_GROW(&set->ids, &set->cap, set->n + 1) != 0)
        return vlt_fail(VAULT_E_NOMEM, "ID set: out of memory");
    memcpy(set->ids[set->n], id, VLT_ID_BYTES);
    set->table[probe(set, id, hash)] = (uint32_t)set->n + 1;
    *number = (uint32_t)set->n++;
    *inserted = 1;
    return VAULT_OK;
}

void vlt_idset_free(vlt_idset *set)
{
    free(set->ids);
    free(set->table);
    memset(set, 0, sizeof *set);
}
