/*
 * backend_rest.c - a vault on a server speaking restic's REST protocol
 * v2 (restic's rest-server, `rclone serve restic`):
 *
 *   POST   /?create=true          make the folders (init)
 *   HEAD   /<kind>/<name>         stat (Content-Length)
 *   GET    /<kind>/<name>         load, ranged with Range: bytes=a-b
 *   POST   /<kind>/<name>         save (the body is the object)
 *   DELETE /<kind>/<name>         remove
 *   GET    /<kind>/               list, with Accept:
 *                                 application/vnd.x.restic.rest.v2:
 *                                 [{"name": "...", "size": N}, ...]
 *
 * with the config at /config and packs at /data/<name> (the server shards
 * them into data/<ab>/ itself).  Requests go through backend/http.h, which
 * retries what is transient.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "backend/backend.h"
#include "backend/http.h"
#include "backend/rest.h"
#include "common/array.h"
#include "common/internal.h"
#include "common/retry.h"

#define REST_DEFAULT_CONNECTIONS 5
/* A listing longer than this is refused: about 5 million entries, more
 * than any vault this client can hold an index for. */
#define REST_LISTING_MAX ((size_t)512 << 20)
/* HEAD, DELETE and POST answers carry at most a short message. */
#define REST_SMALL_BODY ((size_t)64 << 10)

typedef struct rest_backend {
    backend base;
    http_client *http;
    char *display;
    rest_close_fn on_close;
    void *close_ctx;
    int has_password; /* for messages */
    /* The objects this process is saving now (their labels): a second
     * save of one waits for the first, so that of two threads exactly
     * one saves and the other sees VAULT_E_EXISTS.  Held only to look at
     * the list, never across a request. */
    pthread_mutex_t saving_lock;
    pthread_cond_t saving_done;
    char (*saving)[BACKEND_LABEL_MAX];
    size_t n_saving, saving_cap;
    int saving_ready;
    /* Objects counted as stored after a broken upload, looked at again
     * before anything that names them is saved (recheck_uncertain):
     * their bytes are kept until then.  Guarded by saving_lock. */
    struct uncertain *uncertain;
    size_t n_uncertain, cap_uncertain;
    /* Held through a whole recheck_uncertain: a second saver of an index
     * segment or snapshot must wait until every object taken off the list
     * is settled, not find the list empty while one is being resent. */
    pthread_mutex_t recheck_lock;
} rest_backend;

/* An object a broken upload may yet lose (see SETTLED_FULL_SECONDS). */
typedef struct uncertain {
    backend_kind kind;
    char name[65];
    uint8_t *data;
    size_t len;
    double since; /* when it was counted as stored */
} uncertain;

static rest_backend *rest_of(backend *be)
{
    return (rest_backend *)be;
}

/* The request path of an object ("config", "keys/<name>", "data/<name>")
 * into buf; kind and name already checked. */
static void object_path(backend_kind kind, const char *name,
                        char buf[BACKEND_LABEL_MAX])
{
    if (kind == BACKEND_CONFIG)
        snprintf(buf, BACKEND_LABEL_MAX, "config");
    else
        snprintf(buf, BACKEND_LABEL_MAX, "%s/%s", vlt_backend_kind_name(kind),
                 name);
}

/* Sends a request; VAULT_OK with *status set for any final answer. */
static vault_error rest_send(rest_backend *r, http_request *req,
                        http_response *resp)
{
    /* http.c's errors name the location (its display) already. */
    return vlt_http_send(r->http, req, resp);
}

/* A non-2xx answer as an error naming the location. */
static vault_error status_error(rest_backend *r, const http_request *req,
                                const http_response *resp)
{
    vault_error rc = vlt_http_status_error(req, resp);
    if (resp->status == 401)
        return vlt_fail(rc, "%s: %s %s: 401 Unauthorized: the server "
                        "refuses %s", r->display, req->method, req->label,
                        r->has_password ? "this user and password"
                                        : "access without a user and "
                                          "password");
    return vlt_fail_context(rc, "%s", r->display);
}

static int ok_status(long status)
{
    return status >= 200 && status < 300;
}

/* A request about one object without a body (HEAD, DELETE) and its
 * answer, which the caller frees (vlt_http_response_free). */
typedef struct object_call {
    char path[BACKEND_LABEL_MAX], label[BACKEND_LABEL_MAX];
    http_request req;
    http_response resp;
} object_call;

/* Checks kind and name and sends method for the object; VAULT_OK with
 * c->resp set for any final answer. */
static vault_error object_request(backend *be, const char *method,
                                  backend_kind kind, const char *name,
                                  object_call *c)
{
    memset(c, 0, sizeof *c);
    vault_error rc = vlt_backend_check(kind, name);
    if (rc != VAULT_OK)
        return rc;
    object_path(kind, name, c->path);
    vlt_backend_label(kind, name, c->label);
    c->req = (http_request){.method = method, .path = c->path,
                            .max_body = REST_SMALL_BODY, .label = c->label};
    return rest_send(rest_of(be), &c->req, &c->resp);
}

