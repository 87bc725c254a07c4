/*
 * backend.h - where a vault's objects live.  Private to the library.
 *
 * A backend stores immutable objects by kind and name, as restic's REST
 * protocol does, so that a local vault and a remote one look alike:
 *
 *   config                      the one config object (name is "")
 *   keys/<name>                 key envelopes
 *   data/<name[0:2]>/<name>     packs, sharded by their first two hex digits
 *   index/<name>                index segments
 *   snapshots/<name>            snapshots
 *   locks/<name>                add markers and prune marks (format/locks.h)
 *
 * Names are 64 lower-case hex characters.  Objects are never modified:
 * save refuses to replace an existing object (VAULT_E_EXISTS) and must be
 * atomic (a reader sees the whole object or none of it, and after a crash
 * an object is whole or absent).  Listing skips anything that is not a
 * well-formed name (temporary files of an interrupted save, sync-tool
 * litter such as ".DS_Store" or "foo (conflicted copy)").
 */
#ifndef VAULT_BACKEND_H
#define VAULT_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "common/interrupt.h"
#include "common/phase_timer.h"
#include "vault.h"

#define VAULT_NAME_HEX 64 /* characters in an object name */

typedef enum backend_kind {
    BACKEND_CONFIG = 0,
    BACKEND_KEYS = 1,
    BACKEND_DATA = 2,
    BACKEND_INDEX = 3,
    BACKEND_SNAPSHOTS = 4,
    BACKEND_LOCKS = 5
} backend_kind;
#define BACKEND_KIND_COUNT 6

/* The folder name of a kind ("config", "keys", "data", ...); NULL for a
 * value outside the enum. */
const char *vlt_backend_kind_name(backend_kind kind);
/* True for exactly 64 lower-case hex characters followed by NUL. */
int vlt_backend_name_valid(const char *name);

/*
 * Helpers for backend implementations (every operation calls the first
 * before touching storage, so a name like "../x" never reaches a path).
 */
/* VAULT_OK if kind is in the enum and name suits it: "" for
 * BACKEND_CONFIG, a valid name (vlt_backend_name_valid) for the others;
 * otherwise VAULT_E_INVALID with a detail. */
vault_error vlt_backend_check(backend_kind kind, const char *name);
/* The object's path relative to the vault root ("config", "keys/<name>",
 * "data/ab/ab...") into buf, for details; kind and name already checked.
 * BACKEND_LABEL_MAX bytes always suffice. */
#define BACKEND_LABEL_MAX 80
void vlt_backend_label(backend_kind kind, const char *name,
                       char buf[BACKEND_LABEL_MAX]);
/* The number of bytes a load of (offset, len) from an object of size
 * bytes returns in *n: len, or size - offset for len 0.  VAULT_E_CORRUPT,
 * with a detail naming label, if the range ends past size or *n would
 * exceed max_len; so check before allocating. */
vault_error vlt_backend_check_range(const char *label, uint64_t size,
                                    uint64_t offset, size_t len, size_t max_len,
                                    size_t *n);

typedef struct backend backend;

/* Called once per object by list; a non-zero return stops the listing and
 * is handed back in list's *stopped.  name lives only during the call. */
typedef int (*backend_list_fn)(void *ctx, const char *name, uint64_t size);

/* A new object being written piece by piece (stage_begin); its type is
 * each backend's own. */
typedef struct backend_stage backend_stage;

