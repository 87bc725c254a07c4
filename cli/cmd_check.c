/*
 * cmd_check.c - `vault check`: verifies the vault and names what each
 * problem affects.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define AFFECTS_SHOWN 10 /* affected paths printed per problem */

typedef struct check_ctx {
    int json;
    int first;
} check_ctx;

static void print_problem(FILE *out, const vault_check_problem *p)
{
    fprintf(out, "vault: check: %s%s: %s", p->warning ? "warning: " : "",
            cli_text(p->object), cli_text(p->what));
    if (p->n_affects) {
        fputs(" (affects ", out);
        for (size_t i = 0; i < p->n_affects && i < AFFECTS_SHOWN; i++) {
            const vault_check_ref *r = &p->affects[i];
            fprintf(out, "%ssnapshot %s%s%s", i ? ", " : "",
                    cli_text(r->snapshot), r->path ? " " : "",
                    r->path ? cli_text(r->path) : "");
        }
        if (p->n_affects > AFFECTS_SHOWN || p->affects_truncated)
            fprintf(out, ", and %s%zu more",
                    p->affects_truncated ? "over " : "",
                    p->n_affects > AFFECTS_SHOWN
                        ? p->n_affects - AFFECTS_SHOWN
                        : (size_t)0);
        fputc(')', out);
    }
    fputc('\n', out);
}

static void on_problem(void *ctx, const vault_check_problem *p)
{
    check_ctx *c = ctx;
    print_problem(stderr, p);
    if (!c->json)
        return;
    fputs(c->first ? "\n" : ",\n", stdout);
    c->first = 0;
    fputs("{\"object\":", stdout);
    cli_json_string(stdout, p->object);
    fputs(",\"what\":", stdout);
    cli_json_string(stdout, p->what);
    printf(",\"warning\":%s,\"affects\":[", p->warning ? "true" : "false");
    for (size_t i = 0; i < p->n_affects; i++) {
        fputs(i ? ",{\"snapshot\":" : "{\"snapshot\":", stdout);
        cli_json_string(stdout, p->affects[i].snapshot);
        if (p->affects[i].path) {
            fputs(",\"path\":", stdout);
            cli_json_string(stdout, p->affects[i].path);
        }
        fputc('}', stdout);
    }
    printf("],\"affects_truncated\":%s}",
           p->affects_truncated ? "true" : "false");
}

/* "N%" or "N", 0 < N <= 100. */
static int parse_percent(const char *text, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(text, &end);
    if (end == text || errno)
        return -1;
    if (*end == '%')
        end++;
    if (*end || !(x > 0 && x <= 100))
        return -1;
    *out = x;
    return 0;
}

/* A decimal seed above 0 (0 asks the library for a random one). */
static int parse_seed(const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    if (text[0] < '0' || text[0] > '9')
        return -1;
    unsigned long long x = strtoull(text, &end, 10);
    if (end == text || *end || errno || x == 0)
        return -1;
    *out = x;
    return 0;
}

static void print_summary(const vault_check_result *r, double percent)
{
    printf("checked %s, %s, %s in %s (read %s): ",
           cli_count(r->snapshots, "snapshot", "snapshots"),
           cli_count(r->trees, "tree", "trees"),
           cli_count(r->blobs, "blob", "blobs"),
           cli_count(r->packs, "pack", "packs"),
           cli_count(r->packs_read, "pack", "packs"));
    if (r->problems)
        printf("%s\n", cli_count(r->problems, "problem", "problems"));
    else
        puts("no problems found");
    if (r->warnings)
        printf("warnings: %llu (%llu unindexed packs)\n",
               (unsigned long long)r->warnings,
               (unsigned long long)r->unindexed_packs);
    if (r->skipped_text[0])
        printf("skipped: %s\n", r->skipped_text);
    if (percent > 0)
        printf("subset: seed %llu (--read-data-subset %g%% --seed %llu "
               "reads the same packs while the vault is unchanged)\n",
               (unsigned long long)r->seed, percent,
               (unsigned long long)r->seed);
}

