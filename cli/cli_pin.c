/*
 * cli_pin.c - remembering which vault lives where (format spec,
 * "Pinning").
 *
 * Storage that can write can replace a vault's config and envelopes with
 * ones of its own, sealed to a member's public key: opened with nothing
 * else to go on, that vault looks like the real one, and whatever is
 * added to it next is readable by whoever made it.  So the client keeps,
 * like ssh's known_hosts, one line per vault location:
 *
 *     <fingerprint, 64 hex> <seq> <location>
 *
 * in $XDG_CONFIG_HOME/vault/known_vaults (~/.config/vault/known_vaults).
 * The first open of a location records its fingerprint; every later one
 * must match; `init` records the vault it made.  seq is the highest
 * membership log record this client has seen there: a log shorter than
 * that was rolled back (storage replaying an older keys/, say to bring a
 * removed member back), and is refused; a longer one moves seq up.  Lines the client cannot
 * parse are kept as they are and ignored.  Without a config directory, or
 * when the file cannot be written, vaults are not pinned (with a warning
 * for the write).  Read-modify-write happens under a lock on a file beside
 * it, so that two clients pinning two vaults at once keep both pins.
 */
#define _GNU_SOURCE /* realpath with NULL */
#include <errno.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define KNOWN_VAULTS_MAX (16u * 1024 * 1024) /* a file larger is not ours */

/* The known_vaults path into buf; NULL when there is no config directory. */
static const char *known_vaults_path(char *buf, size_t size)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    int n;
    if (xdg && xdg[0] == '/')
        n = snprintf(buf, size, "%s/vault/known_vaults", xdg);
    else if (home && home[0] == '/')
        n = snprintf(buf, size, "%s/.config/vault/known_vaults", home);
    else
        return NULL;
    return n > 0 && (size_t)n < size ? buf : NULL;
}

/* The location pinned for path: its canonical absolute path, or for
 * remote storage the location with its password redacted (a pin file is
 * no place for a secret), malloc'ed; NULL when it cannot be one line of
 * the file. */
static char *location_of(const char *path)
{
    char *loc = vault_location_has_scheme(path) ? cli_location_shown(path)
                                                : realpath(path, NULL);
    if (loc && (strchr(loc, '\n') || !loc[0])) {
        free(loc);
        loc = NULL;
    }
    return loc;
}

/* The whole file, NUL-terminated (empty if absent); NULL on error. */
static char *read_known(const char *file)
{
    FILE *f = fopen(file, "rb");
    if (!f)
        return errno == ENOENT || errno == ENOTDIR ? calloc(1, 1) : NULL;
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            char *t = cap <= KNOWN_VAULTS_MAX ? realloc(text, cap + 1) : NULL;
            if (!t) {
                free(text);
                fclose(f);
                errno = cap <= KNOWN_VAULTS_MAX ? ENOMEM : EFBIG;
                return NULL;
            }
            text = t;
        }
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(text);
        errno = EIO;
        return NULL;
    }
    text[len] = '\0';
    return text;
}

/* The line of text pinning loc: its start (and the seq it records into
 * *seq), or NULL. */
static const char *find_pin(const char *text, const char *loc, uint64_t *seq)
{
    size_t loc_len = strlen(loc);
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        const char *s = line + VAULT_FINGERPRINT_CHARS + 1;
        size_t digits = len > VAULT_FINGERPRINT_CHARS + 1
                            ? strspn(s, "0123456789") : 0;
        if (digits >= 1 && digits <= 19 && (digits == 1 || s[0] != '0') &&
            len == VAULT_FINGERPRINT_CHARS + 1 + digits + 1 + loc_len &&
            strspn(line, "0123456789abcdef") == VAULT_FINGERPRINT_CHARS &&
            line[VAULT_FINGERPRINT_CHARS] == ' ' && s[digits] == ' ' &&
            memcmp(s + digits + 1, loc, loc_len) == 0) {
            *seq = strtoull(s, NULL, 10);
            return line;
        }
        line += len + (end ? 1 : 0);
    }
    return NULL;
}

/* Makes the directory file goes in (and its parent: ~/.config may not
 * exist yet); -1 with errno if it cannot be had. */
