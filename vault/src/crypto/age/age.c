/*
 * age.c - age v1 files (c2sp.org/age, age-encryption.org/v1): header,
 * X25519, scrypt and ssh-ed25519 stanzas, header MAC, STREAM payload.
 *
 * File layout (spec "Encrypted file format"):
 *
 *     "age-encryption.org/v1" LF                      version line
 *     1*stanza                                       one per recipient
 *     "---" SP 43base64char LF                       header MAC
 *     nonce (16 bytes)                               payload starts here
 *     chunk 0 .. chunk n-1                           STREAM
 *
 *     stanza     = "->" 1*(SP argument) LF            argument = 1*VCHAR
 *                  *(64base64char LF)                 full body lines
 *                  *63base64char LF                   final line, may be ""
 *
 * Stanzas we understand (spec "Native recipient types"):
 *
 *     -> X25519 <share: base64 of 32 bytes>           body: 32 bytes
 *     -> scrypt <salt: base64 of 16 bytes> <log2 N>   body: 32 bytes
 *     -> ssh-ed25519 <tag: base64 of 4 bytes> <share: base64 of 32 bytes>
 *                                                     body: 32 bytes
 *
 * The body is ChaCha20-Poly1305 (zero nonce) of the 16-byte file key under
 *     X25519: HKDF-SHA-256(salt = share || recipient,
 *                          ikm = X25519(secret, share),
 *                          info = "age-encryption.org/v1/X25519")
 *     scrypt: scrypt(N = 2^log2N, r = 8, p = 1, dkLen = 32,
 *                    S = "age-encryption.org/v1/scrypt" || salt)
 *     ssh-ed25519 (age's agessh package; the recipient's Ed25519 key pair
 *     converted to X25519 by the birational map, secret = clamped
 *     SHA-512(seed)[0..31]; wire = the SSH wire encoding of the Ed25519
 *     public key; tag = SHA-256(wire)[0..3]):
 *             tweak = HKDF-SHA-256(salt = wire, ikm = "",
 *                                  info = "age-encryption.org/v1/ssh-ed25519")
 *             key   = HKDF-SHA-256(salt = share || recipient,
 *                        ikm = X25519(tweak, X25519(secret, share)),
 *                        info = "age-encryption.org/v1/ssh-ed25519")
 * An scrypt stanza must be alone in its header.  Unknown stanzas are
 * parsed (arguments, canonical base64 body) and otherwise skipped.  An
 * ssh-ed25519 stanza whose tag is not our key's is not ours (no match),
 * like one whose body does not open.
 *
 * The MAC is HMAC-SHA-256 under HKDF(salt = "", ikm = file key,
 * info = "header") over the header up to and including "---".
 *
 * Payload (spec "Payload"): key = HKDF(salt = nonce, ikm = file key,
 * info = "payload"); chunk i is ChaCha20-Poly1305 of up to 64 KiB of
 * plaintext (16-byte tag appended) with nonce = i as 11 bytes big endian
 * || 0x01 for the final chunk, 0x00 otherwise.  Only the final chunk may
 * be short, and it may be empty only if it is the first chunk.
 *
 * Decryption order, which fixes the error code of every failure:
 *   armor -> header syntax -> nonce present -> unwrap (no match or a
 *   malformed stanza) -> MAC -> payload.
 *
 * This file holds HKDF, X25519 keys, the STREAM payload, vlt_age_decrypt
 * and vlt_age_encrypt; age_header.c parses the header and computes its
 * MAC, age_stanza.c wraps and unwraps the file key per recipient type,
 * and age_internal.h holds what they share.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto/age/age_internal.h"
#include "common/internal.h"

/* --- HKDF ----------------------------------------------------------------*/

