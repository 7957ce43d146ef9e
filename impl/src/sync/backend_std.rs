//! The `std` backend: real OS threads and locks.

use super::Backend;
use std::sync::PoisonError;

/// Threads and locks of the standard library.
#[derive(Clone, Copy, Debug, Default)]
pub struct Std;

impl Backend for Std {
    type Mutex<T: Send> = std::sync::Mutex<T>;
    type Guard<'a, T: Send + 'a> = std::sync::MutexGuard<'a, T>;
    type Condvar = std::sync::Condvar;
    type AtomicBool = std::sync::atomic::AtomicBool;
    type AtomicU64 = std::sync::atomic::AtomicU64;
    type Thread<T: Send + 'static> = std::thread::JoinHandle<T>;

    fn mutex<T: Send>(value: T) -> Self::Mutex<T> {
        std::sync::Mutex::new(value)
    }
    fn lock<T: Send>(m: &Self::Mutex<T>) -> Self::Guard<'_, T> {
        m.lock().unwrap_or_else(PoisonError::into_inner)
    }
    fn condvar() -> Self::Condvar {
        std::sync::Condvar::new()
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
        // Spawning only fails when the OS is out of threads; there is no recovery from that.
        std::thread::Builder::new()
            .name(name)
            .spawn(f)
            .expect("the OS refused to spawn a thread")
    }
    fn join<T: Send + 'static>(t: Self::Thread<T>) -> std::thread::Result<T> {
        t.join()
    }
    fn yield_now() {
        std::thread::yield_now()
    }
    fn thread_name() -> String {
        std::thread::current().name().unwrap_or("main").to_string()
    }
    fn choose(n: usize) -> usize {
        // Go picks a ready `select` arm uniformly at random; a cheap per-thread xorshift will do.
        use std::cell::Cell;
        thread_local!(static STATE: Cell<u64> = const { Cell::new(0) });
        STATE.with(|s| {
            let mut x = s.get();
            if x == 0 {
                x = (std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
                    | 1)
                    ^ (s as *const Cell<u64> as u64);
            }
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.set(x);
            (x % n.max(1) as u64) as usize
        })
    }
}

super::impl_atomic_ops!(std::sync::atomic);
