/*
 * test_http.c - the HTTP client (backend/http.h) against a scripted server
 * on loopback in a thread: transient answers (503, 429 with Retry-After,
 * a connection closed mid-answer, a truncated body) are retried until one
 * succeeds or the budget is spent; permanent ones (404, 403) are not; a
 * body over max_body is refused; a single_send POST is not resent once
 * it may have reached the server; basic auth is sent; the error names the
 * object and the server's answer, never the password.  And the retry loop
 * (common/retry.h) alone.
 */
#define _GNU_SOURCE
#include "test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/http.h"
#include "common/internal.h"
#include "common/retry.h"

/* One scripted answer: raw bytes written after a request is read, then
 * the connection is closed if close_after. */
typedef struct answer {
    const char *raw;
    int close_after;
} answer;

typedef struct server {
    int listen_fd;
    int port;
    const answer *script;
    size_t n_script;
    size_t served;        /* requests answered so far */
    char last_request[4096];
    pthread_t thread;
} server;

/* Reads one request (headers, then Content-Length bytes of body). */
static int read_request(int fd, char *buf, size_t size)
{
    size_t len = 0;
    char *end = NULL;
    while (!(end = strstr(buf, "\r\n\r\n"))) {
        if (len + 1 >= size)
            return -1;
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = 0;
    }
    size_t body = 0;
    const char *cl = strcasestr(buf, "Content-Length:");
    if (cl)
        body = strtoul(cl + 15, NULL, 10);
    size_t have = len - (size_t)(end + 4 - buf);
    char sink[4096];
    while (have < body) {
        ssize_t n = read(fd, sink, sizeof sink);
        if (n <= 0)
            return -1;
        have += (size_t)n;
    }
    return 0;
}

static void *serve(void *arg)
{
    server *s = arg;
    int fd = -1;
    while (s->served < s->n_script) {
        if (fd < 0 && (fd = accept(s->listen_fd, NULL, NULL)) < 0)
            break;
        memset(s->last_request, 0, sizeof s->last_request);
        if (read_request(fd, s->last_request, sizeof s->last_request) != 0) {
            close(fd);
            fd = -1;
            continue;
        }
        const answer *a = &s->script[s->served++];
        ssize_t ignored = write(fd, a->raw, strlen(a->raw));
        (void)ignored;
        if (a->close_after) {
            close(fd);
            fd = -1;
        }
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static void server_start(server *s, const answer *script, size_t n)
{
    memset(s, 0, sizeof *s);
    s->script = script;
    s->n_script = n;
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->listen_fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->listen_fd, 8), 0);
    socklen_t alen = sizeof a;
    getsockname(s->listen_fd, (struct sockaddr *)&a, &alen);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void server_stop(server *s)
{
    shutdown(s->listen_fd, SHUT_RDWR);
    close(s->listen_fd);
    pthread_join(s->thread, NULL);
}

static http_client *client_for(const server *s, double retry_seconds)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", s->port);
    http_config cfg = {.base_url = url,
                       .display = "rest:http://alice:***@test/",
                       .username = "alice",
                       .password = "s3cret-pw",
                       .connections = 2,
                       .retry_seconds = retry_seconds};
    http_client *c = NULL;
    assert_vault_ok(vlt_http_client_new(&cfg, &c));
    return c;
}

#define OK_HELLO                                                              \
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "       \
    "5\r\n\r\nhello"

static void test_retries_until_success(void **state)
{
    (void)state;
    static const answer script[] = {
        {"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 9\r\n\r\nslow down",
         0},
        {"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 0\r\n"
         "Content-Length: 0\r\n\r\n",
         0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhel", 1}, /* cut */
        {"", 1},                                                /* reset */
        {OK_HELLO, 0},
    };
    server s;
    server_start(&s, script, 5);
    http_client *c = client_for(&s, 30);
    http_request req = {.method = "GET", .path = "keys/x", .max_body = 100,
                        .label = "keys/x"};
    http_response resp;
    assert_vault_ok(vlt_http_send(c, &req, &resp));
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.len, 5);
    assert_memory_equal(resp.body, "hello", 5);
    assert_string_equal(resp.content_type, "text/plain");
    assert_int_equal(s.served, 5);
    /* Basic auth went along. */
    assert_non_null(strstr(s.last_request, "Authorization: Basic "));
    vlt_http_response_free(&resp);
    vlt_http_client_free(c);
    server_stop(&s);
}

