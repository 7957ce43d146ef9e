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
//!                        │  ▲ │ close old handle, then create (same id)    │
//!            suspend     │  │ └──────────────────────▶ Restarting ──────┘
//!   Suspended ◀──────────┘  │ run              create failed: backoff ×2, │
//!        │ ▲                │                  serving commands meanwhile │
//!        │ └────────────────┼──────────── suspend ◀────────────────────────┘
//!        └──────────────────┘
//!                 (any) ── close ──▶ Stopped
//! ```
//!
//! Inside `Open` the owner's [`Duty`] is either to *consume* (a run is going, or the mode is
//! `Running`: poll, collect a batch, hand it to the handler thread, commit after it succeeded)
//! or to *maintain* (paused: partitions paused, one short poll every heartbeat interval, any
//! record that slips through is rewound); [`next_open_step`] decides each step from the duty
//! (hand, poll of a [`PollKind`], or wait). A run is [`RunStage::Going`] until a poll finds
//! nothing new (or it is interrupted or out of time), then `Over` until the batch in the
//! handler is back and it replies. Whenever it is not inside a consumer call it waits on one `Select` over
//! its command channel, the resume wake-up channel and the handler's verdicts, with the next
//! poll's deadline, so no request waits longer than the consumer call in progress.
//!
//! Where each part lives: this file has the states ([`Phase`] and what each variant holds, the
//! run in progress, the batch in the handler), the loop and the commands; `lifecycle.rs` the
//! transitions between phases (open, close, restart, suspend, shut down); `handle.rs` the work
//! inside `Phase::Open` (fetch target, polls, batches, commits, rewinds, errors).

use super::config::ConsumerConfig;
use super::error::ConsumerError;
use super::shared::{Mode, Shared};
use super::worker::Worker;
use super::{AfterRun, ConsumerState, RunReport};
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

mod handle;
mod lifecycle;

/// What a `run_once()` caller gets back: the run's result.
pub(crate) struct RunReply {
    pub result: Result<RunReport, ConsumerError>,
}

/// A request from an API thread. `resume()` is not one: it never waits, so it only stores the
/// requested mode and wakes the owner.
pub(crate) enum Command<R: Runtime> {
    /// Run until caught up, then return to the requested mode (or the one `after` asks for)
    /// and reply.
    Run {
        reply: Chan<R, RunReply>,
        after: AfterRun,
    },
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

    /// Drops the records of every partition `revoked` says.
    fn drop_revoked(&mut self, revoked: impl Fn(Partition) -> bool) {
        if self.next.iter().any(|(p, _)| revoked(*p)) {
            self.records.retain(|r| !revoked(r.partition));
            self.next.retain(|(p, _)| !revoked(*p));
        }
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
    /// Handed by a run in progress (else by the consumption `resume()` asked for, before the
    /// current run, if any, began: its failure is that consumption's, retried after a backoff,
    /// not the run's).
    by_run: bool,
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
    /// Going, or over (its reply goes once no batch is in the handler).
    stage: RunStage,
    /// Interrupted by `pause()` / `suspend()`: the interrupter reports the state change.
    interrupted: bool,
    /// The run made its one attempt to open a consumer ahead of the restart backoff.
    tried_open: bool,
    /// The run's closing pause or suspend began before its reply (it ended while a batch was
    /// still in the handler: fetching stopped then) and was reported at that moment.
    closing_began: bool,
    /// What the consumer does once the run is over (applied as it ends, unless another run is
    /// waiting: that run inherits it).
    after: AfterRun,
}

/// The stages of a run.
enum RunStage {
    /// Consuming: records are read and handed until a poll finds nothing new.
    Going,
    /// Over with this outcome (caught up, interrupted, or out of time); the run returns the
    /// consumer to the requested mode and replies once no batch is in the handler.
    Over(Result<(), ConsumerError>),
}

impl RunStage {
    fn going(&self) -> bool {
        matches!(self, RunStage::Going)
    }
}

/// What an open consumer is for at this moment.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Duty {
    /// A run is going or the application resumed: read records and hand them to the handler.
    Consume,
    /// Paused (or suspended with a batch still in the handler): keep the membership with
    /// maintenance polls; fetch nothing.
    Maintain,
}

/// The next thing the owner does with its open consumer, decided by [`next_open_step`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum OpenStep {
    /// Hand the collected records to the handler.
    Hand,
    /// Poll the handle.
    Poll(PollKind),
    /// Wait (for a command, a wake-up, the handler's verdict) until then.
    Wait(Instant),
}

