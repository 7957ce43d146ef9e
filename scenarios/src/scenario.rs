//! Scenarios read like stories: *given* a world and its faults, *when* these operations happen at
//! these virtual times, *then* every property holds (or, for a known-bad design, the expected one
//! is violated).
//!
//! Every operation of the design ([`Op`]: run, pause, resume, suspend, close) can be a step, on
//! the main thread or on a named application thread (`.on("app-2")`); each thread plays its own
//! timeline, concurrently with the others and with the design's threads. A step's time can be
//! left to the checkers (`.between(300, 310)`, `.one_of(&[..])`): they explore the choice as
//! they explore interleavings, and it is part of the replayable schedule.
//!
//! ```
//! use pausebeat_scenarios::scenario::{secs, Scenario};
//! use pausebeat_world::Fault;
//!
//! let s = Scenario::new("outage-resume", "the broker goes down while paused; the next run resumes")
//!     .records(0, 20)
//!     .fault(Fault::BrokerDown { from: secs(100), until: secs(800) })
//!     .run_at(0)
//!     .run_at(300)
//!     .resume_at(305).on("app-2").between(301, 309)
//!     .run_at(900);
//! assert_eq!(s.steps.len(), 4);
//! assert_eq!(s.threads(), vec!["main", "app-2"]);
//! ```

use pausebeat::kafka::Partition;
pub use pausebeat_world::Op;
use pausebeat_world::Timing;
use pausebeat_world::{Fault, WorldSpec};
use std::borrow::Cow;
use std::time::Duration;

/// Seconds, for readable scenarios.
pub const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The thread that plays the steps not placed on a named one (the application's main thread,
/// Go's cron goroutine).
pub const MAIN: &str = "main";

/// When a step happens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum When {
    /// At this virtual time (or at once, if the thread is already past it).
    At(Duration),
    /// At one of these instants: the checkers choose (and explore the choice).
    OneOf(Vec<Duration>),
}

impl When {
    /// Every instant it may be.
    pub fn instants(&self) -> Vec<Duration> {
        match self {
            When::At(t) => vec![*t],
            When::OneOf(ts) => ts.clone(),
        }
    }
}

/// A workload step: on a thread, at a (possibly chosen) virtual time, an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// When.
    pub at: When,
    /// What.
    pub op: Op,
    /// Which application thread calls it ([`MAIN`] by default).
    pub thread: &'static str,
}

/// The scenario's batch handler (the stand-in for the destination).
///
/// By default a batch takes 1 s: computation costs no virtual time, and a destination that
/// answers in zero time lets the checkers order a run's next step before the heartbeat's
/// reaction to a hand-off that, in reality, takes microseconds (the `instant-handler`
/// scenario keeps that race on purpose).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandlerSpec {
    /// How long each batch takes (virtual time).
    pub delay: Duration,
    /// The handler fails the batches it is given in these windows of virtual time.
    pub fails: Vec<(Duration, Duration)>,
    /// If not empty: each batch takes one of these instead of `delay`, chosen per batch by
    /// the checkers (jitter).
    pub jitter: Vec<Duration>,
}

impl Default for HandlerSpec {
    fn default() -> Self {
        HandlerSpec {
            delay: secs(1),
            fails: Vec::new(),
            jitter: Vec::new(),
        }
    }
}

pub use pausebeat_world::properties::Bounds;

/// What a scenario exists to exercise. A check whose explored schedules never exercised one of
/// its scenario's purposes is `vacuous`, never a pass: the story did not happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exercise {
    /// Every fault of the world changed what some operation did (an operation failed or took
    /// longer because of it).
    Faults,
    /// A call of the first operation and one of the second, by the application on two
    /// threads, were in progress at once.
    Concurrent(Op, Op),
    /// The application called this operation in this situation.
    During(Op, Situation),
    /// Another member of the group handled and committed records of a partition the design's
    /// consumer held before, and the design's consumer was given the partition back afterwards.
    TakenOver,
}

/// A situation an operation can be called in (see [`Exercise::During`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Situation {
    /// A batch is in the handler.
    Batch,
    /// A restart is in flight: after a poll lost the membership (unknown member, max.poll
    /// exceeded, fenced), before the next consumer was created.
    Restart,
    /// Every broker is down (a `BrokerDown` window).
    Outage,
    /// The group's membership changed and the design's consumer has not been given its new
    /// assignment yet.
    Rebalance,
}

