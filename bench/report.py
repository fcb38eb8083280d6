#!/usr/bin/env python3
"""bench/report.py -- turn bench/run's raw outputs into bench/RESULTS.md and
bench/latency.png. Reads the workload and count tables bench/run wrote
(workloads.txt, counts.txt), the "key value" files the bench programs print
and the callgrind outputs; knows the workloads by their names only where a
target of issue 9 names them. Checks that every peer of a workload with a
file wrote the same bytes (the digests of bench/harness.h) and exits 1,
after writing RESULTS.md, when they differ.
"""
import argparse
import datetime
import os
import platform
import re
import statistics
import subprocess
import sys

PCTS = ["p50", "p90", "p99", "p99.9", "p99.99"]
PEER_NAMES = {"sluice": "sluice", "sluice_cxx": "sluice, from C++",
              "spdlog": "spdlog async"}
RECORDS = {
    "numbers": '`"Logging iteration: %lu, message: %lu, double: %f"` '
               '(spdlog: `"Logging iteration: {}, message: {}, double: {:f}"`)',
    "strings": '`"user %s logged in from %s"` with a 60-byte and a 15-byte string '
               '(spdlog: `"user {} logged in from {}"`, both `const char *`)',
    "throughput": '`"Iteration: %lu int: %lu double: %f"` '
                  '(spdlog: `"Iteration: {} int: {} double: {:f}"`)',
}
NAN = float("nan")
MIB = 1048576.0


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except Exception:
        return ""


def parse(path):
    """The "key value" lines of one output; digests stay strings."""
    d = {}
    if not os.path.exists(path):
        return d
    for line in open(path):
        parts = line.split()
        if len(parts) != 2:
            continue
        key, value = parts
        if key.startswith("digest_"):
            d[key] = value
            continue
        try:
            d[key] = float(value)
        except ValueError:
            d[key] = value
    return d


def med(rs, key):
    vals = [r[key] for r in rs if isinstance(r.get(key), float)]
    return statistics.median(vals) if vals else NAN


def rng(rs, key):
    vals = [r[key] for r in rs if isinstance(r.get(key), float)]
    return (min(vals), max(vals)) if vals else (NAN, NAN)


def total(rs, key):
    vals = [r[key] for r in rs if isinstance(r.get(key), float)]
    return sum(vals) if vals else NAN


def ns(v):
    if v != v:
        return "n/a"
    if v >= 10000:
        return f"{v / 1000:,.0f} µs"
    if v >= 1000:
        return f"{v / 1000:.2f} µs"
    return f"{v:.1f} ns"


def mps(v):
    return "n/a" if v != v else f"{v / 1e6:.2f} M/s"


def ratio(a, b):
    if a != a or b != b or b == 0:
        return "n/a"
    r = a / b
    return f"{r:,.0f}×" if r >= 100 else f"{r:.1f}×" if r >= 10 else f"{r:.2f}×"


def verdict(ok):
    if ok is None:
        return "**not measured**"
    return "**met**" if ok else "**not met**"


def cg_total(out, name):
    """Ir counted inside the toggled function (callgrind's 'Collected')."""
    err = os.path.join(out, f"{name}.err")
    if not os.path.exists(err):
        return NAN
    m = re.search(r"Collected : ([0-9]+)", open(err).read())
    return float(m.group(1)) if m else NAN


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


