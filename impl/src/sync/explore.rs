//! The checkers' driver: one entry point, [`explore`], that runs a [`Model`] under loom or one of
//! shuttle's schedulers, and [`replay`], that re-runs one recorded schedule.
//!
//! A model runs one execution on a fresh [`Virtual`] runtime and returns `Err` on a violation. The
//! driver stops at the first violation and returns it with a schedule string that reproduces it:
//!
//! * shuttle: `shuttle:<shuttle's own encoded schedule>` (the string `shuttle::replay` takes);
//! * `std`: one plain execution on real threads with virtual time ([`replay`] only: to read
//!   what a scenario does on a passing path);
//! * loom: `loom:<preemption bound>:<execution number>[:<picks>]`. loom's exploration is
//!   deterministic, so re-running it with the same bound (and the same data choices) reaches the
//!   same execution again.
//!
//! Data choices ([`Runtime::pick`](super::Runtime::pick): when a scenario step happens) are
//! recorded by shuttle in its schedule. loom has no data nondeterminism, so the driver fixes the
//! value of every choice for one whole exploration and enumerates the combinations: one
//! execution with every choice 0 tells how many alternatives each has, then every combination
//! is explored with an equal share of the execution budget (`<picks>` in the schedule string,
//! e.g. `3.0.1`, names the combination).
//!
//! Panics are the control flow here, so the driver installs (once) a panic hook that stays quiet
//! for its own payloads ([`Aborted`](super::Aborted) and the stop signal) and defers to the
//! previous hook for everything else.

use super::backend_loom::{Picks, PICKS};
use super::{Aborted, Loom, Model, Shuttle, Virtual};
use std::any::Any;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

/// A way to explore schedules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Checker {
    /// loom: exhaustive DPOR within a preemption bound, stopped after `max_executions`.
    Loom {
        /// At most this many preemptions per execution.
        preemptions: usize,
        /// Stop (and say so) after this many executions.
        max_executions: usize,
    },
    /// shuttle's PCT scheduler: finds a bug of depth `depth` with a known probability.
    Pct {
        /// The bug depth it targets.
        depth: usize,
        /// Schedules to run.
        schedules: usize,
        /// Seed.
        seed: u64,
    },
    /// shuttle's uniformly random scheduler.
    Random {
        /// Schedules to run.
        schedules: usize,
        /// Seed.
        seed: u64,
    },
    /// shuttle's exhaustive depth-first scheduler (no partial-order reduction).
    Dfs {
        /// Stop after this many schedules.
        schedules: usize,
    },
}

impl Checker {
    /// The checker's name: `loom`, `pct`, `random`, `dfs`.
    pub fn name(&self) -> &'static str {
        match self {
            Checker::Loom { .. } => "loom",
            Checker::Pct { .. } => "pct",
            Checker::Random { .. } => "random",
            Checker::Dfs { .. } => "dfs",
        }
    }

    /// The budget: executions or schedules.
    pub fn budget(&self) -> usize {
        match self {
            Checker::Loom { max_executions, .. } => *max_executions,
            Checker::Pct { schedules, .. }
            | Checker::Random { schedules, .. }
            | Checker::Dfs { schedules } => *schedules,
        }
    }
}

/// How an exploration ended.
#[derive(Debug)]
pub enum Outcome<F> {
    /// Every explored schedule passed.
    Pass {
        /// False when the budget ran out before the space was exhausted (always false for the
        /// randomized schedulers).
        exhaustive: bool,
    },
    /// A schedule violated the model.
    Violation {
        /// What the model reported.
        failure: F,
        /// A string [`replay`] takes to reproduce it.
        schedule: String,
    },
    /// The exploration itself failed (a panic in the code under test or the harness).
    Error(String),
}

/// The result of [`explore`].
#[derive(Debug)]
pub struct Report<F> {
    /// How it ended.
    pub outcome: Outcome<F>,
    /// Executions / schedules run.
    pub schedules: usize,
    /// Wall-clock time.
    pub elapsed: Duration,
}

/// Why [`replay`] could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The schedule string is not one [`explore`] prints.
    #[error(
        "not a schedule string: {0} (expected `shuttle:<schedule>`, `loom:<bound>:<execution>[:<picks>]` or `std`)"
    )]
    BadSchedule(String),
    /// loom finished its exploration before reaching the execution.
    #[error("loom's exploration ended after {0} executions, before the one recorded")]
    LoomEnded(usize),
    /// The replay panicked.
    #[error("the replay failed: {0}")]
    Panicked(String),
}

