//! Runs one scenario against one design for one execution: builds the world, starts the design,
//! plays the workload's timelines (the main thread's, and one thread per named application
//! thread) in virtual time, shuts down, and judges every property from the event log. Every call
//! the harness makes is logged (called, returned, with the result); the call-level properties
//! are judged from those records. [`ScenarioModel`] is the [`Model`] the checkers explore.

use crate::properties::{judge, spans, Caller, Execution, Property, Rules, Span, Violation};
use crate::scenario::{Exercise, Scenario, Situation, Step, When, MAIN};
use pausebeat::handler::Handler;
use pausebeat::kafka::{ErrorCode, Partition};
use pausebeat::sync::{AbortReason, Aborted, Backend, Instant, Model, Runtime, Virtual};
use pausebeat_world::{
    Design, Env, Event, EventKind, EventLog, Fault, Instance, LoggingHandler, Op, PollOutcome,
    World, WorldSnapshot,
};
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex as StdMutex};

/// A violation found in one execution, with its trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The violated property.
    pub property: Property,
    /// When and why.
    pub violation: Violation,
    /// Other properties the same execution violated.
    pub also: Vec<Property>,
    /// The event log up to the violation, one line per event.
    pub trace: Vec<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} at {}: {}",
            self.property, self.violation.at, self.violation.message
        )
    }
}

/// What one execution left behind: for `replay` (which prints the trace even when it passes)
/// and for tests that look at what happened, not only at the verdict.
#[derive(Clone, Debug, Default)]
pub struct Executed {
    /// The whole event log, one line per event.
    pub trace: Vec<String>,
    /// The event log itself.
    pub events: Vec<Event>,
    /// The world at the end (produced and committed offsets, handles, faults hit).
    pub world: Option<WorldSnapshot>,
    /// Every violation of the execution (waived properties left out), in [`Property::ALL`]
    /// order.
    pub violations: Vec<Violation>,
    /// Threads of the design still alive after the final close.
    pub threads_left: Vec<String>,
    /// Threads the execution created (the harness's included).
    pub threads_created: usize,
    /// Why the execution was aborted, if it was.
    pub abort: Option<AbortReason>,
    /// Virtual time at the end.
    pub end: Instant,
}

impl Executed {
    /// The design events, in order, with the event that carries each.
    pub fn design_events(&self) -> impl Iterator<Item = (&Event, &pausebeat::probe::DesignEvent)> {
        self.events.iter().filter_map(|e| match &e.kind {
            EventKind::Design(d) => Some((e, d)),
            _ => None,
        })
    }

    /// How many events satisfy `f`.
    pub fn count(&self, f: impl Fn(&EventKind) -> bool) -> usize {
        self.events.iter().filter(|e| f(&e.kind)).count()
    }

    /// The static instance ids of the handles created, in order.
    pub fn created_ids(&self) -> Vec<Option<String>> {
        self.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Created { instance_id } => Some(instance_id.clone()),
                _ => None,
            })
            .collect()
    }

    /// When the first application call of `op` was made, and when it returned.
    pub fn call_times(&self, op: Op) -> Option<(Instant, Instant)> {
        let called = self
            .events
            .iter()
            .find(|e| e.kind == EventKind::Call { op })?;
        let returned = self.events[called.seq..]
            .iter()
            .find(|e| matches!(&e.kind, EventKind::Return { op: o, .. } if *o == op))?;
        Some((called.at, returned.at))
    }

    /// The records handed to the handler more than once.
    pub fn handed_twice(&self) -> Vec<(pausebeat::kafka::Partition, pausebeat::kafka::Offset)> {
        let mut seen = std::collections::BTreeSet::new();
        let mut twice = Vec::new();
        for e in &self.events {
            if let EventKind::HandlerBegin { records } = &e.kind {
                for r in records {
                    if !seen.insert(*r) {
                        twice.push(*r);
                    }
                }
            }
        }
        twice
    }
}

