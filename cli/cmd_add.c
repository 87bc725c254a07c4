/*
 * cmd_add.c - `vault add`: back up paths as one snapshot.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* More workers gain nothing and cost memory: the add queues up to two
 * chunks (4 MiB each at most) per worker. */
#define THREADS_MAX 256

typedef struct strv {
    const char **items;
    size_t n;
} strv;

static int strv_push(strv *v, const char *s)
{
    const char **p = realloc(v->items, (v->n + 1) * sizeof *p);
    if (!p)
        return -1;
    v->items = p;
    v->items[v->n++] = s;
    return 0;
}

static void report_error(void *ctx, const char *path, const char *detail)
{
    (void)ctx;
    cli_error("%s: %s", path, detail);
}

int cmd_add(int argc, char **argv)
{
    static const struct option options[] = {
        {"identity", required_argument, NULL, 'i'},
        {"tag", required_argument, NULL, 't'},
        {"exclude", required_argument, NULL, 'e'},
        {"one-file-system", no_argument, NULL, 'x'},
        {"compression", required_argument, NULL, 'c'},
        {"threads", required_argument, NULL, 'T'},
        {"no-cache", no_argument, NULL, 'N'},
        {"host", required_argument, NULL, 'H'},
        {"json", no_argument, NULL, 'j'},
        {"passphrase-file", required_argument, NULL, 'F'},
        {NULL, 0, NULL, 0}};
    const char *identity = NULL, *passphrase_file = NULL;
    strv tags = {0}, excludes = {0};
    vault_add_options o;
    vault_add_options_init(&o);
    int json = 0, c;
    while ((c = getopt_long(argc, argv, "i:t:e:x", options, NULL)) != -1) {
        switch (c) {
        case 'i': identity = optarg; break;
        case 't':
            if (!optarg[0] || strv_push(&tags, optarg) != 0)
                return cli_usage("add", "bad --tag");
            break;
        case 'e':
            if (strv_push(&excludes, optarg) != 0)
                return cli_usage("add", "bad --exclude");
            break;
        case 'x': o.one_file_system = 1; break;
        case 'c': {
            char *end;
            if (strcmp(optarg, "off") == 0) {
                o.compression = VAULT_COMPRESSION_OFF;
                break;
            }
            long level = strtol(optarg, &end, 10);
            if (*end || level < 1 || level > VAULT_COMPRESSION_MAX_LEVEL)
                return cli_usage("add", "--compression takes 1..19 or off");
            o.compression = (int)level;
            break;
        }
        case 'T': {
            /* strtol, not atoi: "abc", "-5" or 3000000000 must not turn
             * silently into the default, nor 100000 into 100000 threads. */
            char *end;
            errno = 0;
            long n = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || n < 1 || n > THREADS_MAX)
                return cli_usage("add", "--threads takes 1..%d",
                                 THREADS_MAX);
            o.threads = (int)n;
            break;
        }
        case 'N': o.cache_dir = ""; break;
        case 'H': o.hostname = optarg; break;
        case 'j': json = 1; break;
        case 'F': passphrase_file = optarg; break;
        default: return cli_bad_option("add", argv);
        }
    }
    argc -= optind;
    argv += optind;
    const char *path = cli_take_vault(&argc, &argv);
    if (!path)
        return cli_usage("add", "name the vault (or set VAULT_REPOSITORY)");
    if (argc == 0)
        return cli_usage("add", "name what to back up");
    /* "" would resolve to the current directory: a variable that
     * expanded to nothing must not back up wherever the shell stands. */
    for (int i = 0; i < argc; i++)
        if (!argv[i][0])
            return cli_usage("add", "path argument %d is empty", i + 1);
    o.paths = (const char *const *)argv;
    o.n_paths = (size_t)argc;
    o.tags = tags.items;
    o.n_tags = tags.n;
    o.excludes = excludes.items;
    o.n_excludes = excludes.n;
    o.on_error = report_error;

    vault_t *v = cli_open_vault(path, identity, passphrase_file);
    if (!v) {
        free(tags.items);
        free(excludes.items);
        return EXIT_FAILURE_;
    }
    cli_catch_interrupts();
    vault_add_result r;
    vault_error rc = vault_add(v, &o, &r);
    vault_close(v);
    free(tags.items);
    free(excludes.items);
    if (rc != VAULT_OK)
        return cli_fail(rc);
    char a[32], b[32], d[32];
    if (json) {
        printf("{\"id\":\"%s\",\"files\":%llu,\"files_unchanged\":%llu,"
               "\"dirs\":%llu,\"others\":%llu,\"bytes_total\":%llu,"
               "\"bytes_read\":%llu,\"bytes_added\":%llu,"
               "\"blobs_added\":%llu,\"errors\":%llu,\"seconds\":%.3f}\n",
               r.snapshot_id, (unsigned long long)r.files,
               (unsigned long long)r.files_unchanged,
               (unsigned long long)r.dirs, (unsigned long long)r.others,
               (unsigned long long)r.bytes_total,
               (unsigned long long)r.bytes_read,
               (unsigned long long)r.bytes_added,
               (unsigned long long)r.blobs_added,
               (unsigned long long)r.errors, r.seconds);
    } else {
        printf("snapshot %s saved\n", r.snapshot_id);
        printf("files: %llu (%llu unchanged), dirs: %llu, others: %llu\n",
               (unsigned long long)r.files,
               (unsigned long long)r.files_unchanged,
               (unsigned long long)r.dirs, (unsigned long long)r.others);
        printf("read: %s of %s, added: %s after dedup and compression "
               "(%llu new blobs)\n",
               cli_size(r.bytes_read, a), cli_size(r.bytes_total, b),
               cli_size(r.bytes_added, d),
               (unsigned long long)r.blobs_added);
        printf("time: %.2f s\n", r.seconds);
    }
    if (r.errors) {
        cli_error("%llu item%s could not be read (see above); the snapshot "
                  "has the rest",
                  (unsigned long long)r.errors, r.errors == 1 ? "" : "s");
        return EXIT_PARTIAL;
    }
    return EXIT_OK;
}
