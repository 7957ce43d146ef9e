//! `pausebeat demo`: the vetted consumer on real rdkafka against librdkafka's embedded mock
//! cluster, through a run, pause/resume cycles, records produced while paused, a full outage (all
//! brokers down) with `resume()` called during it, recovery, a run until caught up, `suspend()`
//! and `close()`.
//!
//! It prints a timeline (elapsed milliseconds, what happened) and the numbers, and with
//! `--json FILE` writes the fields of `docs/CONTRACT.md` (`records_produced`, `records_handled`,
//! `records_lost`, `consumers_created`, `consumers_closed`, `outage_ms`, `resume_latency_us`
//! `{p50, p99, max}`, `resume_to_record_ms` `{p50, max}`).
//!
//! The demo is judged by the catalogue's properties, as a model run is: the consumer's calls on
//! librdkafka are recorded, the handler logs its batches, the demo's calls and the consumer's
//! own events go to the same log ([`pausebeat_world::real::RealRun`]). It passes (exit 0) when
//! every property held on that log (nothing lost or committed past the handler, nothing handed
//! while paused, nothing opened after the suspend, every handle closed once, `resume()` within
//! its bound, …) and `close()` succeeded. A watchdog thread ends the
//! process with exit status 1 if the demo runs past [`DemoOptions::hard_limit`] (55 s;
//! [`HARD_LIMIT_ENV`] overrides it): librdkafka calls can hang (its destroy, after outages), and
//! the demo must never.
//!
//! [`execute`] runs the demo and returns a [`DemoReport`] (no watchdog, no exit); [`run`] is the
//! command: watchdog, timeline on stdout, JSON, exit status.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use pausebeat::consumer::{Consumer, ConsumerConfig};
use pausebeat::rdkafka::mock::{Broker, MockError, MockKafka, MockOptions};
use pausebeat::rdkafka::{KafkaConfig, RdKafkaFactory};
use pausebeat::sync::{Chan, Condvar, Mutex, RecvError, Runtime, StdRuntime};
use pausebeat::{ConsumerError, Handler, HandlerError, Offset, Partition, Record};
use pausebeat_world::properties::{Bounds, Property, Rules};
use pausebeat_world::real::{LoggedHandler, RealRun};
use pausebeat_world::record::Recorded;
use pausebeat_world::{EventLog, Op};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::topic_partition_list::{Offset as RdOffset, TopicPartitionList};
use serde::Serialize;

/// What the demo does, and its bounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoOptions {
    /// Partitions of the demo topic.
    pub partitions: i32,
    /// Records produced to each partition before the first run.
    pub initial_per_partition: u64,
    /// Records produced to each partition while the consumer is paused, before the outage.
    pub paused_per_partition: u64,
    /// Pause/resume cycles timed for `resume_latency_us`.
    pub cycles: usize,
    /// Samples of `resume_to_record_ms` (produce while paused, then resume).
    pub record_samples: usize,
    /// How long all brokers are down.
    pub outage: Duration,
    /// When `resume()` is called, counted from the start of the outage.
    pub resume_into_outage: Duration,
    /// The longest the whole demo may take; [`run`]'s watchdog exits the process past it.
    pub hard_limit: Duration,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            partitions: 4,
            initial_per_partition: 250,
            paused_per_partition: 100,
            cycles: 30,
            record_samples: 6,
            outage: Duration::from_secs(4),
            resume_into_outage: Duration::from_millis(1500),
            hard_limit: Duration::from_secs(55),
        }
    }
}

