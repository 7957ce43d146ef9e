//! `fetch_latency`: experiments on resume → first record with a hand-written `BaseConsumer`
//! against the mock cluster, per librdkafka setting, to explain why it takes ≈ 95 ms with
//! `fetch.wait.max.ms=500` and ≈ 595 ms with `fetch.wait.max.ms=10` (docs/rdkafka-notes.md) and to
//! find the settings that bring it closest to one fetch round trip.
//!
//! ```text
//! cargo run --release -p pausebeat-benches --bin fetch_latency -- [--iterations 8]
//!     [--paused-ms 300] [--variant NAME]... [--debug NAME] [--json FILE]
//! ```
//!
//! Each (variant, scenario) gets a fresh mock cluster (3 brokers, 4 partitions) and a consumer in
//! a fresh group. An iteration pauses every partition, keeps polling for `--paused-ms`, resumes
//! and polls until a record arrives. Scenarios: `backlog` (2000 records per partition produced
//! up front, one read per iteration, as in docs/rdkafka-notes.md) and `caught-up` (the consumer has
//! read everything; one record is produced while it is paused). With `--debug NAME` the
//! variant's librdkafka `debug=fetch,topic,queue` lines around one resume are printed.

use clap::Parser;
use pausebeat::rdkafka::mock::MockKafka;
use pausebeat_benches::kafka::{
    produce_everywhere, rd_clock_us, settings, start_mock, RawConsumer, Settings,
};
use pausebeat_benches::{fail, init_tracing, results_dir, watchdog, BenchError};
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(about = "resume → first record on rdkafka against the mock cluster, per setting")]
struct Args {
    /// Iterations per variant and scenario.
    #[arg(long, default_value_t = 8)]
    iterations: usize,
    /// How long each iteration stays paused (polling) before it resumes (repeatable). Without
    /// it, and without `--variant`/`--scenario`, the full plan of `benches/RESULTS.md` runs.
    #[arg(long)]
    paused_ms: Vec<u64>,
    /// Run only these variants (default: all).
    #[arg(long)]
    variant: Vec<String>,
    /// Run only these scenarios (`backlog`, `caught-up`; default: both).
    #[arg(long)]
    scenario: Vec<String>,
    /// Print librdkafka's fetch log around one resume of this variant, and stop.
    #[arg(long)]
    debug: Option<String>,
    /// With `--debug`: print the whole cycle (from the pause), not only from the resume on.
    #[arg(long)]
    debug_all: bool,
    /// Where to write the results (default: `<target>/pausebeat-bench/fetch_latency.json`).
    #[arg(long)]
    json: Option<PathBuf>,
}

/// A set of settings to try.
struct Variant {
    name: &'static str,
    about: &'static str,
    settings: Settings,
    /// What to do right after the resume.
    after: After,
}

/// What a variant does right after `resume()`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum After {
    /// Nothing: poll.
    Nothing,
    /// A watermark query (ListOffsets) to each partition's leader, answers awaited in turn.
    WakeLeaders,
    /// The same queries from helper threads, not awaited.
    WakeLeadersAsync,
    /// A seek of each partition to its current position.
    Seek,
}

fn variants() -> Vec<Variant> {
    vec![
        Variant {
            name: "defaults",
            about: "librdkafka's defaults (fetch.wait.max.ms=500)",
            settings: vec![],
            after: After::Nothing,
        },
        Variant {
            name: "wait10",
            about: "fetch.wait.max.ms=10",
            settings: settings(&[("fetch.wait.max.ms", "10")]),
            after: After::Nothing,
        },
        Variant {
            name: "wait10-errbackoff0",
            about: "fetch.wait.max.ms=10, fetch.error.backoff.ms=0",
            settings: settings(&[("fetch.wait.max.ms", "10"), ("fetch.error.backoff.ms", "0")]),
            after: After::Nothing,
        },
        Variant {
            name: "wait10-queuebackoff0",
            about: "fetch.wait.max.ms=10, fetch.queue.backoff.ms=0",
            settings: settings(&[("fetch.wait.max.ms", "10"), ("fetch.queue.backoff.ms", "0")]),
            after: After::Nothing,
        },
        Variant {
            name: "wait100",
            about: "fetch.wait.max.ms=100",
            settings: settings(&[("fetch.wait.max.ms", "100")]),
            after: After::Nothing,
        },
        Variant {
            name: "defaults-wake",
            about: "defaults, plus a watermark query to each leader right after resume",
            settings: vec![],
            after: After::WakeLeaders,
        },
        Variant {
            name: "meta100",
            about: "topic.metadata.refresh.interval.ms=100 (a Metadata request to some broker every 100 ms)",
            settings: settings(&[("topic.metadata.refresh.interval.ms", "100")]),
            after: After::Nothing,
        },
        Variant {
            name: "wait10-wake",
            about: "fetch.wait.max.ms=10, plus a watermark query to each leader right after resume",
            settings: settings(&[("fetch.wait.max.ms", "10")]),
            after: After::WakeLeaders,
        },
        Variant {
            name: "defaults-wake-async",
            about: "defaults, plus watermark queries to each leader from helper threads right after resume, not awaited",
            settings: vec![],
            after: After::WakeLeadersAsync,
        },
        Variant {
            name: "wait100-wake-async",
            about: "fetch.wait.max.ms=100, plus watermark queries to each leader from helper threads right after resume, not awaited",
            settings: settings(&[("fetch.wait.max.ms", "100")]),
            after: After::WakeLeadersAsync,
        },
        Variant {
            name: "defaults-seek",
            about: "defaults, plus a seek of each partition to its position right after resume",
            settings: vec![],
            after: After::Seek,
        },
    ]
}

