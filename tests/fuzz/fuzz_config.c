/*
 * fuzz_config.c - libFuzzer target for the config object (vlt_config_parse
 * and vlt_config_verify in vault/src/keys.c), with one fixed test keyring.
 *
 * The first input byte picks the mode:
 *   even: the rest is a config object as stored; without this keyring's
 *         MAC it can only exercise the parse-then-reject path.
 *   odd:  the rest is the config body (its first 56 bytes, padded with
 *         zeros), sealed here with the keyring's real MAC, so the checks
 *         behind the MAC (version, chunker parameters, vault ID) run.
 *         With bit 1 of the mode byte set, the target also puts this
 *         keyring's vault ID in (bytes 12..43), so the body can verify.
 *
 * Built by cmake -DVAULT_FUZZ=ON -DCMAKE_C_COMPILER=clang; replayed over
 * tests/fuzz/corpus/config/ by ctest in every build (tests/fuzz/README.md).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto/keys.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static keyring *test_keys;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (vault_global_init() != VAULT_OK || vlt_keyring_generate(&test_keys))
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    uint8_t id[VAULT_ID_BYTES];
    if (!(mode & 1)) {
        vault_error parsed = vlt_config_parse(data, size, id);
        vault_error verified = vlt_config_verify(test_keys, data, size);
        /* Without the MAC nothing verifies; a parse failure stays one. */
        if (verified == VAULT_OK && size == CONFIG_BYTES) {
            uint8_t good[CONFIG_BYTES];
            vlt_config_encode(test_keys, good);
            if (memcmp(good, data, CONFIG_BYTES) != 0)
                abort(); /* only this vault's own config verifies */
        }
        if (parsed != VAULT_OK && verified == VAULT_OK)
            abort();
        return 0;
    }
    uint8_t cfg[CONFIG_BYTES] = {0};
    memcpy(cfg, data, size < 56 ? size : 56);
    if (mode & 2)
        memcpy(cfg + 12, test_keys->vault_id, VAULT_ID_BYTES);
    crypto_generichash(cfg + 56, 32, cfg, 56, test_keys->config_mac_key,
                       SECRET_BYTES);
    vault_error parsed = vlt_config_parse(cfg, sizeof cfg, id);
    vault_error verified = vlt_config_verify(test_keys, cfg, sizeof cfg);
    if (verified == VAULT_OK &&
        (parsed != VAULT_OK ||
         memcmp(id, test_keys->vault_id, VAULT_ID_BYTES) != 0))
        abort(); /* verified, so the vault ID must be ours */
    if ((mode & 2) && (parsed == VAULT_OK) != (verified == VAULT_OK))
        abort(); /* our ID and MAC: verifies exactly when it parses */
    return 0;
}
