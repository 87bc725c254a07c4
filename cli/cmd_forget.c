/*
 * cmd_forget.c - `vault forget`: remove snapshots, named or by policy.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* N (0 or more) or "unlimited"/"all"; -2 if neither. */
static int parse_keep(const char *text)
{
    if (strcmp(text, "unlimited") == 0 || strcmp(text, "all") == 0)
        return VAULT_KEEP_ALL;
    char *end;
    errno = 0;
    long n = strtol(text, &end, 10);
    if (errno || end == text || *end || n < 0 || n > 1000000000L)
        return -2;
    return (int)n;
}

/* "host,paths,tags" in any combination; "" for no grouping. */
static int parse_group_by(const char *text, unsigned *out)
{
    *out = 0;
    if (!text[0]) {
        *out = VAULT_GROUP_NONE;
        return 0;
    }
    const char *p = text;
    while (*p) {
        size_t len = strcspn(p, ",");
        if (len == 4 && strncmp(p, "host", 4) == 0)
            *out |= VAULT_GROUP_HOST;
        else if (len == 5 && strncmp(p, "paths", 5) == 0)
            *out |= VAULT_GROUP_PATHS;
        else if (len == 4 && strncmp(p, "tags", 4) == 0)
            *out |= VAULT_GROUP_TAGS;
        else
            return -1;
        p += len;
        if (*p == ',' && *++p == '\0')
            return -1;
    }
    return 0;
}

static void print_reasons(unsigned reasons)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{VAULT_KEEP_LAST, "last"},       {VAULT_KEEP_HOURLY, "hourly"},
                 {VAULT_KEEP_DAILY, "daily"},     {VAULT_KEEP_WEEKLY, "weekly"},
                 {VAULT_KEEP_MONTHLY, "monthly"}, {VAULT_KEEP_YEARLY, "yearly"},
                 {VAULT_KEEP_TAG, "tag"}};
    int first = 1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (reasons & names[i].bit) {
            printf("%s%s", first ? "" : ",", names[i].name);
            first = 0;
        }
    if (first)
        printf("-");
}

static void print_snapshot(const vault_forget_entry *e, int with_reasons)
{
    const vault_snapshot_info *s = e->snapshot;
    char t[32];
    if (!s->readable) {
        printf("  %.8s  %s\n", s->id, cli_unreadable_reason(s));
        return;
    }
    printf("  %.8s  %s  %s", s->id, cli_time(s->time_sec, t),
           cli_text(s->hostname));
    if (with_reasons) {
        printf("  ");
        print_reasons(e->reasons);
    }
    printf(" ");
    cli_put_snapshot_paths_tags(s);
    putchar('\n');
}

/* One group: its snapshots kept (with the reasons) and removed. */
static void print_group(const vault_forget_result *r, size_t from, size_t to,
                        int dry_run)
{
    const vault_snapshot_info *s = r->entries[from].snapshot;
    if (s->readable) {
        char author[160];
        printf("snapshots by %s of host %s, paths", cli_author(s, author),
               cli_text(s->hostname));
        for (size_t j = 0; j < s->n_paths; j++)
            printf(" %s", cli_text(s->paths[j]));
        printf(":\n");
    } else {
        printf("snapshots this member cannot read (never forgotten by "
               "policy):\n");
    }
    size_t kept = 0, removed = 0;
    for (size_t i = from; i < to; i++) {
        kept += !r->entries[i].removed;
        removed += r->entries[i].removed;
    }
    if (kept) {
        printf("keep %zu snapshot%s (ID, time, host, reasons, paths):\n",
               kept, kept == 1 ? "" : "s");
        for (size_t i = from; i < to; i++)
            if (!r->entries[i].removed)
                print_snapshot(&r->entries[i], s->readable);
    }
    if (removed) {
        printf("%s %zu snapshot%s:\n", dry_run ? "would remove" : "remove",
               removed, removed == 1 ? "" : "s");
        for (size_t i = from; i < to; i++)
            if (r->entries[i].removed)
                print_snapshot(&r->entries[i], 0);
    }
    putchar('\n');
}

