//! Seam-level integration tests: `RdKafkaFactory` / `RdKafkaHandle` against librdkafka's mock
//! cluster (3 brokers). Every test body runs on its own thread under a hard timeout.
//!
//! Timeouts are small (session 6 s, max.poll 7 s) to keep the suite quick; the tests run in
//! parallel (one cluster each).

use std::sync::Arc;
use std::time::Duration;

use pausebeat::rdkafka::mock::{Broker, MockKafka, MockOptions};
use pausebeat::rdkafka::{ConfigError, RdKafkaFactory, RdKafkaHandle};
use pausebeat::sync::{Runtime, StdRuntime};
use pausebeat::{ConsumerFactory, ConsumerHandle, ErrorClass, ErrorCode, KafkaError};
use pausebeat_tests::*;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

const LIMIT: Duration = Duration::from_secs(60);

fn mock(topic: &str, partitions: i32) -> MockKafka {
    MockKafka::start(MockOptions {
        topic: topic.to_string(),
        partitions,
        ..MockOptions::default()
    })
    .expect("mock cluster")
}

/// A handle on `kafka`'s topic that has been assigned every partition and has read the `n`
/// records per partition produced before.
fn consuming(
    kafka: &MockKafka,
    group: &str,
    n: u64,
) -> (RdKafkaFactory, RdKafkaHandle, Arc<Recorder>) {
    for p in 0..kafka.partitions() {
        kafka.produce(p, n).unwrap();
    }
    let factory = RdKafkaFactory::new(quick_config(kafka, group)).unwrap();
    let hook = Recorder::new();
    let h = factory.create(None, hook.clone()).unwrap();
    let want = (n * kafka.partitions() as u64) as usize;
    let seen = poll_records(&h, want, Duration::from_secs(20));
    assert_eq!(seen.records.len(), want, "errors: {:?}", seen.errors);
    (factory, h, hook)
}

fn codes(errors: &[KafkaError]) -> Vec<(ErrorClass, ErrorCode)> {
    errors.iter().map(|e| (e.class, e.code)).collect()
}

#[test]
fn consumes_across_partitions_commits_and_closes() {
    with_timeout("consume", LIMIT, || {
        let kafka = mock("consume", 4);
        for p in 0..4 {
            assert_eq!(kafka.produce(p, 25).unwrap(), 0..25);
        }
        let factory = RdKafkaFactory::new(quick_config(&kafka, "g-consume")).unwrap();
        let hook = Recorder::new();
        let h = factory.create(None, hook.clone()).unwrap();
        let seen = poll_records(&h, 100, Duration::from_secs(20));
        assert!(seen.errors.is_empty(), "{:?}", seen.errors);
        for p in 0..4 {
            assert_eq!(
                seen.offsets_of(p),
                (0..25).collect::<Vec<_>>(),
                "partition {p}"
            );
        }
        assert_eq!(h.assignment().unwrap(), vec![0, 1, 2, 3]);
        // The high watermark: a round trip to the leader.
        assert_eq!(h.high_watermark(2).unwrap(), Some(25));
        assert_eq!(
            hook.events(),
            vec![
                HookEvent::BeforeAssign(vec![0, 1, 2, 3]),
                HookEvent::AfterAssign(vec![0, 1, 2, 3])
            ]
        );
        // Commit the next offset to read on two partitions only.
        h.commit(&[(0, 25), (1, 10)]).unwrap();
        assert_eq!(
            h.committed(&[0, 1, 2]).unwrap(),
            vec![(0, Some(25)), (1, Some(10)), (2, None)]
        );
        // seek rewinds.
        h.seek(3, 20).unwrap();
        let again = poll_records(&h, 5, Duration::from_secs(10));
        assert_eq!(again.offsets_of(3), (20..25).collect::<Vec<_>>());
        kafka.produce(2, 3).unwrap();
        assert_eq!(h.high_watermark(2).unwrap(), Some(28));

        h.close().unwrap();
        for err in [
            h.poll(Duration::from_millis(10)).err(),
            h.pause(&[0]).err(),
            h.resume(&[0]).err(),
            h.assignment().err(),
            h.seek(0, 0).err(),
            h.commit(&[(0, 1)]).err(),
            h.committed(&[0]).err(),
            h.high_watermark(0).err(),
            h.close().err(),
        ] {
            assert_eq!(
                err.map(|e| (e.class, e.code)),
                Some((ErrorClass::NonRetriable, ErrorCode::Closed))
            );
        }
        // Closing called no hook.
        assert_eq!(hook.events().len(), 2);

        // A new member of the group starts at the committed offsets.
        let h2 = factory.create(None, Recorder::new()).unwrap();
        let seen = poll_records(&h2, 15 + 28 + 25, Duration::from_secs(20));
        assert_eq!(seen.offsets_of(0), Vec::<i64>::new());
        assert_eq!(seen.offsets_of(1), (10..25).collect::<Vec<_>>());
        assert_eq!(seen.offsets_of(2), (0..28).collect::<Vec<_>>());
        h2.close().unwrap();
    });
}

