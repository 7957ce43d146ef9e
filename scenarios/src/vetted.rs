//! The vetted design in the catalogue: pausebeat's own [`Consumer`], driven the way the Go
//! consumer's cron drives a run (a run, then pause — or suspend when the next run is at least
//! 60 s away and suspending is on).

use pausebeat::consumer::{Consumer, ConsumerConfig};
use pausebeat::handler::Handler;
use pausebeat::kafka::ConsumerFactory;
use pausebeat::probe::Probe;
use pausebeat::sync::Runtime;
use pausebeat_world::{Design, Env, Instance, Timing};
use std::sync::Arc;
use std::time::Duration;

/// `vetted`: pausebeat's consumer.
pub struct Vetted;

/// Go's suspend threshold (§3.5): suspend only when the next run is at least this far away.
const SUSPEND_THRESHOLD: Duration = Duration::from_secs(60);

struct Running<R: Runtime, F: ConsumerFactory> {
    rt: R,
    timing: Timing,
    consumer: Consumer<R, F, Arc<dyn Handler>, Arc<dyn Probe>>,
}

/// The consumer configuration a scenario's timing asks for.
pub fn config_for(t: &Timing) -> ConsumerConfig {
    let built = ConsumerConfig::builder()
        .name("vetted")
        .instance_id_opt(t.instance_id.clone())
        .poll_timeout(t.poll_timeout)
        .batch_size(t.batch_size)
        .max_poll_interval(t.max_poll_interval)
        .session_timeout(t.session_timeout)
        .build();
    match built {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("the scenario's timing is not a valid consumer configuration ({e}); using the defaults");
            ConsumerConfig::default()
        }
    }
}

impl Design for Vetted {
    const NAME: &'static str = "vetted";
    const ABOUT: &'static str =
        "pausebeat's consumer: one owner thread per handle, non-blocking resume, requested vs applied pause, epochs, -rN restarts";

    fn start<R: Runtime, F: ConsumerFactory>(env: Env<R, F>) -> Box<dyn Instance> {
        let cfg = config_for(&env.timing);
        let consumer = Consumer::start(&env.rt, cfg, env.factory, env.handler, env.probe);
        Box::new(Running {
            rt: env.rt,
            timing: env.timing,
            consumer,
        })
    }
}

impl<R: Runtime, F: ConsumerFactory> Instance for Running<R, F> {
    fn run(&self) {
        let started = self.rt.now();
        if let Err(e) = self.consumer.run_once() {
            tracing::debug!("run failed: {e}");
        }
        let elapsed = self.rt.now() - started;
        let next_run_in = self.timing.batch_period.saturating_sub(elapsed);
        if self.timing.suspend && next_run_in >= SUSPEND_THRESHOLD {
            if let Err(e) = self.consumer.suspend() {
                tracing::debug!("suspend failed: {e}");
            }
        }
    }

    fn close(&self) {
        if let Err(e) = self.consumer.close() {
            tracing::debug!("close failed: {e}");
        }
    }
}
