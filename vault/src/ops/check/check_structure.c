/*
 * check_structure.c - `check` steps 1 to 4 (check.c): the config, the
 * envelopes in keys/, the index segments, and the packs they list in data/
 * (and those none lists).
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto/age/age.h"
#include "format/locks.h"
#include "format/membership_record.h"
#include "ops/check/check_internal.h"

/* --- 1, 2: config and envelopes ----------------------------------------- */

vault_error vlt_check_config(checker *c)
{
    uint8_t *config = NULL;
    size_t len = 0;
    vault_error rc = backend_load(c->v->be, BACKEND_CONFIG, "", 0, 0, 4096,
                                  &config, &len);
    if (rc == VAULT_OK)
        rc = vlt_config_verify(c->v->keys, config, len);
    free(config);
    if (fatal(rc))
        return rc;
    if (rc != VAULT_OK)
        vlt_check_emit_last(c, "config", NULL);
    return VAULT_OK;
}

/* A membership record: opens with its epoch's write key, parses, and
 * carries its signer's signature (whether it is in the log, opening
 * decided: a fork fails the open). */
static vault_error check_record(checker *c, const char *label,
                                const uint8_t *file, size_t len)
{
    const keyring *k = c->v->keys;
    uint32_t epoch;
    uint8_t *body = NULL;
    size_t body_len = 0;
    vault_error rc = vlt_membership_record_epoch(file, len, &epoch);
    if (rc == VAULT_OK && !vlt_keyring_epoch(k, epoch))
        rc = vlt_fail(VAULT_E_CORRUPT, "membership record sealed in key "
                      "epoch %u, which this member does not hold",
                      (unsigned)epoch);
    if (rc == VAULT_OK &&
        vlt_membership_record_open(vlt_keyring_epoch(k, epoch)->write_key,
                                   file, len, &body, &body_len) != VAULT_OK)
        rc = vlt_fail(VAULT_E_CORRUPT, "membership record does not open "
                                       "(damaged or forged)");
    membership_record r;
    if (rc == VAULT_OK)
        rc = vlt_membership_record_decode(body, body_len, &r);
    if (rc == VAULT_OK) {
        vlt_membership_record_clear(&r);
        if (vlt_membership_record_verify(body, body_len, k->vault_id) !=
            VAULT_OK)
            rc = vlt_fail(VAULT_E_CORRUPT, "membership record: bad "
                                           "signature (forged or damaged)");
    }
    free(body);
    if (fatal(rc))
        return rc;
    if (rc != VAULT_OK)
        vlt_check_emit_last(c, label, NULL);
    return VAULT_OK;
}

/* An envelope is sealed to its member alone: only its age header can be
 * checked by others; the membership log names the current ones. */
static vault_error check_keys_object(checker *c, const char *name)
{
    char label[BACKEND_LABEL_MAX];
    vlt_backend_label(BACKEND_KEYS, name, label);
    uint8_t *file = NULL, *plain = NULL;
    size_t len = 0, plain_len = 0;
    vault_error rc = backend_load(c->v->be, BACKEND_KEYS, name, 0, 0,
                                  MEMBERS_MAX_BYTES + 64, &file, &len);
    if (rc == VAULT_OK)
        rc = vlt_object_check_name(BACKEND_KEYS, name, file, len);
    if (rc == VAULT_OK && len >= 8 && memcmp(file, MEMBERS_MAGIC, 8) == 0) {
        rc = check_record(c, label, file, len);
        free(file);
        return rc;
    }
    if (rc == VAULT_OK) {
        rc = vlt_age_decrypt(NULL, 0, file, len, &plain, &plain_len);
        if (rc == VAULT_E_AGE_NO_MATCH)
            rc = VAULT_OK; /* the header parses: all others can know */
        else if (rc == VAULT_OK)
            rc = vlt_fail(VAULT_E_INTERNAL, "age opened without a key");
    }
    vlt_age_free_plaintext(plain, plain_len);
    free(file);
    if (fatal(rc))
        return rc;
    if (rc != VAULT_OK) {
        vlt_check_emit_last(c, label, NULL);
        return VAULT_OK;
    }
    c->r->envelopes++;
    return VAULT_OK;
}

