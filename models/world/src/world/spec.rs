//! What a modeled world is made of: its topic, the records produced into it and when, the group's
//! timeouts, the faults placed in virtual time and the other members of the group.

use pausebeat::kafka::{ErrorClass, ErrorCode, Partition};
use std::time::Duration;

/// A fault of the scenario, placed in virtual time (every `from..until` is half-open, measured
/// from the runtime's origin).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Every broker is down: polls fail with [`ErrorCode::BrokerTransport`], commits fail, and
    /// the coordinator sees no heartbeats (an outage longer than `session_timeout` removes the
    /// members at `from + session_timeout`; they rejoin at their first poll after `until`).
    BrokerDown {
        /// Start.
        from: Duration,
        /// End (excluded).
        until: Duration,
    },
    /// Creating a consumer fails ([`ErrorCode::CreateFailed`], non-retriable).
    CreateFails {
        /// Start.
        from: Duration,
        /// End (excluded).
        until: Duration,
    },
    /// Every poll in the window returns this error.
    PollErrors {
        /// Start.
        from: Duration,
        /// End (excluded).
        until: Duration,
        /// Its class.
        class: ErrorClass,
        /// Its code.
        code: ErrorCode,
    },
    /// Every commit in the window fails with this code (class: [`default_class`]).
    CommitFails {
        /// Start.
        from: Duration,
        /// End (excluded).
        until: Duration,
        /// Its code.
        code: ErrorCode,
    },
    /// A pause in the window does not stop a record already fetched: the next poll still
    /// returns the next record of each partition the pause stopped (librdkafka and other
    /// clients deliver what is already in the client's queue; the design must put it back).
    SlipAfterPause {
        /// Start.
        from: Duration,
        /// End (excluded).
        until: Duration,
    },
    /// `close()` takes this long (virtual time).
    SlowClose(Duration),
    /// Creating a consumer takes this long.
    SlowCreate(Duration),
    /// A commit takes this long.
    SlowCommit(Duration),
    /// Each `close()` of a handle takes one of these (chosen by the checkers per call, part of
    /// the replayable schedule), on top of any `SlowClose`.
    CloseTakesOneOf(Vec<Duration>),
    /// Each creation of a consumer takes one of these (chosen per call), on top of any
    /// `SlowCreate`.
    CreateTakesOneOf(Vec<Duration>),
    /// Each rebalance's join phase takes one of these longer than its barrier (every member
    /// rejoined): the time other members of a real group take to rejoin, their metadata round
    /// trips, a coordinator under load. Chosen per rebalance by the checkers; the window in
    /// which the design's consumer has no assignment and its polls return nothing.
    RebalanceTakesOneOf(Vec<Duration>),
}

impl Fault {
    /// The window the fault covers, for the windowed kinds.
    pub fn window(&self) -> Option<(Duration, Duration)> {
        match *self {
            Fault::BrokerDown { from, until }
            | Fault::CreateFails { from, until }
            | Fault::PollErrors { from, until, .. }
            | Fault::CommitFails { from, until, .. }
            | Fault::SlipAfterPause { from, until } => Some((from, until)),
            Fault::SlowClose(_)
            | Fault::SlowCreate(_)
            | Fault::SlowCommit(_)
            | Fault::CloseTakesOneOf(_)
            | Fault::CreateTakesOneOf(_)
            | Fault::RebalanceTakesOneOf(_) => None,
        }
    }
}

/// The class the rdkafka backend gives an error code (`pausebeat::rdkafka::classify_code`, the
/// seam's classification of librdkafka's codes): fencing is fatal; a timeout, a broken
/// connection, all brokers down and a rebalance in progress are retriable; the rest is not.
/// (confluent-kafka-go's `IsRetriable()` is false for every error event a poll returns: the Go
/// ports apply that themselves.)
pub fn default_class(code: ErrorCode) -> ErrorClass {
    match code {
        ErrorCode::Fenced => ErrorClass::Fatal,
        ErrorCode::TimedOut
        | ErrorCode::BrokerTransport
        | ErrorCode::AllBrokersDown
        | ErrorCode::RebalanceInProgress => ErrorClass::Retriable,
        _ => ErrorClass::NonRetriable,
    }
}

/// A virtual member of the consumer group (another process, not a thread): while present it
/// takes its round-robin share of the partitions.
///
/// A *consuming* member handles the records of the partitions it holds and commits them, as
/// another instance of the service would: once no member handle of the design still holds such
/// a partition (the rebalance's barrier: the old owner served the revocation or left the
/// group), it handles everything from the committed offset to the end and commits the end, each
/// time the world moves on (logged as [`EventKind::OtherMemberHandled`]). A member that does
/// not consume takes its share and fetches nothing (a process that joined but is stuck).
///
/// [`EventKind::OtherMemberHandled`]: crate::EventKind::OtherMemberHandled
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtherMember {
    /// When it joins the group.
    pub joins_at: Duration,
    /// When it leaves (`None`: it stays).
    pub leaves_at: Option<Duration>,
    /// It handles and commits the records of the partitions it holds.
    pub consumes: bool,
}

