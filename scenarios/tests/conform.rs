//! The bounded conformance subset `cargo test` runs (`pausebeat conform` plays all of them):
//! each quick case is played on the world and on librdkafka's mock cluster and must agree; and
//! the comparison can fail: a case whose mock departure is not declared is reported `differ`.

#![cfg(feature = "rdkafka")]

use pausebeat_scenarios::conform::{cases, run_case, Verdict};
use std::sync::mpsc;
use std::time::Duration;

/// Runs `f` on a thread and fails the test if it does not finish within `limit` (librdkafka
/// calls can hang); a guard only, the cases end on their own events.
fn with_limit<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .expect("the conformance cases did not finish within their hard limit")
}

#[test]
fn the_quick_cases_agree_on_the_world_and_the_mock() {
    let results = with_limit(Duration::from_secs(600), || {
        cases()
            .iter()
            .filter(|c| c.quick)
            .map(run_case)
            .collect::<Vec<_>>()
    });
    assert!(results.len() >= 8, "{} quick cases", results.len());
    for r in &results {
        assert!(
            r.verdict.agrees(),
            "{r}\nworld:\n{}\nmock:\n{}",
            r.world_trace.join("\n"),
            r.mock_trace.join("\n")
        );
    }
}

#[test]
fn a_departure_not_declared_is_a_difference() {
    let mut all = cases();
    let i = all
        .iter()
        .position(|c| c.name == "a-static-id-taken-while-open-fences-the-old-handle")
        .expect("the fencing case");
    let mut case = all.swap_remove(i);
    assert!(case.departure.is_some());
    case.departure = None;
    let r = with_limit(Duration::from_secs(120), move || run_case(&case));
    assert_eq!(r.verdict, Verdict::Differ, "{r}");
    assert!(r.world.contains("Fenced"), "{r}");
}
