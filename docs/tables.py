#!/usr/bin/env python3
"""Regenerates the tables of pausebeat's docs from the tools' own JSON output.

Each table lives between `<!-- BEGIN name -->` and `<!-- END name -->` in a doc; this script
rewrites that region and leaves the rest of the doc alone.

    python3 docs/tables.py findings target/verify.json     # docs/findings.md: what verify finds in the Go designs
    python3 docs/tables.py record target/verify.json       # docs/verification.md: the vetted design's checks
    python3 docs/tables.py conform target/conform.json     # docs/world.md: the conformance verdicts
    python3 docs/tables.py soak target/soak.json           # docs/verification.md: the soak's verdicts
    python3 docs/tables.py mutants target/mutants.json     # docs/verification.md: what kills each planted bug
    python3 docs/tables.py hunts h1.json h2.json …         # docs/hunt.md: the record of vetted hunts

Run `pausebeat verify --json target/verify.json`, `pausebeat conform --json target/conform.json`
or `pausebeat soak --minutes 10 --json target/soak.json` first.
"""

import json
import pathlib
import re
import sys

DOCS = pathlib.Path(__file__).resolve().parent


def replace(doc, name, text):
    path = DOCS / doc
    body = path.read_text()
    pattern = re.compile(
        r"(<!-- BEGIN %s -->\n).*?(<!-- END %s -->)" % (re.escape(name), re.escape(name)),
        re.S,
    )
    if not pattern.search(body):
        sys.exit(f"{doc}: no <!-- BEGIN {name} --> ... <!-- END {name} --> region")
    path.write_text(pattern.sub(lambda m: m.group(1) + text + m.group(2), body))
    print(f"{doc}: table `{name}` rewritten")


def cell(s):
    return str(s).replace("|", "\\|").replace("\n", " ")


def findings(results):
    """The Go designs' violations: per (design, scenario), what each checker named."""
    rows = {}
    for r in results:
        if r["design"] == "vetted" or r["expected"] != "violation":
            continue
        key = (r["scenario"], r["design"])
        row = rows.setdefault(key, {"why": r.get("why") or "", "by": {}})
        named = r["property"] or r["verdict"]
        mark = "" if r["as_expected"] else " UNEXPECTED"
        row["by"][r["checker"]] = named + mark
    out = [
        "| scenario | design | loom | pct | random | why (the design's expectation) |",
        "|---|---|---|---|---|---|",
    ]
    for (scenario, design), row in sorted(rows.items()):
        by = [row["by"].get(c, "—") for c in ("loom", "pct", "random")]
        out.append(f"| {scenario} | {design} | " + " | ".join(by) + f" | {cell(row['why'])} |")
    return "\n".join(out) + "\n"


def record(results):
    """The vetted design: per scenario, each checker's schedules (✓: loom exhausted it)."""
    rows = {}
    for r in results:
        if r["design"] != "vetted":
            continue
        cells = rows.setdefault(r["scenario"], {})
        text = f"{r['verdict']} {r['schedules']:,}"
        if r.get("exhaustive"):
            text += " ✓"
        if not r["as_expected"]:
            text += " UNEXPECTED"
        cells[r["checker"]] = text
    out = ["| scenario | loom | pct | random |", "|---|---|---|---|"]
    for scenario, cells in sorted(rows.items()):
        out.append(
            f"| {scenario} | "
            + " | ".join(cells.get(c, "—") for c in ("loom", "pct", "random"))
            + " |"
        )
    passed = sum(1 for r in results if r["design"] == "vetted" and r["as_expected"])
    total = sum(1 for r in results if r["design"] == "vetted")
    out.append("")
    out.append(f"{passed} of {total} checks of the vetted design as expected.")
    return "\n".join(out) + "\n"


