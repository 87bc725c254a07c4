/*
 * forget.c - `forget`: removes snapshot objects, named or by a retention
 * policy.  Format spec "Forget policies".
 *
 * The policy is restic's (doc/060_forget.rst): snapshots are grouped (by
 * author always, so that one member's snapshots never count against
 * another's, and by host and paths unless told otherwise), and within a
 * group, newest
 * first, each calendar rule puts snapshots into buckets by local time
 * (hour, day, ISO week, month, year) and keeps the newest snapshot of
 * each of the N newest buckets that hold one; keep-last keeps the N
 * newest; keep-tag keeps every snapshot with the given tags.  A snapshot
 * that any rule keeps is kept; the rest are removed.  (Unlike restic
 * 0.17, the oldest snapshot is not kept additionally when a rule has
 * buckets left over.)
 *
 * Forgetting deletes snapshot objects only; their data stays until a
 * prune finds it unreferenced (prune.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/array.h"
#include "common/internal.h"
#include "repo/repo.h"

enum { RULE_LAST, RULE_HOURLY, RULE_DAILY, RULE_WEEKLY, RULE_MONTHLY,
       RULE_YEARLY, RULE_COUNT };

static const unsigned rule_reason[RULE_COUNT] = {
    VAULT_KEEP_LAST,   VAULT_KEEP_HOURLY,  VAULT_KEEP_DAILY,
    VAULT_KEEP_WEEKLY, VAULT_KEEP_MONTHLY, VAULT_KEEP_YEARLY};

static int days_in_year(int y)
{
    return (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 366 : 365;
}

/* The bucket a snapshot falls into for a rule: YYYYMMDDHH, YYYYMMDD,
 * YYYYWW (ISO 8601 year and week), YYYYMM, YYYY; for keep-last its own
 * position, so that every snapshot is a bucket of its own. */
static int64_t bucket_of(int rule, int64_t sec, size_t position)
{
    if (rule == RULE_LAST)
        return (int64_t)position;
    time_t t = (time_t)sec;
    struct tm tm;
    if (!localtime_r(&t, &tm))
        return -(int64_t)position - 1; /* out of range: a bucket alone */
    int64_t y = (int64_t)tm.tm_year + 1900;
    switch (rule) {
    case RULE_HOURLY:
        return ((y * 100 + tm.tm_mon + 1) * 100 + tm.tm_mday) * 100 +
               tm.tm_hour;
    case RULE_DAILY: return (y * 100 + tm.tm_mon + 1) * 100 + tm.tm_mday;
    case RULE_WEEKLY: {
        /* The ISO week is the one holding this week's Thursday, and its
         * year is that Thursday's year. */
        int weekday = (tm.tm_wday + 6) % 7; /* Monday 0 */
        int thursday = tm.tm_yday - weekday + 3;
        int iy = (int)y;
        if (thursday < 0) {
            iy--;
            thursday += days_in_year(iy);
        } else if (thursday >= days_in_year(iy)) {
            thursday -= days_in_year(iy);
            iy++;
        }
        return (int64_t)iy * 100 + thursday / 7 + 1;
    }
    case RULE_MONTHLY: return y * 100 + tm.tm_mon + 1;
    default: return y;
    }
}

/* Whether the snapshot has every tag of the comma-separated list; the
 * empty list matches untagged snapshots only (as restic's --keep-tag ''). */
static int has_tags(const vault_snapshot_info *s, const char *list)
{
    if (!list[0])
        return s->n_tags == 0;
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        int found = 0;
        for (size_t i = 0; i < s->n_tags && !found; i++)
            found = strlen(s->tags[i]) == len &&
                    memcmp(s->tags[i], p, len) == 0;
        if (len && !found)
            return 0;
        p += len;
        if (*p == ',')
            p++;
    }
    return 1;
}

static int str_ptr_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct strbuf {
    char *p;
    size_t len, cap;
    int failed;
} strbuf;

/* Appends "<length>:<s>", so that no two different lists of strings
 * give the same key. */
