/*
 * test_age_ssh.c - unit tests of age's ssh-ed25519 recipient type: the
 * stanza (round trips, tags, strict parsing), OpenSSH public key lines and
 * private key files (one real ssh-keygen key, and a builder that breaks one
 * field at a time), vlt_age_parse_recipient, and identities through vault.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto/age/age.h"
#include "crypto/identity.h"
#include "common/internal.h"
#include "test_util.h"

/* --- fixtures from the real tools -------------------------------------------*/

/* ssh-keygen -t ed25519 -N '' -C vault-test (OpenSSH 9.2). */
static const char real_key[] =
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACBOq+SoZtM7epcZkFTn9eVgZayTILdk9Bj1j2nyV9g5AgAAAJAYvSBoGL0g\n"
    "aAAAAAtzc2gtZWQyNTUxOQAAACBOq+SoZtM7epcZkFTn9eVgZayTILdk9Bj1j2nyV9g5Ag\n"
    "AAAEAvVSKkQdPItNJvoHk5SpSpu0DcHJaxwtWfutU+STAErU6r5Khm0zt6lxmQVOf15WBl\n"
    "rJMgt2T0GPWPafJX2DkCAAAACnZhdWx0LXRlc3QBAgM=\n"
    "-----END OPENSSH PRIVATE KEY-----\n";
static const char real_pub[] =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE6r5Khm0zt6lxmQVOf15WBlrJMgt2T0GPWP"
    "afJX2DkC vault-test";
/* The same, without the comment: what we print as the recipient. */
static const char real_recipient[] =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE6r5Khm0zt6lxmQVOf15WBlrJMgt2T0GPWP"
    "afJX2DkC";

/* ssh-keygen -t ed25519 -N secret (aes256-ctr, bcrypt). */
static const char protected_key[] =
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABBXT/vmqP\n"
    "aWXaNeWaIOOzXWAAAAEAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAINSIfBYqtwc9sidC\n"
    "Rw8xKOw+D++nKpKRxe+d37hV16yrAAAAoOJWuZ3qqxO3HflebdFaBmBspYw3HTwSM2Du1e\n"
    "xuPqyL/8BPmWljRcRkgv6qNkXXoLiDZOkbPfV+LmY/qzVik3ooHYDsAHmahjEh66EG8/Pe\n"
    "4ECzwV9vs9kVuVIBrChMMKA3A3WpqjYQzi3jM3XBHjrALEPzZqAy9+RSEIts8lVEj+/nLv\n"
    "QRwlqm/E3YtToI8o1uxUrUohNGwD3FlSpnFJQ=\n"
    "-----END OPENSSH PRIVATE KEY-----\n";

/* printf 'a message from age -R\n' | age -R real_pub -a (age 1.1.1). */
static const char real_age_file[] =
    "-----BEGIN AGE ENCRYPTED FILE-----\n"
    "YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IHNzaC1lZDI1NTE5IERhVWFpQSBXMnJm\n"
    "cUJzZ09LR0JDYUJjVnN2U2ZZY3dnNWNDTHdOa0FFMjl4NzY5c0Q4Clo1M3hXRlho\n"
    "VXVrU2VCaC9DV1FWb0lBTzJCZWIra3RNTjZEWXFBTGF5Sm8KLS0tIG0wd2l6Njk2\n"
    "ME10WDlQRHpoNU1BY1FyUG5yWHlCcE9vdFZmT3U1UDFEdTgKSIjWDwtxSYY+iyEZ\n"
    "c7JkOPJhE9Q/qywLWja6lzpCZUfKVNqLN4TJMus2WvxvoPmpgIbDQL/S\n"
    "-----END AGE ENCRYPTED FILE-----\n";
static const char real_age_plaintext[] = "a message from age -R\n";

static const char encrypted_detail[] =
    "OpenSSH private key: protected by a passphrase";

/* --- helpers ----------------------------------------------------------------*/

/* A deterministic Ed25519 key pair from a one-byte seed pattern. */
static void ed25519_keys(uint8_t fill, uint8_t pk[32], uint8_t sk[64])
{
    uint8_t seed[32];
    memset(seed, fill, sizeof seed);
    assert_int_equal(crypto_sign_seed_keypair(pk, sk, seed), 0);
}

static age_recipient ssh_to(const uint8_t pk[32])
{
    age_recipient r;
    memset(&r, 0, sizeof r);
    r.kind = AGE_KIND_SSH_ED25519;
    memcpy(r.ssh_public_key, pk, 32);
    return r;
}

static age_identity ssh_id(const uint8_t sk[64])
{
    age_identity id;
    memset(&id, 0, sizeof id);
    id.kind = AGE_KIND_SSH_ED25519;
    memcpy(id.ssh_secret_key, sk, 64);
    return id;
}

static uint8_t *encrypt_to(const age_recipient *to, size_t n,
                           const char *msg, size_t *len)
{
    uint8_t *out = NULL;
    assert_vault_ok(vlt_age_encrypt(to, n, (const uint8_t *)msg, strlen(msg),
                                &out, len));
    return out;
}

static void expect_plaintext(const age_identity *ids, size_t n,
                             const uint8_t *file, size_t len,
                             const char *msg)
{
    uint8_t *pt = NULL;
    size_t pt_len = 0;
    assert_vault_ok(vlt_age_decrypt(ids, n, file, len, &pt, &pt_len));
    assert_int_equal(pt_len, strlen(msg));
    assert_memory_equal(pt, msg, pt_len);
    vlt_age_free_plaintext(pt, pt_len);
}

static void expect_failure(const age_identity *ids, size_t n,
                           const uint8_t *file, size_t len, vault_error code)
{
    uint8_t *pt = (uint8_t *)"sentinel";
    size_t pt_len = 99;
    assert_vault_code(vlt_age_decrypt(ids, n, file, len, &pt, &pt_len), code);
    assert_null(pt);
    assert_int_equal(pt_len, 0);
}

