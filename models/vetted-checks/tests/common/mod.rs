//! The checks' harness: a *story* (a world, a timing, a handler, a workload), played against the
//! vetted design on one virtual-time execution, and every property of `shared/CONTRACT.md`
//! judged from the world's event log. A story is also a [`Model`], so loom and shuttle explore
//! its schedules.

#![allow(dead_code)] // each test binary uses a part of it

use pausebeat::consumer::Consumer;
use pausebeat::handler::{Handler, HandlerError};
use pausebeat::kafka::{HandleId, Offset, Partition, Record};
use pausebeat::probe::DesignEvent;
use pausebeat::sync::{AbortReason, Aborted, Backend, Instant, Model, Runtime, Virtual};
use pausebeat_vetted_checks::{config_for, Vetted};
use pausebeat_world::{
    Design, Env, Event, EventKind, EventLog, Expiry, Fault, Timing, World, WorldSpec,
};
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// What the application does at a virtual time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// A run through the `vetted` design adapter (run, then pause or suspend).
    Run(u64),
    Close(u64),
    /// Direct calls on the consumer (no adapter).
    Resume(u64),
    Pause(u64),
    Suspend(u64),
    RunOnce(u64),
}

/// A story: given a world, a timing and a handler, when these steps happen, then every property
/// holds.
#[derive(Clone, Debug)]
pub struct Story {
    pub world: WorldSpec,
    pub timing: Timing,
    /// Virtual time each batch takes in the handler.
    pub handler_delay: Duration,
    /// The handler fails batches given to it in these windows.
    pub handler_fails: Vec<(Duration, Duration)>,
    pub steps: Vec<Step>,
    /// `resume-bounded`.
    pub resume_bound: Duration,
    /// `resume-effective`.
    pub resume_applied: Duration,
    /// `membership-kept`: margin below max.poll.
    pub poll_margin: Duration,
    /// `clean-shutdown`.
    pub close_bound: Duration,
}

impl Story {
    pub fn new(partitions: i32) -> Story {
        let timing = Timing::default();
        Story {
            world: WorldSpec {
                partitions,
                session_timeout: timing.session_timeout,
                max_poll_interval: timing.max_poll_interval,
                ..WorldSpec::default()
            },
            timing,
            handler_delay: secs(1),
            handler_fails: Vec::new(),
            steps: Vec::new(),
            resume_bound: Duration::ZERO,
            resume_applied: secs(10),
            poll_margin: secs(30),
            close_bound: secs(10),
        }
    }
    pub fn records(mut self, at: u64, partition: Partition, n: u32) -> Story {
        self.world = self.world.produce(secs(at), partition, n);
        self
    }
    pub fn fault(mut self, f: Fault) -> Story {
        self.world = self.world.fault(f);
        self
    }
    pub fn member(mut self, joins: u64, leaves: Option<u64>) -> Story {
        self.world = self.world.member(secs(joins), leaves.map(secs));
        self
    }
    pub fn runs(mut self, at: &[u64]) -> Story {
        self.steps.extend(at.iter().map(|&t| Step::Run(t)));
        self
    }
    pub fn close_at(mut self, at: u64) -> Story {
        self.steps.push(Step::Close(at));
        self
    }
    pub fn timing(mut self, f: impl FnOnce(&mut Timing)) -> Story {
        f(&mut self.timing);
        self.world.session_timeout = self.timing.session_timeout;
        self.world.max_poll_interval = self.timing.max_poll_interval;
        self
    }
    pub fn handler_takes(mut self, d: Duration) -> Story {
        self.handler_delay = d;
        self
    }
    pub fn handler_fails(mut self, from: u64, until: u64) -> Story {
        self.handler_fails.push((secs(from), secs(until)));
        self
    }
}

/// The scenario handler: logs `HandlerBegin` / `HandlerEnd` around its delay.
struct StoryHandler<R: Runtime> {
    rt: R,
    log: EventLog<R>,
    delay: Duration,
    fails: Vec<(Duration, Duration)>,
}