/// What the explored schedules of one check exercised: the evidence that a pass means
/// something.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Executions judged.
    pub schedules: usize,
    /// Per purpose of the scenario ([`Scenario::purpose`], same order): the executions that
    /// exercised it.
    pub purposes: Vec<usize>,
    /// Per fault of the world (same order): the executions in which it hit an operation.
    pub faults: Vec<usize>,
    /// Calls made, per operation, over every execution: by the application (recorded by the
    /// harness) and by the design itself (reported through its probe).
    pub calls: BTreeMap<(Op, Caller), usize>,
    /// Executions cut short because they did not fit the checker (loom's 5 threads), and why.
    pub pruned: usize,
    /// Why the last pruned execution was.
    pub pruned_by: Option<String>,
}

impl Coverage {
    /// The purposes no execution exercised.
    pub fn missed<'s>(&self, sc: &'s Scenario) -> Vec<&'s Exercise> {
        sc.purpose
            .iter()
            .zip(&self.purposes)
            .filter(|(_, n)| **n == 0)
            .map(|(e, _)| e)
            .collect()
    }

    /// One line per fact, as `verify` reports them.
    pub fn lines(&self, sc: &Scenario) -> Vec<String> {
        let n = self.schedules;
        let mut out = Vec::new();
        for (e, k) in sc.purpose.iter().zip(&self.purposes) {
            out.push(format!("purpose: {e}: in {k} of {n} schedules"));
        }
        for (i, (f, k)) in sc.world.faults.iter().zip(&self.faults).enumerate() {
            out.push(format!(
                "fault #{i} {f:?}: hit an operation in {k} of {n} schedules"
            ));
        }
        let mut calls: Vec<String> = self
            .calls
            .iter()
            .map(|((op, by), k)| {
                let by = match by {
                    Caller::Application => "",
                    Caller::Design => " (by the design)",
                };
                format!("{op}{by}: {k}")
            })
            .collect();
        if calls.is_empty() {
            calls.push("none".into());
        }
        out.push(format!("calls judged: {}", calls.join(", ")));
        if let Some(why) = &self.pruned_by {
            out.push(format!(
                "pruned: {} of {n} executions did not fit the checker ({why})",
                self.pruned
            ));
        }
        out
    }
}

/// One (design, scenario) pair as a model the checkers explore.
pub struct ScenarioModel<D: Design> {
    scenario: Arc<Scenario>,
    last: Option<Arc<StdMutex<Executed>>>,
    /// Properties not judged (the design breaks them on purpose: `Design::WAIVED`).
    waived: Vec<Property>,
    coverage: Arc<StdMutex<Coverage>>,
    design: PhantomData<fn() -> D>,
}

impl<D: Design> ScenarioModel<D> {
    /// The model of `scenario` run against design `D`.
    pub fn new(scenario: Arc<Scenario>) -> Self {
        let coverage = Coverage {
            purposes: vec![0; scenario.purpose.len()],
            faults: vec![0; scenario.world.faults.len()],
            ..Coverage::default()
        };
        ScenarioModel {
            scenario,
            last: None,
            waived: D::WAIVED.iter().map(|(p, _)| *p).collect(),
            coverage: Arc::new(StdMutex::new(coverage)),
            design: PhantomData,
        }
    }

    /// What the executions so far exercised.
    pub fn coverage(&self) -> Coverage {
        self.coverage
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Also keep the full trace of the last execution in `slot`.
    pub fn keeping_last(mut self, slot: Arc<StdMutex<Executed>>) -> Self {
        self.last = Some(slot);
        self
    }
}

impl<D: Design> Model for ScenarioModel<D> {
    type Failure = Failure;

