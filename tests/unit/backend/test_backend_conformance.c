/*
 * test_backend_conformance.c - the backend conformance suite
 * (backend_conformance.h) against every backend this build has: the
 * memory and local backends always, and remote servers when the
 * environment names them:
 *
 *   VAULT_TEST_REST_URL  a "rest:http://..." location (rclone serve restic)
 *   VAULT_TEST_S3_URL    an "s3:http://host:port/bucket" location (with
 *                        AWS_ACCESS_KEY_ID etc. set)
 *
 * Each test of the suite gets a fresh, empty vault of its own below the
 * given location (rest:.../conformance-PID-N/, s3:.../bucket/conformance-
 * PID-N), opened through vlt_backend_open as the CLI does.  The shell
 * tests cli/test_conformance_remote.sh start the servers and run this.
 * A build without vlt_backend_open (no remote backends yet) exits 77
 * (skipped) when asked for a remote.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"

#include "backend_conformance.h"
#include "backend_testing.h"


static vault_error memory_open(void *ctx, backend **out)
{
    (void)ctx;
    return vlt_backend_memory_open(out);
}

/* A remote location; every open makes a new vault below it. */
typedef struct remote_target {
    const char *base; /* the location from the environment */
    unsigned opened;  /* vaults made so far */
} remote_target;

static vault_error remote_open(void *ctx, backend **out)
{
    remote_target *rt = ctx;
    char location[1024];
    size_t n = strlen(rt->base);
    const char *sep = n && rt->base[n - 1] == '/' ? "" : "/";
    /* REST takes a folder ("path/"); S3 a key prefix ("prefix"). */
    const char *end = strncmp(rt->base, "rest:", 5) == 0 ? "/" : "";
    test_fmt(location, sizeof location, "%s%sconformance-%ld-%u%s", rt->base,
             sep, (long)getpid(), ++rt->opened, end);
    vault_storage_options options;
    vault_storage_options_init(&options);
    options.no_cache = 1;
    return vlt_backend_open(location, &options, 1, out);
}

int main(void)
{
    if (vault_global_init() != VAULT_OK) {
        fprintf(stderr, "vault_global_init: %s\n", vault_last_error());
        return 1;
    }
    const char *rest = getenv("VAULT_TEST_REST_URL");
    const char *s3 = getenv("VAULT_TEST_S3_URL");
    if (rest && !*rest)
        rest = NULL;
    if (s3 && !*s3)
        s3 = NULL;
    int failures = 0;
    local_target lt = {0};
    const backend_conformance memory = {.name = "memory",
                                        .open = memory_open};
    const backend_conformance local = {.name = "local",
                                       .open = local_target_open,
                                       .cleanup = local_target_cleanup,
                                       /* no pages; each save fsyncs */
                                       .list_many = 120,
                                       .ctx = &lt};
    failures += backend_conformance_run(&memory);
    failures += backend_conformance_run(&local);
    remote_target rest_target = {rest, 0}, s3_target = {s3, 0};
    if (rest) {
        const backend_conformance target = {
            .name = "rest", .open = remote_open, .ctx = &rest_target};
        failures += backend_conformance_run(&target);
    }
    if (s3) {
        const backend_conformance target = {
            .name = "s3", .open = remote_open, .ctx = &s3_target};
        failures += backend_conformance_run(&target);
    }
    return failures ? 1 : 0;
}
