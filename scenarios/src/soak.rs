//! `pausebeat soak`: the vetted consumer on real rdkafka against librdkafka's mock cluster for a
//! long while, under random operations and random faults, seeded and reproducible in what it
//! does (librdkafka's own timing is not).
//!
//! Two application threads call the consumer at random: runs, `pause()`, `resume()`,
//! `suspend()`, and close-and-reopen (the consumer is closed and a new one started in its
//! place). A fault thread injects, one at a time: one or every broker down for a while, request
//! errors on Fetch, Heartbeat, JoinGroup, SyncGroup or OffsetCommit, round-trip spikes, and
//! another member joining the group and leaving it (it commits nothing). A producer writes
//! records all along. At the end the faults are healed, runs catch up, and the consumer is
//! closed.
//!
//! It is judged by the catalogue's properties, exactly as a model run is: the consumer's calls on
//! librdkafka are recorded ([`pausebeat_world::record::Recorded`]), the handler logs its batches,
//! the application threads' calls and the consumer's own events go to the same log
//! ([`pausebeat_world::real::RealRun`]), and every property is judged from it at the end
//! (`no-loss`: nothing committed past an unhandled record, every produced record handled;
//! `no-duplicates`: a record handed again only for a cause; `single-consumer`,
//! `clean-shutdown`, `resume-bounded`, `membership-kept`, … with real-time bounds). The report
//! lists each property's verdict; duplicates and handles are counted too.
//!
//! [`execute`] runs it and returns a [`SoakReport`]; [`run`] is the command (a watchdog, the
//! report, `--json`, exit status 0 only if every check held).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use pausebeat::consumer::{Consumer, ConsumerConfig};
use pausebeat::rdkafka::mock::{Broker, MockKafka, MockOptions};
use pausebeat::rdkafka::{KafkaConfig, RdKafkaFactory};
use pausebeat::sync::{AtomicBool, AtomicU64, Mutex, Runtime, StdRuntime};
use pausebeat::{ConsumerError, Handler, HandlerError, Offset, Partition, Record};
use pausebeat_world::properties::{Bounds, Property, Rules};
use pausebeat_world::real::{LoggedHandler, RealRun};
use pausebeat_world::record::Recorded;
use pausebeat_world::{EventLog, Op};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use serde::Serialize;

/// When the soak ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SoakEnd {
    /// Once the application threads made this many operations (tests: an event, not a window).
    Operations(u64),
    /// After this long (`pausebeat soak --minutes`).
    Time(Duration),
}

/// What the soak does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SoakOptions {
    /// Seeds the operations, the faults and the producer.
    pub seed: u64,
    /// When it ends.
    pub end: SoakEnd,
    /// The longest the catch-up at the end may take before the remaining records count as lost.
    pub catch_up: Duration,
}

impl Default for SoakOptions {
    fn default() -> Self {
        SoakOptions {
            seed: 1,
            end: SoakEnd::Operations(60),
            catch_up: Duration::from_secs(120),
        }
    }
}

/// Why the soak could not run: the demo's errors (the same mock cluster, configurations and
/// consumer calls; a failed offset read is `Stuck`).
pub type SoakError = crate::demo::DemoError;

/// The soak's figures (`--json`).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct SoakReport {
    /// The seed.
    pub seed: u64,
    /// How long it ran, catch-up included.
    pub elapsed_ms: u64,
    /// Operations made by the application threads, by kind (`run`, `pause`, `resume`,
    /// `suspend`, `reopen`, `idle`).
    pub operations: BTreeMap<String, u64>,
    /// Operations that returned an error, by error (timeouts under faults, calls on a consumer
    /// being closed).
    pub errors: BTreeMap<String, u64>,
    /// Faults injected, by kind.
    pub faults: BTreeMap<String, u64>,
    /// Records produced.
    pub records_produced: u64,
    /// Distinct records handled.
    pub records_handled: u64,
    /// Produced records never handled.
    pub records_lost: u64,
    /// Records handled more than once (deliveries beyond the first).
    pub duplicates: u64,
    /// Consumer handles created, over every consumer the soak started.
    pub consumers_created: u64,
    /// Consumer handles closed.
    pub consumers_closed: u64,
    /// Consumers started (one, plus one per reopen).
    pub consumers_started: u64,
    /// The longest `close()`.
    pub longest_close_ms: u64,
    /// Its bound (`clean-shutdown`): the command timeout plus librdkafka's close timeout.
    pub close_bound_ms: u64,
    /// Events in the run's log.
    pub events: u64,
    /// Each property's verdict on the run: `held`, or what violated it.
    pub properties: BTreeMap<String, String>,
    /// What went wrong (empty: the soak passed): every property violated, and anything that
    /// stopped the soak's own threads.
    pub problems: Vec<String>,
}

