//! The consumer's state (§2) and G1's side of it: `RunJob` (§3.1), `ConsumeAll` (§3.2),
//! `shouldConsume`, `processBatch`, `pauseOrSuspend` (§3.5), `close` (§3.12) and `Retire`.

use crate::Variant;
use pausebeat::handler::{Handler, HandlerError};
use pausebeat::kafka::{ConsumerFactory, ConsumerHandle, KafkaError, Offset, Partition};
use pausebeat::probe::{DesignEvent, Probe};
use pausebeat::sync::{AtomicBool, Chan, Condvar, Instant, Mutex, Runtime};
use pausebeat_world::{Env, Instance, Timing};
use std::sync::Arc;
use std::time::Duration;

/// §2: the suspend threshold of `pauseOrSuspend` (time to the next batch ≥ 60 s).
pub(crate) const SUSPEND_THRESHOLD: Duration = Duration::from_secs(60);
/// §2: the heartbeat's (and processFailed's) sleep on a retriable poll error.
pub(crate) const RETRIABLE_SLEEP: Duration = Duration::from_secs(10);
/// §2: `safego.RunWithRestart`'s delay before rerunning a panicked closure.
pub(crate) const SAFEGO_RESTART_DELAY: Duration = Duration::from_secs(2);
/// §2: `restartConsumer`'s retire-check ticker.
pub(crate) const RETIRE_CHECK: Duration = Duration::from_secs(1);
/// §2: `restartConsumer`'s attempt ticker is `KafkaSessionTimeoutMs + 15000`.
pub(crate) const RESTART_EXTRA: Duration = Duration::from_secs(15);
/// §2: `SHUTDOWN_TIMEOUT_SEC`, the longest Go's shutdown waits.
pub(crate) const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// §3.2: the high watermark is re-queried after a batch when a minute has passed.
pub(crate) const WATERMARK_REQUERY: Duration = Duration::from_secs(60);
/// §3.2: the partition whose watermark and committed offset `ConsumeAll` asks (batch topics have
/// exactly one).
pub(crate) const QUERY_PARTITION: Partition = 0;
/// confluent-kafka-go's `kafka.OffsetBeginning`, `ConsumeAll`'s committed offset when the query
/// says nothing.
pub(crate) const OFFSET_BEGINNING: Offset = -2;

/// A Go panic, as a value: what panicked. Where it surfaces decides what happens (§2 safego; a
/// goroutine without recover crashes the process).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GoPanic(pub(crate) String);

/// The result of Go code that may panic.
pub(crate) type Go<T> = Result<T, GoPanic>;

/// Why a `ConsumeAll` (or one batch of it) ended with an error, in the Go messages' words. Go
/// only logs these; the port reports them as notes.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConsumeError {
    /// `ConsumeAll` on a retired consumer.
    #[error("Consumer is retired")]
    Retired,
    /// `initConsumer(false)` could not create a consumer.
    #[error("Failed to resume kafka consumer: {0}")]
    Init(KafkaError),
    /// The watermark query failed.
    #[error("Failed to query watermark offsets: {0}")]
    Watermark(KafkaError),
    /// A batch read failed with something other than a timeout.
    #[error("Failed to consume event from topic. Retryable: {retriable}: {0}", retriable = crate::batch::is_retriable(.0))]
    Read(KafkaError),
    /// The destination (the handler) refused the batch.
    #[error("Failed to commit bulker stream: {0}")]
    Handler(HandlerError),
    /// The offset commit failed (after the restart and its fallback commit).
    #[error("Failed to commit kafka consumer: {0}")]
    Commit(KafkaError),
}

