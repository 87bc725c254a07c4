/*
 * curl_lib.c - libcurl, opened on first use (curl_lib.h).
 */
#define VLT_CURL_LIB_FILLS_TABLE
#include "backend/curl_lib.h"
#include "common/internal.h"
#include "common/lazy_lib.h"

/* The soname of the libcurl whose headers the build used
 * (vault/CMakeLists.txt reads it from the library). */
#ifndef VAULT_LIBCURL_SONAME
#error "VAULT_LIBCURL_SONAME: the build names libcurl's soname"
#endif

vlt_curl_functions vlt_curl;

static const char *const curl_names[] = {
#define VLT_CURL_NAME(name) #name,
    VLT_CURL_FUNCTIONS(VLT_CURL_NAME)
#undef VLT_CURL_NAME
};
static void *curl_addresses[VAULT_ARRAY_SIZE(curl_names)];

static void bind_curl(void *const *addresses)
{
    size_t i = 0;
    /* dlsym's void * to a function pointer: what POSIX promises works */
#define VLT_CURL_BIND(name)                                                   \
    vlt_curl.name = (__typeof__(vlt_curl.name))addresses[i++];
    VLT_CURL_FUNCTIONS(VLT_CURL_BIND)
#undef VLT_CURL_BIND
}

static lazy_lib curl_lib = {
    .name = "libcurl",
    .soname = VAULT_LIBCURL_SONAME,
    .needed_for = "remote storage",
    .names = curl_names,
    .n_names = VAULT_ARRAY_SIZE(curl_names),
    .addresses = curl_addresses,
    .bind = bind_curl,
};

vault_error vlt_curl_load(void)
{
    return vlt_lazy_lib_load(&curl_lib);
}
