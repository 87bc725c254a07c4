/*
 * vault.h - the one public header of libvault, an end-to-end encrypted,
 * deduplicating file vault.
 *
 * Conventions:
 *  - Every fallible call returns a vault_error.  VAULT_OK is 0.  On failure
 *    vault_last_error() (per thread) explains what went wrong in words fit
 *    for a user: "what: why".
 *  - Handles are opaque; every *_free / *_close accepts NULL.
 *  - Strings are NUL-terminated UTF-8 unless a length is given.
 *  - Secrets handed out by the library live in locked memory and are wiped
 *    when their handle is freed.
 */
#ifndef VAULT_H
#define VAULT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define VAULT_API __attribute__((visibility("default")))
#define VAULT_NODISCARD __attribute__((warn_unused_result))
#else
#define VAULT_API
#define VAULT_NODISCARD
#endif

/*
 * The version of this header, as zstd numbers it: MAJOR*10000 + MINOR*100
 * + PATCH.  The library's build states it in CMake's project(VERSION) as
 * well, and does not compile if the two disagree.
 */
#define VAULT_VERSION_MAJOR 0
#define VAULT_VERSION_MINOR 1
#define VAULT_VERSION_PATCH 0
#define VAULT_VERSION_NUMBER                                                   \
    (VAULT_VERSION_MAJOR * 10000 + VAULT_VERSION_MINOR * 100 +                 \
     VAULT_VERSION_PATCH)
#define VAULT_STRINGIFY_(x) #x
#define VAULT_STRINGIFY(x) VAULT_STRINGIFY_(x)
#define VAULT_VERSION_STRING                                                   \
    VAULT_STRINGIFY(VAULT_VERSION_MAJOR)                                       \
    "." VAULT_STRINGIFY(VAULT_VERSION_MINOR) "." VAULT_STRINGIFY(              \
        VAULT_VERSION_PATCH)

/* The version of the library running, which may be another than the
 * header's: VAULT_VERSION_NUMBER and VAULT_VERSION_STRING ("0.1.0") as
 * it was built.  Callable at any time, before vault_global_init too. */
VAULT_API unsigned vault_version_number(void);
VAULT_API const char *vault_version_string(void);

/*
 * Error codes.  Values are published and never change meaning; retired
 * codes stay reserved.
 */
typedef enum vault_error {
    VAULT_OK = 0,
    VAULT_E_NOMEM = 1,         /* an allocation failed */
    VAULT_E_IO = 2,            /* the operating system refused (errno) */
    VAULT_E_INVALID = 3,       /* a caller's argument is unusable */
    VAULT_E_BAD_KEY = 4,       /* a key string is malformed */
    VAULT_E_EXISTS = 5,        /* would overwrite something that exists */
    VAULT_E_NOT_FOUND = 6,     /* a file, object or snapshot is missing */
    VAULT_E_NEED_PASSPHRASE = 7, /* the identity is passphrase-protected */
    VAULT_E_BAD_PASSPHRASE = 8,  /* the passphrase does not open it */
    VAULT_E_RNG = 9,           /* the system random source failed */
    VAULT_E_AGE_HEADER = 10,   /* age: header or stanza malformed */
    VAULT_E_AGE_NO_MATCH = 11, /* age: no identity unwraps a stanza */
    VAULT_E_AGE_HMAC = 12,     /* age: header MAC mismatch */
    VAULT_E_AGE_PAYLOAD = 13,  /* age: STREAM payload damaged/truncated */
    VAULT_E_AGE_ARMOR = 14,    /* age: ASCII armor malformed */
    VAULT_E_CORRUPT = 15,      /* a vault object fails authentication/parse */
    VAULT_E_NOT_MEMBER = 16,   /* the identity opens no envelope here */
    VAULT_E_PERMISSION = 17,   /* the member's role does not allow this */
    VAULT_E_UNSUPPORTED = 18,  /* a newer format version or feature */
    VAULT_E_UNSAFE_PATH = 19,  /* extraction refused a path */
    VAULT_E_PARTIAL = 20,      /* finished, but some items failed */
    VAULT_E_INTERNAL = 21,     /* a bug: an invariant did not hold */
    /* Failures of remote storage.  The first three are transient
     * (vault_error_is_transient): the same call may succeed later. */
    VAULT_E_TIMEOUT = 22,      /* the storage did not answer in time */
    VAULT_E_NETWORK = 23,      /* the storage could not be reached, or the
                                  connection broke */
    VAULT_E_BUSY = 24,         /* the storage asks to come back later
                                  (throttled, overloaded, locked) */
    VAULT_E_AUTH = 25,         /* the storage refused the credentials or
                                  access to the location (not a vault
                                  role: that is VAULT_E_PERMISSION) */
    VAULT_E_INTERRUPTED = 26   /* stopped by vault_interrupt, cleaned up */
} vault_error;

/* A short fixed description of a code ("age header failure", ...). */
VAULT_API const char *vault_strerror(vault_error code);
/* The detail of the calling thread's most recent failure. Never NULL. */
VAULT_API const char *vault_last_error(void);
/*
 * 1 if the failure may go away by itself, so that retrying the same call
 * later may succeed (VAULT_E_TIMEOUT, VAULT_E_NETWORK, VAULT_E_BUSY); 0
 * for every other code, VAULT_OK included: those need something changed
 * first (a passphrase, a permission, free space, a repair).
 */
VAULT_API int vault_error_is_transient(vault_error code);

/*
 * Must be called once before anything else but the version and error
 * calls; safe to call again, and from several threads at once (it
 * initialises libsodium, whose sodium_init is thread-safe).  There is
 * nothing to clean up at exit.
 */
VAULT_API VAULT_NODISCARD vault_error vault_global_init(void);

/*
 * Interruption.  vault_interrupt asks every operation running in the
 * process to stop: each stops at its next step (a file, a pack, an object,
 * a storage request or retry wait, an http transfer), cleans up as after
 * any failure (an add takes its marker down and keeps its upload journal
 * so that the next add reuses the packs it stored; an extraction removes
 * its temporary files; nothing half-written is left in the vault) and
 * returns VAULT_E_INTERRUPTED.  The request stays until
 * vault_interrupt_clear: calls made meanwhile stop at once.
 *
 * vault_interrupt only stores to a lock-free atomic flag: it may be called
 * from a signal handler (the CLI's for SIGINT and SIGTERM) and from any
 * thread.  It is the library's one piece of process-wide state that a
 * caller sets.
 */
VAULT_API void vault_interrupt(void);
VAULT_API void vault_interrupt_clear(void);
/* 1 while an interruption is requested (async-signal-safe too). */
VAULT_API int vault_interrupt_requested(void);

/* ---------------------------------------------------------------------------
 * Threads.  The library starts threads of its own (vault_add's workers,
 * vault_extract's restorers) and is safe to use from several threads, with
 * these rules (libcurl's are the model):
 *
 *  - One vault_t must not be used by two threads at once: calls on one
 *    handle are made one after the other (from any thread).  Different
 *    handles may be used at the same time, also handles opened on the
 *    same vault, as the format allows: adds may run alongside other adds
 *    and a prune, also in other processes and on other machines (format
 *    spec "Concurrency", "Pruning without locks"); the other changes
 *    (share, unshare, rekey, forget, prune) run one at a time, and rekey
 *    only while nobody adds.
 *  - A vault_identity_t is only read once made: several threads may use
 *    one at once (vault_open, vault_identity_recipient, ...), as long as
 *    nobody frees it meanwhile.
 *  - The calls that take no vault_t (vault_identity_generate and _load,
 *    vault_init, vault_create, vault_probe, vault_recipient_check,
 *    vault_strerror, ...) may run at the same time in any threads.
 *  - Callbacks run during the call that was given them, and no longer.
 *    vault_add's on_error, vault_check's on_problem and vault_ls's
 *    function run in the calling thread; vault_extract's on_error may run
 *    in its worker threads, but never two at once.  A callback must not
 *    call the library with the same handle.
 *  - The detail of a failure (vault_last_error) is kept per thread: read
 *    it in the thread whose call failed, before that thread's next call.
 *  - What a handle uses lives in the handle: the library's only
 *    process-wide state is a random hash key made once (pthread_once),
 *    and the interruption request (vault_interrupt) that the caller sets.
 *    It installs no signal handlers: a tar stream (vault_extract) written
 *    to a pipe whose reader has gone raises SIGPIPE, as any write does.
 */

