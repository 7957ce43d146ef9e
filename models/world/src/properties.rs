//! The properties of `docs/CONTRACT.md`, each one small function judging one execution's event
//! log. They are judged on every schedule; a violating schedule names exactly one property (the
//! first in [`Property::ALL`]'s order among those it violates) and lists the others.

use crate::{Event, EventKind, Expiry, Op, PollOutcome};
use pausebeat::kafka::{ErrorCode, HandleId, Offset, Partition};
use pausebeat::probe::DesignEvent;
use pausebeat::sync::{AbortReason, Instant};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

/// A property of the catalogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Property {
    /// `resume-bounded`
    ResumeBounded,
    /// `resume-effective`
    ResumeEffective,
    /// `suspend-final`
    SuspendFinal,
    /// `handle-exclusive`
    HandleExclusive,
    /// `single-consumer`
    SingleConsumer,
    /// `paused-means-paused`
    PausedMeansPaused,
    /// `no-loss`
    NoLoss,
    /// `membership-kept`
    MembershipKept,
    /// `no-self-fencing`
    NoSelfFencing,
    /// `no-deadlock`
    NoDeadlock,
    /// `clean-shutdown`
    CleanShutdown,
    /// `no-duplicates`
    NoDuplicates,
    /// `committed-before-close`
    CommittedBeforeClose,
}

impl Property {
    /// Every property, in the order a violation is named when one execution violates several:
    /// what a user sees first (a hang, a stuck resume, a suspend undone, lost records), the
    /// mechanisms behind it after (two threads in one handle, two consumers, a slow shutdown).
    pub const ALL: [Property; 13] = [
        Property::NoDeadlock,
        Property::ResumeBounded,
        Property::SuspendFinal,
        Property::NoLoss,
        Property::NoDuplicates,
        Property::CommittedBeforeClose,
        Property::NoSelfFencing,
        Property::ResumeEffective,
        Property::PausedMeansPaused,
        Property::MembershipKept,
        Property::SingleConsumer,
        Property::HandleExclusive,
        Property::CleanShutdown,
    ];

    /// The contract's name.
    pub fn name(self) -> &'static str {
        match self {
            Property::ResumeBounded => "resume-bounded",
            Property::ResumeEffective => "resume-effective",
            Property::SuspendFinal => "suspend-final",
            Property::HandleExclusive => "handle-exclusive",
            Property::SingleConsumer => "single-consumer",
            Property::PausedMeansPaused => "paused-means-paused",
            Property::NoLoss => "no-loss",
            Property::MembershipKept => "membership-kept",
            Property::NoSelfFencing => "no-self-fencing",
            Property::NoDeadlock => "no-deadlock",
            Property::CleanShutdown => "clean-shutdown",
            Property::NoDuplicates => "no-duplicates",
            Property::CommittedBeforeClose => "committed-before-close",
        }
    }

    /// Looks a property up by its contract name.
    pub fn from_name(name: &str) -> Option<Property> {
        Property::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Its definition, as `pausebeat list` prints it.
    pub fn definition(self) -> &'static str {
        match self {
            Property::ResumeBounded => "resume() returns, successfully, within the scenario's resume bound of virtual time (default 0): it never waits on the heartbeat, a restart or the broker",
            Property::ResumeEffective => "within the resume-applied bound (default 10 s) after resume() returns, the current consumer (the newest one still open; when it is closed to be replaced, its successor) has, at some moment, every assigned partition fetching (a pause while a batch is with the handler is flow control); and a partition assigned while the consumer should fetch never stays paused past that bound — unless the application asks for a pause, suspend or close first (one it asked for on another thread while the resume was in progress included: the callers left the order open)",
            Property::SuspendFinal => "when suspend() returns no consumer handle is open, and none is created until the next run starts (a run admitted while the suspend was in progress counts: it comes after the suspend); and the thread making a suspend the design reports itself (a run returning the consumer to suspended) creates none in the middle of it",
            Property::HandleExclusive => "no consumer handle is used by two threads at once (poll while another thread polls or closes it)",
            Property::SingleConsumer => "at most one consumer handle is open at any time; none is closed twice; after a scenario's close step, every one created was closed",
            Property::PausedMeansPaused => "no batch reaches the handler between pause() returning and the next resume(), and none is still in the handler when pause() returns (unless pause() was called from inside the handler); a pause whose call overlapped a resume or run on another thread is not judged (the callers left the order open)",
            Property::NoLoss => "no commit passes a record that neither the handler finished successfully nor another member of the group handled, every produced record is finished (by the handler or another member) by the end of the scenario, and every record reaches the handler as it was produced (topic, key, value, headers, timestamp)",
            Property::MembershipKept => "while paused, the current consumer is polled at least once every max.poll.interval minus the margin (default 30 s), and never leaves the group for not polling",
            Property::NoSelfFencing => "no consumer handle of the design is fenced: no consumer is created with a static instance id while a handle holding it is still open (polled, or inside its close); Kafka lets the newcomer take the member's place and fences the old handle (KIP-345). Re-creating after the old handle was closed takes its place and fences nobody",
            Property::NoDeadlock => "never all threads blocked with no timer pending (nor a timer loop running past the horizon)",
            Property::CleanShutdown => "in scenarios that close the consumer: close() returns within the close bound (default 10 s), not counting the time the client spent inside its own close of a handle meanwhile (no design can shorten it); when the last close() returned (plus the close grace, default 0 s) every thread of the design has ended and no handle is open",
            Property::NoDuplicates => "a record the handler finished successfully is handed to it again only for a cause: since that success the partition's position was never committed past the record, and since the first hand-off something happened that re-reads it (a handle closed or created, the partition revoked or assigned, the member removed or fenced, a poll or a commit failed, a batch failed in the handler); and no commit moves a partition's committed offset back (below what the group committed before: the records in between, already handled, would be handed again)",
            Property::CommittedBeforeClose => "a batch the handler finished successfully while the handle that read it had held its partitions since the read is committed before that handle is closed — unless, in between, a commit failed for a lasting reason or the handle lost the partition (revoked, removed, fenced, a poll failed), a commit failed for a transient reason (timed out, broker transport) within the close bound before the close (the design was still retrying), or the close began at the very instant the batch finished (the verdict cannot have reached the design)",
        }
    }
}

impl fmt::Display for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A property violated, where in the log, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which property.
    pub property: Property,
    /// When (virtual time).
    pub at: Instant,
    /// The log position the trace ends at.
    pub seq: usize,
    /// What happened, in a sentence.
    pub message: String,
}

/// The stated bounds the properties hold designs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// `resume-bounded`: the most virtual time `resume()` may take.
    pub resume: Duration,
    /// `resume-effective`: by when a resume must be applied to the current consumer.
    pub resume_applied: Duration,
    /// `membership-kept`: polls while paused must come this much before max.poll.interval.
    pub poll_margin: Duration,
    /// `clean-shutdown`: the most virtual time `close()` may take (Go's SHUTDOWN_TIMEOUT_SEC is
    /// 10 s).
    pub close: Duration,
    /// `clean-shutdown`: how long after the final `close()` returned every thread of the design
    /// must have ended (default 0: a close that returns before its threads end is a violation).
    pub close_grace: Duration,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            resume: Duration::ZERO,
            resume_applied: Duration::from_secs(10),
            poll_margin: Duration::from_secs(30),
            close: Duration::from_secs(10),
            close_grace: Duration::ZERO,
        }
    }
}

