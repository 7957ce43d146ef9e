//! The shuttle backend: shuttle's threads and locks, explored by its randomized schedulers (PCT,
//! random) or exhaustively (DFS), with replayable schedules.

use super::Backend;
use std::sync::PoisonError;

/// shuttle's threads and locks. Only usable inside a shuttle test (see [`explore`](super::explore)).
#[derive(Clone, Copy, Debug, Default)]
pub struct Shuttle;

impl Backend for Shuttle {
    type Mutex<T: Send> = shuttle::sync::Mutex<T>;
    type Guard<'a, T: Send + 'a> = shuttle::sync::MutexGuard<'a, T>;
    type Condvar = shuttle::sync::Condvar;
    type AtomicBool = shuttle::sync::atomic::AtomicBool;
    type AtomicU64 = shuttle::sync::atomic::AtomicU64;
    type Thread<T: Send + 'static> = shuttle::thread::JoinHandle<T>;

    fn mutex<T: Send>(value: T) -> Self::Mutex<T> {
        shuttle::sync::Mutex::new(value)
    }
    fn lock<T: Send>(m: &Self::Mutex<T>) -> Self::Guard<'_, T> {
        m.lock().unwrap_or_else(PoisonError::into_inner)
    }
    fn condvar() -> Self::Condvar {
        shuttle::sync::Condvar::new()
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
        // shuttle's Builder::spawn never fails.
        shuttle::thread::Builder::new()
            .name(name)
            .spawn(f)
            .expect("shuttle's spawn does not fail")
    }
    fn join<T: Send + 'static>(t: Self::Thread<T>) -> std::thread::Result<T> {
        t.join()
    }
    fn yield_now() {
        shuttle::thread::yield_now()
    }
    fn thread_name() -> String {
        shuttle::thread::current()
            .name()
            .unwrap_or("main")
            .to_string()
    }
    fn choose(n: usize) -> usize {
        // A recorded, replayed choice: shuttle explores which ready `select` arm wins.
        use shuttle::rand::Rng;
        shuttle::rand::thread_rng().gen_range(0..n.max(1))
    }
    fn pick(n: usize) -> usize {
        Self::choose(n)
    }
}

super::impl_atomic_ops!(shuttle::sync::atomic);