#[test]
fn paused_past_session_and_max_poll_keeps_membership() {
    with_timeout("paused-long", LIMIT, || {
        let kafka = mock("paused-long", 4);
        let (_f, h, hook) = consuming(&kafka, "g-paused-long", 10);
        let parts = h.assignment().unwrap();
        assert_eq!(parts, vec![0, 1, 2, 3]);
        h.pause(&parts).unwrap();
        for p in 0..4 {
            assert_eq!(kafka.produce(p, 5).unwrap(), 10..15);
        }
        // Longer than both max.poll.interval (7 s) and session.timeout (6 s), polling all along.
        let paused = poll_for(&h, Duration::from_secs(9));
        assert!(
            paused.records.is_empty(),
            "records while paused: {:?}",
            paused.records
        );
        assert!(paused.errors.is_empty(), "{:?}", paused.errors);
        assert_eq!(hook.revocations(), 0, "{:?}", hook.events());
        assert_eq!(h.assignment().unwrap(), parts);
        h.resume(&parts).unwrap();
        let after = poll_records(&h, 20, Duration::from_secs(10));
        for p in 0..4 {
            assert_eq!(
                after.offsets_of(p),
                (10..15).collect::<Vec<_>>(),
                "partition {p}"
            );
        }
        h.close().unwrap();
    });
}

#[test]
fn all_brokers_down_while_paused_then_up() {
    with_timeout("outage", LIMIT, || {
        let kafka = mock("outage", 4);
        let (_f, h, hook) = consuming(&kafka, "g-outage", 10);
        let parts = h.assignment().unwrap();
        h.commit(&parts.iter().map(|&p| (p, 10)).collect::<Vec<_>>())
            .unwrap();
        h.pause(&parts).unwrap();
        kafka.broker_down(Broker::All).unwrap();
        let down = poll_for(&h, Duration::from_secs(8));
        println!("outage: errors {:?}", codes(&down.errors));
        println!("outage: hook {:?}", hook.timed_events());
        assert!(down.records.is_empty());
        assert!(
            !down.errors.is_empty(),
            "no error reported during the outage"
        );
        for e in &down.errors {
            assert!(e.is_retriable(), "{e}");
            assert!(
                matches!(
                    e.code,
                    ErrorCode::BrokerTransport | ErrorCode::AllBrokersDown
                ),
                "{e}"
            );
        }
        assert!(down
            .errors
            .iter()
            .any(|e| e.code == ErrorCode::AllBrokersDown));
        kafka.broker_up(Broker::All).unwrap();
        for p in 0..4 {
            assert_eq!(kafka.produce(p, 5).unwrap(), 10..15);
        }
        // Whatever rebalances the outage caused, the consumer ends up owning every partition,
        // paused (pause survives rebalances); resuming them yields everything after the commit.
        let rt = StdRuntime::new();
        let mut got = Polled::default();
        while rt.now().since_origin() < Duration::from_secs(25) && got.records.len() < 20 {
            let p = poll_for(&h, Duration::from_millis(500));
            got.errors.extend(p.errors);
            got.records.extend(p.records);
            let a = h.assignment().unwrap();
            if a.len() == 4 {
                h.resume(&a).unwrap();
            }
        }
        println!("recovery: hook {:?}", hook.timed_events());
        println!("recovery: errors {:?}", codes(&got.errors));
        for p in 0..4 {
            assert_eq!(
                got.offsets_of(p),
                (10..15).collect::<Vec<_>>(),
                "partition {p}"
            );
        }
        h.close().unwrap();
    });
}

