//! [`ScriptedTopic`]: a scripted [`ConsumerFactory`] on the std runtime (real time), for the
//! `resume_call` benchmarks.
//!
//! One topic, one consumer group with one member. Records exist once the bench
//! [`produce`](ScriptedTopic::produce)s them; a handle is assigned every partition at its first
//! poll (its rebalance hook runs inside that poll, as in librdkafka). The bench can take the
//! group coordinator down (**an outage**), for a given real time or until it brings it back:
//!
//! | while down | what happens |
//! |---|---|
//! | `poll` | fails at once: `BrokerTransport` (non-retriable, as confluent-kafka-go's `IsRetriable()` says of local transport errors) for the first [`expel_after`](ScriptOptions::expel_after) of the outage, `UnknownMember` after that (the coordinator expired the member) |
//! | `create` | fails: `CreateFailed` |
//! | `commit`, `committed` | fail: `BrokerTransport` (they go to the coordinator) |
//! | `close` | revokes the assignment, then blocks until the coordinator is back, at most [`close_stall`](ScriptOptions::close_stall) (librdkafka's consumer close waits for its LeaveGroup and final commit) |
//! | `high_watermark`, `assignment`, `pause`, `resume`, `seek` | work (local, or answered by the partition leader, which is up) |
//!
//! Every wait goes through the sync abstraction (a [`Condvar`] on [`StdRuntime`]).
//!
//! ```
//! use pausebeat::kafka::{ConsumerFactory, ConsumerHandle, NoHook};
//! use pausebeat::sync::StdRuntime;
//! use pausebeat_benches::scripted::{ScriptOptions, ScriptedTopic};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! let topic = ScriptedTopic::new(StdRuntime::new(), ScriptOptions::default());
//! topic.produce(0, 2);
//! let h = topic.create(Some("app-0"), Arc::new(NoHook)).unwrap();
//! assert_eq!(h.poll(Duration::ZERO).unwrap(), None); // the first poll joins: assigned
//! assert_eq!(h.poll(Duration::ZERO).unwrap().map(|r| r.offset), Some(0));
//! topic.outage_for(Duration::from_millis(20));
//! assert!(h.poll(Duration::ZERO).is_err());
//! assert!(topic.create(None, Arc::new(NoHook)).is_err());
//! assert!(topic.wait_until(Duration::from_secs(1), |_| true));
//! h.close().unwrap(); // stalls until the outage ends (20 ms)
//! assert_eq!(topic.stats().closed, 1);
//! ```

use pausebeat::kafka::{
    ConsumerFactory, ConsumerHandle, ErrorClass, ErrorCode, HandleId, KafkaError, Offset,
    Partition, RebalanceHook, Record,
};
use pausebeat::sync::{Condvar, Instant, Mutex, Runtime, StdRuntime};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// How a [`ScriptedTopic`] behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptOptions {
    /// Partitions of the topic (the Go consumer reads partition 0 only; its topics have one).
    pub partitions: Partition,
    /// Bytes per record payload.
    pub payload_len: usize,
    /// How long into an outage polls still say `BrokerTransport`; after that they say
    /// `UnknownMember` (the coordinator expired the member: its session timed out).
    pub expel_after: Duration,
    /// The longest a `close` blocks while the coordinator is down.
    pub close_stall: Duration,
}

impl Default for ScriptOptions {
    fn default() -> Self {
        ScriptOptions {
            partitions: 1,
            payload_len: 100,
            expel_after: Duration::from_millis(45),
            close_stall: Duration::from_secs(60),
        }
    }
}

/// Counters of what the consumers did to the topic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ScriptStats {
    /// Handles created.
    pub created: u64,
    /// `create` calls refused (outage).
    pub create_failures: u64,
    /// Handles whose `close` returned.
    pub closed: u64,
    /// Handles inside a `close` right now (stalled by an outage).
    pub closing: u64,
    /// Polls that failed because of an outage.
    pub failed_polls: u64,
    /// Records handed out by polls.
    pub records_read: u64,
    /// `resume` calls on handles (with at least one partition).
    pub resumes: u64,
    /// `pause` calls on handles (with at least one partition).
    pub pauses: u64,
    /// Successful commits.
    pub commits: u64,
    /// Whether the coordinator is down now.
    pub down: bool,
}

#[derive(Debug, Default)]
struct HandleState {
    assigned: Vec<Partition>,
    joined: bool,
    positions: BTreeMap<Partition, Offset>,
    paused: BTreeSet<Partition>,
    closed: bool,
    /// Next partition to look at first (round robin between partitions with records).
    cursor: usize,
}