/// The port of `AbstractBatchConsumer` + `BatchConsumerImpl`: §2's fields as sync-abstraction
/// types. Shared (`Arc`) by G1 and the goroutines it spawns.
pub(crate) struct BatchConsumer<R: Runtime, F: ConsumerFactory> {
    /// Which side of PR #1313.
    pub(crate) variant: Variant,
    pub(crate) rt: R,
    pub(crate) factory: Arc<F>,
    pub(crate) handler: Arc<dyn Handler>,
    pub(crate) probe: Arc<dyn Probe>,
    pub(crate) timing: Timing,
    /// §2 `consumer atomic.Pointer[kafka.Consumer]`: nil before the first run, after a suspend
    /// and after `close()`; not cleared during a restart.
    consumer: Mutex<R, Option<Arc<F::Handle>>>,
    /// §2 `paused`: set by `pause()` (CAS false→true), cleared only by the heartbeat.
    pub(crate) paused: AtomicBool<R>,
    /// §2 `resumeChannel`: capacity 0 before the PR, 1 with it (§4.1).
    pub(crate) resume_channel: Chan<R, ()>,
    /// §2 `restarting` (PR only): guards `restartConsumerAsync`.
    pub(crate) restarting: AtomicBool<R>,
    /// §2 `closed chan struct{}`: only whether it was closed matters here (the producers that
    /// watch it are not modeled); closing it is check-then-act, as in Go.
    closed: AtomicBool<R>,
    /// §2 `running`: `RunJob`'s re-entrancy guard.
    running: AtomicBool<R>,
    /// §2 `extraRunScheduled`.
    extra_run_scheduled: AtomicBool<R>,
    /// §2 `retired`.
    pub(crate) retired: AtomicBool<R>,
    /// §2 `idle`: true outside `ConsumeAll` (initially true).
    pub(crate) idle: AtomicBool<R>,
    /// Model plumbing, not Go: how many of this consumer's goroutines are alive, so that
    /// [`Instance::close`] can wait for them (bounded) through the clock.
    goroutines: Mutex<R, usize>,
    goroutines_done: Condvar<R>,
}

/// What one batch (`batchFunc`, §3.3) came to.
pub(crate) struct BatchOutcome {
    /// Records read (`counters.consumed`).
    pub(crate) consumed: usize,
    /// Whether `ConsumeAll` goes on with another batch.
    pub(crate) next_batch: bool,
    /// The batch's error, if any.
    pub(crate) err: Option<ConsumeError>,
}

impl<R: Runtime, F: ConsumerFactory> BatchConsumer<R, F> {
    /// `NewAbstractBatchConsumer`: nothing is created yet (the consumer is created lazily by the
    /// first run), `idle` starts true.
    fn new(env: Env<R, F>, variant: Variant) -> Self {
        let Env {
            rt,
            factory,
            handler,
            probe,
            timing,
        } = env;
        BatchConsumer {
            variant,
            resume_channel: Chan::new(&rt, variant.resume_channel_capacity()),
            consumer: Mutex::new(None),
            paused: AtomicBool::new(false),
            restarting: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            running: AtomicBool::new(false),
            extra_run_scheduled: AtomicBool::new(false),
            retired: AtomicBool::new(false),
            idle: AtomicBool::new(true),
            goroutines: Mutex::new(0),
            goroutines_done: Condvar::new(&rt),
            rt,
            factory,
            handler,
            probe,
            timing,
        }
    }

    // ---- §2 `consumer`: atomic.Pointer operations ----

    /// `consumer.Load()`.
    pub(crate) fn load(&self) -> Option<Arc<F::Handle>> {
        self.consumer.with(|c| c.clone())
    }

    /// `consumer.Store(c)`.
    pub(crate) fn store(&self, c: Option<Arc<F::Handle>>) {
        self.consumer.with(|slot| *slot = c);
    }

    /// `consumer.Swap(c)`.
    fn swap(&self, c: Option<Arc<F::Handle>>) -> Option<Arc<F::Handle>> {
        self.consumer.with(|slot| std::mem::replace(slot, c))
    }

    // ---- reporting ----

    /// A note for the trace (Go's log lines and metrics at decision points).
    pub(crate) fn note(&self, msg: impl Into<String>) {
        let msg = msg.into();
        tracing::debug!(design = self.variant.name(), "{msg}");
        self.probe.note(DesignEvent::Note(msg));
    }

    /// A design event.
    pub(crate) fn event(&self, e: DesignEvent) {
        self.probe.note(e);
    }

