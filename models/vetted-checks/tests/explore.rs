//! The vetted consumer's schedules explored under loom (DPOR, preemption bound 2) and shuttle
//! (PCT depth 3, random), on small stories against the modeled Kafka world, judged on every
//! property. Budgets are small so the suite stays fast; `VETTED_BUDGET` scales them.
//!
//! Threads per execution: main (the application) + `vetted-owner` + `vetted-handler` = 3, within
//! loom's 5.

mod common;

use common::{secs, Explore, Story};
use pausebeat::kafka::{ErrorClass, ErrorCode};
use pausebeat::sync::explore::{explore, Checker, Outcome};
use pausebeat_world::Fault;
use std::sync::Arc;

fn budget(default: usize) -> usize {
    std::env::var("VETTED_BUDGET")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(default, |k| default.saturating_mul(k.max(1)))
}

/// Explores `story` with loom, PCT and random; panics on the first violation (with the
/// schedule that reproduces it and the trace).
fn explore_all(name: &str, story: Story, loom_executions: usize, shuttle_schedules: usize) {
    let model = Arc::new(Explore(story));
    let checkers = [
        Checker::Loom {
            preemptions: 2,
            max_executions: budget(loom_executions),
        },
        Checker::Pct {
            depth: 3,
            schedules: budget(shuttle_schedules),
            seed: 1,
        },
        Checker::Random {
            schedules: budget(shuttle_schedules),
            seed: 1,
        },
    ];
    for c in &checkers {
        let report = explore(c, model.clone());
        eprintln!("{name} / {}: {report}", c.name());
        match report.outcome {
            Outcome::Pass { .. } => {}
            Outcome::Violation { failure, schedule } => {
                panic!(
                    "{name} / {}: violation (replay {schedule}):\n{failure}",
                    c.name()
                )
            }
            Outcome::Error(e) => panic!("{name} / {}: error: {e}", c.name()),
        }
        assert!(report.schedules > 0);
    }
}

#[test]
fn explore_happy_path() {
    let story = Story::new(1)
        .records(0, 0, 3)
        .records(100, 0, 1)
        .runs(&[0, 300])
        .timing(|t| t.batch_size = 2);
    explore_all("happy", story, 300, 200);
}

#[test]
fn explore_restart_through_an_outage() {
    let story = Story::new(1)
        .records(0, 0, 2)
        .records(60, 0, 1)
        .fault(Fault::PollErrors {
            from: secs(40),
            until: secs(50),
            class: ErrorClass::NonRetriable,
            code: ErrorCode::UnknownMember,
        })
        .fault(Fault::CreateFails {
            from: secs(40),
            until: secs(120),
        })
        .fault(Fault::BrokerDown {
            from: secs(50),
            until: secs(150),
        })
        .runs(&[0, 100, 300]);
    explore_all("restart-outage", story, 300, 200);
}

#[test]
fn explore_suspend() {
    let story = Story::new(1)
        .records(0, 0, 2)
        .records(100, 0, 1)
        .runs(&[0, 300])
        .timing(|t| t.suspend = true);
    explore_all("suspend", story, 300, 200);
}

#[test]
fn explore_member_joins_while_paused() {
    let story = Story::new(2)
        .records(0, 0, 1)
        .records(0, 1, 1)
        .records(120, 1, 1)
        .member(100, Some(200))
        .runs(&[0, 150, 300]);
    explore_all("member-joins", story, 300, 200);
}

#[test]
fn explore_close_during_a_slow_batch() {
    let story = Story::new(1)
        .records(0, 0, 4)
        .timing(|t| t.batch_size = 2)
        .handler_takes(secs(3))
        .runs(&[0])
        .close_at(1);
    explore_all("close-mid-batch", story, 300, 200);
}

/// The explorations are not vacuous: under every checker an execution plays the whole story
/// (a model that insists on an impossible outcome is caught at its first schedule).
#[test]
fn explorations_play_the_whole_story() {
    struct Insist(Story);
    impl pausebeat::sync::Model for Insist {
        type Failure = String;
        fn execute<B: pausebeat::sync::Backend>(
            &self,
            rt: &pausebeat::sync::Virtual<B>,
        ) -> Result<(), String> {
            let x = common::play(rt, &self.0);
            let handled =
                x.count(|k| matches!(k, pausebeat_world::EventKind::HandlerEnd { ok: true }));
            let violations = common::judge(&self.0, &x);
            Err(format!(
                "{handled} batches, {} events, {} threads, violations {violations:?}",
                x.events.len(),
                x.threads_created
            ))
        }
    }
    let story = Story::new(1)
        .records(0, 0, 3)
        .runs(&[0, 300])
        .timing(|t| t.batch_size = 2);
    let model = Arc::new(Insist(story));
    for c in [
        Checker::Loom {
            preemptions: 2,
            max_executions: 10,
        },
        Checker::Pct {
            depth: 3,
            schedules: 10,
            seed: 1,
        },
        Checker::Random {
            schedules: 10,
            seed: 1,
        },
    ] {
        match explore(&c, model.clone()).outcome {
            Outcome::Violation { failure, .. } => {
                eprintln!("{}: {failure}", c.name());
                assert!(failure.starts_with("2 batches"), "{failure}");
                assert!(failure.ends_with("3 threads, violations []"), "{failure}");
            }
            other => panic!("{}: {other:?}", c.name()),
        }
    }
}

/// Direct calls racing the owner: resume while records arrive, pause at the instant a batch
/// ends (1 s handler: ties between the verdict, the next hand-off and the pause command),
/// resume again at a maintenance deadline, a run, a suspend at once, and a run after it.
fn direct_story() -> Story {
    use common::Step::*;
    let mut s = Story::new(2)
        .records(0, 0, 2)
        .records(1, 1, 2)
        .records(2, 0, 1)
        .records(12, 1, 1)
        .records(35, 0, 1)
        .timing(|t| t.batch_size = 2);
    s.steps = vec![
        Resume(0),
        Pause(1),
        Resume(12),
        Pause(13),
        RunOnce(20),
        Suspend(20),
        RunOnce(40),
        // The suspended static member keeps p0 until its session runs out (71 s).
        RunOnce(120),
    ];
    s
}

#[test]
fn explore_direct_calls_racing_the_owner() {
    explore_all("direct-calls", direct_story(), 300, 200);
}
