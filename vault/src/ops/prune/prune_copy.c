/*
 * prune_copy.c - `prune` (prune.c) copies the blobs still needed out of
 * packs it deletes into new packs, and indexes the copies.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zstd.h>

#include "common/array.h"
#include "ops/prune/prune_internal.h"

#define COPY_LEVEL 3 /* zstd level for blobs that were compressed */

vault_error vlt_prune_segbuild_add(segbuild *b, const uint8_t pack_id[32],
                                   const pack_entry *e)
{
    if (b->n_packs == 0 ||
        memcmp(b->pack_ids + 32 * (b->n_packs - 1), pack_id, 32) != 0) {
        /* starts holds one more than pack_ids: the end of the last. */
        if (vlt_array_reserve(&b->pack_ids, &b->cap_ids, 32 * (b->n_packs + 1),
                              1) != 0 ||
            VLT_ARRAY_GROW(&b->starts, &b->cap_starts, b->n_packs + 2) != 0)
            return vlt_fail(VAULT_E_NOMEM, "prune: out of memory");
        b->starts[b->n_packs] = b->n_entries;
        memcpy(b->pack_ids + 32 * b->n_packs++, pack_id, 32);
    }
    if (VLT_ARRAY_GROW(&b->entries, &b->cap_entries, b->n_entries + 1) != 0)
        return vlt_fail(VAULT_E_NOMEM, "prune: out of memory");
    b->entries[b->n_entries++] = *e;
    b->starts[b->n_packs] = b->n_entries;
    return VAULT_OK;
}

/* Saves the entries gathered as one index segment (none: nothing). */
vault_error vlt_prune_segbuild_save(segbuild *b, vault_t *v)
{
    if (b->n_packs == 0)
        return VAULT_OK;
    vault_error rc = vlt_index_segment_save(v->be, v->keys, b->pack_ids,
                                            b->n_packs, b->starts, b->entries);
    b->n_packs = 0;
    b->n_entries = 0;
    return rc;
}

void vlt_prune_segbuild_free(segbuild *b)
{
    free(b->pack_ids);
    free(b->starts);
    free(b->entries);
    memset(b, 0, sizeof *b);
}


static vault_error copier_finish_pack(copier *c)
{
    if (!c->open)
        return VAULT_OK;
    c->open = 0;
    uint8_t id[32];
    vault_error rc = vlt_pack_writer_finish(&c->pw, c->v->be, id);
    for (size_t i = 0; i < c->pw.n_entries && rc == VAULT_OK; i++)
        rc = vlt_prune_segbuild_add(&c->seg, id, &c->pw.entries[i]);
    if (rc == VAULT_OK) {
        c->r->packs_written++;
        c->r->bytes_written += c->pw.len_saved;
    }
    if (rc == VAULT_OK && c->seg.n_entries >= INDEX_SEGMENT_ENTRIES)
        rc = vlt_prune_segbuild_save(&c->seg, c->v);
    return rc;
}

/* Saves the last pack, then the segment listing the new packs: after
 * this the copies are as good as the originals. */
vault_error vlt_prune_copier_flush(copier *c)
{
    vault_error rc = copier_finish_pack(c);
    if (rc == VAULT_OK)
        rc = vlt_prune_segbuild_save(&c->seg, c->v);
    return rc;
}

void vlt_prune_copier_free(copier *c)
{
    vlt_pack_writer_free(&c->pw);
    vlt_prune_segbuild_free(&c->seg);
}

/* Copies one blob (authenticated and checked against its chunk ID on the
 * way) from an existing pack into the pack being written. */
static vault_error copier_add(copier *c, const char *from,
                              const uint8_t key[SECRET_BYTES],
                              const pack_entry *e)
{
    vault_t *v = c->v;
    uint8_t *blob, *raw = NULL;
    size_t len;
    vault_error rc = backend_load(v->be, BACKEND_DATA, from, e->offset,
                                  e->length, e->length, &blob, &len);
    if (rc != VAULT_OK)
        return rc;
    rc = vlt_blob_open(v->keys, key, e, blob, len, NULL, &raw);
    free(blob);
    if (rc != VAULT_OK)
        return rc;
    const uint8_t *stored = raw;
    size_t stored_len = e->raw_len;
    uint8_t flags = 0;
    uint8_t *z = NULL;
    if (e->flags & BLOB_FLAG_ZSTD) {
        /* It compressed before; compress it again the same way. */
        size_t bound = ZSTD_compressBound(e->raw_len);
        z = malloc(bound);
        if (!z) {
            free(raw);
            return vlt_fail(VAULT_E_NOMEM, "prune: out of memory");
        }
        size_t zn = ZSTD_compress(z, bound, raw, e->raw_len, COPY_LEVEL);
        if (!ZSTD_isError(zn) && zn < e->raw_len) {
            stored = z;
            stored_len = zn;
            flags = BLOB_FLAG_ZSTD;
        }
    }
    if (!c->open) {
        rc = vlt_pack_writer_begin(&c->pw, v->keys);
        c->open = rc == VAULT_OK;
    }
    if (rc == VAULT_OK)
        rc = vlt_pack_writer_add(&c->pw, (blob_type)e->type, e->id, flags,
                                 stored, stored_len, e->raw_len);
    sodium_memzero(raw, e->raw_len);
    free(raw);
    free(z);
    if (rc == VAULT_OK && c->pw.len >= PACK_TARGET_BYTES)
        rc = copier_finish_pack(c);
    return rc;
}

/* The blobs of pack n whose counted copy it holds and that no earlier
 * call copied: copied, or with dry_run only counted.  *blobs and *bytes
 * count them. */
vault_error vlt_prune_copy_needed(pstate *s, copier *c, uint32_t n, int dry_run,
                                  uint64_t *blobs, uint64_t *bytes)
{
    char name[65];
    vlt_prune_pack_name(s, n, name);
    uint8_t key[SECRET_BYTES];
    int have_key = 0;
    vault_error rc = vlt_prune_chosen_by_pack(s);
    for (uint32_t i = s->pack_first ? s->pack_first[n] : 0;
         rc == VAULT_OK && i < s->pack_first[n + 1]; i++) {
        uint32_t slot = s->chosen_slots[i];
        if (s->slot_bits[slot] & REF_COPIED)
            continue;
        s->slot_bits[slot] |= REF_COPIED;
        pack_entry entry;
        vlt_index_slot_entry(&s->v->index,
                             vlt_index_slot_at(&s->v->index, slot), &entry);
        const pack_entry *e = &entry;
        (*blobs)++;
        *bytes += e->length;
        if (dry_run)
            continue;
        if (!have_key) {
            uint8_t *header;
            size_t len;
            rc = backend_load(s->v->be, BACKEND_DATA, name, 0,
                              PACK_HEADER_BYTES, PACK_HEADER_BYTES, &header,
                              &len);
            if (rc == VAULT_OK) {
                rc = vlt_pack_key_from_header(s->v->keys, header, len, key);
                free(header);
            }
            have_key = rc == VAULT_OK;
        }
        if (rc == VAULT_OK)
            rc = copier_add(c, name, key, e);
    }
    sodium_memzero(key, sizeof key);
    if (rc != VAULT_OK && rc != VAULT_E_NOMEM)
        rc = vlt_fail_context(rc, "prune: copying from data/%.2s/%s",
                              name, name);
    return rc;
}