/* ---------------------------------------------------------------------------
 * Identities (age X25519 secret keys, "AGE-SECRET-KEY-1...", or OpenSSH
 * Ed25519 or RSA private keys) and their public keys ("age1..." or an
 * "ssh-ed25519 AAAA..." or "ssh-rsa AAAA..." line).
 */
typedef struct vault_identity vault_identity_t;

/* Buffer size for any recipient string: an ssh-rsa line of a 4096-bit key
 * is 724 characters, a member's recipient at most 1024. */
#define VAULT_RECIPIENT_MAX 1025

/* A new random X25519 identity. */
VAULT_API VAULT_NODISCARD vault_error
vault_identity_generate(vault_identity_t **out);

/*
 * Reads an identity file: age's identity-file format (comment lines starting
 * with '#', blank lines, and one or more AGE-SECRET-KEY-1 lines), or an age
 * file encrypted with a passphrase whose payload is such a file.  For an
 * encrypted file without a passphrase, returns VAULT_E_NEED_PASSPHRASE so the
 * caller can ask for one; with a wrong one, VAULT_E_BAD_PASSPHRASE.
 *
 * An OpenSSH private key file ("-----BEGIN OPENSSH PRIVATE KEY-----", as
 * `ssh-keygen -t ed25519` writes) holding one ssh-ed25519 key, or one
 * ssh-rsa key of 2048 to 4096 bits, is accepted too, as age's ssh-ed25519
 * and ssh-rsa identities.  A passphrase-protected one without passphrase
 * is VAULT_E_NEED_PASSPHRASE, with a wrong one VAULT_E_BAD_PASSPHRASE
 * (OpenSSH's bcrypt key derivation and an AES cipher, ssh-keygen's
 * default; its AEAD ciphers are VAULT_E_UNSUPPORTED); other key types or
 * a malformed file VAULT_E_BAD_KEY.
 */
VAULT_API VAULT_NODISCARD vault_error
vault_identity_load(const char *path, const char *passphrase,
                    vault_identity_t **out);

/* As vault_identity_load, from a buffer. */
VAULT_API VAULT_NODISCARD vault_error
vault_identity_parse(const uint8_t *data, size_t len, const char *passphrase,
                     vault_identity_t **out);

/*
 * Writes the identity in age's identity-file format ("# created: ...",
 * "# public key: age1...", then the secret key), with mode 0600, refusing to
 * replace an existing file (VAULT_E_EXISTS).  With a passphrase the file is
 * an age scrypt file holding that text, as `age -p` would write it;
 * scrypt_log2n 0 picks age's default work factor.  An identity read from an
 * OpenSSH key cannot be written (VAULT_E_UNSUPPORTED), nor formatted.
 */
VAULT_API VAULT_NODISCARD vault_error
vault_identity_save(const vault_identity_t *identity, const char *path,
                    const char *passphrase, int scrypt_log2n);

/* The identity file's text (as vault_identity_save writes it without a
 * passphrase) into buf; VAULT_E_INVALID if size is below this: */
#define VAULT_IDENTITY_TEXT_MAX 256
VAULT_API VAULT_NODISCARD vault_error
vault_identity_format(const vault_identity_t *identity, char *buf,
                      size_t size);

/* The public key of the identity's first key, never NULL: "age1...", or
 * for an OpenSSH key "ssh-ed25519 AAAA..." (no comment). */
VAULT_API const char *vault_identity_recipient(const vault_identity_t *id);

VAULT_API void vault_identity_free(vault_identity_t *identity);

/* Checks that text is a well-formed recipient: "age1...", or an OpenSSH
 * public key line "ssh-ed25519 AAAA... [comment]". */
VAULT_API VAULT_NODISCARD vault_error
vault_recipient_check(const char *text);

/*
 * Warnings: problems an operation reports and goes on past: a membership
 * record that is forged or damaged and so ignored, an envelope sealed to
 * the member that the membership log does not grant, an index segment,
 * snapshot or lock whose author is not a member, a prune mark by a
 * non-owner, a copy of a blob that failed while another served.  Each
 * message names the object.  Without a handler (the default) they are
 * dropped.  Set it once, before opening vaults; it is called in the
 * thread that meets the problem, never two at once.
 */
typedef void (*vault_warning_fn)(const char *message, void *ctx);
VAULT_API void vault_set_warning_handler(vault_warning_fn fn, void *ctx);

/* A profile: from vault_phase_timing_enable on, the library sums the CPU
 * time (all threads) it spends in each phase of its work (chunking,
 * chunk IDs, compression, sealing, storage, reading and writing files);
 * vault_phase_times gives the phases that ran, at most max to out, and
 * returns how many ran.  Off by default (then it costs nothing to speak
 * of). */
typedef struct vault_phase_time {
    const char *name;   /* e.g. "compress (zstd)" */
    double cpu_seconds; /* summed over threads */
    uint64_t calls;
} vault_phase_time;
VAULT_API void vault_phase_timing_enable(void);
VAULT_API size_t vault_phase_times(vault_phase_time *out, size_t max);

/* ---------------------------------------------------------------------------
 * Vaults.  A vault is a directory of immutable objects (format-spec/).
 */
typedef struct vault vault_t;

typedef enum vault_role {
    VAULT_ROLE_OWNER = 1,  /* everything, including sharing */
    VAULT_ROLE_READER = 2, /* list, extract and add */
    VAULT_ROLE_WRITER = 3  /* add only: can read nothing */
} vault_role;

/*
 * Creates a vault in directory path (absent or empty) whose first member,
 * an owner, is the age recipient owner ("age1...").  Writes the config and
 * the owner's envelope; the owner's secret key is never needed to create.
 */
VAULT_API VAULT_NODISCARD vault_error vault_init(const char *path,
                                                 const char *owner);

/* Hex digits of a vault fingerprint, and the terminating NUL. */
#define VAULT_FINGERPRINT_CHARS 64
/* vault_init, and the new vault's fingerprint (vault_fingerprint) into
 * fingerprint (may be NULL). */
VAULT_API VAULT_NODISCARD vault_error
vault_create(const char *path, const char *owner,
             char fingerprint[VAULT_FINGERPRINT_CHARS + 1]);

/* VAULT_OK if path holds a vault (a config and the folders), else
 * VAULT_E_NOT_FOUND; reads no secrets. */
VAULT_API VAULT_NODISCARD vault_error vault_probe(const char *path);

/*
 * Locations.  Every call that takes a vault's path takes a location:
 *   - a path: a vault in a local folder (a synced folder too);
 *   - "rest:http[s]://[user:pass@]host[:port]/[path/]": a server speaking
 *     restic's REST protocol v2 (rest-server, `rclone serve restic`);
 *   - "rclone:REMOTE:PATH": any storage rclone reaches; vault starts
 *     `rclone serve restic` for it, reachable only by this process, and
 *     stops it when the vault is closed;
 *   - "s3:http[s]://host[:port]/bucket[/prefix]": the S3 API (path-style,
 *     SigV4), credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 *     AWS_SESSION_TOKEN and AWS_DEFAULT_REGION, or AWS_PROFILE in
 *     ~/.aws/credentials.
 * Any other "scheme:" prefix is VAULT_E_INVALID naming these (a local
 * folder whose name has a colon is written "./name:x").  https is
 * verified against the system's CAs and storage options' cacert.
 */
typedef struct vault_storage_options {
    unsigned connections; /* transfers at once; 0: 5 (remote), 2 (local) */
    const char *cacert;   /* a PEM CA file trusted besides the system's */
    int no_cache;         /* 1: no local cache of index, snapshots, trees */
    const char *cache_dir; /* NULL: $XDG_CACHE_HOME/vault or ~/.cache/vault */
    /* 1: the caller reads snapshots next (ls, extract, find, diff):
     * vault_open_at of a remote vault lists snapshots, index and locks
     * while it reads the config, in the same round trip, instead of
     * after it.  Harmless for other calls (the answers go unused), but
     * requests for nothing; an add never uses them (its listings must
     * follow its marker). */
    int reads_snapshots;
    /* 1: the caller adds next (vault_add, not a dry run): vault_open_at
     * of a remote vault puts the add's marker up in the round trip that
     * reads the config, sealed with the keys this client's last open of
     * the same location found, and keeps it for the add only if the open
     * finds the same keys (format spec section 15a); else, and if no add
     * follows, it is taken down again (by the add, or vault_close). */
    int adds_next;
} vault_storage_options;
VAULT_API void vault_storage_options_init(vault_storage_options *options);

