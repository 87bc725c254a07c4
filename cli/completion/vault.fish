# fish completion for vault(1).  Installed as
# share/fish/vendor_completions.d/vault.fish.

set -l commands keygen init add ls extract share members unshare rekey forget prune check copy mount help

complete -c vault -f
complete -c vault -n "not __fish_seen_subcommand_from $commands" -a keygen -d 'create an identity (an age X25519 key)'
complete -c vault -n "not __fish_seen_subcommand_from $commands" -a init -d 'create a vault'
complete -c vault -n "not __fish_seen_subcommand_from $commands" -a add -d 'back up files and directories as a snapshot'
complete -c vault -n "not __fish_seen_subcommand_from $commands" -a ls -d 'list snapshots, or the files in one'
complete -c vault -n "not __fish_seen_subcommand_from $commands" -a extract -d 'restore a snapshot'
complete -c vault -n "not __fish_seen_subcommand_from $commands" -a share -d 'give recipients access (owners only)'
complete -c vault -n "not __fish_seen_subcommand_from $commands" -a members -d 'list the members and their roles'
complete -c vault -n "not __fish_seen_subcommand_from $commands" -a unshare -d 'remove members and rotate keys (owners only)'
complete -c vault -n "not __fish_seen_subcommand_from $commands" -a rekey -d 're-seal older data in the current key epoch'
complete -c vault -n "not __fish_seen_subcommand_from $commands" -a forget -d 'remove snapshots, named or by policy (owners only)'
complete -c vault -n "not __fish_seen_subcommand_from $commands" -a prune -d 'free the space of data no snapshot needs (owners only)'
complete -c vault -n "not __fish_seen_subcommand_from $commands" -a check -d 'verify the vault and name what any damage affects'
complete -c vault -n "not __fish_seen_subcommand_from $commands" -a copy -d 'copy snapshots into another vault'
complete -c vault -n "not __fish_seen_subcommand_from $commands" -a mount -d 'browse the snapshots as read-only folders (FUSE)'
complete -c vault -n "not __fish_seen_subcommand_from $commands" -a help -d 'show the help, or a command\'s'
complete -c vault -n "not __fish_seen_subcommand_from $commands" -l version -d 'print the version'
complete -c vault -n "__fish_seen_subcommand_from help" -a "$commands"

# Vaults and paths are files for every command but help.
complete -c vault -n "__fish_seen_subcommand_from add ls extract init share members unshare rekey forget prune check copy mount" -F

complete -c vault -n "__fish_seen_subcommand_from keygen" -s o -l output -r -F -d 'write the identity to FILE'
complete -c vault -n "__fish_seen_subcommand_from keygen" -l passphrase -d 'protect the file with a passphrase'
complete -c vault -n "__fish_seen_subcommand_from keygen init copy mount" -l passphrase-file -r -F -d 'read the passphrase from FILE'
complete -c vault -n "__fish_seen_subcommand_from keygen" -s y -d 'print the public key of an identity'
complete -c vault -n "__fish_seen_subcommand_from keygen init add ls extract share members unshare rekey forget prune check copy mount" -s i -l identity -r -F -d 'identity file'
complete -c vault -n "__fish_seen_subcommand_from init add ls extract share members unshare rekey forget prune check copy mount" -l connections -x -d 'transfers at once'
complete -c vault -n "__fish_seen_subcommand_from init add ls extract share members unshare rekey forget prune check copy mount" -l cacert -r -F -d 'trust this CA certificate too'
complete -c vault -n "__fish_seen_subcommand_from init ls extract share members unshare rekey forget prune check copy mount" -l no-cache -d 'no local cache of a remote vault'
complete -c vault -n "__fish_seen_subcommand_from init" -s r -l recipient -x -d 'the owner\'s public key'

