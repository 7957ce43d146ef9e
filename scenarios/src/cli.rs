//! The `pausebeat` command line (`verify`, `hunt`, `replay`, `list`, `merge`, `demo`), over any [`Registry`] of
//! designs: the `pausebeat` binary runs it over the built-in ones, and a user's own binary over
//! theirs plus the built-ins, with the same options, output, JSON, JUnit and exit codes (see
//! `docs/CONTRACT.md`).
//!
//! ```no_run
//! use pausebeat_scenarios::designs::Registry;
//! # struct Mine;
//! # struct Nothing;
//! # impl pausebeat_world::Instance for Nothing {
//! #     fn run(&self) {}
//! #     fn close(&self) {}
//! # }
//! # impl pausebeat_world::Design for Mine {
//! #     const NAME: &'static str = "mine";
//! #     const ABOUT: &'static str = "does nothing";
//! #     fn start<R: pausebeat::sync::Runtime, F: pausebeat::kafka::ConsumerFactory>(
//! #         _env: pausebeat_world::Env<R, F>,
//! #     ) -> Box<dyn pausebeat_world::Instance> { Box::new(Nothing) }
//! # }
//! fn main() -> std::process::ExitCode {
//!     // `my-verifier verify --design mine`, `my-verifier replay --design mine …`, `list`.
//!     pausebeat_scenarios::cli::run(Registry::builtin().with::<Mine>())
//! }
//! ```

use crate::designs::Registry;
use crate::expect::Expected;
use crate::properties::Property;
use crate::report;
use crate::verify::{Budget, CheckResult, Verdict, CHECKERS, DEFAULT_CHECKERS};
use clap::{Args, Parser, Subcommand};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "pausebeat",
    version,
    about = "Deterministic race testing for a Kafka batch consumer's pause/resume/heartbeat coordination"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run scenarios × designs × checkers and compare every outcome with its expectation.
    Verify(VerifyArgs),
    /// Re-run one recorded schedule and print its trace.
    Replay(ReplayArgs),
    /// Generate scenarios, explore each, and shrink every violation found to a minimal
    /// scenario (builder code, trace, replay command; written to a corpus folder).
    Hunt(HuntArgs),
    /// List designs, scenarios, properties, checkers and the expectation table.
    List,
    /// Merge the JSON of `verify --shard` runs into one report (table, JSON, JUnit, exit status).
    Merge(MergeArgs),
    /// The vetted consumer on real rdkafka against an embedded mock cluster, with an outage.
    #[cfg(feature = "rdkafka")]
    Demo(DemoArgs),
    /// The vetted consumer on real rdkafka for a long while: random operations from two
    /// threads under random faults, seeded; checks nothing lost, commits, closes.
    #[cfg(feature = "rdkafka")]
    Soak(SoakArgs),
    /// Does the modeled world behave like Kafka? Plays each conformance case on the world and
    /// on librdkafka's mock cluster and compares (exit 0: every case agrees or is a listed
    /// exception where the mock departs from Kafka; 1 otherwise).
    #[cfg(feature = "rdkafka")]
    Conform(ConformArgs),
    /// Run one check and print its result as one JSON line (used by `verify` to isolate checks).
    #[command(name = "__check", hide = true)]
    Check(CheckArgs),
}

#[derive(Args, Clone)]
struct BudgetArgs {
    /// Schedules per (design, scenario, shuttle checker).
    #[arg(long, default_value_t = Budget::default().schedules)]
    budget: usize,
    /// loom's preemption bound.
    #[arg(long, default_value_t = Budget::default().loom_preemptions)]
    loom_preemptions: usize,
    /// loom's execution budget per check.
    #[arg(long, default_value_t = Budget::default().loom_executions)]
    loom_executions: usize,
    /// Seed of the randomized checkers.
    #[arg(long, default_value_t = Budget::default().seed)]
    seed: u64,
}

impl BudgetArgs {
    fn budget(&self) -> Budget {
        Budget {
            schedules: self.budget,
            loom_preemptions: self.loom_preemptions,
            loom_executions: self.loom_executions,
            seed: self.seed,
            ..Budget::default()
        }
    }
    fn to_args(&self) -> Vec<String> {
        vec![
            "--budget".into(),
            self.budget.to_string(),
            "--loom-preemptions".into(),
            self.loom_preemptions.to_string(),
            "--loom-executions".into(),
            self.loom_executions.to_string(),
            "--seed".into(),
            self.seed.to_string(),
        ]
    }
}

