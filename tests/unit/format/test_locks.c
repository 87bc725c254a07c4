/*
 * test_locks.c - the objects in locks/ (format/locks.c): add markers and
 * prune marks encoded and decoded, every malformed record refused with
 * its reason, and sealed objects written, loaded and removed through the
 * memory backend - a tampered one, one of another vault and one sealed
 * in an epoch the member does not hold are skipped and counted.
 */
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "backend_testing.h"
#include "common/internal.h"
#include "crypto/keys.h"
#include "format/locks.h"
#include "format/pack.h"
#include "repo/repo.h"

#define RECORD_FIXED (1 + 8 + 4 + 2 + 4) /* kind time pid host_len n_packs */

#define assert_detail_has(text)                                              \
    do {                                                                     \
        if (!strstr(vault_last_error(), (text)))                             \
            fail_msg("detail \"%s\" lacks \"%s\"", vault_last_error(),       \
                     (text));                                                \
    } while (0)

static uint8_t packs3[3 * 32];

static lock_record add_marker(void)
{
    lock_record r;
    memset(&r, 0, sizeof r);
    r.kind = LOCK_ADD;
    r.time = 1700000000;
    r.pid = 4242;
    snprintf(r.host, sizeof r.host, "host-a");
    return r;
}

static lock_record prune_mark(void)
{
    lock_record r = add_marker();
    r.kind = LOCK_PRUNE_MARK;
    r.time = -5; /* a clock before 1970 still round trips */
    r.pid = UINT32_MAX;
    snprintf(r.host, sizeof r.host, "host-b");
    for (size_t i = 0; i < sizeof packs3; i++)
        packs3[i] = (uint8_t)(i * 7);
    r.packs = packs3;
    r.n_packs = 3;
    return r;
}

static void assert_same_record(const lock_record *a, const lock_record *b)
{
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->time, b->time);
    assert_int_equal(a->pid, b->pid);
    assert_string_equal(a->host, b->host);
    assert_int_equal(a->n_packs, b->n_packs);
    if (a->n_packs)
        assert_memory_equal(a->packs, b->packs, (size_t)a->n_packs * 32);
    else
        assert_null(b->packs);
}

static void test_lock_roundtrip(void **state)
{
    (void)state;
    lock_record recs[2] = {add_marker(), prune_mark()};
    for (size_t i = 0; i < 2; i++) {
        uint8_t *enc;
        size_t len;
        assert_vault_ok(vlt_lock_encode(&recs[i], &enc, &len));
        assert_int_equal(len, RECORD_FIXED + strlen(recs[i].host) +
                                  recs[i].n_packs * 32);
        lock_record dec;
        assert_vault_ok(vlt_lock_decode(enc, len, &dec));
        assert_same_record(&recs[i], &dec);
        free(dec.packs);
        free(enc);
    }
    /* The longest host, and an empty one. */
    lock_record r = add_marker();
    memset(r.host, 'h', LOCK_HOST_MAX);
    r.host[LOCK_HOST_MAX] = '\0';
    uint8_t *enc;
    size_t len;
    assert_vault_ok(vlt_lock_encode(&r, &enc, &len));
    lock_record dec;
    assert_vault_ok(vlt_lock_decode(enc, len, &dec));
    assert_same_record(&r, &dec);
    free(enc);
    r.host[0] = '\0';
    assert_vault_ok(vlt_lock_encode(&r, &enc, &len));
    assert_vault_ok(vlt_lock_decode(enc, len, &dec));
    assert_string_equal(dec.host, "");
    free(enc);
}

static void test_lock_encode_refusals(void **state)
{
    (void)state;
    uint8_t *enc;
    size_t len;
    lock_record r = add_marker();
    r.kind = (lock_kind)3;
    assert_vault_code(vlt_lock_encode(&r, &enc, &len), VAULT_E_INVALID);
    r.kind = (lock_kind)0;
    assert_vault_code(vlt_lock_encode(&r, &enc, &len), VAULT_E_INVALID);
    /* An add marker lists no packs. */
    r = prune_mark();
    r.kind = LOCK_ADD;
    assert_vault_code(vlt_lock_encode(&r, &enc, &len), VAULT_E_INVALID);
    /* Too many packs for one object. */
    r = prune_mark();
    r.n_packs = LOCK_MAX_BYTES / 32;
    assert_vault_code(vlt_lock_encode(&r, &enc, &len), VAULT_E_INVALID);
    assert_detail_has("too many packs");
}