impl SoakReport {
    /// True if every check held.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What the handler was handed.
#[derive(Default)]
struct Handled {
    distinct: BTreeSet<(Partition, Offset)>,
    deliveries: u64,
}

struct SoakHandler {
    state: Mutex<StdRuntime, Handled>,
}

impl Handler for SoakHandler {
    fn handle(&self, batch: &[Record]) -> Result<(), HandlerError> {
        self.state.with(|s| {
            s.deliveries += batch.len() as u64;
            s.distinct
                .extend(batch.iter().map(|r| (r.partition, r.offset)));
        });
        Ok(())
    }
}

type SoakFactory = Recorded<StdRuntime, RdKafkaFactory>;
type SoakHandlerLogged = LoggedHandler<StdRuntime, SoakHandler>;
type SoakConsumer = Consumer<StdRuntime, SoakFactory, Arc<SoakHandlerLogged>, EventLog<StdRuntime>>;

const GROUP: &str = "pausebeat-soak";
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_POLL: Duration = Duration::from_secs(10);

fn kafka_config(kafka: &MockKafka) -> KafkaConfig {
    kafka
        .consumer_config(GROUP)
        .with_instance_id("pausebeat-soak-0")
        .with_session_timeout(Duration::from_secs(6))
        .with_max_poll_interval(MAX_POLL)
        .with_close_timeout(CLOSE_TIMEOUT)
        .with("heartbeat.interval.ms", "500")
        .with("reconnect.backoff.max.ms", "500")
        .with("fetch.wait.max.ms", "100")
}

fn consumer_config(kafka_config: &KafkaConfig) -> Result<ConsumerConfig, SoakError> {
    Ok(kafka_config
        .consumer_config()
        .name("soak")
        .poll_timeout(Duration::from_millis(300))
        .maintenance_poll_timeout(Duration::from_millis(100))
        .retry_backoff(Duration::from_millis(200))
        .restart_backoff(Duration::from_millis(250))
        .restart_backoff_max(Duration::from_secs(2))
        .command_timeout(COMMAND_TIMEOUT)
        .batch_size(100)
        .build()?)
}

/// Everything the soak's threads share.
struct Soak {
    rt: StdRuntime,
    kafka: MockKafka,
    run: RealRun<StdRuntime>,
    factory: Arc<SoakFactory>,
    config: ConsumerConfig,
    handler: Arc<SoakHandlerLogged>,
    current: Mutex<StdRuntime, Arc<SoakConsumer>>,
    /// Application threads inside a reopen (only the first one reopens).
    reopening: Mutex<StdRuntime, u32>,
    stop: AtomicBool<StdRuntime>,
    operations_made: AtomicU64<StdRuntime>,
    produced: Mutex<StdRuntime, BTreeSet<(Partition, Offset)>>,
    report: Mutex<StdRuntime, SoakReport>,
}

impl Soak {
    fn count(&self, what: &str, key: String) {
        self.report.with(|r| {
            let m = match what {
                "op" => &mut r.operations,
                "error" => &mut r.errors,
                _ => &mut r.faults,
            };
            *m.entry(key).or_default() += 1;
        });
    }

    fn problem(&self, p: String) {
        tracing::error!("soak: {p}");
        self.report.with(|r| r.problems.push(p));
    }

    fn consumer(&self) -> Arc<SoakConsumer> {
        self.current.with(|c| c.clone())
    }

    fn start_consumer(&self) -> Arc<SoakConsumer> {
        self.report.with(|r| r.consumers_started += 1);
        Arc::new(Consumer::start(
            &self.rt,
            self.config.clone(),
            self.factory.clone(),
            self.handler.clone(),
            self.run.log(),
        ))
    }

    /// Closes `c` (an application call of `close`, judged by `clean-shutdown`), and adds its
    /// handles to the totals.
    fn close(&self, c: &SoakConsumer) {
        let t = self.rt.now();
        let r = self.run.call(Op::Close, || c.close());
        let took = self.rt.now() - t;
        if let Err(e) = r {
            self.count("error", format!("close: {e}"));
        }
        let s = c.status();
        self.report.with(|r| {
            r.longest_close_ms = r.longest_close_ms.max(ms(took));
            r.consumers_created += s.consumers_created;
            r.consumers_closed += s.consumers_closed;
        });
    }

