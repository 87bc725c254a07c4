/*
 * cmd_unlock.c - `vault unlock`: remove stale add markers (vault_unlock).
 */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"

int cmd_unlock(int argc, char **argv)
{
    static const struct option options[] = {
        {"identity", required_argument, NULL, 'i'},
        {"passphrase-file", required_argument, NULL, 'F'},
        {"remove-all", no_argument, NULL, 'a'},
        {"dry-run", no_argument, NULL, 'n'},
        {NULL, 0, NULL, 0}};
    const char *identity = NULL, *passphrase_file = NULL;
    vault_unlock_options o;
    vault_unlock_options_init(&o);
    int c;
    while ((c = getopt_long(argc, argv, "i:n", options, NULL)) != -1) {
        switch (c) {
        case 'i': identity = optarg; break;
        case 'F': passphrase_file = optarg; break;
        case 'a': o.remove_all = 1; break;
        case 'n': o.dry_run = 1; break;
        default: return cli_bad_option("unlock", argv);
        }
    }
    argc -= optind;
    argv += optind;
    const char *path = cli_take_vault(&argc, &argv);
    if (!path)
        return cli_usage("unlock", "name the vault (or set VAULT_REPOSITORY)");
    if (argc > 0)
        return cli_usage("unlock", "unexpected argument '%s'", argv[0]);
    vault_t *v = cli_open_vault(path, identity, passphrase_file);
    if (!v)
        return EXIT_FAILURE_;
    cli_catch_interrupts();
    vault_unlock_result r;
    vault_error rc = vault_unlock(v, &o, &r);
    vault_close(v);
    if (rc != VAULT_OK)
        return cli_fail(rc);
    printf("%s %llu stale add marker%s\n",
           o.dry_run ? "would remove" : "removed",
           (unsigned long long)r.removed, r.removed == 1 ? "" : "s");
    if (r.kept_running)
        printf("kept %llu of adds running on this machine\n",
               (unsigned long long)r.kept_running);
    if (r.kept_elsewhere)
        printf("kept %llu of other machines, less than a day old "
               "(--remove-all removes them: only if those adds are known "
               "to have ended)\n",
               (unsigned long long)r.kept_elsewhere);
    if (r.kept_others)
        printf("kept %llu of other members (only an owner removes "
               "those)\n",
               (unsigned long long)r.kept_others);
    return EXIT_OK;
}
