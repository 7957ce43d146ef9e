//! The verifier proves its own sensitivity: every planted bug of `pausebeat::mutants` (a small,
//! realistic bug in the vetted consumer, switched on by `PAUSEBEAT_MUTANT`) must make
//! `pausebeat verify --design vetted` fail. A mutant that survives names a missing scenario or
//! property; this test fails then, and prints the kill rate either way.
//!
//! Each mutant is first checked against the catalogue scenario that killed it last
//! ([`KILLERS`]); only if that no longer kills it does the whole catalogue run (and the test
//! says the hint is stale). So the sweep takes minutes, not a quarter of an hour, and still
//! proves that the catalogue catches every mutant.
//!
//! It is not part of the README's test command: CI runs it as its own step,
//! `cargo test --release -p pausebeat-scenarios --test mutants -- --ignored`. With
//! `PAUSEBEAT_MUTANTS_JSON=FILE` it writes what killed each mutant there, a relative FILE
//! under the workspace's root (`python3 docs/tables.py mutants FILE` renders it into `docs/verification.md`).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// The scenario that killed each mutant last (tried first).
const KILLERS: &[(&str, &str)] = &[
    ("resume-waits", "rebalance-under-slow-batch"),
    ("hook-keeps-stale-pause", "rebalance-while-paused"),
    ("restart-creates-first", "restart-with-static-id"),
    ("restart-keeps-old-handle", "restart-with-static-id"),
    ("suspend-keeps-handle", "closing-pause-meets-a-run"),
    ("commit-before-handler", "happy-path"),
    ("failed-batch-committed", "handler-fails"),
    ("failed-batch-not-rewound", "handler-fails"),
    ("rare-maintenance", "happy-path"),
    ("close-does-not-wait", "close-while-paused"),
    ("close-abandons-slow-close", "slow-final-close"),
    ("close-leaves-handle-open", "close-while-paused"),
    ("one-command-per-step", "close-behind-a-run"),
    ("queued-run-lost", "run-right-after-a-suspend"),
    ("pending-dropped-on-pause", "record-slips-after-pause"),
    ("rewind-one-too-far", "record-slips-after-pause"),
    ("slipped-record-dropped", "record-slips-after-pause"),
    ("pause-acks-busy", "meet-pause-resume"),
    ("no-resume-after-restart", "meet-run-resume-restarting"),
    ("restart-while-suspended", "fenced-under-a-slow-batch"),
    ("no-commit-retry", "commit-hiccup-before-close"),
    ("commit-after-revoke", "rebalance-under-slow-batch"),
    ("pending-kept-across-revoke", "revoked-while-held"),
    (
        "run-ends-on-an-earlier-batch",
        "run-while-a-resumed-batch-fails",
    ),
    ("close-counts-client-calls", "close-during-a-slow-create"),
    ("drain-drops-overflow", "mid-batch-pause-race"),
];

/// Runs `verify --design vetted --fail-fast` with the mutant on (on one scenario, or all);
/// returns what killed it.
fn killed_by(name: &str, scenario: Option<&str>, json: &Path) -> Option<String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pausebeat"));
    cmd.args(["verify", "--design", "vetted", "--fail-fast", "--json"])
        .arg(json)
        .env("PAUSEBEAT_MUTANT", name);
    if let Some(s) = scenario {
        cmd.args(["--scenario", s]);
    }
    let out = cmd.output().expect("pausebeat runs");
    if out.status.code() != Some(1) {
        return None;
    }
    std::fs::read_to_string(json)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| {
            v["results"].as_array()?.iter().find_map(|r| {
                (r["as_expected"] == false).then(|| {
                    format!(
                        "{} × {}: {} {}",
                        r["scenario"].as_str().unwrap_or("?"),
                        r["checker"].as_str().unwrap_or("?"),
                        r["verdict"].as_str().unwrap_or("?"),
                        r["property"].as_str().unwrap_or("")
                    )
                })
            })
        })
}

#[test]
#[ignore = "minutes: CI runs it as its own step (--ignored)"]
fn verify_kills_every_mutant_of_the_vetted_consumer() {
    let dir = std::env::temp_dir().join(format!("pausebeat-mutants-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let mut survivors = vec![];
    let mut stale = vec![];
    let mut report = vec![];
    let started = Instant::now();
    for (name, bug) in pausebeat::mutants::ALL {
        let json = dir.join(format!("{name}.json"));
        let t = Instant::now();
        let hint = KILLERS.iter().find(|(m, _)| m == name).map(|(_, s)| *s);
        let mut by = hint.and_then(|s| killed_by(name, Some(s), &json));
        if by.is_none() {
            if let Some(s) = hint {
                stale.push(format!("{name}: {s}"));
            }
            by = killed_by(name, None, &json);
        }
        match by {
            Some(by) => {
                println!(
                    "killed   {name:<32} in {:>5.1}s by {by}",
                    t.elapsed().as_secs_f64()
                );
                report.push(serde_json::json!({"mutant": name, "bug": bug, "killed_by": by}));
            }
            None => {
                println!("SURVIVED {name:<32} ({bug})");
                survivors.push(*name);
                report.push(serde_json::json!({"mutant": name, "bug": bug, "killed_by": null}));
            }
        }
    }
    let total = pausebeat::mutants::ALL.len();
    println!(
        "kill rate: {}/{total} in {:.0}s",
        total - survivors.len(),
        started.elapsed().as_secs_f64()
    );
    if !stale.is_empty() {
        println!("stale hints (the whole catalogue was needed): {stale:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    if let Ok(path) = std::env::var("PAUSEBEAT_MUTANTS_JSON") {
        // Cargo runs a test in its crate's directory: a relative path is the workspace's.
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("the mutants report's directory");
        }
        let doc = serde_json::json!({ "mutants": report });
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&doc).unwrap_or_default(),
        )
        .expect("the mutants report is writable");
    }
    assert!(
        survivors.is_empty(),
        "mutants that survived verify: {survivors:?}"
    );
}

#[test]
fn every_mutant_has_a_killer_hint_naming_a_catalogue_scenario() {
    let names: Vec<String> = pausebeat_scenarios::catalogue::all()
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    for (m, _) in pausebeat::mutants::ALL {
        let hint = KILLERS.iter().find(|(k, _)| k == m);
        let Some((_, s)) = hint else {
            panic!("mutant {m} has no killer hint in KILLERS");
        };
        assert!(names.iter().any(|n| n == s), "{m}: no scenario {s}");
    }
}
