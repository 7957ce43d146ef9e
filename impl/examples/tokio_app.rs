//! A tokio application that owns pausebeat's vetted consumer without blocking its executor.
//!
//! ```text
//! cargo run -p pausebeat --features tokio --example tokio_app   # ≈ 5 s against an embedded mock cluster; ctrl-c ends it early
//! ```
//!
//! The consumer runs on its own threads (`<name>-owner` owns the librdkafka handle,
//! `<name>-handler` runs the batch handler). The application talks to it through four calls,
//! none of which blocks the executor (feature `tokio`, on for this example):
//!
//! * `resume()` and `pause_async()` for live mode. **`resume()` never blocks**: it stores the
//!   request in an atomic and wakes the owner with a non-blocking send on a capacity-1 channel,
//!   then returns (≈ 1 µs), even while the broker is down. `pause_async()` awaits the owner's
//!   confirmation (at most one poll).
//! * `run_once_async()` (reads until caught up, commits, pauses again), `suspend_async()` and
//!   `close_async()` await the owner, for as long as a run takes or for at most the command
//!   timeout. No `spawn_blocking` for any consumer call.
//!
//! A tokio interval drives the periodic runs; a second one switches live mode on and off; a
//! third produces records. On ctrl-c (or after the demo's few seconds, or once a [`Goal`] is
//! reached) the application stops, makes a last run and closes the consumer.
//!
//! The core is [`app`], an `async fn` the integration test `tests/tests/tokio.rs` runs on a
//! current-thread runtime, where any blocking call on the executor would show as timer lateness.
//! (Creating the factory, the mock cluster and its producer calls are blocking setup code, not
//! consumer calls: those go to tokio's blocking pool.)

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use pausebeat::consumer::{Consumer, ConsumerConfig, ConsumerError};
use pausebeat::rdkafka::mock::{MockError, MockKafka, MockOptions};
use pausebeat::rdkafka::{ConfigError, KafkaConfig, RdKafkaFactory};
use pausebeat::sync::{AtomicU64, Mutex, StdRuntime};
use pausebeat::{Handler, HandlerError, NoProbe, Offset, Partition, Record};
use tokio::time::{Instant, MissedTickBehavior};