void vlt_age_hkdf_sha256(const uint8_t *salt, size_t salt_len, const uint8_t *ikm,
                         size_t ikm_len, const char *info, uint8_t *out,
                         size_t out_len)
{
    static const uint8_t empty[1];
    assert(out_len <= 255 * crypto_auth_hmacsha256_BYTES);
    crypto_auth_hmacsha256_state st;
    uint8_t prk[crypto_auth_hmacsha256_BYTES];
    uint8_t t[crypto_auth_hmacsha256_BYTES];
    size_t info_len = info ? strlen(info) : 0;

    /* Extract: PRK = HMAC(salt, IKM); an empty salt is HashLen zeros, which
     * HMAC's zero padding of the key makes the same as no key at all. */
    crypto_auth_hmacsha256_init(&st, salt_len ? salt : empty, salt_len);
    crypto_auth_hmacsha256_update(&st, ikm_len ? ikm : empty, ikm_len);
    crypto_auth_hmacsha256_final(&st, prk);

    /* Expand: T(i) = HMAC(PRK, T(i-1) || info || i). */
    size_t done = 0;
    for (uint8_t i = 1; done < out_len; i++) {
        crypto_auth_hmacsha256_init(&st, prk, sizeof prk);
        if (i > 1)
            crypto_auth_hmacsha256_update(&st, t, sizeof t);
        crypto_auth_hmacsha256_update(&st, (const uint8_t *)(info ? info : ""),
                                      info_len);
        crypto_auth_hmacsha256_update(&st, &i, 1);
        crypto_auth_hmacsha256_final(&st, t);
        size_t take = out_len - done < sizeof t ? out_len - done : sizeof t;
        memcpy(out + done, t, take);
        done += take;
    }
    sodium_memzero(&st, sizeof st);
    sodium_memzero(prk, sizeof prk);
    sodium_memzero(t, sizeof t);
}

/* --- keys ----------------------------------------------------------------*/

void vlt_age_x25519_generate(uint8_t secret_key[AGE_X25519_KEY_BYTES],
                             uint8_t public_key[AGE_X25519_KEY_BYTES])
{
    do {
        randombytes_buf(secret_key, AGE_X25519_KEY_BYTES);
        secret_key[0] &= 248;
        secret_key[31] &= 127;
        secret_key[31] |= 64;
    } while (crypto_scalarmult_base(public_key, secret_key) != 0);
}

vault_error vlt_age_x25519_public(const uint8_t secret_key[AGE_X25519_KEY_BYTES],
                                  uint8_t public_key[AGE_X25519_KEY_BYTES])
{
    if (crypto_scalarmult_base(public_key, secret_key) != 0 ||
        sodium_is_zero(public_key, AGE_X25519_KEY_BYTES))
        return vlt_fail(VAULT_E_BAD_KEY,
                        "X25519 secret key gives an all-zero public key");
    return VAULT_OK;
}

/* --- STREAM ------------------------------------------------------------------*/

static void stream_nonce(uint8_t nonce[12], uint64_t counter, int last)
{
    memset(nonce, 0, 12);
    for (int i = 0; i < 8; i++)
        nonce[10 - i] = (uint8_t)(counter >> (8 * i));
    nonce[11] = last ? 1 : 0;
}

/* Decrypts the payload (nonce and chunks) into out (room for in_len bytes).
 * *out_len counts the verified plaintext, also on failure. */
static vault_error stream_decrypt(const uint8_t file_key[AGE_FILE_KEY_BYTES],
                                  const uint8_t *in, size_t in_len,
                                  uint8_t *out, size_t *out_len)
{
    assert(in_len >= AGE_NONCE_BYTES);
    uint8_t key[crypto_aead_chacha20poly1305_ietf_KEYBYTES];
    vlt_age_hkdf_sha256(in, AGE_NONCE_BYTES, file_key, AGE_FILE_KEY_BYTES,
                        "payload", key, sizeof key);
    const uint8_t *p = in + AGE_NONCE_BYTES;
    size_t left = in_len - AGE_NONCE_BYTES;
    uint8_t nonce[12];
    uint64_t counter = 0;
    *out_len = 0;
    vault_error rc = VAULT_OK;
    if (left == 0)
        rc = vlt_fail(VAULT_E_AGE_PAYLOAD, "age payload: no chunks");
    while (rc == VAULT_OK) {
        size_t clen = left < AGE_CHUNK_CT_BYTES ? left : AGE_CHUNK_CT_BYTES;
        int at_end = clen == left;
        unsigned long long plen = 0;
        uint8_t *dst = out + *out_len;
        if (clen < AGE_TAG_BYTES) {
            rc = vlt_fail(VAULT_E_AGE_PAYLOAD,
                          "age payload: chunk %llu truncated",
                          (unsigned long long)counter);
            break;
        }
        if (at_end && clen == AGE_TAG_BYTES && counter != 0) {
            rc = vlt_fail(VAULT_E_AGE_PAYLOAD,
                          "age payload: empty final chunk");
            break;
        }
        /* A short chunk can only be the final one; a full one is usually
         * not, but may be (the payload is a multiple of 64 KiB). */
        int last_first = clen < AGE_CHUNK_CT_BYTES;
        stream_nonce(nonce, counter, last_first);
        int last = last_first;
        int bad = crypto_aead_chacha20poly1305_ietf_decrypt(
            dst, &plen, NULL, p, clen, NULL, 0, nonce, key);
        if (bad && !last_first) {
            stream_nonce(nonce, counter, 1);
            last = 1;
            bad = crypto_aead_chacha20poly1305_ietf_decrypt(
                dst, &plen, NULL, p, clen, NULL, 0, nonce, key);
        }
        if (bad) {
            rc = vlt_fail(VAULT_E_AGE_PAYLOAD,
                          "age payload: chunk %llu fails authentication",
                          (unsigned long long)counter);
            break;
        }
        /* The chunk is authentic: release it. */
        *out_len += (size_t)plen;
        p += clen;
        left -= clen;
        counter++;
        if (last && left > 0)
            rc = vlt_fail(VAULT_E_AGE_PAYLOAD,
                          "age payload: data after the final chunk");
        else if (last)
            break;
        else if (left == 0)
            rc = vlt_fail(VAULT_E_AGE_PAYLOAD,
                          "age payload: truncated (no final chunk)");
    }
    sodium_memzero(key, sizeof key);
    sodium_memzero(nonce, sizeof nonce);
    return rc;
}


