/*
 * test_vectors.c - the implementation against format-spec/vectors/vault-v2:
 * the committed vault opens with the published key, lists exactly as
 * expected-ls.txt says, extracts to exactly files/, and every damage case
 * in damage.txt fails with its stated error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "format/snapshot.h"
#include "repo/membership.h"
#include "repo/repo.h"
#include "test_util.h"

#define VECTORS VAULT_SOURCE_DIR "/format-spec/vectors/vault-v2"

static vault_identity_t *load_key(const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", VECTORS, name);
    vault_identity_t *id = NULL;
    assert_vault_ok(vault_identity_load(path, NULL, &id));
    return id;
}

/* A private copy of the vault, so damage never touches the original. */
static char *copy_vault(char *dir)
{
    size_t size = strlen(dir) + 16;
    char *path = malloc(size);
    assert_non_null(path);
    snprintf(path, size, "%s/vault", dir);
    assert_int_equal(test_run("cp -a '%s/vault' '%s'", VECTORS, path), 0);
    return path;
}

typedef struct listing {
    char text[8192];
    size_t len;
} listing;

static int collect(void *ctx, const vault_file_info *f)
{
    listing *l = ctx;
    static const char *types[] = {"?", "file", "dir", "symlink", "fifo",
                                  "chardev", "blockdev", "socket"};
    l->len += (size_t)snprintf(l->text + l->len, sizeof l->text - l->len,
                               "%s %04o %llu %lld %s%s%s\n",
                               types[f->type <= 7 ? f->type : 0],
                               (unsigned)f->mode,
                               (unsigned long long)f->size,
                               (long long)f->mtime_sec, f->path,
                               f->target ? " -> " : "",
                               f->target ? f->target : "");
    return 0;
}

static void test_listing_and_extract(void **state)
{
    (void)state;
    char *dir = test_tempdir();
    char *vpath = copy_vault(dir);
    vault_identity_t *owner = load_key("owner.key");
    vault_t *v = NULL;
    assert_vault_ok(vault_open(vpath, owner, &v));
    assert_int_equal(vault_member_role(v), VAULT_ROLE_OWNER);

    listing l = {0};
    vault_snapshot_info *snaps;
    size_t n;
    assert_vault_ok(vault_snapshots(v, &snaps, &n));
    for (size_t i = 0; i < n; i++) {
        l.len += (size_t)snprintf(l.text + l.len, sizeof l.text - l.len,
                                  "snapshot %s %lld %s %s", snaps[i].id,
                                  (long long)snaps[i].time_sec,
                                  snaps[i].hostname, snaps[i].username);
        for (size_t j = 0; j < snaps[i].n_paths; j++)
            l.len += (size_t)snprintf(l.text + l.len, sizeof l.text - l.len,
                                      " %s", snaps[i].paths[j]);
        for (size_t j = 0; j < snaps[i].n_tags; j++)
            l.len += (size_t)snprintf(l.text + l.len, sizeof l.text - l.len,
                                      "%s%s", j ? "," : " ", snaps[i].tags[j]);
        l.len += (size_t)snprintf(l.text + l.len, sizeof l.text - l.len, "\n");
    }
    vault_snapshots_free(snaps, n);
    assert_vault_ok(vault_ls(v, "latest", NULL, 1, collect, &l));

    size_t expected_len;
    char *expected = (char *)test_read_file(VECTORS "/expected-ls.txt",
                                            &expected_len);
    if (l.len != expected_len || memcmp(l.text, expected, l.len) != 0)
        fail_msg("listing differs.\nexpected:\n%.*s\ngot:\n%.*s",
                 (int)expected_len, expected, (int)l.len, l.text);
    free(expected);

    char target[4096];
    snprintf(target, sizeof target, "%s/out", dir);
    vault_extract_options o = {.target_dir = target};
    vault_extract_result r;
    assert_vault_ok(vault_extract(v, "latest", &o, &r));
    assert_int_equal(r.files, 4);
    assert_int_equal(
        test_run("diff -r '%s/files/data' '%s/data' >&2 && "
                 "test \"$(readlink '%s/data/link')\" = hello.txt",
                 VECTORS, target, target),
        0);
    vault_close(v);
    vault_identity_free(owner);
    free(vpath);
    test_rmtree(dir);
}

