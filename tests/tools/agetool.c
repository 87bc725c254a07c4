/*
 * agetool.c - a test-only front end to libvault's age module, so that the
 * interop test can pit it against the real `age` binary.
 *
 *   agetool keygen                        identity file on stdout
 *   agetool pubkey < IDENTITY             the recipient of each key
 *   agetool encrypt [-a] -r age1... [-r ...] < in > out
 *   agetool encrypt [-a] -R FILE [-R ...] < in > out
 *   agetool encrypt [-a] -p < in > out    passphrase: $AGETOOL_PASSPHRASE,
 *                                         work factor: $AGETOOL_SCRYPT_LOG2N
 *   agetool decrypt -i IDENTITY [-i ...] < in > out
 *   agetool decrypt -p < in > out         (also armored input)
 *
 * -r also takes an "ssh-ed25519 AAAA..." line.  A recipients file (-R) has
 * one recipient per line ("age1..." or "ssh-ed25519 ..."), '#' comments
 * and blank lines, as age -R reads it (k.pub from ssh-keygen is one).
 * Identity files are age's format: '#' comments, blank lines, and
 * AGE-SECRET-KEY-1 lines; or an unencrypted OpenSSH ed25519 private key.
 * Exit status 0 on success, 1 on any failure (with the library's error on
 * stderr), 2 on bad usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "crypto/age/age.h"

#define MAX_KEYS 64

static int usage(void)
{
    fprintf(stderr,
            "usage: agetool keygen | pubkey | encrypt [-a] (-r R ... | -R FILE"
            " ... | -p) | decrypt (-i FILE ... | -p)\n");
    return 2;
}

static int fail(vault_error rc, const char *what)
{
    fprintf(stderr, "agetool: %s: %s (%d): %s\n", what, vault_strerror(rc),
            (int)rc, vault_last_error());
    return 1;
}

static uint8_t *read_all(FILE *f, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        uint8_t *grown = realloc(buf, cap * 2);
        if (!grown) {
            free(buf);
            return NULL;
        }
        buf = grown;
        cap *= 2;
    }
    if (buf && ferror(f)) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static int write_all(const uint8_t *data, size_t len)
{
    if (len && fwrite(data, 1, len, stdout) != len)
        return 1;
    return fflush(stdout) != 0;
}

/* The RSA keys that identities point to, freed by free_identities. */
static age_ssh_rsa_key rsa_keys[MAX_KEYS];

static void free_identities(age_identity *ids)
{
    for (size_t i = 0; i < MAX_KEYS; i++)
        vlt_age_ssh_rsa_key_clear(&rsa_keys[i]);
    if (ids)
        sodium_memzero(ids, MAX_KEYS * sizeof *ids);
    free(ids);
}

/* Appends the keys of an identity file to ids. */
static int load_identities(const uint8_t *text, size_t len, age_identity *ids,
                           size_t *n_ids)
{
    if (vlt_age_ssh_is_private_key(text, len)) {
        if (*n_ids == MAX_KEYS) {
            fprintf(stderr, "agetool: too many keys\n");
            return 1;
        }
        memset(&ids[*n_ids], 0, sizeof ids[*n_ids]);
        /* a protected key: the passphrase from $AGETOOL_PASSPHRASE */
        vault_error rc = vlt_age_ssh_parse_identity(
            text, len, getenv("AGETOOL_PASSPHRASE"), &ids[*n_ids].kind,
            ids[*n_ids].ssh_secret_key, &rsa_keys[*n_ids]);
        if (rc != VAULT_OK)
            return fail(rc, "identity file");
        ids[*n_ids].ssh_rsa = &rsa_keys[*n_ids];
        (*n_ids)++;
        return 0;
    }
    size_t pos = 0;
    while (pos < len) {
        const uint8_t *lf = memchr(text + pos, '\n', len - pos);
        size_t end = lf ? (size_t)(lf - text) : len;
        size_t line_len = end - pos;
        const char *line = (const char *)text + pos;
        if (line_len && line[line_len - 1] == '\r')
            line_len--;
        if (line_len && line[0] != '#') {
            if (*n_ids == MAX_KEYS) {
                fprintf(stderr, "agetool: too many keys\n");
                return 1;
            }
            memset(&ids[*n_ids], 0, sizeof ids[*n_ids]);
            ids[*n_ids].kind = AGE_KIND_X25519;
            vault_error rc = vlt_age_decode_identity(line, line_len,
                                                     ids[*n_ids].secret_key);
            if (rc != VAULT_OK)
                return fail(rc, "identity file");
            (*n_ids)++;
        }
        pos = end + 1;
    }
    return 0;
}

