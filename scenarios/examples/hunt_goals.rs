//! `hunt_goals`: what `pausebeat hunt` finds starting from nothing (it never reads the
//! catalogue), measured per seed.
//!
//! * **The seed's bugs**, per seed: the time, scenarios and schedules until a hunt finds
//!   go-original's `resume-bounded` as the seed's "Resume timeout" (`--matching failed`: the
//!   resume timed out, not merely waited), once with the default weights and once without the
//!   retry variant (which times out another way, §5(c)-9), so that only the outage path of
//!   §5(a) is left; and pr-1313's `suspend-final` (the reviewer's finding). With the shrunk
//!   scenario's size (steps + faults) against the hand-written scenario's.
//! * **Breadth**: per Go design, a `--keep-going` hunt of `--breadth-minutes`: which of the
//!   properties the catalogue expects it to violate were found.
//! * **The vetted design**: a hunt of `--vetted-minutes` (any violation is a bug to fix).
//!
//! ```text
//! cargo run --release -p pausebeat-scenarios --example hunt_goals -- [--seeds 5] [--limit-minutes 5]
//!     [--breadth-minutes 10] [--vetted-minutes 30] [--json FILE]
//! ```

use clap::Parser;
use pausebeat_benches::{fail, init_tracing_with, results_dir, watchdog, write_json};
use pausebeat_scenarios::catalogue;
use pausebeat_scenarios::designs::Registry;
use pausebeat_scenarios::hunt::generate::Weights;
use pausebeat_scenarios::hunt::{Hunt, Report, Stop};
use pausebeat_scenarios::properties::Property;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(about = "what pausebeat hunt finds from nothing, per seed")]
struct Args {
    /// Seeds per goal (1..=N).
    #[arg(long, default_value_t = 5)]
    seeds: u64,
    /// The most minutes one goal hunt may take.
    #[arg(long, default_value_t = 5.0)]
    limit_minutes: f64,
    /// Minutes of the breadth hunt per Go design (0: skip).
    #[arg(long, default_value_t = 10.0)]
    breadth_minutes: f64,
    /// Minutes of the vetted hunt (0: skip).
    #[arg(long, default_value_t = 30.0)]
    vetted_minutes: f64,
    /// Schedules per checker per scenario.
    #[arg(long, default_value_t = 100)]
    schedules: usize,
    /// Write the results here (default: `<target>/pausebeat-bench/hunt_goals.json`).
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Serialize)]
struct Goal {
    goal: String,
    design: String,
    property: String,
    seed: u64,
    found: bool,
    seconds: f64,
    scenarios: usize,
    schedules: usize,
    shrunk_size: Option<usize>,
    found_size: Option<usize>,
    hand_written_size: usize,
    code: Option<String>,
}

#[derive(Serialize)]
struct Breadth {
    design: String,
    minutes: f64,
    scenarios: usize,
    schedules: usize,
    expected: Vec<String>,
    found: Vec<String>,
    unexpected: Vec<String>,
}

#[derive(Serialize)]
struct Out {
    goals: Vec<Goal>,
    breadth: Vec<Breadth>,
    vetted: Option<Breadth>,
}

fn hand_written(name: &str) -> usize {
    catalogue::find(name).map_or(0, |s| s.steps.len() + s.world.faults.len())
}

fn goal(r: &Report, goal: &str, property: Property, seed: u64, hand: &str) -> Goal {
    let f = r
        .findings
        .iter()
        .find(|f| f.result.property.as_deref() == Some(property.name()));
    Goal {
        goal: goal.into(),
        design: r.design.clone(),
        property: property.name().into(),
        seed,
        found: r.stopped == Stop::Found,
        seconds: f.map_or(r.elapsed_ms, |f| f.found_after_ms) as f64 / 1000.0,
        scenarios: f.map_or(r.scenarios, |f| f.scenarios_before),
        schedules: f.map_or(r.schedules, |f| f.schedules_before),
        shrunk_size: f.map(|f| f.size),
        found_size: f.map(|f| f.found_size),
        hand_written_size: hand_written(hand),
        code: f.map(|f| f.code.clone()),
    }
}