static vault_error decode(const uint8_t *p, size_t len)
{
    lock_record out;
    vault_error rc = vlt_lock_decode(p, len, &out);
    if (rc == VAULT_OK)
        free(out.packs);
    else
        assert_null(out.packs);
    return rc;
}

/* An add marker's process part (format.md 15a "Process") round trips;
 * a prune mark never carries one; any other tail length is refused. */
static void test_lock_process_part(void **state)
{
    (void)state;
    lock_record r = add_marker();
    r.has_process = 1;
    memset(r.process_domain, 0xd7, sizeof r.process_domain);
    r.process_start = UINT64_MAX - 1;
    uint8_t *enc;
    size_t len;
    assert_vault_ok(vlt_lock_encode(&r, &enc, &len));
    assert_int_equal(len, RECORD_FIXED + strlen(r.host) + LOCK_PROCESS_BYTES);
    lock_record dec;
    assert_vault_ok(vlt_lock_decode(enc, len, &dec));
    assert_same_record(&r, &dec);
    assert_int_equal(dec.has_process, 1);
    assert_memory_equal(dec.process_domain, r.process_domain,
                        sizeof r.process_domain);
    assert_true(dec.process_start == r.process_start);
    /* Every other tail length, shorter or longer, is refused. */
    uint8_t *longer = malloc(len + 1);
    assert_non_null(longer);
    memcpy(longer, enc, len);
    longer[len] = 0;
    assert_vault_code(decode(longer, len + 1), VAULT_E_CORRUPT);
    for (size_t cut = 1; cut < LOCK_PROCESS_BYTES; cut++)
        assert_vault_code(decode(enc, len - cut), VAULT_E_CORRUPT);
    /* A prune mark with a process tail is refused... */
    enc[0] = LOCK_PRUNE_MARK;
    assert_vault_code(decode(enc, len), VAULT_E_CORRUPT);
    free(longer);
    free(enc);
    /* ...and never written with one. */
    lock_record m = prune_mark();
    m.has_process = 1;
    assert_vault_ok(vlt_lock_encode(&m, &enc, &len));
    assert_int_equal(len, RECORD_FIXED + strlen(m.host) + m.n_packs * 32);
    assert_vault_ok(vlt_lock_decode(enc, len, &dec));
    assert_int_equal(dec.has_process, 0);
    free(dec.packs);
    free(enc);
}

/* Whether a marker's process runs: this process does; a child that
 * exited does not; the same pid with another start time is another
 * process; another domain cannot be told, nor a marker without one. */
static void test_lock_marker_process(void **state)
{
    (void)state;
    lock_record r;
    vlt_lock_add_marker_init(&r);
    assert_int_equal(r.kind, LOCK_ADD);
    assert_int_equal(r.n_packs, 0);
    assert_true(r.time > 0);
    if (!r.has_process)
        skip(); /* no /proc here: markers are aged only */
    assert_int_equal(r.pid, (uint32_t)getpid());
    assert_int_equal(vlt_lock_marker_process(&r), PROCESS_RUNNING);
    assert_int_equal(vlt_lock_marker_dead(&r), 0);
    lock_record reused = r;
    reused.process_start++;
    assert_int_equal(vlt_lock_marker_process(&reused), PROCESS_GONE);
    assert_int_equal(vlt_lock_marker_dead(&reused), 1);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0)
        _exit(0);
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    lock_record gone = r;
    gone.pid = (uint32_t)child; /* reaped: no process has it (unless
                                   reused at once, then with another
                                   start time) */
    assert_int_equal(vlt_lock_marker_process(&gone), PROCESS_GONE);
    lock_record elsewhere = r;
    elsewhere.process_domain[0] ^= 1;
    assert_int_equal(vlt_lock_marker_process(&elsewhere), PROCESS_ELSEWHERE);
    assert_int_equal(vlt_lock_marker_dead(&elsewhere), 0);
    lock_record none = r;
    none.has_process = 0;
    assert_int_equal(vlt_lock_marker_process(&none), PROCESS_ELSEWHERE);
    lock_record mark = r;
    mark.kind = LOCK_PRUNE_MARK;
    assert_int_equal(vlt_lock_marker_process(&mark), PROCESS_ELSEWHERE);
}

