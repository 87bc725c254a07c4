/*
 * fault_proxy.c - an HTTP/1.1 proxy for the tests that makes a loopback
 * link slow or unreliable (these machines lack tc netem):
 *
 *   fault_proxy --listen 127.0.0.1:0 --to 127.0.0.1:PORT [options]
 *
 * It prints "port N" on stdout once it accepts connections, then forwards
 * every client connection to its own connection to the server, one thread
 * per connection, request by request (keep-alive; bodies framed by
 * Content-Length or chunked, streamed through a fixed buffer, never held).
 *
 * Options:
 *   --latency MS         added one way in each direction (a round trip
 *                        grows by 2*MS; a new connection's first request
 *                        leaves no earlier than one round trip after the
 *                        connection was made, its handshake)
 *   --bandwidth B        bytes per second, per direction, shared by all
 *                        connections
 *   --fault N:KIND       the Nth request (1-based, counted over all
 *                        connections) gets KIND; repeatable
 *   --fault-rate P       each request gets a fault with probability P ...
 *   --seed S             ... drawn from a generator seeded with S ...
 *   --kinds K1,K2,...    ... of a kind picked from these (default: all
 *                        of reset,stall,truncate,429,500,503)
 *   --match TEXT         only requests whose request line contains TEXT
 *                        count for --fault and --fault-rate (e.g. "POST")
 *   --stall-ms MS        how long a stall lasts before the close (30000)
 *   --stats FILE         on SIGTERM or SIGINT (then exits) and SIGUSR1
 *                        (then goes on): writes "requests N", "bytes_up N",
 *                        "bytes_down N", "faults N", one a line
 *   --log FILE           one line per request: time in ms, number,
 *                        request line, status, fault
 *
 * Kinds: reset (forwards the request head and half its body, then resets
 * both connections), reset-late (the same, but the server's connection
 * is reset only --stall-ms later: a server that notices the broken upload
 * late, after the client's retry), reset-slow (a request with a known
 * length: the client's connection is reset once half the body came,
 * before anything reached the server; the head and that half reach it
 * --stall-ms / 2 later and its connection is reset --stall-ms after
 * that: a broken upload whose handler starts after the client's retry
 * ended), stall (forwards the request, holds the answer for
 * --stall-ms, then closes), truncate (forwards the answer's head and half
 * its body, then closes), and a status code NNN (the proxy answers itself
 * with it and a short body, "Retry-After: 1" on 429 and 503, and the
 * request never reaches the server).
 *
 * "Expect: 100-continue" is answered by the proxy (after a round trip) and
 * not forwarded, so that a request's body always follows its head.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX 65536   /* longest request or response head */
#define IO_CHUNK 16384   /* bytes moved per read or write */
#define MAX_SCHEDULE 256 /* --fault options */

enum fault_kind {
    FAULT_NONE = 0,
    FAULT_RESET,
    FAULT_RESET_LATE,
    FAULT_RESET_SLOW,
    FAULT_STALL,
    FAULT_TRUNCATE,
    FAULT_STATUS
};

typedef struct fault {
    enum fault_kind kind;
    int status; /* FAULT_STATUS: the code answered */
} fault;

typedef struct scheduled {
    uint64_t request; /* 1-based number among matching requests */
    fault fault;
} scheduled;

/* The options, set once by main. */
static struct sockaddr_in upstream;
static unsigned latency_ms;
static uint64_t bandwidth; /* bytes per second; 0: unlimited */
static scheduled schedule[MAX_SCHEDULE];
static size_t schedule_n;
static double fault_rate;
static fault random_kinds[16];
static size_t random_kinds_n;
static const char *match_text;
static unsigned stall_ms = 30000;
static const char *stats_path;
static FILE *log_file;