impl std::fmt::Display for Exercise {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exercise::Faults => write!(f, "every fault hit an operation"),
            Exercise::Concurrent(a, b) => write!(f, "{a}() and {b}() in progress at once"),
            Exercise::TakenOver => write!(
                f,
                "another member handled a partition of the consumer's, which then came back"
            ),
            Exercise::During(op, s) => {
                let s = match s {
                    Situation::Batch => "a batch is in the handler",
                    Situation::Restart => "a restart is in flight",
                    Situation::Outage => "the brokers are down",
                    Situation::Rebalance => "a rebalance is pending",
                };
                write!(f, "{op}() while {s}")
            }
        }
    }
}

/// A scenario of the catalogue.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Its name (`pausebeat verify --scenario NAME`).
    pub name: Cow<'static, str>,
    /// The story in one line.
    pub story: Cow<'static, str>,
    /// The section of `docs/go-batch-consumer.md` it follows, if any.
    pub reference: &'static str,
    /// Given: the world.
    pub world: WorldSpec,
    /// Given: the consumer's timing and mode.
    pub timing: Timing,
    /// Given: the handler.
    pub handler: HandlerSpec,
    /// When: the workload.
    pub steps: Vec<Step>,
    /// Then: the bounds.
    pub bounds: Bounds,
    /// Virtual time after which the execution is aborted.
    pub horizon: Duration,
    /// `no-loss` requires every produced record to be handled by the end (false when the story
    /// shuts the consumer down on purpose before it could read everything).
    pub all_records_due: bool,
    /// What the scenario exists to exercise (see [`Exercise`]).
    pub purpose: Vec<Exercise>,
    /// Why loom does not run it (`None`: it does). loom explores the end of an execution first;
    /// a story whose point lies early in a long execution is not reached within its budget,
    /// and a check that exercised nothing would be vacuous.
    pub no_loom: Option<&'static str>,
}

impl Scenario {
    /// A scenario with the Go defaults, one partition and nothing happening yet.
    pub fn new(name: impl Into<Cow<'static, str>>, story: impl Into<Cow<'static, str>>) -> Self {
        let timing = Timing::default();
        Scenario {
            name: name.into(),
            story: story.into(),
            reference: "",
            world: WorldSpec {
                partitions: 1,
                session_timeout: timing.session_timeout,
                max_poll_interval: timing.max_poll_interval,
                initial_rebalance_delay: std::time::Duration::ZERO,
                ..WorldSpec::default()
            },
            timing,
            handler: HandlerSpec::default(),
            steps: Vec::new(),
            bounds: Bounds::default(),
            horizon: secs(4 * 3600),
            all_records_due: true,
            purpose: Vec::new(),
            no_loom: None,
        }
    }

    /// loom does not run this scenario, for this reason.
    pub fn without_loom(mut self, why: &'static str) -> Self {
        self.no_loom = Some(why);
        self
    }

    /// The scenario exists to exercise `e`: a check where no explored schedule did is vacuous.
    pub fn exercises(mut self, e: Exercise) -> Self {
        if !self.purpose.contains(&e) {
            self.purpose.push(e);
        }
        self
    }

    /// The story shuts the consumer down before it could read every record: `no-loss` judges
    /// the commits only.
    pub fn records_may_remain(mut self) -> Self {
        self.all_records_due = false;
        self
    }

    /// The section of the reference it follows.
    pub fn reference(mut self, r: &'static str) -> Self {
        self.reference = r;
        self
    }

    /// The topic has `n` partitions.
    pub fn partitions(mut self, n: Partition) -> Self {
        self.world.partitions = n;
        self
    }

    /// `count` records are in `partition` from the start.
    pub fn records(self, partition: Partition, count: u32) -> Self {
        self.records_at(0, partition, count)
    }

    /// `count` records are produced to `partition` at `at` seconds.
    pub fn records_at(mut self, at: u64, partition: Partition, count: u32) -> Self {
        self.world.records.push((secs(at), partition, count));
        self
    }

    /// A fault of the world.
    pub fn fault(mut self, f: Fault) -> Self {
        self.world.faults.push(f);
        self
    }

    /// Another member joins the group at `joins` seconds and leaves at `leaves`; it takes its
    /// share of the partitions and fetches nothing (a process that joined and is stuck).
    pub fn member(mut self, joins: u64, leaves: Option<u64>) -> Self {
        self.world = self.world.member(secs(joins), leaves.map(secs));
        self
    }

    /// Another member joins at `joins` seconds and leaves at `leaves`, and handles and commits
    /// the records of the partitions it holds (once the design's consumer let go of them), as
    /// another instance of the service would.
    pub fn consuming_member(mut self, joins: u64, leaves: Option<u64>) -> Self {
        self.world = self.world.consuming_member(secs(joins), leaves.map(secs));
        self
    }

    /// The consumer closes itself between runs when the next run is ≥ 60 s away.
    pub fn suspending(mut self) -> Self {
        self.timing.suspend = true;
        self
    }