vault_error vlt_check_envelopes(checker *c)
{
    const membership *m = c->v->members;
    vault_error rc = VAULT_OK;
    /* Every envelope the log lists for a current member is there. */
    for (size_t i = 0; i < m->n_members && rc == VAULT_OK; i++) {
        for (uint16_t j = 0; j < m->members[i].n_envelopes; j++) {
            char name[65], label[BACKEND_LABEL_MAX];
            vlt_hex_encode(m->members[i].envelopes[j], 32, name);
            vlt_backend_label(BACKEND_KEYS, name, label);
            uint64_t size;
            rc = backend_stat(c->v->be, BACKEND_KEYS, name, &size);
            if (rc == VAULT_E_NOT_FOUND) {
                char what[RECIPIENT_MAX + 64];
                snprintf(what, sizeof what, "missing: an envelope of %s",
                         m->members[i].recipient);
                rc = VAULT_OK;
                vlt_check_emit(c, 0, label, what, NULL);
            }
            if (rc != VAULT_OK)
                break;
        }
    }
    name_list names;
    if (rc == VAULT_OK)
        rc = vlt_backend_list_names(c->v->be, BACKEND_KEYS, &names);
    if (rc != VAULT_OK)
        return rc;
    for (size_t i = 0; i < names.n && rc == VAULT_OK; i++)
        rc = check_keys_object(c, names.names[i]);
    free(names.names);
    return rc;
}

/* --- 3: index segments ---------------------------------------------------- */

typedef struct segment_ctx {
    checker *c;
    const char *name;
    index_segment_info info;
    int flags; /* of its entries (vlt_repo_author_flags); -1 forged */
    int flags_known;
} segment_ctx;

/* The flags of the segment's entries, once its author is known. */
static int segment_flags(segment_ctx *s)
{
    if (!s->flags_known) {
        s->flags = vlt_repo_author_flags(s->c->v, s->info.author);
        s->flags_known = 1;
    }
    return s->flags;
}

static vault_error segment_forged(void)
{
    return vlt_fail(VAULT_E_CORRUPT,
                    "forged: its author is not a member of the vault; "
                    "its entries are ignored");
}

static vault_error segment_entry(void *ctx, const uint8_t pack_id[32],
                                 const pack_entry *e)
{
    segment_ctx *s = ctx;
    checker *c = s->c;
    if (segment_flags(s) < 0)
        return segment_forged();
    uint32_t n;
    int inserted;
    vault_error rc = vlt_idset_put(&c->packset, pack_id, &n, &inserted);
    if (rc != VAULT_OK)
        return rc;
    if (inserted) {
        rc = grow(&c->packs, &c->cap_packs, c->n_packs + 1);
        if (rc != VAULT_OK)
            return rc;
        assert(n == c->n_packs);
        pack_rec *p = &c->packs[c->n_packs++];
        memset(p, 0, sizeof *p);
        memcpy(p->id, pack_id, 32);
        vlt_hex_encode(pack_id, 32, p->name);
        vlt_backend_label(BACKEND_DATA, p->name, p->label);
        memcpy(p->segment, s->name, 65);
    }
    pack_rec *p = &c->packs[n];
    rc = grow(&p->entries, &p->cap_entries, p->n_entries + 1);
    if (rc != VAULT_OK)
        return rc;
    p->entries[p->n_entries++] = *e;
    return vlt_index_add(&c->ix, e->id, pack_id, e, (uint32_t)s->flags,
                         &inserted);
}

vault_error vlt_check_index(checker *c)
{
    name_list names;
    vault_error rc = vlt_backend_list_names(c->v->be, BACKEND_INDEX, &names);
    if (rc != VAULT_OK)
        return rc;
    for (size_t i = 0; i < names.n; i++) {
        segment_ctx s = {c, names.names[i], {0}, 0, 0};
        rc = vlt_index_segment_read(c->v->be, c->v->keys, names.names[i],
                                    segment_entry, &s, &s.info);
        int skipped = s.info.skipped;
        if (fatal(rc))
            break;
        /* an empty segment by a stranger is forged all the same */
        if (rc == VAULT_OK && !skipped && segment_flags(&s) < 0)
            rc = segment_forged();
        if (rc != VAULT_OK) {
            char label[BACKEND_LABEL_MAX];
            vlt_backend_label(BACKEND_INDEX, names.names[i], label);
            vlt_check_emit_last(c, label, NULL);
        } else if (skipped) {
            c->segments_skipped++;
            c->r->skipped_objects++;
            c->r->skipped |= VAULT_CHECK_SKIPPED_EPOCHS;
        } else {
            c->r->index_segments++;
        }
        rc = VAULT_OK;
    }
    free(names.names);
    return rc;
}

