//! The vetted consumer on stories of its own, told and judged by the one harness (the
//! catalogue's scenario language, `harness`, every property): one plain execution on virtual
//! time each (`replay --schedule std`), then what the story is about, from the execution's
//! event log and the world at its end. The last tests explore small stories under loom, PCT and
//! random.

use pausebeat::kafka::{ErrorClass, ErrorCode};
use pausebeat::probe::DesignEvent;
use pausebeat::sync::explore::{explore, Checker, Outcome};
use pausebeat_scenarios::harness::{Executed, ScenarioModel};
use pausebeat_scenarios::scenario::{secs, Op, Scenario};
use pausebeat_scenarios::verify::{check_design, replay_design, Verdict};
use pausebeat_scenarios::vetted::Vetted;
use pausebeat_world::{EventKind, Fault, PollOutcome};
use std::sync::{Arc, Mutex};

/// One plain execution of `s` against the vetted design; panics with the trace on a violation.
fn check(s: &Scenario) -> Executed {
    let r = replay_design::<Vetted>(s, "std").expect("a plain execution");
    if let Some(f) = &r.failure {
        panic!("{}: {f}\n{}", s.name, r.executed.trace.join("\n"));
    }
    assert!(r.executed.abort.is_none(), "{:?}", r.executed.abort);
    r.executed
}

/// Every produced record committed at the end.
fn all_committed(x: &Executed) -> bool {
    let w = x.world.as_ref().expect("the world at the end");
    w.committed == w.produced
}

#[test]
fn happy_path_handles_and_commits_everything_once() {
    let s = Scenario::new("v-happy", "two partitions, three runs")
        .partitions(2)
        .records(0, 20)
        .records(1, 20)
        .records_at(200, 1, 5)
        .timing(|t| t.batch_size = 8)
        .run_at(0)
        .run_at(300)
        .run_at(600);
    let x = check(&s);
    assert!(all_committed(&x));
    assert!(x.handed_twice().is_empty(), "{:?}", x.handed_twice());
    assert_eq!(x.created_ids(), vec![Some("a1-bulker-0".to_string())]);
    assert_eq!(x.threads_created, 3, "main + owner + handler");
}

#[test]
fn resume_takes_no_time_while_the_owner_restarts_through_an_outage() {
    // The member is lost at 90 s (UnknownMember) while paused; creating its replacement fails
    // until 700 s, and the broker is down from 100 s to 800 s. Runs at 300 s and 600 s happen
    // in the middle of that: their (implied) resume() must return at once.
    let s = Scenario::new("v-restart-outage", "a restart through an outage")
        .records(0, 5)
        .records_at(200, 0, 5)
        .fault(Fault::PollErrors {
            from: secs(90),
            until: secs(100),
            class: ErrorClass::NonRetriable,
            code: ErrorCode::UnknownMember,
        })
        .fault(Fault::CreateFails {
            from: secs(90),
            until: secs(700),
        })
        .fault(Fault::BrokerDown {
            from: secs(100),
            until: secs(800),
        })
        .run_at(0)
        .run_at(300)
        .run_at(600)
        .run_at(900);
    let x = check(&s);
    let resumes = x
        .design_events()
        .filter(|(_, d)| matches!(d, DesignEvent::ResumeCalled))
        .count();
    assert_eq!(resumes, 4, "every run resumes");
    let failed = x.count(|k| matches!(k, EventKind::CreateFailed { .. }));
    assert!(failed >= 10, "the owner kept retrying the create: {failed}");
    assert!(failed <= 40, "with a backoff: {failed}");
    assert_eq!(
        x.created_ids(),
        vec![Some("a1-bulker-0".into()), Some("a1-bulker-0".into())],
        "one restart, under the same id (the old handle closed first)"
    );
    assert!(all_committed(&x));
}

#[test]
fn suspend_closes_and_nothing_is_created_until_the_next_run() {
    let s = Scenario::new("v-suspend", "suspending, three runs")
        .partitions(2)
        .records(0, 3)
        .records_at(100, 1, 3)
        .records_at(400, 0, 3)
        .suspending()
        .run_at(0)
        .run_at(300)
        .run_at(600);
    let x = check(&s);
    let created: Vec<_> = x
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Created { .. }))
        .map(|e| e.at.since_origin())
        .collect();
    assert_eq!(
        created,
        vec![secs(0), secs(300), secs(600)],
        "opened by each run only"
    );
    assert_eq!(
        x.count(|k| matches!(k, EventKind::CloseEnd)),
        3,
        "each closed once"
    );
    // Each run suspends once, itself, as it ends (the adapter's `run_then(SuspendIfOverBy)`:
    // no separate suspend() call after the run).
    assert_eq!(
        x.count(|k| matches!(k, EventKind::Design(DesignEvent::SuspendReturned))),
        3
    );
    // Reopened long after the last close (300 s > session timeout): the id is reused safely.
    assert!(x
        .created_ids()
        .iter()
        .all(|id| id.as_deref() == Some("a1-bulker-0")));
    assert!(all_committed(&x));
}

