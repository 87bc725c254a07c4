/*
 * test_snapshot_authors.c - what a snapshot's verified author changes for
 * the people who use the vault (format spec §12.1, "Forget policies",
 * §16.2): listings show it, `latest` is the opener's own newest snapshot
 * (then an owner's, then any), forget policies judge each author's
 * snapshots apart, and extracting another member's snapshot withholds
 * the privileges it asks for.
 *
 * Other members are shared for real (vault_fixture.h: member_new) and
 * the handle signs as them (act_as).
 */
#include "vault_fixture.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repo/membership.h"

/* 2100-01-01T00:00:00Z: a time a hostile member may claim. */
#define YEAR_2100 4102444800LL

static void write_text(const char *path, const char *text)
{
    test_write_file(path, text, strlen(text));
}

/* base/<name>/ holding a.txt with text. */
static void make_src(fx *f, const char *name, const char *text,
                     char out[PATH_MAX])
{
    test_fmt(out, PATH_MAX, "%s/%s", f->base, name);
    make_dir(out);
    char p[PATH_MAX];
    test_fmt(p, sizeof p, "%s/a.txt", out);
    write_text(p, text);
}

/* Adds path signed as who (host "testhost"); the snapshot ID in id. */
static void add_as(fx *f, const test_author *who, const char *path,
                   char id[65])
{
    act_as(f->v, who);
    vlt_repo_forget_index(f->v);
    vault_add_result r;
    fx_add(f, path, VAULT_COMPRESSION_OFF, &r);
    memcpy(id, r.snapshot_id, 65);
}

/* Re-dates snapshot id to time_sec, signed again as who; the old object
 * is removed and the new ID replaces id. */
static void redate_as(fx *f, const test_author *who, char id[65],
                      int64_t time_sec)
{
    snapshot_record rec;
    assert_vault_ok(vlt_repo_snapshot_load(f->v, id, &rec));
    rec.time_sec = time_sec;
    act_as(f->v, who);
    char new_id[65];
    assert_vault_ok(vlt_repo_snapshot_save(f->v, &rec, new_id));
    vlt_snapshot_clear(&rec);
    assert_vault_ok(backend_remove(f->v->be, BACKEND_SNAPSHOTS, id));
    memcpy(id, new_id, 65);
}

static const vault_snapshot_info *find_info(const vault_snapshot_info *list,
                                            size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].id, id) == 0)
            return &list[i];
    fail_msg("snapshot %.8s not listed", id);
    return NULL;
}

static void expect_latest(fx *f, const char *want, const char *label)
{
    char id[65];
    assert_vault_ok(vault_snapshot_resolve(f->v, "latest", id));
    if (strcmp(id, want) != 0)
        fail_msg("%s: latest is %.8s, not %.8s", label, id, want);
}

/* The recipient the log gives a signing key (copied). */
static char *recipient_of(fx *f, const test_author *a)
{
    const member_entry *m = vlt_membership_find(f->v->members, a->pk);
    assert_non_null(m);
    return xstrdup(m->recipient);
}

/* ---- the author in listings -------------------------------------------- */

