/*
 * cmd_tag.c - `vault tag`: add, remove or set tags of snapshots (restic's
 * tag).  Each option takes tags separated by commas and may be repeated.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define TAG_MAX 256

typedef struct tag_list {
    const char *items[TAG_MAX];
    size_t n;
} tag_list;

/* Splits text ("a,b"; modified in place) into list; an empty text adds
 * nothing (--set "" clears).  -1 when there are too many. */
static int split_tags(char *text, tag_list *list)
{
    for (char *p = text; *p;) {
        size_t len = strcspn(p, ",");
        char *next = p[len] ? p + len + 1 : p + len;
        p[len] = '\0';
        if (len) {
            if (list->n == TAG_MAX)
                return -1;
            list->items[list->n++] = p;
        }
        p = next;
    }
    return 0;
}

int cmd_tag(int argc, char **argv)
{
    static const struct option options[] = {
        {"identity", required_argument, NULL, 'i'},
        {"passphrase-file", required_argument, NULL, 'F'},
        {"add", required_argument, NULL, 'a'},
        {"remove", required_argument, NULL, 'r'},
        {"set", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0}};
    const char *identity = NULL, *passphrase_file = NULL;
    static tag_list add, remove, set; /* large: not on the stack */
    int replace = 0, c;
    while ((c = getopt_long(argc, argv, "i:", options, NULL)) != -1) {
        tag_list *list = NULL;
        switch (c) {
        case 'i': identity = optarg; break;
        case 'F': passphrase_file = optarg; break;
        case 'a': list = &add; break;
        case 'r': list = &remove; break;
        case 's': list = &set; replace = 1; break;
        default: return cli_bad_option("tag", argv);
        }
        if (list && split_tags(optarg, list) != 0)
            return cli_usage("tag", "more than %d tags", TAG_MAX);
    }
    argc -= optind;
    argv += optind;
    const char *location = cli_take_vault(&argc, &argv);
    if (!location)
        return cli_usage("tag", "name the vault (or set VAULT_REPOSITORY)");
    if (argc == 0)
        return cli_usage("tag", "name the snapshots (IDs or latest)");
    if (!replace && add.n == 0 && remove.n == 0)
        return cli_usage("tag", "give --add, --remove or --set");
    vault_t *v = cli_open_vault(location, identity, passphrase_file);
    if (!v)
        return EXIT_FAILURE_;
    vault_tag_options o = {
        .add = add.items, .n_add = add.n,
        .remove = remove.items, .n_remove = remove.n,
        .replace = replace, .set = set.items, .n_set = set.n,
    };
    int status = EXIT_OK;
    for (int i = 0; i < argc; i++) {
        /* Resolved first: "latest" names a new snapshot once this one is
         * retagged, so each operand is what it named at the start. */
        char id[65], new_id[65];
        vault_error rc = vault_snapshot_resolve(v, argv[i], id);
        if (rc == VAULT_OK)
            rc = vault_tag(v, id, &o, new_id);
        if (rc != VAULT_OK) {
            status = cli_fail(rc);
            break;
        }
        if (strcmp(id, new_id) == 0)
            printf("snapshot %.8s: tags unchanged\n", id);
        else
            printf("snapshot %.8s: tags changed, now snapshot %.8s\n", id,
                   new_id);
    }
    vault_close(v);
    return status;
}