/// Why the demo could not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The mock cluster failed (start, produce, fault injection).
    #[error("mock cluster: {0}")]
    Mock(#[from] MockError),
    /// The rdkafka configuration was refused.
    #[error("kafka configuration: {0}")]
    KafkaConfig(#[from] pausebeat::rdkafka::ConfigError),
    /// The consumer configuration was refused.
    #[error("consumer configuration: {0}")]
    ConsumerConfig(#[from] pausebeat::consumer::ConfigError),
    /// A consumer call failed where the demo cannot go on.
    #[error("consumer: {0}")]
    Consumer(#[from] ConsumerError),
    /// A step did not happen within its bound.
    #[error("{0}")]
    Stuck(String),
}

/// Percentiles of `resume()`'s duration, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct CallLatency {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

/// Percentiles of the time from `resume()` to the next record handed to the handler, in
/// milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct RecordLatency {
    /// Median.
    pub p50: f64,
    /// Largest.
    pub max: f64,
}

/// The demo's numbers: exactly the fields of `demo --json` in `docs/CONTRACT.md`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DemoNumbers {
    /// Records produced to the mock cluster.
    pub records_produced: u64,
    /// Distinct produced records handed to the handler (and finished by it).
    pub records_handled: u64,
    /// Produced records never handled.
    pub records_lost: u64,
    /// Consumer handles the vetted consumer created.
    pub consumers_created: u64,
    /// Consumer handles it closed.
    pub consumers_closed: u64,
    /// How long all brokers were down.
    pub outage_ms: u64,
    /// `resume()` call → return, over the pause/resume cycles and the call during the outage.
    pub resume_latency_us: CallLatency,
    /// `resume()` → next record handed to the handler, over the samples.
    pub resume_to_record_ms: RecordLatency,
}

/// What [`execute`] found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DemoReport {
    /// The contract's numbers.
    pub numbers: DemoNumbers,
    /// `resume()` latency during the outage alone.
    pub resume_during_outage: Duration,
    /// From the brokers coming back to every record handled.
    pub recovery: Duration,
    /// Records handed to the handler more than once (at-least-once delivery).
    pub duplicates: u64,
    /// Each property's verdict on the demo's log: `held`, or what violated it.
    pub properties: BTreeMap<String, String>,
    /// The properties violated (empty: they all held).
    pub violations: Vec<String>,
    /// `close()` failed (it did not return within its bound, or a thread panicked).
    pub close_error: Option<String>,
    /// The timeline: elapsed time, what happened.
    pub timeline: Vec<(Duration, String)>,
}

impl DemoReport {
    /// Whether the demo passed: every property held on its log and `close()` succeeded.
    pub fn passed(&self) -> bool {
        self.violations.is_empty() && self.close_error.is_none()
    }
}

/// The timeline: printed as it happens (when `echo` is set) and kept for the report.
struct Timeline {
    rt: StdRuntime,
    echo: bool,
    lines: Mutex<StdRuntime, Vec<(Duration, String)>>,
}

impl Timeline {
    fn new(rt: StdRuntime, echo: bool) -> Self {
        Timeline {
            rt,
            echo,
            lines: Mutex::new(Vec::new()),
        }
    }

    fn at(&self) -> Duration {
        self.rt.now().since_origin()
    }

    fn note(&self, what: impl Into<String>) {
        let at = self.at();
        let what = what.into();
        if self.echo {
            println!("{:>8} ms  {what}", at.as_millis());
        }
        tracing::info!(target: "pausebeat::demo", elapsed_ms = at.as_millis() as u64, "{what}");
        self.lines.with(|l| l.push((at, what)));
    }

    fn take(&self) -> Vec<(Duration, String)> {
        self.lines.with(std::mem::take)
    }
}

/// What the handler was handed.
#[derive(Default)]
struct Handled {
    distinct: BTreeSet<(Partition, Offset)>,
    deliveries: u64,
    /// When each batch arrived (demo time).
    batches: Vec<Duration>,
}

/// The demo's batch handler: records every record and when each batch came.
struct DemoHandler {
    rt: StdRuntime,
    state: Mutex<StdRuntime, Handled>,
    cv: Condvar<StdRuntime>,
}

impl DemoHandler {
    fn new(rt: StdRuntime) -> Arc<Self> {
        Arc::new(DemoHandler {
            rt,
            state: Mutex::new(Handled::default()),
            cv: Condvar::new(&rt),
        })
    }

    fn deliveries(&self) -> u64 {
        self.state.with(|s| s.deliveries)
    }

    fn handled(&self) -> BTreeSet<(Partition, Offset)> {
        self.state.with(|s| s.distinct.clone())
    }

    /// Waits at most `limit` until every record of `want` was handled.
    fn wait_all(&self, want: &BTreeSet<(Partition, Offset)>, limit: Duration) -> bool {
        let deadline = self.rt.now() + limit;
        self.cv
            .wait_while(&self.state, Some(deadline), "demo: all handled", |s| {
                !want.is_subset(&s.distinct)
            })
    }