/* --- decryption --------------------------------------------------------------*/

void vlt_age_free_plaintext(uint8_t *plaintext, size_t plaintext_len)
{
    if (!plaintext)
        return;
    sodium_memzero(plaintext, plaintext_len);
    free(plaintext);
}

/* The binary file: f itself, or the armor decoded into *owned. */
static vault_error binary_file(const uint8_t *file, size_t file_len,
                               const uint8_t **f, size_t *len,
                               uint8_t **owned)
{
    *owned = NULL;
    if (!vlt_age_is_armored(file, file_len)) {
        *f = file;
        *len = file_len;
        return VAULT_OK;
    }
    vault_error rc = vlt_age_armor_decode(file, file_len, owned, len);
    *f = *owned;
    return rc;
}

vault_error vlt_age_decrypt(const age_identity *identities, size_t n_identities,
                            const uint8_t *file, size_t file_len,
                            uint8_t **plaintext, size_t *plaintext_len)
{
    if (!plaintext || !plaintext_len)
        return vlt_fail(VAULT_E_INVALID, "vlt_age_decrypt: NULL output");
    *plaintext = NULL;
    *plaintext_len = 0;
    if ((!identities && n_identities) || (!file && file_len))
        return vlt_fail(VAULT_E_INVALID, "vlt_age_decrypt: NULL argument");
    if (sodium_init() < 0)
        return vlt_fail(VAULT_E_INTERNAL, "libsodium failed to start");

    const uint8_t *f;
    size_t len;
    uint8_t *dearmored;
    vault_error rc = binary_file(file, file_len, &f, &len, &dearmored);
    if (rc != VAULT_OK)
        return rc;

    age_header h;
    uint8_t file_key[AGE_FILE_KEY_BYTES];
    uint8_t mac[AGE_MAC_BYTES];
    uint8_t *out = NULL;
    size_t out_len = 0;
    rc = vlt_age_parse_header(f, len, &h);
    if (rc != VAULT_OK)
        goto done_nokey;
    if (len - h.header_len < AGE_NONCE_BYTES) {
        rc = vlt_fail(VAULT_E_AGE_HEADER,
                      "age payload: missing or short nonce");
        goto done_nokey;
    }
    rc = vlt_age_find_file_key(identities, n_identities, &h, file_key);
    if (rc != VAULT_OK)
        goto done_nokey;

    vlt_age_header_mac(file_key, f, h.mac_input_len, mac);
    if (sodium_memcmp(mac, h.mac, sizeof mac) != 0) {
        rc = vlt_fail(VAULT_E_AGE_HMAC, "age header: MAC mismatch");
        goto done;
    }
    size_t payload_len = len - h.header_len;
    out = malloc(payload_len); /* >= 16: plaintext is shorter */
    if (!out) {
        rc = vlt_fail(VAULT_E_NOMEM, "age: out of memory");
        goto done;
    }
    rc = stream_decrypt(file_key, f + h.header_len, payload_len, out,
                        &out_len);
    if (rc == VAULT_OK || rc == VAULT_E_AGE_PAYLOAD) {
        *plaintext = out;
        *plaintext_len = out_len;
        out = NULL;
    }
done:
    sodium_memzero(file_key, sizeof file_key);
    sodium_memzero(mac, sizeof mac);
done_nokey:
    vlt_age_free_plaintext(out, out_len);
    vlt_age_header_free(&h);
    free(dearmored);
    return rc;
}

