/*
 * test_restore_hostile_names.c - the library against a malicious vault: a member (who holds all
 * the keys) writes trees as raw bytes (vault_fixture.h's raw_tree and
 * forge), and extraction must write nothing outside its target, report
 * each bad item, and never crash or hang.
 *
 * This file: bad names (../, absolute, slashes, NUL, too long), names the
 * restorer re-checks itself, and symlinks to write through.
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

/* Names a tree must never restore, one per subdirectory of the root. */
static const struct {
    const char *name;
    size_t len; /* 0: strlen */
} bad_names[] = {
    {"../escape", 0}, {"/abs", 0}, {"a/b", 0}, {".", 0},
    {"..", 0},        {"", 0},     {"x\0y", 3}, {"../../../../../../tmp/x", 0},
};

static void test_evil_names(void **state)
{
    fx *f = *state;
    int abs_existed = exists_nofollow("/abs");
    forge g = {.v = f->v};
    uint8_t pwned[32];
    forge_add(&g, BLOB_DATA, PWNED, PWNED_LEN, pwned);

    /* (a) root: d0..d7 -> a tree holding one file with a bad name, then a
     * good file "zz-ok" */
    const size_t nb = VAULT_ARRAY_SIZE(bad_names);
    uint8_t sub[VAULT_ARRAY_SIZE(bad_names)][32];
    raw_node root[VAULT_ARRAY_SIZE(bad_names) + 1];
    char dnames[VAULT_ARRAY_SIZE(bad_names)][8];
    for (size_t i = 0; i < nb; i++) {
        raw_node n = {.type = NODE_FILE,
                      .name = bad_names[i].name,
                      .name_len = bad_names[i].len,
                      .size = PWNED_LEN,
                      .content = pwned,
                      .n_content = 1};
        forge_tree(&g, &n, 1, sub[i]);
        test_fmt(dnames[i], sizeof dnames[i], "d%zu", i);
        root[i] = (raw_node){.type = NODE_DIR, .name = dnames[i],
                             .subtree = sub[i]};
    }
    root[nb] = (raw_node){.type = NODE_FILE, .name = "zz-ok",
                          .size = PWNED_LEN, .content = pwned,
                          .n_content = 1};
    uint8_t root_id[32];
    forge_tree(&g, root, (uint32_t)nb + 1, root_id);

    /* (b) each bad name directly in a root tree, as a file and as a dir
     * (whose subtree is the honest "zz-ok" tree) */
    uint8_t ok_tree[32];
    forge_tree(&g, &root[nb], 1, ok_tree);
    uint8_t direct[VAULT_ARRAY_SIZE(bad_names)][2][32];
    for (size_t i = 0; i < nb; i++) {
        raw_node file = {.type = NODE_FILE, .name = bad_names[i].name,
                         .name_len = bad_names[i].len, .size = PWNED_LEN,
                         .content = pwned, .n_content = 1};
        raw_node dir = {.type = NODE_DIR, .name = bad_names[i].name,
                        .name_len = bad_names[i].len, .subtree = ok_tree};
        forge_tree(&g, &file, 1, direct[i][0]);
        forge_tree(&g, &dir, 1, direct[i][1]);
    }
    forge_commit(&g);
    char snap[65], direct_snap[VAULT_ARRAY_SIZE(bad_names)][2][65];
    forge_snapshot(f, root_id, snap);
    for (size_t i = 0; i < nb; i++)
        for (int k = 0; k < 2; k++)
            forge_snapshot(f, direct[i][k], direct_snap[i][k]);
    fx_reopen(f);

    arena a;
    arena_open(f, &a, "names");
    err_log log = {0};
    vault_extract_result res;
    vault_error rc = extract_to(f->v, snap, a.target, 0, NULL, 0, &log, &res);
    log_print(&log);
    assert_vault_code(rc, VAULT_E_PARTIAL);
    assert_int_equal(res.errors, nb);
    assert_int_equal(res.files, 1);
    for (size_t i = 0; i < nb; i++) {
        const err_item *e = log_get(&log, dnames[i]);
        if (!code_is_refusal(e->code))
            fail_msg("%s: reported as %s", dnames[i], vault_strerror(e->code));
    }
    const char *only_ok[] = {"zz-ok", NULL};
    names_expect(a.target, only_ok);
    char p[PATH_MAX];
    test_fmt(p, sizeof p, "%s/zz-ok", a.target);
    expect_file(p, PWNED, PWNED_LEN);
    arena_check(&a);
    log_free(&log);

    /* ls refuses the same trees; it never reports a bad name */
    ls_list ls = {0};
    rc = vault_ls(f->v, snap, NULL, 1, ls_collect, &ls);
    assert_true(rc == VAULT_E_CORRUPT);
    for (size_t i = 0; i < ls.n; i++)
        assert_null(strstr(ls.e[i].path, ".."));
    ls_free(&ls);

    /* (b) */
    for (size_t i = 0; i < nb; i++) {
        for (int k = 0; k < 2; k++) {
            rm_rf(a.target);
            make_dir(a.target);
            rc = extract_to(f->v, direct_snap[i][k], a.target, 0, NULL, 0,
                            &log, &res);
            if (rc == VAULT_E_PARTIAL) {
                assert_int_equal(log.n, 1);
                if (!code_is_refusal(log.e[0].code))
                    fail_msg("bad name %zu: reported as %s", i,
                             vault_strerror(log.e[0].code));
            } else if (rc != VAULT_E_CORRUPT) {
                log_print(&log);
                fail_msg("bad name %zu (%s): extract returned %s: %s", i,
                         k ? "dir" : "file", vault_strerror(rc),
                         vault_last_error());
            }
            const char *none[] = {NULL};
            names_expect(a.target, none);
            arena_check(&a);
            log_free(&log);
            assert_int_not_equal(vault_ls(f->v, direct_snap[i][k], NULL, 1,
                                          ls_collect, &ls),
                                 VAULT_OK);
            ls_free(&ls);
        }
    }
    if (!abs_existed)
        assert_false(exists_nofollow("/abs"));
    arena_close(&a);
}