    /// Waits at most `limit` for the first batch at or after `since`; returns when it came.
    fn first_batch_after(&self, since: Duration, limit: Duration) -> Option<Duration> {
        let deadline = self.rt.now() + limit;
        let mut found = None;
        self.cv
            .wait_while(&self.state, Some(deadline), "demo: next batch", |s| {
                found = s.batches.iter().copied().find(|t| *t >= since);
                found.is_none()
            });
        found
    }
}

impl Handler for DemoHandler {
    fn handle(&self, batch: &[Record]) -> Result<(), HandlerError> {
        let at = self.rt.now().since_origin();
        self.state.with(|s| {
            s.deliveries += batch.len() as u64;
            s.batches.push(at);
            s.distinct
                .extend(batch.iter().map(|r| (r.partition, r.offset)));
        });
        self.cv.notify_all();
        Ok(())
    }
}

type DemoConsumer = Consumer<
    StdRuntime,
    Recorded<StdRuntime, RdKafkaFactory>,
    Arc<LoggedHandler<StdRuntime, Arc<DemoHandler>>>,
    EventLog<StdRuntime>,
>;

/// The properties' rules for the demo: real-time bounds (`resume()` never waits: 100 ms allows
/// for a busy machine; a resume takes effect within 10 s; maintenance polls a quarter of
/// max.poll before it runs out; `close()` within the command timeout plus the client's close
/// timeout).
fn rules() -> Rules {
    Rules {
        bounds: Bounds {
            resume: Duration::from_millis(100),
            resume_applied: Duration::from_secs(10),
            poll_margin: MAX_POLL / 4,
            close: Duration::from_secs(15),
            close_grace: Duration::ZERO,
        },
        max_poll_interval: MAX_POLL,
        judge_shutdown: true,
        all_records_due: true,
    }
}

const MAX_POLL: Duration = Duration::from_secs(10);

const GROUP: &str = "pausebeat-demo";

/// The demo's librdkafka settings: small timeouts so that the demo is quick.
fn kafka_config(kafka: &MockKafka) -> KafkaConfig {
    kafka
        .consumer_config(GROUP)
        .with_session_timeout(Duration::from_secs(6))
        .with_max_poll_interval(Duration::from_secs(10))
        .with_close_timeout(Duration::from_secs(5))
        .with("heartbeat.interval.ms", "500")
        .with("reconnect.backoff.max.ms", "500")
        .with("fetch.wait.max.ms", "100")
}

/// The demo's consumer settings (matching [`kafka_config`]).
fn consumer_config() -> Result<ConsumerConfig, DemoError> {
    Ok(ConsumerConfig::builder()
        .name("demo")
        .instance_id("pausebeat-demo-0")
        .session_timeout(Duration::from_secs(6))
        .max_poll_interval(Duration::from_secs(10))
        // Longer than a fresh partition's start (offset query, first fetch: ≈ 100-150 ms in the
        // mock): a run that ended (paused) while that query is in flight makes librdkafka restart
        // the partition from the beginning later (duplicates; see `tests/vetted.rs`). It also
        // bounds how long pause() waits for the owner.
        .poll_timeout(Duration::from_millis(300))
        .maintenance_poll_timeout(Duration::from_millis(100))
        .retry_backoff(Duration::from_millis(200))
        .restart_backoff(Duration::from_millis(250))
        .restart_backoff_max(Duration::from_secs(2))
        .command_timeout(Duration::from_secs(10))
        .batch_size(100)
        .build()?)
}

/// Produces `per_partition` records to every partition; returns them.
fn produce(
    kafka: &MockKafka,
    per_partition: u64,
) -> Result<BTreeSet<(Partition, Offset)>, DemoError> {
    let mut out = BTreeSet::new();
    for p in 0..kafka.partitions() {
        out.extend(kafka.produce(p, per_partition)?.map(|o| (p, o)));
    }
    Ok(out)
}

/// The nearest-rank percentile `q` (0..=1) of sorted values.
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn call_latency(mut v: Vec<Duration>) -> CallLatency {
    v.sort();
    let us = |d: Duration| round3(d.as_secs_f64() * 1e6);
    CallLatency {
        p50: us(percentile(&v, 0.50)),
        p99: us(percentile(&v, 0.99)),
        max: us(v.last().copied().unwrap_or_default()),
    }
}

fn record_latency(mut v: Vec<Duration>) -> RecordLatency {
    v.sort();
    let ms = |d: Duration| round3(d.as_secs_f64() * 1e3);
    RecordLatency {
        p50: ms(percentile(&v, 0.50)),
        max: ms(v.last().copied().unwrap_or_default()),
    }
}

