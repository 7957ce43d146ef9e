//! Running checks: one (design, scenario, checker) at a time, in-process — the library API users
//! call from their own tests — and the result records the CLI prints, writes as JSON and JUnit.

use crate::catalogue;
use crate::designs::Registry;
use crate::expect::{expectation_of, Declared, Expected};
use crate::harness::{Coverage, Executed, Failure, ScenarioModel};
use crate::scenario::Scenario;
use pausebeat::sync::explore::{explore, replay, Checker, Outcome, ReplayError};
use pausebeat_world::{Design, Op};
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

/// What a check came to (`verdict` in the JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Every explored schedule held every property, and the scenario's purposes happened.
    Pass,
    /// A schedule violated a property.
    Violation,
    /// No explored schedule exercised what the scenario exists to exercise.
    Vacuous,
    /// The design lacks an operation the scenario calls.
    NotApplicable,
    /// The check could not run (a panic, a timeout, a bad schedule).
    Error,
}

impl Verdict {
    /// Its name in the JSON and on the terminal.
    ///
    /// ```
    /// use pausebeat_scenarios::verify::Verdict;
    /// assert_eq!(Verdict::NotApplicable.name(), "not-applicable");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Violation => "violation",
            Verdict::Vacuous => "vacuous",
            Verdict::NotApplicable => "not-applicable",
            Verdict::Error => "error",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The outcome a check is expected to have (`expected` in the JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExpectedVerdict {
    /// Every property holds.
    Pass,
    /// Some schedule violates a property the design declares.
    Violation,
    /// The design declares the scenario's story unreachable for it.
    Vacuous,
}

impl From<Expected> for ExpectedVerdict {
    fn from(e: Expected) -> Self {
        match e {
            Expected::Pass => ExpectedVerdict::Pass,
            Expected::Violation(_) => ExpectedVerdict::Violation,
            Expected::Vacuous => ExpectedVerdict::Vacuous,
        }
    }
}

impl std::fmt::Display for ExpectedVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ExpectedVerdict::Pass => "pass",
            ExpectedVerdict::Violation => "violation",
            ExpectedVerdict::Vacuous => "vacuous",
        })
    }
}

/// One check's result, in the shape of `docs/CONTRACT.md`'s JSON.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CheckResult {
    /// The design.
    pub design: String,
    /// The scenario.
    pub scenario: String,
    /// The checker.
    pub checker: String,
    /// `pass`, `violation`, `vacuous` (the scenario's purpose was never exercised),
    /// `not-applicable` (the design lacks an operation the scenario calls) or `error`.
    pub verdict: Verdict,
    /// `pass` or `violation`.
    pub expected: ExpectedVerdict,
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
    /// What the explored schedules exercised: the scenario's purposes, each fault, the calls
    /// the properties judged.
    #[serde(default)]
    pub exercised: Vec<String>,
}

/// The operations `scenario` calls that design `D` does not offer (then the check is not
/// applicable).
pub fn missing_ops<D: Design>(scenario: &Scenario) -> Vec<Op> {
    scenario
        .ops()
        .into_iter()
        .filter(|op| !D::OFFERS.contains(op))
        .collect()
}

/// What exploring one check came to.
struct Explored {
    outcome: Outcome<Failure>,
    schedules: usize,
    elapsed: Duration,
    coverage: Coverage,
}

fn explore_design<D: Design>(scenario: &Scenario, checker: &Checker) -> Result<Explored, Vec<Op>> {
    let missing = missing_ops::<D>(scenario);
    if !missing.is_empty() {
        return Err(missing);
    }
    let model = Arc::new(ScenarioModel::<D>::new(Arc::new(scenario.clone())));
    let r = explore(checker, model.clone());
    Ok(Explored {
        outcome: r.outcome,
        schedules: r.schedules,
        elapsed: r.elapsed,
        coverage: model.coverage(),
    })
}

/// What a result needs to know of the design it judges: its name and its declarations.
#[derive(Clone, Copy)]
struct Declarations {
    name: &'static str,
    expectations: &'static [Declared],
    may_miss: &'static [(&'static str, &'static str, &'static str)],
    unreachable: &'static [(&'static str, &'static str)],
}

impl Declarations {
    fn of<D: Design>() -> Self {
        Declarations {
            name: D::NAME,
            expectations: D::EXPECTATIONS,
            may_miss: D::MAY_MISS,
            unreachable: D::UNREACHABLE,
        }
    }
}

fn not_applicable(
    design: Declarations,
    scenario: &Scenario,
    checker: &str,
    missing: &[Op],
) -> CheckResult {
    let mut r = result_of(
        design,
        scenario,
        checker,
        Explored {
            outcome: Outcome::Error(String::new()),
            schedules: 0,
            elapsed: Duration::ZERO,
            coverage: Coverage::default(),
        },
    );
    r.exercised.clear();
    let names: Vec<&str> = missing.iter().map(|o| o.name()).collect();
    r.verdict = Verdict::NotApplicable;
    r.message = Some(format!("the design does not offer {}", names.join(", ")));
    r.as_expected = true;
    r
}