static void sb_item(strbuf *b, const char *s)
{
    size_t l = strlen(s);
    size_t need = b->len + l + 24;
    if (b->failed)
        return;
    if (VLT_ARRAY_GROW(&b->p, &b->cap, need) != 0) {
        b->failed = 1;
        return;
    }
    b->len += (size_t)snprintf(b->p + b->len, b->cap - b->len, "%zu:%s", l,
                               s);
}

/* Appends a list of strings, sorted (the order given does not matter). */
static void sb_list(strbuf *b, char **strs, size_t n)
{
    char **sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted) {
        b->failed = 1;
        return;
    }
    memcpy(sorted, strs, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, str_ptr_cmp);
    char count[24];
    snprintf(count, sizeof count, "%zu", n);
    sb_item(b, count);
    for (size_t i = 0; i < n; i++)
        sb_item(b, sorted[i]);
    free(sorted);
}

/* The group key: the author, then host, paths and tags as group_by
 * asks. */
static vault_error group_key(const vault_snapshot_info *s, unsigned group_by,
                             char **out)
{
    strbuf b = {0};
    sb_item(&b, s->author_key);
    if (group_by & VAULT_GROUP_HOST)
        sb_item(&b, s->hostname);
    sb_item(&b, "");
    if (group_by & VAULT_GROUP_PATHS)
        sb_list(&b, s->paths, s->n_paths);
    sb_item(&b, "");
    if (group_by & VAULT_GROUP_TAGS)
        sb_list(&b, s->tags, s->n_tags);
    if (b.failed) {
        free(b.p);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    *out = b.p;
    return VAULT_OK;
}

typedef struct judged {
    vault_forget_entry e;
    char *key;       /* group key; NULL for unreadable snapshots */
    size_t position; /* in the vault_snapshots order (oldest first) */
} judged;

/* By group key, then newest first: the order the policy walks. */
static int judged_cmp(const void *a, const void *b)
{
    const judged *x = a, *y = b;
    if (!x->key != !y->key)
        return x->key ? -1 : 1;
    if (x->key) {
        int c = strcmp(x->key, y->key);
        if (c)
            return c;
    }
    return x->position < y->position ? 1 : x->position > y->position ? -1
                                                                     : 0;
}

static int policy_empty(const vault_forget_options *o)
{
    return !o->keep_last && !o->keep_hourly && !o->keep_daily &&
           !o->keep_weekly && !o->keep_monthly && !o->keep_yearly &&
           o->n_keep_tags == 0;
}

/* Applies the policy to one group, entries [from, to) newest first. */
static void apply_policy(const vault_forget_options *o, judged *j,
                         size_t from, size_t to)
{
    int counts[RULE_COUNT] = {o->keep_last,   o->keep_hourly,
                              o->keep_daily,  o->keep_weekly,
                              o->keep_monthly, o->keep_yearly};
    int64_t last[RULE_COUNT];
    int have_last[RULE_COUNT] = {0};
    for (size_t i = from; i < to; i++) {
        const vault_snapshot_info *s = j[i].e.snapshot;
        unsigned reasons = 0;
        for (size_t t = 0; t < o->n_keep_tags; t++)
            if (has_tags(s, o->keep_tags[t]))
                reasons |= VAULT_KEEP_TAG;
        for (int r = 0; r < RULE_COUNT; r++) {
            if (counts[r] == 0)
                continue;
            int64_t b = bucket_of(r, s->time_sec, i - from);
            if (have_last[r] && last[r] == b)
                continue; /* a newer snapshot already stands for it */
            have_last[r] = 1;
            last[r] = b;
            if (counts[r] > 0)
                counts[r]--;
            reasons |= rule_reason[r];
        }
        j[i].e.reasons = reasons;
        j[i].e.removed = reasons == 0;
    }
}

static vault_error check_options(const vault_forget_options *o)
{
    int rules[] = {o->keep_last,   o->keep_hourly,  o->keep_daily,
                   o->keep_weekly, o->keep_monthly, o->keep_yearly};
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(rules); i++)
        if (rules[i] < VAULT_KEEP_ALL)
            return vlt_fail(VAULT_E_INVALID,
                            "forget: a keep count must be at least 0");
    if (o->n_keep_tags && !o->keep_tags)
        return vlt_fail(VAULT_E_INVALID, "forget: missing keep tags");
    if (o->n_snapshots && !o->snapshots)
        return vlt_fail(VAULT_E_INVALID, "forget: missing snapshots");
    if (o->n_snapshots && !policy_empty(o))
        return vlt_fail(VAULT_E_INVALID,
                        "forget: name snapshots or give a policy, not "
                        "both");
    if (!o->n_snapshots && policy_empty(o))
        return vlt_fail(VAULT_E_INVALID,
                        "forget: no policy and no snapshots named: "
                        "nothing would be kept, so nothing is removed");
    if ((o->group_by & VAULT_GROUP_NONE) && (o->group_by & ~VAULT_GROUP_NONE))
        return vlt_fail(VAULT_E_INVALID,
                        "forget: grouping by nothing and by something");
    if (o->group_by & ~(VAULT_GROUP_HOST | VAULT_GROUP_PATHS |
                        VAULT_GROUP_TAGS | VAULT_GROUP_NONE))
        return vlt_fail(VAULT_E_INVALID, "forget: unknown grouping");
    return VAULT_OK;
}

