/*
 * test_backend_faulty.c - the fault-injection wrapper
 * (vault/testing/backend_faulty.c): with no fault it passes the
 * conformance suite (backend_conformance.h) in front of a memory backend;
 * then failing the Nth operation, sticky failures, its open errors, and
 * kill mode.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "test_util.h"

#include "backend_conformance.h"
#include "backend_testing.h"
#include "common/internal.h"

/* A memory backend behind a wrapper that never fails. */
static vault_error faulty_open(void *ctx, backend **out)
{
    (void)ctx;
    backend *inner;
    vault_error rc = vlt_backend_memory_open(&inner);
    if (rc != VAULT_OK)
        return rc;
    return vlt_backend_faulty_open(inner, 0, VAULT_E_IO, 0, out);
}

/* A local backend (which writes objects in pieces) behind a wrapper
 * that never fails: the stage operations pass through. */
static vault_error faulty_local_open(void *ctx, backend **out)
{
    backend *inner;
    vault_error rc = local_target_open(ctx, &inner);
    if (rc != VAULT_OK)
        return rc;
    return vlt_backend_faulty_open(inner, 0, VAULT_E_IO, 0, out);
}

/* The objects a script starts from, in the inner backend. */
static char name_a[VAULT_NAME_HEX + 1], name_b[VAULT_NAME_HEX + 1],
    name_c[VAULT_NAME_HEX + 1], name_x[VAULT_NAME_HEX + 1],
    name_y[VAULT_NAME_HEX + 1];

static backend *populated_memory(void)
{
    backend *inner;
    assert_vault_ok(vlt_backend_memory_open(&inner));
    assert_vault_ok(
        backend_save(inner, BACKEND_KEYS, name_a, (const uint8_t *)"alpha", 5));
    assert_vault_ok(
        backend_save(inner, BACKEND_KEYS, name_b, (const uint8_t *)"beta", 4));
    assert_vault_ok(backend_save(inner, BACKEND_DATA, name_c,
                                 (const uint8_t *)"gamma ray", 9));
    return inner;
}

#define SCRIPT_OPS 11
typedef struct script_result {
    vault_error rc[SCRIPT_OPS];    /* each operation's result */
    char detail[SCRIPT_OPS][512];  /* its detail, on failure */
    size_t list_calls[SCRIPT_OPS]; /* fn calls, for lists */
    int stopped[SCRIPT_OPS];       /* *stopped, for lists */
} script_result;

/* Eleven operations, none depending on another's success. */
static void run_script(backend *be, script_result *r)
{
    memset(r, 0, sizeof *r);
    for (int i = 0; i < SCRIPT_OPS; i++) {
        uint8_t *out = (uint8_t *)"sentinel";
        size_t out_len = 1;
        uint64_t size = 1;
        collected *c = calloc(1, sizeof *c);
        assert_non_null(c);
        int stopped = 42;
        vault_error rc = VAULT_E_INTERNAL;
        switch (i) {
        case 0:
            rc =
                backend_save(be, BACKEND_KEYS, name_x, (const uint8_t *)"x", 1);
            break;
        case 1:
            rc = backend_load(be, BACKEND_KEYS, name_a, 0, 0, 100, &out,
                              &out_len);
            if (rc == VAULT_OK) {
                assert_int_equal(out_len, 5);
                assert_memory_equal(out, "alpha", 5);
            }
            break;
        case 2:
            rc = backend_stat(be, BACKEND_KEYS, name_a, &size);
            if (rc == VAULT_OK)
                assert_int_equal(size, 5);
            break;
        case 3:
            rc = backend_list(be, BACKEND_DATA, collect_fn, c, &stopped);
            break;
        case 4:
            rc = backend_remove(be, BACKEND_KEYS, name_b);
            break;
        case 5:
            rc =
                backend_load(be, BACKEND_DATA, name_c, 6, 3, 3, &out, &out_len);
            if (rc == VAULT_OK)
                assert_memory_equal(out, "ray", 3);
            break;
        case 6:
            rc =
                backend_save(be, BACKEND_DATA, name_y, (const uint8_t *)"y", 1);
            break;
        case 7:
            rc = backend_stat(be, BACKEND_DATA, name_c, &size);
            break;
        case 8:
            c->stop_at = 1;
            c->stop_value = 3;
            rc = backend_list(be, BACKEND_KEYS, collect_fn, c, &stopped);
            break;
        case 9:
            rc = backend_save(be, BACKEND_CONFIG, "", (const uint8_t *)"c", 1);
            break;
        case 10:
            rc =
                backend_load(be, BACKEND_KEYS, name_a, 1, 2, 2, &out, &out_len);
            if (rc == VAULT_OK)
                assert_memory_equal(out, "lp", 2);
            break;
        }
        r->rc[i] = rc;
        r->list_calls[i] = c->calls;
        r->stopped[i] = stopped;
        free(c);
        if (rc == VAULT_OK) {
            if (i == 1 || i == 5 || i == 10)
                free(out);
        } else {
            snprintf(r->detail[i], sizeof r->detail[i], "%s",
                     vault_last_error());
            if (i == 1 || i == 5 || i == 10) {
                assert_null(out);
                assert_int_equal(out_len, 0);
            }
            if (i == 2 || i == 7)
                assert_int_equal(size, 0);
            if (i == 3 || i == 8) {
                assert_int_equal(r->list_calls[i], 0);
                assert_int_equal(stopped, 0);
            }
        }
    }
}

