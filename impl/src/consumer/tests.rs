//! Unit tests of the consumer on the in-memory topic, on virtual time (deterministic, no real
//! waits). The properties of the catalogue are checked against the modeled Kafka world in
//! `models/vetted-checks`.

use super::memory::MemoryTopic;
use super::*;
use crate::handler::HandlerError;
use crate::kafka::{ErrorClass, ErrorCode, KafkaError, Offset, Partition, Record};
use crate::sync::{Mutex, Runtime, Std, Virtual};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

type Rt = Virtual<Std>;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A handler that records what it got, can fail its first `fail` batches and take `delay`.
struct Recorder {
    rt: Rt,
    seen: Mutex<Rt, Vec<(Partition, Offset)>>,
    /// When each batch was handed over (virtual time since the origin).
    began: Mutex<Rt, Vec<Duration>>,
    fail: Mutex<Rt, u32>,
    delay: Duration,
}

impl Recorder {
    fn new(rt: &Rt, fail: u32, delay: Duration) -> Arc<Recorder> {
        Arc::new(Recorder {
            rt: rt.clone(),
            seen: Mutex::new(Vec::new()),
            began: Mutex::new(Vec::new()),
            fail: Mutex::new(fail),
            delay,
        })
    }
    fn distinct(&self) -> BTreeSet<(Partition, Offset)> {
        self.seen.with(|s| s.iter().copied().collect())
    }
}

impl Handler for Recorder {
    fn handle(&self, batch: &[Record]) -> Result<(), HandlerError> {
        let now = self.rt.now().since_origin();
        self.began.with(|b| b.push(now));
        if !self.delay.is_zero() {
            self.rt.sleep(self.delay);
        }
        let failing = self.fail.with(|f| {
            let failing = *f > 0;
            *f = f.saturating_sub(1);
            failing
        });
        if failing {
            return Err(HandlerError("destination down".into()));
        }
        self.seen
            .with(|s| s.extend(batch.iter().map(|r| (r.partition, r.offset))));
        Ok(())
    }
}

fn config() -> ConsumerConfigBuilder {
    ConsumerConfig::builder()
        .name("t")
        .instance_id("app-0")
        .batch_size(3)
        .poll_timeout(secs(5))
}

fn topic(rt: &Rt, partitions: i32, records: u32) -> MemoryTopic<Rt> {
    let t = MemoryTopic::new(rt, partitions);
    for i in 0..records {
        t.produce(i as i32 % partitions, vec![i as u8]);
    }
    t
}

type TestConsumer = Consumer<Rt, MemoryTopic<Rt>, Arc<Recorder>, NoProbe>;

fn start(rt: &Rt, cfg: ConsumerConfig, t: &MemoryTopic<Rt>, h: &Arc<Recorder>) -> TestConsumer {
    Consumer::start(rt, cfg, Arc::new(t.clone()), h.clone(), NoProbe)
}

#[test]
fn a_run_hands_everything_commits_and_pauses() {
    let rt = Rt::new();
    let t = topic(&rt, 2, 10);
    let h = Recorder::new(&rt, 0, Duration::ZERO);
    let c = start(&rt, config().build().unwrap(), &t, &h);
    let report = c.run_once().unwrap();
    assert_eq!(report.records, 10);
    assert_eq!(report.ended_in, ConsumerState::Paused);
    assert_eq!(h.distinct().len(), 10);
    assert_eq!((t.committed(0), t.committed(1)), (Some(5), Some(5)));
    let handle = t.created()[0].0;
    assert_eq!(t.paused(handle), vec![0, 1], "paused between runs");
    // Records produced later are read by the next run, not before.
    t.produce(0, vec![]);
    rt.sleep(secs(100));
    assert_eq!(h.distinct().len(), 10);
    assert_eq!(c.run_once().unwrap().records, 1);
    c.close().unwrap();
    assert_eq!(t.open_handles(), 0);
    assert_eq!(t.overlaps(), 0);
    let s = c.status();
    assert_eq!(
        (s.state, s.consumers_created, s.consumers_closed),
        (ConsumerState::Closed, 1, 1)
    );
}

