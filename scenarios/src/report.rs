//! Presenting results: the terminal table, the contract's JSON, and JUnit XML.

use crate::verify::{CheckResult, Verdict};
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Counts of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Checks run.
    pub total: usize,
    /// Checks whose outcome was the expected one.
    pub as_expected: usize,
    /// The others.
    pub unexpected: usize,
}

/// Counts `results`.
pub fn summary(results: &[CheckResult]) -> Summary {
    let as_expected = results.iter().filter(|r| r.as_expected).count();
    Summary {
        total: results.len(),
        as_expected,
        unexpected: results.len() - as_expected,
    }
}

/// The contract's JSON document.
pub fn json(results: &[CheckResult]) -> serde_json::Value {
    let s = summary(results);
    json!({
        "results": results,
        "summary": { "total": s.total, "as_expected": s.as_expected, "unexpected": s.unexpected },
    })
}

fn xml(s: &str) -> String {
    s.chars()
        .filter(|c| *c == '\n' || *c == '\t' || !c.is_control())
        .fold(String::with_capacity(s.len()), |mut out, c| {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&apos;"),
                c => out.push(c),
            }
            out
        })
}

/// JUnit XML: one testcase per (design, scenario, checker); an unexpected outcome is a failure
/// carrying the trace; an expected violation passes and keeps its trace in `system-out`.
pub fn junit(results: &[CheckResult]) -> String {
    let s = summary(results);
    let secs: f64 = results.iter().map(|r| r.elapsed_ms as f64 / 1000.0).sum();
    let mut out = String::new();
    let _ = writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        out,
        r#"<testsuites name="pausebeat verify" tests="{}" failures="{}" time="{secs:.3}">"#,
        s.total, s.unexpected
    );
    let mut by_design: BTreeMap<&str, Vec<&CheckResult>> = BTreeMap::new();
    for r in results {
        by_design.entry(&r.design).or_default().push(r);
    }
    for (design, rs) in by_design {
        let fails = rs.iter().filter(|r| !r.as_expected).count();
        let t: f64 = rs.iter().map(|r| r.elapsed_ms as f64 / 1000.0).sum();
        let _ = writeln!(
            out,
            r#"  <testsuite name="{}" tests="{}" failures="{fails}" time="{t:.3}">"#,
            xml(design),
            rs.len()
        );
        for r in rs {
            let _ = write!(
                out,
                r#"    <testcase classname="pausebeat.{}.{}" name="{}" time="{:.3}">"#,
                xml(&r.design),
                xml(&r.scenario),
                xml(&r.checker),
                r.elapsed_ms as f64 / 1000.0
            );
            let trace = r.trace.as_ref().map(|t| t.join("\n")).unwrap_or_default();
            let what = describe(r);
            if !r.as_expected {
                let _ = write!(
                    out,
                    "\n      <failure message=\"{}\" type=\"{}\">{}\n{}</failure>\n    ",
                    xml(&what),
                    xml(r.verdict.name()),
                    xml(&what),
                    xml(&trace)
                );
            } else if !trace.is_empty() {
                let _ = write!(
                    out,
                    "\n      <system-out>{}\n{}</system-out>\n    ",
                    xml(&what),
                    xml(&trace)
                );
            }
            let _ = writeln!(out, "</testcase>");
        }
        let _ = writeln!(out, "  </testsuite>");
    }
    let _ = writeln!(out, "</testsuites>");
    out
}

/// One line on a result.
pub fn describe(r: &CheckResult) -> String {
    let got = match (r.verdict, &r.property) {
        (Verdict::Violation, Some(p)) => format!("violation of {p}"),
        (v, _) => v.to_string(),
    };
    let mut s = format!(
        "{} × {} × {}: {got} after {} schedule(s)",
        r.design, r.scenario, r.checker, r.schedules
    );
    if !r.as_expected {
        let _ = write!(s, " — UNEXPECTED (expected {})", r.expected);
    }
    if let Some(m) = &r.message {
        let _ = write!(s, ": {m}");
    }
    s
}

/// The terminal table: one row per (scenario, design), one column per checker.
pub fn table(results: &[CheckResult], checkers: &[String]) -> String {
    let mut rows: BTreeMap<(usize, &str, &str), BTreeMap<&str, &CheckResult>> = BTreeMap::new();
    let order: Vec<&str> = {
        let mut v: Vec<&str> = vec![];
        for r in results {
            if !v.contains(&r.scenario.as_str()) {
                v.push(&r.scenario);
            }
        }
        v
    };
    for r in results {
        let i = order.iter().position(|s| *s == r.scenario).unwrap_or(0);
        rows.entry((i, &r.scenario, &r.design))
            .or_default()
            .insert(&r.checker, r);
    }
    let mut out = String::new();
    let _ = write!(out, "{:<32} {:<12}", "scenario", "design");
    for c in checkers {
        let _ = write!(out, " {:<36}", c);
    }
    let _ = writeln!(out);
    for ((_, scenario, design), cells) in &rows {
        let _ = write!(out, "{scenario:<32} {design:<12}");
        for c in checkers {
            let cell = match cells.get(c.as_str()) {
                None => "-".to_string(),
                Some(r) => {
                    let what = match (r.verdict, &r.property) {
                        (Verdict::Violation, Some(p)) => p.clone(),
                        (v, _) => v.to_string(),
                    };
                    let mark = if r.as_expected { "ok" } else { "!!" };
                    let secs = r.elapsed_ms as f64 / 1000.0;
                    format!("{mark} {what} {}/{secs:.1}s", r.schedules)
                }
            };
            let _ = write!(out, " {cell:<36}");
        }
        let _ = writeln!(out);
    }
    let s = summary(results);
    let _ = writeln!(
        out,
        "\n{} checks: {} as expected, {} unexpected  (ok = as expected, !! = unexpected; cells: outcome schedules/time)",
        s.total, s.as_expected, s.unexpected
    );
    out
}
