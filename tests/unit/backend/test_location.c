/*
 * test_location.c - locations (backend/location.c): which words have a
 * scheme, how secrets are redacted (never a password in what may be
 * printed), the refusal of an unknown scheme (nothing made), a local
 * folder with a colon written ./name, and the REST location's checks.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_util.h"

#include "common/internal.h"

static void test_has_scheme(void **state)
{
    (void)state;
    assert_true(vault_location_has_scheme("rest:http://h/"));
    assert_true(vault_location_has_scheme("rclone:remote:path"));
    assert_true(vault_location_has_scheme("s3:https://h/b"));
    assert_true(vault_location_has_scheme("sftp:host:x"));
    assert_true(vault_location_has_scheme("foo:bar"));
    assert_true(vault_location_has_scheme("a+b.c-d:x"));
    assert_true(vault_location_has_scheme("x:"));
    assert_false(vault_location_has_scheme("./foo:bar"));
    assert_false(vault_location_has_scheme("/abs/foo:bar"));
    assert_false(vault_location_has_scheme("vault"));
    assert_false(vault_location_has_scheme("dir/a:b"));
    assert_false(vault_location_has_scheme("1abc:x")); /* a digit first */
    assert_false(vault_location_has_scheme("-x:y"));
    assert_false(vault_location_has_scheme(":x"));
    assert_false(vault_location_has_scheme(""));
    assert_false(vault_location_has_scheme(NULL));
}

/* Redacts into a buffer of size bytes and compares with want. */
static void expect_redacted(const char *location, size_t size,
                            const char *want)
{
    char buf[512];
    assert_true(size <= sizeof buf);
    memset(buf, 'X', sizeof buf);
    vault_location_redact(location, buf, size);
    if (strcmp(buf, want) != 0)
        fail_msg("redact(\"%s\", %zu) = \"%s\", want \"%s\"", location, size,
                 buf, want);
}

static void test_redact(void **state)
{
    (void)state;
    expect_redacted("rest:http://alice:s3cret@host:8000/repo/", 512,
                    "rest:http://alice:***@host:8000/repo/");
    expect_redacted("rest:https://u:p@h/", 512, "rest:https://u:***@h/");
    /* A user without a password, and no user: nothing to hide. */
    expect_redacted("rest:http://alice@h/", 512, "rest:http://alice@h/");
    /* An '@' in the path after a port: taken for the end of a password
     * with a raw '/' (see below), as a password must never show. */
    expect_redacted("rest:http://h:8000/a@b/", 512, "rest:http://h:***@b/");
    expect_redacted("rest:http://h/a@b/", 512, "rest:http://h/a@b/");
    /* An '@' in the password (badly encoded): the last '@' ends it. */
    expect_redacted("rest:http://u:p@ss@h/", 512, "rest:http://u:***@h/");
    /* A raw '/' in the password (a malformed URL): hidden all the same. */
    expect_redacted("rest:http://u:pa/ss@h/x", 512, "rest:http://u:***@h/x");
    /* Any scheme with a URL: an unknown one may carry a password too. */
    expect_redacted("sftp://bob:hunter2@h/x", 512, "sftp://bob:***@h/x");
    expect_redacted("s3:https://h:9000/bucket/p", 512,
                    "s3:https://h:9000/bucket/p");
    /* rclone connection strings: secret parameters only. */
    expect_redacted("rclone:remote:path/x", 512, "rclone:remote:path/x");
    expect_redacted("rclone::s3,provider=AWS,access_key_id=AKIA,"
                    "secret_access_key=abc:bucket/p",
                    512,
                    "rclone::s3,provider=AWS,access_key_id=***,"
                    "secret_access_key=***:bucket/p");
    expect_redacted("rclone::sftp,host=h,user=u,pass='a,b:c':dir", 512,
                    "rclone::sftp,host=h,user=u,pass=***:dir");
    expect_redacted("rclone:b2,account=x,key=\"k\"\"q\":bkt", 512,
                    "rclone:b2,account=x,key=***:bkt");
    /* Paths are as they are. */
    expect_redacted("/srv/vault", 512, "/srv/vault");
    expect_redacted("./a:b@c", 512, "./a:b@c");
    /* Truncated to fit, still without the secret. */
    expect_redacted("rest:http://u:secret@h/", 14, "rest:http://u");
    expect_redacted("rest:http://u:secret@h/", 16, "rest:http://u:*");
    expect_redacted("rest:http://u:secret@h/", 1, "");
    expect_redacted(NULL, 8, "");
}

