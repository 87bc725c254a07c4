/*
 * version.c - the library's version at run time (vault.h, "version").
 */
#include "common/internal.h"

/* CMake's project(VERSION) comes in as VAULT_PROJECT_VERSION_* (see
 * vault/CMakeLists.txt): a release bumps one and must bump the other. */
#if defined(VAULT_PROJECT_VERSION_MAJOR)
_Static_assert(VAULT_VERSION_MAJOR == VAULT_PROJECT_VERSION_MAJOR &&
                   VAULT_VERSION_MINOR == VAULT_PROJECT_VERSION_MINOR &&
                   VAULT_VERSION_PATCH == VAULT_PROJECT_VERSION_PATCH,
               "vault.h's VAULT_VERSION_* differ from CMake's project "
               "version");
#endif

unsigned vault_version_number(void)
{
    return VAULT_VERSION_NUMBER;
}

const char *vault_version_string(void)
{
    return VAULT_VERSION_STRING;
}
