/*
 * test_pathmatch.c - the exclude patterns (common/pathmatch.h) against
 * restic's own examples: the tables of its filter package tests
 * (internal/filter/filter_test.go, exclude_test.go) and the examples of
 * its manual (doc/040_backup.rst, "Excluding files"), restated here; then
 * what vault does differently (a trailing `/` is for directories only),
 * malformed patterns, and exclude files.
 */
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/internal.h"
#include "common/pathmatch.h"

typedef struct match_case {
    const char *pattern;
    const char *path;
    int is_dir; /* the path is a directory */
    int match;
} match_case;

/* restic's matchTests (filter_test.go).  Left out: the empty pattern
 * (ignored in a list), Windows drive letters, and a path with a trailing
 * `/` (the walk never makes one).  Relative paths there ("bar/baz/...")
 * are absolute here: add matches absolute paths only, and none of those
 * cases is anchored so the answer is the same.  "/foo/bar/" on /foo/bar
 * is a directory here (the trailing `/`). */
static const match_case restic_match[] = {
    {"*.go", "/foo/bar/test.go", 0, 1},
    {"*.c", "/foo/bar/test.go", 0, 0},
    {"*", "/foo/bar/test.go", 0, 1},
    {"**", "/foo/bar/test.go", 0, 1},
    {"foo*", "/foo/bar/test.go", 0, 1},
    {"bar*", "/foo/bar/test.go", 0, 1},
    {"/bar*", "/foo/bar/test.go", 0, 0},
    {"bar/*", "/foo/bar/test.go", 0, 1},
    {"baz/*", "/foo/bar/test.go", 0, 0},
    {"bar/test.go", "/foo/bar/test.go", 0, 1},
    {"bar/*.go", "/foo/bar/test.go", 0, 1},
    {"ba*/*.go", "/foo/bar/test.go", 0, 1},
    {"bb*/*.go", "/foo/bar/test.go", 0, 0},
    {"test.*", "/foo/bar/test.go", 0, 1},
    {"tesT.*", "/foo/bar/test.go", 0, 0},
    {"bar/*", "/foo/bar/baz", 0, 1},
    {"bar", "/foo/bar", 0, 1},
    {"/foo/bar", "/foo/bar", 0, 1},
    {"/foo/bar/", "/foo/bar", 1, 1},
    {"/foo/bar", "/foo/baz", 0, 0},
    {"/foo///bar", "/foo/bar", 0, 1},
    {"/foo/../bar", "/foo/bar", 0, 0},
    {"/foo/../bar", "/bar", 0, 1},
    {"/foo", "/foo/baz", 0, 1},
    {"/foo/", "/foo/baz", 0, 1},
    {"/foo/*", "/foo", 1, 0},
    {"/foo/*", "/foo/baz", 0, 1},
    {"bar", "/foo/bar/baz", 0, 1},
    {"bar", "/foo/bar/test.go", 0, 1},
    {"/foo/*test.*", "/foo/bar/test.go", 0, 0},
    {"/foo/*/test.*", "/foo/bar/test.go", 0, 1},
    {"/foo/*/bar/test.*", "/foo/bar/test.go", 0, 0},
    {"/*/*/bar/test.*", "/foo/bar/test.go", 0, 0},
    {"/*/*/bar/test.*", "/foo/bar/baz/test.go", 0, 0},
    {"/*/*/baz/test.*", "/foo/bar/baz/test.go", 0, 1},
    {"/*/foo/bar/test.*", "/foo/bar/baz/test.go", 0, 0},
    {"/foo/bar/test.*", "/bar/baz/test.go", 0, 0},
    {"/x/y/bar/baz/test.*", "/bar/baz/test.go", 0, 0},
    {"/x/y/bar/baz/test.c", "/bar/baz/test.go", 0, 0},
    {"baz/test.*", "/bar/baz/test.go", 0, 1},
    {"baz/tesT.*", "/bar/baz/test.go", 0, 0},
    {"test.go", "/bar/baz/test.go", 0, 1},
    {"*.go", "/bar/baz/test.go", 0, 1},
    {"*.c", "/bar/baz/test.go", 0, 0},
    {"sdk", "/foo/bar/sdk", 1, 1},
    {"sdk", "/foo/bar/sdk/test/sdk_foo.go", 0, 1},
    {"sdk/*/cpp/*/*vars*.html",
     "/usr/share/doc/libreoffice/sdk/docs/cpp/ref/a00517.html", 0, 0},
    {"foo/**/bar/*.go", "/home/user/foo/work/special/project/bar/test.go",
     0, 1},
    {"foo/**/bar/*.go", "/home/user/foo/bar/test.go", 0, 1},
    {"foo/**/bar/*.go", "/x/foo/bar/test.go", 0, 1},
    {"foo/**/bar/*.go", "/foo/bar/test.go", 0, 1},
    {"foo/**/bar/*.go", "/foo/bar/baz/bar/test.go", 0, 1},
    {"foo/**/bar/*.go", "/home/user/foo/test.c", 0, 0},
    {"foo/**/bar/*.go", "/bar/foo/main.go", 0, 0},
    {"foo/**/bar/*.go", "/foo/bar/main.go", 0, 1},
    {"foo/**/bar/*.go", "/bar/main.go", 0, 0},
    {"foo/**/bar", "/home/user/foo/x/y/bar", 1, 1},
    {"foo/**/bar", "/home/user/foo/x/y/bar/main.go", 0, 1},
    {"foo/**/bar/**/x", "/home/user/foo/bar/x", 0, 1},
    {"foo/**/bar/**/x", "/home/user/foo/blaaa/blaz/bar/shared/work/x", 0, 1},
    {"user/**/important*", "/home/user/work/x/y/hidden/x", 0, 0},
    {"user/**/hidden*/**/c", "/home/user/work/x/y/hidden/z/a/b/c", 0, 1},
    /* ExampleMatch, ExampleMatch_wildcards */
    {"*.go", "/home/user/file.go", 0, 1},
    {"/home/[uU]ser/?.go", "/home/user/F.go", 0, 1},
};

