//! The recording: a [`ConsumerFactory`] / [`ConsumerHandle`] wrapper that writes, for any backend
//! (librdkafka through the rdkafka backend, a user's own), the same [`EventLog`] the modeled
//! world writes of its own calls: creates, polls and what they returned, pauses, resumes,
//! seeks, commits, closes, the rebalance callbacks (revoked / assigned), concurrent use of a
//! handle, the errors that mean the group removed or fenced the member. The properties judge a
//! real run from it exactly as they judge a model run; the conformance suite compares the two.
//!
//! What a backend cannot show is not invented: an expiry is logged only when a poll reports it
//! (`MaxPollExceeded`), a fencing only when a call fails `Fenced` (with the fencer unknown),
//! and a pause's `applied` set is the partitions assigned now or ever (librdkafka keeps a
//! partition object once it knows the topic: the world's rule).
//!
//! ```
//! use pausebeat::kafka::{ConsumerFactory, ConsumerHandle, NoHook};
//! use pausebeat::sync::{Std, Virtual};
//! use pausebeat_world::record::Recorded;
//! use pausebeat_world::{EventKind, EventLog, World, WorldSpec};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! let rt = Virtual::<Std>::new();
//! // Any factory: here a world, whose own log is left aside.
//! let world = World::new(&rt, WorldSpec::default().with_initial_rebalance_delay(Duration::ZERO));
//! let log = EventLog::new(&rt);
//! let recorded = Recorded::new(&rt, world, log.clone());
//! let c = recorded.create(None, Arc::new(NoHook)).unwrap();
//! c.poll(Duration::from_secs(1)).unwrap();
//! c.close().unwrap();
//! let kinds: Vec<_> = log.snapshot().into_iter().map(|e| e.kind).collect();
//! assert!(kinds.contains(&EventKind::CloseEnd));
//! assert!(kinds.iter().any(|k| matches!(k, EventKind::Assigned { .. })));
//! ```

use crate::log::{EventKind, EventLog, Expiry, PollOutcome};
use pausebeat::kafka::{
    ConsumerFactory, ConsumerHandle, ErrorCode, HandleId, KafkaError, Offset, Partition,
    RebalanceHook, Record,
};
use pausebeat::sync::{Mutex, Runtime};
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A factory whose handles record every call in an [`EventLog`].
pub struct Recorded<R: Runtime, F: ConsumerFactory> {
    rt: R,
    inner: F,
    log: EventLog<R>,
}

impl<R: Runtime, F: ConsumerFactory> fmt::Debug for Recorded<R, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorded").finish_non_exhaustive()
    }
}

impl<R: Runtime, F: ConsumerFactory> Recorded<R, F> {
    /// Wraps `inner`; every call is logged to `log` on `rt`'s clock.
    pub fn new(rt: &R, inner: F, log: EventLog<R>) -> Self {
        Recorded {
            rt: rt.clone(),
            inner,
            log,
        }
    }

    /// The log.
    pub fn log(&self) -> EventLog<R> {
        self.log.clone()
    }

    /// The wrapped factory.
    pub fn inner(&self) -> &F {
        &self.inner
    }
}

/// A thread inside `poll` or `close` of a handle.
struct Inside {
    thread: String,
    op: &'static str,
}

/// What the recording keeps of a handle.
#[derive(Default)]
struct Seen {
    inside: Vec<Inside>,
    /// Partitions ever assigned (the client has their partition objects).
    known: BTreeSet<Partition>,
    /// Partitions assigned now.
    assigned: BTreeSet<Partition>,
    /// Partitions whose pause flag is set (as far as the calls tell).
    paused: BTreeSet<Partition>,
}

struct HandleShared<R: Runtime, H> {
    handle: H,
    rt: R,
    log: EventLog<R>,
    id: HandleId,
    instance_id: Option<String>,
    seen: Mutex<R, Seen>,
}

/// A recorded handle. Cheap to clone (clones are the same handle).
pub struct RecordedHandle<R: Runtime, H: ConsumerHandle> {
    shared: Arc<HandleShared<R, H>>,
}

impl<R: Runtime, H: ConsumerHandle> Clone for RecordedHandle<R, H> {
    fn clone(&self) -> Self {
        RecordedHandle {
            shared: self.shared.clone(),
        }
    }
}

impl<R: Runtime, H: ConsumerHandle> fmt::Debug for RecordedHandle<R, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RecordedHandle")
            .field(&self.shared.id)
            .finish()
    }
}

/// The hook handed to the backend: logs the rebalance, then calls the application's hook with
/// the recorded handle.
struct RecordingHook<R: Runtime, H: ConsumerHandle> {
    app: Arc<dyn RebalanceHook<RecordedHandle<R, H>>>,
    /// Set once the handle exists (a backend calls the hook only inside a poll or close).
    me: std::sync::OnceLock<std::sync::Weak<HandleShared<R, H>>>,
}

