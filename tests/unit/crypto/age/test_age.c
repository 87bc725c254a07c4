/*
 * test_age.c - unit tests of the age v1 module: key encodings, HKDF,
 * base64 and armor, encrypt/decrypt round trips, and the error paths.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto/age/age.h"
#include "common/internal.h"
#include "test_util.h"

/* The spec's example key pair (c2sp.org/age, "The X25519 recipient type"). */
static const char spec_identity[] =
    "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX";
static const char spec_recipient[] =
    "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj";

#define LOG2N_FAST 10 /* scrypt work factor for tests: about 1 MiB */

/* --- helpers ---------------------------------------------------------------*/

static uint8_t *pattern(size_t len)
{
    uint8_t *p = malloc(len ? len : 1);
    assert_non_null(p);
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(i * 131 + (i >> 16) * 7 + 1);
    return p;
}

static age_recipient x25519_to(const uint8_t pk[32])
{
    age_recipient r;
    memset(&r, 0, sizeof r);
    r.kind = AGE_KIND_X25519;
    memcpy(r.public_key, pk, 32);
    return r;
}

static age_identity x25519_id(const uint8_t sk[32])
{
    age_identity id;
    memset(&id, 0, sizeof id);
    id.kind = AGE_KIND_X25519;
    memcpy(id.secret_key, sk, 32);
    return id;
}

static age_recipient scrypt_to(const char *pass, int log2n)
{
    age_recipient r;
    memset(&r, 0, sizeof r);
    r.kind = AGE_KIND_SCRYPT;
    r.passphrase = pass;
    r.passphrase_len = pass ? strlen(pass) : 0;
    r.scrypt_log2n = log2n;
    return r;
}

static age_identity scrypt_id(const char *pass, int max_log2n)
{
    age_identity id;
    memset(&id, 0, sizeof id);
    id.kind = AGE_KIND_SCRYPT;
    id.passphrase = pass;
    id.passphrase_len = strlen(pass);
    id.max_scrypt_log2n = max_log2n;
    return id;
}

/* Offset of the payload (after the "--- mac" line) in an age file. */
static size_t header_len(const uint8_t *f, size_t len)
{
    for (size_t i = 0; i + 4 <= len; i++)
        if (memcmp(f + i, "\n---", 4) == 0)
            return i + 4 + 1 + 43 + 1;
    fail_msg("no MAC line");
    return 0;
}

/* Decrypts f and expects code; on success or payload failure returns the
 * released plaintext (caller frees with vlt_age_free_plaintext). */
static uint8_t *decrypt_expect(const age_identity *ids, size_t n,
                               const uint8_t *f, size_t len, vault_error code,
                               size_t *pt_len)
{
    uint8_t *pt = (uint8_t *)"sentinel";
    size_t n_pt = 12345;
    assert_vault_code(vlt_age_decrypt(ids, n, f, len, &pt, &n_pt), code);
    if (code != VAULT_OK && code != VAULT_E_AGE_PAYLOAD) {
        assert_null(pt);
        assert_int_equal(n_pt, 0);
    } else {
        assert_non_null(pt);
    }
    *pt_len = n_pt;
    return pt;
}

/* --- bech32 -------------------------------------------------------------------*/

static void test_bech32_spec_example(void **state)
{
    (void)state;
    uint8_t sk[32], pk[32], pk2[32];
    char text[AGE_IDENTITY_STRLEN + 1];
    assert_vault_ok(vlt_age_decode_identity(spec_identity, strlen(spec_identity),
                                        sk));
    assert_vault_ok(vlt_age_x25519_public(sk, pk));
    char rtext[AGE_RECIPIENT_STRLEN + 1];
    vlt_age_encode_recipient(pk, rtext);
    assert_string_equal(rtext, spec_recipient);
    assert_vault_ok(vlt_age_decode_recipient(spec_recipient,
                                         strlen(spec_recipient), pk2));
    assert_memory_equal(pk, pk2, 32);
    vlt_age_encode_identity(sk, text);
    assert_string_equal(text, spec_identity);
}

static void test_bech32_round_trip(void **state)
{
    (void)state;
    for (int i = 0; i < 50; i++) {
        uint8_t sk[32], pk[32], sk2[32], pk2[32], pk3[32];
        vlt_age_x25519_generate(sk, pk);
        /* clamped as X25519 wants */
        assert_int_equal(sk[0] & 7, 0);
        assert_int_equal(sk[31] & 0xc0, 0x40);
        assert_vault_ok(vlt_age_x25519_public(sk, pk3));
        assert_memory_equal(pk, pk3, 32);
        char id[AGE_IDENTITY_STRLEN + 1], rc[AGE_RECIPIENT_STRLEN + 1];
        vlt_age_encode_identity(sk, id);
        vlt_age_encode_recipient(pk, rc);
        assert_int_equal(strlen(id), AGE_IDENTITY_STRLEN);
        assert_int_equal(strlen(rc), AGE_RECIPIENT_STRLEN);
        assert_memory_equal(id, "AGE-SECRET-KEY-1", 16);
        assert_memory_equal(rc, "age1", 4);
        assert_vault_ok(vlt_age_decode_identity(id, strlen(id), sk2));
        assert_vault_ok(vlt_age_decode_recipient(rc, strlen(rc), pk2));
        assert_memory_equal(sk, sk2, 32);
        assert_memory_equal(pk, pk2, 32);
    }
}

