//! The world's state and its rules, all under the world's one lock. Nothing in here blocks or
//! calls user code: the operations in `mod.rs` release the lock around hooks and waits.

use super::spec::{default_class, Fault, OtherMember, WorldSpec};
use crate::log::{EventKind, EventLog, Expiry};
use pausebeat::kafka::{ErrorClass, ErrorCode, HandleId, KafkaError, Offset, Partition, Record};
use pausebeat::sync::{Instant, Runtime, Signal};
use std::sync::Arc;
use std::time::Duration;

/// The immutable part of the world, derived from its [`WorldSpec`].
pub(super) struct Config {
    /// Partitions of the topic.
    pub partitions: usize,
    /// Productions in time order: when, which partition, how many.
    pub schedule: Vec<(Instant, usize, u32)>,
    pub session: Duration,
    pub max_poll: Duration,
    pub faults: Vec<Fault>,
    pub members: Vec<OtherMember>,
    pub slow_close: Duration,
    pub slow_create: Duration,
    pub slow_commit: Duration,
    /// Added to `slow_close` / `slow_create`, one chosen per call (empty: none).
    pub close_choices: Vec<Duration>,
    pub create_choices: Vec<Duration>,
}

impl Config {
    /// Builds the configuration, dropping what makes no sense (with a note in `notes`).
    pub fn new(spec: WorldSpec, notes: &mut Vec<String>) -> Config {
        let partitions = if spec.partitions < 1 {
            notes.push(format!(
                "spec: {} partitions makes no topic; using 1",
                spec.partitions
            ));
            1
        } else {
            spec.partitions as usize
        };
        let mut schedule = Vec::with_capacity(spec.records.len());
        for (at, p, count) in spec.records {
            if p < 0 || p as usize >= partitions {
                notes.push(format!(
                    "spec: {count} records for partition {p} ignored (the topic has {partitions})"
                ));
                continue;
            }
            schedule.push((Instant::from_origin(at), p as usize, count));
        }
        schedule.sort_by_key(|e| e.0); // stable: same-time productions keep their order
        let mut members = spec.members;
        for (i, m) in members.iter_mut().enumerate() {
            if let Some(l) = m.leaves_at.filter(|l| *l < m.joins_at) {
                notes.push(format!(
                    "spec: member m{} leaves at {l:?} before it joins; it leaves when it joins",
                    i + 1
                ));
                m.leaves_at = Some(m.joins_at);
            }
        }
        let sum = |pick: fn(&Fault) -> Option<Duration>| -> Duration {
            spec.faults.iter().filter_map(pick).sum()
        };
        let slow_close = sum(|f| match f {
            Fault::SlowClose(d) => Some(*d),
            _ => None,
        });
        let slow_create = sum(|f| match f {
            Fault::SlowCreate(d) => Some(*d),
            _ => None,
        });
        let choices = |close: bool| -> Vec<Duration> {
            spec.faults
                .iter()
                .find_map(|f| match f {
                    Fault::CloseTakesOneOf(v) if close && !v.is_empty() => Some(v.clone()),
                    Fault::CreateTakesOneOf(v) if !close && !v.is_empty() => Some(v.clone()),
                    _ => None,
                })
                .unwrap_or_default()
        };
        let (close_choices, create_choices) = (choices(true), choices(false));
        let slow_commit = sum(|f| match f {
            Fault::SlowCommit(d) => Some(*d),
            _ => None,
        });
        Config {
            partitions,
            schedule,
            session: spec.session_timeout,
            max_poll: spec.max_poll_interval,
            faults: spec.faults,
            members,
            slow_close,
            slow_create,
            close_choices,
            create_choices,
            slow_commit,
        }
    }

    /// The broker outage covering `now`, if any.
    pub fn outage_at(&self, now: Instant) -> Option<usize> {
        let t = now.since_origin();
        self.faults
            .iter()
            .position(|f| matches!(*f, Fault::BrokerDown { from, until } if from <= t && t < until))
    }