#[derive(Args)]
struct VerifyArgs {
    /// A design to check (repeatable; default: all).
    #[arg(long = "design")]
    designs: Vec<String>,
    /// A scenario to run (repeatable; default: all).
    #[arg(long = "scenario")]
    scenarios: Vec<String>,
    /// A checker: loom, pct, random, dfs (repeatable; default: loom, pct, random).
    #[arg(long = "checker")]
    checkers: Vec<String>,
    #[command(flatten)]
    budget: BudgetArgs,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the results as JUnit XML here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Checks run in parallel, each in its own process (default: the number of cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Seconds after which one check is stopped and reported as an error.
    #[arg(long, default_value_t = 600)]
    check_timeout: u64,
    /// Stop at the first unexpected outcome (the checks not run yet are left out of the report).
    #[arg(long)]
    fail_fast: bool,
    /// Run only the K-th of N deterministic shards of the plan (K in 1..=N), for a CI matrix;
    /// `merge` joins the shards' JSON into the report of a single run.
    #[arg(long, value_parser = parse_shard)]
    shard: Option<(usize, usize)>,
}

fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("`{s}` is not K/N with 1 <= K <= N");
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let (k, n): (usize, usize) = (
        k.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if k == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

#[derive(Args)]
struct MergeArgs {
    /// A shard's `verify --json` output (repeat for each shard).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Write the merged results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the merged results as JUnit XML here.
    #[arg(long)]
    junit: Option<PathBuf>,
}

#[cfg(feature = "rdkafka")]
#[derive(Args)]
struct DemoArgs {
    /// Write the demo's numbers as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[cfg(feature = "rdkafka")]
#[derive(Args)]
struct SoakArgs {
    /// How long the operations and faults go on (then a catch-up and the close).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=1440))]
    minutes: u64,
    /// Seeds the operations, the faults and the producer.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write the figures as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[cfg(feature = "rdkafka")]
#[derive(Args)]
struct ConformArgs {
    /// Only this case (repeatable; default all).
    #[arg(long = "case")]
    cases: Vec<String>,
    /// List the cases with their rules and oracles, and exit.
    #[arg(long)]
    list: bool,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the results as JUnit XML here.
    #[arg(long)]
    junit: Option<PathBuf>,
}

#[derive(Args)]
struct HuntArgs {
    /// The design to hunt in.
    #[arg(long)]
    design: String,
    /// Stop after this many minutes (shrinking the last violation found may take a little
    /// longer).
    #[arg(long, default_value_t = 5.0)]
    minutes: f64,
    /// The seed: the same seed generates the same scenarios and explores them the same way.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Stop after this many generated scenarios.
    #[arg(long)]
    scenarios: Option<usize>,
    /// Schedules per checker (PCT, then random) per generated scenario.
    #[arg(long, default_value_t = 100)]
    schedules: usize,
    /// Hunt for this property: stop when it is violated; expected violations of others are
    /// passed over, unexpected ones reported (each signature once) without stopping.
    #[arg(long)]
    until: Option<String>,
    /// Only violations whose message contains this text count (a symptom: `--until
    /// resume-bounded --matching failed` hunts the seed's "Resume timeout", not any wait).
    #[arg(long)]
    matching: Option<String>,
    /// Go on past violations until the time limit (each signature — property and shape of
    /// the violation — shrunk and reported once).
    #[arg(long)]
    keep_going: bool,
    /// The corpus folder: what earlier hunts of the design found is re-checked first, and
    /// what this one finds is written there.
    #[arg(long, default_value = "pausebeat-corpus")]
    corpus: PathBuf,
    /// Neither read nor write a corpus.
    #[arg(long)]
    no_corpus: bool,
    /// The most checks one shrink may spend.
    #[arg(long, default_value_t = 400)]
    max_shrink_checks: usize,
    /// Write the results as JSON here (the shape of `verify`'s, one result per finding).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the results as JUnit XML here.
    #[arg(long)]
    junit: Option<PathBuf>,
}

#[derive(Args)]
struct ReplayArgs {
    /// The design.
    #[arg(long)]
    design: String,
    /// The scenario (the catalogue's, or one the verifier binary registered).
    #[arg(
        long,
        conflicts_with = "scenario_file",
        required_unless_present = "scenario_file"
    )]
    scenario: Option<String>,
    /// A scenario from a file: a `hunt` corpus entry (or a bare sketch).
    #[arg(long)]
    scenario_file: Option<PathBuf>,
    /// The schedule string `verify` printed.
    #[arg(
        long,
        conflicts_with = "schedule_file",
        required_unless_present = "schedule_file"
    )]
    schedule: Option<String>,
    /// A file holding the schedule string.
    #[arg(long)]
    schedule_file: Option<PathBuf>,
    /// Print the trace as JSON lines instead of plain lines.
    #[arg(long)]
    json_lines: bool,
    /// Print the whole execution, not only the trace up to the violation.
    #[arg(long)]
    full: bool,
}

