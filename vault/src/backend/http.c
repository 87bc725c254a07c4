/*
 * http.c - requests to an HTTP(S) object store through libcurl (http.h),
 * opened on the first client (curl_lib.h).
 *
 * A client keeps up to `connections` easy handles.  An easy handle keeps
 * its connection alive between requests, so a handle taken from the idle
 * list usually skips the TCP and TLS handshakes: over a 100 ms link that
 * is most of a small request's cost.  The lock guards only the idle list;
 * requests run without it.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <sodium.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend/curl_lib.h" /* libcurl's calls go through its table */
#include "backend/http.h"
#include "backend/http_preconnect.h"
#include "common/internal.h"
#include "common/interrupt.h"
#include "common/retry.h"

#define HTTP_DEFAULT_CONNECTIONS 5
#define HTTP_MAX_CONNECTIONS 64
#define HTTP_DEFAULT_RETRY_SECONDS 120.0
/* A transfer slower than this for this long is a stall: retried. */
#define HTTP_LOW_SPEED_BYTES 1024L
#define HTTP_LOW_SPEED_SECONDS 30L
#define HTTP_CONNECT_SECONDS 30L
/* How much of an error answer's body is kept (for its message). */
#define HTTP_ERROR_BODY_KEEP 4096
/* How much of an error answer's body a message quotes. */
#define HTTP_QUOTE_MAX 160

struct http_client {
    char *base_url;
    char *display;
    char *username;
    char *password;
    char *aws_sigv4;
    char *cacert;
    unsigned connections;
    double retry_seconds;
    pthread_mutex_t lock;
    pthread_cond_t idle_ready;
    CURL **idle;      /* handles not in use */
    size_t n_idle;
    unsigned created; /* handles made so far, at most connections */
    /* The connections opened ahead for the handles (NULL: none). */
    http_preconnect *pre;
    /* For VAULT_HTTP_STATS (benchmarks): what went over the wire. */
    atomic_uint_fast64_t requests, retries, bytes_up, bytes_down;
    /* The shortest wait for an answer's first byte after the request
     * went out, in microseconds (UINT64_MAX: none yet). */
    atomic_uint_fast64_t answer_wait_us;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init_once(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static char *dup_or_null(const char *s, int *failed)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *failed = 1;
    return d;
}

vault_error vlt_http_init(void)
{
    vault_error rc = vlt_curl_load();
    if (rc != VAULT_OK)
        return rc;
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_result != CURLE_OK)
        return vlt_fail(VAULT_E_INTERNAL, "libcurl failed to initialise: %s",
                        curl_easy_strerror(curl_init_result));
    return VAULT_OK;
}

vault_error vlt_http_client_new(const http_config *config, http_client **out)
{
    *out = NULL;
    if (!config || !config->base_url)
        return vlt_fail(VAULT_E_INVALID, "http: missing base URL");
    http_client *c = calloc(1, sizeof *c);
    if (!c)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    int failed = 0;
    c->base_url = dup_or_null(config->base_url, &failed);
    c->display = dup_or_null(config->display ? config->display
                                             : config->base_url,
                             &failed);
    c->username = dup_or_null(config->username, &failed);
    c->password = dup_or_null(config->password, &failed);
    c->aws_sigv4 = dup_or_null(config->aws_sigv4, &failed);
    c->cacert = dup_or_null(config->cacert, &failed);
    c->connections = config->connections ? config->connections
                                         : HTTP_DEFAULT_CONNECTIONS;
    if (c->connections > HTTP_MAX_CONNECTIONS)
        c->connections = HTTP_MAX_CONNECTIONS;
    c->retry_seconds = config->retry_seconds;
    if (c->retry_seconds <= 0) {
        /* VAULT_RETRY_SECONDS: how long to keep trying a storage that
         * does not answer (tests, and people who would rather fail
         * fast than wait out a server's restart). */
        const char *env = getenv("VAULT_RETRY_SECONDS");
        char *end = NULL;
        double s = env ? strtod(env, &end) : 0;
        c->retry_seconds = env && end != env && !*end && s > 0
                               ? s
                               : HTTP_DEFAULT_RETRY_SECONDS;
    }
    c->idle = calloc(c->connections, sizeof *c->idle);
    if (failed || !c->idle) {
        vlt_http_client_free(c);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    atomic_init(&c->answer_wait_us, UINT64_MAX);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->idle_ready, NULL);
    /* The handshakes happen while libcurl loads, the caller reads its
     * identity and cache and waits on its first answers: started before
     * libcurl (and OpenSSL's configuration) loads, as they need no part
     * of it. */
    if (!config->unix_socket)
        c->pre = vlt_http_preconnect_start(c->base_url, c->connections);
    vault_error rc = vlt_http_init();
    if (rc != VAULT_OK) {
        vlt_http_client_free(c);
        return rc;
    }
    *out = c;
    return VAULT_OK;
}

