/*
 * test_keys_parse.c - the parsers of envelope payloads and of the
 * config (crypto/keys.c) against truncated, mutated and random bytes
 * (a fixed-seed generator, so failures repeat), and against authenticated
 * (correctly sealed) but malformed contents: a clean rejection
 * (assert_rejected), never a crash.
 */
#include "vault_fixture.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "backend_testing.h"

static const char MEMBER[] =
    "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

static vault_error payload_try(const void *text, size_t len)
{
    envelope_payload *p = (envelope_payload *)&p;
    /* never a NULL pointer, even for 0 bytes */
    uint8_t *copy = xmalloc(len);
    if (len)
        memcpy(copy, text, len);
    vault_error rc = vlt_envelope_payload_decode(copy, len, &p);
    if (rc == VAULT_OK)
        assert_non_null(p);
    else
        assert_null(p);
    vlt_envelope_payload_free(rc == VAULT_OK ? p : NULL);
    free(copy);
    return rc;
}

/* text with its first from replaced by to (malloc'ed). */
static char *replace_first(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    assert_non_null(at);
    size_t head = (size_t)(at - text), fl = strlen(from), tl = strlen(to);
    char *out = xmalloc(strlen(text) - fl + tl + 1);
    memcpy(out, text, head);
    memcpy(out + head, to, tl);
    memcpy(out + head + tl, at + fl, strlen(at + fl) + 1);
    return out;
}

/* k's grant envelope payload text for MEMBER (epochs 0.., read keys). */
static char *grant_text(const keyring *k, int read_sk, size_t *len)
{
    envelope_payload *p;
    char *text;
    assert_vault_ok(vlt_envelope_payload_make(k, MEMBER, k->sign_seed, 1, 0,
                                              read_sk, &p));
    assert_vault_ok(vlt_envelope_payload_encode(p, &text, len));
    vlt_envelope_payload_free(p);
    return text;
}

