//! pausebeat's batch consumer: pause, resume, suspend, periodic runs and self-healing restarts,
//! with one thread owning the Kafka consumer handle.
//!
//! # Design
//!
//! * **One owner thread** holds the consumer handle (inside its loop's state, never shared) and is
//!   the only thread that ever polls, pauses, resumes, seeks, commits or closes it. The API
//!   talks to it with commands over the sync abstraction's channels. A restart closes the old
//!   handle before it creates the new one, in that same thread. Nothing can use a handle
//!   concurrently, and there is never more than one handle.
//! * **A handler thread** runs the user's [`Handler`] on batches of records. It never sees the
//!   consumer. While a slow destination works on a batch, the owner keeps polling, so the group
//!   membership survives.
//! * **`resume()` never waits.** It stores the requested mode in an atomic and wakes the owner
//!   with a non-blocking send on a capacity-1 channel (a full channel means a wake-up is
//!   already pending). The owner applies the request to the *current* handle:
//!   * as soon as it is back in its loop: at most one poll timeout
//!     ([`ConsumerConfig::maintenance_poll_timeout`] while paused);
//!   * or when it creates the next handle, if it is between handles.
//! * **Requested vs applied.** The rebalance hook applies the owner's current fetch target to
//!   every newly assigned partition, *after* the assignment. It pauses them while paused, and
//!   **resumes** them otherwise, because librdkafka keeps a stale pause flag across revoke and
//!   reassign.
//! * **Paused keeps the membership.** One short poll every
//!   [`heartbeat_interval`](ConsumerConfig::heartbeat_interval) (default `min(max.poll / 4,
//!   10 s)`; the configuration refuses settings that leave less than half of max.poll as margin).
//!   A record that slips through is rewound with a seek, never handed out and never dropped.
//! * **Commits** only after the handler succeeded, only for partitions not revoked since the
//!   batch was read (assignment epochs). A failed batch is sought back and read again.
//! * **Restarts** on a lost membership (max.poll exceeded, fenced, unknown member, fatal) or on
//!   repeated non-retriable errors. The old handle is closed first, then a new one is created
//!   under the same static id: it takes the closed member's place in the group without a
//!   rebalance (KIP-345), and since the old handle is closed, nobody is fenced. Failed creates
//!   are retried with backoff while commands are still served. A
//!   broker outage is transient: the consumer backs off and keeps polling, without restarting.
//!
//! Thread count: the caller's threads, plus `<name>-owner` and `<name>-handler` (plus
//! `<name>-scheduler` with [`Consumer::run_every`]).
//!
//! # Example
//!
//! ```
//! use pausebeat::consumer::{Consumer, ConsumerConfig, ConsumerState};
//! use pausebeat::consumer::memory::MemoryTopic;
//! use pausebeat::{Handler, HandlerError, NoProbe, Record};
//! use pausebeat::sync::{Std, Virtual};
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::time::Duration;
//!
//! struct Count(AtomicUsize);
//! impl Handler for Count {
//!     fn handle(&self, batch: &[Record]) -> Result<(), HandlerError> {
//!         self.0.fetch_add(batch.len(), Ordering::SeqCst);
//!         Ok(())
//!     }
//! }
//!
//! let rt = Virtual::<Std>::new(); // virtual time: the example runs in microseconds
//! let topic = MemoryTopic::new(&rt, 2);
//! for i in 0..10u8 {
//!     topic.produce(i32::from(i % 2), vec![i]);
//! }
//! let cfg = ConsumerConfig::builder().instance_id("app-0").batch_size(4).build().unwrap();
//! let count = Arc::new(Count(AtomicUsize::new(0)));
//! // Arc<H> is a Handler too: the application keeps a reference to its handler.
//! let consumer = Consumer::start(&rt, cfg, Arc::new(topic.clone()), count.clone(), NoProbe);
//!
//! let report = consumer.run_once().unwrap(); // read until caught up, commit, then pause again
//! assert_eq!(report.records, 10);
//! assert_eq!(count.0.load(Ordering::SeqCst), 10);
//! assert_eq!(consumer.status().state, ConsumerState::Paused);
//!
//! consumer.resume(); // returns at once; the owner applies it
//! consumer.pause().unwrap();
//! consumer.suspend().unwrap(); // closes the consumer until the next run
//! assert_eq!(topic.open_handles(), 0);
//! consumer.close().unwrap();
//! assert_eq!(topic.committed(0), Some(5));
//! ```

