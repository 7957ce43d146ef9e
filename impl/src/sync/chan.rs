//! Go-like channels, `select` and tickers, written once on top of [`Runtime`].
//!
//! A channel has a capacity: 0 is a rendezvous (a send completes only when a receiver has taken the
//! value), `n > 0` buffers up to `n` values. Both are built on one mechanism: a sender that cannot
//! complete at once places an *offer*; a receiver takes the first offer (or, on a buffered channel,
//! moves it into the buffer it just made room in); the sender learns that its offer was taken and
//! completes. Withdrawing an offer and taking it are both done under the channel's lock, so a send
//! that times out either happened (and the value was delivered) or did not (and the value is
//! returned to the caller), never both.
//!
//! [`Select`] waits on several arms (receives, at most one send, tickers) and a deadline. Like Go
//! it first polls the arms in an order that starts at a random arm ([`Runtime::choose`]: explored
//! by shuttle), then, if none is ready, registers one [`Signal`] with every arm and sleeps on it.
//! An arm that becomes ready while it is being registered notifies the signal at once, so no
//! wake-up is lost.

use super::{Instant, Mutex, Runtime, Signal};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

/// A channel in the style of Go's `chan T`: cloneable, closeable, capacity 0 (rendezvous) or `n`.
///
/// ```
/// use pausebeat::sync::{Chan, StdRuntime};
/// use std::time::Duration;
///
/// let rt = StdRuntime::new();
/// let ch: Chan<StdRuntime, &str> = Chan::new(&rt, 1);
/// ch.send("signal").unwrap(); // capacity 1: completes without a receiver
/// assert!(ch.send_timeout("second", Duration::from_millis(1)).is_err());
/// assert_eq!(ch.try_recv(), Ok("signal"));
/// ch.close();
/// assert_eq!(ch.recv(), None);
/// ```
pub struct Chan<R: Runtime, T: Send> {
    inner: Arc<Inner<R, T>>,
    rt: R,
}

impl<R: Runtime, T: Send> Clone for Chan<R, T> {
    fn clone(&self) -> Self {
        Chan {
            inner: self.inner.clone(),
            rt: self.rt.clone(),
        }
    }
}

impl<R: Runtime, T: Send> fmt::Debug for Chan<R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (len, closed) = self.inner.state.with(|s| (s.buf.len(), s.closed));
        f.debug_struct("Chan")
            .field("cap", &self.inner.cap)
            .field("len", &len)
            .field("closed", &closed)
            .finish()
    }
}

struct Inner<R: Runtime, T: Send> {
    cap: usize,
    state: Mutex<R, State<R, T>>,
}

struct State<R: Runtime, T: Send> {
    buf: VecDeque<T>,
    /// Values of senders waiting for a receiver (or for room), oldest first.
    offers: VecDeque<(u64, T)>,
    /// Offers a receiver took, not yet collected by their sender.
    taken: BTreeSet<u64>,
    next_id: u64,
    closed: bool,
    waiters: BTreeMap<u64, Arc<R::Signal>>,
    /// Tasks awaiting [`Chan::recv_async`] or [`Chan::send_async`], woken (and forgotten) at
    /// the next change.
    wakers: Vec<Waker>,
}

impl<R: Runtime, T: Send> State<R, T> {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
    fn notify_all(&mut self) {
        for s in self.waiters.values() {
            s.notify();
        }
        for w in self.wakers.drain(..) {
            w.wake();
        }
    }
    fn recv_ready(&self) -> bool {
        !self.buf.is_empty() || self.closed || !self.offers.is_empty()
    }

    /// A receive, if one can complete now (under the lock): `Some(Some(v))` a value,
    /// `Some(None)` closed and drained.
    fn try_recv_locked(&mut self, cap: usize) -> Option<Option<T>> {
        if let Some(v) = self.buf.pop_front() {
            // Room was made: the oldest waiting sender's value moves into the buffer.
            if cap > 0 && !self.closed {
                if let Some((id, w)) = self.offers.pop_front() {
                    self.buf.push_back(w);
                    self.taken.insert(id);
                }
            }
            self.notify_all();
            Some(Some(v))
        } else if self.closed {
            Some(None)
        } else if let Some((id, v)) = self.offers.pop_front() {
            self.taken.insert(id);
            self.notify_all();
            Some(Some(v))
        } else {
            None
        }
    }
}

