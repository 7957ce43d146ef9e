//! `impl/examples/tokio_app.rs`, run as a test: a tokio application owning the vetted consumer
//! through `spawn_blocking` (runs, pause, close) and direct `resume()` calls, against the mock
//! cluster, on a **current-thread** runtime. There, any consumer call that blocked the executor
//! would stop every timer: a watcher task measures how late its 10 ms ticks come.

#[allow(dead_code)]
#[path = "../../impl/examples/tokio_app.rs"]
mod tokio_app;

use std::sync::Arc;
use std::time::Duration;

use pausebeat::sync::{AtomicU64, StdRuntime};
use pausebeat_tests::with_timeout;

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
