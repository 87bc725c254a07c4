/*
 * backend_s3.c - a vault in an S3 bucket (AWS, Ceph RGW, MinIO...),
 * through the shared libcurl client (http.h) with SigV4.
 *
 * Location: "s3:http[s]://host[:port]/bucket[/prefix]", path-style
 * addressing (what gateways without wildcard DNS need).  Keys, as
 * restic's S3 layout:
 *
 *   <prefix>config
 *   <prefix>keys/<name>          <prefix>index/<name>
 *   <prefix>data/<name[0:2]>/<name>
 *   <prefix>snapshots/<name>     <prefix>locks/<name>
 *
 * Requests: save is a PUT with If-None-Match: * (the store refuses to
 * replace: 412), load a (ranged) GET, list ListObjectsV2 pages of 1000,
 * remove a DELETE.  stat lists the one key (http.h's answers carry no
 * headers, so a HEAD could not give the size), and remove stats first
 * because S3 answers a DELETE of a missing key with 204.
 *
 * SigV4 through libcurl 7.88, which signs the path and query exactly as
 * written (so both are strictly encoded and the query sorted here) and
 * does not send x-amz-content-sha256 (so every request sends it: the
 * body's SHA-256, which the server then verifies).
 *
 * Credentials come from the environment (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) or from a profile of the
 * shared credentials file (AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE);
 * the region from AWS_DEFAULT_REGION or AWS_REGION (us-east-1).  The
 * secret is never part of a message.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "backend/backend.h"
#include "backend/http.h"
#include "backend/s3_proto.h"
#include "common/internal.h"
#include "crypto/digest.h"

#define S3_PAGE_KEYS 1000
/* A page of 1000 keys is about 300 KiB of XML; anything far beyond is not
 * an answer to our request. */
#define S3_LIST_MAX_BODY (8u << 20)
/* Error answers are small XML documents. */
#define S3_ERROR_MAX_BODY (64u << 10)
#define S3_CREDENTIALS_FILE_MAX (1u << 20)
#define S3_PATH_MAX 4096
#define S3_DEFAULT_CONNECTIONS 5
#define S3_EMPTY_SHA256                                                       \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

typedef struct s3_backend {
    backend base; /* first, so a backend * is an s3_backend * */
    http_client *http;
    s3_location loc;
    char display[2 * S3_URL_MAX + 80]; /* "s3:http://host/bucket/prefix" */
    char *token_header;              /* "x-amz-security-token: ..." or NULL */
} s3_backend;

static s3_backend *s3_of(backend *be)
{
    return (s3_backend *)be;
}

/* The object's key (decoded) and the request path ("bucket/encoded-key"). */
static int object_path(const s3_backend *s, backend_kind kind,
                       const char *name, char *path, size_t size)
{
    char label[BACKEND_LABEL_MAX];
    char key[S3_URL_MAX + BACKEND_LABEL_MAX];
    vlt_backend_label(kind, name, label);
    int n = snprintf(key, sizeof key, "%s%s", s->loc.prefix, label);
    if (n < 0 || (size_t)n >= sizeof key)
        return -1;
    n = snprintf(path, size, "%s/", s->loc.bucket);
    if (n < 0 || (size_t)n >= size)
        return -1;
    return vlt_s3_encode(key, 1, path + n, size - (size_t)n) < 0 ? -1 : 0;
}

/* A non-2xx answer as an error naming the object and S3's <Code>:
 * 404 VAULT_E_NOT_FOUND, 412 VAULT_E_EXISTS, 416 VAULT_E_CORRUPT; 403 with
 * a credentials code (the key is unknown, the signature does not match:
 * a wrong secret) VAULT_E_AUTH, other 403s VAULT_E_PERMISSION. */
