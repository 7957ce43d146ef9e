//! [`MockKafka`]: librdkafka's in-process mock cluster with a topic and a producer. **A test and
//! demo utility**, not for production: used by `pausebeat demo`, by the integration tests and by
//! the benchmarks.
//!
//! The cluster speaks the real Kafka protocol over loopback TCP (Produce, Fetch, ListOffsets,
//! OffsetFetch/Commit, Metadata, FindCoordinator, Join/Sync/Leave/Heartbeat; no CreateTopics,
//! DescribeGroups or ListGroups). It is owned by a producer client configured with
//! `test.mock.num.brokers`, which gives access to the raw cluster handle, and through it to
//! `rd_kafka_mock_group_initial_rebalance_delay_ms`: the first join of a group otherwise waits
//! 3 s (`group.initial.rebalance.delay`), with 0 it takes ≈ 0.15 s.
//!
//! How the mock differs from a real broker (librdkafka 2.12.1, measured by the integration tests):
//!
//! * a partition keeps ≈ 5 MiB, past which consumers hit out-of-range resets;
//! * any rebalance of a group that is not empty (a second member joins, a member leaves or times
//!   out, a rejoin after an outage) waits session.timeout − 1 s for members to (re)join;
//! * no static membership semantics: a member re-created with the same `group.instance.id` does
//!   not replace the old one, which stays until its session times out (≈ 11 s until the new one
//!   is assigned, with a 6 s session), and nobody is ever fenced (inject `FENCED_INSTANCE_ID`
//!   with [`MockKafka::push_request_errors`] instead);
//! * the isolation level of a Fetch is ignored (last stable offset = high watermark);
//! * an empty Fetch is answered after exactly its `fetch.wait.max.ms`, even if records arrive
//!   meanwhile.
//!
//! ```no_run
//! use pausebeat::rdkafka::mock::{Broker, MockKafka, MockOptions};
//!
//! let kafka = MockKafka::start(MockOptions { partitions: 4, ..MockOptions::default() })?;
//! let offsets = kafka.produce(0, 100)?; // returns once all 100 are delivered
//! assert_eq!(offsets, 0..100);
//! let config = kafka.consumer_config("my-group"); // a KafkaConfig for RdKafkaFactory
//! kafka.broker_down(Broker::All)?;
//! kafka.broker_up(Broker::All)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::ffi::CStr;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use ::rdkafka::bindings as rdsys;
use ::rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use ::rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use ::rdkafka::message::{DeliveryResult, Header as RdHeader, Message, OwnedHeaders};
use ::rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use ::rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use ::rdkafka::ClientContext;

use super::bounded::run_bounded;
use super::config::KafkaConfig;
use crate::kafka::{Offset, Partition, Record};
use crate::sync::{AtomicU64, Mutex, Runtime, StdRuntime};

/// How to start a [`MockKafka`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MockOptions {
    /// Mock brokers (ids `1..=brokers`); default 3.
    pub brokers: i32,
    /// The topic created; default `pausebeat`.
    pub topic: String,
    /// Its partitions; default 4.
    pub partitions: i32,
    /// The mock's `group.initial.rebalance.delay`; default 0 (librdkafka's mock: 3 s).
    pub initial_rebalance_delay: Duration,
    /// How long `produce` waits for delivery reports; default 30 s.
    pub produce_timeout: Duration,
}

impl Default for MockOptions {
    fn default() -> Self {
        MockOptions {
            brokers: 3,
            topic: "pausebeat".to_string(),
            partitions: 4,
            initial_rebalance_delay: Duration::ZERO,
            produce_timeout: Duration::from_secs(30),
        }
    }
}

/// Which mock broker(s) an operation targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Broker {
    /// Every broker.
    All,
    /// One broker, by id (`1..=brokers`).
    Id(i32),
}

impl Broker {
    fn raw(self) -> i32 {
        match self {
            Broker::All => -1,
            Broker::Id(id) => id,
        }
    }
}

