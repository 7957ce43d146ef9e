//! The `resume_call` benchmarks: how long `resume()` takes to return, per design, with a healthy
//! broker and while the design is inside a restart because the group coordinator is down.
//!
//! Every design runs on [`StdRuntime`] (real time) against a [`ScriptedTopic`], with the Go
//! consumer's timing scaled down 1000× ([`BenchTiming`]): session 45 ms, max.poll 300 ms, poll
//! 5 ms. What one measured iteration is:
//!
//! | design | healthy | restarting |
//! |---|---|---|
//! | `floor` | `try_send` on a capacity-1 [`Chan`] to a thread parked in `recv` (it must be woken) | the same to a thread that is busy elsewhere (nothing to wake) |
//! | `vetted` | `Consumer::resume()` on a paused consumer whose owner is parked | `Consumer::resume()` while the owner is inside its restart, blocked closing the old handle |
//! | `go-original`, `pr-1313` | the `resume()` inside one Go run (`RunJob` → `processBatch`), timed from [`DesignEvent::ResumeCalled`] to [`DesignEvent::ResumeReturned`] by [`ResumeTimer`]; the heartbeat is parked in its `select` | the same while the heartbeat (go-original) or its restart goroutine (pr-1313) is inside `restartConsumer` |
//!
//! "Restarting" is reached the same way for every design: the coordinator goes down
//! ([`ScriptedTopic::start_outage`]) while the consumer is paused, the next heartbeat or
//! maintenance poll fails, the design restarts, and its close of the old handle stalls on the
//! unreachable coordinator ([`ScriptStats::closing`] = 1). The outage lasts until the
//! benchmark ends. The Go port's restart attempts come `session.timeout + 15 s` apart (the 15 s
//! are a constant of the Go code), so none comes during a benchmark: go-original's `resume()`
//! waits for its whole send timeout, `max.poll.interval` (300 ms here, 300 s with Go's
//! defaults), and fails with "Resume timeout".
//!
//! The vetted consumer's `resume()` never looks at the owner's state: it stores the request and
//! makes a non-blocking `try_send` of a wake-up. While restarting, the owner is blocked and
//! answers no `pause()`, so the iterations call `resume()` back to back; after the first, the
//! wake-up channel is full and `try_send` returns `Full` at once, exactly as it does for a
//! paused consumer whose owner is busy. [`ResumeBench::finish`] then ends the outage and checks
//! that the request was applied (a record produced afterwards reaches the handler).

use crate::scripted::{ScriptOptions, ScriptStats, ScriptedTopic};
use crate::BenchError;
use pausebeat::consumer::{Consumer, ConsumerConfig, ConsumerState};
use pausebeat::handler::{Handler, HandlerError};
use pausebeat::kafka::Record;
use pausebeat::probe::{DesignEvent, NoProbe, Probe};
use pausebeat::sync::{AtomicU64, Chan, JoinHandle, Mutex, Runtime, StdRuntime};
use pausebeat_go::{GoConsumer, Variant};
use pausebeat_world::{Env, Instance, Timing};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A design measured by `resume_call`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Design {
    /// A bare channel hand-off: the physical floor.
    Floor,
    /// pausebeat's consumer.
    Vetted,
    /// The Go consumer before PR #1313.
    GoOriginal,
    /// The Go consumer with PR #1313.
    Pr1313,
}

impl Design {
    /// Every design, in the contract's order.
    pub const ALL: [Design; 4] = [
        Design::Floor,
        Design::Vetted,
        Design::GoOriginal,
        Design::Pr1313,
    ];

    /// Its benchmark id (`docs/CONTRACT.md`).
    pub fn name(self) -> &'static str {
        match self {
            Design::Floor => "floor",
            Design::Vetted => "vetted",
            Design::GoOriginal => "go-original",
            Design::Pr1313 => "pr-1313",
        }
    }
}

impl fmt::Display for Design {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The state a design is in when `resume()` is called.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Condition {
    /// Broker up, consumer paused, heartbeat (or owner) idle.
    Healthy,
    /// The coordinator is down and the design is inside a restart.
    Restarting,
}

impl Condition {
    /// Both, in the contract's order.
    pub const ALL: [Condition; 2] = [Condition::Healthy, Condition::Restarting];