/* --- wire encoding, tag, tweak ------------------------------------------------*/

static void test_wire_tag_tweak(void **state)
{
    (void)state;
    uint8_t pk[32], sk[64], wire[AGE_SSH_WIRE_BYTES];
    ed25519_keys(7, pk, sk);
    vlt_age_ssh_wire_public_key(pk, wire);
    static const uint8_t head[] = {0, 0, 0, 11, 's', 's', 'h', '-', 'e', 'd',
                                   '2', '5', '5', '1', '9', 0, 0, 0, 32};
    assert_memory_equal(wire, head, sizeof head);
    assert_memory_equal(wire + sizeof head, pk, 32);

    uint8_t hash[32], tag[AGE_SSH_TAG_BYTES];
    crypto_hash_sha256(hash, wire, sizeof wire);
    vlt_age_ssh_tag(pk, tag);
    assert_memory_equal(tag, hash, sizeof tag);

    uint8_t tweak[32], expect[32];
    vlt_age_ssh_tweak(pk, tweak);
    vlt_age_hkdf_sha256(wire, sizeof wire, NULL, 0,
                        "age-encryption.org/v1/ssh-ed25519", expect,
                        sizeof expect);
    assert_memory_equal(tweak, expect, 32);

    /* The real key's tag is what age 1.1.1 wrote into real_age_file. */
    uint8_t real_pk[32];
    assert_vault_ok(vlt_age_ssh_parse_public_key(real_pub, strlen(real_pub),
                                             real_pk));
    vlt_age_ssh_tag(real_pk, tag);
    char b64[7];
    vlt_age_base64_encode(tag, sizeof tag, b64);
    b64[6] = '\0';
    assert_string_equal(b64, "DaUaiA");
}

/* --- round trips -----------------------------------------------------------------*/

static void test_round_trip(void **state)
{
    (void)state;
    uint8_t pk[32], sk[64];
    ed25519_keys(1, pk, sk);
    age_recipient to = ssh_to(pk);
    age_identity id = ssh_id(sk);
    static const char *msgs[] = {"", "x", "a somewhat longer message"};
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(msgs); i++) {
        size_t len;
        uint8_t *file = encrypt_to(&to, 1, msgs[i], &len);
        expect_plaintext(&id, 1, file, len, msgs[i]);
        free(file);
    }
    /* A payload over several chunks. */
    size_t big_len = 200000;
    uint8_t *big = malloc(big_len), *file = NULL, *pt = NULL;
    assert_non_null(big);
    randombytes_buf(big, big_len);
    size_t len, pt_len;
    assert_vault_ok(vlt_age_encrypt(&to, 1, big, big_len, &file, &len));
    assert_vault_ok(vlt_age_decrypt(&id, 1, file, len, &pt, &pt_len));
    assert_int_equal(pt_len, big_len);
    assert_memory_equal(pt, big, big_len);
    vlt_age_free_plaintext(pt, pt_len);
    free(file);
    free(big);
}

static void test_stanza_shape(void **state)
{
    (void)state;
    uint8_t pk[32], sk[64], tag[4];
    ed25519_keys(2, pk, sk);
    age_recipient to = ssh_to(pk);
    size_t len;
    uint8_t *file = encrypt_to(&to, 1, "hi", &len);
    vlt_age_ssh_tag(pk, tag);
    char expect[64];
    memcpy(expect, "age-encryption.org/v1\n-> ssh-ed25519 ", 37);
    vlt_age_base64_encode(tag, 4, expect + 37);
    expect[43] = ' ';
    assert_true(len > 44 + 43 + 1);
    assert_memory_equal(file, expect, 44);
    /* share: 43 characters, then the 43-character body line */
    assert_int_equal(file[44 + 43], '\n');
    assert_int_equal(file[44 + 43 + 1 + 43], '\n');
    assert_memory_equal(file + 44 + 43 + 1 + 43 + 1, "--- ", 4);
    free(file);
}

static void test_mixed_recipients(void **state)
{
    (void)state;
    uint8_t pk1[32], sk1[64], pk2[32], sk2[64], xs[32], xp[32];
    ed25519_keys(3, pk1, sk1);
    ed25519_keys(4, pk2, sk2);
    vlt_age_x25519_generate(xs, xp);
    age_recipient to[3] = {ssh_to(pk1), {0}, ssh_to(pk2)};
    to[1].kind = AGE_KIND_X25519;
    memcpy(to[1].public_key, xp, 32);
    size_t len;
    uint8_t *file = encrypt_to(to, 3, "shared", &len);

    age_identity x;
    memset(&x, 0, sizeof x);
    x.kind = AGE_KIND_X25519;
    memcpy(x.secret_key, xs, 32);
    expect_plaintext(&x, 1, file, len, "shared");
    age_identity a = ssh_id(sk1), b = ssh_id(sk2);
    expect_plaintext(&a, 1, file, len, "shared");
    expect_plaintext(&b, 1, file, len, "shared");
    /* An ssh identity after one that matches nothing. */
    uint8_t pk3[32], sk3[64];
    ed25519_keys(5, pk3, sk3);
    age_identity list[2] = {ssh_id(sk3), ssh_id(sk2)};
    expect_plaintext(list, 2, file, len, "shared");
    free(file);
}

/* The reference implementation's output opens with the real key. */
static void test_reference_file(void **state)
{
    (void)state;
    uint8_t sk[64];
    assert_vault_ok(vlt_age_ssh_parse_private_key(
        (const uint8_t *)real_key, strlen(real_key), NULL, sk));
    age_identity id = ssh_id(sk);
    expect_plaintext(&id, 1, (const uint8_t *)real_age_file,
                     strlen(real_age_file), real_age_plaintext);
}

/* --- no match -----------------------------------------------------------------------*/

