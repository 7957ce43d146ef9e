//! The owner thread: the one and only thread that ever touches a consumer handle.
//!
//! The handle lives in [`Phase::Open`], a variant of a value owned by the owner's loop; it is
//! never put in an `Arc`, never stored where another thread could reach it, and closed (once)
//! before it is dropped. Polling, pausing, resuming, seeking, committing and closing are
//! therefore serial by construction (`handle-exclusive`), and since a new handle is only created
//! after the previous one was closed, there is never more than one (`single-consumer`).
//!
//! The loop, one step at a time:
//!
//! ```text
//!            run/resume               membership lost, or N non-retriable errors
//!   Idle ───────────────▶ Open ◀──────────────────────────────────────┐
//!                        │  ▲ │ close old handle, then create `<id>-r<N>`  │
//!            suspend     │  │ └──────────────────────▶ Restarting ──────┘
//!   Suspended ◀──────────┘  │ run              create failed: backoff ×2, │
//!        │ ▲                │                  serving commands meanwhile │
//!        │ └────────────────┼──────────── suspend ◀────────────────────────┘
//!        └──────────────────┘
//!                 (any) ── close ──▶ Stopped
//! ```
//!
//! Inside `Open` the owner either *consumes* (a run is active, or the mode is `Running`: poll,
//! collect a batch, hand it to the handler thread, commit after it succeeded) or *maintains*
//! (paused: partitions paused, one short poll every heartbeat interval, any record that slips
//! through is rewound). Whenever it is not inside a consumer call it waits on one `Select` over
//! its command channel, the resume wake-up channel and the handler's verdicts, with the next
//! poll's deadline, so no request waits longer than the consumer call in progress.

use super::config::ConsumerConfig;
use super::error::ConsumerError;
use super::shared::{Mode, Shared};
use super::worker::Worker;
use super::{ConsumerState, RunReport};
use crate::handler::HandlerError;
use crate::kafka::{
    ConsumerFactory, ConsumerHandle, ErrorCode, KafkaError, Offset, Partition, RebalanceHook,
    Record,
};
use crate::mutants;
use crate::probe::{DesignEvent, Probe};
use crate::sync::{Chan, Instant, RecvArm, RecvError, Runtime, Select};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// What a `run_once()` caller gets back: the run's result.
pub(crate) struct RunReply {
    pub result: Result<RunReport, ConsumerError>,
}

/// A request from an API thread. `resume()` is not one: it never waits, so it only stores the
/// requested mode and wakes the owner.
pub(crate) enum Command<R: Runtime> {
    /// Run until caught up, then return to the requested mode and reply.
    Run { reply: Chan<R, RunReply> },
    /// Reply once no batch is in the handler and the partitions are paused (or a newer request
    /// superseded the pause).
    Pause { reply: Chan<R, ()> },
    /// Close the handle (bounded) and reply; stay closed until the next run.
    Suspend {
        reply: Chan<R, Result<(), ConsumerError>>,
    },
}

/// Whether `e` is a passing condition (the broker is unreachable) rather than a broken handle.
fn transient(e: &KafkaError) -> bool {
    e.is_retriable()
        || matches!(
            e.code,
            ErrorCode::BrokerTransport | ErrorCode::AllBrokersDown | ErrorCode::TimedOut
        )
}

/// Records read and not yet handed to the handler.
#[derive(Default)]
struct Pending {
    records: Vec<Record>,
    /// The assignment epoch when the first of them was read.
    epoch: u64,
    /// Per partition: the offset after the last record held (a few partitions: a short list
    /// beats a map on the per-record path).
    next: Vec<(Partition, Offset)>,
}

impl Pending {
    fn push(&mut self, r: Record, epoch: u64) {
        if self.records.is_empty() {
            self.epoch = epoch;
        }
        // A record at or before one already held for its partition means the position went back
        // (a seek, or a reset to the committed offset after a lost membership): what is held from
        // there on is being read again, so it goes, and the batch stays in offset order.
        match self.next.iter_mut().find(|(p, _)| *p == r.partition) {
            Some((_, n)) => {
                if r.offset < *n {
                    self.records
                        .retain(|x| x.partition != r.partition || x.offset < r.offset);
                }
                *n = r.offset + 1;
            }
            None => self.next.push((r.partition, r.offset + 1)),
        }
        self.records.push(r);
    }

    /// Takes the records out.
    fn take(&mut self) -> Vec<Record> {
        self.next.clear();
        std::mem::take(&mut self.records)
    }

    /// Drops the records of `partition`.
    fn drop_partition(&mut self, partition: Partition) {
        self.records.retain(|r| r.partition != partition);
        self.next.retain(|(p, _)| *p != partition);
    }

    /// The first offset held per partition.
    fn firsts(&self) -> BTreeMap<Partition, Offset> {
        let mut m = BTreeMap::new();
        for r in &self.records {
            m.entry(r.partition).or_insert(r.offset);
        }
        m
    }
}

/// The batch in the handler.
struct InFlight {
    /// The assignment epoch its first record was read in.
    epoch: u64,
    /// Per partition: first and last offset.
    ranges: BTreeMap<Partition, (Offset, Offset)>,
    records: u64,
    /// Its handle was closed meanwhile: nothing of it may be committed or sought.
    abandoned: bool,
}