/* Appends the recipients of a recipients file to to. */
static int load_recipients(const char *path, age_recipient *to, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "agetool: %s: %s\n", path, strerror(errno));
        return 1;
    }
    size_t len;
    uint8_t *text = read_all(f, &len);
    fclose(f);
    if (!text)
        return fail(VAULT_E_IO, path);
    int bad = 0;
    size_t pos = 0;
    while (!bad && pos < len) {
        const uint8_t *lf = memchr(text + pos, '\n', len - pos);
        size_t end = lf ? (size_t)(lf - text) : len;
        size_t line_len = end - pos;
        const char *line = (const char *)text + pos;
        if (line_len && line[line_len - 1] == '\r')
            line_len--;
        if (line_len && line[0] != '#') {
            if (*n == MAX_KEYS) {
                fprintf(stderr, "agetool: too many recipients\n");
                bad = 1;
            } else {
                vault_error rc = vlt_age_parse_recipient(line, line_len, &to[*n]);
                if (rc != VAULT_OK)
                    bad = fail(rc, path);
                else
                    (*n)++;
            }
        }
        pos = end + 1;
    }
    free(text);
    return bad;
}

static int cmd_keygen(void)
{
    uint8_t sk[32], pk[32];
    char id[AGE_IDENTITY_STRLEN + 1], rc[AGE_RECIPIENT_STRLEN + 1];
    char created[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
    vlt_age_x25519_generate(sk, pk);
    vlt_age_encode_identity(sk, id);
    vlt_age_encode_recipient(pk, rc);
    printf("# created: %s\n# public key: %s\n%s\n", created, rc, id);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(id, sizeof id);
    return fflush(stdout) != 0;
}

static int cmd_pubkey(void)
{
    size_t len, n = 0;
    uint8_t *text = read_all(stdin, &len);
    if (!text)
        return fail(VAULT_E_IO, "stdin");
    age_identity *ids = calloc(MAX_KEYS, sizeof *ids);
    int bad = !ids || load_identities(text, len, ids, &n);
    for (size_t i = 0; !bad && i < n; i++) {
        uint8_t pk[32];
        char rc[AGE_RECIPIENT_STRLEN + 1];
        vault_error e = vlt_age_x25519_public(ids[i].secret_key, pk);
        if (e != VAULT_OK)
            bad = fail(e, "public key");
        else {
            vlt_age_encode_recipient(pk, rc);
            printf("%s\n", rc);
        }
    }
    free_identities(ids);
    sodium_memzero(text, len);
    free(text);
    return bad || fflush(stdout) != 0;
}

static int cmd_encrypt(int argc, char **argv)
{
    age_recipient to[MAX_KEYS];
    size_t n = 0;
    int armor = 0;
    memset(to, 0, sizeof to);
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-a") == 0) {
            armor = 1;
        } else if (strcmp(argv[i], "-p") == 0 && n < MAX_KEYS) {
            const char *pw = getenv("AGETOOL_PASSPHRASE");
            const char *wf = getenv("AGETOOL_SCRYPT_LOG2N");
            if (!pw) {
                fprintf(stderr, "agetool: AGETOOL_PASSPHRASE is not set\n");
                return 2;
            }
            to[n].kind = AGE_KIND_SCRYPT;
            to[n].passphrase = pw;
            to[n].passphrase_len = strlen(pw);
            to[n].scrypt_log2n = wf ? (int)strtol(wf, NULL, 10) : 0;
            n++;
        } else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc &&
                   n < MAX_KEYS) {
            i++;
            vault_error rc = vlt_age_parse_recipient(argv[i], strlen(argv[i]),
                                                     &to[n]);
            if (rc != VAULT_OK)
                return fail(rc, argv[i]);
            n++;
        } else if (strcmp(argv[i], "-R") == 0 && i + 1 < argc) {
            if (load_recipients(argv[++i], to, &n))
                return 1;
        } else {
            return usage();
        }
    }
    size_t len, out_len;
    uint8_t *in = read_all(stdin, &len), *out;
    if (!in)
        return fail(VAULT_E_IO, "stdin");
    vault_error rc = vlt_age_encrypt(to, n, in, len, &out, &out_len);
    sodium_memzero(in, len);
    free(in);
    if (rc != VAULT_OK)
        return fail(rc, "encrypt");
    if (armor) {
        uint8_t *arm;
        size_t arm_len;
        rc = vlt_age_armor_encode(out, out_len, &arm, &arm_len);
        free(out);
        if (rc != VAULT_OK)
            return fail(rc, "armor");
        out = arm;
        out_len = arm_len;
    }
    int bad = write_all(out, out_len);
    free(out);
    return bad;
}