/* vault_create, vault_probe and vault_open with storage options (NULL:
 * the defaults, which is what the calls without _at use). */
VAULT_API VAULT_NODISCARD vault_error
vault_create_at(const char *location, const vault_storage_options *options,
                const char *owner,
                char fingerprint[VAULT_FINGERPRINT_CHARS + 1]);
VAULT_API VAULT_NODISCARD vault_error
vault_probe_at(const char *location, const vault_storage_options *options);
VAULT_API VAULT_NODISCARD vault_error
vault_open_at(const char *location, const vault_storage_options *options,
              const vault_identity_t *identity, vault_t **out);
/* 1 if location has a storage scheme ("rest:", "rclone:", "s3:", or an
 * unknown "scheme:" that open will refuse), 0 for a path.  Looks at the
 * text only. */
VAULT_API int vault_location_has_scheme(const char *location);
/* The location as it may be printed or stored: a password or secret in it
 * ("user:pass@") replaced by "***".  Truncated to fit size (>= 1). */
VAULT_API void vault_location_redact(const char *location, char *buf,
                                     size_t size);

/* Opens a vault as the member whose envelope the identity opens and the
 * membership log grants; the role is the log's.  VAULT_E_NOT_MEMBER if
 * none does; VAULT_E_CORRUPT if the log is forked or has no founding
 * record; VAULT_E_PERMISSION if a key epoch up to the current one is in
 * no granted envelope; VAULT_E_UNSUPPORTED for a format version 1 vault.
 * Envelopes and records it ignores are reported as warnings. */
VAULT_API VAULT_NODISCARD vault_error
vault_open(const char *path, const vault_identity_t *identity, vault_t **out);
VAULT_API void vault_close(vault_t *vault);
VAULT_API vault_role vault_member_role(const vault_t *vault);
/*
 * What names this vault for pinning (format spec, "Pinning"): a hash of
 * its vault ID and its founder's signing key (the key that signed the
 * first membership record), the same for every member and for the
 * vault's whole life.  Storage that can write can replace a vault's
 * config and envelopes with ones of its own to read what is added next,
 * but not keep this fingerprint: a client that remembers it per location
 * (the CLI does, in known_vaults) sees the swap.  Lower-case hex.
 */
VAULT_API void vault_fingerprint(const vault_t *vault,
                                 char out[VAULT_FINGERPRINT_CHARS + 1]);
/* The sequence number of the last record of the vault's membership log
 * (0 for a new vault; each share and unshare adds one).  A client that
 * remembers the highest it has seen (the CLI does, beside the
 * fingerprint) can refuse a log rolled back to an older state. */
VAULT_API uint64_t vault_membership_seq(const vault_t *vault);
/* "owner", "reader", "writer" */
VAULT_API const char *vault_role_name(vault_role role);

/*
 * Memory the decoded directory listings (trees) that one operation on
 * this handle holds at once may take: ls -R and extract hold a directory
 * and all those above it, check one at a time.  A tree is small on disk
 * and many times larger decoded (a 64 MiB tree of tiny xattrs is about
 * 870 MiB), so a hostile vault could otherwise exhaust memory; a tree
 * over the limit is an error naming its path (extract reports it and
 * goes on without that directory).  0 restores the default.
 */
#define VAULT_TREE_MEMORY_DEFAULT ((size_t)1 << 30)
VAULT_API void vault_set_tree_memory_limit(vault_t *vault, size_t bytes);

/* ---------------------------------------------------------------------------
 * Members.  Every member is an age recipient ("age1..." or an
 * "ssh-ed25519 ..." public key line) with an envelope in the vault.
 */
typedef struct vault_member_info {
    char *member;       /* the recipient string */
    vault_role role;
    int64_t created;    /* when it was granted this role (unix seconds) */
    uint32_t epochs;    /* key epochs its envelopes hold */
    char envelope[65];  /* its grant envelope's object name under keys/ */
    char sign_key[65];  /* its signing public key, hex */
} vault_member_info;

/* Grants recipient the role (owners only).  Sharing with a member again
 * gives it a new signing key and this role (how a role changes). */
VAULT_API VAULT_NODISCARD vault_error
vault_share(vault_t *vault, const char *recipient, vault_role role);
/* All members, by the membership log, oldest first (any member). */
VAULT_API VAULT_NODISCARD vault_error
vault_members(vault_t *vault, vault_member_info **out, size_t *n);
VAULT_API void vault_members_free(vault_member_info *list, size_t n);
/*
 * Removes the members (owners only) and rotates keys: a new key epoch whose
 * secrets go only to the remaining members, so data added afterwards is
 * sealed out of the removed members' reach.  Data sealed in older epochs
 * stays readable to whoever had those epochs; vault_rekey re-seals it.
 */
VAULT_API VAULT_NODISCARD vault_error
vault_unshare(vault_t *vault, const char *const *recipients, size_t n);

typedef struct vault_rekey_result {
    uint64_t packs_rewritten, blobs_rewritten, snapshots_rewritten;
    uint64_t objects_deleted;
} vault_rekey_result;
/* Re-seals every pack, index segment and snapshot of older epochs in the
 * current epoch and deletes the old objects (owners only). */
VAULT_API VAULT_NODISCARD vault_error
vault_rekey(vault_t *vault, vault_rekey_result *result);

/*
 * Options structs.  Every one is valid when zero-filled, and zero means
 * the default for every field (as each field's comment says); set them
 * up with vault_*_options_init, or `= {0}`, then set what differs, so
 * that fields added later take their defaults in callers that do not
 * know them.
 */

/* vault_add_options.compression: store blobs uncompressed. */
#define VAULT_COMPRESSION_OFF (-1)
/* The zstd level compression 0 stands for, and the highest accepted. */
#define VAULT_COMPRESSION_DEFAULT_LEVEL 3
#define VAULT_COMPRESSION_MAX_LEVEL 19

typedef struct vault_add_options {
    const char *const *paths; /* files or directories to back up (needed) */
    size_t n_paths;           /* entries in paths, at least 1 */
    const char *const *tags;  /* tags of the snapshot; NULL: none */
    size_t n_tags;            /* entries in tags */
    /* Exclude patterns, as restic's (see "Excludes" above vault_add):
     * matched against each entry's absolute path; NULL: none.  The paths
     * given themselves are never excluded. */
    const char *const *excludes;
    size_t n_excludes;           /* entries in excludes */
    int one_file_system; /* 1: do not cross file system boundaries;
                            0: do */
    int compression;     /* 0: VAULT_COMPRESSION_DEFAULT_LEVEL; zstd level
                            1..VAULT_COMPRESSION_MAX_LEVEL; or
                            VAULT_COMPRESSION_OFF */
    int threads;         /* workers; 0: one per core */
    const char *cache_dir; /* files cache; NULL: $XDG_CACHE_HOME/vault or
                              ~/.cache/vault; "" disables it */
    const char *hostname;  /* NULL: this host */
    /* Told about every item that could not be read; the add goes on.
     * NULL: only counted (vault_add_result.errors). */
    void (*on_error)(void *ctx, const char *path, const char *detail);
    void *on_error_ctx; /* passed to on_error */
    /* More exclusions (see "Excludes" above vault_add); zero: none. */
    const char *const *iexcludes; /* as excludes, ASCII case ignored */
    size_t n_iexcludes;
    const char *const *exclude_files;  /* files of exclude patterns */
    size_t n_exclude_files;
    const char *const *iexclude_files; /* files of iexcludes patterns */
    size_t n_iexclude_files;
    int exclude_caches; /* 1: a directory with a CACHEDIR.TAG is kept with
                           that file only */
    /* "NAME" or "NAME:HEADER": a directory holding a file NAME (that
     * starts with HEADER) is kept with that file only. */
    const char *const *exclude_if_present;
    size_t n_exclude_if_present;
    uint64_t exclude_larger_than; /* files larger are left out; 0: none */
    /* Files listing more paths to back up, with paths: one glob pattern
     * a line (white space trimmed, `#` comments); one path a line as is;
     * paths ending in a NUL byte each.  "-": standard input. */
    const char *const *files_from;
    size_t n_files_from;
    const char *const *files_from_verbatim;
    size_t n_files_from_verbatim;
    const char *const *files_from_raw;
    size_t n_files_from_raw;
    int dry_run; /* 1: read and chunk everything, count what would be
                    stored, write nothing to the vault or the files cache */
    /* Told about every entry as it is added (a directory before what it
     * holds); type is a vault_file_type, unchanged 1 for a file the files
     * cache knew.  NULL: not told. */
    void (*on_item)(void *ctx, const char *path, int type, uint64_t size,
                    int unchanged);
    void *on_item_ctx; /* passed to on_item */
    /* Instead of paths: one file of this name ("db.sql", or a path
     * "dumps/db.sql" below the snapshot's root) holding what input_fd
     * gives until its end; NULL: paths. */
    const char *stdin_filename;
    /* Instead of paths: the entries of this tar, pax, cpio or zip archive
     * (compressed or not), "-" for input_fd; NULL: paths. */
    const char *tar;
    int input_fd; /* what stdin_filename and tar "-" read: 0 (standard
                     input) or another open descriptor */
} vault_add_options;

