/*
 * fuzz_envelope.c - libFuzzer target for the envelope payload parser
 * (vlt_envelope_payload_decode in vault/src/crypto/keys.c, format v2).
 *
 * The payload is the plaintext inside a member's age envelope, so no key
 * is needed to reach the parser.  Besides "never crash, never leak", the
 * target checks canonical form: an accepted payload re-encodes (with
 * vlt_envelope_payload_encode) to exactly the input bytes.
 *
 * Built by cmake -DVAULT_FUZZ=ON -DCMAKE_C_COMPILER=clang; replayed over
 * tests/fuzz/corpus/envelope/ by ctest in every build (tests/fuzz/README.md).
 * Seeds: grant and epoch envelope payloads (gen_fuzz_seeds.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/keys.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (vault_global_init() != VAULT_OK)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    envelope_payload *p = NULL;
    vault_error rc = vlt_envelope_payload_decode(data, size, &p);
    if (rc != VAULT_OK) {
        if (p)
            abort(); /* a failed decode hands nothing out */
        return 0;
    }
    char *text = NULL;
    size_t len = 0;
    rc = vlt_envelope_payload_encode(p, &text, &len);
    if (rc != VAULT_OK || len != size || memcmp(text, data, size) != 0) {
        fprintf(stderr, "accepted a payload that does not re-encode to "
                        "itself: %s\n",
                rc == VAULT_OK ? "different bytes" : vault_last_error());
        abort();
    }
    free(text);
    vlt_envelope_payload_free(p);
    return 0;
}
