//! The modeled Kafka world: a deterministic in-memory broker, consumer group and consumer handles
//! on a runtime's (virtual) clock. Client behaviour follows librdkafka 2.12.1 (as the rdkafka
//! backend sees it through rust-rdkafka 0.39); group behaviour follows Kafka's group coordinator
//! (classic protocol, KIP-345) where librdkafka's mock cluster departs from it. Every rule has its
//! oracle and its conformance case in `docs/world.md`; `pausebeat conform` plays the cases on
//! the world and on the mock cluster and compares.
//!
//! The world is *passive*: it has no threads. Its whole state sits under one lock, and every
//! time-based rule (records produced at their time, faults, session and max.poll expiries, other
//! members joining and leaving, the end of a rebalance's join phase) is applied lazily from
//! `rt.now()` whenever an operation runs. A poll that waits sets its deadline to the next instant
//! at which any such rule could change what it sees, so a record produced at `t` is returned at
//! `t`.
//!
//! Everything is recorded in the world's [`EventLog`], which the properties are judged from.
//!
//! The rules, in short (see the crate's tests for each):
//! * **Joining.** A created handle subscribes and sends JoinGroup at once (librdkafka's
//!   background thread, no poll needed), or at its first poll after a broker outage. An empty
//!   group's first rebalance waits `initial_rebalance_delay` (Kafka's
//!   `group.initial.rebalance.delay.ms`, 3 s).
//! * **Rebalances are not atomic** (eager protocol). A change of membership starts a join phase;
//!   each member handle learns of it at its next poll, which serves the revoke of its whole
//!   assignment (`hook.revoked`, while still assigned) and returns `Ok(None)`; only then does it
//!   rejoin. The phase ends when every member rejoined (plus a chosen extra,
//!   [`Fault::RebalanceTakesOneOf`]) or at the rebalance timeout (`max.poll.interval`), removing
//!   who did not rejoin; the assignment (round-robin over the members in join order) is served
//!   by a *later* poll (`hook.before_assign`, assign, `hook.after_assign`), which returns
//!   `Ok(None)`. Polls in between return nothing and the assignment is empty.
//! * **Positions.** Every assigned partition — new, or kept across the rebalance — starts at its
//!   committed offset (0 if none: `auto.offset.reset=earliest`).
//! * **Pause** is a per-handle, per-partition flag that survives revocation; it applies to a
//!   partition assigned now, or to any partition once the handle has had an assignment (the
//!   topic is known to the client); `resume` clears it. A paused partition returns no record
//!   after `pause` returned (librdkafka's version barrier), unless [`Fault::SlipAfterPause`].
//! * **Broker outage**: a poll gets `BrokerTransport` and `AllBrokersDown` once as the outage
//!   begins, `BrokerTransport` again every 30 s, and otherwise waits and returns nothing (both
//!   retriable); fetching stops. A commit waits for the coordinator up to `session.timeout`
//!   (then `TimedOut`, retriable), `committed` and `high_watermark` up to their 10 s timeout.
//!   An outage longer than the session timeout expires every member at `from + session` on both
//!   sides: the client serves a revoke (lost) at its next poll and rejoins once the brokers are
//!   back.
//! * **max.poll.interval**: a member holding an assignment not polled for that long (measured,
//!   as librdkafka does, from the start or end of its latest poll; never while a poll is in
//!   progress) gets one `MaxPollExceeded` error, then a revoke (lost), then rejoins; a dynamic
//!   member leaves the group at once, a static one stays a member until it rejoins (taking its
//!   own place back) or its session runs out.
//! * **Static membership** (KIP-345): a handle created with an instance id that a member still
//!   holds replaces that member: it takes its place and assignment without a rebalance when the
//!   group is settled. If the old handle is still open it is **fenced**: its next poll returns
//!   one fatal `Fenced` error and then nothing, its commits fail `Fenced`. A closed static member
//!   sends no LeaveGroup: it keeps its partitions until its session runs out or it is replaced.
//!   `unsubscribe` leaves the group once its next poll served the revoke (static members
//!   too); a close right after it terminates instead (a static member then sends nothing).
//! * **Commits** are judged as the coordinator does: an unknown member gets `UnknownMember`, a
//!   stale generation `IllegalGeneration`, a member with the new generation but not its
//!   assignment yet `RebalanceInProgress`; ownership of the partitions is never checked (a stale
//!   commit can move an offset back).
//! * **Concurrent use**: a poll or close that starts while another thread is inside a poll or
//!   close of the same handle logs [`EventKind::Overlap`] and carries on.
//! * **Closed handles**: every later call fails with `Closed` (non-retriable); a poll running
//!   when another thread closes the handle returns `Closed` too.

