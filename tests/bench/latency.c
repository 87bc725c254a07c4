/*
 * latency.c - what a slow storage costs each operation: a vault on the
 * local disk behind the slow test backend (vault/testing/backend_slow.c),
 * DELAY_MS per request and CONNECTIONS requests at once, and for each of
 * add, ls -R, extract and check --read-data the wall time and the
 * requests by kind.  Not a ctest: numbers, not verdicts (the request
 * counts are asserted by tests/unit/ops/test_latency.c).
 *
 *   cmake --build build --target latency_bench
 *   build/tests/latency_bench SOURCE_DIR WORK_DIR [DELAY_MS [CONNECTIONS]]
 *
 * WORK_DIR must not exist; it gets the vault and the extracted tree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "backend/backend.h"
#include "backend_testing.h"
#include "repo/repo.h"
#include "vault.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, vault_error rc)
{
    fprintf(stderr, "latency_bench: %s: %s\n", what, vault_last_error());
    exit(rc == VAULT_OK ? 1 : 2);
}

static int count_entry(void *ctx, const vault_file_info *info)
{
    (void)info;
    ++*(uint64_t *)ctx;
    return 0;
}

static void report(const char *step, backend *be, double t0)
{
    double secs = now() - t0;
    backend_slow_stats s;
    vlt_backend_slow_stats(be, &s);
    printf("%-8s %7.2f s  loads %5llu (data %5llu, %7.1f MiB)  saves %4llu "
           "stats %4llu lists %3llu  max in flight %u (saves %u)\n",
           step, secs,
           (unsigned long long)vlt_backend_slow_total(&s, SLOW_LOAD),
           (unsigned long long)s.requests[SLOW_LOAD][BACKEND_DATA],
           (double)s.bytes[SLOW_LOAD][BACKEND_DATA] / 1048576.0,
           (unsigned long long)vlt_backend_slow_total(&s, SLOW_SAVE),
           (unsigned long long)vlt_backend_slow_total(&s, SLOW_STAT),
           (unsigned long long)vlt_backend_slow_total(&s, SLOW_LIST),
           s.max_in_flight, s.max_saves_in_flight);
    fflush(stdout);
}

/* A fresh handle on the slow backend (each step opens its own, as the CLI
 * does). */
static vault_t *open_slow(const char *path, const vault_identity_t *id,
                          uint64_t delay_us, unsigned conns, backend **slow)
{
    backend *local;
    vault_error rc = vlt_backend_local_open(path, 0, &local);
    if (rc != VAULT_OK)
        die(path, rc);
    rc = vlt_backend_slow_open(local, delay_us, conns, slow);
    if (rc != VAULT_OK)
        die("slow backend", rc);
    vault_t *v;
    rc = vlt_repo_open_backend(*slow, path, id, &v);
    if (rc != VAULT_OK)
        die("open", rc);
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: latency_bench SOURCE_DIR WORK_DIR [DELAY_MS "
                        "[CONNECTIONS]]\n");
        return 2;
    }
    const char *src = argv[1], *work = argv[2];
    double delay_ms = argc > 3 ? strtod(argv[3], NULL) : 20;
    unsigned conns = argc > 4 ? (unsigned)strtoul(argv[4], NULL, 10) : 5;
    uint64_t delay_us = (uint64_t)(delay_ms * 1000);
    if (vault_global_init() != VAULT_OK)
        die("init", VAULT_E_INTERNAL);
    if (mkdir(work, 0700) != 0) {
        perror(work);
        return 2;
    }
    char path[4096], out[4096];
    snprintf(path, sizeof path, "%s/vault", work);
    snprintf(out, sizeof out, "%s/out", work);
    vault_identity_t *id;
    vault_error rc = vault_identity_generate(&id);
    if (rc == VAULT_OK)
        rc = vault_init(path, vault_identity_recipient(id));
    if (rc != VAULT_OK)
        die("vault init", rc);
    printf("%.0f ms a request, %u at once\n", delay_ms, conns);

    backend *be;
    vault_t *v = open_slow(path, id, delay_us, conns, &be);
    vault_add_options ao;
    vault_add_options_init(&ao);
    const char *paths[] = {src};
    ao.paths = paths;
    ao.n_paths = 1;
    ao.cache_dir = "";
    vault_add_result ar;
    double t0 = now();
    rc = vault_add(v, &ao, &ar);
    if (rc != VAULT_OK)
        die("add", rc);
    report("add", be, t0);
    char snap[65];
    memcpy(snap, ar.snapshot_id, sizeof snap);
    vault_close(v);

    v = open_slow(path, id, delay_us, conns, &be);
    uint64_t entries = 0;
    t0 = now();
    rc = vault_ls(v, snap, NULL, 1, count_entry, &entries);
    if (rc != VAULT_OK)
        die("ls", rc);
    report("ls -R", be, t0);
    vault_close(v);

    v = open_slow(path, id, delay_us, conns, &be);
    vault_extract_options eo;
    vault_extract_options_init(&eo);
    eo.target_dir = out;
    vault_extract_result er;
    t0 = now();
    rc = vault_extract(v, snap, &eo, &er);
    if (rc != VAULT_OK && rc != VAULT_E_PARTIAL)
        die("extract", rc);
    report("extract", be, t0);
    vault_close(v);

    v = open_slow(path, id, delay_us, conns, &be);
    vault_check_options co;
    vault_check_options_init(&co);
    co.read_data = 1;
    vault_check_result cr;
    t0 = now();
    rc = vault_check(v, &co, &cr);
    if (rc != VAULT_OK)
        die("check", rc);
    report("check", be, t0);
    vault_close(v);
    printf("%llu entries, %llu bytes extracted\n",
           (unsigned long long)entries, (unsigned long long)er.bytes);
    vault_identity_free(id);
    return 0;
}