/* A Bech32 string from raw 5-bit values, as a test oracle. */
static uint32_t polymod(const uint8_t *v, size_t n)
{
    static const uint32_t gen[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa,
                                    0x3d4233dd, 0x2a1462b3};
    uint32_t chk = 1;
    for (size_t i = 0; i < n; i++) {
        uint8_t top = (uint8_t)(chk >> 25);
        chk = (chk & 0x1ffffff) << 5 ^ v[i];
        for (int k = 0; k < 5; k++)
            if (top >> k & 1)
                chk ^= gen[k];
    }
    return chk;
}

static void oracle_encode(const char *hrp, const uint8_t *data, size_t n,
                          char *out)
{
    static const char cs[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    uint8_t v[256];
    size_t hl = strlen(hrp), k = 0;
    for (size_t i = 0; i < hl; i++)
        v[k++] = (uint8_t)hrp[i] >> 5;
    v[k++] = 0;
    for (size_t i = 0; i < hl; i++)
        v[k++] = (uint8_t)hrp[i] & 31;
    for (size_t i = 0; i < n; i++)
        v[k++] = data[i];
    for (int i = 0; i < 6; i++)
        v[k++] = 0;
    uint32_t chk = polymod(v, k) ^ 1;
    size_t o = 0;
    memcpy(out, hrp, hl);
    o = hl;
    out[o++] = '1';
    for (size_t i = 0; i < n; i++)
        out[o++] = cs[data[i]];
    for (int i = 0; i < 6; i++)
        out[o++] = cs[chk >> (5 * (5 - i)) & 31];
    out[o] = '\0';
}

static void test_bech32_rejects(void **state)
{
    (void)state;
    uint8_t key[32];
    char buf[128];
    size_t rl = strlen(spec_recipient), il = strlen(spec_identity);

    /* mixed case */
    snprintf(buf, sizeof buf, "%s", spec_recipient);
    buf[10] = (char)(buf[10] - 'a' + 'A');
    assert_vault_code(vlt_age_decode_recipient(buf, rl, key), VAULT_E_BAD_KEY);
    snprintf(buf, sizeof buf, "%s", spec_identity);
    buf[20] = 'y';
    assert_vault_code(vlt_age_decode_identity(buf, il, key), VAULT_E_BAD_KEY);
    /* wrong case for the kind: upper-case recipient, lower-case identity */
    for (size_t i = 0; i < rl; i++)
        buf[i] = (char)(spec_recipient[i] >= 'a' && spec_recipient[i] <= 'z'
                            ? spec_recipient[i] - 'a' + 'A'
                            : spec_recipient[i]);
    assert_vault_code(vlt_age_decode_recipient(buf, rl, key), VAULT_E_BAD_KEY);
    for (size_t i = 0; i < il; i++)
        buf[i] = (char)(spec_identity[i] >= 'A' && spec_identity[i] <= 'Z'
                            ? spec_identity[i] - 'A' + 'a'
                            : spec_identity[i]);
    assert_vault_code(vlt_age_decode_identity(buf, il, key), VAULT_E_BAD_KEY);
    /* bad checksum: change one data character, then the last one */
    snprintf(buf, sizeof buf, "%s", spec_recipient);
    buf[8] = buf[8] == 'q' ? 'p' : 'q';
    assert_vault_code(vlt_age_decode_recipient(buf, rl, key), VAULT_E_BAD_KEY);
    snprintf(buf, sizeof buf, "%s", spec_identity);
    buf[il - 1] = buf[il - 1] == 'Q' ? 'P' : 'Q';
    assert_vault_code(vlt_age_decode_identity(buf, il, key), VAULT_E_BAD_KEY);
    /* wrong HRP: each kind handed to the other decoder, and a valid
     * Bech32 string under another HRP with the recipient's length */
    assert_vault_code(vlt_age_decode_recipient(spec_identity, il, key),
                      VAULT_E_BAD_KEY);
    assert_vault_code(vlt_age_decode_identity(spec_recipient, rl, key),
                      VAULT_E_BAD_KEY);
    uint8_t data[52];
    memset(data, 0, sizeof data);
    oracle_encode("agf", data, 52, buf);
    assert_vault_code(vlt_age_decode_recipient(buf, strlen(buf), key),
                      VAULT_E_BAD_KEY);
    oracle_encode("age", data, 52, buf);
    assert_vault_ok(vlt_age_decode_recipient(buf, strlen(buf), key));
    /* "ag1" + 53 data characters: right length, HRP separator misplaced */
    uint8_t data53[53];
    memset(data53, 0, sizeof data53);
    oracle_encode("ag", data53, 53, buf);
    assert_vault_code(vlt_age_decode_recipient(buf, strlen(buf), key),
                      VAULT_E_BAD_KEY);
    /* wrong length: too short, too long (valid checksums) */
    assert_vault_code(vlt_age_decode_recipient(spec_recipient, rl - 1, key),
                      VAULT_E_BAD_KEY);
    oracle_encode("age", data, 51, buf);
    assert_vault_code(vlt_age_decode_recipient(buf, strlen(buf), key),
                      VAULT_E_BAD_KEY);
    oracle_encode("age", data53, 53, buf);
    assert_vault_code(vlt_age_decode_recipient(buf, strlen(buf), key),
                      VAULT_E_BAD_KEY);
    /* non-zero padding bits in the last data character */
    data[51] = 1;
    oracle_encode("age", data, 52, buf);
    assert_vault_code(vlt_age_decode_recipient(buf, strlen(buf), key),
                      VAULT_E_BAD_KEY);
    /* characters outside the charset or the printable range */
    snprintf(buf, sizeof buf, "%s", spec_recipient);
    buf[9] = 'b'; /* not in the Bech32 charset */
    assert_vault_code(vlt_age_decode_recipient(buf, rl, key), VAULT_E_BAD_KEY);
    buf[9] = ' ';
    assert_vault_code(vlt_age_decode_recipient(buf, rl, key), VAULT_E_BAD_KEY);
    buf[9] = '\0';
    assert_vault_code(vlt_age_decode_recipient(buf, rl, key), VAULT_E_BAD_KEY);
    assert_vault_code(vlt_age_decode_recipient(NULL, 0, key), VAULT_E_BAD_KEY);
    assert_vault_code(vlt_age_decode_recipient("", 0, key), VAULT_E_BAD_KEY);
}

/* --- HKDF and base64 ------------------------------------------------------*/

static void test_hkdf_rfc5869(void **state)
{
    (void)state;
    uint8_t ikm[22], salt[13], okm[42];
    char hex[85];
    memset(ikm, 0x0b, sizeof ikm);
    for (int i = 0; i < 13; i++)
        salt[i] = (uint8_t)i;
    /* Test case 1 */
    vlt_age_hkdf_sha256(salt, sizeof salt, ikm, sizeof ikm,
                        "\xf0\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9", okm,
                        sizeof okm);
    sodium_bin2hex(hex, sizeof hex, okm, sizeof okm);
    assert_string_equal(hex, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c"
                             "5db02d56ecc4c5bf34007208d5b887185865");
    /* Test case 3: empty salt and info */
    vlt_age_hkdf_sha256(NULL, 0, ikm, sizeof ikm, "", okm, sizeof okm);
    sodium_bin2hex(hex, sizeof hex, okm, sizeof okm);
    assert_string_equal(hex, "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879e"
                             "c3454e5f3c738d2d9d201395faa4b61a96c8");
}

static void test_base64(void **state)
{
    (void)state;
    /* RFC 4648 section 10, unpadded */
    static const char *const enc[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg",
                                      "Zm9vYmE", "Zm9vYmFy"};
    const char *plain = "foobar";
    for (size_t n = 0; n <= 6; n++) {
        char out[16];
        vlt_age_base64_encode((const uint8_t *)plain, n, out);
        assert_int_equal(age_base64_len(n), strlen(enc[n]));
        assert_memory_equal(out, enc[n], strlen(enc[n]));
        uint8_t back[8];
        size_t got;
        assert_vault_ok(vlt_age_base64_decode(enc[n], strlen(enc[n]), back,
                                          sizeof back, &got));
        assert_int_equal(got, n);
        assert_memory_equal(back, plain, n);
        assert_vault_ok(vlt_age_base64_decode(enc[n], strlen(enc[n]), NULL, 0,
                                          &got));
        assert_int_equal(got, n);
    }
    uint8_t b[8];
    size_t got;
    assert_vault_code(vlt_age_base64_decode("Zm9vY", 5, b, 8, &got),
                      VAULT_E_AGE_HEADER); /* impossible length */
    assert_vault_code(vlt_age_base64_decode("Zg==", 4, b, 8, &got),
                      VAULT_E_AGE_HEADER); /* padding */
    assert_vault_code(vlt_age_base64_decode("Zh", 2, b, 8, &got),
                      VAULT_E_AGE_HEADER); /* non-canonical bits */
    assert_vault_code(vlt_age_base64_decode("Zm9", 3, b, 8, &got),
                      VAULT_E_AGE_HEADER); /* "fo" is "Zm8" */
    assert_vault_code(vlt_age_base64_decode("Zm-v", 4, b, 8, &got),
                      VAULT_E_AGE_HEADER); /* URL alphabet */
    assert_vault_code(vlt_age_base64_decode("Zm 9v", 5, b, 8, &got),
                      VAULT_E_AGE_HEADER);
    assert_vault_code(vlt_age_base64_decode("Zm9vYmFy", 8, b, 5, &got),
                      VAULT_E_AGE_HEADER); /* does not fit */
    assert_vault_code(vlt_age_base64_decode("Zm8", 3, b, 2, NULL), VAULT_OK);
}

/* --- armor ------------------------------------------------------------------*/

static void test_armor(void **state)
{
    (void)state;
    for (size_t n = 0; n < 200; n += 1 + n / 8) {
        uint8_t *p = pattern(n), *arm, *back;
        size_t arm_len, back_len;
        assert_vault_ok(vlt_age_armor_encode(p, n, &arm, &arm_len));
        assert_true(vlt_age_is_armored(arm, arm_len));
        assert_vault_ok(vlt_age_armor_decode(arm, arm_len, &back, &back_len));
        assert_int_equal(back_len, n);
        assert_memory_equal(back, p, n);
        /* lines are 64 columns but the last */
        size_t col = 0;
        for (size_t i = 35; i < arm_len; i++) {
            if (arm[i] == '\n') {
                assert_true(col <= 64);
                col = 0;
            } else {
                col++;
            }
        }
        free(back);
        free(arm);
        free(p);
    }
    static const char good[] = "-----BEGIN AGE ENCRYPTED FILE-----\n"
                               "Zm9vYmE=\n"
                               "-----END AGE ENCRYPTED FILE-----\n";
    static const char *const bad[] = {
        "-----BEGIN AGE ENCRYPTED FILE-----", /* nothing after BEGIN */
        "-----BEGIN AGE ENCRYPTED FILE----- \nZm9vYmE=\n"
        "-----END AGE ENCRYPTED FILE-----\n", /* space after BEGIN */
        "-----BEGIN AGE ENCRYPTED FILE-----\nZm9vYmE=\n", /* no END */
        "-----BEGIN AGE ENCRYPTED FILE-----\nZm9vYmE=", /* no LF, no END */
        "-----BEGIN AGE ENCRYPTED FILE-----\nZm9vYg==\nZm9v\n"
        "-----END AGE ENCRYPTED FILE-----\n", /* data after padding */
        "-----BEGIN AGE ENCRYPTED FILE-----\nZm9vYmE=\r\r\n"
        "-----END AGE ENCRYPTED FILE-----\n", /* CR CR LF */
        "-----BEGIN AGE ENCRYPTED FILE-----\nZm9vYm==\n"
        "-----END AGE ENCRYPTED FILE-----\n", /* non-canonical padding */
        "-----BEGIN AGE ENCRYPTED FILE-----\nZm9vY===\n"
        "-----END AGE ENCRYPTED FILE-----\n", /* three '=' */
        "-----BEGIN AGE ENCRYPTED FILE-----\nZm=vYmE=\n"
        "-----END AGE ENCRYPTED FILE-----\n", /* '=' inside */
        "-----BEGIN AGE ENCRYPTED FILE-----\nZm9vYmE=\n"
        "-----END AGE ENCRYPTED FILE-----\nx", /* garbage after */
        "-----BEGIN AGE ENCRYPTED FILE-----\nZm9vYmE=\n"
        "-----END AGE ENCRYPTED FILE", /* truncated END */
        "x-----BEGIN AGE ENCRYPTED FILE-----\nZm9vYmE=\n"
        "-----END AGE ENCRYPTED FILE-----\n", /* garbage before */
        "-----BEGIN AGE ENCRYPTED FILE-----\n\nZm9vYmE=\n"
        "-----END AGE ENCRYPTED FILE-----\n", /* empty line */
        "-----BEGIN AGE ENCRYPTED FILE-----\n"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
        "-----END AGE ENCRYPTED FILE-----\n", /* 68 columns */
    };
    uint8_t *out;
    size_t out_len;
    assert_vault_ok(vlt_age_armor_decode((const uint8_t *)good, strlen(good),
                                     &out, &out_len));
    assert_int_equal(out_len, 5);
    assert_memory_equal(out, "fooba", 5);
    free(out);
    static const char crlf[] = " \r\n-----BEGIN AGE ENCRYPTED FILE-----\r\n"
                               "Zm9vYmE=\r\n"
                               "-----END AGE ENCRYPTED FILE-----\r\n\t";
    assert_vault_ok(vlt_age_armor_decode((const uint8_t *)crlf, strlen(crlf),
                                     &out, &out_len));
    assert_int_equal(out_len, 5);
    free(out);
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(bad); i++) {
        out = (uint8_t *)"x";
        vault_error rc = vlt_age_armor_decode((const uint8_t *)bad[i],
                                              strlen(bad[i]), &out, &out_len);
        if (rc != VAULT_E_AGE_ARMOR)
            fail_msg("bad armor %zu accepted (%d)", i, (int)rc);
        assert_null(out);
    }
    /* detection */
    assert_false(vlt_age_is_armored((const uint8_t *)"age-encryption.org/v1\n",
                                22));
    assert_true(vlt_age_is_armored((const uint8_t *)" \n-----", 7));
    assert_true(vlt_age_is_armored((const uint8_t *)"junk\n-----BEGIN X", 17));
    assert_false(vlt_age_is_armored((const uint8_t *)"junk----", 8));
    assert_false(vlt_age_is_armored(NULL, 0));
}