static vault_error answer_error(const s3_backend *s, const char *method,
                                const char *what, const http_response *r)
{
    char code[64];
    vlt_s3_error_code(r->body, r->len, code, sizeof code);
    vault_error rc;
    const char *hint = "";
    switch (r->status) {
    case 404:
        rc = VAULT_E_NOT_FOUND;
        if (strcmp(code, "NoSuchBucket") == 0)
            hint = " (the bucket does not exist: `vault init` makes it)";
        break;
    case 409:
    case 412:
        rc = VAULT_E_EXISTS;
        break;
    case 416:
        rc = VAULT_E_CORRUPT;
        break;
    case 400:
    case 401:
    case 403:
        if (r->status == 401 || strcmp(code, "InvalidAccessKeyId") == 0 ||
            strcmp(code, "SignatureDoesNotMatch") == 0 ||
            strcmp(code, "InvalidToken") == 0 ||
            strcmp(code, "ExpiredToken") == 0 ||
            strcmp(code, "AuthorizationHeaderMalformed") == 0) {
            rc = VAULT_E_AUTH;
            hint = " (check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
                   "AWS_SESSION_TOKEN and AWS_DEFAULT_REGION)";
        } else {
            rc = r->status == 400 ? VAULT_E_IO : VAULT_E_PERMISSION;
        }
        break;
    default:
        rc = VAULT_E_IO;
        break;
    }
    return vlt_fail(rc, "%s: %s %s: %ld%s%s%s", s->display, method, what,
                    r->status, code[0] ? " " : "", code, hint);
}

/* Sends one request with the headers every S3 request carries; the body's
 * SHA-256 is signed (libcurl does not send it itself). */
static vault_error s3_send(s3_backend *s, const char *method, const char *path,
                           const char *extra_header, const uint8_t *body,
                           size_t body_len, uint64_t range_offset,
                           size_t range_len, size_t max_body, const char *label,
                           http_response *resp)
{
    char sha_header[100];
    if (body_len) {
        uint8_t sha[SHA256_BYTES];
        char hex[2 * SHA256_BYTES + 1];
        vlt_sha256(body, body_len, sha);
        sodium_bin2hex(hex, sizeof hex, sha, sizeof sha);
        snprintf(sha_header, sizeof sha_header, "x-amz-content-sha256: %s",
                 hex);
    } else {
        snprintf(sha_header, sizeof sha_header, "x-amz-content-sha256: %s",
                 S3_EMPTY_SHA256);
    }
    const char *headers[4];
    size_t h = 0;
    headers[h++] = sha_header;
    if (extra_header)
        headers[h++] = extra_header;
    if (s->token_header)
        headers[h++] = s->token_header;
    headers[h] = NULL;
    http_request req = {
        .method = method,
        .path = path,
        .headers = headers,
        .body = body,
        .body_len = body_len,
        .range_offset = range_offset,
        .range_len = range_len,
        /* Error answers must fit too, whatever the object's size. */
        .max_body = max_body < S3_ERROR_MAX_BODY ? S3_ERROR_MAX_BODY
                                                 : max_body,
        .label = label,
    };
    return vlt_http_send(s->http, &req, resp);
}

static int ok_status(long status)
{
    return status >= 200 && status < 300;
}

/* ---- listing ------------------------------------------------------------- */

/* Walks every key under key_prefix, page by page. */
static vault_error list_keys(s3_backend *s, const char *key_prefix,
                             unsigned max_keys, int single_page, s3_key_fn fn,
                             void *ctx, int *stopped, const char *what)
{
    char token[S3_TOKEN_MAX + 1] = "";
    char *path = malloc(S3_PATH_MAX + 3 * S3_TOKEN_MAX);
    if (!path)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    vault_error rc = VAULT_OK;
    *stopped = 0;
    for (;;) {
        if (vlt_s3_list_path(s->loc.bucket, key_prefix, token, max_keys, path,
                             S3_PATH_MAX + 3 * S3_TOKEN_MAX) < 0) {
            rc = vlt_fail(VAULT_E_INVALID, "%s: list %s: path too long",
                          s->display, what);
            break;
        }
        http_response r;
        rc = s3_send(s, "GET", path, NULL, NULL, 0, 0, 0, S3_LIST_MAX_BODY,
                     what, &r);
        if (rc != VAULT_OK)
            break;
        if (!ok_status(r.status)) {
            rc = answer_error(s, "list", what, &r);
            vlt_http_response_free(&r);
            break;
        }
        s3_page page;
        rc = vlt_s3_parse_list(r.body, r.len, fn, ctx, stopped, &page);
        vlt_http_response_free(&r);
        if (rc != VAULT_OK) {
            rc = vlt_fail_context(rc, "%s: list %s", s->display, what);
            break;
        }
        if (*stopped || !page.truncated || single_page)
            break;
        /* A server that hands back the token it was given would loop. */
        if (strcmp(page.next_token, token) == 0) {
            rc = vlt_fail(VAULT_E_CORRUPT,
                          "%s: list %s: the server repeats its continuation "
                          "token",
                          s->display, what);
            break;
        }
        memcpy(token, page.next_token, sizeof token);
    }
    free(path);
    return rc;
}

