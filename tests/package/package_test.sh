#!/usr/bin/env bash
# The Debian package end to end, from the build tree the other tests use (no second build):
# cpack makes transferwatch_<version>_<arch>.deb, dpkg installs it on this machine, the
# installed programs run from /usr/bin and find their data, config and unit, then `dpkg -r` and
# `dpkg -P` remove it and nothing of it is left but what the purge policy keeps
# (docs/packaging.md). It refuses to run where a transferwatch package or any of its files is
# already installed, and removes whatever it installed or created even when it fails.
# Usage: package_test.sh BUILD_DIR SOURCE_DIR VERSION     (as root; ctest -L package)
set -euo pipefail
build=$1
src=$2
version=$3

fail() {
  echo "package_test: FAIL: $*" >&2
  exit 1
}
started=$(date +%s.%N)
step() { awk -v now="$(date +%s.%N)" -v t0="$started" -v what="$*" \
  'BEGIN { printf "package_test: [%6.1fs] %s\n", now - t0, what }'; }
# expect_exit CODE COMMAND...: runs it, output in $output, and fails unless it exits CODE.
expect_exit() {
  local want=$1 rc=0
  shift
  output=$("$@" 2>&1) || rc=$?
  [ "$rc" -eq "$want" ] || fail "$* exited $rc, not $want: $output"
}

[ "$(id -u)" -eq 0 ] || fail "needs root (dpkg -i); leave it out with ctest -LE package"
[ -n "${TRANSFERWATCH_TEST_DATABASE_URL:-}" ] ||
  fail "TRANSFERWATCH_TEST_DATABASE_URL is not set: run the tests with scripts/test or scripts/with-postgres"
status=$(dpkg-query -W -f='${db:Status-Status}' transferwatch 2>/dev/null || true)
if [ -n "$status" ] && [ "$status" != not-installed ]; then
  fail "a transferwatch package is on this machine (dpkg status '$status'): this test installs" \
    "and purges its own and will not touch yours; remove it (dpkg -P transferwatch) or run" \
    "ctest -LE package"
fi

# Everything this test creates, removed on any exit; what existed before is left alone.
out=$(mktemp -d "$build/package-test.XXXXXX")
installed=0
database=""
user_existed=0
getent passwd transferwatch >/dev/null && user_existed=1
state_existed=0
[ -e /var/lib/transferwatch ] && state_existed=1
etc_existed=0
[ -e /etc/transferwatch ] && etc_existed=1
cleanup() {
  local rc=$?
  set +e
  if [ "$installed" = 1 ]; then dpkg -P transferwatch >/dev/null 2>&1; fi
  if [ "$user_existed" = 0 ] && getent passwd transferwatch >/dev/null; then
    userdel transferwatch
    groupdel transferwatch 2>/dev/null
  fi
  [ "$state_existed" = 0 ] && rm -rf /var/lib/transferwatch
  [ "$etc_existed" = 0 ] && rm -rf /etc/transferwatch
  [ -n "$database" ] && psql "$TRANSFERWATCH_TEST_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $database"
  rm -rf "$out"
  exit "$rc"
}
trap cleanup EXIT