#[test]
fn static_member_closes_and_is_recreated_with_the_same_id() {
    with_timeout("static", LIMIT, || {
        let kafka = mock("static", 2);
        for p in 0..2 {
            kafka.produce(p, 10).unwrap();
        }
        let factory = RdKafkaFactory::new(
            quick_config(&kafka, "g-static").with_instance_id("pausebeat-static-1"),
        )
        .unwrap();
        let id = factory.instance_id().map(str::to_string);
        let h = factory.create(id.as_deref(), Recorder::new()).unwrap();
        let first = poll_records(&h, 20, Duration::from_secs(20));
        assert_eq!(first.records.len(), 20);
        h.commit(&[(0, 10), (1, 10)]).unwrap();
        h.close().unwrap();

        let rt = StdRuntime::new();
        let hook = Recorder::new();
        let h2 = factory.create(id.as_deref(), hook.clone()).unwrap();
        for p in 0..2 {
            kafka.produce(p, 3).unwrap();
        }
        let second = poll_records(&h2, 6, Duration::from_secs(30));
        println!(
            "static re-create: 6 records after {:?}, hook {:?}, errors {:?}",
            rt.now(),
            hook.timed_events(),
            codes(&second.errors)
        );
        assert!(second.errors.is_empty(), "{:?}", second.errors);
        for p in 0..2 {
            assert_eq!(second.offsets_of(p), vec![10, 11, 12]);
        }
        h2.close().unwrap();
    });
}

#[test]
fn a_fenced_static_member_gets_a_fatal_fenced_error() {
    with_timeout("fenced", LIMIT, || {
        // The mock does not fence duplicate static members by itself; inject what a broker
        // answers the fenced member's next heartbeat.
        let kafka = mock("fenced", 2);
        for p in 0..2 {
            kafka.produce(p, 5).unwrap();
        }
        let factory = RdKafkaFactory::new(quick_config(&kafka, "g-fenced")).unwrap();
        let h = factory
            .create(Some("pausebeat-fenced-1"), Recorder::new())
            .unwrap();
        assert_eq!(
            poll_records(&h, 10, Duration::from_secs(20)).records.len(),
            10
        );
        kafka.push_request_errors(
            RDKafkaApiKey::Heartbeat,
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID],
        );
        let polled = poll_until(&h, Duration::from_secs(10), |p| !p.errors.is_empty());
        println!("fenced: {:?}", polled.errors);
        let e = polled.errors.first().expect("an error");
        assert_eq!(
            (e.class, e.code),
            (ErrorClass::Fatal, ErrorCode::Fenced),
            "{e}"
        );
        assert!(e.membership_lost());
        assert!(h.fatal_error().is_some());
        h.close().unwrap();
    });
}

/// A second member B that polls on its own thread until stopped, then commits what it read
/// and closes; returns what it read.
struct Member {
    stop: Arc<pausebeat::sync::AtomicBool<StdRuntime>>,
    thread: pausebeat::sync::JoinHandle<StdRuntime, Polled>,
    hook: Arc<Recorder>,
}

impl Member {
    fn join(factory: &RdKafkaFactory, name: &str) -> Member {
        let hook = Recorder::new();
        let b = factory.create(None, hook.clone()).unwrap();
        let stop = Arc::new(pausebeat::sync::AtomicBool::<StdRuntime>::new(false));
        let stop2 = stop.clone();
        let thread = StdRuntime::new().spawn(name, move || {
            let mut seen = Polled::default();
            while !stop2.load() {
                let p = poll_for(&b, Duration::from_millis(200));
                seen.records.extend(p.records);
                seen.errors.extend(p.errors);
            }
            let mut next: Vec<(i32, i64)> = Vec::new();
            for r in &seen.records {
                match next.iter_mut().find(|(p, _)| *p == r.partition) {
                    Some(e) => e.1 = e.1.max(r.offset + 1),
                    None => next.push((r.partition, r.offset + 1)),
                }
            }
            b.commit(&next).unwrap();
            b.close().unwrap();
            seen
        });
        Member { stop, thread, hook }
    }

