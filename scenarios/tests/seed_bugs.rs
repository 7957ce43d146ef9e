//! The seed's two bugs, found on demand: go-original's "Resume timeout" (§5(a)) and pr-1313's
//! suspend turning into restart churn (§5(b)), each by shuttle PCT within 1,000 schedules and by
//! loom, and each printed schedule replays to the same trace, twice.

use pausebeat::sync::explore::Checker;
use pausebeat_scenarios::catalogue;
use pausebeat_scenarios::properties::Property;
use pausebeat_scenarios::verify::{replay_check, run_check, Verdict};

fn found_and_replayed(design: &str, scenario: &str, property: Property) {
    let sc = catalogue::find(scenario).expect("scenario in the catalogue");
    let checkers = [
        Checker::Pct {
            depth: 3,
            schedules: 1000,
            seed: 1,
        },
        Checker::Loom {
            preemptions: 2,
            max_executions: 5000,
        },
    ];
    for checker in &checkers {
        let r = run_check(design, &sc, checker).expect("design in the catalogue");
        assert_eq!(
            r.verdict,
            Verdict::Violation,
            "{design} {scenario} {}: {r:?}",
            checker.name()
        );
        assert_eq!(r.property.as_deref(), Some(property.name()), "{r:?}");
        assert!(r.schedules <= 1000, "{} schedules", r.schedules);
        let schedule = r.replay.clone().expect("a replayable schedule");
        let trace = r.trace.clone().expect("a trace");
        assert!(trace.iter().any(|l| l.contains("VIOLATION")), "{trace:?}");
        for _ in 0..2 {
            let again = replay_check(design, scenario, &schedule).expect("the schedule replays");
            let f = again.failure.expect("the violation reproduces");
            assert_eq!(f.property, property);
            assert_eq!(f.trace, trace, "the replayed trace differs");
        }
    }
}

#[test]
fn go_original_resume_timeout_is_found_and_replays() {
    found_and_replayed(
        "go-original",
        "resume-during-outage",
        Property::ResumeBounded,
    );
}

#[test]
fn pr_1313_suspend_churn_is_found_and_replays() {
    found_and_replayed(
        "pr-1313",
        "suspend-while-heartbeat-polls",
        Property::SuspendFinal,
    );
}

#[test]
fn the_fixes_do_not_show_the_other_bug() {
    // pr-1313 fixed the Resume timeout of this timeline; go-original's rendezvous keeps the
    // suspend final.
    let pct = Checker::Pct {
        depth: 3,
        schedules: 300,
        seed: 2,
    };
    let r = run_check(
        "go-original",
        &catalogue::find("suspend-while-heartbeat-polls").unwrap(),
        &pct,
    )
    .unwrap();
    assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    let r = run_check(
        "pr-1313",
        &catalogue::find("resume-during-outage").unwrap(),
        &pct,
    )
    .unwrap();
    assert_ne!(r.property.as_deref(), Some("resume-bounded"), "{r:?}");
}
