/*
 * cmd_extract.c - `vault extract`: restore a snapshot into a directory or
 * as a tar stream.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* Entries in the way that differ are named up to this many; the summary
 * counts the rest (an extraction into a folder holding another version
 * would otherwise print a line per file). */
#define DIFFER_NAMED 10

/* on_error: never two at once (vault.h), so the count needs no lock. */
static void report_error(void *ctx, const char *path, vault_error code,
                         const char *detail)
{
    unsigned *differ_named = ctx;
    if (code == VAULT_E_EXISTS && (*differ_named)++ >= DIFFER_NAMED)
        return;
    cli_error("%s: %s", path, detail);
}

/*
 * Opens the --tar file for writing; -1 after printing why.  The file is
 * made 0600: the snapshot may hold files only their owner could read.
 * Without overwrite it must not exist (O_EXCL: a symlink planted there is
 * not followed either).  With overwrite the tar goes to a new file beside
 * it (*tmp, malloc'ed) that the caller renames onto path when done: that
 * replaces the directory entry, so an existing file or a symlink planted
 * at path is never written through.
 */
static int open_tar(const char *path, int overwrite, char **tmp)
{
    *tmp = NULL;
    if (!overwrite) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
                                O_CLOEXEC, 0600);
        if (fd < 0 && errno == EEXIST)
            cli_error("%s: cannot create (use --overwrite to replace)", path);
        else if (fd < 0)
            cli_error("%s: cannot create: %s", path, strerror(errno));
        return fd;
    }
    size_t size = strlen(path) + sizeof ".tmp-XXXXXX";
    char *name = malloc(size);
    if (!name) {
        cli_error("out of memory");
        return -1;
    }
    snprintf(name, size, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(name); /* 0600, O_EXCL */
    if (fd < 0) {
        cli_error("%s: cannot create a file beside it: %s", path,
                  strerror(errno));
        free(name);
        return -1;
    }
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    *tmp = name;
    return fd;
}

/* Another member's snapshot: who wrote it, and what of it is trusted,
 * before anything is written (format spec "Privileges from another
 * member's snapshot"). */
static void show_author(const vault_snapshot_info *s, int same_privileges)
{
    char author[160];
    if (same_privileges)
        cli_error("snapshot %.8s by %s: restoring its set-id bits, "
                  "capabilities and devices as recorded "
                  "(--same-privileges)",
                  s->id, cli_author(s, author));
    else
        cli_error("snapshot %.8s by %s: set-id bits, capabilities and "
                  "devices are withheld; --same-privileges restores them",
                  s->id, cli_author(s, author));
}

