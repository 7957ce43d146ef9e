#!/usr/bin/env python3
"""Turns pausebeat's benchmark results into benches/RESULTS.md and benches/*.svg.

Reads (under the cargo target directory: $CARGO_TARGET_DIR, else <workspace>/target):
  criterion/**/new/{benchmark,estimates}.json   cargo bench -p pausebeat-benches
  pausebeat-bench/resume_call.json              (written by the resume_call bench)
  pausebeat-bench/resume_to_record.json         (written by the resume_to_record bench)
  pausebeat-bench/verifier_stats.json           cargo run --release -p pausebeat-scenarios --example verifier_stats
  pausebeat-bench/fetch_latency.json            cargo run --release -p pausebeat-benches --bin fetch_latency

Writes benches/RESULTS.md, benches/resume_call.svg and benches/resume_to_record.svg.
Standard library only.

usage: python3 benches/report.py [--target DIR] [--out DIR]
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

REPRODUCE = """\
cargo bench -p pausebeat-benches
cargo run --release -p pausebeat-scenarios --example verifier_stats
cargo run --release -p pausebeat-benches --bin fetch_latency
python3 benches/report.py"""

DESIGNS = ["floor", "vetted", "go-original", "pr-1313"]
STATES = ["healthy", "restarting"]


# ----- reading ---------------------------------------------------------------------------------


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def criterion_results(target):
    """full_id -> {mean, median, lo, hi (ns), throughput elements or None}."""
    out = {}
    base = target / "criterion"
    for bench in base.glob("**/new/benchmark.json"):
        meta = load_json(bench)
        est = load_json(bench.parent / "estimates.json")
        if not meta or not est:
            continue
        tp = meta.get("throughput") or {}
        out[meta["full_id"]] = {
            "mean": est["mean"]["point_estimate"],
            "lo": est["mean"]["confidence_interval"]["lower_bound"],
            "hi": est["mean"]["confidence_interval"]["upper_bound"],
            "median": est["median"]["point_estimate"],
            "elements": tp.get("Elements"),
        }
    return out


def machine():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def run(*cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "unknown"

    librdkafka = "unknown"
    lock = ROOT / "Cargo.lock"
    if lock.exists():
        m = re.search(r'name = "rdkafka-sys"\nversion = "([^"]+)"', lock.read_text())
        if m:
            librdkafka = "rdkafka-sys " + m.group(1) + " (librdkafka " + m.group(1).split("+")[-1] + ", bundled)"
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "os": platform.platform(),
        "rustc": run("rustc", "--version"),
        "librdkafka": librdkafka,
        "commit": run("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"),
    }


# ----- formatting ------------------------------------------------------------------------------


def fmt_ns(ns):
    if ns is None or (isinstance(ns, float) and math.isnan(ns)):
        return "–"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            v = ns / scale
            return f"{v:.3g} {unit}" if v < 100 else f"{v:.0f} {unit}"
    return f"{ns:.3g} ns"


def fmt_ms(ms):
    return fmt_ns(ms * 1e6) if ms is not None else "–"


def fmt_ratio(r):
    if r is None or r != r:
        return "–"
    if r >= 1000:
        return f"{r:,.0f}×"
    if r >= 10:
        return f"{r:.0f}×"
    return f"{r:.2f}×"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


# ----- the SVG plots ---------------------------------------------------------------------------


def svg_resume_call(res, path):
    """Grouped bars, log scale: resume() per design, healthy vs restarting."""
    w, h = 760, 420
    left, right, top, bottom = 80, 20, 50, 70
    lo_exp, hi_exp = 1, 9  # 10 ns .. 1 s
    colors = {"healthy": "#3b78c2", "restarting": "#e07b39"}

    def y(ns):
        e = math.log10(max(ns, 10 ** lo_exp))
        return top + (h - top - bottom) * (1 - (e - lo_exp) / (hi_exp - lo_exp))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<text x="{w / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">'
        "resume() call time, mean (log scale)</text>",
    ]
    labels = {1: "10 ns", 2: "100 ns", 3: "1 µs", 4: "10 µs", 5: "100 µs", 6: "1 ms",
              7: "10 ms", 8: "100 ms", 9: "1 s"}
    for e in range(lo_exp, hi_exp + 1):
        yy = y(10 ** e)
        parts.append(f'<line x1="{left}" y1="{yy:.1f}" x2="{w - right}" y2="{yy:.1f}" '
                     'stroke="#ddd"/>')
        parts.append(f'<text x="{left - 8}" y="{yy + 4:.1f}" text-anchor="end" fill="#555">'
                     f"{labels[e]}</text>")
    group_w = (w - left - right) / len(DESIGNS)
    bar_w = group_w * 0.32
    for i, d in enumerate(DESIGNS):
        gx = left + i * group_w
        parts.append(f'<text x="{gx + group_w / 2:.1f}" y="{h - bottom + 22}" '
                     f'text-anchor="middle" font-weight="bold">{d}</text>')
        for j, s in enumerate(STATES):
            r = res.get(f"resume_call/{d}/{s}")
            x = gx + group_w / 2 - bar_w + j * bar_w
            if not r:
                continue
            top_y = y(r["mean"])
            base_y = y(10 ** lo_exp)
            parts.append(f'<rect x="{x + 2:.1f}" y="{top_y:.1f}" width="{bar_w - 4:.1f}" '
                         f'height="{base_y - top_y:.1f}" fill="{colors[s]}"/>')
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{top_y - 5:.1f}" '
                         f'text-anchor="middle" font-size="11">{fmt_ns(r["mean"])}</text>')
    for j, s in enumerate(STATES):
        lx = left + 10 + j * 130
        parts.append(f'<rect x="{lx}" y="{h - 28}" width="14" height="14" fill="{colors[s]}"/>')
        parts.append(f'<text x="{lx + 20}" y="{h - 16}">{s}</text>')
    parts.append(f'<text x="{w - right}" y="{h - 16}" text-anchor="end" fill="#555" '
                 'font-size="11">restarting: coordinator down, design inside a restart</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n")


def svg_resume_to_record(samples, path):
    """Scatter: resume → record against the pause length, per consumer."""
    if not samples:
        return False
    w, h = 760, 420
    left, right, top, bottom = 70, 20, 50, 60
    colors = {"rdkafka-raw": "#3b78c2", "vetted": "#e07b39", "rdkafka-raw-wake": "#3a9a4a"}
    xmax = 1200.0
    ymax = 1100.0

    def px(p):
        return left + (w - left - right) * min(p, xmax) / xmax

    def py(ms):
        return top + (h - top - bottom) * (1 - min(ms, ymax) / ymax)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<text x="{w / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">'
        "resume → first record vs. how long the consumer was paused</text>",
    ]
    for v in range(0, 1101, 200):
        parts.append(f'<line x1="{left}" y1="{py(v):.1f}" x2="{w - right}" y2="{py(v):.1f}" '
                     'stroke="#ddd"/>')
        parts.append(f'<text x="{left - 8}" y="{py(v) + 4:.1f}" text-anchor="end" '
                     f'fill="#555">{v} ms</text>')
    for v in range(0, 1201, 200):
        parts.append(f'<text x="{px(v):.1f}" y="{h - bottom + 18}" text-anchor="middle" '
                     f'fill="#555">{v}</text>')
    parts.append(f'<text x="{(left + w - right) / 2}" y="{h - bottom + 36}" '
                 'text-anchor="middle">paused for (ms)</text>')
    # librdkafka's idle broker thread wakes every second after the pause: 1000 - paused.
    parts.append(f'<line x1="{px(0):.1f}" y1="{py(1000):.1f}" x2="{px(1000):.1f}" '
                 f'y2="{py(0):.1f}" stroke="#999" stroke-dasharray="4 4"/>')
    parts.append(f'<line x1="{px(1000):.1f}" y1="{py(1000):.1f}" x2="{px(1200):.1f}" '
                 f'y2="{py(800):.1f}" stroke="#999" stroke-dasharray="4 4"/>')
    parts.append(f'<text x="{px(520):.1f}" y="{py(520):.1f}" fill="#777" font-size="11">'
                 "next 1 s idle wake-up − paused</text>")
    # rdkafka-raw as rings, so that it shows where vetted's dots land on it.
    def mark(who, x, yy, size):
        c = colors.get(who, "#444")
        if who == "rdkafka-raw":
            return (f'<circle cx="{x:.1f}" cy="{yy:.1f}" r="{size + 2}" fill="none" '
                    f'stroke="{c}" stroke-width="1.8"/>')
        return f'<circle cx="{x:.1f}" cy="{yy:.1f}" r="{size}" fill="{c}" fill-opacity="0.85"/>'

    for who, rows in samples.items():
        for r in rows:
            parts.append(mark(who, px(r["paused_ms"]), py(r["to_record_ms"]), 3))
    for j, who in enumerate(samples):
        lx = left + 10 + j * 170
        parts.append(mark(who, lx + 6, h - 14, 4))
        parts.append(f'<text x="{lx + 16}" y="{h - 10}">{who}</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n")
    return True


# ----- the Markdown ----------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default_target = os.environ.get("CARGO_TARGET_DIR") or str(ROOT / "target")
    ap.add_argument("--target", default=default_target, help="the cargo target directory")
    ap.add_argument("--out", default=str(HERE), help="where RESULTS.md and the SVGs go")
    args = ap.parse_args()
    target, out = Path(args.target), Path(args.out)

    res = criterion_results(target)
    if not res:
        sys.exit(f"no criterion results under {target / 'criterion'}: run cargo bench -p pausebeat-benches")
    extra = target / "pausebeat-bench"
    summaries = load_json(extra / "resume_call.json") or {}
    to_record = load_json(extra / "resume_to_record.json") or {}
    verifier = load_json(extra / "verifier_stats.json")
    fetch = load_json(extra / "fetch_latency.json")
    m = machine()

    def mean(full_id):
        r = res.get(full_id)
        return r["mean"] if r else None

    def after_fetch(who):
        rows = [r for r in (to_record.get(who) or []) if r.get("first_fetch_ms") is not None]
        if not rows:
            return None
        return statistics.mean(r["to_record_ms"] - r["first_fetch_ms"] for r in rows)

    def rate(full_id):
        r = res.get(full_id)
        if not r or not r["elements"]:
            return None
        return r["elements"] / (r["mean"] / 1e9)

    L = []
    L.append("# pausebeat benchmark results")
    L.append("")
    L.append("Generated by `benches/report.py` from the latest run; do not edit by hand.")
    L.append("")
    L.append("## Machine")
    L.append("")
    L.append(f"- {m['cpus']} CPUs: {m['cpu']} (shared with other jobs: µs-scale numbers are noisy)")
    L.append(f"- {m['os']}")
    L.append(f"- {m['rustc']}; {m['librdkafka']}")
    L.append(f"- commit {m['commit']}, {datetime.date.today().isoformat()}")
    L.append("")
    L.append("Reproduce (from the workspace root; `cargo bench` takes ≈ 3 minutes, the two binaries ≈ 3 more):")
    L.append("")
    L.append("```")
    L.append(REPRODUCE)
    L.append("```")
    L.append("")

    # --- table
    L.append("## Latest numbers")
    L.append("")
    L.append("| benchmark | mean | 95% CI of the mean | median | throughput |")
    L.append("|---|---|---|---|---|")
    order = ([f"resume_call/{d}/{s}" for d in DESIGNS for s in STATES]
             + ["resume_to_record/rdkafka-raw", "resume_to_record/vetted",
                "resume_to_record/rdkafka-raw-wake", "throughput/rdkafka-raw", "throughput/vetted"])
    for fid in order + sorted(k for k in res if k not in order):
        r = res.get(fid)
        if not r:
            continue
        tp = rate(fid)
        tps = f"{tp / 1e6:.2f} M records/s" if tp else ""
        L.append(f"| `{fid}` | {fmt_ns(r['mean'])} | {fmt_ns(r['lo'])} – {fmt_ns(r['hi'])} "
                 f"| {fmt_ns(r['median'])} | {tps} |")
    L.append("")
    L.append("![resume() call time per design](resume_call.svg)")
    L.append("")

    # --- ratios
    L.append("## The ratios that matter")
    L.append("")
    L.append("| ratio | value | what it says |")
    L.append("|---|---|---|")
    rows = [
        ("vetted / floor, healthy", ratio(mean("resume_call/vetted/healthy"), mean("resume_call/floor/healthy")),
         "≈ 1: the vetted `resume()` costs what a bare channel hand-off to a parked thread costs "
         "(a little less or more is noise: both are one futex wake-up)"),
        ("vetted restarting / vetted healthy",
         ratio(mean("resume_call/vetted/restarting"), mean("resume_call/vetted/healthy")),
         "a restart in progress does not slow `resume()` down (below 1: nobody to wake)"),
        ("go-original restarting / vetted restarting",
         ratio(mean("resume_call/go-original/restarting"), mean("resume_call/vetted/restarting")),
         "go-original waits its whole send timeout, max.poll.interval (300 ms here, 300 s with Go's defaults)"),
        ("go-original restarting / go-original healthy",
         ratio(mean("resume_call/go-original/restarting"), mean("resume_call/go-original/healthy")),
         "the seed's \"Resume timeout\""),
        ("vetted / rdkafka-raw, resume_to_record",
         ratio(mean("resume_to_record/vetted"), mean("resume_to_record/rdkafka-raw")),
         "both wait for librdkafka's idle broker thread (see below); the design adds no wait of its own"),
        ("vetted / rdkafka-raw, resume_to_record after the first Fetch",
         ratio(after_fetch("vetted"), after_fetch("rdkafka-raw")),
         "the design's own part: from the leader's first Fetch to the record in the handler "
         "(owner thread, then handler thread, vs. the poll loop itself)"),
        ("vetted / rdkafka-raw-wake, resume_to_record",
         ratio(mean("resume_to_record/vetted"), mean("resume_to_record/rdkafka-raw-wake")),
         "what waking the leaders after resume would save (not done by the rdkafka backend yet)"),
        ("vetted / rdkafka-raw, throughput (records/s)",
         ratio(rate("throughput/vetted"), rate("throughput/rdkafka-raw")),
         "records per second through the handler, vetted relative to the hand loop"),
    ]
    for name, r, what in rows:
        L.append(f"| {name} | {fmt_ratio(r)} | {what} |")
    L.append("")

    # --- resume_call details
    L.append("## `resume_call`: what was measured")
    L.append("")
    L.append("Std runtime (real time), a scripted consumer (`benches/src/scripted.rs`), the Go consumer's "
             "timing divided by 1000: session 45 ms, max.poll 300 ms (Go's resume send timeout; heartbeat "
             "tick 150 ms), poll 5 ms, handler 1 ms per batch. *Restarting*: the group coordinator goes down "
             "while the consumer is paused; the next heartbeat (Go) or maintenance poll (vetted) fails, the "
             "design restarts, and closing the old consumer stalls on the unreachable coordinator until the "
             "benchmark ends. The Go port's restart attempts come `session.timeout + 15 s` apart (a constant "
             "of the Go code), so none comes during the benchmark. Go designs: the `resume()` inside one run, "
             "timed by a probe from `ResumeCalled` to `ResumeReturned`; vetted: `Consumer::resume()`; "
             "floor: `try_send` on a capacity-1 channel to a parked thread (healthy) or a busy one "
             "(restarting). Details in `benches/src/resume.rs`.")
    L.append("")
    if summaries:
        L.append("| id | resume() calls | returned ok: false | after the outage |")
        L.append("|---|---|---|---|")
        for d in DESIGNS:
            for s in STATES:
                k = f"{d}/{s}"
                sm = summaries.get(k)
                if not sm:
                    continue
                applied = sm.get("applied_after_outage")
                if applied:
                    secs = applied.get("secs", 0) + applied.get("nanos", 0) / 1e9
                    after = f"the resume requested during the outage took effect {fmt_ns(secs * 1e9)} after it ended"
                else:
                    after = ""
                L.append(f"| `resume_call/{k}` | {sm['resumes']} | {sm['failed']} | {after} |")
        L.append("")
        L.append("go-original's restarting resumes all fail with \"Resume timeout\" after max.poll.interval; "
                 "pr-1313's buffered channel returns at once (its known bugs are elsewhere: the verifier "
                 "finds them). The vetted consumer's restarting iterations call `resume()` back to back: "
                 "its owner thread is blocked in the stalled close and answers no `pause()`, and `resume()` "
                 "does the same work whatever the owner does (store the request, `try_send` a wake-up).")
        L.append("")

    # --- resume_to_record
    L.append("## `resume_to_record`: where the time goes")
    L.append("")
    L.append("Mock cluster: 3 brokers, 4 partitions (leaders 1, 2, 3, 1), one record produced while paused, "
             "pause lengths swept over 100 ms – 1.1 s (the same sequence for every id), librdkafka "
             "setting `fetch.wait.max.ms=10` for all. *First Fetch*: when the partition's leader received "
             "the first Fetch after the resume (the mock's request log).")
    L.append("")
    if to_record:
        L.append("| id | resumes | mean | median | max | resume → first Fetch (mean) | first Fetch → handler (mean) |")
        L.append("|---|---|---|---|---|---|---|")
        for who in ["rdkafka-raw", "vetted", "rdkafka-raw-wake"]:
            rows = to_record.get(who) or []
            if not rows:
                continue
            lat = [r["to_record_ms"] for r in rows]
            ff = [r["first_fetch_ms"] for r in rows if r.get("first_fetch_ms") is not None]
            rest = [r["to_record_ms"] - r["first_fetch_ms"] for r in rows
                    if r.get("first_fetch_ms") is not None]
            L.append(f"| `{who}` | {len(lat)} | {fmt_ms(statistics.mean(lat))} | "
                     f"{fmt_ms(statistics.median(lat))} | {fmt_ms(max(lat))} | "
                     f"{fmt_ms(statistics.mean(ff)) if ff else '–'} | "
                     f"{fmt_ms(statistics.mean(rest)) if rest else '–'} |")
        L.append("")
        if svg_resume_to_record(to_record, out / "resume_to_record.svg"):
            L.append("![resume to record against the pause length](resume_to_record.svg)")
            L.append("")

    # --- throughput
    L.append("## `throughput`: what was measured")
    L.append("")
    L.append("Same mock cluster, 100-byte records, 20 000 per iteration, a synchronous commit after every "
             "5 000 (both), `fetch.wait.max.ms=10`. The records are produced before the iteration "
             "(untimed; the consumer holds back meanwhile: the hand loop stops polling, the vetted "
             "handler blocks), so librdkafka has prefetched them: this is the client side's rate, from "
             "librdkafka's queue to the handler. The hand loop reads each record in place on one thread; "
             "the vetted consumer copies each record out of librdkafka (the seam's `Record` owns its "
             "payload), collects batches on its owner thread and hands them to its handler thread.")
    L.append("")

    # --- the fetch question
    L.append("## Why 95 ms with `fetch.wait.max.ms=500` and 595 ms with 10")
    L.append("")
    L.append(FINDING)
    L.append("")
    if fetch:
        L.append(f"Measured with `fetch_latency` ({fetch.get('iterations')} resumes per row; "
                 "*caught-up*: one record produced while paused; *backlog*: 2000 records per partition "
                 "behind the consumer, as in docs/rdkafka-notes.md). *p50*, *max*, *all*: resume → record; *first Fetch*: "
                 "the median time from the resume to the first Fetch any broker received.")
        L.append("")
        L.append("| variant | scenario | paused | p50 | max | all (ms) | first Fetch |")
        L.append("|---|---|---|---|---|---|---|")
        for r in fetch.get("rows", []):
            allv = ", ".join(str(round(x)) for x in r["to_record_ms"])
            ffs = [x for x in r.get("first_fetch_ms", []) if x is not None]
            ff = fmt_ms(statistics.median(ffs)) if ffs else "–"
            L.append(f"| {r['about']} | {r['scenario']} | {r['paused_ms']} ms | {fmt_ms(r['p50_ms'])} | "
                     f"{fmt_ms(r['max_ms'])} | {allv} | {ff} |")
        L.append("")

    # --- verifier
    L.append("## The verifier")
    L.append("")
    if verifier:
        L.append(f"Schedules per second on `happy-path` × `vetted` (budget {verifier['budget']}; loom "
                 f"preemption bound {verifier['loom_preemptions']}, PCT depth {verifier['pct_depth']}):")
        L.append("")
        L.append("| checker | schedules | time | schedules/s | |")
        L.append("|---|---|---|---|---|")
        for r in verifier["throughput"]:
            note = "exhaustive" if r.get("exhaustive") else ""
            L.append(f"| {r['checker']} | {r['schedules']} | {fmt_ms(r['elapsed_ms'])} | "
                     f"{r['schedules_per_s']:.0f} | {note} |")
        L.append("")
        L.append(f"Schedules and time to the first counterexample (budget {verifier['bug_budget']}; "
                 "randomized checkers: one entry per seed, seeds 1, 2, …). The first two rows are the seed "
                 "bugs (the seed's \"Resume timeout\", and the reviewer's suspend finding on PR #1313):")
        L.append("")
        L.append("| design × scenario | checker | property | schedules | time |")
        L.append("|---|---|---|---|---|")
        groups = {}
        for r in verifier["bugs"]:
            groups.setdefault((r["design"], r["scenario"], r["checker"]), []).append(r)
        for (d, s, c), rs in groups.items():
            found = [r for r in rs if r["verdict"] == "violation"]
            props = sorted({r["property"] for r in found if r.get("property")})
            sched = ", ".join(str(r["schedules"]) if r["verdict"] == "violation"
                              else f"none in {r['schedules']}" for r in rs)
            times = ", ".join(fmt_ms(r["elapsed_ms"]) for r in rs)
            L.append(f"| {d} × {s} | {c} | {', '.join(props) or '–'} | {sched} | {times} |")
        L.append("")
        L.append("The seed bugs' scenarios pin the interleaving on the virtual clock (the run's resume "
                 "lands while the heartbeat polls; the suspend lands inside the heartbeat's poll), so every "
                 "checker's first schedule violates. The last three rows are races whose scenarios leave the "
                 "interleaving open, and there the checkers differ: loom explores preemptions in a fixed "
                 "order; shuttle's random scheduler can need hundreds of schedules, or miss a race that needs "
                 "one exact preemption (`retry-consumer-resumes-each-run` is in `expect::MAY_MISS` for it). "
                 "loom is not run where the model needs more than its 5 threads "
                 "(`expect::LOOM_TOO_BIG`). A row naming several properties shows one race seen first "
                 "through different properties (`expect.rs` lists which each race may name).")
        L.append("")

    L.append("## Seen while benchmarking")
    L.append("")
    L.append(SEEN)
    L.append("")

    out.mkdir(parents=True, exist_ok=True)
    svg_resume_call(res, out / "resume_call.svg")
    (out / "RESULTS.md").write_text("\n".join(L) + "\n")
    print(f"wrote {out / 'RESULTS.md'} and the SVGs")


FINDING = """\
Neither setting makes librdkafka faster; they move a phase. `resume()` does not wake the broker \
thread that leads the partition: librdkafka's `rd_kafka_toppar_pause_resume` runs on its main thread \
and only clears the pause flag (only a fetch-*state* change calls `rd_kafka_broker_wakeup`, and a \
paused partition stays in state `active`). The leader's broker thread sends the first Fetch at its \
next wake-up, which is either

