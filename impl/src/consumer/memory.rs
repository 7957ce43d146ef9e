//! An in-memory topic behind the consumer seam, for examples, tests and benchmarks: no broker,
//! no network, on any [`Runtime`] (so on virtual time too). It is not a Kafka model. The
//! modeled Kafka world of `pausebeat-world` is the one the properties are judged against.
//!
//! * One consumer group with a single active member: the oldest open handle is assigned every
//!   partition at its first poll. Rebalance hooks run inside that poll, without the lock held.
//! * A partition's fetch position starts at its committed offset (0 if none).
//! * Pause flags survive reassignment, as in librdkafka.
//! * Errors can be injected into the next polls and creates.
//! * Concurrent use of a handle (two threads inside it at once) is counted in
//!   [`MemoryTopic::overlaps`].
//!
//! ```
//! use pausebeat::consumer::memory::MemoryTopic;
//! use pausebeat::kafka::{ConsumerFactory, ConsumerHandle, NoHook};
//! use pausebeat::sync::{Std, Virtual};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! let rt = Virtual::<Std>::new();
//! let topic = MemoryTopic::new(&rt, 1);
//! topic.produce(0, b"hello".to_vec());
//! let c = topic.create(None, Arc::new(NoHook)).unwrap();
//! assert_eq!(c.poll(Duration::from_secs(1)).unwrap(), None); // the assignment
//! let r = c.poll(Duration::from_secs(1)).unwrap().unwrap();
//! assert_eq!((r.partition, r.offset, r.payload_bytes()), (0, 0, &b"hello"[..]));
//! c.commit(&[(0, 1)]).unwrap();
//! c.close().unwrap();
//! assert_eq!(topic.committed(0), Some(1));
//! ```

use crate::kafka::{
    ConsumerFactory, ConsumerHandle, ErrorClass, ErrorCode, HandleId, KafkaError, Offset,
    Partition, RebalanceHook, Record,
};
use crate::sync::{Condvar, Mutex, Runtime};
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

struct HandleState {
    id: HandleId,
    instance_id: Option<String>,
    closed: bool,
    assigned: Vec<Partition>,
    position: Vec<Offset>,
    paused: Vec<bool>,
    /// Threads inside a call of this handle.
    inside: u32,
}

struct State {
    records: Vec<Vec<Vec<u8>>>,
    committed: Vec<Option<Offset>>,
    handles: Vec<HandleState>,
    poll_errors: VecDeque<KafkaError>,
    create_errors: VecDeque<KafkaError>,
    early_empties: usize,
    overlaps: u64,
}

impl State {
    /// The oldest open handle: the one the group assigns every partition to.
    fn leader(&self) -> Option<usize> {
        self.handles.iter().position(|h| !h.closed)
    }

    fn next_record(&mut self, k: usize) -> Option<Record> {
        let h = &mut self.handles[k];
        for &p in &h.assigned {
            let pi = p as usize;
            if !h.paused[pi] {
                if let Some(payload) = self.records[pi].get(h.position[pi] as usize) {
                    let offset = h.position[pi];
                    h.position[pi] += 1;
                    return Some(Record::new("memory", p, offset).with_payload(payload.clone()));
                }
            }
        }
        None
    }
}

struct Inner<R: Runtime> {
    rt: R,
    partitions: usize,
    state: Mutex<R, State>,
    changed: Condvar<R>,
}

/// An in-memory topic and its consumer group; also the [`ConsumerFactory`] of its handles.
/// Cheap to clone.
pub struct MemoryTopic<R: Runtime> {
    inner: Arc<Inner<R>>,
}

impl<R: Runtime> Clone for MemoryTopic<R> {
    fn clone(&self) -> Self {
        MemoryTopic {
            inner: self.inner.clone(),
        }
    }
}

impl<R: Runtime> fmt::Debug for MemoryTopic<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryTopic")
            .field("partitions", &self.inner.partitions)
            .finish_non_exhaustive()
    }
}

fn closed() -> KafkaError {
    KafkaError::new(
        ErrorClass::NonRetriable,
        ErrorCode::Closed,
        "the consumer is closed",
    )
}

impl<R: Runtime> MemoryTopic<R> {
    /// A topic with `partitions` partitions (at least 1).
    pub fn new(rt: &R, partitions: i32) -> Self {
        let n = partitions.max(1) as usize;
        MemoryTopic {
            inner: Arc::new(Inner {
                rt: rt.clone(),
                partitions: n,
                state: Mutex::new(State {
                    records: vec![Vec::new(); n],
                    committed: vec![None; n],
                    handles: Vec::new(),
                    poll_errors: VecDeque::new(),
                    create_errors: VecDeque::new(),
                    early_empties: 0,
                    overlaps: 0,
                }),
                changed: Condvar::new(rt),
            }),
        }
    }