    /// A panic in a goroutine without `recover`: in Go the process crashes. The model's event,
    /// in the trace (and judged), not a problem of the tool: logged at debug level.
    pub(crate) fn crash(&self, p: GoPanic) {
        tracing::debug!(design = self.variant.name(), "Go panic: {}", p.0);
        self.probe.note(DesignEvent::Crash { what: p.0 });
    }

    // ---- goroutines ----

    /// `go f()`: a named thread, counted so that shutdown can wait for it.
    pub(crate) fn go(self: &Arc<Self>, name: &str, f: impl FnOnce() + Send + 'static) {
        self.goroutines.with(|n| *n += 1);
        let me = self.clone();
        // Detached, as a goroutine is; the count above is how shutdown waits for it.
        let _detached = self.rt.spawn(name, move || {
            f();
            me.goroutines.with(|n| *n -= 1);
            me.goroutines_done.notify_all();
        });
    }

    // ---- §3.1 RunJob ----

    /// §3.1 `RunJob`: one scheduled run, then (deferred) `idle = true; pauseOrSuspend; running =
    /// false`.
    fn run_job(self: &Arc<Self>) {
        if !self.running.compare_and_swap(false, true) {
            // §3.1: coalesce overlapping triggers.
            self.extra_run_scheduled.store(true);
            self.note("RunJob: a run is in progress; extra run scheduled");
            return;
        }
        self.event(DesignEvent::RunStarted);
        let started_at = self.rt.now();
        let mut panicked = !self.consume_all_logged();
        while !panicked && self.extra_run_scheduled.compare_and_swap(true, false) {
            panicked = !self.consume_all_logged();
        }
        if panicked {
            self.note("RunJob: panicking; the deferred pauseOrSuspend still runs");
        }
        // The RunJob defer (it also runs while a panic unwinds G1).
        self.idle.store(true);
        match self.pause_or_suspend(started_at) {
            Ok(()) => self.running.store(false),
            // A panic inside the deferred call: `running = false` is skipped.
            Err(p) => self.crash(p),
        }
        self.event(DesignEvent::RunEnded);
    }

