/*
 * cli.h - shared pieces of the `vault` command line tool.  The tool uses
 * only the library's public header.
 */
#ifndef VAULT_CLI_H
#define VAULT_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "vault.h"

/* Exit codes, documented in `vault help`. */
enum {
    EXIT_OK = 0,
    EXIT_FAILURE_ = 1, /* the operation failed */
    EXIT_USAGE = 2,    /* the command line is wrong */
    EXIT_PARTIAL = 3,  /* done, but some items failed (see the summary) */
    EXIT_TRANSIENT = 4, /* failed, but may succeed if tried again later
                           (vault_error_is_transient) */
    EXIT_INTERRUPTED = 130 /* stopped by SIGINT or SIGTERM (as restic and
                              shells report a Ctrl-C: 128 + SIGINT) */
};

typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
    const char *usage; /* full help text for `vault CMD --help` */
} cli_command;

/* "vault: <what>: <why>" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Reports a failed library call: "vault: <detail>"; returns EXIT_TRANSIENT
 * if trying again later may help, else EXIT_FAILURE_.  After SIGINT or
 * SIGTERM (cli_catch_interrupts) it says "vault: interrupted" and returns
 * EXIT_INTERRUPTED, whatever the call's error. */
int cli_fail(vault_error rc);
/* From now on, SIGINT and SIGTERM ask the library to stop
 * (vault_interrupt): the running call cleans up and fails, and cli_fail
 * reports it.  A second signal ends the process at once.  A signal that
 * was ignored when vault started (a background job's SIGINT) stays
 * ignored.  Called by the commands that run long, once their vault is
 * open (a passphrase prompt before it stops at Ctrl-C as usual). */