/* A single_send POST is not sent again once it may have reached the
 * server, not even by libcurl on the kept-alive connection that died
 * under it: the caller learns maybe_sent.  Its error answers are still
 * retried, and a POST without the flag is resent. */
static void test_single_send_not_resent(void **state)
{
    (void)state;
    static const answer script[] = {
        {OK_HELLO, 0},
        {"", 1}, /* the connection dies after the body arrived */
        {"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\n"
         "Content-Length: 0\r\n\r\n",
         0},
        {OK_HELLO, 0},
        {"", 1},
        {OK_HELLO, 0},
    };
    server s;
    server_start(&s, script, 6);
    http_client *c = client_for(&s, 30);
    http_request get = {.method = "GET", .path = "keys/x", .max_body = 100,
                        .label = "keys/x"};
    http_response resp;
    assert_vault_ok(vlt_http_send(c, &get, &resp)); /* a kept-alive connection */
    assert_int_equal(resp.maybe_sent, 0);
    vlt_http_response_free(&resp);

    static const uint8_t body[3000] = {1};
    http_request post = {.method = "POST", .path = "data/ab",
                         .body = body, .body_len = sizeof body,
                         .max_body = 100, .label = "data/ab",
                         .single_send = 1};
    assert_int_equal(vlt_http_send(c, &post, &resp), VAULT_E_NETWORK);
    assert_int_equal(resp.maybe_sent, 1);
    assert_non_null(strstr(vault_last_error(), "POST data/ab"));
    assert_int_equal(s.served, 2);
    vlt_http_response_free(&resp);

    assert_vault_ok(vlt_http_send(c, &post, &resp)); /* 503, then 200 */
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.attempts, 2);
    assert_int_equal(resp.maybe_sent, 0);
    assert_int_equal(s.served, 4);
    vlt_http_response_free(&resp);

    post.single_send = 0;
    assert_vault_ok(vlt_http_send(c, &post, &resp)); /* resent */
    assert_int_equal(resp.status, 200);
    assert_int_equal(s.served, 6);
    vlt_http_response_free(&resp);
    vlt_http_client_free(c);
    server_stop(&s);
}

static void test_permanent_not_retried(void **state)
{
    (void)state;
    static const answer script[] = {
        {"HTTP/1.1 404 Not Found\r\nContent-Length: 7\r\n\r\nmissing", 0},
        {"HTTP/1.1 403 Forbidden\r\nContent-Length: 11\r\n\r\nappend-only", 0},
    };
    server s;
    server_start(&s, script, 2);
    http_client *c = client_for(&s, 30);
    http_request req = {.method = "GET", .path = "data/ab", .max_body = 100,
                        .label = "data/ab"};
    http_response resp;
    assert_vault_ok(vlt_http_send(c, &req, &resp));
    assert_int_equal(resp.status, 404);
    assert_int_equal(vlt_http_status_error(&req, &resp), VAULT_E_NOT_FOUND);
    assert_non_null(strstr(vault_last_error(), "GET data/ab: 404 Not Found"));
    vlt_http_response_free(&resp);
    req.method = "DELETE";
    assert_vault_ok(vlt_http_send(c, &req, &resp));
    assert_int_equal(vlt_http_status_error(&req, &resp), VAULT_E_PERMISSION);
    assert_non_null(strstr(vault_last_error(), "403 Forbidden: append-only"));
    vlt_http_response_free(&resp);
    assert_int_equal(s.served, 2);
    vlt_http_client_free(c);
    server_stop(&s);
}