impl<R: Runtime, H: ConsumerHandle> RecordingHook<R, H> {
    fn me(&self) -> Option<RecordedHandle<R, H>> {
        let shared = self.me.get()?.upgrade()?;
        Some(RecordedHandle { shared })
    }
}

impl<R: Runtime, H: ConsumerHandle> RebalanceHook<H> for RecordingHook<R, H> {
    fn revoked(&self, _handle: &H, partitions: &[Partition]) {
        let Some(me) = self.me() else { return };
        me.record(EventKind::Revoked(partitions.to_vec()));
        self.app.revoked(&me, partitions);
        me.shared.seen.with(|s| s.assigned.clear());
    }

    fn before_assign(&self, _handle: &H, partitions: &[Partition]) {
        let Some(me) = self.me() else { return };
        self.app.before_assign(&me, partitions);
    }

    fn after_assign(&self, _handle: &H, partitions: &[Partition]) {
        let Some(me) = self.me() else { return };
        let sh = &me.shared;
        let paused = sh.seen.with(|s| {
            s.assigned = partitions.iter().copied().collect();
            s.known.extend(partitions.iter().copied());
            partitions
                .iter()
                .copied()
                .filter(|p| s.paused.contains(p))
                .collect()
        });
        me.record(EventKind::Assigned {
            partitions: partitions.to_vec(),
            paused,
        });
        self.app.after_assign(&me, partitions);
    }
}

impl<R: Runtime, F: ConsumerFactory> ConsumerFactory for Recorded<R, F> {
    type Handle = RecordedHandle<R, F::Handle>;

    fn create(
        &self,
        instance_id: Option<&str>,
        hook: Arc<dyn RebalanceHook<Self::Handle>>,
    ) -> Result<Self::Handle, KafkaError> {
        self.log.record(None, EventKind::CreateBegin);
        let recording = Arc::new(RecordingHook {
            app: hook,
            me: std::sync::OnceLock::new(),
        });
        match self.inner.create(instance_id, recording.clone()) {
            Ok(handle) => {
                let shared = Arc::new(HandleShared {
                    id: handle.id(),
                    handle,
                    rt: self.rt.clone(),
                    log: self.log.clone(),
                    instance_id: instance_id.map(str::to_string),
                    seen: Mutex::new(Seen::default()),
                });
                let _ = recording.me.set(Arc::downgrade(&shared));
                self.log.record(
                    Some(shared.id),
                    EventKind::Created {
                        instance_id: instance_id.map(str::to_string),
                    },
                );
                Ok(RecordedHandle { shared })
            }
            Err(e) => {
                self.log
                    .record(None, EventKind::CreateFailed { code: e.code });
                Err(e)
            }
        }
    }
}

impl<R: Runtime, H: ConsumerHandle> RecordedHandle<R, H> {
    /// The wrapped handle.
    pub fn inner(&self) -> &H {
        &self.shared.handle
    }

    fn record(&self, kind: EventKind) {
        self.shared.log.record(Some(self.shared.id), kind);
    }

    /// Enters `op` (poll or close): logs concurrent use by another thread.
    fn enter(&self, op: &'static str) {
        let thread = self.shared.rt.thread_name();
        let other = self.shared.seen.with(|s| {
            let other = s
                .inside
                .iter()
                .find(|i| i.thread != thread)
                .map(|i| (i.thread.clone(), i.op));
            s.inside.push(Inside { thread, op });
            other
        });
        if let Some((other_thread, other_op)) = other {
            self.record(EventKind::Overlap {
                op,
                other_thread,
                other_op,
            });
        }
    }

    fn leave(&self, op: &'static str) {
        let thread = self.shared.rt.thread_name();
        self.shared.seen.with(|s| {
            if let Some(i) = s
                .inside
                .iter()
                .position(|i| i.thread == thread && i.op == op)
            {
                s.inside.swap_remove(i);
            }
        });
    }

    fn failed(&self, op: &'static str, e: &KafkaError) {
        self.record(EventKind::OpFailed { op, code: e.code });
        self.membership_news(e);
    }

    /// Logs what an error says about the membership.
    fn membership_news(&self, e: &KafkaError) {
        match e.code {
            ErrorCode::MaxPollExceeded => self.record(EventKind::Expired(Expiry::MaxPoll)),
            ErrorCode::Fenced => self.record(EventKind::Fenced {
                instance_id: self.shared.instance_id.clone().unwrap_or_default(),
                by: None,
            }),
            _ => {}
        }
    }

    fn polled(&self, r: &Result<Option<Record>, KafkaError>) {
        let outcome = match r {
            Ok(Some(rec)) => PollOutcome::Record {
                partition: rec.partition,
                offset: rec.offset,
            },
            Ok(None) => PollOutcome::Timeout,
            Err(e) => PollOutcome::Error(e.code),
        };
        self.record(EventKind::PollEnd(outcome));
        if let Err(e) = r {
            self.membership_news(e);
        }
    }
}

