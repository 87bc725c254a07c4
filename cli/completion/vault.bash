# bash completion for vault(1): commands, each command's options, and
# files or directories where an option or argument names one.
# Installed as share/bash-completion/completions/vault.

_vault()
{
    local cur prev words cword
    _init_completion || return

    local commands="keygen init add ls extract dump diff find stats tag share members unshare rekey
        forget prune unlock check copy mount help"
    if [[ $cword -eq 1 ]]; then
        COMPREPLY=($(compgen -W "$commands --version --help" -- "$cur"))
        return
    fi

    local command=${words[1]} opts=""
    case $command in
        keygen) opts="-o --output --passphrase --passphrase-file -y -i
                      --identity" ;;
        init) opts="-i --identity -r --recipient" ;;
        add) opts="-i --identity -t --tag -e --exclude
                   --iexclude --exclude-file --iexclude-file --exclude-caches
                   --exclude-if-present --exclude-larger-than --files-from
                   --files-from-verbatim --files-from-raw -n --dry-run
                   -v --verbose --stdin --stdin-filename --tar
                   -x --one-file-system --compression --threads --no-cache
                   --host --json" ;;
        ls) opts="-i --identity -l --long -R --recursive --json --host --path --tag" ;;
        extract) opts="-i --identity -C --target --tar --overwrite --same-privileges --host --path --tag
                       -e --exclude --iexclude --include --iinclude" ;;
        dump) opts="-i --identity --host --path --tag" ;;
        diff) opts="-i --identity --json --host --path --tag" ;;
        find) opts="-i --identity -s --snapshot --ignore-case -l --long --json
                    --host --path --tag" ;;
        stats) opts="-i --identity --json" ;;
        tag) opts="-i --identity --add --remove --set" ;;
        share) opts="-i --identity -R --recipients-file --role" ;;
        members) opts="-i --identity --json" ;;
        unshare) opts="-i --identity -R --recipients-file" ;;
        rekey) opts="-i --identity" ;;
        forget) opts="-l --keep-last -H --keep-hourly -d --keep-daily
                      -w --keep-weekly -m --keep-monthly -y --keep-yearly
                      --keep-tag --group-by -n --dry-run -i --identity" ;;
        prune) opts="--grace --max-unused -n --dry-run -i --identity" ;;
        unlock) opts="--remove-all -n --dry-run -i --identity" ;;
        copy) opts="-i --identity" ;;
        mount) opts="-i --identity -f --foreground --allow-other --cache-size" ;;
        check) opts="-i --identity --read-data --read-data-subset --seed
                     --json" ;;
        help)
            [[ $cword -eq 2 ]] &&
                COMPREPLY=($(compgen -W "$commands" -- "$cur"))
            return ;;
        *) return ;;
    esac
    # The storage options go with every command that opens a vault.
    [[ $command != keygen ]] &&
        opts="$opts --connections --cacert --no-cache --passphrase-file"
    opts="$opts --quiet --progress"

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
