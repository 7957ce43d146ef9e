//! `resume_call/<design>/<state>`: how long `resume()` takes to return (docs/CONTRACT.md).
//! See `pausebeat_benches::resume` for what one iteration is per design and state.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode};
use pausebeat_benches::resume::{setup, BenchTiming, Condition, Design};
use pausebeat_benches::{fail, init_tracing, watchdog, write_json};
use std::collections::BTreeMap;
use std::time::Duration;

fn resume_call(c: &mut Criterion) {
    init_tracing();
    watchdog("resume_call", Duration::from_secs(600));
    let timing = BenchTiming::default();
    let mut summaries = BTreeMap::new();
    let mut group = c.benchmark_group("resume_call");
    group.sampling_mode(SamplingMode::Flat);
    for design in Design::ALL {
        for condition in Condition::ALL {
            // go-original waits for its whole send timeout (max.poll = 300 ms) while the
            // heartbeat restarts: few, long iterations.
            let slow = design == Design::GoOriginal && condition == Condition::Restarting;
            if slow {
                group
                    .sample_size(10)
                    .warm_up_time(Duration::from_millis(300))
                    .measurement_time(Duration::from_secs(3));
            } else {
                group
                    .sample_size(20)
                    .warm_up_time(Duration::from_millis(500))
                    .measurement_time(Duration::from_secs(2));
            }
            let mut bench = match setup(design, condition, &timing) {
                Ok(b) => b,
                Err(e) => fail(&format!("resume_call/{design}/{condition}: setup"), e),
            };
            group.bench_function(BenchmarkId::new(design.name(), condition.name()), |b| {
                b.iter_custom(|iters| match bench.measure(iters) {
                    Ok(d) => d,
                    Err(e) => fail(&format!("resume_call/{design}/{condition}"), e),
                })
            });
            match bench.finish() {
                Ok(s) => {
                    eprintln!(
                        "resume_call/{design}/{condition}: {} resumes, {} failed; topic {:?}; \
                         applied after the outage: {:?}",
                        s.resumes, s.failed, s.topic, s.applied_after_outage
                    );
                    summaries.insert(format!("{design}/{condition}"), s);
                }
                Err(e) => fail(&format!("resume_call/{design}/{condition}: finish"), e),
            }
        }
    }
    group.finish();
    if let Err(e) = write_json("resume_call.json", &summaries) {
        fail("resume_call: writing the summaries", e);
    }
}

criterion_group!(benches, resume_call);
criterion_main!(benches);