static void test_parse_envelope_payload(void **state)
{
    (void)state;
    assert_vault_ok(vault_global_init());
    keyring *k;
    assert_vault_ok(vlt_keyring_generate(&k));
    size_t len;
    char *text = grant_text(k, 1, &len);

    /* the real thing */
    envelope_payload *d;
    assert_vault_ok(vlt_envelope_payload_decode((const uint8_t *)text, len,
                                                &d));
    assert_int_equal(d->n_epochs, 1);
    assert_true(d->has_sign_key && d->has_dedup_secret);
    assert_memory_equal(d->sign_seed, k->sign_seed, SIGN_SEED_BYTES);
    assert_memory_equal(d->vault_id, k->vault_id, VAULT_ID_BYTES);
    assert_memory_equal(d->dedup_secret, k->dedup_secret, SECRET_BYTES);
    assert_memory_equal(d->epochs[0].keys.read_sk, k->epochs[0].read_sk, 32);
    assert_string_equal(d->member, MEMBER);
    vlt_envelope_payload_free(d);

    /* every truncation */
    for (size_t n = 0; n < len; n++)
        assert_vault_code(payload_try(text, n), VAULT_E_CORRUPT);

    /* every position, a few replacement bytes: never a crash */
    static const uint8_t repl[] = {0, '\n', ' ', '0', 'f', 'g', 'A', 0xff,
                                   '\r', '-'};
    uint8_t *buf = xmalloc(len + 1);
    for (size_t pos = 0; pos < len; pos++) {
        for (size_t j = 0; j < sizeof repl; j++) {
            memcpy(buf, text, len);
            if (buf[pos] == repl[j])
                continue;
            buf[pos] = repl[j];
            vault_error rc = payload_try(buf, len);
            assert_true(rc == VAULT_OK || rc == VAULT_E_CORRUPT);
        }
        memcpy(buf, text, pos);
        memcpy(buf + pos, text + pos + 1, len - pos - 1);
        vault_error rc = payload_try(buf, len - 1);
        assert_true(rc == VAULT_OK || rc == VAULT_E_CORRUPT);
    }
    free(buf);

    /* random bytes, some behind a plausible first line */
    uint8_t rnd[700];
    for (int i = 0; i < 3000; i++) {
        size_t n = rng_below(sizeof rnd);
        rng_fill(rnd, n);
        if (i % 2 && n > 40) {
            memcpy(rnd, "vault-envelope/v2\nvault-id ", 27);
            if (i % 4 == 1)
                memcpy(rnd + 30, "\nepoch ", 7);
        }
        assert_vault_code(payload_try(rnd, n), VAULT_E_CORRUPT);
    }

    /* hand-made hostile payloads: the real text with one line changed */
    char *lines[16];
    size_t n_lines = 0;
    char *copy = xstrdup(text);
    for (char *s = copy; *s && n_lines < 16;) {
        char *nl = strchr(s, '\n');
        assert_non_null(nl);
        *nl = '\0';
        lines[n_lines++] = s;
        s = nl + 1;
    }
    assert_int_equal(n_lines, 6);
    const struct {
        size_t line;
        const char *text;
    } swaps[] = {
        {0, "vault-envelope/v1"},
        {0, "vault-envelope/v2 "},
        {2, "member "},
        {3, "signing-key "},
        {3, "signing-key --"},
        {3, "signing-key 00"},
        {1, "vault-id 00"},
        {1, "vault-id -"},
        {4, "dedup-secret "},
        {5, "epoch 1 x"},
        {5, "epoch 0"},
        {5, "epoch -"},
        {5, "epoch 01 x"},
        {5, "epoch 1024 x"},
    };
    char *hostile = xmalloc(len + 4096);
    for (size_t s = 0; s < VAULT_ARRAY_SIZE(swaps); s++) {
        size_t o = 0;
        for (size_t i = 0; i < n_lines; i++) {
            const char *l = i == swaps[s].line ? swaps[s].text : lines[i];
            memcpy(hostile + o, l, strlen(l));
            o += strlen(l);
            hostile[o++] = '\n';
        }
        if (payload_try(hostile, o) != VAULT_E_CORRUPT)
            fail_msg("accepted a payload with line %zu as \"%s\"",
                     swaps[s].line, swaps[s].text);
    }
    /* CRLF line ends; trailing data; the epoch line twice (not
     * increasing) */
    size_t o = 0;
    for (size_t i = 0; i < n_lines; i++) {
        memcpy(hostile + o, lines[i], strlen(lines[i]));
        o += strlen(lines[i]);
        memcpy(hostile + o, "\r\n", 2);
        o += 2;
    }
    assert_vault_code(payload_try(hostile, o), VAULT_E_CORRUPT);
    memcpy(hostile, text, len);
    memcpy(hostile + len, "extra\n", 6);
    assert_vault_code(payload_try(hostile, len + 6), VAULT_E_CORRUPT);
    memcpy(hostile + len, lines[5], strlen(lines[5]));
    hostile[len + strlen(lines[5])] = '\n';
    assert_vault_code(payload_try(hostile, len + strlen(lines[5]) + 1),
                      VAULT_E_CORRUPT);
    /* epoch 0 then epoch 7: any increasing set is fine */
    char *e7 = replace_first(lines[5], "epoch 0 ", "epoch 7 ");
    memcpy(hostile + len, e7, strlen(e7));
    hostile[len + strlen(e7)] = '\n';
    assert_vault_ok(payload_try(hostile, len + strlen(e7) + 1));
    free(e7);
    /* a read key that does not match its public key */
    char *sk = strchr(lines[5] + 8, ' ') + 1;
    sk[0] = sk[0] == '0' ? '1' : '0';
    o = 0;
    for (size_t i = 0; i < n_lines; i++) {
        memcpy(hostile + o, lines[i], strlen(lines[i]));
        o += strlen(lines[i]);
        hostile[o++] = '\n';
    }
    assert_vault_code(payload_try(hostile, o), VAULT_E_CORRUPT);
    free(hostile);
    free(copy);

    /* more epoch lines than allowed: refused before allocating */
    size_t big_len = (EPOCHS_MAX + 1) * 8 + 1;
    char *big = xmalloc(big_len);
    for (size_t i = 0; i <= EPOCHS_MAX; i++)
        memcpy(big + i * 8, "epoch 0\n", 8);
    assert_vault_code(payload_try(big, (EPOCHS_MAX + 1) * 8), VAULT_E_CORRUPT);
    free(big);
    /* over the size limit */
    big = xmalloc(ENVELOPE_MAX_BYTES + 1);
    memset(big, 'a', ENVELOPE_MAX_BYTES + 1);
    assert_vault_code(payload_try(big, ENVELOPE_MAX_BYTES + 1),
                      VAULT_E_CORRUPT);
    free(big);

    /* a writer's payload: no read keys */
    free(text);
    text = grant_text(k, 0, &len);
    assert_vault_ok(vlt_envelope_payload_decode((const uint8_t *)text, len,
                                                &d));
    assert_false(d->epochs[0].keys.has_read_sk);
    vlt_envelope_payload_free(d);
    assert_non_null(strstr(text, " - "));
    free(text);
    vlt_keyring_free(k);
}

