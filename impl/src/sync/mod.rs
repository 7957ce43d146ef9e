//! The sync abstraction: the only code in pausebeat that names `std::sync`, loom or shuttle.
//!
//! Everything above this module (the vetted consumer, the modeled Kafka world, the ports of the Go
//! designs) is generic over a [`Runtime`] and runs unchanged on three backends:
//!
//! | runtime | threads and locks | time |
//! |---|---|---|
//! | [`StdRuntime`] | `std` | real (`std::time::Instant`) |
//! | [`Virtual<Std>`](Virtual) | `std` | virtual |
//! | `Virtual<Loom>` / `Virtual<Shuttle>` (feature `checkers`) | loom / shuttle | virtual |
//!
//! The split follows shuttle's own separation of *mechanism* from *policy*:
//!
//! * a [`Backend`] is pure mechanism: a mutex, a condvar, atomics, spawn/join, yield and a source of
//!   choices. Each backend is a few dozen lines (`backend_std.rs`, `backend_loom.rs`,
//!   `backend_shuttle.rs`).
//! * a [`Runtime`] adds the policy for *time* and *blocking*: every blocking wait in pausebeat goes
//!   through a [`Signal`], so the runtime knows who is blocked and on what. [`StdRuntime`] waits in
//!   real time; [`Virtual`] implements the *quiescence clock* (time moves only when every live thread
//!   is blocked, jumping to the earliest deadline) on top of any backend.
//! * [`Chan`], [`Select`], [`Ticker`], [`Condvar`] are written once, generically, on top of those
//!   two traits.
//!
//! A runtime type parameter (rather than a `cfg` switch, as tokio and crossbeam do) lets one build
//! and one binary run the same coordination code under std, loom and shuttle side by side; the
//! price is a type parameter on the coordination types. On [`StdRuntime`] every wrapper is a
//! newtype over the `std` type with static dispatch, so production builds pay nothing for it, and
//! with the `checkers` feature off no loom or shuttle code is compiled at all.
//!
//! ```
//! use pausebeat::sync::{Chan, Runtime, StdRuntime};
//!
//! let rt = StdRuntime::new();
//! let ch: Chan<StdRuntime, u32> = Chan::new(&rt, 0); // a rendezvous channel, as in Go
//! let tx = ch.clone();
//! let t = rt.spawn("sender", move || tx.send(7).is_ok());
//! assert_eq!(ch.recv(), Some(7));
//! assert!(t.join().unwrap());
//! ```

mod backend_std;
mod chan;
mod condvar;
mod real_time;
mod virtual_time;

#[cfg(feature = "checkers")]
mod backend_loom;
#[cfg(feature = "checkers")]
mod backend_shuttle;
#[cfg(feature = "checkers")]
pub mod explore;

pub use backend_std::Std;
pub use chan::{Arm, Chan, RecvArm, RecvError, Select, SendArm, SendError, Ticker, TrySendError};
pub use condvar::Condvar;
pub use real_time::StdRuntime;
pub use real_time::StdSignal;
pub use virtual_time::{AbortReason, BlockedThread, Virtual, VirtualSignal};

#[cfg(feature = "checkers")]
pub use backend_loom::Loom;
#[cfg(feature = "checkers")]
pub use backend_shuttle::Shuttle;

use std::fmt;
use std::ops::{Add, DerefMut, Sub};
use std::sync::Arc;
use std::time::Duration;

/// A point in a runtime's time: the time elapsed since the runtime was created.
///
/// Under [`StdRuntime`] it is real time; under [`Virtual`] it is virtual time, which starts at zero
/// in every execution.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(Duration);

impl Instant {
    /// The runtime's origin.
    pub const ZERO: Instant = Instant(Duration::ZERO);

    /// An instant `d` after the origin.
    pub const fn from_origin(d: Duration) -> Instant {
        Instant(d)
    }

    /// The time since the origin.
    pub const fn since_origin(self) -> Duration {
        self.0
    }

    /// `self - earlier`, or zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_since(earlier)
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        write!(f, "{:>4}.{:03}s", ms / 1000, ms % 1000)
    }
}

/// Why a [`Signal::wait`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// [`Signal::notify`] was called (before or during the wait).
    Notified,
    /// The deadline passed.
    TimedOut,
}

