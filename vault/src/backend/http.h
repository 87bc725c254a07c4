/*
 * http.h - requests to an HTTP(S) object store through libcurl, shared by
 * the REST (restic protocol v2, rclone) and S3 backends.  Private.
 *
 * One client per open backend.  It keeps up to `connections` curl easy
 * handles (each a kept-alive connection) and hands one to each request,
 * so up to that many requests run at once from different threads; a
 * request when all are busy waits for one.  No lock is held while a
 * request is on the wire.
 *
 * Every request is retried (common/retry.h) while its failure is
 * transient: connection refused or reset, timeouts and stalls (a transfer
 * below 1 KiB/s for 30 s), a truncated body, 429 and 5xx answers.  The
 * total time spent retrying is bounded (http_config.retry_seconds); then
 * the error names the object (http_request.label), the method, and the
 * server's last answer ("503 Service Unavailable: <first line of body>"),
 * never the credentials.
 *
 * TLS: the system CAs, plus http_config.cacert if given; peer and host
 * are always verified (no insecure mode, no silent fallback to http).
 */
#ifndef VAULT_HTTP_H
#define VAULT_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "vault.h"

typedef struct http_client http_client;

typedef struct http_config {
    /* "http[s]://host[:port]/prefix/" without credentials; request paths
     * are appended to it. */
    const char *base_url;
    /* The location as it may be printed (credentials redacted). */
    const char *display;
    /* HTTP basic auth (CURLOPT_USERNAME/PASSWORD), or NULL. */
    const char *username;
    const char *password;
    /* "aws:amz:REGION:s3" for SigV4 (CURLOPT_AWS_SIGV4) with username as
     * access key and password as secret key, or NULL. */
    const char *aws_sigv4;
    /* Extra CA certificate file (PEM) trusted besides the system's. */
    const char *cacert;
    /* Connect through this Unix socket instead of TCP (rclone), or NULL. */
    const char *unix_socket;
    unsigned connections;  /* requests at once; 0: 5 */
    double retry_seconds;  /* total retry budget; 0: $VAULT_RETRY_SECONDS,
                              else 120 s */
} http_config;

/* Loads and initialises libcurl, once per process: VAULT_E_UNSUPPORTED
 * naming it where it cannot be loaded (a vault that needs no remote
 * storage never loads it).  vlt_http_client_new starts with this; a
 * caller may ask first, before work that would be wasted without it. */
vault_error vlt_http_init(void);

vault_error vlt_http_client_new(const http_config *config, http_client **out);
void vlt_http_client_free(http_client *c);
/* Connections the client runs at once (the uploader queue's size). */
unsigned vlt_http_connections(const http_client *c);
/* The shortest wait seen for an answer's first byte after a request went
 * out, in seconds (a round trip and the server's time); 0 before the
 * first answer. */
double vlt_http_answer_wait(http_client *c);
/* The total time a request may spend retrying. */
double vlt_http_retry_seconds(const http_client *c);

typedef struct http_request {
    const char *method; /* "GET", "HEAD", "PUT", "POST", "DELETE" */
    /* Appended to base_url: already percent-encoded, may hold a query
     * (S3's must be sorted and strictly encoded: SigV4 signs it as is). */
    const char *path;
    /* Extra header lines ("Name: value"), NULL-terminated, or NULL. */
    const char *const *headers;
    const uint8_t *body; /* PUT/POST body (sent with Content-Length) */
    size_t body_len;
    /* Ranged GET of range_len bytes at range_offset, when range_len > 0. */
    uint64_t range_offset;
    size_t range_len;
    /* A body longer than this is refused (VAULT_E_CORRUPT naming label)
     * before it is all read, so a hostile server cannot make us allocate
     * at will. */
    size_t max_body;
    /* What the request is about, for messages: "data/ab/ab12...". */
    const char *label;
    /* Never sent twice once it may have reached the server: a failure
     * after the connection was made (a reset, a timeout) is returned
     * with maybe_sent set instead of retried, also where libcurl would
     * resend on a kept-alive connection that died.  For a save to a
     * server that writes in place and removes a failed upload's object
     * (rclone's local, sftp and ftp remotes): a resend while the
     * earlier send's handler still runs is removed with it
     * (restic#3834).  Answers (429, 5xx) are still retried.  Not for
     * SigV4 clients. */
    int single_send;
} http_request;

typedef struct http_response {
    long status;           /* the final HTTP status */
    uint8_t *body;         /* malloc'ed (never NULL on success) */
    size_t len;
    char content_type[128]; /* "" if none was sent */
    /* The answer's Content-Length, -1 if it sent none: for HEAD, the
     * size of the object (the body is empty). */
    int64_t content_length;
    unsigned attempts; /* requests sent for this answer */
    /* A single_send request failed after it may have reached the
     * server. */
    int maybe_sent;
} http_response;

/*
 * Sends the request, retrying transient failures as above.  VAULT_OK
 * means an answer arrived that is not transient: any status, 404 and 403
 * included, for the backend to map (vlt_http_status_error helps).
 * VAULT_E_NETWORK / VAULT_E_TIMEOUT / VAULT_E_BUSY once the retries are
 * spent; VAULT_E_INVALID for a certificate the CAs do not verify
 * (permanent: retrying cannot help) with a detail saying so.
 */
vault_error vlt_http_send(http_client *c, const http_request *req,
                          http_response *resp);
void vlt_http_response_free(http_response *r);

/* A non-2xx answer as an error with a detail naming the method, label and
 * the server's answer: 404 VAULT_E_NOT_FOUND, 401 VAULT_E_AUTH, 403
 * VAULT_E_PERMISSION, 412/409 VAULT_E_EXISTS, 416 VAULT_E_CORRUPT, other
 * 4xx VAULT_E_IO. */
vault_error vlt_http_status_error(const http_request *req,
                                  const http_response *resp);

#endif