#[derive(Debug)]
struct State {
    /// Log end offset per partition.
    logs: Vec<Offset>,
    committed: BTreeMap<Partition, Offset>,
    /// The outage: since when, until when (`None`: until `end_outage`).
    outage: Option<(Instant, Option<Instant>)>,
    handles: BTreeMap<u64, HandleState>,
    next_id: u64,
    stats: ScriptStats,
}

impl State {
    fn down(&self, now: Instant) -> Option<Instant> {
        match self.outage {
            Some((since, until)) if until.is_none_or(|u| now < u) => Some(since),
            _ => None,
        }
    }
}

struct Inner {
    rt: StdRuntime,
    opts: ScriptOptions,
    state: Mutex<StdRuntime, State>,
    changed: Condvar<StdRuntime>,
}

impl Inner {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let r = self.state.with(f);
        self.changed.notify_all();
        r
    }

    /// The next time an outage with an end changes something (its end), if any.
    fn outage_end(&self) -> Option<Instant> {
        self.state.with(|s| s.outage.and_then(|(_, until)| until))
    }
}

/// A scripted topic and consumer factory; see the [module documentation](self). Cheap to clone.
#[derive(Clone)]
pub struct ScriptedTopic {
    inner: Arc<Inner>,
}

impl ScriptedTopic {
    /// A topic with no records.
    pub fn new(rt: StdRuntime, opts: ScriptOptions) -> Self {
        let partitions = usize::try_from(opts.partitions.max(1)).unwrap_or(1);
        ScriptedTopic {
            inner: Arc::new(Inner {
                changed: Condvar::new(&rt),
                rt,
                opts,
                state: Mutex::new(State {
                    logs: vec![0; partitions],
                    committed: BTreeMap::new(),
                    outage: None,
                    handles: BTreeMap::new(),
                    next_id: 0,
                    stats: ScriptStats::default(),
                }),
            }),
        }
    }

    /// Appends `count` records to `partition` (ignored if there is no such partition). Returns
    /// the new log end offset.
    pub fn produce(&self, partition: Partition, count: u64) -> Offset {
        let count = Offset::try_from(count).unwrap_or(Offset::MAX);
        self.inner.with(|s| {
            match usize::try_from(partition)
                .ok()
                .and_then(|p| s.logs.get_mut(p))
            {
                Some(end) => {
                    *end = end.saturating_add(count);
                    *end
                }
                None => 0,
            }
        })
    }

    /// Takes the coordinator down until [`end_outage`](Self::end_outage).
    pub fn start_outage(&self) {
        let now = self.inner.rt.now();
        tracing::debug!("scripted outage starts");
        self.inner.with(|s| s.outage = Some((now, None)));
    }

    /// Takes the coordinator down for `d` of real time.
    pub fn outage_for(&self, d: Duration) {
        let now = self.inner.rt.now();
        tracing::debug!(?d, "scripted outage starts");
        self.inner.with(|s| s.outage = Some((now, Some(now + d))));
    }

    /// Brings the coordinator back.
    pub fn end_outage(&self) {
        tracing::debug!("scripted outage ends");
        self.inner.with(|s| s.outage = None);
    }

    /// The counters.
    pub fn stats(&self) -> ScriptStats {
        let now = self.inner.rt.now();
        self.inner.state.with(|s| ScriptStats {
            down: s.down(now).is_some(),
            ..s.stats
        })
    }

    /// The committed offset of `partition`, if any.
    pub fn committed(&self, partition: Partition) -> Option<Offset> {
        self.inner
            .state
            .with(|s| s.committed.get(&partition).copied())
    }

    /// Waits at most `timeout` for `pred` to hold on the counters; true if it did.
    pub fn wait_until(&self, timeout: Duration, pred: impl Fn(&ScriptStats) -> bool) -> bool {
        let rt = self.inner.rt;
        let deadline = rt.now() + timeout;
        loop {
            // Wake at the outage's end too, since `down` changes then without a notify.
            let step = self
                .inner
                .outage_end()
                .filter(|e| *e > rt.now())
                .map_or(deadline, |e| e.min(deadline));
            let met = self.inner.changed.wait_while(
                &self.inner.state,
                Some(step),
                "scripted: condition",
                |s| {
                    let now = rt.now();
                    !pred(&ScriptStats {
                        down: s.down(now).is_some(),
                        ..s.stats
                    })
                },
            );
            if met {
                return true;
            }
            if rt.now() >= deadline {
                return false;
            }
        }
    }