/// The driver's own stop signal, unwound through the checker after a violation.
struct Stop;

thread_local! {
    /// Set while this OS thread runs a shuttle exploration (shuttle runs its tasks on the thread
    /// that called it), so that the panic hook knows whose report to print.
    static IN_SHUTTLE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

type Hook = Box<dyn Fn(&panic::PanicHookInfo<'_>) + Sync + Send + 'static>;

fn quiet_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // shuttle installs its panic hook once, wrapping whatever hook is set then; its report
        // only makes sense for panics inside a shuttle execution. Keep the default hook for the
        // rest, and stay quiet for the driver's own control-flow panics.
        let default: Arc<Hook> = Arc::new(panic::take_hook());
        let inner = default.clone();
        panic::set_hook(Box::new(move |info| inner(info)));
        let mut config = shuttle::Config::new();
        config.silence_warnings = true;
        config.failure_persistence = shuttle::FailurePersistence::None;
        shuttle::Runner::new(shuttle::scheduler::RoundRobinScheduler::new(1), config).run(|| {});
        let shuttle_hook = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let p = info.payload();
            if p.is::<Aborted>() || p.is::<Stop>() {
                return;
            }
            // PCT refuses a model without threads; the driver reports it as a single pass.
            if p.downcast_ref::<&str>()
                .is_some_and(|m| m.contains("did not exercise any concurrency"))
            {
                return;
            }
            if IN_SHUTTLE.with(|f| f.get()) {
                shuttle_hook(info)
            } else {
                default(info)
            }
        }));
    });
}

struct InShuttle;

impl InShuttle {
    fn enter() -> InShuttle {
        IN_SHUTTLE.with(|f| f.set(true));
        InShuttle
    }
}

impl Drop for InShuttle {
    fn drop(&mut self) {
        IN_SHUTTLE.with(|f| f.set(false));
    }
}

fn message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}

struct Found<F> {
    failure: F,
    schedule: String,
}

/// Runs `model` under `checker` until the first violation or the end of the budget.
pub fn explore<M: Model>(checker: &Checker, model: Arc<M>) -> Report<M::Failure> {
    quiet_panics();
    let start = Instant::now();
    let count = Arc::new(AtomicUsize::new(0));
    let found: Arc<Mutex<Option<Found<M::Failure>>>> = Arc::new(Mutex::new(None));
    let mut loom_exhaustive = false;
    let result = match checker {
        Checker::Loom {
            preemptions,
            max_executions,
        } => run_loom(*preemptions, *max_executions, model, &count, &found).map(|exhaustive| {
            loom_exhaustive = exhaustive;
        }),
        _ => run_shuttle(checker, model, &count, &found),
    };
    let schedules = count.load(Ordering::SeqCst);
    let found = found.lock().unwrap_or_else(|e| e.into_inner()).take();
    let outcome = match (found, result) {
        (Some(f), _) => Outcome::Violation {
            failure: f.failure,
            schedule: f.schedule,
        },
        (None, Err(msg)) => Outcome::Error(msg),
        (None, Ok(())) => Outcome::Pass {
            exhaustive: loom_exhaustive,
        },
    };
    Report {
        outcome,
        schedules,
        elapsed: start.elapsed(),
    }
}