    fn done(&self, end: SoakEnd, start: pausebeat::sync::Instant) -> bool {
        match end {
            SoakEnd::Operations(n) => self.operations_made.load() >= n,
            SoakEnd::Time(d) => self.rt.now() - start >= d,
        }
    }

    /// An application thread: random operations until stopped.
    fn application(&self, mut rng: ChaCha8Rng) {
        while !self.stop.load() {
            let c = self.consumer();
            let roll = rng.gen_range(0..100);
            let run = &self.run;
            let (op, result) = match roll {
                0..=34 => ("run", run.call(Op::Run, || c.run_once().map(|_| ()))),
                35..=49 => {
                    let _ = run.call(Op::Resume, || {
                        c.resume();
                        Ok::<(), ConsumerError>(())
                    });
                    ("resume", Ok(()))
                }
                50..=64 => ("pause", run.call(Op::Pause, || c.pause())),
                65..=74 => ("suspend", run.call(Op::Suspend, || c.suspend())),
                75..=79 => {
                    // Close and reopen: the old consumer is closed first (a new one under the
                    // same static id while it is open would fence it on a real cluster), then
                    // a new one takes its place; meanwhile the other thread's calls fail Closed.
                    // One reopen at a time, and only of the consumer still current.
                    self.reopening.with(|n| *n += 1);
                    if Arc::ptr_eq(&self.consumer(), &c) && self.reopening.with(|n| *n) == 1 {
                        self.close(&c);
                        let fresh = self.start_consumer();
                        self.current.with(|cur| *cur = fresh);
                    }
                    self.reopening.with(|n| *n -= 1);
                    ("reopen", Ok(()))
                }
                _ => {
                    self.rt.sleep(Duration::from_millis(rng.gen_range(50..400)));
                    ("idle", Ok(()))
                }
            };
            self.count("op", op.to_string());
            if let Err(e) = result {
                let kind = match e {
                    ConsumerError::Timeout { .. } => "timeout".to_string(),
                    ConsumerError::Closed => "closed".to_string(),
                    ConsumerError::Interrupted(by) => format!("interrupted by {by}"),
                    other => other.to_string(),
                };
                self.count("error", format!("{op}: {kind}"));
            }
            self.operations_made.fetch_add(1);
        }
    }

    /// The fault thread: one fault at a time until stopped.
    fn faults(&self, mut rng: ChaCha8Rng) -> Result<(), SoakError> {
        use RDKafkaRespErr::*;
        let brokers = self.kafka.brokers();
        while !self.stop.load() {
            self.rt
                .sleep(Duration::from_millis(rng.gen_range(500..2000)));
            if self.stop.load() {
                break;
            }
            let hold = Duration::from_millis(rng.gen_range(1000..3000));
            match rng.gen_range(0..6) {
                0 => {
                    let b = rng.gen_range(1..=brokers);
                    self.count("fault", "broker down".into());
                    self.kafka.broker_down(Broker::Id(b))?;
                    self.rt.sleep(hold);
                    self.kafka.broker_up(Broker::Id(b))?;
                }
                1 => {
                    self.count("fault", "all brokers down".into());
                    self.kafka.broker_down(Broker::All)?;
                    self.rt.sleep(hold);
                    self.kafka.broker_up(Broker::All)?;
                }
                2 => {
                    let (api, name) = [
                        (RDKafkaApiKey::Fetch, "Fetch"),
                        (RDKafkaApiKey::Heartbeat, "Heartbeat"),
                        (RDKafkaApiKey::JoinGroup, "JoinGroup"),
                        (RDKafkaApiKey::SyncGroup, "SyncGroup"),
                        (RDKafkaApiKey::OffsetCommit, "OffsetCommit"),
                    ][rng.gen_range(0..5)];
                    let err = [
                        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                        RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
                        RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
                    ][rng.gen_range(0..3)];
                    let n = rng.gen_range(1..4);
                    self.count("fault", format!("{name} errors"));
                    self.kafka.push_request_errors(api, &vec![err; n]);
                    self.rt.sleep(hold);
                    self.kafka.clear_request_errors(api);
                }
                3 => {
                    self.count("fault", "round-trip spike".into());
                    let rtt = Duration::from_millis(rng.gen_range(200..1500));
                    self.kafka.set_round_trip_time(Broker::All, rtt)?;
                    self.rt.sleep(hold);
                    self.kafka
                        .set_round_trip_time(Broker::All, Duration::ZERO)?;
                }
                _ => {
                    self.count("fault", "another member".into());
                    self.other_member(hold + Duration::from_secs(2));
                }
            }
        }
        Ok(())
    }

