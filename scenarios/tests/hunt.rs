//! `pausebeat hunt`: it rediscovers the seed's bugs from nothing, shrinks them to scenarios that
//! still violate the same property, is deterministic for a seed, keeps a corpus it re-checks,
//! and its CLI keeps the contract (JSON in the shape of `verify`'s, exit codes, replay).

use pausebeat_scenarios::designs::Registry;
use pausebeat_scenarios::hunt::{Hunt, Origin, Stop};
use pausebeat_scenarios::properties::Property;
use pausebeat_scenarios::verify::{Budget, Verdict};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pausebeat-hunt-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A hunt bounded by scenarios, not time: the same result on a busy machine (the time limit is
/// only a guard).
fn bounded(design: &dyn pausebeat_scenarios::designs::Registered) -> Hunt<'_> {
    Hunt::new(design)
        .limit(Duration::from_secs(1800))
        .scenarios(3000)
        .schedules(50)
}

#[test]
fn rediscovers_the_reviewers_finding_and_shrinks_it() {
    let registry = Registry::builtin();
    let design = registry.get("pr-1313").unwrap();
    let corpus = tmp("pr");
    let hunt = bounded(design)
        .seed(1)
        .until(Some(Property::SuspendFinal))
        .corpus(Some(corpus.clone()));
    let report = hunt.run(&mut |_| {});
    assert_eq!(report.stopped, Stop::Found, "{report:#?}");
    let f = report.findings.last().unwrap();
    assert_eq!(f.origin, Origin::Hunt);
    assert_eq!(f.result.property.as_deref(), Some("suspend-final"));
    assert!(f.result.as_expected, "a known bug of pr-1313");
    assert!(f.size <= f.found_size);
    assert!(f.code.contains(".suspending()"), "{}", f.code);
    assert!(f.result.replay.is_some());
    // The shrunk scenario still violates it under the ordinary verifier.
    let sc = f.sketch.scenario("shrunk", "");
    let checker = Budget {
        schedules: 200,
        ..Budget::default()
    }
    .checker("pct")
    .unwrap();
    let r = design.check(&sc, &checker);
    assert_eq!(r.verdict, Verdict::Violation, "{r:?}");
    // The replay reproduces it.
    let replayed = registry
        .replay_scenario("pr-1313", &sc, f.result.replay.as_deref().unwrap())
        .unwrap();
    assert!(replayed.failure.is_some());
    // The next hunt re-checks the corpus first.
    let again = bounded(design)
        .seed(99)
        .scenarios(0)
        .corpus(Some(corpus.clone()))
        .run(&mut |_| {});
    assert_eq!(again.findings.len(), 1, "{again:#?}");
    assert_eq!(again.findings[0].origin, Origin::Corpus);
    assert_eq!(again.findings[0].result.verdict, Verdict::Violation);
    let _ = std::fs::remove_dir_all(&corpus);
}

#[test]
fn rediscovers_the_resume_timeout() {
    let registry = Registry::builtin();
    let design = registry.get("go-original").unwrap();
    let report = bounded(design)
        .seed(2)
        .until(Some(Property::ResumeBounded))
        .matching(Some("failed".into()))
        .run(&mut |_| {});
    assert_eq!(report.stopped, Stop::Found, "{report:#?}");
    let f = report.findings.last().unwrap();
    assert!(f.result.message.as_deref().unwrap().contains("failed"));
    assert!(f.result.as_expected);
}

