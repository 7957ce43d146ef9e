//! The Go ports on deterministic timelines (`Virtual<Std>`, the modeled world): the happy path,
//! §5(a) "Resume timeout" on go-original, §5(b) suspend → restart churn on pr-1313.
//!
//! Run with `--nocapture` to see each timeline's event log.

mod common;

use common::*;
use pausebeat::kafka::ErrorCode;
use pausebeat::probe::DesignEvent;
use pausebeat_go::{GoOriginal, Pr1313};
use pausebeat_world::{Design, EventKind, Fault};

/// Records at 0 and 200 s; runs at 0 and 320 s (the heartbeat, paused at 1 s, waits in its
/// select then: it polled 151..156 s); a handler that takes 1 s (so that, in this zero-cost
/// model, the heartbeat that took the resume signal has cleared `paused` before the run pauses
/// again; see `tests/checkers.rs`).
fn happy() -> Timeline {
    let mut t = Timeline::new(400);
    t.world = t.world.produce(s(0), 0, 10).produce(s(200), 0, 5);
    t.runs = vec![0, 320];
    t.handler_delay = s(1);
    t
}

fn happy_path<D: Design>() {
    let p = play::<D>(&happy());
    p.print(D::NAME);
    // Both batches handled and committed.
    let begins = p.all(|e| matches!(e.kind, EventKind::HandlerBegin { .. }));
    assert_eq!(begins.len(), 2, "two batches");
    let commits: Vec<_> = p
        .log
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Commit { offsets } => Some(offsets.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(commits, vec![vec![(0, 10)], vec![(0, 15)]]);
    // Paused after the first run, heartbeating while paused, resumed at the second run.
    let paused = p.first(is(DesignEvent::PauseReturned)).expect("paused");
    let resumed = p
        .first(|e| {
            e.at.since_origin() == s(320)
                && e.kind == EventKind::Design(DesignEvent::ResumeReturned { ok: true })
        })
        .expect("resume() returned ok at the second run");
    assert!(paused.seq < resumed.seq);
    assert!(
        p.first(|e| e.thread == "heartbeat" && e.kind == EventKind::PollBegin)
            .is_some_and(|e| e.at.since_origin() == s(151)),
        "the heartbeat polls one tick (150 s) after the pause at 1 s"
    );
    assert!(
        p.first(
            |e| matches!(&e.kind, EventKind::Resume { partitions } if partitions == &vec![0])
                && e.at.since_origin() == s(320)
        )
        .is_some(),
        "the second run resumes partition 0"
    );
    // Paused again after the second run; clean close; nothing crashed.
    assert_eq!(p.all(is(DesignEvent::PauseReturned)).len(), 2);
    assert!(p.first(is(DesignEvent::CloseReturned)).is_some());
    assert!(p.first(crash).is_none());
    assert_eq!(p.threads, 3, "main + one heartbeat per pause");
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
fn outage() -> Timeline {
    let mut t = Timeline::new(1000);
    t.world = t
        .world
        .produce(s(0), 0, 10)
        .produce(s(200), 0, 5)
        .fault(Fault::BrokerDown {
            from: s(303),
            until: s(800),
        })
        .fault(Fault::CreateFails {
            from: s(303),
            until: s(800),
        });
    t.runs = vec![0, 302];
    t
}

#[test]
fn resume_timeout_go_original() {
    let p = play::<GoOriginal>(&outage());
    p.print("§5(a) go-original");
    let called = p
        .all(is(DesignEvent::ResumeCalled))
        .into_iter()
        .find(|e| e.at.since_origin() == s(302))
        .expect("the second run calls resume() at 302 s");
    let returned = p
        .log
        .iter()
        .find(|e| {
            e.seq > called.seq
                && matches!(
                    e.kind,
                    EventKind::Design(DesignEvent::ResumeReturned { .. })
                )
        })
        .expect("resume() returns");
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
    assert!(p
        .first(|e| e.seq < returned.seq
            && e.kind
                == EventKind::Design(DesignEvent::Note(
                    "resume_error: failed to resume kafka consumer.: Resume timeout.".into()
                )))
        .is_some());
    // Meanwhile the heartbeat was inside its synchronous restart, failing every 60 s.
    let failed_attempts = p.all(|e| {
        e.thread == "heartbeat"
            && e.seq < returned.seq
            && matches!(e.kind, EventKind::CreateFailed { .. })
    });
    assert_eq!(failed_attempts.len(), 4, "attempts at 363, 423, 483, 543 s");
    assert!(p.first(crash).is_none());
    assert_eq!(p.threads, 3, "main, heartbeat, closer");
}

#[test]
fn resume_timeout_not_on_pr_1313() {
    let p = play::<Pr1313>(&outage());
    p.print("§5(a) pr-1313");
    let called = p
        .all(is(DesignEvent::ResumeCalled))
        .into_iter()
        .find(|e| e.at.since_origin() == s(302))
        .expect("the second run calls resume() at 302 s");
    let returned = p
        .log
        .iter()
        .find(|e| {
            e.seq > called.seq
                && matches!(
                    e.kind,
                    EventKind::Design(DesignEvent::ResumeReturned { .. })
                )
        })
        .expect("resume() returns");
    assert_eq!(
        returned.kind,
        EventKind::Design(DesignEvent::ResumeReturned { ok: true })
    );
    assert_eq!(returned.at.since_origin(), s(302), "at once");
    // The heartbeat hands the restart to G3 and keeps cycling.
    assert!(p
        .first(|e| e.thread == "restart" && matches!(e.kind, EventKind::CreateFailed { .. }))
        .is_some());
    assert!(p.first(crash).is_none());
}

/// §5(b), the reviewer's interleaving: suspending consumers, a 120 s batch period. Run 1 at 0
/// handles 10 records in 65 s, so the next run is 55 s away: it pauses (heartbeat polls at
/// 215..220 s). Run 2 at 217 s finds nothing new (committed == high: no `resume()`) and the next
/// run 120 s away: it suspends while the heartbeat is inside its poll.
fn suspend_during_poll() -> Timeline {
    let mut t = Timeline::new(400);
    t.world = t.world.produce(s(0), 0, 10);
    t.timing.suspend = true;
    t.timing.batch_period = s(120);
    t.handler_delay = s(65);
    t.runs = vec![0, 217];
    t
}

/// §5(b) through the mid-batch timer: suspending consumers, the default 300 s period, the
/// mid-batch pause timer on. Run 1 at 0 hands 10 records to a handler that takes 152 s: the
/// timer fires at 150 s, `pause(true)` starts a heartbeat whose first poll is immediate
/// (150..155 s); the run ends at 152 s, 148 s before the next: it suspends during that poll.
fn suspend_during_first_poll() -> Timeline {
    let mut t = Timeline::new(400);
    t.world = t.world.produce(s(0), 0, 10);
    t.timing.suspend = true;
    t.timing.mid_batch_timer = true;
    t.handler_delay = s(152);
    t.runs = vec![0];
    t
}

/// The consumers created after the (last) suspend returned, before the close.
fn created_after_suspend(p: &Played) -> Vec<(u64, String)> {
    let suspended = p
        .all(is(DesignEvent::SuspendReturned))
        .last()
        .map(|e| e.seq)
        .expect("the run suspends");
    let closing = p
        .first(is(DesignEvent::CloseCalled))
        .map(|e| e.seq)
        .expect("closed");
    p.all(|e| created(e) && e.seq > suspended && e.seq < closing)
        .into_iter()
        .map(|e| (e.at.since_origin().as_secs(), e.thread.clone()))
        .collect()
}

#[test]
fn suspend_churn_pr_1313() {
    let p = play::<Pr1313>(&suspend_during_poll());
    p.print("§5(b) pr-1313");
    let suspend = p.first(is(DesignEvent::SuspendReturned)).expect("suspends");
    assert_eq!(suspend.at.since_origin(), s(217), "at once");
    assert!(
        p.first(is(DesignEvent::ResumeCalled))
            .is_some_and(|e| e.at.since_origin() < s(217)),
        "run 2 has nothing to consume and does not resume"
    );
    // The close ends the heartbeat's poll with an error; it restarts asynchronously and G3
    // creates a consumer one attempt (60 s) later: the suspend is undone.
    assert!(p
        .first(|e| e.thread == "heartbeat"
            && e.kind == EventKind::PollEnd(pausebeat_world::PollOutcome::Error(ErrorCode::Closed)))
        .is_some());
    assert_eq!(
        created_after_suspend(&p),
        vec![(277, "restart".to_string())]
    );
    assert_eq!(p.threads, 4, "main, heartbeat, restart, closer");
}

#[test]
fn suspend_final_go_original() {
    let p = play::<GoOriginal>(&suspend_during_poll());
    p.print("§5(b) go-original");
    // The rendezvous waits for the heartbeat to leave its poll (220 s): no error, no restart.
    let suspend = p.first(is(DesignEvent::SuspendReturned)).expect("suspends");
    assert_eq!(suspend.at.since_origin(), s(220));
    assert_eq!(created_after_suspend(&p), vec![]);
    assert!(p.first(crash).is_none());
    assert_eq!(p.threads, 2, "main, heartbeat");
}

#[test]
fn suspend_churn_after_mid_batch_pause_pr_1313() {
    let p = play::<Pr1313>(&suspend_during_first_poll());
    p.print("§5(b) via the mid-batch timer, pr-1313");
    let suspend = p.first(is(DesignEvent::SuspendReturned)).expect("suspends");
    assert_eq!(suspend.at.since_origin(), s(152));
    assert_eq!(
        created_after_suspend(&p),
        vec![(212, "restart".to_string())]
    );
    assert_eq!(
        p.threads, 5,
        "main, pause-timer, heartbeat, restart, closer"
    );
}

#[test]
fn suspend_final_after_mid_batch_pause_go_original() {
    let p = play::<GoOriginal>(&suspend_during_first_poll());
    p.print("§5(b) via the mid-batch timer, go-original");
    let suspend = p.first(is(DesignEvent::SuspendReturned)).expect("suspends");
    assert_eq!(suspend.at.since_origin(), s(155));
    assert_eq!(created_after_suspend(&p), vec![]);
    assert!(p.first(crash).is_none());
    assert_eq!(p.threads, 3, "main, pause-timer, heartbeat");
}

/// §5(c)1 with the retry variant (`shouldConsume` resumes first, then `processBatch` resumes
/// again): run 2 at 302 s lands in the heartbeat's poll (301..306 s). With the PR the first
/// `resume()` deposits the signal, resumes the partition and returns; the heartbeat, still inside
/// its poll, now receives a record: it rewinds it and pauses the partition under the active run,
/// then takes the signal and re-resumes. The second `resume()` returns at once either way (the
/// heartbeat drained the slot, or already cleared `paused`).
///
/// (Before the PR, the same timeline is a zero-cost race in the model: after the rendezvous at
/// 306 s the second `resume()` may find `paused` still true, the heartbeat gone, and time out.)
#[test]
fn retry_variant_resume_during_poll_pr_1313() {
    let mut t = Timeline::new(400);
    t.world = t.world.produce(s(0), 0, 10).produce(s(200), 0, 5);
    t.timing.resume_first = true;
    t.handler_delay = s(1);
    t.runs = vec![0, 302];
    let p = play::<Pr1313>(&t);
    p.print("retry variant, pr-1313");
    let resumes: Vec<_> = p
        .design()
        .filter(|(e, _)| e.at.since_origin() >= s(302) && e.thread != "heartbeat")
        .filter_map(|(e, d)| match d {
            DesignEvent::ResumeReturned { ok } => Some((e.at.since_origin().as_secs(), *ok)),
            _ => None,
        })
        .take(2)
        .collect();
    assert_eq!(resumes, vec![(302, true), (302, true)]);
    let rewound = p
        .first(|e| {
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
        p.first(|e| e.seq > rewound.seq
            && e.thread == "heartbeat"
            && matches!(&e.kind, EventKind::Pause { applied, .. } if applied == &vec![0]))
            .is_some(),
        "and paused the partition under the run"
    );
    let handled = p.first(|e| {
        e.kind
            == EventKind::HandlerBegin {
                records: (10..15).map(|o| (0, o)).collect(),
            }
    });
    assert!(handled.is_some(), "the run still handles 10..14");
}
