#!/usr/bin/env bash
# The bash completion (cli/completion/vault.bash), loaded as
# bash-completion loads it: `complete -p vault` names its function, the
# first word completes to every command `vault help` lists, `add -` offers
# add's options (and every command the long options its help names), and
# `help a` the commands starting with a.  zsh's and fish's files are
# checked too where those shells are installed.
# Environment: VAULT_SOURCE_DIR, VAULT (the binary).
set -euo pipefail

helpers=/usr/share/bash-completion/bash_completion
[ -r "$helpers" ] || { echo "bash-completion is not installed"; exit 1; }
# bash_completion expects an interactive shell's settings.
set +euo pipefail
# shellcheck disable=SC1090
source "$helpers"
source "$VAULT_SOURCE_DIR/cli/completion/vault.bash"
set -euo pipefail

complete -p vault | grep -q -- '-F _vault vault' || { complete -p vault; exit 1; }

# complete LINE: what completing the end of LINE offers, one a line.
complete_line() {
  COMP_LINE=$1
  COMP_POINT=${#COMP_LINE}
  read -r -a COMP_WORDS <<<"$COMP_LINE"
  if [[ $COMP_LINE == *' ' ]]; then COMP_WORDS+=(""); fi
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMPREPLY=()
  _vault vault "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
  printf '%s\n' "${COMPREPLY[@]}" | sort
}

status=0
# expect LINE WORD...: completing LINE offers at least the WORDs.
expect() {
  local line=$1; shift
  local got; got=$(complete_line "$line")
  for w in "$@"; do
    if ! grep -qxF -- "$w" <<<"$got"; then
      echo "completing '$line' does not offer '$w'; it offers:"; echo "$got"
      status=1
    fi
  done
}

commands=$("$VAULT" help | awk '/^commands:/ {on = 1; next} on && NF == 0 {exit} on {print $1}')
# shellcheck disable=SC2086
expect "vault " $commands
expect "vault ex" extract
expect "vault add -" -i --identity -t --tag -e --exclude -x --one-file-system \
  --compression --threads --no-cache --host --json
expect "vault add --c" --compression
expect "vault add --compression " off 3 19
expect "vault share --role " owner reader writer
expect "vault forget --keep-" --keep-last --keep-daily --keep-tag
expect "vault help a" add
# Every long option each command's help names.
for c in $commands; do
  # shellcheck disable=SC2046
  expect "vault $c -" $("$VAULT" help "$c" | grep -oE -- '--[a-z][a-z-]*[a-z]' |
                        grep -vx -e --keep -e --help | sort -u)
done
# add's options are its own: not extract's.
if complete_line "vault add -" | grep -qx -- --overwrite; then
  echo "add offers extract's --overwrite"; status=1
fi

# zsh's and fish's files: their syntax, and fish's offers, where those
# shells are installed (scripts/deps.sh does not install them).
dir=$VAULT_SOURCE_DIR/cli/completion
if command -v zsh >/dev/null; then
  zsh -n "$dir/_vault" || { echo "_vault: zsh syntax"; status=1; }
fi
if command -v fish >/dev/null; then
  fish -n "$dir/vault.fish" || { echo "vault.fish: fish syntax"; status=1; }
  offers=$(PATH=$(dirname "$VAULT"):$PATH fish -N -c \
    "source $dir/vault.fish; complete -C 'vault '; complete -C 'vault add --'" |
    cut -f1)
  for w in $commands --compression --one-file-system --json; do
    grep -qxF -- "$w" <<<"$offers" || { echo "fish does not offer $w"; status=1; }
  done
fi
exit $status