/// What the properties need to know of the story an execution played.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rules {
    /// The bounds.
    pub bounds: Bounds,
    /// The consumer's `max.poll.interval`.
    pub max_poll_interval: Duration,
    /// Whether closing the consumer is part of the story (then `clean-shutdown` and "every
    /// handle closed" are judged; otherwise the final close is teardown).
    pub judge_shutdown: bool,
    /// Whether `no-loss` requires every produced record to be handled by the end (false when
    /// the story shuts the consumer down before it could read them: only commits are judged).
    pub all_records_due: bool,
}

/// One finished execution, as the properties see it.
pub struct Execution<'a> {
    /// The rules of the story.
    pub rules: &'a Rules,
    /// The event log.
    pub events: &'a [Event],
    /// High watermark per partition at the end.
    pub produced: BTreeMap<Partition, Offset>,
    /// Why the execution was aborted, if it was (deadlock, horizon).
    pub abort: Option<AbortReason>,
    /// Threads of the design still alive after `close()` and the grace period.
    pub threads_left: Vec<String>,
    /// When the execution ended.
    pub end: Instant,
}

impl Execution<'_> {
    fn violation(&self, property: Property, e: &Event, message: String) -> Violation {
        Violation {
            property,
            at: e.at,
            seq: e.seq,
            message,
        }
    }
    fn at_end(&self, property: Property, message: String) -> Violation {
        Violation {
            property,
            at: self.end,
            seq: self.events.len().saturating_sub(1),
            message,
        }
    }
}

/// Judges every property. Returns every violation found, the one to name first (see
/// [`Property::ALL`] for the order).
pub fn judge(x: &Execution<'_>) -> Vec<Violation> {
    Property::ALL
        .into_iter()
        .filter_map(|p| check(p, x))
        .collect()
}

/// Judges one property.
pub fn check(p: Property, x: &Execution<'_>) -> Option<Violation> {
    match p {
        Property::ResumeBounded => resume_bounded(x),
        Property::ResumeEffective => resume_effective(x),
        Property::SuspendFinal => suspend_final(x),
        Property::HandleExclusive => handle_exclusive(x),
        Property::SingleConsumer => single_consumer(x),
        Property::PausedMeansPaused => paused_means_paused(x),
        Property::NoLoss => no_loss(x),
        Property::MembershipKept => membership_kept(x),
        Property::NoSelfFencing => no_self_fencing(x),
        Property::NoDeadlock => no_deadlock(x),
        Property::CleanShutdown => clean_shutdown(x),
        Property::NoDuplicates => no_duplicates(x),
        Property::CommittedBeforeClose => committed_before_close(x),
    }
}

fn secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

/// Who made a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Caller {
    /// An application thread of the scenario, recorded by the harness ([`EventKind::Call`]).
    Application,
    /// The design itself, reported through its probe (the Go ports' runs call `resume()`).
    Design,
}

/// One call of an operation, rebuilt from the log: who called what on which thread, and where
/// in the log it began and returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    /// The operation.
    pub op: Op,
    /// Who called it.
    pub by: Caller,
    /// The calling thread.
    pub thread: String,
    /// The log position of the call.
    pub called: usize,
    /// The log position of the return (`None`: it never returned).
    pub returned: Option<usize>,
    /// Whether it returned successfully.
    pub ok: bool,
}

impl Span {
    /// True if the call was in progress at log position `seq` (called before, not returned).
    pub fn in_flight_at(&self, seq: usize) -> bool {
        self.called < seq && self.returned.is_none_or(|r| r > seq)
    }

    /// True if the two calls were in progress at once (each called before the other returned):
    /// their callers left the order of their effects open.
    pub fn overlaps(&self, other: &Span) -> bool {
        self.called < other.returned.unwrap_or(usize::MAX)
            && other.called < self.returned.unwrap_or(usize::MAX)
    }
}

/// The design events that open and close a call the design reports itself.
fn design_call(d: &DesignEvent) -> Option<(Op, bool, bool)> {
    // (op, is the call (else the return), ok)
    Some(match d {
        DesignEvent::RunStarted => (Op::Run, true, true),
        DesignEvent::RunEnded => (Op::Run, false, true),
        DesignEvent::ResumeCalled => (Op::Resume, true, true),
        DesignEvent::ResumeReturned { ok } => (Op::Resume, false, *ok),
        DesignEvent::PauseCalled => (Op::Pause, true, true),
        DesignEvent::PauseReturned => (Op::Pause, false, true),
        DesignEvent::SuspendCalled => (Op::Suspend, true, true),
        DesignEvent::SuspendReturned => (Op::Suspend, false, true),
        DesignEvent::CloseCalled => (Op::Close, true, true),
        DesignEvent::CloseReturned => (Op::Close, false, true),
        _ => return None,
    })
}

/// Every call in the log, in the order they were made: the application's (recorded by the
/// harness) and the design's own (reported by its probe). A return closes the latest open call
/// of the same operation, caller and thread.
pub fn spans(events: &[Event]) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::new();
    let mut open: BTreeMap<(&str, Op, bool), Vec<usize>> = BTreeMap::new();
    for e in events {
        let (op, by, is_call, ok) = match &e.kind {
            EventKind::Call { op } => (*op, Caller::Application, true, true),
            EventKind::Return { op, error } => (*op, Caller::Application, false, error.is_none()),
            EventKind::Design(d) => match design_call(d) {
                Some((op, is_call, ok)) => (op, Caller::Design, is_call, ok),
                None => continue,
            },
            _ => continue,
        };
        let key = (e.thread.as_str(), op, by == Caller::Application);
        if is_call {
            open.entry(key).or_default().push(out.len());
            out.push(Span {
                op,
                by,
                thread: e.thread.clone(),
                called: e.seq,
                returned: None,
                ok: true,
            });
        } else if let Some(i) = open.get_mut(&key).and_then(|v| v.pop()) {
            out[i].returned = Some(e.seq);
            out[i].ok = ok;
        }
    }
    out
}

/// `resume-bounded`: every `resume()` returns `ok` within the bound.
pub fn resume_bounded(x: &Execution<'_>) -> Option<Violation> {
    let bound = x.rules.bounds.resume;
    let mut resumes: Vec<Span> = spans(x.events)
        .into_iter()
        .filter(|s| s.op == Op::Resume)
        .collect();
    resumes.sort_by_key(|s| s.returned.unwrap_or(usize::MAX));
    for s in &resumes {
        let c = &x.events[s.called];
        let Some(r) = s.returned else {
            return Some(x.at_end(
                Property::ResumeBounded,
                format!(
                    "resume() called at {} by `{}` never returned",
                    c.at, c.thread
                ),
            ));
        };
        let e = &x.events[r];
        let took = e.at - c.at;
        if !s.ok {
            return Some(x.violation(
                Property::ResumeBounded,
                e,
                format!("resume() failed after {} (called at {})", secs(took), c.at),
            ));
        }
        if took > bound {
            return Some(x.violation(
                Property::ResumeBounded,
                e,
                format!("resume() took {} (bound {})", secs(took), secs(bound)),
            ));
        }
    }
    None
}