static vault_error need_owner(const vault_t *v)
{
    if (v->keys->role != ROLE_OWNER)
        return vlt_fail(VAULT_E_PERMISSION,
                        "%s: only an owner can forget snapshots (this "
                        "member is a %s)",
                        v->location,
                        vault_role_name((vault_role)v->keys->role));
    return VAULT_OK;
}

/* Marks the named snapshots for removal; keeps the others. */
static vault_error judge_named(vault_t *v, const vault_forget_options *o,
                               judged *j, size_t n)
{
    for (size_t i = 0; i < n; i++)
        j[i].e.reasons = VAULT_KEEP_NOT_NAMED;
    for (size_t k = 0; k < o->n_snapshots; k++) {
        char id[65];
        vault_error rc = vault_snapshot_resolve(v, o->snapshots[k], id);
        if (rc != VAULT_OK)
            return rc;
        for (size_t i = 0; i < n; i++)
            if (strcmp(j[i].e.snapshot->id, id) == 0) {
                j[i].e.removed = 1;
                j[i].e.reasons = 0;
            }
    }
    return VAULT_OK;
}

/* Groups, then applies the policy to each group. */
static vault_error judge_policy(const vault_forget_options *o, judged *j,
                                size_t n, size_t *n_groups)
{
    unsigned group_by = o->group_by ? o->group_by
                                    : VAULT_GROUP_HOST | VAULT_GROUP_PATHS;
    if (group_by & VAULT_GROUP_NONE)
        group_by = 0;
    for (size_t i = 0; i < n; i++) {
        if (!j[i].e.snapshot->readable) {
            j[i].e.reasons = VAULT_KEEP_UNREADABLE;
            continue;
        }
        vault_error rc = group_key(j[i].e.snapshot, group_by, &j[i].key);
        if (rc != VAULT_OK)
            return rc;
    }
    qsort(j, n, sizeof *j, judged_cmp);
    size_t groups = 0;
    for (size_t from = 0; from < n && j[from].key;) {
        size_t to = from + 1;
        while (to < n && j[to].key && strcmp(j[to].key, j[from].key) == 0)
            to++;
        apply_policy(o, j, from, to);
        size_t kept = 0;
        for (size_t i = from; i < to; i++) {
            j[i].e.group = groups;
            kept += !j[i].e.removed;
        }
        /* restic's safety net: a tag-only policy that matches nothing in
         * a group would forget the whole group. */
        if (kept == 0)
            return vlt_fail(VAULT_E_INVALID,
                            "forget: the policy would remove all %zu "
                            "snapshot%s of author %s, host %s, paths %s%s "
                            "(none has the tags to keep); nothing removed",
                            to - from, to - from == 1 ? "" : "s",
                            j[from].e.snapshot->author[0]
                                ? j[from].e.snapshot->author
                                : j[from].e.snapshot->author_key,
                            j[from].e.snapshot->hostname,
                            j[from].e.snapshot->n_paths
                                ? j[from].e.snapshot->paths[0]
                                : "(none)",
                            j[from].e.snapshot->n_paths > 1 ? ", ..." : "");
        groups++;
        from = to;
    }
    for (size_t i = 0; i < n; i++)
        if (!j[i].key)
            j[i].e.group = groups; /* the unreadable ones, together */
    *n_groups = groups + (n && !j[n - 1].key);
    return VAULT_OK;
}