static void test_tag_mismatch(void **state)
{
    (void)state;
    uint8_t pk1[32], sk1[64], pk2[32], sk2[64];
    ed25519_keys(10, pk1, sk1);
    ed25519_keys(11, pk2, sk2);
    age_recipient to = ssh_to(pk1);
    size_t len;
    uint8_t *file = encrypt_to(&to, 1, "not for you", &len);
    /* Another ssh key: its tag differs. */
    age_identity other = ssh_id(sk2);
    expect_failure(&other, 1, file, len, VAULT_E_AGE_NO_MATCH);
    /* The right key, but the stanza's tag rewritten: not ours either. */
    age_identity right = ssh_id(sk1);
    uint8_t tag[4], wrong[4];
    vlt_age_ssh_tag(pk1, tag);
    memcpy(wrong, tag, 4);
    wrong[0] ^= 1;
    vlt_age_base64_encode(wrong, 4, (char *)file + 37);
    expect_failure(&right, 1, file, len, VAULT_E_AGE_NO_MATCH);
    /* An X25519 identity passes over ssh stanzas. */
    uint8_t xs[32], xp[32];
    vlt_age_x25519_generate(xs, xp);
    age_identity x;
    memset(&x, 0, sizeof x);
    x.kind = AGE_KIND_X25519;
    memcpy(x.secret_key, xs, 32);
    vlt_age_base64_encode(tag, 4, (char *)file + 37);
    expect_failure(&x, 1, file, len, VAULT_E_AGE_NO_MATCH);
    expect_plaintext(&right, 1, file, len, "not for you");
    free(file);
}

/* --- malformed stanzas ----------------------------------------------------------------*/

/* "age-encryption.org/v1\n" stanza "--- " MAC LF nonce chunk: a file whose
 * header is complete apart from the stanza under test. */
static uint8_t *file_with_stanza(const char *stanza, size_t *len)
{
    static const char intro[] = "age-encryption.org/v1\n";
    static const char mac[] =
        "--- AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n";
    size_t n = strlen(intro) + strlen(stanza) + strlen(mac) + 16 + 32;
    uint8_t *f = calloc(1, n);
    assert_non_null(f);
    size_t p = 0;
    memcpy(f + p, intro, strlen(intro));
    p += strlen(intro);
    memcpy(f + p, stanza, strlen(stanza));
    p += strlen(stanza);
    memcpy(f + p, mac, strlen(mac));
    *len = n;
    return f;
}

static void test_malformed_stanzas(void **state)
{
    (void)state;
    uint8_t pk[32], sk[64], tag[4];
    ed25519_keys(20, pk, sk);
    vlt_age_ssh_tag(pk, tag);
    char t[7];
    vlt_age_base64_encode(tag, 4, t);
    t[6] = '\0';
    /* A valid share and body (43 characters: 32 bytes). */
    const char *share = "oOgIfIUJ/GilQBhAUSRDVeNQ3fMBhw5mZBCB/ITZ4kE";
    const char *body = "cV6Gs74jl7pn2a2mXEF60JvsT2sNVOBu5SIIsvc3uf0";
    char bad[20][256];
    int n = 0;
    /* argument count */
    snprintf(bad[n++], 256, "-> ssh-ed25519 %s\n%s\n", t, body);
    snprintf(bad[n++], 256, "-> ssh-ed25519\n%s\n", body);
    snprintf(bad[n++], 256, "-> ssh-ed25519 %s %s extra\n%s\n", t, share,
             body);
    /* tag: 3 bytes, 5 bytes, non-canonical, padded, bad character */
    snprintf(bad[n++], 256, "-> ssh-ed25519 AAAA %s\n%s\n", share, body);
    snprintf(bad[n++], 256, "-> ssh-ed25519 AAAAAAA %s\n%s\n", share, body);
    snprintf(bad[n++], 256, "-> ssh-ed25519 AAAAAB %s\n%s\n", share, body);
    snprintf(bad[n++], 256, "-> ssh-ed25519 AAAAAA== %s\n%s\n", share, body);
    snprintf(bad[n++], 256, "-> ssh-ed25519 AAA*AA %s\n%s\n", share, body);
    /* share: 31 bytes, 33 bytes (both canonical), non-canonical, padded */
    snprintf(bad[n++], 256, "-> ssh-ed25519 %s %.41sA\n%s\n", t, share, body);
    snprintf(bad[n++], 256, "-> ssh-ed25519 %s %sA\n%s\n", t, share, body);
    snprintf(bad[n++], 256, "-> ssh-ed25519 %s %.42sF\n%s\n", t, share, body);
    snprintf(bad[n++], 256, "-> ssh-ed25519 %s %s=\n%s\n", t, share, body);
    /* body: 31 bytes, 33 bytes (both canonical), non-canonical, missing
     * final line */
    snprintf(bad[n++], 256, "-> ssh-ed25519 %s %s\n%.41sA\n", t, share, body);
    snprintf(bad[n++], 256, "-> ssh-ed25519 %s %s\n%sA\n", t, share, body);
    snprintf(bad[n++], 256, "-> ssh-ed25519 %s %s\n%.42sF\n", t, share, body);
    snprintf(bad[n++], 256, "-> ssh-ed25519 %s %s\n", t, share);
    age_identity id = ssh_id(sk);
    uint8_t xs[32], xp[32];
    vlt_age_x25519_generate(xs, xp);
    age_identity x;
    memset(&x, 0, sizeof x);
    x.kind = AGE_KIND_X25519;
    memcpy(x.secret_key, xs, 32);
    assert_true(n <= (int)VAULT_ARRAY_SIZE(bad));
    for (int i = 0; i < n; i++) {
        size_t len;
        uint8_t *f = file_with_stanza(bad[i], &len);
        /* Malformed is malformed, whoever reads it. */
        expect_failure(&id, 1, f, len, VAULT_E_AGE_HEADER);
        expect_failure(&x, 1, f, len, VAULT_E_AGE_HEADER);
        free(f);
    }
    /* The well-formed stanza (wrong body) is merely not ours. */
    char good[256];
    snprintf(good, sizeof good, "-> ssh-ed25519 %s %s\n%s\n", t, share, body);
    size_t len;
    uint8_t *f = file_with_stanza(good, &len);
    expect_failure(&id, 1, f, len, VAULT_E_AGE_NO_MATCH);
    free(f);
    /* A low-order share for our tag: the all-zero secret aborts. */
    snprintf(good, sizeof good, "-> ssh-ed25519 %s %s\n%s\n", t,
             "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", body);
    f = file_with_stanza(good, &len);
    expect_failure(&id, 1, f, len, VAULT_E_AGE_HEADER);
    free(f);
}