impl<R: Runtime, H: ConsumerHandle> ConsumerHandle for RecordedHandle<R, H> {
    fn id(&self) -> HandleId {
        self.shared.id
    }

    fn poll(&self, timeout: Duration) -> Result<Option<Record>, KafkaError> {
        self.record(EventKind::PollBegin);
        self.enter("poll");
        let r = self.shared.handle.poll(timeout);
        self.leave("poll");
        self.polled(&r);
        r
    }

    fn poll_at_hand(&self, each: &mut dyn FnMut(Record) -> bool) -> Result<(), KafkaError> {
        self.enter("poll");
        let r = self.shared.handle.poll_at_hand(&mut |rec| {
            self.record(EventKind::PollBegin);
            self.polled(&Ok(Some(rec.clone())));
            each(rec)
        });
        self.leave("poll");
        if let Err(e) = &r {
            self.record(EventKind::PollBegin);
            self.polled(&Err(e.clone()));
        }
        r
    }

    fn pause(&self, partitions: &[Partition]) -> Result<(), KafkaError> {
        match self.shared.handle.pause(partitions) {
            Ok(()) => {
                let applied = self.shared.seen.with(|s| {
                    let applied: Vec<Partition> = partitions
                        .iter()
                        .copied()
                        .filter(|p| s.assigned.contains(p) || s.known.contains(p))
                        .collect();
                    s.paused.extend(applied.iter().copied());
                    applied
                });
                self.record(EventKind::Pause {
                    asked: partitions.to_vec(),
                    applied,
                });
                Ok(())
            }
            Err(e) => {
                self.failed("pause", &e);
                Err(e)
            }
        }
    }

    fn resume(&self, partitions: &[Partition]) -> Result<(), KafkaError> {
        match self.shared.handle.resume(partitions) {
            Ok(()) => {
                self.shared.seen.with(|s| {
                    for p in partitions {
                        s.paused.remove(p);
                    }
                });
                self.record(EventKind::Resume {
                    partitions: partitions.to_vec(),
                });
                Ok(())
            }
            Err(e) => {
                self.failed("resume", &e);
                Err(e)
            }
        }
    }

    fn wake(&self, partitions: &[Partition]) -> Result<(), KafkaError> {
        let r = self.shared.handle.wake(partitions);
        match &r {
            Ok(()) => self.record(EventKind::Wake {
                partitions: partitions.to_vec(),
            }),
            Err(e) => self.failed("wake", e),
        }
        r
    }

    fn assignment(&self) -> Result<Vec<Partition>, KafkaError> {
        let r = self.shared.handle.assignment();
        if let Err(e) = &r {
            self.failed("assignment", e);
        }
        r
    }

    fn seek(&self, partition: Partition, offset: Offset) -> Result<(), KafkaError> {
        let r = self.shared.handle.seek(partition, offset);
        match &r {
            Ok(()) => self.record(EventKind::Seek { partition, offset }),
            Err(e) => self.failed("seek", e),
        }
        r
    }

    fn commit(&self, offsets: &[(Partition, Offset)]) -> Result<(), KafkaError> {
        self.record(EventKind::CommitBegin);
        let r = self.shared.handle.commit(offsets);
        match &r {
            Ok(()) => self.record(EventKind::Commit {
                offsets: offsets.to_vec(),
            }),
            Err(e) => self.failed("commit", e),
        }
        r
    }

    fn committed(
        &self,
        partitions: &[Partition],
    ) -> Result<Vec<(Partition, Option<Offset>)>, KafkaError> {
        let r = self.shared.handle.committed(partitions);
        if let Err(e) = &r {
            self.failed("committed", e);
        }
        r
    }

    fn high_watermark(&self, partition: Partition) -> Result<Option<Offset>, KafkaError> {
        let r = self.shared.handle.high_watermark(partition);
        if let Err(e) = &r {
            self.failed("high_watermark", e);
        }
        r
    }

    fn unsubscribe(&self) -> Result<(), KafkaError> {
        let r = self.shared.handle.unsubscribe();
        match &r {
            Ok(()) => self.record(EventKind::Unsubscribed),
            Err(e) => self.failed("unsubscribe", e),
        }
        r
    }

    fn close(&self) -> Result<(), KafkaError> {
        self.record(EventKind::CloseBegin);
        self.enter("close");
        let r = self.shared.handle.close();
        self.leave("close");
        match &r {
            Ok(()) => self.record(EventKind::CloseEnd),
            Err(e) => {
                self.record(EventKind::OpFailed {
                    op: "close",
                    code: e.code,
                });
                // A close that failed (timed out: the handle leaked) ended all the same.
                if e.code != ErrorCode::Closed {
                    self.record(EventKind::CloseEnd);
                }
            }
        }
        r
    }
}
