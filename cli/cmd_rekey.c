/*
 * cmd_rekey.c - `vault rekey`: re-seal older key epochs' data in the
 * current epoch.
 */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"

int cmd_rekey(int argc, char **argv)
{
    static const struct option options[] = {
        {"identity", required_argument, NULL, 'i'},
        {"passphrase-file", required_argument, NULL, 'F'},
        {NULL, 0, NULL, 0}};
    const char *identity = NULL, *passphrase_file = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "i:", options, NULL)) != -1) {
        switch (c) {
        case 'i': identity = optarg; break;
        case 'F': passphrase_file = optarg; break;
        default: return cli_bad_option("rekey", argv);
        }
    }
    argc -= optind;
    argv += optind;
    const char *path = cli_take_vault(&argc, &argv);
    if (!path)
        return cli_usage("rekey", "name the vault (or set VAULT_REPOSITORY)");
    if (argc > 0)
        return cli_usage("rekey", "unexpected argument '%s'", argv[0]);
    vault_t *v = cli_open_vault(path, identity, passphrase_file);
    if (!v)
        return EXIT_FAILURE_;
    vault_rekey_result r;
    vault_error rc = vault_rekey(v, &r);
    vault_close(v);
    if (rc != VAULT_OK)
        return cli_fail(rc);
    printf("re-sealed %llu blobs into %llu packs and %llu snapshots; "
           "deleted %llu old objects\n",
           (unsigned long long)r.blobs_rewritten,
           (unsigned long long)r.packs_rewritten,
           (unsigned long long)r.snapshots_rewritten,
           (unsigned long long)r.objects_deleted);
    return EXIT_OK;
}
