//! Real rdkafka against librdkafka's embedded mock cluster ([`MockKafka`]): the hand-written
//! `BaseConsumer` loop (`rdkafka-raw`, [`RawConsumer`]) and pausebeat's consumer on the rdkafka
//! backend (`vetted`, [`VettedKafka`]), driven the same way by the `resume_to_record` and
//! `throughput` benchmarks and by the `fetch_latency` experiments.
//!
//! Both get the same librdkafka settings: [`base_settings`] (quick group timeouts for the mock)
//! plus the fetch settings under test ([`tuned_fetch_settings`] in the benchmarks).

use crate::BenchError;
use pausebeat::consumer::{Consumer, ConsumerConfig};
use pausebeat::handler::{Handler, HandlerError};
use pausebeat::kafka::Record;
use pausebeat::probe::NoProbe;
use pausebeat::rdkafka::mock::{MockKafka, MockOptions};
use pausebeat::rdkafka::RdKafkaFactory;
use pausebeat::sync::{AtomicBool, Chan, Condvar, Mutex, Runtime, StdRuntime};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _, ConsumerContext};
use rdkafka::error::KafkaError as RdError;
use rdkafka::message::{Headers as _, Message};
use rdkafka::topic_partition_list::{Offset as RdOffset, TopicPartitionList};
use rdkafka::ClientContext;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// librdkafka settings as `(key, value)` pairs.
pub type Settings = Vec<(String, String)>;

/// Turns `&[("k", "v")]` into [`Settings`].
pub fn settings(pairs: &[(&str, &str)]) -> Settings {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The group settings every consumer of the benchmarks gets, raw and vetted alike: quick
/// heartbeats and reconnects on the mock cluster. `session.timeout.ms` and
/// `max.poll.interval.ms` come from [`SESSION_TIMEOUT`] and [`MAX_POLL_INTERVAL`].
pub fn base_settings() -> Settings {
    settings(&[
        ("heartbeat.interval.ms", "500"),
        ("reconnect.backoff.max.ms", "1000"),
    ])
}

/// The fetch settings of the benchmarks: `fetch.wait.max.ms=10`.
///
/// * A caught-up consumer always has a long-poll Fetch in flight, and a broker thread has at
///   most one: the first Fetch after a resume waits for the one sent before the pause, so the
///   long poll must be shorter than the shortest pause ([`paused_for`]: 100 ms).
/// * librdkafka's mock cluster does not answer a long poll early when records arrive (real
///   brokers do), so a consumer that caught up waits for the whole long poll before it sees
///   new records: with 500 ms that would dominate `throughput`.
///
/// No librdkafka setting brings resume → first record to one fetch round trip: `resume()` does
/// not wake the partition leader's broker thread, which sleeps up to 1 s (a constant of
/// librdkafka) when it has nothing to fetch. What does is a request to each leader right after
/// the resume ([`RawConsumer::wake_leaders_async`]). The experiments are in `benches/RESULTS.md`
/// (`fetch_latency`).
pub fn tuned_fetch_settings() -> Settings {
    settings(&[("fetch.wait.max.ms", "10")])
}

/// `session.timeout.ms` of the benchmark consumers.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(6);
/// `max.poll.interval.ms` of the benchmark consumers.
pub const MAX_POLL_INTERVAL: Duration = Duration::from_secs(10);

/// librdkafka's clock (`rd_clock()`): CLOCK_MONOTONIC in µs, the clock of the mock cluster's
/// request timestamps ([`pausebeat::rdkafka::mock::MockRequest::timestamp_us`]).
pub fn rd_clock_us() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec * 1_000_000 + ts.tv_nsec / 1000
}

/// The leader the benchmarks give partition `p`: brokers 1, 2, 3, 1, ….
pub fn leader_of(p: i32) -> i32 {
    1 + p % 3
}

/// Starts a mock cluster (3 brokers, 0 initial rebalance delay) with a topic of `partitions`.
/// Partition `p` is led by broker [`leader_of`]`(p)`.
pub fn start_mock(topic: &str, partitions: i32) -> Result<MockKafka, BenchError> {
    let kafka = MockKafka::start(MockOptions {
        topic: topic.to_string(),
        partitions,
        ..MockOptions::default()
    })?;
    for p in 0..partitions {
        kafka.set_partition_leader(p, leader_of(p))?;
    }
    Ok(kafka)
}