static int present(backend *inner, backend_kind kind, const char *name)
{
    uint64_t size;
    vault_error rc = backend_stat(inner, kind, name, &size);
    assert_true(rc == VAULT_OK || rc == VAULT_E_NOT_FOUND);
    return rc == VAULT_OK;
}

static void check_side_effects(backend *inner, const int failed[SCRIPT_OPS])
{
    /* A failed save stored nothing, a failed remove removed nothing. */
    assert_int_equal(present(inner, BACKEND_KEYS, name_x), !failed[0]);
    assert_int_equal(present(inner, BACKEND_KEYS, name_b), failed[4]);
    assert_int_equal(present(inner, BACKEND_DATA, name_y), !failed[6]);
    assert_int_equal(present(inner, BACKEND_CONFIG, ""), !failed[9]);
    assert_true(present(inner, BACKEND_KEYS, name_a));
    assert_true(present(inner, BACKEND_DATA, name_c));
}

static int setup_names(void **state)
{
    (void)state;
    name_for(1, name_a);
    name_for(2, name_b);
    name_for(3, name_c);
    name_for(4, name_x);
    name_for(5, name_y);
    return 0;
}

static void test_faulty_no_fault(void **state)
{
    (void)state;
    backend *inner = populated_memory(), *be;
    assert_vault_ok(vlt_backend_faulty_open(inner, 0, VAULT_E_IO, 1, &be));
    assert_int_equal(vlt_backend_faulty_count(be), 0);
    script_result r;
    run_script(be, &r);
    for (int i = 0; i < SCRIPT_OPS; i++)
        if (r.rc[i] != VAULT_OK)
            fail_msg("op %d: %s: %s", i + 1, vault_strerror(r.rc[i]),
                     r.detail[i]);
    assert_int_equal(r.list_calls[3], 1);
    assert_int_equal(r.stopped[3], 0);
    assert_int_equal(r.list_calls[8], 1);
    assert_int_equal(r.stopped[8], 3);
    assert_int_equal(vlt_backend_faulty_count(be), SCRIPT_OPS);
    int failed[SCRIPT_OPS] = {0};
    check_side_effects(inner, failed);
    /* Failures of the inner backend pass through, and count. */
    uint64_t size;
    assert_vault_code(backend_stat(be, BACKEND_KEYS, name_b, &size),
                      VAULT_E_NOT_FOUND);
    assert_vault_code(backend_stat(be, BACKEND_KEYS, "bad", &size),
                      VAULT_E_INVALID);
    assert_int_equal(vlt_backend_faulty_count(be), SCRIPT_OPS + 2);
    backend_close(be);
}

static void test_faulty_each_op(void **state)
{
    (void)state;
    const vault_error codes[] = {VAULT_E_IO, VAULT_E_NOMEM, VAULT_E_CORRUPT,
                                 VAULT_E_NOT_FOUND};
    for (uint64_t n = 1; n <= SCRIPT_OPS; n++) {
        vault_error code = codes[n % VAULT_ARRAY_SIZE(codes)];
        backend *inner = populated_memory(), *be;
        assert_vault_ok(vlt_backend_faulty_open(inner, n, code, 0, &be));
        script_result r;
        run_script(be, &r);
        int failed[SCRIPT_OPS] = {0};
        for (uint64_t i = 1; i <= SCRIPT_OPS; i++) {
            if (i == n) {
                if (r.rc[i - 1] != code)
                    fail_msg("fail_at %llu: op %llu gave %s",
                             (unsigned long long)n, (unsigned long long)i,
                             vault_strerror(r.rc[i - 1]));
                char want[64];
                snprintf(want, sizeof want, "injected fault at operation %llu",
                         (unsigned long long)n);
                if (!strstr(r.detail[i - 1], want))
                    fail_msg("detail \"%s\" lacks \"%s\"", r.detail[i - 1],
                             want);
                failed[i - 1] = 1;
            } else if (r.rc[i - 1] != VAULT_OK) {
                fail_msg("fail_at %llu: op %llu failed too: %s",
                         (unsigned long long)n, (unsigned long long)i,
                         r.detail[i - 1]);
            }
        }
        assert_int_equal(vlt_backend_faulty_count(be), SCRIPT_OPS);
        check_side_effects(inner, failed);
        backend_close(be);
    }
}

