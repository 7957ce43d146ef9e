//! The vetted consumer against the modeled Kafka world, one deterministic execution per story
//! on virtual time (`Virtual<Std>`). Every story is judged on every property of the contract
//! (see `common::judge`), and then on what it is about.

mod common;

use common::{check, secs, Story};
use pausebeat::kafka::{ErrorClass, ErrorCode};
use pausebeat::probe::DesignEvent;
use pausebeat_world::{EventKind, Fault, Op, PollOutcome};
use std::collections::BTreeSet;

/// How many times each record reached the handler, and the records handled twice or more.
fn duplicates(x: &common::Played) -> Vec<(i32, i64)> {
    let mut seen = BTreeSet::new();
    let mut dup = Vec::new();
    for e in &x.events {
        if let EventKind::HandlerBegin { records } = &e.kind {
            for r in records {
                if !seen.insert(*r) {
                    dup.push(*r);
                }
            }
        }
    }
    dup
}

#[test]
fn happy_path_handles_and_commits_everything_once() {
    let story = Story::new(2)
        .records(0, 0, 20)
        .records(0, 1, 20)
        .records(200, 1, 5)
        .runs(&[0, 300, 600])
        .timing(|t| t.batch_size = 8);
    let x = check(&story);
    assert_eq!(x.committed, x.produced, "everything committed");
    assert!(
        duplicates(&x).is_empty(),
        "nothing handed twice: {:?}",
        duplicates(&x)
    );
    assert_eq!(x.created_ids(), vec![Some("a1-bulker-0".to_string())]);
    assert_eq!(x.threads_created, 3, "main + owner + handler");
}

#[test]
fn resume_takes_no_time_while_the_owner_restarts_through_an_outage() {
    // The member is lost at 90 s (UnknownMember) while paused; creating its replacement fails
    // until 700 s, and the broker is down from 100 s to 800 s. Runs at 300 s and 600 s happen
    // in the middle of that: their (implied) resume() must return at once.
    let story = Story::new(1)
        .records(0, 0, 5)
        .records(200, 0, 5)
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
        .runs(&[0, 300, 600, 900]);
    let x = check(&story);
    let resumes = x
        .design()
        .filter(|(_, d)| matches!(d, DesignEvent::ResumeCalled))
        .count();
    assert_eq!(resumes, 4, "every run resumes");
    let failed = x.count(|k| matches!(k, EventKind::CreateFailed { .. }));
    assert!(failed >= 10, "the owner kept retrying the create: {failed}");
    assert!(failed <= 40, "with a backoff: {failed}");
    assert_eq!(
        x.created_ids(),
        vec![Some("a1-bulker-0".into()), Some("a1-bulker-0-r1".into())],
        "one restart, under a fresh id"
    );
    assert_eq!(x.committed, x.produced);
}

#[test]
fn suspend_closes_and_nothing_is_created_until_the_next_run() {
    let story = Story::new(2)
        .records(0, 0, 3)
        .records(100, 1, 3)
        .records(400, 0, 3)
        .runs(&[0, 300, 600])
        .timing(|t| t.suspend = true);
    let x = check(&story);
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
    // Each run suspends: the first by the adapter's suspend(), the later ones also by the run
    // itself (suspended is the mode between runs, a run returns to it and reports it).
    assert_eq!(
        x.count(|k| matches!(k, EventKind::Design(DesignEvent::SuspendReturned))),
        5
    );
    // Reopened long after the last close (300 s > session timeout): the id is reused safely.
    assert!(x
        .created_ids()
        .iter()
        .all(|id| id.as_deref() == Some("a1-bulker-0")));
    assert_eq!(x.committed, x.produced);
}

#[test]
fn a_quick_reopen_after_suspend_uses_a_fresh_id() {
    // Runs 30 s apart with a 90 s period: the closed static member still holds its id when the
    // next run reopens (session timeout 45 s). The closed member also keeps its partition until
    // its session runs out (static members send no LeaveGroup): the run waits for it.
    let story = Story::new(1)
        .records(0, 0, 2)
        .records(20, 0, 2)
        .records(100, 0, 2)
        .runs(&[0, 30, 200])
        .timing(|t| {
            t.suspend = true;
            t.batch_period = secs(120);
        });
    let x = check(&story);
    assert_eq!(
        x.created_ids(),
        vec![
            Some("a1-bulker-0".into()),
            Some("a1-bulker-0-r1".into()),
            Some("a1-bulker-0-r1".into())
        ],
        "a fresh id within the session, the same id once its session ran out"
    );
    assert_eq!(x.committed, x.produced);
}

#[test]
fn a_restart_never_fences_itself() {
    // Membership lost (max.poll exceeded, then a fatal fencing error from outside) on every
    // poll for 20 s each time: every consumer created in those windows fails at once and is
    // replaced, with a backoff, each under a fresh id; none of them is fenced.
    let story = Story::new(2)
        .records(0, 0, 4)
        .records(0, 1, 4)
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
        .records(200, 1, 4)
        .runs(&[0, 300]);
    let x = check(&story);
    let ids = x.created_ids();
    let distinct: BTreeSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "no id used twice: {ids:?}");
    // Per 20 s window: at once, then after 1, 2, 4, 8 s (a doubling backoff, not a loop).
    assert!(
        ids.len() >= 6 && ids.len() <= 14,
        "restarts with a backoff: {ids:?}"
    );
    assert_eq!(ids[0].as_deref(), Some("a1-bulker-0"));
    assert_eq!(x.committed, x.produced);
}

