/*
 * test_backend_memory.c - the in-memory backend of the tests
 * (vault/testing/backend_memory.c) passes the conformance suite
 * (backend_conformance.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "test_util.h"

#include "backend_conformance.h"
#include "backend_testing.h"
#include "common/internal.h"

static vault_error memory_open(void *ctx, backend **out)
{
    (void)ctx;
    return vlt_backend_memory_open(out);
}

int main(void)
{
    if (vault_global_init() != VAULT_OK) {
        fprintf(stderr, "vault_global_init: %s\n", vault_last_error());
        return 1;
    }
    const backend_conformance target = {
        .name = "memory",
        .open = memory_open,
    };
    return backend_conformance_run(&target) ? 1 : 0;
}
