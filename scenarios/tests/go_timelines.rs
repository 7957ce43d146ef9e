//! The Go ports on deterministic timelines, told and played by the one harness (one plain
//! execution on virtual time each, `replay --schedule std`): the happy path, §5(a) "Resume
//! timeout" on go-original, §5(b) suspend → restart churn on pr-1313, the retry variant; and
//! the zero-cost resume race under PCT and loom. What the timelines show is read from the
//! execution's event log; the properties' verdicts on the same scenarios are the catalogue's
//! business (`verify`).
//!
//! Run with `--nocapture` to see each timeline's event log.

use pausebeat::kafka::ErrorCode;
use pausebeat::probe::DesignEvent;
use pausebeat::sync::explore::Checker;
use pausebeat_go::{GoOriginal, Pr1313};
use pausebeat_scenarios::catalogue;
use pausebeat_scenarios::harness::Executed;
use pausebeat_scenarios::properties::Property;
use pausebeat_scenarios::scenario::{secs as s, Scenario};
use pausebeat_scenarios::verify::{check_design, replay_design, Verdict};
use pausebeat_world::{Design, Event, EventKind, Fault, PollOutcome};

/// Plays `sc` once against `D` (whatever the properties say of it) and prints the log.
fn play<D: Design>(sc: &Scenario) -> Executed {
    let x = replay_design::<D>(sc, "std")
        .expect("a plain execution")
        .executed;
    println!(
        "---- {} on {} ({} threads)",
        sc.name,
        D::NAME,
        x.threads_created
    );
    for l in &x.trace {
        println!("{l}");
    }
    x
}

fn first(x: &Executed, f: impl Fn(&Event) -> bool) -> Option<&Event> {
    x.events.iter().find(|e| f(e))
}

fn all(x: &Executed, f: impl Fn(&Event) -> bool) -> Vec<&Event> {
    x.events.iter().filter(|e| f(e)).collect()
}

fn is(d: DesignEvent) -> impl Fn(&Event) -> bool {
    move |e| e.kind == EventKind::Design(d.clone())
}

fn crash(e: &Event) -> bool {
    matches!(e.kind, EventKind::Design(DesignEvent::Crash { .. }))
}

/// Records at 0 and 200 s; runs at 0 and 320 s (the heartbeat, paused at 1 s, waits in its
/// select then: it polled 151..156 s); a handler that takes 1 s (so that, in this zero-cost
/// model, the heartbeat that took the resume signal has cleared `paused` before the run pauses
/// again; see `zero_cost_resume_race` below); a close at 400 s.
fn happy() -> Scenario {
    Scenario::new("go-happy", "two runs, a close")
        .records(0, 10)
        .records_at(200, 0, 5)
        .run_at(0)
        .run_at(320)
        .close_at(400)
}