/* --- round trips ------------------------------------------------------------*/

static void test_x25519_round_trips(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 65535, 65536, 65537, 200000};
    enum { N_KEYS = 3 };
    uint8_t sk[N_KEYS][32], pk[N_KEYS][32];
    age_recipient to[N_KEYS];
    for (int k = 0; k < N_KEYS; k++) {
        vlt_age_x25519_generate(sk[k], pk[k]);
        to[k] = x25519_to(pk[k]);
    }
    for (size_t s = 0; s < VAULT_ARRAY_SIZE(sizes); s++) {
        size_t len = sizes[s];
        uint8_t *p = pattern(len);
        for (size_t n_to = 1; n_to <= N_KEYS; n_to += N_KEYS - 1) {
            uint8_t *f;
            size_t f_len;
            assert_vault_ok(vlt_age_encrypt(to, n_to, p, len, &f, &f_len));
            size_t chunks = len ? (len + 65535) / 65536 : 1;
            size_t h = header_len(f, f_len);
            assert_int_equal(f_len, h + 16 + len + 16 * chunks);
            assert_false(vlt_age_is_passphrase_file(f, f_len));
            for (size_t k = 0; k < n_to; k++) {
                age_identity id = x25519_id(sk[k]);
                size_t pt_len;
                uint8_t *pt = decrypt_expect(&id, 1, f, f_len, VAULT_OK,
                                             &pt_len);
                assert_int_equal(pt_len, len);
                assert_memory_equal(pt, p, len);
                vlt_age_free_plaintext(pt, pt_len);
            }
            /* armored too */
            uint8_t *arm;
            size_t arm_len;
            assert_vault_ok(vlt_age_armor_encode(f, f_len, &arm, &arm_len));
            age_identity id = x25519_id(sk[0]);
            size_t pt_len;
            uint8_t *pt = decrypt_expect(&id, 1, arm, arm_len, VAULT_OK,
                                         &pt_len);
            assert_int_equal(pt_len, len);
            assert_memory_equal(pt, p, len);
            vlt_age_free_plaintext(pt, pt_len);
            free(arm);
            free(f);
        }
        free(p);
    }
}

