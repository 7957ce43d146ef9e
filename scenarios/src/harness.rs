//! Runs one scenario against one design for one execution: builds the world, starts the design,
//! plays the workload on the main thread in virtual time, shuts down, and judges every property
//! from the event log. [`ScenarioModel`] is the [`Model`] the checkers explore.

use crate::properties::{judge, Execution, Property, Rules, Violation};
use crate::scenario::{Action, Scenario};
use pausebeat::handler::Handler;
use pausebeat::sync::{AbortReason, Aborted, Backend, Instant, Model, Runtime, Virtual};
use pausebeat_world::{Design, Env, EventKind, LoggingHandler, World};
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
        let instance = D::start(env);
        let mut closed = false;
        for (i, step) in sc.steps.iter().enumerate() {
            let now = rt.now().since_origin();
            if step.at > now {
                rt.sleep(step.at - now);
            }
            match step.action {
                Action::Run => {
                    log.record(None, EventKind::Workload(format!("run #{}", i + 1)));
                    instance.run();
                }
                Action::Close => {
                    log.record(None, EventKind::Workload("close".into()));
                    instance.close();
                    closed = true;
                    break;
                }
            }
        }
        if !closed {
            log.record(None, EventKind::Workload("close (end of scenario)".into()));
            instance.close();
        }
        // Grace: every thread of the design must end within the close bound.
        rt.sleep(sc.bounds.close);
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

fn describe_panic(p: &(dyn std::any::Any + Send)) -> String {
    let msg = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".into());
    format!("the design panicked: {msg}")
}