/// Re-runs the one execution a schedule string names and returns what the model said of it.
pub fn replay<M: Model>(
    schedule: &str,
    model: Arc<M>,
) -> Result<Result<(), M::Failure>, ReplayError> {
    quiet_panics();
    let bad = || ReplayError::BadSchedule(schedule.to_string());
    if schedule.trim() == "std" {
        // One plain execution on real threads with virtual time (every choice 0).
        let rt = Virtual::<super::Std>::new();
        return panic::catch_unwind(AssertUnwindSafe(|| model.execute(&rt)))
            .map_err(|p| ReplayError::Panicked(message(&*p)));
    }
    let count = Arc::new(AtomicUsize::new(0));
    let found: Arc<Mutex<Option<Found<M::Failure>>>> = Arc::new(Mutex::new(None));
    let passed = Arc::new(Mutex::new(false));
    let result = if let Some(encoded) = schedule.trim().strip_prefix("shuttle:") {
        // shuttle's decoder indexes the first byte without checking.
        if encoded.trim().len() < 2 {
            return Err(bad());
        }
        let schedule = shuttle::scheduler::Schedule::clone(
            &shuttle_engine::scheduler::serialization::deserialize_schedule(encoded)
                .ok_or_else(bad)?,
        );
        let mut scheduler = shuttle::scheduler::ReplayScheduler::new_from_schedule(schedule);
        scheduler.set_allow_incomplete();
        let (found2, passed2) = (found.clone(), passed.clone());
        let _in_shuttle = InShuttle::enter();
        catch(move || {
            shuttle::Runner::new(scheduler, shuttle_config(None)).run(move || {
                let rt = Virtual::<Shuttle>::new();
                match model.execute(&rt) {
                    Ok(()) => *passed2.lock().unwrap_or_else(|e| e.into_inner()) = true,
                    Err(failure) => {
                        // Recorded, not panicked: shuttle reports every panicking task.
                        *found2.lock().unwrap_or_else(|e| e.into_inner()) = Some(Found {
                            failure,
                            schedule: String::new(),
                        });
                        rt.end_all_threads();
                    }
                }
            });
        })
    } else if let Some(rest) = schedule.trim().strip_prefix("loom:") {
        let mut parts = rest.split(':');
        let bound: usize = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        let exec: usize = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        let picks: Vec<usize> = match parts.next() {
            None | Some("") => vec![],
            Some(p) => p
                .split('.')
                .map(|v| v.parse::<usize>().map_err(|_| bad()))
                .collect::<Result<_, _>>()?,
        };
        if parts.next().is_some() {
            return Err(bad());
        }
        let passed2 = passed.clone();
        let r = run_loom_at(bound, exec, picks, model, &count, &found, passed2);
        if count.load(Ordering::SeqCst) < exec && r.is_ok() {
            return Err(ReplayError::LoomEnded(count.load(Ordering::SeqCst)));
        }
        r
    } else {
        return Err(bad());
    };
    if let Some(f) = found.lock().unwrap_or_else(|e| e.into_inner()).take() {
        return Ok(Err(f.failure));
    }
    if *passed.lock().unwrap_or_else(|e| e.into_inner()) {
        return Ok(Ok(()));
    }
    Err(ReplayError::Panicked(result.err().unwrap_or_else(|| {
        "the schedule did not reach the end of the execution".into()
    })))
}

/// Records the violation, ends every other thread of the execution, and unwinds out of the
/// checker. (Unwinding out of loom while other model threads are alive aborts the process.)
fn stop_with<B: super::Backend, F: Send + 'static>(
    rt: &Virtual<B>,
    found: &Mutex<Option<Found<F>>>,
    failure: F,
    schedule: String,
) -> ! {
    *found.lock().unwrap_or_else(|e| e.into_inner()) = Some(Found { failure, schedule });
    rt.end_all_threads();
    panic::panic_any(Stop)
}

/// Runs `f`, turning a panic into its message; the driver's own stop is not an error.
fn catch(f: impl FnOnce()) -> Result<(), String> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => Ok(()),
        Err(p) if p.is::<Stop>() => Ok(()),
        Err(p) => Err(message(&*p)),
    }
}

fn shuttle_config(max_time: Option<Duration>) -> shuttle::Config {
    let mut config = shuttle::Config::new();
    config.failure_persistence = shuttle::FailurePersistence::None;
    config.silence_warnings = true;
    config.max_time = max_time;
    config
}