    fn window_at(&self, now: Instant, want: fn(&Fault) -> bool) -> Option<usize> {
        let t = now.since_origin();
        self.faults.iter().position(|f| {
            want(f)
                && f.window()
                    .is_some_and(|(from, until)| from <= t && t < until)
        })
    }

    /// The `PollErrors` fault covering `now`.
    pub fn poll_error_at(&self, now: Instant) -> Option<(usize, ErrorClass, ErrorCode)> {
        let i = self.window_at(now, |f| matches!(f, Fault::PollErrors { .. }))?;
        match self.faults[i] {
            Fault::PollErrors { class, code, .. } => Some((i, class, code)),
            _ => None,
        }
    }

    /// The `CommitFails` fault covering `now`.
    pub fn commit_fail_at(&self, now: Instant) -> Option<(usize, ErrorCode)> {
        let i = self.window_at(now, |f| matches!(f, Fault::CommitFails { .. }))?;
        match self.faults[i] {
            Fault::CommitFails { code, .. } => Some((i, code)),
            _ => None,
        }
    }

    /// The `SlipAfterPause` fault covering `now`.
    pub fn slip_at(&self, now: Instant) -> Option<usize> {
        self.window_at(now, |f| matches!(f, Fault::SlipAfterPause { .. }))
    }

    /// The `CreateFails` fault covering `now`.
    pub fn create_fail_at(&self, now: Instant) -> Option<usize> {
        self.window_at(now, |f| matches!(f, Fault::CreateFails { .. }))
    }

    /// The first fault of a kind (for logging the slow ones).
    pub fn first(&self, want: fn(&Fault) -> bool) -> Option<usize> {
        self.faults.iter().position(want)
    }
}

/// Per fault: what of it has been logged or applied.
#[derive(Clone, Copy, Default)]
struct FaultSeen {
    /// Its effect was logged (broker down, first failed poll/commit/create, first slow op).
    effect: bool,
    /// Broker outage: the end was logged.
    ended: bool,
    /// Broker outage: the members' sessions were expired.
    expired: bool,
    /// It changed what an operation of the design did (an operation failed, or took longer).
    hit: bool,
}

struct OtherState {
    member: Option<u64>,
    joined: bool,
    left: bool,
    target: Vec<Partition>,
}

/// A thread inside `poll` or `close` of a handle.
pub(super) struct Active {
    pub token: u64,
    pub thread: String,
    pub op: &'static str,
}

/// One consumer handle, as the world sees it.
pub(super) struct HandleState {
    pub id: HandleId,
    pub instance_id: Option<String>,
    /// Its join sequence number while it is a member of the group.
    pub member: Option<u64>,
    /// What the group assigns it (meaningful while a member).
    pub target: Vec<Partition>,
    /// What it has been told (served inside a poll), ascending.
    pub assigned: Vec<Partition>,
    /// Fetch position per partition.
    pub position: Vec<Offset>,
    /// Pause flag per partition (kept across rebalances, as librdkafka does).
    pub paused: Vec<bool>,
    /// Per partition: a record fetched before a pause that still comes out of the next poll
    /// (`Fault::SlipAfterPause`, the fault's index).
    pub slipping: Vec<Option<usize>>,
    /// The group generation whose assignment it has been told.
    pub served_gen: u64,
    /// Not a member but it will (re)join at its next poll.
    pub needs_join: bool,
    /// It lost its membership: on the next assignment every position restarts from committed.
    pub reset_positions: bool,
    /// Inside the revoke callback of a rebalance that did not lose the membership: commits of the
    /// old generation's partitions still succeed (eager protocol).
    pub revoke_grace: bool,
    /// An error the next poll returns once (max.poll exceeded).
    pub pending_error: Option<ErrorCode>,
    pub fenced: bool,
    pub closed: bool,
    pub closed_at: Instant,
    pub close_calls: u32,
    /// librdkafka's "last poll": the start (and end) of the latest poll, or the creation.
    pub last_poll: Instant,
    /// Threads inside poll now (no max.poll expiry meanwhile).
    pub polling: u32,
    pub active: Vec<Active>,
    /// The handle's own wait signal is in use by a poller.
    pub signal_busy: bool,
}

