/*
 * client_cache.c - the client's cache folder (client_cache.h).
 *
 * Marker sightings file, <cache>/<vault ID>/markers: one line per add
 * marker, "<object name> <unix seconds first seen>\n".  It only ever
 * makes a marker older, never younger, so a damaged or planted file can
 * at worst let a sweep run earlier than the marker's own time allows -
 * which the local user could do anyway by deleting the marker.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/internal.h"
#include "repo/client_cache.h"

#define SIGHTINGS_MAX_BYTES (4u * 1024 * 1024)
#define SIGHTING_LINE_MAX (64 + 1 + 20 + 1)

const char *vlt_cache_dir_default(char *buf, size_t size)
{
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (xdg && xdg[0])
        snprintf(buf, size, "%s/vault", xdg);
    else if (home && home[0])
        snprintf(buf, size, "%s/.cache/vault", home);
    else
        return NULL;
    return buf;
}

int vlt_cache_vault_file(const char *dir, const keyring *k, const char *file,
                         char *out, size_t size)
{
    return vlt_cache_vault_path(dir, k->vault_id, file, out, size);
}

int vlt_cache_vault_path(const char *dir,
                         const uint8_t vault_id[VAULT_ID_BYTES],
                         const char *file, char *out, size_t size)
{
    if (!dir || !dir[0])
        return 0;
    char hex[65], path[PATH_MAX];
    vlt_hex_encode(vault_id, VAULT_ID_BYTES, hex);
    int n = snprintf(path, sizeof path, "%s/%s", dir, hex);
    if (n <= 0 || (size_t)n >= sizeof path)
        return 0;
    /* Make the folders (ignore EEXIST); a failure only means no cache. */
    for (char *s = path + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            mkdir(path, 0700);
            *s = '/';
        }
    mkdir(path, 0700);
    n = snprintf(out, size, "%s/%s", path, file);
    return n > 0 && (size_t)n < size;
}

/* When the sightings text first saw marker name; 0 if it did not. */
static int64_t sighting_of(const char *text, size_t len, const char *name)
{
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t line = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (line > 65 && line < SIGHTING_LINE_MAX &&
            memcmp(p, name, 64) == 0 && p[64] == ' ') {
            char num[24];
            memcpy(num, p + 65, line - 65);
            num[line - 65] = '\0';
            char *e;
            long long t = strtoll(num, &e, 10);
            if (*e == '\0' && t > 0)
                return (int64_t)t;
        }
        p += line + 1;
    }
    return 0;
}

void vlt_marker_sightings_apply(const char *dir, const keyring *k,
                                lock_record *locks, size_t n, int64_t now)
{
    char path[PATH_MAX];
    int keep = vlt_cache_vault_file(dir, k, "markers", path, sizeof path);
    uint8_t *old = NULL;
    size_t old_len = 0;
    if (keep && vlt_read_file(path, SIGHTINGS_MAX_BYTES, &old, &old_len) !=
                    VAULT_OK) {
        old = NULL;
        old_len = 0;
    }
    size_t markers = 0;
    for (size_t i = 0; i < n; i++)
        markers += locks[i].kind == LOCK_ADD;
    char *text = keep && markers ? malloc(markers * SIGHTING_LINE_MAX + 1)
                                 : NULL;
    size_t text_len = 0;
    for (size_t i = 0; i < n; i++) {
        lock_record *l = &locks[i];
        if (l->kind != LOCK_ADD)
            continue;
        int64_t seen = old ? sighting_of((const char *)old, old_len, l->name)
                           : 0;
        if (!seen || seen > now)
            seen = now;
        if (seen < l->time)
            l->time = seen;
        if (text)
            text_len += (size_t)snprintf(text + text_len, SIGHTING_LINE_MAX + 1,
                                         "%s %" PRId64 "\n", l->name, seen);
    }
    /* Best effort: without the file, a future-dated marker holds sweeps
     * back for a day after each run's first sight instead of once. */
    if (keep && (text || old))
        (void)vlt_write_file_atomic(path, (const uint8_t *)(text ? text : ""),
                                    text_len, 0600, 0);
    free(text);
    free(old);
}
