//! [`RdKafkaFactory`] and [`RdKafkaHandle`]: the seam on a librdkafka `BaseConsumer`.

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

use ::rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use ::rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance as RdRebalance,
};
use ::rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use ::rdkafka::message::{Headers as _, Message};
use ::rdkafka::topic_partition_list::{Offset as RdOffset, TopicPartitionList};
use ::rdkafka::ClientContext;
use ::rdkafka::Timestamp as RdTimestamp;

use super::bounded::run_bounded;
use super::config::{config_error, ConfigError, KafkaConfig};
use super::error::classify;
use crate::kafka::{
    ConsumerFactory, ConsumerHandle, ErrorClass, ErrorCode, HandleId, Header, KafkaError, Offset,
    Partition, RebalanceHook, Record, Timestamp,
};
use crate::sync::{AtomicBool, AtomicU64, Chan, JoinHandle, Mutex, Runtime, StdRuntime};

/// Creates [`RdKafkaHandle`]s: librdkafka `BaseConsumer`s subscribed to the configured topic.
///
/// Each handle gets `client.id = pausebeat-c<N>` (its [`HandleId`]) and, when
/// [`ConsumerFactory::create`] is given one, `group.instance.id`.
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
/// use pausebeat::kafka::NoHook;
/// use pausebeat::rdkafka::{KafkaConfig, RdKafkaFactory};
/// use pausebeat::{ConsumerFactory, ConsumerHandle};
///
/// let factory = RdKafkaFactory::new(KafkaConfig::new("localhost:9092", "g", "events"))?;
/// let handle = factory.create(None, Arc::new(NoHook))?;
/// while let Some(record) = handle.poll(Duration::from_millis(100))? {
///     handle.commit(&[(record.partition, record.offset + 1)])?;
/// }
/// handle.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RdKafkaFactory {
    config: KafkaConfig,
    base: ClientConfig,
    rt: StdRuntime,
    next_id: AtomicU64<StdRuntime>,
}

impl fmt::Debug for RdKafkaFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RdKafkaFactory")
            .field("config", &self.config)
            .field("next_id", &self.next_id.load())
            .finish()
    }
}

impl RdKafkaFactory {
    /// Validates `config` ([`KafkaConfig::validate`]), then creates and destroys one client to let
    /// librdkafka run its cross-key checks (it connects to nothing it keeps; the teardown is
    /// bounded by `close_timeout`).
    pub fn new(config: KafkaConfig) -> Result<Self, ConfigError> {
        let base = config.client_config()?;
        let mut probe = base.clone();
        probe.set("client.id", "pausebeat-config-check");
        let consumer: BaseConsumer<LogContext> = probe
            .create_with_context(LogContext)
            .map_err(|e| config_error(e, "", ""))?;
        let rt = StdRuntime::new();
        if !run_bounded(
            &rt,
            "pausebeat-config-check",
            config.close_timeout,
            move || drop(consumer),
        ) {
            tracing::warn!(
                "the configuration check's client did not shut down within {:?}; leaked",
                config.close_timeout
            );
        }
        Ok(RdKafkaFactory {
            config,
            base,
            rt,
            next_id: AtomicU64::new(1),
        })
    }

    /// Its configuration.
    pub fn config(&self) -> &KafkaConfig {
        &self.config
    }

    /// The configured base static instance id ([`KafkaConfig::instance_id`]), for the caller to
    /// pass (possibly with a suffix) to [`ConsumerFactory::create`].
    pub fn instance_id(&self) -> Option<&str> {
        self.config.instance_id.as_deref()
    }
}

impl ConsumerFactory for RdKafkaFactory {
    type Handle = RdKafkaHandle;

