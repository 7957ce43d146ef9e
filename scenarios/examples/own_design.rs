//! Verifying a design of your own with pausebeat's scenarios.
//!
//! The design below never pauses: every run opens a consumer, reads what is there, hands it to
//! the handler, commits, and closes the consumer again (so it needs no heartbeat). It is written
//! against pausebeat's consumer seam and sync abstraction, so the same code runs under loom and
//! shuttle here and on rdkafka in production.
//!
//! The example is a verifier binary of its own: the same `verify`, `replay` and `list` as
//! `pausebeat`, over this design and the built-in ones, with the same output, JSON, JUnit and
//! exit codes.
//!
//! ```sh
//! cargo run --release -p pausebeat-scenarios --example own_design -- verify --design open-drain-close
//! cargo run --release -p pausebeat-scenarios --example own_design -- list
//! ```

use pausebeat::handler::Handler;
use pausebeat::kafka::{ConsumerFactory, ConsumerHandle, NoHook, Partition};
use pausebeat::probe::{DesignEvent, Probe};
use pausebeat::sync::Runtime;
use pausebeat_scenarios::designs::Registry;
use pausebeat_world::properties::Property;
use pausebeat_world::{Design, Env, Expectation, Instance, Op, Timing};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Open, drain, close: a consumer that exists only during runs.
struct OpenDrainClose;

struct Running<R: Runtime, F: ConsumerFactory> {
    factory: Arc<F>,
    handler: Arc<dyn Handler>,
    probe: Arc<dyn Probe>,
    timing: Timing,
    _rt: R,
}

impl Design for OpenDrainClose {
    const NAME: &'static str = "open-drain-close";
    const ABOUT: &'static str = "opens a consumer for every run and closes it after";
    // Runs and close only: scenarios that call pause, resume or suspend are not applicable.
    const OFFERS: &'static [Op] = &[Op::Run, Op::Close];
    // It keeps no membership between runs on purpose: nobody polls while "paused".
    const WAIVED: &'static [(Property, &'static str)] = &[(
        Property::MembershipKept,
        "no consumer exists between runs: there is no membership to keep",
    )];
    // What it is known to get wrong, with why (verify then expects exactly this).
    const EXPECTATIONS: &'static [Expectation] = &[];

    fn start<R: Runtime, F: ConsumerFactory>(env: Env<R, F>) -> Box<dyn Instance> {
        Box::new(Running {
            factory: env.factory,
            handler: env.handler,
            probe: env.probe,
            timing: env.timing,
            _rt: env.rt,
        })
    }
}

impl<R: Runtime, F: ConsumerFactory> Instance for Running<R, F> {
    fn run(&self) {
        self.probe.note(DesignEvent::RunStarted);
        // A dynamic member (no static id): it leaves the group on close, so the next run's
        // consumer can never be fenced by this one.
        if let Ok(c) = self.factory.create(None, Arc::new(NoHook)) {
            // Batch after batch, until a batch comes back short.
            loop {
                let mut batch = vec![];
                let mut next: BTreeMap<Partition, i64> = BTreeMap::new();
                let mut quiet = 0;
                while quiet < 2 && batch.len() < self.timing.batch_size {
                    match c.poll(self.timing.poll_timeout) {
                        Ok(Some(r)) => {
                            next.insert(r.partition, r.offset + 1);
                            batch.push(r);
                            quiet = 0;
                        }
                        _ => quiet += 1,
                    }
                }
                let full = batch.len() == self.timing.batch_size;
                if batch.is_empty() || self.handler.handle(&batch).is_err() {
                    break;
                }
                let offsets: Vec<_> = next.into_iter().collect();
                if c.commit(&offsets).is_err() || !full {
                    break;
                }
            }
            let _ = c.close();
        }
        self.probe.note(DesignEvent::RunEnded);
    }

    fn close(&self) {
        self.probe.note(DesignEvent::CloseCalled);
        self.probe.note(DesignEvent::CloseReturned);
    }
}

fn main() -> std::process::ExitCode {
    pausebeat_scenarios::cli::run(Registry::builtin().with::<OpenDrainClose>())
}