static vault_error rest_stat(backend *be, backend_kind kind, const char *name,
                             uint64_t *size)
{
    *size = 0;
    rest_backend *r = rest_of(be);
    object_call c;
    vault_error rc = object_request(be, "HEAD", kind, name, &c);
    if (rc != VAULT_OK)
        return rc;
    if (!ok_status(c.resp.status))
        rc = status_error(r, &c.req, &c.resp);
    else if (c.resp.content_length < 0)
        rc = vlt_fail(VAULT_E_IO, "%s: HEAD %s: the answer has no "
                      "Content-Length", r->display, c.label);
    else
        *size = (uint64_t)c.resp.content_length;
    vlt_http_response_free(&c.resp);
    return rc;
}

/* A load that failed as too long or too short, or a range the server
 * could not satisfy (servers differ: 416, or the whole object): the
 * object's size says whether the range is past its end or over max_len,
 * in the words of vlt_backend_check_range.  Else the error (was) stands
 * as it was. */
static vault_error explain_range(backend *be, backend_kind kind,
                                 const char *name, uint64_t offset,
                                 size_t len, size_t max_len, vault_error was)
{
    char detail[512];
    snprintf(detail, sizeof detail, "%s", vault_last_error());
    char label[BACKEND_LABEL_MAX];
    vlt_backend_label(kind, name, label);
    uint64_t size;
    size_t n;
    if (rest_stat(be, kind, name, &size) == VAULT_OK &&
        vlt_backend_check_range(label, size, offset, len, max_len, &n) !=
            VAULT_OK)
        return vlt_fail_context(VAULT_E_CORRUPT, "%s", rest_of(be)->display);
    return vlt_fail(was, "%s", detail);
}

static vault_error rest_load(backend *be, backend_kind kind, const char *name,
                             uint64_t offset, size_t len, size_t max_len,
                             uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    vault_error rc = vlt_backend_check(kind, name);
    if (rc != VAULT_OK)
        return rc;
    rest_backend *r = rest_of(be);
    char path[BACKEND_LABEL_MAX], label[BACKEND_LABEL_MAX];
    object_path(kind, name, path);
    vlt_backend_label(kind, name, label);
    if (len > max_len)
        return vlt_fail(VAULT_E_CORRUPT,
                        "%s %s: %zu bytes to load, more than the limit of "
                        "%zu",
                        r->display, label, len, max_len);
    if (len == 0 && offset > 0) {
        /* "To the end" from an offset: the size tells how much that is
         * (http.h ranges have a length). */
        uint64_t size;
        rc = rest_stat(be, kind, name, &size);
        size_t n;
        if (rc == VAULT_OK)
            rc = vlt_backend_check_range(label, size, offset, 0, max_len, &n);
        if (rc != VAULT_OK)
            return rc;
        if (n == 0) {
            *out = malloc(1);
            return *out ? VAULT_OK : vlt_fail(VAULT_E_NOMEM, "out of memory");
        }
        len = n;
    }
    http_request req = {.method = "GET", .path = path, .range_offset = offset,
                        .range_len = len, .max_body = len ? len : max_len,
                        .label = label};
    http_response resp;
    rc = rest_send(r, &req, &resp);
    if (rc == VAULT_OK && !ok_status(resp.status)) {
        rc = status_error(r, &req, &resp);
        vlt_http_response_free(&resp);
    }
    /* Too long, or too short: rclone 1.60 answers a range that ends past
     * the object with the range's length as Content-Length and then the
     * shorter body, which curl (and so http.c) takes for a dropped
     * connection. */
    if (rc == VAULT_E_CORRUPT ||
        (len && (rc == VAULT_E_NETWORK || rc == VAULT_E_TIMEOUT ||
                 rc == VAULT_E_IO /* rclone: 400 for a range it cannot
                                     serve */)))
        return explain_range(be, kind, name, offset, len, max_len, rc);
    if (rc != VAULT_OK)
        return rc;
    if (len && resp.status != 206 && !(offset == 0 && resp.len == len)) {
        vlt_http_response_free(&resp);
        return vlt_fail(VAULT_E_IO,
                        "%s %s: the server ignored the byte range asked "
                        "for (answer %ld)",
                        r->display, label, resp.status);
    }
    if (len && resp.len != len) {
        /* A short answer: the object ends before the range does. */
        size_t n;
        rc = vlt_backend_check_range(label, offset + resp.len, offset, len,
                                     max_len, &n);
        vlt_http_response_free(&resp);
        if (rc == VAULT_OK)
            rc = vlt_fail(VAULT_E_CORRUPT, "%s: answer of %zu bytes for a "
                          "range of %zu", label, resp.len, len);
        return vlt_fail_context(rc, "%s", r->display);
    }
    *out = resp.body;
    *out_len = resp.len;
    return VAULT_OK;
}

/* How long a shorter object under a name being saved keeps its size
 * before it counts as the partial upload of a server that died (rclone
 * killed while writing in place) and is replaced.  A server whose
 * handler is merely slow to see that its upload broke (the network was
 * down) is given longer than a TCP keepalive round to notice. */
