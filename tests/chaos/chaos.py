#!/usr/bin/python3
"""The chaos run: three transferwatchd daemons on one PostgreSQL, a generator dropping
checkpoints into several runs, two webhook receivers that fail at random, and meanwhile daemons
and evaluators SIGKILLed at random moments, PostgreSQL restarted (immediate shutdown, i.e. a
crash) and a daemon paused (SIGSTOP) past its lease. Then everything is let to settle and the
invariants are checked against the store and the receivers:

  every dropped checkpoint registered once; every (checkpoint, dataset) evaluated exactly once
  and its job done; no job left running, pending or dead; every flag has its one event; every
  delivery delivered, and each receiver processed every message id exactly once (a message
  re-sent after a kill is recognised by its webhook-id and not processed again); every request
  signed correctly; no evaluator outlived its daemon; no daemon died on its own; each daemon
  stops cleanly on SIGTERM.

Exit status 0 when every invariant holds, 1 when one fails, 2 on a usage or setup error.
Loopback only: PostgreSQL listens on a unix socket, receivers and APIs on 127.0.0.1.
Runs under Debian's /usr/bin/python3 (torch and PIL make the checkpoints and images).

Usage: chaos.py --bin DIR [--minutes N] [--seed S] [--keep] [--workdir DIR]
"""
import argparse
import http.server
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "demo"))
from chat_sink import verify  # noqa: E402  (one Standard Webhooks verifier for demo and chaos)

DATASETS = ("chaos", "chaos-shift")
RUNS = ("run-a", "run-b", "run-c")
DAEMONS = 3
LEASE_S = 6
CLASSES = 10
SIDE = 16
IMAGES_PER_CLASS = 40