static vault_error code_by_name(const char *name)
{
    static const struct {
        const char *name;
        vault_error code;
    } codes[] = {{"VAULT_E_CORRUPT", VAULT_E_CORRUPT},
                 {"VAULT_E_UNSUPPORTED", VAULT_E_UNSUPPORTED},
                 {"VAULT_E_NOT_MEMBER", VAULT_E_NOT_MEMBER},
                 {"VAULT_E_NOT_FOUND", VAULT_E_NOT_FOUND},
                 {"VAULT_E_PARTIAL", VAULT_E_PARTIAL},
                 {"VAULT_E_PERMISSION", VAULT_E_PERMISSION}};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(codes[i].name, name) == 0)
            return codes[i].code;
    fail_msg("unknown error name %s in damage.txt", name);
    return VAULT_OK;
}

static void ignore_error(void *ctx, const char *path, vault_error code,
                         const char *detail)
{
    (void)ctx;
    (void)path;
    (void)code;
    (void)detail;
}

static int ignore_file(void *ctx, const vault_file_info *f)
{
    (void)ctx;
    (void)f;
    return 0;
}

/* Runs one operation on the (damaged) vault; returns the first error. */
static vault_error run_operation(const char *vpath, const char *dir,
                                 const char *op)
{
    vault_identity_t *id =
        load_key(strcmp(op, "open-stranger") == 0 ? "stranger.key"
                                                   : "owner.key");
    vault_t *v = NULL;
    /* A client that never saw the vault: with the cache an earlier
     * test's open of the intact vault left (the user's own, under HOME),
     * the index would come from there, never reading the damaged
     * segment. */
    char cache[4096];
    snprintf(cache, sizeof cache, "%s/cache", dir);
    vault_storage_options options;
    vault_storage_options_init(&options);
    options.cache_dir = cache;
    vault_error rc = vault_open_at(vpath, &options, id, &v);
    vault_identity_free(id);
    if (rc != VAULT_OK || strncmp(op, "open", 4) == 0) {
        vault_close(v);
        return rc;
    }
    vault_snapshot_info *snaps;
    size_t n;
    rc = vault_snapshots(v, &snaps, &n);
    /* A damaged snapshot is listed as such (not an error): the damage
     * vector still expects it found, as VAULT_E_CORRUPT. */
    for (size_t i = 0; rc == VAULT_OK && i < n; i++)
        if (snaps[i].damage)
            rc = VAULT_E_CORRUPT;
    if (rc == VAULT_OK || rc == VAULT_E_CORRUPT)
        vault_snapshots_free(snaps, n);
    if (rc == VAULT_OK && strcmp(op, "snapshots") != 0)
        rc = vault_ls(v, "latest", NULL, 1, ignore_file, NULL);
    if (rc == VAULT_OK && strcmp(op, "extract") == 0) {
        char target[4096];
        snprintf(target, sizeof target, "%s/out", dir);
        vault_extract_options o = {.target_dir = target,
                                   .on_error = ignore_error};
        vault_extract_result r;
        rc = vault_extract(v, "latest", &o, &r);
    }
    vault_close(v);
    return rc;
}

