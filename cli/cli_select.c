/*
 * cli_select.c - naming a snapshot and a path in it, the same way in ls,
 * extract and dump: "SNAP[:PATH]" or "SNAP PATH", and --host, --path,
 * --tag to choose which snapshot "latest" is (restic's filters).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_select_option(cli_select *s, int option, const char *arg)
{
    const char **list;
    size_t *n;
    switch (option) {
    case CLI_OPT_HOST:
        s->filter.host = arg;
        s->used = 1;
        return 1;
    case CLI_OPT_PATH:
        list = s->paths;
        n = &s->filter.n_paths;
        break;
    case CLI_OPT_TAG:
        list = s->tags;
        n = &s->filter.n_tags;
        break;
    default:
        return 0;
    }
    if (*n == CLI_SELECT_MAX)
        return -1;
    list[(*n)++] = arg;
    s->filter.paths = s->paths;
    s->filter.tags = s->tags;
    s->used = 1;
    return 1;
}

int cli_select_snapshot(vault_t *v, const cli_select *s, const char *ref,
                        char id[65])
{
    vault_error rc = vault_snapshot_resolve_filtered(
        v, ref, s && s->used ? &s->filter : NULL, id);
    return rc == VAULT_OK ? 0 : cli_fail(rc);
}

int cli_split_ref(const char *command, int argc, char **argv, char **ref,
                  const char **path)
{
    *ref = NULL;
    *path = NULL;
    if (argc < 1)
        return cli_usage(command, "name the snapshot (an ID or latest)");
    if (!(*ref = strdup(argv[0]))) {
        cli_error("out of memory");
        return EXIT_FAILURE_;
    }
    /* A snapshot ID never holds a colon: the first one ends it. */
    char *colon = strchr(*ref, ':');
    if (colon) {
        *colon = '\0';
        *path = colon + 1;
    }
    if (argc > 1 && colon) {
        free(*ref);
        *ref = NULL;
        return cli_usage(command, "give the path as SNAP:PATH or as a "
                                  "separate argument, not both");
    }
    if (argc > 1)
        *path = argv[1];
    return 0;
}

void cli_hint_paths(vault_t *v, const char *id, const char *path)
{
    vault_snapshot_info *s;
    if (vault_snapshot_get(v, id, &s) != VAULT_OK)
        return;
    fprintf(stderr, "vault: hint: paths in a snapshot start at its root "
                    "and name what add was given, made absolute");
    if (path && path[0] != '/')
        fprintf(stderr, " (\"%s\" is read as \"/%s\")", cli_text(path),
                cli_text(path));
    fprintf(stderr, "; snapshot %.8s holds", s->id);
    for (size_t i = 0; i < s->n_paths; i++)
        fprintf(stderr, "%s %s", i ? "," : "", cli_text(s->paths[i]));
    fputc('\n', stderr);
    vault_snapshots_free(s, 1);
}
