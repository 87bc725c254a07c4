/*
 * test_membership.c - the membership log (repo/membership.c) and opening
 * by it (repo/repo.c), against members and storage that attack it
 * (format.md §5): a fork fails the open naming both records; a
 * writer signing a record that makes itself owner, a gap, a wrong
 * previous, a bad rotation are reported by name and ignored; planted
 * envelopes (an extra epoch; a writer's signing key sealed to the owner)
 * are ignored and the owner stays owner; roles come from the roster; a
 * removed member cannot write itself back in; a missing key epoch is
 * named.  (A log rolled back below the pinned seq: cli/test_pinning.sh,
 * the pin is the CLI's.)
 */
#include "vault_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto/age/age.h"

/* Warnings of the library, collected. */
static char warnings[16384];

static void collect(const char *message, void *ctx)
{
    (void)ctx;
    size_t n = strlen(warnings);
    snprintf(warnings + n, sizeof warnings - n, "%s\n", message);
}

static void warnings_reset(void)
{
    warnings[0] = '\0';
}

#define assert_warned(text)                                                  \
    do {                                                                     \
        if (!strstr(warnings, (text)))                                       \
            fail_msg("no warning with \"%s\"; got:\n%s", (text), warnings);  \
    } while (0)

static vault_t *open_as(fx *f, const vault_identity_t *id)
{
    vault_t *v = NULL;
    assert_vault_ok(vault_open(f->vault, id, &v));
    return v;
}

static vault_identity_t *new_member(fx *f, vault_role role)
{
    vault_identity_t *id;
    assert_vault_ok(vault_identity_generate(&id));
    assert_vault_ok(vault_share(f->v, vault_identity_recipient(id), role));
    return id;
}

/* Record seq+1 of v's log with its roster copied (one spare entry). */
static void next_of(const vault_t *v, membership_record *r)
{
    const membership *m = v->members;
    memset(r, 0, sizeof *r);
    r->seq = m->seq + 1;
    memcpy(r->previous, m->last_name, 32);
    r->epoch = m->epoch;
    memcpy(r->epoch_pk, m->epoch_pk[m->epoch], 32);
    memcpy(r->write_key_id, m->epoch_write_key_id[m->epoch], 32);
    memcpy(r->dedup_id, m->dedup_id, 32);
    r->time = 1700000000;
    r->members = xmalloc((m->n_members + 1) * sizeof *r->members);
    for (size_t i = 0; i < m->n_members; i++)
        assert_vault_ok(vlt_member_entry_copy(&r->members[i], &m->members[i]));
    r->n_members = (uint32_t)m->n_members;
}

static member_entry *entry_of(membership_record *r, const uint8_t pk[32])
{
    for (uint32_t i = 0; i < r->n_members; i++)
        if (memcmp(r->members[i].sign_pk, pk, 32) == 0)
            return &r->members[i];
    fail_msg("not in the record");
    return NULL;
}

/* Signs r with signer's key (as signer's keyring holds it), seals it with
 * the current write key of k, saves it; the name into name. */
static void plant(vault_t *v, const keyring *signer, membership_record *r,
                  char name[65])
{
    assert_vault_ok(vlt_membership_append(
        v->be, signer->vault_id, vlt_keyring_current(v->keys)->write_key, r,
        signer->sign_sk, name));
    vlt_membership_record_clear(r);
}

static void test_fork(void **state)
{
    fx *f = *state;
    membership_record a, b;
    char na[65], nb[65];
    next_of(f->v, &a);
    next_of(f->v, &b);
    b.time++; /* another record of the same seq, both by the owner */
    plant(f->v, f->v->keys, &a, na);
    plant(f->v, f->v->keys, &b, nb);
    vault_t *v = NULL;
    assert_vault_code(vault_open(f->vault, f->id, &v), VAULT_E_CORRUPT);
    const char *e = vault_last_error();
    assert_non_null(strstr(e, "membership log forked at record 1"));
    assert_non_null(strstr(e, na));
    assert_non_null(strstr(e, nb));
    assert_non_null(strstr(e, "attacking the vault"));
}

