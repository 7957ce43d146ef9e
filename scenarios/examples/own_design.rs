//! Verifying a design of your own with pausebeat's scenarios.
//!
//! The design below never pauses: every run opens a consumer, reads what is there, hands it to
//! the handler, commits, and closes the consumer again (so it needs no heartbeat). It is written
//! against pausebeat's consumer seam and sync abstraction, so the same code runs under loom and
//! shuttle here and on rdkafka in production.
//!
//! The example is a verifier binary of its own: the same `verify`, `replay` and `list` as
//! `pausebeat`, over this design and the built-in ones and over the catalogue's scenarios and
//! one of its own (`two-runs-at-once`), with the same output, JSON, JUnit and exit codes.
//! `verify`'s check processes are this binary again, so they know the same designs and
//! scenarios. What the design is known to get wrong, and the stories that cannot happen in it,
//! are declared with their reasons: `verify` then expects exactly that (CI runs it).
//!
//! ```sh
//! cargo run --release -p pausebeat-scenarios --example own_design -- verify --design open-drain-close
//! cargo run --release -p pausebeat-scenarios --example own_design -- verify --scenario two-runs-at-once
//! cargo run --release -p pausebeat-scenarios --example own_design -- list
//! ```

use pausebeat::handler::Handler;
use pausebeat::kafka::{ConsumerFactory, ConsumerHandle, NoHook, Partition};
use pausebeat::probe::{DesignEvent, Probe};
use pausebeat::sync::Runtime;
use pausebeat_scenarios::designs::Registry;
use pausebeat_scenarios::scenario::{Exercise, Scenario};
use pausebeat_world::properties::Property;
use pausebeat_world::{Design, Env, Expectation, Instance, Op, Timing};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Why a fault's story cannot happen here.
const NOTHING_BETWEEN_RUNS: &str =
    "no consumer exists between runs: the fault's window meets no call of this design";
/// Why a restart's story cannot happen here.
const NO_RESTARTS: &str =
    "it never restarts a consumer: a failed run ends, the next run opens anew";

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
    const EXPECTATIONS: &'static [Expectation] = &[
        Expectation {
            scenario: "two-runs-at-once",
            violates: &[Property::SingleConsumer],
            why: "runs are not serialized: two runs asked for at once open a consumer each",
        },
        Expectation {
            scenario: "meet-run-run",
            violates: &[Property::SingleConsumer],
            why: "runs are not serialized: two runs asked for at once open a consumer each",
        },
        Expectation {
            scenario: "meet-run-run-outage",
            violates: &[Property::SingleConsumer],
            why: "runs are not serialized: two runs asked for at once open a consumer each",
        },
        Expectation {
            scenario: "meet-run-run-rebalance",
            violates: &[Property::SingleConsumer],
            why: "runs are not serialized: two runs asked for at once open a consumer each",
        },
        Expectation {
            scenario: "meet-run-run-slow-handler",
            violates: &[Property::SingleConsumer],
            why: "runs are not serialized: a run meeting the slow one opens a second consumer",
        },
        Expectation {
            scenario: "meet-run-close-slow-handler",
            violates: &[Property::SingleConsumer],
            why: "runs are not serialized: the run on main opens a second consumer beside the slow run on app-3",
        },
    ];
    // Stories that cannot happen in it, with why (verify then expects them vacuous).
    const UNREACHABLE: &'static [(&'static str, &'static str)] = &[
        ("suspend-during-outage", NOTHING_BETWEEN_RUNS),
        ("outage-under-slow-batch", NOTHING_BETWEEN_RUNS),
        ("commit-hiccup-before-close", NOTHING_BETWEEN_RUNS),
        ("rejoin-under-a-slow-batch", NOTHING_BETWEEN_RUNS),
        ("run-after-failing-polls", NOTHING_BETWEEN_RUNS),
        ("meet-close-close-outage", NOTHING_BETWEEN_RUNS),
        ("close-during-a-slow-restart", NO_RESTARTS),
        ("close-during-a-slow-create", NO_RESTARTS),
        ("meet-run-run-restarting", NO_RESTARTS),
        ("meet-run-close-restarting", NO_RESTARTS),
        ("meet-close-close-restarting", NO_RESTARTS),
        (
            "member-takes-over-an-uncommitted-partition",
            "its consumer is closed before the other member takes the partition: nothing comes back to it",
        ),
        (
            "close-as-a-slow-batch-ends",
            "a short batch ends its run: the run at 0 s is over at 200 s, and no batch is in the handler when close() comes at 390 s",
        ),
        (
            "meet-close-close-slow-handler",
            "its run at 145 s hands no batch for the closes to meet (no explored schedule has a batch in the handler at a close)",
        ),
    ];

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

/// A story of this team's own: two threads of the application ask for a run at the same
/// moment (a scheduler's tick and an operator's "run now"), with records waiting.
fn two_runs_at_once() -> Scenario {
    Scenario::new(
        "two-runs-at-once",
        "4 records; runs on main and on app-2 at 0 s; a run at 600 s",
    )
    .reference("own_design example")
    .records(0, 4)
    .run_at(0)
    .run_at(0)
    .on("app-2")
    .run_at(600)
    .exercises(Exercise::Concurrent(Op::Run, Op::Run))
}

fn main() -> std::process::ExitCode {
    pausebeat_scenarios::cli::run(
        Registry::builtin()
            .with::<OpenDrainClose>()
            .with_scenario(two_runs_at_once()),
    )
}