/// Calls `run_once` until every record of `want` was handled (a run ends at the first empty
/// poll, which can come before a backlog is read); returns the runs made.
fn run_until_caught_up(
    run: &RealRun<StdRuntime>,
    consumer: &DemoConsumer,
    handler: &DemoHandler,
    want: &BTreeSet<(Partition, Offset)>,
    limit: Duration,
    timeline: &Timeline,
) -> Result<usize, DemoError> {
    let deadline = timeline.at() + limit;
    let mut runs = 0;
    while !handler.wait_all(want, Duration::ZERO) {
        if timeline.at() >= deadline {
            return Err(DemoError::Stuck(format!(
                "not caught up after {runs} runs ({:?})",
                consumer.status()
            )));
        }
        runs += 1;
        match run.call(Op::Run, || consumer.run_once()) {
            Ok(r) => timeline.note(format!(
                "run {runs}: {} records in {} batches, {} commits; ended {:?}",
                r.records, r.batches, r.commits, r.ended_in
            )),
            Err(e) => timeline.note(format!("run {runs}: {e}")),
        }
    }
    Ok(runs)
}

/// `resume()`, logged as an application call (it cannot fail).
fn resume(run: &RealRun<StdRuntime>, consumer: &DemoConsumer) {
    let _ = run.call(Op::Resume, || {
        consumer.resume();
        Ok::<(), ConsumerError>(())
    });
}

/// Reads the group's committed offsets without joining it (a consumer that never subscribes).
fn committed_offsets(kafka: &MockKafka) -> Result<BTreeMap<Partition, Option<Offset>>, DemoError> {
    let reader: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap_servers())
        .set("group.id", GROUP)
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|e| DemoError::Stuck(format!("offset reader: {e}")))?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..kafka.partitions() {
        tpl.add_partition(kafka.topic(), p);
    }
    let tpl = reader
        .committed_offsets(tpl, Duration::from_secs(5))
        .map_err(|e| DemoError::Stuck(format!("reading committed offsets: {e}")))?;
    Ok(tpl
        .elements()
        .iter()
        .map(|e| {
            let o = match e.offset() {
                RdOffset::Offset(o) => Some(o),
                _ => None,
            };
            (e.partition(), o)
        })
        .collect())
}

/// Runs the demo (without a watchdog: see [`run`]). With `echo`, the timeline is printed as it
/// happens.
pub fn execute(opts: &DemoOptions, echo: bool) -> Result<DemoReport, DemoError> {
    let rt = StdRuntime::new();
    let timeline = Timeline::new(rt, echo);
    let kafka = MockKafka::start(MockOptions {
        brokers: 3,
        topic: "pausebeat-demo".to_string(),
        partitions: opts.partitions,
        ..MockOptions::default()
    })?;
    timeline.note(format!(
        "mock cluster up: 3 brokers, topic `{}` with {} partitions ({})",
        kafka.topic(),
        kafka.partitions(),
        kafka.bootstrap_servers()
    ));
    let mut produced = produce(&kafka, opts.initial_per_partition)?;
    timeline.note(format!("produced {} records", produced.len()));

    let handler = DemoHandler::new(rt);
    let run = RealRun::new(&rt);
    let factory = Arc::new(Recorded::new(
        &rt,
        RdKafkaFactory::new(kafka_config(&kafka))?,
        run.log(),
    ));
    let consumer: DemoConsumer = Consumer::start(
        &rt,
        consumer_config()?,
        factory,
        Arc::new(LoggedHandler::new(run.log(), handler.clone())),
        run.log(),
    );
    let result = drive(
        opts,
        &kafka,
        &run,
        &consumer,
        &handler,
        &timeline,
        &mut produced,
    );

    // Whatever happened, close (bounded by the command timeout) before judging.
    let t = timeline.at();
    let closed = run.call(Op::Close, || consumer.close());
    let s = consumer.status();
    timeline.note(format!(
        "close() returned {:?} after {} ms: state {:?}, consumers created {}, closed {}",
        closed.as_ref().map(|_| ()),
        (timeline.at() - t).as_millis(),
        s.state,
        s.consumers_created,
        s.consumers_closed
    ));
    let mut report = result?;
    report.close_error = closed.err().map(|e| e.to_string());

    let handled = handler.handled();
    let lost = produced.difference(&handled).count() as u64;
    let handled_produced = produced.intersection(&handled).count() as u64;
    let n = &mut report.numbers;
    n.records_produced = produced.len() as u64;
    n.records_handled = handled_produced;
    n.records_lost = lost;
    n.consumers_created = s.consumers_created;
    n.consumers_closed = s.consumers_closed;
    report.duplicates = handler.deliveries().saturating_sub(handled.len() as u64);

    let committed = committed_offsets(&kafka)?;
    let mut high: BTreeMap<Partition, Offset> = (0..kafka.partitions()).map(|p| (p, 0)).collect();
    for &(p, o) in &produced {
        let h = high.entry(p).or_default();
        *h = (*h).max(o + 1);
    }
    let violations = run.judge(&rules(), high, Vec::new());
    for p in Property::ALL {
        let verdict = violations
            .iter()
            .find(|v| v.property == p)
            .map_or("held".to_string(), |v| {
                format!("violated at {}: {}", v.at, v.message)
            });
        report.properties.insert(p.name().to_string(), verdict);
    }
    report.violations = violations
        .iter()
        .map(|v| format!("{} at {}: {}", v.property, v.at, v.message))
        .collect();
    timeline.note(format!(
        "properties judged on {} events: {}",
        run.log().len(),
        if report.violations.is_empty() {
            "all held".to_string()
        } else {
            report.violations.join("; ")
        }
    ));
    timeline.note(format!(
        "committed offsets: {}",
        committed
            .iter()
            .map(|(p, c)| format!("p{p}={}", c.map_or("-".to_string(), |c| c.to_string())))
            .collect::<Vec<_>>()
            .join(" ")
    ));
    report.timeline = timeline.take();
    Ok(report)
}