typedef struct backend_ops {
    /* Stores a new object atomically and durably (for the local backend:
     * temporary file, fsync, link into place, directory fsync).
     * VAULT_E_EXISTS if the object exists already. */
    vault_error (*save)(backend *be, backend_kind kind, const char *name,
                        const uint8_t *data, size_t len);
    /* Reads len bytes at offset (len 0: to the end).  A range past the end
     * of the object is VAULT_E_CORRUPT (the object is shorter than the
     * vault says); a missing object VAULT_E_NOT_FOUND.  *out is malloc'ed
     * (never NULL on success, even for 0 bytes; NULL on failure).
     * Loads larger than max_len are refused (VAULT_E_CORRUPT) before any
     * allocation, so a hostile vault cannot make us allocate at will. */
    vault_error (*load)(backend *be, backend_kind kind, const char *name,
                        uint64_t offset, size_t len, size_t max_len,
                        uint8_t **out, size_t *out_len);
    /* Size of an object; VAULT_E_NOT_FOUND if absent. */
    vault_error (*stat)(backend *be, backend_kind kind, const char *name,
                        uint64_t *size);
    /* Calls fn for every object of the kind, in no particular order (for
     * BACKEND_CONFIG: once, with name "", if the config exists).  fn may
     * call the backend (load what it lists, remove it, ...).
     * Returns VAULT_OK or a backend error.  If fn returns non-zero the
     * listing stops early and *stopped (if not NULL) holds that value;
     * otherwise *stopped is 0. */
    vault_error (*list)(backend *be, backend_kind kind, backend_list_fn fn,
                        void *ctx, int *stopped);
    /* Deletes an object; VAULT_E_NOT_FOUND if absent. */
    vault_error (*remove)(backend *be, backend_kind kind, const char *name);
    /* Frees the backend. */
    void (*close)(backend *be);
    /* Deletes the temporary files of interrupted saves (".tmp-...") last
     * modified more than older_than seconds ago, counting them in
     * *removed.  NULL for backends that leave no temporaries. */
    vault_error (*clean)(backend *be, uint64_t older_than, uint64_t *removed);
    /* VAULT_OK if the storage lets this client delete objects;
     * VAULT_E_PERMISSION, with a detail saying the server refuses
     * deletes, for an append-only server (rclone serve restic
     * --append-only).  Asked before forget, prune, unshare and rekey
     * change anything.  NULL: deletes are allowed. */
    vault_error (*check_deletable)(backend *be);
    /* Optional (NULL: a caller holds an object whole in memory and
     * saves it).  A new object of kind written in pieces, for one larger
     * than is worth holding in memory (a pack of data on a local disk):
     * stage_begin makes a temporary in the storage, stage_write appends
     * to it, stage_commit makes it durable and gives it its name as save
     * would (VAULT_E_EXISTS if the object exists already; the temporary
     * is gone either way), stage_abort drops it.  commit and abort free
     * the stage; a failed write leaves it to one of them.  A temporary
     * left by a crash is one clean removes. */
    vault_error (*stage_begin)(backend *be, backend_kind kind,
                               backend_stage **out);
    vault_error (*stage_write)(backend_stage *st, const uint8_t *data,
                               size_t len);
    vault_error (*stage_commit)(backend_stage *st, const char *name);
    void (*stage_abort)(backend_stage *st);
    /* Optional (NULL: save).  Save of an object whose bytes hold a
     * random nonce this client just drew (every sealed object: packs,
     * index segments, snapshots, locks, records and envelopes; format
     * spec section 3.1 names them by the hash of those bytes), so that
     * no object of that name can be in storage unless this process put
     * it there.  A backend that must ask storage before a save to keep
     * save's promise never to replace (REST: a POST replaces) may skip
     * asking: a round trip on every save.  VAULT_E_EXISTS may then go
     * unreported, which for such a name cannot happen short of a hash
     * collision or storage inventing our bytes. */
    vault_error (*save_new)(backend *be, backend_kind kind, const char *name,
                            const uint8_t *data, size_t len);
    /* Optional (NULL: remove, its VAULT_E_NOT_FOUND counted as done).
     * Deletes an object if it is there; its absence is no error.  For a
     * caller to whom both are the same (an add removing its own marker),
     * so that a backend which must ask first to tell them apart (S3
     * deletes a missing key without complaint) need not. */
    vault_error (*discard)(backend *be, backend_kind kind, const char *name);
    /* Optional: the shortest wait seen for an answer, in seconds (a
     * round trip and the server's time); absent or 0 where none was
     * seen or answers cost none (a local disk).  Restore sizes its
     * reads ahead by it (ops/restore/extract.c). */
    double (*answer_wait)(backend *be);
} backend_ops;

struct backend {
    const backend_ops *ops;
    /* Transfers worth running at once (the uploader queue's size and the
     * reads in flight): the connection count for a remote backend, a
     * small number for a local disk.  0 counts as 1. */
    unsigned connections;
    /* 1 when the objects are on this machine already (the local backend,
     * the tests' memory one): the local cache would only copy them.
     * Wrappers pass their inner backend's on. */
    int is_local;
};

/* Convenience wrappers; backend_close accepts NULL.  Saves and loads
 * are where every operation spends its time, so they are where an
 * interruption (common/interrupt.h) stops it; listing, stat and removal
 * still run, for the cleaning up after it. */
