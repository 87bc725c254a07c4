/*
 * authored.c - author | sig | payload (authored.h).
 */
#include <string.h>

#include "common/internal.h"
#include "format/authored.h"

vault_error vlt_authored_sign(const keyring *k, const char *label,
                              const char *what, uint8_t *plain,
                              size_t plain_len)
{
    if (!k->has_sign_key)
        return vlt_fail(VAULT_E_PERMISSION,
                        "cannot write %s: this member has no signing key",
                        what);
    /* The room of author and signature holds the signed prefix meanwhile:
     * a 64 MiB index segment is not copied to be signed. */
    vault_error rc = vlt_sign_in_place(k->sign_sk, label, k->vault_id,
                                       plain + AUTHORED_BYTES,
                                       plain_len - AUTHORED_BYTES,
                                       AUTHORED_BYTES,
                                       plain + SIGN_PUBLIC_BYTES);
    memcpy(plain, k->sign_pk, SIGN_PUBLIC_BYTES);
    return rc;
}

vault_error vlt_authored_verify(const keyring *k, const char *label,
                                const char *folder, const char *name,
                                uint8_t *plain, size_t plain_len)
{
    if (plain_len < AUTHORED_BYTES)
        return vlt_fail(VAULT_E_CORRUPT, "%s/%s: truncated", folder, name);
    vault_error rc = vlt_sign_verify_in_place(
        plain, label, k->vault_id, plain + AUTHORED_BYTES,
        plain_len - AUTHORED_BYTES, AUTHORED_BYTES, plain + SIGN_PUBLIC_BYTES);
    if (rc == VAULT_E_CORRUPT)
        return vlt_fail(VAULT_E_CORRUPT,
                        "%s/%s: forged: its author's signature does not "
                        "verify",
                        folder, name);
    return rc;
}