/* The manual's examples (doc/040_backup.rst, "Excluding files"). */
static const match_case restic_manual[] = {
    /* "Patterns need to match on complete path components" */
    {"foo", "/dir1/foo/dir2/file", 0, 1},
    {"foo", "/dir/foo", 1, 1},
    {"foo", "/dir/foobar", 0, 0},
    {"foo", "/dir/barfoo", 0, 0},
    /* "a leading / anchors the pattern at the root directory" */
    {"/bin", "/bin/bash", 0, 1},
    {"/bin", "/usr/bin/restic", 0, 0},
    /* "Regular wildcards cannot be used to match over /" */
    {"b*ash", "/bin/bash", 0, 1},
    {"b*ash", "/bin/ash", 0, 0},
    /* "foo, any folders, bar" */
    {"foo/**/bar", "/dir1/foo/dir2/bar/file", 0, 1},
    {"foo/**/bar", "/foo/bar/file", 0, 1},
    {"foo/**/bar", "/tmp/foo/bar", 1, 1},
    /* the excludes.txt example: *.go and foo, any folders, bar */
    {"*.go", "/home/u/work/main.go", 0, 1},
    {"foo/**/bar", "/home/u/work/foo/x/y/z/bar", 1, 1},
    {"foo/**/bar", "/home/u/work/foo/x/bar", 1, 1},
    {"foo/**/bar", "/home/u/work/foo/bar", 1, 1},
    {"foo/**/bar", "/home/u/work/bar", 1, 0},
    /* the repos example: every target folder below repos */
    {"/home/user/repos/**/target", "/home/user/repos/repo1/target", 1, 1},
    {"/home/user/repos/**/target",
     "/home/user/repos/repo2_workspace/project1/target", 1, 1},
    {"/home/user/repos/**/target", "/home/user/repos/repo1/src", 1, 0},
    {"/home/user/repos/**/target", "/home/user/repos/repo3/bin", 1, 0},
    /* spaces are part of a pattern */
    {"foo bar star/foo.txt", "/x/foo bar star/foo.txt", 0, 1},
};