mod spec;
mod state;

#[cfg(test)]
mod tests;

pub use spec::{default_class, Fault, OtherMember, SpecError, WorldSpec};

use crate::log::{EventKind, EventLog, PollOutcome};
use pausebeat::kafka::{
    ConsumerFactory, ConsumerHandle, ErrorClass, ErrorCode, HandleId, KafkaError, Offset,
    Partition, RebalanceHook, Record,
};
use pausebeat::sync::{Instant, Mutex, Runtime, Signal};
use state::{closed_err, err, Active, Config, HandleState, Plan, State, Step};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The rebalance hook of a world handle.
pub type WorldHook<R> = Arc<dyn RebalanceHook<WorldHandle<R>>>;

struct Shared<R: Runtime> {
    rt: R,
    log: EventLog<R>,
    cfg: Config,
    state: Mutex<R, State<R>>,
}

/// The modeled Kafka world: one topic, one consumer group. Cheap to clone (an `Arc` inside).
///
/// ```
/// use pausebeat::kafka::{ConsumerFactory, ConsumerHandle, NoHook};
/// use pausebeat::sync::{Runtime, Std, Virtual};
/// use pausebeat_world::{World, WorldSpec};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let rt = Virtual::<Std>::new();
/// let world = World::new(&rt, WorldSpec::default().produce(Duration::from_secs(10), 1, 1));
/// let c = world.create(None, Arc::new(NoHook)).unwrap();
/// assert_eq!(c.poll(Duration::from_secs(5)).unwrap(), None); // served the assignment
/// let r = c.poll(Duration::from_secs(60)).unwrap().unwrap(); // produced at t = 10 s
/// assert_eq!((r.partition, r.offset), (1, 0));
/// assert_eq!(rt.now().since_origin(), Duration::from_secs(10));
/// c.close().unwrap();
/// assert_eq!(world.snapshot().closed, vec![(c.id(), 1)]);
/// ```
pub struct World<R: Runtime> {
    shared: Arc<Shared<R>>,
}

impl<R: Runtime> Clone for World<R> {
    fn clone(&self) -> Self {
        World {
            shared: self.shared.clone(),
        }
    }
}

impl<R: Runtime> fmt::Debug for World<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("World").finish_non_exhaustive()
    }
}

/// The world's state at one instant, for properties and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorldSnapshot {
    /// When it was taken.
    pub at: Instant,
    /// High watermark per partition as of now (every partition listed).
    pub produced: BTreeMap<Partition, Offset>,
    /// High watermark per partition once everything the spec schedules is produced.
    pub scheduled: BTreeMap<Partition, Offset>,
    /// Committed offsets (next record to read), for partitions with a commit.
    pub committed: BTreeMap<Partition, Offset>,
    /// Handles created and not closed, in creation order.
    pub open_handles: Vec<HandleId>,
    /// Every handle created, in creation order.
    pub created: Vec<HandleId>,
    /// Handles `close` was called on, with how many times it was called (2 or more: a double
    /// close).
    pub closed: Vec<(HandleId, u32)>,
    /// Handles that were fenced at creation.
    pub fenced: Vec<HandleId>,
    /// For each fault of the spec, in order: whether it changed what some operation did (an
    /// operation failed or took longer because of it). A fault that hit nothing exercised
    /// nothing.
    pub faults_hit: Vec<bool>,
    /// The group generation.
    pub generation: u64,
    /// The group's members in join order (`c1`…: handles, `m1`…: other members) with what the
    /// group assigns each.
    pub group: Vec<(String, Vec<Partition>)>,
    /// What each open handle has been told it is assigned.
    pub assignments: BTreeMap<HandleId, Vec<Partition>>,
    /// The pause flags of each open handle (assigned or not: they survive revocation).
    pub paused: BTreeMap<HandleId, Vec<Partition>>,
}

