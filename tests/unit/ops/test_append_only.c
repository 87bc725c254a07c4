/*
 * test_append_only.c - on storage that refuses deletes (an append-only
 * server: rclone serve restic --append-only), forget, prune, unshare and
 * rekey fail before changing anything, with the storage's reason; add,
 * and the dry runs, still work.
 *
 * The storage is the memory backend behind a wrapper whose
 * check_deletable refuses (backend.h) and which counts saves and
 * removes: each refused operation must have made none.
 */
#include "vault_fixture.h"

#include <stdlib.h>
#include <string.h>

#include "backend_testing.h"

typedef struct append_only {
    backend base;
    backend *inner;
    int refuse;       /* check_deletable says no */
    unsigned saves, removes;
} append_only;

static vault_error ao_save(backend *be, backend_kind kind, const char *name,
                           const uint8_t *data, size_t len)
{
    append_only *a = (append_only *)be;
    a->saves++;
    return backend_save(a->inner, kind, name, data, len);
}

static vault_error ao_load(backend *be, backend_kind kind, const char *name,
                           uint64_t offset, size_t len, size_t max_len,
                           uint8_t **out, size_t *out_len)
{
    append_only *a = (append_only *)be;
    return backend_load(a->inner, kind, name, offset, len, max_len, out,
                        out_len);
}

static vault_error ao_stat(backend *be, backend_kind kind, const char *name,
                           uint64_t *size)
{
    return backend_stat(((append_only *)be)->inner, kind, name, size);
}

static vault_error ao_list(backend *be, backend_kind kind, backend_list_fn fn,
                           void *ctx, int *stopped)
{
    return backend_list(((append_only *)be)->inner, kind, fn, ctx, stopped);
}

static vault_error ao_remove(backend *be, backend_kind kind, const char *name)
{
    append_only *a = (append_only *)be;
    a->removes++;
    return backend_remove(a->inner, kind, name);
}

static void ao_close(backend *be)
{
    append_only *a = (append_only *)be;
    backend_close(a->inner);
    free(a);
}

static vault_error ao_check_deletable(backend *be)
{
    if (((append_only *)be)->refuse)
        return vlt_fail(VAULT_E_PERMISSION,
                        "test server: append-only, the server refuses "
                        "deletes");
    return VAULT_OK;
}

static const backend_ops ao_ops = {.save = ao_save,
                                   .load = ao_load,
                                   .stat = ao_stat,
                                   .list = ao_list,
                                   .remove = ao_remove,
                                   .close = ao_close,
                                   .check_deletable = ao_check_deletable};

typedef struct ctx {
    char *base;
    vault_identity_t *owner, *bob;
    append_only *store; /* owned by v */
    vault_t *v;
} ctx;

static void add_something(ctx *c, const char *name)
{
    char dir[PATH_MAX], file[PATH_MAX];
    test_fmt(dir, sizeof dir, "%s/%s", c->base, name);
    make_dir(dir);
    test_fmt(file, sizeof file, "%s/file", dir);
    test_write_file(file, name, strlen(name));
    const char *paths[] = {dir};
    vault_add_options o;
    vault_add_options_init(&o);
    o.paths = paths;
    o.n_paths = 1;
    o.cache_dir = "";
    vault_add_result r;
    assert_vault_ok(vault_add(c->v, &o, &r));
}

/* A vault on the wrapped memory backend with one snapshot and a second
 * member, then made append-only with the counters at zero. */
static int setup(void **state)
{
    assert_vault_ok(vault_global_init());
    ctx *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->base = test_tempdir();
    assert_vault_ok(vault_identity_generate(&c->owner));
    assert_vault_ok(vault_identity_generate(&c->bob));
    backend *mem = NULL;
    assert_vault_ok(vlt_backend_memory_open(&mem));
    c->store = calloc(1, sizeof *c->store);
    assert_non_null(c->store);
    c->store->base.ops = &ao_ops;
    c->store->inner = mem;
    assert_vault_ok(vlt_repo_init_backend(
        &c->store->base, vault_identity_recipient(c->owner), NULL));
    assert_vault_ok(vlt_repo_open_backend(&c->store->base, "append-only",
                                          c->owner, &c->v));
    add_something(c, "first");
    assert_vault_ok(vault_share(c->v, vault_identity_recipient(c->bob),
                                VAULT_ROLE_READER));
    c->store->refuse = 1;
    c->store->saves = c->store->removes = 0;
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    ctx *c = *state;
    vault_close(c->v);
    vault_identity_free(c->owner);
    vault_identity_free(c->bob);
    test_rmtree(c->base);
    free(c);
    return 0;
}

/* The refusal names the server's reason; nothing was saved or removed. */
static void expect_refused(ctx *c, vault_error rc, const char *op)
{
    if (rc != VAULT_E_PERMISSION)
        fail_msg("%s on an append-only server: %s (%d): %s", op,
                 vault_strerror(rc), rc, vault_last_error());
    if (!strstr(vault_last_error(), "refuses deletes"))
        fail_msg("%s: the message does not say the server refuses "
                 "deletes: %s",
                 op, vault_last_error());
    if (c->store->saves || c->store->removes)
        fail_msg("%s changed the vault before failing: %u saves, %u "
                 "removes",
                 op, c->store->saves, c->store->removes);
}

static void test_forget(void **state)
{
    ctx *c = *state;
    const char *latest[] = {"latest"};
    vault_forget_options o;
    vault_forget_options_init(&o);
    o.snapshots = latest;
    o.n_snapshots = 1;
    vault_forget_result r;
    vault_error rc = vault_forget(c->v, &o, &r);
    vault_forget_result_free(&r);
    expect_refused(c, rc, "forget");
    /* a dry run removes nothing: it may go on */
    o.dry_run = 1;
    assert_vault_ok(vault_forget(c->v, &o, &r));
    assert_int_equal(r.n_removed, 1);
    vault_forget_result_free(&r);
    assert_int_equal(c->store->removes, 0);
}

static void test_prune(void **state)
{
    ctx *c = *state;
    vault_prune_options o;
    vault_prune_options_init(&o);
    o.cache_dir = "";
    vault_prune_result r;
    vault_error rc = vault_prune(c->v, &o, &r);
    vault_prune_result_free(&r);
    expect_refused(c, rc, "prune");
    o.dry_run = 1;
    assert_vault_ok(vault_prune(c->v, &o, &r));
    vault_prune_result_free(&r);
    assert_int_equal(c->store->saves, 0);
    assert_int_equal(c->store->removes, 0);
}

static void test_unshare(void **state)
{
    ctx *c = *state;
    const char *bob[] = {vault_identity_recipient(c->bob)};
    expect_refused(c, vault_unshare(c->v, bob, 1), "unshare");
    /* bob is still a member */
    assert_vault_ok(vlt_repo_reload_membership(c->v));
    vault_member_info *m;
    size_t n;
    assert_vault_ok(vault_members(c->v, &m, &n));
    assert_int_equal(n, 2);
    vault_members_free(m, n);
}

static void test_rekey(void **state)
{
    ctx *c = *state;
    vault_rekey_result r;
    expect_refused(c, vault_rekey(c->v, &r), "rekey");
}

/* What only adds objects works: add, share. */
static void test_add_works(void **state)
{
    ctx *c = *state;
    add_something(c, "second");
    assert_true(c->store->saves > 0);
    size_t n;
    assert_vault_ok(vault_snapshot_count(c->v, &n));
    assert_int_equal(n, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_forget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unshare, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rekey, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_works, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
