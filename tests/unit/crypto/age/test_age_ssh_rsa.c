/*
 * test_age_ssh_rsa.c - unit tests of age's ssh-rsa recipient type: a real
 * ssh-keygen key and a real age file, round trips, the tag, strict parsing
 * of wire keys (mpints, sizes, exponents, truncations), of stanzas, and of
 * private key files broken one field at a time, and identities through
 * vault.h.
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

/* ssh-keygen -t rsa -b 2048 -N '' -C vault-rsa-test (OpenSSH 9.2) */
static const char rsa_key[] =
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAABFwAAAAdzc2gtcn\n"
    "NhAAAAAwEAAQAAAQEAh1yMMPAvcPsS2Y7gLz8Uy00j8ycrej/rv4fc4T7O+fLrA/zsYh9W\n"
    "DfPNiLPyMX3fiqeJ/nIB0Xcrw2s0i3XL+RYG6tEJHXmuuOLSH2KFkNvNMOlAbJQZyPxl47\n"
    "6Evlef2NJIXU9/v/F+RQa27g/4BJH10a5MJu1nZMT5SowsDxMCcXWwmTmSr8ZpPbL6tyZn\n"
    "+H7qfr/Sz2WbrzsjBVqhxEObCyCh0lbKBu75AwJlaKTX/Ev1Dj74/fCffRdnTO+kPuTjbJ\n"
    "MzcwcQZ2yur+1ZhxhqgZOYZXMSG61Dc3jS3g+ytFGR4Z6ufwUHbyTNu1eqLE+0Xvp821Vg\n"
    "ENLnyXL6IQAAA8iPtU+Cj7VPggAAAAdzc2gtcnNhAAABAQCHXIww8C9w+xLZjuAvPxTLTS\n"
    "PzJyt6P+u/h9zhPs758usD/OxiH1YN882Is/Ixfd+Kp4n+cgHRdyvDazSLdcv5Fgbq0Qkd\n"
    "ea644tIfYoWQ280w6UBslBnI/GXjvoS+V5/Y0khdT3+/8X5FBrbuD/gEkfXRrkwm7WdkxP\n"
    "lKjCwPEwJxdbCZOZKvxmk9svq3Jmf4fup+v9LPZZuvOyMFWqHEQ5sLIKHSVsoG7vkDAmVo\n"
    "pNf8S/UOPvj98J99F2dM76Q+5ONskzNzBxBnbK6v7VmHGGqBk5hlcxIbrUNzeNLeD7K0UZ\n"
    "Hhnq5/BQdvJM27V6osT7Re+nzbVWAQ0ufJcvohAAAAAwEAAQAAAQA1A6KmchNqkPL/gS09\n"
    "Y9vdid9YFpG5JfrLf0cbctF2ZFT2MWNVRMeb3E41yaBEEPPxpo9tt7INmzppJX4lVqPl8O\n"
    "IRqoAC6srq/27jOt9r7iItk1UXkWON64huS4pK0B+7OBR+cynp/4eAOlJ/54IwLAhWMIkD\n"
    "v/w8I8ctErwYxLviKpTBeqBBv/WOxMFyI+D9VyXWzl/RJOrm965cd0TN445MLuetmVyuz0\n"
    "LavRSTO95SwMVoqVE/7F23bpkAK/mVCHyDdz6EupTQQrFmyEI7e2QTDZITdvUsCFb7xx72\n"
    "y9sDTaLOqrZfqoLIjbuytXWCf8uUQuJoYlbUphoeAShPAAAAgHNk5aaLfSNcuzrrWEj2/3\n"
    "+wV6u3SgEoPRfV6WD97/6crE4BRaZH0FiVuIPUj51zPlq+ipybrSSsK8O+P3I6bXZwjfWU\n"
    "JvmcnFobccFsFxbjHxcq2cGH+7HA3mGNJB5RYWtBDVXgk45vNGb0KTgFWFvfbquPfM7Avi\n"
    "hOiXlebwPwAAAAgQC6Ry0XUYgglz6SwY4N45esYGOcF2rbBvVg3Ql0uu6jATOqtemueC2+\n"
    "DYjBJsYV+Ic8llXp6EKMHHHcz+cV5oJgBxMlw6QgCzLsySBON/930W3V6uGVMoQfbkV3a6\n"
    "gZPNIv5509ZNRecdwbENSO0XVuZjz/t7yK+kfn1pqkU5+gZwAAAIEAugaklkRz733OcY8L\n"
    "2BZNpeoE8YTd7PD9N7IJu502VsSxwVlvvgNGJvdhUxBGJrZSM+jx3jFNzn79HasqeqI5ch\n"
    "Erpz/dBMElrHldnBn6949C6IDButHHewxCnq8VT9Wp8mnrHAc+ubBn0/UGoeDUvevFR2+K\n"
    "CZqXR3TFZMvZ3DcAAAAOdmF1bHQtcnNhLXRlc3QBAgMEBQ==\n"
    "-----END OPENSSH PRIVATE KEY-----\n";