#define STALE_PARTIAL_SECONDS 20.0
/* A complete object seen after a broken upload counts once it has stayed
 * so this long: a server that writes in place may have the whole body on
 * disk and still fail that upload's last step and remove it (seen under
 * load with rclone); a second look after the handler has had time to
 * finish tells. */
#define SETTLED_FULL_SECONDS 2.0

typedef enum settled { SETTLED_ABSENT, SETTLED_STORED } settled;

/* After a send of the object that failed once it may have reached the
 * server: waits until the server's handler of that send has ended, as
 * seen from outside.  The object is absent (the send never got far, or
 * its handler removed the failed upload's object), or it holds all len
 * bytes (the send completed and only its answer was lost).  Anything else
 * is an upload still being received: waited for, until it has kept its
 * size for STALE_PARTIAL_SECONDS (then absent: it is replaced) or the
 * retry budget is spent. */
static vault_error await_settled(backend *be, backend_kind kind,
                                 const char *name, const char *label,
                                 size_t len, retry_state *rs, settled *out)
{
    rest_backend *r = rest_of(be);
    uint64_t last_size = UINT64_MAX;
    double last_change = vlt_monotonic_seconds();
    for (;;) {
        uint64_t size;
        vault_error rc = rest_stat(be, kind, name, &size);
        if (rc == VAULT_E_NOT_FOUND) {
            *out = SETTLED_ABSENT;
            return VAULT_OK;
        }
        if (rc != VAULT_OK)
            return rc;
        double now = vlt_monotonic_seconds();
        if (size == len && last_size == len &&
            now - last_change >= SETTLED_FULL_SECONDS) {
            *out = SETTLED_STORED;
            return VAULT_OK;
        }
        if (size == len && last_size == len) {
            vlt_sleep_seconds(SETTLED_FULL_SECONDS - (now - last_change));
            continue; /* look again once it has stayed */
        }
        if (size != last_size) {
            last_size = size;
            last_change = now;
        } else if (now - last_change >= STALE_PARTIAL_SECONDS) {
            *out = SETTLED_ABSENT;
            return VAULT_OK;
        }
        if (!vlt_retry_wait(rs, 0))
            return vlt_fail(VAULT_E_TIMEOUT,
                            "%s: %s: the server still holds %" PRIu64
                            " of its %zu bytes from a broken upload",
                            r->display, label, size, len);
    }
}

/* Before an object that may name others is saved (an index segment names
 * packs, a snapshot trees), every object counted as stored after a
 * broken upload is looked at again, at least RECHECK_SECONDS after: the
 * handler of the broken send may have removed it after all (rclone under
 * load did, more than SETTLED_FULL_SECONDS late).  One that is gone or
 * short is sent again, from the bytes kept.  So the vault never names an
 * object a broken upload lost. */
#define RECHECK_SECONDS 5.0

static vault_error send_settled(backend *be, backend_kind kind,
                                const char *name, const uint8_t *data,
                                size_t len);

static void uncertain_free(uncertain *u)
{
    free(u->data);
    u->data = NULL;
}

/* Takes the oldest uncertain object off the list into *out; 0: none. */
static int uncertain_take(rest_backend *r, uncertain *out)
{
    pthread_mutex_lock(&r->saving_lock);
    int have = r->n_uncertain > 0;
    if (have) {
        *out = r->uncertain[0];
        memmove(r->uncertain, r->uncertain + 1,
                --r->n_uncertain * sizeof *r->uncertain);
    }
    pthread_mutex_unlock(&r->saving_lock);
    return have;
}

/* Puts u back at the head of the list, unsettled (its check failed):
 * the next save that names objects looks at it again. */
static void uncertain_return(rest_backend *r, uncertain *u)
{
    pthread_mutex_lock(&r->saving_lock);
    if (VLT_ARRAY_GROW(&r->uncertain, &r->cap_uncertain, r->n_uncertain + 1) ==
        0) {
        memmove(r->uncertain + 1, r->uncertain,
                r->n_uncertain++ * sizeof *r->uncertain);
        r->uncertain[0] = *u;
        u->data = NULL;
    }
    pthread_mutex_unlock(&r->saving_lock);
    uncertain_free(u);
}

static vault_error recheck_pass(backend *be);

static vault_error recheck_uncertain(backend *be)
{
    rest_backend *r = rest_of(be);
    pthread_mutex_lock(&r->recheck_lock);
    vault_error rc = recheck_pass(be);
    pthread_mutex_unlock(&r->recheck_lock);
    return rc;
}

