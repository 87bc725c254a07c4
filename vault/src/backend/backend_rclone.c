/*
 * backend_rclone.c - "rclone:REMOTE:PATH": every storage rclone reaches,
 * through `rclone serve restic` started for this vault and stopped when
 * it closes, spoken to as a REST backend (backend_rest.c).
 *
 * How only this process can use the server.  restic runs `rclone serve
 * restic --stdio` and speaks HTTP/2 over the pipe.  libcurl could do the
 * same (a socketpair, CURLOPT_OPENSOCKETFUNCTION, HTTP/2 prior knowledge),
 * but then every request shares one connection and one pipe, and curl's
 * connection reuse, the retries and the parallel uploads of http.c would
 * have to be rebuilt around it.  Instead rclone listens on a loopback
 * port it picks (127.0.0.1:0) and demands HTTP basic auth with a user
 * and a password of 256 random bits made for this run.  Other local
 * users can connect to the port but cannot authenticate: the credentials
 * reach rclone only through its environment (RCLONE_USER, RCLONE_PASS),
 * which /proc shows to the same user only, never on its command line,
 * which any user can read in /proc/PID/cmdline.  The same user could
 * read them, but could also read vault's identity.
 *
 * The child ends with vault: close() stops and reaps it; a vault killed
 * (even by SIGKILL) takes it along through PR_SET_PDEATHSIG.  It runs in
 * a process group of its own, so that Ctrl-C at a terminal (sent to the
 * whole foreground group) reaches vault alone: an add stopped so still
 * saves the index of what it stored and takes its marker down, through
 * a server still there, then closes it.  In vault's group it died at
 * once, and the add's last saves waited out their retries (two minutes)
 * against a closed port; restic keeps its rclone out of the terminal's
 * signals too.  Its standard input is /dev/null, so it never needs the
 * terminal.  PR_SET_PDEATHSIG fires when the *thread* that forked
 * exits, so open rclone locations from a thread that outlives the vault
 * (the CLI's main thread does).
 */
#define _GNU_SOURCE /* pipe2, execvpe */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "backend/backend.h"
#include "backend/http.h"
#include "backend/rest.h"
#include "common/internal.h"

extern char **environ;

/* How long rclone may take to say where it listens: a remote may need a
 * login or a connection before it serves. */
#define RCLONE_START_SECONDS 60
#define RCLONE_STOP_SECONDS 5
/* What of rclone's early output is kept for an error message. */
#define RCLONE_LOG_MAX 2048

typedef struct rclone_child {
    pid_t pid;
    int err_fd;          /* rclone's stderr, drained by the thread */
    pthread_t drain;
    int drain_started;
} rclone_child;

/* The rclone to run: $VAULT_RCLONE_PROGRAM, else "rclone" on PATH. */
static const char *rclone_program(void)
{
    const char *p = getenv("VAULT_RCLONE_PROGRAM");
    return p && p[0] ? p : "rclone";
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* After start-up rclone's stderr is read to the end, so that rclone never
 * blocks on a full pipe; its errors (a failed upload to the remote, say)
 * are passed on as warnings, the rest (access notices) dropped. */
static void *drain_stderr(void *arg)
{
    rclone_child *c = arg;
    char buf[4096];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(c->err_fd, buf + len, sizeof buf - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        char *line = buf, *nl;
        while ((nl = strchr(line, '\n'))) {
            *nl = '\0';
            if (strstr(line, "ERROR") || strstr(line, "CRITICAL"))
                vlt_warn("rclone: %s", line);
            line = nl + 1;
        }
        len = strlen(line);
        if (len == sizeof buf - 1)
            len = 0; /* a line this long is dropped */
        else
            memmove(buf, line, len);
    }
    return NULL;
}

/* Stops and reaps the child: SIGTERM, then SIGKILL if it lingers. */
static void child_stop(void *ctx)
{
    rclone_child *c = ctx;
    if (c->pid > 0) {
        kill(c->pid, SIGTERM);
        double deadline = now_seconds() + RCLONE_STOP_SECONDS;
        int status;
        pid_t w;
        while ((w = waitpid(c->pid, &status, WNOHANG)) == 0 &&
               now_seconds() < deadline) {
            struct timespec pause = {0, 10 * 1000 * 1000};
            nanosleep(&pause, NULL);
        }
        if (w == 0) {
            kill(c->pid, SIGKILL);
            while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
                ;
        }
    }
    if (c->drain_started)
        pthread_join(c->drain, NULL);
    if (c->err_fd >= 0)
        close(c->err_fd);
    free(c);
}

/* The environment for rclone: ours without any RCLONE_USER, RCLONE_PASS
 * or RCLONE_HTPASSWD, plus the credentials.  Built before fork (no
 * allocation between fork and exec in a threaded process). */
static char **child_environment(char *user_var, char *pass_var)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 3, sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "RCLONE_USER=", 12) != 0 &&
            strncmp(environ[i], "RCLONE_PASS=", 12) != 0 &&
            strncmp(environ[i], "RCLONE_HTPASSWD=", 16) != 0 &&
            strncmp(environ[i], "RCLONE_ADDR=", 12) != 0)
            env[k++] = environ[i];
    env[k++] = user_var;
    env[k++] = pass_var;
    env[k] = NULL;
    return env;
}