/// An open consumer handle and what the owner knows about it.
struct Open<H> {
    handle: H,
    /// When it was created (a consumer replaced soon after is a failed attempt).
    created_at: Instant,
    /// The fetch state last applied to its whole assignment (`None`: unknown, apply again).
    applied: Option<bool>,
    /// The start of its latest poll (maintenance polls are due a heartbeat interval after it).
    last_poll: Instant,
    /// No consuming poll before this (after a transient error, a failed batch, or an early
    /// empty poll).
    not_before: Instant,
    /// The current transient-error backoff (doubles up to the heartbeat interval).
    backoff: Duration,
    /// Consecutive non-retriable errors.
    errors: u32,
    pending: Pending,
    /// Hand `pending` to the handler as soon as it is free.
    flush: bool,
    /// Per partition: the offset a commit that failed for a transient reason left uncommitted,
    /// and the assignment epoch of its batch. The next commit includes it; before the handle is
    /// closed (suspend, close) it is retried within a bound.
    uncommitted: BTreeMap<Partition, (Offset, u64)>,
}

/// Waiting to create the next consumer after a restart or a failed open.
struct Restarting {
    /// Failed attempts so far (the backoff doubles with each).
    attempt: u32,
    retry_at: Instant,
    /// Why there is no consumer (what a run that cannot wait reports).
    cause: KafkaError,
}

/// Where the consumer handle is, if anywhere.
enum Phase<H> {
    /// Never opened.
    Idle,
    /// Closed by `suspend()`; only a run opens it again.
    Suspended,
    /// The handle, owned here and nowhere else.
    Open(Open<H>),
    /// The previous handle is closed; a new one is created at `retry_at` (or at once for a run).
    Restarting(Restarting),
}

/// The run in progress.
struct ActiveRun<R: Runtime> {
    replies: Vec<Chan<R, RunReply>>,
    report: RunReport,
    /// A consuming poll found nothing new (and the assignment is known).
    caught_up: bool,
    /// How long the run waits for the group to assign partitions.
    assign_deadline: Instant,
    /// Set when the run is over; the reply goes once no batch is in the handler.
    outcome: Option<Result<(), ConsumerError>>,
    /// Interrupted by `pause()` / `suspend()`: the interrupter reports the state change.
    interrupted: bool,
    /// The run made its one attempt to open a consumer ahead of the restart backoff.
    tried_open: bool,
    /// The run's closing pause or suspend began before its reply (it ended while a batch was
    /// still in the handler: fetching stopped then) and was reported at that moment.
    closing_began: bool,
}

/// Static instance ids: the configured id first, then `<id>-r<N>`. An id a created handle held
/// is used again only once that handle has been closed for longer than the session timeout
/// plus a margin, so no open handle and no unexpired closed static member can hold it
/// (`no-self-fencing`); a restart therefore always gets a fresh id (PR #1494's `-r<N>`).
struct InstanceIds {
    base: Option<String>,
    generation: u32,
    /// A handle was created with the current id.
    used: bool,
    /// When that handle was closed (`None` while it is open).
    released_at: Option<Instant>,
    reuse_after: Duration,
}

impl InstanceIds {
    fn new(cfg: &ConsumerConfig) -> Self {
        let session = cfg.session_timeout();
        InstanceIds {
            base: cfg.instance_id().map(str::to_string),
            generation: 0,
            used: false,
            released_at: None,
            reuse_after: session + (session / 4).max(Duration::from_secs(1)),
        }
    }

    /// The id for the next handle.
    fn next(&mut self, now: Instant) -> Option<String> {
        let base = self.base.as_ref()?;
        if self.used {
            let expired = self
                .released_at
                .is_some_and(|t| now >= t + self.reuse_after);
            if !expired && !mutants::active("restart-same-id") {
                self.generation += 1;
                self.used = false;
            }
        }
        Some(if self.generation == 0 {
            base.clone()
        } else {
            format!("{base}-r{}", self.generation)
        })
    }

    fn opened(&mut self) {
        self.used = true;
        self.released_at = None;
    }

    fn released(&mut self, now: Instant) {
        if self.used {
            self.released_at = Some(now);
        }
    }
}

/// Which kind of poll.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum PollKind {
    /// Reading records (poll timeout).
    Consume,
    /// Reading what is there already, to fill the batch being collected (zero timeout: a
    /// partial batch goes to the handler as soon as nothing more is at hand).
    Drain,
    /// Keeping the membership (maintenance poll timeout).
    Maintenance,
}

/// The owner thread's state. Built by `Consumer::start`, then moved into the owner thread.
pub(crate) struct Owner<R: Runtime, F: ConsumerFactory, P: Probe> {
    rt: R,
    cfg: Arc<ConsumerConfig>,
    factory: Arc<F>,
    shared: Arc<Shared<R, P>>,
    hook: Arc<dyn RebalanceHook<F::Handle>>,
    commands: Chan<R, Command<R>>,
    wake: Chan<R, ()>,
    exited: Chan<R, ()>,
    worker: Worker<R>,
    in_flight: Option<InFlight>,
    phase: Phase<F::Handle>,
    run: Option<ActiveRun<R>>,
    queued_runs: Vec<Chan<R, RunReply>>,
    pause_acks: Vec<Chan<R, ()>>,
    suspends: Vec<Chan<R, Result<(), ConsumerError>>>,
    ids: InstanceIds,
    /// Consecutive restarts of consumers that failed soon after they were created.
    restart_streak: u32,
    stopping: bool,
    /// `shutdown` completed (the `Drop` safety net has nothing left to do).
    shut_down: bool,
}

