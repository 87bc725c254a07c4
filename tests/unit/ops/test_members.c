/*
 * test_members.c - membership (ops/members.c): share with each role and
 * what each role then holds, the envelopes (age files to the member
 * alone) and membership records, refusals by role with their exact codes,
 * unshare rotating to a new key epoch that only the remaining members
 * get, and rekey re-sealing every older object in the current epoch.
 */
#include "vault_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"

/* The fixture's vault with bob (reader) and wendy (writer) added. */
typedef struct crew {
    vault_identity_t *bob;   /* shared as reader */
    vault_identity_t *wendy; /* shared as writer */
} crew;

static void crew_share(fx *f, crew *c)
{
    assert_vault_ok(vault_identity_generate(&c->bob));
    assert_vault_ok(vault_identity_generate(&c->wendy));
    assert_vault_ok(vault_share(f->v, vault_identity_recipient(c->bob),
                                VAULT_ROLE_READER));
    assert_vault_ok(vault_share(f->v, vault_identity_recipient(c->wendy),
                                VAULT_ROLE_WRITER));
}

static void crew_free(crew *c)
{
    vault_identity_free(c->bob);
    vault_identity_free(c->wendy);
}

static vault_t *open_as(fx *f, const vault_identity_t *id)
{
    vault_t *v = NULL;
    assert_vault_ok(vault_open(f->vault, id, &v));
    return v;
}

/* The member list entry for recipient; fails if absent. */
static const vault_member_info *member_of(const vault_member_info *list,
                                          size_t n, const char *recipient)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].member, recipient) == 0)
            return &list[i];
    fail_msg("%s is not listed", recipient);
    return NULL;
}

/* The names of every object of a kind. */
static name_list names_in(vault_t *v, backend_kind kind)
{
    name_list l;
    assert_vault_ok(vlt_backend_list_names(v->be, kind, &l));
    return l;
}

/* How many objects of keys/ are envelopes (age files) and how many are
 * membership records. */
static void count_keys(vault_t *v, size_t *envelopes, size_t *records)
{
    name_list l = names_in(v, BACKEND_KEYS);
    *envelopes = *records = 0;
    for (size_t i = 0; i < l.n; i++) {
        uint8_t *head;
        size_t len;
        assert_vault_ok(backend_load(v->be, BACKEND_KEYS, l.names[i], 0, 8, 8,
                                     &head, &len));
        if (memcmp(head, MEMBERS_MAGIC, 8) == 0)
            (*records)++;
        else
            (*envelopes)++;
        free(head);
    }
    free(l.names);
}

#define assert_keys(v, want_envelopes, want_records)                          \
    do {                                                                      \
        size_t e_, r_;                                                        \
        count_keys(v, &e_, &r_);                                              \
        assert_int_equal(e_, want_envelopes);                                 \
        assert_int_equal(r_, want_records);                                   \
    } while (0)

/* The key epoch an object is sealed in (bytes 8..11). */
static uint32_t epoch_of(vault_t *v, backend_kind kind, const char *name)
{
    uint8_t *head;
    size_t len;
    assert_vault_ok(backend_load(v->be, kind, name, 0, 12, 12, &head, &len));
    uint32_t e = load_le32(head + 8);
    free(head);
    return e;
}

/* Every pack, index segment and snapshot is sealed in epoch want. */
static void all_sealed_in(vault_t *v, uint32_t want)
{
    const backend_kind kinds[] = {BACKEND_DATA, BACKEND_INDEX,
                                  BACKEND_SNAPSHOTS};
    for (size_t k = 0; k < VAULT_ARRAY_SIZE(kinds); k++) {
        name_list l = names_in(v, kinds[k]);
        assert_true(l.n > 0);
        for (size_t i = 0; i < l.n; i++)
            if (epoch_of(v, kinds[k], l.names[i]) != want)
                fail_msg("%s/%s: epoch %u, expected %u",
                         vlt_backend_kind_name(kinds[k]), l.names[i],
                         (unsigned)epoch_of(v, kinds[k], l.names[i]),
                         (unsigned)want);
        free(l.names);
    }
}

static void add_small_tree(fx *f, const char *label)
{
    char src[PATH_MAX], p[PATH_MAX];
    test_fmt(src, sizeof src, "%s/%s", f->base, label);
    make_dir(src);
    test_fmt(p, sizeof p, "%s/file", src);
    test_write_file(p, label, strlen(label));
    vault_add_result r;
    fx_add(f, src, 0, &r);
}