/// The mutable world.
pub(super) struct State<R: Runtime> {
    prod_idx: usize,
    pub high: Vec<Offset>,
    pub committed: Vec<Option<Offset>>,
    seen: Vec<FaultSeen>,
    others: Vec<OtherState>,
    pub handles: Vec<HandleState>,
    pub generation: u64,
    next_seq: u64,
    next_token: u64,
    /// Pollers waiting for something to happen: (handle index, its signal).
    pub waiters: Vec<(usize, Arc<R::Signal>)>,
}

/// A time-based rule that is due.
#[derive(Clone, Copy)]
enum Due {
    OutageBegin(usize),
    OutageExpiry(usize),
    OutageEnd(usize),
    Join(usize),
    Leave(usize),
    StaticExpiry(usize),
    MaxPoll(usize),
}

/// What one pass of a poll found to do.
pub(super) enum Step {
    /// Return this.
    Done(Result<Option<Record>, KafkaError>),
    /// Serve this rebalance (hooks run without the lock).
    Rebalance(Plan),
    /// Nothing to return yet.
    Wait,
}

/// A rebalance to serve inside a poll.
pub(super) struct Plan {
    pub old: Vec<Partition>,
    pub new: Vec<Partition>,
    pub gen: u64,
    pub reset: bool,
}

pub(super) fn err(class: ErrorClass, code: ErrorCode, msg: &str) -> KafkaError {
    KafkaError::new(class, code, msg)
}

pub(super) fn closed_err() -> KafkaError {
    err(
        ErrorClass::NonRetriable,
        ErrorCode::Closed,
        "the consumer is closed",
    )
}

fn fmt_at(d: Duration) -> String {
    Instant::from_origin(d).to_string().trim_start().to_string()
}

impl<R: Runtime> State<R> {
    pub fn new(cfg: &Config) -> Self {
        State {
            prod_idx: 0,
            high: vec![0; cfg.partitions],
            committed: vec![None; cfg.partitions],
            seen: vec![FaultSeen::default(); cfg.faults.len()],
            others: cfg
                .members
                .iter()
                .map(|_| OtherState {
                    member: None,
                    joined: false,
                    left: false,
                    target: Vec::new(),
                })
                .collect(),
            handles: Vec::new(),
            generation: 0,
            next_seq: 0,
            next_token: 0,
            waiters: Vec::new(),
        }
    }

    pub fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    /// Notes that fault `i` changed what an operation did.
    pub fn fault_hit(&mut self, i: usize) {
        self.seen[i].hit = true;
    }

    /// For each fault of the spec: whether it changed what some operation did.
    pub fn faults_hit(&self) -> Vec<bool> {
        self.seen.iter().map(|s| s.hit).collect()
    }

    /// Logs the effect of fault `i` the first time it is seen (and notes it hit an operation).
    pub fn fault_effect(&mut self, log: &EventLog<R>, i: usize, text: impl FnOnce() -> String) {
        self.seen[i].hit = true;
        if !self.seen[i].effect {
            self.seen[i].effect = true;
            tracing::debug!(fault = i, "fault takes effect");
            log.record(None, EventKind::Fault(text()));
        }
    }

    /// Calls `f` with every pending time-based rule and its instant.
    fn each_pending(&self, cfg: &Config, mut f: impl FnMut(Instant, Due)) {
        for (i, fault) in cfg.faults.iter().enumerate() {
            if let Fault::BrokerDown { from, until } = *fault {
                let s = self.seen[i];
                if !s.effect {
                    f(Instant::from_origin(from), Due::OutageBegin(i));
                }
                if !s.expired && until.saturating_sub(from) > cfg.session {
                    f(
                        Instant::from_origin(from + cfg.session),
                        Due::OutageExpiry(i),
                    );
                }
                if !s.ended {
                    f(Instant::from_origin(until), Due::OutageEnd(i));
                }
            }
        }
        for (j, m) in cfg.members.iter().enumerate() {
            let o = &self.others[j];
            if !o.joined {
                f(Instant::from_origin(m.joins_at), Due::Join(j));
            } else if !o.left {
                if let Some(l) = m.leaves_at {
                    f(Instant::from_origin(l), Due::Leave(j));
                }
            }
        }
        for (k, h) in self.handles.iter().enumerate() {
            if h.member.is_none() {
                continue;
            }
            if h.closed {
                if h.instance_id.is_some() {
                    f(h.closed_at + cfg.session, Due::StaticExpiry(k));
                }
            } else if h.polling == 0 {
                f(h.last_poll + cfg.max_poll, Due::MaxPoll(k));
            }
        }
    }