fn breadth(registry: &Registry, design: &str, minutes: f64, schedules: usize) -> Breadth {
    let d = registry.get(design).expect("a built-in design");
    let r = Hunt::new(d)
        .seed(1)
        .keep_going(true)
        .schedules(schedules)
        .limit(Duration::from_secs_f64(minutes * 60.0))
        .run(&mut |_| {});
    let mut expected: Vec<String> = d
        .expectations()
        .iter()
        .flat_map(|e| e.violates.iter().map(|p| p.name().to_string()))
        .collect();
    expected.sort();
    expected.dedup();
    let names = |unexpected: bool| {
        let mut v: Vec<String> = r
            .findings
            .iter()
            .filter(|f| f.result.as_expected != unexpected)
            .filter_map(|f| f.result.property.clone())
            .collect();
        v.sort();
        v
    };
    Breadth {
        design: design.into(),
        minutes,
        scenarios: r.scenarios,
        schedules: r.schedules,
        expected,
        found: names(false),
        unexpected: names(true),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    let args = Args::parse();
    init_tracing_with("error,pausebeat=off,pausebeat_go=off,pausebeat_vetted_checks=off");
    let total = args.seeds as f64 * 3.0 * args.limit_minutes
        + 2.0 * args.breadth_minutes
        + args.vetted_minutes
        + 10.0;
    watchdog("hunt_goals", Duration::from_secs_f64(total * 60.0 * 2.0));
    let registry = Registry::builtin();
    let limit = Duration::from_secs_f64(args.limit_minutes * 60.0);
    let mut goals = vec![];
    for seed in 1..=args.seeds {
        let go = registry.get("go-original").expect("built in");
        let pr = registry.get("pr-1313").expect("built in");
        let base = |d| {
            Hunt::new(d)
                .seed(seed)
                .limit(limit)
                .schedules(args.schedules)
        };
        let r = base(go)
            .until(Some(Property::ResumeBounded))
            .matching(Some("failed".into()))
            .run(&mut |_| {});
        goals.push(goal(
            &r,
            "resume timeout",
            Property::ResumeBounded,
            seed,
            "resume-during-outage",
        ));
        let r = base(go)
            .until(Some(Property::ResumeBounded))
            .matching(Some("failed".into()))
            .weights(Weights {
                retry: 0,
                ..Weights::default()
            })
            .run(&mut |_| {});
        goals.push(goal(
            &r,
            "resume timeout, no retry variant",
            Property::ResumeBounded,
            seed,
            "resume-during-outage",
        ));
        let r = base(pr)
            .until(Some(Property::SuspendFinal))
            .run(&mut |_| {});
        goals.push(goal(
            &r,
            "suspend churn",
            Property::SuspendFinal,
            seed,
            "suspend-while-heartbeat-polls",
        ));
        let g = &goals[goals.len() - 3..];
        for g in g {
            eprintln!(
                "seed {seed} {:<34} {:<12} found={} {:>7.1}s {:>5} scenarios {:>8} schedules size {:?} (hand-written {})",
                g.goal, g.design, g.found, g.seconds, g.scenarios, g.schedules, g.shrunk_size, g.hand_written_size
            );
        }
    }
    for name in [
        "resume timeout",
        "resume timeout, no retry variant",
        "suspend churn",
    ] {
        let v: Vec<f64> = goals
            .iter()
            .filter(|g| g.goal == name)
            .map(|g| g.seconds)
            .collect();
        let found = goals.iter().filter(|g| g.goal == name && g.found).count();
        eprintln!(
            "{name:<34} median {:>7.1}s, found on {found}/{} seeds",
            median(v),
            args.seeds
        );
    }
    let mut out = Out {
        goals,
        breadth: vec![],
        vetted: None,
    };
    if args.breadth_minutes > 0.0 {
        for d in ["go-original", "pr-1313"] {
            let b = breadth(&registry, d, args.breadth_minutes, args.schedules);
            eprintln!(
                "breadth {d}: {} scenarios in {} min; expected {:?}; found {:?}; unexpected {:?}",
                b.scenarios, b.minutes, b.expected, b.found, b.unexpected
            );
            out.breadth.push(b);
        }
    }
    if args.vetted_minutes > 0.0 {
        let b = breadth(&registry, "vetted", args.vetted_minutes, args.schedules);
        eprintln!(
            "vetted: {} scenarios, {} schedules in {} min; violations {:?}",
            b.scenarios, b.schedules, b.minutes, b.unexpected
        );
        out.vetted = Some(b);
    }
    let written = match &args.json {
        Some(p) => std::fs::write(p, serde_json::to_string_pretty(&out).unwrap_or_default())
            .map(|_| p.clone())
            .map_err(|e| e.to_string()),
        None => write_json("hunt_goals.json", &out).map_err(|e| e.to_string()),
    };
    match written {
        Ok(p) => eprintln!("results: {}", p.display()),
        Err(e) => fail(
            "hunt_goals",
            format!("cannot write under {}: {e}", results_dir().display()),
        ),
    }
}