static const char rsa_pub[] =
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCHXIww8C9w+xLZjuAvPxTLTSPzJy"
    "t6P+u/h9zhPs758usD/OxiH1YN882Is/Ixfd+Kp4n+cgHRdyvDazSLdcv5Fgbq0Qkd"
    "ea644tIfYoWQ280w6UBslBnI/GXjvoS+V5/Y0khdT3+/8X5FBrbuD/gEkfXRrkwm7W"
    "dkxPlKjCwPEwJxdbCZOZKvxmk9svq3Jmf4fup+v9LPZZuvOyMFWqHEQ5sLIKHSVsoG"
    "7vkDAmVopNf8S/UOPvj98J99F2dM76Q+5ONskzNzBxBnbK6v7VmHGGqBk5hlcxIbrU"
    "NzeNLeD7K0UZHhnq5/BQdvJM27V6osT7Re+nzbVWAQ0ufJcvoh vault-rsa-test";
/* printf 'a message from age -R\n' | age -R rsa_pub -a (age 1.1.1) */
static const char rsa_age_file[] =
    "-----BEGIN AGE ENCRYPTED FILE-----\n"
    "YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IHNzaC1yc2EgU3B0M2hnCmVCenFOd3Bw\n"
    "RU9rci9SaDRrMWxaN1cxcmtiRXVPYTd5b1NGdzBxN0Rvblk4Sm5jSFZtK2Myb0NC\n"
    "bEVRTVNTWkQKWmZ6cmU5cXVsK3BUdWpPYSs1eXh5eUxyRnNOblhoMUV2VzF5dmRU\n"
    "c3VPbzVDL1d6b2s0SXY2S2dTMXg4MHE2RgpEVGFMTVlnVWE3MFR6alVuRHdESUdF\n"
    "RHRYWkJnSzVwY1FLT09QdWsrOFdySDZXME5wVlFpbTVabmpxR2dQMEdpCi9uc1hs\n"
    "dVlKRkVlZEI3UnFnNXNQU3gwT1AvcStlWGxoYnpWa3BIaEk0YXFBUCttc0hQYXhQ\n"
    "d2Vody9TbG5LNk8KZ2YweFNFSGZJUUl3QTRpc0tTOUQ5bmpnT1BHNEhSSGlhY055\n"
    "TjVkUlgxM3JsY2k3Z3RPaDBOTzViRDhITERUcApBMGxjTUVZSDlZem55d2F4Mlpr\n"
    "RUFnCi0tLSBhSXhuUExVQld3cmh6ZjhvYzg0SFhnT0xkU0lBMUh1aGpPRmEyM3lx\n"
    "azJvCgZHgoDZeY3IeknWyR+Y4J1iMmFxp3KR3qErbi84hjIWfGM/pL/dkULpAqaT\n"
    "sAwNdLSRCNGvfw==\n"
    "-----END AGE ENCRYPTED FILE-----\n";

static const char rsa_age_plaintext[] = "a message from age -R\n";
/* The tag age wrote in rsa_age_file: "-> ssh-rsa Spt3hg". */
static const char rsa_age_tag[] = "Spt3hg";

/* --- helpers ----------------------------------------------------------------*/

static vault_identity_t *rsa_identity(void)
{
    vault_identity_t *id = NULL;
    assert_vault_ok(vault_identity_parse((const uint8_t *)rsa_key,
                                         strlen(rsa_key), NULL, &id));
    assert_int_equal(id->keys[0].kind, AGE_KIND_SSH_RSA);
    return id;
}

