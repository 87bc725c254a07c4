/*
 * test_backend_s3.c - the S3 backend (backend_s3.c, s3_proto.c).
 *
 * Always: what needs no server, on ordinary and hostile input: the
 * location's syntax, SigV4-safe encoding and ListObjectsV2 query paths,
 * the listing parser (huge sizes, cut-short pages, wrong or doubled tags,
 * unknown entities, endless continuation), S3 error codes, the shared
 * credentials file, and opening without credentials.
 *
 * With VAULT_TEST_S3_URL (s3:http://host:port/bucket, as
 * tests/servers/ceph_rgw.sh prints, with AWS_ACCESS_KEY_ID and
 * AWS_SECRET_ACCESS_KEY): also the backend conformance suite against that
 * server, each test under a fresh prefix, and what only S3 does (a wrong
 * secret, a prefix, litter, a missing bucket).  Without it those are
 * skipped with a message; cli/test_s3.sh runs this program against the
 * gateway it starts, so CI runs them.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"

#include "backend/s3_proto.h"
#include "backend_conformance.h"
#include "common/internal.h"

/* ---- encoding and paths -------------------------------------------------- */

static void test_encode(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(vlt_s3_encode("a/b c+d~e=f", 1, out, sizeof out), 17);
    assert_string_equal(out, "a/b%20c%2Bd~e%3Df");
    assert_int_equal(vlt_s3_encode("a/b c+d~e=f", 0, out, sizeof out), 19);
    assert_string_equal(out, "a%2Fb%20c%2Bd~e%3Df");
    assert_int_equal(vlt_s3_encode("\xc3\xa9", 0, out, sizeof out), 6);
    assert_string_equal(out, "%C3%A9");
    assert_int_equal(vlt_s3_encode("", 0, out, sizeof out), 0);
    /* Exactly fits, then one short. */
    assert_int_equal(vlt_s3_encode("abc", 0, out, 4), 3);
    assert_int_equal(vlt_s3_encode("abc", 0, out, 3), -1);
    assert_int_equal(vlt_s3_encode("a+", 0, out, 4), -1);
    assert_int_equal(vlt_s3_encode("a+", 0, out, 5), 4);
}

static void test_list_path(void **state)
{
    (void)state;
    char out[256];
    assert_true(vlt_s3_list_path("bkt", "p/data/", NULL, 0, out,
                                 sizeof out) > 0);
    assert_string_equal(out, "bkt?list-type=2&prefix=p%2Fdata%2F");
    /* Sorted, strictly encoded: the token's '+', '/' and '='. */
    assert_true(vlt_s3_list_path("bkt", "keys/", "a+b/c=", 1000, out,
                                 sizeof out) > 0);
    assert_string_equal(out, "bkt?continuation-token=a%2Bb%2Fc%3D&"
                             "list-type=2&max-keys=1000&prefix=keys%2F");
    /* An empty prefix is still given, valueless as "prefix=". */
    assert_true(vlt_s3_list_path("bkt", "", "", 2, out, sizeof out) > 0);
    assert_string_equal(out, "bkt?list-type=2&max-keys=2&prefix=");
    assert_int_equal(vlt_s3_list_path("bkt", "keys/", NULL, 0, out, 20), -1);
}

/* ---- locations ----------------------------------------------------------- */

static void test_location_ok(void **state)
{
    (void)state;
    s3_location l;
    assert_vault_ok(vlt_s3_parse_location("http://127.0.0.1:7480/bkt", &l));
    assert_string_equal(l.base_url, "http://127.0.0.1:7480/");
    assert_string_equal(l.bucket, "bkt");
    assert_string_equal(l.prefix, "");
    assert_vault_ok(
        vlt_s3_parse_location("https://s3.example.com/my.bucket-1/a//b/", &l));
    assert_string_equal(l.base_url, "https://s3.example.com/");
    assert_string_equal(l.bucket, "my.bucket-1");
    assert_string_equal(l.prefix, "a/b/");
    assert_vault_ok(vlt_s3_parse_location("http://[::1]:9000/bkt/x y", &l));
    assert_string_equal(l.base_url, "http://[::1]:9000/");
    assert_string_equal(l.prefix, "x y/");
}

