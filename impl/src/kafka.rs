//! The consumer seam: what coordination code needs from Kafka, shaped after rust-rdkafka's
//! `BaseConsumer` so that the production adapter stays thin.
//!
//! Two implementations exist: the modeled Kafka world of `pausebeat-models` (deterministic, on
//! virtual time, with injected faults) and the rdkafka backend (feature `rdkafka`).
//!
//! A consumer handle reads one topic. Rebalance callbacks run *inside* [`ConsumerHandle::poll`],
//! on the polling thread, as in librdkafka.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A partition number of the consumer's topic.
pub type Partition = i32;
/// An offset in a partition.
pub type Offset = i64;

/// A record handed out by [`ConsumerHandle::poll`]: everything Kafka keeps of it.
///
/// ```
/// use pausebeat::kafka::{Header, Record, Timestamp};
///
/// let r = Record::new("events", 0, 41)
///     .with_key(b"user-7".to_vec())
///     .with_payload(b"{\"n\":1}".to_vec())
///     .with_header("retries", Some(b"2".to_vec()))
///     .with_header("retries", Some(b"3".to_vec())) // names may repeat; order is kept
///     .with_timestamp(Timestamp::CreateTime(1_700_000_000_000));
/// assert_eq!(&*r.topic, "events");
/// assert_eq!(r.header("retries"), Some(&b"2"[..]));
/// assert_eq!(r.headers.len(), 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Its topic (shared by every record a handle reads: cloning is a reference count).
    pub topic: Arc<str>,
    /// Its partition.
    pub partition: Partition,
    /// Its offset.
    pub offset: Offset,
    /// Its key (`None`: no key).
    pub key: Option<Vec<u8>>,
    /// Its value (`None`: a null value, a tombstone).
    pub payload: Option<Vec<u8>>,
    /// Its headers, in order; Kafka allows a name more than once and null values.
    pub headers: Vec<Header>,
    /// Its timestamp.
    pub timestamp: Timestamp,
}

/// A record header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Its name (shared: a backend hands the same few names out again and again without
    /// copying them).
    pub key: Arc<str>,
    /// Its value (`None`: null).
    pub value: Option<Vec<u8>>,
}

/// A record's timestamp, in milliseconds since the Unix epoch, with its kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Timestamp {
    /// The broker reported none.
    #[default]
    NotAvailable,
    /// Set by the producer (`message.timestamp.type=CreateTime`).
    CreateTime(i64),
    /// Set by the broker when it appended the record (`LogAppendTime`).
    LogAppendTime(i64),
}

impl Timestamp {
    /// The milliseconds, whatever the kind (`None`: not available).
    pub fn millis(self) -> Option<i64> {
        match self {
            Timestamp::NotAvailable => None,
            Timestamp::CreateTime(t) | Timestamp::LogAppendTime(t) => Some(t),
        }
    }
}

impl Record {
    /// A record of `topic` at `partition` / `offset` with no key, a null value, no headers and
    /// no timestamp.
    pub fn new(topic: impl Into<Arc<str>>, partition: Partition, offset: Offset) -> Self {
        Record {
            topic: topic.into(),
            partition,
            offset,
            key: None,
            payload: None,
            headers: Vec::new(),
            timestamp: Timestamp::NotAvailable,
        }
    }
    /// With this key.
    pub fn with_key(mut self, key: Vec<u8>) -> Self {
        self.key = Some(key);
        self
    }
    /// With this value.
    pub fn with_payload(mut self, payload: Vec<u8>) -> Self {
        self.payload = Some(payload);
        self
    }
    /// With one more header.
    pub fn with_header(mut self, key: impl Into<Arc<str>>, value: Option<Vec<u8>>) -> Self {
        self.headers.push(Header {
            key: key.into(),
            value,
        });
        self
    }
    /// With this timestamp.
    pub fn with_timestamp(mut self, timestamp: Timestamp) -> Self {
        self.timestamp = timestamp;
        self
    }
    /// The value of the first header named `key` (`None`: no such header, or a null value).
    pub fn header(&self, key: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|h| &*h.key == key)
            .and_then(|h| h.value.as_deref())
    }
    /// The value as bytes (empty for a null value).
    pub fn payload_bytes(&self) -> &[u8] {
        self.payload.as_deref().unwrap_or_default()
    }
}