#[derive(Args)]
struct CheckArgs {
    #[arg(long)]
    design: String,
    #[arg(long)]
    scenario: String,
    #[arg(long)]
    checker: String,
    #[command(flatten)]
    budget: BudgetArgs,
}

/// Parses the process's arguments and runs the command over `registry`'s designs.
pub fn run(registry: Registry) -> ExitCode {
    let cli = Cli::parse();
    // Under the checkers a design's own logs (a restart's warning, a failed call) are events
    // of the execution, which its trace shows: off unless asked for (PAUSEBEAT_LOG). The demo
    // runs the consumer for real, and keeps its warnings. librdkafka reports every refused
    // connection of an outage as an ERROR; the demo causes outages on purpose
    // (PAUSEBEAT_LOG=librdkafka=warn brings them back). loom's coroutine library logs every
    // panic it unwinds (the driver stops loom with one after a violation): off too.
    #[cfg(feature = "rdkafka")]
    let real = matches!(cli.command, Cmd::Demo(_) | Cmd::Soak(_) | Cmd::Conform(_));
    #[cfg(not(feature = "rdkafka"))]
    let real = false;
    let default = if real {
        "warn,librdkafka=off,generator=off"
    } else {
        // shuttle wraps every step of an execution in a span: with its targets off those
        // spans cost nothing (≈ 15 % of a schedule's time otherwise).
        "warn,librdkafka=off,generator=off,pausebeat=off,pausebeat_go=off,pausebeat_vetted_checks=off,pausebeat_world=off,shuttle=off,shuttle_engine=off,shuttle_schedulers=off"
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PAUSEBEAT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default)),
        )
        .with_writer(std::io::stderr)
        .try_init();
    match cli.command {
        Cmd::Verify(a) => cmd_verify(a, &registry),
        Cmd::Replay(a) => cmd_replay(a, &registry),
        Cmd::Hunt(a) => cmd_hunt(a, &registry),
        Cmd::List => {
            cmd_list(&registry);
            ExitCode::SUCCESS
        }
        Cmd::Check(a) => cmd_check(a, &registry),
        Cmd::Merge(a) => cmd_merge(a, &registry),
        #[cfg(feature = "rdkafka")]
        Cmd::Demo(a) => crate::demo::run(a.json.as_deref()),
        #[cfg(feature = "rdkafka")]
        Cmd::Soak(a) => crate::soak::run(
            &crate::soak::SoakOptions {
                seed: a.seed,
                end: crate::soak::SoakEnd::Time(std::time::Duration::from_secs(a.minutes * 60)),
                ..crate::soak::SoakOptions::default()
            },
            a.json.as_deref(),
        ),
        #[cfg(feature = "rdkafka")]
        Cmd::Conform(a) => {
            if a.list {
                crate::conform::list();
                ExitCode::SUCCESS
            } else {
                crate::conform::command(&a.cases, a.json.as_deref(), a.junit.as_deref())
            }
        }
    }
}

/// How the running binary was invoked (a user's own verifier prints its own name in the replay
/// commands it gives, not `pausebeat`'s).
fn this_binary() -> String {
    std::env::args()
        .next()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "pausebeat".to_string())
}