/* Sets every field to its default: zero. */
VAULT_API void vault_add_options_init(vault_add_options *options);

typedef struct vault_add_result {
    char snapshot_id[65];
    uint64_t files, dirs, others;
    uint64_t files_unchanged; /* taken from the files cache, not read */
    uint64_t bytes_read;      /* file content read */
    uint64_t bytes_total;     /* content size of all files */
    uint64_t bytes_added;     /* stored: new blobs after dedup + zstd */
    uint64_t blobs_added;
    uint64_t errors;          /* items skipped (see on_error) */
    double seconds;
} vault_add_result;

/*
 * Backs up the paths as one snapshot, committed last.
 *
 * Excludes, as restic's: a pattern is matched against an entry's absolute
 * path, component by component.  `*`, `?` and `[...]` never match a `/`;
 * a component `**` matches any number of components; a pattern with a
 * leading `/` is anchored at the root, any other matches at any depth
 * ("Documents/taxes" excludes /home/ann/Documents/taxes); a pattern that
 * matches a directory excludes all below it; a trailing `/` matches
 * directories only (restic ignores it); a leading `!` includes again
 * what an earlier pattern excluded (not below an excluded directory).
 * Malformed patterns are VAULT_E_INVALID before anything is read.  A
 * pattern given in excludes or iexcludes that matched nothing is a
 * warning (vault_set_warning_handler); one from a file is not.
 */
VAULT_API VAULT_NODISCARD vault_error
vault_add(vault_t *vault, const vault_add_options *options,
          vault_add_result *result);

typedef struct vault_copy_result {
    uint64_t snapshots_copied;  /* new snapshots written to the destination */
    uint64_t snapshots_skipped; /* found there already (a copy made before) */
    uint64_t files;             /* files of the snapshots copied */
    uint64_t bytes_read;        /* file content read from the source */
    uint64_t bytes_added;       /* stored in the destination: new blobs
                                   after deduplication and compression */
    uint64_t withheld; /* privileges left out of other members' snapshots:
                          set-id bits, capabilities, device nodes */
    double seconds;
} vault_copy_result;

/*
 * Copies snapshots from src to dst (e.g. a local vault to a remote one):
 * each is added to dst again from src's content, so it is deduplicated
 * against dst, chunked and sealed with dst's keys, and keeps its
 * original's time, hostname, username, paths and tags and every entry's
 * metadata.  Its author in dst is the member that copies (dst signs
 * only its own members' snapshots), whoever wrote the original; so a
 * snapshot another member wrote is copied without what extraction
 * withholds from another member's snapshot (set-user-ID and set-group-ID
 * bits on all but directories, the security.capability xattr, device
 * nodes), counted in withheld.
 * snapshots: ID prefixes or "latest" of src; n 0: all snapshots of src
 * this member can read, oldest first.  A snapshot dst holds already
 * (the same time to the nanosecond, hostname, username, paths, tags and
 * tree apart from chunk IDs, written by this member or a current owner)
 * is skipped; a member that can only write dst cannot see its
 * snapshots, so it copies every one.  The member needs read access to
 * src (owner or reader) and any role in dst.  src and dst must be
 * different vaults (VAULT_E_INVALID for the same fingerprint).  On a
 * failure the snapshots copied before it stay.
 */
VAULT_API VAULT_NODISCARD vault_error
vault_copy(vault_t *src, vault_t *dst, const char *const *snapshots, size_t n,
           vault_copy_result *result);

typedef struct vault_snapshot_info {
    char id[65];
    int readable; /* 0: sealed in a key epoch this member does not hold
                     (e.g. added after it was unshared), or damaged; only
                     id (and damage) is set */
    /* Set (with readable 0) when the object under this name is damaged
     * or forged: its hash, MAC or layout is wrong.  It is listed, not
     * an error, so that one junk object does not hide the others; this
     * says what is wrong with it. */
    char *damage;
    int64_t time_sec;
    uint32_t time_nsec;
    char *hostname;
    char *username;
    char **paths;
    size_t n_paths;
    char **tags;
    size_t n_tags;
    uint64_t files, dirs, bytes_read, bytes_added;
    /* Who wrote it (its verified signing key; format spec "Naming,
     * ordering and latest"): the author's recipient ("age1...", "" if
     * the log does not say), its signing public key in hex, its role now
     * (0: a former member), and 1 when it is the member that opened the
     * vault. */
    char *author;
    char author_key[65];
    vault_role author_role;
    int author_is_me;
} vault_snapshot_info;

/* All snapshots, oldest first (the unreadable and damaged ones first
 * too, by ID).  Needs read access.  A damaged snapshot object is listed
 * with its damage set, not an error. */
VAULT_API VAULT_NODISCARD vault_error
vault_snapshots(vault_t *vault, vault_snapshot_info **out, size_t *n);
VAULT_API void vault_snapshots_free(vault_snapshot_info *list, size_t n);
/* How many snapshot objects exist (any member, no read access needed). */
VAULT_API VAULT_NODISCARD vault_error vault_snapshot_count(vault_t *vault,
                                                           size_t *n);
/* Resolves "latest" or an ID prefix (at least 4 hex digits, unique).
 * "latest" is the newest readable snapshot this member wrote; if it wrote
 * none, the newest a current owner wrote; failing that, the newest of
 * all: another member's snapshot, whatever time it claims, never
 * displaces the member's own. */
VAULT_API VAULT_NODISCARD vault_error
vault_snapshot_resolve(vault_t *vault, const char *ref, char id[65]);
/* Which snapshots "latest" may be (restic's --host, --path, --tag): a
 * field left zero does not filter. */
typedef struct vault_snapshot_filter {
    const char *host;         /* the snapshot's hostname is this */
    const char *const *paths; /* each of these is one of its paths */
    size_t n_paths;
    /* Tag groups: the snapshot has every tag of at least one group; a
     * group is tags separated by commas ("work,daily"). */
    const char *const *tags;
    size_t n_tags;
} vault_snapshot_filter;
/* vault_snapshot_resolve, but "latest" is chosen (by the same rule)
 * among the snapshots filter lets through; an ID prefix must name one it
 * lets through too.  filter NULL: no filter. */
VAULT_API VAULT_NODISCARD vault_error
vault_snapshot_resolve_filtered(vault_t *vault, const char *ref,
                                const vault_snapshot_filter *filter,
                                char id[65]);
/* The one snapshot ref names (as vault_snapshot_resolve), described as
 * vault_snapshots does (readable, since it is opened); free it with
 * vault_snapshots_free(*out, 1).  Needs read access. */
VAULT_API VAULT_NODISCARD vault_error
vault_snapshot_get(vault_t *vault, const char *ref, vault_snapshot_info **out);

typedef enum vault_file_type {
    VAULT_FILE = 1,
    VAULT_DIR = 2,
    VAULT_SYMLINK = 3,
    VAULT_FIFO = 4,
    VAULT_CHARDEV = 5,
    VAULT_BLOCKDEV = 6,
    VAULT_SOCKET = 7
} vault_file_type;

typedef struct vault_file_info {
    const char *path; /* from the snapshot root, "/home/ann/x" */
    vault_file_type type;
    uint32_t mode; /* permission bits */
    uint32_t uid, gid;
    const char *user, *group;
    uint64_t size;
    int64_t mtime_sec;
    uint32_t mtime_nsec;
    const char *target; /* symlinks */
    uint32_t nlink;
    uint64_t inode;
} vault_file_info;