static void test_lock_decode_refusals(void **state)
{
    (void)state;
    lock_record r = prune_mark();
    uint8_t *enc;
    size_t len;
    assert_vault_ok(vlt_lock_encode(&r, &enc, &len));
    const size_t host_len = strlen(r.host);
    uint8_t *bad = malloc(len + 32);
    assert_non_null(bad);

    /* Every truncation, and one byte more. */
    for (size_t n = 0; n < len; n++)
        assert_vault_code(decode(enc, n), VAULT_E_CORRUPT);
    assert_vault_code(decode(enc, RECORD_FIXED - 1), VAULT_E_CORRUPT);
    assert_detail_has("truncated");
    memcpy(bad, enc, len);
    bad[len] = 0;
    assert_vault_code(decode(bad, len + 1), VAULT_E_CORRUPT);
    assert_detail_has("bad pack count");

    /* Kinds. */
    memcpy(bad, enc, len);
    bad[0] = 0;
    assert_vault_code(decode(bad, len), VAULT_E_CORRUPT);
    assert_detail_has("unknown kind");
    bad[0] = 3;
    assert_vault_code(decode(bad, len), VAULT_E_CORRUPT);
    /* An add marker that lists packs. */
    bad[0] = LOCK_ADD;
    assert_vault_code(decode(bad, len), VAULT_E_CORRUPT);
    assert_detail_has("bad pack count");

    /* Hosts: too long a length, past the end, a NUL inside. */
    memcpy(bad, enc, len);
    store_le16(bad + 13, LOCK_HOST_MAX + 1);
    assert_vault_code(decode(bad, len), VAULT_E_CORRUPT);
    assert_detail_has("bad host");
    store_le16(bad + 13, (uint16_t)(len - RECORD_FIXED + 1));
    assert_vault_code(decode(bad, len), VAULT_E_CORRUPT);
    assert_detail_has("bad host");
    memcpy(bad, enc, len);
    bad[15 + 2] = '\0';
    assert_vault_code(decode(bad, len), VAULT_E_CORRUPT);
    assert_detail_has("bad host");

    /* Pack counts that disagree with the length. */
    memcpy(bad, enc, len);
    store_le32(bad + 15 + host_len, 2);
    assert_vault_code(decode(bad, len), VAULT_E_CORRUPT);
    assert_detail_has("bad pack count");
    store_le32(bad + 15 + host_len, UINT32_MAX);
    assert_vault_code(decode(bad, len), VAULT_E_CORRUPT);
    assert_detail_has("bad pack count");
    free(bad);
    free(enc);
}

/* ---- sealed objects through a backend ----------------------------------- */

/* Just enough of a vault handle for locks.c: keys and a backend. */
typedef struct lock_fx {
    vault_t v;     /* keys: a fresh owner keyring; be: memory */
    keyring *later; /* v.keys with one more epoch */
    member_entry owner;  /* v.keys' member ... */
    membership members;  /* ... the only one: v.members */
} lock_fx;

static int lock_setup(void **state)
{
    lock_fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_vault_ok(vlt_keyring_generate(&f->v.keys));
    assert_vault_ok(vlt_keyring_new_epoch(f->v.keys, &f->later));
    assert_vault_ok(vlt_backend_memory_open(&f->v.be));
    memcpy(f->owner.sign_pk, f->v.keys->sign_pk, SIGN_PUBLIC_BYTES);
    f->owner.role = ROLE_OWNER;
    f->members.members = &f->owner;
    f->members.n_members = 1;
    f->v.members = &f->members;
    *state = f;
    return 0;
}

static int lock_teardown(void **state)
{
    lock_fx *f = *state;
    backend_close(f->v.be);
    vlt_keyring_free(f->v.keys);
    vlt_keyring_free(f->later);
    free(f);
    return 0;
}

/* Loads the locks; checks how many were read and how many skipped. */
static lock_record *load_expect(vault_t *v, size_t n_want,
                                size_t unreadable_want)
{
    lock_record *list = NULL;
    size_t n = 99, unreadable = 99;
    assert_vault_ok(vlt_locks_load(v, &list, &n, &unreadable));
    assert_non_null(list);
    if (n != n_want || unreadable != unreadable_want)
        fail_msg("%zu locks and %zu unreadable, expected %zu and %zu", n,
                 unreadable, n_want, unreadable_want);
    return list;
}

