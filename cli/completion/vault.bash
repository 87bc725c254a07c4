# bash completion for vault(1): commands, each command's options, and
# files or directories where an option or argument names one.
# Installed as share/bash-completion/completions/vault.

_vault()
{
    local cur prev words cword
    _init_completion || return

    local commands="keygen init add ls extract share members unshare rekey
        forget prune check copy mount help"
    if [[ $cword -eq 1 ]]; then
        COMPREPLY=($(compgen -W "$commands --version --help" -- "$cur"))
        return
    fi

    local command=${words[1]} opts=""
    case $command in
        keygen) opts="-o --output --passphrase --passphrase-file -y -i
                      --identity" ;;
        init) opts="-i --identity -r --recipient --passphrase-file" ;;
        add) opts="-i --identity -t --tag -e --exclude -x --one-file-system
                   --compression --threads --no-cache --host --json" ;;
        ls) opts="-i --identity -l --long -R --recursive --json" ;;
        extract) opts="-i --identity -C --target --tar --overwrite --same-privileges" ;;
        share) opts="-i --identity -R --recipients-file --role" ;;
        members) opts="-i --identity --json" ;;
        unshare) opts="-i --identity -R --recipients-file" ;;
        rekey) opts="-i --identity" ;;
        forget) opts="-l --keep-last -H --keep-hourly -d --keep-daily
                      -w --keep-weekly -m --keep-monthly -y --keep-yearly
                      --keep-tag --group-by -n --dry-run -i --identity" ;;
        prune) opts="--grace --max-unused -n --dry-run -i --identity" ;;
        copy) opts="-i --identity --passphrase-file" ;;
        mount) opts="-i --identity --passphrase-file -f --foreground
                     --allow-other --cache-size" ;;
        check) opts="-i --identity --read-data --read-data-subset --seed
                     --json" ;;
        help)
            [[ $cword -eq 2 ]] &&
                COMPREPLY=($(compgen -W "$commands" -- "$cur"))
            return ;;
        *) return ;;
    esac
    # The storage options go with every command that opens a vault.
    [[ $command != keygen ]] && opts="$opts --connections --cacert --no-cache"

    # The argument of the option before the cursor.
    case $prev in
        --cacert)
            _filedir
            return ;;
        -i|--identity|-o|--output|--passphrase-file|-R|--recipients-file|--tar)
            # -R of ls is --recursive, which takes no argument.
            if [[ $command != ls ]]; then
                _filedir
                return
            fi ;;
        -C|--target)
            _filedir -d
            return ;;
        --role)
            COMPREPLY=($(compgen -W "owner reader writer" -- "$cur"))
            return ;;
        --compression)
            COMPREPLY=($(compgen -W "off $(echo {1..19})" -- "$cur"))
            return ;;
        --group-by)
            COMPREPLY=($(compgen -W "host paths tags host,paths" -- "$cur"))
            return ;;
        -t|--tag|-e|--exclude|--threads|--host|-r|--recipient|--seed|\
        --grace|--max-unused|--read-data-subset|--keep-*|-[lHdwmy])
            # -l and -y take no argument in ls and keygen.
            if [[ $command == forget || $prev != -[lHdwmy] ]]; then
                return
            fi ;;
    esac

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts --help" -- "$cur"))
        return
    fi
    # Vaults and paths.
    _filedir
}
complete -F _vault vault