static void test_identity_order(void **state)
{
    (void)state;
    uint8_t sk1[32], pk1[32], sk2[32], pk2[32];
    vlt_age_x25519_generate(sk1, pk1);
    vlt_age_x25519_generate(sk2, pk2);
    age_recipient to = x25519_to(pk2);
    uint8_t *f;
    size_t f_len, pt_len;
    assert_vault_ok(vlt_age_encrypt(&to, 1, (const uint8_t *)"hi", 2, &f,
                                &f_len));
    /* wrong key, passphrase, then the right key */
    age_identity ids[3] = {x25519_id(sk1), scrypt_id("pw", 0),
                           x25519_id(sk2)};
    uint8_t *pt = decrypt_expect(ids, 3, f, f_len, VAULT_OK, &pt_len);
    assert_int_equal(pt_len, 2);
    assert_memory_equal(pt, "hi", 2);
    vlt_age_free_plaintext(pt, pt_len);
    /* wrong key only, and no identity at all */
    decrypt_expect(ids, 2, f, f_len, VAULT_E_AGE_NO_MATCH, &pt_len);
    decrypt_expect(NULL, 0, f, f_len, VAULT_E_AGE_NO_MATCH, &pt_len);
    free(f);
}

static void test_scrypt_round_trip(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 5, 70000};
    for (size_t s = 0; s < VAULT_ARRAY_SIZE(sizes); s++) {
        uint8_t *p = pattern(sizes[s]);
        age_recipient to = scrypt_to("correct horse", LOG2N_FAST);
        uint8_t *f;
        size_t f_len, pt_len;
        assert_vault_ok(vlt_age_encrypt(&to, 1, p, sizes[s], &f, &f_len));
        assert_true(vlt_age_is_passphrase_file(f, f_len));
        assert_non_null(strstr((const char *)f, "\n-> scrypt "));
        age_identity id = scrypt_id("correct horse", 0);
        uint8_t *pt = decrypt_expect(&id, 1, f, f_len, VAULT_OK, &pt_len);
        assert_int_equal(pt_len, sizes[s]);
        assert_memory_equal(pt, p, sizes[s]);
        vlt_age_free_plaintext(pt, pt_len);
        /* wrong passphrase; an X25519 identity; work factor over limit */
        id = scrypt_id("correct horsf", 0);
        decrypt_expect(&id, 1, f, f_len, VAULT_E_AGE_NO_MATCH, &pt_len);
        uint8_t sk[32], pk[32];
        vlt_age_x25519_generate(sk, pk);
        age_identity xid = x25519_id(sk);
        decrypt_expect(&xid, 1, f, f_len, VAULT_E_AGE_NO_MATCH, &pt_len);
        id = scrypt_id("correct horse", LOG2N_FAST - 1);
        decrypt_expect(&id, 1, f, f_len, VAULT_E_AGE_HEADER, &pt_len);
        /* armored passphrase file */
        uint8_t *arm;
        size_t arm_len;
        assert_vault_ok(vlt_age_armor_encode(f, f_len, &arm, &arm_len));
        assert_true(vlt_age_is_passphrase_file(arm, arm_len));
        id = scrypt_id("correct horse", 99); /* clamped to 30 */
        pt = decrypt_expect(&id, 1, arm, arm_len, VAULT_OK, &pt_len);
        assert_int_equal(pt_len, sizes[s]);
        vlt_age_free_plaintext(pt, pt_len);
        free(arm);
        free(f);
        free(p);
    }
}