/* Return non-zero to stop the listing. */
typedef int (*vault_ls_fn)(void *ctx, const vault_file_info *info);

/* Lists the entries of directory path ("/" or NULL: the root) in snapshot
 * id; recursive descends; path naming a file lists that file. */
VAULT_API VAULT_NODISCARD vault_error
vault_ls(vault_t *vault, const char *id, const char *path, int recursive,
         vault_ls_fn fn, void *ctx);

typedef struct vault_extract_options {
    const char *target_dir; /* restore into this directory (created if
                               absent); needed unless tar is set */
    int tar;                /* 1: write a pax tar stream to tar_fd instead;
                               0: restore into target_dir */
    int tar_fd;             /* with tar: the stream's file descriptor
                               (0 is standard input); else ignored */
    /* 1: replace whatever is in the way (never a directory by a file).
     * 0: resume: an entry already there as the snapshot has it (a
     * regular file of the same size and modification time, a symlink to
     * the same target, a fifo) is left alone and counted as skipped;
     * anything else in the way is left alone and reported (VAULT_E_EXISTS,
     * counted in differ).  Either way the temporary files an interrupted
     * extraction left ("NAME.vault-tmp-<16 hex>") in the folders it
     * restores into are removed first. */
    int overwrite;
    int restore_owner;      /* 1: chown (as root); 0: do not */
    /* A snapshot another member wrote is restored without the privileges
     * it asks for (no set-uid/set-gid bits, no file capabilities, no
     * device nodes), each withheld one counted in the result; 1 restores
     * them as recorded (the snapshot's author is trusted with them). */
    int same_privileges;
    const char *const *include; /* snapshot paths to restore; NULL: all */
    size_t n_include;           /* entries in include */
    /* Told about each item that failed; NULL: only counted.  In directory
     * mode it may be called from vault_extract's worker threads, never
     * two at once. */
    void (*on_error)(void *ctx, const char *path, vault_error code,
                     const char *detail);
    void *on_error_ctx; /* passed to on_error */
    /* A path in the snapshot ("/home/ann/docs"): what it holds is
     * restored at the target's root (tar: the stream's), as restic's
     * "ID:path"; a file or other entry is restored by its name alone.
     * include paths are then relative to it (a folder only).  NULL or
     * "/": the snapshot's root. */
    const char *root_path;
    /* restic's --exclude, --iexclude, --include and --iinclude: patterns
     * as add's excludes take them (vault_add_options), on snapshot paths
     * ("/home/ann/x").  An entry an exclude pattern matches is left out
     * (a folder with all it holds); with include patterns, only the
     * entries they match are restored (a folder with all it holds), and
     * the folders on the way to them.  The i- lists ignore the case of
     * ASCII letters. */
    const char *const *exclude_patterns;
    size_t n_exclude_patterns;
    const char *const *iexclude_patterns;
    size_t n_iexclude_patterns;
    const char *const *include_patterns;
    size_t n_include_patterns;
    const char *const *iinclude_patterns;
    size_t n_iinclude_patterns;
} vault_extract_options;

/* Sets every field to its default: zero. */
VAULT_API void vault_extract_options_init(vault_extract_options *options);

typedef struct vault_extract_result {
    uint64_t files, dirs, symlinks, others, bytes, errors;
    /* privileges not restored (see same_privileges): device nodes not
     * made, files given no set-id bits or capabilities */
    uint64_t withheld;
    uint64_t skipped;   /* already there as in the snapshot: not written */
    uint64_t differ;    /* in the way and different: not replaced (without
                           overwrite), each reported; counted in errors */
    uint64_t temporaries_removed; /* left by an interrupted extraction */
} vault_extract_result;

/* VAULT_OK, VAULT_E_PARTIAL (some items failed, each reported), or an
 * error that stopped it all. */
VAULT_API VAULT_NODISCARD vault_error
vault_extract(vault_t *vault, const char *id,
              const vault_extract_options *options,
              vault_extract_result *result);

/* Writes the content of the file at path in snapshot id to fd (a pipe
 * or a file; written through, with short writes retried).  A folder is
 * written as a pax tar stream of what it holds (vault_extract with tar
 * and root_path).  Other entries (symlinks, devices) are refused with
 * VAULT_E_INVALID: they have no content.  *bytes (may be NULL): bytes of
 * content written. */
VAULT_API VAULT_NODISCARD vault_error
vault_dump(vault_t *vault, const char *id, const char *path, int fd,
           uint64_t *bytes);

/* ---------------------------------------------------------------------------
 * Progress of a long operation (add, extract, check, prune, rekey, copy),
 * for a running status line.
 */
typedef struct vault_progress {
    const char *operation; /* "add", "extract", "check", "prune", ... */
    const char *unit;      /* what files_* count: "files", "packs",
                              "objects" */
    /* What is done and, where known, the whole: files (items) and bytes.
     * A total of 0 is unknown; totals_final says it will not grow (add
     * counts what it backs up while it backs it up). */
    uint64_t files_done, files_total;
    uint64_t bytes_done, bytes_total;
    int totals_final;
    double seconds;      /* since the operation began */
    const char *current; /* a path (or object) being worked on; "" */
    int done;            /* 1: the operation's last report */
} vault_progress;

typedef void (*vault_progress_fn)(void *ctx, const vault_progress *p);

/* Has fn told the progress of each long operation on vault every
 * interval_ms milliseconds (0: 250) from a thread of the library's, and
 * once more when it ends (done set); fn NULL: no reports (the default).
 * fn must return quickly; the strings are valid during the call. */
VAULT_API void vault_set_progress(vault_t *vault, vault_progress_fn fn,
                                  void *ctx, unsigned interval_ms);

/* ---------------------------------------------------------------------------
 * Comparing two snapshots (restic's diff).
 */
typedef enum vault_diff_kind {
    VAULT_DIFF_ADDED = '+',    /* only in the second snapshot */
    VAULT_DIFF_REMOVED = '-',  /* only in the first */
    VAULT_DIFF_MODIFIED = 'M', /* content (a file's bytes, a symlink's
                                  target, a device's number) differs */
    VAULT_DIFF_METADATA = 'U', /* same content; mode, owner, times or
                                  xattrs differ */
    VAULT_DIFF_TYPE = 'T'      /* a file became a folder, or such */
} vault_diff_kind;

typedef struct vault_diff_entry {
    vault_diff_kind kind;
    const char *path;      /* "/home/ann/x" */
    vault_file_type type;  /* the second snapshot's (removed: the first's) */
    uint64_t old_size;     /* files: in the first snapshot (else 0) */
    uint64_t new_size;     /* files: in the second snapshot (else 0) */
} vault_diff_entry;

/* Return non-zero to stop. */
typedef int (*vault_diff_fn)(void *ctx, const vault_diff_entry *entry);

typedef struct vault_diff_result {
    uint64_t added, removed, modified, metadata, type_changed; /* entries */
    /* File bytes: of the files added, removed; of the modified files in
     * the first and in the second snapshot. */
    uint64_t added_bytes, removed_bytes, modified_old_bytes,
        modified_new_bytes;
} vault_diff_result;

/* Compares snapshot first with second, path by path in name order, and
 * tells fn about each difference (may be NULL: only counted).  Below a
 * folder added or removed every entry is told too.  Folders whose trees
 * are the same blob are skipped unread, so the cost grows with what
 * changed, not with the snapshots' size.  Needs read access. */
VAULT_API VAULT_NODISCARD vault_error
vault_diff(vault_t *vault, const char *first, const char *second,
           vault_diff_fn fn, void *ctx, vault_diff_result *result);

/* ---------------------------------------------------------------------------
 * Tags of a snapshot (restic's tag): a snapshot object is immutable, so
 * a new one is written with the new tags (the same time, host, paths and
 * tree) and the old one removed, as forget does.
 */
typedef struct vault_tag_options {
    const char *const *add;    /* tags to add (kept once) */
    size_t n_add;
    const char *const *remove; /* tags to remove */
    size_t n_remove;
    /* With replace: the tags become exactly set[0..n_set) (n_set 0:
     * none), before add and remove apply. */
    int replace;
    const char *const *set;
    size_t n_set;
} vault_tag_options;

