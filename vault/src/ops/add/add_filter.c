/*
 * add_filter.c - what `add` leaves out of a walk (add_filter.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/array.h"
#include "common/internal.h"
#include "ops/add/add_filter.h"
#include "ops/add/add_source.h"

/* The Cache Directory Tagging Specification (bford.info/cachedir): a
 * file CACHEDIR.TAG that starts with these 43 bytes. */
#define CACHEDIR_TAG_NAME "CACHEDIR.TAG"
#define CACHEDIR_TAG_SIGNATURE "Signature: 8a477f597d28d172789f06886806bc55"
/* A tag's header read at most (restic reads exactly its length). */
#define TAG_HEADER_MAX 4096

static vault_error tag_add(add_filter *f, size_t *cap, const char *spec)
{
    const char *colon = strchr(spec, ':');
    size_t name_len = colon ? (size_t)(colon - spec) : strlen(spec);
    if (name_len == 0)
        return vlt_fail(VAULT_E_INVALID,
                        "exclude-if-present \"%s\": no file name", spec);
    if (memchr(spec, '/', name_len) ||
        (name_len <= 2 && strncmp(spec, "..", name_len) == 0))
        return vlt_fail(VAULT_E_INVALID,
                        "exclude-if-present \"%s\": a file name, not a "
                        "path", spec);
    if (colon && strlen(colon + 1) > TAG_HEADER_MAX)
        return vlt_fail(VAULT_E_INVALID,
                        "exclude-if-present: a header of more than %d bytes",
                        TAG_HEADER_MAX);
    if (VLT_ARRAY_GROW(&f->tags, cap, f->n_tags + 1) != 0)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    add_tag *t = &f->tags[f->n_tags];
    t->name = strndup(spec, name_len);
    t->header = colon && colon[1] ? strdup(colon + 1) : NULL;
    if (!t->name || (colon && colon[1] && !t->header)) {
        free(t->name);
        free(t->header);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    f->n_tags++;
    return VAULT_OK;
}

vault_error vlt_add_filter_init(add_filter *f, const vault_add_options *o)
{
    memset(f, 0, sizeof *f);
    f->folded.flags = VLT_PATTERN_CASEFOLD;
    f->larger_than = o->exclude_larger_than;
    vault_error rc = VAULT_OK;
    for (size_t i = 0; rc == VAULT_OK && i < o->n_excludes; i++)
        rc = vlt_pattern_list_add(&f->exact, o->excludes[i], 0);
    for (size_t i = 0; rc == VAULT_OK && i < o->n_exclude_files; i++)
        rc = vlt_pattern_list_read_file(&f->exact, o->exclude_files[i]);
    for (size_t i = 0; rc == VAULT_OK && i < o->n_iexcludes; i++)
        rc = vlt_pattern_list_add(&f->folded, o->iexcludes[i], 0);
    for (size_t i = 0; rc == VAULT_OK && i < o->n_iexclude_files; i++)
        rc = vlt_pattern_list_read_file(&f->folded, o->iexclude_files[i]);
    size_t cap = 0;
    if (rc == VAULT_OK && o->exclude_caches)
        rc = tag_add(f, &cap, CACHEDIR_TAG_NAME ":" CACHEDIR_TAG_SIGNATURE);
    for (size_t i = 0; rc == VAULT_OK && i < o->n_exclude_if_present; i++)
        rc = tag_add(f, &cap, o->exclude_if_present[i]);
    if (rc != VAULT_OK)
        return rc;
    f->hits_exact = calloc(f->exact.n ? f->exact.n : 1, 1);
    f->hits_folded = calloc(f->folded.n ? f->folded.n : 1, 1);
    if (!f->hits_exact || !f->hits_folded)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    return VAULT_OK;
}

void vlt_add_filter_free(add_filter *f)
{
    vlt_pattern_list_free(&f->exact);
    vlt_pattern_list_free(&f->folded);
    free(f->hits_exact);
    free(f->hits_folded);
    for (size_t i = 0; i < f->n_tags; i++) {
        free(f->tags[i].name);
        free(f->tags[i].header);
    }
    free(f->tags);
    memset(f, 0, sizeof *f);
}

int vlt_add_filter_excludes(add_filter *f, const char *path,
                            const struct stat *st, int count)
{
    if (f->larger_than && S_ISREG(st->st_mode) &&
        (uint64_t)st->st_size > f->larger_than)
        return 1;
    int is_dir = S_ISDIR(st->st_mode);
    return vlt_pattern_list_match(&f->exact, path, is_dir,
                                  count ? f->hits_exact : NULL) ||
           vlt_pattern_list_match(&f->folded, path, is_dir,
                                  count ? f->hits_folded : NULL);
}

static int name_cmp(const void *key, const void *elem)
{
    return strcmp(key, *(char *const *)elem);
}

/* Whether tag file name in dfd starts with header (a regular file, not
 * followed through a symlink). */
static int header_matches(int dfd, const char *path, const char *name,
                          const char *header)
{
    size_t want = strlen(header);
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        vlt_warn("%s/%s: cannot open the exclusion tag file: %s", path,
                 name, strerror(errno));
        return 0;
    }
    struct stat st;
    char buf[TAG_HEADER_MAX];
    size_t got = 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        while (got < want) {
            ssize_t n = read(fd, buf + got, want - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            got += (size_t)n;
        }
    }
    close(fd);
    if (got == want && memcmp(buf, header, want) == 0)
        return 1;
    vlt_warn("%s/%s: not a valid exclusion tag file (it does not start "
             "with \"%s\"); the folder is kept",
             path, name, header);
    return 0;
}