/* VAULT_HTTP_STATS=FILE appends one line per client: what went over the
 * wire, and the shortest wait for an answer (microseconds, -1: none). */
static void write_stats(const http_client *c)
{
    const char *path = getenv("VAULT_HTTP_STATS");
    if (!path || !path[0])
        return;
    FILE *f = fopen(path, "a");
    if (!f)
        return;
    uint_fast64_t wait = atomic_load(&c->answer_wait_us);
    fprintf(f,
            "requests %llu retries %llu bytes_up %llu bytes_down %llu "
            "answer_wait_us %lld\n",
            (unsigned long long)c->requests, (unsigned long long)c->retries,
            (unsigned long long)c->bytes_up,
            (unsigned long long)c->bytes_down,
            wait == UINT64_MAX ? -1LL : (long long)wait);
    fclose(f);
}

void vlt_http_client_free(http_client *c)
{
    if (!c)
        return;
    vlt_http_preconnect_free(c->pre);
    if (c->idle) {
        write_stats(c);
        for (size_t i = 0; i < c->n_idle; i++)
            curl_easy_cleanup(c->idle[i]);
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->idle_ready);
    }
    free(c->idle);
    free(c->base_url);
    free(c->display);
    free(c->username);
    if (c->password) {
        sodium_memzero(c->password, strlen(c->password));
        free(c->password);
    }
    free(c->aws_sigv4);
    free(c->cacert);
    free(c);
}

double vlt_http_retry_seconds(const http_client *c)
{
    return c->retry_seconds;
}

double vlt_http_answer_wait(http_client *c)
{
    uint_fast64_t us = atomic_load(&c->answer_wait_us);
    return us == UINT64_MAX ? 0 : (double)us / 1e6;
}

/* Keeps the shortest wait for an answer seen: a round trip and the
 * server's time, which the small requests (listings) show best.  Only
 * requests that send no body count: for a POST or PUT libcurl 7.88
 * marks the transfer started when the body starts to go out, not when
 * the answer comes (an add's saves gave waits of 1 us). */
static void note_answer_wait(http_client *c, CURL *h, const char *method)
{
    if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0)
        return;
    curl_off_t sent = 0, first = 0;
    if (curl_easy_getinfo(h, CURLINFO_PRETRANSFER_TIME_T, &sent) !=
            CURLE_OK ||
        curl_easy_getinfo(h, CURLINFO_STARTTRANSFER_TIME_T, &first) !=
            CURLE_OK ||
        first < sent)
        return;
    uint_fast64_t wait = (uint_fast64_t)(first - sent);
    uint_fast64_t seen = atomic_load(&c->answer_wait_us);
    while (wait < seen &&
           !atomic_compare_exchange_weak(&c->answer_wait_us, &seen, wait))
        ;
}

unsigned vlt_http_connections(const http_client *c)
{
    return c->connections;
}

/* An idle handle, or a new one while fewer than connections exist, else
 * waits for one to come back.  NULL only when out of memory. */
