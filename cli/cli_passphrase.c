/*
 * cli_passphrase.c - getting passphrases and identities for commands.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"

#define PASSPHRASE_MAX 1024

/* Reads one line (without its newline) from fd into a malloc'ed string. */
static char *read_line_fd(int fd)
{
    char *buf = malloc(PASSPHRASE_MAX + 1);
    if (!buf)
        return NULL;
    size_t used = 0;
    for (;;) {
        char c;
        ssize_t n = read(fd, &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || c == '\n')
            break;
        if (used == PASSPHRASE_MAX) {
            memset(buf, 0, PASSPHRASE_MAX + 1);
            free(buf);
            errno = E2BIG;
            return NULL;
        }
        buf[used++] = c;
    }
    if (used > 0 && buf[used - 1] == '\r')
        used--;
    buf[used] = '\0';
    return buf;
}

/* Asks on the controlling terminal with echo off. */
static char *prompt_tty(const char *prompt)
{
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct termios old, quiet;
    int have_termios = tcgetattr(fd, &old) == 0;
    if (have_termios) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        quiet.c_lflag |= ECHONL;
        tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    if (write(fd, prompt, strlen(prompt)) < 0) {
        /* the prompt is a courtesy; reading still works */
    }
    char *line = read_line_fd(fd);
    if (have_termios)
        tcsetattr(fd, TCSAFLUSH, &old);
    close(fd);
    return line;
}

void cli_free_passphrase(char *passphrase)
{
    if (!passphrase)
        return;
    volatile char *p = passphrase;
    while (*p)
        *p++ = 0;
    free(passphrase);
}

char *cli_get_passphrase(const char *passphrase_file, const char *prompt,
                         int confirm)
{
    if (passphrase_file) {
        int fd = cli_open_regular(passphrase_file);
        if (fd < 0)
            return NULL;
        char *line = read_line_fd(fd);
        close(fd);
        if (!line)
            cli_error("%s: cannot read a passphrase", passphrase_file);
        else if (!line[0]) {
            cli_error("%s: the passphrase is empty", passphrase_file);
            cli_free_passphrase(line);
            return NULL;
        }
        return line;
    }
    const char *env = getenv("VAULT_PASSPHRASE");
    if (env) {
        if (!env[0]) {
            cli_error("VAULT_PASSPHRASE is empty");
            return NULL;
        }
        char *copy = strdup(env);
        if (!copy)
            cli_error("out of memory");
        return copy;
    }
    char *first = prompt_tty(prompt);
    if (!first) {
        cli_error("a passphrase is needed: no terminal to ask on (use "
                  "--passphrase-file or VAULT_PASSPHRASE)");
        return NULL;
    }
    if (!first[0]) {
        cli_error("the passphrase is empty");
        cli_free_passphrase(first);
        return NULL;
    }
    if (confirm) {
        char *second = prompt_tty("Confirm passphrase: ");
        int same = second && strcmp(first, second) == 0;
        cli_free_passphrase(second);
        if (!same) {
            cli_error("the passphrases do not match");
            cli_free_passphrase(first);
            return NULL;
        }
    }
    return first;
}

vault_identity_t *cli_load_identity(const char *path,
                                    const char *passphrase_file)
{
    if (!path)
        path = getenv("VAULT_IDENTITY");
    if (!path || !path[0]) {
        cli_error("no identity: give -i FILE or set VAULT_IDENTITY");
        return NULL;
    }
    vault_identity_t *id = NULL;
    vault_error rc = vault_identity_load(path, NULL, &id);
    if (rc == VAULT_E_NEED_PASSPHRASE) {
        char prompt[512];
        snprintf(prompt, sizeof prompt, "Passphrase for %s: ", path);
        char *pass = cli_get_passphrase(passphrase_file, prompt, 0);
        if (!pass)
            return NULL;
        rc = vault_identity_load(path, pass, &id);
        cli_free_passphrase(pass);
    }
    if (rc != VAULT_OK) {
        cli_fail(rc);
        return NULL;
    }
    return id;
}
