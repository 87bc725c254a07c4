/*
 * snapshot_list.c - `snapshots`: listing a vault's snapshots, and
 * resolving what a user names one by ("latest", an ID prefix).
 */
#include <stdlib.h>
#include <string.h>

#include "common/internal.h"
#include "ops/snapshot_list.h"
#include "repo/membership.h"
#include "repo/repo.h"
#include "repo/tree_walk.h"

vault_error vault_snapshot_count(vault_t *v, size_t *n)
{
    char(*names)[65];
    vault_error rc = vlt_repo_snapshot_names(v, &names, n);
    free(names);
    return rc;
}

vault_error vlt_snapshot_need_read(const vault_t *v)
{
    if (!vlt_keyring_can_read(v->keys))
        return vlt_fail(VAULT_E_PERMISSION,
                        "%s: member %s has the writer role: it can add "
                        "snapshots but not read them",
                        v->location, v->member);
    return VAULT_OK;
}

static char *dup_str(const char *s)
{
    return strdup(s ? s : "");
}

static int info_cmp(const void *a, const void *b)
{
    const vault_snapshot_info *x = a, *y = b;
    if (x->time_sec != y->time_sec)
        return x->time_sec < y->time_sec ? -1 : 1;
    if (x->time_nsec != y->time_nsec)
        return x->time_nsec < y->time_nsec ? -1 : 1;
    return strcmp(x->id, y->id);
}

static void free_info_strings(vault_snapshot_info *s)
{
    free(s->author);
    free(s->damage);
    free(s->hostname);
    free(s->username);
    for (size_t j = 0; s->paths && j < s->n_paths; j++)
        free(s->paths[j]);
    for (size_t j = 0; s->tags && j < s->n_tags; j++)
        free(s->tags[j]);
    free(s->paths);
    free(s->tags);
}

static vault_error strv_copy(char **src, uint32_t n, char ***dst)
{
    *dst = calloc(n ? n : 1, sizeof **dst);
    if (!*dst)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    for (uint32_t i = 0; i < n; i++)
        if (!((*dst)[i] = strdup(src[i])))
            return vlt_fail(VAULT_E_NOMEM, "out of memory");
    return VAULT_OK;
}

/* The author of rec as people see it: recipient, key, role now. */
static vault_error fill_author(const vault_t *v, const snapshot_record *rec,
                               vault_snapshot_info *s)
{
    const member_entry *m = vlt_membership_find(v->members, rec->author);
    vlt_hex_encode(rec->author, SIGN_PUBLIC_BYTES, s->author_key);
    switch (vlt_membership_standing(v->members, rec->author)) {
    case AUTHOR_OWNER: s->author_role = VAULT_ROLE_OWNER; break;
    case AUTHOR_READER: s->author_role = VAULT_ROLE_READER; break;
    case AUTHOR_WRITER: s->author_role = VAULT_ROLE_WRITER; break;
    default: s->author_role = 0; break; /* former member */
    }
    s->author_is_me = memcmp(rec->author, v->keys->sign_pk,
                             SIGN_PUBLIC_BYTES) == 0;
    if (!(s->author = dup_str(m ? m->recipient : NULL)))
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    return VAULT_OK;
}

/* Loads snapshots/<s->id> into s.  A snapshot sealed in an epoch this
 * member does not hold is left unreadable, and a damaged or forged one
 * gets its damage: neither is an error. */
static vault_error fill_info(vault_t *v, vault_snapshot_info *s)
{
    snapshot_record rec;
    vault_error rc = vlt_repo_snapshot_load(v, s->id, &rec);
    if (rc == VAULT_E_PERMISSION)
        return VAULT_OK; /* listed as unreadable, not an error */
    if (rc == VAULT_E_CORRUPT || rc == VAULT_E_UNSUPPORTED) {
        /* Junk under a valid name (anyone with write access can put it
         * there): listed as damaged, so that it hides neither the other
         * snapshots nor itself. */
        if (!(s->damage = dup_str(vault_last_error())))
            return vlt_fail(VAULT_E_NOMEM, "out of memory");
        return VAULT_OK;
    }
    if (rc != VAULT_OK)
        return rc;
    s->readable = 1;
    s->time_sec = rec.time_sec;
    s->time_nsec = rec.time_nsec;
    s->files = rec.files;
    s->dirs = rec.dirs;
    s->bytes_read = rec.bytes_read;
    s->bytes_added = rec.bytes_added;
    s->n_paths = rec.n_paths;
    s->n_tags = rec.n_tags;
    if (!(s->hostname = dup_str(rec.hostname)) ||
        !(s->username = dup_str(rec.username)))
        rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
    if (rc == VAULT_OK)
        rc = strv_copy(rec.paths, rec.n_paths, &s->paths);
    if (rc == VAULT_OK)
        rc = strv_copy(rec.tags, rec.n_tags, &s->tags);
    if (rc == VAULT_OK)
        rc = fill_author(v, &rec, s);
    vlt_snapshot_clear(&rec);
    return rc;
}