static void test_share_roles(void **state)
{
    fx *f = *state;
    crew c = {0};
    crew_share(f, &c);
    const char *owner = vault_identity_recipient(f->id);
    const char *bob = vault_identity_recipient(c.bob);
    const char *wendy = vault_identity_recipient(c.wendy);

    vault_member_info *list;
    size_t n;
    assert_vault_ok(vault_members(f->v, &list, &n));
    assert_int_equal(n, 3);
    assert_int_equal(member_of(list, n, owner)->role, VAULT_ROLE_OWNER);
    assert_int_equal(member_of(list, n, bob)->role, VAULT_ROLE_READER);
    assert_int_equal(member_of(list, n, wendy)->role, VAULT_ROLE_WRITER);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(list[i].epochs, 1);
        assert_int_equal(strlen(list[i].envelope), 64);
        uint64_t size;
        assert_vault_ok(
            backend_stat(f->v->be, BACKEND_KEYS, list[i].envelope, &size));
        if (i)
            assert_true(list[i - 1].created <= list[i].created);
    }
    vault_members_free(list, n);
    /* Three grant envelopes; records 0 (init), 1 and 2 (the shares). */
    assert_keys(f->v, 3, 3);
    assert_int_equal(vault_membership_seq(f->v), 2);

    /* Refusals: an unknown role, not a recipient. */
    vault_identity_t *carol;
    assert_vault_ok(vault_identity_generate(&carol));
    assert_vault_code(vault_share(f->v, vault_identity_recipient(carol),
                                  (vault_role)9),
                      VAULT_E_INVALID);
    assert_vault_code(vault_share(f->v, "age1notarecipient", VAULT_ROLE_READER),
                      VAULT_E_BAD_KEY);
    assert_vault_code(vault_share(f->v, "", VAULT_ROLE_READER),
                      VAULT_E_BAD_KEY);
    assert_keys(f->v, 3, 3); /* nothing was written */

    /* A reader reads and lists, but cannot share, unshare or rekey. */
    vault_t *vb = open_as(f, c.bob);
    assert_int_equal(vault_member_role(vb), VAULT_ROLE_READER);
    assert_vault_ok(vault_members(vb, &list, &n));
    assert_int_equal(n, 3);
    vault_members_free(list, n);
    assert_vault_code(vault_share(vb, vault_identity_recipient(carol),
                                  VAULT_ROLE_READER),
                      VAULT_E_PERMISSION);
    assert_non_null(strstr(vault_last_error(), "only an owner"));
    const char *gone[] = {wendy};
    assert_vault_code(vault_unshare(vb, gone, 1), VAULT_E_PERMISSION);
    vault_rekey_result rk;
    assert_vault_code(vault_rekey(vb, &rk), VAULT_E_PERMISSION);
    vault_close(vb);

    /* A writer lists the members too (the log is sealed with the write
     * key), but cannot share or rekey. */
    vault_t *vw = open_as(f, c.wendy);
    assert_int_equal(vault_member_role(vw), VAULT_ROLE_WRITER);
    assert_vault_ok(vault_members(vw, &list, &n));
    assert_int_equal(n, 3);
    assert_int_equal(member_of(list, n, owner)->role, VAULT_ROLE_OWNER);
    vault_members_free(list, n);
    assert_vault_code(vault_share(vw, vault_identity_recipient(carol),
                                  VAULT_ROLE_WRITER),
                      VAULT_E_PERMISSION);
    assert_vault_code(vault_rekey(vw, &rk), VAULT_E_PERMISSION);
    vault_close(vw);

    /* A third identity is no member at all. */
    vault_t *vc = NULL;
    assert_vault_code(vault_open(f->vault, carol, &vc), VAULT_E_NOT_MEMBER);
    vault_identity_free(carol);

    /* Sharing with a member again changes its role and signing key, and
     * drops its old envelope. */
    assert_vault_ok(vault_members(f->v, &list, &n));
    char old_key[65];
    memcpy(old_key, member_of(list, n, bob)->sign_key, 65);
    vault_members_free(list, n);
    assert_vault_ok(vault_share(f->v, bob, VAULT_ROLE_WRITER));
    assert_keys(f->v, 3, 4);
    assert_vault_ok(vault_members(f->v, &list, &n));
    assert_int_equal(n, 3);
    assert_int_equal(member_of(list, n, bob)->role, VAULT_ROLE_WRITER);
    assert_string_not_equal(member_of(list, n, bob)->sign_key, old_key);
    vault_members_free(list, n);
    vb = open_as(f, c.bob);
    assert_int_equal(vault_member_role(vb), VAULT_ROLE_WRITER);
    assert_false(vb->keys->epochs[0].has_read_sk);
    vault_close(vb);
    crew_free(&c);
}