static int make_dir_of(const char *file)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", file);
    *strrchr(dir, '/') = '\0';
    char *parent = strrchr(dir, '/');
    if (parent && parent != dir) {
        *parent = '\0';
        (void)mkdir(dir, 0700);
        *parent = '/';
    }
    return mkdir(dir, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

/* Locks file's lock file; the descriptor to close, or -1 (then the
 * caller goes on unlocked: the write will say if it cannot be done). */
static int lock_known(const char *file)
{
    char lock[PATH_MAX + 8];
    snprintf(lock, sizeof lock, "%s.lock", file);
    if (make_dir_of(file) != 0)
        return -1;
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0 && flock(fd, LOCK_EX) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static void unlock_known(int fd)
{
    if (fd >= 0)
        close(fd);
}

/* Writes text (without the line at skip, if any) and the pin of loc to
 * file, atomically; -1 with errno on failure. */
static int write_known(const char *file, const char *text, const char *skip,
                       const char *loc, const char *fingerprint, uint64_t seq)
{
    char tmp[PATH_MAX + 32];
    if (make_dir_of(file) != 0)
        return -1;

    size_t keep1 = skip ? (size_t)(skip - text) : strlen(text);
    const char *rest = "";
    if (skip) {
        const char *end = strchr(skip, '\n');
        rest = end ? end + 1 : "";
    }
    size_t keep2 = strlen(rest);
    char last = keep2 ? rest[keep2 - 1] : keep1 ? text[keep1 - 1] : '\n';
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", file, (long)getpid());
    /* 0600: which vaults this user opens, and where, is theirs to know. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  0600);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        errno = e;
        return -1;
    }
    fwrite(text, 1, keep1, f);
    fwrite(rest, 1, keep2, f);
    fprintf(f, "%s%s %llu %s\n", last == '\n' ? "" : "\n", fingerprint,
            (unsigned long long)seq, loc);
    int bad = fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0;
    int e = errno;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (!bad && rename(tmp, file) != 0) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        unlink(tmp);
        errno = e;
        return -1;
    }
    return 0;
}

/* Records fingerprint and seq for loc in file (replacing any pin of
 * loc). */
static void pin(const char *file, const char *text, const char *old,
                const char *loc, const char *fingerprint, uint64_t seq)
{
    if (write_known(file, text, old, loc, fingerprint, seq) != 0)
        cli_error("warning: cannot record the vault's fingerprint in %s: "
                  "%s (the vault is not pinned)",
                  file, strerror(errno));
}

void cli_pin_record(const char *path, const char *fingerprint)
{
    char file[PATH_MAX];
    char *loc = location_of(path);
    if (!loc || !known_vaults_path(file, sizeof file)) {
        free(loc);
        return;
    }
    int lock = lock_known(file);
    char *text = read_known(file);
    if (!text)
        cli_error("warning: cannot read %s: %s (the vault is not pinned)",
                  file, strerror(errno));
    else
    {
        uint64_t seq;
        /* A new vault: its log has record 0 only. */
        pin(file, text, find_pin(text, loc, &seq), loc, fingerprint, 0);
    }
    unlock_known(lock);
    free(text);
    free(loc);
}

int cli_pin_check(const char *path, const vault_t *v)
{
    char file[PATH_MAX], fingerprint[VAULT_FINGERPRINT_CHARS + 1];
    char *loc = location_of(path);
    if (!loc || !known_vaults_path(file, sizeof file)) {
        free(loc);
        return 0;
    }
    vault_fingerprint(v, fingerprint);
    int lock = lock_known(file);
    char *text = read_known(file);
    if (!text) {
        /* Refuse: an unreadable file may hold the pin that would say no. */
        cli_error("%s: cannot read %s to check the vault's fingerprint: %s",
                  loc, file, strerror(errno));
        unlock_known(lock);
        free(loc);
        return -1;
    }
    int rc = 0;
    uint64_t pinned_seq = 0, seq = vault_membership_seq(v);
    const char *old = find_pin(text, loc, &pinned_seq);
    if (!old) {
        pin(file, text, NULL, loc, fingerprint, seq); /* first use */
        /* Said once, on stderr, so that it can be compared with what the
         * vault's owner says it is (`vault init` printed it, `vault
         * members` shows it). */
        fprintf(stderr,
                "vault: %s: first use on this client: pinned its "
                "fingerprint %s (compare it with the owner's; a different "
                "vault at this place will be refused)\n",
                loc, fingerprint);
    } else if (memcmp(old, fingerprint, VAULT_FINGERPRINT_CHARS) != 0) {
        cli_error("%s: not the vault this client saw there before: its "
                  "fingerprint is %s, %s pins %.*s.  Storage that can "
                  "write could swap in a vault of its own to read what is "
                  "added next.  If you replaced the vault yourself, delete "
                  "its line from %s",
                  loc, fingerprint, file, VAULT_FINGERPRINT_CHARS, old, file);
        rc = -1;
    } else if (seq < pinned_seq) {
        cli_error("%s: membership log rolled back from record %llu to %llu: "
                  "storage is showing an older state of who the members "
                  "are (it could bring back a removed member).  Refusing "
                  "to open it; %s records what this client saw",
                  loc, (unsigned long long)pinned_seq,
                  (unsigned long long)seq, file);
        rc = -1;
    } else if (seq > pinned_seq) {
        pin(file, text, old, loc, fingerprint, seq);
    }
    unlock_known(lock);
    free(text);
    free(loc);
    return rc;
}