#[cfg(feature = "tokio")]
mod awaitable;
mod config;
mod error;
pub mod memory;
mod owner;
mod shared;
mod worker;

#[cfg(test)]
mod tests;

pub use config::{ConfigError, ConsumerConfig, ConsumerConfigBuilder};
pub use error::ConsumerError;

use crate::handler::Handler;
use crate::kafka::{ConsumerFactory, RebalanceHook};
use crate::probe::{DesignEvent, NoProbe, Probe};
use crate::sync::{
    Chan, Instant, JoinHandle, Mutex, RecvArm, RecvError, Runtime, Select, Ticker, TrySendError,
};
use owner::{Command, Owner, RunReply};
use shared::Mode as RequestedMode;
use shared::{Hook, Mode, Shared};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;
use worker::Worker;

/// What the consumer is doing, as [`Consumer::status`] reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ConsumerState {
    /// No consumer opened yet (before the first run or `resume()`).
    #[default]
    Idle = 0,
    /// Open and consuming: a run is in progress, or `resume()` was called.
    Running = 1,
    /// Open, partitions paused, the membership kept by maintenance polls.
    Paused = 2,
    /// Closed by `suspend()` until the next run.
    Suspended = 3,
    /// Between a broken consumer and its replacement.
    Restarting = 4,
    /// Closed for good.
    Closed = 5,
    /// `close()` is under way: the client is closing the consumer handle (which takes what the
    /// client takes; `close()` waits for it).
    Closing = 6,
}

impl ConsumerState {
    fn from_u64(v: u64) -> ConsumerState {
        match v {
            1 => ConsumerState::Running,
            2 => ConsumerState::Paused,
            3 => ConsumerState::Suspended,
            4 => ConsumerState::Restarting,
            5 => ConsumerState::Closed,
            6 => ConsumerState::Closing,
            _ => ConsumerState::Idle,
        }
    }
}

/// A snapshot of the consumer's state and counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// What it is doing.
    pub state: ConsumerState,
    /// Records the handler finished successfully.
    pub records_handled: u64,
    /// Batches the handler finished successfully.
    pub batches: u64,
    /// Successful commits.
    pub commits: u64,
    /// Consumers replaced.
    pub restarts: u64,
    /// Consumer handles created.
    pub consumers_created: u64,
    /// Consumer handles closed.
    pub consumers_closed: u64,
    /// Records sought back: they slipped through a pause, or no batch had room for them.
    pub records_rewound: u64,
    /// The latest error, if any.
    pub last_error: Option<ConsumerError>,
}

/// What one run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Records the handler finished.
    pub records: u64,
    /// Batches the handler finished.
    pub batches: u64,
    /// Successful commits.
    pub commits: u64,
    /// The state the run left the consumer in: the requested mode (`Paused`, `Suspended`,
    /// `Running` after `resume()`), or `Restarting`.
    pub ended_in: ConsumerState,
}

/// The API side of the link to the owner: cheap to clone.
struct Link<R: Runtime, P: Probe> {
    rt: R,
    cfg: Arc<ConsumerConfig>,
    shared: Arc<Shared<R, P>>,
    commands: Chan<R, Command<R>>,
    wake: Chan<R, ()>,
    handler_thread: Arc<str>,
}

impl<R: Runtime, P: Probe> Clone for Link<R, P> {
    fn clone(&self) -> Self {
        Link {
            rt: self.rt.clone(),
            cfg: self.cfg.clone(),
            shared: self.shared.clone(),
            commands: self.commands.clone(),
            wake: self.wake.clone(),
            handler_thread: self.handler_thread.clone(),
        }
    }
}

impl<R: Runtime, P: Probe> Link<R, P> {
    fn note(&self, e: DesignEvent) {
        self.shared.probe.note(e);
    }

    fn on_handler_thread(&self) -> bool {
        self.rt.thread_name() == *self.handler_thread
    }