static void test_location_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "ftp://h/bkt",          "http://",           "http:///bkt",
        "http://h",             "http://h/",         "http://h/ab",
        "http://h/Bucket",      "http://h/-bkt",     "http://h/bkt-",
        "http://h/b_k",         "http://h/bkt/../x", "http://h/bkt/./x",
        "http://h/bkt?x=1",     "http://h/bkt#f",    "http://h o/bkt",
        "http://h/bkt/a\tb",
    };
    s3_location l;
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(bad); i++) {
        if (vlt_s3_parse_location(bad[i], &l) != VAULT_E_INVALID)
            fail_msg("accepted \"%s\"", bad[i]);
    }
    /* Credentials belong in the environment, and the message says so
     * without repeating them. */
    assert_vault_code(vlt_s3_parse_location("http://AKID:s3cr3t@h/bkt", &l),
                      VAULT_E_INVALID);
    assert_detail_has("AWS_ACCESS_KEY_ID");
    assert_null(strstr(vault_last_error(), "s3cr3t"));
    /* A bucket of 64 characters. */
    char url[128];
    memset(url, 'a', sizeof url);
    memcpy(url, "http://h/", 9);
    url[9 + 64] = '\0';
    assert_vault_code(vlt_s3_parse_location(url, &l), VAULT_E_INVALID);
    url[9 + 63] = '\0';
    assert_vault_ok(vlt_s3_parse_location(url, &l));
    /* A prefix longer than any key may be. */
    char *longp = malloc(3 * S3_URL_MAX);
    assert_non_null(longp);
    snprintf(longp, 3 * S3_URL_MAX, "http://h/bkt/");
    memset(longp + 13, 'p', 2 * S3_URL_MAX);
    longp[13 + 2 * S3_URL_MAX] = '\0';
    assert_vault_code(vlt_s3_parse_location(longp, &l), VAULT_E_INVALID);
    free(longp);
}

/* ---- the listing parser -------------------------------------------------- */

typedef struct seen {
    unsigned n;
    char keys[8][1100];
    uint64_t sizes[8];
    unsigned stop_at; /* stop after this many (0: never) */
} seen;

static int record(void *ctx, const char *key, uint64_t size)
{
    seen *s = ctx;
    if (s->n < 8) {
        snprintf(s->keys[s->n], sizeof s->keys[s->n], "%s", key);
        s->sizes[s->n] = size;
    }
    s->n++;
    return s->stop_at && s->n >= s->stop_at ? 7 : 0;
}

static vault_error parse(const char *xml, seen *s, int *stopped, s3_page *p)
{
    memset(s, 0, sizeof *s);
    return vlt_s3_parse_list((const uint8_t *)xml, strlen(xml), record, s,
                             stopped, p);
}

#define HEAD_XML                                                              \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult "            \
    "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name>"

static void test_list_parse(void **state)
{
    (void)state;
    seen s;
    int stopped;
    s3_page p;
    assert_vault_ok(parse(
        HEAD_XML "<IsTruncated>false</IsTruncated>"
                 "<Contents><Key>keys/a&amp;b</Key><LastModified>x"
                 "</LastModified><ETag>&quot;e&quot;</ETag><Size>3</Size>"
                 "<Owner><ID>o</ID></Owner></Contents>"
                 "<Contents><Size>9223372036854775807</Size><Key>k&#x41;&#66;"
                 "</Key></Contents><KeyCount>2</KeyCount></ListBucketResult>",
        &s, &stopped, &p));
    assert_int_equal(s.n, 2);
    assert_int_equal(p.keys, 2);
    assert_false(p.truncated);
    assert_int_equal(stopped, 0);
    assert_string_equal(s.keys[0], "keys/a&b");
    assert_int_equal(s.sizes[0], 3);
    assert_string_equal(s.keys[1], "kAB");
    assert_true(s.sizes[1] == INT64_MAX);

    assert_vault_ok(parse(HEAD_XML "<IsTruncated>true</IsTruncated>"
                                   "<NextContinuationToken>1/a+b=&lt;"
                                   "</NextContinuationToken>"
                                   "<Contents><Key>a</Key><Size>0</Size>"
                                   "</Contents></ListBucketResult>",
                          &s, &stopped, &p));
    assert_true(p.truncated);
    assert_string_equal(p.next_token, "1/a+b=<");

    /* The callback stops the walk. */
    memset(&s, 0, sizeof s);
    s.stop_at = 1;
    const char *two = HEAD_XML "<IsTruncated>false</IsTruncated>"
                               "<Contents><Key>a</Key><Size>1</Size></Contents>"
                               "<Contents><Key>b</Key><Size>2</Size></Contents>"
                               "</ListBucketResult>";
    assert_vault_ok(vlt_s3_parse_list((const uint8_t *)two, strlen(two),
                                      record, &s, &stopped, &p));
    assert_int_equal(s.n, 1);
    assert_int_equal(stopped, 7);

    /* An empty page. */
    assert_vault_ok(parse(HEAD_XML "<IsTruncated>false</IsTruncated>"
                                   "</ListBucketResult>",
                          &s, &stopped, &p));
    assert_int_equal(s.n, 0);
}