/// The value of a send that did not happen because the channel was closed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("send on a closed channel")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// Why a bounded send did not happen; the value comes back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// No receiver took it (capacity 0) or the buffer stayed full, until the deadline.
    Full(T),
    /// The channel is closed.
    Closed(T),
}

impl<T> TrySendError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(v) | TrySendError::Closed(v) => v,
        }
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

/// Why a receive returned nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecvError {
    /// Nothing arrived before the deadline (or at once, for `try_recv`).
    Empty,
    /// The channel is closed and drained.
    Closed,
}

impl<R: Runtime, T: Send> Chan<R, T> {
    /// A channel of capacity `cap` (0: rendezvous).
    pub fn new(rt: &R, cap: usize) -> Self {
        Chan {
            inner: Arc::new(Inner {
                cap,
                state: Mutex::new(State {
                    buf: VecDeque::with_capacity(cap),
                    offers: VecDeque::new(),
                    taken: BTreeSet::new(),
                    next_id: 0,
                    closed: false,
                    waiters: BTreeMap::new(),
                    wakers: Vec::new(),
                }),
            }),
            rt: rt.clone(),
        }
    }

    /// The capacity.
    pub fn cap(&self) -> usize {
        self.inner.cap
    }

    /// How many values are buffered.
    pub fn len(&self) -> usize {
        self.inner.state.with(|s| s.buf.len())
    }