/// Produces `per_partition` records of `payload_len` bytes to every partition, each with a
/// 16-byte key and two headers (a retry count and an original topic, as the jitsu bulker's
/// retry records carry): what a service's consumer reads.
pub fn produce_everywhere(
    kafka: &MockKafka,
    per_partition: u64,
    payload_len: usize,
) -> Result<(), BenchError> {
    let payload = vec![b'p'; payload_len];
    for p in 0..kafka.partitions() {
        kafka.produce_records(
            p,
            (0..per_partition).map(|i| {
                pausebeat::Record::new("", p, 0)
                    .with_key(format!("key-{p:03}-{:08}", i % 100_000_000).into_bytes())
                    .with_payload(payload.clone())
                    .with_header("retries", Some(b"0".to_vec()))
                    .with_header(
                        "original_topic",
                        Some(b"in.id.dst.m.batch.t.events".to_vec()),
                    )
            }),
        )?;
    }
    Ok(())
}

/// One librdkafka log line, captured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// When, since the capture was (re)started.
    pub at: Duration,
    /// librdkafka's facility (`FETCH`, `RESUME`, …).
    pub fac: String,
    /// The message.
    pub message: String,
}

/// Collects librdkafka's log lines while switched on (for the `debug` experiments).
pub struct LogCapture {
    on: AtomicBool<StdRuntime>,
    since: Mutex<StdRuntime, Instant>,
    lines: Mutex<StdRuntime, Vec<LogLine>>,
}

impl Default for LogCapture {
    fn default() -> Self {
        LogCapture {
            on: AtomicBool::new(false),
            since: Mutex::new(Instant::now()),
            lines: Mutex::new(Vec::new()),
        }
    }
}

impl LogCapture {
    /// Forgets what was captured and captures from now on, timestamps relative to now.
    pub fn restart(&self) {
        self.lines.with(Vec::clear);
        self.since.with(|s| *s = Instant::now());
        self.on.store(true);
    }

    /// Stops capturing and returns the lines.
    pub fn stop(&self) -> Vec<LogLine> {
        self.on.store(false);
        self.lines.with(std::mem::take)
    }

    fn push(&self, fac: &str, message: &str) {
        if self.on.load() {
            let at = self.since.with(|s| s.elapsed());
            self.lines.with(|l| {
                l.push(LogLine {
                    at,
                    fac: fac.to_string(),
                    message: message.to_string(),
                })
            });
        }
    }
}

/// The raw consumer's context: librdkafka's logs into the capture, errors into `tracing`.
pub struct RawContext {
    capture: Arc<LogCapture>,
}

impl ClientContext for RawContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.capture.push(fac, log_message);
        if (level as i32) <= (RDKafkaLogLevel::Warning as i32) {
            tracing::warn!(target: "librdkafka", "{fac} {log_message}");
        }
    }
    fn error(&self, error: RdError, reason: &str) {
        tracing::debug!(target: "librdkafka", "{error}: {reason}");
    }
}

impl ConsumerContext for RawContext {}

/// Destroys a librdkafka client on a helper thread and waits for it at most `limit` (a destroy
/// can hang after outages); true if it finished.
fn drop_bounded<T: Send + 'static>(value: T, limit: Duration) -> bool {
    let rt = StdRuntime::new();
    let done: Chan<StdRuntime, ()> = Chan::new(&rt, 1);
    let tx = done.clone();
    drop(rt.spawn("bench-destroy", move || {
        drop(value);
        let _ = tx.try_send(());
    }));
    done.recv_timeout(limit).is_ok()
}

/// `rdkafka-raw`: a `BaseConsumer` in a consumer group, paused, resumed and polled by hand: the
/// best a user can do without a framework.
pub struct RawConsumer {
    consumer: Option<Arc<BaseConsumer<RawContext>>>,
    waker: Option<Waker>,
    topic: String,
    partitions: i32,
    capture: Arc<LogCapture>,
    /// The next offset to commit, per partition (−1: nothing read).
    next: Vec<i64>,
}