static void test_list_parse_hostile(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "<Error><Code>AccessDenied</Code></Error>",
        /* Cut short: no end of the document, of an entry, of a key. */
        HEAD_XML "<IsTruncated>false</IsTruncated><Contents><Key>a</Key>",
        HEAD_XML "<IsTruncated>false</IsTruncated><Contents><Key>a</Key>"
                 "<Size>1</Size></ListBucketResult>",
        HEAD_XML "<IsTruncated>false</IsTruncated><Contents><Key>a",
        /* IsTruncated missing, doubled, or neither true nor false. */
        HEAD_XML "<Contents><Key>a</Key><Size>1</Size></Contents>"
                 "</ListBucketResult>",
        HEAD_XML "<IsTruncated>false</IsTruncated><IsTruncated>true"
                 "</IsTruncated></ListBucketResult>",
        HEAD_XML "<IsTruncated>yes</IsTruncated></ListBucketResult>",
        /* Truncated without a token, or with an empty one. */
        HEAD_XML "<IsTruncated>true</IsTruncated></ListBucketResult>",
        HEAD_XML "<IsTruncated>true</IsTruncated><NextContinuationToken>"
                 "</NextContinuationToken></ListBucketResult>",
        /* Sizes: too large, negative, not a number, empty, huge. */
        HEAD_XML "<IsTruncated>false</IsTruncated><Contents><Key>a</Key>"
                 "<Size>9223372036854775808</Size></Contents></ListBucketResult>",
        HEAD_XML "<IsTruncated>false</IsTruncated><Contents><Key>a</Key>"
                 "<Size>99999999999999999999999</Size></Contents>"
                 "</ListBucketResult>",
        HEAD_XML "<IsTruncated>false</IsTruncated><Contents><Key>a</Key>"
                 "<Size>-1</Size></Contents></ListBucketResult>",
        HEAD_XML "<IsTruncated>false</IsTruncated><Contents><Key>a</Key>"
                 "<Size>1e9</Size></Contents></ListBucketResult>",
        HEAD_XML "<IsTruncated>false</IsTruncated><Contents><Key>a</Key>"
                 "<Size></Size></Contents></ListBucketResult>",
        /* Wrong tags: no key, two keys, two sizes, a nested element. */
        HEAD_XML "<IsTruncated>false</IsTruncated><Contents><Name>a</Name>"
                 "<Size>1</Size></Contents></ListBucketResult>",
        HEAD_XML "<IsTruncated>false</IsTruncated><Contents><Key>a</Key>"
                 "<Key>b</Key><Size>1</Size></Contents></ListBucketResult>",
        HEAD_XML "<IsTruncated>false</IsTruncated><Contents><Key>a</Key>"
                 "<Size>1</Size><Size>2</Size></Contents></ListBucketResult>",
        HEAD_XML "<IsTruncated>false</IsTruncated><Contents><Key><b>a</b>"
                 "</Key><Size>1</Size></Contents></ListBucketResult>",
        /* Entities: unknown, unterminated, NUL, out of ASCII. */
        HEAD_XML "<IsTruncated>false</IsTruncated><Contents><Key>a&nbsp;"
                 "</Key><Size>1</Size></Contents></ListBucketResult>",
        HEAD_XML "<IsTruncated>false</IsTruncated><Contents><Key>a&amp"
                 "</Key><Size>1</Size></Contents></ListBucketResult>",
        HEAD_XML "<IsTruncated>false</IsTruncated><Contents><Key>a&#0;"
                 "</Key><Size>1</Size></Contents></ListBucketResult>",
        HEAD_XML "<IsTruncated>false</IsTruncated><Contents><Key>a&#x110000;"
                 "</Key><Size>1</Size></Contents></ListBucketResult>",
        HEAD_XML "<IsTruncated>false</IsTruncated><Contents><Key>a&#;"
                 "</Key><Size>1</Size></Contents></ListBucketResult>",
        HEAD_XML "<IsTruncated>false</IsTruncated><Contents><Key>a&#x;"
                 "</Key><Size>1</Size></Contents></ListBucketResult>",
    };
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(bad); i++) {
        seen s;
        int stopped;
        s3_page p;
        if (parse(bad[i], &s, &stopped, &p) != VAULT_E_CORRUPT)
            fail_msg("accepted case %zu: %s", i, bad[i]);
        assert_true(strlen(vault_last_error()) > 0);
    }
    /* NUL inside the body. */
    static const char nul[] = HEAD_XML "<IsTruncated>false</IsTruncated>"
                                       "<Contents><Key>a\0b</Key><Size>1"
                                       "</Size></Contents></ListBucketResult>";
    seen s = {0};
    int stopped;
    s3_page p;
    assert_vault_code(vlt_s3_parse_list((const uint8_t *)nul, sizeof nul - 1,
                                        record, &s, &stopped, &p),
                      VAULT_E_CORRUPT);
    assert_int_equal(s.n, 0);
    /* NULL body. */
    assert_vault_code(vlt_s3_parse_list(NULL, 0, record, &s, &stopped, &p),
                      VAULT_E_CORRUPT);
}