/// The demo's steps between starting and closing the consumer.
fn drive(
    opts: &DemoOptions,
    kafka: &MockKafka,
    run: &RealRun<StdRuntime>,
    consumer: &DemoConsumer,
    handler: &DemoHandler,
    timeline: &Timeline,
    produced: &mut BTreeSet<(Partition, Offset)>,
) -> Result<DemoReport, DemoError> {
    // The timeline's clock, which the handler's batch times also use.
    let rt = timeline.rt;
    let mut report = DemoReport::default();

    // 1. A run: opens the consumer, reads the backlog, commits, pauses.
    timeline.note("run_once(): opens the consumer and reads until caught up");
    run_until_caught_up(
        run,
        consumer,
        handler,
        produced,
        Duration::from_secs(20),
        timeline,
    )?;
    let s = consumer.status();
    timeline.note(format!(
        "caught up: {} handled, {} commits; state {:?}",
        s.records_handled, s.commits, s.state
    ));

    // 2. pause/resume cycles: how long resume() takes.
    let mut resume_calls = Vec::with_capacity(opts.cycles + 1);
    for _ in 0..opts.cycles {
        let t = rt.now();
        resume(run, consumer);
        resume_calls.push(rt.now() - t);
        run.call(Op::Pause, || consumer.pause())?;
    }
    let cycles = call_latency(resume_calls.clone());
    timeline.note(format!(
        "{} pause/resume cycles: resume() p50 {} µs, max {} µs",
        opts.cycles, cycles.p50, cycles.max
    ));

    // 3. resume → next record: produce while paused, then resume.
    let mut to_record = Vec::with_capacity(opts.record_samples);
    for i in 0..opts.record_samples {
        let fresh = produce(kafka, 1)?;
        produced.extend(fresh.iter().copied());
        rt.sleep(Duration::from_millis(200));
        let t = timeline.at();
        resume(run, consumer);
        let Some(at) = handler.first_batch_after(t, Duration::from_secs(10)) else {
            return Err(DemoError::Stuck(format!(
                "sample {i}: no record within 10 s of resume()"
            )));
        };
        to_record.push(at - t);
        if !handler.wait_all(&fresh, Duration::from_secs(10)) {
            return Err(DemoError::Stuck(format!("sample {i}: records missing")));
        }
        run.call(Op::Pause, || consumer.pause())?;
    }
    report.numbers.resume_to_record_ms = record_latency(to_record.clone());
    timeline.note(format!(
        "resume() → next record, {} samples: {:?} ms",
        to_record.len(),
        to_record.iter().map(|d| d.as_millis()).collect::<Vec<_>>()
    ));

    // 4. Records produced while paused: none reaches the handler.
    let before = handler.deliveries();
    let paused_batch = produce(kafka, opts.paused_per_partition)?;
    produced.extend(paused_batch.iter().copied());
    timeline.note(format!(
        "paused; produced {} records while paused",
        paused_batch.len()
    ));

    // 5. A full outage, with resume() called in the middle of it.
    kafka.broker_down(Broker::All)?;
    let down = rt.now();
    timeline.note("ALL BROKERS DOWN");
    rt.sleep(opts.resume_into_outage);
    let handed_while_paused = handler.deliveries() - before;
    let t = rt.now();
    resume(run, consumer);
    let during = rt.now() - t;
    resume_calls.push(during);
    report.resume_during_outage = during;
    timeline.note(format!(
        "resume() during the outage returned in {:.1} µs (records handed while paused: {})",
        during.as_secs_f64() * 1e6,
        handed_while_paused
    ));
    rt.sleep(opts.outage.saturating_sub(rt.now() - down));
    kafka.broker_up(Broker::All)?;
    let up = rt.now();
    report.numbers.outage_ms = (up - down).as_millis() as u64;
    timeline.note(format!(
        "brokers back up after {} ms",
        report.numbers.outage_ms
    ));

    // 6. Recovery: the consumer (running since the resume) reads everything.
    let first = handler.first_batch_after(up.since_origin(), Duration::from_secs(30));
    if !handler.wait_all(produced, Duration::from_secs(30)) {
        return Err(DemoError::Stuck(format!(
            "not every record handled 30 s after the outage ({:?})",
            consumer.status()
        )));
    }
    report.recovery = rt.now() - up;
    let s = consumer.status();
    timeline.note(format!(
        "recovered: first record {} ms after the brokers came back, all {} handled after {} ms \
         (restarts {}, consumers created {})",
        first.map_or(0, |f| f.saturating_sub(up.since_origin()).as_millis()),
        produced.len(),
        report.recovery.as_millis(),
        s.restarts,
        s.consumers_created
    ));

    // 7. Periodic runs go on: pause, more records, runs until caught up.
    run.call(Op::Pause, || consumer.pause())?;
    let more = produce(kafka, 25)?;
    produced.extend(more.iter().copied());
    timeline.note(format!(
        "paused; produced {} more; run_once() until caught up",
        more.len()
    ));
    run_until_caught_up(
        run,
        consumer,
        handler,
        produced,
        Duration::from_secs(20),
        timeline,
    )?;

    // 8. suspend: no consumer open, none created until the next run (`suspend-final`).
    run.call(Op::Suspend, || consumer.suspend())?;
    let s = consumer.status();
    timeline.note(format!(
        "suspend(): state {:?}, consumers created {}, closed {}",
        s.state, s.consumers_created, s.consumers_closed
    ));
    rt.sleep(Duration::from_secs(1));
    report.numbers.resume_latency_us = call_latency(resume_calls);
    Ok(report)
}

