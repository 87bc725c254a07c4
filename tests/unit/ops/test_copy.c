/*
 * test_copy.c - vault_copy: snapshots from one vault into another,
 * re-added through add's pipeline (ops/copy.c, ops/add/source_snapshot.c).
 *
 * The round-trip fixture (tests/cli/make_tree.sh: every kind of item,
 * hard links, a sparse file, xattrs, nanosecond times) copied into a
 * second vault extracts identical to the original's extraction, with the
 * original's record; a second copy skips it; two snapshots sharing
 * content add it once; a reader of the destination may copy into it, a
 * writer of the source may not copy out of it; a vault into itself is
 * refused.
 */
#include "vault_fixture.h"

#include "backend_testing.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

/* A second vault at base/<name> owned by identity id, opened as it. */
static vault_t *other_vault(fx *f, const char *name, vault_identity_t *id,
                            char path[PATH_MAX])
{
    test_fmt(path, PATH_MAX, "%s/%s", f->base, name);
    assert_vault_ok(vault_init(path, vault_identity_recipient(id)));
    vault_t *v = NULL;
    assert_vault_ok(vault_open(path, id, &v));
    return v;
}

static void add_path(vault_t *v, const char *path, const char *const *tags,
                     size_t n_tags, vault_add_result *r)
{
    const char *paths[] = {path};
    vault_add_options o;
    vault_add_options_init(&o);
    o.paths = paths;
    o.n_paths = 1;
    o.tags = tags;
    o.n_tags = n_tags;
    o.cache_dir = "";
    o.hostname = "copyhost";
    assert_vault_ok(vault_add(v, &o, r));
    assert_int_equal(r->errors, 0);
}

/* Extracts everything as faithfully as extraction goes: owners (as
 * root) and set-id bits too. */
static void extract_all(vault_t *v, const char *snap, const char *target)
{
    err_log log = {0};
    vault_extract_options o;
    vault_extract_options_init(&o);
    o.target_dir = target;
    o.restore_owner = 1;
    o.same_privileges = 1;
    o.on_error = log_error;
    o.on_error_ctx = &log;
    vault_extract_result res;
    vault_error rc = vault_extract(v, snap, &o, &res);
    if (rc != VAULT_OK) {
        log_print(&log);
        fail_msg("extract %s: %s: %s", snap, vault_strerror(rc),
                 vault_last_error());
    }
    log_free(&log);
}

