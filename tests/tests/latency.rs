//! Measurements for the benchmark issue (ignored by default; run with
//! `cargo test -p pausebeat-tests --test latency -- --ignored --nocapture --test-threads 1`):
//! `pause()` / `resume()` call latency and resume → first record latency on the mock cluster.
//!
//! What they show (librdkafka 2.12.1, 3 mock brokers, 4 partitions, a backlog to read):
//!
//! * `resume()` does not wake librdkafka's broker threads. It only clears the partition's pause
//!   flag (on librdkafka's main thread); the fetch state stays `active`, so the "fetch start"
//!   wake-up a newly started partition gets is not sent. The resumed partition is fetched at the
//!   next wake-up of its leader's broker thread: the response to a Fetch still in flight, or
//!   the end of that thread's 1000 ms serve window (`rd_kafka_max_block_ms`, hard-coded),
//!   whichever comes first. The first record therefore comes ≈ (pause + W) − resume later,
//!   where W is 1000 ms, or `fetch.wait.max.ms` when the empty long-poll Fetch sent just
//!   before the pause is still held by the broker (the mock holds it exactly that long); the
//!   result is phase-locked to the pause, not random. With ≈ 405 ms pauses this gives the
//!   95 ms (`fetch.wait.max.ms=500`) vs 595 ms (`=10`) in rdkafka-notes; `fetch.error.backoff.ms`,
//!   `fetch.queue.backoff.ms` and `queued.min.messages` play no part (no error, no full queue).
//! * Any request to the partition's leader wakes its broker thread: a ListOffsets
//!   (`fetch_watermarks`) per partition right after `resume()` cut resume → record from
//!   ≈ 700 ms to 1–30 ms ([`resume_latency_with_leader_wakeup`]).

use std::time::Duration;

use pausebeat::rdkafka::mock::{MockKafka, MockOptions};
use pausebeat::rdkafka::RdKafkaFactory;
use pausebeat::sync::{Runtime, StdRuntime};
use pausebeat::{ConsumerFactory, ConsumerHandle};
use pausebeat_tests::*;

/// librdkafka's clock (`rd_clock()`): CLOCK_MONOTONIC in µs.
fn rd_clock_us() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec * 1_000_000 + ts.tv_nsec / 1000
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

struct Run {
    pause: Vec<Duration>,
    resume: Vec<Duration>,
    to_record: Vec<Duration>,
    /// First Fetch request received by the mock after each resume, relative to it.
    first_fetch: Vec<Option<Duration>>,
}

fn measure(label: &str, extra: &[(&str, &str)], iterations: usize, paused_for: Duration) -> Run {
    let kafka = MockKafka::start(MockOptions {
        topic: format!("lat-{label}"),
        partitions: 4,
        ..MockOptions::default()
    })
    .unwrap();
    for p in 0..4 {
        kafka.produce(p, 2000).unwrap();
    }
    let mut cfg = quick_config(&kafka, &format!("g-{label}"));
    for (k, v) in extra {
        cfg = cfg.with(*k, *v);
    }
    let factory = RdKafkaFactory::new(cfg).unwrap();
    let h = factory.create(None, Recorder::new()).unwrap();
    let rt = StdRuntime::new();
    let (parts, _) = wait_assigned(&h, Duration::from_secs(20));
    assert_eq!(parts.len(), 4);
    assert!(!poll_records(&h, 1, Duration::from_secs(10))
        .records
        .is_empty());
    kafka.start_request_tracking();
    let mut run = Run {
        pause: vec![],
        resume: vec![],
        to_record: vec![],
        first_fetch: vec![],
    };
    for _ in 0..iterations {
        let t = rt.now();
        h.pause(&parts).unwrap();
        run.pause.push(rt.now() - t);
        let _ = poll_for(&h, paused_for);
        kafka.clear_requests();
        let resumed_at_us = rd_clock_us();
        let t = rt.now();
        h.resume(&parts).unwrap();
        run.resume.push(rt.now() - t);
        let mut got = None;
        while rt.now() - t < Duration::from_secs(20) {
            if let Ok(Some(_)) = h.poll(Duration::from_millis(100)) {
                got = Some(rt.now() - t);
                break;
            }
        }
        run.to_record.push(got.expect("a record after resume"));
        run.first_fetch.push(
            kafka
                .requests()
                .iter()
                .find(|r| r.api_key == 1 && r.timestamp_us >= resumed_at_us)
                .map(|r| Duration::from_micros((r.timestamp_us - resumed_at_us) as u64)),
        );
    }
    h.close().unwrap();
    run
}