impl<R: Runtime> World<R> {
    /// A world on `rt`'s clock. Whatever in `spec` makes no sense (see [`WorldSpec::validate`])
    /// is ignored and noted in the log.
    pub fn new(rt: &R, spec: WorldSpec) -> World<R> {
        let log = EventLog::new(rt);
        let mut notes = Vec::new();
        let cfg = Config::new(spec, &mut notes);
        for n in notes {
            tracing::warn!("{n}");
            log.record(None, EventKind::Workload(n));
        }
        let state = State::new(&cfg);
        World {
            shared: Arc::new(Shared {
                rt: rt.clone(),
                log,
                cfg,
                state: Mutex::new(state),
            }),
        }
    }

    /// A world on `rt`'s clock, if `spec` is valid.
    pub fn try_new(rt: &R, spec: WorldSpec) -> Result<World<R>, SpecError> {
        spec.validate()?;
        Ok(Self::new(rt, spec))
    }

    /// The record the world produces at `partition` / `offset` (what a poll hands out): its
    /// key, value, headers and timestamp are the world's, and distinct per record.
    pub fn record(&self, partition: Partition, offset: Offset) -> Option<Record> {
        let p = usize::try_from(partition)
            .ok()
            .filter(|&p| p < self.shared.cfg.partitions)?;
        (offset >= 0).then(|| self.shared.cfg.record(p, offset))
    }

    /// The world's event log (shared; also the probe designs report to).
    pub fn log(&self) -> EventLog<R> {
        self.shared.log.clone()
    }

    /// The runtime the world runs on.
    pub fn runtime(&self) -> &R {
        &self.shared.rt
    }

    /// The world as of now (applies the time-based rules due by now first).
    pub fn snapshot(&self) -> WorldSnapshot {
        let sh = &*self.shared;
        let mut st = sh.state.lock();
        let now = sh.rt.now();
        st.advance(&sh.cfg, &sh.log, now);
        let mut scheduled: BTreeMap<Partition, Offset> = (0..sh.cfg.partitions as Partition)
            .map(|p| (p, 0))
            .collect();
        for &(_, p, n) in &sh.cfg.schedule {
            *scheduled.entry(p as Partition).or_default() += Offset::from(n);
        }
        let open = |h: &&HandleState| !h.closed;
        WorldSnapshot {
            at: now,
            produced: st
                .high
                .iter()
                .enumerate()
                .map(|(p, &o)| (p as Partition, o))
                .collect(),
            scheduled,
            committed: st
                .committed
                .iter()
                .enumerate()
                .filter_map(|(p, o)| o.map(|o| (p as Partition, o)))
                .collect(),
            open_handles: st.handles.iter().filter(open).map(|h| h.id).collect(),
            created: st.handles.iter().map(|h| h.id).collect(),
            closed: st
                .handles
                .iter()
                .filter(|h| h.close_calls > 0)
                .map(|h| (h.id, h.close_calls))
                .collect(),
            fenced: st
                .handles
                .iter()
                .filter(|h| h.fenced)
                .map(|h| h.id)
                .collect(),
            faults_hit: st.faults_hit(),
            generation: st.generation,
            group: st.group(),
            assignments: st
                .handles
                .iter()
                .filter(open)
                .map(|h| (h.id, h.assigned.clone()))
                .collect(),
            paused: st
                .handles
                .iter()
                .filter(open)
                .map(|h| {
                    let p = (0..sh.cfg.partitions)
                        .filter(|&p| h.paused[p])
                        .map(|p| p as Partition)
                        .collect();
                    (h.id, p)
                })
                .collect(),
        }
    }
}

/// How long `committed` and `high_watermark` wait without brokers before they time out (the
/// rdkafka backend's default `op_timeout`; the Go consumer's 10 000 ms).
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

impl<R: Runtime> ConsumerFactory for World<R> {
    type Handle = WorldHandle<R>;