/* rclone's words for a message, in place: its lines joined by "; ",
 * without their timestamps and without NOTICE lines (such as "Config
 * file ... not found - using defaults", which is no reason to fail). */
static void tidy_log(char log[RCLONE_LOG_MAX + 1])
{
    char in[RCLONE_LOG_MAX + 1];
    memcpy(in, log, sizeof in);
    in[RCLONE_LOG_MAX] = '\0';
    char *out = log, *end = log + RCLONE_LOG_MAX;
    for (char *line = in; *line;) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        char *next = nl ? nl + 1 : line + len;
        int y, mo, d, h, mi, sec, skip = 0;
        if (len > 20 && sscanf(line, "%4d/%2d/%2d %2d:%2d:%2d ", &y, &mo, &d,
                               &h, &mi, &sec) == 6)
            skip = 20;
        if (len >= (size_t)skip + 7 &&
            strncmp(line + skip, "NOTICE:", 7) == 0)
            len = skip = 0;
        if (len > (size_t)skip && end - out > 2) {
            if (out != log) {
                memcpy(out, "; ", 2);
                out += 2;
            }
            size_t n = len - (size_t)skip;
            if (n > (size_t)(end - out))
                n = (size_t)(end - out);
            memcpy(out, line + skip, n);
            out += n;
        }
        line = next;
    }
    *out = '\0';
}

/* Reads rclone's stderr until it says where it serves ("Serving restic
 * REST API on http://127.0.0.1:PORT/"): the port into *port.  Else an
 * error quoting what rclone said. */
static vault_error wait_for_address(rclone_child *c, const char *display,
                                    unsigned *port)
{
    char log[RCLONE_LOG_MAX + 1];
    size_t len = 0;
    double deadline = now_seconds() + RCLONE_START_SECONDS;
    for (;;) {
        log[len] = '\0';
        const char *at = strstr(log, "http://127.0.0.1:");
        if (at && strchr(at, '\n')) {
            char *end;
            unsigned long p = strtoul(at + 17, &end, 10);
            if (p > 0 && p < 65536 && *end == '/') {
                *port = (unsigned)p;
                return VAULT_OK;
            }
        }
        double left = deadline - now_seconds();
        if (left <= 0)
            return vlt_fail(VAULT_E_TIMEOUT,
                            "%s: rclone serve restic did not start within "
                            "%d s; it said: %s",
                            display, RCLONE_START_SECONDS,
                            len ? log : "nothing");
        struct pollfd pfd = {.fd = c->err_fd, .events = POLLIN};
        int ready = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            continue;
        if (len == RCLONE_LOG_MAX) {
            /* Keep the newer half: the address line comes last. */
            memmove(log, log + RCLONE_LOG_MAX / 2, RCLONE_LOG_MAX / 2);
            len = RCLONE_LOG_MAX / 2;
        }
        ssize_t n = read(c->err_fd, log + len, RCLONE_LOG_MAX - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0) {
            len += (size_t)n;
            continue;
        }
        /* rclone closed its stderr: it exited. */
        int status = 0;
        while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
            ;
        c->pid = -1;
        log[len] = '\0';
        tidy_log(log);
        len = strlen(log);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
            return vlt_fail(VAULT_E_NOT_FOUND,
                            "%s: cannot run %s (install rclone, or set "
                            "VAULT_RCLONE_PROGRAM)%s%s",
                            display, rclone_program(), len ? ": " : "", log);
        return vlt_fail(VAULT_E_IO, "%s: rclone serve restic failed: %s",
                        display, len ? log : "it exited without a word");
    }
}

