/*
 * cmd_find.c - `vault find`: files matching patterns in every snapshot
 * (or those named or filtered), as restic's find lists them.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct find_out {
    vault_t *v;
    cli_entry_format format;
    char snapshot[65]; /* of the entries being printed ("": none yet) */
    unsigned long long hits, in_snapshot;
} find_out;

/* Ends the group of the snapshot printed so far. */
static void end_group(find_out *o)
{
    if (!o->snapshot[0])
        return;
    if (o->format.json)
        printf("\n],\"hits\":%llu}", o->in_snapshot);
    else
        putchar('\n');
}

static int found(void *ctx, const char *snapshot, const vault_file_info *f)
{
    find_out *o = ctx;
    if (strcmp(o->snapshot, snapshot) != 0) {
        end_group(o);
        if (o->format.json) {
            printf("%s\n{\"snapshot\":\"%s\",\"matches\":",
                   o->snapshot[0] ? "," : "", snapshot);
        } else {
            vault_snapshot_info *s;
            char t[32];
            if (vault_snapshot_get(o->v, snapshot, &s) == VAULT_OK) {
                printf("Found matching entries in snapshot %.8s from %s\n",
                       snapshot, cli_time(s->time_sec, t));
                vault_snapshots_free(s, 1);
            } else {
                printf("Found matching entries in snapshot %.8s\n",
                       snapshot);
            }
        }
        memcpy(o->snapshot, snapshot, sizeof o->snapshot);
        o->format.first = 1;
        o->in_snapshot = 0;
    }
    cli_print_entry(&o->format, f);
    o->hits++;
    o->in_snapshot++;
    return 0;
}

int cmd_find(int argc, char **argv)
{
    static const struct option options[] = {
        {"identity", required_argument, NULL, 'i'},
        {"passphrase-file", required_argument, NULL, 'F'},
        {"snapshot", required_argument, NULL, 's'},
        {"ignore-case", no_argument, NULL, 'I'},
        {"long", no_argument, NULL, 'l'},
        {"json", no_argument, NULL, 'j'},
        CLI_SELECT_LONG_OPTIONS,
        {NULL, 0, NULL, 0}};
    const char *identity = NULL, *passphrase_file = NULL;
    const char *snapshots[CLI_SELECT_MAX];
    size_t n_snapshots = 0;
    cli_select select = {0};
    static find_out out; /* large: not on the stack */
    vault_find_options o = {0};
    int c;
    while ((c = getopt_long(argc, argv, "i:s:l", options, NULL)) != -1) {
        int taken = cli_select_option(&select, c, optarg);
        if (taken < 0)
            return cli_usage("find", "too many --%s", argv[optind - 1] + 2);
        if (taken)
            continue;
        switch (c) {
        case 'i': identity = optarg; break;
        case 'F': passphrase_file = optarg; break;
        case 's':
            if (n_snapshots == CLI_SELECT_MAX)
                return cli_usage("find", "more than %d --snapshot",
                                 CLI_SELECT_MAX);
            snapshots[n_snapshots++] = optarg;
            break;
        case 'I': o.ignore_case = 1; break;
        case 'l': out.format.long_format = 1; break;
        case 'j': out.format.json = 1; break;
        default: return cli_bad_option("find", argv);
        }
    }
    argc -= optind;
    argv += optind;
    const char *location = cli_take_vault(&argc, &argv);
    if (!location)
        return cli_usage("find", "name the vault (or set VAULT_REPOSITORY)");
    if (argc == 0)
        return cli_usage("find", "give a pattern (\"*.jpg\", \"Documents\")");
    o.patterns = (const char *const *)argv;
    o.n_patterns = (size_t)argc;
    o.snapshots = n_snapshots ? snapshots : NULL;
    o.n_snapshots = n_snapshots;
    o.filter = select.used ? &select.filter : NULL;
    /* what it reads is listed with the config (vault.h) */
    cli_storage.reads_snapshots = 1;
    vault_t *v = cli_open_vault(location, identity, passphrase_file);
    if (!v)
        return EXIT_FAILURE_;
    out.v = v;
    if (out.format.json)
        putchar('[');
    vault_error rc = vault_find(v, &o, found, &out);
    end_group(&out);
    if (out.format.json)
        fputs(out.snapshot[0] ? "\n]\n" : "]\n", stdout);
    vault_close(v);
    if (rc != VAULT_OK)
        return cli_fail(rc);
    /* as grep: 1 when nothing matched, so scripts can tell */
    return out.hits ? EXIT_OK : EXIT_FAILURE_;
}