/// The payload of the panic that unwinds every thread of a virtual-time execution that was
/// aborted (a deadlock, the horizon, a checker limit). See [`Virtual::abort_reason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aborted;

/// Mechanism: the primitives a backend provides. Only `sync/` implements it.
///
/// Locks never poison here: a panic while holding one (which only happens when a virtual-time
/// execution is aborted) leaves the data as it was.
pub trait Backend: Sized + Send + Sync + 'static {
    /// A mutual-exclusion lock.
    type Mutex<T: Send>: Send + Sync;
    /// Its guard.
    type Guard<'a, T: Send + 'a>: DerefMut<Target = T>;
    /// A condition variable paired with [`Backend::Mutex`].
    type Condvar: Send + Sync;
    /// An atomic flag (all operations `SeqCst`).
    type AtomicBool: AtomicBoolOps;
    /// An atomic counter (all operations `SeqCst`).
    type AtomicU64: AtomicU64Ops;
    /// A native thread handle.
    type Thread<T: Send + 'static>: Send;
    /// The most threads one execution may create, the first included (loom: 5).
    const MAX_THREADS: Option<usize> = None;

    /// Creates a lock.
    fn mutex<T: Send>(value: T) -> Self::Mutex<T>;
    /// Locks it.
    fn lock<T: Send>(m: &Self::Mutex<T>) -> Self::Guard<'_, T>;
    /// Creates a condition variable.
    fn condvar() -> Self::Condvar;
    /// Releases the guard, waits for a notification, re-acquires.
    fn wait<'a, T: Send>(cv: &Self::Condvar, guard: Self::Guard<'a, T>) -> Self::Guard<'a, T>;
    /// Wakes one waiter.
    fn notify_one(cv: &Self::Condvar);
    /// Spawns a named thread.
    fn spawn<T, F>(name: String, f: F) -> Self::Thread<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static;
    /// Waits for a thread to end.
    fn join<T: Send + 'static>(t: Self::Thread<T>) -> std::thread::Result<T>;
    /// Lets another thread run (a scheduling point under the checkers).
    fn yield_now();
    /// The current thread's name (`main` when it has none).
    fn thread_name() -> String;
    /// A choice in `0..n`, explored by the checker where it can (shuttle), arbitrary elsewhere.
    fn choose(n: usize) -> usize;
    /// A data choice in `0..n` (`n > 0`) that every checker explores: shuttle records it in its
    /// schedule, loom's driver enumerates its values across explorations (`explore`, feature `checkers`). Outside
    /// a checker it is 0. Used for what a scenario leaves open (when a step happens), not for
    /// scheduling.
    fn pick(n: usize) -> usize {
        let _ = n;
        0
    }
}

/// The operations pausebeat uses on an atomic flag.
pub trait AtomicBoolOps: Send + Sync {
    /// Creates the flag.
    fn new(v: bool) -> Self;
    /// Reads it.
    fn load(&self) -> bool;
    /// Writes it.
    fn store(&self, v: bool);
    /// Writes it and returns the previous value.
    fn swap(&self, v: bool) -> bool;
    /// Go's `CompareAndSwap`: true if the value was `current` and is now `new`.
    fn compare_and_swap(&self, current: bool, new: bool) -> bool;
}

/// The operations pausebeat uses on an atomic counter.
pub trait AtomicU64Ops: Send + Sync {
    /// Creates the counter.
    fn new(v: u64) -> Self;
    /// Reads it.
    fn load(&self) -> u64;
    /// Writes it.
    fn store(&self, v: u64);
    /// Adds and returns the previous value.
    fn fetch_add(&self, v: u64) -> u64;
    /// Keeps the larger of the current value and `v`; returns the previous value.
    fn fetch_max(&self, v: u64) -> u64;
}

/// A one-waiter wake-up with a permit, the single blocking primitive of pausebeat.
///
/// `notify` stores a permit (like `Thread::unpark`); `wait` consumes it or blocks until it is
/// given or the deadline passes. Every blocking operation (channels, select, join, sleep, the
/// modeled broker's poll) is built from it, which is how a [`Virtual`] runtime knows at every
/// moment which threads are blocked, on what, and until when.
pub trait Signal: Send + Sync + 'static {
    /// Gives the permit, waking the waiter if there is one.
    fn notify(&self);
    /// Takes the permit, waiting for it until `deadline` (forever if `None`). `what` names the
    /// wait in deadlock reports.
    fn wait(&self, deadline: Option<Instant>, what: &str) -> Wake;
}