static void test_scrypt_default_work_factor(void **state)
{
    (void)state;
    /* 0 means age's default, 2^18; check the stanza, not the (slow)
     * decryption. */
    age_recipient to = scrypt_to("pw", 0);
    uint8_t *f;
    size_t f_len;
    assert_vault_ok(vlt_age_encrypt(&to, 1, (const uint8_t *)"x", 1, &f, &f_len));
    const char *line = strstr((const char *)f, "\n-> scrypt ");
    assert_non_null(line);
    const char *eol = strchr(line + 1, '\n');
    assert_non_null(eol);
    assert_memory_equal(eol - 3, " 18", 3);
    free(f);
}

/* --- encryption errors ------------------------------------------------------*/

static void test_encrypt_errors(void **state)
{
    (void)state;
    uint8_t sk[32], pk[32], *f = (uint8_t *)"x";
    size_t f_len = 1;
    vlt_age_x25519_generate(sk, pk);
    const uint8_t *m = (const uint8_t *)"m";
    age_recipient two[2] = {scrypt_to("pw", LOG2N_FAST), x25519_to(pk)};
    assert_vault_code(vlt_age_encrypt(two, 2, m, 1, &f, &f_len),
                      VAULT_E_INVALID); /* scrypt not alone */
    assert_null(f);
    two[0] = x25519_to(pk);
    two[1] = scrypt_to("pw", LOG2N_FAST);
    assert_vault_code(vlt_age_encrypt(two, 2, m, 1, &f, &f_len),
                      VAULT_E_INVALID);
    two[0] = scrypt_to("pw", LOG2N_FAST);
    assert_vault_code(vlt_age_encrypt(two, 2, m, 1, &f, &f_len),
                      VAULT_E_INVALID); /* two passphrases */
    age_recipient r = scrypt_to("", LOG2N_FAST);
    assert_vault_code(vlt_age_encrypt(&r, 1, m, 1, &f, &f_len), VAULT_E_INVALID);
    r = scrypt_to(NULL, LOG2N_FAST);
    assert_vault_code(vlt_age_encrypt(&r, 1, m, 1, &f, &f_len), VAULT_E_INVALID);
    r = scrypt_to("pw", 31);
    assert_vault_code(vlt_age_encrypt(&r, 1, m, 1, &f, &f_len), VAULT_E_INVALID);
    r = scrypt_to("pw", -1);
    assert_vault_code(vlt_age_encrypt(&r, 1, m, 1, &f, &f_len), VAULT_E_INVALID);
    r = x25519_to(pk);
    r.kind = AGE_KIND_SSH_ED25519; /* ssh_public_key all zero: low order */
    assert_vault_code(vlt_age_encrypt(&r, 1, m, 1, &f, &f_len),
                      VAULT_E_BAD_KEY);
    r.kind = (age_stanza_kind)42;
    assert_vault_code(vlt_age_encrypt(&r, 1, m, 1, &f, &f_len), VAULT_E_INVALID);
    r = x25519_to(pk);
    assert_vault_code(vlt_age_encrypt(&r, 0, m, 1, &f, &f_len), VAULT_E_INVALID);
    assert_vault_code(vlt_age_encrypt(NULL, 1, m, 1, &f, &f_len),
                      VAULT_E_INVALID);
    assert_vault_code(vlt_age_encrypt(&r, 1, NULL, 1, &f, &f_len),
                      VAULT_E_INVALID);
    assert_vault_code(vlt_age_encrypt(&r, 1, m, 1, NULL, &f_len),
                      VAULT_E_INVALID);
    assert_vault_code(vlt_age_encrypt(&r, 1, m, 1, &f, NULL), VAULT_E_INVALID);
    assert_vault_code(vlt_age_encrypt(&r, 1, m, SIZE_MAX - 10, &f, &f_len),
                      VAULT_E_INVALID);
    /* low-order recipient keys: all zero, and the order-8 point */
    uint8_t zero[32] = {0};
    r = x25519_to(zero);
    assert_vault_code(vlt_age_encrypt(&r, 1, m, 1, &f, &f_len), VAULT_E_BAD_KEY);
    static const uint8_t order8[32] = {
        0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3,
        0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32,
        0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00};
    r = x25519_to(order8);
    assert_vault_code(vlt_age_encrypt(&r, 1, m, 1, &f, &f_len), VAULT_E_BAD_KEY);
    assert_null(f);
    /* NULL plaintext of length 0 is an empty file */
    r = x25519_to(pk);
    assert_vault_ok(vlt_age_encrypt(&r, 1, NULL, 0, &f, &f_len));
    free(f);
}