int vlt_age_is_passphrase_file(const uint8_t *file, size_t file_len)
{
    if (!file)
        return 0;
    const uint8_t *f;
    size_t len;
    uint8_t *dearmored;
    if (binary_file(file, file_len, &f, &len, &dearmored) != VAULT_OK)
        return 0;
    age_header h;
    int yes = vlt_age_parse_header(f, len, &h) == VAULT_OK &&
              h.n_stanzas == 1 && h.n_known == 1 &&
              h.stanzas[0].kind == AGE_KIND_SCRYPT;
    vlt_age_header_free(&h);
    free(dearmored);
    return yes;
}

/* --- encryption --------------------------------------------------------------*/

vault_error vlt_age_encrypt(const age_recipient *recipients, size_t n_recipients,
                            const uint8_t *plaintext, size_t plaintext_len,
                            uint8_t **out, size_t *out_len)
{
    if (!out || !out_len)
        return vlt_fail(VAULT_E_INVALID, "vlt_age_encrypt: NULL output");
    *out = NULL;
    *out_len = 0;
    if (!plaintext && plaintext_len)
        return vlt_fail(VAULT_E_INVALID, "vlt_age_encrypt: NULL plaintext");
    vault_error rc = vlt_age_check_recipients(recipients, n_recipients);
    if (rc != VAULT_OK)
        return rc;
    if (sodium_init() < 0)
        return vlt_fail(VAULT_E_INTERNAL, "libsodium failed to start");

    size_t chunks = plaintext_len / AGE_CHUNK_BYTES +
                    (plaintext_len % AGE_CHUNK_BYTES != 0 || !plaintext_len);
    size_t header_max = sizeof AGE_VERSION_LINE + 4 + AGE_MAC_B64_LEN + 1 +
                        n_recipients * AGE_STANZA_MAX;
    size_t overhead = header_max + AGE_NONCE_BYTES;
    if (chunks > (SIZE_MAX - overhead) / AGE_TAG_BYTES ||
        plaintext_len > SIZE_MAX - overhead - chunks * AGE_TAG_BYTES)
        return vlt_fail(VAULT_E_INVALID, "vlt_age_encrypt: input too large");
    uint8_t *buf = malloc(overhead + chunks * AGE_TAG_BYTES + plaintext_len);
    if (!buf)
        return vlt_fail(VAULT_E_NOMEM, "vlt_age_encrypt: out of memory");

    uint8_t file_key[AGE_FILE_KEY_BYTES];
    randombytes_buf(file_key, sizeof file_key);
    char *hdr = (char *)buf;
    size_t n = 0;
    vlt_age_put_str(hdr, &n, AGE_VERSION_LINE "\n");
    for (size_t i = 0; i < n_recipients && rc == VAULT_OK; i++) {
        rc = vlt_age_wrap_file_key(&recipients[i], file_key, hdr, &n);
        assert(n <= header_max);
    }
    if (rc != VAULT_OK) {
        sodium_memzero(file_key, sizeof file_key);
        free(buf);
        return rc;
    }
    vlt_age_put_str(hdr, &n, "---");
    uint8_t mac[AGE_MAC_BYTES];
    vlt_age_header_mac(file_key, buf, n, mac);
    hdr[n++] = ' ';
    vlt_age_base64_encode(mac, sizeof mac, hdr + n);
    n += AGE_MAC_B64_LEN;
    hdr[n++] = '\n';

    uint8_t *nonce = buf + n;
    randombytes_buf(nonce, AGE_NONCE_BYTES);
    n += AGE_NONCE_BYTES;
    uint8_t key[crypto_aead_chacha20poly1305_ietf_KEYBYTES];
    vlt_age_hkdf_sha256(nonce, AGE_NONCE_BYTES, file_key, sizeof file_key,
                        "payload", key, sizeof key);
    sodium_memzero(file_key, sizeof file_key);
    uint8_t chunk_nonce[12];
    for (size_t c = 0; c < chunks; c++) {
        size_t off = c * (size_t)AGE_CHUNK_BYTES;
        size_t take = plaintext_len - off < AGE_CHUNK_BYTES
                          ? plaintext_len - off
                          : AGE_CHUNK_BYTES;
        stream_nonce(chunk_nonce, c, c + 1 == chunks);
        unsigned long long clen;
        crypto_aead_chacha20poly1305_ietf_encrypt(
            buf + n, &clen, take ? plaintext + off : NULL, take, NULL, 0,
            NULL, chunk_nonce, key);
        n += (size_t)clen;
    }
    sodium_memzero(key, sizeof key);
    *out = buf;
    *out_len = n;
    return VAULT_OK;
}