    /// True if nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True once [`Chan::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.state.with(|s| s.closed)
    }

    /// Closes the channel: receivers drain the buffer then get `None`; senders get an error.
    pub fn close(&self) {
        self.inner.state.with(|s| {
            s.closed = true;
            s.notify_all();
        });
    }

    /// Sends, waiting as long as it takes (Go's `ch <- v`, minus the panic on a closed channel).
    pub fn send(&self, v: T) -> Result<(), SendError<T>> {
        let mut arm = SendArm::new(self, v);
        Select::new(&self.rt, "send").arm(&mut arm).wait();
        arm.result().map_err(|e| SendError(e.into_inner()))
    }

    /// Sends, giving up after `d` (Go's `select { case ch <- v: case <-time.After(d): }`).
    pub fn send_timeout(&self, v: T, d: Duration) -> Result<(), TrySendError<T>> {
        let deadline = self.rt.now() + d;
        let mut arm = SendArm::new(self, v);
        Select::new(&self.rt, "send with timeout")
            .arm(&mut arm)
            .deadline(deadline)
            .wait();
        arm.result()
    }

    /// Sends only if it can complete at once (room in the buffer; never on capacity 0).
    pub fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
        let mut arm = SendArm::new(self, v);
        arm.try_complete(self.rt.now());
        arm.result()
    }

    /// Receives, waiting as long as it takes; `None` once closed and drained.
    pub fn recv(&self) -> Option<T> {
        let mut arm = RecvArm::new(self);
        Select::new(&self.rt, "recv").arm(&mut arm).wait();
        arm.take().flatten()
    }

    /// Receives, giving up after `d`.
    pub fn recv_timeout(&self, d: Duration) -> Result<T, RecvError> {
        let deadline = self.rt.now() + d;
        let mut arm = RecvArm::new(self);
        Select::new(&self.rt, "recv with timeout")
            .arm(&mut arm)
            .deadline(deadline)
            .wait();
        match arm.take() {
            Some(Some(v)) => Ok(v),
            Some(None) => Err(RecvError::Closed),
            None => Err(RecvError::Empty),
        }
    }

    /// Receives without holding a thread: a future for any executor, ready with the value, or
    /// `None` once the channel is closed and drained. Only for a buffered channel's values
    /// sent by `try_send`/`send` (a rendezvous sender waits for a receiving thread).
    ///
    /// ```
    /// use pausebeat::sync::{Chan, StdRuntime};
    /// let rt = StdRuntime::new();
    /// let ch: Chan<StdRuntime, u32> = Chan::new(&rt, 1);
    /// let tx = ch.clone();
    /// let t = std::thread::spawn(move || tx.send(7).unwrap());
    /// let got = tokio::runtime::Builder::new_current_thread()
    ///     .build()
    ///     .unwrap()
    ///     .block_on(ch.recv_async());
    /// assert_eq!(got, Some(7));
    /// t.join().unwrap();
    /// ```
    pub fn recv_async(&self) -> impl Future<Output = Option<T>> + '_ {
        std::future::poll_fn(move |cx| {
            let ready = |r: Result<T, RecvError>| match r {
                Ok(v) => Some(Some(v)),
                Err(RecvError::Closed) => Some(None),
                Err(RecvError::Empty) => None,
            };
            if let Some(v) = ready(self.try_recv()) {
                return Poll::Ready(v);
            }
            // Registered first, then checked again: a value sent in between is seen now, one
            // sent after wakes the task.
            self.inner.state.with(|s| s.wakers.push(cx.waker().clone()));
            match ready(self.try_recv()) {
                Some(v) => Poll::Ready(v),
                None => Poll::Pending,
            }
        })
    }

    /// Sends without holding a thread: a future ready once the value is in the buffer (room
    /// made by a receiver), or with the value back if the channel is closed. Only for a
    /// buffered channel (capacity 0 has no buffer to wait for).
    pub fn send_async(&self, v: T) -> impl Future<Output = Result<(), SendError<T>>> + '_ {
        let mut value = Some(v);
        std::future::poll_fn(move |cx| {
            let Some(v) = value.take() else {
                return Poll::Ready(Ok(()));
            };
            let v = match self.try_send(v) {
                Ok(()) => return Poll::Ready(Ok(())),
                Err(TrySendError::Closed(v)) => return Poll::Ready(Err(SendError(v))),
                Err(TrySendError::Full(v)) => v,
            };
            self.inner.state.with(|s| s.wakers.push(cx.waker().clone()));
            match self.try_send(v) {
                Ok(()) => Poll::Ready(Ok(())),
                Err(TrySendError::Closed(v)) => Poll::Ready(Err(SendError(v))),
                Err(TrySendError::Full(v)) => {
                    value = Some(v);
                    Poll::Pending
                }
            }
        })
    }

    /// Receives only if a value is there (Go's `select { case v := <-ch: default: }`).
    pub fn try_recv(&self) -> Result<T, RecvError> {
        let mut arm = RecvArm::new(self);
        arm.try_complete(self.rt.now());
        match arm.take() {
            Some(Some(v)) => Ok(v),
            Some(None) => Err(RecvError::Closed),
            None => Err(RecvError::Empty),
        }
    }
}

/// One arm of a [`Select`].
pub trait Arm<R: Runtime> {
    /// Completes the arm now if it can (without blocking).
    fn try_complete(&mut self, now: Instant) -> bool;
    /// Arranges for `signal` to be notified when the arm may have become ready; notifies it at
    /// once if the arm is ready already.
    fn register(&mut self, signal: &Arc<R::Signal>);
    /// Undoes [`Arm::register`]. Returns true if the arm completed meanwhile (a send whose offer a
    /// receiver took), in which case the select must report this arm.
    fn unregister(&mut self) -> bool;
    /// The arm's own deadline, for timers.
    fn deadline(&self) -> Option<Instant> {
        None
    }
    /// True if registering the arm may complete it with no [`Arm::try_complete`] (a send's
    /// offer, which a receiver can take while it waits). A select with such an arm tries every
    /// arm before it registers any, so that at most one arm completes.
    fn completes_while_registered(&self) -> bool {
        false
    }
    /// [`Arm::try_complete`], or else [`Arm::register`], in one step: an arm guarded by a lock
    /// does both under one acquisition (nothing can happen in between, so no wake-up is lost).
    fn try_or_register(&mut self, now: Instant, signal: &Arc<R::Signal>) -> bool {
        if self.try_complete(now) {
            return true;
        }
        self.register(signal);
        false
    }
    /// [`Arm::unregister`], then, if `may_complete`, [`Arm::try_complete`], in one step. True if
    /// the arm completed.
    fn unregister_then_try(&mut self, now: Instant, may_complete: bool) -> bool {
        if self.unregister() {
            return true;
        }
        may_complete && self.try_complete(now)
    }
}