/* What issue #12 tried, and vault's own rules. */
static const match_case vault_cases[] = {
    {"Documents/taxes", "/home/ann/Documents/taxes", 1, 1},
    {"Documents/taxes", "/home/ann/Documents/taxes/2024.pdf", 0, 1},
    {"Documents/taxes", "/home/ann/Documents/taxes2", 1, 0},
    {"**/Documents/taxes", "/home/ann/Documents/taxes", 1, 1},
    {"Music/", "/home/ann/Music", 1, 1},
    {"Music/", "/home/ann/Music/song.mp3", 0, 1},
    /* a trailing `/`: directories only (restic would match the file) */
    {"Music/", "/home/ann/Music", 0, 0},
    {"/home/ann/Music/", "/home/ann/Music", 0, 0},
    {"*.tmp/", "/x/a.tmp", 0, 0},
    {"*.tmp/", "/x/a.tmp", 1, 1},
    /* `[...]`, `?`, escapes */
    {"[ab]*.log", "/v/b1.log", 0, 1},
    {"[!ab]*.log", "/v/b1.log", 0, 0},
    {"[^ab]*.log", "/v/c1.log", 0, 1},
    {"file?.txt", "/d/file1.txt", 0, 1},
    {"file?.txt", "/d/file10.txt", 0, 0},
    {"\\*star", "/d/*star", 0, 1},
    {"\\*star", "/d/xstar", 0, 0},
    /* `**` in several places, and many in a row */
    {"/**/**/**/x", "/a/b/x", 0, 1},
    {"a/**/b/**/c/**/d", "/a/1/b/2/3/c/d/e", 0, 1},
    {"a/**/b/**/c/**/d", "/a/1/c/2/3/b/d/e", 0, 0},
    {"/**", "/anything", 0, 1},
    {"/", "/anything", 0, 1},
    /* "." and ".." resolve lexically */
    {"./x/./y", "/a/x/y", 0, 1},
    {"x/../y", "/a/y", 0, 1},
    {"/..", "/a", 0, 1},
};

static void check_cases(const match_case *cases, size_t n, unsigned flags)
{
    for (size_t i = 0; i < n; i++) {
        vlt_pattern_list l = {.flags = flags};
        assert_vault_ok(vlt_pattern_list_add(&l, cases[i].pattern, 0));
        int got = vlt_pattern_list_match(&l, cases[i].path, cases[i].is_dir,
                                         NULL);
        if (got != cases[i].match)
            fail_msg("pattern %s, path %s (%s): got %d, expected %d",
                     cases[i].pattern, cases[i].path,
                     cases[i].is_dir ? "dir" : "file", got, cases[i].match);
        vlt_pattern_list_free(&l);
    }
}

static void test_restic_match_table(void **state)
{
    (void)state;
    check_cases(restic_match, VAULT_ARRAY_SIZE(restic_match), 0);
}

static void test_restic_manual(void **state)
{
    (void)state;
    check_cases(restic_manual, VAULT_ARRAY_SIZE(restic_manual), 0);
}

static void test_vault_rules(void **state)
{
    (void)state;
    check_cases(vault_cases, VAULT_ARRAY_SIZE(vault_cases), 0);
}

/* restic's filterListTests: lists, with negations in order. */
typedef struct list_case {
    const char *patterns[6];
    const char *path;
    int match;
} list_case;

