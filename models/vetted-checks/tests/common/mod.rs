//! The checks' harness: a *story* (a world, a timing, a handler, a workload), played against the
//! vetted design on one virtual-time execution, and every property of `docs/CONTRACT.md`
//! judged from the world's event log. A story is also a [`Model`], so loom and shuttle explore
//! its schedules.

#![allow(dead_code)] // each test binary uses a part of it

use pausebeat::consumer::Consumer;
use pausebeat::handler::Handler;
use pausebeat::kafka::{Offset, Partition};
use pausebeat::probe::DesignEvent;
use pausebeat::sync::{AbortReason, Aborted, Backend, Instant, Model, Runtime, Virtual};
use pausebeat_vetted_checks::{config_for, Vetted};
use pausebeat_world::properties::{self, Bounds, Execution, Rules};
use pausebeat_world::{
    Design, Env, Event, EventKind, Fault, LoggingHandler, Op, Timing, World, WorldSpec,
};
use std::collections::BTreeMap;
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
    /// When the first call of `op` was made, and when it returned.
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

/// Plays `story` against the vetted design on `rt` (through the design adapter, or with direct
/// calls on the consumer when the story has any).
pub fn play<B: Backend>(rt: &Virtual<B>, story: &Story) -> Played {
    let world = World::new(rt, story.world.clone());
    let log = world.log();
    let handler: Arc<dyn Handler> = Arc::new(LoggingHandler::new(
        rt,
        log.clone(),
        story.handler_delay,
        story.handler_fails.clone(),
    ));
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
                        called(&log, Op::Resume, || {
                            c.resume();
                            Ok(())
                        });
                    }
                    Step::Pause(t) => {
                        at(t);
                        called(&log, Op::Pause, || c.pause());
                    }
                    Step::Suspend(t) => {
                        at(t);
                        called(&log, Op::Suspend, || c.suspend());
                    }
                    Step::Run(t) | Step::RunOnce(t) => {
                        at(t);
                        log.record(None, EventKind::Workload(format!("run at {t}s")));
                        called(&log, Op::Run, || c.run_once().map(|_| ()));
                    }
                    Step::Close(t) => {
                        at(t);
                        break;
                    }
                }
            }
            log.record(None, EventKind::Workload("close".into()));
            called(&log, Op::Close, || c.close());
            rt.sleep(story.close_bound);
            threads_left = pausebeat_world::threads_left(rt);
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
                    called(&log, Op::Run, || {
                        instance.run();
                        Ok(())
                    });
                }
                Step::Close(t) => {
                    at(t);
                    log.record(None, EventKind::Workload("close".into()));
                    called(&log, Op::Close, || {
                        called(&log, Op::Close, || {
                            instance.close();
                            Ok(())
                        });
                        Ok(())
                    });
                    closed = true;
                    break;
                }
                Step::Resume(_) | Step::Pause(_) | Step::Suspend(_) => {}
            }
        }
        if !closed {
            log.record(None, EventKind::Workload("close (end)".into()));
            called(&log, Op::Close, || {
                instance.close();
                Ok(())
            });
        }
        rt.sleep(story.close_bound);
        threads_left = pausebeat_world::threads_left(rt);
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

/// Makes a call the way the catalogue's harness does: logged, with its result.
fn called<R: Runtime>(
    log: &pausebeat_world::EventLog<R>,
    op: Op,
    f: impl FnOnce() -> Result<(), pausebeat::consumer::ConsumerError>,
) {
    log.record(None, EventKind::Call { op });
    let error = f().err().map(|e| e.to_string());
    log.record(None, EventKind::Return { op, error });
}

// ----- the properties ------------------------------------------------------------------------

/// Every property of the contract judged on one execution, by the catalogue's own property
/// functions (`pausebeat_world::properties`): the violations, each as `property: why`.
pub fn judge(story: &Story, x: &Played) -> Vec<String> {
    let rules = Rules {
        bounds: Bounds {
            resume: story.resume_bound,
            resume_applied: story.resume_applied,
            poll_margin: story.poll_margin,
            close: story.close_bound,
            close_grace: story.close_bound,
        },
        max_poll_interval: story.timing.max_poll_interval,
        judge_shutdown: true,
        all_records_due: true,
    };
    let execution = Execution {
        rules: &rules,
        events: &x.events,
        produced: x.produced.clone(),
        abort: x.abort.clone(),
        threads_left: x.threads_left.clone(),
        end: x.end,
    };
    let mut v: Vec<String> = properties::judge(&execution)
        .into_iter()
        .map(|v| format!("{}: {} (at {})", v.property, v.message, v.at))
        .collect();
    if let Some(r @ AbortReason::TooManyThreads { .. }) = &x.abort {
        v.push(format!("harness: {r}"));
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