    fn execute<B: Backend>(&self, rt: &Virtual<B>) -> Result<(), Failure> {
        let keep = self.last.is_some();
        let (result, executed) =
            run_scenario::<D, B>(rt, &self.scenario, &self.waived, &self.coverage, keep);
        if let (Some(slot), Some(x)) = (&self.last, executed) {
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = x;
        }
        result
    }
}

/// Plays one execution; the trace (and the whole [`Executed`]) is built only on a violation
/// or when `keep` asks for it: rendering every event of every passing schedule would cost more
/// than judging it.
fn run_scenario<D: Design, B: Backend>(
    rt: &Virtual<B>,
    sc: &Scenario,
    waived: &[Property],
    coverage: &StdMutex<Coverage>,
    keep: bool,
) -> (Result<(), Failure>, Option<Executed>) {
    let world = World::new(rt, sc.world.clone());
    let log = world.log();
    let produced = world.clone();
    let handler: Arc<dyn Handler> = Arc::new(
        LoggingHandler::new(rt, log.clone(), sc.handler.delay, sc.handler.fails.clone())
            .with_jitter(sc.handler.jitter.clone())
            .checking(Arc::new(move |p, o| produced.record(p, o))),
    );
    let env = Env {
        rt: rt.clone(),
        factory: Arc::new(world.clone()),
        handler,
        probe: Arc::new(log.clone()),
        timing: sc.timing.clone(),
    };
    let mut threads_left = Vec::new();
    let played = panic::catch_unwind(AssertUnwindSafe(|| {
        let instance: Arc<dyn Instance> = Arc::from(D::start(env));
        // Every application thread but main plays its timeline on a thread of its own.
        let mut others = Vec::new();
        for name in sc.threads().into_iter().filter(|t| *t != MAIN) {
            let steps = sc.steps_on(name);
            let (rt2, instance2, log2) = (rt.clone(), instance.clone(), log.clone());
            others.push(rt.spawn(name, move || play(&rt2, &*instance2, &log2, &steps)));
        }
        let mut closed = play(rt, &*instance, &log, &sc.steps_on(MAIN));
        for t in others {
            match t.join() {
                Ok(c) => closed |= c,
                Err(p) => panic::resume_unwind(p),
            }
        }
        if !closed {
            log.record(None, EventKind::Workload("close (end of scenario)".into()));
            call(&*instance, &log, Op::Close);
        }
        // Every thread of the design must have ended within the grace after close() returned
        // (the scenario's, or the design's own if longer).
        let grace = close_grace::<D>(sc);
        if !grace.is_zero() {
            rt.sleep(grace);
        }
        threads_left = pausebeat_world::threads_left(rt);
        drop(instance);
    }));
    let abort = match (&played, rt.abort_reason()) {
        (_, Some(r @ (AbortReason::Deadlock { .. } | AbortReason::Horizon { .. }))) => Some(r),
        (_, Some(AbortReason::TooManyThreads { limit, thread })) => {
            // Not a property of the design: this path does not fit the checker (loom: 5
            // threads). It is pruned and counted; a check whose every path was pruned
            // exercised nothing.
            rt.end_all_threads();
            let mut c = coverage.lock().unwrap_or_else(|e| e.into_inner());
            c.schedules += 1;
            c.pruned += 1;
            c.pruned_by = Some(format!("more than {limit} threads (spawning `{thread}`)"));
            let executed = keep.then(|| {
                let events = log.snapshot();
                Executed {
                    trace: events.iter().map(|e| e.to_string()).collect(),
                    events,
                    abort: rt.abort_reason(),
                    threads_created: rt.threads_created(),
                    end: rt.now(),
                    ..Executed::default()
                }
            });
            return (Ok(()), executed);
        }
        (Err(p), _) if !p.is::<Aborted>() => {
            rt.end_all_threads();
            panic::resume_unwind(Box::new(describe_panic(p.as_ref())));
        }
        _ => None,
    };
    let end = rt.now();
    let events = log.snapshot();
    let snapshot = world.snapshot();
    let mut bounds = sc.bounds.clone();
    bounds.close_grace = close_grace::<D>(sc);
    let rules = Rules {
        bounds,
        max_poll_interval: sc.timing.max_poll_interval,
        judge_shutdown: sc.closes(),
        all_records_due: sc.all_records_due,
    };
    // Read on every execution, kept or not: it takes the model clock's lock, a scheduling point,
    // and a replay (kept) must make exactly the choices its exploration (not kept) made.
    let threads_created = rt.threads_created();
    // What only a kept execution needs, copied only then (this runs for every schedule).
    let kept = keep.then(|| (abort.clone(), threads_left.clone(), threads_created));
    let x = Execution {
        rules: &rules,
        events: &events,
        produced: snapshot.produced.clone(),
        abort,
        threads_left,
        end,
    };
    // Every property but the waived ones: exploration goes on past what a design breaks on
    // purpose, to report the others.
    let verdict: Vec<Violation> = judge(&x)
        .into_iter()
        .filter(|v| !waived.contains(&v.property))
        .collect();
    rt.end_all_threads();
    {
        let calls = spans(&events);
        let mut c = coverage.lock().unwrap_or_else(|e| e.into_inner());
        c.schedules += 1;
        for (i, e) in sc.purpose.iter().enumerate() {
            if exercised(e, sc, &events, &calls, &snapshot.faults_hit) {
                c.purposes[i] += 1;
            }
        }
        for (i, hit) in snapshot.faults_hit.iter().enumerate() {
            if *hit {
                c.faults[i] += 1;
            }
        }
        for s in &calls {
            *c.calls.entry((s.op, s.by)).or_default() += 1;
        }
    }
    let result = match verdict.first() {
        None => Ok(()),
        Some(v) => {
            let mut lines: Vec<String> = events
                .iter()
                .take(v.seq + 1)
                .map(|e| e.to_string())
                .collect();
            lines.push(format!("{} VIOLATION {}: {}", v.at, v.property, v.message));
            let also: Vec<Property> = verdict[1..].iter().map(|o| o.property).collect();
            if !also.is_empty() {
                let names: Vec<&str> = also.iter().map(|p| p.name()).collect();
                lines.push(format!("          also violated: {}", names.join(", ")));
            }
            Err(Failure {
                property: v.property,
                violation: v.clone(),
                also,
                trace: lines,
            })
        }
    };
    let executed = kept.map(|(abort, threads_left, threads_created)| Executed {
        trace: events.iter().map(|e| e.to_string()).collect(),
        events,
        world: Some(snapshot),
        violations: verdict,
        threads_left,
        threads_created,
        abort,
        end,
    });
    (result, executed)
}

/// Whether one execution exercised `e`.
fn exercised(
    e: &Exercise,
    sc: &Scenario,
    events: &[Event],
    calls: &[Span],
    faults_hit: &[bool],
) -> bool {
    let app = |op: Op| {
        calls
            .iter()
            .filter(move |s| s.op == op && s.by == Caller::Application)
    };
    match e {
        Exercise::Faults => faults_hit.iter().all(|h| *h),
        Exercise::TakenOver => {
            let assigned = |ev: &Event, p: Partition| matches!(&ev.kind, EventKind::Assigned { partitions, .. } if partitions.contains(&p));
            events.iter().enumerate().any(|(i, ev)| match &ev.kind {
                EventKind::OtherMemberHandled { partition, .. } => {
                    events[..i].iter().any(|e| assigned(e, *partition))
                        && events[i + 1..].iter().any(|e| assigned(e, *partition))
                }
                _ => false,
            })
        }
        Exercise::Concurrent(a, b) => {
            app(*a).any(|x| app(*b).any(|y| x.thread != y.thread && x.overlaps(y)))
        }
        Exercise::During(op, situation) => {
            let called: Vec<usize> = app(*op).map(|s| s.called).collect();
            let mut in_handler: BTreeMap<&str, bool> = BTreeMap::new();
            let mut restarting = false;
            let mut rebalancing = false;
            for ev in events {
                match &ev.kind {
                    EventKind::HandlerBegin { .. } => {
                        in_handler.insert(&ev.thread, true);
                    }
                    EventKind::HandlerEnd { .. } => {
                        in_handler.insert(&ev.thread, false);
                    }
                    EventKind::PollEnd(PollOutcome::Error(
                        ErrorCode::UnknownMember | ErrorCode::MaxPollExceeded | ErrorCode::Fenced,
                    )) => restarting = true,
                    EventKind::Created { .. } => restarting = false,
                    EventKind::Expired(_) => rebalancing = true,
                    EventKind::Assigned { .. } => rebalancing = false,
                    _ => {}
                }
                if !called.contains(&ev.seq) {
                    continue;
                }
                let t = ev.at.since_origin();
                let yes = match situation {
                    Situation::Batch => in_handler.values().any(|b| *b),
                    Situation::Restart => restarting,
                    // The world applies a member joining or leaving lazily (at its next
                    // operation): the membership changes at the spec's time, whoever looks.
                    Situation::Rebalance => rebalancing || !rebalance_served(events, sc, ev.seq),
                    Situation::Outage => sc.world.faults.iter().any(|f| {
                        matches!(*f, Fault::BrokerDown { from, until } if from <= t && t < until)
                    }),
                };
                if yes {
                    return true;
                }
            }
            false
        }
    }
}

/// True if every membership change of the spec due by the time of event `seq` was served to
/// the design's consumer (an assignment after it) before `seq`.
fn rebalance_served(events: &[Event], sc: &Scenario, seq: usize) -> bool {
    let at = events[seq].at.since_origin();
    let due = sc
        .world
        .members
        .iter()
        .flat_map(|m| std::iter::once(m.joins_at).chain(m.leaves_at))
        .filter(|t| *t <= at)
        .max();
    let Some(due) = due else { return true };
    events[..seq]
        .iter()
        .any(|e| e.at.since_origin() >= due && matches!(e.kind, EventKind::Assigned { .. }))
}

/// Calls `op` on the design, recording the call and its return in the log.
fn call<R: Runtime>(instance: &dyn Instance, log: &EventLog<R>, op: Op) {
    log.record(None, EventKind::Call { op });
    // A call is not atomic with respect to the other application threads: let another thread
    // ready at this instant run first sometimes (its call may begin before this one acts).
    <R::Backend as Backend>::yield_now();
    let error = instance.call(op).err().map(|e| e.to_string());
    log.record(None, EventKind::Return { op, error });
}

/// Plays one application thread's timeline; true if it closed the consumer (its last step).
fn play<R: Runtime>(rt: &R, instance: &dyn Instance, log: &EventLog<R>, steps: &[Step]) -> bool {
    for step in steps {
        let at = match &step.at {
            When::At(t) => *t,
            When::OneOf(ts) => {
                let t = ts[rt.pick(ts.len())];
                let (first, last) = (ts[0].as_secs(), ts[ts.len() - 1].as_secs());
                log.record(
                    None,
                    EventKind::Workload(format!(
                        "{} at {}s (chosen among {} instants, {first}..{last}s)",
                        step.op,
                        t.as_secs(),
                        ts.len()
                    )),
                );
                t
            }
        };
        let now = rt.now().since_origin();
        if at > now {
            rt.sleep(at - now);
        }
        call(instance, log, step.op);
        if step.op == Op::Close {
            return true;
        }
    }
    false
}

fn describe_panic(p: &(dyn std::any::Any + Send)) -> String {
    let msg = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".into());
    format!("the design panicked: {msg}")
}

/// The grace `clean-shutdown` gives the design's threads after the last close returned: the
/// scenario's, or the design's own ([`Design::CLOSE_GRACE`]) if longer.
fn close_grace<D: Design>(sc: &Scenario) -> std::time::Duration {
    sc.bounds.close_grace.max(D::CLOSE_GRACE.0)
}