#[derive(Serialize)]
struct Row {
    variant: String,
    about: String,
    scenario: String,
    paused_ms: u64,
    settings: Vec<(String, String)>,
    to_record_ms: Vec<f64>,
    /// The first Fetch request the mock received after the resume, relative to it.
    first_fetch_ms: Vec<Option<f64>>,
    p50_ms: f64,
    max_ms: f64,
}

#[derive(Serialize)]
struct Out {
    iterations: usize,
    rows: Vec<Row>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(((s.len().saturating_sub(1)) as f64 * p).round() as usize)
        .copied()
        .unwrap_or(f64::NAN)
}

fn prepare(
    v: &Variant,
    scenario: &str,
    seq: usize,
    debug: bool,
) -> Result<(MockKafka, RawConsumer), BenchError> {
    let kafka = start_mock(&format!("fl-{seq}"), 4)?;
    if scenario == "backlog" {
        produce_everywhere(&kafka, 2000, 100)?;
    }
    let debug = debug.then_some("fetch,topic,queue");
    let mut raw = RawConsumer::start(&kafka, &format!("fl-{seq}"), &v.settings, debug)?;
    if scenario == "backlog" {
        raw.next_record(Duration::from_secs(10))?
            .ok_or_else(|| BenchError::Setup("no first record".into()))?;
    } else {
        raw.poll_for(Duration::from_millis(300))?;
    }
    Ok((kafka, raw))
}

/// One pause → resume → record cycle; the latency and the first Fetch after the resume.
fn cycle(
    kafka: &MockKafka,
    raw: &mut RawConsumer,
    v: &Variant,
    scenario: &str,
    i: usize,
    paused: Duration,
) -> Result<(Duration, Option<Duration>), BenchError> {
    raw.pause()?;
    if scenario == "caught-up" {
        let p = i32::try_from(i % 4).unwrap_or(0);
        kafka.produce(p, 1)?;
    }
    raw.poll_for(paused)?;
    kafka.clear_requests();
    let resumed_us = rd_clock_us();
    let t0 = Instant::now();
    raw.resume()?;
    match v.after {
        After::Nothing => {}
        After::WakeLeaders => raw.wake_leaders()?,
        After::WakeLeadersAsync => raw.wake_leaders_async()?,
        After::Seek => raw.seek_to_positions()?,
    }
    let Some((_, _, at)) = raw.next_record(Duration::from_secs(5))? else {
        return Err(BenchError::Setup(format!(
            "{}: no record within 5 s of the resume",
            v.name
        )));
    };
    let first_fetch = kafka
        .requests()
        .iter()
        .find(|r| r.api_key == 1 && r.timestamp_us >= resumed_us)
        .map(|r| Duration::from_micros(u64::try_from(r.timestamp_us - resumed_us).unwrap_or(0)));
    Ok((at - t0, first_fetch))
}

fn debug_one(v: &Variant, args: &Args) -> Result<(), BenchError> {
    for scenario in scenarios(args) {
        let (kafka, mut raw) = prepare(v, scenario, 999, true)?;
        kafka.start_request_tracking();
        let paused = Duration::from_millis(args.paused_ms.first().copied().unwrap_or(405));
        for i in 0..3 {
            raw.capture().restart();
            let (lat, ff) = cycle(&kafka, &mut raw, v, scenario, i, paused)?;
            let lines = raw.capture().stop();
            if i < 2 {
                continue;
            }
            println!(
                "== {} / {scenario}: resume → record {:.1} ms, first Fetch at {:?}",
                v.name,
                ms(lat),
                ff.map(ms)
            );
            // Show the lines from shortly before the resume to the record.
            let resume_at = lines
                .iter()
                .rev()
                .find(|l| l.fac == "RESUME")
                .map_or(Duration::ZERO, |l| l.at);
            let from = if args.debug_all {
                Duration::ZERO
            } else {
                resume_at.saturating_sub(Duration::from_millis(50))
            };
            for l in lines.iter().filter(|l| l.at >= from) {
                let rel = l.at.as_secs_f64() * 1000.0 - resume_at.as_secs_f64() * 1000.0;
                println!("{rel:>9.1} ms {:<10} {}", l.fac, l.message);
            }
        }
        raw.close();
    }
    Ok(())
}