int vlt_add_filter_tagged(const add_filter *f, int dfd, const char *path,
                          const void *entries, size_t n, size_t size,
                          size_t *keep)
{
    for (size_t i = 0; i < f->n_tags; i++) {
        const add_tag *t = &f->tags[i];
        const char *hit = bsearch(t->name, entries, n, size, name_cmp);
        if (!hit)
            continue;
        if (t->header && !header_matches(dfd, path, t->name, t->header))
            continue;
        *keep = (size_t)(hit - (const char *)entries) / size;
        return 1;
    }
    return 0;
}

void vlt_add_filter_warn_unmatched(const add_filter *f)
{
    const vlt_pattern_list *lists[2] = {&f->exact, &f->folded};
    const unsigned char *hits[2] = {f->hits_exact, f->hits_folded};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < lists[k]->n; i++) {
            const vlt_pattern *p = &lists[k]->items[i];
            if (!hits[k][i] && !p->negated && !(p->flags & VLT_PATTERN_QUIET))
                vlt_warn("exclude pattern \"%s\" matched nothing",
                         p->original);
        }
}

/* ---- --files-from ------------------------------------------------------- */

typedef struct path_list {
    char **items;
    size_t n, cap;
    size_t n_given; /* the first ones: given, never dropped */
} path_list;

void vlt_add_paths_free(char **paths, size_t n_paths)
{
    for (size_t i = 0; i < n_paths; i++)
        free(paths[i]);
    free(paths);
}

static vault_error path_push(path_list *l, const char *path)
{
    if (VLT_ARRAY_GROW(&l->items, &l->cap, l->n + 1) != 0 ||
        !(l->items[l->n] = strdup(path)))
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    l->n++;
    return VAULT_OK;
}