impl RawConsumer {
    /// Creates the consumer in `group`, subscribes it and polls until every partition is
    /// assigned. `debug` is librdkafka's `debug` setting (the capture records its lines).
    pub fn start(
        kafka: &MockKafka,
        group: &str,
        extra: &[(String, String)],
        debug: Option<&str>,
    ) -> Result<Self, BenchError> {
        let capture = Arc::new(LogCapture::default());
        let mut cfg = ClientConfig::new();
        cfg.set("bootstrap.servers", kafka.bootstrap_servers())
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("isolation.level", "read_committed")
            .set("partition.assignment.strategy", "roundrobin")
            .set(
                "session.timeout.ms",
                SESSION_TIMEOUT.as_millis().to_string(),
            )
            .set(
                "max.poll.interval.ms",
                MAX_POLL_INTERVAL.as_millis().to_string(),
            );
        for (k, v) in base_settings().iter().chain(extra) {
            cfg.set(k, v);
        }
        if let Some(d) = debug {
            cfg.set("debug", d).set_log_level(RDKafkaLogLevel::Debug);
        }
        let consumer: BaseConsumer<RawContext> = cfg.create_with_context(RawContext {
            capture: capture.clone(),
        })?;
        consumer.subscribe(&[kafka.topic()])?;
        let raw = RawConsumer {
            consumer: Some(Arc::new(consumer)),
            waker: None,
            topic: kafka.topic().to_string(),
            partitions: kafka.partitions(),
            capture,
            next: vec![-1; usize::try_from(kafka.partitions()).unwrap_or(0)],
        };
        raw.wait_assigned(Duration::from_secs(30))?;
        Ok(raw)
    }

    fn c(&self) -> Result<&BaseConsumer<RawContext>, BenchError> {
        self.consumer
            .as_deref()
            .ok_or_else(|| BenchError::Setup("the raw consumer is closed".into()))
    }

    /// The log capture (fed only when started with `debug`).
    pub fn capture(&self) -> &LogCapture {
        &self.capture
    }

    fn all(&self) -> TopicPartitionList {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_range(&self.topic, 0, self.partitions - 1);
        tpl
    }

