//! The world's state and its rules, all under the world's one lock. Nothing in here blocks or
//! calls user code: the operations in `mod.rs` release the lock around hooks and waits.
//!
//! Each rule names its oracle (`docs/world.md` lists them all with their conformance cases):
//! librdkafka 2.12.1 for what the client does, Kafka's group coordinator (apache/kafka,
//! `group-coordinator/.../GroupMetadataManager.java`, `classic/ClassicGroup.java`) for what the
//! broker does where librdkafka's mock cluster departs from it.

use super::spec::{default_class, Fault, OtherMember, WorldSpec};
use crate::log::{EventKind, EventLog, Expiry};
use pausebeat::kafka::{
    ErrorClass, ErrorCode, HandleId, KafkaError, Offset, Partition, Record, Timestamp,
};
use pausebeat::sync::{Backend, Instant, Runtime, Signal};
use std::sync::Arc;
use std::time::Duration;

/// The modeled topic's name.
pub(super) const TOPIC: &str = "pausebeat";

/// librdkafka suppresses an identical connection error of a broker for 30 s
/// (`rd_kafka_broker_set_error`, `rkb_suppress.fail_error`): during a long outage the client
/// reports `_TRANSPORT` again every 30 s.
pub(super) const TRANSPORT_ERROR_EVERY: Duration = Duration::from_secs(30);

/// An injected poll error is one failed request, not one per poll: a handle gets it again at
/// most this often while the window lasts (librdkafka queues one error event per failure; polls
/// in between wait as usual).
pub(super) const POLL_ERROR_EVERY: Duration = Duration::from_secs(1);