static age_identity age_id_of(const vault_identity_t *id)
{
    age_identity a;
    memset(&a, 0, sizeof a);
    a.kind = AGE_KIND_SSH_RSA;
    a.ssh_rsa = &id->keys[0].rsa;
    return a;
}

static void store_be32(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Appends an SSH string to buf at *n. */
static void put_string(uint8_t *buf, size_t *n, const void *s, size_t len)
{
    store_be32(buf + *n, len);
    memcpy(buf + *n + 4, s, len);
    *n += 4 + len;
}

/* A wire key with the given raw mpint contents of e and n. */
static size_t build_wire(uint8_t *buf, const char *type, const uint8_t *e,
                         size_t e_len, const uint8_t *n, size_t n_len)
{
    size_t len = 0;
    put_string(buf, &len, type, strlen(type));
    put_string(buf, &len, e, e_len);
    put_string(buf, &len, n, n_len);
    return len;
}

/* An odd modulus of bits bits, as a canonical mpint (leading zero when
 * the top bit is set). */
static size_t modulus(uint8_t *out, size_t bits)
{
    size_t bytes = (bits + 7) / 8, off = 0;
    memset(out, 0xa5, bytes + 1);
    unsigned top_bits = (unsigned)(bits - (bytes - 1) * 8);
    uint8_t top = (uint8_t)(((1u << top_bits) - 1) | (1u << (top_bits - 1)));
    if (top & 0x80)
        out[off++] = 0;
    out[off] = top;
    out[off + bytes - 1] |= 1;
    return off + bytes;
}

/* --- the real key and age's file ---------------------------------------------*/

static void test_real_key_and_file(void **state)
{
    (void)state;
    vault_identity_t *id = rsa_identity();
    /* The recipient is the public key line without its comment. */
    const char *rcpt = vault_identity_recipient(id);
    const char *space = strrchr(rsa_pub, ' ');
    assert_int_equal(strlen(rcpt), (size_t)(space - rsa_pub));
    assert_memory_equal(rcpt, rsa_pub, strlen(rcpt));

    /* age's file opens, and our tag for the key is age's. */
    age_identity a = age_id_of(id);
    uint8_t *pt = NULL;
    size_t pt_len = 0;
    assert_vault_ok(vlt_age_decrypt(&a, 1, (const uint8_t *)rsa_age_file,
                                    strlen(rsa_age_file), &pt, &pt_len));
    assert_int_equal(pt_len, strlen(rsa_age_plaintext));
    assert_memory_equal(pt, rsa_age_plaintext, pt_len);
    vlt_age_free_plaintext(pt, pt_len);

    uint8_t tag[AGE_SSH_TAG_BYTES];
    char tag_text[16] = "";
    vlt_age_ssh_rsa_tag(id->keys[0].rsa.wire, id->keys[0].rsa.wire_len, tag);
    vlt_age_base64_encode(tag, sizeof tag, tag_text);
    assert_string_equal(tag_text, rsa_age_tag);

    /* The public line parses to the same wire key. */
    age_recipient r;
    assert_vault_ok(vlt_age_parse_recipient(rsa_pub, strlen(rsa_pub), &r));
    assert_int_equal(r.kind, AGE_KIND_SSH_RSA);
    assert_int_equal(r.ssh_rsa_wire_len, id->keys[0].rsa.wire_len);
    assert_memory_equal(r.ssh_rsa_wire, id->keys[0].rsa.wire,
                        r.ssh_rsa_wire_len);
    /* An identity from an ssh key is not written as an age identity. */
    char text[VAULT_IDENTITY_TEXT_MAX];
    assert_vault_code(vault_identity_format(id, text, sizeof text),
                      VAULT_E_UNSUPPORTED);
    vault_identity_free(id);
}

static void test_round_trip_and_stanza(void **state)
{
    (void)state;
    vault_identity_t *id = rsa_identity();
    age_recipient r;
    assert_vault_ok(vlt_age_parse_recipient(rsa_pub, strlen(rsa_pub), &r));
    static const char msg[] = "to an RSA key";
    uint8_t *file = NULL;
    size_t len = 0;
    assert_vault_ok(vlt_age_encrypt(&r, 1, (const uint8_t *)msg,
                                    strlen(msg), &file, &len));
    /* "-> ssh-rsa Spt3hg", then 256 bytes of body: 5 full lines and 16
     * bytes (22 characters) on the last. */
    char want[64];
    snprintf(want, sizeof want, "age-encryption.org/v1\n-> ssh-rsa %s\n",
             rsa_age_tag);
    assert_memory_equal(file, want, strlen(want));
    const char *body = (const char *)file + strlen(want);
    for (int i = 0; i < 5; i++) {
        const char *nl = memchr(body, '\n', len - (size_t)(body - (char *)file));
        assert_non_null(nl);
        assert_int_equal(nl - body, 64);
        body = nl + 1;
    }
    assert_int_equal(strchr(body, '\n') - body, 22);

    age_identity a = age_id_of(id);
    uint8_t *pt = NULL;
    size_t pt_len = 0;
    assert_vault_ok(vlt_age_decrypt(&a, 1, file, len, &pt, &pt_len));
    assert_int_equal(pt_len, strlen(msg));
    assert_memory_equal(pt, msg, pt_len);
    vlt_age_free_plaintext(pt, pt_len);

    /* A different tag: not ours, no decryption tried. */
    uint8_t *other = malloc(len);
    assert_non_null(other);
    memcpy(other, file, len);
    other[strlen("age-encryption.org/v1\n-> ssh-rsa ")] ^= 1;
    pt = NULL;
    assert_vault_code(vlt_age_decrypt(&a, 1, other, len, &pt, &pt_len),
                      VAULT_E_AGE_NO_MATCH);
    /* The right tag but a damaged body: no match either (OAEP fails). */
    memcpy(other, file, len);
    other[strlen(want) + 10] = other[strlen(want) + 10] == 'A' ? 'B' : 'A';
    assert_vault_code(vlt_age_decrypt(&a, 1, other, len, &pt, &pt_len),
                      VAULT_E_AGE_NO_MATCH);
    free(other);

    /* An Ed25519 or X25519 identity does not match an ssh-rsa stanza. */
    age_identity x;
    memset(&x, 0, sizeof x);
    x.kind = AGE_KIND_X25519;
    uint8_t pk[32];
    vlt_age_x25519_generate(x.secret_key, pk);
    assert_vault_code(vlt_age_decrypt(&x, 1, file, len, &pt, &pt_len),
                      VAULT_E_AGE_NO_MATCH);
    /* An RSA identity without its key is a caller's bug. */
    age_identity empty;
    memset(&empty, 0, sizeof empty);
    empty.kind = AGE_KIND_SSH_RSA;
    assert_vault_code(vlt_age_decrypt(&empty, 1, file, len, &pt, &pt_len),
                      VAULT_E_INVALID);
    free(file);
    vault_identity_free(id);
}

/* A stanza text with the given argument line and body length. */
static size_t stanza_file(char *out, size_t cap, const char *args,
                          size_t body_len)
{
    size_t n = (size_t)snprintf(out, cap, "age-encryption.org/v1\n-> %s\n",
                                args);
    uint8_t body[1024];
    memset(body, 0x42, sizeof body);
    size_t i = 0;
    do {
        size_t take = body_len - i < 48 ? body_len - i : 48;
        vlt_age_base64_encode(body + i, take, out + n);
        n += age_base64_len(take);
        out[n++] = '\n';
        i += take;
        if (take < 48)
            break;
    } while (1);
    n += (size_t)snprintf(out + n, cap - n,
                          "--- AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
                          "0123456789abcdef"); /* the payload nonce */
    return n;
}

static void test_malformed_stanzas(void **state)
{
    (void)state;
    vault_identity_t *id = rsa_identity();
    age_identity a = age_id_of(id);
    char f[4096];
    uint8_t *pt = NULL;
    size_t pt_len = 0, n;
    /* no tag, two arguments, a tag of 3 or 5 bytes */
    static const char *bad[] = {"ssh-rsa", "ssh-rsa Spt3hg AAAA",
                                "ssh-rsa AAAA", "ssh-rsa AAAAAAA",
                                "ssh-rsa Spt3hg=="};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        n = stanza_file(f, sizeof f, bad[i], 256);
        assert_vault_code(vlt_age_decrypt(&a, 1, (uint8_t *)f, n, &pt,
                                          &pt_len),
                          VAULT_E_AGE_HEADER);
    }
    /* Our tag with a body of the wrong size, or longer than any key we
     * hold: no match, and nothing is decrypted. */
    static const size_t sizes[] = {0, 16, 32, 255, 257, 512, 513, 1024};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        n = stanza_file(f, sizeof f, "ssh-rsa Spt3hg", sizes[i]);
        assert_vault_code(vlt_age_decrypt(&a, 1, (uint8_t *)f, n, &pt,
                                          &pt_len),
                          VAULT_E_AGE_NO_MATCH);
    }
    vault_identity_free(id);
}