static void test_bad_inputs(void **state)
{
    (void)state;
    /* An identity whose halves disagree is refused. */
    uint8_t pk[32], sk[64], pk2[32], sk2[64];
    ed25519_keys(30, pk, sk);
    ed25519_keys(31, pk2, sk2);
    age_recipient to = ssh_to(pk);
    size_t len;
    uint8_t *file = encrypt_to(&to, 1, "m", &len);
    age_identity id = ssh_id(sk);
    memcpy(id.ssh_secret_key + 32, pk2, 32);
    expect_failure(&id, 1, file, len, VAULT_E_INVALID);
    free(file);
    /* A recipient that is not a valid point (all zero: low order). */
    uint8_t zero[32] = {0};
    age_recipient bad = ssh_to(zero);
    uint8_t *out = NULL;
    size_t out_len = 0;
    assert_vault_code(vlt_age_encrypt(&bad, 1, (const uint8_t *)"m", 1, &out,
                                  &out_len),
                      VAULT_E_BAD_KEY);
    assert_null(out);
}

/* --- public key lines ------------------------------------------------------------------*/

static void test_public_key_lines(void **state)
{
    (void)state;
    uint8_t pk[32], pk2[32];
    assert_vault_ok(vlt_age_ssh_parse_public_key(real_pub, strlen(real_pub),
                                             pk));
    char line[AGE_SSH_RECIPIENT_STRLEN + 1];
    vlt_age_ssh_encode_public_key(pk, line);
    assert_int_equal(strlen(line), AGE_SSH_RECIPIENT_STRLEN);
    assert_string_equal(line, real_recipient);
    assert_vault_ok(vlt_age_ssh_parse_public_key(real_recipient,
                                             strlen(real_recipient), pk2));
    assert_memory_equal(pk, pk2, 32);

    const char *b64 = real_recipient + 12;
    char buf[256];
    /* before and after the base64 key */
    static const char *good_forms[][2] = {{"ssh-ed25519\t", ""},
                                          {"ssh-ed25519 ", "  "},
                                          {"ssh-ed25519  ", " a b\tc ü"}};
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(good_forms); i++) {
        snprintf(buf, sizeof buf, "%s%s%s", good_forms[i][0], b64,
                 good_forms[i][1]);
        assert_vault_ok(vlt_age_ssh_parse_public_key(buf, strlen(buf), pk2));
        assert_memory_equal(pk, pk2, 32);
    }

    /* A wire blob with a different inner type or key length. */
    uint8_t wire[AGE_SSH_WIRE_BYTES + 3];
    char enc[128];
    vlt_age_ssh_wire_public_key(pk, wire);
    memcpy(wire + 4, "ssh-ed25518", 11);
    vlt_age_base64_encode(wire, AGE_SSH_WIRE_BYTES, enc);
    enc[68] = '\0';
    char inner_type[160];
    snprintf(inner_type, sizeof inner_type, "ssh-ed25519 %s", enc);
    vlt_age_ssh_wire_public_key(pk, wire);
    wire[18] = 31; /* key length 31, one byte left over */
    vlt_age_base64_encode(wire, AGE_SSH_WIRE_BYTES, enc);
    char inner_len[160];
    snprintf(inner_len, sizeof inner_len, "ssh-ed25519 %s", enc);
    vlt_age_ssh_wire_public_key(pk, wire);
    memset(wire + AGE_SSH_WIRE_BYTES, 0, 3); /* 3 bytes too many */
    char trailing[160];
    sodium_bin2base64(enc, sizeof enc, wire, AGE_SSH_WIRE_BYTES + 3,
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(trailing, sizeof trailing, "ssh-ed25519 %s", enc);
    /* A small-order point: not usable. */
    uint8_t low[32] = {1}; /* the identity point */
    vlt_age_ssh_wire_public_key(low, wire);
    vlt_age_base64_encode(wire, AGE_SSH_WIRE_BYTES, enc);
    enc[68] = '\0';
    char low_order[160];
    snprintf(low_order, sizeof low_order, "ssh-ed25519 %s", enc);

    char badpad2[160], badpad[160], ctrl[160], nosep[160];
    snprintf(badpad2, sizeof badpad2, "ssh-ed25519 %.64s====", b64);
    snprintf(badpad, sizeof badpad, "ssh-ed25519 %s==", b64);
    snprintf(ctrl, sizeof ctrl, "ssh-ed25519 %s comment\n", b64);
    snprintf(nosep, sizeof nosep, "ssh-ed25519%s", b64);
    const char *bad[] = {
        "",
        "ssh-ed25519",
        "ssh-ed25519 ",
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ",
        "ecdsa-sha2-nistp256 AAAA",
        "SSH-ED25519 AAAA",
        "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE6r5Khm0zt6lxmQVOf15WBl",
        badpad2,
        badpad,
        ctrl,
        nosep,
        inner_type,
        inner_len,
        trailing,
        low_order,
    };
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(bad); i++) {
        memset(pk2, 0xaa, sizeof pk2);
        vault_error rc = vlt_age_ssh_parse_public_key(bad[i], strlen(bad[i]), pk2);
        if (rc != VAULT_E_BAD_KEY)
            fail_msg("case %zu (%s): got %d: %s", i, bad[i], rc,
                     vault_last_error());
    }
    /* A NUL inside the given length is a control character. */
    memcpy(buf, real_pub, sizeof real_pub);
    buf[sizeof real_pub - 3] = '\0';
    assert_vault_code(vlt_age_ssh_parse_public_key(buf, sizeof real_pub - 1, pk2),
                      VAULT_E_BAD_KEY);
}