#[test]
fn deterministic_for_a_seed() {
    let registry = Registry::builtin();
    let design = registry.get("go-original").unwrap();
    let run = || {
        Hunt::new(design)
            .seed(5)
            .scenarios(40)
            .schedules(20)
            .keep_going(true)
            .limit(Duration::from_secs(1800))
            .run(&mut |_| {})
    };
    let (a, b) = (run(), run());
    assert_eq!(a.scenarios, 40);
    assert!(!a.findings.is_empty(), "go-original's bugs are found");
    let key = |r: &pausebeat_scenarios::hunt::Report| {
        r.findings
            .iter()
            .map(|f| {
                (
                    f.result.property.clone(),
                    f.sketch.clone(),
                    f.result.replay.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(key(&a), key(&b));
    assert_eq!(a.schedules, b.schedules);
    // Every signature is reported once, and a property can have several (two races under
    // one property are two findings).
    let mut sigs: Vec<_> = a.findings.iter().map(|f| f.signature.clone()).collect();
    sigs.sort();
    sigs.dedup();
    assert_eq!(sigs.len(), a.findings.len(), "{sigs:#?}");
    let mut props: Vec<_> = a
        .findings
        .iter()
        .map(|f| f.result.property.clone())
        .collect();
    props.sort();
    props.dedup();
    assert!(
        props.len() < a.findings.len(),
        "some property is broken in two ways: {sigs:#?}"
    );
}

fn pausebeat(args: &[&str], mutant: Option<&str>) -> (i32, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pausebeat"));
    c.args(args);
    if let Some(m) = mutant {
        c.env("PAUSEBEAT_MUTANT", m);
    }
    let out = c.output().expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn cli_reports_in_verifys_shape_and_replays_from_the_corpus() {
    let dir = tmp("cli");
    let json = dir.join("h.json");
    let junit = dir.join("h.xml");
    let corpus = dir.join("corpus");
    let (code, out) = pausebeat(
        &[
            "hunt",
            "--design",
            "pr-1313",
            "--seed",
            "1",
            "--until",
            "suspend-final",
            "--scenarios",
            "3000",
            "--minutes",
            "30",
            "--schedules",
            "50",
            "--corpus",
            corpus.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "an expected violation: {out}");
    assert!(out.contains("Scenario::new("), "{out}");
    assert!(
        out.contains("replay --design pr-1313 --scenario-file"),
        "{out}"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let r = &doc["results"][0];
    for field in [
        "design",
        "property",
        "schedules",
        "replay",
        "sketch",
        "code",
        "elapsed_ms",
    ] {
        assert!(!r[field].is_null(), "{field} in {r}");
    }
    assert_eq!(r["property"], "suspend-final");
    assert_eq!(doc["summary"]["unexpected"], 0);
    assert_eq!(doc["hunt"]["stopped"], "found");
    assert!(std::fs::read_to_string(&junit)
        .unwrap()
        .contains("<testsuites"));
    // Replay from the corpus file the hunt wrote.
    let file = r["corpus_file"].as_str().unwrap();
    let schedule = r["replay"].as_str().unwrap();
    let (code, out) = pausebeat(
        &[
            "replay",
            "--design",
            "pr-1313",
            "--scenario-file",
            file,
            "--schedule",
            schedule,
        ],
        None,
    );
    assert_eq!(code, 1, "the violation reproduces: {out}");
    assert!(out.contains("suspend-final"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cli_exits_1_on_a_violation_nobody_expected() {
    // A planted bug in the vetted consumer: resume() waits for the owner.
    let (code, out) = pausebeat(
        &[
            "hunt",
            "--design",
            "vetted",
            "--seed",
            "1",
            "--scenarios",
            "3000",
            "--minutes",
            "30",
            "--schedules",
            "50",
            "--no-corpus",
        ],
        Some("resume-waits"),
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("UNEXPECTED"), "{out}");
    assert!(out.contains("stopped: Violation"), "{out}");
}

#[test]
fn cli_refuses_bad_input() {
    let (code, _) = pausebeat(&["hunt", "--design", "nope"], None);
    assert_eq!(code, 2);
    let (code, _) = pausebeat(&["hunt", "--design", "vetted", "--until", "nope"], None);
    assert_eq!(code, 2);
    let (code, _) = pausebeat(&["hunt", "--design", "vetted", "--minutes", "-1"], None);
    assert_eq!(code, 2);
}