    fn wait_assigned(&self, timeout: Duration) -> Result<(), BenchError> {
        let c = self.c()?;
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some(Err(e)) = c.poll(Duration::from_millis(50)) {
                tracing::debug!("raw consumer, joining: {e}");
            }
            if c.assignment()?.count() == usize::try_from(self.partitions).unwrap_or(0) {
                return Ok(());
            }
        }
        Err(BenchError::Setup(format!(
            "the raw consumer was not assigned {} partitions within {timeout:?}",
            self.partitions
        )))
    }

    /// Pauses every partition.
    pub fn pause(&self) -> Result<(), BenchError> {
        Ok(self.c()?.pause(&self.all())?)
    }

    /// Resumes every partition.
    pub fn resume(&self) -> Result<(), BenchError> {
        Ok(self.c()?.resume(&self.all())?)
    }

    /// Seeks every partition to `offset` (after a resume: librdkafka purges what it fetched).
    pub fn seek_all(&self, offset: i64) -> Result<(), BenchError> {
        let c = self.c()?;
        for p in 0..self.partitions {
            c.seek(
                &self.topic,
                p,
                RdOffset::Offset(offset),
                Duration::from_secs(5),
            )?;
        }
        Ok(())
    }

    /// Wakes each partition leader's broker thread by queuing a request to it (a watermark
    /// query, `ListOffsets`), from helper threads, without waiting for the answers: the broker
    /// thread wakes for the request and, on the way, sees that the partition is fetchable again
    /// and sends its Fetch. (Waiting for the answers in the poll loop would cost up to
    /// `fetch.wait.max.ms` per query: on a connection with a long-poll Fetch in flight the
    /// broker answers in order.)
    pub fn wake_leaders_async(&mut self) -> Result<(), BenchError> {
        if self.waker.is_none() {
            let c = self
                .consumer
                .clone()
                .ok_or_else(|| BenchError::Setup("the raw consumer is closed".into()))?;
            self.waker = Some(Waker::start(c, &self.topic, self.partitions));
        }
        if let Some(w) = &self.waker {
            w.wake();
        }
        Ok(())
    }

    /// Wakes each partition leader's broker thread with a watermark query to it, waiting for
    /// each answer in turn (see [`wake_leaders_async`](Self::wake_leaders_async) for why that
    /// can be slow).
    pub fn wake_leaders(&self) -> Result<(), BenchError> {
        let c = self.c()?;
        for p in 0..self.partitions {
            c.fetch_watermarks(&self.topic, p, Duration::from_secs(5))?;
        }
        Ok(())
    }

    /// Seeks every partition that has a position to it (a seek to an offset above 0 makes
    /// librdkafka validate it with the leader, which wakes the leader's broker thread).
    pub fn seek_to_positions(&self) -> Result<(), BenchError> {
        let c = self.c()?;
        let positions = c.position()?;
        let mut tpl = TopicPartitionList::new();
        for e in positions.elements() {
            if let RdOffset::Offset(o) = e.offset() {
                tpl.add_partition_offset(e.topic(), e.partition(), RdOffset::Offset(o))?;
            }
        }
        if tpl.count() > 0 {
            c.seek_partitions(tpl, Duration::from_secs(5))?;
        }
        Ok(())
    }

    /// Keeps polling for `d` (as a paused consumer must, to keep its membership). Returns the
    /// records that arrived anyway (none while paused).
    pub fn poll_for(&self, d: Duration) -> Result<u64, BenchError> {
        let c = self.c()?;
        let start = Instant::now();
        let mut got = 0;
        while start.elapsed() < d {
            let left = d.saturating_sub(start.elapsed());
            match c.poll(left.min(Duration::from_millis(100))) {
                Some(Ok(_)) => got += 1,
                Some(Err(RdError::PartitionEOF(_))) | None => {}
                Some(Err(e)) => tracing::debug!("raw consumer, paused poll: {e}"),
            }
        }
        Ok(got)
    }

    /// Polls until a record arrives (its partition and offset, and when `poll` returned it) or
    /// `timeout` passes.
    pub fn next_record(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<(i32, i64, Instant)>, BenchError> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            let c = self.c()?;
            match c.poll(timeout.saturating_sub(start.elapsed())) {
                Some(Ok(m)) => {
                    let at = Instant::now();
                    let (p, o) = (m.partition(), m.offset());
                    if let Some(n) = usize::try_from(p).ok().and_then(|p| self.next.get_mut(p)) {
                        *n = o + 1;
                    }
                    return Ok(Some((p, o, at)));
                }
                Some(Err(RdError::PartitionEOF(_))) | None => {}
                Some(Err(e)) => tracing::debug!("raw consumer: {e}"),
            }
        }
        Ok(None)
    }

    /// Reads `n` records, "handling" each (its payload is looked at, not copied) and committing
    /// synchronously after every `batch` of them, as the vetted consumer does. Returns when the
    /// last record arrived (its batch is committed after that). Fails if they do not arrive
    /// within `timeout`.
    pub fn consume(
        &mut self,
        n: u64,
        batch: u64,
        timeout: Duration,
    ) -> Result<Instant, BenchError> {
        let start = Instant::now();
        let mut got = 0;
        let mut in_batch = 0;
        let mut last = start;
        while got < n {
            if start.elapsed() > timeout {
                return Err(BenchError::Setup(format!(
                    "raw consumer: {got} of {n} records within {timeout:?}"
                )));
            }
            let Some(c) = self.consumer.as_deref() else {
                return Err(BenchError::Setup("the raw consumer is closed".into()));
            };
            match c.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    // What a service reads of a record: value, key, headers (looked at, not
                    // copied: the raw loop handles each record while librdkafka holds it).
                    std::hint::black_box(m.payload().map_or(0, <[u8]>::len));
                    std::hint::black_box(m.key().map_or(0, <[u8]>::len));
                    if let Some(hs) = m.headers() {
                        for h in hs.iter() {
                            std::hint::black_box((h.key.len(), h.value.map_or(0, <[u8]>::len)));
                        }
                    }
                    if let Some(x) = usize::try_from(m.partition())
                        .ok()
                        .and_then(|p| self.next.get_mut(p))
                    {
                        *x = m.offset() + 1;
                    }
                    got += 1;
                    in_batch += 1;
                    if got == n {
                        last = Instant::now();
                    }
                    if in_batch == batch || got == n {
                        drop(m);
                        self.commit()?;
                        in_batch = 0;
                    }
                }
                Some(Err(RdError::PartitionEOF(_))) | None => {}
                Some(Err(e)) => tracing::debug!("raw consumer: {e}"),
            }
        }
        Ok(last)
    }

    /// Commits what was read (synchronously).
    pub fn commit(&self) -> Result<(), BenchError> {
        let mut tpl = TopicPartitionList::new();
        for (p, o) in self.next.iter().enumerate() {
            if *o >= 0 {
                let p = i32::try_from(p).unwrap_or(i32::MAX);
                tpl.add_partition_offset(&self.topic, p, RdOffset::Offset(*o))?;
            }
        }
        if tpl.count() > 0 {
            self.c()?.commit(&tpl, CommitMode::Sync)?;
        }
        Ok(())
    }

    /// Destroys the consumer (leaving the group), waiting at most 10 s.
    pub fn close(mut self) {
        if let Some(w) = self.waker.take() {
            w.stop();
        }
        if let Some(c) = self.consumer.take() {
            if !drop_bounded(c, Duration::from_secs(10)) {
                tracing::warn!("the raw consumer did not close within 10 s; leaked");
            }
        }
    }
}