    /// Its benchmark id (`docs/CONTRACT.md`).
    pub fn name(self) -> &'static str {
        match self {
            Condition::Healthy => "healthy",
            Condition::Restarting => "restarting",
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The timing every design gets: the Go consumer's defaults divided by 1000.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BenchTiming {
    /// `session.timeout.ms` (Go: 45 s).
    pub session_timeout: Duration,
    /// `max.poll.interval.ms` (Go: 300 s); Go's resume send timeout and, halved, its heartbeat
    /// tick.
    pub max_poll_interval: Duration,
    /// The poll timeout (Go: 5 s).
    pub poll_timeout: Duration,
    /// How long the handler takes per batch (a destination that answers at once would race the
    /// Go heartbeat's hand-off: see `pausebeat-go`'s "computation is free" caveat).
    pub handler_time: Duration,
    /// Untimed pause between iterations, so that the thread `resume()` hands over to is parked
    /// again.
    pub settle: Duration,
    /// The longest the setup waits for a design to reach its state.
    pub setup_timeout: Duration,
}

impl Default for BenchTiming {
    fn default() -> Self {
        BenchTiming {
            session_timeout: Duration::from_millis(45),
            max_poll_interval: Duration::from_millis(300),
            poll_timeout: Duration::from_millis(5),
            handler_time: Duration::from_millis(1),
            settle: Duration::from_millis(1),
            setup_timeout: Duration::from_secs(10),
        }
    }
}

impl BenchTiming {
    /// The Go port's [`Timing`].
    pub fn go_timing(&self) -> Timing {
        Timing {
            session_timeout: self.session_timeout,
            max_poll_interval: self.max_poll_interval,
            poll_timeout: self.poll_timeout,
            batch_period: self.max_poll_interval,
            suspend: false,
            batch_size: 100,
            instance_id: Some("bench-0".to_string()),
            resume_first: false,
            mid_batch_timer: false,
        }
    }

    /// The vetted consumer's configuration (maintenance polls every max.poll/4, short backoffs).
    pub fn vetted_config(&self) -> Result<ConsumerConfig, BenchError> {
        ConsumerConfig::builder()
            .name("bench")
            .instance_id("bench-0")
            .poll_timeout(self.poll_timeout)
            .maintenance_poll_timeout(self.poll_timeout)
            .batch_size(100)
            .max_poll_interval(self.max_poll_interval)
            .session_timeout(self.session_timeout)
            .retry_backoff(self.poll_timeout * 2)
            .restart_backoff(self.poll_timeout * 2)
            .restart_backoff_max(self.poll_timeout * 8)
            .command_timeout(Duration::from_secs(2))
            .build()
            .map_err(BenchError::Config)
    }

