/*
 * test_age_testkit.c - runs the official age test vectors (C2SP/CCTV
 * age/testdata, see tests/age-testkit/README.txt) through vlt_age_decrypt.
 *
 * Each vector is "key: value" lines, an empty line, then the age file
 * (zlib-compressed when "compressed: zlib").  We run every vector except
 * those using hybrid post-quantum identities (not implemented) and those
 * with a preamble key we do not know (upstream says to skip them), and
 * assert the exact outcome kind and the SHA-256 of all released plaintext.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zlib.h>

#include "crypto/age/age.h"
#include "test_util.h"

/* Floors for this snapshot: 92 binary non-hybrid vectors, 32 armored ones
 * (33 armored minus armor_hybrid). */
#define MIN_BINARY_RUN 92
#define MIN_TOTAL_RUN 124
#define MAX_KEYS 8

enum outcome {
    OUT_SUCCESS,
    OUT_HEADER,
    OUT_NO_MATCH,
    OUT_HMAC,
    OUT_PAYLOAD,
    OUT_ARMOR,
    OUT_COUNT
};

static const struct {
    const char *name;  /* the "expect" value */
    vault_error code;  /* what vlt_age_decrypt must return */
} outcomes[OUT_COUNT] = {
    [OUT_SUCCESS] = {"success", VAULT_OK},
    [OUT_HEADER] = {"header failure", VAULT_E_AGE_HEADER},
    [OUT_NO_MATCH] = {"no match", VAULT_E_AGE_NO_MATCH},
    [OUT_HMAC] = {"HMAC failure", VAULT_E_AGE_HMAC},
    [OUT_PAYLOAD] = {"payload failure", VAULT_E_AGE_PAYLOAD},
    [OUT_ARMOR] = {"armor failure", VAULT_E_AGE_ARMOR},
};

/* One parsed vector. */
typedef struct vector {
    int expect;                       /* enum outcome, -1 if missing */
    char payload_hex[65];             /* "payload:", "" if absent */
    char identity[MAX_KEYS][128];     /* "identity:" values */
    size_t n_identities;
    char passphrase[MAX_KEYS][128];   /* "passphrase:" values */
    size_t n_passphrases;
    int armored;                      /* "armored: yes" */
    int compressed;                   /* "compressed: zlib" */
    int skip;                         /* hybrid or unknown key */
    const char *skip_why;
    const uint8_t *body;              /* the age file (maybe compressed) */
    size_t body_len;
} vector;

static void copy_value(char *dst, size_t cap, const char *v, size_t len)
{
    if (len >= cap)
        fail_msg("preamble value too long");
    memcpy(dst, v, len);
    dst[len] = '\0';
}

static void parse_vector(const uint8_t *data, size_t len, vector *v)
{
    memset(v, 0, sizeof *v);
    v->expect = -1;
    size_t pos = 0;
    for (;;) {
        const uint8_t *lf = memchr(data + pos, '\n', len - pos);
        if (!lf)
            fail_msg("preamble does not end with an empty line");
        size_t end = (size_t)(lf - data);
        if (end == pos) { /* the empty line */
            pos++;
            break;
        }
        const char *line = (const char *)data + pos;
        size_t line_len = end - pos;
        const char *sep = memchr(line, ':', line_len);
        if (!sep || (size_t)(sep - line) + 2 > line_len || sep[1] != ' ')
            fail_msg("malformed preamble line");
        size_t key_len = (size_t)(sep - line);
        const char *val = sep + 2;
        size_t val_len = line_len - key_len - 2;
#define KEY_IS(k) (key_len == strlen(k) && memcmp(line, k, key_len) == 0)
#define VAL_IS(s) (val_len == strlen(s) && memcmp(val, s, val_len) == 0)
        if (KEY_IS("expect")) {
            for (int o = 0; o < OUT_COUNT; o++)
                if (VAL_IS(outcomes[o].name))
                    v->expect = o;
            if (v->expect < 0)
                fail_msg("unknown expect value");
        } else if (KEY_IS("payload")) {
            copy_value(v->payload_hex, sizeof v->payload_hex, val, val_len);
        } else if (KEY_IS("identity")) {
            if (val_len >= 18 && memcmp(val, "AGE-SECRET-KEY-PQ-", 18) == 0) {
                v->skip = 1;
                v->skip_why = "hybrid identity";
            } else {
                if (v->n_identities == MAX_KEYS)
                    fail_msg("too many identities");
                copy_value(v->identity[v->n_identities++],
                           sizeof v->identity[0], val, val_len);
            }
        } else if (KEY_IS("passphrase")) {
            if (v->n_passphrases == MAX_KEYS)
                fail_msg("too many passphrases");
            copy_value(v->passphrase[v->n_passphrases++],
                       sizeof v->passphrase[0], val, val_len);
        } else if (KEY_IS("armored")) {
            v->armored = VAL_IS("yes");
        } else if (KEY_IS("compressed")) {
            if (!VAL_IS("zlib")) {
                v->skip = 1;
                v->skip_why = "unknown compression";
            }
            v->compressed = 1;
        } else if (KEY_IS("file key") || KEY_IS("comment")) {
            /* for debugging only */
        } else {
            v->skip = 1;
            v->skip_why = "unknown preamble key";
        }
#undef KEY_IS
#undef VAL_IS
        pos = end + 1;
    }
    v->body = data + pos;
    v->body_len = len - pos;
}

