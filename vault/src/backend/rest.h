/*
 * rest.h - the REST backend (backend_rest.c) for backends that reach a
 * REST server of their own (backend_rclone.c starts one).  Private.
 */
#ifndef VAULT_REST_H
#define VAULT_REST_H

#include "backend/backend.h"

/* Called once when the backend closes, after its last request (also when
 * the open fails): stops what serves it. */
typedef void (*rest_close_fn)(void *ctx);

typedef struct rest_target {
    const char *base_url; /* "http[s]://host[:port]/[path/]", no credentials */
    const char *display;  /* the location as it may be printed */
    const char *username; /* basic auth, or NULL */
    const char *password;
    rest_close_fn on_close; /* or NULL */
    void *close_ctx;
} rest_target;

/* Opens a REST backend on target (restic's protocol v2): with create,
 * refuses a server that already holds a config (VAULT_E_EXISTS) and asks
 * it to make the folders (POST /?create=true); without, a server without
 * a config is VAULT_E_NOT_FOUND ("not a vault"). */
vault_error vlt_backend_rest_connect(const rest_target *target,
                                     const vault_storage_options *options,
                                     int create, backend **out);

/* Parses a REST listing (a JSON array of {"name": ..., "size": ...}) and
 * calls fn for every entry whose name is a valid object name (others are
 * skipped).  VAULT_E_CORRUPT, naming label, for text that is not such an
 * array.  *stopped as for backend_ops.list. */
vault_error vlt_rest_parse_listing(const char *label, const uint8_t *text,
                                   size_t len, backend_list_fn fn, void *ctx,
                                   int *stopped);

#endif
