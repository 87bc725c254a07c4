/*
 * cmd_init.c - `vault init`: a new vault with its first owner.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_init(int argc, char **argv)
{
    static const struct option options[] = {
        {"identity", required_argument, NULL, 'i'},
        {"recipient", required_argument, NULL, 'r'},
        {"passphrase-file", required_argument, NULL, 'F'},
        {NULL, 0, NULL, 0}};
    const char *identity = NULL, *recipient = NULL, *passphrase_file = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "i:r:", options, NULL)) != -1) {
        switch (c) {
        case 'i': identity = optarg; break;
        case 'r': recipient = optarg; break;
        case 'F': passphrase_file = optarg; break;
        default: return cli_bad_option("init", argv);
        }
    }
    argc -= optind;
    argv += optind;
    const char *path = argc > 0 ? argv[0] : getenv("VAULT_REPOSITORY");
    if (argc > 1)
        return cli_usage("init", "unexpected argument '%s'", argv[1]);
    if (!path || !path[0])
        return cli_usage("init", "name the vault (a directory or a location)");
    if (identity && recipient)
        return cli_usage("init", "give -i or -r, not both");

    char owner[VAULT_RECIPIENT_MAX];
    if (recipient) {
        snprintf(owner, sizeof owner, "%s", recipient);
    } else {
        vault_identity_t *id = cli_load_identity(identity, passphrase_file);
        if (!id)
            return EXIT_FAILURE_;
        snprintf(owner, sizeof owner, "%s", vault_identity_recipient(id));
        vault_identity_free(id);
    }
    /* `vault init ~/backups/vault` on a fresh disk: the library makes
     * only the vault's own folder. */
    if (!vault_location_has_scheme(path) && vault_probe(path) != VAULT_OK &&
        cli_make_parents(path) != 0)
        return EXIT_FAILURE_;
    char fingerprint[VAULT_FINGERPRINT_CHARS + 1];
    vault_error rc = vault_create_at(path, &cli_storage, owner, fingerprint);
    if (rc != VAULT_OK)
        return cli_fail(rc);
    /* A new vault where another was pinned: the user made this one. */
    cli_pin_record(path, fingerprint);
    char *shown = cli_location_shown(path);
    printf("created vault %s, owner %s\nfingerprint %s\n",
           shown ? shown : "", owner, fingerprint);
    free(shown);
    return EXIT_OK;
}