/// Everything a [`World`](super::World) is created from.
///
/// ```
/// use pausebeat_world::{Fault, WorldSpec};
/// use std::time::Duration;
///
/// let s = Duration::from_secs;
/// let spec = WorldSpec::default()
///     .with_partitions(1)
///     .produce(s(0), 0, 10)
///     .fault(Fault::BrokerDown { from: s(100), until: s(400) });
/// assert!(spec.validate().is_ok());
/// assert_eq!(spec.total_records(), 10);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorldSpec {
    /// Partitions of the topic (≥ 1).
    pub partitions: i32,
    /// Records produced: at this time, into this partition, this many.
    pub records: Vec<(Duration, Partition, u32)>,
    /// `session.timeout.ms`.
    pub session_timeout: Duration,
    /// `max.poll.interval.ms` (librdkafka also sends it as the member's rebalance timeout).
    pub max_poll_interval: Duration,
    /// The broker's `group.initial.rebalance.delay.ms`: the first rebalance of an empty group
    /// waits this long for more members (Kafka's default 3 s).
    pub initial_rebalance_delay: Duration,
    /// Faults.
    pub faults: Vec<Fault>,
    /// Other members of the group.
    pub members: Vec<OtherMember>,
}

impl Default for WorldSpec {
    /// Two partitions, no records, no faults, no other members, session timeout 45 s,
    /// max.poll.interval 300 s (the Go consumer's defaults), an initial rebalance delay of 3 s
    /// (Kafka's default).
    fn default() -> Self {
        WorldSpec {
            partitions: 2,
            records: Vec::new(),
            session_timeout: Duration::from_secs(45),
            max_poll_interval: Duration::from_secs(300),
            initial_rebalance_delay: Duration::from_secs(3),
            faults: Vec::new(),
            members: Vec::new(),
        }
    }
}

/// Why a [`WorldSpec`] is not valid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// A topic has at least one partition.
    #[error("a topic needs at least one partition, got {0}")]
    NoPartitions(i32),
    /// A record batch names a partition the topic does not have.
    #[error("records produced into partition {partition}, but the topic has {partitions}")]
    NoSuchPartition {
        /// The partition named.
        partition: Partition,
        /// The topic's partitions.
        partitions: i32,
    },
    /// A fault window ends before it starts.
    #[error("fault {0} ends before it starts")]
    EmptyWindow(usize),
    /// A member leaves before it joins.
    #[error("other member m{0} leaves before it joins")]
    LeavesBeforeJoining(usize),
}

impl WorldSpec {
    /// Sets the number of partitions.
    pub fn with_partitions(mut self, n: i32) -> Self {
        self.partitions = n;
        self
    }
    /// Produces `count` records into `partition` at `at`.
    pub fn produce(mut self, at: Duration, partition: Partition, count: u32) -> Self {
        self.records.push((at, partition, count));
        self
    }
    /// Sets `session.timeout`.
    pub fn with_session_timeout(mut self, d: Duration) -> Self {
        self.session_timeout = d;
        self
    }
    /// Sets `max.poll.interval`.
    pub fn with_max_poll_interval(mut self, d: Duration) -> Self {
        self.max_poll_interval = d;
        self
    }
    /// Sets the broker's `group.initial.rebalance.delay`.
    pub fn with_initial_rebalance_delay(mut self, d: Duration) -> Self {
        self.initial_rebalance_delay = d;
        self
    }
    /// Adds a fault.
    pub fn fault(mut self, f: Fault) -> Self {
        self.faults.push(f);
        self
    }
    /// Adds another group member that fetches nothing.
    pub fn member(self, joins_at: Duration, leaves_at: Option<Duration>) -> Self {
        self.other_member(joins_at, leaves_at, false)
    }
    /// Adds another group member that handles and commits the records of the partitions it
    /// holds (see [`OtherMember`]).
    pub fn consuming_member(self, joins_at: Duration, leaves_at: Option<Duration>) -> Self {
        self.other_member(joins_at, leaves_at, true)
    }
    fn other_member(
        mut self,
        joins_at: Duration,
        leaves_at: Option<Duration>,
        consumes: bool,
    ) -> Self {
        self.members.push(OtherMember {
            joins_at,
            leaves_at,
            consumes,
        });
        self
    }
    /// How many records the spec produces in all.
    pub fn total_records(&self) -> u64 {
        self.records.iter().map(|r| u64::from(r.2)).sum()
    }
    /// Checks the spec. [`World::new`](super::World::new) accepts invalid specs too (it ignores
    /// what makes no sense and says so in the log); [`World::try_new`](super::World::try_new)
    /// refuses them.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.partitions < 1 {
            return Err(SpecError::NoPartitions(self.partitions));
        }
        for &(_, partition, _) in &self.records {
            if partition < 0 || partition >= self.partitions {
                return Err(SpecError::NoSuchPartition {
                    partition,
                    partitions: self.partitions,
                });
            }
        }
        for (i, f) in self.faults.iter().enumerate() {
            if let Some((from, until)) = f.window() {
                if until < from {
                    return Err(SpecError::EmptyWindow(i));
                }
            }
        }
        for (i, m) in self.members.iter().enumerate() {
            if m.leaves_at.is_some_and(|l| l < m.joins_at) {
                return Err(SpecError::LeavesBeforeJoining(i + 1));
            }
        }
        Ok(())
    }
}