#[test]
fn resume_consumes_continuously_until_pause() {
    let rt = Rt::new();
    let t = topic(&rt, 1, 2);
    let h = Recorder::new(&rt, 0, Duration::ZERO);
    let c = start(&rt, config().build().unwrap(), &t, &h);
    let t0 = rt.now();
    c.resume();
    assert_eq!(rt.now(), t0, "resume() takes no time");
    rt.sleep(secs(30));
    assert_eq!(h.distinct().len(), 2);
    t.produce(0, vec![]);
    rt.sleep(secs(30));
    assert_eq!(
        h.distinct().len(),
        3,
        "running: new records are handed at once"
    );
    c.pause().unwrap();
    t.produce(0, vec![]);
    rt.sleep(secs(60));
    assert_eq!(h.distinct().len(), 3, "paused: nothing handed");
    assert_eq!(c.status().state, ConsumerState::Paused);
    c.close().unwrap();
}

#[test]
fn resume_takes_no_time_during_a_restart_with_the_broker_down() {
    let rt = Rt::new();
    let t = topic(&rt, 1, 3);
    let h = Recorder::new(&rt, 0, Duration::ZERO);
    let c = start(&rt, config().build().unwrap(), &t, &h);
    c.run_once().unwrap();
    c.pause().unwrap();
    let down = KafkaError::new(ErrorClass::NonRetriable, ErrorCode::CreateFailed, "down");
    t.fail_creates(20, down);
    t.fail_polls(
        1,
        KafkaError::new(ErrorClass::NonRetriable, ErrorCode::MaxPollExceeded, "left"),
    );
    rt.sleep(secs(40));
    assert_eq!(c.status().state, ConsumerState::Restarting);
    for _ in 0..5 {
        let before = rt.now();
        c.resume();
        assert_eq!(rt.now(), before, "resume() waited");
        rt.sleep(secs(7));
    }
    t.produce(0, vec![]);
    // Creates keep failing with a backoff capped at 30 s; 20 attempts take a few minutes.
    rt.sleep(secs(900));
    let s = c.status();
    assert_eq!(s.state, ConsumerState::Running, "{s:?}");
    assert_eq!(h.distinct().len(), 4, "the new consumer was resumed");
    let ids: Vec<_> = t.created().into_iter().map(|(_, id)| id).collect();
    assert_eq!(ids, vec![Some("app-0".into()), Some("app-0".into())]);
    c.close().unwrap();
    assert_eq!(t.open_handles(), 0);
}

#[test]
fn suspend_closes_and_only_a_run_reopens() {
    let rt = Rt::new();
    let t = topic(&rt, 2, 4);
    let h = Recorder::new(&rt, 0, Duration::ZERO);
    let c = start(&rt, config().build().unwrap(), &t, &h);
    c.run_once().unwrap();
    c.suspend().unwrap();
    assert_eq!(t.open_handles(), 0);
    c.resume();
    c.pause().unwrap();
    rt.sleep(secs(600));
    assert_eq!(t.created().len(), 1, "nothing created before the next run");
    t.produce(1, vec![]);
    let r = c.run_once().unwrap();
    assert_eq!(r.records, 1);
    // pause() after the suspend made Paused the mode: the run leaves the consumer paused.
    assert_eq!(r.ended_in, ConsumerState::Paused);
    c.suspend().unwrap();
    // Suspended is the mode now: a run closes the consumer again when it ends.
    assert_eq!(c.run_once().unwrap().ended_in, ConsumerState::Suspended);
    assert_eq!(t.open_handles(), 0);
    // Every consumer under the configured id: each opens after the previous one closed, so it
    // takes the closed member's place (KIP-345).
    let ids: Vec<_> = t.created().into_iter().map(|(_, id)| id.unwrap()).collect();
    assert_eq!(ids, vec!["app-0", "app-0", "app-0"]);
    c.close().unwrap();
}