/// Per-handle state rebuilt from the log.
#[derive(Default, Clone)]
struct HandleState {
    open: bool,
    assigned: BTreeSet<Partition>,
    paused: BTreeSet<Partition>,
}

/// Replays handle events up to and including log position `upto`.
fn handles_upto(events: &[Event], upto: usize) -> BTreeMap<HandleId, HandleState> {
    let mut hs: BTreeMap<HandleId, HandleState> = BTreeMap::new();
    for e in events.iter().take(upto.saturating_add(1)) {
        let Some(h) = e.handle else { continue };
        let s = hs.entry(h).or_default();
        match &e.kind {
            EventKind::Created { .. } => s.open = true,
            EventKind::CloseBegin => s.open = false,
            EventKind::Assigned { partitions, paused } => {
                s.assigned = partitions.iter().copied().collect();
                for p in partitions {
                    s.paused.remove(p);
                }
                s.paused.extend(paused.iter().copied());
            }
            EventKind::Revoked(ps) => {
                for p in ps {
                    s.assigned.remove(p);
                }
            }
            EventKind::Pause { applied, .. } => s.paused.extend(applied.iter().copied()),
            EventKind::Resume { partitions } => {
                for p in partitions {
                    s.paused.remove(p);
                }
            }
            _ => {}
        }
    }
    hs
}

/// `resume-effective`: a resume reaches the current consumer within the bound.
pub fn resume_effective(x: &Execution<'_>) -> Option<Violation> {
    resume_reached_consumer(x).or_else(|| reassigned_partitions_fetch(x))
}

fn is_request_to_stop(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Design(
            DesignEvent::PauseCalled | DesignEvent::SuspendCalled | DesignEvent::CloseCalled
        ) | EventKind::Call {
            op: Op::Pause | Op::Suspend | Op::Close
        }
    )
}

/// True if `kind` is a successful return of a resume, by the application or the design.
fn is_resume_returned(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Design(DesignEvent::ResumeReturned { ok: true })
            | EventKind::Return {
                op: Op::Resume,
                error: None
            }
    )
}

/// The newest open handle and what it has paused among its assigned partitions.
fn current_stuck(hs: &BTreeMap<HandleId, HandleState>) -> Option<(HandleId, Vec<Partition>)> {
    let (id, s) = hs
        .iter()
        .filter(|(_, s)| s.open)
        .max_by_key(|(id, _)| **id)?;
    Some((*id, s.assigned.intersection(&s.paused).copied().collect()))
}

/// After each `resume()`, the current consumer has every assigned partition fetching at some
/// moment within the bound (before any newer pause, suspend or close request).
fn resume_reached_consumer(x: &Execution<'_>) -> Option<Violation> {
    let bound = x.rules.bounds.resume_applied;
    // Nor does it count time inside the client's own slow calls (a commit waiting for the
    // coordinator, a slow create): the design's one thread cannot resume meanwhile (`hunt
    // --seed 209`, `--seed 210`: `resume-behind-a-slow-commit`).
    let calls_of_client = client_calls(x);
    let calls = spans(x.events);
    for resume in calls.iter().filter(|s| s.op == Op::Resume && s.ok) {
        let Some(r) = resume.returned else { continue };
        let e = &x.events[r];
        // A pause, suspend or close called on another thread while this resume was in
        // progress: the callers left the order open, and the design may apply either last.
        let contested = calls.iter().any(|s| {
            matches!(s.op, Op::Pause | Op::Suspend | Op::Close)
                && s.thread != resume.thread
                && s.overlaps(resume)
        });
        if contested {
            continue;
        }
        let deadline = e.at + bound;
        if x.end < deadline && x.abort.is_some() {
            continue;
        }
        // At this moment: `None` if there is nothing to judge (no consumer between handles, or a
        // batch with the handler: pausing fetches meanwhile is flow control), else whether the
        // current consumer fetches every assigned partition.
        let fetching_all = |busy: bool, hs: &BTreeMap<HandleId, HandleState>| {
            if busy {
                return None;
            }
            current_stuck(hs).map(|(_, stuck)| stuck.is_empty())
        };
        // Who is inside the handler, followed event by event.
        let mut inside = in_handler(&x.events[..=e.seq]);
        let mut busy = inside.values().any(|b| *b);
        let mut hs = handles_upto(x.events, e.seq);
        let mut judged = false;
        let mut applied = false;
        let mut last = e;
        if let Some(ok) = fetching_all(busy, &hs) {
            judged = true;
            applied = ok;
        }
        let mut superseded = false;
        // The bound counts only time with no batch in the handler: a resume that returns
        // while a batch is there is owed from when the handler gives it back (found by `hunt
        // --seed 210`, `resume-under-a-pause-that-timed-out`: judged at the very instant the
        // handler returned, the design had no time to act).
        let mut excluded = Duration::ZERO;
        let mut busy_from = busy.then_some(e.at);
        for l in &x.events[e.seq + 1..] {
            note_handler(&mut inside, l);
            busy = inside.values().any(|b| *b);
            match (busy_from, busy) {
                (Some(b), false) => {
                    excluded += l.at.saturating_since(b);
                    busy_from = None;
                }
                (None, true) => busy_from = Some(l.at),
                _ => {}
            }
            let still_busy = busy_from.map_or(Duration::ZERO, |b| l.at.saturating_since(b));
            let client = in_client(&calls_of_client, e.at, l.at);
            if applied || l.at > deadline + excluded + still_busy + client {
                break;
            }
            if is_request_to_stop(&l.kind) {
                // A pause, suspend or close asked for first supersedes the resume: by the
                // application, or on another thread (another caller's run ending). The
                // resuming thread's own next pause does not excuse it.
                superseded = matches!(l.kind, EventKind::Call { .. }) || l.thread != e.thread;
                break;
            }
            hs = handles_upto(x.events, l.seq);
            match fetching_all(busy, &hs) {
                Some(ok) => {
                    judged = true;
                    applied = ok;
                }
                // The consumer judged so far was closed (a restart replacing it): the resume
                // is owed to its successor, judged from when it opens (and, if that is past
                // the bound, by the rule on partitions assigned while meant to fetch).
                None if current_stuck(&hs).is_none() => judged = false,
                None => {}
            }
            last = l;
        }
        if judged && !applied && !superseded {
            let (id, stuck) = current_stuck(&hs).unwrap_or_default();
            return Some(Violation {
                property: Property::ResumeEffective,
                at: last.at,
                seq: last.seq,
                message: format!(
                    "resume() returned at {} but until {} the current consumer {id} kept {stuck:?} paused",
                    e.at, last.at
                ),
            });
        }
    }
    None
}

