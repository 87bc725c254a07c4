/*
 * archive_lib.c - libarchive, opened on first use (archive_lib.h).
 */
#define VLT_ARCHIVE_LIB_FILLS_TABLE
#include "common/internal.h"
#include "common/lazy_lib.h"
#include "ops/archive_lib.h"

/* The soname of the libarchive whose headers the build used
 * (vault/CMakeLists.txt reads it from the library). */
#ifndef VAULT_LIBARCHIVE_SONAME
#error "VAULT_LIBARCHIVE_SONAME: the build names libarchive's soname"
#endif

vlt_archive_functions vlt_archive;

static const char *const archive_names[] = {
#define VLT_ARCHIVE_NAME(name) #name,
    VLT_ARCHIVE_FUNCTIONS(VLT_ARCHIVE_NAME)
#undef VLT_ARCHIVE_NAME
};
static void *archive_addresses[VAULT_ARRAY_SIZE(archive_names)];

static void bind_archive(void *const *addresses)
{
    size_t i = 0;
    /* dlsym's void * to a function pointer: what POSIX promises works */
#define VLT_ARCHIVE_BIND(name)                                                \
    vlt_archive.name = (__typeof__(vlt_archive.name))addresses[i++];
    VLT_ARCHIVE_FUNCTIONS(VLT_ARCHIVE_BIND)
#undef VLT_ARCHIVE_BIND
}

static lazy_lib archive_lib = {
    .name = "libarchive",
    .soname = VAULT_LIBARCHIVE_SONAME,
    .needed_for = "tar",
    .names = archive_names,
    .n_names = VAULT_ARRAY_SIZE(archive_names),
    .addresses = archive_addresses,
    .bind = bind_archive,
};

vault_error vlt_archive_load(void)
{
    return vlt_lazy_lib_load(&archive_lib);
}