    /// Creates a handle (`c1`, `c2`, … in creation order) and subscribes it: it sends JoinGroup
    /// at once (or at its first poll after a broker outage); with the static instance id of a
    /// member of the group, it takes that member's place.
    fn create(
        &self,
        instance_id: Option<&str>,
        hook: WorldHook<R>,
    ) -> Result<WorldHandle<R>, KafkaError> {
        let sh = &*self.shared;
        let slow = sh.cfg.slow_create + one_of(&sh.rt, &sh.cfg.create_choices);
        if slow > Duration::ZERO {
            sh.log.record(None, EventKind::CreateBegin);
            sh.rt.sleep(slow);
        }
        let signal = Arc::new(sh.rt.signal());
        let mut st = sh.state.lock();
        let now = sh.rt.now();
        st.advance(&sh.cfg, &sh.log, now);
        if slow > Duration::ZERO {
            let slow_fault =
                |f: &Fault| matches!(f, Fault::SlowCreate(_) | Fault::CreateTakesOneOf(_));
            if let Some(i) = sh.cfg.first(slow_fault) {
                st.fault_effect(&sh.log, i, || format!("creating a consumer takes {slow:?}"));
            }
        }
        if let Some(i) = sh.cfg.create_fail_at(now) {
            st.fault_effect(&sh.log, i, || "consumer creation fails".to_string());
            sh.log.record(
                None,
                EventKind::CreateFailed {
                    code: ErrorCode::CreateFailed,
                },
            );
            return Err(err(
                ErrorClass::NonRetriable,
                ErrorCode::CreateFailed,
                "injected: creating the consumer failed",
            ));
        }
        let k = st.handles.len();
        let id = HandleId(k as u64 + 1);
        let instance_id = instance_id.map(str::to_string);
        let h = HandleState::new(id, instance_id.clone(), sh.cfg.partitions, now);
        sh.log.record(Some(id), EventKind::Created { instance_id });
        st.handles.push(h);
        if sh.cfg.outage_at(now).is_some() {
            st.handles[k].needs_join = true;
        } else {
            st.join(&sh.cfg, &sh.log, k, now);
        }
        drop(st);
        Ok(WorldHandle {
            inner: Arc::new(HandleInner {
                id,
                k,
                shared: self.shared.clone(),
                hook,
                signal,
            }),
        })
    }
}

struct HandleInner<R: Runtime> {
    id: HandleId,
    k: usize,
    shared: Arc<Shared<R>>,
    hook: WorldHook<R>,
    /// The signal the handle's (first) poller waits on.
    signal: Arc<R::Signal>,
}

/// A consumer handle of the modeled world. Cheap to clone (clones are the same handle).
pub struct WorldHandle<R: Runtime> {
    inner: Arc<HandleInner<R>>,
}

impl<R: Runtime> Clone for WorldHandle<R> {
    fn clone(&self) -> Self {
        WorldHandle {
            inner: self.inner.clone(),
        }
    }
}

impl<R: Runtime> fmt::Debug for WorldHandle<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WorldHandle").field(&self.inner.id).finish()
    }
}

fn outcome(r: &Result<Option<Record>, KafkaError>) -> PollOutcome {
    match r {
        Ok(Some(rec)) => PollOutcome::Record {
            partition: rec.partition,
            offset: rec.offset,
        },
        Ok(None) => PollOutcome::Timeout,
        Err(e) => PollOutcome::Error(e.code),
    }
}

impl<R: Runtime> WorldHandle<R> {
    fn sh(&self) -> &Shared<R> {
        &self.inner.shared
    }

    /// The partitions whose pause flag is set (assigned or not), ascending. For tests: the
    /// consumer API has no way to read pause state (librdkafka #2703).
    pub fn paused(&self) -> Vec<Partition> {
        let sh = self.sh();
        let st = sh.state.lock();
        let h = &st.handles[self.inner.k];
        (0..sh.cfg.partitions)
            .filter(|&p| h.paused[p])
            .map(|p| p as Partition)
            .collect()
    }

    /// The handle's static instance id.
    pub fn instance_id(&self) -> Option<String> {
        self.sh().state.lock().handles[self.inner.k]
            .instance_id
            .clone()
    }

