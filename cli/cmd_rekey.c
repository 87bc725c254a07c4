/*
 * cmd_rekey.c - `vault rekey`: re-seal older key epochs' data in the
 * current epoch.
 */
#include <stdio.h>

#include "cli.h"

int cmd_rekey(int argc, char **argv)
{
    const char *identity = NULL, *passphrase_file = NULL;
    int bad = cli_identity_options("rekey", &argc, &argv, &identity,
                                   &passphrase_file);
    if (bad)
        return bad;
    const char *path = cli_take_vault(&argc, &argv);
    if (!path)
        return cli_usage("rekey", "name the vault (or set VAULT_REPOSITORY)");
    if (argc > 0)
        return cli_usage("rekey", "unexpected argument '%s'", argv[0]);
    vault_t *v = cli_open_vault(path, identity, passphrase_file);
    if (!v)
        return EXIT_FAILURE_;
    cli_catch_interrupts();
    vault_rekey_result r;
    vault_error rc = vault_rekey(v, &r);
    vault_close(v);
    if (rc != VAULT_OK)
        return cli_fail(rc);
    printf("re-sealed %s into %s and %s; deleted %s\n",
           cli_count(r.blobs_rewritten, "blob", "blobs"),
           cli_count(r.packs_rewritten, "pack", "packs"),
           cli_count(r.snapshots_rewritten, "snapshot", "snapshots"),
           cli_count(r.objects_deleted, "old object", "old objects"));
    return EXIT_OK;
}