/* Counters and the fault generator, under lock. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t n_requests, n_matching, n_faults, bytes_up, bytes_down;
static uint64_t rng_state;

/* The bandwidth cap: per direction, the time the link is busy until. */
enum direction { UP = 0, DOWN = 1 };
static struct timespec link_free[2];

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fault_proxy: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
    struct timespec t = {(time_t)(ns / 1000000000u),
                         (long)(ns % 1000000000u)};
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

static void sleep_ms(unsigned ms)
{
    sleep_ns((uint64_t)ms * 1000000u);
}

/* xorshift64*: the same seed gives the same faults in the same order. */
static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

/* ---- sending, within the bandwidth cap --------------------------------- */

/* Waits until the link of dir has carried n more bytes: each sender books
 * the next free stretch of the link, so concurrent connections share it. */
static void bandwidth_wait(enum direction dir, size_t n)
{
    if (!bandwidth)
        return;
    uint64_t cost = (uint64_t)n * 1000000000u / bandwidth;
    pthread_mutex_lock(&lock);
    uint64_t now = now_ns();
    uint64_t free_at = (uint64_t)link_free[dir].tv_sec * 1000000000u +
                       (uint64_t)link_free[dir].tv_nsec;
    uint64_t start = free_at > now ? free_at : now;
    uint64_t end = start + cost;
    link_free[dir].tv_sec = (time_t)(end / 1000000000u);
    link_free[dir].tv_nsec = (long)(end % 1000000000u);
    pthread_mutex_unlock(&lock);
    if (end > now)
        sleep_ns(end - now);
}

/* Sends n bytes in direction dir; 0 on success, -1 if the peer is gone. */
static int send_all(int fd, enum direction dir, const char *p, size_t n)
{
    while (n) {
        size_t part = n < IO_CHUNK ? n : IO_CHUNK;
        bandwidth_wait(dir, part);
        size_t off = 0;
        while (off < part) {
            ssize_t w = send(fd, p + off, part - off, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return -1;
            off += (size_t)w;
        }
        pthread_mutex_lock(&lock);
        if (dir == UP)
            bytes_up += part;
        else
            bytes_down += part;
        pthread_mutex_unlock(&lock);
        p += part;
        n -= part;
    }
    return 0;
}

/* ---- buffered reading ---------------------------------------------------- */

typedef struct reader {
    int fd;
    char buf[IO_CHUNK];
    size_t start, end; /* unread bytes are buf[start, end) */
} reader;

/* Reads more into r; 1 if bytes came, 0 at EOF or error. */
static int fill(reader *r)
{
    if (r->start == r->end)
        r->start = r->end = 0;
    if (r->end == sizeof r->buf) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    for (;;) {
        ssize_t got = recv(r->fd, r->buf + r->end, sizeof r->buf - r->end, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return 0;
        r->end += (size_t)got;
        return 1;
    }
}

/* Reads through the next "\n" into line (NUL-terminated, at most cap - 1
 * bytes kept); its length (with the "\n"), 0 at EOF, -1 if too long. */
static long read_line(reader *r, char *line, size_t cap)
{
    size_t n = 0;
    for (;;) {
        if (r->start == r->end && !fill(r))
            return 0;
        char c = r->buf[r->start++];
        if (n + 1 >= cap)
            return -1;
        line[n++] = c;
        if (c == '\n') {
            line[n] = '\0';
            return (long)n;
        }
    }
}

/* Reads a head (lines through the empty one) into head; its length, 0 at
 * EOF before any byte, -1 on EOF inside it or a head over HEAD_MAX. */
static long read_head(reader *r, char *head)
{
    size_t n = 0;
    for (;;) {
        long got = read_line(r, head + n, HEAD_MAX - n);
        if (got <= 0)
            return n == 0 && got == 0 ? 0 : -1;
        /* Tolerates stray empty lines between messages (RFC 9112 2.2). */
        if (n == 0 && (strcmp(head, "\r\n") == 0 || strcmp(head, "\n") == 0))
            continue;
        n += (size_t)got;
        if (strcmp(head + n - (size_t)got, "\r\n") == 0 ||
            strcmp(head + n - (size_t)got, "\n") == 0)
            return (long)n;
    }
}

/* The value of header name in head (after "name:" and spaces) into out;
 * 1 if present. */
static int header_value(const char *head, const char *name, char *out,
                        size_t cap)
{
    size_t len = strlen(name);
    const char *line = strchr(head, '\n');
    while (line && line[1]) {
        line++;
        if (strncasecmp(line, name, len) == 0 && line[len] == ':') {
            const char *v = line + len + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t n = strcspn(v, "\r\n");
            while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
                n--;
            if (n >= cap)
                n = cap - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return 1;
        }
        line = strchr(line, '\n');
    }
    return 0;
}

/* Removes header name's line from head (of length *len). */
static void header_remove(char *head, size_t *len, const char *name)
{
    size_t nlen = strlen(name);
    char *line = strchr(head, '\n');
    while (line && line[1]) {
        line++;
        char *next = strchr(line, '\n');
        if (!next)
            return;
        next++;
        if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            memmove(line, next, strlen(next) + 1);
            *len -= (size_t)(next - line);
            return;
        }
        line = next - 1;
    }
}

/* How a message's body is framed. */
typedef struct framing {
    enum { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_TO_CLOSE } how;
    uint64_t length; /* BODY_LENGTH */
} framing;

/* The framing of a message with head; is_response, with the request's
 * method and the status, for the cases without a body. -1 if malformed. */
static int framing_of(const char *head, int is_response, const char *method,
                      int status, framing *f)
{
    char v[128];
    f->how = BODY_NONE;
    f->length = 0;
    if (is_response && (strcmp(method, "HEAD") == 0 || status / 100 == 1 ||
                        status == 204 || status == 304))
        return 0;
    if (header_value(head, "Transfer-Encoding", v, sizeof v)) {
        if (!strcasestr(v, "chunked"))
            return -1;
        f->how = BODY_CHUNKED;
        return 0;
    }
    if (header_value(head, "Content-Length", v, sizeof v)) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(v, &end, 10);
        if (errno || end == v || *end)
            return -1;
        f->how = n ? BODY_LENGTH : BODY_NONE;
        f->length = n;
        return 0;
    }
    if (is_response)
        f->how = BODY_TO_CLOSE;
    return 0;
}

