//! What the API threads and the owner thread share: the requested mode, the status counters, the
//! assignment epochs (written by the rebalance hook) and the probe. The consumer *handle* is not
//! here: only the owner's loop ever holds it.

use super::error::ConsumerError;
use super::{ConsumerState, Status};
use crate::kafka::{ConsumerHandle, Partition, RebalanceHook};
use crate::probe::Probe;
use crate::sync::{AtomicBool, AtomicU64, Chan, Instant, Mutex, Runtime};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// What the application asked for, last writer wins. Kept apart from what the owner has applied
/// to the current handle (the owner's `Applied`), so that a request made while the owner is busy
/// (inside a poll, a restart, a handler call) is never lost, only applied late.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Partitions paused between runs; the owner keeps the membership with maintenance polls.
    Paused = 0,
    /// Partitions fetching; the owner hands every record to the handler.
    Running = 1,
    /// No consumer open between runs.
    Suspended = 2,
}

impl Mode {
    fn from_u64(v: u64) -> Mode {
        match v {
            1 => Mode::Running,
            2 => Mode::Suspended,
            _ => Mode::Paused,
        }
    }
}

/// When partitions were revoked, in assignment epochs (see [`Shared::epoch`]), written by the
/// rebalance hook inside the owner's polls: a batch tagged with the epoch it was read in can
/// tell whether its partitions were revoked since.
#[derive(Debug, Default)]
pub(crate) struct Epochs {
    /// The epoch of each partition's latest revoke.
    revoked_at: BTreeMap<Partition, u64>,
}

impl Epochs {
    /// True if `p` was revoked after `epoch`.
    pub fn revoked_since(&self, p: Partition, epoch: u64) -> bool {
        self.revoked_at.get(&p).is_some_and(|&e| e > epoch)
    }
}

/// Status counters (each written by the owner only).
pub(crate) struct Counters<R: Runtime> {
    pub records: AtomicU64<R>,
    pub batches: AtomicU64<R>,
    pub commits: AtomicU64<R>,
    pub restarts: AtomicU64<R>,
    pub created: AtomicU64<R>,
    pub closed: AtomicU64<R>,
    pub rewound: AtomicU64<R>,
}

/// The time the client has spent inside its own creates and closes of handles: `close()`'s
/// bound does not count it (no design can shorten a client's call, nor leave it before it
/// returns without leaving its thread running), so `close()` reads it while it waits.
#[derive(Debug, Default)]
pub(crate) struct ClientCalls {
    /// Calls that ended, summed.
    ended: Duration,
    /// When the call in progress began, if one is.
    since: Option<Instant>,
}

impl ClientCalls {
    /// All the time spent inside client calls up to `now` (the one in progress included), and
    /// whether one is in progress.
    pub fn clock(&self, now: Instant) -> (Duration, bool) {
        match self.since {
            Some(t) => (self.ended + now.saturating_since(t), true),
            None => (self.ended, false),
        }
    }
}

pub(crate) struct Shared<R: Runtime, P: Probe> {
    pub probe: P,
    mode: AtomicU64<R>,
    /// What the owner wants the current handle's partitions to be: fetching or paused. Written
    /// by the owner, read by the rebalance hook, which applies it to newly assigned partitions.
    fetch_target: AtomicBool<R>,
    state: AtomicU64<R>,
    /// The assignment epoch: bumped at every revoke and every assignment (by the hook).
    epoch: AtomicU64<R>,
    /// The hook could not apply the fetch target: the owner applies it to the whole assignment.
    reapply: AtomicBool<R>,
    pub counters: Counters<R>,
    last_error: Mutex<R, Option<ConsumerError>>,
    pub epochs: Mutex<R, Epochs>,
    pub client_calls: Mutex<R, ClientCalls>,
    /// Rung (one token, never blocking) each time a client create or close ends.
    pub client_call_ended: Chan<R, ()>,
}

impl<R: Runtime, P: Probe> Shared<R, P> {
    pub fn new(rt: &R, probe: P) -> Self {
        Shared {
            probe,
            mode: AtomicU64::new(Mode::Paused as u64),
            fetch_target: AtomicBool::new(false),
            state: AtomicU64::new(ConsumerState::Idle as u64),
            epoch: AtomicU64::new(0),
            reapply: AtomicBool::new(false),
            counters: Counters {
                records: AtomicU64::new(0),
                batches: AtomicU64::new(0),
                commits: AtomicU64::new(0),
                restarts: AtomicU64::new(0),
                created: AtomicU64::new(0),
                closed: AtomicU64::new(0),
                rewound: AtomicU64::new(0),
            },
            last_error: Mutex::new(None),
            epochs: Mutex::new(Epochs::default()),
            client_calls: Mutex::new(ClientCalls::default()),
            client_call_ended: Chan::new(rt, 1),
        }
    }