/* zlib (RFC 1950) inflation into a malloc'ed buffer. */
static uint8_t *inflate_all(const uint8_t *in, size_t in_len, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(inflateInit(&zs), Z_OK);
    size_t cap = in_len * 4 + 1024, used = 0;
    uint8_t *out = malloc(cap);
    assert_non_null(out);
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)in_len;
    int zrc;
    do {
        if (used == cap) {
            cap *= 2;
            out = realloc(out, cap);
            assert_non_null(out);
        }
        zs.next_out = out + used;
        zs.avail_out = (uInt)(cap - used);
        zrc = inflate(&zs, Z_NO_FLUSH);
        used = cap - zs.avail_out;
        if (zrc != Z_OK && zrc != Z_STREAM_END && zrc != Z_BUF_ERROR)
            fail_msg("inflate failed: %d", zrc);
    } while (zrc != Z_STREAM_END);
    inflateEnd(&zs);
    *out_len = used;
    return out;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The armor encoder must reproduce an accepted armored vector, modulo the
 * whitespace outside the block and CRLF line ends. */
static int armor_round_trips(const uint8_t *file, size_t len)
{
    uint8_t *bin, *again;
    size_t bin_len, again_len;
    if (vlt_age_armor_decode(file, len, &bin, &bin_len) != VAULT_OK)
        return 1; /* nothing to compare */
    assert_vault_ok(vlt_age_armor_encode(bin, bin_len, &again, &again_len));
    uint8_t *norm = malloc(len + 1);
    assert_non_null(norm);
    size_t a = 0, b = len, n = 0;
    while (a < b && strchr(" \t\r\n", file[a]))
        a++;
    while (b > a && strchr(" \t\r\n", file[b - 1]))
        b--;
    for (size_t i = a; i < b; i++)
        if (!(file[i] == '\r' && i + 1 < b && file[i + 1] == '\n'))
            norm[n++] = file[i];
    norm[n++] = '\n';
    int same = n == again_len && memcmp(norm, again, n) == 0;
    free(norm);
    free(bin);
    free(again);
    return same;
}