static void test_parse_config(void **state)
{
    (void)state;
    assert_vault_ok(vault_global_init());
    keyring *k, *other;
    assert_vault_ok(vlt_keyring_generate(&k));
    assert_vault_ok(vlt_keyring_generate(&other));
    uint8_t cfg[CONFIG_BYTES], buf[CONFIG_BYTES + 16], id[VAULT_ID_BYTES];
    vlt_config_encode(k, cfg);
    assert_vault_ok(vlt_config_parse(cfg, sizeof cfg, id));
    assert_memory_equal(id, k->vault_id, VAULT_ID_BYTES);
    assert_vault_ok(vlt_config_verify(k, cfg, sizeof cfg));
    assert_vault_code(vlt_config_verify(other, cfg, sizeof cfg), VAULT_E_CORRUPT);

    for (size_t n = 0; n < sizeof buf; n++) {
        memset(buf, 0, sizeof buf);
        memcpy(buf, cfg, n < sizeof cfg ? n : sizeof cfg);
        if (n == CONFIG_BYTES)
            continue;
        assert_vault_code(vlt_config_parse(buf, n, id), VAULT_E_CORRUPT);
        assert_vault_code(vlt_config_verify(k, buf, n), VAULT_E_CORRUPT);
    }
    for (size_t pos = 0; pos < CONFIG_BYTES; pos++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(buf, cfg, sizeof cfg);
            buf[pos] ^= (uint8_t)(1u << bit);
            vault_error want = pos < 8    ? VAULT_E_CORRUPT
                               : pos < 12 ? VAULT_E_UNSUPPORTED
                               : pos < 44 ? VAULT_OK
                               : pos < 56 ? VAULT_E_UNSUPPORTED
                                          : VAULT_OK;
            assert_vault_code(vlt_config_parse(buf, CONFIG_BYTES, id), want);
            vault_error rc = vlt_config_verify(k, buf, CONFIG_BYTES);
            assert_true(rc != VAULT_OK);
            assert_rejected(rc);
        }
    }
    for (int i = 0; i < 2000; i++) {
        rng_fill(buf, CONFIG_BYTES);
        if (i % 2)
            memcpy(buf, cfg, 56); /* a good body, a random MAC */
        assert_rejected(vlt_config_verify(k, buf, CONFIG_BYTES));
    }
    vlt_keyring_free(k);
    vlt_keyring_free(other);
}

int main(void)
{
    if (vault_global_init() != VAULT_OK) {
        fprintf(stderr, "vault_global_init: %s\n", vault_last_error());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_envelope_payload),
        cmocka_unit_test(test_parse_config),
    };
    return cmocka_run_group_tests_name("parsers: keys", tests, NULL, NULL)
               ? 1
               : 0;
}
