/*
 * cmd_dump.c - `vault dump`: one file of a snapshot to standard output
 * (a folder as a tar stream), for pipes: `vault dump V latest:/db.sql |
 * psql`.
 */
#include <getopt.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"

int cmd_dump(int argc, char **argv)
{
    static const struct option options[] = {
        {"identity", required_argument, NULL, 'i'},
        {"passphrase-file", required_argument, NULL, 'F'},
        CLI_SELECT_LONG_OPTIONS,
        {NULL, 0, NULL, 0}};
    const char *identity = NULL, *passphrase_file = NULL;
    cli_select select = {0};
    int c;
    while ((c = getopt_long(argc, argv, "i:", options, NULL)) != -1) {
        int taken = cli_select_option(&select, c, optarg);
        if (taken < 0)
            return cli_usage("dump", "too many --%s", argv[optind - 1] + 2);
        if (taken)
            continue;
        switch (c) {
        case 'i': identity = optarg; break;
        case 'F': passphrase_file = optarg; break;
        default: return cli_bad_option("dump", argv);
        }
    }
    argc -= optind;
    argv += optind;
    const char *location = cli_take_vault(&argc, &argv);
    if (!location)
        return cli_usage("dump", "name the vault (or set VAULT_REPOSITORY)");
    if (argc > 2)
        return cli_usage("dump", "unexpected argument '%s'", argv[2]);
    char *ref;
    const char *path;
    int status = cli_split_ref("dump", argc, argv, &ref, &path);
    if (status)
        return status;
    if (!path || !path[0]) {
        free(ref);
        return cli_usage("dump", "name the file: SNAP:PATH (\"SNAP:/\" "
                                 "for the whole snapshot as tar)");
    }
    /* what it reads is listed with the config (vault.h) */
    cli_storage.reads_snapshots = 1;
    vault_t *v = cli_open_vault(location, identity, passphrase_file);
    if (!v) {
        free(ref);
        return EXIT_FAILURE_;
    }
    char id[65];
    status = cli_select_snapshot(v, &select, ref, id);
    if (status == 0) {
        vault_error rc = vault_dump(v, id, path, STDOUT_FILENO, NULL);
        if (rc != VAULT_OK)
            status = cli_fail(rc);
        if (rc == VAULT_E_NOT_FOUND)
            cli_hint_paths(v, id, path);
    }
    vault_close(v);
    free(ref);
    return status;
}
