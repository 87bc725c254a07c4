/*
 * membership.c - the membership log (format.md §5.2-5.3): which records of
 * keys/ form the chain from the founding record, and the standing of
 * signing keys by its last record.
 *
 * A record counts only when it opens with its epoch's write key, parses
 * canonically, carries its signer's signature, and follows the chain:
 * record 0 self-signed by an owner it lists whose key and salt hash to
 * the vault ID (only the founder can make it), record n signed by an owner
 * of record n-1 and naming it, keeping or advancing the epoch by one.
 * Anything else is reported by name and ignored, so a writer (who knows
 * the write key) can write records but never one that counts.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/internal.h"
#include "format/pack.h"
#include "repo/membership.h"

static author_standing standing_of_role(member_role r)
{
    switch (r) {
    case ROLE_OWNER: return AUTHOR_OWNER;
    case ROLE_READER: return AUTHOR_READER;
    case ROLE_WRITER: return AUTHOR_WRITER;
    }
    return AUTHOR_UNKNOWN;
}

static const member_entry *entry_in(const member_entry *e, size_t n,
                                    const uint8_t sign_pk[SIGN_PUBLIC_BYTES])
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(e[i].sign_pk, sign_pk, SIGN_PUBLIC_BYTES) == 0)
            return &e[i];
    return NULL;
}

const member_entry *vlt_membership_find(const membership *m,
                                        const uint8_t sign_pk[SIGN_PUBLIC_BYTES])
{
    if (!m)
        return NULL;
    const member_entry *e = entry_in(m->members, m->n_members, sign_pk);
    return e ? e : entry_in(m->former, m->n_former, sign_pk);
}

author_standing vlt_membership_standing(const membership *m,
                                        const uint8_t sign_pk[SIGN_PUBLIC_BYTES])
{
    if (!m)
        return AUTHOR_UNKNOWN;
    const member_entry *e = entry_in(m->members, m->n_members, sign_pk);
    if (e)
        return standing_of_role(e->role);
    return entry_in(m->former, m->n_former, sign_pk) ? AUTHOR_FORMER
                                                     : AUTHOR_UNKNOWN;
}

const char *vlt_author_standing_name(author_standing s)
{
    switch (s) {
    case AUTHOR_OWNER: return "owner";
    case AUTHOR_READER: return "reader";
    case AUTHOR_WRITER: return "writer";
    case AUTHOR_FORMER: return "former member";
    case AUTHOR_UNKNOWN: break;
    }
    return "not a member";
}

void vlt_membership_free(membership *m)
{
    if (!m)
        return;
    vlt_member_entries_free(m->members, m->n_members);
    vlt_member_entries_free(m->former, m->n_former);
    free(m->epoch_pk);
    free(m->epoch_write_key_id);
    free(m);
}

void vlt_keys_objects_free(keys_object *objs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(objs[i].data);
    free(objs);
}

/* The loads of the listed keys/ objects, run at once on remote storage:
 * opening a vault needs every envelope and membership record, and one
 * after the other each costs a round trip (two for a new vault's owner
 * and founding record, one more per share).  Each load's outcome and
 * detail are kept for the caller to judge in name order, as if it had
 * loaded them itself. */
typedef struct keys_fetch {
    backend *be;
    const name_list *names;
    keys_object *objs;  /* by name index; data NULL until loaded */
    vault_error *rcs;   /* each load's outcome */
    char (*details)[256]; /* each failure's detail */
    atomic_size_t next; /* the next name to load */
} keys_fetch;

static void keys_fetch_one(keys_fetch *f, size_t i)
{
    keys_object *o = &f->objs[i];
    vault_error rc = backend_load(f->be, BACKEND_KEYS, f->names->names[i], 0,
                                  0, MEMBERS_MAX_BYTES + 64, &o->data,
                                  &o->len);
    if (rc == VAULT_OK)
        rc = vlt_object_check_name(BACKEND_KEYS, f->names->names[i], o->data,
                                   o->len);
    f->rcs[i] = rc;
    if (rc != VAULT_OK)
        snprintf(f->details[i], sizeof f->details[i], "%s",
                 vault_last_error());
}

static void *keys_fetch_main(void *arg)
{
    keys_fetch *f = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&f->next, 1);
        if (i >= f->names->n)
            return NULL;
        keys_fetch_one(f, i);
    }
}

/* Loads every listed object into objs, on up to the backend's
 * connections at once when storage is remote. */