/* Pushes what line (from a --files-from list of the kind given) names. */
static vault_error path_line(path_list *l, char *line, int kind,
                             const char *file)
{
    if (kind == 0) {
        /* a glob, trimmed, `#` starts a comment line */
        while (*line == ' ' || *line == '\t')
            line++;
        char *e = line + strlen(line);
        while (e > line && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            *--e = '\0';
        if (!*line || *line == '#')
            return VAULT_OK;
        glob_t g;
        int grc = glob(line, 0, NULL, &g);
        if (grc == GLOB_NOMATCH) {
            vlt_warn("%s: \"%s\" matches no file; skipped", file, line);
            return VAULT_OK;
        }
        if (grc != 0)
            return vlt_fail(grc == GLOB_NOSPACE ? VAULT_E_NOMEM : VAULT_E_IO,
                            "%s: cannot expand \"%s\"", file, line);
        vault_error rc = VAULT_OK;
        for (size_t i = 0; rc == VAULT_OK && i < g.gl_pathc; i++)
            rc = path_push(l, g.gl_pathv[i]);
        globfree(&g);
        return rc;
    }
    if (!*line)
        return VAULT_OK; /* empty lines are skipped in every kind */
    return path_push(l, line);
}

/* Reads list file (kind 0: globs, 1: verbatim lines, 2: NUL-ended). */
static vault_error paths_read(path_list *l, const char *file, int kind,
                              int input_fd)
{
    int from_stdin = strcmp(file, "-") == 0;
    FILE *f = from_stdin ? fdopen(dup(input_fd), "r") : fopen(file, "re");
    if (!f)
        return vlt_fail_errno(errno, "files-from %s", file);
    int delim = kind == 2 ? '\0' : '\n';
    char line[PATH_MAX + 1];
    size_t len = 0;
    vault_error rc = VAULT_OK;
    for (;;) {
        int c = getc(f);
        if (c == EOF || c == delim) {
            if (c == EOF && len == 0)
                break;
            line[len] = '\0';
            rc = path_line(l, line, kind, file);
            len = 0;
            if (rc != VAULT_OK || c == EOF)
                break;
            continue;
        }
        if (len == PATH_MAX) {
            rc = vlt_fail(VAULT_E_INVALID,
                          "files-from %s: a line longer than %d bytes%s",
                          file, PATH_MAX,
                          kind == 2 ? " (not NUL-separated?)" : "");
            break;
        }
        line[len++] = (char)c;
    }
    if (rc == VAULT_OK && ferror(f))
        rc = vlt_fail_errno(EIO, "files-from %s", file);
    fclose(f);
    return rc;
}

static int str_ptr_cmp(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* A sorted copy of paths[0..n), each made absolute; NULL: failed. */
static char **paths_sorted(char *const *paths, size_t n, vault_error *rc)
{
    char **sorted = calloc(n ? n : 1, sizeof *sorted);
    char abs[PATH_MAX + 1];
    *rc = sorted ? VAULT_OK : vlt_fail(VAULT_E_NOMEM, "out of memory");
    for (size_t i = 0; *rc == VAULT_OK && i < n; i++)
        if ((*rc = vlt_add_absolute_path(paths[i], abs)) == VAULT_OK &&
            !(sorted[i] = strdup(abs)))
            *rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
    if (*rc != VAULT_OK) {
        if (sorted)
            vlt_add_paths_free(sorted, n);
        return NULL;
    }
    qsort(sorted, n, sizeof *sorted, str_ptr_cmp);
    return sorted;
}

static int paths_have(char *const *sorted, size_t n, const char *path)
{
    return bsearch(&path, sorted, n, sizeof *sorted, str_ptr_cmp) != NULL;
}

/* Makes the listed paths (after the given ones) absolute and sorted, and
 * drops each that is, or is below, another path of l (given or listed):
 * its ancestors are looked up in a sorted copy of all. */
static vault_error paths_dedupe(path_list *l)
{
    size_t n_listed = l->n - l->n_given;
    if (n_listed == 0)
        return VAULT_OK;
    vault_error rc;
    char **listed = paths_sorted(l->items + l->n_given, n_listed, &rc);
    if (!listed)
        return rc;
    char **all = paths_sorted(l->items, l->n, &rc);
    char **given = all ? paths_sorted(l->items, l->n_given, &rc) : NULL;
    if (!all || !given) {
        vlt_add_paths_free(listed, n_listed);
        if (all)
            vlt_add_paths_free(all, l->n);
        return rc;
    }
    for (size_t i = l->n_given; i < l->n; i++)
        free(l->items[i]);
    size_t kept = l->n_given;
    char up[PATH_MAX + 1];
    const char *prev = "";
    for (size_t i = 0; i < n_listed; i++) {
        char *p = listed[i];
        int covered = strcmp(prev, p) == 0 || paths_have(given, l->n_given, p);
        prev = p;
        memcpy(up, p, strlen(p) + 1);
        char *slash;
        while (!covered && (slash = strrchr(up, '/')) != NULL && slash > up) {
            *slash = '\0';
            covered = paths_have(all, l->n, up);
        }
        if (!covered) {
            l->items[kept++] = p; /* moved: l frees it */
            listed[i] = NULL;
        }
    }
    for (size_t i = 0; i < n_listed; i++)
        free(listed[i]);
    free(listed);
    vlt_add_paths_free(all, l->n);
    vlt_add_paths_free(given, l->n_given);
    l->n = kept;
    return VAULT_OK;
}

vault_error vlt_add_paths_gather(const vault_add_options *o, char ***paths,
                                 size_t *n_paths)
{
    path_list l = {0};
    vault_error rc = VAULT_OK;
    for (size_t i = 0; rc == VAULT_OK && i < o->n_paths; i++)
        rc = path_push(&l, o->paths[i]);
    l.n_given = l.n;
    const char *const *lists[3] = {o->files_from, o->files_from_verbatim,
                                   o->files_from_raw};
    size_t counts[3] = {o->n_files_from, o->n_files_from_verbatim,
                        o->n_files_from_raw};
    for (int kind = 0; kind < 3; kind++)
        for (size_t i = 0; rc == VAULT_OK && i < counts[kind]; i++)
            rc = paths_read(&l, lists[kind][i], kind, o->input_fd);
    if (rc == VAULT_OK)
        rc = paths_dedupe(&l);
    if (rc != VAULT_OK) {
        vlt_add_paths_free(l.items, l.n);
        return rc;
    }
    *paths = l.items;
    *n_paths = l.n;
    return VAULT_OK;
}