/* --- decryption errors -------------------------------------------------------*/

static void test_payload_damage(void **state)
{
    (void)state;
    uint8_t sk[32], pk[32], sk2[32], pk2[32];
    vlt_age_x25519_generate(sk, pk);
    vlt_age_x25519_generate(sk2, pk2);
    age_recipient to = x25519_to(pk);
    age_identity id = x25519_id(sk);
    size_t len = 200000; /* chunks of 64 KiB, 64 KiB, 64 KiB, 3392 */
    uint8_t *p = pattern(len), *f;
    size_t f_len, pt_len;
    assert_vault_ok(vlt_age_encrypt(&to, 1, p, len, &f, &f_len));
    size_t h = header_len(f, f_len);
    size_t chunk_ct = 65536 + 16;

    /* wrong key */
    age_identity other = x25519_id(sk2);
    decrypt_expect(&other, 1, f, f_len, VAULT_E_AGE_NO_MATCH, &pt_len);

    /* truncations: at each chunk boundary, and one byte short */
    size_t cuts[] = {h + 16, h + 16 + chunk_ct, h + 16 + 2 * chunk_ct,
                     h + 16 + 3 * chunk_ct, f_len - 1, h + 16 + 5};
    size_t released[] = {0, 65536, 131072, 196608, 196608, 0};
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(cuts); i++) {
        uint8_t *pt = decrypt_expect(&id, 1, f, cuts[i], VAULT_E_AGE_PAYLOAD,
                                     &pt_len);
        assert_int_equal(pt_len, released[i]);
        assert_memory_equal(pt, p, pt_len);
        vlt_age_free_plaintext(pt, pt_len);
    }
    /* missing or short nonce: a header failure */
    decrypt_expect(&id, 1, f, h + 15, VAULT_E_AGE_HEADER, &pt_len);
    decrypt_expect(&id, 1, f, h, VAULT_E_AGE_HEADER, &pt_len);

    /* flips: in the nonce, in chunk 0, in chunk 2's tag, in the last */
    size_t flips[] = {h + 3, h + 16 + 100, h + 16 + 3 * chunk_ct - 1,
                      f_len - 1};
    size_t rel_flip[] = {0, 0, 131072, 196608};
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(flips); i++) {
        f[flips[i]] ^= 0x40;
        uint8_t *pt = decrypt_expect(&id, 1, f, f_len, VAULT_E_AGE_PAYLOAD,
                                     &pt_len);
        assert_int_equal(pt_len, rel_flip[i]);
        assert_memory_equal(pt, p, pt_len);
        vlt_age_free_plaintext(pt, pt_len);
        f[flips[i]] ^= 0x40;
    }
    /* trailing garbage: after a short final chunk it is part of that
     * chunk, which fails; after a full final chunk, that chunk verified
     * (and is released, as age does) but the file is still rejected */
    uint8_t *longer = malloc(f_len + 1);
    assert_non_null(longer);
    memcpy(longer, f, f_len);
    longer[f_len] = 0;
    uint8_t *pt = decrypt_expect(&id, 1, longer, f_len + 1,
                                 VAULT_E_AGE_PAYLOAD, &pt_len);
    assert_int_equal(pt_len, 196608);
    vlt_age_free_plaintext(pt, pt_len);
    free(longer);
    uint8_t *f2;
    size_t f2_len;
    assert_vault_ok(vlt_age_encrypt(&to, 1, p, 131072, &f2, &f2_len));
    longer = malloc(f2_len + 1);
    assert_non_null(longer);
    memcpy(longer, f2, f2_len);
    longer[f2_len] = 'x';
    pt = decrypt_expect(&id, 1, longer, f2_len + 1, VAULT_E_AGE_PAYLOAD,
                        &pt_len);
    assert_int_equal(pt_len, 131072);
    assert_memory_equal(pt, p, pt_len);
    vlt_age_free_plaintext(pt, pt_len);
    pt = decrypt_expect(&id, 1, longer, f2_len, VAULT_OK, &pt_len);
    assert_int_equal(pt_len, 131072);
    vlt_age_free_plaintext(pt, pt_len);
    free(longer);
    free(f2);

    /* a flip in the MAC line: HMAC failure (keep the base64 canonical by
     * flipping a character that is not the last) */
    size_t mac_at = h - 1 - 43;
    f[mac_at] = f[mac_at] == 'A' ? 'B' : 'A';
    decrypt_expect(&id, 1, f, f_len, VAULT_E_AGE_HMAC, &pt_len);
    free(f);
    free(p);
}

