/*
 * main.c - `vault`: dispatches to one file per command (cmd_*.c).
 */
#include <getopt.h>
#include <locale.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const cli_command commands[] = {
    {"keygen", "create an identity (an age X25519 key)", cmd_keygen,
     "usage: vault keygen [-o FILE] [--passphrase] [--passphrase-file FILE]\n"
     "       vault keygen -y [-i FILE]\n"
     "\n"
     "Creates a new identity in age's identity-file format and prints its\n"
     "public key (age1...). Without -o the identity goes to standard output.\n"
     "The file is created with mode 0600 (missing folders on the way 0700)\n"
     "and never replaces an existing one.\n"
     "\n"
     "  -o, --output FILE        write the identity to FILE\n"
     "  --passphrase             protect the file with a passphrase: it is then\n"
     "                           an age scrypt file (age -d opens it)\n"
     "  --passphrase-file FILE   read the passphrase from FILE's first line\n"
     "                           (with -o: implies --passphrase)\n"
     "  -y                       print the public key of an identity\n"
     "  -i, --identity FILE      the identity for -y (default: standard input,\n"
     "                           or $VAULT_IDENTITY)\n"
     "\n"
     "The passphrase comes from --passphrase-file, then $VAULT_PASSPHRASE,\n"
     "then a prompt on the terminal.\n"},
    {"init", "create a vault", cmd_init,
     "usage: vault init VAULT (-i IDENTITY | -r RECIPIENT)\n"
     "\n"
     "Creates a vault in directory VAULT (absent or empty), or at a\n"
     "location (rest:, rclone:, s3:; see `vault help`), and makes the\n"
     "identity's public key, or RECIPIENT (age1... or an \"ssh-ed25519\n"
     "AAAA...\" or \"ssh-rsa AAAA...\" line), its first owner. With\n"
     "-r the owner's secret key never needs to be on this machine.\n"
     "Prints the vault's fingerprint and pins it (see `vault help`).\n"
     "Missing folders on the way to a local VAULT are made (mode 0700).\n"
     "\n"
     "  -i, --identity FILE      the owner's identity (or $VAULT_IDENTITY)\n"
     "  -r, --recipient KEY      the owner's public key\n"
     "  --passphrase-file FILE   passphrase of a protected identity\n"},
    {"add", "back up files and directories as a snapshot", cmd_add,
     "usage: vault add [VAULT] PATH... [options]\n"
     "       vault add [VAULT] --stdin [--stdin-filename NAME] [options]\n"
     "       vault add [VAULT] --tar FILE|- [options]\n"
     "\n"
     "Backs up the paths as one snapshot and prints its ID and a summary.\n"
     "Unchanged files (same size, mtime, ctime, inode) are not read again.\n"
     "Exclude patterns are restic's, matched against each absolute path:\n"
     "'*', '?', '[...]' within one name, '**' for any number of folders,\n"
     "a leading '/' anchors at the root (else any depth matches:\n"
     "'Documents/taxes'), a trailing '/' matches folders only, a leading\n"
     "'!' includes again what an earlier pattern excluded. The paths\n"
     "given are never excluded. A pattern that matches nothing is warned\n"
     "about.\n"
     "\n"
     "  -i, --identity FILE      a member's identity (or $VAULT_IDENTITY)\n"
     "  --passphrase-file FILE   passphrase of a protected identity\n"
     "  -t, --tag TAG            tag the snapshot (repeatable)\n"
     "  -e, --exclude PATTERN    leave out what PATTERN matches (repeatable)\n"
     "  --iexclude PATTERN       the same, ignoring case (repeatable)\n"
     "  --exclude-file FILE      patterns from FILE, one a line: '#'\n"
     "                           comments, $VAR expanded (repeatable)\n"
     "  --iexclude-file FILE     the same, ignoring case (repeatable)\n"
     "  --exclude-caches         keep only CACHEDIR.TAG of a tagged folder\n"
     "  --exclude-if-present NAME[:HEADER]\n"
     "                           keep only NAME of a folder holding a file\n"
     "                           NAME (starting with HEADER) (repeatable)\n"
     "  --exclude-larger-than SIZE  leave out files larger than SIZE\n"
     "                           (bytes, or with k, M, G, T: 1024s)\n"
     "  --files-from FILE        back up what FILE lists: globs, one a line,\n"
     "                           '#' comments (\"-\": stdin; repeatable)\n"
     "  --files-from-verbatim FILE  paths, one a line, taken as they are\n"
     "  --files-from-raw FILE    paths, each ended by a NUL byte (find\n"
     "                           -print0)\n"
     "  -n, --dry-run            read and count, write nothing to the vault\n"
     "  -v, --verbose            list each entry as it is added (or would\n"
     "                           be, with --dry-run)\n"
     "  --stdin                  back up standard input as one file\n"
     "  --stdin-filename NAME    its name in the snapshot (default stdin)\n"
     "  --tar FILE|-             import a tar, pax, cpio or zip archive's\n"
     "                           entries (compressed or not; \"-\": stdin)\n"
     "                           as the snapshot, without unpacking it\n"
     "  -x, --one-file-system    do not cross file system boundaries\n"
     "  --compression LEVEL|off  zstd level 1..19 (default 3) or off\n"
     "  --threads N              worker threads (default: one per core)\n"
     "  --no-cache               read every file; keep no files cache\n"
     "  --host NAME              record NAME as the host\n"
     "  --json                   print the summary as JSON\n"},
    {"ls", "list snapshots, or the files in one", cmd_ls,
     "usage: vault ls [VAULT] [options]\n"
     "       vault ls [VAULT] SNAP[:PATH] [options]\n"
     "       vault ls [VAULT] SNAP PATH [options]\n"
     "\n"
     "Without SNAP, lists the snapshots oldest first: ID, time, host,\n"
     "author (its role and recipient), paths, tags; a damaged or forged\n"
     "snapshot object is listed as such, named on stderr, and the exit\n"
     "code is 3. With SNAP (an ID prefix or \"latest\": the newest this\n"
     "member wrote, else the newest an owner wrote, else the newest),\n"
     "lists the entries of PATH in it (default: the root). Paths start at\n"
     "the snapshot's root: \"home/ann\" is \"/home/ann\".\n"
     "Control characters and bytes that are not UTF-8 in names, hosts,\n"
     "tags and targets are shown as \\xHH, a backslash as \\\\ (JSON\n"
     "output is exact).\n"
     "\n"
     "  -i, --identity FILE      a member's identity (or $VAULT_IDENTITY)\n"
     "  --passphrase-file FILE   passphrase of a protected identity\n"
     "  -l, --long               mode, owner, size and mtime\n"
     "  -R, --recursive          descend into directories\n"
     "  --json                   JSON output\n"
     "  --host HOST              \"latest\" among HOST's snapshots\n"
     "  --path PATH              ... among those that hold PATH (again:\n"
     "                           all of them)\n"
     "  --tag T[,T...]           ... among those with every tag T (again:\n"
     "                           or these)\n"},
    {"extract", "restore a snapshot", cmd_extract,
     "usage: vault extract [VAULT] SNAP[:FROM] [PATH...] (-C DIR | --tar FILE)\n"
     "\n"
     "Restores snapshot SNAP (an ID prefix or \"latest\"), or only PATHs in\n"
     "it, into DIR, or writes it as a pax tar stream (FILE \"-\": standard\n"
     "output). PATHs keep their place below DIR (/home/ann/x is restored\n"
     "as DIR/home/ann/x). SNAP:FROM restores what the folder FROM holds at\n"
     "DIR's root, as restic does (a file FROM: DIR/its name); PATHs are\n"
     "then below FROM. Files are written under temporary names and renamed after\n"
     "all their data verified; nothing is written outside DIR. A damaged\n"
     "object is reported with the files it affects and the rest goes on.\n"
     "Another member's snapshot is named with its author first.\n"
     "Run again into the same DIR, it resumes: an interrupted run's\n"
     "temporary files (NAME.vault-tmp-*) are removed, entries already as\n"
     "in the snapshot (same size and mtime, same symlink target) are left\n"
     "alone, and others in the way are reported (exit 3).\n"
     "\n"
     "  -i, --identity FILE      a member's identity (or $VAULT_IDENTITY)\n"
     "  --passphrase-file FILE   passphrase of a protected identity\n"
     "  -C, --target DIR         restore into DIR\n"
     "  --tar FILE               write a tar stream instead (FILE mode 0600)\n"
     "  --overwrite              replace whatever is in the way\n"
     "  --same-privileges        restore set-id bits, capabilities and\n"
     "                           devices of another member's snapshot\n"
     "  -e, --exclude PATTERN    leave out what PATTERN matches (add's\n"
     "                           patterns, on snapshot paths; repeatable)\n"
     "  --iexclude PATTERN       the same, ASCII case ignored\n"
     "  --include PATTERN        restore only what PATTERN matches, and the\n"
     "                           folders on the way (repeatable)\n"
     "  --iinclude PATTERN       the same, ASCII case ignored\n"
     "  --host HOST              \"latest\" among HOST's snapshots\n"
     "  --path PATH              ... among those that hold PATH (again:\n"
     "                           all of them)\n"
     "  --tag T[,T...]           ... among those with every tag T (again:\n"
     "                           or these)\n"},
    {"diff", "show what changed between two snapshots", cmd_diff,
     "usage: vault diff [VAULT] SNAP1 SNAP2 [options]\n"
     "\n"
     "Lists what changed from snapshot SNAP1 to SNAP2, path by path:\n"
     "  +  only in SNAP2 (added)        -  only in SNAP1 (removed)\n"
     "  M  content changed              U  only metadata changed (mode,\n"
     "  T  type changed                    owner, times, xattrs)\n"
     "then how many of each, with the sizes of the files. Folders that\n"
     "are the same are skipped unread, so it takes time in proportion to\n"
     "what changed.\n"
     "\n"
     "  -i, --identity FILE      a member's identity (or $VAULT_IDENTITY)\n"
     "  --passphrase-file FILE   passphrase of a protected identity\n"
     "  --json                   one JSON object a line: each change, then\n"
     "                           the statistics (as restic's diff --json)\n"
     "  --host HOST              \"latest\" among HOST's snapshots\n"
     "  --path PATH              ... among those that hold PATH (again:\n"
     "                           all of them)\n"
     "  --tag T[,T...]           ... among those with every tag T (again:\n"
     "                           or these)\n"},
    {"tag", "add, remove or set tags of snapshots (owners only)", cmd_tag,
     "usage: vault tag [VAULT] SNAP... (--add T | --remove T | --set T)...\n"
     "\n"
     "Changes the tags of each snapshot SNAP (an ID prefix or \"latest\",\n"
     "resolved before any is changed). T is one tag or several separated\n"
     "by commas; each option may be repeated. --set replaces the tags\n"
     "(--set \"\" removes them all), then --add and --remove apply. A\n"
     "snapshot object cannot change: a new one is written with the new\n"
     "tags and the old one removed, as forget does; the new ID is shown.\n"
     "Only an owner's own snapshots can be retagged: another member's\n"
     "stays as its author signed it.\n"
     "\n"
     "  -i, --identity FILE      an owner's identity (or $VAULT_IDENTITY)\n"
     "  --passphrase-file FILE   passphrase of a protected identity\n"
     "  --add T[,T...]           tags to add\n"
     "  --remove T[,T...]        tags to remove\n"
     "  --set T[,T...]           the tags, replacing those it has\n"},
    {"find", "find files by name or pattern in snapshots", cmd_find,
     "usage: vault find [VAULT] PATTERN... [options]\n"
     "\n"
     "Lists the entries of every snapshot this member can read (or those\n"
     "given with --snapshot, or let through by --host, --path, --tag)\n"
     "whose path a PATTERN matches, snapshot by snapshot, oldest first.\n"
     "Patterns are add's exclude patterns (restic's): `*`, `?` and `[...]`\n"
     "within a name, `**` across folders, a leading `/` anchors at the\n"
     "root, a trailing `/` matches folders only; a pattern without `/`\n"
     "matches a name anywhere (\"*.jpg\", \"Documents\"). The exit code is\n"
     "1 when nothing matched. It visits every entry of the snapshots\n"
     "searched.\n"
     "\n"
     "  -i, --identity FILE      a member's identity (or $VAULT_IDENTITY)\n"
     "  --passphrase-file FILE   passphrase of a protected identity\n"
     "  -s, --snapshot SNAP      search SNAP (repeatable; default: all)\n"
     "  --ignore-case            ASCII letters match either case\n"
     "  -l, --long               mode, owner, size and mtime\n"
     "  --json                   JSON output\n"
     "  --host HOST              only snapshots of host HOST\n"
     "  --path PATH              only snapshots that hold PATH\n"
     "  --tag T[,T...]           only snapshots with every tag T (again:\n"
     "                           or these)\n"},
    {"stats", "show sizes and deduplication of snapshots", cmd_stats,
     "usage: vault stats [VAULT] [SNAP...] [options]\n"
     "\n"
     "For each snapshot SNAP (default: every one this member can read):\n"
     "its entries, its restore size (the file bytes extract writes), the\n"
     "distinct chunks its files use and what they take stored\n"
     "(compressed and encrypted); then the total, with what the\n"
     "snapshots share counted once, the ratio of restore size to stored\n"
     "size, and what every blob in the vault's packs takes. It visits\n"
     "every entry of every snapshot named.\n"
     "\n"
     "  -i, --identity FILE      a member's identity (or $VAULT_IDENTITY)\n"
     "  --passphrase-file FILE   passphrase of a protected identity\n"
     "  --json                   JSON output\n"},
    {"dump", "write a file of a snapshot to standard output", cmd_dump,
     "usage: vault dump [VAULT] SNAP:PATH [options]\n"
     "       vault dump [VAULT] SNAP PATH [options]\n"
     "\n"
     "Writes the content of file PATH of snapshot SNAP (an ID prefix or\n"
     "\"latest\") to standard output; a folder (\"/\": the whole snapshot)\n"
     "as a pax tar stream of what it holds. Every byte is verified before\n"
     "it is written; a damaged chunk stops it with an error naming it.\n"
     "\n"
     "  -i, --identity FILE      a member's identity (or $VAULT_IDENTITY)\n"
     "  --passphrase-file FILE   passphrase of a protected identity\n"
     "  --host HOST              \"latest\" among HOST's snapshots\n"
     "  --path PATH              ... among those that hold PATH (again:\n"
     "                           all of them)\n"
     "  --tag T[,T...]           ... among those with every tag T (again:\n"
     "                           or these)\n"},
    {"share", "give recipients access (owners only)", cmd_share,
     "usage: vault share [VAULT] RECIPIENT... [-R FILE] [--role ROLE]\n"
     "\n"
     "Gives each recipient a signing key and an envelope, and records it\n"
     "in the signed membership log: an age1... key, an \"ssh-ed25519\n"
     "AAAA...\" or \"ssh-rsa AAAA...\" (2048 to 4096 bits) public key\n"
     "line, or the lines of FILE (age's\n"
     "recipients-file format). Sharing with a member again changes its\n"
     "role. Roles:\n"
     "  owner   everything, including share, unshare and rekey\n"
     "  reader  ls, extract and add (the default)\n"
     "  writer  add only: it can back up but read nothing\n"
     "\n"
     "  -i, --identity FILE         an owner's identity\n"
     "  --passphrase-file FILE   passphrase of a protected identity\n"
     "  -R, --recipients-file FILE  recipients, one a line\n"
     "  --role ROLE                 owner, reader or writer\n"},
    {"members", "list the members and their roles", cmd_members,
     "usage: vault members [VAULT] [--json]\n"
     "\n"
     "Lists each member of the membership log with its role, when it was\n"
     "added, the start of its signing key, and its public key. Any member\n"
     "can list.\n"
     "\n"
     "  -i, --identity FILE      a member's identity (or $VAULT_IDENTITY)\n"
     "  --passphrase-file FILE   passphrase of a protected identity\n"
     "  --json                   JSON output\n"},
    {"unshare", "remove members and rotate keys (owners only)", cmd_unshare,
     "usage: vault unshare [VAULT] RECIPIENT... [-R FILE]\n"
     "\n"
     "Removes the members from the membership log, deletes their\n"
     "envelopes, and starts a new key epoch whose\n"
     "secrets go to the remaining members only: data added afterwards\n"
     "cannot be read by the removed members, even with the raw vault\n"
     "files. What it cannot do: take back data they already fetched, or\n"
     "the older epochs' keys they had; older data stays readable to them\n"
     "until `vault rekey` re-seals it.\n"
     "\n"
     "  -i, --identity FILE      an owner's identity (or $VAULT_IDENTITY)\n"
     "  --passphrase-file FILE   passphrase of a protected identity\n"},
    {"rekey", "re-seal older data in the current key epoch", cmd_rekey,
     "usage: vault rekey [VAULT]\n"
     "\n"
     "Re-encrypts every pack, index segment and snapshot of older key\n"
     "epochs in the current one and deletes the old objects, so removed\n"
     "members' old secrets open nothing in the vault. Snapshot IDs change.\n"
     "Do not run it while other machines add to the vault.\n"
     "\n"
     "  -i, --identity FILE      an owner's identity (or $VAULT_IDENTITY)\n"
     "  --passphrase-file FILE   passphrase of a protected identity\n"},
    {"forget", "remove snapshots, named or by policy (owners only)",
     cmd_forget,
     "usage: vault forget [VAULT] SNAP...\n"
     "       vault forget [VAULT] --keep-* N... [--keep-tag T] [options]\n"
     "\n"
     "Removes the named snapshots (ID prefixes or \"latest\"), or those a\n"
     "policy does not keep, and lists what it keeps (with the rules that\n"
     "keep each) and what it removes. Snapshots are grouped by author and\n"
     "by host and paths (one member's never displace another's), and the\n"
     "policy applies to each group: for each calendar rule the snapshots\n"
     "fall into buckets by local time, and the newest snapshot of each of\n"
     "the N newest buckets that hold snapshots is kept. A snapshot any\n"
     "rule keeps is kept. Only the snapshot objects go; `vault prune`\n"
     "then frees the data no remaining snapshot references.\n"
     "\n"
     "  -l, --keep-last N        keep the N newest snapshots\n"
     "  -H, --keep-hourly N      keep the newest of each of the last N hours\n"
     "  -d, --keep-daily N       ... days\n"
     "  -w, --keep-weekly N      ... weeks (ISO weeks, Monday to Sunday)\n"
     "  -m, --keep-monthly N     ... months\n"
     "  -y, --keep-yearly N      ... years\n"
     "                           (N may be 'unlimited': every bucket)\n"
     "  --keep-tag TAG[,TAG...]  keep snapshots with all these tags\n"
     "                           (repeatable; '' keeps untagged ones)\n"
     "  --group-by LIST          group by host, paths, tags (comma-separated;\n"
     "                           default host,paths; '' for one group per\n"
     "                           author; the author always counts)\n"
     "  -n, --dry-run            only show what would be removed\n"
     "  -i, --identity FILE      an owner's identity (or $VAULT_IDENTITY)\n"
     "  --passphrase-file FILE   passphrase of a protected identity\n"},
    {"prune", "free the space of data no snapshot needs (owners only)",
     cmd_prune,
     "usage: vault prune [VAULT] [--dry-run] [--grace DURATION]\n"
     "                   [--max-unused PERCENT]\n"
     "\n"
     "Deletes the packs no snapshot needs, while other machines keep\n"
     "adding: packs are first condemned by a prune mark (their referenced\n"
     "blobs copied out first), and deleted only once no add that started\n"
     "before the mark can still be running: no add marker younger than\n"
     "24 hours is visible and the mark is older than the grace period.\n"
     "A marker of this machine whose add process has ended (killed,\n"
     "crashed) holds nothing back and is deleted.\n"
     "On a vault only this machine writes, one prune frees the space; marks\n"
     "it cannot sweep yet are reported, with the reason, and swept by a\n"
     "later prune. Packs left unindexed by interrupted adds are deleted too.\n"
     "\n"
     "  --grace DURATION         sweep a mark only once it is this old\n"
     "                           (90s, 15m, 24h, 7d; default 0). Use more than\n"
     "                           any sync delay plus any add on a vault in a\n"
     "                           synchronised folder\n"
     "  --max-unused PERCENT     repack partly used packs until at most this\n"
     "                           share of the space is unused (default 5)\n"
     "  -n, --dry-run            only show what would be done\n"
     "  -i, --identity FILE      an owner's identity (or $VAULT_IDENTITY)\n"
     "  --passphrase-file FILE   passphrase of a protected identity\n"},
    {"unlock", "remove stale add markers", cmd_unlock,
     "usage: vault unlock [VAULT] [--remove-all] [--dry-run]\n"
     "\n"
     "Removes the add markers that hold prune back for nothing: those of\n"
     "adds on this machine whose process has ended, and those older than\n"
     "24 hours. A marker of an add still running on this machine is never\n"
     "removed. Owners remove any member's markers; readers and writers\n"
     "only their own. Prune marks are left alone.\n"
     "\n"
     "  --remove-all             also the markers of other machines that\n"
     "                           are younger: only when those adds are\n"
     "                           known to have ended, else a prune may\n"
     "                           delete data they still need\n"
     "  -n, --dry-run            only count what would be removed\n"
     "  -i, --identity FILE      a member's identity (or $VAULT_IDENTITY)\n"
     "  --passphrase-file FILE   passphrase of a protected identity\n"},
    {"copy", "copy snapshots into another vault", cmd_copy,
     "usage: vault copy [-i IDENTITY] SRC DST [SNAP...]\n"
     "\n"
     "Copies snapshots of vault SRC into vault DST (another location: a\n"
     "local vault and a remote one, for 3-2-1 backups): the named ones (ID\n"
     "prefixes or \"latest\"), or all this member can read. Each is added to\n"
     "DST again from SRC's content, so it is deduplicated against what DST\n"
     "holds and sealed with DST's keys; it keeps its time, host, user, paths\n"
     "and tags, and every file's metadata. In DST its author is the member\n"
     "that copies, whoever wrote it in SRC, so another member's snapshot is\n"
     "copied without what extract withholds from it (set-id bits on files,\n"
     "capabilities, device nodes). A snapshot DST holds already (a\n"
     "copy made before: same time, host, user, paths, tags and files, by\n"
     "this member or an owner) is skipped. The identity must be a member of\n"
     "both: an owner or reader of SRC, any role in DST (a writer of DST\n"
     "cannot see what DST holds, so it copies every snapshot again).\n"
     "\n"
     "  -i, --identity FILE      the member's identity (or $VAULT_IDENTITY)\n"
     "  --passphrase-file FILE   passphrase of a protected identity\n"},
    {"mount", "browse the snapshots as read-only folders (FUSE)", cmd_mount,
     "usage: vault mount [VAULT] MOUNTPOINT [options]\n"
     "\n"
     "Mounts every snapshot this member can read at MOUNTPOINT, read-only,\n"
     "through FUSE, and serves it until unmounted (`fusermount3 -u\n"
     "MOUNTPOINT`, or Ctrl-C with --foreground):\n"
     "\n"
     "  snapshots/TIME/          a snapshot's files as add recorded them\n"
     "                           (local time, 2026-12-01T21:32:05; -1, -2\n"
     "                           appended when several share a second)\n"
     "  ids/SHORT-ID             link to its snapshots/TIME\n"
     "  latest                   link to what \"latest\" names (the newest\n"
     "                           this member wrote, else an owner's, ...)\n"
     "  tags/TAG/TIME            links, by tag\n"
     "  hosts/HOST/TIME          links, by hostname\n"
     "\n"
     "Owners, modes, times, symlinks, hard-link counts, extended\n"
     "attributes and holes (du) are as recorded. A read loads only the\n"
     "chunks it covers; a damaged chunk fails the read (EIO) and is named\n"
     "on stderr. Snapshots added meanwhile appear within seconds. A writer\n"
     "member cannot read, so cannot mount.\n"
     "\n"
     "  -i, --identity FILE      a member's identity (or $VAULT_IDENTITY)\n"
     "  --passphrase-file FILE   passphrase of a protected identity\n"
     "  -f, --foreground         stay in the foreground (Ctrl-C unmounts)\n"
     "  --allow-other            let other local users in too, as each file's\n"
     "                           recorded owner and mode allow (needs\n"
     "                           user_allow_other in /etc/fuse.conf unless\n"
     "                           root); default: only the mounting user\n"
     "  --cache-size SIZE        file content kept in memory (default 64M;\n"
     "                           K, M, G suffixes)\n"},
    {"check", "verify the vault and name what any damage affects", cmd_check,
     "usage: vault check [VAULT] [--read-data | --read-data-subset N% "
     "[--seed S]]\n"
     "\n"
     "Verifies the config, the envelopes, the index, that every indexed\n"
     "pack exists and is large enough, every snapshot, every tree, and\n"
     "that everything the snapshots reference is indexed. Each problem is\n"
     "printed with the snapshots and files it affects; the check goes on\n"
     "with the rest. Packs that no index lists (left by an interrupted add)\n"
     "are warnings. A writer checks what it can without read keys and says\n"
     "what it skipped. Exits 0 if no problem was found, 1 if any was.\n"
     "\n"
     "  -i, --identity FILE        a member's identity (or $VAULT_IDENTITY)\n"
     "  --passphrase-file FILE   passphrase of a protected identity\n"
     "  --read-data                also read every pack whole: its name, its\n"
     "                             trailer and every blob must verify\n"
     "  --read-data-subset N%      read about N% of the packs, chosen at\n"
     "                             random (at least one); the summary says\n"
     "                             which seed chose them\n"
     "  --seed S                   choose the subset with seed S (a whole\n"
     "                             number above 0): the same packs again\n"
     "  --json                     print problems and counts as JSON\n"},
};

