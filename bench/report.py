#!/usr/bin/env python3
"""bench/report.py -- turn bench/run's raw outputs into bench/RESULTS.md and
bench/latency.png. Reads the "key value" files the bench programs print and
the callgrind outputs; knows nothing of how they were produced beyond names.
"""
import argparse
import datetime
import os
import platform
import re
import statistics
import subprocess

PCTS = ["p50", "p90", "p99", "p99.9", "p99.99"]


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except Exception:
        return ""


def parse(path):
    d = {}
    if not os.path.exists(path):
        return d
    for line in open(path):
        parts = line.split()
        if len(parts) == 2:
            try:
                d[parts[0]] = float(parts[1])
            except ValueError:
                d[parts[0]] = parts[1]
    return d


def runs(out, prefix, repeat):
    return [parse(os.path.join(out, f"{prefix}_r{r}.txt"))
            for r in range(1, repeat + 1)]


def med(rs, key):
    vals = [r[key] for r in rs if key in r]
    return statistics.median(vals) if vals else float("nan")


def rng(rs, key):
    vals = [r[key] for r in rs if key in r]
    return (min(vals), max(vals)) if vals else (float("nan"),) * 2


def ns(v):
    if v != v:
        return "n/a"
    if v >= 10000:
        return f"{v / 1000:,.0f} µs"
    if v >= 1000:
        return f"{v / 1000:.2f} µs"
    return f"{v:.1f} ns"


def cg_total(out, name):
    """Ir counted inside the toggled function (callgrind's 'Collected')."""
    err = os.path.join(out, f"{name}.err")
    if not os.path.exists(err):
        return float("nan")
    m = re.search(r"Collected : ([0-9]+)", open(err).read())
    return float(m.group(1)) if m else float("nan")


def cg_functions(out, name, calls):
    """Self instructions per call of each function, from callgrind_annotate."""
    path = os.path.join(out, f"{name}.annotate")
    rows = []
    if not os.path.exists(path):
        return rows
    started = False
    for line in open(path):
        if "file:function" in line:
            started = True
            continue
        if not started:
            continue
        m = re.match(r"\s*([0-9,]+)\s+(?:\([ 0-9.%]+\)\s+)?(\S+)", line)
        if not m:
            if rows and line.startswith("---"):
                break
            continue
        ir = float(m.group(1).replace(",", ""))
        fn = m.group(2).split(":")[-1]
        if ir / calls >= 0.5:
            rows.append((fn, ir / calls))
    return rows


