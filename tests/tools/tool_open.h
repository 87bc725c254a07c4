/*
 * tool_open.h - what the test tools that link the library's internals
 * (hostile_writer, fill_index) do first: open a vault as the member whose
 * identity file is given.
 */
#ifndef VAULT_TOOL_OPEN_H
#define VAULT_TOOL_OPEN_H

#include "vault.h"

/* Initialises libsodium, loads identity_file (not passphrase-protected)
 * and opens the vault at location with it.  On failure prints
 * "PROGRAM: OBJECT: error (detail)" on stderr, naming the identity file
 * or the vault, and returns 1; 0 and *v on success. */
int tool_open_vault(const char *program, const char *location,
                    const char *identity_file, vault_t **v);

#endif
