//! `pausebeat conform`: does the modeled world behave like Kafka? One story, two targets.
//!
//! Each [`Case`] is a short story told in client calls (create, poll until something happens,
//! pause, commit, close, …) against an environment (partitions, records produced at given
//! times, broker outages, other members joining and leaving). It is played twice:
//!
//! * on the **world** ([`pausebeat_world::World`]) in virtual time, the way the checkers see it;
//! * on **librdkafka's mock cluster** in real time, through the rdkafka backend and the
//!   recording ([`pausebeat_world::record::Recorded`]), which writes the same event log.
//!
//! A case then *projects* each trace to what its rule is about (the first offset read after an
//! assignment, the order of the rebalance callbacks across polls, a call's result class, code and
//! duration bucket, who got fenced, what the group assigned) and compares the two projections.
//! Where the mock itself departs from Kafka (it has no static membership; it refuses commits
//! while a group rebalances; its rebalances wait `session.timeout − 1 s`), the case names the
//! departure: the world is held to Kafka's answer (its oracle: apache/kafka's group coordinator,
//! cited), and the mock's answer is reported as the listed exception.
//!
//! The rules, their oracles and their cases are listed in `docs/world.md`.
//!
//! ```no_run
//! let report = pausebeat_scenarios::conform::run_cases(&pausebeat_scenarios::conform::cases(), None);
//! assert!(report.iter().all(|r| r.verdict.agrees()));
//! ```

mod cases;
mod script;
mod target;

pub use cases::cases;
pub use script::{Env, Step, Trace, Until};

use std::fmt;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant as WallInstant};

/// One conformance case: a world rule, its oracle, a story and what of it is compared.
pub struct Case {
    /// Its name (`pausebeat conform --case NAME`).
    pub name: &'static str,
    /// The world rule it checks, as `docs/world.md` states it.
    pub rule: &'static str,
    /// Where the truth comes from (librdkafka's source, Kafka's coordinator, a KIP).
    pub oracle: &'static str,
    /// The environment.
    pub env: Env,
    /// The client calls, in order, on the main thread.
    pub steps: Vec<Step>,
    /// What of a trace is compared.
    pub project: fn(&Trace) -> String,
    /// Where librdkafka's mock cluster departs from Kafka on this rule: the world must give
    /// Kafka's answer, and the mock's (different) answer is the listed exception.
    pub departure: Option<Departure>,
    /// Part of the bounded subset `cargo test` runs.
    pub quick: bool,
}

/// The mock cluster departs from Kafka here.
#[derive(Clone, Copy, Debug)]
pub struct Departure {
    /// Kafka's answer (the projection the world must give).
    pub kafka: &'static str,
    /// Why the mock differs, and the reference for Kafka's behaviour.
    pub reference: &'static str,
}

/// How a case came out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// World and mock agree.
    Agree,
    /// A listed departure: the world gives Kafka's answer, the mock its own.
    Exception,
    /// They differ (or the world does not give Kafka's answer where the mock departs).
    Differ,
    /// A listed departure that no longer departs: the mock now gives Kafka's answer (the
    /// exception is stale).
    StaleException,
    /// A target could not play the story.
    Error(String),
}

impl Verdict {
    /// Whether the case counts as agreeing (exit status 0).
    pub fn agrees(&self) -> bool {
        matches!(self, Verdict::Agree | Verdict::Exception)
    }

    /// Its name in reports.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Agree => "agree",
            Verdict::Exception => "exception",
            Verdict::Differ => "differ",
            Verdict::StaleException => "stale-exception",
            Verdict::Error(_) => "error",
        }
    }
}