/// A receive arm: `case v, ok := <-ch`.
pub struct RecvArm<'c, R: Runtime, T: Send> {
    chan: &'c Chan<R, T>,
    got: Option<Option<T>>,
    waiter: Option<u64>,
}

impl<'c, R: Runtime, T: Send> RecvArm<'c, R, T> {
    /// An arm receiving from `chan`.
    pub fn new(chan: &'c Chan<R, T>) -> Self {
        RecvArm {
            chan,
            got: None,
            waiter: None,
        }
    }
    /// After the arm fired: `Some(Some(v))` a value, `Some(None)` the channel was closed; `None`
    /// if the arm did not fire.
    pub fn take(&mut self) -> Option<Option<T>> {
        self.got.take()
    }
}

impl<R: Runtime, T: Send> Arm<R> for RecvArm<'_, R, T> {
    fn try_complete(&mut self, _now: Instant) -> bool {
        let cap = self.chan.inner.cap;
        self.got = self.chan.inner.state.with(|s| s.try_recv_locked(cap));
        self.got.is_some()
    }

    fn try_or_register(&mut self, _now: Instant, signal: &Arc<R::Signal>) -> bool {
        let cap = self.chan.inner.cap;
        let (got, waiter) = self
            .chan
            .inner
            .state
            .with(|s| match s.try_recv_locked(cap) {
                Some(v) => (Some(v), None),
                None => {
                    let id = s.id();
                    s.waiters.insert(id, signal.clone());
                    (None, Some(id))
                }
            });
        self.got = got;
        self.waiter = waiter;
        self.got.is_some()
    }

    fn unregister_then_try(&mut self, _now: Instant, may_complete: bool) -> bool {
        let cap = self.chan.inner.cap;
        let waiter = self.waiter.take();
        if waiter.is_none() && !may_complete {
            return false;
        }
        self.got = self.chan.inner.state.with(|s| {
            if let Some(id) = waiter {
                s.waiters.remove(&id);
            }
            if may_complete {
                s.try_recv_locked(cap)
            } else {
                None
            }
        });
        self.got.is_some()
    }

    fn register(&mut self, signal: &Arc<R::Signal>) {
        self.chan.inner.state.with(|s| {
            let id = s.id();
            s.waiters.insert(id, signal.clone());
            self.waiter = Some(id);
            if s.recv_ready() {
                signal.notify();
            }
        })
    }

    fn unregister(&mut self) -> bool {
        if let Some(id) = self.waiter.take() {
            self.chan.inner.state.with(|s| s.waiters.remove(&id));
        }
        false
    }
}

/// A send arm: `case ch <- v`. At most one per [`Select`].
pub struct SendArm<'c, R: Runtime, T: Send> {
    chan: &'c Chan<R, T>,
    value: Option<T>,
    offer: Option<u64>,
    waiter: Option<u64>,
    outcome: Option<Result<(), ()>>,
}

impl<'c, R: Runtime, T: Send> SendArm<'c, R, T> {
    /// An arm sending `value` on `chan`.
    pub fn new(chan: &'c Chan<R, T>, value: T) -> Self {
        SendArm {
            chan,
            value: Some(value),
            offer: None,
            waiter: None,
            outcome: None,
        }
    }

    /// Whether the send happened; if not, the value comes back.
    pub fn result(mut self) -> Result<(), TrySendError<T>> {
        match (self.outcome, self.value.take()) {
            (Some(Ok(())), _) => Ok(()),
            (Some(Err(())), Some(v)) => Err(TrySendError::Closed(v)),
            (None, Some(v)) => Err(TrySendError::Full(v)),
            (_, None) => Ok(()),
        }
    }
}