/* Changes the tags of snapshot ref; new_id gets the new snapshot's ID
 * (the old one's when the tags are unchanged: nothing is written).
 * Owners only.  The new snapshot is signed by the owner, so only the
 * owner's own snapshots can be retagged (VAULT_E_PERMISSION for another
 * member's: signing it would vouch for what its author put in, e.g.
 * set-id bits that extract withholds from another member's snapshot). */
VAULT_API VAULT_NODISCARD vault_error
vault_tag(vault_t *vault, const char *ref, const vault_tag_options *options,
          char new_id[65]);

/* ---------------------------------------------------------------------------
 * Finding files across snapshots (restic's find).
 */
typedef struct vault_find_options {
    /* Patterns as add's excludes take them (restic's: `*`, `?`, `[...]`
     * within a name, `**` across folders, a leading `/` anchors at the
     * root, a trailing `/` only folders); an entry is found when a
     * pattern matches its whole path ("*.jpg" any JPEG, "Documents" a
     * folder or file of that name, not what a folder holds). */
    const char *const *patterns;
    size_t n_patterns;
    int ignore_case;               /* ASCII letters without case */
    const char *const *snapshots;  /* IDs, prefixes, "latest"; NULL: all
                                      this member can read */
    size_t n_snapshots;
    const vault_snapshot_filter *filter; /* of those, these (NULL: all) */
} vault_find_options;

/* Told each entry found, snapshot by snapshot (oldest first), in path
 * order; snapshot is the full ID.  Non-zero stops the search. */
typedef int (*vault_find_fn)(void *ctx, const char *snapshot,
                             const vault_file_info *info);

/* Searches the snapshots for the patterns.  Cost: every entry of every
 * snapshot searched is visited.  Needs read access; VAULT_E_INVALID for
 * a malformed pattern (naming it). */
VAULT_API VAULT_NODISCARD vault_error
vault_find(vault_t *vault, const vault_find_options *options,
           vault_find_fn fn, void *ctx);

/* ---------------------------------------------------------------------------
 * Sizes (restic's stats): what snapshots hold and what they take.
 */
typedef struct vault_stats_info {
    char id[65];            /* the snapshot; "" for the total */
    uint64_t files, dirs, others; /* entries, each time they occur */
    uint64_t restore_bytes; /* file bytes extract writes (a hardlinked
                               file's at each of its names) */
    uint64_t chunks;        /* distinct data chunks the files use */
    uint64_t chunk_bytes;   /* their plaintext (restic's raw-data) */
    uint64_t trees;         /* distinct folder trees */
    /* What those chunks and trees take in the vault: compressed,
     * encrypted, as stored in packs (one copy each). */
    uint64_t stored_bytes;
    /* Total only: every blob the index lists, each copy (data no
     * snapshot needs yet included, until prune). */
    uint64_t vault_bytes;
} vault_stats_info;

typedef int (*vault_stats_fn)(void *ctx, const vault_stats_info *snapshot);

/* Sizes of the snapshots refs[0..n) (IDs, prefixes, "latest"; n 0: every
 * readable snapshot), each told to fn (may be NULL) in order, and of all
 * of them together in *total (chunks shared between snapshots counted
 * once).  Cost: every entry of every snapshot is visited; memory grows
 * with the distinct chunks (an ID set).  Needs read access. */
VAULT_API VAULT_NODISCARD vault_error
vault_stats(vault_t *vault, const char *const *refs, size_t n,
            vault_stats_fn fn, void *ctx, vault_stats_info *total);

/* ---------------------------------------------------------------------------
 * Browsing: the readable snapshots as one read-only tree of folders, for
 * `vault mount` (FUSE) and other file browsers.  Paths are absolute in
 * that tree:
 *
 *   /snapshots/<time>/...   each snapshot's files as add recorded them;
 *                           <time> is its local time, 2026-12-01T21:32:05,
 *                           "-1", "-2", ... appended when several share a
 *                           second (ordered by time, then ID)
 *   /ids/<short id>         symlink to ../snapshots/<time>
 *   /latest                 symlink to snapshots/<time> of what "latest"
 *                           names (vault_snapshot_resolve): the newest
 *                           the member wrote, else an owner's, else any
 *   /tags/<tag>/<time>      symlink to ../../snapshots/<time>
 *   /hosts/<host>/<time>    the same, by hostname
 *
 * A tag or hostname that cannot be one file name ("", ".", "..", or with
 * a '/') is left out of tags/ and hosts/.  The list of snapshots is read
 * again when "/" or "/snapshots" is listed or stat'ed, at most every
 * refresh_seconds, so snapshots added meanwhile appear.
 *
 * Unlike the other handles, one vault_browse_t may be used by several
 * threads at once (a FUSE loop's): every call below is thread-safe.  The
 * vault_t it was opened on must not be used by anything else meanwhile,
 * and outlives it.  A file read in order has its next chunks loaded
 * ahead by two threads of the handle's own, started by the first read
 * that wants them (not by vault_browse_open, so that a program may fork
 * in between, as a FUSE server does) and ended by vault_browse_close.
 */
typedef struct vault_browse vault_browse_t;
typedef struct vault_browse_file vault_browse_file_t;

#define VAULT_BROWSE_CACHE_DEFAULT ((size_t)64 << 20)
#define VAULT_BROWSE_REFRESH_DEFAULT 5 /* seconds */

typedef struct vault_browse_options {
    /* Verified file content kept for reads to come (a sequential reader
     * asks for the same chunk many times); 0: VAULT_BROWSE_CACHE_DEFAULT.
     * Decoded directories get a quarter of it besides (at least 4 MiB). */
    size_t cache_bytes;
    unsigned refresh_seconds; /* 0: VAULT_BROWSE_REFRESH_DEFAULT */
} vault_browse_options;

/* Sets every field to its default: zero. */
VAULT_API void vault_browse_options_init(vault_browse_options *options);

/* Loads the index and lists the snapshots.  Needs read access: a writer
 * member gets VAULT_E_PERMISSION saying it cannot read.  options may be
 * NULL. */
VAULT_API VAULT_NODISCARD vault_error
vault_browse_open(vault_t *vault, const vault_browse_options *options,
                  vault_browse_t **out);
/* Frees it, and closes the files still open on it (a FUSE server may
 * not hear of every release: a lazy unmount ends the session first). */
VAULT_API void vault_browse_close(vault_browse_t *browse);

typedef struct vault_browse_stat {
    vault_file_type type;
    uint32_t mode;   /* permission bits (& 07777) */
    uint32_t uid, gid;
    uint32_t nlink;  /* as recorded for files; 1 for folders */
    uint64_t size;   /* files: content bytes; symlinks: target length */
    uint64_t blocks; /* 512-byte units holding data: chunks of zeros (the
                        holes of a sparse file) count none */
    uint64_t rdev;   /* devices */
    int64_t mtime_sec;
    uint32_t mtime_nsec;
    /* A number for st_ino, the same for every call on one handle: the
     * hard links of one file in one snapshot share it, other entries
     * differ (a keyed 64-bit hash of the path; 1 is "/"). */
    uint64_t ino;
} vault_browse_stat;

/* What path is.  VAULT_E_NOT_FOUND if nothing is there (also below a
 * file: the detail says which). */
VAULT_API VAULT_NODISCARD vault_error
vault_browse_stat_path(vault_browse_t *browse, const char *path,
                       vault_browse_stat *st);

/* Told each entry of a folder, by name; non-zero stops the listing.  name
 * and st live during the call. */
typedef int (*vault_browse_list_fn)(void *ctx, const char *name,
                                    const vault_browse_stat *st);
/* The entries of folder path ("." and ".." not included), sorted by
 * name (bytewise), from entry number start (0: the first) on, so that a
 * caller that lists a buffer at a time goes on where it stopped (the
 * entries before start cost nothing).  VAULT_E_INVALID if path is not a
 * folder. */
VAULT_API VAULT_NODISCARD vault_error
vault_browse_list(vault_browse_t *browse, const char *path, size_t start,
                  vault_browse_list_fn fn, void *ctx);

/* The target of symlink path into buf, NUL-terminated, cut to size - 1
 * bytes; *len (may be NULL) its whole length.  VAULT_E_INVALID if path is
 * not a symlink. */
VAULT_API VAULT_NODISCARD vault_error
vault_browse_readlink(vault_browse_t *browse, const char *path, char *buf,
                      size_t size, size_t *len);