static void test_faulty_sticky(void **state)
{
    (void)state;
    for (uint64_t n = 1; n <= SCRIPT_OPS; n++) {
        backend *inner = populated_memory(), *be;
        assert_vault_ok(vlt_backend_faulty_open(inner, n, VAULT_E_IO, 1, &be));
        script_result r;
        run_script(be, &r);
        int failed[SCRIPT_OPS] = {0};
        for (uint64_t i = 1; i <= SCRIPT_OPS; i++) {
            if (i < n) {
                assert_int_equal(r.rc[i - 1], VAULT_OK);
                continue;
            }
            assert_int_equal(r.rc[i - 1], VAULT_E_IO);
            char want[64];
            snprintf(want, sizeof want, "injected fault at operation %llu",
                     (unsigned long long)i);
            if (!strstr(r.detail[i - 1], want))
                fail_msg("detail \"%s\" lacks \"%s\"", r.detail[i - 1], want);
            failed[i - 1] = 1;
        }
        assert_int_equal(vlt_backend_faulty_count(be), SCRIPT_OPS);
        check_side_effects(inner, failed);
        backend_close(be);
    }
}

/* Over a local backend, stage_begin, each stage_write and stage_commit
 * count as operations; a fault at any of them stores nothing and leaves
 * no temporary behind once the stage is aborted (as add's pack writer
 * does). */
static void test_faulty_stage_ops(void **state)
{
    (void)state;
    char name[VAULT_NAME_HEX + 1];
    name_for(77, name);
    const uint8_t piece[] = "piece";
    for (uint64_t n = 1; n <= 4; n++) { /* begin, write, write, commit */
        local_target lt = {0};
        backend *local, *be;
        assert_vault_ok(local_target_open(&lt, &local));
        assert_vault_ok(vlt_backend_faulty_open(local, n, VAULT_E_IO, 0, &be));
        assert_true(backend_can_stage(be));
        backend_stage *st = NULL;
        vault_error rc = backend_stage_begin(be, BACKEND_DATA, &st);
        for (int w = 0; w < 2 && rc == VAULT_OK; w++)
            rc = backend_stage_write(be, st, piece, sizeof piece);
        if (rc == VAULT_OK) {
            rc = backend_stage_commit(be, st, name);
            st = NULL; /* the commit frees it, also when it fails */
        }
        backend_stage_abort(be, st);
        assert_vault_code(rc, VAULT_E_IO);
        char want[64];
        snprintf(want, sizeof want, "injected fault at operation %llu",
                 (unsigned long long)n);
        assert_detail_has(want);
        assert_int_equal(vlt_backend_faulty_count(be), n);
        uint64_t size, removed = 1;
        assert_vault_code(backend_stat(be, BACKEND_DATA, name, &size),
                          VAULT_E_NOT_FOUND);
        assert_vault_ok(backend_clean(be, 0, &removed));
        assert_int_equal(removed, 0);
        backend_close(be);
        local_target_cleanup(&lt);
    }
}