/// The immutable part of the world, derived from its [`WorldSpec`].
pub(super) struct Config {
    /// Partitions of the topic.
    pub partitions: usize,
    /// Productions in time order: when, which partition, how many.
    pub schedule: Vec<(Instant, usize, u32)>,
    pub session: Duration,
    pub max_poll: Duration,
    /// `group.initial.rebalance.delay.ms` of the broker.
    pub initial_delay: Duration,
    pub faults: Vec<Fault>,
    pub members: Vec<OtherMember>,
    pub slow_close: Duration,
    pub slow_create: Duration,
    pub slow_commit: Duration,
    /// Added to `slow_close` / `slow_create`, one chosen per call (empty: none).
    pub close_choices: Vec<Duration>,
    pub create_choices: Vec<Duration>,
    /// How much longer than its barrier a rebalance's join phase takes, one chosen per
    /// rebalance (empty: no extra time).
    pub rebalance_choices: Vec<Duration>,
    /// The topic's name, shared by every record.
    pub topic: Arc<str>,
    /// Per partition: (first offset, how many, when) of each production, in offset order.
    produced: Vec<Vec<(Offset, u32, Duration)>>,
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
        let mut produced: Vec<Vec<(Offset, u32, Duration)>> = vec![Vec::new(); partitions];
        for &(at, p, n) in &schedule {
            let first = produced[p]
                .last()
                .map_or(0, |&(o, c, _)| o + Offset::from(c));
            produced[p].push((first, n, at.since_origin()));
        }
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
        let slow_commit = sum(|f| match f {
            Fault::SlowCommit(d) => Some(*d),
            _ => None,
        });
        let choices = |want: fn(&Fault) -> Option<&Vec<Duration>>| -> Vec<Duration> {
            spec.faults
                .iter()
                .filter_map(want)
                .find(|v| !v.is_empty())
                .cloned()
                .unwrap_or_default()
        };
        Config {
            partitions,
            schedule,
            session: spec.session_timeout,
            max_poll: spec.max_poll_interval,
            initial_delay: spec.initial_rebalance_delay,
            close_choices: choices(|f| match f {
                Fault::CloseTakesOneOf(v) => Some(v),
                _ => None,
            }),
            create_choices: choices(|f| match f {
                Fault::CreateTakesOneOf(v) => Some(v),
                _ => None,
            }),
            rebalance_choices: choices(|f| match f {
                Fault::RebalanceTakesOneOf(v) => Some(v),
                _ => None,
            }),
            faults: spec.faults,
            topic: Arc::from(TOPIC),
            produced,
            members,
            slow_close,
            slow_create,
            slow_commit,
        }
    }

    /// The record the world produced at `partition` / `offset`: a key, a value, two headers
    /// (`seq` twice: names may repeat) and the production time as its create time. Every record
    /// is distinct, so a handler can tell that what it was handed is what was produced.
    pub fn record(&self, partition: usize, offset: Offset) -> Record {
        let at = self.produced[partition]
            .iter()
            .find(|&&(first, n, _)| offset >= first && offset < first + Offset::from(n))
            .map_or(Duration::ZERO, |&(_, _, at)| at);
        Record::new(self.topic.clone(), partition as Partition, offset)
            .with_key(format!("k{partition}-{offset}").into_bytes())
            .with_payload(
                format!("p{partition}@{offset} produced at {}ms", at.as_millis()).into_bytes(),
            )
            .with_header("seq", Some(offset.to_string().into_bytes()))
            .with_header("seq", None)
            .with_timestamp(Timestamp::CreateTime(at.as_millis() as i64))
    }

    /// The broker outage covering `now`, if any.
    pub fn outage_at(&self, now: Instant) -> Option<usize> {
        let t = now.since_origin();
        self.faults
            .iter()
            .position(|f| matches!(*f, Fault::BrokerDown { from, until } if from <= t && t < until))
    }

    /// When the outage covering `now` ends.
    pub fn outage_end(&self, i: usize) -> Instant {
        match self.faults[i] {
            Fault::BrokerDown { until, .. } => Instant::from_origin(until),
            _ => Instant::from_origin(Duration::ZERO),
        }
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

/// The group's rebalance state (Kafka's classic group: `Empty`/`Stable` are `Settled`;
/// `PreparingRebalance` is `Joining`; `CompletingRebalance` is, per member handle, a pending
/// `sync_at`).
#[derive(Clone, Copy, Debug)]
pub(super) enum GroupPhase {
    /// No rebalance in progress.
    Settled,
    /// Waiting for the members to rejoin (`PreparingRebalance`; the generation is not bumped
    /// yet, so its members may still commit).
    Joining {
        /// The join phase ends here at the latest: the rebalance timeout (librdkafka sends
        /// `max.poll.interval.ms`), after which members that did not rejoin are removed.
        deadline: Instant,
        /// An initial rebalance out of an empty group completes no earlier than this
        /// (`group.initial.rebalance.delay.ms`).
        not_before: Instant,
        /// How much longer than its barrier it takes (chosen by the checkers).
        extra: Duration,
        /// When every member had rejoined (`None`: not yet).
        all_joined_at: Option<Instant>,
    },
}

/// One consumer handle, as the world sees it: the broker's member and the client's group state.
pub(super) struct HandleState {
    pub id: HandleId,
    pub instance_id: Option<String>,
    /// Broker side: its join sequence number while it is a member of the group (its slot; a
    /// static newcomer inherits it).
    pub member: Option<u64>,
    /// Broker side: what the group assigns it (meaningful while a member).
    pub target: Vec<Partition>,
    /// Client side: the generation of its latest JoinGroup response (what its commits carry).
    pub gen: u64,
    /// Client side: told to rejoin (heartbeat `REBALANCE_IN_PROGRESS`); its next poll serves
    /// the revoke and sends JoinGroup.
    pub rejoin: bool,
    /// Client side: JoinGroup sent, waiting for the join phase to complete.
    pub joined: bool,
    /// Client side: the SyncGroup answer (its assignment) is there from this instant; served by
    /// the first poll at or after it.
    pub sync_at: Option<Instant>,
    /// Client side: its assignment was lost (session timeout during an outage, max.poll
    /// exceeded): the next poll serves a revoke of everything.
    pub lost: bool,
    /// Client side: not a member; it (re)joins at its next poll (when brokers are up).
    pub needs_join: bool,
    /// Client side: an assignment was served since the last revoke (the next rebalance revokes,
    /// even an empty list, librdkafka's `rkcg_group_assignment`).
    pub holds_assignment: bool,
    /// Client side: `unsubscribe()` was called: it leaves the group once its revoke is served.
    pub leaving: bool,
    /// Client side: the topic is known locally (after its first assignment): a pause of a
    /// partition not assigned sets its flag then (`rd_kafka_toppar_desired_add`).
    pub topic_known: bool,
    /// What it has been told (served inside a poll), ascending.
    pub assigned: Vec<Partition>,
    /// Fetch position per partition.
    pub position: Vec<Offset>,
    /// Pause flag per partition (kept across rebalances, as librdkafka does).
    pub paused: Vec<bool>,
    /// Per partition: a record fetched before a pause that still comes out of the next poll
    /// (`Fault::SlipAfterPause`, the fault's index).
    pub slipping: Vec<Option<usize>>,
    /// Error events queued for its next polls (one each).
    pub errors: Vec<ErrorCode>,
    /// Broker outage: the outage whose errors were queued, and when `_TRANSPORT` is due again.
    pub outage_errors: Option<(usize, Instant)>,
    /// When an injected poll error may come again.
    pub poll_error_at: Instant,
    /// An error the next poll returns once (max.poll exceeded).
    pub pending_error: Option<ErrorCode>,
    /// Replaced by a newer handle with its static instance id while open (`FENCED_INSTANCE_ID`).
    pub fenced: bool,
    /// The fatal error was reported by a poll (later polls return nothing, as librdkafka does).
    pub fatal_reported: bool,
    /// Broker side: heartbeats stopped reaching the coordinator at this instant while it is
    /// still a member (a closed static member, one that left after max.poll without a
    /// LeaveGroup): the group removes it a session timeout later.
    pub silent_since: Option<Instant>,
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
    pub phase: GroupPhase,
    /// Members of the latest completed generation (0: the group is empty).
    settled_members: usize,
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
    SilentExpiry(usize),
    MaxPoll(usize),
    JoinPhaseEnds,
}

/// What one pass of a poll found to do.
pub(super) enum Step {
    /// Return this.
    Done(Result<Option<Record>, KafkaError>),
    /// Serve this rebalance event (hooks run without the lock); the poll then returns nothing.
    Rebalance(Plan),
    /// Nothing to return yet.
    Wait,
    /// The step changed the group (a join, a rejoin): apply what became due and step again.
    Again,
}

/// A rebalance event to serve inside a poll.
pub(super) enum Plan {
    /// Revoke the whole assignment (eager protocol); `lost`: the membership is gone (no commit
    /// of the old generation can succeed), else the handle rejoins once it is served.
    Revoke { old: Vec<Partition>, lost: bool },
    /// The assignment of the generation the handle joined.
    Assign { new: Vec<Partition>, gen: u64 },
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

pub(super) fn fenced_err() -> KafkaError {
    err(
        ErrorClass::Fatal,
        ErrorCode::Fenced,
        "FENCED_INSTANCE_ID: a newer member took over this group.instance.id",
    )
}

/// The error a poll reports for a queued error event of this code.
fn event_error(code: ErrorCode) -> KafkaError {
    let class = match code {
        // librdkafka's transport and all-brokers-down events: retried by the client forever,
        // never fatal (the rdkafka backend's classification, `pausebeat::rdkafka::classify_code`).
        ErrorCode::BrokerTransport | ErrorCode::AllBrokersDown => ErrorClass::Retriable,
        other => default_class(other),
    };
    let msg = match code {
        ErrorCode::BrokerTransport => "broker transport failure (connection refused)",
        ErrorCode::AllBrokersDown => "all broker connections are down",
        ErrorCode::MaxPollExceeded => "application maximum poll interval exceeded: left the group",
        _ => "error event",
    };
    err(class, code, msg)
}

/// A data choice in `0..n` the checkers explore (0 outside them).
fn pick<R: Runtime>(n: usize) -> usize {
    if n <= 1 {
        0
    } else {
        <R::Backend as Backend>::pick(n).min(n - 1)
    }
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
            phase: GroupPhase::Settled,
            settled_members: 0,
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
            if h.member.is_some() {
                if let Some(t) = h.silent_since {
                    f(t + cfg.session, Due::SilentExpiry(k));
                }
            }
            // librdkafka's max.poll timer runs while the handle holds an assignment (it starts
            // at the assign), never while a poll is in progress.
            if !h.closed && h.holds_assignment && h.polling == 0 && h.pending_error.is_none() {
                f(h.last_poll + cfg.max_poll, Due::MaxPoll(k));
            }
        }
        if let Some(t) = self.join_phase_end() {
            f(t, Due::JoinPhaseEnds);
        }
    }

    /// When the join phase in progress ends (its barrier plus the extra time, or its deadline).
    fn join_phase_end(&self) -> Option<Instant> {
        match self.phase {
            GroupPhase::Settled => None,
            GroupPhase::Joining {
                deadline,
                not_before,
                extra,
                all_joined_at,
            } => Some(match all_joined_at {
                Some(t) => (t.max(not_before) + extra).min(deadline.max(not_before)),
                None => deadline.max(not_before),
            }),
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
    /// boundaries, other members joining and leaving, session and max.poll expiries, the end of
    /// a join phase.
    pub fn advance(&mut self, cfg: &Config, log: &EventLog<R>, now: Instant) {
        while let Some(&(at, p, count)) = cfg.schedule.get(self.prod_idx) {
            if at > now {
                break;
            }
            self.high[p] += Offset::from(count);
            self.prod_idx += 1;
        }
        while let Some((at, due)) = self.next_due(cfg) {
            if at > now {
                break;
            }
            self.apply(cfg, log, now, at, due);
        }
        self.others_consume(cfg, log);
    }

    /// The consuming other members handle and commit what is in the partitions they hold, once
    /// no member handle still holds them (the old owner served the revocation or left).
    fn others_consume(&mut self, cfg: &Config, log: &EventLog<R>) {
        if !matches!(self.phase, GroupPhase::Settled) {
            return; // their assignment comes with the end of the join phase
        }
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

    fn apply(&mut self, cfg: &Config, log: &EventLog<R>, now: Instant, at: Instant, due: Due) {
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
            }
            Due::OutageEnd(i) => {
                self.seen[i].ended = true;
                if let Fault::BrokerDown { until, .. } = cfg.faults[i] {
                    log.record(
                        None,
                        EventKind::Fault(format!("brokers up again at {}", fmt_at(until))),
                    );
                }
                // Waiting commits, joins and fetches go on.
                self.notify_all();
            }
            Due::OutageExpiry(i) => {
                // Both sides: the coordinator heard no heartbeat for session.timeout (it removes
                // the member), and librdkafka's own session check declares the assignment lost
                // (`rd_kafka_cgrp_session_timeout_check`: revoke(lost) at the next poll, member
                // id reset, rejoin once the coordinator is back).
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
                    self.remove_member(k);
                    log.record(
                        Some(self.handles[k].id),
                        EventKind::Expired(Expiry::Session),
                    );
                    changed = true;
                }
                if changed {
                    self.membership_changed(cfg, log, now);
                }
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
                self.membership_changed(cfg, log, now);
            }
            Due::Leave(j) => {
                let o = &mut self.others[j];
                o.left = true;
                o.member = None;
                o.target.clear();
                log.record(
                    None,
                    EventKind::Workload(format!("member m{} leaves", j + 1)),
                );
                self.membership_changed(cfg, log, now);
            }
            Due::SilentExpiry(k) => {
                if let Some(e) = late(&format!(
                    "{}: the silent member's session ran out",
                    self.handles[k].id
                )) {
                    log.record(Some(self.handles[k].id), e);
                }
                let h = &mut self.handles[k];
                h.member = None;
                h.silent_since = None;
                h.target.clear();
                log.record(Some(h.id), EventKind::Expired(Expiry::Session));
                self.membership_changed(cfg, log, now);
            }
            Due::MaxPoll(k) => {
                // `rd_kafka_cgrp_max_poll_interval_check_tmr_cb`: one `_MAX_POLL_EXCEEDED`
                // error, the assignment lost (revoke at the following poll), the member id
                // reset; a dynamic member sends LeaveGroup, a static one does not (KIP-345) and
                // stays in the group until its session runs out or it rejoins.
                if let Some(e) = late(&format!(
                    "{}: max.poll.interval ran out",
                    self.handles[k].id
                )) {
                    log.record(Some(self.handles[k].id), e);
                }
                let h = &mut self.handles[k];
                tracing::debug!(handle = %h.id, "max.poll.interval exceeded");
                h.pending_error = Some(ErrorCode::MaxPollExceeded);
                log.record(Some(h.id), EventKind::Expired(Expiry::MaxPoll));
                if h.instance_id.is_some() {
                    h.lost = h.holds_assignment;
                    h.needs_join = true;
                    h.rejoin = false;
                    h.joined = false;
                    h.sync_at = None;
                    h.silent_since = Some(at);
                } else {
                    self.remove_member(k);
                    self.membership_changed(cfg, log, now);
                }
            }
            Due::JoinPhaseEnds => self.complete_join(cfg, log, now),
        }
    }

    /// Broker side: handle `k` is no longer a member; client side: it lost its assignment and
    /// rejoins at its next poll (if it is open).
    fn remove_member(&mut self, k: usize) {
        let h = &mut self.handles[k];
        h.member = None;
        h.target.clear();
        h.silent_since = None;
        h.rejoin = false;
        h.joined = false;
        h.sync_at = None;
        if !h.closed {
            h.lost = h.holds_assignment;
            h.needs_join = true;
        }
    }

    /// The earliest instant after `now` at which something could change for a poller: a
    /// production, a fault boundary, a member joining or leaving, an expiry, the end of a join
    /// phase, an assignment becoming available, an error event due.
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
        for h in &self.handles {
            if let Some(t) = h.sync_at {
                consider(t);
            }
            if let Some((_, t)) = h.outage_errors {
                consider(t);
            }
            consider(h.poll_error_at);
        }
        best
    }

    /// Broker side: the membership changed (a member joined, left or was removed). A settled
    /// group starts a rebalance (`PreparingRebalance`): every member handle is told to rejoin
    /// (it serves the revoke at its next poll), the other members rejoin at once. A group
    /// already joining just waits for the newcomer as well.
    pub fn membership_changed(&mut self, cfg: &Config, log: &EventLog<R>, now: Instant) {
        if let GroupPhase::Settled = self.phase {
            let members = self.handles.iter().filter(|h| h.member.is_some()).count()
                + self.others.iter().filter(|o| o.member.is_some()).count();
            if members == 0 {
                // Empty: nothing to rebalance; the next member starts an initial rebalance.
                for o in &mut self.others {
                    o.target.clear();
                }
                self.settled_members = 0;
                return;
            }
            // An initial rebalance: the group was empty (`group.initial.rebalance.delay.ms`).
            let initial = self.settled_members == 0;
            // The checkers choose (part of the replayable schedule).
            let extra = cfg
                .rebalance_choices
                .get(pick::<R>(cfg.rebalance_choices.len()))
                .copied()
                .unwrap_or_default();
            self.phase = GroupPhase::Joining {
                deadline: now + cfg.max_poll,
                not_before: if initial {
                    now + cfg.initial_delay
                } else {
                    now
                },
                extra,
                all_joined_at: None,
            };
            tracing::debug!(initial, ?extra, "the group rebalances");
            for h in &mut self.handles {
                if h.member.is_some() && !h.joined {
                    h.rejoin = true;
                    h.sync_at = None;
                }
            }
        }
        self.check_all_joined(log, now);
        self.notify_all();
    }

    /// Notes when every member has rejoined (the join phase can end).
    fn check_all_joined(&mut self, _log: &EventLog<R>, now: Instant) {
        if let GroupPhase::Joining { all_joined_at, .. } = &mut self.phase {
            let waiting = self.handles.iter().any(|h| h.member.is_some() && !h.joined);
            if waiting {
                *all_joined_at = None;
            } else if all_joined_at.is_none() {
                *all_joined_at = Some(now);
            }
        }
    }

    /// The join phase ends (`completeClassicGroupJoin`): members that did not rejoin by the
    /// deadline are removed, the generation is bumped, the leader's round-robin assignment goes
    /// to every member; member handles get theirs with the SyncGroup answer, in a later poll.
    fn complete_join(&mut self, cfg: &Config, log: &EventLog<R>, now: Instant) {
        for k in 0..self.handles.len() {
            let h = &self.handles[k];
            if h.member.is_some() && !h.joined {
                let id = h.id;
                tracing::debug!(handle = %id, "removed: did not rejoin within the rebalance timeout");
                self.remove_member(k);
                log.record(Some(id), EventKind::Expired(Expiry::Session));
            }
        }
        self.generation += 1;
        self.phase = GroupPhase::Settled;
        // (join seq, is a handle, index)
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
        self.settled_members = members.len();
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
        let gen = self.generation;
        for h in &mut self.handles {
            if h.member.is_some() {
                h.gen = gen;
                h.joined = false;
                h.rejoin = false;
                // A closed static member keeps its slot silently: it never syncs.
                h.sync_at = (!h.closed).then_some(now);
            }
        }
        tracing::debug!(generation = gen, "the join phase ends");
        self.notify_all();
    }

    /// Client and broker: handle `k` sends JoinGroup (at creation, or when it rejoins). With a
    /// static instance id held by a member (KIP-345, `updateStaticMemberThenRebalanceOrCompleteJoin`
    /// and `ClassicGroup.replaceStaticMember`), the newcomer *replaces* that member: it takes
    /// its slot and assignment without a rebalance when the group is settled, and the old
    /// incarnation, if its handle is still open, is fenced (`FENCED_INSTANCE_ID` on its next
    /// request). Of two such joins, the later wins. Otherwise it joins as a new member and the
    /// group rebalances.
    pub fn join(&mut self, cfg: &Config, log: &EventLog<R>, k: usize, now: Instant) {
        let holder = self.handles[k].instance_id.clone().and_then(|iid| {
            self.handles
                .iter()
                .position(|o| o.instance_id.as_deref() == Some(iid.as_str()) && o.member.is_some())
                .map(|j| (j, iid))
        });
        let h = &mut self.handles[k];
        h.needs_join = false;
        h.rejoin = false;
        h.sync_at = None;
        match holder {
            Some((j, iid)) => {
                let syncing = self.handles[j].sync_at.is_some();
                let (slot, target, gen) = {
                    let old = &mut self.handles[j];
                    let taken = (old.member.take(), std::mem::take(&mut old.target), old.gen);
                    old.silent_since = None;
                    old.joined = false;
                    old.rejoin = false;
                    old.sync_at = None;
                    taken
                };
                if j != k {
                    let old_id = self.handles[j].id;
                    let new_id = self.handles[k].id;
                    if self.handles[j].closed {
                        log.record(
                            Some(new_id),
                            EventKind::TookOver {
                                instance_id: iid,
                                from: old_id,
                            },
                        );
                    } else {
                        tracing::debug!(old = %old_id, new = %new_id, "static member replaced: fenced");
                        self.handles[j].fenced = true;
                        log.record(
                            Some(old_id),
                            EventKind::Fenced {
                                instance_id: iid,
                                by: Some(new_id),
                            },
                        );
                        self.notify_handle(j);
                    }
                }
                let h = &mut self.handles[k];
                h.member = slot;
                h.target = target;
                h.gen = gen;
                h.silent_since = None;
                match self.phase {
                    GroupPhase::Joining { .. } => {
                        h.joined = true;
                        self.check_all_joined(log, now);
                    }
                    GroupPhase::Settled if syncing => {
                        // CompletingRebalance: the leader's assignment may name the old member
                        // id; Kafka rebalances again (KAFKA-9801).
                        self.handles[k].joined = true;
                        self.membership_changed(cfg, log, now);
                    }
                    GroupPhase::Settled => {
                        // The newcomer gets the old member's assignment in the same generation.
                        h.sync_at = Some(now);
                    }
                }
            }
            None => {
                h.member = Some(self.next_seq);
                h.joined = true;
                h.silent_since = None;
                self.next_seq += 1;
                self.membership_changed(cfg, log, now);
            }
        }
        self.notify_handle(k);
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
        let h = &mut self.handles[k];
        if h.closed {
            return Step::Done(Err(closed_err()));
        }
        if h.fenced {
            // One fatal error event, then nothing (librdkafka: `rd_kafka_set_fatal_error`
            // posts one `_FATAL`; the assignment is dropped without a callback; no rejoin).
            if h.fatal_reported {
                return Step::Wait;
            }
            h.fatal_reported = true;
            h.assigned.clear();
            return Step::Done(Err(fenced_err()));
        }
        if let Some(i) = cfg.outage_at(now) {
            // Connection errors are events: `_TRANSPORT` and `_ALL_BROKERS_DOWN` as the outage
            // begins, `_TRANSPORT` again every 30 s (librdkafka suppresses identical repeats);
            // polls in between wait and return nothing.
            match h.outage_errors {
                Some((j, t)) if j == i => {
                    if now >= t {
                        h.errors.push(ErrorCode::BrokerTransport);
                        h.outage_errors = Some((i, now + TRANSPORT_ERROR_EVERY));
                    }
                }
                _ => {
                    h.errors.push(ErrorCode::BrokerTransport);
                    h.errors.push(ErrorCode::AllBrokersDown);
                    h.outage_errors = Some((i, now + TRANSPORT_ERROR_EVERY));
                }
            }
            self.fault_hit(i);
        }
        let h = &mut self.handles[k];
        if !h.errors.is_empty() {
            let code = h.errors.remove(0);
            return Step::Done(Err(event_error(code)));
        }
        if let Some((i, class, code)) = cfg.poll_error_at(now) {
            if now >= self.handles[k].poll_error_at {
                self.handles[k].poll_error_at = now + POLL_ERROR_EVERY;
                self.fault_effect(log, i, || format!("polls fail with {code:?} ({class:?})"));
                return Step::Done(Err(err(class, code, "injected poll error")));
            }
        }
        let h = &mut self.handles[k];
        if let Some(code) = h.pending_error.take() {
            return Step::Done(Err(event_error(code)));
        }
        if h.lost {
            h.lost = false;
            if h.holds_assignment {
                return Step::Rebalance(Plan::Revoke {
                    old: h.assigned.clone(),
                    lost: true,
                });
            }
        }
        let outage = cfg.outage_at(now).is_some();
        if h.needs_join && !outage {
            self.join(cfg, log, k, now);
            return Step::Again;
        }
        let h = &mut self.handles[k];
        if h.leaving {
            if h.holds_assignment {
                return Step::Rebalance(Plan::Revoke {
                    old: h.assigned.clone(),
                    lost: false,
                });
            }
            return Step::Wait;
        }
        if h.member.is_none() {
            return Step::Wait;
        }
        if h.rejoin {
            if h.holds_assignment {
                return Step::Rebalance(Plan::Revoke {
                    old: h.assigned.clone(),
                    lost: false,
                });
            }
            h.rejoin = false;
            h.joined = true;
            self.check_all_joined(log, now);
            return Step::Again;
        }
        if let Some(t) = h.sync_at {
            if now >= t && !outage {
                return Step::Rebalance(Plan::Assign {
                    new: h.target.clone(),
                    gen: h.gen,
                });
            }
            return Step::Wait;
        }
        if outage {
            return Step::Wait; // fetches fail silently
        }
        match self.fetch(cfg, log, k) {
            Some(r) => Step::Done(Ok(Some(r))),
            None => Step::Wait,
        }
    }

    /// Whether a poll of handle `k` now would only fetch: nothing else to report or serve.
    pub fn only_fetching(&self, cfg: &Config, k: usize, now: Instant) -> bool {
        let h = &self.handles[k];
        !h.closed
            && !h.fenced
            && h.errors.is_empty()
            && cfg.outage_at(now).is_none()
            && (cfg.poll_error_at(now).is_none() || now < h.poll_error_at)
            && h.pending_error.is_none()
            && !h.lost
            && !h.needs_join
            && h.member.is_some()
            && !h.rejoin
            && h.sync_at.is_none()
    }

    /// The next record handle `k` fetches, if one is at hand: a record fetched before a pause
    /// first, then the lowest unpaused partition's next record.
    pub fn fetch(&mut self, cfg: &Config, log: &EventLog<R>, k: usize) -> Option<Record> {
        let h = &mut self.handles[k];
        for &p in &h.assigned {
            let pi = p as usize;
            if let Some(i) = h.slipping[pi].take() {
                if h.position[pi] < self.high[pi] {
                    let offset = h.position[pi];
                    h.position[pi] += 1;
                    self.fault_effect(log, i, || {
                        format!("a record fetched before the pause still comes out: p{p}@{offset}")
                    });
                    return Some(cfg.record(pi, offset));
                }
            }
        }
        let h = &mut self.handles[k];
        for &p in &h.assigned {
            let pi = p as usize;
            if !h.paused[pi] && h.position[pi] < self.high[pi] {
                let offset = h.position[pi];
                h.position[pi] += 1;
                return Some(cfg.record(pi, offset));
            }
        }
        None
    }

    /// After a revoke was served (hooks run): the assignment is gone; unless it was lost, the
    /// handle has sent JoinGroup (or, unsubscribing, LeaveGroup).
    pub fn revoked(&mut self, cfg: &Config, log: &EventLog<R>, k: usize, lost: bool, now: Instant) {
        let h = &mut self.handles[k];
        h.assigned.clear();
        h.holds_assignment = false;
        if h.leaving && !h.closed {
            self.leave_group(cfg, log, k, now);
            return;
        }
        if !lost && h.member.is_some() && !h.closed && !h.fenced {
            h.rejoin = false;
            h.joined = true;
            self.check_all_joined(log, now);
        }
    }

    /// Applies a served assignment to handle `k`; false if it no longer applies (the handle was
    /// closed, fenced, or a newer rebalance began meanwhile).
    pub fn apply_assign(
        &mut self,
        log: &EventLog<R>,
        k: usize,
        new: Vec<Partition>,
        gen: u64,
    ) -> bool {
        let State {
            handles, committed, ..
        } = self;
        let h = &mut handles[k];
        if h.closed || h.fenced || h.sync_at.is_none() || h.gen != gen {
            return false;
        }
        for &p in &new {
            // Every assigned partition starts at its committed offset (librdkafka's assign
            // turns INVALID into STORED and fetches the committed offset; an unassign dropped
            // the old position), 0 with nothing committed (`auto.offset.reset=earliest`).
            h.position[p as usize] = committed[p as usize].unwrap_or(0);
            // What the client had fetched for it went with the revocation.
            h.slipping[p as usize] = None;
        }
        h.sync_at = None;
        h.holds_assignment = true;
        h.topic_known = true;
        let paused: Vec<Partition> = new
            .iter()
            .copied()
            .filter(|&p| h.paused[p as usize])
            .collect();
        h.assigned.clone_from(&new);
        log.record(
            Some(h.id),
            EventKind::Assigned {
                partitions: new,
                paused,
            },
        );
        true
    }

    /// Whether handle `k` may commit these offsets now (the handle is open and the brokers are
    /// up). librdkafka checks only that the handle is not fatal and that there are offsets; the
    /// coordinator (`ClassicGroup.validateOffsetCommit`) checks the member and its generation,
    /// refuses a member that has the new generation but not its assignment yet
    /// (`CompletingRebalance`: `REBALANCE_IN_PROGRESS`), accepts the current generation during
    /// `PreparingRebalance`, and never checks who owns the partitions.
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
            return Err(fenced_err());
        }
        if let Some((i, code)) = cfg.commit_fail_at(now) {
            self.fault_effect(log, i, || format!("commits fail with {code:?}"));
            return Err(err(default_class(code), code, "injected commit failure"));
        }
        if offsets.is_empty() || offsets.iter().all(|&(_, o)| o < 0) {
            return Err(err(
                ErrorClass::NonRetriable,
                ErrorCode::NoOffset,
                "no offsets to commit",
            ));
        }
        let h = &self.handles[k];
        if h.member.is_none() || h.needs_join {
            return Err(err(
                ErrorClass::NonRetriable,
                ErrorCode::UnknownMember,
                "UNKNOWN_MEMBER_ID: not a member of the group",
            ));
        }
        if h.gen != self.generation {
            return Err(err(
                ErrorClass::NonRetriable,
                ErrorCode::IllegalGeneration,
                "ILLEGAL_GENERATION: the commit carries an old generation",
            ));
        }
        if h.sync_at.is_some() {
            return Err(err(
                ErrorClass::Retriable,
                ErrorCode::RebalanceInProgress,
                "REBALANCE_IN_PROGRESS: the member has not synced the new generation",
            ));
        }
        for &(p, _) in offsets {
            if p < 0 || p as usize >= cfg.partitions {
                return Err(err(
                    ErrorClass::NonRetriable,
                    ErrorCode::Other,
                    "UNKNOWN_TOPIC_OR_PART",
                ));
            }
        }
        Ok(())
    }

    /// Handle `k` closes (its client close is done): a dynamic member sends LeaveGroup (the
    /// group rebalances at once); a static one does not (KIP-345; librdkafka's
    /// `rd_kafka_cgrp_leave_maybe`) and stays a member until its session runs out or a newcomer
    /// with its instance id takes over.
    pub fn closed(&mut self, cfg: &Config, log: &EventLog<R>, k: usize, now: Instant) {
        let h = &mut self.handles[k];
        h.closed = true;
        h.closed_at = now;
        h.assigned.clear();
        h.holds_assignment = false;
        h.joined = false;
        h.rejoin = false;
        h.sync_at = None;
        if h.member.is_some() {
            if h.instance_id.is_some() && !h.fenced {
                h.silent_since = Some(now);
                // A closed member never rejoins: a join phase waiting for it waits for its
                // session to run out (or its deadline).
            } else {
                h.member = None;
                h.target.clear();
                self.membership_changed(cfg, log, now);
            }
        }
        self.check_all_joined(log, now);
        self.notify_handle(k);
    }

    /// Handle `k` unsubscribes (librdkafka's `unsubscribe()`: it revokes its assignment and
    /// sends LeaveGroup, a static member too, once the revoke is served). With an assignment,
    /// the revoke is served by its next poll and the member leaves then
    /// (`RD_KAFKA_CGRP_F_LEAVE_ON_UNASSIGN_DONE`); a close before that poll terminates the
    /// handle instead, and a terminating static member sends no LeaveGroup
    /// (`rd_kafka_cgrp_leave_maybe`). Without brokers the LeaveGroup goes nowhere: the member
    /// stays until its session runs out.
    pub fn unsubscribe(&mut self, cfg: &Config, log: &EventLog<R>, k: usize, now: Instant) {
        let h = &mut self.handles[k];
        h.leaving = true;
        h.needs_join = false;
        h.lost = false;
        h.rejoin = false;
        h.joined = false;
        h.sync_at = None;
        if !h.holds_assignment {
            self.leave_group(cfg, log, k, now);
        }
        self.check_all_joined(log, now);
    }

    /// Handle `k` sends LeaveGroup (or, without brokers, stops heartbeating).
    fn leave_group(&mut self, cfg: &Config, log: &EventLog<R>, k: usize, now: Instant) {
        let outage = cfg.outage_at(now).is_some();
        let h = &mut self.handles[k];
        h.assigned.clear();
        h.holds_assignment = false;
        if h.member.is_none() {
            return;
        }
        if outage {
            if h.silent_since.is_none() {
                h.silent_since = Some(now);
            }
            return;
        }
        h.member = None;
        h.target.clear();
        h.silent_since = None;
        self.membership_changed(cfg, log, now);
    }
}

impl HandleState {
    pub fn new(id: HandleId, instance_id: Option<String>, partitions: usize, now: Instant) -> Self {
        HandleState {
            id,
            instance_id,
            member: None,
            target: Vec::new(),
            gen: 0,
            rejoin: false,
            joined: false,
            sync_at: None,
            lost: false,
            needs_join: false,
            holds_assignment: false,
            leaving: false,
            topic_known: false,
            assigned: Vec::new(),
            position: vec![0; partitions],
            paused: vec![false; partitions],
            slipping: vec![None; partitions],
            errors: Vec::new(),
            outage_errors: None,
            poll_error_at: now,
            pending_error: None,
            fenced: false,
            fatal_reported: false,
            silent_since: None,
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
