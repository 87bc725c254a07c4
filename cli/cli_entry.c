/*
 * cli_entry.c - one entry of a snapshot as `ls` shows it (a path, a line
 * like ls -l, or a JSON object), for ls and find.
 */
#include <stdio.h>

#include "cli.h"

const char *cli_file_type_name(vault_file_type t)
{
    switch (t) {
    case VAULT_FILE: return "file";
    case VAULT_DIR: return "dir";
    case VAULT_SYMLINK: return "symlink";
    case VAULT_FIFO: return "fifo";
    case VAULT_CHARDEV: return "chardev";
    case VAULT_BLOCKDEV: return "blockdev";
    case VAULT_SOCKET: return "socket";
    }
    return "unknown";
}

static void mode_string(const vault_file_info *f, char out[11])
{
    static const char types[] = "?-dlpcbs";
    out[0] = types[f->type <= 7 ? f->type : 0];
    const char *rwx = "rwxrwxrwx";
    for (int i = 0; i < 9; i++)
        out[1 + i] = (f->mode & (0400u >> i)) ? rwx[i] : '-';
    if (f->mode & 04000)
        out[3] = out[3] == 'x' ? 's' : 'S';
    if (f->mode & 02000)
        out[6] = out[6] == 'x' ? 's' : 'S';
    if (f->mode & 01000)
        out[9] = out[9] == 'x' ? 't' : 'T';
    out[10] = '\0';
}

void cli_print_entry(cli_entry_format *c, const vault_file_info *f)
{
    if (c->json) {
        char t[48];
        fputs(c->first ? "[\n" : ",\n", stdout);
        c->first = 0;
        fputs("{\"path\":", stdout);
        cli_json_string(stdout, f->path);
        printf(",\"type\":\"%s\",\"mode\":%u,\"uid\":%u,\"gid\":%u,"
               "\"user\":",
               cli_file_type_name(f->type), (unsigned)f->mode, (unsigned)f->uid,
               (unsigned)f->gid);
        cli_json_string(stdout, f->user);
        fputs(",\"group\":", stdout);
        cli_json_string(stdout, f->group);
        printf(",\"size\":%llu,\"mtime\":\"%s\",\"nlink\":%u,\"inode\":%llu",
               (unsigned long long)f->size,
               cli_time_rfc3339(f->mtime_sec, f->mtime_nsec, t),
               (unsigned)f->nlink, (unsigned long long)f->inode);
        if (f->target) {
            fputs(",\"target\":", stdout);
            cli_json_string(stdout, f->target);
        }
        fputs("}", stdout);
        return;
    }
    if (c->long_format) {
        char mode[11], t[32], uid[16], gid[16];
        mode_string(f, mode);
        /* No name recorded: the number, as ls -l shows it. */
        snprintf(uid, sizeof uid, "%u", (unsigned)f->uid);
        snprintf(gid, sizeof gid, "%u", (unsigned)f->gid);
        printf("%s %-8s %-8s %12llu %s %s", mode,
               f->user[0] ? cli_text(f->user) : uid,
               f->group[0] ? cli_text(f->group) : gid,
               (unsigned long long)f->size, cli_time(f->mtime_sec, t),
               cli_text(f->path));
        if (f->target)
            printf(" -> %s", cli_text(f->target));
        putchar('\n');
    } else {
        cli_put_text(stdout, f->path, 0);
        putchar('\n');
    }
}