/* Long keys and tokens are refused, not cut; many entries cost nothing. */
static void test_list_parse_bounds(void **state)
{
    (void)state;
    size_t big = 8u << 20; /* 100000 entries of ~50 bytes fit */
    char *xml = malloc(big);
    assert_non_null(xml);
    /* A key of 2000 bytes. */
    int n = snprintf(xml, big, HEAD_XML "<IsTruncated>false</IsTruncated>"
                                        "<Contents><Key>");
    memset(xml + n, 'k', 2000);
    snprintf(xml + n + 2000, big - (size_t)n - 2000,
             "</Key><Size>1</Size></Contents></ListBucketResult>");
    seen s;
    int stopped;
    s3_page p;
    assert_vault_code(parse(xml, &s, &stopped, &p), VAULT_E_CORRUPT);
    /* A token of 2000 bytes. */
    n = snprintf(xml, big, HEAD_XML "<IsTruncated>true</IsTruncated>"
                                    "<NextContinuationToken>");
    memset(xml + n, 't', 2000);
    snprintf(xml + n + 2000, big - (size_t)n - 2000,
             "</NextContinuationToken></ListBucketResult>");
    assert_vault_code(parse(xml, &s, &stopped, &p), VAULT_E_CORRUPT);
    /* 100000 entries in one page (a server ignoring max-keys): walked
     * without allocating. */
    size_t at = (size_t)snprintf(xml, big, HEAD_XML
                                 "<IsTruncated>false</IsTruncated>");
    for (unsigned i = 0; i < 100000; i++)
        at += (size_t)snprintf(xml + at, big - at,
                               "<Contents><Key>%u</Key><Size>%u</Size>"
                               "</Contents>",
                               i, i);
    snprintf(xml + at, big - at, "</ListBucketResult>");
    assert_vault_ok(parse(xml, &s, &stopped, &p));
    assert_int_equal(s.n, 100000);
    assert_int_equal(p.keys, 100000);
    free(xml);
}

static void test_error_code(void **state)
{
    (void)state;
    char code[32];
    const char *e = "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code>"
                    "<Message>m</Message></Error>";
    vlt_s3_error_code((const uint8_t *)e, strlen(e), code, sizeof code);
    assert_string_equal(code, "NoSuchKey");
    /* Only printable name characters, cut to fit. */
    e = "<Error><Code>Bad\x1b[31m\nCode&lt;</Code></Error>";
    vlt_s3_error_code((const uint8_t *)e, strlen(e), code, sizeof code);
    assert_string_equal(code, "Bad31mCodelt");
    e = "<Error><Code>AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA</Code>";
    vlt_s3_error_code((const uint8_t *)e, strlen(e), code, 8);
    assert_string_equal(code, "AAAAAAA");
    vlt_s3_error_code((const uint8_t *)"<html>", 6, code, sizeof code);
    assert_string_equal(code, "");
    vlt_s3_error_code(NULL, 0, code, sizeof code);
    assert_string_equal(code, "");
}