/// How often a run starts (if the previous one is over).
const RUN_PERIOD: Duration = Duration::from_millis(700);
/// How often live mode is switched on, and for how long.
const LIVE_PERIOD: Duration = Duration::from_millis(900);
const LIVE_FOR: Duration = Duration::from_millis(300);
/// How often records are produced.
const PRODUCE_PERIOD: Duration = Duration::from_millis(250);

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The librdkafka configuration was refused.
    #[error("kafka configuration: {0}")]
    Kafka(#[from] ConfigError),
    /// The consumer configuration was refused.
    #[error("consumer configuration: {0}")]
    Config(#[from] pausebeat::consumer::ConfigError),
    /// A consumer call failed.
    #[error("consumer: {0}")]
    Consumer(#[from] ConsumerError),
    /// The mock cluster failed.
    #[error("mock cluster: {0}")]
    Mock(#[from] MockError),
    /// A blocking task panicked or was cancelled.
    #[error("blocking task: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// The application's batch handler: counts distinct records (a real one writes them somewhere).
pub struct Sink {
    seen: Mutex<StdRuntime, std::collections::BTreeSet<(Partition, Offset)>>,
}

impl Default for Sink {
    fn default() -> Self {
        Sink {
            seen: Mutex::new(std::collections::BTreeSet::new()),
        }
    }
}

impl Sink {
    /// Distinct records handled.
    pub fn distinct(&self) -> u64 {
        self.seen.with(|s| s.len() as u64)
    }
}

impl Handler for Sink {
    fn handle(&self, batch: &[Record]) -> Result<(), HandlerError> {
        self.seen
            .with(|s| s.extend(batch.iter().map(|r| (r.partition, r.offset))));
        Ok(())
    }
}

/// What the application did.
#[derive(Clone, Debug, Default)]
pub struct AppReport {
    /// Runs completed (including the last one at shutdown).
    pub runs: u64,
    /// Times live mode was switched on.
    pub live_periods: u64,
    /// Records produced.
    pub produced: u64,
    /// Distinct records handled.
    pub handled: u64,
    /// The longest `resume()` call, made directly on the executor.
    pub max_resume: Duration,
    /// Consumer handles created and closed.
    pub consumers_created: u64,
    /// See `consumers_created`.
    pub consumers_closed: u64,
}

type AppConsumer = Consumer<StdRuntime, RdKafkaFactory, Arc<Sink>, NoProbe>;

/// The consumer's settings for the example. On a real cluster, keep the defaults (5 s polls,
/// 45 s session, 300 s max.poll) unless you have a reason.
fn configs(kafka: &MockKafka) -> Result<(KafkaConfig, ConsumerConfig), AppError> {
    let kafka_config = kafka
        .consumer_config("tokio-app")
        .with_session_timeout(Duration::from_secs(6))
        .with_max_poll_interval(Duration::from_secs(10))
        .with_close_timeout(Duration::from_secs(5))
        .with("fetch.wait.max.ms", "100");
    let consumer_config = ConsumerConfig::builder()
        .name("tokio-app")
        .instance_id("tokio-app-0")
        .session_timeout(Duration::from_secs(6))
        .max_poll_interval(Duration::from_secs(10))
        // A run ends at its first empty poll. The consumer wakes the partitions' leaders after
        // every resume (the first fetch comes within a round trip), so the poll timeout only
        // has to cover a fetch: kept below the producer's period, or a run never ends.
        .poll_timeout(Duration::from_millis(150))
        .retry_backoff(Duration::from_millis(200))
        .command_timeout(Duration::from_secs(10))
        .batch_size(100)
        .build()?;
    Ok((kafka_config, consumer_config))
}

/// When the application may stop on its own: once it has completed `runs` runs and switched live
/// mode on `live_periods` times (counted before the last run at shutdown). A test ends on this
/// event, not on a wall-clock window; `None` in [`app`] means "only when `shutdown` completes".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Goal {
    /// Runs completed.
    pub runs: u64,
    /// Live periods switched on (and paused again).
    pub live_periods: u64,
}

impl Goal {
    fn reached(&self, r: &AppReport) -> bool {
        r.runs >= self.runs && r.live_periods >= self.live_periods
    }
}

/// The application: owns a consumer of `kafka`'s topic until `shutdown` completes (or the `goal`
/// is reached), then makes a last run and closes it.
pub async fn app(
    kafka: Arc<MockKafka>,
    shutdown: impl Future<Output = ()>,
    goal: Option<Goal>,
) -> Result<AppReport, AppError> {
    let (kafka_config, consumer_config) = configs(&kafka)?;
    // Creating the factory runs librdkafka's configuration check (a throw-away client): quick,
    // but not an async call, so it goes to the blocking pool too.
    let factory = tokio::task::spawn_blocking(move || RdKafkaFactory::new(kafka_config)).await??;
    let sink = Arc::new(Sink::default());
    // start() only spawns the owner and handler threads; no Kafka call happens before a run.
    let consumer: Arc<AppConsumer> = Arc::new(Consumer::start(
        &StdRuntime::new(),
        consumer_config,
        Arc::new(factory),
        sink.clone(),
        NoProbe,
    ));

    let mut report = AppReport::default();
    let produced = Arc::new(AtomicU64::<StdRuntime>::new(0));
    let mut runs = tokio::time::interval(RUN_PERIOD);
    runs.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut live = tokio::time::interval(LIVE_PERIOD);
    live.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut produce = tokio::time::interval(PRODUCE_PERIOD);
    produce.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut next_partition = 0;
    tokio::pin!(shutdown);

    while !goal.is_some_and(|g| g.reached(&report)) {
        // `biased`: shutdown first, then the cheap producers, then live mode, then runs; each
        // arm runs to its end before the next select (one consumer call at a time).
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            _ = produce.tick() => {
                let (k, n, p) = (kafka.clone(), produced.clone(), next_partition);
                next_partition = (next_partition + 1) % kafka.partitions();
                tokio::task::spawn_blocking(move || {
                    k.produce(p, 10).map(|r| n.fetch_add(r.end.saturating_sub(r.start) as u64))
                })
                .await??;
            }
            _ = live.tick() => {
                // Directly on the executor: resume() never waits on the owner or the broker.
                let t = Instant::now();
                consumer.resume();
                report.max_resume = report.max_resume.max(t.elapsed());
                report.live_periods += 1;
                tokio::time::sleep(LIVE_FOR).await;
                // Awaits the owner's confirmation (at most one poll).
                consumer.pause_async().await?;
            }
            _ = runs.tick() => {
                match consumer.run_once_async().await {
                    Ok(r) => {
                        report.runs += 1;
                        tracing::info!(records = r.records, commits = r.commits, "run");
                    }
                    // A run can fail (broker down, handler error); the next tick tries again.
                    Err(e) => tracing::warn!("run failed: {e}"),
                }
            }
        }
    }

    // Shutdown: one last run to catch up, then close (bounded by the command timeout).
    if consumer.run_once_async().await.is_ok() {
        report.runs += 1;
    }
    consumer.close_async().await?;
    let status = consumer.status();
    report.produced = produced.load();
    report.handled = sink.distinct();
    report.consumers_created = status.consumers_created;
    report.consumers_closed = status.consumers_closed;
    Ok(report)
}

/// Starts an embedded mock cluster with some records, and runs [`app`] until ctrl-c, `run_for`
/// (if given) or the `goal` (if given).
pub async fn demo(run_for: Option<Duration>, goal: Option<Goal>) -> Result<AppReport, AppError> {
    let kafka = tokio::task::spawn_blocking(|| -> Result<MockKafka, MockError> {
        let kafka = MockKafka::start(MockOptions::default())?;
        for p in 0..kafka.partitions() {
            kafka.produce(p, 100)?;
        }
        Ok(kafka)
    })
    .await??;
    let kafka = Arc::new(kafka);
    let shutdown = async move {
        tokio::select! {
            r = tokio::signal::ctrl_c() => {
                if let Err(e) = r {
                    tracing::warn!("no ctrl-c handler: {e}");
                    std::future::pending::<()>().await;
                }
            }
            () = async {
                match run_for {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            } => {}
        }
    };
    let mut report = app(kafka.clone(), shutdown, goal).await?;
    report.produced += 100 * kafka.partitions() as u64;
    // The mock cluster's teardown waits for its threads: not on the executor either.
    tokio::task::spawn_blocking(move || drop(kafka)).await?;
    Ok(report)
}

#[tokio::main]
async fn main() -> Result<(), AppError> {
    let report = demo(Some(Duration::from_secs(5)), None).await?;
    println!("{report:#?}");
    Ok(())
}