/* Forwards a body framed by f from r to fd in direction dir.  With limit
 * not UINT64_MAX, stops after that many bytes of the body (for truncate
 * and reset) and returns 1.  0 when all was forwarded, -1 if a side went
 * away or the framing is broken. */
static int forward_body(reader *r, int fd, enum direction dir,
                        const framing *f, uint64_t limit)
{
    uint64_t sent = 0;
    if (f->how == BODY_NONE)
        return 0;
    if (f->how == BODY_LENGTH || f->how == BODY_TO_CLOSE) {
        uint64_t left = f->how == BODY_LENGTH ? f->length : UINT64_MAX;
        while (left) {
            if (r->start == r->end && !fill(r))
                return f->how == BODY_TO_CLOSE ? 0 : -1;
            size_t n = r->end - r->start;
            if (n > left)
                n = (size_t)left;
            if (limit != UINT64_MAX && sent + n > limit)
                n = (size_t)(limit - sent);
            if (send_all(fd, dir, r->buf + r->start, n) < 0)
                return -1;
            r->start += n;
            left -= n;
            sent += n;
            if (limit != UINT64_MAX && sent >= limit)
                return 1;
        }
        return 0;
    }
    /* Chunked: size line, data, CRLF, ... a zero size, trailers, CRLF. */
    char line[1024];
    for (;;) {
        long len = read_line(r, line, sizeof line);
        if (len <= 0)
            return -1;
        char *end;
        errno = 0;
        unsigned long long size = strtoull(line, &end, 16);
        if (errno || end == line)
            return -1;
        if (limit != UINT64_MAX && size > 0) {
            /* Half (or what limit allows) of this chunk's data. */
            if (send_all(fd, dir, line, (size_t)len) < 0)
                return -1;
            uint64_t part = limit < size / 2 ? limit : size / 2;
            framing data = {BODY_LENGTH, size};
            return forward_body(r, fd, dir, &data, part) < 0 ? -1 : 1;
        }
        if (send_all(fd, dir, line, (size_t)len) < 0)
            return -1;
        if (size == 0)
            break;
        framing data = {BODY_LENGTH, size + 2}; /* with its CRLF */
        if (forward_body(r, fd, dir, &data, UINT64_MAX) < 0)
            return -1;
    }
    for (;;) { /* trailers, through the empty line */
        long len = read_line(r, line, sizeof line);
        if (len <= 0)
            return -1;
        if (send_all(fd, dir, line, (size_t)len) < 0)
            return -1;
        if (strcmp(line, "\r\n") == 0 || strcmp(line, "\n") == 0)
            return 0;
    }
}