/// What an open consumer's step does: with a batch in the handler, only maintenance polls (when
/// due) while the next batch collects; consuming, hand a collected batch, else read (a drain if
/// a batch is being collected) unless a backoff holds it; a maintenance poll when the heartbeat
/// interval since the last poll ran out; otherwise wait for whichever comes first.
fn next_open_step(
    duty: Duty,
    handler_busy: bool,
    flush: bool,
    collecting: bool,
    now: Instant,
    not_before: Instant,
    maintenance_due: Instant,
) -> OpenStep {
    let consume = duty == Duty::Consume;
    if handler_busy {
        if now >= maintenance_due {
            OpenStep::Poll(PollKind::Maintenance)
        } else {
            OpenStep::Wait(maintenance_due)
        }
    } else if consume && flush && collecting {
        OpenStep::Hand
    } else if consume && now >= not_before {
        OpenStep::Poll(if collecting {
            PollKind::Drain
        } else {
            PollKind::Consume
        })
    } else if now >= maintenance_due {
        OpenStep::Poll(PollKind::Maintenance)
    } else if consume {
        OpenStep::Wait(not_before.min(maintenance_due))
    } else {
        OpenStep::Wait(maintenance_due)
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
    /// The latest choice of the queued runs other than [`AfterRun::RequestedMode`].
    queued_after: AfterRun,
    pause_acks: Vec<Chan<R, ()>>,
    suspends: Vec<Chan<R, Result<(), ConsumerError>>>,
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
            queued_after: AfterRun::RequestedMode,
            pause_acks: Vec::new(),
            suspends: Vec::new(),
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
        self.run.as_ref().is_some_and(|r| r.stage.going())
    }

    /// What the consumer is for now: consuming while a run is going or the application
    /// resumed (`resume()` sets the mode without waiting for the owner), else maintaining.
    fn duty(&self) -> Duty {
        if self.run_active() || self.shared.mode() == Mode::Running {
            Duty::Consume
        } else {
            Duty::Maintain
        }
    }

    /// Whether records are being consumed ([`Duty::Consume`]).
    fn consuming(&self) -> bool {
        self.duty() == Duty::Consume
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
            Command::Run { reply, after } => {
                if self.run.is_some() || !self.suspends.is_empty() {
                    // Coalesced into the run after the current one (Go's extraRunScheduled).
                    self.queued_runs.push(reply);
                    if after != AfterRun::RequestedMode {
                        self.queued_after = after;
                    }
                } else {
                    self.start_run(vec![reply], after);
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

    fn start_run(&mut self, replies: Vec<Chan<R, RunReply>>, after: AfterRun) {
        tracing::debug!(consumer = self.cfg.name(), "run started");
        // The moment the run is admitted, which its caller cannot see.
        self.note(DesignEvent::RunStarted);
        self.run = Some(ActiveRun {
            replies,
            report: RunReport::default(),
            caught_up: false,
            assign_deadline: self.rt.now() + self.cfg.assign_timeout(),
            stage: RunStage::Going,
            interrupted: false,
            tried_open: false,
            closing_began: false,
            after,
        });
    }

    fn interrupt_run(&mut self, by: &'static str) {
        if let Some(run) = &mut self.run {
            if run.stage.going() {
                run.stage = RunStage::Over(Err(ConsumerError::Interrupted(by)));
                run.interrupted = true;
            }
        }
    }

    fn end_run(&mut self, result: Result<(), ConsumerError>) {
        self.apply_after_run();
        let after = self.shared.mode();
        let mut began = false;
        if let Some(run) = &mut self.run {
            if run.stage.going() {
                run.stage = RunStage::Over(result);
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

    /// As a run goes over on its own (not interrupted): requests the mode its [`AfterRun`]
    /// asks for, unless another run is waiting (that run inherits the choice, see
    /// `finish_run`): the closing pause or suspend is the consumer's, never a call that would
    /// interrupt the next run. A pause leaves a suspended consumer suspended.
    fn apply_after_run(&mut self) {
        let Some(run) = &self.run else { return };
        if !run.stage.going() || !self.queued_runs.is_empty() {
            return;
        }
        match run.after.mode_at(self.rt.now()) {
            // A pause does not reopen a suspended consumer (as `pause()` would not): a
            // suspend() that came before the run stands.
            Some(Mode::Paused) if self.shared.mode() == Mode::Suspended => {}
            Some(m) => self.shared.request(m),
            None => {}
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
                let run = self.run.as_mut().filter(|r| r.stage.going());
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
        let duty = self.duty();
        let consuming = duty == Duty::Consume;
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
        let next = next_open_step(
            duty,
            busy,
            open.flush,
            !open.pending.records.is_empty(),
            now,
            open.not_before,
            open.last_poll + heartbeat,
        );
        match next {
            OpenStep::Hand => self.hand_batch(),
            OpenStep::Poll(kind) => self.poll(kind),
            OpenStep::Wait(until) => self.wait(Some(until)),
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
        let Some(run) = &self.run else {
            return false;
        };
        if run.stage.going() {
            if !(run.caught_up && nothing_pending) {
                return false;
            }
            self.end_run(Ok(()));
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
                    match self.reconcile(false) {
                        Ok(()) => self.note(DesignEvent::PauseReturned),
                        Err(e) => {
                            // Not paused: the pause stays open in the log (it is not judged
                            // as one); the next step applies the fetch state again.
                            tracing::warn!(error = %e, "pausing after the run failed");
                            self.note(DesignEvent::Note(format!(
                                "pausing after the run failed: {e}"
                            )));
                            self.shared.set_error(ConsumerError::Kafka(e));
                            if let Some(o) = self.open_mut() {
                                o.applied = None;
                            }
                        }
                    }
                }
                Mode::Running => {}
            }
        }
        self.publish_state();
        self.note(DesignEvent::RunEnded);
        let mut report = run.report;
        report.ended_in = self.shared.state();
        let outcome = match run.stage {
            RunStage::Over(o) => o,
            RunStage::Going => Ok(()), // a run is taken only once over (checked above)
        };
        let result = outcome.map(|()| report);
        tracing::debug!(consumer = self.cfg.name(), ?result, "run ended");
        for r in run.replies {
            let _ = r.try_send(RunReply {
                result: result.clone(),
            });
        }
        if !self.queued_runs.is_empty() {
            let replies = std::mem::take(&mut self.queued_runs);
            let after = match std::mem::take(&mut self.queued_after) {
                AfterRun::RequestedMode => run.after,
                later => later,
            };
            self.start_run(replies, after);
        }
        true
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

#[cfg(test)]
mod tests {
    use super::{next_open_step, Duty, OpenStep, Pending, PollKind};
    use crate::kafka::Record;
    use crate::sync::Instant;
    use std::time::Duration;

    fn at(s: u64) -> Instant {
        Instant::from_origin(Duration::from_secs(s))
    }

    #[test]
    fn held_records_of_a_revoked_partition_go_and_the_others_stay() {
        let mut p = Pending::default();
        for (partition, offset) in [(0, 4), (1, 0), (0, 5), (1, 1)] {
            p.push(Record::new("t", partition, offset), 1);
        }
        p.drop_revoked(|part| part == 1);
        let left: Vec<_> = p.records.iter().map(|r| (r.partition, r.offset)).collect();
        assert_eq!(left, vec![(0, 4), (0, 5)]);
        assert_eq!(p.firsts().into_iter().collect::<Vec<_>>(), vec![(0, 4)]);
        // p1 read again from its committed offset is held as new, not as a re-read.
        p.push(Record::new("t", 1, 0), 2);
        assert_eq!(p.records.len(), 3);
    }

    #[test]
    fn the_open_step_follows_the_duty() {
        use Duty::{Consume, Maintain};
        use OpenStep::{Hand, Poll, Wait};
        // (duty, handler busy, flush, collecting, now, not_before, maintenance due) -> step
        let table = [
            ((Consume, true, true, true, 5, 0, 10), Wait(at(10))),
            (
                (Consume, true, false, false, 10, 0, 10),
                Poll(PollKind::Maintenance),
            ),
            ((Consume, false, true, true, 5, 0, 10), Hand),
            (
                (Consume, false, false, true, 5, 0, 10),
                Poll(PollKind::Drain),
            ),
            (
                (Consume, false, false, false, 5, 0, 10),
                Poll(PollKind::Consume),
            ),
            ((Consume, false, false, false, 5, 7, 10), Wait(at(7))),
            (
                (Consume, false, false, false, 10, 12, 10),
                Poll(PollKind::Maintenance),
            ),
            ((Maintain, false, true, true, 5, 0, 10), Wait(at(10))),
            (
                (Maintain, false, false, false, 10, 0, 10),
                Poll(PollKind::Maintenance),
            ),
        ];
        for ((duty, busy, flush, collecting, now, nb, due), want) in table {
            let got = next_open_step(duty, busy, flush, collecting, at(now), at(nb), at(due));
            assert_eq!(
                got, want,
                "{duty:?} busy={busy} flush={flush} collecting={collecting} now={now}"
            );
        }
    }
}
