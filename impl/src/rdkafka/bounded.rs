//! Running librdkafka teardown on a detached thread, waiting for it only a bounded time.

use std::sync::Arc;
use std::time::Duration;

use crate::sync::{Runtime, Signal, StdRuntime, StdSignal, Wake};

/// Notifies the signal when dropped, so that a panic in the work still wakes the waiter.
struct NotifyOnDrop(Arc<StdSignal>);

impl Drop for NotifyOnDrop {
    fn drop(&mut self) {
        self.0.notify();
    }
}

/// Runs `work` on a new, detached thread named `name` and waits at most `bound` for it. Returns
/// true if it finished in time. If it did not, the thread keeps running (and whatever it owns
/// stays alive) until `work` returns, possibly never: the caller must treat that as a leak.
pub(crate) fn run_bounded<F>(rt: &StdRuntime, name: &str, bound: Duration, work: F) -> bool
where
    F: FnOnce() + Send + 'static,
{
    let done = Arc::new(rt.signal());
    let guard = NotifyOnDrop(done.clone());
    let deadline = rt.now() + bound;
    // Dropping the join handle detaches the thread.
    drop(rt.spawn(name, move || {
        let _guard = guard;
        work();
    }));
    done.wait(Some(deadline), name) == Wake::Notified
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finishes_or_gives_up() {
        let rt = StdRuntime::new();
        assert!(run_bounded(&rt, "quick", Duration::from_secs(5), || {}));
        assert!(run_bounded(&rt, "panics", Duration::from_secs(5), || {
            panic!("expected in this test")
        }));
        let gate = Arc::new(rt.signal());
        let g2 = gate.clone();
        let t0 = rt.now();
        assert!(!run_bounded(
            &rt,
            "stuck",
            Duration::from_millis(50),
            move || {
                g2.wait(None, "gate");
            }
        ));
        assert!(rt.now() - t0 < Duration::from_secs(5));
        gate.notify();
    }
}