fn run_shuttle<M: Model>(
    checker: &Checker,
    model: Arc<M>,
    count: &Arc<AtomicUsize>,
    found: &Arc<Mutex<Option<Found<M::Failure>>>>,
) -> Result<(), String> {
    use shuttle::scheduler::{DfsScheduler, PctScheduler, RandomScheduler, Scheduler};
    let scheduler: Box<dyn Scheduler + Send> = match *checker {
        Checker::Pct {
            depth,
            schedules,
            seed,
        } => Box::new(PctScheduler::new_from_seed(seed, depth.max(1), schedules)),
        Checker::Random { schedules, seed } => {
            Box::new(RandomScheduler::new_from_seed(seed, schedules))
        }
        Checker::Dfs { schedules } => Box::new(DfsScheduler::new(Some(schedules), true)),
        Checker::Loom { .. } => unreachable!("loom is run by run_loom"),
    };
    let (count, found) = (count.clone(), found.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let scheduler = UntilFound {
        inner: Some(scheduler),
        stop: stop.clone(),
    };
    let _in_shuttle = InShuttle::enter();
    let r = catch(move || {
        shuttle::Runner::new(scheduler, shuttle_config(None)).run(move || {
            count.fetch_add(1, Ordering::SeqCst);
            let rt = Virtual::<Shuttle>::new();
            if let Err(failure) = model.execute(&rt) {
                // shuttle wraps its encoding in lines; one line is easier to copy.
                let schedule: String =
                    shuttle_engine::scheduler::serialization::serialize_schedule(
                        &shuttle_engine::runtime::execution::CurrentSchedule::get_schedule(),
                    )
                    .split_whitespace()
                    .collect();
                *found.lock().unwrap_or_else(|e| e.into_inner()) = Some(Found {
                    failure,
                    schedule: format!("shuttle:{schedule}"),
                });
                // End this execution normally and let the scheduler start no other: a panic
                // would stop shuttle too, but it reports every panicking task on stderr.
                rt.end_all_threads();
                stop.store(true, Ordering::SeqCst);
            }
        });
    });
    match r {
        // PCT refuses a model that never spawned a thread: its single schedule passed.
        Err(e) if e.contains("did not exercise any concurrency") => Ok(()),
        r => r,
    }
}

/// A shuttle scheduler that starts no further execution once `stop` is set (a violation was
/// found): the exploration ends without a panic, so shuttle prints nothing.
struct UntilFound<S> {
    inner: Option<S>,
    stop: Arc<AtomicBool>,
}

impl<S> Drop for UntilFound<S> {
    fn drop(&mut self) {
        if self.stop.load(Ordering::SeqCst) {
            // shuttle's random scheduler prints its "failing seed" when it is dropped in the
            // middle of its budget; the driver reports the schedule itself, so the scheduler
            // is leaked instead (once per violation found).
            std::mem::forget(self.inner.take());
        }
    }
}

impl<S: shuttle::scheduler::Scheduler> shuttle::scheduler::Scheduler for UntilFound<S> {
    fn new_execution(&mut self) -> Option<shuttle::scheduler::Schedule> {
        if self.stop.load(Ordering::SeqCst) {
            return None;
        }
        self.inner.as_mut()?.new_execution()
    }

    fn next_task(
        &mut self,
        runnable: &[&shuttle::scheduler::Task],
        current: Option<shuttle::scheduler::TaskId>,
        yielding: bool,
    ) -> Option<shuttle::scheduler::TaskId> {
        self.inner.as_mut()?.next_task(runnable, current, yielding)
    }

    fn next_u64(&mut self) -> u64 {
        self.inner.as_mut().map_or(0, |s| s.next_u64())
    }
}

fn loom_builder(preemptions: usize, max_executions: Option<usize>) -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(preemptions);
    b.max_branches = 1_000_000;
    // loom checks the budget before running an execution: allow exactly `max_executions`.
    b.max_permutations = max_executions.map(|m| m + 1);
    b.checkpoint_interval = 1; // check the execution budget after every execution
    b.checkpoint_file = None;
    b.log = false;
    b
}

/// The schedule-string suffix naming a combination of data choices.
fn picks_suffix(picks: &[usize]) -> String {
    if picks.is_empty() {
        String::new()
    } else {
        let v: Vec<String> = picks.iter().map(|p| p.to_string()).collect();
        format!(":{}", v.join("."))
    }
}

/// The combination after `v` over `arities` (odometer order), `None` after the last.
fn next_combination(v: &[usize], arities: &[usize]) -> Option<Vec<usize>> {
    let mut v: Vec<usize> = v.to_vec();
    v.resize(arities.len(), 0);
    for i in (0..v.len()).rev() {
        if v[i] + 1 < arities[i] {
            v[i] += 1;
            for x in &mut v[i + 1..] {
                *x = 0;
            }
            return Some(v);
        }
    }
    None
}

/// One loom exploration with every data choice fixed to `picks`, at most `budget` executions.
/// Returns how many it ran, or the driver's error.
fn loom_once<M: Model>(
    preemptions: usize,
    budget: usize,
    picks: &[usize],
    model: &Arc<M>,
    count: &Arc<AtomicUsize>,
    found: &Arc<Mutex<Option<Found<M::Failure>>>>,
) -> Result<usize, String> {
    let (model, count, found) = (model.clone(), count.clone(), found.clone());
    let suffix = picks_suffix(picks);
    PICKS.with(|p| p.borrow_mut().fixed = picks.to_vec());
    let local = Arc::new(AtomicUsize::new(0));
    let local2 = local.clone();
    catch(move || {
        loom_builder(preemptions, Some(budget)).check(move || {
            count.fetch_add(1, Ordering::SeqCst);
            let i = local2.fetch_add(1, Ordering::SeqCst) + 1;
            PICKS.with(|p| p.borrow_mut().pos = 0);
            let rt = Virtual::<Loom>::new();
            if let Err(failure) = model.execute(&rt) {
                stop_with(
                    &rt,
                    &found,
                    failure,
                    format!("loom:{preemptions}:{i}{suffix}"),
                );
            }
        })
    })?;
    Ok(local.load(Ordering::SeqCst))
}