static void test_faulty_open_errors(void **state)
{
    (void)state;
    backend *be = (backend *)&be, *inner;
    assert_vault_code(vlt_backend_faulty_open(NULL, 0, VAULT_E_IO, 0, &be),
                      VAULT_E_INVALID);
    assert_null(be);
    /* A fault must have a code; inner is closed (LeakSanitizer checks). */
    assert_vault_ok(vlt_backend_memory_open(&inner));
    assert_vault_code(vlt_backend_faulty_open(inner, 1, VAULT_OK, 0, &be),
                      VAULT_E_INVALID);
    assert_null(be);
    assert_detail_has("needs an error code");
    /* fail_at 0 takes any code. */
    assert_vault_ok(vlt_backend_memory_open(&inner));
    assert_vault_ok(vlt_backend_faulty_open(inner, 0, VAULT_OK, 0, &be));
    /* Wrappers nest: the outer counts its own operations. */
    backend *outer;
    assert_vault_ok(vlt_backend_faulty_open(be, 2, VAULT_E_IO, 0, &outer));
    uint64_t size;
    assert_vault_code(backend_stat(outer, BACKEND_CONFIG, "", &size),
                      VAULT_E_NOT_FOUND);
    assert_vault_code(backend_stat(outer, BACKEND_CONFIG, "", &size),
                      VAULT_E_IO);
    assert_int_equal(vlt_backend_faulty_count(outer), 2);
    assert_int_equal(vlt_backend_faulty_count(be), 1);
    backend_close(outer);
    backend_close(NULL);
}

/* Kill mode: a fork()ed child saves three objects into a local backend
 * and dies by SIGKILL at operation n - before it (n - 1 objects saved) or
 * right after it (n saved); past the last operation it lives on. */
static void test_faulty_kill(void **state)
{
    (void)state;
    char *tmp = test_tempdir();
    char root[PATH_MAX];
    snprintf(root, sizeof root, "%s/vault", tmp);
    backend *local;
    assert_vault_ok(vlt_backend_local_open(root, 1, &local));
    save_config(local);
    const char *names[3] = {name_a, name_b, name_c};
    for (int after = 0; after <= 1; after++) {
        for (uint64_t n = 0; n <= 4; n++) {
            pid_t pid = fork();
            assert_true(pid >= 0);
            if (pid == 0) {
                backend *inner, *be;
                if (vlt_backend_local_open(root, 0, &inner) != VAULT_OK ||
                    vlt_backend_faulty_open_kill(inner, n, after, &be) != VAULT_OK)
                    _exit(2);
                for (int i = 0; i < 3; i++)
                    if (backend_save(be, BACKEND_KEYS, names[i],
                                     (const uint8_t *)"k", 1) != VAULT_OK)
                        _exit(3);
                int ok = vlt_backend_faulty_count(be) == 3;
                backend_close(be);
                _exit(ok ? 0 : 4);
            }
            int status;
            assert_int_equal(waitpid(pid, &status, 0), pid);
            int saved = n == 0 || n > 3 ? 3 : after ? (int)n : (int)n - 1;
            if (n == 0 || n > 3) {
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                    fail_msg("kill_at %d after %d: child status %#x",
                             (int)n, after, (unsigned)status);
            } else if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
                fail_msg("kill_at %d after %d: not killed (status %#x)",
                         (int)n, after, (unsigned)status);
            }
            for (int i = 0; i < 3; i++) {
                assert_int_equal(present(local, BACKEND_KEYS, names[i]),
                                 i < saved);
                if (i < saved)
                    assert_vault_ok(
                        backend_remove(local, BACKEND_KEYS, names[i]));
            }
        }
    }
    /* The wrapper itself still fails nothing in kill mode. */
    backend *be;
    assert_vault_ok(vlt_backend_faulty_open_kill(local, 0, 0, &be));
    uint64_t size;
    assert_vault_code(backend_stat(be, BACKEND_KEYS, name_a, &size),
                      VAULT_E_NOT_FOUND);
    assert_int_equal(vlt_backend_faulty_count(be), 1);
    backend_close(be);
    test_rmtree(tmp);
}

int main(void)
{
    if (vault_global_init() != VAULT_OK) {
        fprintf(stderr, "vault_global_init: %s\n", vault_last_error());
        return 1;
    }
    const backend_conformance target = {
        .name = "faulty(memory)",
        .open = faulty_open,
    };
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_faulty_no_fault),
        cmocka_unit_test(test_faulty_each_op),
        cmocka_unit_test(test_faulty_sticky),
        cmocka_unit_test(test_faulty_open_errors),
        cmocka_unit_test(test_faulty_stage_ops),
        cmocka_unit_test(test_faulty_kill),
    };
    local_target lt = {0};
    const backend_conformance local = {
        .name = "faulty(local)",
        .open = faulty_local_open,
        .cleanup = local_target_cleanup,
        .ctx = &lt,
    };
    int failures = backend_conformance_run(&target);
    failures += backend_conformance_run(&local);
    failures += cmocka_run_group_tests_name("faulty backend", tests,
                                            setup_names, NULL);
    return failures ? 1 : 0;
}