/* --- wire keys and public key lines --------------------------------------------*/

static void expect_bad_wire(const uint8_t *wire, size_t len, const char *why)
{
    assert_vault_code(vlt_age_ssh_rsa_check_wire(wire, len, "test"),
                      VAULT_E_BAD_KEY);
    if (why)
        assert_non_null(strstr(vault_last_error(), why));
    /* The same as a public key line: refused too. */
    char line[2 * AGE_SSH_RSA_RECIPIENT_STRLEN];
    if (len <= AGE_SSH_RSA_WIRE_MAX) {
        vlt_age_ssh_rsa_encode_public_key(wire, len, line);
        age_recipient r;
        assert_vault_code(vlt_age_parse_recipient(line, strlen(line), &r),
                          VAULT_E_BAD_KEY);
        assert_int_equal(r.kind, 0);
    }
}

static void test_wire_keys(void **state)
{
    (void)state;
    uint8_t n[600], wire[800];
    static const uint8_t e[] = {1, 0, 1};
    size_t n_len = modulus(n, 2048);
    size_t len = build_wire(wire, "ssh-rsa", e, sizeof e, n, n_len);
    assert_vault_ok(vlt_age_ssh_rsa_check_wire(wire, len, "test"));
    /* the line round trip: encode, parse, same wire */
    char line[AGE_SSH_RSA_RECIPIENT_STRLEN + 1];
    vlt_age_ssh_rsa_encode_public_key(wire, len, line);
    age_recipient r;
    assert_vault_ok(vlt_age_parse_recipient(line, strlen(line), &r));
    assert_int_equal(r.ssh_rsa_wire_len, len);
    assert_memory_equal(r.ssh_rsa_wire, wire, len);

    /* every truncation */
    for (size_t cut = 0; cut < len; cut++)
        expect_bad_wire(wire, cut, NULL);
    /* trailing data */
    wire[len] = 0;
    expect_bad_wire(wire, len + 1, "malformed");
    /* wrong type */
    len = build_wire(wire, "ssh-dss", e, sizeof e, n, n_len);
    expect_bad_wire(wire, len, "not an ssh-rsa key");
    /* 4096 bits fit, 1024, 2047 and 4097 do not */
    n_len = modulus(n, 4096);
    len = build_wire(wire, "ssh-rsa", e, sizeof e, n, n_len);
    assert_int_equal(len, AGE_SSH_RSA_WIRE_MAX - 2); /* e of 3 bytes */
    assert_vault_ok(vlt_age_ssh_rsa_check_wire(wire, len, "test"));
    static const size_t bad_bits[] = {1024, 2047, 4097};
    for (size_t i = 0; i < 3; i++) {
        n_len = modulus(n, bad_bits[i]);
        len = build_wire(wire, "ssh-rsa", e, sizeof e, n, n_len);
        expect_bad_wire(wire, len, "RSA key");
    }
    /* an even modulus */
    n_len = modulus(n, 2048);
    n[n_len - 1] &= 0xfe;
    len = build_wire(wire, "ssh-rsa", e, sizeof e, n, n_len);
    expect_bad_wire(wire, len, "even");
    n[n_len - 1] |= 1;
    /* mpints: negative (top bit without a zero), a needless zero, empty */
    uint8_t *neg = n + 1; /* 2048-bit modulus without its zero byte */
    len = build_wire(wire, "ssh-rsa", e, sizeof e, neg, n_len - 1);
    expect_bad_wire(wire, len, "malformed");
    static const uint8_t e_padded[] = {0, 1, 0, 1};
    len = build_wire(wire, "ssh-rsa", e_padded, sizeof e_padded, n, n_len);
    expect_bad_wire(wire, len, "malformed");
    len = build_wire(wire, "ssh-rsa", e, 0, n, n_len);
    expect_bad_wire(wire, len, "malformed");
    /* exponents: even, 1, longer than 4 bytes */
    static const uint8_t e_even[] = {1, 0, 0};
    static const uint8_t e_one[] = {1};
    static const uint8_t e_long[] = {1, 0, 0, 0, 1};
    len = build_wire(wire, "ssh-rsa", e_even, sizeof e_even, n, n_len);
    expect_bad_wire(wire, len, "exponent");
    len = build_wire(wire, "ssh-rsa", e_one, sizeof e_one, n, n_len);
    expect_bad_wire(wire, len, "exponent");
    len = build_wire(wire, "ssh-rsa", e_long, sizeof e_long, n, n_len);
    expect_bad_wire(wire, len, "exponent");

    /* lines: a longer key than we take, the wrong type inside, a
     * control character in the comment */
    char long_line[2000] = "ssh-rsa ";
    memset(long_line + 8, 'A', 1500);
    long_line[1508] = '\0';
    assert_vault_code(vlt_age_parse_recipient(long_line, strlen(long_line),
                                              &r), VAULT_E_BAD_KEY);
    assert_non_null(strstr(vault_last_error(), "4096"));
    char mixed[200];
    snprintf(mixed, sizeof mixed, "ssh-rsa %s",
             "AAAAC3NzaC1lZDI1NTE5AAAAIE6r5Khm0zt6lxmQVOf15WBlrJMgt2T0GPWPafJX2DkC");
    assert_vault_code(vlt_age_parse_recipient(mixed, strlen(mixed), &r),
                      VAULT_E_BAD_KEY);
    char commented[sizeof rsa_pub + 2];
    snprintf(commented, sizeof commented, "%s\x01", rsa_pub);
    assert_vault_code(vlt_age_parse_recipient(commented, strlen(commented),
                                              &r), VAULT_E_BAD_KEY);
    assert_vault_ok(vlt_age_parse_recipient(rsa_pub, strlen(rsa_pub), &r));
    /* Two RSA keys are told apart; a key is itself. */
    age_recipient other;
    assert_vault_ok(vlt_age_parse_recipient(line, strlen(line), &other));
    assert_false(vlt_age_same_recipient(&r, &other));
    assert_true(vlt_age_same_recipient(&r, &r));
    /* A 4096-bit key cannot be encrypted to with a fake modulus?  It can:
     * OAEP does not know n is no product of two primes.  A wrapped key
     * is 512 bytes and the stanza fits AGE_STANZA_MAX. */
    n_len = modulus(n, 4096);
    len = build_wire(wire, "ssh-rsa", e, sizeof e, n, n_len);
    vlt_age_ssh_rsa_encode_public_key(wire, len, line);
    assert_int_equal(strlen(line), AGE_SSH_RSA_RECIPIENT_STRLEN);
    assert_true(strlen(line) < VAULT_RECIPIENT_MAX);
    assert_vault_ok(vlt_age_parse_recipient(line, strlen(line), &r));
    uint8_t *file = NULL;
    size_t file_len = 0;
    assert_vault_ok(vlt_age_encrypt(&r, 1, (const uint8_t *)"x", 1, &file,
                                    &file_len));
    free(file);
}