static void test_envelope_contents(void **state)
{
    fx *f = *state;
    crew c = {0};
    crew_share(f, &c);
    vault_t *vb = open_as(f, c.bob), *vw = open_as(f, c.wendy);
    const keyring *o = f->v->keys, *b = vb->keys, *w = vw->keys;

    /* Everyone has the vault's identity and dedup secret (so chunk IDs
     * agree) and the write key; the role is the envelope's. */
    const keyring *all[] = {o, b, w};
    const member_role roles[] = {ROLE_OWNER, ROLE_READER, ROLE_WRITER};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(all[i]->role, roles[i]);
        assert_int_equal(all[i]->n_epochs, 1);
        assert_memory_equal(all[i]->vault_id, o->vault_id, VAULT_ID_BYTES);
        assert_memory_equal(all[i]->dedup_secret, o->dedup_secret,
                            SECRET_BYTES);
        assert_memory_equal(all[i]->epochs[0].read_pk, o->epochs[0].read_pk,
                            X25519_BYTES);
        assert_memory_equal(all[i]->epochs[0].write_key,
                            o->epochs[0].write_key, SECRET_BYTES);
    }
    /* Only readers and owners hold the read key. */
    assert_true(b->epochs[0].has_read_sk);
    assert_memory_equal(b->epochs[0].read_sk, o->epochs[0].read_sk,
                        X25519_BYTES);
    assert_false(w->epochs[0].has_read_sk);
    uint8_t zero[X25519_BYTES] = {0};
    assert_memory_equal(w->epochs[0].read_sk, zero, X25519_BYTES);
    assert_string_equal(vw->member, vault_identity_recipient(c.wendy));

    /* Each envelope is an age file with one X25519 recipient (the member
     * alone), named after its bytes; each signing key is its own. */
    assert_memory_not_equal(o->sign_pk, b->sign_pk, SIGN_PUBLIC_BYTES);
    assert_memory_not_equal(b->sign_pk, w->sign_pk, SIGN_PUBLIC_BYTES);
    name_list keys = names_in(f->v, BACKEND_KEYS);
    assert_int_equal(keys.n, 6);
    size_t envelopes = 0;
    for (size_t i = 0; i < keys.n; i++) {
        uint8_t *env;
        size_t len;
        assert_vault_ok(backend_load(f->v->be, BACKEND_KEYS, keys.names[i], 0,
                                     0, ENVELOPE_MAX_BYTES, &env, &len));
        assert_vault_ok(vlt_object_check_name(BACKEND_KEYS, keys.names[i],
                                              env, len));
        if (memcmp(env, MEMBERS_MAGIC, 8) != 0) {
            envelopes++;
            assert_true(len > 22 &&
                        memcmp(env, "age-encryption.org/v1\n", 22) == 0);
            size_t stanzas = 0;
            for (size_t j = 0; j + 10 <= len; j++)
                stanzas += memcmp(env + j, "\n-> X25519", 10) == 0;
            assert_int_equal(stanzas, 1);
        }
        /* No secret in the clear. */
        char hex[65];
        vlt_hex_encode(o->dedup_secret, SECRET_BYTES, hex);
        for (size_t j = 0; j + 64 <= len; j++)
            assert_false(memcmp(env + j, hex, 64) == 0);
        free(env);
    }
    assert_int_equal(envelopes, 3);
    free(keys.names);
    vault_close(vb);
    vault_close(vw);
    crew_free(&c);
}