    /// One `ConsumeAll`, its error logged; false if it panicked (reported as a crash).
    fn consume_all_logged(self: &Arc<Self>) -> bool {
        match self.consume_all() {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                self.note(format!("ConsumeAll: Consume finished with error: {e}"));
                true
            }
            Err(p) => {
                self.crash(p);
                false
            }
        }
    }

    // ---- §3.2 ConsumeAll ----

    /// §3.2 `ConsumeAll` (the Go mutex is not modeled: see the crate docs).
    fn consume_all(self: &Arc<Self>) -> Go<Result<(), ConsumeError>> {
        if self.retired.load() {
            return Ok(Err(ConsumeError::Retired));
        }
        self.idle.store(false);
        let c = match self.init_consumer(false) {
            Ok(c) => c,
            Err(e) => return Ok(Err(ConsumeError::Init(e))),
        };
        // Go queries the watermark, then the committed offset (failures only logged), then
        // checks the watermark query's error.
        let high = c.high_watermark(QUERY_PARTITION);
        let committed = match c.committed(&[QUERY_PARTITION]) {
            Ok(offsets) => match offsets.first() {
                Some((_, Some(o))) => *o,
                _ => {
                    self.note("ConsumeAll: Failed to query commited offsets.");
                    OFFSET_BEGINNING
                }
            },
            Err(e) => {
                self.note(format!("ConsumeAll: Failed to query commited offsets: {e}"));
                OFFSET_BEGINNING
            }
        };
        let high = match high {
            Ok(h) => h,
            Err(e) => return Ok(Err(ConsumeError::Watermark(e))),
        };
        if !self.should_consume(committed, high)? {
            self.note(format!(
                "ConsumeAll: nothing to consume (committed {committed}, high {})",
                high.map_or("unknown".to_string(), |h| h.to_string())
            ));
            return Ok(Ok(()));
        }
        let mut last_offset_query = self.rt.now();
        loop {
            if self.retired.load() {
                return Ok(Ok(()));
            }
            let batch = self.process_batch(high)?;
            if batch.consumed > 0
                && (self.rt.now() - last_offset_query > WATERMARK_REQUERY || !batch.next_batch)
            {
                // Re-query on the CURRENT pointer (re-Load): metrics only.
                let c = self.load().ok_or_else(|| {
                    GoPanic("nil pointer dereference: QueryWatermarkOffsets() on a nil consumer in ConsumeAll".into())
                })?;
                if let Err(e) = c.high_watermark(QUERY_PARTITION) {
                    self.note(format!(
                        "ConsumeAll: Failed to query watermark offsets: {e}"
                    ));
                }
                last_offset_query = self.rt.now();
            }
            if !batch.next_batch {
                return Ok(batch.err.map_or(Ok(()), Err));
            }
        }
    }

    /// §3.2 `shouldConsume`: false when nothing is new; the retry variant calls `resume()` first
    /// (its scan for a due message is not modeled: it consumes).
    fn should_consume(self: &Arc<Self>, committed: Offset, high: Option<Offset>) -> Go<bool> {
        if let Some(high) = high {
            if high == 0 || committed == high {
                return Ok(false);
            }
        }
        if self.timing.resume_first {
            self.resume()?;
        }
        Ok(true)
    }

    /// §3.2 `processBatch`: `resume()`, then the batch variant's `batchFunc` (§3.3).
    fn process_batch(self: &Arc<Self>, high: Option<Offset>) -> Go<BatchOutcome> {
        self.resume()?;
        self.batch_func(high)
    }

    // ---- §3.5 pauseOrSuspend ----

    /// §3.5 `pauseOrSuspend(startedAt)`, from the `RunJob` defer (G1, no mutex held).
    fn pause_or_suspend(self: &Arc<Self>, started_at: Instant) -> Go<()> {
        if self.idle.load() && self.retired.load() {
            self.note("pauseOrSuspend: Consumer is retired. Closing");
            return self.close();
        }
        let Some(c) = self.load() else {
            return Ok(());
        };
        let elapsed = self.rt.now() - started_at;
        // timeToNextBatch = batchPeriod − elapsed ≥ 60 s, without negative durations.
        if self.timing.suspend && self.timing.batch_period >= elapsed + SUSPEND_THRESHOLD {
            self.event(DesignEvent::SuspendCalled);
            self.note(format!(
                "pauseOrSuspend: suspending consumer {} for {:?}",
                c.id(),
                self.timing.batch_period - elapsed
            ));
            self.unpause()?;
            let _ = c.close(); // plain Close, no Unsubscribe; the error is ignored
            self.store(None); // unconditional
            self.event(DesignEvent::SuspendReturned);
        } else {
            self.pause(false)?;
        }
        Ok(())
    }

    // ---- §3.12 close, Retire ----

    /// §3.12 `close()`: close the `closed` channel (check-then-act: two at once panic), then
    /// `consumer.Swap(nil)` and close what was there.
    pub(crate) fn close(&self) -> Go<()> {
        if !self.closed.load() && self.closed.swap(true) {
            return Err(GoPanic(
                "close of closed channel (two close() calls at once)".into(),
            ));
        }
        if let Some(c) = self.swap(None) {
            if let Err(e) = c.close() {
                self.note(format!("close: closing {} failed: {e}", c.id()));
            }
        }
        Ok(())
    }

    /// `Retire()`.
    fn retire(&self) {
        self.note("Retiring batch consumer");
        self.retired.store(true);
    }

    /// The shutdown path (§3.12): `Retire()`, then what the retired consumer does by itself
    /// when idle (`pauseOrSuspend`'s retired && idle branch: `close()`), then a wait for the
    /// goroutines of at most `SHUTDOWN_TIMEOUT_SEC` (Go's process exits after that).
    fn shutdown(self: &Arc<Self>) {
        self.event(DesignEvent::CloseCalled);
        self.retire();
        if self.idle.load() && self.retired.load() {
            self.note("shutdown: Consumer is retired. Closing");
            if let Err(p) = self.close() {
                self.crash(p);
            }
        }
        let deadline = self.rt.now() + SHUTDOWN_TIMEOUT;
        let all_ended = self.goroutines_done.wait_while(
            &self.goroutines,
            Some(deadline),
            "shutdown: goroutines to end",
            |n| *n > 0,
        );
        if !all_ended {
            let n = self.goroutines.with(|n| *n);
            self.note(format!(
                "shutdown: {n} goroutine(s) still running after SHUTDOWN_TIMEOUT_SEC; Go's process would exit here"
            ));
        }
        self.event(DesignEvent::CloseReturned);
    }
}