    /// The earliest pending rule (ties: faults, then other members, then handles, in order).
    fn next_due(&self, cfg: &Config) -> Option<(Instant, Due)> {
        let mut best: Option<(Instant, Due)> = None;
        self.each_pending(cfg, |t, d| {
            if best.is_none_or(|(bt, _)| t < bt) {
                best = Some((t, d));
            }
        });
        best
    }

    /// Applies every time-based rule due by `now`, in time order: productions, fault
    /// boundaries, other members joining and leaving, session and max.poll expiries.
    pub fn advance(&mut self, cfg: &Config, log: &EventLog<R>, now: Instant) {
        while let Some(&(at, p, count)) = cfg.schedule.get(self.prod_idx) {
            if at > now {
                break;
            }
            self.high[p] += Offset::from(count);
            self.prod_idx += 1;
        }
        let mut changed = false;
        while let Some((at, due)) = self.next_due(cfg) {
            if at > now {
                break;
            }
            changed |= self.apply(cfg, log, now, at, due);
        }
        if changed {
            self.membership_changed(cfg);
        }
        self.others_consume(cfg, log);
    }

    /// The consuming other members handle and commit what is in the partitions they hold, once
    /// no member handle still holds them (the old owner served the revocation or left).
    fn others_consume(&mut self, cfg: &Config, log: &EventLog<R>) {
        for (j, o) in self.others.iter().enumerate() {
            if o.member.is_none() || !cfg.members[j].consumes {
                continue;
            }
            for &p in &o.target {
                let pi = p as usize;
                let from = self.committed[pi].unwrap_or(0);
                if from >= self.high[pi] {
                    continue;
                }
                let held = self
                    .handles
                    .iter()
                    .any(|h| h.member.is_some() && !h.closed && h.assigned.contains(&p));
                if held {
                    continue;
                }
                let to = self.high[pi];
                self.committed[pi] = Some(to);
                tracing::debug!(
                    member = j + 1,
                    partition = p,
                    from,
                    to,
                    "other member handles"
                );
                log.record(
                    None,
                    EventKind::OtherMemberHandled {
                        member: format!("m{}", j + 1),
                        partition: p,
                        from,
                        to,
                    },
                );
            }
        }
    }