static CURL *take_handle(http_client *c)
{
    pthread_mutex_lock(&c->lock);
    CURL *h = NULL;
    for (;;) {
        if (c->n_idle > 0) {
            h = c->idle[--c->n_idle];
            break;
        }
        if (c->created < c->connections) {
            c->created++;
            pthread_mutex_unlock(&c->lock);
            h = curl_easy_init();
            if (!h) {
                pthread_mutex_lock(&c->lock);
                c->created--;
                pthread_cond_signal(&c->idle_ready);
                pthread_mutex_unlock(&c->lock);
            }
            return h;
        }
        pthread_cond_wait(&c->idle_ready, &c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return h;
}

static void give_back(http_client *c, CURL *h)
{
    pthread_mutex_lock(&c->lock);
    c->idle[c->n_idle++] = h;
    pthread_cond_signal(&c->idle_ready);
    pthread_mutex_unlock(&c->lock);
}

/* What one attempt gathers. */
typedef struct transfer {
    uint8_t *body;
    size_t len, cap;
    size_t max_body;
    int too_large;
    long status; /* of the answer being received (its status line) */
    int64_t range_total; /* the object's size from Content-Range, or -1 */
    char content_type[128];
    double retry_after; /* seconds, 0 if the answer gave none */
    /* A single_send request's body, handed to libcurl by on_upload. */
    const uint8_t *upload;
    size_t upload_len, upload_pos;
} transfer;

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
    transfer *t = ctx;
    size_t n = size * nmemb;
    /* max_body bounds what the caller asked for; an error answer (a 503
     * page, S3's XML) is read only for its message, whatever its length
     * and the range asked, so that it is still retried or reported. */
    int error_answer = t->status < 200 || t->status > 299;
    size_t limit = error_answer ? HTTP_ERROR_BODY_KEEP : t->max_body;
    if (n > limit - t->len) {
        if (error_answer) {
            size_t keep = limit - t->len;
            if (keep > 0 && on_body(data, 1, keep, ctx) != keep)
                return 0;
            return n; /* the rest is dropped */
        }
        t->too_large = 1;
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    if (t->len + n > t->cap) {
        size_t cap = t->cap ? t->cap : 16384;
        while (cap < t->len + n)
            cap = cap > limit / 2 ? limit : cap * 2;
        uint8_t *grown = realloc(t->body, cap);
        if (!grown)
            return 0;
        t->body = grown;
        t->cap = cap;
    }
    memcpy(t->body + t->len, data, n);
    t->len += n;
    return n;
}

/* Case-insensitive "name:" at the start of a header line: the value,
 * trimmed, into out. */
static int header_value(const char *line, size_t len, const char *name,
                        char *out, size_t out_size)
{
    size_t n = strlen(name);
    if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
        return 0;
    const char *v = line + n + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && isspace((unsigned char)end[-1]))
        end--;
    size_t vlen = (size_t)(end - v);
    if (vlen >= out_size)
        vlen = out_size - 1;
    memcpy(out, v, vlen);
    out[vlen] = 0;
    return 1;
}

static size_t on_upload(char *buffer, size_t size, size_t nitems, void *ctx)
{
    transfer *t = ctx;
    size_t n = size * nitems;
    if (n > t->upload_len - t->upload_pos)
        n = t->upload_len - t->upload_pos;
    if (n > 0)
        memcpy(buffer, t->upload + t->upload_pos, n);
    t->upload_pos += n;
    return n;
}

/* libcurl seeks back to resend a body itself when a kept-alive
 * connection died under the request ("retrying a fresh connect").  A
 * single_send body is read through on_upload so that this can be
 * refused: its earlier send may have reached the server (http.h), and
 * the failure goes to the caller instead. */
static int on_upload_seek(void *ctx, curl_off_t offset, int origin)
{
    (void)ctx;
    (void)offset;
    (void)origin;
    return CURL_SEEKFUNC_FAIL;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ctx)
{
    transfer *t = ctx;
    size_t n = size * nmemb;
    char value[128];
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* A new answer (after a 100 Continue, say): forget the last's. */
        t->content_type[0] = 0;
        t->retry_after = 0;
        t->range_total = -1;
        const char *sp = memchr(data, ' ', n);
        t->status = sp && (size_t)(sp - data) + 4 <= n
                        ? strtol(sp + 1, NULL, 10)
                        : 0;
    } else if (header_value(data, n, "Content-Type", value, sizeof value)) {
        snprintf(t->content_type, sizeof t->content_type, "%s", value);
    } else if (header_value(data, n, "Retry-After", value, sizeof value)) {
        char *end;
        double s = strtod(value, &end);
        /* Seconds only; an HTTP date is rare and the backoff covers it. */
        if (end != value && s > 0)
            t->retry_after = s;
    } else if (header_value(data, n, "Content-Range", value, sizeof value)) {
        /* "bytes FIRST-LAST/TOTAL": TOTAL says whether the range asked
         * lies inside the object. */
        const char *slash = strrchr(value, '/');
        char *end;
        long long total = slash ? strtoll(slash + 1, &end, 10) : -1;
        if (slash && end != slash + 1 && *end == 0 && total >= 0)
            t->range_total = total;
    }
    return n;
}