/* --- locks: their authors ------------------------------------------------ */

vault_error vlt_check_locks(checker *c)
{
    name_list names;
    vault_error rc = vlt_backend_list_names(c->v->be, BACKEND_LOCKS, &names);
    if (rc != VAULT_OK)
        return rc;
    for (size_t i = 0; i < names.n && rc == VAULT_OK; i++) {
        uint8_t *bytes = NULL;
        size_t len = 0;
        lock_record l;
        memset(&l, 0, sizeof l);
        vault_error one = backend_load(c->v->be, BACKEND_LOCKS,
                                       names.names[i], 0, 0, LOCK_MAX_BYTES,
                                       &bytes, &len);
        if (one == VAULT_OK)
            one = vlt_lock_parse(c->v->keys, names.names[i], bytes, len, &l);
        free(bytes);
        if (fatal(one)) {
            rc = one;
            break;
        }
        if (one != VAULT_OK) {
            free(l.packs);
            continue; /* gone, damaged or of a later epoch: prune's */
        }
        char label[BACKEND_LABEL_MAX];
        vlt_backend_label(BACKEND_LOCKS, names.names[i], label);
        author_standing st = vlt_membership_standing(c->v->members, l.author);
        if (st == AUTHOR_UNKNOWN)
            vlt_check_emit(c, 0, label,
                           "forged: its author is not a member of the vault",
                           NULL);
        else if (l.kind == LOCK_PRUNE_MARK && st != AUTHOR_OWNER) {
            char what[160];
            snprintf(what, sizeof what,
                     "prune mark by a %s, not an owner: prune ignores it",
                     vlt_author_standing_name(st));
            vlt_check_emit(c, 1, label, what, NULL);
        }
        free(l.packs);
    }
    free(names.names);
    return rc;
}

/* --- 4: packs exist ----------------------------------------------------- */

static int u32_cmp(uint32_t a, uint32_t b)
{
    return a < b ? -1 : a > b;
}

/* By offset, then by every field, so that equal entries end up adjacent. */
int vlt_check_entry_offset_cmp(const void *x, const void *y)
{
    const pack_entry *a = x, *b = y;
    int c = u32_cmp(a->offset, b->offset);
    if (!c)
        c = memcmp(a->id, b->id, CHUNK_ID_BYTES);
    if (!c)
        c = u32_cmp(a->length, b->length);
    if (!c)
        c = u32_cmp(a->raw_len, b->raw_len);
    if (!c)
        c = u32_cmp(a->type, b->type);
    if (!c)
        c = u32_cmp(a->flags, b->flags);
    return c;
}

int vlt_check_entry_same(const pack_entry *a, const pack_entry *b)
{
    return memcmp(a->id, b->id, CHUNK_ID_BYTES) == 0 && a->type == b->type &&
           a->flags == b->flags && a->offset == b->offset &&
           a->length == b->length && a->raw_len == b->raw_len;
}