static void test_info_shows_author(void **state)
{
    fx *f = *state;
    test_author owner, writer;
    author_of_handle(f->v, &owner);
    member_new(f, ROLE_WRITER, &writer);
    char src[PATH_MAX], mine[65], theirs[65];
    make_src(f, "src", "hello\n", src);
    add_as(f, &owner, src, mine);
    add_as(f, &writer, src, theirs);
    act_as(f->v, &owner);
    char *owner_recipient = recipient_of(f, &owner);
    char *writer_recipient = recipient_of(f, &writer);
    assert_true(strncmp(writer_recipient, "age1", 4) == 0);

    vault_snapshot_info *list;
    size_t n;
    assert_vault_ok(vault_snapshots(f->v, &list, &n));
    assert_int_equal(n, 2);
    const vault_snapshot_info *s = find_info(list, n, mine);
    char hex[65];
    vlt_hex_encode(owner.pk, SIGN_PUBLIC_BYTES, hex);
    assert_string_equal(s->author, owner_recipient);
    assert_string_equal(s->author_key, hex);
    assert_int_equal(s->author_role, VAULT_ROLE_OWNER);
    assert_int_equal(s->author_is_me, 1);
    s = find_info(list, n, theirs);
    vlt_hex_encode(writer.pk, SIGN_PUBLIC_BYTES, hex);
    assert_string_equal(s->author, writer_recipient);
    assert_string_equal(s->author_key, hex);
    assert_int_equal(s->author_role, VAULT_ROLE_WRITER);
    assert_int_equal(s->author_is_me, 0);
    vault_snapshots_free(list, n);

    /* vault_snapshot_get says the same of one snapshot. */
    vault_snapshot_info *one;
    assert_vault_ok(vault_snapshot_get(f->v, theirs, &one));
    assert_string_equal(one->id, theirs);
    assert_int_equal(one->readable, 1);
    assert_string_equal(one->author, writer_recipient);
    assert_int_equal(one->author_role, VAULT_ROLE_WRITER);
    assert_int_equal(one->author_is_me, 0);
    vault_snapshots_free(one, 1);

    /* Unshared, the writer is a former member: role 0, recipient kept. */
    const char *gone[] = {writer_recipient};
    assert_vault_ok(vault_unshare(f->v, gone, 1));
    assert_vault_ok(vault_snapshot_get(f->v, theirs, &one));
    assert_string_equal(one->author, writer_recipient);
    assert_int_equal(one->author_role, 0);
    assert_int_equal(one->author_is_me, 0);
    vault_snapshots_free(one, 1);
    free(owner_recipient);
    free(writer_recipient);
}

/* ---- latest -------------------------------------------------------------- */

static void test_latest_by_author(void **state)
{
    fx *f = *state;
    test_author owner, writer, reader;
    author_of_handle(f->v, &owner);
    member_new(f, ROLE_WRITER, &writer);
    member_new(f, ROLE_READER, &reader);
    char src[PATH_MAX], w[65], o[65], r[65];
    make_src(f, "src", "hello\n", src);

    /* Only a writer's snapshot: the newest of all, for anyone. */
    add_as(f, &writer, src, w);
    redate_as(f, &writer, w, YEAR_2100);
    act_as(f->v, &owner);
    expect_latest(f, w, "owner, only the writer's");

    /* The owner's own, older by its claim, wins for the owner... */
    add_as(f, &owner, src, o);
    expect_latest(f, o, "owner");
    /* ...and for a reader without snapshots of its own (a current
     * owner's), whatever time the writer's claims. */
    act_as(f->v, &reader);
    expect_latest(f, o, "reader without its own");
    /* A reader's own snapshot is its latest, not the owner's. */
    add_as(f, &reader, src, r);
    redate_as(f, &reader, r, 1000);
    act_as(f->v, &reader);
    expect_latest(f, r, "reader with its own");
    /* The writer's view is the writer's own (were it able to read). */
    act_as(f->v, &writer);
    expect_latest(f, w, "writer");
    /* vault_extract of "latest" follows the same rule. */
    act_as(f->v, &owner);
    char out[PATH_MAX];
    test_fmt(out, sizeof out, "%s/out", f->base);
    err_log log = {0};
    vault_extract_result res;
    assert_vault_ok(extract_to(f->v, "latest", out, 0, NULL, 0, &log, &res));
    assert_int_equal(res.withheld, 0); /* its own: nothing withheld */
    log_free(&log);
}

/* ---- forget -------------------------------------------------------------- */

static void forget_keep_last_1(fx *f, unsigned group_by, size_t want_groups)
{
    vault_forget_options o;
    memset(&o, 0, sizeof o);
    o.keep_last = 1;
    o.group_by = group_by;
    vault_forget_result r;
    assert_vault_ok(vault_forget(f->v, &o, &r));
    assert_int_equal(r.n_groups, want_groups);
    assert_int_equal(r.n_removed, 0);
    vault_forget_result_free(&r);
}