/* Reads n bytes of a body into out (malloc'ed); -1 on EOF or error. */
static int read_body_bytes(reader *r, uint64_t n, char **out)
{
    char *buf = malloc(n ? (size_t)n : 1);
    if (!buf)
        return -1;
    uint64_t have = 0;
    while (have < n) {
        if (r->start == r->end && !fill(r)) {
            free(buf);
            return -1;
        }
        size_t part = r->end - r->start;
        if (part > n - have)
            part = (size_t)(n - have);
        memcpy(buf + have, r->buf + r->start, part);
        r->start += part;
        have += part;
    }
    *out = buf;
    return 0;
}

/* Reads and drops a body framed by f from r; 0 when done. */
static int discard_body(reader *r, const framing *f)
{
    if (f->how == BODY_NONE)
        return 0;
    if (f->how == BODY_LENGTH) {
        uint64_t left = f->length;
        while (left) {
            if (r->start == r->end && !fill(r))
                return -1;
            size_t n = r->end - r->start;
            if (n > left)
                n = (size_t)left;
            r->start += n;
            left -= n;
        }
        return 0;
    }
    if (f->how != BODY_CHUNKED)
        return -1;
    char line[1024];
    for (;;) {
        if (read_line(r, line, sizeof line) <= 0)
            return -1;
        unsigned long long size = strtoull(line, NULL, 16);
        if (size == 0)
            break;
        framing data = {BODY_LENGTH, size + 2};
        if (discard_body(r, &data) < 0)
            return -1;
    }
    for (;;) {
        if (read_line(r, line, sizeof line) <= 0)
            return -1;
        if (strcmp(line, "\r\n") == 0 || strcmp(line, "\n") == 0)
            return 0;
    }
}

/* ---- faults -------------------------------------------------------------- */

static int parse_fault(const char *text, fault *f)
{
    if (strcmp(text, "reset") == 0)
        f->kind = FAULT_RESET;
    else if (strcmp(text, "reset-late") == 0)
        f->kind = FAULT_RESET_LATE;
    else if (strcmp(text, "reset-slow") == 0)
        f->kind = FAULT_RESET_SLOW;
    else if (strcmp(text, "stall") == 0)
        f->kind = FAULT_STALL;
    else if (strcmp(text, "truncate") == 0)
        f->kind = FAULT_TRUNCATE;
    else if (strlen(text) == 3 && text[0] >= '1' && text[0] <= '5' &&
             strspn(text, "0123456789") == 3) {
        f->kind = FAULT_STATUS;
        f->status = (int)strtol(text, NULL, 10);
    } else
        return -1;
    return 0;
}

static const char *fault_name(const fault *f, char buf[8])
{
    switch (f->kind) {
    case FAULT_RESET: return "reset";
    case FAULT_RESET_LATE: return "reset-late";
    case FAULT_RESET_SLOW: return "reset-slow";
    case FAULT_STALL: return "stall";
    case FAULT_TRUNCATE: return "truncate";
    case FAULT_STATUS: snprintf(buf, 8, "%d", f->status); return buf;
    default: return "-";
    }
}