    fn assigned(&self) -> bool {
        self.hook
            .events()
            .iter()
            .any(|e| matches!(e, HookEvent::AfterAssign(_)))
    }

    fn leave(self) -> Polled {
        self.stop.store(true);
        self.thread.join().unwrap()
    }
}

/// Polls `a` until B is assigned and `a` owns `n` partitions.
fn rebalanced(a: &RdKafkaHandle, b: Option<&Member>, n: usize) -> Polled {
    let p = poll_until(a, Duration::from_secs(20), |_| {
        b.map(Member::assigned).unwrap_or(true)
            && a.assignment().map(|x| x.len() == n).unwrap_or(false)
    });
    assert_eq!(
        a.assignment().unwrap().len(),
        n,
        "no rebalance to {n} partitions"
    );
    p
}

#[test]
fn partitions_newly_assigned_to_a_paused_consumer_are_not_paused() {
    with_timeout("newly-assigned", LIMIT, || {
        let kafka = mock("newly", 4);
        let (factory, a, hook) = consuming(&kafka, "g-newly", 5);
        a.commit(&[(0, 5), (1, 5), (2, 5), (3, 5)]).unwrap();
        let b = Member::join(&factory, "member-b");
        let _ = rebalanced(&a, Some(&b), 2);
        // A pauses what it owns now.
        let a_parts = a.assignment().unwrap();
        let b_parts: Vec<i32> = (0..4).filter(|p| !a_parts.contains(p)).collect();
        a.pause(&a_parts).unwrap();
        for p in 0..4 {
            kafka.produce(p, 3).unwrap();
        }
        let paused = poll_for(&a, Duration::from_secs(1));
        assert!(paused.records.is_empty());
        // B leaves (after committing offset 8 of its partitions): A gets them.
        let b_seen = b.leave();
        for &p in &b_parts {
            assert_eq!(b_seen.offsets_of(p), vec![5, 6, 7], "B read partition {p}");
        }
        let back = rebalanced(&a, None, 4);
        let after = poll_for(&a, Duration::from_secs(2));
        let records: Vec<_> = back.records.iter().chain(&after.records).collect();
        println!(
            "newly assigned while paused: A read {:?}; hook {:?}",
            records
                .iter()
                .map(|r| (r.partition, r.offset))
                .collect::<Vec<_>>(),
            hook.timed_events()
        );
        // Finding (librdkafka 2.12.1): the partitions A had paused stay paused across the
        // rebalance, but the ones newly assigned to it are fetched: a paused consumer must pause
        // them in its rebalance hook.
        assert!(records.iter().all(|r| b_parts.contains(&r.partition)));
        for &p in &b_parts {
            let offs: Vec<i64> = records
                .iter()
                .filter(|r| r.partition == p)
                .map(|r| r.offset)
                .collect();
            assert_eq!(
                offs,
                Vec::<i64>::new(),
                "partition {p}: B committed all it read; nothing new yet"
            );
        }
        for p in 0..4 {
            kafka.produce(p, 2).unwrap();
        }
        let more = poll_for(&a, Duration::from_secs(2));
        for &p in &b_parts {
            assert_eq!(
                more.offsets_of(p),
                vec![8, 9],
                "newly assigned partition {p} is fetched"
            );
        }
        for &p in &a_parts {
            assert!(more.offsets_of(p).is_empty(), "partition {p} stayed paused");
        }

        // Pausing in after_assign sticks: B joins and leaves again; this time A's hook pauses.
        hook.set_pause_on_assign(true);
        let b2 = Member::join(&factory, "member-b2");
        let _ = rebalanced(&a, Some(&b2), 2);
        let b2_seen = b2.leave();
        let _ = rebalanced(&a, None, 4);
        for p in 0..4 {
            kafka.produce(p, 1).unwrap();
        }
        let held = poll_for(&a, Duration::from_secs(2));
        assert!(
            held.records.is_empty(),
            "paused in after_assign, yet {:?}",
            held.records
        );
        a.resume(&a.assignment().unwrap()).unwrap();
        let all = poll_until(&a, Duration::from_secs(10), |p| {
            (0..4).all(|q| p.offsets_of(q).contains(&10))
        });
        for p in 0..4 {
            assert_eq!(all.offsets_of(p).last(), Some(&10), "partition {p}");
        }
        // Nothing lost: every record after the first commit was read by A, B or B2.
        let read: std::collections::BTreeSet<(i32, i64)> =
            [&paused, &b_seen, &back, &after, &more, &b2_seen, &all]
                .iter()
                .flat_map(|p| p.records.iter().map(|r| (r.partition, r.offset)))
                .collect();
        for p in 0..4 {
            for o in 5..=10 {
                assert!(read.contains(&(p, o)), "record {p}/{o} was never read");
            }
        }
        a.close().unwrap();
    });
}

