/*
 * tree.h - directory listings ("trees"): their in-memory form and their
 * canonical byte encoding.  Private.  Format spec: "Trees".  (Snapshot
 * records, which name a root tree: snapshot.h.)
 *
 * A tree is the sorted list of one directory's entries.  It is stored as a
 * blob of type tree, so its chunk ID depends only on its bytes: an
 * unchanged directory encodes to identical bytes and deduplicates.  The
 * encoding is canonical and decoders enforce it (sorted, unique, valid
 * names; known types; bounded counts), because a tree comes from storage
 * that may be hostile.
 */
#ifndef VAULT_TREE_H
#define VAULT_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "vault.h"

#define CHUNK_ID_BYTES 32
#define TREE_FORMAT_VERSION 1
/* Decoder limits: a tree blob is at most 64 MiB (spec "Limits"). */
#define TREE_MAX_BYTES (64u * 1024 * 1024)
#define TREE_NAME_MAX 4096      /* bytes in one entry name (u16 on disk) */
#define TREE_TARGET_MAX 65535   /* bytes in a symlink target */
#define TREE_XATTR_NAME_MAX 255
#define TREE_XATTR_VALUE_MAX (64u * 1024)
#define TREE_XATTRS_MAX 1024
#define TREE_OWNER_NAME_MAX 255

typedef enum node_type {
    NODE_FILE = 1,
    NODE_DIR = 2,
    NODE_SYMLINK = 3,
    NODE_FIFO = 4,
    NODE_CHARDEV = 5,
    NODE_BLOCKDEV = 6,
    NODE_SOCKET = 7
} node_type;

typedef struct node_xattr {
    char *name;     /* NUL-terminated, 1..255 bytes, no NUL inside */
    uint8_t *value; /* value_len bytes */
    uint32_t value_len;
} node_xattr;

typedef struct tree_node {
    node_type type;
    char *name;       /* one path component: not "", ".", "..", no '/' or NUL */
    uint32_t mode;    /* permission bits, & 07777 */
    uint32_t uid, gid;
    char *user;       /* owner name or "" when unknown; <= 255 bytes */
    char *group;
    int64_t mtime_sec;
    uint32_t mtime_nsec; /* < 1e9 */
    uint64_t size;    /* files: content length; others 0 */
    uint64_t inode, device; /* identity for hardlinks (files with nlink>1) */
    uint32_t nlink;
    uint64_t rdev;    /* char/block devices */
    char *target;     /* symlinks: the target, 1..65535 bytes; else NULL */
    node_xattr *xattrs; /* sorted by name, unique */
    uint32_t n_xattrs;
    uint8_t (*content)[CHUNK_ID_BYTES]; /* files: chunk IDs in order */
    uint32_t n_content;
    uint8_t subtree[CHUNK_ID_BYTES]; /* dirs: chunk ID of the child tree */
} tree_node;

typedef struct tree {
    tree_node *nodes; /* sorted by name, bytewise (memcmp, shorter first) */
    uint32_t n_nodes;
} tree;

/* Encodes canonically; sorts the nodes (and xattrs) first.  *out is
 * malloc'ed.  VAULT_E_INVALID if a node breaks a rule (bad name, duplicate
 * name, a limit), so a bad tree is never written. */
vault_error vlt_tree_encode(tree *t, uint8_t **out, size_t *out_len);
/* Strict decoding of untrusted bytes; VAULT_E_CORRUPT with a detail on any
 * deviation from the canonical encoding. */
vault_error vlt_tree_decode(const uint8_t *data, size_t len, tree *out);
/* The memory t's decoded form takes: its allocations, with the
 * allocator's overhead (estimated as for glibc). */
size_t vlt_tree_memory(const tree *t);
/* The same, but a tree whose decoded form would take more than
 * max_memory bytes (vlt_tree_memory) is refused with VAULT_E_UNSUPPORTED
 * before it does: a 64 MiB tree of tiny xattrs decodes to about 13 times
 * its size.  VAULT_E_UNSUPPORTED is no other refusal's code here. */
vault_error vlt_tree_decode_bounded(const uint8_t *data, size_t len,
                                    size_t max_memory, tree *out);
/* Sets the max_memory vlt_tree_decode uses in this thread (SIZE_MAX
 * unless set) and returns the one before.  The tree walk sets it around
 * a load: loaders (the vault's, check's, restore's sources) all end in
 * vlt_tree_decode, and the walk knows what its other trees hold. */
size_t vlt_tree_decode_limit(size_t max_memory);
/* Frees what vlt_tree_decode (or a builder) allocated inside t; t itself is
 * the caller's.  Safe on a zeroed tree. */
void vlt_tree_clear(tree *t);
void vlt_tree_node_clear(tree_node *n);

#endif