vault_error vault_snapshots(vault_t *v, vault_snapshot_info **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    vault_error rc = vlt_snapshot_need_read(v);
    if (rc != VAULT_OK)
        return rc;
    char(*names)[65];
    size_t count;
    rc = vlt_repo_snapshot_names(v, &names, &count);
    if (rc != VAULT_OK)
        return rc;
    vault_snapshot_info *list = calloc(count ? count : 1, sizeof *list);
    if (!list) {
        free(names);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < count && rc == VAULT_OK; i++) {
        memcpy(list[i].id, names[i], 65);
        rc = fill_info(v, &list[i]);
    }
    free(names);
    if (rc != VAULT_OK) {
        vault_snapshots_free(list, count);
        return rc;
    }
    qsort(list, count, sizeof *list, info_cmp);
    *out = list;
    *n = count;
    return VAULT_OK;
}

vault_error vault_snapshot_get(vault_t *v, const char *ref,
                               vault_snapshot_info **out)
{
    *out = NULL;
    vault_snapshot_info *s = calloc(1, sizeof *s);
    if (!s)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    vault_error rc = vault_snapshot_resolve(v, ref, s->id);
    if (rc == VAULT_OK)
        rc = fill_info(v, s);
    if (rc == VAULT_OK && !s->readable)
        rc = s->damage ? vlt_fail(VAULT_E_CORRUPT, "%s", s->damage)
                       : vlt_fail(VAULT_E_PERMISSION,
                                  "snapshot %s: sealed in a key epoch "
                                  "this member does not hold",
                                  s->id);
    if (rc != VAULT_OK) {
        vault_snapshots_free(s, 1);
        return rc;
    }
    *out = s;
    return VAULT_OK;
}

void vault_snapshots_free(vault_snapshot_info *list, size_t n)
{
    if (!list)
        return;
    for (size_t i = 0; i < n; i++)
        free_info_strings(&list[i]);
    free(list);
}

/* The index of "latest" in list (oldest first), n if none is readable:
 * the newest this member wrote, else the newest a current owner wrote,
 * else the newest (format spec "Naming, ordering and latest"). */
static size_t latest_of(const vault_snapshot_info *list, size_t n)
{
    size_t mine = n, owners = n, any = n;
    for (size_t i = 0; i < n; i++) {
        if (!list[i].readable)
            continue;
        any = i;
        if (list[i].author_is_me)
            mine = i;
        if (list[i].author_role == VAULT_ROLE_OWNER)
            owners = i;
    }
    return mine < n ? mine : owners < n ? owners : any;
}

/* Whether s has every tag of the comma-separated group. */
static int has_tag_group(const vault_snapshot_info *s, const char *group)
{
    const char *p = group;
    while (*p) {
        size_t len = strcspn(p, ",");
        int found = len == 0; /* "a,,b": an empty tag asks nothing */
        for (size_t j = 0; j < s->n_tags && !found; j++)
            found = strlen(s->tags[j]) == len &&
                    memcmp(s->tags[j], p, len) == 0;
        if (!found)
            return 0;
        p += len;
        if (*p == ',')
            p++;
    }
    return 1;
}

/* Whether the readable snapshot s passes filter f (NULL: all do). */
static int filter_passes(const vault_snapshot_filter *f,
                         const vault_snapshot_info *s)
{
    if (!f)
        return 1;
    if (!s->readable)
        return 0;
    if (f->host && strcmp(f->host, s->hostname) != 0)
        return 0;
    for (size_t i = 0; i < f->n_paths; i++) {
        int found = 0;
        for (size_t j = 0; j < s->n_paths && !found; j++)
            found = strcmp(f->paths[i], s->paths[j]) == 0;
        if (!found)
            return 0;
    }
    if (f->n_tags == 0)
        return 1;
    for (size_t i = 0; i < f->n_tags; i++)
        if (has_tag_group(s, f->tags[i]))
            return 1;
    return 0;
}

static vault_error resolve_latest(vault_t *v, const vault_snapshot_filter *f,
                                  char id[65])
{
    vault_snapshot_info *list;
    size_t n;
    vault_error rc = vault_snapshots(v, &list, &n);
    if (rc != VAULT_OK)
        return rc;
    /* Those the filter stops are left out as the unreadable are. */
    for (size_t i = 0; i < n; i++)
        if (!filter_passes(f, &list[i]))
            list[i].readable = 0;
    size_t last = latest_of(list, n);
    if (last < n)
        memcpy(id, list[last].id, 65);
    vault_snapshots_free(list, n);
    if (last == n && f)
        return vlt_fail(VAULT_E_NOT_FOUND,
                        "%s: no snapshot this member can read matches the "
                        "filter (--host, --path, --tag)",
                        v->location);
    if (last == n)
        return vlt_fail(VAULT_E_NOT_FOUND,
                        "%s: no snapshots this member can read",
                        v->location);
    return VAULT_OK;
}