static const list_case restic_lists[] = {
    {{NULL}, "/foo/bar/test.go", 0},
    {{"*.go"}, "/foo/bar/test.go", 1},
    {{"*.go"}, "/foo/bar", 0},
    {{"*.c"}, "/foo/bar/test.go", 0},
    {{"*.go", "*.c"}, "/foo/bar/test.go", 1},
    {{"*"}, "/foo/bar/test.go", 1},
    {{"x"}, "/foo/bar/test.go", 0},
    {{"?"}, "/foo/bar/test.go", 0},
    {{"?", "x"}, "/foo/bar/x", 1},
    {{"/*/*/bar/test.*"}, "/foo/bar/test.go", 0},
    {{"/*/*/bar/test.*"}, "/foo/bar/bar", 0},
    {{"/*/*/bar/test.*", "*.go"}, "/foo/bar/test.go", 1},
    {{"", "*.c"}, "/foo/bar/test.go", 0},
    {{"!**", "*.go"}, "/foo/bar/test.go", 1},
    {{"!**", "*.c"}, "/foo/bar/test.go", 0},
    {{"/foo/*/test.*", "!*.c"}, "/foo/bar/test.c", 0},
    {{"/foo/*/test.*", "!*.c"}, "/foo/bar/test.go", 1},
    {{"/foo/*/*", "!test.*", "*.c"}, "/foo/bar/test.go", 0},
    {{"/foo/*/*", "!test.*", "*.c"}, "/foo/bar/test.c", 1},
    {{"/foo/*/*", "!test.*", "*.c"}, "/foo/bar/file.go", 1},
    {{"/**/*", "!/foo", "/foo/*", "!/foo/bar"}, "/foo/other/test.go", 1},
    {{"/**/*", "!/foo", "/foo/*", "!/foo/bar"}, "/foo/bar", 0},
    {{"/**/*", "!/foo", "/foo/*", "!/foo/bar"}, "/foo/bar/test.go", 0},
    {{"/**/*", "!/foo", "/foo/*", "!/foo/bar"}, "/foo/bar/test.go/child", 0},
    {{"/**/*", "!/foo", "/foo/*", "!/foo/bar", "/foo/bar/test*"},
     "/foo/bar/test.go/child", 1},
    {{"/foo/bar/*"}, "/foo", 0},
    {{"/foo/bar/*", "!/foo/bar/[a-m]*"}, "/foo", 0},
    {{"/foo/**/test.c"}, "/foo/bar/foo/bar/test.c", 1},
    {{"/foo/*/test.c"}, "/foo/bar/foo/bar/test.c", 0},
    /* the manual's $HOME example: everything but a few folders */
    {{"/home/u/*", "!/home/u/Documents", "!/home/u/code", "*~"},
     "/home/u/Music", 1},
    {{"/home/u/*", "!/home/u/Documents", "!/home/u/code", "*~"},
     "/home/u/Documents", 0},
    {{"/home/u/*", "!/home/u/Documents", "!/home/u/code", "*~"},
     "/home/u/code/main.c", 0},
    {{"/home/u/*", "!/home/u/Documents", "!/home/u/code", "*~"},
     "/home/u/code/main.c~", 1},
};

static void test_restic_lists(void **state)
{
    (void)state;
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(restic_lists); i++) {
        const list_case *c = &restic_lists[i];
        vlt_pattern_list l = {0};
        for (size_t k = 0; k < 6 && c->patterns[k]; k++)
            assert_vault_ok(vlt_pattern_list_add(&l, c->patterns[k], 0));
        /* is_dir either way: no pattern here ends in `/` */
        for (int is_dir = 0; is_dir <= 1; is_dir++) {
            int got = vlt_pattern_list_match(&l, c->path, is_dir, NULL);
            if (got != c->match)
                fail_msg("list case %zu (%s...), path %s: got %d", i,
                         c->patterns[0] ? c->patterns[0] : "", c->path, got);
        }
        vlt_pattern_list_free(&l);
    }
}

/* restic's TestRejectByPattern and TestRejectByInsensitivePattern. */
static void test_restic_reject(void **state)
{
    (void)state;
    static const char *patterns[] = {"*.go", "README.md",
                                     "/home/user/foobar/*"};
    static const struct {
        const char *path;
        int exact, folded;
    } cases[] = {
        {"/home/user/foo.go", 1, 1},     {"/home/user/foo.GO", 0, 1},
        {"/home/user/foo.c", 0, 0},      {"/home/user/foobar", 0, 0},
        {"/home/user/foobar/x", 1, 1},   {"/home/user/FOObar/x", 0, 1},
        {"/home/user/README", 0, 0},     {"/home/user/README.md", 1, 1},
        {"/home/user/readme.md", 0, 1},
    };
    vlt_pattern_list exact = {0}, folded = {.flags = VLT_PATTERN_CASEFOLD};
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(patterns); i++) {
        assert_vault_ok(vlt_pattern_list_add(&exact, patterns[i], 0));
        assert_vault_ok(vlt_pattern_list_add(&folded, patterns[i], 0));
    }
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(cases); i++) {
        if (vlt_pattern_list_match(&exact, cases[i].path, 0, NULL) !=
            cases[i].exact)
            fail_msg("exact: %s", cases[i].path);
        if (vlt_pattern_list_match(&folded, cases[i].path, 0, NULL) !=
            cases[i].folded)
            fail_msg("folded: %s", cases[i].path);
    }
    vlt_pattern_list_free(&exact);
    vlt_pattern_list_free(&folded);
}