/// Helper threads, one per partition, each sending a watermark query to its partition's leader
/// when asked ([`RawConsumer::wake_leaders_async`]).
struct Waker {
    kicks: Vec<Chan<StdRuntime, ()>>,
    threads: Vec<pausebeat::sync::JoinHandle<StdRuntime, ()>>,
}

impl Waker {
    fn start(c: Arc<BaseConsumer<RawContext>>, topic: &str, partitions: i32) -> Self {
        let rt = StdRuntime::new();
        let mut kicks = vec![];
        let mut threads = vec![];
        for p in 0..partitions {
            let kick: Chan<StdRuntime, ()> = Chan::new(&rt, 1);
            let (k, c, topic) = (kick.clone(), c.clone(), topic.to_string());
            threads.push(rt.spawn(&format!("waker-{p}"), move || {
                while k.recv().is_some() {
                    if let Err(e) = c.fetch_watermarks(&topic, p, Duration::from_secs(5)) {
                        tracing::debug!("waker: watermark query of partition {p}: {e}");
                    }
                }
            }));
            kicks.push(kick);
        }
        Waker { kicks, threads }
    }

    fn wake(&self) {
        for k in &self.kicks {
            // Full: a wake-up is pending already.
            let _ = k.try_send(());
        }
    }

    fn stop(self) {
        for k in &self.kicks {
            k.close();
        }
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// What [`GateHandler`] counts.
#[derive(Debug)]
struct Gate {
    handled: u64,
    /// The handler blocks (after counting its batch) while `handled >= limit`.
    limit: u64,
    /// Record when `handled` first reaches this.
    watch: Option<u64>,
    reached_at: Option<Instant>,
}

/// The vetted consumer's handler in the Kafka benchmarks: counts records, notes when a watched
/// count is reached (the instant the batch arrived), and can hold the consumer back (a closed
/// gate blocks `handle` until it is opened).
pub struct GateHandler {
    state: Mutex<StdRuntime, Gate>,
    changed: Condvar<StdRuntime>,
    rt: StdRuntime,
}

impl GateHandler {
    /// An open gate.
    pub fn new(rt: StdRuntime) -> Self {
        GateHandler {
            state: Mutex::new(Gate {
                handled: 0,
                limit: u64::MAX,
                watch: None,
                reached_at: None,
            }),
            changed: Condvar::new(&rt),
            rt,
        }
    }

    /// Records handled so far.
    pub fn handled(&self) -> u64 {
        self.state.with(|g| g.handled)
    }

    /// Watch for `handled` reaching `target` (see [`wait_reached`](Self::wait_reached)).
    pub fn watch(&self, target: u64) {
        self.state.with(|g| {
            g.watch = Some(target);
            g.reached_at = (g.handled >= target).then(Instant::now);
        });
    }

    /// Blocks further batches once `handled` reaches `limit` (`u64::MAX`: never).
    pub fn set_limit(&self, limit: u64) {
        self.state.with(|g| g.limit = limit);
        self.changed.notify_all();
    }

    /// Waits at most `timeout` for the watched count; returns when the batch that reached it
    /// arrived, and the count then.
    pub fn wait_reached(&self, timeout: Duration) -> Option<(Instant, u64)> {
        let deadline = self.rt.now() + timeout;
        let ok = self
            .changed
            .wait_while(&self.state, Some(deadline), "gate: watched count", |g| {
                g.reached_at.is_none()
            });
        if !ok {
            return None;
        }
        self.state.with(|g| g.reached_at.map(|at| (at, g.handled)))
    }
}

impl Handler for GateHandler {
    fn handle(&self, batch: &[Record]) -> Result<(), HandlerError> {
        let now = Instant::now();
        self.state.with(|g| {
            g.handled += batch.len() as u64;
            if g.watch.is_some_and(|t| g.handled >= t) && g.reached_at.is_none() {
                g.reached_at = Some(now);
            }
        });
        self.changed.notify_all();
        self.changed
            .wait_while(&self.state, None, "gate: closed", |g| g.handled >= g.limit);
        Ok(())
    }
}

/// `vetted`: pausebeat's consumer on the rdkafka backend, with a [`GateHandler`].
pub struct VettedKafka {
    consumer: Consumer<StdRuntime, RdKafkaFactory, Arc<GateHandler>, NoProbe>,
    handler: Arc<GateHandler>,
}

impl VettedKafka {
    /// Starts the consumer in `group` with the same librdkafka settings as [`RawConsumer`], and
    /// runs it once (it joins the group, reads what is there, then pauses).
    pub fn start(
        kafka: &MockKafka,
        group: &str,
        extra: &[(String, String)],
        batch_size: usize,
    ) -> Result<Self, BenchError> {
        let rt = StdRuntime::new();
        let mut cfg = kafka
            .consumer_config(group)
            .with_session_timeout(SESSION_TIMEOUT)
            .with_max_poll_interval(MAX_POLL_INTERVAL)
            .with_close_timeout(Duration::from_secs(10));
        for (k, v) in base_settings().iter().chain(extra) {
            cfg = cfg.with(k.clone(), v.clone());
        }
        let factory = RdKafkaFactory::new(cfg)?;
        let config = ConsumerConfig::builder()
            .name("bench-kafka")
            .poll_timeout(Duration::from_millis(100))
            .maintenance_poll_timeout(Duration::from_millis(100))
            .batch_size(batch_size)
            .max_poll_interval(MAX_POLL_INTERVAL)
            .session_timeout(SESSION_TIMEOUT)
            .retry_backoff(Duration::from_millis(100))
            .command_timeout(Duration::from_secs(10))
            .build()?;
        let handler = Arc::new(GateHandler::new(rt));
        let consumer = Consumer::start(&rt, config, Arc::new(factory), handler.clone(), NoProbe);
        consumer.run_once()?;
        Ok(VettedKafka { consumer, handler })
    }

    /// The consumer.
    pub fn consumer(&self) -> &Consumer<StdRuntime, RdKafkaFactory, Arc<GateHandler>, NoProbe> {
        &self.consumer
    }

    /// Its handler.
    pub fn handler(&self) -> &GateHandler {
        &self.handler
    }

    /// Opens the gate and closes the consumer (bounded by its command timeout).
    pub fn close(self) -> Result<(), BenchError> {
        self.handler.set_limit(u64::MAX);
        Ok(self.consumer.close()?)
    }
}

/// The pause before iteration `i` of `resume_to_record`: a low-discrepancy sweep over one second,
/// the same sequence for every id. The latency depends on where in librdkafka's 1 s idle cycle
/// the resume falls (see `benches/RESULTS.md`), so every id must see the same spread of phases.
pub fn paused_for(i: u64) -> Duration {
    Duration::from_millis(100 + (i * 379) % 1000)
}

/// Who is measured by [`ToRecordBench`] and [`ThroughputBench`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    /// `rdkafka-raw`: the hand-written `BaseConsumer` loop.
    Raw,
    /// `rdkafka-raw-wake`: the same, plus a request to each partition leader right after the
    /// resume ([`RawConsumer::wake_leaders`]).
    RawWake,
    /// `vetted`: pausebeat's consumer on the rdkafka backend.
    Vetted,
}

impl Who {
    /// Its benchmark id.
    pub fn name(self) -> &'static str {
        match self {
            Who::Raw => "rdkafka-raw",
            Who::RawWake => "rdkafka-raw-wake",
            Who::Vetted => "vetted",
        }
    }
}