    fn apply(
        &mut self,
        cfg: &Config,
        log: &EventLog<R>,
        now: Instant,
        at: Instant,
        due: Due,
    ) -> bool {
        let late = |what: &str| {
            (at < now)
                .then(|| EventKind::Fault(format!("{what} at {}", at.to_string().trim_start())))
        };
        match due {
            Due::OutageBegin(i) => {
                self.seen[i].effect = true;
                if let Fault::BrokerDown { from, until } = cfg.faults[i] {
                    tracing::debug!(?from, ?until, "all brokers down");
                    log.record(
                        None,
                        EventKind::Fault(format!(
                            "all brokers down from {} until {}",
                            fmt_at(from),
                            fmt_at(until)
                        )),
                    );
                }
                false
            }
            Due::OutageEnd(i) => {
                self.seen[i].ended = true;
                if let Fault::BrokerDown { until, .. } = cfg.faults[i] {
                    log.record(
                        None,
                        EventKind::Fault(format!("brokers up again at {}", fmt_at(until))),
                    );
                }
                // Pollers sleeping through an outage do not exist (polls fail at once), but
                // wake any waiter anyway: fetching is possible again.
                self.notify_all();
                false
            }
            Due::OutageExpiry(i) => {
                self.seen[i].expired = true;
                let mut changed = false;
                for k in 0..self.handles.len() {
                    if self.handles[k].member.is_none() {
                        continue;
                    }
                    if let Some(e) = late(&format!(
                        "{}: no heartbeat reached the coordinator for session.timeout; expired",
                        self.handles[k].id
                    )) {
                        log.record(Some(self.handles[k].id), e);
                    }
                    let h = &mut self.handles[k];
                    h.member = None;
                    if !h.closed {
                        h.needs_join = true;
                        h.reset_positions = true;
                    }
                    log.record(Some(h.id), EventKind::Expired(Expiry::Session));
                    changed = true;
                }
                changed
            }
            Due::Join(j) => {
                let o = &mut self.others[j];
                o.joined = true;
                o.member = Some(self.next_seq);
                self.next_seq += 1;
                tracing::debug!(member = j + 1, "other member joins");
                log.record(
                    None,
                    EventKind::Workload(format!("member m{} joins", j + 1)),
                );
                true
            }
            Due::Leave(j) => {
                let o = &mut self.others[j];
                o.left = true;
                o.member = None;
                log.record(
                    None,
                    EventKind::Workload(format!("member m{} leaves", j + 1)),
                );
                true
            }
            Due::StaticExpiry(k) => {
                if let Some(e) = late(&format!(
                    "{}: the closed static member's session ran out",
                    self.handles[k].id
                )) {
                    log.record(Some(self.handles[k].id), e);
                }
                let h = &mut self.handles[k];
                h.member = None;
                log.record(Some(h.id), EventKind::Expired(Expiry::Session));
                true
            }
            Due::MaxPoll(k) => {
                if let Some(e) = late(&format!(
                    "{}: max.poll.interval ran out",
                    self.handles[k].id
                )) {
                    log.record(Some(self.handles[k].id), e);
                }
                let h = &mut self.handles[k];
                tracing::debug!(handle = %h.id, "max.poll.interval exceeded");
                h.member = None;
                h.needs_join = true;
                h.reset_positions = true;
                h.pending_error = Some(ErrorCode::MaxPollExceeded);
                log.record(Some(h.id), EventKind::Expired(Expiry::MaxPoll));
                true
            }
        }
    }

    /// The earliest instant after `now` at which something could change for a poller: a
    /// production, a fault boundary, a member joining or leaving, an expiry.
    pub fn next_wake(&self, cfg: &Config, now: Instant) -> Option<Instant> {
        let mut best = cfg.schedule.get(self.prod_idx).map(|e| e.0);
        let mut consider = |t: Instant| {
            if t > now && best.is_none_or(|b| t < b) {
                best = Some(t);
            }
        };
        self.each_pending(cfg, |t, _| consider(t));
        for f in &cfg.faults {
            if let Fault::PollErrors { from, until, .. } = *f {
                consider(Instant::from_origin(from));
                consider(Instant::from_origin(until));
            }
        }
        best
    }

    /// Recomputes the group's assignment (round-robin over the members in join order) and
    /// starts a new generation; wakes every poller so that it serves the rebalance.
    pub fn membership_changed(&mut self, cfg: &Config) {
        // (join seq, handle index or !other index)
        let mut members: Vec<(u64, bool, usize)> = Vec::with_capacity(4);
        for (k, h) in self.handles.iter_mut().enumerate() {
            h.target.clear();
            if let Some(s) = h.member {
                members.push((s, true, k));
            }
        }
        for (j, o) in self.others.iter_mut().enumerate() {
            o.target.clear();
            if let Some(s) = o.member {
                members.push((s, false, j));
            }
        }
        members.sort_unstable();
        if !members.is_empty() {
            for p in 0..cfg.partitions {
                let (_, is_handle, i) = members[p % members.len()];
                if is_handle {
                    self.handles[i].target.push(p as Partition);
                } else {
                    self.others[i].target.push(p as Partition);
                }
            }
        }
        self.generation += 1;
        self.notify_all();
    }