class Workload:
    """One line of bench/run's table and the runs of each of its peers."""

    def __init__(self, line, out, repeat):
        words = line.split()
        self.name, self.peers, self.args = words[0], words[1].split(","), words[2:]
        self.mode = self.args[0]
        self.keys = [w for w in self.args if "=" in w]
        plain = [w for w in self.args if "=" not in w]
        if self.mode == "latency":
            self.producers, self.record = int(plain[1]), plain[2]
        else:
            self.producers, self.record = 1, "throughput"
        self.sink = plain[1] if self.mode == "throughput" else "file"
        self.words = plain[2:] if self.mode == "throughput" else plain[3:]
        self.runs = {p: [parse(os.path.join(out, f"{self.name}_{p}_r{r}.txt"))
                         for r in range(1, repeat + 1)] for p in self.peers}

    def title(self):
        if self.mode == "latency":
            what = (f"latency, {self.producers} producer"
                    + ("s" if self.producers > 1 else "") + f", {self.record} record")
        else:
            what = f"throughput into the {self.sink} sink"
        if self.words:
            what += ", " + ", ".join(f"`{w}`" for w in self.words)
        if self.keys:
            what += " (sluice: " + ", ".join(f"`{k}`" for k in self.keys) + ")"
        return f"`{self.name}`: {what}"

    def med(self, peer, key):
        return med(self.runs.get(peer, []), key)

    def has_file(self):
        return any("lines" in r for rs in self.runs.values() for r in rs)

    def digests(self):
        """(identical, key, {peer: sorted set of (digest, lines)})."""
        key = "digest_ordered" if self.producers == 1 else "digest_unordered"
        seen = {}
        for peer, rs in self.runs.items():
            seen[peer] = sorted({(r.get(key, "missing"), r.get("lines", NAN)) for r in rs},
                                key=str)
        values = {v for vs in seen.values() for v in vs}
        ok = len(values) == 1 and all(d != "missing" and lines == lines and lines > 0
                                      for d, lines in values)
        return ok, key, seen


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--seconds", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--cg-calls", type=int, default=100000)
    a = ap.parse_args()
    out, R, calls = a.out, a.repeat, a.cg_calls

    workloads = [Workload(line, out, R)
                 for line in open(os.path.join(out, "workloads.txt")) if line.strip()]
    by_name = {w.name: w for w in workloads}
    latency = [w for w in workloads if w.mode == "latency"]
    throughput = [w for w in workloads if w.mode == "throughput"]

    # ---- instructions per call --------------------------------------------
    count_names = [line.split()[0]
                   for line in open(os.path.join(out, "counts.txt")) if line.strip()]
    ir = {}  # (peer, kind) -> (with the loop, net of the loop)
    for peer in ("sluice", "sluice_cxx", "spdlog"):
        base = cg_total(out, f"cg_{peer}_baseline") / calls
        ir[(peer, "loop")] = (base, base)
        for kind in ("enabled", "strings", "disabled", "durable"):
            if f"cg_{peer}_{kind}" in count_names:
                raw = cg_total(out, f"cg_{peer}_{kind}") / calls
                ir[(peer, kind)] = (raw, raw - base)

    def net(peer, kind):
        return ir.get((peer, kind), (NAN, NAN))[1]

    # ---- the files: the same bytes from every peer ------------------------
    file_checks = []
    for w in workloads:
        if w.has_file():
            ok, key, seen = w.digests()
            file_checks.append((w, ok, key, seen))
    files_ok = all(ok for _, ok, _, _ in file_checks) and bool(file_checks)

    # ---- peak RSS against the queue ---------------------------------------
    rss_rows = []
    for w in workloads:
        for peer in w.peers:
            rss = w.med(peer, "peak_rss_kib") / 1024
            queue = w.med(peer, "queue_bytes") / MIB
            ok = rss <= queue + 16 if peer.startswith("sluice") else None
            rss_rows.append((w, peer, rss, queue, ok))
    sluice_rss = [ok for _, peer, _, _, ok in rss_rows if peer.startswith("sluice")]
    rss_ok = all(sluice_rss) if sluice_rss and None not in sluice_rss else None

    # ---- the plot ---------------------------------------------------------
    series = [(w, p) for w in latency for p in w.peers]
    dat = os.path.join(out, "latency.dat")
    with open(dat, "w") as f:
        f.write("# pct " + " ".join(f"{w.name}:{p}" for w, p in series) + "\n")
        for i, pct in enumerate(PCTS):
            vals = [w.med(p, pct + "_ns") for w, p in series]
            f.write(f'{i} "{pct}" ' + " ".join(f"{v:.2f}" for v in vals) + "\n")
    colours = {"sluice": "#1f77b4", "sluice_cxx": "#2ca02c", "spdlog": "#d62728"}
    styles = [(7, 1), (5, 2), (9, 3), (11, 4), (13, 5), (4, 6)]
    plots = []
    for k, (w, p) in enumerate(series):
        point, dash = styles[latency.index(w) % len(styles)]
        label = (f"{PEER_NAMES[p]}, {w.producers} thread" + ("s" if w.producers > 1 else "")
                 + ("" if w.record == "numbers" else f", {w.record}")
                 + (", " + ", ".join(w.keys) if w.keys and p != "spdlog" else ""))
        plots.append(f'"{dat}" using 1:{k + 3}' + (":xtic(2)" if k == 0 else "")
                     + f' with linespoints lw 2 pt {point} dt {dash} '
                     f'lc rgb "{colours.get(p, "#7f7f7f")}" title "{label}"')
    png = os.path.join(a.bench, "latency.png")
    gp = f"""
set terminal pngcairo size 960,600 font ",11"
set output "{png}"
set title "Latency per log call: 20-record batches, 20 µs pause, default queues (median of {R} runs)"
set ylabel "ns per record (log scale)"
set xlabel "percentile"
set logscale y
set yrange [8:*]
set grid ytics mytics xtics
set key top left box opaque
set xrange [-0.3:{len(PCTS) - 0.7}]
set ytics ("10 ns" 10, "30 ns" 30, "100 ns" 100, "300 ns" 300, "1 µs" 1000, "3 µs" 3000, "10 µs" 10000, "30 µs" 30000, "100 µs" 100000, "300 µs" 300000, "1 ms" 1000000)
plot {", ".join(plots)}
"""
    gp_path = os.path.join(out, "latency.gp")
    open(gp_path, "w").write(gp)
    if subprocess.run(["gnuplot", gp_path]).returncode != 0:
        open(gp_path, "w").write(gp.replace("pngcairo", "png"))
        subprocess.run(["gnuplot", gp_path])

    # ---- the targets of issue 9 -------------------------------------------
    def lat(name, pct):
        w = by_name.get(name)
        return w.med("sluice", pct + "_ns") if w else NAN

    def target(label, value, shown, limit):
        ok = None if value != value else value <= limit
        return (label, shown, verdict(ok))

    tp_file = by_name.get("tp_file")
    tp_sluice = tp_file.med("sluice", "records_per_s") if tp_file else NAN

    def durable_target():
        """lat_durable_1 against lat_1 (p50), tp_durable_file against tp_file."""
        label = "durable mode within 1.3× of memory mode on p50 and throughput"
        d_lat, d_tp = by_name.get("lat_durable_1"), by_name.get("tp_durable_file")
        if not d_lat or not d_tp or not tp_file:
            return (label, "no durable workload in bench/run", verdict(None))
        p50 = d_lat.med("sluice", "p50_ns") / lat("lat_1", "p50")
        rate = tp_sluice / d_tp.med("sluice", "records_per_s")
        shown = (f"p50 {p50:.2f}× ({ns(d_lat.med('sluice', 'p50_ns'))} vs "
                 f"{ns(lat('lat_1', 'p50'))}), throughput {rate:.2f}× "
                 f"({mps(d_tp.med('sluice', 'records_per_s'))} vs {mps(tp_sluice)})")
        ok = None if p50 != p50 or rate != rate else p50 <= 1.3 and rate <= 1.3
        return (label, shown, verdict(ok))
    targets = [
        target("1 producer: p50 ≤ 15 ns", lat("lat_1", "p50"), ns(lat("lat_1", "p50")), 15),
        target("1 producer: p99 ≤ 40 ns", lat("lat_1", "p99"), ns(lat("lat_1", "p99")), 40),
        target("a record with a 60-byte and a 15-byte string: p99 ≤ 60 ns",
               lat("lat_str_1", "p99"), ns(lat("lat_str_1", "p99")), 60),
        target("2 producer threads: p99 ≤ 50 ns", lat("lat_2", "p99"), ns(lat("lat_2", "p99")), 50),
        target("2 producer threads: p99.9 ≤ 300 ns", lat("lat_2", "p99.9"),
               ns(lat("lat_2", "p99.9")), 300),
        durable_target(),
        ("file throughput not below today's (about 4 M records/s)", mps(tp_sluice),
         verdict(None if tp_sluice != tp_sluice else tp_sluice >= 4e6)),
        target("instructions per enabled call ≤ 50 with 3 arguments (callgrind)",
               net("sluice", "enabled"),
               f"{net('sluice', 'enabled'):.1f} ({ir.get(('sluice', 'enabled'), (NAN,))[0]:.1f} with the loop)",
               50),
        target("instructions per enabled call ≤ 90 with two strings (callgrind)",
               net("sluice", "strings"),
               f"{net('sluice', 'strings'):.1f} ({ir.get(('sluice', 'strings'), (NAN,))[0]:.1f} with the loop)",
               90),
        ("peak RSS ≤ queue + 16 MiB (every sluice workload)",
         "; ".join(f"{w.name}{'' if p == 'sluice' else ' (' + p + ')'}: {rss:.1f} MiB vs {q:.0f} + 16"
                   for w, p, rss, q, ok in rss_rows if p.startswith("sluice")),
         verdict(rss_ok)),
        ("both loggers write byte-identical files (the bench checks the digests)",
         "files identical: " + ("yes" if files_ok else "**no**"), verdict(files_ok)),
    ]

    # ---- the machine ------------------------------------------------------
    lscpu = sh("lscpu")

    def lsf(key):
        m = re.search(rf"^{key}:\s*(.+)$", lscpu, re.M)
        return m.group(1).strip() if m else "?"

    def load(name):
        text = open(os.path.join(out, name)).read().strip()
        return text.split("load average:")[-1].strip()

    tmpdir = os.environ.get("BENCH_TMPDIR") or "/tmp"
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
        ("Log files on", sh(f"findmnt -no FSTYPE -T {tmpdir}") + f" ({tmpdir})"),
        ("Load before / after", load("load_before.txt") + " / " + load("load_after.txt")),
        ("CPU pinning", "off (BENCH_NO_PIN)" if os.environ.get("BENCH_NO_PIN") else
         "on (1 producer: worker on CPU 0, producer on CPU 1)"),
    ]
    commit = sh(f"git -C {a.bench} rev-parse --short HEAD")
    dirty = sh(f"git -C {a.bench}/.. status --porcelain -- core include plugins bench "
               "':!bench/RESULTS.md' ':!bench/latency.png'")

    L = []
    w_ = L.append
    w_("# sluice benchmark: sluice against spdlog")
    w_("")
    w_(f"Generated by `bench/run` on {datetime.datetime.now().strftime('%Y-%m-%d %H:%M %Z').strip()} "
       f"in {a.seconds} s, at commit `{commit}`"
       + (" (with uncommitted changes under core/include/plugins/bench)" if dirty else "") + ".")
    w_(f"Every workload ran in its own process, {R} times for each logger; the figures are the "
       "median of the runs (ranges are min–max over the runs). Both loggers run with the queue a "
       "user gets by default and write the same bytes. Raw outputs: `build-bench/bench-out/`.")
    w_("")
    w_(f"**files identical: {'yes' if files_ok else 'NO'}**")
    w_("")
    w_("## Targets (issue 9, \"The queue, second generation\": Acceptance)")
    w_("")
    w_("| target | measured (sluice) | verdict |")
    w_("|---|---|---|")
    for label, shown, v in targets:
        w_(f"| {label} | {shown} | {v} |")
    w_("")

    # ---- latency ----------------------------------------------------------
    w_("## Latency (ns per record, mean of each 20-record batch)")
    w_("")
    for w in latency:
        w_(f"### {w.title()}")
        w_("")
        w_(f"Record: {RECORDS.get(w.record, w.record)}.")
        w_("")
        w_("| logger | " + " | ".join(PCTS) + " | max | p50 range | p99 range | p99.9 range "
           "| dropped while measuring |")
        w_("|---|" + "---|" * (len(PCTS) + 5))
        for p in w.peers:
            rs = w.runs[p]
            cells = [ns(med(rs, pct + "_ns")) for pct in PCTS + ["max"]]
            for key in ("p50_ns", "p99_ns", "p99.9_ns"):
                lo, hi = rng(rs, key)
                cells.append(f"{ns(lo)}–{ns(hi)}")
            drops = total(rs, "measured_dropped")
            cells.append(f"{drops:.0f}" + (" **(records lost)**" if drops and drops == drops else ""))
            w_(f"| {PEER_NAMES.get(p, p)} | " + " | ".join(cells) + " |")
        if "sluice" in w.peers and "spdlog" in w.peers:
            w_("| spdlog / sluice | " + " | ".join(
                ratio(w.med("spdlog", pct + "_ns"), w.med("sluice", pct + "_ns"))
                for pct in PCTS + ["max"]) + " | | | | |")
        w_("")
        sl_drops = total(w.runs.get("sluice", []), "measured_dropped")
        w_(f"Dropped while measuring is summed over the {R} runs. sluice runs with "
           "`overflow = drop_newest`, so a record the worker has not made room for is refused and "
           "counted" + (f": **{sl_drops:.0f} records were dropped**, the worker did not keep up."
                        if sl_drops else ": none was.")
           + " spdlog's default blocks instead (its overrun counter stays 0; a full queue shows as "
           "latency).")
        w_("")
    w_("![latency percentiles](latency.png)")
    w_("")

    # ---- futex wakes ------------------------------------------------------
    wakes = [(w, parse(os.path.join(out, f"wakes_{w.name}.txt"))) for w in latency]
    wakes = [(w, d) for w, d in wakes if d]
    if wakes:
        w_("### Futex wakes paid by producers")
        w_("")
        w_("An idle worker naps (200 us doubling to 0.5 ms) without telling producers, and only after "
           "20 ms of quiet sleeps on a futex; a producer that publishes while it sleeps there pays a "
           "`FUTEX_WAKE` system call (core/worker.c explains why it never spins). "
           "`sluice_bench_wakes` (the same program, interposing `syscall(2)` to count wakes per batch; "
           "one run) says:")
        w_("")
        w_("| workload | batches with a wake | p50 of those batches | p99 of those | p99 without "
           "| p99.9 without | p99.9 all |")
        w_("|---|---|---|---|---|---|---|")
        for w, d in wakes:
            n = d.get("batches_with_wake", NAN)
            samples = d.get("samples", NAN)
            w_(f"| `{w.name}` | {n:.0f} of {samples:.0f} ({100 * n / samples:.2f} %) | "
               f"{ns(d.get('wake_p50_ns', NAN))} | {ns(d.get('wake_p99_ns', NAN))} | "
               f"{ns(d.get('nowake_p99_ns', NAN))} | {ns(d.get('nowake_p99.9_ns', NAN))} | "
               f"{ns(d.get('p99.9_ns', NAN))} |")
        w_("")

    # ---- throughput -------------------------------------------------------
    w_("## Throughput (records/s, timed until everything is written and the logger closed)")
    w_("")
    w_("| workload | sluice | spdlog async | sluice / spdlog | sluice range | spdlog range "
       "| producer loop, sluice / spdlog | dropped (sluice) |")
    w_("|---|---|---|---|---|---|---|---|")
    for w in throughput:
        sl, sp = w.runs.get("sluice", []), w.runs.get("spdlog", [])
        lo, hi = rng(sl, "records_per_s")
        plo, phi = rng(sp, "records_per_s")
        w_(f"| {w.title()} | {mps(med(sl, 'records_per_s'))} | {mps(med(sp, 'records_per_s'))} | "
           f"{ratio(med(sl, 'records_per_s'), med(sp, 'records_per_s'))} | "
           f"{lo / 1e6:.2f}–{hi / 1e6:.2f} | {plo / 1e6:.2f}–{phi / 1e6:.2f} | "
           f"{med(sl, 'producer_s'):.2f} s / {med(sp, 'producer_s'):.2f} s | "
           f"{total(sl, 'dropped'):.0f} |")
    w_("")
    w_(f"4,000,000 records of {RECORDS['throughput']} from one thread. sluice: its default queue, "
       "`overflow = block`; timed until `sluice_logger_flush` and `sluice_close` returned. spdlog: "
       "default async logger (8192 messages, block), timed until `flush()` and `spdlog::shutdown()` "
       "returned (the worker is joined after it has processed the whole queue). \"Written\" means "
       "handed to the kernel (`write`/`fwrite` + flush), not fsync'ed, for both. Both write the "
       "message alone (sluice `pattern = %m`, spdlog `set_pattern(\"%v\")`), about 55 bytes a line: "
       "less than the default patterns (time, level, logger name), so these figures are not "
       "comparable with runs that used those.")
    w_("")

    # ---- files ------------------------------------------------------------
    w_("## The files: the same bytes from both loggers")
    w_("")
    w_("Each run prints the FNV-1a (64-bit) digest of the file its logger wrote, once over the "
       "whole file (`ordered`, compared when one thread logs) and once as the sum of each line's "
       "digest (`unordered`, compared with two producer threads, whose lines interleave differently "
       "in every run), and its lines. Every run of every peer must give the same value.")
    w_("")
    w_("| workload | compared | " + " | ".join(PEER_NAMES[p] for p in ("sluice", "sluice_cxx", "spdlog"))
       + " | identical |")
    w_("|---|---|---|---|---|---|")
    for w, ok, key, seen in file_checks:
        cells = []
        for p in ("sluice", "sluice_cxx", "spdlog"):
            if p not in seen:
                cells.append("—")
                continue
            cells.append("<br>".join(f"`{d}`, {lines:,.0f} lines" for d, lines in seen[p]))
        w_(f"| `{w.name}` | {key.split('_')[1]} | " + " | ".join(cells)
           + f" | {'yes' if ok else '**no**'} |")
    w_("")

    # ---- peak RSS ---------------------------------------------------------
    w_("## Peak RSS (VmHWM at the end of each process) and the queue's memory")
    w_("")
    w_("| workload | logger | peak RSS | queue memory | peak RSS ≤ queue + 16 MiB |")
    w_("|---|---|---|---|---|")
    for w, p, rss, q, ok in rss_rows:
        w_(f"| `{w.name}` | {PEER_NAMES.get(p, p)} | {rss:.1f} MiB | {q:.1f} MiB | "
           + ("—" if ok is None else ("yes" if ok else "**no**")) + " |")
    w_("")
    w_("sluice's queue memory is what it mapped (and faulted in at open): the `sluice_queue_size_bytes` "
       "gauges of `sluice_runtime_metrics_write`, every lane, every ring (16 MiB per lane by default, "
       "split into `producer_rings = auto` rings: one per CPU while each keeps 1 MiB). spdlog's is its "
       "preallocated ring: (8192 + 1) × `sizeof(spdlog::details::async_msg)`, each with its 250-byte "
       "inline buffer.")
    w_("")

    # ---- instructions -----------------------------------------------------
    w_(f"## Instructions per call (callgrind, {calls:,} calls, producer side only)")
    w_("")
    w_("| call | sluice | sluice, from C++ | spdlog async |")
    w_("|---|---|---|---|")
    kinds = (("enabled", "enabled, 3 numbers"), ("strings", "enabled, two strings"),
             ("disabled", "disabled"))
    if ("sluice", "durable") in ir:
        kinds += (("durable", "enabled, 3 numbers, durable queue"),)
    for kind, label in kinds:
        w_(f"| {label} (net of the loop) | "
           + " | ".join(f"{net(p, kind):.1f}" for p in ("sluice", "sluice_cxx", "spdlog")) + " |")
        w_(f"| {label} (loop included) | "
           + " | ".join(f"{ir.get((p, kind), (NAN,))[0]:.1f}" for p in ("sluice", "sluice_cxx", "spdlog"))
           + " |")
    w_("| the bare loop (subtracted) | "
       + " | ".join(f"{ir[(p, 'loop')][0]:.1f}" for p in ("sluice", "sluice_cxx", "spdlog")) + " |")
    w_("")
    cxx_same = all(abs(ir.get(("sluice_cxx", k), (NAN,))[0] - ir.get(("sluice", k), (NAN,))[0]) < 0.05
                   for k, _ in kinds if k != "durable")
    w_("A C++ host pays what a C host pays: " + ("yes" if cxx_same else "**no**")
       + " (the same instructions per call within 0.05).")
    w_("")
    w_("`valgrind --tool=callgrind --toggle-collect=FUNCTION`: only instructions executed inside a noinline "
       "function holding the logging loop (and what it calls) on the producer thread are counted; the worker "
       "thread is not. The argument evaluation of the call is part of the call. Unlike the other workloads, "
       "both queues are made large enough for every call (valgrind runs one thread at a time, so a full "
       "queue would count the waiting): sluice with one ring (`producer_rings = 1`) of a `queue_size` that "
       "holds every call (a call takes the same path whatever the ring's size), spdlog with "
       "`init_thread_pool(calls + 1024, 1)`; both into their null sink. The disabled call is "
       "`SLUICE_DEBUG` / `logger->debug()` on a logger at `info`. \"From C++\" is `sluice_bench_cxx`, "
       "bench/sluice_bench.c compiled as C++17 (the macros' C++ half, include/sluice/sluice_cxx.h).")
    w_("")
    for name, label in (("cg_sluice_enabled", "the enabled sluice call, 3 numbers"),
                        ("cg_sluice_strings", "the enabled sluice call, two strings")):
        rows = cg_functions(out, name, calls)
        if rows:
            w_(f"Where {label} spends its instructions (self, per call):")
            w_("")
            w_("| function | instructions |")
            w_("|---|---|")
            for fn, v in rows:
                w_(f"| `{fn}` | {v:.1f} |")
            w_("")
    wrows = cg_functions(out, "cg_sluice_worker", calls)
    if wrows:
        wtotal = cg_total(out, "cg_sluice_worker") / calls
        w_(f"The other side, for comparison: the sluice worker thread spends **{wtotal:,.0f} instructions per "
           "record** (3 numbers, null sink, `--toggle-collect=sluice_worker_run_`, idle re-checks included); "
           "this is what bounds the throughput. Top functions (self, per record):")
        w_("")
        w_("| function | instructions |")
        w_("|---|---|")
        for fn, v in wrows[:15]:
            w_(f"| `{fn}` | {v:,.0f} |")
        w_("")

    # ---- machine and method -----------------------------------------------
    w_("## Machine")
    w_("")
    w_("| | |")
    w_("|---|---|")
    for k, v in machine:
        w_(f"| {k} | {v} |")
    w_("")
    w_("## Method")
    w_("")
    w_("* **Workloads**: the table at the head of `bench/run`, one a line; each runs in its own process, "
       f"{R} times for each logger, the loggers alternating.")
    w_("* **Queues, as a user gets them**: sluice with no `queue_size` (16 MiB per lane, `producer_rings = "
       "auto`, faulted in at open), spdlog's default async logger (`details::default_async_q_size = 8192` "
       "messages, one worker thread, `async_overflow_policy::block`). No queue is enlarged and none "
       "pre-written: before measuring each producer logs 1,000 records of the workload (first-call costs) "
       "and waits until they are written, for both loggers alike.")
    w_("* **Latency** (the method of quill's published tables): each producer thread logs 20 records back "
       "to back, takes the TSC before and after, records the batch's cost / 20, busy-waits 20 µs (TSC spin, "
       "never sleeps), 50,000 times. Percentiles are nearest-rank over all threads' samples. Into a file. "
       "With one producer the worker is pinned to CPU 0 (its creator is pinned before the logger starts) and "
       "the producer to CPU 1, for both loggers; with two producers nothing is pinned (three busy threads on "
       "two CPUs). sluice's latency runs use `overflow = drop_newest`, so that a call is never measured "
       "waiting for room: what the worker could not take is counted as dropped and reported.")
    w_("* **Same bytes**: sluice's file sink with `pattern = %m`, spdlog with `set_pattern(\"%v\")`; `%lu` / "
       "`{}` and `%f` / `{:f}` (six decimals) print the same; each line is the message and a newline. The "
       "warm-up records are in the files too.")
    w_("* **From C++**: `sluice_bench_cxx` is the very same source (bench/sluice_bench.c) compiled as C++17 by the "
       "C++ compiler above, so its figures are those of a C++ host using the same macros.")
    w_("* **Throughput**: one thread, see above; the null sink still renders each record (sluice renders "
       "the line in the worker; spdlog's null sink skips formatting of the pattern but the message is "
       "formatted by the producer).")
    w_("* **RSS**: each workload is its own process; VmHWM from /proc/self/status at its end.")
    w_("")
    open(os.path.join(a.bench, "RESULTS.md"), "w").write("\n".join(L))

    # ---- on the terminal --------------------------------------------------
    for label, shown, v in targets:
        print(f"   {v.strip('*'):13} {label}: {shown}")
    for w, ok, key, seen in file_checks:
        if not ok:
            print(f"bench: {w.name}: the files differ ({key}): "
                  + "; ".join(f"{p}: {', '.join(f'{d} ({lines:.0f} lines)' for d, lines in v)}"
                              for p, v in seen.items()), file=sys.stderr)
    print(f"   files identical: {'yes' if files_ok else 'NO'}")
    return 0 if files_ok else 1


if __name__ == "__main__":
    sys.exit(main())