#[test]
fn an_instance_id_is_reused_within_and_after_its_session() {
    let rt = Rt::new();
    let t = topic(&rt, 1, 1);
    let h = Recorder::new(&rt, 0, Duration::ZERO);
    let c = start(&rt, config().build().unwrap(), &t, &h);
    c.run_once().unwrap();
    c.suspend().unwrap();
    rt.sleep(secs(1));
    c.run_once().unwrap();
    c.suspend().unwrap();
    rt.sleep(secs(300));
    c.run_once().unwrap();
    let ids: Vec<_> = t.created().into_iter().map(|(_, id)| id.unwrap()).collect();
    assert_eq!(ids, vec!["app-0", "app-0", "app-0"]);
    c.close().unwrap();
}

#[test]
fn a_failed_batch_is_not_committed_and_is_read_again() {
    let rt = Rt::new();
    let t = topic(&rt, 1, 5);
    let h = Recorder::new(&rt, 1, Duration::ZERO);
    let c = start(&rt, config().build().unwrap(), &t, &h);
    let e = c.run_once().unwrap_err();
    assert!(matches!(e, ConsumerError::Handler(_)), "{e}");
    assert_eq!(t.committed(0), None);
    let r = c.run_once().unwrap();
    assert_eq!(r.records, 5);
    assert_eq!(t.committed(0), Some(5));
    assert_eq!(
        h.seen.with(|s| s.len()),
        5,
        "handed in order, once each after the failure"
    );
    c.close().unwrap();
}

#[test]
fn a_slow_handler_keeps_the_membership_and_close_is_bounded() {
    let rt = Rt::new();
    let t = topic(&rt, 1, 4);
    let h = Recorder::new(&rt, 0, secs(100));
    let cfg = config().batch_size(2).build().unwrap();
    let c = Arc::new(start(&rt, cfg, &t, &h));
    let c2 = c.clone();
    let runner = rt.spawn("runner", move || c2.run_once());
    rt.sleep(secs(150)); // the second batch is in the handler
    let t0 = rt.now();
    c.close().unwrap_err(); // the handler thread outlives the bound ...
    let took = rt.now() - t0;
    assert!(took <= c.config().command_timeout(), "close took {took:?}");
    assert_eq!(
        t.open_handles(),
        0,
        "... but the consumer is closed at once"
    );
    assert!(matches!(runner.join().unwrap(), Err(ConsumerError::Closed)));
    assert_eq!(
        t.committed(0),
        Some(2),
        "the abandoned batch is not committed"
    );
    assert_eq!(t.overlaps(), 0);
}

#[test]
fn a_batch_finishing_as_close_is_called_is_committed() {
    let rt = Rt::new();
    let t = topic(&rt, 1, 4);
    let h = Recorder::new(&rt, 0, secs(100));
    let cfg = config().batch_size(2).build().unwrap();
    let c = Arc::new(start(&rt, cfg, &t, &h));
    let c2 = c.clone();
    let runner = rt.spawn("runner", move || c2.run_once());
    // close() comes 100 ms before the second batch's end (it begins when the first ends, or
    // after the maintenance poll due then): the owner waits for the verdict (at most a
    // maintenance poll) and commits it.
    while h.began.with(|b| b.len()) < 2 {
        rt.sleep(secs(1));
    }
    let ends = h.began.with(|b| b[1]) + secs(100);
    rt.sleep(ends - rt.now().since_origin() - Duration::from_millis(100));
    c.close().unwrap();
    assert_eq!(t.committed(0), Some(4), "the finished batch is committed");
    assert_eq!(t.open_handles(), 0);
    let _ = runner.join();
}

#[test]
fn pause_from_inside_the_handler_does_not_wait_on_itself() {
    struct PauseInHandler {
        c: Mutex<Rt, Option<Controller<Rt>>>,
        got: Mutex<Rt, usize>,
    }
    impl Handler for Arc<PauseInHandler> {
        fn handle(&self, batch: &[Record]) -> Result<(), HandlerError> {
            self.got.with(|g| *g += batch.len());
            if let Some(c) = self.c.with(|c| c.clone()) {
                c.pause().map_err(|e| HandlerError(e.to_string()))?;
            }
            Ok(())
        }
    }
    let rt = Rt::new();
    let t = topic(&rt, 1, 9);
    let h = Arc::new(PauseInHandler {
        c: Mutex::new(None),
        got: Mutex::new(0),
    });
    let cfg = config().build().unwrap();
    let c = Consumer::start(&rt, cfg, Arc::new(t.clone()), h.clone(), NoProbe);
    h.c.with(|s| *s = Some(c.controller()));
    c.resume();
    rt.sleep(secs(60));
    assert_eq!(
        h.got.with(|g| *g),
        3,
        "the batch that paused was the last one"
    );
    assert_eq!(c.status().state, ConsumerState::Paused);
    c.close().unwrap();
}