    /// The time the client has spent inside its creates and closes of handles, up to `now`
    /// (see [`within_close_bound`](Self::within_close_bound)), and whether one is in progress.
    fn client_call_clock(&self, now: Instant) -> (Duration, bool) {
        if crate::mutants::active("close-abandons-slow-close") {
            return (Duration::ZERO, false); // the client's call time counted against the bound
        }
        self.shared.client_calls.with(|c| c.clock(now))
    }

    /// What is left of the close bound counted from `start` (the time inside client calls
    /// not counted; `before` is the client-call clock at `start`), and whether a client call
    /// is in progress now; and now.
    fn close_bound_left(
        &self,
        start: Instant,
        before: (Duration, bool),
    ) -> (Duration, bool, Instant) {
        let now = self.rt.now();
        let (clock, in_call) = self.client_call_clock(now);
        let outside = (now - start).saturating_sub(clock.saturating_sub(before.0));
        (
            self.cfg.command_timeout().saturating_sub(outside),
            in_call,
            now,
        )
    }

    /// Waits for a signal on `done` for at most the close bound counted from `start`, not
    /// counting the time the client spends inside its own creates and closes of handles
    /// meanwhile (a restart's close or create, the final close): that ends when the client's
    /// call does, which no design can shorten, and giving up inside it would leave the owner
    /// running after `close()`. `before` is the client-call clock at `start`. False at the
    /// bound.
    fn within_close_bound(
        &self,
        done: &Chan<R, ()>,
        start: Instant,
        before: (Duration, bool),
    ) -> bool {
        loop {
            let (left, in_call, now) = self.close_bound_left(start, before);
            let mut d = RecvArm::new(done);
            let mut e = RecvArm::new(&self.shared.client_call_ended);
            let mut select = Select::new(&self.rt, "close: wait").arm(&mut d);
            if in_call {
                // No deadline inside a client call: its end rings `client_call_ended`.
                select = select.arm(&mut e);
            } else {
                select = select.deadline(now + left);
            }
            let fired = select.wait();
            if d.take().is_some() {
                return true;
            }
            if fired.is_none() && left.is_zero() {
                return false;
            }
        }
    }

    /// Sends a command and waits (at most the command timeout) for its reply.
    fn call<T: Send>(
        &self,
        what: &'static str,
        make: impl FnOnce(Chan<R, T>) -> Command<R>,
    ) -> Result<T, ConsumerError> {
        let bound = self.cfg.command_timeout();
        let deadline = self.rt.now() + bound;
        let reply: Chan<R, T> = Chan::new(&self.rt, 1);
        self.commands
            .send_timeout(make(reply.clone()), bound)
            .map_err(|e| match e {
                TrySendError::Full(_) => ConsumerError::Timeout { what, after: bound },
                TrySendError::Closed(_) => ConsumerError::Closed,
            })?;
        match reply.recv_timeout(deadline.saturating_since(self.rt.now())) {
            Ok(v) => Ok(v),
            Err(RecvError::Empty) => Err(ConsumerError::Timeout { what, after: bound }),
            Err(RecvError::Closed) => Err(ConsumerError::Closed),
        }
    }

    // The public calls (resume, pause, suspend, run_once, close) are not reported to the probe:
    // their caller sees them (the checkers' harness records every call it makes). The probe
    // hears only what the consumer does on its own: the resume a run implies, and the pause or
    // suspend it returns to at the end of a run.

    fn resume(&self) {
        self.shared.request(Mode::Running);
        // Full: a wake-up is pending already. Closed cannot happen (the wake channel is never
        // closed); after close() the owner is gone and the request is moot.
        let _ = self.wake.try_send(());
        if crate::mutants::active("resume-waits") {
            // Waits until the owner reports it running (bounded by the command timeout).
            let deadline = self.rt.now() + self.cfg.command_timeout();
            while self.shared.state() != ConsumerState::Running && self.rt.now() < deadline {
                self.rt.sleep(Duration::from_millis(100));
            }
        }
    }

    fn pause(&self) -> Result<(), ConsumerError> {
        self.shared.request(Mode::Paused);
        if self.on_handler_thread() {
            // From inside the handler: the owner hands no further batch once it sees the mode;
            // waiting for it here would wait for this very batch to end.
            let _ = self.wake.try_send(());
            Ok(())
        } else {
            self.call("pause", |reply| Command::Pause { reply })
        }
    }

