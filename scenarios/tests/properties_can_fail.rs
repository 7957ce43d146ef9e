//! Every property can fail: a small toy design, broken on purpose in one way at a time, violates
//! exactly the property that describes that way; unbroken, it passes every property on the same
//! scenario (so the properties do not raise false alarms on a plain design either).

use pausebeat::handler::Handler;
use pausebeat::kafka::{ConsumerFactory, ConsumerHandle, NoHook, Partition};
use pausebeat::probe::{DesignEvent, Probe};
use pausebeat::sync::explore::Checker;
use pausebeat::sync::{Chan, JoinHandle, Mutex, Runtime, Select, Ticker};
use pausebeat_scenarios::properties::Property;
use pausebeat_scenarios::scenario::{secs, Scenario};
use pausebeat_scenarios::verify::{check_design, CheckResult, Verdict};
use pausebeat_world::{Design, Env, Instance, Timing};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const NONE: u8 = 0;
const SLOW_RESUME: u8 = 1;
const NEVER_RESUME: u8 = 2;
const CREATE_AFTER_SUSPEND: u8 = 3;
const POLL_FROM_TWO_THREADS: u8 = 4;
const TWO_CONSUMERS: u8 = 5;
const HANDLE_WHILE_PAUSED: u8 = 6;
const COMMIT_AHEAD: u8 = 7;
const NO_HEARTBEAT: u8 = 8;
const CREATE_BEFORE_CLOSE: u8 = 9;
const DEADLOCK: u8 = 10;
const LEAK_THREAD: u8 = 11;
const REREAD_AFTER_COMMIT: u8 = 12;
const NO_COMMIT: u8 = 13;
const CREATE_DURING_SUSPEND: u8 = 14;
const COMMIT_GOES_BACK: u8 = 15;
/// Not a bug: the replacement is created after the old handle was closed (it takes its place).
const REOPEN_AFTER_CLOSE: u8 = 16;
/// Hands the records on without their headers (a copy that forgot them).
const DROP_HEADERS: u8 = 17;
/// Not a bug when declared: close() leaves a thread that winds down for 2 s before it ends.
const SLOW_EXIT: u8 = 18;

/// A plain single-threaded consumer: each run creates the consumer if needed, resumes, reads
/// everything, hands it over, commits, and pauses (or suspends); a heartbeat thread polls while
/// paused. `B` selects one way to break it.
struct Toy<const B: u8>;

struct ToyInstance<R: Runtime, F: ConsumerFactory> {
    rt: R,
    factory: Arc<F>,
    handler: Arc<dyn Handler>,
    probe: Arc<dyn Probe>,
    timing: Timing,
    handle: Arc<Mutex<R, Option<Arc<F::Handle>>>>,
    heartbeat: Mutex<R, Option<Heartbeat<R>>>,
    broken: u8,
}

/// The heartbeat thread and the channel that stops it.
type Heartbeat<R> = (Chan<R, ()>, JoinHandle<R, ()>);

impl<const B: u8> Design for Toy<B> {
    const NAME: &'static str = "toy";
    const ABOUT: &'static str = "a plain consumer, broken on purpose";
    fn start<R: Runtime, F: ConsumerFactory>(env: Env<R, F>) -> Box<dyn Instance> {
        Box::new(ToyInstance {
            rt: env.rt,
            factory: env.factory,
            handler: env.handler,
            probe: env.probe,
            timing: env.timing,
            handle: Arc::new(Mutex::new(None)),
            heartbeat: Mutex::new(None),
            broken: B,
        })
    }
}

impl<R: Runtime, F: ConsumerFactory> ToyInstance<R, F> {
    fn create(&self) -> Option<Arc<F::Handle>> {
        let id = self.timing.instance_id.as_deref();
        self.factory.create(id, Arc::new(NoHook)).ok().map(Arc::new)
    }

