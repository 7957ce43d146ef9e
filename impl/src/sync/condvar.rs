//! A condition variable whose waits go through the runtime's clock.

use super::{Instant, Mutex, Runtime, Signal, Wake};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A condition variable for a [`Mutex`], built on [`Signal`] so that a virtual clock sees its
/// waiters. Waiting is predicate-based (`wait_while`), which also rules out lost and spurious
/// wake-ups by construction.
///
/// ```
/// use pausebeat::sync::{Condvar, Mutex, Runtime, Std, Virtual};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let rt = Virtual::<Std>::new();
/// let state = Arc::new((Mutex::<_, bool>::new(false), Condvar::new(&rt)));
/// let s2 = state.clone();
/// let t = rt.spawn("setter", move || {
///     s2.0.with(|ready| *ready = true);
///     s2.1.notify_all();
/// });
/// assert!(state.1.wait_while(&state.0, None, "ready", |ready| !*ready));
/// t.join().unwrap();
/// ```
pub struct Condvar<R: Runtime> {
    rt: R,
    waiters: Mutex<R, Waiters<R>>,
}

/// The last waiter id handed out, and the waiters by id.
type Waiters<R> = (u64, BTreeMap<u64, Arc<<R as Runtime>::Signal>>);

impl<R: Runtime> Condvar<R> {
    /// A condition variable on `rt`.
    pub fn new(rt: &R) -> Self {
        Condvar {
            rt: rt.clone(),
            waiters: Mutex::new((0, BTreeMap::new())),
        }
    }

    /// Waits while `blocked(&mut state)` holds, or until `deadline`. Returns true if the
    /// condition was met, false on the deadline.
    pub fn wait_while<T: Send>(
        &self,
        mutex: &Mutex<R, T>,
        deadline: Option<Instant>,
        what: &str,
        mut blocked: impl FnMut(&mut T) -> bool,
    ) -> bool {
        loop {
            let signal = Arc::new(self.rt.signal());
            // Check and register under the mutex, so a notify after the state change is not lost.
            let id = {
                let mut guard = mutex.lock();
                if !blocked(&mut guard) {
                    return true;
                }
                self.waiters.with(|(next, w)| {
                    *next += 1;
                    w.insert(*next, signal.clone());
                    *next
                })
            };
            let wake = signal.wait(deadline, what);
            self.waiters.with(|(_, w)| w.remove(&id));
            if wake == Wake::TimedOut {
                return !blocked(&mut mutex.lock());
            }
        }
    }

    /// Wakes every waiter (each re-checks its condition).
    pub fn notify_all(&self) {
        self.waiters
            .with(|(_, w)| w.values().for_each(|s| s.notify()));
    }
}