/* recheck_uncertain's work, under recheck_lock. */
static vault_error recheck_pass(backend *be)
{
    rest_backend *r = rest_of(be);
    uncertain u;
    vault_error rc = VAULT_OK;
    while (rc == VAULT_OK && uncertain_take(r, &u)) {
        double wait = u.since + RECHECK_SECONDS - vlt_monotonic_seconds();
        if (wait > 0)
            vlt_sleep_seconds(wait);
        /* Loaded, not asked its size: rclone answers HEAD from a cache
         * of what it listed, and went on answering 200 with the full
         * size for an object its failed upload had removed. */
        uint8_t *stored = NULL;
        size_t stored_len = 0;
        rc = rest_load(be, u.kind, u.name, 0, 0, u.len, &stored,
                       &stored_len);
        int same = rc == VAULT_OK && stored_len == u.len &&
                   memcmp(stored, u.data, u.len) == 0;
        free(stored);
        if (same) {
            uncertain_free(&u);
            continue;
        }
        if (rc != VAULT_OK && rc != VAULT_E_NOT_FOUND &&
            rc != VAULT_E_CORRUPT) { /* corrupt: too long */
            uncertain_return(r, &u);
            break;
        }
        char label[BACKEND_LABEL_MAX];
        vlt_backend_label(u.kind, u.name, label);
        vlt_warn("%s: %s: the broken upload's object is gone after all; "
                 "sending it again",
                 r->display, label);
        if (rc != VAULT_E_NOT_FOUND) /* other bytes: let its handler end */
            vlt_sleep_seconds(RECHECK_SECONDS);
        /* sent again, replacing what is there (and, if that breaks too,
         * listed again and looked at in its turn) */
        rc = send_settled(be, u.kind, u.name, u.data, u.len);
        if (rc != VAULT_OK)
            uncertain_return(r, &u);
        uncertain_free(&u);
    }
    return rc;
}

/* Whether the config stored is data (the config has no content name, so
 * its size alone does not tell). */
static vault_error config_is(backend *be, const uint8_t *data, size_t len)
{
    uint8_t *stored;
    size_t stored_len;
    vault_error rc = rest_load(be, BACKEND_CONFIG, "", 0, 0, len, &stored,
                               &stored_len);
    if (rc != VAULT_OK)
        return rc;
    int same = stored_len == len && memcmp(stored, data, len) == 0;
    free(stored);
    return same ? VAULT_OK
                : vlt_fail(VAULT_E_EXISTS, "%s: config: another client "
                           "saved a different one", rest_of(be)->display);
}

/* Keeps object name (data, len bytes), stored after a broken upload, to
 * be looked at again before anything names it (recheck_uncertain). */
