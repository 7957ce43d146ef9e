//! Runs one scenario against one design for one execution: builds the world, starts the design,
//! plays the workload's timelines (the main thread's, and one thread per named application
//! thread) in virtual time, shuts down, and judges every property from the event log. Every call
//! the harness makes is logged (called, returned, with the result); the call-level properties
//! are judged from those records. [`ScenarioModel`] is the [`Model`] the checkers explore.

use crate::properties::{judge, Execution, Property, Rules, Violation};
use crate::scenario::{Scenario, Step, When, MAIN};
use pausebeat::handler::Handler;
use pausebeat::sync::{AbortReason, Aborted, Backend, Instant, Model, Runtime, Virtual};
use pausebeat_world::{Design, Env, EventKind, EventLog, Instance, LoggingHandler, Op, World};
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

/// What one execution left behind (for `replay`, which prints the trace even when it passes).
#[derive(Clone, Debug, Default)]
pub struct Executed {
    /// The whole event log, one line per event.
    pub trace: Vec<String>,
    /// Virtual time at the end.
    pub end: Instant,
}

/// One (design, scenario) pair as a model the checkers explore.
pub struct ScenarioModel<D: Design> {
    scenario: Arc<Scenario>,
    last: Option<Arc<StdMutex<Executed>>>,
    design: PhantomData<fn() -> D>,
}

impl<D: Design> ScenarioModel<D> {
    /// The model of `scenario` run against design `D`.
    pub fn new(scenario: Arc<Scenario>) -> Self {
        ScenarioModel {
            scenario,
            last: None,
            design: PhantomData,
        }
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
        let result = run_scenario::<D, B>(rt, &self.scenario);
        if let Some(slot) = &self.last {
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = result.1;
        }
        result.0
    }
}

fn run_scenario<D: Design, B: Backend>(
    rt: &Virtual<B>,
    sc: &Scenario,
) -> (Result<(), Failure>, Executed) {
    let world = World::new(rt, sc.world.clone());
    let log = world.log();
    let handler: Arc<dyn Handler> = Arc::new(LoggingHandler::new(
        rt,
        log.clone(),
        sc.handler.delay,
        sc.handler.fails.clone(),
    ));
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
            let steps: Vec<Step> = sc
                .steps
                .iter()
                .filter(|s| s.thread == name)
                .cloned()
                .collect();
            let (rt2, instance2, log2) = (rt.clone(), instance.clone(), log.clone());
            others.push(rt.spawn(name, move || play(&rt2, &*instance2, &log2, &steps)));
        }
        let mine: Vec<Step> = sc
            .steps
            .iter()
            .filter(|s| s.thread == MAIN)
            .cloned()
            .collect();
        let mut closed = play(rt, &*instance, &log, &mine);
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
        // Every thread of the design must have ended within the grace after close() returned.
        if !sc.bounds.close_grace.is_zero() {
            rt.sleep(sc.bounds.close_grace);
        }
        threads_left = pausebeat_world::threads_left(rt);
        drop(instance);
    }));
    let abort = match (&played, rt.abort_reason()) {
        (_, Some(r @ (AbortReason::Deadlock { .. } | AbortReason::Horizon { .. }))) => Some(r),
        (_, Some(AbortReason::TooManyThreads { limit, thread })) => {
            // Not a property of the design: the model does not fit the checker.
            rt.end_all_threads();
            let msg =
                format!("needs more than {limit} threads (spawning `{thread}`): too big for loom");
            panic::panic_any(msg);
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
    let rules = Rules {
        bounds: sc.bounds.clone(),
        max_poll_interval: sc.timing.max_poll_interval,
        judge_shutdown: sc.closes(),
        all_records_due: sc.all_records_due,
    };
    let x = Execution {
        rules: &rules,
        events: &events,
        produced: snapshot.produced.clone(),
        abort,
        threads_left,
        end,
    };
    let verdict = judge(&x);
    rt.end_all_threads();
    let trace: Vec<String> = events.iter().map(|e| e.to_string()).collect();
    let executed = Executed {
        trace: trace.clone(),
        end,
    };
    let mut verdict = verdict.into_iter();
    let result = match verdict.next() {
        None => Ok(()),
        Some(v) => {
            let mut lines: Vec<String> = trace.into_iter().take(v.seq + 1).collect();
            lines.push(format!("{} VIOLATION {}: {}", v.at, v.property, v.message));
            let also: Vec<Property> = verdict.map(|o| o.property).collect();
            if !also.is_empty() {
                let names: Vec<&str> = also.iter().map(|p| p.name()).collect();
                lines.push(format!("          also violated: {}", names.join(", ")));
            }
            Err(Failure {
                property: v.property,
                violation: v,
                also,
                trace: lines,
            })
        }
    };
    (result, executed)
}

/// Calls `op` on the design, recording the call and its return in the log.
fn call(instance: &dyn Instance, log: &EventLog<impl Runtime>, op: Op) {
    log.record(None, EventKind::Call { op });
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
