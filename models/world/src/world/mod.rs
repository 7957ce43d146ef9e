//! The modeled Kafka world: a deterministic in-memory broker, consumer group and consumer handles
//! on a runtime's (virtual) clock, following librdkafka 2.12.1 where coordination depends on it.
//!
//! The world is *passive*: it has no threads. Its whole state sits under one lock, and every
//! time-based rule (records produced at their time, faults, session and max.poll expiries, other
//! members joining and leaving) is applied lazily from `rt.now()` whenever an operation runs. A
//! poll that waits sets its deadline to the next instant at which any such rule could change
//! what it sees, so a record produced at `t` is returned at `t`.
//!
//! Everything is recorded in the world's [`EventLog`], which the scenario catalogue judges its
//! properties from.
//!
//! The rules, in short (see the crate's tests for each):
//! * **Group.** Members are the open subscribed handles, the present [`OtherMember`]s and closed
//!   *static* members whose session has not run out (a static member sends no LeaveGroup). The
//!   assignment is round-robin over the members in join order; each change of membership starts
//!   a new generation. A handle learns of it only inside its next poll (eager protocol): revoke
//!   of the whole old assignment (`hook.revoked`, while still assigned), `hook.before_assign`
//!   (with nothing assigned), the new assignment takes effect, `hook.after_assign`; the poll then
//!   returns `Ok(None)`. A newly assigned partition fetches from its committed offset (0 if none:
//!   `auto.offset.reset=earliest`); a partition kept keeps its position, unless the membership
//!   was lost meanwhile (max.poll or session expiry), in which case every position restarts from
//!   the committed offset.
//! * **Other members** take their share; a *consuming* one handles and commits every record of
//!   its partitions (from the committed offset to the end) as soon as no member handle still
//!   holds them — the old owner served the revocation, or is out of the group — so a partition
//!   that comes back is read from where that member committed.
//! * **Pause** is a per-handle, per-partition flag that survives revocation; `pause` applies
//!   only to partitions assigned right now (so a pause in `before_assign` does not stick),
//!   `resume` clears the flag of every partition named.
//! * **Broker outage**: polls fail at once with `BrokerTransport` (non-retriable, as
//!   confluent-kafka-go's `IsRetriable()` says of local transport errors), commits and
//!   `committed` fail; pause, resume, seek and assignment are local and work; creation works.
//!   An outage longer than the session timeout expires every member at `from + session`; each
//!   rejoins at its first poll after the outage.
//! * **max.poll.interval**: a member not polled for that long (measured, as librdkafka does, from
//!   the start or end of its latest poll; never while a poll is in progress) leaves the group;
//!   its next poll returns `MaxPollExceeded` once, the poll after rejoins.
//! * **Static ids**: creating a handle with an instance id that an open handle, or a closed
//!   static member whose session has not run out, still holds fences the *new* handle (every
//!   poll: `Fenced`, fatal; it never joins).
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

impl<R: Runtime> ConsumerFactory for World<R> {
    type Handle = WorldHandle<R>;

    /// Creates a handle (`c1`, `c2`, … in creation order) and subscribes it: it joins the group
    /// at once (or at its first poll after a broker outage), or is fenced when another member
    /// still holds its static instance id.
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
        let mut h = HandleState::new(id, instance_id.clone(), sh.cfg.partitions, now);
        sh.log.record(Some(id), EventKind::Created { instance_id });
        let holder = h.instance_id.as_deref().and_then(|iid| {
            st.handles
                .iter()
                .find(|o| {
                    o.instance_id.as_deref() == Some(iid)
                        && !o.fenced
                        && (!o.closed || o.member.is_some())
                })
                .map(|o| o.id)
        });
        let fenced_by = holder.zip(h.instance_id.clone());
        if fenced_by.is_some() {
            h.fenced = true;
        }
        st.handles.push(h);
        if let Some((holder, instance_id)) = fenced_by {
            tracing::debug!(handle = %id, %holder, "fenced");
            sh.log.record(
                Some(id),
                EventKind::Fenced {
                    instance_id,
                    holder,
                },
            );
        } else if sh.cfg.outage_at(now).is_some() {
            st.handles[k].needs_join = true;
        } else {
            st.join(&sh.cfg, k);
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

    /// Serves a rebalance inside a poll: revoke (hook while still assigned), unassign,
    /// before_assign, assign, after_assign. The lock is not held here.
    fn serve(&self, plan: Plan) {
        let (sh, k, hook) = (self.sh(), self.inner.k, &self.inner.hook);
        if !plan.old.is_empty() {
            {
                let mut st = sh.state.lock();
                st.handles[k].revoke_grace = !plan.reset;
                sh.log
                    .record(Some(self.inner.id), EventKind::Revoked(plan.old.clone()));
            }
            hook.revoked(self, &plan.old);
            let mut st = sh.state.lock();
            let h = &mut st.handles[k];
            h.revoke_grace = false;
            h.assigned.clear();
        }
        hook.before_assign(self, &plan.new);
        let new = plan.new.clone();
        if sh.state.lock().apply_plan(&sh.log, k, plan) {
            hook.after_assign(self, &new);
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

    fn pause(&self, partitions: &[Partition]) -> Result<(), KafkaError> {
        let id = self.inner.id;
        self.local("pause", |st, sh, now| {
            let slip = sh.cfg.slip_at(now);
            let high = st.high.clone();
            let h = &mut st.handles[self.inner.k];
            let mut applied = Vec::with_capacity(partitions.len());
            for &p in partitions {
                if h.assigned.contains(&p) {
                    let pi = p as usize;
                    // A fetching partition with a record ready has it in the client already.
                    if !h.paused[pi] && h.position[pi] < high[pi] && slip.is_some() {
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

    fn commit(&self, offsets: &[(Partition, Offset)]) -> Result<(), KafkaError> {
        let (sh, k, id) = (self.sh(), self.inner.k, self.inner.id);
        let slow = sh.cfg.slow_commit;
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
            }
            sh.rt.sleep(slow);
        }
        self.local("commit", |st, sh, now| {
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
        self.local("high_watermark", |st, sh, now| {
            if let Some(i) = sh.cfg.outage_at(now) {
                st.fault_hit(i);
                return Err(err(
                    ErrorClass::NonRetriable,
                    ErrorCode::BrokerTransport,
                    "broker transport failure (all brokers down)",
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
        self.local("committed", |st, sh, now| {
            if let Some(i) = sh.cfg.outage_at(now) {
                st.fault_hit(i);
                return Err(err(
                    ErrorClass::NonRetriable,
                    ErrorCode::BrokerTransport,
                    "broker transport failure (all brokers down)",
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
            let h = &mut st.handles[k];
            h.closed = true;
            h.closed_at = now;
            // A dynamic member leaves the group now; a static one stays until its session
            // runs out (no LeaveGroup, KIP-345).
            let leaves = h.member.is_some() && h.instance_id.is_none();
            if leaves {
                h.member = None;
                st.membership_changed(&sh.cfg);
            }
            st.notify_handle(k);
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