/* Starts `rclone serve restic REMOTE:PATH --addr 127.0.0.1:0` with the
 * credentials in its environment. */
static vault_error child_start(rclone_child *c, const char *remote_path,
                               const char *display, const char *user,
                               const char *pass)
{
    char user_var[128], pass_var[128];
    snprintf(user_var, sizeof user_var, "RCLONE_USER=%s", user);
    snprintf(pass_var, sizeof pass_var, "RCLONE_PASS=%s", pass);
    char **env = child_environment(user_var, pass_var);
    int fds[2] = {-1, -1};
    vault_error rc = VAULT_OK;
    if (!env)
        rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
    else if (pipe2(fds, O_CLOEXEC) != 0)
        rc = vlt_fail_errno(errno, "%s: pipe for rclone", display);
    char *program = strdup(rclone_program());
    char *remote = strdup(remote_path);
    char serve[] = "serve", restic[] = "restic", addr_flag[] = "--addr",
         addr[] = "127.0.0.1:0";
    char *const argv[] = {program, serve, restic, remote, addr_flag, addr,
                          NULL};
    if (rc == VAULT_OK && (!program || !remote))
        rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
    pid_t parent = getpid();
    pid_t pid = rc == VAULT_OK ? fork() : -1;
    if (rc == VAULT_OK && pid < 0)
        rc = vlt_fail_errno(errno, "%s: cannot start rclone", display);
    if (pid == 0) {
        /* The child: only async-signal-safe calls until exec. */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
            _exit(126); /* the parent is gone already */
        if (setpgid(0, 0) != 0)
            _exit(126);
        int null_fd = open("/dev/null", O_RDWR);
        if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(null_fd, 1) < 0 ||
            dup2(fds[1], 2) < 0)
            _exit(126);
        if (null_fd > 2)
            close(null_fd);
        execvpe(program, argv, env);
        _exit(127);
    }
    sodium_memzero(pass_var, sizeof pass_var);
    free(env);
    free(program);
    free(remote);
    if (fds[1] >= 0)
        close(fds[1]);
    if (rc != VAULT_OK) {
        if (fds[0] >= 0)
            close(fds[0]);
        return rc;
    }
    c->pid = pid;
    c->err_fd = fds[0];
    return VAULT_OK;
}

vault_error vlt_backend_rclone_open(const char *remote_path,
                                    const vault_storage_options *options,
                                    int create, backend **out)
{
    *out = NULL;
    char display[1024];
    {
        char full[1024];
        snprintf(full, sizeof full, "rclone:%s", remote_path);
        vault_location_redact(full, display, sizeof display);
    }
    if (!remote_path[0] || remote_path[0] == '-')
        return vlt_fail(VAULT_E_INVALID,
                        "%s: an rclone location is rclone:REMOTE:PATH "
                        "(a remote of `rclone config`, or a path)",
                        display);
    /* Without libcurl nothing could talk to the server: said before one
     * is started. */
    vault_error rc = vlt_http_init();
    if (rc != VAULT_OK)
        return rc;
    rclone_child *c = calloc(1, sizeof *c);
    if (!c)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    c->pid = -1;
    c->err_fd = -1;
    uint8_t random[48];
    char user[33], pass[65];
    randombytes_buf(random, sizeof random);
    vlt_hex_encode(random, 16, user);
    vlt_hex_encode(random + 16, 32, pass);
    sodium_memzero(random, sizeof random);

    unsigned port = 0;
    rc = child_start(c, remote_path, display, user, pass);
    if (rc == VAULT_OK)
        rc = wait_for_address(c, display, &port);
    if (rc == VAULT_OK) {
        if (pthread_create(&c->drain, NULL, drain_stderr, c) == 0)
            c->drain_started = 1;
        else
            rc = vlt_fail(VAULT_E_NOMEM, "%s: cannot start a thread",
                          display);
    }
    if (rc != VAULT_OK) {
        sodium_memzero(pass, sizeof pass);
        child_stop(c);
        return rc;
    }
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%u/", port);
    rest_target t = {.base_url = base, .display = display, .username = user,
                     .password = pass, .on_close = child_stop,
                     .close_ctx = c};
    rc = vlt_backend_rest_connect(&t, options, create, out);
    sodium_memzero(pass, sizeof pass);
    return rc;
}