    fn payload(&self, partition: Partition, offset: Offset) -> Vec<u8> {
        let mut p = format!("{partition}/{offset}/").into_bytes();
        p.resize(self.inner.opts.payload_len.max(p.len()), b'x');
        p
    }
}

impl ConsumerFactory for ScriptedTopic {
    type Handle = ScriptedHandle;

    fn create(
        &self,
        instance_id: Option<&str>,
        hook: Arc<dyn RebalanceHook<ScriptedHandle>>,
    ) -> Result<ScriptedHandle, KafkaError> {
        let now = self.inner.rt.now();
        let id = self.inner.with(|s| {
            if s.down(now).is_some() {
                s.stats.create_failures += 1;
                return None;
            }
            s.next_id += 1;
            s.stats.created += 1;
            s.handles.insert(s.next_id, HandleState::default());
            Some(s.next_id)
        });
        match id {
            None => Err(KafkaError::new(
                ErrorClass::NonRetriable,
                ErrorCode::CreateFailed,
                "scripted outage: the coordinator is down",
            )),
            Some(id) => {
                tracing::debug!(handle = id, ?instance_id, "scripted handle created");
                Ok(ScriptedHandle {
                    id,
                    topic: self.clone(),
                    hook,
                })
            }
        }
    }
}

/// A handle of a [`ScriptedTopic`].
pub struct ScriptedHandle {
    id: u64,
    topic: ScriptedTopic,
    hook: Arc<dyn RebalanceHook<ScriptedHandle>>,
}

fn closed(id: u64) -> KafkaError {
    KafkaError::new(
        ErrorClass::NonRetriable,
        ErrorCode::Closed,
        format!("scripted handle c{id} is closed"),
    )
}

fn transport() -> KafkaError {
    KafkaError::new(
        ErrorClass::NonRetriable,
        ErrorCode::BrokerTransport,
        "scripted outage: the coordinator is unreachable",
    )
}

/// What a poll found under the lock.
enum Found {
    Closed,
    Down(Instant),
    Join(Vec<Partition>),
    Record(Partition, Offset),
    Nothing,
}

impl ScriptedHandle {
    /// Runs `f` on this handle's state (`Err(Closed)` once it is closed).
    fn with_handle<T>(
        &self,
        f: impl FnOnce(&mut HandleState, &mut ScriptStats) -> T,
    ) -> Result<T, KafkaError> {
        self.topic.inner.with(|s| {
            let State { handles, stats, .. } = s;
            match handles.get_mut(&self.id) {
                Some(h) if !h.closed => Ok(f(h, stats)),
                _ => Err(closed(self.id)),
            }
        })
    }

    fn look(&self, s: &mut State, now: Instant) -> Found {
        let down = s.down(now);
        let State {
            handles,
            logs,
            committed,
            stats,
            ..
        } = s;
        let Some(h) = handles.get_mut(&self.id).filter(|h| !h.closed) else {
            return Found::Closed;
        };
        if let Some(since) = down {
            stats.failed_polls += 1;
            return Found::Down(since);
        }
        if !h.joined {
            h.joined = true;
            let parts: Vec<Partition> = (0..logs.len())
                .filter_map(|p| Partition::try_from(p).ok())
                .collect();
            for p in &parts {
                h.positions
                    .insert(*p, committed.get(p).copied().unwrap_or(0));
            }
            return Found::Join(parts);
        }
        let n = h.assigned.len();
        for i in 0..n {
            let p = h.assigned[(h.cursor + i) % n];
            if h.paused.contains(&p) {
                continue;
            }
            let end = usize::try_from(p)
                .ok()
                .and_then(|i| logs.get(i))
                .copied()
                .unwrap_or(0);
            let pos = h.positions.entry(p).or_insert(0);
            if *pos < end {
                let offset = *pos;
                *pos += 1;
                h.cursor = (h.cursor + i + 1) % n;
                stats.records_read += 1;
                return Found::Record(p, offset);
            }
        }
        Found::Nothing
    }
}

impl ConsumerHandle for ScriptedHandle {
    fn id(&self) -> HandleId {
        HandleId(self.id)
    }

