#define _GNU_SOURCE /* FNM_CASEFOLD */
/*
 * pathmatch.c - restic-style path patterns (pathmatch.h).
 *
 * A pattern's components are matched against a window of the path's
 * components; the window starts at the root for an anchored pattern,
 * anywhere otherwise, and may end before the path does (an ancestor
 * matched).  The match runs over the path once per pattern component,
 * keeping the set of path positions the pattern can have reached so far
 * (reach[]): a `**` spreads every reached position to all those after
 * it, a glob moves each on by one where it matches.  That is O(pattern x
 * path) however many `**` a pattern has; the backtracking the recursive
 * definition suggests is exponential in them.
 */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/array.h"
#include "common/internal.h"
#include "common/pathmatch.h"

/* Path components matched at most: a path of PATH_MAX bytes has fewer. */
#define MAX_COMPONENTS (PATH_MAX / 2 + 1)
/* An exclude file's line, at most. */
#define LINE_MAX_BYTES 8192

static void pattern_free(vlt_pattern *p)
{
    for (size_t i = 0; i < p->n_parts; i++)
        free(p->parts[i].text);
    free(p->parts);
    free(p->original);
    memset(p, 0, sizeof *p);
}

void vlt_pattern_list_free(vlt_pattern_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        pattern_free(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

/* Whether glob (one component) is well formed as Go's filepath.Match
 * wants it: every `\` escapes something, every `[` is closed and its
 * class is not empty. */
static int glob_valid(const char *g)
{
    for (const char *p = g; *p; p++) {
        if (*p == '\\') {
            if (!*++p)
                return 0;
        } else if (*p == '[') {
            p++;
            if (*p == '!' || *p == '^')
                p++;
            if (*p == ']' || *p == '\0')
                return 0; /* empty class, or unclosed */
            for (; *p && *p != ']'; p++)
                if (*p == '\\' && !*++p)
                    return 0;
            if (!*p)
                return 0;
        }
    }
    return 1;
}

/* Appends component text[0..len) to p (".." pops what it can, as
 * filepath.Clean does). */
static vault_error part_push(vlt_pattern *p, size_t *cap, const char *text,
                             size_t len)
{
    if (len == 1 && text[0] == '.')
        return VAULT_OK;
    if (len == 2 && text[0] == '.' && text[1] == '.') {
        if (p->n_parts > 0 && !(p->parts[p->n_parts - 1].text &&
                                strcmp(p->parts[p->n_parts - 1].text,
                                       "..") == 0)) {
            free(p->parts[--p->n_parts].text);
            return VAULT_OK;
        }
        if (p->anchored)
            return VAULT_OK; /* "/.." is "/" */
    }
    if (VLT_ARRAY_GROW(&p->parts, cap, p->n_parts + 1) != 0)
        return vlt_fail(VAULT_E_NOMEM, "pattern: out of memory");
    vlt_pattern_part *part = &p->parts[p->n_parts];
    part->glob = 0;
    part->text = NULL;
    if (len == 2 && text[0] == '*' && text[1] == '*') {
        /* "**" twice in a row is the same as once */
        if (p->n_parts > 0 && !p->parts[p->n_parts - 1].text)
            return VAULT_OK;
    } else {
        if (!(part->text = strndup(text, len)))
            return vlt_fail(VAULT_E_NOMEM, "pattern: out of memory");
        part->glob = strpbrk(part->text, "\\[]*?") != NULL;
        if (part->glob && !glob_valid(part->text)) {
            free(part->text);
            return vlt_fail(VAULT_E_INVALID,
                            "invalid pattern %s: an unclosed [, an empty "
                            "class or a \\ at the end",
                            p->original);
        }
    }
    p->n_parts++;
    return VAULT_OK;
}

vault_error vlt_pattern_list_add(vlt_pattern_list *l, const char *pattern,
                                 unsigned flags)
{
    if (!pattern[0])
        return VAULT_OK;
    if (VLT_ARRAY_GROW(&l->items, &l->cap, l->n + 1) != 0)
        return vlt_fail(VAULT_E_NOMEM, "pattern: out of memory");
    vlt_pattern *p = &l->items[l->n];
    memset(p, 0, sizeof *p);
    p->flags = flags;
    if (!(p->original = strdup(pattern)))
        return vlt_fail(VAULT_E_NOMEM, "pattern: out of memory");
    const char *s = pattern;
    if (*s == '!') {
        p->negated = 1;
        s++;
    }
    size_t len = strlen(s);
    if (len == 0) {
        pattern_free(p);
        return vlt_fail(VAULT_E_INVALID, "invalid pattern %s: nothing after "
                                         "the !", pattern);
    }
    p->anchored = s[0] == '/';
    p->dir_only = len > 1 && s[len - 1] == '/';
    size_t cap = 0;
    vault_error rc = VAULT_OK;
    while (*s && rc == VAULT_OK) {
        size_t n = strcspn(s, "/");
        if (n > 0)
            rc = part_push(p, &cap, s, n);
        s += n;
        while (*s == '/')
            s++;
    }
    if (rc != VAULT_OK) {
        pattern_free(p);
        return rc;
    }
    if (p->n_parts == 0 && !p->anchored) {
        /* "." or "a/..": the current directory, which no path is */
        pattern_free(p);
        return vlt_fail(VAULT_E_INVALID,
                        "invalid pattern %s: it names no file", pattern);
    }
    l->has_negated |= p->negated;
    l->n++;
    return VAULT_OK;
}

static int part_match(const vlt_pattern_part *part, const char *name,
                      int fold)
{
    if (part->glob)
        return fnmatch(part->text, name, fold ? FNM_CASEFOLD : 0) == 0;
    return fold ? strcasecmp(part->text, name) == 0
                : strcmp(part->text, name) == 0;
}

/* Whether p matches a window of comps[0..n) (see the top of the file);
 * reach and next are scratch of n + 1 bytes. */
static int pattern_match(const vlt_pattern *p, const char *const *comps,
                         size_t n, int is_dir, int fold, int whole,
                         unsigned char *reach, unsigned char *next)
{
    /* Where the window may start: the root only, or anywhere (before the
     * end: a window is never empty). */
    memset(reach, 0, n + 1);
    if (p->anchored)
        reach[0] = 1;
    else
        memset(reach, 1, n);
    for (size_t k = 0; k < p->n_parts; k++) {
        const vlt_pattern_part *part = &p->parts[k];
        int any = 0;
        if (!part->text) {
            int on = 0; /* `**`: every position at or after a reached one */
            for (size_t i = 0; i <= n; i++) {
                on |= reach[i];
                reach[i] = (unsigned char)on;
                any |= on;
            }
            continue;
        }
        next[0] = 0;
        for (size_t i = 0; i < n; i++) {
            next[i + 1] =
                reach[i] && part_match(part, comps[i], fold) ? 1 : 0;
            any |= next[i + 1];
        }
        if (!any)
            return 0;
        memcpy(reach, next, n + 1);
    }
    /* The window ends at the path's end, or before it (on an ancestor,
     * which is a directory) unless the list wants whole paths. */
    if (whole)
        return reach[n] && (!p->dir_only || is_dir);
    for (size_t i = p->anchored ? 0 : 1; i <= n; i++)
        if (reach[i] && (!p->dir_only || i < n || is_dir))
            return 1;
    return 0;
}

int vlt_pattern_list_match(const vlt_pattern_list *l, const char *path,
                           int is_dir, unsigned char *hits)
{
    if (l->n == 0)
        return 0;
    char buf[PATH_MAX + 1];
    size_t len = strlen(path);
    if (len > PATH_MAX || path[0] != '/')
        return 0; /* the walk makes no such path */
    memcpy(buf, path, len + 1);
    const char *stack_comps[64], **comps = stack_comps;
    unsigned char stack_scratch[2 * 65];
    unsigned char *scratch = stack_scratch;
    size_t n = 0;
    for (char *s = buf + 1; *s;) {
        n++;
        char *slash = strchr(s, '/');
        if (!slash)
            break;
        s = slash + 1;
    }
    /* Deep paths take the heap; most fit on the stack. */
    void *heap = NULL;
    if (n > 64) {
        heap = malloc(n * sizeof *comps + 2 * (n + 1));
        if (!heap)
            return 0;
        comps = heap;
        scratch = (unsigned char *)(comps + n);
    }
    size_t i = 0;
    for (char *s = buf + 1; *s && i < n;) {
        comps[i++] = s;
        char *slash = strchr(s, '/');
        if (!slash)
            break;
        *slash = '\0';
        s = slash + 1;
    }
    n = i;
    int fold = (l->flags & VLT_PATTERN_CASEFOLD) != 0;
    int whole = (l->flags & VLT_PATTERN_WHOLE) != 0;
    int matched = 0;
    for (size_t k = 0; k < l->n; k++) {
        const vlt_pattern *p = &l->items[k];
        if (p->negated && !matched)
            continue; /* nothing to take back */
        int m = pattern_match(p, comps, n, is_dir, fold, whole, scratch,
                              scratch + n + 1);
        if (m && hits)
            hits[k] = 1;
        if (p->negated)
            matched = matched && !m;
        else
            matched = matched || m;
        if (matched && !l->has_negated && !hits)
            break; /* without negations the answer cannot change */
    }
    free(heap);
    return matched;
}

/* Appends the value of $NAME, ${NAME} or $$ at s (after the `$`) to out
 * (at *o, room cap); returns how many bytes of s it used, 0 if none
 * (the `$` is then kept), or SIZE_MAX if out has no room. */
static size_t expand_var(const char *s, char *out, size_t *o, size_t cap)
{
    char name[256];
    size_t used, len;
    if (s[0] == '$') {
        if (*o + 1 >= cap)
            return SIZE_MAX;
        out[(*o)++] = '$';
        return 1;
    }
    if (s[0] == '{') {
        const char *end = strchr(s, '}');
        if (!end || end == s + 1)
            return 0;
        len = (size_t)(end - s - 1);
        if (len >= sizeof name)
            return 0;
        memcpy(name, s + 1, len);
        used = len + 2;
    } else {
        len = 0;
        while (s[len] && (isalnum((unsigned char)s[len]) || s[len] == '_'))
            len++;
        if (len == 0 || len >= sizeof name)
            return 0;
        memcpy(name, s, len);
        used = len;
    }
    name[len] = '\0';
    const char *value = getenv(name);
    size_t vlen = value ? strlen(value) : 0;
    if (*o + vlen >= cap)
        return SIZE_MAX;
    if (vlen)
        memcpy(out + *o, value, vlen);
    *o += vlen;
    return used;
}

vault_error vlt_pattern_list_read_file(vlt_pattern_list *l, const char *file)
{
    FILE *f = fopen(file, "re");
    if (!f)
        return vlt_fail_errno(errno, "exclude file %s", file);
    char line[LINE_MAX_BYTES + 2], expanded[LINE_MAX_BYTES + 1];
    vault_error rc = VAULT_OK;
    unsigned long lineno = 0;
    while (rc == VAULT_OK && fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len > LINE_MAX_BYTES) {
            rc = vlt_fail(VAULT_E_INVALID, "exclude file %s, line %lu: "
                                           "longer than %d bytes",
                          file, lineno, LINE_MAX_BYTES);
            break;
        }
        char *s = line;
        if (lineno == 1 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
            s += 3; /* a UTF-8 byte order mark */
        while (*s && isspace((unsigned char)*s))
            s++;
        char *e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1]))
            *--e = '\0';
        if (!*s || *s == '#')
            continue;
        size_t o = 0;
        for (; *s && rc == VAULT_OK; s++) {
            size_t used = 0;
            if (*s == '$') {
                used = expand_var(s + 1, expanded, &o, sizeof expanded);
                if (used == SIZE_MAX) {
                    rc = vlt_fail(VAULT_E_INVALID,
                                  "exclude file %s, line %lu: longer than "
                                  "%d bytes once expanded",
                                  file, lineno, LINE_MAX_BYTES);
                    break;
                }
                s += used;
                if (used)
                    continue;
            }
            if (o + 1 >= sizeof expanded) {
                rc = vlt_fail(VAULT_E_INVALID,
                              "exclude file %s, line %lu: too long", file,
                              lineno);
                break;
            }
            expanded[o++] = *s;
        }
        expanded[o] = '\0';
        if (rc == VAULT_OK) {
            rc = vlt_pattern_list_add(l, expanded, VLT_PATTERN_QUIET);
            if (rc != VAULT_OK)
                vlt_fail_context(rc, "exclude file %s, line %lu", file,
                                 lineno);
        }
    }
    if (rc == VAULT_OK && ferror(f))
        rc = vlt_fail_errno(EIO, "exclude file %s", file);
    fclose(f);
    return rc;
}