impl<R: Runtime> Handler for StoryHandler<R> {
    fn handle(&self, batch: &[Record]) -> Result<(), HandlerError> {
        let records = batch.iter().map(|r| (r.partition, r.offset)).collect();
        self.log.record(None, EventKind::HandlerBegin { records });
        let start = self.rt.now().since_origin();
        if !self.delay.is_zero() {
            self.rt.sleep(self.delay);
        }
        let fail = self.fails.iter().any(|(a, b)| *a <= start && start < *b);
        self.log.record(None, EventKind::HandlerEnd { ok: !fail });
        if fail {
            Err(HandlerError("injected".into()))
        } else {
            Ok(())
        }
    }
}

/// One played execution.
pub struct Played {
    pub events: Vec<Event>,
    pub produced: BTreeMap<Partition, Offset>,
    pub committed: BTreeMap<Partition, Offset>,
    pub abort: Option<AbortReason>,
    pub threads_left: Vec<String>,
    pub threads_created: usize,
    pub end: Instant,
}

impl Played {
    pub fn trace(&self) -> String {
        self.events
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
    /// The design events, in order.
    pub fn design(&self) -> impl Iterator<Item = (&Event, &DesignEvent)> {
        self.events.iter().filter_map(|e| match &e.kind {
            EventKind::Design(d) => Some((e, d)),
            _ => None,
        })
    }
    pub fn count(&self, f: impl Fn(&EventKind) -> bool) -> usize {
        self.events.iter().filter(|e| f(&e.kind)).count()
    }
    pub fn created_ids(&self) -> Vec<Option<String>> {
        self.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Created { instance_id } => Some(instance_id.clone()),
                _ => None,
            })
            .collect()
    }
}

/// The design's threads still alive (called after close and the grace period).
fn left<B: Backend>(rt: &Virtual<B>) -> Vec<String> {
    let live = rt.live_threads().saturating_sub(1);
    let mut left: Vec<String> = Vec::new();
    if live > 0 {
        left = rt.blocked_threads().iter().map(|b| b.to_string()).collect();
        if left.len() < live {
            left.push(format!("{} running", live - left.len()));
        }
    }
    left
}

/// Plays `story` against the vetted design on `rt` (through the design adapter, or with direct
/// calls on the consumer when the story has any).
pub fn play<B: Backend>(rt: &Virtual<B>, story: &Story) -> Played {
    let world = World::new(rt, story.world.clone());
    let log = world.log();
    let handler: Arc<dyn Handler> = Arc::new(StoryHandler {
        rt: rt.clone(),
        log: log.clone(),
        delay: story.handler_delay,
        fails: story.handler_fails.clone(),
    });
    let env = Env {
        rt: rt.clone(),
        factory: Arc::new(world.clone()),
        handler,
        probe: Arc::new(log.clone()),
        timing: story.timing.clone(),
    };
    let mut threads_left = Vec::new();
    let direct = story.steps.iter().any(|s| {
        matches!(
            s,
            Step::Resume(_) | Step::Pause(_) | Step::Suspend(_) | Step::RunOnce(_)
        )
    });
    let played = panic::catch_unwind(AssertUnwindSafe(|| {
        let at = |t: u64| {
            let now = rt.now().since_origin();
            if secs(t) > now {
                rt.sleep(secs(t) - now);
            }
        };
        if direct {
            let c = Consumer::start(
                rt,
                config_for(&story.timing),
                env.factory,
                env.handler,
                env.probe,
            );
            for step in &story.steps {
                match *step {
                    Step::Resume(t) => {
                        at(t);
                        c.resume();
                    }
                    Step::Pause(t) => {
                        at(t);
                        let _ = c.pause();
                    }
                    Step::Suspend(t) => {
                        at(t);
                        let _ = c.suspend();
                    }
                    Step::Run(t) | Step::RunOnce(t) => {
                        at(t);
                        log.record(None, EventKind::Workload(format!("run at {t}s")));
                        let _ = c.run_once();
                    }
                    Step::Close(t) => {
                        at(t);
                        break;
                    }
                }
            }
            log.record(None, EventKind::Workload("close".into()));
            let _ = c.close();
            rt.sleep(story.close_bound);
            threads_left = left(rt);
            drop(c);
            return;
        }
        let instance = Vetted::start(env);
        let mut closed = false;
        for step in &story.steps {
            match *step {
                Step::Run(t) | Step::RunOnce(t) => {
                    at(t);
                    log.record(None, EventKind::Workload(format!("run at {t}s")));
                    instance.run();
                }
                Step::Close(t) => {
                    at(t);
                    log.record(None, EventKind::Workload("close".into()));
                    instance.close();
                    closed = true;
                    break;
                }
                Step::Resume(_) | Step::Pause(_) | Step::Suspend(_) => {}
            }
        }
        if !closed {
            log.record(None, EventKind::Workload("close (end)".into()));
            instance.close();
        }
        rt.sleep(story.close_bound);
        threads_left = left(rt);
        drop(instance);
    }));
    let abort = rt.abort_reason();
    if let Err(p) = played {
        if !p.is::<Aborted>() {
            rt.end_all_threads();
            panic::resume_unwind(p);
        }
    }
    let snapshot = world.snapshot();
    let played = Played {
        events: log.snapshot(),
        produced: snapshot.produced,
        committed: snapshot.committed,
        abort,
        threads_left,
        threads_created: rt.threads_created(),
        end: rt.now(),
    };
    // Threads still alive (a violation of clean-shutdown) must not outlive the execution.
    rt.end_all_threads();
    played
}