    fn suspend(&self) -> Result<(), ConsumerError> {
        self.shared.request(Mode::Suspended);
        self.call("suspend", |reply| Command::Suspend { reply })
            .and_then(|r| r)
    }

    /// A run consumes: when the consumer was paused or suspended, it is an implied resume (and
    /// the owner returns to that mode at the end: an implied pause or suspend).
    fn implied_resume(&self) {
        if self.shared.mode() != Mode::Running {
            self.note(DesignEvent::ResumeCalled);
            let _ = self.wake.try_send(());
            self.note(DesignEvent::ResumeReturned { ok: true });
        }
    }

    fn run_then(&self, after: AfterRun) -> Result<RunReport, ConsumerError> {
        if self.on_handler_thread() {
            return Err(ConsumerError::CalledFromHandler("run_once"));
        }
        self.implied_resume();
        let reply: Chan<R, RunReply> = Chan::new(&self.rt, 1);
        let sent = self
            .commands
            .send_timeout(
                Command::Run {
                    reply: reply.clone(),
                    after,
                },
                self.cfg.command_timeout(),
            )
            .map_err(|e| match e {
                TrySendError::Full(_) => ConsumerError::Timeout {
                    what: "run_once",
                    after: self.cfg.command_timeout(),
                },
                TrySendError::Closed(_) => ConsumerError::Closed,
            });
        // The run takes as long as catching up takes; the owner always replies (or its
        // unwinding closes the reply channel).
        sent.and_then(|()| match reply.recv() {
            Some(RunReply { result }) => result,
            None => Err(ConsumerError::Closed),
        })
    }
}

/// What the consumer does once a run started by [`Consumer::run_then`] is over.
///
/// The owner applies it itself, as the run ends: a run another thread asked for meanwhile
/// (coalesced into one more run) is therefore never interrupted by it, as it would be by a
/// `pause()` or `suspend()` called after the run returned. When another run is waiting, the
/// choice passes to it (the latest non-default choice wins), as a batch job's "pause or
/// suspend after the run" comes after the extra runs it coalesced.
///
/// ```
/// use pausebeat::consumer::AfterRun;
/// use pausebeat::sync::{Runtime, Std, Virtual};
/// use std::time::Duration;
///
/// // Suspend after the run if it is over within four minutes (the next run is then at least
/// // a minute away in a five-minute period), else stay paused.
/// let rt = Virtual::<Std>::new();
/// let after = AfterRun::SuspendIfOverBy(rt.now() + Duration::from_secs(240));
/// assert_ne!(after, AfterRun::Pause);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AfterRun {
    /// Return to the requested mode: paused (the default), suspended after a `suspend()`, or
    /// running after a `resume()` ([`Consumer::run_once`]).
    #[default]
    RequestedMode,
    /// Pause, as [`Consumer::pause`] would (a consumer suspended before the run, by
    /// [`Consumer::suspend`], stays suspended: a pause never reopens it).
    Pause,
    /// Suspend (close the consumer until the next run), as [`Consumer::suspend`] would.
    Suspend,
    /// Suspend if the run is over by this instant, else pause.
    SuspendIfOverBy(Instant),
}

impl AfterRun {
    /// The mode to request for a run over at `now`, if any.
    fn mode_at(self, now: Instant) -> Option<RequestedMode> {
        match self {
            AfterRun::RequestedMode => None,
            AfterRun::Pause => Some(RequestedMode::Paused),
            AfterRun::Suspend => Some(RequestedMode::Suspended),
            AfterRun::SuspendIfOverBy(t) if now <= t => Some(RequestedMode::Suspended),
            AfterRun::SuspendIfOverBy(_) => Some(RequestedMode::Paused),
        }
    }
}

/// The threads behind a consumer, joined by `close()`.
struct Threads<R: Runtime> {
    owner: JoinHandle<R, ()>,
    owner_exited: Chan<R, ()>,
    worker: JoinHandle<R, ()>,
    worker_exited: Chan<R, ()>,
}

