//! Tests of the mock-cluster utility itself (`pausebeat::rdkafka::mock::MockKafka`).

use std::time::Duration;

use pausebeat::rdkafka::mock::{Broker, MockError, MockKafka, MockOptions};
use pausebeat::rdkafka::RdKafkaFactory;
use pausebeat::sync::{Runtime, StdRuntime};
use pausebeat::{ConsumerFactory, ConsumerHandle};
use pausebeat_tests::*;

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn produce_reports_offsets_and_rejects_bad_partitions() {
    with_timeout("produce", LIMIT, || {
        let kafka = MockKafka::start(MockOptions {
            topic: "m-produce".into(),
            partitions: 2,
            ..MockOptions::default()
        })
        .unwrap();
        assert_eq!(kafka.partitions(), 2);
        assert_eq!(kafka.brokers(), 3);
        assert_eq!(kafka.bootstrap_servers().split(',').count(), 3);
        assert_eq!(kafka.produce(0, 3).unwrap(), 0..3);
        assert_eq!(kafka.produce(0, 2).unwrap(), 3..5);
        assert_eq!(kafka.produce(1, 0).unwrap(), 0..0);
        assert_eq!(
            kafka
                .produce_payloads(1, [b"a".to_vec(), b"b".to_vec()])
                .unwrap(),
            0..2
        );
        assert_eq!(
            kafka.produce(2, 1),
            Err(MockError::NoSuchPartition {
                partition: 2,
                partitions: 2
            })
        );
        assert!(matches!(
            MockKafka::start(MockOptions {
                partitions: 0,
                ..MockOptions::default()
            }),
            Err(MockError::Start(_))
        ));
        // What was produced is what a consumer reads.
        let f = RdKafkaFactory::new(quick_config(&kafka, "g-m-produce")).unwrap();
        let h = f.create(None, Recorder::new()).unwrap();
        let seen = poll_records(&h, 7, Duration::from_secs(20));
        let p1: Vec<_> = seen
            .records
            .iter()
            .filter(|r| r.partition == 1)
            .map(|r| r.payload.clone())
            .collect();
        assert_eq!(p1, vec![Some(b"a".to_vec()), Some(b"b".to_vec())]);
        assert_eq!(seen.offsets_of(0), vec![0, 1, 2, 3, 4]);
        h.close().unwrap();
    });
}

#[test]
fn round_trip_time_outages_and_request_tracking() {
    with_timeout("mock-faults", LIMIT, || {
        let kafka = MockKafka::start(MockOptions {
            topic: "m-faults".into(),
            partitions: 1,
            produce_timeout: Duration::from_secs(2),
            ..MockOptions::default()
        })
        .unwrap();
        let rt = StdRuntime::new();
        kafka.produce(0, 1).unwrap();
        kafka
            .set_round_trip_time(Broker::All, Duration::from_millis(300))
            .unwrap();
        let t = rt.now();
        kafka.produce(0, 1).unwrap();
        assert!(
            rt.now() - t >= Duration::from_millis(300),
            "{:?}",
            rt.now() - t
        );
        kafka
            .set_round_trip_time(Broker::All, Duration::ZERO)
            .unwrap();

        kafka.broker_down(Broker::All).unwrap();
        assert!(matches!(
            kafka.produce(0, 1),
            Err(MockError::Timeout {
                delivered: 0,
                expected: 1,
                ..
            })
        ));
        kafka.broker_up(Broker::All).unwrap();
        // The record that timed out for `produce` is still delivered after the outage.
        assert_eq!(kafka.produce(0, 1).unwrap(), 3..4);

        kafka.start_request_tracking();
        let f = RdKafkaFactory::new(quick_config(&kafka, "g-m-faults")).unwrap();
        let h = f.create(None, Recorder::new()).unwrap();
        assert_eq!(
            poll_records(&h, 4, Duration::from_secs(20)).records.len(),
            4
        );
        let _ = poll_for(&h, Duration::from_secs(1));
        let reqs = kafka.requests();
        let count = |key| reqs.iter().filter(|r| r.api_key == key).count();
        assert!(count(1) > 0, "Fetch requests: {reqs:?}");
        assert!(count(11) > 0, "JoinGroup requests");
        assert!(count(12) > 0, "Heartbeat requests");
        assert!(reqs
            .windows(2)
            .all(|w| w[0].timestamp_us <= w[1].timestamp_us + 1000));
        kafka.clear_requests();
        kafka.stop_request_tracking();
        h.close().unwrap();
    });
}

/// The properties judge a real run exactly as a model run, and can fail on one: two handles
/// opened under one static id at once (a create-first restart) are judged `single-consumer`
/// and `no-self-fencing` from the recording alone; a commit past what the handler finished is
/// `no-loss`.
#[test]
fn the_properties_judge_a_real_run_and_can_fail_on_one() {
    use pausebeat::kafka::NoHook;
    use pausebeat_world::properties::{Bounds, Property, Rules};
    use pausebeat_world::real::RealRun;
    use pausebeat_world::record::Recorded;
    use std::collections::BTreeMap;
    use std::sync::Arc;
    with_timeout("judge-real", LIMIT, || {
        let kafka = MockKafka::start(MockOptions {
            topic: "m-judge".into(),
            partitions: 1,
            ..MockOptions::default()
        })
        .unwrap();
        kafka.produce(0, 3).unwrap();
        let rt = StdRuntime::new();
        let run = RealRun::new(&rt);
        let factory = Recorded::new(
            &rt,
            RdKafkaFactory::new(quick_config(&kafka, "g-judge")).unwrap(),
            run.log(),
        );
        let a = factory.create(Some("judged"), Arc::new(NoHook)).unwrap();
        let _ = poll_for(&a, Duration::from_secs(2));
        // A replacement created before the old handle was closed.
        let b = factory.create(Some("judged"), Arc::new(NoHook)).unwrap();
        // A commit past records nobody handled.
        let _ = a.commit(&[(0, 3)]);
        a.close().unwrap();
        b.close().unwrap();
        let rules = Rules {
            bounds: Bounds::default(),
            max_poll_interval: Duration::from_secs(7),
            judge_shutdown: true,
            all_records_due: false,
        };
        let violated: Vec<Property> = run
            .judge(&rules, BTreeMap::from([(0, 3)]), Vec::new())
            .iter()
            .map(|v| v.property)
            .collect();
        for p in [
            Property::NoSelfFencing,
            Property::SingleConsumer,
            Property::NoLoss,
        ] {
            assert!(
                violated.contains(&p),
                "{p} not judged violated: {violated:?}"
            );
        }
    });
}