static void test_forget_groups_by_author(void **state)
{
    fx *f = *state;
    test_author owner, writer;
    author_of_handle(f->v, &owner);
    member_new(f, ROLE_WRITER, &writer);
    char src[PATH_MAX], o1[65], w1[65], o2[65];
    make_src(f, "src", "hello\n", src);
    add_as(f, &owner, src, o1);
    add_as(f, &writer, src, w1);
    redate_as(f, &writer, w1, YEAR_2100);
    act_as(f->v, &owner);

    /* Same host and paths, two authors: keep-last 1 keeps both, by
     * default, by host alone and with no grouping at all. */
    forget_keep_last_1(f, 0, 2);
    forget_keep_last_1(f, VAULT_GROUP_HOST, 2);
    forget_keep_last_1(f, VAULT_GROUP_NONE, 2);

    /* A second snapshot of the owner's displaces the owner's first only. */
    add_as(f, &owner, src, o2);
    act_as(f->v, &owner);
    vault_forget_options o;
    memset(&o, 0, sizeof o);
    o.keep_last = 1;
    vault_forget_result r;
    assert_vault_ok(vault_forget(f->v, &o, &r));
    assert_int_equal(r.n_groups, 2);
    assert_int_equal(r.n_removed, 1);
    for (size_t i = 0; i < r.n_entries; i++)
        assert_int_equal(r.entries[i].removed,
                         strcmp(r.entries[i].snapshot->id, o1) == 0);
    vault_forget_result_free(&r);
    vault_snapshot_info *list;
    size_t n;
    assert_vault_ok(vault_snapshots(f->v, &list, &n));
    assert_int_equal(n, 2);
    find_info(list, n, w1);
    find_info(list, n, o2);
    vault_snapshots_free(list, n);
}

/* ---- extraction privileges ------------------------------------------------ */

/* Extracts id into base/<label> as root would (owners restored); the mode
 * of src/tool in *mode, the withheld count returned. */
static uint64_t extract_tool(fx *f, const char *id, const char *src,
                             const char *label, int same_privileges,
                             mode_t *mode)
{
    char out[PATH_MAX], path[PATH_MAX];
    test_fmt(out, sizeof out, "%s/%s", f->base, label);
    vault_extract_options o;
    vault_extract_options_init(&o);
    o.target_dir = out;
    o.restore_owner = 1;
    o.same_privileges = same_privileges;
    vault_extract_result res;
    assert_vault_ok(vault_extract(f->v, id, &o, &res));
    test_fmt(path, sizeof path, "%s%s/tool", out, src);
    struct stat st;
    if (lstat(path, &st) != 0)
        fail_msg("%s: not extracted", path);
    *mode = st.st_mode & 07777;
    return res.withheld;
}

static void test_extract_withholds_foreign_setuid(void **state)
{
    if (geteuid() != 0)
        skip(); /* set-uid bits are restored only with owners, as root */
    fx *f = *state;
    test_author owner, writer;
    author_of_handle(f->v, &owner);
    member_new(f, ROLE_WRITER, &writer);
    char src[PATH_MAX], tool[PATH_MAX], w[65], o[65];
    make_src(f, "src", "hello\n", src);
    test_fmt(tool, sizeof tool, "%s/tool", src);
    write_text(tool, "#!/bin/sh\n");
    assert_int_equal(chmod(tool, 04755), 0);
    add_as(f, &writer, src, w);
    add_as(f, &owner, src, o);
    act_as(f->v, &owner);

    mode_t mode;
    /* The writer's snapshot: no set-uid bit, counted as withheld. */
    uint64_t withheld = extract_tool(f, w, src, "w", 0, &mode);
    assert_int_equal(mode, 0755);
    assert_true(withheld >= 1);
    /* ...unless the owner trusts its author with it. */
    withheld = extract_tool(f, w, src, "w-same", 1, &mode);
    assert_int_equal(mode, 04755);
    assert_int_equal(withheld, 0);
    /* The owner's own snapshot keeps it. */
    withheld = extract_tool(f, o, src, "o", 0, &mode);
    assert_int_equal(mode, 04755);
    assert_int_equal(withheld, 0);
}

int main(void)
{
    if (vault_global_init() != VAULT_OK) {
        fprintf(stderr, "vault_global_init: %s\n", vault_last_error());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_info_shows_author, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_latest_by_author, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_forget_groups_by_author,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_extract_withholds_foreign_setuid,
                                        fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests_name("snapshot_authors", tests, NULL, NULL)
               ? 1
               : 0;
}