static inline vault_error backend_save(backend *be, backend_kind kind,
                                       const char *name, const uint8_t *data,
                                       size_t len)
{
    vault_error rc = vlt_interrupt_check();
    if (rc != VAULT_OK)
        return rc;
    uint64_t timer = vlt_phase_start();
    rc = be->ops->save(be, kind, name, data, len);
    vlt_phase_stop(VLT_PHASE_STORE, timer);
    return rc;
}
/* save_new (backend_ops) where the backend has it, else save. */
static inline vault_error backend_save_new(backend *be, backend_kind kind,
                                           const char *name,
                                           const uint8_t *data, size_t len)
{
    vault_error rc = vlt_interrupt_check();
    if (rc != VAULT_OK)
        return rc;
    uint64_t timer = vlt_phase_start();
    rc = be->ops->save_new ? be->ops->save_new(be, kind, name, data, len)
                           : be->ops->save(be, kind, name, data, len);
    vlt_phase_stop(VLT_PHASE_STORE, timer);
    return rc;
}
static inline vault_error backend_load(backend *be, backend_kind kind,
                                       const char *name, uint64_t offset,
                                       size_t len, size_t max_len,
                                       uint8_t **out, size_t *out_len)
{
    vault_error rc = vlt_interrupt_check();
    if (rc != VAULT_OK) {
        *out = NULL;
        *out_len = 0;
        return rc;
    }
    uint64_t timer = vlt_phase_start();
    rc = be->ops->load(be, kind, name, offset, len, max_len, out, out_len);
    vlt_phase_stop(VLT_PHASE_LOAD, timer);
    return rc;
}
/* The stage operations (backend_ops) with save's interrupt check and
 * phase timing; stage_begin only where the backend has them. */
static inline int backend_can_stage(const backend *be)
{
    return be->ops->stage_begin != NULL;
}
static inline vault_error backend_stage_begin(backend *be, backend_kind kind,
                                              backend_stage **out)
{
    *out = NULL;
    vault_error rc = vlt_interrupt_check();
    if (rc != VAULT_OK)
        return rc;
    uint64_t timer = vlt_phase_start();
    rc = be->ops->stage_begin(be, kind, out);
    vlt_phase_stop(VLT_PHASE_STORE, timer);
    return rc;
}
static inline vault_error backend_stage_write(backend *be, backend_stage *st,
                                              const uint8_t *data, size_t len)
{
    vault_error rc = vlt_interrupt_check();
    if (rc != VAULT_OK)
        return rc;
    uint64_t timer = vlt_phase_start();
    rc = be->ops->stage_write(st, data, len);
    vlt_phase_stop(VLT_PHASE_STORE, timer);
    return rc;
}
static inline vault_error backend_stage_commit(backend *be, backend_stage *st,
                                               const char *name)
{
    vault_error rc = vlt_interrupt_check();
    if (rc != VAULT_OK) {
        be->ops->stage_abort(st);
        return rc;
    }
    uint64_t timer = vlt_phase_start();
    rc = be->ops->stage_commit(st, name);
    vlt_phase_stop(VLT_PHASE_STORE, timer);
    return rc;
}
static inline void backend_stage_abort(backend *be, backend_stage *st)
{
    if (st)
        be->ops->stage_abort(st);
}
static inline vault_error backend_stat(backend *be, backend_kind kind,
                                       const char *name, uint64_t *size)
{
    return be->ops->stat(be, kind, name, size);
}
static inline vault_error backend_list(backend *be, backend_kind kind,
                                       backend_list_fn fn, void *ctx,
                                       int *stopped)
{
    return be->ops->list(be, kind, fn, ctx, stopped);
}
static inline vault_error backend_remove(backend *be, backend_kind kind,
                                         const char *name)
{
    return be->ops->remove(be, kind, name);
}
static inline vault_error backend_discard(backend *be, backend_kind kind,
                                          const char *name)
{
    if (be->ops->discard)
        return be->ops->discard(be, kind, name);
    vault_error rc = be->ops->remove(be, kind, name);
    return rc == VAULT_E_NOT_FOUND ? VAULT_OK : rc;
}
static inline vault_error backend_clean(backend *be, uint64_t older_than,
                                        uint64_t *removed)
{
    *removed = 0;
    return be->ops->clean ? be->ops->clean(be, older_than, removed)
                          : VAULT_OK;
}
static inline vault_error backend_check_deletable(backend *be)
{
    return be->ops->check_deletable ? be->ops->check_deletable(be)
                                    : VAULT_OK;
}
static inline double backend_answer_wait(backend *be)
{
    return be->ops->answer_wait ? be->ops->answer_wait(be) : 0;
}
static inline unsigned backend_connections(const backend *be)
{
    return be->connections ? be->connections : 1;
}
static inline void backend_close(backend *be)
{
    if (be)
        be->ops->close(be);
}