/* A name the decoder accepts (<= 4096 bytes) but no file system does
 * (> NAME_MAX): reported, and no temporary file is left behind. */
static void test_evil_long_names(void **state)
{
    fx *f = *state;
    char name[1001];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    forge g = {.v = f->v};
    uint8_t pwned[32], empty[32], root[32];
    forge_add(&g, BLOB_DATA, PWNED, PWNED_LEN, pwned);
    forge_tree(&g, NULL, 0, empty);
    raw_node nodes[] = {
        {.type = NODE_FILE, .name = name, .size = PWNED_LEN,
         .content = pwned, .n_content = 1},
        {.type = NODE_SYMLINK, .name = name + 1, .target = "x"},
        {.type = NODE_DIR, .name = name + 2, .subtree = empty},
        {.type = NODE_FILE, .name = "ok", .size = PWNED_LEN,
         .content = pwned, .n_content = 1},
    };
    /* sorted: longer "nnn..." names sort after shorter ones */
    raw_node sorted[] = {nodes[2], nodes[1], nodes[0], nodes[3]};
    forge_tree(&g, sorted, 4, root);
    forge_commit(&g);
    char snap[65];
    forge_snapshot(f, root, snap);
    fx_reopen(f);

    arena a;
    arena_open(f, &a, "long");
    err_log log = {0};
    vault_extract_result res;
    vault_error rc = extract_to(f->v, snap, a.target, 0, NULL, 0, &log, &res);
    assert_vault_code(rc, VAULT_E_PARTIAL);
    assert_int_equal(log.n, 3);
    const char *only_ok[] = {"ok", NULL};
    names_expect(a.target, only_ok);
    arena_check(&a);
    log_free(&log);
    arena_close(&a);
}

/* The restorer re-checks names itself, whatever the decoder let by: a fake
 * source hands it trees vlt_tree_decode would never produce. */
typedef struct fake_src {
    tree root;
} fake_src;