static void test_unknown_scheme(void **state)
{
    (void)state;
    char *tmp = test_tempdir();
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(tmp), 0);
    backend *be = (backend *)1;
    assert_vault_code(vlt_backend_open("foo:bar", NULL, 1, &be),
                      VAULT_E_INVALID);
    assert_null(be);
    const char *detail = vault_last_error();
    assert_non_null(strstr(detail, "unknown storage scheme 'foo:'"));
    assert_non_null(strstr(detail, "rest:"));
    assert_non_null(strstr(detail, "rclone:"));
    assert_non_null(strstr(detail, "s3:"));
    assert_non_null(strstr(detail, "./foo:bar"));
    struct stat st;
    assert_int_not_equal(stat("foo:bar", &st), 0); /* nothing made */
    /* An unknown scheme's password is not repeated. */
    assert_vault_code(vlt_backend_open("sftp://u:hunter2@h/x", NULL, 1, &be),
                      VAULT_E_INVALID);
    assert_null(strstr(vault_last_error(), "hunter2"));
    /* The colon of a ./path is a folder's name. */
    assert_vault_ok(vlt_backend_open("./foo:bar", NULL, 1, &be));
    backend_close(be);
    assert_int_equal(stat("foo:bar/keys", &st), 0);
    assert_vault_code(vault_probe_at("foo:bar", NULL), VAULT_E_INVALID);
    /* The public calls refuse it the same way, and make nothing. */
    char fp[VAULT_FINGERPRINT_CHARS + 1];
    vault_identity_t *id = NULL;
    assert_vault_ok(vault_identity_generate(&id));
    assert_vault_code(vault_create_at("bar:baz", NULL,
                                      vault_identity_recipient(id), fp),
                      VAULT_E_INVALID);
    assert_non_null(strstr(vault_last_error(), "unknown storage scheme"));
    assert_int_not_equal(stat("bar:baz", &st), 0);
    vault_t *v = NULL;
    assert_vault_code(vault_open_at("bar:baz", NULL, id, &v),
                      VAULT_E_INVALID);
    assert_null(v);
    /* The _at forms work on a path like the plain ones. */
    assert_vault_ok(vault_create_at("./v:1", NULL,
                                    vault_identity_recipient(id), fp));
    assert_vault_ok(vault_open_at("./v:1", NULL, id, &v));
    vault_close(v);
    vault_identity_free(id);
    assert_int_equal(chdir(cwd), 0);
    test_rmtree(tmp);
}

static void test_empty_and_options(void **state)
{
    (void)state;
    backend *be = NULL;
    assert_vault_code(vlt_backend_open("", NULL, 0, &be), VAULT_E_INVALID);
    vault_storage_options o;
    memset(&o, 0xff, sizeof o);
    vault_storage_options_init(&o);
    assert_int_equal(o.connections, 0);
    assert_null(o.cacert);
    assert_int_equal(o.no_cache, 0);
    assert_null(o.cache_dir);
}

static void test_rest_location_checks(void **state)
{
    (void)state;
    backend *be = NULL;
    assert_vault_code(vlt_backend_open("rest:ftp://h/", NULL, 0, &be),
                      VAULT_E_INVALID);
    assert_non_null(strstr(vault_last_error(), "rest:http://"));
    assert_vault_code(vlt_backend_open("rest:http:///x/", NULL, 0, &be),
                      VAULT_E_INVALID);
    assert_non_null(strstr(vault_last_error(), "no host"));
    assert_vault_code(vlt_backend_open("rest:http://h/?x=1", NULL, 0, &be),
                      VAULT_E_INVALID);
    assert_vault_code(
        vlt_backend_open("rest:http://u:bad%zzsecret@h/", NULL, 0, &be),
        VAULT_E_INVALID);
    assert_non_null(strstr(vault_last_error(), "percent"));
    assert_null(strstr(vault_last_error(), "secret"));
    assert_vault_code(
        vlt_backend_open("rest:http://u:nul%00@h/", NULL, 0, &be),
        VAULT_E_INVALID);
    assert_vault_code(vlt_backend_open("rclone:", NULL, 0, &be),
                      VAULT_E_INVALID);
    assert_vault_code(vlt_backend_open("rclone:--config=x:y", NULL, 0, &be),
                      VAULT_E_INVALID);
    assert_null(be);
}

int main(void)
{
    if (vault_global_init() != VAULT_OK) {
        fprintf(stderr, "vault_global_init: %s\n", vault_last_error());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_has_scheme),
        cmocka_unit_test(test_redact),
        cmocka_unit_test(test_unknown_scheme),
        cmocka_unit_test(test_empty_and_options),
        cmocka_unit_test(test_rest_location_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
