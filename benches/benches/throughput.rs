//! `throughput/<who>`: records per second through the handler, on rdkafka against the embedded
//! mock cluster (docs/CONTRACT.md). See `pausebeat_benches::kafka::ThroughputBench` for what one
//! iteration is.

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use pausebeat_benches::kafka::{tuned_fetch_settings, ThroughputBench, Who};
use pausebeat_benches::{fail, init_tracing, watchdog};
use std::time::Duration;

fn throughput(c: &mut Criterion) {
    init_tracing();
    watchdog("throughput", Duration::from_secs(900));
    let settings = tuned_fetch_settings();
    let mut group = c.benchmark_group("throughput");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(ThroughputBench::PER_ITERATION));
    for who in [Who::Raw, Who::Vetted] {
        let mut bench = match ThroughputBench::start(who, &settings) {
            Ok(b) => b,
            Err(e) => fail(&format!("throughput/{}: setup", who.name()), e),
        };
        group.bench_function(BenchmarkId::from_parameter(who.name()), |b| {
            b.iter_custom(|iters| match bench.measure(iters) {
                Ok(d) => d,
                Err(e) => fail(&format!("throughput/{}", who.name()), e),
            })
        });
        match bench.finish() {
            Ok(n) => eprintln!("throughput/{}: {n} records read", who.name()),
            Err(e) => fail(&format!("throughput/{}: finish", who.name()), e),
        }
    }
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