static vault_error fake_load_tree(void *ctx, const uint8_t id[32], tree *out)
{
    fake_src *s = ctx;
    memset(out, 0, sizeof *out);
    if (id[0] != 0)
        return vlt_fail(VAULT_E_NOT_FOUND, "fake: no tree %u", id[0]);
    /* a deep copy each time: the restorer frees what it gets */
    out->n_nodes = s->root.n_nodes;
    out->nodes = calloc(out->n_nodes, sizeof *out->nodes);
    assert_non_null(out->nodes);
    for (uint32_t i = 0; i < out->n_nodes; i++) {
        const tree_node *src = &s->root.nodes[i];
        tree_node *n = &out->nodes[i];
        *n = *src;
        n->name = src->name ? xstrdup(src->name) : NULL;
        n->user = xstrdup("");
        n->group = xstrdup("");
        n->target = src->target ? xstrdup(src->target) : NULL;
        n->xattrs = NULL;
        n->content = NULL;
        if (src->n_content) {
            n->content = xmalloc(src->n_content * (size_t)CHUNK_ID_BYTES);
            memcpy(n->content, src->content,
                   src->n_content * (size_t)CHUNK_ID_BYTES);
        }
    }
    return VAULT_OK;
}

static vault_error fake_load_chunk(void *ctx, const uint8_t id[32],
                                   uint8_t **data, size_t *len)
{
    (void)ctx;
    (void)id;
    *data = xmalloc(PWNED_LEN);
    memcpy(*data, PWNED, PWNED_LEN);
    *len = PWNED_LEN;
    return VAULT_OK;
}