/// A request the mock cluster received (see [`MockKafka::start_request_tracking`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MockRequest {
    /// The broker it was sent to.
    pub broker: i32,
    /// Its Kafka API key (1 = Fetch, 8 = OffsetCommit, 12 = Heartbeat, …).
    pub api_key: i16,
    /// When the mock received it: librdkafka's monotonic clock, in µs (compare only with other
    /// requests' timestamps).
    pub timestamp_us: i64,
}

/// What went wrong with the mock cluster.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MockError {
    /// The cluster, its producer or its topic could not be created.
    #[error("starting the mock cluster failed: {0}")]
    Start(String),
    /// A mock control operation failed.
    #[error("mock operation `{op}` failed: {message}")]
    Op {
        /// The operation.
        op: &'static str,
        /// librdkafka's error.
        message: String,
    },
    /// The partition does not exist.
    #[error("partition {partition} does not exist (the topic has {partitions})")]
    NoSuchPartition {
        /// The partition asked for.
        partition: Partition,
        /// How many there are.
        partitions: i32,
    },
    /// A record was not delivered.
    #[error("producing to partition {partition} failed: {message}")]
    Produce {
        /// The partition.
        partition: Partition,
        /// librdkafka's error.
        message: String,
    },
    /// Not every record was delivered in time (the rest may still be delivered later).
    #[error("{delivered} of {expected} records delivered within {timeout:?}")]
    Timeout {
        /// Delivered so far.
        delivered: u64,
        /// Produced.
        expected: u64,
        /// The bound.
        timeout: Duration,
    },
}

/// Delivery bookkeeping of one `produce` call.
struct Batch {
    delivered: AtomicU64<StdRuntime>,
    failed: AtomicU64<StdRuntime>,
    /// The smallest offset delivered, plus one (0: none yet).
    min_plus_one: Mutex<StdRuntime, u64>,
    max: AtomicU64<StdRuntime>,
    first_error: Mutex<StdRuntime, Option<String>>,
}

impl Batch {
    fn new() -> Self {
        Batch {
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            min_plus_one: Mutex::new(0),
            max: AtomicU64::new(0),
            first_error: Mutex::new(None),
        }
    }
}

/// The producer's context: delivery reports into the batch, logs into `tracing`.
struct MockContext;

impl ClientContext for MockContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        match level {
            RDKafkaLogLevel::Debug => {
                tracing::debug!(target: "librdkafka::mock", "{fac} {log_message}")
            }
            RDKafkaLogLevel::Info | RDKafkaLogLevel::Notice => {
                tracing::debug!(target: "librdkafka::mock", "{fac} {log_message}")
            }
            _ => tracing::warn!(target: "librdkafka::mock", "{fac} {log_message}"),
        }
    }
    fn error(&self, error: RdError, reason: &str) {
        tracing::debug!(target: "librdkafka::mock", "{error}: {reason}");
    }
}

impl ProducerContext for MockContext {
    type DeliveryOpaque = Arc<Batch>;

    fn delivery(&self, result: &DeliveryResult<'_>, batch: Arc<Batch>) {
        match result {
            Ok(m) => {
                let o = m.offset().max(0) as u64;
                batch.min_plus_one.with(|min| {
                    if *min == 0 || o + 1 < *min {
                        *min = o + 1;
                    }
                });
                batch.max.fetch_max(o);
                batch.delivered.fetch_add(1);
            }
            Err((e, _)) => {
                batch.first_error.with(|first| {
                    if first.is_none() {
                        *first = Some(e.to_string());
                    }
                });
                batch.failed.fetch_add(1);
            }
        }
    }
}

/// The raw cluster handle. Valid as long as the producer that owns the cluster lives.
struct Cluster(*mut rdsys::rd_kafka_mock_cluster_t);

