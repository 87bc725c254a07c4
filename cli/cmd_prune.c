/*
 * cmd_prune.c - `vault prune`: free the space of data no snapshot needs.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* "90", "90s", "15m", "24h", "7d", "2w", or sums like "1d12h"; -1 if
 * malformed. */
static int64_t parse_duration(const char *text)
{
    int64_t total = 0;
    const char *p = text;
    if (!*p)
        return -1;
    while (*p) {
        char *end;
        errno = 0;
        long long n = strtoll(p, &end, 10);
        if (errno || end == p || n < 0 || *p == '-' || *p == '+')
            return -1;
        int64_t unit;
        switch (*end) {
        case '\0':
        case 's': unit = 1; break;
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        case 'd': unit = 86400; break;
        case 'w': unit = 7 * 86400; break;
        default: return -1;
        }
        if (n > (INT64_MAX - total) / unit / 2)
            return -1;
        total += (int64_t)n * unit;
        p = *end ? end + 1 : end;
    }
    return total;
}

static void print_pending(const vault_prune_result *r, int dry_run)
{
    for (size_t i = 0; i < r->n_pending; i++) {
        const vault_prune_pending *p = &r->pending[i];
        char t[32], s[32];
        if (p->mark[0])
            printf("mark %.8s", p->mark);
        else
            printf("the new mark");
        printf(" (%s, %llu pack%s, %s) %s: ",
               cli_time(p->time, t), (unsigned long long)p->packs,
               p->packs == 1 ? "" : "s", cli_size(p->bytes, s),
               dry_run ? "would wait" : "pending");
        const char *sep = "";
        if (p->waiting & VAULT_PRUNE_WAIT_ADD) {
            printf("%san add is running (or crashed less than 24 h ago)",
                   sep);
            sep = "; ";
        }
        if (p->waiting & VAULT_PRUNE_WAIT_UNREADABLE) {
            printf("%slock objects this member cannot read might be adds",
                   sep);
            sep = "; ";
        }
        if (p->waiting & VAULT_PRUNE_WAIT_GRACE) {
            printf("%sgrace period until %s", sep,
                   cli_time(p->sweep_after, t));
            sep = "; ";
        }
        if (!p->waiting)
            printf("nothing holds it back now; the next prune sweeps it");
        putchar('\n');
    }
    for (size_t i = 0; i < r->n_live_adds; i++) {
        const vault_prune_marker *m = &r->live_adds[i];
        char t[32];
        printf("add running: host %s, pid %u, since %s\n",
               m->host[0] ? cli_text(m->host) : "?", (unsigned)m->pid,
               cli_time(m->time, t));
    }
}