/* ---- credentials --------------------------------------------------------- */

static void test_credentials_file(void **state)
{
    (void)state;
    const char *text = "# comment\n"
                       "[default]\n"
                       "aws_access_key_id = AKIADEFAULT\n"
                       "aws_secret_access_key=secretdefault\r\n"
                       "\n"
                       "[ other ]\n"
                       "; another comment\n"
                       "  aws_access_key_id\t=\tAKIAOTHER  \n"
                       "aws_secret_access_key = sec=ret/other+\n"
                       "aws_session_token = tok\n"
                       "region = eu-west-1\n"
                       "[partial]\n"
                       "aws_access_key_id = AKIAPARTIAL\n"
                       "[broken\n"
                       "aws_secret_access_key = not-in-a-section\n";
    s3_credentials c;
    assert_vault_ok(vlt_s3_parse_credentials(text, strlen(text), "default", &c));
    assert_string_equal(c.access_key, "AKIADEFAULT");
    assert_string_equal(c.secret_key, "secretdefault");
    assert_string_equal(c.session_token, "");
    assert_vault_ok(vlt_s3_parse_credentials(text, strlen(text), "other", &c));
    assert_string_equal(c.access_key, "AKIAOTHER");
    assert_string_equal(c.secret_key, "sec=ret/other+");
    assert_string_equal(c.session_token, "tok");
    assert_vault_code(
        vlt_s3_parse_credentials(text, strlen(text), "partial", &c),
        VAULT_E_NOT_FOUND);
    assert_detail_has("partial");
    assert_null(strstr(vault_last_error(), "AKIAPARTIAL"));
    assert_vault_code(
        vlt_s3_parse_credentials(text, strlen(text), "missing", &c),
        VAULT_E_NOT_FOUND);
    assert_detail_has("[missing]");
    assert_vault_code(vlt_s3_parse_credentials("", 0, "default", &c),
                      VAULT_E_NOT_FOUND);
    /* A value longer than any key is refused, not cut. */
    char *longv = malloc(8192);
    assert_non_null(longv);
    int n = snprintf(longv, 8192, "[default]\naws_access_key_id = ");
    memset(longv + n, 'A', 5000);
    snprintf(longv + n + 5000, 8192 - (size_t)n - 5000,
             "\naws_secret_access_key = s\n");
    assert_vault_code(
        vlt_s3_parse_credentials(longv, strlen(longv), "default", &c),
        VAULT_E_INVALID);
    free(longv);
    /* A text without a final newline, and with NUL-free garbage. */
    const char *tail = "[default]\naws_access_key_id=A\naws_secret_access_key=B";
    assert_vault_ok(vlt_s3_parse_credentials(tail, strlen(tail), "default", &c));
    assert_string_equal(c.secret_key, "B");
}

/* Clears every variable the backend reads; HOME points at an empty dir. */
static void clear_aws_env(const char *home)
{
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("AWS_PROFILE");
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    setenv("HOME", home, 1);
}

typedef struct saved_env {
    char *vars[7];
} saved_env;
static const char *const aws_vars[7] = {
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "HOME", "AWS_DEFAULT_REGION"};

static void save_env(saved_env *e)
{
    for (int i = 0; i < 7; i++) {
        const char *v = getenv(aws_vars[i]);
        e->vars[i] = v ? strdup(v) : NULL;
    }
}

static void restore_env(saved_env *e)
{
    for (int i = 0; i < 7; i++) {
        if (e->vars[i])
            setenv(aws_vars[i], e->vars[i], 1);
        else
            unsetenv(aws_vars[i]);
        free(e->vars[i]);
    }
}