    fn current(&self) -> Option<Arc<F::Handle>> {
        if let Some(h) = self.handle.with(|h| h.clone()) {
            return Some(h);
        }
        let h = self.create()?;
        if self.broken == CREATE_BEFORE_CLOSE {
            // Replace it creating the new one first: under the same static id the newcomer
            // takes the place of the old handle, which is still open, and fences it.
            let h2 = self.create()?;
            let _ = h.close();
            self.handle.with(|s| *s = Some(h2.clone()));
            return Some(h2);
        }
        if self.broken == REOPEN_AFTER_CLOSE {
            // Closed first, then re-created under the same id within the session: Kafka lets
            // the newcomer take the closed member's place; nobody is fenced.
            let _ = h.close();
            let h2 = self.create()?;
            self.handle.with(|s| *s = Some(h2.clone()));
            return Some(h2);
        }
        if self.broken == TWO_CONSUMERS {
            let spare = self.factory.create(None, Arc::new(NoHook)).ok();
            if let Some(s) = spare {
                let _ = s.close();
            }
        }
        self.handle.with(|s| *s = Some(h.clone()));
        Some(h)
    }

    fn stop_heartbeat(&self) {
        if let Some((stop, t)) = self.heartbeat.with(|h| h.take()) {
            let _ = stop.send(());
            let _ = t.join();
        }
    }

    fn start_heartbeat(&self, h: Arc<F::Handle>) {
        let stop: Chan<R, ()> = Chan::new(&self.rt, 0);
        let (rx, rt) = (stop.clone(), self.rt.clone());
        let every = self.timing.max_poll_interval / 4;
        let t = self.rt.spawn("heartbeat", move || {
            let mut tick = Ticker::new(&rt, every);
            loop {
                let mut stop = pausebeat::sync::RecvArm::new(&rx);
                if Select::new(&rt, "heartbeat")
                    .arm(&mut stop)
                    .arm(&mut tick)
                    .wait()
                    == Some(0)
                {
                    return;
                }
                if let Ok(Some(r)) = h.poll(Duration::from_secs(1)) {
                    let _ = h.seek(r.partition, r.offset);
                }
            }
        });
        self.heartbeat.with(|s| *s = Some((stop, t)));
    }

    fn read_all(&self, h: &Arc<F::Handle>) -> BTreeMap<Partition, i64> {
        let mut next = BTreeMap::new();
        let mut batch = vec![];
        let mut empty = 0;
        while empty < 2 {
            match h.poll(self.timing.poll_timeout) {
                Ok(Some(mut r)) => {
                    next.insert(r.partition, r.offset + 1);
                    if self.broken == DROP_HEADERS {
                        r.headers.clear();
                    }
                    batch.push(r);
                }
                _ => empty += 1,
            }
        }
        if !batch.is_empty() && self.handler.handle(&batch).is_ok() && self.broken != NO_COMMIT {
            let ahead = if self.broken == COMMIT_AHEAD { 5 } else { 0 };
            let offsets: Vec<_> = next.iter().map(|(p, o)| (*p, o + ahead)).collect();
            let _ = h.commit(&offsets);
            if self.broken == COMMIT_GOES_BACK {
                // A stale retry: the batch's first offsets, after the commit past them.
                let mut first = BTreeMap::new();
                for r in &batch {
                    first.entry(r.partition).or_insert(r.offset);
                }
                let _ = h.commit(&first.into_iter().collect::<Vec<_>>());
            }
            if self.broken == REREAD_AFTER_COMMIT {
                // An off-by-a-batch rewind: back to the batch's first record, though committed.
                for r in batch.iter().rev() {
                    let _ = h.seek(r.partition, r.offset);
                }
            }
        }
        next
    }
}

