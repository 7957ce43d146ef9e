//! What the scenario catalogue drives: a consumer *design* (the Go ports, pausebeat's vetted
//! consumer, or a user's own) started in an [`Env`] and exercised through an [`Instance`].

use crate::properties::Property;
use pausebeat::handler::Handler;
use pausebeat::kafka::ConsumerFactory;
use pausebeat::probe::Probe;
use pausebeat::sync::Runtime;
use std::sync::Arc;
use std::time::Duration;

/// The timing and mode a design runs with. The defaults are the Go consumer's
/// (`docs/go-batch-consumer.md` §2); designs map them onto their own configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timing {
    /// `session.timeout.ms` (Go default 45 s).
    pub session_timeout: Duration,
    /// `max.poll.interval.ms` (Go default 300 s).
    pub max_poll_interval: Duration,
    /// The poll timeout used everywhere (`BATCH_RUNNER_WAIT_FOR_MESSAGES_SEC`, 5 s).
    pub poll_timeout: Duration,
    /// The batch period (`BATCH_RUNNER_DEFAULT_PERIOD_SEC`, 300 s).
    pub batch_period: Duration,
    /// `SUSPEND_CONSUMERS`: close the consumer between runs when the next run is ≥ 60 s away.
    pub suspend: bool,
    /// Records per batch.
    pub batch_size: usize,
    /// The static `group.instance.id` (`None`: dynamic membership).
    pub instance_id: Option<String>,
    /// The retry-consumer variant: every run calls `resume()` before anything else (§3.4).
    pub resume_first: bool,
    /// Arm the Go consumer's mid-batch pause timer (`time.AfterFunc(maxPoll/2, pause(true))`
    /// around the handler, §3.3). It costs a thread per batch, and loom allows 5 per execution,
    /// so only the scenarios about it turn it on.
    pub mid_batch_timer: bool,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            session_timeout: Duration::from_secs(45),
            max_poll_interval: Duration::from_secs(300),
            poll_timeout: Duration::from_secs(5),
            batch_period: Duration::from_secs(300),
            suspend: false,
            batch_size: 10_000,
            instance_id: Some("a1-bulker-0".to_string()),
            resume_first: false,
            mid_batch_timer: false,
        }
    }
}

/// Everything a design is started with.
pub struct Env<R: Runtime, F: ConsumerFactory> {
    /// The runtime (virtual time under the checkers).
    pub rt: R,
    /// Where consumer handles come from (the modeled world under the checkers).
    pub factory: Arc<F>,
    /// The batch handler (the scenario's stand-in for the destination).
    pub handler: Arc<dyn Handler>,
    /// Where the design reports its events.
    pub probe: Arc<dyn Probe>,
    /// Timing and mode.
    pub timing: Timing,
}

/// An operation a scenario's workload calls on a design, from any of its application threads.
///
/// The harness logs every call it makes ([`EventKind::Call`](crate::EventKind::Call)) and its
/// return ([`EventKind::Return`](crate::EventKind::Return)); the call-level properties are judged
/// from those records. A design reports through its probe only the calls it makes itself (the Go
/// ports' runs call `resume()` and `pause()` internally).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    /// One scheduled run ([`Instance::run`]).
    Run,
    /// Pause consumption ([`Instance::pause`]).
    Pause,
    /// Resume consumption ([`Instance::resume`]).
    Resume,
    /// Close the consumer until the next run ([`Instance::suspend`]).
    Suspend,
    /// Shut down ([`Instance::close`]).
    Close,
}

impl Op {
    /// Every operation.
    pub const ALL: [Op; 5] = [Op::Run, Op::Pause, Op::Resume, Op::Suspend, Op::Close];

    /// Its name in scenarios and traces (`run`, `pause`, `resume`, `suspend`, `close`).
    ///
    /// ```
    /// use pausebeat_world::Op;
    /// assert_eq!(Op::Suspend.name(), "suspend");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Op::Run => "run",
            Op::Pause => "pause",
            Op::Resume => "resume",
            Op::Suspend => "suspend",
            Op::Close => "close",
        }
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why an operation call did not succeed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The design does not offer this operation (see [`Design::OFFERS`]).
    #[error("not offered by this design")]
    NotOffered,
    /// The operation returned an error (a timeout, a closed consumer, …).
    #[error("{0}")]
    Failed(String),
}