// SAFETY: every rd_kafka_mock_* control function locks the cluster or hands an op to the mock
// cluster's own thread; librdkafka documents the mock API as callable from any thread. The pointer
// is only dereferenced by librdkafka while the owning producer (kept in the same `MockKafka`) is
// alive.
unsafe impl Send for Cluster {}
// SAFETY: see `Send`.
unsafe impl Sync for Cluster {}

/// librdkafka's mock Kafka cluster with one topic, and a producer for it. A test and demo utility.
///
/// Dropping it destroys the cluster (consumers still connected see transport errors); the
/// teardown runs on a detached thread and is waited for at most 10 s.
pub struct MockKafka {
    cluster: Cluster,
    producer: Option<BaseProducer<MockContext>>,
    bootstrap: String,
    topic: String,
    partitions: i32,
    brokers: i32,
    produce_timeout: Duration,
    rt: StdRuntime,
    seq: AtomicU64<StdRuntime>,
}

impl fmt::Debug for MockKafka {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockKafka")
            .field("bootstrap", &self.bootstrap)
            .field("topic", &self.topic)
            .field("partitions", &self.partitions)
            .field("brokers", &self.brokers)
            .finish()
    }
}

fn op_result(op: &'static str, err: RDKafkaRespErr) -> Result<(), MockError> {
    if err == RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
        Ok(())
    } else {
        Err(MockError::Op {
            op,
            message: RDKafkaErrorCode::from(err).to_string(),
        })
    }
}

impl MockKafka {
    /// Starts a cluster, sets its initial rebalance delay, and creates the topic.
    pub fn start(options: MockOptions) -> Result<MockKafka, MockError> {
        if options.brokers < 1 || options.partitions < 1 {
            return Err(MockError::Start(format!(
                "need at least one broker and one partition, got {} and {}",
                options.brokers, options.partitions
            )));
        }
        let producer: BaseProducer<MockContext> = ClientConfig::new()
            .set("test.mock.num.brokers", options.brokers.to_string())
            .set("client.id", "pausebeat-mock-producer")
            .set("linger.ms", "5")
            // Reconnect quickly after an injected outage (librdkafka's default backs off to 10 s).
            .set("reconnect.backoff.max.ms", "1000")
            .create_with_context(MockContext)
            .map_err(|e| MockError::Start(e.to_string()))?;
        // SAFETY: the producer is a live client; the returned pointer is owned by it.
        let raw = unsafe { rdsys::rd_kafka_handle_mock_cluster(producer.client().native_ptr()) };
        if raw.is_null() {
            return Err(MockError::Start(
                "the producer has no mock cluster".to_string(),
            ));
        }
        let cluster = Cluster(raw);
        // SAFETY: the cluster is alive; the string is owned by it and copied at once.
        let bootstrap = unsafe { CStr::from_ptr(rdsys::rd_kafka_mock_cluster_bootstraps(raw)) }
            .to_string_lossy()
            .into_owned();
        let kafka = MockKafka {
            cluster,
            producer: Some(producer),
            bootstrap,
            topic: options.topic.clone(),
            partitions: options.partitions,
            brokers: options.brokers,
            produce_timeout: options.produce_timeout,
            rt: StdRuntime::new(),
            seq: AtomicU64::new(0),
        };
        kafka.set_initial_rebalance_delay(options.initial_rebalance_delay);
        let topic = std::ffi::CString::new(options.topic.as_str())
            .map_err(|e| MockError::Start(e.to_string()))?;
        // SAFETY: valid cluster and C string.
        let err = unsafe {
            rdsys::rd_kafka_mock_topic_create(
                kafka.cluster.0,
                topic.as_ptr(),
                options.partitions,
                1.min(options.brokers),
            )
        };
        op_result("topic_create", err).map_err(|e| MockError::Start(e.to_string()))?;
        tracing::info!(
            bootstrap = %kafka.bootstrap,
            topic = %kafka.topic,
            partitions = kafka.partitions,
            "mock Kafka cluster started"
        );
        Ok(kafka)
    }