static vault_error uncertain_add(rest_backend *r, backend_kind kind,
                                 const char *name, const uint8_t *data,
                                 size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    if (len)
        memcpy(copy, data, len);
    uncertain u = {.kind = kind, .data = copy, .len = len,
                   .since = vlt_monotonic_seconds()};
    snprintf(u.name, sizeof u.name, "%s", name);
    pthread_mutex_lock(&r->saving_lock);
    int failed = VLT_ARRAY_GROW(&r->uncertain, &r->cap_uncertain,
                                r->n_uncertain + 1);
    if (!failed)
        r->uncertain[r->n_uncertain++] = u;
    pthread_mutex_unlock(&r->saving_lock);
    if (failed) {
        free(copy);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    return VAULT_OK;
}

/* Save, once this process saves the object nowhere else (rest_save). */
static vault_error save_claimed(backend *be, int fresh, backend_kind kind,
                                const char *name, const uint8_t *data,
                                size_t len)
{
    /* The protocol has no "create only": a POST replaces.  Asking first
     * keeps save's promise never to replace (two clients saving the same
     * name at once may both pass, which for a content-addressed name
     * writes the same bytes twice).  A fresh object (save_new: its bytes
     * hold a nonce just drawn) cannot be there to replace, so the HEAD,
     * a round trip before every pack, index segment, snapshot and add
     * marker, is left out; what a replace could lose (restic#3834, a
     * failed upload's object removed) is nothing for a name that did not
     * exist. */
    if (fresh)
        return send_settled(be, kind, name, data, len);
    uint64_t size;
    vault_error rc = rest_stat(be, kind, name, &size);
    if (rc == VAULT_OK) {
        char label[BACKEND_LABEL_MAX];
        vlt_backend_label(kind, name, label);
        return vlt_fail(VAULT_E_EXISTS, "%s %s: already exists",
                        rest_of(be)->display, label);
    }
    if (rc != VAULT_E_NOT_FOUND)
        return rc;
    return send_settled(be, kind, name, data, len);
}

/* The sends of a save, until one is known to have stored the object. */
static vault_error send_settled(backend *be, backend_kind kind,
                                const char *name, const uint8_t *data,
                                size_t len)
{
    vault_error rc;
    rest_backend *r = rest_of(be);
    char path[BACKEND_LABEL_MAX], label[BACKEND_LABEL_MAX];
    object_path(kind, name, path);
    vlt_backend_label(kind, name, label);
    uint64_t size;
    /* A server may write in place and remove the object when an upload
     * of it fails (rclone's local, sftp and ftp remotes).  Sent again
     * while the failed send's handler still runs, the object is stored
     * and then removed under our feet (restic#3834); so a send that may
     * have reached the server is never repeated blindly (single_send):
     * its outcome is awaited first. */
    retry_policy polling = {.first_delay = 0.1, .max_delay = 2,
                            .total = vlt_http_retry_seconds(r->http)};
    retry_state rs;
    vlt_retry_start(&rs, &polling);
    static const uint8_t empty[1];
    int broken = 0; /* an earlier send broke and was found absent */
    for (;;) {
        http_request req = {.method = "POST", .path = path,
                            .body = data ? data : empty, .body_len = len,
                            .max_body = REST_SMALL_BODY, .label = label,
                            .single_send = 1};
        http_response resp;
        rc = rest_send(r, &req, &resp);
        int maybe_sent = resp.maybe_sent;
        if (rc == VAULT_OK && !ok_status(resp.status))
            rc = status_error(r, &req, &resp);
        long status = resp.status;
        vlt_http_response_free(&resp);
        if (rc == VAULT_OK && broken && kind != BACKEND_CONFIG)
            return uncertain_add(r, kind, name, data, len);
        if (rc == VAULT_OK)
            return VAULT_OK;
        char detail[512];
        snprintf(detail, sizeof detail, "%s", vault_last_error());
        if (!maybe_sent) {
            /* Retries of 5xx answers ran out: the object may be stored
             * all the same.  Names are content hashes, so the object
             * there with the same size is this one. */
            if (kind != BACKEND_CONFIG &&
                (rc == VAULT_E_NETWORK || rc == VAULT_E_TIMEOUT ||
                 rc == VAULT_E_BUSY || (rc == VAULT_E_IO && status >= 500)) &&
                rest_stat(be, kind, name, &size) == VAULT_OK && size == len)
                return uncertain_add(r, kind, name, data, len); /* a size
                          may be what rclone listed before: loaded later */
            return vlt_fail(rc, "%s", detail);
        }
        vlt_warn("%s; waiting for the server to finish with it before "
                 "sending it again", detail);
        settled state;
        vault_error wait_rc =
            await_settled(be, kind, name, label, len, &rs, &state);
        if (wait_rc != VAULT_OK) {
            char why[512];
            snprintf(why, sizeof why, "%s", vault_last_error());
            return vlt_fail(wait_rc, "%s (after: %s)", why, detail);
        }
        if (state == SETTLED_STORED && kind == BACKEND_CONFIG)
            return config_is(be, data, len);
        if (state == SETTLED_STORED)
            return uncertain_add(r, kind, name, data, len);
        /* Absent: sent again.  Absent may only mean that the broken
         * send's handler has not started writing yet (its request still
         * on its way, or buffered by the server): it may then truncate
         * and remove what the next send stores.  Whatever send succeeds
         * from here is looked at again, as one seen complete is. */
        broken = 1;
        if (!vlt_retry_wait(&rs, 0))
            return vlt_fail(rc, "%s (retries spent)", detail);
    }
}

/* Claims label for this thread's save, waiting while another thread
 * saves it; non-zero when out of memory. */
static int claim(rest_backend *r, const char *label)
{
    pthread_mutex_lock(&r->saving_lock);
    for (;;) {
        size_t i = 0;
        while (i < r->n_saving && strcmp(r->saving[i], label) != 0)
            i++;
        if (i == r->n_saving)
            break;
        pthread_cond_wait(&r->saving_done, &r->saving_lock);
    }
    int failed = VLT_ARRAY_GROW(&r->saving, &r->saving_cap, r->n_saving + 1);
    if (!failed)
        snprintf(r->saving[r->n_saving++], BACKEND_LABEL_MAX, "%s", label);
    pthread_mutex_unlock(&r->saving_lock);
    return failed;
}

static void release(rest_backend *r, const char *label)
{
    pthread_mutex_lock(&r->saving_lock);
    for (size_t i = 0; i < r->n_saving; i++)
        if (strcmp(r->saving[i], label) == 0) {
            memcpy(r->saving[i], r->saving[--r->n_saving], BACKEND_LABEL_MAX);
            break;
        }
    pthread_cond_broadcast(&r->saving_done);
    pthread_mutex_unlock(&r->saving_lock);
}

static vault_error save_as(backend *be, int fresh, backend_kind kind,
                           const char *name, const uint8_t *data, size_t len)
{
    vault_error rc = vlt_backend_check(kind, name);
    if (rc != VAULT_OK)
        return rc;
    rest_backend *r = rest_of(be);
    /* an object that names others comes after them for sure */
    if (kind == BACKEND_INDEX || kind == BACKEND_SNAPSHOTS) {
        rc = recheck_uncertain(be);
        if (rc != VAULT_OK)
            return rc;
    }
    char label[BACKEND_LABEL_MAX];
    vlt_backend_label(kind, name, label);
    if (claim(r, label))
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    rc = save_claimed(be, fresh, kind, name, data, len);
    release(r, label);
    return rc;
}

static vault_error rest_save(backend *be, backend_kind kind, const char *name,
                             const uint8_t *data, size_t len)
{
    return save_as(be, 0, kind, name, data, len);
}

static vault_error rest_save_new(backend *be, backend_kind kind,
                                 const char *name, const uint8_t *data,
                                 size_t len)
{
    /* the config has a fixed name: it is never new in this sense */
    return save_as(be, kind != BACKEND_CONFIG, kind, name, data, len);
}

/* A DELETE; a 404 counts as done when absent_ok (check_deletable's
 * probe). */
static vault_error delete_object(backend *be, backend_kind kind,
                                 const char *name, int absent_ok)
{
    rest_backend *r = rest_of(be);
    object_call c;
    vault_error rc = object_request(be, "DELETE", kind, name, &c);
    if (rc != VAULT_OK)
        return rc;
    if (c.resp.status == 403 && absent_ok) /* the probe: no object named */
        rc = vlt_fail(VAULT_E_PERMISSION,
                      "%s: the server refuses deletes (append-only)",
                      r->display);
    else if (c.resp.status == 403)
        rc = vlt_fail(VAULT_E_PERMISSION,
                      "%s: the server refuses deletes (append-only): "
                      "cannot remove %s",
                      r->display, c.label);
    else if (!ok_status(c.resp.status) &&
             !(absent_ok && c.resp.status == 404))
        rc = status_error(r, &c.req, &c.resp);
    vlt_http_response_free(&c.resp);
    return rc;
}

static vault_error rest_remove(backend *be, backend_kind kind,
                               const char *name)
{
    return delete_object(be, kind, name, 0);
}

/* Listing: a small strict JSON reader for exactly the v2 answer.  A
 * hostile server controls the text; it is bounded (REST_LISTING_MAX) and
 * read in one pass without recursion. */
typedef struct json_in {
    const uint8_t *p, *end;
} json_in;

static void skip_ws(json_in *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' ||
                             *j->p == '\r'))
        j->p++;
}

