/*
 * cmd_members.c - `vault members`: who has access, and as what, by the
 * vault's membership log (any member can list).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

int cmd_members(int argc, char **argv)
{
    static const struct option options[] = {
        {"identity", required_argument, NULL, 'i'},
        {"json", no_argument, NULL, 'j'},
        {"passphrase-file", required_argument, NULL, 'F'},
        {NULL, 0, NULL, 0}};
    const char *identity = NULL, *passphrase_file = NULL;
    int json = 0, c;
    while ((c = getopt_long(argc, argv, "i:", options, NULL)) != -1) {
        switch (c) {
        case 'i': identity = optarg; break;
        case 'j': json = 1; break;
        case 'F': passphrase_file = optarg; break;
        default: return cli_bad_option("members", argv);
        }
    }
    argc -= optind;
    argv += optind;
    const char *path = cli_take_vault(&argc, &argv);
    if (!path)
        return cli_usage("members", "name the vault (or set VAULT_REPOSITORY)");
    if (argc > 0)
        return cli_usage("members", "unexpected argument '%s'", argv[0]);
    vault_t *v = cli_open_vault(path, identity, passphrase_file);
    if (!v)
        return EXIT_FAILURE_;
    vault_member_info *list;
    size_t n;
    vault_error rc = vault_members(v, &list, &n);
    /* What members compare out of band: the same as init printed. */
    char fingerprint[VAULT_FINGERPRINT_CHARS + 1];
    vault_fingerprint(v, fingerprint);
    vault_close(v);
    if (rc != VAULT_OK)
        return cli_fail(rc);
    if (json)
        fputs("[", stdout);
    else
        printf("vault fingerprint %s\n", fingerprint);
    for (size_t i = 0; i < n; i++) {
        char t[48];
        if (json) {
            printf("%s\n{\"member\":", i ? "," : "");
            cli_json_string(stdout, list[i].member);
            printf(",\"role\":\"%s\",\"added\":\"%s\",\"epochs\":%u,"
                   "\"envelope\":\"%s\",\"signing_key\":\"%s\"}",
                   vault_role_name(list[i].role),
                   cli_time_rfc3339(list[i].created, 0, t),
                   (unsigned)list[i].epochs, list[i].envelope,
                   list[i].sign_key);
        } else {
            /* The signing key, shortened: what `ls` shows as an author. */
            printf("%-6s  %s  %.16s  %s\n", vault_role_name(list[i].role),
                   cli_time(list[i].created, t), list[i].sign_key,
                   cli_text(list[i].member));
        }
    }
    if (json)
        fputs(n ? "\n]\n" : "]\n", stdout);
    vault_members_free(list, n);
    return EXIT_OK;
}