typedef struct list_ctx {
    const s3_backend *s;
    backend_kind kind;
    const char *key_prefix; /* "<prefix><kind>/" */
    size_t skip;            /* its length */
    backend_list_fn fn;
    void *ctx;
} list_ctx;

/* Hands fn the names of well-formed keys of the kind; skips the rest
 * (litter of other tools, folder markers). */
static int list_one(void *ctx, const char *key, uint64_t size)
{
    list_ctx *l = ctx;
    /* The server was asked for this prefix only; a key without it is not
     * ours, whatever its tail looks like. */
    if (strncmp(key, l->key_prefix, l->skip) != 0)
        return 0;
    const char *rest = key + l->skip;
    if (l->kind == BACKEND_DATA) {
        if (rest[0] == '\0' || rest[1] == '\0' || rest[2] != '/' ||
            !vlt_backend_name_valid(rest + 3) || memcmp(rest, rest + 3, 2) != 0)
            return 0;
        rest += 3;
    } else if (!vlt_backend_name_valid(rest)) {
        return 0;
    }
    return l->fn(l->ctx, rest, size);
}

/* The config object: listed once with name "" when present. */
typedef struct exact_ctx {
    const char *key;
    int found;
    uint64_t size;
} exact_ctx;

static int exact_one(void *ctx, const char *key, uint64_t size)
{
    exact_ctx *e = ctx;
    if (strcmp(key, e->key) == 0) {
        e->found = 1;
        e->size = size;
        return 1;
    }
    return 0;
}

/* Whether the key exists and its size, by listing just it (one request;
 * the next key in order may share its prefix, so two are asked for). */
static vault_error key_stat(s3_backend *s, const char *key, const char *what,
                            int *found, uint64_t *size)
{
    exact_ctx e = {.key = key};
    int stopped;
    vault_error rc = list_keys(s, key, 2, 1, exact_one, &e, &stopped, what);
    *found = e.found;
    *size = e.size;
    return rc;
}

static vault_error s3_list(backend *be, backend_kind kind, backend_list_fn fn,
                           void *ctx, int *stopped)
{
    s3_backend *s = s3_of(be);
    int dummy;
    if (!stopped)
        stopped = &dummy;
    *stopped = 0;
    const char *kname = vlt_backend_kind_name(kind);
    if (!kname)
        return vlt_fail(VAULT_E_INVALID, "backend: unknown object kind %d",
                        (int)kind);
    char key_prefix[S3_URL_MAX + 32];
    snprintf(key_prefix, sizeof key_prefix, "%s%s%s", s->loc.prefix, kname,
             kind == BACKEND_CONFIG ? "" : "/");
    if (kind == BACKEND_CONFIG) {
        int found;
        uint64_t size;
        vault_error rc = key_stat(s, key_prefix, "config", &found, &size);
        if (rc == VAULT_OK && found)
            *stopped = fn(ctx, "", size);
        return rc;
    }
    list_ctx l = {.s = s, .kind = kind, .key_prefix = key_prefix,
                  .skip = strlen(key_prefix), .fn = fn, .ctx = ctx};
    return list_keys(s, key_prefix, S3_PAGE_KEYS, 0, list_one, &l, stopped,
                     kname);
}

/* ---- objects ------------------------------------------------------------- */

static vault_error s3_stat(backend *be, backend_kind kind, const char *name,
                           uint64_t *size)
{
    s3_backend *s = s3_of(be);
    *size = 0;
    vault_error rc = vlt_backend_check(kind, name);
    if (rc != VAULT_OK)
        return rc;
    char label[BACKEND_LABEL_MAX], key[S3_URL_MAX + BACKEND_LABEL_MAX];
    vlt_backend_label(kind, name, label);
    snprintf(key, sizeof key, "%s%s", s->loc.prefix, label);
    int found;
    rc = key_stat(s, key, label, &found, size);
    if (rc == VAULT_OK && !found)
        rc = vlt_fail(VAULT_E_NOT_FOUND, "%s: %s: no such object", s->display,
                      label);
    return rc;
}