    /// Runs `call`, a client call of the owner's (a create, commit or close of a handle), on
    /// the client-call clock when `counted` (what `close()` does not count against its bound).
    pub fn client_call<T>(
        &self,
        now: impl Fn() -> Instant,
        counted: bool,
        call: impl FnOnce() -> T,
    ) -> T {
        if !counted {
            return call();
        }
        self.client_call_began(now());
        let r = call();
        self.client_call_ended(now());
        r
    }

    /// The owner is about to call the client's create or close of a handle.
    pub fn client_call_began(&self, now: Instant) {
        self.client_calls.with(|c| c.since = Some(now));
    }

    /// The client's create or close returned.
    pub fn client_call_ended(&self, now: Instant) {
        self.client_calls.with(|c| {
            if let Some(t) = c.since.take() {
                c.ended += now.saturating_since(t);
            }
        });
        let _ = self.client_call_ended.try_send(());
    }

    pub fn mode(&self) -> Mode {
        Mode::from_u64(self.mode.load())
    }
    pub fn request(&self, mode: Mode) {
        self.mode.store(mode as u64);
    }
    pub fn fetch_target(&self) -> bool {
        self.fetch_target.load()
    }
    pub fn set_fetch_target(&self, fetching: bool) {
        if self.fetch_target.load() != fetching {
            self.fetch_target.store(fetching);
        }
    }
    pub fn state(&self) -> ConsumerState {
        ConsumerState::from_u64(self.state.load())
    }
    pub fn set_state(&self, s: ConsumerState) {
        if self.state.load() != s as u64 {
            self.state.store(s as u64);
        }
    }
    pub fn set_error(&self, e: ConsumerError) {
        self.last_error.with(|l| *l = Some(e));
    }
    /// The assignment epoch (bumped at every revoke and every assignment).
    pub fn epoch(&self) -> u64 {
        self.epoch.load()
    }
    /// True once after the hook failed to apply the fetch target.
    pub fn take_reapply(&self) -> bool {
        self.reapply.load() && self.reapply.swap(false)
    }

    pub fn status(&self) -> Status {
        let c = &self.counters;
        Status {
            state: self.state(),
            records_handled: c.records.load(),
            batches: c.batches.load(),
            commits: c.commits.load(),
            restarts: c.restarts.load(),
            consumers_created: c.created.load(),
            consumers_closed: c.closed.load(),
            records_rewound: c.rewound.load(),
            last_error: self.last_error.with(|l| l.clone()),
        }
    }
}

/// The rebalance hook given to every handle the owner creates. It runs inside the owner's polls
/// (on the owner thread): it bumps the assignment epoch, and after an assignment it applies the
/// owner's current fetch target to the new partitions: pauses them while paused, and *resumes*
/// them otherwise, since librdkafka keeps a partition's pause flag across revoke and reassign
/// (a partition must never come back paused under a running consumer).
pub(crate) struct Hook<R: Runtime, P: Probe> {
    pub shared: Arc<Shared<R, P>>,
}

impl<R: Runtime, P: Probe, H: ConsumerHandle> RebalanceHook<H> for Hook<R, P> {
    fn revoked(&self, _handle: &H, partitions: &[Partition]) {
        let epoch = self.shared.epoch.fetch_add(1) + 1;
        self.shared.epochs.with(|e| {
            for &p in partitions {
                e.revoked_at.insert(p, epoch);
            }
        });
    }

    fn after_assign(&self, handle: &H, partitions: &[Partition]) {
        self.shared.epoch.fetch_add(1);
        if partitions.is_empty() {
            return;
        }
        let fetching = self.shared.fetch_target();
        let r = if fetching && crate::mutants::active("hook-keeps-stale-pause") {
            Ok(())
        } else if fetching {
            // Not woken here: on librdkafka a request issued from inside the rebalance callback
            // stalled the consumer (the tokio test hung at its first assignment). A freshly
            // assigned partition starts with an offset lookup, which wakes its leader anyway.
            handle.resume(partitions)
        } else {
            handle.pause(partitions)
        };
        // On failure the owner re-applies its target to the whole assignment right after the
        // poll, so nothing is left in the wrong state.
        if let Err(e) = r {
            self.shared.reapply.store(true);
            tracing::warn!(handle = %handle.id(), error = %e, fetching, "rebalance hook: applying the fetch target failed");
        }
    }
}
