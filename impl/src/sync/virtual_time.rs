//! Virtual time that respects durations: the *quiescence clock*.
//!
//! Time moves only when every live thread of the execution is blocked in a [`Signal::wait`]; it
//! then jumps to the earliest pending deadline and wakes exactly the waiters due at that instant.
//! A 5 s poll is therefore shorter than a 300 s timeout, as in reality, and a timeout never fires
//! while another thread can still make progress. Every live thread blocked with no deadline pending
//! is a deadlock; it is reported with who waits on what ([`AbortReason::Deadlock`]), and every
//! thread is then unwound with an [`Aborted`] panic that the runtime's own spawn wrapper catches,
//! so neither checker ever reaches its own deadlock path.
//!
//! The rules that keep it honest (each one produced false passes or false deadlocks when broken,
//! see `docs/checkers.md`):
//! * the **waker** decrements the blocked count, under the lock, when it wakes a thread;
//! * a waiter checks its condition and registers as blocked in **one** critical section;
//! * spawn counts the child as live **in the parent**, before the child runs, and a thread's exit
//!   re-runs the "is everyone blocked?" check;
//! * after an advance that woke several threads, the thread that advanced releases the lock and
//!   **yields**, so that a tie is not always resolved in the last blocker's favour (with loom at
//!   preemption bound ≥ 1, and with shuttle, both orders of a tie are reached: a test keeps it so);
//! * a horizon ends executions whose timers would tick forever.

use super::{Aborted, Backend, Instant, JoinHandle, Runtime, Signal, Wake};
use std::collections::BTreeMap;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

/// The default horizon: no scenario runs longer than this in virtual time.
const DEFAULT_HORIZON: Duration = Duration::from_secs(24 * 3600);

/// A runtime with virtual time on top of any [`Backend`]. Create one per execution.
///
/// ```
/// use pausebeat::sync::{Runtime, Std, Virtual};
/// use std::time::Duration;
///
/// let rt = Virtual::<Std>::new();
/// let t0 = std::time::Instant::now();
/// rt.sleep(Duration::from_secs(300)); // five virtual minutes, no real wait
/// assert_eq!(rt.now().since_origin(), Duration::from_secs(300));
/// assert!(t0.elapsed() < Duration::from_secs(5));
/// ```
pub struct Virtual<B: Backend> {
    clock: Arc<Clock<B>>,
}

impl<B: Backend> Clone for Virtual<B> {
    fn clone(&self) -> Self {
        Virtual {
            clock: self.clock.clone(),
        }
    }
}

impl<B: Backend> fmt::Debug for Virtual<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Virtual").finish_non_exhaustive()
    }
}

/// Why a virtual-time execution was aborted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AbortReason {
    /// Every live thread was blocked and no deadline was pending.
    Deadlock {
        /// When.
        at: Instant,
        /// Who waited on what.
        blocked: Vec<BlockedThread>,
    },
    /// The next deadline lay past the horizon (a timer that never stops, a thread never joined).
    Horizon {
        /// The horizon.
        at: Instant,
        /// Who waited on what.
        blocked: Vec<BlockedThread>,
    },
    /// The execution was ended on purpose (after a violation was recorded).
    Ended {
        /// When.
        at: Instant,
    },
    /// The execution tried to create more threads than the backend supports (loom: 5).
    TooManyThreads {
        /// The backend's limit.
        limit: usize,
        /// The thread that could not be created.
        thread: String,
    },
}

impl fmt::Display for AbortReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, b: &[BlockedThread]| -> fmt::Result {
            for (i, t) in b.iter().enumerate() {
                write!(f, "{}{t}", if i == 0 { "" } else { "; " })?;
            }
            Ok(())
        };
        match self {
            AbortReason::Deadlock { at, blocked } => {
                write!(f, "deadlock at {at}: every thread blocked, no timer pending: ")?;
                list(f, blocked)
            }
            AbortReason::Horizon { at, blocked } => {
                write!(f, "horizon {at} reached with threads still waiting: ")?;
                list(f, blocked)
            }
            AbortReason::Ended { at } => write!(f, "ended at {at}"),
            AbortReason::TooManyThreads { limit, thread } => write!(
                f,
                "the model needs more than {limit} threads (spawning `{thread}`); the backend supports {limit}"
            ),
        }
    }
}