static void print_version(void)
{
    printf("vault %s\n", vault_version_string());
}

static void print_help(FILE *out)
{
    fprintf(out, "vault - an end-to-end encrypted, deduplicating file vault\n"
           "\n"
           "usage: vault COMMAND [OPTIONS] [ARGS]\n"
           "\n"
           "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "  %-10s %s\n", "help", "show this help, or a command's");
    fprintf(out, "\n"
           "`vault COMMAND --help` shows a command's options.\n"
           "\n"
           "locations (VAULT, or $VAULT_REPOSITORY):\n"
           "  PATH                       a folder (./name:x if it has a colon)\n"
           "  rest:http[s]://[USER:PASS@]HOST[:PORT]/[PATH/]\n"
           "                             a restic REST server (rest-server,\n"
           "                             rclone serve restic)\n"
           "  rclone:REMOTE:PATH         any storage rclone reaches: vault runs\n"
           "                             `rclone serve restic` for it, reachable\n"
           "                             by this process only\n"
           "  s3:http[s]://HOST[:PORT]/BUCKET[/PREFIX]\n"
           "                             S3 (credentials from AWS_ACCESS_KEY_ID,\n"
           "                             AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION)\n"
           "Passwords never appear in output or the pin file.\n"
           "\n"
           "storage options (with any command, before --):\n"
           "  --connections N    transfers at once, 1..64 (default 5 remote)\n"
           "  --cacert FILE      trust this PEM CA too for https (the system's\n"
           "                     CAs always count; nothing is ever unverified)\n"
           "  --no-cache         no local cache of remote index, snapshots\n"
           "                     and trees, nor of the index's lookup file\n"
           "                     (for add: no files cache either)\n"
           "\n"
           "output options (with any command):\n"
           "  --quiet            no progress line\n"
           "  --progress         a progress line even when stderr is not a\n"
           "                     terminal (with --json: status lines on\n"
           "                     stdout, as restic's)\n"
           "On a terminal, add, extract, check, prune, rekey and copy show\n"
           "their progress on stderr: files and bytes done and in all, rate,\n"
           "time left, the current file.\n"
           "\n"
           "environment:\n"
           "  VAULT_IDENTITY     identity file used when -i is not given\n"
           "  VAULT_REPOSITORY   vault used when none is named\n"
           "  VAULT_PASSPHRASE   passphrase for a protected identity file\n"
           "  VAULT_CONNECTIONS  --connections when it is not given\n"
           "  VAULT_CACERT       --cacert when it is not given\n"
           "  VAULT_RCLONE_PROGRAM  the rclone to run (default: rclone on PATH)\n"
           "\n"
           "files:\n"
           "  $XDG_CONFIG_HOME/vault/known_vaults (~/.config/vault/...)\n"
           "      the fingerprint of the vault at each place, pinned at\n"
           "      first use: a vault whose keys were swapped is refused;\n"
           "      and the newest membership record seen: a membership\n"
           "      log rolled back to an older state is refused\n"
           "  $XDG_CACHE_HOME/vault (~/.cache/vault)\n"
           "      the files cache that lets add skip unchanged files\n"
           "\n"
           "exit codes:\n"
           "  0  success\n"
           "  1  the operation failed (the message says why)\n"
           "  2  the command line is wrong\n"
           "  3  finished, but some items failed (the summary counts them)\n"
           "  4  the operation failed, but may succeed if tried again later\n"
           "     (the storage timed out, could not be reached, or was busy)\n"
           "  130  interrupted by SIGINT (Ctrl-C) or SIGTERM: add, extract,\n"
           "     check, prune, copy, rekey and unlock stop cleanly (temporary\n"
           "     files removed; the packs an add stored are reused by the\n"
           "     next add); a second signal stops at once\n");
}

static const cli_command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* Edit distance between a and b (insert, delete, substitute, and swap
 * of neighbours: the usual typos), capped at 3: a typo is close. */
static unsigned typo_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64 || (la > lb ? la - lb : lb - la) > 2)
        return 3;
    unsigned d[65][65];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (unsigned)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            unsigned best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
                a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[la][lb] > 3 ? 3 : d[la][lb];
}

