/*
 * fill_index.c - a large vault without the bytes (issue #15).  Adds N
 * index entries to a vault through the library's own segment writer, as
 * an add would list them: 1 MiB data chunks with random chunk IDs, a
 * fixed number to a pack, in segments of INDEX_SEGMENT_ENTRIES entries
 * (add flushes a segment once its packs hold that many).  The packs
 * themselves are never written: the vault is fit for measuring what the
 * size of the index costs (opening, add, ls, prune's planning), and
 * `check` reports every one of those packs as missing.
 *
 *   fill_index VAULT IDENTITY N [CHUNKS_PER_PACK]
 *
 * IDENTITY is an owner's or a writer's (segments are signed by their
 * author).  CHUNKS_PER_PACK defaults to 16 (16 MiB packs, PACK_TARGET_BYTES).
 * Memory is one segment's entries at a time; the random IDs come from
 * libsodium, so two runs never list the same chunk.
 *
 * Exit status 0 when all N entries were saved, 1 on failure, 2 on a
 * wrong command line.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/internal.h"
#include "format/pack.h"
#include "repo/repo.h"
#include "tool_open.h"

/* The chunk size a fake entry claims: restic's average, and what the
 * issue's "10^7 chunks = 10 TiB" assumes. */
#define FILL_CHUNK_BYTES (1u << 20)
#define FILL_DEFAULT_CHUNKS_PER_PACK 16

static int usage(void)
{
    fprintf(stderr, "usage: fill_index VAULT IDENTITY N [CHUNKS_PER_PACK]\n"
                    "  adds N index entries of 1 MiB chunks in packs that are "
                    "never written\n");
    return 2;
}

static int fail(const char *what, vault_error rc)
{
    fprintf(stderr, "fill_index: %s: %s (%s)\n", what, vault_strerror(rc),
            vault_last_error());
    return 1;
}

/* A positive whole number no larger than max, or 0. */
static uint64_t parse_count(const char *s, uint64_t max)
{
    char *end = NULL;
    unsigned long long n = strtoull(s, &end, 10);
    if (!*s || *s == '-' || *end || n == 0 || n > max)
        return 0;
    return n;
}

/* One segment's worth of fake packs, reused from segment to segment. */
typedef struct fill_segment {
    uint8_t *pack_ids;   /* 32 bytes a pack */
    size_t *starts;      /* n_packs + 1 */
    pack_entry *entries; /* max_packs * chunks_per_pack */
    size_t max_packs;
    size_t chunks_per_pack;
} fill_segment;

static void fill_segment_free(fill_segment *s)
{
    free(s->pack_ids);
    free(s->starts);
    free(s->entries);
    memset(s, 0, sizeof *s);
}

static int fill_segment_alloc(fill_segment *s, size_t chunks_per_pack)
{
    s->chunks_per_pack = chunks_per_pack;
    s->max_packs = (INDEX_SEGMENT_ENTRIES + chunks_per_pack - 1) /
                   chunks_per_pack;
    s->pack_ids = calloc(s->max_packs, 32);
    s->starts = calloc(s->max_packs + 1, sizeof *s->starts);
    s->entries = calloc(s->max_packs * chunks_per_pack, sizeof *s->entries);
    return s->pack_ids && s->starts && s->entries;
}

/* Lays out n_entries fake chunks in packs of chunks_per_pack (the last
 * pack may hold fewer), as a pack writer would place raw blobs one after
 * the other past the header; returns the number of packs. */
static size_t fill_segment_make(fill_segment *s, size_t n_entries)
{
    size_t n_packs = (n_entries + s->chunks_per_pack - 1) / s->chunks_per_pack;
    randombytes_buf(s->pack_ids, n_packs * 32);
    s->starts[0] = 0;
    for (size_t p = 0; p < n_packs; p++) {
        size_t first = p * s->chunks_per_pack;
        size_t end = first + s->chunks_per_pack;
        if (end > n_entries)
            end = n_entries;
        for (size_t i = first; i < end; i++) {
            pack_entry *e = &s->entries[i];
            randombytes_buf(e->id, sizeof e->id);
            e->type = BLOB_DATA;
            e->flags = 0; /* stored raw: length is exactly raw + overhead */
            e->raw_len = FILL_CHUNK_BYTES;
            e->length = FILL_CHUNK_BYTES + BLOB_OVERHEAD;
            e->offset = (uint32_t)(PACK_HEADER_BYTES + (i - first) * e->length);
        }
        s->starts[p + 1] = end;
    }
    return n_packs;
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5)
        return usage();
    /* 2^40 entries is far beyond any measurement and keeps the packs'
     * count and the printed sizes within 64 bits. */
    uint64_t n = parse_count(argv[3], (uint64_t)1 << 40);
    if (n == 0) {
        fprintf(stderr, "fill_index: N: '%s' is not a whole number from 1 "
                        "to 2^40\n", argv[3]);
        return usage();
    }
    /* Packs stay within PACK_MAX_BYTES: 127 raw 1 MiB blobs and the
     * header fit, 128 do not. */
    uint64_t per_pack = FILL_DEFAULT_CHUNKS_PER_PACK;
    if (argc == 5 && (per_pack = parse_count(argv[4], 127)) == 0) {
        fprintf(stderr, "fill_index: CHUNKS_PER_PACK: '%s' is not a whole "
                        "number from 1 to 127\n", argv[4]);
        return usage();
    }
    vault_t *v = NULL;
    if (tool_open_vault("fill_index", argv[1], argv[2], &v) != 0)
        return 1;
    vault_error rc = VAULT_OK;

    fill_segment seg;
    memset(&seg, 0, sizeof seg);
    if (!fill_segment_alloc(&seg, (size_t)per_pack)) {
        fill_segment_free(&seg);
        vault_close(v);
        return fail("segment", VAULT_E_NOMEM);
    }
    size_t per_segment = seg.max_packs * seg.chunks_per_pack;
    uint64_t done = 0, packs = 0, segments = 0;
    while (done < n && rc == VAULT_OK) {
        size_t count = n - done < per_segment ? (size_t)(n - done)
                                              : per_segment;
        size_t n_packs = fill_segment_make(&seg, count);
        rc = vlt_index_segment_save(v->be, v->keys, seg.pack_ids, n_packs,
                                    seg.starts, seg.entries);
        if (rc == VAULT_OK) {
            done += count;
            packs += n_packs;
            segments++;
        }
    }
    fill_segment_free(&seg);
    vault_close(v);
    if (rc != VAULT_OK) {
        fprintf(stderr, "fill_index: %" PRIu64 " of %" PRIu64
                        " entries saved before the failure\n", done, n);
        return fail("index segment", rc);
    }
    printf("%" PRIu64 " entries in %" PRIu64 " packs that are absent: for "
           "index measurements only (%" PRIu64 " index segments, %" PRIu64
           " MiB of chunks claimed)\n",
           done, packs, segments, done * FILL_CHUNK_BYTES >> 20);
    return 0;
}
