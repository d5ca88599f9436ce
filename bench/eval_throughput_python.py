#!/usr/bin/python3
"""Python side of bench/eval_throughput: test data, the machine's fp32 peak, the two Python
evaluation loops it is compared with, and the summary table.

Needs Debian's python3-torch (1.13), python3-torchvision (0.14), PIL and numpy: run it with
/usr/bin/python3. Subcommands (each prints one JSON object on stdout; progress on stderr):

  gen-images DIR --n N --synsets FILE   deterministic ImageNet-like JPEGs in wnid folders
  gen-models DIR --images DIR           TorchScript resnet18.pt / resnet50.pt (random weights,
                                        BatchNorm statistics from 64 of the images)
  peak                                  fp32 GFLOP/s: torch.mm 4096^3 and an FMA loop (C)
  py-eval --mode eager|ofi ...          the timm-style Python loop, (a) eager or (b) frozen +
                                        optimize_for_inference
  labels DIR --synsets FILE --out-csv F --out-subset F   the labels/subset files of bench2/3
  compare-preds A.csv B.csv             top-1 drift between two `predictions export` files
  summarize RESULTS.jsonl               the table
"""

import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
GFLOP_PER_IMAGE = {"resnet18": 3.63, "resnet50": 8.18}  # 2 x MACs at 224x224 (platform notes)
TARGET_C_OVER_A = {"resnet18": 1.4, "resnet50": 1.6}