static void test_lock_write_load_remove(void **state)
{
    lock_fx *f = *state;
    lock_record *list = load_expect(&f->v, 0, 0);
    vlt_locks_free(list, 0);

    lock_record a = add_marker(), p = prune_mark();
    assert_vault_ok(vlt_lock_write(&f->v, &a));
    assert_vault_ok(vlt_lock_write(&f->v, &p));
    assert_string_not_equal(a.name, p.name);
    /* Named after their bytes; sealed in the current epoch. */
    uint8_t *obj;
    size_t len;
    assert_vault_ok(backend_load(f->v.be, BACKEND_LOCKS, a.name, 0, 0,
                                 LOCK_MAX_BYTES, &obj, &len));
    assert_vault_ok(vlt_object_check_name(BACKEND_LOCKS, a.name, obj, len));
    assert_memory_equal(obj, LOCK_MAGIC, 8);
    assert_int_equal(load_le32(obj + 8), 0);
    for (size_t i = 0; i + 6 <= len; i++) /* the record is sealed */
        assert_false(memcmp(obj + i, "host-a", 6) == 0);
    free(obj);

    list = load_expect(&f->v, 2, 0);
    for (size_t i = 0; i < 2; i++) {
        const lock_record *want = strcmp(list[i].name, a.name) == 0 ? &a : &p;
        assert_string_equal(list[i].name, want->name);
        assert_same_record(want, &list[i]);
    }
    vlt_locks_free(list, 2);
    /* unreadable may be left out */
    size_t n;
    assert_vault_ok(vlt_locks_load(&f->v, &list, &n, NULL));
    vlt_locks_free(list, n);

    assert_vault_ok(vlt_lock_remove(&f->v, a.name));
    list = load_expect(&f->v, 1, 0);
    assert_string_equal(list[0].name, p.name);
    vlt_locks_free(list, 1);
    /* Removing what is gone is fine (the add finished meanwhile). */
    assert_vault_ok(vlt_lock_remove(&f->v, a.name));
    /* A bad record is refused before anything is written. */
    lock_record bad = add_marker();
    bad.kind = (lock_kind)9;
    assert_vault_code(vlt_lock_write(&f->v, &bad), VAULT_E_INVALID);
    list = load_expect(&f->v, 1, 0);
    vlt_locks_free(list, 1);
    vlt_locks_free(NULL, 0);
}

/* Format v2: each lock carries its author, signed; a lock whose author is
 * not a member is forged (skipped, reported); a prune mark counts only
 * from a current owner, an add marker from anyone. */
static void count_warning(const char *message, void *ctx)
{
    (void)message;
    ++*(size_t *)ctx;
}

static void test_lock_authors(void **state)
{
    lock_fx *f = *state;
    size_t warned = 0;
    vault_set_warning_handler(count_warning, &warned);
    lock_record a = add_marker(), p = prune_mark();
    assert_vault_ok(vlt_lock_write(&f->v, &a));
    assert_memory_equal(a.author, f->v.keys->sign_pk, SIGN_PUBLIC_BYTES);
    assert_vault_ok(vlt_lock_write(&f->v, &p));
    lock_record *list = load_expect(&f->v, 2, 0);
    for (size_t i = 0; i < 2; i++) {
        assert_memory_equal(list[i].author, f->v.keys->sign_pk,
                            SIGN_PUBLIC_BYTES);
        assert_true(vlt_repo_lock_honoured(&f->v, &list[i]));
    }
    vlt_locks_free(list, 2);

    /* The same owner demoted to writer: its add marker counts, its prune
     * mark does not. */
    f->owner.role = ROLE_WRITER;
    list = load_expect(&f->v, 2, 0);
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(vlt_repo_lock_honoured(&f->v, &list[i]),
                         list[i].kind == LOCK_ADD);
    vlt_locks_free(list, 2);
    f->owner.role = ROLE_OWNER;

    /* Nobody is a member: both are forged, skipped and reported - and
     * not counted as unreadable, which would hold prune back. */
    f->v.members = NULL;
    list = load_expect(&f->v, 0, 0);
    vlt_locks_free(list, 0);
    assert_int_equal(warned, 2);
    f->v.members = &f->members;
    vault_set_warning_handler(NULL, NULL);
}