/// Prints the numbers under the timeline.
fn print_numbers(report: &DemoReport) {
    let n = &report.numbers;
    println!();
    println!(
        "records: produced {}, handled {} (distinct; {} duplicates), lost {}",
        n.records_produced, n.records_handled, report.duplicates, n.records_lost
    );
    println!(
        "consumers: created {}, closed {}",
        n.consumers_created, n.consumers_closed
    );
    println!(
        "outage: {} ms; every record handled {} ms after it",
        n.outage_ms,
        report.recovery.as_millis()
    );
    println!(
        "resume() call: p50 {} µs, p99 {} µs, max {} µs (during the outage: {:.1} µs)",
        n.resume_latency_us.p50,
        n.resume_latency_us.p99,
        n.resume_latency_us.max,
        report.resume_during_outage.as_secs_f64() * 1e6
    );
    println!(
        "resume() → next record: p50 {} ms, max {} ms",
        n.resume_to_record_ms.p50, n.resume_to_record_ms.max
    );
    if let Some(e) = &report.close_error {
        println!("CLOSE FAILED: {e}");
    }
    println!("properties:");
    for (p, v) in &report.properties {
        println!("  {p:<24} {v}");
    }
}

/// Starts a thread that ends the process with exit status 1 unless `done` is signalled (or
/// closed) within `limit` (`what`: the command, for the message).
pub(crate) fn watchdog(rt: &StdRuntime, what: &str, limit: Duration) -> Chan<StdRuntime, ()> {
    let done: Chan<StdRuntime, ()> = Chan::new(rt, 1);
    let d = done.clone();
    let what = what.to_string();
    // Detached: it either sees `done` or ends the process.
    drop(rt.spawn(&format!("{what}-watchdog"), move || {
        if d.recv_timeout(limit) == Err(RecvError::Empty) {
            eprintln!("{what}: watchdog: not finished within {limit:?}; exiting with status 1");
            std::process::exit(1);
        }
    }));
    done
}