fn usage_error(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

fn cmd_check(a: CheckArgs, registry: &Registry) -> ExitCode {
    let Some(scenario) = registry.scenario(&a.scenario) else {
        return usage_error(format!("unknown scenario `{}`", a.scenario));
    };
    let Some(checker) = a.budget.budget().checker(&a.checker) else {
        return usage_error(format!("unknown checker `{}`", a.checker));
    };
    let Some(result) = registry.check(&a.design, scenario, &checker) else {
        return usage_error(format!("unknown design `{}`", a.design));
    };
    match serde_json::to_string(&result) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => usage_error(e),
    }
}

struct Planned {
    design: String,
    scenario: String,
    checker: String,
}

fn cmd_verify(a: VerifyArgs, registry: &Registry) -> ExitCode {
    let all_designs: Vec<String> = registry.designs().map(|d| d.name().to_string()).collect();
    let all_scenarios: Vec<String> = registry
        .scenarios()
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    let pick = |asked: &[String], all: &[String], what: &str| -> Result<Vec<String>, String> {
        if asked.is_empty() {
            return Ok(all.to_vec());
        }
        for x in asked {
            if !all.contains(x) {
                return Err(format!("unknown {what} `{x}`; known: {}", all.join(", ")));
            }
        }
        Ok(asked.to_vec())
    };
    let known_checkers: Vec<String> = CHECKERS.iter().map(|s| s.to_string()).collect();
    let default_checkers: Vec<String> = DEFAULT_CHECKERS.iter().map(|s| s.to_string()).collect();
    let (ds, ss, cs) = match (
        pick(&a.designs, &all_designs, "design"),
        pick(&a.scenarios, &all_scenarios, "scenario"),
        if a.checkers.is_empty() {
            Ok(default_checkers)
        } else {
            pick(&a.checkers, &known_checkers, "checker")
        },
    ) {
        (Ok(d), Ok(s), Ok(c)) => (d, s, c),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return usage_error(e),
    };
    if a.budget.budget == 0 || a.budget.loom_executions == 0 {
        return usage_error("--budget and --loom-executions must be at least 1");
    }
    let scenarios = registry.scenarios();
    let mut plan: Vec<Planned> = vec![];
    for s in &ss {
        for d in &ds {
            for c in &cs {
                let loom_runs = match (registry.get(d), scenarios.iter().find(|x| x.name == *s)) {
                    (Some(d), Some(s)) => d.loom_runs(s),
                    _ => true,
                };
                if c == "loom" && !loom_runs {
                    continue;
                }
                plan.push(Planned {
                    design: d.clone(),
                    scenario: s.clone(),
                    checker: c.clone(),
                });
            }
        }
    }
    if let Some((k, n)) = a.shard {
        // Deterministic: the plan's order is the registry's (designs and scenarios).
        plan = plan
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % n == k - 1)
            .map(|(_, p)| p)
            .collect();
    }
    let jobs = a
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    let started = Instant::now();
    let results = run_isolated(
        registry,
        plan,
        &a.budget,
        jobs,
        Duration::from_secs(a.check_timeout),
        a.fail_fast,
    );
    let note = format!(
        "in {:.1}s on {jobs} job(s){}",
        started.elapsed().as_secs_f64(),
        a.shard
            .map(|(k, n)| format!(", shard {k}/{n}"))
            .unwrap_or_default()
    );
    report_results(&results, &cs, &note, a.json.as_deref(), a.junit.as_deref())
}

