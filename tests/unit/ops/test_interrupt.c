/*
 * test_interrupt.c - vault_interrupt (common/interrupt.c): while an
 * interruption is requested, add, extract, check, prune, copy and rekey
 * stop with VAULT_E_INTERRUPTED and leave nothing behind (no add marker,
 * no temporary in the target); once cleared, everything works again and
 * the vault checks clean.  The CLI tests (tests/cli/test_interrupt.sh)
 * interrupt them half way through with real signals.
 */
#include "vault_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void write_file(const char *path, size_t size)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint8_t *buf = xmalloc(size);
    rng_fill(buf, size);
    assert_int_equal(fwrite(buf, 1, size, f), size);
    free(buf);
    assert_int_equal(fclose(f), 0);
}

static void test_interrupt_stops_everything(void **state)
{
    fx *f = *state;
    char src[PATH_MAX], target[PATH_MAX], other[PATH_MAX], path[PATH_MAX];
    test_fmt(src, sizeof src, "%s/src", f->base);
    make_dir(src);
    test_fmt(path, sizeof path, "%s/a.bin", src);
    write_file(path, 3u << 20);
    vault_add_result ar;
    fx_add(f, src, 0, &ar);
    char snap[65];
    memcpy(snap, ar.snapshot_id, sizeof snap);

    vault_interrupt();
    assert_int_equal(vault_interrupt_requested(), 1);
    /* add */
    const char *paths[] = {src};
    vault_add_options ao;
    vault_add_options_init(&ao);
    ao.paths = paths;
    ao.n_paths = 1;
    ao.cache_dir = "";
    assert_vault_code(vault_add(f->v, &ao, &ar), VAULT_E_INTERRUPTED);
    test_fmt(path, sizeof path, "%s/locks", f->vault);
    names_expect(path, (const char *const[]){NULL}); /* no marker left */
    /* extract */
    test_fmt(target, sizeof target, "%s/out", f->base);
    err_log log = {0};
    vault_extract_result er;
    assert_vault_code(extract_to(f->v, snap, target, 0, NULL, 0,
                                 &log, &er),
                      VAULT_E_INTERRUPTED);
    log_free(&log);
    /* check, prune, rekey */
    vault_check_options co;
    vault_check_options_init(&co);
    co.read_data = 1;
    vault_check_result cr;
    assert_vault_code(vault_check(f->v, &co, &cr), VAULT_E_INTERRUPTED);
    vault_prune_options po;
    vault_prune_options_init(&po);
    po.cache_dir = "";
    vault_prune_result pr;
    assert_vault_code(vault_prune(f->v, &po, &pr), VAULT_E_INTERRUPTED);
    vault_prune_result_free(&pr);
    vault_rekey_result rr;
    assert_vault_code(vault_rekey(f->v, &rr), VAULT_E_INTERRUPTED);
    /* copy */
    vault_interrupt_clear();
    test_fmt(other, sizeof other, "%s/other", f->base);
    assert_vault_ok(vault_init(other, vault_identity_recipient(f->id)));
    vault_t *dst = NULL;
    assert_vault_ok(vault_open(other, f->id, &dst));
    vault_interrupt();
    vault_copy_result cpr;
    assert_vault_code(vault_copy(f->v, dst, NULL, 0, &cpr),
                      VAULT_E_INTERRUPTED);

    /* Cleared, everything works and nothing was damaged. */
    vault_interrupt_clear();
    assert_int_equal(vault_interrupt_requested(), 0);
    assert_vault_ok(vault_copy(f->v, dst, NULL, 0, &cpr));
    vault_close(dst);
    fx_reopen(f);
    assert_vault_ok(vault_check(f->v, &co, &cr));
    assert_int_equal(cr.problems, 0);
    log = (err_log){0};
    assert_vault_ok(extract_to(f->v, snap, target, 0, NULL, 0,
                               &log, &er));
    log_free(&log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_interrupt_stops_everything,
                                        fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