static void test_writer_cannot_promote_itself(void **state)
{
    fx *f = *state;
    vault_identity_t *wendy = new_member(f, VAULT_ROLE_WRITER);
    vault_t *vw = open_as(f, wendy);
    assert_int_equal(vault_member_role(vw), VAULT_ROLE_WRITER);
    /* wendy knows the write key: she can write a record that opens, lists
     * her as owner and is signed - by her, an owner of nothing. */
    membership_record r;
    char name[65];
    next_of(vw, &r);
    entry_of(&r, vw->keys->sign_pk)->role = ROLE_OWNER;
    plant(vw, vw->keys, &r, name);
    /* ... and a founding record of her own (self-signed, she the owner):
     * its signer and salt do not hash to the vault ID, so it is no fork. */
    char founding[65];
    next_of(vw, &r);
    r.seq = 0;
    randombytes_buf(r.previous, 32);
    entry_of(&r, vw->keys->sign_pk)->role = ROLE_OWNER;
    plant(vw, vw->keys, &r, founding);
    vault_close(vw);

    warnings_reset();
    fx_reopen(f);
    assert_warned(name);
    assert_warned("not signed by an owner");
    assert_warned(founding);
    assert_int_equal(vault_membership_seq(f->v), 1);
    vw = open_as(f, wendy);
    assert_int_equal(vault_member_role(vw), VAULT_ROLE_WRITER);
    vault_rekey_result rk;
    assert_vault_code(vault_rekey(vw, &rk), VAULT_E_PERMISSION);
    vault_close(vw);
    vault_identity_free(wendy);
}

static void test_gap_previous_rotation(void **state)
{
    fx *f = *state;
    const keyring *k = f->v->keys;
    membership_record r;
    char gap[65], wrong_prev[65], skip_epoch[65], new_pk[65];

    next_of(f->v, &r); /* seq 2 where the log ends at 0 */
    r.seq = 2;
    plant(f->v, k, &r, gap);
    next_of(f->v, &r); /* seq 1 naming a record that does not exist */
    randombytes_buf(r.previous, 32);
    plant(f->v, k, &r, wrong_prev);
    /* epoch 0 to 2: sealed with an epoch 2 write key that storage also
     * hands the owner in an envelope of its own */
    keyring *k1, *k2;
    assert_vault_ok(vlt_keyring_new_epoch(k, &k1));
    assert_vault_ok(vlt_keyring_new_epoch(k1, &k2));
    next_of(f->v, &r);
    r.epoch = 2;
    memcpy(r.epoch_pk, k2->epochs[2].read_pk, 32);
    vlt_write_key_id(k2->epochs[2].write_key, r.write_key_id);
    assert_vault_ok(vlt_membership_append(f->v->be, k->vault_id,
                                          k2->epochs[2].write_key, &r,
                                          k->sign_sk, skip_epoch));
    vlt_membership_record_clear(&r);
    envelope_payload *p;
    char epoch2_env[65];
    assert_vault_ok(vlt_envelope_payload_make(
        k2, vault_identity_recipient(f->id), NULL, 0, 2, 1, &p));
    assert_vault_ok(vlt_envelope_save(f->v->be, p, epoch2_env));
    vlt_envelope_payload_free(p);
    vlt_keyring_free(k1);
    vlt_keyring_free(k2);
    next_of(f->v, &r); /* same epoch, another read key */
    randombytes_buf(r.epoch_pk, 32);
    plant(f->v, k, &r, new_pk);

    warnings_reset();
    fx_reopen(f);
    assert_int_equal(vault_membership_seq(f->v), 0);
    assert_warned(gap);
    assert_warned("(a gap)");
    assert_warned(wrong_prev);
    assert_warned(new_pk);
    assert_warned(skip_epoch);  /* opened, but skips epoch 1 */
    assert_warned(epoch2_env); /* an epoch the log does not have */
    assert_int_equal(vault_member_role(f->v), VAULT_ROLE_OWNER);
}

/* Seals payload p to the identity alone and saves it under keys/. */
static void plant_envelope(fx *f, envelope_payload *p, char name[65])
{
    assert_vault_ok(vlt_envelope_save(f->v->be, p, name));
    vlt_envelope_payload_free(p);
}

