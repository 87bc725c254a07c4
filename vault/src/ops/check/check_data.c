/*
 * check_data.c - `check` step 7 (check.c): reading packs whole
 * (read_data, or a random subset of them).
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ops/check/check_internal.h"

/* --- 7: reading packs ------------------------------------------------------ */

static int entry_at_cmp(const void *key, const void *elem)
{
    uint32_t offset = *(const uint32_t *)key;
    const pack_entry *e = elem;
    return offset < e->offset ? -1 : offset > e->offset;
}

/* Decrypts and verifies every blob of a whole pack (readers). */
static vault_error read_blobs(checker *c, pack_rec *p, const uint8_t *buf,
                              size_t len, int *found)
{
    pack_entry *es = NULL;
    size_t n = 0;
    vault_error rc = vlt_pack_read_index(c->v->keys, buf, len, &es, &n);
    if (rc == VAULT_E_PERMISSION)
        return rc; /* sealed in an epoch this member does not hold */
    if (fatal(rc))
        return rc;
    if (rc != VAULT_OK) {
        (*found)++;
        p->whole = 1;
        vlt_check_pack_finding(p, "%s", vault_last_error());
        return VAULT_OK;
    }
    uint8_t key[SECRET_BYTES];
    rc = vlt_pack_key_from_header(c->v->keys, buf, len, key);
    qsort(es, n, sizeof *es, vlt_check_entry_offset_cmp);
    /* The segments' entries must be the pack's own. */
    for (size_t i = 0; rc == VAULT_OK && i < p->n_entries; i++) {
        const pack_entry *want = &p->entries[i];
        const pack_entry *got =
            bsearch(&want->offset, es, n, sizeof *es, entry_at_cmp);
        if (!got || !vlt_check_entry_same(got, want)) {
            (*found)++;
            rc = vlt_check_blob_finding(
                p, want->id, "blob",
                "the index places it where the pack's own "
                "index does not");
        }
    }
    ZSTD_DCtx *dctx = ZSTD_createDCtx(); /* NULL: vlt_blob_open makes them */
    for (size_t i = 0; rc == VAULT_OK && i < n; i++) {
        uint8_t *plain = NULL;
        rc = vlt_blob_open(c->v->keys, key, &es[i], buf + es[i].offset,
                           es[i].length, dctx, &plain);
        free(plain);
        if (fatal(rc))
            break;
        if (rc != VAULT_OK) {
            (*found)++;
            rc =
                vlt_check_blob_finding(p, es[i].id, "blob", vault_last_error());
        } else {
            c->r->blobs_read++;
        }
    }
    ZSTD_freeDCtx(dctx);
    sodium_memzero(key, sizeof key);
    free(es);
    return rc;
}

static vault_error read_pack(checker *c, pack_rec *p)
{
    if (p->key_state == 2 && p->whole && p->size == 0)
        return VAULT_OK; /* missing: said so already */
    uint8_t *buf;
    size_t len;
    vault_error rc = backend_load(c->v->be, BACKEND_DATA, p->name, 0, 0,
                                  PACK_MAX_BYTES, &buf, &len);
    if (fatal(rc))
        return rc;
    if (rc != VAULT_OK) {
        p->whole = 1;
        vlt_check_pack_finding(
            p, "%s", vlt_check_after_label(vault_last_error(), p->label));
        return VAULT_OK;
    }
    c->r->packs_read++;
    vlt_progress_add(&c->v->progress, 1, len);
    char actual[65];
    vlt_object_name(buf, len, actual);
    int hash_bad = strcmp(actual, p->name) != 0;
    if (hash_bad)
        vlt_check_pack_finding(p, "content does not match its name");
    int found = 0, opened = 0;
    if (c->can_read) {
        rc = read_blobs(c, p, buf, len, &found);
        if (rc == VAULT_E_PERMISSION) {
            c->r->skipped_objects++;
            c->r->skipped |= VAULT_CHECK_SKIPPED_EPOCHS;
            rc = VAULT_OK;
        } else {
            opened = 1;
        }
    }
    /* Damage no finer check pins down makes the whole pack suspect. */
    if (hash_bad && (!opened || !found))
        p->whole = 1;
    free(buf);
    return rc;
}

static int pick_cmp(const void *x, const void *y)
{
    const uint64_t *a = x, *b = y;
    return a[0] < b[0] ? -1 : a[0] > b[0];
}

vault_error vlt_check_read_packs(checker *c)
{
    size_t n = c->n_packs;
    if (!n)
        return VAULT_OK;
    if (c->o->read_data) {
        uint64_t bytes = 0;
        for (size_t i = 0; i < n; i++)
            bytes += c->packs[i].size;
        vlt_progress_total(&c->v->progress, n, bytes, 1);
        for (size_t i = 0; i < n; i++) {
            vlt_progress_current(&c->v->progress, c->packs[i].label);
            vault_error rc = read_pack(c, &c->packs[i]);
            if (rc != VAULT_OK)
                return rc;
        }
        return VAULT_OK;
    }
    /* A subset: the packs ordered by a keyed hash of their IDs. */
    double want = (double)n * c->o->read_data_percent / 100.0;
    size_t k = (size_t)want;
    if ((double)k < want)
        k++;
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    uint64_t(*order)[2] = calloc(n, sizeof *order);
    if (!order)
        return nomem();
    uint8_t seed[crypto_generichash_KEYBYTES] = {0};
    store_le64(seed, c->r->seed);
    for (size_t i = 0; i < n; i++) {
        uint8_t h[8];
        crypto_generichash(h, sizeof h, c->packs[i].id, 32, seed,
                           sizeof seed);
        order[i][0] = load_le64(h);
        order[i][1] = i;
    }
    qsort(order, n, sizeof *order, pick_cmp);
    uint64_t bytes = 0;
    for (size_t i = 0; i < k; i++)
        bytes += c->packs[order[i][1]].size;
    vlt_progress_total(&c->v->progress, k, bytes, 1);
    vault_error rc = VAULT_OK;
    for (size_t i = 0; i < k && rc == VAULT_OK; i++) {
        vlt_progress_current(&c->v->progress, c->packs[order[i][1]].label);
        rc = read_pack(c, &c->packs[order[i][1]]);
    }
    free(order);
    return rc;
}