static void test_parse_recipient(void **state)
{
    (void)state;
    static const char age1[] =
        "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj";
    age_recipient r;
    assert_vault_ok(vlt_age_parse_recipient(age1, strlen(age1), &r));
    assert_int_equal(r.kind, AGE_KIND_X25519);
    uint8_t pk[32];
    assert_vault_ok(vlt_age_decode_recipient(age1, strlen(age1), pk));
    assert_memory_equal(r.public_key, pk, 32);
    assert_true(sodium_is_zero(r.ssh_public_key, 32));

    assert_vault_ok(vlt_age_parse_recipient(real_pub, strlen(real_pub), &r));
    assert_int_equal(r.kind, AGE_KIND_SSH_ED25519);
    assert_vault_ok(vlt_age_ssh_parse_public_key(real_pub, strlen(real_pub), pk));
    assert_memory_equal(r.ssh_public_key, pk, 32);
    assert_true(sodium_is_zero(r.public_key, 32));

    static const char *bad[] = {"", "age1", "ssh-rsa AAAA", "hello",
                                "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPY"
                                "YSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"};
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(bad); i++) {
        assert_vault_code(vlt_age_parse_recipient(bad[i], strlen(bad[i]), &r),
                          VAULT_E_BAD_KEY);
        assert_int_equal(r.kind, 0);
    }
    /* The parsed recipient encrypts to the real key. */
    assert_vault_ok(vlt_age_parse_recipient(real_pub, strlen(real_pub), &r));
    uint8_t sk[64];
    assert_vault_ok(vlt_age_ssh_parse_private_key(
        (const uint8_t *)real_key, strlen(real_key), NULL, sk));
    size_t len;
    uint8_t *file = encrypt_to(&r, 1, "to the real key", &len);
    age_identity id = ssh_id(sk);
    expect_plaintext(&id, 1, file, len, "to the real key");
    free(file);
}

/* --- private key files -------------------------------------------------------------------*/

/* The fields of an openssh-key-v1 file, each of which a test may spoil. */
typedef struct key_spec {
    const char *magic;      /* 15 bytes with the NUL */
    const char *cipher;
    const char *kdf;
    size_t kdf_options_len; /* that many zero bytes */
    uint32_t n_keys;
    const char *pub_type;   /* in the outer public key */
    size_t pub_len;         /* of the outer public key */
    uint32_t check1, check2;
    const char *priv_type;
    size_t priv_pk_len, priv_sk_len;
    int other_pub_half;     /* second half of the secret: another key */
    int other_inner_pub;    /* inner public key: another key */
    int other_seed;         /* a seed of another key, public halves ours */
    const char *comment;
    int bad_padding;        /* a padding byte off by one */
    int unaligned;          /* one padding byte too many */
    int trailing;           /* a byte after the private section */
    uint32_t bcrypt_rounds; /* non-zero: real bcrypt options (a 16-byte
                               salt and these rounds), not zeros */
} key_spec;

static key_spec good_spec(void)
{
    key_spec s = {"openssh-key-v1", "none", "none", 0, 1, "ssh-ed25519", 32,
                  0x11223344, 0x11223344, "ssh-ed25519", 32, 64, 0, 0, 0,
                  "test key", 0, 0, 0, 0};
    return s;
}

typedef struct buf {
    uint8_t data[2048];
    size_t n;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    assert_true(b->n + n <= sizeof b->data);
    memcpy(b->data + b->n, p, n);
    b->n += n;
}

static void put_u32(buf *b, uint32_t v)
{
    uint8_t be[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
                     (uint8_t)v};
    put(b, be, 4);
}

static void put_string(buf *b, const void *p, size_t n)
{
    put_u32(b, (uint32_t)n);
    put(b, p, n);
}

static void put_cstring(buf *b, const char *s)
{
    put_string(b, s, strlen(s));
}

/* The raw openssh-key-v1 blob for the spec, with the key pair of seed
 * byte 40 (and 41 for "another key"). */
static void build_blob(const key_spec *s, buf *out)
{
    /* public keys in 64-byte buffers: a spec may ask for 33 bytes */
    uint8_t pk[64] = {0}, sk[64], opk[64] = {0}, osk[64], zeros[64] = {0};
    ed25519_keys(40, pk, sk);
    ed25519_keys(41, opk, osk);
    assert_true(s->pub_len <= sizeof pk && s->priv_pk_len <= sizeof pk &&
                s->priv_sk_len <= 64 && s->kdf_options_len <= sizeof zeros);
    memset(out, 0, sizeof *out);
    put(out, s->magic, 15);
    put_cstring(out, s->cipher);
    put_cstring(out, s->kdf);
    if (s->bcrypt_rounds) {
        buf opts = {{0}, 0};
        put_string(&opts, "saltsaltsaltsalt", 16);
        put_u32(&opts, s->bcrypt_rounds);
        put_string(out, opts.data, opts.n);
    } else {
        put_string(out, zeros, s->kdf_options_len);
    }
    put_u32(out, s->n_keys);
    buf pub = {{0}, 0};
    put_cstring(&pub, s->pub_type);
    put_string(&pub, pk, s->pub_len);
    put_string(out, pub.data, pub.n);

    buf sec = {{0}, 0};
    put_u32(&sec, s->check1);
    put_u32(&sec, s->check2);
    put_cstring(&sec, s->priv_type);
    put_string(&sec, s->other_inner_pub ? opk : pk, s->priv_pk_len);
    uint8_t secret[64];
    memcpy(secret, s->other_seed ? osk : sk, 32);
    memcpy(secret + 32, s->other_pub_half ? opk : pk, 32);
    put_string(&sec, secret, s->priv_sk_len);
    put_cstring(&sec, s->comment);
    for (uint8_t i = 1; sec.n % 8 != 0; i++) {
        uint8_t p = (uint8_t)(i + (s->bad_padding ? 1 : 0));
        put(&sec, &p, 1);
    }
    if (s->unaligned) {
        uint8_t p = 0x42;
        put(&sec, &p, 1);
    }
    put_string(out, sec.data, sec.n);
    if (s->trailing)
        put(out, "x", 1);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(osk, sizeof osk);
}

