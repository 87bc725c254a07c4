/*
 * test_restore_hostile_trees.c - the library against a malicious vault: a member (who holds all
 * the keys) writes trees as raw bytes (vault_fixture.h's raw_tree and
 * forge), and extraction must write nothing outside its target, report
 * each bad item, and never crash or hang.
 *
 * This file: a 1 TiB file (in directory and tar mode), a missing chunk, a
 * tree naming itself, a 5000-deep chain, type confusion.
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

#include "ops/restore/restore.h"

static void test_evil_sizes_and_missing_chunks(void **state)
{
    fx *f = *state;
    forge g = {.v = f->v};
    uint8_t pwned[32], missing[32], two[2][32];
    forge_add(&g, BLOB_DATA, PWNED, PWNED_LEN, pwned);
    rng_fill(missing, sizeof missing);
    memcpy(two[0], pwned, 32);
    memcpy(two[1], missing, 32);
    const uint64_t tib = (uint64_t)1 << 40;
    raw_node nodes[] = {
        /* sorted by name */
        {.type = NODE_FILE, .name = "huge-empty", .size = tib},
        {.type = NODE_FILE, .name = "huge-short", .size = tib,
         .content = pwned, .n_content = 1},
        {.type = NODE_FILE, .name = "long", .size = 2, .content = pwned,
         .n_content = 1},
        {.type = NODE_FILE, .name = "missing", .size = PWNED_LEN,
         .content = missing, .n_content = 1},
        {.type = NODE_FILE, .name = "missing-2nd", .size = 2 * PWNED_LEN,
         .content = &two[0][0], .n_content = 2},
        {.type = NODE_FILE, .name = "ok", .size = PWNED_LEN,
         .content = pwned, .n_content = 1},
        {.type = NODE_FILE, .name = "suid", .mode = 06755,
         .size = PWNED_LEN, .content = pwned, .n_content = 1},
    };
    uint8_t root[32];
    forge_tree(&g, nodes, VAULT_ARRAY_SIZE(nodes), root);
    forge_commit(&g);
    char snap[65];
    forge_snapshot(f, root, snap);
    fx_reopen(f);

    arena a;
    arena_open(f, &a, "sizes");
    err_log log = {0};
    vault_extract_result res;
    vault_error rc = extract_to(f->v, snap, a.target, 0, NULL, 0, &log, &res);
    log_print(&log);
    assert_vault_code(rc, VAULT_E_PARTIAL);
    assert_int_equal(res.errors, 5);
    assert_int_equal(res.files, 2);
    assert_int_equal(log_get(&log, "huge-empty")->code, VAULT_E_CORRUPT);
    assert_int_equal(log_get(&log, "huge-short")->code, VAULT_E_CORRUPT);
    assert_int_equal(log_get(&log, "long")->code, VAULT_E_CORRUPT);
    const err_item *e = log_get(&log, "missing");
    assert_int_equal(e->code, VAULT_E_NOT_FOUND);
    assert_non_null(strstr(e->detail, "not in the index"));
    assert_int_equal(log_get(&log, "missing-2nd")->code, VAULT_E_NOT_FOUND);
    /* no partial file, no temporary left behind, the rest restored */
    const char *left[] = {"ok", "suid", NULL};
    names_expect(a.target, left);
    char p[PATH_MAX];
    test_fmt(p, sizeof p, "%s/ok", a.target);
    expect_file(p, PWNED, PWNED_LEN);
    /* not restoring owners: no set-id bits from a vault */
    struct stat st;
    test_fmt(p, sizeof p, "%s/suid", a.target);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    arena_check(&a);
    log_free(&log);

    /* ls reports what the tree claims, without reading content */
    ls_list ls = {0};
    assert_vault_ok(vault_ls(f->v, snap, NULL, 1, ls_collect, &ls));
    assert_int_equal(ls.n, VAULT_ARRAY_SIZE(nodes));
    assert_true(ls_get(&ls, "/huge-empty")->size == tib);
    ls_free(&ls);
    arena_close(&a);
}

/* Reads a tar stream from a pipe, counting bytes; past limit it closes
 * the pipe, so a writer that would go on for ever fails instead. */
typedef struct pipe_counter {
    int fd;
    uint64_t limit, bytes;
    int cut;
    uint8_t *keep; /* the first keep_cap bytes */
    size_t keep_cap;
} pipe_counter;