static int take(json_in *j, char c)
{
    skip_ws(j);
    if (j->p < j->end && *j->p == c) {
        j->p++;
        return 1;
    }
    return 0;
}

/* A JSON string into out (NUL-terminated, up to size - 1 bytes); *fits is
 * 0 when it was longer or held an escape (then it is not an object name,
 * nor a key this reader knows).  0 on success, -1 if malformed. */
static int read_string(json_in *j, char *out, size_t size, int *fits)
{
    *fits = 1;
    size_t n = 0;
    if (!take(j, '"'))
        return -1;
    while (j->p < j->end && *j->p != '"') {
        uint8_t c = *j->p++;
        if (c < 0x20)
            return -1;
        if (c == '\\') {
            *fits = 0;
            if (j->p >= j->end)
                return -1;
            c = *j->p++;
            if (c == 'u') {
                for (int i = 0; i < 4; i++, j->p++)
                    if (j->p >= j->end || !strchr("0123456789abcdefABCDEF",
                                                  *j->p) || *j->p == 0)
                        return -1;
            } else if (!strchr("\"\\/bfnrt", c) || c == 0) {
                return -1;
            }
            continue;
        }
        if (n + 1 < size)
            out[n++] = (char)c;
        else
            *fits = 0;
    }
    if (j->p >= j->end)
        return -1;
    j->p++;
    out[n] = '\0';
    return 0;
}

/* A non-negative integer of at most 19 digits; 0 or -1 if malformed. */
static int read_size(json_in *j, uint64_t *out)
{
    skip_ws(j);
    uint64_t v = 0;
    int digits = 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9' && digits < 20) {
        v = v * 10 + (uint64_t)(*j->p++ - '0');
        digits++;
    }
    if (digits == 0 || digits > 19 ||
        (j->p < j->end && strchr(".eE-+", *j->p) && *j->p))
        return -1;
    *out = v;
    return 0;
}

vault_error vlt_rest_parse_listing(const char *label, const uint8_t *text,
                                   size_t len, backend_list_fn fn, void *ctx,
                                   int *stopped)
{
    if (stopped)
        *stopped = 0;
    json_in j = {text, text + len};
    const char *why = NULL;
    if (!take(&j, '['))
        why = "not a JSON array";
    int first = 1;
    while (!why && !take(&j, ']')) {
        if (!first && !take(&j, ',')) {
            why = "expected ',' or ']'";
            break;
        }
        first = 0;
        if (!take(&j, '{')) {
            why = "expected an object";
            break;
        }
        char name[VAULT_NAME_HEX + 2] = "";
        int name_ok = 0, have_name = 0, have_size = 0;
        uint64_t size = 0;
        int first_member = 1;
        while (!why && !take(&j, '}')) {
            char key[8];
            int key_fits;
            if ((!first_member && !take(&j, ',')) ||
                read_string(&j, key, sizeof key, &key_fits) != 0 ||
                !take(&j, ':')) {
                why = "malformed object";
                break;
            }
            first_member = 0;
            if (key_fits && strcmp(key, "name") == 0 && !have_name) {
                if (read_string(&j, name, sizeof name, &name_ok) != 0)
                    why = "malformed name";
                name_ok = name_ok && vlt_backend_name_valid(name);
                have_name = 1;
            } else if (key_fits && strcmp(key, "size") == 0 && !have_size) {
                if (read_size(&j, &size) != 0)
                    why = "malformed size";
                have_size = 1;
            } else {
                why = "unexpected member";
            }
        }
        if (!why && (!have_name || !have_size))
            why = "an entry lacks its name or size";
        if (!why && name_ok) {
            int s = fn(ctx, name, size);
            if (s) {
                if (stopped)
                    *stopped = s;
                return VAULT_OK;
            }
        }
    }
    skip_ws(&j);
    if (!why && j.p != j.end)
        why = "text after the array";
    if (why)
        return vlt_fail(VAULT_E_CORRUPT,
                        "%s: the server's listing is malformed (%s at byte "
                        "%zu)",
                        label, why, (size_t)(j.p - text));
    return VAULT_OK;
}