def verdict(ok):
    return "**met**" if ok else "**not met**"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--seconds", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--cg-calls", type=int, default=100000)
    a = ap.parse_args()
    out, R = a.out, a.repeat

    lat = {(lib, t): runs(out, f"lat_{lib}_{t}", R)
           for lib in ("sluice", "spdlog") for t in (1, 2)}
    # the sluice bench compiled as C++ (one producer only)
    lat[("sluice_cxx", 1)] = runs(out, "lat_sluice_cxx_1", R)
    tp = {(lib, s): runs(out, f"tp_{lib}_{s}", R)
          for lib in ("sluice", "spdlog") for s in ("file", "null")}
    # the durable mode: the same workloads with the queue in a file
    lat_durable = runs(out, "lat_sluice_durable_1", R)
    tp_durable = runs(out, "tp_sluice_durable_file", R)
    wakes = {t: parse(os.path.join(out, f"wakes_sluice_{t}.txt")) for t in (1, 2)}

    calls = a.cg_calls
    ir = {}
    for lib in ("sluice", "sluice_cxx", "spdlog"):
        base = cg_total(out, f"cg_{lib}_baseline") / calls
        for kind in ("enabled", "disabled"):
            raw = cg_total(out, f"cg_{lib}_{kind}") / calls
            ir[(lib, kind)] = (raw, raw - base)
        ir[(lib, "loop")] = base
    raw = cg_total(out, "cg_sluice_durable_enabled") / calls
    ir[("sluice", "durable")] = (raw, raw - ir[("sluice", "loop")])

    # ---- the plot ---------------------------------------------------------
    dat = os.path.join(out, "latency.dat")
    with open(dat, "w") as f:
        f.write("# pct sluice1 spdlog1 sluice2 spdlog2 sluice1_cxx\n")
        for i, p in enumerate(PCTS):
            vals = [med(lat[(lib, t)], p + "_ns")
                    for t in (1, 2) for lib in ("sluice", "spdlog")]
            vals.append(med(lat[("sluice_cxx", 1)], p + "_ns"))
            f.write(f'{i} "{p}" ' + " ".join(f"{v:.2f}" for v in vals) + "\n")
    png = os.path.join(a.bench, "latency.png")
    gp = f"""
set terminal pngcairo size 900,560 font ",11"
set output "{png}"
set title "Latency per log call: 20-record batches, 20 µs pause (median of {R} runs)"
set ylabel "ns per record (log scale)"
set xlabel "percentile"
set logscale y
set grid ytics mytics xtics
set key top left box opaque
set xrange [-0.3:{len(PCTS) - 0.7}]
set ytics ("10 ns" 10, "30 ns" 30, "100 ns" 100, "300 ns" 300, "1 µs" 1000, "3 µs" 3000, "10 µs" 10000, "30 µs" 30000, "100 µs" 100000, "300 µs" 300000, "1 ms" 1000000)
plot "{dat}" using 1:3:xtic(2) with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "sluice, 1 thread", \\
     "" using 1:7 with linespoints lw 2 pt 9 dt 3 lc rgb "#2ca02c" title "sluice from C++, 1 thread", \\
     "" using 1:5 with linespoints lw 2 pt 5 dt 2 lc rgb "#1f77b4" title "sluice, 2 threads", \\
     "" using 1:4 with linespoints lw 2 pt 7 lc rgb "#d62728" title "spdlog async, 1 thread", \\
     "" using 1:6 with linespoints lw 2 pt 5 dt 2 lc rgb "#d62728" title "spdlog async, 2 threads"
"""
    gp_path = os.path.join(out, "latency.gp")
    open(gp_path, "w").write(gp)
    rc = subprocess.run(["gnuplot", gp_path]).returncode
    if rc != 0:
        gp = gp.replace("pngcairo", "png")
        open(gp_path, "w").write(gp)
        subprocess.run(["gnuplot", gp_path])

    # ---- figures ----------------------------------------------------------
    s1, p1 = lat[("sluice", 1)], lat[("spdlog", 1)]
    p50_ratio = med(p1, "p50_ns") / med(s1, "p50_ns")
    tps = {k: med(v, "records_per_s") for k, v in tp.items()}
    tp_ratio_file = tps[("sluice", "file")] / tps[("spdlog", "file")]
    tp_ratio_null = tps[("sluice", "null")] / tps[("spdlog", "null")]
    cap1 = med(s1, "capacity")
    qmib1 = med(s1, "queue_mib")
    qmib2 = med(lat[("sluice", 2)], "queue_mib")
    tp_qmib = med(tp[("sluice", "file")], "queue_mib")

    def rss(rs):
        return med(rs, "peak_rss_kib") / 1024

    rss_rows = []
    rss_ok = True
    for label, rs, q in (
            ("latency, 1 thread", s1, qmib1),
            ("latency, 2 threads", lat[("sluice", 2)], qmib2),
            ("throughput, file", tp[("sluice", "file")], tp_qmib),
            ("throughput, null", tp[("sluice", "null")], tp_qmib)):
        ok = rss(rs) <= q + 16
        rss_ok &= ok
        rss_rows.append((label, rss(rs), q, ok))
    drops = {k: sum(r.get("measured_dropped", 0) for r in v) for k, v in lat.items()}
    durable_drops = sum(r.get("measured_dropped", 0) for r in lat_durable)
    d_p50 = med(lat_durable, "p50_ns") / med(s1, "p50_ns")
    d_tp = tps[("sluice", "file")] / med(tp_durable, "records_per_s")

    # ---- the machine ------------------------------------------------------
    lscpu = sh("lscpu")

    def lsf(key):
        m = re.search(rf"^{key}:\s*(.+)$", lscpu, re.M)
        return m.group(1).strip() if m else "?"

    machine = [
        ("CPU", lsf("Model name") + f" (family {lsf('CPU family')}, model {lsf('Model')})"),
        ("CPUs", lsf(r"CPU\(s\)") + " online, " + lsf(r"Thread\(s\) per core")
         + " thread(s) per core, " + lsf(r"Core\(s\) per socket") + " core(s) per socket"),
        ("Virtualisation", f"{lsf('Hypervisor vendor')} ({lsf('Virtualization type')})"),
        ("Memory", sh("free -m | awk '/Mem:/{print $2\" MiB\"}'")),
        ("Kernel", platform.release()),
        ("OS", sh(". /etc/os-release && echo \"$PRETTY_NAME\"")),
        ("C compiler", sh("cc --version | head -1")),
        ("C++ compiler", sh("c++ --version | head -1")),
        ("glibc", sh("ldd --version | head -1")),
        ("spdlog / fmt", sh("pkg-config --modversion spdlog") + " / " + sh("pkg-config --modversion fmt")),
        ("valgrind", sh("valgrind --version")),
        ("Log files on", sh(f"findmnt -no FSTYPE -T {os.environ.get('BENCH_TMPDIR') or '/tmp'}")
         + f" ({os.environ.get('BENCH_TMPDIR') or '/tmp'})"),
        ("Load before / after", open(os.path.join(out, "load_before.txt")).read().strip().split("load average:")[-1].strip()
         + " / " + open(os.path.join(out, "load_after.txt")).read().strip().split("load average:")[-1].strip()),
    ]
    commit = sh(f"git -C {a.bench} rev-parse --short HEAD")
    dirty = sh(f"git -C {a.bench}/.. status --porcelain -- core include plugins bench ':!bench/RESULTS.md' ':!bench/latency.png'")

    L = []
    w = L.append
    w("# sluice benchmark: the hot path")
    w("")
    w(f"Generated by `bench/run` on {datetime.datetime.now().strftime('%Y-%m-%d %H:%M %Z').strip()} "
      f"in {a.seconds} s, at commit `{commit}`" + (" (with uncommitted changes under core/include/plugins/bench)" if dirty else "") + ".")
    w(f"Every workload ran in its own process, {R} times; the figures are the median of the runs "
      "(ranges are min–max over the runs). Raw outputs: `build-bench/bench-out/`.")
    w("")
    w("## Targets (issue \"Hot path\")")
    w("")
    w("| target | measured | verdict |")
    w("|---|---|---|")
    w(f"| p50 ≤ 20 ns, one producer | {ns(med(s1, 'p50_ns'))} | {verdict(med(s1, 'p50_ns') <= 20)} |")
    w(f"| p99 ≤ 60 ns, one producer | {ns(med(s1, 'p99_ns'))} | {verdict(med(s1, 'p99_ns') <= 60)} |")
    w(f"| p99.9 ≤ 1 µs, one producer | {ns(med(s1, 'p99.9_ns'))} | {verdict(med(s1, 'p99.9_ns') <= 1000)} |")
    w(f"| p50 ≥ 20× lower than spdlog async | {p50_ratio:.1f}× ({ns(med(p1, 'p50_ns'))} vs {ns(med(s1, 'p50_ns'))}) | {verdict(p50_ratio >= 20)} |")
    w(f"| throughput into a file ≥ 2× spdlog async | {tp_ratio_file:.2f}× | {verdict(tp_ratio_file >= 2)} |")
    w(f"| throughput into a file ≥ 3 M records/s | {tps[('sluice', 'file')] / 1e6:.2f} M/s | {verdict(tps[('sluice', 'file')] >= 3e6)} |")
    w(f"| ≤ 80 instructions per enabled call (producer) | {ir[('sluice', 'enabled')][1]:.0f} "
      f"({ir[('sluice', 'enabled')][0]:.0f} with the loop) | {verdict(ir[('sluice', 'enabled')][1] <= 80)} |")
    w(f"| ≤ 5 instructions per disabled call | {ir[('sluice', 'disabled')][1]:.0f} "
      f"({ir[('sluice', 'disabled')][0]:.0f} with the loop) | {verdict(ir[('sluice', 'disabled')][1] <= 5)} |")
    cxx_same = all(abs(ir[('sluice_cxx', k)][0] - ir[('sluice', k)][0]) < 0.05
                   for k in ("enabled", "disabled"))
    w(f"| a C++ host pays what a C host pays (instructions per call) | enabled "
      f"{ir[('sluice_cxx', 'enabled')][1]:.1f} from C++ vs {ir[('sluice', 'enabled')][1]:.1f} from C, "
      f"disabled {ir[('sluice_cxx', 'disabled')][1]:.1f} vs {ir[('sluice', 'disabled')][1]:.1f} | {verdict(cxx_same)} |")
    w(f"| durable mode within 1.3× of memory mode: p50, file throughput | "
      f"p50 {d_p50:.2f}× ({ns(med(lat_durable, 'p50_ns'))} vs {ns(med(s1, 'p50_ns'))}), "
      f"throughput {d_tp:.2f}× ({med(tp_durable, 'records_per_s') / 1e6:.2f} vs "
      f"{tps[('sluice', 'file')] / 1e6:.2f} M/s) | {verdict(d_p50 <= 1.3 and d_tp <= 1.3)} |")
    w(f"| peak RSS ≤ queue memory + 16 MiB | " + "; ".join(
        f"{lab}: {r:.1f} MiB vs {q:.0f}+16" for lab, r, q, _ in rss_rows) + f" | {verdict(rss_ok)} |")
    w("")
    w("## Latency (ns per record, mean of each 20-record batch)")
    w("")
    w("| logger | threads | p50 | p90 | p99 | p99.9 | p99.99 | max | p50 range | p99.9 range |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    for t in (1, 2):
        for lib in ("sluice", "sluice_cxx", "spdlog"):
            if (lib, t) not in lat:
                continue
            rs = lat[(lib, t)]
            name = {"sluice": "sluice", "sluice_cxx": "sluice, from C++",
                    "spdlog": "spdlog async"}[lib]
            lo, hi = rng(rs, "p50_ns")
            lo9, hi9 = rng(rs, "p99.9_ns")
            w(f"| {name} | {t} | " + " | ".join(ns(med(rs, p + '_ns')) for p in PCTS + ['max'])
              + f" | {ns(lo)}–{ns(hi)} | {ns(lo9)}–{ns(hi9)} |")
    w("")
    w(f"p50 ratio (spdlog / sluice): **{p50_ratio:.1f}×** with 1 thread, "
      f"**{med(lat[('spdlog', 2)], 'p50_ns') / med(lat[('sluice', 2)], 'p50_ns'):.1f}×** with 2 threads.")
    w("")
    w("![latency percentiles](latency.png)")
    w("")
    w(f"Queues: sluice `queue_capacity = {cap1:.0f}` ({qmib1:.0f} MiB) with one producer and "
      f"`{med(lat[('sluice', 2)], 'capacity'):.0f}` ({qmib2:.0f} MiB) with two, i.e. a whole run "
      "(50,000 × 20 records per producer) fits, so no call ever waits for the worker. The latency runs "
      "use `overflow = drop_newest` only to prove it: records dropped during the measured phase: "
      f"{drops[('sluice', 1)]:.0f} (1 thread), {drops[('sluice', 2)]:.0f} (2 threads), summed over the runs"
      + (" — **non-zero: some batches were measured while the queue was full**" if drops[('sluice', 1)] or drops[('sluice', 2)] else "")
      + ". spdlog: its default queue of 8192 messages, overflow `block` "
      f"(overrun counter during the measured phase: {drops[('spdlog', 1)]:.0f} / {drops[('spdlog', 2)]:.0f}).")
    w("")
    w("### Futex wakes paid by producers")
    w("")
    w("An idle worker naps (200 us doubling to 0.5 ms) without telling producers, and only after "
      "20 ms of quiet sleeps on a futex; a producer that publishes while it sleeps there pays a "
      "`FUTEX_WAKE` system call (core/worker.c explains why it never spins). "
      "`sluice_bench_wakes` (the same program, interposing `syscall(2)` to count wakes per batch) says:")
    w("")
    w("| threads | batches with a wake | p50 of those batches | p99 of those | p99 without | p99.9 without | p99.9 all |")
    w("|---|---|---|---|---|---|---|")
    for t in (1, 2):
        d = wakes[t]
        n = d.get("batches_with_wake", float("nan"))
        total = d.get("samples", float("nan"))
        w(f"| {t} | {n:.0f} of {total:.0f} ({100 * n / total:.2f} %) | {ns(d.get('wake_p50_ns', float('nan')))} | "
          f"{ns(d.get('wake_p99_ns', float('nan')))} | {ns(d.get('nowake_p99_ns', float('nan')))} | "
          f"{ns(d.get('nowake_p99.9_ns', float('nan')))} | {ns(d.get('p99.9_ns', float('nan')))} |")
    w("")
    w("## Throughput (records/s, timed until everything is written and the logger closed)")
    w("")
    w("| sink | sluice | spdlog async | sluice / spdlog | sluice range | spdlog range |")
    w("|---|---|---|---|---|---|")
    for s, ratio in (("file", tp_ratio_file), ("null", tp_ratio_null)):
        sl, sp = tp[("sluice", s)], tp[("spdlog", s)]
        lo, hi = rng(sl, "records_per_s")
        plo, phi = rng(sp, "records_per_s")
        w(f"| {s} | {med(sl, 'records_per_s') / 1e6:.2f} M/s | {med(sp, 'records_per_s') / 1e6:.2f} M/s | "
          f"{ratio:.2f}× | {lo / 1e6:.2f}–{hi / 1e6:.2f} | {plo / 1e6:.2f}–{phi / 1e6:.2f} |")
    w("")
    w(f"4,000,000 records of `\"Iteration: %lu int: %lu double: %f\"` from one thread. sluice: "
      f"`queue_capacity = {med(tp[('sluice', 'file')], 'capacity'):.0f}` (the default, {tp_qmib:.0f} MiB), "
      "`overflow = block`; timed until `sluice_logger_flush` and `sluice_close` returned. spdlog: "
      "default async logger, timed until `flush()` and `spdlog::shutdown()` returned (the worker is joined "
      "after it has processed the whole queue). \"Written\" means handed to the kernel (`write`/`fwrite` + "
      f"flush), not fsync'ed, for both. Lines in the file checked: sluice "
      f"{med(tp[('sluice', 'file')], 'lines'):.0f}, spdlog {med(tp[('spdlog', 'file')], 'lines'):.0f}. "
      f"Time the producer spent in its loop (median): sluice {med(tp[('sluice', 'file')], 'producer_s'):.2f} s, "
      f"spdlog {med(tp[('spdlog', 'file')], 'producer_s'):.2f} s (file).")
    w("")
    w("## Durable mode (`durable = FILE`, `durable_sync = none`)")
    w("")
    w("The same workloads with the logger's queue in a file (MAP_SHARED) in the folder of the log: "
      "each record also carries its CRC-32C, computed by the producer, and the cursors are persisted "
      "as they move. The ratio is durable / memory (lower is better; 1.00 is no cost).")
    w("")
    w("| workload | memory | durable | durable / memory | durable range |")
    w("|---|---|---|---|---|")
    for p in PCTS:
        lo, hi = rng(lat_durable, p + "_ns")
        w(f"| latency, 1 thread, {p} | {ns(med(s1, p + '_ns'))} | {ns(med(lat_durable, p + '_ns'))} | "
          f"{med(lat_durable, p + '_ns') / med(s1, p + '_ns'):.2f}× | {ns(lo)}–{ns(hi)} |")
    lo, hi = rng(tp_durable, "records_per_s")
    w(f"| throughput into a file | {tps[('sluice', 'file')] / 1e6:.2f} M/s | "
      f"{med(tp_durable, 'records_per_s') / 1e6:.2f} M/s | {d_tp:.2f}× (time) | "
      f"{lo / 1e6:.2f}–{hi / 1e6:.2f} M/s |")
    w(f"| instructions per enabled call | {ir[('sluice', 'enabled')][1]:.1f} | "
      f"{ir[('sluice', 'durable')][1]:.1f} | {ir[('sluice', 'durable')][1] / ir[('sluice', 'enabled')][1]:.2f}× | |")
    w(f"| peak RSS, latency (queue {qmib1:.0f} MiB) | {rss(s1):.1f} MiB | {rss(lat_durable):.1f} MiB | "
      f"{rss(lat_durable) / rss(s1):.2f}× | |")
    w("")
    w(f"Records dropped during the measured phase (durable, summed over the runs): {durable_drops:.0f}. "
      "The file's pages count in the peak RSS as the page cache's (shared) pages mapped by the process.")
    w("")
    w("## Peak RSS (VmHWM at the end of each process)")
    w("")
    w("| workload | sluice | sluice queue memory | spdlog async |")
    w("|---|---|---|---|")
    for (label, r, q, ok), rs in zip(rss_rows, (p1, lat[("spdlog", 2)], tp[("spdlog", "file")], tp[("spdlog", "null")])):
        w(f"| {label} | {r:.1f} MiB | {q:.0f} MiB | {rss(rs):.1f} MiB |")
    w("")
    w(f"## Instructions per call (callgrind, {calls:,} calls, producer side only)")
    w("")
    w("| call | sluice | sluice, from C++ | spdlog async |")
    w("|---|---|---|---|")
    for kind in ("enabled", "disabled"):
        w(f"| {kind} (net of the loop) | {ir[('sluice', kind)][1]:.1f} | {ir[('sluice_cxx', kind)][1]:.1f} | {ir[('spdlog', kind)][1]:.1f} |")
        w(f"| {kind} (loop included) | {ir[('sluice', kind)][0]:.1f} | {ir[('sluice_cxx', kind)][0]:.1f} | {ir[('spdlog', kind)][0]:.1f} |")
    w(f"| the bare loop (subtracted) | {ir[('sluice', 'loop')]:.1f} | {ir[('sluice_cxx', 'loop')]:.1f} | {ir[('spdlog', 'loop')]:.1f} |")
    w("")
    w("`valgrind --tool=callgrind --toggle-collect=FUNCTION`: only instructions executed inside a noinline "
      "function holding the logging loop (and what it calls) on the producer thread are counted; the worker "
      "thread is not. The argument evaluation of the call (`i`, `i * 2`, `(double)i`) is part of the call. "
      "Both queues are made large enough for every call (valgrind runs one thread at a time), so no call "
      "waits: sluice with `queue_capacity` ≥ the calls, spdlog with `init_thread_pool(calls + 1024, 1)`; "
      "both into their null sink. The disabled call is `SLUICE_DEBUG` / `logger->debug()` on a logger at `info`. "
      "\"From C++\" is `sluice_bench_cxx`, bench/sluice_bench.c compiled as C++17 (the macros' C++ half, "
      "include/sluice/sluice_cxx.h), counted the same way.")
    w("")
    rows = cg_functions(out, "cg_sluice_enabled", calls)
    if rows:
        w("Where the enabled sluice call spends its instructions (self, per call):")
        w("")
        w("| function | instructions |")
        w("|---|---|")
        for fn, v in rows:
            w(f"| `{fn}` | {v:.1f} |")
        w("")
    wrows = cg_functions(out, "cg_sluice_worker", calls)
    if wrows:
        wtotal = cg_total(out, "cg_sluice_worker") / calls
        w(f"The other side, for comparison: the sluice worker thread spends **{wtotal:,.0f} instructions per "
          "record** (same run, null sink, `--toggle-collect=sluice_worker_run_`, idle re-checks included); "
          "this is what bounds the throughput. Top functions (self, per record):")
        w("")
        w("| function | instructions |")
        w("|---|---|")
        for fn, v in wrows[:15]:
            w(f"| `{fn}` | {v:,.0f} |")
        w("")
    w("## Machine")
    w("")
    w("| | |")
    w("|---|---|")
    for k, v in machine:
        w(f"| {k} | {v} |")
    w("")
    w("## Method")
    w("")
    w("* **Latency** (the method of quill's published tables): each producer thread logs 20 records back "
      "to back, takes the TSC before and after, records the batch's cost / 20, busy-waits 20 µs (TSC spin, "
      "never sleeps), 50,000 times. Percentiles are nearest-rank over all threads' samples. Workload: "
      "`\"Logging iteration: %lu, message: %lu, double: %f\"` (spdlog: the same with `{}`) into a file. "
      "With one producer the worker is pinned to CPU 0 (its creator is pinned before the logger starts) and "
      "the producer to CPU 1, for both loggers; with two producers nothing is pinned (three busy threads on "
      "two CPUs). Before measuring, each run logs as many records as the sluice queue holds and waits until "
      "they are written (the same count for spdlog), so that every slot of the ring has been touched once — "
      "spdlog's queue is preallocated and touched at construction.")
    w("* **From C++**: `sluice_bench_cxx` is the very same source (bench/sluice_bench.c) compiled as C++17 by the "
      "C++ compiler above, so its latency (one producer) and instruction counts are those of a C++ host using the "
      "same macros.")
    w("* **Throughput**: one thread, see above; the null sink still renders each record (sluice renders "
      "the line in the worker; spdlog's null sink skips formatting of the pattern but the message is "
      "formatted by the producer).")
    w("* **RSS**: each workload is its own process; VmHWM from /proc/self/status at its end.")
    w("* **Formatting is not identical work**: sluice's `%f` prints six decimals (glibc-compatible), "
      "spdlog's `{}` prints the shortest representation; both loggers render their default line pattern "
      "(time, level, logger name, message).")
    w("* spdlog defaults, as documented in `spdlog/async.h`: `details::default_async_q_size = 8192`, one "
      "worker thread, `async_overflow_policy::block`; the file sink is `basic_file_sink_mt` (truncating), the "
      "null sink `null_sink_mt`.")
    w("")
    open(os.path.join(a.bench, "RESULTS.md"), "w").write("\n".join(L))


if __name__ == "__main__":
    main()