    /// Creates a consumer and subscribes it to the topic. Fails with
    /// [`ErrorCode::CreateFailed`] (non-retriable) if librdkafka refuses either step, or if
    /// `instance_id` is empty.
    fn create(
        &self,
        instance_id: Option<&str>,
        hook: Arc<dyn RebalanceHook<RdKafkaHandle>>,
    ) -> Result<RdKafkaHandle, KafkaError> {
        let id = HandleId(self.next_id.fetch_add(1));
        let mut cfg = self.base.clone();
        cfg.set("client.id", format!("pausebeat-{id}"));
        if let Some(iid) = instance_id {
            if iid.trim().is_empty() {
                return Err(KafkaError::new(
                    ErrorClass::NonRetriable,
                    ErrorCode::CreateFailed,
                    "empty group.instance.id",
                ));
            }
            cfg.set("group.instance.id", iid);
        }
        let inner = Arc::new(Inner {
            id,
            topic: self.config.topic.clone(),
            topic_name: Arc::from(self.config.topic.as_str()),
            header_names: Mutex::new(Vec::new()),
            rt: self.rt,
            close_timeout: self.config.close_timeout,
            op_timeout: self.config.op_timeout,
            consumer: Mutex::new(None),
            closing: AtomicBool::new(false),
            waker: Mutex::new(None),
        });
        let ctx = HandleContext {
            id,
            topic: self.config.topic.clone(),
            handle: Arc::downgrade(&inner),
            hook,
        };
        let consumer: BaseConsumer<HandleContext> = cfg.create_with_context(ctx).map_err(|e| {
            let mut err = classify(&e, None);
            err.code = ErrorCode::CreateFailed;
            err.class = ErrorClass::NonRetriable;
            err
        })?;
        let subscribed = consumer.subscribe(&[self.config.topic.as_str()]);
        inner.consumer.with(|slot| *slot = Some(Arc::new(consumer)));
        let handle = RdKafkaHandle { inner };
        if let Err(e) = subscribed {
            let mut err = classify(&e, None);
            err.code = ErrorCode::CreateFailed;
            err.class = ErrorClass::NonRetriable;
            if let Err(close) = handle.close() {
                tracing::warn!(handle = %id, "closing after a failed subscribe: {close}");
            }
            return Err(err);
        }
        tracing::info!(
            handle = %id,
            instance_id = instance_id.unwrap_or(""),
            topic = %self.config.topic,
            "consumer created and subscribed"
        );
        Ok(handle)
    }
}

/// A librdkafka `BaseConsumer` behind the seam (one group member).
///
/// All calls but [`close`](ConsumerHandle::close) are thin wrappers. Notes:
///
/// * `poll` returns `Ok(None)` early after serving a rebalance or commit event, and for a
///   partition-EOF event; rebalance callbacks run inside it, on the polling thread. A transient
///   error takes the transient errors queued behind it along: librdkafka queues one per failed
///   connection attempt during an outage, and handing them out one per poll after recovery
///   delayed consumption by one retry backoff each. The first record or non-transient error
///   queued behind them is returned instead, otherwise the last transient error.
/// * `commit` is synchronous (`CommitMode::Sync`) and commits exactly the offsets given (the
///   offset of the next record to read). It can block the caller: without a coordinator
///   librdkafka defers it for up to `session.timeout.ms`, then fails with `_WAIT_COORD`
///   ([`ErrorCode::TimedOut`], retriable); while the member rejoins after an
///   `UNKNOWN_MEMBER_ID`, commits took up to ≈ 5 s each in the mock and failed with
///   [`ErrorCode::UnknownMember`]. Time spent here counts against `max.poll.interval.ms`.
/// * `seek` and `committed` wait at most [`KafkaConfig::op_timeout`].
/// * `pause` / `resume` act on librdkafka's partition objects, which outlive assignments: a
///   partition paused, revoked and assigned again comes back **paused**; a partition newly
///   assigned is **not** paused (pause it in
///   [`crate::RebalanceHook::after_assign`], where it sticks).
///   `resume` does not wake librdkafka's fetcher: the first fetch follows within ≈ 1 s
///   (see the measurements in the `pausebeat-tests` crate, `tests/latency.rs`).
/// * The hook is not called for the rebalance that closing the consumer performs.
///
/// # Closing
///
/// `close` marks the handle closed (every later call fails with [`ErrorCode::Closed`]), then
/// destroys the consumer (librdkafka's close: a static member sends no LeaveGroup) on a detached thread and waits for that at most
/// [`KafkaConfig::close_timeout`]. librdkafka's destroy has been seen to block forever after
/// broker outages; when the bound passes, `close` logs an error and returns a non-retriable
/// [`ErrorCode::TimedOut`] error, and **the consumer is leaked on purpose**: its thread, sockets
/// and memory stay until librdkafka finishes, possibly never. Dropping a handle that was not
/// closed closes it the same way (with a warning).
pub struct RdKafkaHandle {
    inner: Arc<Inner>,
}

