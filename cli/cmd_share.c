/*
 * cmd_share.c - `vault share`: give more recipients a role in the vault.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cli_parse_role(const char *text, vault_role *role)
{
    if (strcmp(text, "owner") == 0)
        *role = VAULT_ROLE_OWNER;
    else if (strcmp(text, "reader") == 0)
        *role = VAULT_ROLE_READER;
    else if (strcmp(text, "writer") == 0)
        *role = VAULT_ROLE_WRITER;
    else
        return -1;
    return 0;
}

/* Reads age's recipients-file format: one recipient a line, '#' comments
 * and blank lines allowed.  Appends malloc'ed strings to *list. */
int cli_read_recipients_file(const char *path, char ***list, size_t *n)
{
    int fd = cli_open_regular(path);
    if (fd < 0)
        return -1;
    FILE *f = fdopen(fd, "r");
    if (!f) {
        cli_error("%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    char line[4096];
    int status = 0;
    while (fgets(line, sizeof line, f)) {
        size_t len = strcspn(line, "\r\n");
        line[len] = '\0';
        while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
            line[--len] = '\0';
        if (len == 0 || line[0] == '#')
            continue;
        char **grown = realloc(*list, (*n + 1) * sizeof *grown);
        char *copy = strdup(line);
        if (!grown || !copy) {
            free(copy);
            if (grown)
                *list = grown;
            cli_error("out of memory");
            status = -1;
            break;
        }
        *list = grown;
        (*list)[(*n)++] = copy;
    }
    fclose(f);
    return status;
}

int cli_add_recipients(char ***list, size_t *n, int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        char **grown = realloc(*list, (*n + 1) * sizeof *grown);
        if (!grown || !(grown[*n] = strdup(argv[i]))) {
            if (grown)
                *list = grown;
            cli_error("out of memory");
            return -1;
        }
        *list = grown;
        (*n)++;
    }
    /* "ssh-ed25519 AAAA... comment" (or ssh-rsa) names the member without
     * its comment */
    for (size_t i = 0; i < *n; i++) {
        char *r = (*list)[i];
        char *sp = strncmp(r, "ssh-", 4) == 0 ? strchr(r, ' ') : NULL;
        if (sp && (sp = strchr(sp + 1, ' ')) != NULL)
            *sp = '\0';
    }
    return 0;
}

void cli_free_recipients(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

int cmd_share(int argc, char **argv)
{
    static const struct option options[] = {
        {"identity", required_argument, NULL, 'i'},
        {"role", required_argument, NULL, 'r'},
        {"recipients-file", required_argument, NULL, 'R'},
        {"passphrase-file", required_argument, NULL, 'F'},
        {NULL, 0, NULL, 0}};
    const char *identity = NULL, *passphrase_file = NULL;
    vault_role role = VAULT_ROLE_READER;
    char **recipients = NULL;
    size_t n = 0;
    int c, status = EXIT_OK;
    while ((c = getopt_long(argc, argv, "i:R:", options, NULL)) != -1) {
        switch (c) {
        case 'i': identity = optarg; break;
        case 'r':
            if (cli_parse_role(optarg, &role) != 0)
                return cli_usage("share", "--role is owner, reader or writer");
            break;
        case 'R':
            if (cli_read_recipients_file(optarg, &recipients, &n) != 0)
                return EXIT_FAILURE_;
            break;
        case 'F': passphrase_file = optarg; break;
        default: return cli_bad_option("share", argv);
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
        status = cli_usage("share", "name the vault (or set VAULT_REPOSITORY)");
    else if (n == 0)
        status = cli_usage("share", "name at least one recipient");
    vault_t *v = NULL;
    if (status == EXIT_OK) {
        v = cli_open_vault(path, identity, passphrase_file);
        if (!v)
            status = EXIT_FAILURE_;
    }
    for (size_t i = 0; i < n && status == EXIT_OK; i++) {
        vault_error rc = vault_share(v, recipients[i], role);
        if (rc != VAULT_OK)
            status = cli_fail(rc);
        else
            printf("shared with %s as %s\n", recipients[i],
                   vault_role_name(role));
    }
    vault_close(v);
    cli_free_recipients(recipients, n);
    return status;
}