    fn script(&self) -> ScriptOptions {
        ScriptOptions {
            partitions: 1,
            payload_len: 100,
            expel_after: self.session_timeout,
            // Longer than any benchmark: the outage ends the stall (`finish`).
            close_stall: Duration::from_secs(600),
        }
    }
}

/// One `resume()` as the probe saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timed {
    /// From `ResumeCalled` to `ResumeReturned`.
    pub took: Duration,
    /// What `ResumeReturned` said.
    pub ok: bool,
}

/// A [`Probe`] that times every `resume()` of a design from [`DesignEvent::ResumeCalled`] to
/// [`DesignEvent::ResumeReturned`] with `std::time::Instant`, whatever thread calls it; every
/// other event is ignored.
///
/// ```
/// use pausebeat::probe::{DesignEvent, Probe};
/// use pausebeat_benches::resume::ResumeTimer;
///
/// let t = ResumeTimer::default();
/// t.note(DesignEvent::ResumeCalled);
/// t.note(DesignEvent::ResumeReturned { ok: false });
/// let got = t.take();
/// assert_eq!(got.len(), 1);
/// assert!(!got[0].ok);
/// ```
pub struct ResumeTimer {
    open: Mutex<StdRuntime, Option<std::time::Instant>>,
    done: Mutex<StdRuntime, Vec<Timed>>,
}

impl Default for ResumeTimer {
    fn default() -> Self {
        ResumeTimer {
            open: Mutex::new(None),
            done: Mutex::new(Vec::new()),
        }
    }
}

impl ResumeTimer {
    /// The resumes timed since the last call.
    pub fn take(&self) -> Vec<Timed> {
        self.done.with(std::mem::take)
    }
}

impl Probe for ResumeTimer {
    fn note(&self, event: DesignEvent) {
        match event {
            DesignEvent::ResumeCalled => {
                let now = std::time::Instant::now();
                self.open.with(|o| *o = Some(now));
            }
            DesignEvent::ResumeReturned { ok } => {
                let now = std::time::Instant::now();
                if let Some(start) = self.open.with(Option::take) {
                    self.done.with(|d| {
                        d.push(Timed {
                            took: now - start,
                            ok,
                        })
                    });
                }
            }
            _ => {}
        }
    }
}

/// A handler that takes a fixed real time per batch and counts records.
pub struct SlowHandler {
    rt: StdRuntime,
    takes: Duration,
    records: AtomicU64<StdRuntime>,
}

impl SlowHandler {
    /// A handler taking `takes` per batch.
    pub fn new(rt: StdRuntime, takes: Duration) -> Self {
        SlowHandler {
            rt,
            takes,
            records: AtomicU64::new(0),
        }
    }

    /// Records handled so far.
    pub fn records(&self) -> u64 {
        self.records.load()
    }
}

impl Handler for SlowHandler {
    fn handle(&self, batch: &[Record]) -> Result<(), HandlerError> {
        if !self.takes.is_zero() {
            self.rt.sleep(self.takes);
        }
        self.records.fetch_add(batch.len() as u64);
        Ok(())
    }
}

/// What a finished benchmark saw, for its log line and `resume_call.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// `resume()` calls measured.
    pub resumes: u64,
    /// Of those, how many returned `ok: false` (Go's "Resume timeout" and friends).
    pub failed: u64,
    /// The topic's counters at the end (all zero for `floor`).
    pub topic: ScriptStats,
    /// For `restarting`: how long after the outage ended the resume requested during it took
    /// effect (a record produced then reached the handler), if it did.
    pub applied_after_outage: Option<Duration>,
}

/// A design set up in a condition, ready to be measured.
pub trait ResumeBench: Send {
    /// Runs `iters` iterations and returns the time spent inside `resume()` alone.
    fn measure(&mut self, iters: u64) -> Result<Duration, BenchError>;
    /// Ends the outage, if any, shuts the design down and reports.
    fn finish(self: Box<Self>) -> Result<Summary, BenchError>;
}

/// Sets `design` up in `condition`.
pub fn setup(
    design: Design,
    condition: Condition,
    timing: &BenchTiming,
) -> Result<Box<dyn ResumeBench>, BenchError> {
    tracing::info!(%design, %condition, "setting up");
    Ok(match design {
        Design::Floor => Box::new(FloorBench::new(condition, timing)),
        Design::Vetted => Box::new(VettedBench::new(condition, timing)?),
        Design::GoOriginal => Box::new(GoBench::new(Variant::Original, condition, timing)?),
        Design::Pr1313 => Box::new(GoBench::new(Variant::Pr1313, condition, timing)?),
    })
}

// ----- floor -------------------------------------------------------------------------------

struct FloorBench {
    rt: StdRuntime,
    healthy: bool,
    settle: Duration,
    signal: Chan<StdRuntime, ()>,
    ack: Chan<StdRuntime, ()>,
    receiver: Option<JoinHandle<StdRuntime, ()>>,
    resumes: u64,
}

impl FloorBench {
    fn new(condition: Condition, timing: &BenchTiming) -> Self {
        let rt = StdRuntime::new();
        let signal: Chan<StdRuntime, ()> = Chan::new(&rt, 1);
        let ack: Chan<StdRuntime, ()> = Chan::new(&rt, 1);
        let healthy = condition == Condition::Healthy;
        let receiver = healthy.then(|| {
            let (signal, ack) = (signal.clone(), ack.clone());
            rt.spawn("floor-receiver", move || {
                while signal.recv().is_some() {
                    if ack.send(()).is_err() {
                        break;
                    }
                }
            })
        });
        FloorBench {
            rt,
            healthy,
            settle: timing.settle,
            signal,
            ack,
            receiver,
            resumes: 0,
        }
    }
}