/* listxattr(2)'s answer for path: the names of its extended attributes,
 * each NUL-terminated, one after the other.  *len is the whole list's
 * length; up to size bytes of it go to buf (size 0: only the length). */
VAULT_API VAULT_NODISCARD vault_error
vault_browse_xattr_list(vault_browse_t *browse, const char *path, char *buf,
                        size_t size, size_t *len);
/* getxattr(2)'s: the value of attribute name, *len its length, up to
 * size bytes of it into buf.  VAULT_E_NOT_FOUND if path has no such
 * attribute. */
VAULT_API VAULT_NODISCARD vault_error
vault_browse_xattr_get(vault_browse_t *browse, const char *path,
                       const char *name, void *buf, size_t size,
                       size_t *len);

/* Opens file path for reading; VAULT_E_INVALID if it is not a regular
 * file.  An open file stays readable while the snapshot list changes. */
VAULT_API VAULT_NODISCARD vault_error
vault_browse_file_open(vault_browse_t *browse, const char *path,
                       vault_browse_file_t **out);
/* Reads up to size bytes at offset into buf, *got how many (0 at the
 * end): the chunks that range covers are loaded, verified and kept in
 * the cache; nothing else.  Several threads may read one file at once.
 * A chunk that fails to load or verify fails the read (VAULT_E_CORRUPT
 * or the storage's error, the detail naming the file): never wrong
 * bytes. */
VAULT_API VAULT_NODISCARD vault_error
vault_browse_file_read(vault_browse_file_t *file, uint64_t offset,
                       void *buf, size_t size, size_t *got);
VAULT_API void vault_browse_file_close(vault_browse_file_t *file);

/* ---------------------------------------------------------------------------
 * Checking.  vault_check verifies the vault as far as the member's secrets
 * allow (format spec "Checking"), reports every problem with the snapshots
 * and files it affects, and goes on with the rest.
 */

/* A snapshot, and a path in it, that a problem affects. */
typedef struct vault_check_ref {
    const char *snapshot; /* short ID: the object name's first 8 digits */
    const char *path;     /* "/home/ann/x" ("/": the root); NULL: the
                             snapshot object itself */
} vault_check_ref;

typedef struct vault_check_problem {
    /* What is damaged: "config", "keys/<name>", "index/<name>",
     * "snapshots/<name>", "data/<2>/<name>", "locks/<name>", or "index"
     * for blobs that snapshots reference but no index segment lists. */
    const char *object;
    const char *what;  /* what is wrong, in words */
    int warning;       /* 1: not damage (a pack no index segment lists, as
                          an interrupted add leaves; an envelope none of
                          this member's epochs opens); not counted in
                          problems */
    const vault_check_ref *affects; /* sorted, no duplicates */
    size_t n_affects;
    int affects_truncated; /* 1: more are affected than listed */
} vault_check_problem;

typedef struct vault_check_options {
    int read_data; /* 1: read every pack whole: name, trailer, every blob;
                      0: read no pack content (but see read_data_percent) */
    /* > 0 (and read_data off): read about this percentage (0..100] of the
     * indexed packs, at least one, chosen at random with seed; 0: none. */
    double read_data_percent;
    uint64_t seed; /* 0: a random seed (vault_check_result.seed tells) */
    /* Told about each problem and warning; everything it gets lives only
     * during the call.  NULL: only counted. */
    void (*on_problem)(void *ctx, const vault_check_problem *problem);
    void *on_problem_ctx; /* passed to on_problem */
} vault_check_options;

/* Sets every field to its default: zero. */
VAULT_API void vault_check_options_init(vault_check_options *options);

/* Parts a member's secrets do not let it check (vault_check_result). */
#define VAULT_CHECK_SKIPPED_SNAPSHOTS 1u /* snapshot contents (writers) */
#define VAULT_CHECK_SKIPPED_TREES 2u     /* trees and what they reference */
#define VAULT_CHECK_SKIPPED_BLOBS 4u     /* decrypting blobs and trailers */
#define VAULT_CHECK_SKIPPED_EPOCHS 8u    /* objects sealed in key epochs
                                            this member does not hold */

typedef struct vault_check_result {
    uint64_t envelopes;      /* keys/ objects that verified */
    uint64_t index_segments; /* segments that loaded */
    uint64_t snapshots;      /* snapshots that verified (writers: by name
                                and header only) */
    uint64_t trees;          /* distinct trees read and decoded */
    uint64_t blobs;          /* distinct blobs the index lists */
    uint64_t packs;          /* packs the index lists */
    uint64_t packs_read;     /* packs read whole */
    uint64_t blobs_read;     /* blobs decrypted and verified */
    uint64_t unindexed_packs; /* packs no index segment lists (warnings) */
    uint64_t problems;       /* problems reported (not warnings) */
    uint64_t warnings;
    uint64_t skipped_objects; /* sealed in key epochs this member lacks */
    unsigned skipped;        /* VAULT_CHECK_SKIPPED_* */
    char skipped_text[256];  /* the skipped parts in words; "" if none */
    uint64_t seed;           /* the seed that picked a read subset */
} vault_check_result;

/*
 * Checks the vault: config, envelopes, index segments, that every indexed
 * pack exists and is large enough, packs no segment lists (warnings), and
 * (with read access) every snapshot, every tree once and that every
 * referenced blob is indexed; with read_data also every pack's content.
 * options and result may be NULL.  VAULT_OK if no problem was found,
 * VAULT_E_CORRUPT if any was (each reported), or an error that stopped
 * the check.  Warnings alone leave it VAULT_OK.
 */
VAULT_API VAULT_NODISCARD vault_error
vault_check(vault_t *vault, const vault_check_options *options,
            vault_check_result *result);

/* ---------------------------------------------------------------------------
 * Forgetting snapshots and pruning the data nobody references any more
 * (format spec "Forget policies" and "Pruning without locks").  Both are
 * for owners only: a reader could do the same with the keys it holds, but
 * vault keeps destruction, like sharing, to owners.
 */

/* Why vault_forget kept a snapshot: bits of vault_forget_entry.reasons. */
#define VAULT_KEEP_LAST 0x01u    /* one of the --keep-last newest */
#define VAULT_KEEP_HOURLY 0x02u  /* newest of one of the kept hours */
#define VAULT_KEEP_DAILY 0x04u
#define VAULT_KEEP_WEEKLY 0x08u  /* ISO weeks, Monday to Sunday */
#define VAULT_KEEP_MONTHLY 0x10u
#define VAULT_KEEP_YEARLY 0x20u
#define VAULT_KEEP_TAG 0x40u     /* has every tag of a keep_tags list */
#define VAULT_KEEP_UNREADABLE 0x80u /* sealed in a key epoch this member
                                       lacks: never forgotten by policy */
#define VAULT_KEEP_NOT_NAMED 0x100u /* forget by ID: not one of those named */

/* keep_* value meaning "every bucket" (restic's "unlimited"). */
#define VAULT_KEEP_ALL (-1)

/* How snapshots are grouped before the policy is applied to each group
 * (restic's --group-by).  0 means host and paths, the default.  The
 * author is always part of the group (also with VAULT_GROUP_NONE), so
 * that one member's snapshots never displace another's. */
#define VAULT_GROUP_HOST 0x1u
#define VAULT_GROUP_PATHS 0x2u
#define VAULT_GROUP_TAGS 0x4u
#define VAULT_GROUP_NONE 0x8u /* alone: each author's snapshots form
                                 one group */

typedef struct vault_forget_options {
    /* Either snapshots to remove by reference (ID prefixes, "latest")... */
    const char *const *snapshots;
    size_t n_snapshots; /* entries in snapshots; 0: use the policy */
    /* ...or a policy, applied to each group separately, newest snapshot
     * first.  For the calendar rules the snapshots fall into buckets by
     * local time (hour, day, ISO week, month, year); the newest snapshot
     * of each of the N newest buckets that hold snapshots is kept.
     * keep_last keeps the N newest.  0 turns a rule off, VAULT_KEEP_ALL
     * keeps every bucket.  A snapshot any rule keeps is kept. */
    int keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly,
        keep_yearly;
    /* Keep snapshots that carry every tag of one of these lists; a list
     * is tags separated by commas ("a,b"); "" matches untagged ones.
     * NULL: no tag rule. */
    const char *const *keep_tags;
    size_t n_keep_tags; /* entries in keep_tags */
    unsigned group_by; /* VAULT_GROUP_* bits; 0: host and paths */
    int dry_run;       /* 1: decide and report, remove nothing; 0: remove */
} vault_forget_options;

