/*
 * curl_lib.h - libcurl, opened on first use (common/lazy_lib.h) by the
 * HTTP client, its only user.  Private to http.c and curl_lib.c.
 *
 * Included after <curl/curl.h>, it sends each libcurl call of the file
 * through vlt_curl, the table vlt_curl_load fills: curl_easy_init() is
 * written as usual and calls (vlt_curl.curl_easy_init)().  Macros, not
 * vlt_curl.easy_init() at every call, so that http.c reads as the
 * libcurl code it is, as curl's documentation writes it.  Each member is
 * typed from libcurl's own declaration (__typeof__), so every call is
 * still checked against its prototype; a function called but left out
 * of the list below fails the link, libcurl being no longer linked.
 *
 * curl.h's macros of the same names for curl_easy_setopt and
 * curl_easy_getinfo (typecheck-gcc.h) give way to these; their option
 * checks warned about nothing here anyway, GCC silencing warnings raised
 * inside a system header's macro.
 */
#ifndef VAULT_CURL_LIB_H
#define VAULT_CURL_LIB_H

#include <curl/curl.h>

#include "vault.h"

/* Every libcurl function vault calls. */
#define VLT_CURL_FUNCTIONS(X)                                                 \
    X(curl_global_init)                                                       \
    X(curl_easy_strerror)                                                     \
    X(curl_easy_init)                                                         \
    X(curl_easy_cleanup)                                                      \
    X(curl_easy_reset)                                                        \
    X(curl_easy_setopt)                                                       \
    X(curl_easy_perform)                                                      \
    X(curl_easy_getinfo)                                                      \
    X(curl_slist_append)                                                      \
    X(curl_slist_free_all)

typedef struct vlt_curl_functions {
#define VLT_CURL_MEMBER(name) __typeof__(name) *name;
    VLT_CURL_FUNCTIONS(VLT_CURL_MEMBER)
#undef VLT_CURL_MEMBER
} vlt_curl_functions;

/* Valid once vlt_curl_load has returned VAULT_OK. */
extern vlt_curl_functions vlt_curl;

/* Opens libcurl and resolves the functions above, once per process (any
 * thread, any number of times).  VAULT_E_UNSUPPORTED, naming libcurl and
 * why, where it cannot be loaded. */
vault_error vlt_curl_load(void);

/* curl_lib.c fills the table by the functions' own names. */
#ifndef VLT_CURL_LIB_FILLS_TABLE
#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_global_init (vlt_curl.curl_global_init)
#define curl_easy_strerror (vlt_curl.curl_easy_strerror)
#define curl_easy_init (vlt_curl.curl_easy_init)
#define curl_easy_cleanup (vlt_curl.curl_easy_cleanup)
#define curl_easy_reset (vlt_curl.curl_easy_reset)
#define curl_easy_setopt (vlt_curl.curl_easy_setopt)
#define curl_easy_perform (vlt_curl.curl_easy_perform)
#define curl_easy_getinfo (vlt_curl.curl_easy_getinfo)
#define curl_slist_append (vlt_curl.curl_slist_append)
#define curl_slist_free_all (vlt_curl.curl_slist_free_all)
#endif

#endif