#[test]
fn a_quick_reopen_after_suspend_uses_a_fresh_id() {
    // Runs 30 s apart: the closed static member still holds its id when the next run reopens
    // (session timeout 45 s), and keeps its partition until its session runs out (static
    // members send no LeaveGroup): the run waits for it.
    let s = Scenario::new("v-quick-reopen", "suspending, runs at 0, 30, 200 s")
        .records(0, 2)
        .records_at(20, 0, 2)
        .records_at(100, 0, 2)
        .suspending()
        .timing(|t| t.batch_period = secs(120))
        .run_at(0)
        .run_at(30)
        .run_at(200);
    let x = check(&s);
    assert_eq!(
        x.created_ids(),
        vec![
            Some("a1-bulker-0".into()),
            Some("a1-bulker-0".into()),
            Some("a1-bulker-0".into())
        ],
        "the same id within the session (taking the closed member's place) and after it"
    );
    assert!(all_committed(&x));
}

#[test]
fn a_restart_never_fences_itself() {
    // Membership lost (max.poll exceeded, then a fatal fencing error from outside) on every
    // poll for 20 s each time: every consumer created in those windows fails at once and is
    // replaced, with a backoff, each under the same id (taking the closed one's place); none
    // of them is fenced.
    let s = Scenario::new("v-restarts", "membership lost twice for 20 s")
        .partitions(2)
        .records(0, 4)
        .records(1, 4)
        .fault(Fault::PollErrors {
            from: secs(50),
            until: secs(70),
            class: ErrorClass::NonRetriable,
            code: ErrorCode::MaxPollExceeded,
        })
        .fault(Fault::PollErrors {
            from: secs(150),
            until: secs(170),
            class: ErrorClass::Fatal,
            code: ErrorCode::Fenced,
        })
        .records_at(200, 1, 4)
        .run_at(0)
        .run_at(300);
    let x = check(&s);
    let ids = x.created_ids();
    assert_eq!(
        x.count(|k| matches!(k, EventKind::Fenced { .. })),
        0,
        "every replacement takes the place of a closed handle: nobody fenced"
    );
    assert!(
        ids.iter().all(|id| id.as_deref() == Some("a1-bulker-0")),
        "always the configured id: {ids:?}"
    );
    // Per 20 s window: at once, then after 1, 2, 4, 8 s (a doubling backoff, not a loop).
    assert!(
        ids.len() >= 6 && ids.len() <= 14,
        "restarts with a backoff: {ids:?}"
    );
    assert_eq!(ids[0].as_deref(), Some("a1-bulker-0"));
    assert!(all_committed(&x));
}

#[test]
fn a_member_joining_while_paused_leaves_no_partition_paused_after_resume() {
    let s = Scenario::new("v-members", "two members come and go")
        .partitions(3)
        .records(0, 3)
        .records(1, 3)
        .records(2, 3)
        .records_at(150, 1, 3)
        .member(100, Some(400))
        .member(500, Some(550))
        .run_at(0)
        .run_at(300)
        .run_at(450)
        .run_at(600)
        .run_at(900);
    let x = check(&s);
    assert!(x.count(|k| matches!(k, EventKind::Revoked(_))) >= 4);
    assert!(all_committed(&x));
}

#[test]
fn pause_keeps_the_membership_over_many_max_poll_intervals() {
    let s = Scenario::new("v-long-pause", "paused for ten max.poll intervals")
        .records(0, 2)
        .records_at(1000, 0, 2)
        .run_at(0)
        .run_at(3000);
    let x = check(&s);
    let polls: Vec<_> = x
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::PollBegin))
        .map(|e| e.at)
        .collect();
    let gap = polls
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    assert!(gap <= secs(10), "longest gap between polls {gap:?}");
    assert_eq!(x.count(|k| matches!(k, EventKind::Expired(_))), 0);
    assert!(all_committed(&x));
}