static void test_unshare_rotates(void **state)
{
    fx *f = *state;
    crew c = {0};
    crew_share(f, &c);
    add_small_tree(f, "before");
    const char *owner = vault_identity_recipient(f->id);
    const char *bob = vault_identity_recipient(c.bob);
    uint8_t old_pk[X25519_BYTES];
    memcpy(old_pk, f->v->keys->epochs[0].read_pk, X25519_BYTES);

    /* Refused: someone who is not a member, the last owner. Nothing
     * changes. */
    const char *stranger[] = {"age1-not-a-member"};
    assert_vault_code(vault_unshare(f->v, stranger, 1), VAULT_E_NOT_FOUND);
    const char *self[] = {owner};
    assert_vault_code(vault_unshare(f->v, self, 1), VAULT_E_INVALID);
    assert_non_null(strstr(vault_last_error(), "last owner"));
    assert_int_equal(f->v->keys->n_epochs, 1);
    assert_keys(f->v, 3, 3);

    /* bob goes: a new epoch, for the owner and wendy only. */
    const char *gone[] = {bob};
    assert_vault_ok(vault_unshare(f->v, gone, 1));
    assert_int_equal(f->v->keys->n_epochs, 2);
    assert_int_equal(f->v->keys->role, ROLE_OWNER);
    assert_memory_equal(f->v->keys->epochs[0].read_pk, old_pk, X25519_BYTES);
    assert_memory_not_equal(f->v->keys->epochs[1].read_pk, old_pk,
                            X25519_BYTES);
    vault_member_info *list;
    size_t n;
    assert_vault_ok(vault_members(f->v, &list, &n));
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        assert_string_not_equal(list[i].member, bob);
        assert_int_equal(list[i].epochs, 2);
    }
    vault_members_free(list, n);
    /* bob's envelope is gone; the owner and wendy have their grant and an
     * epoch envelope each; record 3 starts epoch 1. */
    assert_keys(f->v, 4, 4);
    assert_int_equal(f->v->members->epoch, 1);
    vault_t *vb = NULL;
    assert_vault_code(vault_open(f->vault, c.bob, &vb), VAULT_E_NOT_MEMBER);
    vault_t *vw = open_as(f, c.wendy);
    assert_int_equal(vw->keys->n_epochs, 2);
    assert_int_equal(vw->keys->role, ROLE_WRITER);
    assert_false(vw->keys->epochs[0].has_read_sk);
    assert_false(vw->keys->epochs[1].has_read_sk);
    vault_close(vw);

    /* What is added now is sealed in epoch 1; the old stays in 0. */
    name_list before = names_in(f->v, BACKEND_SNAPSHOTS);
    assert_int_equal(before.n, 1);
    add_small_tree(f, "after");
    name_list snaps = names_in(f->v, BACKEND_SNAPSHOTS);
    assert_int_equal(snaps.n, 2);
    for (size_t i = 0; i < snaps.n; i++) {
        int old = strcmp(snaps.names[i], before.names[0]) == 0;
        assert_int_equal(epoch_of(f->v, BACKEND_SNAPSHOTS, snaps.names[i]),
                         old ? 0 : 1);
    }
    free(before.names);
    free(snaps.names);
    /* Sharing again after a rotation hands out every epoch. */
    assert_vault_ok(vault_share(f->v, bob, VAULT_ROLE_READER));
    vb = open_as(f, c.bob);
    assert_int_equal(vb->keys->n_epochs, 2);
    assert_true(vb->keys->epochs[0].has_read_sk);
    vault_close(vb);
    crew_free(&c);
}

static void test_rekey(void **state)
{
    fx *f = *state;
    crew c = {0};
    crew_share(f, &c);
    add_small_tree(f, "one");
    add_small_tree(f, "two");
    /* Nothing older than the current epoch: nothing to do. */
    vault_rekey_result r;
    assert_vault_ok(vault_rekey(f->v, &r));
    assert_int_equal(r.packs_rewritten + r.blobs_rewritten +
                         r.snapshots_rewritten + r.objects_deleted,
                     0);

    const char *gone[] = {vault_identity_recipient(c.bob)};
    assert_vault_ok(vault_unshare(f->v, gone, 1));
    name_list packs = names_in(f->v, BACKEND_DATA);
    name_list segments = names_in(f->v, BACKEND_INDEX);
    assert_vault_ok(vault_rekey(f->v, &r));
    assert_true(r.packs_rewritten >= 1);
    assert_true(r.blobs_rewritten >= 4); /* two files, two root trees... */
    assert_int_equal(r.snapshots_rewritten, 2);
    assert_int_equal(r.objects_deleted, packs.n + segments.n + 2);
    free(packs.names);
    free(segments.names);
    all_sealed_in(f->v, 1);

    /* Everything still reads, also through a fresh handle. */
    fx_reopen(f);
    vault_snapshot_info *list;
    size_t n;
    assert_vault_ok(vault_snapshots(f->v, &list, &n));
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        char out[PATH_MAX];
        test_fmt(out, sizeof out, "%s/out%zu", f->base, i);
        err_log log = {0};
        vault_extract_result res;
        assert_vault_ok(extract_to(f->v, list[i].id, out, 0, NULL, 0, &log,
                                   &res));
        assert_int_equal(res.files, 1);
        log_free(&log);
    }
    vault_snapshots_free(list, n);
    /* A second rekey finds nothing old. */
    assert_vault_ok(vault_rekey(f->v, &r));
    assert_int_equal(r.packs_rewritten + r.snapshots_rewritten +
                         r.objects_deleted,
                     0);
    crew_free(&c);
}

int main(void)
{
    if (vault_global_init() != VAULT_OK) {
        fprintf(stderr, "vault_global_init: %s\n", vault_last_error());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_share_roles, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_envelope_contents, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_unshare_rotates, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_rekey, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests_name("members", tests, NULL, NULL) ? 1 : 0;
}