/// One case's outcome.
#[derive(Clone, Debug)]
pub struct CaseResult {
    /// The case.
    pub name: &'static str,
    /// Its rule.
    pub rule: &'static str,
    /// Its oracle.
    pub oracle: &'static str,
    /// The verdict.
    pub verdict: Verdict,
    /// The world's projection.
    pub world: String,
    /// The mock's projection.
    pub mock: String,
    /// Kafka's answer where the mock departs.
    pub kafka: Option<&'static str>,
    /// The departure's reference.
    pub reference: Option<&'static str>,
    /// The world's trace (one line per event and step), for a case that does not agree.
    pub world_trace: Vec<String>,
    /// The mock's trace.
    pub mock_trace: Vec<String>,
    /// Wall-clock time the mock took.
    pub elapsed: Duration,
}

impl fmt::Display for CaseResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<9} {}", self.verdict.name(), self.name)?;
        match &self.verdict {
            Verdict::Agree => write!(f, ": {}", self.world),
            Verdict::Exception => write!(
                f,
                ": world (Kafka) {} | mock {} — {}",
                self.world,
                self.mock,
                self.reference.unwrap_or("")
            ),
            Verdict::Differ | Verdict::StaleException => {
                write!(f, "\n    world: {}\n    mock:  {}", self.world, self.mock)?;
                if let Some(k) = self.kafka {
                    write!(f, "\n    kafka: {k}")?;
                }
                Ok(())
            }
            Verdict::Error(e) => write!(f, ": {e}"),
        }
    }
}

/// Plays `case` on both targets and compares.
pub fn run_case(case: &Case) -> CaseResult {
    let world = target::play_on_world(case);
    let started = WallInstant::now();
    let mock = target::play_on_mock(case);
    let elapsed = started.elapsed();
    let (world_trace, mock_trace) = (
        world.as_ref().map(|t| t.lines()).unwrap_or_default(),
        mock.as_ref().map(|t| t.lines()).unwrap_or_default(),
    );
    let (w, m) = match (&world, &mock) {
        (Ok(w), Ok(m)) => ((case.project)(w), (case.project)(m)),
        (Err(e), _) => {
            return result(
                case,
                Verdict::Error(format!("world: {e}")),
                "",
                "",
                elapsed,
                world_trace,
                mock_trace,
            )
        }
        (_, Err(e)) => {
            return result(
                case,
                Verdict::Error(format!("mock: {e}")),
                "",
                "",
                elapsed,
                world_trace,
                mock_trace,
            )
        }
    };
    let verdict = match case.departure {
        None if w == m => Verdict::Agree,
        None => Verdict::Differ,
        Some(d) if w != d.kafka => Verdict::Differ,
        Some(d) if m == d.kafka => Verdict::StaleException,
        Some(_) => Verdict::Exception,
    };
    result(case, verdict, &w, &m, elapsed, world_trace, mock_trace)
}

fn result(
    case: &Case,
    verdict: Verdict,
    world: &str,
    mock: &str,
    elapsed: Duration,
    world_trace: Vec<String>,
    mock_trace: Vec<String>,
) -> CaseResult {
    CaseResult {
        name: case.name,
        rule: case.rule,
        oracle: case.oracle,
        verdict,
        world: world.to_string(),
        mock: mock.to_string(),
        kafka: case.departure.map(|d| d.kafka),
        reference: case.departure.map(|d| d.reference),
        world_trace,
        mock_trace,
        elapsed,
    }
}

/// Plays the cases named in `only` (all if `None`), in order, printing each result as it comes.
pub fn run_cases(cases: &[Case], only: Option<&[String]>) -> Vec<CaseResult> {
    let mut out = Vec::new();
    for c in cases {
        if only.is_some_and(|o| !o.iter().any(|n| n == c.name)) {
            continue;
        }
        let r = run_case(c);
        println!("{r}");
        out.push(r);
    }
    out
}