#[test]
fn concurrent_runs_are_coalesced() {
    let rt = Rt::new();
    let t = topic(&rt, 1, 4);
    let h = Recorder::new(&rt, 0, secs(1));
    let c = Arc::new(start(&rt, config().build().unwrap(), &t, &h));
    let c2 = c.clone();
    let other = rt.spawn("other", move || c2.run_once());
    let mine = c.run_once();
    let theirs = other.join().unwrap();
    assert!(mine.is_ok() && theirs.is_ok(), "{mine:?} {theirs:?}");
    assert_eq!(h.distinct().len(), 4);
    c.close().unwrap();
}

#[test]
fn a_closing_pause_leaves_a_run_asked_for_meanwhile_alone() {
    let rt = Rt::new();
    let t = topic(&rt, 1, 4);
    let h = Recorder::new(&rt, 0, secs(10));
    let c = Arc::new(start(&rt, config().build().unwrap(), &t, &h));
    let (c2, t2, rt2) = (c.clone(), t.clone(), rt.clone());
    let other = rt.spawn("other", move || {
        rt2.sleep(secs(1)); // while the first run's batch is in the handler
        t2.produce(0, vec![]);
        c2.run_then(AfterRun::Suspend)
    });
    let mine = c.run_then(AfterRun::Pause);
    let theirs = other.join().unwrap();
    // The first run's closing pause is the consumer's, applied as it ends: it does not
    // interrupt the run asked for meanwhile, which inherits the choice of its own caller.
    assert!(mine.is_ok(), "{mine:?}");
    let theirs = theirs.expect("the run asked for meanwhile is not interrupted");
    assert_eq!(h.distinct().len(), 5);
    assert_eq!(theirs.ended_in, ConsumerState::Suspended);
    assert_eq!(t.open_handles(), 0);
    c.close().unwrap();
}

/// The vetted API's own contract (`Consumer::suspend`: "runs after a suspend close the consumer
/// again when they end"), which no property of the catalogue judges: when a suspend() and a run
/// race, either order is a linearization, and a run after a suspend may leave the consumer open.
/// A run's closing pause (`AfterRun::Pause`) never reopens, nor keeps open, a suspended consumer.
#[test]
fn a_closing_pause_leaves_a_suspended_consumer_suspended() {
    let rt = Rt::new();
    let t = topic(&rt, 1, 2);
    let h = Recorder::new(&rt, 0, Duration::ZERO);
    let c = start(&rt, config().build().unwrap(), &t, &h);
    c.run_once().unwrap();
    c.suspend().unwrap();
    t.produce(0, vec![]);
    let r = c.run_then(AfterRun::Pause).unwrap();
    assert_eq!(r.records, 1);
    assert_eq!(r.ended_in, ConsumerState::Suspended);
    assert_eq!(t.open_handles(), 0, "the run closed the consumer again");
    rt.sleep(secs(600));
    assert_eq!(t.created().len(), 2, "nothing created until the next run");
    c.close().unwrap();
}

#[test]
fn suspend_if_over_by_suspends_only_a_run_over_in_time() {
    let rt = Rt::new();
    let t = topic(&rt, 1, 2);
    let h = Recorder::new(&rt, 0, secs(30));
    let c = start(&rt, config().build().unwrap(), &t, &h);
    let late = c.run_then(AfterRun::SuspendIfOverBy(rt.now() + secs(10)));
    assert_eq!(
        late.unwrap().ended_in,
        ConsumerState::Paused,
        "over after 30 s"
    );
    t.produce(0, vec![]);
    let in_time = c.run_then(AfterRun::SuspendIfOverBy(rt.now() + secs(60)));
    assert_eq!(in_time.unwrap().ended_in, ConsumerState::Suspended);
    assert_eq!(t.open_handles(), 0);
    c.close().unwrap();
}