#[test]
fn a_stale_pause_survives_losing_and_regaining_a_partition() {
    with_timeout("stale-pause", LIMIT, || {
        let kafka = mock("stale", 4);
        let (factory, a, hook) = consuming(&kafka, "g-stale", 5);
        a.commit(&[(0, 5), (1, 5), (2, 5), (3, 5)]).unwrap();
        a.pause(&[0, 1, 2, 3]).unwrap();
        let b = Member::join(&factory, "member-b");
        let during = rebalanced(&a, Some(&b), 2);
        assert!(
            during.records.is_empty(),
            "paused partitions fetched across the rebalance"
        );
        // A "resumes": only what it owns now.
        let a_parts = a.assignment().unwrap();
        let b_parts: Vec<i32> = (0..4).filter(|p| !a_parts.contains(p)).collect();
        a.resume(&a_parts).unwrap();
        let _ = b.leave(); // B committed nothing new (no records were produced)
        let _ = rebalanced(&a, None, 4);
        for p in 0..4 {
            kafka.produce(p, 3).unwrap();
        }
        let got = poll_for(&a, Duration::from_secs(3));
        println!(
            "stale pause: A read {:?}; hook {:?}",
            got.records
                .iter()
                .map(|r| (r.partition, r.offset))
                .collect::<Vec<_>>(),
            hook.timed_events()
        );
        for &p in &a_parts {
            assert_eq!(got.offsets_of(p), vec![5, 6, 7], "resumed partition {p}");
        }
        // Finding (librdkafka 2.12.1): the pause flag lives on the partition object, which
        // outlives the assignment: the partitions A paused before losing them come back paused,
        // and stay so forever unless resumed (resume(assignment()) at resume time missed them).
        for &p in &b_parts {
            assert!(
                got.offsets_of(p).is_empty(),
                "partition {p} came back unpaused"
            );
        }
        a.resume(&a.assignment().unwrap()).unwrap();
        let rest = poll_records(&a, 6, Duration::from_secs(10));
        for &p in &b_parts {
            assert_eq!(
                rest.offsets_of(p),
                vec![5, 6, 7],
                "partition {p} after resume"
            );
        }
        a.close().unwrap();
    });
}

#[test]
fn offset_commit_request_errors_are_classified() {
    with_timeout("commit-errors", LIMIT, || {
        let kafka = mock("commit-errors", 2);
        let (_f, h, hook) = consuming(&kafka, "g-commit-errors", 5);
        let offsets = [(0, 5), (1, 5)];
        // After an error: polls (without committing: commits issued while the member rejoins
        // block for seconds and fail, and in the mock they kept it from being re-assigned) until
        // the member owns its partitions again, then commits; returns how long that took.
        let settle = || {
            let rt = StdRuntime::new();
            let _ = poll_for(&h, Duration::from_secs(1));
            let _ = poll_until(&h, Duration::from_secs(25), |_| {
                matches!(hook.events().last(), Some(HookEvent::AfterAssign(_)))
                    && h.assignment().map(|a| a.len() == 2).unwrap_or(false)
            });
            loop {
                match h.commit(&offsets) {
                    Ok(()) => return rt.now().since_origin(),
                    Err(e) => {
                        assert!(rt.now().since_origin() < Duration::from_secs(35), "{e}");
                    }
                }
                let _ = poll_for(&h, Duration::from_millis(250));
            }
        };
        let cases = [
            (
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
                ErrorClass::Retriable,
                ErrorCode::RebalanceInProgress,
            ),
            (
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION,
                ErrorClass::NonRetriable,
                ErrorCode::IllegalGeneration,
            ),
            (
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID,
                ErrorClass::NonRetriable,
                ErrorCode::UnknownMember,
            ),
        ];
        for (inject, class, code) in cases {
            kafka.push_request_errors(RDKafkaApiKey::OffsetCommit, &[inject]);
            let e = h.commit(&offsets).expect_err("injected error");
            assert_eq!((e.class, e.code), (class, code), "{inject:?}: {e}");
            let took = settle();
            println!("commit with {inject:?}: {e}; next successful commit after {took:?}");
        }
        println!("commit errors: hook {:?}", hook.timed_events());
        {}
        assert_eq!(
            h.committed(&[0, 1]).unwrap(),
            vec![(0, Some(5)), (1, Some(5))]
        );
        h.close().unwrap();
    });
}