    /// The retry-consumer variant: every run resumes first.
    pub fn retry_variant(mut self) -> Self {
        self.timing.resume_first = true;
        self
    }

    /// Arms the Go consumer's mid-batch pause timer.
    pub fn mid_batch_timer(mut self) -> Self {
        self.timing.mid_batch_timer = true;
        self
    }

    /// Changes the timing.
    pub fn timing(mut self, f: impl FnOnce(&mut Timing)) -> Self {
        f(&mut self.timing);
        self.world.session_timeout = self.timing.session_timeout;
        self.world.max_poll_interval = self.timing.max_poll_interval;
        self
    }

    /// Every batch takes `d` in the handler.
    pub fn handler_takes(mut self, d: Duration) -> Self {
        self.handler.delay = d;
        self
    }

    /// Each batch takes one of these many seconds in the handler, chosen per batch by the
    /// checkers (and part of the replayable schedule).
    pub fn handler_takes_one_of(mut self, seconds: &[u64]) -> Self {
        self.handler.jitter = seconds.iter().copied().map(secs).collect();
        self
    }

    /// The handler fails every batch between `from` and `until` seconds.
    pub fn handler_fails(mut self, from: u64, until: u64) -> Self {
        self.handler.fails.push((secs(from), secs(until)));
        self
    }

    /// `op` is called at `at` seconds (on the main thread; see [`on`](Self::on)).
    pub fn call_at(mut self, op: Op, at: u64) -> Self {
        self.steps.push(Step {
            at: When::At(secs(at)),
            op,
            thread: MAIN,
        });
        self
    }

    /// A run at `at` seconds.
    pub fn run_at(self, at: u64) -> Self {
        self.call_at(Op::Run, at)
    }

    /// `pause()` at `at` seconds.
    pub fn pause_at(self, at: u64) -> Self {
        self.call_at(Op::Pause, at)
    }

    /// `resume()` at `at` seconds.
    pub fn resume_at(self, at: u64) -> Self {
        self.call_at(Op::Resume, at)
    }

    /// `suspend()` at `at` seconds.
    pub fn suspend_at(self, at: u64) -> Self {
        self.call_at(Op::Suspend, at)
    }

    /// The consumer is shut down at `at` seconds (a scenario always ends with a close anyway).
    pub fn close_at(self, at: u64) -> Self {
        self.call_at(Op::Close, at)
    }

    /// The previous step is called by the application thread `thread` (each thread plays its
    /// own steps in order, concurrently with the other threads).
    pub fn on(mut self, thread: &'static str) -> Self {
        if let Some(s) = self.steps.last_mut() {
            s.thread = thread;
        }
        self
    }

    /// The previous step happens at a whole second from `from` to `until` (both included),
    /// chosen by the checkers.
    pub fn between(mut self, from: u64, until: u64) -> Self {
        if let Some(s) = self.steps.last_mut() {
            s.at = When::OneOf((from..=until.max(from)).map(secs).collect());
        }
        self
    }

    /// The previous step happens at one of these seconds, chosen by the checkers.
    pub fn one_of(mut self, at: &[u64]) -> Self {
        if let Some(s) = self.steps.last_mut() {
            s.at = When::OneOf(at.iter().copied().map(secs).collect());
        }
        self
    }

    /// The application threads, [`MAIN`] first, then in the order of their first step.
    pub fn threads(&self) -> Vec<&'static str> {
        let mut out = vec![MAIN];
        for s in &self.steps {
            if !out.contains(&s.thread) {
                out.push(s.thread);
            }
        }
        out
    }

    /// The steps of application thread `thread`, in order.
    pub fn steps_on(&self, thread: &str) -> Vec<Step> {
        self.steps
            .iter()
            .filter(|s| s.thread == thread)
            .cloned()
            .collect()
    }

    /// The operations the scenario calls.
    pub fn ops(&self) -> Vec<Op> {
        let mut ops: Vec<Op> = self.steps.iter().map(|s| s.op).collect();
        ops.push(Op::Close); // the closing teardown
        ops.sort();
        ops.dedup();
        ops
    }

    /// Changes the bounds.
    pub fn bounds(mut self, f: impl FnOnce(&mut Bounds)) -> Self {
        f(&mut self.bounds);
        self
    }

    /// True if the story closes the consumer (a `close_at` step).
    pub fn closes(&self) -> bool {
        self.steps.iter().any(|s| s.op == Op::Close)
    }

    /// The number of records the scenario produces.
    pub fn total_records(&self) -> u64 {
        self.world.records.iter().map(|r| u64::from(r.2)).sum()
    }
}