/// Policy: time and blocking on top of a [`Backend`]. Coordination code is generic over this.
pub trait Runtime: Clone + Send + Sync + 'static {
    /// The primitives.
    type Backend: Backend;
    /// The blocking primitive.
    type Signal: Signal;

    /// The current time.
    fn now(&self) -> Instant;
    /// A fresh signal with no permit.
    fn signal(&self) -> Self::Signal;
    /// Spawns a named thread that the runtime accounts for.
    fn spawn<T, F>(&self, name: &str, f: F) -> JoinHandle<Self, T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static;

    /// Blocks the calling thread for `d` of this runtime's time.
    fn sleep(&self, d: Duration) {
        let s = self.signal();
        let deadline = self.now() + d;
        while s.wait(Some(deadline), "sleep") != Wake::TimedOut {}
    }
    /// A choice in `0..n` (`n > 0`); see [`Backend::choose`].
    fn choose(&self, n: usize) -> usize {
        if n <= 1 {
            0
        } else {
            Self::Backend::choose(n) % n
        }
    }
    /// A data choice in `0..n` every checker explores (see [`Backend::pick`]); 0 when `n <= 1`.
    fn pick(&self, n: usize) -> usize {
        if n <= 1 {
            0
        } else {
            Self::Backend::pick(n).min(n - 1)
        }
    }
    /// The current thread's name.
    fn thread_name(&self) -> String {
        Self::Backend::thread_name()
    }
}

/// One execution of the code under test on a fresh virtual-time runtime: what the checkers in
/// `explore` run (feature `checkers`), and what a plain run on [`Virtual<Std>`](Virtual) runs once.
pub trait Model: Send + Sync + 'static {
    /// What a violating execution reports.
    type Failure: Send + 'static;

    /// Runs one execution. Must handle [`Aborted`] itself (it is how a virtual-time deadlock
    /// unwinds the execution's threads) and return `Err` for every violation it finds.
    fn execute<B: Backend>(&self, rt: &Virtual<B>) -> Result<(), Self::Failure>;
}

/// A handle to a thread spawned by [`Runtime::spawn`]; joining goes through the runtime.
pub struct JoinHandle<R: Runtime, T: Send + 'static> {
    thread: <R::Backend as Backend>::Thread<std::thread::Result<T>>,
    done: Arc<R::Signal>,
    name: String,
}

impl<R: Runtime, T: Send + 'static> JoinHandle<R, T> {
    pub(crate) fn new(
        thread: <R::Backend as Backend>::Thread<std::thread::Result<T>>,
        done: Arc<R::Signal>,
        name: String,
    ) -> Self {
        JoinHandle { thread, done, name }
    }

    /// The thread's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits for the thread to end; `Err` carries its panic.
    pub fn join(self) -> std::thread::Result<T> {
        let what = format!("join {}", self.name);
        while self.done.wait(None, &what) != Wake::Notified {}
        R::Backend::join(self.thread).and_then(|r| r)
    }
}

/// A mutual-exclusion lock on any runtime.
///
/// ```
/// use pausebeat::sync::{Mutex, StdRuntime};
/// let m: Mutex<StdRuntime, Vec<u8>> = Mutex::new(vec![]);
/// m.lock().push(1);
/// assert_eq!(m.with(|v| v.len()), 1);
/// ```
pub struct Mutex<R: Runtime, T: Send>(<R::Backend as Backend>::Mutex<T>);

impl<R: Runtime, T: Send> Mutex<R, T> {
    /// Creates the lock.
    pub fn new(value: T) -> Self {
        Mutex(R::Backend::mutex(value))
    }
    /// Locks it. Never hold a guard across a blocking operation.
    pub fn lock(&self) -> <R::Backend as Backend>::Guard<'_, T> {
        R::Backend::lock(&self.0)
    }
    /// Runs `f` with the lock held.
    pub fn with<U>(&self, f: impl FnOnce(&mut T) -> U) -> U {
        f(&mut self.lock())
    }
}

impl<R: Runtime, T: Send + fmt::Debug> fmt::Debug for Mutex<R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Mutex").field(&*self.lock()).finish()
    }
}

