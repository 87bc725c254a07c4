/*
 * cmd_unshare.c - `vault unshare`: remove members and rotate keys.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_unshare(int argc, char **argv)
{
    static const struct option options[] = {
        {"identity", required_argument, NULL, 'i'},
        {"recipients-file", required_argument, NULL, 'R'},
        {"passphrase-file", required_argument, NULL, 'F'},
        {NULL, 0, NULL, 0}};
    const char *identity = NULL, *passphrase_file = NULL;
    char **recipients = NULL;
    size_t n = 0;
    int c, status = EXIT_OK;
    while ((c = getopt_long(argc, argv, "i:R:", options, NULL)) != -1) {
        switch (c) {
        case 'i': identity = optarg; break;
        case 'R':
            if (cli_read_recipients_file(optarg, &recipients, &n) != 0)
                return EXIT_FAILURE_;
            break;
        case 'F': passphrase_file = optarg; break;
        default: return cli_bad_option("unshare", argv);
        }
    }
    argc -= optind;
    argv += optind;
    const char *path = cli_take_vault(&argc, &argv);
    if (cli_add_recipients(&recipients, &n, argc, argv) != 0) {
        cli_free_recipients(recipients, n);
        return EXIT_FAILURE_;
    }
    if (!path)
        status = cli_usage("unshare", "name the vault (or set VAULT_REPOSITORY)");
    else if (n == 0)
        status = cli_usage("unshare", "name at least one member");
    vault_t *v = NULL;
    if (status == EXIT_OK && !(v = cli_open_vault(path, identity,
                                                   passphrase_file)))
        status = EXIT_FAILURE_;
    if (status == EXIT_OK) {
        vault_error rc =
            vault_unshare(v, (const char *const *)recipients, n);
        if (rc != VAULT_OK) {
            status = cli_fail(rc);
        } else {
            for (size_t i = 0; i < n; i++)
                printf("removed %s\n", recipients[i]);
            printf("rotated keys: data added from now on is sealed to the "
                   "remaining members only.\n"
                   "Older data stays readable to whoever had it; run "
                   "`vault rekey` to re-seal it.\n");
        }
    }
    vault_close(v);
    cli_free_recipients(recipients, n);
    return status;
}