/* Encrypts "hello" to pk and returns a copy of the file with text inserted
 * at the start of the "---" line (so the MAC no longer matches). */
static uint8_t *with_inserted(const uint8_t pk[32], const char *text,
                              size_t *out_len)
{
    age_recipient to = x25519_to(pk);
    uint8_t *f;
    size_t f_len;
    assert_vault_ok(vlt_age_encrypt(&to, 1, (const uint8_t *)"hello", 5, &f,
                                &f_len));
    size_t at = header_len(f, f_len) - 48;
    size_t tl = strlen(text);
    uint8_t *g = malloc(f_len + tl);
    assert_non_null(g);
    memcpy(g, f, at);
    memcpy(g + at, text, tl);
    memcpy(g + at + tl, f + at, f_len - at);
    free(f);
    *out_len = f_len + tl;
    return g;
}

static void test_header_errors(void **state)
{
    (void)state;
    uint8_t sk[32], pk[32];
    vlt_age_x25519_generate(sk, pk);
    age_identity id = x25519_id(sk);
    size_t pt_len, g_len;

    /* an unknown stanza is skipped, but the MAC covers it */
    uint8_t *g = with_inserted(pk, "-> grease a b c\nAAAA\n", &g_len);
    decrypt_expect(&id, 1, g, g_len, VAULT_E_AGE_HMAC, &pt_len);
    free(g);
    /* a stanza cut short */
    g = with_inserted(pk, "-> grease\n", &g_len);
    g_len = header_len(g, g_len) - 49; /* cut before "\n---" */
    decrypt_expect(&id, 1, g, g_len, VAULT_E_AGE_HEADER, &pt_len);
    free(g);
    /* a stanza next to an scrypt stanza */
    g = with_inserted(pk, "-> scrypt AAAAAAAAAAAAAAAAAAAAAA 10\n"
                          "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
                      &g_len);
    decrypt_expect(&id, 1, g, g_len, VAULT_E_AGE_HEADER, &pt_len);
    assert_false(vlt_age_is_passphrase_file(g, g_len));
    free(g);
    /* an X25519 stanza whose body is too short */
    g = with_inserted(pk, "-> X25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
                          "AAAA\n",
                      &g_len);
    decrypt_expect(&id, 1, g, g_len, VAULT_E_AGE_HEADER, &pt_len);
    free(g);
    /* the all-zero share (a low-order point), tried by an identity that
     * the real stanza before it does not match */
    g = with_inserted(pk, "-> X25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
                          "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
                      &g_len);
    uint8_t sk2[32], pk2[32];
    vlt_age_x25519_generate(sk2, pk2);
    age_identity other = x25519_id(sk2);
    decrypt_expect(&other, 1, g, g_len, VAULT_E_AGE_HEADER, &pt_len);
    /* ... while the right identity stops at its own stanza first */
    decrypt_expect(&id, 1, g, g_len, VAULT_E_AGE_HMAC, &pt_len);
    free(g);

    static const char *const bad[] = {
        "",
        "age",
        "age-encryption.org/v1",             /* no LF */
        "age-encryption.org/v2\n",           /* version */
        "age-encryption.org/v1\n",           /* nothing else */
        "age-encryption.org/v1\n--- AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "\n0123456789abcdef", /* no stanzas */
        "age-encryption.org/v1\n-> X25519", /* unterminated argument line */
        "age-encryption.org/v1\n-> x\n",    /* body never ends */
        "age-encryption.org/v1\n-> x\n\n",  /* no MAC line */
        "age-encryption.org/v1\n-> x\n\n---", /* truncated MAC line */
        "age-encryption.org/v1\n->x\n\n",   /* no space after -> */
        "age-encryption.org/v1\n->\n\n",    /* no arguments */
        "age-encryption.org/v1\n-> x\n"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "\n\n", /* body line of 68 columns */
        "age-encryption.org/v1\n-> x\nAAAAA\n", /* body of impossible length */
        "age-encryption.org/v1\n-> \n\n",   /* empty argument */
        "age-encryption.org/v1\n-> a\tb\n\n", /* control character */
        "age-encryption.org/v1\n-> a\xc3\xa9\n\n", /* non-ASCII */
        "age-encryption.org/v1\n-> scrypt AAAAAAAAAAAAAAAAAAAAAA 99999999999"
        "\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", /* work factor */
    };
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(bad); i++) {
        uint8_t *pt = (uint8_t *)"x";
        size_t n = 7;
        vault_error rc = vlt_age_decrypt(&id, 1, (const uint8_t *)bad[i],
                                         strlen(bad[i]), &pt, &n);
        if (rc != VAULT_E_AGE_HEADER)
            fail_msg("bad header %zu: got %d (%s)", i, (int)rc,
                     vault_last_error());
        assert_null(pt);
        assert_false(vlt_age_is_passphrase_file((const uint8_t *)bad[i],
                                            strlen(bad[i])));
    }
    assert_false(vlt_age_is_passphrase_file(NULL, 0));
    /* bad armor is an armor failure, and no passphrase file */
    static const char arm[] = "-----BEGIN AGE ENCRYPTED FILE-----\n!\n";
    decrypt_expect(&id, 1, (const uint8_t *)arm, strlen(arm),
                   VAULT_E_AGE_ARMOR, &pt_len);
    assert_false(vlt_age_is_passphrase_file((const uint8_t *)arm, strlen(arm)));
}