/// One consumer on its own mock cluster (4 partitions, 3 brokers).
enum Side {
    Raw(RawConsumer),
    Vetted(VettedKafka),
}

fn start_side(
    who: Who,
    kafka: &MockKafka,
    group: &str,
    extra: &[(String, String)],
    batch: usize,
) -> Result<Side, BenchError> {
    Ok(match who {
        Who::Raw | Who::RawWake => Side::Raw(RawConsumer::start(kafka, group, extra, None)?),
        Who::Vetted => Side::Vetted(VettedKafka::start(kafka, group, extra, batch)?),
    })
}

fn close_side(side: Side) -> Result<(), BenchError> {
    match side {
        Side::Raw(r) => {
            r.close();
            Ok(())
        }
        Side::Vetted(v) => v.close(),
    }
}

/// `resume_to_record/<who>`: from `resume()` to the next record in the handler. Each iteration
/// produces one record while the consumer is paused, keeps it paused for [`paused_for`], then
/// resumes and waits for the record.
pub struct ToRecordBench {
    who: Who,
    kafka: MockKafka,
    side: Option<Side>,
    i: u64,
    samples: Vec<ToRecord>,
}

/// One resume → record, split at the first Fetch the record's leader received after the resume.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct ToRecord {
    /// How long the consumer was paused before.
    pub paused_ms: f64,
    /// From `resume()` to the record in the handler.
    pub to_record_ms: f64,
    /// From `resume()` to the first Fetch request the partition's leader received (librdkafka's
    /// part: its broker thread waking up), if the mock recorded one.
    pub first_fetch_ms: Option<f64>,
}