static void print_json_summary(const vault_check_result *r)
{
    printf("],\"snapshots\":%llu,\"trees\":%llu,\"blobs\":%llu,"
           "\"packs\":%llu,\"packs_read\":%llu,\"blobs_read\":%llu,"
           "\"envelopes\":%llu,\"index_segments\":%llu,"
           "\"unindexed_packs\":%llu,\"problems\":%llu,\"warnings\":%llu,"
           "\"skipped_objects\":%llu,\"skipped\":",
           (unsigned long long)r->snapshots, (unsigned long long)r->trees,
           (unsigned long long)r->blobs, (unsigned long long)r->packs,
           (unsigned long long)r->packs_read,
           (unsigned long long)r->blobs_read,
           (unsigned long long)r->envelopes,
           (unsigned long long)r->index_segments,
           (unsigned long long)r->unindexed_packs,
           (unsigned long long)r->problems, (unsigned long long)r->warnings,
           (unsigned long long)r->skipped_objects);
    cli_json_string(stdout, r->skipped_text);
    printf(",\"seed\":%llu}\n", (unsigned long long)r->seed);
}

int cmd_check(int argc, char **argv)
{
    static const struct option options[] = {
        {"identity", required_argument, NULL, 'i'},
        {"read-data", no_argument, NULL, 'd'},
        {"read-data-subset", required_argument, NULL, 's'},
        {"seed", required_argument, NULL, 'S'},
        {"json", no_argument, NULL, 'j'},
        {"passphrase-file", required_argument, NULL, 'F'},
        {NULL, 0, NULL, 0}};
    const char *identity = NULL, *passphrase_file = NULL;
    check_ctx ctx = {.first = 1};
    vault_check_options o;
    vault_check_options_init(&o);
    int c;
    while ((c = getopt_long(argc, argv, "i:", options, NULL)) != -1) {
        switch (c) {
        case 'i': identity = optarg; break;
        case 'd': o.read_data = 1; break;
        case 's':
            if (parse_percent(optarg, &o.read_data_percent) != 0)
                return cli_usage("check",
                                 "--read-data-subset %s: give a percentage "
                                 "above 0 and at most 100, such as 10%%",
                                 optarg);
            break;
        case 'S':
            if (parse_seed(optarg, &o.seed) != 0)
                return cli_usage("check",
                                 "--seed %s: give a whole number above 0",
                                 optarg);
            break;
        case 'j': ctx.json = cli_output.json = 1; break;
        case 'F': passphrase_file = optarg; break;
        default: return cli_bad_option("check", argv);
        }
    }
    if (o.read_data && o.read_data_percent > 0)
        return cli_usage("check",
                         "--read-data and --read-data-subset exclude each "
                         "other");
    if (o.seed && !(o.read_data_percent > 0))
        return cli_usage("check", "--seed only applies to "
                                  "--read-data-subset");
    argc -= optind;
    argv += optind;
    const char *path = cli_take_vault(&argc, &argv);
    if (!path)
        return cli_usage("check", "name the vault (or set VAULT_REPOSITORY)");
    if (argc > 0)
        return cli_usage("check", "unexpected argument '%s'", argv[0]);
    vault_t *v = cli_open_vault(path, identity, passphrase_file);
    if (!v)
        return EXIT_FAILURE_;
    cli_catch_interrupts();
    o.on_problem = on_problem;
    o.on_problem_ctx = &ctx;
    if (ctx.json)
        fputs("{\"issues\":[", stdout);
    vault_check_result r;
    vault_error rc = vault_check(v, &o, &r);
    vault_close(v);
    if (rc != VAULT_OK && rc != VAULT_E_CORRUPT) {
        if (ctx.json)
            fputs("]}\n", stdout);
        return cli_fail(rc);
    }
    if (ctx.json)
        print_json_summary(&r);
    else
        print_summary(&r, o.read_data_percent);
    return rc == VAULT_OK ? EXIT_OK : EXIT_FAILURE_;
}