/// An atomic flag on any runtime (every operation `SeqCst`, as Go's `atomic.Bool`).
///
/// ```
/// use pausebeat::sync::{AtomicBool, StdRuntime};
/// let paused: AtomicBool<StdRuntime> = AtomicBool::new(false);
/// assert!(paused.compare_and_swap(false, true));
/// assert!(paused.load());
/// ```
pub struct AtomicBool<R: Runtime>(<R::Backend as Backend>::AtomicBool);

impl<R: Runtime> AtomicBool<R> {
    /// Creates the flag.
    pub fn new(v: bool) -> Self {
        AtomicBool(AtomicBoolOps::new(v))
    }
    /// Reads it.
    pub fn load(&self) -> bool {
        self.0.load()
    }
    /// Writes it.
    pub fn store(&self, v: bool) {
        self.0.store(v)
    }
    /// Writes it, returning the previous value.
    pub fn swap(&self, v: bool) -> bool {
        self.0.swap(v)
    }
    /// True if it was `current` and is now `new`.
    pub fn compare_and_swap(&self, current: bool, new: bool) -> bool {
        self.0.compare_and_swap(current, new)
    }
}

/// An atomic counter on any runtime (every operation `SeqCst`).
///
/// ```
/// use pausebeat::sync::{AtomicU64, StdRuntime};
/// let n: AtomicU64<StdRuntime> = AtomicU64::new(1);
/// assert_eq!(n.fetch_add(2), 1);
/// assert_eq!(n.load(), 3);
/// ```
pub struct AtomicU64<R: Runtime>(<R::Backend as Backend>::AtomicU64);

impl<R: Runtime> AtomicU64<R> {
    /// Creates the counter.
    pub fn new(v: u64) -> Self {
        AtomicU64(AtomicU64Ops::new(v))
    }
    /// Reads it.
    pub fn load(&self) -> u64 {
        self.0.load()
    }
    /// Writes it.
    pub fn store(&self, v: u64) {
        self.0.store(v)
    }
    /// Adds, returning the previous value.
    pub fn fetch_add(&self, v: u64) -> u64 {
        self.0.fetch_add(v)
    }
    /// Keeps the maximum, returning the previous value.
    pub fn fetch_max(&self, v: u64) -> u64 {
        self.0.fetch_max(v)
    }
}

#[cfg(test)]
mod tests;

/// Implements [`AtomicBoolOps`] and [`AtomicU64Ops`] for a backend's atomics module, whose types
/// mirror `std::sync::atomic` (std, loom and shuttle all do).
macro_rules! impl_atomic_ops {
    ($($m:ident)::+) => {
        impl $crate::sync::AtomicBoolOps for $($m)::+::AtomicBool {
            fn new(v: bool) -> Self {
                $($m)::+::AtomicBool::new(v)
            }
            fn load(&self) -> bool {
                self.load(::std::sync::atomic::Ordering::SeqCst)
            }
            fn store(&self, v: bool) {
                self.store(v, ::std::sync::atomic::Ordering::SeqCst)
            }
            fn swap(&self, v: bool) -> bool {
                self.swap(v, ::std::sync::atomic::Ordering::SeqCst)
            }
            fn compare_and_swap(&self, current: bool, new: bool) -> bool {
                use ::std::sync::atomic::Ordering::SeqCst;
                self.compare_exchange(current, new, SeqCst, SeqCst).is_ok()
            }
        }
        impl $crate::sync::AtomicU64Ops for $($m)::+::AtomicU64 {
            fn new(v: u64) -> Self {
                $($m)::+::AtomicU64::new(v)
            }
            fn load(&self) -> u64 {
                self.load(::std::sync::atomic::Ordering::SeqCst)
            }
            fn store(&self, v: u64) {
                self.store(v, ::std::sync::atomic::Ordering::SeqCst)
            }
            fn fetch_add(&self, v: u64) -> u64 {
                self.fetch_add(v, ::std::sync::atomic::Ordering::SeqCst)
            }
            fn fetch_max(&self, v: u64) -> u64 {
                self.fetch_max(v, ::std::sync::atomic::Ordering::SeqCst)
            }
        }
    };
}
pub(crate) use impl_atomic_ops;
