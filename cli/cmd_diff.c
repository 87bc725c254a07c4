/*
 * cmd_diff.c - `vault diff`: what changed between two snapshots, as
 * restic's diff shows it (+ added, - removed, M modified, U metadata
 * only, T type changed), with sizes; --json for scripts.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static int print_change(void *ctx, const vault_diff_entry *e)
{
    const int *json = ctx;
    if (*json) {
        printf("{\"message_type\":\"change\",\"modifier\":\"%c\",\"path\":",
               (char)e->kind);
        cli_json_string(stdout, e->path);
        printf(",\"type\":\"%s\",\"old_size\":%llu,\"new_size\":%llu}\n",
               cli_file_type_name(e->type), (unsigned long long)e->old_size,
               (unsigned long long)e->new_size);
        return 0;
    }
    printf("%c    %s%s\n", (char)e->kind, cli_text(e->path),
           e->type == VAULT_DIR && e->path[1] ? "/" : "");
    return 0;
}

static void print_summary(const vault_diff_result *r, const char *a,
                          const char *b, int json)
{
    if (json) {
        printf("{\"message_type\":\"statistics\",\"source_snapshot\":\"%s\","
               "\"target_snapshot\":\"%s\",\"added\":%llu,\"removed\":%llu,"
               "\"modified\":%llu,\"metadata\":%llu,\"type_changed\":%llu,"
               "\"added_bytes\":%llu,\"removed_bytes\":%llu,"
               "\"modified_old_bytes\":%llu,\"modified_new_bytes\":%llu}\n",
               a, b, (unsigned long long)r->added,
               (unsigned long long)r->removed, (unsigned long long)r->modified,
               (unsigned long long)r->metadata,
               (unsigned long long)r->type_changed,
               (unsigned long long)r->added_bytes,
               (unsigned long long)r->removed_bytes,
               (unsigned long long)r->modified_old_bytes,
               (unsigned long long)r->modified_new_bytes);
        return;
    }
    char s1[32], s2[32];
    printf("\nadded:          %llu (%s in files)\n",
           (unsigned long long)r->added, cli_size(r->added_bytes, s1));
    printf("removed:        %llu (%s in files)\n",
           (unsigned long long)r->removed, cli_size(r->removed_bytes, s1));
    printf("modified:       %llu (%s before, %s after)\n",
           (unsigned long long)r->modified,
           cli_size(r->modified_old_bytes, s1),
           cli_size(r->modified_new_bytes, s2));
    printf("metadata only:  %llu\n", (unsigned long long)r->metadata);
    printf("type changed:   %llu\n", (unsigned long long)r->type_changed);
}

int cmd_diff(int argc, char **argv)
{
    static const struct option options[] = {
        {"identity", required_argument, NULL, 'i'},
        {"passphrase-file", required_argument, NULL, 'F'},
        {"json", no_argument, NULL, 'j'},
        CLI_SELECT_LONG_OPTIONS,
        {NULL, 0, NULL, 0}};
    const char *identity = NULL, *passphrase_file = NULL;
    cli_select select = {0};
    int json = 0, c;
    while ((c = getopt_long(argc, argv, "i:", options, NULL)) != -1) {
        int taken = cli_select_option(&select, c, optarg);
        if (taken < 0)
            return cli_usage("diff", "too many --%s", argv[optind - 1] + 2);
        if (taken)
            continue;
        switch (c) {
        case 'i': identity = optarg; break;
        case 'F': passphrase_file = optarg; break;
        case 'j': json = 1; break;
        default: return cli_bad_option("diff", argv);
        }
    }
    argc -= optind;
    argv += optind;
    const char *location = cli_take_vault(&argc, &argv);
    if (!location)
        return cli_usage("diff", "name the vault (or set VAULT_REPOSITORY)");
    if (argc != 2)
        return cli_usage("diff", "name two snapshots (IDs or latest)");
    /* what it reads is listed with the config (vault.h) */
    cli_storage.reads_snapshots = 1;
    vault_t *v = cli_open_vault(location, identity, passphrase_file);
    if (!v)
        return EXIT_FAILURE_;
    char a[65], b[65];
    int status = cli_select_snapshot(v, &select, argv[0], a);
    if (status == 0)
        status = cli_select_snapshot(v, &select, argv[1], b);
    if (status == 0) {
        if (!json)
            printf("comparing snapshot %.8s to %.8s:\n\n", a, b);
        vault_diff_result r;
        vault_error rc = vault_diff(v, a, b, print_change, &json, &r);
        if (rc == VAULT_OK)
            print_summary(&r, a, b, json);
        else
            status = cli_fail(rc);
    }
    vault_close(v);
    return status;
}