/* --- private key files -------------------------------------------------------------*/

/* The decoded openssh-key-v1 blob of rsa_key. */
static size_t key_blob(uint8_t *blob, size_t cap)
{
    char b64[4096];
    size_t n = 0;
    const char *p = strchr(rsa_key, '\n') + 1;
    while (strncmp(p, "-----END", 8) != 0) {
        const char *nl = strchr(p, '\n');
        memcpy(b64 + n, p, (size_t)(nl - p));
        n += (size_t)(nl - p);
        p = nl + 1;
    }
    while (n > 0 && b64[n - 1] == '=')
        n--;
    size_t len = 0;
    assert_vault_ok(vlt_age_base64_decode(b64, n, blob, cap, &len));
    return len;
}

/* Writes blob as a private key file (one base64 line) and parses it. */
static vault_error parse_blob_file(const uint8_t *blob, size_t len)
{
    size_t cap = 2 * len + 200;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t n = (size_t)snprintf(text, cap,
                                "-----BEGIN OPENSSH PRIVATE KEY-----\n");
    vlt_age_base64_encode(blob, len, text + n);
    n += age_base64_len(len);
    while (n % 4 != 0) /* the BEGIN line is 36 bytes: a multiple of 4 */
        text[n++] = '=';
    n += (size_t)snprintf(text + n, cap - n,
                          "\n-----END OPENSSH PRIVATE KEY-----\n");
    vault_identity_t *id = NULL;
    vault_error rc = vault_identity_parse((uint8_t *)text, n, NULL, &id);
    vault_identity_free(id);
    free(text);
    return rc;
}