/* Numbers a new request and picks its fault; *number gets its number. */
static fault next_request(const char *request_line, uint64_t *number)
{
    fault f = {FAULT_NONE, 0};
    pthread_mutex_lock(&lock);
    *number = ++n_requests;
    if (!match_text || strstr(request_line, match_text)) {
        uint64_t m = ++n_matching;
        for (size_t i = 0; i < schedule_n; i++)
            if (schedule[i].request == m)
                f = schedule[i].fault;
        if (f.kind == FAULT_NONE && fault_rate > 0) {
            double draw = (double)(rng_next() >> 11) / 9007199254740992.0;
            uint64_t pick = rng_next();
            if (draw < fault_rate)
                f = random_kinds[pick % random_kinds_n];
        }
    }
    if (f.kind != FAULT_NONE)
        n_faults++;
    pthread_mutex_unlock(&lock);
    return f;
}

static void log_request(uint64_t number, const char *request_line, int status,
                        const fault *f)
{
    if (!log_file)
        return;
    char buf[8];
    size_t n = strcspn(request_line, "\r\n");
    pthread_mutex_lock(&lock);
    fprintf(log_file, "%" PRIu64 " %" PRIu64 " %.*s %d %s\n",
            now_ns() / 1000000u, number, (int)n, request_line, status,
            fault_name(f, buf));
    fflush(log_file);
    pthread_mutex_unlock(&lock);
}

/* Closes fd so that the peer sees a reset, not an orderly end. */
static void reset_close(int fd)
{
    struct linger l = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
}

/* Answers the request with status itself; 0 if the connection may go on. */
static int answer_status(int client, int status, int keep_alive)
{
    const char *reason = status == 429   ? "Too Many Requests"
                         : status == 500 ? "Internal Server Error"
                         : status == 503 ? "Service Unavailable"
                                         : "Injected Fault";
    char body[128], msg[512];
    int blen = snprintf(body, sizeof body, "fault_proxy: injected %d %s\n",
                        status, reason);
    int retry = status == 429 || status == 503;
    int n = snprintf(msg, sizeof msg,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %d\r\n%s%s\r\n%s",
                     status, reason, blen, retry ? "Retry-After: 1\r\n" : "",
                     keep_alive ? "" : "Connection: close\r\n", body);
    sleep_ms(2 * latency_ms);
    return send_all(client, DOWN, msg, (size_t)n);
}

/* ---- one connection ------------------------------------------------------ */

typedef struct connection {
    int client, server;
    uint64_t accepted_ns; /* when the client connected (its handshake) */
    reader from_client, from_server;
    char head[HEAD_MAX];
    char request_line[1024];
} connection;

/* What ends a connection. */
#define CLOSE -1 /* an orderly close: what was sent arrives first */
#define RESET -2 /* a reset: what is still unsent is lost */
#define RESET_LATE -3 /* the client's side now, the server's later */

