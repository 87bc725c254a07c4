/*
 * test_repo.c - opening a vault (a stranger's identity is refused with
 * VAULT_E_NOT_MEMBER; no vault, no directory; init over a vault) and
 * resolving snapshot references (latest, prefixes, bad syntax, ambiguous
 * names, a copy under a wrong name).
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

static void test_snapshot_resolve(void **state)
{
    fx *f = *state;
    char src[PATH_MAX], id[65], ref[80];
    test_fmt(src, sizeof src, "%s/src", f->base);
    make_dir(src);
    test_fmt(ref, sizeof ref, "%s/f", src);
    test_write_file(ref, "x", 1);

    /* no snapshots yet */
    assert_vault_code(vault_snapshot_resolve(f->v, "latest", id),
                      VAULT_E_NOT_FOUND);

    vault_add_result r;
    fx_add(f, src, VAULT_COMPRESSION_OFF, &r);
    assert_vault_ok(vault_snapshot_resolve(f->v, "latest", id));
    assert_string_equal(id, r.snapshot_id);
    for (size_t len = 4; len <= 64; len += 12) {
        test_fmt(ref, sizeof ref, "%.*s", (int)len, r.snapshot_id);
        memset(id, 0, sizeof id);
        assert_vault_ok(vault_snapshot_resolve(f->v, ref, id));
        assert_string_equal(id, r.snapshot_id);
    }
    assert_vault_ok(vault_snapshot_resolve(f->v, r.snapshot_id, id));
    assert_string_equal(id, r.snapshot_id);

    /* unknown: a prefix no name has */
    test_fmt(ref, sizeof ref, "%.8s", r.snapshot_id);
    ref[0] = ref[0] == '0' ? '1' : '0';
    assert_vault_code(vault_snapshot_resolve(f->v, ref, id),
                      VAULT_E_NOT_FOUND);

    /* bad syntax */
    const char *bad[] = {"", "abc", "ABCD", "xyz1", "0123 ", "latest!",
                         "Latest", "../../etc", "0123456789abcdef0123456789"
                         "abcdef0123456789abcdef0123456789abcdef0"};
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(bad); i++)
        assert_vault_code(vault_snapshot_resolve(f->v, bad[i], id),
                          VAULT_E_INVALID);
    assert_vault_code(vault_snapshot_resolve(f->v, NULL, id),
                      VAULT_E_INVALID);
    char upper[65];
    memcpy(upper, r.snapshot_id, 65);
    for (char *c = upper; *c; c++)
        if (*c >= 'a' && *c <= 'f')
            *c = (char)(*c - 'a' + 'A');
    if (strcmp(upper, r.snapshot_id) != 0)
        assert_vault_code(vault_snapshot_resolve(f->v, upper, id),
                          VAULT_E_INVALID);

    /* ambiguous: a second object whose name shares all but the last digit
     * (a copy under a wrong name: resolving only lists names) */
    char orig[PATH_MAX], twin[PATH_MAX], twin_id[65];
    memcpy(twin_id, r.snapshot_id, 65);
    twin_id[63] = twin_id[63] == '0' ? '1' : '0';
    test_fmt(orig, sizeof orig, "%s/snapshots/%s", f->vault, r.snapshot_id);
    test_fmt(twin, sizeof twin, "%s/snapshots/%s", f->vault, twin_id);
    size_t len;
    uint8_t *bytes = test_read_file(orig, &len);
    test_write_file(twin, bytes, len);
    free(bytes);
    test_fmt(ref, sizeof ref, "%.4s", r.snapshot_id);
    assert_vault_code(vault_snapshot_resolve(f->v, ref, id), VAULT_E_INVALID);
    assert_non_null(strstr(vault_last_error(), "ambiguous"));
    test_fmt(ref, sizeof ref, "%.63s", r.snapshot_id);
    assert_vault_code(vault_snapshot_resolve(f->v, ref, id), VAULT_E_INVALID);
    /* the full names still resolve, each to itself */
    assert_vault_ok(vault_snapshot_resolve(f->v, r.snapshot_id, id));
    assert_string_equal(id, r.snapshot_id);
    assert_vault_ok(vault_snapshot_resolve(f->v, twin_id, id));
    assert_string_equal(id, twin_id);
    /* but the copy does not load: its bytes do not match its name.  It
     * is listed as damaged (naming why), not an error, and "latest"
     * goes past it. */
    vault_snapshot_info *list;
    size_t n;
    assert_vault_ok(vault_snapshots(f->v, &list, &n));
    assert_int_equal(n, 2);
    size_t junk = strcmp(list[0].id, twin_id) == 0 ? 0 : 1;
    assert_string_equal(list[junk].id, twin_id);
    assert_false(list[junk].readable);
    assert_non_null(list[junk].damage);
    assert_non_null(strstr(list[junk].damage, twin_id));
    assert_true(list[1 - junk].readable);
    assert_null(list[1 - junk].damage);
    vault_snapshots_free(list, n);
    assert_vault_ok(vault_snapshot_resolve(f->v, "latest", id));
    assert_string_equal(id, r.snapshot_id);
    ls_list ls = {0};
    assert_vault_code(vault_ls(f->v, twin_id, NULL, 1, ls_collect, &ls),
                      VAULT_E_CORRUPT);
    ls_free(&ls);
    assert_int_equal(unlink(twin), 0);
    assert_vault_ok(vault_snapshots(f->v, &list, &n));
    assert_int_equal(n, 1);
    vault_snapshots_free(list, n);
    /* garbage under a valid name: listed as damaged too */
    static const char garbage[] = "not a snapshot at all";
    test_write_file(twin, garbage, sizeof garbage);
    assert_vault_ok(vault_snapshots(f->v, &list, &n));
    assert_int_equal(n, 2);
    assert_string_equal(list[0].id, twin_id);
    assert_non_null(list[0].damage);
    assert_true(list[1].readable);
    vault_snapshots_free(list, n);
    assert_vault_ok(vault_snapshot_resolve(f->v, "latest", id));
    assert_string_equal(id, r.snapshot_id);
    assert_int_equal(unlink(twin), 0);
}

