/*
 * http_preconnect.c - connections opened while other work goes on
 * (http_preconnect.h).
 *
 * A new connection costs a round trip (the TCP handshake) before its
 * first request can leave.  libcurl opens one when a request needs it,
 * so the third, fourth and fifth transfers of an add (its first packs)
 * each waited a round trip more, long after the client was made.  Here
 * a thread opens the client's connections as soon as the client exists,
 * all at once, and libcurl is handed one of them (through its
 * open-socket callback, marked as connected through its socket-option
 * callback) instead of making its own.  A request that comes while they
 * are still connecting waits for one: no slower than connecting itself.
 *
 * Only a socket to exactly the address libcurl asks for is handed over
 * (libcurl resolves the host itself), only while young and not closed by
 * the server meanwhile; otherwise libcurl gets a plain new socket, as
 * without this file.  Not used through a proxy (the *_proxy variables:
 * libcurl would connect to the proxy) nor for a Unix socket.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "backend/http_preconnect.h"
#include "common/interrupt.h"
#include "common/retry.h"

/* How long a connection made ahead waits to be used: one whose first
 * request comes later is left to be closed (a server may drop idle
 * connections, and a request on one it dropped would fail). */
#define PRE_MAX_IDLE_SECONDS 10.0
/* How long connecting may take (libcurl's own connect timeout, http.c). */
#define PRE_CONNECT_SECONDS 30.0
#define PRE_MAX 64

enum pre_state { PRE_CONNECTING, PRE_READY, PRE_DONE /* taken or failed */ };

typedef struct pre_socket {
    int fd;
    enum pre_state state;
    double ready_at; /* monotonic seconds it connected */
} pre_socket;

struct http_preconnect {
    pthread_mutex_t lock;
    pthread_cond_t changed; /* a state or `resolved` changed */
    pthread_t thread;
    atomic_int stop;
    int resolved; /* 0 pending, 1 addr set, -1 failed (nothing to hand) */
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char host[256];
    char port[8];
    pre_socket socks[PRE_MAX];
    unsigned n;
    int handed[PRE_MAX]; /* fds handed to libcurl, awaiting sockopt */
    unsigned n_handed;
};

/* host and port of "http[s]://host[:port]/..." ("[v6]" too); 0 if the
 * URL has another form. */
static int parse_url(const char *url, char *host, size_t host_size,
                     char *port, size_t port_size)
{
    const char *p;
    const char *def;
    if (strncasecmp(url, "http://", 7) == 0)
        p = url + 7, def = "80";
    else if (strncasecmp(url, "https://", 8) == 0)
        p = url + 8, def = "443";
    else
        return 0;
    const char *end;
    if (*p == '[') {
        end = strchr(p, ']');
        if (!end)
            return 0;
        if ((size_t)(end - p - 1) >= host_size)
            return 0;
        snprintf(host, host_size, "%.*s", (int)(end - p - 1), p + 1);
        end++;
    } else {
        end = p + strcspn(p, ":/");
        if (end == p || (size_t)(end - p) >= host_size)
            return 0;
        snprintf(host, host_size, "%.*s", (int)(end - p), p);
    }
    if (*end == ':') {
        size_t n = strspn(end + 1, "0123456789");
        if (n == 0 || n >= port_size)
            return 0;
        snprintf(port, port_size, "%.*s", (int)n, end + 1);
    } else if (*end == '/' || *end == 0) {
        snprintf(port, port_size, "%s", def);
    } else {
        return 0;
    }
    return 1;
}

static int proxy_configured(void)
{
    static const char *const vars[] = {"http_proxy", "HTTP_PROXY",
                                       "https_proxy", "HTTPS_PROXY",
                                       "all_proxy", "ALL_PROXY"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return 1;
    }
    return 0;
}

/* Socket i connected: takers may have it. */
static void set_ready(http_preconnect *p, unsigned i)
{
    pthread_mutex_lock(&p->lock);
    p->socks[i].state = PRE_READY;
    p->socks[i].ready_at = vlt_monotonic_seconds();
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
}

/* Socket i failed or is given up: closed, and done. */
static void drop(http_preconnect *p, unsigned i)
{
    pthread_mutex_lock(&p->lock);
    close(p->socks[i].fd);
    p->socks[i].fd = -1;
    p->socks[i].state = PRE_DONE;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
}