impl<R: Runtime, F: ConsumerFactory> Instance for ToyInstance<R, F> {
    fn run(&self) {
        self.probe.note(DesignEvent::RunStarted);
        self.stop_heartbeat();
        let Some(h) = self.current() else {
            self.probe.note(DesignEvent::RunEnded);
            return;
        };
        self.probe.note(DesignEvent::ResumeCalled);
        if self.broken == SLOW_RESUME {
            self.rt.sleep(secs(1));
        }
        if self.broken != NEVER_RESUME {
            let _ = h.resume(&h.assignment().unwrap_or_default());
        }
        self.probe.note(DesignEvent::ResumeReturned { ok: true });
        if self.broken == POLL_FROM_TWO_THREADS {
            let (h2, rt) = (h.clone(), self.rt.clone());
            let t = self.rt.spawn("second-poller", move || {
                let _ = h2.poll(secs(1));
                drop(rt);
            });
            let _ = h.poll(secs(1));
            let _ = t.join();
        }
        self.read_all(&h);
        if self.timing.suspend {
            self.probe.note(DesignEvent::SuspendCalled);
            let _ = h.close();
            self.handle.with(|s| *s = None);
            if self.broken == CREATE_DURING_SUSPEND {
                // A consumer for nobody, closed again before the suspend returns.
                if let Some(again) = self.create() {
                    let _ = again.close();
                }
            }
            self.probe.note(DesignEvent::SuspendReturned);
            if self.broken == CREATE_AFTER_SUSPEND {
                let again = self.create();
                self.handle.with(|s| *s = again);
            }
        } else {
            self.probe.note(DesignEvent::PauseCalled);
            let _ = h.pause(&h.assignment().unwrap_or_default());
            self.probe.note(DesignEvent::PauseReturned);
            if self.broken == HANDLE_WHILE_PAUSED {
                let _ = self.handler.handle(&[]);
            }
            if self.broken != NO_HEARTBEAT {
                self.start_heartbeat(h);
            }
        }
        if self.broken == DEADLOCK {
            let never: Chan<R, ()> = Chan::new(&self.rt, 0);
            let _ = never.recv();
        }
        if self.broken == LEAK_THREAD {
            let rt = self.rt.clone();
            drop(self.rt.spawn("leaked", move || loop {
                rt.sleep(secs(60));
            }));
        }
        self.probe.note(DesignEvent::RunEnded);
    }

    fn close(&self) {
        self.probe.note(DesignEvent::CloseCalled);
        self.stop_heartbeat();
        if let Some(h) = self.handle.with(|h| h.take()) {
            let _ = h.close();
        }
        if self.broken == SLOW_EXIT {
            let rt = self.rt.clone();
            drop(self.rt.spawn("winding-down", move || rt.sleep(secs(2))));
        }
        self.probe.note(DesignEvent::CloseReturned);
    }
}

fn scenario() -> Scenario {
    Scenario::new(
        "toy",
        "two partitions, runs at 0 s and 600 s, records arriving in between",
    )
    .partitions(2)
    .records(0, 3)
    .records(1, 3)
    .records_at(100, 1, 2)
    .run_at(0)
    .run_at(600)
}

fn check<D: Design>(s: &Scenario) -> CheckResult {
    check_design::<D>(
        s,
        &Checker::Random {
            schedules: 30,
            seed: 9,
        },
    )
}

/// The broken toy violates `p` (named first, or among the others the same schedule broke: a
/// poll from a second thread, say, also loses the record that thread read).
fn assert_violates<D: Design>(s: &Scenario, p: Property) {
    let r = check::<D>(s);
    assert_eq!(r.verdict, Verdict::Violation, "{r:#?}");
    let named = r
        .property
        .iter()
        .chain(r.also.iter())
        .any(|n| n == p.name());
    assert!(
        named,
        "{p} not violated: {:?} {:?}\n{:#?}",
        r.property, r.also, r.trace
    );
}

#[test]
fn the_unbroken_toy_passes_every_property() {
    let r = check::<Toy<NONE>>(&scenario());
    assert_eq!(r.verdict, Verdict::Pass, "{r:#?}");
    let r = check::<Toy<NONE>>(&scenario().suspending());
    assert_eq!(r.verdict, Verdict::Pass, "{r:#?}");
}

#[test]
fn resume_bounded_fails_when_resume_waits() {
    assert_violates::<Toy<SLOW_RESUME>>(&scenario(), Property::ResumeBounded);
}

#[test]
fn resume_effective_fails_when_partitions_stay_paused() {
    assert_violates::<Toy<NEVER_RESUME>>(&scenario(), Property::ResumeEffective);
}

#[test]
fn suspend_final_fails_when_a_consumer_is_created_after_suspend() {
    assert_violates::<Toy<CREATE_AFTER_SUSPEND>>(&scenario().suspending(), Property::SuspendFinal);
}

#[test]
fn suspend_final_fails_when_a_consumer_is_created_during_the_designs_own_suspend() {
    assert_violates::<Toy<CREATE_DURING_SUSPEND>>(&scenario().suspending(), Property::SuspendFinal);
}

#[test]
fn handle_exclusive_fails_when_two_threads_poll() {
    assert_violates::<Toy<POLL_FROM_TWO_THREADS>>(&scenario(), Property::HandleExclusive);
}