/* The PEM file around a blob: 70 columns, as ssh-keygen writes it. */
static char *pem(const uint8_t *blob, size_t n)
{
    size_t b64_cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64_cap);
    char *out = malloc(b64_cap + b64_cap / 70 + 128);
    assert_non_null(b64);
    assert_non_null(out);
    sodium_bin2base64(b64, b64_cap, blob, n, sodium_base64_VARIANT_ORIGINAL);
    static const char begin[] = "-----BEGIN OPENSSH PRIVATE KEY-----\n";
    static const char end[] = "-----END OPENSSH PRIVATE KEY-----\n";
    size_t len = strlen(b64), o = 0;
    memcpy(out, begin, sizeof begin - 1);
    o += sizeof begin - 1;
    for (size_t i = 0; i < len; i += 70) {
        size_t take = len - i < 70 ? len - i : 70;
        memcpy(out + o, b64 + i, take);
        o += take;
        out[o++] = '\n';
    }
    memcpy(out + o, end, sizeof end); /* with the NUL */
    free(b64);
    return out;
}

static vault_error parse_spec(const key_spec *s, uint8_t sk[64])
{
    buf b;
    build_blob(s, &b);
    char *text = pem(b.data, b.n);
    vault_error rc = vlt_age_ssh_parse_private_key((const uint8_t *)text,
                                                   strlen(text), NULL, sk);
    free(text);
    return rc;
}

static void test_private_key_real(void **state)
{
    (void)state;
    uint8_t sk[64], pk[32];
    assert_true(vlt_age_ssh_is_private_key((const uint8_t *)real_key,
                                       strlen(real_key)));
    assert_vault_ok(vlt_age_ssh_parse_private_key(
        (const uint8_t *)real_key, strlen(real_key), NULL, sk));
    assert_vault_ok(vlt_age_ssh_parse_public_key(real_pub, strlen(real_pub), pk));
    assert_memory_equal(sk + 32, pk, 32);
    /* CRLF line ends and surrounding white space are fine. */
    char crlf[1024];
    size_t o = 0;
    crlf[o++] = '\n';
    for (const char *p = real_key; *p; p++) {
        if (*p == '\n')
            crlf[o++] = '\r';
        crlf[o++] = *p;
    }
    crlf[o++] = ' ';
    uint8_t sk2[64];
    assert_true(vlt_age_ssh_is_private_key((const uint8_t *)crlf, o));
    assert_vault_ok(vlt_age_ssh_parse_private_key((const uint8_t *)crlf, o, NULL, sk2));
    assert_memory_equal(sk, sk2, 64);
    /* No final line end. */
    assert_vault_ok(vlt_age_ssh_parse_private_key(
        (const uint8_t *)real_key, strlen(real_key) - 1, NULL, sk2));
}

static void test_private_key_built(void **state)
{
    (void)state;
    key_spec s = good_spec();
    uint8_t sk[64], pk[32], esk[64];
    assert_vault_ok(parse_spec(&s, sk));
    ed25519_keys(40, pk, esk);
    assert_memory_equal(sk, esk, 64);
    s.comment = ""; /* padding from a different offset */
    assert_vault_ok(parse_spec(&s, sk));
    s.comment = "1234567";
    assert_vault_ok(parse_spec(&s, sk));
}

static void expect_spec(const key_spec *s, vault_error code, const char *name)
{
    uint8_t sk[64];
    memset(sk, 0xaa, sizeof sk);
    vault_error rc = parse_spec(s, sk);
    if (rc != code)
        fail_msg("%s: expected %s, got %s: %s", name, vault_strerror(code),
                 vault_strerror(rc), vault_last_error());
    assert_true(sodium_is_zero(sk, sizeof sk));
}

