/*
 * cli_common.c - what several commands share: finding the vault, opening
 * it as a member, JSON strings, sizes and times for people.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

const char *cli_take_vault(int *argc, char ***argv)
{
    /* The vault is the first argument when that is a vault, else
     * $VAULT_REPOSITORY (so `vault ls` works with the variable set). */
    const char *env = getenv("VAULT_REPOSITORY");
    if (*argc > 0 && (!env || !env[0] || vault_probe((*argv)[0]) == VAULT_OK)) {
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
    vault_error rc = vault_probe(path);
    if (rc != VAULT_OK) {
        cli_fail(rc);
        return NULL;
    }
    vault_identity_t *id = cli_load_identity(identity_path, passphrase_file);
    if (!id)
        return NULL;
    vault_t *v = NULL;
    rc = vault_open(path, id, &v);
    vault_identity_free(id);
    if (rc != VAULT_OK) {
        cli_fail(rc);
        return NULL;
    }
    return v;
}

void cli_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
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