#[test]
fn max_poll_exceeded_is_classified_and_the_member_rejoins() {
    with_timeout("max-poll", LIMIT, || {
        let kafka = mock("max-poll", 2);
        let (_f, h, hook) = consuming(&kafka, "g-max-poll", 5);
        // Not polling for longer than max.poll.interval (7 s).
        StdRuntime::new().sleep(Duration::from_secs(8));
        let first = poll_until(&h, Duration::from_secs(5), |p| !p.errors.is_empty());
        let e = first
            .errors
            .first()
            .expect("an error after the max.poll violation");
        assert_eq!(
            (e.class, e.code),
            (ErrorClass::NonRetriable, ErrorCode::MaxPollExceeded),
            "{e}"
        );
        assert!(e.membership_lost());
        // Polling on: revoked, re-assigned, and (nothing was committed) every record again.
        let again = poll_records(&h, 10, Duration::from_secs(20));
        println!("max.poll: hook {:?}", hook.timed_events());
        assert!(hook.revocations() >= 1);
        for p in 0..2 {
            assert_eq!(again.offsets_of(p), (0..5).collect::<Vec<_>>());
        }
        h.close().unwrap();
    });
}

#[test]
fn fetch_and_heartbeat_errors_are_absorbed() {
    with_timeout("absorbed", LIMIT, || {
        let kafka = mock("absorbed", 2);
        let (_f, h, hook) = consuming(&kafka, "g-absorbed", 5);
        kafka.push_request_errors(
            RDKafkaApiKey::Fetch,
            &[
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
                RDKafkaRespErr::RD_KAFKA_RESP_ERR__TRANSPORT,
            ],
        );
        kafka.push_request_errors(
            RDKafkaApiKey::Heartbeat,
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS],
        );
        for p in 0..2 {
            kafka.produce(p, 5).unwrap();
        }
        let got = poll_until(&h, Duration::from_secs(25), |p| {
            p.offsets_of(0).contains(&9) && p.offsets_of(1).contains(&9)
        });
        println!(
            "absorbed: errors {:?} hook {:?}",
            codes(&got.errors),
            hook.timed_events()
        );
        for e in &got.errors {
            assert!(e.is_retriable(), "{e}");
        }
        for p in 0..2 {
            let offs = got.offsets_of(p);
            assert!(
                (5..10).all(|o| offs.contains(&o)),
                "partition {p}: {offs:?}"
            );
        }
        h.close().unwrap();
    });
}