static void test_private_key_negative(void **state)
{
    (void)state;
    key_spec s;
#define CASE(field, value, code)                                             \
    do {                                                                     \
        s = good_spec();                                                     \
        s.field = value;                                                     \
        expect_spec(&s, code, #field " = " #value);                          \
    } while (0)
    CASE(magic, "openssh-key-v2", VAULT_E_BAD_KEY);
    CASE(magic, "OPENSSH-KEY-V1", VAULT_E_BAD_KEY);
    CASE(cipher, "aes256-ctr", VAULT_E_NEED_PASSPHRASE);
    /* OpenSSH's AEAD ciphers: said before a passphrase is asked for */
    CASE(cipher, "chacha20-poly1305@openssh.com", VAULT_E_UNSUPPORTED);
    CASE(cipher, "aes256-gcm@openssh.com", VAULT_E_UNSUPPORTED);
    CASE(kdf, "bcrypt", VAULT_E_BAD_KEY);
    CASE(kdf_options_len, 4, VAULT_E_BAD_KEY);
    CASE(n_keys, 0, VAULT_E_BAD_KEY);
    CASE(n_keys, 2, VAULT_E_BAD_KEY);
    CASE(pub_type, "ssh-rsa", VAULT_E_BAD_KEY);
    CASE(pub_type, "ecdsa-sha2-nistp256", VAULT_E_BAD_KEY);
    CASE(pub_len, 31, VAULT_E_BAD_KEY);
    CASE(pub_len, 33, VAULT_E_BAD_KEY);
    CASE(check2, 0x11223345, VAULT_E_BAD_KEY);
    CASE(priv_type, "ssh-rsa", VAULT_E_BAD_KEY);
    CASE(priv_pk_len, 31, VAULT_E_BAD_KEY);
    CASE(priv_sk_len, 32, VAULT_E_BAD_KEY);
    CASE(priv_sk_len, 63, VAULT_E_BAD_KEY);
    CASE(other_pub_half, 1, VAULT_E_BAD_KEY);
    CASE(other_inner_pub, 1, VAULT_E_BAD_KEY);
    CASE(other_seed, 1, VAULT_E_BAD_KEY);
    CASE(bad_padding, 1, VAULT_E_BAD_KEY);
    CASE(unaligned, 1, VAULT_E_BAD_KEY);
    CASE(trailing, 1, VAULT_E_BAD_KEY);
#undef CASE
    /* The encrypted-key refusal says what to do. */
    s = good_spec();
    s.cipher = "aes256-ctr";
    s.kdf = "bcrypt";
    s.kdf_options_len = 24;
    expect_spec(&s, VAULT_E_NEED_PASSPHRASE, "encrypted");
    assert_string_equal(vault_last_error(), encrypted_detail);
    uint8_t sk[64];
    assert_vault_code(vlt_age_ssh_parse_private_key(
                          (const uint8_t *)protected_key,
                          strlen(protected_key), NULL, sk),
                      VAULT_E_NEED_PASSPHRASE);
    assert_string_equal(vault_last_error(), encrypted_detail);
    /* With its passphrase it opens (bcrypt_pbkdf, aes256-ctr), to the key
     * it holds. */
    assert_vault_code(vlt_age_ssh_parse_private_key(
                          (const uint8_t *)protected_key,
                          strlen(protected_key), "not it", sk),
                      VAULT_E_BAD_PASSPHRASE);
    assert_true(sodium_is_zero(sk, sizeof sk));
    assert_vault_ok(vlt_age_ssh_parse_private_key(
        (const uint8_t *)protected_key, strlen(protected_key), "secret",
        sk));
    uint8_t pk_of_sk[32];
    crypto_sign_ed25519_sk_to_pk(pk_of_sk, sk);
    assert_memory_equal(pk_of_sk, sk + 32, 32);
    /* the public key in the file's clear part: bytes 0xd4 0x88 0x7c ... */
    static const uint8_t protected_pk_start[4] = {0xd4, 0x88, 0x7c, 0x16};
    assert_memory_equal(sk + 32, protected_pk_start, 4);

    /* With a passphrase: the kdf's options are checked before any
     * work (rounds capped), and the check integers tell a wrong one. */
    struct {
        uint32_t rounds;
        const char *kdf;
        vault_error code;
    } protected_cases[] = {
        {0, "bcrypt", VAULT_E_BAD_KEY},          /* zeros: no salt */
        {100000, "bcrypt", VAULT_E_UNSUPPORTED}, /* hours of work */
        {2, "none", VAULT_E_BAD_KEY},            /* a cipher, no kdf */
        {2, "bcrypt", VAULT_E_BAD_PASSPHRASE},   /* garbage decrypts */
    };
    for (size_t i = 0; i < sizeof protected_cases / sizeof *protected_cases;
         i++) {
        s = good_spec();
        s.cipher = "aes256-ctr";
        s.kdf = protected_cases[i].kdf;
        s.bcrypt_rounds = protected_cases[i].rounds;
        s.kdf_options_len = 24;
        buf pb;
        build_blob(&s, &pb);
        char *text = pem(pb.data, pb.n);
        memset(sk, 0xaa, sizeof sk);
        vault_error rc = vlt_age_ssh_parse_private_key(
            (const uint8_t *)text, strlen(text), "a passphrase", sk);
        free(text);
        if (rc != protected_cases[i].code)
            fail_msg("protected case %zu: expected %s, got %s: %s", i,
                     vault_strerror(protected_cases[i].code),
                     vault_strerror(rc), vault_last_error());
        assert_true(sodium_is_zero(sk, sizeof sk));
    }

    /* Every truncation of the blob (re-framed) is malformed. */
    buf b;
    s = good_spec();
    build_blob(&s, &b);
    for (size_t n = 0; n < b.n; n++) {
        char *text = pem(b.data, n);
        memset(sk, 0xaa, sizeof sk);
        vault_error rc = vlt_age_ssh_parse_private_key((const uint8_t *)text,
                                                       strlen(text), NULL, sk);
        free(text);
        if (rc != VAULT_E_BAD_KEY)
            fail_msg("blob truncated to %zu bytes: got %d", n, rc);
        assert_true(sodium_is_zero(sk, sizeof sk));
    }
    /* Every truncation of the real file's text, too. */
    for (size_t n = 0; n + 2 < strlen(real_key); n++)
        assert_vault_code(vlt_age_ssh_parse_private_key(
                              (const uint8_t *)real_key, n, NULL, sk),
                          VAULT_E_BAD_KEY);
}

static void test_private_key_framing(void **state)
{
    (void)state;
    uint8_t sk[64];
    char text[1024];
    const char *body = strchr(real_key, '\n') + 1;
    const char *end = strstr(real_key, "-----END");
    int body_len = (int)(end - body);
#define BEGIN "-----BEGIN OPENSSH PRIVATE KEY-----\n"
#define END "-----END OPENSSH PRIVATE KEY-----\n"
    /* before and after the base64 lines */
    static const char *bad[][2] = {
        {"-----BEGIN RSA PRIVATE KEY-----\n", END}, /* label */
        {BEGIN, ""},                                /* no END line */
        {BEGIN, "-----END PRIVATE KEY-----\n"},     /* wrong END line */
        {BEGIN, END "more\n"},                      /* data after END */
        {BEGIN "\n", END},                          /* an empty line */
        {BEGIN "Proc-Type: 4\n", END},              /* a header line */
        {"x" BEGIN, END},                           /* junk before BEGIN */
        {"-----BEGIN OPENSSH PRIVATE KEY----- \n", END}, /* space */
    };
#undef BEGIN
#undef END
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(bad); i++) {
        snprintf(text, sizeof text, "%s%.*s%s", bad[i][0], body_len, body,
                 bad[i][1]);
        vault_error rc = vlt_age_ssh_parse_private_key((const uint8_t *)text,
                                                       strlen(text), NULL, sk);
        if (rc != VAULT_E_BAD_KEY)
            fail_msg("framing case %zu: got %d", i, rc);
    }
    /* A bad base64 character, and the padding removed. */
    snprintf(text, sizeof text, "%s", real_key);
    text[40] = '*';
    assert_vault_code(vlt_age_ssh_parse_private_key((const uint8_t *)text,
                                                strlen(text), NULL, sk),
                      VAULT_E_BAD_KEY);
    snprintf(text, sizeof text, "%s", real_key);
    char *eq = strchr(text, '=');
    assert_non_null(eq);
    memmove(eq, eq + 1, strlen(eq + 1) + 1);
    assert_vault_code(vlt_age_ssh_parse_private_key((const uint8_t *)text,
                                                strlen(text), NULL, sk),
                      VAULT_E_BAD_KEY);
    assert_false(vlt_age_ssh_is_private_key((const uint8_t *)"# age key\n", 10));
}