/// Prints the table and what went wrong, writes the JSON and JUnit reports, and gives the exit
/// status: `verify` and `merge` report the same way.
fn report_results(
    results: &[CheckResult],
    cs: &[String],
    note: &str,
    json: Option<&std::path::Path>,
    junit: Option<&std::path::Path>,
) -> ExitCode {
    println!("{}", report::table(results, cs));
    for r in results
        .iter()
        .filter(|r| r.verdict == Verdict::Violation || !r.as_expected)
    {
        println!("{}", report::describe(r));
        if let Some(s) = &r.replay {
            println!(
                "  replay: {} replay --design {} --scenario {} --schedule '{s}'",
                this_binary(),
                r.design,
                r.scenario
            );
        }
    }
    let s = report::summary(results);
    println!(
        "\n{} checks {note}: {} as expected, {} unexpected",
        s.total, s.as_expected, s.unexpected
    );
    if let Some(p) = json {
        let doc = report::json(results);
        let text = match serde_json::to_string_pretty(&doc) {
            Ok(t) => t,
            Err(e) => return usage_error(e),
        };
        if let Err(e) = write_file(p, &text) {
            return usage_error(e);
        }
    }
    if let Some(p) = junit {
        if let Err(e) = write_file(p, &report::junit(results)) {
            return usage_error(e);
        }
    }
    if s.unexpected == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn cmd_merge(a: MergeArgs, registry: &Registry) -> ExitCode {
    let mut results: Vec<CheckResult> = vec![];
    for p in &a.inputs {
        let text = match std::fs::read_to_string(p) {
            Ok(t) => t,
            Err(e) => return usage_error(format!("cannot read {}: {e}", p.display())),
        };
        let doc: serde_json::Value = match serde_json::from_str(&text) {
            Ok(d) => d,
            Err(e) => return usage_error(format!("{} is not verify's JSON: {e}", p.display())),
        };
        match serde_json::from_value::<Vec<CheckResult>>(doc["results"].clone()) {
            Ok(rs) => results.extend(rs),
            Err(e) => return usage_error(format!("{} is not verify's JSON: {e}", p.display())),
        }
    }
    // The order of a single run: scenario, then design, then checker.
    let scenarios: Vec<String> = registry
        .scenarios()
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    let designs: Vec<&str> = registry.designs().map(|d| d.name()).collect();
    let pos = |v: &[&str], x: &str| v.iter().position(|y| *y == x).unwrap_or(usize::MAX);
    let scenario_names: Vec<&str> = scenarios.iter().map(|s| s.as_str()).collect();
    results.sort_by_key(|r| {
        (
            pos(&scenario_names, &r.scenario),
            pos(&designs, &r.design),
            pos(&CHECKERS, &r.checker),
        )
    });
    results.dedup_by(|a, b| {
        a.design == b.design && a.scenario == b.scenario && a.checker == b.checker
    });
    let mut cs: Vec<String> = vec![];
    for c in CHECKERS {
        if results.iter().any(|r| r.checker == c) {
            cs.push(c.to_string());
        }
    }
    let note = format!("merged from {} shard report(s)", a.inputs.len());
    report_results(&results, &cs, &note, a.json.as_deref(), a.junit.as_deref())
}

/// Runs every check in its own process (a check that aborts cannot take the run down), `jobs`
/// at a time.
fn run_isolated(
    registry: &Registry,
    plan: Vec<Planned>,
    budget: &BudgetArgs,
    jobs: usize,
    timeout: Duration,
    fail_fast: bool,
) -> Vec<CheckResult> {
    let failed = std::sync::atomic::AtomicBool::new(false);
    let failed = &failed;
    let exe = std::env::current_exe();
    let total = plan.len();
    let queue = Arc::new(Mutex::new(plan.into_iter().enumerate().collect::<Vec<_>>()));
    queue.lock().unwrap_or_else(|e| e.into_inner()).reverse();
    let results: Arc<Mutex<Vec<(usize, CheckResult)>>> = Arc::new(Mutex::new(vec![]));
    let done = Arc::new(Mutex::new(0usize));
    let tty = std::io::stderr().is_terminal();
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(total.max(1)) {
            let (queue, results, done, exe) = (queue.clone(), results.clone(), done.clone(), &exe);
            scope.spawn(move || loop {
                if fail_fast && failed.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop();
                let Some((i, p)) = next else { break };
                let r = match exe {
                    Ok(exe) => run_child(registry, exe, &p, budget, timeout),
                    Err(e) => error_result(
                        registry,
                        &p,
                        format!("cannot find the pausebeat executable: {e}"),
                    ),
                };
                if !r.as_expected {
                    failed.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                let mut n = done.lock().unwrap_or_else(|e| e.into_inner());
                *n += 1;
                if tty {
                    let mark = if r.as_expected { "ok" } else { "UNEXPECTED" };
                    eprint!(
                        "\r\x1b[2K[{}/{total}] {} × {} × {}: {} {mark}",
                        *n, p.design, p.scenario, p.checker, r.verdict
                    );
                    let _ = std::io::stderr().flush();
                }
                results
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((i, r));
            });
        }
    });
    if tty {
        eprintln!();
    }
    let mut rs = std::mem::take(&mut *results.lock().unwrap_or_else(|e| e.into_inner()));
    rs.sort_by_key(|(i, _)| *i);
    rs.into_iter().map(|(_, r)| r).collect()
}

