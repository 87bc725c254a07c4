/*
 * tool_open.c - opening a vault for a test tool; see tool_open.h.
 */
#include "tool_open.h"

#include <stdio.h>

#include <sodium.h>

int tool_open_vault(const char *program, const char *location,
                    const char *identity_file, vault_t **v)
{
    *v = NULL;
    if (sodium_init() < 0) {
        fprintf(stderr, "%s: libsodium failed to initialise\n", program);
        return 1;
    }
    vault_identity_t *id = NULL;
    vault_error rc = vault_identity_load(identity_file, NULL, &id);
    const char *what = identity_file;
    if (rc == VAULT_OK) {
        rc = vault_open(location, id, v);
        what = location;
    }
    vault_identity_free(id);
    if (rc != VAULT_OK) {
        fprintf(stderr, "%s: %s: %s (%s)\n", program, what,
                vault_strerror(rc), vault_last_error());
        return 1;
    }
    return 0;
}