static vault_error rest_list(backend *be, backend_kind kind,
                             backend_list_fn fn, void *ctx, int *stopped)
{
    if (stopped)
        *stopped = 0;
    const char *kname = vlt_backend_kind_name(kind);
    if (!kname)
        return vlt_fail(VAULT_E_INVALID, "backend: unknown object kind %d",
                        (int)kind);
    rest_backend *r = rest_of(be);
    if (kind == BACKEND_CONFIG) {
        uint64_t size;
        vault_error rc = rest_stat(be, kind, "", &size);
        if (rc == VAULT_E_NOT_FOUND)
            return VAULT_OK;
        if (rc != VAULT_OK)
            return rc;
        int s = fn(ctx, "", size);
        if (s && stopped)
            *stopped = s;
        return VAULT_OK;
    }
    char path[32], label[32];
    snprintf(path, sizeof path, "%s/", kname);
    snprintf(label, sizeof label, "%s/", kname);
    static const char *const accept[] = {
        "Accept: application/vnd.x.restic.rest.v2", NULL};
    http_request req = {.method = "GET", .path = path, .headers = accept,
                        .max_body = REST_LISTING_MAX, .label = label};
    http_response resp;
    vault_error rc = rest_send(r, &req, &resp);
    if (rc != VAULT_OK)
        return rc;
    if (resp.status == 404) {
        /* A folder a copy tool dropped lists as empty, as locally. */
        vlt_http_response_free(&resp);
        return VAULT_OK;
    }
    if (!ok_status(resp.status))
        rc = status_error(r, &req, &resp);
    else if (!strstr(resp.content_type, "vnd.x.restic.rest.v2"))
        rc = vlt_fail(VAULT_E_UNSUPPORTED,
                      "%s %s: the server does not speak restic's REST "
                      "protocol v2 (its listing is \"%.60s\")",
                      r->display, label, resp.content_type);
    else
        rc = vlt_rest_parse_listing(label, resp.body, resp.len, fn, ctx,
                                    stopped);
    if (rc == VAULT_E_CORRUPT)
        rc = vlt_fail_context(rc, "%s", r->display);
    vlt_http_response_free(&resp);
    return rc;
}

/* 64 zeros: a snapshot name no vault holds (it would be the SHA-256 of
 * nothing anyone can find). */
static const char probe_name[VAULT_NAME_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

static vault_error rest_check_deletable(backend *be)
{
    /* Deleting what is not there: a server that allows deletes answers
     * 404 (or 200), an append-only one 403. */
    return delete_object(be, BACKEND_SNAPSHOTS, probe_name, 1);
}

static void rest_close(backend *be)
{
    rest_backend *r = rest_of(be);
    vlt_http_client_free(r->http);
    if (r->on_close)
        r->on_close(r->close_ctx);
    if (r->saving_ready) {
        pthread_mutex_destroy(&r->saving_lock);
        pthread_cond_destroy(&r->saving_done);
        pthread_mutex_destroy(&r->recheck_lock);
    }
    free(r->saving);
    for (size_t i = 0; i < r->n_uncertain; i++)
        uncertain_free(&r->uncertain[i]);
    free(r->uncertain);
    free(r->display);
    free(r);
}

static double rest_answer_wait(backend *be)
{
    return vlt_http_answer_wait(rest_of(be)->http);
}

static const backend_ops rest_ops = {
    .save = rest_save,
    .save_new = rest_save_new,
    .load = rest_load,
    .stat = rest_stat,
    .list = rest_list,
    .remove = rest_remove,
    .close = rest_close,
    .check_deletable = rest_check_deletable,
    .answer_wait = rest_answer_wait,
};

/* Makes the folders on create (after making sure no vault is there), or
 * checks that a vault is there (unless the caller does:
 * BACKEND_OPEN_UNCHECKED). */
static vault_error rest_prepare(rest_backend *r, int create)
{
    if (create == BACKEND_OPEN_UNCHECKED)
        return VAULT_OK;
    uint64_t size;
    vault_error rc = rest_stat(&r->base, BACKEND_CONFIG, "", &size);
    if (rc == VAULT_OK && create)
        return vlt_fail(VAULT_E_EXISTS, "%s: already holds a vault (its "
                        "config exists)", r->display);
    if (rc == VAULT_E_NOT_FOUND && !create)
        return vlt_fail(VAULT_E_NOT_FOUND, "%s: not a vault (no config)",
                        r->display);
    if (rc != VAULT_E_NOT_FOUND || !create)
        return rc;
    http_request req = {.method = "POST", .path = "?create=true",
                        .body = (const uint8_t *)"", .body_len = 0,
                        .max_body = REST_SMALL_BODY, .label = "/?create=true"};
    http_response resp;
    rc = rest_send(r, &req, &resp);
    if (rc != VAULT_OK)
        return rc;
    if (!ok_status(resp.status))
        rc = status_error(r, &req, &resp);
    vlt_http_response_free(&resp);
    return rc;
}

vault_error vlt_backend_rest_connect(const rest_target *t,
                                     const vault_storage_options *options,
                                     int create, backend **out)
{
    *out = NULL;
    rest_backend *r = calloc(1, sizeof *r);
    if (!r) {
        if (t->on_close)
            t->on_close(t->close_ctx);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    r->base.ops = &rest_ops;
    r->base.connections = options && options->connections
                              ? options->connections
                              : REST_DEFAULT_CONNECTIONS;
    r->on_close = t->on_close;
    r->close_ctx = t->close_ctx;
    r->has_password = t->password != NULL;
    vault_error rc = VAULT_OK;
    if (pthread_mutex_init(&r->saving_lock, NULL) != 0)
        rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
    else if (pthread_cond_init(&r->saving_done, NULL) != 0)
        pthread_mutex_destroy(&r->saving_lock),
            rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
    else if (pthread_mutex_init(&r->recheck_lock, NULL) != 0)
        pthread_mutex_destroy(&r->saving_lock),
            pthread_cond_destroy(&r->saving_done),
            rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
    else
        r->saving_ready = 1;
    if (rc == VAULT_OK && !(r->display = strdup(t->display)))
        rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
    http_config config = {.base_url = t->base_url,
                          .display = t->display,
                          .username = t->username,
                          .password = t->password,
                          .cacert = options ? options->cacert : NULL,
                          .connections = r->base.connections};
    if (rc == VAULT_OK)
        rc = vlt_http_client_new(&config, &r->http);
    if (rc == VAULT_OK)
        rc = rest_prepare(r, create);
    if (rc != VAULT_OK) {
        rest_close(&r->base);
        return rc;
    }
    *out = &r->base;
    return VAULT_OK;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes the %XX escapes of n bytes of s into a malloc'ed string; NULL
 * when out of memory, for a bad escape, or for an escaped NUL. */
static char *percent_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            out[k++] = s[i];
            continue;
        }
        int hi = -1;
        if (i + 2 < n) {
            hi = hex_digit(s[i + 1]);
            int lo = hex_digit(s[i + 2]);
            hi = hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
        }
        if (hi <= 0) {
            sodium_memzero(out, n + 1);
            free(out);
            return NULL;
        }
        out[k++] = (char)hi;
        i += 2;
    }
    out[k] = '\0';
    return out;
}

