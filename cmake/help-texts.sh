#!/usr/bin/env bash
# Writes each program's --version and --help, and every subcommand's --help (CLI11 lists them
# under "Subcommands:"), to OUTDIR/<program>.txt: the help texts the package installs in
# /usr/share/doc/transferwatch, generated from the built programs so they match them.
# Usage: cmake/help-texts.sh OUTDIR PROGRAM...
set -euo pipefail
out=$1
shift
mkdir -p "$out"

# The subcommand names in a CLI11 help text (stdin).
subcommands() {
  awk '/^Subcommands:$/ { inside = 1; next } inside && /^$/ { inside = 0 }
       inside && /^  [a-z]/ { print $1 }'
}

# help_tree PROGRAM NAME [SUBCOMMAND...]: NAME's help for that subcommand path, then its
# subcommands' in the order the help lists them.
help_tree() {
  local program=$1 name=$2
  shift 2
  local text
  text=$("$program" "$@" --help)
  printf '\n%s\n%s\n\n%s\n' "$name${*:+ $*} --help" "$(printf '%*s' 78 '' | tr ' ' '=')" "$text"
  local sub
  for sub in $(subcommands <<<"$text"); do
    help_tree "$program" "$name" "$@" "$sub"
  done
}

for program in "$@"; do
  name=$(basename "$program")
  {
    "$program" --version
    help_tree "$program" "$name"
  } >"$out/$name.txt.tmp"
  mv "$out/$name.txt.tmp" "$out/$name.txt"
done