impl fmt::Debug for RdKafkaHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RdKafkaHandle")
            .field("id", &self.inner.id)
            .field("topic", &self.inner.topic)
            .field("closed", &self.inner.closing.load())
            .finish()
    }
}

type Rd = BaseConsumer<HandleContext>;

/// The most queued transient errors one `poll` skips (see `Inner::skip_queued_transient_errors`).
const MAX_SKIPPED_ERRORS: usize = 1024;

/// The whole record: its topic (shared, not copied), key, value, headers in order, timestamp.
/// The key, value and headers are copied out of librdkafka's buffer (the message is released
/// when the poll's borrow ends); a record without headers allocates nothing for them.
fn to_record<M: Message>(m: &M, topic: &Arc<str>, names: &HeaderNames) -> Record {
    let headers = match m.headers() {
        None => Vec::new(),
        Some(hs) => names.with(|names| {
            hs.iter()
                .map(|h| Header {
                    key: intern(names, h.key),
                    value: h.value.map(<[u8]>::to_vec),
                })
                .collect()
        }),
    };
    Record {
        topic: topic.clone(),
        partition: m.partition(),
        offset: m.offset(),
        key: m.key().map(<[u8]>::to_vec),
        payload: m.payload().map(<[u8]>::to_vec),
        headers,
        timestamp: match m.timestamp() {
            RdTimestamp::NotAvailable => Timestamp::NotAvailable,
            RdTimestamp::CreateTime(t) => Timestamp::CreateTime(t),
            RdTimestamp::LogAppendTime(t) => Timestamp::LogAppendTime(t),
        },
    }
}

/// The header names a handle has seen: records share them instead of a copy each.
type HeaderNames = Mutex<StdRuntime, Vec<Arc<str>>>;

/// `name`, shared with the earlier records that had it (at most 64 names are kept).
fn intern(names: &mut Vec<Arc<str>>, name: &str) -> Arc<str> {
    if let Some(n) = names.iter().find(|n| &***n == name) {
        return n.clone();
    }
    let n: Arc<str> = Arc::from(name);
    if names.len() < 64 {
        names.push(n.clone());
    }
    n
}

struct Inner {
    id: HandleId,
    topic: String,
    /// Header names seen so far.
    header_names: HeaderNames,
    /// The topic, shared by every record handed out.
    topic_name: Arc<str>,
    rt: StdRuntime,
    close_timeout: Duration,
    op_timeout: Duration,
    /// `None` once closed. Calls clone the `Arc` out and release the lock before calling into
    /// librdkafka, so no lock is held across a blocking call.
    consumer: Mutex<StdRuntime, Option<Arc<Rd>>>,
    /// Set first thing in `close`: rebalance hooks are no longer called.
    closing: AtomicBool<StdRuntime>,
    /// The helper threads that wake resumed partitions' leaders (started at the first wake).
    waker: Mutex<StdRuntime, Option<Waker>>,
}

/// How long a wake-up request (a watermark query) may take before its helper gives up; also
/// the most it can delay a `close()`.
const WAKE_TIMEOUT: Duration = Duration::from_secs(1);