static void test_lock_tampered(void **state)
{
    lock_fx *f = *state;
    lock_record p = prune_mark();
    assert_vault_ok(vlt_lock_write(&f->v, &p));
    uint8_t *obj;
    size_t len;
    assert_vault_ok(backend_load(f->v.be, BACKEND_LOCKS, p.name, 0, 0,
                                 LOCK_MAX_BYTES, &obj, &len));
    assert_vault_ok(backend_remove(f->v.be, BACKEND_LOCKS, p.name));

    /* Each byte changed, saved under its new bytes' name: skipped. */
    for (size_t i = 0; i < len; i++) {
        char name[65];
        obj[i] ^= 0x20;
        vlt_object_name(obj, len, name);
        assert_vault_ok(backend_save(f->v.be, BACKEND_LOCKS, name, obj, len));
        lock_record *list = load_expect(&f->v, 0, 1);
        vlt_locks_free(list, 0);
        assert_vault_ok(backend_remove(f->v.be, BACKEND_LOCKS, name));
        obj[i] ^= 0x20;
    }
    /* Truncated, and under a name that is not its hash. */
    char name[65];
    vlt_object_name(obj, len - 1, name);
    assert_vault_ok(backend_save(f->v.be, BACKEND_LOCKS, name, obj, len - 1));
    lock_record *list = load_expect(&f->v, 0, 1);
    vlt_locks_free(list, 0);
    assert_vault_ok(backend_remove(f->v.be, BACKEND_LOCKS, name));
    memcpy(name, p.name, 65);
    name[0] = name[0] == 'a' ? 'b' : 'a';
    assert_vault_ok(backend_save(f->v.be, BACKEND_LOCKS, name, obj, len));
    list = load_expect(&f->v, 0, 1);
    vlt_locks_free(list, 0);
    /* The original still reads, next to the misnamed copy. */
    assert_vault_ok(backend_save(f->v.be, BACKEND_LOCKS, p.name, obj, len));
    list = load_expect(&f->v, 1, 1);
    vlt_locks_free(list, 1);
    free(obj);
}

static void test_lock_other_epoch_and_vault(void **state)
{
    lock_fx *f = *state;
    /* Written by a member who holds a later epoch (after an unshare). */
    vault_t later = f->v;
    later.keys = f->later;
    lock_record a = add_marker(), p = prune_mark();
    assert_vault_ok(vlt_lock_write(&later, &a));
    assert_vault_ok(vlt_lock_write(&f->v, &p));
    uint8_t *obj;
    size_t len;
    assert_vault_ok(backend_load(f->v.be, BACKEND_LOCKS, a.name, 0, 0,
                                 LOCK_MAX_BYTES, &obj, &len));
    assert_int_equal(load_le32(obj + 8), 1);
    free(obj);
    /* The member without epoch 1 skips it and says so... */
    lock_record *list = load_expect(&f->v, 1, 1);
    assert_string_equal(list[0].name, p.name);
    vlt_locks_free(list, 1);
    /* ...the later member reads both. */
    list = load_expect(&later, 2, 0);
    vlt_locks_free(list, 2);

    /* Another vault's member (same storage) reads neither. */
    vault_t stranger = f->v;
    assert_vault_ok(vlt_keyring_generate(&stranger.keys));
    list = load_expect(&stranger, 0, 2);
    vlt_locks_free(list, 0);
    assert_vault_ok(vlt_lock_remove(&f->v, a.name));
    list = load_expect(&stranger, 0, 1);
    vlt_locks_free(list, 0);
    vlt_keyring_free(stranger.keys);
}

int main(void)
{
    if (vault_global_init() != VAULT_OK) {
        fprintf(stderr, "vault_global_init: %s\n", vault_last_error());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lock_roundtrip),
        cmocka_unit_test(test_lock_encode_refusals),
        cmocka_unit_test(test_lock_decode_refusals),
        cmocka_unit_test(test_lock_process_part),
        cmocka_unit_test(test_lock_marker_process),
        cmocka_unit_test_setup_teardown(test_lock_write_load_remove,
                                        lock_setup, lock_teardown),
        cmocka_unit_test_setup_teardown(test_lock_authors, lock_setup,
                                        lock_teardown),
        cmocka_unit_test_setup_teardown(test_lock_tampered, lock_setup,
                                        lock_teardown),
        cmocka_unit_test_setup_teardown(test_lock_other_epoch_and_vault,
                                        lock_setup, lock_teardown),
    };
    return cmocka_run_group_tests_name("locks", tests, NULL, NULL) ? 1 : 0;
}