    /// Runs `f` on the open handle's state with the time-based rules applied, or fails with
    /// `Closed` (logging `op` failed).
    fn local<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&mut State<R>, &Shared<R>, Instant) -> Result<T, KafkaError>,
    ) -> Result<T, KafkaError> {
        let sh = self.sh();
        let mut st = sh.state.lock();
        let now = sh.rt.now();
        st.advance(&sh.cfg, &sh.log, now);
        let r = if st.handles[self.inner.k].closed {
            Err(closed_err())
        } else {
            f(&mut st, sh, now)
        };
        if let Err(e) = &r {
            sh.log.record(
                Some(self.inner.id),
                EventKind::OpFailed { op, code: e.code },
            );
        }
        r
    }

    /// Waits, without the lock, while the brokers are down and at most `limit`: what a request
    /// that needs a broker does (librdkafka parks a commit until a coordinator is known, a
    /// query until its timeout). True if the brokers are up (or were never down).
    fn wait_for_brokers(&self, limit: Duration, begin: Option<EventKind>) -> bool {
        let sh = self.sh();
        let (outage, now) = {
            let mut st = sh.state.lock();
            let now = sh.rt.now();
            st.advance(&sh.cfg, &sh.log, now);
            match sh.cfg.outage_at(now) {
                Some(i) => {
                    st.fault_hit(i);
                    (Some(i), now)
                }
                None => (None, now),
            }
        };
        let Some(i) = outage else { return true };
        if let Some(kind) = begin {
            sh.log.record(Some(self.inner.id), kind);
        }
        let until = sh.cfg.outage_end(i).min(now + limit);
        sh.rt.sleep(until.saturating_since(now));
        sh.cfg.outage_at(sh.rt.now()).is_none()
    }

    /// Serves a rebalance event inside a poll; the lock is not held here.
    fn serve(&self, plan: Plan) {
        let (sh, k, id, hook) = (self.sh(), self.inner.k, self.inner.id, &self.inner.hook);
        match plan {
            Plan::Revoke { old, lost } => {
                sh.log.record(Some(id), EventKind::Revoked(old.clone()));
                // Still assigned while the callback runs (`pre_rebalance` sees the old list).
                hook.revoked(self, &old);
                let mut st = sh.state.lock();
                let now = sh.rt.now();
                st.advance(&sh.cfg, &sh.log, now);
                st.revoked(&sh.cfg, &sh.log, k, lost, now);
            }
            Plan::Assign { new, gen } => {
                hook.before_assign(self, &new);
                let applied = {
                    let mut st = sh.state.lock();
                    let now = sh.rt.now();
                    st.advance(&sh.cfg, &sh.log, now);
                    st.apply_assign(&sh.log, k, new.clone(), gen)
                };
                if applied {
                    hook.after_assign(self, &new);
                }
            }
        }
    }
}

impl<R: Runtime> ConsumerHandle for WorldHandle<R> {
    fn id(&self) -> HandleId {
        self.inner.id
    }

