#!/usr/bin/env bash
# The Ansible playbook (ansible/): `ansible-playbook --syntax-check` and `ansible-lint` (offline,
# production profile, warnings fatal), then the example inventory rendered without touching
# any host: every daemon.toml must pass `transferwatchd --check-config`, and PostgreSQL's
# max_connections must admit every daemon's connections.
# Needs the Debian packages ansible and ansible-lint (a missing tool fails, it does not skip).
# Usage: lint_test.sh [PATH/TO/transferwatchd]   (without it, the rendering is checked by
# Ansible's own assertions only)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
transferwatchd=${1:-}

for tool in ansible-playbook ansible-lint; do
  command -v "$tool" >/dev/null || {
    echo "lint_test: $tool not found: install the Debian packages ansible and ansible-lint" >&2
    exit 1
  }
done
echo "== $(ansible-playbook --version | head -n 1); $(ansible-lint --version 2>/dev/null | head -n 1 | sed 's/\x1b\[[0-9;]*m//g')"

cd "$repo/ansible"
echo "== ansible-playbook --syntax-check"
ansible-playbook --syntax-check -i inventory/example.ini site.yml

echo "== ansible-lint"
ansible-lint --offline --strict --nocolor -c .ansible-lint site.yml roles group_vars

echo "== every variable documented in ansible/README.md"
undocumented=()
for file in roles/*/defaults/main.yml roles/*/vars/main.yml group_vars/*.yml group_vars/all/*.yml \
    group_vars/all/vault.yml.example; do
  for name in $(sed -n 's/^\([a-z_][a-z0-9_]*\):.*/\1/p' "$file"); do
    grep -qF "\`$name\`" README.md || undocumented+=("$name ($file)")
  done
done
[ "${#undocumented[@]}" -eq 0 ] ||
  { printf 'lint_test: not in ansible/README.md: %s\n' "${undocumented[@]}" >&2; exit 1; }

echo "== rendering the example inventory"
tmp=$(mktemp -d /tmp/tw-ansible.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cp -r "$repo/ansible" "$tmp/ansible"
cp "$repo/tests/ansible/render.yml" "$tmp/ansible/render.yml"
# A watcher that evaluates nothing, besides the example's workers.
printf '[watchers]\ntw1.example.internal tw_private_address=10.20.0.30\n' >"$tmp/watcher.ini"
printf 'test-token-0123456789\n' >"$tmp/api-token"
chmod 600 "$tmp/api-token"
mkdir "$tmp/out"
(cd "$tmp/ansible" && ansible-playbook -i inventory/example.ini -i "$tmp/watcher.ini" render.yml \
  -e ansible_connection=local -e "tw_render_dir=$tmp/out" -e "tw_token_path=$tmp/api-token" \
  -e 'vault_tw_db_password=a:b\c' -e vault_tw_api_token=test-token-0123456789) >"$tmp/render.log" 2>&1 ||
  { cat "$tmp/render.log" >&2; echo "lint_test: rendering failed" >&2; exit 1; }

configs=("$tmp"/out/*.daemon.toml)
[ "${#configs[@]}" -eq 4 ] || { echo "lint_test: expected 4 daemon.toml, got ${#configs[@]}" >&2; exit 1; }
if [ -n "$transferwatchd" ]; then
  for config in "${configs[@]}"; do
    "$transferwatchd" --check-config --config "$config"
  done
fi

# The daemons hold slots + 4 connections each; max_connections must leave room for all of them.
needed=0
for config in "${configs[@]}"; do
  slots=$(sed -n 's/^slots = \([0-9]*\)$/\1/p' "$config")
  [ -n "$slots" ] || { echo "lint_test: no slots in $config" >&2; exit 1; }
  needed=$((needed + slots + 4))
done
max=$(sed -n 's/^max_connections = \([0-9]*\)$/\1/p' "$tmp"/out/*.transferwatch.conf)
echo "== max_connections $max for $needed daemon connections"
[ -n "$max" ] && [ "$max" -gt "$needed" ] ||
  { echo "lint_test: max_connections '$max' does not exceed the daemons' $needed" >&2; exit 1; }

# libpq's escaping in the password file: ':' and '\' are escaped.
grep -qxF '10.20.0.10:5432:transferwatch:transferwatch:a\:b\\c' "$tmp"/out/gpu1.example.internal.pgpass ||
  { echo "lint_test: unexpected pgpass line:" >&2; cat "$tmp"/out/gpu1.example.internal.pgpass >&2; exit 1; }
echo "lint_test: ok"