static void test_planted_envelopes(void **state)
{
    fx *f = *state;
    vault_identity_t *wendy = new_member(f, VAULT_ROLE_WRITER);
    const char *owner = vault_identity_recipient(f->id);

    /* An envelope for the owner with an extra epoch (keys of storage's
     * making): not in the log, so ignored, and the owner opens as owner
     * in epoch 0. */
    keyring *more;
    assert_vault_ok(vlt_keyring_new_epoch(f->v->keys, &more));
    envelope_payload *p;
    char extra[65];
    assert_vault_ok(vlt_envelope_payload_make(more, owner, more->sign_seed, 1,
                                              0, 1, &p));
    plant_envelope(f, p, extra);
    vlt_keyring_free(more);

    /* The writer's signing key sealed to the owner: the log lists that key
     * with wendy's recipient, not the owner's. */
    vault_t *vw = open_as(f, wendy);
    char swapped[65];
    assert_vault_ok(vlt_envelope_payload_make(f->v->keys, owner,
                                              vw->keys->sign_seed, 1, 0, 1,
                                              &p));
    plant_envelope(f, p, swapped);
    vault_close(vw);

    warnings_reset();
    fx_reopen(f);
    assert_warned(extra);
    assert_warned(swapped);
    assert_warned("does not grant; ignored");
    assert_int_equal(vault_member_role(f->v), VAULT_ROLE_OWNER);
    assert_int_equal(f->v->keys->n_epochs, 1);
    assert_int_equal(f->v->members->epoch, 0);
    assert_memory_equal(f->v->keys->sign_pk, f->v->members->founder_pk, 32);

    /* The writer's own grant sealed to the owner's key alone gives a
     * stranger nothing: with only planted envelopes, no membership. */
    vault_identity_t *stranger;
    assert_vault_ok(vault_identity_generate(&stranger));
    vw = open_as(f, wendy);
    assert_vault_ok(vlt_envelope_payload_make(
        f->v->keys, vault_identity_recipient(stranger), vw->keys->sign_seed,
        1, 0, 1, &p));
    plant_envelope(f, p, swapped);
    vault_close(vw);
    vault_t *vs = NULL;
    assert_vault_code(vault_open(f->vault, stranger, &vs), VAULT_E_NOT_MEMBER);
    vault_identity_free(stranger);
    vault_identity_free(wendy);
}

static void test_role_from_roster(void **state)
{
    fx *f = *state;
    vault_identity_t *bob = new_member(f, VAULT_ROLE_READER);
    vault_t *vb = open_as(f, bob);
    assert_int_equal(vault_member_role(vb), VAULT_ROLE_READER);
    assert_int_equal(vlt_membership_standing(vb->members, vb->keys->sign_pk),
                     AUTHOR_READER);
    assert_int_equal(vlt_membership_standing(vb->members,
                                             f->v->keys->sign_pk),
                     AUTHOR_OWNER);
    uint8_t nobody[32] = {1};
    assert_int_equal(vlt_membership_standing(vb->members, nobody),
                     AUTHOR_UNKNOWN);
    vault_close(vb);
    /* The owner changes bob's role by a record (the same key): bob is now
     * an owner, though his envelope is the reader's it was. */
    membership_record r;
    next_of(f->v, &r);
    const uint8_t *bob_pk = NULL;
    for (uint32_t i = 0; i < r.n_members; i++)
        if (r.members[i].role == ROLE_READER)
            bob_pk = r.members[i].sign_pk;
    assert_non_null(bob_pk);
    entry_of(&r, bob_pk)->role = ROLE_OWNER;
    char name[65];
    plant(f->v, f->v->keys, &r, name);
    vb = open_as(f, bob);
    assert_int_equal(vault_member_role(vb), VAULT_ROLE_OWNER);
    assert_int_equal(vault_membership_seq(vb), 2);
    vault_close(vb);
    vault_identity_free(bob);
}