impl ResumeBench for FloorBench {
    fn measure(&mut self, iters: u64) -> Result<Duration, BenchError> {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let start = std::time::Instant::now();
            let sent = self.signal.try_send(());
            total += start.elapsed();
            if sent.is_err() {
                return Err(BenchError::Setup(
                    "floor: the hand-off channel was full".into(),
                ));
            }
            if self.healthy {
                match self.ack.recv_timeout(Duration::from_secs(5)) {
                    Ok(()) => self.rt.sleep(self.settle),
                    Err(_) => return Err(BenchError::Setup("floor: no acknowledgement".into())),
                }
            } else if self.signal.try_recv() != Ok(()) {
                return Err(BenchError::Setup("floor: nothing to drain".into()));
            }
            self.resumes += 1;
        }
        Ok(total)
    }

    fn finish(mut self: Box<Self>) -> Result<Summary, BenchError> {
        self.signal.close();
        self.ack.close();
        if let Some(r) = self.receiver.take() {
            r.join()
                .map_err(|_| BenchError::Setup("floor: the receiver panicked".into()))?;
        }
        Ok(Summary {
            resumes: self.resumes,
            ..Summary::default()
        })
    }
}

// ----- vetted ------------------------------------------------------------------------------

type VettedConsumer = Consumer<StdRuntime, ScriptedTopic, Arc<SlowHandler>, NoProbe>;

struct VettedBench {
    rt: StdRuntime,
    topic: ScriptedTopic,
    handler: Arc<SlowHandler>,
    consumer: VettedConsumer,
    condition: Condition,
    timing: BenchTiming,
    resumes: u64,
}

impl VettedBench {
    fn new(condition: Condition, timing: &BenchTiming) -> Result<Self, BenchError> {
        let rt = StdRuntime::new();
        let topic = ScriptedTopic::new(rt, timing.script());
        topic.produce(0, 10);
        let handler = Arc::new(SlowHandler::new(rt, timing.handler_time));
        let consumer = Consumer::start(
            &rt,
            timing.vetted_config()?,
            Arc::new(topic.clone()),
            handler.clone(),
            NoProbe,
        );
        let report = consumer.run_once().map_err(BenchError::Consumer)?;
        if report.records != 10 || consumer.status().state != ConsumerState::Paused {
            return Err(BenchError::Setup(format!(
                "vetted: the first run handled {} of 10 records and left the consumer {:?}",
                report.records,
                consumer.status().state
            )));
        }
        let bench = VettedBench {
            rt,
            topic,
            handler,
            consumer,
            condition,
            timing: timing.clone(),
            resumes: 0,
        };
        if condition == Condition::Restarting {
            bench.topic.start_outage();
            // The next maintenance poll fails; once the member is expelled the owner restarts
            // and its close of the old handle stalls.
            if !bench
                .topic
                .wait_until(timing.setup_timeout, |s| s.closing == 1)
            {
                return Err(BenchError::Setup(format!(
                    "vetted: no restart within {:?} of the outage ({:?})",
                    timing.setup_timeout,
                    bench.topic.stats()
                )));
            }
        }
        Ok(bench)
    }
}