static void *pipe_count(void *arg)
{
    pipe_counter *c = arg;
    static uint8_t buf[1 << 16];
    ssize_t n;
    while ((n = read(c->fd, buf, sizeof buf)) > 0) {
        if (c->bytes < c->keep_cap) {
            size_t k = (size_t)n;
            if (k > c->keep_cap - c->bytes)
                k = (size_t)(c->keep_cap - c->bytes);
            memcpy(c->keep + c->bytes, buf, k);
        }
        c->bytes += (uint64_t)n;
        if (c->bytes > c->limit) {
            c->cut = 1;
            break;
        }
    }
    close(c->fd);
    return NULL;
}

/*
 * Tar mode writes a file's header (with the size the tree claims) before
 * its content; a tree claiming 1 TiB with no content behind it must not
 * make extract write a terabyte of padding.
 */
static void test_evil_tar_size_claim(void **state)
{
    fx *f = *state;
    test_watchdog("test_vault", 60);
    forge g = {.v = f->v};
    uint8_t pwned[32];
    forge_add(&g, BLOB_DATA, PWNED, PWNED_LEN, pwned);
    const uint64_t tib = (uint64_t)1 << 40;
    raw_node nodes[] = {
        {.type = NODE_FILE, .name = "ok", .size = PWNED_LEN,
         .content = pwned, .n_content = 1},
        {.type = NODE_FILE, .name = "huge-empty", .size = tib},
        {.type = NODE_FILE, .name = "huge-short", .size = tib,
         .content = pwned, .n_content = 1},
        {.type = NODE_FILE, .name = "max-size", .size = UINT64_MAX},
    };
    enum { N = VAULT_ARRAY_SIZE(nodes) };
    uint8_t roots[N][32];
    char snaps[N][65];
    for (int i = 0; i < N; i++)
        forge_tree(&g, &nodes[i], 1, roots[i]);
    forge_commit(&g);
    for (int i = 0; i < N; i++)
        forge_snapshot(f, roots[i], snaps[i]);
    fx_reopen(f);
    signal(SIGPIPE, SIG_IGN);

    const uint64_t limit = 64u << 20;
    for (int i = 0; i < N; i++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pipe_counter c = {.fd = fds[0], .limit = limit};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, pipe_count, &c), 0);
        err_log log = {0};
        vault_extract_options o;
        memset(&o, 0, sizeof o);
        o.tar = 1;
        o.tar_fd = fds[1];
        o.on_error = log_error;
        o.on_error_ctx = &log;
        vault_extract_result res;
        vault_error rc = vault_extract(f->v, snaps[i], &o, &res);
        close(fds[1]);
        pthread_join(th, NULL);
        print_message("tar of \"%s\" (%" PRIu64 " bytes claimed): %s, "
                      "%" PRIu64 " bytes of tar%s\n",
                      nodes[i].name, nodes[i].size, vault_strerror(rc),
                      c.bytes, c.cut ? " before the test cut the pipe" : "");
        log_print(&log);
        size_t reported = log.n;
        log_free(&log); /* before any failure: no leak reports */
        if (i == 0) {
            assert_vault_ok(rc);
            assert_true(c.bytes > PWNED_LEN);
            continue;
        }
        if (c.cut || c.bytes > (16u << 20)) {
            signal(SIGPIPE, SIG_DFL);
            fail_msg("extract --tar of a tree claiming a %" PRIu64
                     "-byte file backed by %u chunk(s) wrote %" PRIu64
                     " bytes (zero padding for content that does not "
                     "exist) and was still writing",
                     nodes[i].size, nodes[i].n_content, c.bytes);
        }
        assert_true(rc != VAULT_OK);
        assert_true(reported >= 1 || rc != VAULT_E_PARTIAL);
    }
    signal(SIGPIPE, SIG_DFL);
    alarm(0);
}

