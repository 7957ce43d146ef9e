//! `verifier_stats`: the verifier's own numbers.
//!
//! * **Throughput**: schedules per second per checker on a standard scenario, `happy-path` ×
//!   `vetted` (every schedule passes, so the whole budget runs).
//! * **Seed bugs**: for go-original × `resume-during-outage` (`resume-bounded`, the seed's
//!   "Resume timeout") and pr-1313 × `suspend-while-heartbeat-polls` (`suspend-final`, the
//!   reviewer's finding), the schedules and the time to the first counterexample per checker:
//!   once for the deterministic checkers (loom, dfs), over several seeds for the randomized ones
//!   (pct, random). The same for three races whose scenario does not pin the interleaving
//!   (go-original × `retry-consumer-resumes-each-run`, pr-1313 × `resume-during-outage`,
//!   go-original × `instant-handler`), where the checkers differ.
//!
//! ```text
//! cargo run --release -p pausebeat-scenarios --example verifier_stats -- [--budget 2000]
//!     [--bug-budget 5000] [--seeds 5] [--json FILE]
//! ```
//!
//! A binary rather than a criterion bench: one sample is seconds long, and the numbers that
//! matter (schedules to a counterexample) are counts that a seed fixes, not distributions that
//! repeated sampling would refine; repeating over seeds is what gives their spread.

use clap::Parser;
use pausebeat::sync::explore::Checker;
use pausebeat_benches::{fail, init_tracing_with, results_dir, watchdog, write_json};
use pausebeat_scenarios::catalogue;
use pausebeat_scenarios::designs::Registry;
use pausebeat_scenarios::verify::{run_check, CheckResult};
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(about = "schedules per second per checker, and schedules to the seed bugs")]
struct Args {
    /// Schedules (loom: executions) per checker on happy-path × vetted.
    #[arg(long, default_value_t = 2000)]
    budget: usize,
    /// The most schedules per checker while looking for a seed bug.
    #[arg(long, default_value_t = 5000)]
    bug_budget: usize,
    /// Seeds per randomized checker (pct, random) on the seed bugs.
    #[arg(long, default_value_t = 5)]
    seeds: u64,
    /// loom's preemption bound.
    #[arg(long, default_value_t = 2)]
    loom_preemptions: usize,
    /// PCT's depth.
    #[arg(long, default_value_t = 3)]
    pct_depth: usize,
    /// Where to write the results (default: `<target>/pausebeat-bench/verifier_stats.json`).
    #[arg(long)]
    json: Option<PathBuf>,
}

/// One checker run.
#[derive(Serialize, Debug)]
struct Run {
    design: String,
    scenario: String,
    checker: String,
    seed: Option<u64>,
    verdict: String,
    property: Option<String>,
    schedules: usize,
    /// loom explored its whole bounded space.
    exhaustive: bool,
    elapsed_ms: f64,
    schedules_per_s: f64,
}

#[derive(Serialize)]
struct Out {
    budget: usize,
    bug_budget: usize,
    loom_preemptions: usize,
    pct_depth: usize,
    throughput: Vec<Run>,
    bugs: Vec<Run>,
}

fn checker(name: &str, budget: usize, seed: u64, args: &Args) -> Option<Checker> {
    Some(match name {
        "loom" => Checker::Loom {
            preemptions: args.loom_preemptions,
            max_executions: budget,
        },
        "pct" => Checker::Pct {
            depth: args.pct_depth,
            schedules: budget,
            seed,
        },
        "random" => Checker::Random {
            schedules: budget,
            seed,
        },
        "dfs" => Checker::Dfs { schedules: budget },
        _ => return None,
    })
}

