/*
 * archive_lib.h - libarchive, opened on first use (common/lazy_lib.h) by
 * the two users of tar: add's archive source (add/source_stream.c) and
 * restore's tar sink (restore/restore_tar.c); add/archiver.c loads it
 * before an add of an archive starts.  Private to those and
 * archive_lib.c.
 *
 * Included after <archive.h> and <archive_entry.h>, it sends each
 * libarchive call of the file through vlt_archive, the table
 * vlt_archive_load fills: archive_read_new() is written as usual and
 * calls (vlt_archive.archive_read_new)().  Macros, not
 * vlt_archive.read_new() at every call, so that the users read as the
 * libarchive code they are.  Each member is typed from libarchive's own
 * declaration (__typeof__), so every call is still checked against its
 * prototype; a function called but left out of the list below fails the
 * link, libarchive being no longer linked.
 */
#ifndef VAULT_ARCHIVE_LIB_H
#define VAULT_ARCHIVE_LIB_H

#include <archive.h>
#include <archive_entry.h>

#include "vault.h"

/* Every libarchive function vault calls: reading (add), then writing
 * (restore). */
#define VLT_ARCHIVE_FUNCTIONS(X)                                              \
    X(archive_error_string)                                                   \
    X(archive_read_new)                                                       \
    X(archive_read_free)                                                      \
    X(archive_read_support_format_tar)                                        \
    X(archive_read_support_format_cpio)                                       \
    X(archive_read_support_format_zip)                                        \
    X(archive_read_support_filter_gzip)                                       \
    X(archive_read_support_filter_bzip2)                                      \
    X(archive_read_support_filter_xz)                                         \
    X(archive_read_support_filter_lzma)                                       \
    X(archive_read_support_filter_zstd)                                       \
    X(archive_read_support_filter_lz4)                                        \
    X(archive_read_support_filter_compress)                                   \
    X(archive_read_open_fd)                                                   \
    X(archive_read_open_filename)                                             \
    X(archive_read_next_header)                                               \
    X(archive_read_data)                                                      \
    X(archive_entry_pathname)                                                 \
    X(archive_entry_pathname_utf8)                                            \
    X(archive_entry_hardlink)                                                 \
    X(archive_entry_hardlink_utf8)                                            \
    X(archive_entry_symlink)                                                  \
    X(archive_entry_symlink_utf8)                                             \
    X(archive_entry_uname)                                                    \
    X(archive_entry_uname_utf8)                                               \
    X(archive_entry_gname)                                                    \
    X(archive_entry_gname_utf8)                                               \
    X(archive_entry_filetype)                                                 \
    X(archive_entry_perm)                                                     \
    X(archive_entry_uid)                                                      \
    X(archive_entry_gid)                                                      \
    X(archive_entry_mtime_is_set)                                             \
    X(archive_entry_mtime)                                                    \
    X(archive_entry_mtime_nsec)                                               \
    X(archive_entry_rdev)                                                     \
    X(archive_entry_size_is_set)                                              \
    X(archive_entry_size)                                                     \
    X(archive_entry_xattr_reset)                                              \
    X(archive_entry_xattr_next)                                               \
    X(archive_write_new)                                                      \
    X(archive_write_free)                                                     \
    X(archive_write_set_format_pax)                                           \
    X(archive_write_open_fd)                                                  \
    X(archive_write_header)                                                   \
    X(archive_write_data)                                                     \
    X(archive_write_close)                                                    \
    X(archive_entry_new)                                                      \
    X(archive_entry_free)                                                     \
    X(archive_entry_set_pathname)                                             \
    X(archive_entry_set_filetype)                                             \
    X(archive_entry_set_perm)                                                 \
    X(archive_entry_set_uid)                                                  \
    X(archive_entry_set_gid)                                                  \
    X(archive_entry_set_uname)                                                \
    X(archive_entry_set_gname)                                                \
    X(archive_entry_set_mtime)                                                \
    X(archive_entry_set_size)                                                 \
    X(archive_entry_set_hardlink)                                             \
    X(archive_entry_set_symlink)                                              \
    X(archive_entry_set_rdev)                                                 \
    X(archive_entry_sparse_add_entry)                                         \
    X(archive_entry_xattr_add_entry)

typedef struct vlt_archive_functions {
#define VLT_ARCHIVE_MEMBER(name) __typeof__(name) *name;
    VLT_ARCHIVE_FUNCTIONS(VLT_ARCHIVE_MEMBER)
#undef VLT_ARCHIVE_MEMBER
} vlt_archive_functions;

/* Valid once vlt_archive_load has returned VAULT_OK. */
extern vlt_archive_functions vlt_archive;

/* Opens libarchive and resolves the functions above, once per process
 * (any thread, any number of times).  VAULT_E_UNSUPPORTED, naming
 * libarchive and why, where it cannot be loaded. */
vault_error vlt_archive_load(void);

/* archive_lib.c fills the table by the functions' own names. */
#ifndef VLT_ARCHIVE_LIB_FILLS_TABLE
#define archive_error_string (vlt_archive.archive_error_string)
#define archive_read_new (vlt_archive.archive_read_new)
#define archive_read_free (vlt_archive.archive_read_free)
#define archive_read_support_format_tar                                       \
    (vlt_archive.archive_read_support_format_tar)