/// A started Go consumer (either variant): what [`GoOriginal`](crate::GoOriginal) and
/// [`Pr1313`](crate::Pr1313) hand the scenario.
///
/// ```
/// use pausebeat::handler::{Handler, HandlerError};
/// use pausebeat::kafka::{ConsumerFactory, KafkaError, RebalanceHook, Record};
/// use pausebeat::probe::NoProbe;
/// use pausebeat::sync::{Std, Virtual};
/// use pausebeat_go::{GoConsumer, Variant};
/// use pausebeat_world::{Env, Instance, Timing};
/// use std::sync::Arc;
///
/// // A factory that can never create a consumer: every run fails at initConsumer.
/// struct NoBroker;
/// # struct NoHandle;
/// # impl pausebeat::kafka::ConsumerHandle for NoHandle {
/// #     fn id(&self) -> pausebeat::kafka::HandleId { pausebeat::kafka::HandleId(0) }
/// #     fn poll(&self, _: std::time::Duration) -> Result<Option<Record>, KafkaError> { Ok(None) }
/// #     fn pause(&self, _: &[i32]) -> Result<(), KafkaError> { Ok(()) }
/// #     fn resume(&self, _: &[i32]) -> Result<(), KafkaError> { Ok(()) }
/// #     fn assignment(&self) -> Result<Vec<i32>, KafkaError> { Ok(vec![]) }
/// #     fn seek(&self, _: i32, _: i64) -> Result<(), KafkaError> { Ok(()) }
/// #     fn commit(&self, _: &[(i32, i64)]) -> Result<(), KafkaError> { Ok(()) }
/// #     fn committed(&self, _: &[i32]) -> Result<Vec<(i32, Option<i64>)>, KafkaError> { Ok(vec![]) }
/// #     fn close(&self) -> Result<(), KafkaError> { Ok(()) }
/// # }
/// impl ConsumerFactory for NoBroker {
///     type Handle = NoHandle;
///     fn create(&self, _: Option<&str>, _: Arc<dyn RebalanceHook<NoHandle>>) -> Result<NoHandle, KafkaError> {
///         Err(KafkaError::new(pausebeat::kafka::ErrorClass::NonRetriable,
///             pausebeat::kafka::ErrorCode::CreateFailed, "no broker"))
///     }
/// }
/// struct Nothing;
/// impl Handler for Nothing {
///     fn handle(&self, _: &[Record]) -> Result<(), HandlerError> { Ok(()) }
/// }
///
/// let rt = Virtual::<Std>::new();
/// let env = Env { rt: rt.clone(), factory: Arc::new(NoBroker), handler: Arc::new(Nothing),
///                 probe: Arc::new(NoProbe), timing: Timing::default() };
/// let consumer = GoConsumer::start(env, Variant::Original);
/// consumer.run();   // ConsumeAll fails to create a consumer; nothing to pause
/// consumer.close(); // returns at once: no goroutine was started
/// ```
pub struct GoConsumer<R: Runtime, F: ConsumerFactory> {
    inner: Arc<BatchConsumer<R, F>>,
}

impl<R: Runtime, F: ConsumerFactory> GoConsumer<R, F> {
    /// Creates the consumer (nothing runs until the first [`Instance::run`]).
    pub fn start(env: Env<R, F>, variant: Variant) -> Self {
        GoConsumer {
            inner: Arc::new(BatchConsumer::new(env, variant)),
        }
    }

    /// Which version it behaves as.
    pub fn variant(&self) -> Variant {
        self.inner.variant
    }
}

impl<R: Runtime, F: ConsumerFactory> Instance for GoConsumer<R, F> {
    /// One `RunJob` (§3.1).
    fn run(&self) {
        self.inner.run_job();
    }

    /// `Retire()` and the shutdown path (§3.12); see the crate docs.
    fn close(&self) {
        self.inner.shutdown();
    }
}
