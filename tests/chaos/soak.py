#!/usr/bin/python3
"""The API soak: Debian's wrk against GET /v1/evaluations and GET /metrics of one daemon on
127.0.0.1 while it evaluates checkpoints that keep arriving, bounded in time. Prints requests/s,
latency percentiles and errors per endpoint, and the daemon's resident memory before, during and
after; exits 1 when a request failed (non-2xx or a socket error) or memory grew past the bound.

Usage: soak.py --bin DIR [--seconds N] [--connections C] [--threads T] [--keep]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from chaos import Daemon, Postgres, cli, log, make_data, SIDE

# RSS may grow while caches fill (the first pages of results, prepared statements, the metrics
# registry); a leak grows with every request. After the warm-up pass, the run may add this much.
RSS_GROWTH_BOUND_KB = 8 * 1024


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def wrk(url, seconds, connections, threads):
    r = subprocess.run(["wrk", "--latency", "-t", str(threads), "-c", str(connections),
                        "-d", f"{seconds}s", "--timeout", "5s", url],
                       capture_output=True, text=True)
    out = r.stdout
    if r.returncode != 0:
        raise RuntimeError(f"wrk failed: {r.stderr or out}")

    def num(pattern, default="0"):
        m = re.search(pattern, out)
        return m.group(1) if m else default

    def ms(text):
        value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]

    requests = int(num(r"(\d+) requests in"))
    errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = int(num(r"Non-2xx or 3xx responses: (\d+)"))
    return dict(requests=requests, rps=float(num(r"Requests/sec:\s+([\d.]+)")),
                p50=ms(num(r"50%\s+(\S+)", "0us")), p99=ms(num(r"99%\s+(\S+)", "0us")),
                errors=errors + non2xx, raw=out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", required=True)
    parser.add_argument("--seconds", type=int, default=60, help="per endpoint")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    args.bin = os.path.abspath(args.bin)
    if not 5 <= args.seconds <= 3600:
        parser.error("--seconds must be between 5 and 3600")
    if not shutil.which("wrk"):
        raise SystemExit("soak: wrk is missing (apt-get install wrk, or run scripts/setup)")
    root = tempfile.mkdtemp(prefix="twsoak.")
    os.chmod(root, 0o755)
    pg = Postgres(root)
    daemon = None
    stop = threading.Event()
    ok = False
    try:
        pg.init()
        env = dict(os.environ, TRANSFERWATCH_DATABASE_URL=pg.url, TRANSFERWATCH_HOME=root)
        data = os.path.join(root, "data")
        os.makedirs(data)
        models = 40
        pool = make_data(data, models, 5)
        pre = ["--layout", "wnid-folders", "--classes", os.path.join(data, "classes.txt"),
               "--img-size", str(SIDE), "--crop-pct", "1", "--channels", "1", "--mean", "0.5",
               "--std", "0.16"]
        cli(args.bin, env, "dataset", "add", "chaos", os.path.join(data, "chaos"), *pre)
        cli(args.bin, env, "dataset", "add", "chaos-shift", os.path.join(data, "chaos-shift"),
            "--reference", "chaos", *pre)
        watch_root = os.path.join(root, "checkpoints")
        os.makedirs(os.path.join(watch_root, "run"))
        daemon = Daemon(0, args.bin, root, pg.url, watch_root)
        daemon.start()
        port = None
        for _ in range(200):
            with open(daemon.log_path, errors="replace") as f:
                m = re.search(r"HTTP API on 127\.0\.0\.1:(\d+)", f.read())
            if m:
                port = m.group(1)
                break
            time.sleep(0.1)
        if not port:
            raise RuntimeError("the daemon did not start its API; see " + daemon.log_path)
        base = f"http://127.0.0.1:{port}"

        def generate():  # a checkpoint every 1.5 s: evaluations run during the whole soak
            for i, src in enumerate(pool):
                if stop.wait(1.5):
                    return
                dst = os.path.join(watch_root, "run", f"epoch_{i:03d}.pt")
                shutil.copyfile(src, dst + ".tmp")
                os.chmod(dst + ".tmp", 0o644)
                os.rename(dst + ".tmp", dst)

        threading.Thread(target=generate, daemon=True).start()
        time.sleep(8)  # a few results in the store before the first request
        rss_start = rss_kb(daemon.proc.pid)
        endpoints = [("/v1/evaluations?limit=50", "GET /v1/evaluations?limit=50"),
                     ("/metrics", "GET /metrics")]
        log(f"warm-up: 5 s per endpoint ({args.connections} connections)")
        for path, _ in endpoints:
            wrk(base + path, 5, args.connections, args.threads)
        rss_warm = rss_kb(daemon.proc.pid)
        results = []
        for path, name in endpoints:
            log(f"soak: {name} for {args.seconds} s")
            results.append((name, wrk(base + path, args.seconds, args.connections,
                                      args.threads)))
        rss_end = rss_kb(daemon.proc.pid)
        evaluations = pg.one("SELECT count(*) FROM tw.evaluations")
        stop.set()
        alive = daemon.alive()

        print()
        print(f"soak: {args.seconds} s per endpoint, {args.connections} connections, "
              f"{args.threads} wrk threads, while the daemon evaluated ({evaluations} "
              f"evaluations recorded by the end)")
        print(f"  {'endpoint':34s} {'requests':>9s} {'req/s':>9s} {'p50 ms':>8s} "
              f"{'p99 ms':>8s} {'errors':>7s}")
        for name, r in results:
            print(f"  {name:34s} {r['requests']:9d} {r['rps']:9.0f} {r['p50']:8.2f} "
                  f"{r['p99']:8.2f} {r['errors']:7d}")
        print(f"  daemon RSS: {rss_start / 1024:.1f} MiB before, {rss_warm / 1024:.1f} MiB "
              f"after the warm-up, {rss_end / 1024:.1f} MiB after the soak "
              f"(growth {(rss_end - rss_warm) / 1024:+.1f} MiB, bound "
              f"{RSS_GROWTH_BOUND_KB / 1024:.0f} MiB)")
        failures = []
        for name, r in results:
            if r["errors"]:
                failures.append(f"{name}: {r['errors']} errors\n{r['raw']}")
            if r["requests"] == 0:
                failures.append(f"{name}: no request completed")
        if rss_end - rss_warm > RSS_GROWTH_BOUND_KB:
            failures.append("daemon memory grew past the bound")
        if not alive:
            failures.append("the daemon died during the soak")
        if evaluations == 0:
            failures.append("no evaluation ran during the soak")
        if failures:
            print("\nSOAK FAILED:\n  " + "\n  ".join(failures))
            return 1
        print("\nno errors, no growth")
        ok = True
        return 0
    finally:
        stop.set()
        if daemon is not None and daemon.alive():
            daemon.proc.terminate()
            daemon.proc.wait()
        pg.stop()
        if ok and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"soak: work folder kept: {root}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
