//! The event log: every operation on the modeled world and every design event, stamped with
//! virtual time and thread. Every property of the catalogue is judged from it, and a violation's
//! trace is printed from it.

use crate::design::Op;
use pausebeat::kafka::{ErrorCode, HandleId, Offset, Partition};
use pausebeat::probe::{DesignEvent, Probe};
use pausebeat::sync::{Instant, Mutex, Runtime};
use std::fmt;
use std::sync::Arc;

/// One entry of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Position in the log (0, 1, 2, …).
    pub seq: usize,
    /// Virtual time.
    pub at: Instant,
    /// The thread that caused it.
    pub thread: String,
    /// The consumer handle concerned, if any.
    pub handle: Option<HandleId>,
    /// What happened.
    pub kind: EventKind,
}

/// What a poll returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PollOutcome {
    /// A record.
    Record {
        /// Its partition.
        partition: Partition,
        /// Its offset.
        offset: Offset,
    },
    /// Nothing within the timeout.
    Timeout,
    /// An error.
    Error(ErrorCode),
}

/// Why the group removed a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// Not polled for `max.poll.interval`.
    MaxPoll,
    /// No heartbeat reached the coordinator for `session.timeout` (outage, or a closed static
    /// member whose session ran out).
    Session,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A handle was created and subscribed, with this static instance id.
    Created {
        /// Its `group.instance.id`.
        instance_id: Option<String>,
    },
    /// A create that takes the client time began (logged only when it does: a slow create
    /// fault); it ends with the next `Created` or `CreateFailed` of the same thread.
    CreateBegin,
    /// Creating a handle failed.
    CreateFailed {
        /// Why.
        code: ErrorCode,
    },
    /// A poll started.
    PollBegin,
    /// A poll ended.
    PollEnd(PollOutcome),
    /// A pause call: the partitions asked for, and those it applied to (assigned ones).
    Pause {
        /// Asked for.
        asked: Vec<Partition>,
        /// Now paused.
        applied: Vec<Partition>,
    },
    /// A resume call.
    Resume {
        /// The partitions resumed.
        partitions: Vec<Partition>,
    },
    /// A wake-up of the partitions' leaders after a resume (no effect in the model: its
    /// fetches are never idle).
    Wake {
        /// The partitions.
        partitions: Vec<Partition>,
    },
    /// An operation other than poll failed.
    OpFailed {
        /// `pause`, `resume`, `assignment`, `seek`, `commit`, `committed`, `close`.
        op: &'static str,
        /// Why.
        code: ErrorCode,
    },
    /// The member was given partitions (inside a poll), with those of them still paused from
    /// before (librdkafka keeps pause state across rebalances).
    Assigned {
        /// The partitions.
        partitions: Vec<Partition>,
        /// Those among them that are paused.
        paused: Vec<Partition>,
    },
    /// Partitions were taken from the member (inside a poll).
    Revoked(Vec<Partition>),
    /// A seek.
    Seek {
        /// The partition.
        partition: Partition,
        /// The offset.
        offset: Offset,
    },
    /// A commit that takes the client time began (logged only when it does: a slow commit
    /// fault); it ends with the handle's next `Commit` or failed commit.
    CommitBegin,
    /// A successful commit (offset = next record to read).
    Commit {
        /// Per partition.
        offsets: Vec<(Partition, Offset)>,
    },
    /// Another member of the group (a consuming [`OtherMember`](crate::OtherMember)) handled
    /// records of a partition it holds and committed the end of them.
    OtherMemberHandled {
        /// Its name (`m1`, …).
        member: String,
        /// The partition.
        partition: Partition,
        /// The first record it handled.
        from: Offset,
        /// The offset it committed (one past the last record it handled).
        to: Offset,
    },
    /// A close started.
    CloseBegin,
    /// A close ended.
    CloseEnd,
    /// The group removed the member.
    Expired(Expiry),
    /// The handle was fenced (`FENCED_INSTANCE_ID`): a newer handle joined with its static
    /// instance id while it was still open, and took its place in the group (KIP-345).
    Fenced {
        /// The contested id.
        instance_id: String,
        /// The handle that took its place (`None`: not known, e.g. on a real cluster).
        by: Option<HandleId>,
    },
    /// The handle joined with a static instance id a closed member still held, and took that
    /// member's place and assignment (no rebalance when the group is settled).
    TookOver {
        /// The instance id.
        instance_id: String,
        /// The closed handle whose place it took.
        from: HandleId,
    },
    /// The handle left the group (`unsubscribe()`: LeaveGroup, static members too).
    Unsubscribed,
    /// Two threads used the handle at once (`op` started while `other_thread` was in
    /// `other_op`): in librdkafka this corrupts memory or hangs.
    Overlap {
        /// The operation that started.
        op: &'static str,
        /// The thread already inside the handle.
        other_thread: String,
        /// What it was doing.
        other_op: &'static str,
    },
    /// The scenario's handler was given a batch (these records, in order).
    HandlerBegin {
        /// The records of the batch.
        records: Vec<(Partition, Offset)>,
    },
    /// Records handed to the handler that differ from what was produced at their partition and
    /// offset (another key, value, header or timestamp): what the design handed is not the
    /// record the log says it is.
    HandlerAltered {
        /// Their partition and offset.
        records: Vec<(Partition, Offset)>,
    },
    /// The handler finished the batch it began last on this thread: `ok` if it succeeded (only
    /// then may its records be committed).
    HandlerEnd {
        /// Whether it succeeded.
        ok: bool,
    },
    /// An event the design reported.
    Design(DesignEvent),
    /// The harness calls an operation of the design (on the calling thread).
    Call {
        /// The operation.
        op: Op,
    },
    /// That call returned (the latest call of the thread that is still open).
    Return {
        /// The operation.
        op: Op,
        /// `None`: it succeeded; else what it returned.
        error: Option<String>,
    },
    /// A fault of the scenario took effect (broker down, up, …).
    Fault(String),
    /// A workload step of the scenario (run, close, a member joining, …).
    Workload(String),
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventKind::Created { instance_id } => match instance_id {
                Some(id) => write!(f, "create consumer (instance id {id})"),
                None => write!(f, "create consumer"),
            },
            EventKind::CreateBegin => write!(f, "create consumer …"),
            EventKind::CreateFailed { code } => write!(f, "create consumer failed: {code:?}"),
            EventKind::PollBegin => write!(f, "poll …"),
            EventKind::PollEnd(PollOutcome::Record { partition, offset }) => {
                write!(f, "poll -> record p{partition}@{offset}")
            }
            EventKind::PollEnd(PollOutcome::Timeout) => write!(f, "poll -> timeout"),
            EventKind::PollEnd(PollOutcome::Error(c)) => write!(f, "poll -> error {c:?}"),
            EventKind::Pause { asked, applied } => {
                write!(f, "pause {asked:?}")?;
                if asked != applied {
                    write!(f, " (applied to {applied:?} only)")?;
                }
                Ok(())
            }
            EventKind::Resume { partitions } => write!(f, "resume {partitions:?}"),
            EventKind::Wake { partitions } => write!(f, "wake the leaders of {partitions:?}"),
            EventKind::OpFailed { op, code } => write!(f, "{op} failed: {code:?}"),
            EventKind::Assigned { partitions, paused } => {
                write!(f, "rebalance: assigned {partitions:?}")?;
                if !paused.is_empty() {
                    write!(f, " ({paused:?} still paused)")?;
                }
                Ok(())
            }
            EventKind::Revoked(p) => write!(f, "rebalance: revoked {p:?}"),
            EventKind::Seek { partition, offset } => write!(f, "seek p{partition}@{offset}"),
            EventKind::CommitBegin => write!(f, "commit …"),
            EventKind::Commit { offsets } => {
                write!(f, "commit")?;
                for (p, o) in offsets {
                    write!(f, " p{p}@{o}")?;
                }
                Ok(())
            }
            EventKind::OtherMemberHandled {
                member,
                partition,
                from,
                to,
            } => write!(
                f,
                "member {member} handled p{partition}@{from}..p{partition}@{} and committed p{partition}@{to}",
                to - 1
            ),
            EventKind::CloseBegin => write!(f, "close …"),
            EventKind::CloseEnd => write!(f, "close done"),
            EventKind::Expired(e) => write!(f, "group removed the member ({e:?})"),
            EventKind::Fenced {
                instance_id,
                by: Some(by),
            } => write!(
                f,
                "FENCED: {by} joined with instance id {instance_id} while this handle was open"
            ),
            EventKind::Fenced {
                instance_id,
                by: None,
            } => write!(f, "FENCED: instance id {instance_id} taken by another member"),
            EventKind::TookOver { instance_id, from } => write!(
                f,
                "took over static member {instance_id} from closed {from} (no rebalance)"
            ),
            EventKind::Unsubscribed => write!(f, "unsubscribe (LeaveGroup)"),
            EventKind::Overlap {
                op,
                other_thread,
                other_op,
            } => write!(
                f,
                "CONCURRENT USE: {op} while `{other_thread}` is in {other_op}"
            ),
            EventKind::HandlerBegin { records } => {
                write!(f, "handler got {} record(s)", records.len())?;
                if let (Some((p0, o0)), Some((p1, o1))) = (records.first(), records.last()) {
                    write!(f, ": p{p0}@{o0} .. p{p1}@{o1}")?;
                }
                Ok(())
            }
            EventKind::HandlerAltered { records } => {
                write!(f, "ALTERED: the handler got {} record(s) unlike what was produced:", records.len())?;
                for (p, o) in records {
                    write!(f, " p{p}@{o}")?;
                }
                Ok(())
            }
            EventKind::HandlerEnd { ok } => {
                write!(f, "handler {}", if *ok { "succeeded" } else { "FAILED" })
            }
            EventKind::Design(d) => match d {
                DesignEvent::Note(s) => write!(f, "{s}"),
                DesignEvent::Handled { partition, offset } => {
                    write!(f, "handler finished p{partition}@{offset}")
                }
                DesignEvent::Rewound { partition, offset } => {
                    write!(f, "rewound p{partition}@{offset} read while paused")
                }
                DesignEvent::Crash { what } => write!(f, "PANIC (Go process crash): {what}"),
                DesignEvent::ResumeReturned { ok } => {
                    write!(f, "resume() returned{}", if *ok { "" } else { " an ERROR" })
                }
                other => write!(f, "{}", design_name(other)),
            },
            EventKind::Call { op } => write!(f, "{op}() called"),
            EventKind::Return { op, error: None } => write!(f, "{op}() returned"),
            EventKind::Return { op, error: Some(e) } => write!(f, "{op}() returned an ERROR: {e}"),
            EventKind::Fault(s) => write!(f, "fault: {s}"),
            EventKind::Workload(s) => write!(f, "workload: {s}"),
        }
    }
}