impl ToRecordBench {
    /// Starts the mock cluster and the consumer (which joins and pauses).
    pub fn start(who: Who, extra: &[(String, String)]) -> Result<Self, BenchError> {
        let topic = format!("rtr-{}", who.name());
        let kafka = start_mock(&topic, 4)?;
        let side = start_side(who, &kafka, &topic, extra, 1000)?;
        if let Side::Raw(r) = &side {
            r.pause()?;
        }
        kafka.start_request_tracking();
        Ok(ToRecordBench {
            who,
            kafka,
            side: Some(side),
            i: 0,
            samples: vec![],
        })
    }

    /// Runs `iters` iterations; returns the time from `resume()` to the record, summed.
    pub fn measure(&mut self, iters: u64) -> Result<Duration, BenchError> {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let i = self.i;
            self.i += 1;
            let partition = i32::try_from(i % 4).unwrap_or(0);
            self.kafka.produce(partition, 1)?;
            let paused = paused_for(i);
            let (d, resumed_us) = self.one(paused)?;
            let leader = leader_of(partition);
            let first_fetch = self
                .kafka
                .requests()
                .iter()
                .find(|r| r.api_key == 1 && r.broker == leader && r.timestamp_us >= resumed_us)
                .map(|r| (r.timestamp_us - resumed_us) as f64 / 1000.0);
            self.samples.push(ToRecord {
                paused_ms: paused.as_secs_f64() * 1000.0,
                to_record_ms: d.as_secs_f64() * 1000.0,
                first_fetch_ms: first_fetch,
            });
            total += d;
        }
        Ok(total)
    }

    /// One pause → resume → record; the latency and librdkafka's clock at the resume.
    fn one(&mut self, paused: Duration) -> Result<(Duration, i64), BenchError> {
        let wake = self.who == Who::RawWake;
        match self.side.as_mut() {
            Some(Side::Raw(r)) => {
                r.poll_for(paused)?;
                self.kafka.clear_requests();
                let resumed_us = rd_clock_us();
                let t0 = Instant::now();
                r.resume()?;
                if wake {
                    r.wake_leaders_async()?;
                }
                let got = r.next_record(Duration::from_secs(5))?;
                let Some((_, _, at)) = got else {
                    return Err(BenchError::Setup(format!(
                        "{}: no record within 5 s of the resume",
                        self.who.name()
                    )));
                };
                r.commit()?;
                r.pause()?;
                Ok((at - t0, resumed_us))
            }
            Some(Side::Vetted(v)) => {
                StdRuntime::new().sleep(paused);
                let h = v.handler();
                h.watch(h.handled() + 1);
                self.kafka.clear_requests();
                let resumed_us = rd_clock_us();
                let t0 = Instant::now();
                v.consumer().resume();
                let Some((at, _)) = h.wait_reached(Duration::from_secs(5)) else {
                    return Err(BenchError::Setup(
                        "vetted: no record within 5 s of the resume".into(),
                    ));
                };
                v.consumer().pause()?;
                Ok((at - t0, resumed_us))
            }
            None => Err(BenchError::Setup("finished".into())),
        }
    }

    /// Closes the consumer and returns every resume measured.
    pub fn finish(mut self) -> Result<Vec<ToRecord>, BenchError> {
        if let Some(side) = self.side.take() {
            close_side(side)?;
        }
        Ok(self.samples)
    }
}