static void test_open_without_credentials(void **state)
{
    (void)state;
    saved_env saved;
    save_env(&saved);
    char *tmp = test_tempdir();
    clear_aws_env(tmp);
    backend *be = NULL;
    /* Port 9 (discard): never reached, credentials are checked first. */
    assert_vault_code(
        vlt_backend_s3_open("http://127.0.0.1:9/bkt", NULL, 0, &be),
        VAULT_E_AUTH);
    assert_null(be);
    assert_detail_has("AWS_ACCESS_KEY_ID");
    assert_detail_has("AWS_SECRET_ACCESS_KEY");
    assert_detail_has("AWS_PROFILE");
    /* Half of a pair. */
    setenv("AWS_ACCESS_KEY_ID", "AKIAONLY", 1);
    assert_vault_code(
        vlt_backend_s3_open("http://127.0.0.1:9/bkt", NULL, 0, &be),
        VAULT_E_AUTH);
    assert_detail_has("AWS_SECRET_ACCESS_KEY is not");
    unsetenv("AWS_ACCESS_KEY_ID");
    /* A profile the file lacks. */
    char path[4096];
    snprintf(path, sizeof path, "%s/creds", tmp);
    const char *text = "[default]\naws_access_key_id=A\n"
                       "aws_secret_access_key=SECRETVALUE\n";
    test_write_file(path, text, strlen(text));
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    setenv("AWS_PROFILE", "work", 1);
    assert_vault_code(
        vlt_backend_s3_open("http://127.0.0.1:9/bkt", NULL, 0, &be),
        VAULT_E_AUTH);
    assert_detail_has("[work]");
    assert_null(strstr(vault_last_error(), "SECRETVALUE"));
    /* A region that cannot be part of the SigV4 scope. */
    unsetenv("AWS_PROFILE");
    setenv("AWS_DEFAULT_REGION", "us:east", 1);
    assert_vault_code(
        vlt_backend_s3_open("http://127.0.0.1:9/bkt", NULL, 0, &be),
        VAULT_E_INVALID);
    assert_detail_has("AWS_DEFAULT_REGION");
    restore_env(&saved);
    test_rmtree(tmp);
}

/* ---- against a server (VAULT_TEST_S3_URL) -------------------------------- */

static const char *server_url; /* "http://host:port/bucket" */
static unsigned prefix_counter;
static char current_url[1024];

/* A fresh prefix of the test bucket for every conformance test. */
static vault_error s3_fresh_open(void *ctx, backend **out)
{
    (void)ctx;
    snprintf(current_url, sizeof current_url, "%s/t%ld-%u", server_url,
             (long)getpid(), ++prefix_counter);
    return vlt_backend_s3_open(current_url, NULL, 1, out);
}

static int remove_listed(void *ctx, const char *name, uint64_t size)
{
    (void)size;
    return vlt_name_list_add(ctx, name);
}

/* Removes every object under the current prefix. */
static void s3_cleanup(void *ctx)
{
    (void)ctx;
    backend *be = NULL;
    if (vlt_backend_s3_open(current_url, NULL, 1, &be) != VAULT_OK &&
        vlt_backend_s3_open(current_url, NULL, 0, &be) != VAULT_OK)
        return;
    (void)backend_remove(be, BACKEND_CONFIG, ""); /* absent: NOT_FOUND */
    for (int k = 1; k < BACKEND_KIND_COUNT; k++) {
        name_list l = {0};
        int stopped = 0;
        if (backend_list(be, (backend_kind)k, remove_listed, &l, &stopped) ==
            VAULT_OK)
            for (size_t i = 0; i < l.n; i++)
                (void)backend_remove(be, (backend_kind)k, l.names[i]);
        free(l.names);
    }
    backend_close(be);
}

static void test_s3_create_and_open(void **state)
{
    (void)state;
    backend *be = NULL;
    char url[1100];
    snprintf(url, sizeof url, "%s/open-%ld", server_url, (long)getpid());
    /* Not a vault yet. */
    assert_vault_code(vlt_backend_s3_open(url, NULL, 0, &be),
                      VAULT_E_NOT_FOUND);
    assert_detail_has("not a vault");
    assert_vault_ok(vlt_backend_s3_open(url, NULL, 1, &be));
    assert_int_equal(backend_connections(be), 5);
    save_config(be);
    backend_close(be);
    assert_vault_code(vlt_backend_s3_open(url, NULL, 1, &be), VAULT_E_EXISTS);
    /* Set by hand: vault_storage_options_init belongs to the locations. */
    vault_storage_options opt = {.connections = 3};
    assert_vault_ok(vlt_backend_s3_open(url, &opt, 0, &be));
    assert_int_equal(backend_connections(be), 3);
    assert_vault_ok(backend_remove(be, BACKEND_CONFIG, ""));
    backend_close(be);
}