complete -c vault -n "__fish_seen_subcommand_from add" -s t -l tag -x -d 'tag the snapshot'
complete -c vault -n "__fish_seen_subcommand_from add" -s e -l exclude -x -d 'skip names matching GLOB'
complete -c vault -n "__fish_seen_subcommand_from add" -s x -l one-file-system -d 'do not cross file systems'
complete -c vault -n "__fish_seen_subcommand_from add" -l compression -x -a 'off 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19' -d 'zstd level or off'
complete -c vault -n "__fish_seen_subcommand_from add" -l threads -x -d 'worker threads'
complete -c vault -n "__fish_seen_subcommand_from add" -l no-cache -d 'read every file; keep no files cache'
complete -c vault -n "__fish_seen_subcommand_from add" -l host -x -d 'record NAME as the host'
complete -c vault -n "__fish_seen_subcommand_from add ls members check" -l json -d 'JSON output'

complete -c vault -n "__fish_seen_subcommand_from ls" -s l -l long -d 'mode, owner, size and mtime'
complete -c vault -n "__fish_seen_subcommand_from ls" -s R -l recursive -d 'descend into directories'

complete -c vault -n "__fish_seen_subcommand_from extract" -s C -l target -r -a '(__fish_complete_directories)' -d 'restore into DIR'
complete -c vault -n "__fish_seen_subcommand_from extract" -l tar -r -F -d 'write a tar stream'
complete -c vault -n "__fish_seen_subcommand_from extract" -l overwrite -d 'replace existing files'
complete -c vault -n "__fish_seen_subcommand_from extract" -l same-privileges -d 'restore set-id bits, capabilities and devices of a snapshot by another member'

complete -c vault -n "__fish_seen_subcommand_from share unshare" -s R -l recipients-file -r -F -d 'recipients, one a line'
complete -c vault -n "__fish_seen_subcommand_from share" -l role -x -a 'owner reader writer' -d 'the members\' role'

complete -c vault -n "__fish_seen_subcommand_from forget" -s l -l keep-last -x -d 'keep the N newest snapshots'
complete -c vault -n "__fish_seen_subcommand_from forget" -s H -l keep-hourly -x -d 'keep one for each of N hours'
complete -c vault -n "__fish_seen_subcommand_from forget" -s d -l keep-daily -x -d '... days'
complete -c vault -n "__fish_seen_subcommand_from forget" -s w -l keep-weekly -x -d '... weeks'
complete -c vault -n "__fish_seen_subcommand_from forget" -s m -l keep-monthly -x -d '... months'
complete -c vault -n "__fish_seen_subcommand_from forget" -s y -l keep-yearly -x -d '... years'
complete -c vault -n "__fish_seen_subcommand_from forget" -l keep-tag -x -d 'keep snapshots with these tags'
complete -c vault -n "__fish_seen_subcommand_from forget" -l group-by -x -a 'host paths tags host,paths' -d 'group snapshots by'
complete -c vault -n "__fish_seen_subcommand_from forget prune" -s n -l dry-run -d 'only show what would be done'

complete -c vault -n "__fish_seen_subcommand_from prune" -l grace -x -d 'sweep marks this old (90s, 15m, 24h, 7d)'
complete -c vault -n "__fish_seen_subcommand_from prune" -l max-unused -x -d 'unused space to tolerate (percent)'

complete -c vault -n "__fish_seen_subcommand_from check" -l read-data -d 'read every pack whole'
complete -c vault -n "__fish_seen_subcommand_from check" -l read-data-subset -x -d 'read about N% of the packs'
complete -c vault -n "__fish_seen_subcommand_from check" -l seed -x -d 'choose the subset with seed S'

complete -c vault -n "__fish_seen_subcommand_from mount" -s f -l foreground -d 'stay in the foreground'
complete -c vault -n "__fish_seen_subcommand_from mount" -l allow-other -d 'let other local users in too'
complete -c vault -n "__fish_seen_subcommand_from mount" -l cache-size -x -d 'file content kept in memory'