static int transient_status(long status)
{
    return status == 408 || status == 429 || status == 500 || status == 502 ||
           status == 503 || status == 504;
}

/* curl failures that may pass if tried again. */
static int transient_curl(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SEND_FAIL_REWIND:
        return 1;
    default:
        return 0;
    }
}

/* Whether a failure happened before the request could reach the
 * server. */
static int before_sending(CURLcode cc)
{
    return cc == CURLE_COULDNT_RESOLVE_HOST || cc == CURLE_COULDNT_CONNECT ||
           cc == CURLE_SSL_CONNECT_ERROR;
}

static vault_error curl_error_code(CURLcode cc)
{
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
        return VAULT_E_TIMEOUT;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return VAULT_E_INVALID;
    case CURLE_OUT_OF_MEMORY:
        return VAULT_E_NOMEM;
    case CURLE_LOGIN_DENIED:
        return VAULT_E_AUTH;
    default:
        return transient_curl(cc) ? VAULT_E_NETWORK : VAULT_E_IO;
    }
}

/* The first line of an error answer's body, printable, for messages. */
static void quote_body(const uint8_t *body, size_t len, char *out,
                       size_t out_size)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < out_size && o < HTTP_QUOTE_MAX;
         i++) {
        unsigned char ch = body[i];
        if (ch == '\n' || ch == '\r') {
            if (o > 0)
                break;
            continue;
        }
        out[o++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    out[o] = 0;
}

static const char *status_text(long status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 416: return "Range Not Satisfiable";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
    }
}

/* "503 Service Unavailable: <body's first line>" into out. */
static void describe_answer(long status, const uint8_t *body, size_t len,
                            char *out, size_t out_size)
{
    char quote[HTTP_QUOTE_MAX + 1];
    quote_body(body, len, quote, sizeof quote);
    snprintf(out, out_size, "%ld%s%s%s%s", status,
             status_text(status)[0] ? " " : "", status_text(status),
             quote[0] ? ": " : "", quote);
}

/* libcurl's progress callback: a transfer stops within a second or so
 * of an interruption (vault_interrupt), also one that waits on a silent
 * server.  curl calls it in the thread that runs the transfer, so a
 * thread shielded for its cleanup (common/interrupt.h) is not stopped. */
static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
    (void)ctx;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return vlt_interrupted() ? 1 : 0;
}

/* libcurl's socket for a new connection: one opened ahead if there is
 * one to this address (http_preconnect.c), else a new one. */
static curl_socket_t on_open_socket(void *ctx, curlsocktype purpose,
                                    struct curl_sockaddr *a)
{
    http_client *c = ctx;
    if (purpose == CURLSOCKTYPE_IPCXN) {
        int fd = vlt_http_preconnect_take(c->pre, &a->addr, a->addrlen);
        if (fd >= 0)
            return fd;
    }
    int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    return fd < 0 ? CURL_SOCKET_BAD : fd;
}

/* One opened ahead is connected already: libcurl must not connect it. */
static int on_sockopt(void *ctx, curl_socket_t fd, curlsocktype purpose)
{
    http_client *c = ctx;
    (void)purpose;
    return vlt_http_preconnect_was_handed(c->pre, fd)
               ? CURL_SOCKOPT_ALREADY_CONNECTED
               : CURL_SOCKOPT_OK;
}