/// `throughput/<who>`: records per second through the handler. An iteration reads
/// [`ThroughputBench::PER_ITERATION`] records that are already in the topic (produced, untimed,
/// before it), committing synchronously after every batch of [`ThroughputBench::BATCH`]; it is
/// timed from its start to the arrival of its last record.
///
/// Between iterations both consumers hold back: the raw loop stops polling, the vetted consumer's
/// handler blocks (a [`GateHandler`]); librdkafka keeps prefetching meanwhile for both.
pub struct ThroughputBench {
    who: Who,
    kafka: MockKafka,
    side: Option<Side>,
    produced: u64,
    consumed: u64,
}

impl ThroughputBench {
    /// Records per iteration.
    pub const PER_ITERATION: u64 = 20_000;
    /// Records per batch (and commit).
    pub const BATCH: u64 = 5_000;
    /// Bytes per record.
    pub const PAYLOAD: usize = 100;

    /// Starts the mock cluster and the consumer (running, held back).
    pub fn start(who: Who, extra: &[(String, String)]) -> Result<Self, BenchError> {
        let topic = format!("tp-{}", who.name());
        let kafka = start_mock(&topic, 4)?;
        let batch = usize::try_from(Self::BATCH).unwrap_or(5_000);
        let side = start_side(who, &kafka, &topic, extra, batch)?;
        let mut bench = ThroughputBench {
            who,
            kafka,
            side: Some(side),
            produced: 0,
            consumed: 0,
        };
        bench.prime()?;
        Ok(bench)
    }

    /// Gets records flowing (the first fetch after a resume can take up to 1 s, see
    /// [`tuned_fetch_settings`]): the raw loop reads one batch, the vetted consumer is resumed
    /// and its handler takes one batch and closes the gate.
    fn prime(&mut self) -> Result<(), BenchError> {
        self.top_up()?;
        match self.side.as_mut() {
            Some(Side::Raw(r)) => {
                r.consume(Self::BATCH, Self::BATCH, Duration::from_secs(30))?;
                self.consumed += Self::BATCH;
            }
            Some(Side::Vetted(v)) => {
                let h = v.handler();
                h.set_limit(h.handled() + 1);
                h.watch(h.handled() + 1);
                v.consumer().resume();
                let Some((_, count)) = h.wait_reached(Duration::from_secs(30)) else {
                    return Err(BenchError::Setup(
                        "vetted: no record within 30 s of the resume".into(),
                    ));
                };
                self.consumed = count;
            }
            None => {}
        }
        Ok(())
    }

    /// Keeps at least two iterations' worth of records in the topic ahead of the consumer (the
    /// mock keeps ≈ 5 MiB per partition, so not much more).
    fn top_up(&mut self) -> Result<(), BenchError> {
        let per = Self::PER_ITERATION;
        if self.produced - self.consumed.min(self.produced) < 2 * per {
            let parts = u64::try_from(self.kafka.partitions()).unwrap_or(1).max(1);
            produce_everywhere(&self.kafka, 2 * per / parts, Self::PAYLOAD)?;
            self.produced += 2 * per / parts * parts;
        }
        Ok(())
    }

    /// Runs `iters` iterations; returns the time spent reading, summed (scaled to exactly
    /// `PER_ITERATION` records per iteration when a vetted batch overshoots).
    pub fn measure(&mut self, iters: u64) -> Result<Duration, BenchError> {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            self.top_up()?;
            let per = Self::PER_ITERATION;
            match self.side.as_mut() {
                Some(Side::Raw(r)) => {
                    let t0 = Instant::now();
                    let last = r.consume(per, Self::BATCH, Duration::from_secs(30))?;
                    total += last - t0;
                    self.consumed += per;
                }
                Some(Side::Vetted(v)) => {
                    let h = v.handler();
                    let start = h.handled();
                    h.watch(start + per);
                    let t0 = Instant::now();
                    h.set_limit(start + per);
                    let Some((at, count)) = h.wait_reached(Duration::from_secs(30)) else {
                        return Err(BenchError::Setup(format!(
                            "vetted: {} of {per} records within 30 s",
                            h.handled() - start
                        )));
                    };
                    let read = (count - start).max(1);
                    total += (at - t0).mul_f64(per as f64 / read as f64);
                    self.consumed = count;
                }
                None => return Err(BenchError::Setup("finished".into())),
            }
        }
        Ok(total)
    }

    /// Closes the consumer; returns the records read.
    pub fn finish(mut self) -> Result<u64, BenchError> {
        if let Some(side) = self.side.take() {
            close_side(side)?;
        }
        tracing::debug!(
            who = self.who.name(),
            read = self.consumed,
            "throughput done"
        );
        Ok(self.consumed)
    }
}