/// pausebeat's batch consumer. See the [module documentation](self) for the design.
///
/// Generic over the runtime `R` (`StdRuntime` in production, virtual time under the checkers),
/// the consumer factory `F` (rdkafka, the modeled world, [`memory::MemoryTopic`]), the handler
/// `H` and the probe `P` ([`NoProbe`] in production), all statically dispatched.
///
/// Every method takes `&self`; the consumer is `Sync`, so an `Arc<Consumer>` can be shared by
/// the threads that drive it.
pub struct Consumer<R: Runtime, F: ConsumerFactory, H: Handler, P: Probe = NoProbe> {
    link: Link<R, P>,
    threads: Mutex<R, Option<Threads<R>>>,
    /// `F` and `H` are moved into the owner and handler threads; the API side holds neither.
    _moved: PhantomData<fn() -> (F, H)>,
}

impl<R: Runtime, F: ConsumerFactory, H: Handler, P: Probe> Consumer<R, F, H, P> {
    /// Starts the owner and handler threads. No consumer handle is created yet: the first
    /// [`run_once`](Self::run_once) (or [`resume`](Self::resume)) opens it.
    pub fn start(rt: &R, cfg: ConsumerConfig, factory: Arc<F>, handler: H, probe: P) -> Self {
        let cfg = Arc::new(cfg);
        let shared = Arc::new(Shared::new(rt, probe));
        let hook: Arc<dyn RebalanceHook<F::Handle>> = Arc::new(Hook {
            shared: shared.clone(),
        });
        let commands: Chan<R, Command<R>> = Chan::new(rt, 16);
        let wake: Chan<R, ()> = Chan::new(rt, 1);
        let owner_exited: Chan<R, ()> = Chan::new(rt, 1);
        let mut worker = Worker::spawn(rt, format!("{}-handler", cfg.name()), handler);
        let handler_thread: Arc<str> = Arc::from(worker.name());
        let worker_exited = worker.exited.clone();
        let worker_thread = worker.thread.take();
        let owner = Owner::new(
            rt.clone(),
            cfg.clone(),
            factory,
            shared.clone(),
            hook,
            commands.clone(),
            wake.clone(),
            owner_exited.clone(),
            worker,
        );
        let owner_thread = rt.spawn(&format!("{}-owner", cfg.name()), move || owner.run());
        let threads = worker_thread.map(|worker| Threads {
            owner: owner_thread,
            owner_exited,
            worker,
            worker_exited,
        });
        Consumer {
            link: Link {
                rt: rt.clone(),
                cfg,
                shared,
                commands,
                wake,
                handler_thread,
            },
            threads: Mutex::new(threads),
            _moved: PhantomData,
        }
    }

    /// Resumes consumption: from now on every record is handed to the handler.
    ///
    /// Never waits on the owner, a restart or the broker. It stores the request and wakes the
    /// owner, which applies it to the current consumer. That happens within one poll timeout,
    /// or when the next consumer is created if the owner is between consumers. A suspended
    /// consumer stays closed until the next [`run_once`](Self::run_once); a consumer never
    /// opened is opened.
    pub fn resume(&self) {
        self.link.resume()
    }

    /// Pauses consumption: pauses the assigned partitions and keeps the group membership with
    /// maintenance polls.
    ///
    /// Returns once no batch is in the handler and the partitions are paused. After that, no
    /// batch reaches the handler until the next `resume()` or run. A run in progress ends with
    /// [`ConsumerError::Interrupted`]. Records read and not handed are sought back, never
    /// dropped. Waits at most [`ConsumerConfig::command_timeout`] (then
    /// [`ConsumerError::Timeout`], and the pause still takes effect after the batch). Called
    /// from inside the handler, it returns at once and the batch in progress is the last one.
    pub fn pause(&self) -> Result<(), ConsumerError> {
        self.link.pause()
    }

    /// Closes the consumer until the next run. Returns after the handle was closed, within
    /// [`ConsumerConfig::command_timeout`]. A run in progress ends with
    /// [`ConsumerError::Interrupted`]; a batch in the handler is not committed (it is read
    /// again). A restart in progress stops: no consumer is created until the next
    /// [`run_once`](Self::run_once). Runs after a suspend close the consumer again when they end.
    pub fn suspend(&self) -> Result<(), ConsumerError> {
        self.link.suspend()
    }