# 1. The package, from this tree.
step "cpack"
(cd "$build" && cpack -B "$out") >"$out/cpack.log" 2>&1 || fail "cpack: $(tail -n 30 "$out/cpack.log")"
arch=$(dpkg --print-architecture)
deb="$out/transferwatch_${version}_${arch}.deb"
[ -f "$deb" ] || fail "cpack made no $deb: $(ls "$out")"
step "built $(basename "$deb"), $(stat -c %s "$deb") bytes"
[ "$(dpkg-deb -f "$deb" Package)" = transferwatch ] || fail "package name"
[ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || fail "version $(dpkg-deb -f "$deb" Version)"
depends=$(dpkg-deb -f "$deb" Depends)
echo "package_test: Depends: $depends"
# Library packages from dpkg-shlibdeps, never the -dev packages the build needed.
for library in libpqxx-6.4 libtorch1.13 libsystemd0 libstdc++6 adduser; do
  [[ ", $depends," == *", $library "* || ", $depends," == *", $library,"* ]] ||
    fail "Depends lacks $library: $depends"
done
[[ "$depends" != *-dev* ]] || fail "Depends names a -dev package: $depends"
[ "$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)" = /etc/transferwatch/daemon.toml ] ||
  fail "conffiles should list /etc/transferwatch/daemon.toml"
files=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }')
for f in /usr/bin/transferwatch /usr/bin/transferwatchd /usr/bin/transferwatch-eval \
  /lib/systemd/system/transferwatchd.service /etc/transferwatch/daemon.toml \
  /usr/share/doc/transferwatch/daemon.md /usr/share/doc/transferwatch/transferwatch.txt \
  /usr/share/doc/transferwatch/transferwatchd.txt /usr/share/doc/transferwatch/transferwatch-eval.txt \
  /usr/share/transferwatch/imagenet/imagenet_real_labels.json \
  /usr/share/transferwatch/imagenet/imagenet_c_alexnet_errors.tsv \
  /usr/share/transferwatch/timm-results/results-imagenet.csv; do
  grep -qxF "$f" <<<"$files" || fail "the package lacks $f"
done
# dpkg would silently replace files no package owns: a hand-made installation is not ours.
for f in $files; do
  [ ! -e "$f" ] || fail "$f exists already (installed by hand?): refusing to overwrite it"
done