fn report(label: &str, mut run: Run) {
    let ff: Vec<String> = run
        .first_fetch
        .iter()
        .map(|d| d.map_or("-".into(), |d| format!("{}", d.as_millis())))
        .collect();
    let tr: Vec<String> = run
        .to_record
        .iter()
        .map(|d| format!("{}", d.as_millis()))
        .collect();
    println!(
        "{label}: pause p50 {:?} p99 {:?}; resume p50 {:?} p99 {:?}; resume->record p50 {:?} max {:?}\n  to_record ms: {}\n  first fetch ms: {}",
        pct(&mut run.pause, 0.5),
        pct(&mut run.pause, 0.99),
        pct(&mut run.resume, 0.5),
        pct(&mut run.resume, 0.99),
        pct(&mut run.to_record, 0.5),
        pct(&mut run.to_record, 1.0),
        tr.join(" "),
        ff.join(" "),
    );
}

#[test]
#[ignore]
fn resume_latency_fetch_wait() {
    with_timeout("latency", Duration::from_secs(300), || {
        for wait in ["500", "10"] {
            for paused_ms in [100u64, 300, 700, 1500] {
                let label = format!("wait{wait}-paused{paused_ms}");
                let run = measure(
                    &label,
                    &[("fetch.wait.max.ms", wait)],
                    8,
                    Duration::from_millis(paused_ms),
                );
                report(&label, run);
            }
        }
    });
}

/// Raw rust-rdkafka: does a ListOffsets request to each partition's leader (which wakes the
/// leader's broker thread) right after resume cut resume → first record?
#[test]
#[ignore]
fn resume_latency_with_leader_wakeup() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{ClientConfig, TopicPartitionList};
    with_timeout("wakeup", Duration::from_secs(120), || {
        let kafka = MockKafka::start(MockOptions {
            topic: "wake".into(),
            ..MockOptions::default()
        })
        .unwrap();
        for p in 0..4 {
            kafka.produce(p, 2000).unwrap();
        }
        for wake in [false, true] {
            let c: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", kafka.bootstrap_servers())
                .set("group.id", format!("g-wake-{wake}"))
                .set("auto.offset.reset", "earliest")
                .set("enable.auto.commit", "false")
                .set("fetch.wait.max.ms", "10")
                .create()
                .unwrap();
            c.subscribe(&["wake"]).unwrap();
            let rt = StdRuntime::new();
            loop {
                let got = c.poll(Duration::from_millis(100));
                if c.assignment().unwrap().count() == 4 && matches!(got, Some(Ok(_))) {
                    break;
                }
                assert!(
                    rt.now().since_origin() < Duration::from_secs(20),
                    "no assignment"
                );
            }
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_range("wake", 0, 3);
            let mut lat = vec![];
            for _ in 0..8 {
                c.pause(&tpl).unwrap();
                let t = rt.now();
                while rt.now() - t < Duration::from_millis(300) {
                    c.poll(Duration::from_millis(100));
                }
                let t = rt.now();
                c.resume(&tpl).unwrap();
                if wake {
                    for p in 0..4 {
                        c.fetch_watermarks("wake", p, Duration::from_secs(1))
                            .unwrap();
                    }
                }
                loop {
                    if let Some(Ok(_)) = c.poll(Duration::from_millis(100)) {
                        break;
                    }
                    assert!(
                        rt.now() - t < Duration::from_secs(20),
                        "no record after resume"
                    );
                }
                lat.push((rt.now() - t).as_millis());
            }
            println!("leader wakeup {wake}: resume->record ms {lat:?}");
        }
    });
}

#[test]
#[ignore]
fn pause_resume_call_latency() {
    with_timeout("call-latency", Duration::from_secs(120), || {
        let kafka = MockKafka::start(MockOptions {
            topic: "calls".into(),
            ..MockOptions::default()
        })
        .unwrap();
        for p in 0..4 {
            kafka.produce(p, 10).unwrap();
        }
        let factory = RdKafkaFactory::new(quick_config(&kafka, "g-calls")).unwrap();
        let h = factory.create(None, Recorder::new()).unwrap();
        let (parts, _) = wait_assigned(&h, Duration::from_secs(20));
        assert_eq!(parts.len(), 4);
        let rt = StdRuntime::new();
        let (mut pause, mut resume) = (vec![], vec![]);
        for _ in 0..500 {
            let t = rt.now();
            h.pause(&parts).unwrap();
            pause.push(rt.now() - t);
            let _ = h.poll(Duration::ZERO);
            let t = rt.now();
            h.resume(&parts).unwrap();
            resume.push(rt.now() - t);
            let _ = h.poll(Duration::ZERO);
        }
        println!(
            "pause(4 partitions): p50 {:?} p99 {:?} max {:?}; resume: p50 {:?} p99 {:?} max {:?}",
            pct(&mut pause, 0.5),
            pct(&mut pause, 0.99),
            pct(&mut pause, 1.0),
            pct(&mut resume, 0.5),
            pct(&mut resume, 0.99),
            pct(&mut resume, 1.0),
        );
        h.close().unwrap();
    });
}