/* The command closest to name (at most 2 edits away), or NULL. */
static const char *command_like(const char *name)
{
    const char *best = NULL;
    unsigned best_d = 3;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        unsigned d = typo_distance(name, commands[i].name);
        if (d < best_d) {
            best_d = d;
            best = commands[i].name;
        }
    }
    return best;
}

static int no_such_command(const char *name)
{
    const char *like = command_like(name);
    if (like)
        cli_error("%s: no such command; did you mean `vault %s`? (see "
                  "`vault help`)",
                  name, like);
    else
        cli_error("%s: no such command (see `vault help`)", name);
    return EXIT_USAGE;
}

/* The long option of command's help closest to word ("--lnog"), copied
 * into buf; NULL if none is close.  The help lists every option. */
static const char *option_like(const char *command, const char *word,
                               char buf[64])
{
    const cli_command *cmd = find_command(command);
    const char *name = word + 2, *end = strchr(name, '=');
    char typed[64];
    snprintf(typed, sizeof typed, "%.*s",
             (int)(end ? (size_t)(end - name) : strlen(name)), name);
    unsigned best_d = 3;
    const char *found = NULL;
    for (const char *p = cmd ? strstr(cmd->usage, "--") : NULL; p;
         p = strstr(p + 2, "--")) {
        size_t len = strspn(p + 2, "abcdefghijklmnopqrstuvwxyz-");
        if (len == 0 || len >= 62)
            continue;
        char option[64];
        memcpy(option, p + 2, len);
        option[len] = '\0';
        unsigned d = typo_distance(typed, option);
        if (d == 0)
            return NULL; /* the option exists: its argument is wrong */
        if (d < best_d) {
            best_d = d;
            buf[0] = buf[1] = '-';
            memcpy(buf + 2, option, len + 1); /* len < 62 */
            found = buf;
        }
    }
    return found;
}