1. the answer to the Fetch it had in flight when the partitions were paused: a consumer at the end \
of the log always has a long poll out, which the broker holds for `fetch.wait.max.ms`; the broker \
thread sends no second Fetch while one is in flight; or
2. its idle timeout, a hard-coded 1 s (`rd_kafka_max_block_ms`), counted from when it went idle \
(around the pause).

So resume → first record ≈ (the first of `fetch.wait.max.ms`, 1000, 2000, … ms after the pause that \
lies after the resume) − the pause length, plus one fetch round trip. The loop in docs/rdkafka-notes.md \
paused ≈ 405 ms: with 500 ms the long poll came back 500 − 405 = 95 ms after the resume; with 10 ms \
it had come back long before, and the next wake-up was the idle timeout, 1000 − 405 = 595 ms after the \
resume. Over pauses of random length (a batch consumer pauses for minutes) either setting gives a \
latency spread evenly over 0 – 1 s.

* `fetch.error.backoff.ms=0` and `fetch.queue.backoff.ms=0` change nothing (no backoff is involved). \
`topic.metadata.refresh.interval.ms=100` helps a little (a Metadata request wakes *some* broker every \
100 ms) at the cost of that traffic.
* **What brings it to one fetch round trip**: wake each partition leader's broker thread right after \
`resume()` by queuing a request to it, without waiting for the answer in the poll loop (rust-rdkafka: \
`fetch_watermarks` per partition from a helper thread; `kafka::RawConsumer::wake_leaders_async`), \
**and** `fetch.wait.max.ms` shorter than the shortest pause, so that no long poll from before the pause \
is still in flight (`fetch.wait.max.ms=100`: ≈ 0.5 – 1.5 ms in every case measured). Waiting for the \
answers in the poll loop does not work with long polls: the broker answers a connection's requests in \
order, so the query waits behind the long-poll Fetch (500 ms–1.7 s with the default 500 ms). A seek to \
the current position after the resume wakes the leader only for partitions already read past offset 0 \
(the seek then validates the offset with the leader).
* pausebeat's rdkafka backend does not do this wake-up yet, so `resume_to_record/vetted` pays \
librdkafka's idle wake-up like the plain hand loop (`rdkafka-raw`); `rdkafka-raw-wake` shows what it \
would save."""


SEEN = """\
* `Consumer::run_once` on the rdkafka backend ends a run as soon as one consuming poll comes back \
empty. After a pause, librdkafka's first Fetch can take up to 1 s (above), so with a \
`poll_timeout` shorter than that a run can end "caught up" with records waiting: on the mock cluster \
with `poll_timeout` 100 ms, runs over 20 000 waiting records handled none, run after run. With the \
default 5 s they handled all 20 000, in 5–6 s each (up to 1 s to the first records, and a final empty \
5 s poll, as the Go consumer's `ReadMessage(5s)`). The benchmarks resume the vetted consumer with \
`resume()` instead, which has no "caught up" notion.
* On librdkafka's mock cluster a long-poll Fetch is not answered early when records arrive (a \
real broker answers at once), so a consumer that has caught up sees new records only when its long \
poll ends: up to `fetch.wait.max.ms` later. The benchmarks use 10 ms."""


if __name__ == "__main__":
    main()
