/*
 * cmd_copy.c - `vault copy`: snapshots from one vault into another.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

int cmd_copy(int argc, char **argv)
{
    const char *identity = NULL, *passphrase_file = NULL;
    int bad = cli_identity_options("copy", &argc, &argv, &identity,
                                   &passphrase_file);
    if (bad)
        return bad;
    if (argc < 2)
        return cli_usage("copy", "name the source and the destination vault");
    const char *from = argv[0], *to = argv[1];
    vault_t *src = cli_open_vault(from, identity, passphrase_file);
    if (!src)
        return EXIT_FAILURE_;
    /* The same identity opens both (cli_open_vault loads it each time: a
     * protected identity asks for its passphrase twice on a terminal,
     * once with --passphrase-file or VAULT_PASSPHRASE). */
    vault_t *dst = cli_open_vault(to, identity, passphrase_file);
    if (!dst) {
        vault_close(src);
        return EXIT_FAILURE_;
    }
    cli_catch_interrupts();
    vault_copy_result r;
    vault_error rc = vault_copy(src, dst, (const char *const *)argv + 2,
                                (size_t)(argc - 2), &r);
    vault_close(dst);
    vault_close(src);
    if (rc != VAULT_OK) {
        int status = cli_fail(rc);
        if (r.snapshots_copied)
            fprintf(stderr, "vault: copy: %llu snapshot%s copied before "
                            "the failure stay in %s\n",
                    (unsigned long long)r.snapshots_copied,
                    r.snapshots_copied == 1 ? "" : "s", to);
        return status;
    }
    char read_buf[32], added_buf[32];
    printf("copied %llu snapshot%s, skipped %llu already there; %llu file%s, "
           "%s read, %s added in %.1f s\n",
           (unsigned long long)r.snapshots_copied,
           r.snapshots_copied == 1 ? "" : "s",
           (unsigned long long)r.snapshots_skipped,
           (unsigned long long)r.files, r.files == 1 ? "" : "s",
           cli_size(r.bytes_read, read_buf),
           cli_size(r.bytes_added, added_buf), r.seconds);
    if (r.withheld)
        printf("withheld from other members' snapshots: %llu privilege%s "
               "(set-id bits, capabilities, device nodes)\n",
               (unsigned long long)r.withheld, r.withheld == 1 ? "" : "s");
    return EXIT_OK;
}