static void test_gives_up_naming_answer(void **state)
{
    (void)state;
    /* As many answers as the budget could ever let it ask for: the waits
     * are random (full jitter), and with four answers an unlucky run
     * asked a fifth time and waited for it until the request timed out. */
#define BOOM {"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nboom", 0}
    static const answer script[] = {BOOM, BOOM, BOOM, BOOM, BOOM, BOOM,
                                    BOOM, BOOM, BOOM, BOOM, BOOM, BOOM,
                                    BOOM, BOOM, BOOM, BOOM};
#undef BOOM
    server s;
    server_start(&s, script, sizeof script / sizeof *script);
    /* A budget of about two short waits. */
    http_client *c = client_for(&s, 1.2);
    uint8_t body[3] = {1, 2, 3};
    http_request req = {.method = "POST", .path = "index/cd", .body = body,
                        .body_len = 3, .max_body = 100, .label = "index/cd"};
    http_response resp;
    vault_error rc = vlt_http_send(c, &req, &resp);
    assert_int_equal(rc, VAULT_E_NETWORK);
    assert_true(vault_error_is_transient(rc));
    const char *msg = vault_last_error();
    assert_non_null(strstr(msg, "rest:http://alice:***@test/: POST index/cd: "
                                "500 Internal Server Error: boom"));
    assert_non_null(strstr(msg, "gave up after"));
    assert_null(strstr(msg, "s3cret-pw"));
    vlt_http_client_free(c);
    /* Let the server finish its script. */
    http_client *c2 = client_for(&s, 0.01);
    while (s.served < s.n_script &&
           vlt_http_send(c2, &req, &resp) != VAULT_OK)
        ;
    vlt_http_client_free(c2);
    server_stop(&s);
}

static void test_body_over_limit_refused(void **state)
{
    (void)state;
    static const answer script[] = {
        /* An error page longer than the range asked is still an error
         * answer: retried, not "too long". */
        {"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 40\r\n\r\n"
         "0123456789012345678901234567890123456789",
         0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n"
         "0123456789012345678901234567890123456789",
         1},
    };
    server s;
    server_start(&s, script, 2);
    http_client *c = client_for(&s, 5);
    http_request req = {.method = "GET", .path = "snapshots/ef",
                        .max_body = 16, .label = "snapshots/ef"};
    http_response resp;
    assert_int_equal(vlt_http_send(c, &req, &resp), VAULT_E_CORRUPT);
    assert_int_equal(s.served, 2);
    assert_non_null(strstr(vault_last_error(), "snapshots/ef"));
    assert_null(resp.body);
    vlt_http_client_free(c);
    server_stop(&s);
}

static void test_refused_connection_is_transient(void **state)
{
    (void)state;
    /* A port nobody listens on (bound, then closed). */
    server s;
    server_start(&s, NULL, 0);
    server_stop(&s);
    http_client *c = client_for(&s, 0.3);
    http_request req = {.method = "GET", .path = "config", .max_body = 10,
                        .label = "config"};
    http_response resp;
    vault_error rc = vlt_http_send(c, &req, &resp);
    assert_int_equal(rc, VAULT_E_NETWORK);
    assert_non_null(strstr(vault_last_error(), "GET config"));
    vlt_http_client_free(c);
}

static void test_retry_budget(void **state)
{
    (void)state;
    retry_policy p = {.first_delay = 0.01, .max_delay = 0.02, .total = 0.1};
    retry_state r;
    vlt_retry_start(&r, &p);
    unsigned waits = 0;
    while (vlt_retry_wait(&r, 0))
        waits++;
    /* Waits of at most 0.02 s inside 0.1 s: a few, never unbounded. */
    assert_true(waits >= 3);
    assert_int_equal(r.attempts, waits + 1);
    /* A Retry-After longer than the budget ends the loop at once. */
    vlt_retry_start(&r, &p);
    assert_int_equal(vlt_retry_wait(&r, 5), 0);
    assert_int_equal(r.attempts, 1);
}

int main(void)
{
    test_watchdog("test_http", 120);
    if (vault_global_init() != VAULT_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retries_until_success),
        cmocka_unit_test(test_single_send_not_resent),
        cmocka_unit_test(test_permanent_not_retried),
        cmocka_unit_test(test_gives_up_naming_answer),
        cmocka_unit_test(test_body_over_limit_refused),
        cmocka_unit_test(test_refused_connection_is_transient),
        cmocka_unit_test(test_retry_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