/* --- identities through the public API ---------------------------------------------------*/

static void test_vault_identity(void **state)
{
    (void)state;
    vault_identity_t *id = NULL;
    assert_vault_ok(vault_identity_parse((const uint8_t *)real_key,
                                         strlen(real_key), NULL, &id));
    assert_string_equal(vault_identity_recipient(id), real_recipient);
    assert_int_equal(id->n_keys, 1);
    assert_int_equal(id->keys[0].kind, AGE_KIND_SSH_ED25519);
    assert_true(sodium_is_zero(id->keys[0].secret_key, 32));
    char text[VAULT_IDENTITY_TEXT_MAX];
    assert_vault_code(vault_identity_format(id, text, sizeof text),
                      VAULT_E_UNSUPPORTED);
    /* The identity's key opens what its recipient string seals (as
     * repo.c's open_envelopes hands it to vlt_age_decrypt). */
    age_recipient to;
    assert_vault_ok(vlt_age_parse_recipient(vault_identity_recipient(id),
                                        strlen(vault_identity_recipient(id)),
                                        &to));
    size_t len;
    uint8_t *file = encrypt_to(&to, 1, "through the handle", &len);
    age_identity who;
    memset(&who, 0, sizeof who);
    who.kind = id->keys[0].kind;
    memcpy(who.ssh_secret_key, id->keys[0].ssh_secret_key, 64);
    expect_plaintext(&who, 1, file, len, "through the handle");
    free(file);
    vault_identity_free(id);

    /* From a file, and the protected key: a passphrase asked for. */
    char *dir = test_tempdir();
    char path[512];
    snprintf(path, sizeof path, "%s/id_ed25519", dir);
    test_write_file(path, real_key, strlen(real_key));
    assert_vault_ok(vault_identity_load(path, NULL, &id));
    assert_string_equal(vault_identity_recipient(id), real_recipient);
    vault_identity_free(id);
    snprintf(path, sizeof path, "%s/protected", dir);
    test_write_file(path, protected_key, strlen(protected_key));
    assert_vault_code(vault_identity_load(path, NULL, &id),
                      VAULT_E_NEED_PASSPHRASE);
    assert_null(id);
    assert_non_null(strstr(vault_last_error(), encrypted_detail));
    assert_vault_code(vault_identity_load(path, "wrong", &id),
                      VAULT_E_BAD_PASSPHRASE);
    assert_null(id);
    assert_vault_ok(vault_identity_load(path, "secret", &id));
    assert_string_equal(vault_identity_recipient(id),
                        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINSIfBYqtwc9sidC"
                        "Rw8xKOw+D++nKpKRxe+d37hV16yr");
    vault_identity_free(id);
    test_rmtree(dir);

    /* Recipient strings. */
    assert_vault_ok(vault_recipient_check(real_pub));
    assert_vault_ok(vault_recipient_check(real_recipient));
    assert_vault_ok(vault_recipient_check(
        "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"));
    assert_vault_code(vault_recipient_check("ssh-rsa AAAAB3NzaC1yc2E"),
                      VAULT_E_BAD_KEY);
    assert_vault_code(vault_recipient_check("nonsense"), VAULT_E_BAD_KEY);

    /* Plain age identities are unchanged: X25519 keys. */
    assert_vault_ok(vault_identity_generate(&id));
    assert_int_equal(id->keys[0].kind, AGE_KIND_X25519);
    assert_memory_equal(vault_identity_recipient(id), "age1", 4);
    assert_vault_ok(vault_identity_format(id, text, sizeof text));
    vault_identity_free(id);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wire_tag_tweak),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_stanza_shape),
        cmocka_unit_test(test_mixed_recipients),
        cmocka_unit_test(test_reference_file),
        cmocka_unit_test(test_tag_mismatch),
        cmocka_unit_test(test_malformed_stanzas),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_public_key_lines),
        cmocka_unit_test(test_parse_recipient),
        cmocka_unit_test(test_private_key_real),
        cmocka_unit_test(test_private_key_built),
        cmocka_unit_test(test_private_key_negative),
        cmocka_unit_test(test_private_key_framing),
        cmocka_unit_test(test_vault_identity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