static vault_error resolve_prefix(vault_t *v, const char *ref, char id[65])
{
    size_t len = strlen(ref);
    if (len < 4 || len > 64 || strspn(ref, "0123456789abcdef") != len)
        return vlt_fail(VAULT_E_INVALID,
                        "%s: not a snapshot ID (4 to 64 lower-case hex "
                        "digits) or \"latest\"",
                        ref);
    char(*names)[65];
    size_t n, matches = 0;
    vault_error rc = vlt_repo_snapshot_names(v, &names, &n);
    if (rc != VAULT_OK)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (strncmp(names[i], ref, len) == 0 && matches++ == 0)
            memcpy(id, names[i], 65);
    free(names);
    if (matches == 0)
        return vlt_fail(VAULT_E_NOT_FOUND, "snapshot %s: not found", ref);
    if (matches > 1)
        return vlt_fail(VAULT_E_INVALID,
                        "snapshot %s: prefix is ambiguous (%zu match)", ref,
                        matches);
    return VAULT_OK;
}

vault_error vault_snapshot_resolve_filtered(vault_t *v, const char *ref,
                                            const vault_snapshot_filter *f,
                                            char id[65])
{
    vault_error rc = vlt_snapshot_need_read(v);
    if (rc != VAULT_OK)
        return rc;
    if (!ref || !ref[0])
        return vlt_fail(VAULT_E_INVALID, "no snapshot given");
    if (strcmp(ref, "latest") == 0)
        return resolve_latest(v, f, id);
    rc = resolve_prefix(v, ref, id);
    if (rc != VAULT_OK || !f)
        return rc;
    vault_snapshot_info s = {0};
    memcpy(s.id, id, 65);
    rc = fill_info(v, &s);
    if (rc == VAULT_OK && !filter_passes(f, &s))
        rc = vlt_fail(VAULT_E_NOT_FOUND,
                      "snapshot %.8s: does not match the filter (--host, "
                      "--path, --tag)",
                      id);
    free_info_strings(&s);
    return rc;
}

vault_error vault_snapshot_resolve(vault_t *v, const char *ref, char id[65])
{
    return vault_snapshot_resolve_filtered(v, ref, NULL, id);
}

vault_error vlt_snapshot_open_id(vault_t *v, const char id[65],
                                 snapshot_record *rec)
{
    vault_error rc = vlt_repo_load_index(v);
    if (rc == VAULT_OK)
        rc = vlt_repo_snapshot_load(v, id, rec);
    return rc;
}

vault_error vlt_snapshot_open_ref(vault_t *v, const char *ref,
                                  snapshot_record *rec)
{
    char id[65];
    vault_error rc = vault_snapshot_resolve(v, ref, id);
    if (rc == VAULT_OK)
        rc = vlt_snapshot_open_id(v, id, rec);
    return rc;
}

vault_error vlt_snapshot_select(vault_t *v, const char *const *refs, size_t n,
                                const vault_snapshot_filter *f,
                                char (**ids)[65], size_t *count)
{
    *ids = NULL;
    *count = 0;
    if (n) {
        if (!(*ids = calloc(n, sizeof **ids)))
            return vlt_fail(VAULT_E_NOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
            vault_error rc =
                vault_snapshot_resolve_filtered(v, refs[i], f, (*ids)[i]);
            if (rc != VAULT_OK) {
                free(*ids);
                *ids = NULL;
                return rc;
            }
        }
        *count = n;
        return VAULT_OK;
    }
    vault_snapshot_info *list;
    size_t all;
    vault_error rc = vault_snapshots(v, &list, &all);
    if (rc != VAULT_OK)
        return rc;
    if (!(*ids = calloc(all ? all : 1, sizeof **ids))) {
        vault_snapshots_free(list, all);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < all; i++)
        if (list[i].readable && filter_passes(f, &list[i]))
            memcpy((*ids)[(*count)++], list[i].id, 65);
    vault_snapshots_free(list, all);
    return VAULT_OK;
}

void vlt_file_info_of(const char *path, const tree_node *n,
                      vault_file_info *out)
{
    *out = (vault_file_info){
        .path = path[0] ? path : "/",
        .type = (vault_file_type)n->type,
        .mode = n->mode,
        .uid = n->uid,
        .gid = n->gid,
        .user = n->user ? n->user : "",
        .group = n->group ? n->group : "",
        .size = n->size,
        .mtime_sec = n->mtime_sec,
        .mtime_nsec = n->mtime_nsec,
        .target = n->target,
        .nlink = n->nlink,
        .inode = n->inode,
    };
}

vault_error vlt_snapshot_find(vault_t *v, const char *ref, const char *path,
                              vlt_tree_found **out)
{
    *out = NULL;
    snapshot_record rec;
    vault_error rc = vlt_snapshot_open_ref(v, ref, &rec);
    if (rc != VAULT_OK)
        return rc;
    vlt_tree_found *at = malloc(sizeof *at);
    if (!at)
        rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
    else
        rc = vlt_tree_find(v, rec.tree, path, at);
    vlt_snapshot_clear(&rec);
    if (rc != VAULT_OK) {
        free(at); /* its tree is clear after a failed find */
        return rc;
    }
    *out = at;
    return VAULT_OK;
}

void vlt_tree_found_free(vlt_tree_found *at)
{
    if (!at)
        return;
    vlt_tree_clear(&at->dir_tree);
    free(at);
}