int cli_help(const char *name)
{
    const cli_command *cmd = find_command(name);
    if (!cmd)
        return no_such_command(name);
    fputs(cmd->usage, stdout);
    return EXIT_OK;
}

void cli_error(const char *fmt, ...)
{
    va_list ap, again;
    fputs("vault: ", stderr);
    va_start(ap, fmt);
    va_copy(again, ap);
    int len = vsnprintf(NULL, 0, fmt, ap);
    char *message = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (message)
        vsnprintf(message, (size_t)len + 1, fmt, again);
    va_end(again);
    va_end(ap);
    /* Messages name paths and snapshot fields: escaped like ls output. */
    cli_put_text(stderr, message ? message : fmt, 1);
    free(message);
    fputc('\n', stderr);
}

static void on_interrupt_signal(int sig)
{
    (void)sig;
    vault_interrupt(); /* an atomic store: async-signal-safe */
}

void cli_catch_interrupts(void)
{
    const int signals[] = {SIGINT, SIGTERM};
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) {
        struct sigaction old;
        if (sigaction(signals[i], NULL, &old) == 0 &&
            old.sa_handler == SIG_IGN)
            continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_interrupt_signal;
        sigemptyset(&sa.sa_mask);
        /* SA_RESETHAND: the second signal has its default effect. */
        sa.sa_flags = SA_RESETHAND | SA_RESTART;
        (void)sigaction(signals[i], &sa, NULL);
    }
}