/// One helper thread per partition, each sending a watermark query (`ListOffsets`) to its
/// partition's leader when kicked, without the owner waiting for the answer: the leader's broker
/// thread wakes for the request and, on the way, sends the Fetch the resume made possible. One
/// thread per partition because a broker answers in order: a query queued behind a long-poll
/// Fetch waits for it, and must not delay the others.
struct Waker {
    kicks: Vec<(Partition, Chan<StdRuntime, ()>)>,
    threads: Vec<JoinHandle<StdRuntime, ()>>,
}

impl Waker {
    fn kick(&mut self, rt: &StdRuntime, c: &Arc<Rd>, topic: &str, partitions: &[Partition]) {
        for &p in partitions {
            if !self.kicks.iter().any(|(q, _)| *q == p) {
                let kick: Chan<StdRuntime, ()> = Chan::new(rt, 1);
                let (k, c, topic) = (kick.clone(), Arc::downgrade(c), topic.to_string());
                self.threads
                    .push(rt.spawn(&format!("pausebeat-wake-p{p}"), move || {
                        while k.recv().is_some() {
                            let Some(c) = c.upgrade() else { break };
                            if let Err(e) = c.fetch_watermarks(&topic, p, WAKE_TIMEOUT) {
                                tracing::debug!(partition = p, "wake-up query: {e}");
                            }
                        }
                    }));
                self.kicks.push((p, kick));
            }
            if let Some((_, k)) = self.kicks.iter().find(|(q, _)| *q == p) {
                // Full: a wake-up is pending already.
                let _ = k.try_send(());
            }
        }
    }