#[test]
fn single_consumer_fails_with_two_consumers() {
    assert_violates::<Toy<TWO_CONSUMERS>>(&scenario(), Property::SingleConsumer);
}

#[test]
fn paused_means_paused_fails_when_the_handler_runs_while_paused() {
    assert_violates::<Toy<HANDLE_WHILE_PAUSED>>(&scenario(), Property::PausedMeansPaused);
}

#[test]
fn no_loss_fails_when_commits_run_ahead() {
    assert_violates::<Toy<COMMIT_AHEAD>>(&scenario(), Property::NoLoss);
}

#[test]
fn membership_kept_fails_without_a_heartbeat() {
    assert_violates::<Toy<NO_HEARTBEAT>>(&scenario(), Property::MembershipKept);
}

#[test]
fn no_self_fencing_fails_when_a_replacement_is_created_before_the_old_handle_is_closed() {
    assert_violates::<Toy<CREATE_BEFORE_CLOSE>>(&scenario(), Property::NoSelfFencing);
}

#[test]
fn no_self_fencing_holds_when_a_closed_handle_is_re_created_under_its_id() {
    let r = check::<Toy<REOPEN_AFTER_CLOSE>>(&scenario());
    let named: Vec<_> = r.property.iter().chain(r.also.iter()).cloned().collect();
    assert!(
        !named.iter().any(|n| n == Property::NoSelfFencing.name()),
        "{r:#?}"
    );
}

#[test]
fn no_deadlock_fails_on_a_deadlock() {
    assert_violates::<Toy<DEADLOCK>>(&scenario(), Property::NoDeadlock);
}

#[test]
fn clean_shutdown_fails_when_a_thread_outlives_close() {
    assert_violates::<Toy<LEAK_THREAD>>(&scenario().close_at(700), Property::CleanShutdown);
}

/// The toy whose close() leaves a thread winding down for 2 s, declaring that grace.
struct Graced;

impl Design for Graced {
    const NAME: &'static str = "graced-toy";
    const ABOUT: &'static str = "a plain consumer whose close leaves a thread winding down";
    const CLOSE_GRACE: (Duration, &'static str) = (
        Duration::from_secs(3),
        "a thread winds down for 2 s after close() returns",
    );
    fn start<R: Runtime, F: ConsumerFactory>(env: Env<R, F>) -> Box<dyn Instance> {
        <Toy<SLOW_EXIT> as Design>::start(env)
    }
}

#[test]
fn clean_shutdown_waits_the_grace_a_design_declares() {
    let s = scenario().close_at(700);
    // Undeclared, the winding-down thread is a thread left running.
    assert_violates::<Toy<SLOW_EXIT>>(&s, Property::CleanShutdown);
    // Declared (3 s), it has ended when the threads are judged.
    let r = check::<Graced>(&s);
    assert_eq!(r.verdict, Verdict::Pass, "{r:#?}");
}

#[test]
fn no_duplicates_fails_when_committed_records_are_read_again() {
    assert_violates::<Toy<REREAD_AFTER_COMMIT>>(&scenario(), Property::NoDuplicates);
}

#[test]
fn no_duplicates_fails_when_a_commit_moves_the_committed_offset_back() {
    let r = check::<Toy<COMMIT_GOES_BACK>>(&scenario());
    assert_eq!(r.property.as_deref(), Some("no-duplicates"), "{r:#?}");
    assert!(
        r.message
            .as_deref()
            .unwrap_or_default()
            .contains("moves the committed offset back"),
        "{r:#?}"
    );
}

#[test]
fn committed_before_close_fails_when_finished_batches_are_not_committed() {
    assert_violates::<Toy<NO_COMMIT>>(&scenario(), Property::CommittedBeforeClose);
}

#[test]
fn a_check_whose_purpose_never_happened_is_vacuous_not_a_pass() {
    use pausebeat_scenarios::scenario::{Exercise, Op, Situation};
    // The story says it exists to show a run during an outage; there is no outage.
    let s = scenario().exercises(Exercise::During(Op::Run, Situation::Outage));
    let r = check::<Toy<NONE>>(&s);
    assert_eq!(r.verdict, Verdict::Vacuous, "{r:#?}");
    assert!(!r.as_expected);
    assert!(r
        .message
        .unwrap_or_default()
        .contains("run() while the brokers are down"));
    // With the outage, the same story passes.
    let s = s.fault(pausebeat_world::Fault::BrokerDown {
        from: secs(590),
        until: secs(620),
    });
    let r = check::<Toy<NONE>>(&s.records_may_remain());
    assert_ne!(r.verdict, Verdict::Vacuous, "{r:#?}");
}

