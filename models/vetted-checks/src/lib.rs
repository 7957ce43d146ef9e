//! pausebeat's vetted consumer ([`pausebeat::consumer::Consumer`]) as a [`Design`] of the
//! scenario catalogue (`vetted`), and, in `tests/`, its checks against the modeled Kafka world:
//! deterministic stories on virtual time, and explorations under loom and shuttle.
//!
//! ```
//! use pausebeat::sync::{Runtime, Std, Virtual};
//! use pausebeat::{Handler, HandlerError, Record};
//! use pausebeat_vetted_checks::Vetted;
//! use pausebeat_world::{Design, Env, Timing, World, WorldSpec};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! struct Sink;
//! impl Handler for Sink {
//!     fn handle(&self, _batch: &[Record]) -> Result<(), HandlerError> {
//!         Ok(())
//!     }
//! }
//!
//! let rt = Virtual::<Std>::new();
//! let world = World::new(&rt, WorldSpec::default().produce(Duration::ZERO, 0, 5));
//! let env = Env {
//!     rt: rt.clone(),
//!     factory: Arc::new(world.clone()),
//!     handler: Arc::new(Sink),
//!     probe: Arc::new(world.log()),
//!     timing: Timing::default(),
//! };
//! let instance = Vetted::start(env);
//! instance.run(); // resume, read until caught up, commit, pause again
//! instance.close();
//! assert_eq!(world.snapshot().committed.get(&0), Some(&5));
//! assert!(world.snapshot().open_handles.is_empty());
//! ```

#![warn(missing_docs)]

use pausebeat::consumer::{AfterRun, Consumer, ConsumerConfig, ConsumerError};
use pausebeat::handler::Handler;
use pausebeat::kafka::ConsumerFactory;
use pausebeat::probe::Probe;
use pausebeat::sync::Runtime;
use pausebeat_world::{CallError, Design, Env, Instance, Op, Timing};
use std::sync::Arc;
use std::time::Duration;

/// The Go consumer suspends only when the next run is at least this far away
/// (`pauseOrSuspend`, `docs/go-batch-consumer.md` §3.5).
pub const SUSPEND_THRESHOLD: Duration = Duration::from_secs(60);

/// Go's `SHUTDOWN_TIMEOUT_SEC` (`docs/go-batch-consumer.md` §2), the catalogue's bound on `close()`.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// The catalogue's `vetted` design: pausebeat's own consumer.
pub struct Vetted;

/// The consumer configuration a [`Timing`] maps to: the same poll timeout, batch size, session
/// and max.poll timeouts and static instance id, pausebeat's defaults for everything else
/// (maintenance polls every `min(max.poll / 4, 10 s)`). A timing the configuration refuses
/// (its poll timeout leaves no margin below max.poll) is brought within bounds: the poll
/// timeout, the maintenance cadence and the session timeout are clamped, and this is logged.
pub fn config_for(timing: &Timing) -> ConsumerConfig {
    let builder = || {
        ConsumerConfig::builder()
            .name("vetted")
            .instance_id_opt(timing.instance_id.clone())
            .poll_timeout(timing.poll_timeout)
            .batch_size(timing.batch_size.max(1))
            .max_poll_interval(timing.max_poll_interval)
            .session_timeout(timing.session_timeout)
            // The catalogue's shutdown bound (Go's SHUTDOWN_TIMEOUT_SEC): close(), pause() and
            // suspend() wait at most this long (twice the poll timeout at least).
            .command_timeout(SHUTDOWN_TIMEOUT.max(timing.poll_timeout * 2))
    };
    match builder().build() {
        Ok(cfg) => cfg,
        Err(e) => {
            let max_poll = timing.max_poll_interval.max(Duration::from_secs(8));
            let eighth = max_poll / 8;
            let clamped = builder()
                .max_poll_interval(max_poll)
                .session_timeout(timing.session_timeout.min(max_poll))
                .poll_timeout(
                    timing
                        .poll_timeout
                        .min(eighth)
                        .max(Duration::from_millis(1)),
                )
                .heartbeat_interval(eighth)
                .retry_backoff(Duration::from_millis(500).min(eighth))
                .build();
            tracing::warn!(error = %e, ok = clamped.is_ok(), "timing outside the consumer's bounds: clamped");
            clamped.unwrap_or_default()
        }
    }
}

struct VettedInstance<R: Runtime, F: ConsumerFactory> {
    rt: R,
    timing: Timing,
    consumer: Consumer<R, F, Arc<dyn Handler>, Arc<dyn Probe>>,
}

fn call_result(r: Result<(), ConsumerError>) -> Result<(), CallError> {
    r.map_err(|e| CallError::Failed(e.to_string()))
}

impl<R: Runtime, F: ConsumerFactory> Instance for VettedInstance<R, F> {
    /// Go's `RunJob`: one run (which resumes, consumes until caught up, and returns to the
    /// mode between runs before it returns), then pause, or suspend when the next run is at
    /// least a minute away and the timing asks for it — Go's `pauseOrSuspend`, applied by the
    /// consumer as the run ends ([`AfterRun`]), so that it never interrupts a run another
    /// thread asked for meanwhile. The retry variant (`resume_first`) needs nothing more:
    /// every run resumes first.
    fn run(&self) {
        let latest_suspend = self
            .timing
            .batch_period
            .checked_sub(SUSPEND_THRESHOLD)
            .map(|d| self.rt.now() + d);
        let after = match latest_suspend {
            Some(by) if self.timing.suspend => AfterRun::SuspendIfOverBy(by),
            _ => AfterRun::Pause,
        };
        if let Err(e) = self.consumer.run_then(after) {
            tracing::info!(error = %e, "run ended with an error");
        }
    }

    fn close(&self) {
        if let Err(e) = self.consumer.close() {
            log_error("close", &e);
        }
    }

    fn pause(&self) -> Result<(), CallError> {
        call_result(self.consumer.pause())
    }

    fn resume(&self) -> Result<(), CallError> {
        self.consumer.resume();
        Ok(())
    }

    fn suspend(&self) -> Result<(), CallError> {
        call_result(self.consumer.suspend())
    }
}

fn log_error(what: &str, e: &ConsumerError) {
    tracing::debug!(error = %e, "{what} failed");
}

impl Design for Vetted {
    const NAME: &'static str = "vetted";
    const ABOUT: &'static str = "pausebeat's consumer: one owner thread owns the handle; resume never waits; restarts close the old consumer first, then reopen under the same static id";
    const OFFERS: &'static [Op] = &Op::ALL;

    fn start<R: Runtime, F: ConsumerFactory>(env: Env<R, F>) -> Box<dyn Instance> {
        let consumer = Consumer::start(
            &env.rt,
            config_for(&env.timing),
            env.factory,
            env.handler,
            env.probe.clone(),
        );
        Box::new(VettedInstance {
            rt: env.rt,
            timing: env.timing,
            consumer,
        })
    }
}