    /// Stops the helpers and waits for them (each finishes the query it is in, bounded by
    /// [`WAKE_TIMEOUT`]).
    fn stop(self) {
        for (_, k) in &self.kicks {
            k.close();
        }
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn closed_error(id: HandleId) -> KafkaError {
    KafkaError::new(
        ErrorClass::NonRetriable,
        ErrorCode::Closed,
        format!("consumer {id} is closed"),
    )
}

impl Inner {
    fn consumer(&self) -> Result<Arc<Rd>, KafkaError> {
        self.consumer
            .with(|slot| slot.clone())
            .ok_or_else(|| closed_error(self.id))
    }

    fn error(&self, consumer: &Rd, e: &RdError) -> KafkaError {
        let fatal_cause = consumer.client().fatal_error().map(|(code, _)| code);
        classify(e, fatal_cause)
    }

    fn tpl(&self, partitions: &[Partition]) -> TopicPartitionList {
        let mut tpl = TopicPartitionList::with_capacity(partitions.len());
        for &p in partitions {
            tpl.add_partition(&self.topic, p);
        }
        tpl
    }

    /// librdkafka queues one error event per failed connection attempt (per broker, every
    /// reconnect backoff) for as long as an outage lasts, and hands them out one per poll after
    /// the brokers are back: 17 stale `_TRANSPORT` / `_ALL_BROKERS_DOWN` events after a 5 s outage
    /// of 3 mock brokers. A caller that backs off after each transient error (as the vetted
    /// consumer does) would then wait one backoff per stale event before reading a record again
    /// (28 s after a 4 s outage in `tests/vetted.rs`). So a poll that returns a transient error
    /// first takes whatever else is queued *now* (zero-timeout polls, at most
    /// [`MAX_SKIPPED_ERRORS`]): the first record or non-transient error found is returned instead,
    /// otherwise the last transient error (the last `_ALL_BROKERS_DOWN`, if there was one).
    /// Transient errors are informational in librdkafka (it retries by itself); the skipped ones
    /// are only logged.
    /// One poll of `c`: a record, nothing (a timeout or a partition's end), or the error (with
    /// the transient errors librdkafka queued behind it skipped).
    fn poll_on(&self, c: &Rd, timeout: Duration) -> Result<Option<Record>, KafkaError> {
        match c.poll(timeout) {
            None => Ok(None),
            Some(Ok(m)) => Ok(Some(to_record(&m, &self.topic_name, &self.header_names))),
            Some(Err(RdError::PartitionEOF(_))) => Ok(None),
            Some(Err(e)) => {
                let err = self.error(c, &e);
                tracing::debug!(handle = %self.id, "poll: {err}");
                if err.is_retriable() {
                    self.skip_queued_transient_errors(c, err)
                } else {
                    Err(err)
                }
            }
        }
    }

    fn skip_queued_transient_errors(
        &self,
        c: &Rd,
        first: KafkaError,
    ) -> Result<Option<Record>, KafkaError> {
        let mut last = first;
        let mut skipped = 0usize;
        while skipped < MAX_SKIPPED_ERRORS {
            match c.poll(Duration::ZERO) {
                None | Some(Err(RdError::PartitionEOF(_))) => break,
                Some(Ok(m)) => {
                    tracing::debug!(
                        handle = %self.id,
                        skipped = skipped + 1,
                        "transient errors queued before a record skipped"
                    );
                    return Ok(Some(to_record(&m, &self.topic_name, &self.header_names)));
                }
                Some(Err(e)) => {
                    let err = self.error(c, &e);
                    if !err.is_retriable() {
                        return Err(err);
                    }
                    // All brokers down says more than one broker's transport failure: keep it.
                    if err.code == ErrorCode::AllBrokersDown
                        || last.code != ErrorCode::AllBrokersDown
                    {
                        last = err;
                    }
                    skipped += 1;
                }
            }
        }
        if skipped > 0 {
            tracing::debug!(
                handle = %self.id,
                skipped,
                "queued transient errors collapsed into one"
            );
        }
        Err(last)
    }

    /// Closes: returns `Err(Closed)` if already closed.
    fn close(&self, why: &str) -> Result<(), KafkaError> {
        self.closing.store(true);
        // The helpers hold the consumer only while inside a query: stop them first, so that
        // the close below destroys it.
        if let Some(w) = self.waker.with(|w| w.take()) {
            w.stop();
        }
        let consumer = self
            .consumer
            .with(|slot| slot.take())
            .ok_or_else(|| closed_error(self.id))?;
        let id = self.id;
        let started = self.rt.now();
        let finished = run_bounded(
            &self.rt,
            &format!("pausebeat-close-{id}"),
            self.close_timeout,
            // librdkafka's close (rust-rdkafka's drop): a dynamic member sends LeaveGroup, a
            // static one does not (KIP-345: its instance id keeps its place until the session
            // runs out or a new consumer with that id takes it over). `unsubscribe()` first
            // would make a static member leave too.
            move || drop(consumer),
        );
        let took = self.rt.now() - started;
        if finished {
            tracing::info!(handle = %id, ?took, "consumer closed ({why})");
            Ok(())
        } else {
            tracing::error!(
                handle = %id,
                bound = ?self.close_timeout,
                "librdkafka did not destroy the consumer in time ({why}); it is leaked"
            );
            Err(KafkaError::new(
                ErrorClass::NonRetriable,
                ErrorCode::TimedOut,
                format!(
                    "consumer {id} did not close within {:?}; leaked",
                    self.close_timeout
                ),
            ))
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if self.consumer.with(|slot| slot.is_some()) {
            tracing::warn!(handle = %self.id, "consumer handle dropped without close()");
            // Any error was logged by close.
            let _ = self.close("dropped");
        }
    }
}

impl ConsumerHandle for RdKafkaHandle {
    fn id(&self) -> HandleId {
        self.inner.id
    }

    fn poll(&self, timeout: Duration) -> Result<Option<Record>, KafkaError> {
        let c = self.inner.consumer()?;
        self.inner.poll_on(&c, timeout)
    }

    /// The client is taken once for the lot (one lock instead of one per record).
    fn poll_at_hand(&self, each: &mut dyn FnMut(Record) -> bool) -> Result<(), KafkaError> {
        let c = self.inner.consumer()?;
        while let Some(r) = self.inner.poll_on(&c, Duration::ZERO)? {
            if !each(r) {
                break;
            }
        }
        Ok(())
    }

    fn pause(&self, partitions: &[Partition]) -> Result<(), KafkaError> {
        let c = self.inner.consumer()?;
        if partitions.is_empty() {
            return Ok(());
        }
        c.pause(&self.inner.tpl(partitions))
            .map_err(|e| self.inner.error(&c, &e))
    }

    fn resume(&self, partitions: &[Partition]) -> Result<(), KafkaError> {
        let c = self.inner.consumer()?;
        if partitions.is_empty() {
            return Ok(());
        }
        c.resume(&self.inner.tpl(partitions))
            .map_err(|e| self.inner.error(&c, &e))
    }

    fn wake(&self, partitions: &[Partition]) -> Result<(), KafkaError> {
        let c = self.inner.consumer()?;
        let (rt, topic) = (&self.inner.rt, &self.inner.topic);
        self.inner.waker.with(|w| {
            w.get_or_insert_with(|| Waker {
                kicks: Vec::new(),
                threads: Vec::new(),
            })
            .kick(rt, &c, topic, partitions)
        });
        Ok(())
    }

    fn assignment(&self) -> Result<Vec<Partition>, KafkaError> {
        let c = self.inner.consumer()?;
        let tpl = c.assignment().map_err(|e| self.inner.error(&c, &e))?;
        let mut parts: Vec<Partition> = tpl
            .elements_for_topic(&self.inner.topic)
            .iter()
            .map(|e| e.partition())
            .collect();
        parts.sort_unstable();
        Ok(parts)
    }

    fn seek(&self, partition: Partition, offset: Offset) -> Result<(), KafkaError> {
        let c = self.inner.consumer()?;
        let mut tpl = TopicPartitionList::with_capacity(1);
        tpl.add_partition_offset(&self.inner.topic, partition, RdOffset::Offset(offset))
            .map_err(|e| self.inner.error(&c, &e))?;
        let tpl = c
            .seek_partitions(tpl, self.inner.op_timeout)
            .map_err(|e| self.inner.error(&c, &e))?;
        for elem in tpl.elements() {
            elem.error().map_err(|e| self.inner.error(&c, &e))?;
        }
        Ok(())
    }

    fn commit(&self, offsets: &[(Partition, Offset)]) -> Result<(), KafkaError> {
        let c = self.inner.consumer()?;
        if offsets.is_empty() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::with_capacity(offsets.len());
        for &(p, o) in offsets {
            tpl.add_partition_offset(&self.inner.topic, p, RdOffset::Offset(o))
                .map_err(|e| self.inner.error(&c, &e))?;
        }
        c.commit(&tpl, CommitMode::Sync)
            .map_err(|e| self.inner.error(&c, &e))
    }

    fn committed(
        &self,
        partitions: &[Partition],
    ) -> Result<Vec<(Partition, Option<Offset>)>, KafkaError> {
        let c = self.inner.consumer()?;
        if partitions.is_empty() {
            return Ok(Vec::new());
        }
        let tpl = c
            .committed_offsets(self.inner.tpl(partitions), self.inner.op_timeout)
            .map_err(|e| self.inner.error(&c, &e))?;
        let mut out = Vec::with_capacity(partitions.len());
        for elem in tpl.elements_for_topic(&self.inner.topic) {
            elem.error().map_err(|e| self.inner.error(&c, &e))?;
            let offset = match elem.offset() {
                RdOffset::Offset(o) => Some(o),
                _ => None,
            };
            out.push((elem.partition(), offset));
        }
        Ok(out)
    }

    /// librdkafka's `query_watermark_offsets`: a round trip to the partition's leader, bounded
    /// by the operation timeout.
    fn high_watermark(&self, partition: Partition) -> Result<Option<Offset>, KafkaError> {
        let c = self.inner.consumer()?;
        let (_low, high) = c
            .fetch_watermarks(&self.inner.topic, partition, self.inner.op_timeout)
            .map_err(|e| self.inner.error(&c, &e))?;
        Ok(Some(high))
    }

    /// librdkafka's `unsubscribe()`: LeaveGroup (a static member too), the assignment revoked.
    fn unsubscribe(&self) -> Result<(), KafkaError> {
        let c = self.inner.consumer()?;
        c.unsubscribe();
        Ok(())
    }

    fn close(&self) -> Result<(), KafkaError> {
        self.inner.close("close()")
    }
}

/// Forwards librdkafka's log lines to `tracing` (target `librdkafka`).
fn log_to_tracing(level: RDKafkaLogLevel, fac: &str, message: &str) {
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => tracing::error!(target: "librdkafka", "{fac} {message}"),
        RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", "{fac} {message}"),
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
            tracing::info!(target: "librdkafka", "{fac} {message}")
        }
        RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", "{fac} {message}"),
    }
}

/// The context of the configuration check's client: logging only.
pub(crate) struct LogContext;

impl ClientContext for LogContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        log_to_tracing(level, fac, log_message)
    }
    fn error(&self, error: RdError, reason: &str) {
        tracing::debug!(target: "librdkafka", "{error}: {reason}");
    }
}

