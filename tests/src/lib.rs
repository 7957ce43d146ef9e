//! Helpers for pausebeat's integration tests against librdkafka's mock cluster
//! ([`pausebeat::rdkafka::mock::MockKafka`]): a hard timeout around a test body, a recording
//! rebalance hook, poll loops, and quick consumer settings.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use pausebeat::rdkafka::mock::MockKafka;
use pausebeat::rdkafka::KafkaConfig;
use pausebeat::sync::{AtomicBool, Mutex, Runtime, Signal, StdRuntime, StdSignal, Wake};
use pausebeat::{ConsumerHandle, KafkaError, Partition, RebalanceHook, Record};

/// Sends tracing output (librdkafka's included, target `librdkafka`) to the test's captured
/// output, filtered by `RUST_LOG` (default: `warn`, librdkafka's own log lines off; they are
/// loud during injected outages). Idempotent.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,librdkafka=off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// Wakes the waiter even if the body panics.
struct NotifyOnDrop(Arc<StdSignal>);

impl Drop for NotifyOnDrop {
    fn drop(&mut self) {
        self.0.notify();
    }
}

/// Where the body's thread leaves its outcome.
type Outcome<T> = Arc<Mutex<StdRuntime, Option<std::thread::Result<T>>>>;

/// Runs `body` on its own thread and waits for it at most `limit`: librdkafka calls can hang
/// (destroy after outages), and a hung test must fail, not stall the suite. Panics (failing the
/// test) on timeout, leaving the body's thread behind; re-raises the body's panic.
pub fn with_timeout<T, F>(name: &str, limit: Duration, body: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    init_tracing();
    let rt = StdRuntime::new();
    let done = Arc::new(rt.signal());
    let slot: Outcome<T> = Arc::new(Mutex::new(None));
    let (guard, out) = (NotifyOnDrop(done.clone()), slot.clone());
    let deadline = rt.now() + limit;
    drop(rt.spawn(name, move || {
        let _guard = guard;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
        out.with(|s| *s = Some(result));
    }));
    if done.wait(Some(deadline), name) == Wake::TimedOut {
        panic!("test `{name}` did not finish within {limit:?} (hung in librdkafka?)");
    }
    match slot.with(|s| s.take()) {
        Some(Ok(v)) => v,
        Some(Err(panic)) => std::panic::resume_unwind(panic),
        None => panic!("test `{name}` ended without a result"),
    }
}

/// Settings for quick tests on the mock: session 6 s, max.poll 7 s, heartbeats every 500 ms,
/// reconnect backoff at most 1 s, `fetch.wait.max.ms` 100.
pub fn quick_config(kafka: &MockKafka, group: &str) -> KafkaConfig {
    kafka
        .consumer_config(group)
        .with_session_timeout(Duration::from_secs(6))
        .with_max_poll_interval(Duration::from_secs(7))
        .with("heartbeat.interval.ms", "500")
        .with("reconnect.backoff.max.ms", "1000")
        .with("fetch.wait.max.ms", "100")
}

/// A rebalance callback as the handle saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookEvent {
    /// `revoked`.
    Revoked(Vec<Partition>),
    /// `before_assign`.
    BeforeAssign(Vec<Partition>),
    /// `after_assign`.
    AfterAssign(Vec<Partition>),
}

/// A [`RebalanceHook`] that records every callback and can pause assigned partitions in
/// `after_assign` (as a consumer that is paused must).
pub struct Recorder {
    rt: StdRuntime,
    events: Mutex<StdRuntime, Vec<(Duration, HookEvent)>>,
    pause_on_assign: AtomicBool<StdRuntime>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            rt: StdRuntime::new(),
            events: Mutex::new(Vec::new()),
            pause_on_assign: AtomicBool::new(false),
        }
    }
}

impl Recorder {
    /// A recorder that does not pause.
    pub fn new() -> Arc<Self> {
        Arc::new(Recorder::default())
    }

    /// Whether `after_assign` pauses the partitions it is given.
    pub fn set_pause_on_assign(&self, on: bool) {
        self.pause_on_assign.store(on);
    }

    /// The callbacks so far.
    pub fn events(&self) -> Vec<HookEvent> {
        self.events
            .with(|e| e.iter().map(|(_, ev)| ev.clone()).collect())
    }