impl ResumeBench for VettedBench {
    fn measure(&mut self, iters: u64) -> Result<Duration, BenchError> {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let start = std::time::Instant::now();
            self.consumer.resume();
            total += start.elapsed();
            self.resumes += 1;
            if self.condition == Condition::Healthy {
                self.consumer.pause().map_err(BenchError::Consumer)?;
                self.rt.sleep(self.timing.settle);
            }
        }
        Ok(total)
    }

    fn finish(self: Box<Self>) -> Result<Summary, BenchError> {
        let mut applied = None;
        if self.condition == Condition::Restarting {
            let before = self.handler.records();
            let ended = std::time::Instant::now();
            self.topic.end_outage();
            self.topic.produce(0, 1);
            let deadline = self.rt.now() + self.timing.setup_timeout;
            while self.handler.records() <= before && self.rt.now() < deadline {
                self.rt.sleep(Duration::from_millis(1));
            }
            if self.handler.records() > before {
                applied = Some(ended.elapsed());
            } else {
                return Err(BenchError::Setup(format!(
                    "vetted: the resume requested during the outage was not applied within {:?} \
                     after it ({:?}, {:?})",
                    self.timing.setup_timeout,
                    self.consumer.status(),
                    self.topic.stats()
                )));
            }
        }
        self.consumer.close().map_err(BenchError::Consumer)?;
        Ok(Summary {
            resumes: self.resumes,
            failed: 0,
            topic: self.topic.stats(),
            applied_after_outage: applied,
        })
    }
}

// ----- the Go ports ------------------------------------------------------------------------

struct GoBench {
    rt: StdRuntime,
    variant: Variant,
    topic: ScriptedTopic,
    timer: Arc<ResumeTimer>,
    instance: GoConsumer<StdRuntime, ScriptedTopic>,
    condition: Condition,
    settle: Duration,
    resumes: u64,
    failed: u64,
}

impl GoBench {
    fn new(
        variant: Variant,
        condition: Condition,
        timing: &BenchTiming,
    ) -> Result<Self, BenchError> {
        let rt = StdRuntime::new();
        let topic = ScriptedTopic::new(rt, timing.script());
        let timer = Arc::new(ResumeTimer::default());
        let env = Env {
            rt,
            factory: Arc::new(topic.clone()),
            handler: Arc::new(SlowHandler::new(rt, timing.handler_time)) as Arc<dyn Handler>,
            probe: timer.clone() as Arc<dyn Probe>,
            timing: timing.go_timing(),
        };
        let instance = GoConsumer::start(env, variant);
        // The first run creates the consumer, reads what is there and pauses: the heartbeat
        // starts and waits for its first tick.
        topic.produce(0, 1);
        instance.run();
        let first = timer.take();
        if first.len() != 1 || topic.stats().records_read != 1 || topic.stats().pauses != 1 {
            return Err(BenchError::Setup(format!(
                "{}: the first run did not consume and pause ({} resumes, {:?})",
                variant.name(),
                first.len(),
                topic.stats()
            )));
        }
        if condition == Condition::Restarting {
            topic.start_outage();
            // At its next tick (max.poll/2) the heartbeat polls, fails and restarts; the old
            // handle's close stalls on the unreachable coordinator.
            if !topic.wait_until(timing.setup_timeout, |s| s.closing == 1) {
                return Err(BenchError::Setup(format!(
                    "{}: no restart within {:?} of the outage ({:?})",
                    variant.name(),
                    timing.setup_timeout,
                    topic.stats()
                )));
            }
        }
        Ok(GoBench {
            rt,
            variant,
            topic,
            timer,
            instance,
            condition,
            settle: timing.settle,
            resumes: 0,
            failed: 0,
        })
    }
}

impl ResumeBench for GoBench {
    fn measure(&mut self, iters: u64) -> Result<Duration, BenchError> {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            // A new record, or the run finds nothing new and never resumes (§3.2).
            self.topic.produce(0, 1);
            self.rt.sleep(self.settle);
            self.instance.run();
            let timed = self.timer.take();
            let [one] = timed.as_slice() else {
                return Err(BenchError::Setup(format!(
                    "{}: a run made {} resume() calls, expected 1",
                    self.variant.name(),
                    timed.len()
                )));
            };
            total += one.took;
            self.resumes += 1;
            if !one.ok {
                self.failed += 1;
            }
        }
        Ok(total)
    }

    fn finish(self: Box<Self>) -> Result<Summary, BenchError> {
        if self.condition == Condition::Restarting {
            self.topic.end_outage();
        }
        // Retire + close; the goroutines notice within a heartbeat tick or a retire check (1 s).
        self.instance.close();
        Ok(Summary {
            resumes: self.resumes,
            failed: self.failed,
            topic: self.topic.stats(),
            applied_after_outage: None,
        })
    }
}