static void test_malformed(void **state)
{
    (void)state;
    static const char *bad[] = {"[", "a/[b", "x\\", "[]", "[!]", "!",
                                "a/[x\\", ".", "a/..", "./"};
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(bad); i++) {
        vlt_pattern_list l = {0};
        vault_error rc = vlt_pattern_list_add(&l, bad[i], 0);
        if (rc != VAULT_E_INVALID)
            fail_msg("pattern \"%s\" accepted (%d)", bad[i], rc);
        assert_non_null(strstr(vault_last_error(), bad[i]));
        assert_int_equal(l.n, 0);
        vlt_pattern_list_free(&l);
    }
    /* the empty pattern is ignored, as in restic */
    vlt_pattern_list l = {0};
    assert_vault_ok(vlt_pattern_list_add(&l, "", 0));
    assert_int_equal(l.n, 0);
    assert_int_equal(vlt_pattern_list_match(&l, "/a", 0, NULL), 0);
    vlt_pattern_list_free(&l);
}

/* Which patterns matched: what the "matched nothing" warning needs. */
static void test_hits(void **state)
{
    (void)state;
    vlt_pattern_list l = {0};
    assert_vault_ok(vlt_pattern_list_add(&l, "*.o", 0));
    assert_vault_ok(vlt_pattern_list_add(&l, "Music/", 0));
    assert_vault_ok(vlt_pattern_list_add(&l, "build", 0));
    unsigned char hits[3] = {0};
    assert_true(vlt_pattern_list_match(&l, "/p/build/a.o", 0, hits));
    assert_false(vlt_pattern_list_match(&l, "/p/Music", 0, hits));
    assert_int_equal(hits[0], 1);
    assert_int_equal(hits[1], 0);
    assert_int_equal(hits[2], 1);
    vlt_pattern_list_free(&l);
}

/* A path deeper than the stack's room for components. */
static void test_deep_path(void **state)
{
    (void)state;
    char path[4000];
    size_t o = 0;
    for (int i = 0; i < 500; i++)
        o += (size_t)snprintf(path + o, sizeof path - o, "/d");
    snprintf(path + o, sizeof path - o, "/leaf.tmp");
    vlt_pattern_list l = {0};
    assert_vault_ok(vlt_pattern_list_add(&l, "/d/**/d/**/d/**/*.tmp", 0));
    assert_true(vlt_pattern_list_match(&l, path, 0, NULL));
    assert_vault_ok(vlt_pattern_list_add(&l, "!leaf.tmp", 0));
    assert_false(vlt_pattern_list_match(&l, path, 0, NULL));
    vlt_pattern_list_free(&l);
}