    fn poll(&self, timeout: Duration) -> Result<Option<Record>, KafkaError> {
        let inner = &self.topic.inner;
        let rt = inner.rt;
        let deadline = rt.now() + timeout;
        let mut found = Found::Nothing;
        inner
            .changed
            .wait_while(&inner.state, Some(deadline), "scripted: poll", |s| {
                found = self.look(s, rt.now());
                matches!(found, Found::Nothing)
            });
        match found {
            Found::Closed => Err(closed(self.id)),
            Found::Down(since) => {
                if rt.now() - since >= inner.opts.expel_after {
                    Err(KafkaError::new(
                        ErrorClass::NonRetriable,
                        ErrorCode::UnknownMember,
                        "scripted outage: the coordinator expired the member",
                    ))
                } else {
                    Err(transport())
                }
            }
            Found::Join(parts) => {
                // librdkafka serves the rebalance inside the poll and returns without a record.
                self.hook.before_assign(self, &parts);
                self.with_handle(|h, _| h.assigned = parts.clone())?;
                self.hook.after_assign(self, &parts);
                Ok(None)
            }
            Found::Record(partition, offset) => Ok(Some(
                Record::new("scripted", partition, offset)
                    .with_payload(self.topic.payload(partition, offset)),
            )),
            Found::Nothing => Ok(None),
        }
    }

    fn pause(&self, partitions: &[Partition]) -> Result<(), KafkaError> {
        self.with_handle(|h, st| {
            for p in partitions {
                if h.assigned.contains(p) {
                    h.paused.insert(*p);
                }
            }
            if !partitions.is_empty() {
                st.pauses += 1;
            }
        })
    }

    fn resume(&self, partitions: &[Partition]) -> Result<(), KafkaError> {
        self.with_handle(|h, st| {
            for p in partitions {
                h.paused.remove(p);
            }
            if !partitions.is_empty() {
                st.resumes += 1;
            }
        })
    }

    fn assignment(&self) -> Result<Vec<Partition>, KafkaError> {
        self.with_handle(|h, _| h.assigned.clone())
    }

    fn seek(&self, partition: Partition, offset: Offset) -> Result<(), KafkaError> {
        self.with_handle(|h, _| {
            h.positions.insert(partition, offset);
        })
    }

    fn commit(&self, offsets: &[(Partition, Offset)]) -> Result<(), KafkaError> {
        let now = self.topic.inner.rt.now();
        self.topic.inner.with(|s| {
            if s.handles.get(&self.id).is_none_or(|h| h.closed) {
                return Err(closed(self.id));
            }
            if s.down(now).is_some() {
                return Err(transport());
            }
            for (p, o) in offsets {
                s.committed.insert(*p, *o);
            }
            s.stats.commits += 1;
            Ok(())
        })
    }

    fn committed(
        &self,
        partitions: &[Partition],
    ) -> Result<Vec<(Partition, Option<Offset>)>, KafkaError> {
        let now = self.topic.inner.rt.now();
        self.topic.inner.state.with(|s| {
            if s.handles.get(&self.id).is_none_or(|h| h.closed) {
                return Err(closed(self.id));
            }
            if s.down(now).is_some() {
                return Err(transport());
            }
            Ok(partitions
                .iter()
                .map(|p| (*p, s.committed.get(p).copied()))
                .collect())
        })
    }

    fn high_watermark(&self, partition: Partition) -> Result<Option<Offset>, KafkaError> {
        self.topic.inner.state.with(|s| {
            if s.handles.get(&self.id).is_none_or(|h| h.closed) {
                return Err(closed(self.id));
            }
            Ok(usize::try_from(partition)
                .ok()
                .and_then(|p| s.logs.get(p))
                .copied())
        })
    }