/* Sets every field to its default: zero (which asks for nothing:
 * vault_forget needs snapshots or a policy). */
VAULT_API void vault_forget_options_init(vault_forget_options *options);

typedef struct vault_forget_entry {
    const vault_snapshot_info *snapshot; /* into the result's own list */
    int removed;      /* removed (with dry_run: would be; after a
                         failure: only those that were) */
    unsigned reasons; /* VAULT_KEEP_* bits when kept */
    size_t group;     /* entries with the same group were judged together */
} vault_forget_entry;

/* What the entries point into, the library's own. */
typedef struct vault_forget_storage vault_forget_storage;

typedef struct vault_forget_result {
    vault_forget_entry *entries; /* by group, oldest first within one */
    size_t n_entries;
    size_t n_groups, n_kept, n_removed;
    vault_forget_storage *storage; /* opaque: vault_forget_result_free
                                      frees it */
} vault_forget_result;

/*
 * Removes snapshot objects, named or by policy (owners only).  With no
 * policy and no snapshots it refuses (VAULT_E_INVALID), as it does for
 * both at once, and for a tag-only policy that would empty a group.
 * Data is not deleted: vault_prune reclaims what no snapshot references.
 * The result lists every snapshot, kept or removed; free it with
 * vault_forget_result_free (also after a failure).
 */
VAULT_API VAULT_NODISCARD vault_error
vault_forget(vault_t *vault, const vault_forget_options *options,
             vault_forget_result *result);
VAULT_API void vault_forget_result_free(vault_forget_result *result);

#define VAULT_PRUNE_MAX_UNUSED_DEFAULT 5 /* percent, as restic's */
/* vault_prune_options.max_unused_percent: tolerate no unused space
 * (repack every partly used pack). */
#define VAULT_PRUNE_MAX_UNUSED_NONE (-1)
#define VAULT_PRUNE_STALE_SECONDS (24 * 3600) /* add markers older are stale */

typedef struct vault_prune_options {
    int dry_run;           /* 1: decide and report, change nothing;
                              0: prune */
    int64_t grace_seconds; /* a prune mark is swept only once this old;
                              0 (the default) for a vault that only this
                              machine writes; longer than any sync delay
                              plus any add for a synced folder */
    int max_unused_percent; /* 1..100: tolerated unused space after the
                               prune, as a share of all pack bytes;
                               0: VAULT_PRUNE_MAX_UNUSED_DEFAULT;
                               VAULT_PRUNE_MAX_UNUSED_NONE: 0% */
    const char *cache_dir; /* where this client remembers when it first
                              saw each add marker (a marker dated in the
                              future then holds sweeps back for at most
                              VAULT_PRUNE_STALE_SECONDS after that); as
                              vault_add_options.cache_dir: NULL for the
                              default folder, "" for none */
} vault_prune_options;

/* Sets every field to its default: zero. */
VAULT_API void vault_prune_options_init(vault_prune_options *options);

/* An add marker that holds sweeps back (an add running, or crashed less
 * than VAULT_PRUNE_STALE_SECONDS ago).  A marker of this machine whose
 * process is gone (format spec 15a, "process") is stale at once: it holds
 * nothing back, and the prune deletes it. */
typedef struct vault_prune_marker {
    char host[256];
    uint32_t pid;
    int64_t time; /* when the add started (its machine's clock) */
} vault_prune_marker;

/* Why a prune mark was not swept: bits of vault_prune_pending.waiting. */
#define VAULT_PRUNE_WAIT_ADD 0x1u        /* live add markers (see list) */
#define VAULT_PRUNE_WAIT_GRACE 0x2u      /* younger than the grace period */
#define VAULT_PRUNE_WAIT_UNREADABLE 0x4u /* lock objects this member cannot
                                            open: they may be add markers */

typedef struct vault_prune_pending {
    char mark[65];        /* the mark's object name under locks/ */
    int64_t time;         /* when it was written */
    uint64_t packs;       /* packs it condemns */
    uint64_t bytes;       /* their size, of those still present */
    unsigned waiting;     /* VAULT_PRUNE_WAIT_* */
    int64_t sweep_after;  /* with VAULT_PRUNE_WAIT_GRACE: from when */
    int written_now;      /* the mark this prune wrote */
} vault_prune_pending;

typedef struct vault_prune_result {
    /* The vault as the mark phase saw it. */
    uint64_t snapshots;
    uint64_t packs, pack_bytes;      /* present in data/ */
    uint64_t blobs_used, bytes_used; /* referenced, counted once */
    uint64_t bytes_unused;           /* in packs not already condemned */
    /* Phase 1, mark: packs condemned by the new mark. */
    uint64_t packs_unused;     /* no referenced blob */
    uint64_t packs_repacked;   /* referenced blobs copied out first */
    uint64_t packs_unindexed;  /* in data/ but in no index segment */
    uint64_t unindexed_left;   /* unindexed, left alone: an add is live */
    uint64_t blobs_repacked, bytes_repacked; /* copied (sealed bytes) */
    uint64_t marks_written;
    /* Phase 2, sweep. */
    uint64_t marks_swept;
    uint64_t blobs_rescued;    /* only in condemned packs, copied */
    uint64_t segments_rewritten, segments_deleted;
    uint64_t packs_deleted, bytes_deleted;
    /* Both phases: new objects. */
    uint64_t packs_written, bytes_written;
    uint64_t stale_markers_removed;
    uint64_t temporaries_removed; /* ".tmp-" files of long-dead saves */
    /* Marks left for a later prune, and the add markers they wait for. */
    vault_prune_pending *pending;
    size_t n_pending;
    vault_prune_marker *live_adds;
    size_t n_live_adds;
} vault_prune_result;

/*
 * Reclaims space (owners only), without locking out adds on other
 * machines (format spec "Pruning without locks"): first sweeps the prune
 * marks whose time has come, then marks the packs no snapshot needs
 * (unused ones, and partly used ones whose referenced blobs it copies out
 * while more than max_unused_percent of the space would stay unused), and
 * sweeps that mark at once if nothing holds it back.  Free the result with
 * vault_prune_result_free (also after a failure).
 */
VAULT_API VAULT_NODISCARD vault_error
vault_prune(vault_t *vault, const vault_prune_options *options,
            vault_prune_result *result);
VAULT_API void vault_prune_result_free(vault_prune_result *result);

/*
 * Removing stale add markers (format spec 15a, "Unlocking"), restic's
 * `unlock`: an add that crashed leaves its marker, which holds prune
 * sweeps back until it is stale.  Prune marks are never removed here.
 */
typedef struct vault_unlock_options {
    /* 1: also the markers that may still be live on other machines (not
     * yet stale by age), as restic's --remove-all; a marker of this
     * machine whose process runs is never removed.  Removing a marker of
     * an add that still runs lets a prune delete packs that add's
     * snapshot will need: only when that add is known to be dead. */
    int remove_all;
    int dry_run;           /* 1: count, remove nothing */
    const char *cache_dir; /* as vault_prune_options.cache_dir */
} vault_unlock_options;

/* Sets every field to its default: zero. */
VAULT_API void vault_unlock_options_init(vault_unlock_options *options);

typedef struct vault_unlock_result {
    uint64_t removed;      /* markers removed (dry_run: would be) */
    uint64_t kept_running; /* of this machine, their add still running */
    uint64_t kept_elsewhere; /* of other machines (or of an earlier boot,
                                container, older client), not stale yet:
                                kept without remove_all */
    uint64_t kept_others;  /* by another member: only owners remove
                              those */
} vault_unlock_result;

/*
 * Removes the add markers that hold prune sweeps back for nothing: those
 * of this machine whose process is gone, and those older than
 * VAULT_PRUNE_STALE_SECONDS; with remove_all also the others, except live
 * ones of this machine.  Owners remove any member's markers; readers and
 * writers only their own (a marker is no data, but removing another
 * member's live one would let a prune destroy what that add stores).
 */
VAULT_API VAULT_NODISCARD vault_error
vault_unlock(vault_t *vault, const vault_unlock_options *options,
             vault_unlock_result *result);

#ifdef __cplusplus
}
#endif

#endif /* VAULT_H */
