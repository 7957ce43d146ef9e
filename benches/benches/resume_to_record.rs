//! `resume_to_record/<who>`: from `resume()` to the next record in the handler, on rdkafka
//! against the embedded mock cluster (docs/CONTRACT.md). `rdkafka-raw` is a hand-written
//! `BaseConsumer` pause/resume/poll loop; `rdkafka-raw-wake` adds a request to each partition
//! leader right after the resume (the fix for librdkafka's idle broker threads, see
//! `benches/RESULTS.md`); `vetted` is pausebeat's consumer. All get the same librdkafka settings
//! and the same sweep of pause lengths (`kafka::paused_for`).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode};
use pausebeat_benches::kafka::{tuned_fetch_settings, ToRecord, ToRecordBench, Who};
use pausebeat_benches::{fail, init_tracing, watchdog, write_json};
use std::collections::BTreeMap;
use std::time::Duration;

fn resume_to_record(c: &mut Criterion) {
    init_tracing();
    watchdog("resume_to_record", Duration::from_secs(900));
    let settings = tuned_fetch_settings();
    let mut group = c.benchmark_group("resume_to_record");
    // Each iteration pauses 100 ms–1.1 s (kafka::paused_for): one iteration per sample.
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(10));
    let mut all: BTreeMap<&str, Vec<ToRecord>> = BTreeMap::new();
    for who in [Who::Raw, Who::Vetted, Who::RawWake] {
        let mut bench = match ToRecordBench::start(who, &settings) {
            Ok(b) => b,
            Err(e) => fail(&format!("resume_to_record/{}: setup", who.name()), e),
        };
        group.bench_function(BenchmarkId::from_parameter(who.name()), |b| {
            b.iter_custom(|iters| match bench.measure(iters) {
                Ok(d) => d,
                Err(e) => fail(&format!("resume_to_record/{}", who.name()), e),
            })
        });
        match bench.finish() {
            Ok(samples) => {
                eprintln!("resume_to_record/{}: {} resumes", who.name(), samples.len());
                all.insert(who.name(), samples);
            }
            Err(e) => fail(&format!("resume_to_record/{}: finish", who.name()), e),
        }
    }
    group.finish();
    if let Err(e) = write_json("resume_to_record.json", &all) {
        fail("resume_to_record: writing the latencies", e);
    }
}

criterion_group!(benches, resume_to_record);
criterion_main!(benches);
