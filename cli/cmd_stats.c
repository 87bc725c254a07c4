/*
 * cmd_stats.c - `vault stats`: restore size, stored size and the
 * deduplication ratio, per snapshot and in total (restic's stats).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

typedef struct stats_out {
    int json;
    size_t shown;
} stats_out;

static void json_info(const vault_stats_info *s)
{
    printf("\"files\":%llu,\"dirs\":%llu,\"others\":%llu,"
           "\"restore_bytes\":%llu,\"chunks\":%llu,\"chunk_bytes\":%llu,"
           "\"trees\":%llu,\"stored_bytes\":%llu",
           (unsigned long long)s->files, (unsigned long long)s->dirs,
           (unsigned long long)s->others,
           (unsigned long long)s->restore_bytes,
           (unsigned long long)s->chunks, (unsigned long long)s->chunk_bytes,
           (unsigned long long)s->trees,
           (unsigned long long)s->stored_bytes);
}

/* restore size / stored size: how many times over deduplication and
 * compression fit what the snapshots hold. */
static double ratio(const vault_stats_info *s)
{
    return s->stored_bytes ? (double)s->restore_bytes / (double)s->stored_bytes
                           : 0.0;
}

static int print_one(void *ctx, const vault_stats_info *s)
{
    stats_out *o = ctx;
    if (o->json) {
        printf("%s\n{\"id\":\"%s\",", o->shown ? "," : "", s->id);
        json_info(s);
        putchar('}');
    } else {
        char a[32], b[32], c[32];
        printf("%.8s  %llu files, %llu dirs, %llu others; restore size %s; "
               "%llu chunks (%s) stored in %s\n",
               s->id, (unsigned long long)s->files,
               (unsigned long long)s->dirs, (unsigned long long)s->others,
               cli_size(s->restore_bytes, a), (unsigned long long)s->chunks,
               cli_size(s->chunk_bytes, b), cli_size(s->stored_bytes, c));
    }
    o->shown++;
    return 0;
}

int cmd_stats(int argc, char **argv)
{
    static const struct option options[] = {
        {"identity", required_argument, NULL, 'i'},
        {"passphrase-file", required_argument, NULL, 'F'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0}};
    const char *identity = NULL, *passphrase_file = NULL;
    stats_out out = {0};
    int c;
    while ((c = getopt_long(argc, argv, "i:", options, NULL)) != -1) {
        switch (c) {
        case 'i': identity = optarg; break;
        case 'F': passphrase_file = optarg; break;
        case 'j': out.json = 1; break;
        default: return cli_bad_option("stats", argv);
        }
    }
    argc -= optind;
    argv += optind;
    const char *location = cli_take_vault(&argc, &argv);
    if (!location)
        return cli_usage("stats", "name the vault (or set VAULT_REPOSITORY)");
    /* what it reads is listed with the config (vault.h) */
    cli_storage.reads_snapshots = 1;
    vault_t *v = cli_open_vault(location, identity, passphrase_file);
    if (!v)
        return EXIT_FAILURE_;
    if (out.json)
        fputs("{\"snapshots\":[", stdout);
    vault_stats_info total;
    vault_error rc = vault_stats(v, (const char *const *)argv, (size_t)argc,
                                 print_one, &out, &total);
    vault_close(v);
    if (rc != VAULT_OK) {
        if (out.json)
            fputs("]}\n", stdout);
        return cli_fail(rc);
    }
    if (out.json) {
        fputs(out.shown ? "\n],\"total\":{" : "],\"total\":{", stdout);
        json_info(&total);
        printf(",\"vault_bytes\":%llu,\"ratio\":%.3f}}\n",
               (unsigned long long)total.vault_bytes, ratio(&total));
        return EXIT_OK;
    }
    char a[32], b[32], d[32], e[32];
    printf("\ntotal of %zu snapshot%s: %llu files, restore size %s\n"
           "  %llu distinct chunks (%s) and %llu trees, stored in %s\n"
           "  deduplication and compression: %.2fx (restore size / "
           "stored)\n"
           "  the vault's packs hold %s of blobs (prune frees what no "
           "snapshot needs)\n",
           out.shown, out.shown == 1 ? "" : "s",
           (unsigned long long)total.files, cli_size(total.restore_bytes, a),
           (unsigned long long)total.chunks, cli_size(total.chunk_bytes, b),
           (unsigned long long)total.trees, cli_size(total.stored_bytes, d),
           ratio(&total), cli_size(total.vault_bytes, e));
    return EXIT_OK;
}