#[test]
fn close_returns_within_its_bound_wherever_it_lands() {
    for close_at in [301, 303, 305, 310] {
        let s = Scenario::new("v-close", "close during the second run")
            .records(0, 30)
            .records_at(300, 0, 30)
            .timing(|t| t.batch_size = 4)
            .run_at(0)
            .run_at(300)
            .close_at(close_at)
            .records_may_remain();
        let x = check(&s);
        let (called, returned) = x.call_times(Op::Close).expect("close was called");
        let took = returned - called;
        assert!(took <= secs(5), "close at {close_at}s took {took:?}");
    }
}

#[test]
fn a_slow_destination_does_not_lose_the_membership() {
    // Each batch takes 200 s, two thirds of max.poll: the owner polls while the handler works.
    let s = Scenario::new("v-slow-destination", "200 s batches")
        .records(0, 6)
        .timing(|t| t.batch_size = 2)
        .handler_takes(secs(200))
        .run_at(0)
        .run_at(1000);
    let x = check(&s);
    assert_eq!(x.count(|k| matches!(k, EventKind::Expired(_))), 0);
    assert!(all_committed(&x));
    assert!(x.handed_twice().is_empty());
}

#[test]
fn failed_batches_are_read_again_later() {
    let s = Scenario::new("v-handler-fails", "the handler fails until 350 s")
        .partitions(2)
        .records(0, 5)
        .records(1, 5)
        .timing(|t| t.batch_size = 3)
        .handler_fails(0, 350)
        .run_at(0)
        .run_at(300)
        .run_at(600);
    let x = check(&s);
    assert!(x.count(|k| matches!(k, EventKind::HandlerEnd { ok: false })) >= 2);
    assert!(all_committed(&x));
}

#[test]
fn the_retry_variant_and_an_outage_during_a_run() {
    // The broker goes down in the middle of the second run; the run ends, the consumer stays
    // (transient: no restart); the third run catches up.
    let s = Scenario::new("v-retry-outage", "retry variant, an outage mid-run")
        .records(0, 4)
        .records_at(300, 0, 40)
        .fault(Fault::BrokerDown {
            from: secs(305),
            until: secs(400),
        })
        .retry_variant()
        .timing(|t| t.batch_size = 5)
        .run_at(0)
        .run_at(300)
        .run_at(600);
    let x = check(&s);
    assert_eq!(x.created_ids().len(), 1, "no restart for an outage");
    assert!(x.count(|k| matches!(k, EventKind::PollEnd(PollOutcome::Error(_)))) > 0);
    assert!(all_committed(&x));
}

#[test]
fn slow_close_and_slow_create_stay_bounded() {
    let s = Scenario::new("v-slow-client", "slow close, create and commit; suspending")
        .records(0, 3)
        .records_at(100, 0, 3)
        .fault(Fault::SlowClose(secs(2)))
        .fault(Fault::SlowCreate(secs(3)))
        .fault(Fault::SlowCommit(secs(2)))
        .suspending()
        .run_at(0)
        .run_at(300)
        .run_at(600);
    let x = check(&s);
    assert!(all_committed(&x));
}

/// Direct calls racing the owner: resume while records arrive, pause at the instant a batch
/// ends (1 s handler: ties between the verdict, the next hand-off and the pause command),
/// resume again at a maintenance deadline, a run, a suspend at once, and a run after it.
fn direct_calls() -> Scenario {
    Scenario::new(
        "v-direct",
        "resume, pause, runs and a suspend called directly",
    )
    .partitions(2)
    .records(0, 2)
    .records_at(1, 1, 2)
    .records_at(2, 0, 1)
    .records_at(12, 1, 1)
    .records_at(35, 0, 1)
    .timing(|t| t.batch_size = 2)
    .resume_at(0)
    .pause_at(1)
    .resume_at(12)
    .pause_at(13)
    .run_at(20)
    .suspend_at(20)
    .run_at(40)
    // The suspended static member keeps p0 until its session runs out (71 s).
    .run_at(120)
}

#[test]
fn direct_calls_keep_every_property() {
    let x = check(&direct_calls());
    // pause() at 1 s waited for the batch in the handler (0 s .. 1 s), no longer.
    let pause_returned = x.call_times(Op::Pause).map(|(_, r)| r.since_origin());
    assert!(pause_returned <= Some(secs(2)), "{pause_returned:?}");
    assert!(all_committed(&x));
}