fn error_result(registry: &Registry, p: &Planned, message: String) -> CheckResult {
    let exp = registry
        .get(&p.design)
        .map(|d| d.expectation(&p.scenario))
        .unwrap_or(crate::expect::Expectation {
            outcome: Expected::Pass,
            why: "",
        });
    CheckResult {
        design: p.design.clone(),
        scenario: p.scenario.clone(),
        checker: p.checker.clone(),
        verdict: Verdict::Error,
        expected: exp.outcome.into(),
        property: None,
        schedules: 0,
        elapsed_ms: 0,
        replay: None,
        trace: None,
        also: vec![],
        message: Some(message),
        exhaustive: false,
        as_expected: false,
        why: exp.why.to_string(),
        exercised: vec![],
    }
}

fn run_child(
    registry: &Registry,
    exe: &std::path::Path,
    p: &Planned,
    budget: &BudgetArgs,
    timeout: Duration,
) -> CheckResult {
    let start = Instant::now();
    let mut cmd = Command::new(exe);
    cmd.args([
        "__check",
        "--design",
        &p.design,
        "--scenario",
        &p.scenario,
        "--checker",
        &p.checker,
    ])
    .args(budget.to_args())
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return error_result(registry, p, format!("cannot start a check process: {e}")),
    };
    // Drain the pipes on their own threads so a chatty child cannot block on a full pipe.
    let out = child.stdout.take().map(|mut s| {
        std::thread::spawn(move || {
            let mut v = String::new();
            let _ = std::io::Read::read_to_string(&mut s, &mut v);
            v
        })
    });
    let err = child.stderr.take().map(|mut s| {
        std::thread::spawn(move || {
            let mut v = String::new();
            let _ = std::io::Read::read_to_string(&mut s, &mut v);
            v
        })
    });
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => break None,
        }
    };
    let stdout = out.and_then(|h| h.join().ok()).unwrap_or_default();
    let stderr = err.and_then(|h| h.join().ok()).unwrap_or_default();
    let Some(status) = status else {
        let mut r = error_result(
            registry,
            p,
            format!("timed out after {}s", timeout.as_secs()),
        );
        r.elapsed_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        return r;
    };
    match stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<CheckResult>(l).ok())
    {
        Some(r) => r,
        None => {
            let tail: Vec<&str> = stderr.lines().rev().take(12).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            let mut r = error_result(
                registry,
                p,
                format!(
                    "the check process ended with {status}: {}",
                    tail.join(" | ")
                ),
            );
            r.elapsed_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
            r
        }
    }
}

fn cmd_replay(a: ReplayArgs, registry: &Registry) -> ExitCode {
    let schedule = match (&a.schedule, &a.schedule_file) {
        (Some(s), _) => s.clone(),
        (None, Some(f)) => match std::fs::read_to_string(f) {
            Ok(s) => s.trim().to_string(),
            Err(e) => return usage_error(format!("cannot read {}: {e}", f.display())),
        },
        (None, None) => return usage_error("give --schedule or --schedule-file"),
    };
    let replayed = match (&a.scenario, &a.scenario_file) {
        (Some(name), _) => registry.replay(&a.design, name, &schedule),
        (None, Some(f)) => match crate::hunt::CorpusEntry::read(f) {
            Ok(entry) => registry.replay_scenario(&a.design, &entry.scenario(), &schedule),
            Err(e) => return usage_error(e),
        },
        (None, None) => return usage_error("give --scenario or --scenario-file"),
    };
    let replayed = match replayed {
        Ok(r) => r,
        Err(e) => return usage_error(e),
    };
    let lines = match &replayed.failure {
        Some(f) if !a.full => f.trace.clone(),
        _ => replayed.executed.trace.clone(),
    };
    for l in &lines {
        if a.json_lines {
            println!("{}", serde_json::json!({ "line": l }));
        } else {
            println!("{l}");
        }
    }
    match replayed.failure {
        Some(f) => {
            if a.json_lines {
                println!(
                    "{}",
                    serde_json::json!({ "verdict": "violation", "property": f.property.name(), "message": f.violation.message })
                );
            } else {
                println!("\nreproduced: {f}");
            }
            ExitCode::from(1)
        }
        None => {
            if a.json_lines {
                println!("{}", serde_json::json!({ "verdict": "pass" }));
            } else {
                println!("\nevery property held on this schedule");
            }
            ExitCode::SUCCESS
        }
    }
}

