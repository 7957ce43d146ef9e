//! `pausebeat`: the concurrency verifier (`verify`, `replay`, `list`) and the demo of the vetted
//! consumer on real rdkafka (`demo`). See `docs/CONTRACT.md` for the names and exit codes.

use clap::{Args, Parser, Subcommand};
use pausebeat_scenarios::expect::{expectation, Expected};
use pausebeat_scenarios::properties::Property;
use pausebeat_scenarios::verify::{self, Budget, CheckResult, CHECKERS, DEFAULT_CHECKERS};
use pausebeat_scenarios::{catalogue, designs, report};
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
    /// List designs, scenarios, properties, checkers and the expectation table.
    List,
    /// The vetted consumer on real rdkafka against an embedded mock cluster, with an outage.
    #[cfg(feature = "rdkafka")]
    Demo(DemoArgs),
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
}

#[cfg(feature = "rdkafka")]
#[derive(Args)]
struct DemoArgs {
    /// Write the demo's numbers as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Args)]
struct ReplayArgs {
    /// The design.
    #[arg(long)]
    design: String,
    /// The scenario.
    #[arg(long)]
    scenario: String,
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

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PAUSEBEAT_LOG").unwrap_or_else(
                |_| // librdkafka reports every refused connection of an outage as an ERROR; the demo
                // causes outages on purpose. PAUSEBEAT_LOG=librdkafka=warn brings them back.
                // loom's coroutine library logs every panic it unwinds (the driver stops loom
                // with one after a violation): off too.
                tracing_subscriber::EnvFilter::new("warn,librdkafka=off,generator=off"),
            ),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Cmd::Verify(a) => cmd_verify(a),
        Cmd::Replay(a) => cmd_replay(a),
        Cmd::List => {
            cmd_list();
            ExitCode::SUCCESS
        }
        Cmd::Check(a) => cmd_check(a),
        #[cfg(feature = "rdkafka")]
        Cmd::Demo(a) => pausebeat_scenarios::demo::run(a.json.as_deref()),
    }
}

fn usage_error(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

fn cmd_check(a: CheckArgs) -> ExitCode {
    let Some(scenario) = catalogue::find(&a.scenario) else {
        return usage_error(format!("unknown scenario `{}`", a.scenario));
    };
    let Some(checker) = a.budget.budget().checker(&a.checker) else {
        return usage_error(format!("unknown checker `{}`", a.checker));
    };
    let Some(result) = verify::run_check(&a.design, &scenario, &checker) else {
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

fn cmd_verify(a: VerifyArgs) -> ExitCode {
    let all_designs: Vec<String> = designs::all()
        .into_iter()
        .map(|(n, _)| n.to_string())
        .collect();
    let all_scenarios: Vec<String> = catalogue::all()
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
    let no_loom: Vec<String> = catalogue::all()
        .into_iter()
        .filter(|s| s.no_loom.is_some())
        .map(|s| s.name.to_string())
        .collect();
    let mut plan = vec![];
    for s in &ss {
        for d in &ds {
            for c in &cs {
                if c == "loom"
                    && (no_loom.contains(s) || !pausebeat_scenarios::expect::loom_fits(d, s))
                {
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
    let jobs = a
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    let started = Instant::now();
    let results = run_isolated(
        plan,
        &a.budget,
        jobs,
        Duration::from_secs(a.check_timeout),
        a.fail_fast,
    );
    println!("{}", report::table(&results, &cs));
    for r in results
        .iter()
        .filter(|r| r.verdict == "violation" || !r.as_expected)
    {
        println!("{}", report::describe(r));
        if let Some(s) = &r.replay {
            println!(
                "  replay: cargo run --release --bin pausebeat -- replay --design {} --scenario {} --schedule '{s}'",
                r.design, r.scenario
            );
        }
    }
    let s = report::summary(&results);
    println!(
        "\n{} checks in {:.1}s on {jobs} job(s): {} as expected, {} unexpected",
        s.total,
        started.elapsed().as_secs_f64(),
        s.as_expected,
        s.unexpected
    );
    for p in a.json.iter().chain(a.junit.iter()) {
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Err(e) = std::fs::create_dir_all(dir) {
                return usage_error(format!("cannot create {}: {e}", dir.display()));
            }
        }
    }
    if let Some(p) = &a.json {
        let doc = report::json(&results);
        let text = match serde_json::to_string_pretty(&doc) {
            Ok(t) => t,
            Err(e) => return usage_error(e),
        };
        if let Err(e) = std::fs::write(p, text) {
            return usage_error(format!("cannot write {}: {e}", p.display()));
        }
    }
    if let Some(p) = &a.junit {
        if let Err(e) = std::fs::write(p, report::junit(&results)) {
            return usage_error(format!("cannot write {}: {e}", p.display()));
        }
    }
    if s.unexpected == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Runs every check in its own process (a check that aborts cannot take the run down), `jobs`
/// at a time.
fn run_isolated(
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
                    Ok(exe) => run_child(exe, &p, budget, timeout),
                    Err(e) => {
                        error_result(&p, format!("cannot find the pausebeat executable: {e}"))
                    }
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

fn error_result(p: &Planned, message: String) -> CheckResult {
    let exp = expectation(&p.design, &p.scenario);
    CheckResult {
        design: p.design.clone(),
        scenario: p.scenario.clone(),
        checker: p.checker.clone(),
        verdict: "error".into(),
        expected: match exp.outcome {
            Expected::Pass => "pass".into(),
            Expected::Violation(_) => "violation".into(),
        },
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
        Err(e) => return error_result(p, format!("cannot start a check process: {e}")),
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
        let mut r = error_result(p, format!("timed out after {}s", timeout.as_secs()));
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

fn cmd_replay(a: ReplayArgs) -> ExitCode {
    let schedule = match (&a.schedule, &a.schedule_file) {
        (Some(s), _) => s.clone(),
        (None, Some(f)) => match std::fs::read_to_string(f) {
            Ok(s) => s.trim().to_string(),
            Err(e) => return usage_error(format!("cannot read {}: {e}", f.display())),
        },
        (None, None) => return usage_error("give --schedule or --schedule-file"),
    };
    let replayed = match verify::replay_check(&a.design, &a.scenario, &schedule) {
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

fn cmd_list() {
    println!("DESIGNS");
    for (name, about) in designs::all() {
        println!("  {name:<14} {about}");
    }
    println!("\nSCENARIOS");
    for s in catalogue::all() {
        println!("  {:<32} [{}] {}", s.name, s.reference, s.story);
    }
    println!("\nPROPERTIES");
    for p in Property::ALL {
        println!("  {:<20} {}", p.name(), p.definition());
    }
    println!("\nCHECKERS");
    println!("  loom     loom's exhaustive DPOR within a preemption bound (default 2), up to --loom-executions");
    println!("  pct      shuttle's PCT scheduler, depth 3, --budget schedules");
    println!("  random   shuttle's random scheduler, --budget schedules");
    println!("  dfs      shuttle's exhaustive depth-first scheduler, up to --budget schedules (not run by default)");
    println!("\nEXPECTATIONS (anything not listed: every property holds)");
    for s in catalogue::all() {
        for (d, _) in designs::all() {
            let e = expectation(d, &s.name);
            if let Expected::Violation(ps) = e.outcome {
                let names: Vec<&str> = ps.iter().map(|p| p.name()).collect();
                println!("  {d:<12} {:<32} violates {}", s.name, names.join(" or "));
                println!("  {:<45} {}", "", e.why);
            }
        }
    }
}