    fn poll(&self, timeout: Duration) -> Result<Option<Record>, KafkaError> {
        let (sh, k, id) = (self.sh(), self.inner.k, self.inner.id);
        let thread = sh.rt.thread_name();
        let mut st = sh.state.lock();
        let mut now = sh.rt.now();
        st.advance(&sh.cfg, &sh.log, now);
        sh.log.record(Some(id), EventKind::PollBegin);
        if st.handles[k].closed {
            let e = closed_err();
            sh.log
                .record(Some(id), EventKind::PollEnd(PollOutcome::Error(e.code)));
            return Err(e);
        }
        if let Some(o) = st.handles[k].other_active(&thread) {
            let kind = EventKind::Overlap {
                op: "poll",
                other_thread: o.thread.clone(),
                other_op: o.op,
            };
            sh.log.record(Some(id), kind);
        }
        let token = st.token();
        let signal = if st.handles[k].signal_busy {
            Arc::new(sh.rt.signal())
        } else {
            st.handles[k].signal_busy = true;
            self.inner.signal.clone()
        };
        let own = Arc::ptr_eq(&signal, &self.inner.signal);
        {
            let h = &mut st.handles[k];
            h.active.push(Active {
                token,
                thread,
                op: "poll",
            });
            h.polling += 1;
            h.last_poll = now;
        }
        let deadline = now + timeout;
        let mut label: Option<String> = None;
        let result = loop {
            match st.poll_step(&sh.cfg, &sh.log, k, now) {
                Step::Done(r) => break r,
                Step::Rebalance(plan) => {
                    drop(st);
                    self.serve(plan);
                    st = sh.state.lock();
                    now = sh.rt.now();
                    st.advance(&sh.cfg, &sh.log, now);
                    break Ok(None);
                }
                Step::Again => st.advance(&sh.cfg, &sh.log, now),
                Step::Wait => {
                    if now >= deadline {
                        break Ok(None);
                    }
                    let wake = st
                        .next_wake(&sh.cfg, now)
                        .map_or(deadline, |t| t.min(deadline));
                    st.waiters.push((k, signal.clone()));
                    drop(st);
                    let what = label.get_or_insert_with(|| format!("poll {id}"));
                    signal.wait(Some(wake), what);
                    st = sh.state.lock();
                    if let Some(i) = st.waiters.iter().position(|(_, s)| Arc::ptr_eq(s, &signal)) {
                        st.waiters.swap_remove(i);
                    }
                    now = sh.rt.now();
                    st.advance(&sh.cfg, &sh.log, now);
                }
            }
        };
        let h = &mut st.handles[k];
        // Closed by another thread meanwhile: whatever the poll found, it fails.
        let result = if h.closed && result.is_ok() {
            Err(closed_err())
        } else {
            result
        };
        h.leave(token);
        h.polling -= 1;
        h.last_poll = now;
        if own {
            h.signal_busy = false;
        }
        sh.log
            .record(Some(id), EventKind::PollEnd(outcome(&result)));
        drop(st);
        result
    }

    /// Takes every record at hand in one go, under the world's lock: what librdkafka has queued
    /// is handed out without anything else happening in between (the rdkafka backend holds its
    /// client for the lot). Each record is logged as a zero-timeout poll. Anything other than a
    /// record at hand (a rebalance to serve, an error) is left to a regular zero-timeout poll.
    /// `each` must not call the handle.
    fn poll_at_hand(&self, each: &mut dyn FnMut(Record) -> bool) -> Result<(), KafkaError> {
        let (sh, k, id) = (self.sh(), self.inner.k, self.inner.id);
        let thread = sh.rt.thread_name();
        {
            let mut st = sh.state.lock();
            let now = sh.rt.now();
            st.advance(&sh.cfg, &sh.log, now);
            // Another thread inside the handle, or anything but records to hand out: the
            // regular path reports or serves it.
            if st.handles[k].other_active(&thread).is_none() && st.only_fetching(&sh.cfg, k, now) {
                st.handles[k].last_poll = now;
                while let Some(r) = st.fetch(&sh.cfg, &sh.log, k) {
                    sh.log.record(Some(id), EventKind::PollBegin);
                    let end = PollOutcome::Record {
                        partition: r.partition,
                        offset: r.offset,
                    };
                    sh.log.record(Some(id), EventKind::PollEnd(end));
                    if !each(r) {
                        return Ok(());
                    }
                }
                return Ok(());
            }
        }
        while let Some(r) = self.poll(Duration::ZERO)? {
            if !each(r) {
                break;
            }
        }
        Ok(())
    }

    fn pause(&self, partitions: &[Partition]) -> Result<(), KafkaError> {
        let id = self.inner.id;
        self.local("pause", |st, sh, now| {
            let slip = sh.cfg.slip_at(now);
            let high = st.high.clone();
            let h = &mut st.handles[self.inner.k];
            let mut applied = Vec::with_capacity(partitions.len());
            for &p in partitions {
                let known = p >= 0 && (p as usize) < sh.cfg.partitions;
                if known && (h.assigned.contains(&p) || h.topic_known) {
                    let pi = p as usize;
                    // A fetching partition with a record ready has it in the client already.
                    if h.assigned.contains(&p)
                        && !h.paused[pi]
                        && h.position[pi] < high[pi]
                        && slip.is_some()
                    {
                        h.slipping[pi] = slip;
                    }
                    h.paused[pi] = true;
                    applied.push(p);
                }
            }
            sh.log.record(
                Some(id),
                EventKind::Pause {
                    asked: partitions.to_vec(),
                    applied,
                },
            );
            Ok(())
        })
    }

