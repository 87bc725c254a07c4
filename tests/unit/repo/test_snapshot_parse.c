/*
 * test_snapshot_parse.c - the loader of sealed snapshot objects
 * (vlt_repo_snapshot_load) against truncated, mutated and random bytes
 * (a fixed-seed generator, so failures repeat), and against authenticated
 * (correctly sealed) but malformed contents: a clean rejection
 * (assert_rejected), never a crash.
 */
#include "vault_fixture.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "backend_testing.h"

/* Seals plain (author | sig | record) as a snapshot object. */
static uint8_t *seal_plain(const keyring *k, const uint8_t *plain,
                           size_t plain_len, size_t *out_len)
{
    size_t len = SNAPSHOT_HEADER_BYTES + plain_len + AEAD_TAG;
    uint8_t *p = xmalloc(len), key[SECRET_BYTES];
    memcpy(p, SNAPSHOT_MAGIC, 8);
    store_le32(p + 8, k->n_epochs - 1);
    assert_vault_ok(vlt_seal_key_new(vlt_keyring_current(k), "vault/v1 snapshot",
                                 p + 12, key));
    randombytes_buf(p + 44, AEAD_NONCE);
    crypto_aead_xchacha20poly1305_ietf_encrypt(p + SNAPSHOT_HEADER_BYTES,
                                               NULL, plain, plain_len, p,
                                               SNAPSHOT_HEADER_BYTES, NULL,
                                               p + 44, key);
    *out_len = len;
    return p;
}

/* Signs record as k's member and seals it, as vlt_repo_snapshot_save. */
static uint8_t *seal_snapshot(const keyring *k, const uint8_t *record,
                              size_t record_len, size_t *out_len)
{
    uint8_t *plain = xmalloc(SNAPSHOT_AUTHOR_BYTES + record_len);
    memcpy(plain, k->sign_pk, SIGN_PUBLIC_BYTES);
    if (record_len)
        memcpy(plain + SNAPSHOT_AUTHOR_BYTES, record, record_len);
    assert_vault_ok(vlt_sign(k->sign_sk, SIGN_LABEL_SNAPSHOT, k->vault_id,
                             plain + SNAPSHOT_AUTHOR_BYTES, record_len,
                             plain + SIGN_PUBLIC_BYTES));
    uint8_t *p = seal_plain(k, plain, SNAPSHOT_AUTHOR_BYTES + record_len,
                            out_len);
    free(plain);
    return p;
}

static vault_error snapshot_object_try(vault_t *v, const uint8_t *bytes,
                                       size_t len)
{
    char name[65];
    vlt_object_name(bytes, len, name);
    vault_error rc = backend_save(v->be, BACKEND_SNAPSHOTS, name, bytes, len);
    if (rc == VAULT_E_EXISTS)
        rc = VAULT_OK;
    assert_vault_ok(rc);
    snapshot_record rec;
    rc = vlt_repo_snapshot_load(v, name, &rec);
    vlt_snapshot_clear(&rec);
    assert_vault_ok(backend_remove(v->be, BACKEND_SNAPSHOTS, name));
    return rc;
}

