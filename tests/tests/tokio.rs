//! `impl/examples/tokio_app.rs`, run as a test: a tokio application owning the vetted consumer
//! through its awaitable calls (runs, pause, close: no `spawn_blocking`) and direct `resume()` calls, against the mock
//! cluster, on a **current-thread** runtime. There, any consumer call that blocked the executor
//! would stop every timer: a watcher task measures how late its 10 ms ticks come.

#[allow(dead_code)]
#[path = "../../impl/examples/tokio_app.rs"]
mod tokio_app;

use std::sync::Arc;
use std::time::Duration;

use pausebeat::consumer::Consumer;
use pausebeat::handler::{Handler, HandlerError};
use pausebeat::kafka::Record;
use pausebeat::probe::NoProbe;
use pausebeat::rdkafka::mock::{MockKafka, MockOptions};
use pausebeat::rdkafka::RdKafkaFactory;
use pausebeat::sync::{AtomicU64, Chan, StdRuntime};
use pausebeat_tests::{produce_all, quick_config, quick_vetted, with_timeout};

#[test]
fn the_tokio_app_never_blocks_its_executor_and_loses_nothing() {
    let report = with_timeout("tokio-app", Duration::from_secs(60), || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        rt.block_on(async {
            let worst = Arc::new(AtomicU64::<StdRuntime>::new(0));
            let w = worst.clone();
            let watcher = tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(10));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut last = tokio::time::Instant::now();
                loop {
                    tick.tick().await;
                    let now = tokio::time::Instant::now();
                    let late = now.saturating_duration_since(last + Duration::from_millis(10));
                    w.fetch_max(late.as_micros() as u64);
                    last = now;
                }
            });
            // Ends on events (two runs and a live period done), never on a wall-clock window;
            // the 60 s above is only a guard.
            let goal = tokio_app::Goal {
                runs: 2,
                live_periods: 1,
            };
            let report = tokio_app::demo(None, Some(goal)).await.expect("the app");
            watcher.abort();
            (report, Duration::from_micros(worst.load()))
        })
    });
    let (report, worst_lateness) = report;
    println!("tokio app: {report:?}; worst timer lateness {worst_lateness:?}");
    assert!(report.runs >= 2, "{report:?}");
    assert!(report.live_periods >= 1, "{report:?}");
    assert_eq!(report.handled, report.produced, "records lost: {report:?}");
    assert_eq!(report.consumers_created, report.consumers_closed);
    assert!(report.consumers_created >= 1);
    // Guards, generous for a loaded machine (the figures are printed above; resume()'s latency
    // is the `resume_call` bench's).
    assert!(report.max_resume < Duration::from_secs(1), "{report:?}");
    // A run, a suspend or a close on the executor would stall it for a whole run or close
    // (seconds: the close alone waits for the group's leave).
    assert!(
        worst_lateness < Duration::from_secs(2),
        "the executor stalled for {worst_lateness:?}"
    );
}

/// A handler that, for every batch, asks the executor for an answer and waits for it: a batch
/// can only finish if a task on the (current-thread) executor runs meanwhile.
struct NeedsTheExecutor {
    ask: Chan<StdRuntime, ()>,
    answers: Chan<StdRuntime, ()>,
}

impl Handler for NeedsTheExecutor {
    fn handle(&self, _batch: &[Record]) -> Result<(), HandlerError> {
        let _ = self.ask.send(());
        // A guard only: the test waits for events, this bounds a failure.
        self.answers
            .recv_timeout(Duration::from_secs(60))
            .map_err(|_| HandlerError("the executor never answered".into()))
    }
}

/// The awaitable calls, each made while a batch in the handler waits for a task of the same
/// current-thread executor: a call that blocked the executor's thread would keep that task
/// from running, and so never complete (pause, suspend and close would time out, the run would
/// hang). Ends on events; the limit is a guard.
#[test]
fn the_awaitable_calls_leave_the_executor_free() {
    with_timeout("tokio-awaitable", Duration::from_secs(120), || {
        let kafka = MockKafka::start(MockOptions {
            topic: "aw".to_string(),
            partitions: 4,
            ..MockOptions::default()
        })
        .expect("mock cluster");
        let group = "g-awaitable";
        produce_all(&kafka, 20);
        let factory = RdKafkaFactory::new(
            quick_config(&kafka, group).with_close_timeout(Duration::from_secs(5)),
        )
        .expect("factory");
        let rt = StdRuntime::new();
        let (ask, answers) = (Chan::new(&rt, 1), Chan::new(&rt, 1));
        let handler = Arc::new(NeedsTheExecutor {
            ask: ask.clone(),
            answers: answers.clone(),
        });
        let cfg = quick_vetted(group).build().expect("config");
        let consumer = Consumer::start(&rt, cfg, Arc::new(factory), handler, NoProbe);
        let executor = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        executor.block_on(async {
            // A task that answers every batch, for the run.
            let (a, b) = (ask.clone(), answers.clone());
            let answering = tokio::spawn(async move {
                while let Some(()) = a.recv_async().await {
                    if b.send_async(()).await.is_err() {
                        break;
                    }
                }
            });
            let report = consumer.run_once_async().await.expect("the run");
            assert!(report.records > 0, "{report:?}");
            answering.abort();
            let _ = answering.await;

            // One batch in the handler, then the call; its answer comes from a task spawned
            // after the call began to wait.
            async fn with_a_batch_waiting<T>(
                kafka: &MockKafka,
                consumer: &Consumer<StdRuntime, RdKafkaFactory, Arc<NeedsTheExecutor>>,
                ask: &Chan<StdRuntime, ()>,
                answers: &Chan<StdRuntime, ()>,
                call: impl std::future::Future<Output = T>,
            ) -> T {
                produce_all(kafka, 5);
                consumer.resume();
                assert_eq!(ask.recv_async().await, Some(()), "no batch after resume");
                let b = answers.clone();
                let answer = tokio::spawn(async move {
                    tokio::task::yield_now().await;
                    let _ = b.send_async(()).await;
                });
                let out = call.await;
                let _ = answer.await;
                out
            }
            with_a_batch_waiting(&kafka, &consumer, &ask, &answers, consumer.pause_async())
                .await
                .expect("pause_async");
            with_a_batch_waiting(&kafka, &consumer, &ask, &answers, consumer.suspend_async())
                .await
                .expect("suspend_async");
            // Suspended: only a run reopens. close_async while that run's batch waits.
            produce_all(&kafka, 5);
            let closing = async {
                assert_eq!(ask.recv_async().await, Some(()), "no batch in the run");
                let b = answers.clone();
                let answer = tokio::spawn(async move {
                    tokio::task::yield_now().await;
                    let _ = b.send_async(()).await;
                });
                let closed = consumer.close_async().await;
                let _ = answer.await;
                closed
            };
            let (_run, closed) = tokio::join!(consumer.run_once_async(), closing);
            closed.expect("close_async: the handler thread ended within the bound");
        });
        let s = consumer.status();
        assert_eq!(s.consumers_created, s.consumers_closed, "{s:?}");
        assert_eq!(s.consumers_created, 2, "{s:?}");
    });
}