static void test_restore_rechecks_names(void **state)
{
    fx *f = *state;
    /* bad names (NULL too: no name at all), then one good file */
    static const char *names[] = {"../escape", "/abs", "a/b", ".", "..", "",
                                  NULL, "zz-ok"};
    const uint32_t n = VAULT_ARRAY_SIZE(names);
    const uint32_t n_bad = n; /* n - 1 bad files, and ".." (a dir) */
    uint8_t chunk[1][32] = {{1}};
    tree_node nodes[VAULT_ARRAY_SIZE(names) + 1];
    memset(nodes, 0, sizeof nodes);
    for (uint32_t i = 0; i < n; i++) {
        nodes[i].type = NODE_FILE;
        nodes[i].name = (char *)(uintptr_t)names[i];
        nodes[i].mode = 0644;
        nodes[i].size = PWNED_LEN;
        nodes[i].nlink = 1;
        nodes[i].content = chunk;
        nodes[i].n_content = 1;
    }
    /* a directory named ".." whose subtree is the root itself: followed,
     * it would climb out of the target and recurse without end */
    nodes[n].type = NODE_DIR;
    nodes[n].name = (char *)(uintptr_t)"..";
    nodes[n].mode = 0755;
    nodes[n].nlink = 1;
    fake_src s = {{nodes, n + 1}};
    restore_source src = {fake_load_tree, fake_load_chunk, NULL, &s, NULL,
                          NULL, NULL, NULL, NULL, NULL, NULL, 0};

    arena a;
    arena_open(f, &a, "recheck");
    err_log log = {0};
    restore_options o;
    memset(&o, 0, sizeof o);
    o.target_dir = a.target;
    o.tar_fd = -1;
    o.on_error = log_error;
    o.on_error_ctx = &log;
    restore_stats st;
    uint8_t root[32] = {0};
    vault_error rc = vlt_restore_run(&src, root, &o, &st);
    log_print(&log);
    assert_vault_code(rc, VAULT_E_PARTIAL);
    assert_int_equal(st.errors, n_bad);
    assert_int_equal(st.files, 1); /* "zz-ok" */
    for (size_t i = 0; i < log.n; i++)
        assert_int_equal(log.e[i].code, VAULT_E_UNSAFE_PATH);
    const char *only_ok[] = {"zz-ok", NULL};
    names_expect(a.target, only_ok);
    arena_check(&a);
    log_free(&log);

    /* the same in tar mode: nothing bad reaches the stream */
    char tarp[PATH_MAX];
    test_fmt(tarp, sizeof tarp, "%s/out.tar", a.dir);
    int fd = open(tarp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    o.target_dir = NULL;
    o.tar_fd = fd;
    rc = vlt_restore_run(&src, root, &o, &st);
    close(fd);
    assert_vault_code(rc, VAULT_E_PARTIAL);
    assert_int_equal(st.files, 1);
    for (size_t i = 0; i < log.n; i++)
        assert_int_equal(log.e[i].code, VAULT_E_UNSAFE_PATH);
    assert_int_equal(test_run("tar -tf '%s' | grep -qx zz-ok", tarp), 0);
    assert_int_equal(test_run("tar -tf '%s' | grep -qvx zz-ok", tarp), 1);
    unlink(tarp);
    log_free(&log);
    arena_close(&a);
}

/*
 * A symlink to outside, then a second snapshot with a directory (or file,
 * or hardlinked file) of the same name: extracting both into one target
 * must never write through the symlink.
 */
static void test_evil_symlink_then_write(void **state)
{
    fx *f = *state;
    arena a;
    arena_open(f, &a, "symlink");
    char rel_target[PATH_MAX];
    test_fmt(rel_target, sizeof rel_target, "../outside");

    forge g = {.v = f->v};
    uint8_t pwned[32];
    forge_add(&g, BLOB_DATA, PWNED, PWNED_LEN, pwned);
    /* S1: link -> <outside> (absolute), rel -> ../outside */
    raw_node s1[] = {
        {.type = NODE_SYMLINK, .name = "link", .target = a.outside},
        {.type = NODE_SYMLINK, .name = "rel", .target = rel_target},
    };
    uint8_t s1_id[32];
    forge_tree(&g, s1, 2, s1_id);
    /* S2: link/ and rel/ are directories holding x; y is a hardlink of
     * link/x (same inode, nlink 2) */
    raw_node x = {.type = NODE_FILE, .name = "x", .size = PWNED_LEN,
                  .content = pwned, .n_content = 1, .inode = 77, .nlink = 2};
    uint8_t x_tree[32];
    forge_tree(&g, &x, 1, x_tree);
    raw_node s2[] = {
        {.type = NODE_DIR, .name = "link", .subtree = x_tree},
        {.type = NODE_DIR, .name = "rel", .subtree = x_tree},
        {.type = NODE_FILE, .name = "y", .size = PWNED_LEN, .content = pwned,
         .n_content = 1, .inode = 77, .nlink = 2},
    };
    uint8_t s2_id[32];
    forge_tree(&g, s2, 3, s2_id);
    /* S3: link and rel as files */
    raw_node s3[] = {
        {.type = NODE_FILE, .name = "link", .size = PWNED_LEN,
         .content = pwned, .n_content = 1},
        {.type = NODE_FILE, .name = "rel", .size = PWNED_LEN,
         .content = pwned, .n_content = 1},
    };
    uint8_t s3_id[32];
    forge_tree(&g, s3, 2, s3_id);
    /* S4: one tree with both a symlink and a directory named "link"
     * (not canonical: the decoder must refuse it) */
    raw_node s4[] = {
        {.type = NODE_SYMLINK, .name = "link", .target = a.outside},
        {.type = NODE_DIR, .name = "link", .subtree = x_tree},
    };
    uint8_t s4_id[32];
    forge_tree(&g, s4, 2, s4_id);
    forge_commit(&g);
    char snap1[65], snap2[65], snap3[65], snap4[65];
    forge_snapshot(f, s1_id, snap1);
    forge_snapshot(f, s2_id, snap2);
    forge_snapshot(f, s3_id, snap3);
    forge_snapshot(f, s4_id, snap4);
    fx_reopen(f);

    err_log log = {0};
    vault_extract_result res;
    char p[PATH_MAX], q[PATH_MAX];

    /* S1: the symlinks are restored as symlinks, nothing followed */
    assert_vault_ok(extract_to(f->v, snap1, a.target, 0, NULL, 0, &log, &res));
    assert_int_equal(res.symlinks, 2);
    test_fmt(p, sizeof p, "%s/link", a.target);
    char buf[PATH_MAX];
    ssize_t n = readlink(p, buf, sizeof buf - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, a.outside);
    arena_check(&a);

    /* S2 without overwrite: link/ and rel/ refused, y restored alone */
    vault_error rc = extract_to(f->v, snap2, a.target, 0, NULL, 0, &log, &res);
    log_print(&log);
    assert_vault_code(rc, VAULT_E_PARTIAL);
    assert_int_equal(log_get(&log, "link")->code, VAULT_E_EXISTS);
    assert_int_equal(log_get(&log, "rel")->code, VAULT_E_EXISTS);
    test_fmt(p, sizeof p, "%s/y", a.target);
    expect_file(p, PWNED, PWNED_LEN);
    test_fmt(p, sizeof p, "%s/link", a.target);
    assert_int_equal(readlink(p, buf, sizeof buf), (ssize_t)strlen(a.outside));
    arena_check(&a);
    log_free(&log);

    /* S4: refused as a whole */
    rc = extract_to(f->v, snap4, a.target, 1, NULL, 0, &log, &res);
    assert_vault_code(rc, VAULT_E_CORRUPT);
    arena_check(&a);
    log_free(&log);

    /* S3 without overwrite: the files do not replace the symlinks */
    rc = extract_to(f->v, snap3, a.target, 0, NULL, 0, &log, &res);
    assert_vault_code(rc, VAULT_E_PARTIAL);
    assert_int_equal(res.errors, 2);
    arena_check(&a);
    log_free(&log);

    /* S2 with overwrite: the symlinks are replaced by directories, x
     * lands inside, y is its hardlink (unlinked first: it exists) */
    test_fmt(p, sizeof p, "%s/y", a.target);
    assert_int_equal(unlink(p), 0);
    rc = extract_to(f->v, snap2, a.target, 1, NULL, 0, &log, &res);
    log_print(&log);
    assert_vault_ok(rc);
    struct stat st, st2;
    test_fmt(p, sizeof p, "%s/link", a.target);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    test_fmt(p, sizeof p, "%s/link/x", a.target);
    expect_file(p, PWNED, PWNED_LEN);
    test_fmt(q, sizeof q, "%s/y", a.target);
    assert_int_equal(lstat(p, &st), 0);
    assert_int_equal(lstat(q, &st2), 0);
    assert_true(st.st_ino == st2.st_ino);
    arena_check(&a);
    log_free(&log);

    /* S1 with overwrite onto those directories: a symlink never
     * replaces a directory */
    rc = extract_to(f->v, snap1, a.target, 1, NULL, 0, &log, &res);
    assert_vault_code(rc, VAULT_E_PARTIAL);
    test_fmt(p, sizeof p, "%s/link", a.target);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    arena_check(&a);
    log_free(&log);

    /* a fresh target: S1, then S3 with overwrite replaces the symlinks
     * themselves, never what they point to */
    rm_rf(a.target);
    make_dir(a.target);
    assert_vault_ok(extract_to(f->v, snap1, a.target, 0, NULL, 0, &log, &res));
    assert_vault_ok(extract_to(f->v, snap3, a.target, 1, NULL, 0, &log, &res));
    test_fmt(p, sizeof p, "%s/link", a.target);
    expect_file(p, PWNED, PWNED_LEN);
    test_fmt(p, sizeof p, "%s/rel", a.target);
    expect_file(p, PWNED, PWNED_LEN);
    arena_check(&a);
    const char *marker_only[] = {"marker", NULL};
    names_expect(a.outside, marker_only);
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
        cmocka_unit_test_setup_teardown(test_evil_names, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_evil_long_names, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_restore_rechecks_names, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_evil_symlink_then_write, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests_name("hostile vault: names", tests, NULL, NULL)
               ? 1
               : 0;
}
