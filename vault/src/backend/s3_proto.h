/*
 * s3_proto.h - the parts of the S3 backend (backend_s3.c) that need no
 * server: the location's syntax, SigV4-safe encoding of paths and
 * queries, the ListObjectsV2 answer, S3's error codes and the shared
 * credentials file.  Private; separate so the unit tests can feed them
 * hostile input.
 */
#ifndef VAULT_S3_PROTO_H
#define VAULT_S3_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "vault.h"

#define S3_URL_MAX 2048
#define S3_BUCKET_MAX 63
/* A continuation token longer than this is refused (RGW's are ~100). */
#define S3_TOKEN_MAX 1024

/* "http[s]://host[:port]/bucket[/prefix]", split. */
typedef struct s3_location {
    char base_url[S3_URL_MAX];     /* "http[s]://host[:port]/" */
    char bucket[S3_BUCKET_MAX + 1];
    char prefix[S3_URL_MAX];       /* "" or "a/b/" (decoded, '/'-ended) */
} s3_location;

/* Parses url (the location after "s3:"); VAULT_E_INVALID with a detail
 * for anything else: no scheme or host, credentials in the URL (they come
 * from the environment), a bucket name S3 refuses, an empty, "." or ".."
 * prefix segment, a query or fragment. */
vault_error vlt_s3_parse_location(const char *url, s3_location *out);

/* SigV4's URI encoding of in (RFC 3986 unreserved characters kept, the
 * rest as upper-case %XX; '/' kept when keep_slash) into out.  Returns the
 * length, or -1 if out (size bytes) is too small. */
int vlt_s3_encode(const char *in, int keep_slash, char *out, size_t size);

/* The request path of a ListObjectsV2 page: "BUCKET?continuation-token=T&
 * list-type=2&max-keys=N&prefix=P", parameters sorted and strictly
 * encoded as SigV4 signs them (token NULL or "": none; max_keys 0: none).
 * -1 if out is too small. */
int vlt_s3_list_path(const char *bucket, const char *prefix, const char *token,
                     unsigned max_keys, char *out, size_t size);

/* One page of a ListObjectsV2 answer.  fn gets each <Contents>' decoded
 * <Key> (NUL-terminated, only during the call) and <Size>; a non-zero
 * return stops the walk and is left in *stopped.  VAULT_E_CORRUPT, naming
 * what is wrong, for anything that is not such a page: no
 * <ListBucketResult>, a <Contents> without exactly one <Key> and one
 * <Size>, a size that is not a decimal number below 2^63, a key longer
 * than 1024 bytes or with an unknown entity, a truncated page without a
 * <NextContinuationToken> or with one over S3_TOKEN_MAX. */
typedef int (*s3_key_fn)(void *ctx, const char *key, uint64_t size);
typedef struct s3_page {
    int truncated;                 /* <IsTruncated>true */
    char next_token[S3_TOKEN_MAX + 1]; /* decoded; "" unless truncated */
    unsigned keys;                 /* <Contents> seen */
} s3_page;
vault_error vlt_s3_parse_list(const uint8_t *body, size_t len, s3_key_fn fn,
                              void *ctx, int *stopped, s3_page *page);

/* The <Code> of an S3 error answer into code (cut to fit, printable ASCII
 * only); "" if the body has none. */
void vlt_s3_error_code(const uint8_t *body, size_t len, char *code,
                       size_t size);

typedef struct s3_credentials {
    char access_key[256];
    char secret_key[256];
    char session_token[4096]; /* "" if none */
} s3_credentials;

/* Reads the profile's aws_access_key_id, aws_secret_access_key and
 * aws_session_token from the text of a shared credentials file (INI:
 * "[profile]" sections, "key = value" lines, '#' and ';' comments).
 * VAULT_E_NOT_FOUND if the profile or one of the two keys is missing;
 * VAULT_E_INVALID for a value too long or with control characters. */
vault_error vlt_s3_parse_credentials(const char *text, size_t len,
                                     const char *profile, s3_credentials *out);

#endif