/// A partition assigned while the consumer is meant to fetch comes back fetching within the
/// bound, even if librdkafka kept an old pause flag for it (no partition stays paused forever).
fn reassigned_partitions_fetch(x: &Execution<'_>) -> Option<Violation> {
    let bound = x.rules.bounds.resume_applied;
    let calls = spans(x.events);
    // Resumes whose order against a pause, suspend or close on another thread was left open.
    let contested: BTreeSet<usize> = calls
        .iter()
        .filter(|r| r.op == Op::Resume)
        .filter(|r| {
            calls.iter().any(|s| {
                matches!(s.op, Op::Pause | Op::Suspend | Op::Close)
                    && s.thread != r.thread
                    && s.overlaps(r)
            })
        })
        .filter_map(|r| r.returned)
        .collect();
    let mut fetching = false;
    for e in x.events {
        match &e.kind {
            k if is_resume_returned(k) => fetching = !contested.contains(&e.seq),
            k if is_request_to_stop(k) => fetching = false,
            EventKind::Design(DesignEvent::PauseReturned | DesignEvent::SuspendReturned)
            | EventKind::Return {
                op: Op::Pause | Op::Suspend,
                ..
            } => fetching = false,
            EventKind::Assigned { partitions, paused } if fetching => {
                let Some(h) = e.handle else { continue };
                let deadline = e.at + bound;
                let assigned: BTreeSet<Partition> = partitions.iter().copied().collect();
                // Paused now among the assigned: from before (librdkafka kept the flag), or
                // paused since (a hook or the design pausing what it should fetch).
                let mut still: BTreeSet<Partition> = paused.iter().copied().collect();
                let (mut last, mut gone, mut stopped) = (e, false, false);
                for l in &x.events[e.seq + 1..] {
                    if l.at > deadline {
                        break;
                    }
                    if is_request_to_stop(&l.kind) {
                        // The application asked first; the design's own pause does not excuse.
                        stopped = matches!(l.kind, EventKind::Call { .. });
                        break;
                    }
                    match (&l.kind, l.handle) {
                        (EventKind::Resume { partitions }, Some(lh)) if lh == h => {
                            for p in partitions {
                                still.remove(p);
                            }
                        }
                        (EventKind::Pause { applied, .. }, Some(lh)) if lh == h => {
                            still.extend(applied.iter().filter(|p| assigned.contains(p)));
                        }
                        (EventKind::Revoked(ps), Some(lh)) if lh == h => {
                            for p in ps {
                                still.remove(p);
                            }
                        }
                        // A newer assignment, a close, a newer consumer: judged on their own.
                        (EventKind::Assigned { .. } | EventKind::CloseBegin, Some(lh))
                            if lh == h =>
                        {
                            gone = true;
                            break;
                        }
                        (EventKind::Created { .. }, _) => {
                            gone = true;
                            break;
                        }
                        _ => {}
                    }
                    last = l;
                }
                let ended_early = x.end < deadline;
                let flow_control = batch_in_flight(&x.events[..=last.seq]);
                if !still.is_empty() && !ended_early && !gone && !stopped && !flow_control {
                    let from_before = paused.iter().any(|p| still.contains(p));
                    return Some(Violation {
                        property: Property::ResumeEffective,
                        at: last.at,
                        seq: last.seq,
                        message: format!(
                            "{h} was given {partitions:?} at {}{} while it should fetch; {still:?} still paused at {}",
                            e.at,
                            if from_before { " (still paused from before)" } else { "" },
                            last.at
                        ),
                    });
                }
            }
            _ => {}
        }
    }
    None
}

/// True if some thread began a batch in the handler and has not finished it.
fn batch_in_flight(events: &[Event]) -> bool {
    in_handler(events).values().any(|b| *b)
}

/// Per thread that ever ran the handler: whether it is inside it at the end of `events`.
fn in_handler(events: &[Event]) -> BTreeMap<&str, bool> {
    let mut inside: BTreeMap<&str, bool> = BTreeMap::new();
    for e in events {
        note_handler(&mut inside, e);
    }
    inside
}

/// Follows `e` in the per-thread "inside the handler" map of [`in_handler`].
fn note_handler<'a>(inside: &mut BTreeMap<&'a str, bool>, e: &'a Event) {
    match e.kind {
        EventKind::HandlerBegin { .. } => {
            inside.insert(&e.thread, true);
        }
        EventKind::HandlerEnd { .. } => {
            inside.insert(&e.thread, false);
        }
        _ => {}
    }
}

/// `suspend-final`: nothing open when suspend() returns, nothing created until the next run.
///
/// With several application threads, a consumer created while a run called on another thread
/// is in progress is that run's (the callers left the order of the two calls open), and a run
/// called after the suspend returned may open one.
pub fn suspend_final(x: &Execution<'_>) -> Option<Violation> {
    let calls = spans(x.events);
    for s in calls.iter().filter(|s| s.op == Op::Suspend && s.ok) {
        let Some(r) = s.returned else { continue };
        let e = &x.events[r];
        let runs: Vec<&Span> = calls
            .iter()
            .filter(|c| c.op == Op::Run && c.by == Caller::Application)
            .collect();
        // A consumer created after the suspend was called, while a run called on another thread
        // was in progress, is that run's.
        let for_a_run = |l: &Event| {
            l.seq > s.called
                && runs
                    .iter()
                    .any(|c| c.thread != s.thread && c.in_flight_at(l.seq))
        };
        // A suspend the design reports itself (a run returning the consumer to suspended): the
        // thread in the middle of suspending the consumer does not open one meanwhile.
        if s.by == Caller::Design {
            let suspending = &x.events[s.called].thread;
            let made = x.events[s.called + 1..r]
                .iter()
                .find(|l| matches!(l.kind, EventKind::Created { .. }) && &l.thread == suspending);
            if let Some(l) = made {
                return Some(x.violation(
                    Property::SuspendFinal,
                    l,
                    format!(
                        "consumer {} created by `{}` in the middle of its own suspend (begun at {})",
                        l.handle.unwrap_or_default(),
                        l.thread,
                        x.events[s.called].at
                    ),
                ));
            }
        }
        let hs = handles_upto(x.events, r);
        let open = hs.iter().find(|(id, st)| {
            st.open
                && !x.events[..r].iter().any(|l| {
                    l.handle == Some(**id)
                        && matches!(l.kind, EventKind::Created { .. })
                        && for_a_run(l)
                })
        });
        if let Some((id, _)) = open {
            return Some(x.violation(
                Property::SuspendFinal,
                e,
                format!("suspend() returned with consumer {id} still open"),
            ));
        }
        // A run admitted while the suspend was in progress (after it was called) comes after
        // it: it may reopen, and what the consumer is after that run is that run's and the later
        // calls' (the callers left the order of the suspend and the run open).
        if calls
            .iter()
            .any(|c| c.op == Op::Run && c.called > s.called && c.called < r)
        {
            continue;
        }
        for l in &x.events[r + 1..] {
            if calls.iter().any(|c| c.op == Op::Run && c.called == l.seq) {
                break; // the next run starts (called, or admitted by the design)
            }
            if let EventKind::Created { .. } = &l.kind {
                if for_a_run(l) {
                    break;
                }
                return Some(x.violation(
                    Property::SuspendFinal,
                    l,
                    format!(
                        "consumer {} created by `{}` after suspend() returned at {}",
                        l.handle.unwrap_or_default(),
                        l.thread,
                        e.at
                    ),
                ));
            }
        }
    }
    None
}