static void *pre_main(void *arg)
{
    http_preconnect *p = arg;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(p->host, p->port, &hints, &ai) != 0 || !ai ||
        ai->ai_addrlen > sizeof p->addr) {
        if (ai)
            freeaddrinfo(ai);
        pthread_mutex_lock(&p->lock);
        p->resolved = -1;
        pthread_cond_broadcast(&p->changed);
        pthread_mutex_unlock(&p->lock);
        return NULL;
    }
    /* Every socket starts connecting before any is waited for: all the
     * handshakes take the same round trip. */
    pthread_mutex_lock(&p->lock);
    memcpy(&p->addr, ai->ai_addr, ai->ai_addrlen);
    p->addr_len = ai->ai_addrlen;
    for (unsigned i = 0; i < p->n; i++) {
        int fd = socket(ai->ai_family,
                        SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        p->socks[i].fd = fd;
        p->socks[i].state = PRE_DONE;
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            p->socks[i].state = PRE_READY;
            p->socks[i].ready_at = vlt_monotonic_seconds();
        } else if (errno == EINPROGRESS) {
            p->socks[i].state = PRE_CONNECTING;
        } else {
            close(fd);
            p->socks[i].fd = -1;
        }
    }
    p->resolved = 1;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
    freeaddrinfo(ai);

    /* Only this thread moves a socket out of PRE_CONNECTING, so a
     * socket seen connecting stays so until this thread moves it; the
     * states are read under the lock all the same, as takers move ready
     * ones to PRE_DONE meanwhile. */
    double deadline = vlt_monotonic_seconds() + PRE_CONNECT_SECONDS;
    for (;;) {
        struct pollfd pfd[PRE_MAX];
        unsigned which[PRE_MAX], n = 0;
        pthread_mutex_lock(&p->lock);
        for (unsigned i = 0; i < p->n; i++)
            if (p->socks[i].state == PRE_CONNECTING) {
                pfd[n] = (struct pollfd){.fd = p->socks[i].fd,
                                         .events = POLLOUT};
                which[n++] = i;
            }
        pthread_mutex_unlock(&p->lock);
        if (n == 0)
            break;
        int timed_out = vlt_monotonic_seconds() > deadline;
        if (atomic_load(&p->stop) || timed_out) {
            for (unsigned k = 0; k < n; k++)
                drop(p, which[k]);
            break;
        }
        /* short waits: a client being freed stops it */
        if (poll(pfd, n, 100) < 0 && errno != EINTR)
            break;
        for (unsigned k = 0; k < n; k++) {
            if (!pfd[k].revents)
                continue;
            int err = 0;
            socklen_t len = sizeof err;
            if (getsockopt(pfd[k].fd, SOL_SOCKET, SO_ERROR, &err, &len) ==
                    0 &&
                err == 0)
                set_ready(p, which[k]);
            else
                drop(p, which[k]);
        }
    }
    return NULL;
}

http_preconnect *vlt_http_preconnect_start(const char *base_url, unsigned n)
{
    const char *off = getenv("VAULT_PRECONNECT");
    if ((off && strcmp(off, "0") == 0) || proxy_configured() || n == 0)
        return NULL;
    http_preconnect *p = calloc(1, sizeof *p);
    if (!p)
        return NULL; /* libcurl connects as it would */
    if (!parse_url(base_url, p->host, sizeof p->host, p->port,
                   sizeof p->port)) {
        free(p);
        return NULL;
    }
    p->n = n < PRE_MAX ? n : PRE_MAX;
    for (unsigned i = 0; i < p->n; i++) {
        p->socks[i].fd = -1;
        p->socks[i].state = PRE_DONE;
    }
    atomic_init(&p->stop, 0);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->changed, NULL);
    if (pthread_create(&p->thread, NULL, pre_main, p) != 0) {
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->changed);
        free(p);
        return NULL;
    }
    return p;
}

void vlt_http_preconnect_free(http_preconnect *p)
{
    if (!p)
        return;
    atomic_store(&p->stop, 1);
    pthread_join(p->thread, NULL);
    for (unsigned i = 0; i < p->n; i++)
        if (p->socks[i].fd >= 0)
            close(p->socks[i].fd);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->changed);
    free(p);
}

static int same_address(const struct sockaddr *a, socklen_t a_len,
                        const struct sockaddr_storage *b, socklen_t b_len)
{
    return a_len == b_len && memcmp(a, b, a_len) == 0;
}

/* A connected socket's peer hung up or sent something unasked: not one
 * to send a request on. */
static int closed_by_peer(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN | POLLRDHUP};
    return poll(&pfd, 1, 0) != 0;
}

/* Waits for a change, or 100 ms (to look at interruptions); p->lock
 * held. */
static void wait_a_little(http_preconnect *p)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_nsec += 100 * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&p->changed, &p->lock, &t);
}

int vlt_http_preconnect_take(http_preconnect *p, const struct sockaddr *addr,
                             socklen_t addr_len)
{
    if (!p)
        return -1;
    int fd = -1;
    pthread_mutex_lock(&p->lock);
    while (p->resolved == 0 && !vlt_interrupted())
        wait_a_little(p);
    if (p->resolved == 1 && same_address(addr, addr_len, &p->addr,
                                         p->addr_len)) {
        for (;;) {
            int connecting = 0;
            for (unsigned i = 0; i < p->n && fd < 0; i++) {
                pre_socket *s = &p->socks[i];
                if (s->state == PRE_CONNECTING)
                    connecting = 1;
                if (s->state != PRE_READY)
                    continue;
                s->state = PRE_DONE;
                if (vlt_monotonic_seconds() - s->ready_at >
                        PRE_MAX_IDLE_SECONDS ||
                    closed_by_peer(s->fd)) {
                    close(s->fd);
                    s->fd = -1;
                    continue;
                }
                fd = s->fd;
                s->fd = -1;
            }
            /* An interrupted caller stops waiting: libcurl's own
             * connect then notices the interruption as it always did. */
            if (fd >= 0 || !connecting || vlt_interrupted())
                break;
            wait_a_little(p);
        }
    }
    if (fd >= 0 && p->n_handed < PRE_MAX)
        p->handed[p->n_handed++] = fd;
    pthread_mutex_unlock(&p->lock);
    return fd;
}

int vlt_http_preconnect_was_handed(http_preconnect *p, int fd)
{
    if (!p)
        return 0;
    int found = 0;
    pthread_mutex_lock(&p->lock);
    for (unsigned i = 0; i < p->n_handed; i++)
        if (p->handed[i] == fd) {
            p->handed[i] = p->handed[--p->n_handed];
            found = 1;
            break;
        }
    pthread_mutex_unlock(&p->lock);
    return found;
}