impl<R: Runtime, T: Send> Arm<R> for SendArm<'_, R, T> {
    fn try_complete(&mut self, _now: Instant) -> bool {
        if self.outcome.is_some() {
            return true;
        }
        let cap = self.chan.inner.cap;
        self.chan.inner.state.with(|s| {
            if s.closed {
                self.outcome = Some(Err(()));
                true
            } else if cap > 0 && s.buf.len() < cap && s.offers.is_empty() {
                if let Some(v) = self.value.take() {
                    s.buf.push_back(v);
                }
                s.notify_all();
                self.outcome = Some(Ok(()));
                true
            } else {
                false
            }
        })
    }

    fn register(&mut self, signal: &Arc<R::Signal>) {
        let cap = self.chan.inner.cap;
        self.chan.inner.state.with(|s| {
            if s.closed || (cap > 0 && s.buf.len() < cap && s.offers.is_empty()) {
                signal.notify();
            } else if let Some(v) = self.value.take() {
                let offer = s.id();
                s.offers.push_back((offer, v));
                self.offer = Some(offer);
                s.notify_all(); // receivers; not ourselves, we are not registered yet
            }
            let id = s.id();
            s.waiters.insert(id, signal.clone());
            self.waiter = Some(id);
        })
    }

    fn completes_while_registered(&self) -> bool {
        true // its offer may be taken while it waits
    }

    fn unregister(&mut self) -> bool {
        self.chan.inner.state.with(|s| {
            if let Some(id) = self.waiter.take() {
                s.waiters.remove(&id);
            }
            let Some(offer) = self.offer.take() else {
                return false;
            };
            if s.taken.remove(&offer) {
                self.outcome = Some(Ok(()));
                return true;
            }
            if let Some(pos) = s.offers.iter().position(|(id, _)| *id == offer) {
                self.value = s.offers.remove(pos).map(|(_, v)| v);
            }
            false
        })
    }
}

/// A periodic timer in the style of Go's `time.Ticker`: it fires at every multiple of its period
/// after its start; ticks missed while nobody was waiting collapse into one (Go's ticker channel
/// has capacity 1).
///
/// ```
/// use pausebeat::sync::{Runtime, Select, Std, Ticker, Virtual};
/// use std::time::Duration;
///
/// let rt = Virtual::<Std>::new();
/// let mut tick = Ticker::new(&rt, Duration::from_secs(150));
/// assert_eq!(Select::new(&rt, "tick").arm(&mut tick).wait(), Some(0));
/// assert_eq!(rt.now().since_origin(), Duration::from_secs(150));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Ticker {
    period: Duration,
    next: Instant,
}

impl Ticker {
    /// A ticker whose first tick is one period from now. `period` must be non-zero.
    pub fn new<R: Runtime>(rt: &R, period: Duration) -> Self {
        let period = period.max(Duration::from_nanos(1));
        Ticker {
            period,
            next: rt.now() + period,
        }
    }
    /// When it fires next.
    pub fn next_tick(&self) -> Instant {
        self.next
    }
}

impl<R: Runtime> Arm<R> for Ticker {
    fn try_complete(&mut self, now: Instant) -> bool {
        if now < self.next {
            return false;
        }
        let late = (now - self.next).as_nanos() / self.period.as_nanos();
        let steps = u32::try_from(late + 1).unwrap_or(u32::MAX);
        self.next = self.next + self.period.saturating_mul(steps);
        true
    }
    fn register(&mut self, _signal: &Arc<R::Signal>) {}
    fn unregister(&mut self) -> bool {
        false
    }
    fn deadline(&self) -> Option<Instant> {
        Some(self.next)
    }
}

/// Go's `select` over several [`Arm`]s and an optional deadline.
///
/// ```
/// use pausebeat::sync::{Chan, RecvArm, Runtime, Select, Std, Virtual};
/// use std::time::Duration;
///
/// let rt = Virtual::<Std>::new();
/// let resume: Chan<_, ()> = Chan::new(&rt, 0);
/// let mut arm = RecvArm::new(&resume);
/// let fired = Select::new(&rt, "resume or 5s")
///     .arm(&mut arm)
///     .deadline(rt.now() + Duration::from_secs(5))
///     .wait();
/// assert_eq!(fired, None); // nobody sent: the deadline won, 5 virtual seconds later
/// ```
pub struct Select<'s, R: Runtime> {
    rt: &'s R,
    what: &'s str,
    arms: Vec<&'s mut dyn Arm<R>>,
    deadline: Option<Instant>,
}