impl ConsumerContext for LogContext {}

/// The context of a handle's consumer: logging, and the rebalance hook.
struct HandleContext {
    id: HandleId,
    topic: String,
    handle: Weak<Inner>,
    hook: Arc<dyn RebalanceHook<RdKafkaHandle>>,
}

impl HandleContext {
    /// The handle, unless it is closing or gone.
    fn live_handle(&self) -> Option<RdKafkaHandle> {
        let inner = self.handle.upgrade()?;
        if inner.closing.load() {
            return None;
        }
        Some(RdKafkaHandle { inner })
    }

    fn partitions(&self, tpl: &TopicPartitionList) -> Vec<Partition> {
        let mut parts: Vec<Partition> = tpl
            .elements_for_topic(&self.topic)
            .iter()
            .map(|e| e.partition())
            .collect();
        parts.sort_unstable();
        parts
    }
}

impl ClientContext for HandleContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        log_to_tracing(level, fac, log_message)
    }
    fn error(&self, error: RdError, reason: &str) {
        // The same errors reach the application through poll(); log them only for debugging.
        tracing::debug!(target: "librdkafka", handle = %self.id, "{error}: {reason}");
    }
}

impl ConsumerContext for HandleContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &RdRebalance<'_>) {
        match rebalance {
            RdRebalance::Revoke(tpl) => {
                let parts = self.partitions(tpl);
                tracing::info!(handle = %self.id, ?parts, "partitions revoked");
                if let Some(h) = self.live_handle() {
                    self.hook.revoked(&h, &parts);
                }
            }
            RdRebalance::Assign(tpl) => {
                let parts = self.partitions(tpl);
                tracing::info!(handle = %self.id, ?parts, "partitions being assigned");
                if let Some(h) = self.live_handle() {
                    self.hook.before_assign(&h, &parts);
                }
            }
            RdRebalance::Error(e) => {
                // rust-rdkafka unassigns everything after an erroneous rebalance event: report
                // that as a revocation of the current assignment.
                let parts = consumer
                    .assignment()
                    .map(|tpl| self.partitions(&tpl))
                    .unwrap_or_default();
                tracing::warn!(handle = %self.id, ?parts, "rebalance error: {e}; unassigning");
                if let Some(h) = self.live_handle() {
                    if !parts.is_empty() {
                        self.hook.revoked(&h, &parts);
                    }
                }
            }
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &RdRebalance<'_>) {
        if let RdRebalance::Assign(tpl) = rebalance {
            let parts = self.partitions(tpl);
            if let Some(h) = self.live_handle() {
                self.hook.after_assign(&h, &parts);
            }
        }
    }
}

impl RdKafkaHandle {
    /// librdkafka's fatal error on this handle, if one was raised (`rd_kafka_fatal_error`), or
    /// `None` (also when closed).
    pub fn fatal_error(&self) -> Option<(RDKafkaErrorCode, String)> {
        self.inner.consumer().ok()?.client().fatal_error()
    }
}