#[test]
fn a_member_joining_while_paused_leaves_no_partition_paused_after_resume() {
    let story = Story::new(3)
        .records(0, 0, 3)
        .records(0, 1, 3)
        .records(0, 2, 3)
        .records(150, 1, 3)
        .member(100, Some(400))
        .member(500, Some(550))
        .runs(&[0, 300, 450, 600, 900]);
    let x = check(&story);
    // The rebalances really happened while paused and while running.
    assert!(x.count(|k| matches!(k, EventKind::Revoked(_))) >= 4);
    assert_eq!(x.committed, x.produced);
}

#[test]
fn pause_keeps_the_membership_over_many_max_poll_intervals() {
    let story = Story::new(1)
        .records(0, 0, 2)
        .records(1000, 0, 2)
        .runs(&[0, 3000]);
    let x = check(&story);
    // Paused from ~0 s to 3000 s: ten max.poll intervals; maintenance polls every 10 s.
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
    assert_eq!(x.committed, x.produced);
}

#[test]
fn close_returns_within_its_bound_wherever_it_lands() {
    for close_at in [0, 1, 3, 5, 305, 310] {
        let story = Story::new(1)
            .records(0, 0, 30)
            .records(300, 0, 30)
            .runs(&[0, 300])
            .timing(|t| t.batch_size = 4)
            .close_at(close_at.max(301));
        let x = check(&story);
        let (called, returned) = x.call_times(Op::Close).expect("close was called");
        let took = returned - called;
        assert!(took <= secs(5), "close at {close_at}s took {took:?}");
    }
}

#[test]
fn a_slow_destination_does_not_lose_the_membership() {
    // Each batch takes 200 s, two thirds of max.poll: the owner polls while the handler works.
    let story = Story::new(1)
        .records(0, 0, 6)
        .runs(&[0, 1000])
        .timing(|t| t.batch_size = 2)
        .handler_takes(secs(200));
    let x = check(&story);
    assert_eq!(x.count(|k| matches!(k, EventKind::Expired(_))), 0);
    assert_eq!(x.committed, x.produced);
    assert!(duplicates(&x).is_empty());
}

#[test]
fn failed_batches_are_read_again_later() {
    let story = Story::new(2)
        .records(0, 0, 5)
        .records(0, 1, 5)
        .runs(&[0, 300, 600])
        .timing(|t| t.batch_size = 3)
        .handler_fails(0, 350);
    let x = check(&story);
    assert!(x.count(|k| matches!(k, EventKind::HandlerEnd { ok: false })) >= 2);
    assert_eq!(x.committed, x.produced);
}

#[test]
fn the_retry_variant_and_an_outage_during_a_run() {
    // The broker goes down in the middle of the second run; the run ends, the consumer stays
    // (transient: no restart); the third run catches up.
    let story = Story::new(1)
        .records(0, 0, 4)
        .records(300, 0, 40)
        .fault(Fault::BrokerDown {
            from: secs(305),
            until: secs(400),
        })
        .runs(&[0, 300, 600])
        .timing(|t| {
            t.resume_first = true;
            t.batch_size = 5;
        })
        .handler_takes(secs(1));
    let x = check(&story);
    assert_eq!(x.created_ids().len(), 1, "no restart for an outage");
    assert!(x.count(|k| matches!(k, EventKind::PollEnd(PollOutcome::Error(_)))) > 0);
    assert_eq!(x.committed, x.produced);
}

#[test]
fn slow_close_and_slow_create_stay_bounded() {
    let story = Story::new(1)
        .records(0, 0, 3)
        .records(100, 0, 3)
        .fault(Fault::SlowClose(secs(2)))
        .fault(Fault::SlowCreate(secs(3)))
        .fault(Fault::SlowCommit(secs(2)))
        .runs(&[0, 300, 600])
        .timing(|t| t.suspend = true);
    let x = check(&story);
    assert_eq!(x.committed, x.produced);
}

#[test]
fn direct_calls_keep_every_property() {
    use common::Step::*;
    let mut story = Story::new(2)
        .records(0, 0, 2)
        .records(1, 1, 2)
        .records(2, 0, 1)
        .records(12, 1, 1)
        .records(35, 0, 1)
        .timing(|t| t.batch_size = 2);
    story.steps = vec![
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
    let x = check(&story);
    // pause() at 1 s waited for the batch in the handler (0 s .. 1 s), no longer.
    let pause_returned = x.call_times(Op::Pause).map(|(_, r)| r.since_origin());
    assert!(pause_returned <= Some(secs(2)), "{pause_returned:?}");
    assert_eq!(x.committed, x.produced);
}

#[test]
fn every_resume_of_the_partitions_wakes_their_leaders() {
    // librdkafka fetches a resumed partition at its leader's next wake-up (up to a second): the
    // owner asks for one at once, through the seam, right after each resume it applies.
    let story = Story::new(2)
        .records(0, 0, 2)
        .records(100, 1, 2)
        .runs(&[0, 300]);
    let x = check(&story);
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
            "no wake-up right after the resume at {}:\n{}",
            x.events[r].at,
            x.trace()
        );
    }
}