impl<'s, R: Runtime> Select<'s, R> {
    /// A select named `what` (the name appears in deadlock reports).
    pub fn new(rt: &'s R, what: &'s str) -> Self {
        Select {
            rt,
            what,
            arms: Vec::new(),
            deadline: None,
        }
    }

    /// Adds an arm; arms are numbered from 0 in the order they are added.
    pub fn arm(mut self, arm: &'s mut dyn Arm<R>) -> Self {
        self.arms.push(arm);
        self
    }

    /// Gives up at `at` (Go's `case <-time.After(..)`).
    pub fn deadline(mut self, at: Instant) -> Self {
        self.deadline = Some(self.deadline.map_or(at, |d| d.min(at)));
        self
    }

    /// Waits until an arm fires and returns its number, or `None` at the deadline. When several
    /// arms are ready the winner is [`Runtime::choose`]n, as Go picks at random.
    ///
    /// Each arm is tried and registered in one step ([`Arm::try_or_register`], in an order
    /// starting at the chosen arm), and after a wake-up unregistered and tried in one step: one
    /// lock per arm each way instead of two. A select with a send arm (an offer can be taken
    /// while registered) tries every arm first, then registers.
    pub fn wait(mut self) -> Option<usize> {
        let n = self.arms.len();
        if self.arms.iter().any(|a| a.completes_while_registered()) {
            return self.wait_trying_first();
        }
        let mut now = self.rt.now();
        loop {
            let start = self.rt.choose(n.max(1));
            if self.deadline.is_some_and(|d| now >= d) {
                // Out of time: only what is ready now.
                return (0..n)
                    .map(|k| (start + k) % n)
                    .find(|&i| self.arms[i].try_complete(now));
            }
            let signal = Arc::new(self.rt.signal());
            for k in 0..n {
                let i = (start + k) % n;
                if self.arms[i].try_or_register(now, &signal) {
                    for j in 0..k {
                        self.arms[(start + j) % n].unregister();
                    }
                    return Some(i);
                }
            }
            signal.wait(self.wake_at(), self.what);
            now = self.rt.now();
            let start = self.rt.choose(n.max(1));
            let mut completed = None;
            for k in 0..n {
                let i = (start + k) % n;
                if self.arms[i].unregister_then_try(now, completed.is_none()) {
                    completed = Some(i);
                }
            }
            if completed.is_some() {
                return completed;
            }
        }
    }

    /// When the wait ends at the latest: the earliest of the arms' own deadlines (timers) and
    /// the select's.
    fn wake_at(&self) -> Option<Instant> {
        self.arms
            .iter()
            .filter_map(|a| a.deadline())
            .chain(self.deadline)
            .min()
    }

    /// [`Select::wait`] for a select with a send arm: every arm is tried, then every arm is
    /// registered, so that an offer is placed only when no other arm can fire.
    fn wait_trying_first(mut self) -> Option<usize> {
        let n = self.arms.len();
        loop {
            let now = self.rt.now();
            let start = self.rt.choose(n.max(1));
            for k in 0..n {
                let i = (start + k) % n;
                if self.arms[i].try_complete(now) {
                    return Some(i);
                }
            }
            if self.deadline.is_some_and(|d| now >= d) {
                return None;
            }
            let signal = Arc::new(self.rt.signal());
            for arm in self.arms.iter_mut() {
                arm.register(&signal);
            }
            signal.wait(self.wake_at(), self.what);
            let mut completed = None;
            for (i, arm) in self.arms.iter_mut().enumerate() {
                if arm.unregister() {
                    completed = Some(i);
                }
            }
            if completed.is_some() {
                return completed;
            }
        }
    }
}
