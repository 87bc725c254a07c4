/*
 * first_error.c - "first failure wins" across threads (see first_error.h).
 *
 * The first thread to flip claimed writes detail, then publishes code
 * with release order; a reader that sees code (acquire) sees the whole
 * detail.  A loser never touches detail, so no lock is needed.
 */
#include <stdio.h>

#include "common/first_error.h"
#include "common/internal.h"

void vlt_first_error_init(vlt_first_error *fe)
{
    atomic_init(&fe->claimed, 0);
    atomic_init(&fe->code, VAULT_OK);
    fe->detail[0] = '\0';
}

int vlt_first_error_set(vlt_first_error *fe, vault_error rc)
{
    if (rc == VAULT_OK)
        return 0;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&fe->claimed, &expected, 1))
        return 0;
    snprintf(fe->detail, sizeof fe->detail, "%s", vault_last_error());
    atomic_store_explicit(&fe->code, (int)rc, memory_order_release);
    return 1;
}

vault_error vlt_first_error_code(const vlt_first_error *fe)
{
    return (vault_error)atomic_load_explicit(&fe->code,
                                             memory_order_acquire);
}

vault_error vlt_first_error_raise(const vlt_first_error *fe)
{
    vault_error rc = vlt_first_error_code(fe);
    if (rc == VAULT_OK)
        return VAULT_OK;
    return vlt_fail(rc, "%s", fe->detail);
}