int cli_fail(vault_error rc)
{
    if (rc == VAULT_E_INTERRUPTED || vault_interrupt_requested()) {
        cli_error("interrupted");
        return EXIT_INTERRUPTED;
    }
    const char *detail = vault_last_error();
    if (detail[0])
        cli_error("%s", detail);
    else
        cli_error("%s", vault_strerror(rc));
    return vault_error_is_transient(rc) ? EXIT_TRANSIENT : EXIT_FAILURE_;
}

int cli_bad_option(const char *command, char **argv)
{
    /* getopt_long leaves the offending word at argv[optind - 1]. */
    const char *word = optind > 0 ? argv[optind - 1] : "?";
    if (optopt && strchr(word, optopt) && word[0] == '-' && word[1] != '-')
        return cli_usage(command, "option -%c: unknown, or needs an argument",
                         optopt);
    char like[64];
    if (word[0] == '-' && word[1] == '-' && option_like(command, word, like))
        return cli_usage(command, "option %s: unknown, or needs an argument; "
                                  "did you mean %s?",
                         word, like);
    return cli_usage(command, "option %s: unknown, or needs an argument",
                     word);
}

int cli_usage(const char *command, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "vault: %s: ", command);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see `vault %s --help`)\n", command);
    return EXIT_USAGE;
}