vault_error vlt_check_pack_exists(checker *c, pack_rec *p)
{
    /* The same pack listed twice (by two segments) is one pack. */
    qsort(p->entries, p->n_entries, sizeof *p->entries,
          vlt_check_entry_offset_cmp);
    size_t k = 0;
    uint64_t end = PACK_HEADER_BYTES;
    int overlap = 0;
    for (size_t i = 0; i < p->n_entries; i++) {
        if (k && vlt_check_entry_same(&p->entries[i], &p->entries[k - 1]))
            continue;
        uint64_t e_end = (uint64_t)p->entries[i].offset + p->entries[i].length;
        if (p->entries[i].offset < end)
            overlap = 1;
        if (e_end > end)
            end = e_end;
        p->entries[k++] = p->entries[i];
    }
    p->n_entries = k;
    if (overlap) {
        p->whole = 1;
        vlt_check_pack_finding(
            p, "index segment %.16s lists blobs that overlap", p->segment);
    }
    uint64_t size = 0;
    vault_error rc = backend_stat(c->v->be, BACKEND_DATA, p->name, &size);
    if (fatal(rc))
        return rc;
    if (rc == VAULT_E_NOT_FOUND) {
        p->whole = 1;
        p->key_state = 2;
        vlt_check_pack_finding(
            p, "missing (index segment %.16s lists %zu blob%s in it)",
            p->segment, p->n_entries, p->n_entries == 1 ? "" : "s");
        return VAULT_OK;
    }
    if (rc != VAULT_OK) {
        p->whole = 1;
        p->key_state = 2;
        vlt_check_pack_finding(
            p, "%s", vlt_check_after_label(vault_last_error(), p->label));
        return VAULT_OK;
    }
    p->size = size;
    /* Blobs, then the trailer: nonce, count and an entry for each listed
     * blob at least, tag, and its length. */
    uint64_t least = end + AEAD_NONCE + 4 +
                     (uint64_t)p->n_entries * PACK_ENTRY_BYTES + AEAD_TAG + 4;
    if (size < least || size > PACK_MAX_BYTES) {
        p->whole = 1;
        p->key_state = 2;
        vlt_check_pack_finding(
            p,
            "%llu bytes: %s for the %zu blobs the index lists in it "
            "(needs at least %llu)",
            (unsigned long long)size,
            size > PACK_MAX_BYTES ? "over the limit" : "too short",
            p->n_entries, (unsigned long long)least);
    }
    return VAULT_OK;
}

static int collect_stray(void *ctx, const char *name, uint64_t size)
{
    (void)size;
    checker *c = ctx;
    uint8_t id[32];
    uint32_t n;
    if (vlt_hex_decode(name, 64, id, 32) == VAULT_OK &&
        vlt_idset_find(&c->packset, id, &n))
        return 0;
    if (grow(&c->strays, &c->cap_strays, c->n_strays + 1) != VAULT_OK)
        return 1;
    stray *u = &c->strays[c->n_strays++];
    memset(u, 0, sizeof *u);
    memcpy(u->name, name, 65);
    return 0;
}

static int stray_cmp(const void *a, const void *b)
{
    return strcmp(((const stray *)a)->name, ((const stray *)b)->name);
}

/* Lists the packs that no segment lists. */
vault_error vlt_check_list_strays(checker *c)
{
    int stopped = 0;
    vault_error rc =
        backend_list(c->v->be, BACKEND_DATA, collect_stray, c, &stopped);
    if (rc == VAULT_OK && stopped)
        rc = nomem();
    if (rc == VAULT_OK && c->n_strays)
        qsort(c->strays, c->n_strays, sizeof *c->strays, stray_cmp);
    return rc;
}

/* Reads the packs no segment lists when there is a reason to: with
 * read_data their names must match their content; and when snapshots
 * reference blobs no segment lists, a reader looks for them there (the
 * segment listing such a pack is lost or damaged).  found[node] is set
 * for each referenced blob found. */
vault_error vlt_check_scan_strays(checker *c, int look, uint8_t *found)
{
    vault_error rc = VAULT_OK;
    look = look && c->can_read;
    for (size_t i = 0; i < c->n_strays && (look || c->o->read_data); i++) {
        stray *u = &c->strays[i];
        uint8_t *buf;
        size_t len;
        rc = backend_load(c->v->be, BACKEND_DATA, u->name, 0, 0,
                          PACK_MAX_BYTES, &buf, &len);
        if (fatal(rc))
            return rc;
        if (rc != VAULT_OK) {
            u->damaged = 1;
            snprintf(u->detail, sizeof u->detail, "%s", vault_last_error());
            continue;
        }
        if (c->o->read_data) {
            c->r->packs_read++;
            if (vlt_object_check_name(BACKEND_DATA, u->name, buf, len) !=
                VAULT_OK) {
                u->damaged = 1;
                snprintf(u->detail, sizeof u->detail,
                         "content does not match its name");
            }
        }
        pack_entry *es = NULL;
        size_t n = 0;
        if (look && !u->damaged)
            rc = vlt_pack_read_index(c->v->keys, buf, len, &es, &n);
        free(buf);
        if (fatal(rc))
            return rc;
        for (size_t j = 0; rc == VAULT_OK && j < n; j++) {
            uint32_t num;
            if (!vlt_index_find(&c->ix, es[j].id) &&
                vlt_check_node_find(c, es[j].id, &num)) {
                u->holds++;
                found[num] = 1;
            }
        }
        free(es);
        rc = VAULT_OK;
    }
    return rc;
}