    /// Appends a record to `partition` (taken modulo the partition count); returns its offset.
    pub fn produce(&self, partition: Partition, payload: Vec<u8>) -> Offset {
        let p = partition.rem_euclid(self.inner.partitions as i32) as usize;
        let offset = self.inner.state.with(|s| {
            s.records[p].push(payload);
            s.records[p].len() as Offset - 1
        });
        self.inner.changed.notify_all();
        offset
    }

    /// The committed offset of `partition` (the next record to read).
    pub fn committed(&self, partition: Partition) -> Option<Offset> {
        self.inner
            .state
            .with(|s| s.committed.get(partition as usize).copied().flatten())
    }

    /// The next `n` polls (of any handle) fail with `error`.
    pub fn fail_polls(&self, n: usize, error: KafkaError) {
        self.inner
            .state
            .with(|s| (0..n).for_each(|_| s.poll_errors.push_back(error.clone())));
        self.inner.changed.notify_all();
    }

    /// The next `n` polls (of any handle, once it is assigned) return nothing at once, before
    /// their timeout, as rust-rdkafka's `BaseConsumer::poll` does after serving an event.
    pub fn return_early(&self, n: usize) {
        self.inner.state.with(|s| s.early_empties += n);
    }

    /// The next `n` creates fail with `error`.
    pub fn fail_creates(&self, n: usize, error: KafkaError) {
        self.inner
            .state
            .with(|s| (0..n).for_each(|_| s.create_errors.push_back(error.clone())));
    }

    /// Handles created and not closed.
    pub fn open_handles(&self) -> usize {
        self.inner
            .state
            .with(|s| s.handles.iter().filter(|h| !h.closed).count())
    }

    /// Handles created so far, with their static instance ids, in creation order.
    pub fn created(&self) -> Vec<(HandleId, Option<String>)> {
        self.inner.state.with(|s| {
            s.handles
                .iter()
                .map(|h| (h.id, h.instance_id.clone()))
                .collect()
        })
    }

    /// How many times a thread entered a handle while another thread was inside it.
    pub fn overlaps(&self) -> u64 {
        self.inner.state.with(|s| s.overlaps)
    }

    /// The partitions of handle `id` whose pause flag is set.
    pub fn paused(&self, id: HandleId) -> Vec<Partition> {
        self.inner.state.with(|s| {
            s.handles
                .iter()
                .find(|h| h.id == id)
                .map(|h| {
                    (0..h.paused.len())
                        .filter(|&p| h.paused[p])
                        .map(|p| p as Partition)
                        .collect()
                })
                .unwrap_or_default()
        })
    }
}

impl<R: Runtime> ConsumerFactory for MemoryTopic<R> {
    type Handle = MemoryHandle<R>;

    fn create(
        &self,
        instance_id: Option<&str>,
        hook: Arc<dyn RebalanceHook<MemoryHandle<R>>>,
    ) -> Result<MemoryHandle<R>, KafkaError> {
        let n = self.inner.partitions;
        let k = self.inner.state.with(|s| {
            if let Some(e) = s.create_errors.pop_front() {
                return Err(e);
            }
            let k = s.handles.len();
            s.handles.push(HandleState {
                id: HandleId(k as u64 + 1),
                instance_id: instance_id.map(str::to_string),
                closed: false,
                assigned: Vec::new(),
                position: vec![0; n],
                paused: vec![false; n],
                inside: 0,
            });
            Ok(k)
        })?;
        Ok(MemoryHandle {
            inner: self.inner.clone(),
            k,
            id: HandleId(k as u64 + 1),
            hook,
        })
    }
}

/// A handle of a [`MemoryTopic`].
pub struct MemoryHandle<R: Runtime> {
    inner: Arc<Inner<R>>,
    k: usize,
    id: HandleId,
    hook: Arc<dyn RebalanceHook<MemoryHandle<R>>>,
}

impl<R: Runtime> fmt::Debug for MemoryHandle<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MemoryHandle").field(&self.id).finish()
    }
}

/// Marks a thread inside a handle call for as long as it lives.
struct Inside<'a, R: Runtime> {
    inner: &'a Inner<R>,
    k: usize,
}

impl<R: Runtime> Drop for Inside<'_, R> {
    fn drop(&mut self) {
        self.inner.state.with(|s| s.handles[self.k].inside -= 1);
    }
}