/// The end of a command on the real backend (`demo`, `soak`): writes `json` to `path` (if
/// given), prints PASSED or FAILED, and returns the exit status (1 if `ok` is false or the JSON
/// could not be written).
pub(crate) fn conclude(
    what: &str,
    mut ok: bool,
    json: &impl Serialize,
    path: Option<&Path>,
) -> ExitCode {
    if let Some(path) = path {
        match serde_json::to_string_pretty(json)
            .map_err(|e| e.to_string())
            .and_then(|text| std::fs::write(path, text).map_err(|e| e.to_string()))
        {
            Ok(()) => println!("wrote {}", path.display()),
            Err(e) => {
                eprintln!("{what}: writing {}: {e}", path.display());
                ok = false;
            }
        }
    }
    println!("{what} {}", if ok { "PASSED" } else { "FAILED" });
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Overrides [`DemoOptions::hard_limit`] of [`run`], in milliseconds (for testing the watchdog).
pub const HARD_LIMIT_ENV: &str = "PAUSEBEAT_DEMO_HARD_LIMIT_MS";

/// `pausebeat demo [--json FILE]`: runs the demo under a watchdog, prints the timeline and the
/// numbers, writes the JSON, and returns exit status 0 if every demo property held, 1 otherwise
/// (including a failure to run the demo or to write the JSON).
pub fn run(json: Option<&Path>) -> ExitCode {
    let mut opts = DemoOptions::default();
    if let Some(ms) = std::env::var(HARD_LIMIT_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        opts.hard_limit = Duration::from_millis(ms);
    }
    let rt = StdRuntime::new();
    let done = watchdog(&rt, "demo", opts.hard_limit);
    println!("pausebeat demo: the vetted consumer on librdkafka's mock cluster");
    println!("{:>8}     what", "elapsed");
    let result = execute(&opts, true);
    let code = match result {
        Ok(report) => {
            print_numbers(&report);
            conclude("demo", report.passed(), &report.numbers, json)
        }
        Err(e) => {
            eprintln!("demo: {e}");
            println!("demo FAILED");
            ExitCode::from(1)
        }
    };
    let _ = done.try_send(());
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        assert_eq!(percentile(&v, 0.5), Duration::from_micros(50));
        assert_eq!(percentile(&v, 0.99), Duration::from_micros(99));
        assert_eq!(percentile(&v, 1.0), Duration::from_micros(100));
        assert_eq!(percentile(&v[..1], 0.99), Duration::from_micros(1));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
        let c = call_latency(vec![Duration::from_nanos(1500), Duration::from_nanos(500)]);
        assert_eq!((c.p50, c.p99, c.max), (0.5, 1.5, 1.5));
    }

    #[test]
    fn the_json_has_exactly_the_contract_fields() {
        let v = serde_json::to_value(DemoNumbers::default()).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "consumers_closed",
                "consumers_created",
                "outage_ms",
                "records_handled",
                "records_lost",
                "records_produced",
                "resume_latency_us",
                "resume_to_record_ms"
            ]
        );
        let mut lat: Vec<&str> = v["resume_latency_us"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        lat.sort_unstable();
        assert_eq!(lat, ["max", "p50", "p99"]);
        let mut rec: Vec<&str> = v["resume_to_record_ms"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        rec.sort_unstable();
        assert_eq!(rec, ["max", "p50"]);
    }

    #[test]
    fn passed_needs_every_property_held_and_close_ok() {
        let mut r = DemoReport::default();
        assert!(r.passed());
        r.violations
            .push("no-loss at 1 s: p0@3 never handled".into());
        assert!(!r.passed());
        r.violations.clear();
        r.close_error = Some("timeout".into());
        assert!(!r.passed());
    }
}
