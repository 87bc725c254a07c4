/*
 * cli_common.c - what several commands share: finding the vault, opening
 * it as a member, JSON strings, sizes and times for people.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

int cli_open_regular(const char *path)
{
    /* O_NONBLOCK: opening a FIFO without a writer would wait forever
     * before fstat could say what it is.  Regular files ignore it. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        cli_error("%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        cli_error("%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        cli_error("%s: not a regular file", path);
        close(fd);
        return -1;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0)
        (void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    return fd;
}

vault_storage_options cli_storage;

char *cli_location_shown(const char *location)
{
    /* "***" for each secret: at most twice as long. */
    size_t size = 2 * strlen(location) + 16;
    char *shown = malloc(size);
    if (shown)
        vault_location_redact(location, shown, size);
    return shown;
}

int cli_identity_options(const char *command, int *argc, char ***argv,
                         const char **identity, const char **passphrase_file)
{
    static const struct option options[] = {
        {"identity", required_argument, NULL, 'i'},
        {"passphrase-file", required_argument, NULL, 'F'},
        {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(*argc, *argv, "i:", options, NULL)) != -1) {
        switch (c) {
        case 'i': *identity = optarg; break;
        case 'F': *passphrase_file = optarg; break;
        default: return cli_bad_option(command, *argv);
        }
    }
    *argc -= optind;
    *argv += optind;
    return 0;
}

const char *cli_take_vault(int *argc, char ***argv)
{
    /* The vault is the first argument when that is a vault, else
     * $VAULT_REPOSITORY (so `vault ls` works with the variable set).  A
     * location with a scheme is not probed: that would mean a round trip
     * (or starting rclone) only to decide what the word is. */
    const char *env = getenv("VAULT_REPOSITORY");
    if (*argc > 0 &&
        (!env || !env[0] || vault_location_has_scheme((*argv)[0]) ||
         vault_probe((*argv)[0]) == VAULT_OK)) {
        const char *path = (*argv)[0];
        (*argc)--;
        (*argv)++;
        return path;
    }
    if (env && env[0])
        return env;
    return NULL;
}

vault_t *cli_open_vault(const char *path, const char *identity_path,
                        const char *passphrase_file)
{
    /* A local path is checked before asking for a passphrase.  Remote
     * storage is not: the open says the same, and a second connection
     * (for rclone: a second rclone) would cost a start-up each time. */
    vault_error rc = vault_location_has_scheme(path)
                         ? VAULT_OK
                         : vault_probe_at(path, &cli_storage);
    if (rc != VAULT_OK) {
        cli_fail(rc);
        return NULL;
    }
    vault_identity_t *id = cli_load_identity(identity_path, passphrase_file);
    if (!id)
        return NULL;
    vault_t *v = NULL;
    rc = vault_open_at(path, &cli_storage, id, &v);
    vault_identity_free(id);
    if (rc != VAULT_OK) {
        cli_fail(rc);
        return NULL;
    }
    if (cli_pin_check(path, v) != 0) {
        vault_close(v);
        return NULL;
    }
    cli_progress_attach(v);
    return v;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if invalid. */
static size_t utf8_sequence(const unsigned char *p)
{
    size_t n;
    uint32_t cp;
    if (p[0] < 0x80)
        return 1;
    if ((p[0] & 0xe0) == 0xc0)
        n = 2, cp = p[0] & 0x1f;
    else if ((p[0] & 0xf0) == 0xe0)
        n = 3, cp = p[0] & 0x0f;
    else if ((p[0] & 0xf8) == 0xf0)
        n = 4, cp = p[0] & 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

void cli_json_string(FILE *f, const char *s)
{
    /* File names are bytes, JSON strings are Unicode: a byte that is not
     * part of valid UTF-8 is written as the lone surrogate U+DC80+byte,
     * Python's "surrogateescape", so the exact name survives a round trip
     * (os.fsencode turns it back into the byte). */
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = utf8_sequence(p);
        if (n == 0) {
            fprintf(f, "\\udc%02x", *p);
            p++;
            continue;
        }
        if (n > 1) {
            fwrite(p, 1, n, f);
            p += n;
            continue;
        }
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
        p++;
    }
    fputc('"', f);
}

const char *cli_size(uint64_t bytes, char buf[32])
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, 32, "%llu B", (unsigned long long)bytes);
    else
        snprintf(buf, 32, "%.1f %s", v, units[u]);
    return buf;
}