#[test]
fn a_fault_that_hits_nothing_is_reported_and_fails_a_faults_purpose() {
    use pausebeat_scenarios::scenario::Exercise;
    // Commits fail only long after the story ended: the fault changes nothing.
    let s = scenario()
        .fault(pausebeat_world::Fault::CommitFails {
            from: secs(5000),
            until: secs(5001),
            code: pausebeat::kafka::ErrorCode::Other,
        })
        .exercises(Exercise::Faults);
    let r = check::<Toy<NONE>>(&s);
    assert_eq!(r.verdict, Verdict::Vacuous, "{r:#?}");
    assert!(
        r.exercised
            .iter()
            .any(|l| l.contains("CommitFails") && l.contains("in 0 of")),
        "{:#?}",
        r.exercised
    );
}

/// A user's design that commits ahead on purpose and says so.
struct WaivesNoLoss;
impl Design for WaivesNoLoss {
    const NAME: &'static str = "toy-waiving-no-loss";
    const ABOUT: &'static str = "commits ahead, and waives no-loss";
    const WAIVED: &'static [(Property, &'static str)] =
        &[(Property::NoLoss, "commits ahead of the handler on purpose")];
    fn start<R: Runtime, F: ConsumerFactory>(env: Env<R, F>) -> Box<dyn Instance> {
        Toy::<COMMIT_AHEAD>::start(env)
    }
}

/// A user's design that declares the violation it is known for.
struct ExpectsNoLoss;
impl Design for ExpectsNoLoss {
    const NAME: &'static str = "toy-expecting-no-loss";
    const ABOUT: &'static str = "commits ahead, and expects no-loss to fail on `toy`";
    const EXPECTATIONS: &'static [pausebeat_world::Expectation] = &[pausebeat_world::Expectation {
        scenario: "toy",
        violates: &[Property::NoLoss],
        why: "commits ahead of the handler",
    }];
    fn start<R: Runtime, F: ConsumerFactory>(env: Env<R, F>) -> Box<dyn Instance> {
        Toy::<COMMIT_AHEAD>::start(env)
    }
}

/// A design that deadlocks and waives no-loss: the waiver hides nothing else.
struct WaivesNoLossButDeadlocks;
impl Design for WaivesNoLossButDeadlocks {
    const NAME: &'static str = "toy-waiving-but-deadlocking";
    const ABOUT: &'static str = "deadlocks";
    const WAIVED: &'static [(Property, &'static str)] = &[(Property::NoLoss, "on purpose")];
    fn start<R: Runtime, F: ConsumerFactory>(env: Env<R, F>) -> Box<dyn Instance> {
        Toy::<DEADLOCK>::start(env)
    }
}

#[test]
fn a_design_declares_its_own_waivers_and_expectations() {
    // Waived: no-loss is not judged, every other property is, and it passes.
    let r = check::<WaivesNoLoss>(&scenario());
    assert_eq!(r.verdict, Verdict::Pass, "{r:#?}");
    // Expected: the violation is found and is the expected outcome.
    let r = check::<ExpectsNoLoss>(&scenario());
    assert_eq!(r.verdict, Verdict::Violation, "{r:#?}");
    assert_eq!(r.property.as_deref(), Some("no-loss"));
    assert!(r.as_expected, "{r:#?}");
    assert_eq!(r.why, "commits ahead of the handler");
    // A waiver covers one property only: exploration goes on to the others.
    let r = check::<WaivesNoLossButDeadlocks>(&scenario());
    assert_eq!(r.property.as_deref(), Some("no-deadlock"), "{r:#?}");
    assert!(!r.as_expected);
}

#[test]
fn no_loss_fails_when_a_record_reaches_the_handler_altered() {
    let r = check::<Toy<DROP_HEADERS>>(&scenario());
    assert_eq!(r.property.as_deref(), Some("no-loss"), "{r:#?}");
    assert!(
        r.message.as_deref().is_some_and(|m| m.contains("altered")),
        "{r:#?}"
    );
}