static void test_damage_cases(void **state)
{
    (void)state;
    size_t len;
    char *text = (char *)test_read_file(VECTORS "/damage.txt", &len);
    text = realloc(text, len + 1);
    text[len] = '\0';
    int cases = 0;
    for (char *line = text, *next; *line; line = next) {
        next = line + strcspn(line, "\n");
        if (*next)
            *next++ = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char name[64], object[256], offset[32], xor_hex[8], op[32],
            expect[64];
        if (sscanf(line, "%63s %255s %31s %7s %31s %63s", name, object,
                   offset, xor_hex, op, expect) != 6)
            fail_msg("bad damage line: %s", line);
        char *dir = test_tempdir();
        char *vpath = copy_vault(dir);
        char obj_path[4096];
        snprintf(obj_path, sizeof obj_path, "%s/%s", vpath, object);
        if (strcmp(offset, "delete") == 0) {
            assert_int_equal(remove(obj_path), 0);
        } else if (strcmp(offset, "-") != 0) {
            size_t olen;
            uint8_t *data = test_read_file(obj_path, &olen);
            size_t at = strtoul(offset, NULL, 10);
            assert_true(at < olen);
            data[at] ^= (uint8_t)strtoul(xor_hex, NULL, 16);
            assert_int_equal(chmod(obj_path, 0644), 0);
            test_write_file(obj_path, data, olen);
            free(data);
        }
        vault_error want = code_by_name(expect);
        vault_error got = run_operation(vpath, dir, op);
        if (got != want)
            fail_msg("damage case %s: expected %s, got %s (%d): %s", name,
                     expect, vault_strerror(got), got, vault_last_error());
        printf("damage case %-18s -> %s: %s\n", name, expect,
               vault_last_error());
        cases++;
        free(vpath);
        test_rmtree(dir);
    }
    free(text);
    assert_true(cases >= 10);
}

/* roles/: what each identity may do in a shared vault with a rotated key
 * epoch, as roles/expected.txt says. */
typedef struct file_probe {
    const char *path;
    int found;
} file_probe;

static vault_t *roles_open(const char *dir, const char *who,
                           const char *forged_case, vault_error *rc_out)
{
    /* "roles/bob.key+envelope": bob with his removed envelope put back */
    char key[256];
    snprintf(key, sizeof key, "%s", who);
    char *plus = strchr(key, '+');
    char vpath[4096];
    snprintf(vpath, sizeof vpath, "%s/roles-%s", dir, plus ? "old" : "cur");
    if (test_run("test -d '%s' || cp -a '%s/roles/vault' '%s'", vpath,
                 VECTORS, vpath) != 0)
        fail_msg("cannot copy the roles vault");
    /* forged/<case>/ holds only the objects the attacker adds */
    if (forged_case &&
        test_run("cp -R '%s/forged/%s/.' '%s'", VECTORS, forged_case,
                 vpath) != 0)
        fail_msg("cannot add forged/%s to the roles vault", forged_case);
    if (plus) {
        *plus = '\0';
        assert_int_equal(
            test_run("cd '%s/keys' && cp '%s/roles/bob-envelope.age' x && "
                     "mv x \"$(sha256sum x | cut -c1-64)\"",
                     vpath, VECTORS),
            0);
    }
    vault_identity_t *id = load_key(key);
    vault_t *v = NULL;
    *rc_out = vault_open(vpath, id, &v);
    vault_identity_free(id);
    return v;
}

/* check's report of one object, for lock-ignored */
typedef struct lock_probe {
    char object[128];
    int warned;
} lock_probe;

static void probe_problem(void *ctx, const vault_check_problem *p)
{
    lock_probe *l = ctx;
    if (strcmp(p->object, l->object) == 0 && p->warning &&
        strstr(p->what, "not an owner"))
        l->warned = 1;
}

/* The operations only forged/expected.txt uses; 0 if op is none of
 * them. */