/* Whether the object holds exactly data (after a save answered 412). */
static vault_error same_content(s3_backend *s, const char *path,
                                const char *label, const uint8_t *data,
                                size_t len, int *same)
{
    *same = 0;
    http_response r;
    vault_error rc = s3_send(s, "GET", path, NULL, NULL, 0, 0, 0, len, label,
                             &r);
    if (rc == VAULT_E_CORRUPT)
        return VAULT_OK; /* longer than ours: another object */
    if (rc != VAULT_OK)
        return rc;
    *same = ok_status(r.status) && r.len == len && memcmp(r.body, data, len) == 0;
    vlt_http_response_free(&r);
    return VAULT_OK;
}

/* Checks kind and name, and puts the object's label (for messages) and
 * its request path into label and path. */
static vault_error object_where(const s3_backend *s, backend_kind kind,
                                const char *name,
                                char label[BACKEND_LABEL_MAX],
                                char path[S3_PATH_MAX])
{
    vault_error rc = vlt_backend_check(kind, name);
    if (rc != VAULT_OK)
        return rc;
    vlt_backend_label(kind, name, label);
    if (object_path(s, kind, name, path, S3_PATH_MAX) != 0)
        return vlt_fail(VAULT_E_INVALID, "%s: %s: path too long", s->display,
                        label);
    return VAULT_OK;
}

static vault_error s3_save(backend *be, backend_kind kind, const char *name,
                           const uint8_t *data, size_t len)
{
    s3_backend *s = s3_of(be);
    char label[BACKEND_LABEL_MAX], path[S3_PATH_MAX];
    vault_error rc = object_where(s, kind, name, label, path);
    if (rc != VAULT_OK)
        return rc;
    http_response r;
    rc = s3_send(s, "PUT", path, "If-None-Match: *", data, len, 0, 0,
                 S3_ERROR_MAX_BODY, label, &r);
    if (rc != VAULT_OK)
        return rc;
    if (ok_status(r.status)) {
        vlt_http_response_free(&r);
        return VAULT_OK;
    }
    rc = answer_error(s, "PUT", label, &r);
    long status = r.status;
    vlt_http_response_free(&r);
    /* A PUT whose answer was lost is sent again and then finds its own
     * object: packs, index segments and snapshots are named by their
     * content, so the same bytes under the name mean the save is done.
     * Only then: anything else that exists is refused, as save promises. */
    if (status == 412 && len > 0 &&
        (kind == BACKEND_DATA || kind == BACKEND_INDEX ||
         kind == BACKEND_SNAPSHOTS)) {
        int same;
        vault_error rc2 = same_content(s, path, label, data, len, &same);
        if (rc2 != VAULT_OK)
            return rc2;
        if (same)
            return VAULT_OK;
        return vlt_fail(VAULT_E_EXISTS, "%s: %s: exists already", s->display,
                        label);
    }
    if (status == 412)
        return vlt_fail(VAULT_E_EXISTS, "%s: %s: exists already", s->display,
                        label);
    return rc;
}