impl<R: Runtime, F: ConsumerFactory, P: Probe> Owner<R, F, P> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        rt: R,
        cfg: Arc<ConsumerConfig>,
        factory: Arc<F>,
        shared: Arc<Shared<R, P>>,
        hook: Arc<dyn RebalanceHook<F::Handle>>,
        commands: Chan<R, Command<R>>,
        wake: Chan<R, ()>,
        exited: Chan<R, ()>,
        worker: Worker<R>,
    ) -> Self {
        let ids = InstanceIds::new(&cfg);
        Owner {
            rt,
            cfg,
            factory,
            shared,
            hook,
            commands,
            wake,
            exited,
            worker,
            in_flight: None,
            phase: Phase::Idle,
            run: None,
            queued_runs: Vec::new(),
            pause_acks: Vec::new(),
            suspends: Vec::new(),
            ids,
            restart_streak: 0,
            stopping: false,
            shut_down: false,
        }
    }

    /// The owner thread's body.
    pub fn run(mut self) {
        tracing::debug!(consumer = self.cfg.name(), "owner started");
        while !self.stopping {
            // Every command queued meanwhile, before the next step (which may be a whole
            // consuming poll): a close queued behind a run is seen now, not one poll later.
            loop {
                match self.commands.try_recv() {
                    Ok(c) => self.on_command(c),
                    Err(RecvError::Closed) => {
                        self.stopping = true;
                        break;
                    }
                    Err(RecvError::Empty) => break,
                }
                if mutants::active("one-command-per-step") {
                    break;
                }
            }
            if self.stopping {
                break;
            }
            self.step();
        }
        self.shutdown();
        tracing::debug!(consumer = self.cfg.name(), "owner stopped");
    }

    // ----- state helpers -------------------------------------------------------------------

    /// A run is in progress and not over yet.
    fn run_active(&self) -> bool {
        self.run.as_ref().is_some_and(|r| r.outcome.is_none())
    }

    /// Whether records are being consumed: a run is active, or the application resumed.
    fn consuming(&self) -> bool {
        self.run_active() || self.shared.mode() == Mode::Running
    }

    fn open_mut(&mut self) -> Option<&mut Open<F::Handle>> {
        match &mut self.phase {
            Phase::Open(o) => Some(o),
            _ => None,
        }
    }

    fn publish_state(&self) {
        let s = match &self.phase {
            Phase::Idle => ConsumerState::Idle,
            Phase::Suspended => ConsumerState::Suspended,
            Phase::Restarting(_) => ConsumerState::Restarting,
            Phase::Open(_) if self.consuming() => ConsumerState::Running,
            Phase::Open(_) => ConsumerState::Paused,
        };
        self.shared.set_state(s);
    }

    fn note(&self, e: DesignEvent) {
        self.shared.probe.note(e);
    }

    // ----- commands ------------------------------------------------------------------------

    fn on_command(&mut self, c: Command<R>) {
        match c {
            Command::Run { reply } => {
                if self.run.is_some() || !self.suspends.is_empty() {
                    // Coalesced into the run after the current one (Go's extraRunScheduled).
                    self.queued_runs.push(reply);
                } else {
                    self.start_run(vec![reply]);
                }
            }
            Command::Pause { reply } => {
                self.interrupt_run("pause");
                self.pause_acks.push(reply);
            }
            Command::Suspend { reply } => {
                self.interrupt_run("suspend");
                self.suspends.push(reply);
            }
        }
    }

    fn start_run(&mut self, replies: Vec<Chan<R, RunReply>>) {
        tracing::debug!(consumer = self.cfg.name(), "run started");
        // The moment the run is admitted, which its caller cannot see.
        self.note(DesignEvent::RunStarted);
        self.run = Some(ActiveRun {
            replies,
            report: RunReport::default(),
            caught_up: false,
            assign_deadline: self.rt.now() + self.cfg.assign_timeout(),
            outcome: None,
            interrupted: false,
            tried_open: false,
            closing_began: false,
        });
    }

    fn interrupt_run(&mut self, by: &'static str) {
        if let Some(run) = &mut self.run {
            if run.outcome.is_none() {
                run.outcome = Some(Err(ConsumerError::Interrupted(by)));
                run.interrupted = true;
            }
        }
    }

    fn end_run(&mut self, result: Result<(), ConsumerError>) {
        let after = self.shared.mode();
        let mut began = false;
        if let Some(run) = &mut self.run {
            if run.outcome.is_none() {
                run.outcome = Some(result);
                // With a batch still in the handler the reply waits for it, but fetching stops
                // now (the run is over): the closing pause or suspend begins now, and is
                // reported so (the suspend's close comes when the batch is back).
                if self.worker.busy && after != Mode::Running && !run.interrupted {
                    run.closing_began = true;
                    began = true;
                }
            }
        }
        match after {
            Mode::Paused if began => self.note(DesignEvent::PauseCalled),
            Mode::Suspended if began => self.note(DesignEvent::SuspendCalled),
            _ => {}
        }
    }

    /// Sends the pause acknowledgements once they are true: no batch in the handler, and the
    /// partitions of the open handle (if any) paused by the reconcile that ran before.
    fn ack_pauses(&mut self) {
        if self.pause_acks.is_empty() || (self.worker.busy && !mutants::active("pause-acks-busy")) {
            return;
        }
        for r in self.pause_acks.drain(..) {
            let _ = r.try_send(());
        }
    }

    // ----- the loop ------------------------------------------------------------------------

    fn step(&mut self) {
        self.publish_state();
        if !self.suspends.is_empty() {
            return self.suspend_now();
        }
        if self.finish_run() {
            return;
        }
        let now = self.rt.now();
        match &self.phase {
            Phase::Idle | Phase::Suspended => {
                let wanted = self.run_active()
                    || (matches!(self.phase, Phase::Idle) && self.shared.mode() == Mode::Running);
                if wanted {
                    self.open();
                } else {
                    self.ack_pauses();
                    self.wait(None);
                }
            }
            Phase::Restarting(_)
                if !self.run_active()
                    && self.shared.mode() == Mode::Suspended
                    && !mutants::active("restart-while-suspended") =>
            {
                // Suspended between runs: only a run opens a consumer, so the restart stops
                // here (a run that just ended with its batch still in the handler closes the
                // consumer when the batch is back: there is none to close).
                self.phase = Phase::Suspended;
            }
            Phase::Restarting(r) => {
                let (at, cause) = (r.retry_at, r.cause.clone());
                let run = self.run.as_mut().filter(|r| r.outcome.is_none());
                let run_tries_now = run.as_ref().is_some_and(|r| !r.tried_open);
                let run_gives_up = run.as_ref().is_some_and(|r| at > r.assign_deadline);
                if let Some(r) = run {
                    r.tried_open = true;
                }
                if now >= at || run_tries_now {
                    self.open();
                } else if run_gives_up {
                    // A run waits for the next attempt only within its assignment timeout.
                    self.end_run(Err(ConsumerError::Unavailable(cause)));
                } else {
                    self.ack_pauses();
                    self.wait(Some(at));
                }
            }
            Phase::Open(_) => self.step_open(now),
        }
    }

    fn step_open(&mut self, now: Instant) {
        let consuming = self.consuming();
        self.shared.set_fetch_target(consuming);
        if !consuming {
            self.rewind_pending();
        }
        if let Err(e) = self.reconcile(consuming) {
            return self.on_error(e);
        }
        self.ack_pauses();
        let heartbeat = if mutants::active("rare-maintenance") {
            self.cfg.max_poll_interval()
        } else {
            self.cfg.heartbeat_interval()
        };
        let busy = self.worker.busy;
        let Some(open) = self.open_mut() else { return };
        let due = open.last_poll + heartbeat;
        if busy {
            // A batch is in the handler: keep the membership, collect the next batch.
            if now >= due {
                self.poll(PollKind::Maintenance)
            } else {
                self.wait(Some(due))
            }
        } else if consuming && open.flush && !open.pending.records.is_empty() {
            self.hand_batch()
        } else if consuming && now >= open.not_before {
            if open.pending.records.is_empty() {
                self.poll(PollKind::Consume)
            } else {
                self.poll(PollKind::Drain)
            }
        } else if now >= due {
            self.poll(PollKind::Maintenance)
        } else if consuming {
            let until = open.not_before.min(due);
            self.wait(Some(until))
        } else {
            self.wait(Some(due))
        }
    }

    /// Waits for a command, a resume wake-up, the handler's verdict (if a batch is in flight)
    /// or `until`, and handles whichever came.
    fn wait(&mut self, until: Option<Instant>) {
        let (command, verdict) = {
            let mut c = RecvArm::new(&self.commands);
            let mut w = RecvArm::new(&self.wake);
            let mut v = RecvArm::new(&self.worker.results);
            let mut select = Select::new(&self.rt, "owner: wait").arm(&mut c).arm(&mut w);
            if self.worker.busy {
                select = select.arm(&mut v);
            }
            if let Some(at) = until {
                select = select.deadline(at);
            }
            select.wait();
            (c.take(), v.take())
        };
        match command {
            Some(Some(c)) => self.on_command(c),
            Some(None) => self.stopping = true,
            None => {}
        }
        if let Some(v) = verdict {
            self.on_verdict(
                v.unwrap_or_else(|| Err(HandlerError("the handler thread ended".to_string()))),
            );
        }
    }

    /// Ends the run once it is over and no batch is in the handler: returns the consumer to the
    /// requested mode, then replies. True if it did something.
    fn finish_run(&mut self) -> bool {
        if self.worker.busy {
            return false; // the batch in flight is part of the run
        }
        let nothing_pending = match &self.phase {
            Phase::Open(o) => o.pending.records.is_empty(),
            _ => true,
        };
        let Some(run) = &mut self.run else {
            return false;
        };
        if run.outcome.is_none() && run.caught_up && nothing_pending {
            run.outcome = Some(Ok(()));
        }
        if run.outcome.is_none() {
            return false;
        }
        let Some(run) = self.run.take() else {
            return false;
        };
        // The run returns the consumer to the requested mode: an implied suspend or pause,
        // reported as the consumer's own calls at the moment it makes them.
        if !run.interrupted {
            match self.shared.mode() {
                Mode::Suspended => {
                    if !run.closing_began {
                        self.note(DesignEvent::SuspendCalled);
                    }
                    self.retry_commits();
                    self.close_handle();
                    self.phase = Phase::Suspended;
                    self.note(DesignEvent::SuspendReturned);
                }
                Mode::Paused => {
                    if !run.closing_began {
                        self.note(DesignEvent::PauseCalled);
                    }
                    self.shared.set_fetch_target(false);
                    self.rewind_pending();
                    if let Err(e) = self.reconcile(false) {
                        tracing::warn!(error = %e, "pausing after the run failed");
                        self.shared.set_error(ConsumerError::Kafka(e));
                        if let Some(o) = self.open_mut() {
                            o.applied = None;
                        }
                    }
                    self.note(DesignEvent::PauseReturned);
                }
                Mode::Running => {}
            }
        }
        self.publish_state();
        self.note(DesignEvent::RunEnded);
        let mut report = run.report;
        report.ended_in = self.shared.state();
        let result = run.outcome.unwrap_or(Ok(())).map(|()| report);
        tracing::debug!(consumer = self.cfg.name(), ?result, "run ended");
        for r in run.replies {
            let _ = r.try_send(RunReply {
                result: result.clone(),
            });
        }
        if !self.queued_runs.is_empty() {
            let replies = std::mem::take(&mut self.queued_runs);
            self.start_run(replies);
        }
        true
    }

    // ----- opening, closing, restarting ----------------------------------------------------

    /// Creates a consumer (the previous one, if any, is closed already).
    fn open(&mut self) {
        let now = self.rt.now();
        let attempt = match &self.phase {
            Phase::Restarting(r) => r.attempt,
            _ => 0,
        };
        let was_suspended = matches!(self.phase, Phase::Suspended);
        let restarting = matches!(self.phase, Phase::Restarting(_));
        let id = self.ids.next(now);
        self.shared.set_fetch_target(self.consuming());
        tracing::debug!(consumer = self.cfg.name(), instance_id = ?id, attempt, "creating a consumer");
        match self.factory.create(id.as_deref(), self.hook.clone()) {
            Ok(handle) => {
                self.ids.opened();
                self.shared.counters.created.fetch_add(1);
                let now = self.rt.now();
                if restarting && mutants::active("no-resume-after-restart") {
                    self.shared.request(Mode::Paused); // the resume asked for meanwhile is lost
                }
                self.phase = Phase::Open(Open {
                    handle,
                    created_at: now,
                    applied: None,
                    // The first poll (which joins the group) is due at once.
                    last_poll: Instant::from_origin(
                        now.since_origin()
                            .saturating_sub(self.cfg.heartbeat_interval()),
                    ),
                    not_before: now,
                    backoff: self.cfg.retry_backoff(),
                    errors: 0,
                    pending: Pending::default(),
                    flush: false,
                    uncommitted: BTreeMap::new(),
                });
            }
            Err(e) => {
                tracing::warn!(consumer = self.cfg.name(), error = %e, attempt, "creating a consumer failed");
                self.shared.set_error(ConsumerError::Unavailable(e.clone()));
                self.end_run(Err(ConsumerError::Unavailable(e.clone())));
                if was_suspended || self.shared.mode() == Mode::Suspended {
                    // Only a run may open a suspended consumer: no retries in the background.
                    self.phase = Phase::Suspended;
                } else {
                    let attempt = attempt.saturating_add(1);
                    self.phase = Phase::Restarting(Restarting {
                        attempt,
                        retry_at: self.rt.now() + self.backoff(attempt),
                        cause: e,
                    });
                }
            }
        }
    }

    /// Closes the open handle, if any, and drops it; the phase becomes `Idle` (callers set the
    /// phase they mean). Records read and not handed are dropped: they are not committed, so
    /// whoever reads the partitions next reads them again.
    fn close_handle(&mut self) {
        let Phase::Open(open) = std::mem::replace(&mut self.phase, Phase::Idle) else {
            return;
        };
        if let Some(f) = &mut self.in_flight {
            f.abandoned = true;
        }
        let id = open.handle.id();
        self.shared.client_close_began(self.rt.now());
        let closed = open.handle.close();
        self.shared.client_close_ended(self.rt.now());
        if let Err(e) = closed {
            tracing::warn!(handle = %id, error = %e, "closing the consumer failed");
        }
        self.shared.counters.closed.fetch_add(1);
        self.ids.released(self.rt.now());
        tracing::debug!(handle = %id, "consumer closed");
    }

    /// Replaces a broken consumer: the old handle is closed first (so it is never polled and
    /// closed at once, and never alive next to its successor), then a new one is created under
    /// a fresh instance id at the next step.
    ///
    /// The first restart is immediate; a consumer that fails again soon after it was created
    /// (within the backoff cap) counts as a failed attempt, so a persistent failure restarts
    /// with the same doubling backoff as failed creates, never in a tight loop.
    fn restart(&mut self, cause: KafkaError) {
        tracing::warn!(consumer = self.cfg.name(), error = %cause, "restarting the consumer");
        self.note(DesignEvent::Note(format!("restart: {cause}")));
        let now = self.rt.now();
        let young = match &self.phase {
            Phase::Open(o) => now - o.created_at < self.cfg.restart_backoff_max(),
            _ => false,
        };
        self.restart_streak = if young { self.restart_streak + 1 } else { 0 };
        if mutants::active("restart-keeps-old-handle") {
            if let Phase::Open(old) = std::mem::replace(&mut self.phase, Phase::Idle) {
                std::mem::forget(old.handle);
            }
        }
        self.close_handle();
        self.shared.counters.restarts.fetch_add(1);
        self.phase = Phase::Restarting(Restarting {
            attempt: self.restart_streak,
            retry_at: now + self.backoff(self.restart_streak),
            cause,
        });
    }

    /// The wait before attempt `n` to create a consumer: none for the first, then the restart
    /// backoff doubling up to its cap.
    fn backoff(&self, n: u32) -> Duration {
        if n == 0 {
            return Duration::ZERO;
        }
        self.cfg
            .restart_backoff()
            .saturating_mul(1 << (n - 1).min(16))
            .min(self.cfg.restart_backoff_max())
    }

    /// Before the handle that read the batch in the handler is closed (suspend, close): the
    /// handler's verdict is awaited for at most one maintenance poll's timeout (≤ 500 ms), and a
    /// success committed, so that a batch finishing as the consumer closes is not read and
    /// handed again. A batch still in the handler after that is abandoned (not committed: read
    /// again from the committed offset); waiting longer would hold `close()` past its bound.
    fn settle_batch_in_flight(&mut self) {
        if !self.worker.busy {
            return;
        }
        if let Ok(verdict) = self
            .worker
            .results
            .recv_timeout(self.cfg.maintenance_poll_timeout())
        {
            self.on_verdict(verdict);
        }
    }

    fn suspend_now(&mut self) {
        self.settle_batch_in_flight();
        self.retry_commits();
        if mutants::active("suspend-keeps-handle") {
            self.phase = Phase::Idle; // the open handle is dropped, never closed
        }
        self.close_handle();
        self.phase = Phase::Suspended;
        self.publish_state();
        for r in self.suspends.drain(..) {
            let _ = r.try_send(Ok(()));
        }
        tracing::debug!(consumer = self.cfg.name(), "suspended");
        // Runs asked for while the suspend was pending waited for it; they start now (a run
        // after a suspend reopens). Without a run in progress nothing else would start them.
        if self.run.is_none() && !self.queued_runs.is_empty() && !mutants::active("queued-run-lost")
        {
            let replies = std::mem::take(&mut self.queued_runs);
            self.start_run(replies);
        }
    }

    fn shutdown(&mut self) {
        self.settle_batch_in_flight();
        if mutants::active("close-leaves-handle-open") {
            if let Phase::Open(open) = std::mem::replace(&mut self.phase, Phase::Idle) {
                std::mem::forget(open.handle);
            }
        }
        self.end_run(Err(ConsumerError::Closed));
        if let Some(run) = self.run.take() {
            self.note(DesignEvent::RunEnded);
            for r in run.replies {
                let _ = r.try_send(RunReply {
                    result: Err(ConsumerError::Closed),
                });
            }
        }
        self.retry_commits();
        // The handler thread is told first, so that it ends while the client closes the handle.
        self.worker.stop();
        self.shared.set_state(ConsumerState::Closing);
        self.close_handle();
        self.phase = Phase::Idle;
        self.shared.set_state(ConsumerState::Closed);
        for r in self.suspends.drain(..) {
            let _ = r.try_send(Ok(()));
        }
        self.reply_closed();
        self.shut_down = true;
        let _ = self.exited.try_send(());
    }

    /// Answers every request still waiting: the consumer is closed.
    fn reply_closed(&mut self) {
        for r in self.queued_runs.drain(..) {
            let _ = r.try_send(RunReply {
                result: Err(ConsumerError::Closed),
            });
        }
        for r in self.pause_acks.drain(..) {
            let _ = r.try_send(());
        }
        while let Ok(c) = self.commands.try_recv() {
            match c {
                Command::Run { reply } => {
                    let _ = reply.try_send(RunReply {
                        result: Err(ConsumerError::Closed),
                    });
                }
                Command::Pause { reply } => {
                    let _ = reply.try_send(());
                }
                Command::Suspend { reply } => {
                    let _ = reply.try_send(Ok(()));
                }
            }
        }
    }

    // ----- the open handle -----------------------------------------------------------------

    /// Applies the fetch target to the whole assignment when it was not applied yet (a new
    /// handle, a changed target, a slipped record, a failed hook).
    fn reconcile(&mut self, fetching: bool) -> Result<(), KafkaError> {
        let hook_failed = self.shared.take_reapply();
        let Some(open) = self.open_mut() else {
            return Ok(());
        };
        if hook_failed {
            open.applied = None;
        }
        if open.applied == Some(fetching) {
            return Ok(());
        }
        let parts = open.handle.assignment()?;
        if !parts.is_empty() {
            if fetching {
                open.handle.resume(&parts)?;
                // The first fetch at one round trip, not at the leader's next idle wake-up.
                if let Err(e) = open.handle.wake(&parts) {
                    tracing::debug!(error = %e, "waking the resumed partitions' leaders failed");
                }
            } else {
                open.handle.pause(&parts)?;
            }
        }
        open.applied = Some(fetching);
        Ok(())
    }

    /// Puts back records read and not handed (consumption stopped): each partition's position
    /// goes back to its first such record.
    fn rewind_pending(&mut self) {
        let Some(open) = self.open_mut() else { return };
        if open.pending.records.is_empty() {
            return;
        }
        let firsts = open.pending.firsts();
        open.pending.take();
        open.flush = false;
        if mutants::active("pending-dropped-on-pause") {
            return;
        }
        for (p, o) in firsts {
            // A partition no longer assigned needs nothing: whoever gets it starts at the
            // committed offset, which is at or before `o`.
            let o = if mutants::active("rewind-one-too-far") {
                (o - 1).max(0)
            } else {
                o
            };
            let _ = open.handle.seek(p, o);
        }
    }

    fn poll(&mut self, kind: PollKind) {
        let timeout = match kind {
            PollKind::Consume => self.cfg.poll_timeout(),
            PollKind::Drain => Duration::ZERO,
            PollKind::Maintenance => self.cfg.maintenance_poll_timeout(),
        };
        let epoch_before = self.shared.epoch();
        let start = self.rt.now();
        let Some(open) = self.open_mut() else { return };
        open.last_poll = start;
        let result = open.handle.poll(timeout);
        let epoch = self.shared.epoch();
        let rebalanced = epoch != epoch_before;
        match result {
            Ok(Some(record)) => {
                if let Some(open) = self.open_mut() {
                    open.errors = 0;
                }
                self.on_record(record, epoch);
                if kind != PollKind::Maintenance {
                    self.drain();
                }
            }
            Ok(None) => {
                let retry_backoff = self.cfg.retry_backoff();
                let Some(open) = self.open_mut() else { return };
                open.errors = 0;
                open.backoff = retry_backoff;
                match kind {
                    PollKind::Consume => self.on_empty_poll(rebalanced, start, timeout),
                    PollKind::Drain => open.flush = !open.pending.records.is_empty(),
                    PollKind::Maintenance => {}
                }
            }
            Err(e) => self.on_error(e),
        }
    }

    /// Reads what is at hand (the handle's zero-timeout polls) into the batch being collected,
    /// until it is full or nothing more is at hand, without going round the loop for every
    /// record (a whole batch is microseconds; commands are taken right after it).
    fn drain(&mut self) {
        if !self.consuming() {
            return;
        }
        let batch_size = self.cfg.batch_size();
        let Phase::Open(open) = &mut self.phase else {
            return;
        };
        if open.flush || open.pending.records.len() >= batch_size {
            return;
        }
        let (handle, pending, shared) = (&open.handle, &mut open.pending, &self.shared);
        let mut read = false;
        let result = handle.poll_at_hand(&mut |record| {
            // The epoch after each poll: a rebalance served inside it tags what follows.
            pending.push(record, shared.epoch());
            read = true;
            pending.records.len() < batch_size
        });
        open.flush = !open.pending.records.is_empty();
        if read {
            if let Some(run) = &mut self.run {
                run.caught_up = false;
            }
        }
        if let Err(e) = result {
            self.on_error(e);
        }
    }

    fn on_record(&mut self, record: Record, epoch: u64) {
        let consuming = self.consuming();
        let batch_size = self.cfg.batch_size();
        let Some(open) = self.open_mut() else { return };
        if consuming && open.pending.records.len() < batch_size {
            open.pending.push(record, epoch);
            if open.pending.records.len() >= batch_size {
                open.flush = true;
            }
            if let Some(run) = &mut self.run {
                run.caught_up = false;
            }
        } else {
            // Paused (it slipped through) or the next batch is full: put it back.
            self.rewind(record, !consuming);
        }
    }

    /// Seeks the record's partition back to it so it is read again later, never dropped.
    fn rewind(&mut self, record: Record, slipped: bool) {
        let Some(open) = self.open_mut() else { return };
        // A seek fails only if the partition was revoked in the same poll; then whoever gets
        // it starts from the committed offset, which is at or before this record.
        if !(slipped && mutants::active("slipped-record-dropped")) {
            let _ = open.handle.seek(record.partition, record.offset);
        }
        if slipped {
            // The pause did not hold: apply it to the whole assignment again.
            open.applied = None;
        }
        self.shared.counters.rewound.fetch_add(1);
        if slipped {
            tracing::debug!(
                partition = record.partition,
                offset = record.offset,
                "record read while paused, rewound"
            );
            self.note(DesignEvent::Rewound {
                partition: record.partition,
                offset: record.offset,
            });
        }
    }

    /// A consuming poll returned nothing.
    fn on_empty_poll(&mut self, rebalanced: bool, start: Instant, timeout: Duration) {
        let now = self.rt.now();
        let Some(open) = self.open_mut() else { return };
        let early = !rebalanced && now < start + timeout;
        if early {
            // Returned early with nothing (librdkafka does after serving some events): the next
            // consuming poll waits for the rest of the timeout, so an empty loop never spins.
            open.not_before = start + timeout;
        }
        if !open.pending.records.is_empty() {
            open.flush = true;
        }
        if rebalanced || early {
            // A rebalance was served, or the poll ended before its timeout (rust-rdkafka's
            // BaseConsumer returns None after serving a commit or rebalance event): neither
            // says there is nothing left to read.
            return;
        }
        let Some(run) = self.run.as_ref().filter(|r| r.outcome.is_none()) else {
            return;
        };
        let assign_deadline = run.assign_deadline;
        let Some(open) = self.open_mut() else { return };
        let assigned = match open.handle.assignment() {
            Ok(a) => !a.is_empty(),
            Err(e) => return self.on_error(e),
        };
        if !assigned && now < assign_deadline {
            return; // the group has not assigned anything yet: keep polling
        }
        if let Some(run) = &mut self.run {
            run.caught_up = true;
        }
    }

    fn hand_batch(&mut self) {
        let Some(open) = self.open_mut() else { return };
        let epoch = open.pending.epoch;
        let records = open.pending.take();
        open.flush = false;
        let mut ranges: BTreeMap<Partition, (Offset, Offset)> = BTreeMap::new();
        for r in &records {
            ranges
                .entry(r.partition)
                .and_modify(|e| e.1 = r.offset)
                .or_insert((r.offset, r.offset));
        }
        let flight = InFlight {
            epoch,
            ranges,
            records: records.len() as u64,
            abandoned: false,
        };
        tracing::trace!(records = flight.records, "batch to the handler");
        if mutants::active("commit-before-handler") {
            self.commit(&flight);
        }
        self.in_flight = Some(flight);
        if let Err(e) = self.worker.hand(records) {
            self.on_verdict(Err(e));
        }
    }

    /// The handler finished the batch in flight.
    fn on_verdict(&mut self, verdict: Result<(), HandlerError>) {
        self.worker.busy = false;
        let Some(flight) = self.in_flight.take() else {
            return;
        };
        if flight.abandoned {
            return; // its consumer is gone; the records are read again from the committed offset
        }
        match verdict {
            Ok(()) => {
                let c = &self.shared.counters;
                c.records.fetch_add(flight.records);
                c.batches.fetch_add(1);
                if let Some(run) = &mut self.run {
                    run.report.records += flight.records;
                    run.report.batches += 1;
                }
                self.commit(&flight);
            }
            Err(e) => {
                if mutants::active("failed-batch-committed") {
                    self.commit(&flight);
                }
                self.batch_failed(&flight, e)
            }
        }
    }

    /// Commits the next offset of every partition of a finished batch that was not revoked
    /// since the batch was read (those are read again by whoever holds them now), together
    /// with what an earlier commit that failed for a transient reason left uncommitted.
    fn commit(&mut self, flight: &InFlight) {
        let Some(open) = self.open_mut() else { return };
        for (p, (_, last)) in &flight.ranges {
            let e = open
                .uncommitted
                .entry(*p)
                .or_insert((last + 1, flight.epoch));
            if e.0 <= last + 1 {
                *e = (last + 1, flight.epoch);
            }
        }
        self.commit_uncommitted();
    }

    /// Commits what is left uncommitted (of partitions not revoked since their batch was
    /// read). A failure for a transient reason keeps it for the next commit or the retries
    /// before a close; any other drops it (a broken membership shows in the next poll).
    /// True when nothing is left.
    fn commit_uncommitted(&mut self) -> bool {
        let Phase::Open(open) = &mut self.phase else {
            return true;
        };
        let offsets: Vec<(Partition, Offset)> = self.shared.epochs.with(|ep| {
            open.uncommitted
                .iter()
                .filter(|(p, (_, epoch))| !ep.revoked_since(**p, *epoch))
                .map(|(p, (o, _))| (*p, *o))
                .collect()
        });
        if offsets.is_empty() {
            open.uncommitted.clear();
            return true;
        }
        match open.handle.commit(&offsets) {
            Ok(()) => {
                open.uncommitted.clear();
                self.shared.counters.commits.fetch_add(1);
                if let Some(run) = &mut self.run {
                    run.report.commits += 1;
                }
                true
            }
            // Not fatal to the batch: the records were handled, a later commit covers them, and
            // a broken membership shows in the next poll, which decides about restarting.
            Err(e) => {
                tracing::warn!(error = %e, "commit failed");
                if !transient(&e) || mutants::active("no-commit-retry") {
                    open.uncommitted.clear();
                }
                let done = open.uncommitted.is_empty();
                self.shared.set_error(ConsumerError::Kafka(e));
                done
            }
        }
    }

    /// Before the handle is closed (suspend, close): what a transient failure left uncommitted
    /// is committed again, every retry backoff, for at most a quarter of the command timeout
    /// (the rest of `close()`'s bound is the batch's settling and the client's close), so a
    /// hiccup of the coordinator does not cost a redelivery.
    fn retry_commits(&mut self) {
        let deadline = self.rt.now() + self.cfg.command_timeout() / 4;
        let backoff = self.cfg.retry_backoff();
        while !self.commit_uncommitted() {
            if self.rt.now() + backoff > deadline {
                tracing::warn!(
                    "giving up on a commit before closing: its records will be read again"
                );
                return;
            }
            self.rt.sleep(backoff);
        }
    }

    /// The handler refused a batch: nothing of it is committed; each partition's position goes
    /// back to the batch's first record (records read after it are dropped: they are read again).
    fn batch_failed(&mut self, flight: &InFlight, e: HandlerError) {
        tracing::warn!(error = %e, records = flight.records, "the handler failed a batch");
        self.shared.set_error(ConsumerError::Handler(e.clone()));
        let revoked: Vec<Partition> = self.shared.epochs.with(|ep| {
            flight
                .ranges
                .keys()
                .copied()
                .filter(|p| ep.revoked_since(*p, flight.epoch))
                .collect()
        });
        let retry = self.cfg.retry_backoff();
        let now = self.rt.now();
        if let Some(open) = self.open_mut() {
            for (p, (first, _)) in &flight.ranges {
                if revoked.contains(p) {
                    continue;
                }
                open.pending.drop_partition(*p);
                if !mutants::active("failed-batch-not-rewound") {
                    let _ = open.handle.seek(*p, *first);
                }
            }
            if open.pending.records.is_empty() {
                open.flush = false;
            }
            open.not_before = now + retry;
        }
        self.end_run(Err(ConsumerError::Handler(e)));
    }

    /// A consumer call failed.
    fn on_error(&mut self, e: KafkaError) {
        self.shared.set_error(ConsumerError::Kafka(e.clone()));
        if e.membership_lost() || (mutants::active("outage-restarts") && transient(&e)) {
            if mutants::active("outage-restarts") {
                self.ids.used = false; // and under the same id
            }
            return self.restart(e);
        }
        let now = self.rt.now();
        let max = self.cfg.max_consecutive_errors();
        let (heartbeat, retry) = (self.cfg.heartbeat_interval(), self.cfg.retry_backoff());
        let Some(open) = self.open_mut() else { return };
        if transient(&e) {
            open.not_before = now + open.backoff;
            open.backoff = (open.backoff * 2).min(heartbeat);
        } else {
            open.errors += 1;
            if open.errors >= max {
                return self.restart(e);
            }
            open.not_before = now + retry;
        }
        tracing::debug!(error = %e, "consumer call failed");
        self.end_run(Err(ConsumerError::Kafka(e)));
    }
}

impl<R: Runtime, F: ConsumerFactory, P: Probe> Drop for Owner<R, F, P> {
    /// Also runs when the owner thread unwinds (a panic in a consumer handle, or a virtual-time
    /// execution being aborted): every waiting caller gets an answer instead of waiting forever.
    fn drop(&mut self) {
        if !self.shut_down {
            self.commands.close();
            self.worker.stop();
            self.reply_closed();
            if let Some(run) = self.run.take() {
                for r in run.replies {
                    r.close();
                }
            }
            for r in self.suspends.drain(..) {
                r.close();
            }
            let _ = self.exited.try_send(());
        }
    }
}