/* Serves one request; 0 to go on with the next one, CLOSE or RESET. */
static int serve_request(connection *c, int first)
{
    long got = read_head(&c->from_client, c->head);
    if (got <= 0)
        return -1;
    size_t head_len = (size_t)got;
    snprintf(c->request_line, sizeof c->request_line, "%.*s",
             (int)strcspn(c->head, "\r\n"), c->head);
    char method[16] = "";
    sscanf(c->head, "%15s", method);
    framing req;
    if (framing_of(c->head, 0, method, 0, &req) < 0) {
        answer_status(c->client, 400, 0);
        return -1;
    }
    char v[64];
    int expect = header_value(c->head, "Expect", v, sizeof v) &&
                 strcasecmp(v, "100-continue") == 0;
    uint64_t number;
    fault f = next_request(c->request_line, &number);

    if (f.kind == FAULT_STATUS) {
        log_request(number, c->request_line, f.status, &f);
        if (expect) /* the client waits to send the body: never read it */
            return answer_status(c->client, f.status, 0), -1;
        if (discard_body(&c->from_client, &req) < 0)
            return -1;
        return answer_status(c->client, f.status, 1);
    }

    /* The request travels to the server, and a new connection's first
     * request leaves no earlier than one round trip (the handshake)
     * after the client connected: loopback connects at once, a link
     * takes that long, whether the client connected just now or long
     * before its first request (a client that connects ahead gains it,
     * as it would on a real link). */
    if (first) {
        uint64_t handshake_done =
            c->accepted_ns + 2 * (uint64_t)latency_ms * 1000000u;
        uint64_t now = now_ns();
        if (handshake_done > now)
            sleep_ns(handshake_done - now);
    }
    sleep_ms(latency_ms);
    if (expect)
        header_remove(c->head, &head_len, "Expect");
    if (f.kind == FAULT_RESET_SLOW && req.how == BODY_LENGTH) {
        if (expect) {
            sleep_ms(2 * latency_ms);
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            if (send_all(c->client, DOWN, cont, sizeof cont - 1) < 0)
                return -1;
        }
        char *half;
        if (read_body_bytes(&c->from_client, req.length / 2, &half) < 0)
            return -1;
        log_request(number, c->request_line, 0, &f);
        reset_close(c->client);
        c->client = -1;
        sleep_ms(stall_ms / 2);
        if (send_all(c->server, UP, c->head, head_len) == 0)
            (void)send_all(c->server, UP, half, (size_t)(req.length / 2));
        free(half);
        return RESET_LATE;
    }
    if (send_all(c->server, UP, c->head, head_len) < 0)
        return -1;
    if (expect) {
        sleep_ms(2 * latency_ms);
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (send_all(c->client, DOWN, cont, sizeof cont - 1) < 0)
            return -1;
    }
    if (f.kind == FAULT_RESET || f.kind == FAULT_RESET_LATE ||
        f.kind == FAULT_RESET_SLOW) { /* reset-slow without a length */
        uint64_t half = req.how == BODY_LENGTH ? req.length / 2 : 0;
        if (req.how == BODY_CHUNKED)
            half = UINT64_MAX - 1; /* half of the first chunk */
        if (req.how != BODY_NONE)
            forward_body(&c->from_client, c->server, UP, &req, half);
        log_request(number, c->request_line, 0, &f);
        return f.kind == FAULT_RESET ? RESET : RESET_LATE;
    }
    if (forward_body(&c->from_client, c->server, UP, &req, UINT64_MAX) != 0)
        return -1;

    /* The answer: 1xx heads are passed on until the final one. */
    int status;
    for (;;) {
        got = read_head(&c->from_server, c->head);
        if (got <= 0)
            return -1;
        head_len = (size_t)got;
        if (sscanf(c->head, "HTTP/%*d.%*d %d", &status) != 1)
            return -1;
        if (status / 100 != 1)
            break;
        if (send_all(c->client, DOWN, c->head, head_len) < 0)
            return -1;
    }
    log_request(number, c->request_line, status, &f);
    framing resp;
    if (framing_of(c->head, 1, method, status, &resp) < 0)
        return -1;
    if (f.kind == FAULT_STALL) {
        sleep_ms(stall_ms);
        return -1;
    }
    sleep_ms(latency_ms); /* the answer travels back */
    if (send_all(c->client, DOWN, c->head, head_len) < 0)
        return -1;
    if (f.kind == FAULT_TRUNCATE) {
        /* Half of a known length, half of the first chunk, or nothing of
         * a body that runs to the close. */
        uint64_t half = resp.how == BODY_LENGTH    ? resp.length / 2
                        : resp.how == BODY_CHUNKED ? UINT64_MAX - 1
                                                   : 0;
        if (resp.how != BODY_NONE)
            forward_body(&c->from_server, c->client, DOWN, &resp, half);
        return -1;
    }
    if (forward_body(&c->from_server, c->client, DOWN, &resp, UINT64_MAX) != 0)
        return -1;
    if (resp.how == BODY_TO_CLOSE ||
        (header_value(c->head, "Connection", v, sizeof v) &&
         strcasecmp(v, "close") == 0))
        return -1;
    return 0;
}