/* The library's warnings (a forged record ignored, an envelope the log
 * does not grant): on stderr, and the command goes on. */
static void print_warning(const char *message, void *ctx)
{
    (void)ctx;
    cli_error("warning: %s", message);
}

/* "N" of --connections or VAULT_CONNECTIONS: 1..64; 0 if it is not. */
static unsigned parse_connections(const char *text)
{
    char *end;
    unsigned long n = strtoul(text, &end, 10);
    if (end == text || *end || text[0] == '-' || text[0] == '+' || n < 1 ||
        n > 64)
        return 0;
    return (unsigned)n;
}

/* Takes the storage options out of argv (anywhere before "--"), so that
 * they go with any command, before or after its name: --connections N,
 * --cacert FILE, --no-cache (for add it also means no files cache:
 * cmd_add.c reads cli_storage.no_cache).  Their variables count when the
 * flag is absent.  -1 after a usage error. */
static int take_storage_options(int *argc, char **argv)
{
    /* The command: the first word that is no storage option (nor the
     * value of one), for messages. */
    const char *command = "vault";
    for (int i = 1; i < *argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--connections") == 0 ||
            strcmp(argv[i], "--cacert") == 0) {
            i++;
            continue;
        }
        if (strncmp(argv[i], "--connections=", 14) == 0 ||
            strncmp(argv[i], "--cacert=", 9) == 0 ||
            strcmp(argv[i], "--no-cache") == 0 ||
            strcmp(argv[i], "--quiet") == 0 ||
            strcmp(argv[i], "--progress") == 0)
            continue;
        command = argv[i];
        break;
    }
    vault_storage_options_init(&cli_storage);
    const char *env = getenv("VAULT_CONNECTIONS");
    if (env && env[0] && !(cli_storage.connections = parse_connections(env))) {
        cli_usage(command, "VAULT_CONNECTIONS must be a number from 1 to 64, "
                  "not '%s'", env);
        return -1;
    }
    env = getenv("VAULT_CACERT");
    if (env && env[0])
        cli_storage.cacert = env;
    int out = 1;
    int in = 1;
    for (; in < *argc && strcmp(argv[in], "--") != 0; in++) {
        const char *a = argv[in];
        const char *value = NULL;
        int is_connections = 0, is_cacert = 0;
        if (strcmp(a, "--connections") == 0 || strcmp(a, "--cacert") == 0) {
            if (in + 1 >= *argc) {
                cli_usage(command, "option %s needs an argument", a);
                return -1;
            }
            is_connections = a[2] == 'c' && a[3] == 'o';
            is_cacert = !is_connections;
            value = argv[++in];
        } else if (strncmp(a, "--connections=", 14) == 0) {
            is_connections = 1;
            value = a + 14;
        } else if (strncmp(a, "--cacert=", 9) == 0) {
            is_cacert = 1;
            value = a + 9;
        } else if (strcmp(a, "--quiet") == 0) {
            cli_output.quiet = 1;
            continue;
        } else if (strcmp(a, "--progress") == 0) {
            cli_output.progress = 1;
            continue;
        } else if (strcmp(a, "--no-cache") == 0) {
            /* add's own --no-cache (no files cache) follows from this
             * one wherever it stands (cmd_add.c) */
            cli_storage.no_cache = 1;
            continue;
        } else {
            argv[out++] = argv[in];
            continue;
        }
        if (is_connections &&
            !(cli_storage.connections = parse_connections(value))) {
            cli_usage(command, "--connections takes a number from 1 to 64, "
                      "not '%s'", value);
            return -1;
        }
        if (is_cacert) {
            if (!value[0]) {
                cli_usage(command, "--cacert needs a file");
                return -1;
            }
            cli_storage.cacert = value;
        }
    }
    for (; in < *argc; in++)
        argv[out++] = argv[in];
    argv[out] = NULL;
    *argc = out;
    return 0;
}