static void test_patterns_file(void **state)
{
    (void)state;
    char *dir = test_tempdir();
    char file[512];
    test_fmt(file, sizeof file, "%s/excludes.txt", dir);
    const char text[] = "\xef\xbb\xbf# exclude go-files\n"
                        "*.go\n"
                        "\n"
                        "   # indented comment\n"
                        "  foo/**/bar  \n"
                        "/home/$PM_USER/cache\n"
                        "${PM_USER}s-dir\n"
                        "cost$$1\n"
                        "$PM_UNSET_VARIABLE_X/y\n"
                        "lone$\n";
    test_write_file(file, text, sizeof text - 1);
    setenv("PM_USER", "bob", 1);
    unsetenv("PM_UNSET_VARIABLE_X");
    vlt_pattern_list l = {0};
    assert_vault_ok(vlt_pattern_list_read_file(&l, file));
    static const char *want[] = {"*.go", "foo/**/bar", "/home/bob/cache",
                                 "bobs-dir", "cost$1", "/y", "lone$"};
    assert_int_equal(l.n, (int)VAULT_ARRAY_SIZE(want));
    for (size_t i = 0; i < l.n; i++) {
        assert_string_equal(l.items[i].original, want[i]);
        assert_true(l.items[i].flags & VLT_PATTERN_QUIET);
    }
    assert_true(vlt_pattern_list_match(&l, "/home/bob/cache/x", 0, NULL));
    vlt_pattern_list_free(&l);

    /* a bad pattern names the file and line */
    const char bad[] = "ok\n[unclosed\n";
    test_write_file(file, bad, sizeof bad - 1);
    assert_vault_code(vlt_pattern_list_read_file(&l, file), VAULT_E_INVALID);
    assert_non_null(strstr(vault_last_error(), "line 2"));
    assert_non_null(strstr(vault_last_error(), "excludes.txt"));
    vlt_pattern_list_free(&l);

    /* a line too long, and a file that is not there */
    char *big = malloc(20000);
    assert_non_null(big);
    memset(big, 'a', 20000);
    test_write_file(file, big, 20000);
    free(big);
    assert_vault_code(vlt_pattern_list_read_file(&l, file), VAULT_E_INVALID);
    vlt_pattern_list_free(&l);
    test_fmt(file, sizeof file, "%s/absent.txt", dir);
    assert_int_not_equal(vlt_pattern_list_read_file(&l, file), VAULT_OK);
    assert_non_null(strstr(vault_last_error(), "absent.txt"));
    vlt_pattern_list_free(&l);
    test_rmtree(dir);
}

/* VLT_PATTERN_WHOLE (find): a pattern names a path itself, never what
 * a matching folder holds. */
static void test_whole_paths(void **state)
{
    (void)state;
    vlt_pattern_list l = {.flags = VLT_PATTERN_WHOLE};
    assert_int_equal(vlt_pattern_list_add(&l, "Documents", 0), VAULT_OK);
    assert_int_equal(vlt_pattern_list_add(&l, "*.jpg", 0), VAULT_OK);
    assert_int_equal(vlt_pattern_list_add(&l, "/srv/**/logs/", 0), VAULT_OK);
    assert_true(vlt_pattern_list_match(&l, "/home/ann/Documents", 1, NULL));
    assert_false(vlt_pattern_list_match(&l, "/home/ann/Documents/x", 0, NULL));
    assert_true(vlt_pattern_list_match(&l, "/a/b/c.jpg", 0, NULL));
    assert_false(vlt_pattern_list_match(&l, "/a/b.jpg/c", 0, NULL));
    assert_true(vlt_pattern_list_match(&l, "/srv/x/y/logs", 1, NULL));
    assert_false(vlt_pattern_list_match(&l, "/srv/x/y/logs", 0, NULL));
    assert_false(vlt_pattern_list_match(&l, "/srv/x/logs/today", 0, NULL));
    assert_false(vlt_pattern_list_match(&l, "/other/logs", 1, NULL));
    vlt_pattern_list_free(&l);
    /* the same list without the flag: ancestors count (excludes) */
    vlt_pattern_list e = {0};
    assert_int_equal(vlt_pattern_list_add(&e, "Documents", 0), VAULT_OK);
    assert_true(vlt_pattern_list_match(&e, "/home/ann/Documents/x", 0, NULL));
    vlt_pattern_list_free(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_restic_match_table),
        cmocka_unit_test(test_restic_manual),
        cmocka_unit_test(test_vault_rules),
        cmocka_unit_test(test_restic_lists),
        cmocka_unit_test(test_restic_reject),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_hits),
        cmocka_unit_test(test_deep_path),
        cmocka_unit_test(test_patterns_file),
        cmocka_unit_test(test_whole_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