fn cmd_hunt(a: HuntArgs, registry: &Registry) -> ExitCode {
    use crate::hunt::{Hunt, Origin};
    let Some(design) = registry.get(&a.design) else {
        let known: Vec<&str> = registry.designs().map(|d| d.name()).collect();
        return usage_error(format!(
            "unknown design `{}`; known: {}",
            a.design,
            known.join(", ")
        ));
    };
    let until = match a.until.as_deref().map(|u| (u, Property::from_name(u))) {
        None => None,
        Some((_, Some(p))) => Some(p),
        Some((u, None)) => return usage_error(format!("unknown property `{u}` (see `list`)")),
    };
    if !(a.minutes.is_finite() && a.minutes >= 0.0) {
        return usage_error(format!("--minutes {} is not a duration", a.minutes));
    }
    let mut hunt = Hunt::new(design)
        .seed(a.seed)
        .limit(Duration::from_secs_f64(a.minutes * 60.0))
        .schedules(a.schedules)
        .until(until)
        .matching(a.matching.clone())
        .keep_going(a.keep_going)
        .max_shrink_checks(a.max_shrink_checks)
        .corpus((!a.no_corpus).then(|| a.corpus.clone()));
    if let Some(n) = a.scenarios {
        hunt = hunt.scenarios(n);
    }
    let tty = std::io::stderr().is_terminal();
    let mut last = Instant::now();
    let report = hunt.run(&mut |p| {
        if tty && last.elapsed() >= Duration::from_millis(200) {
            last = Instant::now();
            eprint!(
                "\r\x1b[2K  hunt {}: {} scenarios, {} schedules, {} found, {:.0} s{}",
                a.design,
                p.scenarios,
                p.schedules,
                p.found,
                p.elapsed.as_secs_f64(),
                if p.shrinking { " (shrinking)" } else { "" }
            );
        }
    });
    if tty {
        eprint!("\r\x1b[2K");
    }
    let mut out = std::io::stdout().lock();
    for f in &report.findings {
        let r = &f.result;
        let _ = writeln!(out, "{}", report::describe(r));
        if f.origin == Origin::Corpus {
            let _ = writeln!(
                out,
                "  (re-checked from the corpus: {})",
                f.corpus_file.as_deref().unwrap_or("")
            );
            if r.verdict != Verdict::Violation {
                continue;
            }
        } else {
            let _ = writeln!(
                out,
                "  found after {} scenarios, {} schedules, {:.1} s; shrunk from {} to {} steps + faults in {} checks",
                f.scenarios_before,
                f.schedules_before,
                f.found_after_ms as f64 / 1000.0,
                f.found_size,
                f.size,
                f.shrink_checks
            );
        }
        let _ = writeln!(out, "\n{}\n", f.code);
        if let Some(trace) = &r.trace {
            let skip = trace.len().saturating_sub(14);
            if skip > 0 {
                let _ = writeln!(
                    out,
                    "  … {skip} earlier trace lines (replay --full shows all)"
                );
            }
            for l in &trace[skip..] {
                let _ = writeln!(out, "  {l}");
            }
        }
        if let (Some(s), Some(file)) = (&r.replay, &f.corpus_file) {
            let _ = writeln!(
                out,
                "  replay: {} replay --design {} --scenario-file {file} --schedule '{s}'",
                this_binary(),
                r.design
            );
        }
        let _ = writeln!(out);
    }
    let over: Vec<String> = report
        .passed_over
        .iter()
        .map(|(p, n)| format!("{p} ×{n}"))
        .collect();
    let unexpected = report.unexpected().count();
    let _ = writeln!(
        out,
        "hunt {} (seed {}): {} scenarios, {} schedules in {:.1} s, stopped: {:?}; {} finding(s), {unexpected} unexpected{}",
        report.design,
        report.seed,
        report.scenarios,
        report.schedules,
        report.elapsed_ms as f64 / 1000.0,
        report.stopped,
        report.findings.len(),
        if over.is_empty() { String::new() } else { format!("; passed over: {}", over.join(", ")) }
    );
    drop(out);
    let results: Vec<CheckResult> = report.findings.iter().map(|f| f.result.clone()).collect();
    if let Some(p) = &a.json {
        let mut doc = report::json(&results);
        doc["results"] = serde_json::to_value(&report.findings).unwrap_or_default();
        doc["hunt"] = serde_json::json!({
            "design": report.design,
            "seed": report.seed,
            "scenarios": report.scenarios,
            "schedules": report.schedules,
            "elapsed_ms": report.elapsed_ms,
            "stopped": report.stopped,
            "passed_over": report.passed_over,
        });
        if let Err(e) = write_file(p, &serde_json::to_string_pretty(&doc).unwrap_or_default()) {
            return usage_error(e);
        }
    }
    if let Some(p) = &a.junit {
        if let Err(e) = write_file(p, &report::junit(&results)) {
            return usage_error(e);
        }
    }
    if unexpected == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn write_file(p: &std::path::Path, text: &str) -> Result<(), String> {
    if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::write(p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))
}