fn scenarios(args: &Args) -> Vec<&'static str> {
    ["backlog", "caught-up"]
        .into_iter()
        .filter(|s| args.scenario.is_empty() || args.scenario.iter().any(|a| a == s))
        .collect()
}

/// The full plan: the notes' case (pause ≈ 405 ms, both scenarios), a sweep of pause lengths
/// for `defaults` and `wait10`, and every variant at 300 ms and 1200 ms (caught up).
fn full_plan() -> Vec<(&'static str, &'static str, u64)> {
    let mut plan = vec![];
    for v in ["defaults", "wait10"] {
        for s in ["backlog", "caught-up"] {
            plan.push((v, s, 405));
        }
    }
    for v in ["defaults", "wait10"] {
        for p in [100, 300, 700, 1200, 2600] {
            plan.push((v, "caught-up", p));
        }
    }
    for v in variants() {
        if v.name != "defaults" && v.name != "wait10" {
            for p in [300, 1200] {
                plan.push((v.name, "caught-up", p));
            }
        }
    }
    plan
}

fn plan(args: &Args) -> Vec<(&'static str, &'static str, u64)> {
    if args.variant.is_empty() && args.scenario.is_empty() && args.paused_ms.is_empty() {
        return full_plan();
    }
    let paused = if args.paused_ms.is_empty() {
        vec![300]
    } else {
        args.paused_ms.clone()
    };
    let mut plan = vec![];
    for v in variants()
        .into_iter()
        .filter(|v| args.variant.is_empty() || args.variant.iter().any(|a| a == v.name))
    {
        for s in scenarios(args) {
            for p in &paused {
                plan.push((v.name, s, *p));
            }
        }
    }
    plan
}

fn run(args: &Args) -> Result<Out, BenchError> {
    let mut rows = vec![];
    let mut seq = 0;
    let all = variants();
    for (name, scenario, paused_ms) in plan(args) {
        let Some(v) = all.iter().find(|v| v.name == name) else {
            continue;
        };
        {
            let paused = Duration::from_millis(paused_ms);
            seq += 1;
            let (kafka, mut raw) = prepare(v, scenario, seq, false)?;
            kafka.start_request_tracking();
            let mut lat = vec![];
            let mut ff = vec![];
            for i in 0..args.iterations {
                let (l, f) = cycle(&kafka, &mut raw, v, scenario, i, paused)?;
                lat.push(ms(l));
                ff.push(f.map(ms));
            }
            raw.close();
            let row = Row {
                variant: v.name.to_string(),
                about: v.about.to_string(),
                scenario: scenario.to_string(),
                paused_ms,
                settings: v.settings.clone(),
                p50_ms: percentile(&lat, 0.5),
                max_ms: percentile(&lat, 1.0),
                to_record_ms: lat,
                first_fetch_ms: ff,
            };
            println!(
                "{:<22} {:<10} paused {:>5} ms: p50 {:>7.1} ms  max {:>7.1} ms  all {:?}  first Fetch {:?}",
                row.variant,
                row.scenario,
                row.paused_ms,
                row.p50_ms,
                row.max_ms,
                row.to_record_ms
                    .iter()
                    .map(|x| x.round() as i64)
                    .collect::<Vec<_>>(),
                row.first_fetch_ms
                    .iter()
                    .map(|x| x.map(|x| x.round() as i64))
                    .collect::<Vec<_>>(),
            );
            rows.push(row);
        }
    }
    Ok(Out {
        iterations: args.iterations,
        rows,
    })
}

fn default_json() -> PathBuf {
    results_dir().join("fetch_latency.json")
}

fn main() {
    init_tracing();
    let args = Args::parse();
    watchdog("fetch_latency", Duration::from_secs(1800));
    if let Some(name) = &args.debug {
        let Some(v) = variants().into_iter().find(|v| v.name == name) else {
            fail("fetch_latency", format!("no variant `{name}`"));
        };
        if let Err(e) = debug_one(&v, &args) {
            fail("fetch_latency", e);
        }
        return;
    }
    let out = match run(&args) {
        Ok(o) => o,
        Err(e) => fail("fetch_latency", e),
    };
    let path = args.json.clone().unwrap_or_else(default_json);
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| {
            std::fs::write(
                &path,
                serde_json::to_string_pretty(&out).unwrap_or_default(),
            )
        });
    match written {
        Ok(()) => println!("wrote {}", path.display()),
        Err(e) => fail("fetch_latency: writing the results", e),
    }
}