static void test_removed_cannot_reenter(void **state)
{
    fx *f = *state;
    vault_identity_t *bob = new_member(f, VAULT_ROLE_READER);
    vault_t *vb = open_as(f, bob);
    /* bob keeps his grant envelope before he is removed */
    const member_entry *e = vlt_membership_find(f->v->members,
                                                vb->keys->sign_pk);
    assert_non_null(e);
    char env_name[65];
    vlt_hex_encode(e->envelopes[0], 32, env_name);
    uint8_t *env;
    size_t env_len;
    assert_vault_ok(backend_load(f->v->be, BACKEND_KEYS, env_name, 0, 0,
                                 ENVELOPE_MAX_BYTES, &env, &env_len));
    const char *gone[] = {vault_identity_recipient(bob)};
    assert_vault_ok(vault_unshare(f->v, gone, 1));
    assert_int_equal(vlt_membership_standing(f->v->members, vb->keys->sign_pk),
                     AUTHOR_FORMER);

    /* bob writes record 3 putting himself back as owner, with the only
     * write key he has (epoch 0), and puts his envelope back. */
    membership_record r;
    next_of(vb, &r); /* his view: record 1 */
    r.seq = f->v->members->seq + 1;
    memcpy(r.previous, f->v->members->last_name, 32);
    entry_of(&r, vb->keys->sign_pk)->role = ROLE_OWNER;
    char forged[65];
    plant(vb, vb->keys, &r, forged);
    assert_vault_ok(backend_save(f->v->be, BACKEND_KEYS, env_name, env,
                                 env_len));
    free(env);
    vault_close(vb);

    warnings_reset();
    fx_reopen(f);
    assert_warned(forged);
    assert_int_equal(vault_membership_seq(f->v), 2);
    vault_member_info *list;
    size_t n;
    assert_vault_ok(vault_members(f->v, &list, &n));
    assert_int_equal(n, 1);
    vault_members_free(list, n);
    /* bob himself: the log goes on in epoch 1, closed to him; he is not
     * let in on the part he can read (he would seal new data in epoch 0). */
    vb = NULL;
    assert_vault_code(vault_open(f->vault, bob, &vb), VAULT_E_PERMISSION);
    assert_non_null(strstr(vault_last_error(), "removed from the vault"));
    vault_identity_free(bob);
}

static void test_missing_epoch(void **state)
{
    fx *f = *state;
    vault_identity_t *bob = new_member(f, VAULT_ROLE_READER);
    const char *gone[] = {vault_identity_recipient(bob)};
    assert_vault_ok(vault_unshare(f->v, gone, 1));
    /* the owner's epoch envelope (its second) goes missing */
    const member_entry *me = vlt_membership_find(f->v->members,
                                                 f->v->keys->sign_pk);
    assert_int_equal(me->n_envelopes, 2);
    char name[65];
    vlt_hex_encode(me->envelopes[1], 32, name);
    assert_vault_ok(backend_remove(f->v->be, BACKEND_KEYS, name));
    vault_t *v = NULL;
    assert_vault_code(vault_open(f->vault, f->id, &v), VAULT_E_PERMISSION);
    assert_non_null(strstr(vault_last_error(),
                           "its envelope for key epoch 1 is missing"));
    /* sharing with oneself is refused: it would orphan this handle's key */
    assert_vault_code(vault_share(f->v, vault_identity_recipient(f->id),
                                  VAULT_ROLE_READER),
                      VAULT_E_INVALID);
    assert_non_null(strstr(vault_last_error(), "is you"));
    vault_identity_free(bob);
}

static void test_version_1_refused(void **state)
{
    fx *f = *state;
    char path[PATH_MAX];
    test_fmt(path, sizeof path, "%s/config", f->vault);
    size_t len;
    uint8_t *cfg = test_read_file(path, &len);
    store_le32(cfg + 8, 1);
    assert_int_equal(chmod(path, 0644), 0);
    test_write_file(path, cfg, len);
    free(cfg);
    vault_t *v = NULL;
    assert_vault_code(vault_open(f->vault, f->id, &v), VAULT_E_UNSUPPORTED);
    assert_non_null(strstr(vault_last_error(),
                           "format version 1 is not supported (this vault "
                           "program reads version 2); recreate the vault"));
}

/* A fresh vault, and warnings collected (fx_teardown drops the handler). */
static int warn_setup(void **state)
{
    vault_set_warning_handler(collect, NULL);
    return fx_setup(state);
}

int main(void)
{
    if (vault_global_init() != VAULT_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fork, warn_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_writer_cannot_promote_itself,
                                        warn_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_gap_previous_rotation, warn_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_planted_envelopes, warn_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_role_from_roster, warn_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_removed_cannot_reenter, warn_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_missing_epoch, warn_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_version_1_refused, warn_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests_name("membership", tests, NULL, NULL) ? 1
                                                                        : 0;
}