static void keys_fetch_all(backend *be, const name_list *names,
                           keys_object *objs, vault_error *rcs,
                           char (*details)[256])
{
    keys_fetch f = {.be = be, .names = names, .objs = objs, .rcs = rcs,
                    .details = details};
    atomic_init(&f.next, 0);
    size_t threads = be->is_local ? 0 : backend_connections(be);
    if (threads > names->n)
        threads = names->n;
    pthread_t tid[64];
    if (threads > sizeof tid / sizeof tid[0])
        threads = sizeof tid / sizeof tid[0];
    size_t started = 0;
    /* one load stays on this thread: a lone object needs no other */
    while (started + 1 < threads &&
           pthread_create(&tid[started], NULL, keys_fetch_main, &f) == 0)
        started++;
    keys_fetch_main(&f);
    for (size_t t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
}

vault_error vlt_keys_objects_load(backend *be, keys_object **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    name_list names;
    vault_error rc = vlt_backend_list_names(be, BACKEND_KEYS, &names);
    if (rc != VAULT_OK)
        return rc;
    size_t count = names.n ? names.n : 1;
    keys_object *objs = calloc(count, sizeof *objs);
    keys_object *loaded = calloc(count, sizeof *loaded);
    vault_error *rcs = calloc(count, sizeof *rcs);
    char(*details)[256] = calloc(count, sizeof *details);
    if (!objs || !loaded || !rcs || !details) {
        free(objs);
        free(loaded);
        free(rcs);
        free(details);
        free(names.names);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    keys_fetch_all(be, &names, loaded, rcs, details);
    size_t n = 0;
    for (size_t i = 0; i < names.n && rc == VAULT_OK; i++) {
        keys_object *o = &objs[n];
        *o = loaded[i];
        loaded[i].data = NULL;
        rc = rcs[i];
        if (rc != VAULT_OK) /* the detail, as on the thread that failed */
            rc = vlt_fail(rc, "%s", details[i]);
        if (rc == VAULT_E_NOT_FOUND) { /* removed since listed */
            free(o->data);
            o->data = NULL;
            rc = VAULT_OK;
            continue;
        }
        if (rc == VAULT_E_IO || vlt_error_stops(rc) ||
            vault_error_is_transient(rc)) {
            free(o->data);
            o->data = NULL;
            break; /* the storage failed, not the object */
        }
        if (rc != VAULT_OK) {
            vlt_warn("keys/%s: %s; ignored", names.names[i],
                     vault_last_error());
            free(o->data);
            o->data = NULL;
            rc = VAULT_OK;
            continue;
        }
        memcpy(o->name, names.names[i], 65);
        n++;
    }
    for (size_t i = 0; i < names.n; i++)
        free(loaded[i].data);
    free(loaded);
    free(rcs);
    free(details);
    free(names.names);
    if (rc != VAULT_OK) {
        vlt_keys_objects_free(objs, n);
        return vlt_fail_context(rc, "keys/");
    }
    *out = objs;
    *n_out = n;
    return VAULT_OK;
}

/* A record that opened, parsed and carries its signer's signature. */
typedef struct parsed_record {
    const char *name; /* hex, the object's */
    uint8_t raw_name[32];
    membership_record rec;
    int in_chain;
} parsed_record;

/* Opens and checks one stored record: 1 when it is usable, 2 when no key
 * of its epoch is at hand (*epoch_out says which), 0 when it is damaged
 * or forged (reported). */
static int parse_record(const keys_object *o,
                        const uint8_t vault_id[VAULT_ID_BYTES],
                        const envelope_epoch *keys, size_t n_keys,
                        parsed_record *out, uint32_t *epoch_out)
{
    uint32_t epoch;
    if (vlt_membership_record_epoch(o->data, o->len, &epoch) != VAULT_OK)
        return 0;
    *epoch_out = epoch;
    uint8_t *body = NULL;
    size_t body_len = 0;
    int have_key = 0;
    for (size_t k = 0; k < n_keys && !body; k++) {
        if (keys[k].number != epoch)
            continue;
        have_key = 1;
        if (vlt_membership_record_open(keys[k].keys.write_key, o->data,
                                       o->len, &body, &body_len) != VAULT_OK)
            body = NULL;
    }
    if (!body && !have_key)
        return 2;
    if (!body) {
        vlt_warn("keys/%s: membership record does not open with key "
                 "epoch %" PRIu32 "'s write key (damaged or forged); "
                 "ignored", o->name, epoch);
        return 0;
    }
    vault_error rc = vlt_membership_record_decode(body, body_len, &out->rec);
    if (rc != VAULT_OK) {
        vlt_warn("keys/%s: %s; ignored", o->name, vault_last_error());
        free(body);
        return 0;
    }
    rc = vlt_membership_record_verify(body, body_len, vault_id);
    free(body);
    if (rc != VAULT_OK || out->rec.epoch != epoch) {
        vlt_warn("keys/%s: membership record %" PRIu64 " has a bad "
                 "signature (forged or damaged); ignored",
                 o->name, out->rec.seq);
        vlt_membership_record_clear(&out->rec);
        return 0;
    }
    out->name = o->name;
    vlt_hex_decode(o->name, 64, out->raw_name, 32);
    return 1;
}

static int is_owner_in(const membership_record *r,
                       const uint8_t sign_pk[SIGN_PUBLIC_BYTES])
{
    const member_entry *e = entry_in(r->members, r->n_members, sign_pk);
    return e && e->role == ROLE_OWNER;
}

/* Does r follow prev (NULL: is r this vault's founding record)? */
static int follows(const parsed_record *r, const parsed_record *prev,
                   const uint8_t vault_id[VAULT_ID_BYTES])
{
    const membership_record *c = &r->rec;
    if (!prev) {
        uint8_t id[VAULT_ID_BYTES];
        vlt_vault_id_of(c->signer, c->previous, id);
        return c->seq == 0 && c->epoch == 0 && is_owner_in(c, c->signer) &&
               memcmp(id, vault_id, VAULT_ID_BYTES) == 0;
    }
    const membership_record *p = &prev->rec;
    if (c->seq != p->seq + 1 || memcmp(c->previous, prev->raw_name, 32) != 0 ||
        !is_owner_in(p, c->signer) ||
        memcmp(c->dedup_id, p->dedup_id, 32) != 0)
        return 0;
    if (c->epoch == p->epoch)
        return memcmp(c->epoch_pk, p->epoch_pk, 32) == 0 &&
               memcmp(c->write_key_id, p->write_key_id, 32) == 0;
    return p->epoch < UINT32_MAX && c->epoch == p->epoch + 1;
}

static vault_error result_of(parsed_record *const *chain, size_t n,
                             membership **out)
{
    const membership_record *last = &chain[n - 1]->rec;
    membership *m = calloc(1, sizeof *m);
    if (!m)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    m->seq = last->seq;
    memcpy(m->last_name, chain[n - 1]->raw_name, 32);
    m->epoch = last->epoch;
    memcpy(m->founder_pk, chain[0]->rec.signer, SIGN_PUBLIC_BYTES);
    memcpy(m->dedup_id, last->dedup_id, 32);
    m->members = calloc(last->n_members, sizeof *m->members);
    m->epoch_pk = calloc((size_t)last->epoch + 1, sizeof *m->epoch_pk);
    m->epoch_write_key_id =
        calloc((size_t)last->epoch + 1, sizeof *m->epoch_write_key_id);
    /* Former members: at most every entry of every earlier record. */
    size_t former_cap = 0;
    for (size_t i = 0; i + 1 < n; i++)
        former_cap += chain[i]->rec.n_members;
    m->former = calloc(former_cap ? former_cap : 1, sizeof *m->former);
    vault_error rc = VAULT_OK;
    if (!m->members || !m->epoch_pk || !m->epoch_write_key_id || !m->former)
        rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
    for (uint32_t i = 0; i < last->n_members && rc == VAULT_OK; i++) {
        rc = vlt_member_entry_copy(&m->members[i], &last->members[i]);
        if (rc == VAULT_OK)
            m->n_members++;
    }
    for (size_t i = 0; i < n && rc == VAULT_OK; i++) {
        /* The first record of each epoch fixes its keys. */
        const membership_record *r = &chain[i]->rec;
        if (i == 0 || r->epoch != chain[i - 1]->rec.epoch) {
            memcpy(m->epoch_pk[r->epoch], r->epoch_pk, 32);
            memcpy(m->epoch_write_key_id[r->epoch], r->write_key_id, 32);
        }
    }
    /* Newest first, so a former member shows its last recipient. */
    for (size_t i = n - 1; i-- > 0 && rc == VAULT_OK;) {
        const membership_record *r = &chain[i]->rec;
        for (uint32_t j = 0; j < r->n_members && rc == VAULT_OK; j++) {
            const uint8_t *pk = r->members[j].sign_pk;
            if (vlt_membership_find(m, pk))
                continue;
            rc = vlt_member_entry_copy(&m->former[m->n_former], &r->members[j]);
            if (rc == VAULT_OK)
                m->n_former++;
        }
    }
    if (rc != VAULT_OK) {
        vlt_membership_free(m);
        return rc;
    }
    *out = m;
    return VAULT_OK;
}

vault_error vlt_membership_build(const keys_object *objs, size_t n_objs,
                                 const uint8_t vault_id[VAULT_ID_BYTES],
                                 const envelope_epoch *keys, size_t n_keys,
                                 membership **out)
{
    *out = NULL;
    parsed_record *recs = calloc(n_objs ? n_objs : 1, sizeof *recs);
    parsed_record **chain = calloc(n_objs ? n_objs : 1, sizeof *chain);
    if (!recs || !chain) {
        free(recs);
        free(chain);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    size_t n = 0;
    /* The newest epoch of a record no key opens, and that record. */
    const char *closed = NULL;
    uint32_t closed_epoch = 0;
    for (size_t i = 0; i < n_objs; i++) {
        if (objs[i].len < 8 || memcmp(objs[i].data, MEMBERS_MAGIC, 8) != 0)
            continue;
        uint32_t epoch = 0;
        int got = parse_record(&objs[i], vault_id, keys, n_keys, &recs[n],
                               &epoch);
        if (got == 1)
            n++;
        if (got == 2 && (!closed || epoch > closed_epoch)) {
            closed = objs[i].name;
            closed_epoch = epoch;
        }
    }
    size_t len = 0;
    vault_error rc = VAULT_OK;
    for (;;) {
        parsed_record *next = NULL;
        for (size_t i = 0; i < n && rc == VAULT_OK; i++) {
            if (!follows(&recs[i], len ? chain[len - 1] : NULL, vault_id))
                continue;
            if (next) {
                const char *a = strcmp(next->name, recs[i].name) < 0
                                    ? next->name : recs[i].name;
                const char *b = a == next->name ? recs[i].name : next->name;
                rc = vlt_fail(VAULT_E_CORRUPT,
                              "membership log forked at record %" PRIu64
                              ": keys/%s and keys/%s; a former owner or "
                              "storage is attacking the vault",
                              recs[i].rec.seq, a, b);
            }
            next = &recs[i];
        }
        if (rc != VAULT_OK || !next)
            break;
        next->in_chain = 1;
        chain[len++] = next;
    }
    if (rc == VAULT_OK && len == 0)
        rc = vlt_fail(VAULT_E_CORRUPT,
                      "no founding membership record in keys/ that this "
                      "member can read (damaged, or not a version 2 vault)");
    /* A record of a later epoch than the log reaches, and no key for it:
     * the log goes on where this member cannot follow.  Opening on the
     * part it can read would seal new data in an epoch removed members
     * hold, so it is refused.  (A record sealed in an epoch the log
     * already passed is old history: ignored.) */
    if (rc == VAULT_OK && closed && closed_epoch > chain[len - 1]->rec.epoch)
        rc = vlt_fail(VAULT_E_PERMISSION,
                      "keys/%s: membership record sealed in key epoch "
                      "%" PRIu32 ", which no envelope sealed to this member "
                      "holds (removed from the vault, or its envelope for "
                      "key epoch %" PRIu32 " is missing)",
                      closed, closed_epoch, closed_epoch);
    else if (closed)
        vlt_warn("keys/%s: membership record sealed in key epoch %" PRIu32
                 ", which this member does not hold; ignored",
                 closed, closed_epoch);
    if (rc == VAULT_OK) {
        uint64_t last_seq = chain[len - 1]->rec.seq;
        for (size_t i = 0; i < n; i++) {
            if (recs[i].in_chain)
                continue;
            if (recs[i].rec.seq > last_seq + 1)
                vlt_warn("keys/%s: membership record %" PRIu64 " does not "
                         "follow the log, which ends at record %" PRIu64
                         " (a gap); ignored",
                         recs[i].name, recs[i].rec.seq, last_seq);
            else
                vlt_warn("keys/%s: membership record %" PRIu64 " is not "
                         "signed by an owner of the record before it or "
                         "does not follow it (forged); ignored",
                         recs[i].name, recs[i].rec.seq);
        }
        rc = result_of(chain, len, out);
    }
    for (size_t i = 0; i < n; i++)
        vlt_membership_record_clear(&recs[i].rec);
    free(recs);
    free(chain);
    return rc;
}

vault_error vlt_membership_append(backend *be,
                                  const uint8_t vault_id[VAULT_ID_BYTES],
                                  const uint8_t write_key[SECRET_BYTES],
                                  membership_record *r,
                                  const uint8_t sign_sk[SIGN_SECRET_BYTES],
                                  char name_out[65])
{
    uint8_t *body = NULL, *file = NULL;
    size_t body_len, file_len;
    vault_error rc = vlt_membership_record_sign(r, vault_id, sign_sk, &body,
                                                &body_len);
    if (rc == VAULT_OK)
        rc = vlt_membership_record_seal(write_key, r->epoch, body, body_len,
                                        &file, &file_len);
    free(body);
    if (rc != VAULT_OK)
        return rc;
    rc = vlt_keys_object_save(be, file, file_len, name_out);
    free(file);
    if (rc != VAULT_OK)
        return vlt_fail_context(rc, "membership record %" PRIu64, r->seq);
    return VAULT_OK;
}

vault_error vlt_keys_object_save(backend *be, const uint8_t *data, size_t len,
                                 char name_out[65])
{
    char name[65];
    vlt_object_name(data, len, name);
    vault_error rc = backend_save(be, BACKEND_KEYS, name, data, len);
    if (rc == VAULT_OK && name_out)
        memcpy(name_out, name, 65);
    return rc;
}
