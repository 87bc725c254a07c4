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

/* -v: one line per entry, as it is added (or would be: --dry-run). */
static void list_item(void *ctx, const char *path, int type, uint64_t size,
                      int unchanged)
{
    (void)ctx;
    char buf[32];
    const char *what = type == VAULT_DIR       ? "dir"
                       : type == VAULT_SYMLINK ? "symlink"
                       : type != VAULT_FILE    ? "other"
                       : unchanged             ? "unchanged"
                                               : "file";
    printf("%-9s %s", what, cli_text(path));
    if (type == VAULT_FILE)
        printf("  (%s)", cli_size(size, buf));
    putchar('\n');
}

/* The lists cmd_add collects, in the order of its lists[]. */
enum { L_TAGS, L_EXCLUDES, L_IEXCLUDES, L_EXCLUDE_FILES, L_IEXCLUDE_FILES,
       L_IF_PRESENT, L_FILES_FROM, L_FILES_VERBATIM, L_FILES_RAW };

static void print_summary(const vault_add_result *r, int json, int dry_run)
{
    char a[32], b[32], d[32];
    if (json) {
        printf("{\"message_type\":\"summary\",\"id\":\"%s\",\"dry_run\":%s,\"files\":%llu,"
               "\"files_unchanged\":%llu,"
               "\"dirs\":%llu,\"others\":%llu,\"bytes_total\":%llu,"
               "\"bytes_read\":%llu,\"bytes_added\":%llu,"
               "\"blobs_added\":%llu,\"errors\":%llu,\"seconds\":%.3f}\n",
               r->snapshot_id, dry_run ? "true" : "false",
               (unsigned long long)r->files,
               (unsigned long long)r->files_unchanged,
               (unsigned long long)r->dirs, (unsigned long long)r->others,
               (unsigned long long)r->bytes_total,
               (unsigned long long)r->bytes_read,
               (unsigned long long)r->bytes_added,
               (unsigned long long)r->blobs_added,
               (unsigned long long)r->errors, r->seconds);
        return;
    }
    if (dry_run)
        printf("dry run: nothing was written\n");
    else
        printf("snapshot %s saved\n", r->snapshot_id);
    printf("files: %llu (%llu unchanged), dirs: %llu, others: %llu\n",
           (unsigned long long)r->files,
           (unsigned long long)r->files_unchanged,
           (unsigned long long)r->dirs, (unsigned long long)r->others);
    printf("read: %s of %s, %s: %s after dedup and compression "
           "(%llu new blobs)\n",
           cli_size(r->bytes_read, a), cli_size(r->bytes_total, b),
           dry_run ? "would add" : "added", cli_size(r->bytes_added, d),
           (unsigned long long)r->blobs_added);
    printf("time: %.2f s\n", r->seconds);
}