/* Result order: by group, oldest first within one. */
static int result_cmp(const void *a, const void *b)
{
    const judged *x = a, *y = b;
    if (x->e.group != y->e.group)
        return x->e.group < y->e.group ? -1 : 1;
    return x->position < y->position ? -1 : x->position > y->position;
}

/* Behind vault_forget_result.storage: the snapshot list the entries
 * point into. */
struct vault_forget_storage {
    vault_snapshot_info *list; /* from vault_snapshots */
    size_t n;                  /* entries in list */
};

vault_error vault_forget(vault_t *v, const vault_forget_options *o,
                         vault_forget_result *r)
{
    if (!r)
        return vlt_fail(VAULT_E_INVALID, "forget: missing result");
    memset(r, 0, sizeof *r);
    if (!v || !o)
        return vlt_fail(VAULT_E_INVALID, "forget: missing argument");
    vault_error rc = need_owner(v);
    if (rc == VAULT_OK)
        rc = check_options(o);
    /* An append-only server refuses the removal: say so before deciding
     * anything (a dry run removes nothing, so it may go on). */
    if (rc == VAULT_OK && !o->dry_run)
        rc = backend_check_deletable(v->be);
    if (rc == VAULT_OK && !(r->storage = calloc(1, sizeof *r->storage)))
        rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
    if (rc == VAULT_OK)
        rc = vault_snapshots(v, &r->storage->list, &r->storage->n);
    if (rc != VAULT_OK)
        return rc;
    size_t n = r->storage->n;
    judged *j = calloc(n ? n : 1, sizeof *j);
    r->entries = calloc(n ? n : 1, sizeof *r->entries);
    if (!j || !r->entries) {
        free(j);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        j[i].e.snapshot = &r->storage->list[i];
        j[i].position = i;
    }
    if (o->n_snapshots) {
        rc = judge_named(v, o, j, n);
        r->n_groups = n ? 1 : 0;
    } else {
        rc = judge_policy(o, j, n, &r->n_groups);
    }
    if (rc == VAULT_OK) {
        qsort(j, n, sizeof *j, result_cmp);
        for (size_t i = 0; i < n; i++) {
            r->entries[i] = j[i].e;
            if (j[i].e.removed)
                r->n_removed++;
            else
                r->n_kept++;
        }
        r->n_entries = n;
    }
    for (size_t i = 0; i < n; i++)
        free(j[i].key);
    free(j);
    if (rc != VAULT_OK || o->dry_run)
        return rc;
    for (size_t i = 0; i < n && rc == VAULT_OK; i++) {
        if (!r->entries[i].removed)
            continue;
        rc = backend_remove(v->be, BACKEND_SNAPSHOTS,
                            r->entries[i].snapshot->id);
        if (rc == VAULT_E_NOT_FOUND)
            rc = VAULT_OK; /* forgotten meanwhile by someone else */
        if (rc != VAULT_OK) {
            rc = vlt_fail_context(rc, "forget: snapshots/%s",
                                  r->entries[i].snapshot->id);
            /* This one and the rest stay: the result says so, so that
             * no caller reports a removal that did not happen. */
            for (size_t k = i; k < n; k++) {
                if (r->entries[k].removed) {
                    r->entries[k].removed = 0;
                    r->n_removed--;
                }
            }
        }
    }
    return rc;
}

void vault_forget_result_free(vault_forget_result *r)
{
    if (!r)
        return;
    free(r->entries);
    if (r->storage)
        vault_snapshots_free(r->storage->list, r->storage->n);
    free(r->storage);
    memset(r, 0, sizeof *r);
}