static void expect_same_record(const vault_snapshot_info *a,
                               const vault_snapshot_info *b)
{
    assert_true(a->time_sec == b->time_sec);
    assert_int_equal(a->time_nsec, b->time_nsec);
    assert_string_equal(a->hostname, b->hostname);
    assert_string_equal(a->username, b->username);
    assert_int_equal(a->n_paths, b->n_paths);
    for (size_t i = 0; i < a->n_paths; i++)
        assert_string_equal(a->paths[i], b->paths[i]);
    assert_int_equal(a->n_tags, b->n_tags);
    for (size_t i = 0; i < a->n_tags; i++)
        assert_string_equal(a->tags[i], b->tags[i]);
    assert_true(a->files == b->files);
    assert_true(a->dirs == b->dirs);
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The fixture with every kind of item, copied, extracts identical. */
static void test_copy_roundtrip(void **state)
{
    fx *f = *state;
    char src[PATH_MAX], dst_path[PATH_MAX], out_a[PATH_MAX], out_b[PATH_MAX];
    test_fmt(src, sizeof src, "%s/src", f->base);
    if (test_run("bash '%s/tests/cli/make_tree.sh' '%s' 2>/dev/null",
                 VAULT_SOURCE_DIR, src) != 0)
        fail_msg("make_tree.sh %s failed", src);
    const char *tags[] = {"one", "two words"};
    vault_add_result ar;
    add_path(f->v, src, tags, 2, &ar);
    vault_t *dst = other_vault(f, "dst", f->id, dst_path);

    vault_copy_result r;
    double t0 = now_seconds();
    assert_vault_ok(vault_copy(f->v, dst, NULL, 0, &r));
    double t1 = now_seconds();
    assert_int_equal(r.snapshots_copied, 1);
    assert_int_equal(r.snapshots_skipped, 0);
    assert_true(r.files == ar.files);
    assert_true(r.bytes_read == ar.bytes_total);
    print_message("copy of the fixture: %" PRIu64 " files, %" PRIu64
                  " bytes read, %" PRIu64 " bytes added in %.2f s (its add "
                  "stored %" PRIu64 ")\n",
                  r.files, r.bytes_read, r.bytes_added, t1 - t0,
                  ar.bytes_added);

    /* the record is the original's; the author is the copier */
    vault_snapshot_info *a, *b;
    size_t na, nb;
    assert_vault_ok(vault_snapshots(f->v, &a, &na));
    assert_vault_ok(vault_snapshots(dst, &b, &nb));
    assert_int_equal(na, 1);
    assert_int_equal(nb, 1);
    expect_same_record(&a[0], &b[0]);
    assert_true(b[0].author_is_me);
    char copy_id[65];
    memcpy(copy_id, b[0].id, 65);
    vault_snapshots_free(a, na);
    vault_snapshots_free(b, nb);

    /* extract from dst equals extract from src */
    test_fmt(out_a, sizeof out_a, "%s/outA", f->base);
    test_fmt(out_b, sizeof out_b, "%s/outB", f->base);
    extract_all(f->v, ar.snapshot_id, out_a);
    extract_all(dst, copy_id, out_b);
    if (test_run("python3 '%s/tests/cli/treecmp.py' '%s%s' '%s%s'",
                 VAULT_SOURCE_DIR, out_a, src, out_b, src) != 0)
        fail_msg("the copy extracts differently from the original");
    if (test_run("python3 '%s/tests/cli/treecmp.py' '%s' '%s%s'",
                 VAULT_SOURCE_DIR, src, out_b, src) != 0)
        fail_msg("the copy extracts differently from the source tree");

    /* a second copy skips it, named or not; nothing is added */
    t0 = now_seconds();
    assert_vault_ok(vault_copy(f->v, dst, NULL, 0, &r));
    t1 = now_seconds();
    assert_int_equal(r.snapshots_copied, 0);
    assert_int_equal(r.snapshots_skipped, 1);
    assert_true(r.bytes_added == 0);
    print_message("second copy: skipped in %.3f s\n", t1 - t0);
    const char *refs[] = {"latest", ar.snapshot_id};
    assert_vault_ok(vault_copy(f->v, dst, refs, 2, &r));
    assert_int_equal(r.snapshots_copied, 0);
    assert_int_equal(r.snapshots_skipped, 1);

    /* a check of the destination finds nothing wrong */
    vault_check_options co;
    vault_check_options_init(&co);
    co.read_data = 1;
    vault_check_result cr;
    assert_vault_ok(vault_check(dst, &co, &cr));
    assert_true(cr.problems == 0 && cr.warnings == 0);
    vault_close(dst);
}

/* Two snapshots sharing content: the shared bytes are added once. */
static void test_copy_dedup(void **state)
{
    fx *f = *state;
    enum { BIG = 3 * 1024 * 1024 };
    char d1[PATH_MAX], d2[PATH_MAX], p[PATH_MAX], dst_path[PATH_MAX];
    uint8_t *big = xmalloc(BIG);
    rng_fill(big, BIG);
    test_fmt(d1, sizeof d1, "%s/one", f->base);
    test_fmt(d2, sizeof d2, "%s/two", f->base);
    make_dir(d1);
    make_dir(d2);
    test_fmt(p, sizeof p, "%s/big", d1);
    test_write_file(p, big, BIG);
    test_fmt(p, sizeof p, "%s/big-again", d2);
    test_write_file(p, big, BIG);
    test_fmt(p, sizeof p, "%s/small", d2);
    test_write_file(p, "small\n", 6);
    free(big);
    vault_add_result a1, a2;
    add_path(f->v, d1, NULL, 0, &a1);
    add_path(f->v, d2, NULL, 0, &a2);

    vault_t *dst = other_vault(f, "dst", f->id, dst_path);
    vault_copy_result r;
    assert_vault_ok(vault_copy(f->v, dst, NULL, 0, &r));
    assert_int_equal(r.snapshots_copied, 2);
    assert_true(r.bytes_read == 2u * BIG + 6);
    /* random bytes do not compress: once is BIG and some, twice 2 BIG */
    if (r.bytes_added < BIG || r.bytes_added > BIG + BIG / 8)
        fail_msg("two snapshots sharing %u bytes added %" PRIu64, BIG,
                 r.bytes_added);
    size_t n;
    assert_vault_ok(vault_snapshot_count(dst, &n));
    assert_int_equal(n, 2);
    vault_close(dst);
}

/* A reader of the destination copies into it; a writer of the source
 * cannot copy out of it; nobody copies a vault into itself. */
static void test_copy_roles(void **state)
{
    fx *f = *state;
    char p[PATH_MAX], b_path[PATH_MAX], c_path[PATH_MAX];
    vault_identity_t *bob = NULL;
    assert_vault_ok(vault_identity_generate(&bob));
    const char *bob_r = vault_identity_recipient(bob);

    /* B is alice's; bob reads it.  C is bob's. */
    vault_t *b_alice = other_vault(f, "B", f->id, b_path);
    assert_vault_ok(vault_share(b_alice, bob_r, VAULT_ROLE_READER));
    vault_close(b_alice);
    vault_t *c_bob = other_vault(f, "C", bob, c_path);
    test_fmt(p, sizeof p, "%s/bobs", f->base);
    make_dir(p);
    test_fmt(p, sizeof p, "%s/bobs/file", f->base);
    test_write_file(p, "bob's\n", 6);
    test_fmt(p, sizeof p, "%s/bobs", f->base);
    vault_add_result ar;
    add_path(c_bob, p, NULL, 0, &ar);
    vault_t *b_bob = NULL;
    assert_vault_ok(vault_open(b_path, bob, &b_bob));
    vault_copy_result r;
    assert_vault_ok(vault_copy(c_bob, b_bob, NULL, 0, &r));
    assert_int_equal(r.snapshots_copied, 1);
    assert_true(r.bytes_added > 0);
    char out[PATH_MAX];
    test_fmt(out, sizeof out, "%s/out", f->base);
    extract_all(b_bob, "latest", out);
    test_fmt(p, sizeof p, "%s%s/bobs/file", out, f->base);
    expect_file(p, "bob's\n", 6);

    /* bob, a writer of alice's vault A, cannot copy out of it */
    fx_add(f, p, 0, &ar);
    assert_vault_ok(vault_share(f->v, bob_r, VAULT_ROLE_WRITER));
    vault_t *a_bob = NULL;
    assert_vault_ok(vault_open(f->vault, bob, &a_bob));
    assert_vault_code(vault_copy(a_bob, b_bob, NULL, 0, &r),
                      VAULT_E_PERMISSION);
    assert_non_null(strstr(vault_last_error(), "writer"));
    assert_int_equal(r.snapshots_copied, 0);

    /* into itself: refused, through the same handle or another */
    assert_vault_code(vault_copy(c_bob, c_bob, NULL, 0, &r), VAULT_E_INVALID);
    assert_non_null(strstr(vault_last_error(), "same vault"));
    vault_t *c_again = NULL;
    assert_vault_ok(vault_open(c_path, bob, &c_again));
    assert_vault_code(vault_copy(c_bob, c_again, NULL, 0, &r),
                      VAULT_E_INVALID);
    size_t n;
    assert_vault_ok(vault_snapshot_count(c_bob, &n));
    assert_int_equal(n, 1);

    /* alice, a writer of bob's C, copies into it; unable to read what C
     * holds, she copies again the second time (the data deduplicates) */
    assert_vault_ok(vault_share(c_bob, vault_identity_recipient(f->id),
                                VAULT_ROLE_WRITER));
    vault_t *c_alice = NULL;
    assert_vault_ok(vault_open(c_path, f->id, &c_alice));
    assert_vault_ok(vault_copy(f->v, c_alice, NULL, 0, &r));
    assert_int_equal(r.snapshots_copied, 1);
    assert_vault_ok(vault_copy(f->v, c_alice, NULL, 0, &r));
    assert_int_equal(r.snapshots_copied, 1);
    assert_int_equal(r.snapshots_skipped, 0);
    assert_true(r.bytes_added < 4096);
    vault_close(c_alice);
    assert_vault_ok(vault_snapshot_count(c_bob, &n));
    assert_int_equal(n, 3);

    /* a snapshot that is not there */
    const char *missing[] = {"ffffffff"};
    assert_vault_code(vault_copy(c_bob, b_bob, missing, 1, &r),
                      VAULT_E_NOT_FOUND);

    vault_close(c_again);
    vault_close(a_bob);
    vault_close(b_bob);
    vault_close(c_bob);
    vault_identity_free(bob);
}

/* A small tree: directories, files of one and several chunks. */
static void small_tree(fx *f, char out[PATH_MAX])
{
    char p[PATH_MAX];
    test_fmt(out, PATH_MAX, "%s/small", f->base);
    make_dir(out);
    test_fmt(p, PATH_MAX, "%s/d1", out);
    make_dir(p);
    test_fmt(p, PATH_MAX, "%s/d1/d2", out);
    make_dir(p);
    test_fmt(p, PATH_MAX, "%s/d1/d2/deep", out);
    test_write_file(p, "deep\n", 5);
    test_fmt(p, PATH_MAX, "%s/top", out);
    test_write_file(p, "top\n", 4);
    enum { BIG = 1536 * 1024 };
    uint8_t *big = xmalloc(BIG);
    rng_fill(big, BIG);
    test_fmt(p, PATH_MAX, "%s/d1/big", out);
    test_write_file(p, big, BIG);
    free(big);
}

/* An empty vault of f's owner in memory behind a backend that fails
 * every operation from fail_at on; NULL if opening it failed. */
static vault_t *faulty_memory_vault(fx *f, uint64_t fail_at, backend **be)
{
    backend *mem = NULL;
    assert_vault_ok(vlt_backend_memory_open(&mem));
    assert_vault_ok(vlt_repo_init_backend(
        mem, vault_identity_recipient(f->id), NULL));
    assert_vault_ok(vlt_backend_faulty_open(mem, fail_at, VAULT_E_IO, 1, be));
    vault_t *v = NULL;
    if (vlt_repo_open_backend(*be, "faulty-dst", f->id, &v) != VAULT_OK)
        return NULL;
    return v;
}

/* src (a local vault) through a backend that fails from fail_at on. */
static vault_t *faulty_local_vault(fx *f, uint64_t fail_at, backend **be)
{
    backend *local = NULL;
    assert_vault_ok(vlt_backend_local_open(f->vault, 0, &local));
    assert_vault_ok(vlt_backend_faulty_open(local, fail_at, VAULT_E_IO, 1,
                                            be));
    vault_t *v = NULL;
    if (vlt_repo_open_backend(*be, "faulty-src", f->id, &v) != VAULT_OK)
        return NULL;
    return v;
}

/* Storage failing at every step of a copy, on either side: the copy
 * fails with the error (the walk's thread stopped, nothing leaked: the
 * ASan build runs this too) or, failing only after its commit, is
 * complete; never a hang. */
static void test_copy_failures(void **state)
{
    fx *f = *state;
    char tree_path[PATH_MAX];
    small_tree(f, tree_path);
    vault_add_result ar;
    fx_add(f, tree_path, 0, &ar);
    vault_copy_result r;

    /* the destination fails */
    backend *be;
    vault_t *dst = faulty_memory_vault(f, 0, &be);
    assert_non_null(dst);
    uint64_t opened = vlt_backend_faulty_count(be);
    assert_vault_ok(vault_copy(f->v, dst, NULL, 0, &r));
    uint64_t total = vlt_backend_faulty_count(be);
    vault_close(dst);
    unsigned failed = 0;
    for (uint64_t at = opened + 1; at <= total; at++) {
        dst = faulty_memory_vault(f, at, &be);
        assert_non_null(dst);
        vault_error rc = vault_copy(f->v, dst, NULL, 0, &r);
        if (rc != VAULT_OK) {
            failed++;
            assert_int_equal(r.snapshots_copied, 0);
            assert_true(vault_last_error()[0] != '\0');
        }
        vault_close(dst);
    }
    assert_true(failed > 0);

    /* the source fails, mid-walk too */
    dst = faulty_memory_vault(f, 0, &be);
    vault_t *src = faulty_local_vault(f, 0, &be);
    assert_non_null(src);
    opened = vlt_backend_faulty_count(be);
    assert_vault_ok(vault_copy(src, dst, NULL, 0, &r));
    total = vlt_backend_faulty_count(be);
    vault_close(src);
    vault_close(dst);
    failed = 0;
    for (uint64_t at = opened + 1; at <= total; at++) {
        dst = faulty_memory_vault(f, 0, &be);
        src = faulty_local_vault(f, at, &be);
        assert_non_null(src);
        vault_error rc = vault_copy(src, dst, NULL, 0, &r);
        if (rc != VAULT_OK) {
            failed++;
            assert_int_equal(r.snapshots_copied, 0);
            size_t n;
            assert_vault_ok(vault_snapshot_count(dst, &n));
            assert_int_equal(n, 0);
        }
        vault_close(src);
        vault_close(dst);
    }
    assert_true(failed > 0);
}

/* A file whose chunks do not add up to its recorded size (a hostile or
 * damaged source) fails the copy of that snapshot: nothing is saved in
 * the destination under its name. */
static void test_copy_exact_or_nothing(void **state)
{
    fx *f = *state;
    forge g = {.v = f->v};
    uint8_t chunk[32], dir[32], root[32];
    forge_add(&g, BLOB_DATA, "short", 5, chunk);
    raw_node file = {.type = NODE_FILE, .name = "f", .size = 100,
                     .content = chunk, .n_content = 1};
    forge_tree(&g, &file, 1, dir);
    raw_node top = {.type = NODE_DIR, .name = "evil", .subtree = dir};
    forge_tree(&g, &top, 1, root);
    forge_commit(&g);
    char id[65];
    forge_snapshot(f, root, id);
    vlt_repo_forget_index(f->v);

    char dst_path[PATH_MAX];
    vault_t *dst = other_vault(f, "dst", f->id, dst_path);
    vault_copy_result r;
    const char *refs[] = {id};
    assert_vault_code(vault_copy(f->v, dst, refs, 1, &r), VAULT_E_CORRUPT);
    if (!strstr(vault_last_error(), "/evil/f") ||
        !strstr(vault_last_error(), "shorter"))
        fail_msg("the failure does not name the file and what is wrong: %s",
                 vault_last_error());
    size_t n;
    assert_vault_ok(vault_snapshot_count(dst, &n));
    assert_int_equal(n, 0);
    vault_close(dst);
}

/* Another member's snapshot becomes the copier's in the destination,
 * where extraction would no longer withhold what it withholds from
 * another member's snapshot: the copy leaves out set-id bits on files,
 * capabilities and device nodes (format.md §12.2), and a second copy
 * still recognises it. */
static void test_copy_withholds_privileges(void **state)
{
    fx *f = *state;
    char dir[PATH_MAX], p[PATH_MAX], dst_path[PATH_MAX], out[PATH_MAX];
    test_fmt(dir, sizeof dir, "%s/priv", f->base);
    make_dir(dir);
    test_fmt(p, sizeof p, "%s/setuid", dir);
    test_write_file(p, "suid\n", 5);
    assert_int_equal(chmod(p, 04755), 0);
    test_fmt(p, sizeof p, "%s/plain", dir);
    test_write_file(p, "plain\n", 6);
    uint64_t expect = 1;
    /* a v2 file capability: cap_net_bind_service permitted */
    static const uint8_t cap[20] = {0x01, 0x00, 0x00, 0x02, 0x00, 0x04};
    test_fmt(p, sizeof p, "%s/capable", dir);
    test_write_file(p, "cap\n", 4);
    if (setxattr(p, "security.capability", cap, sizeof cap, 0) == 0)
        expect++;
    if (geteuid() == 0) {
        test_fmt(p, sizeof p, "%s/null", dir);
        assert_int_equal(mknod(p, S_IFCHR | 0600, makedev(1, 3)), 0);
        expect++;
    }
    test_author owner, writer;
    author_of_handle(f->v, &owner);
    member_new(f, ROLE_WRITER, &writer);
    act_as(f->v, &writer);
    vault_add_result ar;
    fx_add(f, dir, 0, &ar);
    act_as(f->v, &owner);
    vlt_repo_forget_index(f->v);

    vault_t *dst = other_vault(f, "dst", f->id, dst_path);
    vault_copy_result r;
    assert_vault_ok(vault_copy(f->v, dst, NULL, 0, &r));
    assert_int_equal(r.snapshots_copied, 1);
    assert_true(r.withheld == expect);
    test_fmt(out, sizeof out, "%s/out", f->base);
    extract_all(dst, "latest", out); /* with same privileges */
    struct stat st;
    test_fmt(p, sizeof p, "%s%s/setuid", out, dir);
    assert_int_equal(lstat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    test_fmt(p, sizeof p, "%s%s/null", out, dir);
    assert_false(exists_nofollow(p));
    test_fmt(p, sizeof p, "%s%s/capable", out, dir);
    assert_true(getxattr(p, "security.capability", NULL, 0) < 0);
    test_fmt(p, sizeof p, "%s%s/plain", out, dir);
    expect_file(p, "plain\n", 6);

    assert_vault_ok(vault_copy(f->v, dst, NULL, 0, &r));
    assert_int_equal(r.snapshots_copied, 0);
    assert_int_equal(r.snapshots_skipped, 1);
    vault_close(dst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_copy_roundtrip, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_copy_dedup, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_copy_roles, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_copy_failures, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_copy_exact_or_nothing, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_copy_withholds_privileges,
                                        fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
