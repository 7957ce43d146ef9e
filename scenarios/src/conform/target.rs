//! The two targets a story is played on: the modeled world (virtual time) and librdkafka's mock
//! cluster through the rdkafka backend (real time), both leaving the same event log.

use super::script::{play, Env, Trace};
use super::Case;
use pausebeat::kafka::{ConsumerFactory, ConsumerHandle, NoHook};
use pausebeat::rdkafka::mock::{Broker, MockKafka, MockOptions};
use pausebeat::rdkafka::RdKafkaFactory;
use pausebeat::sync::{AtomicBool, Runtime, Std, StdRuntime, Virtual};
use pausebeat_world::record::Recorded;
use pausebeat_world::{EventLog, Fault, World, WorldSpec};
use std::sync::Arc;
use std::time::Duration;

/// The world for an environment.
fn world_spec(env: &Env) -> WorldSpec {
    let mut spec = WorldSpec::default()
        .with_partitions(env.partitions)
        .with_session_timeout(env.session)
        .with_max_poll_interval(env.max_poll)
        .with_initial_rebalance_delay(env.initial_delay);
    for &(at, p, n) in &env.records {
        spec = spec.produce(at, p, n);
    }
    for &(from, until) in &env.outages {
        spec = spec.fault(Fault::BrokerDown { from, until });
    }
    for m in &env.members {
        spec = spec.member(m.joins, m.leaves);
    }
    spec
}

/// Plays the case on the world, in virtual time.
pub(super) fn play_on_world(case: &Case) -> Result<Trace, String> {
    let rt = Virtual::<Std>::new();
    let world = World::try_new(&rt, world_spec(&case.env)).map_err(|e| e.to_string())?;
    let t0 = rt.now();
    let log = world.log();
    let (results, handles) = play(&rt, &world, &case.steps, t0, &|| log.len())?;
    Ok(Trace {
        events: world.log().snapshot(),
        results,
        handles,
        start: t0.since_origin(),
    })
}

/// One thing the environment does on the mock, at a time.
enum Act {
    Produce(i32, u32),
    Down,
    Up,
    Join(usize),
    Leave(usize),
}

/// Plays the case on librdkafka's mock cluster, in real time, through the recording.
pub(super) fn play_on_mock(case: &Case) -> Result<Trace, String> {
    let env = &case.env;
    let kafka = Arc::new(
        MockKafka::start(MockOptions {
            brokers: 1,
            topic: "conform".to_string(),
            partitions: env.partitions,
            initial_rebalance_delay: env.initial_delay,
            ..MockOptions::default()
        })
        .map_err(|e| e.to_string())?,
    );
    let group = format!("conform-{}", case.name);
    let config = kafka
        .consumer_config(&group)
        .with_session_timeout(env.session)
        .with_max_poll_interval(env.max_poll)
        // Members learn of a rebalance within 250 ms (the world: at their next poll).
        .with("heartbeat.interval.ms", "250")
        .with("reconnect.backoff.ms", "100")
        .with("reconnect.backoff.max.ms", "500")
        .with("fetch.wait.max.ms", "100")
        .with_op_timeout(Duration::from_secs(10))
        .with_close_timeout(Duration::from_secs(10));
    let rt = StdRuntime::new();
    let log = EventLog::new(&rt);
    let factory = Recorded::new(
        &rt,
        RdKafkaFactory::new(config.clone()).map_err(|e| e.to_string())?,
        log.clone(),
    );
    let members_factory = RdKafkaFactory::new(config).map_err(|e| e.to_string())?;
    let mut acts: Vec<(Duration, Act)> = Vec::new();
    for &(at, p, n) in &env.records {
        acts.push((at, Act::Produce(p, n)));
    }
    for &(from, until) in &env.outages {
        acts.push((from, Act::Down));
        acts.push((until, Act::Up));
    }
    for (i, m) in env.members.iter().enumerate() {
        acts.push((m.joins, Act::Join(i)));
        if let Some(l) = m.leaves {
            acts.push((l, Act::Leave(i)));
        }
    }
    acts.sort_by_key(|a| a.0);
    let t0 = rt.now();
    let done = Arc::new(AtomicBool::<StdRuntime>::new(false));
    // The environment's own thread: productions, outages, other members.
    let env_thread = {
        let (rt, kafka, done) = (rt, kafka.clone(), done.clone());
        let members = Arc::new(members_factory);
        rt.spawn("conform-env", move || {
            let mut running: Vec<Option<(Arc<AtomicBool<StdRuntime>>, _)>> = Vec::new();
            for (at, act) in acts {
                let when = t0 + at;
                while rt.now() < when && !done.load() {
                    rt.sleep(
                        when.saturating_since(rt.now())
                            .min(Duration::from_millis(50)),
                    );
                }
                if done.load() {
                    break;
                }
                match act {
                    Act::Produce(p, n) => {
                        let _ = kafka.produce(p, u64::from(n));
                    }
                    Act::Down => {
                        let _ = kafka.broker_down(Broker::All);
                    }
                    Act::Up => {
                        let _ = kafka.broker_up(Broker::All);
                    }
                    Act::Join(i) => {
                        if running.len() <= i {
                            running.resize_with(i + 1, || None);
                        }
                        let stop = Arc::new(AtomicBool::<StdRuntime>::new(false));
                        let flag = stop.clone();
                        let members = members.clone();
                        let t = rt.spawn(&format!("member-{i}"), move || {
                            let Ok(c) = members.create(None, Arc::new(NoHook)) else {
                                return;
                            };
                            while !flag.load() {
                                let _ = c.poll(Duration::from_millis(100));
                            }
                            let _ = c.close();
                        });
                        running[i] = Some((stop, t));
                    }
                    Act::Leave(i) => {
                        if let Some(Some((stop, t))) = running.get_mut(i).map(Option::take) {
                            stop.store(true);
                            let _ = t.join();
                        }
                    }
                }
            }
            while !done.load() {
                rt.sleep(Duration::from_millis(50));
            }
            for (stop, t) in running.into_iter().flatten() {
                stop.store(true);
                let _ = t.join();
            }
        })
    };
    let played = play(&rt, &factory, &case.steps, t0, &|| log.len());
    done.store(true);
    let _ = env_thread.join();
    let (results, handles) = played?;
    Ok(Trace {
        events: log.snapshot(),
        results,
        handles,
        start: t0.since_origin(),
    })
}