/// loom over every combination of the model's data choices; true if the whole bounded space
/// was explored within the budget.
fn run_loom<M: Model>(
    preemptions: usize,
    max_executions: usize,
    model: Arc<M>,
    count: &Arc<AtomicUsize>,
    found: &Arc<Mutex<Option<Found<M::Failure>>>>,
) -> Result<bool, String> {
    let (count, found) = (count.clone(), found.clone());
    let stopped = |found: &Arc<Mutex<Option<Found<M::Failure>>>>| {
        found.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    };
    // loom keeps per-thread state: give every exploration a fresh OS thread.
    in_fresh_thread(move || {
        PICKS.with(|p| *p.borrow_mut() = Picks::default());
        // One execution with every choice 0 tells which choices the model makes.
        let ran = loom_once(preemptions, 1, &[], &model, &count, &found)?;
        let arities = PICKS.with(|p| p.borrow().arities.clone());
        let combos = arities
            .iter()
            .fold(1usize, |a, &n| a.saturating_mul(n.max(1)));
        if stopped(&found) {
            return Ok(false);
        }
        if combos <= 1 {
            let ran = loom_once(preemptions, max_executions, &[], &model, &count, &found)?;
            return Ok(ran < max_executions);
        }
        let mut left = max_executions.saturating_sub(ran);
        let mut exhaustive = true;
        let mut picks: Vec<usize> = vec![0; arities.len()];
        let mut done = 0usize;
        loop {
            let arities = PICKS.with(|p| p.borrow().arities.clone());
            let total = arities
                .iter()
                .fold(1usize, |a, &n| a.saturating_mul(n.max(1)));
            if left == 0 {
                exhaustive = false;
                break;
            }
            let share = (left / total.saturating_sub(done).max(1)).clamp(1, left);
            let ran = loom_once(preemptions, share, &picks, &model, &count, &found)?;
            done += 1;
            left = left.saturating_sub(ran);
            if ran >= share {
                exhaustive = false; // this combination's exploration was cut at its share
            }
            if stopped(&found) {
                return Ok(false);
            }
            match next_combination(&picks, &arities) {
                Some(v) => picks = v,
                None => break,
            }
        }
        Ok(exhaustive)
    })
}

fn run_loom_at<M: Model>(
    preemptions: usize,
    at: usize,
    picks: Vec<usize>,
    model: Arc<M>,
    count: &Arc<AtomicUsize>,
    found: &Arc<Mutex<Option<Found<M::Failure>>>>,
    passed: Arc<Mutex<bool>>,
) -> Result<(), String> {
    let (count, found) = (count.clone(), found.clone());
    in_fresh_thread(move || {
        PICKS.with(|p| {
            *p.borrow_mut() = Picks {
                fixed: picks,
                ..Picks::default()
            }
        });
        catch(move || {
            loom_builder(preemptions, None).check(move || {
                let i = count.fetch_add(1, Ordering::SeqCst) + 1;
                PICKS.with(|p| p.borrow_mut().pos = 0);
                let rt = Virtual::<Loom>::new();
                let result = model.execute(&rt);
                if i == at {
                    match result {
                        Ok(()) => {
                            *passed.lock().unwrap_or_else(|e| e.into_inner()) = true;
                            rt.end_all_threads();
                            panic::panic_any(Stop)
                        }
                        Err(failure) => stop_with(&rt, &found, failure, String::new()),
                    }
                }
            })
        })
    })
}

fn in_fresh_thread<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    std::thread::Builder::new()
        .name("loom-explorer".into())
        .stack_size(64 << 20)
        .spawn(f)
        .map_err(|e| format!("cannot start the loom explorer thread: {e}"))?
        .join()
        .unwrap_or_else(|p| Err(message(&*p)))
}

impl<F: fmt::Debug> fmt::Display for Report<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            Outcome::Pass { exhaustive } => write!(
                f,
                "pass ({} schedules{}, {:?})",
                self.schedules,
                if *exhaustive { ", exhaustive" } else { "" },
                self.elapsed
            ),
            Outcome::Violation { failure, schedule } => write!(
                f,
                "violation after {} schedules: {failure:?} (replay: {schedule})",
                self.schedules
            ),
            Outcome::Error(e) => write!(f, "error after {} schedules: {e}", self.schedules),
        }
    }
}