static void test_s3_wrong_secret(void **state)
{
    (void)state;
    saved_env saved;
    save_env(&saved);
    const char *secret = getenv("AWS_SECRET_ACCESS_KEY");
    assert_non_null(secret);
    char wrong[256];
    snprintf(wrong, sizeof wrong, "%sX", secret);
    setenv("AWS_SECRET_ACCESS_KEY", wrong, 1);
    backend *be = NULL;
    assert_vault_code(vlt_backend_s3_open(server_url, NULL, 1, &be),
                      VAULT_E_AUTH);
    assert_detail_has("SignatureDoesNotMatch");
    assert_detail_has("AWS_SECRET_ACCESS_KEY");
    assert_null(strstr(vault_last_error(), wrong));
    setenv("AWS_ACCESS_KEY_ID", "AKIANOSUCHKEY0000000", 1);
    assert_vault_code(vlt_backend_s3_open(server_url, NULL, 1, &be),
                      VAULT_E_AUTH);
    assert_detail_has("InvalidAccessKeyId");
    restore_env(&saved);
}

static void test_s3_missing_bucket(void **state)
{
    (void)state;
    char url[1100];
    /* The same server, a bucket nobody made. */
    snprintf(url, sizeof url, "%s", server_url);
    char *slash = strrchr(url, '/');
    assert_non_null(slash);
    snprintf(slash + 1, sizeof url - (size_t)(slash + 1 - url),
             "nobucket-%ld", (long)getpid());
    backend *be = NULL;
    assert_vault_code(vlt_backend_s3_open(url, NULL, 0, &be),
                      VAULT_E_NOT_FOUND);
    assert_detail_has("NoSuchBucket");
}

/* Keys that are not objects of ours are skipped by list; a prefix keeps
 * two vaults in one bucket apart. */
static void test_s3_litter_and_prefixes(void **state)
{
    (void)state;
    char url_a[1100], url_b[1100], url_litter[1100];
    snprintf(url_a, sizeof url_a, "%s/lit-%ld/a", server_url, (long)getpid());
    snprintf(url_b, sizeof url_b, "%s/lit-%ld/a/b", server_url,
             (long)getpid());
    backend *a = NULL, *b = NULL;
    assert_vault_ok(vlt_backend_s3_open(url_a, NULL, 1, &a));
    assert_vault_ok(vlt_backend_s3_open(url_b, NULL, 1, &b));
    char name[VAULT_NAME_HEX + 1], other[VAULT_NAME_HEX + 1];
    name_for(1, name);
    name_for(2, other);
    assert_vault_ok(backend_save(a, BACKEND_DATA, name, (const uint8_t *)"x", 1));
    assert_vault_ok(backend_save(b, BACKEND_DATA, other, (const uint8_t *)"y", 1));
    /* Litter under a's data/ through a third backend whose prefix makes
     * its "data/.." land there: b's keys are a's "b/data/..", which a's
     * listing of data/ must not see, and a's shard rule skips misfiled
     * names. */
    snprintf(url_litter, sizeof url_litter, "%s/lit-%ld/a/data/00", server_url,
             (long)getpid());
    backend *l = NULL;
    assert_vault_ok(vlt_backend_s3_open(url_litter, NULL, 1, &l));
    /* Lands at a/data/00/keys/<name>: not a shard entry of a. */
    assert_vault_ok(backend_save(l, BACKEND_KEYS, other, (const uint8_t *)"z", 1));
    name_list names;
    assert_vault_ok(vlt_backend_list_names(a, BACKEND_DATA, &names));
    assert_int_equal(names.n, 1);
    assert_string_equal(names.names[0], name);
    free(names.names);
    assert_vault_ok(vlt_backend_list_names(b, BACKEND_DATA, &names));
    assert_int_equal(names.n, 1);
    assert_string_equal(names.names[0], other);
    free(names.names);
    /* The same bytes saved again count as done (a retried PUT finds its
     * own object); other bytes are refused. */
    assert_vault_ok(backend_save(a, BACKEND_DATA, name, (const uint8_t *)"x", 1));
    assert_vault_code(
        backend_save(a, BACKEND_DATA, name, (const uint8_t *)"w", 1),
        VAULT_E_EXISTS);
    assert_vault_ok(backend_remove(a, BACKEND_DATA, name));
    assert_vault_ok(backend_remove(b, BACKEND_DATA, other));
    assert_vault_ok(backend_remove(l, BACKEND_KEYS, other));
    backend_close(a);
    backend_close(b);
    backend_close(l);
}

