//! Scenarios read like stories: *given* a world and its faults, *when* these operations happen at
//! these virtual times, *then* every property holds (or, for a known-bad design, the expected one
//! is violated).
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
//!     .run_at(900);
//! assert_eq!(s.steps.len(), 3);
//! ```

use pausebeat::kafka::Partition;
use pausebeat_world::Timing;
use pausebeat_world::{Fault, OtherMember, WorldSpec};
use std::time::Duration;

/// Seconds, for readable scenarios.
pub const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// What the scenario's main thread (the application, Go's cron goroutine) does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// One scheduled run.
    Run,
    /// Shut the consumer down.
    Close,
}

/// A workload step: at a virtual time, an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// When.
    pub at: Duration,
    /// What.
    pub action: Action,
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
}

impl Default for HandlerSpec {
    fn default() -> Self {
        HandlerSpec {
            delay: secs(1),
            fails: Vec::new(),
        }
    }
}

pub use pausebeat_world::properties::Bounds;

/// A scenario of the catalogue.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Its name (`pausebeat verify --scenario NAME`).
    pub name: &'static str,
    /// The story in one line.
    pub story: &'static str,
    /// The section of `go-batch-consumer.md` (or `prior-art.md`) it follows, if any.
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
}

impl Scenario {
    /// A scenario with the Go defaults, one partition and nothing happening yet.
    pub fn new(name: &'static str, story: &'static str) -> Self {
        let timing = Timing::default();
        Scenario {
            name,
            story,
            reference: "",
            world: WorldSpec {
                partitions: 1,
                session_timeout: timing.session_timeout,
                max_poll_interval: timing.max_poll_interval,
                ..WorldSpec::default()
            },
            timing,
            handler: HandlerSpec::default(),
            steps: Vec::new(),
            bounds: Bounds::default(),
            horizon: secs(4 * 3600),
        }
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

    /// Another member joins the group at `joins` seconds and leaves at `leaves`.
    pub fn member(mut self, joins: u64, leaves: Option<u64>) -> Self {
        self.world.members.push(OtherMember {
            joins_at: secs(joins),
            leaves_at: leaves.map(secs),
        });
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

    /// The handler fails every batch between `from` and `until` seconds.
    pub fn handler_fails(mut self, from: u64, until: u64) -> Self {
        self.handler.fails.push((secs(from), secs(until)));
        self
    }

    /// A run at `at` seconds.
    pub fn run_at(mut self, at: u64) -> Self {
        self.steps.push(Step {
            at: secs(at),
            action: Action::Run,
        });
        self
    }

    /// The consumer is shut down at `at` seconds (a scenario always ends with a close anyway).
    pub fn close_at(mut self, at: u64) -> Self {
        self.steps.push(Step {
            at: secs(at),
            action: Action::Close,
        });
        self
    }

    /// Changes the bounds.
    pub fn bounds(mut self, f: impl FnOnce(&mut Bounds)) -> Self {
        f(&mut self.bounds);
        self
    }

    /// True if the story closes the consumer (a `close_at` step).
    pub fn closes(&self) -> bool {
        self.steps.iter().any(|s| s.action == Action::Close)
    }

    /// The number of records the scenario produces.
    pub fn total_records(&self) -> u64 {
        self.world.records.iter().map(|r| u64::from(r.2)).sum()
    }
}
