/*
 * backup_example.c - embedding libvault: back up a folder, list the
 * snapshot, restore it.  It uses only vault.h; build it against an
 * installed library with
 *
 *     cc backup_example.c $(pkg-config --cflags --libs libvault) -o backup_example
 *
 * usage: backup_example FOLDER WORKDIR
 * creates WORKDIR/owner.key and the vault WORKDIR/vault, adds FOLDER to it,
 * lists the new snapshot's files, and restores them into WORKDIR/restored.
 * Exits 0 on success, 1 with a message on failure.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <vault.h>

/* Prints what failed: the library's detail for this thread if it has one,
 * else the code's text.  Returns 1, the exit status. */
static int fail(const char *what, vault_error rc)
{
    const char *detail = vault_last_error();
    fprintf(stderr, "backup_example: %s: %s\n", what,
            detail[0] ? detail : vault_strerror(rc));
    return 1;
}

/* vault_add calls this for each item it could not read; the add goes on. */
static void on_add_error(void *ctx, const char *path, const char *detail)
{
    (void)ctx;
    fprintf(stderr, "backup_example: skipped %s: %s\n", path, detail);
}

/* vault_ls calls this for each entry; returning non-zero would stop it. */
static int print_entry(void *ctx, const vault_file_info *info)
{
    unsigned *count = ctx;
    (*count)++;
    printf("%c %10" PRIu64 " %s\n", info->type == VAULT_DIR ? 'd' : '-',
           info->size, info->path);
    return 0;
}

/* Backs up, lists and restores with an open vault. */
static int backup_and_restore(vault_t *vault, const char *folder,
                              const char *restore_dir)
{
    vault_add_options add;
    vault_add_options_init(&add); /* zero: every default */
    const char *paths[] = {folder};
    add.paths = paths;
    add.n_paths = 1;
    add.cache_dir = ""; /* an example keeps no files cache */
    add.on_error = on_add_error;
    vault_add_result added;
    vault_error rc = vault_add(vault, &add, &added);
    if (rc != VAULT_OK)
        return fail("add", rc);
    printf("snapshot %s: %" PRIu64 " files, %" PRIu64 " bytes stored\n",
           added.snapshot_id, added.files, added.bytes_added);

    unsigned entries = 0;
    rc = vault_ls(vault, added.snapshot_id, "/", 1, print_entry, &entries);
    if (rc != VAULT_OK)
        return fail("ls", rc);

    vault_extract_options extract;
    vault_extract_options_init(&extract);
    extract.target_dir = restore_dir;
    vault_extract_result restored;
    rc = vault_extract(vault, added.snapshot_id, &extract, &restored);
    if (rc != VAULT_OK) /* VAULT_E_PARTIAL: some items failed */
        return fail("extract", rc);
    printf("restored %" PRIu64 " files, %" PRIu64 " bytes into %s\n",
           restored.files, restored.bytes, restore_dir);
    return entries > 0 ? 0 : fail("ls", VAULT_E_NOT_FOUND);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: backup_example FOLDER WORKDIR\n");
        return 2;
    }
    char key_path[4096], vault_path[4096], restore_dir[4096];
    snprintf(key_path, sizeof key_path, "%s/owner.key", argv[2]);
    snprintf(vault_path, sizeof vault_path, "%s/vault", argv[2]);
    snprintf(restore_dir, sizeof restore_dir, "%s/restored", argv[2]);

    vault_error rc = vault_global_init(); /* once, before anything else */
    if (rc != VAULT_OK)
        return fail("init", rc);

    /* An owner: a new identity, saved so that the vault can be opened
     * again later (with vault_identity_load). */
    vault_identity_t *owner = NULL;
    rc = vault_identity_generate(&owner);
    if (rc != VAULT_OK)
        return fail("keygen", rc);
    rc = vault_identity_save(owner, key_path, NULL, 0);
    if (rc == VAULT_OK)
        rc = vault_init(vault_path, vault_identity_recipient(owner));
    vault_t *vault = NULL;
    if (rc == VAULT_OK)
        rc = vault_open(vault_path, owner, &vault);
    if (rc != VAULT_OK) {
        int status = fail(vault_path, rc);
        vault_identity_free(owner);
        return status;
    }

    int status = backup_and_restore(vault, argv[1], restore_dir);
    vault_close(vault);
    vault_identity_free(owner);
    return status;
}