/* More than one page (ListObjectsV2 pages at 1000): 1001 objects, saved
 * and removed by a few threads (RGW takes ~10 ms a request here). */
enum { PAGES_N = 1001, PAGES_THREADS = 4 };
typedef struct pages_job {
    backend *be;
    unsigned first;
    int remove;
    vault_error rc;
} pages_job;

static void *pages_worker(void *arg)
{
    pages_job *j = arg;
    for (unsigned i = j->first; i < PAGES_N && j->rc == VAULT_OK;
         i += PAGES_THREADS) {
        char name[VAULT_NAME_HEX + 1];
        name_for(i, name);
        j->rc = j->remove ? backend_remove(j->be, BACKEND_INDEX, name)
                          : backend_save(j->be, BACKEND_INDEX, name,
                                         (const uint8_t *)"i", 1);
    }
    return NULL;
}

static void pages_run(backend *be, int remove)
{
    pthread_t t[PAGES_THREADS];
    pages_job j[PAGES_THREADS];
    for (unsigned i = 0; i < PAGES_THREADS; i++) {
        j[i] = (pages_job){.be = be, .first = i, .remove = remove};
        assert_int_equal(pthread_create(&t[i], NULL, pages_worker, &j[i]), 0);
    }
    for (unsigned i = 0; i < PAGES_THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_vault_ok(j[i].rc);
    }
}

static void test_s3_list_pages(void **state)
{
    (void)state;
    char url[1100];
    snprintf(url, sizeof url, "%s/pages-%ld", server_url, (long)getpid());
    backend *be = NULL;
    vault_storage_options opt = {.connections = PAGES_THREADS};
    assert_vault_ok(vlt_backend_s3_open(url, &opt, 1, &be));
    pages_run(be, 0);
    name_list names;
    assert_vault_ok(vlt_backend_list_names(be, BACKEND_INDEX, &names));
    assert_int_equal(names.n, PAGES_N);
    free(names.names);
    pages_run(be, 1);
    assert_vault_ok(vlt_backend_list_names(be, BACKEND_INDEX, &names));
    assert_int_equal(names.n, 0);
    free(names.names);
    backend_close(be);
}

int main(void)
{
    if (vault_global_init() != VAULT_OK) {
        fprintf(stderr, "vault_global_init: %s\n", vault_last_error());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_list_path),
        cmocka_unit_test(test_location_ok),
        cmocka_unit_test(test_location_refused),
        cmocka_unit_test(test_list_parse),
        cmocka_unit_test(test_list_parse_hostile),
        cmocka_unit_test(test_list_parse_bounds),
        cmocka_unit_test(test_error_code),
        cmocka_unit_test(test_credentials_file),
        cmocka_unit_test(test_open_without_credentials),
    };
    int failures = cmocka_run_group_tests_name("s3 backend", tests, NULL, NULL);

    const char *url = getenv("VAULT_TEST_S3_URL");
    if (!url || strncmp(url, "s3:", 3) != 0) {
        printf("note: the S3 server tests are skipped: set VAULT_TEST_S3_URL "
               "(and AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), e.g. from "
               "`tests/servers/ceph_rgw.sh start DIR`; cli_test_s3 runs them "
               "against the gateway it starts\n");
        return failures ? 1 : 0;
    }
    server_url = url + 3;
    test_watchdog("test_backend_s3", 600);
    const backend_conformance target = {
        .name = "s3",
        .open = s3_fresh_open,
        .cleanup = s3_cleanup,
        .ctx = NULL,
    };
    failures += backend_conformance_run(&target);
    const struct CMUnitTest server_tests[] = {
        cmocka_unit_test(test_s3_create_and_open),
        cmocka_unit_test(test_s3_wrong_secret),
        cmocka_unit_test(test_s3_missing_bucket),
        cmocka_unit_test(test_s3_litter_and_prefixes),
        cmocka_unit_test(test_s3_list_pages),
    };
    failures += cmocka_run_group_tests_name("s3 backend on a server",
                                            server_tests, NULL, NULL);
    return failures ? 1 : 0;
}