static void test_wrong_identity(void **state)
{
    fx *f = *state;
    vault_identity_t *stranger;
    assert_vault_ok(vault_identity_generate(&stranger));
    vault_t *v = (vault_t *)0x1;
    assert_vault_code(vault_open(f->vault, stranger, &v), VAULT_E_NOT_MEMBER);
    assert_null(v);
    if (!strstr(vault_last_error(), "not a member"))
        fail_msg("detail does not say \"not a member\": %s",
                 vault_last_error());
    assert_non_null(strstr(vault_last_error(),
                           vault_identity_recipient(stranger)));
    vault_identity_free(stranger);

    /* not a vault at all, and a missing directory */
    char p[PATH_MAX];
    test_fmt(p, sizeof p, "%s/empty", f->base);
    make_dir(p);
    assert_vault_code(vault_open(p, f->id, &v), VAULT_E_NOT_FOUND);
    assert_vault_code(vault_probe(p), VAULT_E_NOT_FOUND);
    test_fmt(p, sizeof p, "%s/missing", f->base);
    assert_vault_code(vault_open(p, f->id, &v), VAULT_E_NOT_FOUND);
    assert_vault_ok(vault_probe(f->vault));
    /* init refuses a vault that exists */
    assert_vault_code(vault_init(f->vault, vault_identity_recipient(f->id)),
                      VAULT_E_EXISTS);
}

int main(void)
{
    if (vault_global_init() != VAULT_OK) {
        fprintf(stderr, "vault_global_init: %s\n", vault_last_error());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_snapshot_resolve, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_identity, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests_name("vault API: open and snapshots", tests, NULL, NULL)
               ? 1
               : 0;
}