/* The names of all objects of a kind, as a malloc'ed array of 65-byte
 * strings (never NULL on success, also when empty). */
typedef struct name_list {
    char (*names)[65];
    size_t n, cap;
} name_list;
vault_error vlt_backend_list_names(backend *be, backend_kind kind,
                                   name_list *out);
/* Appends a copy of name; non-zero when out of memory. */
int vlt_name_list_add(name_list *l, const char *name);

/*
 * The local directory backend.  With create, makes the directory (which
 * must be absent or empty) and its folders: keys, data/00..ff, index,
 * snapshots, locks; VAULT_E_EXISTS if it is a non-empty directory.
 * Without create, the directory must hold a vault (a config object) or
 * VAULT_E_NOT_FOUND says it is not a vault.  Folders missing from an
 * existing vault (copy and sync tools often drop empty folders) list as
 * empty and are made again by the first save into them.
 */
vault_error vlt_backend_local_open(const char *path, int create, backend **out);

/*
 * Any location (backend/location.c): a path (the local backend),
 * "rest:http[s]://[user:pass@]host[:port]/[path/]" (restic's REST protocol
 * v2, backend_rest.c), "rclone:REMOTE:PATH" (rclone serve restic started
 * for it, backend_rclone.c), "s3:http[s]://host[:port]/bucket[/prefix]"
 * (backend_s3.c).  Another "scheme:" prefix is VAULT_E_INVALID naming the
 * schemes.  create as for vlt_backend_local_open (S3: makes the bucket if
 * missing), or BACKEND_OPEN_UNCHECKED: open, and a remote backend may
 * leave out asking whether the config is there (a round trip), for a
 * caller that reads the config next and says "not a vault" itself.
 * options may be NULL (defaults).
 */
#define BACKEND_OPEN_UNCHECKED 2
vault_error vlt_backend_open(const char *location,
                             const vault_storage_options *options, int create,
                             backend **out);

/* The remote backends, given the location after its scheme ("http://...",
 * "REMOTE:PATH"); each in its own file.  The REST one gives display (the
 * redacted location) to its errors. */
vault_error vlt_backend_rest_open(const char *url,
                                  const vault_storage_options *options,
                                  int create, backend **out);
vault_error vlt_backend_rclone_open(const char *remote_path,
                                    const vault_storage_options *options,
                                    int create, backend **out);
vault_error vlt_backend_s3_open(const char *url,
                                const vault_storage_options *options,
                                int create, backend **out);

/*
 * The local cache of small sealed objects (backend_cache.c): wraps inner
 * (taking ownership, also on failure) so that loads of index segments,
 * snapshots, envelopes and membership records (keys/) and tree packs are
 * served from files under dir (made 0700) when present, verified by name
 * (their SHA-256) on use, and kept there after a load from inner; saves
 * and removes go to inner and update the cache; list always asks inner
 * and drops the cached objects it no longer lists.  Bounded by max_bytes
 * (0: 1 GiB), least recently used out first.  When dir cannot be made or
 * used (another user's, unreadable, not a folder) it warns (vlt_warn,
 * naming dir) and hands inner back as *out: the vault works uncached.
 */
vault_error vlt_backend_cache_open(backend *inner, const char *dir,
                                   uint64_t max_bytes, backend **out);
/* Whether be is the cache decorator. */
int vlt_backend_is_cache(const backend *be);
/* The index's hint to the cache: pack id holds only tree blobs (every
 * entry the index has for it is a tree), so the cache may keep it whole
 * and serve its ranges.  A wrong hint costs only room in the cache: the
 * pack is checked against its name like any cached object.  Nothing
 * when be is not the cache. */
void vlt_backend_cache_note_tree_pack(backend *be, const uint8_t id[32]);
/* The backend the cache wraps (be must be the cache). */
backend *vlt_backend_cache_inner(backend *be);

/*
 * Listings asked for ahead (backend_ahead.c), around every remote
 * backend (vlt_backend_open puts it there): vlt_backend_list_ahead
 * starts listing kind on a thread of its own, and the next list() of
 * kind through be takes that answer, once.  Nothing for a backend
 * without the wrapper (local ones), or a kind already on its way.  Drop
 * what was not taken before anything that needs a listing made after
 * it (an add, once its marker is up); vault_close drops the rest.
 */
vault_error vlt_backend_ahead_wrap(backend *inner, backend **out);
void vlt_backend_list_ahead(backend *be, backend_kind kind);
void vlt_backend_list_ahead_drop(backend *be);

#endif