def conform(doc):
    out = ["| case | verdict | world | mock |", "|---|---|---|---|"]
    for c in doc["cases"]:
        out.append(
            f"| {c['case']} | {c['verdict']} | {cell(c['world'])} | {cell(c['mock'])} |"
        )
    s = doc["summary"]
    out.append("")
    out.append(
        f"{s['total']} cases: {s['agree']} agree, {s['exceptions']} listed exceptions, "
        f"{s['failing']} failing."
    )
    return "\n".join(out) + "\n"


def soak(doc):
    out = [
        f"Seed {doc['seed']}, {doc['elapsed_ms'] / 1000:.0f} s: "
        f"{sum(doc['operations'].values()):,} operations "
        f"({', '.join(f'{k} {v}' for k, v in sorted(doc['operations'].items()))}), "
        f"{sum(doc['faults'].values())} faults "
        f"({', '.join(f'{k} {v}' for k, v in sorted(doc['faults'].items()))}); "
        f"{doc['records_produced']:,} records produced, {doc['records_handled']:,} handled, "
        f"{doc['records_lost']} lost, {doc['duplicates']} duplicates; "
        f"{doc['consumers_started']} consumers started, {doc['consumers_created']} handles "
        f"created and {doc['consumers_closed']} closed; longest close "
        f"{doc['longest_close_ms']} ms; {doc['events']:,} events judged.",
        "",
        "| property | verdict |",
        "|---|---|",
    ]
    for p, v in sorted(doc["properties"].items()):
        out.append(f"| {p} | {cell(v)} |")
    return "\n".join(out) + "\n"


def mutants(doc):
    out = ["| mutant | the bug | killed by |", "|---|---|---|"]
    for m in doc["mutants"]:
        out.append(f"| {m['mutant']} | {cell(m['bug'])} | {cell(m['killed_by'] or 'SURVIVED')} |")
    killed = sum(1 for m in doc["mutants"] if m["killed_by"])
    out.append("")
    out.append(f"{killed} of {len(doc['mutants'])} planted bugs caught.")
    return "\n".join(out) + "\n"


def hunts(docs):
    """One row per `hunt --json` report: seed, minutes, scenarios, schedules, findings."""
    out = [
        "| design | seed | minutes | scenarios | schedules | findings | unexpected | signatures |",
        "|---|---|---|---|---|---|---|---|",
    ]
    total = [0, 0, 0]
    for d in sorted(docs, key=lambda d: (d["hunt"]["design"], d["hunt"]["seed"])):
        h = d["hunt"]
        found = [r for r in d["results"] if r["verdict"] != "pass"]
        unexpected = [r for r in d["results"] if not r["as_expected"]]
        sigs = "; ".join(sorted({r.get("signature", "") for r in found})) or "—"
        total[0] += h["scenarios"]
        total[1] += h["schedules"]
        total[2] += len(unexpected)
        out.append(
            f"| {h['design']} | {h['seed']} | {h['elapsed_ms'] / 60000:.1f} | {h['scenarios']:,} | "
            f"{h['schedules']:,} | {len(found)} | {len(unexpected)} | {cell(sigs)} |"
        )
    out.append("")
    out.append(
        f"{len(docs)} hunts: {total[0]:,} scenarios, {total[1]:,} schedules, {total[2]} unexpected finding(s)."
    )
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "hunts":
        docs = [json.loads(pathlib.Path(p).read_text()) for p in sys.argv[2:]]
        replace("hunt.md", "hunts", hunts(docs))
        return
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    what, path = sys.argv[1], sys.argv[2]
    doc = json.loads(pathlib.Path(path).read_text())
    if what == "findings":
        replace("findings.md", "findings", findings(doc["results"]))
    elif what == "record":
        replace("verification.md", "record", record(doc["results"]))
    elif what == "conform":
        replace("world.md", "conform", conform(doc))
    elif what == "soak":
        replace("verification.md", "soak", soak(doc))
    elif what == "mutants":
        replace("verification.md", "mutants", mutants(doc))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