static void test_decrypt_bad_arguments(void **state)
{
    (void)state;
    uint8_t sk[32], pk[32], *f, *pt;
    size_t f_len, pt_len;
    vlt_age_x25519_generate(sk, pk);
    age_recipient to = x25519_to(pk);
    assert_vault_ok(vlt_age_encrypt(&to, 1, (const uint8_t *)"a", 1, &f, &f_len));
    age_identity id = x25519_id(sk);
    assert_vault_code(vlt_age_decrypt(&id, 1, f, f_len, NULL, &pt_len),
                      VAULT_E_INVALID);
    assert_vault_code(vlt_age_decrypt(&id, 1, f, f_len, &pt, NULL),
                      VAULT_E_INVALID);
    assert_vault_code(vlt_age_decrypt(NULL, 1, f, f_len, &pt, &pt_len),
                      VAULT_E_INVALID);
    assert_null(pt);
    assert_vault_code(vlt_age_decrypt(&id, 1, NULL, 5, &pt, &pt_len),
                      VAULT_E_INVALID);
    age_identity odd = id;
    odd.kind = AGE_KIND_SSH_ED25519; /* ssh_secret_key all zero: unusable */
    assert_vault_code(vlt_age_decrypt(&odd, 1, f, f_len, &pt, &pt_len),
                      VAULT_E_INVALID);
    odd.kind = (age_stanza_kind)42;
    assert_vault_code(vlt_age_decrypt(&odd, 1, f, f_len, &pt, &pt_len),
                      VAULT_E_UNSUPPORTED);
    free(f);
    age_recipient pto = scrypt_to("pw", LOG2N_FAST);
    assert_vault_ok(vlt_age_encrypt(&pto, 1, (const uint8_t *)"a", 1, &f,
                                &f_len));
    age_identity nopw = scrypt_id("pw", 0);
    nopw.passphrase = NULL;
    assert_vault_code(vlt_age_decrypt(&nopw, 1, f, f_len, &pt, &pt_len),
                      VAULT_E_INVALID);
    nopw.passphrase_len = 0; /* the empty passphrase: merely wrong */
    assert_vault_code(vlt_age_decrypt(&nopw, 1, f, f_len, &pt, &pt_len),
                      VAULT_E_AGE_NO_MATCH);
    free(f);
    vlt_age_free_plaintext(NULL, 0);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bech32_spec_example),
        cmocka_unit_test(test_bech32_round_trip),
        cmocka_unit_test(test_bech32_rejects),
        cmocka_unit_test(test_hkdf_rfc5869),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_armor),
        cmocka_unit_test(test_x25519_round_trips),
        cmocka_unit_test(test_identity_order),
        cmocka_unit_test(test_scrypt_round_trip),
        cmocka_unit_test(test_scrypt_default_work_factor),
        cmocka_unit_test(test_encrypt_errors),
        cmocka_unit_test(test_payload_damage),
        cmocka_unit_test(test_header_errors),
        cmocka_unit_test(test_decrypt_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
