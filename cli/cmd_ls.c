/*
 * cmd_ls.c - `vault ls`: snapshots, or the files of one.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int print_file(void *ctx, const vault_file_info *f)
{
    cli_print_entry(ctx, f);
    return 0;
}

static int list_snapshots(vault_t *v, int json)
{
    if (vault_member_role(v) == VAULT_ROLE_WRITER) {
        size_t n;
        vault_error rc = vault_snapshot_count(v, &n);
        if (rc != VAULT_OK)
            return cli_fail(rc);
        if (json)
            printf("{\"count\":%zu,\"readable\":false}\n", n);
        else
            printf("%zu snapshot%s; this member has the writer role and "
                   "cannot read them\n",
                   n, n == 1 ? "" : "s");
        return EXIT_OK;
    }
    vault_snapshot_info *list;
    size_t n;
    vault_error rc = vault_snapshots(v, &list, &n);
    if (rc != VAULT_OK)
        return cli_fail(rc);
    if (json)
        fputs("[", stdout);
    int status = EXIT_OK;
    for (size_t i = 0; i < n; i++) {
        const vault_snapshot_info *s = &list[i];
        char t[48];
        if (s->damage) {
            /* Listed and named, the others still shown; the exit status
             * says the listing is not all good. */
            cli_warn_damaged(s);
            status = EXIT_PARTIAL;
        }
        if (!s->readable) {
            if (json) {
                printf("%s\n{\"id\":\"%s\",\"short_id\":\"%.8s\","
                       "\"readable\":false",
                       i ? "," : "", s->id, s->id);
                if (s->damage) {
                    fputs(",\"damage\":", stdout);
                    cli_json_string(stdout, s->damage);
                }
                putchar('}');
            } else {
                printf("%.8s  %s\n", s->id, cli_unreadable_reason(s));
            }
            continue;
        }
        if (json) {
            printf("%s\n{\"id\":\"%s\",\"short_id\":\"%.8s\",\"readable\":true,"
                   "\"time\":\"%s\",\"host\":",
                   i ? "," : "", s->id, s->id,
                   cli_time_rfc3339(s->time_sec, s->time_nsec, t));
            cli_json_string(stdout, s->hostname);
            fputs(",\"user\":", stdout);
            cli_json_string(stdout, s->username);
            fputs(",\"paths\":[", stdout);
            for (size_t j = 0; j < s->n_paths; j++) {
                if (j)
                    putchar(',');
                cli_json_string(stdout, s->paths[j]);
            }
            fputs("],\"tags\":[", stdout);
            for (size_t j = 0; j < s->n_tags; j++) {
                if (j)
                    putchar(',');
                cli_json_string(stdout, s->tags[j]);
            }
            fputs("],\"author\":", stdout);
            cli_json_string(stdout, s->author);
            printf(",\"author_key\":\"%s\",\"author_role\":\"%s\","
                   "\"author_is_me\":%s",
                   s->author_key,
                   s->author_role ? vault_role_name(s->author_role)
                                  : "former member",
                   s->author_is_me ? "true" : "false");
            printf(",\"files\":%llu,\"dirs\":%llu,\"bytes_read\":%llu,"
                   "\"bytes_added\":%llu}",
                   (unsigned long long)s->files, (unsigned long long)s->dirs,
                   (unsigned long long)s->bytes_read,
                   (unsigned long long)s->bytes_added);
            continue;
        }
        char author[160];
        printf("%.8s  %s  %s  %s ", s->id, cli_time(s->time_sec, t),
               cli_text(s->hostname), cli_author(s, author));
        cli_put_snapshot_paths_tags(s);
        putchar('\n');
    }
    if (json)
        fputs(n ? "\n]\n" : "]\n", stdout);
    vault_snapshots_free(list, n);
    return status;
}

int cmd_ls(int argc, char **argv)
{
    static const struct option options[] = {
        {"identity", required_argument, NULL, 'i'},
        {"long", no_argument, NULL, 'l'},
        {"recursive", no_argument, NULL, 'R'},
        {"json", no_argument, NULL, 'j'},
        {"passphrase-file", required_argument, NULL, 'F'},
        CLI_SELECT_LONG_OPTIONS,
        {NULL, 0, NULL, 0}};
    const char *identity = NULL, *passphrase_file = NULL;
    cli_entry_format ctx = {.first = 1};
    cli_select select = {0};
    int recursive = 0, c;
    while ((c = getopt_long(argc, argv, "i:lR", options, NULL)) != -1) {
        int taken = cli_select_option(&select, c, optarg);
        if (taken < 0)
            return cli_usage("ls", "too many --%s", argv[optind - 1] + 2);
        if (taken)
            continue;
        switch (c) {
        case 'i': identity = optarg; break;
        case 'l': ctx.long_format = 1; break;
        case 'R': recursive = 1; break;
        case 'j': ctx.json = 1; break;
        case 'F': passphrase_file = optarg; break;
        default: return cli_bad_option("ls", argv);
        }
    }
    argc -= optind;
    argv += optind;
    const char *path = cli_take_vault(&argc, &argv);
    if (!path)
        return cli_usage("ls", "name the vault (or set VAULT_REPOSITORY)");
    if (argc > 2)
        return cli_usage("ls", "unexpected argument '%s'", argv[2]);
    if (argc == 0 && select.used)
        return cli_usage("ls", "--host, --path and --tag choose what "
                               "\"latest\" is: name a snapshot");
    char *ref = NULL;
    const char *inner = NULL;
    if (argc > 0) {
        int status = cli_split_ref("ls", argc, argv, &ref, &inner);
        if (status)
            return status;
    }
    /* a snapshot's entries: what it reads is listed with the config
     * (vault.h); the list of snapshots needs only its own listing */
    cli_storage.reads_snapshots = argc > 0;
    vault_t *v = cli_open_vault(path, identity, passphrase_file);
    if (!v) {
        free(ref);
        return EXIT_FAILURE_;
    }
    int status;
    if (argc == 0) {
        status = list_snapshots(v, ctx.json);
    } else {
        char id[65];
        status = cli_select_snapshot(v, &select, ref, id);
        if (status == 0) {
            vault_error rc =
                vault_ls(v, id, inner, recursive, print_file, &ctx);
            if (ctx.json)
                fputs(ctx.first ? "[]\n" : "\n]\n", stdout);
            status = rc == VAULT_OK ? EXIT_OK : cli_fail(rc);
            if (rc == VAULT_E_NOT_FOUND && inner)
                cli_hint_paths(v, id, inner);
        }
    }
    free(ref);
    vault_close(v);
    return status;
}