    /// Makes handle `k` a member of the group (new generation).
    pub fn join(&mut self, cfg: &Config, k: usize) {
        self.handles[k].member = Some(self.next_seq);
        self.handles[k].needs_join = false;
        self.next_seq += 1;
        self.membership_changed(cfg);
    }

    /// Wakes every waiting poller.
    pub fn notify_all(&self) {
        for (_, s) in &self.waiters {
            s.notify();
        }
    }

    /// Wakes the pollers of handle `k`.
    pub fn notify_handle(&self, k: usize) {
        for (i, s) in &self.waiters {
            if *i == k {
                s.notify();
            }
        }
    }

    /// The group as (member name, partitions), in join order.
    pub fn group(&self) -> Vec<(String, Vec<Partition>)> {
        let mut members: Vec<(u64, String, Vec<Partition>)> = Vec::new();
        for h in &self.handles {
            if let Some(s) = h.member {
                members.push((s, h.id.to_string(), h.target.clone()));
            }
        }
        for (j, o) in self.others.iter().enumerate() {
            if let Some(s) = o.member {
                members.push((s, format!("m{}", j + 1), o.target.clone()));
            }
        }
        members.sort();
        members.into_iter().map(|(_, n, p)| (n, p)).collect()
    }

    /// One pass of a poll of handle `k` (the lock is held, `advance` has run).
    pub fn poll_step(&mut self, cfg: &Config, log: &EventLog<R>, k: usize, now: Instant) -> Step {
        let h = &self.handles[k];
        if h.closed {
            return Step::Done(Err(closed_err()));
        }
        if h.fenced {
            return Step::Done(Err(err(
                ErrorClass::Fatal,
                ErrorCode::Fenced,
                "FENCED_INSTANCE_ID: another member holds this group.instance.id",
            )));
        }
        if let Some(i) = cfg.outage_at(now) {
            self.fault_hit(i);
            return Step::Done(Err(err(
                ErrorClass::NonRetriable,
                ErrorCode::BrokerTransport,
                "broker transport failure (all brokers down)",
            )));
        }
        if let Some((i, class, code)) = cfg.poll_error_at(now) {
            self.fault_effect(log, i, || format!("polls fail with {code:?} ({class:?})"));
            return Step::Done(Err(err(class, code, "injected poll error")));
        }
        if let Some(code) = self.handles[k].pending_error.take() {
            return Step::Done(Err(err(
                ErrorClass::NonRetriable,
                code,
                "application maximum poll interval exceeded: left the group",
            )));
        }
        if self.handles[k].member.is_none() && self.handles[k].needs_join {
            self.join(cfg, k);
        }
        let h = &mut self.handles[k];
        if h.member.is_none() {
            return Step::Wait;
        }
        if h.served_gen != self.generation {
            return Step::Rebalance(Plan {
                old: h.assigned.clone(),
                new: h.target.clone(),
                gen: self.generation,
                reset: h.reset_positions,
            });
        }
        // A record fetched before the pause comes out first.
        for &p in &h.assigned {
            let pi = p as usize;
            if let Some(i) = h.slipping[pi].take() {
                if h.position[pi] < self.high[pi] {
                    let offset = h.position[pi];
                    h.position[pi] += 1;
                    self.fault_effect(log, i, || {
                        format!("a record fetched before the pause still comes out: p{p}@{offset}")
                    });
                    return Step::Done(Ok(Some(Record {
                        partition: p,
                        offset,
                        payload: Vec::new(),
                    })));
                }
            }
        }
        let h = &mut self.handles[k];
        for &p in &h.assigned {
            let pi = p as usize;
            if !h.paused[pi] && h.position[pi] < self.high[pi] {
                let offset = h.position[pi];
                h.position[pi] += 1;
                return Step::Done(Ok(Some(Record {
                    partition: p,
                    offset,
                    payload: Vec::new(),
                })));
            }
        }
        Step::Wait
    }