static void test_testkit(void **state)
{
    (void)state;
    DIR *dir = opendir(VAULT_TESTKIT_DIR);
    if (!dir)
        fail_msg("cannot open %s", VAULT_TESTKIT_DIR);
    char **names = NULL;
    size_t n_names = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        names = realloc(names, (n_names + 1) * sizeof *names);
        assert_non_null(names);
        names[n_names] = strdup(de->d_name);
        assert_non_null(names[n_names]);
        n_names++;
    }
    closedir(dir);
    qsort(names, n_names, sizeof *names, cmp_names);

    size_t run[OUT_COUNT] = {0}, passed[OUT_COUNT] = {0};
    size_t skipped = 0, run_binary = 0, run_total = 0, failures = 0;
    for (size_t i = 0; i < n_names; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", VAULT_TESTKIT_DIR, names[i]);
        size_t raw_len;
        uint8_t *raw = test_read_file(path, &raw_len);
        vector v;
        parse_vector(raw, raw_len, &v);
        if (v.expect < 0)
            fail_msg("%s: no expect line", names[i]);
        if (v.skip) {
            printf("skip %-40s (%s)\n", names[i], v.skip_why);
            skipped++;
            free(raw);
            continue;
        }
        const uint8_t *file = v.body;
        size_t file_len = v.body_len;
        uint8_t *inflated = NULL;
        if (v.compressed) {
            inflated = inflate_all(v.body, v.body_len, &file_len);
            file = inflated;
        }

        age_identity ids[2 * MAX_KEYS];
        size_t n_ids = 0;
        memset(ids, 0, sizeof ids);
        for (size_t k = 0; k < v.n_identities && k < MAX_KEYS; k++) {
            ids[n_ids].kind = AGE_KIND_X25519;
            assert_vault_ok(vlt_age_decode_identity(v.identity[k],
                                                strlen(v.identity[k]),
                                                ids[n_ids].secret_key));
            n_ids++;
        }
        for (size_t k = 0; k < v.n_passphrases && k < MAX_KEYS; k++) {
            ids[n_ids].kind = AGE_KIND_SCRYPT;
            ids[n_ids].passphrase = v.passphrase[k];
            ids[n_ids].passphrase_len = strlen(v.passphrase[k]);
            n_ids++;
        }

        uint8_t *pt = NULL;
        size_t pt_len = 0;
        vault_error rc = vlt_age_decrypt(ids, n_ids, file, file_len, &pt,
                                         &pt_len);
        const char *problem = NULL;
        char hex[65] = "";
        if (rc != outcomes[v.expect].code) {
            problem = "wrong outcome";
        } else if (v.expect == OUT_SUCCESS || v.expect == OUT_PAYLOAD) {
            uint8_t digest[crypto_hash_sha256_BYTES];
            crypto_hash_sha256(digest, pt, pt_len);
            sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
            if (!v.payload_hex[0])
                problem = "vector has no payload hash";
            else if (strcmp(hex, v.payload_hex) != 0)
                problem = "released plaintext has the wrong SHA-256";
        } else if (pt != NULL) {
            problem = "plaintext released on a non-payload failure";
        }
        if (!problem && v.armored && v.expect != OUT_ARMOR &&
            !armor_round_trips(file, file_len))
            problem = "armor encoder does not reproduce the vector";

        run[v.expect]++;
        run_total++;
        if (!v.armored)
            run_binary++;
        if (problem) {
            failures++;
            printf("FAIL %-40s expected %s, got %s (%d): %s; %s%s%s\n",
                   names[i], outcomes[v.expect].name, vault_strerror(rc),
                   (int)rc, vault_last_error(), problem,
                   hex[0] ? ", sha256 " : "", hex);
        } else {
            passed[v.expect]++;
        }
        vlt_age_free_plaintext(pt, pt_len);
        sodium_memzero(ids, sizeof ids);
        free(inflated);
        free(raw);
    }
    for (size_t i = 0; i < n_names; i++)
        free(names[i]);
    free(names);

    printf("age testkit: %zu vectors, %zu run (%zu binary, %zu armored), "
           "%zu skipped\n",
           n_names, run_total, run_binary, run_total - run_binary, skipped);
    for (int o = 0; o < OUT_COUNT; o++)
        printf("  %-16s %3zu run, %3zu passed\n", outcomes[o].name, run[o],
               passed[o]);
    if (failures)
        fail_msg("%zu vectors failed", failures);
    if (run_binary < MIN_BINARY_RUN)
        fail_msg("only %zu binary vectors ran, expected at least %d",
                 run_binary, MIN_BINARY_RUN);
    if (run_total < MIN_TOTAL_RUN)
        fail_msg("only %zu vectors ran, expected at least %d", run_total,
                 MIN_TOTAL_RUN);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_testkit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