#define archive_read_support_format_cpio                                      \
    (vlt_archive.archive_read_support_format_cpio)
#define archive_read_support_format_zip                                       \
    (vlt_archive.archive_read_support_format_zip)
#define archive_read_support_filter_gzip                                      \
    (vlt_archive.archive_read_support_filter_gzip)
#define archive_read_support_filter_bzip2                                     \
    (vlt_archive.archive_read_support_filter_bzip2)
#define archive_read_support_filter_xz                                        \
    (vlt_archive.archive_read_support_filter_xz)
#define archive_read_support_filter_lzma                                      \
    (vlt_archive.archive_read_support_filter_lzma)
#define archive_read_support_filter_zstd                                      \
    (vlt_archive.archive_read_support_filter_zstd)
#define archive_read_support_filter_lz4                                       \
    (vlt_archive.archive_read_support_filter_lz4)
#define archive_read_support_filter_compress                                  \
    (vlt_archive.archive_read_support_filter_compress)
#define archive_read_open_fd (vlt_archive.archive_read_open_fd)
#define archive_read_open_filename (vlt_archive.archive_read_open_filename)
#define archive_read_next_header (vlt_archive.archive_read_next_header)
#define archive_read_data (vlt_archive.archive_read_data)
#define archive_entry_pathname (vlt_archive.archive_entry_pathname)
#define archive_entry_pathname_utf8 (vlt_archive.archive_entry_pathname_utf8)
#define archive_entry_hardlink (vlt_archive.archive_entry_hardlink)
#define archive_entry_hardlink_utf8 (vlt_archive.archive_entry_hardlink_utf8)
#define archive_entry_symlink (vlt_archive.archive_entry_symlink)
#define archive_entry_symlink_utf8 (vlt_archive.archive_entry_symlink_utf8)
#define archive_entry_uname (vlt_archive.archive_entry_uname)
#define archive_entry_uname_utf8 (vlt_archive.archive_entry_uname_utf8)
#define archive_entry_gname (vlt_archive.archive_entry_gname)
#define archive_entry_gname_utf8 (vlt_archive.archive_entry_gname_utf8)
#define archive_entry_filetype (vlt_archive.archive_entry_filetype)
#define archive_entry_perm (vlt_archive.archive_entry_perm)
#define archive_entry_uid (vlt_archive.archive_entry_uid)
#define archive_entry_gid (vlt_archive.archive_entry_gid)
#define archive_entry_mtime_is_set (vlt_archive.archive_entry_mtime_is_set)
#define archive_entry_mtime (vlt_archive.archive_entry_mtime)
#define archive_entry_mtime_nsec (vlt_archive.archive_entry_mtime_nsec)
#define archive_entry_rdev (vlt_archive.archive_entry_rdev)
#define archive_entry_size_is_set (vlt_archive.archive_entry_size_is_set)
#define archive_entry_size (vlt_archive.archive_entry_size)
#define archive_entry_xattr_reset (vlt_archive.archive_entry_xattr_reset)
#define archive_entry_xattr_next (vlt_archive.archive_entry_xattr_next)
#define archive_write_new (vlt_archive.archive_write_new)
#define archive_write_free (vlt_archive.archive_write_free)
#define archive_write_set_format_pax (vlt_archive.archive_write_set_format_pax)
#define archive_write_open_fd (vlt_archive.archive_write_open_fd)
#define archive_write_header (vlt_archive.archive_write_header)
#define archive_write_data (vlt_archive.archive_write_data)
#define archive_write_close (vlt_archive.archive_write_close)
#define archive_entry_new (vlt_archive.archive_entry_new)
#define archive_entry_free (vlt_archive.archive_entry_free)
#define archive_entry_set_pathname (vlt_archive.archive_entry_set_pathname)
#define archive_entry_set_filetype (vlt_archive.archive_entry_set_filetype)
#define archive_entry_set_perm (vlt_archive.archive_entry_set_perm)
#define archive_entry_set_uid (vlt_archive.archive_entry_set_uid)
#define archive_entry_set_gid (vlt_archive.archive_entry_set_gid)
#define archive_entry_set_uname (vlt_archive.archive_entry_set_uname)
#define archive_entry_set_gname (vlt_archive.archive_entry_set_gname)
#define archive_entry_set_mtime (vlt_archive.archive_entry_set_mtime)
#define archive_entry_set_size (vlt_archive.archive_entry_set_size)
#define archive_entry_set_hardlink (vlt_archive.archive_entry_set_hardlink)
#define archive_entry_set_symlink (vlt_archive.archive_entry_set_symlink)
#define archive_entry_set_rdev (vlt_archive.archive_entry_set_rdev)
#define archive_entry_sparse_add_entry                                        \
    (vlt_archive.archive_entry_sparse_add_entry)
#define archive_entry_xattr_add_entry                                         \
    (vlt_archive.archive_entry_xattr_add_entry)
#endif

#endif