fn cmd_list(registry: &Registry) {
    // A closed pipe (`pausebeat list | head`) ends the listing, not the process with a panic.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "DESIGNS");
    for d in registry.designs() {
        let ops: Vec<&str> = d.offers().iter().map(|o| o.name()).collect();
        let _ = writeln!(
            out,
            "  {:<14} {} (offers {})",
            d.name(),
            d.about(),
            ops.join(", ")
        );
        for (p, why) in d.waived() {
            let _ = writeln!(out, "  {:<14} waives {p}: {why}", "");
        }
        for (s, why) in d.loom_too_big() {
            let _ = writeln!(out, "  {:<14} loom skips {s}: {why}", "");
        }
        for (s, c, why) in d.may_miss() {
            let _ = writeln!(out, "  {:<14} {c} may miss {s}: {why}", "");
        }
        let (grace, why) = d.close_grace();
        if !grace.is_zero() {
            let _ = writeln!(
                out,
                "  {:<14} its threads may end up to {grace:?} after close(): {why}",
                ""
            );
        }
    }
    let _ = writeln!(out, "\nSCENARIOS");
    for s in registry.scenarios() {
        let _ = writeln!(out, "  {:<32} [{}] {}", s.name, s.reference, s.story);
    }
    let _ = writeln!(out, "\nPROPERTIES");
    for p in Property::ALL {
        let _ = writeln!(out, "  {:<20} {}", p.name(), p.definition());
    }
    let _ = writeln!(out, "\nCHECKERS");
    let _ = writeln!(out, "  loom     loom's exhaustive DPOR within a preemption bound (default 2), up to --loom-executions");
    let _ = writeln!(
        out,
        "  pct      shuttle's PCT scheduler, depth 3, --budget schedules"
    );
    let _ = writeln!(
        out,
        "  random   shuttle's random scheduler, --budget schedules"
    );
    let _ = writeln!(out, "  dfs      shuttle's exhaustive depth-first scheduler, up to --budget schedules (not run by default)");
    let _ = writeln!(
        out,
        "\nEXPECTATIONS (anything not listed: every property holds)"
    );
    for s in registry.scenarios() {
        for design in registry.designs() {
            let d = design.name();
            let e = design.expectation(&s.name);
            let what = match e.outcome {
                Expected::Pass => continue,
                Expected::Violation(ps) => {
                    let names: Vec<&str> = ps.iter().map(|p| p.name()).collect();
                    format!("violates {}", names.join(" or "))
                }
                Expected::Vacuous => "vacuous (its story cannot happen here)".to_string(),
            };
            let _ = writeln!(out, "  {d:<12} {:<32} {what}", s.name);
            let _ = writeln!(out, "  {:<45} {}", "", e.why);
        }
    }
}