static void *connection_main(void *arg)
{
    connection *c = arg;
    c->server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->server < 0 ||
        connect(c->server, (struct sockaddr *)&upstream, sizeof upstream) < 0) {
        /* The server is down: the client sees its connection refused. */
        reset_close(c->client);
        if (c->server >= 0)
            close(c->server);
        free(c);
        return NULL;
    }
    int one = 1;
    setsockopt(c->server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(c->client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->from_client.fd = c->client;
    c->from_server.fd = c->server;
    int first = 1, end;
    while ((end = serve_request(c, first)) == 0)
        first = 0;
    if (end == RESET || end == RESET_LATE) {
        if (c->client >= 0) /* reset-slow closed it already */
            reset_close(c->client);
        if (end == RESET_LATE)
            sleep_ms(stall_ms);
    } else {
        /* An orderly end, so a truncated answer arrives as far as it
         * goes; a client still sending its request sees it too. */
        shutdown(c->client, SHUT_WR);
        close(c->client);
    }
    reset_close(c->server);
    free(c);
    return NULL;
}

/* ---- statistics and signals ---------------------------------------------- */

static void write_stats(void)
{
    if (!stats_path)
        return;
    pthread_mutex_lock(&lock);
    uint64_t r = n_requests, u = bytes_up, d = bytes_down, f = n_faults;
    pthread_mutex_unlock(&lock);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", stats_path);
    FILE *out = fopen(tmp, "w");
    if (!out) {
        fprintf(stderr, "fault_proxy: %s: %s\n", tmp, strerror(errno));
        return;
    }
    fprintf(out, "requests %" PRIu64 "\nbytes_up %" PRIu64
                 "\nbytes_down %" PRIu64 "\nfaults %" PRIu64 "\n",
            r, u, d, f);
    if (fclose(out) != 0 || rename(tmp, stats_path) != 0)
        fprintf(stderr, "fault_proxy: %s: %s\n", stats_path, strerror(errno));
}

static void *signal_main(void *arg)
{
    sigset_t *set = arg;
    for (;;) {
        int sig;
        if (sigwait(set, &sig) != 0)
            continue;
        write_stats();
        if (sig != SIGUSR1)
            _exit(0);
    }
    return NULL;
}

/* ---- options ------------------------------------------------------------- */

static void parse_addr(const char *text, struct sockaddr_in *out)
{
    char host[256];
    const char *colon = strrchr(text, ':');
    if (!colon || (size_t)(colon - text) >= sizeof host)
        die("%s: expected HOST:PORT", text);
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    memset(out, 0, sizeof *out);
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)port);
    if (*end || port < 0 || port > 65535 ||
        inet_pton(AF_INET, host, &out->sin_addr) != 1)
        die("%s: expected an IPv4 HOST:PORT", text);
}

static unsigned long long parse_number(const char *opt, const char *text)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-')
        die("%s %s: expected a number", opt, text);
    return n;
}

static void parse_kinds(const char *text)
{
    char copy[256];
    snprintf(copy, sizeof copy, "%s", text);
    random_kinds_n = 0;
    for (char *save, *k = strtok_r(copy, ",", &save); k;
         k = strtok_r(NULL, ",", &save)) {
        if (random_kinds_n == sizeof random_kinds / sizeof random_kinds[0])
            die("--kinds %s: too many kinds", text);
        if (parse_fault(k, &random_kinds[random_kinds_n++]) < 0)
            die("--kinds: unknown kind %s (reset, stall, truncate or a "
                "status code)", k);
    }
    if (!random_kinds_n)
        die("--kinds: no kind given");
}

