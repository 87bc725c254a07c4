/*
 * add_filter.h - what `add` leaves out of a walk of the file system.
 * Private to ops/add.
 *
 * The options' exclusions (vault.h, "Excludes" above vault_add) made
 * ready once: the patterns parsed (exclude files read), the tag files
 * (--exclude-caches is CACHEDIR.TAG with the standard's signature) and
 * the size limit.  The walker (source_fs.c) asks per entry; the paths
 * given are never asked about.  Matching may be asked from any thread;
 * only the walker's thread counts hits (count 1).
 */
#ifndef VAULT_ADD_FILTER_H
#define VAULT_ADD_FILTER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "common/pathmatch.h"
#include "vault.h"

/* A directory holding a file `name` (starting with `header`, if any)
 * keeps that file only. */
typedef struct add_tag {
    char *name;
    char *header; /* NULL: the name alone is enough */
} add_tag;

typedef struct add_filter {
    vlt_pattern_list exact;  /* excludes, exclude files */
    vlt_pattern_list folded; /* iexcludes, iexclude files */
    unsigned char *hits_exact, *hits_folded; /* per pattern: it matched */
    add_tag *tags;
    size_t n_tags;
    uint64_t larger_than; /* 0: no limit */
} add_filter;

/* Reads o's exclusions into f; VAULT_E_INVALID names a malformed
 * pattern or tag, an exclude file that cannot be read is an error too.
 * vlt_add_filter_free after a failure as well. */
vault_error vlt_add_filter_init(add_filter *f, const vault_add_options *o);
void vlt_add_filter_free(add_filter *f);

/* Whether the entry at path (absolute, clean) with metadata st is left
 * out by a pattern or the size limit; count: record which patterns hit
 * (the walker's thread only). */
int vlt_add_filter_excludes(add_filter *f, const char *path,
                            const struct stat *st, int count);

/* Whether the directory open as dfd (path, for messages) holds one of
 * the tag files.  Its entries are n structures of size bytes sorted by
 * name, each starting with its name (a char *); *keep gets the tag
 * file's index among them.  A tag file whose header does not match is a
 * warning and tags nothing. */
int vlt_add_filter_tagged(const add_filter *f, int dfd, const char *path,
                          const void *entries, size_t n, size_t size,
                          size_t *keep);

/* Warns about each pattern given on its own (not from a file) that
 * matched nothing: likely a typo. */
void vlt_add_filter_warn_unmatched(const add_filter *f);

/* The paths to back up: o's paths, then those its files-from lists name
 * (globs expanded; one that matches nothing is a warning, as in
 * restic).  A listed path that is, or is below, another path to back up
 * is dropped: it is in the snapshot already (`find DIR` lists DIR and
 * everything below it).  *paths and its strings are malloc'ed; free
 * with vlt_add_paths_free. */
vault_error vlt_add_paths_gather(const vault_add_options *o, char ***paths,
                                 size_t *n_paths);
void vlt_add_paths_free(char **paths, size_t n_paths);

#endif