// ----- the properties ------------------------------------------------------------------------

/// Per-handle state replayed from the log.
#[derive(Default, Clone, Debug)]
struct HandleView {
    open: bool,
    assigned: BTreeSet<Partition>,
    paused: BTreeSet<Partition>,
}

fn handles_upto(events: &[Event], upto: usize) -> BTreeMap<HandleId, HandleView> {
    let mut hs: BTreeMap<HandleId, HandleView> = BTreeMap::new();
    for e in events.iter().take(upto + 1) {
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

/// From `pause()` returning to the next resume, suspend or close (log positions).
fn paused_intervals(x: &Played) -> Vec<(usize, usize)> {
    let mut out = vec![];
    let mut start = None;
    for (e, d) in x.design() {
        match d {
            DesignEvent::PauseReturned => {
                start.get_or_insert(e.seq);
            }
            DesignEvent::ResumeCalled | DesignEvent::SuspendCalled | DesignEvent::CloseCalled => {
                if let Some(s) = start.take() {
                    out.push((s, e.seq));
                }
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, x.events.len()));
    }
    out
}

/// Every property of the contract judged on one execution: the violations, each as
/// `property: why`.
pub fn judge(story: &Story, x: &Played) -> Vec<String> {
    let mut v = Vec::new();
    let mut fail = |p: &str, m: String| v.push(format!("{p}: {m}"));
    // no-deadlock
    if let Some(r @ (AbortReason::Deadlock { .. } | AbortReason::Horizon { .. })) = &x.abort {
        fail("no-deadlock", r.to_string());
    }
    if let Some(r @ AbortReason::TooManyThreads { .. }) = &x.abort {
        fail("harness", r.to_string());
    }
    // resume-bounded
    let mut called: BTreeMap<&str, &Event> = BTreeMap::new();
    for (e, d) in x.design() {
        match d {
            DesignEvent::ResumeCalled => {
                called.insert(&e.thread, e);
            }
            DesignEvent::ResumeReturned { ok } => {
                if let Some(c) = called.remove(e.thread.as_str()) {
                    if !ok || e.at - c.at > story.resume_bound {
                        fail(
                            "resume-bounded",
                            format!("resume() at {} returned ok={ok} at {}", c.at, e.at),
                        );
                    }
                }
            }
            _ => {}
        }
    }
    if x.abort.is_none() && !called.is_empty() {
        fail("resume-bounded", "a resume() never returned".into());
    }
    // resume-effective
    for (e, d) in x.design() {
        if *d != (DesignEvent::ResumeReturned { ok: true }) {
            continue;
        }
        let deadline = e.at + story.resume_applied;
        let later: Vec<&Event> = x.events[e.seq + 1..]
            .iter()
            .take_while(|l| l.at <= deadline)
            .collect();
        let superseded = later.iter().any(|l| {
            matches!(
                l.kind,
                EventKind::Design(
                    DesignEvent::PauseCalled
                        | DesignEvent::SuspendCalled
                        | DesignEvent::CloseCalled
                )
            )
        });
        if superseded || (x.end < deadline && x.abort.is_some()) {
            continue;
        }
        let upto = later.last().map_or(e.seq, |l| l.seq);
        let hs = handles_upto(&x.events, upto);
        if let Some((id, cur)) = hs.iter().filter(|(_, s)| s.open).max_by_key(|(id, _)| **id) {
            let stuck: Vec<_> = cur.assigned.intersection(&cur.paused).collect();
            if !stuck.is_empty() {
                fail(
                    "resume-effective",
                    format!(
                        "resume() at {}: at {deadline} {id} has {stuck:?} paused",
                        e.at
                    ),
                );
            }
        }
    }
    // suspend-final
    for (e, d) in x.design() {
        if *d != DesignEvent::SuspendReturned {
            continue;
        }
        if let Some((id, _)) = handles_upto(&x.events, e.seq).iter().find(|(_, s)| s.open) {
            fail(
                "suspend-final",
                format!("{id} open when suspend() returned at {}", e.at),
            );
        }
        for l in &x.events[e.seq + 1..] {
            match &l.kind {
                EventKind::Design(DesignEvent::RunStarted) => break,
                EventKind::Workload(w) if w.starts_with("run") => break,
                EventKind::Created { .. } => {
                    fail(
                        "suspend-final",
                        format!("created at {} after suspend", l.at),
                    );
                    break;
                }
                _ => {}
            }
        }
    }
    // handle-exclusive
    for e in &x.events {
        if let EventKind::Overlap { .. } = e.kind {
            fail("handle-exclusive", e.to_string());
        }
    }
    // single-consumer
    let mut open: BTreeSet<HandleId> = BTreeSet::new();
    let mut closes: BTreeMap<HandleId, u32> = BTreeMap::new();
    for e in &x.events {
        let Some(h) = e.handle else { continue };
        match &e.kind {
            EventKind::Created { .. } => {
                open.insert(h);
                if open.len() > 1 {
                    fail(
                        "single-consumer",
                        format!("{h} created while {open:?} open"),
                    );
                }
            }
            EventKind::CloseBegin => {
                open.remove(&h);
                let n = closes.entry(h).or_default();
                *n += 1;
                if *n > 1 {
                    fail("single-consumer", format!("{h} closed twice"));
                }
            }
            _ => {}
        }
    }
    if x.abort.is_none() && !open.is_empty() {
        fail("single-consumer", format!("{open:?} never closed"));
    }
    // paused-means-paused
    for (s, end) in paused_intervals(x) {
        for e in &x.events[s..end.min(x.events.len())] {
            if let EventKind::HandlerBegin { records } = &e.kind {
                fail(
                    "paused-means-paused",
                    format!("handler got {records:?} at {} while paused", e.at),
                );
            }
        }
    }
    // no-loss
    let mut finished: BTreeMap<Partition, BTreeSet<Offset>> = BTreeMap::new();
    let mut begun: BTreeMap<&str, &Vec<(Partition, Offset)>> = BTreeMap::new();
    for e in &x.events {
        match &e.kind {
            EventKind::HandlerBegin { records } => {
                begun.insert(&e.thread, records);
            }
            EventKind::HandlerEnd { ok } => {
                if let (true, Some(rs)) = (*ok, begun.remove(e.thread.as_str())) {
                    for (p, o) in rs {
                        finished.entry(*p).or_default().insert(*o);
                    }
                }
            }
            EventKind::Commit { offsets } => {
                for (p, o) in offsets {
                    let done = finished.get(p);
                    if let Some(m) = (0..*o).find(|off| !done.is_some_and(|d| d.contains(off))) {
                        fail(
                            "no-loss",
                            format!("commit p{p}@{o} at {} passes unfinished p{p}@{m}", e.at),
                        );
                    }
                }
            }
            _ => {}
        }
    }
    if x.abort.is_none() {
        for (p, high) in &x.produced {
            let done = finished.get(p);
            let missing = (0..*high)
                .filter(|off| !done.is_some_and(|d| d.contains(off)))
                .count();
            if missing > 0 {
                fail(
                    "no-loss",
                    format!("{missing} record(s) of p{p} never handled"),
                );
            }
        }
    }
    // membership-kept (stricter than the contract: no max.poll expiry at any time)
    let limit = story
        .timing
        .max_poll_interval
        .saturating_sub(story.poll_margin);
    for e in &x.events {
        if let EventKind::Expired(Expiry::MaxPoll) = e.kind {
            fail("membership-kept", format!("{e}"));
        }
    }
    for (s, end) in paused_intervals(x) {
        let end_at = x.events.get(end).map_or(x.end, |e| e.at);
        let mut last: BTreeMap<HandleId, Instant> = BTreeMap::new();
        for e in &x.events[..end.min(x.events.len())] {
            let Some(h) = e.handle else { continue };
            match &e.kind {
                EventKind::Created { .. } => {
                    last.insert(h, e.at);
                }
                EventKind::PollBegin => {
                    if let Some(prev) = last.insert(h, e.at) {
                        if e.seq >= s && e.at - prev > limit {
                            fail("membership-kept", format!("{h}: no poll {prev}..{}", e.at));
                        }
                    }
                }
                EventKind::CloseBegin => {
                    last.remove(&h);
                }
                _ => {}
            }
        }
        for (h, prev) in &last {
            if end_at - *prev > limit {
                fail("membership-kept", format!("{h}: no poll {prev}..{end_at}"));
            }
        }
    }
    // no-self-fencing
    for e in &x.events {
        if let EventKind::Fenced { .. } = e.kind {
            fail("no-self-fencing", e.to_string());
        }
    }
    // clean-shutdown
    if x.abort.is_none() {
        let mut called: Option<&Event> = None;
        let mut returned = false;
        for (e, d) in x.design() {
            match d {
                DesignEvent::CloseCalled => called = Some(e),
                DesignEvent::CloseReturned => {
                    if let Some(c) = called.take() {
                        returned = true;
                        if e.at - c.at > story.close_bound {
                            fail("clean-shutdown", format!("close() took {:?}", e.at - c.at));
                        }
                    }
                }
                _ => {}
            }
        }
        if called.is_some() || !returned {
            fail("clean-shutdown", "close() did not return".into());
        }
        let left: Vec<_> = handles_upto(&x.events, x.events.len())
            .into_iter()
            .filter(|(_, s)| s.open)
            .map(|(h, _)| h)
            .collect();
        if !left.is_empty() {
            fail("clean-shutdown", format!("{left:?} open at the end"));
        }
        if !x.threads_left.is_empty() {
            fail(
                "clean-shutdown",
                format!("threads left: {:?}", x.threads_left),
            );
        }
    }
    v
}

/// Plays and judges on `Virtual<Std>`; panics with the trace on a violation.
pub fn check(story: &Story) -> Played {
    let rt = Virtual::<pausebeat::sync::Std>::with_horizon(secs(24 * 3600));
    let x = play(&rt, story);
    let v = judge(story, &x);
    assert!(v.is_empty(), "violations: {v:#?}\ntrace:\n{}", x.trace());
    x
}

/// A story as a model the checkers explore: a violation fails the execution.
pub struct Explore(pub Story);

impl Model for Explore {
    type Failure = String;
    fn execute<B: Backend>(&self, rt: &Virtual<B>) -> Result<(), String> {
        let x = play(rt, &self.0);
        let v = judge(&self.0, &x);
        if v.is_empty() {
            Ok(())
        } else {
            Err(format!("{v:#?}\ntrace:\n{}", x.trace()))
        }
    }
}