int main(int argc, char **argv)
{
    const char *listen_at = NULL, *to = NULL;
    uint64_t seed = 1;
    parse_kinds("reset,stall,truncate,429,500,503");
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (i + 1 >= argc)
            die("%s: needs a value", opt);
        const char *val = argv[++i];
        if (strcmp(opt, "--listen") == 0)
            listen_at = val;
        else if (strcmp(opt, "--to") == 0)
            to = val;
        else if (strcmp(opt, "--latency") == 0)
            latency_ms = (unsigned)parse_number(opt, val);
        else if (strcmp(opt, "--bandwidth") == 0)
            bandwidth = parse_number(opt, val);
        else if (strcmp(opt, "--stall-ms") == 0)
            stall_ms = (unsigned)parse_number(opt, val);
        else if (strcmp(opt, "--seed") == 0)
            seed = parse_number(opt, val);
        else if (strcmp(opt, "--kinds") == 0)
            parse_kinds(val);
        else if (strcmp(opt, "--match") == 0)
            match_text = val;
        else if (strcmp(opt, "--stats") == 0)
            stats_path = val;
        else if (strcmp(opt, "--log") == 0) {
            log_file = fopen(val, "a");
            if (!log_file)
                die("%s: %s", val, strerror(errno));
        } else if (strcmp(opt, "--fault-rate") == 0) {
            char *end;
            fault_rate = strtod(val, &end);
            if (*end || end == val || fault_rate < 0 || fault_rate > 1)
                die("--fault-rate %s: expected a probability", val);
        } else if (strcmp(opt, "--fault") == 0) {
            const char *colon = strchr(val, ':');
            char number[32];
            if (!colon || (size_t)(colon - val) >= sizeof number)
                die("--fault %s: expected N:KIND", val);
            memcpy(number, val, (size_t)(colon - val));
            number[colon - val] = '\0';
            if (schedule_n == MAX_SCHEDULE)
                die("--fault: more than %d", MAX_SCHEDULE);
            scheduled *s = &schedule[schedule_n++];
            s->request = parse_number(opt, number);
            if (s->request == 0 || parse_fault(colon + 1, &s->fault) < 0)
                die("--fault %s: expected N:KIND, N from 1, KIND reset, "
                    "stall, truncate or a status code", val);
        } else
            die("unknown option %s", opt);
    }
    if (!listen_at || !to)
        die("usage: fault_proxy --listen HOST:PORT --to HOST:PORT [options]");
    rng_state = seed * 0x9E3779B97F4A7C15ull + 1;
    struct sockaddr_in listen_addr;
    parse_addr(listen_at, &listen_addr);
    parse_addr(to, &upstream);

    /* Signals go to one thread, which writes the statistics. */
    static sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_t sig_thread;
    if (pthread_create(&sig_thread, NULL, signal_main, &set) != 0)
        die("cannot start a thread");

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (lfd < 0 ||
        bind(lfd, (struct sockaddr *)&listen_addr, sizeof listen_addr) < 0 ||
        listen(lfd, 128) < 0)
        die("%s: %s", listen_at, strerror(errno));
    socklen_t alen = sizeof listen_addr;
    getsockname(lfd, (struct sockaddr *)&listen_addr, &alen);
    printf("port %u\n", ntohs(listen_addr.sin_port));
    fflush(stdout);

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (;;) {
        int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE ||
                errno == ENFILE)
                continue;
            die("accept: %s", strerror(errno));
        }
        connection *c = calloc(1, sizeof *c);
        pthread_t t;
        if (!c) {
            close(cfd);
            continue;
        }
        c->client = cfd;
        c->accepted_ns = now_ns();
        if (pthread_create(&t, &attr, connection_main, c) != 0) {
            close(cfd);
            free(c);
        }
    }
}