    fn resume(&self, partitions: &[Partition]) -> Result<(), KafkaError> {
        let id = self.inner.id;
        let k = self.inner.k;
        self.local("resume", |st, sh, _| {
            let h = &mut st.handles[k];
            let mut fetchable = false;
            for &p in partitions {
                if p >= 0 && (p as usize) < sh.cfg.partitions && h.paused[p as usize] {
                    h.paused[p as usize] = false;
                    h.slipping[p as usize] = None;
                    fetchable |= h.assigned.contains(&p);
                }
            }
            sh.log.record(
                Some(id),
                EventKind::Resume {
                    partitions: partitions.to_vec(),
                },
            );
            if fetchable {
                st.notify_handle(k);
            }
            Ok(())
        })
    }

    fn wake(&self, partitions: &[Partition]) -> Result<(), KafkaError> {
        let id = self.inner.id;
        self.local("wake", |_, sh, _| {
            sh.log.record(
                Some(id),
                EventKind::Wake {
                    partitions: partitions.to_vec(),
                },
            );
            Ok(())
        })
    }

    fn assignment(&self) -> Result<Vec<Partition>, KafkaError> {
        self.local("assignment", |st, _, _| {
            Ok(st.handles[self.inner.k].assigned.clone())
        })
    }

    fn seek(&self, partition: Partition, offset: Offset) -> Result<(), KafkaError> {
        let (id, k) = (self.inner.id, self.inner.k);
        self.local("seek", |st, sh, _| {
            let h = &mut st.handles[k];
            if !h.assigned.contains(&partition) {
                return Err(err(
                    ErrorClass::NonRetriable,
                    ErrorCode::Other,
                    "seek: partition not assigned",
                ));
            }
            h.position[partition as usize] = offset.max(0);
            sh.log
                .record(Some(id), EventKind::Seek { partition, offset });
            st.notify_handle(k);
            Ok(())
        })
    }

    /// A synchronous commit: slow commits take their time; without brokers the commit waits for
    /// a coordinator up to `session.timeout` (librdkafka's `rd_kafka_cgrp_defer_offset_commit`)
    /// and then fails `TimedOut` (retriable, librdkafka's `_WAIT_COORD`); with a coordinator it
    /// is judged by the group's rules at that moment.
    fn commit(&self, offsets: &[(Partition, Offset)]) -> Result<(), KafkaError> {
        let (sh, k, id) = (self.sh(), self.inner.k, self.inner.id);
        let slow = sh.cfg.slow_commit;
        let mut begun = false;
        if slow > Duration::ZERO {
            {
                let mut st = sh.state.lock();
                if st.handles[k].closed {
                    drop(st);
                    return self.local("commit", |_, _, _| Ok(()));
                }
                if let Some(i) = sh.cfg.first(|f| matches!(f, Fault::SlowCommit(_))) {
                    st.fault_effect(&sh.log, i, || format!("a commit takes {slow:?}"));
                }
                sh.log.record(Some(id), EventKind::CommitBegin);
                begun = true;
            }
            sh.rt.sleep(slow);
        }
        let fenced_or_closed = {
            let st = sh.state.lock();
            st.handles[k].closed || st.handles[k].fenced
        };
        let coordinator = fenced_or_closed
            || self.wait_for_brokers(sh.cfg.session, (!begun).then_some(EventKind::CommitBegin));
        if offsets.is_empty() {
            // Nothing to commit: the rdkafka backend returns at once, as here.
            return self.local("commit", |_, _, _| Ok(()));
        }
        self.local("commit", |st, sh, now| {
            if !coordinator {
                return Err(err(
                    ErrorClass::Retriable,
                    ErrorCode::TimedOut,
                    "_WAIT_COORD: no coordinator within session.timeout.ms",
                ));
            }
            st.commit_check(&sh.cfg, &sh.log, k, now, offsets)?;
            for &(p, o) in offsets {
                st.committed[p as usize] = Some(o);
            }
            sh.log.record(
                Some(id),
                EventKind::Commit {
                    offsets: offsets.to_vec(),
                },
            );
            Ok(())
        })
    }