/// The JSON report: one object per case, and a summary.
pub fn json(results: &[CaseResult]) -> serde_json::Value {
    let cases: Vec<serde_json::Value> = results
        .iter()
        .map(|r| {
            serde_json::json!({
                "case": r.name,
                "rule": r.rule,
                "oracle": r.oracle,
                "verdict": r.verdict.name(),
                "error": match &r.verdict { Verdict::Error(e) => Some(e.clone()), _ => None },
                "world": r.world,
                "mock": r.mock,
                "kafka": r.kafka,
                "reference": r.reference,
                "mock_ms": r.elapsed.as_millis() as u64,
                "world_trace": if r.verdict.agrees() { None } else { Some(&r.world_trace) },
                "mock_trace": if r.verdict.agrees() { None } else { Some(&r.mock_trace) },
            })
        })
        .collect();
    let agree = results.iter().filter(|r| r.verdict.agrees()).count();
    serde_json::json!({
        "cases": cases,
        "summary": {
            "total": results.len(),
            "agree": results.iter().filter(|r| r.verdict == Verdict::Agree).count(),
            "exceptions": results.iter().filter(|r| r.verdict == Verdict::Exception).count(),
            "failing": results.len() - agree,
        }
    })
}

/// The JUnit report (`quick-junit`): one test case per conformance case.
pub fn junit(results: &[CaseResult]) -> String {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new("pausebeat conform");
    let mut suite = TestSuite::new("conformance");
    for r in results {
        let status = if r.verdict.agrees() {
            TestCaseStatus::success()
        } else {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(format!(
                "{}: world {} | mock {}",
                r.verdict.name(),
                r.world,
                r.mock
            ));
            s.set_description(format!(
                "world trace:\n{}\n\nmock trace:\n{}",
                r.world_trace.join("\n"),
                r.mock_trace.join("\n")
            ));
            s
        };
        let mut tc = TestCase::new(r.name, status);
        tc.set_classname("pausebeat.conform");
        tc.set_time(r.elapsed);
        if r.verdict == Verdict::Exception {
            tc.set_system_out(format!(
                "listed exception: world (Kafka) {} | mock {} — {}",
                r.world,
                r.mock,
                r.reference.unwrap_or("")
            ));
        }
        suite.add_test_case(tc);
    }
    report.add_test_suite(suite);
    report.to_string().unwrap_or_default()
}

/// `pausebeat conform [--case NAME]… [--json FILE] [--junit FILE]`: exit 0 when every case
/// agrees or is a listed exception, 1 otherwise, 2 on a bad argument or an unwritable report.
pub fn command(only: &[String], json_file: Option<&Path>, junit_file: Option<&Path>) -> ExitCode {
    let all = cases();
    for n in only {
        if !all.iter().any(|c| c.name == n) {
            eprintln!("unknown case `{n}` (pausebeat conform --list names them)");
            return ExitCode::from(2);
        }
    }
    let only = (!only.is_empty()).then_some(only);
    let results = run_cases(&all, only);
    let failing = results.iter().filter(|r| !r.verdict.agrees()).count();
    let exceptions = results
        .iter()
        .filter(|r| r.verdict == Verdict::Exception)
        .count();
    println!(
        "\n{} case(s): {} agree, {exceptions} listed exception(s), {failing} failing",
        results.len(),
        results.len() - failing - exceptions
    );
    if let Some(p) = json_file {
        let text = serde_json::to_string_pretty(&json(&results)).unwrap_or_default();
        if let Err(e) = std::fs::write(p, text) {
            eprintln!("cannot write {}: {e}", p.display());
            return ExitCode::from(2);
        }
    }
    if let Some(p) = junit_file {
        if let Err(e) = std::fs::write(p, junit(&results)) {
            eprintln!("cannot write {}: {e}", p.display());
            return ExitCode::from(2);
        }
    }
    if failing == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Lists the cases: name, rule, oracle, departure.
pub fn list() {
    for c in cases() {
        println!("{}  {}", c.name, if c.quick { "(quick)" } else { "" });
        println!("    rule:   {}", c.rule);
        println!("    oracle: {}", c.oracle);
        if let Some(d) = c.departure {
            println!("    mock departs: {}", d.reference);
        }
    }
}