static int cmd_decrypt(int argc, char **argv)
{
    age_identity *ids = calloc(MAX_KEYS, sizeof *ids);
    size_t n = 0;
    int bad = !ids;
    for (int i = 0; !bad && i < argc; i++) {
        if (strcmp(argv[i], "-p") == 0 && n < MAX_KEYS) {
            const char *pw = getenv("AGETOOL_PASSPHRASE");
            const char *max = getenv("AGETOOL_MAX_LOG2N");
            if (!pw) {
                fprintf(stderr, "agetool: AGETOOL_PASSPHRASE is not set\n");
                bad = 2;
                break;
            }
            ids[n].kind = AGE_KIND_SCRYPT;
            ids[n].passphrase = pw;
            ids[n].passphrase_len = strlen(pw);
            ids[n].max_scrypt_log2n = max ? (int)strtol(max, NULL, 10) : 0;
            n++;
        } else if (strcmp(argv[i], "-i") == 0 && i + 1 < argc) {
            FILE *f = fopen(argv[++i], "rb");
            if (!f) {
                fprintf(stderr, "agetool: %s: %s\n", argv[i],
                        strerror(errno));
                bad = 1;
                break;
            }
            size_t len;
            uint8_t *text = read_all(f, &len);
            fclose(f);
            if (!text) {
                bad = fail(VAULT_E_IO, argv[i]);
                break;
            }
            bad = load_identities(text, len, ids, &n);
            sodium_memzero(text, len);
            free(text);
        } else {
            bad = usage();
        }
    }
    if (!bad) {
        size_t len, pt_len;
        uint8_t *in = read_all(stdin, &len), *pt;
        if (!in) {
            bad = fail(VAULT_E_IO, "stdin");
        } else {
            vault_error rc = vlt_age_decrypt(ids, n, in, len, &pt, &pt_len);
            free(in);
            if (rc != VAULT_OK)
                bad = fail(rc, "decrypt"); /* release nothing */
            else
                bad = write_all(pt, pt_len);
            vlt_age_free_plaintext(pt, pt_len);
        }
    }
    free_identities(ids);
    return bad;
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0 || argc < 2)
        return argc < 2 ? usage() : 1;
    if (strcmp(argv[1], "keygen") == 0 && argc == 2)
        return cmd_keygen();
    if (strcmp(argv[1], "pubkey") == 0 && argc == 2)
        return cmd_pubkey();
    if (strcmp(argv[1], "encrypt") == 0)
        return cmd_encrypt(argc - 2, argv + 2);
    if (strcmp(argv[1], "decrypt") == 0)
        return cmd_decrypt(argc - 2, argv + 2);
    return usage();
}
