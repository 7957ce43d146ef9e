//! The production runtime: `std` threads and locks, real time.

use super::{Backend, Instant, JoinHandle, Runtime, Signal, Std, Wake};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

/// `std` threads and real time. Zero-sized apart from its origin; every operation is a direct call
/// into `std`.
#[derive(Clone, Copy, Debug)]
pub struct StdRuntime {
    origin: std::time::Instant,
}

impl StdRuntime {
    /// A runtime whose [`Instant::ZERO`] is now.
    pub fn new() -> Self {
        StdRuntime {
            origin: std::time::Instant::now(),
        }
    }

    fn to_std(self, at: Instant) -> std::time::Instant {
        self.origin + at.since_origin()
    }
}

impl Default for StdRuntime {
    fn default() -> Self {
        Self::new()
    }
}

/// [`Signal`] on `std`: a flag under a mutex with a condvar.
#[derive(Debug)]
pub struct StdSignal {
    rt: StdRuntime,
    permit: Mutex<bool>,
    cv: Condvar,
}

impl Signal for StdSignal {
    fn notify(&self) {
        *self.permit.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.cv.notify_one();
    }

    fn wait(&self, deadline: Option<Instant>, _what: &str) -> Wake {
        let mut permit = self.permit.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if *permit {
                *permit = false;
                return Wake::Notified;
            }
            match deadline {
                None => permit = self.cv.wait(permit).unwrap_or_else(PoisonError::into_inner),
                Some(d) => {
                    let now = std::time::Instant::now();
                    let until = self.rt.to_std(d);
                    if now >= until {
                        return Wake::TimedOut;
                    }
                    permit = self
                        .cv
                        .wait_timeout(permit, until - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
        }
    }
}

impl Runtime for StdRuntime {
    type Backend = Std;
    type Signal = StdSignal;

    fn now(&self) -> Instant {
        Instant::from_origin(self.origin.elapsed())
    }

    fn signal(&self) -> StdSignal {
        StdSignal {
            rt: *self,
            permit: Mutex::new(false),
            cv: Condvar::new(),
        }
    }

    fn spawn<T, F>(&self, name: &str, f: F) -> JoinHandle<Self, T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let done = Arc::new(self.signal());
        let done2 = done.clone();
        let thread = Std::spawn(name.to_string(), move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            done2.notify(); // even after a panic, so that `join` returns it instead of hanging
            result
        });
        JoinHandle::new(thread, done, name.to_string())
    }

    fn sleep(&self, d: std::time::Duration) {
        std::thread::sleep(d)
    }
}