fn happy_path<D: Design>() {
    let p = play::<D>(&happy());
    let begins = all(&p, |e| matches!(e.kind, EventKind::HandlerBegin { .. }));
    assert_eq!(begins.len(), 2, "two batches");
    let commits: Vec<_> = p
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Commit { offsets } => Some(offsets.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(commits, vec![vec![(0, 10)], vec![(0, 15)]]);
    // Paused after the first run, heartbeating while paused, resumed at the second run.
    let paused = first(&p, is(DesignEvent::PauseReturned)).expect("paused");
    let resumed = first(&p, |e| {
        e.at.since_origin() == s(320)
            && e.kind == EventKind::Design(DesignEvent::ResumeReturned { ok: true })
    })
    .expect("resume() returned ok at the second run");
    assert!(paused.seq < resumed.seq);
    assert!(
        first(&p, |e| e.thread == "heartbeat"
            && e.kind == EventKind::PollBegin)
        .is_some_and(|e| e.at.since_origin() == s(151)),
        "the heartbeat polls one tick (150 s) after the pause at 1 s"
    );
    assert!(
        first(
            &p,
            |e| matches!(&e.kind, EventKind::Resume { partitions } if partitions == &vec![0])
                && e.at.since_origin() == s(320)
        )
        .is_some(),
        "the second run resumes partition 0"
    );
    assert_eq!(all(&p, is(DesignEvent::PauseReturned)).len(), 2);
    assert!(first(&p, is(DesignEvent::CloseReturned)).is_some());
    assert!(first(&p, crash).is_none());
    assert_eq!(p.threads_created, 3, "main + one heartbeat per pause");
}

#[test]
fn happy_path_go_original() {
    happy_path::<GoOriginal>();
}

#[test]
fn happy_path_pr_1313() {
    happy_path::<Pr1313>();
}

/// §5(a): records at 0 and 200 s, run 1 at 0 (it pauses at 0: the watermark stops the batch
/// without a final 5 s read), so the heartbeat polls 150..155 and 300..305 s. Run 2 at 302 s:
/// its queries succeed, `resume()` captures the open consumer and offers the signal while the
/// heartbeat is inside its poll. The broker goes down at 303 s (until 800 s) and consumer
/// creation fails over the same window: the heartbeat's poll fails (BrokerTransport,
/// non-retriable) and it restarts the consumer — synchronously before the PR, with attempts at
/// 363, 423, 483, 543, 603 s, all failing — so nobody takes the signal.
fn outage() -> Scenario {
    Scenario::new("go-outage", "§5(a)")
        .records(0, 10)
        .records_at(200, 0, 5)
        .handler_takes(s(0))
        .fault(Fault::BrokerDown {
            from: s(303),
            until: s(800),
        })
        .fault(Fault::CreateFails {
            from: s(303),
            until: s(800),
        })
        .run_at(0)
        .run_at(302)
        .close_at(1000)
}

/// The first resume() return after the one called at 302 s.
fn resume_at_302(p: &Executed) -> &Event {
    let called = all(p, is(DesignEvent::ResumeCalled))
        .into_iter()
        .find(|e| e.at.since_origin() == s(302))
        .expect("the second run calls resume() at 302 s");
    p.events[called.seq..]
        .iter()
        .find(|e| {
            matches!(
                e.kind,
                EventKind::Design(DesignEvent::ResumeReturned { .. })
            )
        })
        .expect("resume() returns")
}

#[test]
fn resume_timeout_go_original() {
    let p = play::<GoOriginal>(&outage());
    let returned = resume_at_302(&p);
    assert_eq!(
        returned.kind,
        EventKind::Design(DesignEvent::ResumeReturned { ok: false }),
        "resume() fails"
    );
    assert_eq!(
        returned.at.since_origin(),
        s(602),
        "after max.poll.interval (300 s)"
    );
    assert!(first(&p, |e| e.seq < returned.seq
        && e.kind
            == EventKind::Design(DesignEvent::Note(
                "resume_error: failed to resume kafka consumer.: Resume timeout.".into()
            )))
    .is_some());
    // Meanwhile the heartbeat was inside its synchronous restart, failing every 60 s.
    let failed_attempts = all(&p, |e| {
        e.thread == "heartbeat"
            && e.seq < returned.seq
            && matches!(e.kind, EventKind::CreateFailed { .. })
    });
    assert_eq!(failed_attempts.len(), 4, "attempts at 363, 423, 483, 543 s");
    assert!(first(&p, crash).is_none());
    assert_eq!(p.threads_created, 3, "main, heartbeat, closer");
}

#[test]
fn resume_timeout_not_on_pr_1313() {
    let p = play::<Pr1313>(&outage());
    let returned = resume_at_302(&p);
    assert_eq!(
        returned.kind,
        EventKind::Design(DesignEvent::ResumeReturned { ok: true })
    );
    assert_eq!(returned.at.since_origin(), s(302), "at once");
    // The heartbeat hands the restart to G3 and keeps cycling.
    assert!(first(&p, |e| e.thread == "restart"
        && matches!(e.kind, EventKind::CreateFailed { .. }))
    .is_some());
    assert!(first(&p, crash).is_none());
}

/// §5(b), the reviewer's interleaving: suspending consumers, a 120 s batch period. Run 1 at 0
/// handles 10 records in 65 s, so the next run is 55 s away: it pauses (heartbeat polls at
/// 215..220 s). Run 2 at 217 s finds nothing new (committed == high: no `resume()`) and the next
/// run 120 s away: it suspends while the heartbeat is inside its poll.
fn suspend_during_poll() -> Scenario {
    Scenario::new("go-suspend-during-poll", "§5(b)")
        .records(0, 10)
        .suspending()
        .timing(|t| t.batch_period = s(120))
        .handler_takes(s(65))
        .run_at(0)
        .run_at(217)
        .close_at(400)
}

/// §5(b) through the mid-batch timer: suspending consumers, the default 300 s period, the
/// mid-batch pause timer on. Run 1 at 0 hands 10 records to a handler that takes 152 s: the
/// timer fires at 150 s, `pause(true)` starts a heartbeat whose first poll is immediate
/// (150..155 s); the run ends at 152 s, 148 s before the next: it suspends during that poll.
fn suspend_during_first_poll() -> Scenario {
    Scenario::new(
        "go-suspend-during-first-poll",
        "§5(b) via the mid-batch timer",
    )
    .records(0, 10)
    .suspending()
    .mid_batch_timer()
    .handler_takes(s(152))
    .run_at(0)
    .close_at(400)
}

/// The consumers created after the (last) suspend returned, before the close: (second, thread).
fn created_after_suspend(p: &Executed) -> Vec<(u64, String)> {
    let suspended = all(p, is(DesignEvent::SuspendReturned))
        .last()
        .map(|e| e.seq)
        .expect("the run suspends");
    let closing = first(p, is(DesignEvent::CloseCalled))
        .map(|e| e.seq)
        .expect("closed");
    all(p, |e| {
        matches!(e.kind, EventKind::Created { .. }) && e.seq > suspended && e.seq < closing
    })
    .into_iter()
    .map(|e| (e.at.since_origin().as_secs(), e.thread.clone()))
    .collect()
}

#[test]
fn suspend_churn_pr_1313() {
    let p = play::<Pr1313>(&suspend_during_poll());
    let suspend = first(&p, is(DesignEvent::SuspendReturned)).expect("suspends");
    assert_eq!(suspend.at.since_origin(), s(217), "at once");
    assert!(
        first(&p, is(DesignEvent::ResumeCalled)).is_some_and(|e| e.at.since_origin() < s(217)),
        "run 2 has nothing to consume and does not resume"
    );
    // The close ends the heartbeat's poll with an error; it restarts asynchronously and G3
    // creates a consumer one attempt (60 s) later: the suspend is undone.
    assert!(first(&p, |e| e.thread == "heartbeat"
        && e.kind == EventKind::PollEnd(PollOutcome::Error(ErrorCode::Closed)))
    .is_some());
    assert_eq!(
        created_after_suspend(&p),
        vec![(277, "restart".to_string())]
    );
    assert_eq!(p.threads_created, 4, "main, heartbeat, restart, closer");
}

#[test]
fn suspend_final_go_original() {
    let p = play::<GoOriginal>(&suspend_during_poll());
    // The rendezvous waits for the heartbeat to leave its poll (220 s): no error, no restart.
    let suspend = first(&p, is(DesignEvent::SuspendReturned)).expect("suspends");
    assert_eq!(suspend.at.since_origin(), s(220));
    assert_eq!(created_after_suspend(&p), vec![]);
    assert!(first(&p, crash).is_none());
    assert_eq!(p.threads_created, 2, "main, heartbeat");
}

#[test]
fn suspend_churn_after_mid_batch_pause_pr_1313() {
    let p = play::<Pr1313>(&suspend_during_first_poll());
    let suspend = first(&p, is(DesignEvent::SuspendReturned)).expect("suspends");
    assert_eq!(suspend.at.since_origin(), s(152));
    assert_eq!(
        created_after_suspend(&p),
        vec![(212, "restart".to_string())]
    );
    assert_eq!(
        p.threads_created, 5,
        "main, pause-timer, heartbeat, restart, closer"
    );
}

#[test]
fn suspend_final_after_mid_batch_pause_go_original() {
    let p = play::<GoOriginal>(&suspend_during_first_poll());
    let suspend = first(&p, is(DesignEvent::SuspendReturned)).expect("suspends");
    assert_eq!(suspend.at.since_origin(), s(155));
    assert_eq!(created_after_suspend(&p), vec![]);
    assert!(first(&p, crash).is_none());
    assert_eq!(p.threads_created, 3, "main, pause-timer, heartbeat");
}

/// §5(c)1 with the retry variant (`shouldConsume` resumes first, then `processBatch` resumes
/// again): run 2 at 302 s lands in the heartbeat's poll (301..306 s). With the PR the first
/// `resume()` deposits the signal, resumes the partition and returns; the heartbeat, still inside
/// its poll, now receives a record: it rewinds it and pauses the partition under the active run,
/// then takes the signal and re-resumes. The second `resume()` returns at once either way.
#[test]
fn retry_variant_resume_during_poll_pr_1313() {
    let sc = Scenario::new(
        "go-retry",
        "retry variant, run 2 during the heartbeat's poll",
    )
    .records(0, 10)
    .records_at(200, 0, 5)
    .retry_variant()
    .run_at(0)
    .run_at(302)
    .close_at(400);
    let p = play::<Pr1313>(&sc);
    let resumes: Vec<_> = p
        .design_events()
        .filter(|(e, _)| e.at.since_origin() >= s(302) && e.thread != "heartbeat")
        .filter_map(|(e, d)| match d {
            DesignEvent::ResumeReturned { ok } => Some((e.at.since_origin().as_secs(), *ok)),
            _ => None,
        })
        .take(2)
        .collect();
    assert_eq!(resumes, vec![(302, true), (302, true)]);
    let rewound = first(&p, |e| {
        e.thread == "heartbeat"
            && e.kind
                == EventKind::Design(DesignEvent::Rewound {
                    partition: 0,
                    offset: 10,
                })
    })
    .expect("the heartbeat read a record of the active run and rewound it");
    assert_eq!(rewound.at.since_origin(), s(302));
    assert!(
        first(&p, |e| e.seq > rewound.seq
            && e.thread == "heartbeat"
            && matches!(&e.kind, EventKind::Pause { applied, .. } if applied == &vec![0]))
        .is_some(),
        "and paused the partition under the run"
    );
    let handled = first(&p, |e| {
        e.kind
            == EventKind::HandlerBegin {
                records: (10..15).map(|o| (0, o)).collect(),
            }
    });
    assert!(handled.is_some(), "the run still handles 10..14");
}

/// The zero-cost resume race (the catalogue's `instant-handler`): with a destination that
/// answers in no time, the run that took the heartbeat's resume signal can reach its closing
/// `pause()` before the heartbeat has cleared `paused`; the pause then starts no heartbeat and
/// nobody polls while paused. PCT and loom find it on both ports.
#[test]
fn zero_cost_resume_race() {
    let sc = catalogue::instant_handler();
    let expected = [
        Property::MembershipKept,
        Property::ResumeBounded,
        Property::HandleExclusive,
    ];
    let pct = Checker::Pct {
        depth: 2,
        schedules: 500,
        seed: 7,
    };
    let loom = Checker::Loom {
        preemptions: 2,
        max_executions: 5_000,
    };
    for (r, what) in [
        (check_design::<GoOriginal>(&sc, &pct), "go-original × pct"),
        (check_design::<Pr1313>(&sc, &pct), "pr-1313 × pct"),
        (check_design::<GoOriginal>(&sc, &loom), "go-original × loom"),
    ] {
        assert_eq!(r.verdict, Verdict::Violation, "{what}: {r:#?}");
        let p = r.property.as_deref().and_then(Property::from_name).unwrap();
        assert!(expected.contains(&p), "{what}: {p}");
        assert!(r.as_expected, "{what}");
    }
}