static void test_evil_self_reference(void **state)
{
    fx *f = *state;
    test_watchdog("test_vault", 20);
    forge g = {.v = f->v};
    uint8_t pwned[32];
    forge_add(&g, BLOB_DATA, PWNED, PWNED_LEN, pwned);

    /* A tree cannot hold its own keyed hash, so a self-reference needs a
     * forged ID: tree bytes {loop -> X} stored as the blob with ID X. */
    uint8_t x[32];
    rng_fill(x, sizeof x);
    raw_node loop = {.type = NODE_DIR, .name = "loop", .subtree = x};
    rawbuf b = {0};
    raw_tree(&b, &loop, 1);
    forge_add_as(&g, BLOB_TREE, x, b.p, b.len);
    rb_free(&b);
    /* an honest root above it */
    raw_node top[] = {
        {.type = NODE_DIR, .name = "loop", .subtree = x},
        {.type = NODE_FILE, .name = "ok", .size = PWNED_LEN,
         .content = pwned, .n_content = 1},
    };
    uint8_t root[32];
    forge_tree(&g, top, 2, root);

    /* And a chain deeper than any restorer should follow: 600 distinct
     * trees, each the only child of the one above. */
    enum { DEPTH = 600, DEEPER = 5000 };
    uint8_t chain[32], deep[32] = {0};
    forge_tree(&g, NULL, 0, chain);
    for (int i = 0; i < DEEPER; i++) {
        raw_node d = {.type = NODE_DIR, .name = "d", .subtree = chain};
        forge_tree(&g, &d, 1, chain);
        if (i == DEPTH - 1)
            memcpy(deep, chain, 32);
    }
    forge_commit(&g);
    char snap_x[65], snap_root[65], snap_chain[65], snap_deeper[65];
    forge_snapshot(f, x, snap_x);
    forge_snapshot(f, root, snap_root);
    forge_snapshot(f, deep, snap_chain);
    forge_snapshot(f, chain, snap_deeper);
    fx_reopen(f);

    arena a;
    arena_open(f, &a, "loop");
    err_log log = {0};
    vault_extract_result res;
    /* the forged tree as the root: refused, its ID does not match */
    vault_error rc = extract_to(f->v, snap_x, a.target, 0, NULL, 0, &log,
                                &res);
    assert_vault_code(rc, VAULT_E_CORRUPT);
    log_free(&log);
    /* below an honest root: reported, the rest restored */
    rc = extract_to(f->v, snap_root, a.target, 0, NULL, 0, &log, &res);
    assert_vault_code(rc, VAULT_E_PARTIAL);
    assert_int_equal(log_get(&log, "loop")->code, VAULT_E_CORRUPT);
    const char *only_ok[] = {"ok", NULL};
    names_expect(a.target, only_ok);
    arena_check(&a);
    log_free(&log);
    ls_list ls = {0};
    assert_vault_code(vault_ls(f->v, snap_root, NULL, 1, ls_collect, &ls),
                      VAULT_E_CORRUPT);
    ls_free(&ls);
    assert_vault_code(vault_ls(f->v, snap_root, "/loop/loop/loop", 0,
                               ls_collect, &ls),
                      VAULT_E_CORRUPT);
    ls_free(&ls);

    /* the deep chain: restored to a bounded depth, then reported */
    rm_rf(a.target);
    make_dir(a.target);
    rc = extract_to(f->v, snap_chain, a.target, 0, NULL, 0, &log, &res);
    assert_vault_code(rc, VAULT_E_PARTIAL);
    assert_int_equal(log.n, 1);
    assert_int_equal(log.e[0].code, VAULT_E_UNSUPPORTED);
    assert_true(res.dirs > 100 && res.dirs < DEPTH);
    arena_check(&a);
    log_free(&log);
    /* ls goes as deep as extraction does (512 levels), then says why */
    assert_vault_code(vault_ls(f->v, snap_chain, NULL, 1, ls_collect, &ls),
                      VAULT_E_UNSUPPORTED);
    assert_true(ls.n >= 500 && ls.n < DEPTH);
    ls_free(&ls);
    /* 5000 levels: ls must stop with an error (its path buffer ends
     * near 4096 levels) rather than run out of stack */
    vault_error lrc = vault_ls(f->v, snap_deeper, NULL, 1, ls_collect, &ls);
    print_message("ls of %d nested directories: %s (%zu listed): %s\n",
                  DEEPER, vault_strerror(lrc), ls.n, vault_last_error());
    assert_int_not_equal(lrc, VAULT_OK);
    assert_true(ls.n < DEEPER);
    ls_free(&ls);
    rm_rf(a.target);
    make_dir(a.target);
    rc = extract_to(f->v, snap_deeper, a.target, 0, NULL, 0, &log, &res);
    assert_vault_code(rc, VAULT_E_PARTIAL);
    assert_int_equal(log.n, 1);
    assert_int_equal(log.e[0].code, VAULT_E_UNSUPPORTED);
    arena_check(&a);
    log_free(&log);
    arena_close(&a);
    alarm(0);
}