#[test]
fn close_during_an_outage_returns_within_the_bound() {
    with_timeout("close-outage", LIMIT, || {
        let kafka = mock("close-outage", 2);
        for p in 0..2 {
            kafka.produce(p, 5).unwrap();
        }
        let bound = Duration::from_secs(3);
        let factory =
            RdKafkaFactory::new(quick_config(&kafka, "g-close-outage").with_close_timeout(bound))
                .unwrap();
        let h = factory.create(None, Recorder::new()).unwrap();
        assert_eq!(
            poll_records(&h, 10, Duration::from_secs(20)).records.len(),
            10
        );
        h.pause(&[0, 1]).unwrap();
        kafka.broker_down(Broker::All).unwrap();
        let _ = poll_for(&h, Duration::from_secs(2));
        // A commit without a coordinator is deferred for session.timeout.ms (6 s), then fails.
        let rt = StdRuntime::new();
        let e = h.commit(&[(0, 5), (1, 5)]).unwrap_err();
        let took = rt.now().since_origin();
        println!("commit during outage: {e} after {took:?}");
        assert_eq!(
            (e.class, e.code),
            (ErrorClass::Retriable, ErrorCode::TimedOut),
            "{e}"
        );
        // A guard (it fails after the 6 s session timeout), generous for a loaded machine.
        assert!(took < Duration::from_secs(20), "commit took {took:?}");
        let rt = StdRuntime::new();
        let closed = h.close();
        let took = rt.now().since_origin();
        println!("close during outage: {closed:?} after {took:?}");
        assert!(
            took < bound + Duration::from_secs(10),
            "close took {took:?}"
        );
        if let Err(e) = closed {
            assert_eq!(e.code, ErrorCode::TimedOut, "{e}");
        }
        assert_eq!(h.poll(Duration::ZERO).unwrap_err().code, ErrorCode::Closed);
        kafka.broker_up(Broker::All).unwrap();
    });
}

#[test]
fn bad_configurations_are_rejected_by_the_factory() {
    with_timeout("config", LIMIT, || {
        let kafka = mock("config", 1);
        let ok = quick_config(&kafka, "g-config");
        let reject = |c| RdKafkaFactory::new(c).map(|_| ()).unwrap_err();
        assert_eq!(
            reject(ok.clone().with("no.such.property", "1")),
            ConfigError::UnknownKey {
                key: "no.such.property".into()
            }
        );
        assert!(matches!(
            reject(ok.clone().with("fetch.wait.max.ms", "fast")),
            ConfigError::InvalidValue { .. }
        ));
        assert!(matches!(
            reject(ok.clone().with_max_poll_interval(Duration::from_secs(1))),
            ConfigError::MaxPollBelowSession { .. }
        ));
        let mut empty = ok.clone();
        empty.group_id.clear();
        assert_eq!(reject(empty), ConfigError::Empty("group_id"));
        // A check across keys that only client creation runs.
        let cross = ok
            .clone()
            .with("reconnect.backoff.ms", "5000")
            .with("reconnect.backoff.max.ms", "100");
        assert!(cross.validate().is_ok());
        assert!(matches!(reject(cross), ConfigError::Rejected(_)));
        // And an empty instance id at create time.
        let f = RdKafkaFactory::new(ok).unwrap();
        let e = f.create(Some(" "), Recorder::new()).unwrap_err();
        assert_eq!(e.code, ErrorCode::CreateFailed);
    });
}

#[test]
fn close_gives_up_after_the_bound_when_librdkafka_is_slow() {
    with_timeout("close-slow", LIMIT, || {
        // With every response delayed 20 s, librdkafka's close (LeaveGroup, then destroy) takes
        // about that long: close() must return after its 2 s bound and leak the consumer.
        let kafka = mock("close-slow", 2);
        for p in 0..2 {
            kafka.produce(p, 5).unwrap();
        }
        let bound = Duration::from_secs(2);
        let factory =
            RdKafkaFactory::new(quick_config(&kafka, "g-close-slow").with_close_timeout(bound))
                .unwrap();
        let h = factory.create(None, Recorder::new()).unwrap();
        assert_eq!(
            poll_records(&h, 10, Duration::from_secs(20)).records.len(),
            10
        );
        kafka
            .set_round_trip_time(Broker::All, Duration::from_secs(20))
            .unwrap();
        let _ = poll_for(&h, Duration::from_secs(1));
        let rt = StdRuntime::new();
        let e = h.close().unwrap_err();
        let took = rt.now().since_origin();
        assert_eq!(
            (e.class, e.code),
            (ErrorClass::NonRetriable, ErrorCode::TimedOut),
            "{e}"
        );
        assert!(
            took >= bound && took < bound + Duration::from_secs(10),
            "{took:?}"
        );
        assert_eq!(h.assignment().unwrap_err().code, ErrorCode::Closed);
        // Let the leaked consumer finish before the cluster goes.
        kafka
            .set_round_trip_time(Broker::All, Duration::ZERO)
            .unwrap();
    });
}