    fn close(&self) -> Result<(), KafkaError> {
        let inner = &self.topic.inner;
        let rt = inner.rt;
        let now = rt.now();
        let stalled = inner.with(|s| {
            let down = s.down(now).is_some();
            let State { handles, stats, .. } = s;
            match handles.get_mut(&self.id) {
                Some(h) if !h.closed => {
                    h.assigned.clear();
                    if down {
                        stats.closing += 1;
                    }
                    Ok(down)
                }
                _ => Err(closed(self.id)),
            }
        })?;
        if stalled {
            tracing::debug!(
                handle = self.id,
                "scripted close stalls: the coordinator is down"
            );
            let deadline = rt.now() + inner.opts.close_stall;
            loop {
                let step = inner
                    .outage_end()
                    .filter(|e| *e > rt.now())
                    .map_or(deadline, |e| e.min(deadline));
                let up =
                    inner
                        .changed
                        .wait_while(&inner.state, Some(step), "scripted: close", |s| {
                            s.down(rt.now()).is_some()
                        });
                if up || rt.now() >= deadline {
                    break;
                }
            }
        }
        inner.with(|s| {
            if stalled {
                s.stats.closing -= 1;
            }
            if let Some(h) = s.handles.get_mut(&self.id) {
                h.closed = true;
            }
            s.stats.closed += 1;
        });
        tracing::debug!(handle = self.id, "scripted handle closed");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pausebeat::kafka::NoHook;

    fn topic(opts: ScriptOptions) -> ScriptedTopic {
        ScriptedTopic::new(StdRuntime::new(), opts)
    }

    #[test]
    fn records_come_in_order_and_pause_holds_them() {
        let t = topic(ScriptOptions {
            partitions: 2,
            ..ScriptOptions::default()
        });
        t.produce(0, 2);
        t.produce(1, 1);
        let h = t.create(None, Arc::new(NoHook)).unwrap();
        assert_eq!(h.poll(Duration::ZERO).unwrap(), None);
        assert_eq!(h.assignment().unwrap(), vec![0, 1]);
        h.pause(&[0]).unwrap();
        let r = h.poll(Duration::ZERO).unwrap().unwrap();
        assert_eq!((r.partition, r.offset), (1, 0));
        assert_eq!(h.poll(Duration::from_millis(5)).unwrap(), None);
        h.resume(&[0]).unwrap();
        let got: Vec<_> = (0..2)
            .map(|_| h.poll(Duration::ZERO).unwrap().unwrap().offset)
            .collect();
        assert_eq!(got, vec![0, 1]);
        assert_eq!(h.high_watermark(0).unwrap(), Some(2));
        let s = t.stats();
        assert_eq!((s.records_read, s.pauses, s.resumes), (3, 1, 1));
    }

    #[test]
    fn a_waiting_poll_wakes_for_a_record() {
        let rt = StdRuntime::new();
        let t = ScriptedTopic::new(rt, ScriptOptions::default());
        let h = t.create(None, Arc::new(NoHook)).unwrap();
        assert_eq!(h.poll(Duration::ZERO).unwrap(), None);
        let t2 = t.clone();
        let producer = rt.spawn("producer", move || {
            StdRuntime::new().sleep(Duration::from_millis(20));
            t2.produce(0, 1);
        });
        let start = rt.now();
        let r = h.poll(Duration::from_secs(10)).unwrap();
        assert_eq!(r.map(|r| r.offset), Some(0));
        assert!(rt.now() - start < Duration::from_secs(5));
        producer.join().unwrap();
    }

    #[test]
    fn an_outage_fails_polls_then_expels_and_stalls_close() {
        let t = topic(ScriptOptions {
            expel_after: Duration::from_millis(30),
            close_stall: Duration::from_secs(10),
            ..ScriptOptions::default()
        });
        let h = t.create(None, Arc::new(NoHook)).unwrap();
        h.poll(Duration::ZERO).unwrap();
        h.commit(&[(0, 0)]).unwrap();
        t.start_outage();
        assert_eq!(
            h.poll(Duration::ZERO).unwrap_err().code,
            ErrorCode::BrokerTransport
        );
        assert_eq!(
            h.committed(&[0]).unwrap_err().code,
            ErrorCode::BrokerTransport
        );
        assert_eq!(h.high_watermark(0).unwrap(), Some(0));
        assert_eq!(
            t.create(None, Arc::new(NoHook)).err().map(|e| e.code),
            Some(ErrorCode::CreateFailed)
        );
        StdRuntime::new().sleep(Duration::from_millis(40));
        assert_eq!(
            h.poll(Duration::ZERO).unwrap_err().code,
            ErrorCode::UnknownMember
        );
        let rt = StdRuntime::new();
        let h = Arc::new(h);
        let h2 = h.clone();
        let closer = rt.spawn("closer", move || h2.close());
        assert!(t.wait_until(Duration::from_secs(5), |s| s.closing == 1));
        assert_eq!(h.assignment().unwrap(), Vec::<Partition>::new());
        t.end_outage();
        closer.join().unwrap().unwrap();
        let s = t.stats();
        assert_eq!((s.closing, s.closed, s.create_failures), (0, 1, 1));
        assert_eq!(h.poll(Duration::ZERO).unwrap_err().code, ErrorCode::Closed);
    }

    #[test]
    fn a_timed_outage_ends_by_itself() {
        let t = topic(ScriptOptions::default());
        t.outage_for(Duration::from_millis(20));
        assert!(t.stats().down);
        assert!(t.wait_until(Duration::from_secs(5), |s| !s.down));
        assert!(t.create(None, Arc::new(NoHook)).is_ok());
    }
}