    /// One run, as a batch period's scheduled job:
    /// 1. opens the consumer if it is not open;
    /// 2. reads batches until caught up (a poll finds nothing new);
    /// 3. hands each batch to the handler and commits it after the handler succeeded;
    /// 4. returns the consumer to the requested mode: paused (the default), suspended, or
    ///    running after `resume()`.
    ///
    /// Blocks its caller until the run is over. Runs requested while one is in progress are
    /// coalesced into one more run. A failed batch ends the run with the handler's error; it is
    /// not committed and is read again at the next run. Must not be called from the handler.
    pub fn run_once(&self) -> Result<RunReport, ConsumerError> {
        self.link.run_then(AfterRun::RequestedMode)
    }

    /// [`run_once`](Self::run_once), then pause or suspend as `after` says, applied by the
    /// consumer as the run ends (see [`AfterRun`]): a batch job's run-then-pause that never
    /// interrupts a run another thread asked for meanwhile, as a `pause()` after
    /// `run_once()` would.
    ///
    /// ```
    /// use pausebeat::consumer::memory::MemoryTopic;
    /// use pausebeat::consumer::{AfterRun, Consumer, ConsumerConfig, ConsumerState};
    /// use pausebeat::{Handler, HandlerError, NoProbe, Record};
    /// use pausebeat::sync::{Std, Virtual};
    /// use std::sync::Arc;
    ///
    /// struct Ignore;
    /// impl Handler for Ignore {
    ///     fn handle(&self, _batch: &[Record]) -> Result<(), HandlerError> {
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let rt = Virtual::<Std>::new();
    /// let topic = MemoryTopic::new(&rt, 1);
    /// topic.produce(0, vec![1]);
    /// let cfg = ConsumerConfig::builder().build().unwrap();
    /// let consumer = Consumer::start(&rt, cfg, Arc::new(topic.clone()), Ignore, NoProbe);
    /// let report = consumer.run_then(AfterRun::Suspend).unwrap();
    /// assert_eq!(report.records, 1);
    /// assert_eq!(consumer.status().state, ConsumerState::Suspended);
    /// assert_eq!(topic.open_handles(), 0);
    /// consumer.close().unwrap();
    /// ```
    pub fn run_then(&self, after: AfterRun) -> Result<RunReport, ConsumerError> {
        self.link.run_then(after)
    }

    /// A snapshot of the state and counters (a few atomic loads).
    pub fn status(&self) -> Status {
        self.link.shared.status()
    }

    /// The configuration.
    pub fn config(&self) -> &ConsumerConfig {
        &self.link.cfg
    }

    /// A cloneable handle to this consumer's controls (no `close`), e.g. for another thread.
    pub fn controller(&self) -> Controller<R, P> {
        Controller {
            link: self.link.clone(),
        }
    }

    /// Calls [`run_once`](Self::run_once) every `period` on a scheduler thread
    /// (`<name>-scheduler`) until the returned [`PeriodicRuns`] is stopped or dropped. A run
    /// longer than the period delays the next one (ticks do not pile up).
    pub fn run_every(&self, period: Duration) -> PeriodicRuns<R> {
        PeriodicRuns::start(self.controller(), period)
    }

    /// Shuts down: stops the owner, which closes the consumer (once), and joins the threads.
    ///
    /// Returns within [`ConsumerConfig::command_timeout`] plus the time the client spends
    /// inside its own closes of handles meanwhile (the owner finishes the consumer call it is
    /// in, at most one poll timeout, or a restart's close of the old handle, then closes the
    /// handle; `close` waits for the client's closes however long they take, so that no thread
    /// of the consumer outlives the call). A
    /// batch in the handler is not committed; the handler thread ends when the batch does, and
    /// `close` waits for that within the same bound ([`ConsumerError::Timeout`] otherwise, the
    /// thread then ends on its own). Calling it again does nothing.
    pub fn close(&self) -> Result<(), ConsumerError> {
        if self.link.on_handler_thread() {
            return Err(ConsumerError::CalledFromHandler("close"));
        }
        let Some(t) = self.threads.with(|t| t.take()) else {
            return Ok(());
        };
        self.link.commands.close();
        if crate::mutants::active("close-does-not-wait") {
            return Ok(());
        }
        let timeout = ConsumerError::Timeout {
            what: "close",
            after: self.link.cfg.command_timeout(),
        };
        // Both threads signal on their way out; then joining them does not wait.
        let start = self.link.rt.now();
        let before = self.link.client_call_clock(start);
        if !self.link.within_close_bound(&t.owner_exited, start, before) {
            return Err(timeout);
        }
        let owner = t.owner.join();
        if !self
            .link
            .within_close_bound(&t.worker_exited, start, before)
        {
            return Err(timeout);
        }
        let worker = t.worker.join();
        match (owner, worker) {
            (Ok(()), Ok(())) => Ok(()),
            _ => Err(ConsumerError::OwnerPanicked),
        }
    }
}

