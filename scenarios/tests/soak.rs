//! A short soak (`pausebeat soak`, ended by an operation count, not a window): random operations
//! from two application threads and random faults against librdkafka's mock cluster, judged by
//! every property of the catalogue from the recorded log.
#![cfg(feature = "rdkafka")]

use pausebeat::sync::{Chan, RecvError, Runtime, StdRuntime};
use pausebeat_scenarios::soak::{execute, SoakEnd, SoakOptions};
use std::time::Duration;

#[test]
fn a_short_soak_loses_nothing_and_closes_everything() {
    let rt = StdRuntime::new();
    let done: Chan<StdRuntime, pausebeat_scenarios::soak::SoakReport> = Chan::new(&rt, 1);
    let d = done.clone();
    let _soak = rt.spawn("soak", move || {
        let opts = SoakOptions {
            seed: 2,
            end: SoakEnd::Operations(60),
            ..SoakOptions::default()
        };
        let report = execute(&opts).expect("the soak runs");
        let _ = d.try_send(report);
    });
    // A guard only: the soak ends on its operation count, then on every record handled.
    let report = match done.recv_timeout(Duration::from_secs(900)) {
        Ok(r) => r,
        Err(RecvError::Empty) => panic!("the soak did not finish within 15 minutes"),
        Err(RecvError::Closed) => panic!("the soak panicked"),
    };
    println!("{report:#?}");
    assert!(report.passed(), "{:?}", report.problems);
    assert!(report.operations.values().sum::<u64>() >= 60, "{report:?}");
    assert!(
        report.faults.values().sum::<u64>() >= 1,
        "no fault injected: {report:?}"
    );
    assert!(report.records_produced > 0);
    assert_eq!(report.records_lost, 0);
    assert_eq!(report.consumers_created, report.consumers_closed);
    assert!(report.events > 100, "the judge saw the run: {report:?}");
    assert_eq!(report.properties.len(), 13);
    assert!(
        report.properties.values().all(|v| v == "held"),
        "{:#?}",
        report.properties
    );
}