def log(message):
    print(f"[eval_throughput {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Test data


def image_size(rng):
    # ImageNet val is mostly 500x375 / 375x500 / 500x333 / 333x500.
    r = rng.random_sample()
    if r < 0.60:
        return 500, 375
    if r < 0.78:
        return 375, 500
    if r < 0.92:
        return 500, 333
    return 333, 500


def make_image(seed):
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.RandomState(seed)
    w, h = image_size(rng)
    # Smooth colour gradient.
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.empty((h, w, 3), np.float32)
    for c in range(3):
        a, b, d = rng.uniform(-1, 1, 3)
        base[..., c] = 128 + 90 * np.sin(a * x / w * math.pi + b * y / h * math.pi + d * 3)
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(4, 10)):
        x0, y0 = rng.randint(0, w), rng.randint(0, h)
        x1, y1 = x0 + rng.randint(20, w // 2), y0 + rng.randint(20, h // 2)
        colour = tuple(int(v) for v in rng.randint(0, 256, 3))
        if rng.random_sample() < 0.5:
            draw.ellipse([x0, y0, x1, y1], fill=colour)
        else:
            draw.rectangle([x0, y0, x1, y1], fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(2))
    noisy = np.asarray(img, np.float32) + rng.normal(0, 24, (h, w, 3)).astype(np.float32)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def cmd_gen_images(args):
    with open(args.synsets) as f:
        synsets = [line.split()[0] for line in f if line.strip()]
    classes = 100
    per_class = args.n // classes
    if per_class * classes != args.n:
        sys.exit("--n must be a multiple of 100")
    # 100 wnids spread over the 1000 classes (every 10th).
    wnids = synsets[::10][:classes]
    os.makedirs(args.dir, exist_ok=True)
    sizes = []
    t0 = time.time()
    for k, wnid in enumerate(wnids):
        os.makedirs(os.path.join(args.dir, wnid), exist_ok=True)
        for j in range(per_class):
            index = k * per_class + j
            path = os.path.join(args.dir, wnid, f"{wnid}_{index:05d}.JPEG")
            make_image(1000 + index).save(path, "JPEG", quality=90)
            sizes.append(os.path.getsize(path))
        if (k + 1) % 20 == 0:
            log(f"  images: {(k + 1) * per_class}/{args.n}")
    out = {"dir": args.dir, "images": len(sizes), "classes": classes,
           "mean_kb": statistics.mean(sizes) / 1000, "seconds": time.time() - t0}
    print(json.dumps(out))


def eval_transform(img_size=224, crop_pct=0.875):
    from torchvision import transforms

    return transforms.Compose([
        transforms.Resize(int(math.floor(img_size / crop_pct)),
                          interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.CenterCrop(img_size),
        transforms.ToTensor(),
        transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])


def cmd_gen_models(args):
    import torch
    import torchvision
    from PIL import Image

    torch.set_num_threads(2)
    # BatchNorm statistics from 64 of the images (weights stay random): with the initial
    # statistics (mean 0, var 1) every image gets the same top-1 class, and the bf16 drift and
    # the parity check would say nothing.
    files = sorted(os.path.join(root, f) for root, _, names in os.walk(args.images)
                   for f in names if f.endswith(".JPEG"))
    step = max(1, len(files) // 64)
    transform = eval_transform()
    calib = torch.stack([transform(Image.open(f).convert("RGB")) for f in files[::step][:64]])
    os.makedirs(args.dir, exist_ok=True)
    out = {}
    for i, arch in enumerate(("resnet18", "resnet50")):
        torch.manual_seed(i)
        model = getattr(torchvision.models, arch)(weights=None)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.momentum = None  # a cumulative average over the calibration batches
                m.reset_running_stats()
        model.train()
        with torch.no_grad():
            for batch in calib.split(32):
                model(batch)
        model.eval()
        scripted = torch.jit.script(model)
        path = os.path.join(args.dir, f"{arch}.pt")
        torch.jit.save(scripted, path)
        with torch.inference_mode():
            distinct = len(set(scripted(calib).argmax(1).tolist()))
        out[arch] = {"path": path, "bytes": os.path.getsize(path),
                     "calibration_images": len(calib), "distinct_top1_on_calibration": distinct}
        log(f"  {path}: {os.path.getsize(path) / 1e6:.1f} MB, {distinct} distinct top-1 classes "
            f"on the {len(calib)} calibration images")
    print(json.dumps(out))


# ---------------------------------------------------------------------------------------------
# Peak


FMA_SOURCE = r"""
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
/* 12 independent chains of 8-wide FMAs per thread: enough to fill both FMA pipes. */
int main(int argc, char** argv) {
  int threads = atoi(argv[1]);
  long iters = atol(argv[2]);
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    double t0 = omp_get_wtime();
    float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    {
      __m256 a[12];
      __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
      for (int k = 0; k < 12; ++k) a[k] = _mm256_set1_ps((float)k + omp_get_thread_num());
      for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 12
        for (int k = 0; k < 12; ++k) a[k] = _mm256_fmadd_ps(a[k], m, c);
      }
      float out[8];
      __m256 s = a[0];
      for (int k = 1; k < 12; ++k) s = _mm256_add_ps(s, a[k]);
      _mm256_storeu_ps(out, s);
      for (int k = 0; k < 8; ++k) sink += out[k];
    }
    double g = 2.0 * 8 * 12 * (double)iters * threads / (omp_get_wtime() - t0) / 1e9;
    if (g > best) best = g;
    if (sink == 12345.f) printf("!");
  }
  printf("%.2f\n", best);
  return 0;
}
"""


def fma_peak(threads):
    """GFLOP/s of a register-only FMA loop (AVX2+FMA, C, OpenMP), or None without a compiler."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        src, exe = os.path.join(tmp, "fma.c"), os.path.join(tmp, "fma")
        with open(src, "w") as f:
            f.write(FMA_SOURCE)
        try:
            subprocess.run(["cc", "-O2", "-mavx2", "-mfma", "-fopenmp", src, "-o", exe],
                           check=True, capture_output=True)
            out = subprocess.run([exe, str(threads), "300000000"], check=True,
                                 capture_output=True, text=True)
            return float(out.stdout.strip())
        except (OSError, subprocess.CalledProcessError, ValueError) as e:
            log(f"  FMA microbenchmark skipped: {e}")
            return None


def cmd_peak(args):
    import torch

    torch.set_num_threads(args.threads)
    n = args.n
    a = torch.randn(n, n)
    b = torch.randn(n, n)
    torch.mm(a, b)  # warm-up
    times = []
    for _ in range(args.reps):
        t = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t)
    mm = 2 * n ** 3 / min(times) / 1e9
    mm_median = 2 * n ** 3 / statistics.median(times) / 1e9
    fma = fma_peak(args.threads)
    print(json.dumps({"kind": "peak", "threads": args.threads, "mm_n": n, "mm_reps": args.reps,
                      "mm_gflops": mm, "mm_gflops_median": mm_median, "fma_gflops": fma,
                      "peak_gflops": max(mm, fma or 0)}))


# ---------------------------------------------------------------------------------------------
# The Python evaluation loops


def cmd_py_eval(args):
    import torch
    import torchvision

    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    if args.mode == "eager":
        # torchvision's eager resnet with the weights of the TorchScript file.
        model = getattr(torchvision.models, args.arch)(weights=None)
        model.load_state_dict(torch.jit.load(args.model).state_dict())
        model.eval()
    else:
        scripted = torch.jit.load(args.model).eval()
        model = torch.jit.optimize_for_inference(torch.jit.freeze(scripted))
    t_loaded = time.perf_counter()

    transform = eval_transform(args.img_size, args.crop_pct)
    dataset = torchvision.datasets.ImageFolder(args.dir, transform=transform)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=False,
                                         num_workers=args.workers, pin_memory=False)
    wait = 0.0
    model_s = []
    preds = []
    n = 0
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    rc0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t_loop = time.perf_counter()
    with torch.inference_mode():
        it = iter(loader)
        while True:
            t = time.perf_counter()
            try:
                images, _ = next(it)
            except StopIteration:
                break
            t_got = time.perf_counter()
            wait += t_got - t
            logits = model(images)
            model_s.append(time.perf_counter() - t_got)
            preds.extend(logits.argmax(1).tolist())
            n += images.shape[0]
    t_end = time.perf_counter()
    del it
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    rc1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    loop = t_end - t_loop
    total = t_end - t_start
    cpu_main = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    cpu_workers = (rc1.ru_utime - rc0.ru_utime) + (rc1.ru_stime - rc0.ru_stime)
    if args.preds_out:
        with open(args.preds_out, "w") as f:
            for (path, _), p in zip(dataset.samples, preds):
                f.write(f"{os.path.relpath(path, args.dir)},{p}\n")
    print(json.dumps({
        "kind": "py", "mode": args.mode, "arch": args.arch, "images": n,
        "load_s": t_loaded - t_start, "loop_s": loop, "total_s": total,
        "images_per_s": n / total, "loop_images_per_s": n / loop,
        "model_wait_fraction": wait / loop,
        "batch_model_s_median": statistics.median(model_s) if model_s else None,
        "cpu_main_s": cpu_main, "cpu_workers_s": cpu_workers,
        "workers": args.workers, "threads": args.threads, "batch_size": args.batch_size,
    }))


# ---------------------------------------------------------------------------------------------
# Helpers for the datasets and the bf16 comparison


def cmd_labels(args):
    with open(args.synsets) as f:
        synsets = [line.split()[0] for line in f if line.strip()]
    index = {w: i for i, w in enumerate(synsets)}
    present = sorted(d for d in os.listdir(args.dir) if os.path.isdir(os.path.join(args.dir, d)))
    rows = []
    for wnid in present:
        for name in sorted(os.listdir(os.path.join(args.dir, wnid))):
            rows.append(f"{wnid}/{name},{index[wnid]}")
    with open(args.out_csv, "w") as f:
        f.write("\n".join(rows) + "\n")
    # A 200-class subset like ImageNet-R/-A: the classes present plus the 100 after each.
    subset = sorted({index[w] for w in present} | {index[w] + 1 for w in present})
    with open(args.out_subset, "w") as f:
        f.write("\n".join(str(i) for i in subset) + "\n")
    print(json.dumps({"files": len(rows), "subset_classes": len(subset)}))


def read_export(path):
    import csv

    with open(path) as f:
        return {row["path"]: row for row in csv.DictReader(f)}


def cmd_compare_preds(args):
    a, b = read_export(args.a), read_export(args.b)
    common = sorted(set(a) & set(b))
    changed = sum(1 for p in common if a[p]["pred1"] != b[p]["pred1"])
    changed5 = sum(1 for p in common if a[p]["pred1"] not in
                   [b[p][f"pred{k}"] for k in range(1, 6)])
    top1 = lambda d: 100.0 * sum(d[p]["correct"] == "1" for p in common) / max(1, len(common))
    dprob = [abs(float(a[p]["true_prob"]) - float(b[p]["true_prob"])) for p in common]
    distinct = lambda d: len({d[p]["pred1"] for p in common})
    out = {"kind": "bf16_drift", "images": len(common), "top1_changed": changed,
           "fp32_top1_not_in_bf16_top5": changed5,
           "top1_a": top1(a), "top1_b": top1(b), "top1_drift_pp": top1(b) - top1(a),
           "true_prob_abs_diff_mean": statistics.mean(dprob) if dprob else None,
           "true_prob_abs_diff_max": max(dprob) if dprob else None,
           "distinct_top1_a": distinct(a), "distinct_top1_b": distinct(b)}
    if args.python_preds:
        # Agreement of the evaluator's top-1 with the Python (b) loop's, per image.
        with open(args.python_preds) as f:
            py = dict(line.strip().split(",") for line in f if line.strip())
        same = [p for p in common if p in py]
        out["python_b_images"] = len(same)
        out["python_b_top1_agree"] = sum(1 for p in same if py[p] == a[p]["pred1"])
    print(json.dumps(out))


# ---------------------------------------------------------------------------------------------
# Summary


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def spread(xs, fmt="{:.1f}"):
    if not xs:
        return "-"
    m = med(xs)
    if len(xs) == 1:
        return fmt.format(m)
    return f"{fmt.format(m)} [{fmt.format(min(xs))}-{fmt.format(max(xs))}]"


def mark(ok):
    return "met" if ok else "NOT met"


def cmd_summarize(args):
    rows = [json.loads(line) for line in open(args.results) if line.strip()]
    meta = next((r for r in rows if r.get("kind") == "meta"), {})
    peaks = [r for r in rows if r.get("kind") == "peak"]
    peak = max(p["peak_gflops"] for p in peaks) if peaks else float("nan")
    out = []
    p = out.append
    p(f"TransferWatch evaluation throughput, {meta.get('date', '?')}, {meta.get('host', '?')}")
    p(f"  {meta.get('cpu', '?')}, {meta.get('cores', '?')} cores; {meta.get('code', '?')}; "
      f"load average before: {meta.get('load_before', '?')}, after: {meta.get('load_after', '?')}; "
      f"waited {meta.get('quiet_waited_s', '?')} s in all for other processes to go quiet")
    p(f"  {meta.get('images', '?')} JPEGs (mean {meta.get('mean_kb', 0):.0f} KB), "
      f"batch 32, 2 threads, 224 px, crop_pct 0.875, bicubic; "
      f"{meta.get('reps', '?')} interleaved repetitions: median [min-max]")
    if peaks:
        mm = max(pk["mm_gflops"] for pk in peaks)
        fma = max((pk["fma_gflops"] or 0) for pk in peaks)
        each = ", ".join(f"{pk['mm_gflops']:.0f}" for pk in peaks)
        p(f"  fp32 peak, 2 threads, best of {len(peaks)} measurements in this run: torch.mm "
          f"{peaks[0]['mm_n']}^3 (OpenBLAS) {mm:.0f} GFLOP/s (each: {each}); "
          f"FMA loop (AVX2, 12 chains) {fma:.0f} GFLOP/s -> peak = {peak:.0f} GFLOP/s")
    p("  images/s (load+loop): images / (checkpoint load + optimize + the whole loop): for (c) the "
      "evaluator's done event")
    p("  loop only: from the first batch requested to the last logits (c: start to done event)")
    p("  model waits: share of the time the model waited for decoded images ((c): the evaluator's "
      "model_wait_fraction, over its whole wall time)")
    p("  others CPU: the most any repetition's other processes took of the 2 cores (interference);"
      " * marks a repetition where they took >= 10 %")
    p("")
    for arch in ("resnet18", "resnet50"):
        a = [r for r in rows if r.get("kind") == "py" and r["arch"] == arch and r["mode"] == "eager"]
        b = [r for r in rows if r.get("kind") == "py" and r["arch"] == arch and r["mode"] == "ofi"]
        c = [r for r in rows if r.get("kind") == "tw" and r["arch"] == arch and r["tag"] == "fp32"]
        if not (a or b or c):
            continue
        ia = [r["images_per_s"] for r in a]
        ib = [r["images_per_s"] for r in b]
        ic = [r["images_per_s"] for r in c]
        p(f"{arch} ({GFLOP_PER_IMAGE[arch]} GFLOP/image; ceiling at peak "
          f"{peak / GFLOP_PER_IMAGE[arch]:.1f} img/s)")
        p(f"  {'':44s} {'images/s (load+loop)':>22s} {'loop only':>18s} {'model waits':>12s}"
          f" {'others CPU':>11s}")
        for label, rs in (("(a) Python eager, DataLoader 1 worker", a),
                          ("(b) Python freeze+optimize_for_inference", b),
                          ("(c) transferwatch eval (evaluator figures)", c)):
            ips = [r["images_per_s"] for r in rs]
            loop = [r["loop_images_per_s"] for r in rs if r.get("loop_images_per_s")]
            wait = [100 * r["model_wait_fraction"] for r in rs]
            oth = [r["others_cpu_percent"] for r in rs if r.get("others_cpu_percent") is not None]
            p(f"  {label:44s} {spread(ips):>22s} {spread(loop):>18s} "
              f"{spread(wait, '{:.1f}') + ' %':>12s} {(f'{max(oth):.0f} %' if oth else '-'):>11s}")
        if c:
            cli = [r["cli_wall_s"] for r in c]
            p(f"  {'(c) CLI wall time, transferwatch eval':44s} {spread(cli, '{:.2f}') + ' s':>22s}"
              f"   ({c[0]['images']} images -> {spread([c[0]['images'] / s for s in cli])} img/s)")
            cpu = [r.get("cpu_percent") for r in c if r.get("cpu_percent") is not None]
            rss = [r.get("max_rss_mb") for r in c if r.get("max_rss_mb") is not None]
            if cpu:
                p(f"  {'(c) evaluator CPU (user+sys)/wall, max RSS':44s} {spread(cpu, '{:.0f}') + ' %':>22s}"
                  f"   {spread(rss, '{:.0f}')} MB  (of {c[0].get('threads')} model + "
                  f"{c[0].get('decode_threads')} decode threads; 200 % = both cores)")
            pa = [r.get("cpu_percent") for r in a if r.get("cpu_percent") is not None]
            pb = [r.get("cpu_percent") for r in b if r.get("cpu_percent") is not None]
            if pa and pb:
                p(f"  {'(a) / (b) process CPU (user+sys)/wall':44s} {spread(pa, '{:.0f}') + ' %':>22s}"
                  f"   {spread(pb, '{:.0f}')} %  (whole process: import, load, loop, worker)")
        target = TARGET_C_OVER_A[arch]

        def per_rep(xs, ys):
            # Ratio per repetition; * where other processes took >= 10 % of the machine during
            # either measurement.
            out = []
            for x, y in zip(xs, ys):
                busy = max(x.get("others_cpu_percent", 0), y.get("others_cpu_percent", 0)) >= 10
                out.append((x["images_per_s"] / y["images_per_s"], busy))
            values = [v for v, _ in out]
            text = ", ".join(f"{v:.2f}{'*' if busy else ''}" for v, busy in out)
            return values, text, out

        def clean_note(pairs, test):
            # The verdict again over the repetitions without interference, when some had it.
            clean = [v for v, busy in pairs if not busy]
            if len(clean) == len(pairs) or not clean:
                return ""
            return (f"; without interference ({len(clean)} of {len(pairs)} repetitions): "
                    f"{', '.join(f'{v:.2f}' for v in clean)}: {mark(test(clean))}")

        if a and c:
            ca, text, pairs = per_rep(c, a)
            p(f"  c/a = {spread(ca, '{:.2f}')} (each: {text})   target >= {target}: "
              f"{mark(med(ca) >= target)}"
              f"{'' if min(ca) >= target else ' (not in every repetition)' if med(ca) >= target else ''}"
              f"{clean_note(pairs, lambda v: min(v) >= target)}")
        if b and c:
            cb, text, pairs = per_rep(c, b)
            p(f"  c/b = {spread(cb, '{:.2f}')} (each: {text})   target >= 1.0 in every "
              f"repetition: {mark(min(cb) >= 1.0)}{clean_note(pairs, lambda v: min(v) >= 1.0)}")
        if c:
            share = [100 * x * GFLOP_PER_IMAGE[arch] / peak for x in ic]
            loop_share = [100 * r["loop_images_per_s"] * GFLOP_PER_IMAGE[arch] / peak
                          for r in c if r.get("loop_images_per_s")]
            p(f"  (c) share of fp32 peak = {spread(share, '{:.0f}')} % (loop only "
              f"{spread(loop_share, '{:.0f}')} %)   target >= 80 %: {mark(med(share) >= 80)}")
            wait = [100 * r["model_wait_fraction"] for r in c]
            p(f"  (c) model waited for data {spread(wait, '{:.1f}')} %   target < 5 %: "
              f"{mark(max(wait) < 5)}")
            load = [r["load_s"] for r in c if r.get("load_s") is not None]
            if load:
                p(f"  (c) evaluator launch to its start event (LibTorch, hash, load, optimize): "
                  f"{spread(load, '{:.2f}')} s; (b) Python load+freeze+optimize "
                  f"{spread([r['load_s'] for r in b], '{:.2f}')} s")
        p("")
    one = [r for r in rows if r.get("kind") == "onepass"]
    if one:
        p("One pass over datasets that share files (resnet18; bench = wnid folders, bench2 = "
          "same folder, 200-class subset, bench3 = same files, labels-file CSV)")
        for r in one:
            p(f"  {r['label']:58s} CLI wall {r['cli_wall_s']:6.2f} s   evaluator "
              f"{r['eval_wall_s']:6.2f} s, {r['images_decoded']} images decoded and run")
        sep = [r for r in one if r["mode"] == "separate"]
        tog = [r for r in one if r["mode"] == "together"]
        if sep and tog:
            s = sum(r["cli_wall_s"] for r in sep)
            t = tog[0]["cli_wall_s"]
            p(f"  three datasets: {s:.2f} s one after another vs {t:.2f} s together -> "
              f"{s / t:.2f}x")
        p("")
    bf = [r for r in rows if r.get("kind") == "tw" and r["tag"] == "bf16"]
    drift = [r for r in rows if r.get("kind") == "bf16_drift"]
    if bf:
        p("bf16 (--dtype bf16, same images, evaluator figures)")
        for arch in ("resnet18", "resnet50"):
            rs = [r for r in bf if r["arch"] == arch]
            fp = [r for r in rows if r.get("kind") == "tw" and r["arch"] == arch and r["tag"] == "fp32"]
            if not rs:
                continue
            ib = med([r["images_per_s"] for r in rs])
            iff = med([r["images_per_s"] for r in fp]) if fp else float("nan")
            p(f"  {arch}: {spread([r['images_per_s'] for r in rs])} img/s "
              f"(fp32 {iff:.1f}: {ib / iff:.2f}x), model waited "
              f"{spread([100 * r['model_wait_fraction'] for r in rs])} %")
            for d in drift:
                if d.get("arch") == arch:
                    p(f"    top-1 fp32 {d['top1_a']:.2f} % -> bf16 {d['top1_b']:.2f} % "
                      f"(drift {d['top1_drift_pp']:+.2f} points); top-1 prediction changed on "
                      f"{d['top1_changed']} of {d['images']} images ({d['fp32_top1_not_in_bf16_top5']}"
                      f" fp32 top-1 not in the bf16 top-5); |delta p(true)| mean "
                      f"{d['true_prob_abs_diff_mean']:.2e}, max {d['true_prob_abs_diff_max']:.2e}; "
                      f"distinct top-1 classes fp32 {d['distinct_top1_a']}, bf16 {d['distinct_top1_b']}")
                    if d.get("python_b_images"):
                        p(f"    parity: evaluator fp32 top-1 equals Python (b)'s on "
                          f"{d['python_b_top1_agree']} of {d['python_b_images']} images")
        p("")
    print("\n".join(out))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("gen-images")
    g.add_argument("dir")
    g.add_argument("--n", type=int, default=1000)
    g.add_argument("--synsets", required=True)
    g.set_defaults(func=cmd_gen_images)
    g = sub.add_parser("gen-models")
    g.add_argument("dir")
    g.add_argument("--images", required=True, help="folder of JPEGs for the BatchNorm statistics")
    g.set_defaults(func=cmd_gen_models)
    g = sub.add_parser("peak")
    g.add_argument("--threads", type=int, default=2)
    g.add_argument("--n", type=int, default=4096)
    g.add_argument("--reps", type=int, default=5)
    g.set_defaults(func=cmd_peak)
    g = sub.add_parser("py-eval")
    g.add_argument("--mode", choices=("eager", "ofi"), required=True)
    g.add_argument("--arch", choices=("resnet18", "resnet50"), required=True)
    g.add_argument("--model", required=True)
    g.add_argument("--dir", required=True)
    g.add_argument("--threads", type=int, default=2)
    g.add_argument("--workers", type=int, default=1)
    g.add_argument("--batch-size", type=int, default=32)
    g.add_argument("--img-size", type=int, default=224)
    g.add_argument("--crop-pct", type=float, default=0.875)
    g.add_argument("--preds-out")
    g.set_defaults(func=cmd_py_eval)
    g = sub.add_parser("labels")
    g.add_argument("dir")
    g.add_argument("--synsets", required=True)
    g.add_argument("--out-csv", required=True)
    g.add_argument("--out-subset", required=True)
    g.set_defaults(func=cmd_labels)
    g = sub.add_parser("compare-preds")
    g.add_argument("a")
    g.add_argument("b")
    g.add_argument("--python-preds")
    g.set_defaults(func=cmd_compare_preds)
    g = sub.add_parser("summarize")
    g.add_argument("results")
    g.set_defaults(func=cmd_summarize)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