int cmd_prune(int argc, char **argv)
{
    static const struct option options[] = {
        {"identity", required_argument, NULL, 'i'},
        {"passphrase-file", required_argument, NULL, 'F'},
        {"dry-run", no_argument, NULL, 'n'},
        {"grace", required_argument, NULL, 'g'},
        {"max-unused", required_argument, NULL, 'u'},
        {NULL, 0, NULL, 0}};
    const char *identity = NULL, *passphrase_file = NULL;
    vault_prune_options o;
    vault_prune_options_init(&o);
    int c;
    while ((c = getopt_long(argc, argv, "i:n", options, NULL)) != -1) {
        switch (c) {
        case 'i': identity = optarg; break;
        case 'F': passphrase_file = optarg; break;
        case 'n': o.dry_run = 1; break;
        case 'g':
            o.grace_seconds = parse_duration(optarg);
            if (o.grace_seconds < 0)
                return cli_usage("prune", "--grace takes a duration such "
                                          "as 0, 90s, 15m, 24h or 7d");
            break;
        case 'u': {
            char *end;
            errno = 0;
            long n = strtol(optarg, &end, 10);
            if (*end == '%')
                end++;
            if (errno || end == optarg || *end || n < 0 || n > 100)
                return cli_usage("prune", "--max-unused takes a percentage, "
                                          "0 to 100");
            o.max_unused_percent = n == 0 ? VAULT_PRUNE_MAX_UNUSED_NONE
                                          : (int)n;
            break;
        }
        default: return cli_bad_option("prune", argv);
        }
    }
    argc -= optind;
    argv += optind;
    const char *path = cli_take_vault(&argc, &argv);
    if (!path)
        return cli_usage("prune", "name the vault (or set VAULT_REPOSITORY)");
    if (argc > 0)
        return cli_usage("prune", "unexpected argument '%s'", argv[0]);
    vault_t *v = cli_open_vault(path, identity, passphrase_file);
    if (!v)
        return EXIT_FAILURE_;
    cli_catch_interrupts();
    vault_prune_result r;
    vault_error rc = vault_prune(v, &o, &r);
    vault_close(v);
    if (rc != VAULT_OK) {
        vault_prune_result_free(&r);
        return cli_fail(rc);
    }
    char a[32], b[32], d[32];
    const char *would = o.dry_run ? "would be " : "";
    printf("%llu snapshot%s; %llu pack%s (%s): %s referenced, %s unused\n",
           (unsigned long long)r.snapshots, r.snapshots == 1 ? "" : "s",
           (unsigned long long)r.packs, r.packs == 1 ? "" : "s",
           cli_size(r.pack_bytes, a), cli_size(r.bytes_used, b),
           cli_size(r.bytes_unused, d));
    if (r.stale_markers_removed)
        printf("stale add markers (their process is gone from this machine, "
               "or over 24 h old) %sremoved: %llu\n", would,
               (unsigned long long)r.stale_markers_removed);
    if (r.temporaries_removed)
        printf("removed %llu temporary files of saves that crashed over a "
               "day ago\n",
               (unsigned long long)r.temporaries_removed);
    if (r.marks_written)
        printf("mark: %llu pack%s %scondemned: %llu unused, %llu repacked "
               "(%llu blobs, %s copied out first), %llu unindexed\n",
               (unsigned long long)(r.packs_unused + r.packs_repacked +
                                    r.packs_unindexed),
               r.packs_unused + r.packs_repacked + r.packs_unindexed == 1
                   ? ""
                   : "s",
               would, (unsigned long long)r.packs_unused,
               (unsigned long long)r.packs_repacked,
               (unsigned long long)r.blobs_repacked,
               cli_size(r.bytes_repacked, a),
               (unsigned long long)r.packs_unindexed);
    else
        printf("mark: no pack to condemn\n");
    if (r.unindexed_left)
        printf("%llu unindexed pack%s left alone while adds run\n",
               (unsigned long long)r.unindexed_left,
               r.unindexed_left == 1 ? "" : "s");
    if (r.marks_swept)
        printf("sweep: %llu mark%s; %llu pack%s %sdeleted (%s); %llu blob%s "
               "rescued from them; index segments %srewritten: %llu, "
               "deleted: %llu\n",
               (unsigned long long)r.marks_swept,
               r.marks_swept == 1 ? "" : "s",
               (unsigned long long)r.packs_deleted,
               r.packs_deleted == 1 ? "" : "s", would,
               cli_size(r.bytes_deleted, a),
               (unsigned long long)r.blobs_rescued,
               r.blobs_rescued == 1 ? "" : "s", would,
               (unsigned long long)r.segments_rewritten,
               (unsigned long long)r.segments_deleted);
    uint64_t net = r.bytes_deleted > r.bytes_written
                       ? r.bytes_deleted - r.bytes_written
                       : 0;
    printf("%s %s (deleted %s, wrote %s in %llu new pack%s)\n",
           o.dry_run ? "would free" : "freed", cli_size(net, a),
           cli_size(r.bytes_deleted, b), cli_size(r.bytes_written, d),
           (unsigned long long)r.packs_written,
           r.packs_written == 1 ? "" : "s");
    print_pending(&r, o.dry_run);
    if (o.dry_run)
        printf("dry run: nothing changed\n");
    vault_prune_result_free(&r);
    return EXIT_OK;
}