fn run_one(
    design: &str,
    scenario: &str,
    name: &str,
    budget: usize,
    seed: Option<u64>,
    args: &Args,
) -> Result<Run, String> {
    let s = catalogue::find(scenario).ok_or_else(|| format!("no scenario `{scenario}`"))?;
    let c = checker(name, budget, seed.unwrap_or(0x5eed), args)
        .ok_or_else(|| format!("no checker `{name}`"))?;
    let start = Instant::now();
    let r: CheckResult =
        run_check(design, &s, &c).ok_or_else(|| format!("no design `{design}`"))?;
    let secs = start.elapsed().as_secs_f64().max(1e-6);
    let run = Run {
        design: design.to_string(),
        scenario: scenario.to_string(),
        checker: name.to_string(),
        seed,
        verdict: r.verdict.to_string(),
        property: r.property.clone(),
        schedules: r.schedules,
        exhaustive: r.exhaustive,
        elapsed_ms: secs * 1000.0,
        schedules_per_s: r.schedules as f64 / secs,
    };
    println!(
        "{design:<12} {scenario:<30} {name:<7} seed {:<6} {:<9} {:<16} {:>6} schedules {:>10.1} ms {:>9.0}/s",
        seed.map_or("-".to_string(), |s| s.to_string()),
        run.verdict,
        run.property.as_deref().unwrap_or("-"),
        run.schedules,
        run.elapsed_ms,
        run.schedules_per_s
    );
    if r.verdict == pausebeat_scenarios::verify::Verdict::Error {
        return Err(format!(
            "{design} × {scenario} × {name}: {}",
            r.message.unwrap_or_default()
        ));
    }
    Ok(run)
}

fn run(args: &Args) -> Result<Out, String> {
    let mut throughput = vec![];
    for name in ["loom", "pct", "random", "dfs"] {
        throughput.push(run_one(
            "vetted",
            "happy-path",
            name,
            args.budget,
            None,
            args,
        )?);
    }
    let mut bugs = vec![];
    for (design, scenario) in [
        ("go-original", "resume-during-outage"),
        ("pr-1313", "suspend-while-heartbeat-polls"),
        // Races the timeline does not pin: a checker has to find the interleaving.
        ("go-original", "retry-consumer-resumes-each-run"),
        ("pr-1313", "resume-during-outage"),
        ("go-original", "instant-handler"),
    ] {
        for name in ["loom", "dfs"] {
            let loom_runs = Registry::builtin()
                .get(design)
                .zip(pausebeat_scenarios::catalogue::find(scenario))
                .is_some_and(|(d, s)| d.loom_runs(&s));
            if name == "loom" && !loom_runs {
                println!("{design:<12} {scenario:<30} loom    (needs more than loom's 5 threads)");
                continue;
            }
            bugs.push(run_one(
                design,
                scenario,
                name,
                args.bug_budget,
                None,
                args,
            )?);
        }
        for name in ["pct", "random"] {
            for seed in 1..=args.seeds {
                bugs.push(run_one(
                    design,
                    scenario,
                    name,
                    args.bug_budget,
                    Some(seed),
                    args,
                )?);
            }
        }
    }
    Ok(Out {
        budget: args.budget,
        bug_budget: args.bug_budget,
        loom_preemptions: args.loom_preemptions,
        pct_depth: args.pct_depth,
        throughput,
        bugs,
    })
}

fn main() {
    // The Go ports log their (modeled) panics as warnings: expected here.
    init_tracing_with("error");
    let args = Args::parse();
    watchdog("verifier_stats", Duration::from_secs(3600));
    let out = match run(&args) {
        Ok(o) => o,
        Err(e) => fail("verifier_stats", e),
    };
    let written = match &args.json {
        Some(path) => serde_json::to_string_pretty(&out)
            .map_err(|e| e.to_string())
            .and_then(|t| std::fs::write(path, t).map_err(|e| e.to_string()))
            .map(|()| path.clone()),
        None => write_json("verifier_stats.json", &out).map_err(|e| e.to_string()),
    };
    match written {
        Ok(p) => println!("wrote {}", p.display()),
        Err(e) => fail(
            &format!(
                "verifier_stats: writing the results (default dir {})",
                results_dir().display()
            ),
            e,
        ),
    }
}