/// A started design, driven by a scenario's workload from one or more application threads at
/// once: every method may be called from any thread, concurrently with the others.
pub trait Instance: Send + Sync {
    /// One scheduled run (Go's `RunJob`): consume what is there in batches, hand them to the
    /// handler, commit, then pause (or suspend) until the next run.
    fn run(&self);
    /// Shut down (Go's `Retire` + `close`): must return, and every thread must end.
    fn close(&self);
    /// Pause consumption; from its return on, no batch reaches the handler until a resume.
    fn pause(&self) -> Result<(), CallError> {
        Err(CallError::NotOffered)
    }
    /// Resume consumption; must not wait on anything.
    fn resume(&self) -> Result<(), CallError> {
        Err(CallError::NotOffered)
    }
    /// Close the consumer until the next run.
    fn suspend(&self) -> Result<(), CallError> {
        Err(CallError::NotOffered)
    }
    /// Calls `op`.
    fn call(&self, op: Op) -> Result<(), CallError> {
        match op {
            Op::Run => {
                self.run();
                Ok(())
            }
            Op::Close => {
                self.close();
                Ok(())
            }
            Op::Pause => self.pause(),
            Op::Resume => self.resume(),
            Op::Suspend => self.suspend(),
        }
    }
}

/// An expected outcome of a design on one scenario: some schedule violates one of these
/// properties (the one named first, see [`Property::ALL`]), for this reason.
///
/// ```
/// use pausebeat_world::properties::Property;
/// use pausebeat_world::Expectation;
/// const E: Expectation = Expectation {
///     scenario: "resume-during-outage",
///     violates: &[Property::ResumeBounded],
///     why: "the resume hand-off waits for a heartbeat stuck in restarts",
/// };
/// assert!(E.violates.contains(&Property::ResumeBounded));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expectation {
    /// The scenario.
    pub scenario: &'static str,
    /// The properties a violating schedule may name first.
    pub violates: &'static [Property],
    /// Why, with the reference section.
    pub why: &'static str,
}

/// A consumer design the catalogue can run.
///
/// ```
/// use pausebeat::kafka::ConsumerFactory;
/// use pausebeat::sync::Runtime;
/// use pausebeat_world::{Design, Env, Instance};
///
/// /// A design that never consumes anything (it fails `no-loss` on any scenario with records).
/// struct Idle;
/// struct IdleInstance;
/// impl Instance for IdleInstance {
///     fn run(&self) {}
///     fn close(&self) {}
/// }
/// impl Design for Idle {
///     const NAME: &'static str = "idle";
///     const ABOUT: &'static str = "does nothing";
///     fn start<R: Runtime, F: ConsumerFactory>(_env: Env<R, F>) -> Box<dyn Instance> {
///         Box::new(IdleInstance)
///     }
/// }
/// ```
pub trait Design: 'static {
    /// Its name in the catalogue (`go-original`, `pr-1313`, `vetted`, …).
    const NAME: &'static str;
    /// One line on what it is.
    const ABOUT: &'static str;
    /// The operations its [`Instance`] offers to application threads. A scenario that calls
    /// another one is *not applicable* to the design (reported so, never as a pass).
    const OFFERS: &'static [Op] = &[Op::Run, Op::Close];
    /// What it is expected to violate, scenario by scenario; on every scenario not listed, every
    /// property is expected to hold.
    const EXPECTATIONS: &'static [Expectation] = &[];
    /// Properties it breaks on purpose, with why: never judged for it (the others still are).
    const WAIVED: &'static [(Property, &'static str)] = &[];
    /// (scenario, why) pairs loom does not run for it: they need more than loom's 5 threads
    /// on (nearly) every path. `list` prints the reasons.
    const LOOM_TOO_BIG: &'static [(&'static str, &'static str)] = &[];
    /// (scenario, checker, why) triples where an expected violation needs one exact
    /// preemption and the checker may miss it within the default budget: a pass is accepted
    /// there too, and reported with the reason.
    const MAY_MISS: &'static [(&'static str, &'static str, &'static str)] = &[];
    /// (scenario, why) pairs whose story cannot happen in this design (what the scenario
    /// exists to exercise never occurs, e.g. a fault that only meets a poll the design never
    /// makes): `vacuous` is the outcome expected there, and a pass or a violation is reported
    /// as unexpected (the declaration is out of date).
    const UNREACHABLE: &'static [(&'static str, &'static str)] = &[];
    /// How long after its last `close()` returned the design's threads may take to end (a
    /// thread that counts itself out of a wait group just before it exits, say), with why;
    /// `clean-shutdown` judges the threads then. The scenario's own close grace applies when
    /// longer. `list` prints it.
    const CLOSE_GRACE: (Duration, &'static str) = (Duration::ZERO, "");
    /// Starts it. Must not block; the scenario calls [`Instance::run`] when runs are due.
    fn start<R: Runtime, F: ConsumerFactory>(env: Env<R, F>) -> Box<dyn Instance>;
}