static size_t load_be32(const uint8_t *p)
{
    return (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
}

static void test_private_key_negative(void **state)
{
    (void)state;
    uint8_t blob[4096], copy[4096];
    size_t len = key_blob(blob, sizeof blob);
    assert_vault_ok(parse_blob_file(blob, len));
    /* The private section: after magic, cipher, kdf, options, count, the
     * public key, the section's length. */
    size_t p = 15 + 8 + 8 + 4 + 4;
    p += 4 + load_be32(blob + p); /* public key */
    size_t sec = p + 4, sec_len = load_be32(blob + p);
    assert_int_equal(sec + sec_len, len);
    /* fields: checkints, type, n, e, d, iqmp, p, q, comment */
    size_t field[9], at = sec + 8;
    for (int i = 0; i < 8; i++) {
        field[i] = at;
        at += 4 + load_be32(blob + at);
    }
    field[8] = at;

    /* Every truncation of the section (its length adjusted): refused. */
    for (size_t cut = 8; cut < sec_len; cut += 7) {
        memcpy(copy, blob, len);
        store_be32(copy + p, cut);
        assert_vault_code(parse_blob_file(copy, sec + cut), VAULT_E_BAD_KEY);
    }
    /* A changed byte in d, iqmp, p or q: not one key pair.  In n or e:
     * the parts disagree. */
    static const int fields[] = {1, 2, 3, 4, 5, 6};
    for (size_t i = 0; i < 6; i++) {
        memcpy(copy, blob, len);
        size_t f = field[fields[i]];
        copy[f + 4 + load_be32(copy + f) - 1] ^= 2; /* keep it odd */
        assert_vault_code(parse_blob_file(copy, len), VAULT_E_BAD_KEY);
        assert_non_null(strstr(vault_last_error(),
                               i < 2 ? "disagree" : "key pair"));
    }
    /* A private type other than the public one. */
    memcpy(copy, blob, len);
    copy[field[0] + 4] = 'x'; /* "xsh-rsa" */
    assert_vault_code(parse_blob_file(copy, len), VAULT_E_BAD_KEY);
    /* A negative mpint (n's sign byte set). */
    memcpy(copy, blob, len);
    copy[field[1] + 4] = 0x80;
    assert_vault_code(parse_blob_file(copy, len), VAULT_E_BAD_KEY);
    /* Bad padding. */
    memcpy(copy, blob, len);
    if (len > field[8] + 4 + load_be32(blob + field[8])) {
        copy[len - 1] ^= 0x40;
        assert_vault_code(parse_blob_file(copy, len), VAULT_E_BAD_KEY);
    }
    /* Different check integers. */
    memcpy(copy, blob, len);
    copy[sec] ^= 1;
    assert_vault_code(parse_blob_file(copy, len), VAULT_E_BAD_KEY);
    /* The Ed25519-only parser refuses an RSA key. */
    uint8_t sk[AGE_ED25519_SECRET_KEY_BYTES];
    assert_vault_code(vlt_age_ssh_parse_private_key((const uint8_t *)rsa_key,
                                                    strlen(rsa_key), NULL,
                                                    sk),
                      VAULT_E_BAD_KEY);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_key_and_file),
        cmocka_unit_test(test_round_trip_and_stanza),
        cmocka_unit_test(test_malformed_stanzas),
        cmocka_unit_test(test_wire_keys),
        cmocka_unit_test(test_private_key_negative),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