/// Runs one check of a built-in design in this process. `None` if the design is unknown (a
/// user's own designs: [`Registry::check`], or [`check_design`]).
pub fn run_check(design: &str, scenario: &Scenario, checker: &Checker) -> Option<CheckResult> {
    Registry::builtin().check(design, scenario, checker)
}

/// Runs one check of design `D` (a user's own, say) on `scenario`, judged against `D`'s own
/// declarations (expectations, waivers, checkers that may miss).
pub fn check_design<D: Design>(scenario: &Scenario, checker: &Checker) -> CheckResult {
    let decl = Declarations::of::<D>();
    match explore_design::<D>(scenario, checker) {
        Ok(x) => result_of(decl, scenario, checker.name(), x),
        Err(missing) => not_applicable(decl, scenario, checker.name(), &missing),
    }
}

/// True if loom runs `scenario` for design `D` (see [`Scenario::no_loom`] and
/// [`Design::LOOM_TOO_BIG`]).
pub fn loom_runs<D: Design>(scenario: &Scenario) -> bool {
    loom_runs_unless(scenario, D::LOOM_TOO_BIG)
}

/// True if loom runs `scenario` for a design that declares `too_big` ([`Design::LOOM_TOO_BIG`]).
pub(crate) fn loom_runs_unless(scenario: &Scenario, too_big: &[(&str, &str)]) -> bool {
    scenario.no_loom.is_none() && !too_big.iter().any(|(s, _)| *s == scenario.name)
}

/// Runs the whole catalogue against design `D` with the default checkers.
pub fn verify_design<D: Design>(budget: &Budget) -> Vec<CheckResult> {
    let mut out = vec![];
    for s in catalogue::all() {
        for c in DEFAULT_CHECKERS {
            if c == "loom" && !loom_runs::<D>(&s) {
                continue;
            }
            if let Some(checker) = budget.checker(c) {
                out.push(check_design::<D>(&s, &checker));
            }
        }
    }
    out
}

fn result_of(decl: Declarations, sc: &Scenario, checker: &str, x: Explored) -> CheckResult {
    let design = decl.name;
    let Explored {
        outcome,
        schedules,
        elapsed,
        coverage,
    } = x;
    let scenario: &str = &sc.name;
    let exp = expectation_of(decl.expectations, decl.unreachable, scenario);
    let mut r = CheckResult {
        design: design.to_string(),
        scenario: scenario.to_string(),
        checker: checker.to_string(),
        verdict: Verdict::Error,
        expected: exp.outcome.into(),
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
        exercised: coverage.lines(sc),
    };
    match outcome {
        Outcome::Pass { exhaustive } => {
            let mut missed: Vec<String> =
                coverage.missed(sc).iter().map(|e| e.to_string()).collect();
            if coverage.schedules > 0 && coverage.pruned == coverage.schedules {
                missed.push("any execution that fits the checker (every one was pruned)".into());
            }
            if missed.is_empty() {
                r.verdict = Verdict::Pass;
                r.exhaustive = exhaustive;
                let missed_by = decl
                    .may_miss
                    .iter()
                    .find(|(s, c, _)| *s == scenario && *c == checker);
                r.as_expected = exp.outcome == Expected::Pass || missed_by.is_some();
                if let (false, Some((_, _, why))) = (exp.outcome == Expected::Pass, missed_by) {
                    r.why = format!("{} (this checker may miss it: {why})", r.why);
                }
            } else {
                // The story did not happen: nothing was shown, in either direction.
                r.verdict = Verdict::Vacuous;
                r.as_expected = exp.outcome == Expected::Vacuous;
                r.message = Some(format!(
                    "no explored schedule exercised: {}",
                    missed.join("; ")
                ));
            }
        }
        Outcome::Violation { failure, schedule } => {
            r.verdict = Verdict::Violation;
            r.as_expected = exp.outcome.allows(failure.property);
            r.property = Some(failure.property.name().to_string());
            r.message = Some(failure.violation.message.clone());
            r.also = failure.also.iter().map(|p| p.name().to_string()).collect();
            r.replay = Some(schedule);
            r.trace = Some(failure.trace);
        }
        Outcome::Error(e) => {
            r.verdict = Verdict::Error;
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

/// Re-runs one recorded schedule of design `D` on `scenario`.
pub fn replay_design<D: Design>(
    scenario: &Scenario,
    schedule: &str,
) -> Result<Replayed, ReplayError> {
    let slot = Arc::new(Mutex::new(Executed::default()));
    let model = ScenarioModel::<D>::new(Arc::new(scenario.clone())).keeping_last(slot.clone());
    let r = replay(schedule, Arc::new(model))?;
    let executed = slot.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok(Replayed {
        failure: r.err(),
        executed,
    })
}

/// Re-runs one recorded schedule of (built-in design, catalogue scenario); a user's own
/// designs: [`Registry::replay`].
pub fn replay_check(
    design: &str,
    scenario: &str,
    schedule: &str,
) -> Result<Replayed, ReplayRunError> {
    Registry::builtin().replay(design, scenario, schedule)
}