    /// `bootstrap.servers` of the cluster.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Its partition count.
    pub fn partitions(&self) -> i32 {
        self.partitions
    }

    /// The number of brokers (ids `1..=brokers()`).
    pub fn brokers(&self) -> i32 {
        self.brokers
    }

    /// A [`KafkaConfig`] for this cluster's topic and the given group, with librdkafka's default
    /// timeouts (set them for quick tests).
    pub fn consumer_config(&self, group_id: &str) -> KafkaConfig {
        KafkaConfig::new(self.bootstrap.clone(), group_id, self.topic.clone())
    }

    fn producer(&self) -> &BaseProducer<MockContext> {
        // Only `drop` takes the producer.
        self.producer
            .as_ref()
            .expect("the producer lives as long as the MockKafka")
    }

    /// Produces `count` records to `partition` (payload `"<topic>/<partition>/<seq>"`) and returns
    /// once all are delivered, with the offsets they got.
    pub fn produce(&self, partition: Partition, count: u64) -> Result<Range<Offset>, MockError> {
        let payloads = (0..count).map(|_| {
            let seq = self.seq.fetch_add(1);
            format!("{}/{partition}/{seq}", self.topic).into_bytes()
        });
        self.produce_payloads(partition, payloads)
    }

    /// Produces these payloads to `partition`, in order, and returns once all are delivered, with
    /// the offsets they got (an empty range at 0 if there were none).
    pub fn produce_payloads<I>(
        &self,
        partition: Partition,
        payloads: I,
    ) -> Result<Range<Offset>, MockError>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        self.produce_records(
            partition,
            payloads
                .into_iter()
                .map(|p| Record::new("", partition, 0).with_payload(p.as_ref().to_vec())),
        )
    }

    /// Produces whole records to `partition`, in order — each one's key, value, headers (in
    /// order, duplicate names and null values kept) and create timestamp (if it has one; the
    /// topic, partition and offset of each are ignored) — and returns once all are delivered,
    /// with the offsets they got.
    ///
    /// ```no_run
    /// use pausebeat::kafka::{Record, Timestamp};
    /// use pausebeat::rdkafka::mock::{MockKafka, MockOptions};
    ///
    /// let kafka = MockKafka::start(MockOptions::default())?;
    /// let r = Record::new("", 0, 0)
    ///     .with_key(b"user-7".to_vec())
    ///     .with_payload(b"hello".to_vec())
    ///     .with_header("retries", Some(b"1".to_vec()))
    ///     .with_timestamp(Timestamp::CreateTime(1_700_000_000_000));
    /// assert_eq!(kafka.produce_records(0, [r])?, 0..1);
    /// # Ok::<(), pausebeat::rdkafka::mock::MockError>(())
    /// ```
    pub fn produce_records<I>(
        &self,
        partition: Partition,
        records: I,
    ) -> Result<Range<Offset>, MockError>
    where
        I: IntoIterator<Item = Record>,
    {
        if partition < 0 || partition >= self.partitions {
            return Err(MockError::NoSuchPartition {
                partition,
                partitions: self.partitions,
            });
        }
        let producer = self.producer();
        let batch = Arc::new(Batch::new());
        let deadline = self.rt.now() + self.produce_timeout;
        let mut expected = 0u64;
        for r in records {
            loop {
                let mut record = BaseRecord::<[u8], [u8], Arc<Batch>>::with_opaque_to(
                    &self.topic,
                    batch.clone(),
                )
                .partition(partition);
                if let Some(k) = &r.key {
                    record = record.key(k.as_slice());
                }
                if let Some(v) = &r.payload {
                    record = record.payload(v.as_slice());
                }
                if !r.headers.is_empty() {
                    let mut hs = OwnedHeaders::new_with_capacity(r.headers.len());
                    for h in &r.headers {
                        hs = hs.insert(RdHeader {
                            key: &h.key,
                            value: h.value.as_deref(),
                        });
                    }
                    record = record.headers(hs);
                }
                if let Some(t) = r.timestamp.millis() {
                    record = record.timestamp(t);
                }
                match producer.send(record) {
                    Ok(()) => break,
                    Err((RdError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        if self.rt.now() >= deadline {
                            return Err(MockError::Timeout {
                                delivered: batch.delivered.load(),
                                expected: expected + 1,
                                timeout: self.produce_timeout,
                            });
                        }
                        producer.poll(Duration::from_millis(10));
                    }
                    Err((e, _)) => {
                        return Err(MockError::Produce {
                            partition,
                            message: e.to_string(),
                        })
                    }
                }
            }
            expected += 1;
        }
        // A zero-timeout flush only tells librdkafka to send now instead of lingering; its
        // "not everything is delivered yet" result is expected and waited for below.
        let _ = producer.flush(Duration::ZERO);
        loop {
            let done = batch.delivered.load() + batch.failed.load();
            if done >= expected {
                break;
            }
            if self.rt.now() >= deadline {
                return Err(MockError::Timeout {
                    delivered: batch.delivered.load(),
                    expected,
                    timeout: self.produce_timeout,
                });
            }
            // Serves delivery reports; returns early when one arrives.
            producer.poll(Duration::from_millis(5));
        }
        if batch.failed.load() > 0 {
            return Err(MockError::Produce {
                partition,
                message: batch
                    .first_error
                    .with(|e| e.clone())
                    .unwrap_or_else(|| "unknown delivery failure".to_string()),
            });
        }
        if expected == 0 {
            return Ok(0..0);
        }
        let min = batch.min_plus_one.with(|m| *m) as i64 - 1;
        let max = batch.max.load() as i64;
        Ok(min..max + 1)
    }

    /// Disconnects the broker(s) and refuses new connections (no leader change).
    pub fn broker_down(&self, broker: Broker) -> Result<(), MockError> {
        tracing::info!(?broker, "mock broker down");
        // SAFETY: valid cluster.
        op_result("broker_down", unsafe {
            rdsys::rd_kafka_mock_broker_set_down(self.cluster.0, broker.raw())
        })
    }

    /// Accepts connections again.
    pub fn broker_up(&self, broker: Broker) -> Result<(), MockError> {
        tracing::info!(?broker, "mock broker up");
        // SAFETY: valid cluster.
        op_result("broker_up", unsafe {
            rdsys::rd_kafka_mock_broker_set_up(self.cluster.0, broker.raw())
        })
    }

    /// Delays every response of the broker(s) by `rtt`.
    pub fn set_round_trip_time(&self, broker: Broker, rtt: Duration) -> Result<(), MockError> {
        let ms = i32::try_from(rtt.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: valid cluster.
        op_result("broker_set_rtt", unsafe {
            rdsys::rd_kafka_mock_broker_set_rtt(self.cluster.0, broker.raw(), ms)
        })
    }

    /// Makes the next requests of this API (on any broker) fail with these errors, one per
    /// request, in order. `RD_KAFKA_RESP_ERR__TRANSPORT` makes the broker drop the connection.
    ///
    /// ```no_run
    /// # let kafka = pausebeat::rdkafka::mock::MockKafka::start(Default::default())?;
    /// use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
    /// kafka.push_request_errors(
    ///     RDKafkaApiKey::OffsetCommit,
    ///     &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID],
    /// );
    /// # Ok::<(), pausebeat::rdkafka::mock::MockError>(())
    /// ```
    pub fn push_request_errors(&self, api: RDKafkaApiKey, errors: &[RDKafkaRespErr]) {
        tracing::info!(?api, ?errors, "mock request errors pushed");
        // SAFETY: valid cluster; the array is read during the call.
        unsafe {
            rdsys::rd_kafka_mock_push_request_errors_array(
                self.cluster.0,
                api.into(),
                errors.len(),
                errors.as_ptr(),
            )
        }
    }

    /// Forgets the errors pushed for this API that have not fired yet.
    pub fn clear_request_errors(&self, api: RDKafkaApiKey) {
        // SAFETY: valid cluster.
        unsafe { rdsys::rd_kafka_mock_clear_request_errors(self.cluster.0, api.into()) }
    }

    /// Sets the mock's `group.initial.rebalance.delay` for groups created from now on.
    pub fn set_initial_rebalance_delay(&self, delay: Duration) {
        let ms = i32::try_from(delay.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: valid cluster.
        unsafe { rdsys::rd_kafka_mock_group_initial_rebalance_delay_ms(self.cluster.0, ms) }
    }

    /// Makes `broker` the leader of `partition` of the topic.
    pub fn set_partition_leader(&self, partition: Partition, broker: i32) -> Result<(), MockError> {
        let topic = std::ffi::CString::new(self.topic.as_str()).map_err(|e| MockError::Op {
            op: "partition_set_leader",
            message: e.to_string(),
        })?;
        // SAFETY: valid cluster and C string.
        op_result("partition_set_leader", unsafe {
            rdsys::rd_kafka_mock_partition_set_leader(
                self.cluster.0,
                topic.as_ptr(),
                partition,
                broker,
            )
        })
    }

    /// Makes `broker` the coordinator of `group`.
    pub fn set_group_coordinator(&self, group: &str, broker: i32) -> Result<(), MockError> {
        let c = |e: std::ffi::NulError| MockError::Op {
            op: "coordinator_set",
            message: e.to_string(),
        };
        let kind = std::ffi::CString::new("group").map_err(c)?;
        let key = std::ffi::CString::new(group).map_err(c)?;
        // SAFETY: valid cluster and C strings.
        op_result("coordinator_set", unsafe {
            rdsys::rd_kafka_mock_coordinator_set(
                self.cluster.0,
                kind.as_ptr(),
                key.as_ptr(),
                broker,
            )
        })
    }

    /// Starts recording the requests the cluster receives (clearing earlier ones).
    pub fn start_request_tracking(&self) {
        // SAFETY: valid cluster.
        unsafe { rdsys::rd_kafka_mock_start_request_tracking(self.cluster.0) }
    }

    /// Stops recording requests (and clears them).
    pub fn stop_request_tracking(&self) {
        // SAFETY: valid cluster.
        unsafe { rdsys::rd_kafka_mock_stop_request_tracking(self.cluster.0) }
    }

    /// Clears the recorded requests.
    pub fn clear_requests(&self) {
        // SAFETY: valid cluster.
        unsafe { rdsys::rd_kafka_mock_clear_requests(self.cluster.0) }
    }

    /// The requests recorded since tracking started, in arrival order.
    pub fn requests(&self) -> Vec<MockRequest> {
        let mut n = 0usize;
        // SAFETY: valid cluster; the array and its elements are copies owned by us, freed below.
        unsafe {
            let arr = rdsys::rd_kafka_mock_get_requests(self.cluster.0, &mut n);
            if arr.is_null() {
                return Vec::new();
            }
            let out = (0..n)
                .map(|i| {
                    let r = *arr.add(i);
                    MockRequest {
                        broker: rdsys::rd_kafka_mock_request_id(r),
                        api_key: rdsys::rd_kafka_mock_request_api_key(r),
                        timestamp_us: rdsys::rd_kafka_mock_request_timestamp(r),
                    }
                })
                .collect();
            rdsys::rd_kafka_mock_request_destroy_array(arr, n);
            out
        }
    }
}

impl Drop for MockKafka {
    fn drop(&mut self) {
        if let Some(producer) = self.producer.take() {
            if !run_bounded(
                &self.rt,
                "pausebeat-mock-teardown",
                Duration::from_secs(10),
                move || drop(producer),
            ) {
                tracing::error!("the mock cluster did not shut down within 10 s; leaked");
            }
        }
    }
}