    /// A plain consumer joins the group, polls for `stay` (committing nothing: whatever it
    /// reads is read again by the soak's consumer), and leaves.
    fn other_member(&self, stay: Duration) {
        let member: Result<BaseConsumer, _> = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", self.kafka.bootstrap_servers())
            .set("group.id", GROUP)
            .set("client.id", "soak-other-member")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "6000")
            // The mock cluster asserts that every member of a group offers the same protocol.
            .set("partition.assignment.strategy", "roundrobin")
            .create();
        let member = match member {
            Ok(m) => m,
            Err(e) => return self.count("error", format!("other member: {e}")),
        };
        if let Err(e) = member.subscribe(&[self.kafka.topic()]) {
            return self.count("error", format!("other member: {e}"));
        }
        let until = self.rt.now() + stay;
        while self.rt.now() < until && !self.stop.load() {
            let _ = member.poll(Duration::from_millis(100));
        }
        member.unsubscribe();
    }

    /// The producer: a few records to a random partition every 100 ms until stopped.
    fn producer(&self, mut rng: ChaCha8Rng) -> Result<(), SoakError> {
        let parts = self.kafka.partitions();
        while !self.stop.load() {
            let p = rng.gen_range(0..parts);
            let n = rng.gen_range(1..6);
            let offsets = self.kafka.produce(p, n)?;
            self.produced.with(|s| s.extend(offsets.map(|o| (p, o))));
            self.rt.sleep(Duration::from_millis(100));
        }
        Ok(())
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

/// The properties' rules for a soak: real-time bounds. `resume()` never waits (100 ms allows
/// for a busy machine); a resume takes effect within 10 s even under the soak's faults;
/// maintenance polls come at least a quarter of max.poll before it runs out; `close()` returns
/// within the command timeout plus the client's own close timeout.
fn rules() -> Rules {
    Rules {
        bounds: Bounds {
            resume: Duration::from_millis(100),
            resume_applied: Duration::from_secs(10),
            poll_margin: MAX_POLL / 4,
            close: COMMAND_TIMEOUT + CLOSE_TIMEOUT,
            close_grace: Duration::ZERO,
        },
        max_poll_interval: MAX_POLL,
        judge_shutdown: true,
        all_records_due: true,
    }
}

/// Runs the soak (without a watchdog: see [`run`]).
pub fn execute(opts: &SoakOptions) -> Result<SoakReport, SoakError> {
    let rt = StdRuntime::new();
    let started = rt.now();
    let kafka = MockKafka::start(MockOptions {
        brokers: 3,
        topic: "pausebeat-soak".to_string(),
        partitions: 4,
        ..MockOptions::default()
    })?;
    let kcfg = kafka_config(&kafka);
    let config = consumer_config(&kcfg)?;
    let run = RealRun::new(&rt);
    let factory = Arc::new(Recorded::new(&rt, RdKafkaFactory::new(kcfg)?, run.log()));
    let handler = Arc::new(LoggedHandler::new(
        run.log(),
        SoakHandler {
            state: Mutex::new(Handled::default()),
        },
    ));
    let first = Arc::new(Consumer::start(
        &rt,
        config.clone(),
        factory.clone(),
        handler.clone(),
        run.log(),
    ));
    let soak = Arc::new(Soak {
        rt,
        kafka,
        run,
        factory,
        config,
        handler,
        current: Mutex::new(first),
        reopening: Mutex::new(0),
        stop: AtomicBool::new(false),
        operations_made: AtomicU64::new(0),
        produced: Mutex::new(BTreeSet::new()),
        report: Mutex::new(SoakReport {
            seed: opts.seed,
            consumers_started: 1,
            close_bound_ms: ms(COMMAND_TIMEOUT + CLOSE_TIMEOUT),
            ..SoakReport::default()
        }),
    });
    let mut threads = Vec::new();
    for i in 0..2u64 {
        let (s, r) = (soak.clone(), rng(opts.seed, i));
        threads.push(rt.spawn(&format!("soak-app-{}", i + 1), move || {
            s.application(r);
            Ok(())
        }));
    }
    let (s, r) = (soak.clone(), rng(opts.seed, 10));
    threads.push(rt.spawn("soak-faults", move || s.faults(r)));
    let (s, r) = (soak.clone(), rng(opts.seed, 11));
    threads.push(rt.spawn("soak-producer", move || s.producer(r)));

    while !soak.done(opts.end, started) {
        rt.sleep(Duration::from_millis(100));
    }
    soak.stop.store(true);
    for t in threads {
        match t.join() {
            Ok(r) => r?,
            Err(_) => soak.problem("a soak thread panicked".into()),
        }
    }
    // Healed: every broker up, no injected errors, no added latency.
    soak.kafka.broker_up(Broker::All)?;
    soak.kafka
        .set_round_trip_time(Broker::All, Duration::ZERO)?;
    for api in [
        RDKafkaApiKey::Fetch,
        RDKafkaApiKey::Heartbeat,
        RDKafkaApiKey::JoinGroup,
        RDKafkaApiKey::SyncGroup,
        RDKafkaApiKey::OffsetCommit,
    ] {
        soak.kafka.clear_request_errors(api);
    }
    // Catch up (runs end at their first empty poll, before a backlog may be read), then close.
    let produced = soak.produced.with(|p| p.clone());
    let consumer = soak.consumer();
    let deadline = rt.now() + opts.catch_up;
    let all_handled = || {
        soak.handler
            .inner()
            .state
            .with(|s| produced.is_subset(&s.distinct))
    };
    while !all_handled() && rt.now() < deadline {
        if let Err(e) = soak.run.call(Op::Run, || consumer.run_once()) {
            soak.count("error", format!("catch-up run: {e}"));
        }
    }
    soak.close(&consumer);

    let (distinct, deliveries) = soak
        .handler
        .inner()
        .state
        .with(|s| (s.distinct.clone(), s.deliveries));
    let lost = produced.difference(&distinct).count() as u64;
    let mut report = soak.report.with(|r| r.clone());
    report.elapsed_ms = ms(rt.now() - started);
    report.records_produced = produced.len() as u64;
    report.records_handled = distinct.len() as u64;
    report.records_lost = lost;
    report.duplicates = deliveries - distinct.len() as u64;
    // The high watermark of each partition: one past the last record produced to it.
    let mut high: BTreeMap<Partition, Offset> =
        (0..soak.kafka.partitions()).map(|p| (p, 0)).collect();
    for &(p, o) in &produced {
        let h = high.entry(p).or_default();
        *h = (*h).max(o + 1);
    }
    let violations = soak.run.judge(&rules(), high, Vec::new());
    report.events = soak.run.log().len() as u64;
    for p in Property::ALL {
        let verdict = violations
            .iter()
            .find(|v| v.property == p)
            .map_or("held".to_string(), |v| {
                format!("violated at {}: {}", v.at, v.message)
            });
        report.properties.insert(p.name().to_string(), verdict);
    }
    for v in &violations {
        report
            .problems
            .push(format!("{} at {}: {}", v.property, v.at, v.message));
    }
    Ok(report)
}

/// Prints the report's figures.
fn print_report(r: &SoakReport) {
    let list = |m: &BTreeMap<String, u64>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("seed {}: {:.1} s", r.seed, r.elapsed_ms as f64 / 1000.0);
    println!("operations: {}", list(&r.operations));
    println!("errors returned: {}", list(&r.errors));
    println!("faults: {}", list(&r.faults));
    println!(
        "records: {} produced, {} handled, {} lost, {} duplicates",
        r.records_produced, r.records_handled, r.records_lost, r.duplicates
    );
    println!(
        "consumers: {} started, {} handles created, {} closed; longest close {} ms (bound {} ms)",
        r.consumers_started,
        r.consumers_created,
        r.consumers_closed,
        r.longest_close_ms,
        r.close_bound_ms
    );
    println!("properties ({} events judged):", r.events);
    for (p, v) in &r.properties {
        println!("  {p:<24} {v}");
    }
    for p in &r.problems {
        println!("PROBLEM: {p}");
    }
}

/// `pausebeat soak [--minutes M] [--seed S] [--json FILE]`: runs the soak under a watchdog
/// (the soak's length plus ten minutes), prints the figures, writes the JSON, and returns exit
/// status 0 if every check held, 1 otherwise.
pub fn run(opts: &SoakOptions, json: Option<&Path>) -> ExitCode {
    let rt = StdRuntime::new();
    let limit = match opts.end {
        SoakEnd::Time(d) => d,
        SoakEnd::Operations(n) => Duration::from_secs(n.saturating_mul(5)),
    } + opts.catch_up
        + Duration::from_secs(600);
    let done = crate::demo::watchdog(&rt, "soak", limit);
    println!("pausebeat soak: the vetted consumer on librdkafka's mock cluster, random operations and faults");
    let code = match execute(opts) {
        Ok(report) => {
            print_report(&report);
            crate::demo::conclude("soak", report.passed(), &report, json)
        }
        Err(e) => {
            eprintln!("soak: {e}");
            println!("soak FAILED");
            ExitCode::from(1)
        }
    };
    let _ = done.try_send(());
    code
}