/* The add itself, once the options are parsed. */
static int add_run(int argc, char **argv, vault_add_options *o,
                   const char *identity, const char *passphrase_file,
                   int json, int verbose, int from_stdin,
                   const char *stdin_name, strv *const *lists)
{
    const char *path = cli_take_vault(&argc, &argv);
    if (!path)
        return cli_usage("add", "name the vault (or set VAULT_REPOSITORY)");
    int has_lists = lists[L_FILES_FROM]->n || lists[L_FILES_VERBATIM]->n ||
                    lists[L_FILES_RAW]->n;
    if (stdin_name && !from_stdin)
        return cli_usage("add", "--stdin-filename goes with --stdin");
    if ((stdin_name && !stdin_name[0]) || (o->tar && !o->tar[0]))
        return cli_usage("add", "--%s needs a value",
                         o->tar ? "tar" : "stdin-filename");
    if (from_stdin && o->tar)
        return cli_usage("add", "--stdin and --tar: one source at a time");
    if (from_stdin || o->tar) {
        if (argc > 0 || has_lists)
            return cli_usage("add", "--%s takes no paths to back up",
                             from_stdin ? "stdin" : "tar");
        o->stdin_filename = from_stdin ? (stdin_name ? stdin_name : "stdin")
                                       : NULL;
    } else if (argc == 0 && !has_lists) {
        return cli_usage("add", "name what to back up");
    }
    /* "" would resolve to the current directory: a variable that
     * expanded to nothing must not back up wherever the shell stands. */
    for (int i = 0; i < argc; i++)
        if (!argv[i][0])
            return cli_usage("add", "path argument %d is empty", i + 1);
    o->paths = (const char *const *)argv;
    o->n_paths = (size_t)argc;
#define LIST(field, which)                                                   \
    o->field = lists[which]->items;                                          \
    o->n_##field = lists[which]->n
    LIST(tags, L_TAGS);
    LIST(excludes, L_EXCLUDES);
    LIST(iexcludes, L_IEXCLUDES);
    LIST(exclude_files, L_EXCLUDE_FILES);
    LIST(iexclude_files, L_IEXCLUDE_FILES);
    LIST(exclude_if_present, L_IF_PRESENT);
    LIST(files_from, L_FILES_FROM);
    LIST(files_from_verbatim, L_FILES_VERBATIM);
    LIST(files_from_raw, L_FILES_RAW);
#undef LIST
    o->on_error = report_error;
    if (verbose)
        o->on_item = list_item;

    vault_t *v = cli_open_vault(path, identity, passphrase_file);
    if (!v)
        return EXIT_FAILURE_;
    cli_catch_interrupts();
    vault_add_result r;
    vault_error rc = vault_add(v, o, &r);
    vault_close(v);
    if (rc != VAULT_OK)
        return cli_fail(rc);
    print_summary(&r, json, o->dry_run);
    if (r.errors) {
        cli_error("%llu item%s could not be read (see above); the snapshot "
                  "has the rest",
                  (unsigned long long)r.errors, r.errors == 1 ? "" : "s");
        return EXIT_PARTIAL;
    }
    return EXIT_OK;
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
        {"host", required_argument, NULL, 'H'},
        {"json", no_argument, NULL, 'j'},
        {"passphrase-file", required_argument, NULL, 'F'},
        {"iexclude", required_argument, NULL, 'I'},
        {"exclude-file", required_argument, NULL, 'f'},
        {"iexclude-file", required_argument, NULL, 'g'},
        {"exclude-caches", no_argument, NULL, 'C'},
        {"exclude-if-present", required_argument, NULL, 'P'},
        {"exclude-larger-than", required_argument, NULL, 'L'},
        {"files-from", required_argument, NULL, 'r'},
        {"files-from-verbatim", required_argument, NULL, 'V'},
        {"files-from-raw", required_argument, NULL, 'R'},
        {"dry-run", no_argument, NULL, 'n'},
        {"verbose", no_argument, NULL, 'v'},
        {"stdin", no_argument, NULL, 's'},
        {"stdin-filename", required_argument, NULL, 'S'},
        {"tar", required_argument, NULL, 'A'},
        {NULL, 0, NULL, 0}};
    const char *identity = NULL, *passphrase_file = NULL;
    strv tags = {0}, excludes = {0}, iexcludes = {0}, exclude_files = {0},
         iexclude_files = {0}, if_present = {0}, files_from = {0},
         files_verbatim = {0}, files_raw = {0};
    strv *lists[] = {&tags, &excludes, &iexcludes, &exclude_files,
                     &iexclude_files, &if_present, &files_from,
                     &files_verbatim, &files_raw};
    vault_add_options o;
    vault_add_options_init(&o);
    int json = 0, verbose = 0, from_stdin = 0, c;
    const char *stdin_name = NULL;
    int rc_usage = -1;
    while (rc_usage < 0 &&
           (c = getopt_long(argc, argv, "i:t:e:xnv", options, NULL)) != -1) {
        strv *list = NULL;
        switch (c) {
        case 'i': identity = optarg; break;
        case 't':
            list = &tags;
            break;
        case 'e': list = &excludes; break;
        case 'I': list = &iexcludes; break;
        case 'f': list = &exclude_files; break;
        case 'g': list = &iexclude_files; break;
        case 'P': list = &if_present; break;
        case 'r': list = &files_from; break;
        case 'V': list = &files_verbatim; break;
        case 'R': list = &files_raw; break;
        case 'C': o.exclude_caches = 1; break;
        case 'L':
            if (!(o.exclude_larger_than = cli_parse_size(optarg)))
                rc_usage = cli_usage("add", "--exclude-larger-than takes a "
                                     "size above 0, with k, M, G or T");
            break;
        case 'n': o.dry_run = 1; break;
        case 'v': verbose = 1; break;
        case 's': from_stdin = 1; break;
        case 'S': stdin_name = optarg; break;
        case 'A': o.tar = optarg; break;
        case 'x': o.one_file_system = 1; break;
        case 'c': {
            char *end;
            if (strcmp(optarg, "off") == 0) {
                o.compression = VAULT_COMPRESSION_OFF;
                break;
            }
            long level = strtol(optarg, &end, 10);
            if (*end || level < 1 || level > VAULT_COMPRESSION_MAX_LEVEL)
                rc_usage = cli_usage("add",
                                     "--compression takes 1..19 or off");
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
                rc_usage = cli_usage("add", "--threads takes 1..%d",
                                     THREADS_MAX);
            o.threads = (int)n;
            break;
        }
        case 'H': o.hostname = optarg; break;
        case 'j': json = cli_output.json = 1; break;
        case 'F': passphrase_file = optarg; break;
        default: rc_usage = cli_bad_option("add", argv); break;
        }
        if (list && (!optarg[0] || strv_push(list, optarg) != 0)) {
            const char *name = "";
            for (const struct option *op = options; op->name; op++)
                if (op->val == c)
                    name = op->name;
            rc_usage = cli_usage("add", "--%s needs a value", name);
        }
    }
    /* the storage option, before or after the command's name (main.c):
     * for add it also means no files cache */
    if (cli_storage.no_cache)
        o.cache_dir = "";
    /* the marker goes up with the config's read (vault.h) */
    cli_storage.adds_next = !o.dry_run;
    if (rc_usage < 0)
        rc_usage = add_run(argc - optind, argv + optind, &o, identity,
                           passphrase_file, json, verbose, from_stdin,
                           stdin_name, lists);
    for (size_t i = 0; i < sizeof lists / sizeof *lists; i++)
        free(lists[i]->items);
    return rc_usage;
}