/// How an error is to be treated, following librdkafka's `IsRetriable()` / fatal flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Transient; retry the same operation later (Go: `err.IsRetriable()`).
    Retriable,
    /// The handle is unusable as it is (the Go consumer restarts on these).
    NonRetriable,
    /// librdkafka's fatal errors (fencing): the handle can never be used again.
    Fatal,
}

/// What went wrong, as far as coordination cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The broker connection failed (librdkafka `-195`).
    BrokerTransport,
    /// Every broker is down (`-187`).
    AllBrokersDown,
    /// The member was not polled for `max.poll.interval.ms` and left the group (`-147`).
    MaxPollExceeded,
    /// Another member holds this static `group.instance.id` (`FENCED_INSTANCE_ID`).
    Fenced,
    /// The group forgot this member (`UNKNOWN_MEMBER_ID`).
    UnknownMember,
    /// The handle was closed (librdkafka `_STATE` / confluent-kafka-go "consumer closed").
    Closed,
    /// Creating the consumer failed.
    CreateFailed,
    /// A commit found no assignment for the partition (`-168`).
    NoOffset,
    /// The operation timed out inside the client (a commit that waited `session.timeout.ms`
    /// for a coordinator, a query past its timeout).
    TimedOut,
    /// The commit carried a generation the group has left behind (`ILLEGAL_GENERATION`).
    IllegalGeneration,
    /// The group is between generations: the member has the new one but not its assignment yet
    /// (`REBALANCE_IN_PROGRESS`).
    RebalanceInProgress,
    /// Anything else.
    Other,
}

/// An error from a consumer operation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code:?} ({class:?}): {message}")]
pub struct KafkaError {
    /// How to treat it.
    pub class: ErrorClass,
    /// What it was.
    pub code: ErrorCode,
    /// Details for logs.
    pub message: String,
}

impl KafkaError {
    /// An error of the given class and code.
    pub fn new(class: ErrorClass, code: ErrorCode, message: impl Into<String>) -> Self {
        KafkaError {
            class,
            code,
            message: message.into(),
        }
    }
    /// True for [`ErrorClass::Retriable`].
    pub fn is_retriable(&self) -> bool {
        self.class == ErrorClass::Retriable
    }
    /// True for [`ErrorClass::Fatal`].
    pub fn is_fatal(&self) -> bool {
        self.class == ErrorClass::Fatal
    }
    /// True if the handle has lost its group membership or cannot be used any more: the cases
    /// in which a consumer must be replaced (max.poll exceeded, fenced, unknown member, closed,
    /// fatal).
    pub fn membership_lost(&self) -> bool {
        self.is_fatal()
            || matches!(
                self.code,
                ErrorCode::MaxPollExceeded
                    | ErrorCode::Fenced
                    | ErrorCode::UnknownMember
                    | ErrorCode::Closed
            )
    }
}

/// Identifies a consumer handle in logs and traces (unique per factory).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HandleId(pub u64);