/// A thread blocked in a wait, as named in an [`AbortReason`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockedThread {
    /// The thread's name.
    pub thread: String,
    /// What it waits on.
    pub waits_on: String,
    /// Until when, if bounded.
    pub deadline: Option<Instant>,
}

impl fmt::Display for BlockedThread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` waits on {}", self.thread, self.waits_on)?;
        if let Some(d) = self.deadline {
            write!(f, " until {d}")?;
        }
        Ok(())
    }
}

struct Clock<B: Backend> {
    state: B::Mutex<State<B>>,
    /// `state.now` in nanoseconds, written under the lock whenever time moves, read without it.
    /// Reading the time is therefore not a scheduling point, and loses no interleaving: time
    /// moves only while every live thread is blocked, so a thread able to read it reads the
    /// same value wherever the checker would have switched threads around the read. (It is a
    /// plain atomic, invisible to the checkers, on purpose; it is the only one.)
    now_ns: std::sync::atomic::AtomicU64,
}

struct State<B: Backend> {
    now: Duration,
    horizon: Duration,
    /// Threads that exist and have not ended (the creating thread included).
    live: usize,
    /// The names of the live threads this clock spawned (the creating thread not included).
    spawned: Vec<String>,
    /// Threads blocked in a wait and not yet woken.
    blocked: usize,
    /// Threads ever created in this execution (the creating thread included).
    created: usize,
    signals: BTreeMap<u64, Slot<B>>,
    next_id: u64,
    abort: Option<AbortReason>,
}

struct Slot<B: Backend> {
    permit: bool,
    cv: Arc<B::Condvar>,
    waiter: Option<Waiter>,
}

struct Waiter {
    thread: String,
    what: String,
    deadline: Option<Duration>,
    wake: Option<WakeKind>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum WakeKind {
    Notified,
    TimedOut,
    Aborted,
}

impl<B: Backend> State<B> {
    /// Wakes a blocked waiter. The waker decrements the blocked count, never the woken thread.
    fn wake(blocked: &mut usize, slot: &mut Slot<B>, kind: WakeKind) -> bool {
        match slot.waiter.as_mut() {
            Some(w) if w.wake.is_none() => {
                w.wake = Some(kind);
                *blocked -= 1;
                B::notify_one(&slot.cv);
                true
            }
            _ => false,
        }
    }

    fn blocked_list(&self) -> Vec<BlockedThread> {
        self.signals
            .values()
            .filter_map(|s| s.waiter.as_ref())
            .filter(|w| w.wake.is_none())
            .map(|w| BlockedThread {
                thread: w.thread.clone(),
                waits_on: w.what.clone(),
                deadline: w.deadline.map(Instant::from_origin),
            })
            .collect()
    }

    fn abort(&mut self, reason: AbortReason) {
        if self.abort.is_none() {
            self.abort = Some(reason);
        }
        let blocked = &mut self.blocked;
        for slot in self.signals.values_mut() {
            Self::wake(blocked, slot, WakeKind::Aborted);
        }
    }

    /// Called when every live thread is blocked: jump to the earliest deadline and wake whoever is
    /// due then, or abort. Returns how many threads it woke.
    fn advance(&mut self, now_ns: &std::sync::atomic::AtomicU64) -> usize {
        debug_assert_eq!(self.blocked, self.live);
        let next = self
            .signals
            .values()
            .filter_map(|s| s.waiter.as_ref())
            .filter(|w| w.wake.is_none())
            .filter_map(|w| w.deadline)
            .min();
        match next {
            None => {
                let reason = AbortReason::Deadlock {
                    at: Instant::from_origin(self.now),
                    blocked: self.blocked_list(),
                };
                self.abort(reason);
                0
            }
            Some(d) if d > self.horizon => {
                let reason = AbortReason::Horizon {
                    at: Instant::from_origin(self.horizon),
                    blocked: self.blocked_list(),
                };
                self.abort(reason);
                0
            }
            Some(d) => {
                self.now = self.now.max(d);
                let ns = u64::try_from(self.now.as_nanos()).unwrap_or(u64::MAX);
                now_ns.store(ns, std::sync::atomic::Ordering::SeqCst);
                let mut woken = 0;
                let blocked = &mut self.blocked;
                for slot in self.signals.values_mut() {
                    let due = slot
                        .waiter
                        .as_ref()
                        .is_some_and(|w| w.wake.is_none() && w.deadline == Some(d));
                    if due && Self::wake(blocked, slot, WakeKind::TimedOut) {
                        woken += 1;
                    }
                }
                woken
            }
        }
    }

    fn quiescent(&self) -> bool {
        self.abort.is_none() && self.live > 0 && self.blocked == self.live
    }
}

impl<B: Backend> Virtual<B> {
    /// A fresh clock at virtual time zero with the default horizon (24 h). The calling thread is
    /// the execution's first live thread.
    pub fn new() -> Self {
        Self::with_horizon(DEFAULT_HORIZON)
    }

    /// A fresh clock whose executions abort when the next deadline lies past `horizon`.
    pub fn with_horizon(horizon: Duration) -> Self {
        Virtual {
            clock: Arc::new(Clock {
                state: B::mutex(State {
                    now: Duration::ZERO,
                    horizon,
                    live: 1,
                    spawned: Vec::new(),
                    blocked: 0,
                    created: 1,
                    signals: BTreeMap::new(),
                    next_id: 0,
                    abort: None,
                }),
                now_ns: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// Why this execution was aborted, if it was.
    pub fn abort_reason(&self) -> Option<AbortReason> {
        B::lock(&self.clock.state).abort.clone()
    }

    /// Ends the execution: aborts it (if nothing did yet) and lets every other thread run until it
    /// has ended. The checkers' driver calls it before unwinding out of a checker.
    pub fn end_all_threads(&self) {
        {
            let mut st = B::lock(&self.clock.state);
            if st.abort.is_none() {
                let at = Instant::from_origin(st.now);
                st.abort(AbortReason::Ended { at });
            }
        }
        while B::lock(&self.clock.state).live > 1 {
            B::yield_now();
        }
        // The threads have left the clock; give each a turn to return from its closure.
        for _ in 0..B::lock(&self.clock.state).created {
            B::yield_now();
        }
    }

    /// The threads blocked right now (not counting one woken but not yet running), with what
    /// they wait on. Called by a running thread, this lists every other live thread that waits.
    pub fn blocked_threads(&self) -> Vec<BlockedThread> {
        B::lock(&self.clock.state).blocked_list()
    }

    /// How many threads are live (the creating thread included).
    pub fn live_threads(&self) -> usize {
        B::lock(&self.clock.state).live
    }

    /// One consistent picture of the live threads (read under one lock: a thread cannot end
    /// between its parts): how many are live (the creating thread included), the names of
    /// those spawned on this runtime (in the order they were spawned), and the blocked ones.
    pub fn live_thread_report(&self) -> (usize, Vec<String>, Vec<BlockedThread>) {
        let st = B::lock(&self.clock.state);
        (st.live, st.spawned.clone(), st.blocked_list())
    }

    /// How many threads this execution created, the first included.
    pub fn threads_created(&self) -> usize {
        B::lock(&self.clock.state).created
    }

    fn exit(&self, name: &str) {
        let mut st = B::lock(&self.clock.state);
        st.live -= 1;
        if let Some(i) = st.spawned.iter().position(|n| n == name) {
            st.spawned.remove(i);
        }
        if st.quiescent() {
            st.advance(&self.clock.now_ns);
        }
    }
}

impl<B: Backend> Default for Virtual<B> {
    fn default() -> Self {
        Self::new()
    }
}

/// [`Signal`] under virtual time: its state lives in the clock, under the clock's one lock.
pub struct VirtualSignal<B: Backend> {
    id: u64,
    cv: Arc<B::Condvar>,
    clock: Arc<Clock<B>>,
}

impl<B: Backend> Drop for VirtualSignal<B> {
    fn drop(&mut self) {
        B::lock(&self.clock.state).signals.remove(&self.id);
    }
}

impl<B: Backend> Signal for VirtualSignal<B> {
    fn notify(&self) {
        let mut guard = B::lock(&self.clock.state);
        let st = &mut *guard;
        if st.abort.is_some() {
            return;
        }
        if let Some(slot) = st.signals.get_mut(&self.id) {
            if !State::wake(&mut st.blocked, slot, WakeKind::Notified) {
                slot.permit = true;
            }
        }
    }

    fn wait(&self, deadline: Option<Instant>, what: &str) -> Wake {
        let mut st = B::lock(&self.clock.state);
        if st.abort.is_some() {
            drop(st);
            panic::panic_any(Aborted);
        }
        let now = st.now;
        // Check and register in one critical section.
        {
            let slot = st
                .signals
                .get_mut(&self.id)
                .expect("a live signal is registered");
            if slot.permit {
                slot.permit = false;
                return Wake::Notified;
            }
            if deadline.is_some_and(|d| d.since_origin() <= now) {
                return Wake::TimedOut;
            }
            slot.waiter = Some(Waiter {
                thread: B::thread_name(),
                what: what.to_string(),
                deadline: deadline.map(Instant::since_origin),
                wake: None,
            });
        }
        st.blocked += 1;
        let woke_by_advancing = if st.quiescent() {
            st.advance(&self.clock.now_ns)
        } else {
            0
        };
        let wake = loop {
            let slot = st
                .signals
                .get_mut(&self.id)
                .expect("a live signal is registered");
            if let Some(kind) = slot.waiter.as_ref().and_then(|w| w.wake) {
                slot.waiter = None;
                break kind;
            }
            st = B::wait(&self.cv, st);
        };
        drop(st);
        match wake {
            WakeKind::Aborted => panic::panic_any(Aborted),
            WakeKind::Notified => Wake::Notified,
            WakeKind::TimedOut => {
                if woke_by_advancing > 1 {
                    // A tie: others are due at this same instant. Let them go first sometimes.
                    B::yield_now();
                }
                Wake::TimedOut
            }
        }
    }
}

impl<B: Backend> Runtime for Virtual<B> {
    type Backend = B;
    type Signal = VirtualSignal<B>;

    fn now(&self) -> Instant {
        let ns = self.clock.now_ns.load(std::sync::atomic::Ordering::SeqCst);
        Instant::from_origin(Duration::from_nanos(ns))
    }

    fn signal(&self) -> VirtualSignal<B> {
        let cv = Arc::new(B::condvar());
        let mut st = B::lock(&self.clock.state);
        let id = st.next_id;
        st.next_id += 1;
        st.signals.insert(
            id,
            Slot {
                permit: false,
                cv: cv.clone(),
                waiter: None,
            },
        );
        VirtualSignal {
            id,
            cv,
            clock: self.clock.clone(),
        }
    }

    fn spawn<T, F>(&self, name: &str, f: F) -> JoinHandle<Self, T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let done = Arc::new(self.signal());
        {
            let mut st = B::lock(&self.clock.state);
            if let Some(limit) = B::MAX_THREADS {
                if st.created >= limit {
                    st.abort(AbortReason::TooManyThreads {
                        limit,
                        thread: name.to_string(),
                    });
                    drop(st);
                    panic::panic_any(Aborted);
                }
            }
            st.created += 1;
            st.live += 1; // counted in the parent, before the child runs
            st.spawned.push(name.to_string());
        }
        let rt = self.clone();
        let done2 = done.clone();
        let own = name.to_string();
        let thread = B::spawn(name.to_string(), move || {
            let result = panic::catch_unwind(AssertUnwindSafe(f));
            done2.notify();
            rt.exit(&own);
            match result {
                Ok(v) => Ok(v),
                Err(p) if p.is::<Aborted>() => Err(p),
                // A real panic is a bug in the code under test or in the harness: let the
                // checker see it.
                Err(p) => panic::resume_unwind(p),
            }
        });
        JoinHandle::new(thread, done, name.to_string())
    }
}
