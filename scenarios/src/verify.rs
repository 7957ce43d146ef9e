//! Running checks: one (design, scenario, checker) at a time, in-process — the library API users
//! call from their own tests — and the result records the CLI prints, writes as JSON and JUnit.

use crate::catalogue;
use crate::designs::{dispatch, WithDesign};
use crate::expect::{expectation, Expected};
use crate::harness::{Executed, Failure, ScenarioModel};
use crate::scenario::Scenario;
use pausebeat::sync::explore::{explore, replay, Checker, Outcome, ReplayError};
use pausebeat_world::Design;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Budgets and seeds for a verification run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Schedules per shuttle checker.
    pub schedules: usize,
    /// loom's preemption bound.
    pub loom_preemptions: usize,
    /// loom's execution budget.
    pub loom_executions: usize,
    /// PCT's depth.
    pub pct_depth: usize,
    /// Seed of the randomized checkers.
    pub seed: u64,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            schedules: 500,
            loom_preemptions: 2,
            loom_executions: 2_000,
            pct_depth: 3,
            seed: 0x5eed,
        }
    }
}

impl Budget {
    /// The checker called `name` with this budget.
    pub fn checker(&self, name: &str) -> Option<Checker> {
        Some(match name {
            "loom" => Checker::Loom {
                preemptions: self.loom_preemptions,
                max_executions: self.loom_executions,
            },
            "pct" => Checker::Pct {
                depth: self.pct_depth,
                schedules: self.schedules,
                seed: self.seed,
            },
            "random" => Checker::Random {
                schedules: self.schedules,
                seed: self.seed,
            },
            "dfs" => Checker::Dfs {
                schedules: self.schedules,
            },
            _ => return None,
        })
    }
}

/// The checkers `verify` runs by default.
pub const DEFAULT_CHECKERS: [&str; 3] = ["loom", "pct", "random"];
/// Every checker.
pub const CHECKERS: [&str; 4] = ["loom", "pct", "random", "dfs"];

/// One check's result, in the shape of `CONTRACT.md`'s JSON.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CheckResult {
    /// The design.
    pub design: String,
    /// The scenario.
    pub scenario: String,
    /// The checker.
    pub checker: String,
    /// `pass`, `violation` or `error`.
    pub verdict: String,
    /// `pass` or `violation`.
    pub expected: String,
    /// The violated property, on a violation.
    pub property: Option<String>,
    /// Schedules (executions) explored.
    pub schedules: usize,
    /// Wall-clock milliseconds.
    pub elapsed_ms: u64,
    /// The schedule string that replays the violation.
    pub replay: Option<String>,
    /// The trace of the violation, one line per event.
    pub trace: Option<Vec<String>>,
    /// Other properties the violating schedule also broke.
    #[serde(default)]
    pub also: Vec<String>,
    /// What went wrong, for errors and violations.
    #[serde(default)]
    pub message: Option<String>,
    /// True when loom exhausted its bounded space.
    #[serde(default)]
    pub exhaustive: bool,
    /// Whether this outcome is the expected one.
    pub as_expected: bool,
    /// Why that outcome is expected (with the reference section).
    #[serde(default)]
    pub why: String,
}

struct RunOne<'a> {
    scenario: &'a Scenario,
    checker: &'a Checker,
}

impl WithDesign for RunOne<'_> {
    type Out = (Outcome<Failure>, usize, Duration);
    fn with<D: Design>(self) -> Self::Out {
        let model = Arc::new(ScenarioModel::<D>::new(Arc::new(self.scenario.clone())));
        let r = explore(self.checker, model);
        (r.outcome, r.schedules, r.elapsed)
    }
}

/// Runs one check in this process. `None` if the design or scenario is unknown.
pub fn run_check(design: &str, scenario: &Scenario, checker: &Checker) -> Option<CheckResult> {
    let (outcome, schedules, elapsed) = dispatch(design, RunOne { scenario, checker })?;
    Some(result_of(
        design,
        scenario.name,
        checker.name(),
        outcome,
        schedules,
        elapsed,
    ))
}