const char *cli_time(int64_t sec, char buf[32])
{
    time_t t = (time_t)sec;
    struct tm tm;
    if (!localtime_r(&t, &tm) ||
        strftime(buf, 32, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(buf, 32, "%lld", (long long)sec);
    return buf;
}

const char *cli_time_rfc3339(int64_t sec, uint32_t nsec, char buf[48])
{
    time_t t = (time_t)sec;
    struct tm tm;
    char base[32];
    if (!gmtime_r(&t, &tm) ||
        strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        snprintf(base, sizeof base, "%lld", (long long)sec);
    snprintf(buf, 48, "%s.%09uZ", base, (unsigned)nsec);
    return buf;
}

/* Length of the well-formed UTF-8 sequence at s that is printable (not a
 * C1 control, U+0080..U+009F), or 0. */
static size_t printable_utf8_length(const unsigned char *s)
{
    size_t len;
    uint32_t cp;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
        cp = s[0] & 0x1fu;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        cp = s[0] & 0x0fu;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        cp = s[0] & 0x07u;
    } else {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0; /* also stops at the NUL */
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < least[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
        (cp >= 0x80 && cp <= 0x9f))
        return 0;
    return len;
}

void cli_put_text(FILE *f, const char *text, int keep_newlines)
{
    /* Names, hosts, tags and targets come from whoever wrote the
     * snapshot: a control byte (ESC, BEL, CR, a C1 control) would drive
     * the reader's terminal, and bytes that are not UTF-8 may combine
     * into one.  So they are shown as \xHH, and a backslash as \\ so
     * that the escape cannot be forged by a name. */
    const unsigned char *s = (const unsigned char *)(text ? text : "");
    while (*s) {
        /* One write for each run of printable characters: ls -R prints
         * every name of a snapshot through here. */
        const unsigned char *run = s;
        for (;;) {
            if (*s >= 0x20 && *s < 0x7f && *s != '\\')
                s++;
            else if (*s >= 0x80 && printable_utf8_length(s))
                s += printable_utf8_length(s);
            else
                break;
        }
        if (s > run) {
            fwrite(run, 1, (size_t)(s - run), f);
            continue;
        }
        if (*s == '\\') {
            fputs("\\\\", f);
            s++;
        } else if (keep_newlines && *s == '\n') {
            fputc('\n', f);
            s++;
        } else {
            fprintf(f, "\\x%02x", *s);
            s++;
        }
    }
}

const char *cli_text(const char *text)
{
    /* A few at once, for one printf naming several. */
    static char *ring[8];
    static size_t next;
    char **slot = &ring[next++ % 8];
    free(*slot);
    *slot = NULL;
    size_t size = 0;
    FILE *f = open_memstream(slot, &size);
    if (!f)
        return "?";
    cli_put_text(f, text, 0);
    if (fclose(f) != 0 || !*slot)
        return "?";
    return *slot;
}

void cli_put_snapshot_paths_tags(const vault_snapshot_info *s)
{
    for (size_t j = 0; j < s->n_paths; j++)
        printf(" %s", cli_text(s->paths[j]));
    if (s->n_tags) {
        printf("  [");
        for (size_t j = 0; j < s->n_tags; j++)
            printf("%s%s", j ? "," : "", cli_text(s->tags[j]));
        printf("]");
    }
}

const char *cli_author(const vault_snapshot_info *s, char buf[160])
{
    const char *who = s->author && s->author[0] ? s->author : s->author_key;
    const char *role = s->author_role ? vault_role_name(s->author_role)
                                      : "former member";
    size_t len = strlen(who);
    /* Shortened only when it is plain printable ASCII, so that the cut
     * never splits a character and the escaping sees all of it. */
    int plain = 1;
    for (size_t i = 0; i < len && plain; i++)
        plain = who[i] > 0x20 && who[i] < 0x7f;
    if (plain && len > 16)
        snprintf(buf, 160, "%s %.8s\xe2\x80\xa6%s", role, who, who + len - 4);
    else
        snprintf(buf, 160, "%s %s", role, cli_text(who));
    return buf;
}

const char *cli_unreadable_reason(const vault_snapshot_info *s)
{
    return s->damage ? "(damaged or forged object, ignored)"
                     : "(sealed in a key epoch this member does not hold)";
}

void cli_warn_damaged(const vault_snapshot_info *s)
{
    if (s->damage)
        cli_error("warning: %s (a damaged or forged snapshot object: "
                  "ignored)",
                  s->damage);
}

const char *cli_count(uint64_t n, const char *one, const char *many)
{
    static char bufs[8][64];
    static unsigned next;
    char *buf = bufs[next++ % 8];
    snprintf(buf, sizeof bufs[0], "%llu %s", (unsigned long long)n,
             n == 1 ? one : many);
    return buf;
}

int cli_make_parents(const char *file)
{
    char *dir = strdup(file);
    if (!dir) {
        cli_error("out of memory");
        return -1;
    }
    int status = 0;
    for (char *p = strchr(dir + 1, '/'); p && status == 0;
         p = strchr(p + 1, '/')) {
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            cli_error("%s: cannot create folder %s: %s", file, dir,
                      strerror(errno));
            status = -1;
        }
        *p = '/';
    }
    free(dir);
    return status;
}

/* A size with an optional k/K, m/M, g/G or t/T suffix (powers of 1024),
 * as restic's --exclude-larger-than takes it ("64M", "1G"); 0 if
 * malformed or 0. */
uint64_t cli_parse_size(const char *text)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(text, &end, 10);
    if (errno || end == text || text[0] == '-')
        return 0;
    unsigned shift = 0;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': shift = 10; break;
    case 'm': case 'M': shift = 20; break;
    case 'g': case 'G': shift = 30; break;
    case 't': case 'T': shift = 40; break;
    default: return 0;
    }
    if (*end && end[1])
        return 0;
    if (shift && n > (UINT64_MAX >> shift))
        return 0;
    return (uint64_t)n << shift;
}