# 2. Installed.
step "dpkg -i"
installed=1
dpkg -i "$deb" >"$out/dpkg-i.log" 2>&1 || fail "dpkg -i: $(cat "$out/dpkg-i.log")"
[ "$(dpkg-query -W -f='${db:Status-Abbrev}' transferwatch)" = "ii " ] || fail "not installed"
describe=""
for program in transferwatch transferwatchd transferwatch-eval; do
  expect_exit 0 "/usr/bin/$program" --version
  [[ "$output" == "$program $version ("*")" ]] || fail "$program --version printed '$output'"
  this=${output#"$program $version "}
  [ -z "$describe" ] || [ "$this" = "$describe" ] || fail "$program is $this, not $describe"
  describe=$this
  file "/usr/bin/$program" | grep -q ', stripped' || fail "/usr/bin/$program is not stripped"
  if readelf -d "/usr/bin/$program" | grep -Eq 'R(UN)?PATH'; then
    fail "/usr/bin/$program keeps a build tree RUNPATH"
  fi
done
step "the three programs print $version $describe"

unit=/lib/systemd/system/transferwatchd.service
exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")
[ "$exec_start" = /usr/bin/transferwatchd ] || fail "$unit starts '$exec_start'"
doc=$(sed -n 's|^Documentation=file://||p' "$unit")
[ -f "$doc" ] || fail "$unit documents $doc, which is not installed"
cmp -s "$src/deploy/daemon.toml" /etc/transferwatch/daemon.toml || fail "daemon.toml differs"
dpkg-query -W -f='${Conffiles}' transferwatch | grep -q '^ /etc/transferwatch/daemon.toml ' ||
  fail "daemon.toml is not registered as a conffile"
# The shipped config loads; the daemon only wants a watch root before it can start.
expect_exit 2 /usr/bin/transferwatchd --config /etc/transferwatch/daemon.toml --check-config
[[ "$output" == *"nothing to watch"* ]] || fail "--check-config without a root: $output"
expect_exit 0 /usr/bin/transferwatchd --config /etc/transferwatch/daemon.toml --check-config --watch "$out"
for f in imagenet/imagenet_synsets.txt imagenet/imagenet_real_labels.json \
  imagenet/imagenet_c_alexnet_errors.tsv timm-results/results-imagenet.csv; do
  cmp -s "$src/data/$f" "/usr/share/transferwatch/$f" || fail "/usr/share/transferwatch/$f differs"
done
grep -q '^transferwatch dataset add --help$' /usr/share/doc/transferwatch/transferwatch.txt ||
  fail "transferwatch.txt lacks the subcommands' help"
grep -q -- '--check-config' /usr/share/doc/transferwatch/transferwatchd.txt ||
  fail "transferwatchd.txt is not transferwatchd's help"
IFS=: read -r _ _ uid _ _ home shell <<<"$(getent passwd transferwatch)" ||
  fail "postinst made no transferwatch user"
if [ "$uid" -ge 1000 ] || [ "$shell" != /usr/sbin/nologin ]; then
  fail "transferwatch is uid $uid with shell $shell, not a system user"
fi
[ "$(stat -c '%U:%G %a' /var/lib/transferwatch)" = "root:root 755" ] ||
  fail "/var/lib/transferwatch is $(stat -c '%U:%G %a' /var/lib/transferwatch)"
step "unit, config, data, help texts and user in place (home $home)"

# The installed CLI uses the installed data, not the source tree's (this machine has both): a
# class folder missing from the preset's class list is reported with the list's path.
database="tw_package_test_$$"
psql "$TRANSFERWATCH_TEST_DATABASE_URL" -qc "CREATE DATABASE $database" >/dev/null
url="$TRANSFERWATCH_TEST_DATABASE_URL dbname=$database"
mkdir -p "$out/probe/n99999999"
printf 'not an image' >"$out/probe/n99999999/1.png"
expect_exit 2 env -u TRANSFERWATCH_DATA_DIR /usr/bin/transferwatch --database "$url" \
  dataset add probe "$out/probe" --preset imagenet
[[ "$output" == *"not in the class list /usr/share/transferwatch/imagenet/imagenet_synsets.txt"* ]] ||
  fail "the installed CLI did not use /usr/share/transferwatch: $output"
expect_exit 0 /usr/bin/transferwatch --database "$url" import timm /usr/share/transferwatch/timm-results
step "the installed CLI reads /usr/share/transferwatch (class lists, timm results)"

# 3. Removed, then purged. State and files an administrator added survive the purge.
step "dpkg -r"
echo "# edited" >>/etc/transferwatch/daemon.toml
dpkg -r transferwatch >"$out/dpkg-r.log" 2>&1 || fail "dpkg -r: $(cat "$out/dpkg-r.log")"
[ "$(dpkg-query -W -f='${db:Status-Abbrev}' transferwatch)" = "rc " ] || fail "not in config-files state"
for f in $files; do
  [ "$f" = /etc/transferwatch/daemon.toml ] || [ ! -e "$f" ] || fail "dpkg -r left $f"
done
[ -f /etc/transferwatch/daemon.toml ] || fail "dpkg -r removed the edited config"
step "dpkg -P"
printf 'secret\n' >/etc/transferwatch/api-token
touch /var/lib/transferwatch/results-to-keep
dpkg -P transferwatch >"$out/dpkg-p.log" 2>&1 || fail "dpkg -P: $(cat "$out/dpkg-p.log")"
installed=0
status=$(dpkg-query -W -f='${db:Status-Status}' transferwatch 2>/dev/null || true)
[ -z "$status" ] || [ "$status" = not-installed ] || fail "after purge the package is '$status'"
for f in $files; do
  [ ! -e "$f" ] || fail "dpkg -P left $f"
done
for d in /usr/share/transferwatch /usr/share/doc/transferwatch; do
  [ ! -e "$d" ] || fail "dpkg -P left $d"
done
[ -f /etc/transferwatch/api-token ] || fail "purge deleted a file the administrator put in /etc"
[ -f /var/lib/transferwatch/results-to-keep ] || fail "purge deleted the state directory"
grep -q 'kept /var/lib/transferwatch' "$out/dpkg-p.log" || fail "purge did not say what it kept"
getent passwd transferwatch >/dev/null || fail "purge removed the transferwatch user"
step "removed and purged; kept the state directory, the administrator's file and the user"
