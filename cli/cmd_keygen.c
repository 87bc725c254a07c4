/*
 * cmd_keygen.c - `vault keygen`: new identities, and public keys of old ones.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define IDENTITY_STDIN_MAX (1u << 20)

/* `vault keygen -y`: the identity from -i, $VAULT_IDENTITY or stdin. */
static int print_public_key(const char *path, const char *passphrase_file)
{
    vault_identity_t *id = NULL;
    if (path || getenv("VAULT_IDENTITY")) {
        id = cli_load_identity(path, passphrase_file);
        if (!id)
            return EXIT_FAILURE_;
    } else {
        uint8_t *buf = malloc(IDENTITY_STDIN_MAX);
        if (!buf) {
            cli_error("out of memory");
            return EXIT_FAILURE_;
        }
        size_t len = fread(buf, 1, IDENTITY_STDIN_MAX, stdin);
        if (ferror(stdin) || len == IDENTITY_STDIN_MAX) {
            free(buf);
            cli_error("standard input: cannot read an identity");
            return EXIT_FAILURE_;
        }
        vault_error rc = vault_identity_parse(buf, len, NULL, &id);
        if (rc == VAULT_E_NEED_PASSPHRASE) {
            char *pass = cli_get_passphrase(passphrase_file,
                                            "Passphrase: ", 0);
            if (pass) {
                rc = vault_identity_parse(buf, len, pass, &id);
                cli_free_passphrase(pass);
            } else {
                memset(buf, 0, len);
                free(buf);
                return EXIT_FAILURE_;
            }
        }
        memset(buf, 0, len);
        free(buf);
        if (rc != VAULT_OK)
            return cli_fail(rc);
    }
    printf("%s\n", vault_identity_recipient(id));
    vault_identity_free(id);
    return EXIT_OK;
}

int cmd_keygen(int argc, char **argv)
{
    static const struct option options[] = {
        {"output", required_argument, NULL, 'o'},
        {"identity", required_argument, NULL, 'i'},
        {"passphrase", no_argument, NULL, 'P'},
        {"passphrase-file", required_argument, NULL, 'F'},
        {NULL, 0, NULL, 0}};
    const char *output = NULL, *identity = NULL, *passphrase_file = NULL;
    int want_passphrase = 0, public_only = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+o:i:y", options, NULL)) != -1) {
        switch (c) {
        case 'o': output = optarg; break;
        case 'i': identity = optarg; break;
        case 'y': public_only = 1; break;
        case 'P': want_passphrase = 1; break;
        case 'F': passphrase_file = optarg; break;
        default: return cli_bad_option("keygen", argv);
        }
    }
    if (optind < argc)
        return cli_usage("keygen", "unexpected argument '%s'", argv[optind]);
    if (public_only) {
        if (output || want_passphrase)
            return cli_usage("keygen", "-y takes only -i");
        return print_public_key(identity, passphrase_file);
    }
    if (identity)
        return cli_usage("keygen", "-i is for -y");
    /* A passphrase file named for a new identity means "protect it with
     * this", as restic's --password-file supplies the password: writing
     * the key in the clear instead would ignore what was asked for. */
    if (passphrase_file)
        want_passphrase = 1;
    if (want_passphrase && !output)
        return cli_usage("keygen", "--passphrase%s needs -o FILE",
                         passphrase_file ? "-file" : "");
    if (output && access(output, F_OK) == 0) {
        cli_error("%s: already exists; not replacing an identity", output);
        return EXIT_FAILURE_;
    }
    if (output && cli_make_parents(output) != 0)
        return EXIT_FAILURE_;

    vault_identity_t *id = NULL;
    vault_error rc = vault_identity_generate(&id);
    if (rc != VAULT_OK)
        return cli_fail(rc);

    if (!output) {
        /* Like age-keygen: the identity on stdout, the public key on
         * stderr so that `vault keygen > key.txt` shows it. */
        char text[VAULT_IDENTITY_TEXT_MAX];
        rc = vault_identity_format(id, text, sizeof text);
        if (rc == VAULT_OK) {
            fputs(text, stdout);
            fprintf(stderr, "Public key: %s\n", vault_identity_recipient(id));
        }
        memset(text, 0, sizeof text);
        vault_identity_free(id);
        if (rc != VAULT_OK)
            return cli_fail(rc);
        if (fflush(stdout) != 0) {
            cli_error("standard output: write failed");
            return EXIT_FAILURE_;
        }
        return EXIT_OK;
    }

    char *pass = NULL;
    if (want_passphrase) {
        pass = cli_get_passphrase(passphrase_file,
                                  "Passphrase for the new identity: ", 1);
        if (!pass) {
            vault_identity_free(id);
            return EXIT_FAILURE_;
        }
    }
    int log2n = 0;
    const char *work = getenv("VAULT_SCRYPT_LOG2N"); /* for tests only */
    if (work)
        log2n = (int)strtol(work, NULL, 10);
    rc = vault_identity_save(id, output, pass, log2n);
    cli_free_passphrase(pass);
    if (rc != VAULT_OK) {
        vault_identity_free(id);
        return cli_fail(rc);
    }
    printf("%s\n", vault_identity_recipient(id));
    vault_identity_free(id);
    return EXIT_OK;
}