impl<R: Runtime, F: ConsumerFactory, H: Handler, P: Probe> Drop for Consumer<R, F, H, P> {
    /// Without `close()`: tells the owner to stop (it closes the consumer handle and tells the
    /// handler thread to end after its batch) and returns without waiting; the threads end on
    /// their own.
    fn drop(&mut self) {
        if self.threads.with(|t| t.is_some()) {
            self.link.commands.close();
        }
    }
}

/// A cloneable handle to a [`Consumer`]'s controls, for other threads.
pub struct Controller<R: Runtime, P: Probe = NoProbe> {
    link: Link<R, P>,
}

impl<R: Runtime, P: Probe> Clone for Controller<R, P> {
    fn clone(&self) -> Self {
        Controller {
            link: self.link.clone(),
        }
    }
}

impl<R: Runtime, P: Probe> Controller<R, P> {
    /// See [`Consumer::resume`].
    pub fn resume(&self) {
        self.link.resume()
    }
    /// See [`Consumer::pause`].
    pub fn pause(&self) -> Result<(), ConsumerError> {
        self.link.pause()
    }
    /// See [`Consumer::suspend`].
    pub fn suspend(&self) -> Result<(), ConsumerError> {
        self.link.suspend()
    }
    /// See [`Consumer::run_once`].
    pub fn run_once(&self) -> Result<RunReport, ConsumerError> {
        self.link.run_then(AfterRun::RequestedMode)
    }
    /// See [`Consumer::run_then`].
    pub fn run_then(&self, after: AfterRun) -> Result<RunReport, ConsumerError> {
        self.link.run_then(after)
    }
    /// See [`Consumer::status`].
    pub fn status(&self) -> Status {
        self.link.shared.status()
    }
}

/// Periodic runs started by [`Consumer::run_every`].
pub struct PeriodicRuns<R: Runtime> {
    stop: Chan<R, ()>,
    thread: Option<JoinHandle<R, ()>>,
}

impl<R: Runtime> PeriodicRuns<R> {
    fn start<P: Probe>(controller: Controller<R, P>, period: Duration) -> Self {
        let rt = controller.link.rt.clone();
        let stop: Chan<R, ()> = Chan::new(&rt, 0);
        let stop2 = stop.clone();
        let name = format!("{}-scheduler", controller.link.cfg.name());
        let rt2 = rt.clone();
        let thread = rt.spawn(&name, move || {
            let mut ticker = Ticker::new(&rt2, period);
            loop {
                let stopped = {
                    let mut s = crate::sync::RecvArm::new(&stop2);
                    Select::new(&rt2, "scheduler: next run")
                        .arm(&mut s)
                        .arm(&mut ticker)
                        .wait()
                        == Some(0)
                };
                if stopped {
                    break;
                }
                match controller.run_once() {
                    Ok(report) => tracing::debug!(?report, "periodic run"),
                    Err(ConsumerError::Closed) => break,
                    Err(e) => tracing::warn!(error = %e, "periodic run failed"),
                }
            }
        });
        PeriodicRuns {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the runs and waits for the run in progress, if any, to end.
    pub fn stop(mut self) {
        self.stop.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl<R: Runtime> Drop for PeriodicRuns<R> {
    /// Stops the runs without waiting.
    fn drop(&mut self) {
        self.stop.close();
    }
}