/// `handle-exclusive`: no overlapping use of a handle.
pub fn handle_exclusive(x: &Execution<'_>) -> Option<Violation> {
    x.events.iter().find_map(|e| match &e.kind {
        EventKind::Overlap {
            op,
            other_thread,
            other_op,
        } => Some(x.violation(
            Property::HandleExclusive,
            e,
            format!(
                "`{}` began {op} on {} while `{other_thread}` was in {other_op}",
                e.thread,
                e.handle.unwrap_or_default()
            ),
        )),
        _ => None,
    })
}

/// `single-consumer`: one open handle at most; each closed exactly once.
pub fn single_consumer(x: &Execution<'_>) -> Option<Violation> {
    let mut open: BTreeSet<HandleId> = BTreeSet::new();
    let mut closes: BTreeMap<HandleId, u32> = BTreeMap::new();
    for e in x.events {
        let Some(h) = e.handle else { continue };
        match &e.kind {
            EventKind::Created { .. } => {
                open.insert(h);
                if open.len() > 1 {
                    return Some(x.violation(
                        Property::SingleConsumer,
                        e,
                        format!(
                            "{h} created while {:?} still open",
                            open.iter().filter(|o| **o != h).collect::<Vec<_>>()
                        ),
                    ));
                }
            }
            EventKind::CloseBegin => {
                open.remove(&h);
                *closes.entry(h).or_default() += 1;
            }
            EventKind::OpFailed { op: "close", .. } => {
                return Some(x.violation(
                    Property::SingleConsumer,
                    e,
                    format!("{h} closed a second time by `{}`", e.thread),
                ))
            }
            _ => {}
        }
        if closes.get(&h).copied().unwrap_or(0) > 1 {
            return Some(x.violation(Property::SingleConsumer, e, format!("{h} closed twice")));
        }
    }
    if x.abort.is_none() && x.rules.judge_shutdown {
        if let Some(h) = open.iter().next() {
            return Some(x.at_end(Property::SingleConsumer, format!("{h} was never closed")));
        }
    }
    None
}