impl<R: Runtime> MemoryHandle<R> {
    fn enter(&self) -> Inside<'_, R> {
        self.inner.state.with(|s| {
            if s.handles[self.k].inside > 0 {
                s.overlaps += 1;
            }
            s.handles[self.k].inside += 1;
        });
        Inside {
            inner: &self.inner,
            k: self.k,
        }
    }

    fn local<T>(&self, f: impl FnOnce(&mut State, usize) -> T) -> Result<T, KafkaError> {
        self.inner.state.with(|s| {
            if s.handles[self.k].closed {
                Err(closed())
            } else {
                Ok(f(s, self.k))
            }
        })
    }
}

impl<R: Runtime> ConsumerHandle for MemoryHandle<R> {
    fn id(&self) -> HandleId {
        self.id
    }

    fn poll(&self, timeout: Duration) -> Result<Option<Record>, KafkaError> {
        let _inside = self.enter();
        let k = self.k;
        // Serve the assignment first (hooks run without the lock).
        let assign = self.local(|s, k| {
            if let Some(e) = s.poll_errors.pop_front() {
                return Err(e);
            }
            let leader = s.leader() == Some(k);
            let h = &mut s.handles[k];
            if leader && h.assigned.is_empty() {
                let parts: Vec<Partition> = (0..h.position.len() as Partition).collect();
                for &p in &parts {
                    h.position[p as usize] = s.committed[p as usize].unwrap_or(0);
                }
                Ok(Some(parts))
            } else {
                Ok(None)
            }
        })??;
        if let Some(parts) = assign {
            self.hook.before_assign(self, &parts);
            self.local(|s, k| s.handles[k].assigned.clone_from(&parts))?;
            self.hook.after_assign(self, &parts);
            return Ok(None);
        }
        let early = self.local(|s, _| {
            let early = s.early_empties > 0;
            s.early_empties = s.early_empties.saturating_sub(1);
            early
        })?;
        if early {
            return Ok(None);
        }
        let deadline = self.inner.rt.now() + timeout;
        let mut got = None;
        self.inner
            .changed
            .wait_while(&self.inner.state, Some(deadline), "memory poll", |s| {
                if s.handles[k].closed || !s.poll_errors.is_empty() {
                    return false;
                }
                got = s.next_record(k);
                got.is_none()
            });
        self.local(|_, _| got)
    }

    fn pause(&self, partitions: &[Partition]) -> Result<(), KafkaError> {
        self.local(|s, k| {
            let h = &mut s.handles[k];
            for &p in partitions {
                if h.assigned.contains(&p) {
                    h.paused[p as usize] = true;
                }
            }
        })
    }

    fn resume(&self, partitions: &[Partition]) -> Result<(), KafkaError> {
        self.local(|s, k| {
            let h = &mut s.handles[k];
            for &p in partitions {
                if let Some(f) = h.paused.get_mut(p as usize) {
                    *f = false;
                }
            }
        })?;
        self.inner.changed.notify_all();
        Ok(())
    }

    fn assignment(&self) -> Result<Vec<Partition>, KafkaError> {
        self.local(|s, k| s.handles[k].assigned.clone())
    }

    fn seek(&self, partition: Partition, offset: Offset) -> Result<(), KafkaError> {
        self.local(|s, k| {
            let h = &mut s.handles[k];
            if h.assigned.contains(&partition) {
                h.position[partition as usize] = offset.max(0);
                Ok(())
            } else {
                Err(KafkaError::new(
                    ErrorClass::NonRetriable,
                    ErrorCode::Other,
                    "seek: partition not assigned",
                ))
            }
        })?
    }

    fn commit(&self, offsets: &[(Partition, Offset)]) -> Result<(), KafkaError> {
        self.local(|s, k| {
            for &(p, o) in offsets {
                if !s.handles[k].assigned.contains(&p) {
                    return Err(KafkaError::new(
                        ErrorClass::NonRetriable,
                        ErrorCode::NoOffset,
                        "commit: partition not assigned",
                    ));
                }
                s.committed[p as usize] = Some(o);
            }
            Ok(())
        })?
    }

    fn committed(
        &self,
        partitions: &[Partition],
    ) -> Result<Vec<(Partition, Option<Offset>)>, KafkaError> {
        self.local(|s, _| {
            partitions
                .iter()
                .map(|&p| (p, s.committed.get(p as usize).copied().flatten()))
                .collect()
        })
    }

    fn high_watermark(&self, partition: Partition) -> Result<Option<Offset>, KafkaError> {
        self.local(|s, _| s.records.get(partition as usize).map(|r| r.len() as Offset))
    }

    fn close(&self) -> Result<(), KafkaError> {
        let _inside = self.enter();
        self.local(|s, k| {
            let h = &mut s.handles[k];
            h.closed = true;
            h.assigned.clear();
        })?;
        self.inner.changed.notify_all();
        Ok(())
    }
}