static vault_error s3_load(backend *be, backend_kind kind, const char *name,
                           uint64_t offset, size_t len, size_t max_len,
                           uint8_t **out, size_t *out_len)
{
    s3_backend *s = s3_of(be);
    *out = NULL;
    *out_len = 0;
    char label[BACKEND_LABEL_MAX], path[S3_PATH_MAX];
    vault_error rc = object_where(s, kind, name, label, path);
    if (rc != VAULT_OK)
        return rc;
    size_t want = len;
    if (len == 0 && offset > 0) {
        /* "From offset to the end" needs the size: a Range past the end
         * is 416 even where the contract wants 0 bytes. */
        uint64_t size;
        rc = s3_stat(be, kind, name, &size);
        if (rc != VAULT_OK)
            return rc;
        rc = vlt_backend_check_range(label, size, offset, 0, max_len, &want);
        if (rc != VAULT_OK)
            return rc;
        if (want == 0) {
            *out = malloc(1);
            return *out ? VAULT_OK : vlt_fail(VAULT_E_NOMEM, "out of memory");
        }
    } else if (len > max_len) {
        return vlt_fail(VAULT_E_CORRUPT,
                        "%s: %zu bytes to load, more than the limit of %zu",
                        label, len, max_len);
    }
    http_response r;
    /* Whole-object loads are bounded by max_len: a longer body is refused
     * by http.c before it is all read. */
    rc = s3_send(s, "GET", path, NULL, NULL, 0, offset, want,
                 want ? want : max_len, label, &r);
    if (rc == VAULT_E_CORRUPT && !want)
        return vlt_fail(VAULT_E_CORRUPT,
                        "%s: %s: the object is larger than the limit of %zu "
                        "bytes",
                        s->display, label, max_len);
    if (rc != VAULT_OK)
        return rc;
    if (!ok_status(r.status)) {
        if (r.status == 416)
            rc = vlt_fail(VAULT_E_CORRUPT,
                          "%s: %s: range %llu+%zu past the end of the object",
                          s->display, label, (unsigned long long)offset, len);
        else
            rc = answer_error(s, "GET", label, &r);
        vlt_http_response_free(&r);
        return rc;
    }
    if (!want && r.len > max_len) {
        vlt_http_response_free(&r);
        return vlt_fail(VAULT_E_CORRUPT,
                        "%s: %s: the object is larger than the limit of %zu "
                        "bytes",
                        s->display, label, max_len);
    }
    /* A ranged GET that reaches past the end answers with what there is. */
    if ((want && r.len != want) || (want && r.status != 206 && offset != 0)) {
        rc = vlt_fail(VAULT_E_CORRUPT,
                      "%s: %s: range %llu+%zu past the end of the object "
                      "(got %zu bytes)",
                      s->display, label, (unsigned long long)offset, want,
                      r.len);
        vlt_http_response_free(&r);
        return rc;
    }
    *out = r.body;
    *out_len = r.len;
    return VAULT_OK;
}

static vault_error remove_as(backend *be, int discard, backend_kind kind,
                             const char *name)
{
    s3_backend *s = s3_of(be);
    uint64_t size;
    /* S3 deletes a missing key without complaint; the contract says
     * VAULT_E_NOT_FOUND (and checks the name), which costs a stat, a
     * round trip, unless the caller takes absence as done (discard). */
    vault_error rc = discard ? vlt_backend_check(kind, name)
                             : s3_stat(be, kind, name, &size);
    char label[BACKEND_LABEL_MAX], path[S3_PATH_MAX];
    if (rc == VAULT_OK)
        rc = object_where(s, kind, name, label, path);
    if (rc != VAULT_OK)
        return rc;
    http_response r;
    rc = s3_send(s, "DELETE", path, NULL, NULL, 0, 0, 0, S3_ERROR_MAX_BODY,
                 label, &r);
    if (rc != VAULT_OK)
        return rc;
    if (!ok_status(r.status))
        rc = answer_error(s, "DELETE", label, &r);
    vlt_http_response_free(&r);
    return rc;
}

static vault_error s3_remove(backend *be, backend_kind kind, const char *name)
{
    return remove_as(be, 0, kind, name);
}

static vault_error s3_discard(backend *be, backend_kind kind,
                              const char *name)
{
    vault_error rc = remove_as(be, 1, kind, name);
    return rc == VAULT_E_NOT_FOUND ? VAULT_OK : rc;
}

static void s3_close(backend *be)
{
    s3_backend *s = s3_of(be);
    if (!s)
        return;
    vlt_http_client_free(s->http);
    if (s->token_header) {
        sodium_memzero(s->token_header, strlen(s->token_header));
        free(s->token_header);
    }
    free(s);
}

static double s3_answer_wait(backend *be)
{
    return vlt_http_answer_wait(s3_of(be)->http);
}

static const backend_ops s3_ops = {
    .save = s3_save,
    .discard = s3_discard,
    .load = s3_load,
    .stat = s3_stat,
    .list = s3_list,
    .remove = s3_remove,
    .close = s3_close,
    .answer_wait = s3_answer_wait,
};

/* ---- opening --------------------------------------------------------------- */