void cli_catch_interrupts(void);
/* Usage error: message, hint to --help, returns EXIT_USAGE. */
int cli_usage(const char *command, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* After getopt_long returned '?': names the option that was unknown or
 * lacked its argument; returns EXIT_USAGE. */
int cli_bad_option(const char *command, char **argv);
/* Parses a command line whose only options are -i/--identity FILE and
 * --passphrase-file FILE, leaving argc and argv at the operands: 0, or the
 * exit code of a usage error (printed). */
int cli_identity_options(const char *command, int *argc, char ***argv,
                         const char **identity, const char **passphrase_file);
/* Prints the command's help to stdout. */
int cli_help(const char *command);

/*
 * Passphrases, in this order: --passphrase-file FILE (first line), the
 * VAULT_PASSPHRASE environment variable, then a prompt on the terminal
 * without echo (asked twice when confirm is set).  Returns a malloc'ed
 * string the caller wipes with cli_free_passphrase, or NULL after printing
 * an error.
 */
char *cli_get_passphrase(const char *passphrase_file, const char *prompt,
                         int confirm);
void cli_free_passphrase(char *passphrase);

/*
 * Loads the identity from path (or $VAULT_IDENTITY when path is NULL),
 * asking for a passphrase when the file is protected.  Prints the error and
 * returns NULL on failure.
 */
vault_identity_t *cli_load_identity(const char *path,
                                    const char *passphrase_file);

/* Makes the missing folders on the way to file (not file itself), 0700:
 * an identity's folder (~/.config/vault on a fresh account) or a vault's
 * is nobody else's business.  0, or -1 after printing why, naming file. */
int cli_make_parents(const char *file);
/* Opens path for reading if it is a regular file (never waiting on a FIFO
 * or device); the descriptor, or -1 after printing why. */
int cli_open_regular(const char *path);
/* The vault location: argv[0] if it is a vault or has a storage scheme
 * ("rest:...", consumed), else $VAULT_REPOSITORY; NULL if neither. */
const char *cli_take_vault(int *argc, char ***argv);
/* The storage options (--connections, --cacert, --no-cache and their
 * environment variables), taken out of argv by main before the command
 * runs; every open and create uses them. */
extern vault_storage_options cli_storage;
/* The location as it may be printed or pinned (its password redacted),
 * malloc'ed; NULL when out of memory. */
char *cli_location_shown(const char *location);
/* Pinning (cli_pin.c): 0 if path's vault v has the fingerprint this
 * client pinned for its location (or none was, and it now is); else -1
 * after printing why.  cli_pin_record pins a vault just made. */
int cli_pin_check(const char *path, const vault_t *v);
void cli_pin_record(const char *path, const char *fingerprint);
/* --quiet and --progress (taken out of argv by main, with any command),
 * and whether the command's output is JSON (set by the command). */
typedef struct cli_output_options {
    int quiet;    /* no progress */
    int progress; /* progress even when stderr is not a terminal */
    int json;     /* progress as JSON status lines on stdout */
} cli_output_options;
extern cli_output_options cli_output;
/* Whether a status line is shown (cli_progress.c). */
int cli_progress_wanted(void);
/* Shows v's long operations' progress, if wanted (cli_open_vault does
 * this for every command). */
void cli_progress_attach(vault_t *v);
/* Opens path as the identity's member and checks its pin; prints the
 * error, NULL on failure. */
vault_t *cli_open_vault(const char *path, const char *identity_path,
                        const char *passphrase_file);
void cli_json_string(FILE *f, const char *s);
/* Text from a snapshot (or a message naming it) for people: control
 * bytes, C1 controls and bytes that are not UTF-8 as \xHH, a backslash
 * as \\ (newlines kept if keep_newlines).  cli_text returns it escaped
 * in one of 8 buffers that later calls reuse. */
void cli_put_text(FILE *f, const char *text, int keep_newlines);
const char *cli_text(const char *text);
/* " PATH..." and "  [TAG,...]" of a snapshot, escaped, on stdout. */
void cli_put_snapshot_paths_tags(const vault_snapshot_info *s);
/* A readable snapshot's author for people: its role ("owner", "reader",
 * "writer" or "former member") and its recipient shortened
 * ("age1abcd…wxyz"; the key, shortened, if the log names no recipient),
 * escaped, in buf. */
const char *cli_author(const vault_snapshot_info *s, char buf[160]);
/* Why a snapshot that is not readable is so, for a listing. */
const char *cli_unreadable_reason(const vault_snapshot_info *s);
/* If s is damaged, says so on stderr, naming it (its damage does). */
void cli_warn_damaged(const vault_snapshot_info *s);
const char *cli_size(uint64_t bytes, char buf[32]);
/* "1048576", "64M", "1G": bytes (k, m, g, t: powers of 1024); 0 when
 * malformed, 0, or too large. */
uint64_t cli_parse_size(const char *text);
/* "1 file", "2 files": n and the word, singular or plural, in one of 8
 * buffers that later calls reuse. */
const char *cli_count(uint64_t n, const char *one, const char *many);
const char *cli_time(int64_t sec, char buf[32]);
const char *cli_time_rfc3339(int64_t sec, uint32_t nsec, char buf[48]);

/* --host, --path, --tag (cli_select.c): which snapshots "latest" may
 * be.  A command lists CLI_SELECT_LONG_OPTIONS among its options and
 * hands each option getopt_long returns to cli_select_option first. */
#define CLI_SELECT_MAX 32
enum { CLI_OPT_HOST = 0x1001, CLI_OPT_PATH, CLI_OPT_TAG };
#define CLI_SELECT_LONG_OPTIONS                                              \
    {"host", required_argument, NULL, CLI_OPT_HOST},                         \
        {"path", required_argument, NULL, CLI_OPT_PATH},                     \
        {"tag", required_argument, NULL, CLI_OPT_TAG}
typedef struct cli_select {
    vault_snapshot_filter filter;
    const char *paths[CLI_SELECT_MAX];
    const char *tags[CLI_SELECT_MAX];
    int used; /* any of them given */
} cli_select;
/* 1: the option was one of them (taken); 0: another option; -1: too
 * many of one kind. */
int cli_select_option(cli_select *s, int option, const char *arg);
/* Resolves ref through the filter into id: 0, or the exit code of the
 * error it printed. */
int cli_select_snapshot(vault_t *v, const cli_select *s, const char *ref,
                        char id[65]);
/* The operands "SNAP[:PATH]" or "SNAP PATH": *ref malloc'ed (the caller
 * frees it), *path into it or argv (NULL: none).  0, or the exit code of
 * the usage error it printed. */
int cli_split_ref(const char *command, int argc, char **argv, char **ref,
                  const char **path);
/* After a path was not found in snapshot id: what the snapshot holds. */
void cli_hint_paths(vault_t *v, const char *id, const char *path);

/* How cli_print_entry shows entries (cli_entry.c): paths, ls -l lines,
 * or the objects of a JSON array (first: none printed yet). */
typedef struct cli_entry_format {
    int long_format;
    int json;
    int first;
} cli_entry_format;
void cli_print_entry(cli_entry_format *format, const vault_file_info *f);
/* "file", "dir", "symlink", ... */
const char *cli_file_type_name(vault_file_type t);

int cmd_keygen(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_add(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_extract(int argc, char **argv);
int cmd_share(int argc, char **argv);
int cmd_members(int argc, char **argv);
int cmd_unshare(int argc, char **argv);
int cmd_rekey(int argc, char **argv);
int cmd_forget(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_copy(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_tag(int argc, char **argv);
int cmd_find(int argc, char **argv);
int cmd_unlock(int argc, char **argv);
int cmd_mount(int argc, char **argv);
/* "owner", "reader", "writer" -> role; -1 if none of them. */
int cli_parse_role(const char *text, vault_role *role);
/* age's recipients-file format: appends the lines to *list; -1 on error. */
int cli_read_recipients_file(const char *path, char ***list, size_t *n);
/* Appends copies of argv[0..argc) and drops the comment of every
 * "ssh-ed25519 KEY comment" or "ssh-rsa KEY comment" line in *list (members are named without
 * it); -1 on error (printed). */
int cli_add_recipients(char ***list, size_t *n, int argc, char **argv);
void cli_free_recipients(char **list, size_t n);

#endif