    fn high_watermark(&self, partition: Partition) -> Result<Option<Offset>, KafkaError> {
        let up = self.wait_for_brokers(QUERY_TIMEOUT, None);
        self.local("high_watermark", |st, sh, _| {
            if !up {
                return Err(err(
                    ErrorClass::Retriable,
                    ErrorCode::TimedOut,
                    "watermark query timed out (no broker)",
                ));
            }
            let p = usize::try_from(partition)
                .ok()
                .filter(|p| *p < sh.cfg.partitions)
                .ok_or_else(|| {
                    err(
                        ErrorClass::NonRetriable,
                        ErrorCode::Other,
                        "no such partition",
                    )
                })?;
            Ok(Some(st.high[p]))
        })
    }

    fn committed(
        &self,
        partitions: &[Partition],
    ) -> Result<Vec<(Partition, Option<Offset>)>, KafkaError> {
        let up = self.wait_for_brokers(QUERY_TIMEOUT, None);
        self.local("committed", |st, sh, _| {
            if !up {
                return Err(err(
                    ErrorClass::Retriable,
                    ErrorCode::TimedOut,
                    "committed offsets query timed out (no coordinator)",
                ));
            }
            Ok(partitions
                .iter()
                .map(|&p| {
                    let c = (p >= 0 && (p as usize) < sh.cfg.partitions)
                        .then(|| st.committed[p as usize])
                        .flatten();
                    (p, c)
                })
                .collect())
        })
    }

    fn unsubscribe(&self) -> Result<(), KafkaError> {
        let (k, id) = (self.inner.k, self.inner.id);
        self.local("unsubscribe", |st, sh, now| {
            sh.log.record(Some(id), EventKind::Unsubscribed);
            st.unsubscribe(&sh.cfg, &sh.log, k, now);
            st.notify_handle(k);
            Ok(())
        })
    }

    fn close(&self) -> Result<(), KafkaError> {
        let (sh, k, id) = (self.sh(), self.inner.k, self.inner.id);
        let thread = sh.rt.thread_name();
        let slow = sh.cfg.slow_close + one_of(&sh.rt, &sh.cfg.close_choices);
        let mut st = sh.state.lock();
        let now = sh.rt.now();
        st.advance(&sh.cfg, &sh.log, now);
        sh.log.record(Some(id), EventKind::CloseBegin);
        st.handles[k].close_calls += 1;
        if st.handles[k].closed {
            let code = ErrorCode::Closed;
            sh.log
                .record(Some(id), EventKind::OpFailed { op: "close", code });
            return Err(closed_err());
        }
        if let Some(o) = st.handles[k].other_active(&thread) {
            let kind = EventKind::Overlap {
                op: "close",
                other_thread: o.thread.clone(),
                other_op: o.op,
            };
            sh.log.record(Some(id), kind);
        }
        let mut now = now;
        if slow > Duration::ZERO {
            // Stay registered as inside `close` while it takes its time.
            let token = st.token();
            st.handles[k].active.push(Active {
                token,
                thread,
                op: "close",
            });
            let slow_fault =
                |f: &Fault| matches!(f, Fault::SlowClose(_) | Fault::CloseTakesOneOf(_));
            if let Some(i) = sh.cfg.first(slow_fault) {
                st.fault_effect(&sh.log, i, || format!("closing a consumer takes {slow:?}"));
            }
            drop(st);
            sh.rt.sleep(slow);
            st = sh.state.lock();
            now = sh.rt.now();
            st.advance(&sh.cfg, &sh.log, now);
            st.handles[k].leave(token);
        }
        if !st.handles[k].closed {
            st.closed(&sh.cfg, &sh.log, k, now);
        }
        sh.log.record(Some(id), EventKind::CloseEnd);
        Ok(())
    }
}

/// One of `choices`, chosen by the checkers (part of the replayable schedule); zero if there
/// are none (no choice point then).
fn one_of<R: Runtime>(rt: &R, choices: &[Duration]) -> Duration {
    if choices.is_empty() {
        Duration::ZERO
    } else {
        choices[rt.pick(choices.len())]
    }
}