static vault_error read_credentials_file(s3_credentials *cred)
{
    const char *file = getenv("AWS_SHARED_CREDENTIALS_FILE");
    const char *profile = getenv("AWS_PROFILE");
    const char *home = getenv("HOME");
    char path[4096];
    if (!profile || !*profile)
        profile = "default";
    if (file && *file)
        snprintf(path, sizeof path, "%s", file);
    else if (home && *home)
        snprintf(path, sizeof path, "%s/.aws/credentials", home);
    else
        path[0] = '\0';
    const char *none =
        "s3: no credentials: set AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones), "
        "or AWS_PROFILE with a profile in ~/.aws/credentials "
        "(AWS_SHARED_CREDENTIALS_FILE names another file)";
    FILE *f = path[0] ? fopen(path, "r") : NULL;
    if (!f) {
        if (path[0] && errno != ENOENT)
            return vlt_fail_errno(errno, "%s: cannot read", path);
        return vlt_fail(VAULT_E_AUTH, "%s", none);
    }
    char *text = malloc(S3_CREDENTIALS_FILE_MAX + 1);
    if (!text) {
        fclose(f);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    size_t n = fread(text, 1, S3_CREDENTIALS_FILE_MAX + 1, f);
    int err = ferror(f);
    fclose(f);
    vault_error rc;
    if (err)
        rc = vlt_fail(VAULT_E_IO, "%s: cannot read", path);
    else if (n > S3_CREDENTIALS_FILE_MAX)
        rc = vlt_fail(VAULT_E_INVALID, "%s: larger than %u bytes", path,
                      S3_CREDENTIALS_FILE_MAX);
    else
        rc = vlt_s3_parse_credentials(text, n, profile, cred);
    sodium_memzero(text, n < S3_CREDENTIALS_FILE_MAX ? n : S3_CREDENTIALS_FILE_MAX);
    free(text);
    if (rc == VAULT_E_NOT_FOUND)
        return vlt_fail_context(VAULT_E_AUTH, "%s: %s", none, path);
    if (rc != VAULT_OK)
        return vlt_fail_context(rc, "%s", path);
    return VAULT_OK;
}

static vault_error copy_env(const char *var, char *out, size_t size)
{
    const char *v = getenv(var);
    if (!v)
        v = "";
    size_t n = strlen(v);
    if (n >= size)
        return vlt_fail(VAULT_E_INVALID, "%s is too long", var);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
            return vlt_fail(VAULT_E_INVALID, "%s holds a control character",
                            var);
    memcpy(out, v, n + 1);
    return VAULT_OK;
}

static vault_error get_credentials(s3_credentials *cred, char *region,
                                   size_t region_size)
{
    memset(cred, 0, sizeof *cred);
    vault_error rc = copy_env("AWS_ACCESS_KEY_ID", cred->access_key,
                              sizeof cred->access_key);
    if (rc == VAULT_OK)
        rc = copy_env("AWS_SECRET_ACCESS_KEY", cred->secret_key,
                      sizeof cred->secret_key);
    if (rc == VAULT_OK)
        rc = copy_env("AWS_SESSION_TOKEN", cred->session_token,
                      sizeof cred->session_token);
    if (rc != VAULT_OK)
        return rc;
    if (!cred->access_key[0] != !cred->secret_key[0])
        return vlt_fail(VAULT_E_AUTH,
                        "s3: %s is set but %s is not: set both",
                        cred->access_key[0] ? "AWS_ACCESS_KEY_ID"
                                            : "AWS_SECRET_ACCESS_KEY",
                        cred->access_key[0] ? "AWS_SECRET_ACCESS_KEY"
                                            : "AWS_ACCESS_KEY_ID");
    if (!cred->access_key[0]) {
        rc = read_credentials_file(cred);
        if (rc != VAULT_OK)
            return rc;
    }
    const char *r = getenv("AWS_DEFAULT_REGION");
    if (!r || !*r)
        r = getenv("AWS_REGION");
    if (!r || !*r)
        r = "us-east-1";
    size_t n = strlen(r);
    if (n >= region_size || strspn(r, "abcdefghijklmnopqrstuvwxyz0123456789-") != n)
        return vlt_fail(VAULT_E_INVALID,
                        "AWS_DEFAULT_REGION \"%.64s\": want lower-case "
                        "letters, digits and '-'",
                        r);
    memcpy(region, r, n + 1);
    return VAULT_OK;
}

/* Checks the bucket and the config with one listing: *has_config, and
 * VAULT_E_NOT_FOUND (NoSuchBucket) when the bucket is missing. */
static vault_error probe(s3_backend *s, int *has_config)
{
    char key[S3_URL_MAX + 8];
    snprintf(key, sizeof key, "%sconfig", s->loc.prefix);
    uint64_t size;
    return key_stat(s, key, "config", has_config, &size);
}

static vault_error make_bucket(s3_backend *s)
{
    http_response r;
    char what[S3_BUCKET_MAX + 16];
    snprintf(what, sizeof what, "bucket %s", s->loc.bucket);
    vault_error rc = s3_send(s, "PUT", s->loc.bucket, NULL, NULL, 0, 0, 0,
                             S3_ERROR_MAX_BODY, what, &r);
    if (rc != VAULT_OK)
        return rc;
    char code[64];
    vlt_s3_error_code(r.body, r.len, code, sizeof code);
    /* Made by someone else meanwhile: as good. */
    if (!ok_status(r.status) && strcmp(code, "BucketAlreadyOwnedByYou") != 0)
        rc = answer_error(s, "PUT", what, &r);
    vlt_http_response_free(&r);
    return rc;
}

vault_error vlt_backend_s3_open(const char *url,
                                const vault_storage_options *options,
                                int create, backend **out)
{
    *out = NULL;
    s3_backend *s = calloc(1, sizeof *s);
    s3_credentials *cred = malloc(sizeof *cred);
    vault_error rc = VAULT_OK;
    if (!s || !cred) {
        rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
        goto done;
    }
    s->base.ops = &s3_ops;
    rc = vlt_s3_parse_location(url, &s->loc);
    if (rc != VAULT_OK)
        goto done;
    snprintf(s->display, sizeof s->display, "s3:%s%s/%s", s->loc.base_url,
             s->loc.bucket, s->loc.prefix);
    /* No trailing '/' in messages: "s3:http://h/bucket". */
    s->display[strlen(s->display) - 1] = '\0';
    char region[64], sigv4[96];
    rc = get_credentials(cred, region, sizeof region);
    if (rc != VAULT_OK)
        goto done;
    snprintf(sigv4, sizeof sigv4, "aws:amz:%s:s3", region);
    if (cred->session_token[0]) {
        size_t n = strlen(cred->session_token) + 32;
        s->token_header = malloc(n);
        if (!s->token_header) {
            rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
            goto done;
        }
        snprintf(s->token_header, n, "x-amz-security-token: %s",
                 cred->session_token);
    }
    unsigned connections = options && options->connections
                               ? options->connections
                               : S3_DEFAULT_CONNECTIONS;
    http_config config = {
        .base_url = s->loc.base_url,
        .display = s->display,
        .username = cred->access_key,
        .password = cred->secret_key,
        .aws_sigv4 = sigv4,
        .cacert = options ? options->cacert : NULL,
        .connections = connections,
    };
    rc = vlt_http_client_new(&config, &s->http);
    if (rc != VAULT_OK)
        goto done;
    s->base.connections = vlt_http_connections(s->http);

    /* Opening for the config's load (BACKEND_OPEN_UNCHECKED) asks
     * nothing first: a missing bucket or config is that load's 404, a
     * round trip before all others saved. */
    int has_config = 0;
    if (create != BACKEND_OPEN_UNCHECKED)
        rc = probe(s, &has_config);
    if (create == 1) {
        if (rc == VAULT_E_NOT_FOUND) {
            rc = make_bucket(s);
            has_config = 0;
        }
        if (rc == VAULT_OK && has_config)
            rc = vlt_fail(VAULT_E_EXISTS, "%s: holds a vault already",
                          s->display);
    } else if (create == 0 && rc == VAULT_OK && !has_config) {
        rc = vlt_fail(VAULT_E_NOT_FOUND, "%s: not a vault (no config object)",
                      s->display);
    }
done:
    if (cred) {
        sodium_memzero(cred, sizeof *cred);
        free(cred);
    }
    if (rc != VAULT_OK) {
        if (s)
            s3_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return VAULT_OK;
}