int cmd_extract(int argc, char **argv)
{
    static const struct option options[] = {
        {"identity", required_argument, NULL, 'i'},
        {"target", required_argument, NULL, 'C'},
        {"overwrite", no_argument, NULL, 'O'},
        {"same-privileges", no_argument, NULL, 'P'},
        {"tar", required_argument, NULL, 'T'},
        {"passphrase-file", required_argument, NULL, 'F'},
        {"exclude", required_argument, NULL, 'e'},
        {"iexclude", required_argument, NULL, 'E'},
        {"include", required_argument, NULL, 'n'},
        {"iinclude", required_argument, NULL, 'N'},
        CLI_SELECT_LONG_OPTIONS,
        {NULL, 0, NULL, 0}};
    const char *identity = NULL, *target = NULL, *tar = NULL,
               *passphrase_file = NULL;
    vault_extract_options o;
    vault_extract_options_init(&o);
    cli_select select = {0};
    /* --exclude, --iexclude, --include, --iinclude, in that order */
    enum { PATTERN_MAX = 256 };
    static const char *patterns[4][PATTERN_MAX];
    size_t n_patterns[4] = {0};
    int c;
    while ((c = getopt_long(argc, argv, "i:C:e:", options, NULL)) != -1) {
        int kind = c == 'e' ? 0 : c == 'E' ? 1 : c == 'n' ? 2 : c == 'N' ? 3
                                                                       : -1;
        if (kind >= 0) {
            if (n_patterns[kind] == PATTERN_MAX)
                return cli_usage("extract", "more than %d patterns of a kind",
                                 PATTERN_MAX);
            patterns[kind][n_patterns[kind]++] = optarg;
            continue;
        }
        int taken = cli_select_option(&select, c, optarg);
        if (taken < 0)
            return cli_usage("extract", "too many --%s",
                             argv[optind - 1] + 2);
        if (taken)
            continue;
        switch (c) {
        case 'i': identity = optarg; break;
        case 'C': target = optarg; break;
        case 'O': o.overwrite = 1; break;
        case 'P': o.same_privileges = 1; break;
        case 'T': tar = optarg; break;
        case 'F': passphrase_file = optarg; break;
        default: return cli_bad_option("extract", argv);
        }
    }
    argc -= optind;
    argv += optind;
    const char *path = cli_take_vault(&argc, &argv);
    if (!path)
        return cli_usage("extract", "name the vault (or set VAULT_REPOSITORY)");
    if (argc == 0)
        return cli_usage("extract", "name the snapshot (an ID or latest)");
    if (!target == !tar)
        return cli_usage("extract", "give -C DIR or --tar FILE (one of them)");
    /* SNAP:PATH restores what PATH holds at the target's root (as
     * restic does); further operands are include paths, below PATH. */
    char *ref;
    int status = cli_split_ref("extract", 1, argv, &ref, &o.root_path);
    if (status)
        return status;
    o.include = (const char *const *)(argv + 1);
    o.n_include = (size_t)(argc - 1);
    if (o.n_include == 0)
        o.include = NULL;
    o.exclude_patterns = patterns[0];
    o.n_exclude_patterns = n_patterns[0];
    o.iexclude_patterns = patterns[1];
    o.n_iexclude_patterns = n_patterns[1];
    o.include_patterns = patterns[2];
    o.n_include_patterns = n_patterns[2];
    o.iinclude_patterns = patterns[3];
    o.n_iinclude_patterns = n_patterns[3];
    o.target_dir = target;
    o.restore_owner = geteuid() == 0;
    unsigned differ_named = 0;
    o.on_error = report_error;
    o.on_error_ctx = &differ_named;

    /* what it reads is listed with the config (vault.h) */
    cli_storage.reads_snapshots = 1;
    vault_t *v = cli_open_vault(path, identity, passphrase_file);
    if (!v) {
        free(ref);
        return EXIT_FAILURE_;
    }
    cli_catch_interrupts();
    /* Resolved once, so that what is shown is what is extracted. */
    char id[65];
    if ((status = cli_select_snapshot(v, &select, ref, id)) != 0) {
        free(ref);
        vault_close(v);
        return status;
    }
    vault_snapshot_info *snap;
    vault_error rc = vault_snapshot_get(v, id, &snap);
    if (rc != VAULT_OK) {
        free(ref);
        vault_close(v);
        return cli_fail(rc);
    }
    if (!snap->author_is_me)
        show_author(snap, o.same_privileges);
    vault_snapshots_free(snap, 1);
    FILE *summary = stdout;
    char *tar_tmp = NULL; /* with --overwrite: the file renamed onto tar */
    if (tar) {
        o.tar = 1;
        if (strcmp(tar, "-") == 0) {
            o.tar_fd = STDOUT_FILENO;
            summary = stderr;
        } else if ((o.tar_fd = open_tar(tar, o.overwrite, &tar_tmp)) < 0) {
            vault_close(v);
            free(ref);
            return EXIT_FAILURE_;
        }
    }
    vault_extract_result r;
    rc = vault_extract(v, id, &o, &r);
    if (rc == VAULT_E_NOT_FOUND && o.root_path)
        cli_hint_paths(v, id, o.root_path);
    vault_close(v);
    free(ref);
    if (tar && o.tar_fd != STDOUT_FILENO) {
        int done = rc == VAULT_OK || rc == VAULT_E_PARTIAL;
        int written = close(o.tar_fd) == 0;
        if (!written && done)
            cli_error("%s: write failed: %s", tar, strerror(errno));
        else if (tar_tmp && done && rename(tar_tmp, tar) != 0) {
            cli_error("%s: cannot replace: %s", tar, strerror(errno));
            written = 0;
        }
        /* A tar that failed is never left behind, however far it got
         * (interrupted, storage gone, libarchive missing): one this run
         * made (O_EXCL), or the file beside it; what was at tar before
         * (--overwrite) stays. */
        if (tar_tmp && (!done || !written))
            unlink(tar_tmp);
        else if (!tar_tmp && !done)
            unlink(tar);
        free(tar_tmp);
        if (done && !written)
            return EXIT_FAILURE_;
    }
    if (rc != VAULT_OK && rc != VAULT_E_PARTIAL)
        return cli_fail(rc);
    char size[32];
    fprintf(summary,
            "restored %s, %s, %s, %s (%s)",
            cli_count(r.files, "file", "files"),
            cli_count(r.dirs, "dir", "dirs"),
            cli_count(r.symlinks, "symlink", "symlinks"),
            cli_count(r.others, "other", "others"), cli_size(r.bytes, size));
    if (r.skipped)
        fprintf(summary, "; %llu already there", (unsigned long long)r.skipped);
    if (r.errors)
        fprintf(summary, "; %llu failed", (unsigned long long)r.errors);
    fputc('\n', summary);
    if (r.temporaries_removed)
        fprintf(summary, "removed %llu temporary files of an interrupted "
                         "extraction\n",
                (unsigned long long)r.temporaries_removed);
    if (r.differ)
        cli_error("%llu entr%s in the way differ%s from the snapshot and "
                  "%s left alone%s; --overwrite replaces them",
                  (unsigned long long)r.differ, r.differ == 1 ? "y" : "ies",
                  r.differ == 1 ? "s" : "", r.differ == 1 ? "was" : "were",
                  r.differ > DIFFER_NAMED ? " (the first ten named above)"
                                          : "");
    if (r.withheld)
        fprintf(summary,
                "withheld %llu privileges (set-id bits, capabilities, "
                "devices) of another member's snapshot; --same-privileges "
                "restores them\n",
                (unsigned long long)r.withheld);
    return r.errors ? EXIT_PARTIAL : EXIT_OK;
}