    /// The callbacks so far, with the time since the recorder was created.
    pub fn timed_events(&self) -> Vec<(Duration, HookEvent)> {
        self.events.with(|e| e.clone())
    }

    /// How many `revoked` callbacks there were.
    pub fn revocations(&self) -> usize {
        self.events.with(|e| {
            e.iter()
                .filter(|(_, ev)| matches!(ev, HookEvent::Revoked(_)))
                .count()
        })
    }

    fn push(&self, ev: HookEvent) {
        let at = self.rt.now().since_origin();
        self.events.with(|e| e.push((at, ev)));
    }
}

impl<H: ConsumerHandle> RebalanceHook<H> for Recorder {
    fn revoked(&self, _handle: &H, partitions: &[Partition]) {
        self.push(HookEvent::Revoked(partitions.to_vec()));
    }
    fn before_assign(&self, _handle: &H, partitions: &[Partition]) {
        self.push(HookEvent::BeforeAssign(partitions.to_vec()));
    }
    fn after_assign(&self, handle: &H, partitions: &[Partition]) {
        self.push(HookEvent::AfterAssign(partitions.to_vec()));
        if self.pause_on_assign.load() {
            if let Err(e) = handle.pause(partitions) {
                tracing::error!("pause in after_assign failed: {e}");
            }
        }
    }
}

/// What a poll loop saw.
#[derive(Clone, Debug, Default)]
pub struct Polled {
    /// Records, in arrival order.
    pub records: Vec<Record>,
    /// Errors, in arrival order.
    pub errors: Vec<KafkaError>,
    /// How long the loop ran.
    pub elapsed: Duration,
}

impl Polled {
    /// The records of one partition, in arrival order.
    pub fn offsets_of(&self, partition: Partition) -> Vec<i64> {
        self.records
            .iter()
            .filter(|r| r.partition == partition)
            .map(|r| r.offset)
            .collect()
    }
}

/// Polls (100 ms at a time) until `done` says so or `limit` passes.
pub fn poll_until<H: ConsumerHandle>(
    handle: &H,
    limit: Duration,
    mut done: impl FnMut(&Polled) -> bool,
) -> Polled {
    let rt = StdRuntime::new();
    let mut seen = Polled::default();
    while rt.now().since_origin() < limit && !done(&seen) {
        match handle.poll(Duration::from_millis(100)) {
            Ok(Some(r)) => seen.records.push(r),
            Ok(None) => {}
            Err(e) => {
                tracing::info!("poll error: {e}");
                seen.errors.push(e);
            }
        }
    }
    seen.elapsed = rt.now().since_origin();
    seen
}

/// Polls for `d`, collecting everything.
pub fn poll_for<H: ConsumerHandle>(handle: &H, d: Duration) -> Polled {
    poll_until(handle, d, |_| false)
}

/// Polls until at least `n` records arrived (or `limit` passes).
pub fn poll_records<H: ConsumerHandle>(handle: &H, n: usize, limit: Duration) -> Polled {
    poll_until(handle, limit, |p| p.records.len() >= n)
}

/// Polls until the handle has a non-empty assignment (or `limit` passes); returns it.
pub fn wait_assigned<H: ConsumerHandle>(handle: &H, limit: Duration) -> (Vec<Partition>, Polled) {
    let mut assigned = Vec::new();
    let polled = poll_until(handle, limit, |_| {
        assigned = handle.assignment().unwrap_or_default();
        !assigned.is_empty()
    });
    (assigned, polled)
}

// ----- the vetted consumer on rdkafka ------------------------------------------------------------

/// Every `(partition, offset)` a [`Tracker`] was handed, and when.
#[derive(Clone, Debug, Default)]
pub struct Tracked {
    /// Distinct records handled.
    pub handled: std::collections::BTreeSet<(Partition, pausebeat::Offset)>,
    /// Records handed in all (duplicates included: delivery is at-least-once).
    pub deliveries: u64,
    /// When each batch arrived (time since the tracker was created) and its size.
    pub batches: Vec<(Duration, usize)>,
    /// Every record handed, whole, in the order handed.
    pub records: Vec<Record>,
}

/// A batch [`Handler`](pausebeat::Handler) that records what it is handed and lets a test wait
/// for it (records handled, or the first batch after some instant).
pub struct Tracker {
    rt: StdRuntime,
    state: Mutex<StdRuntime, Tracked>,
    cv: pausebeat::sync::Condvar<StdRuntime>,
}