/// Runs one check of design `D` (a user's own, say) on `scenario`.
pub fn check_design<D: Design>(scenario: &Scenario, checker: &Checker) -> CheckResult {
    let (outcome, schedules, elapsed) = RunOne { scenario, checker }.with::<D>();
    result_of(
        D::NAME,
        scenario.name,
        checker.name(),
        outcome,
        schedules,
        elapsed,
    )
}

/// Runs the whole catalogue against design `D` with the default checkers.
pub fn verify_design<D: Design>(budget: &Budget) -> Vec<CheckResult> {
    let mut out = vec![];
    for s in catalogue::all() {
        for c in DEFAULT_CHECKERS {
            if c == "loom" && !crate::expect::loom_fits(D::NAME, s.name) {
                continue;
            }
            if let Some(checker) = budget.checker(c) {
                out.push(check_design::<D>(&s, &checker));
            }
        }
    }
    out
}

fn result_of(
    design: &str,
    scenario: &str,
    checker: &str,
    outcome: Outcome<Failure>,
    schedules: usize,
    elapsed: Duration,
) -> CheckResult {
    let exp = expectation(design, scenario);
    let mut r = CheckResult {
        design: design.to_string(),
        scenario: scenario.to_string(),
        checker: checker.to_string(),
        verdict: String::new(),
        expected: match exp.outcome {
            Expected::Pass => "pass".into(),
            Expected::Violation(_) => "violation".into(),
        },
        property: None,
        schedules,
        elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        replay: None,
        trace: None,
        also: vec![],
        message: None,
        exhaustive: false,
        as_expected: false,
        why: exp.why.to_string(),
    };
    match outcome {
        Outcome::Pass { exhaustive } => {
            r.verdict = "pass".into();
            r.exhaustive = exhaustive;
            r.as_expected =
                exp.outcome == Expected::Pass || crate::expect::may_miss(design, scenario, checker);
        }
        Outcome::Violation { failure, schedule } => {
            r.verdict = "violation".into();
            r.as_expected = exp.outcome.allows(failure.property);
            r.property = Some(failure.property.name().to_string());
            r.message = Some(failure.violation.message.clone());
            r.also = failure.also.iter().map(|p| p.name().to_string()).collect();
            r.replay = Some(schedule);
            r.trace = Some(failure.trace);
        }
        Outcome::Error(e) => {
            r.verdict = "error".into();
            r.message = Some(e);
        }
    }
    r
}

/// What a replay found.
pub struct Replayed {
    /// The violation, if it reproduced.
    pub failure: Option<Failure>,
    /// The execution's whole trace.
    pub executed: Executed,
}

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayRunError {
    /// No such design.
    #[error("unknown design `{0}` (see `pausebeat list`)")]
    UnknownDesign(String),
    /// No such scenario.
    #[error("unknown scenario `{0}` (see `pausebeat list`)")]
    UnknownScenario(String),
    /// The schedule did not replay.
    #[error(transparent)]
    Replay(#[from] ReplayError),
}

struct ReplayOne<'a> {
    scenario: &'a Scenario,
    schedule: &'a str,
}

impl WithDesign for ReplayOne<'_> {
    type Out = Result<Replayed, ReplayError>;
    fn with<D: Design>(self) -> Self::Out {
        let slot = Arc::new(Mutex::new(Executed::default()));
        let model =
            ScenarioModel::<D>::new(Arc::new(self.scenario.clone())).keeping_last(slot.clone());
        let r = replay(self.schedule, Arc::new(model))?;
        let executed = slot.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Ok(Replayed {
            failure: r.err(),
            executed,
        })
    }
}

/// Re-runs one recorded schedule of (design, scenario).
pub fn replay_check(
    design: &str,
    scenario: &str,
    schedule: &str,
) -> Result<Replayed, ReplayRunError> {
    let sc = catalogue::find(scenario)
        .ok_or_else(|| ReplayRunError::UnknownScenario(scenario.into()))?;
    dispatch(
        design,
        ReplayOne {
            scenario: &sc,
            schedule,
        },
    )
    .ok_or_else(|| ReplayRunError::UnknownDesign(design.into()))?
    .map_err(ReplayRunError::from)
}