static void test_parse_snapshot_objects(void **state)
{
    (void)state;
    assert_vault_ok(vault_global_init());
    /* just enough of a vault handle: keys and a backend */
    vault_t v;
    memset(&v, 0, sizeof v);
    assert_vault_ok(vlt_keyring_generate(&v.keys));
    assert_vault_ok(vlt_backend_memory_open(&v.be));
    /* its member, the owner */
    member_entry owner = {.role = ROLE_OWNER};
    memcpy(owner.sign_pk, v.keys->sign_pk, SIGN_PUBLIC_BYTES);
    membership members = {.members = &owner, .n_members = 1};
    v.members = &members;

    char host[] = "host", user[] = "user", path[] = "/x";
    char *paths[] = {path};
    snapshot_record rec;
    memset(&rec, 0, sizeof rec);
    rec.time_sec = 1;
    rec.hostname = host;
    rec.username = user;
    rec.paths = paths;
    rec.n_paths = 1;
    char id[65];
    assert_vault_ok(vlt_repo_snapshot_save(&v, &rec, id));
    uint8_t *obj;
    size_t len;
    assert_vault_ok(backend_load(v.be, BACKEND_SNAPSHOTS, id, 0, 0,
                                 SNAPSHOT_MAX_BYTES, &obj, &len));
    snapshot_record got;
    assert_vault_ok(vlt_repo_snapshot_load(&v, id, &got));
    assert_string_equal(got.paths[0], "/x");
    assert_memory_equal(got.author, v.keys->sign_pk, SIGN_PUBLIC_BYTES);
    vlt_snapshot_clear(&got);
    assert_vault_ok(backend_remove(v.be, BACKEND_SNAPSHOTS, id));

    for (size_t t = 0; t < len; t++)
        assert_rejected(snapshot_object_try(&v, obj, t));
    uint8_t *buf = xmalloc(len);
    for (size_t pos = 0; pos < len; pos++) {
        memcpy(buf, obj, len);
        buf[pos] ^= (uint8_t)(1u << (pos % 8));
        assert_rejected(snapshot_object_try(&v, buf, len));
    }
    free(buf);
    for (int i = 0; i < 500; i++) {
        size_t m = rng_below(300);
        uint8_t *r = xmalloc(m);
        rng_fill(r, m);
        if (i % 2 && m >= 12) {
            memcpy(r, SNAPSHOT_MAGIC, 8);
            store_le32(r + 8, 0);
        }
        assert_rejected(snapshot_object_try(&v, r, m));
        free(r);
    }
    /* authenticated, but the record inside is garbage or truncated */
    uint8_t *plain;
    size_t plain_len;
    assert_vault_ok(vlt_snapshot_encode(&rec, &plain, &plain_len));
    for (size_t m = 0; m < plain_len; m++) {
        uint8_t *p = seal_snapshot(v.keys, plain, m, &len);
        assert_vault_code(snapshot_object_try(&v, p, len), VAULT_E_CORRUPT);
        free(p);
    }
    uint8_t *p = seal_snapshot(v.keys, plain, plain_len, &len);
    assert_vault_ok(snapshot_object_try(&v, p, len));
    store_le32(p + 8, 9); /* an epoch not held (and a broken name) */
    assert_rejected(snapshot_object_try(&v, p, len));
    free(p);
    uint8_t garbage[200];
    for (int i = 0; i < 200; i++) {
        rng_fill(garbage, sizeof garbage);
        garbage[0] = SNAPSHOT_FORMAT_VERSION;
        p = seal_snapshot(v.keys, garbage, rng_below(sizeof garbage), &len);
        assert_rejected(snapshot_object_try(&v, p, len));
        free(p);
    }
    /* signed, but not by the author it names; or for another vault */
    {
        uint8_t *pl = xmalloc(SNAPSHOT_AUTHOR_BYTES + plain_len);
        memcpy(pl, v.keys->sign_pk, SIGN_PUBLIC_BYTES);
        memcpy(pl + SNAPSHOT_AUTHOR_BYTES, plain, plain_len);
        keyring *other;
        assert_vault_ok(vlt_keyring_generate(&other));
        assert_vault_ok(vlt_sign(other->sign_sk, SIGN_LABEL_SNAPSHOT,
                                 v.keys->vault_id, plain, plain_len,
                                 pl + SIGN_PUBLIC_BYTES));
        p = seal_plain(v.keys, pl, SNAPSHOT_AUTHOR_BYTES + plain_len, &len);
        assert_vault_code(snapshot_object_try(&v, p, len), VAULT_E_CORRUPT);
        free(p);
        assert_vault_ok(vlt_sign(v.keys->sign_sk, SIGN_LABEL_SNAPSHOT,
                                 other->vault_id, plain, plain_len,
                                 pl + SIGN_PUBLIC_BYTES));
        p = seal_plain(v.keys, pl, SNAPSHOT_AUTHOR_BYTES + plain_len, &len);
        assert_vault_code(snapshot_object_try(&v, p, len), VAULT_E_CORRUPT);
        free(p);
        /* a label of another kind of object */
        assert_vault_ok(vlt_sign(v.keys->sign_sk, SIGN_LABEL_INDEX,
                                 v.keys->vault_id, plain, plain_len,
                                 pl + SIGN_PUBLIC_BYTES));
        p = seal_plain(v.keys, pl, SNAPSHOT_AUTHOR_BYTES + plain_len, &len);
        assert_vault_code(snapshot_object_try(&v, p, len), VAULT_E_CORRUPT);
        free(p);
        vlt_keyring_free(other);
        free(pl);
    }
    /* By an author the vault's membership does not know: forged. */
    {
        v.members = NULL; /* nobody is a member */
        assert_vault_ok(vlt_repo_snapshot_save(&v, &rec, id));
        snapshot_record r2;
        assert_vault_code(vlt_repo_snapshot_load(&v, id, &r2),
                          VAULT_E_CORRUPT);
        assert_non_null(strstr(vault_last_error(), "forged"));
        assert_non_null(strstr(vault_last_error(), id));
        assert_vault_ok(backend_remove(v.be, BACKEND_SNAPSHOTS, id));
        v.members = &members;
    }
    /* Re-sealed (rekey) under a new epoch: the author and signature stay,
     * though the keyring re-sealing it signs as someone else. */
    {
        assert_vault_ok(vlt_repo_snapshot_save(&v, &rec, id));
        snapshot_record r2;
        assert_vault_ok(vlt_repo_snapshot_load(&v, id, &r2));
        keyring *next;
        assert_vault_ok(vlt_keyring_new_epoch(v.keys, &next));
        vlt_sign_keypair_generate(next->sign_seed, next->sign_pk,
                                  next->sign_sk);
        char id2[65];
        assert_vault_ok(vlt_snapshot_reseal(v.be, next, &r2, id2));
        snapshot_record r3;
        assert_vault_ok(vlt_snapshot_load(v.be, next, id2, &r3));
        assert_memory_equal(r3.author, v.keys->sign_pk, SIGN_PUBLIC_BYTES);
        assert_memory_equal(r3.sig, r2.sig, SIGNATURE_BYTES);
        assert_int_equal(load_le32(r3.tree), load_le32(r2.tree));
        /* a record changed since it was signed is not re-sealed */
        r2.time_sec++;
        assert_vault_code(vlt_snapshot_reseal(v.be, next, &r2, id2),
                          VAULT_E_CORRUPT);
        vlt_snapshot_clear(&r2);
        vlt_snapshot_clear(&r3);
        vlt_keyring_free(next);
    }
    free(plain);
    free(obj);
    backend_close(v.be);
    vlt_keyring_free(v.keys);
}

int main(void)
{
    if (vault_global_init() != VAULT_OK) {
        fprintf(stderr, "vault_global_init: %s\n", vault_last_error());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_snapshot_objects),
    };
    return cmocka_run_group_tests_name("parsers: snapshots", tests, NULL, NULL)
               ? 1
               : 0;
}