#[test]
fn every_resume_of_the_partitions_wakes_their_leaders() {
    // librdkafka fetches a resumed partition at its leader's next wake-up (up to a second): the
    // owner asks for one at once, through the seam, right after each resume it applies.
    let s = Scenario::new("v-wake", "two partitions, two runs")
        .partitions(2)
        .records(0, 2)
        .records_at(100, 1, 2)
        .run_at(0)
        .run_at(300);
    let x = check(&s);
    // The resumes the owner applies (not the rebalance hook's, inside a poll).
    let resumes: Vec<usize> = x
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Resume { .. }))
        .filter(|e| {
            !x.events[..e.seq]
                .iter()
                .rev()
                .take_while(|p| !matches!(p.kind, EventKind::PollEnd(_)))
                .any(|p| matches!(p.kind, EventKind::PollBegin))
        })
        .map(|e| e.seq)
        .collect();
    assert!(!resumes.is_empty());
    for r in resumes {
        let next = &x.events[r + 1];
        assert!(
            matches!(&next.kind, EventKind::Wake { .. }) && next.handle == x.events[r].handle,
            "no wake-up right after the resume at {}",
            x.events[r].at
        );
    }
}

// ----- explored ------------------------------------------------------------------------------

/// Explores `s` with loom (bound 2), PCT and random; panics on anything but a pass.
fn explore_all(s: &Scenario, loom_executions: usize, shuttle_schedules: usize) {
    for c in [
        Checker::Loom {
            preemptions: 2,
            max_executions: loom_executions,
        },
        Checker::Pct {
            depth: 3,
            schedules: shuttle_schedules,
            seed: 1,
        },
        Checker::Random {
            schedules: shuttle_schedules,
            seed: 1,
        },
    ] {
        let r = check_design::<Vetted>(s, &c);
        assert_eq!(
            r.verdict,
            Verdict::Pass,
            "{} / {}: {r:#?}",
            s.name,
            c.name()
        );
        assert!(r.schedules > 0);
    }
}

#[test]
fn explore_small_stories() {
    let happy = Scenario::new("x-happy", "two runs")
        .records(0, 3)
        .records_at(100, 0, 1)
        .timing(|t| t.batch_size = 2)
        .run_at(0)
        .run_at(300);
    let restart = Scenario::new("x-restart-outage", "a restart through an outage")
        .records(0, 2)
        .records_at(60, 0, 1)
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
        .run_at(0)
        .run_at(100)
        .run_at(300);
    let suspend = Scenario::new("x-suspend", "suspending, two runs")
        .records(0, 2)
        .records_at(100, 0, 1)
        .suspending()
        .run_at(0)
        .run_at(300);
    let member = Scenario::new("x-member", "a member joins while paused")
        .partitions(2)
        .records(0, 1)
        .records(1, 1)
        .records_at(120, 1, 1)
        .member(100, Some(200))
        .run_at(0)
        .run_at(150)
        .run_at(300);
    let close = Scenario::new("x-close-mid-batch", "close during a slow batch")
        .records(0, 4)
        .timing(|t| t.batch_size = 2)
        .handler_takes(secs(3))
        .run_at(0)
        .close_at(1)
        .records_may_remain();
    for s in [happy, restart, suspend, member, close, direct_calls()] {
        explore_all(&s, 300, 200);
    }
}

/// The explorations are not vacuous: under every checker, the last execution played the whole
/// story (both batches handled, the design's two threads started, every property held).
#[test]
fn explorations_play_the_whole_story() {
    let s = Arc::new(
        Scenario::new("x-whole", "two runs")
            .records(0, 3)
            .timing(|t| t.batch_size = 2)
            .run_at(0)
            .run_at(300),
    );
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
        let slot = Arc::new(Mutex::new(Executed::default()));
        let model = Arc::new(ScenarioModel::<Vetted>::new(s.clone()).keeping_last(slot.clone()));
        let report = explore(&c, model);
        assert!(
            matches!(report.outcome, Outcome::Pass { .. }),
            "{}: {:?}",
            c.name(),
            report.outcome
        );
        let x = slot.lock().unwrap().clone();
        assert_eq!(
            x.count(|k| matches!(k, EventKind::HandlerEnd { ok: true })),
            2,
            "{}",
            c.name()
        );
        assert_eq!(x.threads_created, 3, "{}", c.name());
        assert!(x.violations.is_empty());
    }
}