static int forged_expect(vault_t *v, const char *who, const char *op,
                         const char *a, const char *b, const char *c)
{
    if (strcmp(op, "latest") == 0) {
        char id[65];
        assert_vault_ok(vault_snapshot_resolve(v, "latest", id));
        if (strcmp(id, a) != 0)
            fail_msg("%s: latest is %.8s, expected %.8s", who, id, a);
    } else if (strcmp(op, "author") == 0) {
        /* the author a listing shows: its recipient and standing */
        snapshot_record rec;
        memset(&rec, 0, sizeof rec);
        assert_vault_ok(vlt_repo_snapshot_load(v, a, &rec));
        const member_entry *m = vlt_membership_find(v->members, rec.author);
        if (!m)
            fail_msg("%s: the author of %.8s is not in the log", who, a);
        assert_string_equal(m->recipient, b);
        assert_string_equal(
            vlt_author_standing_name(
                vlt_membership_standing(v->members, rec.author)),
            c);
        vlt_snapshot_clear(&rec);
    } else if (strcmp(op, "snapshot-damaged") == 0) {
        vault_snapshot_info *s;
        size_t ns;
        int seen = 0;
        assert_vault_ok(vault_snapshots(v, &s, &ns));
        for (size_t i = 0; i < ns; i++)
            if (strcmp(s[i].id, a) == 0) {
                seen = 1;
                if (!s[i].damage || s[i].readable)
                    fail_msg("%s: snapshot %.8s is not listed as damaged",
                             who, a);
            }
        vault_snapshots_free(s, ns);
        assert_true(seen);
        /* loading it fails as forged */
        snapshot_record rec;
        memset(&rec, 0, sizeof rec);
        assert_int_equal(vlt_repo_snapshot_load(v, a, &rec), VAULT_E_CORRUPT);
        vlt_snapshot_clear(&rec);
    } else if (strcmp(op, "lock-ignored") == 0) {
        lock_probe l = {.warned = 0};
        snprintf(l.object, sizeof l.object, "locks/%s", a);
        vault_check_options o;
        vault_check_options_init(&o);
        o.on_problem = probe_problem;
        o.on_problem_ctx = &l;
        vault_check_result r;
        vault_error rc = vault_check(v, &o, &r);
        if (rc != VAULT_OK)
            fail_msg("%s: check: %s", who, vault_last_error());
        if (!l.warned)
            fail_msg("%s: check does not report %s as a prune mark by a "
                     "non-owner",
                     who, l.object);
    } else if (strcmp(op, "marker-stale") == 0) {
        /* the marker decodes (with its process part), is of another
         * machine, and is older than a day: unlock would remove it */
        vault_unlock_options o;
        vault_unlock_options_init(&o);
        o.dry_run = 1;
        o.cache_dir = "";
        vault_unlock_result r;
        assert_vault_ok(vault_unlock(v, &o, &r));
        if (r.removed != 1 || r.kept_running || r.kept_elsewhere ||
            r.kept_others)
            fail_msg("%s: unlock would remove %llu markers (kept %llu, "
                     "%llu, %llu), expected locks/%.8s alone",
                     who, (unsigned long long)r.removed,
                     (unsigned long long)r.kept_running,
                     (unsigned long long)r.kept_elsewhere,
                     (unsigned long long)r.kept_others, a);
    } else {
        return 0;
    }
    return 1;
}

/* Opens the roles vault (with forged/<forged_case>/ added, if given) as
 * who and checks one expectation: op with its arguments args (the rest of
 * the line; see vectors/README.md). */