impl Tracker {
    /// An empty tracker; its clock starts now.
    pub fn new() -> Arc<Self> {
        let rt = StdRuntime::new();
        Arc::new(Tracker {
            rt,
            state: Mutex::new(Tracked::default()),
            cv: pausebeat::sync::Condvar::new(&rt),
        })
    }

    /// The time since the tracker was created (the clock of [`Tracked::batches`]).
    pub fn now(&self) -> Duration {
        self.rt.now().since_origin()
    }

    /// A copy of what was handled so far.
    pub fn snapshot(&self) -> Tracked {
        self.state.with(|s| s.clone())
    }

    /// Distinct records handled so far.
    pub fn distinct(&self) -> usize {
        self.state.with(|s| s.handled.len())
    }

    /// The records of `expected` not handled (yet).
    pub fn missing(
        &self,
        expected: &std::collections::BTreeSet<(Partition, pausebeat::Offset)>,
    ) -> Vec<(Partition, pausebeat::Offset)> {
        self.state
            .with(|s| expected.difference(&s.handled).copied().collect())
    }

    /// Waits at most `limit` until every record of `expected` was handled; true if they were.
    pub fn wait_all(
        &self,
        expected: &std::collections::BTreeSet<(Partition, pausebeat::Offset)>,
        limit: Duration,
    ) -> bool {
        let deadline = self.rt.now() + limit;
        self.cv
            .wait_while(&self.state, Some(deadline), "tracker: all handled", |s| {
                !expected.is_subset(&s.handled)
            })
    }

    /// Waits at most `limit` for the first batch that arrives at or after `since` (tracker
    /// time); returns when it arrived.
    pub fn first_batch_after(&self, since: Duration, limit: Duration) -> Option<Duration> {
        let deadline = self.rt.now() + limit;
        let mut at = None;
        self.cv
            .wait_while(&self.state, Some(deadline), "tracker: next batch", |s| {
                at = s
                    .batches
                    .iter()
                    .rev()
                    .take_while(|(t, _)| *t >= since)
                    .last()
                    .map(|(t, _)| *t);
                at.is_none()
            });
        at
    }
}

impl pausebeat::Handler for Tracker {
    fn handle(&self, batch: &[Record]) -> Result<(), pausebeat::HandlerError> {
        let at = self.now();
        self.state.with(|s| {
            s.deliveries += batch.len() as u64;
            s.batches.push((at, batch.len()));
            s.handled
                .extend(batch.iter().map(|r| (r.partition, r.offset)));
            s.records.extend(batch.iter().cloned());
        });
        self.cv.notify_all();
        Ok(())
    }
}

/// Produces `per_partition` records to every partition of `kafka`'s topic; returns them.
pub fn produce_all(
    kafka: &MockKafka,
    per_partition: u64,
) -> std::collections::BTreeSet<(Partition, pausebeat::Offset)> {
    let mut out = std::collections::BTreeSet::new();
    for p in 0..kafka.partitions() {
        let offsets = kafka
            .produce(p, per_partition)
            .unwrap_or_else(|e| panic!("producing to partition {p}: {e}"));
        out.extend(offsets.map(|o| (p, o)));
    }
    out
}

/// Quick settings of the vetted consumer, matching [`quick_config`] (session 6 s, max.poll 7 s):
/// 500 ms polls, maintenance polls every 1.75 s, 250 ms retry and restart backoffs, batches of
/// 50, 15 s command timeout. `quick_config` plus a 5 s close timeout is the librdkafka side.
pub fn quick_vetted(name: &str) -> pausebeat::consumer::ConsumerConfigBuilder {
    pausebeat::ConsumerConfig::builder()
        .name(name)
        .session_timeout(Duration::from_secs(6))
        .max_poll_interval(Duration::from_secs(7))
        .poll_timeout(Duration::from_millis(500))
        .maintenance_poll_timeout(Duration::from_millis(200))
        .retry_backoff(Duration::from_millis(250))
        .restart_backoff(Duration::from_millis(250))
        .restart_backoff_max(Duration::from_secs(2))
        .command_timeout(Duration::from_secs(15))
        .batch_size(50)
}