int cmd_forget(int argc, char **argv)
{
    static const struct option options[] = {
        {"identity", required_argument, NULL, 'i'},
        {"passphrase-file", required_argument, NULL, 'F'},
        {"keep-last", required_argument, NULL, 'l'},
        {"keep-hourly", required_argument, NULL, 'H'},
        {"keep-daily", required_argument, NULL, 'd'},
        {"keep-weekly", required_argument, NULL, 'w'},
        {"keep-monthly", required_argument, NULL, 'm'},
        {"keep-yearly", required_argument, NULL, 'y'},
        {"keep-tag", required_argument, NULL, 't'},
        {"group-by", required_argument, NULL, 'g'},
        {"dry-run", no_argument, NULL, 'n'},
        {NULL, 0, NULL, 0}};
    const char *identity = NULL, *passphrase_file = NULL;
    vault_forget_options o;
    vault_forget_options_init(&o);
    const char **tags = NULL;
    size_t n_tags = 0;
    int c, status = EXIT_OK;
    while (status == EXIT_OK &&
           (c = getopt_long(argc, argv, "i:l:H:d:w:m:y:n", options, NULL)) !=
               -1) {
        int *keep = NULL;
        switch (c) {
        case 'i': identity = optarg; break;
        case 'F': passphrase_file = optarg; break;
        case 'l': keep = &o.keep_last; break;
        case 'H': keep = &o.keep_hourly; break;
        case 'd': keep = &o.keep_daily; break;
        case 'w': keep = &o.keep_weekly; break;
        case 'm': keep = &o.keep_monthly; break;
        case 'y': keep = &o.keep_yearly; break;
        case 't': {
            const char **nt = realloc(tags, (n_tags + 1) * sizeof *nt);
            if (!nt) {
                status = cli_usage("forget", "out of memory");
                break;
            }
            tags = nt;
            tags[n_tags++] = optarg;
            break;
        }
        case 'g':
            if (parse_group_by(optarg, &o.group_by) != 0)
                status = cli_usage("forget",
                                   "--group-by takes host, paths and tags, "
                                   "separated by commas, or ''");
            break;
        case 'n': o.dry_run = 1; break;
        default: status = cli_bad_option("forget", argv);
        }
        if (keep && (*keep = parse_keep(optarg)) == -2) {
            const char *name = "?";
            for (size_t i = 0; options[i].name; i++)
                if (options[i].val == c)
                    name = options[i].name;
            status = cli_usage("forget",
                               "option --%s: takes a count (0 or more) or "
                               "'unlimited', not '%s'",
                               name, optarg);
        }
    }
    if (status != EXIT_OK) {
        free(tags);
        return status;
    }
    argc -= optind;
    argv += optind;
    const char *path = cli_take_vault(&argc, &argv);
    o.snapshots = (const char *const *)argv;
    o.n_snapshots = (size_t)argc;
    o.keep_tags = tags;
    o.n_keep_tags = n_tags;
    int has_policy = o.keep_last || o.keep_hourly || o.keep_daily ||
                     o.keep_weekly || o.keep_monthly || o.keep_yearly ||
                     n_tags;
    if (!path)
        status = cli_usage("forget", "name the vault (or set "
                                     "VAULT_REPOSITORY)");
    else if (argc > 0 && has_policy)
        status = cli_usage("forget", "name snapshots or give --keep-* "
                                     "options, not both");
    else if (argc == 0 && !has_policy)
        status = cli_usage("forget",
                           "give a policy (--keep-last N, ...) or the "
                           "snapshots to remove; with none, nothing would "
                           "be kept");
    if (status != EXIT_OK) {
        free(tags);
        return status;
    }
    vault_t *v = cli_open_vault(path, identity, passphrase_file);
    if (!v) {
        free(tags);
        return EXIT_FAILURE_;
    }
    vault_forget_result r;
    vault_error rc = vault_forget(v, &o, &r);
    vault_close(v);
    free(tags);
    for (size_t i = 0; i < r.n_entries; i++)
        cli_warn_damaged(r.entries[i].snapshot);
    if (rc != VAULT_OK) {
        /* Only what was removed before the failure (the result unmarks
         * the rest): a line for a removal that did not happen would
         * have the user believe the snapshot is gone. */
        for (size_t i = 0; i < r.n_entries; i++)
            if (r.entries[i].removed)
                printf("removed snapshot %s\n", r.entries[i].snapshot->id);
        fflush(stdout);
    } else {
        if (o.n_snapshots) {
            for (size_t i = 0; i < r.n_entries; i++)
                if (r.entries[i].removed)
                    printf("%s snapshot %s\n",
                           o.dry_run ? "would remove" : "removed",
                           r.entries[i].snapshot->id);
        } else {
            for (size_t from = 0; from < r.n_entries;) {
                size_t to = from + 1;
                while (to < r.n_entries &&
                       r.entries[to].group == r.entries[from].group)
                    to++;
                print_group(&r, from, to, o.dry_run);
                from = to;
            }
        }
    }
    if (rc != VAULT_OK) {
        vault_forget_result_free(&r);
        return cli_fail(rc);
    }
    if (o.dry_run)
        printf("dry run: would remove %zu snapshot%s, keep %zu; nothing "
               "removed\n",
               r.n_removed, r.n_removed == 1 ? "" : "s", r.n_kept);
    else
        printf("removed %zu snapshot%s, kept %zu%s\n", r.n_removed,
               r.n_removed == 1 ? "" : "s", r.n_kept,
               r.n_removed ? "; `vault prune` frees the space only they "
                             "used"
                           : "");
    vault_forget_result_free(&r);
    return EXIT_OK;
}