static void roles_expect(const char *forged_case, const char *who,
                         const char *op, const char *args)
{
    char a[256] = "", b[256] = "", c[256] = "";
    int n = sscanf(args, "%255s %255s %255s", a, b, c);
    assert_true(n >= 1);
    const char *line = args;
    char *dir = test_tempdir();
    vault_error rc;
    vault_t *v = roles_open(dir, who, forged_case, &rc);
    if (strcmp(op, "open") == 0) {
        if (rc != code_by_name(a))
            fail_msg("%s: open: expected %s, got %s: %s", who, a,
                     vault_strerror(rc), vault_last_error());
    } else {
        if (rc != VAULT_OK)
            fail_msg("%s: open: %s", who, vault_last_error());
        if (strcmp(op, "role") == 0) {
            assert_string_equal(vault_role_name(vault_member_role(v)), a);
        } else if (strcmp(op, "members") == 0) {
            vault_member_info *m;
            size_t nm, hits = 0;
            assert_vault_ok(vault_members(v, &m, &nm));
            for (size_t i = 0; i < nm; i++)
                if (strcmp(m[i].member, a) == 0 &&
                    strcmp(vault_role_name(m[i].role), b) == 0 &&
                    m[i].epochs == strtoul(c, NULL, 10))
                    hits++;
            assert_int_equal(nm, 2);
            if (hits != 1)
                fail_msg("%s: no member %s %s %s", who, a, b, c);
            vault_members_free(m, nm);
        } else if (strcmp(op, "log") == 0) {
            if (vault_membership_seq(v) != strtoull(a, NULL, 10))
                fail_msg("%s: membership log ends at record %llu, "
                         "expected %s", who,
                         (unsigned long long)vault_membership_seq(v), a);
        } else if (strcmp(op, "fingerprint") == 0) {
            char fp[VAULT_FINGERPRINT_CHARS + 1];
            vault_fingerprint(v, fp);
            assert_string_equal(fp, a);
        } else if (strcmp(op, "count") == 0) {
            size_t count;
            assert_vault_ok(vault_snapshot_count(v, &count));
            assert_int_equal(count, strtoul(a, NULL, 10));
        } else if (strcmp(op, "readable") == 0 ||
                   strcmp(op, "unreadable") == 0 ||
                   strcmp(op, "snapshots") == 0) {
            vault_snapshot_info *s;
            size_t ns;
            rc = vault_snapshots(v, &s, &ns);
            if (strcmp(op, "snapshots") == 0) {
                if (rc != code_by_name(a))
                    fail_msg("%s: snapshots: expected %s, got %s", who, a,
                             vault_strerror(rc));
            } else {
                assert_vault_ok(rc);
                int want = strcmp(op, "readable") == 0;
                const char *ids[2] = {a, b};
                for (int k = 0; k < 2 && ids[k][0]; k++) {
                    int seen = 0;
                    for (size_t i = 0; i < ns; i++)
                        if (strcmp(s[i].id, ids[k]) == 0) {
                            seen = 1;
                            if (s[i].readable != want)
                                fail_msg("%s: snapshot %.8s readable=%d",
                                         who, ids[k], s[i].readable);
                        }
                    assert_true(seen);
                }
                vault_snapshots_free(s, ns);
            }
        } else if (strcmp(op, "file") == 0) {
            /* file SNAP PATH CONTENT...: extract, compare */
            const char *content = strstr(line, b) + strlen(b) + 1;
            char target[4200];
            snprintf(target, sizeof target, "%s/out", dir);
            vault_extract_options o = {.target_dir = target};
            vault_extract_result r;
            assert_vault_ok(vault_extract(v, a, &o, &r));
            char path[4600];
            snprintf(path, sizeof path, "%s%s", target, b);
            size_t flen;
            uint8_t *got = test_read_file(path, &flen);
            if (flen != strlen(content) + 1 ||
                memcmp(got, content, strlen(content)) != 0 ||
                got[flen - 1] != '\n')
                fail_msg("%s: %s in %.8s differs", who, b, a);
            free(got);
        } else if (!forged_expect(v, who, op, a, b, c)) {
            fail_msg("unknown operation %s in the vectors", op);
        }
    }
    vault_close(v);
    test_rmtree(dir);
}

/* Checks each expectation of an expected.txt (comments and blank lines
 * skipped): `[<case>] <identity> <operation> <arguments>`, the case
 * (forged/ only) naming the objects added to the roles vault.  Returns
 * how many there were. */
static int check_expectations(const char *file, int with_case)
{
    size_t len;
    char *text = (char *)test_read_file(file, &len);
    text = realloc(text, len + 1);
    text[len] = '\0';
    int lines = 0;
    for (char *line = text, *next; *line; line = next) {
        next = line + strcspn(line, "\n");
        if (*next)
            *next++ = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char name[64] = "", who[128], op[32];
        int used = 0;
        if (with_case)
            assert_int_equal(
                sscanf(line, "%63s %127s %31s %n", name, who, op, &used), 3);
        else
            assert_int_equal(sscanf(line, "%127s %31s %n", who, op, &used),
                             2);
        printf("%s %s %s\n", name, who, op);
        roles_expect(with_case ? name : NULL, who, op, line + used);
        lines++;
    }
    free(text);
    return lines;
}

static void test_roles(void **state)
{
    (void)state;
    assert_true(check_expectations(VECTORS "/roles/expected.txt", 0) >= 12);
}

/* forged/: each case's objects, crafted with the writer's secrets only,
 * added to the roles vault; forged/expected.txt says what must come of
 * them. */
static void test_forged(void **state)
{
    (void)state;
    assert_true(check_expectations(VECTORS "/forged/expected.txt", 1) >= 16);
}

int main(void)
{
    if (vault_global_init() != VAULT_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listing_and_extract),
        cmocka_unit_test(test_damage_cases),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_forged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