static void test_evil_type_confusion(void **state)
{
    fx *f = *state;
    forge g = {.v = f->v};
    uint8_t pwned[32], garbage_tree[32], honest_tree[32], nowhere[32];
    forge_add(&g, BLOB_DATA, PWNED, PWNED_LEN, pwned);
    /* a tree blob (ID computed as a tree's) whose bytes are no tree */
    forge_add(&g, BLOB_TREE, PWNED, PWNED_LEN, garbage_tree);
    raw_node ok = {.type = NODE_FILE, .name = "ok", .size = PWNED_LEN,
                   .content = pwned, .n_content = 1};
    forge_tree(&g, &ok, 1, honest_tree);
    rng_fill(nowhere, sizeof nowhere);
    raw_node nodes[] = {
        {.type = NODE_DIR, .name = "dir-is-data", .subtree = pwned},
        {.type = NODE_DIR, .name = "dir-is-garbage", .subtree = garbage_tree},
        {.type = NODE_DIR, .name = "dir-is-missing", .subtree = nowhere},
        {.type = NODE_FILE, .name = "file-is-tree", .size = 10,
         .content = honest_tree, .n_content = 1},
        {.type = NODE_FILE, .name = "ok", .size = PWNED_LEN,
         .content = pwned, .n_content = 1},
    };
    uint8_t root[32];
    forge_tree(&g, nodes, VAULT_ARRAY_SIZE(nodes), root);
    forge_commit(&g);
    char snap_data[65], snap_garbage[65], snap_missing[65], snap_mixed[65];
    forge_snapshot(f, pwned, snap_data);
    forge_snapshot(f, garbage_tree, snap_garbage);
    forge_snapshot(f, nowhere, snap_missing);
    forge_snapshot(f, root, snap_mixed);
    fx_reopen(f);

    arena a;
    arena_open(f, &a, "types");
    err_log log = {0};
    vault_extract_result res;
    ls_list ls = {0};
    /* snapshots whose root is no tree: a clean error, nothing written */
    const char *roots[] = {snap_data, snap_garbage, snap_missing};
    const vault_error want[] = {VAULT_E_CORRUPT, VAULT_E_CORRUPT,
                                VAULT_E_NOT_FOUND};
    for (size_t i = 0; i < 3; i++) {
        vault_error rc = extract_to(f->v, roots[i], a.target, 0, NULL, 0,
                                    &log, &res);
        assert_vault_code(rc, want[i]);
        assert_int_equal(log.n, 0);
        assert_vault_code(vault_ls(f->v, roots[i], NULL, 1, ls_collect, &ls),
                          want[i]);
        ls_free(&ls);
        const char *none[] = {NULL};
        names_expect(a.target, none);
    }
    vault_error rc = extract_to(f->v, snap_mixed, a.target, 0, NULL, 0, &log,
                                &res);
    log_print(&log);
    assert_vault_code(rc, VAULT_E_PARTIAL);
    assert_int_equal(res.errors, 4);
    assert_int_equal(log_get(&log, "dir-is-data")->code, VAULT_E_CORRUPT);
    assert_int_equal(log_get(&log, "dir-is-garbage")->code, VAULT_E_CORRUPT);
    assert_int_equal(log_get(&log, "dir-is-missing")->code,
                     VAULT_E_NOT_FOUND);
    assert_int_equal(log_get(&log, "file-is-tree")->code, VAULT_E_CORRUPT);
    const char *only_ok[] = {"ok", NULL};
    names_expect(a.target, only_ok);
    arena_check(&a);
    log_free(&log);
    arena_close(&a);
}

int main(void)
{
    if (vault_global_init() != VAULT_OK) {
        fprintf(stderr, "vault_global_init: %s\n", vault_last_error());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_evil_sizes_and_missing_chunks, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_evil_tar_size_claim, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_evil_self_reference, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_evil_type_confusion, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests_name("hostile vault: trees", tests, NULL, NULL)
               ? 1
               : 0;
}