#[test]
fn periodic_runs() {
    let rt = Rt::new();
    let t = topic(&rt, 1, 2);
    let h = Recorder::new(&rt, 0, Duration::ZERO);
    let c = start(&rt, config().build().unwrap(), &t, &h);
    let runs = c.run_every(secs(300));
    rt.sleep(secs(299));
    assert_eq!(
        h.distinct().len(),
        0,
        "the first run is one period after the start"
    );
    rt.sleep(secs(2));
    assert_eq!(h.distinct().len(), 2);
    t.produce(0, vec![]);
    rt.sleep(secs(300));
    assert_eq!(h.distinct().len(), 3);
    runs.stop();
    c.close().unwrap();
}

#[test]
fn transient_errors_back_off_without_restarting() {
    let rt = Rt::new();
    let t = topic(&rt, 1, 2);
    let h = Recorder::new(&rt, 0, Duration::ZERO);
    let c = start(&rt, config().build().unwrap(), &t, &h);
    c.resume();
    rt.sleep(secs(10));
    let down = KafkaError::new(ErrorClass::NonRetriable, ErrorCode::BrokerTransport, "down");
    t.fail_polls(50, down);
    t.produce(0, vec![]);
    rt.sleep(secs(600));
    let s = c.status();
    assert_eq!((s.restarts, s.consumers_created), (0, 1), "{s:?}");
    assert_eq!(h.distinct().len(), 3);
    c.close().unwrap();
}

#[test]
fn configuration_is_validated() {
    assert!(ConsumerConfig::builder().build().is_ok());
    assert_eq!(
        ConsumerConfig::default(),
        ConsumerConfig::builder().build().unwrap()
    );
    let e = |b: ConsumerConfigBuilder| b.build().unwrap_err();
    assert_eq!(
        e(ConsumerConfig::builder().batch_size(0)),
        ConfigError::EmptyBatch
    );
    assert_eq!(
        e(ConsumerConfig::builder().poll_timeout(Duration::ZERO)),
        ConfigError::Zero("poll_timeout")
    );
    assert_eq!(
        e(ConsumerConfig::builder().instance_id("")),
        ConfigError::EmptyInstanceId
    );
    assert!(matches!(
        e(ConsumerConfig::builder().heartbeat_interval(secs(200))),
        ConfigError::NoPollMargin { .. }
    ));
    assert!(matches!(
        e(ConsumerConfig::builder().session_timeout(secs(400))),
        ConfigError::SessionAboveMaxPoll { .. }
    ));
    assert!(matches!(
        e(ConsumerConfig::builder().command_timeout(secs(1))),
        ConfigError::CommandTimeoutTooShort { .. }
    ));
    assert!(matches!(
        e(ConsumerConfig::builder().restart_backoff_max(Duration::from_millis(1))),
        ConfigError::BackoffCapBelowStart { .. }
    ));
    // Short max.poll: the heartbeat follows it (max.poll / 4).
    let c = ConsumerConfig::builder()
        .max_poll_interval(secs(40))
        .session_timeout(secs(10))
        .poll_timeout(secs(2))
        .build()
        .unwrap();
    assert_eq!(c.heartbeat_interval(), secs(10));
}

#[test]
fn an_early_empty_poll_does_not_end_a_run() {
    // rust-rdkafka's poll returns None before its timeout after serving a commit or rebalance
    // event: that is no sign of being caught up.
    let rt = Rt::new();
    let t = topic(&rt, 1, 10);
    t.return_early(4);
    let h = Recorder::new(&rt, 0, Duration::ZERO);
    let c = start(&rt, config().build().unwrap(), &t, &h);
    let report = c.run_once().unwrap();
    assert_eq!(report.records, 10, "{report:?}");
    assert_eq!(h.distinct().len(), 10);
    assert_eq!(t.committed(0), Some(10));
    c.close().unwrap();
}