    /// Applies a served rebalance's new assignment to handle `k`; false if the handle was closed
    /// meanwhile (nothing applied).
    pub fn apply_plan(&mut self, log: &EventLog<R>, k: usize, plan: Plan) -> bool {
        let State {
            handles, committed, ..
        } = self;
        let h = &mut handles[k];
        if h.closed {
            return false;
        }
        for &p in &plan.new {
            if plan.reset || !plan.old.contains(&p) {
                h.position[p as usize] = committed[p as usize].unwrap_or(0);
                // What the client had fetched for it went with the revocation.
                h.slipping[p as usize] = None;
            }
        }
        if h.member.is_some() {
            h.reset_positions = false;
        }
        h.served_gen = plan.gen;
        let paused: Vec<Partition> = plan
            .new
            .iter()
            .copied()
            .filter(|&p| h.paused[p as usize])
            .collect();
        h.assigned.clone_from(&plan.new);
        log.record(
            Some(h.id),
            EventKind::Assigned {
                partitions: plan.new,
                paused,
            },
        );
        true
    }

    /// Whether handle `k` may commit these offsets now (the handle is open).
    pub fn commit_check(
        &mut self,
        cfg: &Config,
        log: &EventLog<R>,
        k: usize,
        now: Instant,
        offsets: &[(Partition, Offset)],
    ) -> Result<(), KafkaError> {
        let h = &self.handles[k];
        if h.fenced {
            return Err(err(
                ErrorClass::Fatal,
                ErrorCode::Fenced,
                "FENCED_INSTANCE_ID",
            ));
        }
        if let Some(i) = cfg.outage_at(now) {
            self.fault_hit(i);
            return Err(err(
                ErrorClass::NonRetriable,
                ErrorCode::BrokerTransport,
                "broker transport failure (all brokers down)",
            ));
        }
        if let Some((i, code)) = cfg.commit_fail_at(now) {
            self.fault_effect(log, i, || format!("commits fail with {code:?}"));
            return Err(err(default_class(code), code, "injected commit failure"));
        }
        if offsets.is_empty() {
            return Err(err(
                ErrorClass::NonRetriable,
                ErrorCode::NoOffset,
                "no offsets to commit",
            ));
        }
        let h = &self.handles[k];
        if h.member.is_none() {
            return Err(err(
                ErrorClass::NonRetriable,
                ErrorCode::UnknownMember,
                "UNKNOWN_MEMBER_ID: not a member of the group",
            ));
        }
        for &(p, _) in offsets {
            let ok = p >= 0
                && (p as usize) < cfg.partitions
                && h.assigned.contains(&p)
                && (h.target.contains(&p) || h.revoke_grace);
            if !ok {
                return Err(err(
                    ErrorClass::NonRetriable,
                    ErrorCode::UnknownMember,
                    "partition not assigned to this member in the current generation",
                ));
            }
        }
        Ok(())
    }
}

impl HandleState {
    pub fn new(id: HandleId, instance_id: Option<String>, partitions: usize, now: Instant) -> Self {
        HandleState {
            id,
            instance_id,
            member: None,
            target: Vec::new(),
            assigned: Vec::new(),
            position: vec![0; partitions],
            paused: vec![false; partitions],
            slipping: vec![None; partitions],
            served_gen: 0,
            needs_join: false,
            reset_positions: false,
            revoke_grace: false,
            pending_error: None,
            fenced: false,
            closed: false,
            closed_at: now,
            close_calls: 0,
            last_poll: now,
            polling: 0,
            active: Vec::new(),
            signal_busy: false,
        }
    }

    /// The first entry of another thread inside poll/close.
    pub fn other_active(&self, thread: &str) -> Option<&Active> {
        self.active.iter().find(|a| a.thread != thread)
    }

    /// Removes the entry with this token.
    pub fn leave(&mut self, token: u64) {
        if let Some(i) = self.active.iter().position(|a| a.token == token) {
            self.active.swap_remove(i);
        }
    }
}