impl fmt::Display for HandleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// A consumer handle (one librdkafka consumer instance, one group member).
///
/// Every method may be called from any thread, but a handle must never be polled by two threads
/// at once, nor closed while another thread polls it: librdkafka corrupts memory or hangs then.
/// The modeled world records both as violations of `handle-exclusive`.
pub trait ConsumerHandle: Send + Sync + 'static {
    /// Its identity.
    fn id(&self) -> HandleId;
    /// Polls for one record for at most `timeout`. `Ok(None)`: nothing arrived; this can happen
    /// before the timeout, e.g. right after a rebalance was served. Rebalance callbacks run in
    /// here.
    fn poll(&self, timeout: Duration) -> Result<Option<Record>, KafkaError>;
    /// Pauses fetching from these partitions (kept across rebalances, as librdkafka 2.12 does).
    fn pause(&self, partitions: &[Partition]) -> Result<(), KafkaError>;
    /// Resumes fetching from these partitions.
    fn resume(&self, partitions: &[Partition]) -> Result<(), KafkaError>;
    /// The partitions assigned now.
    fn assignment(&self) -> Result<Vec<Partition>, KafkaError>;
    /// Makes the next poll of `partition` start at `offset`.
    fn seek(&self, partition: Partition, offset: Offset) -> Result<(), KafkaError>;
    /// Commits, for each partition, the offset of the next record to read (synchronously).
    fn commit(&self, offsets: &[(Partition, Offset)]) -> Result<(), KafkaError>;
    /// The committed offsets of these partitions (`None`: nothing committed yet).
    fn committed(
        &self,
        partitions: &[Partition],
    ) -> Result<Vec<(Partition, Option<Offset>)>, KafkaError>;
    /// The high watermark of `partition`: the offset the next record produced to it will get
    /// (librdkafka's `query_watermark_offsets`, a broker round trip; the Go consumer asks it at
    /// the start of every run and skips the run, without resuming, when nothing is new).
    /// `Ok(None)`: this backend cannot tell (the default).
    fn high_watermark(&self, _partition: Partition) -> Result<Option<Offset>, KafkaError> {
        Ok(None)
    }
    /// Reads what is at hand without waiting: hands every record a zero-timeout poll returns to
    /// `each`, until `each` returns false (no more wanted) or nothing more is at hand. The
    /// default polls one record at a time; a backend may hold its client once for the lot.
    fn poll_at_hand(&self, each: &mut dyn FnMut(Record) -> bool) -> Result<(), KafkaError> {
        while let Some(r) = self.poll(Duration::ZERO)? {
            if !each(r) {
                break;
            }
        }
        Ok(())
    }
    /// Asks the leaders of these (just resumed) partitions to fetch now, without waiting for
    /// anything. librdkafka's `resume()` only clears a flag: the broker thread that leads a
    /// partition fetches it again at its next wake-up, up to a second later; a request queued to
    /// it wakes it at once. Default: nothing (a backend whose resume takes effect by itself).
    fn wake(&self, _partitions: &[Partition]) -> Result<(), KafkaError> {
        Ok(())
    }
    /// Sends LeaveGroup now (librdkafka's `unsubscribe()`): the group rebalances at once, a
    /// static member included, and the handle's assignment is revoked. Close it afterwards.
    /// Default: nothing (a backend without group membership).
    fn unsubscribe(&self) -> Result<(), KafkaError> {
        Ok(())
    }
    /// Releases the handle (librdkafka's consumer close). A dynamic member leaves the group; a
    /// static one (`group.instance.id`) does not (KIP-345): it stays a member, holding its
    /// partitions, until its session runs out or a new handle with its instance id takes its
    /// place. Every later call fails with [`ErrorCode::Closed`].
    fn close(&self) -> Result<(), KafkaError>;
}

/// What a rebalance did, as seen by the member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rebalance {
    /// These partitions were taken away.
    Revoked(Vec<Partition>),
    /// These partitions were given.
    Assigned(Vec<Partition>),
}

/// Rebalance callbacks; they run inside [`ConsumerHandle::poll`] on the polling thread.
///
/// `before_assign` runs before the new partitions are assigned (confluent-kafka-go's callback: a
/// pause issued here may not stick, librdkafka #1849); `after_assign` runs after (rust-rdkafka's
/// `post_rebalance`: a pause issued here sticks).
pub trait RebalanceHook<H: ?Sized>: Send + Sync + 'static {
    /// Partitions were revoked.
    fn revoked(&self, _handle: &H, _partitions: &[Partition]) {}
    /// Partitions are about to be assigned.
    fn before_assign(&self, _handle: &H, _partitions: &[Partition]) {}
    /// Partitions were assigned.
    fn after_assign(&self, _handle: &H, _partitions: &[Partition]) {}
}

/// A hook that does nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHook;

impl<H: ?Sized> RebalanceHook<H> for NoHook {}

/// Creates consumer handles, subscribed to the topic.
pub trait ConsumerFactory: Send + Sync + 'static {
    /// The handles it creates.
    type Handle: ConsumerHandle;
    /// Creates a handle and subscribes it. `instance_id` is the static `group.instance.id`
    /// (`None`: dynamic membership).
    fn create(
        &self,
        instance_id: Option<&str>,
        hook: Arc<dyn RebalanceHook<Self::Handle>>,
    ) -> Result<Self::Handle, KafkaError>;
}

/// A shared factory is a factory (a recording around one, say, while others use it too).
impl<F: ConsumerFactory> ConsumerFactory for Arc<F> {
    type Handle = F::Handle;
    fn create(
        &self,
        instance_id: Option<&str>,
        hook: Arc<dyn RebalanceHook<Self::Handle>>,
    ) -> Result<Self::Handle, KafkaError> {
        (**self).create(instance_id, hook)
    }
}