/* The CPU time by phase (vault_phase_times) as a table on stderr, with
 * the process's own user and system time for the whole. */
static void print_phase_times(void)
{
    vault_phase_time t[32];
    size_t n = vault_phase_times(t, sizeof t / sizeof t[0]);
    struct rusage ru;
    double total = 0;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        total = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    double sum = 0;
    fprintf(stderr, "timings: phase | cpu s | share | calls\n");
    for (size_t i = 0; i < n && i < sizeof t / sizeof t[0]; i++) {
        sum += t[i].cpu_seconds;
        fprintf(stderr, "timings: %s | %.3f | %.0f%% | %llu\n", t[i].name,
                t[i].cpu_seconds,
                total > 0 ? 100 * t[i].cpu_seconds / total : 0.0,
                (unsigned long long)t[i].calls);
    }
    if (total > sum)
        fprintf(stderr, "timings: other | %.3f | %.0f%% | -\n", total - sum,
                100 * (total - sum) / total);
    fprintf(stderr, "timings: total (user + system) | %.3f | 100%% | -\n",
            total);
}

int main(int argc, char **argv)
{
    /* The user's locale, so that tar output writes UTF-8 names as plain
     * pax paths. */
    setlocale(LC_CTYPE, "");
    /* Packs (up to 16 MiB) and chunks are allocated and freed by many
     * threads; glibc raises its mmap threshold to the largest block freed,
     * after which such buffers stay in the heaps when freed and count in
     * the peak RSS.  A fixed threshold keeps them mapped and unmapped:
     * an add over a slow link peaked at 98-107 MiB, now 91 MiB. */
    mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
    /* Smaller blocks come from the heaps, and glibc gives a heap's free
     * top back to the kernel once it exceeds 128 KiB (2x the threshold):
     * the next block there is faulted in again, zeroed page by page.
     * Extract took 175,000 page faults for 780 MiB restored, a tenth of
     * its CPU time (madvise, zeroing, faults); keeping up to 8 MiB free
     * per heap, in two heaps (one per core here, not 8 per core), it
     * takes 80,000 and its peak RSS stays the same (44 MiB), as does
     * add's (62 MiB; page faults 77,000 -> 31,000). */
    mallopt(M_TRIM_THRESHOLD, 8 * 1024 * 1024);
    mallopt(M_ARENA_MAX, 2);
    opterr = 0; /* the commands report bad options as "vault: ..." */
    if (take_storage_options(&argc, argv) != 0)
        return EXIT_USAGE;
    if (argc < 2) {
        print_help(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        print_version();
        return EXIT_OK;
    }
    if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 ||
        strcmp(name, "-h") == 0) {
        if (argc > 2)
            return cli_help(argv[2]);
        print_help(stdout);
        return EXIT_OK;
    }
    const cli_command *cmd = find_command(name);
    if (!cmd)
        return no_such_command(name);
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return cli_help(name);
    }
    vault_error rc = vault_global_init();
    if (rc != VAULT_OK)
        return cli_fail(rc);
    vault_set_warning_handler(print_warning, NULL);
    /* Commands see argv[0] as their own name, as getopt expects. */
    /* VAULT_TIMINGS=1: where the CPU time went, by phase, on stderr at
     * the end (the benchmarks use it) */
    const char *timings = getenv("VAULT_TIMINGS");
    int profile = timings && timings[0] && strcmp(timings, "0") != 0;
    if (profile)
        vault_phase_timing_enable();
    int status = cmd->run(argc - 1, argv + 1);
    if (profile)
        print_phase_times();
    return status;
}