/// Pause intervals (log positions): from a `pause()` returning to the next resume, suspend or
/// close called, or run admitted (a design's `RunStarted`), by the application or the design.
/// A pause during which a resume was called or a run admitted on another thread starts none:
/// the callers left the order of the two open.
fn paused_intervals(x: &Execution<'_>) -> Vec<(usize, usize)> {
    let calls = spans(x.events);
    let ends = |s: &Span| {
        matches!(s.op, Op::Resume | Op::Suspend | Op::Close)
            || (s.op == Op::Run && s.by == Caller::Design)
    };
    let mut out: Vec<(usize, usize)> = vec![];
    for p in calls.iter().filter(|s| s.op == Op::Pause && s.ok) {
        let Some(r) = p.returned else { continue };
        let contested = calls
            .iter()
            .any(|q| ends(q) && q.op != Op::Close && q.thread != p.thread && q.overlaps(p));
        // A pause the design reports itself at the end of a run (the run's closing pause) is
        // part of the application's run() call: a resume or run on another thread that
        // overlapped that call left the order open (run, then resume: consuming; resume, then
        // the run: paused). Found by `hunt --seed 208` and `--seed 210`
        // (`closing-pause-beside-a-resume`).
        let run_contested = p.by == Caller::Design
            && calls.iter().any(|run| {
                run.op == Op::Run
                    && run.by == Caller::Application
                    && run.called < p.called
                    && run.returned.is_none_or(|e| e > r)
                    && calls.iter().any(|q| {
                        q.by == Caller::Application
                            && matches!(q.op, Op::Resume | Op::Run)
                            && q.thread != run.thread
                            && q.overlaps(run)
                    })
            });
        if contested || run_contested {
            continue;
        }
        let end = calls
            .iter()
            .filter(|q| ends(q) && q.called > r)
            .map(|q| q.called)
            .min()
            .unwrap_or(x.events.len());
        out.push((r, end));
    }
    out.sort_unstable();
    let mut merged: Vec<(usize, usize)> = vec![];
    for (a, b) in out {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

/// `paused-means-paused`: no batch reaches the handler while paused.
pub fn paused_means_paused(x: &Execution<'_>) -> Option<Violation> {
    for (s, end) in paused_intervals(x) {
        // pause() returns once no batch is in the handler (but from inside the handler, where
        // the batch in progress is the caller's own).
        let returned = &x.events[s];
        let inside = in_handler(&x.events[..s]);
        if let Some((t, _)) = inside
            .iter()
            .find(|(t, busy)| **busy && **t != returned.thread.as_str())
        {
            return Some(x.violation(
                Property::PausedMeansPaused,
                returned,
                format!("pause() returned while `{t}` still had a batch in the handler"),
            ));
        }
        for e in &x.events[s..end.min(x.events.len())] {
            if let EventKind::HandlerBegin { records } = &e.kind {
                return Some(x.violation(
                    Property::PausedMeansPaused,
                    e,
                    format!(
                        "the handler got {} record(s) while paused (pause() returned at {})",
                        records.len(),
                        x.events[s].at
                    ),
                ));
            }
        }
    }
    None
}

/// `no-loss`: commits never pass unfinished records; everything is finished by the end (by the
/// handler, or by another member of the group).
pub fn no_loss(x: &Execution<'_>) -> Option<Violation> {
    let mut finished: BTreeMap<Partition, BTreeSet<Offset>> = BTreeMap::new();
    let mut pending: BTreeMap<&str, &Vec<(Partition, Offset)>> = BTreeMap::new();
    for e in x.events {
        match &e.kind {
            EventKind::OtherMemberHandled {
                partition,
                from,
                to,
                ..
            } => {
                finished.entry(*partition).or_default().extend(*from..*to);
            }
            EventKind::HandlerAltered { records } => {
                let (p, o) = records[0];
                return Some(x.violation(
                    Property::NoLoss,
                    e,
                    format!(
                        "{} record(s) reached the handler altered (key, value, headers or timestamp unlike what was produced), the first p{p}@{o}: the record produced there was never handed",
                        records.len()
                    ),
                ));
            }
            EventKind::HandlerBegin { records } => {
                pending.insert(&e.thread, records);
            }
            EventKind::HandlerEnd { ok } => {
                if let (true, Some(rs)) = (*ok, pending.remove(e.thread.as_str())) {
                    for (p, o) in rs {
                        finished.entry(*p).or_default().insert(*o);
                    }
                }
            }
            EventKind::Commit { offsets } => {
                for (p, o) in offsets {
                    let done = finished.get(p);
                    if let Some(missing) =
                        (0..*o).find(|off| !done.is_some_and(|d| d.contains(off)))
                    {
                        return Some(x.violation(
                            Property::NoLoss,
                            e,
                            format!(
                                "commit of p{p}@{o} passes p{p}@{missing}, which nobody finished"
                            ),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    if x.abort.is_some() || !x.rules.all_records_due {
        return None;
    }
    for (p, high) in &x.produced {
        let done = finished.get(p);
        if let Some(missing) = (0..*high).find(|off| !done.is_some_and(|d| d.contains(off))) {
            let n = (0..*high)
                .filter(|off| !done.is_some_and(|d| d.contains(off)))
                .count();
            return Some(x.at_end(
                Property::NoLoss,
                format!("{n} record(s) of p{p} never handled, the first p{p}@{missing}"),
            ));
        }
    }
    None
}

/// The records of a batch.
type Records = Vec<(Partition, Offset)>;

/// The batches the handler finished: (index of its `HandlerBegin`, index of its `HandlerEnd`,
/// records, ok).
fn batches(events: &[Event]) -> Vec<(usize, usize, &Records, bool)> {
    let mut open: BTreeMap<&str, (usize, &Records)> = BTreeMap::new();
    let mut out = vec![];
    for (i, e) in events.iter().enumerate() {
        match &e.kind {
            EventKind::HandlerBegin { records } => {
                open.insert(&e.thread, (i, records));
            }
            EventKind::HandlerEnd { ok } => {
                if let Some((b, rs)) = open.remove(e.thread.as_str()) {
                    out.push((b, i, rs, *ok));
                }
            }
            _ => {}
        }
    }
    out
}

/// True if `kind` (on a handle) makes a partition's records readable again: the handle closed
/// or created, `p` revoked or assigned, the member removed or fenced, a failed poll or commit.
fn rereads(kind: &EventKind, p: Partition) -> bool {
    match kind {
        EventKind::CloseBegin
        | EventKind::Created { .. }
        | EventKind::Expired(_)
        | EventKind::Fenced { .. }
        | EventKind::PollEnd(PollOutcome::Error(_))
        | EventKind::OpFailed { op: "commit", .. }
        | EventKind::HandlerEnd { ok: false } => true,
        EventKind::Revoked(ps) => ps.contains(&p),
        EventKind::Assigned { partitions, .. } => partitions.contains(&p),
        _ => false,
    }
}

/// `no-duplicates`: a record finished successfully is handed again only for a cause, and no
/// commit moves a committed offset back.
pub fn no_duplicates(x: &Execution<'_>) -> Option<Violation> {
    if let Some(v) = commit_went_back(x) {
        return Some(v);
    }
    // (partition, offset) -> (HandlerBegin, HandlerEnd) of the last successful batch holding it.
    let mut finished: BTreeMap<(Partition, Offset), (usize, usize)> = BTreeMap::new();
    let bs = batches(x.events);
    let mut by_begin: Vec<_> = bs.iter().collect();
    by_begin.sort_by_key(|b| b.0);
    // Successes are known at their ends; walk the hand-offs in order and the successes as
    // they come.
    let mut ends: Vec<_> = bs.iter().filter(|b| b.3).collect();
    ends.sort_by_key(|b| b.1);
    let mut next_end = 0;
    for (begin, _, records, _) in by_begin {
        while next_end < ends.len() && ends[next_end].1 < *begin {
            for r in ends[next_end].2 {
                finished.insert(*r, (ends[next_end].0, ends[next_end].1));
            }
            next_end += 1;
        }
        for &(p, o) in records.iter() {
            let Some(&(first, done)) = finished.get(&(p, o)) else {
                continue;
            };
            let committed_past = x.events[done + 1..*begin].iter().any(|e| {
                matches!(&e.kind, EventKind::Commit { offsets } if offsets.iter().any(|(q, c)| *q == p && *c > o))
            });
            // What re-reads it may come while the first batch was still in the handler (a
            // rebalance takes the partition away and gives it back: it is fetched again from
            // the committed offset).
            let cause = x.events[first + 1..*begin]
                .iter()
                .any(|e| rereads(&e.kind, p));
            if committed_past || !cause {
                let e = &x.events[*begin];
                let why = if committed_past {
                    format!(
                        "after a commit past it, since it was finished at {}",
                        x.events[done].at
                    )
                } else {
                    format!(
                        "with nothing since it was handed at {} to re-read it",
                        x.events[first].at
                    )
                };
                return Some(x.violation(
                    Property::NoDuplicates,
                    e,
                    format!("p{p}@{o} handed to the handler again {why}"),
                ));
            }
        }
    }
    None
}

/// A commit that moves a partition's committed offset back: what the group committed before it
/// (the design's own commits and those of other members) is the record of what was handled.
fn commit_went_back(x: &Execution<'_>) -> Option<Violation> {
    let mut committed: BTreeMap<Partition, (Offset, usize)> = BTreeMap::new();
    for (i, e) in x.events.iter().enumerate() {
        match &e.kind {
            EventKind::OtherMemberHandled { partition, to, .. } => {
                committed.insert(*partition, (*to, i));
            }
            EventKind::Commit { offsets } => {
                for &(p, o) in offsets {
                    if let Some(&(c, at)) = committed.get(&p).filter(|(c, _)| *c > o) {
                        let by = match &x.events[at].kind {
                            EventKind::OtherMemberHandled { member, .. } => {
                                format!("member {member}")
                            }
                            _ => x.events[at]
                                .handle
                                .map_or_else(|| "a commit".to_string(), |h| h.to_string()),
                        };
                        return Some(x.violation(
                            Property::NoDuplicates,
                            e,
                            format!(
                                "commit of p{p}@{o} moves the committed offset back from p{p}@{c} ({by} committed it at {}): p{p}@{o}..p{p}@{} would be handed again",
                                x.events[at].at,
                                c - 1
                            ),
                        ));
                    }
                    committed.insert(p, (o, i));
                }
            }
            _ => {}
        }
    }
    None
}

/// `committed-before-close`: a handle commits what its successful batches finished before it
/// is closed.
pub fn committed_before_close(x: &Execution<'_>) -> Option<Violation> {
    // Which handle delivered each record last, and where in the log.
    let mut read_by: BTreeMap<(Partition, Offset), (HandleId, usize)> = BTreeMap::new();
    // Per batch (by its HandlerBegin) and partition: the handle that read it, the last offset,
    // and where the first of its records was read.
    type PerPartition = BTreeMap<Partition, (HandleId, Offset, usize)>;
    let mut batch_handle: BTreeMap<usize, PerPartition> = BTreeMap::new();
    for (i, e) in x.events.iter().enumerate() {
        match (&e.kind, e.handle) {
            (EventKind::PollEnd(PollOutcome::Record { partition, offset }), Some(h)) => {
                read_by.insert((*partition, *offset), (h, i));
            }
            (EventKind::HandlerBegin { records }, _) => {
                let mut per: PerPartition = BTreeMap::new();
                for &(p, o) in records {
                    if let Some(&(h, at)) = read_by.get(&(p, o)) {
                        let ent = per.entry(p).or_insert((h, o, at));
                        if ent.0 == h {
                            ent.1 = ent.1.max(o);
                            ent.2 = ent.2.min(at);
                        }
                    }
                }
                batch_handle.insert(i, per);
            }
            _ => {}
        }
    }
    for (begin, end, _, ok) in batches(x.events) {
        if !ok {
            continue;
        }
        let Some(per) = batch_handle.get(&begin) else {
            continue;
        };
        for (&p, &(h, last, read_at)) in per {
            // The handle must have held p from the read of the batch's records to its success.
            let lost_before = x.events[read_at..end].iter().any(|e| {
                e.handle == Some(h)
                    && (matches!(
                        &e.kind,
                        EventKind::CloseBegin
                            | EventKind::Expired(_)
                            | EventKind::Fenced { .. }
                            | EventKind::PollEnd(PollOutcome::Error(_))
                    ) || matches!(&e.kind, EventKind::Revoked(ps) if ps.contains(&p)))
            });
            if lost_before {
                continue;
            }
            // The handle's latest commit that failed for a transient reason, if any: it excuses
            // the close only if it came within the close bound before it (the design was still
            // trying when it gave up), not a hiccup long before that nobody retried.
            let mut transient_failure: Option<Instant> = None;
            for e in &x.events[end + 1..] {
                if e.handle != Some(h) {
                    continue;
                }
                match &e.kind {
                    EventKind::Commit { offsets }
                        if offsets.iter().any(|(q, c)| *q == p && *c > last) =>
                    {
                        break
                    }
                    EventKind::OpFailed {
                        op: "commit",
                        code:
                            ErrorCode::TimedOut | ErrorCode::BrokerTransport | ErrorCode::AllBrokersDown,
                    } => transient_failure = Some(e.at),
                    EventKind::CloseBegin
                        if transient_failure.is_some_and(|t| e.at - t <= x.rules.bounds.close) =>
                    {
                        break
                    }
                    EventKind::OpFailed { op: "commit", .. }
                    | EventKind::Expired(_)
                    | EventKind::Fenced { .. }
                    | EventKind::PollEnd(PollOutcome::Error(_)) => break,
                    EventKind::Revoked(ps) if ps.contains(&p) => break,
                    // A close at the very instant the handler finished: the verdict had not
                    // reached the design (virtual time ties are concurrency, not order).
                    EventKind::CloseBegin if e.at == x.events[end].at => break,
                    EventKind::CloseBegin => {
                        return Some(x.violation(
                            Property::CommittedBeforeClose,
                            e,
                            format!(
                                "{h} closed without committing p{p}@{}, whose batch the handler finished at {}",
                                last + 1,
                                x.events[end].at
                            ),
                        ));
                    }
                    _ => {}
                }
            }
        }
    }
    None
}

/// `membership-kept`: polls while paused come often enough; no max.poll expiry while paused.
pub fn membership_kept(x: &Execution<'_>) -> Option<Violation> {
    let limit = x
        .rules
        .max_poll_interval
        .saturating_sub(x.rules.bounds.poll_margin);
    for (s, end) in paused_intervals(x) {
        let start = &x.events[s];
        let end_at = x.events.get(end).map_or(x.end, |e| e.at);
        // The handles open during the interval, and when each was last polled before it.
        let mut last: BTreeMap<HandleId, Instant> = BTreeMap::new();
        for e in &x.events[..s] {
            match (&e.kind, e.handle) {
                (EventKind::Created { .. } | EventKind::PollBegin, Some(h)) => {
                    last.insert(h, e.at);
                }
                (EventKind::CloseBegin, Some(h)) => {
                    last.remove(&h);
                }
                _ => {}
            }
        }
        for e in &x.events[s..end.min(x.events.len())] {
            let Some(h) = e.handle else { continue };
            match &e.kind {
                EventKind::Expired(Expiry::MaxPoll) => {
                    return Some(x.violation(
                        Property::MembershipKept,
                        e,
                        format!(
                            "{h} left the group for not polling while paused (paused since {})",
                            start.at
                        ),
                    ))
                }
                EventKind::Created { .. } => {
                    last.insert(h, e.at);
                }
                EventKind::CloseBegin => {
                    last.remove(&h);
                }
                EventKind::PollBegin => {
                    if let Some(prev) = last.insert(h, e.at) {
                        if e.at - prev > limit {
                            return Some(x.violation(
                                Property::MembershipKept,
                                e,
                                format!(
                                    "{h} went {} without a poll while paused (limit {})",
                                    secs(e.at - prev),
                                    secs(limit)
                                ),
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some((h, prev)) = last.iter().find(|(_, prev)| end_at - **prev > limit) {
            return Some(Violation {
                property: Property::MembershipKept,
                at: *prev + limit,
                seq: end.min(x.events.len()).saturating_sub(1),
                message: format!(
                    "{h} not polled from {prev} to {end_at} while paused (limit {})",
                    secs(limit)
                ),
            });
        }
    }
    None
}

/// `no-self-fencing`: no handle of the design is fenced by another of its handles. Kafka
/// (KIP-345) lets a handle that joins with a static instance id take the place of the member
/// holding it and fences the old one if it is still open: a design that creates a consumer under
/// its id while a previous handle with that id has not finished closing (polled, or inside a
/// slow close) fences itself. Judged from the cause — a `Created` with an instance id while
/// another handle with it is open — so that a real run, whose recording cannot tell who fenced
/// it, is judged alike; and from the world's `Fenced` events, which name the newcomer.
/// Re-creating after the previous handle closed takes its place and fences nobody; a fencing
/// from outside the design (another process with the same id) is not the design's.
pub fn no_self_fencing(x: &Execution<'_>) -> Option<Violation> {
    let mut open: BTreeMap<HandleId, String> = BTreeMap::new();
    for e in x.events {
        match (&e.kind, e.handle) {
            (
                EventKind::Created {
                    instance_id: Some(id),
                },
                Some(h),
            ) => {
                if let Some((old, _)) = open.iter().find(|(_, o)| *o == id) {
                    return Some(x.violation(
                        Property::NoSelfFencing,
                        e,
                        format!(
                            "{h} created by `{}` with instance id {id} while {old} is still open: {old} is fenced",
                            e.thread
                        ),
                    ));
                }
                open.insert(h, id.clone());
            }
            (EventKind::CloseEnd, Some(h)) => {
                open.remove(&h);
            }
            (
                EventKind::Fenced {
                    instance_id,
                    by: Some(by),
                },
                Some(victim),
            ) => {
                return Some(x.violation(
                    Property::NoSelfFencing,
                    e,
                    format!(
                        "{victim} was still open when {by} joined with its instance id {instance_id}: {victim} is fenced"
                    ),
                ));
            }
            _ => {}
        }
    }
    None
}

/// `no-deadlock`: the execution was not aborted for a deadlock or the horizon.
pub fn no_deadlock(x: &Execution<'_>) -> Option<Violation> {
    match &x.abort {
        Some(r @ (AbortReason::Deadlock { at, .. } | AbortReason::Horizon { at, .. })) => {
            Some(Violation {
                property: Property::NoDeadlock,
                at: *at,
                seq: x.events.len().saturating_sub(1),
                message: r.to_string(),
            })
        }
        _ => None,
    }
}

/// The time the modeled client spent inside its own calls, merged: the closes of handles
/// (CloseBegin .. CloseEnd), slow creates (CreateBegin .. Created or CreateFailed on the same
/// thread) and slow commits (CommitBegin .. the handle's commit or failed commit). Time no
/// design can shorten; calls on several threads at once count once.
fn client_calls(x: &Execution<'_>) -> Vec<(Instant, Instant)> {
    // The client's own closes of handles (CloseBegin .. CloseEnd), slow creates (CreateBegin ..
    // Created or CreateFailed on the same thread) and slow commits (CommitBegin .. the
    // handle's commit or failed commit): time no design can shorten.
    let mut client_calls: Vec<(Instant, Instant)> = vec![];
    for (i, b) in x.events.iter().enumerate() {
        let end = match b.kind {
            EventKind::CloseBegin => x.events[i..]
                .iter()
                .find(|e| e.kind == EventKind::CloseEnd && e.handle == b.handle),
            EventKind::CreateBegin => x.events[i..].iter().find(|e| {
                e.thread == b.thread
                    && matches!(
                        e.kind,
                        EventKind::Created { .. } | EventKind::CreateFailed { .. }
                    )
            }),
            EventKind::CommitBegin => x.events[i + 1..].iter().find(|e| {
                e.handle == b.handle
                    && matches!(
                        e.kind,
                        EventKind::Commit { .. } | EventKind::OpFailed { op: "commit", .. }
                    )
            }),
            _ => continue,
        };
        client_calls.push((b.at, end.map_or(x.end, |e| e.at)));
    }
    // Calls on several threads at once (a design that creates while it closes) count once.
    client_calls.sort();
    let mut merged: Vec<(Instant, Instant)> = vec![];
    for (b, f) in client_calls {
        match merged.last_mut() {
            Some((_, last)) if b <= *last => *last = (*last).max(f),
            _ => merged.push((b, f)),
        }
    }
    merged
}

/// How much of `[from, to]` the client spent inside its own calls ([`client_calls`]).
fn in_client(calls: &[(Instant, Instant)], from: Instant, to: Instant) -> Duration {
    calls
        .iter()
        .filter(|(b, f)| *b < to && *f > from)
        .map(|(b, f)| (*f).min(to) - (*b).max(from))
        .sum()
}

/// `clean-shutdown`: close returns in time, then every thread ends and nothing stays open.
///
/// Judged when closing is part of the story ([`Rules::judge_shutdown`]); otherwise the final
/// close is teardown.
pub fn clean_shutdown(x: &Execution<'_>) -> Option<Violation> {
    if x.abort.is_some() || !x.rules.judge_shutdown {
        return None;
    }
    let bound = x.rules.bounds.close;
    let client_calls = client_calls(x);
    let mut last_return: Option<&Event> = None;
    for s in spans(x.events).iter().filter(|s| s.op == Op::Close) {
        let c = &x.events[s.called];
        let Some(r) = s.returned else {
            return Some(x.at_end(
                Property::CleanShutdown,
                format!("close() called at {} never returned", c.at),
            ));
        };
        let e = &x.events[r];
        let in_client = in_client(&client_calls, c.at, e.at);
        if e.at - c.at > bound + in_client {
            let client = if in_client.is_zero() {
                String::new()
            } else {
                format!(", {} of it inside the client's own calls", secs(in_client))
            };
            return Some(x.violation(
                Property::CleanShutdown,
                e,
                format!(
                    "close() took {} (bound {}{client})",
                    secs(e.at - c.at),
                    secs(bound)
                ),
            ));
        }
        if last_return.is_none_or(|l| l.seq < e.seq) {
            last_return = Some(e);
        }
    }
    let open: Vec<_> = handles_upto(x.events, x.events.len())
        .into_iter()
        .filter(|(_, s)| s.open)
        .map(|(h, _)| h)
        .collect();
    if !open.is_empty() {
        return Some(x.at_end(
            Property::CleanShutdown,
            format!("consumer(s) {open:?} still open after close()"),
        ));
    }
    // A thread inside the application's handler runs the application's code, which the design
    // cannot stop: it must not wait for it past the bound, but it is not blamed for it. Nor is
    // one that was inside it at the instant the last close returned and is still running (not
    // waiting on anything): it is on its way back from the application's code (`hunt --seed
    // 206`, `close-as-a-slow-batch-ends`).
    let inside = in_handler(x.events);
    let since = last_return.map_or(x.end, |e| e.at);
    let before = x
        .events
        .iter()
        .position(|e| e.at >= since)
        .unwrap_or(x.events.len());
    let mut at_the_instant = in_handler(&x.events[..before]);
    for e in &x.events[before..] {
        if e.at == since && matches!(e.kind, EventKind::HandlerBegin { .. }) {
            at_the_instant.insert(&e.thread, true);
        }
    }
    let left: Vec<&String> = x
        .threads_left
        .iter()
        .filter(|t| {
            let excused =
                |(name, inside): (&&str, &bool)| *inside && t.starts_with(&format!("`{name}`"));
            let returning =
                |(name, was): (&&str, &bool)| *was && **t == format!("`{name}` running");
            !inside.iter().any(excused) && !at_the_instant.iter().any(returning)
        })
        .collect();
    if !left.is_empty() {
        let left: Vec<&str> = left.iter().map(|s| s.as_str()).collect();
        return Some(x.at_end(
            Property::CleanShutdown,
            format!(
                "{} after close() returned at {since}, these threads still run: {}",
                secs(x.rules.bounds.close_grace),
                left.join("; ")
            ),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::Property;

    #[test]
    fn names_are_the_contracts() {
        let names: Vec<&str> = Property::ALL.iter().map(|p| p.name()).collect();
        assert_eq!(
            names
                .iter()
                .copied()
                .collect::<std::collections::BTreeSet<_>>(),
            [
                "resume-bounded",
                "resume-effective",
                "suspend-final",
                "handle-exclusive",
                "single-consumer",
                "paused-means-paused",
                "no-loss",
                "membership-kept",
                "no-self-fencing",
                "no-deadlock",
                "clean-shutdown",
                "no-duplicates",
                "committed-before-close",
            ]
            .into_iter()
            .collect()
        );
        for p in Property::ALL {
            assert_eq!(Property::from_name(p.name()), Some(p));
            assert!(p.definition().len() > p.name().len());
        }
    }
}
