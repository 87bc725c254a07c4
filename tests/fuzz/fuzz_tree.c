/*
 * fuzz_tree.c - libFuzzer target for the tree and snapshot record
 * decoders (format-spec/trees.md).
 *
 * Both decoders get every input.  Besides "never crash, never leak", the
 * target checks canonical form: whatever a decoder accepts must re-encode
 * to exactly the input bytes, so no two encodings mean the same thing.
 *
 * Built by cmake -DVAULT_FUZZ=ON -DCMAKE_C_COMPILER=clang; replayed over
 * tests/fuzz/corpus/tree/ by ctest in every build (tests/fuzz/README.md).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/snapshot.h"
#include "format/tree.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static void check_same(const char *what, const uint8_t *data, size_t size,
                       vault_error rc, uint8_t *enc, size_t enc_len)
{
    if (rc != VAULT_OK) {
        fprintf(stderr, "%s: re-encoding a decoded input failed: %s: %s\n",
                what, vault_strerror(rc), vault_last_error());
        abort();
    }
    if (enc_len != size || memcmp(enc, data, size) != 0) {
        fprintf(stderr, "%s: accepted a non-canonical encoding\n", what);
        abort();
    }
    free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *enc = NULL;
    size_t enc_len = 0;

    tree t;
    if (vlt_tree_decode(data, size, &t) == VAULT_OK) {
        vault_error rc = vlt_tree_encode(&t, &enc, &enc_len);
        check_same("tree", data, size, rc, enc, enc_len);
        vlt_tree_clear(&t);
    }

    snapshot_record s;
    if (vlt_snapshot_decode(data, size, &s) == VAULT_OK) {
        vault_error rc = vlt_snapshot_encode(&s, &enc, &enc_len);
        check_same("snapshot", data, size, rc, enc, enc_len);
        vlt_snapshot_clear(&s);
    }
    return 0;
}
