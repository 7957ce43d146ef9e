//! The Go ports under the checkers (shuttle's PCT scheduler and loom, through
//! `pausebeat::sync::explore`), on a timeline where Go's real costs matter: computation takes
//! zero time in the model.
//!
//! On the happy path with an instant handler, the run that took the heartbeat's resume signal can
//! reach its closing `pause()` before the heartbeat goroutine has cleared `paused` (its CAS runs
//! after the hand-off): `pause()` then finds `paused` still true and starts no heartbeat, and the
//! old heartbeat ends. Nobody polls while paused. In Go the run takes milliseconds at least
//! (polls, the destination load, the commit) while the heartbeat needs microseconds, so this is
//! unlikely there; the model reaches it because it charges nothing for computation. (With the PR
//! the same happens for real whenever `resume()` lands during the heartbeat's poll: §5(c)2.)

mod common;

use common::*;
use pausebeat::sync::explore::{explore, Checker, Outcome};
use pausebeat::sync::{Backend, Model, Virtual};
use pausebeat_go::{GoOriginal, Pr1313};
use pausebeat_world::{Design, EventKind};
use std::marker::PhantomData;
use std::sync::Arc;

/// Records at 0 and 200 s, runs at 0 and 320 s (the heartbeat waits in its select), an instant
/// handler, a close at 600 s.
fn instant_handler() -> Timeline {
    let mut t = Timeline::new(600);
    t.world = t.world.produce(s(0), 0, 10).produce(s(200), 0, 5);
    t.runs = vec![0, 320];
    t.after_close = s(0);
    t
}

/// Fails when no heartbeat polls between the end of the second run and the close (it would by
/// 320 + 150 s).
struct HeartbeatAfterResume<D: Design> {
    timeline: Arc<Timeline>,
    design: PhantomData<fn() -> D>,
}

impl<D: Design> Model for HeartbeatAfterResume<D> {
    type Failure = Vec<String>;

    fn execute<B: Backend>(&self, rt: &Virtual<B>) -> Result<(), Vec<String>> {
        let Some(p) = play_on::<D, B>(rt, &self.timeline) else {
            return Err(vec!["aborted".into()]);
        };
        let polled = p
            .first(|e| {
                e.thread == "heartbeat"
                    && e.kind == EventKind::PollBegin
                    && e.at.since_origin() > s(320)
            })
            .is_some();
        if polled {
            Ok(())
        } else {
            Err(p.log.iter().map(|e| e.to_string()).collect())
        }
    }
}

fn find_race<D: Design>(checker: Checker) -> (bool, usize) {
    let model = Arc::new(HeartbeatAfterResume::<D> {
        timeline: Arc::new(instant_handler()),
        design: PhantomData,
    });
    let report = explore(&checker, model);
    match report.outcome {
        Outcome::Violation { failure, schedule } => {
            println!(
                "{} found it after {} schedules ({schedule}):",
                D::NAME,
                report.schedules
            );
            for line in failure {
                println!("{line}");
            }
            (true, report.schedules)
        }
        Outcome::Pass { .. } => (false, report.schedules),
        Outcome::Error(e) => panic!("{} under {}: {e}", D::NAME, checker.name()),
    }
}

#[test]
fn zero_cost_resume_race_go_original_pct() {
    let (found, n) = find_race::<GoOriginal>(Checker::Pct {
        depth: 2,
        schedules: 500,
        seed: 7,
    });
    assert!(found, "not found in {n} schedules");
}

#[test]
fn zero_cost_resume_race_pr_1313_pct() {
    let (found, n) = find_race::<Pr1313>(Checker::Pct {
        depth: 2,
        schedules: 500,
        seed: 7,
    });
    assert!(found, "not found in {n} schedules");
}

#[test]
fn zero_cost_resume_race_go_original_loom() {
    let (found, n) = find_race::<GoOriginal>(Checker::Loom {
        preemptions: 2,
        max_executions: 5_000,
    });
    assert!(found, "not found in {n} executions");
}
