/*
 * fuzz_membership.c - libFuzzer target for membership records
 * (vault/src/format/membership_record.c, format.md §5.2-5.3) with one fixed
 * test keyring.
 *
 * The first input byte picks the mode:
 *   even: the rest is a record as stored; the target opens it with the
 *         keyring's write key of epoch 0 (vlt_membership_record_open), so
 *         without this keyring it exercises the header and authentication
 *         checks only.
 *   odd:  the rest is a record body; the target seals it with that key so
 *         the body parser runs behind the authentication.
 * An accepted body is also signature-checked, and re-signed with the
 * target's key: that must decode again to the same roster (the encoder
 * and decoder agree).
 *
 * Built by cmake -DVAULT_FUZZ=ON -DCMAKE_C_COMPILER=clang; replayed over
 * tests/fuzz/corpus/membership/ by ctest in every build.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/membership_record.h"

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

static void roundtrip(const membership_record *r)
{
    membership_record copy = *r, again;
    uint8_t *body;
    size_t len;
    if (vlt_membership_record_sign(&copy, test_keys->vault_id,
                                   test_keys->sign_sk, &body,
                                   &len) != VAULT_OK ||
        vlt_membership_record_decode(body, len, &again) != VAULT_OK ||
        again.n_members != r->n_members || again.seq != r->seq) {
        fprintf(stderr, "an accepted record does not re-encode: %s\n",
                vault_last_error());
        abort();
    }
    if (vlt_membership_record_verify(body, len, test_keys->vault_id) !=
        VAULT_OK)
        abort();
    vlt_membership_record_clear(&again);
    free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > (1u << 20))
        return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    const uint8_t *w = test_keys->epochs[0].write_key;
    uint8_t *obj = NULL, *body = NULL;
    size_t len = 0, body_len = 0;
    if (mode & 1) {
        if (vlt_membership_record_seal(w, 0, data, size, &obj, &len) !=
            VAULT_OK)
            return 0;
    } else {
        obj = malloc(size ? size : 1);
        if (!obj)
            abort();
        memcpy(obj, data, size);
        len = size;
    }
    if (vlt_membership_record_open(w, obj, len, &body, &body_len) ==
        VAULT_OK) {
        membership_record r;
        if (vlt_membership_record_decode(body, body_len, &r) == VAULT_OK) {
            (void)vlt_membership_record_verify(body, body_len,
                                               test_keys->vault_id);
            roundtrip(&r);
            vlt_membership_record_clear(&r);
        }
        free(body);
    }
    free(obj);
    return 0;
}