def log(msg):
    print(f"[chaos {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Postgres:
    """A throwaway cluster on a unix socket that the run can crash and restart."""

    def __init__(self, root):
        bins = sorted(d for d in os.listdir("/usr/lib/postgresql") if d.isdigit())
        if not bins:
            raise SystemExit("chaos: no PostgreSQL server installed (run scripts/setup)")
        self.bin = f"/usr/lib/postgresql/{bins[-1]}/bin"
        self.dir = os.path.join(root, "pg")
        os.makedirs(self.dir)
        self.port = random.Random().randint(20000, 40000)
        self.as_pg = []
        if os.getuid() == 0:  # initdb and postgres refuse to run as root
            shutil.chown(self.dir, "postgres", "postgres")
            self.as_pg = ["runuser", "-u", "postgres", "--"]
        self.data = os.path.join(self.dir, "data")
        self.url = f"host={self.dir} port={self.port} user=postgres dbname=tw"

    def _run(self, *args):
        subprocess.run(self.as_pg + [f"{self.bin}/{args[0]}", *args[1:]], check=True,
                       stdout=subprocess.DEVNULL)

    def start(self):
        self._run("pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "server.log"), "-w", "-s",
                  "-o", f"-k {self.dir} -p {self.port} -c listen_addresses='' "
                  "-c max_connections=200", "start")

    def init(self):
        self._run("initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--locale=C.UTF-8")
        self.start()
        self.sql("CREATE DATABASE tw", db="postgres")

    def crash_restart(self):
        # -m immediate: no shutdown checkpoint; the restart replays the WAL, as after a crash.
        self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "-s", "stop")
        self.start()

    def stop(self):
        subprocess.run(self.as_pg + [f"{self.bin}/pg_ctl", "-D", self.data, "-m", "fast", "-w",
                                     "-s", "stop"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    def sql(self, query, db="tw"):
        """Rows of a query as lists of strings; retried while the server restarts."""
        for attempt in range(60):
            r = subprocess.run(["psql", "-h", self.dir, "-p", str(self.port), "-U", "postgres",
                                "-d", db, "-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                                "-c", query], capture_output=True, text=True)
            if r.returncode == 0:
                return [line.split("\t") for line in r.stdout.splitlines() if line]
            if attempt == 59:
                raise RuntimeError(f"psql failed: {r.stderr.strip()}")
            time.sleep(0.5)

    def one(self, query):
        rows = self.sql(query)
        return int(rows[0][0]) if rows and rows[0][0] != "" else 0


class Receiver:
    """A webhook endpoint that verifies every signature, fails the first attempt of a message at
    random (so the sender's retry is exercised), and processes each message id once."""

    def __init__(self, name, secret, fail_rate, rng):
        self.name, self.secret, self.fail_rate, self.rng = name, secret, fail_rate, rng
        self.lock = threading.Lock()
        self.accepted = {}  # webhook-id -> times processed (must end at 1 each)
        self.failed_once = set()
        self.duplicates = 0  # re-sent after being processed: answered 200, not processed again
        self.unverified = 0
        self.failures_sent = 0
        self.requests = 0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                msg_id = self.headers.get("webhook-id", "")
                ok = verify(receiver.secret, msg_id, self.headers.get("webhook-timestamp", ""),
                            body, self.headers.get("webhook-signature", ""))
                with receiver.lock:
                    receiver.requests += 1
                    if not ok:
                        receiver.unverified += 1
                        code = 401
                    elif msg_id in receiver.accepted:
                        receiver.duplicates += 1
                        code = 200
                    elif msg_id not in receiver.failed_once and \
                            receiver.rng.random() < receiver.fail_rate:
                        receiver.failed_once.add(msg_id)
                        receiver.failures_sent += 1
                        code = 503
                    else:
                        receiver.accepted[msg_id] = receiver.accepted.get(msg_id, 0) + 1
                        code = 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def make_data(root, checkpoints_needed, seed):
    """Two datasets (clean and shifted) of synthetic 16x16 grey images and a pool of distinct
    TorchScript checkpoints: template matchers of varying quality, so transfer checks have real
    differences to test."""
    import numpy as np
    import torch
    from PIL import Image

    rng = np.random.default_rng(seed)
    templates = rng.normal(0, 1, (CLASSES, SIDE, SIDE))
    with open(os.path.join(root, "classes.txt"), "w") as f:
        f.write("".join(f"c{k}\n" for k in range(CLASSES)))
    # The shifted domain shows each class mirrored: a model transfers only as far as it also
    # learned the mirrored template.
    mirrored = templates[:, :, ::-1]
    for name, domain in (("chaos", templates), ("chaos-shift", mirrored)):
        for k in range(CLASSES):
            folder = os.path.join(root, name, f"c{k}")
            os.makedirs(folder)
            for i in range(IMAGES_PER_CLASS):
                img = domain[k] + rng.normal(0, 1.2, (SIDE, SIDE))
                pixels = np.clip(128 + 40 * img, 0, 255).astype(np.uint8)
                Image.fromarray(pixels, mode="L").save(os.path.join(folder, f"{i:03d}.png"))

    class Matcher(torch.nn.Module):
        def __init__(self, weight):
            super().__init__()
            self.weight = torch.nn.Parameter(weight)

        def forward(self, x):
            return torch.flatten(x, 1) @ self.weight.t()

    pool = os.path.join(root, "pool")
    os.makedirs(pool)
    paths = []
    flat = torch.tensor(templates.reshape(CLASSES, -1), dtype=torch.float32)
    flat_mirrored = torch.tensor(mirrored.reshape(CLASSES, -1).copy(), dtype=torch.float32)
    for i in range(checkpoints_needed):
        torch.manual_seed(seed * 1000 + i)
        # How much of each domain a checkpoint learned, independently: successive checkpoints
        # differ enough on 400 images for McNemar's test to see gains that do not transfer.
        clean, shifted = rng.uniform(0.0, 0.8, 2)
        weight = clean * flat + shifted * flat_mirrored + torch.randn(flat.shape)
        path = os.path.join(pool, f"model-{i:03d}.pt")
        torch.jit.script(Matcher(weight)).save(path)
        paths.append(path)
    return paths


def processes():
    """(pid, ppid, comm, cmdline) of every live process (zombies are dead: whether PID 1 reaps
    them is not ours to check)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        state, ppid = stat[stat.rindex(")") + 2:].split()[:2]
        if state in ("Z", "X"):
            continue
        ppid = int(ppid)
        out.append((int(entry), ppid, comm, cmdline))
    return out


class Daemon:
    def __init__(self, index, bin_dir, root, pg_url, watch_root):
        self.index = index
        self.name = f"daemon-{index}"
        self.bin = os.path.join(bin_dir, "transferwatchd")
        self.state = os.path.join(root, self.name)
        os.makedirs(self.state)
        self.config = os.path.join(self.state, "daemon.toml")
        self.log_path = os.path.join(self.state, "daemon.log")
        evaluator = os.path.join(bin_dir, "transferwatch-eval")
        with open(self.config, "w") as f:
            f.write(f"""# Written by the chaos run.
state_dir = "{self.state}"
[database]
url = "{pg_url}"
[watch]
roots = ["{watch_root}"]
settle = "500ms"
rescan_interval = "5s"
[eval]
evaluator = "{evaluator}"
config = '{{"batch_size": 64}}'
threads = 1
[workers]
slots = 1
lease = "{LEASE_S}s"
heartbeat = "2s"
max_attempts = 30
retry_backoff = "1s"
poll_interval = "1s"
plan_interval = "2s"
drain_timeout = "5s"
[analysis]
primary_dataset = "chaos"
[alerts]
max_messages_per_minute = 0
[api]
port = 0
""")
        self.proc = None
        self.stopped = False
        self.starts = 0

    def start(self):
        logf = open(self.log_path, "a")
        self.proc = subprocess.Popen([self.bin, "--config", self.config, "--log-level", "info"],
                                     stdout=logf, stderr=logf)
        logf.close()
        self.stopped = False
        self.starts += 1

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def evaluators(self):
        if not self.alive():
            return []
        return [p for p, ppid, comm, _ in processes()
                if ppid == self.proc.pid and comm.startswith("transferwatch-e")]

    def log_count(self, needle):
        try:
            with open(self.log_path, errors="replace") as f:
                return sum(needle in line for line in f)
        except OSError:
            return 0


def cli(bin_dir, env, *args):
    r = subprocess.run([os.path.join(bin_dir, "transferwatch"), *args], env=env,
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"transferwatch {' '.join(args)}: exit {r.returncode}: {r.stderr}")
    return r.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", required=True, help="folder with the three programs")
    parser.add_argument("--minutes", type=float, default=5.0, help="length of the chaos phase")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--workdir", default=None, help="parent of the work folder")
    args = parser.parse_args()
    args.bin = os.path.abspath(args.bin)
    if not 0.2 <= args.minutes <= 600:
        parser.error("--minutes must be between 0.2 and 600")
    for program in ("transferwatchd", "transferwatch", "transferwatch-eval"):
        if not os.access(os.path.join(args.bin, program), os.X_OK):
            parser.error(f"{program} not found in {args.bin} (build it first)")
    seed = args.seed if args.seed is not None else random.SystemRandom().randint(1, 10**6)
    rng = random.Random(seed)
    chaos_s = args.minutes * 60
    # About one checkpoint per 6 s of chaos, at least six (two per run).
    total = max(6, int(chaos_s / 6))
    root = tempfile.mkdtemp(prefix="twchaos.", dir=args.workdir)
    os.chmod(root, 0o755)  # the sandboxed evaluator runs as an unprivileged user
    log(f"seed {seed}; work folder {root}; {args.minutes:g} min of chaos, {total} checkpoints")

    pg = Postgres(root)
    daemons = []
    ok = False
    try:
        pg.init()
        env = dict(os.environ, TRANSFERWATCH_DATABASE_URL=pg.url, TRANSFERWATCH_HOME=root)
        data = os.path.join(root, "data")
        os.makedirs(data)
        pool = make_data(data, total, seed)
        pre = ["--layout", "wnid-folders", "--classes", os.path.join(data, "classes.txt"),
               "--img-size", str(SIDE), "--crop-pct", "1", "--channels", "1", "--mean", "0.5",
               "--std", "0.16"]
        cli(args.bin, env, "dataset", "add", "chaos", os.path.join(data, "chaos"), *pre)
        cli(args.bin, env, "dataset", "add", "chaos-shift", os.path.join(data, "chaos-shift"),
            "--reference", "chaos", *pre)
        receivers = []
        for name, fmt in (("generic", "generic"), ("slack", "slack")):
            secret_file = os.path.join(root, f"{name}.secret")
            secret = "whsec_" + __import__("base64").b64encode(os.urandom(24)).decode()
            with open(os.open(secret_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
                f.write(secret + "\n")
            receiver = Receiver(name, secret, 0.4, random.Random(rng.random()))
            cli(args.bin, env, "webhook", "add", receiver.url, "--format", fmt, "--secret-file",
                secret_file, "--events", "regression,no-transfer,eval-failed",
                "--allow-private-network")
            receiver.webhook_id = pg.one(f"SELECT id FROM tw.webhooks WHERE url = '{receiver.url}'")
            receivers.append(receiver)

        watch_root = os.path.join(root, "checkpoints")
        for run in RUNS:
            os.makedirs(os.path.join(watch_root, run))
        daemons = [Daemon(i, args.bin, root, pg.url, watch_root) for i in range(DAEMONS)]
        for d in daemons:
            d.start()

        figures = dict(daemon_kills=0, evaluator_kills=0, pauses=0, pg_restarts=0,
                       daemon_restarts=0, unexpected_exits=0, orphans_seen=0, slow_writes=0)
        dropped = []
        epochs = {run: 0 for run in RUNS}
        pending = []  # (when, action, daemon)
        start = time.monotonic()
        drop_every = chaos_s * 0.8 / total
        next_drop = start + 1
        next_chaos = start + rng.uniform(2, 5)
        killed = set()  # daemons whose death we caused, until restarted

        def drop():
            run = rng.choice(RUNS)
            epochs[run] += 1
            path = os.path.join(watch_root, run, f"epoch_{epochs[run]:03d}.pt")
            with open(pool[len(dropped)], "rb") as f:
                content = f.read()
            if rng.random() < 0.25:
                # Written in place, slowly: nothing may be taken before it is complete.
                with open(path, "wb") as f:
                    f.write(content[:len(content) // 2])
                    f.flush()
                    time.sleep(0.7)
                    f.write(content[len(content) // 2:])
                figures["slow_writes"] += 1
            else:
                with open(path + ".tmp", "wb") as f:
                    f.write(content)
                    f.flush()
                    os.fsync(f.fileno())
                os.rename(path + ".tmp", path)
            os.chmod(path, 0o644)
            dropped.append(path)

        def act():
            choice = rng.random()
            running = [d for d in daemons if d.alive() and not d.stopped]
            # Daemons in the middle of an evaluation are the interesting victims.
            busy = [d for d in running if d.evaluators()] or running
            if choice < 0.3 and running:
                d = rng.choice(busy)
                children = d.evaluators()
                d.proc.send_signal(signal.SIGKILL)
                d.proc.wait()
                killed.add(d.name)
                figures["daemon_kills"] += 1
                log(f"SIGKILL {d.name} ({len(children)} evaluator(s) running)")
                pending.append((time.monotonic() + 2.0, "orphans", children))
                pending.append((time.monotonic() + rng.uniform(1, 4), "restart", d))
            elif choice < 0.6:
                targets = [(d, e) for d in running for e in d.evaluators()]
                if targets:
                    d, e = rng.choice(targets)
                    try:
                        os.kill(e, signal.SIGKILL)
                        figures["evaluator_kills"] += 1
                        log(f"SIGKILL evaluator {e} of {d.name}")
                    except ProcessLookupError:
                        pass
            elif choice < 0.78 and running:
                d = rng.choice(busy)
                d.proc.send_signal(signal.SIGSTOP)
                d.stopped = True
                figures["pauses"] += 1
                log(f"SIGSTOP {d.name} for {LEASE_S + 4} s (lease {LEASE_S} s)")
                pending.append((time.monotonic() + LEASE_S + 4, "continue", d))
            else:
                log("PostgreSQL: immediate shutdown and restart")
                pg.crash_restart()
                figures["pg_restarts"] += 1

        def due(now):
            for item in sorted(p for p in pending if p[0] <= now):
                pending.remove(item)
                _, what, target = item
                if what == "restart":
                    target.start()
                    killed.discard(target.name)
                    figures["daemon_restarts"] += 1
                elif what == "continue":
                    target.proc.send_signal(signal.SIGCONT)
                    target.stopped = False
                elif what == "orphans":
                    alive = {p for p, _, _, _ in processes()}
                    survivors = [p for p in target if p in alive]
                    figures["orphans_seen"] += len(survivors)
                    if survivors:
                        log(f"ORPHAN evaluator(s) outlived their daemon: {survivors}")

        def watch_exits():
            for d in daemons:
                if d.proc.poll() is not None and d.name not in killed:
                    figures["unexpected_exits"] += 1
                    log(f"{d.name} exited on its own (status {d.proc.returncode}); restarting")
                    d.start()

        while True:
            now = time.monotonic()
            if now - start >= chaos_s and len(dropped) >= total:
                break
            if len(dropped) < total and now >= next_drop:
                drop()
                next_drop = now + drop_every * rng.uniform(0.5, 1.5)
            if now >= next_chaos and now - start < chaos_s:
                act()
                next_chaos = now + rng.uniform(2, 6)
            due(now)
            watch_exits()
            time.sleep(0.1)

        log("chaos over; letting everything settle")
        pending.sort(key=lambda p: p[0])
        while pending:
            time.sleep(max(0, pending[0][0] - time.monotonic()))
            due(time.monotonic())
        expected = len(dropped) * len(DATASETS)
        # The delivery lease (60 s) of a sender killed mid-send must run out before another
        # daemon re-sends its message: allow for it.
        deadline = time.monotonic() + 240 + 10 * expected
        while time.monotonic() < deadline:
            watch_exits()
            open_work = pg.one(
                "SELECT (SELECT count(*) FROM tw.jobs WHERE state IN ('pending', 'running')) + "
                "(SELECT count(*) FROM tw.deliveries WHERE state = 'pending') + "
                "(SELECT count(*) FROM tw.checkpoints WHERE checks_due_at IS NOT NULL)")
            registered = pg.one("SELECT count(*) FROM tw.checkpoints")
            jobs = pg.one("SELECT count(*) FROM tw.jobs")
            if open_work == 0 and registered >= len(dropped) and jobs >= expected:
                break
            time.sleep(1)
        settle_s = time.monotonic() - start - chaos_s

        for d in daemons:
            if d.stopped:
                d.proc.send_signal(signal.SIGCONT)
            d.proc.send_signal(signal.SIGTERM)
        exit_codes = {}
        for d in daemons:
            try:
                exit_codes[d.name] = d.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                d.proc.kill()
                exit_codes[d.name] = "hung"
        time.sleep(0.5)
        orphans = [p for p, _, comm, cmd in processes()
                   if comm.startswith("transferwatch-e") and root in cmd]

        # ---- the invariants ------------------------------------------------------------
        q = pg.one
        registered = q("SELECT count(*) FROM tw.checkpoints")
        recorded = q("SELECT count(*) FROM tw.evaluations WHERE source = 'evaluator'")
        twice = q("SELECT count(*) FROM (SELECT 1 FROM tw.evaluations GROUP BY checkpoint_id, "
                  "dataset_id, eval_config_id HAVING count(*) > 1) t")
        per_pair = q("SELECT count(*) FROM (SELECT c.id, d.id FROM tw.checkpoints c CROSS JOIN "
                     "tw.datasets d WHERE NOT EXISTS (SELECT 1 FROM tw.evaluations e WHERE "
                     "e.checkpoint_id = c.id AND e.dataset_id = d.id)) t")
        states = dict((s, int(n)) for s, n in pg.sql(
            "SELECT state, count(*) FROM tw.jobs GROUP BY state"))
        done_without_result = q("SELECT count(*) FROM tw.jobs WHERE state = 'done' AND "
                                "evaluation_id IS NULL")
        retried = q("SELECT count(*) FROM tw.jobs WHERE attempt > 1")
        attempts = q("SELECT coalesce(sum(attempt), 0) FROM tw.jobs")
        flags = q("SELECT count(*) FROM tw.transfer_checks WHERE verdict <> 'none'")
        flag_events_expected = q(
            "SELECT count(*) FROM (SELECT DISTINCT checkpoint_id, reference_checkpoint_id, "
            "verdict FROM tw.transfer_checks WHERE verdict <> 'none') t")
        flag_events = q("SELECT count(*) FROM tw.outbox WHERE event_type IN ('regression', "
                        "'no-transfer')")
        failed_events = q("SELECT count(*) FROM tw.outbox WHERE event_type = 'eval-failed'")
        checks = q("SELECT count(*) FROM tw.transfer_checks")
        checks_owed = q("SELECT count(*) FROM tw.checkpoints WHERE checks_due_at IS NOT NULL")
        # Every checkpoint is compared with the run's previous one (the store's rule: by step),
        # whatever was killed between its last result and its checks.
        missing_checks = q(
            "WITH ck AS (SELECT id, run_id, step, created_at FROM tw.checkpoints "
            "  WHERE origin = 'file'), "
            "pairs AS (SELECT me.id AS cid, (SELECT c.id FROM ck c WHERE c.run_id = me.run_id "
            "  AND c.id <> me.id AND (CASE WHEN c.step IS NOT NULL AND me.step IS NOT NULL "
            "  THEN c.step < me.step ELSE c.created_at < me.created_at END) "
            "  ORDER BY c.step DESC NULLS LAST, c.created_at DESC, c.id DESC LIMIT 1) AS pid "
            "  FROM ck me) "
            "SELECT count(*) FROM pairs WHERE pid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
            "  tw.transfer_checks t WHERE t.checkpoint_id = pairs.cid AND "
            "  t.reference_checkpoint_id = pairs.pid)")
        lost_leases = sum(d.log_count("result discarded: the lease was lost") +
                          d.log_count("its jobs were rescued elsewhere") for d in daemons)

        failures = []

        def check(ok_, what):
            if not ok_:
                failures.append(what)

        check(registered == len(dropped), f"checkpoints registered {registered} != dropped "
              f"{len(dropped)}")
        check(recorded == expected, f"evaluations recorded {recorded} != expected {expected}")
        check(twice == 0, f"{twice} (checkpoint, dataset, config) evaluated more than once")
        check(per_pair == 0, f"{per_pair} (checkpoint, dataset) pairs without an evaluation")
        check(states.get("done", 0) == expected, f"jobs done {states.get('done', 0)} != "
              f"{expected}")
        for state in ("running", "pending", "dead"):
            check(states.get(state, 0) == 0, f"jobs {state}: {states.get(state, 0)}")
        check(done_without_result == 0, f"{done_without_result} done jobs without a result")
        check(checks_owed == 0, f"{checks_owed} checkpoints with transfer checks still owed")
        check(missing_checks == 0, f"{missing_checks} checkpoints never compared with their "
              "run's previous checkpoint")
        check(flag_events == flag_events_expected,
              f"flag events {flag_events} != distinct flags {flag_events_expected}")
        print()
        print(f"chaos run, seed {seed}: {args.minutes:g} min of chaos, settled in "
              f"{settle_s:.0f} s")
        print(f"  checkpoints dropped / registered       {len(dropped)} / {registered}"
              f"  ({figures['slow_writes']} written slowly in place)")
        print(f"  evaluations expected / recorded        {expected} / {recorded}"
              f"  (duplicates {twice})")
        print(f"  jobs: {json.dumps(states, sort_keys=True)}; retried {retried}, attempts "
              f"{attempts}, evaluations discarded after a lost lease {lost_leases}")
        print(f"  transfer checks {checks} (missing against the previous checkpoint "
              f"{missing_checks}, still owed {checks_owed}), flags {flags}, flag events {flag_events}, eval-failed events "
              f"{failed_events}")
        for r in receivers:
            delivered = {row[0] for row in pg.sql(
                "SELECT DISTINCT message_id FROM tw.deliveries WHERE webhook_id = "
                f"{r.webhook_id} AND state = 'delivered'")}
            events_due = q(f"SELECT count(*) FROM tw.deliveries WHERE webhook_id = "
                           f"{r.webhook_id}")
            not_delivered = q(f"SELECT count(*) FROM tw.deliveries WHERE webhook_id = "
                              f"{r.webhook_id} AND state <> 'delivered'")
            processed = set(r.accepted)
            twice_processed = sum(1 for n in r.accepted.values() if n != 1)
            print(f"  webhook {r.name:8s} events {events_due}, messages delivered "
                  f"{len(delivered)}, processed once each {len(processed)}, re-sent and "
                  f"recognised {r.duplicates}, first attempts failed on purpose "
                  f"{r.failures_sent}, bad signatures {r.unverified}, requests {r.requests}")
            check(not_delivered == 0, f"webhook {r.name}: {not_delivered} deliveries not "
                  "delivered")
            check(processed == delivered, f"webhook {r.name}: processed ids != delivered "
                  f"message ids ({len(processed - delivered)} extra, "
                  f"{len(delivered - processed)} missing)")
            check(twice_processed == 0, f"webhook {r.name}: {twice_processed} ids processed "
                  "twice")
            check(r.unverified == 0, f"webhook {r.name}: {r.unverified} bad signatures")
        print(f"  survived: {figures['daemon_kills']} daemon SIGKILLs, "
              f"{figures['evaluator_kills']} evaluator SIGKILLs, {figures['pauses']} SIGSTOPs "
              f"past the lease, {figures['pg_restarts']} PostgreSQL crash restarts, "
              f"{figures['daemon_restarts']} daemon restarts")
        print(f"  daemons that died on their own {figures['unexpected_exits']}; evaluators that "
              f"outlived their daemon {figures['orphans_seen']}; left at the end {len(orphans)}; "
              f"exit codes on SIGTERM {exit_codes}")
        check(figures["unexpected_exits"] == 0,
              f"{figures['unexpected_exits']} daemon exits nobody caused")
        check(figures["orphans_seen"] == 0 and not orphans, "orphan evaluator processes")
        check(all(c == 0 for c in exit_codes.values()), f"daemon exit codes {exit_codes}")
        if failures:
            print("\nINVARIANTS FAILED:")
            for f_ in failures:
                print(f"  - {f_}")
            print(f"work folder kept: {root}")
            return 1
        print("\nall invariants hold")
        ok = True
        return 0
    finally:
        for d in daemons:
            if d.alive():
                if d.stopped:
                    d.proc.send_signal(signal.SIGCONT)
                d.proc.kill()
                d.proc.wait()
        pg.stop()
        if ok and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        elif not ok:
            print(f"chaos: work folder kept for inspection: {root}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