static void free_secret(char *s)
{
    if (s) {
        sodium_memzero(s, strlen(s));
        free(s);
    }
}

vault_error vlt_backend_rest_open(const char *url,
                                  const vault_storage_options *options,
                                  int create, backend **out)
{
    *out = NULL;
    char display[1024];
    size_t url_len = strlen(url);
    {
        char full[1024];
        snprintf(full, sizeof full, "rest:%s", url);
        vault_location_redact(full, display, sizeof display);
    }
    int https = strncmp(url, "https://", 8) == 0;
    if (!https && strncmp(url, "http://", 7) != 0)
        return vlt_fail(VAULT_E_INVALID,
                        "%s: a REST location is rest:http://HOST[:PORT]/"
                        "[PATH/] or rest:https://...",
                        display);
    const char *auth = url + (https ? 8 : 7);
    const char *path = auth + strcspn(auth, "/?#");
    if (strpbrk(path, "?#"))
        return vlt_fail(VAULT_E_INVALID,
                        "%s: a REST location has no query or fragment",
                        display);
    const char *at = NULL;
    for (const char *q = auth; q < path; q++)
        if (*q == '@')
            at = q;
    char *user = NULL, *pass = NULL;
    vault_error rc = VAULT_OK;
    if (at) {
        const char *colon = memchr(auth, ':', (size_t)(at - auth));
        const char *user_end = colon ? colon : at;
        user = percent_decode(auth, (size_t)(user_end - auth));
        pass = colon ? percent_decode(colon + 1, (size_t)(at - colon - 1))
                     : NULL;
        if (!user || (colon && !pass))
            rc = vlt_fail(VAULT_E_INVALID,
                          "%s: the user or password is not valid "
                          "percent-encoding",
                          display);
    }
    const char *host = at ? at + 1 : auth;
    if (rc == VAULT_OK && host == path)
        rc = vlt_fail(VAULT_E_INVALID, "%s: no host", display);
    /* The base: scheme, host and path, with one '/' at the end (requests
     * are relative to it). */
    char *base = NULL;
    if (rc == VAULT_OK) {
        size_t scheme_len = (size_t)(auth - url);
        size_t rest_len = url_len - (size_t)(host - url);
        base = malloc(scheme_len + rest_len + 2);
        if (!base) {
            rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
        } else {
            memcpy(base, url, scheme_len);
            memcpy(base + scheme_len, host, rest_len);
            size_t n = scheme_len + rest_len;
            if (base[n - 1] != '/')
                base[n++] = '/';
            base[n] = '\0';
        }
    }
    if (rc == VAULT_OK) {
        rest_target t = {.base_url = base, .display = display,
                         .username = user, .password = pass};
        rc = vlt_backend_rest_connect(&t, options, create, out);
    }
    free(base);
    free_secret(user);
    free_secret(pass);
    return rc;
}