fn design_name(d: &DesignEvent) -> &'static str {
    match d {
        DesignEvent::RunStarted => "run started",
        DesignEvent::RunEnded => "run ended",
        DesignEvent::ResumeCalled => "resume() called",
        DesignEvent::PauseCalled => "pause() called",
        DesignEvent::PauseReturned => "pause() returned",
        DesignEvent::SuspendCalled => "suspend() called",
        DesignEvent::SuspendReturned => "suspend() returned",
        DesignEvent::CloseCalled => "close() called",
        DesignEvent::CloseReturned => "close() returned",
        _ => "design event",
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:<12} ", self.at, self.thread)?;
        match self.handle {
            Some(h) => write!(f, "{h:<4} ")?,
            None => write!(f, "     ")?,
        }
        write!(f, "{}", self.kind)
    }
}

/// The shared, append-only log of one execution. Cheap to clone. It is also the [`Probe`]
/// designs report to.
pub struct EventLog<R: Runtime> {
    rt: R,
    events: Arc<Mutex<R, Vec<Event>>>,
}

impl<R: Runtime> Clone for EventLog<R> {
    fn clone(&self) -> Self {
        EventLog {
            rt: self.rt.clone(),
            events: self.events.clone(),
        }
    }
}

impl<R: Runtime> EventLog<R> {
    /// An empty log on `rt`'s clock.
    pub fn new(rt: &R) -> Self {
        EventLog {
            rt: rt.clone(),
            events: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Appends an event caused by the current thread, now.
    pub fn record(&self, handle: Option<HandleId>, kind: EventKind) {
        let at = self.rt.now();
        let thread = self.rt.thread_name();
        self.events.with(|e| {
            let seq = e.len();
            e.push(Event {
                seq,
                at,
                thread,
                handle,
                kind,
            })
        });
    }

    /// How many events the log holds.
    pub fn len(&self) -> usize {
        self.events.with(|e| e.len())
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the log so far.
    pub fn snapshot(&self) -> Vec<Event> {
        self.events.with(|e| e.clone())
    }
}

impl<R: Runtime> Probe for EventLog<R> {
    fn note(&self, event: DesignEvent) {
        self.record(None, EventKind::Design(event));
    }
}
