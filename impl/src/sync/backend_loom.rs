//! The loom backend: loom's threads and locks, explored exhaustively (DPOR, preemption-bounded).
//!
//! loom has no notion of time, no bounded channels and no data choice; the first two are supplied
//! by [`Virtual`](super::Virtual) and [`Chan`](super::Chan). [`Backend::choose`] is always 0 here:
//! loom explores *when* a `select` arm becomes ready, but not which of two arms that are ready at
//! the same moment wins (shuttle explores that).

use super::Backend;
use std::sync::PoisonError;

/// loom's threads and locks. Only usable inside a loom model (see [`explore`](super::explore)).
#[derive(Clone, Copy, Debug, Default)]
pub struct Loom;

impl Backend for Loom {
    type Mutex<T: Send> = loom::sync::Mutex<T>;
    type Guard<'a, T: Send + 'a> = loom::sync::MutexGuard<'a, T>;
    type Condvar = loom::sync::Condvar;
    type AtomicBool = loom::sync::atomic::AtomicBool;
    type AtomicU64 = loom::sync::atomic::AtomicU64;
    type Thread<T: Send + 'static> = loom::thread::JoinHandle<T>;
    const MAX_THREADS: Option<usize> = Some(loom::MAX_THREADS);

    fn mutex<T: Send>(value: T) -> Self::Mutex<T> {
        loom::sync::Mutex::new(value)
    }
    fn lock<T: Send>(m: &Self::Mutex<T>) -> Self::Guard<'_, T> {
        m.lock().unwrap_or_else(PoisonError::into_inner)
    }
    fn condvar() -> Self::Condvar {
        loom::sync::Condvar::new()
    }
    fn wait<'a, T: Send>(cv: &Self::Condvar, guard: Self::Guard<'a, T>) -> Self::Guard<'a, T> {
        cv.wait(guard).unwrap_or_else(PoisonError::into_inner)
    }
    fn notify_one(cv: &Self::Condvar) {
        cv.notify_one()
    }
    fn spawn<T, F>(name: String, f: F) -> Self::Thread<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        // loom's Builder::spawn never fails.
        loom::thread::Builder::new()
            .name(name)
            .spawn(f)
            .expect("loom's spawn does not fail")
    }
    fn join<T: Send + 'static>(t: Self::Thread<T>) -> std::thread::Result<T> {
        t.join()
    }
    fn yield_now() {
        loom::thread::yield_now()
    }
    fn thread_name() -> String {
        loom::thread::current().name().unwrap_or("main").to_string()
    }
    fn choose(_n: usize) -> usize {
        0
    }
    fn pick(n: usize) -> usize {
        PICKS.with(|p| p.borrow_mut().next(n))
    }
}

/// The data choices of the loom exploration running on this OS thread: loom has no data
/// nondeterminism, so the driver ([`explore`](super::explore)) fixes every choice for a whole
/// exploration and enumerates the combinations across explorations. loom runs every model thread
/// as a coroutine on the thread that called it, so a thread-local is shared by all of them.
#[derive(Debug, Default)]
pub(crate) struct Picks {
    /// The value of each choice, in the order an execution makes them (missing: 0).
    pub fixed: Vec<usize>,
    /// The most alternatives seen at each position, over the executions so far.
    pub arities: Vec<usize>,
    /// The next position in the current execution.
    pub pos: usize,
}

impl Picks {
    fn next(&mut self, n: usize) -> usize {
        let i = self.pos;
        self.pos += 1;
        if self.arities.len() <= i {
            self.arities.resize(i + 1, 1);
        }
        self.arities[i] = self.arities[i].max(n);
        self.fixed
            .get(i)
            .copied()
            .unwrap_or(0)
            .min(n.saturating_sub(1))
    }
}

thread_local! {
    pub(crate) static PICKS: std::cell::RefCell<Picks> = std::cell::RefCell::new(Picks::default());
}

super::impl_atomic_ops!(loom::sync::atomic);
