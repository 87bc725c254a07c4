/*
 * pathmatch.h - restic-style path patterns, as `add --exclude` takes them.
 *
 * A pattern is matched against an absolute, clean path ("/home/ann/x"),
 * component by component:
 *
 *   - each component is a glob (fnmatch(3) without flags: `*`, `?`,
 *     `[...]` with `!` or `^` negating, `\` escaping) that never matches
 *     across a `/`;
 *   - a component `**` matches any number of whole components, none too;
 *   - a pattern that starts with `/` is anchored at the root; any other
 *     matches at any depth ("Documents/taxes" matches
 *     "/home/ann/Documents/taxes");
 *   - a pattern matches a path when it matches the path or one of its
 *     ancestors ("/bin" matches "/bin/bash"), as in restic;
 *   - the pattern is cleaned first (repeated `/`, `.` and `..` resolved
 *     lexically: "/a/../b" is "/b");
 *   - a trailing `/` matches directories only ("Music/" leaves a file
 *     named Music alone) - restic ignores it, git and borg do not;
 *   - `!` in front negates: a path a pattern before matched is included
 *     again if this one matches it too (a directory excluded is not
 *     entered, so nothing below it can come back), as in restic.
 *
 * A list is all of one case mode: VLT_PATTERN_CASEFOLD compares ASCII
 * letters without case (restic's --iexclude folds Unicode; names outside
 * ASCII compare exactly here).  Lists are read-only once built, so any
 * thread may match against one; `hits` (optional) is the caller's.
 */
#ifndef VAULT_PATHMATCH_H
#define VAULT_PATHMATCH_H

#include <stddef.h>
#include <stdint.h>

#include "vault.h"

#define VLT_PATTERN_CASEFOLD 0x1u /* the list: ASCII case ignored */
#define VLT_PATTERN_QUIET 0x2u    /* a pattern: no warning if it matches
                                     nothing (one read from a file) */
#define VLT_PATTERN_WHOLE 0x4u    /* the list: a pattern matches a path
                                     itself, not through an ancestor
                                     (find: "Documents" names the folder,
                                     not what it holds) */

/* One component of a pattern. */
typedef struct vlt_pattern_part {
    char *text; /* the glob; NULL for `**` */
    int glob;   /* has `*`, `?`, `[` or `\`: fnmatch, else compared */
} vlt_pattern_part;

typedef struct vlt_pattern {
    char *original;  /* as given, for messages */
    vlt_pattern_part *parts; /* cleaned components, the root's not among
                                them */
    size_t n_parts;
    int anchored;    /* a leading `/` */
    int negated;     /* `!` in front */
    int dir_only;    /* a trailing `/` */
    unsigned flags;  /* VLT_PATTERN_QUIET */
} vlt_pattern;

typedef struct vlt_pattern_list {
    vlt_pattern *items;
    size_t n, cap;
    unsigned flags;   /* VLT_PATTERN_CASEFOLD, VLT_PATTERN_WHOLE */
    int has_negated;  /* some item is negated: no early answer */
} vlt_pattern_list;

/* Adds pattern (flags: VLT_PATTERN_QUIET) to l.  An empty pattern is
 * ignored, as restic does; a malformed one (an unclosed `[`, a `\` at
 * the end, a `!` alone) is VAULT_E_INVALID naming it. */
VAULT_NODISCARD vault_error vlt_pattern_list_add(vlt_pattern_list *l,
                                                 const char *pattern,
                                                 unsigned flags);
/* Adds the patterns of file, one a line: surrounding white space
 * trimmed, empty lines and lines starting with `#` skipped, $NAME and
 * ${NAME} replaced by the environment's value ("" if unset) and $$ by a
 * `$`.  The patterns are VLT_PATTERN_QUIET.  Errors name the file and
 * line. */
VAULT_NODISCARD vault_error vlt_pattern_list_read_file(vlt_pattern_list *l,
                                                       const char *file);
/* Whether path (absolute, clean; is_dir: it is a directory) is matched
 * by l, negations applied in order.  hits: NULL, or l->n flags, set to 1
 * for each pattern that matched it. */
int vlt_pattern_list_match(const vlt_pattern_list *l, const char *path,
                           int is_dir, unsigned char *hits);
void vlt_pattern_list_free(vlt_pattern_list *l);

#endif