static vault_error set_options(http_client *c, CURL *h,
                               const http_request *req, transfer *t,
                               struct curl_slist **headers, char *url,
                               size_t url_size)
{
    curl_easy_reset(h);
    int n = snprintf(url, url_size, "%s%s", c->base_url, req->path);
    if (n < 0 || (size_t)n >= url_size)
        return vlt_fail(VAULT_E_INVALID, "%s: URL too long for %s",
                        c->display, req->label ? req->label : req->path);
    CURLcode cc = CURLE_OK;
#define SET(opt, val)                                                         \
    do {                                                                      \
        if (cc == CURLE_OK)                                                   \
            cc = curl_easy_setopt(h, opt, val);                               \
    } while (0)
    SET(CURLOPT_URL, url);
    SET(CURLOPT_NOSIGNAL, 1L);
    /* Only these two; never a redirect (a redirect could carry the
     * credentials to another host, or downgrade to http). */
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    /* With OpenSSL, CAINFO and the default CAPATH (the system's hashed
     * certificates) are both used: the file adds a CA. */
    if (c->cacert)
        SET(CURLOPT_CAINFO, c->cacert);
    SET(CURLOPT_CONNECTTIMEOUT, HTTP_CONNECT_SECONDS);
    SET(CURLOPT_LOW_SPEED_LIMIT, HTTP_LOW_SPEED_BYTES);
    SET(CURLOPT_LOW_SPEED_TIME, HTTP_LOW_SPEED_SECONDS);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    if (c->pre) {
        SET(CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
        SET(CURLOPT_OPENSOCKETDATA, c);
        SET(CURLOPT_SOCKOPTFUNCTION, on_sockopt);
        SET(CURLOPT_SOCKOPTDATA, c);
    }
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, t);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, t);
    SET(CURLOPT_XFERINFOFUNCTION, on_progress);
    SET(CURLOPT_NOPROGRESS, 0L);
    if (c->username) {
        SET(CURLOPT_USERNAME, c->username);
        SET(CURLOPT_PASSWORD, c->password ? c->password : "");
        if (!c->aws_sigv4)
            SET(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    }
    if (c->aws_sigv4)
        SET(CURLOPT_AWS_SIGV4, c->aws_sigv4);
    const char *method = req->method ? req->method : "GET";
    if (strcmp(method, "HEAD") == 0) {
        SET(CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0) {
        /* From memory, with Content-Length (S3 gateways refuse a PUT
         * without one). */
        SET(CURLOPT_POST, 1L);
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        /* libcurl 7.88 signs a payload (SigV4) only from POSTFIELDS;
         * single_send is not for such clients (http.h). */
        if (req->single_send && !c->aws_sigv4) {
            t->upload = req->body;
            t->upload_len = req->body ? req->body_len : 0;
            SET(CURLOPT_READFUNCTION, on_upload);
            SET(CURLOPT_READDATA, t);
            SET(CURLOPT_SEEKFUNCTION, on_upload_seek);
            SET(CURLOPT_SEEKDATA, t);
        } else {
            SET(CURLOPT_POSTFIELDS,
                req->body ? (const char *)req->body : "");
        }
        if (strcmp(method, "PUT") == 0)
            SET(CURLOPT_CUSTOMREQUEST, "PUT");
    } else if (strcmp(method, "GET") != 0) {
        SET(CURLOPT_CUSTOMREQUEST, method);
    }
    char range[64];
    if (req->range_len > 0 && req->range_offset > UINT64_MAX - req->range_len)
        return vlt_fail(VAULT_E_CORRUPT, "%s: %s: the range %llu+%zu lies "
                        "past the end of any object",
                        c->display, req->label ? req->label : req->path,
                        (unsigned long long)req->range_offset, req->range_len);
    if (req->range_len > 0) {
        snprintf(range, sizeof range, "%llu-%llu",
                 (unsigned long long)req->range_offset,
                 (unsigned long long)(req->range_offset + req->range_len - 1));
        SET(CURLOPT_RANGE, range);
    }
    /* curl waits for "100 Continue" before a large body: a round trip
     * for nothing, since a refused upload costs the same either way.  An
     * empty "Expect:" removes the header, but libcurl 7.88's SigV4 signs
     * it as if it were sent (RGW: 403 SignatureDoesNotMatch), so with
     * SigV4 curl's own Expect stays (unsigned) and is not waited for. */
    int failed = 0;
    if (c->aws_sigv4)
        SET(CURLOPT_EXPECT_100_TIMEOUT_MS, 0L);
    else if (!(*headers = curl_slist_append(NULL, "Expect:")))
        failed = 1;
    for (const char *const *hd = req->headers; !failed && hd && *hd; hd++) {
        struct curl_slist *more = curl_slist_append(*headers, *hd);
        if (!more)
            failed = 1;
        else
            *headers = more;
    }
    if (failed) {
        curl_slist_free_all(*headers);
        *headers = NULL;
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    SET(CURLOPT_HTTPHEADER, *headers);
#undef SET
    if (cc != CURLE_OK)
        return vlt_fail(cc == CURLE_OUT_OF_MEMORY ? VAULT_E_NOMEM
                                                  : VAULT_E_INTERNAL,
                        "%s: libcurl refused an option: %s", c->display,
                        curl_easy_strerror(cc));
    return VAULT_OK;
}

/* One attempt.  *transient says whether another may help; detail gets
 * what went wrong for the final message. */
static vault_error attempt(http_client *c, CURL *h, const http_request *req,
                           http_response *resp, int *transient,
                           double *retry_after, char *detail,
                           size_t detail_size)
{
    *transient = 0;
    *retry_after = 0;
    detail[0] = 0;
    transfer t = {.max_body = req->max_body, .range_total = -1};
    char url[4096];
    struct curl_slist *headers = NULL;
    vault_error rc = set_options(c, h, req, &t, &headers, url, sizeof url);
    if (rc != VAULT_OK) {
        curl_slist_free_all(headers);
        return rc;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode cc = curl_easy_perform(h);
    curl_slist_free_all(headers);
    atomic_fetch_add(&c->requests, 1);
    curl_off_t up = 0, down = 0;
    if (curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, &up) == CURLE_OK)
        atomic_fetch_add(&c->bytes_up, (uint_fast64_t)up);
    if (curl_easy_getinfo(h, CURLINFO_SIZE_DOWNLOAD_T, &down) == CURLE_OK)
        atomic_fetch_add(&c->bytes_down, (uint_fast64_t)down);
    if (t.too_large) {
        free(t.body);
        return vlt_fail(VAULT_E_CORRUPT,
                        "%s: %s %s: the answer is longer than the %zu bytes "
                        "expected",
                        c->display, req->method ? req->method : "GET",
                        req->label ? req->label : req->path, req->max_body);
    }
    if (req->range_len > 0 && t.range_total >= 0 &&
        req->range_offset + req->range_len > (uint64_t)t.range_total) {
        /* Asked past the end: the object is shorter than the vault says.
         * Some servers then send a broken answer (rclone 1.60 a range
         * "150-99/100" and a cut stream), which is no network failure to
         * retry. */
        free(t.body);
        return vlt_fail(VAULT_E_CORRUPT,
                        "%s: %s %s: the range %llu+%zu lies past the end of "
                        "the object (%lld bytes)",
                        c->display, req->method ? req->method : "GET",
                        req->label ? req->label : req->path,
                        (unsigned long long)req->range_offset, req->range_len,
                        (long long)t.range_total);
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (cc == CURLE_OK)
        note_answer_wait(c, h, req->method ? req->method : "GET");
    if (cc != CURLE_OK && status >= 400 && status <= 499 &&
        !transient_status(status)) {
        /* A refusal whose body was cut short (rclone 1.60 sends a 400
         * with a Content-Length longer than its page): the status is the
         * answer, and retrying cannot change it. */
        cc = CURLE_OK;
    }
    if (cc == CURLE_ABORTED_BY_CALLBACK) {
        free(t.body);
        return vlt_fail(VAULT_E_INTERRUPTED, "%s: %s %s: interrupted",
                        c->display, req->method ? req->method : "GET",
                        req->label ? req->label : req->path);
    }
    if (cc != CURLE_OK) {
        free(t.body);
        *transient = transient_curl(cc);
        if (*transient && req->single_send && !before_sending(cc)) {
            *transient = 0;
            resp->maybe_sent = 1;
        }
        snprintf(detail, detail_size, "%s",
                 errbuf[0] ? errbuf : curl_easy_strerror(cc));
        return curl_error_code(cc);
    }
    if (transient_status(status)) {
        *transient = 1;
        *retry_after = t.retry_after;
        describe_answer(status, t.body, t.len, detail, detail_size);
        free(t.body);
        return status == 429 || status == 503 ? VAULT_E_BUSY
               : status == 408 || status == 504 ? VAULT_E_TIMEOUT
                                                : VAULT_E_NETWORK;
    }
    if (!t.body && !(t.body = malloc(1)))
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    curl_off_t content_length = -1;
    if (curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
                          &content_length) != CURLE_OK)
        content_length = -1;
    resp->content_length = content_length;
    resp->status = status;
    resp->body = t.body;
    resp->len = t.len;
    snprintf(resp->content_type, sizeof resp->content_type, "%s",
             t.content_type);
    return VAULT_OK;
}

vault_error vlt_http_send(http_client *c, const http_request *req,
                          http_response *resp)
{
    memset(resp, 0, sizeof *resp);
    const char *method = req->method ? req->method : "GET";
    const char *label = req->label ? req->label : req->path;
    CURL *h = take_handle(c);
    if (!h)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    retry_policy policy = {.total = c->retry_seconds};
    retry_state r;
    vlt_retry_start(&r, &policy);
    vault_error rc;
    char detail[256];
    for (;;) {
        int transient;
        double retry_after;
        rc = attempt(c, h, req, resp, &transient, &retry_after, detail,
                     sizeof detail);
        if (rc == VAULT_OK || !transient)
            break;
        vlt_warn("%s: %s %s: %s; retrying", c->display, method, label,
                 detail);
        if (!vlt_retry_wait(&r, retry_after)) {
            if (vlt_interrupted()) {
                rc = vlt_fail(VAULT_E_INTERRUPTED, "%s: %s %s: %s; "
                              "interrupted while waiting to retry",
                              c->display, method, label, detail);
                detail[0] = '\0';
            }
            break;
        }
        atomic_fetch_add(&c->retries, 1);
    }
    give_back(c, h);
    resp->attempts = r.attempts;
    if (rc == VAULT_OK || !detail[0])
        return rc; /* an error without detail already said what it was */
    if (r.attempts > 1)
        return vlt_fail(rc, "%s: %s %s: %s (gave up after %u attempts)",
                        c->display, method, label, detail, r.attempts);
    if (rc == VAULT_E_INVALID)
        return vlt_fail(rc, "%s: %s %s: %s (not retried: check the address "
                        "and, for https, the certificate and --cacert)",
                        c->display, method, label, detail);
    return vlt_fail(rc, "%s: %s %s: %s", c->display, method, label, detail);
}

void vlt_http_response_free(http_response *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

vault_error vlt_http_status_error(const http_request *req,
                                  const http_response *resp)
{
    vault_error code;
    switch (resp->status) {
    case 404: code = VAULT_E_NOT_FOUND; break;
    case 401: code = VAULT_E_AUTH; break;
    case 403: code = VAULT_E_PERMISSION; break;
    case 409:
    case 412: code = VAULT_E_EXISTS; break;
    case 416: code = VAULT_E_CORRUPT; break;
    default: code = VAULT_E_IO; break;
    }
    char answer[256];
    describe_answer(resp->status, resp->body, resp->len, answer,
                    sizeof answer);
    return vlt_fail(code, "%s %s: %s", req->method ? req->method : "GET",
                    req->label ? req->label : req->path, answer);
}
